//! Hostile channel clients, for the abuse test and the channel benchmark: a mix of
//! connections that pipeline requests and never read the replies, connect and never say a
//! word, send garbage, oversized or cut-short datagrams, park a request and pile more up
//! behind it, or subscribe to routing broadcasts and never read them. One thread drives
//! them all with sends that never wait, until stopped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pktbox_stack::msg::wire::{Received, SeqPacket};
use pktbox_stack::msg::{
    decode, encode, Header, HelloReq, IfListReq, ListenReq, Msg, Role, SocketReq, SubscribeReq, Wait, HDR_LEN, MAX_MSG,
    MSGF_REPLY, MSG_VERSION,
};

/// What a hostile client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Says hello, then sends `ifconfig`'s request over and over, never reading.
    Pipeline,
    /// Connects and never sends anything.
    HalfOpen,
    /// Sends datagrams of random bytes, never reading; connects again when closed.
    Garbage,
    /// Says hello, then sends datagrams larger than any message may be.
    Oversized,
    /// Says hello, then sends messages cut short: a header whose length is more than came,
    /// and single bytes.
    Partial,
    /// A TCP socket that listens and blocks in accept (a parked request), then piles
    /// requests up behind it.
    Parker,
    /// Subscribes to routing broadcasts and never reads them.
    LazySub,
    /// Connects, says hello, sends a burst of requests and hangs up without reading,
    /// over and over: work for the stack all the time.
    Churn,
}

/// The mix `n` hostile clients are made of, in proportions that load every path. Four in
/// five make replies they never read: with 300 clients that is more than the default
/// `threads_max` (200), so a stack whose workers waited for a client to read would have
/// none left for anyone else.
pub fn mix(n: usize) -> Vec<Kind> {
    const WEIGHTS: [(Kind, usize); 8] = [
        (Kind::Pipeline, 8),
        (Kind::Garbage, 3),
        (Kind::Oversized, 1),
        (Kind::Partial, 4),
        (Kind::HalfOpen, 2),
        (Kind::Parker, 1),
        (Kind::LazySub, 1),
        (Kind::Churn, 1),
    ];
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        for (k, w) in WEIGHTS {
            for _ in 0..w {
                if v.len() < n {
                    v.push(k);
                }
            }
        }
    }
    v.sort_by_key(|k| *k as u8);
    v
}

/// One hostile connection.
pub struct Client {
    pub kind: Kind,
    pub sock: SeqPacket,
    /// Requests the stack took into its socket (their replies are owed).
    pub sent: u32,
    pub connected: Instant,
    /// Whether a send of this client's found no room: the stack stopped reading it.
    pub saturated: bool,
}

impl Kind {
    /// Whether a client of this kind sends until the stack stops reading it.
    pub fn saturates(self) -> bool {
        !matches!(self, Kind::HalfOpen | Kind::LazySub | Kind::Churn)
    }
}

fn msg(m: &Msg, seq: u32) -> Vec<u8> {
    encode(m, seq, std::process::id(), 0, 0)
}

fn iflist() -> Msg {
    Msg::IfList(IfListReq { name: None })
}

/// Cheap pseudo-random bytes (xorshift).
fn noise(state: &mut u64, b: &mut [u8]) {
    for x in b {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *x = *state as u8;
    }
}

fn connect(path: &Path, kind: Kind) -> std::io::Result<Client> {
    let sock = SeqPacket::connect(path)?;
    if kind == Kind::Oversized {
        // Room to send a datagram over MAX_MSG at all.
        sock.set_buffers(MAX_MSG + 64 * 1024)?;
    }
    let hello = |role| Msg::Hello(HelloReq { role });
    let first: Vec<Msg> = match kind {
        Kind::Pipeline | Kind::Oversized | Kind::Partial => vec![hello(Role::Control)],
        Kind::HalfOpen | Kind::Garbage => vec![],
        Kind::LazySub => vec![hello(Role::Control), Msg::Subscribe(SubscribeReq { on: true })],
        Kind::Churn => std::iter::once(hello(Role::Control))
            .chain(std::iter::repeat_with(iflist).take(20))
            .collect(),
        Kind::Parker => vec![
            hello(Role::Socket),
            Msg::Socket(SocketReq {
                domain: libc::AF_INET,
                stype: libc::SOCK_STREAM,
                protocol: 0,
            }),
            Msg::SockListen(ListenReq { backlog: 1 }),
            Msg::SockAccept(Wait {
                nonblock: false,
                timeout_ms: None,
            }),
        ],
    };
    let mut c = Client {
        kind,
        sock,
        sent: 0,
        connected: Instant::now(),
        saturated: false,
    };
    for m in first {
        c.sent += 1;
        c.sock.send(&msg(&m, c.sent))?;
    }
    Ok(c)
}

/// What the hostile clients did.
#[derive(Debug, Default)]
pub struct Counts {
    pub datagrams: AtomicU64,
    pub reconnects: AtomicU64,
    /// Clients that found no room to send (see [`Client::saturated`]).
    pub saturated: AtomicU64,
}

/// The hostile clients, driven by a thread until `stop`.
pub struct Hostile {
    path: PathBuf,
    n: usize,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Client>>>,
    pub counts: Arc<Counts>,
}

