//! IPv4: interface addresses (`in_control`), the IP state of the stack context, and the
//! protocols: ip (input, output, forwarding), reassembly, icmp, raw sockets.

pub mod ctlinput;
pub mod icmp;
pub mod in_offload;
pub mod inpcb;
pub mod ip;
pub mod out;
pub mod raw;
pub mod reass;
pub mod sysctl;
pub mod tcp;
pub mod udp;

#[cfg(test)]
pub(crate) mod input_tests;

use std::net::{IpAddr, Ipv4Addr};

use crate::conf::Ctx;
use crate::msg::{iff, AddrReq, IcmpStats, IfAddr, IfaMsg, IpStats, Msg, UdpStats};
use crate::net::arp;
use crate::net::if_control::{announce_ifinfo, Fail};
use crate::net::if_loop::loopback_drain;
use crate::net::route::control as route_control;
use crate::sys::callout::{Timer, SLOW};
use crate::sys::domain::{always, Domain, Protosw};
use crate::wire::icmp::ICMP_MAXTYPE;
use crate::wire::ipv4::len_mask;
use crate::wire::ipv4::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

/// The inet domain (`inetdomain`, NetBSD's in_proto.c): IP and the protocols above it.
/// Their input routines, by protocol number, make `ip::IP_PROTOX`.
pub static INET: Domain = Domain {
    name: "inet",
    family: libc::AF_INET,
    present: always,
    init: Some(|c, stack| {
        c.inet.forwarding = stack.config.forward;
        c.inet.tcp.callout = stack.callout.clone();
    }),
    loopback: Some(|c, lo| {
        let req = AddrReq {
            name: lo.name.clone(),
            addr: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            netmask: Some(IpAddr::V4(Ipv4Addr::new(255, 0, 0, 0))),
            brd: None,
        };
        add_addr(c, &req).map_err(|f| f.text.unwrap_or_else(|| crate::msg::errno::strerror(f.errno)))
    }),
    protosw: INETSW,
};

/// The protocol switch of the inet domain (`inetsw`).
pub const INETSW: &[Protosw] = &[
    Protosw {
        name: "ip",
        timers: &[Timer {
            name: "ip_reass",
            period: Some(SLOW),
            run: |c| {
                reass::reass_timer(c);
                None
            },
            planned: None,
        }],
        sysctl: &[sysctl::IP, sysctl::ARP],
        stats: Some(|c, s| s.ip = c.inet.stat),
        // Datagrams the work just done sent to our own addresses go round through lo0.
        release: Some(|c, _| loopback_drain(c)),
        ..Protosw::EMPTY
    },
    Protosw {
        name: "icmp",
        protocol: IPPROTO_ICMP,
        input: Some(|c, ifp, pkt, bcast, _| icmp::icmp_input(c, ifp, pkt, bcast)),
        sysctl: &[sysctl::ICMP],
        stats: Some(|c, s| {
            s.icmp = c.inet.icmpstat.clone();
            s.icmp.inhist.resize(ICMP_MAXTYPE + 1, 0);
            s.icmp.outhist.resize(ICMP_MAXTYPE + 1, 0);
        }),
        ..Protosw::EMPTY
    },
    Protosw {
        name: "udp",
        protocol: IPPROTO_UDP,
        input: Some(udp::udp_input),
        stats: Some(|c, s| s.udp = c.inet.udpstat),
        ..Protosw::EMPTY
    },
    Protosw {
        name: "tcp",
        protocol: IPPROTO_TCP,
        input: Some(tcp::input::tcp_input),
        timers: &[Timer {
            name: "tcp",
            period: None,
            run: |c| {
                tcp::timer::tcp_timers(c);
                let w = &c.inet.tcp.wheel;
                w.next_work().map(|n| w.instant_of(n))
            },
            planned: Some(|c, wake| {
                let w = &mut c.inet.tcp.wheel;
                w.planned = w.tick_of(wake);
            }),
        }],
        sysctl: &[tcp::sysctl::NODES, tcp::cc::SYSCTL],
        stats: Some(|c, s| s.tcp = c.inet.tcp.stat),
        // Connections the work touched are filed in the timer wheel, and the sockets it
        // woke are handed on.
        release: Some(|c, woken| {
            tcp::timer::tcp_sched_touched(c);
            woken.append(&mut c.inet.tcp.woken);
        }),
        ..Protosw::EMPTY
    },
];

