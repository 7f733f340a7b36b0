//! Property tests of TCP's input path: random segments (often in sequence, often not) and
//! random user actions against connections in every state. Nothing may panic, and the
//! buffers stay within their bounds.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use pktbox_drivers::FrameMeta;
use proptest::prelude::*;

use crate::inet::inpcb::Af;
use crate::inet::input_tests::{arp, ether, HIM, ME, PEER};
use crate::inet::tcp::usrreq::{self, Sock};
use crate::inet::tcp::State;
use crate::net::ether::ether_input;
use crate::net::ifnet::Ifnet;
use crate::sys::Stack;

fn setup() -> (Arc<Stack>, Arc<Ifnet>) {
    let (stack, ifp, _sink) = crate::inet::input_tests::setup(false);
    // Teach ARP the peer, so our answers go out at once.
    let a = ether([0xff; 6], 0x0806, &arp(1, HIM, ME, PEER));
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&a, FrameMeta::PLAIN));
    (stack, ifp)
}

/// A segment from the peer to us.
#[allow(clippy::too_many_arguments)]
fn segment(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, win: u16, opts: &[u8], data: &[u8]) -> Vec<u8> {
    crate::fuzzing::tcp_frame(HIM, sport, ME, dport, seq, ack, flags, win, opts, data)
}

#[derive(Debug, Clone)]
enum Act {
    /// A segment: which connection it aims at, how its seq and ack are chosen, flags,
    /// window, options, payload length.
    Seg {
        target: u8,
        seq_mode: u8,
        ack_mode: u8,
        delta: i32,
        flags: u8,
        win: u16,
        opts: Vec<u8>,
        len: usize,
    },
    Send(usize),
    Recv(usize),
    Shutdown,
    Close,
    Timers,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => (any::<u8>(), 0u8..4, 0u8..4, -3000i32..3000, any::<u8>(), any::<u16>(),
              proptest::collection::vec(any::<u8>(), 0..16), 0usize..1600)
            .prop_map(|(target, seq_mode, ack_mode, delta, flags, win, opts, len)|
                Act::Seg { target, seq_mode, ack_mode, delta, flags: typical(flags), win, opts, len }),
        1 => (0usize..100_000).prop_map(Act::Send),
        1 => (1usize..100_000).prop_map(Act::Recv),
        1 => Just(Act::Shutdown),
        1 => (0u8..4).prop_map(|_| Act::Timers),
        1 => (0u8..8).prop_filter("close seldom", |x| *x == 0).prop_map(|_| Act::Close),
    ]
}

/// Mostly the flag combinations real segments carry, sometimes anything.
fn typical(r: u8) -> u8 {
    const COMMON: [u8; 8] = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x19];
    if r < 200 {
        COMMON[usize::from(r) % COMMON.len()]
    } else {
        r & 0x3f
    }
}

