//! Link impairments (`loss=`, `dup=`, `reorder=`, `delay=`, `jitter=`, `rate=`, `seed=`) on
//! real stacks: a bad link loses and shuffles pings but the stacks carry on, `ifconfig -v`
//! shows the settings and the seed that replays them, and bad values are refused by name.
//!
//! The pings need root (raw sockets are for uid 0) and the TAP test also needs
//! /dev/net/tun and ip(8); elsewhere they are skipped with a notice.

use pktbox_tests::*;

const BAD_LINK: &str = "loss=20,dup=10,reorder=10,delay=20,jitter=5,seed=7";

/// Two stacks on a `udp` wire, A (10.6.0.1) with `a_extra` impairments on its side.
fn pair(a_extra: &str) -> (StackProc, StackProc) {
    let (pa, pb) = (free_udp_port(), free_udp_port());
    let a = StackProc::start(&[
        "-d",
        "udp",
        &format!("local=127.0.0.1:{pa},remote=127.0.0.1:{pb},{a_extra}"),
    ]);
    let b = StackProc::start(&["-d", "udp", &format!("local=127.0.0.1:{pb},remote=127.0.0.1:{pa}")]);
    a.ok("ifconfig", &["en0", "10.6.0.1/24"]);
    b.ok("ifconfig", &["en0", "10.6.0.2/24"]);
    (a, b)
}

/// `(transmitted, received)` from ping's statistics.
#[track_caller]
fn ping_counts(out: &str) -> (u64, u64) {
    let l = out
        .lines()
        .find(|l| l.contains(" packets transmitted, "))
        .unwrap_or_else(|| panic!("no statistics in {out}"));
    let n: Vec<u64> = l
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .take(2)
        .map(|w| w.parse().unwrap())
        .collect();
    (n[0], n[1])
}

/// One `details` entry of `ifconfig --json`.
#[track_caller]
fn detail(st: &StackProc, name: &str) -> Option<String> {
    st.if_json("en0")["details"]
        .as_array()
        .expect("details")
        .iter()
        .find(|d| d["name"] == name)
        .map(|d| d["value"].as_str().unwrap().to_string())
}

/// The count after `what` in a counters entry (`dropped 3 duplicated 1 ...`).
fn count(entry: &str, what: &str) -> u64 {
    let w: Vec<&str> = entry.split(' ').collect();
    let i = w
        .iter()
        .position(|x| *x == what)
        .unwrap_or_else(|| panic!("{what} in {entry}"));
    w[i + 1].parse().unwrap()
}

#[test]
fn ping_over_a_bad_udp_link_loses_some_and_the_stacks_carry_on() {
    if !need_root("ping_over_a_bad_udp_link_loses_some_and_the_stacks_carry_on") {
        return;
    }
    let (a, b) = pair(BAD_LINK);
    let r = a.run("ping", &["-c", "50", "-i", "0.02", "10.6.0.2"]);
    let (tx, rx) = ping_counts(&r.stdout);
    assert_eq!(tx, 50, "{r:#?}");
    // Each round trip crosses A's impairments twice: 20% loss each way keeps about 64%.
    assert!(rx > 0 && rx < 50, "loss, but not total loss: {r:#?}");
    assert_eq!(r.code, Some(0), "some replies came: {r:#?}");

    // Both stacks carry on: the other way, and their control channels answer.
    assert!(a.alive() && b.alive());
    let r = b.run("ping", &["-c", "20", "-i", "0.02", "10.6.0.1"]);
    let (tx, rx) = ping_counts(&r.stdout);
    assert_eq!(tx, 20, "{r:#?}");
    assert!(rx > 0, "{r:#?}");

    // A's counters show what the link did, in both directions.
    let out = detail(&a, "out").expect("out counters");
    let inn = detail(&a, "in").expect("in counters");
    assert!(count(&out, "dropped") > 0, "{out}");
    assert!(count(&inn, "dropped") > 0, "{inn}");
    assert!(count(&out, "delayed") > 0, "{out}");
    assert!(
        count(&out, "duplicated") + count(&inn, "duplicated") > 0,
        "{out} / {inn}"
    );
    assert!(count(&out, "reordered") + count(&inn, "reordered") > 0, "{out} / {inn}");
    assert_eq!(count(&out, "overflowed"), 0, "{out}");
    assert_eq!(count(&out, "errors"), 0, "{out}");
    // B is not impaired.
    assert_eq!(detail(&b, "impair"), None);
    a.ok("ifconfig", &["-v", "en0"]);
    b.ok("ifconfig", &["-v", "en0"]);
}

