//! IPv6 end to end (the v6 variant), with Linux's kernel as the referee: Linux pings the
//! stack's link-local (with %scope) and global addresses over a TAP in a namespace of the
//! test's own (fragments both ways with -s 4000), Linux's neighbor table shows the stack
//! REACHABLE with its MAC, Linux's radvd gives it a SLAAC address that a zero lifetime
//! withdraws; two stacks on a hub with one address see it duplicated by DAD; the
//! IPv4-only variants refuse inet6.

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

/// Waits until the address is on the interface and no longer tentative; its line.
fn wait_usable(st: &StackProc, ifname: &str, addr: &str) -> String {
    wait_for(&format!("{addr} on {ifname} to pass DAD"), || {
        inet6_lines(st, ifname).into_iter().find(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.split('%').next() == Some(addr))
                && !l.contains("tentative")
        })
    })
}

/// The stack's link-local address on `ifname` (from its MAC, as ifconfig shows it).
fn link_local(st: &StackProc, ifname: &str) -> String {
    wait_for("a link-local address", || {
        inet6_lines(st, ifname)
            .into_iter()
            .find(|l| l.starts_with("inet6 fe80:"))
            .and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .map(|a| a.split('%').next().unwrap_or(a).to_string())
            })
    })
}

/// The address with a /32 prefix `hi:lo` (lo 32 bits) and the EUI-64 interface id of
/// `mac` (RFC 4291 appendix A), as Rust prints it.
fn eui64_addr(hi: u16, lo: u32, mac: &[u8; 6]) -> String {
    std::net::Ipv6Addr::new(
        hi,
        (lo >> 16) as u16,
        lo as u16,
        0,
        u16::from_be_bytes([mac[0] ^ 2, mac[1]]),
        u16::from_be_bytes([mac[2], 0xff]),
        u16::from_be_bytes([0xfe, mac[3]]),
        u16::from_be_bytes([mac[4], mac[5]]),
    )
    .to_string()
}

#[test]
fn linux_pings_the_stack_over_v6_and_sees_it_reachable() {
    if !can_run_linux("linux_pings_the_stack_over_v6_and_sees_it_reachable", &["ip", "ping"]) {
        return;
    }
    let ns = NetNs::new();
    let (st, _stack) = start_variant_in_netns(&ns, "io-pkt-v6-hc", "tap", "tap=tap0,host=10.79.0.1/24");
    let linux = |args: &[&str]| {
        let mut full = vec!["netns", "exec", &ns.name];
        full.extend_from_slice(args);
        run("ip", full)
    };
    linux(&["ip", "-6", "addr", "add", "2001:db8:79::1/64", "dev", "tap0", "nodad"]).ok();
    st.ok("ifconfig", &["en0", "inet6", "2001:db8:79::2", "prefixlen", "64"]);
    // Right after the add the address is tentative; then DAD passes.
    let line = wait_usable(&st, "en0", "2001:db8:79::2");
    assert_eq!(line, "inet6 2001:db8:79::2 prefixlen 64");
    let ll = link_local(&st, "en0");
    let mac = st.mac("en0");
    let want_ll = eui64_addr(0xfe80, 0, &mac);
    assert_eq!(ll, want_ll, "EUI-64 link-local from {}", mac_str(&mac));
    let line = wait_usable(&st, "en0", &ll);
    assert_eq!(line, format!("inet6 {ll}%en0 prefixlen 64 scopeid 0x2"));
    // The connected route came with the address.
    let t = st.ok("netstat", &["-rn", "-f", "inet6"]);
    assert!(
        t.lines()
            .any(|l| l.starts_with("2001:db8:79::/64 ") && l.contains(" link#2 ") && l.contains(" UC ")),
        "{t}"
    );
    // lo0 has ::1 and fe80::1%lo0.
    let lo = inet6_lines(&st, "lo0");
    assert_eq!(
        lo,
        vec!["inet6 ::1 prefixlen 128", "inet6 fe80::1%lo0 prefixlen 64 scopeid 0x1"]
    );

    let r = linux(&["ping", "-6", "-c", "3", "-i", "0.2", "-W", "5", "2001:db8:79::2"]);
    assert_eq!(r.code, Some(0), "Linux ping -6 global: {r:#?}");
    assert!(r.stdout.contains("3 received"), "{r:#?}");
    let scoped = format!("{ll}%tap0");
    let r = linux(&["ping", "-6", "-c", "3", "-i", "0.2", "-W", "5", &scoped]);
    assert_eq!(r.code, Some(0), "Linux ping -6 link-local: {r:#?}");
    assert!(r.stdout.contains("3 received"), "{r:#?}");
    // Fragments both ways: Linux's request reassembled here, our reply fragmented.
    let r = linux(&["ping", "-6", "-c", "1", "-s", "4000", "-W", "5", "2001:db8:79::2"]);
    assert_eq!(r.code, Some(0), "Linux ping -6 -s 4000: {r:#?}");
    assert!(r.stdout.contains("4008 bytes from 2001:db8:79::2"), "{r:#?}");
    let s6 = st.open().stats6().expect("ip6 counters");
    assert!(s6.ip6.reassembled >= 1 && s6.ip6.fragmented >= 1, "{s6:?}");
    assert!(s6.icmp6.inhist[128] >= 7, "{s6:?}");

    // Linux's neighbor table: the stack, REACHABLE, with its MAC.
    let r = linux(&["ip", "-6", "neigh", "show", "dev", "tap0"]);
    let want = format!("2001:db8:79::2 lladdr {} REACHABLE", mac_str(&mac));
    assert!(r.stdout.lines().any(|l| l.trim() == want), "wanted {want:?}: {r:#?}");
    // And ours has Linux (learnt from its NS, confirmed when Linux answered ours or not).
    let nd = st.open().nd_dump().expect("the neighbor cache");
    assert!(
        nd.iter()
            .any(|e| e.addr.to_string() == "2001:db8:79::1" && e.lladdr.is_some()),
        "{nd:?}"
    );

    // Delete: gone from ifconfig, and Linux's ping fails.
    st.ok("ifconfig", &["en0", "inet6", "2001:db8:79::2", "delete"]);
    assert!(!inet6_lines(&st, "en0").iter().any(|l| l.contains("2001:db8:79::2")));
    let r = linux(&["ping", "-6", "-c", "1", "-W", "1", "2001:db8:79::2"]);
    assert_ne!(r.code, Some(0), "{r:#?}");
}

