//! Typed views over header bytes, one file per header, in the manner of smoltcp's
//! `src/wire/`: a view (`XxxPacket<T: AsRef<[u8]>>`) whose constructor checks that every
//! accessor stays inside the buffer, and a plain `Repr` with `parse` and `emit`. Parsing is
//! total: short or malformed input is an `Error`, never a panic. Tests sit at the bottom of
//! each file.
//!
//! The stack's layers, `msg/` and the applets all take headers, constants and checksums
//! from here (the applets import only `wire`, `msg` and `socket`):
//!
//! - links: `ethernet`, `arp` (pnet_packet's views, which fit fixed headers, with a
//!   `Repr` each);
//! - IPv4: `ipv4` (with its options walker and the `IPPROTO_*` numbers), `icmp`;
//! - IPv6: the fixed header (`ipv6`), its extension headers and the bounded chain walker
//!   (`ip6ext`), ICMPv6 (`icmpv6`), Neighbor Discovery messages and options (`ndisc`),
//!   MLDv2 reports (`mld`);
//! - transports: `udp`, `tcp` (with its options iterator);
//! - `checksum`: the Internet checksum and both families' pseudo-headers;
//! - `bpf`: classic BPF instructions, validator, interpreter and capture records;
//! - `route`: the routing socket's `RTF_*` and `RTA_*` bits;
//! - `pflog`: the header PF puts in front of packets it logs to `pflogN` (DLT_PFLOG).
//!
//! pnet_packet's IP, ICMP, UDP and TCP views are not used: its constructors check only
//! the fixed length (the stated lengths are the caller's business), its IPv4 and TCP
//! `get_options` allocate a `Vec` per packet, and it has no total-length or data-offset
//! checks; `stack/benches/wire.rs` measures the difference (README, "wire/ (issue 9)").
//! Its v6 views are not used either: its ND views return options as a freshly allocated
//! `Vec<NdpOption>` of `Vec<u8>` payloads per packet, and its extension headers have no
//! chain walker; these views borrow and allocate nothing.

pub mod arp;
pub mod bpf;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ip6ext;
pub mod ipv4;
pub mod ipv6;
pub mod mld;
pub mod ndisc;
pub mod nodeinfo;
pub mod pflog;
pub mod route;
pub mod tcp;
pub mod udp;

/// Why bytes did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the header (or its stated length) needs.
    Truncated,
    /// A field holds a value the protocol forbids.
    Malformed,
}

pub type Result<T> = std::result::Result<T, Error>;

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn addr6(b: &[u8], at: usize) -> std::net::Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[at..at + 16]);
    std::net::Ipv6Addr::from(o)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use std::net::IpAddr;

    use super::*;

    /// Reads everything a view offers; for views that passed `new_checked` nothing may
    /// panic, whatever the bytes.
    fn read_all(b: &[u8]) -> u64 {
        let mut n = 0u64;
        let (s4, d4): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        if let Ok(p) = ipv4::Ipv4Packet::new_checked(b) {
            n += p.payload().len() as u64 + u64::from(p.verify_checksum());
            n += ipv4::Ipv4Options::new(p.options()).count() as u64;
            n += u64::from(ipv4::Ipv4Repr::parse(&p).is_ok());
        }
        if let Ok(p) = tcp::TcpPacket::new_checked(b) {
            n += p.payload().len() as u64 + p.options_iter().count() as u64;
            n += u64::from(tcp::TcpRepr::parse(&p, s4, d4).is_ok());
        }
        if let Ok(p) = udp::UdpPacket::new_checked(b) {
            n += p.payload().len() as u64 + u64::from(udp::UdpRepr::parse(&p, s4, d4).is_ok());
        }
        if let Ok(p) = icmp::IcmpPacket::new_checked(b) {
            n += p.data().len() as u64 + u64::from(icmp::IcmpRepr::parse(&p).is_ok());
        }
        n += u64::from(arp::ArpRepr::parse(b).is_ok()) + u64::from(ethernet::EthernetRepr::parse(b).is_ok());
        n += tcp::TcpOpts::parse(b).nsacks as u64;
        n += bpf::records(b).count() as u64;
        if let Ok(p) = pflog::PflogPacket::new_checked(b) {
            n += p.payload().len() as u64 + u64::from(p.dir()) + p.ifname().len() as u64;
            n += u64::from(pflog::PflogRepr::parse(&p).rulenr);
        }
        n
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panicking(b in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = read_all(&b);
        }

        #[test]
        fn plausible_headers_parse_without_panicking(
            ihl in 0u8..16, doff in 0u8..16, len in 0u16..200, rest in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            // IPv4 and TCP headers whose length fields are near the buffer's size.
            let mut b = vec![0x40 | ihl, 0, (len >> 8) as u8, len as u8];
            b.extend_from_slice(&rest);
            let _ = read_all(&b);
            if b.len() > 12 {
                b[12] = doff << 4;
            }
            let _ = read_all(&b);
        }
    }
}
