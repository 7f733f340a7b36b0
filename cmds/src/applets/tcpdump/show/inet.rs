//! The Internet layers: IPv4 (options and fragments), IPv6 (hop-by-hop and fragment
//! headers), ICMP (with the packet an error quotes), ICMPv6 (echo and neighbour discovery),
//! TCP (flags, relative sequence numbers, options) and UDP, with `-v` checksum checks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pktbox_stack::wire::checksum::{cksum, fold, pseudo_sum, sum as add};
use pktbox_stack::wire::icmp::IcmpPacket;
use pktbox_stack::wire::icmpv6::Icmpv6Packet;
use pktbox_stack::wire::ip6ext::{self, FragRepr, FRAG_HDR_LEN};
use pktbox_stack::wire::ipv4::{Ipv4Options, Ipv4Packet, IP_HDR_LEN};
use pktbox_stack::wire::ipv6::Ipv6Packet;
use pktbox_stack::wire::tcp::{sack_blocks, TcpOption, TcpPacket, TCP_HDR_LEN};
use pktbox_stack::wire::udp::{UdpPacket, UDP_HDR_LEN};

use super::names;
use super::{hexdump, Ctx, Cur, Trunc};

/// The checksum a message should carry: its sum from `acc` on (a pseudo-header's), with the
/// checksum field at `at` left out (a message too short to hold it is summed as it is).
fn cksum_should_be(acc: u32, m: &[u8], at: usize) -> u16 {
    let before = m.get(..at).unwrap_or(m);
    let after = m.get(at + 2..).unwrap_or(&[]);
    fold(add(add(acc, before), after))
}

/// The network-layer addresses a transport header belongs to.
#[derive(Clone)]
pub struct Addrs {
    src: Vec<u8>,
    dst: Vec<u8>,
    /// Not the first fragment of a datagram, or a fragment at all (no checksum check).
    fragment: bool,
    /// The addresses were printed already (IPv6 extension headers came first): the
    /// transport header prints its ports alone.
    shown: bool,
}

impl Addrs {
    fn v6(&self) -> bool {
        self.src.len() == 16
    }
    fn name(&self, c: &mut Ctx, a: &[u8]) -> String {
        if a.len() == 16 {
            let mut b = [0u8; 16];
            b.copy_from_slice(a);
            c.ip6(b)
        } else {
            let mut b = [0u8; 4];
            b.copy_from_slice(a.get(..4).unwrap_or(&[0; 4]));
            c.ip4(b)
        }
    }
    fn src_name(&self, c: &mut Ctx) -> String {
        self.name(c, &self.src.clone())
    }
    fn dst_name(&self, c: &mut Ctx) -> String {
        self.name(c, &self.dst.clone())
    }
    fn addr(a: &[u8]) -> IpAddr {
        match <[u8; 16]>::try_from(a) {
            Ok(b) => IpAddr::V6(Ipv6Addr::from(b)),
            Err(_) => {
                let mut b = [0u8; 4];
                b.copy_from_slice(a.get(..4).unwrap_or(&[0; 4]));
                IpAddr::V4(Ipv4Addr::from(b))
            }
        }
    }
    /// The running sum of the transport checksum's pseudo-header.
    fn pseudo(&self, proto: u8, len: usize) -> u32 {
        pseudo_sum(Addrs::addr(&self.src), Addrs::addr(&self.dst), proto, len)
    }
}

/// The names of the flags set in `v`, comma-separated, `none` for none (tcpdump's
/// `bittok2str`).
fn flag_words(v: u32, names: &[(u32, &str)]) -> String {
    let set: Vec<&str> = names.iter().filter(|(bit, _)| v & bit != 0).map(|(_, n)| *n).collect();
    if set.is_empty() {
        "none".to_string()
    } else {
        set.join(", ")
    }
}

fn tos_words(tos: u8) -> String {
    let mut s = format!("tos 0x{tos:x}");
    match tos & 3 {
        1 => s.push_str(",ECT(1)"),
        2 => s.push_str(",ECT(0)"),
        3 => s.push_str(",CE"),
        _ => {}
    }
    s
}

