//! The parser and the printer together: pf.conf text in, NetBSD's normalized rule text
//! out (what `pfctl -nvf` prints), and the errors with their lines.

use std::net::IpAddr;

use pktbox_stack::msg::pf::*;

use super::parse::{parse, Env, IfAddress, Parsed};
use super::print;

fn ifaddrs() -> Vec<IfAddress> {
    let a = |ifname: &str, addr: &str, prefix: u8, loopback: bool| IfAddress {
        ifname: ifname.into(),
        addr: addr.parse().unwrap(),
        prefix,
        broadcast: None,
        peer: None,
        loopback,
    };
    vec![
        a("lo0", "127.0.0.1", 8, true),
        a("lo0", "::1", 128, true),
        a("en0", "10.0.0.1", 24, false),
        a("en0", "fe80::1", 64, false),
        a("en1", "192.168.1.1", 24, false),
        a("en1", "2001:db8::1", 64, false),
    ]
}

fn no_file(p: &str) -> Result<String, String> {
    match p {
        "/etc/bad-hosts" => Ok("10.9.9.9\n# comment\n10.8.0.0/16 !10.8.1.1\n".into()),
        "/etc/pf.anchor" => Ok("pass in proto tcp to port 25\n".into()),
        _ => Err("No such file or directory".into()),
    }
}

fn resolve(name: &str) -> Vec<IpAddr> {
    match name {
        "gw" => vec!["10.0.0.254".parse().unwrap()],
        _ => Vec::new(),
    }
}

fn key() -> [u8; 16] {
    [0x11; 16]
}

fn run(text: &str) -> Result<Parsed, Vec<String>> {
    let env = Env {
        filename: "pf.conf".into(),
        defines: vec![],
        ifaddrs: Some(ifaddrs()),
        ifnames: vec!["lo0".into(), "en0".into(), "en1".into()],
        read_file: &no_file,
        resolve: Some(&resolve),
        random_key: &key,
    };
    parse(text, &env)
}

/// The rules as `pfctl -nvf` prints them (scrub, nat/rdr/binat, filter).
fn text(p: &Parsed) -> Vec<String> {
    let rs = &p.ruleset;
    let mut out = Vec::new();
    out.extend(rs.scrub.iter().map(|r| print::scrub_text(r, false)));
    for k in [NatKind::Nat, NatKind::Rdr, NatKind::Binat] {
        out.extend(rs.nat.iter().filter(|r| r.kind == k).map(|r| print::nat_text(r, false)));
    }
    out.extend(rs.filter.iter().map(|r| print::rule_text(r, false)));
    out
}

fn ok(src: &str) -> Vec<String> {
    match run(src) {
        Ok(p) => text(&p),
        Err(e) => panic!("{src:?}: {e:?}"),
    }
}

fn one(src: &str) -> String {
    let v = ok(src);
    assert_eq!(v.len(), 1, "{src:?} gave {v:?}");
    v[0].clone()
}

fn errors(src: &str) -> Vec<String> {
    match run(src) {
        Ok(p) => panic!("{src:?} parsed: {:?}", text(&p)),
        Err(e) => e,
    }
}

#[test]
fn reference_examples() {
    assert_eq!(one("pass all"), "pass all flags S/SA keep state");
    assert_eq!(one("block in all"), "block drop in all");
    assert_eq!(
        one("pass in on en0 proto tcp to port 22"),
        "pass in on en0 proto tcp from any to any port = ssh flags S/SA keep state"
    );
    assert_eq!(one("scrub in all"), "scrub in all fragment reassemble");
    assert_eq!(
        one("nat on en0 from 10.0.0.0/24 to any -> 192.168.1.1"),
        "nat on en0 inet from 10.0.0.0/24 to any -> 192.168.1.1"
    );
    assert_eq!(
        one("rdr on en0 proto tcp to 192.168.1.1 port 80 -> 10.0.0.2 port 8080"),
        "rdr on en0 inet proto tcp from any to 192.168.1.1 port = http -> 10.0.0.2 port 8080"
    );
    assert_eq!(
        ok("antispoof for en0 inet"),
        vec![
            "block drop in on ! en0 inet from 10.0.0.0/24 to any",
            "block drop in inet from 10.0.0.1 to any"
        ]
    );
}

