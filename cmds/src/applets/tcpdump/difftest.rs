//! The differential test: for several hundred generated filter expressions, the verdict of
//! the program this compiler makes and of libpcap's (Debian's tcpdump, `-ddd`) agree on
//! every frame of a corpus of generated Ethernet frames: ARP and RARP, IPv4 and IPv6 with
//! TCP, UDP, SCTP, ICMP and ICMPv6, fragments (first and later), IPv4 options and broken
//! header lengths, IPv6 fragment headers, VLAN tags (one and two), 802.3/LLC and SNAP,
//! broadcast and multicast addresses, odd lengths, and frames cut short (caplen < wirelen).
//!
//! Both programs run in pktbox's interpreter (libpcap's is plain classic BPF). Without
//! tcpdump the test skips with a notice, a failure when `CI` is set (`scripts/test`
//! installs it).

use std::path::Path;
use std::process::Command;

use pktbox_stack::wire::bpf::{bpf_filter, bpf_validate, BpfInsn, BPF_K, BPF_RET};

use super::compile::{compile, Options};
use super::print::{dump, parse_ddd};

/// A small deterministic generator (xorshift64*), so that a failure can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

const V4: [[u8; 4]; 9] = [
    [10, 0, 0, 1],
    [10, 0, 0, 2],
    [10, 1, 2, 3],
    [192, 168, 1, 1],
    [192, 168, 1, 77],
    [172, 16, 5, 4],
    [224, 0, 0, 251],
    [255, 255, 255, 255],
    [0, 0, 0, 0],
];
const V6: [&str; 7] = [
    "fe80::1",
    "fe80::2",
    "2001:db8::1",
    "2001:db8:1::5",
    "ff02::1",
    "::1",
    "2001:db8:0:0:8000::9",
];
const MACS: [[u8; 6]; 6] = [
    [0x02, 0, 0, 0, 0, 1],
    [0x02, 0, 0, 0, 0, 2],
    [0xff; 6],
    [0x01, 0x00, 0x5e, 0, 0, 0xfb],
    [0x33, 0x33, 0, 0, 0, 1],
    [0x00, 0x11, 0x22, 0x33, 0x44, 0x55],
];
const PORTS: [u16; 10] = [22, 53, 80, 443, 1024, 8080, 0, 65535, 123, 5000];

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().map(|a| a.octets()).unwrap_or_default()
}

/// One frame: the bytes at hand and its length on the wire.
struct Frame {
    bytes: Vec<u8>,
    wirelen: u32,
}

fn transport(r: &mut Rng, proto: u8, out: &mut Vec<u8>) {
    match proto {
        6 => {
            out.extend(r.pick(&PORTS).to_be_bytes());
            out.extend(r.pick(&PORTS).to_be_bytes());
            out.extend((0..8).map(|_| r.byte()));
            out.push(0x50);
            let any = r.byte();
            out.push(*r.pick(&[0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0xc2, any]));
            out.extend((0..6).map(|_| r.byte()));
        }
        17 | 132 => {
            out.extend(r.pick(&PORTS).to_be_bytes());
            out.extend(r.pick(&PORTS).to_be_bytes());
            out.extend((0..4).map(|_| r.byte()));
        }
        1 => {
            let any = r.byte();
            out.push(*r.pick(&[0, 3, 8, 11, 13, any]));
            out.push(*r.pick(&[0, 1, 3]));
            out.extend((0..6).map(|_| r.byte()));
        }
        58 => {
            out.push(*r.pick(&[128, 129, 135, 136, 1, 143]));
            out.push(0);
            out.extend((0..6).map(|_| r.byte()));
        }
        _ => out.extend((0..8).map(|_| r.byte())),
    }
    // Some payload.
    let n = r.below(24);
    out.extend((0..n).map(|_| r.byte()));
}

