//! ARP (RFC 826): the cache of link-level addresses, resolution with a bounded hold queue
//! per unresolved address, answering for our addresses, announcing them (gratuitous ARP),
//! and noticing another host that claims one of them. Timeouts and counters follow NetBSD
//! (`arpt_keep` 1200 s, `arpt_down` 20 s, `arp_maxtries` 5; `arpstat`).
//!
//! The cache is bounded: entries are created only for hosts that talk to us or that we
//! resolve, and when it is full the stalest entry gives way, so forged senders cannot grow
//! memory without limit.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conf::Ctx;
use crate::net::ether::ether_output;
use crate::net::ifnet::{Dst, Ifnet};
use crate::sys::callout::{Timer, SLOW};
use crate::sys::domain::{always, Domain, Protosw};
use crate::sys::mbuf::Mbuf;
use crate::wire::arp::ARP_LEN;
use crate::wire::arp::{ArpRepr, ARPOP_REPLY, ARPOP_REQUEST};
use crate::wire::ethernet::{ether_ntoa, BROADCAST, ETHERTYPE_ARP, ETHERTYPE_IP};
use crate::wire::Error as WireError;

pub use crate::msg::ArpStats;

/// How long a resolved entry lives (NetBSD's arpt_keep).
pub const ARPT_KEEP: Duration = Duration::from_secs(1200);
/// How long an address that did not answer is left alone (arpt_down).
pub const ARPT_DOWN: Duration = Duration::from_secs(20);
/// Requests sent before an address is declared down (arp_maxtries).
pub const ARP_MAXTRIES: u32 = 5;
/// Interval between requests for one address.
const ARP_RETRY: Duration = Duration::from_secs(1);
/// Packets held per unresolved address.
pub const ARP_MAXHOLD: usize = 16;
/// Entries in the cache.
pub const ARP_MAXENTRIES: usize = 4096;

/// One cache entry (`struct llentry`).
#[derive(Debug)]
pub struct LlEntry {
    pub lladdr: Option<[u8; 6]>,
    /// When the entry expires (resolved) or when it may be tried again (down).
    pub expire: Instant,
    pub asked: u32,
    pub last_ask: Option<Instant>,
    /// IP packets waiting for the address (the Ethernet header is added when it comes),
    /// with the offloads they carry.
    pub hold: VecDeque<Mbuf>,
    pub permanent: bool,
    /// Last time the entry was used or confirmed, for eviction.
    pub touched: Instant,
}

/// The cache, keyed by interface index and address.
#[derive(Debug)]
pub struct ArpCache {
    pub entries: HashMap<(u16, Ipv4Addr), LlEntry>,
    /// net.inet.arp.keep: how long a resolved entry lives (arpt_keep).
    pub keep: Duration,
    /// net.inet.arp.down: how long an address that did not answer is left alone (arpt_down).
    pub down: Duration,
    /// net.inet.arp.log_movements: log a known host's link address changing.
    pub log_movements: bool,
    /// Published entries (`arp -s HOST ETHER pub [proxy]`): requests for HOST on the
    /// interface are answered with ETHER, as NetBSD's LLE_PUB entries are.
    pub published: HashMap<(u16, Ipv4Addr), Published>,
}

impl Default for ArpCache {
    fn default() -> Self {
        ArpCache {
            entries: HashMap::new(),
            keep: ARPT_KEEP,
            down: ARPT_DOWN,
            log_movements: true,
            published: HashMap::new(),
        }
    }
}

/// One published (proxy ARP) entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub lladdr: [u8; 6],
    /// `proxy`: only answered for, not used to send to the host (NetBSD's SIN_PROXY).
    pub proxy_only: bool,
}

impl ArpCache {
    /// Makes room for one entry, evicting the stalest when full. False if nothing can go.
    fn make_room(&mut self) -> bool {
        if self.entries.len() < ARP_MAXENTRIES {
            return true;
        }
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| !e.permanent)
            .min_by_key(|(_, e)| e.touched)
            .map(|(k, _)| *k);
        match victim {
            Some(k) => {
                self.entries.remove(&k);
                true
            }
            None => false,
        }
    }
}

