//! Neighbor Discovery (RFC 4861) and stateless autoconfiguration (RFC 4862): the neighbor
//! cache with its NUD states, address resolution with a bounded hold queue, NS/NA, DAD,
//! router solicitation at interface up, router advertisements (default router list,
//! prefix list, hop limit, MTU, SLAAC addresses with their lifetimes), redirects, and the
//! next-hop decision (`nd6_nexthop`) the output path asks.
//!
//! Everything that input can make grow is bounded: the neighbor cache (`ND_MAXENTRIES`;
//! an entry is made only for a neighbor we resolve or that names itself in a message for
//! one of our addresses, and the stalest gives way when full, so an NS flood for random
//! targets makes none at all), hold queues, routers, prefixes and redirects.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conf::Ctx;
use crate::inet6::ip6::{ip6_output, Out6};
use crate::inet6::{in6f, In6Ifaddr};
use crate::msg::{NdEntryInfo, IFT_LOOP};
use crate::net::ether::ether_frame_out;
use crate::net::ifnet::Ifnet;
use crate::net::route::{control as route_control, Gateway, Rtentry};
use crate::sys::mbuf::Mbuf;
use crate::wire::ethernet::{ether_ntoa, ETHERTYPE_IPV6};
use crate::wire::icmpv6 as ic;
use crate::wire::ip6ext::NH_ICMPV6;
use crate::wire::ipv6::{addr as a6, Ipv6Repr, MIN_MTU};
use crate::wire::ndisc::{self, NdOpt, NdRepr, PrefixInfo};
use crate::wire::route::rtf;

pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// RFC 4861 section 10 constants.
pub const REACHABLE_TIME: Duration = Duration::from_secs(30);
pub const RETRANS_TIMER: Duration = Duration::from_secs(1);
pub const DELAY_FIRST_PROBE_TIME: Duration = Duration::from_secs(5);
pub const MAX_MULTICAST_SOLICIT: u32 = 3;
pub const MAX_UNICAST_SOLICIT: u32 = 3;
pub const MAX_RTR_SOLICITATIONS: u32 = 3;
pub const RTR_SOLICITATION_INTERVAL: Duration = Duration::from_secs(4);
/// How long a stale entry nobody uses is kept.
pub const STALE_GC: Duration = Duration::from_secs(1200);
/// How long a redirect holds.
pub const REDIRECT_EXPIRE: Duration = Duration::from_secs(600);

/// Bounds.
pub const ND_MAXENTRIES: usize = 1024;
pub const ND_MAXHOLD: usize = 16;
pub const MAX_DEFROUTERS: usize = 16;
pub const MAX_PREFIXES: usize = 64;
pub const MAX_REDIRECTS: usize = 256;

/// Neighbor unreachability detection states (RFC 4861 7.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nud {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
}

impl Nud {
    pub fn name(self) -> &'static str {
        match self {
            Nud::Incomplete => "INCOMPLETE",
            Nud::Reachable => "REACHABLE",
            Nud::Stale => "STALE",
            Nud::Delay => "DELAY",
            Nud::Probe => "PROBE",
        }
    }
}

/// One neighbor cache entry.
#[derive(Debug)]
pub struct NdEntry {
    pub lladdr: Option<[u8; 6]>,
    pub state: Nud,
    pub is_router: bool,
    /// Solicitations sent in this state.
    pub asked: u32,
    /// When the state's timer runs out.
    pub next: Option<Instant>,
    /// Packets waiting for resolution (whole IPv6 packets).
    pub hold: VecDeque<Mbuf>,
    pub touched: Instant,
    /// A static entry (`ndp -s`): REACHABLE with no timer, never evicted, and what
    /// neighbors say does not change it.
    pub permanent: bool,
}

/// A default router (RFC 4861 6.3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefRouter {
    pub ifindex: u16,
    pub addr: Ipv6Addr,
    pub expire: Instant,
    /// The flags byte of its last advertisement (M, O, preference; `ndp -r`).
    pub raflags: u8,
}

/// An on-link prefix learnt from an RA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdPrefix {
    pub ifindex: u16,
    pub prefix: Ipv6Addr,
    pub len: u8,
    pub expire: Option<Instant>,
    /// What the last advertisement of it said (`ndp -p`): the A flag, the valid and
    /// preferred lifetimes in seconds (0xffffffff: infinity), and which router sent it.
    pub autonomous: bool,
    pub vltime: u32,
    pub pltime: u32,
    pub advrtr: Ipv6Addr,
}

/// The ND state of the stack.
#[derive(Debug)]
pub struct NdState {
    pub cache: HashMap<(u16, Ipv6Addr), NdEntry>,
    pub routers: Vec<DefRouter>,
    pub prefixes: Vec<NdPrefix>,
    /// Destination -> (interface, better first hop).
    pub redirects: HashMap<Ipv6Addr, (u16, Ipv6Addr, Instant)>,
    /// The link MTU an RA gave, per interface.
    pub linkmtu: HashMap<u16, u32>,
    /// Router solicitations still to send, per interface, and when the next is due.
    pub rs: HashMap<u16, (u32, Instant)>,
    pub reachable: Duration,
    pub retrans: Duration,
    /// The default route ND put in the table (interface, router), if any.
    pub installed_default: Option<(u16, Ipv6Addr)>,
    /// Entries most allowed (tests lower it).
    pub max_entries: usize,
    /// Proxy entries (`ndp -s ADDR MAC proxy`): solicitations for ADDR on the interface
    /// are answered with MAC.
    pub proxies: HashMap<(u16, Ipv6Addr), [u8; 6]>,
}

