//! IPv6 (RFC 8200): `ip6_input` (validation, extension headers, reassembly, local
//! delivery or forwarding), `ip6_forward`, `ip6_output` (source selection, hop limit,
//! fragmentation to the path MTU), and the link step (`ip6_send`: loopback, multicast
//! mapping, neighbor resolution).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use pktbox_drivers::{FrameMeta, Gso};

use crate::conf::Ctx;
use crate::inet::in_offload::{in_undefer_cksum, offload_fits, out_meta, rx_meta_ok6, tcp6_segment, tcp_hdrs};
use crate::inet::inpcb::TransIn;
use crate::inet::ip::OutOffload;
use crate::inet::raw::rip6_input;
use crate::inet::tcp::input::tcp_input_af;
use crate::inet::udp::udp_input_af;
use crate::inet6::{frag6, icmp6, in6f, nd6};
use crate::msg::IFT_LOOP;
use crate::net::ifnet::{inc, Dst, Ifnet};
use crate::sys::mbuf::Mbuf;
use crate::wire::icmpv6 as ic;
use crate::wire::ip6ext::{self, Chain, FragRepr, RoutingRepr, Step};
use crate::wire::ipv4::IPPROTO_TCP;
use crate::wire::ipv6::{addr as a6, Ipv6Packet, Ipv6Repr, HEADER_LEN, MIN_MTU};

/// Packets waiting on lo0 at most.
const LOOPQ_MAX: usize = 256;
/// Largest IPv6 packet without a jumbo payload option.
pub const IPV6_MAXPACKET: usize = 65535;

/// Input of one IPv6 packet (the Ethernet payload), under the stack context. `csum_ok`
/// when the interface vouches for the transport checksum.
pub fn ip6_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, m: Mbuf, csum_ok: bool) {
    ctx.inet6.stat.total += 1;
    if !ctx.inet6.enabled {
        inc(&ifp.stats.noproto);
        return;
    }
    ip6_input1(ctx, ifp, m, false, csum_ok);
}

