//! Reassembly of IPv6 fragments (RFC 8200 section 4.5), bounded: at most
//! `maxfragpackets` datagrams in reassembly, `MAXFRAGS` fragments each, `REASS_MEM_MAX`
//! bytes in all; a fragment overlapping another drops the whole datagram (RFC 5722);
//! a datagram not complete within 60 s is dropped with a time-exceeded error to its
//! source when its first fragment came. Every drop is counted in `ip6stat`.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conf::Ctx;
use crate::inet6::icmp6;
use crate::net::ifnet::Ifnet;
use crate::sys::mbuf::Mbuf;
use crate::wire::icmpv6 as ic;
use crate::wire::ip6ext::{FragRepr, FRAG_HDR_LEN};
use crate::wire::ipv6::{HEADER_LEN, MIN_MTU};

/// Datagrams in reassembly at once (net.inet6.ip6.maxfragpackets).
pub const MAXFRAGPACKETS: usize = 200;
/// Fragments one datagram may come in.
pub const MAXFRAGS: usize = 256;
/// Bytes held by reassembly in all.
pub const REASS_MEM_MAX: usize = 4 << 20;
/// How long a datagram may take to arrive whole (RFC 8200: 60 seconds).
pub const FRAG6_TTL: Duration = Duration::from_secs(60);

type Key = (Ipv6Addr, Ipv6Addr, u32);

#[derive(Debug)]
struct Q {
    ifindex: u16,
    /// The first fragment's headers before its fragment header (next header fixed up).
    unfrag: Option<Vec<u8>>,
    /// The first fragment as it came, cut to what an error may quote.
    first: Option<Vec<u8>>,
    /// (offset, data), sorted by offset, never overlapping.
    frags: Vec<(usize, Vec<u8>)>,
    total: Option<usize>,
    bytes: usize,
    born: Instant,
}

/// The reassembly queues.
#[derive(Debug, Default)]
pub struct Reass6 {
    q: HashMap<Key, Q>,
    mem: usize,
}

impl Reass6 {
    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Bytes held.
    pub fn mem(&self) -> usize {
        self.mem
    }

    fn drop_q(&mut self, k: &Key) -> usize {
        match self.q.remove(k) {
            Some(q) => {
                self.mem -= q.bytes;
                q.frags.len()
            }
            None => 0,
        }
    }
}

