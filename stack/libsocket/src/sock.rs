//! The stack sockets of this process: the table from the program's descriptor numbers to
//! them, and the pump thread of each one.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use pktbox_stack::msg::wire::SeqPacket;
use pktbox_stack::msg::*;

use crate::addr;
use crate::conn::{Conn, Errno};
use crate::real;

/// What the stack socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// TCP: bytes flow through a stream socketpair, pumped both ways.
    Stream,
    /// UDP or raw: received datagrams reach the program through a seqpacket socketpair,
    /// each behind its source address; sends go straight to the stack.
    Dgram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Fresh,
    Connecting,
    Connected,
    Listening,
}

/// What the library keeps of a socket besides its connection to the stack.
pub struct State {
    pub phase: Phase,
    /// SO_ERROR: set by a connect that failed in the background or a connection that died.
    pub so_error: i32,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    /// The pump's end of the socketpair, until the pump takes it.
    pub pump_end: Option<OwnedFd>,
    /// Option values set through setsockopt, for getsockopt.
    pub opts: HashMap<(i32, i32), i32>,
    pub linger: Option<libc::linger>,
    /// Connections the listener's pump accepted that the program has not taken yet.
    pub accepted: VecDeque<(OwnedFd, Arc<Sock>)>,
    pub backlog: usize,
}

pub struct Sock {
    pub kind: Kind,
    pub v6: bool,
    pub stype: i32,
    pub protocol: i32,
    /// The process that made the socket: only its threads may talk on the connection.
    pub owner: u32,
    /// The inode of the program's end, to notice a descriptor number closed behind the
    /// library's back (close_range, fclose) and reused.
    pub ino: u64,
    pub conn: Mutex<Conn>,
    /// Callers waiting for `conn` (the pump lets them in between its requests).
    pub want: AtomicU32,
    pub st: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sock {
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.st)
    }

    /// The connection, for a request from the program (EOPNOTSUPP in a child that
    /// inherited the socket: the parent's pump owns the connection).
    pub fn conn(&self) -> Result<MutexGuard<'_, Conn>, Errno> {
        if std::process::id() != self.owner {
            crate::debug_once("a stack socket inherited across fork (only data moves in the child)");
            return Err(libc::EOPNOTSUPP);
        }
        self.want.fetch_add(1, Ordering::AcqRel);
        let g = lock(&self.conn);
        self.want.fetch_sub(1, Ordering::AcqRel);
        Ok(g)
    }

    /// The pump's hold of the connection.
    fn pump_conn(&self) -> MutexGuard<'_, Conn> {
        while self.want.load(Ordering::Acquire) > 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        lock(&self.conn)
    }

    pub fn new(kind: Kind, v6: bool, stype: i32, protocol: i32, conn: Conn, app: RawFd, pump: OwnedFd) -> Sock {
        Sock {
            kind,
            v6,
            stype,
            protocol,
            owner: std::process::id(),
            ino: inode(app),
            conn: Mutex::new(conn),
            want: AtomicU32::new(0),
            st: Mutex::new(State {
                phase: Phase::Fresh,
                so_error: 0,
                local: None,
                peer: None,
                pump_end: Some(pump),
                opts: HashMap::new(),
                linger: None,
                accepted: VecDeque::new(),
                backlog: 128,
            }),
        }
    }

    /// Asks the stack for both names and keeps them.
    pub fn refresh_names(&self) -> Result<(SocketAddr, Option<SocketAddr>), Errno> {
        let n = self.conn()?.names()?;
        let (l, p) = (
            addr::in_family(n.local, self.v6),
            n.peer.map(|p| addr::in_family(p, self.v6)),
        );
        let mut st = self.state();
        st.local = Some(l);
        if p.is_some() {
            st.peer = p;
        }
        Ok((l, p))
    }
}

/// The inode of a descriptor (0 when it has none).
pub fn inode(fd: RawFd) -> u64 {
    // SAFETY: fstat fills a stat buffer of its own size.
    unsafe {
        let mut sb: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut sb) == 0 {
            sb.st_ino
        } else {
            0
        }
    }
}

