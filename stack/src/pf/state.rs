//! The state table (pf 4.2's: states keyed both ways, lan-ext and ext-gwy) and what a
//! state knows about its connection: for TCP each peer's sequence window (Guido van
//! Rooij's "Real Stateful TCP Packet Filtering", as pf_test_state_tcp applies it: seqlo,
//! seqhi and max_win per side, window scaling, modulation), for UDP and others how many
//! sides have spoken, and for ICMP queries their id.
//!
//! Keys: an outbound packet is looked up by (lan, ext), an inbound one by (ext, gwy).
//! Without translation lan and gwy are the same host. A state made by an outbound packet
//! has its creator on the lan side, one made by an inbound packet on the ext side.
//!
//! Storage: states live in a slab (ids are slots), with one hash map per key order. The
//! maps use the standard library's keyed SipHash, so a flood of chosen addresses cannot
//! make them degenerate. Expiry walks a part of the slab on each tick of a registered
//! timer, as pf's purge thread does, so every state is looked at once per `interval`.

use std::collections::HashMap;

use super::pkt::{Addr, Af, Pd, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use crate::net::pfil::Dir;
use crate::wire::tcp::{TH_ACK, TH_FIN, TH_RST, TH_SYN};

/// TCP states of one peer (the values pfctl shows: CLOSED .. TIME_WAIT).
pub mod tcps {
    pub const CLOSED: u8 = 0;
    pub const LISTEN: u8 = 1;
    pub const SYN_SENT: u8 = 2;
    pub const SYN_RECEIVED: u8 = 3;
    pub const ESTABLISHED: u8 = 4;
    pub const CLOSE_WAIT: u8 = 5;
    pub const FIN_WAIT_1: u8 = 6;
    pub const CLOSING: u8 = 7;
    pub const LAST_ACK: u8 = 8;
    pub const FIN_WAIT_2: u8 = 9;
    pub const TIME_WAIT: u8 = 10;
}

/// UDP and other protocols: which sides have sent (`NO_TRAFFIC`, `SINGLE`, `MULTIPLE`).
pub mod udps {
    pub const NO_TRAFFIC: u8 = 0;
    pub const SINGLE: u8 = 1;
    pub const MULTIPLE: u8 = 2;
}

/// pf's timeouts, in the order of its `PFTM_*` (and of `pfctl -s timeouts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Tm {
    TcpFirst,
    TcpOpening,
    TcpEstablished,
    TcpClosing,
    TcpFinWait,
    TcpClosed,
    UdpFirst,
    UdpSingle,
    UdpMultiple,
    IcmpFirst,
    IcmpError,
    OtherFirst,
    OtherSingle,
    OtherMultiple,
    Frag,
    Interval,
    AdaptiveStart,
    AdaptiveEnd,
    SrcNode,
    TsDiff,
    /// Marked for removal at the next purge.
    Purge,
}

pub const TM_COUNT: usize = Tm::Purge as usize + 1;

/// The timeouts' names as pf.conf and pfctl spell them.
pub const TM_NAMES: [&str; TM_COUNT - 1] = [
    "tcp.first",
    "tcp.opening",
    "tcp.established",
    "tcp.closing",
    "tcp.finwait",
    "tcp.closed",
    "udp.first",
    "udp.single",
    "udp.multiple",
    "icmp.first",
    "icmp.error",
    "other.first",
    "other.single",
    "other.multiple",
    "frag",
    "interval",
    "adaptive.start",
    "adaptive.end",
    "src.track",
    "tcp.tsdiff",
];

/// pf 4.2's default timeouts (seconds); the adaptive ones are 60% and 120% of the default
/// state limit.
pub const TM_DEFAULTS: [u32; TM_COUNT] = [
    120, 30, 86400, 900, 45, 90, 60, 30, 60, 20, 10, 60, 30, 60, 30, 10, 6000, 12000, 0, 30, 0,
];

/// pf's default `limit states`.
pub const DEFAULT_STATE_LIMIT: u32 = 10000;

