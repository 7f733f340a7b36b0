//! ICMP (RFC 792, RFC 1122 3.2.2): echo, errors with NetBSD's rate limit, counters.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use crate::conf::Ctx;
use crate::inet::ctlinput::{self, Ctl};
use crate::inet::ip::{ip_output, OutPkt};
use crate::net::ifnet::Ifnet;
use crate::wire::checksum::cksum;
use crate::wire::ipv4::{Ipv4Packet, IPPROTO_ICMP, IP_OFFMASK};

use crate::wire::icmp::{is_error, IcmpPacket, IcmpRepr, ICMP_MINERRLEN, UNREACH_MAXCODE};
use crate::wire::icmp::{
    ICMP_ECHO, ICMP_ECHOREPLY, ICMP_MAXTYPE, ICMP_PARAMPROB, ICMP_REDIRECT, ICMP_SOURCEQUENCH, ICMP_TIMXCEED,
    ICMP_UNREACH, REDIRECT_HOST, UNREACH_NEEDFRAG,
};

/// Bytes of the offending datagram after its header that an error quotes
/// (net.inet.icmp.returndatabytes).
pub const RETURNDATABYTES: usize = 8;
/// Default of net.inet.icmp.errppslimit: errors sent per second.
pub const ERRPPSLIMIT: u32 = 100;

/// NetBSD's ppsratecheck: at most `limit` events in each one-second window.
#[derive(Debug, Clone)]
pub struct PpsLimit {
    pub limit: u32,
    window: Option<Instant>,
    count: u32,
}

impl PpsLimit {
    pub fn new(limit: u32) -> PpsLimit {
        PpsLimit {
            limit,
            window: None,
            count: 0,
        }
    }

    /// Whether one more event may happen now.
    pub fn check(&mut self) -> bool {
        let now = Instant::now();
        match self.window {
            Some(w) if now.duration_since(w).as_secs() < 1 => {}
            _ => {
                self.window = Some(now);
                self.count = 0;
            }
        }
        if self.limit == 0 {
            return true;
        }
        self.count += 1;
        self.count <= self.limit
    }
}

fn hist(v: &mut Vec<u64>, t: u8) {
    if v.len() <= ICMP_MAXTYPE {
        v.resize(ICMP_MAXTYPE + 1, 0);
    }
    if let Some(c) = v.get_mut(usize::from(t)) {
        *c += 1;
    }
}

/// Input of a local ICMP datagram (whole, header included).
pub fn icmp_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pkt: &[u8], bcast: bool) {
    let ip = Ipv4Packet::new_unchecked(pkt);
    let hlen = ip.hlen();
    let icmp = &pkt[hlen..];
    let st = &mut ctx.inet.icmpstat;
    if icmp.len() < 8 {
        st.tooshort += 1;
        return;
    }
    if cksum(icmp) != 0 {
        st.checksum += 1;
        return;
    }
    let (t, code) = (icmp[0], icmp[1]);
    hist(&mut st.inhist, t);
    crate::inet::raw::rip_input(ctx, pkt);
    match t {
        ICMP_ECHO => {
            // Echo to a broadcast address is not answered (net.inet.icmp.bmcastecho=0).
            if bcast {
                return;
            }
            let mut reply = icmp.to_vec();
            let mut r = IcmpPacket::new_unchecked(&mut reply[..]);
            r.set_msg_type(ICMP_ECHOREPLY);
            r.fill_checksum();
            ctx.inet.icmpstat.reflect += 1;
            hist(&mut ctx.inet.icmpstat.outhist, ICMP_ECHOREPLY);
            let ttl = ctx.inet.ttl;
            let _ = ip_output(
                ctx,
                &OutPkt {
                    src: Some(ip.dst()),
                    dst: ip.src(),
                    proto: IPPROTO_ICMP,
                    ttl,
                    tos: ip.tos(),
                    df: false,
                    payload: &reply,
                    offload: Default::default(),
                },
            );
        }
        ICMP_UNREACH | ICMP_TIMXCEED | ICMP_PARAMPROB | ICMP_SOURCEQUENCH | ICMP_REDIRECT => {
            // Errors must quote at least the offending header.
            if icmp.len() < ICMP_MINERRLEN {
                ctx.inet.icmpstat.badlen += 1;
                return;
            }
            if t == ICMP_UNREACH && code > UNREACH_MAXCODE {
                ctx.inet.icmpstat.badcode += 1;
            }
            let quoted = icmp[8..].to_vec();
            if t == ICMP_UNREACH && code == UNREACH_NEEDFRAG {
                let mtu = IcmpPacket::new_unchecked(icmp).next_mtu();
                if let Some(m) = mtudisc(ctx, &quoted, mtu) {
                    // The connection's segment size follows (checked by mtudisc already).
                    if let Some(q) = ctlinput::quote4(&quoted) {
                        ctlinput::ctlinput(ctx, &q, Ctl::MsgSize(m));
                    }
                }
            } else if let Some(e) = ctlinput::icmp_errno(t, code) {
                let ours = ctlinput::quote4(&quoted)
                    .filter(|q| ctlinput::from_us(ctx, q.src))
                    .is_some_and(|q| ctlinput::ctlinput(ctx, &q, Ctl::Error(e)));
                if !ours {
                    ctx.inet.icmpstat.badquote += 1;
                }
            }
            let _ = ifp;
        }
        _ => {}
    }
}

