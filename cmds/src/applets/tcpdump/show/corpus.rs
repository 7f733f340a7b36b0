//! A corpus of generated Ethernet frames for the differential printing test: well-formed
//! packets of every kind the printer knows (ARP, IPv4 with options and fragments, IPv6 with
//! hop-by-hop and fragment headers, TCP connections with options, UDP, ICMP errors quoting
//! packets, ICMPv6 neighbour discovery, VLAN tags, LLC, unknown ethertypes), some with bad
//! checksums, then the same frames cut short.

#![allow(clippy::too_many_arguments)]

use std::net::Ipv6Addr;

/// A small deterministic generator (xorshift64*), so that a failure can be reproduced.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One frame: time stamp, the bytes at hand and its length on the wire.
#[derive(Clone)]
pub struct Frame {
    pub sec: u32,
    pub usec: u32,
    pub bytes: Vec<u8>,
    pub wirelen: u32,
}

pub const MACS: [[u8; 6]; 5] = [
    [0x02, 0, 0, 0, 0, 1],
    [0x02, 0, 0, 0, 0, 2],
    [0x00, 0x11, 0x22, 0x33, 0x44, 0x55],
    [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef],
    [0xff; 6],
];
const HOSTS4: [[u8; 4]; 5] = [
    [10, 0, 0, 1],
    [10, 0, 0, 2],
    [192, 168, 1, 77],
    [172, 16, 5, 4],
    [127, 0, 0, 1],
];
const HOSTS6: [&str; 5] = ["fe80::1", "fe80::2", "2001:db8::1", "2001:db8:1::5", "::1"];
/// Ports tcpdump has no decoder for (it would print their payload otherwise), named and not.
const TCP_PORTS: [u16; 8] = [22, 443, 5002, 1024, 5001, 40000, 65535, 3306];
const UDP_PORTS: [u16; 7] = [9, 5001, 33434, 1024, 40000, 7, 19];

pub fn sum16(data: &[u8], init: u32) -> u32 {
    let mut s = init;
    for c in data.chunks(2) {
        let hi = u32::from(c[0]) << 8;
        let lo = c.get(1).map_or(0, |&b| u32::from(b));
        s += hi | lo;
    }
    s
}

pub fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn mac(r: &mut Rng) -> [u8; 6] {
    r.pick(&MACS[..4])
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().map(|a| a.octets()).unwrap_or_default()
}

pub fn ether(dst: [u8; 6], src: [u8; 6], etype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(dst);
    f.extend(src);
    f.extend(etype.to_be_bytes());
    f.extend(body);
    f
}

/// An IPv4 packet; `frag` is the flags+offset word; `bad_sum` spoils its checksum.
pub fn ipv4(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    payload: &[u8],
    opts: &[u8],
    frag: u16,
    id: u16,
    ttl: u8,
    tos: u8,
    bad_sum: bool,
) -> Vec<u8> {
    let hlen = 20 + opts.len().div_ceil(4) * 4;
    let mut h = vec![0x40 | (hlen / 4) as u8, tos];
    h.extend(((hlen + payload.len()) as u16).to_be_bytes());
    h.extend(id.to_be_bytes());
    h.extend(frag.to_be_bytes());
    h.extend([ttl, proto, 0, 0]);
    h.extend(src);
    h.extend(dst);
    h.extend(opts);
    h.resize(hlen, 0);
    let mut c = fold(sum16(&h, 0));
    if bad_sum {
        c ^= 0x1234;
    }
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend(payload);
    h
}

/// The transport checksum over a pseudo header of `src`, `dst` (4 or 16 bytes each).
pub fn l4sum(src: &[u8], dst: &[u8], proto: u8, seg: &[u8]) -> u16 {
    let mut p = Vec::new();
    p.extend(src);
    p.extend(dst);
    if src.len() == 4 {
        p.extend([0, proto]);
        p.extend((seg.len() as u16).to_be_bytes());
    } else {
        p.extend((seg.len() as u32).to_be_bytes());
        p.extend([0, 0, 0, proto]);
    }
    fold(sum16(seg, sum16(&p, 0)))
}

