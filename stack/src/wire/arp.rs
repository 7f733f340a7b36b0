//! ARP for IPv4 over Ethernet (RFC 826, `net/if_arp.h`): the operation codes, pnet_packet's
//! view of the packet (it fits: fixed fields at fixed offsets), and a `Repr` that accepts
//! only the Ethernet/IPv4 form.

use std::net::Ipv4Addr;

use pnet_packet::arp::{ArpHardwareType, ArpHardwareTypes, ArpOperation};
pub use pnet_packet::arp::{ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::EtherTypes;

use super::ethernet::MacAddr;
use super::{Error, Result};

/// An Ethernet/IPv4 ARP packet's length.
pub const ARP_LEN: usize = 28;
pub const ARPHRD_ETHER: u16 = 1;
pub const ARPOP_REQUEST: u16 = 1;
pub const ARPOP_REPLY: u16 = 2;
pub const ARPOP_REVREQUEST: u16 = 3;
pub const ARPOP_REVREPLY: u16 = 4;

/// An Ethernet/IPv4 ARP packet as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

impl ArpRepr {
    /// Reads a packet: `Truncated` when shorter than 28 bytes, `Malformed` when it is not
    /// Ethernet hardware with IPv4 protocol addresses of lengths 6 and 4.
    pub fn parse(b: &[u8]) -> Result<ArpRepr> {
        if b.len() < ARP_LEN {
            return Err(Error::Truncated);
        }
        let p = ArpPacket::new(b).ok_or(Error::Truncated)?;
        if p.get_hardware_type() != ArpHardwareTypes::Ethernet
            || p.get_protocol_type() != EtherTypes::Ipv4
            || p.get_hw_addr_len() != 6
            || p.get_proto_addr_len() != 4
        {
            return Err(Error::Malformed);
        }
        Ok(ArpRepr {
            op: p.get_operation().0,
            sha: p.get_sender_hw_addr().octets(),
            spa: p.get_sender_proto_addr(),
            tha: p.get_target_hw_addr().octets(),
            tpa: p.get_target_proto_addr(),
        })
    }

    /// Writes the packet into `buf[..ARP_LEN]`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let b = buf.get_mut(..ARP_LEN).ok_or(Error::Truncated)?;
        let mut p = MutableArpPacket::new(b).ok_or(Error::Truncated)?;
        p.set_hardware_type(ArpHardwareType(ARPHRD_ETHER));
        p.set_protocol_type(EtherTypes::Ipv4);
        p.set_hw_addr_len(6);
        p.set_proto_addr_len(4);
        p.set_operation(ArpOperation(self.op));
        p.set_sender_hw_addr(MacAddr::from(self.sha));
        p.set_sender_proto_addr(self.spa);
        p.set_target_hw_addr(MacAddr::from(self.tha));
        p.set_target_proto_addr(self.tpa);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_known_bytes_and_truncation() {
        let r = ArpRepr {
            op: ARPOP_REQUEST,
            sha: [2, 0, 0, 0, 0, 1],
            spa: Ipv4Addr::new(10, 0, 0, 1),
            tha: [0; 6],
            tpa: Ipv4Addr::new(10, 0, 0, 2),
        };
        let mut b = [0u8; ARP_LEN];
        r.emit(&mut b).unwrap();
        assert_eq!(&b[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&b[24..], &[10, 0, 0, 2]);
        assert_eq!(ArpRepr::parse(&b), Ok(r));
        for n in 0..ARP_LEN {
            assert_eq!(ArpRepr::parse(&b[..n]), Err(Error::Truncated));
            assert_eq!(r.emit(&mut [0u8; ARP_LEN][..n]), Err(Error::Truncated));
        }
        let mut bad = b;
        bad[5] = 16; // IPv6-length protocol addresses
        assert_eq!(ArpRepr::parse(&bad), Err(Error::Malformed));
        bad = b;
        bad[1] = 6; // IEEE 802 hardware
        assert_eq!(ArpRepr::parse(&bad), Err(Error::Malformed));
    }
}
