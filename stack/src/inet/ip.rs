//! IPv4 (RFC 791, RFC 1122): `ip_input`, `ip_forward`, `ip_output`, fragmentation.

use std::net::Ipv4Addr;
use std::sync::Arc;

use pktbox_drivers::{ifcap, Csum, FrameMeta, Gso};
use pnet_packet::ethernet::EtherTypes;

use crate::conf::Ctx;
use crate::inet::cksum::{cksum, update};
use crate::inet::in_offload::{in_undefer_cksum, tcp4_segment};
use crate::inet::{icmp, raw, reass};
use crate::msg::iff;
use crate::net::arp::{arpresolve, Resolved};
use crate::net::ether::{ether_send, ether_send_slice, ETHER_HDR_LEN};
use crate::net::ifnet::{inc, Ifnet};
use crate::net::route::{rtf, Gateway};
use crate::sys::domain::{protox, PrInput};

pub const IPVERSION: u8 = 4;
pub const IP_HDR_LEN: usize = 20;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
/// Don't-fragment and more-fragments bits of ip_off.
pub const IP_DF: u16 = 0x4000;
pub const IP_MF: u16 = 0x2000;
pub const IP_OFFMASK: u16 = 0x1fff;
pub const IP_MAXPACKET: usize = 65535;

/// IP options (RFC 791 section 3.1).
const IPOPT_EOL: u8 = 0;
const IPOPT_NOP: u8 = 1;
const IPOPT_LSRR: u8 = 131;
const IPOPT_SSRR: u8 = 137;

/// A read-only view of an IPv4 header at the start of `b` (checked by `ip_input`).
#[derive(Clone, Copy)]
pub struct Ip<'a>(pub &'a [u8]);

impl Ip<'_> {
    pub fn hlen(&self) -> usize {
        usize::from(self.0[0] & 0x0f) * 4
    }
    pub fn tos(&self) -> u8 {
        self.0[1]
    }
    pub fn total_len(&self) -> usize {
        usize::from(u16::from_be_bytes([self.0[2], self.0[3]]))
    }
    pub fn id(&self) -> u16 {
        u16::from_be_bytes([self.0[4], self.0[5]])
    }
    pub fn off(&self) -> u16 {
        u16::from_be_bytes([self.0[6], self.0[7]])
    }
    pub fn ttl(&self) -> u8 {
        self.0[8]
    }
    pub fn proto(&self) -> u8 {
        self.0[9]
    }
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.0[12], self.0[13], self.0[14], self.0[15])
    }
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.0[16], self.0[17], self.0[18], self.0[19])
    }
    /// Whether this is a fragment (more to come, or not the first).
    pub fn is_fragment(&self) -> bool {
        self.off() & (IP_MF | IP_OFFMASK) != 0
    }
}

/// Writes a 20-byte header into `h` and its checksum.
#[allow(clippy::too_many_arguments)]
pub fn write_header(
    h: &mut [u8],
    tos: u8,
    total: usize,
    id: u16,
    off: u16,
    ttl: u8,
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    h[0] = (IPVERSION << 4) | 5;
    h[1] = tos;
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6..8].copy_from_slice(&off.to_be_bytes());
    h[8] = ttl;
    h[9] = proto;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = cksum(&h[..IP_HDR_LEN]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

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
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            IPOPT_EOL => return true,
            IPOPT_NOP => i += 1,
            t => {
                let Some(&l) = opts.get(i + 1) else { return false };
                let l = usize::from(l);
                if l < 2 || i + l > opts.len() {
                    return false;
                }
                if t == IPOPT_LSRR || t == IPOPT_SSRR {
                    return false;
                }
                i += l;
            }
        }
    }
    true
}

/// Whether the offload metadata of a received datagram at `buf[off..]` with header length
/// `hlen` fits it: a partial checksum lies inside it, a super-frame is one TCP segment
/// whose checksum is left partial at the TCP header.
fn rx_meta_ok(buf: &[u8], off: usize, hlen: usize, meta: &FrameMeta) -> bool {
    match meta.gso {
        Gso::None => {}
        Gso::Tcp4 { size } => {
            let ip = Ip(&buf[off..]);
            let at_tcp = matches!(meta.csum, Csum::Partial { start, offset: 16 } if usize::from(start) == off + hlen);
            if ip.proto() != IPPROTO_TCP || ip.is_fragment() || size == 0 || !at_tcp {
                return false;
            }
        }
        Gso::Tcp6 { .. } => return false,
    }
    match meta.csum {
        Csum::Partial { start, offset } => usize::from(start) + usize::from(offset) + 2 <= buf.len(),
        _ => true,
    }
}

