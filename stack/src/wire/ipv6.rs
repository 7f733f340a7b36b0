//! The IPv6 fixed header (RFC 8200 section 3).

use std::net::Ipv6Addr;

use super::{addr6, be16, be32, Error, Result};

pub const HEADER_LEN: usize = 40;
/// The smallest MTU every IPv6 link has (RFC 8200 section 5).
pub const MIN_MTU: usize = 1280;
pub use super::ethernet::ETHERTYPE_IPV6;

/// A view of an IPv6 packet: the fixed header and what follows it.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps bytes without checking; the accessors may panic on short input. Use
    /// `new_checked` for anything from outside.
    pub fn new_unchecked(buf: T) -> Self {
        Ipv6Packet { buf }
    }

    /// Wraps bytes after checking the version and that the payload length fits.
    pub fn new_checked(buf: T) -> Result<Self> {
        let p = Ipv6Packet { buf };
        let b = p.buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        if HEADER_LEN + usize::from(p.payload_len()) > b.len() {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buf
    }

    pub fn version(&self) -> u8 {
        self.buf.as_ref()[0] >> 4
    }
    pub fn traffic_class(&self) -> u8 {
        let b = self.buf.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }
    pub fn flow_label(&self) -> u32 {
        be32(self.buf.as_ref(), 0) & 0x000f_ffff
    }
    pub fn payload_len(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }
    pub fn next_header(&self) -> u8 {
        self.buf.as_ref()[6]
    }
    pub fn hop_limit(&self) -> u8 {
        self.buf.as_ref()[7]
    }
    pub fn src(&self) -> Ipv6Addr {
        addr6(self.buf.as_ref(), 8)
    }
    pub fn dst(&self) -> Ipv6Addr {
        addr6(self.buf.as_ref(), 24)
    }
    /// The payload as the header states its length (link padding cut off).
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &self.buf.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    pub fn set_hop_limit(&mut self, h: u8) {
        self.buf.as_mut()[7] = h;
    }
    pub fn set_payload_len(&mut self, l: u16) {
        self.buf.as_mut()[4..6].copy_from_slice(&l.to_be_bytes());
    }
    pub fn set_next_header(&mut self, nh: u8) {
        self.buf.as_mut()[6] = nh;
    }
}

/// The fixed header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub traffic_class: u8,
    pub flow_label: u32,
    pub payload_len: u16,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

impl Ipv6Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Ipv6Repr {
        Ipv6Repr {
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
            payload_len: p.payload_len(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            src: p.src(),
            dst: p.dst(),
        }
    }

    /// Writes the 40-byte header into the start of `b` (at least `HEADER_LEN` long).
    pub fn emit(&self, b: &mut [u8]) {
        let w = (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff);
        b[0..4].copy_from_slice(&w.to_be_bytes());
        b[4..6].copy_from_slice(&self.payload_len.to_be_bytes());
        b[6] = self.next_header;
        b[7] = self.hop_limit;
        b[8..24].copy_from_slice(&self.src.octets());
        b[24..40].copy_from_slice(&self.dst.octets());
    }
}

/// Address helpers the layers share.
pub mod addr {
    use std::net::Ipv6Addr;

    /// fe80::/10
    pub fn is_link_local(a: &Ipv6Addr) -> bool {
        a.segments()[0] & 0xffc0 == 0xfe80
    }

    /// The solicited-node multicast group of an address (RFC 4291 section 2.7.1).
    pub fn solicited_node(a: &Ipv6Addr) -> Ipv6Addr {
        let o = a.octets();
        Ipv6Addr::new(
            0xff02,
            0,
            0,
            0,
            0,
            1,
            0xff00 | u16::from(o[13]),
            u16::from_be_bytes([o[14], o[15]]),
        )
    }

    /// The Ethernet address a multicast group maps to (RFC 2464 section 7).
    pub fn multicast_mac(a: &Ipv6Addr) -> [u8; 6] {
        let o = a.octets();
        [0x33, 0x33, o[12], o[13], o[14], o[15]]
    }