/// IPv4 options as `-v` shows them, read with the stack's walker: a malformed option ends
/// the list with tcpdump's words for it.
fn ip_options(c: &mut Ctx, opts: &[u8]) -> String {
    let mut out = Vec::new();
    let mut walk = Ipv4Options::new(opts);
    // Where the walker is: the option it yields next, or the one it fails on.
    let mut at = 0;
    loop {
        let o = match walk.next() {
            None => {
                // The end, or an end-of-list option.
                if opts.get(at) == Some(&0) {
                    out.push("EOL".to_string());
                }
                break;
            }
            Some(Err(_)) => {
                let t = opts.get(at).copied().unwrap_or(0);
                match opts.get(at + 1) {
                    None => out.push(format!("{} [bad length]", opt_name(t))),
                    Some(len) => out.push(format!("{} [bad length {len}]", opt_name(t))),
                }
                break;
            }
            Some(Ok(o)) => o,
        };
        let (t, body) = (o.kind, o.data);
        if t == 1 {
            out.push("NOP".to_string());
            at += 1;
            continue;
        }
        let len = body.len() + 2;
        let s = match t {
            7 | 131 | 137 => {
                // Record route and source routes: the pointer, then addresses.
                let mut s = opt_name(t).to_string();
                if len < 3 || (len + 1) % 4 != 0 {
                    s.push_str(&format!(" [bad length {len}]"));
                } else {
                    let ptr = usize::from(body[0]);
                    let mut k = 1;
                    while k + 4 <= body.len() {
                        let a = [body[k], body[k + 1], body[k + 2], body[k + 3]];
                        s.push(' ');
                        s.push_str(&c.ip4(a));
                        // A comma after the last address recorded.
                        if ptr == k + 7 {
                            s.push(',');
                        }
                        k += 4;
                    }
                    if ptr < 4 || ptr > len + 1 || ptr % 4 != 0 {
                        s.push_str(&format!(" [bad ptr {ptr}]"));
                    }
                }
                s
            }
            148 => {
                if len != 4 {
                    format!("RA [bad length {len}]")
                } else {
                    let v = u16::from_be_bytes([body[0], body[1]]);
                    if v != 0 {
                        format!("RA value {v}")
                    } else {
                        "RA".to_string()
                    }
                }
            }
            _ => {
                let mut s = opt_name(t).to_string();
                s.push_str(&format!(" len {len}"));
                s
            }
        };
        out.push(s);
        at += len;
    }
    out.join(",")
}

fn opt_name(t: u8) -> String {
    match t {
        0 => "EOL".into(),
        1 => "NOP".into(),
        7 => "RR".into(),
        68 => "TS".into(),
        130 => "SECURITY".into(),
        131 => "LSRR".into(),
        137 => "SSRR".into(),
        148 => "RA".into(),
        _ => format!("unknown {t}"),
    }
}

/// An IPv4 packet; `len` is its length on the wire (from the link layer).
pub fn ip(c: &mut Ctx, cur: Cur, _len: u32) -> Result<(), Trunc> {
    if !c.opts.ether {
        c.p("IP ");
    }
    let vh = cur.u8(0, "ip")?;
    if vh >> 4 != 4 {
        c.p(&format!("IP{}", vh >> 4));
        return Ok(());
    }
    let hlen = usize::from(vh & 0xf) * 4;
    if hlen < 20 {
        c.p(&format!("bad-hlen {hlen}"));
        return Ok(());
    }
    let ip = Ipv4Packet::new_unchecked(cur.bytes(0, IP_HDR_LEN, "ip")?);
    let (tos, total, id, frag) = (ip.tos(), ip.total_len(), ip.id(), ip.off());
    let (ttl, proto, sum) = (ip.ttl(), ip.proto(), ip.checksum());
    let (src, dst) = (ip.src().octets(), ip.dst().octets());
    if total < hlen {
        c.p(&format!("bad-len {total}"));
        return Ok(());
    }
    let off = usize::from(frag & 0x1fff) * 8;
    let payload_len = total - hlen;
    if c.vflag() > 0 {
        let flags = flag_words(u32::from(frag), &[(0x2000, "+"), (0x4000, "DF"), (0x8000, "rsvd")]);
        let pname = names::ip_proto(proto).unwrap_or("unknown");
        let mut s = format!(
            "({}, ttl {ttl}, id {id}, offset {off}, flags [{flags}], proto {pname} ({proto}), length {total}",
            tos_words(tos)
        );
        if hlen > 20 {
            let o = cur.bytes(20, hlen - 20, "ip")?;
            let words = ip_options(c, o);
            s.push_str(&format!(", options ({words})"));
        }
        if let Ok(h) = cur.bytes(0, hlen, "ip") {
            if cksum(h) != 0 {
                let want = cksum_should_be(0, h, 10);
                s.push_str(&format!(", bad cksum {sum:x} (->{want:x})!"));
            }
        }
        s.push(')');
        c.p(&s);
        c.p("\n    ");
    }
    let a = Addrs {
        src: src.to_vec(),
        dst: dst.to_vec(),
        fragment: frag & 0x3fff != 0,
        shown: false,
    };
    let payload = Cur {
        data: cur.rest(hlen).get(..payload_len).unwrap_or(cur.rest(hlen)),
    };
    if off > 0 {
        let (s, d) = (a.src_name(c), a.dst_name(c));
        let name = match (c.opts.numeric, proto) {
            (0, 1) => "icmp".to_string(),
            (0, 6) => "tcp".to_string(),
            (0, 17) => "udp".to_string(),
            (0, p) => names::ip_proto_short(p).map_or_else(|| format!("ip-proto-{p}"), String::from),
            _ => format!("ip-proto-{proto}"),
        };
        c.p(&format!("{s} > {d}: {name}"));
        return Ok(());
    }
    transport(c, payload, proto, payload_len, &a)
}

