//! The pcap-filter grammar, parsed by recursive descent with code generated as each
//! primitive is recognised, left to right, as libpcap's parser does (that order matters:
//! `vlan` moves the offsets of whatever follows it).
//!
//! ```text
//! expr     := operand { (and | or | && | ||) operand }     (no precedence: left to right)
//! operand  := (not | !) operand | '(' expr ')' | term | id
//! term     := [proto] [dir] [kind] id | proto | [proto] proto id | [proto] broadcast
//!           | [proto] multicast | less N | greater N | vlan [N] | arith relop arith
//! id       := number | address | address/len | address mask address | name
//! ```
//!
//! A bare `id` after `and`/`or` takes the qualifiers of the term before it: `host a or b`
//! is `host a or host b`, `tcp port 80 or 443` is `tcp port 80 or tcp port 443`.

use std::net::{IpAddr, Ipv6Addr};

use pktbox_stack::wire::bpf::*;

use super::gen::{Addr, Arth, Dir, Gen, PfArg, Qual};
use super::ir::{Cond, Val};
use super::lex::{Kw, Tok, Token};
use super::names::{self, PortProto};
use super::Error;

/// What an identifier with no qualifiers of its own stands for here.
#[derive(Debug, Clone, Copy)]
enum Inherit {
    /// Nothing before it: a bare identifier is a syntax error.
    Nothing,
    /// The term before it has no qualifiers to lend (`ip and 10.0.0.1`).
    Error,
    Qual(Qual),
}

pub struct Parser<'a> {
    expr: &'a str,
    toks: Vec<Token>,
    i: usize,
    /// How deeply parentheses, negations and brackets nest here.
    depth: usize,
    pub gen: Gen,
}

/// Deeper nesting than any filter needs; it keeps the recursion bounded.
const MAX_DEPTH: usize = 200;

fn too_complex() -> Error {
    Error::Semantic("expression too complex".into())
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Semantic(msg.into())
}

fn is_proto(k: Kw) -> bool {
    use Kw::*;
    matches!(
        k,
        Link | Ip
            | Ip6
            | Arp
            | Rarp
            | Tcp
            | Udp
            | Icmp
            | Icmp6
            | Igmp
            | Igrp
            | Pim
            | Vrrp
            | Carp
            | Sctp
            | Ah
            | Esp
            | Atalk
            | Aarp
            | Decnet
            | Lat
            | Sca
            | Moprc
            | Mopdl
            | Iso
            | Stp
            | Ipx
            | Netbeui
    )
}

const RELOPS: [&str; 7] = [">", ">=", "=", "==", "<", "<=", "!="];
const ARITH_OPS: [&str; 10] = ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"];

fn is_relop(t: &Tok) -> bool {
    RELOPS.iter().any(|o| t.is_op(o))
}

fn is_arith_op(t: &Tok) -> bool {
    ARITH_OPS.iter().any(|o| t.is_op(o))
}

/// An IPv4 address or prefix of one (`10.1`): its value and how many bits were given.
fn atoin(s: &str) -> Result<(u32, u32), Error> {
    let mut v: u32 = 0;
    let mut len = 0;
    for part in s.split('.') {
        let n: u32 = part.parse().map_err(|_| bad(format!("invalid IPv4 address '{s}'")))?;
        if n > 255 {
            return Err(bad(format!("invalid IPv4 address '{s}'")));
        }
        v = (v << 8) | n;
        len += 8;
    }
    Ok((v, len))
}

fn shift_up(v: u32, len: u32) -> u32 {
    v.checked_shl(32 - len).unwrap_or(0)
}

fn mask_of(len: u32) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

fn mask6_of(len: u32) -> [u8; 16] {
    (u128::MAX.checked_shl(128 - len).unwrap_or(0)).to_be_bytes()
}

fn port_proto(q: &Qual, what: &str) -> Result<PortProto, Error> {
    Ok(match q.proto {
        None => PortProto::Any,
        Some(Kw::Tcp) => PortProto::Tcp,
        Some(Kw::Udp) => PortProto::Udp,
        Some(Kw::Sctp) => PortProto::Sctp,
        _ => return Err(bad(format!("illegal qualifier of '{what}'"))),
    })
}