/// What `arpresolve` decided for an outgoing packet.
pub enum Resolved {
    /// Send the packet now to this address.
    Now([u8; 6], Mbuf),
    /// Held until the address answers (or dropped when the hold queue is full).
    Held,
    /// The host did not answer recently: EHOSTDOWN.
    Down,
}

/// Input of one ARP packet (the Ethernet payload), under the stack context.
pub fn arp_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, payload: &[u8]) {
    let st = &mut ctx.arpstat;
    st.received += 1;
    let ah = match ArpRepr::parse(payload) {
        Ok(ah) => ah,
        Err(WireError::Truncated) => {
            st.rcv_badlen += 1;
            return;
        }
        Err(WireError::Malformed) => {
            st.rcv_badproto += 1;
            return;
        }
    };
    let (op, sha, spa, tpa) = (ah.op, ah.sha, ah.spa, ah.tpa);
    if op == ARPOP_REQUEST {
        st.rcv_requests += 1;
    } else if op == ARPOP_REPLY {
        st.rcv_replies += 1;
    }
    if sha == ifp.lladdr {
        st.rcv_localsha += 1;
        return;
    }
    if sha[0] & 1 != 0 {
        st.rcv_bcastsha += 1;
        return;
    }
    if tpa.is_unspecified() {
        st.rcv_zerotpa += 1;
        return;
    }
    if spa.is_unspecified() {
        st.rcv_zerospa += 1;
    }
    // On a bridge member, an address of any member of the same bridge is answered, as
    // that member (NetBSD's in_arpinput with bridges): a broadcast goes up on the member
    // it came in on, whichever member holds the address.
    let bridged = crate::net::if_bridge::arp_member(ctx, ifp, tpa);
    let ifp = bridged.as_ref().unwrap_or(ifp);
    let ours = |a: Ipv4Addr| ctx.inet.addrs.iter().any(|ia| ia.ifindex == ifp.index && ia.addr == a);
    if ours(spa) {
        ctx.arpstat.dup_ips += 1;
        crate::klog_net!(
            ctx.netlog,
            "{}: duplicate IP address {} sent from link address {}",
            ifp.name,
            spa,
            ether_ntoa(&sha)
        );
        // Defend the address, as NetBSD's in_arpinput does: tell the sender (and so its
        // neighbours' caches, on a hub) whose address it is.
        if send(ctx, ifp, ARPOP_REPLY, spa, sha, spa, sha).is_ok() {
            ctx.arpstat.sent_replies += 1;
        }
        return;
    }
    let for_us = ours(tpa);
    // RFC 826's merge: update an entry we have; create one only when the packet is for us.
    if !spa.is_unspecified() {
        learn(ctx, ifp, spa, sha, for_us);
    }
    if op == ARPOP_REQUEST && for_us && send(ctx, ifp, ARPOP_REPLY, tpa, sha, spa, sha).is_ok() {
        ctx.arpstat.sent_replies += 1;
    }
    // Proxy ARP: a request for a published address is answered with its published link
    // address (the frame itself still leaves from the interface's own address).
    if op == ARPOP_REQUEST && !for_us {
        if let Some(p) = ctx.arp.published.get(&(ifp.index, tpa)).copied() {
            if send_as(ctx, ifp, p.lladdr, ARPOP_REPLY, tpa, sha, spa, sha).is_ok() {
                ctx.arpstat.sent_replies += 1;
            }
        }
    }
}

fn learn(ctx: &mut Ctx, ifp: &Ifnet, spa: Ipv4Addr, sha: [u8; 6], create: bool) {
    let (keep, log_movements) = (ctx.arp.keep, ctx.arp.log_movements);
    let key = (ifp.index, spa);
    let now = Instant::now();
    if !ctx.arp.entries.contains_key(&key) {
        if !create {
            return;
        }
        if !ctx.arp.make_room() {
            ctx.arpstat.allocfail += 1;
            return;
        }
        ctx.arp.entries.insert(
            key,
            LlEntry {
                lladdr: None,
                expire: now,
                asked: 0,
                last_ask: None,
                hold: VecDeque::new(),
                permanent: false,
                touched: now,
            },
        );
    }
    let Some(e) = ctx.arp.entries.get_mut(&key) else { return };
    if e.permanent {
        return;
    }
    if let Some(old) = e.lladdr {
        if old != sha && log_movements {
            crate::klog_net!(
                ctx.netlog,
                "arp info overwritten for {} by {} on {}",
                spa,
                ether_ntoa(&sha),
                ifp.name
            );
        }
    }
    e.lladdr = Some(sha);
    e.expire = now + keep;
    e.asked = 0;
    e.touched = now;
    let held = std::mem::take(&mut e.hold);
    for m in held {
        if ether_output(ctx, ifp, m, Dst::Link(sha, ETHERTYPE_IP)).is_ok() {
            ctx.arpstat.dfr_sent += 1;
        }
    }
}

