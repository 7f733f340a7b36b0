//! Robustness of the input path: random and mutated frames (ARP, IP, ICMP, fragments with
//! overlaps and holes) thrown at `ether_input`. Nothing may panic, memory stays bounded,
//! and the IP counters account for every packet.

use std::net::Ipv4Addr;
use std::sync::Arc;

use pktbox_drivers::FrameMeta;
use proptest::prelude::*;

use crate::msg::IpStats;
use crate::net::arp::ARP_MAXENTRIES;
use crate::net::ether::ether_input;
use crate::net::ifnet::Ifnet;
use crate::sys::Stack;
use crate::wire::checksum::cksum;
use crate::wire::ipv4::write_header;

pub(crate) use crate::fuzzing::Sink;

pub(crate) const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub(crate) const PEER: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub(crate) const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub(crate) const HIM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// A stack with lo0 and en0 (10.0.0.1/24 on a driver that keeps what is sent).
pub(crate) fn setup(forward: bool) -> (Arc<Stack>, Arc<Ifnet>, Arc<Sink>) {
    // Keep the first frames (what tests look at); forget the rest.
    crate::fuzzing::en0_stack(forward, 10_000)
}

pub(crate) fn ether(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ip(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, id: u16, off: u16, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20 + payload.len()];
    let total = p.len();
    write_header(&mut p[..20], 0, total, id, off, ttl, proto, src, dst);
    p[20..].copy_from_slice(payload);
    p
}

fn echo(seq: u16, len: usize) -> Vec<u8> {
    let mut m = vec![0u8; 8 + len];
    m[0] = 8;
    m[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in m[8..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let c = cksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

pub(crate) fn arp(op: u16, spa: Ipv4Addr, tpa: Ipv4Addr, sha: [u8; 6]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&sha);
    a.extend_from_slice(&spa.octets());
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&tpa.octets());
    a
}

/// One input of the generator: a well-formed frame of some kind, then mutated.
#[derive(Debug, Clone)]
enum Gen {
    Random(Vec<u8>),
    Arp {
        op: u16,
        spa: u32,
        forged_mac: u8,
    },
    Echo {
        seq: u16,
        len: usize,
    },
    Frag {
        id: u16,
        off8: u16,
        more: bool,
        len8: usize,
    },
    ToOther {
        ttl: u8,
        dst: u32,
    },
}

fn gen() -> impl Strategy<Value = Gen> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Gen::Random),
        (1u16..=2, any::<u32>(), any::<u8>()).prop_map(|(op, spa, forged_mac)| Gen::Arp { op, spa, forged_mac }),
        (any::<u16>(), 0usize..3000).prop_map(|(seq, len)| Gen::Echo { seq, len }),
        (0u16..8, 0u16..40, any::<bool>(), 1usize..40).prop_map(|(id, off8, more, len8)| Gen::Frag {
            id,
            off8,
            more,
            len8
        }),
        (0u8..3, any::<u32>()).prop_map(|(ttl, dst)| Gen::ToOther { ttl, dst }),
    ]
}

fn build(g: &Gen) -> Vec<u8> {
    match g {
        Gen::Random(b) => ether(MAC, 0x0800, b),
        Gen::Arp { op, spa, forged_mac } => {
            let sha = [2, 9, 9, 9, 9, *forged_mac];
            ether([0xff; 6], 0x0806, &arp(*op, Ipv4Addr::from(*spa), ME, sha))
        }
        Gen::Echo { seq, len } => ether(MAC, 0x0800, &ip(HIM, ME, 1, *seq, 0, 64, &echo(*seq, *len))),
        Gen::Frag { id, off8, more, len8 } => {
            let data = vec![0xa5u8; len8 * 8];
            let off = off8 | if *more { 0x2000 } else { 0 };
            ether(MAC, 0x0800, &ip(HIM, ME, 1, *id, off, 64, &data))
        }
        Gen::ToOther { ttl, dst } => ether(
            MAC,
            0x0800,
            &ip(HIM, Ipv4Addr::from(*dst | 0x0100_0000), 17, 1, 0, *ttl, &[0; 16]),
        ),
    }
}

/// Every packet that entered ip_input ends in exactly one counter.
fn accounted(s: &IpStats) -> u64 {
    s.toosmall
        + s.badvers
        + s.badhlen
        + s.badsum
        + s.badlen
        + s.tooshort
        + s.badaddr
        + s.badoptions
        + s.fragments
        + (s.delivered - s.reassembled)
        + s.cantforward
        + s.forward
}

