//! NAT primitives: rewriting addresses, ports and ICMP ids in place, each 16-bit word's
//! change carried into every checksum that covers it by the incremental update of RFC 1624
//! (eqn. 3), never by summing the packet again. A checksum may be held three ways:
//!
//! - whole (the usual case, and `Csum::Valid` from a driver: the field is the real
//!   checksum, and an incremental update keeps it right);
//! - a UDP/IPv4 checksum of 0, which means none was computed and stays 0 (RFC 768);
//! - partial (the mbuf's `Csum::Partial` offload: the field holds the pseudo-header's sum,
//!   not complemented, and the interface or `in_undefer_cksum` finishes it). Only the
//!   pseudo-header's words (the addresses) change such a field; a port is part of the data
//!   the finishing sum reads.
//!
//! ICMP errors quote the packet they are about; `rewrite` is given the quoted header's
//! checksums as `inner` ones, each of them covered in turn by the ICMP checksum, so a
//! change inside the quote moves the quote's checksums and the outer one consistently.

use crate::wire::checksum::update;

/// How a checksum field is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The real checksum.
    Full,
    /// A UDP over IPv4 checksum: 0 means none, and a computed 0 is sent as 0xffff.
    Udp,
    /// The pseudo-header's sum, not complemented (checksum offload).
    Partial,
}

/// A checksum field at an offset in the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ck {
    pub at: usize,
    pub kind: Kind,
}

impl Ck {
    pub const fn full(at: usize) -> Ck {
        Ck { at, kind: Kind::Full }
    }
}

