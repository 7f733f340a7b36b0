use super::*;

fn dump(expr: &str) -> String {
    let p = compile(expr, &Options::default()).unwrap_or_else(|e| panic!("{expr}: {e}"));
    crate::applets::tcpdump::print::dump(&p, 1)
}

#[test]
fn smoke() {
    for e in [
        "ip",
        "tcp port 80",
        "host 1.2.3.4",
        "vlan 10 and tcp[13] & 2 != 0",
        "ip6 net fe80::/10",
    ] {
        eprintln!("{e}\n{}", dump(e));
    }
}
