//! io-pkt's life: it returns once the stack answers, one stack per prefix, stale sockets
//! are taken over, SIGTERM cleans up, and bad options are reported the io-pkt way.

use std::process::{Command, Stdio};

use pktbox_tests::*;

#[test]
fn start_returns_once_the_stack_answers() {
    // Several times: the first request after io-pkt returns must always be served.
    for _ in 0..5 {
        let (l, r) = (free_udp_port(), free_udp_port());
        let st = StackProc::start(&["-d", "udp", &format!("local=127.0.0.1:{l},remote=127.0.0.1:{r}")]);
        assert_eq!(st.ok("ifconfig", &["-l"]), "lo0 en0\n");
        assert!(st.socket_path().exists());
        // lo0 is up with 127.0.0.1/8 from the start.
        assert_eq!(
            st.ok("ifconfig", &["lo0"]),
            "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 33624\n\
             \tinet 127.0.0.1 netmask 0xff000000\n"
        );
    }
}

#[test]
fn a_background_stack_logs_under_its_prefix() {
    let st = StackProc::start(&["-p", "tcpip", "foo"]);
    let log = st.prefix().join("var/log/io-pkt.log");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(text.contains("tcpip: unrecognized option: \"foo\""), "log: {text}");
}

#[test]
fn one_stack_per_prefix() {
    let st = StackProc::start(&[]);
    let pid = st.pid();
    let again = |fg: bool| {
        let mut args = vec![
            "io-pkt-v4".to_string(),
            "-ptcpip".into(),
            format!("prefix={}", st.prefix().display()),
        ];
        if fg {
            args.push("-f".into());
        }
        pktbox(&args, &[])
    };
    for fg in [false, true] {
        let o = again(fg);
        assert_eq!(o.code, Some(1), "second stack (-f: {fg}): {o:#?}");
        assert_eq!(
            o.stderr,
            format!(
                "io-pkt-v4: a stack is already running at {} (pid {pid})\n",
                st.socket_path().display()
            )
        );
    }
    // The first one is untouched and still answers, with its socket in place.
    assert!(st.alive());
    assert!(st.socket_path().exists());
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0\n");
    assert_eq!(st.open().hello().pid as i32, pid);
}

#[test]
fn a_stale_socket_is_taken_over() {
    let mut st = StackProc::start(&[]);
    let old = st.pid();
    assert!(st.kill(), "SIGKILL ends the stack");
    // A killed stack leaves its socket file behind, and nobody answers there.
    assert!(st.socket_path().exists());
    let o = st.run("ifconfig", &["-a"]).code(1);
    assert!(o.stderr.contains("no stack at"), "{o:#?}");

    let o = st.start_here(&[]);
    assert_eq!(o.code, Some(0), "restart over a stale socket: {o:#?}");
    assert_ne!(st.pid(), old);
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0\n");
}

#[test]
fn sigterm_removes_the_socket() {
    let mut st = StackProc::start(&[]);
    let sock = st.socket_path();
    assert!(sock.exists());
    assert!(st.terminate(), "SIGTERM ends the stack");
    assert!(!sock.exists(), "{} left behind", sock.display());
    assert!(!st.prefix().join("dev/socket.lock").exists(), "lock file left behind");
    let o = st.run("ifconfig", &["-a"]).code(1);
    assert_eq!(
        o.stderr,
        format!(
            "ifconfig: no stack at {} (is io-pkt running? set SOCK=<prefix>)\n",
            sock.display()
        )
    );
    // And the prefix can be used again.
    st.start_here(&[]).ok();
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0\n");
}

