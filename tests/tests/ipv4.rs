//! IPv4 end to end, with ping as the probe: stacks wired by hub segments, a router between
//! them, and Linux itself as a peer through a TAP device in a network namespace of the
//! test's own.
//!
//! Raw sockets need uid 0 on the stack, so the tests that ping need root; without it they
//! print a notice and pass. CI runs as root.

use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pktbox_stack::msg::RtMsg;
use pktbox_stack::net::route::rtf;

/// How long any one command may take before the test gives up on it.
const CMD_TIMEOUT: Duration = Duration::from_secs(60);

fn bin() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/pktbox");
    assert!(p.exists(), "{} is missing: run `cargo build` first", p.display());
    p
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Says why a test does nothing here; true when it should go on.
fn need_root(test: &str) -> bool {
    if !is_root() {
        eprintln!("{test}: skipped: needs root (raw sockets are for uid 0)");
    }
    is_root()
}

/// A name no other test (or test run) uses.
fn unique(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "pktbox-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A command's result, with its output as text.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn show(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs a command to its end (killing it after CMD_TIMEOUT).
fn run(mut cmd: Command) -> Run {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let deadline = Instant::now() + CMD_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let r = Run::from(child.wait_with_output().expect("wait"));
                panic!("{cmd:?} did not finish in {CMD_TIMEOUT:?}\n{}", r.show());
            }
        }
    }
    Run::from(child.wait_with_output().expect("wait"))
}

/// A pktbox command run against the stack at `prefix` (SOCK=prefix).
fn pktbox(prefix: Option<&Path>, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args);
    match prefix {
        Some(p) => c.env("SOCK", p),
        None => c.env_remove("SOCK"),
    };
    c
}

/// A stack in the background in a temporary prefix of its own; stopped and removed on drop.
struct TestStack {
    prefix: PathBuf,
}

impl TestStack {
    /// `io-pkt-v4 -ptcpip prefix=P[,forward] -d hub path=H ...`, one hub interface per path.
    fn start(hubs: &[&Path], forward: bool) -> TestStack {
        let prefix = std::env::temp_dir().join(unique("stack"));
        let s = TestStack { prefix };
        let mut args = vec![
            "io-pkt-v4".to_string(),
            "-t".into(),
            "1".into(),
            "-ptcpip".into(),
            format!("prefix={}{}", s.prefix.display(), if forward { ",forward" } else { "" }),
        ];
        for h in hubs {
            args.push("-d".into());
            args.push("hub".into());
            args.push(format!("path={}", h.display()));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(pktbox(None, &refs));
        assert_eq!(r.code, Some(0), "starting a stack: {}", r.show());
        s
    }

    fn cmd(&self, args: &[&str]) -> Command {
        pktbox(Some(&self.prefix), args)
    }

    /// Runs an applet on this stack and insists that it succeeds.
    fn ok(&self, args: &[&str]) -> Run {
        let r = run(self.cmd(args));
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.show());
        r
    }

    fn run(&self, args: &[&str]) -> Run {
        run(self.cmd(args))
    }

    fn control(&self) -> pktbox_stack::socket::Stack {
        pktbox_stack::socket::Stack::open_at(&self.prefix).expect("control connection")
    }