/// The body of `ip6_input`: the mbuf holds the IPv6 packet (from its network header on).
fn ip6_input1(ctx: &mut Ctx, ifp: &Arc<Ifnet>, mut m: Mbuf, reassembled: bool, csum_ok: bool) {
    let st = &mut ctx.inet6.stat;
    let pkt = m.as_slice();
    let p = match Ipv6Packet::new_checked(pkt) {
        Ok(p) => p,
        Err(_) if pkt.len() < HEADER_LEN => {
            st.toosmall += 1;
            return;
        }
        Err(_) if pkt[0] >> 4 != 6 => {
            st.badvers += 1;
            return;
        }
        Err(_) => {
            st.tooshort += 1;
            return;
        }
    };
    let h = Ipv6Repr::parse(&p);
    let lo = ifp.if_type == IFT_LOOP;
    // Addresses that never appear on the wire (RFC 4291; NetBSD's ip6_input checks).
    let v4mapped = |a: &Ipv6Addr| a.to_ipv4_mapped().is_some();
    if h.src.is_multicast()
        || h.dst.is_unspecified()
        || (!lo && (h.src.is_loopback() || h.dst.is_loopback()))
        || v4mapped(&h.src)
        || v4mapped(&h.dst)
        || (h.dst.is_multicast() && (a6::scope(&h.dst) == 0 || (!lo && a6::scope(&h.dst) == 1)))
    {
        st.badscope += 1;
        return;
    }
    // What the link padded behind the packet goes.
    let plen = p.payload().len();
    m.truncate(HEADER_LEN + plen);
    let pkt = m.as_slice();
    let payload = &pkt[HEADER_LEN..];
    // For us?
    let ours = if h.dst.is_multicast() {
        if !super::in6_member(ctx, ifp.index, &h.dst) && h.dst != nd6::ALL_NODES {
            ctx.inet6.stat.notmember += 1;
            return;
        }
        true
    } else {
        match super::in6_ifaddr(ctx, &h.dst) {
            Some(ia) if a6::is_link_local(&ia.addr) && ia.ifindex != ifp.index && !lo => false,
            Some(ia) if ia.flags & in6f::DUPLICATED != 0 => false,
            Some(ia) if ia.flags & in6f::TENTATIVE != 0 => {
                // Still being probed: not ours yet (RFC 4862 5.4).
                ctx.inet6.stat.tentative += 1;
                return;
            }
            Some(_) => true,
            None => false,
        }
    };
    // Hop-by-hop options are looked at by every node on the path.
    let mut chain = Chain::new(payload, h.next_header);
    let mut nh_field = 6usize;
    loop {
        let step = match chain.next() {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                ctx.inet6.stat.toomanyhdr += u64::from(e.err == crate::wire::Error::Malformed);
                ctx.inet6.stat.tooshort += u64::from(e.err == crate::wire::Error::Truncated);
                let at = if e.at == usize::MAX { 6 } else { HEADER_LEN + e.at };
                icmp6::icmp6_error(ctx, ifp, pkt, ic::PARAM_PROB, ic::PARAMPROB_HEADER, at as u32);
                return;
            }
            None => return,
        };
        match step {
            Step::Ext(x) if x.kind == ip6ext::NH_HOPOPTS || x.kind == ip6ext::NH_DSTOPTS => {
                if x.kind == ip6ext::NH_DSTOPTS && !ours {
                    break;
                }
                if !options_ok(ctx, ifp, pkt, &h.dst, HEADER_LEN + x.offset, x.data) {
                    return;
                }
                nh_field = HEADER_LEN + x.offset;
            }
            Step::Ext(_) if !ours => break,
            Step::Ext(x) if x.kind == ip6ext::NH_ROUTING => {
                let Ok(r) = RoutingRepr::parse(x.data) else {
                    ctx.inet6.stat.tooshort += 1;
                    return;
                };
                if r.segments_left > 0 {
                    // Type 0 is deprecated (RFC 5095) and no other type is implemented:
                    // a parameter problem pointing at the routing type.
                    ctx.inet6.stat.badoptions += 1;
                    icmp6::icmp6_error(
                        ctx,
                        ifp,
                        pkt,
                        ic::PARAM_PROB,
                        ic::PARAMPROB_HEADER,
                        (HEADER_LEN + x.offset + 2) as u32,
                    );
                    return;
                }
                nh_field = HEADER_LEN + x.offset;
            }
            Step::Ext(x) => {
                // The fragment header.
                let Ok(f) = FragRepr::parse(x.data) else {
                    ctx.inet6.stat.tooshort += 1;
                    return;
                };
                if f.offset == 0 && !f.more {
                    // An atomic fragment (RFC 6946): processed as a whole packet.
                    nh_field = HEADER_LEN + x.offset;
                    continue;
                }
                ctx.inet6.stat.fragments += 1;
                if reassembled {
                    ctx.inet6.stat.fragdropped += 1;
                    return;
                }
                let data_len = payload.len() - x.offset - ip6ext::FRAG_HDR_LEN;
                if f.more && (!data_len.is_multiple_of(8) || data_len == 0) {
                    ctx.inet6.stat.fragdropped += 1;
                    icmp6::icmp6_error(ctx, ifp, pkt, ic::PARAM_PROB, ic::PARAMPROB_HEADER, 4);
                    return;
                }
                if usize::from(f.offset) + data_len > IPV6_MAXPACKET - HEADER_LEN {
                    ctx.inet6.stat.fragdropped += 1;
                    icmp6::icmp6_error(
                        ctx,
                        ifp,
                        pkt,
                        ic::PARAM_PROB,
                        ic::PARAMPROB_HEADER,
                        (HEADER_LEN + x.offset + 2) as u32,
                    );
                    return;
                }
                if let Some(whole) = frag6::frag6_input(ctx, ifp, pkt, nh_field, HEADER_LEN + x.offset, &f) {
                    ctx.inet6.stat.reassembled += 1;
                    // The pieces were vouched for one by one, not the whole.
                    ip6_input1(ctx, ifp, whole, true, false);
                }
                return;
            }
            Step::Upper { nh, offset } => {
                if !ours {
                    break;
                }
                ip6_deliver(ctx, ifp, pkt, &h, nh, HEADER_LEN + offset, nh_field, csum_ok);
                return;
            }
        }
    }
    // Not for us.
    if ctx.inet6.forwarding && !h.dst.is_multicast() {
        ip6_forward(ctx, ifp, m);
    } else {
        ctx.inet6.stat.cantforward += 1;
    }
}

