//! tcpdump on a running stack, with Linux as the peer over TAP and Linux's tcpdump and
//! tshark as the judges: what pktbox captures and writes, they read the same way; what
//! Linux's tcpdump captures, pktbox prints as it does.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use pktbox_tests::*;

fn linux_peer(ns: &NetNs, net: u8) -> (StackProc, ChildGuard) {
    let (st, child) = start_in_netns(ns, "tap", &format!("tap=tap0,host=10.{net}.0.1/24"));
    st.ok("ifconfig", &["en0", &format!("10.{net}.0.2/24")]);
    (st, child)
}

/// A running `pktbox tcpdump ARGS` on the stack, started once it says it is listening.
struct Dump {
    child: ChildGuard,
    err: std::thread::JoinHandle<String>,
}

impl Dump {
    fn start(st: &StackProc, args: &[&str]) -> Dump {
        let mut cmd = Command::new(bin());
        cmd.arg("tcpdump")
            .args(args)
            .env("SOCK", st.prefix())
            .env("TZ", "UTC")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard::spawn(cmd);
        let mut err = BufReader::new(child.child.stderr.take().unwrap());
        let mut first = String::new();
        loop {
            let mut line = String::new();
            if err.read_line(&mut line).unwrap() == 0 {
                panic!("tcpdump {args:?} ended before listening: {first}");
            }
            first += &line;
            if line.contains("listening on") {
                break;
            }
        }
        let err = std::thread::spawn(move || {
            let mut rest = first;
            let _ = std::io::Read::read_to_string(&mut err, &mut rest);
            rest
        });
        Dump { child, err }
    }

    /// SIGINT, as a user's ^C; standard output, standard error and the exit code.
    fn stop(self) -> (String, String, Option<i32>) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.child.id() as i32, libc::SIGINT) };
        let (out, err, code) = self.wait_bytes();
        (String::from_utf8_lossy(&out).into_owned(), err, code)
    }

    fn wait(self) -> (String, String, Option<i32>) {
        let (out, err, code) = self.wait_bytes();
        (String::from_utf8_lossy(&out).into_owned(), err, code)
    }

    fn wait_bytes(mut self) -> (Vec<u8>, String, Option<i32>) {
        let mut out = Vec::new();
        let mut so = self.child.child.stdout.take().unwrap();
        std::io::Read::read_to_end(&mut so, &mut out).unwrap();
        let code = self.child.child.wait().unwrap().code();
        (out, self.err.join().unwrap(), code)
    }
}

/// The three summary lines' numbers: captured, received by filter, dropped by kernel.
fn summary(err: &str) -> (u64, u64, u64) {
    let n = |what: &str| {
        err.lines()
            .find(|l| l.ends_with(what))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no '{what}' in {err}"))
    };
    (
        n("packets captured"),
        n("packets received by filter"),
        n("packets dropped by kernel"),
    )
}

/// Ping and a short TCP exchange from Linux to the stack.
fn traffic(ns: &NetNs, st: &StackProc, net: u8) {
    let dst = format!("10.{net}.0.2");
    run("ip", ["netns", "exec", &ns.name, "ping", "-c", "3", "-i", "0.2", &dst]).ok();
    let server = Command::new(bin())
        .args(["nc", "-l", "7400"])
        .env("SOCK", st.prefix())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let o = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sh", "-c"])
        .arg(format!("printf 'hello, stack\\n' | nc -N {dst} 7400"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let got = server.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&got.stdout), "hello, stack\n");
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.is_empty()).collect()
}

