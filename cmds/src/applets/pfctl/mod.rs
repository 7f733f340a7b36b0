//! pfctl: control the packet filter, NetBSD's pfctl(8) (OpenBSD 4.2's): enable and
//! disable PF, load pf.conf (`-f`, with `-n` to parse only and `-v` to echo the rules in
//! normalized form), show (`-s`), flush (`-F`), kill states (`-k`, `-K`), table commands
//! (`-t T -T cmd`), debug level (`-x`), with NetBSD's messages and exit codes.
//!
//! pfctl talks to the stack named by SOCK through `socket::Stack::pf`, the channel's
//! stand-in for /dev/pf's ioctls; a stack without PF (`io-pkt` without `-p pf`) answers
//! ENOENT, printed as `pfctl: /dev/pf: No such file or directory`.

use std::ffi::OsString;
use std::io::Read;
use std::net::IpAddr;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use pktbox_stack::msg::pf::*;
use pktbox_stack::socket::{Error, Stack};

use crate::common::parse as parse_args;

pub mod names;
pub mod parse;
pub mod print;
mod show;
#[cfg(test)]
mod tests;

const PROG: &str = "pfctl";

const SHOW_MODS: &[&str] = &[
    "nat",
    "queue",
    "rules",
    "Anchors",
    "Sources",
    "states",
    "info",
    "Interfaces",
    "labels",
    "timeouts",
    "memory",
    "Tables",
    "osfp",
    "all",
];
const FLUSH_MODS: &[&str] = &[
    "nat", "queue", "rules", "Sources", "states", "info", "Tables", "osfp", "all",
];
const TABLE_CMDS: &[&str] = &[
    "kill", "flush", "add", "delete", "load", "replace", "show", "test", "zero", "expire",
];
const DEBUG_LEVELS: &[&str] = &["none", "urgent", "misc", "loud"];

pub fn command() -> Command {
    let flag = |name: &'static str, short: char, help: &'static str| {
        Arg::new(name).short(short).action(ArgAction::SetTrue).help(help)
    };
    let val = |name: &'static str, short: char, vname: &'static str, help: &'static str| {
        Arg::new(name).short(short).value_name(vname).num_args(1).help(help)
    };
    Command::new(PROG)
        .about("Control the packet filter (PF) and network address translation (NAT)")
        .long_about(
            "pfctl drives the PF packet filter of the stack named by SOCK (io-pkt started with \
             -p pf): it enables and disables it, loads rule sets from pf.conf files atomically, \
             shows rules, states, counters, queues and tables, and manages tables and states.",
        )
        .override_usage(
            "pfctl [-AdeghmNnOqRrvz] [-a anchor] [-D macro=value] [-F modifier]\n\
             \t[-f file] [-i interface] [-K host | network] [-k host | network]\n\
             \t[-o level] [-p device] [-s modifier]\n\
             \t[-t table -T command [address ...]] [-x level]",
        )
        .after_help(
            "-s takes nat, queue, rules, Anchors, Sources, states, info, Interfaces, labels, \
             timeouts, memory, Tables, osfp or all (any unambiguous prefix, in that order); -F \
             takes nat, queue, rules, Sources, states, info, Tables, osfp or all; -T takes kill, \
             flush, add, delete, load, replace, show, test, zero or expire. --json prints any -s \
             view as JSON. Order of work: -d, -s, -F, -k, -K, -T, -f, -e, -x. OS fingerprints \
             (-s osfp, -F osfp), -m, -r, -g, and -o other than none are not supported. ALTQ \
             supports the priq discipline only.",
        )
        .disable_help_flag(true)
        .arg(Arg::new("help").long("help").action(ArgAction::Help).help("Print help"))
        .arg(flag("altq", 'A', "Load only the queue rules of the file"))
        .arg(flag("disable", 'd', "Disable the packet filter"))
        .arg(flag("enable", 'e', "Enable the packet filter"))
        .arg(flag("debugflag", 'g', "Not supported: pfctl debugging output"))
        .arg(flag("usage", 'h', "Print the usage"))
        .arg(flag("merge", 'm', "Not supported: merge options into the running set"))
        .arg(flag("nat", 'N', "Load only the NAT rules of the file"))
        .arg(flag("noaction", 'n', "Parse the file only; do not load it"))
        .arg(flag("options", 'O', "Load only the options of the file"))
        .arg(flag("quiet", 'q', "Print only errors and warnings"))
        .arg(flag("rules", 'R', "Load only the filter rules of the file"))
        .arg(flag("reverse", 'r', "Not supported: reverse DNS lookups"))
        .arg(
            Arg::new("verbose")
                .short('v')
                .action(ArgAction::Count)
                .help("More detail (-vv: even more)"),
        )
        .arg(flag("zero", 'z', "Clear the per-rule counters"))
        .arg(val("anchor", 'a', "anchor", "Apply -f, -F, -s and -T to this anchor"))
        .arg(
            Arg::new("define")
                .short('D')
                .value_name("macro=value")
                .action(ArgAction::Append)
                .help("Define a macro, overriding pf.conf"),
        )
        .arg(val("flush", 'F', "modifier", "Flush rules, nat, states, tables, ..."))
        .arg(val(
            "file",
            'f',
            "file",
            "Load the rules (or with -T, the addresses) of file; - is stdin",
        ))
        .arg(val(
            "interface",
            'i',
            "interface",
            "Restrict -s states, -F states and -k to an interface",
        ))
        .arg(
            Arg::new("killsrc")
                .short('K')
                .value_name("host | network")
                .action(ArgAction::Append)
                .help("Kill the source tracking nodes from host (a second -K: to host)"),
        )
        .arg(
            Arg::new("kill")
                .short('k')
                .value_name("host | network")
                .action(ArgAction::Append)
                .help("Kill the states from host (a second -k: to host)"),
        )
        .arg(val("optimize", 'o', "level", "Rule set optimization: only none"))
        .arg(val("device", 'p', "device", "The pf device: only /dev/pf"))
        .arg(val("show", 's', "modifier", "Show rules, nat, states, info, ..."))
        .arg(val("table", 't', "table", "The table of a -T command"))
        .arg(val(
            "tcmd",
            'T',
            "command",
            "Table command: add, delete, show, test, ...",
        ))
        .arg(val("debug", 'x', "level", "Debug level: none, urgent, misc, loud"))
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print -s views as JSON"),
        )
        .arg(
            Arg::new("args")
                .value_name("address")
                .num_args(0..)
                .help("Addresses of a -T command"),
        )
}

