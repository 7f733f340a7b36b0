//! The compiler alone, without libpcap (the differential test in `../difftest.rs` compares
//! it with libpcap on thousands of frames).

use pktbox_stack::wire::bpf::{bpf_filter, bpf_validate, BpfInsn};

use super::*;
use crate::applets::tcpdump::print::dump;

fn prog(expr: &str) -> Vec<BpfInsn> {
    let p = compile(expr, &Options::default()).unwrap_or_else(|e| panic!("{expr}: {e}"));
    bpf_validate(&p).unwrap_or_else(|e| panic!("{expr}: invalid program: {e}\n{}", dump(&p, 1)));
    p
}

fn err(expr: &str) -> String {
    match compile(expr, &Options::default()) {
        Ok(p) => panic!("{expr} compiled:\n{}", dump(&p, 1)),
        Err(e) => e.to_string(),
    }
}

/// An Ethernet frame: IPv4 (optionally in a VLAN tag) with `proto`, addresses and ports.
fn ipv4(vlan: Option<u16>, proto: u8, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    if let Some(v) = vlan {
        f.extend([0x81, 0x00]);
        f.extend(v.to_be_bytes());
    }
    f.extend([0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, proto, 0, 0]);
    f.extend(src);
    f.extend(dst);
    f.extend(sport.to_be_bytes());
    f.extend(dport.to_be_bytes());
    f.extend([0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0, 0, 0, 0, 0, 0]);
    f
}

fn accepts(expr: &str, frame: &[u8]) -> bool {
    bpf_filter(&prog(expr), frame, frame.len() as u32) != 0
}

/// Programs as tcpdump 4.99.3 (libpcap 1.10.3) prints them with -d.
#[test]
fn programs_are_libpcaps() {
    assert_eq!(
        dump(&prog("tcp port 80"), 1),
        "(000) ldh      [12]\n\
         (001) jeq      #0x86dd          jt 2\tjf 8\n\
         (002) ldb      [20]\n\
         (003) jeq      #0x6             jt 4\tjf 19\n\
         (004) ldh      [54]\n\
         (005) jeq      #0x50            jt 18\tjf 6\n\
         (006) ldh      [56]\n\
         (007) jeq      #0x50            jt 18\tjf 19\n\
         (008) jeq      #0x800           jt 9\tjf 19\n\
         (009) ldb      [23]\n\
         (010) jeq      #0x6             jt 11\tjf 19\n\
         (011) ldh      [20]\n\
         (012) jset     #0x1fff          jt 19\tjf 13\n\
         (013) ldxb     4*([14]&0xf)\n\
         (014) ldh      [x + 14]\n\
         (015) jeq      #0x50            jt 18\tjf 16\n\
         (016) ldh      [x + 16]\n\
         (017) jeq      #0x50            jt 18\tjf 19\n\
         (018) ret      #262144\n\
         (019) ret      #0\n"
    );
    assert_eq!(
        dump(&prog("not arp"), 1),
        "(000) ldh      [12]\n\
         (001) jeq      #0x806           jt 2\tjf 3\n\
         (002) ret      #0\n\
         (003) ret      #262144\n"
    );
    assert_eq!(
        dump(&prog("vlan 10 and tcp[13] & 2 != 0"), 1),
        "(000) ldh      [12]\n\
         (001) jeq      #0x8100          jt 4\tjf 2\n\
         (002) jeq      #0x88a8          jt 4\tjf 3\n\
         (003) jeq      #0x9100          jt 4\tjf 17\n\
         (004) ldh      [14]\n\
         (005) and      #0xfff\n\
         (006) jeq      #0xa             jt 7\tjf 17\n\
         (007) ldh      [16]\n\
         (008) jeq      #0x800           jt 9\tjf 17\n\
         (009) ldb      [27]\n\
         (010) jeq      #0x6             jt 11\tjf 17\n\
         (011) ldh      [24]\n\
         (012) jset     #0x1fff          jt 17\tjf 13\n\
         (013) ldxb     4*([18]&0xf)\n\
         (014) ldb      [x + 31]\n\
         (015) jset     #0x2             jt 16\tjf 17\n\
         (016) ret      #262144\n\
         (017) ret      #0\n"
    );
    // The or of two hosts tests each field for both addresses while it is loaded.
    assert_eq!(
        dump(&prog("host 10.0.0.1 or 10.0.0.2"), 3),
        "17\n40 0 0 12\n21 0 5 2048\n32 0 0 26\n21 11 0 167772161\n21 10 0 167772162\n32 0 0 30\n\
         21 8 7 167772161\n21 1 0 2054\n21 0 7 32821\n32 0 0 28\n21 4 0 167772161\n21 3 0 167772162\n\
         32 0 0 38\n21 1 0 167772161\n21 0 1 167772162\n6 0 0 262144\n6 0 0 0\n"
    );
}

