//! TCP over IPv6 against TCP over IPv4, through a TAP to Linux's kernel in a namespace of
//! the bench's own, both directions, in the same run and on the same stack (io-pkt-v6-hc,
//! both families on one interface, offloads as the interface has them: TSO4/TSO6 and
//! checksum offload on). Each direction is measured v4, v6, v4, v6 and the better run of
//! each family is kept, so a burst of load from elsewhere on the machine hurts both alike.
//!
//! Run (as root, with /dev/net/tun):
//! `cargo build --release && cargo bench -p pktbox-tests --bench tcp6`
//! (`TCP6_BENCH_MIB=N` moves N MiB per run instead of 512.)

use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pktbox_stack::socket::{TcpListener, TcpStream};
use pktbox_tests::*;

/// The stack sends `total` bytes to Linux's `nc -l`; Gbit/s from connect to nc's exit.
fn stack_to_linux(ns: &str, st: &StackProc, addr: &str, port: u16, total: usize) -> f64 {
    let fam = if addr.contains(':') { "-6" } else { "-4" };
    let mut rx = Command::new("ip")
        .args(["netns", "exec", ns, "nc", fam, "-l", addr, &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("Linux nc -l");
    let to = if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    };
    let mut c = wait_for("Linux's nc listening", || {
        TcpStream::connect_at(st.prefix(), to.as_str(), Some(Duration::from_secs(5))).ok()
    });
    let t = Instant::now();
    let buf = vec![0x5au8; 256 << 10];
    let mut left = total;
    while left > 0 {
        let n = left.min(buf.len());
        c.write_all(&buf[..n]).expect("write");
        left -= n;
    }
    c.shutdown(Shutdown::Write).expect("shutdown");
    drop(c);
    let s = rx.wait().expect("nc");
    assert!(s.success(), "Linux nc: {s}");
    total as f64 * 8.0 / t.elapsed().as_secs_f64() / 1e9
}

/// Linux's nc sends `total` zeros to our listener; Gbit/s from nc's start to our end of
/// stream.
fn linux_to_stack(ns: &str, st: &StackProc, addr: &str, port: u16, total: usize) -> f64 {
    let v6 = addr.contains(':');
    let bind = if v6 {
        format!("[::]:{port}")
    } else {
        format!("0.0.0.0:{port}")
    };
    let l = TcpListener::bind_at(st.prefix(), bind.as_str(), 4).expect("listen");
    let fam = if v6 { "-6" } else { "-4" };
    let t = Instant::now();
    let mut tx = Command::new("ip")
        .args(["netns", "exec", ns, "bash", "-c"])
        .arg(format!("head -c {total} /dev/zero | nc {fam} -N {addr} {port}"))
        .spawn()
        .expect("Linux nc");
    l.set_accept_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let (mut s, _) = l.accept().expect("accept");
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0;
    loop {
        let n = s.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        got += n;
    }
    let secs = t.elapsed().as_secs_f64();
    drop(s);
    assert!(tx.wait().expect("nc").success());
    assert_eq!(got, total, "bytes received");
    total as f64 * 8.0 / secs / 1e9
}

fn main() {
    if !is_root() || !std::path::Path::new("/dev/net/tun").exists() {
        println!("tcp6 bench: needs root and /dev/net/tun; skipped");
        return;
    }
    // The stack the bench starts is the release build when there is one.
    std::env::set_var("PKTBOX_BIN", bench_bin());
    let mib: usize = std::env::var("TCP6_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let total = mib << 20;
    let ns = NetNs::new();
    let (st, _child) = start_variant_in_netns(&ns, "io-pkt-v6-hc", "tap", "tap=tap0,host=10.98.0.1/24");
    run(
        "ip",
        [
            "netns",
            "exec",
            &ns.name,
            "ip",
            "-6",
            "addr",
            "add",
            "2001:db8:98::1/64",
            "dev",
            "tap0",
            "nodad",
        ],
    )
    .ok();
    st.ok("ifconfig", &["en0", "10.98.0.2/24"]);
    st.ok("ifconfig", &["en0", "inet6", "2001:db8:98::2", "prefixlen", "64"]);
    wait_for("2001:db8:98::2 to pass DAD", || {
        let t = st.ok("ifconfig", &["en0"]);
        t.lines()
            .any(|l| l.contains("inet6 2001:db8:98::2 ") && !l.contains("tentative"))
            .then_some(())
    });
    println!(
        "capabilities: {}",
        st.ok("ifconfig", &["en0"])
            .lines()
            .find(|l| l.contains("enabled="))
            .unwrap_or("")
            .trim()
    );
    let mut port = 9100;
    let mut next = || {
        port += 1;
        port
    };
    let (mut out4, mut out6, mut in4, mut in6) = (0f64, 0f64, 0f64, 0f64);
    for _ in 0..2 {
        out4 = out4.max(stack_to_linux(&ns.name, &st, "10.98.0.1", next(), total));
        out6 = out6.max(stack_to_linux(&ns.name, &st, "2001:db8:98::1", next(), total));
        in4 = in4.max(linux_to_stack(&ns.name, &st, "10.98.0.2", next(), total));
        in6 = in6.max(linux_to_stack(&ns.name, &st, "2001:db8:98::2", next(), total));
    }
    println!(
        "stack -> Linux over the TAP, {mib} MiB: IPv6 {out6:.2} Gbit/s; IPv4 {out4:.2} Gbit/s; ratio {:.3}",
        out6 / out4
    );
    println!(
        "Linux -> stack over the TAP, {mib} MiB: IPv6 {in6:.2} Gbit/s; IPv4 {in4:.2} Gbit/s; ratio {:.3}",
        in6 / in4
    );
    let j = st.if_json("en0");
    println!("en0 offload counters: {}", j["offload"]);
    // What the offloads buy IPv6: the same without TSO6 and v6 checksum offload (IPv4
    // keeps its own), against the IPv4 figures above.
    st.ok("ifconfig", &["en0", "-tso6", "-tcp6csum", "-udp6csum"]);
    let (mut soft_out, mut soft_in) = (0f64, 0f64);
    for _ in 0..2 {
        soft_out = soft_out.max(stack_to_linux(&ns.name, &st, "2001:db8:98::1", next(), total));
        soft_in = soft_in.max(linux_to_stack(&ns.name, &st, "2001:db8:98::2", next(), total));
    }
    println!(
        "without TSO6 and v6 checksum offload: stack -> Linux IPv6 {soft_out:.2} Gbit/s (ratio to IPv4 {:.3}); Linux -> stack IPv6 {soft_in:.2} Gbit/s (ratio {:.3})",
        soft_out / out4,
        soft_in / in4
    );
}
