//! Layer 2 (issue 11): interfaces cloned at run time, bridge(4) with 802.1D STP, brconfig.
//! Stacks wired by hub segments need no privilege; the Linux peers (two namespaces joined
//! by a pktbox bridge, and STP against Linux's kernel bridge) run as root.

use std::path::Path;
use std::time::{Duration, Instant};

use pktbox_tests::*;

const V: &str = "io-pkt-v4-hc";

/// A stack with no driver at all.
fn bare() -> StackProc {
    StackProc::start_variant(V, &[])
}

/// `ifconfig NAME create; ifconfig NAME linkstr DIR; ifconfig NAME [ADDR] up`.
fn hub_if(st: &StackProc, name: &str, seg: &Path, addr: Option<&str>) {
    st.ok("ifconfig", &[name, "create"]);
    st.ok("ifconfig", &[name, "linkstr", &seg.display().to_string()]);
    match addr {
        Some(a) => st.ok("ifconfig", &[name, a, "up"]),
        None => st.ok("ifconfig", &[name, "up"]),
    };
}

fn brconfig_json(st: &StackProc, bridge: &str) -> serde_json::Value {
    let out = st.ok("brconfig", &["--json", bridge]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v[0].clone()
}

fn ip_total(st: &StackProc) -> u64 {
    st.open().stats().expect("stats").ip.total
}

#[test]
fn cloned_hub_interfaces_join_a_segment_at_run_time() {
    let seg_dir = TempDir::new();
    let seg = seg_dir.join("seg");
    let a = bare();
    let b = bare();
    // NetBSD's `ifconfig -C`: the cloners on one line.
    assert_eq!(a.ok("ifconfig", &["-C"]), "bridge hub lo shmif tap\n");
    // io-pkt-v4 does not bridge.
    let v4 = StackProc::start(&[]);
    assert_eq!(v4.ok("ifconfig", &["-C"]), "hub lo shmif tap\n");
    let o = v4.run("ifconfig", &["bridge0", "create"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(1), "ifconfig: SIOCIFCREATE: Invalid argument\n")
    );

    hub_if(&a, "hub0", &seg, Some("10.52.0.1/24"));
    // rump's name for the same cloner.
    hub_if(&b, "shmif0", &seg, Some("10.52.0.2/24"));
    let o = b.ok("ping", &["-c", "2", "10.52.0.1"]);
    assert!(o.contains("2 packets received"), "{o}");
    let v = a.ok("ifconfig", &["-v", "hub0"]);
    assert!(v.contains("driver: hub"), "{v}");

    // Errors as NetBSD's ifconfig words them.
    let o = a.run("ifconfig", &["hub0", "create"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(1), "ifconfig: SIOCIFCREATE: File exists\n")
    );
    let o = a.run("ifconfig", &["foo0", "create"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(1), "ifconfig: SIOCIFCREATE: Invalid argument\n")
    );
    let o = a.run("ifconfig", &["hub0", "linkstr", "/nonexistent-dir-x"]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.starts_with("ifconfig: SIOCSLINKSTR: "), "{}", o.stderr);
    let o = a.run("ifconfig", &["lo0", "linkstr", "x"]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.starts_with("ifconfig: SIOCSLINKSTR: "), "{}", o.stderr);
    let o = a.run("ifconfig", &["lo0", "destroy"]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.starts_with("ifconfig: SIOCIFDESTROY: "), "{}", o.stderr);

    // A tap created with no linkstr yet has no carrier and sends nothing.
    a.ok("ifconfig", &["tap1", "create"]);
    let t = a.ok("ifconfig", &["tap1"]);
    assert!(t.contains("status: no carrier"), "{t}");
    a.ok("ifconfig", &["tap1", "destroy"]);

    // Destroyed: gone, and the segment no longer reaches it.
    a.ok("ifconfig", &["hub0", "destroy"]);
    let o = a.run("ifconfig", &["hub0"]);
    assert_eq!(o.code, Some(1));
    let o = b.run("ping", &["-c", "1", "-w", "1", "10.52.0.1"]);
    assert!(
        o.code != Some(0) && o.stdout.contains("1 packets transmitted, 0 packets received"),
        "{o:#?}"
    );
    // Made again at run time, it works again.
    hub_if(&a, "hub0", &seg, Some("10.52.0.1/24"));
    b.ok("ping", &["-c", "1", "10.52.0.1"]);
}

/// A on segment 1, B on segment 2, C bridging the two.
struct Three {
    _dir: TempDir,
    s1: std::path::PathBuf,
    s2: std::path::PathBuf,
    a: StackProc,
    b: StackProc,
    c: StackProc,
}

fn three() -> Three {
    let dir = TempDir::new();
    let (s1, s2) = (dir.join("s1"), dir.join("s2"));
    let a = bare();
    let b = bare();
    let c = bare();
    hub_if(&a, "hub0", &s1, Some("10.53.0.1/24"));
    hub_if(&b, "hub0", &s2, Some("10.53.0.2/24"));
    hub_if(&c, "hub0", &s1, None);
    hub_if(&c, "hub1", &s2, None);
    c.ok("ifconfig", &["bridge0", "create"]);
    c.ok("brconfig", &["bridge0", "add", "hub0", "add", "hub1", "up"]);
    Three {
        _dir: dir,
        s1,
        s2,
        a,
        b,
        c,
    }
}

#[test]
fn a_bridge_of_hub_segments_learns_forwards_and_keeps_frames_out_of_the_stack() {
    let t = three();
    let (a, b, c) = (&t.a, &t.b, &t.c);
    let o = a.ok("ping", &["-c", "3", "10.53.0.2"]);
    assert!(o.contains("3 packets received"), "{o}");

    // Both MACs in the address cache, each behind its member.
    let (ma, mb) = (mac_str(&a.mac("hub0")), mac_str(&b.mac("hub0")));
    let st = c.ok("brconfig", &["bridge0"]);
    assert!(st.starts_with("bridge0: flags=41<UP,RUNNING>\n\tConfiguration:\n\t\tpriority 32768 hellotime 2 fwddelay 15 maxage 20\n\t\tipfilter disabled flags 0x0\n\tInterfaces:\n\t\thub1 flags=3<LEARNING,DISCOVER>\n\t\t\tport "), "{st}");
    assert!(
        st.contains("\tAddress cache (max cache: 100, timeout: 1200):\n"),
        "{st}"
    );
    assert!(st.contains(&format!("\t\t{ma} hub0 ")), "{st}");
    assert!(st.contains(&format!("\t\t{mb} hub1 ")), "{st}");
    let addr = c.ok("brconfig", &["bridge0", "addr"]);
    assert!(
        addr.contains(&format!("\n\t{mb} hub1 ")) || addr.starts_with(&format!("\t{mb} hub1 ")),
        "{addr}"
    );

    // Unicast between members never enters C's stack: its IP input counts nothing.
    let before = ip_total(c);
    a.ok("ping", &["-c", "5", "-i", "0.05", "10.53.0.2"]);
    assert_eq!(ip_total(c), before, "bridged unicast reached the stack");
    let j = brconfig_json(c, "bridge0");
    assert!(j["stats"]["forwarded"].as_u64().unwrap_or(0) >= 10, "{j}");

    // Static entries, flush and flushall, deladdr.
    c.ok("brconfig", &["bridge0", "static", "hub0", "0:11:22:33:44:55"]);
    assert!(c
        .ok("brconfig", &["bridge0", "addr"])
        .contains("\t00:11:22:33:44:55 hub0 0 flags=1<STATIC>\n"));
    c.ok("brconfig", &["bridge0", "flush"]);
    assert_eq!(
        c.ok("brconfig", &["bridge0", "addr"]),
        "\t00:11:22:33:44:55 hub0 0 flags=1<STATIC>\n"
    );
    c.ok("brconfig", &["bridge0", "flushall"]);
    assert_eq!(c.ok("brconfig", &["bridge0", "addr"]), "");
    let o = c.run("brconfig", &["bridge0", "deladdr", "00:11:22:33:44:55"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            Some(1),
            "brconfig: deladdr 00:11:22:33:44:55: No such file or directory\n"
        )
    );

    // A MAC flood fills the cache to maxaddr and no further.
    c.ok("brconfig", &["bridge0", "maxaddr", "1"]);
    a.ok("ping", &["-c", "1", "10.53.0.2"]);
    let j = brconfig_json(c, "bridge0");
    assert_eq!(j["addresses"].as_array().map(Vec::len), Some(1), "{j}");
    assert!(j["stats"]["cache_full"].as_u64().unwrap_or(0) >= 1, "{j}");
    c.ok("brconfig", &["bridge0", "maxaddr", "100", "timeout", "600"]);
    assert!(c
        .ok("brconfig", &["bridge0"])
        .contains("(max cache: 100, timeout: 600)"));

    // -learn: nothing learned on hub0; -discover on hub1: unknown unicast not flooded there.
    c.ok("brconfig", &["bridge0", "flushall", "-learn", "hub0"]);
    a.ok("ping", &["-c", "1", "10.53.0.2"]);
    let addr = c.ok("brconfig", &["bridge0", "addr"]);
    assert!(!addr.contains(" hub0 "), "{addr}");
    assert!(c.ok("brconfig", &["bridge0"]).contains("\t\thub0 flags=2<DISCOVER>\n"));
    c.ok("brconfig", &["bridge0", "learn", "hub0"]);

    // Refusals as NetBSD words them.
    let fails = |args: &[&str], want: &str| {
        let o = c.run("brconfig", args);
        assert_eq!((o.code, o.stderr.as_str()), (Some(1), want), "brconfig {args:?}");
    };
    fails(&["bridge0", "add", "hub0"], "brconfig: add hub0: File exists\n");
    c.ok("ifconfig", &["bridge1", "create"]);
    fails(&["bridge1", "add", "hub0"], "brconfig: add hub0: Device busy\n");
    fails(
        &["bridge0", "add", "bridge0"],
        "brconfig: add bridge0: Invalid argument\n",
    );
    fails(
        &["bridge0", "add", "bridge1"],
        "brconfig: add bridge1: Invalid argument\n",
    );
    fails(
        &["bridge0", "add", "nope0"],
        "brconfig: add nope0: No such file or directory\n",
    );
    c.ok("ifconfig", &["hub2", "create"]);
    c.ok("ifconfig", &["hub2", "mtu", "1400"]);
    fails(&["bridge0", "add", "hub2"], "brconfig: add hub2: Invalid argument\n");
    fails(
        &["bridge0", "hellotime", "0"],
        "brconfig: hellotime 0: Invalid argument\n",
    );
    fails(&["bridge0", "frob"], "brconfig: unknown command: frob\n");
    fails(&["bridge0", "add"], "brconfig: command add requires 1 argument\n");
    fails(&["bridge0", "priority", "x"], "brconfig: priority: invalid value: x\n");
    fails(&["hub0"], "brconfig: hub0 is not a bridge\n");

    // `brconfig -a` shows both bridges; delete gives a member back.
    let all = c.ok("brconfig", &["-a"]);
    assert!(
        all.starts_with("bridge0: ") && all.contains("\nbridge1: flags=0<>\n"),
        "{all}"
    );
    c.ok("brconfig", &["bridge0", "delete", "hub1"]);
    c.ok("brconfig", &["bridge1", "add", "hub1"]);
    // Destroying a bridge lets its members go.
    c.ok("ifconfig", &["bridge1", "destroy"]);
    c.ok("brconfig", &["bridge0", "add", "hub1"]);
    b.ok("ping", &["-c", "1", "10.53.0.1"]);
}

fn rx_total(st: &StackProc, ifs: &[&str]) -> u64 {
    ifs.iter().map(|i| st.counter(i, "ipackets")).sum()
}

/// Waits until `f` gives Some, or panics after `limit`.
fn wait_long<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_bridging_loop_is_survived_and_stp_breaks_it() {
    let t = three();
    let (a, c) = (&t.a, &t.c);
    // A second bridge D on the same two segments: a loop.
    let d = bare();
    hub_if(&d, "hub0", &t.s1, None);
    hub_if(&d, "hub1", &t.s2, None);
    d.ok("ifconfig", &["bridge0", "create"]);
    d.ok("brconfig", &["bridge0", "add", "hub0", "add", "hub1", "up"]);

    // One broadcast (A's ARP request) now goes round for ever.
    let _ = a.run("ping", &["-c", "1", "-w", "1", "10.53.0.99"]);
    let n1 = rx_total(c, &["hub0", "hub1"]);
    std::thread::sleep(Duration::from_millis(500));
    let n2 = rx_total(c, &["hub0", "hub1"]);
    assert!(n2 > n1 + 100, "no storm to survive? {n1} -> {n2}");
    // The channel still answers while the storm runs.
    c.ok("brconfig", &["bridge0"]);
    d.ok("ifconfig", &["-a"]);

    // Spanning tree on all four ports, with short timers: the loop is cut.
    for st in [c, &d] {
        st.ok(
            "brconfig",
            &[
                "bridge0",
                "maxage",
                "6",
                "fwddelay",
                "3",
                "hellotime",
                "1",
                "stp",
                "hub0",
                "stp",
                "hub1",
            ],
        );
    }
    // Ports start blocking: the storm stops at once.
    std::thread::sleep(Duration::from_millis(500));
    let n1 = rx_total(c, &["hub0", "hub1"]);
    std::thread::sleep(Duration::from_secs(2));
    let n2 = rx_total(c, &["hub0", "hub1"]);
    assert!(n2 - n1 < 40, "frames kept coming: {n1} -> {n2}");

    // Converged: one root for both, exactly one port blocking, the rest forwarding.
    let states = wait_long("STP to converge", Duration::from_secs(30), || {
        let (jc, jd) = (brconfig_json(c, "bridge0"), brconfig_json(&d, "bridge0"));
        let mut states: Vec<String> = Vec::new();
        for j in [&jc, &jd] {
            for m in j["interfaces"].as_array()? {
                states.push(m["state"].as_str()?.to_string());
            }
        }
        let done = states.iter().all(|s| s == "forwarding" || s == "blocking");
        (done && jc["stp"]["root_id"] == jd["stp"]["root_id"]).then_some((states, jc, jd))
    });
    let (states, jc, jd) = states;
    assert_eq!(states.iter().filter(|s| *s == "blocking").count(), 1, "{states:?}");
    let root = std::cmp::min(
        jc["stp"]["bridge_id"].as_str().unwrap_or_default().to_string(),
        jd["stp"]["bridge_id"].as_str().unwrap_or_default().to_string(),
    );
    assert_eq!(jc["stp"]["root_id"].as_str(), Some(root.as_str()), "{jc}");
    let text = c.ok("brconfig", &["bridge0"]);
    assert!(text.contains("flags=7<LEARNING,DISCOVER,STP>\n\t\t\tport "), "{text}");
    assert!(text.contains(" priority 128 path cost 55 "), "{text}");

    // Frames counters stay flat (BPDUs only), and A reaches B through the tree.
    let n1 = rx_total(c, &["hub0", "hub1"]);
    std::thread::sleep(Duration::from_secs(2));
    let n2 = rx_total(c, &["hub0", "hub1"]);
    assert!(n2 - n1 < 40, "frames kept coming: {n1} -> {n2}");
    let o = a.ok("ping", &["-c", "2", "10.53.0.2"]);
    assert!(o.contains("2 packets received"), "{o}");
    let j = brconfig_json(c, "bridge0");
    assert!(j["stats"]["bpdu_in"].as_u64().unwrap_or(0) > 0, "{j}");
    assert_eq!(j["stats"]["bpdu_bad"].as_u64(), Some(0), "{j}");

    // Malformed BPDUs on segment 1 are counted and dropped; the tree stays as it was.
    let bpdu = |len_field: u16, llc: [u8; 3], body: &[u8]| {
        let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0, 0x02, 0, 0, 0, 0xbd, 0xbd];
        f.extend_from_slice(&len_field.to_be_bytes());
        f.extend_from_slice(&llc);
        f.extend_from_slice(body);
        f
    };
    let frames = [
        // A config BPDU cut short: the length says 38, 13 bytes came.
        bpdu(38, [0x42, 0x42, 3], &[0, 0, 0, 0, 0, 0x80, 0, 2, 0, 0]),
        // Not the spanning tree SAP.
        bpdu(38, [0xaa, 0xaa, 3], &[0; 35]),
        // An RST BPDU (type 2), which this 802.1D bridge does not speak.
        bpdu(
            39,
            [0x42, 0x42, 3],
            &[
                0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0,
            ],
        ),
    ];
    let sock = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    for e in std::fs::read_dir(&t.s1).expect("segment dir").flatten() {
        if e.path().extension().is_some_and(|x| x == "hub") {
            for f in &frames {
                let _ = sock.send_to(f, e.path());
            }
        }
    }
    let j = wait_for("the malformed BPDUs to be counted", || {
        let j = brconfig_json(c, "bridge0");
        (j["stats"]["bpdu_bad"].as_u64() == Some(3)).then_some(j)
    });
    for k in ["bridge_id", "root_id", "root_port", "root_path_cost"] {
        assert_eq!(j["stp"][k], jc["stp"][k], "{k}: {j}");
    }
    a.ok("ping", &["-c", "1", "10.53.0.2"]);
}