/// `ip-proto-N`, or its name without `-n`.
fn proto_short(c: &Ctx, proto: u8) -> String {
    match (c.opts.numeric, proto) {
        (_, 6) => "tcp".into(),
        (_, 17) => "udp".into(),
        (_, 1) => "icmp".into(),
        (_, 58) => "icmp6".into(),
        (_, 50) => "esp".into(),
        (0, p) => names::ip_proto_short(p).map_or_else(|| format!("ip-proto-{p}"), String::from),
        (_, p) => format!("ip-proto-{p}"),
    }
}

/// What follows the network header; `len` is its length by the network header.
fn transport(c: &mut Ctx, cur: Cur, proto: u8, len: usize, a: &Addrs) -> Result<(), Trunc> {
    let addrs = |c: &mut Ctx| {
        if !a.shown {
            let (s, d) = (a.src_name(c), a.dst_name(c));
            c.p(&format!("{s} > {d}: "));
        }
    };
    match proto {
        6 => tcp(c, cur, len, a),
        17 => udp(c, cur, len, a),
        1 if !a.v6() => {
            addrs(c);
            icmp(c, cur, len)
        }
        58 if a.v6() => {
            addrs(c);
            icmp6(c, cur, len, a)
        }
        50 => {
            addrs(c);
            let spi = cur.u32(0, "ESP")?;
            let seq = cur.u32(4, "ESP")?;
            c.p(&format!("ESP(spi=0x{spi:08x},seq=0x{seq:x}), length {len}"));
            Ok(())
        }
        59 if a.v6() => {
            addrs(c);
            c.p("no next header");
            Ok(())
        }
        p => {
            addrs(c);
            let name = proto_short(c, p);
            c.p(&format!(" {name} {len}"));
            Ok(())
        }
    }
}

/// An IPv6 packet.
pub fn ip6(c: &mut Ctx, cur: Cur, _len: u32) -> Result<(), Trunc> {
    if !c.opts.ether {
        c.p("IP6 ");
    }
    let version = cur.bytes(0, 4, "ip6")?[0] >> 4;
    if version != 6 {
        c.p(&format!("IP6 bad version {version}"));
        return Ok(());
    }
    let ip6 = Ipv6Packet::new_unchecked(cur.bytes(0, 40, "ip6")?);
    let plen = usize::from(ip6.payload_len());
    let mut next = ip6.next_header();
    let hlim = ip6.hop_limit();
    let (src, dst) = (ip6.src().octets(), ip6.dst().octets());
    if c.vflag() > 0 {
        let class = ip6.traffic_class();
        let flow = ip6.flow_label();
        let mut s = String::from("(");
        if class != 0 {
            s.push_str(&format!("class 0x{class:x}, "));
        }
        if flow != 0 {
            s.push_str(&format!("flowlabel 0x{flow:05x}, "));
        }
        let pname = names::ip_proto(next).unwrap_or("unknown");
        s.push_str(&format!(
            "hlim {hlim}, next-header {pname} ({next}) payload length: {plen}) "
        ));
        c.p(&s);
    }
    let mut a = Addrs {
        src: src.to_vec(),
        dst: dst.to_vec(),
        fragment: false,
        shown: false,
    };
    let body = cur.rest(40);
    let mut p = Cur {
        data: body.get(..plen).unwrap_or(body),
    };
    let mut len = plen;
    if matches!(next, 0 | 60 | 44) {
        let (s, d) = (a.src_name(c), a.dst_name(c));
        c.p(&format!("{s} > {d}: "));
        a.shown = true;
    }
    loop {
        match next {
            0 | 60 => {
                // Hop-by-hop or destination options.
                let nh = p.u8(0, "ip6")?;
                let hl = (usize::from(p.u8(1, "ip6")?) + 1) * 8;
                let hdr = p.bytes(0, hl, "ip6")?;
                let name = if next == 0 { "HBH" } else { "DSTOPT" };
                let mut s = format!("{name} ");
                let verbose = c.vflag() > 0;
                // The stack's option walker; where it stops at an option that runs past
                // the header, tcpdump still names that option (with what is there).
                let mut at = 2;
                for o in ip6ext::options(hdr) {
                    match o {
                        Ok(o) => {
                            s.push_str(&ip6_opt_words(o.kind, o.data.len(), o.data));
                            at = o.offset
                                + if o.kind == ip6ext::OPT_PAD1 {
                                    1
                                } else {
                                    2 + o.data.len()
                                };
                        }
                        Err(e) if e.at == at + 1 => {
                            let l = usize::from(hdr[at + 1]);
                            s.push_str(&ip6_opt_words(hdr[at], l, hdr.get(at + 2..).unwrap_or(&[])));
                        }
                        Err(_) => {}
                    }
                }
                if verbose {
                    s.push(' ');
                } else {
                    s = format!("{name} ");
                }
                c.p(&s);
                next = nh;
                p = p.sub(hl);
                len = len.saturating_sub(hl);
            }
            44 => {
                let f = FragRepr::parse(p.bytes(0, FRAG_HDR_LEN, "frag")?).map_err(|_| Trunc("frag"))?;
                let (nh, off, id) = (f.next, f.offset, f.ident);
                if c.vflag() > 0 {
                    c.p(&format!("frag (0x{id:08x}:{}|{}) ", off, len.saturating_sub(8)));
                } else {
                    c.p(&format!("frag ({}|{}) ", off, len.saturating_sub(8)));
                }
                next = nh;
                p = p.sub(FRAG_HDR_LEN);
                len = len.saturating_sub(8);
                a.fragment = true;
                if off != 0 {
                    c.o.truncate(c.o.trim_end().len());
                    return Ok(());
                }
            }
            _ => break,
        }
    }
    transport(c, p, next, len, &a)
}