#[test]
fn a_capture_is_read_back_the_same_by_tcpdump_and_tshark() {
    if !can_run_linux(
        "a_capture_is_read_back_the_same_by_tcpdump_and_tshark",
        &["ip", "nc", "ping", "tcpdump"],
    ) {
        return;
    }
    let ns = NetNs::new();
    let (st, _g) = linux_peer(&ns, 81);
    let dir = TempDir::new();
    let file = dir.join("cap.pcap");
    let file_s = file.display().to_string();
    // One capture writes the file; another prints, both on the same packets.
    let writer = Dump::start(&st, &["-i", "en0", "-U", "-w", &file_s, "icmp or tcp"]);
    let printer = Dump::start(&st, &["-i", "en0", "-l", "-nn", "-tt", "icmp or tcp"]);
    traffic(&ns, &st, 81);
    std::thread::sleep(Duration::from_millis(500));
    let (_, werr, wcode) = writer.stop();
    let (printed, perr, pcode) = printer.stop();
    assert_eq!((wcode, pcode), (Some(0), Some(0)), "{werr}\n{perr}");
    let (captured, received, dropped) = summary(&werr);
    // 6 ICMP, and at least the 3-way handshake, the data, its ack and the FINs.
    assert!(captured >= 6 + 7, "{werr}");
    assert!(received >= captured && dropped == 0, "{werr}");
    assert!(werr.starts_with("tcpdump: listening on en0, link-type EN10MB (Ethernet), snapshot length 262144 bytes"));
    // Linux's tcpdump reads the file: as many packets, printed as pktbox printed them live.
    let linux = run("tcpdump", ["-r", &file_s, "-nn", "-tt"]).ok();
    assert_eq!(lines(&linux.stdout).len() as u64, captured);
    assert_eq!(lines(&printed), lines(&linux.stdout), "live print against Linux's -r");
    assert_eq!(summary(&perr).0, captured);
    // pktbox reads its own file the same way Linux does.
    let ours = pktbox(["tcpdump", "-r", &file_s, "-nn", "-tt"], &[]).ok();
    assert_eq!(lines(&ours.stdout), lines(&linux.stdout));
    // tshark decodes the same packets: count, lengths, addresses, TCP flags.
    if have("tshark") {
        let t = run(
            "tshark",
            [
                "-r",
                &file_s,
                "-T",
                "fields",
                "-e",
                "frame.len",
                "-e",
                "ip.src",
                "-e",
                "ip.dst",
                "-e",
                "ip.proto",
                "-e",
                "icmp.type",
                "-e",
                "tcp.flags",
            ],
        )
        .ok();
        let rows = lines(&t.stdout);
        assert_eq!(rows.len() as u64, captured, "{}", t.stdout);
        let icmp: Vec<_> = rows.iter().filter(|r| r.split('\t').nth(3) == Some("1")).collect();
        assert_eq!(icmp.len(), 6, "{}", t.stdout);
        assert!(rows.iter().any(|r| r.ends_with("0x0002")), "a SYN: {}", t.stdout);
        assert!(rows.iter().any(|r| r.ends_with("0x0012")), "a SYN-ACK: {}", t.stdout);
        for r in &rows {
            let f: Vec<&str> = r.split('\t').collect();
            assert!(f[1] == "10.81.0.1" || f[1] == "10.81.0.2", "{r}");
        }
        let shown: Vec<String> = lines(&linux.stdout)
            .iter()
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let host = |s: &str| s.trim_end_matches(':').rsplitn(2, '.').last().unwrap_or("").to_string();
                if l.contains("ICMP") {
                    format!("{} {}", w[2], w[4].trim_end_matches(':'))
                } else {
                    format!("{} {}", host(w[2]), host(w[4]))
                }
            })
            .collect();
        let tshark: Vec<String> = rows
            .iter()
            .map(|r| {
                let f: Vec<&str> = r.split('\t').collect();
                format!("{} {}", f[1], f[2])
            })
            .collect();
        assert_eq!(shown, tshark, "addresses, packet for packet");
    } else {
        skip(
            "a_capture_is_read_back_the_same_by_tcpdump_and_tshark",
            "no tshark installed: the tshark cross-check",
        );
    }
}

