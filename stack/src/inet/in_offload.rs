//! Offloads done in software when the interface cannot do them (NetBSD's
//! `netinet/in_offload.c`): cutting a TCP super-segment into MTU-sized segments
//! (`tcp4_segment`) and finishing a checksum left partial (`in_undefer_cksum`).

use pktbox_drivers::{finish_csum, Csum, FrameMeta};

use crate::inet::cksum::cksum;
use crate::inet::ip::{Ip, IP_HDR_LEN};
use crate::inet::tcp::output::{tcp_cksum, TH_FIN, TH_PUSH};
use crate::sys::mbuf::Mbuf;

/// TCP's CWR flag: only on the first segment of a cut one.
const TH_CWR: u8 = 0x80;

/// Finishes the checksum `meta` left partial in `frame` (the packet its offsets count
/// from). False when the offsets do not fit the frame.
pub fn in_undefer_cksum(frame: &mut [u8], meta: &FrameMeta) -> bool {
    match meta.csum {
        Csum::Partial { start, offset } => finish_csum(frame, start, offset),
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
    let ip = Ip(pkt);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inet::ip::{write_header, IPPROTO_TCP};
    use std::net::Ipv4Addr;

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
            let ip = Ip(p);
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
}
