//! PF's engine on its own, no interfaces: rule evaluation per packet for a 1,000-rule set
//! whose last rule matches, with skip steps and with them turned off (same run, ratio
//! printed); state lookups in a table of 100,000 states; heap bytes per state (a counting
//! global allocator).
//!
//! Run: `cargo bench -p pktbox-stack --bench pf`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use pktbox_stack::msg::pf::{self as m, Action, IfSpec, PortOp, Rule};
use pktbox_stack::net::pfil::Dir;
use pktbox_stack::pf::pkt::{parse4, Addr, Af, Pd};
use pktbox_stack::pf::rules::{eval_filter, Ctx4, IfAddrs, Rules};
use pktbox_stack::pf::state::{Host, Key, State, StateTable};

struct Counting;
static BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards to the system allocator, only counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        BYTES.fetch_add(l.size() as i64, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        BYTES.fetch_sub(l.size() as i64, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        BYTES.fetch_add(n as i64 - l.size() as i64, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

struct NoIf;
impl IfAddrs for NoIf {
    fn addrs(&self, _: &str, _: Af) -> Vec<(Addr, u8)> {
        Vec::new()
    }
    fn route_if(&self, _: Af, _: Addr) -> Option<u16> {
        None
    }
}

fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut p = vec![0u8; 28];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&28u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&8u16.to_be_bytes());
    p
}

/// 999 rules on another interface, each for its own port, then `pass all`.
fn ruleset() -> Rules {
    let mut filter = Vec::new();
    for p in 1..1000u16 {
        let mut r = Rule::new(Action::Block);
        r.ifname = Some(IfSpec {
            name: "en1".into(),
            neg: false,
        });
        r.proto = Some(17);
        r.dst.port = Some(PortOp::eq(p));
        filter.push(r);
    }
    filter.push(Rule::new(Action::Pass));
    let mut rules = Rules::default();
    let rs = m::Ruleset {
        filter,
        ..m::Ruleset::default()
    };
    rules.main = rules.compile("", &rs).expect("compile");
    rules
}

fn eval_ns(rules: &mut Rules, pd: &Pd, n: u32) -> f64 {
    let c = Ctx4 {
        pd,
        dir: Dir::In,
        ifname: "en0",
        ifindex: 2,
        tag: 0,
    };
    let t = Instant::now();
    for _ in 0..n {
        let d = eval_filter(rules, &NoIf, &c);
        assert_eq!(d.rule.as_ref().map(|r| r.1), Some(999));
        black_box(d);
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let p = udp(Ipv4Addr::new(10, 0, 0, 2), 1234, Ipv4Addr::new(192, 0, 2, 9), 5353);
    let pd = parse4(&p).expect("packet");
    let mut with = ruleset();
    let mut without = ruleset();
    without.main.without_skip_steps();
    eval_ns(&mut with, &pd, 10_000);
    eval_ns(&mut without, &pd, 10_000);
    let a = eval_ns(&mut with, &pd, 200_000);
    let b = eval_ns(&mut without, &pd, 20_000);
    println!(
        "rule evaluation, 1,000 rules, last matches: {a:.0} ns/packet with skip steps, {b:.0} ns without ({:.1}x)",
        b / a
    );

    // 100,000 states: lookups of present and absent keys.
    const N: u32 = 100_000;
    let before = BYTES.load(Ordering::Relaxed);
    let mut t = StateTable::new(N);
    let mut keys = Vec::with_capacity(N as usize);
    for k in 0..N {
        let src = Ipv4Addr::from(0x0a00_0000 + k);
        let p = udp(src, 1024 + (k % 60000) as u16, Ipv4Addr::new(192, 0, 2, 9), 53);
        let pd = parse4(&p).expect("packet");
        t.insert(State::new(&pd, Dir::Out, None, 0)).expect("insert");
        keys.push(Key::for_packet(&pd, Dir::Out));
    }
    let bytes = BYTES.load(Ordering::Relaxed) - before;
    // Keys kept by this benchmark are not the table's.
    let own = (keys.capacity() * std::mem::size_of::<Key>()) as i64;
    println!(
        "memory: {:.0} bytes per state ({} states, {} bytes of State each)",
        (bytes - own) as f64 / f64::from(N),
        N,
        std::mem::size_of::<State>()
    );
    let miss = Key::new(
        Af::Inet,
        17,
        Host {
            addr: Addr::v4(Ipv4Addr::new(10, 9, 9, 9)),
            port: 1,
        },
        Host::default(),
    );
    let rounds = 2_000_000u32;
    let start = Instant::now();
    let mut found = 0u32;
    for i in 0..rounds {
        let k = &keys[(i.wrapping_mul(2_654_435_761) % N) as usize];
        found += u32::from(t.find(black_box(k), Dir::Out).is_some());
    }
    let hit = start.elapsed().as_nanos() as f64 / f64::from(rounds);
    assert_eq!(found, rounds);
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(t.find(black_box(&miss), Dir::Out));
    }
    let miss_ns = start.elapsed().as_nanos() as f64 / f64::from(rounds);
    println!("state lookup with {N} states: {hit:.0} ns found, {miss_ns:.0} ns not found");
}
