//! PF's log interface and its priority queueing through real stacks on a `udp` wire:
//! `block log` hits captured on pflog0 with tcpdump, and ALTQ PRIQ keeping ping RTT near
//! idle while bulk TCP fills a 10 Mbit/s link. The rulesets are sent as pfctl sends them
//! (`PfReq::Load`), so these tests need nothing of pfctl's parser.

use std::io::Write;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pktbox_stack::msg::pf::{
    Action, AltqDef, Dir, LoadParts, LoadReq, LogOpts, PfReply, PfReq, PriqOpts, QueueDef, Rule, Ruleset,
};
use pktbox_stack::socket::{TcpListener, TcpStream};
use pktbox_tests::*;

/// Two stacks on a udp wire, A (10.N.0.1) with PF loaded; `a_opts` go on A's driver.
fn pf_pair(net: u8, a_opts: &str) -> (StackProc, StackProc) {
    let (pa, pb) = (free_udp_port(), free_udp_port());
    let a = StackProc::start(&[
        "-p",
        "pf",
        "-d",
        "udp",
        &format!("local=127.0.0.1:{pa},remote=127.0.0.1:{pb}{a_opts}"),
    ]);
    let b = StackProc::start(&["-d", "udp", &format!("local=127.0.0.1:{pb},remote=127.0.0.1:{pa}")]);
    a.ok("ifconfig", &["en0", &format!("10.{net}.0.1/24")]);
    b.ok("ifconfig", &["en0", &format!("10.{net}.0.2/24")]);
    (a, b)
}

/// Loads `rs` and, the first time, enables PF (a second `Enable` is EEXIST, as
/// `pfctl -e` says `pf already enabled`).
fn load(st: &StackProc, rs: Ruleset, first: bool) {
    let mut s = st.open();
    s.pf(PfReq::Open).expect("open pf");
    s.pf(PfReq::Load(LoadReq {
        anchor: String::new(),
        parts: LoadParts::ALL,
        ruleset: rs,
        nested: Vec::new(),
    }))
    .expect("load");
    if first {
        s.pf(PfReq::Enable).expect("enable");
    }
}

#[test]
fn block_log_hits_are_captured_on_pflog0_and_read_by_tcpdump() {
    let (a, b) = pf_pair(41, "");
    // pass all; block log in proto icmp (rule 1, the last match).
    let mut blk = Rule::new(Action::Block);
    blk.dir = Dir::In;
    blk.proto = Some(1);
    blk.log = Some(LogOpts::default());
    load(
        &a,
        Ruleset {
            filter: vec![Rule::new(Action::Pass), blk],
            ..Ruleset::default()
        },
        true,
    );
    let out = a.dir().join("pflog.pcap");
    let path = out.to_string_lossy().into_owned();
    let mut cmd = a.command("tcpdump", &["-U", "-i", "pflog0", "-c", "2", "-w", &path]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut dump = ChildGuard::spawn(cmd);
    // The capture is attached when tcpdump says it listens; pings until two are logged.
    wait_for("tcpdump listening on pflog0", || {
        std::thread::sleep(Duration::from_millis(50));
        std::fs::metadata(&out).ok()
    });
    let ping = b.run("ping", &["-c", "4", "-i", "0.2", "-w", "3", "10.41.0.1"]);
    assert!(
        !ping.stdout.contains("bytes from"),
        "blocked pings were answered: {ping:?}"
    );
    let code = wait_for("tcpdump -c 2 ends", || dump.try_code().flatten());
    assert_eq!(code, 0);
    let o = pktbox(["tcpdump", "-e", "-nn", "-r", &path], &[("TZ", "UTC".as_ref())]).ok();
    assert!(o.stderr.contains("link-type PFLOG (OpenBSD pflog file)"), "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{o:?}");
    for l in &lines {
        assert!(
            l.contains(" rule 1/0(match): block in on en0: 10.41.0.2 > 10.41.0.1: ICMP echo request, id "),
            "{l}"
        );
    }
    // Filters on the pflog fields, on the file.
    let n = |expr: &str| {
        pktbox(["tcpdump", "-nn", "-r", &path, expr], &[])
            .ok()
            .stdout
            .lines()
            .count()
    };
    assert_eq!(n("on en0 and rnr 1 and action block and inbound and icmp"), 2);
    assert_eq!(n("outbound or rnr 0 or action pass"), 0);
    let test = "block_log_hits_are_captured_on_pflog0_and_read_by_tcpdump";
    let Some(tcpdump) = tool("tcpdump") else {
        return skip(test, "no tcpdump installed: Linux's tcpdump reading pflog0's file");
    };
    let linux = std::process::Command::new(tcpdump)
        .args(["-e", "-nn", "-r", &path])
        .env("TZ", "UTC")
        .output()
        .expect("run tcpdump");
    assert_eq!(String::from_utf8_lossy(&linux.stdout), o.stdout);
}

/// Ping RTTs in ms as ping prints them (`time=0.123 ms`).
fn rtts(out: &str) -> Vec<f64> {
    out.lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next())
        .filter_map(|t| t.parse().ok())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Bulk TCP from A to B for as long as `run` is set, and 20 pings A -> B meanwhile; the
/// pings' median RTT and the transfer's rate in Mbit/s.
fn ping_under_bulk(a: &StackProc, b: &StackProc, net: u8) -> (f64, f64) {
    let l = TcpListener::bind_at(b.prefix(), "0.0.0.0:5001", 4).unwrap();
    let run = Arc::new(AtomicBool::new(true));
    let sink = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        recv_all(&mut s).0
    });
    let mut c = TcpStream::connect_at(a.prefix(), format!("10.{net}.0.2:5001"), Some(Duration::from_secs(10))).unwrap();
    let r = run.clone();
    let t0 = std::time::Instant::now();
    let source = std::thread::spawn(move || {
        let buf = vec![0x5a; 65536];
        while r.load(Ordering::Relaxed) {
            if c.write_all(&buf).is_err() {
                break;
            }
        }
    });
    // Let the transfer fill the link first.
    std::thread::sleep(Duration::from_secs(2));
    let ping = a.run("ping", &["-c", "20", "-i", "0.1", &format!("10.{net}.0.2")]);
    run.store(false, Ordering::Relaxed);
    source.join().unwrap();
    let moved = sink.join().unwrap();
    let mbit = moved as f64 * 8.0 / t0.elapsed().as_secs_f64() / 1e6;
    let t = rtts(&ping.stdout);
    assert!(t.len() >= 15, "pings answered under load: {ping:?}");
    (median(t), mbit)
}

