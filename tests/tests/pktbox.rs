//! The multi-call binary itself: --list, --install, and dispatch by name.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use pktbox_tests::*;

const APPLETS: &[&str] = &[
    "io-pkt",
    "io-pkt-v4",
    "io-pkt-v4-hc",
    "io-pkt-v6-hc",
    "ifconfig",
    "sysctl",
];

fn listed() -> Vec<String> {
    pktbox(["--list"], &[]).ok().stdout.lines().map(String::from).collect()
}

#[test]
fn list_names_every_applet_once() {
    let l = listed();
    for a in APPLETS {
        assert_eq!(l.iter().filter(|x| x == a).count(), 1, "{a} in --list: {l:?}");
    }
    assert!(l.iter().all(|a| !a.is_empty() && !a.contains(' ')), "{l:?}");
}

#[test]
fn install_makes_symlinks_that_work() {
    let d = TempDir::new();
    let dir = d.join("bin");
    let o = pktbox(["--install", dir.to_str().unwrap()], &[]).ok();
    assert_eq!(o.stdout, "");
    for a in listed() {
        let link = dir.join(&a);
        let meta = std::fs::symlink_metadata(&link).unwrap_or_else(|e| panic!("{a}: {e}"));
        assert!(meta.file_type().is_symlink(), "{a} is a symlink");
        assert_eq!(
            std::fs::canonicalize(&link).unwrap(),
            std::fs::canonicalize(bin()).unwrap(),
            "{a} points at pktbox"
        );
    }
    // The links run their applet, found by argv[0].
    let st = StackProc::start(&[]);
    let o = Command::new(dir.join("ifconfig"))
        .arg("-l")
        .env("SOCK", st.prefix())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "lo0\n");
    let o = Command::new(dir.join("sysctl"))
        .args(["-n", "net.inet.ip.ttl"])
        .env("SOCK", st.prefix())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "64\n", "{o:?}");
    // And io-pkt-v4 through its link starts a stack that reports its own name.
    let mut other = StackProc::new_prefix("io-pkt-v4");
    let o = Command::new(dir.join("io-pkt-v4"))
        .arg("-ptcpip")
        .arg(format!("prefix={}", other.prefix().display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    other.adopt();
    let mut s = other.open();
    assert_eq!(s.hello().variant, "io-pkt-v4");
    assert_eq!(s.if_list(None).unwrap().len(), 1);

    // Installing again over its own links is fine.
    pktbox(["--install", dir.to_str().unwrap()], &[]).ok();
}

#[test]
fn install_leaves_other_files_alone_without_force() {
    let d = TempDir::new();
    let dir = d.join("bin");
    std::fs::create_dir(&dir).unwrap();
    let mine = dir.join("ifconfig");
    std::fs::write(&mine, "#!/bin/sh\necho mine\n").unwrap();
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = pktbox(["--install", dir.to_str().unwrap()], &[]).code(1);
    assert!(
        o.stderr.contains(&format!("{}: ", mine.display())) && o.stderr.contains("--force"),
        "{o:#?}"
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "#!/bin/sh\necho mine\n");
    // The other applets were still installed.
    assert!(std::fs::symlink_metadata(dir.join("sysctl"))
        .unwrap()
        .file_type()
        .is_symlink());
    // A symlink to something else is not ours either.
    std::os::unix::fs::symlink("/bin/true", dir.join("sysctl.tmp")).unwrap();
    std::fs::remove_file(dir.join("sysctl")).unwrap();
    std::fs::rename(dir.join("sysctl.tmp"), dir.join("sysctl")).unwrap();
    pktbox(["--install", dir.to_str().unwrap()], &[]).code(1);
    assert_eq!(
        std::fs::read_link(dir.join("sysctl")).unwrap(),
        std::path::PathBuf::from("/bin/true")
    );

    // With --force they are replaced.
    pktbox(["--install", dir.to_str().unwrap(), "--force"], &[]).ok();
    for a in ["ifconfig", "sysctl"] {
        assert!(
            std::fs::symlink_metadata(dir.join(a)).unwrap().file_type().is_symlink(),
            "{a}"
        );
        assert_eq!(
            std::fs::canonicalize(dir.join(a)).unwrap(),
            std::fs::canonicalize(bin()).unwrap()
        );
    }
}

#[test]
fn unknown_applets_exit_2_listing_the_applets() {
    let o = pktbox(["nosuch", "-a"], &[]).code(2);
    assert_eq!(o.stdout, "");
    let mut lines = o.stderr.lines();
    assert_eq!(lines.next(), Some("pktbox: nosuch: applet not found"));
    let list = lines.next().expect("a line listing the applets");
    for a in APPLETS {
        assert!(list.split_whitespace().any(|w| w == *a), "{a} in {list}");
    }
    // The same through a link of an unknown name.
    let d = TempDir::new();
    let link = d.join("frobnicate");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let o = Command::new(&link).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.starts_with("pktbox: frobnicate: applet not found\n"), "{e}");
    // Unknown options of pktbox itself are usage errors too.
    pktbox(["--bogus"], &[]).code(2);
    // `pktbox APPLET` runs the applet.
    let o = pktbox(["sysctl"], &[]).code(1);
    assert!(o.stderr.starts_with("usage: sysctl"), "{o:#?}");
    let o = pktbox(["--version"], &[]).ok();
    assert!(o.stdout.starts_with("pktbox "), "{o:#?}");
}
