//! Typed views over header bytes, one file per header, in the manner of smoltcp's
//! `src/wire/`: a view (`XxxPacket<T: AsRef<[u8]>>`) whose constructor checks that every
//! accessor stays inside the buffer, and a plain `Repr` with `parse` and `emit`. Parsing is
//! total: short or malformed input is an `Error`, never a panic. Tests sit at the bottom of
//! each file.
//!
//! The IPv6 family lives here so far: the fixed header (`ipv6`), its extension headers and
//! the bounded chain walker (`ip6ext`), ICMPv6 (`icmpv6`), Neighbor Discovery messages and
//! options (`ndisc`), MLDv2 reports (`mld`) and the pseudo-header checksum (`checksum`).
//! pnet_packet's v6 views are not used: its ND views return options as a freshly allocated
//! `Vec<NdpOption>` of `Vec<u8>` payloads per packet, and its extension headers have no
//! chain walker; these views borrow and allocate nothing.

pub mod checksum;
pub mod icmpv6;
pub mod ip6ext;
pub mod ipv6;
pub mod mld;
pub mod ndisc;

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
