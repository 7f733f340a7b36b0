//! run: runs an unmodified program on a stack. `run [-s PREFIX] -- CMD ARGS` puts the
//! preloadable socket library (`libpktbox_socket.so`) in LD_PRELOAD and the stack's prefix
//! in SOCK, then execs CMD: its AF_INET and AF_INET6 sockets are the stack's.
//!
//! The library is found, in this order: `$PKTBOX_SOCKET_LIB`; `libpktbox_socket.so` in the
//! directory of the pktbox binary (where cargo builds both: `target/debug`,
//! `target/release`; install it beside the binary); `../lib/pktbox/libpktbox_socket.so`
//! from that directory (a `/usr/local/bin` + `/usr/local/lib/pktbox` install).

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use pktbox_stack::socket::Stack;

use crate::common::{fail, parse};

const PROG: &str = "run";
/// The library's file name, as cargo builds it.
pub const LIB: &str = "libpktbox_socket.so";

pub fn command() -> Command {
    Command::new(PROG)
        .about("Run an unmodified program on a stack")
        .long_about(
            "run executes a command with the pktbox socket library preloaded (LD_PRELOAD) and \
             SOCK set, so that the command's IPv4 and IPv6 sockets (TCP, UDP, raw ICMP) are \
             sockets of the stack at PREFIX (default: SOCK as set, else /run/io-pkt). Other \
             sockets (AF_UNIX, AF_NETLINK) and files stay the kernel's.",
        )
        .override_usage("run [-s prefix] -- command [argument ...]")
        .after_help(
            "The library is looked for in $PKTBOX_SOCKET_LIB, then beside the pktbox binary \
             (libpktbox_socket.so: cargo builds it there), then in ../lib/pktbox/ from the \
             binary's directory. Statically linked programs and programs that make system \
             calls directly (or through io_uring) bypass the library. Set \
             PKTBOX_SOCKET_DEBUG=1 to have the library name, once each, the calls and \
             options it refuses. Exit status: the command's; 127 when it cannot be found, \
             126 when it cannot be executed, 1 when there is no stack or no library.",
        )
        .arg(
            Arg::new("prefix")
                .short('s')
                .value_name("prefix")
                .value_parser(clap::value_parser!(OsString))
                .help("The stack's prefix (sets SOCK)"),
        )
        .arg(
            Arg::new("command")
                .value_name("command")
                .required(true)
                .num_args(1..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .value_parser(clap::value_parser!(OsString))
                .action(ArgAction::Append)
                .help("The command and its arguments"),
        )
}

/// Where the library is, by the rules above.
pub fn find_lib() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("PKTBOX_SOCKET_LIB").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("PKTBOX_SOCKET_LIB={}: no such file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the pktbox binary: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [dir.join(LIB), dir.join("../lib/pktbox").join(LIB)];
    for c in &candidates {
        if c.is_file() {
            return Ok(c.clone());
        }
    }
    Err(format!(
        "{LIB} not found beside {} nor in {} (build it with `cargo build -p pktbox-libsocket`, \
         or set PKTBOX_SOCKET_LIB)",
        exe.display(),
        dir.join("../lib/pktbox").display()
    ))
}

/// LD_PRELOAD with `lib` first, keeping what was there.
fn preload(lib: &Path, old: Option<&OsStr>) -> OsString {
    let mut v = OsString::from(lib);
    if let Some(o) = old.filter(|o| !o.is_empty()) {
        v.push(":");
        v.push(o);
    }
    v
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let m = match parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let prefix = match m.get_one::<OsString>("prefix") {
        Some(p) => PathBuf::from(p),
        None => pktbox_stack::socket::prefix_from_env(),
    };
    let argv: Vec<&OsString> = m
        .get_many::<OsString>("command")
        .map(|v| v.collect())
        .unwrap_or_default();
    let Some((cmd, rest)) = argv.split_first() else {
        return fail(PROG, "no command");
    };
    let lib = match find_lib() {
        Ok(l) => l,
        Err(e) => return fail(PROG, e),
    };
    // Say now, not as a failing socket() deep inside the program, that no stack is there.
    if let Err(e) = Stack::open_at(&prefix) {
        return fail(PROG, e);
    }
    let lib = std::fs::canonicalize(&lib).unwrap_or(lib);
    let err = std::process::Command::new(cmd)
        .args(rest)
        .env("SOCK", &prefix)
        .env("LD_PRELOAD", preload(&lib, std::env::var_os("LD_PRELOAD").as_deref()))
        .exec();
    eprintln!("{PROG}: {}: {err}", Path::new(cmd).display());
    ExitCode::from(if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_goes_first_in_ld_preload_and_keeps_what_was_there() {
        let lib = Path::new("/x/libpktbox_socket.so");
        assert_eq!(preload(lib, None), OsString::from("/x/libpktbox_socket.so"));
        assert_eq!(
            preload(lib, Some(OsStr::new(""))),
            OsString::from("/x/libpktbox_socket.so")
        );
        assert_eq!(
            preload(lib, Some(OsStr::new("/y/other.so"))),
            OsString::from("/x/libpktbox_socket.so:/y/other.so")
        );
    }
}