impl Default for NdState {
    fn default() -> Self {
        NdState {
            cache: HashMap::new(),
            routers: Vec::new(),
            prefixes: Vec::new(),
            redirects: HashMap::new(),
            linkmtu: HashMap::new(),
            rs: HashMap::new(),
            reachable: REACHABLE_TIME,
            retrans: RETRANS_TIMER,
            installed_default: None,
            max_entries: ND_MAXENTRIES,
            proxies: HashMap::new(),
        }
    }
}

/// What `nd6_resolve` decided.
pub enum Resolved {
    Now([u8; 6], Mbuf),
    Held,
    Down,
}

/// Adds the routes of an address (its connected network and the local host route).
pub fn connected_add(ctx: &mut Ctx, ifindex: u16, addr: Ipv6Addr, len: u8) {
    route_control::rt_ifa_add(ctx, ifindex, IpAddr::V6(addr), len);
}

/// Removes the routes of an address that is gone from `ctx.inet6.addrs` (the connected
/// one stays while another address of the interface is on the network).
pub fn connected_del(ctx: &mut Ctx, ifindex: u16, addr: Ipv6Addr, len: u8) {
    route_control::rt_ifa_del(ctx, ifindex, IpAddr::V6(addr), len);
}

/// Keeps the default route in the table pointing at the first router of the default
/// router list (RFC 4861 6.3.6), or takes away the one ND put there when the list is empty.
/// A default route someone else added (`route add -inet6 default ...`) is left alone.
fn defrouter_select(ctx: &mut Ctx) {
    let want = ctx.inet6.nd.routers.first().map(|r| (r.ifindex, r.addr));
    let have = ctx.inet6.nd.installed_default;
    if want == have {
        return;
    }
    if let Some((i, g)) = have {
        let ours = ctx
            .rt
            .inet6
            .get_exact(Ipv6Addr::UNSPECIFIED, 0)
            .is_some_and(|r| r.ifindex == i && r.gateway == Gateway::Inet(g));
        if ours {
            let _ = route_control::rt_delete_entry(ctx, Ipv6Addr::UNSPECIFIED, 0);
        }
        ctx.inet6.nd.installed_default = None;
    }
    if let Some((i, g)) = want {
        let r = Rtentry::new(
            Ipv6Addr::UNSPECIFIED,
            0,
            Gateway::Inet(g),
            i,
            Ipv6Addr::UNSPECIFIED,
            rtf::UP | rtf::GATEWAY,
        );
        if route_control::rt_add_entry(ctx, r).is_ok() {
            ctx.inet6.nd.installed_default = Some((i, g));
        }
    }
}

fn up_if(ctx: &Ctx, index: u16) -> Option<Arc<Ifnet>> {
    ctx.ifnet_by_index(index).filter(|i| i.is_up()).cloned()
}

/// The interface and first hop for `dst`: a multicast or link-local destination on the
/// interface its scope names; a redirect; a connected or on-link prefix (longest match);
/// otherwise a default router, preferring one not known to be unreachable.
pub fn nd6_nexthop(ctx: &Ctx, dst: &Ipv6Addr, scope: Option<u16>) -> Option<(Arc<Ifnet>, Ipv6Addr)> {
    if dst.is_multicast() || a6::is_link_local(dst) {
        let ifp = match scope {
            Some(s) => up_if(ctx, s)?,
            None => {
                // Without a scope: the one up interface that is not loopback, if only one.
                let mut it = ctx.ifnets.iter().filter(|i| i.is_up() && i.if_type != IFT_LOOP);
                let one = it.next()?.clone();
                if it.next().is_some() {
                    return None;
                }
                one
            }
        };
        return Some((ifp, *dst));
    }
    let nd = &ctx.inet6.nd;
    if let Some((i, t, _)) = nd.redirects.get(dst) {
        if let Some(ifp) = up_if(ctx, *i) {
            return Some((ifp, *t));
        }
    }
    // The routing table, and the on-link prefixes of router advertisements (longest
    // match of the two).
    let rt = ctx
        .rt
        .inet6
        .lookup(*dst)
        .filter(|r| r.flags & (rtf::REJECT | rtf::BLACKHOLE) == 0);
    let onlink = nd
        .prefixes
        .iter()
        .filter(|p| a6::mask(dst, p.len) == p.prefix && up_if(ctx, p.ifindex).is_some())
        .max_by_key(|p| p.len);
    match (rt, onlink) {
        (Some(r), p) if p.is_none_or(|p| p.len <= r.len) => {
            let ifp = up_if(ctx, r.ifindex)?;
            match r.gateway {
                Gateway::Inet(g) => Some((ifp, g)),
                Gateway::Link(_) => Some((ifp, *dst)),
            }
        }
        (_, Some(p)) => Some((up_if(ctx, p.ifindex)?, *dst)),
        _ => None,
    }
}

/// Makes room for one entry; false if the cache cannot give any.
fn make_room(ctx: &mut Ctx) -> bool {
    let nd = &mut ctx.inet6.nd;
    if nd.cache.len() < nd.max_entries {
        return true;
    }
    let victim = nd
        .cache
        .iter()
        .filter(|(_, e)| !e.permanent)
        .min_by_key(|(_, e)| (e.state == Nud::Reachable, e.touched))
        .map(|(k, _)| *k);
    match victim {
        Some(k) => {
            if let Some(e) = nd.cache.remove(&k) {
                ctx.inet6.icmp6stat.nd_holddropped += e.hold.len() as u64;
            }
            ctx.inet6.icmp6stat.nd_evicted += 1;
            true
        }
        None => false,
    }
}