/// A generated frame, the bytes to flip in it, and how many bytes to cut off its end.
type Case = (Gen, Vec<(usize, u8)>, usize);

fn run(frames: &[Case], forward: bool) {
    let (stack, ifp, _sink) = setup(forward);
    let mut ip_frames = 0u64;
    let mut received = 0u64;
    for (g, flips, cut) in frames {
        let mut f = build(g);
        for (pos, x) in flips {
            if !f.is_empty() {
                let i = pos % f.len();
                f[i] ^= x;
            }
        }
        if *cut > 0 && *cut < f.len() {
            f.truncate(f.len() - cut);
        }
        let l2_ok = f.len() >= 14 && f.len() <= 1518 && (f[0] & 1 != 0 || f[..6] == MAC) && f[6..12] != MAC;
        // The address filter passes broadcasts, multicasts and our own unicast (and runts,
        // which ether_input then counts as errors).
        if f.len() < 6 || f[0] & 1 != 0 || f[..6] == MAC {
            received += 1;
        }
        if l2_ok && f[12..14] == [8, 0] {
            ip_frames += 1;
        }
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    }
    let ctx = stack.ctx();
    assert_eq!(ctx.inet.stat.total, ip_frames, "every IPv4 frame reached ip_input");
    assert_eq!(accounted(&ctx.inet.stat), ctx.inet.stat.total, "{:?}", ctx.inet.stat);
    assert!(ctx.inet.reass.len() <= ctx.inet.maxfragpackets);
    assert!(ctx.inet.reass.fragments() <= ctx.inet.maxfragpackets * crate::inet::reass::MAXFRAGS);
    assert!(ctx.arp.entries.len() <= ARP_MAXENTRIES);
    assert_eq!(
        ifp.data().ifi_ipackets,
        received,
        "every frame the address filter passes is counted on the interface"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn input_path_survives_anything(
        frames in proptest::collection::vec(
            (gen(), proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3), 0usize..4),
            1..200,
        ),
        forward in any::<bool>(),
    ) {
        run(&frames, forward);
    }
}

#[test]
fn echo_is_answered_and_fragments_reassemble() {
    let (stack, ifp, sink) = setup(false);
    // Teach ARP the peer first, so replies go out at once.
    let a = ether([0xff; 6], 0x0806, &arp(1, HIM, ME, PEER));
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&a, FrameMeta::PLAIN));
    let f = ether(MAC, 0x0800, &ip(HIM, ME, 1, 7, 0, 64, &echo(7, 56)));
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    // A 3000-byte echo in three fragments, out of order.
    let whole = echo(9, 3000);
    let parts = [(1480usize, 2960usize), (0, 1480), (2960, whole.len())];
    for (s, e) in parts {
        let off = (s / 8) as u16 | if e < whole.len() { 0x2000 } else { 0 };
        let f = ether(MAC, 0x0800, &ip(HIM, ME, 1, 9, off, 64, &whole[s..e]));
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    }
    let sent = sink.0.lock().unwrap();
    // ARP reply, one echo reply, then the big reply in fragments.
    let replies: Vec<&Vec<u8>> = sent.iter().filter(|f| f[12..14] == [8, 0]).collect();
    assert!(replies.len() >= 4, "{} IP frames sent", replies.len());
    assert_eq!(replies[0][14 + 20], 0, "echo reply type");
    assert_eq!(stack.ctx().inet.stat.reassembled, 1);
    assert_eq!(stack.ctx().inet.icmpstat.reflect, 2);
}

#[test]
fn overlapping_fragments_drop_the_datagram() {
    let (stack, ifp, _sink) = setup(false);
    let data = vec![1u8; 64];
    for (off8, more) in [(0u16, true), (4, true), (8, false)] {
        let off = off8 | if more { 0x2000 } else { 0 };
        let f = ether(MAC, 0x0800, &ip(HIM, ME, 1, 3, off, 64, &data));
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    }
    let ctx = stack.ctx();
    assert_eq!(ctx.inet.stat.reassembled, 0);
    assert!(ctx.inet.stat.fragdropped >= 2);
}

#[test]
fn arp_flood_from_forged_senders_stays_bounded() {
    let (stack, ifp, _sink) = setup(false);
    for i in 0..(ARP_MAXENTRIES as u32 + 500) {
        let sha = [2, 1, (i >> 16) as u8, (i >> 8) as u8, i as u8, 7];
        let f = ether(
            [0xff; 6],
            0x0806,
            &arp(1, Ipv4Addr::from(0x0a00_0000 + i + 10), ME, sha),
        );
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    }
    assert!(stack.ctx().arp.entries.len() <= ARP_MAXENTRIES);
}

