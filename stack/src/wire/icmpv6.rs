//! ICMPv6 (RFC 4443): the message header, echo, and the error messages.

use std::net::Ipv6Addr;

use super::checksum::cksum6;
use super::ip6ext::NH_ICMPV6;
use super::{be16, be32, Error, Result};

pub const DST_UNREACH: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const PARAM_PROB: u8 = 4;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const MLD_LISTENER_QUERY: u8 = 130;
pub const MLD_LISTENER_REPORT: u8 = 131;
pub const MLD_LISTENER_DONE: u8 = 132;
pub const ND_ROUTER_SOLICIT: u8 = 133;
pub const ND_ROUTER_ADVERT: u8 = 134;
pub const ND_NEIGHBOR_SOLICIT: u8 = 135;
pub const ND_NEIGHBOR_ADVERT: u8 = 136;
pub const ND_REDIRECT: u8 = 137;
pub const MLDV2_LISTENER_REPORT: u8 = 143;

/// Codes of destination unreachable.
pub const UNREACH_NOROUTE: u8 = 0;
pub const UNREACH_ADMIN: u8 = 1;
pub const UNREACH_BEYONDSCOPE: u8 = 2;
pub const UNREACH_ADDR: u8 = 3;
pub const UNREACH_NOPORT: u8 = 4;
/// Codes of time exceeded.
pub const TIMXCEED_INTRANS: u8 = 0;
pub const TIMXCEED_REASS: u8 = 1;
/// Codes of parameter problem.
pub const PARAMPROB_HEADER: u8 = 0;
pub const PARAMPROB_NEXTHEADER: u8 = 1;
pub const PARAMPROB_OPTION: u8 = 2;

pub const HEADER_LEN: usize = 8;

/// Whether a type is an error message (RFC 4443 2.1: types below 128).
pub fn is_error(t: u8) -> bool {
    t < 128
}

/// A view of an ICMPv6 message.
#[derive(Debug, Clone, Copy)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Checks that the 8-byte header is there.
    pub fn new_checked(buf: T) -> Result<Self> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Icmpv6Packet { buf })
    }
    pub fn msg_type(&self) -> u8 {
        self.buf.as_ref()[0]
    }
    pub fn code(&self) -> u8 {
        self.buf.as_ref()[1]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }
    /// The second word: echo id and sequence, the MTU of packet too big, the pointer of
    /// a parameter problem.
    pub fn word(&self) -> u32 {
        be32(self.buf.as_ref(), 4)
    }
    pub fn echo_ident(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }
    pub fn echo_seq(&self) -> u16 {
        be16(self.buf.as_ref(), 6)
    }
    /// What follows the first 8 bytes: echo data, or the invoking packet of an error.
    pub fn body(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
    pub fn bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }
    /// Whether the checksum verifies under the pseudo-header.
    pub fn verify(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        cksum6(src, dst, NH_ICMPV6, self.buf.as_ref()) == 0
    }
}