fn new_entry(state: Nud, lladdr: Option<[u8; 6]>) -> NdEntry {
    let now = Instant::now();
    NdEntry {
        lladdr,
        state,
        is_router: false,
        asked: 0,
        next: None,
        hold: VecDeque::new(),
        touched: now,
        permanent: false,
    }
}

/// Finds the link-level address of `nexthop` on `ifp`, holding `pkt` and soliciting it
/// when unknown (RFC 4861 7.2.2, 7.3.3).
pub fn nd6_resolve(ctx: &mut Ctx, ifp: &Ifnet, nexthop: &Ipv6Addr, pkt: Mbuf) -> Resolved {
    let key = (ifp.index, *nexthop);
    let now = Instant::now();
    if let Some(e) = ctx.inet6.nd.cache.get_mut(&key) {
        e.touched = now;
        match (e.state, e.lladdr) {
            (Nud::Incomplete, _) | (_, None) => {
                if e.hold.len() >= ND_MAXHOLD {
                    e.hold.pop_front();
                    ctx.inet6.icmp6stat.nd_holddropped += 1;
                }
                e.hold.push_back(pkt);
                return Resolved::Held;
            }
            (Nud::Stale, Some(m)) => {
                e.state = Nud::Delay;
                e.next = Some(now + DELAY_FIRST_PROBE_TIME);
                return Resolved::Now(m, pkt);
            }
            (_, Some(m)) => return Resolved::Now(m, pkt),
        }
    }
    if !make_room(ctx) {
        return Resolved::Down;
    }
    let mut e = new_entry(Nud::Incomplete, None);
    e.asked = 1;
    e.next = Some(now + ctx.inet6.nd.retrans);
    // The source of the solicitation: the held packet's, when it is ours (7.2.2).
    let src = crate::wire::ipv6::Ipv6Packet::new_checked(pkt.as_slice())
        .ok()
        .map(|p| p.src());
    e.hold.push_back(pkt);
    ctx.inet6.nd.cache.insert(key, e);
    if let Some(ifp) = ctx.ifnet_by_index(ifp.index).cloned() {
        ns_send(ctx, &ifp, nexthop, None, src);
    }
    Resolved::Held
}

/// A usable link-local address of an interface.
fn linklocal(ctx: &Ctx, ifindex: u16) -> Option<Ipv6Addr> {
    ctx.inet6
        .addrs
        .iter()
        .find(|x| x.ifindex == ifindex && a6::is_link_local(&x.addr) && x.usable())
        .map(|x| x.addr)
}

/// Sends an NS for `target`: to `unicast` (a NUD probe) or its solicited-node group, from
/// `src` if it is ours on this interface (else the interface's own address); from the
/// unspecified address (DAD) when `src` is `Some(::)`.
pub fn ns_send(ctx: &mut Ctx, ifp: &Arc<Ifnet>, target: &Ipv6Addr, unicast: Option<Ipv6Addr>, src: Option<Ipv6Addr>) {
    let dad = src == Some(Ipv6Addr::UNSPECIFIED);
    let src = if dad {
        Ipv6Addr::UNSPECIFIED
    } else {
        let ours = src.filter(|s| {
            ctx.inet6
                .addrs
                .iter()
                .any(|x| x.addr == *s && x.ifindex == ifp.index && x.usable())
        });
        match ours
            .or_else(|| crate::inet6::in6_selectsrc(ctx, target, Some(ifp.index)))
            .or_else(|| linklocal(ctx, ifp.index))
        {
            Some(s) => s,
            None => return,
        }
    };
    let dst = unicast.unwrap_or_else(|| a6::solicited_node(target));
    let opts: &[NdOpt] = if dad { &[] } else { &[NdOpt::SourceLla(ifp.lladdr)] };
    let m = NdRepr::NeighborSolicit {
        target: *target,
        opts: &[],
    }
    .build(opts, &src, &dst);
    nd_output(ctx, ifp, src, dst, &m);
}

/// Sends an ND message with hop limit 255 on `ifp`.
fn nd_output(ctx: &mut Ctx, ifp: &Arc<Ifnet>, src: Ipv6Addr, dst: Ipv6Addr, m: &[u8]) {
    if let Some(c) = ctx.inet6.icmp6stat.outhist.get_mut(usize::from(m[0])) {
        *c += 1;
    }
    let _ = ip6_output(
        ctx,
        &Out6 {
            src: Some(src),
            dst,
            ifindex: Some(ifp.index),
            nh: NH_ICMPV6,
            hlim: Some(255),
            hbh: None,
            payload: m,
            min_mtu: true,
        },
    );
}

/// An advertisement for an address of ours; `over`: the override flag (not for an anycast
/// address, RFC 4861 7.2.7).
fn na_send(ctx: &mut Ctx, ifp: &Arc<Ifnet>, target: &Ipv6Addr, dst: Ipv6Addr, solicited: bool, over: bool) {
    let mut flags = if over { ndisc::NA_OVERRIDE } else { 0 };
    if solicited {
        flags |= ndisc::NA_SOLICITED;
    }
    if ctx.inet6.forwarding {
        flags |= ndisc::NA_ROUTER;
    }
    let m = NdRepr::NeighborAdvert {
        flags,
        target: *target,
        opts: &[],
    }
    .build(&[NdOpt::TargetLla(ifp.lladdr)], target, &dst);
    nd_output(ctx, ifp, *target, dst, &m);
}