fn err(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{PROG}: {msg}");
    ExitCode::from(1)
}

/// pfctl's usage, to stderr, exit 1.
fn usage() -> ExitCode {
    eprintln!("{}", crate::common::usage_text(&command()));
    ExitCode::from(1)
}

/// A modifier by case-sensitive prefix, first match in list order (pfctl's pfctl_lookup_option).
fn lookup<'a>(v: &str, list: &[&'a str]) -> Option<&'a str> {
    if v.is_empty() {
        return None;
    }
    list.iter().copied().find(|m| m.starts_with(v))
}

/// What the command line asked for.
pub struct Opts {
    pub verbose: u8,
    pub quiet: bool,
    pub noaction: bool,
    pub json: bool,
    pub anchor: String,
    pub ifname: Option<String>,
    pub zero: bool,
}

impl Opts {
    /// An informational message on stderr, unless -q.
    fn note(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    if args.len() < 2 {
        return usage();
    }
    let m = match parse_args(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    if m.get_flag("usage") {
        return usage();
    }
    for (id, what) in [
        ("debugflag", "-g: pfctl debugging output is not supported"),
        ("merge", "-m: merging options into the running set is not supported"),
        ("reverse", "-r: reverse DNS lookups are not supported"),
    ] {
        if m.get_flag(id) {
            return err(what);
        }
    }
    if let Some(o) = m.get_one::<String>("optimize") {
        if !"none".starts_with(o.as_str()) || o.is_empty() {
            return err(format!("-o {o}: rule set optimization is not supported (only -o none)"));
        }
    }
    if let Some(d) = m.get_one::<String>("device") {
        if d != "/dev/pf" {
            return err(format!("{d}: No such file or directory"));
        }
    }
    let opts = Opts {
        verbose: m.get_count("verbose"),
        quiet: m.get_flag("quiet"),
        noaction: m.get_flag("noaction"),
        json: m.get_flag("json"),
        anchor: m.get_one::<String>("anchor").cloned().unwrap_or_default(),
        ifname: m.get_one::<String>("interface").cloned(),
        zero: m.get_flag("zero"),
    };
    if opts.anchor.contains("..") || opts.anchor.starts_with('/') {
        return err(format!("anchor name '{}' is not valid", opts.anchor));
    }
    let show = match m.get_one::<String>("show") {
        Some(s) => match lookup(s, SHOW_MODS) {
            Some(x) => Some(x),
            None => {
                eprintln!("{PROG}: Unknown show modifier '{s}'");
                return usage();
            }
        },
        None => None,
    };
    let flush = match m.get_one::<String>("flush") {
        Some(s) => match lookup(s, FLUSH_MODS) {
            Some(x) => Some(x),
            None => {
                eprintln!("{PROG}: Unknown flush modifier '{s}'");
                return usage();
            }
        },
        None => None,
    };
    let tcmd = match m.get_one::<String>("tcmd") {
        Some(s) => match lookup(s, TABLE_CMDS) {
            Some(x) => Some(x),
            None => {
                eprintln!("{PROG}: Unknown table command '{s}'");
                return usage();
            }
        },
        None => None,
    };
    let debug = match m.get_one::<String>("debug") {
        Some(s) => match lookup(s, DEBUG_LEVELS).and_then(Debug::from_name) {
            Some(d) => Some(d),
            None => {
                eprintln!("{PROG}: Unknown debug level '{s}'");
                return usage();
            }
        },
        None => None,
    };
    let operands: Vec<String> = m
        .get_many::<String>("args")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let table = m.get_one::<String>("table").cloned();
    if tcmd.is_none() && !operands.is_empty() {
        eprintln!("{PROG}: unknown command line argument: {} ...", operands[0]);
        return usage();
    }
    if tcmd.is_some() && table.is_none() {
        eprintln!("{PROG}: table command requires a table name (-t)");
        return usage();
    }
    let mut defines = Vec::new();
    for d in m.get_many::<String>("define").into_iter().flatten() {
        match d.split_once('=') {
            Some((k, v)) if !k.is_empty() => defines.push((k.to_string(), v.to_string())),
            _ => return err(format!("could not parse macro definition {d}")),
        }
    }
    let kill: Vec<String> = m
        .get_many::<String>("kill")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let killsrc: Vec<String> = m
        .get_many::<String>("killsrc")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    if kill.len() > 2 || killsrc.len() > 2 {
        eprintln!("{PROG}: can only specify -k or -K twice");
        return usage();
    }
    let file = m.get_one::<String>("file").cloned();
    let mut parts = LoadParts {
        options: m.get_flag("options"),
        filter: m.get_flag("rules"),
        nat: m.get_flag("nat"),
        queue: m.get_flag("altq"),
        tables: false,
    };
    if !(parts.options || parts.filter || parts.nat || parts.queue) {
        parts = LoadParts::ALL;
    } else {
        parts.tables = parts.filter || parts.nat;
    }
    let mut enable = m.get_flag("enable");
    let mut disable = m.get_flag("disable");
    let (mut show, mut flush, mut debug) = (show, flush, debug);
    // -n opens /dev/pf read-only and turns the changing options off.
    let mut stack = if opts.noaction {
        enable = false;
        disable = false;
        show = None;
        flush = None;
        debug = None;
        Stack::open().ok().and_then(|mut s| s.pf(PfReq::Open).ok().map(|_| s))
    } else {
        let mut s = match Stack::open() {
            Ok(s) => s,
            Err(e) => return err(e),
        };
        if let Err(e) = s.pf(PfReq::Open) {
            return match e.errno() {
                Some(libc::ENOENT) | Some(libc::EINVAL) => err("/dev/pf: No such file or directory"),
                _ => err(format!("/dev/pf: {e}")),
            };
        }
        Some(s)
    };
    let mut status = 0u8;

    if disable {
        if let Some(s) = &mut stack {
            match s.pf(PfReq::Disable) {
                Ok(_) => opts.note("pf disabled"),
                Err(e) if e.errno() == Some(libc::ENOENT) => {
                    eprintln!("{PROG}: pf not enabled");
                    status = 1;
                }
                Err(e) => return err(format!("DIOCSTOP: {e}")),
            }
        }
    }
    if let (Some(mode), Some(s)) = (show, stack.as_mut()) {
        if let Err(c) = show::show(s, mode, &opts) {
            return c;
        }
    }
    if opts.zero && show.is_none() {
        if let Some(s) = &mut stack {
            if !opts.noaction {
                if let Err(e) = s.pf(PfReq::ClearRuleCounters {
                    anchor: opts.anchor.clone(),
                }) {
                    return err(format!("DIOCCLRRULECTRS: {e}"));
                }
                opts.note("pf: rule counters cleared");
            }
        }
    }
    if let (Some(mode), Some(s)) = (flush, stack.as_mut()) {
        if let Err(c) = do_flush(s, mode, &opts) {
            return c;
        }
    }
    if !kill.is_empty() && !opts.noaction {
        if let Some(s) = &mut stack {
            if let Err(c) = do_kill(s, &kill, &opts, false) {
                return c;
            }
        }
    }
    if !killsrc.is_empty() && !opts.noaction {
        if let Some(s) = &mut stack {
            if let Err(c) = do_kill(s, &killsrc, &opts, true) {
                return c;
            }
        }
    }
    if let (Some(cmd), Some(t)) = (tcmd, &table) {
        match table_cmd(stack.as_mut(), cmd, t, &operands, file.as_deref(), &opts, &defines) {
            Ok(code) => {
                if code != 0 {
                    status = code;
                }
            }
            Err(c) => return c,
        }
    } else if let Some(f) = &file {
        if let Err(c) = load(stack.as_mut(), f, &opts, parts, &defines) {
            return c;
        }
    }
    if enable {
        if let Some(s) = &mut stack {
            match s.pf(PfReq::Enable) {
                Ok(_) => opts.note("pf enabled"),
                Err(e) if e.errno() == Some(libc::EEXIST) => {
                    eprintln!("{PROG}: pf already enabled");
                    status = 1;
                }
                Err(e) => return err(format!("DIOCSTART: {e}")),
            }
        }
    }
    if let (Some(d), Some(s)) = (debug, stack.as_mut()) {
        if let Err(e) = s.pf(PfReq::SetDebug(d)) {
            return err(format!("DIOCSETDEBUG: {e}"));
        }
        opts.note(format!("debug level set to '{}'", d.name()));
    }
    ExitCode::from(status)
}

/// Reads a file, or stdin for `-`.
fn read_input(path: &str) -> Result<String, String> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| e.to_string())?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    })
}

