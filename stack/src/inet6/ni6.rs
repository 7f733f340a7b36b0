//! The ICMPv6 Node Information responder (RFC 4620), as KAME's ni6_input in NetBSD's
//! icmp6.c answers: NOOP, Supported Qtypes, Node Name (the stack's `kern.hostname`) and
//! Node Addresses, gated by `net.inet6.icmp6.nodeinfo`:
//!
//! | bit | NetBSD name | meaning |
//! |---|---|---|
//! | 0x1 | ICMP6_NODEINFO_FQDNOK | answer Node Name queries |
//! | 0x2 | ICMP6_NODEINFO_NODEADDROK | answer Node Addresses queries |
//! | 0x4 | ICMP6_NODEINFO_TMPADDROK | answer to, and tell of, temporary addresses |
//! | 0x8 | ICMP6_NODEINFO_GLOBALOK | answer queries from global (not link-local, not loopback) sources |
//!
//! 0 turns the responder off. The default is NetBSD's, 1: names only, to link-local
//! askers. NOOP and Supported Qtypes are answered whenever the value is not 0.
//!
//! As KAME, a query whose subject is an IPv6 address is answered only when that address is
//! the query's destination (no information leaks across scopes), a name subject only when
//! it matches our host name (a single-label subject matches our first label), an IPv4
//! subject never; a query to a multicast group only to a link-local one. Queries dropped
//! for their form are counted in `ni_bad`, for the policy in `ni_refused`. Unlike KAME,
//! which answers an unknown qtype as an old-style name query, an unknown qtype gets the
//! reply RFC 4620 4 asks for: code 2 (unknown) and no data. Replies are rate limited like
//! errors (`icmp6::ERRPPSLIMIT` per second, `ni_toofreq`) so that a query to a multicast
//! group cannot be turned into a flood.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Instant;

use crate::conf::Ctx;
use crate::inet6::in6f;
use crate::inet6::ip6::{ip6_output, Out6};
use crate::net::ifnet::Ifnet;
use crate::wire::icmpv6 as ic;
use crate::wire::ip6ext::NH_ICMPV6;
use crate::wire::ipv6::{addr as a6, Ipv6Repr, MIN_MTU};
use crate::wire::nodeinfo::{self as ni, NiPacket};

/// net.inet6.icmp6.nodeinfo bits.
pub const NODEINFO_FQDNOK: u32 = 0x1;
pub const NODEINFO_NODEADDROK: u32 = 0x2;
pub const NODEINFO_TMPADDROK: u32 = 0x4;
pub const NODEINFO_GLOBALOK: u32 = 0x8;
/// NetBSD's default (in6_proto.c): names only.
pub const NODEINFO_DEFAULT: u32 = NODEINFO_FQDNOK;

/// The most answer data a reply carries: it must fit the minimum MTU.
const MAX_DATA: usize = MIN_MTU - 40 - ni::HEADER_LEN;

/// Why a query was not answered.
#[derive(Debug, PartialEq, Eq)]
enum Drop {
    Bad,
    Refused,
}

