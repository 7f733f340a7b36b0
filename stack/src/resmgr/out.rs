//! A connection's way out: what the stack sends a client (replies, routing broadcasts) goes
//! out at once when the client's socket has room, and otherwise waits in a bounded queue
//! that the poller flushes when the socket has room again (EPOLLOUT). No thread ever waits
//! for a client to read.
//!
//! - A reply is never lost: it is queued whatever the queue holds. What bounds the queue is
//!   that a connection whose queue is full (`OUT_MSGS` messages or `OUT_BYTES` bytes, or
//!   anything at all while every connection's queues together hold `OUT_TOTAL` bytes) is
//!   not read any more: its requests wait in its socket, and its client, which does not
//!   read, is blocked in its own send. Reading resumes when the queue is empty again. So a
//!   queue holds at most its bound plus one reply.
//! - A routing broadcast is dropped for a subscriber whose queue is full (counted, as a BSD
//!   routing socket drops what a full socket buffer cannot take; the routing socket
//!   counts it).
//!
//! The connection's descriptor is non-blocking. Readiness for writing is watched on a
//! second descriptor for the same socket, made the first time a message has to wait, so
//! that arming it never disturbs the one-shot arming of the connection's own.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::msg::wire::SeqPacket;
use crate::net::route_socket::Sink;

use super::limits::{OUT_BYTES, OUT_MSGS, OUT_TOTAL};
use super::{epoll_ctl, lock};

/// Epoll keys of write-readiness registrations: the connection's id with this bit set.
pub(crate) const KEY_OUT: u64 = 1 << 63;

/// What every connection's queue shares: the poller, and the bytes all queues hold.
pub(crate) struct Shared {
    pub epoll: OwnedFd,
    pub queued: AtomicUsize,
}

/// One connection's outgoing side.
pub(crate) struct Out {
    sock: SeqPacket,
    id: u64,
    shared: Arc<Shared>,
    q: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// Messages not yet taken by the socket, each with the descriptor it carries (accept).
    msgs: VecDeque<(Vec<u8>, Option<OwnedFd>)>,
    bytes: usize,
    /// The second descriptor, registered for EPOLLOUT (one-shot) once it was needed.
    wfd: Option<OwnedFd>,
    armed: bool,
    /// Reading stopped because this queue was full; the flush that empties it resumes it.
    held: bool,
    closed: bool,
    /// Roughly what went into the socket since it was last seen to have room (each
    /// message counted with [`MSG_OVERHEAD`]); the room is looked at again past
    /// [`ROOM_CHECK`], not for every request.
    unverified: usize,
}

/// What the kernel charges a message beyond its bytes, roughly.
const MSG_OVERHEAD: usize = 512;
/// How much may go into a socket before the stack looks again at whether it has room.
/// The kernel says "room" while at most a quarter of the send buffer is used (the
/// default buffer is over 200 KiB), so this much more still leaves most of it free.
const ROOM_CHECK: usize = 16 * 1024;

impl Queue {
    fn full(&self, shared: &Shared) -> bool {
        !self.msgs.is_empty()
            && (self.msgs.len() >= OUT_MSGS
                || self.bytes >= OUT_BYTES
                || shared.queued.load(Ordering::Relaxed) >= OUT_TOTAL)
    }
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Sent,
    Queued,
    /// A broadcast that found the queue full.
    Dropped,
    /// The connection is closed or broken.
    Gone,
}

fn would_block(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
}

