//! The IPv6 tools (issue 9, item 4): ping6 (and ping given an IPv6 address), ndp, netstat
//! -s -p ip6|icmp6, tcpdump capturing v6 live. Linux's kernel is the referee over a TAP
//! in a namespace of the test's own; three stacks on hubs route v6 to each other.

use std::process::Stdio;

use pktbox_tests::*;

/// The inet6 lines of `ifconfig IF`.
fn inet6_lines(st: &StackProc, ifname: &str) -> Vec<String> {
    st.ok("ifconfig", &[ifname])
        .lines()
        .filter(|l| l.trim_start().starts_with("inet6 "))
        .map(|l| l.trim().to_string())
        .collect()
}

/// Waits until `addr` is on the interface and no longer tentative.
fn wait_usable(st: &StackProc, ifname: &str, addr: &str) {
    wait_for(&format!("{addr} on {ifname} to pass DAD"), || {
        inet6_lines(st, ifname)
            .into_iter()
            .find(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| a.split('%').next() == Some(addr))
                    && !l.contains("tentative")
            })
            .map(|_| ())
    })
}

/// The stack's usable link-local address on `ifname`, without its scope.
fn link_local(st: &StackProc, ifname: &str) -> String {
    wait_for("a usable link-local address", || {
        inet6_lines(st, ifname)
            .into_iter()
            .find(|l| l.starts_with("inet6 fe80:") && !l.contains("tentative"))
            .and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .map(|a| a.split('%').next().unwrap_or(a).to_string())
            })
    })
}

/// How many echo requests a ping6 run says it sent.
fn transmitted(out: &str) -> u64 {
    out.lines()
        .find_map(|l| {
            l.strip_suffix(" packet loss")
                .and(l.split(" packets transmitted").next())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no statistics in {out}"))
}

/// The `\t\techo: N` line of the icmp6 output histogram.
fn echo_out(st: &StackProc) -> u64 {
    let s = st.ok("netstat", &["-s", "-p", "icmp6"]);
    let mut in_out = false;
    for l in s.lines() {
        if l == "\tOutput histogram:" {
            in_out = true;
        } else if !l.starts_with("\t\t") {
            in_out = false;
        } else if in_out {
            if let Some(n) = l.strip_prefix("\t\techo: ") {
                return n.parse().expect("a count");
            }
        }
    }
    0
}

/// `pktbox tcpdump ARGS` on a stack, started once it says it is listening.
struct Capture {
    child: ChildGuard,
}

impl Capture {
    fn start(st: &StackProc, args: &[&str]) -> Capture {
        use std::io::BufRead;
        let mut cmd = st.command("tcpdump", args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = ChildGuard::spawn(cmd);
        let err = child.child.stderr.take().expect("stderr");
        let mut err = std::io::BufReader::new(err);
        let mut line = String::new();
        while !line.contains("listening on") {
            line.clear();
            if err.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("tcpdump {args:?} ended before listening");
            }
        }
        Capture { child }
    }

    /// SIGINT, as a user's ^C; what it printed.
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.child.id() as i32, libc::SIGINT) };
        let mut out = String::new();
        if let Some(mut o) = self.child.child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut o, &mut out);
        }
        out
    }
}

/// A stack in a namespace with a TAP to Linux: Linux has 2001:db8:NET::1/64 (and a
/// link-local address), the stack 2001:db8:NET::2/64.
struct Lab {
    ns: NetNs,
    st: StackProc,
    _stack: ChildGuard,
    /// Linux's link-local address on tap0 and its MAC.
    linux_ll: String,
    linux_mac: String,
    net: u16,
}

impl Lab {
    fn new(net: u16) -> Lab {
        let ns = NetNs::new();
        let (st, stack) = start_variant_in_netns(
            &ns,
            "io-pkt-v6-hc",
            "tap",
            &format!("tap=tap0,host=10.{}.0.1/24", net % 200),
        );
        let lab = Lab {
            ns,
            st,
            _stack: stack,
            linux_ll: String::new(),
            linux_mac: String::new(),
            net,
        };
        let g = format!("2001:db8:{:x}::1/64", net);
        lab.linux(&["ip", "-6", "addr", "add", &g, "dev", "tap0", "nodad"]).ok();
        let mine = format!("2001:db8:{:x}::2", net);
        lab.st.ok("ifconfig", &["en0", "inet6", &mine, "prefixlen", "64"]);
        wait_usable(&lab.st, "en0", &mine);
        link_local(&lab.st, "en0");
        let linux_ll = wait_for("Linux's link-local address", || {
            let r = lab.linux(&["ip", "-6", "-o", "addr", "show", "dev", "tap0", "scope", "link"]);
            r.stdout
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .filter(|_| !r.stdout.contains("tentative"))
                .map(|a| a.split('/').next().unwrap_or(a).to_string())
        });
        let r = lab.linux(&["cat", "/sys/class/net/tap0/address"]);
        Lab {
            linux_ll,
            linux_mac: r.stdout.trim().to_string(),
            ..lab
        }
    }