/// Input of an ND message (`m` the whole ICMPv6 message, checksum verified).
pub fn nd6_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, h: &Ipv6Repr, m: &[u8]) {
    let st = &mut ctx.inet6.icmp6stat;
    let bad = |st: &mut crate::msg::Icmp6Stats| match m[0] {
        ic::ND_ROUTER_SOLICIT => st.badrs += 1,
        ic::ND_ROUTER_ADVERT => st.badra += 1,
        ic::ND_NEIGHBOR_SOLICIT => st.badns += 1,
        ic::ND_NEIGHBOR_ADVERT => st.badna += 1,
        _ => st.badredirect += 1,
    };
    // Only from the link itself (RFC 4861 6.1, 7.1, 8.1).
    if h.hop_limit != 255 || ifp.if_type == IFT_LOOP {
        bad(st);
        return;
    }
    let r = match NdRepr::parse(m) {
        Ok(r) => r,
        Err(_) => {
            st.nd_badopt += 1;
            bad(st);
            return;
        }
    };
    match r {
        NdRepr::NeighborSolicit { target, .. } => ns_input(ctx, ifp, h, &r, target),
        NdRepr::NeighborAdvert { flags, target, .. } => na_input(ctx, ifp, h, &r, flags, target),
        NdRepr::RouterAdvert { .. } => ra_input(ctx, ifp, h, &r),
        NdRepr::Redirect { target, dest, .. } => redirect_input(ctx, ifp, h, &r, target, dest),
        // A host does not answer solicitations for routers.
        NdRepr::RouterSolicit { .. } => {}
    }
}

/// Records a neighbor's link-level address from a message that names it (NS for us, RA,
/// redirect): a new entry or a changed address becomes STALE (RFC 4861 7.2.3, 6.3.4).
fn cache_lladdr(ctx: &mut Ctx, ifp: &Arc<Ifnet>, addr: Ipv6Addr, ll: [u8; 6], router: bool) {
    let key = (ifp.index, addr);
    if !ctx.inet6.nd.cache.contains_key(&key) {
        if !make_room(ctx) {
            return;
        }
        ctx.inet6.nd.cache.insert(key, new_entry(Nud::Stale, Some(ll)));
    }
    let Some(e) = ctx.inet6.nd.cache.get_mut(&key) else {
        return;
    };
    if e.permanent {
        return;
    }
    e.is_router |= router;
    e.touched = Instant::now();
    if e.lladdr != Some(ll) || e.state == Nud::Incomplete {
        e.lladdr = Some(ll);
        e.state = Nud::Stale;
        e.next = None;
        e.asked = 0;
    }
    let held: Vec<Mbuf> = e.hold.drain(..).collect();
    for m in held {
        let _ = ether_frame_out(ifp, m, ll, ETHERTYPE_IPV6);
    }
}

fn ns_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, h: &Ipv6Repr, r: &NdRepr<'_>, target: Ipv6Addr) {
    let slla = r.source_lla();
    let dad = h.src.is_unspecified();
    if target.is_multicast() || (dad && (h.dst != a6::solicited_node(&target) || slla.is_some())) {
        ctx.inet6.icmp6stat.badns += 1;
        return;
    }
    let Some(ia) = ctx
        .inet6
        .addrs
        .iter()
        .find(|x| x.ifindex == ifp.index && x.addr == target)
        .cloned()
    else {
        if let Some(mac) = ctx.inet6.nd.proxies.get(&(ifp.index, target)).copied() {
            proxy_na(ctx, ifp, h, slla, target, mac);
        }
        return;
    };
    if ia.flags & in6f::TENTATIVE != 0 {
        // Another node probing our tentative address: it is duplicated (RFC 4862 5.4.3).
        if dad {
            dad_duplicated(ctx, ifp, &target, "NS");
        }
        return;
    }
    if ia.flags & in6f::DUPLICATED != 0 {
        return;
    }
    if let Some(ll) = slla {
        if !dad {
            cache_lladdr(ctx, ifp, h.src, ll, false);
        }
    }
    let (dst, solicited) = if dad { (ALL_NODES, false) } else { (h.src, true) };
    na_send(ctx, ifp, &target, dst, solicited, ia.flags & in6f::ANYCAST == 0);
}

/// The answer for a proxied address (NetBSD's nd6_ns_input with RTF_ANNOUNCE): the
/// entry's MAC as target link-layer address, the override flag off (RFC 4861 7.2.8), from
/// an address of ours on the link; to all nodes for a DAD probe, which it defends.
fn proxy_na(ctx: &mut Ctx, ifp: &Arc<Ifnet>, h: &Ipv6Repr, slla: Option<[u8; 6]>, target: Ipv6Addr, mac: [u8; 6]) {
    let dad = h.src.is_unspecified();
    if let (Some(ll), false) = (slla, dad) {
        cache_lladdr(ctx, ifp, h.src, ll, false);
    }
    let dst = if dad { ALL_NODES } else { h.src };
    let Some(src) = crate::inet6::in6_selectsrc(ctx, &dst, Some(ifp.index)) else {
        return;
    };
    let mut flags = if dad { 0 } else { ndisc::NA_SOLICITED };
    if ctx.inet6.forwarding {
        flags |= ndisc::NA_ROUTER;
    }
    let m = NdRepr::NeighborAdvert {
        flags,
        target,
        opts: &[],
    }
    .build(&[NdOpt::TargetLla(mac)], &src, &dst);
    nd_output(ctx, ifp, src, dst, &m);
}