fn ipv4(r: &mut Rng) -> Vec<u8> {
    let proto = *r.pick(&[6, 6, 17, 17, 1, 2, 132, 47, 50]);
    let ihl: u8 = *r.pick(&[5, 5, 5, 5, 6, 8, 15, 4, 0]);
    let mut h = vec![0x40 | ihl, r.byte() & 0xfc, 0, 0, r.byte(), r.byte()];
    let frag: u16 = match r.below(6) {
        0 => 0x2000,                             // first fragment, more to come
        1 => 0x2000 | (1 + r.below(100) as u16), // a middle one
        2 => 1 + r.below(0x1fff) as u16,         // the last one
        3 => 0x4000,                             // don't fragment
        _ => 0,
    };
    h.extend(frag.to_be_bytes());
    h.push(64);
    h.push(proto);
    h.extend([0, 0]);
    h.extend(r.pick(&V4));
    h.extend(r.pick(&V4));
    // Options up to the header length (when the length is sane).
    let hlen = usize::from(ihl.max(5)) * 4;
    while h.len() < hlen {
        let any = r.byte();
        h.push(*r.pick(&[1, 0, 7, any]));
    }
    transport(r, proto, &mut h);
    let total = h.len() as u16;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h
}

fn ipv6(r: &mut Rng) -> Vec<u8> {
    let upper = *r.pick(&[6, 17, 58, 132, 6, 17, 58]);
    let first = match r.below(5) {
        0 => 44, // fragment header
        1 => 0,  // hop-by-hop options (libpcap does not look past them)
        _ => upper,
    };
    let mut h = vec![0x60, 0, 0, 0, 0, 0, first, 64];
    h.extend(v6(r.pick::<&str>(&V6)));
    h.extend(v6(r.pick::<&str>(&V6)));
    if first == 44 {
        let off: u16 = if r.chance(50) {
            1
        } else {
            (1 + r.below(100) as u16) << 3
        };
        h.extend([upper, 0]);
        h.extend(off.to_be_bytes());
        h.extend([0, 0, 0, 1]);
    } else if first == 0 {
        h.extend([upper, 0, 1, 4, 0, 0, 0, 0]);
    }
    transport(r, upper, &mut h);
    let plen = (h.len() - 40) as u16;
    h[4..6].copy_from_slice(&plen.to_be_bytes());
    h
}

fn arp(r: &mut Rng) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, *r.pick(&[1, 2, 3, 4])];
    a.extend(r.pick(&MACS));
    a.extend(r.pick(&V4));
    a.extend(r.pick(&MACS));
    a.extend(r.pick(&V4));
    a
}

fn frame(r: &mut Rng) -> Frame {
    let mut f = Vec::new();
    f.extend(r.pick(&MACS));
    f.extend(r.pick(&MACS));
    for _ in 0..*r.pick(&[0, 0, 0, 1, 1, 2]) {
        f.extend(r.pick(&[0x8100u16, 0x8100, 0x88a8, 0x9100]).to_be_bytes());
        f.extend((*r.pick(&[1u16, 10, 100, 4095, 5]) | (u16::from(r.byte() & 0xe0) << 8)).to_be_bytes());
    }
    let (etype, body): (u16, Vec<u8>) = match r.below(16) {
        0..=4 => (0x0800, ipv4(r)),
        5..=8 => (0x86dd, ipv6(r)),
        9 => (0x0806, arp(r)),
        10 => (0x8035, arp(r)),
        11 => {
            // 802.3 with an LLC header: STP, ISO, NetBEUI, IPX, or SNAP (AppleTalk, AARP, IPX).
            let llc: Vec<u8> = match r.below(6) {
                0 => vec![0x42, 0x42, 0x03],
                1 => vec![0xfe, 0xfe, 0x03],
                2 => vec![0xf0, 0xf0, 0x03],
                3 => vec![0xe0, 0xe0, 0x03],
                4 => vec![0xff, 0xff, 0x00],
                _ => {
                    let (oui, t): ([u8; 3], u16) =
                        *r.pick(&[([8, 0, 7], 0x809b), ([0, 0, 0], 0x80f3), ([0, 0, 0], 0x8137)]);
                    let mut s = vec![0xaa, 0xaa, 0x03];
                    s.extend(oui);
                    s.extend(t.to_be_bytes());
                    s
                }
            };
            let mut b = llc;
            b.extend((0..r.below(40)).map(|_| r.byte()));
            (b.len() as u16, b)
        }
        12 => (
            *r.pick(&[0x809b, 0x80f3, 0x8137, 0x6003, 0x88cc, 0x9000]),
            (0..30).map(|_| r.byte()).collect(),
        ),
        13 => (r.next() as u16, (0..r.below(60)).map(|_| r.byte()).collect()),
        _ => (0x0800, ipv4(r)),
    };
    f.extend(etype.to_be_bytes());
    f.extend(body);
    // Ethernet pads short frames to 60 bytes.
    if r.chance(30) && f.len() < 60 {
        f.resize(60, 0);
    }
    let wirelen = f.len() as u32;
    // Cut short: a snap length, or a broken frame.
    if r.chance(35) {
        let n = r.below(f.len() + 1);
        f.truncate(n);
    }
    Frame { bytes: f, wirelen }
}

