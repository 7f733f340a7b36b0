//! Unit tests of the v6 input and output paths over a stack whose en0 keeps what it
//! sends: ND, DAD, echo, reassembly bounds, malformed input counted, SLAAC.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Instant;

use pktbox_drivers::FrameMeta;

use super::*;
use crate::fuzzing::{en0_stack, en0_stack_of, Sink, MAC, PEER_MAC};
use crate::inet6::nd6::Nud;
use crate::net::ether::ether_input;
use crate::sys::Stack;
use crate::wire::icmpv6::{self as ic, Icmpv6Repr};
use crate::wire::ip6ext::{FragRepr, NH_FRAGMENT, NH_ICMPV6, NH_ROUTING};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use crate::wire::ndisc::{self, NdOpt, NdRepr, PrefixInfo};

fn ll(mac: &[u8; 6]) -> Ipv6Addr {
    a6::with_iid(&"fe80::".parse().unwrap(), &a6::eui64(mac))
}

fn peer() -> Ipv6Addr {
    ll(&PEER_MAC)
}

fn me() -> Ipv6Addr {
    ll(&MAC)
}

/// A v6 stack with lo0 and en0 up, DAD over, the sink emptied.
fn v6_stack() -> (Arc<Stack>, Arc<Ifnet>, Arc<Sink>) {
    let (stack, ifp, sink) = en0_stack_of(crate::sys::Variant::V6Hc, false, 100_000);
    {
        let mut ctx = stack.ctx();
        let lo = ctx.ifnet_by_name("lo0").cloned().unwrap();
        if_up(&mut ctx, &lo);
        if_up(&mut ctx, &ifp);
        finish_dad(&mut ctx);
    }
    take(&sink);
    (stack, ifp, sink)
}

fn finish_dad(ctx: &mut Ctx) {
    for _ in 0..4 {
        for ia in ctx.inet6.addrs.iter_mut() {
            if ia.dad_next.is_some() {
                ia.dad_next = Some(Instant::now() - std::time::Duration::from_secs(1));
            }
        }
        nd6::dad_timer(ctx);
    }
}

fn take(sink: &Sink) -> Vec<Vec<u8>> {
    std::mem::take(&mut *sink.0.lock().unwrap())
}

/// An IPv6 packet.
fn pkt6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hlim: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40 + payload.len()];
    Ipv6Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: payload.len() as u16,
        next_header: nh,
        hop_limit: hlim,
        src,
        dst,
    }
    .emit(&mut p);
    p[40..].copy_from_slice(payload);
    p
}

fn frame(dst_mac: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(ip);
    f
}

fn input(stack: &Stack, ifp: &Arc<Ifnet>, dst_mac: [u8; 6], ip: &[u8]) {
    let f = frame(dst_mac, ip);
    ether_input(stack, ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
}

fn echo(src: Ipv6Addr, dst: Ipv6Addr, seq: u16, data: &[u8]) -> Vec<u8> {
    let r = Icmpv6Repr::EchoRequest { ident: 7, seq, data };
    let mut m = vec![0u8; r.len()];
    r.emit(&mut m, &src, &dst);
    pkt6(src, dst, NH_ICMPV6, 64, &m)
}

/// The ICMPv6 messages among sent frames: (dst MAC, IPv6 header, ICMPv6 bytes).
fn icmp_out(frames: &[Vec<u8>]) -> Vec<([u8; 6], Ipv6Repr, Vec<u8>)> {
    let mut v = Vec::new();
    for f in frames {
        if f.len() < 14 || f[12..14] != [0x86, 0xdd] {
            continue;
        }
        let Ok(p) = Ipv6Packet::new_checked(&f[14..]) else {
            continue;
        };
        let h = Ipv6Repr::parse(&p);
        // Skip a hop-by-hop header (MLD).
        let (nh, body) = if h.next_header == 0 {
            (p.payload()[0], &p.payload()[8..])
        } else {
            (h.next_header, p.payload())
        };
        if nh == NH_ICMPV6 {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&f[..6]);
            v.push((mac, h, body.to_vec()));
        }
    }
    v
}

fn with_types(frames: &[Vec<u8>], t: u8) -> Vec<([u8; 6], Ipv6Repr, Vec<u8>)> {
    icmp_out(frames).into_iter().filter(|m| m.2[0] == t).collect()
}

#[test]
fn link_local_at_up_and_dad_probe() {
    // en0 comes up when the stack's IPv4 address is added: that forms the link-local.
    let (stack, ifp, sink) = en0_stack_of(crate::sys::Variant::V6Hc, false, 1000);
    let mut ctx = stack.ctx();
    let ia = ctx
        .inet6
        .addrs
        .iter()
        .find(|x| x.ifindex == ifp.index)
        .cloned()
        .unwrap();
    assert_eq!(ia.addr, me());
    assert_ne!(ia.flags & in6f::TENTATIVE, 0, "tentative until DAD is over");
    let sent = take(&sink);
    let ns = with_types(&sent, ic::ND_NEIGHBOR_SOLICIT);
    assert_eq!(ns.len(), 1);
    let (mac, h, m) = &ns[0];
    assert_eq!(h.src, Ipv6Addr::UNSPECIFIED);
    assert_eq!(h.dst, a6::solicited_node(&me()));
    assert_eq!(*mac, a6::multicast_mac(&h.dst));
    assert_eq!(h.hop_limit, 255);
    let r = NdRepr::parse(m).unwrap();
    assert!(matches!(r, NdRepr::NeighborSolicit { target, .. } if target == me()));
    assert_eq!(r.source_lla(), None, "no SLLA from the unspecified address");
    // An MLDv2 report for the solicited-node group went out too.
    let mld = with_types(&sent, ic::MLDV2_LISTENER_REPORT);
    assert_eq!(mld.len(), 1, "{mld:?}");
    finish_dad(&mut ctx);
    assert!(in6_ifaddr(&ctx, &me()).unwrap().usable());
}

#[test]
fn echo_to_link_local_resolves_then_replies() {
    let (stack, ifp, sink) = v6_stack();
    input(&stack, &ifp, MAC, &echo(peer(), me(), 1, b"abc"));
    // The peer is not in the cache: an NS for it, the reply held.
    let sent = take(&sink);
    assert_eq!(with_types(&sent, ic::ECHO_REPLY).len(), 0);
    let ns = with_types(&sent, ic::ND_NEIGHBOR_SOLICIT);
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0].1.src, me());
    assert_eq!(NdRepr::parse(&ns[0].2).unwrap().source_lla(), Some(MAC));
    assert_eq!(
        stack.ctx().inet6.nd.cache.get(&(ifp.index, peer())).unwrap().state,
        Nud::Incomplete
    );
    // The NA answers it: the held reply goes, and the entry is REACHABLE.
    let na = NdRepr::NeighborAdvert {
        flags: ndisc::NA_SOLICITED | ndisc::NA_OVERRIDE,
        target: peer(),
        opts: &[],
    }
    .build(&[NdOpt::TargetLla(PEER_MAC)], &peer(), &me());
    input(&stack, &ifp, MAC, &pkt6(peer(), me(), NH_ICMPV6, 255, &na));
    let sent = take(&sink);
    let rep = with_types(&sent, ic::ECHO_REPLY);
    assert_eq!(rep.len(), 1);
    assert_eq!(rep[0].0, PEER_MAC);
    assert_eq!(rep[0].1.src, me());
    assert!(ic::Icmpv6Packet::new_checked(&rep[0].2[..])
        .unwrap()
        .verify(&me(), &peer()));
    assert_eq!(&rep[0].2[8..], b"abc");
    let ctx = stack.ctx();
    assert_eq!(
        ctx.inet6.nd.cache.get(&(ifp.index, peer())).unwrap().state,
        Nud::Reachable
    );
    let dump = nd6::nd6_dump(&ctx);
    assert_eq!(dump[0].lladdr, Some(PEER_MAC));
    assert_eq!(dump[0].state, "REACHABLE");
}