/// The window tracking of one peer (`struct pf_state_peer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peer {
    /// Highest sequence number sent (the lower edge of what may come next).
    pub seqlo: u32,
    /// Highest sequence number the other side's window allows.
    pub seqhi: u32,
    /// Added to this peer's sequence numbers (`modulate state`).
    pub seqdiff: u32,
    /// Largest (unscaled) window this peer advertised.
    pub max_win: u16,
    pub mss: u16,
    /// tcps / udps state.
    pub state: u8,
    /// Window scale shift; `WSCALE_FLAG` set when the peer sent the option.
    pub wscale: u8,
}

pub const WSCALE_FLAG: u8 = 0x80;
pub const WSCALE_MASK: u8 = 0x0f;

/// A host and port as a state key holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Host {
    pub addr: Addr,
    pub port: u16,
}

/// One state (`struct pf_state`).
#[derive(Debug, Clone)]
pub struct State {
    pub af: Af,
    pub proto: u8,
    /// The direction of the packet that made it.
    pub direction: Dir,
    pub lan: Host,
    pub gwy: Host,
    pub ext: Host,
    /// The side that made the state, and the other.
    pub src: Peer,
    pub dst: Peer,
    /// The rule that made it and the translation rule applied (index in their ruleset),
    /// None for none.
    pub rule: Option<u32>,
    /// The load the rule belongs to (`Pf::rules_gen`); u32::MAX for an anchor's rule.
    pub rule_gen: u32,
    /// The ALTQ queue its packets go to.
    pub qid: u32,
    pub nat_rule: Option<u32>,
    /// Bound to this interface (`if-bound`), 0 when floating.
    pub ifindex: u16,
    /// Seconds since PF started: made, last packet.
    pub creation: u32,
    pub expire: u32,
    pub timeout: Tm,
    /// Packets and bytes, from the creator and towards it.
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// Log every packet of the state (`log (all)`).
    pub log: bool,
    /// The rule said `allow-opts`: IPv4 packets with options pass on this state.
    pub allow_opts: bool,
    /// Tag given by the rule.
    pub tag: u16,
    /// The source node it counts against (`source-track`, `max-src-*`), when tracked.
    pub src_node: Option<Addr>,
}

impl State {
    /// A new state for a packet `pd` going `dir`, with the translation `gwy` (the packet's
    /// own host when there is none). The creator's peer is `src`.
    pub fn new(pd: &Pd, dir: Dir, gwy: Option<Host>, now: u32) -> State {
        let (s, d) = (
            Host {
                addr: pd.src,
                port: pd.sport,
            },
            Host {
                addr: pd.dst,
                port: pd.dport,
            },
        );
        // ICMP queries: the id is the lan and gwy port; the ext port is 0.
        let icmp = pd.icmp_query;
        let (lan, ext) = match dir {
            Dir::Out => (s, if icmp { Host { port: 0, ..d } } else { d }),
            Dir::In => (d, if icmp { Host { port: 0, ..s } } else { s }),
        };
        let timeout = match pd.proto {
            IPPROTO_TCP => Tm::TcpFirst,
            IPPROTO_UDP => Tm::UdpFirst,
            IPPROTO_ICMP | IPPROTO_ICMPV6 => Tm::IcmpFirst,
            _ => Tm::OtherFirst,
        };
        State {
            af: pd.af,
            proto: pd.proto,
            direction: dir,
            lan,
            gwy: gwy.unwrap_or(lan),
            ext,
            src: Peer::default(),
            dst: Peer::default(),
            rule: None,
            rule_gen: u32::MAX,
            qid: 0,
            nat_rule: None,
            ifindex: 0,
            creation: now,
            expire: now,
            timeout,
            packets: [0; 2],
            bytes: [0; 2],
            log: false,
            allow_opts: false,
            tag: 0,
            src_node: None,
        }
    }

    pub fn key_lan_ext(&self) -> Key {
        Key::new(self.af, self.proto, self.lan, self.ext)
    }

    pub fn key_ext_gwy(&self) -> Key {
        Key::new(self.af, self.proto, self.ext, self.gwy)
    }
}

/// A lookup key: family, protocol, two hosts in the order of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub af: Af,
    pub proto: u8,
    pub a: Host,
    pub b: Host,
}