/// The lowest path MTU taken from a "fragmentation needed" error. RFC 1191 allows 68;
/// NetBSD's icmp_mtudisc refuses anything below 296 (and above the interface's MTU), so
/// that a forged error cannot make every datagram to a host go out in 68-byte pieces.
pub const PMTU_MIN: u32 = 296;

/// RFC 1191 7.1's plateaus, to guess a path MTU from an error that gives none (from a
/// router older than RFC 1191): the first below the length of the quoted datagram.
const MTU_PLATEAUS: [u32; 10] = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296];

/// Whether the datagram quoted by an ICMP error is one that a socket of ours sent
/// (RFC 5927 4.1, 5.1): TCP, from a connection with that address and port quadruple
/// whose quoted sequence number is in flight (snd_una <= seq < snd_max); UDP, from a
/// socket bound to the quoted source port (and connected to the quoted destination, if
/// it is connected). Anyone can forge an ICMP error; only an attacker on the path can
/// see these.
fn quote_is_ours(ctx: &Ctx, quoted: &[u8]) -> bool {
    use crate::inet::tcp::seq::{leq, lt};
    use crate::wire::ipv4::{IPPROTO_TCP, IPPROTO_UDP};
    if quoted.len() < 20 || quoted[0] >> 4 != 4 {
        return false;
    }
    let q = Ipv4Packet::new_unchecked(quoted);
    let qhlen = q.hlen();
    // The ports (and TCP's sequence number): the first eight bytes after the header.
    let Some(l4) = quoted.get(qhlen..qhlen + 8) else {
        return false;
    };
    if qhlen < 20 || q.off() & IP_OFFMASK != 0 {
        return false;
    }
    let (src, dst) = (q.src(), q.dst());
    if !ctx.inet.addrs.iter().any(|ia| ia.addr == src) && !src.is_loopback() {
        return false;
    }
    let sport = u16::from_be_bytes([l4[0], l4[1]]);
    let dport = u16::from_be_bytes([l4[2], l4[3]]);
    match q.proto() {
        IPPROTO_TCP => {
            let seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
            let tcp = &ctx.inet.tcp;
            tcp.lookup(&(src.into(), sport, dst.into(), dport))
                .and_then(|id| tcp.tcbs.get(&id))
                .is_some_and(|t| leq(t.snd_una, seq) && lt(seq, t.snd_max))
        }
        IPPROTO_UDP => ctx.inet.udp.iter().any(|p| {
            p.lport == sport
                && p.af.laddr_match(p.laddr, src.into())
                && p.faddr
                    .is_none_or(|f| f.ip() == std::net::IpAddr::V4(dst) && f.port() == dport)
        }),
        _ => false,
    }
}

/// Path MTU discovery (RFC 1191) on a "fragmentation needed" error quoting `quoted`:
/// lowers the MTU of the host route to the quoted destination when the error is about a
/// datagram of ours and the MTU is plausible; otherwise counts it and does nothing.
fn mtudisc(ctx: &mut Ctx, quoted: &[u8], next_mtu: u16) -> Option<u32> {
    if !quote_is_ours(ctx, quoted) {
        ctx.inet.icmpstat.pmtuignored += 1;
        return None;
    }
    let q = Ipv4Packet::new_unchecked(quoted);
    let rt = ctx.rt.inet.get_exact(q.dst(), 32)?;
    let (ifindex, cur) = (rt.ifindex, rt.mtu);
    let ifmtu = ctx.ifnet_by_index(ifindex).map(|i| i.mtu())?;
    let mtu = match u32::from(next_mtu) {
        0 => {
            let len = q.total_len() as u32;
            MTU_PLATEAUS.iter().copied().find(|&p| p < len).unwrap_or(PMTU_MIN)
        }
        m => m,
    };
    if !(PMTU_MIN..=ifmtu).contains(&mtu) {
        ctx.inet.icmpstat.pmtuignored += 1;
        return None;
    }
    // Only ever lowered here; it grows back when the route is changed or renewed.
    if cur == 0 || mtu < cur {
        if let Some(rt) = ctx.rt.inet.get_exact_mut(q.dst(), 32) {
            rt.mtu = mtu;
            ctx.inet.icmpstat.pmtuchg += 1;
        }
        return Some(mtu);
    }
    Some(cur)
}

