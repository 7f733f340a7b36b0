//! sysctl against a running stack: NetBSD's syntax, output and error words.

use pktbox_tests::*;

fn ttl(st: &StackProc) -> String {
    st.ok("sysctl", &["-n", "net.inet.ip.ttl"])
}

#[test]
fn reads_and_writes_like_netbsd() {
    let st = StackProc::start(&[]);
    assert_eq!(st.ok("sysctl", &["net.inet.ip.ttl"]), "net.inet.ip.ttl = 64\n");
    assert_eq!(ttl(&st), "64\n");
    assert_eq!(st.ok("sysctl", &["-e", "net.inet.ip.ttl"]), "net.inet.ip.ttl=64\n");
    // A subtree lists its leaves.
    assert_eq!(
        st.ok("sysctl", &["net.inet.ip"]),
        "net.inet.ip.anonportmax = 65535\nnet.inet.ip.anonportmin = 49152\nnet.inet.ip.forwarding = 0\n\
         net.inet.ip.maxfragpackets = 200\nnet.inet.ip.redirect = 0\nnet.inet.ip.ttl = 64\n"
    );

    // -w name=value, and bare name=value, print old -> new.
    assert_eq!(
        st.ok("sysctl", &["-w", "net.inet.ip.ttl=30"]),
        "net.inet.ip.ttl: 64 -> 30\n"
    );
    assert_eq!(ttl(&st), "30\n");
    assert_eq!(st.ok("sysctl", &["net.inet.ip.ttl=31"]), "net.inet.ip.ttl: 30 -> 31\n");
    assert_eq!(ttl(&st), "31\n");
    // -q says nothing; -n prints only the new value; hex is accepted.
    assert_eq!(st.ok("sysctl", &["-q", "-w", "net.inet.ip.ttl=32"]), "");
    assert_eq!(st.ok("sysctl", &["-n", "-w", "net.inet.ip.ttl=0x21"]), "33\n");
    assert_eq!(ttl(&st), "33\n");
    // Several at once, in order.
    assert_eq!(
        st.ok(
            "sysctl",
            &["net.inet.ip.ttl", "net.inet.ip.forwarding=1", "kern.ostype"]
        ),
        "net.inet.ip.ttl = 33\nnet.inet.ip.forwarding: 0 -> 1\nkern.ostype = pktbox\n"
    );
    assert_eq!(
        st.ok("sysctl", &["-w", "kern.hostname=box1"]),
        "kern.hostname:  -> box1\n"
    );

    // -a: every leaf, one a line, in the tree's order.
    let all = st.ok("sysctl", &["-a"]);
    let lines: Vec<&str> = all.lines().collect();
    assert!(lines.contains(&"net.inet.ip.ttl = 33"), "{all}");
    assert!(lines.contains(&"net.inet.ip.forwarding = 1"), "{all}");
    assert!(lines.contains(&"kern.hostname = box1"), "{all}");
    assert!(lines.contains(&"kern.ostype = pktbox"), "{all}");
    // Top-level subtrees together: kern first, then net.
    let tops: Vec<&str> = lines.iter().map(|l| l.split('.').next().unwrap()).collect();
    let mut grouped = tops.clone();
    grouped.dedup();
    assert_eq!(grouped, ["kern", "net"], "{all}");
    assert!(lines.iter().all(|l| l.contains(" = ")), "{all}");
    let values = st.ok("sysctl", &["-a", "-n"]);
    assert_eq!(values.lines().count(), lines.len());

    // --json for scripts: typed values.
    let j: serde_json::Value =
        serde_json::from_str(&st.ok("sysctl", &["--json", "net.inet.ip.ttl", "kern.ostype"])).unwrap();
    assert_eq!(
        j,
        serde_json::json!([
            { "name": "net.inet.ip.ttl", "value": 33, "writable": true },
            { "name": "kern.ostype", "value": "pktbox", "writable": false },
        ])
    );
    let j: serde_json::Value = serde_json::from_str(&st.ok("sysctl", &["--json", "-a"])).unwrap();
    assert_eq!(j.as_array().unwrap().len(), lines.len());
    let j: serde_json::Value = serde_json::from_str(&st.ok("sysctl", &["--json", "-w", "net.inet.ip.ttl=64"])).unwrap();
    assert_eq!(j[0]["name"], "net.inet.ip.ttl");
    assert_eq!(j[0]["old"], "33");
    assert_eq!(j[0]["new"], "64");
    assert_eq!(ttl(&st), "64\n");
}

