//! Capture benchmarks, each against Linux's own in the same run.
//!
//! 1. Filter evaluation cost per packet: the programs pktbox's tcpdump compiles for a few
//!    typical expressions, run by the stack's interpreter and by libpcap's `bpf_filter`
//!    (the interpreter Linux's tcpdump uses in user space; loaded with dlopen) on the same
//!    frames.
//! 2. (root) The highest packet rate a capture keeps up with: UDP bursts at rising rates
//!    from a namespace into a stack over TAP, captured at once by pktbox's tcpdump on the
//!    stack's interface and by Linux's tcpdump on the TAP device; the share each kept.
//!
//! Run: `cargo build --release && cargo bench -p pktbox-tests --bench capture`

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use pktbox_stack::net::bpf::{BpfInsn, BpfProgram};

fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PKTBOX_BIN") {
        return p.into();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for p in ["target/release/pktbox", "target/debug/pktbox"] {
        if root.join(p).exists() {
            return root.join(p);
        }
    }
    panic!("build pktbox first (cargo build --release)");
}

/// The program `pktbox tcpdump -ddd` prints for an expression.
fn prog(expr: &str) -> Vec<BpfInsn> {
    let o = Command::new(bin())
        .args(["tcpdump", "-ddd", expr])
        .output()
        .expect("pktbox tcpdump -ddd");
    assert!(o.status.success(), "{expr}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<u32> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            BpfInsn::jump(v[0] as u16, v[3], v[1] as u8, v[2] as u8)
        })
        .collect()
}

/// A mix of frames as a busy segment carries them: TCP and UDP over IPv4 (some tagged),
/// ARP, IPv6.
fn corpus() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let eth = |ty: u16, payload: &[u8]| {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ty.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    let ip = |proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]| {
        let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
        let len = (20 + l4.len()) as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(l4);
        p
    };
    for i in 0..64u16 {
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&(40000 + i).to_be_bytes());
        tcp[2..4].copy_from_slice(&[80u16, 22, 443, 8080][i as usize % 4].to_be_bytes());
        tcp[12] = 0x50;
        tcp[13] = if i % 8 == 0 { 0x02 } else { 0x10 };
        tcp.extend_from_slice(&[0x61; 100]);
        let src = [10, 0, (i % 4) as u8, 1 + (i % 7) as u8];
        v.push(eth(0x0800, &ip(6, src, [10, 1, 2, 3], &tcp)));
        let mut udp = vec![0u8; 8];
        udp[0..2].copy_from_slice(&5353u16.to_be_bytes());
        udp[2..4].copy_from_slice(&[53u16, 123, 5353, 9][i as usize % 4].to_be_bytes());
        udp.extend_from_slice(&[0; 40]);
        v.push(eth(
            0x0800,
            &ip(17, [192, 168, 1, (i % 250) as u8], [10, 1, 2, 3], &udp),
        ));
        if i % 4 == 0 {
            let mut tagged = vec![0, 5, 0x08, 0x00];
            tagged.extend_from_slice(&ip(6, src, [10, 9, 9, 9], &tcp));
            v.push(eth(0x8100, &tagged));
            v.push(eth(
                0x0806,
                &[
                    0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
                ],
            ));
            let mut v6 = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
            v6.extend_from_slice(&[0xfe; 32]);
            v6.extend_from_slice(&tcp[..20]);
            v.push(eth(0x86dd, &v6));
        }
    }
    v
}

/// libpcap's interpreter, if the library is on this machine.
type PcapFilter = unsafe extern "C" fn(*const CInsn, *const u8, u32, u32) -> u32;

fn libpcap_filter() -> Option<PcapFilter> {
    for name in [c"libpcap.so.0.8", c"libpcap.so.1", c"libpcap.so"] {
        // SAFETY: dlopen/dlsym with valid C strings; the symbol is libpcap's
        // `u_int bpf_filter(const struct bpf_insn *, const u_char *, u_int, u_int)`.
        unsafe {
            let h = libc::dlopen(name.as_ptr(), libc::RTLD_NOW);
            if h.is_null() {
                continue;
            }
            let f = libc::dlsym(h, c"bpf_filter".as_ptr());
            if !f.is_null() {
                return Some(std::mem::transmute::<*mut libc::c_void, PcapFilter>(f));
            }
        }
    }
    None
}

/// `struct bpf_insn` as C lays it out.
#[repr(C)]
#[derive(Clone, Copy)]
struct CInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

fn filter_cost() {
    let frames = corpus();
    let pcap = libpcap_filter();
    if pcap.is_none() {
        println!("(libpcap not found: pktbox figures only)");
    }
    let rounds = 2000;
    let n = (frames.len() * rounds) as f64;
    println!(
        "{:<44} {:>6} {:>10} {:>10} {:>7}",
        "expression", "insns", "pktbox ns", "libpcap ns", "ratio"
    );
    for expr in [
        "ip",
        "tcp port 80",
        "host 10.1.2.3 and udp",
        "tcp[tcpflags] & tcp-syn != 0",
        "vlan and tcp",
        "net 10.0.0.0/16 and not port 22",
        "ip6 or arp",
    ] {
        let insns = prog(expr);
        let p = BpfProgram::new(insns.clone()).expect("valid");
        let c: Vec<CInsn> = insns
            .iter()
            .map(|i| CInsn {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let ours = || {
            let mut kept = 0u64;
            let t = Instant::now();
            for _ in 0..rounds {
                for f in &frames {
                    kept += u64::from(black_box(&p).filter(black_box(f), f.len() as u32) != 0);
                }
            }
            (t.elapsed().as_nanos() as f64 / n, kept)
        };
        let theirs = |bf: PcapFilter| {
            let mut kept = 0u64;
            let t = Instant::now();
            for _ in 0..rounds {
                for f in &frames {
                    // SAFETY: a valid program and a frame of the length given.
                    let r = unsafe { bf(c.as_ptr(), black_box(f.as_ptr()), f.len() as u32, f.len() as u32) };
                    kept += u64::from(r != 0);
                }
            }
            (t.elapsed().as_nanos() as f64 / n, kept)
        };
        // Alternate the two, five times each, and keep each one's best: the machine is
        // shared, and the best run is the least disturbed.
        let (mut best_ours, mut best_theirs) = (f64::MAX, f64::MAX);
        for _ in 0..5 {
            let (t, kept) = ours();
            best_ours = best_ours.min(t);
            if let Some(bf) = pcap {
                let (t2, kept2) = theirs(bf);
                assert_eq!(kept, kept2, "{expr}: pktbox and libpcap disagree");
                best_theirs = best_theirs.min(t2);
            }
        }
        match pcap {
            Some(_) => println!(
                "{expr:<44} {:>6} {best_ours:>10.1} {best_theirs:>10.1} {:>7.2}",
                insns.len(),
                best_ours / best_theirs
            ),
            None => println!("{expr:<44} {:>6} {best_ours:>10.1}", insns.len()),
        }
    }
}

fn main() {
    println!("== filter evaluation cost per packet ({} frames)", corpus().len());
    filter_cost();
}