#[test]
fn linux_captures_print_the_same_through_pktbox() {
    if !can_run_linux(
        "linux_captures_print_the_same_through_pktbox",
        &["ip", "nc", "ping", "tcpdump"],
    ) {
        return;
    }
    let ns = NetNs::new();
    let (st, _g) = linux_peer(&ns, 82);
    let dir = TempDir::new();
    let file = dir.join("linux.pcap");
    let file_s = file.display().to_string();
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &ns.name,
        "tcpdump",
        "-Z",
        "root",
        "--immediate-mode",
        "-i",
        "tap0",
        "-U",
        "-w",
        &file_s,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut linux = ChildGuard::spawn(cmd);
    let mut err = BufReader::new(linux.child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    traffic(&ns, &st, 82);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(linux.child.id() as i32, libc::SIGINT) };
    linux.child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(rest.contains("packets captured"), "{rest}");
    for opts in [
        &["-nn"][..],
        &["-n", "-e"],
        &["-nn", "-v"],
        &["-nn", "-vv", "-tt"],
        &["-nn", "-q", "-ttt"],
        &["-nn", "-x"],
        &["-nn", "-XX", "-t"],
        &["-nn", "-s", "60", "-tttt"],
        &["-nn", "-A", "-#"],
    ] {
        let mut args = vec!["-r", &file_s];
        args.extend_from_slice(opts);
        let mut cmd = Command::new("tcpdump");
        cmd.args(&args).env("TZ", "UTC");
        let want = cmd.output().unwrap();
        let mut ours = vec!["tcpdump"];
        ours.extend_from_slice(&args);
        let got = pktbox(&ours, &[("TZ", std::ffi::OsStr::new("UTC"))]).ok();
        let err = String::from_utf8_lossy(&want.stderr).into_owned();
        let want = String::from_utf8_lossy(&want.stdout);
        assert!(
            lines(&want).len() >= 13,
            "{want}{err}{rest} ({} bytes)",
            std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0)
        );
        assert_eq!(lines(&got.stdout), lines(&want), "tcpdump {args:?}");
    }
}

#[test]
fn capture_options_do_what_they_say() {
    if !can_run_linux("capture_options_do_what_they_say", &["ip", "nc", "ping", "tcpdump"]) {
        return;
    }
    let ns = NetNs::new();
    let (st, _g) = linux_peer(&ns, 83);
    // -D lists the stack's interfaces as libpcap does.
    let d = st.ok("tcpdump", &["-D"]);
    assert_eq!(
        lines(&d),
        ["1.lo0 [Up, Running, Loopback]", "2.en0 [Up, Running, Connected]"]
    );
    // A capture makes the interface promiscuous, unless -p.
    let dump = Dump::start(&st, &["-i", "en0", "-c", "2", "-nn", "-Q", "in", "icmp"]);
    assert!(st.ok("ifconfig", &["en0"]).contains("PROMISC"));
    run(
        "ip",
        ["netns", "exec", &ns.name, "ping", "-c", "2", "-i", "0.2", "10.83.0.2"],
    )
    .ok();
    // -c 2 -Q in: the two requests, not the replies; then the summary and exit 0.
    let (out, err, code) = dump.wait();
    assert_eq!(code, Some(0), "{err}");
    let got = lines(&out);
    assert_eq!(got.len(), 2, "{out}");
    assert!(
        got.iter()
            .all(|l| l.contains("10.83.0.1 > 10.83.0.2: ICMP echo request")),
        "{out}"
    );
    assert_eq!(summary(&err).0, 2);
    wait_for("PROMISC to go", || {
        Some(()).filter(|_| !st.ok("ifconfig", &["en0"]).contains("PROMISC"))
    });
    let dump = Dump::start(&st, &["-p", "-i", "en0", "-c", "1", "-s", "42", "-w", "-", "icmp"]);
    assert!(!st.ok("ifconfig", &["en0"]).contains("PROMISC"));
    run("ip", ["netns", "exec", &ns.name, "ping", "-c", "1", "10.83.0.2"]).ok();
    let (out, err, code) = dump.wait_bytes();
    assert_eq!(code, Some(0), "{err}");
    // -w -: a pcap on standard output, snap length 42 in the file header and the record.
    let b = &out[..];
    assert_eq!(&b[..4], &0xa1b2c3d4u32.to_le_bytes());
    assert_eq!(u32::from_le_bytes([b[16], b[17], b[18], b[19]]), 42);
    assert_eq!(u32::from_le_bytes([b[32], b[33], b[34], b[35]]), 42);
    assert_eq!(u32::from_le_bytes([b[36], b[37], b[38], b[39]]), 98);
    // Errors: an interface that is not there, a filter that does not compile.
    let o = st.run("tcpdump", &["-i", "en7"]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("en7"), "{}", o.stderr);
    let o = st.run("tcpdump", &["-i", "en0", "tcp", "and"]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.starts_with("tcpdump: "), "{}", o.stderr);
}

