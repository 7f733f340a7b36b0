//! Reassembly of IPv4 fragments (RFC 791 3.2, RFC 815), with bounded memory: at most
//! `net.inet.ip.maxfragpackets` datagrams in reassembly, at most `MAXFRAGS` fragments each,
//! 30 seconds to complete. Overlapping fragments discard the whole datagram (as RFC 5722
//! asks of IPv6), so no overlap trick can smuggle bytes past a filter.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::conf::Ctx;
use crate::wire::checksum::cksum;
use crate::wire::ipv4::{Ipv4Packet, IP_HDR_LEN, IP_MAXPACKET, IP_MF, IP_OFFMASK};

/// NetBSD's IPFRAGTTL: 60 slow-timeout ticks of half a second.
pub const IPFRAGTTL: Duration = Duration::from_secs(30);
/// Default of net.inet.ip.maxfragpackets.
pub const MAXFRAGPACKETS: usize = 200;
/// Fragments one datagram may arrive in.
pub const MAXFRAGS: usize = 64;

type Key = (Ipv4Addr, Ipv4Addr, u16, u8);

#[derive(Debug)]
struct Ipq {
    /// (byte offset, data), kept sorted by offset.
    frags: Vec<(usize, Vec<u8>)>,
    /// Header of the first fragment (offset 0), once it came.
    hdr: Option<Vec<u8>>,
    /// Length of the whole payload, once the last fragment came.
    total: Option<usize>,
    expire: Instant,
}

/// Datagrams being reassembled.
#[derive(Debug, Default)]
pub struct Reass {
    queues: HashMap<Key, Ipq>,
}

impl Reass {
    /// Datagrams in reassembly now.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Fragments held now.
    pub fn fragments(&self) -> usize {
        self.queues.values().map(|q| q.frags.len()).sum()
    }
}

/// Takes one fragment (a whole IP packet with a valid header). Returns the datagram when
/// this fragment completes it.
pub fn ip_reass(ctx: &mut Ctx, pkt: &[u8]) -> Option<Vec<u8>> {
    let ip = Ipv4Packet::new_unchecked(pkt);
    let hlen = ip.hlen();
    let data = &pkt[hlen..ip.total_len()];
    let off = usize::from(ip.off() & IP_OFFMASK) * 8;
    let more = ip.off() & IP_MF != 0;
    let st = &mut ctx.inet.stat;
    // Every fragment but the last carries a multiple of 8 bytes; nothing ends past 64 KiB.
    if (more && data.len() & 7 != 0) || data.is_empty() || off + data.len() + hlen > IP_MAXPACKET {
        st.fragdropped += 1;
        return None;
    }
    let key = (ip.src(), ip.dst(), ip.id(), ip.proto());
    let limit = ctx.inet.maxfragpackets;
    let r = &mut ctx.inet.reass;
    if !r.queues.contains_key(&key) {
        if r.queues.len() >= limit {
            st.fragdropped += 1;
            return None;
        }
        r.queues.insert(
            key,
            Ipq {
                frags: Vec::new(),
                hdr: None,
                total: None,
                expire: Instant::now() + IPFRAGTTL,
            },
        );
    }
    let q = r.queues.get_mut(&key)?;
    let end = off + data.len();
    // The datagram is built with the first fragment's header, which may be longer than
    // this one's: the bound holds for that header and the furthest end known so far.
    let hdr_len = if off == 0 {
        hlen
    } else {
        q.hdr.as_ref().map_or(IP_HDR_LEN, |h| h.len())
    };
    let far = q
        .frags
        .iter()
        .map(|(o, d)| o + d.len())
        .chain(q.total)
        .fold(end, usize::max);
    if hdr_len + far > IP_MAXPACKET {
        let n = q.frags.len() as u64 + 1;
        r.queues.remove(&key);
        st.fragdropped += n;
        st.toolong += 1;
        return None;
    }
    let overlaps = q.frags.iter().any(|(o, d)| off < o + d.len() && *o < end);
    let past_end = q.total.is_some_and(|t| end > t) || (!more && q.frags.iter().any(|(o, d)| o + d.len() > end));
    let twice_last = !more && q.total.is_some();
    if overlaps || past_end || twice_last || q.frags.len() >= MAXFRAGS {
        let n = q.frags.len() as u64 + 1;
        r.queues.remove(&key);
        st.fragdropped += n;
        return None;
    }
    if off == 0 {
        q.hdr = Some(pkt[..hlen].to_vec());
    }
    if !more {
        q.total = Some(end);
    }
    let pos = q.frags.partition_point(|(o, _)| *o < off);
    q.frags.insert(pos, (off, data.to_vec()));
    // Complete when the pieces cover 0..total without a hole.
    let total = q.total?;
    q.hdr.as_ref()?;
    let mut next = 0;
    for (o, d) in &q.frags {
        if *o != next {
            return None;
        }
        next = o + d.len();
    }
    if next != total {
        return None;
    }
    let q = r.queues.remove(&key)?;
    let hdr = q.hdr?;
    let mut whole = Vec::with_capacity(hdr.len() + total);
    whole.extend_from_slice(&hdr);
    for (_, d) in &q.frags {
        whole.extend_from_slice(d);
    }
    // Cannot fail after the bound above; checked again rather than truncated.
    let Ok(len) = u16::try_from(whole.len()) else {
        st.fragdropped += q.frags.len() as u64;
        st.toolong += 1;
        return None;
    };
    whole[2..4].copy_from_slice(&len.to_be_bytes());
    whole[6..8].copy_from_slice(&0u16.to_be_bytes());
    whole[10..12].copy_from_slice(&[0, 0]);
    let c = cksum(&whole[..hdr.len()]);
    whole[10..12].copy_from_slice(&c.to_be_bytes());
    Some(whole)
}

