//! IPv6 (the v6 variant only: io-pkt-v6-hc and io-pkt): interface addresses
//! (`in6_control`), the IPv6 state of the stack context, and the protocols: ip6 (input,
//! output, forwarding, fragmentation), frag6 (reassembly), icmp6, nd6 (Neighbor
//! Discovery, DAD, router and prefix lists, SLAAC) and mld6 (MLDv2 reports).

pub mod frag6;
pub mod icmp6;
pub mod ip6;
pub mod mld6;
pub mod nd6;
pub mod ndctl;
pub mod ni6;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use crate::conf::Ctx;
use crate::msg::{AddrReq, Icmp6Stats, IfAddr, IfaMsg, Ip6Stats, Msg};
use crate::net::if_control::{announce_ifinfo, Fail};
use crate::net::ifnet::Ifnet;
use crate::sys::callout::{Timer, SLOW};
use crate::sys::domain::{Domain, Protosw};
use crate::sys::Variant;
use crate::wire::ipv6::addr as a6;

pub use crate::msg::in6f;

/// One IPv6 address of an interface (`struct in6_ifaddr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct In6Ifaddr {
    pub ifindex: u16,
    pub addr: Ipv6Addr,
    pub prefixlen: u8,
    pub flags: u32,
    /// When the address stops being valid (and goes) and preferred (and is deprecated);
    /// None: forever.
    pub valid_until: Option<Instant>,
    pub preferred_until: Option<Instant>,
    /// DAD: probes still to send and when the next step is due.
    pub dad_left: u32,
    pub dad_next: Option<Instant>,
}

impl In6Ifaddr {
    /// Usable as a source or destination: not tentative, not duplicated.
    pub fn usable(&self) -> bool {
        self.flags & (in6f::TENTATIVE | in6f::DUPLICATED) == 0
    }

    pub fn netmask(&self) -> Ipv6Addr {
        a6::mask(&Ipv6Addr::from(u128::MAX), self.prefixlen)
    }

    fn msg(&self, ifname: &str) -> IfaMsg {
        IfaMsg {
            ifam_index: self.ifindex,
            ifam_flags: self.flags,
            ifam_metric: 0,
            ifname: ifname.to_string(),
            ifa: IpAddr::V6(self.addr),
            netmask: IpAddr::V6(self.netmask()),
            brd: None,
        }
    }

    pub fn to_ifaddr(&self) -> IfAddr {
        IfAddr {
            addr: IpAddr::V6(self.addr),
            netmask: IpAddr::V6(self.netmask()),
            brd: None,
            tentative: self.flags & in6f::TENTATIVE != 0,
            flags: self.flags,
            scopeid: if a6::is_link_local(&self.addr) {
                u32::from(self.ifindex)
            } else {
                0
            },
            pltime: left(self.preferred_until),
            vltime: left(self.valid_until),
        }
    }
}

/// Seconds left until `t` (None: forever).
fn left(t: Option<Instant>) -> Option<u32> {
    t.map(|t| {
        t.saturating_duration_since(Instant::now())
            .as_secs()
            .min(u64::from(u32::MAX)) as u32
    })
}

