//! `pktbox` itself: --list, --install, --help, --version, and `pktbox APPLET ARGS...`.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};

use crate::applets::{self, APPLETS};
use crate::common::{fail, EXIT_USAGE};

pub fn command() -> Command {
    Command::new("pktbox")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A user-space network stack and the BSD tools that drive it, in one binary")
        .long_about(
            "pktbox is a multi-call binary: called through a symlink named after an applet \
             (ifconfig, sysctl, io-pkt-v4, ...), it runs that applet; called as \
             `pktbox APPLET ARGS...`, likewise.",
        )
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .help("List the applets, one a line"),
        )
        .arg(
            Arg::new("install")
                .long("install")
                .value_name("DIR")
                .help("Make a symlink to pktbox in DIR for each applet"),
        )
        .arg(
            Arg::new("force")
                .long("force")
                .action(ArgAction::SetTrue)
                .requires("install")
                .help("With --install, replace files that are not pktbox symlinks"),
        )
        .arg(
            Arg::new("applet")
                .value_name("APPLET")
                .num_args(1..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .help("An applet to run, with its arguments"),
        )
}

pub fn unknown_applet(name: &str) -> ExitCode {
    eprintln!("pktbox: {name}: applet not found");
    eprintln!(
        "applets: {}",
        APPLETS.iter().map(|a| a.name).collect::<Vec<_>>().join(" ")
    );
    ExitCode::from(EXIT_USAGE)
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    // `pktbox APPLET ...`: the applet sees itself as argv[0].
    if let Some(first) = args.get(1) {
        let s = first.to_string_lossy();
        if !s.starts_with('-') {
            return match applets::find(&s) {
                Some(a) => (a.run)(args[1..].to_vec()),
                None => unknown_applet(&s),
            };
        }
    }
    let m = match crate::common::parse(command(), args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if m.get_flag("list") {
        for a in APPLETS {
            println!("{}", a.name);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = m.get_one::<String>("install") {
        return install(Path::new(dir), m.get_flag("force"));
    }
    let _ = command().print_help();
    ExitCode::from(EXIT_USAGE)
}

/// Makes DIR/APPLET -> pktbox for every applet. A file there that is not a symlink to a
/// pktbox binary is left alone (and reported) unless `force`.
fn install(dir: &Path, force: bool) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail("pktbox", format!("cannot find my own path: {e}")),
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        return fail("pktbox", format!("{}: {e}", dir.display()));
    }
    let mut failed = false;
    for a in APPLETS {
        let link = dir.join(a.name);
        if let Ok(meta) = std::fs::symlink_metadata(&link) {
            let ours = meta.file_type().is_symlink()
                && std::fs::read_link(&link)
                    .ok()
                    .and_then(|t| t.file_name().map(|f| f.to_string_lossy().into_owned()))
                    .is_some_and(|f| f == "pktbox" || Some(f.as_str()) == exe.file_name().and_then(|e| e.to_str()));
            if !ours && !force {
                eprintln!(
                    "pktbox: {}: exists and is not a pktbox symlink (use --force to replace it)",
                    link.display()
                );
                failed = true;
                continue;
            }
            if let Err(e) = std::fs::remove_file(&link) {
                eprintln!("pktbox: {}: {e}", link.display());
                failed = true;
                continue;
            }
        }
        if let Err(e) = std::os::unix::fs::symlink(&exe, &link) {
            eprintln!("pktbox: {}: {e}", link.display());
            failed = true;
        }
    }
    if failed {
        ExitCode::from(crate::common::EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}