fn set_sum(seg: &mut [u8], at: usize, src: &[u8], dst: &[u8], proto: u8, bad: bool) {
    let mut c = l4sum(src, dst, proto, seg);
    if bad {
        c ^= 0x0f0f;
    }
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

pub fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, win: u16, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let hlen = 20 + opts.len().div_ceil(4) * 4;
    let mut t = Vec::new();
    t.extend(sport.to_be_bytes());
    t.extend(dport.to_be_bytes());
    t.extend(seq.to_be_bytes());
    t.extend(ack.to_be_bytes());
    t.push(((hlen / 4) as u8) << 4);
    t.push(flags);
    t.extend(win.to_be_bytes());
    t.extend([0, 0, 0, 0]);
    t.extend(opts);
    t.resize(hlen, 0);
    t.extend(payload);
    t
}

pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend(sport.to_be_bytes());
    u.extend(dport.to_be_bytes());
    u.extend(((8 + payload.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    u
}

pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8], hlim: u8, flow: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend((0x6000_0000u32 | (flow & 0x0fff_ffff)).to_be_bytes());
    h.extend((payload.len() as u16).to_be_bytes());
    h.push(next);
    h.push(hlim);
    h.extend(src);
    h.extend(dst);
    h.extend(payload);
    h
}

fn icmp(ty: u8, code: u8, rest: &[u8], bad: bool) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend(rest);
    let mut c = fold(sum16(&m, 0));
    if bad {
        c ^= 0x00ff;
    }
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn icmp6(src: [u8; 16], dst: [u8; 16], ty: u8, code: u8, rest: &[u8], bad: bool) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend(rest);
    let mut c = l4sum(&src, &dst, 58, &m);
    if bad {
        c ^= 0x00ff;
    }
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// TCP options as a SYN carries them, in one of several orders.
fn syn_opts(r: &mut Rng) -> Vec<u8> {
    let ts = |r: &mut Rng| {
        let mut v = vec![8, 10];
        v.extend((r.next() as u32).to_be_bytes());
        v.extend(0u32.to_be_bytes());
        v
    };
    match r.below(5) {
        0 => {
            let mut o = vec![2, 4, 0x05, 0xb4, 4, 2];
            o.extend(ts(r));
            o.extend([1, 3, 3, 7]);
            o
        }
        1 => vec![2, 4, 0x05, 0xb4],
        2 => vec![2, 4, 0x05, 0x8c, 1, 3, 3, 8, 1, 1, 4, 2],
        3 => {
            let mut o = vec![1, 1];
            o.extend(ts(r));
            o
        }
        _ => vec![2, 4, 0xff, 0xd7, 4, 2, 1, 1, 1, 3, 3, 0],
    }
}