/// The IPv6 state of the stack context.
pub struct In6State {
    /// Whether this variant has IPv6 at all (io-pkt-v6-hc, io-pkt).
    pub enabled: bool,
    pub addrs: Vec<In6Ifaddr>,
    /// net.inet6.ip6.forwarding
    pub forwarding: bool,
    /// net.inet6.ip6.accept_rtadv
    pub accept_rtadv: bool,
    /// net.inet6.ip6.hlim (and an RA's current hop limit)
    pub hlim: u8,
    /// net.inet6.ip6.dad_count
    pub dad_count: u32,
    /// net.inet6.ip6.maxfragpackets
    pub maxfragpackets: usize,
    /// net.inet6.icmp6.rediraccept
    pub rediraccept: bool,
    /// net.inet6.ip6.redirect: send redirects when forwarding back out the arrival
    /// interface (RFC 4861 8.2; NetBSD's default 1).
    pub redirect: bool,
    pub stat: Ip6Stats,
    pub icmp6stat: Icmp6Stats,
    pub icmp_limit: crate::inet::icmp::PpsLimit,
    pub nd: nd6::NdState,
    pub reass: frag6::Reass6,
    /// Path MTUs learnt from packet too big (RFC 8201), per destination.
    pub pmtu: HashMap<Ipv6Addr, (u32, Instant)>,
    /// Multicast groups joined, per interface, with a reference count.
    pub groups: Vec<(u16, Ipv6Addr, u32)>,
    /// MLD state-change reports still to be sent again.
    pub mld_pending: Vec<mld6::Pending>,
    /// MLD answers to queries, at most one per interface, not yet due.
    pub mld_answers: Vec<mld6::Answer>,
    /// Wakes the callout thread for a deadline sooner than its planned wake-up.
    pub callout: Arc<crate::sys::callout::Kick>,
    /// Packets to our own addresses, delivered once the sender is done.
    pub loopq: VecDeque<crate::sys::mbuf::Mbuf>,
    /// Fragment identifications.
    pub frag_id: u32,
    /// Whether the ICMPv6 message just taken had a good checksum and length (for the raw
    /// sockets that get a copy after it).
    pub icmp6_ok: bool,
    /// net.inet6.icmp6.nodeinfo (the NODEINFO_* bits of ni6.rs) and the rate limit of
    /// Node Information replies.
    pub nodeinfo: u32,
    pub ni_limit: crate::inet::icmp::PpsLimit,
}

impl Default for In6State {
    fn default() -> Self {
        In6State {
            enabled: false,
            addrs: Vec::new(),
            forwarding: false,
            accept_rtadv: false,
            hlim: 64,
            dad_count: 1,
            maxfragpackets: frag6::MAXFRAGPACKETS,
            rediraccept: true,
            redirect: true,
            stat: Ip6Stats::default(),
            icmp6stat: Icmp6Stats {
                inhist: vec![0; 256],
                outhist: vec![0; 256],
                ..Default::default()
            },
            icmp_limit: crate::inet::icmp::PpsLimit::new(icmp6::ERRPPSLIMIT),
            nd: nd6::NdState::default(),
            reass: frag6::Reass6::default(),
            pmtu: HashMap::new(),
            groups: Vec::new(),
            mld_pending: Vec::new(),
            mld_answers: Vec::new(),
            callout: Default::default(),
            loopq: VecDeque::new(),
            frag_id: crate::sys::random::os_u64() as u32,
            icmp6_ok: false,
            nodeinfo: ni6::NODEINFO_DEFAULT,
            ni_limit: crate::inet::icmp::PpsLimit::new(icmp6::ERRPPSLIMIT),
        }
    }
}

/// The prefix length as a mask, or the length a v6 netmask stands for.
fn prefixlen_of(m: Option<IpAddr>) -> Result<Option<u8>, Fail> {
    match m {
        None => Ok(None),
        Some(IpAddr::V6(m)) => {
            let v = u128::from(m);
            let l = v.leading_ones();
            if v.checked_shl(l).unwrap_or(0) != 0 {
                return Err(Fail::with(libc::EINVAL, format!("prefix mask {m} is not contiguous")));
            }
            Ok(Some(l as u8))
        }
        Some(IpAddr::V4(_)) => Err(Fail::with(libc::EINVAL, "an IPv4 netmask for an IPv6 address".into())),
    }
}

/// Joins a multicast group on an interface (counted; the first join sends a report).
pub fn in6_joingroup(ctx: &mut Ctx, ifp: &Arc<Ifnet>, group: Ipv6Addr) {
    if let Some(g) = ctx.inet6.groups.iter_mut().find(|g| g.0 == ifp.index && g.1 == group) {
        g.2 += 1;
        return;
    }
    ctx.inet6.groups.push((ifp.index, group, 1));
    mld6::mld_report(ctx, ifp, group, true);
}

