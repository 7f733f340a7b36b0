//! PF end to end inside one stack context: a router with en0 inside (10.0.0.1/24) and en1
//! outside (198.51.100.1/24), a ruleset loaded through the control request, packets made
//! by hand through `pf_test` both ways.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::pkt::{parse4, Af};
use super::*;
use crate::inet::InIfaddr;
use crate::msg::pf::{self as m, Action, Endpoint, IfSpec, LoadParts, LoadReq, NatKind, PfReq, Pool, Rule, StateKind};
use crate::wire::checksum::{cksum, transport_cksum};
use crate::wire::tcp::{TH_ACK, TH_RST, TH_SYN};

const INSIDE: [u8; 4] = [10, 0, 0, 2];
const SERVER: [u8; 4] = [192, 0, 2, 9];
const ROUTER_OUT: [u8; 4] = [198, 51, 100, 1];

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let c = cksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    tcpd(src, sport, dst, dport, seq, ack, flags, b"")
}

#[allow(clippy::too_many_arguments)]
fn tcpd(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 0x50;
    t[13] = flags;
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(data);
    let c = transport_cksum(IpAddr::from(src), IpAddr::from(dst), 6, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, 6, &t)
}

/// Both checksums of a TCP/IPv4 datagram are right.
fn ok(p: &[u8]) -> bool {
    let s = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let d = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    cksum(&p[..20]) == 0 && transport_cksum(s.into(), d.into(), p[9], &p[20..]) == 0
}

struct Router {
    stack: Arc<Stack>,
    en0: Arc<Ifnet>,
    en1: Arc<Ifnet>,
}

fn nif(ctx: &mut Ctx, name: &str, addr: [u8; 4]) -> Arc<Ifnet> {
    let idx = crate::net::if_control::next_index(ctx);
    let ifp = Ifnet::pseudo(idx, name.into(), crate::msg::IFT_ETHER, 1500, pflog_output);
    let ifp = crate::net::if_control::if_attach(ctx, ifp).unwrap();
    ctx.inet.addrs.push(InIfaddr {
        ifindex: idx,
        addr: Ipv4Addr::from(addr),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        broadcast: None,
    });
    ifp
}

fn on(name: &str) -> Option<IfSpec> {
    Some(IfSpec {
        name: name.into(),
        neg: false,
    })
}

/// `nat on en1 from 10.0.0.0/24 to any -> (en1)`, `block in on en1 all`,
/// `pass out on en1 all flags S/SA keep state`, `pass in on en0 all flags S/SA keep state`.
fn router() -> Router {
    let stack = Stack::detached();
    let (en0, en1) = {
        let mut ctx = stack.ctx();
        pf_attach(&mut ctx, &stack, "pf").unwrap();
        (nif(&mut ctx, "en0", [10, 0, 0, 1]), nif(&mut ctx, "en1", ROUTER_OUT))
    };
    let mut nat = m::NatRule::new(NatKind::Nat);
    nat.ifname = on("en1");
    nat.src.addr = m::Addr::Net(m::Net {
        addr: "10.0.0.0".parse().unwrap(),
        prefix: 24,
    });
    nat.pool = Some(Pool {
        addrs: vec![m::Addr::Dynamic {
            ifname: "en1".into(),
            flags: 0,
        }],
        port: None,
        port_star: false,
        kind: m::PoolType::None,
        sticky: false,
        static_port: false,
    });
    let mut block = Rule::new(Action::Block);
    block.dir = m::Dir::In;
    block.ifname = on("en1");
    let keep = |dir, ifn: &str| {
        let mut r = Rule::new(Action::Pass);
        r.dir = dir;
        r.ifname = on(ifn);
        r.flags = TH_SYN;
        r.flagset = TH_SYN | TH_ACK;
        r.state = StateKind::Keep;
        r
    };
    let rs = m::Ruleset {
        nat: vec![nat],
        filter: vec![block, keep(m::Dir::Out, "en1"), keep(m::Dir::In, "en0")],
        ..m::Ruleset::default()
    };
    let r = Router { stack, en0, en1 };
    r.req(PfReq::Load(LoadReq {
        anchor: String::new(),
        parts: LoadParts::ALL,
        ruleset: rs,
        nested: Vec::new(),
    }))
    .unwrap();
    r.req(PfReq::Enable).unwrap();
    r
}