/// A TCP connection between two hosts: handshake, data both ways, close.
fn connection(r: &mut Rng, v6addrs: bool, out: &mut Vec<Vec<u8>>) {
    let (ma, mb) = (mac(r), mac(r));
    let (sa4, da4) = (r.pick(&HOSTS4), r.pick(&HOSTS4));
    let (sa6, da6) = (v6(r.pick(&HOSTS6)), v6(r.pick(&HOSTS6)));
    let sport = r.pick(&[40000u16, 51234, 1024, 33000]);
    let dport = r.pick(&TCP_PORTS);
    let (mut a, mut b) = (r.next() as u32, r.next() as u32);
    let bad = r.chance(10);
    let send = |from_a: bool,
                seq: u32,
                ack: u32,
                flags: u8,
                opts: &[u8],
                payload: &[u8],
                out: &mut Vec<Vec<u8>>,
                r: &mut Rng| {
        let (sp, dp) = if from_a { (sport, dport) } else { (dport, sport) };
        let win = r.pick(&[65535u16, 64240, 502, 0, 8192]);
        let mut t = tcp(sp, dp, seq, ack, flags, win, opts, payload);
        let (ip, (sm, dm)) = if v6addrs {
            let (s, d) = if from_a { (sa6, da6) } else { (da6, sa6) };
            set_sum(&mut t, 16, &s, &d, 6, bad && r.chance(50));
            (ipv6(s, d, 6, &t, 64, 0), if from_a { (ma, mb) } else { (mb, ma) })
        } else {
            let (s, d) = if from_a { (sa4, da4) } else { (da4, sa4) };
            set_sum(&mut t, 16, &s, &d, 6, bad && r.chance(50));
            let df = if r.chance(70) { 0x4000 } else { 0 };
            (
                ipv4(s, d, 6, &t, &[], df, r.next() as u16, 64, 0, false),
                if from_a { (ma, mb) } else { (mb, ma) },
            )
        };
        out.push(ether(dm, sm, if v6addrs { 0x86dd } else { 0x0800 }, &ip));
    };
    let o = syn_opts(r);
    send(true, a, 0, 0x02, &o, &[], out, r);
    let o = syn_opts(r);
    send(false, b, a.wrapping_add(1), 0x12, &o, &[], out, r);
    a = a.wrapping_add(1);
    b = b.wrapping_add(1);
    let tsopt = |r: &mut Rng| {
        let mut v = vec![1, 1, 8, 10];
        v.extend((r.next() as u32).to_be_bytes());
        v.extend((r.next() as u32).to_be_bytes());
        v
    };
    let o = if r.chance(50) { tsopt(r) } else { Vec::new() };
    send(true, a, b, 0x10, &o, &[], out, r);
    for _ in 0..r.below(4) {
        let from_a = r.chance(60);
        let n = r.pick(&[1usize, 10, 100, 517]);
        let p = r.bytes(n);
        let o = if r.chance(50) { tsopt(r) } else { Vec::new() };
        let flags = r.pick(&[0x18u8, 0x10, 0x18, 0x38, 0x58]);
        if from_a {
            send(true, a, b, flags, &o, &p, out, r);
            a = a.wrapping_add(n as u32);
        } else {
            send(false, b, a, flags, &o, &p, out, r);
            b = b.wrapping_add(n as u32);
        }
        if r.chance(30) {
            // A SACK block.
            let mut s = vec![1, 1, 5, 10];
            s.extend(a.wrapping_add(100).to_be_bytes());
            s.extend(a.wrapping_add(200).to_be_bytes());
            send(false, b, a, 0x10, &s, &[], out, r);
        }
    }
    match r.below(3) {
        0 => send(true, a, b, 0x04, &[], &[], out, r),
        1 => send(false, b, a, 0x14, &[], &[], out, r),
        _ => {
            send(true, a, b, 0x11, &[], &[], out, r);
            send(false, b, a.wrapping_add(1), 0x11, &[], &[], out, r);
            send(true, a.wrapping_add(1), b.wrapping_add(1), 0x10, &[], &[], out, r);
        }
    }
}

fn udp4(r: &mut Rng) -> Vec<u8> {
    let (s, d) = (r.pick(&HOSTS4), r.pick(&HOSTS4));
    let n = r.below(60);
    let mut u = udp(r.pick(&UDP_PORTS), r.pick(&UDP_PORTS), &r.bytes(n));
    if r.chance(80) {
        let bad = r.chance(10);
        set_sum(&mut u, 6, &s, &d, 17, bad);
    }
    ipv4(
        s,
        d,
        17,
        &u,
        &[],
        0x4000 * (r.below(2) as u16),
        r.next() as u16,
        r.pick(&[64, 1, 255]),
        r.pick(&[0, 0x10, 0xb8, 0x03]),
        r.chance(5),
    )
}

/// IPv4 options of the kinds tcpdump names.
fn ip_options(r: &mut Rng) -> Vec<u8> {
    match r.below(6) {
        0 => vec![1, 1, 1, 0],
        1 => vec![0x94, 4, 0, 0],
        2 => vec![7, 11, 4, 10, 0, 0, 1, 0, 0, 0, 0, 0, 1],
        3 => vec![1, 0x94, 4, 0, 0, 0, 0, 0],
        4 => vec![7, 7, 8, 10, 0, 0, 1, 0],
        _ => vec![0x44, 12, 5, 0, 0, 0, 0, 1, 0, 0, 0, 2],
    }
}