fn na_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, h: &Ipv6Repr, r: &NdRepr<'_>, flags: u32, target: Ipv6Addr) {
    let solicited = flags & ndisc::NA_SOLICITED != 0;
    if target.is_multicast() || (h.dst.is_multicast() && solicited) {
        ctx.inet6.icmp6stat.badna += 1;
        return;
    }
    if let Some(ia) = ctx
        .inet6
        .addrs
        .iter()
        .find(|x| x.ifindex == ifp.index && x.addr == target)
        .cloned()
    {
        if ia.flags & in6f::TENTATIVE != 0 {
            dad_duplicated(ctx, ifp, &target, "NA");
        } else {
            crate::klog_net!(
                ctx.netlog,
                "{}: duplicate IPv6 address {} advertised by {}",
                ifp.name,
                target,
                r.target_lla().map(|m| ether_ntoa(&m)).unwrap_or_else(|| "?".into())
            );
        }
        return;
    }
    let tlla = r.target_lla();
    let router = flags & ndisc::NA_ROUTER != 0;
    let over = flags & ndisc::NA_OVERRIDE != 0;
    let now = Instant::now();
    let reachable = ctx.inet6.nd.reachable;
    let Some(e) = ctx.inet6.nd.cache.get_mut(&(ifp.index, target)) else {
        return;
    };
    if e.permanent {
        return;
    }
    let was_router = e.is_router;
    if e.state == Nud::Incomplete {
        let Some(ll) = tlla else { return };
        e.lladdr = Some(ll);
        e.state = if solicited { Nud::Reachable } else { Nud::Stale };
        e.next = solicited.then(|| now + reachable);
        e.asked = 0;
        e.is_router = router;
        let held: Vec<Mbuf> = e.hold.drain(..).collect();
        for m in held {
            let _ = ether_frame_out(ifp, m, ll, ETHERTYPE_IPV6);
        }
    } else {
        let differs = tlla.is_some_and(|t| Some(t) != e.lladdr);
        if !over && differs {
            if e.state == Nud::Reachable {
                e.state = Nud::Stale;
                e.next = None;
            }
            return;
        }
        if let Some(t) = tlla {
            e.lladdr = Some(t);
        }
        if solicited {
            e.state = Nud::Reachable;
            e.next = Some(now + reachable);
            e.asked = 0;
        } else if differs {
            e.state = Nud::Stale;
            e.next = None;
        }
        e.is_router = router;
    }
    if was_router && !router {
        ctx.inet6
            .nd
            .routers
            .retain(|d| !(d.ifindex == ifp.index && d.addr == target));
    }
}

/// A lifetime in seconds as an expiry (0xffffffff is forever).
fn until(now: Instant, secs: u32) -> Option<Instant> {
    (secs != u32::MAX).then(|| now + Duration::from_secs(u64::from(secs)))
}

fn ra_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, h: &Ipv6Repr, r: &NdRepr<'_>) {
    let NdRepr::RouterAdvert {
        hop_limit,
        flags,
        router_lifetime,
        reachable,
        retrans,
        opts,
        ..
    } = *r
    else {
        return;
    };
    if !a6::is_link_local(&h.src) {
        ctx.inet6.icmp6stat.badra += 1;
        return;
    }
    if !ctx.inet6.accept_rtadv || ctx.inet6.forwarding {
        return;
    }
    let now = Instant::now();
    if hop_limit != 0 {
        ctx.inet6.hlim = hop_limit;
    }
    if reachable != 0 && reachable <= 3_600_000 {
        ctx.inet6.nd.reachable = Duration::from_millis(u64::from(reachable));
    }
    if retrans != 0 && retrans <= 60_000 {
        ctx.inet6.nd.retrans = Duration::from_millis(u64::from(retrans));
    }
    // The default router list.
    let routers = &mut ctx.inet6.nd.routers;
    let pos = routers.iter().position(|d| d.ifindex == ifp.index && d.addr == h.src);
    match (pos, router_lifetime) {
        (Some(i), 0) => {
            routers.remove(i);
        }
        (Some(i), l) => {
            routers[i].expire = now + Duration::from_secs(u64::from(l));
            routers[i].raflags = flags;
        }
        (None, 0) => {}
        (None, l) if routers.len() < MAX_DEFROUTERS => routers.push(DefRouter {
            ifindex: ifp.index,
            addr: h.src,
            expire: now + Duration::from_secs(u64::from(l)),
            raflags: flags,
        }),
        (None, _) => {}
    }
    defrouter_select(ctx);
    for o in ndisc::options(opts).flatten() {
        match o {
            NdOpt::SourceLla(ll) => cache_lladdr(ctx, ifp, h.src, ll, true),
            NdOpt::Mtu(m) => {
                if m as usize >= MIN_MTU && m <= ifp.mtu() {
                    ctx.inet6.nd.linkmtu.insert(ifp.index, m);
                } else {
                    ctx.inet6.icmp6stat.nd_badopt += 1;
                }
            }
            NdOpt::Prefix(pi) => prefix_input(ctx, ifp, &pi, h.src, now),
            _ => {}
        }
    }
    // An RA answers our solicitations.
    ctx.inet6.nd.rs.remove(&ifp.index);
}