#[test]
fn ns_for_us_is_answered_and_hop_limit_checked() {
    let (stack, ifp, sink) = v6_stack();
    let ns = NdRepr::NeighborSolicit {
        target: me(),
        opts: &[],
    }
    .build(&[NdOpt::SourceLla(PEER_MAC)], &peer(), &a6::solicited_node(&me()));
    input(
        &stack,
        &ifp,
        a6::multicast_mac(&a6::solicited_node(&me())),
        &pkt6(peer(), a6::solicited_node(&me()), NH_ICMPV6, 255, &ns),
    );
    let na = with_types(&take(&sink), ic::ND_NEIGHBOR_ADVERT);
    assert_eq!(na.len(), 1);
    assert_eq!(na[0].0, PEER_MAC, "sent straight back: the NS gave the address");
    let r = NdRepr::parse(&na[0].2).unwrap();
    assert!(
        matches!(r, NdRepr::NeighborAdvert { flags, target, .. } if target == me() && flags & ndisc::NA_SOLICITED != 0)
    );
    assert_eq!(r.target_lla(), Some(MAC));
    // Learnt as STALE from the NS, then DELAY once the NA used it (RFC 4861 7.3.3).
    assert_eq!(
        stack.ctx().inet6.nd.cache.get(&(ifp.index, peer())).unwrap().state,
        Nud::Delay
    );
    // The same NS with hop limit 64 did not come from the link: counted, not answered.
    input(
        &stack,
        &ifp,
        a6::multicast_mac(&a6::solicited_node(&me())),
        &pkt6(peer(), a6::solicited_node(&me()), NH_ICMPV6, 64, &ns),
    );
    assert!(with_types(&take(&sink), ic::ND_NEIGHBOR_ADVERT).is_empty());
    assert_eq!(stack.ctx().inet6.icmp6stat.badns, 1);
}

#[test]
fn ns_flood_cannot_grow_the_neighbor_cache() {
    let (stack, ifp, _sink) = v6_stack();
    stack.ctx().inet6.nd.max_entries = 64;
    let mut x = 0x1234_5678_9abc_def0u64;
    for i in 0..2000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let src = Ipv6Addr::from((0xfe80u128 << 112) | u128::from(x));
        // Half for random targets (never cached), half for us from random sources.
        let target = if i % 2 == 0 {
            Ipv6Addr::from(u128::from(x) << 1 | 0x2001 << 112)
        } else {
            me()
        };
        let dst = a6::solicited_node(&target);
        let mac = [2, 1, (x >> 8) as u8, (x >> 16) as u8, (x >> 24) as u8, x as u8];
        let ns = NdRepr::NeighborSolicit { target, opts: &[] }.build(&[NdOpt::SourceLla(mac)], &src, &dst);
        input(
            &stack,
            &ifp,
            a6::multicast_mac(&dst),
            &pkt6(src, dst, NH_ICMPV6, 255, &ns),
        );
    }
    let ctx = stack.ctx();
    assert!(ctx.inet6.nd.cache.len() <= 64, "{} entries", ctx.inet6.nd.cache.len());
    assert!(ctx.inet6.icmp6stat.nd_evicted >= 1000 - 64);
}

#[test]
fn routing_header_type_0_gets_a_parameter_problem() {
    let (stack, ifp, sink) = v6_stack();
    stack.ctx().inet6.nd.cache.insert((ifp.index, peer()), {
        let mut e = nd6_entry();
        e.lladdr = Some(PEER_MAC);
        e
    });
    // Routing header type 0, one address, segments left 1, then no next header.
    let mut rh = vec![59u8, 2, 0, 1, 0, 0, 0, 0];
    rh.extend_from_slice(&"2001:db8::9".parse::<Ipv6Addr>().unwrap().octets());
    input(&stack, &ifp, MAC, &pkt6(peer(), me(), NH_ROUTING, 64, &rh));
    let pp = with_types(&take(&sink), ic::PARAM_PROB);
    assert_eq!(pp.len(), 1);
    let p = ic::Icmpv6Packet::new_checked(&pp[0].2[..]).unwrap();
    assert_eq!(
        (p.code(), p.word()),
        (ic::PARAMPROB_HEADER, 42),
        "points at the routing type"
    );
    assert_eq!(stack.ctx().inet6.stat.badoptions, 1);
}

fn nd6_entry() -> nd6::NdEntry {
    nd6::NdEntry {
        lladdr: None,
        state: Nud::Reachable,
        is_router: false,
        asked: 0,
        next: Some(Instant::now() + std::time::Duration::from_secs(30)),
        hold: Default::default(),
        touched: Instant::now(),
        permanent: false,
    }
}

fn reachable_peer(stack: &Stack, ifp: &Ifnet) {
    let mut e = nd6_entry();
    e.lladdr = Some(PEER_MAC);
    stack.ctx().inet6.nd.cache.insert((ifp.index, peer()), e);
}

#[test]
fn malformed_packets_are_counted_not_fatal() {
    let (stack, ifp, _sink) = v6_stack();
    reachable_peer(&stack, &ifp);
    let good = echo(peer(), me(), 1, b"x");
    // Too small, wrong version, payload length beyond the frame.
    input(&stack, &ifp, MAC, &good[..30]);
    let mut v = good.clone();
    v[0] = 0x40;
    input(&stack, &ifp, MAC, &v);
    let mut l = good.clone();
    l[5] = 200;
    input(&stack, &ifp, MAC, &l);
    // An extension header that runs past the end.
    input(
        &stack,
        &ifp,
        MAC,
        &pkt6(peer(), me(), 60, 64, &[59, 9, 0, 0, 0, 0, 0, 0]),
    );
    // A bad ICMPv6 checksum.
    let mut c = good.clone();
    c[45] ^= 0xff;
    input(&stack, &ifp, MAC, &c);
    {
        let ctx = stack.ctx();
        let s = ctx.inet6.stat;
        assert_eq!((s.toosmall, s.badvers, s.tooshort), (1, 1, 2), "{s:?}");
        assert_eq!(ctx.inet6.icmp6stat.checksum, 1);
    }
    // Random bytes after a valid header, with every next-header value.
    let mut x = 0x9e37_79b9u64;
    for i in 0..5000u32 {
        let mut body = vec![0u8; (i % 120) as usize];
        for b in &mut body {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = [0u8, 43, 44, 60, 58, 1, 2, 255][(x % 8) as usize] ^ if x & 0x100 != 0 { x as u8 } else { 0 };
        }
        let nh = [0u8, 43, 44, 60, 58, 6, 17, 59][(i % 8) as usize];
        let dst = if i % 3 == 0 { nd6::ALL_NODES } else { me() };
        input(
            &stack,
            &ifp,
            MAC,
            &pkt6(peer(), dst, nh, if i % 2 == 0 { 255 } else { 1 }, &body),
        );
    }
    let ctx = stack.ctx();
    assert!(ctx.inet6.reass.len() <= ctx.inet6.maxfragpackets);
}

