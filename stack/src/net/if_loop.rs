//! The loopback interface (NetBSD's `net/if_loop.c`): its `if_output`, `looutput`, shows
//! each packet to lo0's captures and queues it; the queue is served once the sender lets
//! the stack context go (`loopback_drain`, from `sys::CtxGuard`), which hands each packet
//! to its family's input as if it had come in on lo0.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use crate::conf::Ctx;
use crate::inet::ip::ip_input;
use crate::net::ifnet::{inc, Dst, Ifnet};
use crate::sys::mbuf::{Mbuf, M_LOOP};

/// Packets waiting to go around through lo0.
pub const LOOPQ_MAX: usize = 4096;

/// Loopback's link header (DLT_NULL): the address family, in host order.
const LOHDRLEN: usize = 4;

/// lo0's `if_output`: `m` is a datagram of `dst`'s family. Counts it on the interface,
/// shows it to its captures, and queues it for `loopback_drain`.
pub fn looutput(ctx: &mut Ctx, lo: &Ifnet, mut m: Mbuf, dst: Dst) -> Result<(), i32> {
    if !lo.is_up() {
        return Err(libc::ENETDOWN);
    }
    let af = match dst {
        Dst::Ip(IpAddr::V4(_)) => libc::AF_INET,
        // IPv6 goes around once inet6 has an input routine to take it (loopback_drain).
        Dst::Ip(IpAddr::V6(_)) | Dst::Link(..) => return Err(libc::EAFNOSUPPORT),
    };
    let total = m.len();
    inc(&lo.stats.opackets);
    lo.stats.obytes.fetch_add(total as u64, Ordering::Relaxed);
    lo.count_in(total);
    if ctx.inet.loopq.len() >= LOOPQ_MAX {
        ctx.inet.stat.odropped += 1;
        inc(&lo.stats.iqdrops);
        return Err(libc::ENOBUFS);
    }
    m.prepend(LOHDRLEN).copy_from_slice(&(af as u32).to_ne_bytes());
    lo.bpf.tap(m.as_slice(), crate::net::bpf::Dir::Out);
    m.rcvif = lo.index;
    m.flags |= M_LOOP;
    ctx.inet.loopq.push_back(m);
    Ok(())
}

/// Delivers what was sent through lo0 (see `sys::CtxGuard`), by address family.
pub fn loopback_drain(ctx: &mut Ctx) {
    while let Some(mut m) = ctx.inet.loopq.pop_front() {
        let Some(lo) = ctx.ifnet_by_index(m.rcvif).cloned() else {
            continue;
        };
        let Some(af) = m.as_slice().first_chunk::<LOHDRLEN>().map(|a| u32::from_ne_bytes(*a)) else {
            continue;
        };
        m.adj(LOHDRLEN);
        m.set_network_header();
        match af as i32 {
            libc::AF_INET => ip_input(ctx, &lo, m),
            _ => inc(&lo.stats.noproto),
        }
    }
}
