//! pfctl's pf.conf parser: any text parses to a ruleset or to errors that each name the
//! file and a line of it, never a panic; every parsed rule prints, and the printed rules
//! parse again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pktbox_fuzz::parse::{parse, Env, IfAddress};
use pktbox_fuzz::print;

fn read_file(p: &str) -> Result<String, String> {
    match p {
        "t" => Ok("10.0.0.1 10.1.0.0/16 !10.1.2.3\n".into()),
        "a" => Ok("pass in proto tcp to port 25\n".into()),
        "loop" => Ok("include \"loop\"\n".into()),
        _ => Err("No such file or directory".into()),
    }
}

fn key() -> [u8; 16] {
    [7; 16]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ifaddr = |n: &str, a: &str, p: u8| IfAddress {
        ifname: n.into(),
        addr: a.parse().unwrap(),
        prefix: p,
        broadcast: None,
        peer: None,
        loopback: n == "lo0",
    };
    let env = Env {
        filename: "pf.conf".into(),
        defines: vec![("ext".into(), "en1".into())],
        ifaddrs: Some(vec![
            ifaddr("lo0", "127.0.0.1", 8),
            ifaddr("en0", "10.0.0.1", 24),
            ifaddr("en1", "2001:db8::1", 64),
        ]),
        ifnames: vec!["lo0".into(), "en0".into(), "en1".into()],
        read_file: &read_file,
        resolve: None,
        random_key: &key,
    };
    match parse(text, &env) {
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(e.starts_with("pf.conf:") || e.contains(':'), "error without a place: {e}");
            }
        }
        Ok(p) => {
            let rs = &p.ruleset;
            let mut again = String::from("set require-order no\n");
            for r in &rs.scrub {
                again.push_str(&print::scrub_text(r, true));
                again.push('\n');
            }
            for r in &rs.nat {
                let _ = print::nat_text(r, true);
            }
            for r in &rs.filter {
                let t = print::rule_text(r, false);
                again.push_str(&t);
                again.push('\n');
            }
            for t in &rs.tables {
                let _ = print::table_def_text(t);
            }
            for a in &rs.altq {
                let _ = print::altq_text(a);
            }
            for q in &rs.queues {
                let _ = print::queue_text(q);
            }
            let _ = parse(&again, &env);
        }
    }
});
