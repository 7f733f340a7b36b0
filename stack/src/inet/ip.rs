//! IPv4 (RFC 791, RFC 1122): `ip_input`, `ip_forward`, `ip_output`, fragmentation.

use std::net::Ipv4Addr;
use std::sync::Arc;

use pktbox_drivers::{Csum, FrameMeta, Gso};

use crate::conf::Ctx;
use crate::inet::in_offload::{in_undefer_cksum, offload_fits, tcp4_segment, tcp_hdrs};
use crate::inet::{icmp, raw, reass};
use crate::net::ifnet::{inc, Dst, Ifnet};
use crate::net::route::Gateway;
use crate::sys::domain::{protox, PrInput};
use crate::sys::mbuf::{Mbuf, M_BCAST, M_MCAST};
use crate::wire::checksum::{cksum, update};
use crate::wire::route::rtf;

use crate::wire::icmp::{
    ICMP_TIMXCEED, ICMP_UNREACH, TIMXCEED_INTRANS, UNREACH_HOST, UNREACH_NEEDFRAG, UNREACH_NET, UNREACH_PROTOCOL,
};
use crate::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr, IPOPT_LSRR, IPOPT_SSRR};
use crate::wire::ipv4::{IPPROTO_ICMP, IPPROTO_TCP, IPVERSION, IP_DF, IP_HDR_LEN, IP_MAXPACKET, IP_MF, IP_OFFMASK};

/// IP ids: a keyed permutation of a counter (sys/random.rs).
pub type IpId = crate::sys::random::IdPerm;

/// Whether `dst` is one of ours: an address, a broadcast address of ours, or limited
/// broadcast (the weak host model, as NetBSD has it). Also says whether it is a broadcast.
pub fn in_local(ctx: &Ctx, dst: Ipv4Addr, ifindex: u16) -> Option<bool> {
    if dst.is_broadcast() {
        return Some(true);
    }
    for ia in &ctx.inet.addrs {
        if ia.addr == dst {
            return Some(false);
        }
        if ia.broadcast == Some(dst) && ia.ifindex == ifindex {
            return Some(true);
        }
        // The all-zeroes network address, which old hosts used as a broadcast.
        if ia.ifindex == ifindex && ia.broadcast.is_some() && dst == ia.network() {
            return Some(true);
        }
    }
    if dst.is_multicast() && dst == Ipv4Addr::new(224, 0, 0, 1) {
        return Some(true);
    }
    None
}

/// Checks the options of a header. Source routes are refused, as NetBSD refuses them
/// (net.inet.ip.allowsrcrt=0); malformed options are refused.
fn options_ok(opts: &[u8]) -> bool {
    Ipv4Options::new(opts).all(|o| o.is_ok_and(|o| o.kind != IPOPT_LSRR && o.kind != IPOPT_SSRR))
}

/// Whether the offload metadata of a received datagram `pkt` with header length `hlen`
/// fits it (offsets from the IP header): a partial checksum lies inside it, a super-frame
/// is one TCP segment whose checksum is left partial at the TCP header.
fn rx_meta_ok(pkt: &[u8], hlen: usize, meta: &FrameMeta) -> bool {
    match meta.gso {
        Gso::None => {}
        Gso::Tcp4 { size } => {
            let ip = Ipv4Packet::new_unchecked(pkt);
            let at_tcp = matches!(meta.csum, Csum::Partial { start, offset: 16 } if usize::from(start) == hlen);
            if ip.proto() != IPPROTO_TCP || ip.is_fragment() || size == 0 || !at_tcp {
                return false;
            }
        }
        Gso::Tcp6 { .. } => return false,
    }
    match meta.csum {
        Csum::Partial { start, offset } => usize::from(start) + usize::from(offset) + 2 <= pkt.len(),
        _ => true,
    }
}

