//! The differential printing test: the corpus of [`super::corpus`] written to pcap files
//! (whole, and cut to 64 bytes as `-s 64` would keep it), printed by Debian's tcpdump 4.99
//! (`tcpdump -r FILE`) and by this printer under many option sets; every line must agree.
//! TZ=UTC for both. Without tcpdump it skips with a notice ([`pktbox_tests::skip`]: a failure
//! when `CI` is set).

use std::path::Path;
use std::process::Command;

use super::corpus::{corpus, cut, Frame};
use super::{Options, Printer};
use crate::applets::tcpdump::pcap;

const OPTION_SETS: &[&[&str]] = &[
    &["-n"],
    &["-nn"],
    &[],
    &["-e", "-n"],
    &["-e"],
    &["-t", "-nn"],
    &["-tt", "-n"],
    &["-ttt", "-n"],
    &["-tttt", "-n"],
    &["-ttttt", "-nn"],
    &["-v", "-n"],
    &["-vv", "-n"],
    &["-v", "-e", "-nn"],
    &["-vv"],
    &["-q", "-n"],
    &["-q", "-e", "-n"],
    &["-x", "-n"],
    &["-xx", "-n"],
    &["-X", "-n"],
    &["-XX", "-n", "-e"],
    &["-S", "-n"],
    &["-X", "-v", "-n"],
    &["-A", "-n"],
    &["-A", "-#", "-e", "-n"],
];

fn write(path: &Path, frames: &[Frame], snaplen: u32) {
    let f = std::fs::File::create(path).expect("create pcap");
    let mut w = pcap::Writer::new(std::io::BufWriter::new(f), snaplen, pcap::LINKTYPE_ETHERNET).expect("header");
    for f in frames {
        w.packet(f.sec, f.usec, &f.bytes, f.wirelen).expect("write");
    }
    w.flush().expect("flush");
}

/// What our printer prints for the file with these options.
fn ours(path: &Path, args: &[&str]) -> Vec<String> {
    let m = crate::applets::tcpdump::command()
        .try_get_matches_from(std::iter::once("tcpdump").chain(args.iter().copied()))
        .expect("options parse");
    let opts = Options::from_matches(&m);
    let mut r = pcap::Reader::new(std::fs::File::open(path).expect("open")).expect("header");
    let mut p = Printer::new(opts, r.header.linktype);
    let mut out = String::new();
    while let Some(rec) = r.next_record().expect("record") {
        out.push_str(&p.format(rec.ts_sec, rec.ts_usec, &rec.data, rec.wirelen));
    }
    out.lines().map(String::from).collect()
}

fn theirs(tcpdump: &Path, path: &Path, args: &[&str]) -> Vec<String> {
    let o = Command::new(tcpdump)
        .env("TZ", "UTC")
        .args(args)
        .arg("-r")
        .arg(path)
        .output()
        .expect("run tcpdump");
    String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect()
}

/// Splits output into packets: a packet's first line starts at column 0 with no tab.
fn packets(lines: &[String]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for l in lines {
        if l.starts_with('\t') || l.starts_with("    ") && !l.starts_with("     ") && !v.is_empty() {
            if let Some(last) = v.last_mut() {
                last.push('\n');
                last.push_str(l);
                continue;
            }
        }
        v.push(l.clone());
    }
    v
}

