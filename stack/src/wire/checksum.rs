//! The Internet checksum (RFC 1071), its incremental update (RFC 1624), and the
//! pseudo-headers of the transport checksums: IPv4's (RFC 768, RFC 793) and IPv6's
//! (RFC 8200 section 8.1). The one place the stack, msg/ and the applets take them from.

use std::net::Ipv6Addr;
/// Adds the 16-bit words of `b` to a running one's-complement sum.
pub fn sum(mut acc: u32, b: &[u8]) -> u32 {
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Folds a sum to 16 bits and complements it.
pub fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum of `b`.
pub fn cksum(b: &[u8]) -> u16 {
    fold(sum(0, b))
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word changed from `old` to `new`.
pub fn update(ck: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!ck) + u32::from(!old) + u32::from(new);
    fold(acc)
}

/// The running sum of a transport checksum's pseudo-header, unfolded: for IPv4 (RFC 793,
/// RFC 768) source, destination, protocol and length; for IPv6 (RFC 8200 8.1) source,
/// destination, the 32-bit upper-layer length and the next header. Both addresses are of
/// one family (an IPv4 peer of an AF_INET6 socket travels as IPv4).
pub fn pseudo_sum(src: std::net::IpAddr, dst: std::net::IpAddr, proto: u8, len: usize) -> u32 {
    use std::net::IpAddr;
    let acc = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum(sum(0, &s.octets()), &d.octets()),
        (s, d) => {
            let o = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                IpAddr::V6(a) => a.octets(),
            };
            sum(sum(0, &o(s)), &o(d))
        }
    };
    let len = len as u32;
    acc + (len >> 16) + (len & 0xffff) + u32::from(proto)
}

/// The transport checksum of `seg` (its checksum field included) under the pseudo-header:
/// 0 when a received segment is intact.
pub fn transport_cksum(src: std::net::IpAddr, dst: std::net::IpAddr, proto: u8, seg: &[u8]) -> u16 {
    fold(sum(pseudo_sum(src, dst, proto, seg.len()), seg))
}

/// The running sum of the IPv6 pseudo-header: source, destination, upper-layer length
/// (32 bits) and next header (32 bits, zero-padded).
pub fn pseudo6(src: &Ipv6Addr, dst: &Ipv6Addr, len: u32, next_header: u8) -> u32 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc += len >> 16;
    acc += len & 0xffff;
    acc += u32::from(next_header);
    acc
}

/// The checksum of an upper-layer message `msg` (its checksum field zero, or the value
/// it carries when verifying) under the pseudo-header. Verifying a correct message
/// gives 0.
pub fn cksum6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, msg: &[u8]) -> u16 {
    fold(sum(pseudo6(src, dst, msg.len() as u32, next_header), msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // The example words of RFC 1071 section 3.
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(0, &b)), !0xddf2);
    }

    #[test]
    fn incremental_matches_full() {
        let mut h = [
            0x45u8, 0, 0, 84, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = cksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(cksum(&h), 0);
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let c2 = update(c, old, new);
        h[10..12].copy_from_slice(&c2.to_be_bytes());
        assert_eq!(cksum(&h), 0);
    }

    #[test]
    fn ipv6_pseudo_header_as_rfc_8200_lays_it_out() {
        use std::net::IpAddr;
        let src: IpAddr = "2001:db8::1".parse().unwrap();
        let dst: IpAddr = "2001:db8::2".parse().unwrap();
        // A UDP header of 8 bytes from port 1 to port 2, its checksum field zero.
        let udp = [0, 1, 0, 2, 0, 8, 0, 0];
        // The pseudo-header written out whole: addresses, 32-bit length, 3 zeros, 17.
        let mut whole = Vec::new();
        whole.extend_from_slice(&"2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        whole.extend_from_slice(&"2001:db8::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
        whole.extend_from_slice(&8u32.to_be_bytes());
        whole.extend_from_slice(&[0, 0, 0, 17]);
        whole.extend_from_slice(&udp);
        assert_eq!(transport_cksum(src, dst, 17, &udp), cksum(&whole));
        // And the IPv4 one: addresses, zero, protocol, 16-bit length.
        let (s4, d4): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let whole4 = [10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 8, 0, 1, 0, 2, 0, 8, 0, 0];
        assert_eq!(transport_cksum(s4, d4, 17, &udp), cksum(&whole4));
    }

    #[test]
    fn verifies_to_zero_after_filling_in() {
        let s: Ipv6Addr = "fe80::1".parse().unwrap();
        let d: Ipv6Addr = "ff02::1:ff00:2".parse().unwrap();
        let mut m = vec![135u8, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&"fe80::2".parse::<Ipv6Addr>().unwrap().octets());
        let c = cksum6(&s, &d, 58, &m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(cksum6(&s, &d, 58, &m), 0);
        // A different destination no longer verifies: the pseudo-header counts.
        assert_ne!(cksum6(&s, &"ff02::1".parse().unwrap(), 58, &m), 0);
        // An odd length is padded with a zero byte (the length itself still counts).
        assert_eq!(sum(0, &[1u8, 2, 3]), sum(0, &[1u8, 2, 3, 0]));
    }

    #[test]
    fn known_value() {
        // ICMPv6 echo request ::1 -> ::1, id 0, seq 0, no data: sum by hand.
        let a = Ipv6Addr::LOCALHOST;
        let m = [128u8, 0, 0, 0, 0, 0, 0, 0];
        // pseudo: 1 + 1 + len 8 + nh 58 = 68; msg 0x8000 -> 0x8044 -> !0x8044
        assert_eq!(cksum6(&a, &a, 58, &m), !0x8044);
    }
}