fn frag(src: Ipv6Addr, dst: Ipv6Addr, ident: u32, off: u16, more: bool, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 8];
    FragRepr {
        next: NH_ICMPV6,
        offset: off,
        more,
        ident,
    }
    .emit(&mut b);
    b.extend_from_slice(data);
    pkt6(src, dst, NH_FRAGMENT, 64, &b)
}

#[test]
fn fragments_reassemble_in_any_order() {
    let (stack, ifp, sink) = v6_stack();
    reachable_peer(&stack, &ifp);
    let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let whole = echo(peer(), me(), 5, &data);
    let icmp = &whole[40..];
    let parts = [(1200usize, 2400usize), (2400, icmp.len()), (0, 1200)];
    for (a, b) in parts {
        input(
            &stack,
            &ifp,
            MAC,
            &frag(peer(), me(), 99, a as u16, b != icmp.len(), &icmp[a..b]),
        );
    }
    // The reply is larger than the MTU: it leaves in fragments, each within 1500.
    let sent = take(&sink);
    let frags: Vec<_> = sent.iter().filter(|f| f.len() > 20 && f[20] == NH_FRAGMENT).collect();
    assert!(frags.len() >= 3, "{} fragments", frags.len());
    assert!(frags.iter().all(|f| f.len() <= 1514));
    let ctx = stack.ctx();
    assert_eq!(ctx.inet6.stat.reassembled, 1);
    assert_eq!(ctx.inet6.stat.fragmented, 1);
    assert_eq!(ctx.inet6.reass.len(), 0);
    assert_eq!(ctx.inet6.reass.mem(), 0);
}

#[test]
fn overlapping_fragments_drop_the_datagram() {
    let (stack, ifp, sink) = v6_stack();
    reachable_peer(&stack, &ifp);
    let whole = echo(peer(), me(), 5, &[7u8; 64]);
    let icmp = &whole[40..];
    input(&stack, &ifp, MAC, &frag(peer(), me(), 1, 0, true, &icmp[..32]));
    input(&stack, &ifp, MAC, &frag(peer(), me(), 1, 24, true, &icmp[24..56]));
    input(&stack, &ifp, MAC, &frag(peer(), me(), 1, 56, false, &icmp[56..]));
    assert!(with_types(&take(&sink), ic::ECHO_REPLY).is_empty());
    let ctx = stack.ctx();
    assert_eq!(ctx.inet6.stat.fragoverlap, 1);
    assert_eq!(ctx.inet6.stat.reassembled, 0);
}

#[test]
fn reassembly_is_bounded_and_times_out() {
    let (stack, ifp, sink) = v6_stack();
    reachable_peer(&stack, &ifp);
    stack.ctx().inet6.maxfragpackets = 10;
    for id in 0..50u32 {
        input(&stack, &ifp, MAC, &frag(peer(), me(), id, 0, true, &[0u8; 16]));
    }
    {
        let ctx = stack.ctx();
        assert_eq!(ctx.inet6.reass.len(), 10);
        assert_eq!(ctx.inet6.stat.fragoverflow, 40);
    }
    take(&sink);
    let mut ctx = stack.ctx();
    frag6::age_all(&mut ctx);
    frag6::frag6_timer(&mut ctx);
    assert_eq!(ctx.inet6.reass.len(), 0);
    assert_eq!(ctx.inet6.reass.mem(), 0);
    assert_eq!(ctx.inet6.stat.fragtimeout, 10);
    drop(ctx);
    let te = with_types(&take(&sink), ic::TIME_EXCEEDED);
    assert!(!te.is_empty());
    assert_eq!(te[0].2[1], ic::TIMXCEED_REASS);
}

#[test]
fn dad_sees_a_duplicate() {
    let (stack, ifp, _sink) = v6_stack();
    let a: Ipv6Addr = "2001:db8::2".parse().unwrap();
    {
        let mut ctx = stack.ctx();
        add_addr(
            &mut ctx,
            &AddrReq {
                name: "en0".into(),
                addr: Some(a.into()),
                netmask: Some(IpAddr::V6(a6::mask(&Ipv6Addr::from(u128::MAX), 64))),
                brd: None,
            },
        )
        .unwrap();
        assert_ne!(in6_ifaddr(&ctx, &a).unwrap().flags & in6f::TENTATIVE, 0);
    }
    // Another node defends it.
    let na = NdRepr::NeighborAdvert {
        flags: ndisc::NA_OVERRIDE,
        target: a,
        opts: &[],
    }
    .build(&[NdOpt::TargetLla(PEER_MAC)], &peer(), &nd6::ALL_NODES);
    input(
        &stack,
        &ifp,
        a6::multicast_mac(&nd6::ALL_NODES),
        &pkt6(peer(), nd6::ALL_NODES, NH_ICMPV6, 255, &na),
    );
    let ctx = stack.ctx();
    let ia = in6_ifaddr(&ctx, &a).unwrap();
    assert_eq!(ia.flags & (in6f::TENTATIVE | in6f::DUPLICATED), in6f::DUPLICATED);
    assert_eq!(ctx.inet6.icmp6stat.dad_duplicated, 1);
    assert!(in6_selectsrc(&ctx, &"2001:db8::9".parse().unwrap(), Some(ifp.index)) != Some(a));
}

fn ra(prefix: &str, valid: u32, len: u8) -> Vec<u8> {
    let pi = PrefixInfo {
        prefix_len: len,
        on_link: true,
        autonomous: true,
        valid,
        preferred: valid / 2,
        prefix: prefix.parse().unwrap(),
    };
    let m = NdRepr::RouterAdvert {
        hop_limit: 60,
        flags: 0,
        router_lifetime: 1800,
        reachable: 0,
        retrans: 0,
        opts: &[],
    }
    .build(
        &[NdOpt::SourceLla(PEER_MAC), NdOpt::Prefix(pi)],
        &peer(),
        &nd6::ALL_NODES,
    );
    pkt6(peer(), nd6::ALL_NODES, NH_ICMPV6, 255, &m)
}

