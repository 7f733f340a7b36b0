//! Route lookups in a 200,000-route IPv6 table against the same count of IPv4 routes, in the
//! same run: lookups per second (longest-prefix match of addresses that fall in the table's
//! prefixes, plus a share that only the default route catches) and the heap each table
//! holds per route, counted by a counting allocator around the table's construction.
//!
//! The prefix lengths follow what full tables hold: IPv4 mostly /24 with /16 to /23 and
//! some /32 hosts; IPv6 mostly /48 with /29 to /64 and some /128 hosts.
//!
//! Run: `cargo bench -p pktbox-tests --bench route` (ROUTES=N to change the count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use pktbox_stack::net::route::{Gateway, RouteTable, RtAddr, Rtentry};
use pktbox_stack::wire::route::rtf;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: p came from alloc with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// xorshift64*: the same tables every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick(&mut self, weights: &[(u8, u32)]) -> u8 {
        let total: u32 = weights.iter().map(|(_, w)| w).sum();
        let mut x = (self.next() % u64::from(total)) as u32;
        for (l, w) in weights {
            if x < *w {
                return *l;
            }
            x -= w;
        }
        weights[0].0
    }
}

const V4_LENS: &[(u8, u32)] = &[
    (24, 600),
    (23, 60),
    (22, 100),
    (21, 40),
    (20, 40),
    (19, 30),
    (18, 20),
    (17, 15),
    (16, 40),
    (32, 55),
];
const V6_LENS: &[(u8, u32)] = &[
    (48, 500),
    (32, 60),
    (29, 20),
    (36, 20),
    (40, 40),
    (44, 60),
    (46, 30),
    (47, 20),
    (56, 60),
    (64, 100),
    (128, 90),
];

/// A table of `n` distinct routes of the family, and addresses to look up: three of four
/// inside a route (random host bits), one anywhere (the default route's).
fn build<A: RtAddr>(
    n: usize,
    lens: &[(u8, u32)],
    rng: &mut Rng,
    addr: impl Fn(&mut Rng) -> A::Key,
    or_bits: impl Fn(A::Key, A::Key, u8) -> A::Key,
) -> (RouteTable<A>, usize, Vec<A>) {
    let before = LIVE.load(Ordering::Relaxed);
    let mut t = RouteTable::<A>::default();
    let gw = |k| Gateway::Inet(A::from_key(k));
    t.add(Rtentry::new(
        A::UNSPECIFIED,
        0,
        gw(addr(rng)),
        2,
        A::UNSPECIFIED,
        rtf::UP | rtf::GATEWAY,
    ))
    .unwrap();
    let mut keys = Vec::with_capacity(n);
    while t.len() < n {
        let len = rng.pick(lens);
        let k = A::mask_key(addr(rng), len);
        let r = Rtentry::new(
            A::from_key(k),
            len,
            gw(addr(rng)),
            2,
            A::UNSPECIFIED,
            rtf::UP | rtf::GATEWAY,
        );
        if t.add(r).is_ok() {
            keys.push((k, len));
        }
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before - keys.capacity() * std::mem::size_of::<(A::Key, u8)>();
    let probes: Vec<A> = (0..1_000_000)
        .map(|i| {
            if i % 4 == 3 {
                A::from_key(addr(rng))
            } else {
                let (k, len) = keys[(rng.next() % keys.len() as u64) as usize];
                A::from_key(or_bits(k, addr(rng), len))
            }
        })
        .collect();
    (t, bytes, probes)
}

/// Lookups per second: the best of five passes over the probes.
fn rate<A: RtAddr>(t: &RouteTable<A>, probes: &[A]) -> f64 {
    let mut best = 0f64;
    for _ in 0..5 {
        let start = Instant::now();
        let mut hits = 0usize;
        for p in probes {
            if let Some(r) = t.lookup(black_box(*p)) {
                hits += usize::from(r.len);
            }
        }
        black_box(hits);
        best = best.max(probes.len() as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let n: usize = std::env::var("ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (t4, b4, p4) = build::<Ipv4Addr>(
        n,
        V4_LENS,
        &mut rng,
        |r| r.next() as u32,
        |k, x, len| k | (x & !u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)),
    );
    let (t6, b6, p6) = build::<Ipv6Addr>(
        n,
        V6_LENS,
        &mut rng,
        // Global unicast, 2000::/3.
        |r| ((u128::from(r.next()) << 64 | u128::from(r.next())) >> 3) | (1u128 << 125),
        |k, x, len| k | (x & !u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)),
    );
    let r4 = rate(&t4, &p4);
    let r6 = rate(&t6, &p6);
    println!("route lookup, {n} routes per table (same run):");
    println!(
        "  inet : {:>7.2} M lookups/s, {:>5.1} bytes/route",
        r4 / 1e6,
        b4 as f64 / t4.len() as f64
    );
    println!(
        "  inet6: {:>7.2} M lookups/s, {:>5.1} bytes/route",
        r6 / 1e6,
        b6 as f64 / t6.len() as f64
    );
    println!(
        "  inet6/inet: lookups {:.2}x, memory {:.2}x",
        r6 / r4,
        (b6 as f64 / t6.len() as f64) / (b4 as f64 / t4.len() as f64)
    );
}
