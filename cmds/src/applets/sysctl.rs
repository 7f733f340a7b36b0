//! sysctl: get or set stack state, NetBSD's syntax and output.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use pktbox_stack::msg::errno::strerror;
use pktbox_stack::msg::SysctlEntry;
use pktbox_stack::socket::{Error, Stack};
use serde_json::json;

use crate::common::{fail, open_stack, parse, EXIT_FAILURE};

const PROG: &str = "sysctl";

pub fn command() -> Command {
    Command::new(PROG)
        .about("Get or set stack state")
        .override_usage("sysctl [-enq] [-w] name[=value] ...\n       sysctl [-enq] -a\n       sysctl [-enq] -f file")
        .arg(
            Arg::new("all")
                .short('a')
                .action(ArgAction::SetTrue)
                .help("List every name and its value"),
        )
        .arg(
            Arg::new("novalue_name")
                .short('n')
                .action(ArgAction::SetTrue)
                .help("Print values only, not names"),
        )
        .arg(
            Arg::new("equals")
                .short('e')
                .action(ArgAction::SetTrue)
                .help("Print name=value instead of name = value"),
        )
        .arg(
            Arg::new("quiet")
                .short('q')
                .action(ArgAction::SetTrue)
                .help("Print nothing when setting values"),
        )
        .arg(
            Arg::new("write")
                .short('w')
                .action(ArgAction::SetTrue)
                .help("Set the values given as name=value"),
        )
        .arg(
            Arg::new("file")
                .short('f')
                .value_name("file")
                .help("Read names (or name=value lines) from file; - is standard input"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the values as JSON"),
        )
        .arg(
            Arg::new("names")
                .value_name("name[=value]")
                .num_args(0..)
                .help("Names to show or set"),
        )
}

struct Out {
    names: bool,
    sep: &'static str,
    quiet: bool,
    json: bool,
    collected: Vec<serde_json::Value>,
}

impl Out {
    fn show(&mut self, e: &SysctlEntry) {
        if self.json {
            let v = match &e.value {
                pktbox_stack::msg::SysctlValue::Int(i) => json!(i),
                pktbox_stack::msg::SysctlValue::Str(s) => json!(s),
            };
            self.collected
                .push(json!({ "name": e.name, "value": v, "writable": e.writable }));
        } else if self.names {
            println!("{}{}{}", e.name, self.sep, e.value);
        } else {
            println!("{}", e.value);
        }
    }
}

/// Prints an error as NetBSD's sysctl does, with `file#line: ` first for a line of `-f`.
fn report(at: Option<&str>, name: &str, e: &Error) {
    let at = at.map(|a| format!("{a}: ")).unwrap_or_default();
    match e {
        Error::Errno { errno, text } if *errno == libc::ENOENT => match text {
            Some(t) => eprintln!("{PROG}: {at}{t}"),
            None => eprintln!("{PROG}: {at}{name}: {}", strerror(*errno)),
        },
        Error::Errno { errno, text } => match text {
            Some(t) => eprintln!("{PROG}: {at}{name}: {}: {t}", strerror(*errno)),
            None => eprintln!("{PROG}: {at}{name}: {}", strerror(*errno)),
        },
        other => eprintln!("{PROG}: {at}{name}: {other}"),
    }
}

/// One `name` or `name=value` item; `at` says where in a `-f` file it came from.
/// Returns false when it failed.
fn one(s: &mut Stack, out: &mut Out, item: &str, at: Option<&str>, write_only: bool) -> bool {
    match item.split_once('=') {
        Some((name, value)) => match s.sysctl_set(name, value) {
            Ok(c) => {
                if out.json {
                    out.collected
                        .push(json!({ "name": c.name, "old": c.old.to_string(), "new": c.new.to_string() }));
                } else if !out.quiet {
                    if out.names {
                        println!("{}: {} -> {}", c.name, c.old, c.new);
                    } else {
                        println!("{}", c.new);
                    }
                }
                true
            }
            Err(e) => {
                report(at, name, &e);
                false
            }
        },
        None if write_only => {
            let at = at.map(|a| format!("{a}: ")).unwrap_or_default();
            eprintln!("{PROG}: {at}{item}: -w needs name=value");
            false
        }
        None => match s.sysctl_get(item) {
            Ok(v) => {
                for e in &v {
                    out.show(e);
                }
                true
            }
            Err(e) => {
                report(at, item, &e);
                false
            }
        },
    }
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let m = match parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let names: Vec<String> = m
        .get_many::<String>("names")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let file = m.get_one::<String>("file").cloned();
    let all = m.get_flag("all");
    if !all && names.is_empty() && file.is_none() {
        return crate::common::usage(&command());
    }
    // Read the file first: a bad file changes nothing.
    // Each item with where it came from: `file#line` (NetBSD's form) for a line of -f.
    let mut items: Vec<(String, Option<String>)> = Vec::new();
    if let Some(f) = &file {
        let text = if f == "-" {
            let mut t = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut t) {
                Ok(_) => t,
                Err(e) => return fail(PROG, format!("-: {e}")),
            }
        } else {
            match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) => return fail(PROG, format!("{f}: {e}")),
            }
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let item: String = line.split_whitespace().collect();
            if item.starts_with('=') || item.contains(char::is_whitespace) {
                return fail(PROG, format!("{f}#{}: bad line: {line}", n + 1));
            }
            items.push((item, Some(format!("{f}#{}", n + 1))));
        }
    }
    items.extend(names.into_iter().map(|n| (n, None)));
    let mut s = match open_stack(PROG) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let mut out = Out {
        names: !m.get_flag("novalue_name"),
        sep: if m.get_flag("equals") { "=" } else { " = " },
        quiet: m.get_flag("quiet"),
        json: m.get_flag("json"),
        collected: Vec::new(),
    };
    let mut ok = true;
    if all {
        match s.sysctl_get("") {
            Ok(v) => v.iter().for_each(|e| out.show(e)),
            Err(e) => {
                report(None, "", &e);
                ok = false;
            }
        }
    }
    let write_only = m.get_flag("write");
    for (it, at) in &items {
        ok &= one(&mut s, &mut out, it, at.as_deref(), write_only);
    }
    if out.json {
        println!("{}", serde_json::Value::Array(out.collected));
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    }
}