fn icmp4(r: &mut Rng) -> Vec<u8> {
    let (s, d) = (r.pick(&HOSTS4), r.pick(&HOSTS4));
    let bad = r.chance(5);
    let quoted = |r: &mut Rng| {
        // The packet the error is about: UDP or TCP, with 8 bytes of its transport header.
        let proto = r.pick(&[17u8, 6, 17]);
        let t = if proto == 17 {
            udp(r.pick(&UDP_PORTS), r.pick(&[33434u16, 5001]), &r.bytes(20))
        } else {
            tcp(40000, r.pick(&TCP_PORTS), r.next() as u32, 0, 2, 1024, &[], &[])
        };
        let mut ip = ipv4(
            d,
            r.pick(&HOSTS4),
            proto,
            &t,
            &[],
            0x4000 * (r.below(2) as u16),
            r.next() as u16,
            r.pick(&[64, 1]),
            0,
            false,
        );
        if r.chance(60) {
            ip.truncate(28);
        }
        ip
    };
    let m = match r.below(9) {
        0 | 1 => {
            let mut rest = Vec::new();
            rest.extend((r.next() as u16).to_be_bytes());
            rest.extend((r.below(10) as u16).to_be_bytes());
            let n = r.pick(&[0usize, 8, 56]);
            rest.extend(r.bytes(n));
            icmp(r.pick(&[8, 0]), 0, &rest, bad)
        }
        2 | 3 => {
            let code = r.pick(&[3u8, 1, 0, 2, 4, 13, 10]);
            let mut rest = vec![0, 0, 0, 0];
            if code == 4 {
                rest = vec![0, 0, 0x05, 0xdc];
            }
            rest.extend(quoted(r));
            icmp(3, code, &rest, bad)
        }
        4 => {
            let mut rest = vec![0, 0, 0, 0];
            rest.extend(quoted(r));
            icmp(11, r.pick(&[0, 1]), &rest, bad)
        }
        5 => {
            let mut rest = r.pick(&HOSTS4).to_vec();
            rest.extend(quoted(r));
            icmp(5, r.pick(&[0, 1]), &rest, bad)
        }
        6 => {
            let mut rest = vec![0, 1, 0, 2];
            rest.extend(r.bytes(12));
            icmp(13, 0, &rest, bad)
        }
        7 => icmp(r.pick(&[15u8, 16, 17, 18, 200]), 0, &r.bytes(8), bad),
        _ => {
            let mut rest = vec![0, 0, 0, 0];
            rest.extend(quoted(r));
            icmp(12, 0, &rest, bad)
        }
    };
    ipv4(s, d, 1, &m, &[], 0, r.next() as u16, 64, 0, false)
}

fn ipv4_misc(r: &mut Rng) -> Vec<u8> {
    let (s, d) = (r.pick(&HOSTS4), r.pick(&HOSTS4));
    match r.below(4) {
        0 => {
            // With options.
            let o = ip_options(r);
            let u = udp(r.pick(&UDP_PORTS), r.pick(&UDP_PORTS), &r.bytes(12));
            ipv4(s, d, 17, &u, &o, 0, r.next() as u16, 1, 0xc0, false)
        }
        1 => {
            // The first fragment of a UDP datagram, or a later one.
            let u = udp(r.pick(&UDP_PORTS), r.pick(&UDP_PORTS), &r.bytes(100));
            if r.chance(50) {
                let mut ip = ipv4(s, d, 17, &u[..48], &[], 0x2000, 7, 64, 0, false);
                // The UDP length says more than the fragment has.
                ip.truncate(20 + 48);
                ip
            } else {
                let off = r.pick(&[6u16, 185]);
                let mf = if r.chance(50) { 0x2000 } else { 0 };
                ipv4(s, d, r.pick(&[17, 6, 1]), &r.bytes(40), &[], mf | off, 7, 64, 0, false)
            }
        }
        2 => {
            // A protocol the printer does not decode.
            let p = r.pick(&[50u8, 253, 254]);
            ipv4(s, d, p, &r.bytes(24), &[], 0, 1, 64, 0, false)
        }
        _ => {
            let pay = r.bytes(8);
            ipv4(s, d, 254, &pay, &[], 0, 1, 1, 0, false)
        }
    }
}