impl Router {
    fn req(&self, q: PfReq) -> Result<m::PfReply, i32> {
        ioctl::pf_ioctl(&mut self.stack.ctx(), &q).map_err(|f| f.errno)
    }

    fn test(&self, dir: Dir, ifp: &Ifnet, p: &[u8]) -> Option<Vec<u8>> {
        match pf_test(&mut self.stack.ctx(), Af::Inet, dir, ifp, Mbuf::from_slice(p)) {
            Verdict::Pass(m) => Some(m.as_slice().to_vec()),
            _ => None,
        }
    }

    fn counter(&self, r: Reason) -> u64 {
        self.stack.ctx().pf.counters[r as usize]
    }
}

#[test]
fn without_the_module_every_request_is_enoent() {
    let stack = Stack::detached();
    let r = ioctl::pf_ioctl(&mut stack.ctx(), &PfReq::Open);
    assert_eq!(r.map_err(|f| f.errno), Err(libc::ENOENT));
}

#[test]
fn enable_and_disable_answer_as_pf_does() {
    let r = router();
    assert_eq!(r.req(PfReq::Enable), Err(libc::EEXIST));
    assert!(r.req(PfReq::Disable).is_ok());
    assert_eq!(r.req(PfReq::Disable), Err(libc::ENOENT));
}

#[test]
fn nat_translates_both_ways_and_keeps_every_checksum_right() {
    let r = router();
    let syn = tcp(INSIDE, 40000, SERVER, 80, 1000, 0, TH_SYN);
    let p = r.test(Dir::In, &r.en0, &syn).expect("in on en0 passes");
    assert_eq!(p, syn, "nothing is translated coming in on en0");
    let out = r.test(Dir::Out, &r.en1, &syn).expect("out on en1 passes");
    let pd = parse4(&out).unwrap();
    assert_eq!(pd.src, Addr::v4(ROUTER_OUT.into()));
    assert!((50001..=65535).contains(&pd.sport), "{}", pd.sport);
    assert!(ok(&out));
    let nport = pd.sport;
    // The answer comes back to the router's address and goes to the inside host.
    let synack = tcp(SERVER, 80, ROUTER_OUT, nport, 5000, 1001, TH_SYN | TH_ACK);
    let back = r
        .test(Dir::In, &r.en1, &synack)
        .expect("the answer passes by the state");
    let pd = parse4(&back).unwrap();
    assert_eq!((pd.dst, pd.dport), (Addr::v4(INSIDE.into()), 40000));
    assert!(ok(&back));
    assert!(r.test(Dir::Out, &r.en0, &back).is_some(), "out on en0 by the en0 state");
    let Ok(m::PfReply::States(st)) = r.req(PfReq::GetStates { ifname: None }) else {
        panic!("states");
    };
    assert_eq!(st.len(), 2);
    let nat = st.iter().find(|s| s.dir == m::Dir::Out).unwrap();
    assert_eq!(nat.lan.addr, IpAddr::from(INSIDE));
    assert_eq!(nat.gwy.port, nport);
    assert_eq!(nat.ext.addr, IpAddr::from(SERVER));
}