    /// `route add -net DST/24 GW`, through the client library.
    fn route_add(&self, dst: Ipv4Addr, len: u8, gw: Ipv4Addr) {
        self.control()
            .route_add(RtMsg {
                dst: Some(dst),
                prefixlen: Some(len),
                gateway: Some(gw),
                rtm_flags: rtf::GATEWAY | rtf::STATIC,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("route add {dst}/{len} {gw}: {e}"));
    }
}

/// Stops the stack with SIGTERM (`kill -TERM $(cat PREFIX/dev/socket.lock)`), waits for it to
/// release its prefix, and removes the prefix.
fn stop_stack(prefix: &Path) {
    let lock = prefix.join("dev/socket.lock");
    if let Some(pid) = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|s| s.trim().parse::<libc::pid_t>().ok())
        .filter(|p| *p > 0)
    {
        // SAFETY: kill(2) on the pid the stack wrote into its own lock file.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while lock.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = std::fs::remove_dir_all(prefix);
}

impl Drop for TestStack {
    fn drop(&mut self) {
        stop_stack(&self.prefix);
    }
}

/// A hub segment's directory, removed on drop (declare it before the stacks on it, so that
/// they stop first).
struct Hub(PathBuf);

impl Hub {
    fn new() -> Hub {
        Hub(std::env::temp_dir().join(unique("hub")))
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A on segment 1 (10.1.0.2/24), B on segment 2 (10.2.0.2/24), and R forwarding between them
/// (10.1.0.1 and 10.2.0.1); A and B route each other's network through R.
struct Routed {
    a: TestStack,
    r: TestStack,
    b: TestStack,
    _hubs: (Hub, Hub),
}

fn routed() -> Routed {
    let h1 = Hub::new();
    let h2 = Hub::new();
    let a = TestStack::start(&[&h1.0], false);
    let r = TestStack::start(&[&h1.0, &h2.0], true);
    let b = TestStack::start(&[&h2.0], false);
    a.ok(&["ifconfig", "en0", "10.1.0.2/24"]);
    r.ok(&["ifconfig", "en0", "10.1.0.1/24"]);
    r.ok(&["ifconfig", "en1", "10.2.0.1/24"]);
    b.ok(&["ifconfig", "en0", "10.2.0.2/24"]);
    a.route_add(Ipv4Addr::new(10, 2, 0, 0), 24, Ipv4Addr::new(10, 1, 0, 1));
    b.route_add(Ipv4Addr::new(10, 1, 0, 0), 24, Ipv4Addr::new(10, 2, 0, 1));
    Routed {
        // Field order is drop order: the stacks stop before their hubs go.
        a,
        r,
        b,
        _hubs: (h1, h2),
    }
}

/// The reply lines of a ping run: `N bytes from ADDR: icmp_seq=S ttl=T time=X ms`.
fn reply_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.contains(" bytes from ") && l.contains("icmp_seq="))
        .collect()
}

#[test]
fn ping_across_a_router() {
    if !need_root("ping_across_a_router") {
        return;
    }
    let n = routed();
    let r = n.a.run(&["ping", "-c", "3", "-i", "0.2", "10.2.0.2"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.starts_with("PING 10.2.0.2 (10.2.0.2): 56 data bytes\n"),
        "{}",
        r.show()
    );
    let lines = reply_lines(&r.stdout);
    assert_eq!(lines.len(), 3, "{}", r.show());
    for (seq, l) in lines.iter().enumerate() {
        let want = format!("64 bytes from 10.2.0.2: icmp_seq={seq} ttl=63 time=");
        assert!(l.starts_with(&want), "wanted {want:?}...: {}", r.show());
        assert!(l.ends_with(" ms"), "{}", r.show());
    }
    assert!(
        r.stdout.contains("\n\n----10.2.0.2 PING Statistics----\n3 packets transmitted, 3 packets received, 0.0% packet loss\nround-trip min/avg/max/stddev = "),
        "{}",
        r.show()
    );
    // -q: the first line and the summary only.
    let q = n.a.run(&["ping", "-q", "-c", "2", "-i", "0.2", "10.2.0.2"]);
    assert_eq!(q.code, Some(0), "{}", q.show());
    assert!(reply_lines(&q.stdout).is_empty(), "{}", q.show());
    assert!(
        q.stdout
            .contains("2 packets transmitted, 2 packets received, 0.0% packet loss"),
        "{}",
        q.show()
    );
    // -o: done at the first reply, however many were asked for.
    let o = n.b.run(&["ping", "-o", "-c", "5", "-i", "0.2", "10.1.0.2"]);
    assert_eq!(o.code, Some(0), "{}", o.show());
    assert!(o.stdout.contains("1 packets received"), "{}", o.show());
    // The router answers for itself, not forwarding: ttl straight from its stack.
    let rr = n.a.run(&["ping", "-c", "1", "10.2.0.1"]);
    assert_eq!(rr.code, Some(0), "{}", rr.show());
    assert!(
        rr.stdout.contains("64 bytes from 10.2.0.1: icmp_seq=0 ttl=64 time="),
        "{}",
        rr.show()
    );
}

#[test]
fn ping_with_ttl_1_reports_time_exceeded_from_the_router() {
    if !need_root("ping_with_ttl_1_reports_time_exceeded_from_the_router") {
        return;
    }
    let n = routed();
    let r = n.a.run(&["ping", "-c", "1", "-T", "1", "-w", "3", "10.2.0.2"]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    // An error quotes our 20-byte header and 8 bytes of our request: 8 + 28 bytes.
    assert!(
        r.stdout
            .contains("\n36 bytes from 10.1.0.1: Time To Live exceeded for icmp_seq=0\n"),
        "{}",
        r.show()
    );
    assert!(
        r.stdout
            .contains("1 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{}",
        r.show()
    );
    assert!(!r.stdout.contains("round-trip"), "{}", r.show());
    // With -Q the error is not shown.
    let q = n.a.run(&["ping", "-Q", "-c", "1", "-T", "1", "-w", "2", "10.2.0.2"]);
    assert_eq!(q.code, Some(2), "{}", q.show());
    assert!(!q.stdout.contains("Time To Live exceeded"), "{}", q.show());
    // A TTL of 2 is enough to get there.
    let ok = n.a.run(&["ping", "-c", "1", "-T", "2", "10.2.0.2"]);
    assert_eq!(ok.code, Some(0), "{}", ok.show());
}

#[test]
fn large_ping_is_fragmented_and_reassembled() {
    if !need_root("large_ping_is_fragmented_and_reassembled") {
        return;
    }
    let n = routed();
    let r = n.a.run(&["ping", "-c", "2", "-i", "0.2", "-s", "4000", "10.2.0.2"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.starts_with("PING 10.2.0.2 (10.2.0.2): 4000 data bytes\n"),
        "{}",
        r.show()
    );
    let lines = reply_lines(&r.stdout);
    assert_eq!(lines.len(), 2, "{}", r.show());
    for (seq, l) in lines.iter().enumerate() {
        assert!(
            l.starts_with(&format!("4008 bytes from 10.2.0.2: icmp_seq={seq} ttl=63 time=")),
            "{}",
            r.show()
        );
        // The data came back as it was sent.
        assert!(!l.contains("wrong"), "{}", r.show());
    }
    assert!(!r.stdout.contains("wrong"), "{}", r.show());
    assert!(
        r.stdout
            .contains("2 packets transmitted, 2 packets received, 0.0% packet loss"),
        "{}",
        r.show()
    );
    // It went as fragments both ways (4028 bytes on a 1500-byte MTU: 3 fragments each).
    let (sa, sb) = (n.a.control().stats().unwrap(), n.b.control().stats().unwrap());
    assert!(sa.ip.fragmented >= 2 && sa.ip.ofragments >= 6, "A: {:?}", sa.ip);
    assert!(sb.ip.reassembled >= 2, "B: {:?}", sb.ip);
    assert!(sb.ip.fragmented >= 2, "B: {:?}", sb.ip);
    assert!(sa.ip.reassembled >= 2, "A: {:?}", sa.ip);
}

#[test]
fn ping_without_a_route_says_sendto_and_goes_on() {
    if !need_root("ping_without_a_route_says_sendto_and_goes_on") {
        return;
    }
    let n = routed();
    let r = n.a.run(&["ping", "-c", "2", "-i", "0.2", "10.9.9.9"]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    let errs: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        errs,
        [
            "ping: sendto: Network is unreachable",
            "ping: sendto: Network is unreachable"
        ],
        "{}",
        r.show()
    );
    assert!(
        r.stdout
            .contains("2 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{}",
        r.show()
    );
}

#[test]
fn ping_to_a_silent_host_on_the_link_says_host_is_down() {
    if !need_root("ping_to_a_silent_host_on_the_link_says_host_is_down") {
        return;
    }
    let h = Hub::new();
    let a = TestStack::start(&[&h.0], false);
    a.ok(&["ifconfig", "en0", "10.1.0.2/24"]);
    // ARP asks once a second; after five unanswered requests the host counts as down and
    // sendto says so, as NetBSD's arpresolve has it.
    let r = a.run(&["ping", "-c", "10", "-w", "10", "10.1.0.99"]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains("ping: sendto: Host is down\n"), "{}", r.show());
    assert!(
        r.stderr.lines().all(|l| l == "ping: sendto: Host is down"),
        "{}",
        r.show()
    );
    assert!(
        r.stdout
            .contains("10 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{}",
        r.show()
    );
}

#[test]
fn ping_fails_when_the_router_stops_forwarding() {
    if !need_root("ping_fails_when_the_router_stops_forwarding") {
        return;
    }
    let n = routed();
    let before = n.a.run(&["ping", "-o", "-c", "3", "-i", "0.2", "10.2.0.2"]);
    assert_eq!(before.code, Some(0), "{}", before.show());
    n.r.ok(&["sysctl", "-w", "net.inet.ip.forwarding=0"]);
    let r = n.a.run(&["ping", "-c", "2", "-i", "0.2", "10.2.0.2"]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(reply_lines(&r.stdout).is_empty(), "{}", r.show());
    assert!(
        r.stdout
            .contains("2 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{}",
        r.show()
    );
    let cant = n.r.control().stats().unwrap().ip.cantforward;
    assert!(cant >= 2, "R counted {cant} datagrams it could not forward");
    n.r.ok(&["sysctl", "-w", "net.inet.ip.forwarding=1"]);
    let after = n.a.run(&["ping", "-c", "1", "10.2.0.2"]);
    assert_eq!(after.code, Some(0), "{}", after.show());
}

#[test]
fn sigint_ends_the_run_with_the_summary() {
    if !need_root("sigint_ends_the_run_with_the_summary") {
        return;
    }
    let h = Hub::new();
    let a = TestStack::start(&[&h.0], false);
    let b = TestStack::start(&[&h.0], false);
    a.ok(&["ifconfig", "en0", "10.1.0.2/24"]);
    b.ok(&["ifconfig", "en0", "10.1.0.1/24"]);
    // No count: it runs until interrupted.
    let mut c = a.cmd(&["ping", "-i", "0.2", "10.1.0.1"]);
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn ping");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + CMD_TIMEOUT;
    while reply_lines(&lines.join("\n")).len() < 2 {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => lines.push(l),
            Err(_) if Instant::now() < deadline => {}
            Err(_) => {
                let _ = child.kill();
                panic!("no replies: {lines:?}");
            }
        }
    }
    // SAFETY: SIGINT to the ping we spawned.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + CMD_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ping did not stop on SIGINT: {lines:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().expect("reader");
    lines.extend(rx.try_iter());
    let out = lines.join("\n");
    assert_eq!(status.code(), Some(0), "{out}");
    let at = lines
        .iter()
        .position(|l| l == "----10.1.0.1 PING Statistics----")
        .unwrap_or_else(|| panic!("no summary: {out}"));
    assert_eq!(lines[at - 1], "", "{out}");
    let sent = reply_lines(&out).len();
    // Every request sent was answered: the first SIGINT waited for any outstanding one.
    assert_eq!(
        lines[at + 1],
        format!("{sent} packets transmitted, {sent} packets received, 0.0% packet loss"),
        "{out}"
    );
    assert!(lines[at + 2].starts_with("round-trip min/avg/max/stddev = "), "{out}");
}

#[test]
fn ping_bad_arguments_exit_1() {
    let cases: &[(&[&str], &str)] = &[
        (&["-c", "x", "10.0.0.1"], "ping: Bad/invalid number of packets: x\n"),
        (&["-c", "0", "10.0.0.1"], "ping: Bad/invalid number of packets: 0\n"),
        (&["-i", "-1", "10.0.0.1"], "ping: Bad/invalid interval: -1\n"),
        (&["-s", "zz", "10.0.0.1"], "ping: Bad/invalid packet size: zz\n"),
        (&["-s", "65468", "10.0.0.1"], "ping: packet size is too large\n"),
        (&["-T", "0", "10.0.0.1"], "ping: ttl out of range: 0\n"),
        (&["-T", "300", "10.0.0.1"], "ping: ttl out of range: 300\n"),
        (&["-t", "256", "10.0.0.1"], "ping: bad tos value: 256\n"),
        (&["-w", "x", "10.0.0.1"], "ping: Bad/invalid maxwait time: x\n"),
        (
            &["-p", "xyz", "10.0.0.1"],
            "ping: \"-p xyz\": patterns must be specified with 1-32 hex digits\n",
        ),
        (&["10.0.0.300"], "ping: Cannot resolve \"10.0.0.300\" (Unknown host)\n"),
    ];
    for (args, msg) in cases {
        let mut a = vec!["ping"];
        a.extend_from_slice(args);
        // No stack is needed to refuse an argument.
        let r = run(pktbox(Some(Path::new("/nonexistent-pktbox-prefix")), &a));
        assert_eq!(r.code, Some(1), "{a:?}: {}", r.show());
        assert_eq!(r.stderr, *msg, "{a:?}: {}", r.show());
        assert!(r.stdout.is_empty(), "{a:?}: {}", r.show());
    }
    // No host, two hosts, an unknown option: the usage, exit 1.
    for a in [
        &["ping"][..],
        &["ping", "10.0.0.1", "10.0.0.2"],
        &["ping", "-Z", "10.0.0.1"],
    ] {
        let r = run(pktbox(None, a));
        assert_eq!(r.code, Some(1), "{a:?}: {}", r.show());
        assert!(r.stderr.contains("ping [-aCfnoPQqv] [-c count]"), "{a:?}: {}", r.show());
    }
    // Good arguments but no stack: the message every tool gives, exit 1.
    let r = run(pktbox(
        Some(Path::new("/nonexistent-pktbox-prefix")),
        &["ping", "10.0.0.1"],
    ));
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert_eq!(
        r.stderr,
        "ping: no stack at /nonexistent-pktbox-prefix/dev/socket (is io-pkt running? set SOCK=<prefix>)\n"
    );
    // --help works anywhere.
    let h = run(pktbox(None, &["ping", "--help"]));
    assert_eq!(h.code, Some(0), "{}", h.show());
    assert!(h.stdout.contains("maxwait"), "{}", h.show());
}

#[test]
fn ping_as_non_root_is_refused() {
    let s = TestStack::start(&[], false);
    let mut c = s.cmd(&["ping", "-c", "1", "127.0.0.1"]);
    if is_root() {
        // Let an unprivileged user reach the channel, then ask as that user.
        use std::os::unix::fs::PermissionsExt;
        for p in [s.prefix.clone(), s.prefix.join("dev")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let sock = s.prefix.join("dev/socket");
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
        c.uid(65534).gid(65534);
    }
    let r = run(c);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert_eq!(
        r.stderr,
        "ping: Cannot create socket: Operation not permitted\n",
        "{}",
        r.show()
    );
    assert!(r.stdout.is_empty(), "{}", r.show());
    // Root options are refused before anything is sent.
    if !is_root() {
        let f = s.run(&["ping", "-f", "127.0.0.1"]);
        assert_eq!(f.code, Some(1), "{}", f.show());
        assert_eq!(f.stderr, "ping: Must be superuser to use -f\n");
    }
}

/// A network namespace of the test's own, deleted by exact name when dropped.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("pktbox-p{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut c = Command::new("ip");
        c.args(["netns", "add", &name]);
        let r = run(c);
        assert_eq!(r.code, Some(0), "ip netns add {name}: {}", r.show());
        Netns(name)
    }

    fn exec(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(args);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A stack in the foreground inside a namespace, owning a TAP device there.
struct NsStack {
    child: Child,
    prefix: PathBuf,
}

impl Drop for NsStack {
    fn drop(&mut self) {
        // SAFETY: SIGTERM to the child we spawned (the stack itself, run by `ip netns exec`).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        stop_stack(&self.prefix);
    }
}

#[test]
fn linux_and_the_stack_ping_each_other_through_a_tap() {
    if !is_root() {
        eprintln!("linux_and_the_stack_ping_each_other_through_a_tap: skipped: needs root (TAP, namespaces)");
        return;
    }
    // Declared first, dropped last: the stack stops before its namespace goes.
    let ns = Netns::new();
    let prefix = std::env::temp_dir().join(unique("tap"));
    let tap = format!("tpk{}", std::process::id() % 100_000);
    let bin = bin();
    let mut c = ns.exec(&[
        bin.to_str().unwrap(),
        "io-pkt-v4",
        "-f",
        "-ptcpip",
        &format!("prefix={}", prefix.display()),
        "-d",
        "tap",
        &format!("tap={tap},host=10.78.0.1/24"),
    ]);
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let child = c.spawn().expect("spawn the stack in the namespace");
    let mut st = NsStack { child, prefix };
    // Wait for the channel to answer (or the stack to die).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if pktbox_stack::socket::Stack::open_at(&st.prefix).is_ok() {
            break;
        }
        if let Ok(Some(status)) = st.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = st.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("the stack in {} exited with {status}: {err}", ns.0);
        }
        assert!(Instant::now() < deadline, "the stack in {} never answered", ns.0);
        std::thread::sleep(Duration::from_millis(50));
    }
    let sock = |args: &[&str]| pktbox(Some(&st.prefix), args);
    let r = run(sock(&["ifconfig", "en0", "10.78.0.2/24"]));
    assert_eq!(r.code, Some(0), "{}", r.show());

    // Linux's ping to the stack.
    let r = run(ns.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "5", "10.78.0.2"]));
    assert_eq!(r.code, Some(0), "Linux ping: {}", r.show());
    assert!(r.stdout.contains("3 received"), "Linux ping: {}", r.show());

    // The stack's ping to Linux.
    let r = run(sock(&["ping", "-c", "3", "-i", "0.2", "10.78.0.1"]));
    assert_eq!(r.code, Some(0), "{}", r.show());
    let lines = reply_lines(&r.stdout);
    assert_eq!(lines.len(), 3, "{}", r.show());
    assert!(
        lines[0].starts_with("64 bytes from 10.78.0.1: icmp_seq=0 ttl=64 time="),
        "{}",
        r.show()
    );
    assert!(
        r.stdout
            .contains("3 packets transmitted, 3 packets received, 0.0% packet loss"),
        "{}",
        r.show()
    );

    // A large one both ways: fragments from Linux reassembled here, and ours there.
    let r = run(ns.exec(&["ping", "-c", "1", "-s", "3000", "-W", "5", "10.78.0.2"]));
    assert_eq!(r.code, Some(0), "Linux ping -s 3000: {}", r.show());
    let r = run(sock(&["ping", "-c", "1", "-s", "3000", "10.78.0.1"]));
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains("3008 bytes from 10.78.0.1: icmp_seq=0"),
        "{}",
        r.show()
    );
    drop(st);
    drop(ns);
}
