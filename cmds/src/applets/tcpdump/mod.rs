//! tcpdump: dump traffic on an interface of the stack, as tcpdump 4.99 does.
//!
//! - Live capture ([`live`]): a bpf-role connection to the stack named by `SOCK`, attached
//!   to an interface (`-i`, or the first one up), with the compiled filter, promiscuous mode
//!   unless `-p`, the direction of `-Q` and the buffer of `-B`; packets come back a buffer of
//!   `bpf_hdr` records at a time until `-c` or a signal, then the three counts.
//! - Offline mode: `-r FILE` reads a pcap savefile ([`pcap`]) and filters it.
//! - Either way, packets are printed as tcpdump 4.99 prints them ([`show`]) or written to a
//!   savefile with `-w`.
//! - `-d`/`-dd`/`-ddd` print the program an expression compiles to ([`compile`], [`print`]);
//!   without `-i` they need no stack.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};

use pktbox_stack::msg::IFT_LOOP;
use pktbox_stack::socket::prefix_from_env;
use pktbox_stack::wire::bpf::{records, BpfInsn, BpfProgram, BPF_D_IN, BPF_D_INOUT, BPF_D_OUT, BPF_K, BPF_RET};

use crate::common::{fail, parse};

pub mod compile;
pub mod live;
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
            "tcpdump [-AdDelnOpqStUvXx#] [-B buffer_size] [-c count] [-i interface] [-Q in|out|inout]\n               \
             [-r file] [-s snaplen] [-w file] [expression]",
        )
        .after_help(
            "Captures on an interface of the stack named by SOCK (default /run/io-pkt), or reads a pcap file \
             with -r. The expression is in the pcap-filter(7) language, for Ethernet frames (or BSD loopback \
             framing on lo0). -d, -dd and -ddd print the program it compiles to (as assembly, as C, as \
             numbers) and exit; without -i they need no running stack. On SIGINT or after -c packets, the \
             counts of packets captured, received by the filter and dropped for want of buffer space go to \
             standard error.",
        )
        .arg(
            Arg::new("buffer_size")
                .short('B')
                .value_name("buffer_size")
                .value_parser(clap::value_parser!(u32).range(1..))
                .help("The capture buffer size, in KiB (the stack grants up to 255)"),
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
        .arg(flag(
            "ascii",
            'A',
            "Print each packet (without its link-level header) in ASCII",
        ))
        .arg(
            Arg::new("number")
                .short('#')
                .long("number")
                .action(ArgAction::SetTrue)
                .help("Print a packet number at the start of each line"),
        )
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
    let r = if m.get_flag("list_interfaces") {
        live::interfaces(&prefix_from_env())
            .map(|ifs| print!("{}", live::list_interfaces(&ifs)))
            .map_err(Failure::Say)
    } else if let Some(path) = m.get_one::<String>("read") {
        offline(&m, path, &expr, dump)
    } else if dump > 0 && m.get_one::<String>("interface").is_none() {
        // Without an interface or a file to give the link type, tcpdump -d assumes Ethernet
        // and says so.
        eprintln!("Warning: assuming Ethernet");
        program(&m, &expr, snap, compile::DLT_EN10MB, 0).and_then(|p| print_program(&p, dump))
    } else {
        capture(&m, &expr, snap, dump)
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Quiet) => ExitCode::from(crate::common::EXIT_FAILURE),
        Err(Failure::Say(e)) => fail(PROG, e),
    }
}

/// The program for `expr` on a link type, as `-O` says; every packet when there is no
/// expression.
fn program(m: &clap::ArgMatches, expr: &str, snap: u32, linktype: u32, netmask: u32) -> Result<Vec<BpfInsn>, Failure> {
    if expr.trim().is_empty() {
        return Ok(vec![BpfInsn::stmt(BPF_RET | BPF_K, snap)]);
    }
    let opts = compile::Options {
        snaplen: snap,
        netmask,
        optimize: !m.get_flag("no_optimize"),
        linktype,
    };
    compile::compile(expr, &opts).map_err(|e| Failure::Say(e.to_string()))
}

