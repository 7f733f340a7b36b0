//! TCP (RFC 9293): control blocks, the tables that find them, and the user requests
//! (bind, listen, connect, send, receive, shutdown, close). `input` handles arriving
//! segments, `output` decides what to send, `timer` runs the retransmit, persist,
//! keepalive, delayed-ACK and 2MSL timers, `cc` is congestion control.
//!
//! What this build has: every state of the state diagram including simultaneous open and
//! close; RST and SYN handling with RFC 5961's challenge ACKs; MSS, window scaling and
//! timestamps (RFC 7323); RTO per RFC 6298 with Karn's rule; SACK (RFC 2018) with
//! loss recovery after RFC 6675, NewReno's (RFC 6582) when the peer has no SACK; CUBIC
//! (RFC 9438, the default) or NewReno window growth; Nagle and TCP_NODELAY; delayed ACKs;
//! keepalive; persist and zero-window probes; TIME_WAIT; RFC 6528 initial sequence
//! numbers; a bounded SYN queue with SYN cookies beyond it; listen backlog; half-close;
//! SO_LINGER; buffer auto-sizing.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use crate::inet::inpcb::{laddr_overlap, Af};
use std::time::{Duration, Instant};

use crate::conf::Ctx;
use crate::sys::random::SipKey;

pub mod cc;
pub mod input;
pub mod output;
pub mod segq;
pub mod seq;
pub mod sysctl;
pub mod timer;
pub mod usrreq;

pub use crate::msg::TcpStats;

/// The connection states (RFC 9293 3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl State {
    /// The name netstat prints.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN_SENT",
            State::SynReceived => "SYN_RCVD",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT_1",
            State::FinWait2 => "FIN_WAIT_2",
            State::CloseWait => "CLOSE_WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST_ACK",
            State::TimeWait => "TIME_WAIT",
        }
    }

    /// Whether a SYN has been exchanged both ways.
    pub fn synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// Whether we may still send data.
    pub fn can_send(self) -> bool {
        matches!(self, State::Established | State::CloseWait)
    }
}

/// NetBSD's timer values.
pub const TCPTV_MSL: Duration = Duration::from_secs(30);
pub const TCPTV_MIN: Duration = Duration::from_secs(1);
/// The RTO's default floor: 200 ms, as Linux has it, rather than RFC 6298's 1 s (a SHOULD
/// its own text calls conservative): with RTTs of microseconds on a TAP, a floor of a
/// second makes each timeout cost thousands of RTTs. `sysctl -w net.inet.tcp.rexmit_min=1000`
/// restores the RFC's value.
pub const TCPTV_REXMIT_MIN: Duration = Duration::from_millis(200);
pub const TCPTV_REXMTMAX: Duration = Duration::from_secs(64);
pub const TCPTV_SRTTDFLT: Duration = Duration::from_secs(1);
pub const TCPTV_PERSMIN: Duration = Duration::from_secs(5);
pub const TCPTV_PERSMAX: Duration = Duration::from_secs(60);
pub const TCPTV_KEEP_INIT: Duration = Duration::from_secs(75);
pub const TCPTV_KEEP_IDLE: Duration = Duration::from_secs(2 * 60 * 60);
pub const TCPTV_KEEPINTVL: Duration = Duration::from_secs(75);
pub const TCP_KEEPCNT: u32 = 8;
pub const TCPTV_DELACK: Duration = Duration::from_millis(100);
pub const TCP_MAXRXTSHIFT: u32 = 12;
/// Default MSS when the peer sends none (RFC 9293 3.7.1).
pub const TCP_DEFAULT_MSS: u32 = 536;
/// Runs of out-of-order data a connection may hold (net.inet.tcp.reass_maxqueuelen). Data
/// that continues a run costs none, so this bounds the holes a peer can open in the
/// window, and with them the queue's overhead, not how much data waits.
pub const REASS_MAXQUEUELEN: usize = 1024;
/// Largest window-scale shift (RFC 7323).
pub const TCP_MAX_WINSHIFT: u8 = 14;
/// Receive buffers may grow to this with window scaling.
pub const TCP_RCVBUF_MAX: usize = 4 << 20;

/// The four-tuple that names a connection: local address and port, foreign address and
/// port, both addresses of one family (an IPv4 peer of an AF_INET6 socket is IPv4 here).
pub type Key = (IpAddr, u16, IpAddr, u16);