/// Processes the options of a hop-by-hop or destination options header; false when the
/// packet is to be dropped (an error sent where the option's type says so).
fn options_ok(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pkt: &[u8], dst: &Ipv6Addr, at: usize, hdr: &[u8]) -> bool {
    for o in ip6ext::options(hdr) {
        let o = match o {
            Ok(o) => o,
            Err(e) => {
                ctx.inet6.stat.badoptions += 1;
                icmp6::icmp6_error(ctx, ifp, pkt, ic::PARAM_PROB, ic::PARAMPROB_HEADER, (at + e.at) as u32);
                return false;
            }
        };
        match o.kind {
            ip6ext::OPT_PAD1 | ip6ext::OPT_PADN => {}
            ip6ext::OPT_ROUTER_ALERT if o.data.len() == 2 => {}
            _ => match o.action() {
                0 => {}
                1 => {
                    ctx.inet6.stat.badoptions += 1;
                    return false;
                }
                a => {
                    ctx.inet6.stat.badoptions += 1;
                    if a == 2 || !dst.is_multicast() {
                        icmp6::icmp6_error(
                            ctx,
                            ifp,
                            pkt,
                            ic::PARAM_PROB,
                            ic::PARAMPROB_OPTION,
                            (at + o.offset) as u32,
                        );
                    }
                    return false;
                }
            },
        }
    }
    true
}

/// Hands a packet for us to its upper layer: `off` is where that layer's header starts,
/// `nh_field` where the field naming it is (for a parameter problem).
#[allow(clippy::too_many_arguments)]
fn ip6_deliver(
    ctx: &mut Ctx,
    ifp: &Arc<Ifnet>,
    pkt: &[u8],
    h: &Ipv6Repr,
    nh: u8,
    off: usize,
    nh_field: usize,
    csum_ok: bool,
) {
    let tin = TransIn {
        src: IpAddr::V6(h.src),
        dst: IpAddr::V6(h.dst),
        pkt,
        off,
    };
    let mcast = h.dst.is_multicast();
    match nh {
        ip6ext::NH_ICMPV6 => {
            ctx.inet6.stat.delivered += 1;
            icmp6::icmp6_input(ctx, ifp, pkt, h, off);
            // Raw ICMPv6 sockets (ping6) get every message that verified.
            if ctx.inet6.icmp6_ok {
                rip6_input(ctx, nh, &tin, ifp.index);
            }
        }
        ip6ext::NH_NONE => ctx.inet6.stat.delivered += 1,
        ip6ext::NH_UDP => {
            ctx.inet6.stat.delivered += 1;
            udp_input_af(ctx, ifp, &tin, mcast, csum_ok);
        }
        ip6ext::NH_TCP if !mcast => {
            ctx.inet6.stat.delivered += 1;
            tcp_input_af(ctx, ifp, &tin, false, csum_ok);
        }
        _ => {
            if rip6_input(ctx, nh, &tin, ifp.index) {
                ctx.inet6.stat.delivered += 1;
                return;
            }
            ctx.inet6.stat.noproto += 1;
            icmp6::icmp6_error(ctx, ifp, pkt, ic::PARAM_PROB, ic::PARAMPROB_NEXTHEADER, nh_field as u32);
        }
    }
}

