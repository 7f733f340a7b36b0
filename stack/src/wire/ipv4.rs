//! IPv4 (RFC 791): the header view with its options walker, the header's `Repr`, the
//! protocol numbers (`netinet/in.h`) and the netmask of a prefix length.
//!
//! `Ipv4Packet::new_checked` accepts a header whose version is 4, whose header length is
//! at least 20 and inside the buffer, and whose total length covers the header and is
//! inside the buffer (the buffer may be longer: Ethernet pads short frames). The stack's
//! input checks these and counts each failure under its own name, then reads through
//! `new_unchecked`; its accessors only ever read the first 20 bytes, so they need no more
//! than a 20-byte buffer.

use std::net::Ipv4Addr;

use super::checksum::cksum;
use super::{be16, Error, Result};

pub const IPVERSION: u8 = 4;
/// The header without options.
pub const IP_HDR_LEN: usize = 20;
/// The longest header (IHL 15).
pub const IP_MAXHDR_LEN: usize = 60;
/// Don't-fragment and more-fragments bits of ip_off, and the offset's mask.
pub const IP_DF: u16 = 0x4000;
pub const IP_MF: u16 = 0x2000;
pub const IP_OFFMASK: u16 = 0x1fff;
pub const IP_MAXPACKET: usize = 65535;

/// Protocol numbers (IANA; `IPPROTO_*`), shared with IPv6's next header.
pub const IPPROTO_HOPOPTS: u8 = 0;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_IGMP: u8 = 2;
pub const IPPROTO_IPV4: u8 = 4;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_IPV6: u8 = 41;
pub const IPPROTO_ROUTING: u8 = 43;
pub const IPPROTO_FRAGMENT: u8 = 44;
pub const IPPROTO_GRE: u8 = 47;
pub const IPPROTO_ESP: u8 = 50;
pub const IPPROTO_AH: u8 = 51;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_NONE: u8 = 59;
pub const IPPROTO_DSTOPTS: u8 = 60;
pub const IPPROTO_SCTP: u8 = 132;
pub const IPPROTO_RAW: u8 = 255;

/// IP options (RFC 791 section 3.1).
pub const IPOPT_EOL: u8 = 0;
pub const IPOPT_NOP: u8 = 1;
pub const IPOPT_RR: u8 = 7;
pub const IPOPT_TS: u8 = 68;
pub const IPOPT_SECURITY: u8 = 130;
pub const IPOPT_LSRR: u8 = 131;
pub const IPOPT_SSRR: u8 = 137;
pub const IPOPT_RA: u8 = 148;

/// The netmask of a prefix length (lengths above 32 count as 32).
pub fn len_mask(len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0))
}

/// A view of an IPv4 header at the start of a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// A view without checks: the caller knows the buffer holds at least the fixed header
    /// (accessors past that point are bounded by the buffer, not trusted).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// A view over a header that holds together (see the module's text).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Ipv4Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// Whether the lengths hold together and the version is 4.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < IP_HDR_LEN {
            return Err(Error::Truncated);
        }
        if b[0] >> 4 != IPVERSION || self.hlen() < IP_HDR_LEN {
            return Err(Error::Malformed);
        }
        if self.hlen() > b.len() || self.total_len() > b.len() {
            return Err(Error::Truncated);
        }
        if self.total_len() < self.hlen() {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn version(&self) -> u8 {
        self.b()[0] >> 4
    }
    /// The header's length in bytes (IHL * 4).
    pub fn hlen(&self) -> usize {
        usize::from(self.b()[0] & 0x0f) * 4
    }
    pub fn tos(&self) -> u8 {
        self.b()[1]
    }
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.b(), 2))
    }
    pub fn id(&self) -> u16 {
        be16(self.b(), 4)
    }
    /// ip_off: the flags and the fragment offset in 8-byte units.
    pub fn off(&self) -> u16 {
        be16(self.b(), 6)
    }
    /// The fragment offset in bytes.
    pub fn frag_offset(&self) -> usize {
        usize::from(self.off() & IP_OFFMASK) * 8
    }
    pub fn dont_frag(&self) -> bool {
        self.off() & IP_DF != 0
    }
    pub fn more_frags(&self) -> bool {
        self.off() & IP_MF != 0
    }
    /// Whether this is a fragment (more to come, or not the first).
    pub fn is_fragment(&self) -> bool {
        self.off() & (IP_MF | IP_OFFMASK) != 0
    }
    pub fn ttl(&self) -> u8 {
        self.b()[8]
    }
    pub fn proto(&self) -> u8 {
        self.b()[9]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 10)
    }
    pub fn src(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    pub fn dst(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    /// Whether the header's checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        self.b().get(..self.hlen()).is_some_and(|h| cksum(h) == 0)
    }
    /// The options bytes (empty when the header length is out of the buffer).
    pub fn options(&self) -> &[u8] {
        self.b().get(IP_HDR_LEN..self.hlen()).unwrap_or(&[])
    }
    /// The payload: from the end of the header to the total length (bounded by the buffer).
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        let end = self.total_len().min(b.len());
        b.get(self.hlen()..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    pub fn set_ttl(&mut self, ttl: u8) {
        self.bm()[8] = ttl;
    }
    pub fn set_total_len(&mut self, len: u16) {
        self.bm()[2..4].copy_from_slice(&len.to_be_bytes());
    }
    pub fn set_off(&mut self, off: u16) {
        self.bm()[6..8].copy_from_slice(&off.to_be_bytes());
    }
    pub fn set_checksum(&mut self, c: u16) {
        self.bm()[10..12].copy_from_slice(&c.to_be_bytes());
    }
    pub fn set_src(&mut self, a: Ipv4Addr) {
        self.bm()[12..16].copy_from_slice(&a.octets());
    }
    pub fn set_dst(&mut self, a: Ipv4Addr) {
        self.bm()[16..20].copy_from_slice(&a.octets());
    }
    /// Computes and stores the header checksum (over the header length, options included).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hlen = self.hlen().min(self.b().len());
        let c = cksum(&self.b()[..hlen]);
        self.set_checksum(c);
    }
}

