//! arp: show and change the ARP cache, NetBSD's arp(8): `arp HOST`, `arp -a`, `-d`,
//! `-s HOST ETHER [temp] [pub [proxy]]`, `-f FILE`, with NetBSD's output lines and exit codes.

use std::ffi::OsString;
use std::io::BufRead;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use pktbox_stack::msg::{ArpDelReq, ArpEntry, ArpSetReq};
use pktbox_stack::socket::{Error, Stack};
use serde_json::json;

use crate::common::{open_stack, parse, usage, EXIT_FAILURE};
use crate::rtutil::{host_by_name, Names};

const PROG: &str = "arp";

pub fn command() -> Command {
    Command::new(PROG)
        .about("Address resolution display and control")
        .long_about(
            "arp shows and changes the ARP cache of the stack named by SOCK (the Internet to \
             Ethernet address translation tables). With one hostname it shows that host's \
             entry; -a shows them all.",
        )
        .override_usage(
            "arp [-n] hostname\n       arp [-nv] -a\n       arp [-v] -d [-a|hostname [proxy]]\n       \
             arp -s hostname ether_addr [temp] [pub [proxy]]\n       arp -f filename",
        )
        .after_help(
            "Entries print as NetBSD prints them: `host (address) at ether_addr on interface`, \
             then `permanent` for static entries, `published` for entries this stack answers \
             for, `published (proxy only)` for proxy-only entries. ether_addr may be `auto`: \
             the interface's own address. In a -f file each line is the arguments of -s; \
             `#` starts a comment.",
        )
        .arg(
            Arg::new("all")
                .short('a')
                .action(ArgAction::SetTrue)
                .help("Show (or with -d, delete) every entry"),
        )
        .arg(
            Arg::new("numeric")
                .short('n')
                .action(ArgAction::SetTrue)
                .help("Show addresses, not host names"),
        )
        .arg(
            Arg::new("delete")
                .short('d')
                .action(ArgAction::SetTrue)
                .help("Delete the entry of hostname (with -a, every entry)"),
        )
        .arg(
            Arg::new("set")
                .short('s')
                .action(ArgAction::SetTrue)
                .help("Add an entry: hostname ether_addr [temp] [pub [proxy]]"),
        )
        .arg(
            Arg::new("file")
                .short('f')
                .action(ArgAction::SetTrue)
                .help("Add the entries of a file, one -s line each ('-': standard input)"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .action(ArgAction::SetTrue)
                .help("Say what was added or deleted"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("With -a or a hostname, print the entries as JSON"),
        )
        .arg(
            Arg::new("args")
                .value_name("hostname")
                .num_args(0..)
                .help("Operands of the operation"),
        )
}

/// The operation, as NetBSD's getopt loop picks it: -d, -s and -f exclude each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    All,
    Delete,
    Set,
    File,
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let m = match parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let words: Vec<String> = m
        .get_many::<String>("args")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let all = m.get_flag("all");
    let ops: Vec<Op> = [("delete", Op::Delete), ("set", Op::Set), ("file", Op::File)]
        .into_iter()
        .filter(|(id, _)| m.get_flag(id))
        .map(|(_, op)| op)
        .collect();
    if ops.len() > 1 {
        return usage(&command());
    }
    let op = ops.first().copied().unwrap_or(if all { Op::All } else { Op::Get });
    let verbose = m.get_flag("verbose");
    let mut names = Names::new(m.get_flag("numeric"));
    let json = m.get_flag("json");
    // The operand counts NetBSD's main() accepts.
    let ok = match op {
        Op::All => true,
        Op::Get => words.len() == 1,
        Op::Delete => (all && words.is_empty()) || (!all && (1..=2).contains(&words.len())),
        Op::Set => (2..=5).contains(&words.len()),
        Op::File => words.len() == 1,
    };
    if !ok {
        return usage(&command());
    }
    let mut s = match open_stack(PROG) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match op {
        Op::All => match s.arp_dump() {
            Ok(l) => {
                print_entries(&l, &mut names, json);
                ExitCode::SUCCESS
            }
            Err(e) => fail_socket(&e),
        },
        Op::Get => get(&mut s, &words[0], &mut names, json),
        Op::Delete if all => delete_all(&mut s, verbose),
        Op::Delete => delete(&mut s, &words[0], words.get(1).map(String::as_str), verbose),
        Op::Set => match set(&mut s, &words, verbose) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("{PROG}: {msg}");
                ExitCode::from(EXIT_FAILURE)
            }
        },
        Op::File => file(&mut s, &words[0], verbose),
    }
}