/// Input of one IPv4 packet (the mbuf starts at its header), under the stack context.
/// The room in front of it (where the link header was) lets it be forwarded in place.
/// The mbuf's metadata comes from the driver (plain for anything else).
pub fn ip_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, mut m: Mbuf) {
    ctx.inet.stat.total += 1;
    let meta = m.meta();
    let pkt = m.as_slice();
    if pkt.len() < IP_HDR_LEN {
        ctx.inet.stat.toosmall += 1;
        return;
    }
    let ip = Ipv4Packet::new_unchecked(pkt);
    if pkt[0] >> 4 != IPVERSION {
        ctx.inet.stat.badvers += 1;
        return;
    }
    let hlen = ip.hlen();
    if hlen < IP_HDR_LEN || hlen > pkt.len() {
        ctx.inet.stat.badhlen += 1;
        return;
    }
    if cksum(&pkt[..hlen]) != 0 {
        ctx.inet.stat.badsum += 1;
        return;
    }
    let total = ip.total_len();
    if total < hlen {
        ctx.inet.stat.badlen += 1;
        return;
    }
    if total > pkt.len() {
        ctx.inet.stat.tooshort += 1;
        return;
    }
    if !meta.is_plain() && !rx_meta_ok(&pkt[..total], hlen, &meta) {
        inc(&ifp.stats.ierrors);
        return;
    }
    // The transport checksum need not be checked when the driver says it is good, or the
    // host that sent it left it partial (it never crossed a wire).
    let csum_ok = match meta.csum {
        Csum::Valid => true,
        Csum::Partial { start, .. } => usize::from(start) == hlen,
        Csum::None => false,
    };
    let (src, dst) = (ip.src(), ip.dst());
    // A source that is a broadcast or multicast address is never valid (RFC 1122 3.2.1.3).
    if src.is_broadcast() || src.is_multicast() {
        ctx.inet.stat.badaddr += 1;
        return;
    }
    if hlen > IP_HDR_LEN && !options_ok(&pkt[IP_HDR_LEN..hlen]) {
        ctx.inet.stat.badoptions += 1;
        return;
    }
    // Drop link-level padding.
    m.truncate(total);
    let l2bcast = m.flags & (M_BCAST | M_MCAST) != 0;
    let pkt = m.as_slice();
    let ip = Ipv4Packet::new_unchecked(pkt);
    match in_local(ctx, dst, ifp.index) {
        Some(bcast) => {
            let bcast = bcast || l2bcast;
            if ip.is_fragment() {
                ctx.inet.stat.fragments += 1;
                let Some(whole) = reass::ip_reass(ctx, pkt) else {
                    return;
                };
                ctx.inet.stat.reassembled += 1;
                deliver(ctx, ifp, &whole, bcast, false);
            } else {
                deliver(ctx, ifp, pkt, bcast, csum_ok);
            }
        }
        None => {
            if l2bcast || dst.is_multicast() || !ctx.inet.forwarding {
                ctx.inet.stat.cantforward += 1;
                return;
            }
            ip_forward(ctx, ifp, m);
        }
    }
}

/// The input routine of each protocol number, from the inet domain's protocol switch.
pub static IP_PROTOX: [Option<PrInput>; 256] = protox(super::INETSW);

/// Hands a whole local datagram to its protocol; `csum_ok` when its transport checksum
/// needs no check.
fn deliver(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pkt: &[u8], bcast: bool, csum_ok: bool) {
    ctx.inet.stat.delivered += 1;
    let ip = Ipv4Packet::new_unchecked(pkt);
    // ICMP reaches raw sockets from icmp_input, once it has passed the length and checksum
    // checks, as in NetBSD: a damaged message is dropped, not handed to ping.
    let raw_took = ip.proto() != IPPROTO_ICMP && raw::rip_input(ctx, pkt);
    match IP_PROTOX[usize::from(ip.proto())] {
        Some(pr_input) => pr_input(ctx, ifp, pkt, bcast, csum_ok),
        None if raw_took => {}
        None => {
            ctx.inet.stat.noproto += 1;
            if !bcast {
                icmp::icmp_error(ctx, Some(ifp), pkt, ICMP_UNREACH, UNREACH_PROTOCOL, 0, bcast);
            }
        }
    }
}

/// What the routing table says about a destination, for output and forwarding: the one
/// place IPv4 looks routes up (counting the use).
#[derive(Debug, Clone, Copy)]
pub struct InRoute {
    pub flags: u32,
    /// The gateway, or the destination itself on a link route.
    pub nexthop: Ipv4Addr,
    pub ifindex: u16,
    /// The route's source address (unspecified: the interface's).
    pub ifa: Ipv4Addr,
    /// Path MTU, 0 for the interface's.
    pub mtu: u32,
}

