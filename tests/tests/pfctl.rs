//! pfctl against a running stack: loading PF (`-p pf`), enable/disable, loading a
//! pf.conf and reading it back in NetBSD's normalized text, a bad reload keeping the old
//! rules, tables, flushes, and the messages and exit codes of NetBSD's pfctl.

use std::fs;

use pktbox_tests::*;

fn udp_stack(extra: &[&str]) -> StackProc {
    let (l, r) = (free_udp_port(), free_udp_port());
    let mut args = vec!["-d", "udp"];
    let spec = format!("local=127.0.0.1:{l},remote=127.0.0.1:{r}");
    args.push(&spec);
    args.extend_from_slice(extra);
    let st = StackProc::start(&args);
    st.ok(
        "ifconfig",
        &["en0", "inet", "10.0.0.1", "netmask", "255.255.255.0", "up"],
    );
    st
}

const RULES: &str = "\
# a small router's rules
ext_if = \"en0\"
lan = \"10.0.0.0/24\"
table <bad> persist { 192.0.2.0/24 }
scrub in all
nat on $ext_if from $lan to any -> ($ext_if)
rdr on $ext_if proto tcp to port 8089 -> 10.0.0.2 port 80
block in log all
pass out keep state
pass in on $ext_if proto tcp to port { ssh, http } \\
    keep state label \"web\"
block in quick from <bad>
pass in inet proto icmp all icmp-type echoreq
";

#[test]
fn without_pf_the_device_is_missing() {
    let st = StackProc::start(&[]);
    for args in [&["-s", "rules"][..], &["-e"][..], &["-s", "info"][..]] {
        let o = st.run("pfctl", args);
        assert_eq!(o.code, Some(1), "{o:#?}");
        assert_eq!(o.stderr, "pfctl: /dev/pf: No such file or directory\n", "{o:#?}");
    }
}