/// A TCP control block.
pub struct Tcb {
    pub id: u64,
    pub state: State,
    /// The socket's domain: AF_INET6 sockets see IPv4 endpoints v4-mapped.
    pub af: Af,
    pub laddr: IpAddr,
    pub lport: u16,
    pub faddr: IpAddr,
    pub fport: u16,
    // Send sequence space.
    pub iss: u32,
    pub snd_una: u32,
    pub snd_nxt: u32,
    pub snd_max: u32,
    pub snd_wnd: u32,
    pub max_sndwnd: u32,
    pub snd_wl1: u32,
    pub snd_wl2: u32,
    /// Bytes from snd_una on: sent but unacknowledged, then unsent.
    pub snd_buf: VecDeque<u8>,
    pub snd_buf_max: usize,
    /// The user has no more to send: a FIN follows the buffer.
    pub fin_queued: bool,
    /// The sequence number our FIN took, once sent.
    pub fin_seq: Option<u32>,
    // Receive sequence space.
    pub irs: u32,
    pub rcv_nxt: u32,
    /// Right edge of the window last advertised.
    pub rcv_adv: u32,
    pub rcv_buf: VecDeque<u8>,
    pub rcv_buf_max: usize,
    /// Data that arrived ahead of rcv_nxt.
    pub ooo: segq::SegQueue,
    /// The peer's FIN has been received (in sequence).
    pub fin_rcvd: bool,
    // Options.
    pub t_maxseg: u32,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub ts_on: bool,
    pub ts_recent: u32,
    pub ts_recent_age: Instant,
    /// Options asked for in our SYN.
    pub req_wscale: bool,
    pub req_ts: bool,
    pub req_sack: bool,
    /// SACK is in use on this connection (RFC 2018).
    pub sack_on: bool,
    /// The sender's scoreboard: ranges above snd_una the peer has SACKed, sorted.
    pub sacked: Vec<(u32, u32)>,
    /// In SACK recovery: holes below this have been retransmitted (RFC 6675's HighRxt).
    pub rexmit_next: u32,
    /// This recovery's retransmissions, in the order they were sent, each with snd_max at
    /// the time (what was sent after it lies above).
    pub rexmits: std::collections::VecDeque<(u32, u32, u32)>,
    /// Retransmissions found lost in their turn, to be sent again first.
    pub relost: std::collections::VecDeque<(u32, u32)>,
    /// Where the most recent out-of-order segment started (its block goes first).
    pub last_ooo: Option<u32>,
    // Timers: deadlines. Whoever changes one also makes sure the connection is touched
    // (TcpState::touch) so the callout wheel learns of an earlier deadline.
    /// The wheel tick the connection is filed for, if it is.
    pub sched_at: Option<u64>,
    pub t_rexmt: Option<Instant>,
    pub t_persist: Option<Instant>,
    pub t_keep: Option<Instant>,
    pub t_delack: Option<Instant>,
    pub t_2msl: Option<Instant>,
    /// Tail loss probe (RFC 8985 7): when to probe, and the range a probe sent is waiting
    /// to hear about.
    pub t_tlp: Option<Instant>,
    /// The RTO's floor (net.inet.tcp.rexmit_min).
    pub rexmit_min: Duration,
    pub tlp_probe: Option<(u32, u32)>,
    pub rxtshift: u32,
    pub t_rxtcur: Duration,
    /// Smoothed RTT and variance in microseconds; 0 when no sample yet.
    pub srtt_us: u64,
    pub rttvar_us: u64,
    /// Karn: the segment being timed and when it was sent.
    pub rtseq: Option<(u32, Instant)>,
    pub idle_since: Instant,
    // Congestion control.
    pub cc: cc::Cc,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub dupacks: u32,
    /// In fast recovery until this is acknowledged (RFC 6582 "recover").
    pub recover: Option<u32>,
    // Flags.
    pub nodelay: bool,
    pub keepalive: bool,
    pub linger: Option<Duration>,
    pub ack_now: bool,
    /// Receive auto-sizing: bytes received since `rcv_auto_start`.
    pub rcv_auto_bytes: usize,
    pub rcv_auto_start: Instant,
    /// The buffers may grow (net.inet.tcp.recvbuf_auto / sendbuf_auto, and no SO_RCVBUF
    /// or SO_SNDBUF set by the user).
    pub rcv_auto: bool,
    pub snd_auto: bool,
    /// Segments received since the last ACK (delayed ACK every second segment).
    pub unacked_segs: u32,
    /// The socket was closed by its user: nobody reads or writes any more.
    pub orphan: bool,
    /// An error for the user (ECONNREFUSED, ECONNRESET, ETIMEDOUT).
    pub so_error: Option<i32>,
    /// The last ICMP error about this connection (NetBSD's `t_softerror`): reported
    /// instead of ETIMEDOUT if the connection times out; forgotten once an ACK comes.
    pub t_softerror: Option<i32>,
    /// The listener whose accept queue this connection is for.
    pub listener: Option<u64>,
    /// A request of the socket's user is parked until this connection changes.
    pub waiting: bool,
    pub ttl: u8,
    pub tos: u8,
}

