//! Raw IP sockets (`rip_input`, `rip_output`): what ping uses. Each socket is one channel
//! connection; received datagrams are pushed to it whole, header included, as BSD raw
//! sockets deliver them. A client that does not read loses datagrams (counted).

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::conf::Ctx;
use crate::inet::inpcb::{Af, TransIn};
use crate::inet::out::{transport_output, TransOut};
use crate::msg::wire::SeqPacket;
use crate::msg::{encode, DataMsg, Msg, MSGF_DATA};
use crate::wire::ipv4::Ipv4Packet;

/// One raw socket (`struct inpcb` of a raw socket).
pub struct RawPcb {
    pub id: u64,
    /// Protocol it receives and sends (0: every protocol on input).
    pub proto: u8,
    /// AF_INET (IPv4 datagrams, header included) or AF_INET6 (IPv6 payloads, as BSD's
    /// rip6 delivers them); a raw socket sees only its own family.
    pub af: Af,
    pub laddr: Option<IpAddr>,
    pub faddr: Option<IpAddr>,
    pub ttl: Option<u8>,
    pub tos: u8,
    /// SO_SNDBUF: the largest datagram that may be sent (EMSGSIZE above).
    pub sndbuf: Option<usize>,
    pub conn: SeqPacket,
    /// Datagrams lost because the client's buffer was full.
    pub drops: u64,
    /// IPV6_USE_MIN_MTU: -1, 0 or 1 (RFC 3542 11.1).
    pub use_min_mtu: i8,
}

impl RawPcb {
    /// A fresh raw socket `id` for protocol `proto`, whose datagrams go to the client over
    /// `conn`.
    pub fn new(id: u64, proto: u8, conn: SeqPacket) -> RawPcb {
        RawPcb {
            id,
            proto,
            af: Af::INET,
            laddr: None,
            faddr: None,
            ttl: None,
            tos: 0,
            sndbuf: None,
            conn,
            drops: 0,
            use_min_mtu: -1,
        }
    }
}

/// Gives a copy of a local datagram to every raw socket that wants it. Returns whether
/// any did.
pub fn rip_input(ctx: &mut Ctx, pkt: &[u8]) -> bool {
    if ctx.inet.raw.is_empty() {
        return false;
    }
    let ip = Ipv4Packet::new_unchecked(pkt);
    let tin = TransIn {
        src: IpAddr::V4(ip.src()),
        dst: IpAddr::V4(ip.dst()),
        pkt,
        off: 0,
    };
    raw_deliver(ctx, ip.proto(), &tin, 0)
}

/// Gives a copy of a local IPv6 datagram's upper-layer payload (`tin.payload()`, after
/// the extension headers) for protocol `proto` to every AF_INET6 raw socket that wants
/// it (`rip6_input`; ip6_input calls this). Returns whether any did.
///
/// The datagram came in on `ifindex`: a link-local source carries it as its scope id
/// (`fe80::1%en0`), and the hop limit goes along (IPV6_HOPLIMIT, which ping6 prints).
pub fn rip6_input(ctx: &mut Ctx, proto: u8, tin: &TransIn<'_>, ifindex: u16) -> bool {
    if ctx.inet.raw.is_empty() {
        return false;
    }
    raw_deliver(ctx, proto, tin, ifindex)
}

/// Delivers `tin.payload()` to the raw sockets of its family for `proto`.
fn raw_deliver(ctx: &mut Ctx, proto: u8, tin: &TransIn<'_>, ifindex: u16) -> bool {
    let (src, dst) = (tin.src, tin.dst);
    let (from, hlim) = match src {
        IpAddr::V6(s) => {
            let scoped = crate::wire::ipv6::addr::is_link_local(&s) || s.is_multicast();
            let scope = if scoped { u32::from(ifindex) } else { 0 };
            (
                SocketAddr::V6(SocketAddrV6::new(s, 0, 0, scope)),
                tin.pkt.get(7).copied(),
            )
        }
        IpAddr::V4(_) => (SocketAddr::new(src, 0), None),
    };
    let v6 = dst.is_ipv6();
    let mut took = false;
    let mut encoded: Option<Vec<u8>> = None;
    for pcb in ctx.inet.raw.iter_mut() {
        if pcb.af.v6 != v6 || (pcb.proto != 0 && pcb.proto != proto) {
            continue;
        }
        if pcb.laddr.is_some_and(|l| l != dst) || pcb.faddr.is_some_and(|f| f != src) {
            continue;
        }
        took = true;
        let b = encoded.get_or_insert_with(|| {
            let m = Msg::SockData(DataMsg {
                from,
                data: tin.payload().to_vec(),
                hlim,
            });
            encode(&m, 0, std::process::id(), MSGF_DATA, 0)
        });
        if pcb.conn.send_nowait(b).is_err() {
            pcb.drops += 1;
        }
    }
    took
}

/// A raw socket's address from the client, in its family (port ignored). An AF_INET6 raw
/// socket has no IPv4 peers: a v4-mapped address is EINVAL.
pub fn raw_addr(af: Af, a: SocketAddr) -> Result<IpAddr, i32> {
    let ip = af.sock_in(SocketAddr::new(a.ip(), 0))?.ip();
    if af.v6 && ip.is_ipv4() {
        return Err(libc::EINVAL);
    }
    Ok(ip)
}

