//! IPv4 end to end, with ping as the probe: stacks wired by hub segments, a router between
//! them, and Linux itself as a peer through a TAP device in a network namespace of the
//! test's own.
//!
//! Raw sockets need uid 0 on the stack, so the tests that ping need root; without it they
//! skip with a visible notice (a failure when `CI` is set). CI runs as root.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use pktbox_stack::msg::RtMsg;
use pktbox_stack::wire::route::rtf;
use pktbox_tests::*;

/// How long the SIGINT test waits for ping's replies and its exit before it gives up.
const CMD_TIMEOUT: Duration = Duration::from_secs(60);

/// `io-pkt-v4 -t 1 -ptcpip prefix=P[ forward] -d hub path=H ...`, one hub interface per path.
fn hub_stack(hubs: &[&Path], forward: bool) -> StackProc {
    let mut args: Vec<String> = vec!["-t".into(), "1".into()];
    if forward {
        args.extend(["-p".into(), "tcpip".into(), "forward".into()]);
    }
    for h in hubs {
        args.extend(["-d".into(), "hub".into(), format!("path={}", h.display())]);
    }
    StackProc::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `route add -net DST/LEN GW`, through the client library.
fn route_add(st: &StackProc, dst: Ipv4Addr, len: u8, gw: Ipv4Addr) {
    st.open()
        .route_add(RtMsg {
            dst: Some(dst.into()),
            prefixlen: Some(len),
            gateway: Some(gw.into()),
            rtm_flags: rtf::GATEWAY | rtf::STATIC,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("route add {dst}/{len} {gw}: {e}"));
}

/// A on segment 1 (10.1.0.2/24), B on segment 2 (10.2.0.2/24), and R forwarding between them
/// (10.1.0.1 and 10.2.0.1); A and B route each other's network through R.
struct Routed {
    a: StackProc,
    r: StackProc,
    b: StackProc,
    _hubs: TempDir,
}

fn routed() -> Routed {
    let hubs = TempDir::new();
    let (h1, h2) = (hubs.join("hub1"), hubs.join("hub2"));
    let a = hub_stack(&[&h1], false);
    let r = hub_stack(&[&h1, &h2], true);
    let b = hub_stack(&[&h2], false);
    a.ok("ifconfig", &["en0", "10.1.0.2/24"]);
    r.ok("ifconfig", &["en0", "10.1.0.1/24"]);
    r.ok("ifconfig", &["en1", "10.2.0.1/24"]);
    b.ok("ifconfig", &["en0", "10.2.0.2/24"]);
    route_add(&a, Ipv4Addr::new(10, 2, 0, 0), 24, Ipv4Addr::new(10, 1, 0, 1));
    route_add(&b, Ipv4Addr::new(10, 1, 0, 0), 24, Ipv4Addr::new(10, 2, 0, 1));
    Routed {
        // Field order is drop order: the stacks stop before their hubs go.
        a,
        r,
        b,
        _hubs: hubs,
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
    let r = n.a.run("ping", &["-c", "3", "-i", "0.2", "10.2.0.2"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout.starts_with("PING 10.2.0.2 (10.2.0.2): 56 data bytes\n"),
        "{r:#?}"
    );
    let lines = reply_lines(&r.stdout);
    assert_eq!(lines.len(), 3, "{r:#?}");
    for (seq, l) in lines.iter().enumerate() {
        let want = format!("64 bytes from 10.2.0.2: icmp_seq={seq} ttl=63 time=");
        assert!(l.starts_with(&want), "wanted {want:?}...: {r:#?}");
        assert!(l.ends_with(" ms"), "{r:#?}");
    }
    assert!(
        r.stdout.contains("\n\n----10.2.0.2 PING Statistics----\n3 packets transmitted, 3 packets received, 0.0% packet loss\nround-trip min/avg/max/stddev = "),
        "{r:#?}"
    );
    // -q: the first line and the summary only.
    let q = n.a.run("ping", &["-q", "-c", "2", "-i", "0.2", "10.2.0.2"]);
    assert_eq!(q.code, Some(0), "{q:#?}");
    assert!(reply_lines(&q.stdout).is_empty(), "{q:#?}");
    assert!(
        q.stdout
            .contains("2 packets transmitted, 2 packets received, 0.0% packet loss"),
        "{q:#?}"
    );
    // -o: done at the first reply, however many were asked for.
    let o = n.b.run("ping", &["-o", "-c", "5", "-i", "0.2", "10.1.0.2"]);
    assert_eq!(o.code, Some(0), "{o:#?}");
    assert!(o.stdout.contains("1 packets received"), "{o:#?}");
    // The router answers for itself, not forwarding: ttl straight from its stack.
    let rr = n.a.run("ping", &["-c", "1", "10.2.0.1"]);
    assert_eq!(rr.code, Some(0), "{rr:#?}");
    assert!(
        rr.stdout.contains("64 bytes from 10.2.0.1: icmp_seq=0 ttl=64 time="),
        "{rr:#?}"
    );
}

#[test]
fn ping_with_ttl_1_reports_time_exceeded_from_the_router() {
    if !need_root("ping_with_ttl_1_reports_time_exceeded_from_the_router") {
        return;
    }
    let n = routed();
    let r = n.a.run("ping", &["-c", "1", "-T", "1", "-w", "3", "10.2.0.2"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    // An error quotes our 20-byte header and 8 bytes of our request: 8 + 28 bytes.
    assert!(
        r.stdout
            .contains("\n36 bytes from 10.1.0.1: Time To Live exceeded for icmp_seq=0\n"),
        "{r:#?}"
    );
    assert!(
        r.stdout
            .contains("1 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{r:#?}"
    );
    assert!(!r.stdout.contains("round-trip"), "{r:#?}");
    // With -Q the error is not shown.
    let q = n.a.run("ping", &["-Q", "-c", "1", "-T", "1", "-w", "2", "10.2.0.2"]);
    assert_eq!(q.code, Some(2), "{q:#?}");
    assert!(!q.stdout.contains("Time To Live exceeded"), "{q:#?}");
    // A TTL of 2 is enough to get there.
    let ok = n.a.run("ping", &["-c", "1", "-T", "2", "10.2.0.2"]);
    assert_eq!(ok.code, Some(0), "{ok:#?}");
}

#[test]
fn large_ping_is_fragmented_and_reassembled() {
    if !need_root("large_ping_is_fragmented_and_reassembled") {
        return;
    }
    let n = routed();
    let r = n.a.run("ping", &["-c", "2", "-i", "0.2", "-s", "4000", "10.2.0.2"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout.starts_with("PING 10.2.0.2 (10.2.0.2): 4000 data bytes\n"),
        "{r:#?}"
    );
    let lines = reply_lines(&r.stdout);
    assert_eq!(lines.len(), 2, "{r:#?}");
    for (seq, l) in lines.iter().enumerate() {
        assert!(
            l.starts_with(&format!("4008 bytes from 10.2.0.2: icmp_seq={seq} ttl=63 time=")),
            "{r:#?}"
        );
        // The data came back as it was sent.
        assert!(!l.contains("wrong"), "{r:#?}");
    }
    assert!(!r.stdout.contains("wrong"), "{r:#?}");
    assert!(
        r.stdout
            .contains("2 packets transmitted, 2 packets received, 0.0% packet loss"),
        "{r:#?}"
    );
    // It went as fragments both ways (4028 bytes on a 1500-byte MTU: 3 fragments each).
    let (sa, sb) = (n.a.open().stats().unwrap(), n.b.open().stats().unwrap());
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
    let r = n.a.run("ping", &["-c", "2", "-i", "0.2", "10.9.9.9"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    let errs: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        errs,
        [
            "ping: sendto: Network is unreachable",
            "ping: sendto: Network is unreachable"
        ],
        "{r:#?}"
    );
    assert!(
        r.stdout
            .contains("2 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{r:#?}"
    );
}

#[test]
fn ping_to_a_silent_host_on_the_link_says_host_is_down() {
    if !need_root("ping_to_a_silent_host_on_the_link_says_host_is_down") {
        return;
    }
    let h = TempDir::new();
    let a = hub_stack(&[&h.join("hub")], false);
    a.ok("ifconfig", &["en0", "10.1.0.2/24"]);
    // ARP asks once a second; after five unanswered requests the host counts as down and
    // sendto says so, as NetBSD's arpresolve has it.
    let r = a.run("ping", &["-c", "10", "-w", "10", "10.1.0.99"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    assert!(r.stderr.contains("ping: sendto: Host is down\n"), "{r:#?}");
    assert!(r.stderr.lines().all(|l| l == "ping: sendto: Host is down"), "{r:#?}");
    assert!(
        r.stdout
            .contains("10 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{r:#?}"
    );
}

#[test]
fn ping_fails_when_the_router_stops_forwarding() {
    if !need_root("ping_fails_when_the_router_stops_forwarding") {
        return;
    }
    let n = routed();
    let before = n.a.run("ping", &["-o", "-c", "3", "-i", "0.2", "10.2.0.2"]);
    assert_eq!(before.code, Some(0), "{before:#?}");
    n.r.ok("sysctl", &["-w", "net.inet.ip.forwarding=0"]);
    let r = n.a.run("ping", &["-c", "2", "-i", "0.2", "10.2.0.2"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    assert!(reply_lines(&r.stdout).is_empty(), "{r:#?}");
    assert!(
        r.stdout
            .contains("2 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{r:#?}"
    );
    let cant = n.r.open().stats().unwrap().ip.cantforward;
    assert!(cant >= 2, "R counted {cant} datagrams it could not forward");
    n.r.ok("sysctl", &["-w", "net.inet.ip.forwarding=1"]);
    let after = n.a.run("ping", &["-c", "1", "10.2.0.2"]);
    assert_eq!(after.code, Some(0), "{after:#?}");
}

#[test]
fn sigint_ends_the_run_with_the_summary() {
    if !need_root("sigint_ends_the_run_with_the_summary") {
        return;
    }
    let h = TempDir::new();
    let a = hub_stack(&[&h.join("hub")], false);
    let b = hub_stack(&[&h.join("hub")], false);
    a.ok("ifconfig", &["en0", "10.1.0.2/24"]);
    b.ok("ifconfig", &["en0", "10.1.0.1/24"]);
    // No count: it runs until interrupted.
    let mut c = a.command("ping", &["-i", "0.2", "10.1.0.1"]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
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
    let nowhere = [("SOCK", std::ffi::OsStr::new("/nonexistent-pktbox-prefix"))];
    for (args, msg) in cases {
        let mut a = vec!["ping"];
        a.extend_from_slice(args);
        // No stack is needed to refuse an argument.
        let r = pktbox(&a, &nowhere);
        assert_eq!(r.code, Some(1), "{a:?}: {r:#?}");
        assert_eq!(r.stderr, *msg, "{a:?}: {r:#?}");
        assert!(r.stdout.is_empty(), "{a:?}: {r:#?}");
    }
    // No host, two hosts, an unknown option: the usage, exit 1.
    for a in [
        &["ping"][..],
        &["ping", "10.0.0.1", "10.0.0.2"],
        &["ping", "-Z", "10.0.0.1"],
    ] {
        let r = pktbox(a, &[]);
        assert_eq!(r.code, Some(1), "{a:?}: {r:#?}");
        assert!(r.stderr.contains("ping [-aCfnoPQqv] [-c count]"), "{a:?}: {r:#?}");
    }
    // Good arguments but no stack: the message every tool gives, exit 1.
    let r = pktbox(["ping", "10.0.0.1"], &nowhere);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert_eq!(
        r.stderr,
        "ping: no stack at /nonexistent-pktbox-prefix/dev/socket (is io-pkt running? set SOCK=<prefix>)\n"
    );
    // --help works anywhere.
    let h = pktbox(["ping", "--help"], &[]);
    assert_eq!(h.code, Some(0), "{h:#?}");
    assert!(h.stdout.contains("maxwait"), "{h:#?}");
}

#[test]
fn ping_as_non_root_is_refused() {
    if !can_run_as_nobody("ping_as_non_root_is_refused") {
        return;
    }
    let s = StackProc::start(&[]);
    // Let an unprivileged user reach the channel, then ask as that user.
    let exe = open_to_others(&s);
    let r = as_nobody(&s, &exe, &["ping", "-c", "1", "127.0.0.1"]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert_eq!(
        r.stderr, "ping: Cannot create socket: Operation not permitted\n",
        "{r:#?}"
    );
    assert!(r.stdout.is_empty(), "{r:#?}");
    // Root options are refused before anything is sent.
    let f = as_nobody(&s, &exe, &["ping", "-f", "127.0.0.1"]);
    assert_eq!(f.code, Some(1), "{f:#?}");
    assert_eq!(f.stderr, "ping: Must be superuser to use -f\n");
}

#[test]
fn linux_and_the_stack_ping_each_other_through_a_tap() {
    if !can_run_linux("linux_and_the_stack_ping_each_other_through_a_tap", &["ip", "ping"]) {
        return;
    }
    // Declared first, dropped last: the stack stops before its namespace goes.
    let ns = NetNs::new();
    let (st, _stack) = start_in_netns(&ns, "tap", "tap=tap0,host=10.78.0.1/24");
    st.ok("ifconfig", &["en0", "10.78.0.2/24"]);
    let linux = |args: &[&str]| {
        let mut full = vec!["netns", "exec", &ns.name];
        full.extend_from_slice(args);
        run("ip", full)
    };

    // Linux's ping to the stack.
    let r = linux(&["ping", "-c", "3", "-i", "0.2", "-W", "5", "10.78.0.2"]);
    assert_eq!(r.code, Some(0), "Linux ping: {r:#?}");
    assert!(r.stdout.contains("3 received"), "Linux ping: {r:#?}");

    // The stack's ping to Linux.
    let r = st.run("ping", &["-c", "3", "-i", "0.2", "10.78.0.1"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    let lines = reply_lines(&r.stdout);
    assert_eq!(lines.len(), 3, "{r:#?}");
    assert!(
        lines[0].starts_with("64 bytes from 10.78.0.1: icmp_seq=0 ttl=64 time="),
        "{r:#?}"
    );
    assert!(
        r.stdout
            .contains("3 packets transmitted, 3 packets received, 0.0% packet loss"),
        "{r:#?}"
    );

    // A large one both ways: fragments from Linux reassembled here, and ours there.
    let r = linux(&["ping", "-c", "1", "-s", "3000", "-W", "5", "10.78.0.2"]);
    assert_eq!(r.code, Some(0), "Linux ping -s 3000: {r:#?}");
    let r = st.run("ping", &["-c", "1", "-s", "3000", "10.78.0.1"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(r.stdout.contains("3008 bytes from 10.78.0.1: icmp_seq=0"), "{r:#?}");
}
