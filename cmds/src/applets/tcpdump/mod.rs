//! tcpdump: dump traffic on an interface of the stack, as tcpdump 4.99 does.
//!
//! This build has the filter compiler and `-d`/`-dd`/`-ddd`, which print the program an
//! expression compiles to, and offline mode: `-r FILE` reads a pcap savefile ([`pcap`]),
//! filters it, and prints its packets ([`show`]) or copies them with `-w`; none of it needs
//! a stack. Live capture (`-i`, `-D`, `-p`, `-Q`, or a run with neither `-r` nor `-d`) comes
//! with the stack's BPF taps; until then it fails with a clear message instead of being
//! ignored.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};

use pktbox_stack::net::bpf::BpfProgram;

use crate::common::{fail, parse};

pub mod compile;
pub mod pcap;
pub mod print;
pub mod show;

#[cfg(test)]
mod difftest;

const PROG: &str = "tcpdump";

fn flag(id: &'static str, short: char, help: &'static str) -> Arg {
    Arg::new(id).short(short).action(ArgAction::SetTrue).help(help)
}

fn count(id: &'static str, short: char, help: &'static str) -> Arg {
    Arg::new(id).short(short).action(ArgAction::Count).help(help)
}

pub fn command() -> Command {
    Command::new(PROG)
        .about("Dump traffic on an interface of the stack")
        .override_usage(
            "tcpdump [-DdelnOpqStUvXx] [-c count] [-i interface] [-Q in|out|inout] [-r file]\n               \
             [-s snaplen] [-w file] [expression]",
        )
        .after_help(
            "The expression is in the pcap-filter(7) language, for Ethernet frames. -d, -dd and -ddd print \
             the program it compiles to (as assembly, as C, as numbers) and exit; they need no running stack.",
        )
        .arg(
            Arg::new("interface")
                .short('i')
                .value_name("interface")
                .help("Listen on this interface of the stack"),
        )
        .arg(flag(
            "list_interfaces",
            'D',
            "List the interfaces tcpdump can listen on",
        ))
        .arg(
            Arg::new("count")
                .short('c')
                .value_name("count")
                .value_parser(clap::value_parser!(u64))
                .help("Exit after receiving count packets"),
        )
        .arg(
            Arg::new("snaplen")
                .short('s')
                .value_name("snaplen")
                .allow_hyphen_values(true)
                .help("Capture at most snaplen bytes of each packet (0: 262144, the default)"),
        )
        .arg(flag(
            "no_promisc",
            'p',
            "Do not put the interface into promiscuous mode",
        ))
        .arg(
            Arg::new("direction")
                .short('Q')
                .value_name("in|out|inout")
                .value_parser(["in", "out", "inout"])
                .help("Capture packets received, sent, or both"),
        )
        .arg(
            Arg::new("write")
                .short('w')
                .value_name("file")
                .help("Write the raw packets to file (pcap format); - is standard output"),
        )
        .arg(
            Arg::new("read")
                .short('r')
                .value_name("file")
                .help("Read packets from a pcap file; - is standard input"),
        )
        .arg(flag(
            "packet_buffered",
            'U',
            "Write each packet to the -w file as soon as it is captured",
        ))
        .arg(flag("line_buffered", 'l', "Make standard output line buffered"))
        .arg(flag("ether", 'e', "Print the link-level header on each line"))
        .arg(count(
            "numeric",
            'n',
            "Do not convert addresses to names (-nn: nor ports)",
        ))
        .arg(count(
            "timestamp",
            't',
            "-t: no time stamp; -tt: seconds since 1970; -ttt: delta; -tttt: date",
        ))
        .arg(count("verbose", 'v', "More detail (-vv, -vvv: even more)"))
        .arg(flag("quick", 'q', "Print less protocol information"))
        .arg(count(
            "hex",
            'x',
            "Print each packet in hex (-xx: with its link-level header)",
        ))
        .arg(count(
            "hex_ascii",
            'X',
            "Print each packet in hex and ASCII (-XX: with its link-level header)",
        ))
        .arg(count(
            "dump",
            'd',
            "Print the compiled filter and exit (-dd: as C, -ddd: as numbers)",
        ))
        .arg(flag("no_optimize", 'O', "Do not run the filter optimizer"))
        .arg(flag(
            "absolute",
            'S',
            "Print absolute, not relative, TCP sequence numbers",
        ))
        .arg(
            Arg::new("expression")
                .value_name("expression")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .help("Which packets to dump (pcap-filter(7)); all when absent"),
        )
}

