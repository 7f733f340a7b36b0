//! Bad input to the tools: each fails the BSD way (one line on standard error, exit 1 for a
//! failure and for a usage error, as NetBSD's tools) and changes nothing in the stack.

use std::ffi::OsStr;

use pktbox_stack::msg::Msg;
use pktbox_stack::socket::Stack;
use pktbox_tests::*;

fn one_if_stack() -> StackProc {
    let (l, r) = (free_udp_port(), free_udp_port());
    let st = StackProc::start(&["-d", "udp", &format!("local=127.0.0.1:{l},remote=127.0.0.1:{r}")]);
    st.ok("ifconfig", &["en0", "inet", "10.0.0.2", "netmask", "255.255.255.0"]);
    st
}

/// Everything a change would show: the interfaces, their flags, mtu and addresses, and the
/// sysctl tree.
fn state(st: &StackProc) -> String {
    st.ok("ifconfig", &["-a"]) + &st.ok("sysctl", &["-a"])
}

fn no_broadcasts(sub: &mut Stack) -> Vec<Msg> {
    pktbox_tests::broadcasts(sub)
}

/// Runs `ifconfig ARGS` and checks it failed with `code`, printed one line on standard error
/// that starts `ifconfig: `, nothing on standard output, and changed nothing.
#[track_caller]
fn refused(st: &StackProc, sub: &mut Stack, args: &[&str], code: i32) -> String {
    let before = state(st);
    let o = st.run("ifconfig", args);
    assert_eq!(o.code, Some(code), "ifconfig {args:?}: {o:#?}");
    assert_eq!(o.stdout, "", "ifconfig {args:?}: {o:#?}");
    if code == 1 {
        // One line; a usage error adds the usage after it, as NetBSD's ifconfig.
        let usage = o
            .stderr
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("usage: ifconfig "));
        assert!(
            o.stderr.starts_with("ifconfig: ") && (o.stderr.lines().count() == 1 || usage),
            "ifconfig {args:?} should print one line: {o:#?}"
        );
    }
    assert_eq!(state(st), before, "ifconfig {args:?} changed the stack");
    let b = no_broadcasts(sub);
    assert!(b.is_empty(), "ifconfig {args:?} caused broadcasts: {b:#?}");
    o.stderr
}

#[test]
fn bad_arguments_change_nothing() {
    let st = one_if_stack();
    let mut sub = st.open();
    sub.subscribe().unwrap();

    assert_eq!(
        refused(&st, &mut sub, &["en0", "10.0.0.300"], 1),
        "ifconfig: 10.0.0.300: bad value\n"
    );
    assert_eq!(
        refused(&st, &mut sub, &["en0", "inet", "10.0.0.300", "alias"], 1),
        "ifconfig: 10.0.0.300: bad value\n"
    );
    refused(&st, &mut sub, &["en0", "10.0.0.5", "netmask", "255.0.255.0"], 1);
    refused(&st, &mut sub, &["en0", "10.0.0.5", "netmask", "bogus"], 1);
    refused(&st, &mut sub, &["en0", "10.0.0.5/33"], 1);
    // Unknown interface, for showing and for changing.
    assert_eq!(
        refused(&st, &mut sub, &["en9"], 1),
        "ifconfig: SIOCGIFFLAGS en9: Device not configured\n"
    );
    assert_eq!(
        refused(&st, &mut sub, &["en9", "10.0.0.9"], 1),
        "ifconfig: SIOCGIFFLAGS en9: Device not configured\n"
    );
    // Missing values.
    let e = refused(&st, &mut sub, &["en0", "mtu"], 1);
    assert!(e.contains("mtu"), "{e}");
    let e = refused(&st, &mut sub, &["en0", "netmask"], 1);
    assert!(e.contains("netmask"), "{e}");
    // Values the stack refuses: nothing half-done.
    let e = refused(&st, &mut sub, &["en0", "mtu", "10"], 1);
    assert!(e.starts_with("ifconfig: SIOCSIFMTU: Invalid argument"), "{e}");
    refused(&st, &mut sub, &["en0", "mtu", "1400x"], 1);
    refused(&st, &mut sub, &["en0", "bogus"], 1);
    refused(&st, &mut sub, &["en0", "10.0.0.3", "-alias"], 1);
    refused(&st, &mut sub, &["en0", "255.255.255.255"], 1);
    // Unknown options are usage errors: getopt's words and the usage, exit 1 as NetBSD's
    // ifconfig (its usage() exits EXIT_FAILURE).
    refused(&st, &mut sub, &["--bogus"], 1);
    let e = refused(&st, &mut sub, &["-x", "en0"], 1);
    assert!(e.starts_with("ifconfig: unknown option -- x\nusage: ifconfig "), "{e}");
    refused(&st, &mut sub, &["-a", "en0"], 1);
    // No interface at all: the usage, exit 1.
    let o = st.run("ifconfig", &[]).code(1);
    assert!(o.stderr.starts_with("usage: ifconfig "), "{o:#?}");
}