fn run(acts: &[Act]) {
    let (stack, ifp) = setup();
    // A listener (socket 1) on port 80 and an active connection (socket 2) to the peer.
    {
        let mut ctx = stack.ctx();
        usrreq::attach(&mut ctx, 1, Af::INET);
        usrreq::bind(&mut ctx, 1, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80).into(), true).unwrap();
        usrreq::listen(&mut ctx, 1, 8, true).unwrap();
        usrreq::attach(&mut ctx, 2, Af::INET);
        usrreq::connect(&mut ctx, 2, SocketAddrV4::new(HIM, 9000).into(), true).unwrap();
    }
    let mut closed2 = false;
    for a in acts {
        match a {
            Act::Seg {
                target,
                seq_mode,
                ack_mode,
                delta,
                flags,
                win,
                opts,
                len,
            } => {
                let ctx = stack.ctx();
                // Aim at connection 2, at an accepted one, or at the listener.
                let tcbs: Vec<_> = ctx
                    .inet
                    .tcp
                    .tcbs
                    .values()
                    .map(|t| (t.fport, t.lport, t.rcv_nxt, t.snd_nxt, t.snd_una, t.irs))
                    .collect();
                drop(ctx);
                let (sport, dport, rcv_nxt, snd_nxt, snd_una) = match tcbs.get(*target as usize % (tcbs.len() + 1)) {
                    Some(&(fp, lp, rn, sn, su, _)) => (fp, lp, rn, sn, su),
                    None => (1000 + u16::from(*target % 4), 80, 0, 0, 0),
                };
                let seq = match seq_mode {
                    0 => rcv_nxt,
                    1 => rcv_nxt.wrapping_add(*delta as u32),
                    2 => *delta as u32,
                    _ => rcv_nxt.wrapping_sub(1),
                };
                let ack = match ack_mode {
                    0 => snd_nxt,
                    1 => snd_una.wrapping_add(*delta as u32),
                    2 => *delta as u32,
                    _ => snd_una,
                };
                let data = vec![0x5au8; *len];
                let f = segment(sport, dport, seq, ack, *flags, *win, opts, &data);
                ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
            }
            Act::Send(n) => {
                let mut ctx = stack.ctx();
                let ids: Vec<u64> = ctx.inet.tcp.tcbs.keys().copied().collect();
                for id in ids {
                    let _ = usrreq::send(&mut ctx, id, &vec![1u8; *n]);
                }
            }
            Act::Recv(n) => {
                let mut ctx = stack.ctx();
                let ids: Vec<u64> = ctx.inet.tcp.tcbs.keys().copied().collect();
                for id in ids {
                    let _ = usrreq::recv(&mut ctx, id, *n, false);
                }
            }
            Act::Shutdown => {
                let _ = usrreq::shutdown(&mut stack.ctx(), 2, libc::SHUT_WR);
            }
            Act::Close => {
                let mut ctx = stack.ctx();
                if !closed2 {
                    usrreq::close(&mut ctx, 2, Sock::Conn);
                    closed2 = true;
                }
                if let Ok(Some(id)) = usrreq::accept(&mut ctx, 1) {
                    usrreq::close(&mut ctx, id, Sock::Conn);
                }
            }
            Act::Timers => crate::inet::tcp::timer::tcp_timers(&mut stack.ctx()),
        }
        let ctx = stack.ctx();
        for t in ctx.inet.tcp.tcbs.values() {
            assert!(t.snd_buf.len() <= t.snd_buf_max, "send buffer within bounds");
            assert!(
                t.rcv_buf.len() + t.ooo.bytes() <= t.rcv_buf_max,
                "receive buffer within bounds"
            );
            assert!(t.ooo.runs() <= ctx.inet.tcp.reass_maxqueuelen);
            // Every deadline has a wheel entry at or before it.
            let due = [t.t_rexmt, t.t_persist, t.t_keep, t.t_delack, t.t_2msl, t.t_tlp]
                .into_iter()
                .flatten()
                .min();
            if let Some(d) = due {
                let tick = ctx.inet.tcp.wheel.tick_of(d);
                assert!(
                    t.sched_at.is_some_and(|s| s <= tick),
                    "a deadline the wheel does not know of"
                );
            }
            assert!(!(t.state == State::Listen), "connections are never LISTEN");
        }
        for l in ctx.inet.tcp.listeners.values() {
            // Handshakes in progress may complete into a full queue: bounded by twice the limit.
            assert!(l.queue.len() <= l.qlimit(), "accept queue holds");
            assert!(l.queue.len() + l.incomplete <= 2 * l.qlimit(), "backlog holds");
        }
    }
    if std::env::var_os("TCP_PROPTEST_TRACE").is_some() {
        let ctx = stack.ctx();
        let states: Vec<&str> = ctx.inet.tcp.tcbs.values().map(|t| t.state.name()).collect();
        eprintln!("{} actions; states {states:?}; {:?}", acts.len(), ctx.inet.tcp.stat);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn tcp_input_survives_anything(acts in proptest::collection::vec(act(), 1..120)) {
        run(&acts);
    }
}

