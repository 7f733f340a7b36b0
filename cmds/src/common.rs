//! What every applet shares: names, errors the BSD way, exit codes.

use std::ffi::OsStr;
use std::process::ExitCode;

use pktbox_stack::socket::{Error, Stack};

/// Failures exit 1. Usage errors exit 2 for pktbox's own commands (pktbox, io-pkt), as
/// DESIGN.md fixes; the NetBSD tools exit as NetBSD's do on a usage error (see
/// [`usage_code`]).
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// The tools whose `usage()` is NetBSD's: each calls `exit(1)` (EXIT_FAILURE) after
/// printing it (arp.c, brconfig.c, ifconfig.c, route.c, netstat's main.c, sysctl.c, ping.c, nc's
/// netcat.c, tcpdump.c), so a script that tests for 1 sees 1 here too.
const NETBSD_TOOLS: &[&str] = &[
    "arp", "brconfig", "ifconfig", "route", "netstat", "sysctl", "ping", "ping6", "ndp", "nc", "tcpdump",
];

/// The exit code of a usage error of `prog`.
pub fn usage_code(prog: &str) -> u8 {
    if NETBSD_TOOLS.contains(&prog) {
        EXIT_FAILURE
    } else {
        EXIT_USAGE
    }
}

/// The last path component of argv[0].
pub fn basename(a: &OsStr) -> String {
    std::path::Path::new(a)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Prints `prog: msg` to standard error and returns the failure exit code.
pub fn fail(prog: &str, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{prog}: {msg}");
    ExitCode::from(EXIT_FAILURE)
}

/// Prints `prog: msg` to standard error and returns the usage exit code.
pub fn usage_fail(prog: &str, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{prog}: {msg}");
    ExitCode::from(usage_code(prog))
}

/// The `usage:` text of a command, as the BSD tools print it (clap's usage line, which
/// each applet sets to its NetBSD synopsis, with a lower-case `usage:`).
pub fn usage_text(cmd: &clap::Command) -> String {
    let u = cmd.clone().render_usage().to_string();
    let u = u.trim_start_matches("Usage: ").trim_end();
    match cmd.get_name() {
        // NetBSD's ping puts its synopsis on the line after `usage: `.
        "ping" => format!("usage: \n{u}"),
        // NetBSD's arp writes `Usage:`.
        "arp" => format!("Usage: {u}"),
        _ => format!("usage: {u}"),
    }
}

/// Prints the usage text of `cmd` and returns its usage exit code.
pub fn usage(cmd: &clap::Command) -> ExitCode {
    eprintln!("{}", usage_text(cmd));
    ExitCode::from(usage_code(cmd.get_name()))
}

/// Opens the stack named by SOCK, or says why not the way every tool says it.
pub fn open_stack(prog: &str) -> Result<Stack, ExitCode> {
    Stack::open().map_err(|e| fail(prog, e))
}

/// An error from a request named like the ioctl it stands for:
/// `ifconfig: SIOCAIFADDR: Operation not permitted`, with the stack's explanation if any.
pub fn ioctl_fail(prog: &str, what: &str, e: &Error) -> ExitCode {
    fail(prog, format!("{what}: {e}"))
}

/// Parses a clap command line. A usage error never shows clap's own wording: it prints
/// what getopt(3) and the tool's `usage()` print on NetBSD (`ifconfig: unknown option -- x`,
/// then `usage: ...`) and exits with the tool's usage code. --help and --version print as
/// clap does and exit 0.
pub fn parse(cmd: clap::Command, args: Vec<std::ffi::OsString>) -> Result<clap::ArgMatches, ExitCode> {
    let prog = cmd.get_name().to_string();
    let usage_cmd = cmd.clone();
    cmd.try_get_matches_from(args).map_err(|e| {
        use clap::error::ErrorKind;
        if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        if let Some(msg) = getopt_message(&e) {
            eprintln!("{prog}: {msg}");
        }
        usage(&usage_cmd)
    })
}

/// What NetBSD's getopt(3) (or the tool, for a bad option value) says about a clap error;
/// None where NetBSD prints only the usage (a missing or extra operand).
fn getopt_message(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let ctx = |k: ContextKind| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    // "-w <timeout>" names the option as its first word.
    let opt = ctx(ContextKind::InvalidArg).map(|a| a.split_whitespace().next().unwrap_or_default().to_string());
    let letter = |o: &str| match o.strip_prefix("--") {
        Some(long) => format!("-{long}"),
        None => o.trim_start_matches('-').to_string(),
    };
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let o = opt?;
            if !o.starts_with('-') {
                return None;
            }
            Some(format!("unknown option -- {}", letter(&o)))
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let o = opt?;
            match ctx(ContextKind::InvalidValue).filter(|v| !v.is_empty()) {
                None => Some(format!("option requires an argument -- {}", letter(&o))),
                Some(v) if o.starts_with('-') => Some(format!("{v}: invalid argument to {o}")),
                Some(v) => Some(format!("{v}: invalid argument")),
            }
        }
        ErrorKind::ArgumentConflict => {
            let a = opt?;
            let b = ctx(ContextKind::PriorArg)?;
            let (a, b) = (
                a.split_whitespace().next()?.to_string(),
                b.split_whitespace().next()?.to_string(),
            );
            Some(format!("{a} and {b} may not be used together"))
        }
        _ => None,
    }
}

/// Splits a command line at its first word that is not an option: the options and that
/// word go to clap, the words after it are the applet's own grammar, which clap must not
/// read as options (`ifconfig en0 -alias`, `route add -net ...`).
pub fn split_at_first_word(args: Vec<std::ffi::OsString>) -> (Vec<std::ffi::OsString>, Vec<String>) {
    split_at_first_operand(args, &[])
}

/// [`split_at_first_word`] for a command whose options in `valued` (`-w`) take the next
/// word as their value: that word is not the first operand.
pub fn split_at_first_operand(
    args: Vec<std::ffi::OsString>,
    valued: &[&str],
) -> (Vec<std::ffi::OsString>, Vec<String>) {
    let mut pos = None;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if !a.starts_with('-') {
            pos = Some(i);
            break;
        }
        if valued.contains(&a.as_ref()) {
            i += 1;
        }
        i += 1;
    }
    match pos {
        Some(i) => {
            let rest = args[i + 1..].iter().map(|a| a.to_string_lossy().into_owned()).collect();
            (args[..=i].to_vec(), rest)
        }
        None => (args, Vec::new()),
    }
}