/// Forwards a packet not for us (net.inet6.ip6.forwarding=1): scope checks, hop limit,
/// route, the path MTU; errors as RFC 4443 says. The received mbuf itself goes on, its
/// hop limit decremented in place, through `ip6_output_m`.
fn ip6_forward(ctx: &mut Ctx, ifp: &Arc<Ifnet>, mut m: Mbuf) {
    let pkt = m.as_slice();
    let Ok(p) = Ipv6Packet::new_checked(pkt) else { return };
    let (src, dst, hlim) = (p.src(), p.dst(), p.hop_limit());
    if a6::is_link_local(&dst) || src.is_unspecified() {
        ctx.inet6.stat.cantforward += 1;
        return;
    }
    if hlim <= 1 {
        ctx.inet6.stat.cantforward += 1;
        icmp6::icmp6_error(ctx, ifp, pkt, ic::TIME_EXCEEDED, ic::TIMXCEED_INTRANS, 0);
        return;
    }
    let Some((out, nexthop)) = nd6::nd6_nexthop(ctx, &dst, None) else {
        ctx.inet6.stat.noroute += 1;
        ctx.inet6.stat.cantforward += 1;
        icmp6::icmp6_error(ctx, ifp, pkt, ic::DST_UNREACH, ic::UNREACH_NOROUTE, 0);
        return;
    };
    if a6::is_link_local(&src) && out.index != ifp.index {
        ctx.inet6.stat.cantforward += 1;
        ctx.inet6.stat.badscope += 1;
        icmp6::icmp6_error(ctx, ifp, pkt, ic::DST_UNREACH, ic::UNREACH_BEYONDSCOPE, 0);
        return;
    }
    let mtu = link_mtu(ctx, &out) as usize;
    if pkt.len() > mtu {
        ctx.inet6.stat.cantfrag += 1;
        icmp6::icmp6_error(ctx, ifp, pkt, ic::PACKET_TOO_BIG, 0, mtu as u32);
        return;
    }
    // Back out the link it came in on, from a neighbor on that link: the sender can
    // reach the next hop itself (RFC 4861 8.2). The packet is still forwarded.
    if out.index == ifp.index && ctx.inet6.redirect {
        nd6::redirect_output(ctx, ifp, m.as_slice(), &nexthop);
    }
    Ipv6Packet::new_unchecked(m.as_mut_slice()).set_hop_limit(hlim - 1);
    m.set_meta(FrameMeta::PLAIN);
    ctx.inet6.stat.forward += 1;
    if ip6_output_m(ctx, m, &out, &nexthop, mtu, IP6_FORWARDING).is_err() {
        ctx.inet6.stat.odropped += 1;
    }
}

/// The MTU IPv6 may use on a link: the interface's, or less if an RA said so.
pub fn link_mtu(ctx: &Ctx, ifp: &Ifnet) -> u32 {
    let m = ifp.mtu();
    match ctx.inet6.nd.linkmtu.get(&ifp.index) {
        Some(l) if *l >= MIN_MTU as u32 && *l < m => *l,
        _ => m,
    }
}

/// The path MTU towards `dst` on `ifp` (RFC 8201): the link's, a route's `-mtu`, and what
/// packet too big taught.
pub fn path_mtu(ctx: &Ctx, ifp: &Ifnet, dst: &Ipv6Addr) -> u32 {
    let mut l = link_mtu(ctx, ifp);
    if let Some(r) = ctx.rt.inet6.lookup(*dst) {
        if r.mtu >= MIN_MTU as u32 {
            l = l.min(r.mtu);
        }
    }
    match ctx.inet6.pmtu.get(dst) {
        Some((m, _)) => (*m).min(l),
        None => l,
    }
}

/// A locally originated packet.
#[derive(Debug, Clone, Copy)]
pub struct Out6<'a> {
    /// None selects one (RFC 6724).
    pub src: Option<Ipv6Addr>,
    pub dst: Ipv6Addr,
    /// The interface a link-scope destination is on (its scope id), or to send a
    /// multicast from.
    pub ifindex: Option<u16>,
    pub nh: u8,
    /// None: the default (net.inet6.ip6.hlim, or 1 for multicast).
    pub hlim: Option<u8>,
    /// A hop-by-hop options header to put first (its first byte is filled in).
    pub hbh: Option<&'a [u8]>,
    pub payload: &'a [u8],
    /// Send at most the minimum MTU (ICMPv6 errors, ND), never fragmenting above it.
    pub min_mtu: bool,
}

/// `ip6_output_m` flag: the packet is forwarded, not made here.
pub const IP6_FORWARDING: u32 = 1;

/// Sends a locally originated packet: route, source, header, then `ip6_output_m`.
pub fn ip6_output(ctx: &mut Ctx, o: &Out6<'_>) -> Result<(), i32> {
    ip6_output_local(ctx, o, None)
}

/// Output of a locally made transport packet whose checksum the transport left partial
/// at `off.csum_at` (and that may be a TCP super-segment of `off.tso`-byte segments): the
/// packet is built as `ip6_output` builds it, with its offload metadata, and
/// `ip6_output_m` decides whether the interface finishes it or this stack does.
pub fn ip6_output_offload(ctx: &mut Ctx, o: &Out6<'_>, off: &OutOffload) -> Result<(), i32> {
    ip6_output_local(ctx, o, off.csum_at.is_some().then_some(off))
}