/// A prefix information option (RFC 4861 6.3.4, RFC 4862 5.5.3).
fn prefix_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pi: &PrefixInfo, from: Ipv6Addr, now: Instant) {
    if pi.prefix_len == 0 || a6::is_link_local(&pi.prefix) || pi.prefix.is_multicast() || pi.preferred > pi.valid {
        ctx.inet6.icmp6stat.nd_badopt += 1;
        return;
    }
    let prefix = a6::mask(&pi.prefix, pi.prefix_len);
    if pi.on_link {
        let pl = &mut ctx.inet6.nd.prefixes;
        let pos = pl
            .iter()
            .position(|p| p.ifindex == ifp.index && p.prefix == prefix && p.len == pi.prefix_len);
        match (pos, pi.valid) {
            (Some(i), 0) => {
                pl.remove(i);
            }
            (Some(i), v) => {
                let p = &mut pl[i];
                p.expire = until(now, v);
                (p.autonomous, p.vltime, p.pltime, p.advrtr) = (pi.autonomous, v, pi.preferred, from);
            }
            (None, 0) => {}
            (None, v) if pl.len() < MAX_PREFIXES => pl.push(NdPrefix {
                ifindex: ifp.index,
                prefix,
                len: pi.prefix_len,
                expire: until(now, v),
                autonomous: pi.autonomous,
                vltime: v,
                pltime: pi.preferred,
                advrtr: from,
            }),
            (None, _) => {}
        }
    }
    // SLAAC: an Ethernet interface identifier is 64 bits, so only /64 prefixes.
    if !pi.autonomous || pi.prefix_len != 64 || ifp.if_type == IFT_LOOP {
        return;
    }
    let addr = a6::with_iid(&prefix, &a6::eui64(&ifp.lladdr));
    let existing = ctx
        .inet6
        .addrs
        .iter()
        .position(|x| x.ifindex == ifp.index && x.flags & in6f::AUTOCONF != 0 && a6::mask(&x.addr, 64) == prefix);
    match existing {
        Some(i) if pi.valid == 0 => {
            // A zero valid lifetime withdraws the address at once.
            let a = ctx.inet6.addrs[i].addr;
            let _ = crate::inet6::in6_deladdr(ctx, ifp, a);
        }
        Some(i) => {
            let ia = &mut ctx.inet6.addrs[i];
            // RFC 4862 5.5.3 (e): the "two hours" rule against a forged short lifetime.
            let two_h = Duration::from_secs(7200);
            let remaining = ia.valid_until.map(|t| t.saturating_duration_since(now));
            let v = u64::from(pi.valid);
            if pi.valid == u32::MAX || v > 7200 || remaining.is_some_and(|r| Duration::from_secs(v) > r) {
                ia.valid_until = until(now, pi.valid);
            } else if remaining.is_none_or(|r| r > two_h) {
                ia.valid_until = Some(now + two_h);
            }
            ia.preferred_until = until(now, pi.preferred);
            if pi.preferred > 0 {
                ia.flags &= !in6f::DEPRECATED;
            } else {
                ia.flags |= in6f::DEPRECATED;
            }
        }
        None if pi.valid > 0 => {
            let ia = In6Ifaddr {
                ifindex: ifp.index,
                addr,
                prefixlen: 64,
                flags: in6f::AUTOCONF | if pi.preferred == 0 { in6f::DEPRECATED } else { 0 },
                valid_until: until(now, pi.valid),
                preferred_until: until(now, pi.preferred),
                dad_left: 0,
                dad_next: None,
            };
            let _ = crate::inet6::in6_addaddr(ctx, ifp, ia);
        }
        None => {}
    }
}

fn redirect_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, h: &Ipv6Repr, r: &NdRepr<'_>, target: Ipv6Addr, dest: Ipv6Addr) {
    let first_hop = nd6_nexthop(ctx, &dest, Some(ifp.index)).map(|(i, n)| (i.index, n));
    if !a6::is_link_local(&h.src)
        || dest.is_multicast()
        || !(a6::is_link_local(&target) || target == dest)
        || first_hop != Some((ifp.index, h.src))
    {
        ctx.inet6.icmp6stat.badredirect += 1;
        return;
    }
    if !ctx.inet6.rediraccept || ctx.inet6.forwarding {
        return;
    }
    let now = Instant::now();
    let rd = &mut ctx.inet6.nd.redirects;
    if rd.len() >= MAX_REDIRECTS && !rd.contains_key(&dest) {
        if let Some(k) = rd.iter().min_by_key(|(_, v)| v.2).map(|(k, _)| *k) {
            rd.remove(&k);
        }
    }
    rd.insert(dest, (ifp.index, target, now));
    if let Some(ll) = r.target_lla() {
        cache_lladdr(ctx, ifp, target, ll, target != dest);
    }
}

/// The most of the offending packet a redirect carries: the redirect, with its IPv6
/// header, target link-layer option and the redirected header option's own 8 bytes, fits
/// the minimum MTU (RFC 4861 4.5 and 8.2), in whole 8-byte units.
pub const REDIRECT_QUOTE_MAX: usize = (MIN_MTU - 40 - 40 - 8 - 8) & !7;

/// Whether `a` is a neighbor on `ifp`'s link: link-local (the packet came in there), or
/// on a prefix that is on-link through `ifp` (NetBSD's `nd6_is_addr_neighbor`).
fn is_neighbor(ctx: &Ctx, ifp: &Ifnet, a: &Ipv6Addr) -> bool {
    if a6::is_link_local(a) {
        return true;
    }
    nd6_nexthop(ctx, a, Some(ifp.index)).is_some_and(|(i, n)| i.index == ifp.index && n == *a)
}

