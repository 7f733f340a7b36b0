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
