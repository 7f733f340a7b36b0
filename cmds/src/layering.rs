//! DESIGN.md, Layout: applets talk to the stack through `pktbox_stack::socket` and use the
//! `wire` and `msg` types; only the io-pkt applet links the stack's inside. The test here
//! reads the crate's own sources and names every path that reaches anywhere else.
//!
//! Nothing here is part of the binary; it is all test code.
#![cfg(test)]

use std::path::{Path, PathBuf};

/// What an applet may name under `pktbox_stack::`.
const ALLOWED: &[&str] = &["wire", "msg", "socket"];
/// The one file that starts the stack itself.
const INSIDE: &str = "applets/io_pkt.rs";

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The first path segments named after each `pktbox_stack::` in `src`, a `{...}` group
/// giving one for each of its items.
fn stack_modules(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let key = "pktbox_stack::";
    let mut rest = src;
    while let Some(i) = rest.find(key) {
        rest = &rest[i + key.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Items of a group, top level only: `{wire::x, msg::{A, B}}` gives wire, msg.
            let (mut depth, mut item, mut at_start) = (0usize, String::new(), true);
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if !item.is_empty() {
                            out.push(std::mem::take(&mut item));
                        }
                        at_start = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 && at_start && (c.is_alphanumeric() || c == '_') {
                    item.push(c);
                } else if !item.is_empty() {
                    out.push(std::mem::take(&mut item));
                    at_start = false;
                }
            }
            if !item.is_empty() {
                out.push(item);
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            out.push(name);
        }
    }
    out
}

#[test]
fn applets_import_only_wire_msg_and_socket() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 10, "found only {files:?}");
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        if rel == INSIDE || rel == "layering.rs" {
            continue;
        }
        let src = std::fs::read_to_string(f).unwrap();
        for m in stack_modules(&src) {
            if !ALLOWED.contains(&m.as_str()) {
                bad.push(format!("{rel}: pktbox_stack::{m}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "applets reach into the stack's inside:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scanner_sees_groups_and_paths() {
    let src = "use pktbox_stack::wire::ipv4;\nuse pktbox_stack::{msg::{A, B}, inet, socket::Stack};\n\
               let x = pktbox_stack::net::route::rtf::UP;";
    assert_eq!(stack_modules(src), ["wire", "msg", "inet", "socket", "net"]);
}