/// Input of one IPv4 packet at `buf[off..]`, under the stack context. The bytes before
/// `off` (the Ethernet header, when there is one) may be rewritten to forward in place.
/// `meta` comes from the driver (FrameMeta::PLAIN for anything else).
pub fn ip_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, buf: &mut [u8], off: usize, l2bcast: bool, meta: FrameMeta) {
    ctx.inet.stat.total += 1;
    let pkt = &buf[off..];
    if pkt.len() < IP_HDR_LEN {
        ctx.inet.stat.toosmall += 1;
        return;
    }
    let ip = Ip(pkt);
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
    if !meta.is_plain() && !rx_meta_ok(&buf[..off + total], off, hlen, &meta) {
        inc(&ifp.stats.ierrors);
        return;
    }
    // The transport checksum need not be checked when the driver says it is good, or the
    // host that sent it left it partial (it never crossed a wire).
    let csum_ok = match meta.csum {
        Csum::Valid => true,
        Csum::Partial { start, .. } => usize::from(start) == off + hlen,
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
    let end = off + total;
    match in_local(ctx, dst, ifp.index) {
        Some(bcast) => {
            let bcast = bcast || l2bcast;
            if ip.is_fragment() {
                ctx.inet.stat.fragments += 1;
                let Some(whole) = reass::ip_reass(ctx, &buf[off..end]) else {
                    return;
                };
                ctx.inet.stat.reassembled += 1;
                deliver(ctx, ifp, &whole, bcast, false);
            } else {
                deliver(ctx, ifp, &buf[off..end], bcast, csum_ok);
            }
        }
        None => {
            if l2bcast || dst.is_multicast() || !ctx.inet.forwarding {
                ctx.inet.stat.cantforward += 1;
                return;
            }
            ip_forward(ctx, ifp, &mut buf[..end], off, meta);
        }
    }
}

/// The input routine of each protocol number, from the inet domain's protocol switch.
pub static IP_PROTOX: [Option<PrInput>; 256] = protox(super::INETSW);

/// Hands a whole local datagram to its protocol; `csum_ok` when its transport checksum
/// needs no check.
fn deliver(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pkt: &[u8], bcast: bool, csum_ok: bool) {
    ctx.inet.stat.delivered += 1;
    let ip = Ip(pkt);
    // ICMP reaches raw sockets from icmp_input, once it has passed the length and checksum
    // checks, as in NetBSD: a damaged message is dropped, not handed to ping.
    let raw_took = ip.proto() != IPPROTO_ICMP && raw::rip_input(ctx, pkt);
    match IP_PROTOX[usize::from(ip.proto())] {
        Some(pr_input) => pr_input(ctx, ifp, pkt, bcast, csum_ok),
        None if raw_took => {}
        None => {
            ctx.inet.stat.noproto += 1;
            if !bcast {
                icmp::icmp_error(
                    ctx,
                    Some(ifp),
                    pkt,
                    icmp::ICMP_UNREACH,
                    icmp::UNREACH_PROTOCOL,
                    0,
                    bcast,
                );
            }
        }
    }
}

/// Forwards the packet at `buf[off..]` (RFC 1812): TTL, route, MTU, then straight out of
/// the same buffer with a new Ethernet header. Offloads left to do (`meta`) go on to an
/// interface that can do them, or are done here.
fn ip_forward(ctx: &mut Ctx, ifp_in: &Arc<Ifnet>, buf: &mut [u8], off: usize, mut meta: FrameMeta) {
    let (ttl, dst, src) = {
        let ip = Ip(&buf[off..]);
        (ip.ttl(), ip.dst(), ip.src())
    };
    if src.is_unspecified() || dst.is_unspecified() || src.is_loopback() || dst.is_loopback() {
        ctx.inet.stat.cantforward += 1;
        return;
    }
    if ttl <= 1 {
        ctx.inet.stat.cantforward += 1;
        let pkt = buf[off..].to_vec();
        icmp::icmp_error(
            ctx,
            Some(ifp_in),
            &pkt,
            icmp::ICMP_TIMXCEED,
            icmp::TIMXCEED_INTRANS,
            0,
            false,
        );
        return;
    }
    let Some(rt) = ctx.rt.inet.lookup_mut(dst) else {
        ctx.inet.stat.noroute += 1;
        ctx.inet.stat.cantforward += 1;
        let pkt = buf[off..].to_vec();
        icmp::icmp_error(ctx, Some(ifp_in), &pkt, icmp::ICMP_UNREACH, icmp::UNREACH_NET, 0, false);
        return;
    };
    rt.use_count += 1;
    let (flags, gw, ifindex, rtmtu) = (rt.flags, rt.gateway, rt.ifindex, rt.mtu);
    if flags & rtf::BLACKHOLE != 0 {
        return;
    }
    if flags & rtf::REJECT != 0 {
        ctx.inet.stat.cantforward += 1;
        let pkt = buf[off..].to_vec();
        icmp::icmp_error(
            ctx,
            Some(ifp_in),
            &pkt,
            icmp::ICMP_UNREACH,
            icmp::UNREACH_HOST,
            0,
            false,
        );
        return;
    }
    let Some(ifp) = ctx.ifnet_by_index(ifindex).cloned() else {
        ctx.inet.stat.cantforward += 1;
        return;
    };
    // TTL down by one, checksum patched (RFC 1624).
    {
        let h = &mut buf[off..];
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let ck = update(u16::from_be_bytes([h[10], h[11]]), old, new);
        h[10..12].copy_from_slice(&ck.to_be_bytes());
    }
    if ifp.index == ifp_in.index && ctx.inet.redirect {
        // A better first hop is on the sender's own link: tell it (RFC 792 redirect).
        let pkt = buf[off..].to_vec();
        let gw_addr = match gw {
            Gateway::Inet(g) => g,
            Gateway::Link(_) => dst,
        };
        icmp::icmp_redirect(ctx, ifp_in, &pkt, gw_addr);
    }
    let nexthop = match gw {
        Gateway::Inet(g) => g,
        Gateway::Link(_) => dst,
    };
    let mtu = if rtmtu != 0 { rtmtu.min(ifp.mtu()) } else { ifp.mtu() } as usize;
    let len = buf.len() - off;
    if !meta.is_plain() {
        // The offsets in `meta` count from the frame's start, which is ETHER_HDR_LEN
        // before the IP header here (ether_input) and in what goes out.
        let out_ok =
            off == ETHER_HDR_LEN && ifp.if_type != crate::msg::IFT_LOOP && offload_fits(&ifp, &buf[off..], &meta, mtu);
        if !out_ok {
            if let Gso::Tcp4 { size } = meta.gso {
                // Cut here: segments of the same size, or smaller to fit this link.
                let mss = usize::from(size).min(mtu.saturating_sub(tcp_hdrs(&buf[off..])));
                ctx.inet.stat.forward += 1;
                let pkt = buf[off..].to_vec();
                let mut frames = Vec::new();
                tcp4_segment(&pkt, mss, |f| frames.push(f));
                for mut f in frames {
                    let Ok(Some(mac)) = ether_dst(ctx, &ifp, nexthop, &f[ETHER_HDR_LEN..]) else {
                        continue;
                    };
                    let _ = ether_send(&ifp, mac, EtherTypes::Ipv4, &mut f);
                }
                return;
            }
            if off >= ETHER_HDR_LEN {
                in_undefer_cksum(&mut buf[off - ETHER_HDR_LEN..], &meta);
            }
            meta = FrameMeta::PLAIN;
        }
    }
    if len > mtu && meta.gso == Gso::None {
        let pkt = buf[off..].to_vec();
        if Ip(&pkt).off() & IP_DF != 0 {
            ctx.inet.stat.cantfrag += 1;
            ctx.inet.stat.cantforward += 1;
            icmp::icmp_error(
                ctx,
                Some(ifp_in),
                &pkt,
                icmp::ICMP_UNREACH,
                icmp::UNREACH_NEEDFRAG,
                mtu as u16,
                false,
            );
            return;
        }
        // A fragment that cannot be cut again (see fragment_and_send) is not forwarded.
        if fragment_and_send(ctx, &ifp, nexthop, &pkt, mtu) == Err(libc::EMSGSIZE) {
            ctx.inet.stat.cantforward += 1;
        } else {
            ctx.inet.stat.forward += 1;
        }
        return;
    }
    ctx.inet.stat.forward += 1;
    if ifp.if_type == crate::msg::IFT_LOOP {
        return;
    }
    if !meta.is_plain() {
        // A held packet would go out plain: offloads only to a known neighbour.
        if let Some(mac) = crate::net::arp::arplookup(ctx, &ifp, nexthop) {
            let _ = ether_send_slice(&ifp, mac, EtherTypes::Ipv4, &mut buf[off - ETHER_HDR_LEN..], &meta);
            return;
        }
        if let Gso::Tcp4 { size } = meta.gso {
            let pkt = buf[off..].to_vec();
            tcp4_segment(&pkt, usize::from(size), |mut f| {
                if let Ok(Some(mac)) = ether_dst(ctx, &ifp, nexthop, &f[ETHER_HDR_LEN..]) {
                    let _ = ether_send(&ifp, mac, EtherTypes::Ipv4, &mut f);
                }
            });
            return;
        }
        in_undefer_cksum(&mut buf[off - ETHER_HDR_LEN..], &meta);
    }
    match ether_dst(ctx, &ifp, nexthop, &buf[off..]).ok().flatten() {
        Some(mac) if off >= ETHER_HDR_LEN => {
            let _ = ether_send_slice(
                &ifp,
                mac,
                EtherTypes::Ipv4,
                &mut buf[off - ETHER_HDR_LEN..],
                &FrameMeta::PLAIN,
            );
        }
        Some(mac) => {
            let mut v = vec![0u8; ETHER_HDR_LEN];
            v.extend_from_slice(&buf[off..]);
            let _ = ether_send(&ifp, mac, EtherTypes::Ipv4, &mut v);
        }
        None => {}
    }
}

/// The IP and TCP header lengths of a TCP datagram (0 when it is too short to say).
fn tcp_hdrs(pkt: &[u8]) -> usize {
    let hlen = Ip(pkt).hlen();
    pkt.get(hlen + 12).map(|b| hlen + usize::from(b >> 4) * 4).unwrap_or(0)
}

/// Whether `ifp` can finish the offloads of datagram `pkt`: the checksum offload for
/// its protocol, and for a TCP super-segment TSO with segments that fit `mtu`.
fn offload_fits(ifp: &Ifnet, pkt: &[u8], meta: &FrameMeta, mtu: usize) -> bool {
    let caps = ifp.capenable();
    let need = match (meta.gso, Ip(pkt).proto()) {
        (Gso::Tcp4 { size }, IPPROTO_TCP) => {
            if tcp_hdrs(pkt) + usize::from(size) > mtu {
                return false;
            }
            ifcap::TSOV4 | ifcap::CSUM_TCPV4_TX
        }
        (Gso::None, IPPROTO_TCP) => ifcap::CSUM_TCPV4_TX,
        (Gso::None, IPPROTO_UDP) => ifcap::CSUM_UDPV4_TX,
        _ => return false,
    };
    let need = if matches!(meta.csum, Csum::Partial { .. }) {
        need
    } else {
        need & ifcap::TSOV4
    };
    caps & need == need
}

/// The Ethernet destination for an IP packet to `nexthop` on `ifp`: broadcast for a
/// broadcast address, otherwise by ARP (which may hold the packet and answer None).
/// EHOSTDOWN when ARP gave up on `nexthop` recently (NetBSD's arpresolve).
fn ether_dst(ctx: &mut Ctx, ifp: &Ifnet, nexthop: Ipv4Addr, pkt: &[u8]) -> Result<Option<[u8; 6]>, i32> {
    let bcast = nexthop.is_broadcast()
        || ctx
            .inet
            .addrs
            .iter()
            .any(|ia| ia.ifindex == ifp.index && ia.broadcast == Some(nexthop));
    if bcast {
        return Ok(Some(crate::net::ether::BROADCAST));
    }
    if nexthop.is_multicast() {
        let o = nexthop.octets();
        return Ok(Some([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]));
    }
    if ifp.flags() & iff::NOARP != 0 {
        return Ok(None);
    }
    match arpresolve(ctx, ifp, nexthop, pkt) {
        Resolved::Now(m) => Ok(Some(m)),
        Resolved::Held => Ok(None),
        Resolved::Down => Err(libc::EHOSTDOWN),
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

/// Datagrams waiting to go around through lo0.
pub const LOOPQ_MAX: usize = 4096;

/// Delivers what was sent to our own addresses (see `sys::CtxGuard`).
pub fn loopback_drain(ctx: &mut Ctx) {
    while let Some(mut pkt) = ctx.inet.loopq.pop_front() {
        let Some(lo) = ctx.ifnets.iter().find(|i| i.if_type == crate::msg::IFT_LOOP).cloned() else {
            ctx.inet.loopq.clear();
            return;
        };
        ip_input(ctx, &lo, &mut pkt, ETHER_HDR_LEN, false, FrameMeta::PLAIN);
    }
}

/// Output on loopback (`looutput`): `pkt` is an IPv4 datagram after ETHER_HDR_LEN bytes of
/// room. Counts it on lo0, shows it to lo0's captures, and queues it for `loopback_drain`.
pub fn looutput(ctx: &mut Ctx, mut pkt: Vec<u8>) -> Result<(), i32> {
    let lo = ctx
        .ifnets
        .iter()
        .find(|i| i.if_type == crate::msg::IFT_LOOP && i.is_up())
        .cloned()
        .ok_or(libc::ENETUNREACH)?;
    let total = pkt.len().saturating_sub(ETHER_HDR_LEN);
    inc(&lo.stats.opackets);
    lo.stats
        .obytes
        .fetch_add(total as u64, std::sync::atomic::Ordering::Relaxed);
    lo.count_in(total);
    if ctx.inet.loopq.len() >= LOOPQ_MAX {
        ctx.inet.stat.odropped += 1;
        inc(&lo.stats.iqdrops);
        return Err(libc::ENOBUFS);
    }
    // Loopback's link header for a capture (DLT_NULL): the address family, in host order,
    // in the room the Ethernet header would take.
    if let Some(af) = pkt.get_mut(ETHER_HDR_LEN - 4..ETHER_HDR_LEN) {
        af.copy_from_slice(&(libc::AF_INET as u32).to_ne_bytes());
    }
    if let Some(framed) = pkt.get(ETHER_HDR_LEN - 4..) {
        lo.bpf.tap(framed, crate::net::bpf::Dir::Out);
    }
    ctx.inet.loopq.push_back(pkt);
    Ok(())
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

/// Sends a datagram: route, source address, loopback for our own addresses, fragmentation
/// by the path MTU, ARP. Returns an errno on failure.
pub fn ip_output(ctx: &mut Ctx, p: &OutPkt<'_>) -> Result<(), i32> {
    ctx.inet.stat.localout += 1;
    let total = IP_HDR_LEN + p.payload.len();
    if total > IP_MAXPACKET {
        ctx.inet.stat.toolong += 1;
        return Err(libc::EMSGSIZE);
    }
    // Where it goes: the interface and next hop.
    let (ifp, nexthop, src_default, mtu) = if p.dst.is_broadcast() {
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
        let mtu = ifp.mtu();
        (ifp, p.dst, src, mtu)
    } else {
        let Some(rt) = ctx.rt.inet.lookup_mut(p.dst) else {
            ctx.inet.stat.noroute += 1;
            let miss = crate::msg::RtMsg {
                dst: Some(p.dst.into()),
                ..Default::default()
            };
            ctx.rtsock.broadcast(&crate::msg::Msg::RtMiss(miss));
            return Err(libc::ENETUNREACH);
        };
        rt.use_count += 1;
        if rt.flags & rtf::BLACKHOLE != 0 {
            return Ok(());
        }
        if rt.flags & rtf::REJECT != 0 {
            return Err(libc::EHOSTUNREACH);
        }
        let nexthop = match rt.gateway {
            Gateway::Inet(g) => g,
            Gateway::Link(_) => p.dst,
        };
        let (ifindex, ifa, rtmtu) = (rt.ifindex, rt.ifa, rt.mtu);
        let ifp = ctx.ifnet_by_index(ifindex).cloned().ok_or(libc::ENETUNREACH)?;
        let mtu = if rtmtu != 0 { rtmtu.min(ifp.mtu()) } else { ifp.mtu() };
        (ifp, nexthop, Some(ifa).filter(|a| !a.is_unspecified()), mtu)
    };
    let src = p.src.or(src_default).unwrap_or(Ipv4Addr::UNSPECIFIED);
    if !ifp.is_up() {
        return Err(libc::ENETDOWN);
    }
    let id = ctx.inet.ip_id.next_id();
    let off = if p.df { IP_DF } else { 0 };
    let mut pkt = vec![0u8; ETHER_HDR_LEN + total];
    write_header(
        &mut pkt[ETHER_HDR_LEN..ETHER_HDR_LEN + IP_HDR_LEN],
        p.tos,
        total,
        id,
        off,
        p.ttl,
        p.proto,
        src,
        p.dst,
    );
    pkt[ETHER_HDR_LEN + IP_HDR_LEN..].copy_from_slice(p.payload);
    let mut meta = FrameMeta::PLAIN;
    if let Some(at) = p.offload.csum_at {
        let start = (ETHER_HDR_LEN + IP_HDR_LEN) as u16;
        meta.csum = Csum::Partial { start, offset: at };
        if p.offload.tso != 0
            && p.proto == IPPROTO_TCP
            && total - tcp_hdrs(&pkt[ETHER_HDR_LEN..]) > usize::from(p.offload.tso)
        {
            meta.gso = Gso::Tcp4 { size: p.offload.tso };
        }
    }
    // To one of our own addresses: around through lo0.
    let local = ctx.inet.addrs.iter().any(|ia| ia.addr == p.dst) || p.dst.is_loopback();
    if !meta.is_plain() {
        let fast = !local
            && ifp.if_type != crate::msg::IFT_LOOP
            && offload_fits(&ifp, &pkt[ETHER_HDR_LEN..], &meta, mtu as usize);
        if fast {
            if let Some(mac) = crate::net::arp::arplookup(ctx, &ifp, nexthop) {
                return ether_send_slice(&ifp, mac, EtherTypes::Ipv4, &mut pkt, &meta).inspect_err(|_| {
                    ctx.inet.stat.odropped += 1;
                });
            }
        }
        // Done here instead: the checksum, then cut into segments sent one by one.
        in_undefer_cksum(&mut pkt, &meta);
        if let Gso::Tcp4 { size } = meta.gso {
            if !local && ifp.if_type != crate::msg::IFT_LOOP {
                let mut r = Ok(());
                let mut frames = Vec::new();
                tcp4_segment(&pkt[ETHER_HDR_LEN..], usize::from(size), |f| frames.push(f));
                for mut f in frames {
                    let e = send_resolved(ctx, &ifp, nexthop, p.dst, &mut f, mtu, p.df);
                    if r.is_ok() {
                        r = e;
                    }
                }
                return r;
            }
        }
    }
    if local || ifp.if_type == crate::msg::IFT_LOOP {
        return looutput(ctx, pkt);
    }
    send_resolved(ctx, &ifp, nexthop, p.dst, &mut pkt, mtu, p.df)
}

/// The end of ip_output for a plain datagram behind ETHER_HDR_LEN bytes of room in `pkt`:
/// fragments when it is above `mtu`, resolves the next hop, sends.
fn send_resolved(
    ctx: &mut Ctx,
    ifp: &Ifnet,
    nexthop: Ipv4Addr,
    dst: Ipv4Addr,
    pkt: &mut Vec<u8>,
    mtu: u32,
    df: bool,
) -> Result<(), i32> {
    let total = pkt.len() - ETHER_HDR_LEN;
    if total > mtu as usize {
        if df {
            ctx.inet.stat.cantfrag += 1;
            return Err(libc::EMSGSIZE);
        }
        return fragment_and_send(ctx, ifp, nexthop, &pkt[ETHER_HDR_LEN..], mtu as usize);
    }
    // A gateway that does not answer ARP makes its destinations unreachable; a host on the
    // link that does not answer is down (sendto: Host is down).
    let resolved = ether_dst(ctx, ifp, nexthop, &pkt[ETHER_HDR_LEN..]).map_err(|e| {
        if nexthop != dst {
            libc::EHOSTUNREACH
        } else {
            e
        }
    })?;
    match resolved {
        Some(mac) => ether_send(ifp, mac, EtherTypes::Ipv4, pkt).inspect_err(|_| {
            ctx.inet.stat.odropped += 1;
        }),
        None => Ok(()),
    }
}

/// Splits a datagram into fragments that fit `mtu` and sends each (RFC 791 3.2).
fn fragment_and_send(ctx: &mut Ctx, ifp: &Ifnet, nexthop: Ipv4Addr, pkt: &[u8], mtu: usize) -> Result<(), i32> {
    let ip = Ip(pkt);
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
        let mut f = vec![0u8; ETHER_HDR_LEN + flen];
        let h = &mut f[ETHER_HDR_LEN..];
        h[..hlen].copy_from_slice(&pkt[..hlen]);
        h[2..4].copy_from_slice(&(flen as u16).to_be_bytes());
        h[6..8].copy_from_slice(&off.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let c = cksum(&h[..hlen]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h[hlen..].copy_from_slice(&data[start..end]);
        ctx.inet.stat.ofragments += 1;
        if let Some(mac) = ether_dst(ctx, ifp, nexthop, &f[ETHER_HDR_LEN..])? {
            ether_send(ifp, mac, EtherTypes::Ipv4, &mut f)?;
        }
        start = end;
    }
    Ok(())
}
