//! Header parsing: N TCP/IPv4 packets parsed and checked with `wire/`'s views against
//! pnet_packet's views doing the same work, in the same run (the baseline).
//!
//! Each packet: the IPv4 header's version, header length and total length checked against
//! the buffer, addresses and protocol read; the TCP header's data offset checked, ports,
//! sequence numbers, flags and window read; the options walked for MSS, window scale,
//! SACK-permitted, SACK blocks and timestamps. Half the packets carry timestamps (a data
//! segment), a quarter a SYN's full set, a quarter none. Checksums are left out: both
//! sides would call the same routine.
//!
//! Run: `cargo bench -p pktbox-stack --bench wire`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use pktbox_stack::wire::ipv4::{Ipv4Packet, Ipv4Repr, IPPROTO_TCP};
use pktbox_stack::wire::tcp::{TcpOpts, TcpPacket, TcpRepr, TH_ACK, TH_SYN};
use pnet_packet::ipv4::Ipv4Packet as PnetIpv4;
use pnet_packet::tcp::{TcpOptionNumbers, TcpPacket as PnetTcp};
use pnet_packet::Packet;

const N: usize = 200_000;
const ROUNDS: usize = 7;

fn packets() -> Vec<Vec<u8>> {
    let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    (0..N)
        .map(|i| {
            let mut opts = TcpOpts::default();
            match i % 4 {
                0 => {
                    opts.mss = Some(1460);
                    opts.wscale = Some(7);
                    opts.sack_ok = true;
                    opts.ts = Some((i as u32, 0));
                }
                1 => {}
                _ => opts.ts = Some((i as u32, i as u32 ^ 0x55)),
            }
            if i % 16 == 3 {
                opts.sacks[0] = (i as u32, i as u32 + 1448);
                opts.nsacks = 1;
            }
            let payload = vec![0xa5u8; 64];
            let tcp = TcpRepr {
                src_port: 40000 + (i % 1000) as u16,
                dst_port: 80,
                seq: i as u32,
                ack: !(i as u32),
                flags: if i % 4 == 0 { TH_SYN } else { TH_ACK },
                window: 65535,
                urgent: 0,
                opts,
            };
            let mut seg = Vec::new();
            tcp.emit(&mut seg, &payload, IpAddr::V4(s), IpAddr::V4(d)).unwrap();
            let mut p = vec![0u8; 20];
            Ipv4Repr {
                src: s,
                dst: d,
                proto: IPPROTO_TCP,
                tos: 0,
                id: i as u16,
                off: 0,
                ttl: 64,
                payload_len: seg.len(),
            }
            .emit(&mut p)
            .unwrap();
            p.extend_from_slice(&seg);
            p
        })
        .collect()
}

/// What both parsers fold each packet into, so neither can skip work.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Acc(u64);
impl Acc {
    fn add(&mut self, v: u64) {
        self.0 = self.0.rotate_left(5) ^ v;
    }
}