#[test]
fn empty_expression_and_snaplen() {
    let all = compile("", &Options::default()).unwrap();
    assert_eq!(dump(&all, 1), "(000) ret      #262144\n");
    let opts = Options {
        snaplen: 96,
        ..Default::default()
    };
    assert_eq!(compile("ip", &opts).unwrap().last().map(|i| i.k), Some(0));
    let p = compile("ip", &opts).unwrap();
    let f = ipv4(None, 6, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2);
    assert_eq!(bpf_filter(&p, &f, f.len() as u32), 96);
}

#[test]
fn verdicts() {
    let syn = ipv4(None, 6, [10, 0, 0, 1], [10, 0, 0, 2], 1234, 80);
    let tagged = ipv4(Some(10), 17, [192, 168, 1, 5], [10, 0, 0, 2], 53, 4000);
    for (expr, f, want) in [
        ("tcp port 80", &syn, true),
        ("tcp src port 80", &syn, false),
        ("udp port 80", &syn, false),
        ("host 10.0.0.1 and dst host 10.0.0.2", &syn, true),
        ("src net 10.0.0.0/8 and not dst net 192.168", &syn, true),
        ("tcp[tcpflags] & tcp-syn != 0", &syn, true),
        ("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-ack", &syn, false),
        ("ip[0] & 0xf != 5", &syn, false),
        ("portrange 70-90", &syn, true),
        ("ether src 2:0:0:0:0:1 && ether dst 02:00:00:00:00:02", &syn, true),
        ("len = 54 and greater 54 and less 54", &syn, true),
        ("ip", &tagged, false),
        ("vlan 10 and udp src port domain", &tagged, true),
        ("vlan 11", &tagged, false),
        ("vlan and net 192.168.1.0 mask 255.255.255.0", &tagged, true),
    ] {
        assert_eq!(accepts(expr, f), want, "{expr}");
    }
}

#[test]
fn loads_past_the_end_reject() {
    let syn = ipv4(None, 6, [10, 0, 0, 1], [10, 0, 0, 2], 1234, 80);
    let p = prog("tcp dst port 80");
    // Cut inside the destination port: the program gives up with 0.
    assert_eq!(bpf_filter(&p, &syn[..37], syn.len() as u32), 0);
    assert_ne!(bpf_filter(&p, &syn[..38], syn.len() as u32), 0);
    // `not` does not turn that into a match.
    assert_eq!(bpf_filter(&prog("not tcp dst port 81"), &syn[..37], 54), 0);
}

/// An identifier after `and`/`or` takes the qualifiers of the term before it.
#[test]
fn qualifiers_carry_over() {
    for (short, long) in [
        ("host 10.0.0.1 or 10.0.0.2", "host 10.0.0.1 or host 10.0.0.2"),
        ("tcp dst port 80 or 443", "tcp dst port 80 or tcp dst port 443"),
        ("port 80 and (443 or 22)", "port 80 and (port 443 or port 22)"),
        ("not host 10.0.0.1 and 10.0.0.2", "not host 10.0.0.1 and host 10.0.0.2"),
        ("host 10.0.0.1 and not 10.0.0.2", "host 10.0.0.1 and not host 10.0.0.2"),
        (
            "ether src 1:2:3:4:5:6 or 6:5:4:3:2:1",
            "ether src 1:2:3:4:5:6 or ether src 6:5:4:3:2:1",
        ),
    ] {
        assert_eq!(prog(short), prog(long), "{short}");
    }
}

