//! io-pkt-v4, io-pkt-v4-hc, io-pkt-v6-hc, io-pkt: start a stack.
//!
//! `-d DRIVER [opts]` and `-p PROTOCOL [opts]` take an option word only when the next
//! argument does not start with `-`, as io-pkt parses them; `-dtap` and `-d tap` are alike.
//! Without `-f` the command returns once the stack answers on its channel, leaving the
//! stack running in the background.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use clap::{Arg, ArgAction, Command};
use pktbox_stack::socket::{Stack, DEFAULT_PREFIX};
use pktbox_stack::sys::{run::run as run_stack, Config, Variant};

use crate::common::{basename, fail, parse};

/// Where a stack in the background writes its log.
pub fn log_path(prefix: &Path) -> PathBuf {
    prefix.join("var/log/io-pkt.log")
}

const READY_FD: &str = "PKTBOX_READY_FD";

fn command(v: Variant) -> Command {
    let about = match v {
        Variant::V4 => "Start a pktbox stack: IPv4 only, the reduced variant (it will not get IPsec, bridging or IPv6)",
        Variant::V4Hc => "Start a pktbox stack: IPv4 (IPsec and bridging are to come: not in this build yet)",
        Variant::V6Hc => "Start a pktbox stack: IPv4 (IPv6, IPsec and bridging are to come: not in this build yet)",
    };
    Command::new(v.name())
        .version(env!("CARGO_PKG_VERSION"))
        .about(about)
        .after_help(
            "Drivers: tap (tap=NAME,host=ADDR/LEN,offload=all|none), udp (local=ADDR:PORT,remote=ADDR:PORT), \
             hub (path=DIR), raw (if=HOSTIF); all take name=IF, mac=HEX12, mtu=N, priority=N, promiscuous.\n\
             Link impairments, any driver, each direction: loss=PCT, dup=PCT, reorder=PCT, delay=MS, \
             jitter=MS, rate=MBIT, seed=N (ifconfig -v shows the seed).\n\
             Protocol tcpip: prefix=PATH, forward, threads_min=N, threads_max=N, rx_prio=N.\n\
             Clients find the stack through SOCK=PREFIX (default /run/io-pkt).",
        )
        .arg(
            Arg::new("driver")
                .short('d')
                .value_names(["DRIVER", "OPTIONS"])
                .num_args(1..=2)
                .action(ArgAction::Append)
                .help("Start an interface on DRIVER with comma-separated OPTIONS (repeatable)"),
        )
        .arg(
            Arg::new("protocol")
                .short('p')
                .value_names(["PROTOCOL", "OPTIONS"])
                .num_args(1..=2)
                .action(ArgAction::Append)
                .help("Configure PROTOCOL (tcpip) with comma-separated OPTIONS"),
        )
        .arg(
            Arg::new("threads")
                .short('t')
                .value_name("N")
                .value_parser(clap::value_parser!(u16).range(1..=256))
                .help("Receive threads (default: one per CPU)"),
        )
        .arg(
            Arg::new("foreground")
                .short('f')
                .action(ArgAction::SetTrue)
                .help("Stay in the foreground"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .action(ArgAction::Count)
                .help("More messages in the log"),
        )
}

pub fn command_v4() -> Command {
    command(Variant::V4)
}
pub fn command_v4_hc() -> Command {
    command(Variant::V4Hc)
}
pub fn command_v6_hc() -> Command {
    command(Variant::V6Hc).name("io-pkt-v6-hc")
}
pub fn command_full() -> Command {
    command(Variant::V6Hc).name("io-pkt")
}

/// Groups of a repeatable `-x NAME [OPTS]` option.
fn groups(m: &clap::ArgMatches, id: &str) -> Vec<(String, String)> {
    let Ok(Some(occ)) = m.try_get_occurrences::<String>(id) else {
        return Vec::new();
    };
    occ.map(|vals| {
        let v: Vec<&String> = vals.collect();
        (
            v.first().map(|s| s.to_string()).unwrap_or_default(),
            v.get(1).map(|s| s.to_string()).unwrap_or_default(),
        )
    })
    .collect()
}

/// `-dtap` and `-ptcpip` become `-d tap` and `-p tcpip`, so the option word that follows is
/// taken the same way in both spellings.
fn split_attached(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len() + 2);
    for (i, a) in args.iter().enumerate() {
        let s = a.to_string_lossy();
        if i > 0 && s.len() > 2 && (s.starts_with("-d") || s.starts_with("-p")) {
            out.push(OsString::from(&s[..2]));
            out.push(OsString::from(&s[2..]));
        } else {
            out.push(a.clone());
        }
    }
    out
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let prog = args.first().map(|a| basename(a)).unwrap_or_else(|| "io-pkt".into());
    let Some(variant) = Variant::from_name(&prog) else {
        return fail("pktbox", format!("{prog}: not a stack variant"));
    };
    let cmd = match prog.as_str() {
        "io-pkt" => command_full(),
        _ => command(variant),
    };
    let m = match parse(cmd, split_attached(&args)) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let mut cfg = Config {
        variant,
        prefix: PathBuf::from(DEFAULT_PREFIX),
        forward: false,
        rx_threads: m
            .get_one::<u16>("threads")
            .map(|n| usize::from(*n))
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
        rx_prio: None,
        threads_min: 15,
        threads_max: 200,
        verbose: u32::from(m.get_count("verbose")),
        modules: Vec::new(),
    };
    for (proto, word) in groups(&m, "protocol") {
        let r = match proto.as_str() {
            "tcpip" => cfg.tcpip_options(&word).map(|warnings| {
                // As io-pkt does: report and go on.
                for w in warnings {
                    eprintln!("{prog}: {w}");
                }
            }),
            name if pktbox_stack::conf::module(name).is_some() => {
                if word.is_empty() {
                    cfg.modules.push(name.to_string());
                    Ok(())
                } else {
                    Err(format!("-p {proto}: unknown option '{word}'"))
                }
            }
            "autoip" => Err(format!("-p {proto}: not supported by this build yet")),
            _ => Err(format!("-p {proto}: no such protocol module")),
        };
        if let Err(e) = r {
            return fail(&prog, e);
        }
    }
    let drivers = groups(&m, "driver");
    if !m.get_flag("foreground") {
        return background(&prog, &args, &cfg.prefix);
    }
    // The parent waiting for us (if any) hears how the start went on this descriptor.
    let ready_fd: Option<OwnedFd> = std::env::var(READY_FD)
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
        .filter(|fd| *fd > 2)
        // SAFETY: the parent opened this pipe end for us and passed its number.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    std::env::remove_var(READY_FD);
    let tell = move |r: Result<(), String>| {
        if let Some(fd) = ready_fd {
            let mut f = std::fs::File::from(fd);
            let msg = match r {
                Ok(()) => "ok\n".to_string(),
                Err(e) => format!("error {e}\n"),
            };
            let _ = std::io::Write::write_all(&mut f, msg.as_bytes());
        }
    };
    let mut opened = Vec::new();
    for (name, word) in drivers {
        match pktbox_drivers::open(&name, &word) {
            Ok(o) => opened.push(o),
            Err(e) => {
                tell(Err(e.to_string()));
                return fail(&prog, e);
            }
        }
    }
    match run_stack(cfg, opened, tell) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&prog, e),
    }
}