fn with_wire(pkts: &[Vec<u8>]) -> Acc {
    let mut acc = Acc::default();
    for p in pkts {
        let Ok(ip) = Ipv4Packet::new_checked(&p[..]) else {
            continue;
        };
        if ip.proto() != IPPROTO_TCP {
            continue;
        }
        acc.add(u64::from(u32::from(ip.src())) ^ u64::from(u32::from(ip.dst())));
        let Ok(th) = TcpPacket::new_checked(ip.payload()) else {
            continue;
        };
        acc.add(u64::from(th.src_port()) << 16 | u64::from(th.dst_port()));
        acc.add(u64::from(th.seq()) ^ u64::from(th.ack()) << 32);
        acc.add(u64::from(th.flags()) << 16 | u64::from(th.window()));
        let o = TcpOpts::parse(th.options());
        acc.add(u64::from(o.mss.unwrap_or(0)) | u64::from(o.wscale.unwrap_or(0)) << 16 | u64::from(o.sack_ok) << 24);
        if let Some((v, e)) = o.ts {
            acc.add(u64::from(v) << 32 | u64::from(e));
        }
        for (l, r) in &o.sacks[..o.nsacks] {
            acc.add(u64::from(*l) << 32 | u64::from(*r));
        }
        acc.add(th.payload().len() as u64);
    }
    acc
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn with_pnet(pkts: &[Vec<u8>]) -> Acc {
    let mut acc = Acc::default();
    for p in pkts {
        let Some(ip) = PnetIpv4::new(&p[..]) else { continue };
        // pnet checks only the 20-byte minimum: the rest is the caller's.
        let hlen = usize::from(ip.get_header_length()) * 4;
        let total = usize::from(ip.get_total_length());
        if ip.get_version() != 4 || hlen < 20 || hlen > p.len() || total > p.len() || total < hlen {
            continue;
        }
        if ip.get_next_level_protocol().0 != IPPROTO_TCP {
            continue;
        }
        acc.add(u64::from(u32::from(ip.get_source())) ^ u64::from(u32::from(ip.get_destination())));
        let Some(th) = PnetTcp::new(ip.payload()) else { continue };
        let off = usize::from(th.get_data_offset()) * 4;
        if off < 20 || off > ip.payload().len() {
            continue;
        }
        acc.add(u64::from(th.get_source()) << 16 | u64::from(th.get_destination()));
        acc.add(u64::from(th.get_sequence()) ^ u64::from(th.get_acknowledgement()) << 32);
        acc.add(u64::from(th.get_flags()) << 16 | u64::from(th.get_window()));
        let (mut mss, mut ws, mut sok, mut ts) = (0u16, 0u8, false, None);
        let mut sacks = [(0u32, 0u32); 4];
        let mut ns = 0;
        for o in th.get_options_iter() {
            let d = o.payload();
            match o.get_number() {
                TcpOptionNumbers::MSS if d.len() == 2 => mss = u16::from_be_bytes([d[0], d[1]]),
                TcpOptionNumbers::WSCALE if d.len() == 1 => ws = d[0],
                TcpOptionNumbers::SACK_PERMITTED => sok = true,
                TcpOptionNumbers::TIMESTAMPS if d.len() == 8 => ts = Some((be32(d), be32(&d[4..]))),
                TcpOptionNumbers::SACK if d.len() % 8 == 0 => {
                    for c in d.chunks_exact(8) {
                        if ns < 4 {
                            sacks[ns] = (be32(c), be32(&c[4..]));
                            ns += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        acc.add(u64::from(mss) | u64::from(ws) << 16 | u64::from(sok) << 24);
        if let Some((v, e)) = ts {
            acc.add(u64::from(v) << 32 | u64::from(e));
        }
        for (l, r) in &sacks[..ns] {
            acc.add(u64::from(*l) << 32 | u64::from(*r));
        }
        acc.add(th.payload().len() as u64);
    }
    acc
}

fn time(f: impl Fn(&[Vec<u8>]) -> Acc, pkts: &[Vec<u8>]) -> (f64, Acc) {
    let t = Instant::now();
    let a = black_box(f(black_box(pkts)));
    (t.elapsed().as_secs_f64(), a)
}

fn main() {
    let pkts = packets();
    // Both must see the same packets the same way before their speed means anything.
    assert_eq!(with_wire(&pkts), with_pnet(&pkts));
    let (mut best_w, mut best_p) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        let (w, _) = time(with_wire, &pkts);
        let (p, _) = time(with_pnet, &pkts);
        best_w = best_w.min(w);
        best_p = best_p.min(p);
    }
    let ns = |s: f64| s * 1e9 / N as f64;
    println!("TCP/IPv4 header parsing, {N} packets, best of {ROUNDS} alternating rounds:");
    println!("  pnet_packet (baseline): {:7.1} ns/packet", ns(best_p));
    println!("  wire/:                  {:7.1} ns/packet", ns(best_w));
    println!("  ratio wire/pnet speed:  {:.2}", best_p / best_w);
}