/// The link-level address of `dst` on `ifp` when the cache holds a live one; never asks
/// nor holds (for frames that must not wait in the hold queue).
/// Reads the coarse clock: this runs for every packet sent.
#[inline]
pub fn arplookup(ctx: &mut Ctx, ifp: &Ifnet, dst: Ipv4Addr) -> Option<[u8; 6]> {
    let now = crate::sys::clock::now();
    let e = ctx.arp.entries.get_mut(&(ifp.index, dst))?;
    let l = e.lladdr?;
    if e.permanent || e.expire > now {
        e.touched = now;
        return Some(l);
    }
    None
}

/// Finds the link-level address for `dst` on `ifp`, holding `m` (an IP packet) and
/// asking when it is not known.
pub fn arpresolve(ctx: &mut Ctx, ifp: &Ifnet, dst: Ipv4Addr, mut m: Mbuf) -> Resolved {
    let down = ctx.arp.down;
    let now = crate::sys::clock::now();
    let key = (ifp.index, dst);
    if let Some(e) = ctx.arp.entries.get_mut(&key) {
        if let Some(l) = e.lladdr {
            if e.permanent || e.expire > now {
                e.touched = now;
                return Resolved::Now(l, m);
            }
            // Expired: resolve again, keeping nothing of the old address.
            e.lladdr = None;
            e.asked = 0;
        } else if e.asked >= ARP_MAXTRIES && e.expire > now {
            return Resolved::Down;
        } else if e.asked >= ARP_MAXTRIES {
            e.asked = 0;
        }
    } else {
        if !ctx.arp.make_room() {
            ctx.arpstat.allocfail += 1;
            return Resolved::Down;
        }
        ctx.arp.entries.insert(
            key,
            LlEntry {
                lladdr: None,
                expire: now,
                asked: 0,
                last_ask: None,
                hold: VecDeque::new(),
                permanent: false,
                touched: now,
            },
        );
    }
    let Some(e) = ctx.arp.entries.get_mut(&key) else {
        return Resolved::Down;
    };
    ctx.arpstat.dfr_total += 1;
    if e.hold.len() >= ARP_MAXHOLD {
        e.hold.pop_front();
        ctx.arpstat.dfr_dropped += 1;
    }
    // A received frame sits in a buffer as large as the largest frame: it waits in one
    // its own size.
    m.compact();
    e.hold.push_back(m);
    let ask = e.last_ask.is_none_or(|t| now.duration_since(t) >= ARP_RETRY);
    if ask {
        e.asked += 1;
        e.last_ask = Some(now);
        if e.asked >= ARP_MAXTRIES {
            e.expire = now + down;
        }
        let src = ctx
            .inet
            .addrs
            .iter()
            .find(|ia| ia.ifindex == ifp.index)
            .map(|ia| ia.addr)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        if send(ctx, ifp, ARPOP_REQUEST, src, [0; 6], dst, BROADCAST).is_ok() {
            ctx.arpstat.sent_requests += 1;
        }
    }
    Resolved::Held
}

/// NetBSD's `arpdomain` (PF_ARP): the ARP timer and counters.
pub static ARP: Domain = Domain {
    name: "arp",
    // NetBSD's PF_ARP.
    family: 28,
    present: always,
    init: None,
    loopback: None,
    protosw: &[Protosw {
        name: "arp",
        timers: &[Timer {
            name: "arp",
            period: Some(SLOW),
            run: |c| {
                arp_timer(c);
                None
            },
            planned: None,
        }],
        stats: Some(|c, s| s.arp = c.arpstat),
        ..Protosw::EMPTY
    }],
};

