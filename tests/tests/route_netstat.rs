//! route and netstat against a real stack: NetBSD's output, exactly, for adding, getting,
//! changing, deleting and flushing routes; the routing socket's errors; `route monitor`
//! seeing a change as it happens; the tables, counters and statistics netstat shows.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pktbox_stack::socket::RawSocket;
use pktbox_tests::*;

/// A stack of its own in a temporary prefix, with en0 (10.0.0.2/24) on a hub of its own.
fn hub_stack() -> StackProc {
    let mut st = StackProc::new_prefix("io-pkt-v4");
    let hub = st.dir().join("hub");
    let o = st.start_here(&["-d", "hub", &format!("path={}", hub.display())]);
    assert_eq!(o.code, Some(0), "io-pkt-v4 failed: {o:#?}");
    st.ok("ifconfig", &["en0", "10.0.0.2/24", "up"]);
    st
}

const HDR: &str = "Destination        Gateway            Flags    Refs      Use    Mtu Interface\n";
const METRICS: &str = " recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire\n";

/// route get's metrics lines: each value right-aligned in 8, then a lock column.
fn metrics(mtu: u32) -> String {
    let v: Vec<String> = [0, 0, 0, 0, 0, 0, mtu, 0].iter().map(|n| format!("{n:>8} ")).collect();
    format!("{METRICS}{}\n", v.join(" "))
}

/// The table with only what the stack's own addresses bring.
fn own_routes() -> String {
    "10.0.0/24          link#2             UC          -        -      -  en0\n\
     10.0.0.2           link#2             UHl         -        -      -  lo0\n\
     127/8              link#1             UC          -        -      -  lo0\n\
     127.0.0.1          link#1             UHl         -        -      -  lo0\n"
        .into()
}