/// The interfaces' addresses through the stack, for `if`, `if:network`, `self` and antispoof.
fn interface_env(stack: Option<&mut Stack>) -> (Option<Vec<parse::IfAddress>>, Vec<String>) {
    let Some(s) = stack else {
        return (None, Vec::new());
    };
    let Ok(list) = s.if_list(None) else {
        return (None, Vec::new());
    };
    let mut addrs = Vec::new();
    let mut names = Vec::new();
    for i in list {
        names.push(i.name.clone());
        let loopback = i.flags & libc::IFF_LOOPBACK as u32 != 0;
        let p2p = i.flags & libc::IFF_POINTOPOINT as u32 != 0;
        for a in &i.addrs {
            let prefix = match a.netmask {
                IpAddr::V4(m) => u32::from(m).leading_ones() as u8,
                IpAddr::V6(m) => u128::from(m).leading_ones() as u8,
            };
            addrs.push(parse::IfAddress {
                ifname: i.name.clone(),
                addr: a.addr,
                prefix,
                broadcast: if p2p { None } else { a.brd },
                peer: if p2p { a.brd } else { None },
                loopback,
            });
        }
    }
    (Some(addrs), names)
}

fn random_key() -> [u8; 16] {
    let mut k = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut k);
    }
    k
}