/// `and` and `or` bind alike, left to right; `not` binds tightest; arithmetic as in C.
#[test]
fn precedence() {
    for (a, b) in [
        ("tcp or udp and port 53", "(tcp or udp) and port 53"),
        ("not tcp and udp", "(not tcp) and udp"),
        ("! tcp || udp && arp", "((not tcp) or udp) and arp"),
        ("ip[0] + 1 * 2 = 3", "ip[0] + (1 * 2) = 3"),
        ("ip[0] | 1 ^ 2 & 3 = 3", "ip[0] | (1 ^ (2 & 3)) = 3"),
        ("ip[0] - 1 - 1 = 3", "(ip[0] - 1) - 1 = 3"),
        ("ip[0] << 1 + 1 = 3", "ip[0] << (1 + 1) = 3"),
        ("-ip[0] + 1 = 3", "(-ip[0]) + 1 = 3"),
    ] {
        assert_eq!(prog(a), prog(b), "{a}");
    }
}

#[test]
fn vlan_moves_what_follows() {
    let p = dump(&prog("vlan and ip"), 1);
    assert!(p.contains("ldh      [16]"), "{p}");
    // Every vlan adds four bytes, for everything after it, as in libpcap.
    let p = dump(&prog("vlan 1 or vlan 2"), 1);
    assert!(p.contains("ldh      [18]"), "{p}");
    // Link-level fields do not move.
    let p = dump(&prog("vlan and ether host 1:2:3:4:5:6"), 1);
    assert!(p.contains("ld       [8]") && p.contains("ldh      [6]"), "{p}");
}

#[test]
fn long_programs_jump_through_ja() {
    // Hundreds of instructions between the first tests and the returns.
    let expr = (1..300)
        .map(|p| format!("ether[{}] = {p}", p % 50))
        .collect::<Vec<_>>()
        .join(" or ");
    let p = prog(&expr);
    assert_eq!(p.len(), 430);
    assert!(dump(&p, 1).contains("(002) ja       428\n"));
    let mut f = vec![0u8; 60];
    assert_eq!(bpf_filter(&p, &f, 60), 0);
    f[1] = 1;
    assert_ne!(bpf_filter(&p, &f, 60), 0);
    f[1] = 0;
    f[49] = 249;
    assert_ne!(bpf_filter(&p, &f, 60), 0);
}

/// An expression whose program would be longer than BPF_MAXINSNS is refused by the
/// compiler (found by the filter fuzz target: an unoptimized chain of `port` tests made
/// 4300 instructions, which the validator then refused).
#[test]
fn programs_longer_than_a_capture_takes_are_refused() {
    let expr = (0..116).map(|p| format!("port {p}")).collect::<Vec<_>>().join(" or ");
    let unopt = Options {
        optimize: false,
        linktype: DLT_NULL,
        ..Default::default()
    };
    let long = build(&expr, &unopt).expect("it builds");
    assert!(long.len() > BPF_MAXINSNS, "{} instructions", long.len());
    match compile(&expr, &unopt) {
        Ok(p) => panic!("{} instructions", p.len()),
        Err(e) => assert_eq!(e.to_string(), "expression too complex"),
    }
    // Optimized, the same expression fits and is valid.
    let p = compile(&expr, &Options::default()).expect("optimized");
    assert!(p.len() <= BPF_MAXINSNS);
    bpf_validate(&p).expect("valid");
}