/// One IPv4 address of an interface (`struct in_ifaddr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InIfaddr {
    pub ifindex: u16,
    pub addr: Ipv4Addr,
    pub mask: Ipv4Addr,
    /// Broadcast address on broadcast interfaces.
    pub broadcast: Option<Ipv4Addr>,
}

/// The IPv4 state of the stack context.
pub struct InState {
    /// Every IPv4 address, in the order they were added (the first of an interface is its
    /// primary address).
    pub addrs: Vec<InIfaddr>,
    /// net.inet.ip.forwarding
    pub forwarding: bool,
    /// net.inet.ip.ttl
    pub ttl: u8,
    /// net.inet.ip.redirect: send ICMP redirects (off by default here).
    pub redirect: bool,
    /// net.inet.ip.maxfragpackets
    pub maxfragpackets: usize,
    pub stat: IpStats,
    pub icmpstat: IcmpStats,
    pub icmp_limit: icmp::PpsLimit,
    /// net.inet.icmp.returndatabytes: bytes of the offending datagram's payload an ICMP
    /// error quotes after its IP header.
    pub icmp_returndatabytes: usize,
    pub reass: reass::Reass,
    pub ip_id: ip::IpId,
    pub raw: Vec<raw::RawPcb>,
    pub udp: Vec<udp::UdpPcb>,
    pub tcp: tcp::TcpState,
    /// Datagrams to our own addresses, delivered once the sender is done.
    pub loopq: std::collections::VecDeque<crate::sys::mbuf::Mbuf>,
    pub udpstat: UdpStats,
    /// net.inet.ip.anonportmin / anonportmax: the ephemeral port range.
    pub anonportmin: u16,
    pub anonportmax: u16,
    /// net.inet6.ip6.v6only: IPV6_V6ONLY's value on a new AF_INET6 socket (1 by default,
    /// as on NetBSD).
    pub v6only: bool,
    /// Where the search for a free ephemeral port starts (unpredictable, RFC 6056).
    pub portrand: crate::sys::random::KeyedStream,
}

impl Default for InState {
    fn default() -> Self {
        InState {
            addrs: Vec::new(),
            forwarding: false,
            ttl: 64,
            redirect: false,
            maxfragpackets: reass::MAXFRAGPACKETS,
            stat: IpStats::default(),
            icmpstat: IcmpStats::default(),
            icmp_limit: icmp::PpsLimit::new(icmp::ERRPPSLIMIT),
            icmp_returndatabytes: icmp::RETURNDATABYTES,
            reass: reass::Reass::default(),
            ip_id: ip::IpId::default(),
            raw: Vec::new(),
            udp: Vec::new(),
            tcp: tcp::TcpState::default(),
            loopq: Default::default(),
            udpstat: UdpStats::default(),
            anonportmin: 49152,
            anonportmax: 65535,
            v6only: true,
            portrand: Default::default(),
        }
    }
}