impl Key {
    pub fn new(af: Af, proto: u8, a: Host, b: Host) -> Key {
        Key { af, proto, a, b }
    }

    /// The key a packet is looked up by: (src, dst) outbound in the lan-ext tree, (src,
    /// dst) inbound in the ext-gwy tree. An ICMP query's ext port is 0.
    pub fn for_packet(pd: &Pd, dir: Dir) -> Key {
        let mut s = Host {
            addr: pd.src,
            port: pd.sport,
        };
        let mut d = Host {
            addr: pd.dst,
            port: pd.dport,
        };
        if pd.icmp_query {
            match dir {
                Dir::Out => d.port = 0,
                Dir::In => s.port = 0,
            }
        }
        Key::new(pd.af, pd.proto, s, d)
    }
}

/// Why a state could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertErr {
    /// A state with one of its keys exists (`state-insert`).
    Exists,
    /// The table is at `limit states` (`state-limit`).
    Limit,
}

/// The state table.
#[derive(Debug)]
pub struct StateTable {
    slab: Vec<Option<State>>,
    free: Vec<u32>,
    lan_ext: HashMap<Key, u32>,
    ext_gwy: HashMap<Key, u32>,
    count: u32,
    /// `set limit states`.
    pub limit: u32,
    /// Where the next purge pass starts in the slab.
    cursor: usize,
    /// The `-s info` "State Table" counters.
    pub searches: u64,
    pub inserts: u64,
    pub removals: u64,
}

impl Default for StateTable {
    fn default() -> Self {
        StateTable::new(DEFAULT_STATE_LIMIT)
    }
}

impl StateTable {
    pub fn new(limit: u32) -> StateTable {
        StateTable {
            slab: Vec::new(),
            free: Vec::new(),
            lan_ext: HashMap::new(),
            ext_gwy: HashMap::new(),
            count: 0,
            limit,
            cursor: 0,
            searches: 0,
            inserts: 0,
            removals: 0,
        }
    }

    /// Room for `n` states without the maps growing on the packet path.
    pub fn reserve(&mut self, n: usize) {
        let more = n.saturating_sub(self.lan_ext.len());
        self.lan_ext.reserve(more);
        self.ext_gwy.reserve(more);
        self.slab.reserve(n.saturating_sub(self.slab.len()));
    }

    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Inserts a state under both keys; its id.
    pub fn insert(&mut self, s: State) -> Result<u32, InsertErr> {
        if self.count >= self.limit {
            return Err(InsertErr::Limit);
        }
        let (k1, k2) = (s.key_lan_ext(), s.key_ext_gwy());
        if self.lan_ext.contains_key(&k1) || self.ext_gwy.contains_key(&k2) {
            return Err(InsertErr::Exists);
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.slab[id as usize] = Some(s);
                id
            }
            None => {
                self.slab.push(Some(s));
                (self.slab.len() - 1) as u32
            }
        };
        self.lan_ext.insert(k1, id);
        self.ext_gwy.insert(k2, id);
        self.count += 1;
        self.inserts += 1;
        Ok(id)
    }

    /// The state a packet going `dir` belongs to.
    pub fn find(&mut self, key: &Key, dir: Dir) -> Option<u32> {
        self.searches += 1;
        match dir {
            Dir::Out => self.lan_ext.get(key).copied(),
            Dir::In => self.ext_gwy.get(key).copied(),
        }
    }

    pub fn get(&self, id: u32) -> Option<&State> {
        self.slab.get(id as usize).and_then(|s| s.as_ref())
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut State> {
        self.slab.get_mut(id as usize).and_then(|s| s.as_mut())
    }

    /// Removes a state; it is returned.
    pub fn remove(&mut self, id: u32) -> Option<State> {
        let s = self.slab.get_mut(id as usize)?.take()?;
        self.lan_ext.remove(&s.key_lan_ext());
        self.ext_gwy.remove(&s.key_ext_gwy());
        self.free.push(id);
        self.count -= 1;
        self.removals += 1;
        Some(s)
    }

    /// Every state, with its id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &State)> {
        self.slab
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, s)))
    }

    /// Every state, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut State)> {
        self.slab
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.as_mut().map(|s| (i as u32, s)))
    }

    /// Removes every state for which `kill` says so; how many went.
    pub fn retain(&mut self, mut kill: impl FnMut(&State) -> bool) -> u32 {
        let ids: Vec<u32> = self.iter().filter(|(_, s)| kill(s)).map(|(i, _)| i).collect();
        for &i in &ids {
            self.remove(i);
        }
        ids.len() as u32
    }

    /// When a state expires at the latest, by its stage's timeout, scaled down while the
    /// table holds more than `adaptive.start` states (to nothing at `adaptive.end`).
    pub fn expiry(&self, s: &State, tm: &[u32; TM_COUNT]) -> u32 {
        if s.timeout == Tm::Purge {
            return 0;
        }
        let t = u64::from(tm[s.timeout as usize]);
        let (start, end) = (tm[Tm::AdaptiveStart as usize], tm[Tm::AdaptiveEnd as usize]);
        let t = if start != 0 && end > start && self.count > start {
            if self.count >= end {
                0
            } else {
                t * u64::from(end - self.count) / u64::from(end - start)
            }
        } else {
            t
        };
        s.expire.saturating_add(t.min(u64::from(u32::MAX)) as u32)
    }

    /// One purge pass: looks at `n` slots from where the last pass stopped and removes
    /// the states that have expired by `now`. The removed states' ids.
    pub fn purge(&mut self, now: u32, n: usize, tm: &[u32; TM_COUNT], mut gone: impl FnMut(&State)) -> u32 {
        let len = self.slab.len();
        if len == 0 {
            return 0;
        }
        let mut removed = 0;
        for _ in 0..n.min(len) {
            if self.cursor >= self.slab.len() {
                self.cursor = 0;
            }
            let i = self.cursor;
            self.cursor += 1;
            let dead = self.slab[i].as_ref().is_some_and(|s| self.expiry(s, tm) <= now);
            if dead {
                if let Some(s) = self.remove(i as u32) {
                    gone(&s);
                    removed += 1;
                }
            }
        }
        removed
    }
}

fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

fn seq_geq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

/// The largest acknowledgment skew accepted (pf's MAXACKWINDOW).
const MAXACKWINDOW: i64 = 0xffff + 1500;

/// What TCP tracking decided about a segment of a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpVerdict {
    Pass,
    /// Outside the window: dropped and counted (`state-mismatch`).
    Bad,
    /// A SYN for a connection that has closed on both sides: the old state goes, and the
    /// SYN is looked at by the rules again.
    Reopen,
}

/// The window scale a SYN carries (with `WSCALE_FLAG`), 0 when none.
pub fn syn_wscale(opts: &[u8]) -> u8 {
    match crate::wire::tcp::TcpOpts::parse(opts).wscale {
        Some(w) => w.min(14) | WSCALE_FLAG,
        None => 0,
    }
}

/// Sets up the creator's peer from the first segment (pf_test_tcp). `wscale` is the
/// option a SYN carries (`syn_wscale`).
pub fn tcp_first(s: &mut State, t: &super::pkt::Tcp, wscale: u8, mss: u16) {
    let p = &mut s.src;
    let syn = t.flags & TH_SYN != 0;
    p.seqlo = t.seq;
    p.seqhi = t.seq.wrapping_add(t.dlen).wrapping_add(1).wrapping_add(u32::from(syn));
    let mut win = u32::from(t.win);
    if syn {
        p.wscale = wscale;
        p.mss = mss;
        if wscale & WSCALE_FLAG != 0 {
            // The window of a SYN is not scaled: keep it in the units of the scale.
            let ws = wscale & WSCALE_MASK;
            win = (win + (1 << ws) - 1) >> ws;
        }
    }
    p.max_win = win.clamp(1, 0xffff) as u16;
    if t.flags & TH_FIN != 0 {
        p.seqhi = p.seqhi.wrapping_add(1);
    }
    s.dst.seqhi = 1;
    s.dst.max_win = 1;
    s.src.state = tcps::SYN_SENT;
    s.dst.state = tcps::CLOSED;
    s.timeout = Tm::TcpFirst;
}

