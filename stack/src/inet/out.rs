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

/// IPv6 output of a transport datagram: the IPv6 layer's entry point. This stack has no
/// IPv6 output path yet, so there is no route to any IPv6 destination (ENETUNREACH, as a
/// BSD stack without a v6 route answers).
fn ip6_transport_output(_ctx: &mut Ctx, _p: &TransOut<'_>) -> Result<(), i32> {
    Err(libc::ENETUNREACH)
}

/// The source address for a datagram to `dst`, in dst's family.
pub fn source_for(ctx: &Ctx, dst: IpAddr) -> Option<IpAddr> {
    match dst {
        IpAddr::V4(d) => crate::inet::ip::source_for(ctx, d).map(IpAddr::V4),
        // No IPv6 addresses yet: no source for a v6 destination.
        IpAddr::V6(_) => None,
    }
}

/// Whether `a` is one of the stack's addresses.
pub fn is_local(ctx: &Ctx, a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => ctx.inet.addrs.iter().any(|ia| ia.addr == a),
        IpAddr::V6(_) => false,
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