/// The snap length `-s` asks for, checked as tcpdump checks it.
fn snaplen(arg: Option<&String>) -> Result<u32, String> {
    let Some(s) = arg else {
        return Ok(compile::DEFAULT_SNAPLEN);
    };
    let bad = || format!("invalid snaplen {s} (must be >= 0 and <= {})", compile::DEFAULT_SNAPLEN);
    let n: i64 = s.parse().map_err(|_| bad())?;
    match n {
        0 => Ok(compile::DEFAULT_SNAPLEN),
        1..=262144 => Ok(n as u32),
        _ => Err(bad()),
    }
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let m = match parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let snap = match snaplen(m.get_one::<String>("snaplen")) {
        Ok(s) => s,
        Err(e) => return fail(PROG, e),
    };
    let expr = m
        .get_many::<String>("expression")
        .map(|v| v.cloned().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let dump = m.get_count("dump");
    // What needs a stack's interface: refused rather than ignored, even with -d. Printing
    // options do nothing with -d, as in tcpdump.
    let given = |id: &str| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let live = ["interface", "list_interfaces", "no_promisc", "direction"]
        .into_iter()
        .any(given);
    let read = m.get_one::<String>("read");
    if live || (dump == 0 && read.is_none()) {
        return fail(PROG, "capture is not in this build yet");
    }
    if dump > 0 && read.is_none() {
        if ["count", "write", "packet_buffered"].into_iter().any(given) {
            return fail(PROG, "capture is not in this build yet");
        }
        // Without an interface or a file to give the link type, tcpdump -d assumes Ethernet
        // and says so.
        eprintln!("Warning: assuming Ethernet");
        return dump_program(&expr, snap, &m, dump);
    }
    match offline(&m, read.map(String::as_str).unwrap_or("-"), &expr, dump) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Quiet) => ExitCode::from(crate::common::EXIT_FAILURE),
        Err(Failure::Say(e)) => fail(PROG, e),
    }
}