/// Leaves a multicast group (the last leave sends a report).
pub fn in6_leavegroup(ctx: &mut Ctx, ifp: &Arc<Ifnet>, group: Ipv6Addr) {
    let Some(pos) = ctx.inet6.groups.iter().position(|g| g.0 == ifp.index && g.1 == group) else {
        return;
    };
    ctx.inet6.groups[pos].2 -= 1;
    if ctx.inet6.groups[pos].2 == 0 {
        ctx.inet6.groups.remove(pos);
        mld6::mld_report(ctx, ifp, group, false);
    }
}

/// Whether this interface listens to a multicast group.
pub fn in6_member(ctx: &Ctx, ifindex: u16, group: &Ipv6Addr) -> bool {
    ctx.inet6.groups.iter().any(|g| g.0 == ifindex && g.1 == *group)
}

/// Adds an address to an interface: joins its solicited-node group, starts DAD unless
/// the interface is loopback or `NODAD` is asked, adds the connected route, announces.
pub fn in6_addaddr(ctx: &mut Ctx, ifp: &Arc<Ifnet>, ia: In6Ifaddr) -> Result<(), Fail> {
    if ctx
        .inet6
        .addrs
        .iter()
        .any(|x| x.addr == ia.addr && x.ifindex != ifp.index && !a6::is_link_local(&ia.addr))
    {
        return Err(Fail::new(libc::EEXIST));
    }
    if let Some(old) = ctx
        .inet6
        .addrs
        .iter_mut()
        .find(|x| x.ifindex == ifp.index && x.addr == ia.addr)
    {
        // An update: prefix length and lifetimes; DAD state stays.
        old.prefixlen = ia.prefixlen;
        old.valid_until = ia.valid_until;
        old.preferred_until = ia.preferred_until;
        old.flags =
            (old.flags & (in6f::TENTATIVE | in6f::DUPLICATED)) | (ia.flags & !(in6f::TENTATIVE | in6f::DUPLICATED));
        return Ok(());
    }
    let mut ia = ia;
    let loopback = ifp.if_type == crate::msg::IFT_LOOP;
    if loopback || ia.flags & (in6f::NODAD | in6f::ANYCAST) != 0 || ctx.inet6.dad_count == 0 {
        ia.flags &= !in6f::TENTATIVE;
    } else {
        ia.flags |= in6f::TENTATIVE;
        ia.dad_left = ctx.inet6.dad_count;
        // The first probe waits for the interface to be up; nd6_timer sends it.
        ia.dad_next = Some(Instant::now());
    }
    let msg = ia.msg(&ifp.name);
    let (addr, len) = (ia.addr, ia.prefixlen);
    ctx.inet6.addrs.push(ia);
    if !loopback {
        in6_joingroup(ctx, ifp, a6::solicited_node(&addr));
    }
    ctx.rtsock.broadcast(&Msg::NewAddr(msg));
    nd6::connected_add(ctx, ifp.index, addr, len);
    // Send the first DAD probe now when the interface is up.
    nd6::dad_timer(ctx);
    Ok(())
}

/// Removes one address.
pub fn in6_deladdr(ctx: &mut Ctx, ifp: &Arc<Ifnet>, addr: Ipv6Addr) -> Result<(), Fail> {
    let pos = ctx
        .inet6
        .addrs
        .iter()
        .position(|x| x.ifindex == ifp.index && x.addr == addr)
        .ok_or_else(|| Fail::new(libc::EADDRNOTAVAIL))?;
    let ia = ctx.inet6.addrs.remove(pos);
    if ifp.if_type != crate::msg::IFT_LOOP {
        in6_leavegroup(ctx, ifp, a6::solicited_node(&ia.addr));
    }
    nd6::connected_del(ctx, ia.ifindex, ia.addr, ia.prefixlen);
    ctx.rtsock.broadcast(&Msg::DelAddr(ia.msg(&ifp.name)));
    Ok(())
}

/// SIOCAIFADDR_IN6: `ifconfig IF inet6 ADDR [prefixlen N]`.
pub fn add_addr(ctx: &mut Ctx, req: &AddrReq) -> Result<(), Fail> {
    add_addr_with(ctx, req, 0, None, None)
}