fn fail_socket(e: &Error) -> ExitCode {
    eprintln!("{PROG}: {}", socket_text(e));
    ExitCode::from(EXIT_FAILURE)
}

/// An error of a routing-socket write, in NetBSD's words.
fn socket_text(e: &Error) -> String {
    match e {
        Error::Errno { errno, .. } => format!("writing to routing socket: {}", strerror(*errno)),
        other => other.to_string(),
    }
}

fn strerror(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno)
        .to_string()
        .split(" (os error")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// getinetaddr(): a dotted quad, or a name from /etc/hosts or the resolver.
fn inet_addr(host: &str) -> Result<Ipv4Addr, String> {
    if let Ok(a) = host.parse() {
        return Ok(a);
    }
    if let Some(a) = host_by_name(host) {
        return Ok(a);
    }
    (host, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| {
            it.find_map(|a| match a {
                SocketAddr::V4(a) => Some(*a.ip()),
                SocketAddr::V6(_) => None,
            })
        })
        .ok_or_else(|| format!("{host}: Unknown host"))
}

fn mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// One line of NetBSD's dump(): `host (addr) at lladdr on if [permanent] [published ...]`.
fn entry_line(e: &ArpEntry, names: &mut Names) -> String {
    let host = match names.host(e.addr) {
        n if n == e.addr.to_string() => "?".to_string(),
        n => n,
    };
    let mut line = format!("{host} ({}) at ", e.addr);
    match &e.lladdr {
        Some(l) => line += &mac(l),
        None => line += "(incomplete)",
    }
    if !e.ifname.is_empty() {
        line += &format!(" on {}", e.ifname);
    }
    if e.permanent {
        line += " permanent";
    }
    if e.proxy_only {
        line += " published (proxy only)";
    } else if e.published {
        line += " published";
    }
    line
}

