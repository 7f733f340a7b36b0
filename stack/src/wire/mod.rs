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
//! - `route`: the routing socket's `RTF_*` and `RTA_*` bits.
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