/// A TCP/IPv4 datagram from `src` to `dst` with `n` bytes of data, its checksum left
/// partial as a host with offloads leaves it (the pseudo-header's sum).
fn tcp_partial(src: Ipv4Addr, dst: Ipv4Addr, n: usize) -> Vec<u8> {
    use crate::wire::checksum::{fold, sum};
    let total = 20 + 20 + n;
    let mut p = vec![0u8; total];
    write_header(&mut p[..20], 0, total, 77, 0, 64, 6, src, dst);
    let t = &mut p[20..];
    t[0..2].copy_from_slice(&4000u16.to_be_bytes());
    t[2..4].copy_from_slice(&5000u16.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x18;
    for (i, b) in t[20..].iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    let acc = sum(sum(0, &src.octets()), &dst.octets()) + 6 + (20 + n) as u32;
    t[16..18].copy_from_slice(&(!fold(acc)).to_be_bytes());
    p
}

#[test]
fn a_merged_segment_forwarded_to_a_link_without_tso_is_cut_in_software() {
    use pktbox_drivers::{Csum, Gso};
    let (stack, ifp, sink) = setup(true);
    let a = ether([0xff; 6], 0x0806, &arp(1, HIM, ME, PEER));
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&a, FrameMeta::PLAIN));
    let src = Ipv4Addr::new(10, 0, 0, 9);
    let f = ether(MAC, 0x0800, &tcp_partial(src, HIM, 10_000));
    let meta = FrameMeta {
        csum: Csum::Partial { start: 34, offset: 16 },
        gso: Gso::Tcp4 { size: 1448 },
    };
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, meta));
    let sent = sink.0.lock().unwrap();
    let segs: Vec<&Vec<u8>> = sent.iter().filter(|f| f[12..14] == [8, 0] && f[14 + 9] == 6).collect();
    assert_eq!(segs.len(), 7, "10000 bytes in segments of 1448");
    let mut got = 0;
    for s in segs {
        let p = &s[14..];
        assert!(p.len() <= 1500);
        assert_eq!(cksum(&p[..20]), 0);
        assert_eq!(crate::inet::tcp::output::tcp_cksum(src.into(), HIM.into(), &p[20..]), 0);
        got += p.len() - 40;
    }
    assert_eq!(got, 10_000);
    assert_eq!(ifp.stats.ilro.load(std::sync::atomic::Ordering::Relaxed), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever offload metadata a driver claims, with whatever frame: no panic, and
    /// what does not fit is dropped.
    #[test]
    fn offload_metadata_never_panics(
        frames in proptest::collection::vec(
            (gen(), 0u8..4, 0u8..4, any::<u16>(), any::<u16>(), any::<u16>(), any::<bool>()),
            1..100,
        ),
        forward in any::<bool>(),
    ) {
        use pktbox_drivers::{Csum, Gso};
        let (stack, ifp, _sink) = setup(forward);
        for (g, c, k, start, offset, size, big) in &frames {
            let mut f = build(g);
            if *big {
                f.extend(std::iter::repeat_n(0x55, 20_000));
            }
            let csum = match c {
                0 => Csum::None,
                1 => Csum::Valid,
                _ => Csum::Partial { start: *start % 80, offset: *offset % 40 },
            };
            let gso = match k {
                0 | 1 => Gso::None,
                2 => Gso::Tcp4 { size: *size },
                _ => Gso::Tcp6 { size: *size },
            };
            ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta { csum, gso }));
        }
    }
}

/// A stack forwarding to 192.168.5.0/24 through 10.0.0.3 (known to ARP) on a route whose
/// MTU is 576, so forwarded datagrams above that are cut again.
fn forward_setup() -> (Arc<Stack>, Arc<Ifnet>, Arc<Sink>) {
    use crate::net::route::{Gateway, Rtentry};
    use crate::wire::route::rtf;
    let (stack, ifp, sink) = setup(true);
    let gw = Ipv4Addr::new(10, 0, 0, 3);
    let a = ether([0xff; 6], 0x0806, &arp(1, gw, ME, [2, 0, 0, 0, 0, 3]));
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&a, FrameMeta::PLAIN));
    stack
        .ctx()
        .rt
        .inet
        .add(Rtentry {
            dst: Ipv4Addr::new(192, 168, 5, 0),
            len: 24,
            gateway: Gateway::Inet(gw),
            ifindex: ifp.index,
            ifa: ME,
            flags: rtf::UP | rtf::GATEWAY | rtf::STATIC,
            use_count: 0,
            mtu: 576,
            rmx: None,
            locks: 0,
        })
        .unwrap();
    sink.0.lock().unwrap().clear();
    (stack, ifp, sink)
}