/// An option of a hop-by-hop or destination options header as tcpdump words it: `l` is
/// its length byte, `data` what of it there is.
fn ip6_opt_words(t: u8, l: usize, data: &[u8]) -> String {
    match t {
        ip6ext::OPT_PAD1 => "(pad1)".to_string(),
        ip6ext::OPT_PADN => "(padn)".to_string(),
        ip6ext::OPT_ROUTER_ALERT if l == 2 => {
            let v = u16::from_be_bytes([data.first().copied().unwrap_or(0), data.get(1).copied().unwrap_or(0)]);
            format!("(rtalert: 0x{v:04x}) ")
        }
        _ => format!("(opt_type 0x{t:02x}: len={l})"),
    }
}

/// `[|tcp]`-style checks for the transport printers: print the addresses first.
fn ports(c: &mut Ctx, a: &Addrs, proto: &str, sp: u16, dp: u16) {
    let (sp, dp) = (c.port(proto, sp), c.port(proto, dp));
    if a.shown {
        c.p(&format!("{sp} > {dp}: "));
        return;
    }
    let (s, d) = (a.src_name(c), a.dst_name(c));
    c.p(&format!("{s}.{sp} > {d}.{dp}: "));
}

/// A TCP segment of `len` bytes (header included).
fn tcp(c: &mut Ctx, cur: Cur, len: usize, a: &Addrs) -> Result<(), Trunc> {
    let (Ok(sp), Ok(dp)) = (cur.u16(0, "tcp"), cur.u16(2, "tcp")) else {
        if !a.shown {
            let (s, d) = (a.src_name(c), a.dst_name(c));
            c.p(&format!("{s} > {d}:"));
        }
        return Err(Trunc("tcp"));
    };
    ports(c, a, "tcp", sp, dp);
    let th = TcpPacket::new_unchecked(cur.bytes(0, TCP_HDR_LEN, "tcp")?);
    let (mut seq, mut ack, hl, flags) = (th.seq(), th.ack(), th.header_len(), th.flags());
    let (win, sum, urp) = (th.window(), th.checksum(), th.urgent());
    if hl < 20 {
        c.p(&format!("tcp {len} [bad hdr length {hl} - too short, < 20]"));
        return Ok(());
    }
    let dlen = len.saturating_sub(hl);
    if c.opts.quiet {
        c.p(&format!("tcp {dlen}"));
        return Ok(());
    }
    let names = ['F', 'S', 'R', 'P', '.', 'U', 'E', 'W'];
    let f: String = (0..8).filter(|i| flags & (1 << i) != 0).map(|i| names[i]).collect();
    c.p(&format!("Flags [{}]", if f.is_empty() { "none" } else { &f }));
    // Relative sequence numbers: the first segment with ACK of a conversation gives the
    // bases; SYN+ACK starts a new one.
    let mut ack_base = 0u32;
    if !c.opts.absolute && flags & 0x10 != 0 {
        let rev = a.src > a.dst || (a.src == a.dst && sp > dp);
        let key = if rev {
            (a.dst.clone(), a.src.clone(), dp, sp)
        } else {
            (a.src.clone(), a.dst.clone(), sp, dp)
        };
        let init = |seq: u32, ack: u32| {
            let (mine, theirs) = (seq, ack.wrapping_sub(1));
            if rev {
                (theirs, mine)
            } else {
                (mine, theirs)
            }
        };
        match c.tcp.get(&key).copied() {
            Some((lo, hi)) if flags & 0x02 == 0 => {
                let (sb, ab) = if rev { (hi, lo) } else { (lo, hi) };
                seq = seq.wrapping_sub(sb);
                ack = ack.wrapping_sub(ab);
                ack_base = ab;
            }
            _ => {
                c.tcp.insert(key, init(seq, ack));
            }
        }
    }
    if c.vflag() > 0 && !a.fragment {
        if let Ok(seg) = cur.bytes(0, len, "tcp") {
            let p = a.pseudo(6, len);
            if fold(add(p, seg)) == 0 {
                c.p(&format!(", cksum 0x{sum:04x} (correct)"));
            } else {
                let want = cksum_should_be(p, seg, 16);
                c.p(&format!(", cksum 0x{sum:04x} (incorrect -> 0x{want:04x})"));
            }
        }
    }
    if c.vflag() > 1 || dlen > 0 || flags & 0x07 != 0 {
        c.p(&format!(", seq {seq}"));
        if dlen > 0 {
            c.p(&format!(":{}", seq.wrapping_add(dlen as u32)));
        }
    }
    if flags & 0x10 != 0 {
        c.p(&format!(", ack {ack}"));
    }
    c.p(&format!(", win {win}"));
    if flags & 0x20 != 0 {
        c.p(&format!(", urg {urp}"));
    }
    if hl > 20 {
        c.p(", options [");
        let end = hl.min(len.max(20));
        let o = Cur {
            data: cur.data.get(..end).unwrap_or(cur.data),
        };
        tcp_options(c, o, 20, end, ack_base)?;
        c.p("]");
    }
    c.p(&format!(", length {dlen}"));
    Ok(())
}