/// One option of a header: its type and its bytes after type and length (empty for the
/// one-byte options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Option<'a> {
    pub kind: u8,
    pub data: &'a [u8],
}

impl Ipv4Option<'_> {
    /// Whether the copied bit is set (the option goes into every fragment).
    pub fn copied(&self) -> bool {
        self.kind & 0x80 != 0
    }
}

/// Walks the options of a header (RFC 791 3.1): NOP is yielded, EOL ends the walk, a
/// length below 2 or past the end yields one `Err(Malformed)` and ends it.
#[derive(Debug, Clone)]
pub struct Ipv4Options<'a> {
    rest: &'a [u8],
}

impl<'a> Ipv4Options<'a> {
    pub fn new(opts: &'a [u8]) -> Self {
        Ipv4Options { rest: opts }
    }
}

impl<'a> Iterator for Ipv4Options<'a> {
    type Item = Result<Ipv4Option<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        let &kind = self.rest.first()?;
        match kind {
            IPOPT_EOL => {
                self.rest = &[];
                None
            }
            IPOPT_NOP => {
                self.rest = &self.rest[1..];
                Some(Ok(Ipv4Option { kind, data: &[] }))
            }
            _ => {
                let len = self.rest.get(1).map(|&l| usize::from(l));
                match len {
                    Some(l) if l >= 2 && l <= self.rest.len() => {
                        let data = &self.rest[2..l];
                        self.rest = &self.rest[l..];
                        Some(Ok(Ipv4Option { kind, data }))
                    }
                    _ => {
                        self.rest = &[];
                        Some(Err(Error::Malformed))
                    }
                }
            }
        }
    }
}