fn dump_program(expr: &str, snap: u32, m: &clap::ArgMatches, dump: u8) -> ExitCode {
    let opts = compile::Options {
        snaplen: snap,
        optimize: !m.get_flag("no_optimize"),
        ..Default::default()
    };
    let prog = match compile::compile(expr, &opts) {
        Ok(p) => p,
        Err(e) => return fail(PROG, e),
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(print::dump(&prog, dump).as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        return ExitCode::from(crate::common::EXIT_FAILURE);
    }
    ExitCode::SUCCESS
}

/// Why offline mode stopped.
enum Failure {
    /// Say this as `tcpdump: ...` and exit 1.
    Say(String),
    /// Exit 1 without a word (standard output went away).
    Quiet,
}

/// An I/O error as tcpdump words it: the system's message without Rust's `(os error N)`.
fn os_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// `tcpdump -r FILE`: print (or with `-w`, copy) the packets of a savefile that the filter
/// accepts, up to `-c` of them.
fn offline(m: &clap::ArgMatches, path: &str, expr: &str, dump: u8) -> Result<(), Failure> {
    let input: Box<dyn std::io::Read> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(path).map_err(|e| Failure::Say(format!("{path}: {}", os_message(&e))))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut reader = pcap::Reader::new(input).map_err(|e| Failure::Say(e.to_string()))?;
    let h = reader.header;
    let prog = match (h.linktype, expr.trim().is_empty()) {
        (_, true) => vec![pktbox_stack::net::bpf::BpfInsn::stmt(
            pktbox_stack::net::bpf::BPF_RET | pktbox_stack::net::bpf::BPF_K,
            h.snaplen,
        )],
        (pcap::LINKTYPE_ETHERNET, false) => {
            let opts = compile::Options {
                snaplen: h.snaplen,
                optimize: !m.get_flag("no_optimize"),
                ..Default::default()
            };
            compile::compile(expr, &opts).map_err(|e| Failure::Say(e.to_string()))?
        }
        (lt, false) => {
            return Err(Failure::Say(format!(
                "filters are compiled for Ethernet only; link-type {} is not",
                pcap::linktype_desc(lt)
            )))
        }
    };
    if dump > 0 {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(print::dump(&prog, dump).as_bytes())
            .and_then(|_| out.flush())
            .map_err(|_| Failure::Quiet);
    }
    let filter = BpfProgram::new(prog).map_err(Failure::Say)?;
    if pcap::linktype_name(h.linktype).is_none() {
        return Err(Failure::Say(format!(
            "{path}: link-type {} is not supported",
            h.linktype
        )));
    }
    eprintln!(
        "reading from file {path}, link-type {}, snapshot length {}",
        pcap::linktype_desc(h.linktype),
        h.snaplen
    );
    let limit = m.get_one::<u64>("count").copied();
    let line_buffered = m.get_flag("line_buffered");
    enum Sink {
        Print(show::Printer, std::io::BufWriter<std::io::StdoutLock<'static>>),
        Write(pcap::Writer<Box<dyn std::io::Write>>),
    }
    let mut sink = match m.get_one::<String>("write") {
        Some(w) => {
            let out: Box<dyn std::io::Write> = if w == "-" {
                Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
            } else {
                let f = std::fs::File::create(w).map_err(|e| Failure::Say(format!("{w}: {}", os_message(&e))))?;
                Box::new(std::io::BufWriter::new(f))
            };
            let mut wr = pcap::Writer::new(out, h.snaplen, h.linktype).map_err(|e| Failure::Say(os_message(&e)))?;
            wr.flush_each = m.get_flag("packet_buffered");
            Sink::Write(wr)
        }
        None => Sink::Print(
            show::Printer::new(show::Options::from_matches(m), h.linktype),
            std::io::BufWriter::new(std::io::stdout().lock()),
        ),
    };
    let mut seen = 0u64;
    let result = loop {
        if limit.is_some_and(|l| seen >= l) {
            break Ok(());
        }
        let rec = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break Ok(()),
            Err(e) => break Err(Failure::Say(format!("pcap_loop: {e}"))),
        };
        if filter.filter(&rec.data, rec.wirelen) == 0 {
            continue;
        }
        seen += 1;
        let r = match &mut sink {
            Sink::Print(p, out) => p
                .packet(out, rec.ts_sec, rec.ts_usec, &rec.data, rec.wirelen)
                .and_then(|_| if line_buffered { out.flush() } else { Ok(()) }),
            Sink::Write(w) => w.packet(rec.ts_sec, rec.ts_usec, &rec.data, rec.wirelen),
        };
        if r.is_err() {
            break Err(Failure::Quiet);
        }
    };
    let flushed = match &mut sink {
        Sink::Print(_, out) => out.flush(),
        Sink::Write(w) => w.flush(),
    };
    result?;
    flushed.map_err(|_| Failure::Quiet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(args: &[&str]) -> ExitCode {
        run(std::iter::once("tcpdump")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect())
    }

    #[test]
    fn dump_needs_no_stack() {
        assert_eq!(code(&["-d", "tcp", "port", "80"]), ExitCode::SUCCESS);
        assert_eq!(code(&["-ddd", "-O", "-s", "96", "ip"]), ExitCode::SUCCESS);
        assert_eq!(code(&["-dd", "-nn", "-vv", "-e", "vlan"]), ExitCode::SUCCESS);
        assert_eq!(code(&["-d"]), ExitCode::SUCCESS);
    }

    #[test]
    fn failures_exit_1_and_usage_errors_2() {
        let fail = ExitCode::from(crate::common::EXIT_FAILURE);
        // Live capture is not here yet, and says so rather than doing nothing; so do -c, -w
        // and -U without a file to read.
        for args in [
            &["ip"][..],
            &["-i", "en0"],
            &["-D"],
            &["-d", "-i", "en0", "ip"],
            &["-d", "-c", "5"],
            &["-d", "-Q", "in"],
            &["-d", "-w", "x.pcap", "ip"],
            &["-r", "x.pcap", "-p"],
            &["-r", "x.pcap", "-i", "en0"],
        ] {
            assert_eq!(code(args), fail, "{args:?}");
        }
        // Reading a file that is not there fails as tcpdump does.
        assert_eq!(code(&["-d", "-r", "/nonexistent.pcap"]), fail);
        assert_eq!(code(&["-r", "/nonexistent.pcap"]), fail);
        assert_eq!(code(&["-d", "tcp", "and"]), fail);
        assert_eq!(code(&["-d", "-s", "300000", "ip"]), fail);
        assert_eq!(
            code(&["-Q", "sideways", "-d", "ip"]),
            ExitCode::from(crate::common::EXIT_USAGE)
        );
    }

    #[test]
    fn reads_filters_and_writes_files() {
        let dir = std::env::temp_dir().join(format!("pktbox-tcpdump-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (inp, out) = (dir.join("in.pcap"), dir.join("out.pcap"));
        let udp = [
            &[2u8, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0][..],
            &[0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2],
            &[0, 9, 0, 9, 0, 8, 0, 0],
        ]
        .concat();
        let mut w = pcap::Writer::new(std::fs::File::create(&inp).expect("create"), 96, 1).expect("header");
        for i in 0..3 {
            w.packet(i, 0, &udp, 42).expect("write");
        }
        drop(w);
        let (i, o) = (inp.to_string_lossy().into_owned(), out.to_string_lossy().into_owned());
        assert_eq!(code(&["-r", &i, "-w", &o, "-c", "2", "udp"]), ExitCode::SUCCESS);
        let mut r = pcap::Reader::new(std::fs::File::open(&out).expect("open")).expect("header");
        assert_eq!((r.header.snaplen, r.header.linktype), (96, 1));
        let mut n = 0;
        while let Some(p) = r.next_record().expect("record") {
            assert_eq!((p.ts_sec, &p.data[..]), (n, &udp[..]));
            n += 1;
        }
        assert_eq!(n, 2, "-c 2");
        assert_eq!(code(&["-r", &i, "-w", &o, "tcp"]), ExitCode::SUCCESS);
        let mut r = pcap::Reader::new(std::fs::File::open(&out).expect("open")).expect("header");
        assert!(r.next_record().expect("ok").is_none(), "the filter keeps no packet");
        // -d with -r compiles for the file.
        assert_eq!(code(&["-d", "-r", &i, "udp"]), ExitCode::SUCCESS);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn snaplen_as_tcpdump_checks_it() {
        let s = |v: &str| snaplen(Some(&v.to_string()));
        assert_eq!(snaplen(None), Ok(262144));
        assert_eq!(s("0"), Ok(262144));
        assert_eq!(s("68"), Ok(68));
        assert_eq!(s("262144"), Ok(262144));
        assert_eq!(
            s("262145"),
            Err("invalid snaplen 262145 (must be >= 0 and <= 262144)".into())
        );
        assert_eq!(s("-5"), Err("invalid snaplen -5 (must be >= 0 and <= 262144)".into()));
        assert!(s("abc").is_err());
    }
}