/// A listening socket.
pub struct Listener {
    pub id: u64,
    /// The local address (`opts.af` says the family and V6ONLY).
    pub laddr: IpAddr,
    pub lport: u16,
    pub backlog: usize,
    /// Established connections waiting for accept(), by TCB id.
    pub queue: VecDeque<u64>,
    /// Connections still in SYN_RECEIVED.
    pub incomplete: usize,
    /// An accept is parked until a connection is queued.
    pub waiting: bool,
    /// SO_REUSEPORT: other sockets that set it too may bind the same address and port.
    pub reuseport: bool,
    /// Settings the accepted connections inherit.
    pub opts: usrreq::SockOpts,
}

impl Listener {
    /// Whether a new connection may join the queues: NetBSD's sonewconn() refuses one when
    /// `so_qlen + so_q0len > 3 * so_qlimit / 2`, so a listener with backlog N holds up to
    /// 3N/2 + 1 connections across its SYN and accept queues (N = 1: 2; N = 5: 8).
    pub fn has_room(&self) -> bool {
        self.queue.len() + self.incomplete <= 3 * self.backlog / 2
    }

    /// The most connections the two queues hold together.
    pub fn qlimit(&self) -> usize {
        3 * self.backlog / 2 + 1
    }
}

/// A socket that is bound (or not) but neither listening nor connected yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bound {
    pub laddr: Option<IpAddr>,
    pub lport: u16,
    pub reuseaddr: bool,
    pub reuseport: bool,
    /// Settings the connection takes when it is made.
    pub opts: usrreq::SockOpts,
}

/// All of TCP's state in the stack context.
pub struct TcpState {
    /// Wakes the callout thread when a deadline comes before its planned wake-up.
    pub callout: std::sync::Arc<crate::sys::callout::Kick>,
    pub tcbs: HashMap<u64, Tcb>,
    pub by_key: HashMap<Key, u64>,
    pub listeners: HashMap<u64, Listener>,
    /// Sockets before listen/connect, by socket id.
    pub bound: HashMap<u64, Bound>,
    pub next_id: u64,
    pub stat: TcpStats,
    /// RFC 6528's secret key (F is SipHash-2-4 under it).
    pub isn_secret: SipKey,
    /// The SYN-cookie key, apart from the ISN's.
    pub cookie_secret: SipKey,
    /// net.inet.tcp.iss_fixed: when set, every new connection's initial send sequence
    /// number, instead of RFC 6528's (a test knob: ISNs just below 2^32 exercise the wrap).
    pub iss_fixed: Option<u32>,
    pub isn_epoch: Instant,
    /// net.inet.tcp.sendspace / recvspace.
    pub sendspace: usize,
    pub recvspace: usize,
    /// net.inet.tcp.mssdflt.
    pub mssdflt: u32,
    /// net.inet.tcp.rexmit_min: the RTO's floor.
    pub rexmit_min: Duration,
    /// net.inet.tcp.somaxconn.
    pub somaxconn: usize,
    /// net.inet.tcp.reass_maxqueuelen: runs of out-of-order data one connection may hold.
    pub reass_maxqueuelen: usize,
    /// net.inet.tcp.keepidle, keepintvl, keepcnt: idle time before the first keepalive
    /// probe, time between probes, probes unanswered before the connection is dropped.
    pub keepidle: Duration,
    pub keepintvl: Duration,
    pub keepcnt: u32,
    /// net.inet.tcp.congctl.selected.
    pub congctl: cc::Algo,
    /// net.inet.tcp.keepinit: how long a connection may take to be established.
    pub keepinit: Duration,
    /// net.inet.tcp.msl: the maximum segment lifetime (TIME_WAIT lasts twice this).
    pub msl: Duration,
    /// net.inet.tcp.rfc1323, win_scale, timestamps: RFC 7323's options on new connections
    /// (win_scale and timestamps each need rfc1323 too, as in NetBSD).
    pub rfc1323: bool,
    pub win_scale: bool,
    pub timestamps: bool,
    /// net.inet.tcp.sack.enable: RFC 2018's SACK on new connections.
    pub sack: bool,
    /// Handshakes answered with a SYN cookie whose good ACK found the accept queue full,
    /// and when: the peer's later segments cannot be checked against the cookie (it covers
    /// only the first), so they are dropped, not reset, until its first segment comes
    /// again and finds room (as Linux keeps such a request instead of resetting it).
    pub cookie_deferred: HashMap<Key, Instant>,
    /// Challenge ACKs sent in the current second (RFC 5961 rate limit).
    pub challenge: crate::inet::icmp::PpsLimit,
    /// Sockets whose parked request may go on now; the channel server takes them when
    /// the stack context is let go.
    pub woken: Vec<u64>,
    /// The callout wheel of TCP's timers (10 ms ticks).
    pub wheel: crate::sys::callout::Wheel,
    /// Connections whose timers may have changed under the stack context held now; filed
    /// in the wheel before it is let go.
    pub touched: Vec<u64>,
}