#[test]
fn slaac_from_a_router_advertisement() {
    let (stack, ifp, _sink) = v6_stack();
    let bcast = a6::multicast_mac(&nd6::ALL_NODES);
    // Ignored while accept_rtadv is 0 (NetBSD's default).
    input(&stack, &ifp, bcast, &ra("2001:db8:1::", 86400, 64));
    assert!(stack.ctx().inet6.nd.routers.is_empty());
    stack.ctx().inet6.accept_rtadv = true;
    input(&stack, &ifp, bcast, &ra("2001:db8:1::", 86400, 64));
    let want = a6::with_iid(&"2001:db8:1::".parse().unwrap(), &a6::eui64(&MAC));
    {
        let mut ctx = stack.ctx();
        let ia = in6_ifaddr(&ctx, &want).cloned().unwrap();
        assert_eq!(
            ia.flags & (in6f::AUTOCONF | in6f::TENTATIVE),
            in6f::AUTOCONF | in6f::TENTATIVE
        );
        assert_eq!(ctx.inet6.nd.routers.len(), 1);
        assert_eq!(ctx.inet6.hlim, 60);
        finish_dad(&mut ctx);
        // Off-link destinations go to the router, through the default route ND installed.
        let (_, nh) = nd6::nd6_nexthop(&ctx, &"2001:db8:99::1".parse().unwrap(), None).unwrap();
        assert_eq!(nh, peer());
        let def = ctx.rt.inet6.get_exact(Ipv6Addr::UNSPECIFIED, 0).unwrap();
        assert_eq!(
            (def.gateway, def.ifindex),
            (crate::net::route::Gateway::Inet(peer()), ifp.index)
        );
        // The address's connected and local routes are in the table too.
        assert_eq!(ctx.rt.inet6.lookup("2001:db8:1::77".parse().unwrap()).unwrap().len, 64);
        assert_eq!(
            in6_selectsrc(&ctx, &"2001:db8:99::1".parse().unwrap(), Some(ifp.index)),
            Some(want)
        );
    }
    // A zero-length prefix is a bad option, counted; the address stays.
    input(&stack, &ifp, bcast, &ra("::", 86400, 0));
    assert_eq!(stack.ctx().inet6.icmp6stat.nd_badopt, 1);
    // A zero valid lifetime withdraws it, and its routes.
    input(&stack, &ifp, bcast, &ra("2001:db8:1::", 0, 64));
    assert!(in6_ifaddr(&stack.ctx(), &want).is_none());
    assert!(stack.ctx().rt.inet6.get_exact(want, 128).is_none());
    // A router lifetime of zero takes the router and its default route away.
    let mut m = NdRepr::RouterAdvert {
        hop_limit: 0,
        flags: 0,
        router_lifetime: 0,
        reachable: 0,
        retrans: 0,
        opts: &[],
    }
    .build(&[], &peer(), &nd6::ALL_NODES);
    ic::fill_checksum(&mut m, &peer(), &nd6::ALL_NODES);
    input(&stack, &ifp, bcast, &pkt6(peer(), nd6::ALL_NODES, NH_ICMPV6, 255, &m));
    let ctx = stack.ctx();
    assert!(ctx.inet6.nd.routers.is_empty());
    assert!(ctx.rt.inet6.get_exact(Ipv6Addr::UNSPECIFIED, 0).is_none());
}

#[test]
fn packet_too_big_lowers_the_path_mtu_not_below_1280() {
    let (stack, ifp, _sink) = v6_stack();
    let g: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let far: Ipv6Addr = "2001:db8::77".parse().unwrap();
    {
        let mut ctx = stack.ctx();
        ctx.inet6.dad_count = 0;
        let req = AddrReq {
            name: "en0".into(),
            addr: Some(g.into()),
            netmask: None,
            brd: None,
        };
        add_addr(&mut ctx, &req).unwrap();
    }
    let ptb = |mtu: u32| {
        let mut e = vec![ic::ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1];
        e.resize(1400, 0);
        let inv = pkt6(g, far, NH_ICMPV6, 64, &e);
        let r = Icmpv6Repr::PacketTooBig {
            mtu,
            invoking: &inv[..1232],
        };
        let mut m = vec![0u8; r.len()];
        r.emit(&mut m, &peer(), &g);
        pkt6(peer(), g, NH_ICMPV6, 64, &m)
    };
    input(&stack, &ifp, MAC, &ptb(1400));
    assert_eq!(ip6::path_mtu(&stack.ctx(), &ifp, &far), 1400);
    input(&stack, &ifp, MAC, &ptb(600));
    assert_eq!(ip6::path_mtu(&stack.ctx(), &ifp, &far), 1280);
    assert_eq!(stack.ctx().inet6.icmp6stat.pmtuchg, 2);
    // One quoting a UDP datagram of no socket of ours is forged: ignored, counted.
    let inv = pkt6(
        g,
        "2001:db8::78".parse().unwrap(),
        17,
        64,
        &[0x30, 0x39, 0, 53, 0, 8, 0, 0],
    );
    let r = Icmpv6Repr::PacketTooBig {
        mtu: 1280,
        invoking: &inv,
    };
    let mut m = vec![0u8; r.len()];
    r.emit(&mut m, &peer(), &g);
    input(&stack, &ifp, MAC, &pkt6(peer(), g, NH_ICMPV6, 64, &m));
    let ctx = stack.ctx();
    assert_eq!(ctx.inet6.icmp6stat.pmtuignored, 1);
    assert_eq!(ip6::path_mtu(&ctx, &ifp, &"2001:db8::78".parse().unwrap()), 1500);
}

#[test]
fn forwarding_expires_the_hop_limit() {
    let (stack, ifp, sink) = v6_stack();
    reachable_peer(&stack, &ifp);
    stack.ctx().inet6.forwarding = true;
    let mut p = echo(peer(), "2001:db8:5::1".parse().unwrap(), 1, b"");
    p[7] = 1;
    input(&stack, &ifp, MAC, &p);
    let te = with_types(&take(&sink), ic::TIME_EXCEEDED);
    assert_eq!(te.len(), 1);
    assert_eq!(te[0].2[1], ic::TIMXCEED_INTRANS);
    // With a hop limit left but no route: unreachable, no route.
    p[7] = 5;
    input(&stack, &ifp, MAC, &p);
    let du = with_types(&take(&sink), ic::DST_UNREACH);
    assert_eq!(du.len(), 1);
    assert_eq!(stack.ctx().inet6.stat.noroute, 1);
}

#[test]
fn loopback_echo_through_lo0() {
    let (stack, _ifp, _sink) = v6_stack();
    let mut ctx = stack.ctx();
    icmp6::icmp6_echo(&mut ctx, Ipv6Addr::LOCALHOST, None, 1, 1, b"lo").unwrap();
    drop(ctx);
    let ctx = stack.ctx();
    assert_eq!(ctx.inet6.icmp6stat.inhist[usize::from(ic::ECHO_REQUEST)], 1);
    assert_eq!(ctx.inet6.icmp6stat.inhist[usize::from(ic::ECHO_REPLY)], 1);
}