#[test]
fn ifconfig_shows_the_impairments_and_the_seed() {
    let (a, b) = pair(BAD_LINK);
    let v = a.ok("ifconfig", &["-v", "en0"]);
    let line = v
        .lines()
        .find(|l| l.starts_with("\tdriver: udp "))
        .unwrap_or_else(|| panic!("no driver line: {v}"));
    assert!(
        line.contains(" impair loss=20,dup=10,reorder=10,delay=20,jitter=5 seed 7 out dropped "),
        "{v}"
    );
    assert!(line.contains(" in dropped "), "{v}");
    assert_eq!(
        detail(&a, "impair").as_deref(),
        Some("loss=20,dup=10,reorder=10,delay=20,jitter=5")
    );
    assert_eq!(detail(&a, "seed").as_deref(), Some("7"));
    let v = b.ok("ifconfig", &["-v", "en0"]);
    assert!(!v.contains("impair"), "{v}");
    // Without seed=, one is chosen and shown, so the run can be replayed.
    let (c, _d) = pair("loss=1");
    let seed = detail(&c, "seed").expect("a seed is shown");
    assert!(seed.parse::<u64>().is_ok(), "{seed}");
    assert_eq!(detail(&c, "impair").as_deref(), Some("loss=1"));
}

#[test]
fn dup_on_a_hub_doubles_what_the_others_see() {
    let d = TempDir::new();
    let seg = d.join("seg");
    let a = StackProc::start(&["-d", "hub", &format!("path={},dup=100", seg.display())]);
    let b = StackProc::start(&["-d", "hub", &format!("path={}", seg.display())]);
    // A's gratuitous ARP reaches B twice.
    a.ok("ifconfig", &["en0", "10.6.1.1/24"]);
    assert_eq!(b.wait_counter("en0", "ipackets", 2), 2);
    assert_eq!(a.counter("en0", "opackets"), 1, "the stack sent one frame");
    // B's announcement reaches A once on the wire and twice through A's receive side.
    b.ok("ifconfig", &["en0", "10.6.1.2/24"]);
    assert_eq!(a.wait_counter("en0", "ipackets", 2), 2);
    assert_eq!(
        count(&detail(&a, "in").unwrap(), "duplicated"),
        1,
        "{:?}",
        detail(&a, "in")
    );
}

#[test]
fn bad_impairment_values_stop_io_pkt_by_name() {
    let d = TempDir::new();
    let hub = d.join("hub");
    for (opts, msg) in [
        (
            format!("path={},loss=101", hub.display()),
            "io-pkt-v4: -d hub: loss=101: out of range 0-100 (percent)",
        ),
        (
            format!("path={},dup=lots", hub.display()),
            "io-pkt-v4: -d hub: dup=lots: not a number",
        ),
        (
            format!("path={},delay=-5", hub.display()),
            "io-pkt-v4: -d hub: delay=-5: out of range 0-60000 (milliseconds)",
        ),
        (
            format!("path={},rate=0", hub.display()),
            "io-pkt-v4: -d hub: rate=0: out of range: above 0, at most 100000 (Mbit/s)",
        ),
        (
            format!("path={},seed", hub.display()),
            "io-pkt-v4: -d hub: seed: missing value",
        ),
    ] {
        let mut st = StackProc::new_prefix("io-pkt-v4");
        let o = st.start_here(&["-d", "hub", &opts]);
        assert_eq!(o.code, Some(1), "{opts}: {o:#?}");
        assert_eq!(o.stderr, format!("{msg}\n"), "{opts}");
        assert!(!st.alive());
    }
    // The values are checked before the driver opens: nothing was made.
    assert!(!hub.exists(), "a refused hub made its directory");
}

#[test]
fn delay_on_a_tap_shows_in_linux_round_trips() {
    let test = "delay_on_a_tap_shows_in_linux_round_trips";
    if !can_run_linux(test, &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    let (mut st, mut child) = start_in_netns(&ns, "tap", "tap=tap0,host=10.78.0.1/24,delay=30,seed=3");
    st.ok("ifconfig", &["en0", "10.78.0.2/24", "up"]);
    let v = st.ok("ifconfig", &["-v", "en0"]);
    assert!(
        v.contains("\tdriver: tap device tap0 host 10.78.0.1/24 impair delay=30 seed 3 "),
        "{v}"
    );
    // 30 ms out and 30 ms back in: no round trip is shorter than 60 ms.
    let r = st.run("ping", &["-c", "3", "-i", "0.2", "10.78.0.1"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(ping_counts(&r.stdout), (3, 3), "{r:#?}");
    let times: Vec<f64> = r
        .stdout
        .lines()
        .filter_map(|l| l.split(" time=").nth(1))
        .map(|t| t.trim_end_matches(" ms").parse().unwrap())
        .collect();
    assert_eq!(times.len(), 3, "{r:#?}");
    assert!(times.iter().all(|&t| t >= 60.0), "{times:?}");
    assert!(st.terminate());
    assert_eq!(child.terminate(), Some(0));
}
