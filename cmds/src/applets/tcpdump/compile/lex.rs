//! The pcap-filter scanner: words, numbers, addresses and operators, each with its place in
//! the expression for error messages. Like libpcap's scanner it takes the longest token that
//! fits (so `len-1` is one name, and `0:2` inside brackets is three tokens), preferring, on a
//! tie, an Ethernet address, then a number, an IPv4 address, an IPv6 address, a keyword, a
//! name.

use super::names;
use super::Error;

/// A keyword of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    // Protocols (libpcap's "pname").
    Link,
    Ip,
    Ip6,
    Arp,
    Rarp,
    Tcp,
    Udp,
    Icmp,
    Icmp6,
    Igmp,
    Igrp,
    Pim,
    Vrrp,
    Carp,
    Sctp,
    Ah,
    Esp,
    Atalk,
    Aarp,
    Decnet,
    Lat,
    Sca,
    Moprc,
    Mopdl,
    Iso,
    Stp,
    Ipx,
    Netbeui,
    // Directions.
    Src,
    Dst,
    // Address kinds.
    Host,
    Net,
    Mask,
    Port,
    Portrange,
    Gateway,
    Proto,
    Protochain,
    // Other primitives.
    Broadcast,
    Multicast,
    Less,
    Greater,
    Len,
    Vlan,
    // Logic.
    And,
    Or,
    Not,
    // PF's log link type (pflog0).
    /// `ifname` / `on`, `ruleset` / `rset`, `rnr` / `rulenum`, `srnr` / `subrulenum`,
    /// `reason`, `action`.
    Pf(PfKw),
    Inbound,
    Outbound,
    /// Keywords of libpcap that this compiler does not implement (`mpls`, `inbound`, ...).
    Unsupported,
}

/// The pflog header fields a filter can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PfKw {
    Ifname,
    Ruleset,
    Rnr,
    Srnr,
    Reason,
    Action,
}

/// A token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Kw(Kw),
    Num(u32),
    /// A dotted IPv4 address or prefix of one (`10`, `10.1`, ... are numbers, `10.1` here).
    Hid(String),
    Hid6(String),
    Eid([u8; 6]),
    /// A name: a host, a port, a protocol (`\tcp` escapes a keyword into a name).
    Id(String),
    Op(&'static str),
    End,
}

impl Tok {
    pub fn is_op(&self, s: &str) -> bool {
        matches!(self, Tok::Op(o) if *o == s)
    }
}

/// A token and where it starts in the expression.
#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
    pub text: String,
}