impl Default for TcpState {
    fn default() -> Self {
        TcpState {
            callout: Default::default(),
            tcbs: HashMap::new(),
            by_key: HashMap::new(),
            listeners: HashMap::new(),
            bound: HashMap::new(),
            next_id: 1,
            stat: TcpStats::default(),
            isn_secret: SipKey::new(),
            cookie_secret: SipKey::new(),
            iss_fixed: None,
            isn_epoch: Instant::now(),
            sendspace: 65536,
            recvspace: 65536,
            mssdflt: TCP_DEFAULT_MSS,
            rexmit_min: TCPTV_REXMIT_MIN,
            somaxconn: 128,
            reass_maxqueuelen: REASS_MAXQUEUELEN,
            keepidle: TCPTV_KEEP_IDLE,
            keepintvl: TCPTV_KEEPINTVL,
            keepcnt: TCP_KEEPCNT,
            congctl: cc::Algo::Cubic,
            keepinit: TCPTV_KEEP_INIT,
            msl: TCPTV_MSL,
            rfc1323: true,
            win_scale: true,
            timestamps: true,
            sack: true,
            cookie_deferred: HashMap::new(),
            challenge: crate::inet::icmp::PpsLimit::new(100),
            woken: Vec::new(),
            wheel: crate::sys::callout::Wheel::new(crate::sys::callout::TICK),
            touched: Vec::new(),
        }
    }
}

/// The 4-tuple as SipHash input words (IPv4 addresses as their v4-mapped form).
fn key_words(k: &Key) -> [u64; 5] {
    let bits = |a: IpAddr| match a {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    };
    let (l, f) = (bits(k.0), bits(k.2));
    [
        (l >> 64) as u64,
        l as u64,
        (f >> 64) as u64,
        f as u64,
        (u64::from(k.1) << 16) | u64::from(k.3),
    ]
}

/// Handshakes remembered in `cookie_deferred` at most, and for how long.
const COOKIE_DEFERRED_MAX: usize = 1024;
const COOKIE_DEFERRED_FOR: Duration = Duration::from_secs(60);

impl TcpState {
    /// Remembers a handshake whose good cookie ACK found no room (see `cookie_deferred`).
    pub fn defer_cookie(&mut self, key: Key) {
        let now = Instant::now();
        if self.cookie_deferred.len() >= COOKIE_DEFERRED_MAX {
            self.cookie_deferred
                .retain(|_, t| now.duration_since(*t) < COOKIE_DEFERRED_FOR);
        }
        if self.cookie_deferred.len() < COOKIE_DEFERRED_MAX {
            self.cookie_deferred.insert(key, now);
        }
    }

    /// Whether a segment of this flow belongs to a deferred cookie handshake.
    pub fn cookie_is_deferred(&self, key: &Key) -> bool {
        self.cookie_deferred
            .get(key)
            .is_some_and(|t| t.elapsed() < COOKIE_DEFERRED_FOR)
    }

    /// Whether new connections offer (or accept) window scaling, timestamps and SACK.
    pub fn do_win_scale(&self) -> bool {
        self.rfc1323 && self.win_scale
    }
    pub fn do_timestamps(&self) -> bool {
        self.rfc1323 && self.timestamps
    }

    /// Adds a connection (and files it in the callout wheel when the context is let go).
    pub fn insert_tcb(&mut self, id: u64, t: Tcb) {
        self.tcbs.insert(id, t);
        self.touch(id);
    }