#[test]
fn v4_variant_refuses_inet6() {
    let (stack, _ifp, _sink) = en0_stack(false, 10);
    let mut ctx = stack.ctx();
    let req = AddrReq {
        name: "en0".into(),
        addr: Some("2001:db8::1".parse::<Ipv6Addr>().unwrap().into()),
        netmask: None,
        brd: None,
    };
    assert_eq!(add_addr(&mut ctx, &req).unwrap_err().errno, libc::EAFNOSUPPORT);
}

#[test]
fn the_fuzz_harness_holds_on_random_scripts() {
    let mut x = 0x0123_4567_89ab_cdefu64;
    for n in 0..300usize {
        let mut d = vec![0u8; 32 + n * 3];
        for b in &mut d {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        crate::fuzzing::ip6(&d);
    }
}

#[test]
fn the_fuzz_harness_runs_its_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ip6");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("the ip6 seeds") {
        let p = e.expect("a seed").path();
        crate::fuzzing::ip6(&std::fs::read(&p).expect("a seed's bytes"));
        n += 1;
    }
    assert!(n >= 5, "{n} seeds in {}", dir.display());
}

#[test]
fn mld_query_is_answered_with_the_joined_groups() {
    let (stack, ifp, sink) = v6_stack();
    // A general query from a router: link-local source, hop limit 1, router alert.
    let mut q = vec![ic::MLD_LISTENER_QUERY, 0, 0, 0, 0x03, 0xe8, 0, 0];
    q.extend_from_slice(&Ipv6Addr::UNSPECIFIED.octets());
    q.extend_from_slice(&[0, 0, 0, 0]);
    ic::fill_checksum(&mut q, &peer(), &nd6::ALL_NODES);
    let mut hbh = vec![NH_ICMPV6, 0, 5, 2, 0, 0, 1, 0];
    hbh.extend_from_slice(&q);
    let before = Instant::now();
    input(
        &stack,
        &ifp,
        a6::multicast_mac(&nd6::ALL_NODES),
        &pkt6(peer(), nd6::ALL_NODES, 0, 1, &hbh),
    );
    // Not at once: within the query's Maximum Response Delay (0x3e8: 1000 ms).
    assert!(with_types(&take(&sink), ic::MLDV2_LISTENER_REPORT).is_empty());
    {
        let mut ctx = stack.ctx();
        assert_eq!(ctx.inet6.mld_answers.len(), 1);
        let a = &mut ctx.inet6.mld_answers[0];
        assert!(a.groups.is_none() && a.at >= before && a.at <= Instant::now() + std::time::Duration::from_secs(1));
        a.at = Instant::now();
        ctx.inet6.mld_pending.clear();
        mld6::mld_timer(&mut ctx);
        assert!(ctx.inet6.mld_answers.is_empty());
    }
    let rep = with_types(&take(&sink), ic::MLDV2_LISTENER_REPORT);
    assert_eq!(rep.len(), 1);
    let (_, h, m) = &rep[0];
    assert_eq!((h.dst, h.hop_limit), (crate::wire::mld::ALL_MLDV2_ROUTERS, 1));
    let groups: Vec<Ipv6Addr> = crate::wire::mld::records(m).map(|r| r.unwrap().group).collect();
    assert!(groups.contains(&a6::solicited_node(&me())), "{groups:?}");
    assert!(!groups.contains(&nd6::ALL_NODES), "ff02::1 is never reported");
}

#[test]
fn tcp_syn_leaves_over_v6() {
    use crate::inet::inpcb::Af;
    use crate::inet::tcp::usrreq;
    let (stack, ifp, sink) = v6_stack();
    reachable_peer(&stack, &ifp);
    let g: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let far: Ipv6Addr = "2001:db8::1".parse().unwrap();
    {
        let mut ctx = stack.ctx();
        ctx.inet6.dad_count = 0;
        let req = AddrReq {
            name: "en0".into(),
            addr: Some(g.into()),
            netmask: None,
            brd: None,
        };
        add_addr(&mut ctx, &req).unwrap();
        let mut e = nd6_entry();
        e.lladdr = Some(PEER_MAC);
        ctx.inet6.nd.cache.insert((ifp.index, far), e);
        usrreq::attach(&mut ctx, 77, Af { v6: true, v6only: true });
        let r = usrreq::connect(&mut ctx, 77, std::net::SocketAddr::new(far.into(), 80), true);
        assert_eq!(r, Ok(()));
    }
    let sent = take(&sink);
    let syn: Vec<_> = sent
        .iter()
        .filter(|f| f.len() > 54 && f[12..14] == [0x86, 0xdd] && f[20] == 6)
        .collect();
    assert_eq!(syn.len(), 1, "{} frames, ip6 {:?}", sent.len(), stack.ctx().inet6.stat);
    let p = Ipv6Packet::new_checked(&syn[0][14..]).unwrap();
    assert_eq!((p.src(), p.dst()), (g, far));
    assert_eq!(
        crate::wire::checksum::cksum6(&g, &far, 6, p.payload()),
        0,
        "TCP checksum"
    );
    // The SYN-ACK comes back: the connection is established.
    let t = p.payload();
    let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    let mut sa = vec![0u8; 20];
    sa[0..2].copy_from_slice(&80u16.to_be_bytes());
    sa[2..4].copy_from_slice(&t[0..2]);
    sa[4..8].copy_from_slice(&1000u32.to_be_bytes());
    sa[8..12].copy_from_slice(&seq.wrapping_add(1).to_be_bytes());
    sa[12] = 5 << 4;
    sa[13] = 0x12;
    sa[14..16].copy_from_slice(&8192u16.to_be_bytes());
    let c = crate::wire::checksum::cksum6(&far, &g, 6, &sa);
    sa[16..18].copy_from_slice(&c.to_be_bytes());
    input(&stack, &ifp, MAC, &pkt6(far, g, 6, 64, &sa));
    let ctx = stack.ctx();
    let st = ctx.inet.tcp.tcbs.get(&77).map(|t| t.state);
    assert_eq!(
        st,
        Some(crate::inet::tcp::State::Established),
        "{:?} {:?}",
        ctx.inet6.stat,
        ctx.inet.tcp.stat
    );
}