/// Sends a redirect (RFC 4861 8.2) to the sender of `pkt`, which came in on `ifp` and
/// leaves through it again towards `nexthop`: the target is the next hop when it is a
/// router named by its link-local address, or the destination itself when that is
/// on-link; a router known only by a global address cannot be named (RFC 4861 8.2, as
/// NetBSD's `icmp6_redirect_output`). The target's link-layer address goes with it when
/// the neighbor cache has it, and as much of `pkt` as fits 1280 bytes. Rate limited as
/// errors are; counted in the output histogram.
pub fn redirect_output(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pkt: &[u8], nexthop: &Ipv6Addr) {
    if pkt.len() < 40 {
        return;
    }
    let ip = crate::wire::ipv6::Ipv6Packet::new_unchecked(pkt);
    let (src, dst) = (ip.src(), ip.dst());
    if dst.is_multicast() || src.is_unspecified() || src.is_multicast() || !is_neighbor(ctx, ifp, &src) {
        return;
    }
    let target = if *nexthop == dst {
        dst
    } else if a6::is_link_local(nexthop) {
        *nexthop
    } else {
        return;
    };
    // Redirects go from our link-local address on that link (RFC 4861 4.5).
    let Some(from) = linklocal(ctx, ifp.index) else {
        return;
    };
    if !ctx.inet6.icmp_limit.check() {
        ctx.inet6.icmp6stat.toofreq += 1;
        return;
    }
    let mut opts = Vec::with_capacity(2);
    if let Some(ll) = ctx
        .inet6
        .nd
        .cache
        .get(&(ifp.index, target))
        .filter(|e| e.state != Nud::Incomplete)
        .and_then(|e| e.lladdr)
    {
        opts.push(NdOpt::TargetLla(ll));
    }
    let quote = &pkt[..pkt.len().min(REDIRECT_QUOTE_MAX)];
    opts.push(NdOpt::Redirected(quote));
    let m = NdRepr::Redirect {
        target,
        dest: dst,
        opts: &[],
    }
    .build(&opts, &from, &src);
    ctx.inet6.stat.redirectsent += 1;
    nd_output(ctx, ifp, from, src, &m);
}

/// DAD found `addr` in use by another node (RFC 4862 5.4.5).
pub fn dad_duplicated(ctx: &mut Ctx, ifp: &Arc<Ifnet>, addr: &Ipv6Addr, by: &str) {
    let Some(ia) = ctx
        .inet6
        .addrs
        .iter_mut()
        .find(|x| x.ifindex == ifp.index && x.addr == *addr)
    else {
        return;
    };
    ia.flags = (ia.flags & !in6f::TENTATIVE) | in6f::DUPLICATED;
    ia.dad_next = None;
    ia.dad_left = 0;
    ctx.inet6.icmp6stat.dad_duplicated += 1;
    crate::klog!(
        "{}: DAD detected duplicate IPv6 address {} ({} in); manual intervention required",
        ifp.name,
        addr,
        by
    );
}

/// Sends due DAD probes and ends DAD for addresses that drew no answer.
pub fn dad_timer(ctx: &mut Ctx) {
    let now = Instant::now();
    let retrans = ctx.inet6.nd.retrans;
    let mut probe = Vec::new();
    let mut done = Vec::new();
    for ia in ctx.inet6.addrs.iter_mut() {
        if ia.flags & in6f::TENTATIVE == 0 || ia.dad_next.is_none_or(|t| t > now) {
            continue;
        }
        if ia.dad_left > 0 {
            ia.dad_left -= 1;
            ia.dad_next = Some(now + retrans);
            probe.push((ia.ifindex, ia.addr));
        } else {
            ia.flags &= !in6f::TENTATIVE;
            ia.dad_next = None;
            done.push(ia.ifindex);
        }
    }
    for (i, a) in probe {
        match up_if(ctx, i) {
            Some(ifp) => ns_send(ctx, &ifp, &a, None, Some(Ipv6Addr::UNSPECIFIED)),
            // Down: probe once it comes up.
            None => {
                if let Some(ia) = ctx.inet6.addrs.iter_mut().find(|x| x.ifindex == i && x.addr == a) {
                    ia.dad_left += 1;
                    ia.dad_next = None;
                }
            }
        }
    }
    // A link-local address that just became usable lets the router solicitations go.
    if !done.is_empty() {
        rs_timer(ctx);
    }
}

/// Asks for routers on an interface that came up (RFC 4861 6.3.7).
pub fn rs_start(ctx: &mut Ctx, ifindex: u16) {
    if ctx.inet6.accept_rtadv && !ctx.inet6.forwarding {
        ctx.inet6.nd.rs.insert(ifindex, (MAX_RTR_SOLICITATIONS, Instant::now()));
    }
}

fn rs_timer(ctx: &mut Ctx) {
    let now = Instant::now();
    let due: Vec<u16> = ctx
        .inet6
        .nd
        .rs
        .iter()
        .filter(|(_, (left, next))| *left > 0 && *next <= now)
        .map(|(i, _)| *i)
        .collect();
    for i in due {
        let Some(ifp) = up_if(ctx, i) else {
            ctx.inet6.nd.rs.remove(&i);
            continue;
        };
        // Wait for the link-local address to pass DAD, then send with it.
        let Some(src) = linklocal(ctx, i) else { continue };
        let m = NdRepr::RouterSolicit { opts: &[] }.build(&[NdOpt::SourceLla(ifp.lladdr)], &src, &ALL_ROUTERS);
        nd_output(ctx, &ifp, src, ALL_ROUTERS, &m);
        if let Some(e) = ctx.inet6.nd.rs.get_mut(&i) {
            e.0 -= 1;
            e.1 = now + RTR_SOLICITATION_INTERVAL;
            if e.0 == 0 {
                ctx.inet6.nd.rs.remove(&i);
            }
        }
    }
}