#[test]
fn slaac_from_linux_radvd_and_a_zero_lifetime_withdraws() {
    if !can_run_linux(
        "slaac_from_linux_radvd_and_a_zero_lifetime_withdraws",
        &["ip", "ping", "radvd"],
    ) {
        return;
    }
    let ns = NetNs::new();
    let (st, _stack) = start_variant_in_netns(&ns, "io-pkt-v6-hc", "tap", "tap=tap0,host=10.80.0.1/24");
    let linux = |args: &[&str]| {
        let mut full = vec!["netns", "exec", &ns.name];
        full.extend_from_slice(args);
        run("ip", full)
    };
    linux(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]).ok();
    linux(&["ip", "-6", "addr", "add", "2001:db8:80::1/64", "dev", "tap0", "nodad"]).ok();
    st.ok("sysctl", &["-w", "net.inet6.ip6.accept_rtadv=1"]);
    st.ok("ifconfig", &["en0", "up"]);
    let dir = TempDir::new();
    let conf = dir.join("radvd.conf");
    let write_conf = |valid: &str, pref: &str| {
        std::fs::write(
            &conf,
            format!(
                "interface tap0 {{\n AdvSendAdvert on;\n MinRtrAdvInterval 3;\n MaxRtrAdvInterval 4;\n \
                 prefix 2001:db8:80::/64 {{\n  AdvOnLink on;\n  AdvAutonomous on;\n  \
                 AdvValidLifetime {valid};\n  AdvPreferredLifetime {pref};\n }};\n}};\n"
            ),
        )
        .expect("radvd.conf");
    };
    write_conf("86400", "14400");
    let pidfile = dir.join("radvd.pid");
    let radvd = |conf: &std::path::Path| {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &ns.name])
            .arg(tool("radvd").expect("radvd"))
            .args(["-n", "-m", "stderr", "-C"])
            .arg(conf)
            .arg("-p")
            .arg(&pidfile)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        ChildGuard::spawn(cmd)
    };
    let mut rd = radvd(&conf);
    let mac = st.mac("en0");
    let addr = eui64_addr(0x2001, 0xdb8_0080, &mac);
    let line = wait_usable(&st, "en0", &addr);
    assert_eq!(line, format!("inet6 {addr} prefixlen 64 autoconf"));
    let r = linux(&["ping", "-6", "-c", "2", "-i", "0.2", "-W", "5", &addr]);
    assert_eq!(r.code, Some(0), "Linux pings the SLAAC address: {r:#?}");
    // A default route through Linux's link-local address.
    let t = st.ok("netstat", &["-rn", "-f", "inet6"]);
    assert!(
        t.lines()
            .any(|l| l.starts_with("default ") && l.contains("fe80::") && l.contains("%en0 ") && l.contains(" UG ")),
        "{t}"
    );
    // A default router: Linux's link-local, in the neighbor cache as a router.
    let nd = st.open().nd_dump().expect("the neighbor cache");
    assert!(
        nd.iter().any(|e| e.addr.segments()[0] == 0xfe80 && e.is_router),
        "{nd:?}"
    );
    // radvd again, now advertising the prefix with zero lifetimes: the address goes.
    rd.terminate();
    write_conf("0", "0");
    let _rd = radvd(&conf);
    wait_for("the zero lifetime to withdraw the address", || {
        (!inet6_lines(&st, "en0").iter().any(|l| l.contains(&addr))).then_some(())
    });
}

