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

use pktbox_tests::bench_bin;
use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use pktbox_stack::wire::bpf::BpfProgram;

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
        let insns = pktbox_tests::compiled_filter(&bench_bin(), expr);
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

/// A process started in the background and interrupted (SIGINT) at the end.
struct Bg(std::process::Child);

impl Bg {
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let mut err = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let _ = self.0.wait();
        err
    }
}

fn started(mut cmd: Command) -> Bg {
    let mut c = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    // Both tcpdumps say "listening on" once their capture is in place.
    let mut e = std::io::BufReader::new(c.stderr.take().expect("stderr"));
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut e, &mut line).unwrap_or(0) > 0 && !line.contains("listening on") {
        line.clear();
    }
    c.stderr = Some(std::process::ChildStderr::from(std::os::fd::OwnedFd::from(
        e.into_inner(),
    )));
    Bg(c)
}

fn counts(err: &str) -> (u64, u64) {
    let n = |what: &str| {
        err.lines()
            .find(|l| l.ends_with(what))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (n("packets captured"), n("packets dropped by kernel"))
}

/// UDP datagrams at `rate` a second for one second, from inside namespace `ns`; returns
/// how many were sent and the rate reached.
fn blast(ns: &str, dst: &str, rate: u64) -> (u64, f64) {
    let ns = ns.to_string();
    let dst = dst.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns");
        // SAFETY: setns on this thread only, with a namespace descriptor we hold open.
        let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns");
        let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
        let payload = [0x5au8; 18];
        let t = Instant::now();
        let mut sent = 0u64;
        while t.elapsed() < std::time::Duration::from_secs(1) {
            let due = (t.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due {
                if s.send_to(&payload, (dst.as_str(), 9)).is_ok() {
                    sent += 1;
                }
            }
        }
        (sent, sent as f64 / t.elapsed().as_secs_f64())
    })
    .join()
    .expect("sender")
}

fn sh(args: &[&str]) {
    let _ = Command::new(args[0]).args(&args[1..]).status();
}

/// The rate a capture keeps up with: pktbox's tcpdump on the stack's interface against
/// Linux's tcpdump on the TAP device, both capturing the same UDP flood at once.
fn capture_rate() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 || !std::path::Path::new("/usr/bin/tcpdump").exists() {
        println!("(needs root and Linux's tcpdump: skipped)");
        return;
    }
    let ns = format!("pktcap{}", std::process::id());
    let prefix = std::env::temp_dir().join(format!("pktbox-capbench-{}", std::process::id()));
    sh(&["ip", "netns", "add", &ns]);
    let st = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(bench_bin())
        .args(["io-pkt-v4", "-ptcpip"])
        .arg(format!("prefix={}", prefix.display()))
        .args(["-d", "tap", "tap=tcb0,host=10.84.0.1/24"])
        .status()
        .expect("io-pkt");
    assert!(st.success());
    let sock = prefix.clone();
    let pk = |args: &[&str]| {
        let mut c = Command::new(bench_bin());
        c.args(args).env("SOCK", &sock);
        c
    };
    let _ = pk(&["ifconfig", "en0", "10.84.0.2/24"]).status();
    let _ = Command::new("ip")
        .args(["netns", "exec", &ns, "ping", "-c", "2", "-q", "10.84.0.2"])
        .stdout(std::process::Stdio::null())
        .status();
    for (mode, args) in [
        ("written (-w /dev/null)", &["-w", "/dev/null"][..]),
        ("printed (-nn > /dev/null)", &["-nn"][..]),
    ] {
        println!("-- {mode}");
        println!(
            "{:>10} {:>10} {:>16} {:>16} {:>10}",
            "asked pps", "sent pps", "pktbox kept", "Linux kept", "stack in"
        );
        for rate in [20_000u64, 50_000, 100_000, 200_000, 400_000] {
            rate_step(&ns, &prefix, &pk, args, rate);
        }
    }
    if let Ok(pid) = std::fs::read_to_string(prefix.join("dev/socket.lock")) {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SAFETY: kill(2) on the stack we started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    sh(&["ip", "netns", "del", &ns]);
}

/// One rate: both captures started, one second of datagrams, both stopped; one line.
fn rate_step(ns: &str, prefix: &std::path::Path, pk: &dyn Fn(&[&str]) -> Command, args: &[&str], rate: u64) {
    let before: u64 = ipackets(prefix);
    let mut a = vec!["tcpdump", "-i", "en0", "-p"];
    a.extend_from_slice(args);
    a.push("udp port 9");
    let ours = started(pk(&a));
    let mut lc = Command::new("ip");
    lc.args(["netns", "exec", ns, "tcpdump", "-i", "tcb0", "-p"])
        .args(args)
        .arg("udp port 9");
    let theirs = started(lc);
    let (sent, pps) = blast(ns, "10.84.0.2", rate);
    // Longer than either side's read timeout, so what was captured has been handed over.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (oc, od) = counts(&ours.stop());
    let (lc, ld) = counts(&theirs.stop());
    let arrived = ipackets(prefix).saturating_sub(before);
    println!(
        "{rate:>10} {pps:>10.0} {:>9.1}% d{od:<5} {:>9.1}% d{ld:<5} {:>9.1}%",
        100.0 * oc as f64 / sent as f64,
        100.0 * lc as f64 / sent as f64,
        100.0 * arrived.min(sent) as f64 / sent as f64
    );
}

/// en0's ipackets, from `ifconfig --json`.
fn ipackets(prefix: &std::path::Path) -> u64 {
    let o = Command::new(bench_bin())
        .args(["ifconfig", "--json", "en0"])
        .env("SOCK", prefix)
        .output()
        .expect("ifconfig");
    let s = String::from_utf8_lossy(&o.stdout);
    s.split("\"ipackets\":")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).find(|x| !x.is_empty()))
        .and_then(|x| x.parse().ok())
        .unwrap_or(0)
}

fn main() {
    println!("== filter evaluation cost per packet ({} frames)", corpus().len());
    filter_cost();
    println!("== capture of a UDP flood into a stack over TAP: share of the datagrams sent that each capture kept");
    capture_rate();
}