/// Takes one fragment (`pkt` whole; its fragment header at `frag_at`, the field naming
/// that header at `nh_field`). Returns the reassembled packet once the last piece came,
/// built straight into the packet buffer IPv6 input goes on with (no copy after).
pub fn frag6_input(
    ctx: &mut Ctx,
    ifp: &Arc<Ifnet>,
    pkt: &[u8],
    nh_field: usize,
    frag_at: usize,
    f: &FragRepr,
) -> Option<Mbuf> {
    let (src, dst) = {
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s.copy_from_slice(&pkt[8..24]);
        d.copy_from_slice(&pkt[24..40]);
        (Ipv6Addr::from(s), Ipv6Addr::from(d))
    };
    let key = (src, dst, f.ident);
    let data = &pkt[frag_at + FRAG_HDR_LEN..];
    let off = usize::from(f.offset);
    let end = off + data.len();
    let st = &mut ctx.inet6.stat;
    let r = &mut ctx.inet6.reass;
    if !r.q.contains_key(&key) {
        if r.q.len() >= ctx.inet6.maxfragpackets {
            st.fragoverflow += 1;
            st.fragdropped += 1;
            return None;
        }
        r.q.insert(
            key,
            Q {
                ifindex: ifp.index,
                unfrag: None,
                first: None,
                frags: Vec::new(),
                total: None,
                bytes: 0,
                born: Instant::now(),
            },
        );
    }
    if r.mem + data.len() > REASS_MEM_MAX {
        st.fragoverflow += 1;
        st.fragdropped += 1 + r.drop_q(&key) as u64;
        return None;
    }
    let q = r.q.get_mut(&key)?;
    // The last fragment fixes the length; nothing may lie beyond it, and it may not move.
    let bad_end = if f.more {
        q.total.is_some_and(|t| end > t)
    } else {
        q.total.is_some_and(|t| t != end) || q.frags.iter().any(|(o, d)| o + d.len() > end)
    };
    if bad_end {
        st.fragdropped += 1 + r.drop_q(&key) as u64;
        return None;
    }
    // Overlaps drop the whole datagram (RFC 5722); an exact duplicate is let go.
    if let Some((o, d)) = q.frags.iter().find(|(o, d)| *o < end && off < o + d.len()) {
        if *o == off && d.len() == data.len() {
            st.fragdropped += 1;
            return None;
        }
        st.fragoverlap += 1;
        st.fragdropped += 1 + r.drop_q(&key) as u64;
        return None;
    }
    if q.frags.len() >= MAXFRAGS {
        st.fragoverflow += 1;
        st.fragdropped += 1 + r.drop_q(&key) as u64;
        return None;
    }
    if !f.more {
        q.total = Some(end);
    }
    if off == 0 {
        let mut u = pkt[..frag_at].to_vec();
        if let Some(b) = u.get_mut(nh_field) {
            *b = f.next;
        }
        q.bytes += u.len();
        r.mem += u.len();
        q.unfrag = Some(u);
        q.first = Some(pkt[..pkt.len().min(MIN_MTU - HEADER_LEN - 8)].to_vec());
    }
    let pos = q.frags.partition_point(|(o, _)| *o < off);
    q.frags.insert(pos, (off, data.to_vec()));
    q.bytes += data.len();
    r.mem += data.len();
    // Whole?
    let total = q.total?;
    q.unfrag.as_ref()?;
    let mut at = 0;
    for (o, d) in &q.frags {
        if *o != at {
            return None;
        }
        at += d.len();
    }
    if at != total {
        return None;
    }
    let q = r.q.remove(&key)?;
    r.mem -= q.bytes;
    let unfrag = q.unfrag?;
    if unfrag.len() - HEADER_LEN + total > crate::inet6::ip6::IPV6_MAXPACKET {
        st.fragdropped += q.frags.len() as u64;
        return None;
    }
    let mut whole = Mbuf::with_capacity(unfrag.len() + total);
    whole.append(&unfrag);
    for (_, d) in &q.frags {
        whole.append(d);
    }
    let plen = (whole.len() - HEADER_LEN) as u16;
    whole.as_mut_slice()[4..6].copy_from_slice(&plen.to_be_bytes());
    whole.set_network_header();
    Some(whole)
}

/// Drops what took too long, with a time-exceeded error (code 1) to the source of a
/// datagram whose first fragment had come (RFC 8200 4.5).
pub fn frag6_timer(ctx: &mut Ctx) {
    let now = Instant::now();
    let old: Vec<Key> = ctx
        .inet6
        .reass
        .q
        .iter()
        .filter(|(_, q)| now.duration_since(q.born) >= FRAG6_TTL)
        .map(|(k, _)| *k)
        .collect();
    for k in old {
        let Some(q) = ctx.inet6.reass.q.remove(&k) else {
            continue;
        };
        ctx.inet6.reass.mem -= q.bytes;
        ctx.inet6.stat.fragtimeout += q.frags.len() as u64;
        ctx.inet6.stat.fragdropped += q.frags.len() as u64;
        if let (Some(first), Some(ifp)) = (q.first, ctx.ifnet_by_index(q.ifindex).cloned()) {
            icmp6::icmp6_error(ctx, &ifp, &first, ic::TIME_EXCEEDED, ic::TIMXCEED_REASS, 0);
        }
    }
}

/// Makes every datagram in reassembly old enough to time out (tests, the fuzz harness).
#[doc(hidden)]
pub fn age_all(ctx: &mut Ctx) {
    for q in ctx.inet6.reass.q.values_mut() {
        if let Some(t) = q.born.checked_sub(FRAG6_TTL) {
            q.born = t;
        }
    }
}