static TABLE: LazyLock<RwLock<HashMap<RawFd, Arc<Sock>>>> = LazyLock::new(|| RwLock::new(HashMap::new()));
/// How many entries TABLE has: most calls on kernel descriptors stop at this.
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// The stack socket behind descriptor `fd`, if it is one.
pub fn lookup(fd: RawFd) -> Option<Arc<Sock>> {
    if COUNT.load(Ordering::Acquire) == 0 || fd < 0 {
        return None;
    }
    let s = TABLE.read().unwrap_or_else(|p| p.into_inner()).get(&fd).cloned()?;
    if inode(fd) != s.ino {
        // The number was closed behind our back and now names something else.
        forget(fd);
        return None;
    }
    Some(s)
}

/// Datagram descriptors below 65536, one bit each: read and write look here first, so a
/// kernel descriptor (or a stream socket, whose bytes need no help) costs one load.
static DGRAM: [std::sync::atomic::AtomicU64; 1024] = [const { std::sync::atomic::AtomicU64::new(0) }; 1024];

fn mark(fd: RawFd, on: bool) {
    if let Some(w) = DGRAM.get(fd as usize / 64) {
        let bit = 1u64 << (fd as usize % 64);
        if on {
            w.fetch_or(bit, Ordering::AcqRel);
        } else {
            w.fetch_and(!bit, Ordering::AcqRel);
        }
    }
}

/// The datagram socket behind `fd`, if it is one.
pub fn lookup_dgram(fd: RawFd) -> Option<Arc<Sock>> {
    if fd < 0 {
        return None;
    }
    match DGRAM.get(fd as usize / 64) {
        Some(w) if w.load(Ordering::Acquire) & (1u64 << (fd as usize % 64)) != 0 => {}
        Some(_) => return None,
        None => {}
    }
    lookup(fd).filter(|s| s.kind == Kind::Dgram)
}

pub fn insert(fd: RawFd, s: Arc<Sock>) {
    mark(fd, s.kind == Kind::Dgram);
    let old = TABLE.write().unwrap_or_else(|p| p.into_inner()).insert(fd, s);
    if old.is_none() {
        COUNT.fetch_add(1, Ordering::AcqRel);
    }
}

pub fn forget(fd: RawFd) -> Option<Arc<Sock>> {
    if COUNT.load(Ordering::Acquire) == 0 {
        return None;
    }
    let old = TABLE.write().unwrap_or_else(|p| p.into_inner()).remove(&fd);
    mark(fd, false);
    if old.is_some() {
        COUNT.fetch_sub(1, Ordering::AcqRel);
    }
    old
}

/// A socketpair for a socket of `kind`: (program's end, pump's end), both close-on-exec
/// unless `cloexec` is false for the program's end.
pub fn pair(kind: Kind, nonblock: bool, cloexec: bool) -> Result<(OwnedFd, OwnedFd), Errno> {
    let t = match kind {
        Kind::Stream => libc::SOCK_STREAM,
        Kind::Dgram => libc::SOCK_SEQPACKET,
    };
    let mut sv = [-1; 2];
    if real::socketpair(libc::AF_UNIX, t | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) != 0 {
        return Err(errno());
    }
    // SAFETY: two fresh descriptors we own.
    let (a, p) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
    set_flags(a.as_raw_fd(), nonblock, cloexec);
    Ok((a, p))
}

/// O_NONBLOCK and FD_CLOEXEC of the program's end, as socket(2) and accept4(2) flags ask.
pub fn set_flags(fd: RawFd, nonblock: bool, cloexec: bool) {
    let fl = real::fcntl(fd, libc::F_GETFL, 0);
    if fl >= 0 {
        let fl = if nonblock {
            fl | libc::O_NONBLOCK
        } else {
            fl & !libc::O_NONBLOCK
        };
        real::fcntl(fd, libc::F_SETFL, fl as libc::c_long);
    }
    real::fcntl(
        fd,
        libc::F_SETFD,
        if cloexec { libc::FD_CLOEXEC as libc::c_long } else { 0 },
    );
}

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Whether the program's end is in non-blocking mode.
pub fn nonblocking(fd: RawFd) -> bool {
    let fl = real::fcntl(fd, libc::F_GETFL, 0);
    fl >= 0 && fl & libc::O_NONBLOCK != 0
}