/// Prefix length of a contiguous netmask, None when it is not contiguous.
pub fn mask_len(m: Ipv4Addr) -> Option<u8> {
    let v = u32::from(m);
    let len = v.leading_ones();
    (v.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

fn v4(a: Option<IpAddr>, what: &str) -> Result<Option<Ipv4Addr>, Fail> {
    match a {
        None => Ok(None),
        Some(IpAddr::V4(a)) => Ok(Some(a)),
        Some(IpAddr::V6(_)) => Err(Fail::with(libc::EAFNOSUPPORT, format!("{what}: not an IPv4 address"))),
    }
}

/// The classful mask NetBSD gives an address added without one.
fn default_mask(a: Ipv4Addr) -> Ipv4Addr {
    match a.octets()[0] {
        0..=127 => len_mask(8),
        128..=191 => len_mask(16),
        _ => len_mask(24),
    }
}

impl InIfaddr {
    /// Prefix length of the netmask.
    pub fn prefix_len(&self) -> u8 {
        mask_len(self.mask).unwrap_or(32)
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & u32::from(self.mask))
    }

    fn msg(&self, ifname: &str) -> IfaMsg {
        IfaMsg {
            ifam_index: self.ifindex,
            ifam_flags: 0,
            ifam_metric: 0,
            ifname: ifname.to_string(),
            ifa: IpAddr::V4(self.addr),
            netmask: IpAddr::V4(self.mask),
            brd: self.broadcast.map(IpAddr::V4),
        }
    }

    pub fn to_ifaddr(&self) -> IfAddr {
        IfAddr {
            addr: IpAddr::V4(self.addr),
            netmask: IpAddr::V4(self.mask),
            brd: self.broadcast.map(IpAddr::V4),
            // IPv4 addresses are usable at once: this stack does no IPv4 DAD.
            tentative: false,
            flags: 0,
            scopeid: 0,
            pltime: None,
            vltime: None,
        }
    }
}

/// SIOCAIFADDR: adds an address, or updates the mask and broadcast of one that exists.
/// Brings the interface up, as NetBSD's `in_ifinit` does, and announces the address.
pub fn add_addr(ctx: &mut Ctx, req: &AddrReq) -> Result<(), Fail> {
    let ifp = ctx
        .ifnet_by_name(&req.name)
        .cloned()
        .ok_or_else(|| Fail::new(libc::ENXIO))?;
    let addr = v4(req.addr, "address")?.ok_or_else(|| Fail::with(libc::EINVAL, "no address given".into()))?;
    let mask = v4(req.netmask, "netmask")?.unwrap_or_else(|| default_mask(addr));
    if mask_len(mask).is_none() {
        return Err(Fail::with(libc::EINVAL, format!("netmask {mask} is not contiguous")));
    }
    if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
        return Err(Fail::with(
            libc::EINVAL,
            format!("{addr} cannot be an interface address"),
        ));
    }
    let flags = ifp.flags();
    let broadcast = if flags & iff::BROADCAST != 0 {
        Some(match v4(req.brd, "broadcast")? {
            Some(b) => b,
            None => Ipv4Addr::from(u32::from(addr) | !u32::from(mask)),
        })
    } else {
        None
    };
    // The same address on another interface is refused, as NetBSD refuses it.
    if ctx
        .inet
        .addrs
        .iter()
        .any(|ia| ia.addr == addr && ia.ifindex != ifp.index)
    {
        return Err(Fail::new(libc::EEXIST));
    }
    let ia = InIfaddr {
        ifindex: ifp.index,
        addr,
        mask,
        broadcast,
    };
    match ctx
        .inet
        .addrs
        .iter()
        .position(|x| x.ifindex == ifp.index && x.addr == addr)
    {
        Some(i) => {
            let old = ctx.inet.addrs[i];
            if old == ia {
                return Ok(());
            }
            ctx.inet.addrs.remove(i);
            route_control::addr_routes_del(ctx, old.ifindex, old.addr, old.prefix_len());
            ctx.inet.addrs.insert(i, ia);
            ctx.rtsock.broadcast(&Msg::DelAddr(old.msg(&ifp.name)));
        }
        None => ctx.inet.addrs.push(ia),
    }
    ctx.rtsock.broadcast(&Msg::NewAddr(ia.msg(&ifp.name)));
    route_control::addr_routes_add(ctx, ia.ifindex, ia.addr, ia.prefix_len());
    if ifp.set_up(true) {
        announce_ifinfo(ctx, &ifp);
        crate::inet6::if_up(ctx, &ifp);
    }
    if flags & iff::NOARP == 0 && ifp.driver.get().is_some() {
        arp::arp_announce(ctx, &ifp, addr);
    }
    Ok(())
}

/// SIOCDIFADDR: removes the given address, or the interface's first one.
pub fn del_addr(ctx: &mut Ctx, req: &AddrReq) -> Result<(), Fail> {
    let ifp = ctx
        .ifnet_by_name(&req.name)
        .cloned()
        .ok_or_else(|| Fail::new(libc::ENXIO))?;
    let want = v4(req.addr, "address")?;
    let pos = ctx
        .inet
        .addrs
        .iter()
        .position(|ia| ia.ifindex == ifp.index && want.is_none_or(|w| w == ia.addr))
        .ok_or_else(|| Fail::new(libc::EADDRNOTAVAIL))?;
    let ia = ctx.inet.addrs.remove(pos);
    route_control::addr_routes_del(ctx, ia.ifindex, ia.addr, ia.prefix_len());
    ctx.rtsock.broadcast(&Msg::DelAddr(ia.msg(&ifp.name)));
    Ok(())
}