    /// Notes that a connection's timers may have changed: before the stack context is let
    /// go, it is filed in the callout wheel for its earliest deadline.
    pub fn touch(&mut self, id: u64) {
        self.touched.push(id);
    }
    /// The keyed hash of a SYN cookie: the 4-tuple, the peer's ISN and the time counter
    /// under the cookie key.
    pub fn cookie_hash(&self, k: &Key, irs: u32, tick: u32) -> u32 {
        let [a, b, c, d, e] = key_words(k);
        self.cookie_secret
            .hash(&[a, b, c, d, e, (u64::from(irs) << 32) | u64::from(tick)]) as u32
    }

    /// RFC 6528: ISN = M + F(4-tuple, secret), M a 4-microsecond clock.
    pub fn new_isn(&self, k: &Key) -> u32 {
        if let Some(iss) = self.iss_fixed {
            return iss;
        }
        let m = (self.isn_epoch.elapsed().as_micros() / 4) as u32;
        m.wrapping_add(self.isn_secret.hash(&key_words(k)) as u32)
    }

    /// An id for a connection the stack made (an accepted one); bit 62 keeps these apart
    /// from the ids of channel connections.
    pub fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        (1 << 62) | self.next_id
    }

    /// The connection a segment belongs to.
    pub fn lookup(&self, k: &Key) -> Option<u64> {
        self.by_key.get(k).copied()
    }

    /// The listener for a local address and port: the exact address first, then the
    /// wildcard of the address's family, then a dual AF_INET6 socket's `::` for IPv4.
    pub fn lookup_listener(&self, laddr: IpAddr, lport: u16) -> Option<u64> {
        let mut best: Option<(u8, u64)> = None;
        for l in self.listeners.values() {
            if l.lport == lport && l.opts.af.laddr_match(l.laddr, laddr) {
                let rank = l.opts.af.specificity(l.laddr, laddr);
                if rank == 2 {
                    return Some(l.id);
                }
                if best.is_none_or(|(r, _)| rank > r) {
                    best = Some((rank, l.id));
                }
            }
        }
        best.map(|(_, id)| id)
    }

    /// Whether a local port is in use by anything.
    /// With `reuseport` (SO_REUSEPORT), a listener or bound socket that set it too is no
    /// clash, as in NetBSD.
    /// `laddr` of a socket of family `af` (its unspecified address: the wildcard).
    pub fn port_in_use(&self, laddr: IpAddr, af: Af, lport: u16, except: u64, reuse: bool, reuseport: bool) -> bool {
        let clash = |a: IpAddr, a_af: Af| laddr_overlap(a, a_af, laddr, af);
        self.listeners
            .values()
            .any(|l| l.id != except && l.lport == lport && clash(l.laddr, l.opts.af) && !(reuseport && l.reuseport))
            || self.bound.iter().any(|(id, b)| {
                *id != except
                    && b.lport == lport
                    && clash(b.laddr.unwrap_or(b.opts.af.any()), b.opts.af)
                    && !(reuseport && b.reuseport)
            })
            || (!reuse
                && self
                    .tcbs
                    .values()
                    .any(|t| t.id != except && t.lport == lport && clash(t.laddr, t.af)))
    }
}

impl Tcb {
    pub fn key(&self) -> Key {
        (self.laddr, self.lport, self.faddr, self.fport)
    }

    /// Bytes sent but not acknowledged.
    pub fn in_flight(&self) -> u32 {
        self.snd_nxt.wrapping_sub(self.snd_una)
    }

    /// Room in the receive buffer, which is the window we can offer.
    pub fn rcv_space(&self) -> usize {
        self.rcv_buf_max.saturating_sub(self.rcv_buf.len() + self.ooo.bytes())
    }

    /// Whether our FIN has been sent and acknowledged.
    pub fn fin_acked(&self) -> bool {
        self.fin_seq.is_some_and(|f| seq::gt(self.snd_una, f))
    }

    /// Bytes the peer has SACKed above snd_una.
    pub fn sacked_bytes(&self) -> u32 {
        self.sacked.iter().map(|(a, b)| b.wrapping_sub(*a)).sum()
    }

    /// RFC 6675's pipe: bytes in flight, less those SACKed and those in holes not yet
    /// retransmitted (taken as lost).
    pub fn pipe(&self) -> u32 {
        let flight = self.snd_max.wrapping_sub(self.snd_una);
        let Some(&(_, high)) = self.sacked.last() else {
            return flight;
        };
        let mut lost = 0u32;
        let mut at = if seq::gt(self.rexmit_next, self.snd_una) {
            self.rexmit_next
        } else {
            self.snd_una
        };
        for &(a, b) in &self.sacked {
            if seq::gt(a, at) {
                lost = lost.wrapping_add(a.wrapping_sub(at));
            }
            if seq::gt(b, at) {
                at = b;
            }
        }
        let _ = high;
        // Retransmissions known lost again are not in the network either.
        let relost: u32 = self.relost.iter().map(|(a, b)| b.wrapping_sub(*a)).sum();
        flight
            .saturating_sub(self.sacked_bytes())
            .saturating_sub(lost)
            .saturating_sub(relost)
    }

