//! Forwarding inside one stack, without wires: frames handed to en0's input as a receive
//! thread hands them, forwarded to en1, whose driver only counts them. Prints, per case,
//! packets a second and heap allocations per forwarded packet (a counting global
//! allocator), so a change to the packet path can be compared with the build before it
//! on the same machine and run (`scripts/bench-forward` runs both).
//!
//! Run: `cargo bench -p pktbox-stack --bench forward`

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use pktbox_drivers::{Csum, Driver, FrameMeta, Gso, Recv};
use pktbox_stack::fuzzing::{arp_frame, ip_frame, tcp_frame, MAC, PEER, PEER_MAC};
use pktbox_stack::msg::AddrReq;
use pktbox_stack::net::if_control::if_attach;
use pktbox_stack::net::ifnet::Ifnet;
use pktbox_stack::sys::mbuf::Mbuf;
use pktbox_stack::sys::Stack;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

/// A driver that counts what it is given and keeps nothing.
struct Count(Arc<AtomicU64>);

impl Driver for Count {
    fn kind(&self) -> &'static str {
        "count"
    }
    fn raw_fd(&self) -> std::os::fd::RawFd {
        -1
    }
    fn recv(&self, _: &mut [u8]) -> std::io::Result<Recv> {
        Ok(Recv::WouldBlock)
    }
    fn send(&self, _: &[u8]) -> std::io::Result<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn link_up(&self) -> bool {
        true
    }
    fn details(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

const FAR: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const FAR_MAC: [u8; 6] = [2, 0, 0, 0, 1, 2];

fn addr(ctx: &mut pktbox_stack::conf::Ctx, name: &str, a: Ipv4Addr) {
    pktbox_stack::inet::add_addr(
        ctx,
        &AddrReq {
            name: name.into(),
            addr: Some(a.into()),
            netmask: Some(Ipv4Addr::new(255, 255, 255, 0).into()),
            brd: None,
        },
    )
    .expect("address");
}

const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const FAR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);

fn addr6(ctx: &mut pktbox_stack::conf::Ctx, name: &str, a: Ipv6Addr) {
    pktbox_stack::inet6::add_addr(
        ctx,
        &AddrReq {
            name: name.into(),
            addr: Some(a.into()),
            netmask: None,
            brd: None,
        },
    )
    .expect("inet6 address");
}

/// An Ethernet frame to en0 with an IPv6 UDP datagram of `len` payload bytes.
fn ip6_frame(len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 40 + 8 + len);
    f.extend_from_slice(&MAC);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&[0x86, 0xdd]);
    let plen = (8 + len) as u16;
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&plen.to_be_bytes());
    f.extend_from_slice(&[17, 64]);
    f.extend_from_slice(&PEER6.octets());
    f.extend_from_slice(&FAR6.octets());
    f.extend_from_slice(&9u16.to_be_bytes());
    f.extend_from_slice(&9u16.to_be_bytes());
    f.extend_from_slice(&plen.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(14 + 40 + 8 + len, 0);
    f
}

/// en0 (10.0.0.1/24) and en1 (10.1.0.1/24, `mtu1`), forwarding, FAR's address known.
fn router(mtu1: u32, v6: bool) -> (Arc<Stack>, Arc<Ifnet>, Arc<AtomicU64>) {
    let stack = if v6 {
        Stack::detached_variant(pktbox_stack::sys::Variant::V6Hc)
    } else {
        Stack::detached()
    };
    let sent = Arc::new(AtomicU64::new(0));
    let en0 = {
        let mut ctx = stack.ctx();
        ctx.inet.forwarding = true;
        if_attach(&mut ctx, Ifnet::loopback(1, "lo0".into(), false))
            .expect("lo0")
            .set_up(true);
        let en0 = if_attach(
            &mut ctx,
            Ifnet::ether(2, "en0".into(), MAC, 1500, Box::new(Count(Arc::new(AtomicU64::new(0))))),
        )
        .expect("en0");
        let en1 = if_attach(
            &mut ctx,
            Ifnet::ether(3, "en1".into(), [2, 0, 0, 0, 1, 1], mtu1, Box::new(Count(sent.clone()))),
        )
        .expect("en1");
        en0.set_up(true);
        en1.set_up(true);
        addr(&mut ctx, "en0", Ipv4Addr::new(10, 0, 0, 1));
        addr(&mut ctx, "en1", Ipv4Addr::new(10, 1, 0, 1));
        if v6 {
            ctx.inet6.forwarding = true;
            addr6(&mut ctx, "en0", Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
            addr6(&mut ctx, "en1", Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1));
            // FAR6's link address, as `ndp -s` would put it.
            let e = pktbox_stack::inet6::nd6::NdEntry {
                lladdr: Some(FAR_MAC),
                state: pktbox_stack::inet6::nd6::Nud::Reachable,
                is_router: false,
                asked: 0,
                next: None,
                hold: Default::default(),
                touched: Instant::now(),
                permanent: true,
            };
            ctx.inet6.nd.cache.insert((en1.index, FAR6), e);
        }
        en0
    };
    // FAR asks for our address on en1: its own goes into the cache.
    let en1 = stack.ctx().ifnet_by_name("en1").cloned().expect("en1");
    let mut a = arp_frame(1, FAR, Ipv4Addr::new(10, 1, 0, 1), FAR_MAC);
    input(&stack, &en1, &a, FrameMeta::PLAIN);
    a.clear();
    (stack, en0, sent)
}

