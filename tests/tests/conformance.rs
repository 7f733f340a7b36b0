//! NetBSD conformance of the tools (issue 15): each command run as a NetBSD script runs
//! it, its output compared with the form NetBSD's man page and source print, and its error
//! paths with NetBSD's words and exit codes.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddrV4;
use std::process::{Command, Stdio};
use std::time::Duration;

use pktbox_stack::socket::{TcpListener, TcpStream};
use pktbox_tests::*;

/// Every applet, with an option letter it does not have.
const BOGUS: &[(&str, &str)] = &[
    ("io-pkt", "Z"),
    ("io-pkt-v4", "Z"),
    ("ifconfig", "Z"),
    ("sysctl", "Z"),
    ("route", "Z"),
    ("arp", "Z"),
    ("netstat", "Z"),
    ("ping", "Z"),
    ("nc", "Z"),
    ("tcpdump", "Z"),
];

#[test]
fn usage_errors_are_netbsds_for_every_applet() {
    for (applet, letter) in BOGUS {
        let o = pktbox([*applet, &format!("-{letter}")], &[]);
        // NetBSD's tools exit 1 from usage(); pktbox's own io-pkt keeps DESIGN.md's 2.
        let want = if applet.starts_with("io-pkt") { 2 } else { 1 };
        assert_eq!(o.code, Some(want), "{applet}: {o:#?}");
        assert_eq!(o.stdout, "", "{applet}");
        assert!(
            o.stderr.starts_with(&format!("{applet}: unknown option -- {letter}\n")),
            "{applet}: {}",
            o.stderr
        );
        assert!(o.stderr.to_lowercase().contains("usage: "), "{applet}: {}", o.stderr);
        for clap_words in ["error:", "tip:", "For more information", "Usage: [OPTIONS]"] {
            assert!(
                !o.stderr.contains(clap_words),
                "{applet} shows {clap_words:?}: {}",
                o.stderr
            );
        }
    }
    // A long option nobody has.
    let o = pktbox(["route", "--frobnicate"], &[]).code(1);
    assert!(
        o.stderr
            .starts_with("route: unknown option -- -frobnicate\nusage: route "),
        "{o:#?}"
    );
    // A missing option value and a bad one, getopt's and the tool's words.
    let o = pktbox(["ifconfig", "-w"], &[]).code(1);
    assert!(
        o.stderr
            .starts_with("ifconfig: option requires an argument -- w\nusage: ifconfig "),
        "{o:#?}"
    );
    let o = pktbox(["ifconfig", "-w", "soon"], &[]).code(1);
    assert!(
        o.stderr.starts_with("ifconfig: soon: invalid argument to -w\n"),
        "{o:#?}"
    );
    let o = pktbox(["nc", "-w"], &[]).code(1);
    assert!(o.stderr.starts_with("nc: option requires an argument -- w\n"), "{o:#?}");
    // ping writes its synopsis on the line after `usage: `, as NetBSD's ping.
    let o = pktbox(["ping", "-Z"], &[]).code(1);
    assert!(o.stderr.contains("\nusage: \nping ["), "{o:#?}");
    // Missing operands: only the usage. arp's says `Usage:`, as NetBSD's arp.c.
    let o = pktbox(["arp"], &[]).code(1);
    assert_eq!(
        o.stderr,
        "Usage: arp [-n] hostname\n       arp [-nv] -a\n       arp [-v] -d [-a|hostname [proxy]]\n       \
         arp -s hostname ether_addr [temp] [pub [proxy]]\n       arp -f filename\n"
    );
    pktbox(["arp", "-d", "-s", "10.0.0.1"], &[]).code(1);
    pktbox(["arp", "-s", "10.0.0.1"], &[]).code(1);
    pktbox(["arp", "-d", "-a", "10.0.0.1"], &[]).code(1);
    let o = pktbox(["netstat", "-c", "1"], &[]).code(1);
    assert_eq!(o.stderr, "netstat: -c goes with -w\n");
    // --help still helps, exit 0.
    pktbox(["arp", "--help"], &[]).ok();
}

#[test]
fn ifconfig_w_returns_at_once_without_tentative_addresses() {
    let (a, _b) = udp_pair(61);
    // Only waiting: no output, exit 0.
    assert_eq!(a.ok("ifconfig", &["-w", "30"]), "");
    // With an interface, it shows it after the wait.
    let o = a.ok("ifconfig", &["-w", "1", "en0"]);
    assert!(o.starts_with("en0: flags="), "{o}");
    assert!(o.contains("\tinet 10.61.0.1 netmask 0xffffff00"), "{o}");
    assert!(!o.contains("tentative"), "{o}");
    let j = a.if_json("en0");
    assert_eq!(j["inet"][0]["tentative"], false, "{j}");
}