fn resolve(name: &str) -> Vec<IpAddr> {
    use std::net::ToSocketAddrs;
    let mut out: Vec<IpAddr> = Vec::new();
    if let Ok(addrs) = (name, 0).to_socket_addrs() {
        for a in addrs {
            if !out.contains(&a.ip()) {
                out.push(a.ip());
            }
        }
    }
    out
}

/// `-f file`: parse, echo with -v, load unless -n.
fn load(
    mut stack: Option<&mut Stack>,
    path: &str,
    opts: &Opts,
    parts: LoadParts,
    defines: &[(String, String)],
) -> Result<(), ExitCode> {
    let text = match read_input(path) {
        Ok(t) => t,
        Err(e) => return Err(err(format!("{path}: {e}"))),
    };
    let (ifaddrs, ifnames) = interface_env(stack.as_deref_mut());
    let env = parse::Env {
        filename: if path == "-" { "stdin".into() } else { path.to_string() },
        defines: defines.to_vec(),
        ifaddrs,
        ifnames,
        read_file: &read_input,
        resolve: Some(&resolve),
        random_key: &random_key,
    };
    let parsed = match parse::parse(&text, &env) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            if !opts.noaction {
                eprintln!("{PROG}: Syntax error in config file: pf rules not loaded");
            }
            return Err(ExitCode::from(1));
        }
    };
    if opts.verbose > 0 {
        echo(&parsed, parts, opts.verbose > 1);
    }
    if opts.noaction {
        return Ok(());
    }
    let Some(s) = stack else {
        return Ok(());
    };
    let req = LoadReq {
        anchor: opts.anchor.clone(),
        parts,
        ruleset: parsed.ruleset,
        nested: parsed
            .anchors
            .into_iter()
            .map(|(n, r)| {
                let full = if opts.anchor.is_empty() {
                    n
                } else {
                    format!("{}/{n}", opts.anchor)
                };
                (full, r)
            })
            .collect(),
    };
    match send_load(s, req) {
        Ok(()) => Ok(()),
        Err((what, e)) => {
            eprintln!("{PROG}: {what}: {e}");
            Err(ExitCode::from(1))
        }
    }
}

/// The most a request of a chunked load carries (well under the channel's datagram
/// limit and a socket buffer's default size).
const PIECE_BYTES: usize = 64 * 1024;
/// Rules and table addresses per piece of a chunked load.
const PIECE_RULES: usize = 200;
const PIECE_ADDRS: usize = 4096;