fn keyword(w: &str) -> Option<Kw> {
    use Kw::*;
    Some(match w {
        "link" | "ether" | "ppp" | "slip" | "fddi" | "tr" | "wlan" => Link,
        "ip" => Ip,
        "ip6" => Ip6,
        "arp" => Arp,
        "rarp" => Rarp,
        "tcp" => Tcp,
        "udp" => Udp,
        "icmp" => Icmp,
        "icmp6" => Icmp6,
        "igmp" => Igmp,
        "igrp" => Igrp,
        "pim" => Pim,
        "vrrp" => Vrrp,
        "carp" => Carp,
        "sctp" => Sctp,
        "ah" => Ah,
        "esp" => Esp,
        "atalk" => Atalk,
        "aarp" => Aarp,
        "decnet" => Decnet,
        "lat" => Lat,
        "sca" => Sca,
        "moprc" => Moprc,
        "mopdl" => Mopdl,
        "iso" => Iso,
        "stp" => Stp,
        "ipx" => Ipx,
        "netbeui" => Netbeui,
        "src" => Src,
        "dst" => Dst,
        "host" => Host,
        "net" => Net,
        "mask" => Mask,
        "port" => Port,
        "portrange" => Portrange,
        "gateway" => Gateway,
        "proto" => Proto,
        "protochain" => Protochain,
        "broadcast" => Broadcast,
        "multicast" => Multicast,
        "less" => Less,
        "greater" => Greater,
        "len" | "length" => Len,
        "vlan" => Vlan,
        "and" => And,
        "or" => Or,
        "not" => Not,
        "inbound" => Inbound,
        "outbound" => Outbound,
        "on" | "ifname" => Pf(PfKw::Ifname),
        "rset" | "ruleset" => Pf(PfKw::Ruleset),
        "rnr" | "rulenum" => Pf(PfKw::Rnr),
        "srnr" | "subrulenum" => Pf(PfKw::Srnr),
        "reason" => Pf(PfKw::Reason),
        "action" => Pf(PfKw::Action),
        "byte" | "ifindex" | "mpls" | "pppoed" | "pppoes" | "geneve" | "vxlan" | "radio" | "llc" | "type"
        | "subtype" | "dir" | "direction" | "addr1" | "addr2" | "addr3" | "addr4" | "ra" | "ta" | "esis" | "es-is"
        | "isis" | "is-is" | "l1" | "l2" | "iih" | "lsp" | "snp" | "csnp" | "psnp" | "clnp" | "fisu" | "lssu"
        | "lsu" | "msu" | "hfisu" | "hlssu" | "hmsu" | "sio" | "opc" | "dpc" | "sls" | "hsio" | "hopc" | "hdpc"
        | "hsls" | "atmfield" | "vpi" | "vci" | "lane" | "oamf4ec" | "oamf4sc" | "oam" | "oamf4" | "metac" | "bcc"
        | "sc" | "ilmic" | "connectmsg" | "metaconnect" | "decnet-src" | "decnet-dst" | "slip-in" | "ip6-proto" => {
            Unsupported
        }
        _ => return None,
    })
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

/// Length of the longest name (`[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?`) at the start.
fn id_len(s: &[u8]) -> usize {
    if !s.first().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return 0;
    }
    let run = s
        .iter()
        .take_while(|&&c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
        .count();
    // The last character may not be '-' or '_'.
    (1..=run)
        .rev()
        .find(|&n| s[n - 1] != b'-' && s[n - 1] != b'_')
        .unwrap_or(1)
}

/// Length of the longest number: decimal, octal with a leading 0, or hex with 0x.
fn num_len(s: &[u8]) -> usize {
    if s.len() > 2 && s[0] == b'0' && (s[1] == b'x' || s[1] == b'X') && is_hex(s[2]) {
        return 2 + s[2..].iter().take_while(|c| is_hex(**c)).count();
    }
    s.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Length of the longest dotted decimal with 2 to 4 parts.
fn hid_len(s: &[u8]) -> usize {
    let mut n = 0;
    let mut best = 0;
    for part in 0..4 {
        let d = s[n..].iter().take_while(|c| c.is_ascii_digit()).count();
        if d == 0 {
            break;
        }
        n += d;
        if part > 0 {
            best = n;
        }
        if s.get(n) != Some(&b'.') {
            break;
        }
        n += 1;
    }
    best
}

/// Length of the longest IPv6 address.
fn hid6_len(s: &[u8]) -> usize {
    let run = s.iter().take_while(|&&c| is_hex(c) || c == b':' || c == b'.').count();
    (2..=run)
        .rev()
        .find(|&n| {
            let t = &s[..n];
            t.contains(&b':') && std::str::from_utf8(t).is_ok_and(|t| t.parse::<std::net::Ipv6Addr>().is_ok())
        })
        .unwrap_or(0)
}

/// An Ethernet address at the start: `a:b:c:d:e:f`, `a-b-..`, `a.b.c.d.e.f` (one or two
/// hex digits each), `aabb.ccdd.eeff`, or twelve hex digits.
fn eid(s: &[u8]) -> Option<(usize, [u8; 6])> {
    let hexval = |t: &[u8]| {
        t.iter()
            .fold(0u32, |v, &c| (v << 4) | (c as char).to_digit(16).unwrap_or(0))
    };
    let mut best: Option<(usize, [u8; 6])> = None;
    for sep in [b':', b'-', b'.'] {
        let mut n = 0;
        let mut mac = [0u8; 6];
        let mut ok = true;
        for (i, byte) in mac.iter_mut().enumerate() {
            let d = s[n..].iter().take(2).take_while(|c| is_hex(**c)).count();
            if d == 0 {
                ok = false;
                break;
            }
            *byte = hexval(&s[n..n + d]) as u8;
            n += d;
            if i < 5 {
                if s.get(n) != Some(&sep) {
                    ok = false;
                    break;
                }
                n += 1;
            }
        }
        if ok && best.is_none_or(|(l, _)| n > l) {
            best = Some((n, mac));
        }
    }
    // aabb.ccdd.eeff (four digits each)
    let mut n = 0;
    let mut words = [0u32; 3];
    let mut ok = true;
    for (i, w) in words.iter_mut().enumerate() {
        let d = s[n..].iter().take(4).take_while(|c| is_hex(**c)).count();
        if d != 4 {
            ok = false;
            break;
        }
        *w = hexval(&s[n..n + d]);
        n += d;
        if i < 2 {
            if s.get(n) != Some(&b'.') {
                ok = false;
                break;
            }
            n += 1;
        }
    }
    if ok && best.is_none_or(|(l, _)| n > l) {
        let mut mac = [0u8; 6];
        for (i, w) in words.iter().enumerate() {
            mac[2 * i] = (w >> 8) as u8;
            mac[2 * i + 1] = *w as u8;
        }
        best = Some((n, mac));
    }
    // Twelve hex digits.
    if s.len() >= 12 && s[..12].iter().all(|c| is_hex(*c)) && best.is_none_or(|(l, _)| 12 > l) {
        let mut mac = [0u8; 6];
        for (i, m) in mac.iter_mut().enumerate() {
            *m = hexval(&s[2 * i..2 * i + 2]) as u8;
        }
        best = Some((12, mac));
    }
    best
}

/// The value of a number token, or libpcap's complaint about it.
fn number(text: &str) -> Result<u32, String> {
    let (digits, radix) = if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        (h, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        if text.bytes().any(|c| c > b'7') {
            return Err(format!("number {text} contains non-octal digit"));
        }
        (&text[1..], 8)
    } else {
        (text, 10)
    };
    u32::from_str_radix(digits, radix).map_err(|_| format!("number {text} overflows 32 bits"))
}

const OPS2: [&str; 8] = [">=", "<=", "!=", "==", "<<", ">>", "&&", "||"];
const OPS1: [&str; 17] = [
    "(", ")", "[", "]", ":", "+", "-", "*", "/", "%", "&", "|", "^", "!", "<", ">", "=",
];

/// Splits `expr` into tokens, ending with `Tok::End`.
pub fn lex(expr: &str) -> Result<Vec<Token>, Error> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        let push = |out: &mut Vec<Token>, tok: Tok, len: usize| {
            out.push(Token {
                tok,
                pos: i,
                text: expr[i..i + len].to_string(),
            });
        };
        if c == b'\\' {
            let n = 1 + rest[1..].iter().take_while(|&&c| !b" !()\n\t\r".contains(&c)).count();
            if n == 1 {
                return Err(Error::syntax(expr, i));
            }
            push(&mut out, Tok::Id(expr[i + 1..i + n].to_string()), n);
            i += n;
            continue;
        }
        let eid = eid(rest);
        let lens = [
            eid.map_or(0, |(n, _)| n),
            num_len(rest),
            hid_len(rest),
            hid6_len(rest),
            id_len(rest),
        ];
        let best = lens.iter().copied().max().unwrap_or(0);
        if best > 0 {
            let text = &expr[i..i + best];
            // The first kind (in the order above) that matches this longest length.
            let tok = match lens.iter().position(|&l| l == best) {
                Some(0) => Tok::Eid(eid.map(|(_, m)| m).unwrap_or_default()),
                Some(1) => Tok::Num(number(text).map_err(Error::Semantic)?),
                Some(2) => Tok::Hid(text.to_string()),
                Some(3) => Tok::Hid6(text.to_string()),
                _ => match (keyword(text), names::lexer_number(text)) {
                    (Some(k), _) => Tok::Kw(k),
                    (None, Some(n)) => Tok::Num(n),
                    (None, None) => Tok::Id(text.to_string()),
                },
            };
            push(&mut out, tok, best);
            i += best;
            continue;
        }
        if let Some(op) = OPS2.iter().find(|o| rest.starts_with(o.as_bytes())) {
            push(&mut out, Tok::Op(op), 2);
            i += 2;
            continue;
        }
        if let Some(op) = OPS1.iter().find(|o| rest.starts_with(o.as_bytes())) {
            push(&mut out, Tok::Op(op), 1);
            i += 1;
            continue;
        }
        return Err(Error::syntax(expr, i));
    }
    out.push(Token {
        tok: Tok::End,
        pos: expr.len(),
        text: String::new(),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn longest_match() {
        use Tok::*;
        assert_eq!(
            toks("ip[0:2]"),
            [Tok::Kw(super::Kw::Ip), Op("["), Num(0), Op(":"), Num(2), Op("]"), End]
        );
        assert_eq!(toks("len-1"), [Id("len-1".into()), End]);
        assert_eq!(
            toks("ip[0]-1"),
            [Tok::Kw(super::Kw::Ip), Op("["), Num(0), Op("]"), Op("-"), Num(1), End]
        );
        assert_eq!(toks("10.1"), [Hid("10.1".into()), End]);
        assert_eq!(toks("10.1.2"), [Hid("10.1.2".into()), End]);
        assert_eq!(toks("102.304.506"), [Hid("102.304.506".into()), End]);
        assert_eq!(toks("1.2.3.4.5.6"), [Eid([1, 2, 3, 4, 5, 6]), End]);
        assert_eq!(toks("1.2.3.4.5"), [Id("1.2.3.4.5".into()), End]);
        assert_eq!(toks("aabbccddeeff"), [Eid([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]), End]);
        assert_eq!(toks("0102.0304.0506"), [Eid([1, 2, 3, 4, 5, 6]), End]);
        assert_eq!(toks("123456"), [Num(123456), End]);
        assert_eq!(toks("0x1f 010"), [Num(31), Num(8), End]);
        assert_eq!(toks("fe80::1"), [Hid6("fe80::1".into()), End]);
        assert_eq!(toks("::1"), [Hid6("::1".into()), End]);
        assert_eq!(toks("1:2:3:4:5:6:7:8"), [Hid6("1:2:3:4:5:6:7:8".into()), End]);
        assert_eq!(toks("1:2:3:4:5:6"), [Eid([1, 2, 3, 4, 5, 6]), End]);
        assert_eq!(
            toks("\\tcp tcp-syn tcp-synx"),
            [Id("tcp".into()), Num(2), Id("tcp-synx".into()), End]
        );
        assert_eq!(
            toks("a&&b||!c"),
            [
                Id("a".into()),
                Op("&&"),
                Id("b".into()),
                Op("||"),
                Op("!"),
                Id("c".into()),
                End
            ]
        );
        assert_eq!(toks("5and"), [Id("5and".into()), End]);
        assert!(lex("09").is_err());
        assert!(lex("4294967296").is_err());
        assert_eq!(toks("4294967295"), [Num(u32::MAX), End]);
        assert!(lex("ip[0] = $").is_err());
    }
}