#[test]
fn handshake_data_and_close_by_hand() {
    let (stack, ifp) = setup();
    {
        let mut ctx = stack.ctx();
        usrreq::attach(&mut ctx, 1, Af::INET);
        usrreq::bind(&mut ctx, 1, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80).into(), true).unwrap();
        usrreq::listen(&mut ctx, 1, 8, true).unwrap();
    }
    // SYN from the peer.
    let f = segment(4000, 80, 1000, 0, 0x02, 65535, &[2, 4, 5, 0xb4], &[]);
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    let (id, iss) = {
        let ctx = stack.ctx();
        let t = ctx.inet.tcp.tcbs.values().next().expect("a connection in SYN_RECEIVED");
        assert_eq!(t.state, State::SynReceived);
        assert_eq!(t.t_maxseg, 1460);
        (t.id, t.iss)
    };
    // The handshake's ACK, then 100 bytes with FIN.
    let f = segment(4000, 80, 1001, iss.wrapping_add(1), 0x10, 65535, &[], &[]);
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    assert_eq!(stack.ctx().inet.tcp.tcbs[&id].state, State::Established);
    let f = segment(4000, 80, 1001, iss.wrapping_add(1), 0x19, 65535, &[], &[b'x'; 100]);
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    let mut ctx = stack.ctx();
    assert_eq!(ctx.inet.tcp.tcbs[&id].state, State::CloseWait);
    assert_eq!(usrreq::accept(&mut ctx, 1).unwrap(), Some(id));
    match usrreq::recv(&mut ctx, id, 1000, false).unwrap() {
        usrreq::Recv::Data(v) => assert_eq!(v.len(), 100),
        _ => panic!("data"),
    }
    assert!(matches!(
        usrreq::recv(&mut ctx, id, 1000, false).unwrap(),
        usrreq::Recv::Eof
    ));
    // Our close: LAST_ACK, then the peer's ACK of our FIN ends it.
    usrreq::close(&mut ctx, id, Sock::Conn);
    assert_eq!(ctx.inet.tcp.tcbs[&id].state, State::LastAck);
    let fin = ctx.inet.tcp.tcbs[&id].fin_seq.unwrap();
    drop(ctx);
    let f = segment(4000, 80, 1102, fin.wrapping_add(1), 0x10, 65535, &[], &[]);
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    assert!(stack.ctx().inet.tcp.tcbs.is_empty(), "closed");
    // A blind RST in the window but not at rcv_nxt is challenged, not obeyed (RFC 5961).
    let st = stack.ctx().inet.tcp.stat;
    assert_eq!(st.accepts, 1);
}

#[test]
fn sack_scoreboard_holes_and_pipe() {
    let key = (ME.into(), 1000, HIM.into(), 2000);
    let mut t = crate::inet::tcp::Tcb::new(9, key, State::Established, 0, 1 << 20, 1 << 20, 1000);
    t.snd_una = 1000;
    t.snd_nxt = 11_000;
    t.snd_max = 11_000;
    t.sack_on = true;
    // The peer has 3000..5000 and 7000..9000 (and a block outside the window, ignored).
    t.sack_update(&[(7000, 9000), (3000, 5000), (20_000, 21_000)]);
    assert_eq!(t.sacked, vec![(3000, 5000), (7000, 9000)]);
    assert_eq!(t.sacked_bytes(), 4000);
    // Holes below the highest SACK are lost: 1000..3000 and 5000..7000.
    assert_eq!(t.pipe(), 10_000 - 4000 - 4000);
    assert_eq!(t.next_hole(), Some((1000, 1000)));
    t.rexmit_next = 3000;
    assert_eq!(t.next_hole(), Some((5000, 1000)));
    t.rexmit_next = 7000;
    assert_eq!(t.next_hole(), None);
    // A cumulative ACK past a block trims the scoreboard; overlapping blocks merge.
    t.snd_una = 4000;
    t.sack_update(&[(4500, 7500)]);
    assert_eq!(t.sacked, vec![(4000, 9000)]);
}

#[test]
fn acks_carry_sack_blocks_for_out_of_order_data() {
    let (stack, ifp) = setup();
    {
        let mut ctx = stack.ctx();
        usrreq::attach(&mut ctx, 1, Af::INET);
        usrreq::bind(&mut ctx, 1, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80).into(), true).unwrap();
        usrreq::listen(&mut ctx, 1, 8, true).unwrap();
    }
    // SYN with SACK-permitted, then the handshake's ACK.
    let f = segment(4000, 80, 1000, 0, 0x02, 65535, &[2, 4, 5, 0xb4, 1, 1, 4, 2], &[]);
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    let (id, iss) = {
        let ctx = stack.ctx();
        let t = ctx.inet.tcp.tcbs.values().next().unwrap();
        assert!(t.sack_on);
        (t.id, t.iss)
    };
    let f = segment(4000, 80, 1001, iss.wrapping_add(1), 0x10, 65535, &[], &[]);
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    // 100 bytes that leave a hole of 100 in front of them.
    let f = segment(4000, 80, 1101, iss.wrapping_add(1), 0x10, 65535, &[], &[7u8; 100]);
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    let ctx = stack.ctx();
    let t = &ctx.inet.tcp.tcbs[&id];
    assert_eq!(t.rcv_nxt, 1001);
    assert_eq!(t.ooo.bytes(), 100);
    // The options our ACK carries now include the block 1101..1201.
    let mut opts = Vec::new();
    crate::inet::tcp::output::options_for_test(&ctx, t, &mut opts);
    let at = opts.windows(4).position(|w| w == [1, 1, 5, 10]).expect("a SACK option") + 2;
    assert_eq!(&opts[at + 2..at + 10], &[0, 0, 0x04, 0x4d, 0, 0, 0x04, 0xb1]);
}

