//! Names pfctl reads and prints: protocols (`/etc/protocols`), services (`/etc/services`),
//! ICMP and ICMPv6 types and codes (pfctl's tables), with a built-in fallback for the
//! common names when the databases are missing. std only (the fuzz target builds it).

use std::collections::HashMap;
use std::sync::OnceLock;

fn database(path: &str) -> &'static str {
    static PROTOCOLS: OnceLock<String> = OnceLock::new();
    static SERVICES: OnceLock<String> = OnceLock::new();
    let cell = if path.ends_with("protocols") {
        &PROTOCOLS
    } else {
        &SERVICES
    };
    cell.get_or_init(|| {
        if cfg!(fuzzing) {
            return String::new();
        }
        std::fs::read_to_string(path).unwrap_or_default()
    })
}

/// (names, number field) of each entry of a services/protocols style file.
fn entries(text: &str) -> impl Iterator<Item = (Vec<&str>, &str)> {
    text.lines().filter_map(|l| {
        let l = l.split('#').next().unwrap_or("");
        let mut f = l.split_whitespace();
        let name = f.next()?;
        let num = f.next()?;
        let mut names = vec![name];
        names.extend(f);
        Some((names, num))
    })
}

const BUILTIN_PROTOS: &[(&str, u8)] = &[
    ("ip", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ipencap", 4),
    ("tcp", 6),
    ("udp", 17),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ospf", 89),
    ("pim", 103),
    ("carp", 112),
    ("pfsync", 240),
];

/// getprotobyname: a protocol name (or alias) to its number.
pub fn proto_by_name(name: &str) -> Option<u8> {
    // pf.conf's own spelling of ICMPv6.
    if name == "icmp6" {
        return Some(58);
    }
    let db = database("/etc/protocols");
    if let Some(n) = entries(db)
        .find(|(names, _)| names.contains(&name))
        .and_then(|(_, n)| n.parse().ok())
    {
        return Some(n);
    }
    BUILTIN_PROTOS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// getprotobynumber's name, as pfctl prints `proto NAME` (the database read once).
pub fn proto_name(p: u8) -> Option<String> {
    static BY_NUMBER: OnceLock<HashMap<u8, &'static str>> = OnceLock::new();
    let map = BY_NUMBER.get_or_init(|| {
        let mut m = HashMap::new();
        for (names, num) in entries(database("/etc/protocols")) {
            if let Ok(n) = num.parse::<u8>() {
                m.entry(n).or_insert(names[0]);
            }
        }
        for (n, v) in BUILTIN_PROTOS {
            m.entry(*v).or_insert(*n);
        }
        m
    });
    map.get(&p).map(|n| n.to_string())
}

const BUILTIN_SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("pop3", 110),
    ("sunrpc", 111),
    ("auth", 113),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("bgp", 179),
    ("https", 443),
    ("submission", 587),
    ("imaps", 993),
    ("pop3s", 995),
];

/// getservbyname(name, proto).
fn service(name: &str, proto: &str) -> Option<u16> {
    let db = database("/etc/services");
    if db.is_empty() {
        return BUILTIN_SERVICES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    }
    entries(db).find_map(|(names, num)| {
        let (port, p) = num.split_once('/')?;
        (p == proto && names.contains(&name)).then(|| port.parse().ok())?
    })
}

/// A port as pf.conf writes it: a number, or a service name known for tcp or udp.
pub fn port_by_name(s: &str) -> Option<u16> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    service(s, "tcp").or_else(|| service(s, "udp"))
}