/// libpcap's messages for what does not compile (syntax errors also say where).
#[test]
fn errors() {
    for (expr, msg) in [
        ("host nosuchhost.invalid", "unknown host 'nosuchhost.invalid'"),
        ("port 99999", "illegal port number 99999 > 65535"),
        ("net 10.0.0.1/8", "non-network bits set in \"10.0.0.1/8\""),
        ("ip[0] / 0 = 1", "division by zero"),
        ("ip[0] % 0 = 1", "modulus by zero"),
        ("ip and 1.2.3.4", "syntax error in filter expression"),
        ("ip6 host 1.2.3.4", "'ip6' modifier applied to ip host"),
        ("tcp host 1.2.3.4", "'tcp' modifier applied to host"),
        ("udp net 10.0.0.0/8", "'udp' modifier applied to net"),
        ("port nosuch", "unknown port 'nosuch'"),
        ("ip[0:3]=1", "data size must be 1, 2, or 4"),
        ("ether host 1.2.3.4", "illegal link layer address"),
        ("host 1:2:3:4:5:6", "ethernet address used in non-ether expression"),
        ("net 2001:db8::/129", "mask length must be <= 128"),
        ("host fe80::/64", "Mask syntax for networks only"),
        ("ip[0] = 09", "number 09 contains non-octal digit"),
        ("ip[0] = 4294967296", "number 4294967296 overflows 32 bits"),
        ("arp proto 1", "arp does not encapsulate another protocol"),
        ("icmp proto 1", "'icmp proto' is bogus"),
        ("ip6 broadcast", "only link-layer/IP broadcast filters supported"),
        ("vlan 4096", "VLAN tag 4096 greater than maximum 4095"),
        ("tcp[0] << 32 = 0", "shift by more than 31 bits"),
        ("ah[0] = 1", "unsupported index operation"),
        ("host 1.2.3.256", "invalid IPv4 address '1.2.3.256'"),
        ("port 1.2.3.4", "'port' modifier applied to ip host"),
        ("port ::1", "invalid qualifier against IPv6 address"),
        ("ether proto \\tcp", "unknown ether proto 'tcp'"),
        ("ether", "link layer applied in wrong context"),
        ("tcp and udp", "expression rejects all packets"),
        (
            "foo",
            "can't parse filter expression: syntax error at 'foo' (character 1)",
        ),
        (
            "tcp and",
            "can't parse filter expression: syntax error at end of expression",
        ),
        (
            "tcp and (udp or",
            "can't parse filter expression: syntax error at end of expression",
        ),
        (
            "ether 1:2:3:4:5:6",
            "can't parse filter expression: syntax error at '1:2:3:4:5:6' (character 7)",
        ),
        (
            "1.2.3.4",
            "can't parse filter expression: syntax error at '1.2.3.4' (character 1)",
        ),
        (
            "ip[0] = $",
            "can't parse filter expression: syntax error at '$' (character 9)",
        ),
        ("mpls", "'mpls' is not supported by this filter compiler"),
    ] {
        assert_eq!(err(expr), msg, "{expr}");
    }
}

#[test]
fn names() {
    // Named constants are numbers anywhere.
    assert_eq!(prog("icmp[icmptype] = icmp-echo"), prog("icmp[0] = 8"));
    assert_eq!(prog("tcp[tcpflags] = tcp-syn|tcp-ack"), prog("tcp[13] = 0x12"));
    assert_eq!(prog("ether proto \\ip6"), prog("ip6"));
    assert_eq!(prog("ip proto \\tcp"), prog("ip proto 6"));
    // Numbers in three bases.
    assert_eq!(prog("ip[0] = 0x45"), prog("ip[0] = 69"));
    assert_eq!(prog("ip[0] = 0105"), prog("ip[0] = 69"));
    // Short network numbers move to the top; short addresses too.
    assert_eq!(prog("net 10"), prog("net 10.0.0.0/8"));
    assert_eq!(prog("net 192.168"), prog("net 192.168.0.0/16"));
    assert_eq!(prog("host 10.1"), prog("net 10.1.0.0/16"));
    // Ethernet addresses in every form.
    let e = prog("ether host 01:02:03:04:05:06");
    for form in ["1-2-3-4-5-6", "1.2.3.4.5.6", "0102.0304.0506", "010203040506"] {
        assert_eq!(prog(&format!("ether host {form}")), e, "{form}");
    }
}