#[test]
fn outside_cannot_initiate_and_out_of_window_segments_are_dropped_and_counted() {
    let r = router();
    let probe = tcp(SERVER, 5555, ROUTER_OUT, 22, 1, 0, TH_SYN);
    assert!(r.test(Dir::In, &r.en1, &probe).is_none());
    let syn = tcp(INSIDE, 40001, SERVER, 80, 1000, 0, TH_SYN);
    r.test(Dir::In, &r.en0, &syn).unwrap();
    let out = r.test(Dir::Out, &r.en1, &syn).unwrap();
    let nport = parse4(&out).unwrap().sport;
    let synack = tcp(SERVER, 80, ROUTER_OUT, nport, 5000, 1001, TH_SYN | TH_ACK);
    r.test(Dir::In, &r.en1, &synack).unwrap();
    let before = r.counter(Reason::StateMismatch);
    // A blind RST far from the window.
    let rst = tcp(SERVER, 80, ROUTER_OUT, nport, 5001 + 10_000_000, 0, TH_RST);
    assert!(r.test(Dir::In, &r.en1, &rst).is_none());
    // Data far beyond what the inside host's window allows (an empty segment is only
    // checked for its acknowledgment, as pf does).
    let far = tcpd(SERVER, 80, ROUTER_OUT, nport, 5001 + 3_000_000, 1001, TH_ACK, &[0; 100]);
    assert!(r.test(Dir::In, &r.en1, &far).is_none());
    assert_eq!(r.counter(Reason::StateMismatch), before + 2);
    // The connection goes on.
    let ack = tcp(SERVER, 80, ROUTER_OUT, nport, 5001, 1001, TH_ACK);
    assert!(r.test(Dir::In, &r.en1, &ack).is_some());
}

#[test]
fn an_icmp_error_about_a_translated_connection_is_translated_inside_too() {
    let r = router();
    let syn = tcp(INSIDE, 40002, SERVER, 80, 1000, 0, TH_SYN);
    r.test(Dir::In, &r.en0, &syn).unwrap();
    let out = r.test(Dir::Out, &r.en1, &syn).unwrap();
    // A router on the way says the server is unreachable, quoting what it got.
    let mut icmp = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&out[..28]);
    let c = cksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let err = ipv4([203, 0, 113, 1], ROUTER_OUT, 1, &icmp);
    let back = r
        .test(Dir::In, &r.en1, &err)
        .expect("the error matches the state it quotes");
    assert_eq!(&back[16..20], &INSIDE, "the error goes to the inside host");
    assert_eq!(cksum(&back[..20]), 0);
    assert_eq!(cksum(&back[20..]), 0, "ICMP checksum");
    let q = &back[28..];
    assert_eq!(&q[12..16], &INSIDE, "the quote shows the inside host");
    assert_eq!(u16::from_be_bytes([q[20], q[21]]), 40002);
    assert_eq!(cksum(&q[..20]), 0, "the quote's own header checksum");
    // An error quoting a flow nobody made goes to the rules, which block it.
    let mut other = icmp.clone();
    other[8 + 20..8 + 22].copy_from_slice(&1234u16.to_be_bytes());
    other[2..4].copy_from_slice(&[0, 0]);
    let c = cksum(&other);
    other[2..4].copy_from_slice(&c.to_be_bytes());
    assert!(r
        .test(Dir::In, &r.en1, &ipv4([203, 0, 113, 1], ROUTER_OUT, 1, &other))
        .is_none());
}

#[test]
fn a_bad_load_leaves_the_old_rules_in_force() {
    let r = router();
    let mut bad = Rule::new(Action::Pass);
    bad.state = StateKind::Synproxy;
    let e = r.req(PfReq::Load(LoadReq {
        anchor: String::new(),
        parts: LoadParts::ALL,
        ruleset: m::Ruleset {
            filter: vec![Rule::new(Action::Pass), bad],
            ..m::Ruleset::default()
        },
        nested: Vec::new(),
    }));
    assert_eq!(e, Err(libc::EOPNOTSUPP));
    let Ok(m::PfReply::Ruleset(rs)) = r.req(PfReq::GetRules { anchor: String::new() }) else {
        panic!("rules");
    };
    assert_eq!(rs.filter.len(), 3);
    assert_eq!(rs.nat.len(), 1);
    // Still blocking what comes in on en1.
    assert!(r
        .test(Dir::In, &r.en1, &tcp(SERVER, 1, ROUTER_OUT, 22, 1, 0, TH_SYN))
        .is_none());
}