/// Tracks one segment of a TCP state (pf_test_state_tcp's window check): `fwd` when it
/// goes the way of the packet that made the state. `wscale` is the option the segment
/// carries when it is a SYN. Sequence modulation is undone by the caller, which passes
/// the numbers as the state's peers count them.
pub fn tcp_track(s: &mut State, fwd: bool, t: &super::pkt::Tcp, wscale: u8, now: u32) -> TcpVerdict {
    let (src, dst) = if fwd {
        (&mut s.src, &mut s.dst)
    } else {
        (&mut s.dst, &mut s.src)
    };
    let flags = t.flags;
    let syn = flags & TH_SYN != 0;
    let fin = flags & TH_FIN != 0;
    // A new connection where both sides had closed.
    if flags & (TH_SYN | TH_ACK) == TH_SYN && src.state >= tcps::FIN_WAIT_2 && dst.state >= tcps::FIN_WAIT_2 {
        return TcpVerdict::Reopen;
    }
    let (mut sws, mut dws) = (0u8, 0u8);
    if src.wscale & WSCALE_FLAG != 0 && dst.wscale & WSCALE_FLAG != 0 && !syn {
        sws = src.wscale & WSCALE_MASK;
        dws = dst.wscale & WSCALE_MASK;
    }
    let mut win = u32::from(t.win);
    let mut seq = t.seq;
    let mut ack = t.ack;
    let mut end = seq
        .wrapping_add(t.dlen)
        .wrapping_add(u32::from(syn))
        .wrapping_add(u32::from(fin));
    if src.seqlo == 0 && src.state < tcps::SYN_SENT {
        // The first segment from this side (the SYN|ACK, or a first segment we missed).
        if syn && dst.wscale & WSCALE_FLAG != 0 {
            src.wscale = wscale;
            if src.wscale & WSCALE_FLAG != 0 {
                // Both scale: this SYN's window is unscaled, keep it in the scale's units.
                sws = src.wscale & WSCALE_MASK;
                win = (win + (1 << sws) - 1) >> sws;
                dws = dst.wscale & WSCALE_MASK;
            } else {
                // Only the other side offered scaling, so neither side scales: its
                // window, kept in the units of its scale, goes back to bytes.
                let w = u32::from(dst.max_win) << (dst.wscale & WSCALE_MASK);
                dst.max_win = w.min(0xffff) as u16;
                dst.wscale = 0;
            }
        }
        src.seqlo = seq;
        src.state = tcps::SYN_SENT;
        let w = (u32::from(dst.max_win) << dws).max(1);
        if src.seqhi == 1 || src.seqhi == 0 || seq_geq(end.wrapping_add(w), src.seqhi) {
            src.seqhi = end.wrapping_add(w);
        }
        if win > u32::from(src.max_win) {
            src.max_win = win.min(0xffff) as u16;
        }
    }
    if flags & TH_ACK == 0 {
        // Let it through the acknowledgment check.
        ack = dst.seqlo;
    } else if ack == 0 && flags & (TH_ACK | TH_RST) == (TH_ACK | TH_RST) {
        // Some stacks send RST|ACK with a zero acknowledgment.
        ack = dst.seqlo;
    }
    if seq == end {
        // Nothing in it: check it as the segment right after the last.
        seq = src.seqlo;
        end = seq;
    }
    let ackskew = i64::from(dst.seqlo.wrapping_sub(ack) as i32);
    let lo_win = (u32::from(dst.max_win) << dws).max(1);
    let rst_ok = flags & TH_RST == 0
        || t.seq == src.seqlo
        || t.seq == src.seqlo.wrapping_add(1)
        || t.seq.wrapping_add(1) == src.seqlo;
    let scaled_win = (win << sws).max(1);
    let in_window = seq_geq(src.seqhi, end)
        && seq_geq(seq, src.seqlo.wrapping_sub(lo_win))
        && ackskew >= -MAXACKWINDOW
        && ackskew <= MAXACKWINDOW << sws
        && rst_ok;
    let loose = !in_window
        && (dst.state < tcps::SYN_SENT || dst.state >= tcps::FIN_WAIT_2 || src.state >= tcps::FIN_WAIT_2)
        && seq_geq(src.seqhi.wrapping_add(MAXACKWINDOW as u32), end)
        && seq_geq(seq, src.seqlo.wrapping_sub(MAXACKWINDOW as u32));
    if !in_window && !loose {
        return TcpVerdict::Bad;
    }
    // Move the window's edges.
    if win > u32::from(src.max_win) {
        src.max_win = win.min(0xffff) as u16;
    }
    if seq_gt(end, src.seqlo) {
        src.seqlo = end;
    }
    if flags & TH_ACK != 0 && seq_geq(ack.wrapping_add(scaled_win), dst.seqhi) {
        dst.seqhi = ack.wrapping_add(scaled_win);
    }
    if in_window {
        advance(src, dst, flags);
    } else {
        // A loose match: one side has closed (its last ACK may have been lost) or the
        // other has never been seen; no handshake progress is read from it.
        if fin && src.state < tcps::CLOSING {
            src.state = tcps::CLOSING;
        }
        if flags & TH_RST != 0 {
            src.state = tcps::TIME_WAIT;
            dst.state = tcps::TIME_WAIT;
        }
    }
    let (a, b) = (s.src.state, s.dst.state);
    s.timeout = if a >= tcps::FIN_WAIT_2 && b >= tcps::FIN_WAIT_2 {
        Tm::TcpClosed
    } else if a >= tcps::CLOSING && b >= tcps::CLOSING {
        Tm::TcpFinWait
    } else if a < tcps::ESTABLISHED || b < tcps::ESTABLISHED {
        Tm::TcpOpening
    } else if a >= tcps::CLOSING || b >= tcps::CLOSING {
        Tm::TcpClosing
    } else {
        Tm::TcpEstablished
    };
    s.expire = now;
    TcpVerdict::Pass
}