/// A router that forwards a packet back out the link it came in on tells the sender
/// (RFC 4861 8.2): towards a router named by its link-local address, and towards an
/// on-link destination itself; the packet is still forwarded; the target's link-layer
/// address goes along when known; and nothing is sent with net.inet6.ip6.redirect=0.
#[test]
fn forwarding_back_out_the_same_link_sends_a_redirect() {
    use crate::net::route::{control as route_control, Gateway, Rtentry};
    use crate::wire::route::rtf;
    let (stack, ifp, sink) = v6_stack();
    reachable_peer(&stack, &ifp);
    let router2 = ll(&[2, 0, 0, 0, 0, 0x22]);
    {
        let mut ctx = stack.ctx();
        ctx.inet6.forwarding = true;
        let req = AddrReq {
            name: "en0".into(),
            addr: Some("2001:db8::1".parse::<Ipv6Addr>().unwrap().into()),
            netmask: None,
            brd: None,
        };
        add_addr(&mut ctx, &req).unwrap();
        finish_dad(&mut ctx);
        let r = Rtentry::new(
            "2001:db8:7::".parse().unwrap(),
            64,
            Gateway::Inet(router2),
            ifp.index,
            Ipv6Addr::UNSPECIFIED,
            rtf::UP | rtf::GATEWAY,
        );
        route_control::rt_add_entry(&mut ctx, r).unwrap();
        let mut e = nd6_entry();
        e.lladdr = Some([2, 0, 0, 0, 0, 0x22]);
        ctx.inet6.nd.cache.insert((ifp.index, router2), e);
    }
    take(&sink);
    // A big packet: the redirected header is cut to fit 1280.
    let far: Ipv6Addr = "2001:db8:7::5".parse().unwrap();
    let p = echo(peer(), far, 1, &[0x5a; 1400]);
    input(&stack, &ifp, MAC, &p);
    let out = take(&sink);
    let rd = with_types(&out, ic::ND_REDIRECT);
    assert_eq!(rd.len(), 1, "one redirect");
    let (mac, h, m) = &rd[0];
    assert_eq!((*mac, h.src, h.dst, h.hop_limit), (PEER_MAC, me(), peer(), 255));
    assert!(40 + m.len() <= 1280, "{} bytes", 40 + m.len());
    match NdRepr::parse(m).unwrap() {
        r @ NdRepr::Redirect { target, dest, .. } => {
            assert_eq!((target, dest), (router2, far));
            assert_eq!(r.target_lla(), Some([2, 0, 0, 0, 0, 0x22]));
            let q = ndisc::options(r.opts())
                .find_map(|o| match o.unwrap() {
                    NdOpt::Redirected(q) => Some(q.to_vec()),
                    _ => None,
                })
                .expect("a redirected header");
            // The packet as it came in, hop limit not yet decremented.
            assert_eq!(q[..40], p[..40]);
            assert_eq!(q.len(), nd6::REDIRECT_QUOTE_MAX);
        }
        r => panic!("{r:?}"),
    }
    // The packet went on to the better router too.
    let fwd: Vec<&Vec<u8>> = out
        .iter()
        .filter(|f| f[..6] == [2, 0, 0, 0, 0, 0x22] && f[12..14] == [0x86, 0xdd])
        .collect();
    assert_eq!(fwd.len(), 1);
    assert_eq!(fwd[0][14 + 7], 63);
    assert_eq!(stack.ctx().inet6.icmp6stat.outhist[usize::from(ic::ND_REDIRECT)], 1);
    assert_eq!(stack.ctx().inet6.stat.redirectsent, 1);

    // An on-link destination: the target is the destination itself.
    let onlink: Ipv6Addr = "2001:db8::77".parse().unwrap();
    input(&stack, &ifp, MAC, &echo(peer(), onlink, 2, b"x"));
    let rd = with_types(&take(&sink), ic::ND_REDIRECT);
    assert_eq!(rd.len(), 1);
    match NdRepr::parse(&rd[0].2).unwrap() {
        r @ NdRepr::Redirect { target, dest, .. } => {
            assert_eq!((target, dest), (onlink, onlink));
            assert_eq!(r.target_lla(), None, "the destination's address is not known yet");
        }
        r => panic!("{r:?}"),
    }

    // Switched off: forwarded, no redirect.
    stack.ctx().inet6.redirect = false;
    input(&stack, &ifp, MAC, &echo(peer(), far, 3, b"x"));
    let out = take(&sink);
    assert!(with_types(&out, ic::ND_REDIRECT).is_empty());
    assert!(out.iter().any(|f| f[..6] == [2, 0, 0, 0, 0, 0x22]));
    assert_eq!(stack.ctx().inet6.icmp6stat.outhist[usize::from(ic::ND_REDIRECT)], 2);
}

#[test]
fn v6only_and_redirect_are_sysctl_nodes() {
    let (stack, _ifp, _sink) = v6_stack();
    let t = &stack.registry.sysctl;
    let mut c = stack.ctx();
    assert_eq!(
        t.get(&c, "net.inet6.ip6.v6only").unwrap()[0].value,
        crate::msg::SysctlValue::Int(1)
    );
    t.set(&mut c, "net.inet6.ip6.v6only", "0").unwrap();
    assert!(!c.inet.v6only);
    assert_eq!(
        t.get(&c, "net.inet6.ip6.redirect").unwrap()[0].value,
        crate::msg::SysctlValue::Int(1)
    );
    t.set(&mut c, "net.inet6.ip6.redirect", "0").unwrap();
    assert!(!c.inet6.redirect);
    assert_eq!(
        t.set(&mut c, "net.inet6.ip6.v6only", "2").unwrap_err().errno,
        libc::EINVAL
    );
}

/// A v6 stack with 2001:db8::2 on en0, the peer 2001:db8::1 resolved, and a TCP
/// connection 2001:db8::2:4000 -> [2001:db8::1]:80 in `state` with 3000 bytes in flight
/// from `ISS`, in segments of 1440.
fn v6_conn(state: crate::inet::tcp::State) -> (Arc<Stack>, Arc<Ifnet>, Arc<Sink>) {
    use crate::inet::tcp::Tcb;
    let (stack, ifp, sink) = v6_stack();
    {
        let mut ctx = stack.ctx();
        ctx.inet6.dad_count = 0;
        let req = AddrReq {
            name: "en0".into(),
            addr: Some(ME6.into()),
            netmask: None,
            brd: None,
        };
        add_addr(&mut ctx, &req).unwrap();
        let mut e = nd6_entry();
        e.lladdr = Some(PEER_MAC);
        ctx.inet6.nd.cache.insert((ifp.index, HIM6), e);
        let key = (ME6.into(), 4000, HIM6.into(), 80);
        let mut t = Tcb::new(9, key, state, ISS, 1 << 20, 1 << 20, 1440);
        if state.synchronized() {
            t.snd_una = ISS;
            t.snd_nxt = ISS.wrapping_add(3000);
            t.snd_max = ISS.wrapping_add(3000);
            t.snd_buf.extend((0..3000).map(|i| i as u8));
            t.snd_wnd = 1 << 20;
            t.cwnd = 1 << 20;
        } else {
            t.snd_una = ISS;
            t.snd_nxt = ISS.wrapping_add(1);
            t.snd_max = ISS.wrapping_add(1);
        }
        ctx.inet.tcp.by_key.insert(key, 9);
        ctx.inet.tcp.insert_tcb(9, t);
    }
    take(&sink);
    (stack, ifp, sink)
}

const ME6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const HIM6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const ROUTER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe);
const ISS: u32 = 0xffff_fc00;

/// An ICMPv6 error from ROUTER6 to ME6 quoting a packet ME6 -> HIM6 of next header `nh`
/// whose transport header starts with the ports and `seq`.
fn error6(t: u8, code: u8, word: u32, nh: u8, sport: u16, dport: u16, seq: u32) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4[4..8].copy_from_slice(&seq.to_be_bytes());
    let quoted = pkt6(ME6, HIM6, nh, 64, &l4);
    let mut m = vec![t, code, 0, 0];
    m.extend_from_slice(&word.to_be_bytes());
    m.extend_from_slice(&quoted);
    ic::fill_checksum(&mut m, &ROUTER6, &ME6);
    pkt6(ROUTER6, ME6, NH_ICMPV6, 64, &m)
}