    /// Whether the peer has all of `a..b`: cumulatively acknowledged or SACKed.
    pub fn covered(&self, a: u32, b: u32) -> bool {
        seq::leq(b, self.snd_una) || self.sacked.iter().any(|&(l, r)| seq::leq(l, a) && seq::leq(b, r))
    }

    /// Lost retransmissions (the loss RFC 6675 leaves to the retransmit timer): once the
    /// peer has something sent after a retransmission (a later retransmission, or new data
    /// sent in recovery) and still lacks the retransmission, it was lost in its turn, as a
    /// path that does not reorder much delivers in sending order (RACK's rule, RFC 8985,
    /// by sending order rather than time). Those go to `relost`, to be sent again first.
    pub fn detect_lost_rexmits(&mut self) {
        let last = self.rexmits.iter().rposition(|&(a, b, _)| self.covered(a, b));
        let high = self.sacked.last().map(|&(_, r)| r);
        let mut keep = std::collections::VecDeque::new();
        let entries: Vec<(u32, u32, u32)> = self.rexmits.drain(..).collect();
        for (i, (a, b, hi)) in entries.into_iter().enumerate() {
            if self.covered(a, b) {
                continue;
            }
            let later_arrived = last.is_some_and(|l| i < l) || high.is_some_and(|h| seq::gt(h, hi));
            if later_arrived {
                self.relost.push_back((seq::max(a, self.snd_una), b));
            } else {
                keep.push_back((a, b, hi));
            }
        }
        self.rexmits = keep;
    }

    /// Forgets the retransmission records of a recovery that is over.
    pub fn end_recovery_log(&mut self) {
        self.rexmits.clear();
        self.relost.clear();
    }

    /// Takes SACK blocks into the scoreboard (only what lies in snd_una..snd_max).
    pub fn sack_update(&mut self, blocks: &[(u32, u32)]) {
        for &(l, r) in blocks {
            if !seq::lt(l, r) || !seq::gt(r, self.snd_una) || seq::gt(r, self.snd_max) {
                continue;
            }
            let l = seq::max(l, self.snd_una);
            self.sacked.push((l, r));
        }
        self.sack_trim();
    }

    /// Drops what snd_una has passed and merges overlapping ranges.
    pub fn sack_trim(&mut self) {
        let una = self.snd_una;
        let mut v: Vec<(u32, u32)> = self
            .sacked
            .iter()
            .filter(|(_, r)| seq::gt(*r, una))
            .map(|&(l, r)| (seq::max(l, una), r))
            .collect();
        v.sort_by(|a, b| {
            if seq::lt(a.0, b.0) {
                std::cmp::Ordering::Less
            } else if a.0 == b.0 {
                std::cmp::Ordering::Equal
            } else {
                std::cmp::Ordering::Greater
            }
        });
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (l, r) in v {
            match out.last_mut() {
                Some(last) if seq::leq(l, last.1) => {
                    if seq::gt(r, last.1) {
                        last.1 = r;
                    }
                }
                _ => out.push((l, r)),
            }
        }
        // A scoreboard is bounded: the peer cannot make it grow without limit.
        out.truncate(64);
        self.sacked = out;
    }

    /// The next hole to retransmit in SACK recovery: start and length.
    pub fn next_hole(&self) -> Option<(u32, u32)> {
        let mut at = if seq::gt(self.rexmit_next, self.snd_una) {
            self.rexmit_next
        } else {
            self.snd_una
        };
        for &(a, b) in &self.sacked {
            if seq::gt(a, at) {
                return Some((at, a.wrapping_sub(at).min(self.t_maxseg)));
            }
            if seq::gt(b, at) {
                at = b;
            }
        }
        None
    }

    /// Room in the send buffer.
    pub fn snd_space(&self) -> usize {
        self.snd_buf_max.saturating_sub(self.snd_buf.len())
    }

    /// The peer as the socket's client sees it (v4-mapped on an AF_INET6 socket).
    pub fn peer(&self) -> SocketAddr {
        self.af.view(SocketAddr::new(self.faddr, self.fport))
    }

    /// The local address as the socket's client sees it.
    pub fn local(&self) -> SocketAddr {
        self.af.view(SocketAddr::new(self.laddr, self.lport))
    }