#[test]
fn dad_on_a_hub_finds_the_address_duplicated() {
    let hubs = TempDir::new();
    let hub = format!("path={}", hubs.join("hub").display());
    let a = StackProc::start_variant("io-pkt-v6-hc", &["-t", "1", "-d", "hub", &hub]);
    let b = StackProc::start_variant("io-pkt-v6-hc", &["-t", "1", "-d", "hub", &hub]);
    a.ok("ifconfig", &["en0", "inet6", "2001:db8:5::1/64"]);
    // ifconfig -w waits for DAD (the tentative flag) to finish.
    let o = a.ok("ifconfig", &["-w", "20", "en0"]);
    assert!(o.contains("\tinet6 2001:db8:5::1 prefixlen 64\n"), "{o}");
    assert!(!o.contains("tentative"), "{o}");
    b.ok("ifconfig", &["en0", "inet6", "2001:db8:5::1/64"]);
    let dup = wait_for("B to find 2001:db8:5::1 duplicated", || {
        inet6_lines(&b, "en0")
            .into_iter()
            .find(|l| l.contains("2001:db8:5::1 ") && l.contains("duplicated"))
    });
    assert_eq!(dup, "inet6 2001:db8:5::1 prefixlen 64 duplicated");
    // A keeps it, and its own link-local is unique.
    assert_eq!(
        wait_usable(&a, "en0", "2001:db8:5::1"),
        "inet6 2001:db8:5::1 prefixlen 64"
    );
    let s = b.open().stats6().expect("icmp6 counters");
    assert_eq!(s.icmp6.dad_duplicated, 1, "{s:?}");
    drop((a, b));
}

#[test]
fn the_v4_variants_refuse_inet6() {
    for v in ["io-pkt-v4", "io-pkt-v4-hc"] {
        let st = StackProc::start_variant(v, &[]);
        let r = st.run("ifconfig", &["lo0", "inet6", "2001:db8::1", "prefixlen", "64"]);
        assert_eq!(r.code, Some(1), "{v}: {r:#?}");
        assert_eq!(
            r.stderr, "ifconfig: inet6: address family not supported by this stack\n",
            "{v}"
        );
        assert!(!st.ok("ifconfig", &["lo0"]).contains("inet6"), "{v}");
        let r = st.run("sysctl", &["net.inet6.ip6.forwarding"]);
        assert_ne!(r.code, Some(0), "{v}: {r:#?}");
    }
}

