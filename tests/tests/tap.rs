//! A stack on a TAP device in a network namespace of the test's own, with Linux as the
//! peer: the link comes up on both sides and the kernel's ARP request gets our answer.
//!
//! Needs root, /dev/net/tun and ip(8); elsewhere it is skipped with a notice (a failure in CI).

use pktbox_tests::*;

const TAP: &str = "tap0";

/// The flags between `<` and `>` of `ip link show`'s first line.
fn link_flags(ns: &NetNs, dev: &str) -> Option<Vec<String>> {
    let o = run("ip", ["-n", &ns.name, "link", "show", dev]);
    if o.code != Some(0) {
        return None;
    }
    let l = o.stdout.lines().next()?;
    let inner = &l[l.find('<')? + 1..l.find('>')?];
    Some(inner.split(',').map(String::from).collect())
}

/// Makes the namespace's kernel resolve `ip` on the TAP: a ping where there is one, else a
/// UDP datagram from bash. The stack has no IP yet, so whatever is sent is not answered;
/// the ARP request before it is.
fn provoke_arp(ns: &NetNs, ip: &str) {
    if have("ping") {
        let _ = run("ip", ["netns", "exec", &ns.name, "ping", "-c", "1", "-W", "1", ip]);
    } else {
        let _ = run(
            "ip",
            [
                "netns",
                "exec",
                &ns.name,
                "bash",
                "-c",
                &format!("echo x > /dev/udp/{ip}/9"),
            ],
        );
    }
}

#[test]
fn tap_in_a_namespace_with_linux_as_the_peer() {
    if !can_run_linux("tap_in_a_namespace_with_linux_as_the_peer", &["ip"]) {
        return;
    }
    // Dropped last: the namespace goes after the stack has stopped.
    let ns = NetNs::new();
    // From here the guard stops the stack itself (SIGTERM to its pid) on every path.
    let (mut st, mut child) = start_in_netns(&ns, "tap", &format!("tap={TAP},host=10.77.0.1/24"));

    // The TAP lives in the namespace, not on the host.
    assert!(link_flags(&ns, TAP).is_some(), "{TAP} is in the namespace");

    // Configure en0 over the channel, from outside the namespace.
    st.ok("ifconfig", &["en0", "10.77.0.2/24", "up"]);
    let mac = st.mac("en0");
    assert_eq!(
        st.ok("ifconfig", &["en0"]),
        format!(
            "en0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n\
             \tcapabilities=ffc80<TSO4,TCP4CSUM_Rx,TCP4CSUM_Tx,UDP4CSUM_Rx,UDP4CSUM_Tx,TCP6CSUM_Rx,TCP6CSUM_Tx,UDP6CSUM_Rx,UDP6CSUM_Tx,TSO6,LRO>\n\
             \tenabled=ffc80<TSO4,TCP4CSUM_Rx,TCP4CSUM_Tx,UDP4CSUM_Rx,UDP4CSUM_Tx,TCP6CSUM_Rx,TCP6CSUM_Tx,UDP6CSUM_Rx,UDP6CSUM_Tx,TSO6,LRO>\n\
             \taddress: {}\n\tstatus: active\n\
             \tinet 10.77.0.2 netmask 0xffffff00 broadcast 10.77.0.255\n",
            mac_str(&mac)
        )
    );
    let v = st.ok("ifconfig", &["-v", "en0"]);
    assert!(
        v.contains(&format!("\tdriver: tap device {TAP} host 10.77.0.1/24\n")),
        "{v}"
    );
    assert!(st.run("ifconfig", &["-s", "en0"]).code == Some(0));

    // The host side is up with carrier, and has its address.
    let flags = link_flags(&ns, TAP).expect("the TAP's host side");
    for f in ["UP", "LOWER_UP"] {
        assert!(flags.iter().any(|x| x == f), "{TAP} flags {flags:?} lack {f}");
    }
    let addr = run("ip", ["-n", &ns.name, "-4", "addr", "show", "dev", TAP]).ok();
    assert!(
        addr.stdout.contains("inet 10.77.0.1/24 brd 10.77.0.255"),
        "{}",
        addr.stdout
    );

    // Linux resolves 10.77.0.2: its ARP request gets our reply, with en0's MAC.
    let want = format!("lladdr {}", mac_str(&mac));
    let entry = wait_for("a neighbour entry for 10.77.0.2 with en0's MAC", || {
        provoke_arp(&ns, "10.77.0.2");
        let o = run("ip", ["-n", &ns.name, "neigh", "show", "10.77.0.2", "dev", TAP]);
        let line = o.stdout.lines().next()?.to_string();
        (line.contains(&want)
            && ["REACHABLE", "STALE", "DELAY", "PROBE"]
                .iter()
                .any(|s| line.contains(s)))
        .then_some(line)
    });
    assert!(entry.starts_with("10.77.0.2 "), "{entry}");
    assert!(st.counter("en0", "ipackets") >= 1);
    // The gratuitous ARP and at least one reply went out.
    assert!(st.counter("en0", "opackets") >= 2);
    assert_eq!(st.counter("en0", "ierrors"), 0);

    // SIGTERM: the stack ends cleanly and its TAP is released (the device goes away).
    let sock = st.socket_path();
    assert!(st.terminate(), "the stack ends on SIGTERM");
    assert!(!sock.exists());
    assert_eq!(child.terminate(), Some(0));
    assert!(
        link_flags(&ns, TAP).is_none(),
        "{TAP} still exists after the stack ended"
    );
}

#[test]
fn a_tap_that_cannot_be_made_stops_io_pkt() {
    if !can_run_linux("a_tap_that_cannot_be_made_stops_io_pkt", &["ip"]) {
        return;
    }
    let mut st = StackProc::new_prefix("io-pkt-v4");
    // An interface name the kernel refuses.
    let o = st.start_here(&["-d", "tap", "tap=bad/name"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, "io-pkt-v4: -d tap: tap=bad/name: bad interface name\n");
    assert!(!st.socket_path().exists());
}