/// Route, source and header of a locally originated packet, built in an mbuf with room
/// in front for the link's header, handed to `ip6_output_m`.
fn ip6_output_local(ctx: &mut Ctx, o: &Out6<'_>, off: Option<&OutOffload>) -> Result<(), i32> {
    if !ctx.inet6.enabled {
        return Err(libc::EAFNOSUPPORT);
    }
    // Our own address: around through lo0.
    let local = !o.dst.is_multicast() && super::in6_ifaddr(ctx, &o.dst).is_some_and(|ia| ia.usable());
    let (ifp, nexthop) = if local {
        let lo = ctx
            .ifnets
            .iter()
            .find(|i| i.if_type == IFT_LOOP && i.is_up())
            .cloned()
            .ok_or(libc::ENETUNREACH)?;
        (lo, o.dst)
    } else {
        match nd6::nd6_nexthop(ctx, &o.dst, o.ifindex) {
            Some(r) => r,
            None => {
                ctx.inet6.stat.noroute += 1;
                return Err(if a6::is_link_local(&o.dst) && o.ifindex.is_none() {
                    libc::EADDRNOTAVAIL
                } else {
                    libc::EHOSTUNREACH
                });
            }
        }
    };
    let src = match o.src {
        Some(s) => s,
        None => {
            super::in6_selectsrc(ctx, &o.dst, if local { None } else { Some(ifp.index) }).ok_or(libc::EADDRNOTAVAIL)?
        }
    };
    let hlim = o.hlim.unwrap_or(if o.dst.is_multicast() { 1 } else { ctx.inet6.hlim });
    let hbh_len = o.hbh.map_or(0, |h| h.len());
    let total = HEADER_LEN + hbh_len + o.payload.len();
    if total - HEADER_LEN > IPV6_MAXPACKET {
        return Err(libc::EMSGSIZE);
    }
    let mtu = if o.min_mtu {
        MIN_MTU
    } else if local {
        ifp.mtu() as usize
    } else {
        path_mtu(ctx, &ifp, &o.dst) as usize
    };
    let mut m = Mbuf::with_capacity(total);
    Ipv6Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: (total - HEADER_LEN) as u16,
        next_header: if o.hbh.is_some() { ip6ext::NH_HOPOPTS } else { o.nh },
        hop_limit: hlim,
        src,
        dst: o.dst,
    }
    .emit(m.extend(HEADER_LEN));
    if let Some(hbh) = o.hbh {
        m.append(hbh);
        m.as_mut_slice()[HEADER_LEN] = o.nh;
    }
    m.append(o.payload);
    m.set_network_header();
    if let Some(off) = off {
        let meta = out_meta(m.as_slice(), o.nh, off);
        m.set_meta(meta);
    }
    ip6_output_m(ctx, m, &ifp, &nexthop, mtu, 0)
}