/// A stack forwarding between two Linux namespaces, one TAP in each: ns1 (2001:db8:1::1)
/// <-> en0 (2001:db8:1::2) | en1 (2001:db8:2::2) <-> ns2 (2001:db8:2::1).
#[test]
fn the_stack_forwards_v6_between_two_namespaces() {
    if !can_run_linux("the_stack_forwards_v6_between_two_namespaces", &["ip", "ping"]) {
        return;
    }
    let (ns1, ns2) = (NetNs::new(), NetNs::new());
    let mut st = StackProc::new_prefix("io-pkt-v6-hc");
    let log_path = st.dir().join("stack.log");
    let log = std::fs::File::create(&log_path).expect("stack log");
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &ns1.name])
        .arg(bin())
        .args(["io-pkt-v6-hc", "-f", "-ptcpip"])
        .arg(format!("prefix={}", st.prefix().display()))
        .args(["-d", "tap", "tap=tap0", "-d", "tap", "tap=tap1"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("stack log"))
        .stderr(log);
    let mut child = ChildGuard::spawn(cmd);
    wait_for("the stack to answer", || {
        if let Some(c) = child.try_code() {
            panic!(
                "the stack exited ({c:?}): {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        pktbox_stack::socket::Stack::open_at(st.prefix()).ok()
    });
    st.adopt();
    let in_ns = |ns: &NetNs, args: &[&str]| {
        let mut full = vec!["netns", "exec", &ns.name];
        full.extend_from_slice(args);
        run("ip", full)
    };
    // The second TAP goes to the other namespace; the stack's descriptor stays good.
    in_ns(&ns1, &["ip", "link", "set", "tap1", "netns", &ns2.name]).ok();
    in_ns(&ns1, &["ip", "link", "set", "tap0", "up"]).ok();
    in_ns(&ns2, &["ip", "link", "set", "tap1", "mtu", "1280", "up"]).ok();
    in_ns(
        &ns1,
        &["ip", "-6", "addr", "add", "2001:db8:1::1/64", "dev", "tap0", "nodad"],
    )
    .ok();
    in_ns(
        &ns2,
        &["ip", "-6", "addr", "add", "2001:db8:2::1/64", "dev", "tap1", "nodad"],
    )
    .ok();
    in_ns(&ns1, &["ip", "-6", "route", "add", "default", "via", "2001:db8:1::2"]).ok();
    in_ns(&ns2, &["ip", "-6", "route", "add", "default", "via", "2001:db8:2::2"]).ok();
    st.ok("sysctl", &["-w", "net.inet6.ip6.forwarding=1"]);
    st.ok("ifconfig", &["en0", "inet6", "2001:db8:1::2/64"]);
    st.ok("ifconfig", &["en1", "inet6", "2001:db8:2::2/64"]);
    st.ok("ifconfig", &["en1", "mtu", "1280"]);
    wait_usable(&st, "en0", "2001:db8:1::2");
    wait_usable(&st, "en1", "2001:db8:2::2");

    let r = in_ns(
        &ns1,
        &["ping", "-6", "-c", "3", "-i", "0.2", "-W", "5", "2001:db8:2::1"],
    );
    assert_eq!(r.code, Some(0), "forwarded: {r:#?}");
    assert!(r.stdout.contains("ttl=63"), "one hop: {r:#?}");
    // Hop limit 1 expires at the stack: time exceeded from its address on ns1's side.
    let r = in_ns(&ns1, &["ping", "-6", "-c", "1", "-t", "1", "-W", "3", "2001:db8:2::1"]);
    assert!(
        r.stdout
            .contains("From 2001:db8:1::2 icmp_seq=1 Time exceeded: Hop limit"),
        "{r:#?}"
    );
    // Too big for en1 (1280) and not to be fragmented by a router: packet too big, which
    // Linux takes as its path MTU.
    let r = in_ns(
        &ns1,
        &[
            "ping",
            "-6",
            "-c",
            "1",
            "-s",
            "1400",
            "-M",
            "do",
            "-W",
            "3",
            "2001:db8:2::1",
        ],
    );
    assert!(r.stdout.contains("Packet too big: mtu=1280"), "{r:#?}");
    let r = in_ns(&ns1, &["ip", "-6", "route", "get", "2001:db8:2::1"]);
    assert!(r.stdout.contains("mtu 1280"), "Linux learnt the path MTU: {r:#?}");
    // Then Linux fragments to 1280, and the fragments are forwarded.
    let r = in_ns(
        &ns1,
        &["ping", "-6", "-c", "1", "-s", "1400", "-W", "5", "2001:db8:2::1"],
    );
    assert_eq!(r.code, Some(0), "{r:#?}");
    // An address nobody has a route to: unreachable, no route.
    in_ns(
        &ns1,
        &["ip", "-6", "route", "add", "2001:db8:99::/64", "via", "2001:db8:1::2"],
    )
    .ok();
    let r = in_ns(&ns1, &["ping", "-6", "-c", "1", "-W", "3", "2001:db8:99::1"]);
    assert!(r.stdout.contains("Destination unreachable: No route"), "{r:#?}");
    let s = st.open().stats6().expect("ip6 counters");
    assert!(s.ip6.forward >= 4 && s.ip6.noroute >= 1 && s.ip6.cantfrag >= 1, "{s:?}");
    drop(st);
    child.terminate();
}

/// Hashes what it writes: 64 KiB blocks of a byte pattern.
fn send_hashed(s: &mut impl std::io::Write, total: usize) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let buf: Vec<u8> = (0..65536u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut left = total;
    while left > 0 {
        let n = left.min(buf.len());
        s.write_all(&buf[..n]).expect("write");
        h.update(&buf[..n]);
        left -= n;
    }
    h.finalize().iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads to the end: byte count and SHA-256.
fn recv_hashed(s: &mut impl std::io::Read) -> (usize, String) {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 65536];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).expect("read");
        if n == 0 {
            return (total, h.finalize().iter().map(|x| format!("{x:02x}")).collect());
        }
        h.update(&buf[..n]);
        total += n;
    }
}

