//! UDP (RFC 768): a view of the header and its datagram, and a `Repr` whose `emit` fills
//! in the checksum under either family's pseudo-header.

use std::net::IpAddr;

use super::checksum::transport_cksum;
use super::ipv4::IPPROTO_UDP;
use super::{be16, Error, Result};

pub const UDP_HDR_LEN: usize = 8;

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// A view without checks: the caller knows the buffer holds the 8-byte header.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// A view whose length field covers the header and lies inside the buffer.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < UDP_HDR_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(be16(b, 4));
        if len < UDP_HDR_LEN {
            return Err(Error::Malformed);
        }
        if len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(UdpPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    pub fn src_port(&self) -> u16 {
        be16(self.b(), 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), 2)
    }
    /// The length field: header and data.
    pub fn len(&self) -> usize {
        usize::from(be16(self.b(), 4))
    }
    pub fn is_empty(&self) -> bool {
        self.len() <= UDP_HDR_LEN
    }
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 6)
    }
    /// The data, as far as the length field says (bounded by the buffer).
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        b.get(UDP_HDR_LEN..self.len().min(b.len())).unwrap_or(&[])
    }
    /// Whether the checksum verifies under the pseudo-header of `src` and `dst`. A zero
    /// checksum (none sent) passes over IPv4 and fails over IPv6 (RFC 8200 8.1).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        if self.checksum() == 0 {
            return src.is_ipv4() && dst.is_ipv4();
        }
        let b = self.b();
        transport_cksum(src, dst, IPPROTO_UDP, &b[..self.len().min(b.len())]) == 0
    }
}

/// The checksum to put in a datagram `udp` (its checksum field zero) under the
/// pseudo-header: a computed zero goes out as 0xffff (RFC 768).
pub fn udp_checksum(src: IpAddr, dst: IpAddr, udp: &[u8]) -> u16 {
    match transport_cksum(src, dst, IPPROTO_UDP, udp) {
        0 => 0xffff,
        c => c,
    }
}

/// A datagram's header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl UdpRepr {
    /// Reads a checked datagram whose checksum verifies (else `Malformed`); returns the
    /// header and the data.
    pub fn parse<'a>(p: &UdpPacket<&'a [u8]>, src: IpAddr, dst: IpAddr) -> Result<(UdpRepr, &'a [u8])> {
        let b: &'a [u8] = p.buffer;
        let v = UdpPacket::new_checked(b)?;
        if !v.verify_checksum(src, dst) {
            return Err(Error::Malformed);
        }
        let len = v.len();
        Ok((
            UdpRepr {
                src_port: v.src_port(),
                dst_port: v.dst_port(),
            },
            &b[UDP_HDR_LEN..len],
        ))
    }

    /// Writes header and `payload` into `buf[..8 + payload.len()]` with only the
    /// pseudo-header's sum in the checksum field, for the interface to finish (checksum
    /// offload: the sum over the datagram from the UDP header on, complemented, goes
    /// there).
    pub fn emit_partial(&self, buf: &mut [u8], payload: &[u8], src: IpAddr, dst: IpAddr) -> Result<()> {
        let n = UDP_HDR_LEN + payload.len();
        if n > usize::from(u16::MAX) {
            return Err(Error::Malformed);
        }
        let Some(b) = buf.get_mut(..n) else {
            return Err(Error::Truncated);
        };
        b[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        b[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        b[4..6].copy_from_slice(&(n as u16).to_be_bytes());
        let c = !crate::wire::checksum::fold(crate::wire::checksum::pseudo_sum(src, dst, 17, n));
        b[6..8].copy_from_slice(&c.to_be_bytes());
        b[8..].copy_from_slice(payload);
        Ok(())
    }

    /// Writes header, `payload` and checksum into `buf[..8 + payload.len()]`.
    pub fn emit(&self, buf: &mut [u8], payload: &[u8], src: IpAddr, dst: IpAddr) -> Result<()> {
        let n = UDP_HDR_LEN + payload.len();
        if n > usize::from(u16::MAX) {
            return Err(Error::Malformed);
        }
        let Some(b) = buf.get_mut(..n) else {
            return Err(Error::Truncated);
        };
        b[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        b[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        b[4..6].copy_from_slice(&(n as u16).to_be_bytes());
        b[6..8].copy_from_slice(&[0, 0]);
        b[8..].copy_from_slice(payload);
        let c = udp_checksum(src, dst, b);
        b[6..8].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn round_trip_both_families() {
        let r = UdpRepr {
            src_port: 5353,
            dst_port: 53,
        };
        for (s, d) in [(a("10.0.0.1"), a("10.0.0.2")), (a("2001:db8::1"), a("fe80::2"))] {
            let mut b = vec![0u8; 13];
            r.emit(&mut b, b"hello", s, d).unwrap();
            let p = UdpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(UdpRepr::parse(&p, s, d), Ok((r, &b"hello"[..])));
            // Another destination does not verify: the pseudo-header counts.
            assert_eq!(UdpRepr::parse(&p, s, s), Err(Error::Malformed));
        }
    }

    #[test]
    fn known_checksum_and_zero() {
        // 10.0.0.1:1 -> 10.0.0.2:2, no data. Pseudo 0x0a00+0x0001+0x0a00+0x0002+17+8 = 0x141c,
        // header 1+2+8: 0x141c + 0xb = 0x1427 -> !0x1427.
        let mut b = [0u8; 8];
        UdpRepr {
            src_port: 1,
            dst_port: 2,
        }
        .emit(&mut b, &[], a("10.0.0.1"), a("10.0.0.2"))
        .unwrap();
        assert_eq!(u16::from_be_bytes([b[6], b[7]]), !0x1427u16);
        // No checksum: fine over IPv4, refused over IPv6.
        b[6..8].copy_from_slice(&[0, 0]);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(a("10.0.0.9"), a("10.0.0.2")));
        assert!(!p.verify_checksum(a("::1"), a("::1")));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut b = vec![0u8; 12];
        UdpRepr {
            src_port: 9,
            dst_port: 9,
        }
        .emit(&mut b, &[1, 2, 3, 4], a("::1"), a("::1"))
        .unwrap();
        for n in 0..b.len() {
            assert_eq!(UdpPacket::new_checked(&b[..n]).err(), Some(Error::Truncated), "{n}");
        }
        b[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(UdpPacket::new_checked(&b[..]).err(), Some(Error::Malformed));
        // An unchecked view of a lying length stays inside the buffer.
        b[4..6].copy_from_slice(&900u16.to_be_bytes());
        assert_eq!(UdpPacket::new_unchecked(&b[..]).payload().len(), 4);
        assert_eq!(
            UdpRepr {
                src_port: 1,
                dst_port: 1
            }
            .emit(&mut [0u8; 9], &[0; 2], a("::1"), a("::1")),
            Err(Error::Truncated)
        );
    }
}
