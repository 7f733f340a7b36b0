//! Route lookups per second and memory per route, at 100,000 and 1,000,000 routes, against
//! a baseline measured in the same run: one exact-match probe of a hash map holding the
//! same prefixes (the cost floor of any hashed lookup).
//!
//! Run: `cargo bench -p pktbox-stack --bench route`

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use pktbox_stack::net::route::{Gateway, RouteTable, Rtentry};
use pktbox_stack::wire::route::rtf;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
}

#[global_allocator]
static A: Counting = Counting;

/// xorshift64*: deterministic addresses.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

/// A prefix-length mix like a full Internet table's: mostly /24, then /22-/23, /16-/21.
fn len_of(r: u32) -> u8 {
    match r % 100 {
        0..=59 => 24,
        60..=74 => 23,
        75..=84 => 22,
        85..=94 => 20 + (r % 2) as u8,
        _ => 16 + (r % 4) as u8,
    }
}

fn run(n: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let before = LIVE.load(Ordering::Relaxed);
    let mut t = RouteTable::default();
    let mut keys = Vec::with_capacity(n);
    while t.len() < n {
        let r = rng.next();
        let len = len_of(r);
        let dst = Ipv4Addr::from(rng.next());
        let e = Rtentry {
            dst,
            len,
            gateway: Gateway::Inet(Ipv4Addr::new(10, 0, 0, 1)),
            ifindex: 2,
            ifa: Ipv4Addr::new(10, 0, 0, 2),
            flags: rtf::UP | rtf::GATEWAY | rtf::STATIC,
            use_count: 0,
            mtu: 0,
            rmx: None,
            locks: 0,
        };
        if t.add(e).is_ok() {
            keys.push(dst);
        }
    }
    let t_default = t.add(Rtentry {
        dst: Ipv4Addr::UNSPECIFIED,
        len: 0,
        gateway: Gateway::Inet(Ipv4Addr::new(10, 0, 0, 1)),
        ifindex: 2,
        ifa: Ipv4Addr::new(10, 0, 0, 2),
        flags: rtf::UP | rtf::GATEWAY,
        use_count: 0,
        mtu: 0,
        rmx: None,
        locks: 0,
    });
    assert!(t_default.is_ok());
    let bytes = LIVE.load(Ordering::Relaxed) - before - keys.capacity() * 4;
    // Lookups: half to addresses inside loaded prefixes, half random (mostly default).
    let probes: Vec<Ipv4Addr> = (0..1_000_000)
        .map(|i| {
            if i % 2 == 0 {
                keys[(rng.next() as usize) % keys.len()]
            } else {
                Ipv4Addr::from(rng.next())
            }
        })
        .collect();
    let start = Instant::now();
    let mut hits = 0usize;
    for _ in 0..3 {
        for p in &probes {
            if black_box(t.lookup(*p)).is_some() {
                hits += 1;
            }
        }
    }
    let lps = (3 * probes.len()) as f64 / start.elapsed().as_secs_f64();
    // Baseline: one exact probe into a std HashMap of the same number of u32 keys.
    let base: HashMap<u32, u32> = keys.iter().map(|k| (u32::from(*k), 1)).collect();
    let start = Instant::now();
    let mut bh = 0usize;
    for _ in 0..3 {
        for p in &probes {
            if black_box(base.get(&u32::from(*p))).is_some() {
                bh += 1;
            }
        }
    }
    let bps = (3 * probes.len()) as f64 / start.elapsed().as_secs_f64();
    black_box((hits, bh));
    println!(
        "routes {n:>9}: {:>6.2} M lookups/s; baseline one hash probe {:>6.2} M/s; ratio {:.2}; {:.0} bytes/route",
        lps / 1e6,
        bps / 1e6,
        lps / bps,
        bytes as f64 / n as f64
    );
}

fn main() {
    run(100_000);
    run(1_000_000);
}