#[test]
fn add_get_change_delete() {
    let st = hub_stack();
    assert_eq!(
        st.ok("route", &["add", "-net", "10.1", "10.0.0.1"]),
        "add net 10.1: gateway 10.0.0.1\n"
    );
    assert_eq!(
        st.ok("route", &["add", "default", "10.0.0.1"]),
        "add net default: gateway 10.0.0.1\n"
    );
    assert_eq!(
        st.ok("route", &["add", "10.9.9.9", "10.0.0.1", "-mtu", "1400"]),
        "add host 10.9.9.9: gateway 10.0.0.1\n"
    );
    assert_eq!(
        st.ok("route", &["add", "-net", "10.2.0.0/16", "-interface", "10.0.0.2"]),
        "add net 10.2.0.0: gateway 10.0.0.2\n"
    );

    // The same network again, written another way: EEXIST, both lines NetBSD prints.
    let o = st.run("route", &["add", "10.1.0.0/16", "10.0.0.1"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, "route: writing to routing socket: File exists\n");
    assert_eq!(o.stdout, "add net 10.1.0.0: gateway 10.0.0.1: File exists\n");
    // A gateway on no connected network.
    let o = st.run("route", &["add", "-net", "10.5", "10.5.0.1"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, "route: writing to routing socket: Network is unreachable\n");
    assert_eq!(o.stdout, "add net 10.5: gateway 10.5.0.1: Network is unreachable\n");

    assert_eq!(
        st.ok("route", &["-n", "get", "10.1.2.3"]),
        format!(
            "   route to: 10.1.2.3\ndestination: 10.1.0.0\n       mask: 255.255.0.0\n    gateway: 10.0.0.1\n \
             local addr: 10.0.0.2\n  interface: en0\n      flags: 0x843<UP,GATEWAY,DONE,STATIC>\n{}",
            metrics(0)
        )
    );
    assert_eq!(
        st.ok("route", &["-n", "get", "10.9.9.9"]),
        format!(
            "   route to: 10.9.9.9\ndestination: 10.9.9.9\n    gateway: 10.0.0.1\n local addr: 10.0.0.2\n  \
             interface: en0\n      flags: 0x847<UP,GATEWAY,HOST,DONE,STATIC>\n{}",
            metrics(1400)
        )
    );
    assert_eq!(
        st.ok("route", &["-n", "get", "10.2.3.4"]),
        format!(
            "   route to: 10.2.3.4\ndestination: 10.2.0.0\n       mask: 255.255.0.0\n local addr: 10.0.0.2\n  \
             interface: en0\n      flags: 0x841<UP,DONE,STATIC>\n{}",
            metrics(0)
        )
    );
    assert_eq!(st.ok("route", &["-n", "-s", "get", "192.0.2.1"]), "10.0.0.1\n");
    let j: serde_json::Value = serde_json::from_str(&st.ok("route", &["--json", "get", "10.9.9.9"])).unwrap();
    assert_eq!(j["gateway"], "10.0.0.1");
    assert_eq!(j["mtu"], 1400);
    assert_eq!(j["interface"], "en0");

    assert_eq!(
        st.ok("route", &["change", "-net", "10.1", "10.0.0.9", "-reject"]),
        "change net 10.1: gateway 10.0.0.9\n"
    );
    let g = st.ok("route", &["-n", "get", "10.1.2.3"]);
    assert!(g.contains("    gateway: 10.0.0.9\n"), "{g}");
    assert!(g.contains("      flags: 0x84b<UP,GATEWAY,REJECT,DONE,STATIC>\n"), "{g}");

    assert_eq!(
        st.ok("route", &["-n", "show"]),
        format!(
            "Routing tables\n\nInternet:\n{HDR}\
             default            10.0.0.1           UGS         -        -      -  en0\n\
             10.0.0/24          link#2             UC          -        -      -  en0\n\
             10.0.0.2           link#2             UHl         -        -      -  lo0\n\
             10.1/16            10.0.0.9           UGRS        -        -      -  en0\n\
             10.2/16            link#2             US          -        -      -  en0\n\
             10.9.9.9           10.0.0.1           UGHS        -        -   1400  en0\n\
             127/8              link#1             UC          -        -      -  lo0\n\
             127.0.0.1          link#1             UHl         -        -      -  lo0\n"
        )
    );

    assert_eq!(st.ok("route", &["delete", "-net", "10.1"]), "delete net 10.1\n");
    // -v: the message written, then the usual line.
    let v = st.ok("route", &["-nv", "add", "-net", "10.1", "10.0.0.1"]);
    let v: Vec<&str> = v.lines().collect();
    assert!(v[0].starts_with("RTM_ADD: Add Route: len "), "{v:?}");
    assert!(v[0].ends_with(", seq 2, errno 0, flags:<UP,GATEWAY,STATIC>"), "{v:?}");
    assert_eq!(
        v[1..],
        [
            "locks:  inits: ",
            "sockaddrs: <DST,GATEWAY,NETMASK>",
            " 10.1.0.0 10.0.0.1 255.255.0.0",
            "add net 10.1: gateway 10.0.0.1"
        ]
    );
    assert_eq!(st.ok("route", &["delete", "-net", "10.1"]), "delete net 10.1\n");
    let o = st.run("route", &["delete", "-net", "10.1"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, "route: writing to routing socket: not in table\n");
    assert_eq!(o.stdout, "delete net 10.1: not in table\n");
    // Now 10.1.2.3 goes the default way; with -q nothing is said.
    assert!(st
        .ok("route", &["-n", "get", "10.1.2.3"])
        .contains("destination: default\n"));
    assert_eq!(st.ok("route", &["-q", "delete", "default"]), "");
    let o = st.run("route", &["get", "192.0.2.1"]);
    assert_eq!((o.code, o.stdout.as_str()), (Some(1), ""), "{o:#?}");
    assert_eq!(o.stderr, "route: writing to routing socket: not in table\n");
}

#[test]
fn bad_command_lines() {
    let st = hub_stack();
    let before = st.ok("route", &["-n", "show"]);
    for (args, code, err) in [
        (
            &["add", "-bogus", "10.1", "10.0.0.1"][..],
            1,
            "route: botched keyword: bogus\n",
        ),
        // Usage errors exit 1, as route.c's usage() does.
        (&["bogus"][..], 1, "route: botched keyword: bogus\n"),
        (&[][..], 1, ""),
        (
            &["add", "10.0.0.300", "10.0.0.1"][..],
            1,
            "route: 10.0.0.300: bad value\n",
        ),
        (
            &["add", "-net", "10.1"][..],
            1,
            "route: missing gateway specification\n",
        ),
        (
            &["add", "-host", "-net", "10.1", "10.0.0.1"][..],
            1,
            "route: -host and -net conflict\n",
        ),
        (
            &["add", "10.1", "10.0.0.1", "-hopcount", "x"][..],
            1,
            "route: x: bad value\n",
        ),
        (
            &["add", "10.1", "10.0.0.1", "-proxy"][..],
            1,
            "route: -proxy: not supported by this stack\n",
        ),
        (&["monitor", "-x"][..], 1, "route: botched keyword: -x\n"),
        (&["-x", "show"][..], 1, "route: unknown option -- x\nusage: route "),
    ] {
        let o = st.run("route", args);
        assert_eq!(o.code, Some(code), "route {args:?}: {o:#?}");
        assert!(o.stderr.starts_with(err), "route {args:?}: {o:#?}");
        assert!(!o.stderr.is_empty(), "route {args:?} said nothing");
    }
    assert_eq!(
        st.ok("route", &["-n", "show"]),
        before,
        "a refused command changed the table"
    );
}

#[test]
fn flush_and_flushall() {
    let st = hub_stack();
    st.ok("route", &["add", "default", "10.0.0.1"]);
    st.ok("route", &["add", "-net", "10.1", "10.0.0.1"]);
    st.ok("route", &["add", "-net", "10.3", "-interface", "10.0.0.2"]);
    // Neither gateway nor static: flush leaves it, flushall does not.
    st.ok("route", &["add", "-net", "10.4", "-interface", "10.0.0.2", "-nostatic"]);
    assert_eq!(
        st.ok("route", &["-n", "flush"]),
        "default              10.0.0.1             done\n\
         10.1/16              10.0.0.1             done\n\
         10.3/16              link#2               done\n"
    );
    assert_eq!(
        st.ok("netstat", &["-rn"]),
        format!(
            "Routing tables\n\nInternet:\n{HDR}\
             10.0.0/24          link#2             UC          -        -      -  en0\n\
             10.0.0.2           link#2             UHl         -        -      -  lo0\n\
             10.4/16            link#2             U           -        -      -  en0\n\
             127/8              link#1             UC          -        -      -  lo0\n\
             127.0.0.1          link#1             UHl         -        -      -  lo0\n"
        )
    );
    assert_eq!(
        st.ok("route", &["-n", "flushall"]),
        "10.4/16              link#2               done\n"
    );
    assert_eq!(
        st.ok("netstat", &["-rn"]),
        format!("Routing tables\n\nInternet:\n{HDR}{}", own_routes())
    );
    assert_eq!(st.ok("route", &["flush"]), "");
    // -f with a command flushes first.
    st.ok("route", &["add", "-net", "10.1", "10.0.0.1"]);
    assert_eq!(
        st.ok("route", &["-nf", "add", "-net", "10.6", "10.0.0.1"]),
        "10.1/16              10.0.0.1             done\nadd net 10.6: gateway 10.0.0.1\n"
    );
}

#[test]
fn only_root_changes_routes() {
    if !can_run_as_nobody("only_root_changes_routes") {
        return;
    }
    let st = hub_stack();
    st.ok("route", &["add", "default", "10.0.0.1"]);
    let b = open_to_others(&st);
    let table = st.ok("netstat", &["-rn"]);
    for (args, line) in [
        (
            &["route", "add", "-net", "10.1", "10.0.0.1"][..],
            "add net 10.1: gateway 10.0.0.1: Permission denied\n",
        ),
        (
            &["route", "delete", "default"][..],
            "delete net default: Permission denied\n",
        ),
        (
            &["route", "change", "default", "10.0.0.9"][..],
            "change net default: gateway 10.0.0.9: Permission denied\n",
        ),
    ] {
        let o = as_nobody(&st, &b, args);
        assert_eq!(o.code, Some(1), "{args:?}: {o:#?}");
        assert_eq!(
            o.stderr, "route: writing to routing socket: Permission denied\n",
            "{args:?}"
        );
        assert_eq!(o.stdout, line, "{args:?}");
    }
    let o = as_nobody(&st, &b, &["route", "flush"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(1), "route: writing to routing socket: Permission denied\n")
    );
    // Reading is open to everyone.
    let o = as_nobody(&st, &b, &["netstat", "-rn"]);
    assert_eq!((o.code, &o.stdout), (Some(0), &table), "{o:#?}");
    let o = as_nobody(&st, &b, &["route", "-n", "get", "10.7.7.7"]);
    assert_eq!(o.code, Some(0), "{o:#?}");
    assert_eq!(st.ok("netstat", &["-rn"]), table, "nobody changed the table");
}

/// Lines from a child's standard output, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn monitor_sees_a_route_added() {
    let st = hub_stack();
    let mut mon = st.command("route", &["-n", "monitor"]);
    mon.stdout(Stdio::piped());
    let mut mon = ChildGuard::spawn(mon);
    let lines = lines_of(&mut mon.child);
    // The monitor subscribes when it has started: poke the table until it shows it hears.
    let t = Instant::now();
    loop {
        st.ok("route", &["-q", "add", "10.99.99.99", "10.0.0.1"]);
        st.ok("route", &["-q", "delete", "10.99.99.99"]);
        if lines.recv_timeout(Duration::from_millis(200)).is_ok() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "route monitor printed nothing");
    }
    let mut add = st.command("route", &["add", "-net", "10.7", "10.0.0.1"]);
    add.stdout(Stdio::null());
    let mut add = ChildGuard::spawn(add);
    let pid = add.child.id();
    assert!(add.child.wait().unwrap().success());
    // Skip what the pokes printed, up to the header of our message.
    let want = "RTM_ADD: Add Route: len ";
    let mut before = String::new();
    let (size, msg) = loop {
        let l = lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no RTM_ADD for 10.7/16; got:\n{before}"));
        before += &l;
        before.push('\n');
        if let Some(s) = before
            .lines()
            .rev()
            .nth(1)
            .and_then(|p| p.strip_prefix("got message of size "))
        {
            if l.starts_with(want) && l.contains(&format!("pid: {pid},")) {
                break (s.split(' ').next().unwrap().to_string(), l);
            }
        }
    };
    assert_eq!(
        msg,
        // seq 2: the channel's hello was the first message of the connection.
        format!("{want}{size}, pid: {pid}, seq 2, errno 0, flags:<UP,GATEWAY,DONE,STATIC>")
    );
    let rest: Vec<String> = (0..3)
        .map(|_| lines.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(
        rest,
        [
            "locks:  inits: ",
            "sockaddrs: <DST,GATEWAY,NETMASK,IFP,IFA>",
            " 10.7.0.0 10.0.0.1 255.255.0.0 en0 10.0.0.2"
        ]
    );
    // An address added shows as RTM_NEWADDR.
    st.ok("ifconfig", &["en0", "10.0.0.3/24", "alias"]);
    let t = Instant::now();
    let mut seen = String::new();
    while !seen.contains("RTM_NEWADDR: address being added to iface: len ") {
        let l = lines.recv_timeout(Duration::from_secs(10)).expect("no RTM_NEWADDR");
        seen += &l;
        seen.push('\n');
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    // -c: one message, then exit.
    let mut one = st.command("route", &["-n", "monitor", "-c", "1"]);
    one.stdout(Stdio::piped());
    let mut one = ChildGuard::spawn(one);
    let one_lines = lines_of(&mut one.child);
    let t = Instant::now();
    loop {
        st.ok("route", &["-q", "add", "10.98.98.98", "10.0.0.1"]);
        st.ok("route", &["-q", "delete", "10.98.98.98"]);
        if let Some(s) = one.child.try_wait().unwrap() {
            assert!(s.success());
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "route monitor -c 1 did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let printed: Vec<String> = one_lines.iter().collect();
    assert!(printed[0].starts_with("got message of size "), "{printed:?}");
    assert!(printed[1].starts_with("RTM_"), "{printed:?}");
    assert_eq!(
        printed.iter().filter(|l| l.starts_with("got message")).count(),
        1,
        "{printed:?}"
    );
}

#[test]
fn netstat_routes_from_addresses_and_route() {
    let st = hub_stack();
    assert_eq!(
        st.ok("netstat", &["-rn"]),
        format!("Routing tables\n\nInternet:\n{HDR}{}", own_routes())
    );
    st.ok("ifconfig", &["en0", "10.0.0.3/24", "alias"]);
    st.ok("ifconfig", &["lo0", "192.168.5.1/28", "alias"]);
    st.ok("route", &["add", "default", "10.0.0.1"]);
    st.ok("route", &["add", "-net", "172.16", "10.0.0.1", "-blackhole", "-proto1"]);
    st.ok("route", &["add", "10.9.9.9", "10.0.0.1", "-reject", "-mtu", "1280"]);
    assert_eq!(
        st.ok("netstat", &["-r", "-n"]),
        format!(
            "Routing tables\n\nInternet:\n{HDR}\
             default            10.0.0.1           UGS         -        -      -  en0\n\
             10.0.0/24          link#2             UC          -        -      -  en0\n\
             10.0.0.2           link#2             UHl         -        -      -  lo0\n\
             10.0.0.3           link#2             UHl         -        -      -  lo0\n\
             10.9.9.9           10.0.0.1           UGHRS       -        -   1280  en0\n\
             127/8              link#1             UC          -        -      -  lo0\n\
             127.0.0.1          link#1             UHl         -        -      -  lo0\n\
             172.16/16          10.0.0.1           UGS1B       -        -      -  en0\n\
             192.168.5.0/28     link#1             UC          -        -      -  lo0\n\
             192.168.5.1        link#1             UHl         -        -      -  lo0\n"
        )
    );
    assert_eq!(st.ok("route", &["-n", "show"]), st.ok("netstat", &["-rn"]));
    let j: serde_json::Value = serde_json::from_str(&st.ok("netstat", &["-rn", "--json"])).unwrap();
    let routes = j.as_array().unwrap();
    assert_eq!(routes.len(), 10);
    let d = routes.iter().find(|r| r["name"] == "default").unwrap();
    assert_eq!(
        (d["gateway"].as_str(), d["interface"].as_str()),
        (Some("10.0.0.1"), Some("en0"))
    );
    let c = routes.iter().find(|r| r["name"] == "10.0.0/24").unwrap();
    assert_eq!(
        (c["gateway_link"].as_u64(), c["prefixlen"].as_u64()),
        (Some(2), Some(24))
    );
    // An address that goes takes its routes along.
    st.ok("ifconfig", &["en0", "10.0.0.3", "-alias"]);
    assert!(!st.ok("netstat", &["-rn"]).contains("10.0.0.3 "));
}

/// The counters of one line of `netstat -i`: Ipkts Ierrs Opkts Oerrs Colls.
fn counters(table: &str, name: &str, network: &str) -> [u64; 5] {
    let l = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name) && l.contains(network))
        .unwrap_or_else(|| panic!("no {name} {network} line in:\n{table}"));
    let v: Vec<u64> = l.split_whitespace().rev().take(5).map(|n| n.parse().unwrap()).collect();
    [v[4], v[3], v[2], v[1], v[0]]
}

#[test]
fn netstat_interfaces_and_counters() {
    let st = hub_stack();
    let mac = st
        .ok("ifconfig", &["en0"])
        .lines()
        .find_map(|l| l.trim().strip_prefix("address: ").map(String::from))
        .unwrap();
    let t = st.ok("netstat", &["-in"]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0],
        "Name  Mtu   Network       Address              Ipkts Ierrs    Opkts Oerrs Colls"
    );
    assert_eq!(lines.len(), 5, "{t}");
    assert!(
        lines[1].starts_with("lo0   33624 <Link>                        "),
        "{t}"
    );
    assert!(
        lines[2].starts_with("lo0   33624 127/8         127.0.0.1         "),
        "{t}"
    );
    assert!(
        lines[3].starts_with(&format!("en0   1500  <Link>        {mac}  ")),
        "{t}"
    );
    assert!(
        lines[4].starts_with("en0   1500  10.0.0/24     10.0.0.2          "),
        "{t}"
    );
    assert_eq!(counters(&t, "en0", "<Link>"), counters(&t, "en0", "10.0.0/24"));

    // Traffic moves the counters: echo requests to ourselves over loopback, and one towards
    // a neighbour that is not there (an ARP request goes out of en0).
    let before_lo = counters(&t, "lo0", "<Link>");
    let before_en = counters(&t, "en0", "<Link>");
    let mut raw = RawSocket::open_at(st.prefix(), 1).unwrap();
    let echo = [8u8, 0, 0xf7, 0xfe, 0, 1, 0, 0];
    for _ in 0..3 {
        raw.send_to(&echo, "127.0.0.1".parse().unwrap()).unwrap();
    }
    raw.send_to(&echo, "10.0.0.77".parse().unwrap()).unwrap();
    let t0 = Instant::now();
    let (lo, en) = loop {
        let t = st.ok("netstat", &["-in"]);
        let (lo, en) = (counters(&t, "lo0", "127/8"), counters(&t, "en0", "<Link>"));
        if lo[0] >= before_lo[0] + 6 && en[2] > before_en[2] {
            break (lo, en);
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "counters did not move:\n{t}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(lo[0], lo[2], "loopback: what goes out comes in");
    assert_eq!((lo[1], lo[3], en[1], en[3]), (0, 0, 0, 0));

    // The JSON says the same; -I shows one interface; -b bytes.
    let j: serde_json::Value = serde_json::from_str(&st.ok("netstat", &["-i", "--json"])).unwrap();
    let en0 = j.as_array().unwrap().iter().find(|i| i["name"] == "en0").unwrap();
    assert_eq!(en0["opackets"].as_u64(), Some(en[2]));
    assert_eq!(en0["inet"][0]["address"], "10.0.0.2");
    let t = st.ok("netstat", &["-n", "-I", "en0"]);
    assert_eq!(t.lines().count(), 3, "{t}");
    assert!(t.lines().skip(1).all(|l| l.starts_with("en0 ")), "{t}");
    assert!(st
        .ok("netstat", &["-inb"])
        .starts_with("Name  Mtu   Network       Address               Ibytes     Obytes\n"));
    let o = st.run("netstat", &["-I", "en9"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(1), "netstat: en9: unknown interface\n")
    );

    // -w: the banner, the totals so far, then what changed.
    let w = st.ok("netstat", &["-w", "1", "-c", "2", "-I", "lo0"]);
    let wl: Vec<&str> = w.lines().collect();
    assert_eq!(
        wl[..2],
        [
            "  lo0 in        lo0 out              total in      total out            ",
            " packets  errs  packets  errs colls   packets  errs  packets  errs colls"
        ]
    );
    assert_eq!(wl.len(), 4, "{w}");
    let first: Vec<u64> = wl[2].split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert!(first[0] >= lo[0] && first[5] >= first[0], "{w}");
}

#[test]
fn netstat_statistics() {
    let st = hub_stack();
    // Echo requests to ourselves: the stack answers each.
    let mut raw = RawSocket::open_at(st.prefix(), 1).unwrap();
    for _ in 0..2 {
        raw.send_to(&[8u8, 0, 0xf7, 0xfe, 0, 1, 0, 0], "127.0.0.1".parse().unwrap())
            .unwrap();
    }
    let t0 = Instant::now();
    let icmp = loop {
        let t = st.ok("netstat", &["-ss", "-p", "icmp"]);
        if t.contains("\t\techo: 2\n") && t.matches("\t\techo reply: 2\n").count() == 2 {
            break t;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no echo counters:\n{t}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        icmp,
        "icmp:\n\tOutput histogram:\n\t\techo reply: 2\n\tInput histogram:\n\t\techo reply: 2\n\t\techo: 2\n\
         \t2 message responses generated\n"
    );

    let all = st.ok("netstat", &["-s"]);
    let heads: Vec<&str> = all.lines().filter(|l| !l.starts_with('\t')).collect();
    assert_eq!(heads, ["ip:", "icmp:", "tcp:", "udp:", "arp:"]);
    for l in all.lines().filter(|l| l.starts_with('\t')) {
        let l = l.trim_start_matches('\t');
        let ok = l.split(' ').next().is_some_and(|n| n.parse::<u64>().is_ok())
            || l.ends_with("histogram:")
            || l.rsplit_once(": ").is_some_and(|(_, n)| n.parse::<u64>().is_ok());
        assert!(ok, "not a counter line: {l:?}");
    }
    assert!(all.contains("\t0 bad header checksums\n"), "{all}");
    // The stack wrote the IP headers of what the raw socket sent (no IP_HDRINCL).
    assert!(all.contains("\t0 packets sent with fabricated ip header\n"), "{all}");
    assert!(!all.contains("\t0 packets sent from this host\n"), "{all}");
    let total = |t: &str| -> u64 {
        t.lines()
            .find_map(|l| {
                l.strip_prefix("\t")?
                    .strip_suffix(" total packets received")?
                    .parse()
                    .ok()
            })
            .unwrap()
    };
    assert!(total(&all) >= 4, "{all}");
    let j: serde_json::Value = serde_json::from_str(&st.ok("netstat", &["-s", "--json"])).unwrap();
    assert!(j["ip"]["total"].as_u64().unwrap() >= total(&all));
    assert_eq!(j["icmp"]["inhist"][8], 2);
    // -ss leaves out the zeros, -p one protocol.
    let ss = st.ok("netstat", &["-ss"]);
    assert!(!ss.lines().any(|l| l.starts_with("\t0 ")), "{ss}");
    assert!(ss.lines().count() < all.lines().count());
    assert!(st.ok("netstat", &["-s", "-p", "arp"]).starts_with("arp:\n\t"));
    assert!(st.ok("netstat", &["-p", "ip"]).starts_with("ip:\n\t"));
}

#[test]
fn netstat_socket_tables() {
    let st = hub_stack();
    let empty = "Active Internet connections (including servers)\n\
                 Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n";
    assert_eq!(st.ok("netstat", &["-an"]), empty);
    let _l = pktbox_stack::socket::TcpListener::bind_at(st.prefix(), "0.0.0.0:5300", 4).unwrap();
    let _u = pktbox_stack::socket::UdpSocket::bind_at(st.prefix(), "10.0.0.2:5301").unwrap();
    assert_eq!(
        st.ok("netstat", &["-an"]),
        format!(
            "{empty}tcp        0      0  *.5300                 *.*                    LISTEN\n\
             udp        0      0  10.0.0.2.5301          *.*\n"
        )
    );
    // Nothing here is longer than its column: -v changes nothing.
    assert_eq!(st.ok("netstat", &["-anv"]), st.ok("netstat", &["-an"]));
    assert_eq!(st.ok("netstat", &["-inv"]), st.ok("netstat", &["-in"]));
    // Without -a, servers are left out.
    assert_eq!(
        st.ok("netstat", &["-n"]),
        "Active Internet connections\n\
         Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n"
    );
    let j: serde_json::Value = serde_json::from_str(&st.ok("netstat", &["-an", "--json"])).unwrap();
    assert_eq!(j[0]["state"], "LISTEN");
}

#[test]
fn netstat_refuses_what_it_cannot_do() {
    let st = hub_stack();
    for (args, code, err) in [
        (
            &["-f", "unix"][..],
            1,
            "netstat: unix-domain socket tables are not in this build yet\n",
        ),
        (&["-p", "tcp6"][..], 1, "netstat: tcp6: not in this build yet\n"),
        (
            &["-s", "-p", "bogus"][..],
            1,
            "netstat: bogus: unknown or uninstrumented protocol\n",
        ),
        (
            &["-f", "bogus", "-r"][..],
            1,
            "netstat: bogus: unknown address family\n",
        ),
        (
            &["-rs"][..],
            1,
            "netstat: routing statistics are not in this build yet\n",
        ),
        (&["-c", "2", "-i"][..], 1, "netstat: -c goes with -w\n"),
        (
            &["-rv"][..],
            1,
            "netstat: -v goes with -i, -f arp or the socket table\n",
        ),
        (&["-Z"][..], 1, "netstat: unknown option -- Z\nusage: netstat "),
    ] {
        let o = st.run("netstat", args);
        assert_eq!(o.code, Some(code), "netstat {args:?}: {o:#?}");
        assert!(
            o.stderr.starts_with(err) && !o.stderr.is_empty(),
            "netstat {args:?}: {o:#?}"
        );
        assert_eq!(o.stdout, "", "netstat {args:?}");
    }
    // The ARP cache: the neighbour that was asked for and never answered is incomplete.
    let mut raw = RawSocket::open_at(st.prefix(), 1).unwrap();
    raw.send_to(&[8u8, 0, 0xf7, 0xfe, 0, 1, 0, 0], "10.0.0.77".parse().unwrap())
        .unwrap();
    let t0 = Instant::now();
    loop {
        let t = st.ok("netstat", &["-n", "-f", "arp"]);
        if let Some(l) = t.lines().find(|l| l.starts_with("10.0.0.77 ")) {
            assert!(l.contains("(incomplete)") && l.ends_with("  en0"), "{t}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no ARP entry:\n{t}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An io-pkt-v6-hc stack (both families) with en0 (10.0.0.2/24) on a hub of its own.
fn v6_stack() -> StackProc {
    let mut st = StackProc::new_prefix("io-pkt-v6-hc");
    let hub = st.dir().join("hub");
    let o = st.start_here(&["-d", "hub", &format!("path={}", hub.display())]);
    assert_eq!(o.code, Some(0), "io-pkt-v6-hc failed: {o:#?}");
    st.ok("ifconfig", &["en0", "10.0.0.2/24", "up"]);
    // The stack's own IPv6 addresses (lo0's ::1 and fe80::1, en0's link-local) go, with
    // their routes, so that the IPv6 table holds only what these tests put there.
    let mut ifname = String::new();
    for l in st.ok("ifconfig", &["-a"]).lines() {
        if !l.starts_with('\t') {
            ifname = l.split(':').next().unwrap_or_default().to_string();
        } else if let Some(rest) = l.trim().strip_prefix("inet6 ") {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            let addr = addr.split('%').next().unwrap_or_default();
            st.ok("ifconfig", &[&ifname, "inet6", addr, "delete"]);
        }
    }
    st
}

const HDR6: &str =
    "Destination                        Gateway                        Flags    Refs      Use    Mtu Interface\n";

#[test]
fn inet6_routes_add_get_show_delete_flush() {
    let st = v6_stack();
    // An on-link prefix through the interface: the gateway is the interface, as NetBSD says.
    assert_eq!(
        st.ok("route", &["add", "-inet6", "2001:db8::/64", "-interface", "en0"]),
        "add net 2001:db8::: gateway en0\n"
    );
    // A gateway inside it is reachable.
    assert_eq!(
        st.ok(
            "route",
            &["add", "-inet6", "2001:db8:1::", "-prefixlen", "48", "2001:db8::1"]
        ),
        "add net 2001:db8:1::: gateway 2001:db8::1\n"
    );
    // A gateway reached only through another gateway, or on no network at all: refused.
    for (dst, gw) in [
        ("2001:db8:2::/48", "2001:db8:1::1"),
        ("2001:db8:3::/48", "2001:dead::1"),
    ] {
        let o = st.run("route", &["add", "-inet6", dst, gw]);
        assert_eq!(o.code, Some(1), "{o:#?}");
        assert_eq!(o.stderr, "route: writing to routing socket: Network is unreachable\n");
        let shown = dst.split('/').next().unwrap();
        assert_eq!(
            o.stdout,
            format!("add net {shown}: gateway {gw}: Network is unreachable\n")
        );
    }
    // A link-local router needs its zone.
    let o = st.run("route", &["add", "-inet6", "2001:db8:4::/48", "fe80::1"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(1), "route: writing to routing socket: Network is unreachable\n")
    );
    let o = st.run("route", &["add", "-inet6", "2001:db8:4::/48", "fe80::1%nosuch0"]);
    assert_eq!((o.code, o.stderr.as_str()), (Some(1), "route: %nosuch0: bad value\n"));
    assert_eq!(
        st.ok("route", &["add", "-inet6", "default", "fe80::1%en0"]),
        "add net default: gateway fe80::1%en0\n"
    );
    assert_eq!(
        st.ok(
            "route",
            &["add", "-inet6", "2001:db8:5::7", "2001:db8::1", "-mtu", "1400"]
        ),
        "add host 2001:db8:5::7: gateway 2001:db8::1\n"
    );

    let z = |mtu: u32| {
        let v: Vec<String> = [0, 0, 0, 0, 0, 0, mtu, 0].iter().map(|n| format!("{n:>8} ")).collect();
        format!("{METRICS}{}\n", v.join(" "))
    };
    assert_eq!(
        st.ok("route", &["-n", "get", "-inet6", "2001:db8:1::5"]),
        format!(
            "   route to: 2001:db8:1::5\ndestination: 2001:db8:1::\n       mask: ffff:ffff:ffff::\n    \
             gateway: 2001:db8::1\n  interface: en0\n      flags: 0x843<UP,GATEWAY,DONE,STATIC>\n{}",
            z(0)
        )
    );
    assert_eq!(
        st.ok("route", &["-n", "get", "-inet6", "2001:db9::1"]),
        format!(
            "   route to: 2001:db9::1\ndestination: default\n       mask: default\n    \
             gateway: fe80::1%en0\n  interface: en0\n      flags: 0x843<UP,GATEWAY,DONE,STATIC>\n{}",
            z(0)
        )
    );
    assert_eq!(
        st.ok("route", &["-n", "get", "-inet6", "2001:db8:5::7"]),
        format!(
            "   route to: 2001:db8:5::7\ndestination: 2001:db8:5::7\n    \
             gateway: 2001:db8::1\n  interface: en0\n      flags: 0x847<UP,GATEWAY,HOST,DONE,STATIC>\n{}",
            z(1400)
        )
    );
    assert_eq!(
        st.ok("route", &["-n", "-s", "get", "-inet6", "2001:db8:1::1"]),
        "2001:db8::1\n"
    );

    let six = format!(
        "Routing tables\n\nInternet6:\n{HDR6}\
         default                            fe80::1%en0                    UGS         -        -      -  en0\n\
         2001:db8::/64                      link#2                         US          -        -      -  en0\n\
         2001:db8:1::/48                    2001:db8::1                    UGS         -        -      -  en0\n\
         2001:db8:5::7                      2001:db8::1                    UGHS        -        -   1400  en0\n"
    );
    assert_eq!(st.ok("route", &["-n", "show", "-inet6"]), six);
    assert_eq!(st.ok("netstat", &["-rn", "-f", "inet6"]), six);
    let four = st.ok("netstat", &["-rn", "-f", "inet"]);
    assert_eq!(four, format!("Routing tables\n\nInternet:\n{HDR}{}", own_routes()));
    // Both: Internet first, then Internet6, as NetBSD.
    assert_eq!(
        st.ok("netstat", &["-rn"]),
        format!("{four}{}", six.strip_prefix("Routing tables\n").unwrap())
    );
    assert_eq!(st.ok("route", &["-n", "show"]), st.ok("netstat", &["-rn"]));
    let j: serde_json::Value = serde_json::from_str(&st.ok("netstat", &["-rn", "--json"])).unwrap();
    let routes = j.as_array().unwrap();
    assert_eq!(routes.iter().filter(|r| r["family"] == "inet6").count(), 4);
    assert_eq!(routes.iter().filter(|r| r["family"] == "inet").count(), 4);
    let d = routes
        .iter()
        .find(|r| r["family"] == "inet6" && r["name"] == "default")
        .unwrap();
    assert_eq!(
        (d["gateway"].as_str(), d["gateway_scope"].as_str()),
        (Some("fe80::1"), Some("en0"))
    );

    assert_eq!(
        st.ok("route", &["delete", "-inet6", "2001:db8:1::/48"]),
        "delete net 2001:db8:1::\n"
    );
    let o = st.run("route", &["delete", "-inet6", "2001:db8:1::/48"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (Some(1), "delete net 2001:db8:1::: not in table\n")
    );
    assert_eq!(
        st.ok("route", &["delete", "-inet6", "2001:db8:5::7"]),
        "delete host 2001:db8:5::7\n"
    );
    // flush -inet6 takes the IPv6 gateway and static routes and leaves IPv4 alone.
    st.ok("route", &["add", "default", "10.0.0.1"]);
    assert_eq!(
        st.ok("route", &["-n", "flush", "-inet6"]),
        "default              fe80::1%en0          done\n\
         2001:db8::/64        link#2               done\n"
    );
    assert_eq!(st.ok("netstat", &["-rn", "-f", "inet6"]), "Routing tables\n");
    assert!(st
        .ok("netstat", &["-rn"])
        .contains("default            10.0.0.1           UGS"));
}

#[test]
fn v4_variants_refuse_inet6_routes() {
    let st = hub_stack();
    let before = st.ok("netstat", &["-rn"]);
    let err = "route: writing to routing socket: Address family not supported by protocol family\n";
    let o = st.run("route", &["add", "-inet6", "2001:db8::/64", "-interface", "en0"]);
    assert_eq!((o.code, o.stderr.as_str()), (Some(1), err), "{o:#?}");
    assert_eq!(
        o.stdout,
        "add net 2001:db8::: gateway en0: Address family not supported by protocol family\n"
    );
    for args in [
        &["get", "-inet6", "2001:db8::1"][..],
        &["delete", "-inet6", "2001:db8::/64"][..],
        &["flush", "-inet6"][..],
    ] {
        let o = st.run("route", args);
        assert_eq!((o.code, o.stderr.as_str()), (Some(1), err), "route {args:?}: {o:#?}");
    }
    assert_eq!(st.ok("netstat", &["-rn"]), before);
    assert_eq!(st.ok("netstat", &["-rn", "-f", "inet6"]), "Routing tables\n");
}

#[test]
fn modifiers_and_their_effect() {
    let st = hub_stack();
    st.ok("ifconfig", &["en0", "10.0.0.3/24", "alias"]);
    // -ifa picks the source address the route uses; one not ours is refused as NetBSD does.
    st.ok("route", &["add", "-net", "10.7", "10.0.0.1", "-ifa", "10.0.0.3"]);
    assert!(st
        .ok("route", &["-n", "get", "10.7.0.1"])
        .contains(" local addr: 10.0.0.3\n"));
    // ... and packets that take the route leave from it: a router on the hub (10.0.0.1,
    // owning 10.7.0.1 and 10.6.0.1) sees which source each datagram has.
    let mut router = StackProc::new_prefix("io-pkt-v4");
    let hub = st.dir().join("hub");
    let o = router.start_here(&["-d", "hub", &format!("path={}", hub.display())]);
    assert_eq!(o.code, Some(0), "{o:#?}");
    router.ok("ifconfig", &["en0", "10.0.0.1/24", "up"]);
    router.ok("ifconfig", &["lo0", "10.7.0.1/32", "alias"]);
    router.ok("ifconfig", &["lo0", "10.6.0.1/32", "alias"]);
    st.ok("route", &["add", "-net", "10.6", "10.0.0.1"]);
    let src_to = |dst: &str| {
        let mut rx = pktbox_stack::socket::UdpSocket::bind_at(router.prefix(), format!("{dst}:9")).unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut tx = pktbox_stack::socket::UdpSocket::bind_at(st.prefix(), "0.0.0.0:0").unwrap();
        let mut buf = [0u8; 16];
        let t = Instant::now();
        loop {
            tx.send_to(b"which source", format!("{dst}:9")).unwrap();
            if let Ok((_, from)) = rx.recv_from(&mut buf) {
                return from.ip().to_string();
            }
            assert!(t.elapsed() < Duration::from_secs(10), "nothing reached {dst}");
        }
    };
    assert_eq!(src_to("10.7.0.1"), "10.0.0.3");
    assert_eq!(src_to("10.6.0.1"), "10.0.0.2");
    let o = st.run("route", &["add", "-net", "10.8", "10.0.0.1", "-ifa", "10.0.0.99"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, "route: writing to routing socket: Network is unreachable\n");
    // Metrics are kept and shown; -lock locks the next one, -lockrest every later one.
    st.ok(
        "route",
        &[
            "add",
            "10.9.9.9",
            "10.0.0.1",
            "-hopcount",
            "3",
            "-lock",
            "-mtu",
            "1300",
            "-rtt",
            "20000",
            "-recvpipe",
            "8192",
            "-lockrest",
            "-ssthresh",
            "9",
            "-rttvar",
            "1500",
        ],
    );
    let g = st.ok("route", &["-n", "get", "10.9.9.9"]);
    assert!(
        g.ends_with(&format!(
            "{METRICS}    8192         0         9L       20         2L        3      1300L        0 \n"
        )),
        "{g}"
    );
    // The locked MTU is marked in the table too.
    let t = st.ok("netstat", &["-rn"]);
    assert!(
        t.contains("10.9.9.9           10.0.0.1           UGHS        -        -   1300L en0\n"),
        "{t}"
    );
    // -expire is an absolute time; route get shows what is left.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    st.ok(
        "route",
        &["add", "10.9.9.8", "10.0.0.1", "-expire", &(now + 1000).to_string()],
    );
    let g = st.ok("route", &["-n", "get", "10.9.9.8"]);
    let left: i64 = g
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    assert!((900..=1000).contains(&left), "{g}");
    // change sets only the metrics it names.
    st.ok("route", &["change", "10.9.9.9", "10.0.0.1", "-hopcount", "5"]);
    let g = st.ok("route", &["-n", "get", "10.9.9.9"]);
    assert!(g.contains("        5      1300L"), "{g}");
    // Setting a metric again takes its lock from the request: the MTU unlocked, then locked.
    st.ok("route", &["change", "10.9.9.9", "10.0.0.1", "-mtu", "1200"]);
    assert!(st
        .ok("route", &["-n", "get", "10.9.9.9"])
        .contains("        5      1200         0 \n"));
    st.ok("route", &["change", "10.9.9.9", "10.0.0.1", "-lock", "-mtu", "1200"]);
    assert!(st
        .ok("route", &["-n", "get", "10.9.9.9"])
        .contains("        5      1200L        0 \n"));
    // Flags: letters in the table and names in route get.
    st.ok(
        "route",
        &["add", "-net", "10.20", "10.0.0.1", "-proto1", "-proto2", "-nostatic"],
    );
    st.ok(
        "route",
        &["add", "-net", "10.21", "10.0.0.1", "-cloning", "-llinfo", "-xresolve"],
    );
    st.ok("route", &["add", "-net", "10.22", "10.0.0.1", "-blackhole"]);
    let t = st.ok("netstat", &["-rn"]);
    for line in [
        "10.20/16           10.0.0.1           UG12        -        -      -  en0\n",
        "10.21/16           10.0.0.1           UGCXLS      -        -      -  en0\n",
        "10.22/16           10.0.0.1           UGSB        -        -      -  en0\n",
    ] {
        assert!(t.contains(line), "{line} not in\n{t}");
    }
    assert!(st
        .ok("route", &["-n", "get", "10.21.0.1"])
        .contains("      flags: 0xf43<UP,GATEWAY,DONE,CONNECTED,XRESOLVE,LLINFO,STATIC>\n"));
    // -link IF: an interface route, the gateway printed as the interface.
    assert_eq!(
        st.ok("route", &["add", "-net", "10.23", "-link", "en0"]),
        "add net 10.23: gateway en0\n"
    );
    assert!(st
        .ok("route", &["-n", "get", "10.23.0.1"])
        .contains("  interface: en0\n      flags: 0x841<UP,DONE,STATIC>\n"));
    // -reject and -blackhole work in the output path: a reject route answers EHOSTUNREACH.
    st.ok("route", &["add", "10.30.0.1", "10.0.0.1", "-reject"]);
    let o = st.run("ping", &["-n", "-c", "1", "10.30.0.1"]);
    assert_ne!(o.code, Some(0), "{o:#?}");
}

#[test]
fn monitor_shows_inet6_messages() {
    let st = v6_stack();
    let mut mon = st.command("route", &["-n", "monitor"]);
    mon.stdout(Stdio::piped());
    let mut mon = ChildGuard::spawn(mon);
    let lines = lines_of(&mut mon.child);
    // Add and delete until the monitor, once subscribed, has printed both.
    let want = [
        "sockaddrs: <DST,GATEWAY,NETMASK,IFP>",
        " 2001:db8:7:: fe80::1%en0 ffff:ffff:ffff:: en0",
    ];
    let t = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    let (mut add, mut del) = (false, false);
    while !(add && del) {
        st.ok("route", &["-q", "add", "-inet6", "2001:db8:7::/48", "fe80::1%en0"]);
        st.ok("route", &["-q", "delete", "-inet6", "2001:db8:7::/48"]);
        while let Ok(l) = lines.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
            let n = seen.len();
            if n >= 4 && seen[n - 2] == want[0] && seen[n - 1] == want[1] {
                let head = &seen[n - 4];
                assert_eq!(seen[n - 3], "locks:  inits: ", "{seen:#?}");
                assert!(head.ends_with("errno 0, flags:<UP,GATEWAY,DONE,STATIC>"), "{seen:#?}");
                add |= head.starts_with("RTM_ADD: Add Route: len ");
                del |= head.starts_with("RTM_DELETE: Delete Route: len ");
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no IPv6 route messages:\n{seen:#?}"
        );
    }
}

#[test]
fn inet6_link_local_routes_by_zone() {
    let st = v6_stack();
    st.ok("ifconfig", &["lo0", "up"]);
    assert_eq!(
        st.ok("route", &["add", "-inet6", "fe80::%en0/64", "-interface", "en0"]),
        "add net fe80::%en0: gateway en0\n"
    );
    // The same prefix on another link is another route.
    assert_eq!(
        st.ok("route", &["add", "-inet6", "fe80::%lo0/64", "-interface", "lo0"]),
        "add net fe80::%lo0: gateway lo0\n"
    );
    let g = st.ok("route", &["-n", "get", "-inet6", "fe80::5%en0"]);
    assert!(
        g.starts_with(
            "   route to: fe80::5%en0\ndestination: fe80::%en0\n       mask: ffff:ffff:ffff:ffff::\n  \
             interface: en0\n      flags: 0x841<UP,DONE,STATIC>\n"
        ),
        "{g}"
    );
    assert!(st
        .ok("route", &["-n", "get", "-inet6", "fe80::5%lo0"])
        .contains("  interface: lo0\n"));
    // Without its zone a link-local destination is on no link.
    let o = st.run("route", &["-n", "get", "-inet6", "fe80::5"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(1), "route: writing to routing socket: not in table\n")
    );
    let t = st.ok("netstat", &["-rn", "-f", "inet6"]);
    assert!(
        t.contains("\nfe80::%en0/64                      link#2                         US "),
        "{t}"
    );
    assert!(
        t.contains("\nfe80::%lo0/64                      link#1                         US "),
        "{t}"
    );
    assert_eq!(
        st.ok("route", &["delete", "-inet6", "fe80::%lo0/64"]),
        "delete net fe80::%lo0\n"
    );
    assert!(st
        .ok("route", &["-n", "get", "-inet6", "fe80::5%en0"])
        .contains("  interface: en0\n"));
}