/// The (offset field, data length) of each IP frame sent to 192.168.5.5.
fn forwarded(sink: &Sink) -> Vec<(u16, usize)> {
    sink.0
        .lock()
        .unwrap()
        .iter()
        .filter(|f| f[12..14] == [8, 0] && f[14 + 16..14 + 20] == [192, 168, 5, 5])
        .map(|f| {
            let h = &f[14..];
            let tot = usize::from(u16::from_be_bytes([h[2], h[3]]));
            (u16::from_be_bytes([h[6], h[7]]), tot - 20)
        })
        .collect()
}

#[test]
fn a_forwarded_fragment_with_a_high_offset_is_cut_with_offsets_that_fit() {
    let (stack, ifp, sink) = forward_setup();
    // Bytes 64000..65200 of a datagram, more to come: a valid fragment near the end.
    let data = vec![7u8; 1200];
    let dst = Ipv4Addr::new(192, 168, 5, 5);
    let f = ether(MAC, 0x0800, &ip(HIM, dst, 17, 11, 8000 | 0x2000, 64, &data));
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    // (576 - 20) & !7 = 552 bytes a piece: 552, 552, 96; every piece keeps MF.
    assert_eq!(
        forwarded(&sink),
        vec![(0x2000 | 8000, 552), (0x2000 | 8069, 552), (0x2000 | 8138, 96)]
    );
    assert_eq!(stack.ctx().inet.stat.forward, 1);
}

#[test]
fn a_forwarded_fragment_ending_past_64k_is_not_cut_into_the_flag_bits() {
    let (stack, ifp, sink) = forward_setup();
    // Bytes 64800..66000, the last piece: no datagram can end there. Cut at 552 bytes,
    // its third piece's offset (8238) would overflow the 13-bit field into MF.
    let data = vec![7u8; 1200];
    let dst = Ipv4Addr::new(192, 168, 5, 5);
    let f = ether(MAC, 0x0800, &ip(HIM, dst, 17, 12, 8100, 64, &data));
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    assert_eq!(forwarded(&sink), vec![]);
    let ctx = stack.ctx();
    assert_eq!(ctx.inet.stat.cantfrag, 1);
    assert_eq!(ctx.inet.stat.cantforward, 1);
    assert_eq!(ctx.inet.stat.forward, 0);
}

#[test]
fn a_flood_of_forged_arps_writes_a_bounded_number_of_log_lines() {
    let (stack, ifp, _sink) = setup(false);
    let start = std::time::Instant::now();
    const N: u32 = 20_000;
    for i in 0..N {
        let sha = [2, 1, (i >> 16) as u8, (i >> 8) as u8, i as u8, 7];
        // Someone claims our address (a duplicate), and someone else keeps changing the
        // link address of a host we know (arp info overwritten).
        let dup = ether([0xff; 6], 0x0806, &arp(1, ME, Ipv4Addr::new(10, 0, 0, 9), sha));
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&dup, FrameMeta::PLAIN));
        let moved = ether([0xff; 6], 0x0806, &arp(1, HIM, ME, sha));
        ether_input(
            &stack,
            &ifp,
            crate::sys::mbuf::Mbuf::from_frame(&moved, FrameMeta::PLAIN),
        );
    }
    let ctx = stack.ctx();
    assert_eq!(ctx.arpstat.dup_ips, u64::from(N));
    // Two places in the code log these: each writes at most one line an interval.
    let windows = 1 + start.elapsed().as_nanos() / ctx.netlog.interval.as_nanos();
    let written = ctx.netlog.written_total();
    assert!(
        written >= 2 && u128::from(written) <= 2 * windows,
        "{written} lines in {windows} intervals"
    );
    assert_eq!(
        written + ctx.netlog.suppressed,
        2 * u64::from(N) - 1,
        "every line written or counted"
    );
}

/// The frames sent back to the peer that are ICMP errors: (type, code, the 16 bits after
/// the checksum's word, the quoted destination).
fn icmp_errors(sink: &Sink) -> Vec<(u8, u8, u16, Ipv4Addr)> {
    sink.0
        .lock()
        .unwrap()
        .iter()
        .filter(|f| f[..6] == PEER && f[12..14] == [8, 0] && f[14 + 9] == 1)
        .map(|f| {
            let icmp = &f[14 + 20..];
            let q = &icmp[8..];
            (
                icmp[0],
                icmp[1],
                u16::from_be_bytes([icmp[6], icmp[7]]),
                Ipv4Addr::new(q[16], q[17], q[18], q[19]),
            )
        })
        .collect()
}

