//! Ethernet: an Ethernet interface's `if_input` (`ether_input`: validate, filter,
//! dispatch by type) and `if_output` (`ether_output`: resolve the next hop, add the
//! header, send).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use pktbox_drivers::{Csum, Gso};

use crate::conf::Ctx;
use crate::inet::ip::ip_input;
use crate::msg::iff;
use crate::net::arp::{self, arpresolve, Resolved};
use crate::net::bpf::Dir;
use crate::net::ifnet::{inc, Dst, Ifnet};
use crate::sys::mbuf::{Mbuf, M_BCAST, M_MCAST};
use crate::sys::Stack;

use crate::wire::ethernet::{
    BROADCAST, ETHERTYPE_ARP, ETHERTYPE_IP, ETHERTYPE_IPV6, ETHER_ADDR_LEN, ETHER_HDR_LEN, ETHER_MIN_LEN,
    ETHER_VLAN_ENCAP_LEN,
};

/// Ethernet's `if_input`: one frame from the driver, on a receive thread, without the
/// stack context. Counts it, drops what is malformed or not for us, strips the header and
/// carries the rest up by type. The mbuf's metadata is what the driver says is left to
/// do: a checksum left partial, which the host vouches for, or a TCP super-frame above
/// the MTU (large receive offload).
pub fn ether_input(stack: &Stack, ifp: &Arc<Ifnet>, m: Mbuf) {
    let frame = m.as_slice();
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
    let meta = m.meta();
    // A runt, or longer than the MTU allows (with room for one VLAN tag): an input error.
    // A super-frame may be as long as one IP datagram can be.
    let max = match meta.gso {
        Gso::None => ifp.mtu() as usize,
        _ => {
            inc(&ifp.stats.ilro);
            crate::wire::ipv4::IP_MAXPACKET
        }
    } + ETHER_HDR_LEN
        + ETHER_VLAN_ENCAP_LEN;
    if frame.len() < ETHER_HDR_LEN || frame.len() > max {
        inc(&ifp.stats.ierrors);
        return;
    }
    // A checksum left partial must start past the header this layer takes off.
    if matches!(meta.csum, Csum::Partial { start, .. } if usize::from(start) < ETHER_HDR_LEN) {
        inc(&ifp.stats.ierrors);
        return;
    }
    // A bridge member: the bridge forwards the frame, or hands it back for the stack
    // through the member it is addressed to.
    if let Some(br) = ifp.bridge() {
        match crate::net::if_bridge::bridge_input(stack, &br, ifp, m) {
            crate::net::if_bridge::BridgeIn::Local(m, to) => ether_demux(stack, &to, m),
            crate::net::if_bridge::BridgeIn::Done => {}
        }
        return;
    }
    ether_demux(stack, ifp, m);
}

/// The rest of `ether_input` once the frame is known to be for this interface's stack:
/// the address check, then the protocol by type.
fn ether_demux(stack: &Stack, ifp: &Arc<Ifnet>, mut m: Mbuf) {
    let meta = m.meta();
    let frame = m.as_slice();
    let dst: [u8; 6] = [frame[0], frame[1], frame[2], frame[3], frame[4], frame[5]];
    let from_us = frame[6..12] == ifp.lladdr;
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    if dst[0] & 1 != 0 {
        inc(&ifp.stats.imcasts);
        m.flags |= if dst == BROADCAST { M_BCAST } else { M_MCAST };
    } else if dst != ifp.lladdr {
        // Received only because the interface is promiscuous: for the captures, not for us.
        return;
    }
    if from_us {
        // Our own frame came back (a looped segment): drop it, as ether_input does.
        return;
    }
    m.rcvif = ifp.index;
    m.adj(ETHER_HDR_LEN);
    m.set_network_header();
    // The protocols over Ethernet, by type.
    match ethertype {
        ETHERTYPE_ARP => {
            // ARP is off on this interface (`ifconfig IF -arp`): drop, as BSD's ether_input.
            if ifp.flags() & iff::NOARP != 0 {
                return;
            }
            let mut ctx = stack.ctx();
            arp::arp_input(&mut ctx, ifp, m.as_slice());
        }
        ETHERTYPE_IP => {
            let mut ctx = stack.ctx();
            ip_input(&mut ctx, ifp, m);
        }
        ETHERTYPE_IPV6 if meta.gso == Gso::None => {
            // A checksum the host left partial is finished here, so that what is
            // forwarded or reassembled carries a whole one; the host vouches for it (and
            // for one it says it checked), as ip_input takes it for IPv4.
            let meta = m.meta();
            if !crate::inet::in_offload::in_undefer_cksum(m.as_mut_slice(), &meta) {
                inc(&ifp.stats.ierrors);
                return;
            }
            let csum_ok = meta.csum != Csum::None;
            let mut ctx = stack.ctx();
            if ctx.inet6.enabled {
                crate::inet6::ip6::ip6_input(&mut ctx, ifp, m, csum_ok);
            } else {
                inc(&ifp.stats.noproto);
            }
        }
        // A TCP/IPv6 super-frame (large receive offload, TSO6 on the host's side).
        ETHERTYPE_IPV6 => {
            let mut ctx = stack.ctx();
            if ctx.inet6.enabled {
                crate::inet6::ip6::ip6_input_lro(&mut ctx, ifp, m);
            } else {
                inc(&ifp.stats.noproto);
            }
        }
        _ if meta.gso != Gso::None => inc(&ifp.stats.ierrors),
        _ => inc(&ifp.stats.noproto),
    }
}