#[test]
fn parse_only_needs_no_stack_and_reports_lines() {
    let dir = TempDir::new();
    let f = dir.join("pf.conf");
    fs::write(&f, "pass all\nblock in all\nscrub in all\n").unwrap();
    let fs_ = f.display().to_string();
    // Nothing answers at this prefix: -n still parses.
    let nowhere = dir.join("nowhere");
    let o = pktbox(["pfctl", "-nvf", &fs_], &[("SOCK", nowhere.as_os_str())]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(
        o.stderr,
        format!("{fs_}:3: Rules must be in order: options, normalization, queueing, translation, filtering\n")
    );
    fs::write(&f, "set require-order no\npass all\nblock in all\nscrub in all\n").unwrap();
    let o = pktbox(["pfctl", "-nvf", &fs_], &[("SOCK", nowhere.as_os_str())]).ok();
    assert_eq!(
        o.stdout,
        "scrub in all fragment reassemble\npass all flags S/SA keep state\nblock drop in all\n"
    );
    // -n without -v is silent; stdin is `-`, and its errors say `stdin`.
    let o = pktbox(["pfctl", "-nf", &fs_], &[("SOCK", nowhere.as_os_str())]).ok();
    assert_eq!(o.stdout, "");
    // Usage and bad modifiers exit 1 as NetBSD's pfctl does.
    let o = pktbox(["pfctl"], &[]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.starts_with("usage: pfctl [-AdeghmNnOqRrvz]"), "{o:#?}");
    let o = pktbox(["pfctl", "-s", "x"], &[("SOCK", nowhere.as_os_str())]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.starts_with("pfctl: Unknown show modifier 'x'\nusage: pfctl"),
        "{o:#?}"
    );
    let o = pktbox(["pfctl", "-n", "extra"], &[]);
    assert!(
        o.stderr.starts_with("pfctl: unknown command line argument: extra ..."),
        "{o:#?}"
    );
}

#[test]
fn loads_shows_and_keeps_the_old_set_on_error() {
    let st = udp_stack(&["-p", "pf"]);
    let f = st.dir().join("pf.conf");
    fs::write(&f, RULES).unwrap();
    let fs_ = f.display().to_string();

    // PF starts disabled with an empty ruleset.
    assert_eq!(st.ok("pfctl", &["-s", "rules"]), "");
    assert!(st.ok("pfctl", &["-s", "info"]).starts_with("Status: Disabled"));
    let o = st.run("pfctl", &["-e"]);
    assert_eq!((o.code, o.stderr.as_str()), (Some(0), "pf enabled\n"), "{o:#?}");
    let o = st.run("pfctl", &["-e"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(1), "pfctl: pf already enabled\n"),
        "{o:#?}"
    );
    assert!(st
        .ok("pfctl", &["-s", "info"])
        .starts_with("Status: Enabled for 0 days 00:00:"));

    // Load, then read back: what the stack holds prints as `-nv` printed the file.
    let parsed = st.ok("pfctl", &["-nvf", &fs_]);
    st.ok("pfctl", &["-f", &fs_]);
    let rules = st.ok("pfctl", &["-s", "rules"]);
    let nat = st.ok("pfctl", &["-s", "nat"]);
    let want_rules = "\
scrub in all fragment reassemble
block drop in log all
pass out all flags S/SA keep state
pass in on en0 proto tcp from any to any port = ssh flags S/SA keep state label \"web\"
pass in on en0 proto tcp from any to any port = http flags S/SA keep state label \"web\"
block drop in quick from <bad> to any
pass in inet proto icmp all icmp-type echoreq keep state
";
    let want_nat = "\
nat on en0 inet from 10.0.0.0/24 to any -> (en0)
rdr on en0 inet proto tcp from any to any port = 8089 -> 10.0.0.2 port 80
";
    assert_eq!(rules, want_rules);
    assert_eq!(nat, want_nat);
    assert_eq!(
        parsed,
        format!(
            "table <bad> persist {{ 192.0.2.0/24 }}\nscrub in all fragment reassemble\n{want_nat}{}",
            &want_rules[want_rules.find('\n').unwrap() + 1..]
        )
    );
    // -vv numbers the rules and adds the counters lines.
    let vv = st.ok("pfctl", &["-vv", "-s", "rules"]);
    assert!(vv.contains("@0 block drop in log all\n  [ Evaluations: "), "{vv}");

    // A ruleset with an error is refused whole; the old one stays.
    fs::write(&f, format!("{RULES}pass in bogus\n")).unwrap();
    let o = st.run("pfctl", &["-f", &fs_]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(
        o.stderr,
        format!("{fs_}:14: syntax error\npfctl: Syntax error in config file: pf rules not loaded\n")
    );
    assert_eq!(st.ok("pfctl", &["-s", "rules"]), want_rules);

    // Tables: the one from the file, and commands on it.
    assert_eq!(st.ok("pfctl", &["-s", "Tables"]), "bad\n");
    let o = st.run("pfctl", &["-t", "bad", "-T", "add", "10.1.1.1", "10.2.0.0/16"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(0), "2/2 addresses added.\n"),
        "{o:#?}"
    );
    // The stack's walk order is its own: compare as a set.
    let show = st.ok("pfctl", &["-t", "bad", "-T", "show"]);
    let mut lines: Vec<&str> = show.lines().collect();
    lines.sort();
    assert_eq!(lines, ["   10.1.1.1", "   10.2.0.0/16", "   192.0.2.0/24"], "{show}");
    let o = st.run("pfctl", &["-t", "bad", "-T", "test", "10.2.3.4"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(0), "1/1 addresses match.\n"),
        "{o:#?}"
    );
    let o = st.run("pfctl", &["-t", "bad", "-T", "test", "10.3.3.3"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(2), "0/1 addresses match.\n"),
        "{o:#?}"
    );
    let o = st.run("pfctl", &["-t", "new", "-T", "add", "10.5.5.5"]);
    assert_eq!(o.stderr, "1 table created.\n1/1 addresses added.\n", "{o:#?}");
    let o = st.run("pfctl", &["-t", "nosuch", "-T", "show"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(1), "pfctl: Table does not exist.\n"),
        "{o:#?}"
    );

    // --json views parse.
    let j: serde_json::Value = serde_json::from_str(&st.ok("pfctl", &["-s", "info", "--json"])).expect("json");
    assert!(j.to_string().contains("running"), "{j}");
    let t = st.ok("pfctl", &["-s", "timeouts"]);
    assert!(t.starts_with("tcp.first                   120s\n"), "{t}");
    let m = st.ok("pfctl", &["-s", "memory"]);
    assert!(m.starts_with("states        hard limit    10000\n"), "{m}");

    // Flushes and disable.
    let o = st.run("pfctl", &["-F", "rules"]);
    assert_eq!(o.stderr, "rules cleared\n", "{o:#?}");
    assert_eq!(st.ok("pfctl", &["-s", "rules"]), "");
    assert_eq!(st.ok("pfctl", &["-s", "nat"]), want_nat);
    assert_eq!(st.run("pfctl", &["-q", "-F", "nat"]).stderr, "");
    let o = st.run("pfctl", &["-d"]);
    assert_eq!((o.code, o.stderr.as_str()), (Some(0), "pf disabled\n"), "{o:#?}");
    let o = st.run("pfctl", &["-d"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(1), "pfctl: pf not enabled\n"),
        "{o:#?}"
    );
    let o = st.run("pfctl", &["-s", "osfp"]);
    assert_eq!(o.code, Some(1));
}

#[test]
fn large_rulesets_and_tables_go_in_pieces() {
    let st = udp_stack(&["-p", "pf"]);
    // 3,000 rules: more than one channel message holds.
    let mut conf = String::from("table <big> persist file \"TABLE\"\n");
    for i in 0..3000u32 {
        conf.push_str(&format!(
            "pass in proto tcp from 10.{}.{}.0/24 to any port {}\n",
            i / 256,
            i % 256,
            1024 + i
        ));
    }
    let tf = st.dir().join("table.txt");
    let mut addrs = String::new();
    for i in 0..20000u32 {
        addrs.push_str(&format!("172.{}.{}.{}\n", 16 + i / 65536, (i / 256) % 256, i % 256));
    }
    fs::write(&tf, &addrs).unwrap();
    let f = st.dir().join("big.conf");
    fs::write(&f, conf.replace("TABLE", &tf.display().to_string())).unwrap();
    st.ok("pfctl", &["-f", &f.display().to_string()]);
    let rules = st.ok("pfctl", &["-s", "rules"]);
    assert_eq!(rules.lines().count(), 3000);
    assert_eq!(
        rules.lines().last(),
        Some("pass in inet proto tcp from 10.11.183.0/24 to any port = 4023 flags S/SA keep state")
    );
    let o = st.run("pfctl", &["-t", "big", "-T", "test", "172.16.78.31"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(0), "1/1 addresses match.\n"),
        "{o:#?}"
    );
    // 20,000 more addresses from a file with -T add -f.
    let tf2 = st.dir().join("more.txt");
    fs::write(&tf2, addrs.replace("172.", "10.")).unwrap();
    let o = st.run("pfctl", &["-t", "more", "-T", "add", "-f", &tf2.display().to_string()]);
    assert_eq!(o.stderr, "1 table created.\n20000/20000 addresses added.\n", "{o:#?}");
    let o = st.run("pfctl", &["-t", "more", "-T", "test", "10.16.0.1", "10.17.0.1"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(2), "1/2 addresses match.\n"),
        "{o:#?}"
    );
}
