//! Reassembly of IPv4 fragments (RFC 791 3.2, RFC 815), with bounded memory: at most
//! `net.inet.ip.maxfragpackets` datagrams in reassembly, at most `MAXFRAGS` fragments each,
//! 30 seconds to complete. Overlapping fragments discard the whole datagram (as RFC 5722
//! asks of IPv6), so no overlap trick can smuggle bytes past a filter.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::inet::cksum::cksum;
use crate::inet::ip::{Ip, IP_MAXPACKET, IP_MF, IP_OFFMASK};
use crate::sys::Ctx;

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
    let ip = Ip(pkt);
    let hlen = ip.hlen();
    let data = &pkt[hlen..ip.total_len()];
    let off = usize::from(ip.off() & IP_OFFMASK) * 8;
    let more = ip.off() & IP_MF != 0;
    let st = &mut ctx.inet.stat;
    // Every fragment but the last carries a multiple of 8 bytes; nothing ends past 64 KiB.
    if (more && !data.len().is_multiple_of(8)) || data.is_empty() || off + data.len() + hlen > IP_MAXPACKET {
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
    let len = whole.len() as u16;
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