    /// The retransmit timeout from the RTT estimates (RFC 6298 2.2-2.3), backed off.
    pub fn rto(&self) -> Duration {
        let base = if self.srtt_us == 0 {
            TCPTV_SRTTDFLT
        } else {
            Duration::from_micros(self.srtt_us + (4 * self.rttvar_us).max(10_000))
        };
        let backed = base.saturating_mul(1u32 << self.rxtshift.min(TCP_MAXRXTSHIFT));
        backed.clamp(self.rexmit_min, TCPTV_REXMTMAX)
    }

    /// The probe timeout (RFC 8985 7.2): two smoothed RTTs (at least 10 ms), plus a delayed
    /// ACK's worst case when one segment is in flight, never beyond the RTO.
    pub fn pto(&self) -> Duration {
        let mut pto = Duration::from_micros(2 * self.srtt_us).max(Duration::from_millis(10));
        if self.snd_max.wrapping_sub(self.snd_una) <= self.t_maxseg {
            pto += Duration::from_millis(200);
        }
        pto.min(self.rto())
    }

    /// Arms the tail loss probe while data is outstanding outside recovery (SACK only: the
    /// probe's answer is read from the scoreboard).
    pub fn arm_tlp(&mut self, now: Instant) {
        self.t_tlp = (self.sack_on
            && self.recover.is_none()
            && self.tlp_probe.is_none()
            && self.srtt_us != 0
            && self.snd_una != self.snd_max)
            .then(|| now + self.pto());
    }

    /// Takes an RTT sample (RFC 6298 2.2-2.3).
    pub fn rtt_update(&mut self, rtt: Duration) {
        let r = rtt.as_micros().max(1) as u64;
        if self.srtt_us == 0 {
            self.srtt_us = r;
            self.rttvar_us = r / 2;
        } else {
            let delta = self.srtt_us.abs_diff(r);
            self.rttvar_us = (3 * self.rttvar_us + delta) / 4;
            self.srtt_us = (7 * self.srtt_us + r) / 8;
        }
        self.rxtshift = 0;
        self.t_rxtcur = self.rto();
    }

    /// A new control block in `state` for the given four-tuple.
    pub fn new(id: u64, k: Key, state: State, iss: u32, sendspace: usize, recvspace: usize, mss: u32) -> Tcb {
        let now = Instant::now();
        Tcb {
            id,
            state,
            af: Af::INET,
            laddr: k.0,
            lport: k.1,
            faddr: k.2,
            fport: k.3,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_sndwnd: 0,
            snd_wl1: 0,
            snd_wl2: 0,
            snd_buf: VecDeque::new(),
            snd_buf_max: sendspace,
            fin_queued: false,
            fin_seq: None,
            irs: 0,
            rcv_nxt: 0,
            rcv_adv: 0,
            rcv_buf: VecDeque::new(),
            rcv_buf_max: recvspace,
            ooo: Default::default(),
            fin_rcvd: false,
            t_maxseg: mss,
            snd_wscale: 0,
            rcv_wscale: 0,
            ts_on: false,
            ts_recent: 0,
            ts_recent_age: now,
            req_wscale: true,
            req_ts: true,
            req_sack: true,
            sack_on: false,
            sacked: Vec::new(),
            rexmit_next: iss,
            rexmits: std::collections::VecDeque::new(),
            relost: std::collections::VecDeque::new(),
            last_ooo: None,
            sched_at: None,
            t_rexmt: None,
            t_persist: None,
            t_keep: None,
            t_delack: None,
            t_2msl: None,
            t_tlp: None,
            rexmit_min: TCPTV_MIN,
            tlp_probe: None,
            rxtshift: 0,
            t_rxtcur: TCPTV_SRTTDFLT,
            srtt_us: 0,
            rttvar_us: 0,
            rtseq: None,
            idle_since: now,
            cc: cc::Cc::new(cc::Algo::Cubic),
            cwnd: 10 * mss,
            ssthresh: u32::MAX,
            dupacks: 0,
            recover: None,
            nodelay: false,
            keepalive: false,
            linger: None,
            ack_now: false,
            rcv_auto_bytes: 0,
            rcv_auto_start: now,
            rcv_auto: true,
            snd_auto: true,
            unacked_segs: 0,
            orphan: false,
            so_error: None,
            t_softerror: None,
            listener: None,
            waiting: false,
            ttl: 64,
            tos: 0,
        }
    }

    /// The window shift we ask for, enough for the largest buffer we may grow to.
    pub fn wanted_wscale(&self) -> u8 {
        let mut s = 0u8;
        while s < TCP_MAX_WINSHIFT && (TCP_RCVBUF_MAX >> s) > 65535 {
            s += 1;
        }
        s
    }
}

