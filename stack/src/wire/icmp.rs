//! ICMP for IPv4 (RFC 792): the type and code constants (`netinet/ip_icmp.h`), a view of
//! the 8-byte header and what follows it, and a `Repr` with `parse` and `emit`.

use super::checksum::cksum;
use super::{be16, be32, Error, Result};

pub const ICMP_ECHOREPLY: u8 = 0;
pub const ICMP_UNREACH: u8 = 3;
pub const ICMP_SOURCEQUENCH: u8 = 4;
pub const ICMP_REDIRECT: u8 = 5;
pub const ICMP_ECHO: u8 = 8;
pub const ICMP_ROUTERADVERT: u8 = 9;
pub const ICMP_ROUTERSOLICIT: u8 = 10;
pub const ICMP_TIMXCEED: u8 = 11;
pub const ICMP_PARAMPROB: u8 = 12;
pub const ICMP_TSTAMP: u8 = 13;
pub const ICMP_TSTAMPREPLY: u8 = 14;
pub const ICMP_IREQ: u8 = 15;
pub const ICMP_IREQREPLY: u8 = 16;
pub const ICMP_MASKREQ: u8 = 17;
pub const ICMP_MASKREPLY: u8 = 18;
pub const ICMP_MAXTYPE: usize = 40;

/// Codes of ICMP_UNREACH.
pub const UNREACH_NET: u8 = 0;
pub const UNREACH_HOST: u8 = 1;
pub const UNREACH_PROTOCOL: u8 = 2;
pub const UNREACH_PORT: u8 = 3;
pub const UNREACH_NEEDFRAG: u8 = 4;
pub const UNREACH_SRCFAIL: u8 = 5;
pub const UNREACH_NET_UNKNOWN: u8 = 6;
pub const UNREACH_HOST_UNKNOWN: u8 = 7;
pub const UNREACH_NET_PROHIB: u8 = 9;
pub const UNREACH_HOST_PROHIB: u8 = 10;
pub const UNREACH_FILTER_PROHIB: u8 = 13;
/// The highest unreachable code RFC 1812 defines.
pub const UNREACH_MAXCODE: u8 = 15;
/// Codes of ICMP_TIMXCEED.
pub const TIMXCEED_INTRANS: u8 = 0;
pub const TIMXCEED_REASS: u8 = 1;
/// Codes of ICMP_REDIRECT.
pub const REDIRECT_NET: u8 = 0;
pub const REDIRECT_HOST: u8 = 1;

/// The header: type, code, checksum and the 4-byte rest of header.
pub const ICMP_HDR_LEN: usize = 8;
/// An error quotes at least the offending IP header (RFC 792): 8 + 20.
pub const ICMP_MINERRLEN: usize = ICMP_HDR_LEN + 20;

/// Whether a type is an error (no error is ever sent about one: RFC 1122 3.2.2).
pub fn is_error(t: u8) -> bool {
    matches!(
        t,
        ICMP_UNREACH | ICMP_SOURCEQUENCH | ICMP_REDIRECT | ICMP_TIMXCEED | ICMP_PARAMPROB
    )
}

/// A view of an ICMP message (header and data).
#[derive(Debug, Clone, Copy)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// A view without checks: the caller knows the buffer holds the 8-byte header.
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// A view over at least the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < ICMP_HDR_LEN {
            return Err(Error::Truncated);
        }
        Ok(IcmpPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    pub fn msg_type(&self) -> u8 {
        self.b()[0]
    }
    pub fn code(&self) -> u8 {
        self.b()[1]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 2)
    }
    /// Echo, timestamp and mask messages: the identifier.
    pub fn ident(&self) -> u16 {
        be16(self.b(), 4)
    }
    /// Echo, timestamp and mask messages: the sequence number.
    pub fn seq(&self) -> u16 {
        be16(self.b(), 6)
    }
    /// "Fragmentation needed" (RFC 1191): the next-hop MTU.
    pub fn next_mtu(&self) -> u16 {
        be16(self.b(), 6)
    }
    /// Redirect: the gateway.
    pub fn gateway(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::from(be32(self.b(), 4))
    }
    /// Parameter problem: the octet the problem is at.
    pub fn pointer(&self) -> u8 {
        self.b()[4]
    }
    /// The rest-of-header word as bytes.
    pub fn rest(&self) -> [u8; 4] {
        let b = self.b();
        [b[4], b[5], b[6], b[7]]
    }
    /// What follows the header: echo data, or the quoted datagram of an error.
    pub fn data(&self) -> &[u8] {
        &self.b()[ICMP_HDR_LEN..]
    }
    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        cksum(self.b()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[0] = t;
    }
    /// Computes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        let b = self.buffer.as_mut();
        b[2..4].copy_from_slice(&[0, 0]);
        let c = cksum(b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

/// A message as values: type, code, the rest-of-header word and the data after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpRepr<'a> {
    pub msg_type: u8,
    pub code: u8,
    pub rest: [u8; 4],
    pub data: &'a [u8],
}