/// Takes one Node Information query (`m`: the ICMPv6 message, checksum verified) and
/// answers it, or counts why not.
pub fn ni6_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, h: &Ipv6Repr, m: &[u8]) {
    let policy = ctx.inet6.nodeinfo;
    if policy == 0 {
        ctx.inet6.icmp6stat.ni_refused += 1;
        return;
    }
    let Some(q) = NiPacket::new_checked(m) else {
        ctx.inet6.icmp6stat.tooshort += 1;
        ctx.inet6.icmp6stat.ni_bad += 1;
        return;
    };
    let answer = match answer(ctx, ifp.index, h, &q, policy) {
        Ok(a) => a,
        Err(Drop::Bad) => {
            ctx.inet6.icmp6stat.ni_bad += 1;
            return;
        }
        Err(Drop::Refused) => {
            ctx.inet6.icmp6stat.ni_refused += 1;
            return;
        }
    };
    if !ctx.inet6.ni_limit.check() {
        ctx.inet6.icmp6stat.ni_toofreq += 1;
        return;
    }
    let src = if h.dst.is_multicast() {
        match super::in6_selectsrc(ctx, &h.src, Some(ifp.index)) {
            Some(s) => s,
            None => return,
        }
    } else {
        h.dst
    };
    let (code, flags, data) = answer;
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(q.nonce());
    let mut reply = vec![0u8; ni::HEADER_LEN + data.len()];
    ni::emit_header(&mut reply, ni::NI_REPLY, code, q.qtype(), flags, &nonce);
    reply[ni::HEADER_LEN..].copy_from_slice(&data);
    ic::fill_checksum(&mut reply, &src, &h.src);
    ctx.inet6.icmp6stat.ni_reply += 1;
    ctx.inet6.icmp6stat.reflect += 1;
    ctx.inet6.icmp6stat.outhist[usize::from(ni::NI_REPLY)] += 1;
    let _ = ip6_output(
        ctx,
        &Out6 {
            src: Some(src),
            dst: h.src,
            ifindex: Some(ifp.index),
            nh: NH_ICMPV6,
            hlim: None,
            hbh: None,
            payload: &reply,
            min_mtu: true,
        },
    );
}

/// The reply's code, flags and data for a query, or why there is none (ni6_input's
/// checks in its order: source, destination, subject, policy).
fn answer(ctx: &Ctx, ifindex: u16, h: &Ipv6Repr, q: &NiPacket, policy: u32) -> Result<(u8, u16, Vec<u8>), Drop> {
    // RFC 4620 5: by default, not to global-scope askers.
    if policy & NODEINFO_GLOBALOK == 0 && !h.src.is_loopback() && !a6::is_link_local(&h.src) {
        return Err(Drop::Refused);
    }
    // To one of our addresses, or a link-local group we joined.
    if h.dst.is_multicast() {
        if a6::scope(&h.dst) != 2 {
            return Err(Drop::Bad);
        }
    } else {
        let Some(ia) = super::in6_ifaddr(ctx, &h.dst) else {
            return Err(Drop::Bad);
        };
        if ia.flags & in6f::TEMPORARY != 0 && policy & NODEINFO_TMPADDROK == 0 {
            return Err(Drop::Refused);
        }
    }
    let qtype = q.qtype();
    let subj = q.data();
    let known = matches!(
        qtype,
        ni::QTYPE_NOOP | ni::QTYPE_SUPTYPES | ni::QTYPE_FQDN | ni::QTYPE_NODEADDR | ni::QTYPE_IPV4ADDR
    );
    if known {
        let empty_ok = matches!(qtype, ni::QTYPE_NOOP | ni::QTYPE_SUPTYPES);
        match q.code() {
            ni::SUBJ_FQDN if subj.is_empty() && empty_ok => {}
            ni::SUBJ_IPV6 => {
                if subj.len() != 16 {
                    return Err(Drop::Bad);
                }
                let mut a = [0u8; 16];
                a.copy_from_slice(subj);
                if Ipv6Addr::from(a) != h.dst {
                    return Err(Drop::Bad);
                }
            }
            ni::SUBJ_FQDN => {
                if !name_matches(&ctx.hostname, subj) {
                    return Err(Drop::Bad);
                }
            }
            _ => return Err(Drop::Bad),
        }
    }
    match qtype {
        ni::QTYPE_FQDN if policy & NODEINFO_FQDNOK == 0 => return Err(Drop::Refused),
        ni::QTYPE_NODEADDR | ni::QTYPE_IPV4ADDR if policy & NODEINFO_NODEADDROK == 0 => return Err(Drop::Refused),
        _ => {}
    }
    match qtype {
        ni::QTYPE_NOOP => Ok((ni::SUCCESS, 0, Vec::new())),
        // A raw bitmap: qtypes 0 to 3.
        ni::QTYPE_SUPTYPES => Ok((ni::SUCCESS, 0, 0x0000_000fu32.to_be_bytes().to_vec())),
        ni::QTYPE_FQDN => {
            // The TTL is not meaningful (KAME sends 0 without the valid-TTL flag).
            let mut d = vec![0u8; 4];
            d.extend(ni::name_to_dns(&ctx.hostname).ok_or(Drop::Bad)?);
            Ok((ni::SUCCESS, 0, d))
        }
        ni::QTYPE_NODEADDR => {
            let subject_if = (q.code() == ni::SUBJ_IPV6 && !h.dst.is_multicast())
                .then(|| super::in6_ifaddr(ctx, &h.dst).map(|ia| ia.ifindex))
                .flatten()
                .unwrap_or(ifindex);
            let (flags, d) = node_addrs(ctx, q.flags(), subject_if, policy);
            Ok((ni::SUCCESS, flags, d))
        }
        // IPv4 addresses: KAME does not answer them (no v4 subject, no proxy).
        ni::QTYPE_IPV4ADDR => Err(Drop::Refused),
        _ => Ok((ni::UNKNOWN, 0, Vec::new())),
    }
}