#[test]
fn refusals_change_nothing() {
    let st = StackProc::start(&[]);
    let before = st.ok("sysctl", &["-a"]);
    let refused = |args: &[&str], code: i32| -> String {
        let o = st.run("sysctl", args);
        assert_eq!(o.code, Some(code), "sysctl {args:?}: {o:#?}");
        assert_eq!(st.ok("sysctl", &["-a"]), before, "sysctl {args:?} changed state");
        o.stderr
    };
    // Out of range, both ends; not a number.
    for v in ["0", "256", "-1", "ten", ""] {
        let e = refused(&["-w", &format!("net.inet.ip.ttl={v}")], 1);
        assert!(e.starts_with("sysctl: net.inet.ip.ttl: Invalid argument"), "{v}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    assert_eq!(
        refused(&["-w", "net.inet.ip.forwarding=2"], 1),
        "sysctl: net.inet.ip.forwarding: Invalid argument: 2 is out of range 0-1\n"
    );
    // Read-only and subtree.
    assert_eq!(
        refused(&["-w", "kern.ostype=linux"], 1),
        "sysctl: kern.ostype: Operation not permitted\n"
    );
    refused(&["-w", "net.inet=1"], 1);
    // Names that do not exist, NetBSD's words.
    assert_eq!(
        refused(&["net.inet.foo"], 1),
        "sysctl: third level name 'foo' in 'net.inet.foo' is invalid\n"
    );
    assert_eq!(
        refused(&["-w", "net.inet.foo=1"], 1),
        "sysctl: third level name 'foo' in 'net.inet.foo' is invalid\n"
    );
    assert_eq!(
        refused(&["bogus"], 1),
        "sysctl: top level name 'bogus' in 'bogus' is invalid\n"
    );
    assert_eq!(
        refused(&["net.inet.ip.ttl.x"], 1),
        "sysctl: fifth level name 'x' in 'net.inet.ip.ttl.x' is invalid\n"
    );
    // -w without a value.
    refused(&["-w", "net.inet.ip.ttl"], 1);
    // Usage errors: the usage, exit 1 as NetBSD's sysctl.
    refused(&[], 1);
    refused(&["--bogus"], 1);
    refused(&["-Z", "net.inet.ip.ttl"], 1);
    // One bad item among good ones: the good ones still happen, exit 1.
    let o = st.run("sysctl", &["net.inet.ip.ttl=40", "net.inet.foo=1"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stdout, "net.inet.ip.ttl: 64 -> 40\n");
    assert_eq!(ttl(&st), "40\n");
}

#[test]
fn files_of_settings() {
    let st = StackProc::start(&[]);
    let f = st.dir().join("sysctl.conf");
    std::fs::write(
        &f,
        "# comment\n\nnet.inet.ip.ttl=50\n  net.inet.ip.forwarding = 1  # trailing\nkern.ostype\n",
    )
    .unwrap();
    let fs = f.to_str().unwrap();
    assert_eq!(
        st.ok("sysctl", &["-f", fs]),
        "net.inet.ip.ttl: 64 -> 50\nnet.inet.ip.forwarding: 0 -> 1\nkern.ostype = pktbox\n"
    );
    assert_eq!(ttl(&st), "50\n");

    // A malformed line: named by its number, and nothing in the file is applied.
    std::fs::write(&f, "net.inet.ip.ttl=60\n=7\n").unwrap();
    let o = st.run("sysctl", &["-f", fs]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, format!("sysctl: {fs}#2: bad line: =7\n"));
    assert_eq!(ttl(&st), "50\n");

    // A line the stack refuses: named by its number (NetBSD's `file#line: `); the lines
    // around it are applied.
    std::fs::write(
        &f,
        "net.inet.ip.ttl=61\n# two\nnet.inet.foo=1\nnet.inet.ip.ttl=300\nnet.inet.ip.forwarding=0\n",
    )
    .unwrap();
    let o = st.run("sysctl", &["-f", fs]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(
        o.stderr,
        format!(
            "sysctl: {fs}#3: third level name 'foo' in 'net.inet.foo' is invalid\n\
             sysctl: {fs}#4: net.inet.ip.ttl: Invalid argument: 300 is out of range 1-255\n"
        )
    );
    assert_eq!(ttl(&st), "61\n");
    assert_eq!(st.ok("sysctl", &["-n", "net.inet.ip.forwarding"]), "0\n");

    // A file that is not there.
    let o = st.run("sysctl", &["-f", "/nonexistent/sysctl.conf"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert!(o.stderr.starts_with("sysctl: /nonexistent/sysctl.conf: "), "{o:#?}");
}