#[test]
fn arp_like_netbsd() {
    let (a, b) = udp_pair(62);
    let amac = mac_str(&a.mac("en0"));
    // Static, temporary, published and proxy-only entries, as NetBSD's dump() prints them.
    assert_eq!(a.ok("arp", &["-s", "10.62.0.9", "02:00:00:00:00:09"]), "");
    assert_eq!(
        a.ok("arp", &["-n", "10.62.0.9"]),
        "? (10.62.0.9) at 02:00:00:00:00:09 on en0 permanent\n"
    );
    assert_eq!(
        a.ok("arp", &["-v", "-s", "10.62.0.10", "2:0:0:0:0:a", "temp"]),
        "10.62.0.10 (2:0:0:0:0:a) added\n"
    );
    assert_eq!(
        a.ok("arp", &["-n", "10.62.0.10"]),
        "? (10.62.0.10) at 02:00:00:00:00:0a on en0\n"
    );
    a.ok("arp", &["-s", "10.62.0.11", "auto", "pub", "proxy"]);
    a.ok("arp", &["-s", "10.62.0.12", "02:00:00:00:00:0c", "pub"]);
    let all = a.ok("arp", &["-an"]);
    for line in [
        "? (10.62.0.9) at 02:00:00:00:00:09 on en0 permanent".to_string(),
        "? (10.62.0.10) at 02:00:00:00:00:0a on en0".to_string(),
        format!("? (10.62.0.11) at {amac} on en0 permanent published (proxy only)"),
        "? (10.62.0.12) at 02:00:00:00:00:0c on en0 permanent published".to_string(),
    ] {
        assert!(all.lines().any(|l| l == line), "{line:?} in:\n{all}");
    }
    // The proxy-only entry is answered by the stack: B's ARP request for 10.62.0.11 gets
    // A's address, which B's cache then holds.
    let _ = b.run("ping", &["-c", "1", "-w", "1", "10.62.0.11"]);
    let seen = wait_for("B to learn the proxied address", || {
        let o = b.run("arp", &["-n", "10.62.0.11"]);
        (o.code == Some(0) && !o.stdout.contains("incomplete")).then_some(o.stdout)
    });
    assert_eq!(seen, format!("? (10.62.0.11) at {amac} on en0\n"));
    // netstat -f arp stays, and shows the static entry.
    let n = a.ok("netstat", &["-rn", "-f", "arp"]);
    assert!(n.contains("10.62.0.9"), "{n}");

    // Deleting, and the error paths with NetBSD's words and exit codes.
    assert_eq!(a.ok("arp", &["-d", "10.62.0.9"]), "");
    let o = a.run("arp", &["-n", "10.62.0.9"]).code(1);
    assert_eq!(o.stderr, "arp: 10.62.0.9 (10.62.0.9) -- no entry\n");
    let o = a.run("arp", &["-d", "10.62.0.9"]).code(1);
    assert_eq!(o.stderr, "arp: delete: can't locate 10.62.0.9\n");
    let o = a.run("arp", &["-s", "10.99.0.1", "02:00:00:00:00:01"]).code(1);
    assert_eq!(o.stderr, "arp: cannot intuit interface index and type for 10.99.0.1\n");
    let o = a.run("arp", &["-s", "10.62.0.13", "zz:00"]).code(1);
    assert_eq!(o.stderr, "arp: invalid link-level address 'zz:00'\n");
    let o = a.run("arp", &["-n", "no-such-host.invalid"]).code(1);
    assert_eq!(o.stderr, "arp: no-such-host.invalid: Unknown host\n");
    // `proxy` deletes only the published entry.
    a.ok("arp", &["-d", "10.62.0.11", "proxy"]);
    a.run("arp", &["-n", "10.62.0.11"]).code(1);

    // -f: the arguments of -s, one line each; errors name the file and line.
    let d = TempDir::new();
    let f = d.join("ethers");
    std::fs::write(
        &f,
        "# static entries\n10.62.0.20 02:00:00:00:00:20\n10.62.0.21\n10.62.0.22 x pub\n\
         10.62.0.23 02:00:00:00:00:23 temp # a comment\n",
    )
    .unwrap();
    let fs = f.to_str().unwrap();
    let o = a.run("arp", &["-f", fs]).code(1);
    assert_eq!(
        o.stderr,
        format!("arp: {fs}:3: bad line: 10.62.0.21\narp: {fs}:4: invalid link-level address 'x'\n")
    );
    assert_eq!(
        a.ok("arp", &["-n", "10.62.0.20"]),
        "? (10.62.0.20) at 02:00:00:00:00:20 on en0 permanent\n"
    );
    assert_eq!(
        a.ok("arp", &["-n", "10.62.0.23"]),
        "? (10.62.0.23) at 02:00:00:00:00:23 on en0\n"
    );
    let o = a.run("arp", &["-f", "/nonexistent/ethers"]).code(1);
    assert_eq!(
        o.stderr,
        "arp: Cannot open /nonexistent/ethers: No such file or directory\n"
    );

    // -d -a removes everything, saying so with -v.
    let o = a.ok("arp", &["-v", "-d", "-a"]);
    assert!(o.lines().any(|l| l == "10.62.0.20 (10.62.0.20) deleted"), "{o}");
    assert_eq!(a.ok("arp", &["-an"]), "");
}