#[test]
fn tables_match_in_rules_and_change_while_loaded() {
    let r = router();
    let mut blk = Rule::new(Action::Block);
    blk.quick = true;
    blk.dir = m::Dir::In;
    blk.src = Endpoint {
        addr: m::Addr::Table("bad".into()),
        neg: false,
        port: None,
    };
    r.req(PfReq::Load(LoadReq {
        anchor: String::new(),
        parts: LoadParts::ALL,
        ruleset: m::Ruleset {
            filter: vec![blk, Rule::new(Action::Pass)],
            ..m::Ruleset::default()
        },
        nested: Vec::new(),
    }))
    .unwrap();
    let pkt = tcp(INSIDE, 40003, SERVER, 80, 1, 0, TH_SYN);
    assert!(r.test(Dir::In, &r.en0, &pkt).is_some());
    let add = |a: &str| m::TableAddr {
        net: m::Net::host(a.parse().unwrap()),
        neg: false,
    };
    let Ok(m::PfReply::Table(res)) = r.req(PfReq::Table(m::TableReq {
        anchor: String::new(),
        name: "bad".into(),
        op: m::TableOp::Add(vec![add("10.0.0.2"), add("10.0.0.3")]),
    })) else {
        panic!("add");
    };
    assert_eq!(res.added, 2);
    assert!(r.test(Dir::In, &r.en0, &pkt).is_none());
    r.req(PfReq::Table(m::TableReq {
        anchor: String::new(),
        name: "bad".into(),
        op: m::TableOp::Delete(vec![add("10.0.0.2")]),
    }))
    .unwrap();
    assert!(r.test(Dir::In, &r.en0, &pkt).is_some());
}

#[test]
fn a_full_state_table_refuses_new_states_and_keeps_the_old_ones() {
    let r = router();
    r.stack.ctx().pf.states.limit = 2;
    let syn = |p| tcp(INSIDE, p, SERVER, 80, 1, 0, TH_SYN);
    // Each connection makes two states (in on en0, out on en1).
    assert!(r.test(Dir::In, &r.en0, &syn(1)).is_some());
    assert!(r.test(Dir::Out, &r.en1, &syn(1)).is_some());
    assert!(r.test(Dir::In, &r.en0, &syn(2)).is_none());
    assert_eq!(r.counter(Reason::StateLimit), 1);
    assert!(r.test(Dir::In, &r.en0, &syn(1)).is_some(), "the old state still passes");
}

fn load_rs(r: &Router, rs: m::Ruleset) {
    r.req(PfReq::Load(LoadReq {
        anchor: String::new(),
        parts: LoadParts::ALL,
        ruleset: rs,
        nested: Vec::new(),
    }))
    .unwrap();
}