/// Makes the program's end unwritable until the connection is up: fills the pair from the
/// program's side with bytes the pump throws away once connect finished, so POLLOUT means
/// "connected" (or failed: SO_ERROR says which), as a non-blocking connect promises.
pub fn fill(app: RawFd) -> usize {
    let chunk = [0u8; 16384];
    let mut n = 0usize;
    loop {
        let r = real::send(
            app,
            chunk.as_ptr() as *const libc::c_void,
            chunk.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
        if r <= 0 {
            if r < 0 && errno() == libc::EINTR {
                continue;
            }
            return n;
        }
        n += r as usize;
    }
}

/// Starts the pump of a socket whose pump end is still in its state.
pub fn start_pump(s: &Arc<Sock>, connect: Option<(SocketAddr, usize)>) {
    let Some(pfd) = s.state().pump_end.take() else { return };
    let s2 = Arc::clone(s);
    let r = std::thread::Builder::new()
        .name("pktbox-pump".into())
        .spawn(move || match s2.kind {
            Kind::Stream if s2.state().phase == Phase::Listening => pump_listener(&s2, pfd),
            Kind::Stream => pump_stream(&s2, pfd, connect),
            Kind::Dgram => pump_dgram(&s2, pfd),
        });
    if r.is_err() {
        s.state().so_error = libc::ENOBUFS;
    }
}

/// Most bytes one receive request asks the stack for.
const RECV_MAX: u32 = (MAX_MSG / 2) as u32;
/// How long a receive request may sit in the stack while the program may have written
/// something: the channel serves a socket's requests one at a time, so a parked receive
/// holds back sends. Short after activity, longer when idle.
const WAIT_BUSY_MS: u32 = 1;
const WAIT_IDLE_MS: u32 = 10;

fn wait_poll(fd: RawFd, events: i16, ms: i32) -> i16 {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    if real::poll(&mut p, 1, ms) > 0 {
        p.revents
    } else {
        0
    }
}

/// Sends all of `data` on a stream socket.
fn stack_send(s: &Sock, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        let n = data.len().min(RECV_MAX as usize);
        let r = s.pump_conn().call(Msg::SockSend(SendReq {
            to: None,
            data: data[..n].to_vec(),
            wait: Wait::default(),
        }))?;
        let k = match r {
            Msg::SockSent(k) => (k as usize).min(n),
            _ => return Err(libc::EPROTO),
        };
        data = &data[k..];
    }
    Ok(())
}