pub fn rd16(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

fn wr16(p: &mut [u8], at: usize, v: u16) {
    p[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

pub fn rd32(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

/// The checksum `ck` after a covered word went from `old` to `new`.
fn adjust(ck: u16, kind: Kind, old: u16, new: u16) -> u16 {
    match kind {
        Kind::Full => update(ck, old, new),
        Kind::Udp if ck == 0 => 0,
        Kind::Udp => match update(ck, old, new) {
            0 => 0xffff,
            c => c,
        },
        Kind::Partial => !update(!ck, old, new),
    }
}

/// Moves the checksum field `c` for a covered word's change, and the change of the field
/// itself into `outer` (a checksum that covers the field: an ICMP error's, over its quote).
fn carry(p: &mut [u8], c: Ck, old: u16, new: u16, outer: Option<Ck>) {
    if c.at + 2 > p.len() {
        // A quote cut short before this field: nothing to keep right.
        return;
    }
    let o = rd16(p, c.at);
    let n = adjust(o, c.kind, old, new);
    if o != n {
        wr16(p, c.at, n);
        if let Some(oc) = outer {
            carry(p, oc, o, n, None);
        }
    }
}

/// Sets the 16-bit word at `at` to `new`, carrying the change into the checksums `direct`
/// (which cover the word and are themselves covered by `outer` when it is given) and into
/// `outer` itself.
pub fn set16(p: &mut [u8], at: usize, new: u16, direct: &[Ck], outer: Option<Ck>) {
    let old = rd16(p, at);
    if old == new {
        return;
    }
    wr16(p, at, new);
    for c in direct {
        carry(p, *c, old, new, outer);
    }
    if let Some(oc) = outer {
        carry(p, oc, old, new, None);
    }
}

/// Sets a field of 16-bit words (an address: 4 or 16 bytes; a sequence number: 4) to
/// `new`, word by word, as `set16`.
pub fn set_bytes(p: &mut [u8], at: usize, new: &[u8], direct: &[Ck], outer: Option<Ck>) {
    for (i, w) in new.chunks_exact(2).enumerate() {
        set16(p, at + 2 * i, u16::from_be_bytes([w[0], w[1]]), direct, outer);
    }
}

/// Sets a 32-bit field (a TCP sequence or acknowledgment number).
pub fn set32(p: &mut [u8], at: usize, new: u32, direct: &[Ck]) {
    set_bytes(p, at, &new.to_be_bytes(), direct, None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{cksum, transport_cksum};
    use std::net::{IpAddr, Ipv4Addr};

    /// An IPv4/UDP datagram with both checksums right.
    fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 28 + data.len()];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((28 + data.len()) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        let c = cksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p[24..26].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        p[28..].copy_from_slice(data);
        let c = transport_cksum(IpAddr::from(src), IpAddr::from(dst), 17, &p[20..]);
        p[26..28].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn ok4(p: &[u8]) -> bool {
        let s = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
        let d = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
        cksum(&p[..20]) == 0 && transport_cksum(s.into(), d.into(), p[9], &p[20..]) == 0
    }

    #[test]
    fn address_and_port_rewrites_keep_both_checksums_right() {
        let mut p = udp4([10, 0, 0, 2], [192, 0, 2, 9], 1234, 53, b"hello, world");
        assert!(ok4(&p));
        let cks = [
            Ck::full(10),
            Ck {
                at: 26,
                kind: Kind::Udp,
            },
        ];
        set_bytes(&mut p, 12, &[198, 51, 100, 1], &cks, None);
        set16(&mut p, 20, 50001, &cks[1..], None);
        assert_eq!(&p[12..16], &[198, 51, 100, 1]);
        assert_eq!(rd16(&p, 20), 50001);
        assert!(ok4(&p));
        // Every way back and forth keeps it right (RFC 1624's -0 case included).
        for a in [0u8, 1, 0x7f, 0xff] {
            set_bytes(&mut p, 16, &[a, 0xff, a, 0], &cks, None);
            assert!(ok4(&p), "{a}");
        }
    }

    #[test]
    fn a_udp_datagram_without_checksum_keeps_none() {
        let mut p = udp4([10, 0, 0, 2], [192, 0, 2, 9], 1234, 53, b"x");
        p[26..28].copy_from_slice(&[0, 0]);
        set_bytes(
            &mut p,
            12,
            &[1, 2, 3, 4],
            &[
                Ck::full(10),
                Ck {
                    at: 26,
                    kind: Kind::Udp,
                },
            ],
            None,
        );
        assert_eq!(rd16(&p, 26), 0);
        assert_eq!(cksum(&p[..20]), 0);
    }

    #[test]
    fn a_partial_checksum_follows_the_addresses_only() {
        let mut p = udp4([10, 0, 0, 2], [192, 0, 2, 9], 1234, 53, b"partial");
        // What a sender leaving the checksum to the interface holds there.
        let pseudo = |p: &[u8]| {
            let s = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
            let d = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
            !crate::wire::checksum::fold(crate::wire::checksum::pseudo_sum(s.into(), d.into(), 17, p.len() - 20))
        };
        let ps = pseudo(&p);
        p[26..28].copy_from_slice(&ps.to_be_bytes());
        let cks = [
            Ck::full(10),
            Ck {
                at: 26,
                kind: Kind::Partial,
            },
        ];
        set_bytes(&mut p, 12, &[203, 0, 113, 77], &cks, None);
        set16(&mut p, 20, 40000, &[], None);
        assert_eq!(rd16(&p, 26), pseudo(&p));
        // Finished as the interface would, the datagram is right.
        assert!(pktbox_drivers::finish_csum(&mut p, 20, 6));
        assert!(ok4(&p));
    }

    #[test]
    fn a_change_inside_an_icmp_error_moves_the_quote_and_the_outer_checksum() {
        // ICMP port unreachable quoting a UDP datagram whole.
        let quote = udp4([10, 0, 0, 2], [192, 0, 2, 9], 1234, 53, b"q");
        let mut icmp = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quote);
        let c = cksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let outer = Some(Ck::full(2));
        let inner = [
            Ck::full(8 + 10),
            Ck {
                at: 8 + 26,
                kind: Kind::Udp,
            },
        ];
        set_bytes(&mut icmp, 8 + 12, &[198, 51, 100, 1], &inner, outer);
        set16(&mut icmp, 8 + 20, 50007, &inner[1..], outer);
        assert_eq!(cksum(&icmp), 0, "the ICMP checksum");
        assert!(ok4(&icmp[8..]), "the quoted datagram's checksums");
    }
}