/// Removes every address of an interface that is going away.
pub fn purge_if(ctx: &mut Ctx, index: u16, ifname: &str) {
    let gone: Vec<InIfaddr> = ctx
        .inet
        .addrs
        .iter()
        .filter(|ia| ia.ifindex == index)
        .copied()
        .collect();
    ctx.inet.addrs.retain(|ia| ia.ifindex != index);
    for ia in gone {
        ctx.rtsock.broadcast(&Msg::DelAddr(ia.msg(ifname)));
    }
    route_control::if_routes_purge(ctx, index);
    crate::net::arp::arp_purge_if(ctx, index);
}

/// Every socket of the stack, for netstat: TCP connections and listeners, UDP and raw.
/// Addresses are as each socket's client sees them (v4-mapped on AF_INET6 sockets).
pub fn pcblist(ctx: &Ctx) -> Vec<crate::msg::SockInfo> {
    pcblist_ids(ctx).into_iter().map(|(_, s)| s).collect()
}

/// The sockets, each with the id of the channel connection that holds it (sockstat).
pub fn pcblist_ids(ctx: &Ctx) -> Vec<(Option<u64>, crate::msg::SockInfo)> {
    use crate::msg::SockInfo;
    use std::net::SocketAddr;
    let mut v = Vec::new();
    let tcp = &ctx.inet.tcp;
    for (id, l) in tcp.listeners.iter() {
        let (snd, rcv) = l.opts.spaces(tcp);
        v.push((
            Some(*id),
            SockInfo {
                proto: "tcp".into(),
                family: l.opts.af.domain(),
                recv_q: l.queue.len() as u64,
                send_q: 0,
                local: l.opts.af.view(SocketAddr::new(l.laddr, l.lport)),
                foreign: None,
                state: "LISTEN".into(),
                rcvbuf: rcv as u64,
                sndbuf: snd as u64,
                owner: None,
            },
        ));
    }
    for (id, t) in tcp.tcbs.iter() {
        v.push((
            Some(*id),
            SockInfo {
                proto: "tcp".into(),
                family: t.af.domain(),
                recv_q: t.rcv_buf.len() as u64,
                send_q: t.snd_buf.len() as u64,
                local: t.local(),
                foreign: Some(t.peer()),
                state: t.state.name().into(),
                rcvbuf: t.rcv_buf_max as u64,
                sndbuf: t.snd_buf_max as u64,
                owner: None,
            },
        ));
    }
    for (id, b) in tcp.bound.iter().filter(|(_, b)| b.lport != 0) {
        let (snd, rcv) = b.opts.spaces(tcp);
        let af = b.opts.af;
        v.push((
            Some(*id),
            SockInfo {
                proto: "tcp".into(),
                family: af.domain(),
                recv_q: 0,
                send_q: 0,
                local: af.view(SocketAddr::new(b.laddr.unwrap_or(af.any()), b.lport)),
                foreign: None,
                state: "CLOSED".into(),
                rcvbuf: rcv as u64,
                sndbuf: snd as u64,
                owner: None,
            },
        ));
    }
    for p in &ctx.inet.udp {
        v.push((
            Some(p.id),
            SockInfo {
                proto: "udp".into(),
                family: p.af.domain(),
                recv_q: 0,
                send_q: 0,
                local: p.af.view(SocketAddr::new(p.laddr, p.lport)),
                foreign: p.faddr.map(|f| p.af.view(f)),
                state: String::new(),
                rcvbuf: p.rcvbuf as u64,
                sndbuf: p.sndbuf.unwrap_or(crate::inet::udp::UDP_SNDBUF_DEFAULT) as u64,
                owner: None,
            },
        ));
    }
    v.sort_by_key(|(_, s)| (s.proto.clone(), s.family, s.local.ip(), s.local.port()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_len("255.255.255.0".parse().unwrap()), Some(24));
        assert_eq!(mask_len("0.0.0.0".parse().unwrap()), Some(0));
        assert_eq!(mask_len("255.255.255.255".parse().unwrap()), Some(32));
        assert_eq!(mask_len("255.0.255.0".parse().unwrap()), None);
        assert_eq!(len_mask(24), "255.255.255.0".parse::<Ipv4Addr>().unwrap());
        assert_eq!(len_mask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(len_mask(32), Ipv4Addr::BROADCAST);
        assert_eq!(default_mask("10.1.2.3".parse().unwrap()), len_mask(8));
        assert_eq!(default_mask("172.16.0.1".parse().unwrap()), len_mask(16));
        assert_eq!(default_mask("192.168.0.1".parse().unwrap()), len_mask(24));
    }
}
