//! Idle CPU of a stack holding 0, 10,000 and 100,000 established connections: what its
//! timers cost when nothing happens. The peer is this program, speaking Ethernet frames
//! on the stack's `udp` wire: it answers ARP and completes TCP handshakes with the
//! stack's listeners, whose accept queues then hold the established connections (so no
//! descriptor is needed per connection on either side).
//!
//! The CPU is the stack process's run time over a quiet window, summed over its threads
//! from /proc/PID/task/*/schedstat (nanoseconds), as a per cent of one core. The baseline
//! is an earlier build named by `PKTBOX_BASELINE_BIN` (say, the commit before the callout
//! wheel), measured in the same run; without it only this build is measured.
//!
//! Run: `cargo build --release && cargo bench -p pktbox-tests --bench idle`

use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pktbox_stack::inet::tcp::output::tcp_cksum;
use pktbox_stack::socket::{Stack, TcpListener};
use pktbox_stack::wire::ipv4::{write_header, IPPROTO_TCP};
use pktbox_tests::{arp_frame, bench_bin, ether_frame, parse_ether, Arp};

const STACK_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0a, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0a, 0x02];
const STACK_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
/// Client ports per listener.
const PER_PORT: usize = 60_000;

/// The stack's run time so far, in nanoseconds, over all its threads.
fn run_ns(pid: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A TCP segment from the peer to the stack, as an Ethernet frame.
fn segment(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    let c = tcp_cksum(PEER_IP.into(), STACK_IP.into(), &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0u8; 20];
    write_header(&mut ip, 0, 40, 1, 0, 64, IPPROTO_TCP, PEER_IP, STACK_IP);
    ip.extend_from_slice(&t);
    ether_frame(STACK_MAC, PEER_MAC, 0x0800, &ip)
}

/// Connection `i`'s client port and the listener's port.
fn ports(i: usize) -> (u16, u16) {
    ((1024 + i % PER_PORT) as u16, (5001 + i / PER_PORT) as u16)
}

/// Completes `n` handshakes with the stack's listeners over the wire `w`.
fn handshakes(w: &UdpSocket, n: usize) {
    // 0: no SYN yet; 1: SYN sent; 2: established.
    let mut state = vec![0u8; n];
    let mut sent_at = vec![Instant::now(); n];
    let (mut next, mut done, mut out) = (0usize, 0usize, 0usize);
    let mut buf = vec![0u8; 2048];
    let start = Instant::now();
    while done < n {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{done} of {n} handshakes done"
        );
        while out < 256 && next < n {
            let (sp, dp) = ports(next);
            let _ = w.send(&segment(sp, dp, next as u32 * 1000, 0, 0x02));
            state[next] = 1;
            sent_at[next] = Instant::now();
            (next, out) = (next + 1, out + 1);
        }
        let Ok(len) = w.recv(&mut buf) else {
            // Quiet: send again the SYNs that were not answered.
            for i in 0..next {
                if state[i] != 1 || sent_at[i].elapsed() < Duration::from_secs(1) {
                    continue;
                }
                let (sp, dp) = ports(i);
                let _ = w.send(&segment(sp, dp, i as u32 * 1000, 0, 0x02));
                sent_at[i] = Instant::now();
            }
            continue;
        };
        let Ok(f) = parse_ether(&buf[..len]) else { continue };
        if f.ethertype == 0x0806 {
            if let Ok(a) = Arp::parse(&f.payload) {
                if a.op == 1 && a.tpa == PEER_IP {
                    let reply = Arp {
                        op: 2,
                        sha: PEER_MAC,
                        spa: PEER_IP,
                        tha: a.sha,
                        tpa: a.spa,
                    };
                    let _ = w.send(&arp_frame(a.sha, &reply));
                }
            }
            continue;
        }
        let p = &f.payload;
        if f.ethertype != 0x0800 || p.len() < 40 || p[9] != IPPROTO_TCP {
            continue;
        }
        let t = &p[usize::from(p[0] & 15) * 4..];
        if t.len() < 20 || t[13] & 0x12 != 0x12 {
            continue;
        }
        let sport = u16::from_be_bytes([t[0], t[1]]);
        let dport = u16::from_be_bytes([t[2], t[3]]);
        let iss = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
        let i = usize::from(sport.wrapping_sub(5001)) * PER_PORT + usize::from(dport.wrapping_sub(1024));
        if i >= n {
            continue;
        }
        let _ = w.send(&segment(dport, sport, i as u32 * 1000 + 1, iss.wrapping_add(1), 0x10));
        if state[i] == 1 {
            state[i] = 2;
            done += 1;
            out -= 1;
        }
    }
}