/// SIOCAIFADDR_IN6 with in6_aliasreq's flags (`anycast`) and lifetimes in seconds (None:
/// infinite), as NetBSD's in6_update_ifa takes them: a preferred lifetime longer than the
/// valid one is EINVAL; a valid lifetime of 0 adds nothing; a preferred lifetime of 0
/// makes the address deprecated at once. The ND timer deprecates it when the preferred
/// lifetime runs out and removes it when the valid one does. An anycast address skips DAD
/// (KAME's nd6_dad_start), is never chosen as a source, and is advertised without the
/// override flag.
pub fn add_addr_with(
    ctx: &mut Ctx,
    req: &AddrReq,
    flags: u32,
    pltime: Option<u32>,
    vltime: Option<u32>,
) -> Result<(), Fail> {
    if flags & !in6f::ANYCAST != 0 {
        return Err(Fail::with(libc::EINVAL, "only the anycast flag can be set".into()));
    }
    if pltime.unwrap_or(u32::MAX) > vltime.unwrap_or(u32::MAX) {
        return Err(Fail::with(
            libc::EINVAL,
            "the preferred lifetime is longer than the valid lifetime".into(),
        ));
    }
    if vltime == Some(0) {
        return Ok(());
    }
    if !ctx.inet6.enabled {
        return Err(Fail::new(libc::EAFNOSUPPORT));
    }
    let ifp = ctx
        .ifnet_by_name(&req.name)
        .cloned()
        .ok_or_else(|| Fail::new(libc::ENXIO))?;
    let Some(IpAddr::V6(mut addr)) = req.addr else {
        return Err(Fail::with(libc::EINVAL, "no inet6 address given".into()));
    };
    let prefixlen = prefixlen_of(req.netmask)?.unwrap_or(64);
    if addr.is_unspecified() || addr.is_multicast() {
        return Err(Fail::with(
            libc::EINVAL,
            format!("{addr} cannot be an interface address"),
        ));
    }
    if addr.is_loopback() && ifp.if_type != crate::msg::IFT_LOOP {
        return Err(Fail::with(libc::EINVAL, "::1 belongs on a loopback interface".into()));
    }
    // A link-local address given with the KAME embedded scope in its second word.
    if a6::is_link_local(&addr) {
        let mut s = addr.segments();
        s[1] = 0;
        addr = Ipv6Addr::from(s);
    }
    let now = Instant::now();
    let until = |s: Option<u32>| s.map(|s| now + std::time::Duration::from_secs(u64::from(s)));
    let mut flags = flags;
    if pltime == Some(0) {
        flags |= in6f::DEPRECATED;
    }
    let ia = In6Ifaddr {
        ifindex: ifp.index,
        addr,
        prefixlen,
        flags,
        valid_until: until(vltime),
        preferred_until: until(pltime),
        dad_left: 0,
        dad_next: None,
    };
    let was_up = ifp.is_up();
    if ifp.set_up(true) {
        announce_ifinfo(ctx, &ifp);
    }
    if !was_up {
        if_up(ctx, &ifp);
    }
    in6_addaddr(ctx, &ifp, ia)
}

/// SIOCDIFADDR_IN6.
pub fn del_addr(ctx: &mut Ctx, req: &AddrReq) -> Result<(), Fail> {
    if !ctx.inet6.enabled {
        return Err(Fail::new(libc::EAFNOSUPPORT));
    }
    let ifp = ctx
        .ifnet_by_name(&req.name)
        .cloned()
        .ok_or_else(|| Fail::new(libc::ENXIO))?;
    let Some(IpAddr::V6(mut addr)) = req.addr else {
        return Err(Fail::with(libc::EINVAL, "no inet6 address given".into()));
    };
    if a6::is_link_local(&addr) {
        let mut s = addr.segments();
        s[1] = 0;
        addr = Ipv6Addr::from(s);
    }
    in6_deladdr(ctx, &ifp, addr)
}