/// The pump of a connected (or connecting) stream socket: the program's bytes go to the
/// stack, the stack's bytes to the program, end of file both ways; it ends when both
/// directions ended or the program closed every copy of its end.
fn pump_stream(s: &Arc<Sock>, pfd: OwnedFd, connect: Option<(SocketAddr, usize)>) {
    let fd = pfd.as_raw_fd();
    let mut scratch = vec![0u8; RECV_MAX as usize];
    if let Some((to, filler)) = connect {
        let r = s.pump_conn().call(Msg::SockConnect(SockAddrReq {
            addr: to,
            wait: Wait::default(),
        }));
        // What the program will ask once it sees the connection writable is settled
        // first; then the filler goes and the program's end becomes writable.
        let ok = match r {
            Ok(_) => {
                s.state().phase = Phase::Connected;
                let _ = s.refresh_names();
                true
            }
            Err(e) => {
                let mut st = s.state();
                st.so_error = e;
                st.phase = Phase::Fresh;
                false
            }
        };
        let mut left = filler;
        while left > 0 {
            let r = real::recv(
                fd,
                scratch.as_mut_ptr() as *mut libc::c_void,
                left.min(scratch.len()),
                0,
            );
            if r <= 0 {
                break;
            }
            left -= r as usize;
        }
        if !ok {
            real::shutdown(fd, libc::SHUT_RDWR);
            return;
        }
    }
    let mut inbuf: Vec<u8> = Vec::new();
    let mut inoff = 0usize;
    let (mut in_eof, mut out_eof) = (false, false);
    let mut wait_ms = WAIT_BUSY_MS;
    loop {
        let mut busy = false;
        // The program's bytes to the stack.
        if !out_eof {
            let r = real::recv(
                fd,
                scratch.as_mut_ptr() as *mut libc::c_void,
                scratch.len(),
                libc::MSG_DONTWAIT,
            );
            if r > 0 {
                busy = true;
                if let Err(e) = stack_send(s, &scratch[..r as usize]) {
                    s.state().so_error = e;
                    out_eof = true;
                    real::shutdown(fd, libc::SHUT_RD);
                    if e == libc::ECONNRESET && s.pump_conn().call(Msg::SockGetName(Empty)).is_err() {
                        break;
                    }
                }
            } else if r == 0 {
                busy = true;
                out_eof = true;
                let _ = s
                    .pump_conn()
                    .call(Msg::SockShutdown(ShutdownReq { how: libc::SHUT_WR }));
            } else if errno() != libc::EAGAIN && errno() != libc::EINTR {
                break;
            }
        }
        // The stack's bytes to the program.
        if inoff < inbuf.len() {
            let r = real::send(
                fd,
                inbuf[inoff..].as_ptr() as *const libc::c_void,
                inbuf.len() - inoff,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            );
            if r > 0 {
                busy = true;
                inoff += r as usize;
            } else if r < 0 && errno() == libc::EPIPE {
                // The program shut its reading side: what comes is thrown away.
                inbuf.clear();
                inoff = 0;
            }
        }
        let mut asked = false;
        if inoff >= inbuf.len() && !in_eof {
            inbuf.clear();
            inoff = 0;
            asked = true;
            let r = s.pump_conn().call(Msg::SockRecv(RecvReq {
                max: RECV_MAX,
                peek: false,
                wait: Wait {
                    nonblock: busy,
                    timeout_ms: Some(wait_ms),
                },
            }));
            match r {
                Ok(Msg::SockData(d)) if d.data.is_empty() => {
                    in_eof = true;
                    real::shutdown(fd, libc::SHUT_WR);
                }
                Ok(Msg::SockData(d)) => {
                    busy = true;
                    inbuf = d.data;
                }
                Ok(_) => {}
                Err(libc::EAGAIN) | Err(libc::ETIMEDOUT) | Err(libc::EINTR) => {}
                Err(e) => {
                    s.state().so_error = e;
                    in_eof = true;
                    real::shutdown(fd, libc::SHUT_WR);
                }
            }
        }
        if in_eof && out_eof && inoff >= inbuf.len() {
            break;
        }
        wait_ms = if busy {
            WAIT_BUSY_MS
        } else {
            (wait_ms * 2).min(WAIT_IDLE_MS)
        };
        // Has the program closed every copy of its end? Wait here when nothing else
        // waited: for room for the stack's bytes, or for the program's.
        let mut ev = 0;
        if !out_eof {
            ev |= libc::POLLIN;
        }
        if inoff < inbuf.len() {
            ev |= libc::POLLOUT;
        }
        let ms = if busy || asked && !in_eof { 0 } else { wait_ms as i32 };
        let rev = wait_poll(fd, ev, ms);
        if rev & libc::POLLHUP != 0 && rev & libc::POLLIN == 0 {
            break;
        }
        if in_eof && !busy && ev & libc::POLLOUT == 0 && rev == 0 {
            // Only the program's side is left: wait for it without asking the stack.
            wait_poll(fd, ev, WAIT_IDLE_MS as i32 * 10);
        }
    }
    real::shutdown(fd, libc::SHUT_RDWR);
}