#[test]
fn unoptimized_programs_mean_the_same() {
    let unopt = Options {
        optimize: false,
        ..Default::default()
    };
    let frames = [
        ipv4(None, 6, [10, 0, 0, 1], [10, 0, 0, 2], 1234, 80),
        ipv4(Some(10), 17, [192, 168, 1, 5], [10, 0, 0, 2], 53, 4000),
        ipv4(None, 1, [8, 8, 8, 8], [10, 0, 0, 2], 0x0800, 0),
    ];
    for expr in [
        "tcp port 80 or udp port 53",
        "vlan and udp",
        "icmp[icmptype] = icmp-echo or host 8.8.8.8",
        "not (src net 10.0.0.0/8 and tcp[13] & 2 != 0)",
    ] {
        let a = compile(expr, &unopt).unwrap();
        bpf_validate(&a).unwrap();
        let b = prog(expr);
        assert!(a.len() >= b.len(), "{expr}");
        for f in &frames {
            assert_eq!(bpf_filter(&a, f, 200), bpf_filter(&b, f, 200), "{expr}");
        }
    }
}

/// Whatever the words, the compiler answers with a program or an error, never a panic, and
/// its programs pass validation.
#[test]
fn any_input_gets_an_answer() {
    const WORDS: &[&str] = &[
        "ip",
        "ip6",
        "tcp",
        "udp",
        "icmp",
        "arp",
        "ether",
        "vlan",
        "host",
        "net",
        "port",
        "portrange",
        "proto",
        "src",
        "dst",
        "and",
        "or",
        "not",
        "!",
        "&&",
        "||",
        "(",
        ")",
        "[",
        "]",
        ":",
        "+",
        "-",
        "*",
        "/",
        "%",
        "&",
        "|",
        "^",
        "<<",
        ">>",
        "=",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
        "len",
        "less",
        "greater",
        "broadcast",
        "multicast",
        "mask",
        "0",
        "1",
        "2",
        "4",
        "80",
        "0x800",
        "65536",
        "10.0.0.1",
        "10.1",
        "fe80::1",
        "1:2:3:4:5:6",
        "tcpflags",
        "tcp-syn",
        "\\tcp",
        "http",
        "10.0.0.0/8",
        "/",
        "é",
        "$",
        "gateway",
        "protochain",
        "mpls",
        "icmp6",
        "byte",
    ];
    let mut seed: u64 = 0x1234_5678_9abc_def1;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..8_000 {
        let n = 1 + (next() % 12) as usize;
        let expr: Vec<&str> = (0..n).map(|_| WORDS[(next() % WORDS.len() as u64) as usize]).collect();
        let expr = expr.join(if next() % 3 == 0 { "" } else { " " });
        for optimize in [true, false] {
            if let Ok(p) = compile(
                &expr,
                &Options {
                    optimize,
                    ..Default::default()
                },
            ) {
                if let Err(e) = bpf_validate(&p) {
                    panic!("{expr:?}: invalid program: {e}\n{}", dump(&p, 1));
                }
            }
        }
    }
}

/// A pflog record (the 64-byte header) around an IPv4 TCP packet to port 22, or an IPv6
/// one when `inet6`.
fn pflog_record(inet6: bool, action: u8, reason: u8, dir: u8, ifname: &str, rule: u32) -> Vec<u8> {
    use pktbox_stack::wire::pflog::{PflogRepr, PFLOG_HDRLEN};
    let mut r = PflogRepr::new(inet6, action, reason, dir, ifname, rule);
    if rule == 9 {
        r.set_anchor("ftp-proxy", 2);
    }
    let mut b = vec![0u8; PFLOG_HDRLEN];
    r.emit(&mut b).unwrap();
    if inet6 {
        b.extend([0x60, 0, 0, 0, 0, 20, 6, 64]);
        b.extend([0xfe, 0x80].iter().chain(&[0; 13]).chain(&[1]));
        b.extend([0xfe, 0x80].iter().chain(&[0; 13]).chain(&[2]));
    } else {
        b.extend([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1]);
    }
    b.extend([0x9c, 0x40, 0, 22, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0, 0, 0, 0, 0, 0]);
    b
}