pub fn in_rtlookup(ctx: &mut Ctx, dst: Ipv4Addr) -> Option<InRoute> {
    let rt = ctx.rt.inet.lookup_mut(dst)?;
    rt.use_count += 1;
    let nexthop = match rt.gateway {
        Gateway::Inet(g) => g,
        Gateway::Link(_) => dst,
    };
    Some(InRoute {
        flags: rt.flags,
        nexthop,
        ifindex: rt.ifindex,
        ifa: rt.ifa,
        mtu: rt.mtu,
    })
}

/// The interface a datagram leaves by, its next hop, and the MTU on the way.
pub struct NextHop {
    pub ifp: Arc<Ifnet>,
    pub nexthop: Ipv4Addr,
    pub mtu: usize,
}

/// The MTU of a route out of `ifp` (its own, or lower when the route has one).
fn path_mtu(ifp: &Ifnet, rtmtu: u32) -> usize {
    (if rtmtu != 0 { rtmtu.min(ifp.mtu()) } else { ifp.mtu() }) as usize
}

/// Forwards the datagram in `m` (RFC 1812): checks, TTL, route, redirect, then out
/// through `ip_output` as any other datagram (IP_FORWARDING: the header is kept).
fn ip_forward(ctx: &mut Ctx, ifp_in: &Arc<Ifnet>, mut m: Mbuf) {
    let (ttl, dst, src) = {
        let ip = Ipv4Packet::new_unchecked(m.as_slice());
        (ip.ttl(), ip.dst(), ip.src())
    };
    if src.is_unspecified() || dst.is_unspecified() || src.is_loopback() || dst.is_loopback() {
        ctx.inet.stat.cantforward += 1;
        return;
    }
    if ttl <= 1 {
        ctx.inet.stat.cantforward += 1;
        icmp::icmp_error(
            ctx,
            Some(ifp_in),
            m.as_slice(),
            ICMP_TIMXCEED,
            TIMXCEED_INTRANS,
            0,
            false,
        );
        return;
    }
    let Some(rt) = in_rtlookup(ctx, dst) else {
        ctx.inet.stat.noroute += 1;
        ctx.inet.stat.cantforward += 1;
        icmp::icmp_error(ctx, Some(ifp_in), m.as_slice(), ICMP_UNREACH, UNREACH_NET, 0, false);
        return;
    };
    if rt.flags & rtf::BLACKHOLE != 0 {
        return;
    }
    if rt.flags & rtf::REJECT != 0 {
        ctx.inet.stat.cantforward += 1;
        icmp::icmp_error(ctx, Some(ifp_in), m.as_slice(), ICMP_UNREACH, UNREACH_HOST, 0, false);
        return;
    }
    let Some(ifp) = ctx.ifnet_by_index(rt.ifindex).cloned() else {
        ctx.inet.stat.cantforward += 1;
        return;
    };
    // TTL down by one, checksum patched (RFC 1624).
    {
        let h = m.as_mut_slice();
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let ck = update(u16::from_be_bytes([h[10], h[11]]), old, new);
        h[10..12].copy_from_slice(&ck.to_be_bytes());
    }
    if ifp.index == ifp_in.index && ctx.inet.redirect {
        // A better first hop is on the sender's own link: tell it (RFC 792 redirect).
        icmp::icmp_redirect(ctx, ifp_in, m.as_slice(), rt.nexthop);
    }
    if ifp.if_type == crate::msg::IFT_LOOP {
        // A route to a loopback interface that is not for us: it ends here.
        ctx.inet.stat.forward += 1;
        return;
    }
    let mtu = path_mtu(&ifp, rt.mtu);
    // What an ICMP error about the datagram would quote (the header and 8 bytes), kept
    // in case it cannot go on for its size (NetBSD's `mcopy`, on the stack here).
    // Only a datagram above the MTU can need it: nothing is copied (nor zeroed) otherwise.
    let quote = (m.len() > mtu).then(|| {
        let mut q = [0u8; 60 + icmp::RETURNDATABYTES];
        let n = (Ipv4Packet::new_unchecked(m.as_slice()).hlen() + icmp::RETURNDATABYTES).min(m.len());
        q[..n].copy_from_slice(&m.as_slice()[..n]);
        (q, n)
    });
    let nh = NextHop {
        ifp,
        nexthop: rt.nexthop,
        mtu,
    };
    match ip_output_m(ctx, m, &nh, IP_FORWARDING) {
        Ok(()) => ctx.inet.stat.forward += 1,
        Err(e) => {
            ctx.inet.stat.cantforward += 1;
            let quote = quote.as_ref().map(|(q, n)| &q[..*n]);
            if let Some(quote) =
                quote.filter(|q| e == libc::EMSGSIZE && Ipv4Packet::new_unchecked(*q).off() & IP_DF != 0)
            {
                icmp::icmp_error(
                    ctx,
                    Some(ifp_in),
                    quote,
                    ICMP_UNREACH,
                    UNREACH_NEEDFRAG,
                    mtu as u16,
                    false,
                );
            }
        }
    }
}

