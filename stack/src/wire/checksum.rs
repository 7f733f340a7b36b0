//! Checksums for IPv6's upper layers: the Internet checksum (RFC 1071, in
//! `inet/cksum.rs`) over the IPv6 pseudo-header of RFC 8200 section 8.1.

use std::net::Ipv6Addr;

pub use crate::inet::cksum::{cksum, fold, sum};

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