/// TCP options from `at` to `end`, printed as they are read, as tcpdump does: a cut-off
/// option leaves what was printed so far.
fn tcp_options(c: &mut Ctx, o: Cur, mut i: usize, end: usize, ack_base: u32) -> Result<(), Trunc> {
    let mut first = true;
    while i < end {
        if !first {
            c.p(",");
        }
        first = false;
        let k = o.u8(i, "tcp")?;
        if k == 0 || k == 1 {
            c.p(if k == 0 { "eol" } else { "nop" });
            i += 1;
            continue;
        }
        let l = usize::from(o.u8(i + 1, "tcp")?);
        let name = match k {
            2 => "mss",
            3 => "wscale",
            4 => "sackOK",
            5 => "sack",
            8 => "TS",
            _ => "",
        };
        if name.is_empty() {
            c.p(&format!("unknown-{k}"));
        } else {
            c.p(name);
        }
        if k == 5 && l >= 2 && (l - 2) % 8 == 0 {
            c.p(&format!(" {} ", (l - 2) / 8));
        }
        // tcpdump closes a cut-off option's words with '>'.
        let body = o.bytes(i + 2, l.saturating_sub(2), "tcp").inspect_err(|_| {
            c.p(" [|tcp]>");
        });
        let body = match body {
            Ok(b) => b,
            Err(_) => return Err(Trunc("")),
        };
        // A length below 2 is no option the stack's decoder reads: its bytes as they are.
        let opt = if l >= 2 {
            TcpOption::decode(k, body)
        } else {
            TcpOption::Other { kind: k, data: body }
        };
        match opt {
            TcpOption::MaxSeg(v) => c.p(&format!(" {v}")),
            TcpOption::WindowScale(v) => c.p(&format!(" {v}")),
            TcpOption::SackPermitted => {}
            TcpOption::Timestamp { val, ecr } => c.p(&format!(" val {val} ecr {ecr}")),
            TcpOption::Sack(blocks) => {
                for (st, en) in sack_blocks(blocks) {
                    c.p(&format!(
                        "{{{}:{}}}",
                        st.wrapping_sub(ack_base),
                        en.wrapping_sub(ack_base)
                    ));
                }
            }
            TcpOption::Other { .. } => {
                let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
                c.p(&format!(" {hex}"));
            }
        }
        if l < 2 {
            break;
        }
        i += l;
    }
    Ok(())
}

/// A UDP datagram of `len` bytes by the network header.
fn udp(c: &mut Ctx, cur: Cur, len: usize, a: &Addrs) -> Result<(), Trunc> {
    let (Ok(sp), Ok(h)) = (cur.u16(0, "udp"), cur.bytes(0, UDP_HDR_LEN, "udp")) else {
        if !a.shown {
            let (s, d) = (a.src_name(c), a.dst_name(c));
            c.p(&format!("{s} > {d}: "));
        }
        return Err(Trunc("udp"));
    };
    let uh = UdpPacket::new_unchecked(h);
    debug_assert_eq!(uh.src_port(), sp);
    let (dp, ulen, sum) = (uh.dst_port(), uh.len(), uh.checksum());
    ports(c, a, "udp", sp, dp);
    let check = c.vflag() > 1 || (a.v6() && c.vflag() > 0);
    if check && !a.fragment && sum == 0 && !a.v6() {
        c.p("[no cksum] ");
    } else if check && !a.fragment && ulen <= len {
        if let Ok(seg) = cur.bytes(0, ulen, "udp") {
            let got = fold(add(a.pseudo(17, ulen), seg));
            if got == 0 {
                c.p("[udp sum ok] ");
            } else {
                let want = cksum_should_be(a.pseudo(17, ulen), seg, 6);
                c.p(&format!("[bad udp cksum 0x{sum:04x} -> 0x{want:04x}!] "));
            }
        }
    }
    c.p(&format!("UDP, length {}", ulen.saturating_sub(8)));
    Ok(())
}

