//! What every applet shares: names, errors the BSD way, exit codes.

use std::ffi::OsStr;
use std::process::ExitCode;

use pktbox_stack::socket::{Error, Stack};

/// Usage errors exit 2, failures 1, as DESIGN.md fixes.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

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
    ExitCode::from(EXIT_USAGE)
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

/// Parses a clap command line, printing clap's message and exiting 2 on a usage error
/// (0 for --help and --version).
pub fn parse(cmd: clap::Command, args: Vec<std::ffi::OsString>) -> Result<clap::ArgMatches, ExitCode> {
    cmd.try_get_matches_from(args).map_err(|e| {
        let code = e.exit_code();
        let _ = e.print();
        ExitCode::from(code as u8)
    })
}

/// Splits a command line at its first word that is not an option: the options and that
/// word go to clap, the words after it are the applet's own grammar, which clap must not
/// read as options (`ifconfig en0 -alias`, `route add -net ...`).
pub fn split_at_first_word(args: Vec<std::ffi::OsString>) -> (Vec<std::ffi::OsString>, Vec<String>) {
    let pos = args
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, a)| !a.to_string_lossy().starts_with('-'))
        .map(|(i, _)| i);
    match pos {
        Some(i) => {
            let rest = args[i + 1..].iter().map(|a| a.to_string_lossy().into_owned()).collect();
            (args[..=i].to_vec(), rest)
        }
        None => (args, Vec::new()),
    }
}