fn encoded_len(req: &PfReq) -> usize {
    pktbox_stack::msg::encode(&pktbox_stack::msg::Msg::Pf(req.clone()), 0, 0, 0, 0).len()
}

/// Splits a ruleset into pieces that each fit in one request; `Ruleset::append` of the
/// pieces in order gives it back.
fn pieces(rs: Ruleset) -> Vec<Ruleset> {
    let mut out = vec![Ruleset {
        options: rs.options,
        altq: rs.altq,
        queues: rs.queues,
        ..Ruleset::default()
    }];
    for t in rs.tables {
        let mut chunks = t.addrs.chunks(PIECE_ADDRS).peekable();
        if chunks.peek().is_none() {
            out.push(Ruleset {
                tables: vec![t.clone()],
                ..Ruleset::default()
            });
        }
        for c in chunks {
            out.push(Ruleset {
                tables: vec![TableDef {
                    name: t.name.clone(),
                    flags: t.flags,
                    addrs: c.to_vec(),
                }],
                ..Ruleset::default()
            });
        }
    }
    for c in rs.scrub.chunks(PIECE_RULES) {
        out.push(Ruleset {
            scrub: c.to_vec(),
            ..Ruleset::default()
        });
    }
    for c in rs.nat.chunks(PIECE_RULES) {
        out.push(Ruleset {
            nat: c.to_vec(),
            ..Ruleset::default()
        });
    }
    for c in rs.filter.chunks(PIECE_RULES) {
        out.push(Ruleset {
            filter: c.to_vec(),
            ..Ruleset::default()
        });
    }
    out
}

/// Loads a ruleset: one `Load` when it fits, else a transaction in pieces
/// (LoadBegin, LoadAdd..., LoadCommit), which the stack loads as one.
fn send_load(s: &mut Stack, req: LoadReq) -> Result<(), (&'static str, Error)> {
    let whole = PfReq::Load(req);
    if encoded_len(&whole) <= PIECE_BYTES {
        return s.pf(whole).map(|_| ()).map_err(|e| ("DIOCXCOMMIT", e));
    }
    let PfReq::Load(req) = whole else {
        return Ok(());
    };
    let ticket = match s.pf(PfReq::LoadBegin {
        anchor: req.anchor.clone(),
        parts: req.parts,
    }) {
        Ok(PfReply::Ticket(t)) => t,
        Ok(other) => return Err(("DIOCXBEGIN", Error::Protocol(format!("unexpected answer: {other:?}")))),
        Err(e) => return Err(("DIOCXBEGIN", e)),
    };
    let mut adds: Vec<(Ruleset, Vec<(String, Ruleset)>)> =
        pieces(req.ruleset).into_iter().map(|p| (p, Vec::new())).collect();
    for (path, rs) in req.nested {
        for p in pieces(rs) {
            adds.push((Ruleset::default(), vec![(path.clone(), p)]));
        }
    }
    for (ruleset, nested) in adds {
        let add = PfReq::LoadAdd {
            ticket,
            ruleset,
            nested,
        };
        if encoded_len(&add) > pktbox_stack::msg::MAX_MSG / 2 {
            return Err((
                "DIOCADDRULE",
                Error::Protocol("a rule too large for the channel".into()),
            ));
        }
        s.pf(add).map_err(|e| ("DIOCADDRULE", e))?;
    }
    s.pf(PfReq::LoadCommit { ticket })
        .map(|_| ())
        .map_err(|e| ("DIOCXCOMMIT", e))
}

/// `-v` with `-f`: the rules as they are loaded, in pfctl's normalized text.
fn echo(p: &parse::Parsed, parts: LoadParts, vv: bool) {
    let rs = &p.ruleset;
    if parts.options {
        let o = &rs.options;
        for (t, v) in &o.timeouts {
            println!("set timeout {} {}", t.name(), v);
        }
        for (l, v) in &o.limits {
            println!("set limit {} {}", l.name(), v);
        }
        if let Some(li) = &o.loginterface {
            println!("set loginterface {}", li.as_deref().unwrap_or("none"));
        }
        if let Some(d) = o.debug {
            println!("set debug {}", d.name());
        }
        if let Some(h) = o.hostid {
            println!("set hostid 0x{h:08x}");
        }
        if let Some(sk) = &o.skip {
            for i in sk {
                println!("set skip on {i}");
            }
        }
    }
    if parts.tables {
        for t in &rs.tables {
            println!("{}", print::table_def_text(t));
        }
    }
    if parts.filter {
        for (i, r) in rs.scrub.iter().enumerate() {
            let mut r = r.clone();
            r.nr = i as u32;
            println!("{}", print::scrub_text(&r, vv));
        }
    }
    if parts.queue {
        for a in &rs.altq {
            println!("{}", print::altq_text(a));
        }
        for q in &rs.queues {
            println!("{}", print::queue_text(q));
        }
    }
    if parts.nat {
        for kind in [NatKind::Nat, NatKind::Rdr, NatKind::Binat] {
            for (i, r) in rs.nat.iter().filter(|r| r.kind == kind).enumerate() {
                let mut r = r.clone();
                r.nr = i as u32;
                println!("{}", print::nat_text(&r, vv));
            }
        }
    }
    if parts.filter {
        for (i, r) in rs.filter.iter().enumerate() {
            let mut r = r.clone();
            r.nr = i as u32;
            println!("{}", print::rule_text(&r, vv));
        }
    }
    for (name, _) in &p.anchors {
        println!("Loading anchor {name}");
    }
}