/// The ND timer (twice a second): NUD state changes and retransmissions, expiry of
/// routers, prefixes, redirects and address lifetimes, DAD, router solicitations.
pub fn nd6_timer(ctx: &mut Ctx) {
    let now = Instant::now();
    let retrans = ctx.inet6.nd.retrans;
    // (ifindex, addr, unicast probe?) solicitations to send; held packets given up on.
    let mut solicit = Vec::new();
    let mut unreach = Vec::new();
    ctx.inet6.nd.cache.retain(|(i, a), e| {
        let due = e.next.is_some_and(|t| t <= now);
        match e.state {
            Nud::Incomplete if due => {
                if e.asked >= MAX_MULTICAST_SOLICIT {
                    if let Some(p) = e.hold.pop_front() {
                        unreach.push((*i, p));
                    }
                    return false;
                }
                e.asked += 1;
                e.next = Some(now + retrans);
                solicit.push((*i, *a, false));
            }
            Nud::Reachable if due => {
                e.state = Nud::Stale;
                e.next = None;
            }
            Nud::Delay if due => {
                e.state = Nud::Probe;
                e.asked = 1;
                e.next = Some(now + retrans);
                solicit.push((*i, *a, true));
            }
            Nud::Probe if due => {
                if e.asked >= MAX_UNICAST_SOLICIT {
                    return false;
                }
                e.asked += 1;
                e.next = Some(now + retrans);
                solicit.push((*i, *a, true));
            }
            Nud::Stale => return now.duration_since(e.touched) < STALE_GC,
            _ => {}
        }
        true
    });
    for (i, a, uni) in solicit {
        if let Some(ifp) = up_if(ctx, i) {
            ns_send(ctx, &ifp, &a, uni.then_some(a), None);
        }
    }
    for (i, m) in unreach {
        ctx.inet6.icmp6stat.nd_holddropped += 1;
        if let Some(ifp) = ctx.ifnet_by_index(i).cloned() {
            crate::inet6::icmp6::icmp6_error(ctx, &ifp, m.as_slice(), ic::DST_UNREACH, ic::UNREACH_ADDR, 0);
        }
    }
    let nd = &mut ctx.inet6.nd;
    nd.routers.retain(|r| r.expire > now);
    nd.prefixes.retain(|p| p.expire.is_none_or(|t| t > now));
    nd.redirects.retain(|_, v| now.duration_since(v.2) < REDIRECT_EXPIRE);
    defrouter_select(ctx);
    // Address lifetimes: deprecated when no longer preferred, gone when no longer valid.
    let mut gone = Vec::new();
    for ia in ctx.inet6.addrs.iter_mut() {
        if ia.preferred_until.is_some_and(|t| t <= now) {
            ia.flags |= in6f::DEPRECATED;
        }
        if ia.valid_until.is_some_and(|t| t <= now) {
            gone.push((ia.ifindex, ia.addr));
        }
    }
    for (i, a) in gone {
        if let Some(ifp) = ctx.ifnet_by_index(i).cloned() {
            let _ = crate::inet6::in6_deladdr(ctx, &ifp, a);
        }
    }
    dad_timer(ctx);
    rs_timer(ctx);
}

/// Forgets the ND state of an interface that went away.
pub fn purge_if(ctx: &mut Ctx, index: u16) {
    let nd = &mut ctx.inet6.nd;
    nd.cache.retain(|(i, _), _| *i != index);
    nd.proxies.retain(|(i, _), _| *i != index);
    nd.routers.retain(|r| r.ifindex != index);
    nd.prefixes.retain(|p| p.ifindex != index);
    nd.redirects.retain(|_, v| v.0 != index);
    nd.linkmtu.remove(&index);
    nd.rs.remove(&index);
    if nd.installed_default.is_some_and(|d| d.0 == index) {
        nd.installed_default = None;
    }
    defrouter_select(ctx);
}

/// The neighbor cache as `ndp -a` lists it.
pub fn nd6_dump(ctx: &Ctx) -> Vec<NdEntryInfo> {
    let now = Instant::now();
    let mut v: Vec<NdEntryInfo> = ctx
        .inet6
        .nd
        .cache
        .iter()
        .map(|((i, a), e)| NdEntryInfo {
            addr: *a,
            ifname: ctx.ifnet_by_index(*i).map(|f| f.name.clone()).unwrap_or_default(),
            lladdr: e.lladdr,
            state: e.state.name().into(),
            is_router: e.is_router,
            // A stale entry has no timer running; what ends it is the collection of
            // entries nobody used for STALE_GC.
            expire: match (e.state, e.next) {
                (Nud::Stale, None) => Some(
                    STALE_GC
                        .saturating_sub(now.saturating_duration_since(e.touched))
                        .as_secs(),
                ),
                (_, n) => n.map(|t| t.saturating_duration_since(now).as_secs()),
            },
            asked: if matches!(e.state, Nud::Incomplete | Nud::Probe) {
                e.asked
            } else {
                0
            },
            proxy: false,
        })
        .collect();
    v.extend(ctx.inet6.nd.proxies.iter().map(|((i, a), mac)| NdEntryInfo {
        addr: *a,
        ifname: ctx.ifnet_by_index(*i).map(|f| f.name.clone()).unwrap_or_default(),
        lladdr: Some(*mac),
        state: Nud::Reachable.name().into(),
        is_router: false,
        expire: None,
        asked: 0,
        proxy: true,
    }));
    v.sort_by(|a, b| (a.addr, &a.ifname).cmp(&(b.addr, &b.ifname)));
    v
}