/// A random primitive.
fn primitive(r: &mut Rng) -> String {
    let a4 = |r: &mut Rng| {
        let a = r.pick(&V4);
        format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
    };
    let a6 = |r: &mut Rng| r.pick(&V6).to_string();
    let mac = |r: &mut Rng| {
        let m = r.pick(&MACS);
        format!("{:x}:{:x}:{:x}:{:x}:{:x}:{:x}", m[0], m[1], m[2], m[3], m[4], m[5])
    };
    let port = |r: &mut Rng| r.pick(&PORTS).to_string();
    let dir = |r: &mut Rng| {
        r.pick(&["", "", "src ", "dst ", "src or dst ", "src and dst "])
            .to_string()
    };
    let net4 = |r: &mut Rng| {
        let a = u32::from_be_bytes(*r.pick(&V4));
        let len = *r.pick(&[0u32, 8, 12, 16, 24, 30, 32]);
        let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let n = (a & m).to_be_bytes();
        format!("{}.{}.{}.{}/{len}", n[0], n[1], n[2], n[3])
    };
    let net6 = |r: &mut Rng| {
        let a = u128::from_be_bytes(v6(r.pick::<&str>(&V6)));
        let len = *r.pick(&[0u32, 10, 16, 32, 48, 64, 65, 128]);
        let m = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        format!("{}/{len}", std::net::Ipv6Addr::from(a & m))
    };
    match r.below(40) {
        0 => r
            .pick(&[
                "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp",
            ])
            .to_string(),
        1 => r
            .pick(&[
                "stp", "iso", "ipx", "netbeui", "atalk", "aarp", "decnet", "ah", "esp", "pim", "vrrp",
            ])
            .to_string(),
        2 | 3 => format!("{}host {}", dir(r), a4(r)),
        4 => format!("{} {}host {}", r.pick(&["ip", "arp", "rarp"]), dir(r), a4(r)),
        5 => format!("{}host {}", dir(r), a6(r)),
        6 => format!("{}net {}", dir(r), net4(r)),
        7 => format!("{}net {}", dir(r), net6(r)),
        8 => format!(
            "net {} mask {}",
            r.pick(&["10.0.0.0", "192.168.0.0", "10.1.0.0"]),
            r.pick(&["255.0.0.0", "255.255.0.0"])
        ),
        9 => format!("net {}", r.pick(&["10", "192.168", "10.1.2", "172.16", "0"])),
        10..=12 => format!("{}{}port {}", r.pick(&["", "tcp ", "udp ", "sctp "]), dir(r), port(r)),
        13 => {
            let (a, b) = (port(r), port(r));
            format!("{}{}portrange {a}-{b}", r.pick(&["", "tcp ", "udp "]), dir(r))
        }
        14 => format!(
            "{}port {}",
            r.pick(&["", "tcp ", "udp "]),
            r.pick(&["http", "domain", "ssh", "ntp"])
        ),
        15 => format!(
            "{} {}",
            r.pick(&["ip proto", "ip6 proto", "proto"]),
            r.pick(&["1", "6", "17", "58", "132", "47", "\\tcp"])
        ),
        16 => format!(
            "ether proto {}",
            r.pick(&["0x800", "0x86dd", "\\arp", "\\ip6", "0x88cc", "66", "254", "224", "0x809b", "100"])
        ),
        17 => format!(
            "ether {}{}",
            r.pick(&["host ", "src ", "dst ", "src host ", "dst host "]),
            mac(r)
        ),
        18 => r
            .pick(&[
                "ether broadcast",
                "broadcast",
                "ether multicast",
                "multicast",
                "ip multicast",
                "ip6 multicast",
                "ip broadcast",
            ])
            .to_string(),
        19 | 20 => {
            if r.chance(50) {
                "vlan".to_string()
            } else {
                format!("vlan {}", r.pick(&["1", "10", "100", "4095", "5"]))
            }
        }
        21 => format!(
            "{} {}",
            r.pick(&["less", "greater"]),
            r.pick(&["60", "64", "100", "14", "0", "1500"])
        ),
        22 => format!(
            "len {} {}",
            r.pick(&[">", ">=", "<", "<=", "=", "!="]),
            r.pick(&["60", "64", "100", "42"])
        ),
        23 => r
            .pick(&[
                "tcp[13] & 2 != 0",
                "tcp[tcpflags] & tcp-syn != 0",
                "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
                "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
                "tcp[12] >> 4 > 5",
            ])
            .to_string(),
        24 => r
            .pick(&[
                "ip[0] & 0xf != 5",
                "ip[6:2] & 0x1fff = 0",
                "ip[2:2] > 40",
                "ip[8] < 64",
                "ip[9] = 6",
                "ip[0] = 0x45",
            ])
            .to_string(),
        25 => r
            .pick(&[
                "icmp[icmptype] = icmp-echo",
                "icmp[icmptype] == icmp-echoreply or icmp[icmptype] = icmp-unreach",
                "icmp[0] != 8 and icmp[0] != 0",
                "icmp6[icmp6type] = icmp6-echo",
                "icmp6[0] = icmp6-neighborsolicit",
            ])
            .to_string(),
        26 => r
            .pick(&[
                "udp[0:2] = 53",
                "udp[2:2] = 123",
                "udp[4:2] > 20",
                "tcp[0:2] = 80",
                "tcp[2:2] < 1024",
                "sctp[0:2] = 80",
            ])
            .to_string(),
        27 => r
            .pick(&[
                "ether[0] & 1 = 1",
                "ether[12:2] = 0x800",
                "link[0] = 2",
                "ether[6:4] = 0x02000000",
                "ether[60] = 0",
            ])
            .to_string(),
        28 => r
            .pick(&[
                "ip6[6] = 17",
                "ip6[6] == 58",
                "ip6[40] = 128",
                "arp[7] = 2",
                "arp[6:2] = 1",
                "rarp[7] = 3",
            ])
            .to_string(),
        29 => r
            .pick(&[
                "ip[0] * 0 = 0",
                "ip[ip[0] & 0xf] = 0",
                "tcp[(tcp[12] >> 4) * 4] = 0",
                "ip[2:2] - (ip[0] & 0xf) * 4 > 20",
                "ip[1] / 4 = 0",
                "ip[1] % 7 = 3",
                "(ip[0] & 0xf0) >> 4 = 4",
                "ip[8] + ip[9] > 70",
                "ip[0] ^ 0x45 = 0",
                "-ip[0] = 0xffffffbb",
                "len - 14 > 46",
                "ip[16:4] & 0xff000000 = 0x0a000000",
                "udp[8:4] = udp[8:4]",
                "ip[ip[9]] > 10",
                "tcp[13] & 7 = ip[9] - 4",
                "ip[0] - tcp[0] = 1",
                "udp[0:2] + tcp[0:2] > 100",
                "ip6[6] + icmp[0] = 17",
                "(ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2) != 0",
            ])
            .to_string(),
        30 => format!("host {} or {}", a4(r), a4(r)),
        31 => format!("tcp port {} and not {}", port(r), port(r)),
        32 => format!("port {} or ({} or {})", port(r), port(r), port(r)),
        33 => format!("{}host {} and not {}", dir(r), a4(r), a6(r)),
        34 => format!("not host {} and {}", a4(r), a4(r)),
        35 => format!("ether host {} or {}", mac(r), mac(r)),
        36 => format!("ip6 net {} or {}", net6(r), net6(r)),
        37 => format!("{}net {} or {}", dir(r), net4(r), net4(r)),
        38 => format!("udp portrange {}-{} or {}", port(r), port(r), port(r)),
        _ => format!(
            "ip proto {} or {}",
            r.pick(&["6", "17", "1"]),
            r.pick(&["6", "17", "1", "132"])
        ),
    }
}