/// TCP segments sent: (seq, payload length, whether the packet was a fragment).
fn tcp_segs(frames: &[Vec<u8>]) -> Vec<(u32, usize, bool)> {
    frames
        .iter()
        .filter(|f| f.len() > 54 && f[12..14] == [0x86, 0xdd])
        .filter_map(|f| {
            let p = Ipv6Packet::new_checked(&f[14..]).ok()?;
            match p.next_header() {
                6 => {
                    let t = p.payload();
                    let off = usize::from(t[12] >> 4) * 4;
                    Some((u32::from_be_bytes([t[4], t[5], t[6], t[7]]), t.len() - off, false))
                }
                NH_FRAGMENT => Some((0, 0, true)),
                _ => None,
            }
        })
        .collect()
}

/// Packet too big about data in flight: t_maxseg follows the new path MTU and what is
/// unacknowledged goes again at once, in segments that fit, none fragmented (NetBSD's
/// tcp_mtudisc); the same figure again changes nothing; a quote whose sequence number
/// is outside snd_una..snd_max changes nothing.
#[test]
fn packet_too_big_lowers_tcp_maxseg_and_retransmits_cut_to_it() {
    use crate::inet::tcp::State;
    let (stack, ifp, sink) = v6_conn(State::Established);
    // A forged one first: the sequence number is past snd_max.
    input(
        &stack,
        &ifp,
        MAC,
        &error6(ic::PACKET_TOO_BIG, 0, 1280, 6, 4000, 80, ISS.wrapping_add(5000)),
    );
    assert_eq!(stack.ctx().inet.tcp.tcbs[&9].t_maxseg, 1440);
    assert_eq!(stack.ctx().inet6.icmp6stat.pmtuignored, 1);
    assert!(tcp_segs(&take(&sink)).is_empty());

    input(
        &stack,
        &ifp,
        MAC,
        &error6(ic::PACKET_TOO_BIG, 0, 1280, 6, 4000, 80, ISS.wrapping_add(1440)),
    );
    assert_eq!(stack.ctx().inet.tcp.tcbs[&9].t_maxseg, 1280 - 40 - 20);
    let segs = tcp_segs(&take(&sink));
    assert!(!segs.is_empty());
    assert!(segs.iter().all(|s| !s.2), "fragmented: {segs:?}");
    assert!(segs.iter().all(|s| s.1 <= 1220), "{segs:?}");
    assert_eq!(segs[0].0, ISS, "from snd_una: {segs:?}");
    let sent: usize = segs.iter().map(|s| s.1).sum();
    assert_eq!(sent, 3000, "{segs:?}");
    // The same news again: nothing more is sent.
    input(
        &stack,
        &ifp,
        MAC,
        &error6(ic::PACKET_TOO_BIG, 0, 1280, 6, 4000, 80, ISS.wrapping_add(100)),
    );
    assert!(tcp_segs(&take(&sink)).is_empty());
}

/// An unreachable about a connection still in SYN_SENT is a soft error: the connect
/// goes on, and if it then times out, that error is what the user hears, not
/// ETIMEDOUT. A quote of a sequence number not in flight is counted and dropped.
#[test]
fn unreachable_in_syn_sent_is_reported_when_the_connect_times_out() {
    use crate::inet::tcp::State;
    let (stack, ifp, _sink) = v6_conn(State::SynSent);
    input(
        &stack,
        &ifp,
        MAC,
        &error6(ic::DST_UNREACH, ic::UNREACH_NOPORT, 0, 6, 4000, 80, ISS.wrapping_add(7)),
    );
    assert_eq!(stack.ctx().inet6.icmp6stat.badquote, 1);
    assert_eq!(stack.ctx().inet.tcp.tcbs[&9].t_softerror, None);
    input(
        &stack,
        &ifp,
        MAC,
        &error6(ic::DST_UNREACH, ic::UNREACH_ADDR, 0, 6, 4000, 80, ISS),
    );
    {
        let ctx = stack.ctx();
        let t = &ctx.inet.tcp.tcbs[&9];
        assert_eq!(
            (t.state, t.so_error, t.t_softerror),
            (State::SynSent, None, Some(libc::EHOSTDOWN))
        );
    }
    // The connection-establishment timer runs out.
    {
        let mut ctx = stack.ctx();
        if let Some(t) = ctx.inet.tcp.tcbs.get_mut(&9) {
            t.t_keep = Some(Instant::now() - std::time::Duration::from_secs(1));
        }
        crate::inet::tcp::timer::run_one(&mut ctx, 9, Instant::now());
    }
    let ctx = stack.ctx();
    let t = &ctx.inet.tcp.tcbs[&9];
    assert_eq!((t.state, t.so_error), (State::Closed, Some(libc::EHOSTDOWN)));
}

/// An established connection shrugs off "host unreachable" but keeps a port
/// unreachable as its soft error; an ACK of new data forgets it.
#[test]
fn an_established_connection_ignores_host_unreachable() {
    use crate::inet::tcp::State;
    let (stack, ifp, _sink) = v6_conn(State::Established);
    input(
        &stack,
        &ifp,
        MAC,
        &error6(ic::DST_UNREACH, ic::UNREACH_NOROUTE, 0, 6, 4000, 80, ISS),
    );
    assert_eq!(stack.ctx().inet.tcp.tcbs[&9].t_softerror, None);
    input(
        &stack,
        &ifp,
        MAC,
        &error6(ic::DST_UNREACH, ic::UNREACH_NOPORT, 0, 6, 4000, 80, ISS),
    );
    assert_eq!(stack.ctx().inet.tcp.tcbs[&9].t_softerror, Some(libc::ECONNREFUSED));
    assert_eq!(stack.ctx().inet.tcp.tcbs[&9].state, State::Established);
}