/// The transport a port name allows under the qualifier's, or libpcap's complaint.
fn merge_port_proto(want: PortProto, found: PortProto, what: &str) -> Result<PortProto, Error> {
    let name = |p| match p {
        PortProto::Tcp => "tcp",
        PortProto::Udp => "udp",
        _ => "sctp",
    };
    match (want, found) {
        (PortProto::Any, f) => Ok(f),
        (w, PortProto::Any) => Ok(w),
        (w, f) if w == f => Ok(w),
        (_, f) => Err(bad(format!("{what} is {}", name(f)))),
    }
}

fn check_port(p: u32) -> Result<u32, Error> {
    if p > 65535 {
        Err(bad(format!("illegal port number {p} > 65535")))
    } else {
        Ok(p)
    }
}

impl<'a> Parser<'a> {
    pub fn new(expr: &'a str, toks: Vec<Token>, gen: Gen) -> Self {
        Parser {
            expr,
            toks,
            i: 0,
            depth: 0,
            gen,
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        self.i += 1;
        t
    }

    fn syntax(&self) -> Error {
        Error::syntax(self.expr, self.toks[self.i.min(self.toks.len() - 1)].pos)
    }

    fn expect_op(&mut self, op: &str) -> Result<(), Error> {
        if self.peek().is_op(op) {
            self.next();
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// The whole expression; None when it is empty (every packet matches).
    pub fn program(&mut self) -> Result<Option<Cond>, Error> {
        if *self.peek() == Tok::End {
            return Ok(None);
        }
        let (c, _) = self.expr(Inherit::Nothing)?;
        if *self.peek() != Tok::End {
            return Err(self.syntax());
        }
        Ok(Some(c))
    }

    fn expr(&mut self, ctx: Inherit) -> Result<(Cond, Inherit), Error> {
        let (mut c, mut q) = self.operand(ctx)?;
        loop {
            let and = match self.peek() {
                Tok::Kw(Kw::And) => true,
                t if t.is_op("&&") => true,
                Tok::Kw(Kw::Or) => false,
                t if t.is_op("||") => false,
                _ => return Ok((c, q)),
            };
            self.next();
            let (c2, q2) = self.operand(q)?;
            c = if and {
                self.gen.g.and(c, c2)
            } else {
                self.gen.g.or(c, c2)
            };
            q = q2;
        }
    }

    fn operand(&mut self, ctx: Inherit) -> Result<(Cond, Inherit), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(too_complex());
        }
        let r = self.operand_inner(ctx);
        self.depth -= 1;
        r
    }

    fn operand_inner(&mut self, ctx: Inherit) -> Result<(Cond, Inherit), Error> {
        match self.peek().clone() {
            Tok::Kw(Kw::Not) => {
                self.next();
                let (c, q) = self.operand(ctx)?;
                Ok((self.gen.g.not(c), q))
            }
            t if t.is_op("!") => {
                self.next();
                let (c, q) = self.operand(ctx)?;
                Ok((self.gen.g.not(c), q))
            }
            t if t.is_op("(") => {
                if self.paren_is_arith() {
                    return Ok((self.relation()?, Inherit::Error));
                }
                self.next();
                let r = self.expr(ctx)?;
                self.expect_op(")")?;
                Ok(r)
            }
            Tok::Kw(Kw::Len) => Ok((self.relation()?, Inherit::Error)),
            t if t.is_op("-") => Ok((self.relation()?, Inherit::Error)),
            Tok::Num(_) if is_arith_op(self.peek_at(1)) || is_relop(self.peek_at(1)) => {
                Ok((self.relation()?, Inherit::Error))
            }
            Tok::Kw(_) => self.term(),
            Tok::Num(_) | Tok::Hid(_) | Tok::Hid6(_) | Tok::Eid(_) | Tok::Id(_) => match ctx {
                Inherit::Nothing => Err(self.syntax()),
                Inherit::Error => Err(bad("syntax error in filter expression")),
                Inherit::Qual(q) => Ok((self.id(q)?, ctx)),
            },
            _ => Err(self.syntax()),
        }
    }

    /// Whether the parenthesis here opens an arithmetic expression (`(ip[0] + 1) = 2`)
    /// rather than a boolean one: what follows its closing parenthesis decides.
    fn paren_is_arith(&self) -> bool {
        let mut depth = 0;
        for t in &self.toks[self.i..] {
            if t.tok.is_op("(") {
                depth += 1;
            } else if t.tok.is_op(")") {
                depth -= 1;
                if depth == 0 {
                    continue;
                }
            }
            if depth == 0 {
                return is_relop(&t.tok) || is_arith_op(&t.tok);
            }
            if t.tok == Tok::End {
                return false;
            }
        }
        false
    }

    /// A term that starts with a keyword.
    fn term(&mut self) -> Result<(Cond, Inherit), Error> {
        let start = self.i;
        let mut proto = None;
        if let Tok::Kw(k) = *self.peek() {
            if is_proto(k) {
                proto = Some(k);
                self.next();
                if self.peek().is_op("[") {
                    self.i = start;
                    return Ok((self.relation()?, Inherit::Error));
                }
            }
        }
        match *self.peek() {
            Tok::Kw(Kw::Broadcast) => {
                self.next();
                return Ok((self.gen.broadcast(proto)?, Inherit::Error));
            }
            Tok::Kw(Kw::Multicast) => {
                self.next();
                return Ok((self.gen.multicast(proto)?, Inherit::Error));
            }
            _ => {}
        }
        if proto.is_none() {
            match *self.peek() {
                Tok::Kw(k @ (Kw::Less | Kw::Greater)) => {
                    self.next();
                    let Tok::Num(n) = *self.peek() else {
                        return Err(self.syntax());
                    };
                    self.next();
                    let c = if k == Kw::Less {
                        self.gen.less(n)
                    } else {
                        self.gen.greater(n)
                    };
                    return Ok((c, Inherit::Error));
                }
                Tok::Kw(Kw::Vlan) => {
                    self.next();
                    let id = self.pnum();
                    return Ok((self.gen.vlan(id)?, Inherit::Error));
                }
                Tok::Kw(Kw::Pf(k)) => {
                    self.next();
                    let arg = self.next();
                    let arg = match arg.tok {
                        Tok::Num(n) => PfArg::Num(n),
                        Tok::Id(_) | Tok::Hid(_) => PfArg::Name(arg.text),
                        _ => {
                            self.i -= 1;
                            return Err(self.syntax());
                        }
                    };
                    return Ok((self.gen.pf(k, arg)?, Inherit::Error));
                }
                Tok::Kw(k @ (Kw::Inbound | Kw::Outbound)) => {
                    self.next();
                    return Ok((self.gen.inbound(k == Kw::Inbound)?, Inherit::Error));
                }
                Tok::Kw(Kw::Unsupported) => {
                    let t = &self.toks[self.i];
                    return Err(bad(format!("'{}' is not supported by this filter compiler", t.text)));
                }
                _ => {}
            }
        }
        let dir = self.dir()?;
        let addr = match *self.peek() {
            Tok::Kw(Kw::Host) => Addr::Host,
            Tok::Kw(Kw::Net) => Addr::Net,
            Tok::Kw(Kw::Port) => Addr::Port,
            Tok::Kw(Kw::Portrange) => Addr::Portrange,
            Tok::Kw(Kw::Gateway) => Addr::Gateway,
            Tok::Kw(Kw::Proto) if dir == Dir::Default => Addr::Proto,
            Tok::Kw(Kw::Protochain) if dir == Dir::Default => Addr::Protochain,
            _ => Addr::Default,
        };
        if addr != Addr::Default {
            self.next();
        }
        if dir == Dir::Default && addr == Addr::Default {
            let Some(p) = proto else {
                return Err(self.syntax());
            };
            // A protocol alone ends its term (`ip 10.0.0.1` does not parse).
            let ends = matches!(self.peek(), Tok::End | Tok::Kw(Kw::And | Kw::Or))
                || [")", "&&", "||"].iter().any(|o| self.peek().is_op(o));
            if !ends {
                return Err(self.syntax());
            }
            return Ok((self.gen.proto_abbrev(p)?, Inherit::Error));
        }
        let q = Qual { proto, dir, addr };
        Ok((self.id(q)?, Inherit::Qual(q)))
    }

    /// An optional number after `vlan`, possibly in parentheses.
    fn pnum(&mut self) -> Option<u32> {
        let mut n = 0;
        while self.peek_at(n).is_op("(") {
            n += 1;
        }
        let Tok::Num(v) = *self.peek_at(n) else {
            return None;
        };
        if (0..n).any(|j| !self.peek_at(n + 1 + j).is_op(")")) {
            return None;
        }
        self.i += 2 * n + 1;
        Some(v)
    }

    /// `src`, `dst`, `src or dst`, `src and dst` (either order), or nothing.
    fn dir(&mut self) -> Result<Dir, Error> {
        let first = match self.peek() {
            Tok::Kw(Kw::Src) => Dir::Src,
            Tok::Kw(Kw::Dst) => Dir::Dst,
            _ => return Ok(Dir::Default),
        };
        self.next();
        let other = if first == Dir::Src { Kw::Dst } else { Kw::Src };
        let join = match self.peek() {
            Tok::Kw(Kw::Or) => Some(Dir::SrcOrDst),
            t if t.is_op("||") => Some(Dir::SrcOrDst),
            Tok::Kw(Kw::And) => Some(Dir::SrcAndDst),
            t if t.is_op("&&") => Some(Dir::SrcAndDst),
            _ => None,
        };
        match join {
            Some(d) if *self.peek_at(1) == Tok::Kw(other) => {
                self.next();
                self.next();
                Ok(d)
            }
            _ => Ok(first),
        }
    }

    /// An identifier with its qualifiers: `(a or b)` and `not a` keep them.
    fn id(&mut self, q: Qual) -> Result<Cond, Error> {
        let t = self.peek().clone();
        if t.is_op("(") || t.is_op("!") || t == Tok::Kw(Kw::Not) {
            return Ok(self.operand(Inherit::Qual(q))?.0);
        }
        let tok = self.next();
        match tok.tok {
            Tok::Num(v) => self.number(v, q),
            Tok::Hid(s) => {
                if self.peek().is_op("/") {
                    self.next();
                    let Tok::Num(len) = *self.peek() else {
                        return Err(self.syntax());
                    };
                    self.next();
                    let (n, nlen) = atoin(&s)?;
                    if len > 32 {
                        return Err(bad("mask length must be <= 32"));
                    }
                    self.net4(shift_up(n, nlen), mask_of(len), format!("{s}/{len}"), q)
                } else if *self.peek() == Tok::Kw(Kw::Mask) {
                    self.next();
                    let Tok::Hid(m) = self.peek().clone() else {
                        return Err(self.syntax());
                    };
                    self.next();
                    let (n, nlen) = atoin(&s)?;
                    let (mv, mlen) = atoin(&m)?;
                    self.net4(shift_up(n, nlen), shift_up(mv, mlen), format!("{s} mask {m}"), q)
                } else {
                    let (v, len) = atoin(&s)?;
                    match q.addr {
                        Addr::Port => Err(bad("'port' modifier applied to ip host")),
                        Addr::Portrange => Err(bad("'portrange' modifier applied to ip host")),
                        Addr::Proto => Err(bad("'proto' modifier applied to ip host")),
                        Addr::Protochain => Err(bad("'protochain' modifier applied to ip host")),
                        Addr::Gateway => Err(bad("'gateway' requires a name")),
                        _ if q.proto == Some(Kw::Link) => Err(bad("illegal link layer address")),
                        _ => self.gen.host4(shift_up(v, len), mask_of(len), q),
                    }
                }
            }
            Tok::Hid6(s) => {
                let addr: Ipv6Addr = s.parse().map_err(|_| bad(format!("invalid IPv6 address '{s}'")))?;
                let (len, text) = if self.peek().is_op("/") {
                    self.next();
                    let Tok::Num(len) = *self.peek() else {
                        return Err(self.syntax());
                    };
                    self.next();
                    (Some(len), format!("{s}/{len}"))
                } else {
                    (None, s.clone())
                };
                let masklen = len.unwrap_or(128);
                if masklen > 128 {
                    return Err(bad("mask length must be <= 128"));
                }
                let mask = mask6_of(masklen);
                let a = addr.octets();
                if a.iter().zip(&mask).any(|(a, m)| a & !m != 0) {
                    return Err(bad(format!("non-network bits set in \"{text}\"")));
                }
                match q.addr {
                    Addr::Default | Addr::Host | Addr::Net => {}
                    _ => return Err(bad("invalid qualifier against IPv6 address")),
                }
                if len.is_some() && q.addr != Addr::Net {
                    return Err(bad("Mask syntax for networks only"));
                }
                self.gen.host6(&a, &mask, q)
            }
            Tok::Eid(mac) => {
                if matches!(q.addr, Addr::Default | Addr::Host) && q.proto == Some(Kw::Link) {
                    self.gen.ether_host(&mac, q.dir)
                } else {
                    Err(bad("ethernet address used in non-ether expression"))
                }
            }
            Tok::Id(name) => self.name(&name, q),
            _ => {
                self.i -= 1;
                Err(self.syntax())
            }
        }
    }

    /// `net A/len` or `net A mask M`.
    fn net4(&mut self, n: u32, m: u32, text: String, q: Qual) -> Result<Cond, Error> {
        if n & !m != 0 {
            return Err(bad(format!("non-network bits set in \"{text}\"")));
        }
        if q.addr != Addr::Net {
            return Err(bad("Mask syntax for networks only"));
        }
        if q.proto == Some(Kw::Link) {
            return Err(bad("illegal link layer address"));
        }
        self.gen.host4(n, m, q)
    }

    /// A number after its qualifiers.
    fn number(&mut self, v: u32, q: Qual) -> Result<Cond, Error> {
        match q.addr {
            Addr::Default | Addr::Host | Addr::Net => {
                if q.proto == Some(Kw::Link) {
                    return Err(bad("illegal link layer address"));
                }
                let (mut v, mut mask) = (v, u32::MAX);
                if q.addr == Addr::Net {
                    // A short network number moves to the top: net 10 is 10.0.0.0/8.
                    while v != 0 && v & 0xff00_0000 == 0 {
                        v <<= 8;
                        mask <<= 8;
                    }
                }
                self.gen.host4(v, mask, q)
            }
            Addr::Port | Addr::Portrange => {
                let what = if q.addr == Addr::Port { "port" } else { "portrange" };
                let pp = port_proto(&q, what)?;
                let v = check_port(v)?;
                Ok(self.gen.port(v, v, q.addr == Addr::Portrange, pp, q.dir))
            }
            Addr::Proto => self.gen.proto(v, q.proto),
            Addr::Gateway => Err(bad("'gateway' requires a name")),
            Addr::Protochain => Err(bad("'protochain' is not supported by this filter compiler")),
        }
    }

    /// A name after its qualifiers: a host, a port, a protocol.
    fn name(&mut self, name: &str, q: Qual) -> Result<Cond, Error> {
        match q.addr {
            Addr::Net => Err(bad(format!("unknown network '{name}'"))),
            Addr::Default | Addr::Host => {
                if q.proto == Some(Kw::Link) {
                    let mac = names::ether_host(name).ok_or_else(|| bad(format!("unknown ether host '{name}'")))?;
                    return self.gen.ether_host(&mac, q.dir);
                }
                let all = names::host(name);
                if all.is_empty() {
                    return Err(bad(format!("unknown host '{name}'")));
                }
                let wanted: Vec<IpAddr> = all
                    .into_iter()
                    .filter(|a| match q.proto {
                        Some(Kw::Ip | Kw::Arp | Kw::Rarp) => a.is_ipv4(),
                        Some(Kw::Ip6) => a.is_ipv6(),
                        _ => true,
                    })
                    .collect();
                if wanted.is_empty() {
                    return Err(bad(format!("unknown host '{name}' for specified address family")));
                }
                let mut out: Option<Cond> = None;
                for a in wanted {
                    let c = match a {
                        IpAddr::V4(v4) => self.gen.host4(u32::from(v4), u32::MAX, q)?,
                        IpAddr::V6(v6) => self.gen.host6(&v6.octets(), &[0xff; 16], q)?,
                    };
                    out = Some(match out {
                        Some(prev) => self.gen.g.or(prev, c),
                        None => c,
                    });
                }
                out.ok_or_else(|| bad(format!("unknown host '{name}'")))
            }
            Addr::Port => {
                let pp = port_proto(&q, "port")?;
                let (p, found) = names::port(name).ok_or_else(|| bad(format!("unknown port '{name}'")))?;
                let pp = merge_port_proto(pp, found, &format!("port '{name}'"))?;
                let p = check_port(p)?;
                Ok(self.gen.port(p, p, false, pp, q.dir))
            }
            Addr::Portrange => {
                let pp = port_proto(&q, "portrange")?;
                let unknown = || bad(format!("unknown port in range '{name}'"));
                let (lo, hi) = match name.split_once('-') {
                    Some((a, b)) => {
                        let a = names::port_or_number(a).ok_or_else(unknown)?;
                        let b = names::port_or_number(b).ok_or_else(unknown)?;
                        let found = if a.1 == b.1 { a.1 } else { PortProto::Any };
                        ((a.0, found), (b.0, found))
                    }
                    None => {
                        let a = names::port(name).ok_or_else(unknown)?;
                        (a, a)
                    }
                };
                let pp = merge_port_proto(pp, lo.1, &format!("port in range '{name}'"))?;
                let (lo, hi) = (check_port(lo.0)?, check_port(hi.0)?);
                Ok(self.gen.port(lo, hi, true, pp, q.dir))
            }
            Addr::Proto => {
                let v = if q.proto == Some(Kw::Link) {
                    names::ether_proto(name).ok_or_else(|| bad(format!("unknown ether proto '{name}'")))?
                } else {
                    names::ip_proto(name).ok_or_else(|| bad(format!("unknown ip proto '{name}'")))?
                };
                self.gen.proto(v, q.proto)
            }
            Addr::Gateway => Err(bad("'gateway' is not supported by this filter compiler")),
            Addr::Protochain => Err(bad("'protochain' is not supported by this filter compiler")),
        }
    }

    /// `arith relop arith`.
    fn relation(&mut self) -> Result<Cond, Error> {
        let a = self.arith(0)?;
        let op = match self.peek() {
            Tok::Op(o) if RELOPS.contains(o) => *o,
            _ => return Err(self.syntax()),
        };
        self.next();
        let b = self.arith(0)?;
        Ok(self.gen.relation(op, a, b))
    }

    /// Binding strength of an arithmetic operator, C's order: | < ^ < & < shifts < + - < * / %.
    fn binding(t: &Tok) -> Option<(u8, u16)> {
        let Tok::Op(o) = t else {
            return None;
        };
        Some(match *o {
            "|" => (1, BPF_OR),
            "^" => (2, BPF_XOR),
            "&" => (3, BPF_AND),
            "<<" => (4, BPF_LSH),
            ">>" => (4, BPF_RSH),
            "+" => (5, BPF_ADD),
            "-" => (5, BPF_SUB),
            "*" => (6, BPF_MUL),
            "/" => (6, BPF_DIV),
            "%" => (6, BPF_MOD),
            _ => return None,
        })
    }

    /// An arithmetic expression whose operators bind more strongly than `min`.
    fn arith(&mut self, min: u8) -> Result<Arth, Error> {
        let mut a = self.arith_unary()?;
        while let Some((prec, op)) = Self::binding(self.peek()) {
            if prec <= min {
                break;
            }
            self.next();
            let b = self.arith(prec)?;
            a = self.gen.arith(op, a, b)?;
        }
        Ok(a)
    }

    fn arith_unary(&mut self) -> Result<Arth, Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(too_complex());
        }
        let r = self.arith_unary_inner();
        self.depth -= 1;
        let a = r?;
        if a.val.depth() > super::gen::MAX_VAL_DEPTH {
            return Err(too_complex());
        }
        Ok(a)
    }

    fn arith_unary_inner(&mut self) -> Result<Arth, Error> {
        let t = self.next();
        match t.tok {
            Tok::Num(n) => Ok(Arth {
                val: Val::Const(n),
                cond: None,
            }),
            Tok::Kw(Kw::Len) => Ok(Arth {
                val: Val::Len,
                cond: None,
            }),
            Tok::Op("-") => {
                let a = self.arith_unary()?;
                Ok(Arth {
                    val: Val::neg(a.val),
                    cond: a.cond,
                })
            }
            Tok::Op("(") => {
                let a = self.arith(0)?;
                self.expect_op(")")?;
                Ok(a)
            }
            Tok::Kw(k) if is_proto(k) && self.peek().is_op("[") => {
                self.next();
                let index = self.arith(0)?;
                let size = if self.peek().is_op(":") {
                    self.next();
                    match *self.peek() {
                        Tok::Num(n) => {
                            self.next();
                            n
                        }
                        _ => return Err(self.syntax()),
                    }
                } else {
                    1
                };
                self.expect_op("]")?;
                self.gen.load(k, index, size)
            }
            _ => {
                self.i -= 1;
                Err(self.syntax())
            }
        }
    }
}