/// Hands `frame` to the interface as its receive thread would: read into an mbuf from
/// the thread's free list (the copy stands for the driver's read).
fn input(stack: &Stack, ifp: &Arc<Ifnet>, frame: &[u8], meta: FrameMeta) {
    let mut m = Mbuf::for_rx();
    m.rx_space()[..frame.len()].copy_from_slice(frame);
    m.set_len(frame.len());
    m.set_meta(meta);
    pktbox_stack::net::ether::ether_input(stack, ifp, m);
}

fn case(what: &str, mtu1: u32, frame: &[u8], meta: FrameMeta, n: u64) {
    case_af(what, mtu1, frame, meta, n, false)
}

fn case_af(what: &str, mtu1: u32, frame: &[u8], meta: FrameMeta, n: u64, v6: bool) {
    // `cargo bench ... -- WORD` runs only the cases whose name has WORD; `=NAME` only the
    // case named NAME.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let hit = |f: &String| match f.strip_prefix('=') {
        Some(name) => what == name,
        None => what.contains(f.as_str()),
    };
    if !filter.is_empty() && !filter.iter().any(hit) {
        return;
    }
    let (stack, en0, sent) = router(mtu1, v6);
    // Warm up: caches, pools, the route's first use.
    for _ in 0..1000 {
        input(&stack, &en0, frame, meta);
    }
    let s0 = sent.load(Ordering::Relaxed);
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let t = Instant::now();
    for _ in 0..n {
        input(&stack, &en0, frame, meta);
    }
    let el = t.elapsed().as_secs_f64();
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    let out = sent.load(Ordering::Relaxed) - s0;
    let fwd = if v6 {
        stack.ctx().inet6.stat.forward
    } else {
        stack.ctx().inet.stat.forward
    };
    assert!(fwd >= n, "{what}: only {fwd} of {n} forwarded");
    println!(
        "{what}: {:.0} packets/s in, {:.0} frames/s out, {:.2} allocations per packet",
        n as f64 / el,
        out as f64 / el,
        allocs as f64 / n as f64
    );
}

fn main() {
    let mut udp = vec![0u8; 8 + 18];
    udp[0..2].copy_from_slice(&9u16.to_be_bytes());
    udp[2..4].copy_from_slice(&9u16.to_be_bytes());
    udp[4..6].copy_from_slice(&26u16.to_be_bytes());
    let small = ip_frame(PEER, FAR, 17, 1, 0, &udp);
    let mut udp = vec![0u8; 1472];
    udp[0..2].copy_from_slice(&9u16.to_be_bytes());
    udp[2..4].copy_from_slice(&9u16.to_be_bytes());
    udp[4..6].copy_from_slice(&1472u16.to_be_bytes());
    let full = ip_frame(PEER, FAR, 17, 1, 0, &udp);
    case("64-byte UDP", 1500, &small, FrameMeta::PLAIN, 1_000_000);
    case("1500-byte UDP", 1500, &full, FrameMeta::PLAIN, 500_000);
    case(
        "1500-byte UDP to a 576-byte MTU (3 fragments)",
        576,
        &full,
        FrameMeta::PLAIN,
        200_000,
    );
    // IPv6: 64 bytes on the wire (header, UDP, 10 bytes) and 1500 (a full frame).
    case_af(
        "IPv6 64-byte UDP",
        1500,
        &ip6_frame(64 - 14 - 40 - 8),
        FrameMeta::PLAIN,
        1_000_000,
        true,
    );
    case_af(
        "IPv6 1500-byte UDP",
        1500,
        &ip6_frame(1500 - 40 - 8),
        FrameMeta::PLAIN,
        500_000,
        true,
    );
    // A 32 KiB TCP super-frame (as a TAP's LRO hands it up) to an interface without TSO.
    let data = vec![0x5au8; 32768];
    let mut sf = tcp_frame(PEER, 40000, FAR, 80, 1, 1, 0x10, 512, &[], &data);
    // Partial checksum: the pseudo-header's sum in the field, as the host leaves it.
    let tcp_at = 14 + 20;
    let len = (sf.len() - tcp_at) as u32;
    let mut s: u32 = 0;
    for w in [PEER.octets(), FAR.octets()] {
        s += u32::from(u16::from_be_bytes([w[0], w[1]])) + u32::from(u16::from_be_bytes([w[2], w[3]]));
    }
    s += 6 + len;
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    sf[tcp_at + 16..tcp_at + 18].copy_from_slice(&(s as u16).to_be_bytes());
    let meta = FrameMeta {
        csum: Csum::Partial {
            start: tcp_at as u16,
            offset: 16,
        },
        gso: Gso::Tcp4 { size: 1448 },
    };
    let _ = PEER_MAC;
    case(
        "32 KiB TCP super-frame cut for an interface without TSO",
        1500,
        &sf,
        meta,
        20_000,
    );
}