#[test]
fn scrub_clamps_the_mss_raises_the_ttl_and_clears_df() {
    let r = router();
    let s = m::ScrubRule {
        no_df: true,
        min_ttl: Some(100),
        max_mss: Some(1400),
        ..m::ScrubRule::default()
    };
    load_rs(
        &r,
        m::Ruleset {
            scrub: vec![s],
            filter: vec![Rule::new(Action::Pass)],
            ..m::Ruleset::default()
        },
    );
    // A SYN with NOP, MSS 1460 (the option's value at an odd word), DF set.
    let mut t = vec![0u8; 28];
    t[0..2].copy_from_slice(&1234u16.to_be_bytes());
    t[2..4].copy_from_slice(&80u16.to_be_bytes());
    t[12] = 0x70;
    t[13] = TH_SYN;
    t[20..28].copy_from_slice(&[1, 2, 4, 0x05, 0xb4, 1, 1, 0]);
    let c = transport_cksum(IpAddr::from(INSIDE), IpAddr::from(SERVER), 6, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let mut p = ipv4(INSIDE, SERVER, 6, &t);
    p[6] = 0x40;
    p[8] = 5;
    p[10..12].copy_from_slice(&[0, 0]);
    let c = cksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let out = r.test(Dir::In, &r.en0, &p).unwrap();
    assert_eq!(u16::from_be_bytes([out[43], out[44]]), 1400);
    assert_eq!((out[6] & 0x40, out[8]), (0, 100));
    assert!(ok(&out));
}

#[test]
fn modulate_state_moves_the_isn_and_the_answer_back() {
    let r = router();
    let mut p = Rule::new(Action::Pass);
    p.state = StateKind::Modulate;
    p.flags = TH_SYN;
    p.flagset = TH_SYN | TH_ACK;
    load_rs(
        &r,
        m::Ruleset {
            filter: vec![p],
            ..m::Ruleset::default()
        },
    );
    let syn = tcp(INSIDE, 40100, SERVER, 80, 1000, 0, TH_SYN);
    let out = r.test(Dir::Out, &r.en1, &syn).unwrap();
    assert!(ok(&out));
    let isn = u32::from_be_bytes([out[24], out[25], out[26], out[27]]);
    assert_ne!(isn, 1000);
    let synack = tcp(SERVER, 80, INSIDE, 40100, 7000, isn.wrapping_add(1), TH_SYN | TH_ACK);
    let back = r.test(Dir::In, &r.en1, &synack).unwrap();
    assert!(ok(&back));
    assert_eq!(u32::from_be_bytes([back[28], back[29], back[30], back[31]]), 1001);
    let data = tcpd(INSIDE, 40100, SERVER, 80, 1001, 7001, TH_ACK, b"hello");
    let out = r.test(Dir::Out, &r.en1, &data).unwrap();
    assert_eq!(
        u32::from_be_bytes([out[24], out[25], out[26], out[27]]),
        isn.wrapping_add(1)
    );
    assert!(ok(&out));
}

#[test]
fn the_fuzz_harness_survives_random_and_mutated_input() {
    // A fixed pseudo-random stream (xorshift), as a short stand-in for the fuzzer.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let syn = tcp(INSIDE, 40000, SERVER, 80, 1000, 0, TH_SYN);
    for round in 0..200 {
        let mut data = Vec::new();
        for _ in 0..(next() % 12) {
            let len = (next() % 80) as u16;
            data.push(next() as u8);
            data.extend_from_slice(&len.to_be_bytes());
            if round % 2 == 0 {
                // A real header's bytes, a few of them flipped.
                let mut p = syn[20..].to_vec();
                p.resize(usize::from(len), 0);
                for _ in 0..3 {
                    let i = (next() as usize) % p.len().max(1);
                    if let Some(b) = p.get_mut(i) {
                        *b ^= next() as u8;
                    }
                }
                data.extend_from_slice(&p);
            } else {
                data.extend((0..len).map(|_| next() as u8));
            }
        }
        crate::fuzzing::pf(&data);
    }
}

/// An ICMPv6 echo request from `src` to `dst`, its checksum right.
fn echo6(src: std::net::Ipv6Addr, dst: std::net::Ipv6Addr, id: u16) -> Vec<u8> {
    let mut icmp = vec![128u8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&[0, 1, 0xaa, 0xbb]);
    let c = crate::wire::checksum::cksum6(&src, &dst, 58, &icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    p.extend_from_slice(&[58, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&icmp);
    p
}

#[test]
fn inet6_nat_and_filter_keep_the_icmpv6_checksum_right() {
    let stack = Stack::detached_variant(crate::sys::Variant::V6Hc);
    let (en0, en1) = {
        let mut ctx = stack.ctx();
        pf_attach(&mut ctx, &stack, "pf").unwrap();
        (nif(&mut ctx, "en0", [10, 0, 0, 1]), nif(&mut ctx, "en1", ROUTER_OUT))
    };
    let r = Router { stack, en0, en1 };
    let mut nat = m::NatRule::new(NatKind::Nat);
    nat.ifname = on("en1");
    nat.af = Some(m::Af::Inet6);
    nat.src.addr = m::Addr::Net(m::Net {
        addr: "2001:db8:1::".parse().unwrap(),
        prefix: 64,
    });
    nat.pool = Some(Pool {
        addrs: vec![m::Addr::Net(m::Net::host("2001:db8:2::1".parse().unwrap()))],
        port: None,
        port_star: false,
        kind: m::PoolType::None,
        sticky: false,
        static_port: false,
    });
    let mut block = Rule::new(Action::Block);
    block.af = Some(m::Af::Inet6);
    block.dir = m::Dir::In;
    block.ifname = on("en1");
    let mut pass = Rule::new(Action::Pass);
    pass.dir = m::Dir::Out;
    pass.state = StateKind::Keep;
    load_rs(
        &r,
        m::Ruleset {
            nat: vec![nat],
            filter: vec![block, pass],
            ..m::Ruleset::default()
        },
    );
    r.req(PfReq::Enable).unwrap();
    let (inside, server, gw): (std::net::Ipv6Addr, std::net::Ipv6Addr, std::net::Ipv6Addr) = (
        "2001:db8:1::2".parse().unwrap(),
        "2001:db8:3::9".parse().unwrap(),
        "2001:db8:2::1".parse().unwrap(),
    );
    let t6 = |dir, ifp: &Ifnet, p: &[u8]| match pf_test(&mut r.stack.ctx(), Af::Inet6, dir, ifp, Mbuf::from_slice(p)) {
        Verdict::Pass(m) => Some(m.as_slice().to_vec()),
        _ => None,
    };
    let ok6 = |p: &[u8]| {
        let s = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
        let d = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
        crate::wire::checksum::cksum6(&s, &d, 58, &p[40..]) == 0
    };
    let out = t6(Dir::Out, &r.en1, &echo6(inside, server, 77)).expect("out passes");
    assert_eq!(&out[8..24], &gw.octets(), "the source is translated");
    assert!(ok6(&out), "ICMPv6 checksum after NAT");
    let id = u16::from_be_bytes([out[44], out[45]]);
    let mut reply = echo6(server, gw, id);
    reply[40] = 129;
    reply[42..44].copy_from_slice(&[0, 0]);
    let c = crate::wire::checksum::cksum6(&server, &gw, 58, &reply[40..]);
    reply[42..44].copy_from_slice(&c.to_be_bytes());
    let back = t6(Dir::In, &r.en1, &reply).expect("the reply passes by the state");
    assert_eq!(&back[24..40], &inside.octets());
    assert_eq!(u16::from_be_bytes([back[44], back[45]]), 77, "the id goes back");
    assert!(ok6(&back));
    // Unsolicited, it is blocked.
    assert!(t6(Dir::In, &r.en1, &echo6(server, gw, 5)).is_none());
}

/// `p` with four bytes of IPv4 options (three NOPs and an EOL) after its header.
fn with_ip_options(p: &[u8]) -> Vec<u8> {
    let mut q = p[..20].to_vec();
    q.extend_from_slice(&[1, 1, 1, 0]);
    q.extend_from_slice(&p[20..]);
    q[0] = 0x46;
    let len = q.len() as u16;
    q[2..4].copy_from_slice(&len.to_be_bytes());
    q[10..12].copy_from_slice(&[0, 0]);
    let c = cksum(&q[..24]);
    q[10..12].copy_from_slice(&c.to_be_bytes());
    q
}

#[test]
fn ipv4_options_are_dropped_unless_the_rule_says_allow_opts() {
    let r = router();
    let syn = with_ip_options(&tcp(INSIDE, 40000, SERVER, 80, 1, 0, TH_SYN));
    assert!(r.test(Dir::In, &r.en0, &syn).is_none());
    assert_eq!(r.counter(Reason::IpOption), 1);
    // Without options the same SYN passes (and makes a state).
    assert!(r
        .test(Dir::In, &r.en0, &tcp(INSIDE, 40001, SERVER, 80, 1, 0, TH_SYN))
        .is_some());
    // A state made by a rule without allow-opts does not pass options either.
    let ack = with_ip_options(&tcp(INSIDE, 40001, SERVER, 80, 2, 1, TH_ACK));
    assert!(r.test(Dir::In, &r.en0, &ack).is_none());
    assert_eq!(r.counter(Reason::IpOption), 2);
    let mut pass = Rule::new(Action::Pass);
    pass.allow_opts = true;
    pass.state = StateKind::Keep;
    load_rs(
        &r,
        m::Ruleset {
            filter: vec![pass],
            ..m::Ruleset::default()
        },
    );
    let syn = with_ip_options(&tcp(INSIDE, 40002, SERVER, 80, 1, 0, TH_SYN));
    assert!(r.test(Dir::In, &r.en0, &syn).is_some());
    let ack = with_ip_options(&tcp(INSIDE, 40002, SERVER, 80, 2, 1, TH_ACK));
    assert!(r.test(Dir::In, &r.en0, &ack).is_some());
    assert_eq!(r.counter(Reason::IpOption), 2);
}

#[test]
fn options_the_engine_lacks_are_refused_at_load_and_change_nothing() {
    let r = router();
    let load = |filter: Vec<Rule>, nat: Vec<m::NatRule>| {
        r.req(PfReq::Load(LoadReq {
            anchor: String::new(),
            parts: LoadParts::ALL,
            ruleset: m::Ruleset {
                filter,
                nat,
                ..m::Ruleset::default()
            },
            nested: Vec::new(),
        }))
    };
    let mut t = Rule::new(Action::Pass);
    t.state = StateKind::Keep;
    t.state_opts.timeouts = vec![(m::Timeout::TcpEstablished, 60)];
    assert_eq!(load(vec![t], Vec::new()), Err(libc::EOPNOTSUPP));
    let mut b = Rule::new(Action::Pass);
    b.state = StateKind::Keep;
    b.state_opts.lock = Some(m::StateLock::IfBound);
    assert_eq!(load(vec![b], Vec::new()), Err(libc::EOPNOTSUPP));
    let mut rst = Rule::new(Action::Block);
    rst.block = m::BlockHow::ReturnRst { ttl: Some(9) };
    assert_eq!(load(vec![rst], Vec::new()), Err(libc::EOPNOTSUPP));
    let mut n = m::NatRule::new(NatKind::Nat);
    n.pool = Some(Pool {
        addrs: vec![m::Addr::Net(m::Net {
            addr: "198.51.100.1".parse().unwrap(),
            prefix: 32,
        })],
        port: None,
        port_star: false,
        kind: m::PoolType::None,
        sticky: true,
        static_port: false,
    });
    assert_eq!(load(Vec::new(), vec![n]), Err(libc::EOPNOTSUPP));
    // The router's rules are still the ones in force.
    let Ok(m::PfReply::Ruleset(rs)) = r.req(PfReq::GetRules { anchor: String::new() }) else {
        panic!("rules");
    };
    assert_eq!(rs.filter.len(), 3);
}

#[test]
fn evaluations_count_every_rule_reached_and_none_skipped_past() {
    let r = router();
    // In on en0: rule 0 (`block in on en1`) is reached and fails on the interface; its
    // skip step jumps over rule 1 (also `on en1`) to rule 2, which passes the SYN.
    assert!(r
        .test(Dir::In, &r.en0, &tcp(INSIDE, 40100, SERVER, 80, 1, 0, TH_SYN))
        .is_some());
    let Ok(m::PfReply::Ruleset(rs)) = r.req(PfReq::GetRules { anchor: String::new() }) else {
        panic!("rules");
    };
    let evals: Vec<u64> = rs.filter.iter().map(|f| f.counters.evaluations).collect();
    assert_eq!(evals, vec![1, 0, 1]);
    r.req(PfReq::ClearRuleCounters { anchor: String::new() }).unwrap();
    let Ok(m::PfReply::Ruleset(rs)) = r.req(PfReq::GetRules { anchor: String::new() }) else {
        panic!("rules");
    };
    assert!(rs.filter.iter().all(|f| f.counters.evaluations == 0));
}