/// An ICMP message of `len` bytes.
fn icmp(c: &mut Ctx, cur: Cur, len: usize) -> Result<(), Trunc> {
    let t = cur.u8(0, "icmp")?;
    let code = cur.u8(1, "icmp")?;
    // The 8-byte header, for the messages that read past type and code.
    let hdr = || IcmpPacket::new_checked(cur.data).map_err(|_| Trunc("icmp"));
    // The header of the datagram an error quotes.
    let quoted = || cur.bytes(8, IP_HDR_LEN, "icmp").map(Ipv4Packet::new_unchecked);
    let quoted_dst = |c: &mut Ctx| -> Result<String, Trunc> { Ok(c.ip4(quoted()?.dst().octets())) };
    let mut quotes = false;
    let s = match t {
        0 | 8 => {
            let h = hdr()?;
            let (id, seq) = (h.ident(), h.seq());
            format!("echo {}, id {id}, seq {seq}", if t == 0 { "reply" } else { "request" })
        }
        3 => {
            quotes = true;
            let d = quoted_dst(c)?;
            match code {
                0 => format!("net {d} unreachable"),
                1 => format!("host {d} unreachable"),
                2 => {
                    let p = quoted()?.proto();
                    format!("{d} protocol {p} unreachable")
                }
                3 => {
                    let q = quoted()?;
                    let (p, hl) = (q.proto(), q.hlen());
                    let port = cur.u16(8 + hl + 2, "icmp")?;
                    let (pn, name) = match p {
                        6 => ("tcp", c.port("tcp", port)),
                        17 => ("udp", c.port("udp", port)),
                        _ => ("", port.to_string()),
                    };
                    if pn.is_empty() {
                        format!("{d} protocol {p} port {name} unreachable")
                    } else {
                        format!("{d} {pn} port {name} unreachable")
                    }
                }
                4 => {
                    let mtu = hdr()?.next_mtu();
                    format!("{d} unreachable - need to frag (mtu {mtu})")
                }
                5 => format!("{d} unreachable - source route failed"),
                6 => format!("net {d} unreachable - unknown"),
                7 => format!("host {d} unreachable - unknown"),
                9 => format!("net {d} unreachable - admin prohibited"),
                10 => format!("host {d} unreachable - admin prohibited"),
                13 => format!("host {d} unreachable - admin prohibited filter"),
                _ => format!("{d} unreachable - #{code}"),
            }
        }
        5 => {
            quotes = true;
            let d = quoted_dst(c)?;
            let g = hdr()?.gateway().octets();
            let g = c.ip4(g);
            match code {
                0 => format!("redirect {d} to net {g}"),
                1 => format!("redirect {d} to host {g}"),
                2 => format!("redirect-tos {d} to net {g}"),
                3 => format!("redirect-tos {d} to host {g}"),
                _ => format!("redirect-#{code} {d} to {g}"),
            }
        }
        11 => {
            quotes = true;
            match code {
                0 => "time exceeded in-transit".to_string(),
                1 => "ip reassembly time exceeded".to_string(),
                _ => format!("time exceeded-#{code}"),
            }
        }
        12 => {
            quotes = true;
            // Only the pointer's octet need be there (not the whole header).
            let ptr = cur.u8(4, "icmp")?;
            if code == 0 {
                format!("parameter problem - octet {ptr}")
            } else {
                format!("parameter problem code {code}")
            }
        }
        13 | 14 => {
            let h = hdr()?;
            let (id, seq) = (h.ident(), h.seq());
            if t == 13 {
                format!("time stamp query id {id} seq {seq}")
            } else {
                format!("time stamp reply id {id} seq {seq}")
            }
        }
        15 => "information request".to_string(),
        16 => "information reply".to_string(),
        17 => "address mask request".to_string(),
        18 => {
            let m = cur.u32(8, "icmp")?;
            format!("address mask is 0x{m:08x}")
        }
        _ => format!("type-#{t}"),
    };
    c.p(&format!("ICMP {s}, length {len}"));
    if c.vflag() > 0 {
        if let Ok(m) = cur.bytes(0, len, "icmp") {
            if cksum(m) != 0 {
                let sum = m.get(2..4).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                let want = cksum_should_be(0, m, 2);
                c.p(&format!(" (wrong icmp cksum {sum:x} (->{want:x})!)"));
            }
        }
        if quotes {
            c.p("\n\t");
            let inner = cur.sub(8);
            let ilen = inner.u16(2, "ip").map(u32::from).unwrap_or(0);
            ip(c, inner, ilen)?;
        }
    }
    Ok(())
}

/// ND option names.
fn nd_opt_name(t: u8) -> &'static str {
    match t {
        1 => "source link-address option",
        2 => "destination link-address option",
        3 => "prefix info option",
        4 => "redirected header option",
        5 => "mtu option",
        _ => "unknown option",
    }
}