impl Hostile {
    /// Connects `n` hostile clients (the mix of [`mix`]) to the stack at `socket`, and
    /// starts driving them.
    pub fn start(socket: &Path, n: usize) -> Hostile {
        let clients: Vec<Client> = mix(n)
            .into_iter()
            .map(|k| connect(socket, k).unwrap_or_else(|e| panic!("hostile {k:?} client: {e}")))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let (s, c, p) = (stop.clone(), counts.clone(), socket.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("hostile".into())
            .spawn(move || drive(&p, clients, &s, &c))
            .expect("hostile thread");
        Hostile {
            path: socket.to_path_buf(),
            n,
            stop,
            thread: Some(thread),
            counts,
        }
    }

    /// Stops sending; the clients stay connected, for checks.
    pub fn stop(mut self) -> Vec<Client> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .expect("the hostile thread panicked")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until every client that sends has found the stack no longer reading it (the
    /// abuse is at full strength), or `limit` passes; true if it got there.
    pub fn wait_saturated(&self, limit: Duration) -> bool {
        let n = mix(self.n).iter().filter(|k| k.saturates()).count() as u64;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.counts.saturated.load(Ordering::Relaxed) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One round of each client's abuse, with sends that never wait, until `stop`.
fn drive(path: &Path, mut clients: Vec<Client>, stop: &AtomicBool, counts: &Counts) -> Vec<Client> {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut big = vec![0u8; MAX_MSG + 4096];
    noise(&mut rng, &mut big);
    let mut h = [0u8; HDR_LEN];
    Header {
        len: (MAX_MSG + 4096) as u32,
        version: MSG_VERSION,
        mtype: 0x41,
        flags: 0,
        seq: 1,
        pid: 1,
        errno: 0,
    }
    .encode(&mut h);
    big[..HDR_LEN].copy_from_slice(&h);
    let mut g = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        for c in clients.iter_mut() {
            // Up to a few datagrams per client per round, so that all are kept busy.
            if c.kind == Kind::Churn {
                // Hang up with the replies unread, and come again.
                if let Ok(n) = connect(path, Kind::Churn) {
                    *c = n;
                    counts.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            for _ in 0..8 {
                let b: Vec<u8> = match c.kind {
                    Kind::HalfOpen | Kind::LazySub | Kind::Churn => break,
                    Kind::Pipeline | Kind::Parker => msg(&iflist(), c.sent + 1),
                    Kind::Garbage => {
                        noise(&mut rng, &mut g);
                        let n = 1 + (g[0] as usize) * 2;
                        g[..n].to_vec()
                    }
                    Kind::Oversized => big.clone(),
                    Kind::Partial => {
                        let full = msg(&iflist(), c.sent + 1);
                        if rng & 1 == 0 {
                            rng = rng.rotate_left(7) ^ 0x5bd1;
                            full[..HDR_LEN + 1].to_vec()
                        } else {
                            rng = rng.rotate_left(7) ^ 0x5bd1;
                            full[..1].to_vec()
                        }
                    }
                };
                match c.sock.send_nowait(&b) {
                    Ok(()) => {
                        if matches!(c.kind, Kind::Pipeline | Kind::Parker) {
                            c.sent += 1;
                        }
                        counts.datagrams.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if !std::mem::replace(&mut c.saturated, true) {
                            counts.saturated.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                    Err(_) => {
                        // Closed by the stack (a garbage client never says hello): another
                        // comes in its place.
                        if let Ok(n) = connect(path, c.kind) {
                            *c = n;
                            counts.reconnects.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    clients
}

/// Reads every reply a pipelining client is owed, checking that each came, whole and in
/// order; panics on a missing or misordered one. Returns how many there were.
pub fn drain_pipeline(c: &Client, patience: Duration) -> u32 {
    c.sock.set_read_timeout(Some(patience)).expect("read timeout");
    let mut buf = vec![0u8; MAX_MSG + 1];
    for want in 1..=c.sent {
        let n = match c.sock.recv(&mut buf) {
            Ok(Received::Msg(n)) => n,
            other => panic!("pipelining client: reply {want} of {}: {other:?}", c.sent),
        };
        let f = decode(&buf[..n]).unwrap_or_else(|e| panic!("reply {want}: {e}"));
        assert_eq!(f.hdr.seq, want, "replies in order: {:?}", f.hdr);
        assert_ne!(f.hdr.flags & MSGF_REPLY, 0, "{:?}", f.hdr);
        assert_eq!(f.hdr.errno, 0, "{f:?}");
        match (want, &f.msg) {
            (1, Msg::HelloOk(_)) => {}
            (w, Msg::IfListOk(v)) if w > 1 && !v.is_empty() => {}
            _ => panic!("reply {want}: {f:?}"),
        }
    }
    c.sent
}

/// Whether the stack has closed a client's connection (end of file within `patience`).
pub fn closed_by_stack(c: &Client, patience: Duration) -> bool {
    let _ = c.sock.set_read_timeout(Some(patience));
    let mut buf = vec![0u8; MAX_MSG + 1];
    loop {
        match c.sock.recv(&mut buf) {
            Ok(Received::Closed) => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

/// A process's resident set (VmRSS) in KiB.
pub fn vm_rss_kib(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// Samples a process's VmRSS every 50 ms until stopped; `stop` returns the highest seen.
pub struct RssPeak {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl RssPeak {
    pub fn start(pid: i32) -> RssPeak {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !s.load(Ordering::Relaxed) {
                peak = peak.max(vm_rss_kib(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak.max(vm_rss_kib(pid).unwrap_or(0))
        });
        RssPeak {
            stop,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

/// Latency percentile (`p` in 0..=100) of sorted samples.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len()) - 1;
    sorted[i]
}
