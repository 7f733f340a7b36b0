//! Channel benchmarks against a real stack process: time from starting io-pkt to its
//! first answer, and round trips per second of a no-op request (a sysctl read) from one
//! client, each with a baseline taken in the same run: spawning the same binary for
//! `--version` (what any process start costs), and a bare SOCK_SEQPACKET ping-pong between
//! two threads (what the transport alone costs). Then the latency of `ifconfig -a` (the
//! whole command, p50 and p99) alone and while 300 hostile clients abuse the channel (see
//! `pktbox_tests::hostile`), in the same run, as a ratio.
//!
//! Run: `cargo build --release && cargo bench -p pktbox-tests --bench channel`

use pktbox_tests::bench_bin;
use pktbox_tests::hostile::{percentile, Hostile};
use std::process::Command;
use std::time::{Duration, Instant};

use pktbox_stack::msg::wire::{Received, SeqPacket};
use pktbox_stack::socket::Stack;

/// Starts a stack with no interface at `prefix`.
fn start_stack(bin: &std::path::Path, prefix: &std::path::Path) {
    let st = Command::new(bin)
        .args(["io-pkt-v4", "-ptcpip"])
        .arg(format!("prefix={}", prefix.display()))
        .status()
        .expect("io-pkt");
    assert!(st.success());
}

fn stop(prefix: &std::path::Path) {
    if let Ok(pid) = std::fs::read_to_string(prefix.join("dev/socket.lock")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = std::fs::remove_dir_all(prefix);
}

fn main() {
    let bin = bench_bin();
    let base = std::env::temp_dir().join(format!("pktbox-bench-{}", std::process::id()));
    // `cargo bench --bench channel -- abuse` runs the last part only, `-- transport` the
    // first.
    let only = |w: &str| std::env::args().any(|a| a == w);
    if !only("abuse") {
        transport(&bin, &base);
    }
    if !only("transport") {
        abuse(&bin, &base);
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// Start-up and round trips, each against its baseline.
fn transport(bin: &std::path::Path, base: &std::path::Path) {
    let runs = 20;

    // Start-up: io-pkt returns once the channel answers.
    let t = Instant::now();
    for _ in 0..runs {
        let ok = Command::new(bin).arg("--version").output().map(|o| o.status.success());
        assert!(matches!(ok, Ok(true)));
    }
    let spawn = t.elapsed() / runs;
    let mut total = Duration::ZERO;
    for i in 0..runs {
        let prefix = base.join(format!("s{i}"));
        let t = Instant::now();
        let st = Command::new(bin)
            .args(["io-pkt-v4", "-ptcpip"])
            .arg(format!("prefix={}", prefix.display()))
            .args(["-d", "hub"])
            .arg(format!("path={}", base.join("hub").display()))
            .status()
            .expect("io-pkt");
        total += t.elapsed();
        assert!(st.success());
        stop(&prefix);
    }
    let start = total / runs;
    println!(
        "start to first answer: {:.2} ms; baseline process spawn: {:.2} ms; ratio {:.1}",
        start.as_secs_f64() * 1e3,
        spawn.as_secs_f64() * 1e3,
        start.as_secs_f64() / spawn.as_secs_f64()
    );

    // Round trips of a sysctl read.
    let prefix = base.join("rtt");
    start_stack(bin, &prefix);
    let mut s = Stack::open_at(&prefix).expect("open");
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        s.sysctl_get("net.inet.ip.ttl").expect("sysctl");
    }
    let rps = f64::from(n) / t.elapsed().as_secs_f64();
    stop(&prefix);

    let (a, b) = SeqPacket::pair().expect("pair");
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(Received::Msg(k)) = b.recv(&mut buf) {
            if b.send(&buf[..k]).is_err() {
                break;
            }
        }
    });
    let msg = [0u8; 64];
    let mut buf = [0u8; 256];
    let t = Instant::now();
    for _ in 0..n {
        a.send(&msg).expect("send");
        a.recv(&mut buf).expect("recv");
    }
    let base_rps = f64::from(n) / t.elapsed().as_secs_f64();
    a.shutdown();
    let _ = echo.join();
    println!(
        "sysctl get round trips: {:.0}/s; baseline bare SEQPACKET ping-pong: {:.0}/s; ratio {:.2}",
        rps,
        base_rps,
        rps / base_rps
    );
}

/// ifconfig -a, alone and under abuse.
fn abuse(bin: &std::path::Path, base: &std::path::Path) {
    let prefix = base.join("abuse");
    start_stack(bin, &prefix);
    let runs = 300;
    let ifconfig = |n: usize| -> Vec<Duration> {
        let mut v: Vec<Duration> = (0..n)
            .map(|_| {
                let t = Instant::now();
                let o = Command::new(bin)
                    .args(["ifconfig", "-a"])
                    .env("SOCK", &prefix)
                    .output()
                    .expect("ifconfig -a");
                assert!(o.status.success());
                t.elapsed()
            })
            .collect();
        v.sort();
        v
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let alone = ifconfig(runs);
    let hostile = Hostile::start(&prefix.join("dev/socket"), 300);
    assert!(hostile.wait_saturated(Duration::from_secs(120)));
    let abused = ifconfig(runs);
    drop(hostile.stop());
    stop(&prefix);
    let (a50, a99) = (percentile(&alone, 50), percentile(&alone, 99));
    let (b50, b99) = (percentile(&abused, 50), percentile(&abused, 99));
    println!(
        "ifconfig -a alone: p50 {:.2} ms, p99 {:.2} ms; under 300 hostile clients: p50 {:.2} ms, p99 {:.2} ms; ratio p50 {:.2}, p99 {:.2}",
        ms(a50),
        ms(a99),
        ms(b50),
        ms(b99),
        ms(b50) / ms(a50),
        ms(b99) / ms(a99)
    );
}
