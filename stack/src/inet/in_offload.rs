//! Offloads done in software when the interface cannot do them (NetBSD's
//! `netinet/in_offload.c`): cutting a TCP super-segment into MTU-sized segments
//! (`tcp4_segment`, `tcp6_segment`) and finishing a checksum left partial
//! (`in_undefer_cksum`); and the questions both families' output asks before it leaves
//! them to the interface (`offload_fits`, `out_meta`) or their input (`rx_meta_ok6`).

use std::net::Ipv6Addr;

use pktbox_drivers::{finish_csum, ifcap, Csum, FrameMeta, Gso};

use crate::inet::ip::OutOffload;
use crate::inet::tcp::output::tcp_cksum;
use crate::net::ifnet::Ifnet;
use crate::sys::mbuf::Mbuf;
use crate::wire::checksum::cksum;
use crate::wire::ipv4::{Ipv4Packet, IP_HDR_LEN};
use crate::wire::ipv4::{IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::tcp::{TH_FIN, TH_PUSH};

/// The fixed IPv6 header's length.
const IP6_HDR_LEN: usize = 40;

/// TCP's CWR flag: only on the first segment of a cut one.
const TH_CWR: u8 = 0x80;

/// Finishes the checksum `meta` left partial in `frame` (the packet its offsets count
/// from). False when the offsets do not fit the frame.
pub fn in_undefer_cksum(frame: &mut [u8], meta: &FrameMeta) -> bool {
    match meta.csum {
        Csum::Partial { start, offset } => {
            if !finish_csum(frame, start, offset) {
                return false;
            }
            // A UDP checksum that comes out zero is sent as all ones (RFC 768; zero
            // means "none", which IPv6 does not allow).
            let at = usize::from(start) + usize::from(offset);
            if transport_at(frame).is_some_and(|(p, _)| p == IPPROTO_UDP) && frame[at..at + 2] == [0, 0] {
                frame[at..at + 2].copy_from_slice(&[0xff, 0xff]);
            }
            true
        }
        _ => true,
    }
}

/// Cuts the TCP/IPv4 datagram `pkt` into segments of at most `mss` bytes of data, each a
/// whole datagram with complete checksums in an mbuf of its own (from the free list), and
/// hands each to `emit` in order. IP ids count up from the datagram's. Nothing is emitted, and
/// the answer is false, when the datagram is not a well-formed TCP one.
pub fn tcp4_segment(pkt: &[u8], mss: usize, mut emit: impl FnMut(Mbuf)) -> bool {
    if pkt.len() < IP_HDR_LEN || mss == 0 {
        return false;
    }
    let ip = Ipv4Packet::new_unchecked(pkt);
    let hlen = ip.hlen();
    let total = ip.total_len().min(pkt.len());
    if hlen < IP_HDR_LEN || total < hlen + 20 {
        return false;
    }
    let th = &pkt[hlen..total];
    let doff = usize::from(th[12] >> 4) * 4;
    if doff < 20 || doff > th.len() {
        return false;
    }
    let data = &th[doff..];
    let seq0 = u32::from_be_bytes([th[4], th[5], th[6], th[7]]);
    let flags = th[13];
    let (src, dst, id0) = (ip.src(), ip.dst(), ip.id());
    let n = data.len().div_ceil(mss).max(1);
    for i in 0..n {
        let chunk = &data[(i * mss).min(data.len())..((i + 1) * mss).min(data.len())];
        let len = hlen + doff + chunk.len();
        let mut f = Mbuf::with_capacity(len);
        f.append(&pkt[..hlen]);
        f.append(&th[..doff]);
        f.append(chunk);
        let p = f.as_mut_slice();
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[4..6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let c = cksum(&p[..hlen]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let t = &mut p[hlen..];
        t[4..8].copy_from_slice(&seq0.wrapping_add((i * mss) as u32).to_be_bytes());
        let mut fl = flags;
        if i + 1 < n {
            fl &= !(TH_FIN | TH_PUSH);
        }
        if i > 0 {
            fl &= !TH_CWR;
        }
        t[13] = fl;
        t[16..18].copy_from_slice(&[0, 0]);
        let c = tcp_cksum(src.into(), dst.into(), t);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        f.set_network_header();
        emit(f);
    }
    true
}

/// The transport protocol right behind the network header of an IPv4 or IPv6 packet, and
/// where it starts; None for anything else (an IPv6 packet with extension headers is not
/// offloaded: devices look only behind the fixed header).
pub fn transport_at(pkt: &[u8]) -> Option<(u8, usize)> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= IP_HDR_LEN => {
            let ip = Ipv4Packet::new_unchecked(pkt);
            Some((ip.proto(), ip.hlen()))
        }
        6 if pkt.len() >= IP6_HDR_LEN => Some((pkt[6], IP6_HDR_LEN)),
        _ => None,
    }
}

/// The network and TCP header lengths of a TCP packet of either family (0 when it is too
/// short to say).
pub fn tcp_hdrs(pkt: &[u8]) -> usize {
    let Some((_, hlen)) = transport_at(pkt) else {
        return 0;
    };
    pkt.get(hlen + 12).map(|b| hlen + usize::from(b >> 4) * 4).unwrap_or(0)
}

/// Whether `ifp` can finish the offloads of packet `pkt` (IPv4 or IPv6): the checksum
/// offload for its family and protocol on a packet that fits `mtu`, and for a TCP
/// super-segment TSO4 or TSO6 with segments that fit `mtu`.
pub fn offload_fits(ifp: &Ifnet, pkt: &[u8], meta: &FrameMeta, mtu: usize) -> bool {
    let caps = ifp.capenable();
    let Some((proto, _)) = transport_at(pkt) else {
        return false;
    };
    let v6 = pkt[0] >> 4 == 6;
    let (tso, tcp, udp) = if v6 {
        (ifcap::TSOV6, ifcap::CSUM_TCPV6_TX, ifcap::CSUM_UDPV6_TX)
    } else {
        (ifcap::TSOV4, ifcap::CSUM_TCPV4_TX, ifcap::CSUM_UDPV4_TX)
    };
    let need = match (meta.gso, proto) {
        (Gso::Tcp4 { size }, IPPROTO_TCP) if !v6 => {
            if tcp_hdrs(pkt) + usize::from(size) > mtu {
                return false;
            }
            tso | tcp
        }
        (Gso::Tcp6 { size }, IPPROTO_TCP) if v6 => {
            if tcp_hdrs(pkt) + usize::from(size) > mtu {
                return false;
            }
            tso | tcp
        }
        // A packet above the MTU is to be fragmented (or, for IPv6, cut by TCP's
        // software path): not the interface's to finish whole.
        (Gso::None, _) if pkt.len() > mtu => return false,
        (Gso::None, IPPROTO_TCP) => tcp,
        (Gso::None, IPPROTO_UDP) => udp,
        _ => return false,
    };
    let need = if matches!(meta.csum, Csum::Partial { .. }) {
        need
    } else {
        need & tso
    };
    caps & need == need
}

/// The offload metadata of a locally made packet `pkt` of either family whose transport
/// layer asked for `off`: the checksum left partial at the transport header, and a TCP
/// segment with more data than `off.tso` marked for cutting (Gso::Tcp4 or Gso::Tcp6).
pub fn out_meta(pkt: &[u8], proto: u8, off: &OutOffload) -> FrameMeta {
    let mut meta = FrameMeta::PLAIN;
    let (Some(at), Some((_, hlen))) = (off.csum_at, transport_at(pkt)) else {
        return meta;
    };
    meta.csum = Csum::Partial {
        start: hlen as u16,
        offset: at,
    };
    if off.tso != 0 && proto == IPPROTO_TCP && pkt.len().saturating_sub(tcp_hdrs(pkt)) > usize::from(off.tso) {
        meta.gso = if pkt[0] >> 4 == 6 {
            Gso::Tcp6 { size: off.tso }
        } else {
            Gso::Tcp4 { size: off.tso }
        };
    }
    meta
}

/// Cuts the TCP/IPv6 packet `pkt` (TCP right behind the fixed header) into segments of at
/// most `mss` bytes of data, each a whole packet with its checksum in an mbuf of its own,
/// handed to `emit` in order (NetBSD's `tcp6_segment`). Nothing is emitted, and the answer
/// is false, when the packet is not a well-formed TCP/IPv6 one.
pub fn tcp6_segment(pkt: &[u8], mss: usize, mut emit: impl FnMut(Mbuf)) -> bool {
    if pkt.len() < IP6_HDR_LEN + 20 || mss == 0 || pkt[0] >> 4 != 6 || pkt[6] != IPPROTO_TCP {
        return false;
    }
    let plen = usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
    let total = (IP6_HDR_LEN + plen).min(pkt.len());
    if total < IP6_HDR_LEN + 20 {
        return false;
    }
    let th = &pkt[IP6_HDR_LEN..total];
    let doff = usize::from(th[12] >> 4) * 4;
    if doff < 20 || doff > th.len() {
        return false;
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&pkt[8..24]);
    let src = Ipv6Addr::from(a);
    a.copy_from_slice(&pkt[24..40]);
    let dst = Ipv6Addr::from(a);
    let data = &th[doff..];
    let seq0 = u32::from_be_bytes([th[4], th[5], th[6], th[7]]);
    let flags = th[13];
    let n = data.len().div_ceil(mss).max(1);
    for i in 0..n {
        let chunk = &data[(i * mss).min(data.len())..((i + 1) * mss).min(data.len())];
        let len = IP6_HDR_LEN + doff + chunk.len();
        let mut f = Mbuf::with_capacity(len);
        f.append(&pkt[..IP6_HDR_LEN]);
        f.append(&th[..doff]);
        f.append(chunk);
        let p = f.as_mut_slice();
        p[4..6].copy_from_slice(&((len - IP6_HDR_LEN) as u16).to_be_bytes());
        let t = &mut p[IP6_HDR_LEN..];
        t[4..8].copy_from_slice(&seq0.wrapping_add((i * mss) as u32).to_be_bytes());
        let mut fl = flags;
        if i + 1 < n {
            fl &= !(TH_FIN | TH_PUSH);
        }
        if i > 0 {
            fl &= !TH_CWR;
        }
        t[13] = fl;
        t[16..18].copy_from_slice(&[0, 0]);
        let c = tcp_cksum(src.into(), dst.into(), t);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        f.set_network_header();
        emit(f);
    }
    true
}

/// Whether the offload metadata of a received IPv6 packet `pkt` (the network header
/// first) makes sense: a super-frame only of TCP right behind the fixed header, with its
/// checksum left partial at the TCP header; a partial checksum inside the packet.
pub fn rx_meta_ok6(pkt: &[u8], meta: &FrameMeta) -> bool {
    match meta.gso {
        Gso::None => {}
        Gso::Tcp6 { size } => {
            let at_tcp = matches!(meta.csum, Csum::Partial { start, offset: 16 } if usize::from(start) == IP6_HDR_LEN);
            if size == 0 || !at_tcp || pkt.len() < IP6_HDR_LEN + 20 || pkt[6] != IPPROTO_TCP {
                return false;
            }
        }
        Gso::Tcp4 { .. } => return false,
    }
    match meta.csum {
        Csum::Partial { start, offset } => usize::from(start) + usize::from(offset) + 2 <= pkt.len(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::write_header;
    use std::net::Ipv4Addr;

    /// A UDP/IPv6 datagram whose checksum was left to the interface, finished in software
    /// instead: the same bytes as a checksum done at once; and a sum that comes out zero is
    /// sent as all ones (RFC 768), never as "no checksum", which IPv6 refuses.
    #[test]
    fn a_partial_udp6_checksum_finished_in_software_is_whole_and_never_zero() {
        use crate::wire::ipv6::Ipv6Repr;
        use crate::wire::udp::UdpRepr;
        let (src, dst): (Ipv6Addr, Ipv6Addr) = ("2001:db8::2".parse().unwrap(), "2001:db8::1".parse().unwrap());
        let r = UdpRepr {
            src_port: 5000,
            dst_port: 53,
        };
        let build = |data: &[u8], partial: bool| {
            let n = 8 + data.len();
            let mut p = vec![0u8; IP6_HDR_LEN + n];
            Ipv6Repr {
                traffic_class: 0,
                flow_label: 0,
                payload_len: n as u16,
                next_header: IPPROTO_UDP,
                hop_limit: 64,
                src,
                dst,
            }
            .emit(&mut p);
            let u = &mut p[IP6_HDR_LEN..];
            if partial {
                r.emit_partial(u, data, src.into(), dst.into()).unwrap();
            } else {
                r.emit(u, data, src.into(), dst.into()).unwrap();
            }
            p
        };
        let meta = out_meta(
            &build(b"", true),
            IPPROTO_UDP,
            &OutOffload {
                csum_at: Some(6),
                tso: 0,
            },
        );
        assert_eq!(meta.csum, Csum::Partial { start: 40, offset: 6 });
        for data in [&b"hello"[..], &[0u8; 0][..], &[0xa5; 1401][..]] {
            let mut p = build(data, true);
            assert!(in_undefer_cksum(&mut p, &meta));
            assert_eq!(p, build(data, false), "{} bytes", data.len());
        }
        // Two bytes of data that make the sum come out zero.
        let mut p = build(&[0, 0], true);
        assert!(in_undefer_cksum(&mut p, &meta));
        let c = u16::from_be_bytes([p[46], p[47]]);
        let mut p = build(&c.to_be_bytes(), true);
        assert!(in_undefer_cksum(&mut p, &meta));
        assert_eq!(p[46..48], [0xff, 0xff]);
        assert_eq!(crate::wire::checksum::cksum6(&src, &dst, IPPROTO_UDP, &p[40..]), 0);
    }

    fn datagram(data_len: usize, flags: u8) -> Vec<u8> {
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let total = IP_HDR_LEN + 20 + data_len;
        let mut p = vec![0u8; total];
        write_header(&mut p[..IP_HDR_LEN], 0, total, 100, 0, 64, IPPROTO_TCP, src, dst);
        let t = &mut p[IP_HDR_LEN..];
        t[0..2].copy_from_slice(&1000u16.to_be_bytes());
        t[2..4].copy_from_slice(&2000u16.to_be_bytes());
        t[4..8].copy_from_slice(&7u32.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        for (i, b) in t[20..].iter_mut().enumerate() {
            *b = i as u8;
        }
        p
    }

    #[test]
    fn cuts_into_checksummed_segments() {
        let p = datagram(3000, 0x10 | TH_PUSH | TH_FIN);
        let mut segs = Vec::new();
        assert!(tcp4_segment(&p, 1448, |f| segs.push(f)));
        assert_eq!(segs.len(), 3);
        let mut seq = 7u32;
        let mut data = Vec::new();
        for (i, f) in segs.iter().enumerate() {
            let p = f.as_slice();
            assert_eq!(cksum(&p[..IP_HDR_LEN]), 0);
            let ip = Ipv4Packet::new_unchecked(p);
            assert_eq!(ip.total_len(), p.len());
            assert_eq!(ip.id(), 100 + i as u16);
            let t = &p[IP_HDR_LEN..];
            assert_eq!(tcp_cksum(ip.src().into(), ip.dst().into(), t), 0);
            assert_eq!(u32::from_be_bytes([t[4], t[5], t[6], t[7]]), seq);
            let last = i == 2;
            assert_eq!(t[13] & (TH_PUSH | TH_FIN) != 0, last);
            seq += (t.len() - 20) as u32;
            data.extend_from_slice(&t[20..]);
        }
        assert_eq!(data, p[IP_HDR_LEN + 20..]);
    }

    #[test]
    fn refuses_what_is_not_tcp() {
        assert!(!tcp4_segment(&[0u8; 10], 1448, |_| panic!()));
        let mut p = datagram(20, 0x10);
        p[IP_HDR_LEN + 12] = 0xf0; // data offset past the end
        assert!(!tcp4_segment(&p, 1448, |_| panic!()));
    }
    fn packet6(data_len: usize, flags: u8) -> Vec<u8> {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut p = vec![0u8; IP6_HDR_LEN + 20 + data_len];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((20 + data_len) as u16).to_be_bytes());
        p[6] = IPPROTO_TCP;
        p[7] = 64;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&dst.octets());
        let t = &mut p[IP6_HDR_LEN..];
        t[0..2].copy_from_slice(&1000u16.to_be_bytes());
        t[2..4].copy_from_slice(&2000u16.to_be_bytes());
        t[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        for (i, b) in t[20..].iter_mut().enumerate() {
            *b = (i * 7) as u8;
        }
        p
    }

    #[test]
    fn cuts_a_v6_super_segment_into_checksummed_ones() {
        let p = packet6(4000, 0x10 | TH_PUSH | TH_FIN | TH_CWR);
        let mut segs = Vec::new();
        assert!(tcp6_segment(&p, 1428, |f| segs.push(f)));
        assert_eq!(segs.len(), 3);
        let (src, dst) = (
            "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
            "2001:db8::2".parse::<Ipv6Addr>().unwrap(),
        );
        let mut seq = u32::MAX;
        let mut data = Vec::new();
        for (i, f) in segs.iter().enumerate() {
            let q = f.as_slice();
            assert_eq!(q[..4], p[..4]);
            assert_eq!(q[6..40], p[6..40]);
            assert_eq!(usize::from(u16::from_be_bytes([q[4], q[5]])), q.len() - IP6_HDR_LEN);
            let t = &q[IP6_HDR_LEN..];
            assert_eq!(tcp_cksum(src.into(), dst.into(), t), 0, "segment {i}");
            assert_eq!(u32::from_be_bytes([t[4], t[5], t[6], t[7]]), seq);
            assert_eq!(t[13] & (TH_PUSH | TH_FIN) != 0, i == 2);
            assert_eq!(t[13] & TH_CWR != 0, i == 0);
            seq = seq.wrapping_add((t.len() - 20) as u32);
            data.extend_from_slice(&t[20..]);
        }
        assert_eq!(data, p[IP6_HDR_LEN + 20..]);
        // What is not TCP right behind the header is refused.
        let mut q = p.clone();
        q[6] = 0; // a hop-by-hop header first
        assert!(!tcp6_segment(&q, 1428, |_| panic!()));
        assert!(!tcp6_segment(&p[..50], 1428, |_| panic!()));
    }

    #[test]
    fn a_v6_checksum_left_partial_is_finished_right() {
        // What TCP leaves for the interface (the pseudo-header's sum), finished as a
        // device would from out_meta's offsets, is the checksum tcp_cksum computes.
        let mut p = packet6(1000, 0x18);
        let (src, dst) = (
            "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
            "2001:db8::2".parse::<Ipv6Addr>().unwrap(),
        );
        let len = p.len() - IP6_HDR_LEN;
        let ps = !crate::wire::checksum::fold(crate::wire::checksum::pseudo_sum(
            src.into(),
            dst.into(),
            IPPROTO_TCP,
            len,
        ));
        p[IP6_HDR_LEN + 16..IP6_HDR_LEN + 18].copy_from_slice(&ps.to_be_bytes());
        let meta = out_meta(
            &p,
            IPPROTO_TCP,
            &OutOffload {
                csum_at: Some(16),
                tso: 0,
            },
        );
        assert!(in_undefer_cksum(&mut p, &meta));
        assert_eq!(tcp_cksum(src.into(), dst.into(), &p[IP6_HDR_LEN..]), 0);
    }

    #[test]
    fn out_meta_and_rx_checks_for_v6() {
        let p = packet6(4000, 0x10);
        let off = OutOffload {
            csum_at: Some(16),
            tso: 1428,
        };
        let m = out_meta(&p, IPPROTO_TCP, &off);
        assert_eq!(m.csum, Csum::Partial { start: 40, offset: 16 });
        assert_eq!(m.gso, Gso::Tcp6 { size: 1428 });
        assert!(rx_meta_ok6(&p, &m));
        assert_eq!(tcp_hdrs(&p), 60);
        // Small enough for one segment: the checksum alone.
        let m = out_meta(&packet6(100, 0x10), IPPROTO_TCP, &off);
        assert_eq!(m.gso, Gso::None);
        // A v4 super-frame in a v6 packet, or a partial checksum past the end, is refused.
        let bad = FrameMeta {
            csum: Csum::Partial { start: 40, offset: 16 },
            gso: Gso::Tcp4 { size: 1428 },
        };
        assert!(!rx_meta_ok6(&p, &bad));
        let bad = FrameMeta {
            csum: Csum::Partial {
                start: 4100,
                offset: 16,
            },
            gso: Gso::None,
        };
        assert!(!rx_meta_ok6(&p, &bad));
    }
}