/// An interface came up: its link-local address (fe80:: with the EUI-64 of its MAC, or
/// ::1 and fe80::1 on loopback), the all-nodes group, and a router solicitation once the
/// link-local address has passed DAD (`in6_ifattach`).
pub fn if_up(ctx: &mut Ctx, ifp: &Arc<Ifnet>) {
    if !ctx.inet6.enabled {
        return;
    }
    let loopback = ifp.if_type == crate::msg::IFT_LOOP;
    let has_ll = ctx
        .inet6
        .addrs
        .iter()
        .any(|x| x.ifindex == ifp.index && a6::is_link_local(&x.addr));
    if !in6_member(ctx, ifp.index, &nd6::ALL_NODES) {
        in6_joingroup(ctx, ifp, nd6::ALL_NODES);
    }
    if loopback {
        let has_lo = ctx.inet6.addrs.iter().any(|x| x.addr.is_loopback());
        if !has_lo {
            let _ = in6_addaddr(ctx, ifp, plain(ifp.index, Ipv6Addr::LOCALHOST, 128));
        }
        if !has_ll {
            let _ = in6_addaddr(
                ctx,
                ifp,
                plain(ifp.index, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), 64),
            );
        }
        return;
    }
    // DAD restarts for every tentative address when the link comes back (RFC 4862 5.4).
    for ia in ctx.inet6.addrs.iter_mut().filter(|x| x.ifindex == ifp.index) {
        if ia.flags & in6f::TENTATIVE != 0 {
            ia.dad_left = ctx.inet6.dad_count;
            ia.dad_next = Some(Instant::now());
        }
    }
    if !has_ll {
        let ll = a6::with_iid(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), &a6::eui64(&ifp.lladdr));
        let _ = in6_addaddr(ctx, ifp, plain(ifp.index, ll, 64));
    }
    nd6::rs_start(ctx, ifp.index);
    nd6::dad_timer(ctx);
}

fn plain(ifindex: u16, addr: Ipv6Addr, prefixlen: u8) -> In6Ifaddr {
    In6Ifaddr {
        ifindex,
        addr,
        prefixlen,
        flags: 0,
        valid_until: None,
        preferred_until: None,
        dad_left: 0,
        dad_next: None,
    }
}

/// Forgets everything of an interface that is going away.
pub fn purge_if(ctx: &mut Ctx, index: u16, ifname: &str) {
    let gone: Vec<In6Ifaddr> = ctx.inet6.addrs.iter().filter(|x| x.ifindex == index).cloned().collect();
    ctx.inet6.addrs.retain(|x| x.ifindex != index);
    for ia in gone {
        nd6::connected_del(ctx, ia.ifindex, ia.addr, ia.prefixlen);
        ctx.rtsock.broadcast(&Msg::DelAddr(ia.msg(ifname)));
    }
    ctx.inet6.groups.retain(|g| g.0 != index);
    ctx.inet6.mld_pending.retain(|p| p.ifindex != index);
    ctx.inet6.mld_answers.retain(|a| a.ifindex != index);
    nd6::purge_if(ctx, index);
}

/// The addresses of one interface, for ifconfig.
pub fn if_addrs(ctx: &Ctx, index: u16) -> Vec<IfAddr> {
    ctx.inet6
        .addrs
        .iter()
        .filter(|x| x.ifindex == index)
        .map(|x| x.to_ifaddr())
        .collect()
}

/// Whether `a` is one of our addresses (any state), with the entry.
pub fn in6_ifaddr<'a>(ctx: &'a Ctx, a: &Ipv6Addr) -> Option<&'a In6Ifaddr> {
    ctx.inet6.addrs.iter().find(|x| x.addr == *a)
}