fn do_flush(s: &mut Stack, mode: &str, opts: &Opts) -> Result<(), ExitCode> {
    let kinds: Vec<FlushKind> = match mode {
        "nat" => vec![FlushKind::Nat],
        "queue" => vec![FlushKind::Queue],
        "rules" => vec![FlushKind::Rules],
        "Sources" => vec![FlushKind::Sources],
        "states" => vec![FlushKind::States],
        "info" => vec![FlushKind::Info],
        "Tables" => vec![FlushKind::Tables],
        "osfp" => return Err(err("OS fingerprints are not supported")),
        _ => vec![
            FlushKind::Rules,
            FlushKind::Nat,
            FlushKind::Tables,
            FlushKind::Queue,
            FlushKind::States,
            FlushKind::Sources,
            FlushKind::Info,
        ],
    };
    for k in kinds {
        let r = s.pf(PfReq::Flush(FlushReq {
            kind: k,
            anchor: opts.anchor.clone(),
            ifname: opts.ifname.clone(),
        }));
        let n = match r {
            Ok(PfReply::Count(n)) => n,
            Ok(_) => 0,
            Err(e) => return Err(ioctl_error("DIOCXCOMMIT", &e)),
        };
        match k {
            FlushKind::Rules => opts.note("rules cleared"),
            FlushKind::Nat => opts.note("nat cleared"),
            FlushKind::Queue => opts.note("altq cleared"),
            FlushKind::States => opts.note(format!("{n} states cleared")),
            FlushKind::Sources => opts.note("source tracking entries cleared"),
            FlushKind::Info => opts.note("pf: statistics cleared"),
            FlushKind::Tables => opts.note(format!("{n} tables deleted.")),
        }
    }
    Ok(())
}

/// An error of a pf request in pfctl's words.
fn ioctl_error(what: &str, e: &Error) -> ExitCode {
    match e.errno() {
        Some(libc::ESRCH) => err("Table does not exist."),
        Some(libc::ENOENT) => err("Anchor or Ruleset does not exist."),
        _ => err(format!("{what}: {e}")),
    }
}

/// A host or network of -k/-K: the addresses it names.
fn kill_targets(spec: &str) -> Result<Vec<Net>, ExitCode> {
    if spec == "0.0.0.0/0" || spec == "::/0" {
        let a: IpAddr = spec
            .trim_end_matches("/0")
            .parse()
            .map_err(|_| err(format!("invalid address: {spec}")))?;
        return Ok(vec![Net { addr: a, prefix: 0 }]);
    }
    let (h, mask) = match spec.split_once('/') {
        Some((h, m)) => match m.parse::<u8>() {
            Ok(m) => (h, Some(m)),
            Err(_) => return Err(err(format!("invalid netmask '{m}'"))),
        },
        None => (spec, None),
    };
    let addrs: Vec<IpAddr> = match h.parse::<IpAddr>() {
        Ok(a) => vec![a],
        Err(_) => resolve(h),
    };
    if addrs.is_empty() {
        return Err(err(format!("could not resolve host {spec}")));
    }
    let mut out = Vec::new();
    for a in addrs {
        let full = if a.is_ipv4() { 32 } else { 128 };
        let p = mask.unwrap_or(full);
        if p > full {
            return Err(err(format!("invalid netmask '{p}'")));
        }
        out.push(Net {
            addr: parse::mask_addr(a, p),
            prefix: p,
        });
    }
    Ok(out)
}

