//! ICMP (RFC 792, RFC 1122 3.2.2): echo, errors with NetBSD's rate limit, counters.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use crate::inet::cksum::cksum;
use crate::inet::ip::{ip_output, Ip, OutPkt, IPPROTO_ICMP, IP_OFFMASK};
use crate::net::ifnet::Ifnet;
use crate::sys::Ctx;

pub const ICMP_ECHOREPLY: u8 = 0;
pub const ICMP_UNREACH: u8 = 3;
pub const ICMP_SOURCEQUENCH: u8 = 4;
pub const ICMP_REDIRECT: u8 = 5;
pub const ICMP_ECHO: u8 = 8;
pub const ICMP_TIMXCEED: u8 = 11;
pub const ICMP_PARAMPROB: u8 = 12;
pub const ICMP_TSTAMP: u8 = 13;
pub const ICMP_TSTAMPREPLY: u8 = 14;
pub const ICMP_MASKREQ: u8 = 17;
pub const ICMP_MAXTYPE: usize = 40;

pub const UNREACH_NET: u8 = 0;
pub const UNREACH_HOST: u8 = 1;
pub const UNREACH_PROTOCOL: u8 = 2;
pub const UNREACH_PORT: u8 = 3;
pub const UNREACH_NEEDFRAG: u8 = 4;
pub const UNREACH_SRCFAIL: u8 = 5;
pub const TIMXCEED_INTRANS: u8 = 0;
pub const TIMXCEED_REASS: u8 = 1;
pub const REDIRECT_HOST: u8 = 1;

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

/// Whether a type is an error (so no error is sent about it).
fn is_error(t: u8) -> bool {
    matches!(
        t,
        ICMP_UNREACH | ICMP_SOURCEQUENCH | ICMP_REDIRECT | ICMP_TIMXCEED | ICMP_PARAMPROB
    )
}

/// Input of a local ICMP datagram (whole, header included).
pub fn icmp_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pkt: &[u8], bcast: bool) {
    let ip = Ip(pkt);
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
            reply[0] = ICMP_ECHOREPLY;
            reply[2..4].copy_from_slice(&[0, 0]);
            let c = cksum(&reply);
            reply[2..4].copy_from_slice(&c.to_be_bytes());
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
            if icmp.len() < 8 + 20 {
                ctx.inet.icmpstat.badlen += 1;
                return;
            }
            if t == ICMP_UNREACH && code > 15 {
                ctx.inet.icmpstat.badcode += 1;
            }
            if t == ICMP_UNREACH && code == UNREACH_NEEDFRAG {
                let mtu = u16::from_be_bytes([icmp[6], icmp[7]]);
                let quoted = Ip(&icmp[8..]);
                if mtu >= 68 {
                    if let Some(rt) = ctx.rt.get_exact_mut(quoted.dst(), 32) {
                        rt.mtu = u32::from(mtu);
                        ctx.inet.icmpstat.pmtuchg += 1;
                    }
                }
            }
            let _ = ifp;
        }
        _ => {}
    }
}

/// Sends an ICMP error about datagram `orig` (RFC 1122 3.2.2): not about an ICMP error,
/// a broadcast or multicast, a non-first fragment, or a source that is not a unicast
/// host; at most `errppslimit` a second.
pub fn icmp_error(ctx: &mut Ctx, ifp_in: Option<&Arc<Ifnet>>, orig: &[u8], t: u8, code: u8, mtu: u16, bcast: bool) {
    ctx.inet.icmpstat.error += 1;
    let ip = Ip(orig);
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
    let quote = (hlen + RETURNDATABYTES).min(orig.len());
    let mut m = vec![0u8; 8 + quote];
    m[0] = t;
    m[1] = code;
    if t == ICMP_UNREACH && code == UNREACH_NEEDFRAG {
        m[6..8].copy_from_slice(&mtu.to_be_bytes());
    }
    m[8..].copy_from_slice(&orig[..quote]);
    let c = cksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
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
    let ip = Ip(orig);
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
    let ip = Ip(orig);
    if !ctx.inet.icmp_limit.check() {
        ctx.inet.icmpstat.toofreq += 1;
        return;
    }
    let quote = (ip.hlen() + RETURNDATABYTES).min(orig.len());
    let mut m = vec![0u8; 8 + quote];
    m[0] = ICMP_REDIRECT;
    m[1] = REDIRECT_HOST;
    m[4..8].copy_from_slice(&gw.octets());
    m[8..].copy_from_slice(&orig[..quote]);
    let c = cksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
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
    use crate::inet::ip::write_header;
    use crate::inet::raw::RawPcb;
    use crate::msg::wire::{Received, SeqPacket};
    use crate::sys::{Config, Stack, Variant};

    fn stack() -> Arc<Stack> {
        Stack::new(Config {
            variant: Variant::V4,
            prefix: "/nonexistent".into(),
            forward: false,
            rx_threads: 1,
            rx_prio: None,
            threads_min: 1,
            threads_max: 1,
            verbose: 0,
        })
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

    #[test]
    fn raw_sockets_get_only_messages_that_pass_the_checks() {
        let s = stack();
        let mut ctx = s.ctx();
        let (ours, theirs) = SeqPacket::pair().unwrap();
        theirs
            .set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        ctx.inet.raw.push(RawPcb {
            id: 1,
            proto: IPPROTO_ICMP,
            laddr: None,
            faddr: None,
            ttl: None,
            tos: 0,
            conn: ours,
            drops: 0,
        });
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