/// Ethernet's `if_output`: resolves the next hop to a link-level address (ARP for IPv4,
/// which may hold the packet until the answer comes; neighbor discovery for IPv6), puts
/// the Ethernet header into the packet's headroom, pads it to the minimum frame size, and
/// hands it to the driver with the offloads it carries. EHOSTDOWN when ARP gave up on the
/// next hop recently (NetBSD's arpresolve); the packet is gone either way.
pub fn ether_output(ctx: &mut Ctx, ifp: &Ifnet, m: Mbuf, dst: Dst) -> Result<(), i32> {
    if !ifp.is_up() {
        return Err(libc::ENETDOWN);
    }
    match dst {
        Dst::Link(mac, t) => ether_frame_out(ifp, m, mac, t),
        Dst::Ip(IpAddr::V4(nh)) => ether_output_v4(ctx, ifp, nh, m),
        Dst::Ip(IpAddr::V6(nh)) => ether_output_v6(ctx, ifp, nh, m),
    }
}

/// An IPv4 packet to `nexthop` on `ifp`, to the link-level address: broadcast for a
/// broadcast address, the mapped group address for a multicast one, otherwise by ARP.
/// ARP may hold the packet while it asks; nothing goes out on an IFF_NOARP interface.
/// The mbuf moves straight on to the driver once the address is known.
fn ether_output_v4(ctx: &mut Ctx, ifp: &Ifnet, nexthop: Ipv4Addr, m: Mbuf) -> Result<(), i32> {
    let bcast = nexthop.is_broadcast()
        || ctx
            .inet
            .addrs
            .iter()
            .any(|ia| ia.ifindex == ifp.index && ia.broadcast == Some(nexthop));
    let mac = if bcast {
        BROADCAST
    } else if nexthop.is_multicast() {
        let o = nexthop.octets();
        [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
    } else if ifp.flags() & iff::NOARP != 0 {
        return Ok(());
    } else if let Some(mac) = arp::arplookup(ctx, ifp, nexthop) {
        mac
    } else {
        return match arpresolve(ctx, ifp, nexthop, m) {
            Resolved::Now(mac, m) => ether_frame_out(ifp, m, mac, ETHERTYPE_IP),
            Resolved::Held => Ok(()),
            Resolved::Down => Err(libc::EHOSTDOWN),
        };
    };
    ether_frame_out(ifp, m, mac, ETHERTYPE_IP)
}

/// An IPv6 packet to `nexthop` on `ifp`, to the link-level address: the mapped group
/// address for a multicast one (RFC 2464 7), otherwise neighbor discovery (RFC 4861 7.2),
/// which may hold the packet while it asks, as `arpresolve` does for IPv4.
fn ether_output_v6(ctx: &mut Ctx, ifp: &Ifnet, nexthop: Ipv6Addr, m: Mbuf) -> Result<(), i32> {
    if nexthop.is_multicast() {
        let mac = crate::wire::ipv6::addr::multicast_mac(&nexthop);
        return ether_frame_out(ifp, m, mac, ETHERTYPE_IPV6);
    }
    match crate::inet6::nd6::nd6_resolve(ctx, ifp, &nexthop, m) {
        crate::inet6::nd6::Resolved::Now(mac, m) => ether_frame_out(ifp, m, mac, ETHERTYPE_IPV6),
        crate::inet6::nd6::Resolved::Held => Ok(()),
        crate::inet6::nd6::Resolved::Down => Err(libc::EHOSTDOWN),
    }
}

/// Puts the Ethernet header to `dst` (from our address, of `ethertype`) in front of the
/// packet, pads it to the minimum frame, and sends it (through the interface's send
/// queue discipline, if it has one).
pub fn ether_frame_out(ifp: &Ifnet, mut m: Mbuf, dst: [u8; 6], ethertype: u16) -> Result<(), i32> {
    let h = m.prepend(ETHER_HDR_LEN);
    h[0..6].copy_from_slice(&dst);
    h[6..12].copy_from_slice(&ifp.lladdr);
    h[12..14].copy_from_slice(&ethertype.to_be_bytes());
    // Pad to the 60-byte minimum, as an Ethernet controller would.
    if m.len() < ETHER_MIN_LEN {
        m.extend(ETHER_MIN_LEN - m.len());
    }
    if let Some(br) = ifp.bridge() {
        return crate::net::if_bridge::bridge_output(&br, ifp, m.as_slice(), &m.meta());
    }
    ifp.output(m)
}