/// The stages a segment in the window moves its peers through.
fn advance(src: &mut Peer, dst: &mut Peer, flags: u8) {
    if flags & TH_SYN != 0 && src.state < tcps::SYN_SENT {
        src.state = tcps::SYN_SENT;
    }
    if flags & TH_FIN != 0 && src.state < tcps::CLOSING {
        src.state = tcps::CLOSING;
    }
    if flags & TH_ACK != 0 {
        if dst.state == tcps::SYN_SENT {
            dst.state = tcps::ESTABLISHED;
        } else if dst.state == tcps::CLOSING {
            dst.state = tcps::FIN_WAIT_2;
        }
    }
    if flags & TH_RST != 0 {
        src.state = tcps::TIME_WAIT;
        dst.state = tcps::TIME_WAIT;
    }
}

/// Tracks a packet of a UDP or other-protocol state.
pub fn udp_track(s: &mut State, fwd: bool, now: u32) {
    let (src, dst) = if fwd {
        (&mut s.src, &mut s.dst)
    } else {
        (&mut s.dst, &mut s.src)
    };
    if src.state < udps::SINGLE {
        src.state = udps::SINGLE;
    }
    if dst.state == udps::SINGLE {
        dst.state = udps::MULTIPLE;
    }
    let both = s.src.state == udps::MULTIPLE && s.dst.state == udps::MULTIPLE;
    s.timeout = match (s.proto, both) {
        (IPPROTO_UDP, true) => Tm::UdpMultiple,
        (IPPROTO_UDP, false) => Tm::UdpSingle,
        (_, true) => Tm::OtherMultiple,
        (_, false) => Tm::OtherSingle,
    };
    s.expire = now;
}

#[cfg(test)]
mod tests {
    use super::super::pkt::Tcp;
    use super::*;

    fn pd(seq: u32, ack: u32, flags: u8, win: u16, dlen: u32) -> Pd {
        Pd {
            af: Af::Inet,
            proto: IPPROTO_TCP,
            src: Addr(0x0a000002),
            dst: Addr(0xc0000209),
            src_at: 12,
            dst_at: 16,
            ip_ck: Some(10),
            off: 20,
            tot_len: 40 + dlen as usize,
            sport: 40000,
            dport: 80,
            frag: false,
            ttl: 64,
            tos: 0,
            tcp: Tcp {
                seq,
                ack,
                flags,
                win,
                hlen: 20,
                dlen,
            },
            icmp_type: 0,
            icmp_code: 0,
            icmp_query: false,
        }
    }