    fn linux(&self, args: &[&str]) -> Output {
        let mut full = vec!["netns", "exec", &self.ns.name];
        full.extend_from_slice(args);
        run("ip", full)
    }

    fn linux_global(&self) -> String {
        format!("2001:db8:{:x}::1", self.net)
    }
}

#[test]
fn ping6_reaches_linux_link_local_global_and_with_fragments() {
    if !can_run_linux("ping6_reaches_linux_link_local_global_and_with_fragments", &["ip"]) {
        return;
    }
    let lab = Lab::new(0x91);
    let st = &lab.st;
    let my_ll = link_local(st, "en0");
    let mut sent = 0;

    // Link-local with %scope: NetBSD's lines.
    let dst = format!("{}%en0", lab.linux_ll);
    let r = st.run("ping6", &["-c", "3", "-i", "0.2", &dst]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("PING6(56=40+8+8 bytes) {my_ll}%en0 --> {dst}"),
        "{r:#?}"
    );
    for (i, l) in lines[1..4].iter().enumerate() {
        let head = format!("16 bytes from {dst}, icmp_seq={i} hlim=64 time=");
        assert!(l.starts_with(&head) && l.ends_with(" ms"), "{l:?} vs {head:?}");
    }
    assert_eq!(lines[4], "");
    assert_eq!(lines[5], format!("--- {dst} ping6 statistics ---"));
    assert_eq!(lines[6], "3 packets transmitted, 3 packets received, 0.0% packet loss");
    assert!(lines[7].starts_with("round-trip min/avg/max/std-dev = "), "{r:#?}");
    sent += transmitted(&r.stdout);

    // The scope from -I instead.
    let r = st.run("ping6", &["-c", "2", "-i", "0.2", "-I", "en0", &lab.linux_ll]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout.contains(&format!("16 bytes from {dst}, icmp_seq=1 hlim=64")),
        "{r:#?}"
    );
    sent += transmitted(&r.stdout);

    // A global address; -q prints only the start and the statistics.
    let g = lab.linux_global();
    let r = st.run("ping6", &["-q", "-c", "2", "-i", "0.2", &g]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(
        r.stdout.lines().next(),
        Some(format!("PING6(56=40+8+8 bytes) 2001:db8:91::2 --> {g}").as_str())
    );
    assert!(!r.stdout.contains("bytes from"), "{r:#?}");
    assert!(r
        .stdout
        .contains("2 packets transmitted, 2 packets received, 0.0% packet loss"));
    sent += transmitted(&r.stdout);

    // 4000 bytes of data: fragmented on the way out, Linux's reply reassembled here.
    let before = st.open().stats6().expect("ip6 counters");
    let r = st.run("ping6", &["-c", "1", "-s", "4000", &g]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(r.stdout.starts_with("PING6(4048=40+8+4000 bytes) "), "{r:#?}");
    assert!(
        r.stdout
            .contains(&format!("4008 bytes from {g}, icmp_seq=0 hlim=64 time=")),
        "{r:#?}"
    );
    let after = st.open().stats6().expect("ip6 counters");
    assert!(after.ip6.fragmented > before.ip6.fragmented, "{after:?}");
    assert!(after.ip6.reassembled > before.ip6.reassembled, "{after:?}");
    sent += transmitted(&r.stdout);

    // ping hands an IPv6 address to the same code.
    let r = st.run("ping", &["-c", "2", "-i", "0.2", &g]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(r.stdout.starts_with("PING6(56=40+8+8 bytes) "), "{r:#?}");
    assert!(r.stdout.contains(&format!("--- {g} ping6 statistics ---")), "{r:#?}");
    sent += transmitted(&r.stdout);

    // tcpdump on the stack's interface, filtering v6 live: exactly the echo requests and
    // replies of one more ping6, and nothing but ICMPv6 (ND and MLD are ICMPv6 too).
    let dump = Capture::start(st, &["-i", "en0", "-nn", "-l", "ip6 and icmp6"]);
    let r = st.run("ping6", &["-c", "2", "-i", "0.2", &g]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    sent += transmitted(&r.stdout);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let printed = dump.stop();
    let lines: Vec<&str> = printed.lines().collect();
    assert!(
        lines.iter().all(|l| l.contains(" IP6 ") && l.contains("ICMP6")),
        "{printed}"
    );
    for (what, from, to) in [
        ("echo request", "2001:db8:91::2", g.as_str()),
        ("echo reply", g.as_str(), "2001:db8:91::2"),
    ] {
        let n = lines
            .iter()
            .filter(|l| l.contains(&format!(" IP6 {from} > {to}: ICMP6, {what}, id ")) && l.ends_with(", length 16"))
            .count();
        assert_eq!(n, 2, "{what} in {printed}");
    }

    // netstat counts exactly the echo requests sent.
    assert_eq!(echo_out(st), sent);
    let s = st.ok("netstat", &["-s", "-p", "icmp6"]);
    assert!(s.starts_with("icmp6:\n"), "{s}");
    assert!(s.contains(&format!("\t\techo reply: {sent}\n")), "{s}");
    let s = st.ok("netstat", &["-s", "-p", "ip6"]);
    assert!(s.starts_with("ip6:\n\t"), "{s}");
    assert!(s.contains(" fragments created\n"), "{s}");
    let j: serde_json::Value = serde_json::from_str(&st.ok("netstat", &["-s", "-p", "icmp6", "--json"])).expect("json");
    assert_eq!(j["icmp6"]["outhist"][128].as_u64(), Some(sent), "{j}");

    // Nobody there: no reply, exit 2 and 100% loss.
    let r = st.run("ping6", &["-c", "1", "-X", "3", "2001:db8:91::77"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    assert!(
        r.stdout
            .contains("1 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{r:#?}"
    );
    // No route: the stack says so before anything is sent.
    let r = st.run("ping6", &["-c", "1", "2001:db8:99::1"]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(r.stderr.starts_with("ping6: UDP connect: "), "{r:#?}");
    let r = st.run("ping6", &["-c", "1", "fe80::1%en9"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ping6: en9: invalid interface name\n")
    );
}

#[test]
fn ndp_shows_deletes_and_clears_linux_as_a_neighbor() {
    if !can_run_linux("ndp_shows_deletes_and_clears_linux_as_a_neighbor", &["ip"]) {
        return;
    }
    let lab = Lab::new(0x92);
    let st = &lab.st;
    let g = lab.linux_global();
    st.ok("ping6", &["-c", "1", &g]);
    st.ok("ping6", &["-c", "1", &format!("{}%en0", lab.linux_ll)]);
    let out = st.ok("ndp", &["-an"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "Neighbor                                Linklayer Address  Netif Expire    S Fl"
    );
    for a in [g.clone(), format!("{}%en0", lab.linux_ll)] {
        let row = lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(a.as_str()))
            .unwrap_or_else(|| panic!("{a} in {out}"));
        let f: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(f[1], lab.linux_mac, "{row}");
        assert_eq!(f[2], "en0", "{row}");
        assert!(["R", "S", "D", "P"].contains(&f[4]), "{row}");
    }
    let j: serde_json::Value = serde_json::from_str(&st.ok("ndp", &["-an", "--json"])).expect("json");
    assert!(
        j.as_array()
            .expect("a list")
            .iter()
            .any(|e| e["neighbor"] == g.as_str() && e["lladdr"] == lab.linux_mac.as_str()),
        "{j}"
    );
    // One entry by name.
    let out = st.ok("ndp", &["-n", &g]);
    assert_eq!(out.lines().count(), 2, "{out}");

    // Delete, then it is gone.
    let r = st.run("ndp", &["-d", &g]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (Some(0), format!("{g} ({g}) deleted\n").as_str())
    );
    let r = st.run("ndp", &["-d", &g]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (Some(1), format!("{g} ({g}) -- no entry\n").as_str())
    );
    let r = st.run("ndp", &["-n", &g]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    // -c deletes the rest (the link-local one at least).
    let r = st.run("ndp", &["-c"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout
            .contains(&format!("{}%en0 ({}) deleted\n", lab.linux_ll, lab.linux_ll)),
        "{r:#?}"
    );
    // ND parameters of the interface.
    let out = st.ok("ndp", &["-i", "en0"]);
    assert_eq!(
        out,
        "linkmtu=0, maxmtu=1500, curhlim=64, basereachable=30s0ms, reachable=30s, retrans=1s0ms\nFlags: nud auto_linklocal\n"
    );
    // Errors.
    let r = st.run("ndp", &["-i", "en9"]);
    assert_eq!((r.code, r.stderr.as_str()), (Some(1), "ndp: en9: no such interface\n"));
    // A static entry: permanent, REACHABLE, what Linux says does not change it.
    st.ok("ndp", &["-s", "2001:db8:92::9", "02:00:00:00:00:09"]);
    let row = st.ok("ndp", &["-n", "2001:db8:92::9"]);
    let f: Vec<&str> = row.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(
        f,
        ["2001:db8:92::9", "02:00:00:00:00:09", "en0", "permanent", "R"],
        "{row}"
    );
    st.ok("ndp", &["-s", &g, "02:00:00:00:00:01", "temp"]);
    let row = st.ok("ndp", &["-n", &g]);
    assert!(
        row.contains(" 02:00:00:00:00:01 ") && !row.contains("permanent"),
        "{row}"
    );
    let r = st.run("ndp", &["-s", "2001:db8:99::9", "02:00:00:00:00:09"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ndp: set: 2001:db8:99::9: not on a connected link\n")
    );
    // A proxy entry: the stack answers Linux's solicitations for 2001:db8:92::77 with the
    // MAC given (here a made-up one), and lists it with the p flag.
    st.ok("ndp", &["-s", "2001:db8:92::77", "02:00:00:00:77:77", "proxy"]);
    let row = st.ok("ndp", &["-n", "2001:db8:92::77"]);
    let f: Vec<&str> = row.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(
        f,
        ["2001:db8:92::77", "02:00:00:00:77:77", "en0", "permanent", "R", "p"],
        "{row}"
    );
    let _ = lab.linux(&["ping", "-6", "-c", "1", "-W", "1", "2001:db8:92::77"]);
    let n = wait_for("Linux to learn the proxied address", || {
        let r = lab.linux(&["ip", "-6", "neigh", "show", "2001:db8:92::77", "dev", "tap0"]);
        r.stdout.contains("lladdr").then_some(r.stdout)
    });
    assert!(n.contains("lladdr 02:00:00:00:77:77"), "{n}");
    // Not a router, and without the override flag (Linux shows no "router").
    assert!(!n.contains("router"), "{n}");
    st.ok("ndp", &["-d", "2001:db8:92::77"]);
    assert_eq!(st.run("ndp", &["-n", "2001:db8:92::77"]).code, Some(1));
    lab.linux(&["ip", "-6", "neigh", "flush", "dev", "tap0"]).ok();
    let _ = lab.linux(&["ping", "-6", "-c", "1", "-W", "1", "2001:db8:92::77"]);
    let n = lab.linux(&["ip", "-6", "neigh", "show", "2001:db8:92::77", "dev", "tap0"]);
    assert!(!n.stdout.contains("lladdr"), "answered after ndp -d: {n:#?}");
    let r = st.run("ndp", &["-s", &g, "zz"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ndp: zz: invalid link-layer address\n")
    );
    st.ok("ndp", &["-d", "2001:db8:92::9"]);
    let r = st.run("ndp", &["-a", "-d", &g]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(r.stderr.starts_with("usage: ndp "), "{r:#?}");
}

#[test]
fn ndp_lists_the_prefix_and_router_radvd_advertises() {
    if !can_run_linux("ndp_lists_the_prefix_and_router_radvd_advertises", &["ip", "radvd"]) {
        return;
    }
    let lab = Lab::new(0x93);
    let st = &lab.st;
    lab.linux(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]).ok();
    st.ok("sysctl", &["-w", "net.inet6.ip6.accept_rtadv=1"]);
    let dir = TempDir::new();
    let conf = dir.join("radvd.conf");
    std::fs::write(
        &conf,
        "interface tap0 {\n AdvSendAdvert on;\n AdvOtherConfigFlag on;\n MinRtrAdvInterval 3;\n \
         MaxRtrAdvInterval 4;\n AdvDefaultLifetime 1800;\n prefix 2001:db8:93::/64 {\n  AdvOnLink on;\n  \
         AdvAutonomous on;\n  AdvValidLifetime 86400;\n  AdvPreferredLifetime 14400;\n };\n};\n",
    )
    .expect("radvd.conf");
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &lab.ns.name])
        .arg(tool("radvd").expect("radvd"))
        .args(["-n", "-m", "stderr", "-C"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.join("radvd.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _rd = ChildGuard::spawn(cmd);
    let ll = format!("{}%en0", lab.linux_ll);
    let out = wait_for("the prefix list", || {
        let o = st.ok("ndp", &["-p"]);
        o.contains("2001:db8:93::/64").then_some(o)
    });
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "2001:db8:93::/64 if=en0", "{out}");
    assert!(
        lines[1].starts_with("flags=LAO vltime=86400, pltime=14400, expire=") && lines[1].ends_with(", ref=1"),
        "{out}"
    );
    assert_eq!(lines[2], "  advertised by", "{out}");
    assert!(lines[3].starts_with(&format!("    {ll} (")), "{out}");
    let out = st.ok("ndp", &["-r"]);
    let line = out.lines().next().unwrap_or_default();
    assert!(
        line.starts_with(&format!("{ll} if=en0, flags=O, pref=medium, expire=")),
        "{out}"
    );
    let out = st.ok("ndp", &["-i", "en0"]);
    assert!(out.ends_with("\nFlags: nud accept_rtadv auto_linklocal\n"), "{out}");
    let j: serde_json::Value = serde_json::from_str(&st.ok("ndp", &["-r", "--json"])).expect("json");
    assert_eq!(j[0]["router"], lab.linux_ll.as_str(), "{j}");
}

/// A --- hub1 --- B --- hub2 --- C, B forwarding v6, routes by `route add -inet6`.
#[test]
fn three_stacks_route_v6_and_ping6_reports_hop_limit_expiry() {
    let hubs = TempDir::new();
    let h1 = format!("path={}", hubs.join("hub1").display());
    let h2 = format!("path={}", hubs.join("hub2").display());
    let a = StackProc::start_variant("io-pkt-v6-hc", &["-d", "hub", &h1]);
    let b = StackProc::start_variant("io-pkt-v6-hc", &["-d", "hub", &h1, "-d", "hub", &h2]);
    let c = StackProc::start_variant("io-pkt-v6-hc", &["-d", "hub", &h2]);
    a.ok("ifconfig", &["en0", "inet6", "2001:db8:a::1/64"]);
    b.ok("ifconfig", &["en0", "inet6", "2001:db8:a::2/64"]);
    b.ok("ifconfig", &["en1", "inet6", "2001:db8:b::2/64"]);
    c.ok("ifconfig", &["en0", "inet6", "2001:db8:b::3/64"]);
    b.ok("sysctl", &["-w", "net.inet6.ip6.forwarding=1"]);
    a.ok("route", &["add", "-inet6", "2001:db8:b::/64", "2001:db8:a::2"]);
    c.ok("route", &["add", "-inet6", "default", "2001:db8:b::2"]);
    wait_usable(&a, "en0", "2001:db8:a::1");
    wait_usable(&b, "en0", "2001:db8:a::2");
    wait_usable(&b, "en1", "2001:db8:b::2");
    wait_usable(&c, "en0", "2001:db8:b::3");

    let r = a.run("ping6", &["-c", "2", "-i", "0.2", "-X", "10", "2001:db8:b::3"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout
            .contains("16 bytes from 2001:db8:b::3, icmp_seq=0 hlim=63 time="),
        "{r:#?}"
    );
    // Hop limit 1: B answers time exceeded, which ping6 shows with -v (KAME's filter
    // passes errors to it only then).
    let r = a.run("ping6", &["-v", "-c", "1", "-h", "1", "-X", "3", "2001:db8:b::3"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    assert!(
        r.stdout.contains("bytes from 2001:db8:a::2: Time to live exceeded\n"),
        "{r:#?}"
    );
    assert!(
        r.stdout
            .contains("\n2001:db8:a::1->2001:db8:b::3\nICMP6: type = 128, code = 0"),
        "{r:#?}"
    );
    let r = a.run("ping6", &["-c", "1", "-h", "1", "-X", "3", "2001:db8:b::3"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    assert!(!r.stdout.contains("exceeded"), "{r:#?}");
    let s = b.ok("netstat", &["-s", "-p", "icmp6"]);
    assert!(s.contains("\t\ttime exceed: "), "{s}");
}

/// ICMPv6 Node Information (RFC 4620) between two stacks on a hub: ping6 -w -t -a
/// against the stack's responder (Linux has none, so a second stack answers), gated by
/// net.inet6.icmp6.nodeinfo; tshark decodes what went over the wire.
#[test]
fn ping6_node_information_queries_between_two_stacks() {
    let hubs = TempDir::new();
    let h = format!("path={}", hubs.join("hub").display());
    let a = StackProc::start_variant("io-pkt-v6-hc", &["-d", "hub", &h]);
    let b = StackProc::start_variant("io-pkt-v6-hc", &["-d", "hub", &h]);
    a.ok("ifconfig", &["en0", "inet6", "2001:db8:e::1/64"]);
    b.ok("ifconfig", &["en0", "inet6", "2001:db8:e::2/64"]);
    wait_usable(&a, "en0", "2001:db8:e::1");
    wait_usable(&b, "en0", "2001:db8:e::2");
    let (la, lb) = (link_local(&a, "en0"), link_local(&b, "en0"));
    let bll = format!("{lb}%en0");
    b.ok("sysctl", &["-w", "kern.hostname=nodeb"]);
    assert_eq!(
        b.ok("sysctl", &["net.inet6.icmp6.nodeinfo"]),
        "net.inet6.icmp6.nodeinfo = 1\n"
    );

    let cap = TempDir::new();
    let file = cap.join("ni.pcap");
    let file = file.to_str().expect("utf-8 path");
    let dump = Capture::start(&b, &["-i", "en0", "-w", file, "icmp6"]);

    // Node Name: a single-label name (two zero bytes, printed without a dot).
    let r = a.run("ping6", &["-w", "-c", "2", "-i", "0.2", "-X", "10", &bll]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout
            .starts_with(&format!("PING6(72=40+8+24 bytes) {la}%en0 --> {bll}\n")),
        "{r:#?}"
    );
    assert!(r.stdout.contains(&format!("\n28 bytes from {bll}: nodeb\n")), "{r:#?}");
    assert!(
        r.stdout
            .contains("2 packets transmitted, 2 packets received, 0.0% packet loss\n"),
        "{r:#?}"
    );
    assert!(!r.stdout.contains("round-trip"), "{r:#?}");
    let r = a.run("ping6", &["-v", "-w", "-c", "1", "-X", "10", &bll]);
    assert!(r.stdout.contains(": nodeb (TTL=0:meaningless)\n"), "{r:#?}");
    // A fully qualified name keeps its final dot, as KAME's ping6 prints it.
    b.ok("sysctl", &["-w", "kern.hostname=nodeb.example.org"]);
    let r = a.run("ping6", &["-w", "-c", "1", "-X", "10", &bll]);
    assert!(r.stdout.contains(": nodeb.example.org.\n"), "{r:#?}");
    // To all nodes: B answers (with its link-local).
    let r = a.run("ping6", &["-w", "-c", "1", "-X", "3", "ff02::1%en0"]);
    assert!(
        r.stdout.contains(&format!(" bytes from {bll}: nodeb.example.org.\n")),
        "{r:#?}"
    );

    // Supported qtypes.
    let r = a.run("ping6", &["-t", "-c", "1", "-X", "10", &bll]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(r.stdout.starts_with("PING6(56=40+8+8 bytes) "), "{r:#?}");
    assert!(
        r.stdout
            .contains(&format!("20 bytes from {bll}: NodeInfo Supported Qtypes 0-3\n")),
        "{r:#?}"
    );

    // Node addresses: refused by NetBSD's default (1), answered with 3.
    let r = a.run("ping6", &["-a", "agl", "-c", "1", "-X", "2", &bll]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    b.ok("sysctl", &["-w", "net.inet6.icmp6.nodeinfo=3"]);
    // The interface's own (link-local and global), then every interface's (lo0's fe80::1
    // too; ::1 never).
    let r = a.run("ping6", &["-a", "gl", "-c", "1", "-X", "10", &bll]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout.contains(&format!(
            "\n56 bytes from {bll}: \n  {lb}(TTL=2147483647)\n  2001:db8:e::2(TTL=2147483647)\n\n"
        )),
        "{r:#?}"
    );
    let r = a.run("ping6", &["-a", "agl", "-c", "1", "-X", "10", &bll]);
    assert!(r.stdout.contains(&format!("\n76 bytes from {bll}: \n")), "{r:#?}");
    assert!(r.stdout.contains("\n  fe80::1(TTL=2147483647)\n"), "{r:#?}");

    // From a global address: refused unless GLOBALOK (8).
    let r = a.run("ping6", &["-w", "-c", "1", "-X", "2", "2001:db8:e::2"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    b.ok("sysctl", &["-w", "net.inet6.icmp6.nodeinfo=9"]);
    let r = a.run("ping6", &["-w", "-c", "1", "-X", "10", "2001:db8:e::2"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout.contains("bytes from 2001:db8:e::2: nodeb.example.org.\n"),
        "{r:#?}"
    );
    b.ok("sysctl", &["-w", "net.inet6.icmp6.nodeinfo=0"]);
    let r = a.run("ping6", &["-w", "-c", "1", "-X", "2", &bll]);
    assert_eq!(r.code, Some(2), "{r:#?}");

    let s = b.ok("netstat", &["-s", "-p", "icmp6"]);
    assert!(s.contains("\t9 node information answers sent\n"), "{s}");
    assert!(s.contains("\t3 node information requests refused by policy\n"), "{s}");
    assert!(s.contains("\t\tnode information reply: 9\n"), "{s}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    dump.stop();

    // The wire format as tshark decodes it.
    if !have("tshark") {
        return skip(
            "ping6_node_information_queries_between_two_stacks",
            "tshark is not installed",
        );
    }
    let out = run(
        "tshark",
        [
            "-n",
            "-r",
            file,
            "-Y",
            "icmpv6.type == 140 && icmpv6.ni.qtype == 2",
            "-T",
            "fields",
            "-e",
            "icmpv6.code",
            "-e",
            "icmpv6.ni.nonce",
            "-e",
            "icmpv6.ni.reply.node_name",
        ],
    )
    .ok();
    let text = out.stdout;
    let first = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no node name reply decoded: {text}"));
    let f: Vec<&str> = first.split('\t').collect();
    assert_eq!(f[0], "0", "{text}");
    let hex = |n: &str| n.trim_start_matches("0x").replace(':', "");
    assert_eq!(hex(f[1]).len(), 16, "an 8-byte nonce in {text}");
    assert!(f[2].contains("nodeb"), "{text}");
    let q = run(
        "tshark",
        [
            "-n",
            "-r",
            file,
            "-Y",
            "icmpv6.type == 139",
            "-T",
            "fields",
            "-e",
            "icmpv6.ni.nonce",
            "-e",
            "icmpv6.ni.query.subject_ipv6",
        ],
    )
    .ok();
    assert!(
        q.stdout.lines().any(|l| l.split('\t').next() == Some(f[1])),
        "the reply's nonce is a query's: {} / {text}",
        q.stdout
    );
    assert!(
        q.stdout.lines().any(|l| l.split('\t').nth(1) == Some(lb.as_str())),
        "a query with B's address as subject: {}",
        q.stdout
    );
}

/// `route get -inet6` to a global destination through a link-local gateway shows, as
/// `local addr`, the source the stack really sends from (RFC 6724: the global address),
/// not the link-local the route was added with.
#[test]
fn route_get_shows_the_source_ip6_output_picks() {
    let hubs = TempDir::new();
    let h = format!("path={}", hubs.join("hub").display());
    let a = StackProc::start_variant("io-pkt-v6-hc", &["-d", "hub", &h]);
    let b = StackProc::start_variant("io-pkt-v6-hc", &["-d", "hub", &h]);
    a.ok("ifconfig", &["en0", "inet6", "2001:db8:e::1/64"]);
    b.ok("ifconfig", &["en0", "inet6", "2001:db8:e::2/64"]);
    wait_usable(&a, "en0", "2001:db8:e::1");
    wait_usable(&b, "en0", "2001:db8:e::2");
    let lb = link_local(&b, "en0");
    a.ok("route", &["add", "-inet6", "default", &format!("{lb}%en0")]);
    let g = a.ok("route", &["-n", "get", "-inet6", "2001:db8:77::1"]);
    assert!(g.contains(&format!("    gateway: {lb}%en0\n")), "{g}");
    assert!(g.contains(" local addr: 2001:db8:e::1\n"), "{g}");
    // What goes over the wire: B sees the echo request from A's global address.
    let dump = Capture::start(&b, &["-i", "en0", "-nn", "-l", "icmp6 and ip6[40] == 128"]);
    let r = a.run("ping6", &["-c", "1", "-X", "2", "2001:db8:77::1"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let printed = dump.stop();
    assert!(
        printed.contains(" IP6 2001:db8:e::1 > 2001:db8:77::1: ICMP6, echo request"),
        "{printed}"
    );
    // A link-local destination keeps the link-local source.
    let g = a.ok("route", &["-n", "get", "-inet6", &format!("{lb}%en0")]);
    assert!(g.contains(" local addr: fe80::"), "{g}");

    // ping6 fragments at the minimum MTU (1280) as KAME's does, at the path MTU (1500)
    // with -m: 2608 bytes of ICMPv6 are 3 fragments of at most 1232, or 2 of 1448.
    let created = || -> u64 {
        let s = a.ok("netstat", &["-s", "-p", "ip6"]);
        s.lines()
            .find_map(|l| {
                let l = l.trim();
                l.strip_suffix(" fragments created")
                    .or_else(|| l.strip_suffix(" fragment created"))
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    };
    let before = created();
    a.ok("ping6", &["-c", "1", "-s", "2600", "-X", "10", "2001:db8:e::2"]);
    let mid = created();
    assert_eq!(mid - before, 3);
    a.ok("ping6", &["-m", "-c", "1", "-s", "2600", "-X", "10", "2001:db8:e::2"]);
    assert_eq!(created() - mid, 2);
    // -b: the socket buffers; a datagram larger than the send buffer is refused.
    a.ok("ping6", &["-b", "65536", "-c", "1", "-X", "10", "2001:db8:e::2"]);
    let r = a.run(
        "ping6",
        &["-b", "4096", "-s", "5000", "-c", "1", "-X", "2", "2001:db8:e::2"],
    );
    assert!(
        r.stderr
            .starts_with("ping6: you need -b to increase socket buffer size\n"),
        "{r:#?}"
    );
    assert_eq!(r.code, Some(2), "{r:#?}");
    let r = a.run("ping6", &["-b", "x", "::1"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ping6: invalid socket buffer size\n")
    );
}

/// ifconfig inet6 `eui64`, `pltime`, `vltime`, `anycast` (NetBSD's af_inet6.c), and
/// `-L` showing the lifetimes; a preferred lifetime that runs out deprecates the address,
/// a valid one removes it.
#[test]
fn ifconfig_inet6_eui64_lifetimes_and_anycast() {
    let hubs = TempDir::new();
    let h = format!("path={}", hubs.join("hub").display());
    let st = StackProc::start_variant("io-pkt-v6-hc", &["-d", "hub", &h]);
    st.ok("ifconfig", &["en0", "inet6", "2001:db8:f::1/64"]);
    let ll = link_local(&st, "en0");
    let ll: std::net::Ipv6Addr = ll.parse().expect("an address");
    let eui = std::net::Ipv6Addr::from(
        u128::from("2001:db8:f::".parse::<std::net::Ipv6Addr>().unwrap()) | (u128::from(ll) & u128::from(u64::MAX)),
    )
    .to_string();
    // eui64: the identifier of the link-local address.
    st.ok(
        "ifconfig",
        &["en0", "inet6", "2001:db8:f::", "prefixlen", "64", "eui64", "alias"],
    );
    wait_usable(&st, "en0", &eui);
    let r = st.run("ifconfig", &["en0", "inet6", "2001:db8:f::1", "eui64", "alias"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ifconfig: interface index is already filled\n")
    );
    // Lifetimes: shown with -L (infinite ones are not), the address deprecated when the
    // preferred lifetime runs out and gone when the valid one does.
    st.ok(
        "ifconfig",
        &["en0", "inet6", "2001:db8:f::5", "pltime", "1", "vltime", "3", "alias"],
    );
    let l = st.ok("ifconfig", &["-L", "en0"]);
    let line = l
        .lines()
        .find(|x| x.contains("inet6 2001:db8:f::5 "))
        .unwrap_or_else(|| panic!("{l}"));
    assert!(line.contains(" pltime ") && line.contains(" vltime "), "{l}");
    let v: u32 = line.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(99);
    assert!(v <= 3, "{line}");
    assert!(
        l.lines().any(|x| x == format!("\tinet6 {eui} prefixlen 64")),
        "an infinite lifetime prints nothing: {l}"
    );
    assert!(!st.ok("ifconfig", &["en0"]).contains(" pltime "));
    wait_for("2001:db8:f::5 to be deprecated", || {
        inet6_lines(&st, "en0")
            .into_iter()
            .find(|x| x.starts_with("inet6 2001:db8:f::5 ") && x.contains(" deprecated"))
    });
    wait_for("2001:db8:f::5 to go", || {
        (!inet6_lines(&st, "en0")
            .iter()
            .any(|x| x.starts_with("inet6 2001:db8:f::5 ")))
        .then_some(())
    });
    let r = st.run(
        "ifconfig",
        &["en0", "inet6", "2001:db8:f::6", "pltime", "9", "vltime", "3", "alias"],
    );
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(r.stderr.starts_with("ifconfig: SIOCAIFADDR_IN6: "), "{r:#?}");
    let r = st.run("ifconfig", &["en0", "inet6", "2001:db8:f::6", "vltime", "x"]);
    assert_eq!((r.code, r.stderr.as_str()), (Some(1), "ifconfig: invalid vltime\n"));
    // Anycast: no DAD, never a source.
    st.ok("ifconfig", &["en0", "inet6", "2001:db8:f::a", "anycast", "alias"]);
    assert!(
        inet6_lines(&st, "en0")
            .iter()
            .any(|x| x == "inet6 2001:db8:f::a prefixlen 64 anycast"),
        "{:?}",
        inet6_lines(&st, "en0")
    );
    let g = st.ok("route", &["-n", "get", "-inet6", "2001:db8:f::99"]);
    assert!(!g.contains(" local addr: 2001:db8:f::a\n"), "{g}");
}

#[test]
fn ping6_on_loopback_and_its_errors() {
    let st = StackProc::start_variant("io-pkt-v6-hc", &[]);
    let r = st.run("ping6", &["-c", "2", "-i", "0.2", "::1"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(r
        .stdout
        .starts_with("PING6(56=40+8+8 bytes) ::1 --> ::1\n16 bytes from ::1, icmp_seq=0 hlim=64 time="));
    let r = st.run("ping6", &["-v", "-c", "1", "::1"]);
    assert!(
        r.stdout
            .contains("\n16 bytes from ::1, icmp_seq=0 hlim=64 dst=::1 time="),
        "{r:#?}"
    );
    let r = st.run("ping", &["-c", "1", "::1"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(r.stdout.contains("--- ::1 ping6 statistics ---"), "{r:#?}");
    for (args, msg) in [
        (&["-c", "x", "::1"][..], "ping6: illegal number of packets -- x\n"),
        (&["-h", "300", "::1"][..], "ping6: illegal hoplimit 300\n"),
        (
            &["-s", "70000", "::1"][..],
            "ping6: datalen value too large, maximum is 65487\n",
        ),
        (
            &["-N", "::1"][..],
            "ping6: -N: the node information multicast group (ff02::2:xxxx:xxxx) is not supported\n",
        ),
        (&["-d", "::1"][..], "ping6: -d: SO_DEBUG is not supported\n"),
        (
            &["nosuch.invalid"][..],
            "ping6: nosuch.invalid: hostname nor servname provided, or not known\n",
        ),
    ] {
        let r = st.run("ping6", args);
        assert_eq!((r.code, r.stderr.as_str()), (Some(1), msg), "{args:?}");
    }
    let r = st.run("ping6", &[]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(r.stderr.starts_with("usage: ping6 "), "{r:#?}");
    let r = st.run("ping6", &["-Z", "::1"]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(
        r.stderr.starts_with("ping6: unknown option -- Z\nusage: ping6 "),
        "{r:#?}"
    );

    // sysctl -a lists the inet6 tree (and a v4 stack has none).
    let all = st.ok("sysctl", &["-a"]);
    for n in [
        "net.inet6.ip6.forwarding = 0",
        "net.inet6.ip6.hlim = 64",
        "net.inet6.icmp6.errppslimit = 100",
    ] {
        assert!(all.lines().any(|l| l == n), "{n} in {all}");
    }
    let s = st.ok("netstat", &["-s", "-f", "inet6"]);
    assert!(
        s.starts_with("ip6:\n") && s.contains("\nicmp6:\n") && !s.contains("\ntcp:\n"),
        "{s}"
    );

    // A stack without IPv6.
    let v4 = StackProc::start_variant("io-pkt-v4-hc", &[]);
    assert!(!v4.ok("sysctl", &["-a"]).contains("net.inet6."));
    let r = v4.run("netstat", &["-s", "-p", "icmp6"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "netstat: icmp6: address family not supported by this stack\n")
    );
    let r = v4.run("ping6", &["-c", "1", "::1"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            Some(1),
            "ping6: socket: Address family not supported by protocol family\n"
        )
    );
    let r = v4.run("ndp", &["-a"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ndp: inet6: address family not supported by this stack\n")
    );
}
