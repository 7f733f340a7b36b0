//! Channel benchmarks against a real stack process: time from starting io-pkt to its
//! first answer, and round trips per second of a no-op request (a sysctl read) from one
//! client, each with a baseline taken in the same run: spawning the same binary for
//! `--version` (what any process start costs), and a bare SOCK_SEQPACKET ping-pong between
//! two threads (what the transport alone costs).
//!
//! Run: `cargo build --release && cargo bench -p pktbox-tests --bench channel`

use pktbox_tests::bench_bin;
use std::process::Command;
use std::time::{Duration, Instant};

use pktbox_stack::msg::wire::{Received, SeqPacket};
use pktbox_stack::socket::Stack;

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
    let runs = 20;

    // Start-up: io-pkt returns once the channel answers.
    let t = Instant::now();
    for _ in 0..runs {
        let ok = Command::new(&bin).arg("--version").output().map(|o| o.status.success());
        assert!(matches!(ok, Ok(true)));
    }
    let spawn = t.elapsed() / runs;
    let mut total = Duration::ZERO;
    for i in 0..runs {
        let prefix = base.join(format!("s{i}"));
        let t = Instant::now();
        let st = Command::new(&bin)
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
    let st = Command::new(&bin)
        .args(["io-pkt-v4", "-ptcpip"])
        .arg(format!("prefix={}", prefix.display()))
        .status()
        .expect("io-pkt");
    assert!(st.success());
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
    let _ = std::fs::remove_dir_all(&base);
}