#[test]
fn filter_rule_details() {
    assert_eq!(one("pass proto udp all"), "pass proto udp all keep state");
    assert_eq!(
        one("pass inet proto icmp all icmp-type echoreq"),
        "pass inet proto icmp all icmp-type echoreq keep state"
    );
    assert_eq!(one("pass all no state"), "pass all no state");
    assert_eq!(
        one("pass proto tcp all flags any"),
        "pass proto tcp all flags any keep state"
    );
    assert_eq!(
        one(
            "block return-rst in quick log on ! en1 inet proto tcp from ! 10.0.0.0/8 port > 1023 to any port 1000:2000"
        ),
        "block return-rst in log quick on ! en1 inet proto tcp from ! 10.0.0.0/8 port > 1023 to any port 1000:2000"
    );
    assert_eq!(
        one("block return-icmp(host-unr) inet all"),
        "block return-icmp(host-unr) inet all"
    );
    assert_eq!(one("set block-policy return\nblock all"), "block return all");
    assert_eq!(
        one("pass in proto tcp to port { 1 >< 5 } modulate state (max 100, tcp.established 60) label \"x\" tag T queue std"),
        "pass in proto tcp from any to any port 1 >< 5 flags S/SA modulate state (max 100, tcp.established 60) label \"x\" queue std tag T"
    );
    assert_eq!(
        one("pass in on en0 proto tcp to (en0) port ssh synproxy state (max-src-conn-rate 20/5, overload <flood> flush global)"),
        "pass in on en0 proto tcp from any to (en0) port = ssh flags S/SA synproxy state (source-track rule, max-src-conn-rate 20/5, overload <flood> flush global)"
    );
    assert_eq!(
        one("pass out log (all, to pflog1) all"),
        "pass out log (all, to pflog1) all flags S/SA keep state"
    );
    assert_eq!(
        one("pass in from en0:network to <t> tagged X"),
        "pass in inet from 10.0.0.0/24 to <t> flags S/SA keep state tagged X"
    );
    assert_eq!(
        one("block in from no-route to any"),
        "block drop in from no-route to any"
    );
    assert_eq!(
        one("pass in inet6 proto ipv6-icmp icmp6-type neighbrsol"),
        "pass in inet6 proto ipv6-icmp all icmp6-type neighbrsol keep state"
    );
    assert_eq!(
        one("pass in from 10.0.0.1 - 10.0.0.9 to gw"),
        "pass in inet from 10.0.0.1 - 10.0.0.9 to 10.0.0.254 flags S/SA keep state"
    );
    assert_eq!(one("anchor \"spam\" in on en0"), "anchor \"spam\" in on en0 all");
    assert_eq!(
        one("pass in all probability 50%"),
        "pass in all flags S/SA keep state probability 50%"
    );
}

#[test]
fn lists_expand_to_the_cross_product() {
    let v = ok("ports = \"{ ssh, http }\"\nhosts = \"{ 10.0.0.2, 2001:db8::2 }\"\npass in on { en0, en1 } proto tcp to $hosts port $ports");
    assert_eq!(v.len(), 8, "{v:?}");
    assert_eq!(
        v[0],
        "pass in on en0 inet proto tcp from any to 10.0.0.2 port = ssh flags S/SA keep state"
    );
    assert_eq!(
        v[3],
        "pass in on en0 inet6 proto tcp from any to 2001:db8::2 port = http flags S/SA keep state"
    );
    // Families that disagree drop out; none left is an error.
    assert_eq!(ok("pass inet from { 10.0.0.1, ::1 }").len(), 1);
    assert_eq!(
        errors("pass inet6 from 10.0.0.1 to any"),
        vec!["pf.conf:1: rule expands to no valid combination"]
    );
}