/// The ARP timer: retries unanswered requests, gives up on silent hosts (dropping what
/// they held), and expires old entries.
pub fn arp_timer(ctx: &mut Ctx) {
    let down = ctx.arp.down;
    let now = Instant::now();
    let mut retry = Vec::new();
    let mut dropped = 0;
    ctx.arp.entries.retain(|(idx, addr), e| {
        if e.permanent {
            return true;
        }
        match e.lladdr {
            Some(_) => e.expire > now,
            None => {
                if e.asked >= ARP_MAXTRIES {
                    dropped += e.hold.len() as u64;
                    e.hold.clear();
                    // Keep the "down" mark until it runs out.
                    e.expire > now
                } else {
                    if !e.hold.is_empty() && e.last_ask.is_some_and(|t| now.duration_since(t) >= ARP_RETRY) {
                        retry.push((*idx, *addr));
                    }
                    !e.hold.is_empty() || e.last_ask.is_some_and(|t| now.duration_since(t) < down)
                }
            }
        }
    });
    ctx.arpstat.dfr_dropped += dropped;
    for (idx, addr) in retry {
        let Some(ifp) = ctx.ifnet_by_index(idx).cloned() else {
            continue;
        };
        let src = ctx
            .inet
            .addrs
            .iter()
            .find(|ia| ia.ifindex == idx)
            .map(|ia| ia.addr)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        if let Some(e) = ctx.arp.entries.get_mut(&(idx, addr)) {
            e.asked += 1;
            e.last_ask = Some(now);
            if e.asked >= ARP_MAXTRIES {
                e.expire = now + down;
            }
        }
        if send(ctx, &ifp, ARPOP_REQUEST, src, [0; 6], addr, BROADCAST).is_ok() {
            ctx.arpstat.sent_requests += 1;
        }
    }
}

/// Forgets every entry of an interface (it went away).
pub fn arp_purge_if(ctx: &mut Ctx, index: u16) {
    ctx.arp.entries.retain(|(i, _), _| *i != index);
    ctx.arp.published.retain(|(i, _), _| *i != index);
}

/// The interface on which `addr` is a neighbour: the one with an IPv4 subnet holding it
/// (NetBSD's arp finds it with RTM_GET, and refuses an address reached through a gateway).
fn neighbour_if(ctx: &Ctx, addr: Ipv4Addr) -> Option<u16> {
    ctx.inet
        .addrs
        .iter()
        .find(|ia| u32::from(ia.addr) & u32::from(ia.mask) == u32::from(addr) & u32::from(ia.mask))
        .map(|ia| ia.ifindex)
}

/// `arp -s` (RTM_ADD of an RTF_LLDATA route): a static entry, permanent unless `temp`
/// (then it lives arpt_keep, 20 minutes); with `publish`, also answered for; with
/// `proxy_only`, only answered for. A new entry replaces what the cache had.
pub fn arp_set(ctx: &mut Ctx, req: &crate::msg::ArpSetReq) -> Result<(), i32> {
    let idx = neighbour_if(ctx, req.addr).ok_or(libc::ENETUNREACH)?;
    let ifp = ctx.ifnet_by_index(idx).cloned().ok_or(libc::ENXIO)?;
    let lladdr = req.lladdr.unwrap_or(ifp.lladdr);
    if lladdr[0] & 1 != 0 && !req.publish {
        return Err(libc::EINVAL);
    }
    let key = (idx, req.addr);
    if req.publish {
        ctx.arp.published.insert(
            key,
            Published {
                lladdr,
                proxy_only: req.proxy_only,
            },
        );
        if req.proxy_only {
            return Ok(());
        }
    } else {
        ctx.arp.published.remove(&key);
    }
    let now = Instant::now();
    let held = ctx.arp.entries.remove(&key).map(|e| e.hold).unwrap_or_default();
    if !ctx.arp.make_room() {
        ctx.arpstat.allocfail += 1;
        return Err(libc::ENOBUFS);
    }
    ctx.arp.entries.insert(
        key,
        LlEntry {
            lladdr: Some(lladdr),
            expire: now + ctx.arp.keep,
            asked: 0,
            last_ask: None,
            hold: VecDeque::new(),
            permanent: !req.temp,
            touched: now,
        },
    );
    for m in held {
        if ether_output(ctx, &ifp, m, Dst::Link(lladdr, ETHERTYPE_IP)).is_ok() {
            ctx.arpstat.dfr_sent += 1;
        }
    }
    Ok(())
}