/// Neighbour-discovery options, one per line (`-v`).
fn nd_options(c: &mut Ctx, o: &[u8]) -> Result<(), Trunc> {
    let mut i = 0;
    while i < o.len() {
        let cur = Cur { data: &o[i..] };
        let t = cur.u8(0, "icmp6")?;
        let l = usize::from(cur.u8(1, "icmp6")?);
        if l == 0 {
            c.p(&format!("\n\t  {} ({t}), length 0 (0): ", nd_opt_name(t)));
            return Ok(());
        }
        let body = cur.bytes(2, l * 8 - 2, "icmp6")?;
        c.p(&format!("\n\t  {} ({t}), length {} ({l}): ", nd_opt_name(t), l * 8));
        match t {
            1 | 2 if body.len() >= 6 => {
                c.p(&names::mac_string(&body[..6]));
            }
            5 if body.len() >= 6 => {
                let mtu = u32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                c.p(&format!(" {mtu}"));
            }
            3 if body.len() >= 30 => {
                let plen = body[0];
                let fl = body[1];
                let valid = u32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                let pref = u32::from_be_bytes([body[6], body[7], body[8], body[9]]);
                let mut a = [0u8; 16];
                a.copy_from_slice(&body[14..30]);
                let p = c.ip6(a);
                let f = flag_words(u32::from(fl), &[(0x80, "onlink"), (0x40, "auto"), (0x20, "router")]);
                let time = |v: u32| {
                    if v == u32::MAX {
                        "infinity".to_string()
                    } else {
                        format!("{v}s")
                    }
                };
                c.p(&format!(
                    "{p}/{plen}, Flags [{f}], valid time {}, pref. time {}",
                    time(valid),
                    time(pref)
                ));
            }
            _ => {}
        }
        if c.vflag() > 1 {
            let d = hexdump(body, false, "\n\t    ");
            c.p(&d);
        } else if nd_opt_name(t) == "unknown option" {
            let d = hexdump(body, false, "\n\t  ");
            c.p(&d);
        }
        i += l * 8;
    }
    Ok(())
}

/// An ICMPv6 message of `len` bytes.
fn icmp6(c: &mut Ctx, cur: Cur, len: usize, a: &Addrs) -> Result<(), Trunc> {
    let t = cur.u8(0, "icmp6")?;
    let code = cur.u8(1, "icmp6")?;
    let v = c.vflag();
    if v > 0 && !a.fragment {
        if let Ok(m) = cur.bytes(0, len, "icmp6") {
            let sum = m.get(2..4).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            if fold(add(a.pseudo(58, len), m)) == 0 {
                c.p("[icmp6 sum ok] ");
            } else {
                let want = cksum_should_be(a.pseudo(58, len), m, 2);
                c.p(&format!("[bad icmp6 cksum 0x{sum:04x} -> 0x{want:04x}!] "));
            }
        }
    }
    c.p("ICMP6, ");
    let head = match t {
        128 => "echo request",
        129 => "echo reply",
        133 => "router solicitation",
        134 => "router advertisement",
        135 => "neighbor solicitation",
        136 => "neighbor advertisement",
        1 => "destination unreachable",
        2 => "packet too big",
        3 => "time exceeded",
        _ => "",
    };
    if !head.is_empty() && cur.data.len() < 8 {
        c.p(head);
        if c.vflag() > 0 && (133..=136).contains(&t) {
            c.p(&format!(", length {len}"));
        }
        return Err(Trunc("icmp6"));
    }
    let mark = c.o.len();
    let r = icmp6_body(c, cur, len, t, code);
    if r.is_err() && !head.is_empty() {
        c.o.truncate(mark);
        c.p(head);
        if t == 1 {
            let w = match code {
                0 => "unreachable route",
                1 => "unreachable prohibited",
                2 => "beyond scope",
                3 => "unreachable address",
                4 => "unreachable port",
                _ => "",
            };
            if !w.is_empty() {
                c.p(&format!(", {w}"));
            }
        }
        if t == 3 && code == 0 {
            c.p(" in-transit");
        }
        if c.vflag() > 0 && (133..=136).contains(&t) {
            c.p(&format!(", length {len}"));
        }
    }
    r
}