/// The one IPv6 output routine, for packets made here and forwarded ones alike (`flags`
/// has `IP6_FORWARDING` for those): the mbuf holds the whole packet (offload metadata in
/// it, offsets from the IPv6 header), `ifp`/`nexthop` are its route and `mtu` the path's.
pub fn ip6_output_m(
    ctx: &mut Ctx,
    mut m: Mbuf,
    ifp: &Arc<Ifnet>,
    nexthop: &Ipv6Addr,
    mtu: usize,
    flags: u32,
) -> Result<(), i32> {
    let fwd = flags & IP6_FORWARDING != 0;
    // ---- Call point for `pfil_run_hooks(PFIL_OUT)` and IPsec's output policy: both come
    // here, for locally made and forwarded packets alike, before anything below looks at
    // the packet's final shape. (None exists yet.) ----

    // To one of our own addresses: lo0 (chosen by the route), where nothing is offloaded.
    let lo = ifp.if_type == IFT_LOOP;
    let (dst, first_nh) = {
        let p = Ipv6Packet::new_unchecked(m.as_slice());
        (p.dst(), p.next_header())
    };
    // Offload: the interface finishes the checksum (and cuts the super-segment) when it
    // can, as NetBSD's ip6_output with M_CSUM_TSOv6; otherwise it is done here
    // (`tcp6_segment`, `in6_undefer_cksum`).
    let meta = m.meta();
    if !meta.is_plain() {
        let hw = !lo && ifp.is_up() && !dst.is_multicast() && first_nh != ip6ext::NH_HOPOPTS;
        if hw && offload_fits(ifp, m.as_slice(), &meta, mtu) {
            // The interface's if_output resolves the neighbor (holding the packet, with
            // its metadata, while it asks) and hands it to the driver.
            if !fwd {
                ctx.inet6.stat.localout += 1;
            }
            return (ifp.if_output)(ctx, ifp, m, Dst::Ip(IpAddr::V6(*nexthop))).inspect_err(|e| {
                if *e != libc::EHOSTDOWN {
                    ctx.inet6.stat.odropped += 1;
                }
            });
        }
        m.set_meta(FrameMeta::PLAIN);
        let cut_mtu = if hw { mtu } else { MIN_MTU };
        // A TCP segment above the path MTU (one a packet too big has shrunk the path
        // under) is cut like a super-frame rather than fragmented.
        let cut = match meta.gso {
            Gso::Tcp6 { size } => Some(usize::from(size)),
            _ if first_nh == IPPROTO_TCP && m.len() > cut_mtu => Some(usize::MAX),
            _ => None,
        };
        if let Some(size) = cut {
            let pkt = m.as_slice();
            let mss = size.min(cut_mtu.saturating_sub(tcp_hdrs(pkt))).max(1);
            let mut segs = Vec::new();
            if !tcp6_segment(pkt, mss, |s| segs.push(s)) {
                return Err(libc::EINVAL);
            }
            let mut r = Ok(());
            for s in segs {
                let e = ip6_output_m(ctx, s, ifp, nexthop, mtu, flags);
                if r.is_ok() {
                    r = e;
                }
            }
            return r;
        }
        if !in_undefer_cksum(m.as_mut_slice(), &meta) {
            return Err(libc::EINVAL);
        }
    }
    if !fwd {
        ctx.inet6.stat.localout += 1;
    }
    if m.len() <= mtu {
        return ip6_link(ctx, ifp, nexthop, &dst, m);
    }
    ip6_fragment(ctx, ifp, nexthop, &dst, m.as_slice(), mtu)
}

/// Fragments a packet to `mtu` (RFC 8200 4.5): the unfragmentable part (header,
/// hop-by-hop options) in each, then a fragment header, then at most a multiple of 8
/// bytes of the rest.
fn ip6_fragment(
    ctx: &mut Ctx,
    ifp: &Arc<Ifnet>,
    nexthop: &Ipv6Addr,
    dst: &Ipv6Addr,
    pkt: &[u8],
    mtu: usize,
) -> Result<(), i32> {
    let hbh = pkt[6] == ip6ext::NH_HOPOPTS && pkt.len() > HEADER_LEN + 1;
    let unfrag = if hbh {
        (HEADER_LEN + (usize::from(pkt[HEADER_LEN + 1]) + 1) * 8).min(pkt.len())
    } else {
        HEADER_LEN
    };
    let nh = if hbh { pkt[HEADER_LEN] } else { pkt[6] };
    let payload = &pkt[unfrag..];
    let room = mtu.saturating_sub(unfrag + ip6ext::FRAG_HDR_LEN) & !7;
    if room == 0 {
        ctx.inet6.stat.cantfrag += 1;
        return Err(libc::EMSGSIZE);
    }
    ctx.inet6.frag_id = ctx.inet6.frag_id.wrapping_add(1);
    let ident = ctx.inet6.frag_id;
    ctx.inet6.stat.fragmented += 1;
    let mut off = 0;
    while off < payload.len() {
        let n = room.min(payload.len() - off);
        let more = off + n < payload.len();
        let len = unfrag + ip6ext::FRAG_HDR_LEN + n;
        let mut f = Mbuf::with_capacity(len);
        f.append(&pkt[..unfrag]);
        {
            let b = f.as_mut_slice();
            b[4..6].copy_from_slice(&((len - HEADER_LEN) as u16).to_be_bytes());
            if hbh {
                b[HEADER_LEN] = ip6ext::NH_FRAGMENT;
            } else {
                b[6] = ip6ext::NH_FRAGMENT;
            }
        }
        FragRepr {
            next: nh,
            offset: off as u16,
            more,
            ident,
        }
        .emit(f.extend(ip6ext::FRAG_HDR_LEN));
        f.append(&payload[off..off + n]);
        f.set_network_header();
        ctx.inet6.stat.ofragments += 1;
        ip6_link(ctx, ifp, nexthop, dst, f)?;
        off += n;
    }
    Ok(())
}