/// Starts `bin`'s stack, makes `conns` established connections in it, lets it settle,
/// and returns its CPU use over `window` as a per cent of one core, and its VmRSS in KiB.
fn idle_cpu(bin: &Path, conns: usize, window: Duration) -> (f64, u64) {
    let prefix = std::env::temp_dir().join(format!("pktbox-idle-{}-{conns}", std::process::id()));
    let wire = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let theirs = UdpSocket::bind("127.0.0.1:0").expect("udp").local_addr().expect("addr");
    let ours = wire.local_addr().expect("addr");
    let st = Command::new(bin)
        .args(["io-pkt-v4", "-ptcpip"])
        .arg(format!("prefix={}", prefix.display()))
        .args(["-d", "udp"])
        .arg(format!("local={theirs},remote={ours},mac=020000000a01"))
        .status()
        .expect("io-pkt");
    assert!(st.success());
    wire.connect(theirs).expect("connect the wire");
    wire.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let pid = std::fs::read_to_string(prefix.join("dev/socket.lock")).unwrap_or_default();
    let pid = pid.trim().to_string();
    let ifc = Command::new(bin)
        .args(["ifconfig", "en0", "10.9.0.1/16", "up"])
        .env("SOCK", &prefix)
        .status()
        .expect("ifconfig");
    assert!(ifc.success());
    let mut ctl = Stack::open_at(&prefix).expect("stack");
    ctl.sysctl_set("kern.somaxconn", "65535").expect("somaxconn");
    let listeners: Vec<TcpListener> = (0..conns.div_ceil(PER_PORT))
        .map(|k| TcpListener::bind_at(&prefix, format!("0.0.0.0:{}", 5001 + k), 65535).expect("listen"))
        .collect();
    let t = Instant::now();
    handshakes(&wire, conns);
    let setup = t.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let (a, t0) = (run_ns(&pid), Instant::now());
    std::thread::sleep(window);
    let (b, dt) = (run_ns(&pid), t0.elapsed());
    let cpu = b.saturating_sub(a) as f64 / dt.as_nanos() as f64 * 100.0;
    let rss = pktbox_tests::hostile::vm_rss_kib(pid.parse().unwrap_or(0)).unwrap_or(0);
    eprintln!(
        "  {}: {conns} connections set up in {:.1} s",
        bin.display(),
        setup.as_secs_f64()
    );
    drop(listeners);
    let _ = Command::new("kill").arg(&pid).status();
    std::thread::sleep(Duration::from_millis(500));
    let _ = std::fs::remove_dir_all(&prefix);
    (cpu, rss)
}

fn main() {
    let this = bench_bin();
    let base: Option<PathBuf> = std::env::var_os("PKTBOX_BASELINE_BIN").map(PathBuf::from);
    let window = Duration::from_secs(5);
    for conns in [0usize, 10_000, 100_000] {
        let (ours, rss) = idle_cpu(&this, conns, window);
        match &base {
            Some(b) => {
                let (theirs, _) = idle_cpu(b, conns, window);
                println!(
                    "idle CPU with {conns} established connections: {ours:.2}% of one core (VmRSS {rss} KiB); baseline {theirs:.2}%"
                );
            }
            None => println!("idle CPU with {conns} established connections: {ours:.2}% of one core (VmRSS {rss} KiB)"),
        }
    }
}