/// Starts the stack as a child in its own session, waits until it answers or fails, and
/// reports which.
fn background(prog: &str, args: &[OsString], prefix: &Path) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(prog, format!("cannot find my own path: {e}")),
    };
    let log = log_path(prefix);
    if let Some(d) = log.parent() {
        if let Err(e) = std::fs::create_dir_all(d) {
            return fail(prog, format!("{}: {e}", d.display()));
        }
    }
    let logf = match std::fs::OpenOptions::new().create(true).append(true).open(&log) {
        Ok(f) => f,
        Err(e) => return fail(prog, format!("{}: {e}", log.display())),
    };
    let (rd, wr) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return fail(prog, format!("pipe: {}", e.desc())),
    };
    let wr_fd = wr.as_raw_fd();
    let logf2 = match logf.try_clone() {
        Ok(f) => f,
        Err(e) => return fail(prog, format!("{}: {e}", log.display())),
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.arg0(prog)
        .args(&args[1..])
        .arg("-f")
        .env(READY_FD, wr_fd.to_string())
        .stdin(Stdio::null())
        .stdout(logf)
        .stderr(logf2);
    // SAFETY: only async-signal-safe calls between fork and exec: setsid, fcntl.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            let fl = libc::fcntl(wr_fd, libc::F_GETFD);
            libc::fcntl(wr_fd, libc::F_SETFD, fl & !libc::FD_CLOEXEC);
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(prog, format!("cannot start the stack: {e}")),
    };
    drop(wr);
    let mut status = String::new();
    let _ = std::fs::File::from(rd).read_to_string(&mut status);
    let status = status.trim_end();
    if status == "ok" {
        // The stack said it is ready; make sure it answers.
        return match Stack::open_at(prefix) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(prog, e),
        };
    }
    let _ = child.wait();
    match status.strip_prefix("error ") {
        Some(e) => fail(prog, e),
        None => fail(
            prog,
            format!("the stack exited before it was ready (see {})", log.display()),
        ),
    }
}