#[test]
fn macros_continuations_and_comments() {
    let v = ok("ext_if = \"en1\" # outside\n\
                tcp_svc = \"ssh smtp\"\n\
                pass out on $ext_if proto tcp \\\n  to port { $tcp_svc } # both\n");
    assert_eq!(v.len(), 2);
    assert!(v[1].contains("port = smtp"), "{v:?}");
    assert_eq!(errors("pass on $nope"), vec!["pf.conf:1: macro 'nope' not defined"]);
}

#[test]
fn tables() {
    let p = run(
        "table <bad> persist { 10.1.0.0/16, !10.1.2.3 }\ntable <f> const file \"/etc/bad-hosts\"\nblock in from <bad>",
    )
    .unwrap();
    let t = &p.ruleset.tables;
    assert_eq!(t.len(), 2);
    assert_eq!(
        print::table_def_text(&t[0]),
        "table <bad> persist { 10.1.0.0/16 !10.1.2.3 }"
    );
    assert_eq!(
        print::table_def_text(&t[1]),
        "table <f> const { 10.9.9.9 10.8.0.0/16 !10.8.1.1 }"
    );
    assert_eq!(text(&p), vec!["block drop in from <bad> to any"]);
    assert_eq!(
        errors("table <x> bogus"),
        vec!["pf.conf:1: invalid table option 'bogus'"]
    );
}

#[test]
fn options() {
    let p = run("set timeout { tcp.first 60, udp.single 10 }\nset limit states 100000\nset loginterface en0\nset skip on { lo0 en1 }\nset debug misc\n").unwrap();
    let o = &p.ruleset.options;
    assert_eq!(o.timeouts, vec![(Timeout::TcpFirst, 60), (Timeout::UdpSingle, 10)]);
    assert_eq!(o.limits, vec![(Limit::States, 100000)]);
    assert_eq!(o.loginterface, Some(Some("en0".into())));
    assert_eq!(o.skip, Some(vec!["lo0".to_string(), "en1".to_string()]));
    assert_eq!(o.debug, Some(Debug::Misc));
    assert_eq!(errors("set timeout bogus 5"), vec!["pf.conf:1: unknown timeout bogus"]);
}

#[test]
fn translation() {
    assert_eq!(
        one("nat on en1 from 10.0.0.0/24 to any -> (en1) static-port"),
        "nat on en1 inet from 10.0.0.0/24 to any -> (en1) static-port"
    );
    assert_eq!(
        one("nat pass on en1 inet all -> 192.168.1.1 port 2000:3000"),
        "nat pass on en1 inet all -> 192.168.1.1 port 2000:3000"
    );
    assert_eq!(
        one("rdr on en1 proto tcp to port 8089 -> { 10.0.0.2, 10.0.0.3 } port 80 round-robin sticky-address"),
        "rdr on en1 inet proto tcp from any to any port = 8089 -> { 10.0.0.2, 10.0.0.3 } port 80 round-robin sticky-address"
    );
    assert_eq!(
        one("binat on en1 from 10.0.0.2 to any -> 192.168.1.2"),
        "binat on en1 inet from 10.0.0.2 to any -> 192.168.1.2"
    );
    assert_eq!(
        one("no nat on en1 from 10.0.0.5 to any"),
        "no nat on en1 inet from 10.0.0.5 to any"
    );
    assert_eq!(
        one("nat on en1 inet6 from 2001:db8::/64 to any -> (en1:0) source-hash 0x00112233445566778899aabbccddeeff"),
        "nat on en1 inet6 from 2001:db8::/64 to any -> (en1:0) source-hash 0x00112233445566778899aabbccddeeff"
    );
    assert_eq!(
        errors("nat on en1 from any to any"),
        vec!["pf.conf:1: translation rule requires '-> address'"]
    );
}