/// `arp -d` (RTM_DELETE): removes the cache entry and any published entry of `addr`,
/// or with `proxy_only` only a published entry. ESRCH when there is none.
pub fn arp_delete(ctx: &mut Ctx, addr: Ipv4Addr, proxy_only: bool) -> Result<(), i32> {
    let before = ctx.arp.entries.len() + ctx.arp.published.len();
    if !proxy_only {
        ctx.arp.entries.retain(|(_, a), _| *a != addr);
    }
    ctx.arp.published.retain(|(_, a), _| *a != addr);
    if ctx.arp.entries.len() + ctx.arp.published.len() == before {
        return Err(libc::ESRCH);
    }
    Ok(())
}

/// The cache as `arp -a` shows it.
pub fn arp_dump(ctx: &Ctx) -> Vec<crate::msg::ArpEntry> {
    let now = Instant::now();
    let mut v: Vec<crate::msg::ArpEntry> = ctx
        .arp
        .entries
        .iter()
        .filter(|(_, e)| e.lladdr.is_some() || !e.hold.is_empty())
        .map(|((idx, addr), e)| crate::msg::ArpEntry {
            addr: *addr,
            lladdr: e.lladdr,
            ifname: ctx.ifnet_by_index(*idx).map(|i| i.name.clone()).unwrap_or_default(),
            expire: (!e.permanent).then(|| e.expire.saturating_duration_since(now).as_secs()),
            permanent: e.permanent,
            published: ctx.arp.published.contains_key(&(*idx, *addr)),
            proxy_only: false,
        })
        .collect();
    // Proxy-only entries are not in the cache: they show as NetBSD shows them.
    v.extend(
        ctx.arp
            .published
            .iter()
            .filter(|(_, p)| p.proxy_only)
            .map(|((idx, addr), p)| crate::msg::ArpEntry {
                addr: *addr,
                lladdr: Some(p.lladdr),
                ifname: ctx.ifnet_by_index(*idx).map(|i| i.name.clone()).unwrap_or_default(),
                expire: None,
                permanent: true,
                published: true,
                proxy_only: true,
            }),
    );
    v.sort_by_key(|e| (u32::from(e.addr), e.ifname.clone()));
    v
}

/// Sends one ARP packet from our link-level address.
fn send(
    ctx: &mut Ctx,
    ifp: &Ifnet,
    op: u16,
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
    dst: [u8; 6],
) -> Result<(), i32> {
    send_as(ctx, ifp, ifp.lladdr, op, spa, tha, tpa, dst)
}

/// Sends one ARP packet naming `sha` as the sender's link-level address (a published
/// entry's address, for proxy ARP).
#[allow(clippy::too_many_arguments)]
fn send_as(
    ctx: &mut Ctx,
    ifp: &Ifnet,
    sha: [u8; 6],
    op: u16,
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
    dst: [u8; 6],
) -> Result<(), i32> {
    let mut buf = [0u8; ARP_LEN];
    ArpRepr { op, sha, spa, tha, tpa }
        .emit(&mut buf)
        .map_err(|_| libc::EINVAL)?;
    ether_output(ctx, ifp, Mbuf::from_slice(&buf), Dst::Link(dst, ETHERTYPE_ARP))
}

/// Announces an address just configured on an interface (gratuitous ARP: a request for
/// our own address), as `arp_ifinit` does.
pub fn arp_announce(ctx: &mut Ctx, ifp: &Ifnet, addr: Ipv4Addr) {
    if send(ctx, ifp, ARPOP_REQUEST, addr, [0; 6], addr, BROADCAST).is_ok() {
        ctx.arpstat.sent_requests += 1;
    }
}