/// TCP and UDP over IPv6 with Linux's nc -6 at the other end, both directions.
#[test]
fn tcp_and_udp_over_v6_with_linux() {
    use pktbox_stack::socket::{TcpListener, TcpStream, UdpSocket};
    use std::time::Duration;
    if !can_run_linux("tcp_and_udp_over_v6_with_linux", &["ip", "nc", "bash", "sha256sum"]) {
        return;
    }
    let ns = NetNs::new();
    let (st, _stack) = start_variant_in_netns(&ns, "io-pkt-v6-hc", "tap", "tap=tap0,host=10.82.0.1/24");
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
            "2001:db8:82::1/64",
            "dev",
            "tap0",
            "nodad",
        ],
    )
    .ok();
    st.ok("ifconfig", &["en0", "inet6", "2001:db8:82::2/64"]);
    wait_usable(&st, "en0", "2001:db8:82::2");
    let total = 8 << 20;

    // The stack sends, Linux receives and hashes.
    let mut cmd = std::process::Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &ns.name,
        "bash",
        "-c",
        "timeout 60 nc -6 -l 2001:db8:82::1 5300 | sha256sum",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped());
    let mut rx = ChildGuard::spawn(cmd);
    let mut rx_out = rx.child.stdout.take().expect("nc's output");
    let mut c = wait_for("Linux listening on v6", || {
        TcpStream::connect_at(st.prefix(), "[2001:db8:82::1]:5300", Some(Duration::from_secs(5))).ok()
    });
    assert_eq!(c.local_addr().unwrap().ip().to_string(), "2001:db8:82::2");
    let sent = send_hashed(&mut c, total);
    c.shutdown(std::net::Shutdown::Write).unwrap();
    drop(c);
    let mut got = String::new();
    std::io::Read::read_to_string(&mut rx_out, &mut got).unwrap();
    rx.terminate();
    assert_eq!(
        got.split_whitespace().next(),
        Some(sent.as_str()),
        "sha256 at Linux's end"
    );

    // Linux sends, the stack receives.
    let l = TcpListener::bind_at(st.prefix(), "[::]:5301", 4).unwrap();
    let dir = TempDir::new();
    let (file, sumfile) = (dir.join("data"), dir.join("sum"));
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &ns.name, "bash", "-c"]).arg(format!(
        "head -c {total} /dev/urandom | tee >(sha256sum > {s}) > {f} && timeout 60 nc -6 -N 2001:db8:82::2 5301 < {f}",
        s = sumfile.display(),
        f = file.display()
    ));
    let mut tx = ChildGuard::spawn(cmd);
    l.set_accept_timeout(Some(Duration::from_secs(60))).unwrap();
    let (mut s, peer) = l.accept().unwrap();
    assert_eq!(peer.ip().to_string(), "2001:db8:82::1");
    let (n, sum) = recv_hashed(&mut s);
    drop(s);
    assert_eq!(tx.child.wait().ok().and_then(|s| s.code()), Some(0));
    assert_eq!(n, total);
    let want = std::fs::read_to_string(&sumfile).unwrap();
    assert_eq!(want.split_whitespace().next(), Some(sum.as_str()), "sha256 at our end");

    // UDP: a datagram each way.
    let mut u = UdpSocket::bind_at(st.prefix(), "[::]:5302").unwrap();
    let r = run(
        "ip",
        [
            "netns",
            "exec",
            &ns.name,
            "bash",
            "-c",
            "echo hello6 | nc -6 -u -w 1 2001:db8:82::2 5302",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:#?}");
    let mut buf = [0u8; 64];
    u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (n, from) = u.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello6\n");
    assert_eq!(from.ip().to_string(), "2001:db8:82::1");
    let mut cmd = std::process::Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &ns.name,
        "timeout",
        "5",
        "nc",
        "-6",
        "-u",
        "-l",
        "2001:db8:82::1",
        "5303",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped());
    let mut lst = ChildGuard::spawn(cmd);
    let mut lst_out = lst.child.stdout.take().expect("nc's output");
    wait_for("Linux's UDP listener", || {
        let r = run("ip", ["netns", "exec", &ns.name, "ss", "-uln"]);
        r.stdout.contains(":5303").then_some(())
    });
    u.send_to(b"back6\n", "[2001:db8:82::1]:5303").unwrap();
    let mut got = String::new();
    std::io::Read::read_to_string(&mut lst_out, &mut got).unwrap();
    lst.terminate();
    assert!(got.starts_with("back6"), "{got:?}");
}