/// Fills in the checksum of a whole ICMPv6 message in `m` (its checksum field is
/// overwritten).
pub fn fill_checksum(m: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
    m[2] = 0;
    m[3] = 0;
    let c = cksum6(src, dst, NH_ICMPV6, m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
}

/// The messages the stack sends that are not ND or MLD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
    EchoRequest { ident: u16, seq: u16, data: &'a [u8] },
    EchoReply { ident: u16, seq: u16, data: &'a [u8] },
    DstUnreach { code: u8, invoking: &'a [u8] },
    PacketTooBig { mtu: u32, invoking: &'a [u8] },
    TimeExceeded { code: u8, invoking: &'a [u8] },
    ParamProblem { code: u8, pointer: u32, invoking: &'a [u8] },
}

impl<'a> Icmpv6Repr<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &'a Icmpv6Packet<&'a T>) -> Result<Icmpv6Repr<'a>> {
        let b = p.buf.as_ref();
        let body = &b[HEADER_LEN..];
        let (ident, seq, w) = (be16(b, 4), be16(b, 6), be32(b, 4));
        Ok(match b[0] {
            ECHO_REQUEST => Icmpv6Repr::EchoRequest { ident, seq, data: body },
            ECHO_REPLY => Icmpv6Repr::EchoReply { ident, seq, data: body },
            DST_UNREACH => Icmpv6Repr::DstUnreach {
                code: b[1],
                invoking: body,
            },
            PACKET_TOO_BIG => Icmpv6Repr::PacketTooBig { mtu: w, invoking: body },
            TIME_EXCEEDED => Icmpv6Repr::TimeExceeded {
                code: b[1],
                invoking: body,
            },
            PARAM_PROB => Icmpv6Repr::ParamProblem {
                code: b[1],
                pointer: w,
                invoking: body,
            },
            _ => return Err(Error::Malformed),
        })
    }

    pub fn len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => data.len(),
                Icmpv6Repr::DstUnreach { invoking, .. }
                | Icmpv6Repr::PacketTooBig { invoking, .. }
                | Icmpv6Repr::TimeExceeded { invoking, .. }
                | Icmpv6Repr::ParamProblem { invoking, .. } => invoking.len(),
            }
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the message into `m` (`len()` bytes) with its checksum.
    pub fn emit(&self, m: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
        let (t, code, word, rest): (u8, u8, u32, &[u8]) = match *self {
            Icmpv6Repr::EchoRequest { ident, seq, data } => {
                (ECHO_REQUEST, 0, (u32::from(ident) << 16) | u32::from(seq), data)
            }
            Icmpv6Repr::EchoReply { ident, seq, data } => {
                (ECHO_REPLY, 0, (u32::from(ident) << 16) | u32::from(seq), data)
            }
            Icmpv6Repr::DstUnreach { code, invoking } => (DST_UNREACH, code, 0, invoking),
            Icmpv6Repr::PacketTooBig { mtu, invoking } => (PACKET_TOO_BIG, 0, mtu, invoking),
            Icmpv6Repr::TimeExceeded { code, invoking } => (TIME_EXCEEDED, code, 0, invoking),
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                invoking,
            } => (PARAM_PROB, code, pointer, invoking),
        };
        m[0] = t;
        m[1] = code;
        m[4..8].copy_from_slice(&word.to_be_bytes());
        m[HEADER_LEN..HEADER_LEN + rest.len()].copy_from_slice(rest);
        fill_checksum(&mut m[..HEADER_LEN + rest.len()], src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_round_trip_and_checksum() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let r = Icmpv6Repr::EchoRequest {
            ident: 7,
            seq: 9,
            data: b"hello",
        };
        let mut m = vec![0u8; r.len()];
        r.emit(&mut m, &s, &d);
        let p = Icmpv6Packet::new_checked(&m[..]).unwrap();
        assert!(p.verify(&s, &d));
        assert!(!p.verify(&d, &"::1".parse().unwrap()));
        assert_eq!((p.echo_ident(), p.echo_seq()), (7, 9));
        assert_eq!(Icmpv6Repr::parse(&p).unwrap(), r);
    }

    #[test]
    fn errors_carry_their_word() {
        let s = Ipv6Addr::LOCALHOST;
        let inv = [0x60u8; 48];
        let r = Icmpv6Repr::ParamProblem {
            code: PARAMPROB_HEADER,
            pointer: 40,
            invoking: &inv,
        };
        let mut m = vec![0u8; r.len()];
        r.emit(&mut m, &s, &s);
        let p = Icmpv6Packet::new_checked(&m[..]).unwrap();
        assert_eq!(p.word(), 40);
        assert_eq!(Icmpv6Repr::parse(&p).unwrap(), r);
        assert!(is_error(PARAM_PROB) && !is_error(ECHO_REPLY));
        assert_eq!(Icmpv6Packet::new_checked(&m[..7]).unwrap_err(), Error::Truncated);
    }
}
