//! TCP benchmarks inside one stack, each against a baseline taken in the same run:
//! a stream between two sockets of one stack (against the same stream through the
//! kernel's loopback, std::net), connection set-ups per second (against the kernel's
//! loopback), and the stack's memory per established connection.
//!
//! Run: `cargo build --release && cargo bench -p pktbox-tests --bench tcp`

use pktbox_tests::bench_bin;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use pktbox_stack::socket::{TcpListener, TcpStream};

const TOTAL: usize = 256 << 20;

fn stream<S: Write + Send + 'static, R: Read>(mut tx: S, mut rx: R) -> f64 {
    let t = Instant::now();
    let w = std::thread::spawn(move || {
        let buf = vec![0x5au8; 65536];
        let mut left = TOTAL;
        while left > 0 {
            let n = left.min(buf.len());
            tx.write_all(&buf[..n]).expect("write");
            left -= n;
        }
    });
    let mut buf = vec![0u8; 65536];
    let mut got = 0;
    while got < TOTAL {
        let n = rx.read(&mut buf).expect("read");
        assert!(n > 0, "early end of stream");
        got += n;
    }
    w.join().expect("writer");
    (TOTAL as f64 * 8.0) / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let bin = bench_bin();
    let prefix = std::env::temp_dir().join(format!("pktbox-tcpbench-{}", std::process::id()));
    let st = Command::new(&bin)
        .args(["io-pkt-v4", "-ptcpip"])
        .arg(format!("prefix={},threads_max=4000", prefix.display()))
        .status()
        .expect("io-pkt");
    assert!(st.success());
    let pid = std::fs::read_to_string(prefix.join("dev/socket.lock")).unwrap_or_default();
    let pid = pid.trim().to_string();

    // A stream between two sockets of the stack, through lo0.
    let l = TcpListener::bind_at(&prefix, "127.0.0.1:9000", 16).expect("listen");
    let c = TcpStream::connect_at(&prefix, "127.0.0.1:9000", Some(Duration::from_secs(5))).expect("connect");
    let (s, _) = l.accept().expect("accept");
    let ours = stream(c, s);
    let kl = std::net::TcpListener::bind("127.0.0.1:0").expect("kernel listen");
    let kc = std::net::TcpStream::connect(kl.local_addr().expect("addr")).expect("kernel connect");
    let (ks, _) = kl.accept().expect("kernel accept");
    let kernel = stream(kc, ks);
    println!(
        "stream between two sockets of one stack: {ours:.2} Gbit/s; kernel loopback: {kernel:.2} Gbit/s; ratio {:.3}",
        ours / kernel
    );

    // Connection set-ups per second (connect, accept, close).
    let n = 300;
    let l2 = TcpListener::bind_at(&prefix, "127.0.0.1:9001", 128).expect("listen");
    let acc = std::thread::spawn(move || {
        for _ in 0..n {
            drop(l2.accept().expect("accept"));
        }
    });
    let t = Instant::now();
    for _ in 0..n {
        drop(TcpStream::connect_at(&prefix, "127.0.0.1:9001", Some(Duration::from_secs(5))).expect("connect"));
    }
    acc.join().expect("acceptor");
    let ours = f64::from(n) / t.elapsed().as_secs_f64();
    let kl = std::net::TcpListener::bind("127.0.0.1:0").expect("kernel listen");
    let ka = kl.local_addr().expect("addr");
    let acc = std::thread::spawn(move || {
        for _ in 0..n {
            drop(kl.accept().expect("accept"));
        }
    });
    let t = Instant::now();
    for _ in 0..n {
        drop(std::net::TcpStream::connect(ka).expect("connect"));
    }
    acc.join().expect("acceptor");
    let kernel = f64::from(n) / t.elapsed().as_secs_f64();
    println!(
        "connection set-ups: {ours:.0}/s; kernel loopback: {kernel:.0}/s; ratio {:.3}",
        ours / kernel
    );

    // Memory per established connection: the stack's RSS before and after 200 of them
    // (each is two sockets of the stack, client and server, and their two channels).
    std::thread::sleep(Duration::from_millis(500));
    let before = pktbox_tests::hostile::vm_rss_kib(pid.parse().unwrap_or(0)).unwrap_or(0);
    let l3 = TcpListener::bind_at(&prefix, "127.0.0.1:9002", 128).expect("listen");
    let mut keep = Vec::new();
    for _ in 0..200 {
        let c = TcpStream::connect_at(&prefix, "127.0.0.1:9002", Some(Duration::from_secs(5))).expect("connect");
        let (s, _) = l3.accept().expect("accept");
        keep.push((c, s));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = pktbox_tests::hostile::vm_rss_kib(pid.parse().unwrap_or(0)).unwrap_or(0);
    println!(
        "memory per established connection (both ends in the stack): {:.1} KiB",
        (after.saturating_sub(before)) as f64 / 400.0
    );
    drop(keep);
    let _ = Command::new("kill").arg(&pid).status();
    std::thread::sleep(Duration::from_millis(500));
    let _ = std::fs::remove_dir_all(&prefix);
}