/// `-d`, `-dd`, `-ddd`.
fn print_program(prog: &[BpfInsn], dump: u8) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(print::dump(prog, dump).as_bytes())
        .and_then(|_| out.flush())
        .map_err(|_| Failure::Quiet)
}

/// Why tcpdump stopped.
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

/// Where packets go: printed, or written to a savefile with `-w`.
enum Sink {
    Print(Box<show::Printer>, std::io::BufWriter<std::io::StdoutLock<'static>>),
    Write(pcap::Writer<Box<dyn std::io::Write>>),
}

struct Output {
    sink: Sink,
    line_buffered: bool,
}

impl Output {
    fn new(m: &clap::ArgMatches, snaplen: u32, linktype: u32) -> Result<Output, Failure> {
        let sink = match m.get_one::<String>("write") {
            Some(w) => {
                let out: Box<dyn std::io::Write> = if w == "-" {
                    Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
                } else {
                    let f = std::fs::File::create(w).map_err(|e| Failure::Say(format!("{w}: {}", os_message(&e))))?;
                    Box::new(std::io::BufWriter::new(f))
                };
                let mut wr = pcap::Writer::new(out, snaplen, linktype).map_err(|e| Failure::Say(os_message(&e)))?;
                wr.flush_each = m.get_flag("packet_buffered");
                Sink::Write(wr)
            }
            None => Sink::Print(
                Box::new(show::Printer::new(show::Options::from_matches(m), linktype)),
                std::io::BufWriter::new(std::io::stdout().lock()),
            ),
        };
        Ok(Output {
            sink,
            line_buffered: m.get_flag("line_buffered"),
        })
    }

    fn packet(&mut self, ts_sec: u32, ts_usec: u32, data: &[u8], wirelen: u32) -> Result<(), Failure> {
        let r = match &mut self.sink {
            Sink::Print(p, out) => p.packet(out, ts_sec, ts_usec, data, wirelen).and_then(|_| {
                if self.line_buffered {
                    out.flush()
                } else {
                    Ok(())
                }
            }),
            Sink::Write(w) => w.packet(ts_sec, ts_usec, data, wirelen),
        };
        r.map_err(|_| Failure::Quiet)
    }