fn print_entries(list: &[ArpEntry], names: &mut Names, json: bool) {
    if json {
        let v: Vec<serde_json::Value> = list
            .iter()
            .map(|e| {
                json!({
                    "address": e.addr.to_string(),
                    "lladdr": e.lladdr.as_ref().map(mac),
                    "interface": e.ifname,
                    "expire": e.expire,
                    "permanent": e.permanent,
                    "published": e.published,
                    "proxy_only": e.proxy_only,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return;
    }
    for e in list {
        println!("{}", entry_line(e, names));
    }
}

/// `arp HOST`: its entries, or `HOST (ADDR) -- no entry` and exit 1.
fn get(s: &mut Stack, host: &str, names: &mut Names, json: bool) -> ExitCode {
    let addr = match inet_addr(host) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let list = match s.arp_dump() {
        Ok(l) => l,
        Err(e) => return fail_socket(&e),
    };
    let mine: Vec<ArpEntry> = list.into_iter().filter(|e| e.addr == addr).collect();
    if mine.is_empty() {
        eprintln!("{PROG}: {host} ({addr}) -- no entry");
        return ExitCode::from(EXIT_FAILURE);
    }
    print_entries(&mine, names, json);
    ExitCode::SUCCESS
}

/// `arp -d HOST [proxy]`.
fn delete(s: &mut Stack, host: &str, info: Option<&str>, verbose: bool) -> ExitCode {
    let addr = match inet_addr(host) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let proxy_only = info.is_some_and(|i| i.starts_with("pro"));
    match s.arp_delete(ArpDelReq { addr, proxy_only }) {
        Ok(()) => {
            if verbose {
                println!("{host} ({addr}) deleted");
            }
            ExitCode::SUCCESS
        }
        Err(Error::Errno { errno, .. }) if errno == libc::ESRCH => {
            eprintln!("{PROG}: delete: can't locate {host}");
            ExitCode::from(EXIT_FAILURE)
        }
        Err(e) => fail_socket(&e),
    }
}

/// `arp -d -a`: every entry, one by one as NetBSD does.
fn delete_all(s: &mut Stack, verbose: bool) -> ExitCode {
    let list = match s.arp_dump() {
        Ok(l) => l,
        Err(e) => return fail_socket(&e),
    };
    let mut failed = false;
    let mut done = std::collections::BTreeSet::new();
    for e in list {
        if !done.insert(e.addr) {
            continue;
        }
        match s.arp_delete(ArpDelReq {
            addr: e.addr,
            proxy_only: false,
        }) {
            Ok(()) if verbose => println!("{} ({}) deleted", e.addr, e.addr),
            Ok(()) => {}
            // Gone by itself since the dump: nothing to do.
            Err(Error::Errno { errno, .. }) if errno == libc::ESRCH => {}
            Err(err) => {
                eprintln!("{PROG}: {}", socket_text(&err));
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

/// NetBSD's atosdl for Ethernet: six hex bytes separated by colons (`auto`: the
/// interface's own address).
fn parse_ether(s: &str) -> Option<Option<[u8; 6]>> {
    if s == "auto" {
        return Some(None);
    }
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        m[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(Some(m))
}

/// `arp -s HOST ETHER [temp] [pub [proxy]]` (also one line of -f).
fn set(s: &mut Stack, words: &[String], verbose: bool) -> Result<(), String> {
    let host = &words[0];
    let eaddr = &words[1];
    let addr = inet_addr(host)?;
    let lladdr = parse_ether(eaddr).ok_or_else(|| format!("invalid link-level address '{eaddr}'"))?;
    let mut req = ArpSetReq {
        addr,
        lladdr,
        temp: false,
        publish: false,
        proxy_only: false,
    };
    let mut rest = words[2..].iter().peekable();
    while let Some(w) = rest.next() {
        if w.starts_with("temp") {
            req.temp = true;
        } else if w.starts_with("pub") {
            req.publish = true;
            if rest.peek().is_some_and(|n| n.starts_with("pro")) {
                req.proxy_only = true;
                rest.next();
            }
        } else if w.starts_with("trail") {
            eprintln!("{PROG}: {host}: Sending trailers is no longer supported");
        } else if w == "ifscope" {
            return Err("ifscope: not supported by this stack".into());
        } else {
            return Err(format!("{w}: unknown keyword"));
        }
    }
    if lladdr.is_none() && !req.publish {
        return Err(format!("invalid link-level address '{eaddr}'"));
    }
    match s.arp_set(req) {
        Ok(()) => {
            if verbose {
                println!("{host} ({eaddr}) added");
            }
            Ok(())
        }
        Err(Error::Errno { errno, .. }) if errno == libc::ENETUNREACH => {
            Err(format!("cannot intuit interface index and type for {host}"))
        }
        Err(e) => Err(socket_text(&e)),
    }
}

/// `arp -f FILE`: every line as the arguments of -s. Errors name the file and line.
fn file(s: &mut Stack, name: &str, verbose: bool) -> ExitCode {
    let reader: Box<dyn BufRead> = if name == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(name) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!(
                    "{PROG}: Cannot open {name}: {}",
                    strerror(e.raw_os_error().unwrap_or(libc::EIO))
                );
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    };
    let mut failed = false;
    for (n, line) in reader.lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{PROG}: {name}: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        let text = line.split('#').next().unwrap_or_default();
        let words: Vec<String> = text.split_whitespace().map(String::from).collect();
        if words.is_empty() {
            continue;
        }
        let at = format!("{name}:{}", n + 1);
        if words.len() < 2 {
            eprintln!("{PROG}: {at}: bad line: {line}");
            failed = true;
            continue;
        }
        if let Err(e) = set(s, &words, verbose) {
            eprintln!("{PROG}: {at}: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ether_addresses() {
        assert_eq!(parse_ether("02:00:00:00:00:0a"), Some(Some([2, 0, 0, 0, 0, 10])));
        assert_eq!(parse_ether("2:0:0:0:0:a"), Some(Some([2, 0, 0, 0, 0, 10])));
        assert_eq!(parse_ether("auto"), Some(None));
        for bad in [
            "",
            "1:2:3",
            "01:02:03:04:05:06:07",
            "zz:00:00:00:00:00",
            "100:0:0:0:0:0",
        ] {
            assert_eq!(parse_ether(bad), None, "{bad}");
        }
    }

    #[test]
    fn lines_as_netbsd_prints_them() {
        let mut names = Names::new(true);
        let mut e = ArpEntry {
            addr: "10.0.0.2".parse().unwrap(),
            lladdr: Some([2, 0, 0, 0, 0, 2]),
            ifname: "en0".into(),
            expire: Some(1190),
            permanent: false,
            published: false,
            proxy_only: false,
        };
        assert_eq!(entry_line(&e, &mut names), "? (10.0.0.2) at 02:00:00:00:00:02 on en0");
        e.permanent = true;
        e.published = true;
        assert_eq!(
            entry_line(&e, &mut names),
            "? (10.0.0.2) at 02:00:00:00:00:02 on en0 permanent published"
        );
        e.proxy_only = true;
        assert_eq!(
            entry_line(&e, &mut names),
            "? (10.0.0.2) at 02:00:00:00:00:02 on en0 permanent published (proxy only)"
        );
        e.lladdr = None;
        e.permanent = false;
        e.published = false;
        e.proxy_only = false;
        assert_eq!(entry_line(&e, &mut names), "? (10.0.0.2) at (incomplete) on en0");
    }
}