/// The source address for a datagram to `dst`: that of the route's interface.
pub fn source_for(ctx: &Ctx, dst: Ipv4Addr) -> Option<Ipv4Addr> {
    if dst.is_broadcast() {
        return ctx
            .inet
            .addrs
            .iter()
            .find(|ia| ia.broadcast.is_some())
            .map(|ia| ia.addr);
    }
    if let Some(ia) = ctx.inet.addrs.iter().find(|ia| ia.addr == dst) {
        return Some(ia.addr);
    }
    let rt = ctx.rt.inet.lookup(dst)?;
    if !rt.ifa.is_unspecified() {
        return Some(rt.ifa);
    }
    ctx.inet
        .addrs
        .iter()
        .find(|ia| ia.ifindex == rt.ifindex)
        .map(|ia| ia.addr)
}

/// A locally originated datagram.
pub struct OutPkt<'a> {
    /// Source address; None picks the route's.
    pub src: Option<Ipv4Addr>,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub ttl: u8,
    pub tos: u8,
    pub df: bool,
    pub payload: &'a [u8],
    /// What the interface may finish (or ip_output does, when it cannot).
    pub offload: OutOffload,
}

/// Offloads asked for by the transport layer for one datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutOffload {
    /// The transport checksum at this offset in the payload holds only the
    /// pseudo-header's sum; the rest is left to do.
    pub csum_at: Option<u16>,
    /// A TCP segment that may be larger than the MTU, to be cut into segments of this
    /// much data (0: none).
    pub tso: u16,
}

/// ip_output's flags.
/// A forwarded datagram: its header is kept as it came (but the TTL), it is never for us.
pub const IP_FORWARDING: u32 = 0x1;