    /// A state after a handshake with window scaling 7 on both sides.
    fn established() -> State {
        let syn = pd(1000, 0, TH_SYN, 65535, 0);
        let mut s = State::new(&syn, Dir::Out, None, 0);
        tcp_first(&mut s, &syn.tcp, 7 | WSCALE_FLAG, 1460);
        let synack = Tcp {
            seq: 5000,
            ack: 1001,
            flags: TH_SYN | TH_ACK,
            win: 65535,
            hlen: 20,
            dlen: 0,
        };
        assert_eq!(tcp_track(&mut s, false, &synack, 7 | WSCALE_FLAG, 0), TcpVerdict::Pass);
        let ack = pd(1001, 5001, TH_ACK, 512, 0).tcp;
        assert_eq!(tcp_track(&mut s, true, &ack, 0, 0), TcpVerdict::Pass);
        let ack2 = Tcp {
            seq: 5001,
            ack: 1001,
            flags: TH_ACK,
            win: 512,
            hlen: 20,
            dlen: 0,
        };
        assert_eq!(tcp_track(&mut s, false, &ack2, 0, 0), TcpVerdict::Pass);
        s
    }

    #[test]
    fn a_handshake_establishes_both_sides() {
        let s = established();
        assert_eq!((s.src.state, s.dst.state), (tcps::ESTABLISHED, tcps::ESTABLISHED));
        assert_eq!(s.timeout, Tm::TcpEstablished);
        assert_eq!(s.src.wscale & WSCALE_MASK, 7);
    }

    #[test]
    fn scaled_windows_admit_data_far_beyond_64k_and_retransmissions_pass() {
        let mut s = established();
        // 512 << 7 = 64 KiB of window each way; send 60,000 bytes in 1,000-byte pieces,
        // acknowledged as they go.
        let mut seq = 1001u32;
        for _ in 0..60 {
            let d = Tcp {
                seq,
                ack: 5001,
                flags: TH_ACK,
                win: 512,
                hlen: 20,
                dlen: 1000,
            };
            assert_eq!(tcp_track(&mut s, true, &d, 0, 1), TcpVerdict::Pass);
            seq = seq.wrapping_add(1000);
            let a = Tcp {
                seq: 5001,
                ack: seq,
                flags: TH_ACK,
                win: 512,
                hlen: 20,
                dlen: 0,
            };
            assert_eq!(tcp_track(&mut s, false, &a, 0, 1), TcpVerdict::Pass);
        }
        // A retransmission of old data is still inside the window.
        let old = Tcp {
            seq: seq - 5000,
            ack: 5001,
            flags: TH_ACK,
            win: 512,
            hlen: 20,
            dlen: 1000,
        };
        assert_eq!(tcp_track(&mut s, true, &old, 0, 2), TcpVerdict::Pass);
        // Data beyond what the receiver's window allows is not.
        let far = Tcp {
            seq: seq.wrapping_add(70_000),
            ack: 5001,
            flags: TH_ACK,
            win: 512,
            hlen: 20,
            dlen: 1000,
        };
        assert_eq!(tcp_track(&mut s, true, &far, 0, 2), TcpVerdict::Bad);
    }

    #[test]
    fn an_out_of_window_rst_is_refused_and_an_exact_one_closes() {
        let mut s = established();
        let blind = Tcp {
            seq: 1001 + 3_000_000,
            ack: 0,
            flags: TH_RST,
            win: 0,
            hlen: 20,
            dlen: 0,
        };
        assert_eq!(tcp_track(&mut s, false, &blind, 0, 1), TcpVerdict::Bad);
        // In the window but not at its edge: refused too.
        let inside = Tcp {
            seq: 5001 + 100,
            ..blind
        };
        assert_eq!(tcp_track(&mut s, false, &inside, 0, 1), TcpVerdict::Bad);
        assert_eq!(s.src.state, tcps::ESTABLISHED);
        let exact = Tcp { seq: 5001, ..blind };
        assert_eq!(tcp_track(&mut s, false, &exact, 0, 1), TcpVerdict::Pass);
        assert_eq!((s.src.state, s.dst.state), (tcps::TIME_WAIT, tcps::TIME_WAIT));
        assert_eq!(s.timeout, Tm::TcpClosed);
    }