    fn finish(&mut self) -> Result<(), Failure> {
        match &mut self.sink {
            Sink::Print(_, out) => out.flush(),
            Sink::Write(w) => w.flush(),
        }
        .map_err(|_| Failure::Quiet)
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
    let linktype = match h.linktype {
        pcap::LINKTYPE_ETHERNET => compile::DLT_EN10MB,
        pcap::LINKTYPE_NULL => compile::DLT_NULL,
        lt if expr.trim().is_empty() => lt,
        lt => {
            return Err(Failure::Say(format!(
                "filters are compiled for Ethernet and BSD loopback only; link-type {} is neither",
                pcap::linktype_desc(lt)
            )))
        }
    };
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
    let prog = program(m, expr, h.snaplen, linktype, 0)?;
    if dump > 0 {
        return print_program(&prog, dump);
    }
    let filter = BpfProgram::new(prog).map_err(Failure::Say)?;
    let limit = m.get_one::<u64>("count").copied();
    let mut out = Output::new(m, h.snaplen, h.linktype)?;
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
        if let Err(e) = out.packet(rec.ts_sec, rec.ts_usec, &rec.data, rec.wirelen) {
            break Err(e);
        }
    };
    let flushed = out.finish();
    result?;
    flushed
}

/// Capturing on an interface of the stack named by `SOCK`: the filter goes into the stack,
/// the packets it keeps come back a buffer at a time, until `-c` or a signal; then the
/// counts tcpdump prints.
fn capture(m: &clap::ArgMatches, expr: &str, snap: u32, dump: u8) -> Result<(), Failure> {
    let prefix = prefix_from_env();
    let ifs = live::interfaces(&prefix).map_err(Failure::Say)?;
    let ifp = match m.get_one::<String>("interface") {
        Some(name) => ifs
            .iter()
            .find(|i| i.name == *name)
            .ok_or_else(|| Failure::Say(format!("{name}: No such device exists")))?,
        None => live::default_interface(&ifs).map_err(Failure::Say)?,
    };
    let ifname = ifp.name.clone();
    let dlt = if ifp.data.ifi_type == IFT_LOOP {
        compile::DLT_NULL
    } else {
        compile::DLT_EN10MB
    };
    // `ip broadcast` needs the interface's netmask, as pcap_lookupnet gives it.
    let netmask = ifp
        .addrs
        .iter()
        .find_map(|a| match a.netmask {
            std::net::IpAddr::V4(n) => Some(u32::from(n)),
            _ => None,
        })
        .unwrap_or(0);
    let prog = program(m, expr, snap, dlt, netmask)?;
    if dump > 0 {
        return print_program(&prog, dump);
    }
    let writing = m.get_one::<String>("write").is_some();
    let conf = live::LiveConf {
        ifname: ifname.clone(),
        buffer: m
            .get_one::<u32>("buffer_size")
            .map_or(live::DEFAULT_BUFFER, |k| k.saturating_mul(1024)),
        promisc: !m.get_flag("no_promisc"),
        direction: match m.get_one::<String>("direction").map(String::as_str) {
            Some("in") => BPF_D_IN,
            Some("out") => BPF_D_OUT,
            _ => BPF_D_INOUT,
        },
        immediate: !writing || m.get_flag("packet_buffered") || m.get_flag("line_buffered"),
        filter: prog,
    };
    let mut cap = live::Live::open(&prefix, &conf).map_err(Failure::Say)?;
    live::catch_signals();
    let (name, desc) = live::dlt_name(cap.dlt);
    let verbose = m.get_count("verbose");
    let listening = format!("listening on {ifname}, link-type {name} ({desc}), snapshot length {snap} bytes");
    if !writing && verbose == 0 {
        eprintln!("{PROG}: verbose output suppressed, use -v[v]... for full protocol decode");
        eprintln!("{listening}");
    } else {
        eprintln!("{PROG}: {listening}");
    }
    let mut out = Output::new(m, snap, cap.dlt)?;
    let limit = m.get_one::<u64>("count").copied();
    let mut seen = 0u64;
    let result = 'capture: loop {
        if live::stopped() {
            break Ok(());
        }
        let buf = match cap.read() {
            Ok(b) => b,
            Err(e) => break Err(Failure::Say(e)),
        };
        for (h, data) in records(&buf) {
            if limit.is_some_and(|l| seen >= l) {
                break 'capture Ok(());
            }
            seen += 1;
            if let Err(e) = out.packet(h.tv_sec as u32, h.tv_usec as u32, data, h.datalen) {
                break 'capture Err(e);
            }
        }
        if limit.is_some_and(|l| seen >= l) {
            break Ok(());
        }
    };
    let flushed = out.finish();
    let st = cap.stats().unwrap_or_default();
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    eprintln!("{seen} packet{} captured", plural(seen));
    eprintln!("{} packet{} received by filter", st.recv, plural(st.recv));
    eprintln!("{} packet{} dropped by kernel", st.drop, plural(st.drop));
    result?;
    flushed
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
        // -d without -i prints the program whatever else is asked (live capture needs a
        // stack: tests/tests/capture.rs).
        for args in [
            &["-d", "-c", "5"][..],
            &["-d", "-Q", "in"],
            &["-d", "-w", "x.pcap", "ip"],
        ] {
            assert_eq!(code(args), ExitCode::SUCCESS, "{args:?}");
        }
        for args in [&["-r", "x.pcap", "-p"][..], &["-r", "x.pcap", "-i", "en0"]] {
            assert_eq!(code(args), fail, "{args:?}");
        }
        // Reading a file that is not there fails as tcpdump does.
        assert_eq!(code(&["-d", "-r", "/nonexistent.pcap"]), fail);
        assert_eq!(code(&["-r", "/nonexistent.pcap"]), fail);
        assert_eq!(code(&["-d", "tcp", "and"]), fail);
        assert_eq!(code(&["-d", "-s", "300000", "ip"]), fail);
        assert_eq!(
            code(&["-Q", "sideways", "-d", "ip"]),
            ExitCode::from(crate::common::usage_code(PROG))
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