#[test]
fn priq_keeps_ping_near_idle_while_bulk_tcp_fills_the_link() {
    // The link: 10 Mbit/s in A's driver (its queue holds 1000 frames). The queue: 9 Mbit/s
    // on A's en0, so the frames wait in PRIQ, where pings go first, not in the driver.
    let net = 42;
    let (a, b) = pf_pair(net, ",rate=10");
    let idle = median(rtts(&a.ok("ping", &["-c", "5", "-i", "0.1", &format!("10.{net}.0.2")])));
    // Without a queue: PF passes everything.
    load(
        &a,
        Ruleset {
            filter: vec![Rule::new(Action::Pass)],
            ..Ruleset::default()
        },
        true,
    );
    let (plain, moved_plain) = ping_under_bulk(&a, &b, net);
    // With one: altq on en0 priq bandwidth 9Mb queue { ssh, std }; queue ssh priority 7;
    // queue std priority 1 qlimit 200 priq(default); pass all; pass out proto icmp queue
    // ssh. (With the default qlimit of 50 the transfer loses segments at the queue and
    // runs at about 6.4 of the 9 Mbit/s; the pings are as fast.)
    let q = |name: &str, priority, qlimit, default| QueueDef {
        name: name.into(),
        ifname: "en0".into(),
        priority,
        qlimit,
        bandwidth: None,
        opts: PriqOpts {
            default,
            ..PriqOpts::default()
        },
    };
    let mut icmp = Rule::new(Action::Pass);
    icmp.dir = Dir::Out;
    icmp.proto = Some(1);
    icmp.queue = Some("ssh".into());
    load(
        &a,
        Ruleset {
            filter: vec![Rule::new(Action::Pass), icmp],
            altq: vec![AltqDef {
                ifname: "en0".into(),
                bandwidth: 9_000_000,
                qlimit: 0,
                tbrsize: 0,
                queues: vec!["ssh".into(), "std".into()],
            }],
            queues: vec![q("ssh", 7, 0, false), q("std", 1, 200, true)],
            ..Ruleset::default()
        },
        false,
    );
    let (queued, moved_queued) = ping_under_bulk(&a, &b, net);
    let PfReply::Queues(st) = a.open().pf(PfReq::GetQueues).expect("queues") else {
        panic!("no queue reply");
    };
    let (ssh, std) = (&st.queues[0], &st.queues[1]);
    eprintln!(
        "priq: ping median RTT idle {idle:.3} ms; under bulk TCP at 10 Mbit/s without a queue \
         {plain:.3} ms (TCP at {moved_plain:.1} Mbit/s), with PRIQ at 9 Mbit/s {queued:.3} ms \
         (TCP at {moved_queued:.1} Mbit/s); queue ssh {} packets, std {} packets {} dropped",
        ssh.1.packets, std.1.packets, std.1.dropped_packets
    );
    assert_eq!((ssh.0.name.as_str(), std.0.name.as_str()), ("ssh", "std"));
    // Every ping went through the high queue, the bulk through the default one.
    assert!(ssh.1.packets >= 15, "{st:?}");
    assert!(std.1.packets > 1000, "{st:?}");
    // The link was full both times, and the pings waited behind it only without the queue.
    assert!(moved_plain > 1.0 && moved_queued > 1.0);
    assert!(queued * 4.0 < plain, "with PRIQ {queued} ms, without {plain} ms");
}
