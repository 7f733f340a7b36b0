//! The stack's end of the channel: listen on `<prefix>/dev/socket`, check credentials,
//! decode, dispatch, answer.
//!
//! The server is event-driven, as io-pkt's resource manager is: the number of threads does
//! not grow with the number of connections or of blocked requests.
//!
//! - One poller thread watches the listening socket and every connection with epoll. Each
//!   connection is armed one-shot, so that when it has a message, exactly one pool worker
//!   takes it, serves the messages that are there (a few at a time, so that one busy
//!   connection cannot starve the others) and arms it again.
//! - A request that cannot complete yet (accept, connect, recv, a send that waits for room,
//!   a capture read) is parked with its connection: the header and what the request still
//!   needs are kept, the worker goes on with other work, and the client stays blocked on
//!   its reply. When the socket changes (TCP queues the socket's id, see
//!   [`crate::inet::tcp::wake`]; a capture calls its notifier), the connection is queued
//!   for a retry; the reply goes out with the original seq when the request completes. A
//!   parked request with a timeout (SO_RCVTIMEO, SO_SNDTIMEO, the capture's read timeout)
//!   has a deadline that the poller expires. A connection with a parked request is
//!   watched only for hang-up, so its replies stay in order.
//! - A connection's first message gives it a role. When it hangs up, what it stood for goes
//!   (the socket, the capture, the routing subscription). One that says nothing for
//!   [`limits::HELLO_TIMEOUT`] is closed.
//! - No worker waits for a client to read: replies go out without waiting or queue with the
//!   connection, up to a bound past which the connection's requests are not read until its
//!   client reads its replies (see [`out`]).
//! - Anyone may connect (the socket is mode 0666, as a routing socket is open to all), so
//!   the connections a user other than root may hold are capped (see [`limits`]), and every
//!   request that changes state checks the peer's uid (SO_PEERCRED).
//!
//! The pool keeps `threads_min` workers and grows to `threads_max` while work waits.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::msg::wire::{Cred, Listener, Received, SeqPacket};
use crate::msg::{decode, encode, DecodeError, Header, HelloReply, Msg, Role, HDR_LEN, MAX_MSG, MSGF_REPLY};
use crate::sys::Stack;

pub(crate) mod bpf;
pub(crate) mod control;
mod out;
mod socket;

use out::{Out, Shared, KEY_OUT};

/// The channel's bounds on what clients can make the stack hold.
pub mod limits {
    use std::time::Duration;

    /// Replies one connection may have waiting for its client to read (messages, bytes):
    /// past either, its requests are not read until the client has read its replies.
    pub const OUT_MSGS: usize = 32;
    pub const OUT_BYTES: usize = 64 * 1024;
    /// All connections' waiting replies together: past this, a connection with any reply
    /// waiting is not read.
    pub const OUT_TOTAL: usize = 8 << 20;
    /// How long a new connection may go without its first message (its role).
    pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
    /// Connections one user other than root may hold at once (sockets are connections).
    pub const CONNS_PER_UID: usize = 1024;
    /// Descriptors one connection may cost the stack: its own, the one watched for room
    /// while replies wait, and a UDP or raw socket's handle on it.
    pub const FDS_PER_CONN: usize = 3;
    /// Descriptors kept for everything else (interfaces, the poller, logs).
    pub const FDS_RESERVED: usize = 64;

    /// How many connections the stack takes in all, from its descriptor limit; users
    /// other than root get three quarters of them, so root can always connect.
    pub fn max_conns() -> (usize, usize) {
        // SAFETY: rlimit is plain data; getrlimit fills it.
        let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: a valid rlimit to fill.
        let nofile = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
            rl.rlim_cur.min(1 << 20) as usize
        } else {
            1024
        };
        let all = (nofile.saturating_sub(FDS_RESERVED) / FDS_PER_CONN).max(16);
        (all, all * 3 / 4)
    }
}

/// Logs at most one line every 10 seconds (with a count of those left out), for what a
/// client can cause: what it makes the stack log must not grow with what it sends. The
/// same ratecheck(9) as the network's log lines (`sys::log`), with one shared place.
pub(crate) fn ratelog(args: std::fmt::Arguments<'_>) {
    static LAST: Mutex<(Option<Instant>, u64)> = Mutex::new((None, 0));
    let mut g = lock(&LAST);
    if !crate::sys::log::ratecheck(&mut g.0, Duration::from_secs(10)) {
        g.1 += 1;
        return;
    }
    let left_out = std::mem::take(&mut g.1);
    drop(g);
    crate::sys::log::log_net(args, left_out);
}