/// A listener on port 80 and a connection from port 4000 whose first sequence number is
/// `irs` (the SYN's; data starts at irs + 1). Returns the connection's id and our ISS.
fn accepted_from(stack: &Stack, ifp: &Arc<Ifnet>, irs: u32) -> (u64, u32) {
    {
        let mut ctx = stack.ctx();
        usrreq::attach(&mut ctx, 1, Af::INET);
        usrreq::bind(&mut ctx, 1, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80).into(), true).unwrap();
        usrreq::listen(&mut ctx, 1, 8, true).unwrap();
    }
    let f = segment(4000, 80, irs, 0, 0x02, 65535, &[2, 4, 5, 0xb4, 1, 1, 4, 2], &[]);
    ether_input(stack, ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    let (id, iss) = {
        let ctx = stack.ctx();
        let t = ctx.inet.tcp.tcbs.values().next().unwrap();
        (t.id, t.iss)
    };
    let f = segment(
        4000,
        80,
        irs.wrapping_add(1),
        iss.wrapping_add(1),
        0x10,
        65535,
        &[],
        &[],
    );
    ether_input(stack, ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    (id, iss)
}

#[test]
fn out_of_order_data_across_the_sequence_wrap_is_delivered_in_order() {
    let (stack, ifp) = setup();
    // Data starts 250 bytes below 2^32: segments of 100 from there, sent 2..6 then 0, 1.
    let irs = u32::MAX - 250;
    let (id, iss) = accepted_from(&stack, &ifp, irs);
    let src: Vec<u8> = (0..700u32).map(|i| (i % 253) as u8).collect();
    let ack = iss.wrapping_add(1);
    for k in [2usize, 3, 4, 5, 6, 0, 1] {
        let seq = irs.wrapping_add(1).wrapping_add(100 * k as u32);
        let f = segment(4000, 80, seq, ack, 0x10, 65535, &[], &src[100 * k..100 * k + 100]);
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
        if k == 6 {
            // Before the hole fills: one block, 200..700 from the start, across the wrap.
            let ctx = stack.ctx();
            let t = &ctx.inet.tcp.tcbs[&id];
            let start = irs.wrapping_add(201);
            assert_eq!(t.ooo.ranges(), vec![(start, start.wrapping_add(500))]);
        }
    }
    let ctx = stack.ctx();
    let t = &ctx.inet.tcp.tcbs[&id];
    assert_eq!(t.rcv_nxt, irs.wrapping_add(701));
    assert!(t.ooo.is_empty());
    assert_eq!(t.rcv_buf.iter().copied().collect::<Vec<u8>>(), src);
}

#[test]
fn a_flood_of_tiny_out_of_order_segments_is_bounded_and_counted() {
    let (stack, ifp) = setup();
    let irs = 1000;
    let (id, iss) = accepted_from(&stack, &ifp, irs);
    stack.ctx().inet.tcp.reass_maxqueuelen = 64;
    // 1-byte segments, each behind a 1-byte hole: every one would be a run of its own.
    for i in 0..500u32 {
        let f = segment(4000, 80, irs + 3 + 2 * i, iss.wrapping_add(1), 0x10, 65535, &[], &[1]);
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    }
    let ctx = stack.ctx();
    let t = &ctx.inet.tcp.tcbs[&id];
    assert_eq!(t.ooo.runs(), 64);
    assert_eq!(t.ooo.bytes(), 64);
    assert_eq!(ctx.inet.tcp.stat.rcvmemdrop, 500 - 64);
}

mod inet6_sockets {
    use super::*;
    use std::net::SocketAddr;

    const DUAL: Af = Af {
        v6: true,
        v6only: false,
    };
    const V6ONLY: Af = Af { v6: true, v6only: true };
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn listen(stack: &Stack, id: u64, af: Af, at: &str) -> Result<(), i32> {
        let mut ctx = stack.ctx();
        usrreq::attach(&mut ctx, id, af);
        usrreq::bind(&mut ctx, id, sa(at), true)?;
        usrreq::listen(&mut ctx, id, 8, true)
    }

    #[test]
    fn a_dual_listener_on_the_unspecified_address_takes_ipv4_peers_v4_mapped() {
        let (stack, ifp) = setup();
        listen(&stack, 1, DUAL, "[::]:80").unwrap();
        let f = segment(4000, 80, 1000, 0, SYN, 65535, &[], &[]);
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
        let iss = stack.ctx().inet.tcp.tcbs.values().next().map(|t| t.iss).unwrap();
        let f = segment(4000, 80, 1001, iss.wrapping_add(1), ACK, 65535, &[], &[]);
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
        let id = usrreq::accept(&mut stack.ctx(), 1).unwrap().expect("accepted");
        let ctx = stack.ctx();
        // Inside, the connection is plain IPv4; its client sees v4-mapped addresses.
        let t = &ctx.inet.tcp.tcbs[&id];
        assert_eq!((t.laddr, t.faddr), (ME.into(), HIM.into()));
        let (local, peer) = usrreq::names(&ctx, id, Sock::Conn).unwrap();
        assert_eq!(local, sa(&format!("[::ffff:{ME}]:80")));
        assert_eq!(peer, Some(sa(&format!("[::ffff:{HIM}]:4000"))));
        let so = crate::inet::pcblist(&ctx);
        assert!(so.iter().all(|s| s.family == libc::AF_INET6), "{so:?}");
    }

    #[test]
    fn a_v6only_listener_leaves_ipv4_peers_alone() {
        let (stack, ifp) = setup();
        listen(&stack, 1, V6ONLY, "[::]:80").unwrap();
        let f = segment(4000, 80, 1000, 0, SYN, 65535, &[], &[]);
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
        let ctx = stack.ctx();
        assert!(ctx.inet.tcp.tcbs.is_empty());
        assert_eq!(ctx.inet.tcp.listeners[&1].incomplete, 0);
        assert_eq!(ctx.inet.tcp.stat.sndrst, 1, "the SYN was answered with a RST");
    }

    #[test]
    fn port_clashes_between_the_families_follow_v6only() {
        let (stack, _ifp) = setup();
        // 0.0.0.0 and a V6ONLY `::` share a port; a dual `::` clashes with both.
        listen(&stack, 1, Af::INET, "0.0.0.0:80").unwrap();
        listen(&stack, 2, V6ONLY, "[::]:80").unwrap();
        assert_eq!(listen(&stack, 3, DUAL, "[::]:80"), Err(libc::EADDRINUSE));
        listen(&stack, 4, DUAL, "[::]:81").unwrap();
        assert_eq!(listen(&stack, 5, Af::INET, "0.0.0.0:81"), Err(libc::EADDRINUSE));
        // An IPv4 SYN for port 80 goes to the AF_INET listener.
        let ctx = stack.ctx();
        assert_eq!(ctx.inet.tcp.lookup_listener(ME.into(), 80), Some(1));
        assert_eq!(
            ctx.inet.tcp.lookup_listener("2001:db8::1".parse().unwrap(), 80),
            Some(2)
        );
        assert_eq!(ctx.inet.tcp.lookup_listener(ME.into(), 81), Some(4));
    }

    #[test]
    fn connect_to_a_v4_mapped_address_runs_over_ipv4_and_v6only_refuses_it() {
        let (stack, _ifp) = setup();
        let mut ctx = stack.ctx();
        usrreq::attach(&mut ctx, 1, DUAL);
        usrreq::connect(&mut ctx, 1, sa(&format!("[::ffff:{HIM}]:80")), true).unwrap();
        let t = &ctx.inet.tcp.tcbs[&1];
        assert_eq!((t.laddr, t.faddr), (ME.into(), HIM.into()));
        assert_eq!(t.peer(), sa(&format!("[::ffff:{HIM}]:80")));
        assert_eq!(ctx.inet.tcp.stat.sndtotal, 1, "the SYN went out over IPv4");
        usrreq::attach(&mut ctx, 2, V6ONLY);
        let mapped = sa(&format!("[::ffff:{HIM}]:80"));
        assert_eq!(usrreq::connect(&mut ctx, 2, mapped, true), Err(libc::EINVAL));
        // No IPv6 output in this stack yet: no route to a real IPv6 peer.
        assert_eq!(
            usrreq::connect(&mut ctx, 2, sa("[2001:db8::2]:80"), true),
            Err(libc::ENETUNREACH)
        );
        // Families are not mixed: an AF_INET socket takes no IPv6 address, nor an
        // AF_INET6 socket a sockaddr_in.
        usrreq::attach(&mut ctx, 3, Af::INET);
        assert_eq!(
            usrreq::connect(&mut ctx, 3, sa("[2001:db8::2]:80"), true),
            Err(libc::EAFNOSUPPORT)
        );
        assert_eq!(
            usrreq::bind(&mut ctx, 2, sa("10.0.0.1:80"), true),
            Err(libc::EAFNOSUPPORT)
        );
    }

    #[test]
    fn v6only_is_for_inet6_sockets_before_bind() {
        let (stack, _ifp) = setup();
        let mut ctx = stack.ctx();
        usrreq::attach(&mut ctx, 1, Af::INET);
        assert_eq!(
            usrreq::setopt(&mut ctx, 1, Sock::Fresh, usrreq::Opt::V6Only(true)),
            Err(libc::ENOPROTOOPT)
        );
        usrreq::attach(&mut ctx, 2, V6ONLY);
        usrreq::setopt(&mut ctx, 2, Sock::Fresh, usrreq::Opt::V6Only(false)).unwrap();
        usrreq::bind(&mut ctx, 2, sa("[::]:90"), true).unwrap();
        assert_eq!(
            usrreq::setopt(&mut ctx, 2, Sock::Fresh, usrreq::Opt::V6Only(true)),
            Err(libc::EINVAL)
        );
        assert!(!ctx.inet.tcp.bound[&2].opts.af.v6only);
    }
}

/// Our FIN, once acknowledged, is never sent again: FIN_WAIT_2 sends ACKs only. (A stray
/// FIN at snd_nxt after the peer had acked ours showed in a capture of a v6 transfer.)
#[test]
fn an_acknowledged_fin_is_not_sent_again() {
    let (stack, ifp, sink) = {
        let (stack, ifp, sink) = crate::inet::input_tests::setup(false);
        let a = ether([0xff; 6], 0x0806, &arp(1, HIM, ME, PEER));
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&a, FrameMeta::PLAIN));
        (stack, ifp, sink)
    };
    {
        let mut ctx = stack.ctx();
        usrreq::attach(&mut ctx, 1, Af::INET);
        usrreq::bind(&mut ctx, 1, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80).into(), true).unwrap();
        usrreq::listen(&mut ctx, 1, 8, true).unwrap();
    }
    let f = segment(4000, 80, 1000, 0, 0x02, 65535, &[2, 4, 5, 0xb4], &[]);
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    let (id, iss) = {
        let ctx = stack.ctx();
        let t = ctx.inet.tcp.tcbs.values().next().expect("a connection in SYN_RECEIVED");
        (t.id, t.iss)
    };
    let f = segment(4000, 80, 1001, iss.wrapping_add(1), 0x10, 65535, &[], &[]);
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    let fins = |sink: &crate::fuzzing::Sink| {
        let frames = sink.0.lock().unwrap_or_else(|p| p.into_inner());
        frames
            .iter()
            .filter(|f| f.len() > 47 && f[12..14] == [0x08, 0x00] && f[23] == 6 && f[47] & 0x01 != 0)
            .count()
    };
    let mut ctx = stack.ctx();
    assert_eq!(usrreq::accept(&mut ctx, 1).unwrap(), Some(id));
    usrreq::close(&mut ctx, id, Sock::Conn);
    assert_eq!(ctx.inet.tcp.tcbs[&id].state, State::FinWait1);
    let fin = ctx.inet.tcp.tcbs[&id].fin_seq.expect("our FIN went out");
    drop(ctx);
    assert_eq!(fins(&sink), 1);
    // The peer acknowledges it: FIN_WAIT_2, and whatever makes us send now is no FIN.
    let f = segment(4000, 80, 1001, fin.wrapping_add(1), 0x10, 65535, &[], &[]);
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    let mut ctx = stack.ctx();
    assert_eq!(ctx.inet.tcp.tcbs[&id].state, State::FinWait2);
    ctx.inet.tcp.tcbs.get_mut(&id).unwrap().ack_now = true;
    crate::inet::tcp::output::tcp_output(&mut ctx, id).unwrap();
    drop(ctx);
    assert_eq!(fins(&sink), 1, "a second FIN after ours was acknowledged");
}