impl<'a> IcmpRepr<'a> {
    /// An echo request or reply.
    pub fn echo(reply: bool, ident: u16, seq: u16, data: &'a [u8]) -> Self {
        let mut rest = [0u8; 4];
        rest[..2].copy_from_slice(&ident.to_be_bytes());
        rest[2..].copy_from_slice(&seq.to_be_bytes());
        IcmpRepr {
            msg_type: if reply { ICMP_ECHOREPLY } else { ICMP_ECHO },
            code: 0,
            rest,
            data,
        }
    }

    /// An error of type `t` and code `code` quoting `quote` (for "fragmentation needed",
    /// `mtu` goes in the low half of the rest-of-header word).
    pub fn error(t: u8, code: u8, mtu: u16, quote: &'a [u8]) -> Self {
        let mut rest = [0u8; 4];
        if t == ICMP_UNREACH && code == UNREACH_NEEDFRAG {
            rest[2..].copy_from_slice(&mtu.to_be_bytes());
        }
        IcmpRepr {
            msg_type: t,
            code,
            rest,
            data: quote,
        }
    }

    /// Reads a message whose checksum verifies (else `Malformed`); an error must quote a
    /// whole IP header (else `Truncated`).
    pub fn parse(p: &IcmpPacket<&'a [u8]>) -> Result<IcmpRepr<'a>> {
        let b: &'a [u8] = p.buffer;
        if b.len() < ICMP_HDR_LEN {
            return Err(Error::Truncated);
        }
        if cksum(b) != 0 {
            return Err(Error::Malformed);
        }
        if is_error(b[0]) && b.len() < ICMP_MINERRLEN {
            return Err(Error::Truncated);
        }
        Ok(IcmpRepr {
            msg_type: b[0],
            code: b[1],
            rest: [b[4], b[5], b[6], b[7]],
            data: &b[ICMP_HDR_LEN..],
        })
    }

    pub fn buffer_len(&self) -> usize {
        ICMP_HDR_LEN + self.data.len()
    }

    /// Writes the message and its checksum into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let n = self.buffer_len();
        let Some(b) = buf.get_mut(..n) else {
            return Err(Error::Truncated);
        };
        b[0] = self.msg_type;
        b[1] = self.code;
        b[4..8].copy_from_slice(&self.rest);
        b[8..].copy_from_slice(self.data);
        IcmpPacket::new_unchecked(b).fill_checksum();
        Ok(())
    }

    /// The message as a new buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.buffer_len()];
        // The buffer is exactly long enough.
        let _ = self.emit(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_round_trip_and_known_checksum() {
        let r = IcmpRepr::echo(false, 0x1234, 1, b"abcd");
        let v = r.to_vec();
        // By hand: 0x0800 + 0x1234 + 0x0001 + 0x6162 + 0x6364 = 0xdefb -> !0xdefb.
        assert_eq!(u16::from_be_bytes([v[2], v[3]]), !0xdefbu16);
        let p = IcmpPacket::new_checked(&v[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(
            (p.msg_type(), p.ident(), p.seq(), p.data()),
            (ICMP_ECHO, 0x1234, 1, &b"abcd"[..])
        );
        assert_eq!(IcmpRepr::parse(&p), Ok(r));
        let mut bad = v.clone();
        bad[9] ^= 1;
        assert_eq!(
            IcmpRepr::parse(&IcmpPacket::new_unchecked(&bad[..])),
            Err(Error::Malformed)
        );
        assert_eq!(r.emit(&mut [0u8; 11]), Err(Error::Truncated));
    }

    #[test]
    fn errors_carry_mtu_and_quote() {
        let quote = [0x45u8; 28];
        let r = IcmpRepr::error(ICMP_UNREACH, UNREACH_NEEDFRAG, 1280, &quote);
        let v = r.to_vec();
        let p = IcmpPacket::new_checked(&v[..]).unwrap();
        assert_eq!((p.next_mtu(), p.data().len()), (1280, 28));
        assert_eq!(IcmpRepr::parse(&p), Ok(r));
        // An error quoting less than an IP header is refused.
        let short = IcmpRepr::error(ICMP_TIMXCEED, TIMXCEED_INTRANS, 0, &quote[..19]).to_vec();
        assert_eq!(
            IcmpRepr::parse(&IcmpPacket::new_unchecked(&short[..])),
            Err(Error::Truncated)
        );
        assert!(is_error(ICMP_REDIRECT) && !is_error(ICMP_ECHO));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let v = IcmpRepr::echo(true, 1, 2, &[]).to_vec();
        for n in 0..v.len() {
            assert_eq!(IcmpPacket::new_checked(&v[..n]).err(), Some(Error::Truncated));
            assert!(IcmpRepr::parse(&IcmpPacket::new_unchecked(&v[..n])).is_err());
        }
    }
}