/// A port unreachable about a datagram of a connected UDP socket reaches its user as
/// ECONNREFUSED (a pushed frame carrying the errno); an unconnected socket hears nothing;
/// a quote of another port is counted and dropped.
#[test]
fn port_unreachable_reaches_a_connected_udp_socket() {
    use crate::inet::inpcb::Af;
    use crate::inet::udp::{self, UdpPcb};
    use crate::msg::wire::{Received, SeqPacket};
    let (stack, ifp, _sink) = v6_conn(crate::inet::tcp::State::SynSent);
    let (ours, theirs) = SeqPacket::pair().unwrap();
    let (ours2, theirs2) = SeqPacket::pair().unwrap();
    {
        let mut ctx = stack.ctx();
        ctx.inet.udp.push(UdpPcb {
            af: Af { v6: true, v6only: true },
            ..UdpPcb::new(21, ours, 1 << 16)
        });
        udp::udp_bind(&mut ctx, 21, "[::]:5300".parse().unwrap(), true).unwrap();
        udp::udp_connect(&mut ctx, 21, "[2001:db8::1]:53".parse().unwrap(), true).unwrap();
        ctx.inet.udp.push(UdpPcb {
            af: Af { v6: true, v6only: true },
            ..UdpPcb::new(22, ours2, 1 << 16)
        });
        udp::udp_bind(&mut ctx, 22, "[::]:5301".parse().unwrap(), true).unwrap();
    }
    let mut buf = vec![0u8; 4096];
    input(
        &stack,
        &ifp,
        MAC,
        &error6(ic::DST_UNREACH, ic::UNREACH_NOPORT, 0, 17, 5300, 53, 0),
    );
    match theirs.recv_nowait(&mut buf) {
        Ok(Received::Msg(n)) => {
            let f = crate::msg::decode(&buf[..n]).unwrap();
            assert_eq!(f.hdr.errno, libc::ECONNREFUSED);
            assert_ne!(f.hdr.flags & crate::msg::MSGF_DATA, 0);
        }
        r => panic!("nothing pushed: {r:?}"),
    }
    input(
        &stack,
        &ifp,
        MAC,
        &error6(ic::DST_UNREACH, ic::UNREACH_NOPORT, 0, 17, 5301, 53, 0),
    );
    assert!(
        !matches!(theirs2.recv_nowait(&mut buf), Ok(Received::Msg(_))),
        "an unconnected socket hears nothing"
    );
    assert_eq!(stack.ctx().inet6.icmp6stat.badquote, 0);
    input(
        &stack,
        &ifp,
        MAC,
        &error6(ic::DST_UNREACH, ic::UNREACH_NOPORT, 0, 17, 5399, 53, 0),
    );
    assert_eq!(stack.ctx().inet6.icmp6stat.badquote, 1);
}

/// A join is reported, then reported once more (RFC 3810 6.1: Robustness Variable 2) at
/// a random time within the Unsolicited Report Interval; a leave before that replaces the
/// pending join; nothing is left to send after.
#[test]
fn mld_state_changes_are_reported_robustness_times() {
    use crate::wire::mld;
    let (stack, ifp, sink) = v6_stack();
    let group: Ipv6Addr = "ff05::1:3".parse().unwrap();
    let reports = |frames: &[Vec<u8>]| -> Vec<(u8, Ipv6Addr)> {
        with_types(frames, ic::MLDV2_LISTENER_REPORT)
            .iter()
            .flat_map(|(_, _, m)| {
                mld::records(m)
                    .map(|r| r.unwrap())
                    .map(|r| (r.rtype, r.group))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let due_now = |ctx: &mut Ctx| {
        for p in ctx.inet6.mld_pending.iter_mut() {
            p.at = Instant::now() - std::time::Duration::from_millis(1);
        }
    };
    {
        let mut ctx = stack.ctx();
        // The solicited-node groups joined at up have their own second reports pending.
        assert!(ctx.inet6.mld_pending.iter().all(|p| p.join && p.left == 1));
        ctx.inet6.mld_pending.clear();
        let before = Instant::now();
        in6_joingroup(&mut ctx, &ifp, group);
        assert_eq!(ctx.inet6.mld_pending.len(), 1);
        let p = &ctx.inet6.mld_pending[0];
        assert!(
            p.at >= before && p.at <= Instant::now() + mld6::UNSOLICITED_REPORT_INTERVAL,
            "{p:?}"
        );
    }
    assert_eq!(reports(&take(&sink)), vec![(mld::CHANGE_TO_EXCLUDE, group)]);
    // Not due yet: nothing; due: the second report, and nothing pending after.
    {
        let mut ctx = stack.ctx();
        let next = mld6::mld_timer(&mut ctx);
        assert!(next.is_some());
    }
    assert!(reports(&take(&sink)).is_empty());
    {
        let mut ctx = stack.ctx();
        due_now(&mut ctx);
        assert_eq!(mld6::mld_timer(&mut ctx), None);
        assert!(ctx.inet6.mld_pending.is_empty());
    }
    assert_eq!(reports(&take(&sink)), vec![(mld::CHANGE_TO_EXCLUDE, group)]);

    // Join then leave at once: the leave's retransmission replaces the join's.
    let g2: Ipv6Addr = "ff05::1:4".parse().unwrap();
    {
        let mut ctx = stack.ctx();
        in6_joingroup(&mut ctx, &ifp, g2);
        in6_leavegroup(&mut ctx, &ifp, g2);
        assert_eq!(ctx.inet6.mld_pending.len(), 1);
        due_now(&mut ctx);
        mld6::mld_timer(&mut ctx);
    }
    assert_eq!(
        reports(&take(&sink)),
        vec![
            (mld::CHANGE_TO_EXCLUDE, g2),
            (mld::CHANGE_TO_INCLUDE, g2),
            (mld::CHANGE_TO_INCLUDE, g2)
        ]
    );
}

/// Queries (RFC 3810 6.2): a group-specific one for a group we are in is answered for
/// that group alone; a general one then takes it over; one for a group we are not in is
/// not answered.
#[test]
fn mld_group_queries_are_answered_for_their_group_and_general_ones_take_over() {
    let (stack, ifp, sink) = v6_stack();
    let query = |group: Ipv6Addr, code: u16| {
        let mut q = vec![ic::MLD_LISTENER_QUERY, 0, 0, 0];
        q.extend_from_slice(&code.to_be_bytes());
        q.extend_from_slice(&[0, 0]);
        q.extend_from_slice(&group.octets());
        q.extend_from_slice(&[0, 0, 0, 0]);
        let dst = if group.is_unspecified() { nd6::ALL_NODES } else { group };
        ic::fill_checksum(&mut q, &peer(), &dst);
        let mut hbh = vec![NH_ICMPV6, 0, 5, 2, 0, 0, 1, 0];
        hbh.extend_from_slice(&q);
        input(&stack, &ifp, a6::multicast_mac(&dst), &pkt6(peer(), dst, 0, 1, &hbh));
    };
    let sn = a6::solicited_node(&me());
    stack.ctx().inet6.mld_pending.clear();
    query("ff05::99".parse().unwrap(), 0);
    assert!(stack.ctx().inet6.mld_answers.is_empty(), "not a group of ours");
    query(sn, 500);
    assert_eq!(stack.ctx().inet6.mld_answers[0].groups, Some(vec![sn]));
    query(Ipv6Addr::UNSPECIFIED, 0);
    {
        let mut ctx = stack.ctx();
        assert_eq!(ctx.inet6.mld_answers.len(), 1);
        assert_eq!(ctx.inet6.mld_answers[0].groups, None);
        ctx.inet6.mld_answers[0].at = Instant::now();
        mld6::mld_timer(&mut ctx);
    }
    let rep = with_types(&take(&sink), ic::MLDV2_LISTENER_REPORT);
    assert_eq!(rep.len(), 1);
    let groups: Vec<Ipv6Addr> = crate::wire::mld::records(&rep[0].2).map(|r| r.unwrap().group).collect();
    assert!(groups.contains(&sn), "{groups:?}");
}