/// Writes a 20-byte header into `h[..20]` with its checksum: the positional form of
/// [`Ipv4Repr::emit`].
#[allow(clippy::too_many_arguments)]
pub fn write_header(
    h: &mut [u8],
    tos: u8,
    total: usize,
    id: u16,
    off: u16,
    ttl: u8,
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    h[0] = (IPVERSION << 4) | 5;
    h[1] = tos;
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6..8].copy_from_slice(&off.to_be_bytes());
    h[8] = ttl;
    h[9] = proto;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = cksum(&h[..IP_HDR_LEN]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A header without options, as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub tos: u8,
    pub id: u16,
    /// ip_off: flags and offset in 8-byte units.
    pub off: u16,
    pub ttl: u8,
    /// Bytes after the header.
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Reads a checked header; a bad header checksum is `Malformed`. Options are skipped
    /// (the view's [`Ipv4Packet::options`] has them).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(Error::Malformed);
        }
        Ok(Ipv4Repr {
            src: p.src(),
            dst: p.dst(),
            proto: p.proto(),
            tos: p.tos(),
            id: p.id(),
            off: p.off(),
            ttl: p.ttl(),
            payload_len: p.total_len() - p.hlen(),
        })
    }

    pub const fn header_len(&self) -> usize {
        IP_HDR_LEN
    }

    /// Writes the header (with its checksum) into the first 20 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let total = IP_HDR_LEN + self.payload_len;
        if buf.len() < IP_HDR_LEN {
            return Err(Error::Truncated);
        }
        if total > IP_MAXPACKET {
            return Err(Error::Malformed);
        }
        write_header(
            buf, self.tos, total, self.id, self.off, self.ttl, self.proto, self.src, self.dst,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A header from a real capture: 10.0.0.1 -> 10.0.0.2, ICMP, id 0x1234, DF, ttl 64.
    const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x14, 0x73, 10, 0, 0, 1, 10, 0, 0, 2,
    ];

    fn packet() -> Vec<u8> {
        let mut p = HDR.to_vec();
        p.resize(0x54, 0xab);
        p
    }

    #[test]
    fn reads_a_known_header_and_its_checksum() {
        let p = packet();
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(
            (v.hlen(), v.total_len(), v.id(), v.ttl(), v.proto()),
            (20, 84, 0x1234, 64, 1)
        );
        assert!(v.dont_frag() && !v.more_frags() && !v.is_fragment());
        assert_eq!(
            (v.src(), v.dst()),
            (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
        );
        assert!(v.verify_checksum());
        assert_eq!(v.payload().len(), 64);
        let mut q = p.clone();
        q[8] = 63;
        assert!(!Ipv4Packet::new_checked(&q[..]).unwrap().verify_checksum());
        let mut m = Ipv4Packet::new_unchecked(&mut q[..]);
        m.fill_checksum();
        assert!(m.verify_checksum());
        assert_eq!(m.checksum(), 0x1573);
    }

    #[test]
    fn repr_round_trip() {
        let r = Ipv4Repr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(198, 51, 100, 7),
            proto: IPPROTO_UDP,
            tos: 0x10,
            id: 7,
            off: IP_MF | 3,
            ttl: 1,
            payload_len: 12,
        };
        let mut b = vec![0u8; 32];
        r.emit(&mut b).unwrap();
        let v = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&v), Ok(r));
        assert_eq!(v.frag_offset(), 24);
        assert_eq!(
            Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&packet()[..]))
                .unwrap()
                .payload_len,
            64
        );
        assert_eq!(r.emit(&mut [0u8; 19]), Err(Error::Truncated));
        assert_eq!(
            Ipv4Repr {
                payload_len: 65516,
                ..r
            }
            .emit(&mut b),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let p = packet();
        for n in 0..p.len() {
            assert_eq!(Ipv4Packet::new_checked(&p[..n]).err(), Some(Error::Truncated), "{n}");
        }
        let mut bad = p.clone();
        bad[0] = 0x44; // IHL 4
        assert_eq!(Ipv4Packet::new_checked(&bad[..]).err(), Some(Error::Malformed));
        bad[0] = 0x65; // version 6
        assert_eq!(Ipv4Packet::new_checked(&bad[..]).err(), Some(Error::Malformed));
        bad[0] = 0x45;
        bad[2..4].copy_from_slice(&19u16.to_be_bytes()); // total below the header
        assert_eq!(Ipv4Packet::new_checked(&bad[..]).err(), Some(Error::Malformed));
        bad[0] = 0x4f; // 60-byte header in a 84-byte packet whose total says 19
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
        // Unchecked views never read past the buffer for the variable parts.
        let v = Ipv4Packet::new_unchecked(&bad[..20]);
        assert_eq!(v.options(), &[] as &[u8]);
        assert!(!v.verify_checksum());
    }

    #[test]
    fn options_walker() {
        let opts = [IPOPT_NOP, IPOPT_RA, 4, 0, 0, IPOPT_RR, 7, 4, 0, 0, 0, 0, IPOPT_EOL, 99];
        let got: Vec<_> = Ipv4Options::new(&opts).collect();
        assert_eq!(
            got,
            vec![
                Ok(Ipv4Option {
                    kind: IPOPT_NOP,
                    data: &[]
                }),
                Ok(Ipv4Option {
                    kind: IPOPT_RA,
                    data: &[0, 0]
                }),
                Ok(Ipv4Option {
                    kind: IPOPT_RR,
                    data: &[4, 0, 0, 0, 0]
                }),
            ]
        );
        assert!(got[1].as_ref().unwrap().copied());
        // A length below two or past the end: one error, then the walk ends.
        for bad in [
            &[IPOPT_LSRR][..],
            &[IPOPT_LSRR, 1],
            &[IPOPT_LSRR, 9, 0, 0],
            &[IPOPT_NOP, 7, 0],
        ] {
            let got: Vec<_> = Ipv4Options::new(bad).collect();
            assert_eq!(got.last(), Some(&Err(Error::Malformed)), "{bad:?}");
            assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
        }
    }

    #[test]
    fn masks() {
        assert_eq!(len_mask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(len_mask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(len_mask(31), Ipv4Addr::new(255, 255, 255, 254));
        assert_eq!(len_mask(40), Ipv4Addr::BROADCAST);
    }
}