/// How long a thread above `threads_min` waits idle before it ends.
const IDLE: Duration = Duration::from_secs(10);
/// Messages a worker serves from one connection before it lets the others have a turn.
const BUDGET: usize = 16;
/// A parked request is tried again at least this often, whatever its wake-ups say.
const RECHECK: Duration = Duration::from_secs(1);

/// A worker's receive buffer keeps this much resident; after a larger message the rest of
/// its pages go back to the system (a client's oversized datagram must not leave every
/// worker holding MAX_MSG bytes).
const BUF_KEEP: usize = 64 * 1024;

/// How many times a worker waits for a quiet connection's next request ([`LINGER_MS`]
/// each) before it gives the connection back to the poller.
const LINGER_TURNS: usize = 64;
const LINGER_MS: libc::c_int = 1;

/// What serving a connection's messages came to.
enum Read {
    /// None left for now.
    Drained,
    /// The budget is spent, a request is parked, or the stack is stopping.
    More,
    /// The connection ended.
    Closed,
}

/// Whether `fd` has something to read (or hung up) within [`LINGER_MS`].
fn readable_soon(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, LINGER_MS) };
    r > 0
}

/// Gives the pages of a worker's buffer past [`BUF_KEEP`] back to the system after a
/// message of `used` bytes filled them; they read as zeroes when next touched.
fn shed(buf: &mut [u8], used: usize) {
    if used <= BUF_KEEP {
        return;
    }
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let base = buf.as_mut_ptr() as usize;
    let start = (base + BUF_KEEP).next_multiple_of(page);
    let end = (base + used.min(buf.len())) / page * page;
    if end > start {
        // SAFETY: [start, end) is whole pages inside `buf`, which we own mutably; their
        // contents are not needed (each receive overwrites what it uses), and
        // MADV_DONTNEED on private anonymous memory makes them read as zeroes.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// A descriptor to give up when the stack has no other (see [`Server::spare`]).
fn spare_fd() -> Option<OwnedFd> {
    std::fs::File::open("/dev/null").ok().map(OwnedFd::from)
}

/// Connections the poller takes per wake-up.
const ACCEPT_BATCH: usize = 64;

/// Epoll keys of the two descriptors that are not connections.
const KEY_LISTENER: u64 = 0;
const KEY_EVENT: u64 = u64::MAX;

/// What a connection has for a worker.
const EV_IN: u8 = 1;
const EV_HUP: u8 = 2;
const EV_RETRY: u8 = 4;
/// The connection's replies were all taken: its requests may be read again.
const EV_OUT: u8 = 8;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The channel server: the poller's descriptors, the connections, the pool.
pub(crate) struct Server {
    stack: Arc<Stack>,
    /// The poller's epoll descriptor, and what all reply queues share.
    shared: Arc<Shared>,
    /// An eventfd that wakes the poller (an earlier deadline, shutdown).
    event: OwnedFd,
    conns: Mutex<Table>,
    /// Connections in all, and those of users other than root (see [`limits::max_conns`]).
    max_conns: usize,
    max_user_conns: usize,
    /// A descriptor given up to take (and close) a connection when the stack has none
    /// left, so the listener does not stay readable with nothing the poller can do.
    spare: Mutex<Option<OwnedFd>>,
    /// Connections refused for a limit.
    refused: AtomicUsize,
    pool: Mutex<PoolState>,
    pool_cv: Condvar,
    /// Deadlines of parked requests, by connection id. Stale entries are harmless: an
    /// expiry only makes the connection look at its parked request.
    timers: Mutex<BinaryHeap<Reverse<(Instant, u64)>>>,
}

/// The connections, and how many each user holds.
#[derive(Default)]
struct Table {
    map: HashMap<u64, Arc<Slot>>,
    by_uid: HashMap<u32, usize>,
    /// Connections of users other than root.
    users: usize,
}

struct PoolState {
    queue: VecDeque<Arc<Slot>>,
    threads: usize,
    idle: usize,
}

/// One connection as the server keeps it.
pub(crate) struct Slot {
    id: u64,
    fd: RawFd,
    uid: u32,
    pid: u32,
    /// The client's descriptor number for the socket (sockstat), -1 until it says.
    client_fd: Arc<AtomicI32>,
    /// The connection's way out, which the poller flushes without the state's lock.
    out: Arc<Out>,
    sched: Mutex<Sched>,
    st: Mutex<ConnState>,
}

/// Whether a connection is queued for a worker or being served, and what for.
#[derive(Default)]
struct Sched {
    queued: bool,
    running: bool,
    ev: u8,
}

/// A parked request.
pub(crate) enum Parked {
    Sock(socket::Parked),
    Bpf(bpf::Parked),
}

impl Parked {
    fn seq(&self) -> u32 {
        match self {
            Parked::Sock(p) => p.hdr.seq,
            Parked::Bpf(p) => p.hdr.seq,
        }
    }
}

/// A connection's state, which one worker at a time holds.
pub(crate) struct ConnState {
    pub conn: Conn,
    kind: Option<socket::Kind>,
    capture: Option<bpf::Capture>,
    parked: Option<Parked>,
    closed: bool,
    /// The events the connection is armed for in the poller (0: none).
    armed: u32,
    /// When the poller's pending timer for this connection fires, if one is.
    timer_at: Option<Instant>,
    /// When the connection came.
    born: Instant,
}

static CONN_ID: AtomicU64 = AtomicU64::new(1);

/// One connection's identity and transport.
pub(crate) struct Conn {
    pub id: u64,
    out: Arc<Out>,
    pub cred: Cred,
    pub role: Option<Role>,
    /// What the client said its descriptor number for the socket is (`SockClientFd`).
    pub client_fd: Arc<AtomicI32>,
}

impl Conn {
    /// A connection served by no poller (the fuzz harness calls the handlers with one):
    /// its replies queue as any connection's do, under a poller of its own.
    pub(crate) fn detached(id: u64, sock: SeqPacket, cred: Cred) -> std::io::Result<Conn> {
        // SAFETY: plain epoll_create1; the result is checked.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let shared = Arc::new(Shared {
            // SAFETY: a fresh descriptor we own.
            epoll: unsafe { OwnedFd::from_raw_fd(ep) },
            queued: AtomicUsize::new(0),
        });
        Ok(Conn {
            id,
            out: Arc::new(Out::new(sock, id, shared)?),
            cred,
            role: None,
            client_fd: Arc::new(AtomicI32::new(-1)),
        })
    }

    /// The connection's socket (non-blocking).
    pub fn sock(&self) -> &SeqPacket {
        self.out.sock()
    }

    /// The connection as a routing-broadcast subscriber.
    pub fn sink(&self) -> Arc<dyn crate::net::route_socket::Sink> {
        self.out.clone()
    }

    /// Sends a reply to the request with header `req` (or queues it; it never waits).
    pub fn reply(&self, req: &Header, msg: &Msg) {
        let b = encode(msg, req.seq, std::process::id(), MSGF_REPLY, 0);
        self.out.reply(b, None);
    }

    /// Sends a reply that carries a descriptor (SCM_RIGHTS).
    pub fn reply_fd(&self, req: &Header, msg: &Msg, fd: OwnedFd) {
        let b = encode(msg, req.seq, std::process::id(), MSGF_REPLY, 0);
        self.out.reply(b, Some(fd));
    }

    /// Sends an error reply, with an explanation when there is one.
    pub fn reply_err(&self, seq: u32, errno: i32, text: Option<String>) {
        let b = encode(
            &Msg::ErrorText(text.unwrap_or_default()),
            seq,
            std::process::id(),
            MSGF_REPLY,
            errno,
        );
        self.out.reply(b, None);
    }
}