/// Source address selection (RFC 6724 section 5, the rules that apply without a policy
/// table): among usable addresses, the destination itself, then the right scope, then
/// not deprecated, then on the outgoing interface, then the longest matching prefix.
pub fn in6_selectsrc(ctx: &Ctx, dst: &Ipv6Addr, out_if: Option<u16>) -> Option<Ipv6Addr> {
    let dscope = a6::scope(dst);
    let mut best: Option<&In6Ifaddr> = None;
    for ia in ctx.inet6.addrs.iter().filter(|x| x.usable()) {
        let sscope = a6::scope(&ia.addr);
        // A link-local source only on its own link.
        if sscope <= 2 && out_if.is_some_and(|o| o != ia.ifindex) {
            continue;
        }
        if ia.addr.is_loopback() && !dst.is_loopback() {
            continue;
        }
        // Never from an anycast address (KAME skips them too).
        if ia.flags & in6f::ANYCAST != 0 {
            continue;
        }
        if ia.addr == *dst {
            return Some(ia.addr);
        }
        let Some(b) = best else {
            best = Some(ia);
            continue;
        };
        let bscope = a6::scope(&b.addr);
        // Rule 2: prefer appropriate scope.
        if bscope != sscope {
            let better = if bscope < sscope {
                bscope < dscope
            } else {
                sscope >= dscope
            };
            if better {
                best = Some(ia);
            }
            continue;
        }
        // Rule 3: avoid deprecated addresses.
        let (bd, sd) = (b.flags & in6f::DEPRECATED != 0, ia.flags & in6f::DEPRECATED != 0);
        if bd != sd {
            if bd {
                best = Some(ia);
            }
            continue;
        }
        // Rule 5: prefer the outgoing interface.
        if let Some(o) = out_if {
            if (b.ifindex == o) != (ia.ifindex == o) {
                if ia.ifindex == o {
                    best = Some(ia);
                }
                continue;
            }
        }
        // Rule 8: longest matching prefix.
        if a6::common_prefix_len(&ia.addr, dst) > a6::common_prefix_len(&b.addr, dst) {
            best = Some(ia);
        }
    }
    best.map(|b| b.addr)
}

/// The inet6 domain: present in io-pkt-v6-hc and io-pkt only. Its timers run ND (NUD,
/// DAD, router solicitations, lifetimes), reassembly timeouts and path MTU expiry in the
/// slow-timeout rhythm; its release hook delivers what was sent to our own addresses.
pub static INET6: Domain = Domain {
    name: "inet6",
    family: libc::AF_INET6,
    present: Variant::has_inet6,
    init: Some(|c, stack| {
        c.inet6.enabled = true;
        c.inet6.callout = stack.callout.clone();
    }),
    // ::1 and fe80::1 on lo0.
    loopback: Some(|c, lo| {
        if_up(c, lo);
        Ok(())
    }),
    protosw: INET6SW,
};

/// The protocol switch of the inet6 domain (`inet6sw`).
pub const INET6SW: &[Protosw] = &[
    Protosw {
        name: "ip6",
        timers: &[Timer {
            name: "frag6",
            period: Some(SLOW),
            run: |c| {
                frag6::frag6_timer(c);
                None
            },
            planned: None,
        }],
        sysctl: &[SYSCTL_NODES],
        release: Some(|c, _| ip6::loopback_drain6(c)),
        stats: Some(|c, s| s.ip6 = Some(c.inet6.stat)),
        ..Protosw::EMPTY
    },
    Protosw {
        name: "icmp6",
        protocol: crate::wire::ip6ext::NH_ICMPV6,
        stats: Some(|c, s| s.icmp6 = Some(c.inet6.icmp6stat.clone())),
        timers: &[
            Timer {
                name: "nd6",
                period: Some(SLOW),
                run: |c| {
                    nd6::nd6_timer(c);
                    None
                },
                planned: None,
            },
            Timer {
                name: "mld6",
                period: None,
                run: mld6::mld_timer,
                planned: None,
            },
            Timer {
                name: "pmtu6",
                period: Some(SLOW),
                run: |c| {
                    icmp6::pmtu_timer(c);
                    None
                },
                planned: None,
            },
        ],
        ..Protosw::EMPTY
    },
];