/// `ip -n NS ARGS...`, which must succeed.
fn ipn(ns: &NetNs, args: &[&str]) -> Output {
    let mut v = vec!["-n", ns.name.as_str()];
    v.extend_from_slice(args);
    run("ip", v).ok()
}

/// A cloned tap on stack `st` (in namespace `home`), its device moved into `to` with `addr`.
fn tap_into(st: &StackProc, home: &NetNs, ifname: &str, dev: &str, to: &NetNs, addr: Option<&str>) {
    st.ok("ifconfig", &[ifname, "create"]);
    st.ok("ifconfig", &[ifname, "linkstr", &format!("tap={dev}")]);
    st.ok("ifconfig", &[ifname, "up"]);
    if home.name != to.name {
        ipn(home, &["link", "set", dev, "netns", &to.name]);
    }
    if let Some(a) = addr {
        ipn(to, &["addr", "add", a, "dev", dev]);
    }
    ipn(to, &["link", "set", dev, "up"]);
}

fn sh_in(ns: &NetNs, script: &str) -> Output {
    run("ip", ["netns", "exec", &ns.name, "bash", "-c", script])
}

#[test]
fn a_pktbox_bridge_joins_two_linux_namespaces() {
    let test = "a_pktbox_bridge_joins_two_linux_namespaces";
    if !can_run_linux(test, &["ip", "nc", "sha256sum", "bash"]) {
        return;
    }
    let (home, na, nb) = (NetNs::new(), NetNs::new(), NetNs::new());
    let (st, _child) = start_args_in_netns(&home, V, &[]);
    let tag = std::process::id() % 10000;
    let (da, db) = (format!("pbA{tag}"), format!("pbB{tag}"));
    tap_into(&st, &home, "tap1", &da, &na, Some("10.54.0.1/24"));
    tap_into(&st, &home, "tap2", &db, &nb, Some("10.54.0.2/24"));
    st.ok("ifconfig", &["bridge0", "create"]);
    st.ok("brconfig", &["bridge0", "add", "tap1", "add", "tap2", "up"]);
    // Offloads are off while bridged, back when a member leaves.
    let caps = st.if_json("tap1");
    assert_eq!(caps["enabled"].as_array().map(Vec::len), Some(0), "{caps}");

    // ARP and ping between the namespaces, through the bridge.
    let o = run(
        "ip",
        ["netns", "exec", &na.name, "ping", "-c", "3", "-i", "0.2", "10.54.0.2"],
    )
    .ok();
    assert!(o.stdout.contains("3 received"), "{}", o.stdout);
    let neigh = ipn(&na, &["neigh", "show", "10.54.0.2"]).stdout;
    let mac_b = ipn(&nb, &["-br", "link", "show", &db]).stdout;
    let mac_b = mac_b.split_whitespace().nth(2).unwrap_or_default().to_string();
    assert!(neigh.contains(&mac_b), "{neigh} vs {mac_b}");
    let mac_a = ipn(&na, &["-br", "link", "show", &da]).stdout;
    let mac_a = mac_a.split_whitespace().nth(2).unwrap_or_default().to_string();
    let s = st.ok("brconfig", &["bridge0"]);
    assert!(s.contains(&format!("\t\t{mac_a} tap1 ")), "{s}");
    assert!(s.contains(&format!("\t\t{mac_b} tap2 ")), "{s}");

    // TCP through the bridge, sha256-equal at both ends.
    let mib: u64 = std::env::var("PKTBOX_BRIDGE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = TempDir::new();
    let (sa, sb) = (dir.join("a.sum"), dir.join("b.sum"));
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &nb.name, "bash", "-c"])
        .arg(format!("nc -d -l -p 5201 | sha256sum > {}", sb.display()));
    let mut recv = ChildGuard::spawn(cmd);
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let o = sh_in(
        &na,
        &format!(
            "head -c {} /dev/urandom | tee >(sha256sum > {}) | nc -N -w 10 10.54.0.2 5201",
            mib << 20,
            sa.display()
        ),
    );
    assert_eq!(o.code, Some(0), "{o:#?}");
    let code = wait_long("the receiver to finish", Duration::from_secs(60), || recv.try_code());
    assert_eq!(code, Some(0));
    let secs = t0.elapsed().as_secs_f64();
    eprintln!("{test}: {mib} MiB through the bridge in {secs:.1} s");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    std::thread::sleep(Duration::from_millis(200));
    let (ha, hb) = (read(&sa), read(&sb));
    assert!(ha.len() >= 64 && ha == hb, "sha256 differ: {ha} vs {hb}");
    let j = brconfig_json(&st, "bridge0");
    assert!(
        j["stats"]["forwarded"].as_u64().unwrap_or(0) > (mib << 20) / 1500,
        "{j}"
    );

    // flush empties the cache.
    st.ok("brconfig", &["bridge0", "flush"]);
    assert_eq!(st.ok("brconfig", &["bridge0", "addr"]), "");
    st.ok("brconfig", &["bridge0", "delete", "tap1"]);
    let caps = st.if_json("tap1");
    assert!(caps["enabled"].as_array().is_some_and(|v| !v.is_empty()), "{caps}");
}

