//! Ethernet II framing (IEEE 802.3, `net/if_ether.h`): the constants, pnet_packet's view
//! of the 14-byte header (it fits: a fixed header whose accessors need only its length),
//! and a `Repr` with `parse` and `emit` over that view.

pub use pnet_base::MacAddr;
pub use pnet_packet::ethernet::{EtherType, EthernetPacket, MutableEthernetPacket};

use super::{Error, Result};

pub const ETHER_ADDR_LEN: usize = 6;
pub const ETHER_TYPE_LEN: usize = 2;
pub const ETHER_HDR_LEN: usize = 14;
pub const ETHER_VLAN_ENCAP_LEN: usize = 4;
/// Smallest frame on the wire (without the FCS): shorter ones are padded.
pub const ETHER_MIN_LEN: usize = 60;
/// The payload of a standard frame.
pub const ETHERMTU: usize = 1500;
pub const BROADCAST: [u8; 6] = [0xff; 6];

pub const ETHERTYPE_IP: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_REVARP: u16 = 0x8035;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Formats a link-level address as ifconfig prints it.
pub fn ether_ntoa(a: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        a[0], a[1], a[2], a[3], a[4], a[5]
    )
}

/// Whether an address is a group (multicast or broadcast) address.
pub fn is_group(a: &[u8; 6]) -> bool {
    a[0] & 1 != 0
}

/// A frame's header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Reads the header of `frame`; the payload is what follows `ETHER_HDR_LEN`.
    pub fn parse(frame: &[u8]) -> Result<EthernetRepr> {
        let p = EthernetPacket::new(frame).ok_or(Error::Truncated)?;
        Ok(EthernetRepr {
            dst: p.get_destination().octets(),
            src: p.get_source().octets(),
            ethertype: p.get_ethertype().0,
        })
    }

    /// Writes the header into `buf[..ETHER_HDR_LEN]`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let mut p = MutableEthernetPacket::new(buf).ok_or(Error::Truncated)?;
        p.set_destination(MacAddr::from(self.dst));
        p.set_source(MacAddr::from(self.src));
        p.set_ethertype(EtherType(self.ethertype));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let r = EthernetRepr {
            dst: BROADCAST,
            src: [2, 0, 0, 0, 0, 1],
            ethertype: ETHERTYPE_ARP,
        };
        let mut f = [0u8; ETHER_HDR_LEN + 2];
        r.emit(&mut f).unwrap();
        assert_eq!(&f[..14], &[255, 255, 255, 255, 255, 255, 2, 0, 0, 0, 0, 1, 8, 6]);
        assert_eq!(EthernetRepr::parse(&f), Ok(r));
        for n in 0..ETHER_HDR_LEN {
            assert_eq!(EthernetRepr::parse(&f[..n]), Err(Error::Truncated));
            assert_eq!(r.emit(&mut [0u8; 14][..n]), Err(Error::Truncated));
        }
        assert!(is_group(&r.dst) && !is_group(&r.src));
        assert_eq!(ether_ntoa(&r.src), "02:00:00:00:00:01");
    }
}
