//! Idle CPU of a stack holding 0, 10,000 and 100,000 established connections: what its
//! timers cost when nothing happens. Each connection pair has both ends in the stack
//! (a client socket connected through lo0, and the server end left in a listener's accept
//! queue), so N connections are N/2 client sockets held open by this process.
//!
//! The CPU is the stack process's run time over a quiet window, summed over its threads
//! from /proc/PID/task/*/schedstat (nanoseconds), as a per cent of one core. The baseline
//! is an earlier build named by `PKTBOX_BASELINE_BIN` (say, the commit before the callout
//! wheel), measured in the same run; without it only this build is measured.
//!
//! Run: `cargo build --release && cargo bench -p pktbox-tests --bench idle`
//! (root, or a nofile limit of at least 120,000: each client socket is a descriptor in this
//! process and in the stack).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pktbox_stack::socket::{Stack, TcpListener, TcpStream};
use pktbox_tests::bench_bin;

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

fn raise_nofile(n: u64) {
    let want = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: setrlimit with a valid structure; failure leaves the limit as it was.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
        eprintln!(
            "cannot raise the descriptor limit to {n}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Starts `bin`'s stack, makes `conns` established connections in it (conns/2 pairs over
/// lo0), waits for it to settle, and returns its CPU use over `window` as a per cent of
/// one core.
fn idle_cpu(bin: &Path, conns: usize, window: Duration) -> f64 {
    let prefix = std::env::temp_dir().join(format!("pktbox-idle-{}-{conns}", std::process::id()));
    let st = Command::new(bin)
        .args(["io-pkt-v4", "-ptcpip"])
        .arg(format!("prefix={}", prefix.display()))
        .status()
        .expect("io-pkt");
    assert!(st.success());
    let pid = std::fs::read_to_string(prefix.join("dev/socket.lock")).unwrap_or_default();
    let pid = pid.trim().to_string();
    let mut ctl = Stack::open_at(&prefix).expect("stack");
    ctl.sysctl_set("kern.somaxconn", "65535").expect("somaxconn");
    ctl.sysctl_set("net.inet.ip.anonportmin", "1024").expect("anonportmin");
    let pairs = conns / 2;
    let l = TcpListener::bind_at(&prefix, "127.0.0.1:9100", 65535).expect("listen");
    let t = Instant::now();
    let mut held = Vec::with_capacity(pairs);
    for i in 0..pairs {
        match TcpStream::connect_at(&prefix, "127.0.0.1:9100", Some(Duration::from_secs(10))) {
            Ok(c) => held.push(c),
            Err(e) => panic!("connection {i} of {pairs}: {e}"),
        }
    }
    let setup = t.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let (a, t0) = (run_ns(&pid), Instant::now());
    std::thread::sleep(window);
    let (b, dt) = (run_ns(&pid), t0.elapsed());
    let cpu = (b - a) as f64 / dt.as_nanos() as f64 * 100.0;
    eprintln!("  {conns} connections set up in {:.1} s", setup.as_secs_f64());
    drop(held);
    drop(l);
    let _ = Command::new("kill").arg(&pid).status();
    std::thread::sleep(Duration::from_millis(500));
    let _ = std::fs::remove_dir_all(&prefix);
    cpu
}

fn main() {
    raise_nofile(400_000);
    let this = bench_bin();
    let base: Option<PathBuf> = std::env::var_os("PKTBOX_BASELINE_BIN").map(PathBuf::from);
    let window = Duration::from_secs(5);
    for conns in [0usize, 10_000, 100_000] {
        let ours = idle_cpu(&this, conns, window);
        match &base {
            Some(b) => {
                let theirs = idle_cpu(b, conns, window);
                println!(
                    "idle CPU with {conns} established connections: {ours:.2}% of one core; baseline {theirs:.2}%; ratio {:.3}",
                    ours / theirs.max(1e-9)
                );
            }
            None => println!("idle CPU with {conns} established connections: {ours:.2}% of one core"),
        }
    }
}
