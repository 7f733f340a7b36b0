//! ICMPv6 (RFC 4443): echo, errors (rate limited, never about errors, never to a
//! multicast or unspecified source), packet too big feeding the path MTU per destination
//! (RFC 8201, never below 1280), and dispatch of ND and MLD messages.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conf::Ctx;
use crate::inet::ctlinput::{self, Ctl};
use crate::inet6::ip6::{ip6_output, Out6};
use crate::inet6::{mld6, nd6};
use crate::net::ifnet::Ifnet;
use crate::wire::icmpv6::{self as ic, Icmpv6Packet, Icmpv6Repr};
use crate::wire::ip6ext::NH_ICMPV6;
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr, HEADER_LEN, MIN_MTU};

/// Errors sent per second at most (net.inet6.icmp6.errppslimit, NetBSD's default).
pub const ERRPPSLIMIT: u32 = 100;
/// How long a path MTU learnt from packet too big holds (RFC 8201 5.3: 10 minutes).
pub const PMTU_EXPIRE: Duration = Duration::from_secs(600);
/// Destinations with a path MTU remembered at most.
pub const PMTU_MAX: usize = 4096;

/// Input of one ICMPv6 message at `off` in `pkt`.
pub fn icmp6_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pkt: &[u8], h: &Ipv6Repr, off: usize) {
    let m = &pkt[off..];
    ctx.inet6.icmp6_ok = false;
    let st = &mut ctx.inet6.icmp6stat;
    let Ok(p) = Icmpv6Packet::new_checked(m) else {
        st.tooshort += 1;
        return;
    };
    if !p.verify(&h.src, &h.dst) {
        st.checksum += 1;
        return;
    }
    ctx.inet6.icmp6_ok = true;
    let st = &mut ctx.inet6.icmp6stat;
    let t = p.msg_type();
    if let Some(c) = st.inhist.get_mut(usize::from(t)) {
        *c += 1;
    }
    match t {
        ic::ECHO_REQUEST => {
            if p.code() != 0 {
                st.badcode += 1;
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
            let mut reply = m.to_vec();
            reply[0] = ic::ECHO_REPLY;
            ic::fill_checksum(&mut reply, &src, &h.src);
            ctx.inet6.icmp6stat.reflect += 1;
            ctx.inet6.icmp6stat.outhist[usize::from(ic::ECHO_REPLY)] += 1;
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
                    min_mtu: false,
                },
            );
        }
        ic::ECHO_REPLY => {
            // Delivered to raw ICMPv6 sockets once they exist (ping6); counted in inhist.
        }
        ic::PACKET_TOO_BIG => {
            if p.code() != 0 {
                st.badcode += 1;
                return;
            }
            let inv = p.body();
            let Ok(ip) = Ipv6Packet::new_checked(inv).or_else(|_| {
                if inv.len() >= HEADER_LEN {
                    Ok(Ipv6Packet::new_unchecked(inv))
                } else {
                    Err(())
                }
            }) else {
                st.badlen += 1;
                return;
            };
            // Only about packets we sent, of a connection or socket that exists (RFC 8201
            // 5.2, as RFC 5927 says for IPv4): a forged one cannot shrink every path.
            if !quote_is_ours(ctx, inv) {
                ctx.inet6.icmp6stat.pmtuignored += 1;
                return;
            }
            let mtu = p.word().max(MIN_MTU as u32);
            let dst = ip.dst();
            let now = Instant::now();
            let cur = crate::inet6::ip6::path_mtu(ctx, ifp, &dst);
            if mtu < cur {
                if ctx.inet6.pmtu.len() >= PMTU_MAX && !ctx.inet6.pmtu.contains_key(&dst) {
                    if let Some(k) = ctx.inet6.pmtu.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| *k) {
                        ctx.inet6.pmtu.remove(&k);
                    }
                }
                ctx.inet6.pmtu.insert(dst, (mtu, now));
                ctx.inet6.icmp6stat.pmtuchg += 1;
            }
            // A TCP connection's segment size follows (the quote was checked above).
            if let Some(q) = ctlinput::quote6(inv) {
                ctlinput::ctlinput(ctx, &q, Ctl::MsgSize(mtu.min(cur)));
            }
        }
        ic::DST_UNREACH | ic::TIME_EXCEEDED | ic::PARAM_PROB => {
            let max_code = match t {
                ic::DST_UNREACH => 7,
                ic::TIME_EXCEEDED => 1,
                _ => 3,
            };
            if p.code() > max_code {
                st.badcode += 1;
            } else if p.body().len() < HEADER_LEN {
                st.badlen += 1;
            } else if let Some(e) = ctlinput::icmp6_errno(t, p.code()) {
                // The transport that sent the quoted packet hears of it (RFC 4443 3).
                let ours = ctlinput::quote6(p.body())
                    .filter(|q| ctlinput::from_us(ctx, q.src))
                    .is_some_and(|q| ctlinput::ctlinput(ctx, &q, Ctl::Error(e)));
                if !ours {
                    ctx.inet6.icmp6stat.badquote += 1;
                }
            }
        }
        ic::ND_ROUTER_SOLICIT..=ic::ND_REDIRECT => nd6::nd6_input(ctx, ifp, h, m),
        ic::MLD_LISTENER_QUERY => mld6::mld_query(ctx, ifp, h, m),
        crate::wire::nodeinfo::NI_QUERY => super::ni6::ni6_input(ctx, ifp, h, m),
        _ => {}
    }
}

