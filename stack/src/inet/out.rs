//! The transports' one way down, per family: `transport_output` takes a datagram with its
//! addresses and hands it to ip_output for IPv4 or to the IPv6 layer for IPv6, and the
//! family-generic questions a transport asks of the network layer (which source address,
//! is this address ours, what MTU towards a peer) are answered here, so TCP, UDP and raw
//! sockets name neither ip_output nor ip6_output.

use std::net::IpAddr;

use crate::conf::Ctx;
use crate::inet::ip::{ip_output, OutOffload, OutPkt};

/// A locally originated transport datagram, for either family.
pub struct TransOut<'a> {
    /// Source address; None picks the route's.
    pub src: Option<IpAddr>,
    pub dst: IpAddr,
    pub proto: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// TOS / traffic class.
    pub tos: u8,
    pub df: bool,
    pub payload: &'a [u8],
    pub offload: OutOffload,
}

/// Sends a transport datagram by its destination's family. A source of the other family
/// is EAFNOSUPPORT (an IPv4 peer of an AF_INET6 socket is addressed as IPv4 here).
pub fn transport_output(ctx: &mut Ctx, p: &TransOut<'_>) -> Result<(), i32> {
    match p.dst {
        IpAddr::V4(dst) => {
            let src = match p.src {
                None => None,
                Some(IpAddr::V4(s)) => Some(s),
                Some(IpAddr::V6(_)) => return Err(libc::EAFNOSUPPORT),
            };
            ip_output(
                ctx,
                &OutPkt {
                    src,
                    dst,
                    proto: p.proto,
                    ttl: p.ttl,
                    tos: p.tos,
                    df: p.df,
                    payload: p.payload,
                    offload: p.offload,
                },
            )
        }
        IpAddr::V6(_) => {
            if matches!(p.src, Some(IpAddr::V4(_))) {
                return Err(libc::EAFNOSUPPORT);
            }
            ip6_transport_output(ctx, p)
        }
    }
}

/// IPv6 output of a transport datagram: `inet6::ip6::ip6_output` (absent from the v4
/// variants: EAFNOSUPPORT), through `ip6_output_offload` when the transport left its
/// checksum (and perhaps a TSO6 cut) to the interface: the interface finishes them when it
/// can, the software otherwise. A TTL equal to the IPv4 default means none was asked for:
/// the IPv6 default hop limit (net.inet6.ip6.hlim, or a router's) applies.
fn ip6_transport_output(ctx: &mut Ctx, p: &TransOut<'_>) -> Result<(), i32> {
    let IpAddr::V6(dst) = p.dst else {
        return Err(libc::EAFNOSUPPORT);
    };
    if !ctx.inet6.enabled {
        return Err(libc::EAFNOSUPPORT);
    }
    if let Some(at) = p.offload.csum_at {
        if usize::from(at) + 2 > p.payload.len() {
            return Err(libc::EINVAL);
        }
    }
    let src = match p.src {
        Some(IpAddr::V6(s)) => Some(s),
        _ => None,
    };
    let hlim = (p.ttl != ctx.inet.ttl && p.ttl != 0).then_some(p.ttl);
    crate::inet6::ip6::ip6_output_offload(
        ctx,
        &crate::inet6::ip6::Out6 {
            src,
            dst,
            ifindex: None,
            nh: p.proto,
            hlim,
            hbh: None,
            payload: p.payload,
            min_mtu: false,
        },
        &p.offload,
    )
}

/// The capabilities enabled on the interface a datagram to `dst` leaves by (IPv6: the one
/// its output takes; a link-local peer without its zone has none), for the transports
/// to decide what they leave to it. None for our own addresses, loopback and multicast.
pub fn out_ifcaps(ctx: &Ctx, dst: IpAddr) -> Option<u32> {
    if is_local(ctx, dst) || dst.is_loopback() || dst.is_multicast() {
        return None;
    }
    match dst {
        IpAddr::V4(d) => ctx
            .rt
            .inet
            .lookup(d)
            .and_then(|r| ctx.ifnet_by_index(r.ifindex))
            .map(|i| i.capenable()),
        IpAddr::V6(d) if ctx.inet6.enabled => crate::inet6::nd6::nd6_nexthop(ctx, &d, None).map(|(i, _)| i.capenable()),
        IpAddr::V6(_) => None,
    }
}

/// The source address for a datagram to `dst`, in dst's family.
pub fn source_for(ctx: &Ctx, dst: IpAddr) -> Option<IpAddr> {
    match dst {
        IpAddr::V4(d) => crate::inet::ip::source_for(ctx, d).map(IpAddr::V4),
        // Our own address is its own source; otherwise there must be a route (no route:
        // no source, and connect says ENETUNREACH as it does for IPv4).
        IpAddr::V6(d) if is_local(ctx, dst) => Some(IpAddr::V6(d)),
        IpAddr::V6(d) => {
            let out_if = crate::inet6::nd6::nd6_nexthop(ctx, &d, None)?.0.index;
            crate::inet6::in6_selectsrc(ctx, &d, Some(out_if)).map(IpAddr::V6)
        }
    }
}

/// Whether `a` is one of the stack's addresses.
pub fn is_local(ctx: &Ctx, a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => ctx.inet.addrs.iter().any(|ia| ia.addr == a),
        IpAddr::V6(a) => crate::inet6::in6_ifaddr(ctx, &a).is_some_and(|ia| ia.usable()),
    }
}

/// Whether `a` is a broadcast address of ours (or the limited broadcast); IPv6 has none.
pub fn is_broadcast(ctx: &Ctx, a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => a.is_broadcast() || ctx.inet.addrs.iter().any(|ia| ia.broadcast == Some(a)),
        IpAddr::V6(_) => false,
    }
}

/// The MTU towards `dst` (the route's, else its interface's), if there is a route, in
/// dst's family's table.
pub fn path_mtu(ctx: &Ctx, dst: IpAddr) -> Option<u32> {
    if let IpAddr::V6(d) = dst {
        // The IPv6 layer's answer: link, route and what packet too big taught (RFC 8201).
        if is_local(ctx, dst) {
            return ctx
                .ifnets
                .iter()
                .find(|i| i.if_type == crate::msg::IFT_LOOP)
                .map(|i| i.mtu());
        }
        let (ifp, _) = crate::inet6::nd6::nd6_nexthop(ctx, &d, None)?;
        return Some(crate::inet6::ip6::path_mtu(ctx, &ifp, &d));
    }
    let (ifindex, rtmtu) = match dst {
        IpAddr::V4(d) => ctx.rt.inet.lookup(d).map(|r| (r.ifindex, r.mtu))?,
        IpAddr::V6(d) => ctx.rt.inet6.lookup(d).map(|r| (r.ifindex, r.mtu))?,
    };
    let dflt = if dst.is_ipv4() { 1500 } else { IPV6_MMTU };
    let ifmtu = ctx.ifnet_by_index(ifindex).map(|i| i.mtu()).unwrap_or(dflt);
    Some(if rtmtu != 0 { rtmtu.min(ifmtu) } else { ifmtu })
}

/// The network header's size for `dst`'s family (without options or extension headers).
pub fn net_hdr_len(dst: IpAddr) -> u32 {
    if dst.is_ipv4() {
        20
    } else {
        40
    }
}

/// IPv6's minimum link MTU (RFC 8200 5): what a v6 path has when nothing better is known.
pub const IPV6_MMTU: u32 = 1280;