fn pf_opts() -> Options {
    Options {
        linktype: DLT_PFLOG,
        ..Options::default()
    }
}

fn pf_accepts(expr: &str, rec: &[u8]) -> bool {
    let p = compile(expr, &pf_opts()).unwrap_or_else(|e| panic!("{expr}: {e}"));
    bpf_validate(&p).unwrap_or_else(|e| panic!("{expr}: invalid program: {e}\n{}", dump(&p, 1)));
    bpf_filter(&p, rec, rec.len() as u32) != 0
}

#[test]
fn pflog_fields_filter() {
    use pktbox_stack::wire::pflog::*;
    let block4 = pflog_record(false, PF_DROP, 0, PF_IN, "en0", 3);
    let pass6 = pflog_record(true, PF_PASS, 3, PF_OUT, "wm1", 9);
    let cases: &[(&str, bool, bool)] = &[
        ("on en0", true, false),
        ("ifname wm1", false, true),
        ("on en", true, false),
        ("rnr 3", true, false),
        ("rulenum 9", false, true),
        ("srnr 2", false, true),
        ("subrulenum 2 and ruleset ftp-proxy", false, true),
        ("rset ftp", false, true),
        ("reason match", true, false),
        ("reason short", false, true),
        ("reason 3", false, true),
        ("action block", true, false),
        ("action drop", true, false),
        ("action pass", false, true),
        ("inbound", true, false),
        ("outbound", false, true),
        ("ip", true, false),
        ("ip6", false, true),
        ("tcp dst port 22", true, true),
        ("host 10.0.0.1", true, false),
        ("ip6 and tcp and on wm1", false, true),
        ("not on en0 and outbound", false, true),
        ("udp", false, false),
    ];
    for &(expr, a, b) in cases {
        assert_eq!(pf_accepts(expr, &block4), a, "{expr} on the v4 block record");
        assert_eq!(pf_accepts(expr, &pass6), b, "{expr} on the v6 pass record");
    }
    // The older 48-byte header: its fields match, network-layer tests never do.
    let mut old = block4[..48].to_vec();
    old[0] = 45;
    old[44] = PF_IN;
    old.extend_from_slice(&block4[64..]);
    assert!(pf_accepts("on en0 and rnr 3", &old));
    assert!(!pf_accepts("ip", &old));
    assert!(!pf_accepts("tcp", &old));
}

#[test]
fn pflog_primitives_are_checked() {
    let e = |x: &str, o: &Options| compile(x, o).map(|_| ()).unwrap_err().to_string();
    let en = Options::default();
    assert_eq!(e("on en0", &en), "ifname supported only on PF linktype");
    assert_eq!(e("rnr 1", &en), "rnr supported only on PF linktype");
    assert_eq!(e("reason short", &en), "reason supported only on PF linktype");
    assert_eq!(e("action pass", &en), "action supported only on PF linktype");
    let pf = pf_opts();
    assert_eq!(e("reason nope", &pf), "unknown PF reason \"nope\"");
    assert_eq!(e("action frob", &pf), "unknown PF action \"frob\"");
    assert_eq!(
        e("on a-very-long-name0", &pf),
        "ifname interface names can only be 15 characters"
    );
    assert_eq!(
        e("ruleset a-very-long-name", &pf),
        "ruleset names can only be 15 characters"
    );
    assert!(e("ether host 1:2:3:4:5:6", &pf).starts_with("ethernet addresses supported only"));
    assert!(e("inbound", &en).contains("pflog only"));
    assert!(err("on").starts_with("can't parse filter expression"));
}