/// Sends an ICMP error about datagram `orig` (RFC 1122 3.2.2): not about an ICMP error,
/// a broadcast or multicast, a non-first fragment, or a source that is not a unicast
/// host; at most `errppslimit` a second.
pub fn icmp_error(ctx: &mut Ctx, ifp_in: Option<&Arc<Ifnet>>, orig: &[u8], t: u8, code: u8, mtu: u16, bcast: bool) {
    ctx.inet.icmpstat.error += 1;
    let ip = Ipv4Packet::new_unchecked(orig);
    let hlen = ip.hlen();
    if ip.off() & IP_OFFMASK != 0 || bcast || ip.dst().is_multicast() || ip.dst().is_broadcast() {
        return;
    }
    let src = ip.src();
    if src.is_unspecified() || src.is_broadcast() || src.is_multicast() {
        return;
    }
    if ip.proto() == IPPROTO_ICMP && orig.len() > hlen && (orig.len() < hlen + 8 || is_error(orig[hlen])) {
        ctx.inet.icmpstat.oldicmp += 1;
        return;
    }
    if !ctx.inet.icmp_limit.check() {
        ctx.inet.icmpstat.toofreq += 1;
        return;
    }
    let quote = (hlen + ctx.inet.icmp_returndatabytes).min(orig.len());
    let m = IcmpRepr::error(t, code, mtu, &orig[..quote]).to_vec();
    // From the address the datagram was sent to when it is ours, else from the interface
    // it came in on.
    let from = if ctx.inet.addrs.iter().any(|ia| ia.addr == ip.dst()) {
        Some(ip.dst())
    } else {
        ifp_in.and_then(|i| ctx.inet.addrs.iter().find(|ia| ia.ifindex == i.index).map(|ia| ia.addr))
    };
    hist(&mut ctx.inet.icmpstat.outhist, t);
    let ttl = ctx.inet.ttl;
    let _ = ip_output(
        ctx,
        &OutPkt {
            src: from,
            dst: src,
            proto: IPPROTO_ICMP,
            ttl,
            tos: 0,
            df: false,
            payload: &m,
            offload: Default::default(),
        },
    );
}

/// Sends a host redirect to the sender of `orig` naming `gw` (net.inet.ip.redirect=1).
pub fn icmp_redirect(ctx: &mut Ctx, ifp_in: &Arc<Ifnet>, orig: &[u8], gw: Ipv4Addr) {
    let ip = Ipv4Packet::new_unchecked(orig);
    // Only when the sender is on the link the packet came in on.
    let onlink = ctx.inet.addrs.iter().any(|ia| {
        ia.ifindex == ifp_in.index
            && crate::net::route::mask(ia.addr, ia.prefix_len()) == crate::net::route::mask(ip.src(), ia.prefix_len())
    });
    if !onlink {
        return;
    }
    icmp_error_gw(ctx, ifp_in, orig, gw);
}