/// Sends a locally made datagram: route, source address, header, then `ip_output_m`.
/// Returns an errno on failure.
pub fn ip_output(ctx: &mut Ctx, p: &OutPkt<'_>) -> Result<(), i32> {
    ctx.inet.stat.localout += 1;
    let total = IP_HDR_LEN + p.payload.len();
    if total > IP_MAXPACKET {
        ctx.inet.stat.toolong += 1;
        return Err(libc::EMSGSIZE);
    }
    // Where it goes: the interface and next hop.
    let (nh, src_default) = if p.dst.is_broadcast() {
        let ifp = p
            .src
            .and_then(|s| ctx.inet.addrs.iter().find(|ia| ia.addr == s))
            .or_else(|| ctx.inet.addrs.iter().find(|ia| ia.broadcast.is_some()))
            .and_then(|ia| ctx.ifnet_by_index(ia.ifindex))
            .cloned()
            .ok_or(libc::ENETUNREACH)?;
        let src = ctx
            .inet
            .addrs
            .iter()
            .find(|ia| ia.ifindex == ifp.index)
            .map(|ia| ia.addr);
        let mtu = ifp.mtu() as usize;
        (
            NextHop {
                ifp,
                nexthop: p.dst,
                mtu,
            },
            src,
        )
    } else {
        let Some(rt) = in_rtlookup(ctx, p.dst) else {
            ctx.inet.stat.noroute += 1;
            let miss = crate::msg::RtMsg {
                dst: Some(p.dst.into()),
                ..Default::default()
            };
            ctx.rtsock.broadcast(&crate::msg::Msg::RtMiss(miss));
            return Err(libc::ENETUNREACH);
        };
        if rt.flags & rtf::BLACKHOLE != 0 {
            return Ok(());
        }
        if rt.flags & rtf::REJECT != 0 {
            return Err(libc::EHOSTUNREACH);
        }
        let ifp = ctx.ifnet_by_index(rt.ifindex).cloned().ok_or(libc::ENETUNREACH)?;
        let mtu = path_mtu(&ifp, rt.mtu);
        (
            NextHop {
                ifp,
                nexthop: rt.nexthop,
                mtu,
            },
            Some(rt.ifa).filter(|a| !a.is_unspecified()),
        )
    };
    let src = p.src.or(src_default).unwrap_or(Ipv4Addr::UNSPECIFIED);
    if !nh.ifp.is_up() {
        return Err(libc::ENETDOWN);
    }
    let id = ctx.inet.ip_id.next_id();
    let off = if p.df { IP_DF } else { 0 };
    let mut m = Mbuf::with_capacity(total);
    let hdr = Ipv4Repr {
        src,
        dst: p.dst,
        proto: p.proto,
        tos: p.tos,
        id,
        off,
        ttl: p.ttl,
        payload_len: p.payload.len(),
    };
    // The length was checked against IP_MAXPACKET above and the buffer is 20 bytes.
    let _ = hdr.emit(m.extend(IP_HDR_LEN));
    m.append(p.payload);
    m.set_network_header();
    if let Some(at) = p.offload.csum_at {
        let mut meta = FrameMeta::PLAIN;
        meta.csum = Csum::Partial {
            start: IP_HDR_LEN as u16,
            offset: at,
        };
        if p.offload.tso != 0 && p.proto == IPPROTO_TCP && total - tcp_hdrs(m.as_slice()) > usize::from(p.offload.tso) {
            meta.gso = Gso::Tcp4 { size: p.offload.tso };
        }
        m.set_meta(meta);
    }
    ip_output_m(ctx, m, &nh, 0)
}

/// The loopback interface local traffic goes around through.
fn lo_ifp(ctx: &Ctx) -> Option<Arc<Ifnet>> {
    ctx.ifnets
        .iter()
        .find(|i| i.if_type == crate::msg::IFT_LOOP && i.is_up())
        .cloned()
}

/// IPv4 output, the one path of every datagram that leaves: made here (`ip_output`) or
/// forwarded (`ip_forward`, with IP_FORWARDING). In order: the packet filter and IPsec
/// (their call point is marked below), our own addresses around through lo0, the
/// offloads the interface can finish or the software does instead (checksum, TSO cut),
/// fragmentation to the MTU, and the interface's `if_output` to the next hop.
pub fn ip_output_m(ctx: &mut Ctx, mut m: Mbuf, nh: &NextHop, flags: u32) -> Result<(), i32> {
    let dst = Ipv4Packet::new_unchecked(m.as_slice()).dst();
    // ---- Call point for `pfil_run_hooks(PFIL_OUT)` and IPsec's output policy: both come
    // here, for locally made and forwarded datagrams alike, before anything below looks
    // at the packet's final shape. (None exists yet.) ----

    // To one of our own addresses: around through lo0, whole (no MTU on the way).
    let local = flags & IP_FORWARDING == 0 && (dst.is_loopback() || ctx.inet.addrs.iter().any(|ia| ia.addr == dst));
    if local || nh.ifp.if_type == crate::msg::IFT_LOOP {
        let lo = if local {
            lo_ifp(ctx).ok_or(libc::ENETUNREACH)?
        } else {
            nh.ifp.clone()
        };
        let meta = m.meta();
        in_undefer_cksum(m.as_mut_slice(), &meta);
        m.set_meta(FrameMeta::PLAIN);
        return (lo.if_output)(ctx, &lo, m, Dst::Ip(dst.into()));
    }
    let ifp = &nh.ifp;
    let meta = m.meta();
    if !meta.is_plain() {
        if offload_fits(ifp, m.as_slice(), &meta, nh.mtu) {
            return if_output_v4(ctx, ifp, m, nh.nexthop, dst);
        }
        // Done here instead: a super-frame cut into segments of its size, or smaller to
        // fit this link (each with its checksums done), or the checksum alone.
        m.set_meta(FrameMeta::PLAIN);
        if let Gso::Tcp4 { size } = meta.gso {
            let mss = usize::from(size).min(nh.mtu.saturating_sub(tcp_hdrs(m.as_slice())));
            let mut r = Ok(());
            tcp4_segment(m.as_slice(), mss, |seg| {
                let e = if_output_v4(ctx, ifp, seg, nh.nexthop, dst);
                if r.is_ok() {
                    r = e;
                }
            });
            return r;
        }
        in_undefer_cksum(m.as_mut_slice(), &meta);
    }
    if m.len() > nh.mtu {
        if Ipv4Packet::new_unchecked(m.as_slice()).off() & IP_DF != 0 {
            ctx.inet.stat.cantfrag += 1;
            return Err(libc::EMSGSIZE);
        }
        return ip_fragment(ctx, ifp, nh.nexthop, dst, m.as_slice(), nh.mtu);
    }
    if_output_v4(ctx, ifp, m, nh.nexthop, dst)
}