/// Sends the payload of a raw socket to `to` (or its connected address). For an AF_INET6
/// socket `scope` (the destination's scope id, 0 for none) names the interface to send on,
/// as IPV6_PKTINFO would.
pub fn rip_output(ctx: &mut Ctx, id: u64, to: Option<IpAddr>, scope: u32, data: &[u8]) -> Result<(), i32> {
    let pcb = ctx.inet.raw.iter().find(|p| p.id == id).ok_or(libc::EBADF)?;
    let dst = to.or(pcb.faddr).ok_or(libc::EDESTADDRREQ)?;
    if pcb.sndbuf.is_some_and(|b| data.len() > b) {
        return Err(libc::EMSGSIZE);
    }
    if let IpAddr::V6(d) = dst {
        let (proto, src, hlim) = (pcb.proto, pcb.laddr, pcb.ttl);
        let min_mtu = match pcb.use_min_mtu {
            1 => true,
            0 => false,
            _ => d.is_multicast(),
        };
        let src = match src {
            Some(IpAddr::V6(s)) => Some(s),
            _ => None,
        };
        let ifindex = u16::try_from(scope).map_err(|_| libc::ENXIO)?;
        let o = Rip6Out {
            proto,
            src,
            dst: d,
            ifindex: (ifindex != 0).then_some(ifindex),
            hlim,
            min_mtu,
        };
        return rip6_output(ctx, &o, data);
    }
    let out = TransOut {
        src: pcb.laddr,
        dst,
        proto: pcb.proto,
        ttl: pcb.ttl.unwrap_or(ctx.inet.ttl),
        tos: pcb.tos,
        df: false,
        payload: data,
        offload: Default::default(),
    };
    // ips_rawout counts only datagrams whose sender wrote the IP header (IP_HDRINCL), as
    // NetBSD's rip_output does; here the stack always writes it, so they are ordinary output.
    transport_output(ctx, &out)
}

/// The source for `dst` (sent on `ifindex` if given): what `rip6_output` uses and what
/// connect(2) fixes (BSD's rip6_connect): EHOSTUNREACH without a route.
pub fn rip6_selectsrc(ctx: &mut Ctx, dst: &Ipv6Addr, ifindex: Option<u16>) -> Result<Ipv6Addr, i32> {
    if !ctx.inet6.enabled {
        return Err(libc::EAFNOSUPPORT);
    }
    let local = crate::inet6::in6_ifaddr(ctx, dst).is_some_and(|ia| ia.usable());
    if local {
        return crate::inet6::in6_selectsrc(ctx, dst, None).ok_or(libc::EADDRNOTAVAIL);
    }
    let Some((ifp, _)) = crate::inet6::nd6::nd6_nexthop(ctx, dst, ifindex) else {
        ctx.inet6.stat.noroute += 1;
        return Err(libc::EHOSTUNREACH);
    };
    crate::inet6::in6_selectsrc(ctx, dst, Some(ifp.index)).ok_or(libc::EADDRNOTAVAIL)
}

/// IPv6 output of a raw socket (`rip6_output`): the stack writes the IPv6 header, on
/// `ifindex` when the destination's scope (or the caller) names one, with the socket's
/// hop limit (IPV6_UNICAST_HOPS) if set. An ICMPv6 socket's checksum is always computed
/// here, over the pseudo-header with the source the stack chooses (RFC 3542 3.1).
struct Rip6Out {
    proto: u8,
    src: Option<Ipv6Addr>,
    dst: Ipv6Addr,
    ifindex: Option<u16>,
    hlim: Option<u8>,
    /// IPV6_USE_MIN_MTU in effect for this destination.
    min_mtu: bool,
}

fn rip6_output(ctx: &mut Ctx, o: &Rip6Out, data: &[u8]) -> Result<(), i32> {
    use crate::wire::ip6ext::NH_ICMPV6;
    let Rip6Out {
        proto,
        src,
        dst,
        ifindex,
        hlim,
        min_mtu,
    } = *o;
    if !ctx.inet6.enabled {
        return Err(libc::EAFNOSUPPORT);
    }
    if let Some(i) = ifindex {
        if ctx.ifnet_by_index(i).is_none() {
            return Err(libc::ENXIO);
        }
    }
    let mut owned;
    let mut src = src;
    let payload = if proto == NH_ICMPV6 {
        if data.len() < 4 {
            return Err(libc::EINVAL);
        }
        let s = match src {
            Some(s) => s,
            None => rip6_selectsrc(ctx, &dst, ifindex)?,
        };
        src = Some(s);
        owned = data.to_vec();
        owned[2..4].copy_from_slice(&[0, 0]);
        let c = crate::wire::checksum::cksum6(&s, &dst, NH_ICMPV6, &owned);
        owned[2..4].copy_from_slice(&c.to_be_bytes());
        if let Some(h) = ctx.inet6.icmp6stat.outhist.get_mut(usize::from(owned[0])) {
            *h += 1;
        }
        &owned[..]
    } else {
        data
    };
    crate::inet6::ip6::ip6_output(
        ctx,
        &crate::inet6::ip6::Out6 {
            src,
            dst,
            ifindex,
            nh: proto,
            hlim,
            hbh: None,
            payload,
            min_mtu,
        },
    )
}
