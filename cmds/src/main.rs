//! pktbox: one multi-call binary. Dispatches on the name it was called by (argv[0]), or on
//! its first argument when called as `pktbox`.

use std::ffi::OsString;
use std::process::ExitCode;

mod applets;
mod common;
mod gen;
mod layering;
mod pktbox;
mod rtutil;
mod table;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let name = args
        .first()
        .map(|a| common::basename(a))
        .unwrap_or_else(|| "pktbox".to_string());
    if name == "pktbox" {
        return pktbox::run(args);
    }
    match applets::find(&name) {
        Some(a) => (a.run)(args),
        None => pktbox::unknown_applet(&name),
    }
}