fn do_kill(s: &mut Stack, specs: &[String], opts: &Opts, src_nodes: bool) -> Result<(), ExitCode> {
    let srcs = kill_targets(&specs[0])?;
    let dsts = match specs.get(1) {
        Some(d) => Some(kill_targets(d)?),
        None => None,
    };
    let mut killed = 0u64;
    let mut dests = 0usize;
    for src in &srcs {
        let list: Vec<Option<Net>> = match &dsts {
            Some(d) => d.iter().filter(|d| d.af() == src.af()).copied().map(Some).collect(),
            None => vec![None],
        };
        for dst in list {
            if dst.is_some() {
                dests += 1;
            }
            let req = KillReq {
                src: *src,
                dst,
                ifname: opts.ifname.clone(),
            };
            let r = if src_nodes {
                s.pf(PfReq::KillSources(req))
            } else {
                s.pf(PfReq::KillStates(req))
            };
            match r {
                Ok(PfReply::Count(n)) => killed += n,
                Ok(_) => {}
                Err(e) => {
                    return Err(err(format!(
                        "{}: {e}",
                        if src_nodes {
                            "DIOCKILLSRCNODES"
                        } else {
                            "DIOCKILLSTATES"
                        }
                    )))
                }
            }
        }
    }
    let what = if src_nodes { "src nodes" } else { "states" };
    opts.note(format!(
        "killed {killed} {what} from {} sources and {dests} destinations",
        srcs.len()
    ));
    Ok(())
}

/// Table addresses from words (command line or a file of addresses).
fn table_addrs(words: &[String], opts: &Opts) -> Result<Vec<TableAddr>, ExitCode> {
    let _ = opts;
    let mut out = Vec::new();
    for w in words {
        let (neg, w) = match w.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, w.as_str()),
        };
        let (h, mask) = match w.split_once('/') {
            Some((h, m)) => match m.parse::<u8>() {
                Ok(m) => (h, Some(m)),
                Err(_) => return Err(err(format!("{w}: invalid netmask"))),
            },
            None => (w, None),
        };
        let addrs: Vec<IpAddr> = match h.parse::<IpAddr>() {
            Ok(a) => vec![a],
            Err(_) => resolve(h),
        };
        if addrs.is_empty() {
            return Err(err(format!("{w}: no IP address found")));
        }
        for a in addrs {
            let full = if a.is_ipv4() { 32 } else { 128 };
            let p = mask.unwrap_or(full);
            if p > full {
                return Err(err(format!("{w}: invalid netmask")));
            }
            out.push(TableAddr {
                net: Net {
                    addr: parse::mask_addr(a, p),
                    prefix: p,
                },
                neg,
            });
        }
    }
    Ok(out)
}

/// A table command in requests that each fit the channel: add, delete and test go in
/// pieces; a long replace is a replace with the first piece, then adds (so, unlike a
/// replace of one piece, not atomic).
fn table_chunks(op: TableOp) -> Vec<TableOp> {
    match op {
        TableOp::Add(v) if v.len() > PIECE_ADDRS => v.chunks(PIECE_ADDRS).map(|c| TableOp::Add(c.to_vec())).collect(),
        TableOp::Delete(v) if v.len() > PIECE_ADDRS => {
            v.chunks(PIECE_ADDRS).map(|c| TableOp::Delete(c.to_vec())).collect()
        }
        TableOp::Test(v) if v.len() > PIECE_ADDRS => v.chunks(PIECE_ADDRS).map(|c| TableOp::Test(c.to_vec())).collect(),
        TableOp::Replace(v) if v.len() > PIECE_ADDRS => {
            let mut out = vec![TableOp::Replace(v[..PIECE_ADDRS].to_vec())];
            out.extend(v[PIECE_ADDRS..].chunks(PIECE_ADDRS).map(|c| TableOp::Add(c.to_vec())));
            out
        }
        op => vec![op],
    }
}

fn feedback_char(f: Feedback) -> char {
    match f {
        Feedback::None => ' ',
        Feedback::Match => 'M',
        Feedback::Added => 'A',
        Feedback::Deleted => 'D',
        Feedback::Changed => 'C',
        Feedback::Cleared => 'Z',
        Feedback::Duplicate => 'X',
        Feedback::NotMatch => 'N',
        Feedback::Conflict => '!',
    }
}

fn table_addr_text(a: &TableAddr) -> String {
    let n = if a.net.is_host() {
        a.net.addr.to_string()
    } else {
        format!("{}/{}", a.net.addr, a.net.prefix)
    };
    format!("{}{}", if a.neg { '!' } else { ' ' }, n)
}

