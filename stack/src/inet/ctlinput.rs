//! ICMP and ICMPv6 errors told to the transport that sent the packet they quote (NetBSD's
//! `pr_ctlinput`: `tcp_ctlinput`, `udp_ctlinput`, `in_pcbnotify`), for both families.
//!
//! - The quoted header is checked first (RFC 5927): it must come from one of our
//!   addresses, and for TCP name a connection whose unacknowledged window holds the quoted
//!   sequence number (snd_una <= seq < snd_max); for UDP a socket bound to the quoted
//!   port. Anything else is counted (`badquote`) and dropped.
//! - TCP: an established connection ignores "host unreachable" (it may be transient);
//!   otherwise the error is kept as the connection's soft error, reported if the
//!   connection then times out, and reported at once while still connecting after more
//!   than three retransmissions (NetBSD's `tcp_notify`).
//! - UDP: a connected socket whose peer is the quoted destination gets the error at its
//!   next call (ECONNREFUSED for a port unreachable); unconnected sockets hear nothing, as
//!   on BSD.
//! - "Packet too big" / "fragmentation needed": the path MTU is lowered by the caller;
//!   here TCP's `t_maxseg` follows it and what is unacknowledged is sent again in segments
//!   of the new size (NetBSD's `tcp_mtudisc`), rather than fragmented.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::conf::Ctx;
use crate::inet::tcp::seq::{leq, lt};
use crate::inet::tcp::{self, State};
use crate::msg::{encode, DataMsg, Msg, MSGF_DATA};
use crate::wire::ip6ext::{Chain, Step};
use crate::wire::ipv4::{Ipv4Packet, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv6::{Ipv6Packet, HEADER_LEN as IP6_HDR_LEN};

/// What an error says about the packet it quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctl {
    /// An error to report (its errno).
    Error(i32),
    /// The path MTU towards the quoted destination is now this.
    MsgSize(u32),
}

/// The transport endpoints a quoted packet names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// TCP's sequence number (0 for UDP).
    pub seq: u32,
}

/// The endpoints of a quoted IPv4 datagram: its header and at least the first 8 bytes of
/// a first fragment's transport header.
pub fn quote4(q: &[u8]) -> Option<Quote> {
    if q.len() < 20 || q[0] >> 4 != 4 {
        return None;
    }
    let ip = Ipv4Packet::new_unchecked(q);
    let hlen = ip.hlen();
    if hlen < 20 || ip.off() & crate::wire::ipv4::IP_OFFMASK != 0 {
        return None;
    }
    let l4 = q.get(hlen..hlen + 8)?;
    Some(quote_of(ip.proto(), IpAddr::V4(ip.src()), IpAddr::V4(ip.dst()), l4))
}

/// The endpoints of a quoted IPv6 packet, its extension headers walked.
pub fn quote6(q: &[u8]) -> Option<Quote> {
    if q.len() < IP6_HDR_LEN || q[0] >> 4 != 6 {
        return None;
    }
    let ip = Ipv6Packet::new_unchecked(q);
    let mut c = Chain::new(&q[IP6_HDR_LEN..], ip.next_header());
    let (nh, off) = loop {
        match c.next() {
            Some(Ok(Step::Upper { nh, offset })) => break (nh, IP6_HDR_LEN + offset),
            Some(Ok(Step::Ext(x))) if x.kind == crate::wire::ip6ext::NH_FRAGMENT => {
                // Only a first fragment quotes the transport header.
                let f = crate::wire::ip6ext::FragRepr::parse(x.data).ok()?;
                if f.offset != 0 {
                    return None;
                }
            }
            Some(Ok(Step::Ext(_))) => continue,
            _ => return None,
        }
    };
    let l4 = q.get(off..off + 8)?;
    Some(quote_of(nh, IpAddr::V6(ip.src()), IpAddr::V6(ip.dst()), l4))
}

fn quote_of(proto: u8, src: IpAddr, dst: IpAddr, l4: &[u8]) -> Quote {
    Quote {
        proto,
        src,
        dst,
        sport: u16::from_be_bytes([l4[0], l4[1]]),
        dport: u16::from_be_bytes([l4[2], l4[3]]),
        seq: if proto == IPPROTO_TCP {
            u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]])
        } else {
            0
        },
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address the PCBs keep.
fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// Tells the transport of the quoted packet. Returns false when the quote names no TCP
/// connection or UDP socket of ours (the caller counts it and drops the error); a quote
/// of another protocol is not the transports' business and passes.
pub fn ctlinput(ctx: &mut Ctx, q: &Quote, ctl: Ctl) -> bool {
    let (src, dst) = (unmap(q.src), unmap(q.dst));
    match q.proto {
        IPPROTO_TCP => {
            let tcp = &ctx.inet.tcp;
            let Some(id) = tcp.lookup(&(src, q.sport, dst, q.dport)) else {
                return false;
            };
            let Some(t) = tcp.tcbs.get(&id) else {
                return false;
            };
            if !(leq(t.snd_una, q.seq) && lt(q.seq, t.snd_max)) {
                return false;
            }
            match ctl {
                Ctl::Error(e) => tcp_notify(ctx, id, e),
                Ctl::MsgSize(mtu) => tcp_mtudisc(ctx, id, mtu),
            }
            true
        }
        IPPROTO_UDP => {
            let mut any = false;
            let mut tell = Vec::new();
            for p in ctx.inet.udp.iter() {
                if p.lport != q.sport || !p.af.laddr_match(p.laddr, src) {
                    continue;
                }
                match p.faddr {
                    None => any = true,
                    Some(f) if f == SocketAddr::new(dst, q.dport) => {
                        any = true;
                        tell.push(p.id);
                    }
                    Some(_) => {}
                }
            }
            if let Ctl::Error(e) = ctl {
                for id in tell {
                    udp_notify(ctx, id, e);
                }
            }
            any
        }
        // Nothing to tell: raw sockets (ping) get the error message itself.
        _ => true,
    }
}