#[test]
fn a_forwarded_datagram_with_df_above_the_mtu_gets_needfrag_with_the_mtu() {
    let (stack, ifp, sink) = forward_setup();
    // The sender is known, so the error goes out at once.
    let a = ether([0xff; 6], 0x0806, &arp(1, HIM, ME, PEER));
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&a, FrameMeta::PLAIN));
    let dst = Ipv4Addr::new(192, 168, 5, 5);
    let f = ether(MAC, 0x0800, &ip(HIM, dst, 17, 13, 0x4000, 64, &[1u8; 1000]));
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    assert_eq!(forwarded(&sink), vec![]);
    assert_eq!(icmp_errors(&sink), vec![(3, 4, 576, dst)]);
    let ctx = stack.ctx();
    assert_eq!(ctx.inet.stat.cantfrag, 1);
    assert_eq!(ctx.inet.stat.cantforward, 1);
    assert_eq!(ctx.inet.stat.forward, 0);
}

#[test]
fn a_forwarded_datagram_above_the_mtu_is_fragmented_on_the_way() {
    let (stack, ifp, sink) = forward_setup();
    let dst = Ipv4Addr::new(192, 168, 5, 5);
    let f = ether(MAC, 0x0800, &ip(HIM, dst, 17, 14, 0, 64, &[1u8; 1200]));
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, FrameMeta::PLAIN));
    assert_eq!(forwarded(&sink), vec![(0x2000, 552), (0x2000 | 69, 552), (138, 96)]);
    let ctx = stack.ctx();
    assert_eq!(
        (
            ctx.inet.stat.forward,
            ctx.inet.stat.fragmented,
            ctx.inet.stat.ofragments
        ),
        (1, 1, 3)
    );
}

#[test]
fn a_local_datagram_takes_the_same_path_as_a_forwarded_one() {
    // Sent from here to the same place: cut at the same points by the same routine.
    let (stack, _ifp, sink) = forward_setup();
    let dst = Ipv4Addr::new(192, 168, 5, 5);
    let r = crate::inet::ip::ip_output(
        &mut stack.ctx(),
        &crate::inet::ip::OutPkt {
            src: None,
            dst,
            proto: 17,
            ttl: 64,
            tos: 0,
            df: false,
            payload: &[1u8; 1200],
            offload: Default::default(),
        },
    );
    assert_eq!(r, Ok(()));
    assert_eq!(forwarded(&sink), vec![(0x2000, 552), (0x2000 | 69, 552), (138, 96)]);
    // With DF, the sender hears EMSGSIZE instead of an ICMP error.
    let r = crate::inet::ip::ip_output(
        &mut stack.ctx(),
        &crate::inet::ip::OutPkt {
            src: None,
            dst,
            proto: 17,
            ttl: 64,
            tos: 0,
            df: true,
            payload: &[1u8; 1200],
            offload: Default::default(),
        },
    );
    assert_eq!(r, Err(libc::EMSGSIZE));
}

#[test]
fn a_merged_segment_forwarded_onto_a_smaller_mtu_is_cut_to_fit_it() {
    use pktbox_drivers::{Csum, Gso};
    let (stack, ifp, sink) = forward_setup();
    let dst = Ipv4Addr::new(192, 168, 5, 5);
    let f = ether(MAC, 0x0800, &tcp_partial(HIM, dst, 5000));
    let meta = FrameMeta {
        csum: Csum::Partial { start: 34, offset: 16 },
        gso: Gso::Tcp4 { size: 1448 },
    };
    ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&f, meta));
    let segs = forwarded(&sink);
    // 576 - 40 bytes of headers: 536 bytes a segment, never fragments.
    assert_eq!(segs.len(), 10);
    assert!(segs.iter().all(|&(off, len)| off == 0 && len <= 556));
    assert_eq!(segs.iter().map(|&(_, l)| l - 20).sum::<usize>(), 5000);
    for f in sink
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|f| f[14 + 16..14 + 20] == [192, 168, 5, 5])
    {
        assert_eq!(crate::inet::tcp::output::tcp_cksum(HIM.into(), dst.into(), &f[34..]), 0);
    }
    assert_eq!(stack.ctx().inet.stat.forward, 1);
}