/// The link step: lo0 queues the packet for input; other interfaces take it through
/// their `if_output` (Ethernet's maps a multicast destination to its group address and
/// resolves a unicast next hop by neighbor discovery).
fn ip6_link(ctx: &mut Ctx, ifp: &Arc<Ifnet>, nexthop: &Ipv6Addr, dst: &Ipv6Addr, m: Mbuf) -> Result<(), i32> {
    if ifp.if_type == IFT_LOOP {
        return looutput6(ctx, ifp, m);
    }
    let nh = if dst.is_multicast() { *dst } else { *nexthop };
    (ifp.if_output)(ctx, ifp, m, Dst::Ip(IpAddr::V6(nh)))
}

/// Output on loopback: counts on lo0, shows it to lo0's captures (DLT_NULL, AF_INET6 as
/// NetBSD numbers it), queues it for `loopback_drain6`.
fn looutput6(ctx: &mut Ctx, lo: &Arc<Ifnet>, mut m: Mbuf) -> Result<(), i32> {
    let len = m.len();
    inc(&lo.stats.opackets);
    lo.stats
        .obytes
        .fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
    lo.count_in(len);
    if ctx.inet6.loopq.len() >= LOOPQ_MAX {
        ctx.inet6.stat.odropped += 1;
        inc(&lo.stats.iqdrops);
        return Err(libc::ENOBUFS);
    }
    if lo.bpf.active() {
        // The DLT_NULL header in the headroom for the tap, taken off again.
        m.prepend(4).copy_from_slice(&24u32.to_ne_bytes());
        lo.bpf.tap(m.as_slice(), crate::net::bpf::Dir::Out);
        m.adj(4);
    }
    m.set_network_header();
    ctx.inet6.loopq.push_back(m);
    Ok(())
}

/// Delivers what was sent to our own addresses (called once the sender is done).
pub fn loopback_drain6(ctx: &mut Ctx) {
    while let Some(m) = ctx.inet6.loopq.pop_front() {
        let Some(lo) = ctx.ifnets.iter().find(|i| i.if_type == IFT_LOOP).cloned() else {
            ctx.inet6.loopq.clear();
            return;
        };
        ctx.inet6.stat.total += 1;
        ip6_input1(ctx, &lo, m, false, false);
    }
}

/// Input of a TCP/IPv6 super-frame the driver merged (large receive offload; the mbuf
/// holds the IPv6 packet, its metadata's offsets count from there). For one of our
/// addresses it goes up whole, its checksum vouched for by the host, as TCP takes any
/// segment; anything else (to be forwarded) is first cut back into segments of the size
/// it was merged from, checksums done. Metadata that makes no sense is an input error.
pub fn ip6_input_lro(ctx: &mut Ctx, ifp: &Arc<Ifnet>, m: Mbuf) {
    let (pkt, meta) = (m.as_slice(), m.meta());
    let Gso::Tcp6 { size } = meta.gso else {
        inc(&ifp.stats.ierrors);
        return;
    };
    if !rx_meta_ok6(pkt, &meta) {
        inc(&ifp.stats.ierrors);
        return;
    }
    let mut d = [0u8; 16];
    d.copy_from_slice(&pkt[24..40]);
    let dst = Ipv6Addr::from(d);
    if super::in6_ifaddr(ctx, &dst).is_some() {
        ip6_input(ctx, ifp, m, true);
        return;
    }
    let mut segs = Vec::new();
    if !tcp6_segment(pkt, usize::from(size), |s| segs.push(s)) {
        inc(&ifp.stats.ierrors);
        return;
    }
    for s in segs {
        ip6_input(ctx, ifp, s, true);
    }
}