/// Growth step and ceiling of automatically sized buffers (NetBSD's recvbuf_inc /
/// recvbuf_max and sendbuf_inc / sendbuf_max, with larger ceilings for fast links).
pub const TCP_AUTO_INC: usize = 64 << 10;
pub const TCP_AUTO_MAX: usize = TCP_RCVBUF_MAX;

/// Receive buffer auto-sizing (after NetBSD's tcp_input): when the peer has filled most
/// of the buffer within one round trip, the window limits the transfer, so grow it.
pub fn autosize_rcv(t: &mut Tcb, n: usize, now: Instant) {
    if !t.rcv_auto || t.rcv_wscale == 0 {
        return;
    }
    t.rcv_auto_bytes += n;
    let rtt = Duration::from_micros(t.srtt_us.max(1000));
    if now.duration_since(t.rcv_auto_start) < rtt {
        if t.rcv_auto_bytes * 8 >= t.rcv_buf_max * 7 && t.rcv_buf_max < TCP_AUTO_MAX {
            t.rcv_buf_max = (t.rcv_buf_max + TCP_AUTO_INC.max(t.rcv_buf_max / 2)).min(TCP_AUTO_MAX);
            t.rcv_auto_bytes = 0;
            t.rcv_auto_start = now;
        }
    } else {
        t.rcv_auto_bytes = 0;
        t.rcv_auto_start = now;
    }
}

/// Send buffer auto-sizing: when an ACK comes for a full buffer and the windows would let
/// more be in flight than the buffer holds, grow it.
pub fn autosize_snd(t: &mut Tcb) {
    if !t.snd_auto || t.snd_buf_max >= TCP_AUTO_MAX {
        return;
    }
    let full = t.snd_buf.len() * 8 >= t.snd_buf_max * 7;
    let room = t.cwnd.min(t.snd_wnd) as usize;
    if full && room * 8 >= t.snd_buf_max * 7 {
        t.snd_buf_max = (t.snd_buf_max + TCP_AUTO_INC.max(t.snd_buf_max / 2)).min(TCP_AUTO_MAX);
    }
}

/// Wakes the user waiting on a connection or listener, if one is: the socket's id is
/// queued for the channel server, which retries its parked request.
pub fn wake(tcp: &mut TcpState, id: u64) {
    let t = tcp.tcbs.get_mut(&id).is_some_and(|t| std::mem::take(&mut t.waiting));
    let l = tcp
        .listeners
        .get_mut(&id)
        .is_some_and(|l| std::mem::take(&mut l.waiting));
    if t || l {
        tcp.woken.push(id);
    }
}

/// Removes a control block for good (CLOSED), waking its user.
pub fn tcp_close(ctx: &mut Ctx, id: u64) {
    let st = &mut ctx.inet.tcp;
    if let Some(t) = st.tcbs.remove(&id) {
        st.by_key.remove(&t.key());
        st.stat.closed += 1;
        if let Some(l) = t.listener.and_then(|l| st.listeners.get_mut(&l)) {
            l.queue.retain(|q| *q != id);
            if t.state == State::SynReceived {
                l.incomplete = l.incomplete.saturating_sub(1);
            }
        }
        if t.waiting {
            st.woken.push(id);
        }
    }
}

/// Drops a connection with an error for its user (and a RST to the peer when `rst`).
pub fn tcp_drop(ctx: &mut Ctx, id: u64, err: i32, rst: bool) {
    if rst {
        if let Some(t) = ctx.inet.tcp.tcbs.get(&id) {
            if t.state.synchronized() || t.state == State::SynReceived {
                let (k, seq, ack) = (t.key(), t.snd_nxt, t.rcv_nxt);
                output::send_rst(ctx, k, seq, ack, false);
            }
        }
    }
    ctx.inet.tcp.stat.drops += 1;
    if let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) {
        t.so_error = Some(err);
        t.state = State::Closed;
        if std::mem::take(&mut t.waiting) {
            ctx.inet.tcp.woken.push(id);
        }
        if !t.orphan {
            // Keep the block so the user can read the error; it goes when the socket does.
            ctx.inet.tcp.by_key.remove(&(t.laddr, t.lport, t.faddr, t.fport));
            t.t_rexmt = None;
            t.t_persist = None;
            t.t_keep = None;
            t.t_delack = None;
            t.t_2msl = None;
            return;
        }
    }
    tcp_close(ctx, id);
}
#[cfg(test)]
mod tests;