#[test]
fn a_foreground_stack_ends_cleanly_on_sigterm() {
    let guard = StackProc::new_prefix("io-pkt-v4");
    let sock = guard.socket_path();
    let (l, r) = (free_udp_port(), free_udp_port());
    let mut cmd = Command::new(bin());
    cmd.args([
        "io-pkt-v4",
        "-f",
        "-ptcpip",
        &format!("prefix={}", guard.prefix().display()),
        "-d",
        "udp",
        &format!("local=127.0.0.1:{l},remote=127.0.0.1:{r}"),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut child = ChildGuard::spawn(cmd);
    wait_for("the foreground stack to answer", || {
        if let Some(c) = child.try_code() {
            panic!("the stack exited early: {c:?}");
        }
        pktbox_stack::socket::Stack::open_at(guard.prefix()).ok()
    });
    // It is this very process that answers.
    let s = guard.open();
    assert_eq!(s.hello().pid, child.child.id());
    drop(s);
    assert_eq!(guard.ok("ifconfig", &["-l"]), "lo0 en0\n");
    assert_eq!(child.terminate(), Some(0), "exit status after SIGTERM");
    assert!(!sock.exists(), "{} left behind", sock.display());
    // The UDP port is free again: the driver let go of it.
    std::net::UdpSocket::bind(("127.0.0.1", l)).expect("the stack released its UDP port");
}

#[test]
fn a_bad_driver_option_stops_io_pkt() {
    let d = TempDir::new();
    let hubopt = format!("path={},mtu=20", d.join("hub").display());
    for (args, msg) in [
        (
            vec!["-d", "udp", "bogus=1"],
            "io-pkt-v4: -d udp: unrecognized option: \"bogus\"",
        ),
        (
            vec!["-d", "udp", "local=127.0.0.1:1"],
            "io-pkt-v4: -d udp: remote=ADDR:PORT is required",
        ),
        (
            vec!["-d", "nosuch"],
            "io-pkt-v4: -d nosuch: no such driver (this build has: tap, udp, hub, raw)",
        ),
        (
            vec!["-d", "hub", hubopt.as_str()],
            "io-pkt-v4: -d hub: mtu=20: out of range 68-9000",
        ),
    ] {
        let mut st = StackProc::new_prefix("io-pkt-v4");
        let o = st.start_here(&args);
        assert_eq!(o.code, Some(1), "{args:?}: {o:#?}");
        assert_eq!(o.stderr, format!("{msg}\n"), "{args:?}");
        assert!(!st.socket_path().exists(), "{args:?} left a socket");
        assert!(!st.alive());
    }
    assert!(!d.join("hub").exists(), "the refused hub made its directory");
    // A driver that fails after others opened: the port the first one bound is released.
    let port = free_udp_port();
    let mut st = StackProc::new_prefix("io-pkt-v4");
    let o = st.start_here(&[
        "-d",
        "udp",
        &format!("local=127.0.0.1:{port},remote=127.0.0.1:9"),
        "-d",
        "udp",
        "bogus=1",
    ]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    std::net::UdpSocket::bind(("127.0.0.1", port)).expect("port released");
    // Two interfaces on the same local port: the second bind fails, by name.
    let mut st = StackProc::new_prefix("io-pkt-v4");
    let opt = format!("local=127.0.0.1:{port},remote=127.0.0.1:9");
    let o = st.start_here(&["-d", "udp", &opt, "-d", "udp", &opt]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert!(o.stderr.starts_with("io-pkt-v4: -d udp: bind 127.0.0.1:"), "{o:#?}");
}

#[test]
fn unknown_tcpip_options_are_reported_and_skipped() {
    let mut st = StackProc::new_prefix("io-pkt-v4");
    let o = st.start_here(&["-p", "tcpip", "foo"]);
    assert_eq!(o.code, Some(0), "{o:#?}");
    assert_eq!(o.stderr, "io-pkt-v4: tcpip: unrecognized option: \"foo\"\n");
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0\n");
    // Inside a word with known options too, which still take effect.
    let mut st = StackProc::new_prefix("io-pkt-v4");
    let prefix = st.prefix().display().to_string();
    let o = pktbox(
        ["io-pkt-v4", "-p", "tcpip", &format!("bar,prefix={prefix},forward")],
        &[],
    );
    assert_eq!(o.code, Some(0), "{o:#?}");
    st.adopt();
    assert_eq!(o.stderr, "io-pkt-v4: tcpip: unrecognized option: \"bar\"\n");
    assert_eq!(st.ok("sysctl", &["-n", "net.inet.ip.forwarding"]), "1\n");
}

#[test]
fn variants_refuse_what_they_lack() {
    let mut st = StackProc::new_prefix("io-pkt-v4");
    let o = st.start_here(&["-p", "tcpip", "ipsec"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert!(o.stderr.contains("io-pkt-v4-hc"), "{o:#?}");
    assert!(o.stderr.starts_with("io-pkt-v4: "), "{o:#?}");
    assert!(!st.socket_path().exists());
    let o = st.start_here(&["-p", "tcpip", "forward6"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert!(o.stderr.contains("io-pkt-v6-hc"), "{o:#?}");
    // Unknown protocol modules and bad values are refused by name.
    let o = st.start_here(&["-p", "nosuch"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert!(o.stderr.contains("nosuch"), "{o:#?}");
    let o = st.start_here(&["-p", "tcpip", "threads_min=0"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert!(o.stderr.contains("threads_min=0"), "{o:#?}");
    let o = pktbox(["io-pkt-v4", "-p", "tcpip", "prefix=relative"], &[]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert!(o.stderr.contains("absolute"), "{o:#?}");
    // Each variant reports its own name.
    for v in ["io-pkt-v4-hc", "io-pkt-v6-hc", "io-pkt"] {
        let st = StackProc::start_variant(v, &[]);
        let want = if v == "io-pkt" { "io-pkt-v6-hc" } else { v };
        assert_eq!(st.open().hello().variant, want);
    }
}

#[test]
fn option_words_attach_or_follow() {
    // `-dudp OPTS` and `-d udp OPTS` are the same; so are `-ptcpip` and `-p tcpip`.
    let (l, r) = (free_udp_port(), free_udp_port());
    let st = StackProc::start(&[
        "-dudp",
        &format!("local=127.0.0.1:{l},remote=127.0.0.1:{r},name=wan0,mtu=1400,mac=020000abcdef"),
    ]);
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0 wan0\n");
    let j = st.if_json("wan0");
    assert_eq!(j["mtu"], 1400);
    assert_eq!(j["address"], "02:00:00:ab:cd:ef");
}