fn icmp6_frame(r: &mut Rng) -> Vec<u8> {
    let s = v6(r.pick(&HOSTS6));
    let all = v6("ff02::1");
    let routers = v6("ff02::2");
    let sn = v6("ff02::1:ff00:2");
    let lla = |ty: u8, m: [u8; 6]| {
        let mut v = vec![ty, 1];
        v.extend(m);
        v
    };
    let (d, ty, code, rest): ([u8; 16], u8, u8, Vec<u8>) = match r.below(8) {
        0 | 1 => {
            let mut rest = Vec::new();
            rest.extend((r.next() as u16).to_be_bytes());
            rest.extend((r.below(10) as u16).to_be_bytes());
            let n = r.pick(&[0usize, 8, 56]);
            rest.extend(r.bytes(n));
            (v6(r.pick(&HOSTS6)), r.pick(&[128, 129]), 0, rest)
        }
        2 => {
            // Neighbour solicitation.
            let mut rest = vec![0, 0, 0, 0];
            rest.extend(v6("fe80::2"));
            if r.chance(70) {
                rest.extend(lla(1, mac(r)));
            }
            (sn, 135, 0, rest)
        }
        3 => {
            let mut rest = vec![r.pick(&[0x60, 0x20, 0xe0, 0x40]), 0, 0, 0];
            rest.extend(v6("fe80::2"));
            if r.chance(70) {
                rest.extend(lla(2, mac(r)));
            }
            (all, 136, 0, rest)
        }
        4 => {
            let mut rest = vec![0, 0, 0, 0];
            if r.chance(60) {
                rest.extend(lla(1, mac(r)));
            }
            (routers, 133, 0, rest)
        }
        5 => {
            // Router advertisement: hop limit, flags, lifetime, reachable, retrans, options.
            let mut rest = vec![64, r.pick(&[0, 0x80, 0x40, 0xc0, 0x08]), 0x07, 0x08];
            rest.extend(0u32.to_be_bytes());
            rest.extend(0u32.to_be_bytes());
            rest.extend(lla(1, mac(r)));
            if r.chance(60) {
                rest.extend([5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
            }
            if r.chance(70) {
                let mut p = vec![3, 4, 64, 0xc0];
                p.extend(2_592_000u32.to_be_bytes());
                p.extend(604_800u32.to_be_bytes());
                p.extend([0; 4]);
                p.extend(v6("2001:db8::"));
                rest.extend(p);
            }
            (all, 134, 0, rest)
        }
        6 => {
            // Destination unreachable / time exceeded / packet too big, quoting a packet.
            let u = udp(40000, 33434, &r.bytes(8));
            let inner = ipv6(d6(r), v6(r.pick(&HOSTS6)), 17, &u, 1, 0);
            let (ty, code) = r.pick(&[(1u8, 4u8), (1, 0), (1, 3), (3, 0), (2, 0)]);
            let mut rest = if ty == 2 {
                1280u32.to_be_bytes().to_vec()
            } else {
                vec![0; 4]
            };
            rest.extend(inner);
            (v6(r.pick(&HOSTS6)), ty, code, rest)
        }
        _ => (v6(r.pick(&HOSTS6)), r.pick(&[200u8, 150, 99]), 0, r.bytes(20)),
    };
    let m = icmp6(s, d, ty, code, &rest, r.chance(5));
    ipv6(s, d, 58, &m, r.pick(&[255, 64, 1]), 0)
}

fn d6(r: &mut Rng) -> [u8; 16] {
    v6(r.pick(&HOSTS6))
}

fn ipv6_misc(r: &mut Rng) -> Vec<u8> {
    let (s, d) = (d6(r), d6(r));
    let n = r.below(30);
    let mut u = udp(r.pick(&UDP_PORTS), r.pick(&UDP_PORTS), &r.bytes(n));
    set_sum(&mut u, 6, &s, &d, 17, r.chance(10));
    match r.below(4) {
        0 => ipv6(s, d, 17, &u, 64, r.pick(&[0, 0x12345, 0xfffff])),
        1 => {
            // Hop-by-hop options (router alert, padding) before UDP or ICMPv6.
            let mut h = vec![17, 0, 5, 2, 0, 0, 1, 0];
            if r.chance(50) {
                h = vec![17, 0, 1, 4, 0, 0, 0, 0];
            }
            h.extend(&u);
            ipv6(s, d, 0, &h, 1, 0)
        }
        2 => {
            // A fragment header: the first fragment or a later one.
            let first = r.chance(50);
            let off: u16 = if first {
                1
            } else {
                (r.pick(&[1u16, 100]) << 3) | r.pick(&[0, 1])
            };
            let mut h = vec![17, 0];
            h.extend(off.to_be_bytes());
            h.extend((r.next() as u32).to_be_bytes());
            if first {
                h.extend(&u);
            } else {
                h.extend(r.bytes(24));
            }
            ipv6(s, d, 44, &h, 64, 0)
        }
        _ => ipv6(s, d, r.pick(&[59u8, 50, 253]), &r.bytes(16), 64, 0),
    }
}

fn arp(r: &mut Rng) -> Vec<u8> {
    let op = r.pick(&[1u16, 2, 1, 2, 3, 4, 8]);
    let mut a = vec![0, 1, 8, 0, 6, 4];
    a.extend(op.to_be_bytes());
    a.extend(mac(r));
    a.extend(r.pick(&HOSTS4));
    a.extend(if op == 1 { [0; 6] } else { mac(r) });
    a.extend(r.pick(&HOSTS4));
    a
}

/// A frame of one kind, in a tagged VLAN now and then.
fn frame(r: &mut Rng, out: &mut Vec<Vec<u8>>) {
    let (dst, src) = (mac(r), mac(r));
    let (etype, body) = match r.below(20) {
        0 | 1 => {
            connection(r, false, out);
            return;
        }
        2 => {
            connection(r, true, out);
            return;
        }
        3 | 4 => (0x0800, udp4(r)),
        5..=7 => (0x0800, icmp4(r)),
        8 | 9 => (0x0800, ipv4_misc(r)),
        10..=12 => (0x86dd, icmp6_frame(r)),
        13 | 14 => (0x86dd, ipv6_misc(r)),
        15 => {
            let b = arp(r);
            let dst = if b[7] == 1 { [0xff; 6] } else { dst };
            out.push(ether(dst, src, 0x0806, &b));
            return;
        }
        16 => (r.pick(&[0x88b5u16, 0x1234, 0xffff, 0x88b6]), r.bytes(30)),
        17 => {
            // VLAN-tagged IPv4 or ARP.
            let (t, b) = if r.chance(50) {
                (0x0800u16, udp4(r))
            } else {
                (0x0806, arp(r))
            };
            let mut v = Vec::new();
            let tci = (r.pick(&[0u16, 3, 7]) << 13) | r.pick(&[1u16, 10, 100, 4094]);
            v.extend(tci.to_be_bytes());
            v.extend(t.to_be_bytes());
            v.extend(b);
            (0x8100, v)
        }
        _ => (0x0800, icmp4(r)),
    };
    out.push(ether(dst, src, etype, &body));
}

/// The corpus: `n` rounds of the generator; each frame padded to 60 bytes as Ethernet does
/// (sometimes), and time stamps that move forward irregularly.
pub fn corpus(seed: u64, n: usize) -> Vec<Frame> {
    let mut r = Rng(seed | 1);
    let mut raw = Vec::new();
    for _ in 0..n {
        frame(&mut r, &mut raw);
    }
    let mut sec = 1_700_000_000u32;
    let mut usec = 0u32;
    raw.into_iter()
        .map(|mut b| {
            if b.len() < 60 && r.chance(50) {
                b.resize(60, 0);
            }
            usec += r.pick(&[1u32, 999, 123_456, 999_999, 7]);
            sec += usec / 1_000_000 + r.pick(&[0, 0, 0, 1, 3700]);
            usec %= 1_000_000;
            Frame {
                sec,
                usec,
                wirelen: b.len() as u32,
                bytes: b,
            }
        })
        .collect()
}

/// The frames cut short after a snap length, as a capture with `-s` keeps them.
pub fn cut(frames: &[Frame], snaplen: usize) -> Vec<Frame> {
    frames
        .iter()
        .map(|f| {
            let mut g = f.clone();
            g.bytes.truncate(snaplen);
            g
        })
        .collect()
}