/// Whether a quoted IPv6 packet is one this stack sent on something that still exists: a
/// TCP connection whose unacknowledged window holds the quoted sequence number, a UDP
/// socket on the quoted port, or an ICMPv6 message (echo, ND). Extension headers before
/// the transport header are walked.
fn quote_is_ours(ctx: &Ctx, q: &[u8]) -> bool {
    use crate::inet::tcp::seq::{leq, lt};
    use crate::wire::ip6ext::{Chain, Step};
    if q.len() < HEADER_LEN {
        return false;
    }
    let ip = Ipv6Packet::new_unchecked(q);
    let (src, dst) = (ip.src(), ip.dst());
    if !super::in6_ifaddr(ctx, &src).is_some_and(|ia| ia.usable()) {
        return false;
    }
    let mut c = Chain::new(&q[HEADER_LEN..], ip.next_header());
    let (nh, off) = loop {
        match c.next() {
            Some(Ok(Step::Upper { nh, offset })) => break (nh, HEADER_LEN + offset),
            Some(Ok(Step::Ext(_))) => continue,
            _ => return false,
        }
    };
    if nh == NH_ICMPV6 {
        return true;
    }
    let Some(l4) = q.get(off..off + 8) else {
        return false;
    };
    let sport = u16::from_be_bytes([l4[0], l4[1]]);
    let dport = u16::from_be_bytes([l4[2], l4[3]]);
    match nh {
        crate::wire::ip6ext::NH_TCP => {
            let seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
            let tcp = &ctx.inet.tcp;
            tcp.lookup(&(src.into(), sport, dst.into(), dport))
                .and_then(|id| tcp.tcbs.get(&id))
                .is_some_and(|t| leq(t.snd_una, seq) && lt(seq, t.snd_max))
        }
        crate::wire::ip6ext::NH_UDP => ctx.inet.udp.iter().any(|p| {
            p.lport == sport
                && p.af.laddr_match(p.laddr, src.into())
                && p.faddr
                    .is_none_or(|f| f.ip() == std::net::IpAddr::V6(dst) && f.port() == dport)
        }),
        _ => false,
    }
}

/// Sends an error about `pkt` (an IPv6 packet that came in on `ifp`), within the rules
/// of RFC 4443 2.4 (e) and the rate limit.
pub fn icmp6_error(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pkt: &[u8], t: u8, code: u8, word: u32) {
    if pkt.len() < HEADER_LEN {
        return;
    }
    let ip = Ipv6Packet::new_unchecked(pkt);
    let (src, dst) = (ip.src(), ip.dst());
    // Never about an ICMPv6 error or a redirect.
    if ip.next_header() == NH_ICMPV6 {
        match pkt.get(HEADER_LEN) {
            Some(&it) if ic::is_error(it) || it == ic::ND_REDIRECT => {
                ctx.inet6.icmp6stat.canterror += 1;
                return;
            }
            None => return,
            _ => {}
        }
    }
    let to_mcast_ok = t == ic::PACKET_TOO_BIG || (t == ic::PARAM_PROB && code == ic::PARAMPROB_OPTION);
    if (dst.is_multicast() && !to_mcast_ok) || src.is_multicast() || src.is_unspecified() {
        ctx.inet6.icmp6stat.canterror += 1;
        return;
    }
    if !ctx.inet6.icmp_limit.check() {
        ctx.inet6.icmp6stat.toofreq += 1;
        return;
    }
    let from = match super::in6_ifaddr(ctx, &dst) {
        Some(ia) if ia.usable() => dst,
        _ => match super::in6_selectsrc(ctx, &src, Some(ifp.index)) {
            Some(s) => s,
            None => return,
        },
    };
    let inv = &pkt[..pkt.len().min(MIN_MTU - HEADER_LEN - ic::HEADER_LEN)];
    let r = match t {
        ic::DST_UNREACH => Icmpv6Repr::DstUnreach { code, invoking: inv },
        ic::PACKET_TOO_BIG => Icmpv6Repr::PacketTooBig {
            mtu: word,
            invoking: inv,
        },
        ic::TIME_EXCEEDED => Icmpv6Repr::TimeExceeded { code, invoking: inv },
        _ => Icmpv6Repr::ParamProblem {
            code,
            pointer: word,
            invoking: inv,
        },
    };
    let mut m = vec![0u8; r.len()];
    r.emit(&mut m, &from, &src);
    ctx.inet6.icmp6stat.error += 1;
    ctx.inet6.icmp6stat.outhist[usize::from(t)] += 1;
    let _ = ip6_output(
        ctx,
        &Out6 {
            src: Some(from),
            dst: src,
            ifindex: Some(ifp.index),
            nh: NH_ICMPV6,
            hlim: None,
            hbh: None,
            payload: &m,
            min_mtu: true,
        },
    );
}

/// Sends an echo request (tests, and ping6 through raw sockets later).
pub fn icmp6_echo(
    ctx: &mut Ctx,
    dst: Ipv6Addr,
    ifindex: Option<u16>,
    ident: u16,
    seq: u16,
    data: &[u8],
) -> Result<(), i32> {
    let src = super::in6_selectsrc(ctx, &dst, ifindex).ok_or(libc::EADDRNOTAVAIL)?;
    let r = Icmpv6Repr::EchoRequest { ident, seq, data };
    let mut m = vec![0u8; r.len()];
    r.emit(&mut m, &src, &dst);
    ctx.inet6.icmp6stat.outhist[usize::from(ic::ECHO_REQUEST)] += 1;
    ip6_output(
        ctx,
        &Out6 {
            src: Some(src),
            dst,
            ifindex,
            nh: NH_ICMPV6,
            hlim: None,
            hbh: None,
            payload: &m,
            min_mtu: false,
        },
    )
}

/// Forgets path MTUs older than `PMTU_EXPIRE`, so a larger path is tried again.
pub fn pmtu_timer(ctx: &mut Ctx) {
    let now = Instant::now();
    ctx.inet6.pmtu.retain(|_, v| now.duration_since(v.1) < PMTU_EXPIRE);
}