impl Out {
    /// Takes a connection's socket, making it non-blocking.
    pub fn new(sock: SeqPacket, id: u64, shared: Arc<Shared>) -> std::io::Result<Out> {
        let fd = sock.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        // SAFETY: as above.
        if fl < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Out {
            sock,
            id,
            shared,
            q: Mutex::new(Queue::default()),
        })
    }

    pub fn sock(&self) -> &SeqPacket {
        &self.sock
    }

    fn send_now(&self, b: &[u8], fd: Option<&OwnedFd>) -> std::io::Result<()> {
        match fd {
            // The descriptor is non-blocking, so this does not wait either.
            Some(f) => self.sock.send_with_fd(b, f.as_raw_fd()),
            None => self.sock.send_nowait(b),
        }
    }

    /// Sends a reply, or queues it when the socket is full. A reply is dropped only when
    /// the connection is broken (as a blocking send's error was ignored before).
    pub fn reply(&self, b: Vec<u8>, fd: Option<OwnedFd>) -> Fate {
        self.push(b, fd, true)
    }

    fn push(&self, b: Vec<u8>, fd: Option<OwnedFd>, must: bool) -> Fate {
        let mut q = lock(&self.q);
        if q.closed {
            return Fate::Gone;
        }
        if q.msgs.is_empty() {
            match self.send_now(&b, fd.as_ref()) {
                Ok(()) => {
                    q.unverified += b.len() + MSG_OVERHEAD;
                    return Fate::Sent;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => return Fate::Gone,
            }
        }
        if !must && q.full(&self.shared) {
            return Fate::Dropped;
        }
        q.bytes += b.len();
        self.shared.queued.fetch_add(b.len(), Ordering::Relaxed);
        q.msgs.push_back((b, fd));
        self.arm(&mut q);
        Fate::Queued
    }

    /// Watches for room on the socket.
    fn arm(&self, q: &mut Queue) {
        if q.armed {
            return;
        }
        let ep = self.shared.epoll.as_raw_fd();
        let ev = (libc::EPOLLOUT | libc::EPOLLONESHOT) as u32;
        let r = match &q.wfd {
            Some(w) => epoll_ctl(ep, libc::EPOLL_CTL_MOD, w.as_raw_fd(), ev, self.id | KEY_OUT),
            None => {
                // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own; the result is checked.
                let w = unsafe { libc::fcntl(self.sock.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
                if w < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    // SAFETY: a fresh descriptor we own.
                    let w = unsafe { OwnedFd::from_raw_fd(w) };
                    let r = epoll_ctl(ep, libc::EPOLL_CTL_ADD, w.as_raw_fd(), ev, self.id | KEY_OUT);
                    q.wfd = Some(w);
                    r
                }
            }
        };
        match r {
            Ok(()) => q.armed = true,
            Err(e) => {
                // Out of descriptors, say: without a way to learn of room, the connection
                // could only stall. It ends instead (its hang-up closes it).
                super::ratelog(format_args!("resmgr: cannot watch a connection for room: {e}"));
                self.sock.shutdown();
                q.closed = true;
                self.release(q);
            }
        }
    }

    fn release(&self, q: &mut Queue) {
        self.shared.queued.fetch_sub(q.bytes, Ordering::Relaxed);
        q.bytes = 0;
        q.msgs.clear();
    }

    /// The socket has room (the poller saw EPOLLOUT): sends what waits. True when reading
    /// stopped for a full queue and may resume.
    pub fn flush(&self) -> bool {
        let mut q = lock(&self.q);
        q.armed = false;
        if q.closed {
            return false;
        }
        while let Some((b, fd)) = q.msgs.front() {
            match self.send_now(b, fd.as_ref()) {
                Err(e) if would_block(&e) => break,
                // Sent, or lost to a broken connection (whose hang-up closes it).
                _ => {}
            }
            if let Some((b, _)) = q.msgs.pop_front() {
                q.bytes -= b.len();
                self.shared.queued.fetch_sub(b.len(), Ordering::Relaxed);
            }
        }
        if !q.msgs.is_empty() {
            self.arm(&mut q);
            return false;
        }
        // What was just sent may have filled it again: look before the next request.
        q.unverified = ROOM_CHECK;
        std::mem::take(&mut q.held)
    }

    /// Whether the connection's requests must wait because its replies do (then the flush
    /// that empties the queue says so): its queue is full, or, with nothing queued, its
    /// socket has no room to speak of (the kernel's own test for writing: at most a quarter
    /// of the send buffer in use; looked at once [`ROOM_CHECK`] went in since it was last
    /// seen to have room). So a reply is made only when it will most likely go straight
    /// into the socket, and the queue holds little but the rare large reply.
    pub fn hold(&self) -> bool {
        let mut q = lock(&self.q);
        let mut full = q.full(&self.shared);
        if !full && q.msgs.is_empty() && !q.closed && q.unverified >= ROOM_CHECK {
            if self.writable() {
                q.unverified = 0;
            } else {
                full = true;
            }
        }
        if full {
            q.held = true;
            // Nothing queued to arm it otherwise: the flush on room resumes reading.
            self.arm(&mut q);
        }
        full
    }

    /// Whether the socket has room now (a hang-up or error counts as room: reading then
    /// finds the connection's end).
    fn writable(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a zero timeout never blocks.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        r != 0
    }

    /// How many messages and bytes wait.
    #[cfg(test)]
    pub fn queued(&self) -> (usize, usize) {
        let q = lock(&self.q);
        (q.msgs.len(), q.bytes)
    }

    /// The connection ended: what waits is dropped, the watch on room removed.
    pub fn close(&self) {
        let mut q = lock(&self.q);
        if std::mem::replace(&mut q.closed, true) {
            return;
        }
        if let Some(w) = q.wfd.take() {
            let _ = epoll_ctl(self.shared.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, w.as_raw_fd(), 0, 0);
        }
        q.armed = false;
        self.release(&mut q);
    }
}

impl Sink for Out {
    fn offer(&self, b: &[u8]) -> Result<bool, ()> {
        match self.push(b.to_vec(), None, false) {
            Fate::Sent | Fate::Queued => Ok(true),
            Fate::Dropped => Ok(false),
            Fate::Gone => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::wire::Received;

    fn shared() -> Arc<Shared> {
        // SAFETY: plain epoll_create1; the result is checked.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(ep >= 0);
        Arc::new(Shared {
            // SAFETY: a fresh descriptor we own.
            epoll: unsafe { OwnedFd::from_raw_fd(ep) },
            queued: AtomicUsize::new(0),
        })
    }

    /// Whether the poller would see the write registration ready within `ms`.
    fn out_ready(sh: &Shared, ms: i32) -> Option<u64> {
        let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
        // SAFETY: room for one event.
        let n = unsafe { libc::epoll_wait(sh.epoll.as_raw_fd(), ev.as_mut_ptr(), 1, ms) };
        (n == 1).then_some(ev[0].u64)
    }

    #[test]
    fn replies_queue_when_the_client_does_not_read_and_flush_in_order() {
        let sh = shared();
        let (mine, theirs) = SeqPacket::pair().unwrap();
        let out = Out::new(mine, 7, sh.clone()).unwrap();
        // Far more than the socket takes: nothing blocks, the rest queues.
        let mut sent = 0;
        let mut queued = 0;
        for i in 0..2000u32 {
            let mut b = vec![0u8; 1000];
            b[..4].copy_from_slice(&i.to_le_bytes());
            match out.reply(b, None) {
                Fate::Sent => sent += 1,
                Fate::Queued => queued += 1,
                f => panic!("{f:?}"),
            }
        }
        assert!(sent > 0 && queued > 0, "{sent} {queued}");
        assert_eq!(out.queued(), (queued, queued * 1000));
        assert_eq!(sh.queued.load(Ordering::Relaxed), queued * 1000);
        assert!(out.hold(), "a full queue holds the connection's reading");
        // Nothing is ready until the client reads.
        assert_eq!(out_ready(&sh, 0), None);
        let mut buf = vec![0u8; 2000];
        let mut next = 0u32;
        let mut resumed = false;
        while next < 2000 {
            match theirs.recv_nowait(&mut buf) {
                Ok(Received::Msg(n)) => {
                    assert_eq!(n, 1000);
                    assert_eq!(u32::from_le_bytes(buf[..4].try_into().unwrap()), next, "in order");
                    next += 1;
                }
                Err(e) if would_block(&e) => {
                    assert_eq!(out_ready(&sh, 1000), Some(7 | KEY_OUT));
                    resumed |= out.flush();
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(resumed, "the flush that emptied the queue resumes reading");
        assert_eq!(out.queued(), (0, 0));
        assert_eq!(sh.queued.load(Ordering::Relaxed), 0);
        assert!(!out.hold());
    }

    #[test]
    fn a_socket_without_room_holds_reading_with_nothing_queued() {
        let sh = shared();
        let (mine, theirs) = SeqPacket::pair().unwrap();
        let out = Out::new(mine, 3, sh.clone()).unwrap();
        // Small replies: the room is not looked at for each.
        for _ in 0..10 {
            assert_eq!(out.reply(vec![0u8; 100], None), Fate::Sent);
            assert!(!out.hold());
        }
        // Replies until one has to wait; the client takes one, which lets the flush send
        // it: nothing is queued, and the socket is still far from having room.
        let mut n = 10;
        while out.reply(vec![0u8; 1000], None) == Fate::Sent {
            n += 1;
        }
        let mut buf = [0u8; 2000];
        while out.queued() != (0, 0) {
            assert!(matches!(theirs.recv_nowait(&mut buf), Ok(Received::Msg(100))));
            assert!(!out.flush());
            n -= 1;
        }
        assert!(out.hold(), "no room: the next request must wait");
        assert_eq!(out_ready(&sh, 0), None);
        // The client reads; once most of it is taken, the poller hears of room and the
        // flush (with nothing to send) resumes reading.
        for _ in 0..=n {
            assert!(matches!(theirs.recv_nowait(&mut buf), Ok(Received::Msg(_))));
        }
        assert_eq!(out_ready(&sh, 1000), Some(3 | KEY_OUT));
        assert!(out.flush());
        assert!(!out.hold());
    }

    #[test]
    fn broadcasts_are_dropped_when_the_queue_is_full() {
        let sh = shared();
        let (mine, _theirs) = SeqPacket::pair().unwrap();
        let out = Out::new(mine, 1, sh.clone()).unwrap();
        let mut dropped = 0;
        for _ in 0..5000 {
            if out.offer(&[1u8; 200]) == Ok(false) {
                dropped += 1;
            }
        }
        assert!(dropped > 0);
        let (n, bytes) = out.queued();
        assert!(n <= OUT_MSGS && bytes <= OUT_BYTES, "{n} {bytes}");
        // Closing gives the bytes back and refuses what comes after.
        out.close();
        assert_eq!(sh.queued.load(Ordering::Relaxed), 0);
        assert_eq!(out.offer(&[1]), Err(()));
        assert_eq!(out.reply(vec![1], None), Fate::Gone);
    }
}