/// The net.inet6 sysctl nodes (present in the v6 variant only).
pub static SYSCTL_NODES: &[crate::sys::sysctl::Node] = {
    use crate::msg::SysctlValue as V;
    use crate::sys::sysctl::{int, Kind, Node};
    &[
        Node {
            name: "net.inet6.ip6.forwarding",
            desc: "Enable forwarding of INET6 datagrams",
            kind: Kind::Int { min: 0, max: 1 },
            get: |c| V::Int(i64::from(c.inet6.forwarding)),
            set: Some(|c, v| c.inet6.forwarding = int(v) != 0),
        },
        Node {
            name: "net.inet6.ip6.accept_rtadv",
            desc: "Accept router advertisements",
            kind: Kind::Int { min: 0, max: 1 },
            get: |c| V::Int(i64::from(c.inet6.accept_rtadv)),
            set: Some(|c, v| c.inet6.accept_rtadv = int(v) != 0),
        },
        Node {
            name: "net.inet6.ip6.hlim",
            desc: "Default hop limit for an INET6 datagram",
            kind: Kind::Int { min: 1, max: 255 },
            get: |c| V::Int(i64::from(c.inet6.hlim)),
            set: Some(|c, v| c.inet6.hlim = int(v) as u8),
        },
        Node {
            name: "net.inet6.ip6.v6only",
            desc: "Disallow PF_INET6 sockets from connecting to PF_INET sockets",
            kind: Kind::Int { min: 0, max: 1 },
            get: |c| V::Int(i64::from(c.inet.v6only)),
            set: Some(|c, v| c.inet.v6only = int(v) != 0),
        },
        Node {
            name: "net.inet6.ip6.redirect",
            desc: "Enable sending of ICMPv6 redirect messages",
            kind: Kind::Int { min: 0, max: 1 },
            get: |c| V::Int(i64::from(c.inet6.redirect)),
            set: Some(|c, v| c.inet6.redirect = int(v) != 0),
        },
        Node {
            name: "net.inet6.ip6.dad_count",
            desc: "Number of Duplicate Address Detection probes to send",
            kind: Kind::Int { min: 0, max: 10 },
            get: |c| V::Int(i64::from(c.inet6.dad_count)),
            set: Some(|c, v| c.inet6.dad_count = int(v) as u32),
        },
        Node {
            name: "net.inet6.ip6.maxfragpackets",
            desc: "Maximum number of fragmented packets in reassembly",
            kind: Kind::Int { min: 0, max: 100_000 },
            get: |c| V::Int(c.inet6.maxfragpackets as i64),
            set: Some(|c, v| c.inet6.maxfragpackets = int(v) as usize),
        },
        Node {
            name: "net.inet6.icmp6.errppslimit",
            desc: "Maximum ICMPv6 errors sent per second (0: no limit)",
            kind: Kind::Int { min: 0, max: 1_000_000 },
            get: |c| V::Int(i64::from(c.inet6.icmp_limit.limit)),
            set: Some(|c, v| c.inet6.icmp_limit.limit = int(v) as u32),
        },
        Node {
            name: "net.inet6.icmp6.rediraccept",
            desc: "Accept and process redirect messages",
            kind: Kind::Int { min: 0, max: 1 },
            get: |c| V::Int(i64::from(c.inet6.rediraccept)),
            set: Some(|c, v| c.inet6.rediraccept = int(v) != 0),
        },
        Node {
            name: "net.inet6.icmp6.nodeinfo",
            desc: "Respond to node information requests (1 names, 2 addresses, 4 temporary addresses, 8 global askers)",
            kind: Kind::Int { min: 0, max: 15 },
            get: |c| V::Int(i64::from(c.inet6.nodeinfo)),
            set: Some(|c, v| c.inet6.nodeinfo = int(v) as u32),
        },
        Node {
            name: "net.inet6.icmp6.nd6_maxentries",
            desc: "Maximum number of neighbor cache entries",
            kind: Kind::Int { min: 16, max: 1 << 20 },
            get: |c| V::Int(c.inet6.nd.max_entries as i64),
            set: Some(|c, v| c.inet6.nd.max_entries = int(v) as usize),
        },
    ]
};