/// A random expression of primitives joined by and/or/not, with parentheses.
fn expression(r: &mut Rng, depth: usize) -> String {
    if depth == 0 || r.chance(30) {
        let p = primitive(r);
        return if r.chance(15) { format!("not {p}") } else { p };
    }
    let a = expression(r, depth - 1);
    let b = expression(r, depth - 1);
    let op = *r.pick(&["and", "or", "&&", "||", "and", "or"]);
    let e = format!("{a} {op} {b}");
    match r.below(6) {
        0 => format!("not ({e})"),
        1 => format!("!({e})"),
        2 | 3 => format!("({e})"),
        _ => e,
    }
}

/// libpcap's program for `expr`, or its error message.
fn libpcap(tcpdump: &Path, expr: &str) -> Result<Vec<BpfInsn>, String> {
    libpcap_with(tcpdump, expr, &[])
}

/// libpcap's program, with extra tcpdump options (`-O`: without its optimizer).
fn libpcap_with(tcpdump: &Path, expr: &str, opts: &[&str]) -> Result<Vec<BpfInsn>, String> {
    let out = Command::new(tcpdump)
        .args(opts)
        .args(["-ddd", "--", expr])
        .output()
        .map_err(|e| format!("running tcpdump: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let msg = err.lines().find(|l| l.starts_with("tcpdump: ")).unwrap_or(&err).trim();
        return Err(msg.trim_start_matches("tcpdump: ").to_string());
    }
    parse_ddd(&String::from_utf8_lossy(&out.stdout))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The corpus: expressions (every kind of primitive alone, then random combinations) and
/// frames. BPF_DIFF_SEED and BPF_DIFF_SCALE (a multiplier) explore further than the
/// default run.
fn corpus() -> (Vec<String>, Vec<Frame>) {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mut r = Rng(env("BPF_DIFF_SEED").unwrap_or(0x5eed_0b5e_55ed_f00d) | 1);
    let scale = env("BPF_DIFF_SCALE").unwrap_or(1) as usize;
    // Filters people write (several from tcpdump(8)'s examples).
    let mut exprs: Vec<String> = [
        "tcp port 22",
        "not port 22",
        "host 192.168.1.1 and port 80",
        "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
        "tcp and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
        "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
        "ip[6:2] & 0x1fff != 0",
        "tcp[13] == 18",
        "ether[0] & 1 = 0 and ip[16] >= 224",
        "ip broadcast or ip multicast",
        "udp port 53 or udp port 67 or udp port 68",
        "ether broadcast or ether multicast",
        "ip6 and icmp6",
        "arp or icmp",
        "ip and not net 10.0.0.0/8",
        "vlan 100 and host 10.0.0.1",
        "less 64",
        "greater 1000 and tcp",
        "ip6 net 2001:db8::/32 and tcp dst port 443",
        "dst host 10.0.0.1 and (src net 192.168.0.0/16 or src net 172.16.0.0/12)",
        "port 80 or port 443 or port 8080",
        "tcp dst portrange 6000-6010",
        "not ether host 00:11:22:33:44:55",
        "ip proto 50 or ip proto 51",
        "esp or ah",
        "ip multicast and udp",
        "icmp6 and ip6[40] == 135",
        "tcp[tcpflags] == tcp-syn and not src net 10.0.0.0/8",
        "(tcp[tcpflags] & tcp-rst) != 0 or icmp[icmptype] == icmp-unreach",
        "vlan and vlan and ip",
    ]
    .map(String::from)
    .to_vec();
    for _ in 0..300 * scale {
        exprs.push(primitive(&mut r));
    }
    for _ in 0..400 * scale {
        exprs.push(expression(&mut r, 3));
    }
    exprs.sort();
    exprs.dedup();
    let frames: Vec<Frame> = (0..3000).map(|_| frame(&mut r)).collect();
    (exprs, frames)
}

fn run(p: &[BpfInsn], f: &Frame) -> u32 {
    bpf_filter(p, &f.bytes, f.wirelen)
}

/// The frame with 256 zero bytes more: long enough that no load of these expressions falls
/// off its end, so that any program and its optimized form must agree on it.
fn padded(f: &Frame) -> Frame {
    let mut bytes = f.bytes.clone();
    bytes.resize(bytes.len() + 256, 0);
    Frame {
        bytes,
        wirelen: f.wirelen + 256,
    }
}

/// How one expression fared against libpcap.
enum Outcome {
    /// Compared on every frame, with this many evaluations; whether the programs are the same
    /// instruction for instruction.
    Agree(usize, bool),
    /// Both refused it (the same way).
    BothRefuse,
    /// libpcap's own optimizer is wrong on a whole frame; nothing to learn here.
    LibpcapBug(String),
    Disagree(String),
}

/// Compares our program for `expr` with libpcap's, optimized or not.
fn compare(
    tcpdump: &Path,
    expr: &str,
    theirs: &Result<Vec<BpfInsn>, String>,
    frames: &[Frame],
    optimize: bool,
) -> Outcome {
    let opts = Options {
        optimize,
        ..Default::default()
    };
    let ours = compile(expr, &opts);
    let rejects_all = "expression rejects all packets";
    let reject_program = vec![BpfInsn::stmt(BPF_RET | BPF_K, 0)];
    // A program that rejects everything is what "rejects all packets" stands for.
    let (theirs, ours) = match (theirs, ours) {
        (Ok(t), Ok(o)) => (t.clone(), o),
        (Err(t), Err(o))
            if *t == o.to_string() || t.contains("syntax error") && o.to_string().contains("syntax error") =>
        {
            return Outcome::BothRefuse;
        }
        (Ok(t), Err(o)) if o.to_string() == rejects_all => (t.clone(), reject_program.clone()),
        (Err(t), Ok(o)) if t == rejects_all => (reject_program, o),
        (t, o) => {
            return Outcome::Disagree(format!(
                "{expr:?}: libpcap says {t:?}, pktbox says {:?}",
                o.map(|p| dump(&p, 1))
            ))
        }
    };
    if let Err(e) = bpf_validate(&theirs) {
        return Outcome::Disagree(format!("{expr:?}: libpcap's program fails validation: {e}"));
    }
    if let Err(e) = bpf_validate(&ours) {
        return Outcome::Disagree(format!(
            "{expr:?}: our program fails validation: {e}\n{}",
            dump(&ours, 1)
        ));
    }
    let Some(f) = frames.iter().find(|f| run(&theirs, f) != run(&ours, f)) else {
        return Outcome::Agree(frames.len(), theirs == ours);
    };
    // Before blaming pktbox: libpcap's optimizer has bugs of its own. If its optimized
    // program disagrees with its unoptimized one on a frame long enough for every load (on
    // a short one they may rightly differ) while ours agrees with the unoptimized one on all
    // of them, the expression says nothing about this compiler.
    if optimize {
        let unopt = libpcap_with(tcpdump, expr, &["-O"]).unwrap_or_default();
        let long: Vec<Frame> = frames.iter().map(padded).collect();
        let buggy = long.iter().find(|g| run(&theirs, g) != run(&unopt, g));
        if let Some(g) = buggy.filter(|_| long.iter().all(|g| run(&ours, g) == run(&unopt, g))) {
            return Outcome::LibpcapBug(format!(
                "{expr:?}: libpcap's optimized program returns {} but its unoptimized one {} on {}",
                run(&theirs, g),
                run(&unopt, g),
                hex(&g.bytes)
            ));
        }
    }
    Outcome::Disagree(format!(
        "{expr:?}{}: libpcap {}, pktbox {} on frame (wirelen {}) {}\nlibpcap:\n{}pktbox:\n{}",
        if optimize { "" } else { " (-O)" },
        run(&theirs, f),
        run(&ours, f),
        f.wirelen,
        hex(&f.bytes),
        dump(&theirs, 1),
        dump(&ours, 1)
    ))
}

/// Whether the optimizer changed what `expr` means: the optimized and unoptimized programs
/// of one compiler disagree on a frame long enough for every load. None when either does
/// not compile.
fn meaning_changed(
    opt: &Result<Vec<BpfInsn>, String>,
    unopt: &Result<Vec<BpfInsn>, String>,
    long: &[Frame],
) -> Option<bool> {
    let reject = vec![BpfInsn::stmt(BPF_RET | BPF_K, 0)];
    let opt = match opt {
        Ok(p) => p,
        Err(e) if e == "expression rejects all packets" => &reject,
        Err(_) => return None,
    };
    let unopt = unopt.as_ref().ok()?;
    Some(long.iter().any(|f| run(opt, f) != run(unopt, f)))
}

#[test]
fn verdicts_agree_with_libpcap() {
    let Some(tcpdump) = pktbox_tests::tool("tcpdump") else {
        return pktbox_tests::skip(
            "verdicts_agree_with_libpcap",
            "no tcpdump installed (libpcap's compiler is the reference)",
        );
    };
    let (exprs, frames) = corpus();
    let long: Vec<Frame> = frames.iter().map(padded).collect();
    let trace = std::env::var_os("BPF_DIFF_TRACE").is_some();
    // Several tcpdumps at a time; each thread compares what it got. For each expression:
    // our optimized program against libpcap's, our unoptimized one against libpcap's -O, and
    // whether either optimizer changed the meaning (on frames long enough for every load).
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    let outcomes: Vec<(Outcome, Outcome, Option<String>)> = std::thread::scope(|s| {
        let chunks: Vec<_> = exprs
            .chunks(exprs.len().div_ceil(threads))
            .map(|c| {
                let (tcpdump, frames, long) = (&tcpdump, &frames, &long);
                s.spawn(move || {
                    c.iter()
                        .map(|e| {
                            if trace {
                                eprintln!("comparing {e:?}");
                            }
                            let (lo, lu) = (libpcap(tcpdump, e), libpcap_with(tcpdump, e, &["-O"]));
                            let opt = compare(tcpdump, e, &lo, frames, true);
                            let unopt = compare(tcpdump, e, &lu, frames, false);
                            let mine = |optimize| {
                                compile(
                                    e,
                                    &Options {
                                        optimize,
                                        ..Default::default()
                                    },
                                )
                                .map_err(|e| e.to_string())
                            };
                            let ours = meaning_changed(&mine(true), &mine(false), long);
                            let theirs = meaning_changed(&lo, &lu, long);
                            let changed = match (ours, theirs) {
                                (Some(true), Some(true)) => Some(format!("{e:?} (as libpcap's optimizer does)")),
                                (Some(true), _) => Some(format!("{e:?} (FAILURE: libpcap's optimizer does not)")),
                                _ => None,
                            };
                            (opt, unopt, changed)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    assert_eq!(outcomes.len(), exprs.len(), "a comparing thread died");

    let (mut compared, mut evaluations, mut refused, mut bugs, mut inherited) = (0, 0, 0, 0, 0);
    let mut identical = 0;
    let mut failures = Vec::new();
    for (opt, unopt, changed) in &outcomes {
        if let Outcome::Agree(_, same) = opt {
            identical += usize::from(*same);
        }
        for o in [opt, unopt] {
            match o {
                Outcome::Agree(n, _) => {
                    compared += 1;
                    evaluations += n;
                }
                Outcome::BothRefuse => refused += 1,
                Outcome::LibpcapBug(b) => {
                    bugs += 1;
                    eprintln!("bpf_diff: skipped, libpcap's optimizer is wrong and pktbox's is not: {b}");
                }
                Outcome::Disagree(d) => failures.push(d.clone()),
            }
        }
        if let Some(c) = changed {
            if c.contains("FAILURE") {
                failures.push(format!("pktbox's optimizer changes the meaning of {c}"));
            } else {
                inherited += 1;
                eprintln!("bpf_diff: pktbox's optimizer, like libpcap's, changes the meaning of {c}");
            }
        }
    }
    eprintln!(
        "bpf_diff: {} expressions x {} frames, each compiled with and without the optimizer: {compared} programs \
         compared with libpcap's ({evaluations} verdicts; {identical} optimized programs identical to libpcap's instruction for instruction), {refused} refused by both, {bugs} skipped for libpcap \
         optimizer bugs, {inherited} where both optimizers change the meaning; {} disagreements",
        exprs.len(),
        frames.len(),
        failures.len()
    );
    let show = std::env::var("BPF_DIFF_SHOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    for f in failures.iter().take(show) {
        eprintln!("---\n{f}");
    }
    assert!(
        failures.is_empty(),
        "{} comparisons disagree with libpcap",
        failures.len()
    );
}

/// Without libpcap: on single primitives and common filters, the optimizer never changes a
/// verdict on a frame long enough for every load (on a short one it may, as libpcap's does).
#[test]
fn optimizer_keeps_the_meaning() {
    let mut r = Rng(0x0b5e_55ed);
    let mut exprs: Vec<String> = (0..400).map(|_| primitive(&mut r)).collect();
    exprs.extend(
        [
            "tcp port 80 or tcp port 443",
            "host 10.0.0.1 and not port 22",
            "udp and (port 53 or port 123)",
            "icmp or icmp6 or arp",
            "vlan and tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
            "not broadcast and not multicast",
            "src net 192.168.0.0/16 and dst port 80",
            "ip6 and not ip6 multicast and tcp dst portrange 1024-65535",
        ]
        .map(String::from),
    );
    let frames: Vec<Frame> = (0..2000).map(|_| padded(&frame(&mut r))).collect();
    let unopt = Options {
        optimize: false,
        ..Default::default()
    };
    for e in &exprs {
        let mine = |o: &Options| compile(e, o).map_err(|e| e.to_string());
        assert_ne!(
            meaning_changed(&mine(&Options::default()), &mine(&unopt), &frames),
            Some(true),
            "the optimizer changes the meaning of {e:?}"
        );
    }
}

/// For looking into a disagreement: `BPF_EXPR='...' BPF_FRAME=hex cargo test -p pktbox
/// explain_one -- --ignored --nocapture` prints the verdicts of both compilers, with and
/// without their optimizers, on the frame as given and padded.
#[test]
#[ignore]
fn explain_one() {
    let (Ok(expr), Ok(hexframe)) = (std::env::var("BPF_EXPR"), std::env::var("BPF_FRAME")) else {
        return;
    };
    let bytes: Vec<u8> = (0..hexframe.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hexframe[2 * i..2 * i + 2], 16).ok())
        .collect();
    let wirelen = std::env::var("BPF_WIRELEN")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(bytes.len() as u32);
    let f = Frame { bytes, wirelen };
    let tcpdump = pktbox_tests::tool("tcpdump").expect("tcpdump");
    let progs = [
        ("libpcap", libpcap(&tcpdump, &expr)),
        ("libpcap -O", libpcap_with(&tcpdump, &expr, &["-O"])),
        ("pktbox", compile(&expr, &Options::default()).map_err(|e| e.to_string())),
        (
            "pktbox -O",
            compile(
                &expr,
                &Options {
                    optimize: false,
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string()),
        ),
    ];
    for (name, p) in &progs {
        match p {
            Ok(p) => eprintln!("{name:12} {:>7} {:>7} (padded)", run(p, &f), run(p, &padded(&f))),
            Err(e) => eprintln!("{name:12} {e}"),
        }
    }
}