#[test]
fn a_checked_in_linux_capture_prints_the_same() {
    // What Linux sends on a fresh TAP link: IPv6 duplicate address detection (with the
    // nonce option), MLDv2 reports and a router solicitation, captured by Linux's tcpdump.
    if !need("a_checked_in_linux_capture_prints_the_same", &["tcpdump"]) {
        return;
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/linux-tap-ipv6.pcap");
    let file_s = file.display().to_string();
    for opts in [
        &["-nn"][..],
        &["-nn", "-v"],
        &["-nn", "-vv", "-e"],
        &["-nn", "-X"],
        &["-nn", "-s", "70", "-v"],
    ] {
        let mut args = vec!["-r", &file_s];
        args.extend_from_slice(opts);
        let want = Command::new("tcpdump").args(&args).env("TZ", "UTC").output().unwrap();
        let mut ours = vec!["tcpdump"];
        ours.extend_from_slice(&args);
        let got = pktbox(&ours, &[("TZ", std::ffi::OsStr::new("UTC"))]).ok();
        let want = String::from_utf8_lossy(&want.stdout);
        assert!(lines(&want).len() >= 8, "{want}");
        assert_eq!(lines(&got.stdout), lines(&want), "tcpdump {args:?}");
    }
}

#[test]
fn loopback_captures_are_null_framed_and_filtered_as_libpcap_does() {
    let test = "loopback_captures_are_null_framed_and_filtered_as_libpcap_does";
    if !need_root(test) || !need(test, &["tcpdump"]) {
        return;
    }
    let st = StackProc::start(&[]);
    let dir = TempDir::new();
    let file = dir.join("lo0.pcap").display().to_string();
    let dump = Dump::start(&st, &["-i", "lo0", "-U", "-w", &file, "icmp"]);
    st.ok("ping", &["-c", "2", "-i", "0.2", "127.0.0.1"]);
    std::thread::sleep(Duration::from_millis(300));
    let (_, err, code) = dump.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("link-type NULL (BSD loopback)"), "{err}");
    assert_eq!(summary(&err).0, 4, "{err}");
    // Linux's tcpdump reads the file as pktbox does, and compiles filters for its link type
    // to the same programs.
    for opts in [&["-nn"][..], &["-nn", "-e", "-v"], &["-nn", "-x"]] {
        let mut args = vec!["-r", &file];
        args.extend_from_slice(opts);
        let want = run("tcpdump", &args).ok();
        let mut ours = vec!["tcpdump"];
        ours.extend_from_slice(&args);
        let got = pktbox(&ours, &[]).ok();
        assert_eq!(lines(&got.stdout), lines(&want.stdout), "{args:?}");
        assert!(lines(&want.stdout).len() >= 4, "{}", want.stdout);
    }
    for expr in [
        "ip",
        "icmp",
        "ip6",
        "host 127.0.0.1 and icmp",
        "tcp port 80",
        "arp",
        "len > 60",
    ] {
        let want = run("tcpdump", ["-r", &file, "-d", expr]);
        let got = pktbox(["tcpdump", "-r", &file, "-d", expr], &[]);
        assert_eq!((&got.stdout, got.code), (&want.stdout, want.code), "{expr}");
        assert_eq!(got.stderr, want.stderr, "{expr}");
    }
    let o = pktbox(["tcpdump", "-r", &file, "-d", "ether host 1:2:3:4:5:6"], &[]).code(1);
    assert!(
        o.stderr.contains("ethernet addresses supported only on"),
        "{}",
        o.stderr
    );
}
