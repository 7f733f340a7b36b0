//! PF in a running stack (`io-pkt -p pf`), driven through the channel's PF requests (the
//! ones pfctl sends), against Linux hosts in namespaces on both sides of the router
//! topology of the test library.

use pktbox_stack::msg::pf::{
    self as m, Action, IfSpec, LoadParts, LoadReq, NatKind, PfReply, PfReq, Pool, Rule, StateKind,
};
use pktbox_tests::*;

const TH_SYN: u8 = 0x02;
const TH_ACK: u8 = 0x10;

fn on(name: &str) -> Option<IfSpec> {
    Some(IfSpec {
        name: name.into(),
        neg: false,
    })
}

fn load(st: &StackProc, rs: m::Ruleset) -> Result<PfReply, pktbox_stack::socket::Error> {
    st.open().pf(PfReq::Load(LoadReq {
        anchor: String::new(),
        parts: LoadParts::ALL,
        ruleset: rs,
        nested: Vec::new(),
    }))
}

/// `nat on en1 from 10.0.0.0/24 to any -> (en1)`, `block all`,
/// `pass out all flags S/SA keep state`, and (when `open_in`) `pass in on en0 ... keep state`.
fn nat_ruleset() -> m::Ruleset {
    let mut nat = m::NatRule::new(NatKind::Nat);
    nat.ifname = on("en1");
    nat.af = Some(m::Af::Inet);
    nat.src.addr = m::Addr::Net(m::Net {
        addr: "10.0.0.0".parse().unwrap(),
        prefix: 24,
    });
    nat.pool = Some(Pool {
        addrs: vec![m::Addr::Dynamic {
            ifname: "en1".into(),
            flags: 0,
        }],
        port: None,
        port_star: false,
        kind: m::PoolType::None,
        sticky: false,
        static_port: false,
    });
    let keep = |dir, ifn: &str| {
        let mut r = Rule::new(Action::Pass);
        r.dir = dir;
        r.ifname = on(ifn);
        r.flags = TH_SYN;
        r.flagset = TH_SYN | TH_ACK;
        r.state = StateKind::Keep;
        r
    };
    m::Ruleset {
        nat: vec![nat],
        filter: vec![
            Rule::new(Action::Block),
            keep(m::Dir::In, "en0"),
            keep(m::Dir::Out, "en1"),
        ],
        ..m::Ruleset::default()
    }
}

#[test]
fn without_pf_loaded_the_requests_answer_enoent() {
    let st = StackProc::start(&[]);
    let e = st.open().pf(PfReq::Open).expect_err("no pf");
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e:?}");
}

#[test]
fn io_pkt_p_pf_attaches_pf_disabled_with_pflog0() {
    let st = StackProc::start(&["-p", "pf"]);
    let mut s = st.open();
    assert!(s.pf(PfReq::Open).is_ok());
    let Ok(PfReply::Info(i)) = s.pf(PfReq::GetInfo) else {
        panic!("info");
    };
    assert!(!i.running);
    let Ok(PfReply::Ruleset(rs)) = s.pf(PfReq::GetRules { anchor: String::new() }) else {
        panic!("rules");
    };
    assert!(rs.filter.is_empty() && rs.nat.is_empty());
    let out = st.ok("ifconfig", &["pflog0"]);
    assert!(out.starts_with("pflog0"), "{out}");
    // An option it does not have is refused.
    let mut bad = StackProc::new_prefix("io-pkt-v4");
    let r = bad.start_here(&["-p", "pf", "-p", "pf-v6"]);
    assert_ne!(r.code, Some(0), "{r:?}");
}