/// Whether a name subject (DNS wire format) names us: the same labels, or a truncated
/// single name equal to the leading labels of ours (KAME's ni6_dnsmatch).
fn name_matches(hostname: &str, subj: &[u8]) -> bool {
    let Some((theirs, truncated)) = ni::dns_labels(subj) else {
        return false;
    };
    let ours: Vec<Vec<u8>> = hostname
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
        .map(|l| l.as_bytes().to_ascii_lowercase())
        .collect();
    if ours.is_empty() || theirs.is_empty() {
        return false;
    }
    if truncated {
        theirs.len() <= ours.len() && ours[..theirs.len()] == theirs[..]
    } else {
        ours == theirs
    }
}

/// The Node Addresses answer (ni6_addrs and ni6_store_addrs): each address with its
/// remaining valid lifetime as TTL (0x7fffffff at most, so forever is 0x7fffffff), of the
/// subject's interface or of every interface with the A flag, in the scopes the L, S and
/// G flags ask for, unicast unless KAME's anycast bit asks for anycast only; loopback
/// never. The T flag is set when they do not all fit.
fn node_addrs(ctx: &Ctx, qflags: u16, ifindex: u16, policy: u32) -> (u16, Vec<u8>) {
    let now = Instant::now();
    let mut d = Vec::new();
    let mut flags = qflags & !ni::NODEADDR_FLAG_TRUNCATE;
    for ia in ctx.inet6.addrs.iter() {
        if qflags & ni::NODEADDR_FLAG_ALL == 0 && ia.ifindex != ifindex {
            continue;
        }
        if !ia.usable() || ia.addr.is_loopback() {
            continue;
        }
        let site = ia.addr.segments()[0] & 0xffc0 == 0xfec0;
        let want = if a6::is_link_local(&ia.addr) {
            ni::NODEADDR_FLAG_LINKLOCAL
        } else if site {
            ni::NODEADDR_FLAG_SITELOCAL
        } else {
            ni::NODEADDR_FLAG_GLOBAL
        };
        if qflags & want == 0 {
            continue;
        }
        let anycast = ia.flags & in6f::ANYCAST != 0;
        if anycast != (qflags & ni::NODEADDR_FLAG_ANYCAST != 0) {
            continue;
        }
        if ia.flags & in6f::TEMPORARY != 0 && policy & NODEINFO_TMPADDROK == 0 {
            continue;
        }
        if d.len() + 20 > MAX_DATA {
            flags |= ni::NODEADDR_FLAG_TRUNCATE;
            break;
        }
        let ttl = match ia.valid_until {
            None => 0x7fff_ffff,
            Some(t) => t.saturating_duration_since(now).as_secs().min(0x7fff_ffff) as u32,
        };
        d.extend_from_slice(&ttl.to_be_bytes());
        d.extend_from_slice(&ia.addr.octets());
    }
    (flags, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::{en0_stack_of, Sink, MAC, PEER_MAC};
    use crate::sys::Stack;
    use crate::wire::ipv6::Ipv6Packet;
    use pktbox_drivers::FrameMeta;

    fn ll(mac: &[u8; 6]) -> Ipv6Addr {
        a6::with_iid(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), &a6::eui64(mac))
    }

    fn stack() -> (Arc<Stack>, Arc<Ifnet>, Arc<Sink>) {
        let (stack, ifp, sink) = en0_stack_of(crate::sys::Variant::V6Hc, false, 10_000);
        {
            let mut ctx = stack.ctx();
            let lo = ctx.ifnet_by_name("lo0").cloned().unwrap();
            super::super::if_up(&mut ctx, &lo);
            super::super::if_up(&mut ctx, &ifp);
            for _ in 0..4 {
                for ia in ctx.inet6.addrs.iter_mut() {
                    if ia.dad_next.is_some() {
                        ia.dad_next = Some(Instant::now() - std::time::Duration::from_secs(1));
                    }
                }
                super::super::nd6::dad_timer(&mut ctx);
            }
            ctx.hostname = "node1".into();
        }
        sink.0.lock().unwrap().clear();
        (stack, ifp, sink)
    }

    /// A query from `src` to `dst` in a frame, the peer's MAC known through the source.
    fn query(src: Ipv6Addr, dst: Ipv6Addr, code: u8, qtype: u16, flags: u16, subj: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; ni::HEADER_LEN];
        ni::emit_header(&mut m, ni::NI_QUERY, code, qtype, flags, &[0, 7, 1, 2, 3, 4, 5, 6]);
        m.extend_from_slice(subj);
        ic::fill_checksum(&mut m, &src, &dst);
        let mut f = if dst.is_multicast() {
            a6::multicast_mac(&dst).to_vec()
        } else {
            MAC.to_vec()
        };
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&[0x86, 0xdd]);
        let mut h = [0u8; 40];
        Ipv6Repr {
            traffic_class: 0,
            flow_label: 0,
            payload_len: m.len() as u16,
            next_header: NH_ICMPV6,
            hop_limit: 64,
            src,
            dst,
        }
        .emit(&mut h);
        f.extend_from_slice(&h);
        f.extend_from_slice(&m);
        f
    }

    /// The Node Information replies sent: (IPv6 source, destination, ICMPv6 bytes).
    fn replies(stack: &Stack, ifp: &Arc<Ifnet>, sink: &Sink, frame: &[u8]) -> Vec<(Ipv6Addr, Ipv6Addr, Vec<u8>)> {
        crate::net::ether::ether_input(stack, ifp, crate::sys::mbuf::Mbuf::from_frame(frame, FrameMeta::PLAIN));
        // Resolve the peer if the reply waits for it.
        let frames = std::mem::take(&mut *sink.0.lock().unwrap());
        let mut v = Vec::new();
        for f in frames {
            let Ok(p) = Ipv6Packet::new_checked(&f[14..]) else {
                continue;
            };
            if p.next_header() == NH_ICMPV6 && p.payload().first() == Some(&ni::NI_REPLY) {
                v.push((p.src(), p.dst(), p.payload().to_vec()));
            }
        }
        v
    }

    fn reachable_peer(stack: &Stack, ifp: &Ifnet) {
        let mut ctx = stack.ctx();
        let e = super::super::nd6::NdEntry {
            lladdr: Some(PEER_MAC),
            state: super::super::nd6::Nud::Reachable,
            is_router: false,
            asked: 0,
            next: None,
            hold: Default::default(),
            touched: Instant::now(),
            permanent: true,
        };
        ctx.inet6.nd.cache.insert((ifp.index, ll(&PEER_MAC)), e);
    }

    #[test]
    fn node_name_queries_are_answered_with_the_hostname_and_the_nonce() {
        let (stack, ifp, sink) = stack();
        reachable_peer(&stack, &ifp);
        let (me, peer) = (ll(&MAC), ll(&PEER_MAC));
        let r = replies(
            &stack,
            &ifp,
            &sink,
            &query(peer, me, ni::SUBJ_IPV6, ni::QTYPE_FQDN, 0, &me.octets()),
        );
        assert_eq!(r.len(), 1);
        let (src, dst, m) = &r[0];
        assert_eq!((*src, *dst), (me, peer));
        assert!(ic::Icmpv6Packet::new_checked(&m[..]).unwrap().verify(src, dst));
        let p = NiPacket::new_checked(m).unwrap();
        assert_eq!(
            (p.code(), p.qtype(), p.nonce()),
            (ni::SUCCESS, ni::QTYPE_FQDN, &[0, 7, 1, 2, 3, 4, 5, 6][..])
        );
        assert_eq!(p.data(), b"\0\0\0\0\x05node1\0\0");

        // Supported qtypes (an empty name subject), NOOP.
        let r = replies(
            &stack,
            &ifp,
            &sink,
            &query(peer, me, ni::SUBJ_FQDN, ni::QTYPE_SUPTYPES, 1, &[]),
        );
        assert_eq!(NiPacket::new_checked(&r[0].2).unwrap().data(), &[0, 0, 0, 0x0f]);
        let r = replies(
            &stack,
            &ifp,
            &sink,
            &query(peer, me, ni::SUBJ_FQDN, ni::QTYPE_NOOP, 0, &[]),
        );
        assert!(NiPacket::new_checked(&r[0].2).unwrap().data().is_empty());
        // An unknown qtype: code 2, no data.
        let r = replies(
            &stack,
            &ifp,
            &sink,
            &query(peer, me, ni::SUBJ_IPV6, 77, 0, &me.octets()),
        );
        assert_eq!(NiPacket::new_checked(&r[0].2).unwrap().code(), ni::UNKNOWN);
        // A name subject naming us.
        let r = replies(
            &stack,
            &ifp,
            &sink,
            &query(peer, me, ni::SUBJ_FQDN, ni::QTYPE_FQDN, 0, b"\x05NODE1\0\0"),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(stack.ctx().inet6.icmp6stat.ni_reply, 5);
    }

    #[test]
    fn bad_and_refused_queries_are_counted_and_dropped() {
        let (stack, ifp, sink) = stack();
        reachable_peer(&stack, &ifp);
        let (me, peer) = (ll(&MAC), ll(&PEER_MAC));
        let other: Ipv6Addr = "2001:db8::99".parse().unwrap();
        let bad: Vec<Vec<u8>> = vec![
            // The subject is not the destination, is short, is an IPv4 address, names
            // another host; an unknown subject code.
            query(peer, me, ni::SUBJ_IPV6, ni::QTYPE_FQDN, 0, &other.octets()),
            query(peer, me, ni::SUBJ_IPV6, ni::QTYPE_FQDN, 0, &me.octets()[..8]),
            query(peer, me, ni::SUBJ_IPV4, ni::QTYPE_FQDN, 0, &[10, 0, 0, 1]),
            query(peer, me, ni::SUBJ_FQDN, ni::QTYPE_FQDN, 0, b"\x05node2\0\0"),
            query(peer, me, ni::SUBJ_FQDN, ni::QTYPE_FQDN, 0, b"\x09node"),
            query(peer, me, 9, ni::QTYPE_NOOP, 0, &[]),
            // To a group beyond the link.
            query(peer, "ff05::1".parse().unwrap(), ni::SUBJ_FQDN, ni::QTYPE_NOOP, 0, &[]),
        ];
        for f in &bad {
            assert!(replies(&stack, &ifp, &sink, f).is_empty());
        }
        // Shorter than the header.
        let mut short = query(peer, me, ni::SUBJ_FQDN, ni::QTYPE_NOOP, 0, &[]);
        short.truncate(14 + 40 + 12);
        short[14 + 5] = 12;
        let mut m = short[54..].to_vec();
        m[2..4].copy_from_slice(&[0, 0]);
        ic::fill_checksum(&mut m, &peer, &me);
        short[54..].copy_from_slice(&m);
        assert!(replies(&stack, &ifp, &sink, &short).is_empty());
        // The default policy: no addresses, no global askers.
        let global: Ipv6Addr = "2001:db8::2".parse().unwrap();
        assert!(replies(
            &stack,
            &ifp,
            &sink,
            &query(peer, me, ni::SUBJ_IPV6, ni::QTYPE_NODEADDR, 0x3e, &me.octets())
        )
        .is_empty());
        assert!(replies(
            &stack,
            &ifp,
            &sink,
            &query(global, me, ni::SUBJ_FQDN, ni::QTYPE_NOOP, 0, &[])
        )
        .is_empty());
        stack.ctx().inet6.nodeinfo = 0;
        assert!(replies(
            &stack,
            &ifp,
            &sink,
            &query(peer, me, ni::SUBJ_FQDN, ni::QTYPE_NOOP, 0, &[])
        )
        .is_empty());
        let ctx = stack.ctx();
        let st = &ctx.inet6.icmp6stat;
        // The query to ff05::1 never reaches ICMPv6 (we are not in that group): six bad
        // ones and the short one.
        assert_eq!((st.ni_bad, st.ni_refused, st.ni_reply), (6 + 1, 3, 0));
    }

    #[test]
    fn node_addresses_and_the_rate_limit() {
        let (stack, ifp, sink) = stack();
        reachable_peer(&stack, &ifp);
        let (me, peer) = (ll(&MAC), ll(&PEER_MAC));
        stack.ctx().inet6.nodeinfo = NODEINFO_FQDNOK | NODEINFO_NODEADDROK;
        // Link-local only: our one link-local, valid forever.
        let r = replies(
            &stack,
            &ifp,
            &sink,
            &query(
                peer,
                me,
                ni::SUBJ_IPV6,
                ni::QTYPE_NODEADDR,
                ni::NODEADDR_FLAG_LINKLOCAL,
                &me.octets(),
            ),
        );
        let p = NiPacket::new_checked(&r[0].2).unwrap();
        let mut want = 0x7fff_ffffu32.to_be_bytes().to_vec();
        want.extend_from_slice(&me.octets());
        assert_eq!(p.data(), &want[..]);
        // Global only: none.
        let r = replies(
            &stack,
            &ifp,
            &sink,
            &query(
                peer,
                me,
                ni::SUBJ_IPV6,
                ni::QTYPE_NODEADDR,
                ni::NODEADDR_FLAG_GLOBAL,
                &me.octets(),
            ),
        );
        assert!(NiPacket::new_checked(&r[0].2).unwrap().data().is_empty());
        // The rate limit.
        stack.ctx().inet6.ni_limit.limit = 1;
        let q = query(peer, me, ni::SUBJ_FQDN, ni::QTYPE_NOOP, 0, &[]);
        let n: usize = (0..5).map(|_| replies(&stack, &ifp, &sink, &q).len()).sum();
        assert!(n <= 2, "{n} replies past a limit of 1 per second");
        assert!(stack.ctx().inet6.icmp6stat.ni_toofreq >= 3);
    }

    #[test]
    fn name_subjects_match_as_kame_matches_them() {
        assert!(name_matches("node1", b"\x05node1\x00\x00"));
        assert!(name_matches("node1.example.com", b"\x05NODE1\x00\x00"));
        assert!(name_matches("node1.example.com", b"\x05node1\x07example\x03com\x00"));
        assert!(!name_matches("node1.example.com", b"\x05node1\x00"));
        assert!(!name_matches("node2", b"\x05node1\x00\x00"));
        assert!(!name_matches("", b"\x05node1\x00\x00"));
        assert!(!name_matches("node1", b"\x05nod"));
    }
}