/// TCP over ::1: both ends in one stack, through lo0.
#[test]
fn tcp_over_v6_loopback() {
    use pktbox_stack::socket::{TcpListener, TcpStream};
    use std::time::Duration;
    let st = StackProc::start_variant("io-pkt-v6-hc", &["-t", "1"]);
    let l = TcpListener::bind_at(st.prefix(), "[::1]:7600", 4).unwrap();
    let prefix = st.prefix().to_path_buf();
    let sender = std::thread::spawn(move || {
        let mut c = TcpStream::connect_at(&prefix, "[::1]:7600", Some(Duration::from_secs(5))).unwrap();
        let sum = send_hashed(&mut c, 4 << 20);
        c.shutdown(std::net::Shutdown::Write).unwrap();
        sum
    });
    l.set_accept_timeout(Some(Duration::from_secs(10))).unwrap();
    let (mut s, peer) = l.accept().unwrap();
    assert!(peer.ip().is_loopback(), "{peer}");
    let (n, got) = recv_hashed(&mut s);
    let sent = sender.join().unwrap();
    assert_eq!((n, got), (4 << 20, sent));
}

/// The stack as a router that sends ICMPv6 redirects (RFC 4861 8.2), Linux the host that
/// takes them: Linux (ns1, br0 2001:db8:80::1) and a second Linux (ns2, 2001:db8:80::3,
/// with 2001:db8:81::1 behind it) share one bridged link with the stack's en0
/// (2001:db8:80::2). Linux reaches 2001:db8:81::/64 through the stack's link-local
/// address; the stack's route for it names ns2's link-local address on the same link.
/// The first ping goes through the stack, which redirects Linux to ns2; Linux's route
/// for the destination then shows ns2 as its next hop. With net.inet6.ip6.redirect=0 the
/// stack forwards and stays quiet.
#[test]
fn linux_takes_the_stacks_redirect_to_a_better_router_on_the_link() {
    if !can_run_linux(
        "linux_takes_the_stacks_redirect_to_a_better_router_on_the_link",
        &["ip", "ping"],
    ) {
        return;
    }
    let (ns1, ns2) = (NetNs::new(), NetNs::new());
    let (st, _stack) = start_variant_in_netns(&ns1, "io-pkt-v6-hc", "tap", "tap=tap0");
    let in_ns = |ns: &NetNs, args: &[&str]| {
        let mut full = vec!["netns", "exec", &ns.name];
        full.extend_from_slice(args);
        run("ip", full)
    };
    let veth_b = unique("vrb");
    // One link: the stack's tap0 and a veth to ns2 on a bridge in ns1.
    in_ns(
        &ns1,
        &["ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"],
    )
    .ok();
    in_ns(
        &ns1,
        &["ip", "link", "add", "vra", "type", "veth", "peer", "name", &veth_b],
    )
    .ok();
    in_ns(&ns1, &["ip", "link", "set", &veth_b, "netns", &ns2.name]).ok();
    in_ns(&ns1, &["ip", "link", "set", "tap0", "master", "br0", "up"]).ok();
    in_ns(&ns1, &["ip", "link", "set", "vra", "master", "br0", "up"]).ok();
    in_ns(&ns1, &["sysctl", "-qw", "net.ipv6.conf.br0.forwarding=0"]).ok();
    in_ns(&ns1, &["sysctl", "-qw", "net.ipv6.conf.br0.accept_redirects=1"]).ok();
    in_ns(&ns1, &["sysctl", "-qw", "net.ipv6.conf.br0.accept_dad=0"]).ok();
    in_ns(&ns1, &["ip", "link", "set", "br0", "up"]).ok();
    in_ns(
        &ns1,
        &["ip", "-6", "addr", "add", "2001:db8:80::1/64", "dev", "br0", "nodad"],
    )
    .ok();
    in_ns(
        &ns2,
        &["sysctl", "-qw", &format!("net.ipv6.conf.{veth_b}.accept_dad=0")],
    )
    .ok();
    in_ns(&ns2, &["ip", "link", "set", &veth_b, "up"]).ok();
    in_ns(&ns2, &["ip", "link", "set", "lo", "up"]).ok();
    in_ns(
        &ns2,
        &["ip", "-6", "addr", "add", "2001:db8:80::3/64", "dev", &veth_b, "nodad"],
    )
    .ok();
    in_ns(&ns2, &["ip", "-6", "addr", "add", "2001:db8:81::1/128", "dev", "lo"]).ok();
    // ns2's link-local address, from its interface.
    let ns2_ll = wait_for("ns2's link-local address", || {
        let o = in_ns(
            &ns2,
            &["ip", "-6", "-o", "addr", "show", "dev", &veth_b, "scope", "link"],
        );
        o.stdout
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .map(str::to_string)
    });

    st.ok("sysctl", &["-w", "net.inet6.ip6.forwarding=1"]);
    st.ok("ifconfig", &["en0", "inet6", "2001:db8:80::2/64"]);
    wait_usable(&st, "en0", "2001:db8:80::2");
    let st_ll = link_local(&st, "en0");
    st.ok(
        "route",
        &[
            "add",
            "-inet6",
            "2001:db8:81::",
            "-prefixlen",
            "64",
            &format!("{ns2_ll}%en0"),
        ],
    );
    in_ns(
        &ns1,
        &[
            "ip",
            "-6",
            "route",
            "add",
            "2001:db8:81::/64",
            "via",
            &st_ll,
            "dev",
            "br0",
        ],
    )
    .ok();
    let via = |ns: &NetNs| {
        let o = in_ns(ns, &["ip", "-6", "route", "get", "2001:db8:81::1"]);
        o.stdout
            .split_whitespace()
            .skip_while(|w| *w != "via")
            .nth(1)
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert_eq!(via(&ns1), st_ll, "before: through the stack");

    // Switched off first: forwarded, no redirect.
    st.ok("sysctl", &["-w", "net.inet6.ip6.redirect=0"]);
    let r = in_ns(
        &ns1,
        &["ping", "-6", "-c", "2", "-i", "0.2", "-W", "5", "2001:db8:81::1"],
    );
    assert_eq!(r.code, Some(0), "forwarded: {r:#?}");
    assert_eq!(via(&ns1), st_ll, "no redirect while net.inet6.ip6.redirect=0");
    let counted = |st: &StackProc| {
        st.ok("netstat", &["-s", "-p", "icmp6"])
            .lines()
            .find(|l| l.trim().starts_with("redirect:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert_eq!(counted(&st), 0);

    st.ok("sysctl", &["-w", "net.inet6.ip6.redirect=1"]);
    let r = in_ns(
        &ns1,
        &["ping", "-6", "-c", "2", "-i", "0.2", "-W", "5", "2001:db8:81::1"],
    );
    assert_eq!(r.code, Some(0), "forwarded: {r:#?}");
    let now = wait_for("Linux to take the redirect", || {
        let v = via(&ns1);
        (v != st_ll).then_some(v)
    });
    assert_eq!(now, ns2_ll, "Linux's next hop after the redirect");
    assert!(counted(&st) >= 1, "{}", st.ok("netstat", &["-s", "-p", "icmp6"]));
}

/// ICMP errors reach the socket that caused them: a connected UDP socket sending to a
/// port Linux has closed gets ECONNREFUSED from Linux's port unreachable, over IPv6
/// (on its next receive) and over IPv4 (on its next send), once per error.
#[test]
fn a_connected_udp_socket_hears_linuxs_port_unreachable() {
    use pktbox_stack::socket::UdpSocket;
    use std::time::Duration;
    if !can_run_linux("a_connected_udp_socket_hears_linuxs_port_unreachable", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    let (st, _stack) = start_variant_in_netns(&ns, "io-pkt-v6-hc", "tap", "tap=tap0,host=10.82.0.1/24");
    let linux = |args: &[&str]| {
        let mut full = vec!["netns", "exec", &ns.name];
        full.extend_from_slice(args);
        run("ip", full)
    };
    linux(&["ip", "-6", "addr", "add", "2001:db8:82::1/64", "dev", "tap0", "nodad"]).ok();
    st.ok("ifconfig", &["en0", "10.82.0.2/24"]);
    st.ok("ifconfig", &["en0", "inet6", "2001:db8:82::2", "prefixlen", "64"]);
    wait_usable(&st, "en0", "2001:db8:82::2");
    let refused = |e: &std::io::Error| e.raw_os_error() == Some(libc::ECONNREFUSED);

    // IPv6: the error wakes a receive.
    let mut u6 = UdpSocket::bind_at(st.prefix(), "[::]:0").expect("a v6 socket");
    u6.connect("[2001:db8:82::1]:9").expect("connect");
    u6.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    u6.send(b"anyone?").expect("the first send goes");
    let mut buf = [0u8; 64];
    let e = u6.recv(&mut buf).expect_err("no answer but an error");
    assert!(refused(&e), "{e:?}");
    let s6 = st.open().stats6().expect("ip6 counters");
    assert_eq!(s6.icmp6.badquote, 0, "{s6:?}");

    // IPv4: the error is reported by the next send (once), which is refused.
    let mut u4 = UdpSocket::bind_at(st.prefix(), "0.0.0.0:0").expect("a v4 socket");
    u4.connect("10.82.0.1:9").expect("connect");
    u4.send(b"anyone?").expect("the first send goes");
    let e = wait_for("the port unreachable to reach the socket", || {
        std::thread::sleep(Duration::from_millis(100));
        u4.send(b"still?").err()
    });
    assert!(refused(&e), "{e:?}");
}

/// TCP takes an unreachable in SYN_SENT as a soft error (NetBSD's tcp_notify): Linux's
/// nftables answers our SYNs to one port with an ICMPv6 (and, over IPv4, ICMP) port
/// unreachable; the connect goes on retrying, and when the connection-establishment timer
/// runs out the user hears ECONNREFUSED, not ETIMEDOUT. A port nobody rejects, with the
/// SYNs simply dropped, still times out with ETIMEDOUT.
#[test]
fn a_connect_answered_by_unreachables_fails_with_their_error() {
    use pktbox_stack::socket::TcpStream;
    use std::time::Duration;
    if !can_run_linux(
        "a_connect_answered_by_unreachables_fails_with_their_error",
        &["ip", "nft"],
    ) {
        return;
    }
    let ns = NetNs::new();
    let (st, _stack) = start_variant_in_netns(&ns, "io-pkt-v6-hc", "tap", "tap=tap0,host=10.83.0.1/24");
    let linux = |args: &[&str]| {
        let mut full = vec!["netns", "exec", &ns.name];
        full.extend_from_slice(args);
        run("ip", full)
    };
    linux(&["ip", "-6", "addr", "add", "2001:db8:83::1/64", "dev", "tap0", "nodad"]).ok();
    let dir = TempDir::new();
    let rules = dir.join("reject.nft");
    std::fs::write(
        &rules,
        "table inet pktbox_reject {\n\
         \tchain in { type filter hook input priority 0;\n\
         \t\ttcp dport 9 reject with icmpx type port-unreachable;\n\
         \t\ttcp dport 10 drop; }\n\
         }\n",
    )
    .unwrap();
    linux(&["nft", "-f", &rules.display().to_string()]).ok();
    st.ok("ifconfig", &["en0", "10.83.0.2/24"]);
    st.ok("ifconfig", &["en0", "inet6", "2001:db8:83::2", "prefixlen", "64"]);
    wait_usable(&st, "en0", "2001:db8:83::2");
    st.ok("sysctl", &["-w", "net.inet.tcp.keepinit=4"]);
    let err = |to: &str| {
        TcpStream::connect_at(st.prefix(), to, Some(Duration::from_secs(30)))
            .map(|_| ())
            .expect_err("no connection")
            .raw_os_error()
    };
    assert_eq!(err("[2001:db8:83::1]:9"), Some(libc::ECONNREFUSED));
    assert_eq!(err("10.83.0.1:9"), Some(libc::ECONNREFUSED));
    assert_eq!(err("[2001:db8:83::1]:10"), Some(libc::ETIMEDOUT));
}