fn icmp_error_gw(ctx: &mut Ctx, ifp_in: &Arc<Ifnet>, orig: &[u8], gw: Ipv4Addr) {
    let ip = Ipv4Packet::new_unchecked(orig);
    if !ctx.inet.icmp_limit.check() {
        ctx.inet.icmpstat.toofreq += 1;
        return;
    }
    let quote = (ip.hlen() + ctx.inet.icmp_returndatabytes).min(orig.len());
    let m = IcmpRepr {
        msg_type: ICMP_REDIRECT,
        code: REDIRECT_HOST,
        rest: gw.octets(),
        data: &orig[..quote],
    }
    .to_vec();
    ctx.inet.stat.redirectsent += 1;
    hist(&mut ctx.inet.icmpstat.outhist, ICMP_REDIRECT);
    let from = ctx
        .inet
        .addrs
        .iter()
        .find(|ia| ia.ifindex == ifp_in.index)
        .map(|ia| ia.addr);
    let ttl = ctx.inet.ttl;
    let _ = ip_output(
        ctx,
        &OutPkt {
            src: from,
            dst: ip.src(),
            proto: IPPROTO_ICMP,
            ttl,
            tos: 0,
            df: false,
            payload: &m,
            offload: Default::default(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inet::raw::RawPcb;
    use crate::msg::wire::{Received, SeqPacket};
    use crate::sys::Stack;
    use crate::wire::ipv4::write_header;

    fn stack() -> Arc<Stack> {
        Stack::detached()
    }

    /// An echo reply from 10.0.0.2 to 10.0.0.1, its checksum right or not.
    fn echo_reply(good: bool) -> Vec<u8> {
        let mut p = vec![0u8; 20 + 16];
        let icmp = &mut p[20..];
        icmp[0] = ICMP_ECHOREPLY;
        icmp[4..8].copy_from_slice(&[0x12, 0x34, 0, 1]);
        let c = cksum(icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        if !good {
            icmp[10] ^= 0xff;
        }
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        write_header(&mut p[..20], 0, 36, 1, 0, 64, IPPROTO_ICMP, src, dst);
        p
    }

    mod pmtu {
        use super::*;
        use crate::inet::input_tests::{setup, HIM, ME};
        use crate::inet::tcp::{State, Tcb};
        use crate::inet::udp::UdpPcb;
        use crate::net::route::{Gateway, Rtentry};
        use crate::wire::route::rtf;
        use std::net::SocketAddrV4;

        const ISS: u32 = 0xffff_ff00;

        /// A stack with a host route to HIM and a TCP connection ME:4000 -> HIM:80 with
        /// 1000 bytes in flight (ISS..ISS+1000, across the sequence wrap).
        fn with_conn() -> (Arc<Stack>, Arc<Ifnet>) {
            let (stack, ifp, _sink) = setup(false);
            {
                let mut ctx = stack.ctx();
                ctx.rt
                    .inet
                    .add(Rtentry {
                        dst: HIM,
                        len: 32,
                        gateway: Gateway::Link(ifp.index),
                        ifindex: ifp.index,
                        ifa: ME,
                        flags: rtf::UP | rtf::HOST | rtf::STATIC,
                        use_count: 0,
                        mtu: 0,
                        rmx: None,
                        locks: 0,
                    })
                    .unwrap();
                let key = (ME.into(), 4000, HIM.into(), 80);
                let mut t = Tcb::new(7, key, State::Established, ISS, 65536, 65536, 1460);
                t.snd_una = ISS;
                t.snd_nxt = ISS.wrapping_add(1000);
                t.snd_max = ISS.wrapping_add(1000);
                ctx.inet.tcp.by_key.insert(key, 7);
                ctx.inet.tcp.insert_tcb(7, t);
            }
            (stack, ifp)
        }

        /// A "fragmentation needed" error from a router, quoting a datagram ME -> HIM of
        /// protocol `proto` whose first transport bytes are ports and `seq`.
        fn needfrag(mtu: u16, proto: u8, sport: u16, dport: u16, seq: u32) -> Vec<u8> {
            let mut quoted = vec![0u8; 28];
            write_header(&mut quoted[..20], 0, 1500, 1, 0x4000, 64, proto, ME, HIM);
            quoted[20..22].copy_from_slice(&sport.to_be_bytes());
            quoted[22..24].copy_from_slice(&dport.to_be_bytes());
            quoted[24..28].copy_from_slice(&seq.to_be_bytes());
            let mut m = vec![ICMP_UNREACH, UNREACH_NEEDFRAG, 0, 0, 0, 0];
            m.extend_from_slice(&mtu.to_be_bytes());
            m.extend_from_slice(&quoted);
            let c = cksum(&m);
            m[2..4].copy_from_slice(&c.to_be_bytes());
            let mut p = vec![0u8; 20 + m.len()];
            let total = p.len();
            write_header(
                &mut p[..20],
                0,
                total,
                9,
                0,
                60,
                IPPROTO_ICMP,
                Ipv4Addr::new(10, 0, 0, 254),
                ME,
            );
            p[20..].copy_from_slice(&m);
            p
        }

        fn route_mtu(s: &Stack) -> u32 {
            s.ctx().rt.inet.get_exact(HIM, 32).unwrap().mtu
        }

        #[test]
        fn an_error_about_data_in_flight_lowers_the_route_mtu() {
            let (s, ifp) = with_conn();
            icmp_input(
                &mut s.ctx(),
                &ifp,
                &needfrag(1200, 6, 4000, 80, ISS.wrapping_add(500)),
                false,
            );
            assert_eq!(route_mtu(&s), 1200);
            // Only lowered: a later, larger figure does not raise it.
            icmp_input(&mut s.ctx(), &ifp, &needfrag(1400, 6, 4000, 80, ISS), false);
            assert_eq!(route_mtu(&s), 1200);
            let st = &s.ctx().inet.icmpstat;
            assert_eq!((st.pmtuchg, st.pmtuignored), (1, 0));
        }

        #[test]
        fn forged_errors_change_nothing_and_are_counted() {
            let (s, ifp) = with_conn();
            let forged = [
                // No such connection (another port).
                needfrag(1200, 6, 4001, 80, ISS),
                // The connection, but a sequence number not in flight: before snd_una,
                // at snd_max, far away.
                needfrag(1200, 6, 4000, 80, ISS.wrapping_sub(1)),
                needfrag(1200, 6, 4000, 80, ISS.wrapping_add(1000)),
                needfrag(1200, 6, 4000, 80, 12345),
                // A UDP datagram from a port nobody has bound.
                needfrag(1200, 17, 5353, 53, 0),
                // ICMP: no socket of ours to match.
                needfrag(1200, 1, 0, 0, 0),
            ];
            for f in &forged {
                icmp_input(&mut s.ctx(), &ifp, f, false);
            }
            assert_eq!(route_mtu(&s), 0, "the route keeps the interface's MTU");
            let st = &s.ctx().inet.icmpstat;
            assert_eq!((st.pmtuchg, st.pmtuignored), (0, forged.len() as u64));
        }

        #[test]
        fn an_mtu_below_the_floor_or_above_the_link_is_ignored() {
            let (s, ifp) = with_conn();
            for mtu in [68, PMTU_MIN as u16 - 1, 9000] {
                icmp_input(&mut s.ctx(), &ifp, &needfrag(mtu, 6, 4000, 80, ISS), false);
            }
            assert_eq!(route_mtu(&s), 0);
            icmp_input(&mut s.ctx(), &ifp, &needfrag(PMTU_MIN as u16, 6, 4000, 80, ISS), false);
            assert_eq!(route_mtu(&s), PMTU_MIN);
            let st = &s.ctx().inet.icmpstat;
            assert_eq!((st.pmtuchg, st.pmtuignored), (1, 3));
        }

        #[test]
        fn an_error_without_an_mtu_takes_the_next_plateau_below_the_quoted_length() {
            let (s, ifp) = with_conn();
            // The quoted datagram was 1500 bytes long: RFC 1191's next plateau is 1492.
            icmp_input(&mut s.ctx(), &ifp, &needfrag(0, 6, 4000, 80, ISS), false);
            assert_eq!(route_mtu(&s), 1492);
        }

        #[test]
        fn an_error_about_a_bound_udp_socket_is_taken() {
            let (s, ifp) = with_conn();
            let (ours, _theirs) = SeqPacket::pair().unwrap();
            s.ctx().inet.udp.push(UdpPcb {
                lport: 5353,
                faddr: Some(SocketAddrV4::new(HIM, 53).into()),
                ..UdpPcb::new(9, ours, 65536)
            });
            // Connected elsewhere: not ours.
            icmp_input(&mut s.ctx(), &ifp, &needfrag(1000, 17, 5353, 54, 0), false);
            assert_eq!(route_mtu(&s), 0);
            icmp_input(&mut s.ctx(), &ifp, &needfrag(1000, 17, 5353, 53, 0), false);
            assert_eq!(route_mtu(&s), 1000);
        }
    }

    #[test]
    fn raw_sockets_get_only_messages_that_pass_the_checks() {
        let s = stack();
        let mut ctx = s.ctx();
        let (ours, theirs) = SeqPacket::pair().unwrap();
        theirs
            .set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        ctx.inet.raw.push(RawPcb::new(1, IPPROTO_ICMP, ours));
        let lo = Arc::new(Ifnet::loopback(1, "lo0".into(), false));
        let mut buf = vec![0u8; 4096];
        icmp_input(&mut ctx, &lo, &echo_reply(false), false);
        assert_eq!(ctx.inet.icmpstat.checksum, 1);
        assert!(
            theirs.recv(&mut buf).is_err(),
            "a damaged message reached the raw socket"
        );
        icmp_input(&mut ctx, &lo, &echo_reply(true), false);
        assert!(matches!(theirs.recv(&mut buf), Ok(Received::Msg(_))));
    }
}