#[test]
fn changes_need_root_reading_does_not() {
    if !can_run_as_nobody("changes_need_root_reading_does_not") {
        return;
    }
    let st = one_if_stack();
    let exe = open_to_others(&st);
    let mut sub = st.open();
    sub.subscribe().unwrap();
    let before = state(&st);

    let o = as_nobody(&st, &exe, &["ifconfig", "en0", "10.0.0.9"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, "ifconfig: SIOCAIFADDR: Operation not permitted\n");
    assert_eq!(o.stdout, "");

    let o = as_nobody(&st, &exe, &["ifconfig", "en0", "down"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, "ifconfig: SIOCSIFFLAGS: Operation not permitted\n");
    let o = as_nobody(&st, &exe, &["ifconfig", "lo1", "create"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, "ifconfig: SIOCIFCREATE: Operation not permitted\n");
    let o = as_nobody(&st, &exe, &["sysctl", "-w", "net.inet.ip.ttl=5"]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert_eq!(o.stderr, "sysctl: net.inet.ip.ttl: Operation not permitted\n");

    assert_eq!(state(&st), before, "an unprivileged user changed the stack");
    assert!(no_broadcasts(&mut sub).is_empty());

    // Reading is open to everyone.
    let o = as_nobody(&st, &exe, &["ifconfig", "-a"]);
    assert_eq!(o.code, Some(0), "{o:#?}");
    assert_eq!(o.stdout, st.ok("ifconfig", &["-a"]));
    let o = as_nobody(&st, &exe, &["sysctl", "net.inet.ip.ttl"]);
    assert_eq!(o.code, Some(0), "{o:#?}");
    assert_eq!(o.stdout, "net.inet.ip.ttl = 64\n");
}

#[test]
fn no_stack_is_reported_plainly() {
    let env = [("SOCK", OsStr::new("/nonexistent"))];
    for (applet, args) in [
        ("ifconfig", vec!["-a"]),
        ("ifconfig", vec!["en0", "10.0.0.1"]),
        ("sysctl", vec!["net.inet.ip.ttl"]),
    ] {
        let mut full = vec![applet];
        full.extend(args.iter().copied());
        let o = pktbox(&full, &env);
        assert_eq!(o.code, Some(1), "{full:?}: {o:#?}");
        assert_eq!(o.stdout, "");
        assert_eq!(
            o.stderr,
            format!(
                "{applet}: no stack at /nonexistent/dev/socket \
                 (is io-pkt running? set SOCK=<prefix>)\n"
            )
        );
    }
    // A prefix whose directory exists but holds no stack (a stopped one left nothing).
    let d = TempDir::new();
    let o = pktbox(["ifconfig", "-a"], &[("SOCK", d.path().as_os_str())]);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert!(o.stderr.contains("no stack at"), "{o:#?}");
}