/// `-t T -T cmd [address ...]`. Ok(exit status) (test: 2 when not all match).
fn table_cmd(
    stack: Option<&mut Stack>,
    cmd: &str,
    name: &str,
    operands: &[String],
    file: Option<&str>,
    opts: &Opts,
    defines: &[(String, String)],
) -> Result<u8, ExitCode> {
    if name.is_empty() || name.len() >= 32 {
        return Err(err(format!("invalid table name: {name}")));
    }
    let suffix = if opts.noaction { " (syntax only)." } else { "." };
    let note = |msg: String| opts.note(format!("{msg}{suffix}"));
    // Addresses from the command line and, for commands that take them, from -f.
    let mut words: Vec<String> = operands.to_vec();
    if let Some(f) = file {
        if cmd == "load" {
            // -T load: load only the table definitions of a pf.conf.
            return load(
                stack,
                f,
                opts,
                LoadParts {
                    options: false,
                    filter: false,
                    nat: false,
                    queue: false,
                    tables: true,
                },
                defines,
            )
            .map(|_| 0);
        }
        let text = read_input(f).map_err(|e| err(format!("{f}: {e}")))?;
        for l in text.lines() {
            let l = l.split('#').next().unwrap_or("");
            words.extend(l.split_whitespace().map(str::to_string));
        }
    }
    let op = match cmd {
        "kill" => TableOp::Kill,
        "flush" => TableOp::Flush,
        "add" => TableOp::Add(table_addrs(&words, opts)?),
        "delete" => TableOp::Delete(table_addrs(&words, opts)?),
        "replace" => TableOp::Replace(table_addrs(&words, opts)?),
        "show" => TableOp::Show {
            stats: opts.verbose > 0,
        },
        "test" => {
            let addrs = table_addrs(&words, opts)?;
            let mut v = Vec::new();
            for a in addrs {
                if !a.net.is_host() || a.neg {
                    return Err(err("-T test takes host addresses only"));
                }
                v.push(a.net.addr);
            }
            TableOp::Test(v)
        }
        "zero" => TableOp::Zero,
        "expire" => {
            let secs = words
                .first()
                .and_then(|w| w.parse::<u32>().ok())
                .ok_or_else(|| err("expiry time: invalid argument"))?;
            TableOp::Expire(secs)
        }
        _ => TableOp::Show { stats: false },
    };
    let given = match &op {
        TableOp::Add(v) | TableOp::Delete(v) | TableOp::Replace(v) => v.len(),
        TableOp::Test(v) => v.len(),
        _ => 0,
    };
    if opts.noaction && !matches!(op, TableOp::Show { .. }) {
        // -n: syntax only.
        match cmd {
            "add" => note(format!("0/{given} addresses added")),
            "delete" => note(format!("0/{given} addresses deleted")),
            _ => {}
        }
        return Ok(0);
    }
    let Some(s) = stack else {
        return Ok(0);
    };
    let mut r = TableResult::default();
    for op in table_chunks(op) {
        let part = match s.pf(PfReq::Table(TableReq {
            anchor: opts.anchor.clone(),
            name: name.to_string(),
            op,
        })) {
            Ok(PfReply::Table(r)) => r,
            Ok(_) => TableResult::default(),
            Err(e) => return Err(ioctl_error("DIOCRADDADDRS", &e)),
        };
        r.tables_created += part.tables_created;
        r.tables_deleted += part.tables_deleted;
        r.added += part.added;
        r.deleted += part.deleted;
        r.changed += part.changed;
        r.matched += part.matched;
        r.cleared += part.cleared;
        r.feedback.extend(part.feedback);
        r.entries.extend(part.entries);
    }
    if opts.verbose > 0 {
        for (a, f) in &r.feedback {
            if opts.verbose > 1 || *f != Feedback::None {
                println!("{} {}", feedback_char(*f), table_addr_text(a));
            }
        }
    }
    let mut status = 0;
    match cmd {
        "kill" => note(format!("{} table deleted", r.tables_deleted)),
        "flush" => note(format!("{} addresses deleted", r.deleted)),
        "add" => {
            if r.tables_created > 0 {
                note(format!("{} table created", r.tables_created));
            }
            note(format!("{}/{given} addresses added", r.added));
        }
        "delete" => note(format!("{}/{given} addresses deleted", r.deleted)),
        "replace" => {
            if r.tables_created > 0 {
                note(format!("{} table created", r.tables_created));
            }
            let mut any = false;
            if r.added > 0 {
                note(format!("{} addresses added", r.added));
                any = true;
            }
            if r.deleted > 0 {
                note(format!("{} addresses deleted", r.deleted));
                any = true;
            }
            if r.changed > 0 {
                note(format!("{} addresses changed", r.changed));
                any = true;
            }
            if !any {
                opts.note("no changes.");
            }
        }
        "test" => {
            note(format!("{}/{given} addresses match", r.matched));
            if (r.matched as usize) < given {
                status = 2;
            }
        }
        "zero" => note(format!("{} table/stats cleared", r.cleared.max(1))),
        "expire" => note(format!(
            "{}/{} addresses expired",
            r.deleted,
            r.entries.len().max(r.deleted as usize)
        )),
        "show" => {
            if opts.json {
                println!("{}", serde_json::to_string_pretty(&r.entries).unwrap_or_default());
            } else {
                for e in &r.entries {
                    println!("  {}", table_addr_text(&e.addr));
                    if let Some(st) = &e.stats {
                        show::print_table_stats(st, "\t");
                    }
                }
            }
        }
        _ => {}
    }
    Ok(status)
}
