//! ARP (RFC 826): answering for our addresses, announcing them (gratuitous ARP), and noticing
//! another host that claims one of them. Counters follow NetBSD's `arpstat`.

use std::net::Ipv4Addr;
use std::sync::Arc;

use pnet_base::MacAddr;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::EtherTypes;
use pnet_packet::MutablePacket;

use crate::net::ether::{ether_ntoa, ether_output, BROADCAST};
use crate::net::ifnet::Ifnet;
use crate::sys::Ctx;

/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;

/// NetBSD's `arpstat` counters, as `netstat -s -p arp` words them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArpStats {
    pub sent_requests: u64,
    pub sent_replies: u64,
    pub received: u64,
    pub rcv_requests: u64,
    pub rcv_replies: u64,
    pub rcv_mcast: u64,
    pub rcv_badproto: u64,
    pub rcv_badlen: u64,
    pub rcv_zerotpa: u64,
    pub rcv_zerospa: u64,
    pub rcv_localsha: u64,
    pub rcv_bcastsha: u64,
    pub dup_ips: u64,
}

fn mac(m: MacAddr) -> [u8; 6] {
    m.octets()
}

/// Input of one ARP packet (the Ethernet payload), under the stack context.
pub fn arp_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, payload: &[u8]) {
    let st = &mut ctx.arpstat;
    st.received += 1;
    if payload.len() < ARP_LEN {
        st.rcv_badlen += 1;
        return;
    }
    let Some(ah) = ArpPacket::new(payload) else {
        st.rcv_badlen += 1;
        return;
    };
    if ah.get_hardware_type() != ArpHardwareTypes::Ethernet
        || ah.get_protocol_type() != EtherTypes::Ipv4
        || ah.get_hw_addr_len() != 6
        || ah.get_proto_addr_len() != 4
    {
        st.rcv_badproto += 1;
        return;
    }
    let op = ah.get_operation();
    let sha = mac(ah.get_sender_hw_addr());
    let spa = ah.get_sender_proto_addr();
    let tpa = ah.get_target_proto_addr();
    if op == ArpOperations::Request {
        st.rcv_requests += 1;
    } else if op == ArpOperations::Reply {
        st.rcv_replies += 1;
    }
    if sha == ifp.lladdr {
        st.rcv_localsha += 1;
        return;
    }
    if sha[0] & 1 != 0 {
        st.rcv_bcastsha += 1;
        return;
    }
    if tpa.is_unspecified() {
        st.rcv_zerotpa += 1;
        return;
    }
    if spa.is_unspecified() {
        st.rcv_zerospa += 1;
    }
    let ours = |a: Ipv4Addr| {
        ctx.inet
            .addrs
            .iter()
            .any(|ia| ia.ifindex == ifp.index && ia.addr == a)
    };
    if ours(spa) {
        ctx.arpstat.dup_ips += 1;
        crate::klog!(
            "{}: duplicate IP address {} sent from link address {}",
            ifp.name,
            spa,
            ether_ntoa(&sha)
        );
        return;
    }
    if op == ArpOperations::Request && ours(tpa) {
        if send(ifp, ArpOperations::Reply, tpa, sha, spa, sha).is_ok() {
            ctx.arpstat.sent_replies += 1;
        }
    }
}

/// Sends one ARP packet from our link-level address.
fn send(
    ifp: &Ifnet,
    op: pnet_packet::arp::ArpOperation,
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
    dst: [u8; 6],
) -> Result<(), i32> {
    let mut buf = [0u8; ARP_LEN];
    let Some(mut p) = MutableArpPacket::new(&mut buf) else {
        return Err(libc::EINVAL);
    };
    p.set_hardware_type(ArpHardwareTypes::Ethernet);
    p.set_protocol_type(EtherTypes::Ipv4);
    p.set_hw_addr_len(6);
    p.set_proto_addr_len(4);
    p.set_operation(op);
    let l = ifp.lladdr;
    p.set_sender_hw_addr(MacAddr::new(l[0], l[1], l[2], l[3], l[4], l[5]));
    p.set_sender_proto_addr(spa);
    p.set_target_hw_addr(MacAddr::new(tha[0], tha[1], tha[2], tha[3], tha[4], tha[5]));
    p.set_target_proto_addr(tpa);
    let _ = p.packet_mut();
    ether_output(ifp, dst, EtherTypes::Arp, &buf)
}

/// Announces an address just configured on an interface (gratuitous ARP: a request for
/// our own address), as `arp_ifinit` does.
pub fn arp_announce(ctx: &mut Ctx, ifp: &Ifnet, addr: Ipv4Addr) {
    if send(ifp, ArpOperations::Request, addr, [0; 6], addr, BROADCAST).is_ok() {
        ctx.arpstat.sent_requests += 1;
    }
}