/// STP against Linux's kernel bridge: a triangle of br0 (Linux, in namespace L) and two
/// pktbox bridges P and Q, each with a TAP in br0 and a hub segment between them.
#[test]
fn stp_against_the_linux_kernel_bridge() {
    let test = "stp_against_the_linux_kernel_bridge";
    if !can_run_linux(test, &["ip", "bridge"]) {
        return;
    }
    // The stacks run in br0's namespace, so their TAPs are made there and report the
    // carrier of br0's ports (a TAP moved to another namespace shows no carrier to its
    // stack, which keeps an STP port disabled).
    let l = NetNs::new();
    let seg_dir = TempDir::new();
    let seg = seg_dir.join("pq");
    let (p, _cp) = start_args_in_netns(&l, V, &[]);
    let (q, _cq) = start_args_in_netns(&l, V, &[]);
    let tag = std::process::id() % 10000;
    let (dp, dq) = (format!("stpP{tag}"), format!("stpQ{tag}"));
    ipn(
        &l,
        &[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "1",
            "forward_delay",
            "400",
            "hello_time",
            "100",
            "max_age",
            "600",
            "priority",
            "4096",
        ],
    );
    ipn(&l, &["addr", "add", "10.55.0.1/24", "dev", "br0"]);
    ipn(&l, &["link", "set", "br0", "up"]);
    for (st, ifn, dev) in [(&p, "tap1", &dp), (&q, "tap1", &dq)] {
        tap_into(st, &l, ifn, dev, &l, None);
        ipn(&l, &["link", "set", dev, "master", "br0"]);
        hub_if(st, "hub0", &seg, None);
        st.ok("ifconfig", &["bridge0", "create"]);
        st.ok(
            "brconfig",
            &[
                "bridge0",
                "add",
                ifn,
                "add",
                "hub0",
                "maxage",
                "6",
                "fwddelay",
                "4",
                "hellotime",
                "1",
                "stp",
                ifn,
                "stp",
                "hub0",
                "up",
            ],
        );
    }
    // Q's address sits on its hub member; Linux reaches it straight over its TAP, or
    // through P when that link is cut.
    q.ok("ifconfig", &["hub0", "10.55.0.3/24"]);

    // Converged: Linux (priority 4096) is the root everywhere; exactly one port blocks.
    let linux_root = || -> Option<String> {
        let o = ipn(&l, &["-j", "-d", "link", "show", "br0"]).stdout;
        let v: serde_json::Value = serde_json::from_str(&o).ok()?;
        Some(v[0]["linkinfo"]["info_data"]["root_id"].as_str()?.to_string())
    };
    let want_root_prio = "4096";
    let (jp, jq) = wait_long("STP to converge", Duration::from_secs(40), || {
        let (jp, jq) = (brconfig_json(&p, "bridge0"), brconfig_json(&q, "bridge0"));
        let mut n_block = 0;
        for j in [&jp, &jq] {
            for m in j["interfaces"].as_array()? {
                match m["state"].as_str()? {
                    "forwarding" => {}
                    "blocking" => n_block += 1,
                    _ => return None,
                }
            }
            if !j["stp"]["root_id"].as_str()?.starts_with(want_root_prio) {
                return None;
            }
        }
        let linux = run("bridge", ["-n", &l.name, "-j", "link", "show"]).ok().stdout;
        let fwd = linux.matches("\"forwarding\"").count();
        (n_block == 1 && fwd == 2).then_some((jp, jq))
    });
    // The same root on both sides: Linux prints it as 1000.xx:xx:..., brconfig --json
    // as 4096.xx:xx:...
    // Linux prints the MAC without leading zeroes: compare the bytes.
    let mac_of = |s: &str| -> Vec<u8> {
        let m = s.split('.').nth(1).unwrap_or_default();
        m.split(':').filter_map(|b| u8::from_str_radix(b, 16).ok()).collect()
    };
    let lr = linux_root().expect("br0's root id");
    assert!(lr.starts_with("1000."), "Linux's root {lr} is not br0 itself");
    assert_eq!(
        mac_of(jp["stp"]["root_id"].as_str().unwrap_or_default()),
        mac_of(&lr),
        "{jp}"
    );
    assert_eq!(jp["stp"]["root_id"], jq["stp"]["root_id"]);
    // The blocking port is on the hub segment, of the bridge with the higher id.
    let blocked: Vec<(String, String)> = [(&jp, "P"), (&jq, "Q")]
        .iter()
        .flat_map(|(j, who)| {
            j["interfaces"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m["state"] == "blocking")
                .map(move |m| (who.to_string(), m["name"].as_str().unwrap_or_default().to_string()))
        })
        .collect();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].1, "hub0", "{blocked:?}");

    // No storm: frame counters stay flat.
    let n1 = rx_total(&p, &["tap1", "hub0"]);
    std::thread::sleep(Duration::from_secs(2));
    let n2 = rx_total(&p, &["tap1", "hub0"]);
    assert!(n2 - n1 < 40, "frames kept coming: {n1} -> {n2}");

    // Linux reaches Q; then Q's link to br0 goes down and traffic resumes through P
    // within the timers (max age 6 + 2 x forward delay 4).
    let ping = |w: &str| {
        run(
            "ip",
            ["netns", "exec", &l.name, "ping", "-c", "1", "-W", w, "10.55.0.3"],
        )
    };
    wait_long("Linux to reach Q", Duration::from_secs(10), || {
        (ping("1").code == Some(0)).then_some(())
    });
    ipn(&l, &["link", "set", &dq, "nomaster"]);
    ipn(&l, &["link", "set", &dq, "down"]);
    let t0 = Instant::now();
    wait_long("traffic to resume through P", Duration::from_secs(6 + 8 + 10), || {
        (ping("1").code == Some(0)).then_some(())
    });
    eprintln!(
        "{test}: failover took {:.1} s (max age 6 + 2 x fwddelay 4 = 14 s)",
        t0.elapsed().as_secs_f64()
    );
}