#[test]
fn nat_and_default_deny_between_two_linux_namespaces() {
    if !can_run_linux(
        "nat_and_default_deny_between_two_linux_namespaces",
        &["ip", "ping", "nc", "sha256sum"],
    ) {
        return;
    }
    let r = Router::start("io-pkt-v4", &["-p", "pf"]);
    // Before PF: the outside host cannot answer the inside (no route back).
    let p = r.in_inside(&["ping", "-c", "1", "-W", "2", OUTSIDE_HOST]);
    assert_ne!(p.code, Some(0), "no NAT yet: {p:?}");
    load(&r.st, nat_ruleset()).expect("load");
    let mut s = r.st.open();
    s.pf(PfReq::Enable).expect("enable");
    // ICMP through NAT.
    let p = r.in_inside(&["ping", "-c", "3", "-i", "0.2", "-W", "3", OUTSIDE_HOST]);
    assert_eq!(p.code, Some(0), "ping through NAT: {p:?}");
    // TCP: 4 MiB from the outside server to the inside client, sha256-equal.
    let dir = TempDir::new();
    let file = dir.join("data");
    let got = dir.join("got");
    run(
        "sh",
        ["-c", &format!("head -c 4194304 /dev/urandom > {}", file.display())],
    )
    .ok();
    let _srv = r.spawn_in(
        &r.outside,
        &["sh", "-c", &format!("nc -N -l 8000 < {}", file.display())],
    );
    wait_for("the server to listen", || {
        r.in_outside(&["sh", "-c", "ss -ltn | grep -q ':8000 '"])
            .code
            .filter(|c| *c == 0)
    });
    let c = r.in_inside(&[
        "sh",
        "-c",
        &format!("nc -d -w 10 {OUTSIDE_HOST} 8000 > {}", got.display()),
    ]);
    assert_eq!(c.code, Some(0), "{c:?}");
    let sum = |p: &std::path::Path| {
        run("sha256sum", [p.to_str().unwrap()])
            .stdout
            .split(' ')
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(sum(&file), sum(&got), "the data came through whole");
    // The states show the translation.
    let Ok(PfReply::States(states)) = s.pf(PfReq::GetStates { ifname: None }) else {
        panic!("states");
    };
    assert!(
        states.iter().any(|e| e.dir == m::Dir::Out
            && e.gwy.addr.to_string() == OUTSIDE_GW
            && e.lan.addr.to_string() == INSIDE_HOST),
        "{states:#?}"
    );
    // The outside cannot start anything, even with a route back.
    r.route_back();
    let p = r.in_outside(&["ping", "-c", "1", "-W", "2", INSIDE_HOST]);
    assert_ne!(p.code, Some(0), "blocked: {p:?}");
    let Ok(PfReply::Info(i)) = s.pf(PfReq::GetInfo) else {
        panic!("info");
    };
    assert!(i.running && i.fcounters[1] >= 4, "{i:?}");
    // Disabled, it passes again (the route back is there now).
    s.pf(PfReq::Disable).expect("disable");
    let p = r.in_outside(&["ping", "-c", "1", "-W", "3", INSIDE_HOST]);
    assert_eq!(p.code, Some(0), "PF disabled: {p:?}");
}

#[test]
fn a_bad_load_during_a_transfer_keeps_the_old_rules_and_the_transfer_going() {
    if !can_run_linux(
        "a_bad_load_during_a_transfer_keeps_the_old_rules_and_the_transfer_going",
        &["ip", "nc", "sha256sum"],
    ) {
        return;
    }
    let r = Router::start("io-pkt-v4", &["-p", "pf"]);
    load(&r.st, nat_ruleset()).expect("load");
    let mut s = r.st.open();
    s.pf(PfReq::Enable).expect("enable");
    let dir = TempDir::new();
    let file = dir.join("data");
    let got = dir.join("got");
    run(
        "sh",
        ["-c", &format!("head -c 33554432 /dev/urandom > {}", file.display())],
    )
    .ok();
    let _srv = r.spawn_in(
        &r.outside,
        &["sh", "-c", &format!("nc -N -l 8001 < {}", file.display())],
    );
    wait_for("the server to listen", || {
        r.in_outside(&["sh", "-c", "ss -ltn | grep -q ':8001 '"])
            .code
            .filter(|c| *c == 0)
    });
    let mut client = r.spawn_in(
        &r.inside,
        &[
            "sh",
            "-c",
            &format!("nc -d -w 10 {OUTSIDE_HOST} 8001 > {}", got.display()),
        ],
    );
    // While it runs: a ruleset with an error, then a good one changing an unrelated rule.
    let mut bad = nat_ruleset();
    let mut syn = Rule::new(Action::Pass);
    syn.state = StateKind::Synproxy;
    bad.filter.push(syn);
    assert!(load(&r.st, bad).is_err(), "a ruleset with an error is refused whole");
    let Ok(PfReply::Ruleset(rs)) = s.pf(PfReq::GetRules { anchor: String::new() }) else {
        panic!("rules");
    };
    assert_eq!(rs.filter.len(), 3, "the old rules stay");
    let mut good = nat_ruleset();
    let mut extra = Rule::new(Action::Block);
    extra.proto = Some(17);
    extra.dst.port = Some(m::PortOp::eq(9));
    good.filter.push(extra);
    load(&r.st, good).expect("the good load");
    let code = wait_for("the transfer to end", || client.try_code());
    assert_eq!(code, Some(0));
    let sum = |p: &std::path::Path| {
        run("sha256sum", [p.to_str().unwrap()])
            .stdout
            .split(' ')
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(sum(&file), sum(&got), "the transfer went on through both loads");
    let Ok(PfReply::Ruleset(rs)) = s.pf(PfReq::GetRules { anchor: String::new() }) else {
        panic!("rules");
    };
    assert_eq!(rs.filter.len(), 4);
}

#[test]
fn block_return_answers_with_a_reset_and_block_drop_stays_silent() {
    if !can_run_linux(
        "block_return_answers_with_a_reset_and_block_drop_stays_silent",
        &["ip", "nc"],
    ) {
        return;
    }
    let r = Router::start("io-pkt-v4", &["-p", "pf"]);
    r.route_back();
    let dir = TempDir::new();
    let conf = dir.join("pf.conf");
    std::fs::write(
        &conf,
        "pass all\n\
         block return in on en1 proto tcp from any to any port 8001\n\
         block drop in on en1 proto tcp from any to any port 8002\n",
    )
    .expect("pf.conf");
    r.st.ok("pfctl", &["-f", conf.to_str().unwrap()]);
    r.st.ok("pfctl", &["-e"]);
    // A listener on each port inside: only PF stands between.
    let _a = r.spawn_in(&r.inside, &["nc", "-l", "-k", "8001"]);
    let _b = r.spawn_in(&r.inside, &["nc", "-l", "-k", "8003"]);
    wait_for("the inside listeners", || {
        r.in_inside(&["sh", "-c", "ss -ltn | grep -q ':8003 '"])
            .code
            .filter(|c| *c == 0)
    });
    let refused = r.in_outside(&["nc", "-z", "-v", "-w", "3", INSIDE_HOST, "8001"]);
    assert!(
        refused.stderr.contains("Connection refused"),
        "block return: {refused:#?}"
    );
    let silent = r.in_outside(&["nc", "-z", "-v", "-w", "2", INSIDE_HOST, "8002"]);
    assert!(silent.stderr.contains("timed out"), "block drop: {silent:#?}");
    let open = r.in_outside(&["nc", "-z", "-v", "-w", "3", INSIDE_HOST, "8003"]);
    assert_eq!(open.code, Some(0), "passed: {open:#?}");
    let rules = r.st.ok("pfctl", &["-s", "rules"]);
    assert!(
        rules.contains("block return in on en1 proto tcp from any to any port = 8001"),
        "{rules}"
    );
}