    #[test]
    fn a_fin_exchange_closes_and_a_new_syn_reopens() {
        let mut s = established();
        let t = |seq, ack, flags| Tcp {
            seq,
            ack,
            flags,
            win: 512,
            hlen: 20,
            dlen: 0,
        };
        assert_eq!(
            tcp_track(&mut s, true, &t(1001, 5001, TH_FIN | TH_ACK), 0, 1),
            TcpVerdict::Pass
        );
        assert_eq!(
            tcp_track(&mut s, false, &t(5001, 1002, TH_FIN | TH_ACK), 0, 1),
            TcpVerdict::Pass
        );
        assert_eq!(tcp_track(&mut s, true, &t(1002, 5002, TH_ACK), 0, 1), TcpVerdict::Pass);
        assert_eq!((s.src.state, s.dst.state), (tcps::FIN_WAIT_2, tcps::FIN_WAIT_2));
        assert_eq!(s.timeout, Tm::TcpClosed);
        assert_eq!(tcp_track(&mut s, true, &t(9000, 0, TH_SYN), 0, 2), TcpVerdict::Reopen);
    }

    #[test]
    fn the_table_finds_both_ways_refuses_duplicates_and_holds_its_limit() {
        let mut t = StateTable::new(2);
        let p = pd(1, 0, TH_SYN, 100, 0);
        let s = State::new(&p, Dir::Out, None, 0);
        let id = t.insert(s.clone()).unwrap();
        assert_eq!(t.insert(s.clone()), Err(InsertErr::Exists));
        assert_eq!(t.find(&Key::for_packet(&p, Dir::Out), Dir::Out), Some(id));
        // The reply, inbound: src and dst swapped.
        let mut r = p;
        std::mem::swap(&mut r.src, &mut r.dst);
        std::mem::swap(&mut r.sport, &mut r.dport);
        assert_eq!(t.find(&Key::for_packet(&r, Dir::In), Dir::In), Some(id));
        // Not the same packet inbound (that would be another state).
        assert_eq!(t.find(&Key::for_packet(&p, Dir::In), Dir::In), None);
        let mut q = p;
        q.sport = 2;
        t.insert(State::new(&q, Dir::Out, None, 0)).unwrap();
        q.sport = 3;
        assert_eq!(t.insert(State::new(&q, Dir::Out, None, 0)), Err(InsertErr::Limit));
        assert!(t.remove(id).is_some());
        assert_eq!(t.len(), 1);
        assert_eq!(t.find(&Key::for_packet(&p, Dir::Out), Dir::Out), None);
        t.insert(State::new(&q, Dir::Out, None, 0)).unwrap();
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn states_expire_by_stage_and_sooner_when_the_table_fills() {
        let mut tm = TM_DEFAULTS;
        let mut t = StateTable::new(100);
        for i in 0..10u16 {
            let mut p = pd(1, 0, TH_SYN, 100, 0);
            p.sport = i;
            p.proto = IPPROTO_UDP;
            let mut s = State::new(&p, Dir::Out, None, 0);
            udp_track(&mut s, true, 0);
            t.insert(s).unwrap();
        }
        // udp.single is 30 s: nothing at 29 s.
        assert_eq!(t.purge(29, 100, &tm, |_| {}), 0);
        // Adaptive: 10 states between start 5 and end 15 halve the timeout; at the end
        // it is nothing.
        tm[Tm::AdaptiveStart as usize] = 5;
        tm[Tm::AdaptiveEnd as usize] = 15;
        let any = t.iter().map(|(_, s)| s.clone()).next().unwrap();
        assert_eq!(t.expiry(&any, &tm), 15);
        tm[Tm::AdaptiveEnd as usize] = 10;
        assert_eq!(t.expiry(&any, &tm), 0);
        tm = TM_DEFAULTS;
        let mut gone = 0;
        assert_eq!(t.purge(30, 100, &tm, |_| gone += 1), 10);
        assert_eq!((gone, t.len()), (10, 0));
    }
}