/// `brconfig bridge0 ipf`: bridged IPv4 meets PF's pfil hooks (NetBSD's bridge_ipf). A
/// `block drop quick proto icmp` stops Linux's ping across the bridge while TCP passes;
/// with `-ipf` (or before `ipf`) PF never sees bridged frames and ping works.
#[test]
fn ipf_passes_bridged_ip_through_pf() {
    let test = "ipf_passes_bridged_ip_through_pf";
    if !can_run_linux(test, &["ip", "nc", "ping", "bash", "timeout"]) {
        return;
    }
    let (home, na, nb) = (NetNs::new(), NetNs::new(), NetNs::new());
    let (st, _child) = start_args_in_netns(&home, V, &["-p", "pf"]);
    let tag = std::process::id() % 10000;
    let (da, db) = (format!("pfA{tag}"), format!("pfB{tag}"));
    tap_into(&st, &home, "tap1", &da, &na, Some("10.55.0.1/24"));
    tap_into(&st, &home, "tap2", &db, &nb, Some("10.55.0.2/24"));
    st.ok("ifconfig", &["bridge0", "create"]);
    st.ok("brconfig", &["bridge0", "add", "tap1", "add", "tap2", "up"]);
    let dir = TempDir::new();
    let conf = dir.join("pf.conf");
    std::fs::write(&conf, "pass all\nblock drop quick proto icmp\n").expect("pf.conf");
    st.ok("pfctl", &["-f", conf.to_str().unwrap()]);
    st.ok("pfctl", &["-e"]);
    let ping = |n: &str| {
        run(
            "ip",
            [
                "netns",
                "exec",
                &na.name,
                "ping",
                "-c",
                n,
                "-i",
                "0.2",
                "-W",
                "1",
                "10.55.0.2",
            ],
        )
    };

    // PF is on, but the bridge does not pass frames to it yet.
    let o = ping("2");
    assert!(o.stdout.contains("2 received"), "{o:#?}");

    st.ok("brconfig", &["bridge0", "ipf"]);
    assert!(st.ok("brconfig", &["bridge0"]).contains("ipfilter enabled"));
    let dropped0 = brconfig_json(&st, "bridge0")["stats"]["dropped"].as_u64().unwrap_or(0);
    let o = ping("3");
    assert!(o.code != Some(0) && o.stdout.contains(" 0 received"), "{o:#?}");
    let dropped = brconfig_json(&st, "bridge0")["stats"]["dropped"].as_u64().unwrap_or(0);
    assert!(dropped >= dropped0 + 3, "{dropped0} -> {dropped}");

    // TCP is not blocked: a line crosses the filtering bridge.
    let got = dir.join("got");
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &nb.name, "bash", "-c"])
        .arg(format!("timeout 20 nc -d -l -p 5202 > {}", got.display()));
    let mut recv = ChildGuard::spawn(cmd);
    wait_for("the listener", || {
        sh_in(&nb, "ss -ltn | grep -q ':5202 '").code.filter(|c| *c == 0)
    });
    let o = sh_in(&na, "echo through-the-filter | nc -N -w 5 10.55.0.2 5202");
    assert_eq!(o.code, Some(0), "{o:#?}");
    let code = wait_long("the receiver to finish", Duration::from_secs(30), || recv.try_code());
    assert_eq!(code, Some(0));
    assert_eq!(
        std::fs::read_to_string(&got).unwrap_or_default(),
        "through-the-filter\n"
    );

    // -ipf: ping passes again.
    st.ok("brconfig", &["bridge0", "-ipf"]);
    let o = ping("2");
    assert!(o.stdout.contains("2 received"), "{o:#?}");
}