/// NetBSD's `tcp_notify`.
fn tcp_notify(ctx: &mut Ctx, id: u64, err: i32) {
    let tcp = &mut ctx.inet.tcp;
    let Some(t) = tcp.tcbs.get_mut(&id) else {
        return;
    };
    if t.state == State::Established && matches!(err, libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN) {
        return;
    }
    if !t.state.synchronized() && t.rxtshift > 3 && t.t_softerror.is_some() {
        t.so_error = Some(err);
        tcp::wake(tcp, id);
    } else {
        t.t_softerror = Some(err);
    }
}

/// NetBSD's `tcp_mtudisc`: the segment size follows a smaller path MTU, and what is in
/// flight goes again at the new size (it was lost for its size).
fn tcp_mtudisc(ctx: &mut Ctx, id: u64, mtu: u32) {
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    let hdrs = crate::inet::out::net_hdr_len(t.faddr) + 20;
    let mss = mtu.saturating_sub(hdrs).max(64);
    if mss >= t.t_maxseg {
        return;
    }
    t.t_maxseg = mss;
    t.cwnd = t.cwnd.min(10 * mss).max(mss);
    if t.state.synchronized() && t.snd_una != t.snd_max {
        t.snd_nxt = t.snd_una;
        t.rexmit_next = t.snd_una;
        // The timed segment is sent again: Karn's rule.
        t.rtseq = None;
    }
    ctx.inet.tcp.touch(id);
    let _ = tcp::output::tcp_output(ctx, id);
}

/// Pushes an error to a UDP socket's user: its next call reports it (`so_error`).
fn udp_notify(ctx: &mut Ctx, id: u64, err: i32) {
    let Some(p) = ctx.inet.udp.iter().find(|p| p.id == id) else {
        return;
    };
    let from = p
        .faddr
        .map_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), |f| {
            crate::inet::inpcb::sock_view(f, p.af.v6)
        });
    let b = encode(
        &Msg::SockData(DataMsg {
            from,
            data: Vec::new(),
            hlim: None,
        }),
        0,
        std::process::id(),
        MSGF_DATA,
        err,
    );
    // A socket whose user reads nothing loses this as it loses datagrams.
    let _ = p.conn.send_nowait(&b);
}

/// The errno of an ICMP error (NetBSD's `inetctlerrmap` over `icmp_input`'s codes); None
/// for errors the transports are not told of (time exceeded, source quench, redirects).
pub fn icmp_errno(t: u8, code: u8) -> Option<i32> {
    use crate::wire::icmp::{ICMP_PARAMPROB, ICMP_UNREACH};
    match (t, code) {
        // Protocol and port unreachable.
        (ICMP_UNREACH, 2 | 3) => Some(libc::ECONNREFUSED),
        // Fragmentation needed is a path MTU matter.
        (ICMP_UNREACH, 4) => None,
        (ICMP_UNREACH, 0..=15) => Some(libc::EHOSTUNREACH),
        (ICMP_PARAMPROB, _) => Some(libc::ENOPROTOOPT),
        _ => None,
    }
}

/// The errno of an ICMPv6 error (as NetBSD's `icmp6_input` maps them to PRC_ codes).
pub fn icmp6_errno(t: u8, code: u8) -> Option<i32> {
    use crate::wire::icmpv6 as ic;
    match (t, code) {
        (ic::DST_UNREACH, ic::UNREACH_NOPORT | ic::UNREACH_ADMIN) => Some(libc::ECONNREFUSED),
        (ic::DST_UNREACH, ic::UNREACH_ADDR) => Some(libc::EHOSTDOWN),
        (ic::DST_UNREACH, _) => Some(libc::EHOSTUNREACH),
        (ic::PARAM_PROB, ic::PARAMPROB_NEXTHEADER) => Some(libc::ECONNREFUSED),
        (ic::PARAM_PROB, _) => Some(libc::ENOPROTOOPT),
        _ => None,
    }
}

/// Whether `a` could be the quoted source of a packet of ours (any family).
pub fn from_us(ctx: &Ctx, a: IpAddr) -> bool {
    match unmap(a) {
        IpAddr::V4(v4) => v4.is_loopback() || ctx.inet.addrs.iter().any(|ia| ia.addr == v4),
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST || crate::inet6::in6_ifaddr(ctx, &v6).is_some_and(|ia| ia.usable()),
    }
}