/// The interface's `if_output` to an IPv4 next hop; when ARP gave up on a gateway, its
/// destinations are unreachable (a host on the link that does not answer is down).
fn if_output_v4(ctx: &mut Ctx, ifp: &Ifnet, m: Mbuf, nexthop: Ipv4Addr, dst: Ipv4Addr) -> Result<(), i32> {
    (ifp.if_output)(ctx, ifp, m, Dst::Ip(nexthop.into())).map_err(|e| match e {
        libc::EHOSTDOWN if nexthop != dst => libc::EHOSTUNREACH,
        libc::EHOSTDOWN => e,
        // The driver would not take it.
        _ => {
            ctx.inet.stat.odropped += 1;
            e
        }
    })
}

/// Splits a datagram into fragments that fit `mtu` and sends each (RFC 791 3.2).
fn ip_fragment(
    ctx: &mut Ctx,
    ifp: &Ifnet,
    nexthop: Ipv4Addr,
    dst: Ipv4Addr,
    pkt: &[u8],
    mtu: usize,
) -> Result<(), i32> {
    let ip = Ipv4Packet::new_unchecked(pkt);
    let hlen = ip.hlen();
    let data = &pkt[hlen..ip.total_len().min(pkt.len())];
    let chunk = (mtu.saturating_sub(hlen)) & !7;
    if chunk == 0 {
        ctx.inet.stat.cantfrag += 1;
        return Err(libc::EMSGSIZE);
    }
    // Byte offset of this datagram in the original (a forwarded fragment has one). The
    // pieces' offsets must fit the 13-bit field: a fragment whose data ends past 64 KiB
    // cannot be cut again without running into the flag bits, and cannot exist whole.
    let base = usize::from(ip.off() & IP_OFFMASK) * 8;
    if base + hlen + data.len() > IP_MAXPACKET {
        ctx.inet.stat.cantfrag += 1;
        return Err(libc::EMSGSIZE);
    }
    let more = ip.off() & IP_MF;
    ctx.inet.stat.fragmented += 1;
    let mut start = 0;
    while start < data.len() {
        let end = (start + chunk).min(data.len());
        let last = end == data.len();
        // At most (65535 - 20) / 8 by the check above: never reaches the flags.
        let off8 = ((base + start) / 8) as u16 & IP_OFFMASK;
        let off = off8 | if last { more } else { IP_MF };
        let flen = hlen + end - start;
        let mut f = Mbuf::with_capacity(flen);
        f.append(&pkt[..hlen]);
        f.append(&data[start..end]);
        let h = &mut f.as_mut_slice()[..hlen];
        h[2..4].copy_from_slice(&(flen as u16).to_be_bytes());
        h[6..8].copy_from_slice(&off.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let c = cksum(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        f.set_network_header();
        ctx.inet.stat.ofragments += 1;
        if_output_v4(ctx, ifp, f, nexthop, dst)?;
        start = end;
    }
    Ok(())
}
