//! Ethernet: `ether_input` (validate, filter, dispatch by type) and `ether_output`.

use std::cell::RefCell;
use std::sync::Arc;

use pktbox_drivers::{FrameMeta, Gso};
use pnet_packet::ethernet::{EtherType, EtherTypes, EthernetPacket};
use pnet_packet::Packet;

use crate::inet::ip::ip_input;
use crate::net::arp;
use crate::net::bpf::Dir;
use crate::net::ifnet::{inc, Ifnet};
use crate::sys::Stack;

pub const ETHER_ADDR_LEN: usize = 6;
pub const ETHER_HDR_LEN: usize = 14;
pub const ETHER_VLAN_ENCAP_LEN: usize = 4;
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// Formats a link-level address as ifconfig prints it.
pub fn ether_ntoa(a: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        a[0], a[1], a[2], a[3], a[4], a[5]
    )
}

/// Input of one frame from a driver, on a receive thread, without the stack context.
/// Counts it, drops what is malformed or not for us, and carries the rest up. `meta` is
/// what the driver says is left to do: a checksum left partial, which the host vouches
/// for, or a TCP super-frame above the MTU (large receive offload).
pub fn ether_input(stack: &Stack, ifp: &Arc<Ifnet>, frame: &mut [u8], meta: FrameMeta) {
    // The address filter a controller applies: a unicast frame for another station is
    // not received at all unless the interface is promiscuous (a hub repeats everything).
    if frame.len() >= ETHER_ADDR_LEN && frame[0] & 1 == 0 && frame[..ETHER_ADDR_LEN] != ifp.lladdr && !ifp.promisc() {
        return;
    }
    ifp.count_in(frame.len());
    ifp.bpf.tap(frame, Dir::In);
    if !ifp.is_up() {
        inc(&ifp.stats.iqdrops);
        return;
    }
    // A runt, or longer than the MTU allows (with room for one VLAN tag): an input error.
    // A super-frame may be as long as one IP datagram can be.
    let max = match meta.gso {
        Gso::None => ifp.mtu() as usize,
        _ => {
            inc(&ifp.stats.ilro);
            crate::inet::ip::IP_MAXPACKET
        }
    } + ETHER_HDR_LEN
        + ETHER_VLAN_ENCAP_LEN;
    if frame.len() < ETHER_HDR_LEN || frame.len() > max {
        inc(&ifp.stats.ierrors);
        return;
    }
    let Some(eh) = EthernetPacket::new(frame) else {
        inc(&ifp.stats.ierrors);
        return;
    };
    let dst = eh.get_destination().octets();
    let l2bcast = dst[0] & 1 != 0;
    if l2bcast {
        inc(&ifp.stats.imcasts);
    } else if dst != ifp.lladdr {
        // Received only because the interface is promiscuous: for the captures, not for us.
        return;
    }
    let src = eh.get_source().octets();
    if src == ifp.lladdr {
        // Our own frame came back (a looped segment): drop it, as ether_input does.
        return;
    }
    match eh.get_ethertype() {
        EtherTypes::Arp => {
            // ARP is off on this interface (`ifconfig IF -arp`): drop, as BSD's ether_input.
            if ifp.flags() & crate::msg::iff::NOARP != 0 {
                return;
            }
            let mut ctx = stack.ctx();
            arp::arp_input(&mut ctx, ifp, eh.payload());
        }
        EtherTypes::Ipv4 => {
            let mut ctx = stack.ctx();
            ip_input(&mut ctx, ifp, frame, ETHER_HDR_LEN, l2bcast, meta);
        }
        EtherTypes::Ipv6 if meta.gso == Gso::None => {
            // A checksum the host left partial is finished here; the host vouches for it
            // (and for one it says it checked), as ip_input takes it for IPv4.
            if !crate::inet::in_offload::in_undefer_cksum(frame, &meta) {
                inc(&ifp.stats.ierrors);
                return;
            }
            let csum_ok = meta.csum != pktbox_drivers::Csum::None;
            let mut ctx = stack.ctx();
            if ctx.inet6.enabled {
                crate::inet6::ip6::ip6_input(&mut ctx, ifp, &frame[ETHER_HDR_LEN..], csum_ok);
            } else {
                inc(&ifp.stats.noproto);
            }
        }
        _ if meta.gso != Gso::None => inc(&ifp.stats.ierrors),
        _ => inc(&ifp.stats.noproto),
    }
}

thread_local! {
    static OUTBUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(pktbox_drivers::RX_BUF));
}

/// Builds the Ethernet header in front of `payload` and transmits the frame.
pub fn ether_output(ifp: &Ifnet, dst: [u8; 6], ethertype: EtherType, payload: &[u8]) -> Result<(), i32> {
    if payload.len() > ifp.mtu() as usize {
        return Err(libc::EMSGSIZE);
    }
    OUTBUF.with(|b| {
        let mut b = b.borrow_mut();
        b.clear();
        b.extend_from_slice(&dst);
        b.extend_from_slice(&ifp.lladdr);
        b.extend_from_slice(&ethertype.0.to_be_bytes());
        b.extend_from_slice(payload);
        // Pad to the 60-byte minimum, as an Ethernet controller would.
        if b.len() < 60 {
            b.resize(60, 0);
        }
        ifp.transmit(&b, &FrameMeta::PLAIN)
    })
}

/// Sends a frame whose first 14 bytes are room for the Ethernet header: fills it in, pads
/// to the minimum frame size, transmits. Saves a copy on the output and forwarding paths.
pub fn ether_send(ifp: &Ifnet, dst: [u8; 6], ethertype: EtherType, frame: &mut Vec<u8>) -> Result<(), i32> {
    ether_send_slice(ifp, dst, ethertype, frame.as_mut_slice(), &FrameMeta::PLAIN)
}

/// `ether_send` over a slice (the frame cannot grow, so a short one is padded by copy),
/// with the offloads the interface is to finish.
pub fn ether_send_slice(
    ifp: &Ifnet,
    dst: [u8; 6],
    ethertype: EtherType,
    frame: &mut [u8],
    meta: &FrameMeta,
) -> Result<(), i32> {
    if frame.len() < ETHER_HDR_LEN {
        return Err(libc::EINVAL);
    }
    frame[0..6].copy_from_slice(&dst);
    frame[6..12].copy_from_slice(&ifp.lladdr);
    frame[12..14].copy_from_slice(&ethertype.0.to_be_bytes());
    if frame.len() < 60 {
        let mut b = [0u8; 60];
        b[..frame.len()].copy_from_slice(frame);
        return ifp.transmit(&b, meta);
    }
    ifp.transmit(frame, meta)
}