    /// A modified EUI-64 interface identifier from a MAC (RFC 4291 appendix A).
    pub fn eui64(mac: &[u8; 6]) -> [u8; 8] {
        [mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]]
    }

    /// `prefix`'s first 64 bits with an interface identifier.
    pub fn with_iid(prefix: &Ipv6Addr, iid: &[u8; 8]) -> Ipv6Addr {
        let mut o = prefix.octets();
        o[8..].copy_from_slice(iid);
        Ipv6Addr::from(o)
    }

    /// `a` cut to its first `len` bits.
    pub fn mask(a: &Ipv6Addr, len: u8) -> Ipv6Addr {
        let v = u128::from(*a);
        let m = u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0);
        Ipv6Addr::from(v & m)
    }

    /// Whether `a` and `b` share their first `len` bits.
    pub fn same_prefix(a: &Ipv6Addr, b: &Ipv6Addr, len: u8) -> bool {
        mask(a, len) == mask(b, len)
    }

    /// Length of the common prefix of two addresses (RFC 6724 CommonPrefixLen).
    pub fn common_prefix_len(a: &Ipv6Addr, b: &Ipv6Addr) -> u8 {
        (u128::from(*a) ^ u128::from(*b)).leading_zeros() as u8
    }

    /// The scope of an address, as RFC 4291 numbers them (1 interface, 2 link, 5 site,
    /// 14 global).
    pub fn scope(a: &Ipv6Addr) -> u8 {
        if a.is_multicast() {
            return a.octets()[1] & 0x0f;
        }
        if a.is_loopback() {
            1
        } else if is_link_local(a) {
            2
        } else {
            14
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let r = Ipv6Repr {
            traffic_class: 0xa5,
            flow_label: 0x12345,
            payload_len: 4,
            next_header: 59,
            hop_limit: 64,
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
        };
        let mut b = vec![0u8; 44];
        r.emit(&mut b);
        b
    }

    #[test]
    fn emit_parse_round_trip() {
        let b = sample();
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        let r = Ipv6Repr::parse(&p);
        assert_eq!(r.traffic_class, 0xa5);
        assert_eq!(r.flow_label, 0x12345);
        assert_eq!(r.payload_len, 4);
        assert_eq!(r.hop_limit, 64);
        assert_eq!(p.version(), 6);
        assert_eq!(p.payload().len(), 4);
        assert_eq!(r.src, "2001:db8::1".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn refuses_short_wrong_version_and_overlong_payload() {
        let b = sample();
        assert_eq!(Ipv6Packet::new_checked(&b[..39]).unwrap_err(), Error::Truncated);
        assert_eq!(Ipv6Packet::new_checked(&b[..43]).unwrap_err(), Error::Truncated);
        let mut v4 = b.clone();
        v4[0] = 0x45;
        assert_eq!(Ipv6Packet::new_checked(&v4[..]).unwrap_err(), Error::Malformed);
        // Link padding after the payload is allowed and cut off.
        let mut pad = b.clone();
        pad.extend_from_slice(&[0; 10]);
        assert_eq!(Ipv6Packet::new_checked(&pad[..]).unwrap().payload().len(), 4);
    }

    #[test]
    fn address_helpers() {
        let a: Ipv6Addr = "2001:db8::abcd:1234:5678".parse().unwrap();
        assert_eq!(
            addr::solicited_node(&a),
            "ff02::1:ff34:5678".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            addr::multicast_mac(&"ff02::1:ff34:5678".parse().unwrap()),
            [0x33, 0x33, 0xff, 0x34, 0x56, 0x78]
        );
        let iid = addr::eui64(&[0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
        assert_eq!(iid, [0, 0, 0x5e, 0xff, 0xfe, 0x10, 0x20, 0x30]);
        assert_eq!(
            addr::with_iid(&"fe80::".parse().unwrap(), &iid),
            "fe80::5eff:fe10:2030".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(addr::mask(&a, 32), "2001:db8::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(addr::mask(&a, 0), Ipv6Addr::UNSPECIFIED);
        assert_eq!(addr::mask(&a, 128), a);
        assert!(addr::is_link_local(&"fe80::1".parse().unwrap()));
        assert!(!addr::is_link_local(&"fec0::1".parse().unwrap()));
        assert_eq!(addr::common_prefix_len(&a, &"2001:db8::".parse().unwrap()), 80);
        assert_eq!(addr::scope(&"ff02::1".parse().unwrap()), 2);
        assert_eq!(addr::scope(&a), 14);
    }
}