/// A listener's pump: accepts from the stack ahead of the program, keeps each connection
/// with a socketpair of its own, and makes the program's end readable (one byte per
/// connection) so poll, select and epoll see it.
fn pump_listener(s: &Arc<Sock>, pfd: OwnedFd) {
    let fd = pfd.as_raw_fd();
    let mut wait_ms = WAIT_BUSY_MS;
    loop {
        let rev = wait_poll(fd, 0, 0);
        if rev & libc::POLLHUP != 0 {
            break;
        }
        let (full, v6) = {
            let st = s.state();
            (st.accepted.len() >= st.backlog.max(1), s.v6)
        };
        if full {
            std::thread::sleep(Duration::from_millis(u64::from(WAIT_IDLE_MS)));
            continue;
        }
        let mut c = s.pump_conn();
        let r = c.call(Msg::SockAccept(Wait {
            nonblock: false,
            timeout_ms: Some(wait_ms),
        }));
        let fdnew = c.last_fd.take();
        drop(c);
        let names = match r {
            Ok(Msg::SockAccepted(n)) => n,
            Ok(_) => continue,
            Err(libc::EAGAIN) | Err(libc::ETIMEDOUT) | Err(libc::EINTR) => {
                wait_ms = (wait_ms * 2).min(WAIT_IDLE_MS * 5);
                continue;
            }
            Err(_) => break,
        };
        wait_ms = WAIT_BUSY_MS;
        let Some(nfd) = fdnew else { continue };
        let Ok((app, pump)) = pair(Kind::Stream, false, true) else {
            continue;
        };
        let mut conn = Conn::wrap(SeqPacket::from_fd(nfd));
        // accept() hands the program this very descriptor number.
        let _ = conn.call(Msg::SockClientFd(app.as_raw_fd()));
        let child = Arc::new(Sock::new(
            Kind::Stream,
            v6,
            s.stype,
            s.protocol,
            conn,
            app.as_raw_fd(),
            pump,
        ));
        {
            let mut st = child.state();
            st.phase = Phase::Connected;
            st.local = Some(addr::in_family(names.local, v6));
            st.peer = names.peer.map(|p| addr::in_family(p, v6));
            st.opts = s.state().opts.clone();
        }
        start_pump(&child, None);
        s.state().accepted.push_back((app, child));
        let token = [1u8];
        real::send(fd, token.as_ptr() as *const libc::c_void, 1, libc::MSG_NOSIGNAL);
    }
    // The program closed the listener: connections it never took go with it.
    s.state().accepted.clear();
    real::shutdown(fd, libc::SHUT_RDWR);
}

/// A datagram socket's pump: each datagram the stack pushes goes to the program's end
/// behind its source address; one the program has no room for is dropped, as a full
/// socket buffer drops it.
fn pump_dgram(s: &Arc<Sock>, pfd: OwnedFd) {
    let fd = pfd.as_raw_fd();
    let cfd = lock(&s.conn).fd();
    loop {
        let mut p = [
            libc::pollfd {
                fd: cfd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd,
                events: 0,
                revents: 0,
            },
        ];
        real::poll(p.as_mut_ptr(), 2, WAIT_IDLE_MS as i32);
        if p[1].revents & libc::POLLHUP != 0 {
            break;
        }
        let (got, pushed_err): (Vec<DataMsg>, Option<i32>) = {
            let mut c = s.pump_conn();
            if p[0].revents & libc::POLLIN != 0 && c.drain().is_err() {
                s.state().so_error = libc::ECONNRESET;
                break;
            }
            (c.queued.drain(..).collect(), c.so_error.take())
        };
        if let Some(e) = pushed_err {
            // An error record for the program's next receive (see `addr::error_hdr`).
            let h = addr::error_hdr(e);
            real::send(
                fd,
                h.as_ptr() as *const libc::c_void,
                h.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            );
        }
        if p[0].revents & (libc::POLLHUP | libc::POLLERR) != 0 && got.is_empty() {
            s.state().so_error = libc::ECONNRESET;
            break;
        }
        for d in got {
            let (h, _) = addr::bytes(addr::in_family(d.from, s.v6));
            let mut iov = [
                libc::iovec {
                    iov_base: h.as_ptr() as *mut libc::c_void,
                    iov_len: h.len(),
                },
                libc::iovec {
                    iov_base: d.data.as_ptr() as *mut libc::c_void,
                    iov_len: d.data.len(),
                },
            ];
            // SAFETY: a zeroed msghdr is valid; the iovecs outlive the call.
            let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
            m.msg_iov = iov.as_mut_ptr();
            m.msg_iovlen = 2;
            let send = real!(sendmsg: unsafe extern "C" fn(i32, *const libc::msghdr, i32) -> isize);
            // SAFETY: m describes valid buffers.
            unsafe { send(fd, &m, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
        }
    }
    // A stack that went away: the program's reads see end of file, SO_ERROR says why.
    real::shutdown(fd, libc::SHUT_RDWR);
}