#[test]
fn arp_changes_need_root() {
    if !can_run_as_nobody("arp_changes_need_root") {
        return;
    }
    let (a, _b) = udp_pair(63);
    let exe = open_to_others(&a);
    let o = as_nobody(&a, &exe, &["arp", "-s", "10.63.0.9", "02:00:00:00:00:09"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, "arp: writing to routing socket: Permission denied\n");
    // Reading is open.
    let o = as_nobody(&a, &exe, &["arp", "-an"]);
    assert_eq!(o.code, Some(0), "{o:#?}");
}

#[test]
fn proxy_arp_is_answered_to_linux() {
    if !can_run_linux("proxy_arp_is_answered_to_linux", &["ip", "ping"]) {
        return;
    }
    let ns = NetNs::new();
    let (st, _child) = start_in_netns(&ns, "tap", "tap=tap0,host=10.64.0.1/24");
    st.ok("ifconfig", &["en0", "10.64.0.2/24"]);
    let mac = mac_str(&st.mac("en0"));
    st.ok("arp", &["-s", "10.64.0.50", "auto", "pub", "proxy"]);
    // Linux asks for 10.64.0.50 (its ping goes unanswered: nobody is there) and learns the
    // stack's address from the stack's answer.
    let _ = run(
        "ip",
        ["netns", "exec", &ns.name, "ping", "-c", "1", "-W", "1", "10.64.0.50"],
    );
    let neigh = run("ip", ["-n", &ns.name, "neigh", "show", "10.64.0.50", "dev", "tap0"]).ok();
    assert!(neigh.stdout.contains(&format!("lladdr {mac}")), "{neigh:#?}");
    // Deleted, it is no longer answered.
    st.ok("arp", &["-d", "10.64.0.50", "proxy"]);
    run("ip", ["-n", &ns.name, "neigh", "flush", "dev", "tap0"]).ok();
    let _ = run(
        "ip",
        ["netns", "exec", &ns.name, "ping", "-c", "1", "-W", "1", "10.64.0.50"],
    );
    let neigh = run("ip", ["-n", &ns.name, "neigh", "show", "10.64.0.50", "dev", "tap0"]).ok();
    assert!(!neigh.stdout.contains(&format!("lladdr {mac}")), "{neigh:#?}");
}

#[test]
fn sysctl_has_netbsds_inet_nodes() {
    let st = StackProc::start(&[]);
    assert_eq!(
        st.ok("sysctl", &["net.inet.arp"]),
        "net.inet.arp.down = 20\nnet.inet.arp.keep = 1200\nnet.inet.arp.log_movements = 1\n"
    );
    assert_eq!(
        st.ok("sysctl", &["net.inet.icmp.returndatabytes"]),
        "net.inet.icmp.returndatabytes = 8\n"
    );
    assert_eq!(
        st.ok("sysctl", &["net.inet.tcp.sack.enable"]),
        "net.inet.tcp.sack.enable = 1\n"
    );
    let all = st.ok("sysctl", &["-a"]);
    for node in [
        "net.inet.arp.keep = 1200",
        "net.inet.arp.down = 20",
        "net.inet.icmp.returndatabytes = 8",
        "net.inet.tcp.keepinit = 75",
        "net.inet.tcp.msl = 30",
        "net.inet.tcp.rfc1323 = 1",
        "net.inet.tcp.win_scale = 1",
        "net.inet.tcp.timestamps = 1",
        "net.inet.tcp.sack.enable = 1",
    ] {
        assert!(all.lines().any(|l| l == node), "{node} in sysctl -a:\n{all}");
    }
    assert_eq!(
        st.ok("sysctl", &["-w", "net.inet.arp.keep=60"]),
        "net.inet.arp.keep: 1200 -> 60\n"
    );
    let o = st.run("sysctl", &["-w", "net.inet.icmp.returndatabytes=4"]).code(1);
    assert!(
        o.stderr
            .starts_with("sysctl: net.inet.icmp.returndatabytes: Invalid argument"),
        "{o:#?}"
    );
    let o = st.run("sysctl", &["net.inet.udp.checksum"]).code(1);
    assert_eq!(
        o.stderr,
        "sysctl: third level name 'udp' in 'net.inet.udp.checksum' is invalid\n"
    );
    let o = st.run("sysctl", &["net.inet.arp.bogus"]).code(1);
    assert_eq!(
        o.stderr,
        "sysctl: fourth level name 'bogus' in 'net.inet.arp.bogus' is invalid\n"
    );
}

#[test]
fn sysctl_rfc1323_off_leaves_the_options_out_of_the_syn() {
    let (a, b) = udp_pair(65);
    a.ok("sysctl", &["-w", "net.inet.tcp.rfc1323=0"]);
    a.ok("sysctl", &["-w", "net.inet.tcp.sack.enable=0"]);
    let l = TcpListener::bind_at(b.prefix(), "10.65.0.2:7200", 4).unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["tcpdump", "-n", "-c", "1", "-i", "en0", "tcp[tcpflags] & tcp-syn != 0"])
        .env("SOCK", b.prefix())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut dump = ChildGuard::spawn(cmd);
    let mut err = BufReader::new(dump.child.stderr.take().unwrap());
    loop {
        let mut line = String::new();
        assert_ne!(err.read_line(&mut line).unwrap(), 0, "tcpdump ended before listening");
        if line.contains("listening on") {
            break;
        }
    }
    let _c = TcpStream::connect_at(a.prefix(), "10.65.0.2:7200", Some(Duration::from_secs(10))).unwrap();
    let (_s, _) = l.accept().unwrap();
    let mut out = String::new();
    dump.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    // The SYN carries only the MSS: no window scale, no timestamps, no SACK permitted.
    let syn = out
        .lines()
        .find(|l| l.contains("10.65.0.1.") && l.contains("[S]"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(syn.contains("options [mss "), "{syn}");
    for opt in ["wscale", "TS val", "sackOK"] {
        assert!(!syn.contains(opt), "{opt} in {syn}");
    }
}

#[test]
fn listen_queues_hold_3n_over_2_plus_1_as_netbsd() {
    let (a, b) = udp_pair(66);
    // Backlog 2, never accepted: sonewconn admits while qlen + q0len <= 3*2/2, so four.
    let _l = TcpListener::bind_at(a.prefix(), "10.66.0.1:7100", 2).unwrap();
    let mut conns = Vec::new();
    for i in 0..8u16 {
        let from = SocketAddrV4::new("10.66.0.2".parse().unwrap(), 40000 + i);
        // Past the limit the listener answers with SYN cookies, so every connect completes
        // on B's side; A keeps only what its queues hold.
        if let Ok(c) = TcpStream::connect_from(
            b.prefix(),
            Some(from.into()),
            "10.66.0.1:7100",
            Some(Duration::from_secs(5)),
        ) {
            conns.push(c);
        }
    }
    let established = |t: &str| {
        t.lines()
            .filter(|l| l.contains("10.66.0.1.7100") && l.contains("ESTABLISHED"))
            .count()
    };
    let n = wait_for("A's accept queue to fill", || {
        let t = a.ok("netstat", &["-an"]);
        (established(&t) >= 4).then(|| established(&t))
    });
    assert_eq!(n, 4, "{}", a.ok("netstat", &["-an"]));
    let st = a.open().stats().unwrap().tcp;
    assert!(st.listendrop > 0 || st.syncookiessent > 0, "{st:?}");
}

#[test]
fn nc_k_serves_linux_clients_that_come_while_it_serves() {
    if !can_run_linux(
        "nc_k_serves_linux_clients_that_come_while_it_serves",
        &["ip", "nc", "head"],
    ) {
        return;
    }
    let ns = NetNs::new();
    let (st, _child) = start_in_netns(&ns, "tap", "tap=tap0,host=10.67.0.1/24");
    st.ok("ifconfig", &["en0", "10.67.0.2/24"]);
    let d = TempDir::new();
    let out = d.join("received");
    let mut cmd = st.command("nc", &["-l", "-k", "7000"]);
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null());
    let mut server = ChildGuard::spawn(cmd);
    wait_for("nc to listen", || {
        st.ok("netstat", &["-an"]).contains("*.7000").then_some(())
    });
    // Eight Linux nc clients at once, each connecting, sending 20 KB and closing, 3 times.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            Command::new("ip")
                .args(["netns", "exec", &ns.name, "sh", "-c"])
                .arg("for i in 1 2 3; do head -c 20480 /dev/zero | nc -N -w 20 10.67.0.2 7000 || exit 1; done")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in clients {
        assert!(c.wait().unwrap().success(), "a Linux client failed");
    }
    let want = 8 * 3 * 20480;
    let got = || std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while got() != want && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(got(), want, "{}", st.ok("netstat", &["-s", "-p", "tcp"]));
    assert!(server.try_code().is_none(), "nc -l -k stopped");
    server.terminate();
}