fn epoll_ctl(ep: RawFd, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> std::io::Result<()> {
    let mut e = libc::epoll_event { events, u64: key };
    // SAFETY: epoll_ctl with a valid event structure.
    let r = unsafe { libc::epoll_ctl(ep, op, fd, &mut e) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Serves the channel until the stack shuts down. This thread is the poller.
pub fn serve(stack: Arc<Stack>, listener: Arc<Listener>) {
    let srv = match Server::new(stack.clone(), &listener) {
        Ok(s) => s,
        Err(e) => {
            crate::klog!("resmgr: cannot start the poller: {e}");
            return;
        }
    };
    let weak = Arc::downgrade(&srv);
    let _ = stack.waker.set(Box::new(move |id| {
        if let Some(s) = weak.upgrade() {
            s.kick_id(id, EV_RETRY);
        }
    }));
    let min = stack.config.threads_min.max(1);
    for _ in 0..min {
        srv.spawn_worker();
    }
    srv.poll(&listener);
    srv.stop();
}

impl Server {
    fn new(stack: Arc<Stack>, listener: &Listener) -> std::io::Result<Arc<Server>> {
        // SAFETY: plain epoll_create1; the result is checked.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let epoll = unsafe { OwnedFd::from_raw_fd(ep) };
        // SAFETY: plain eventfd; the result is checked.
        let ev = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if ev < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let event = unsafe { OwnedFd::from_raw_fd(ev) };
        let (max_conns, max_user_conns) = limits::max_conns();
        listener.set_nonblocking()?;
        epoll_ctl(
            ep,
            libc::EPOLL_CTL_ADD,
            listener.as_raw_fd(),
            libc::EPOLLIN as u32,
            KEY_LISTENER,
        )?;
        epoll_ctl(ep, libc::EPOLL_CTL_ADD, ev, libc::EPOLLIN as u32, KEY_EVENT)?;
        Ok(Arc::new(Server {
            stack,
            shared: Arc::new(Shared {
                epoll,
                queued: AtomicUsize::new(0),
            }),
            event,
            conns: Mutex::new(Table::default()),
            max_conns,
            max_user_conns,
            spare: Mutex::new(spare_fd()),
            refused: AtomicUsize::new(0),
            pool: Mutex::new(PoolState {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
            }),
            pool_cv: Condvar::new(),
            timers: Mutex::new(BinaryHeap::new()),
        }))
    }

    /// The poller: new connections, connections with something to read or hung up,
    /// deadlines that passed.
    fn poll(self: &Arc<Self>, listener: &Listener) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        while !self.stack.shutting_down() {
            let timeout = {
                let t = lock(&self.timers);
                match t.peek() {
                    Some(Reverse((d, _))) => {
                        let ms = d.saturating_duration_since(Instant::now()).as_millis();
                        // Rounded up, so a deadline is not polled for early again and again.
                        (ms + 1).min(1000) as libc::c_int
                    }
                    None => 1000,
                }
            };
            // SAFETY: events has room for events.len() entries.
            let n = unsafe {
                libc::epoll_wait(
                    self.shared.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as libc::c_int,
                    timeout,
                )
            };
            if self.stack.shutting_down() {
                break;
            }
            let n = if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    crate::klog!("resmgr: epoll_wait: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                0
            } else {
                n as usize
            };
            for e in &events[..n] {
                let (key, bits) = (e.u64, e.events);
                match key {
                    KEY_LISTENER => self.accept_all(listener),
                    KEY_EVENT => {
                        let mut b = [0u8; 8];
                        // SAFETY: reading 8 bytes into b from our eventfd.
                        let _ = unsafe { libc::read(self.event.as_raw_fd(), b.as_mut_ptr().cast(), 8) };
                    }
                    key if key & KEY_OUT != 0 => {
                        // Room on a connection whose replies wait: they go now, here (the
                        // sends do not wait), and a connection held for them is read again.
                        let slot = lock(&self.conns).map.get(&(key & !KEY_OUT)).cloned();
                        if let Some(s) = slot {
                            if s.out.flush() {
                                self.kick(&s, EV_OUT);
                            }
                        }
                    }
                    id => {
                        let mut ev = 0;
                        if bits & libc::EPOLLIN as u32 != 0 {
                            ev |= EV_IN;
                        }
                        if bits & (libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLRDHUP) as u32 != 0 {
                            ev |= EV_HUP;
                        }
                        self.kick_id(id, ev);
                    }
                }
            }
            self.expire();
        }
    }

    /// Takes the connections waiting on the listener, a batch at a time (the listener stays
    /// readable for the rest), so a flood of connects does not keep the poller from the
    /// connections it has.
    fn accept_all(self: &Arc<Self>, listener: &Listener) {
        for _ in 0..ACCEPT_BATCH {
            let sock = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) if self.stack.shutting_down() => return,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    // Out of descriptors: give up the spare one to take the connection and
                    // close it, so the listener is not left readable with nothing to do.
                    ratelog(format_args!("resmgr: accept: {e}; connections refused"));
                    let mut spare = lock(&self.spare);
                    if spare.take().is_none() {
                        // Not even that (it could not be opened again): the listener
                        // stays readable, so pause rather than spin.
                        std::thread::sleep(Duration::from_millis(10));
                        *spare = spare_fd();
                        return;
                    }
                    drop(listener.accept());
                    *spare = spare_fd();
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Err(e) => {
                    ratelog(format_args!("resmgr: accept: {e}"));
                    return;
                }
            };
            let Ok(cred) = sock.peer_cred() else { continue };
            if let Err(errno) = self.room_for(cred.uid) {
                self.refuse(sock, cred, errno);
                continue;
            }
            match self.conn(CONN_ID.fetch_add(1, Ordering::Relaxed), sock, cred, None) {
                Ok(conn) => self.add(conn, None),
                Err(e) => ratelog(format_args!("resmgr: cannot take a connection: {e}")),
            }
        }
    }

    /// Whether a user may have one more connection: the errno that says why not.
    pub(crate) fn room_for(&self, uid: u32) -> Result<(), i32> {
        let t = lock(&self.conns);
        if t.map.len() >= self.max_conns {
            return Err(libc::ENFILE);
        }
        if uid != 0 {
            if t.users >= self.max_user_conns {
                return Err(libc::ENFILE);
            }
            let per_uid = limits::CONNS_PER_UID.min(self.max_user_conns);
            if t.by_uid.get(&uid).copied().unwrap_or(0) >= per_uid {
                return Err(libc::EMFILE);
            }
        }
        Ok(())
    }

    /// Turns a connection away: an error answer to its first request if it has sent one
    /// (or with seq 0), then it is closed.
    fn refuse(&self, sock: SeqPacket, cred: Cred, errno: i32) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        ratelog(format_args!(
            "resmgr: connection of uid {} refused: {} ({n} refused so far)",
            cred.uid,
            crate::msg::errno::strerror(errno)
        ));
        let mut h = [0u8; HDR_LEN];
        let seq = match sock.recv_nowait(&mut h) {
            Ok(Received::Msg(n) | Received::Truncated(n)) if n >= HDR_LEN => {
                u32::from_le_bytes([h[8], h[9], h[10], h[11]])
            }
            _ => 0,
        };
        let text = if errno == libc::EMFILE {
            format!(
                "uid {} has {} connections to the stack",
                cred.uid,
                limits::CONNS_PER_UID
            )
        } else {
            "the stack takes no more connections".to_string()
        };
        let b = encode(&Msg::ErrorText(text), seq, std::process::id(), MSGF_REPLY, errno);
        let _ = sock.send_nowait(&b);
    }

    /// A connection as the server keeps it (its socket made non-blocking).
    pub(crate) fn conn(&self, id: u64, sock: SeqPacket, cred: Cred, role: Option<Role>) -> std::io::Result<Conn> {
        Ok(Conn {
            id,
            out: Arc::new(Out::new(sock, id, self.shared.clone())?),
            cred,
            role,
            client_fd: Arc::new(AtomicI32::new(-1)),
        })
    }

    /// Starts watching a connection.
    pub(crate) fn add(self: &Arc<Self>, conn: Conn, kind: Option<socket::Kind>) {
        let (id, fd, uid, pid) = (conn.id, conn.sock().as_raw_fd(), conn.cred.uid, conn.cred.pid);
        let client_fd = conn.client_fd.clone();
        let hello_due = conn.role.is_none();
        let now = Instant::now();
        let slot = Arc::new(Slot {
            id,
            fd,
            uid,
            pid,
            client_fd,
            out: conn.out.clone(),
            sched: Mutex::new(Sched::default()),
            st: Mutex::new(ConnState {
                conn,
                kind,
                capture: None,
                parked: None,
                closed: false,
                armed: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
                timer_at: None,
                born: now,
            }),
        });
        {
            let mut t = lock(&self.conns);
            t.map.insert(id, slot.clone());
            *t.by_uid.entry(uid).or_default() += 1;
            if uid != 0 {
                t.users += 1;
            }
        }
        if hello_due {
            self.add_timer(now + limits::HELLO_TIMEOUT, id);
        }
        let ev = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32;
        if let Err(e) = epoll_ctl(self.shared.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, ev, id) {
            crate::klog!("resmgr: cannot watch a connection: {e}");
            let mut st = lock(&slot.st);
            self.close(&slot, &mut st);
        }
    }

    /// Tells the poller to look at its deadlines again.
    fn poke(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writing 8 bytes to our eventfd.
        let _ = unsafe { libc::write(self.event.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    /// Retries the parked requests whose deadline passed.
    fn expire(self: &Arc<Self>) {
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut t = lock(&self.timers);
            while let Some(Reverse((d, id))) = t.peek().copied() {
                if d > now {
                    break;
                }
                t.pop();
                due.push(id);
            }
        }
        for id in due {
            self.kick_id(id, EV_RETRY);
        }
    }

    /// Sets a deadline for connection `id`'s parked request.
    fn add_timer(&self, d: Instant, id: u64) {
        let earliest = {
            let mut t = lock(&self.timers);
            let earlier = t.peek().is_none_or(|Reverse((e, _))| d < *e);
            t.push(Reverse((d, id)));
            earlier
        };
        if earliest {
            self.poke();
        }
    }

    /// Queues work for connection `id`, if it is still there.
    pub(crate) fn kick_id(self: &Arc<Self>, id: u64, ev: u8) {
        let slot = lock(&self.conns).map.get(&id).cloned();
        if let Some(s) = slot {
            self.kick(&s, ev);
        }
    }

    fn kick(self: &Arc<Self>, slot: &Arc<Slot>, ev: u8) {
        let queue = {
            let mut s = lock(&slot.sched);
            s.ev |= ev;
            let q = !s.queued && !s.running;
            if q {
                s.queued = true;
            }
            q
        };
        if queue {
            self.push(slot.clone());
        }
    }

    /// Queues a connection for a worker, growing the pool when no worker is free.
    fn push(self: &Arc<Self>, slot: Arc<Slot>) {
        let grow = {
            let mut q = lock(&self.pool);
            q.queue.push_back(slot);
            let max = self.stack.config.threads_max.max(self.stack.config.threads_min.max(1));
            // A worker rarely waits (for the stack context, or a client's full receive
            // buffer): grow only when none is free.
            q.idle == 0 && q.threads < max
        };
        if grow {
            self.spawn_worker();
        }
        self.pool_cv.notify_one();
    }

    fn spawn_worker(self: &Arc<Self>) {
        lock(&self.pool).threads += 1;
        let srv = self.clone();
        let r = std::thread::Builder::new()
            .name("resmgr".into())
            .spawn(move || srv.worker());
        if let Err(e) = r {
            crate::klog!("resmgr: cannot start a thread: {e}");
            lock(&self.pool).threads -= 1;
        }
    }

    fn worker(self: &Arc<Self>) {
        let mut buf = vec![0u8; MAX_MSG + 1];
        let min = self.stack.config.threads_min.max(1);
        loop {
            let slot = {
                let mut q = lock(&self.pool);
                loop {
                    if self.stack.shutting_down() {
                        break None;
                    }
                    if let Some(s) = q.queue.pop_front() {
                        break Some(s);
                    }
                    q.idle += 1;
                    let (g, to) = self.pool_cv.wait_timeout(q, IDLE).unwrap_or_else(|p| p.into_inner());
                    q = g;
                    q.idle -= 1;
                    if to.timed_out() && q.queue.is_empty() && q.threads > min {
                        break None;
                    }
                }
            };
            let Some(slot) = slot else {
                lock(&self.pool).threads -= 1;
                return;
            };
            let ev = {
                let mut s = lock(&slot.sched);
                s.queued = false;
                s.running = true;
                std::mem::take(&mut s.ev)
            };
            self.handle(&slot, ev, &mut buf);
            let again = {
                let mut s = lock(&slot.sched);
                s.running = false;
                let again = s.ev != 0;
                if again {
                    s.queued = true;
                }
                again
            };
            if again {
                // More came in meanwhile: to the back of the queue, so others get a turn.
                self.push(slot);
            }
        }
    }

    /// Serves what a connection has: a retry of its parked request, messages, a hang-up.
    fn handle(self: &Arc<Self>, slot: &Arc<Slot>, ev: u8, buf: &mut [u8]) {
        let mut st = lock(&slot.st);
        if st.closed {
            return;
        }
        if ev & EV_HUP != 0 {
            // Nobody is left to answer the parked request. The messages sent before the
            // hang-up are still served, as they were sent.
            st.parked = None;
            let _ = self.read_msgs(slot, &mut st, buf, usize::MAX);
            self.close(slot, &mut st);
            return;
        }
        if ev & (EV_IN | EV_HUP) != 0 {
            // The one-shot fired: the connection is not armed any more.
            st.armed = 0;
        }
        let mut serve = ev & (EV_IN | EV_OUT) != 0;
        if ev & EV_RETRY != 0 && st.parked.is_some() {
            self.retry(slot, &mut st);
            // A client that got its answer usually asks again at once.
            serve = true;
        }
        let mut turns = 0;
        while serve && st.parked.is_none() {
            match self.read_msgs(slot, &mut st, buf, BUDGET) {
                Read::Closed => {
                    self.close(slot, &mut st);
                    return;
                }
                Read::More => break,
                Read::Drained => {}
            }
            // Nothing more for now. While no other connection waits for a worker, wait a
            // moment for this client's next request: it usually comes at once (the answer
            // just went out), and taking it here saves the hand-off through the poller.
            turns += 1;
            serve = turns < LINGER_TURNS && lock(&self.pool).queue.is_empty() && readable_soon(slot.fd);
        }
        if st.conn.role.is_none() && st.born.elapsed() >= limits::HELLO_TIMEOUT {
            // Connected and never said what for (or only garbage): it costs a descriptor
            // and a slot for nothing.
            self.close(slot, &mut st);
            return;
        }
        let mut events = (libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32;
        // A connection with a parked request, or whose replies wait unread, is not read
        // (the flush that empties its queue kicks it with EV_OUT).
        if st.parked.is_none() && !slot.out.hold() {
            events |= libc::EPOLLIN as u32;
        }
        if st.armed == events {
            // Still armed as wanted (a one-shot that fired comes here as EV_IN or EV_HUP).
            return;
        }
        st.armed = events;
        if let Err(e) = epoll_ctl(
            self.shared.epoll.as_raw_fd(),
            libc::EPOLL_CTL_MOD,
            slot.fd,
            events,
            slot.id,
        ) {
            crate::klog!("resmgr: cannot watch a connection: {e}");
            self.close(slot, &mut st);
        }
    }

    /// Serves up to `budget` messages, stopping early when one is parked.
    fn read_msgs(self: &Arc<Self>, slot: &Arc<Slot>, st: &mut ConnState, buf: &mut [u8], budget: usize) -> Read {
        for _ in 0..budget {
            if self.stack.shutting_down() || slot.out.hold() {
                return Read::More;
            }
            let n = match st.conn.sock().recv_nowait(buf) {
                Ok(Received::Msg(n)) => n,
                Ok(Received::Truncated(n)) => {
                    shed(buf, n);
                    st.conn
                        .reply_err(0, libc::EINVAL, Some(DecodeError::Oversized.to_string()));
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Read::Drained,
                Ok(Received::Closed) | Err(_) => return Read::Closed,
            };
            self.message(slot, st, &buf[..n]);
            shed(buf, n);
            if st.parked.is_some() {
                // Its deadline and re-check go to the poller.
                self.park_timer(slot, st);
                return Read::More;
            }
        }
        Read::More
    }

    /// Gives the poller the time to look at a parked request again, unless a timer that
    /// comes no later is pending.
    fn park_timer(&self, slot: &Slot, st: &mut ConnState) {
        let d = self.deadline_of(st);
        if st.timer_at.is_some_and(|t| t > Instant::now() && t <= d) {
            return;
        }
        st.timer_at = Some(d);
        self.add_timer(d, slot.id);
    }

    /// When to look at a parked request again at the latest.
    fn deadline_of(&self, st: &ConnState) -> Instant {
        let recheck = Instant::now() + RECHECK;
        let d = match &st.parked {
            Some(Parked::Sock(p)) => p.deadline,
            Some(Parked::Bpf(p)) => p.deadline,
            None => None,
        };
        d.map_or(recheck, |d| d.min(recheck))
    }

    /// Tries a parked request again; when it completes, its reply goes out.
    fn retry(self: &Arc<Self>, slot: &Arc<Slot>, st: &mut ConnState) {
        let Some(p) = st.parked.take() else { return };
        let still = match p {
            Parked::Sock(p) => socket::retry(self, &st.conn, p).map(Parked::Sock),
            Parked::Bpf(p) => match st.capture.as_mut() {
                Some(cap) => bpf::retry(&self.stack, &st.conn, cap, p).map(Parked::Bpf),
                None => None,
            },
        };
        st.parked = still;
        if st.parked.is_some() {
            self.park_timer(slot, st);
        }
    }

    /// Serves one message.
    fn message(self: &Arc<Self>, slot: &Arc<Slot>, st: &mut ConnState, b: &[u8]) {
        let mut frame = match decode(b) {
            Ok(f) => f,
            Err(e) => {
                // Answer with what could be read of the header, if anything.
                let seq = if b.len() >= HDR_LEN {
                    u32::from_le_bytes([b[8], b[9], b[10], b[11]])
                } else {
                    0
                };
                st.conn.reply_err(seq, libc::EINVAL, Some(e.to_string()));
                return;
            }
        };
        let stack = &self.stack;
        let ConnState {
            conn,
            kind,
            capture,
            parked,
            ..
        } = st;
        if conn.role == Some(Role::Socket) {
            *parked = socket::dispatch(self, conn, kind, &frame.hdr, &mut frame.msg).map(Parked::Sock);
            return;
        }
        match (conn.role, &frame.msg) {
            (None, Msg::Hello(h)) => match h.role {
                Role::Control | Role::Socket | Role::Bpf => {
                    conn.role = Some(h.role);
                    if h.role == Role::Bpf {
                        // A read answers with a whole buffer in one datagram.
                        let _ = conn.sock().set_buffers(1 << 20);
                        let cap = bpf::Capture::new();
                        let weak = Arc::downgrade(self);
                        let id = slot.id;
                        cap.set_notify(Box::new(move || {
                            if let Some(s) = weak.upgrade() {
                                s.kick_id(id, EV_RETRY);
                            }
                        }));
                        *capture = Some(cap);
                    }
                    let r = HelloReply {
                        variant: stack.variant.name().to_string(),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                        pid: std::process::id(),
                    };
                    conn.reply(&frame.hdr, &Msg::HelloOk(r));
                }
                other => conn.reply_err(
                    frame.hdr.seq,
                    libc::EPROTONOSUPPORT,
                    Some(format!("the {other:?} role is not in this build yet")),
                ),
            },
            (None, _) => conn.reply_err(
                frame.hdr.seq,
                libc::EINVAL,
                Some("the first message must say the connection's role".into()),
            ),
            (Some(Role::Control), Msg::SockList(_)) => {
                let v = self.sock_list();
                conn.reply(&frame.hdr, &Msg::SockListOk(v));
            }
            (Some(Role::Control), msg) => control::dispatch(stack, conn, &frame.hdr, msg),
            (Some(Role::Bpf), msg) => match capture.as_mut() {
                Some(cap) => *parked = bpf::dispatch(stack, conn, cap, &frame.hdr, msg).map(Parked::Bpf),
                None => conn.reply_err(frame.hdr.seq, libc::EINVAL, None),
            },
            (Some(_), _) => conn.reply_err(frame.hdr.seq, libc::EINVAL, None),
        }
    }

    /// The sockets (netstat, sockstat), each with the process that holds it: the
    /// credentials of its connection and the descriptor number its client reported.
    fn sock_list(&self) -> Vec<crate::msg::SockInfo> {
        let mut v = crate::inet::pcblist_ids(&self.stack.ctx());
        let t = lock(&self.conns);
        for (id, s) in v.iter_mut() {
            if let Some(slot) = id.and_then(|id| t.map.get(&id)) {
                let fd = slot.client_fd.load(Ordering::Relaxed);
                s.owner = Some(crate::msg::SockOwner {
                    pid: slot.pid,
                    uid: slot.uid,
                    fd: (fd >= 0).then_some(fd),
                });
            }
        }
        v.into_iter().map(|(_, s)| s).collect()
    }

    /// The connection ended: what it stood for goes.
    fn close(&self, slot: &Arc<Slot>, st: &mut ConnState) {
        if std::mem::replace(&mut st.closed, true) {
            return;
        }
        st.parked = None;
        let _ = epoll_ctl(self.shared.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, slot.fd, 0, 0);
        slot.out.close();
        {
            let mut t = lock(&self.conns);
            if t.map.remove(&slot.id).is_some() {
                if let Some(n) = t.by_uid.get_mut(&slot.uid) {
                    *n -= 1;
                    if *n == 0 {
                        t.by_uid.remove(&slot.uid);
                    }
                }
                if slot.uid != 0 {
                    t.users -= 1;
                }
            }
        }
        self.stack.ctx().rtsock.unsubscribe(st.conn.id);
        if let Some(k) = st.kind.take() {
            socket::close(&self.stack, st.conn.id, k);
        }
        if let Some(cap) = st.capture.take() {
            bpf::close(&self.stack, cap);
        }
    }

    /// The stack is stopping: parked requests end with EINTR, the workers end.
    fn stop(&self) {
        let slots: Vec<Arc<Slot>> = lock(&self.conns).map.values().cloned().collect();
        for s in slots {
            // A worker may be in the middle of this connection; it stops on its own.
            if let Ok(mut st) = s.st.try_lock() {
                if let Some(p) = st.parked.take() {
                    st.conn.reply_err(p.seq(), libc::EINTR, None);
                }
            }
        }
        lock(&self.pool).queue.clear();
        self.pool_cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_message_leaves_only_the_kept_part_of_a_buffer() {
        let mut buf = vec![0u8; MAX_MSG + 1];
        buf.fill(0xa5);
        // A small message changes nothing.
        shed(&mut buf, 1000);
        assert!(buf.iter().all(|&b| b == 0xa5));
        shed(&mut buf, MAX_MSG + 1);
        // What is kept is intact; what went back reads as zeroes; the edges, which are
        // not whole pages of the buffer, are left as they were.
        assert!(buf[..BUF_KEEP].iter().all(|&b| b == 0xa5));
        let zeroes = buf[BUF_KEEP..].iter().filter(|&&b| b == 0).count();
        assert!(zeroes >= MAX_MSG - BUF_KEEP - 2 * 4096, "{zeroes}");
        assert!(buf[BUF_KEEP..].iter().all(|&b| b == 0 || b == 0xa5));
        // And it is still a buffer to receive into.
        buf.fill(1);
        assert!(buf.iter().all(|&b| b == 1));
    }

    #[test]
    fn the_connection_limits_leave_root_room() {
        let (all, users) = limits::max_conns();
        assert!(all >= 16 && users < all, "{all} {users}");
    }
}