/// The reassembly timer: drops datagrams that did not complete in time.
pub fn reass_timer(ctx: &mut Ctx) {
    let now = Instant::now();
    let mut timedout = 0;
    ctx.inet.reass.queues.retain(|_, q| {
        let keep = q.expire > now;
        if !keep {
            timedout += q.frags.len() as u64;
        }
        keep
    });
    ctx.inet.stat.fragtimeout += timedout;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Stack;
    use crate::wire::ipv4::write_header;
    use std::sync::Arc;

    fn stack() -> Arc<Stack> {
        Stack::detached()
    }

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    /// A fragment of datagram 42 with a header of `hlen` bytes (options padded with NOPs),
    /// `len` bytes of data at byte offset `off`.
    fn frag(hlen: usize, off: usize, len: usize, more: bool) -> Vec<u8> {
        let mut p = vec![0x5au8; hlen + len];
        let o = (off / 8) as u16 | if more { IP_MF } else { 0 };
        write_header(&mut p[..20], 0, hlen + len, 42, o, 64, 17, SRC, DST);
        p[0] = 0x40 | (hlen / 4) as u8;
        p[20..hlen].fill(1);
        p[10..12].copy_from_slice(&[0, 0]);
        let c = cksum(&p[..hlen]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    /// 65512 bytes of data: with a 20-byte header the datagram is 65532 bytes, within
    /// the bound; with the 60-byte header of a first fragment that has options, 65572.
    const TOTAL: usize = 65512;
    const CUT: usize = 32768;

    #[test]
    fn a_datagram_just_under_the_bound_reassembles_whole() {
        let s = stack();
        let mut ctx = s.ctx();
        assert!(ip_reass(&mut ctx, &frag(20, CUT, TOTAL - CUT, false)).is_none());
        let whole = ip_reass(&mut ctx, &frag(20, 0, CUT, true)).expect("complete");
        assert_eq!(whole.len(), 20 + TOTAL);
        assert_eq!(Ipv4Packet::new_unchecked(&whole).total_len(), 20 + TOTAL);
        assert_eq!(cksum(&whole[..20]), 0);
    }

    #[test]
    fn a_long_first_header_that_takes_the_datagram_past_64k_drops_it() {
        // Either order: the long header first, or the later fragments first.
        for first_hdr_first in [true, false] {
            let s = stack();
            let mut ctx = s.ctx();
            let head = frag(60, 0, CUT, true);
            let tail = frag(20, CUT, TOTAL - CUT, false);
            let order = if first_hdr_first { [head, tail] } else { [tail, head] };
            for f in &order {
                assert!(
                    ip_reass(&mut ctx, f).is_none(),
                    "nothing may come out, let alone truncated"
                );
            }
            assert_eq!(ctx.inet.stat.toolong, 1);
            assert_eq!(ctx.inet.stat.fragdropped, 2);
            assert!(ctx.inet.reass.is_empty(), "the queue is gone");
        }
    }

    #[test]
    fn a_fragment_that_ends_past_64k_is_dropped_alone() {
        let s = stack();
        let mut ctx = s.ctx();
        assert!(ip_reass(&mut ctx, &frag(20, 65528, 16, false)).is_none());
        assert_eq!(ctx.inet.stat.fragdropped, 1);
        assert!(ctx.inet.reass.is_empty());
    }

    /// Found by the reass fuzz target: a first fragment with options (a 24-byte header)
    /// and a last one without, each within 64 KiB by its own header, made a datagram of
    /// 65539 bytes whose length field said 3. It is dropped, and its fragments counted.
    #[test]
    fn a_datagram_over_64k_with_the_first_header_is_dropped() {
        let s = stack();
        let mut ctx = s.ctx();
        let mut out = None;
        for i in 0..32 {
            let hlen = if i == 0 { 24 } else { 20 };
            out = out.or(ip_reass(&mut ctx, &frag(hlen, i * 2040, 2040, true)));
        }
        out = out.or(ip_reass(&mut ctx, &frag(20, 32 * 2040, 235, false)));
        assert!(out.is_none(), "a datagram of {} bytes", out.map_or(0, |w| w.len()));
        assert_eq!(ctx.inet.stat.fragdropped, 33);
        assert!(ctx.inet.reass.is_empty());
        // With a 20-byte first header the same pieces make the largest datagram there is.
        for i in 0..32 {
            assert!(ip_reass(&mut ctx, &frag(20, i * 2040, 2040, true)).is_none());
        }
        let whole = ip_reass(&mut ctx, &frag(20, 32 * 2040, 235, false)).expect("whole");
        assert_eq!(whole.len(), IP_MAXPACKET);
        assert_eq!(Ipv4Packet::new_unchecked(&whole).total_len(), IP_MAXPACKET);
    }
}