#[test]
fn scrub_and_queues() {
    assert_eq!(
        one("scrub out on en1 all no-df random-id min-ttl 5 max-mss 1440 reassemble tcp fragment crop"),
        "scrub out on en1 all no-df random-id min-ttl 5 max-mss 1440 reassemble tcp fragment crop"
    );
    let p = run("altq on en0 priq bandwidth 10Mb queue { ssh, std }\nqueue ssh priority 7\nqueue std priority 1 priq(default)\npass out proto tcp to port 22 queue ssh").unwrap();
    assert_eq!(
        print::altq_text(&p.ruleset.altq[0]),
        "altq on en0 priq bandwidth 10Mb queue { ssh, std }"
    );
    assert_eq!(print::queue_text(&p.ruleset.queues[0]), "queue ssh priority 7");
    assert_eq!(
        print::queue_text(&p.ruleset.queues[1]),
        "queue std priority 1 priq( default )"
    );
    assert_eq!(p.ruleset.queues[1].ifname, "en0");
    assert_eq!(
        errors("altq on en0 cbq bandwidth 10Mb queue { a }"),
        vec!["pf.conf:1: cbq: ALTQ discipline not supported (only priq)"]
    );
    assert_eq!(
        errors("altq on en0 priq bandwidth 1Mb queue { a }\nqueue a priority 1 priq(red)"),
        vec!["pf.conf:2: priq option red is not supported"]
    );
}

#[test]
fn order_is_enforced_unless_told_otherwise() {
    assert_eq!(
        errors("pass all\nscrub in all"),
        vec!["pf.conf:2: Rules must be in order: options, normalization, queueing, translation, filtering"]
    );
    assert_eq!(ok("set require-order no\npass all\nscrub in all").len(), 2);
}

#[test]
fn errors_carry_their_line_and_parsing_goes_on() {
    let e = errors(
        "pass all\n\npass in bogus\npass out proto nosuch all\nblock in keep state\npass proto icmp to port 80\n",
    );
    assert_eq!(
        e,
        vec![
            "pf.conf:3: syntax error",
            "pf.conf:4: unknown protocol nosuch",
            "pf.conf:5: keep state on block rules doesn't make sense",
            "pf.conf:6: port only applies to tcp/udp",
        ]
    );
    assert_eq!(
        errors("pass from nosuchhost"),
        vec!["pf.conf:1: no IP address found for nosuchhost"]
    );
    assert_eq!(
        errors("pass \"unterminated"),
        vec!["pf.conf:1: unterminated quotes in string"]
    );
}

#[test]
fn load_anchor_and_rule_numbers() {
    let p = run("anchor \"mail\"\nload anchor mail from \"/etc/pf.anchor\"").unwrap();
    assert_eq!(p.anchors.len(), 1);
    assert_eq!(p.anchors[0].0, "mail");
    assert_eq!(
        print::rule_text(&p.anchors[0].1.filter[0], false),
        "pass in proto tcp from any to any port = smtp flags S/SA keep state"
    );
    let mut r = p.ruleset.filter[0].clone();
    r.nr = 3;
    assert_eq!(print::rule_text(&r, true), "@3 anchor \"mail\" all");
}

#[test]
fn hostile_input_never_panics() {
    for s in [
        "{{{{",
        "}",
        "a = \"$a\"\npass from $a",
        "pass from { { 10.0.0.1 } }",
        "pass proto tcp from any port { 1 2 3 4 } to any port { 1:2 3<>4 }",
        "table <",
        "pass in on ( en0",
        "pass in all flags /",
        "nat on en0 -> ",
        "queue",
        "set",
        "\\",
        "pass in from 10.0.0.1/200",
        "pass in from 10.0.0.1 - ::1",
        "block return-icmp(",
        "pass keep state (max-src-conn-rate 0/0)",
        "x = y\n$x = 5",
    ] {
        let _ = run(s);
    }
}