fn icmp6_body(c: &mut Ctx, cur: Cur, len: usize, t: u8, code: u8) -> Result<(), Trunc> {
    let v = c.vflag();
    // The 8-byte header (there for every type that reads it: see `icmp6`).
    let hdr = || Icmpv6Packet::new_checked(cur.data).map_err(|_| Trunc("icmp6"));
    let target = |c: &mut Ctx, at: usize| -> Result<String, Trunc> {
        let b = cur.bytes(at, 16, "icmp6")?;
        let mut x = [0u8; 16];
        x.copy_from_slice(b);
        Ok(c.ip6(x))
    };
    match t {
        128 | 129 => {
            let h = hdr()?;
            let (id, seq) = (h.echo_ident(), h.echo_seq());
            let what = if t == 128 { "echo request" } else { "echo reply" };
            if v > 0 {
                c.p(&format!("{what}, id {id}, seq {seq}"));
            } else {
                c.p(&format!("{what}, id {id}, seq {seq}, length {len}"));
            }
        }
        133 => {
            c.p(&format!("router solicitation, length {len}"));
            if v > 0 {
                nd_options(c, cur.rest(8))?;
            }
        }
        134 => {
            c.p(&format!("router advertisement, length {len}"));
            if v > 0 {
                let w = hdr()?.word();
                let (hl, fl, life) = ((w >> 24) as u8, (w >> 16) as u8, w as u16);
                let reach = cur.u32(8, "icmp6")?;
                let retrans = cur.u32(12, "icmp6")?;
                let f = flag_words(
                    u32::from(fl),
                    &[
                        (0x80, "managed"),
                        (0x40, "other stateful"),
                        (0x20, "home agent"),
                        (0x04, "proxy"),
                    ],
                );
                let pref = match (fl >> 3) & 3 {
                    0 => "medium",
                    1 => "high",
                    2 => "reserved",
                    _ => "low",
                };
                c.p(&format!(
                    "\n\thop limit {hl}, Flags [{f}], pref {pref}, router lifetime {life}s, reachable time {reach}ms, retrans timer {retrans}ms"
                ));
                nd_options(c, cur.rest(16))?;
            }
        }
        135 => {
            let tg = target(c, 8)?;
            if v > 0 {
                c.p(&format!("neighbor solicitation, length {len}, who has {tg}"));
                nd_options(c, cur.rest(24))?;
            } else {
                c.p(&format!("neighbor solicitation, who has {tg}, length {len}"));
            }
        }
        136 => {
            let tg = target(c, 8)?;
            if v > 0 {
                let fl = (hdr()?.word() >> 24) as u8;
                let f = flag_words(
                    u32::from(fl),
                    &[(0x80, "router"), (0x40, "solicited"), (0x20, "override")],
                );
                c.p(&format!(
                    "neighbor advertisement, length {len}, tgt is {tg}, Flags [{f}]"
                ));
                nd_options(c, cur.rest(24))?;
            } else {
                c.p(&format!("neighbor advertisement, tgt is {tg}, length {len}"));
            }
        }
        1 => {
            let d = target(c, 32)?;
            let what = match code {
                0 => format!("unreachable route {d}"),
                1 => format!("unreachable prohibited {d}"),
                2 => format!("beyond scope {d}"),
                3 => format!("unreachable address {d}"),
                4 => {
                    let nh = cur.u8(8 + 6, "icmp6")?;
                    let port = cur.u16(48 + 2, "icmp6")?;
                    match nh {
                        17 => format!("unreachable port, {d} udp port {}", c.port("udp", port)),
                        6 => format!("unreachable port, {d} tcp port {}", c.port("tcp", port)),
                        _ => format!("unreachable port, {d} protocol {nh} port {port}"),
                    }
                }
                _ => format!("unknown code ({code})"),
            };
            c.p(&format!("destination unreachable, {what}"));
            if v == 0 {
                c.p(&format!(", length {len}"));
            }
        }
        2 => {
            let mtu = hdr()?.word();
            c.p(&format!("packet too big, mtu {mtu}"));
            if v == 0 {
                c.p(&format!(", length {len}"));
            }
        }
        3 => {
            let d = target(c, 32)?;
            match code {
                0 => c.p(&format!("time exceeded in-transit for {d}")),
                1 => c.p("ip6 reassembly time exceeded"),
                _ => c.p(&format!("time exceeded: unknown code ({code})")),
            }
            if v == 0 {
                c.p(&format!(", length {len}"));
            }
        }
        130..=132 if len == 24 => {
            // MLDv1 (RFC 2710): query, report, done.
            let delay = cur.u16(4, "icmp6")?;
            let g = target(c, 8)?;
            let what = match t {
                130 => "multicast listener query",
                131 => "multicast listener report",
                _ => "multicast listener done",
            };
            c.p(&format!("{what} max resp delay: {delay} addr: {g}"));
            if v == 0 {
                c.p(&format!(", length {len}"));
            }
        }
        143 => {
            // MLDv2 report (RFC 3810): multicast address records.
            let n = cur.u16(6, "icmp6")?;
            c.p(&format!("multicast listener report v2, {n} group record(s)"));
            if v == 0 {
                c.p(&format!(", length {len}"));
                return Ok(());
            }
            let mut at = 8;
            for _ in 0..n {
                let rt = cur.u8(at, "icmp6")?;
                let aux = usize::from(cur.u8(at + 1, "icmp6")?);
                let nsrc = usize::from(cur.u16(at + 2, "icmp6")?);
                let g = target(c, at + 4)?;
                let kind = match rt {
                    1 => "is_in".to_string(),
                    2 => "is_ex".to_string(),
                    3 => "to_in".to_string(),
                    4 => "to_ex".to_string(),
                    5 => "allow".to_string(),
                    6 => "block".to_string(),
                    x => format!("invalid ({x})"),
                };
                c.p(&format!(" [gaddr {g} {kind}"));
                if v == 1 {
                    c.p(&format!(", {nsrc} source(s)]"));
                } else {
                    c.p(" {");
                    for k in 0..nsrc {
                        let s = target(c, at + 20 + 16 * k)?;
                        c.p(&format!(" {s}"));
                    }
                    c.p(" }]");
                }
                at += 20 + 16 * nsrc + 4 * aux;
            }
        }
        200 | 201 => {
            let what = if t == 200 { "mtrace response" } else { "mtrace" };
            c.p(&format!("{what}, length {len}"));
            default_print(c, cur.rest(0));
        }
        _ => {
            c.p(&format!("unknown icmp6 type ({t}), length {len}"));
            default_print(c, cur.rest(0));
        }
    }
    Ok(())
}

/// tcpdump's dump of what it does not decode (hex without ASCII), unless `-x` or `-X`
/// dumps the whole packet anyway.
fn default_print(c: &mut Ctx, b: &[u8]) {
    if c.vflag() > 1 {
        return;
    }
    let d = hexdump(b, false, "\n\t");
    c.p(&d);
}