#[test]
fn printing_agrees_with_tcpdump() {
    let Some(tcpdump) = pktbox_tests::tool("tcpdump") else {
        return pktbox_tests::skip("printing_agrees_with_tcpdump", "no tcpdump installed");
    };
    let tcpdump = tcpdump.as_path();
    std::env::set_var("TZ", "UTC");
    let dir = std::env::temp_dir().join(format!("pktbox-print-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let seed = std::env::var("PRINT_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(42);
    let frames = corpus(seed, 400);
    let whole = dir.join("whole.pcap");
    let short = dir.join("short.pcap");
    write(&whole, &frames, 262144);
    write(&short, &cut(&frames, 64), 64);
    let mut failures = Vec::new();
    let mut agreed = 0;
    let mut sets = 0;
    for (file, sets_here) in [(&whole, OPTION_SETS), (&short, &OPTION_SETS[..12])] {
        for args in sets_here {
            sets += 1;
            let (t, o) = (packets(&theirs(tcpdump, file, args)), packets(&ours(file, args)));
            if t.len() != o.len() {
                failures.push(format!(
                    "{args:?} on {}: tcpdump printed {} packets, pktbox {}",
                    file.display(),
                    t.len(),
                    o.len()
                ));
            }
            for (i, (a, b)) in t.iter().zip(&o).enumerate() {
                if a == b {
                    agreed += 1;
                } else {
                    failures.push(format!(
                        "{args:?} {} frame {i}:\ntcpdump: {a}\npktbox:  {b}",
                        file.file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "print_diff: {} frames x {sets} option sets (whole and cut to 64 bytes): {agreed} packets printed alike, {} differences",
        frames.len(),
        failures.len()
    );
    let show = std::env::var("PRINT_DIFF_SHOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for f in failures.iter().take(show) {
        eprintln!("---\n{f}");
    }
    assert!(
        failures.is_empty(),
        "{} packets print differently from tcpdump",
        failures.len()
    );
}

/// The corpus's IPv4 and IPv6 packets behind pflog headers of every action, direction and
/// the reasons tcpdump names as PF does (not 3 and 4, which its table gets wrong), some in
/// anchors, some with an unknown family; and the Ethernet frames they came from.
fn pflog_corpus(seed: u64) -> (Vec<Frame>, Vec<Frame>) {
    use pktbox_stack::wire::pflog::{PflogRepr, PFLOG_HDRLEN};
    let mut r = super::corpus::Rng(seed | 1);
    let names = ["en0", "wm1", "pppoe0", "bridge0", "a-long-ifname-x"];
    let (mut out, mut eth) = (Vec::new(), Vec::new());
    for f in corpus(seed, 400) {
        if f.bytes.len() < 14 || !matches!([f.bytes[12], f.bytes[13]], [0x08, 0x00] | [0x86, 0xdd]) {
            continue;
        }
        let inet6 = f.bytes[12] == 0x86;
        let reason = r.pick(&[0u8, 1, 2, 5, 6, 9, 10, 14, 15, 200]);
        let mut h = PflogRepr::new(
            inet6,
            r.below(14) as u8,
            reason,
            r.below(4) as u8,
            names[r.below(names.len())],
            r.next() as u32 % 100,
        );
        if r.chance(20) {
            h.set_anchor(r.pick(&["ftp-proxy", "relayd", "x"]), r.below(50) as u32);
        }
        if r.chance(5) {
            h.af = 99;
        }
        let mut b = vec![0u8; PFLOG_HDRLEN];
        h.emit(&mut b).expect("64 bytes");
        b.extend_from_slice(&f.bytes[14..]);
        out.push(Frame {
            sec: f.sec,
            usec: f.usec,
            wirelen: f.wirelen - 14 + PFLOG_HDRLEN as u32,
            bytes: b,
        });
        eth.push(f);
    }
    (out, eth)
}

fn write_pflog(path: &Path, frames: &[Frame], snaplen: u32) {
    let f = std::fs::File::create(path).expect("create pcap");
    let mut w = pcap::Writer::new(std::io::BufWriter::new(f), snaplen, pcap::LINKTYPE_PFLOG).expect("header");
    for f in frames {
        w.packet(f.sec, f.usec, &f.bytes, f.wirelen).expect("write");
    }
    w.flush().expect("flush");
}

#[test]
fn pflog_printing_agrees_with_tcpdump() {
    let Some(tcpdump) = pktbox_tests::tool("tcpdump") else {
        return pktbox_tests::skip("pflog_printing_agrees_with_tcpdump", "no tcpdump installed");
    };
    std::env::set_var("TZ", "UTC");
    let dir = std::env::temp_dir().join(format!("pktbox-pflog-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (frames, eth) = pflog_corpus(7);
    assert!(frames.len() > 100, "{} pflog frames", frames.len());
    // The same packets cut at the same point of the IP packet as the Ethernet test's.
    let cut_ip = 50;
    let files = [
        (dir.join("pflog.pcap"), dir.join("eth.pcap"), 262144),
        (dir.join("pflog-short.pcap"), dir.join("eth-short.pcap"), cut_ip),
    ];
    for (pf, e, ip_snap) in &files {
        let snap = (*ip_snap).min(262144 - 64);
        write_pflog(pf, &cut(&frames, snap + 64), snap as u32 + 64);
        write(e, &cut(&eth, snap + 14), snap as u32 + 14);
    }
    let whole = &files[0].0;
    let mut failures = Vec::new();
    let mut agreed = 0;
    let mut unlike_on_ethernet = 0;
    for ((file, efile, _), sets) in files.iter().zip([OPTION_SETS, &OPTION_SETS[..6]]) {
        for args in sets {
            let (t, o) = (packets(&theirs(&tcpdump, file, args)), packets(&ours(file, args)));
            if t.len() != o.len() {
                failures.push(format!(
                    "{args:?}: tcpdump printed {} packets, pktbox {}",
                    t.len(),
                    o.len()
                ));
            }
            // A packet whose IP part this printer words differently from tcpdump behind
            // Ethernet too is not the pflog printer's difference.
            let (te, oe) = (packets(&theirs(&tcpdump, efile, args)), packets(&ours(efile, args)));
            for (i, (a, b)) in t.iter().zip(&o).enumerate() {
                if te.get(i) != oe.get(i) {
                    unlike_on_ethernet += 1;
                    continue;
                }
                if a == b {
                    agreed += 1;
                } else {
                    failures.push(format!("{args:?}:\ntcpdump: {a}\npktbox:  {b}"));
                }
            }
        }
    }
    // Filters: the records tcpdump's libpcap keeps are the ones ours keeps. (Not `ip6`,
    // nor `tcp` alone, which means IPv4 or IPv6: libpcap on Linux compares the header's
    // family with Linux's AF_INET6, 10, so it never takes a BSD-written IPv6 record.)
    let exprs = [
        "on en0",
        "ifname wm1 or ifname pppoe0",
        "rnr 5",
        "reason match",
        "reason bad-offset or reason 9",
        "action block",
        "action pass and inbound",
        "outbound",
        "ruleset ftp-proxy",
        "srnr 3",
        "ip",
        "ip and tcp",
        "ip and udp port 53",
        "ip and not on bridge0",
        "icmp or (ip and tcp and rnr 7)",
    ];
    for expr in exprs {
        let out = dir.join("filtered.pcap");
        let ran = Command::new(&tcpdump)
            .args(["-r"])
            .arg(whole)
            .arg("-w")
            .arg(&out)
            .arg(expr)
            .output()
            .expect("run tcpdump");
        assert!(ran.status.success(), "{expr}: {}", String::from_utf8_lossy(&ran.stderr));
        let mut theirs = Vec::new();
        let mut r = pcap::Reader::new(std::fs::File::open(&out).expect("open")).expect("header");
        while let Some(rec) = r.next_record().expect("record") {
            theirs.push(rec.data);
        }
        let prog = crate::applets::tcpdump::compile::compile(
            expr,
            &crate::applets::tcpdump::compile::Options {
                linktype: crate::applets::tcpdump::compile::DLT_PFLOG,
                ..Default::default()
            },
        )
        .expect("compiles");
        let ours: Vec<Vec<u8>> = frames
            .iter()
            .filter(|f| pktbox_stack::wire::bpf::bpf_filter(&prog, &f.bytes, f.wirelen) != 0)
            .map(|f| f.bytes.clone())
            .collect();
        if theirs != ours {
            failures.push(format!(
                "filter {expr:?}: tcpdump kept {}, pktbox {}",
                theirs.len(),
                ours.len()
            ));
        } else {
            agreed += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "pflog diff: {} records, {agreed} prints and filters alike, {} differences, {unlike_on_ethernet} left out (printed unlike tcpdump behind Ethernet too)",
        frames.len(),
        failures.len()
    );
    for f in failures.iter().take(20) {
        eprintln!("---\n{f}");
    }
    assert!(failures.is_empty(), "{} differences from tcpdump", failures.len());
}