/// getservbyport(port, proto)'s name, as pfctl prints `port = ssh` (the database read
/// once).
pub fn service_name(port: u16, proto: &str) -> Option<String> {
    static BY_PORT: OnceLock<HashMap<(u16, &'static str), &'static str>> = OnceLock::new();
    let map = BY_PORT.get_or_init(|| {
        let db = database("/etc/services");
        let mut m = HashMap::new();
        if db.is_empty() {
            for (n, v) in BUILTIN_SERVICES {
                m.insert((*v, "tcp"), *n);
                m.insert((*v, "udp"), *n);
            }
        }
        for (names, num) in entries(db) {
            if let Some((p, pr)) = num.split_once('/') {
                if let Ok(p) = p.parse::<u16>() {
                    m.entry((p, pr)).or_insert(names[0]);
                }
            }
        }
        m
    });
    map.get(&(port, proto)).map(|n| n.to_string())
}

/// ICMP type names (pfctl's icmp_type table).
pub const ICMP_TYPES: &[(&str, u8)] = &[
    ("echoreq", 8),
    ("echorep", 0),
    ("unreach", 3),
    ("squench", 4),
    ("redir", 5),
    ("althost", 6),
    ("routeradv", 9),
    ("routersol", 10),
    ("timex", 11),
    ("paramprob", 12),
    ("timereq", 13),
    ("timerep", 14),
    ("inforeq", 15),
    ("inforep", 16),
    ("maskreq", 17),
    ("maskrep", 18),
    ("trace", 30),
    ("dataconv", 31),
    ("mobredir", 32),
    ("ipv6-where", 33),
    ("ipv6-here", 34),
    ("mobregreq", 35),
    ("mobregrep", 36),
    ("skip", 39),
    ("photuris", 40),
];

/// ICMPv6 type names (pfctl's icmp6_type table).
pub const ICMP6_TYPES: &[(&str, u8)] = &[
    ("unreach", 1),
    ("toobig", 2),
    ("timex", 3),
    ("paramprob", 4),
    ("echoreq", 128),
    ("echorep", 129),
    ("groupqry", 130),
    ("listqry", 130),
    ("grouprep", 131),
    ("listenrep", 131),
    ("groupterm", 132),
    ("listendone", 132),
    ("routersol", 133),
    ("routeradv", 134),
    ("neighbrsol", 135),
    ("neighbradv", 136),
    ("redir", 137),
    ("routrrenum", 138),
    ("wrureq", 139),
    ("wrurep", 140),
    ("fqdnreq", 139),
    ("fqdnrep", 140),
    ("niqry", 139),
    ("nirep", 140),
    ("mtraceresp", 200),
    ("mtrace", 201),
];

/// ICMP codes by (type, code) (pfctl's icmp_code table).
pub const ICMP_CODES: &[(&str, u8, u8)] = &[
    ("net-unr", 3, 0),
    ("host-unr", 3, 1),
    ("proto-unr", 3, 2),
    ("port-unr", 3, 3),
    ("needfrag", 3, 4),
    ("srcfail", 3, 5),
    ("net-unk", 3, 6),
    ("host-unk", 3, 7),
    ("isolate", 3, 8),
    ("net-prohib", 3, 9),
    ("host-prohib", 3, 10),
    ("net-tos", 3, 11),
    ("host-tos", 3, 12),
    ("filter-prohib", 3, 13),
    ("host-preced", 3, 14),
    ("cutoff-preced", 3, 15),
    ("redir-net", 5, 0),
    ("redir-host", 5, 1),
    ("redir-tos-net", 5, 2),
    ("redir-tos-host", 5, 3),
    ("normal-adv", 9, 0),
    ("common-adv", 9, 16),
    ("transit", 11, 0),
    ("reassemb", 11, 1),
    ("badhead", 12, 0),
    ("optmiss", 12, 1),
    ("badlen", 12, 2),
    ("unknown-ind", 40, 1),
    ("auth-fail", 40, 2),
    ("decrypt-fail", 40, 3),
];

/// ICMPv6 codes by (type, code).
pub const ICMP6_CODES: &[(&str, u8, u8)] = &[
    ("admin-unr", 1, 1),
    ("noroute-unr", 1, 0),
    ("notnbr-unr", 1, 2),
    ("beyond-unr", 1, 2),
    ("addr-unr", 1, 3),
    ("port-unr", 1, 4),
    ("transit", 3, 0),
    ("reassemb", 3, 1),
    ("badhead", 4, 0),
    ("nxthdr", 4, 1),
    ("redironlink", 137, 0),
    ("redirrouter", 137, 1),
];

pub fn icmp_type_by_name(name: &str, v6: bool) -> Option<u8> {
    let t = if v6 { ICMP6_TYPES } else { ICMP_TYPES };
    t.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

pub fn icmp_type_name(typ: u8, v6: bool) -> Option<&'static str> {
    let t = if v6 { ICMP6_TYPES } else { ICMP_TYPES };
    t.iter().find(|(_, v)| *v == typ).map(|(n, _)| *n)
}

pub fn icmp_code_by_name(typ: u8, name: &str, v6: bool) -> Option<u8> {
    let t = if v6 { ICMP6_CODES } else { ICMP_CODES };
    t.iter().find(|(n, ty, _)| *ty == typ && *n == name).map(|(_, _, c)| *c)
}

pub fn icmp_code_name(typ: u8, code: u8, v6: bool) -> Option<&'static str> {
    let t = if v6 { ICMP6_CODES } else { ICMP_CODES };
    t.iter().find(|(_, ty, c)| *ty == typ && *c == code).map(|(n, _, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_protocols() {
        assert_eq!(port_by_name("22"), Some(22));
        assert_eq!(port_by_name("ssh"), Some(22));
        assert_eq!(port_by_name("no-such-service"), None);
        assert_eq!(service_name(80, "tcp").as_deref(), Some("http"));
        assert_eq!(proto_by_name("tcp"), Some(6));
        assert_eq!(proto_by_name("icmp6"), Some(58));
        assert_eq!(proto_name(17).as_deref(), Some("udp"));
        assert_eq!(icmp_type_by_name("echoreq", false), Some(8));
        assert_eq!(icmp_type_name(128, true), Some("echoreq"));
        assert_eq!(icmp_code_name(3, 3, false), Some("port-unr"));
    }
}
