//! Names the filter language knows: the constants the scanner turns into numbers
//! (`tcpflags`, `tcp-syn`, `icmp-echo`, ...), Ethernet protocol names, and lookups in the
//! system's databases (`/etc/services`, `/etc/protocols`, the resolver), as libpcap does them.

use std::net::IpAddr;

/// Names the scanner reads as numbers, from pcap-filter(7).
const LEXER_NUMBERS: &[(&str, u32)] = &[
    ("icmptype", 0),
    ("icmpcode", 1),
    ("icmp-echoreply", 0),
    ("icmp-unreach", 3),
    ("icmp-sourcequench", 4),
    ("icmp-redirect", 5),
    ("icmp-echo", 8),
    ("icmp-routeradvert", 9),
    ("icmp-routersolicit", 10),
    ("icmp-timxceed", 11),
    ("icmp-paramprob", 12),
    ("icmp-tstamp", 13),
    ("icmp-tstampreply", 14),
    ("icmp-ireq", 15),
    ("icmp-ireqreply", 16),
    ("icmp-maskreq", 17),
    ("icmp-maskreply", 18),
    ("icmp6type", 0),
    ("icmp6code", 1),
    ("icmp6-destinationunreach", 1),
    ("icmp6-packettoobig", 2),
    ("icmp6-timeexceeded", 3),
    ("icmp6-parameterproblem", 4),
    ("icmp6-echo", 128),
    ("icmp6-echoreply", 129),
    ("icmp6-multicastlistenerquery", 130),
    ("icmp6-multicastlistenerreportv1", 131),
    ("icmp6-multicastlistenerdone", 132),
    ("icmp6-routersolicit", 133),
    ("icmp6-routeradvert", 134),
    ("icmp6-neighborsolicit", 135),
    ("icmp6-neighboradvert", 136),
    ("icmp6-redirect", 137),
    ("icmp6-routerrenum", 138),
    ("icmp6-nodeinformationquery", 139),
    ("icmp6-nodeinformationresponse", 140),
    ("icmp6-ineighbordiscoverysolicit", 141),
    ("icmp6-ineighbordiscoveryadvert", 142),
    ("icmp6-multicastlistenerreportv2", 143),
    ("icmp6-homeagentdiscoveryrequest", 144),
    ("icmp6-homeagentdiscoveryreply", 145),
    ("icmp6-mobileprefixsolicit", 146),
    ("icmp6-mobileprefixadvert", 147),
    ("icmp6-certpathsolicit", 148),
    ("icmp6-certpathadvert", 149),
    ("icmp6-multicastrouteradvert", 151),
    ("icmp6-multicastroutersolicit", 152),
    ("icmp6-multicastrouterterm", 153),
    ("tcpflags", 13),
    ("tcp-fin", 0x01),
    ("tcp-syn", 0x02),
    ("tcp-rst", 0x04),
    ("tcp-push", 0x08),
    ("tcp-ack", 0x10),
    ("tcp-urg", 0x20),
    ("tcp-ece", 0x40),
    ("tcp-cwr", 0x80),
];

/// The number a named constant stands for (`tcp-syn` is 2).
pub fn lexer_number(name: &str) -> Option<u32> {
    LEXER_NUMBERS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Ethernet protocol names for `ether proto \name`.
pub fn ether_proto(name: &str) -> Option<u32> {
    Some(match name {
        "ip" => 0x0800,
        "ip6" => 0x86dd,
        "arp" => 0x0806,
        "rarp" => 0x8035,
        "atalk" => 0x809b,
        "aarp" => 0x80f3,
        "decnet" => 0x6003,
        "lat" => 0x6004,
        "sca" => 0x6007,
        "moprc" => 0x6002,
        "mopdl" => 0x6001,
        "loopback" => 0x9000,
        // LLC service access points, as libpcap names them.
        "iso" => 0xfe,
        "stp" => 0x42,
        "ipx" => 0xe0,
        "netbeui" => 0xf0,
        _ => return None,
    })
}

/// Reads a system database, or an empty one if it is missing.
fn database(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Entries of a services/protocols style file: (name or alias, number field, protocol field).
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

/// A protocol number from `/etc/protocols` (`ip proto \ospf`); a few common names still
/// work on a system without the file.
pub fn ip_proto(name: &str) -> Option<u32> {
    let db = database("/etc/protocols");
    if db.is_empty() {
        return match name {
            "icmp" => Some(1),
            "igmp" => Some(2),
            "tcp" => Some(6),
            "udp" => Some(17),
            "ipv6-icmp" => Some(58),
            "sctp" => Some(132),
            _ => None,
        };
    }
    let found = entries(&db)
        .find(|(names, _)| names.contains(&name))
        .and_then(|(_, n)| n.parse().ok());
    found
}

/// An Ethernet address from `/etc/ethers` (`ether host NAME`).
pub fn ether_host(name: &str) -> Option<[u8; 6]> {
    let db = database("/etc/ethers");
    db.lines().find_map(|l| {
        let l = l.split('#').next().unwrap_or("");
        let mut f = l.split_whitespace();
        let mac = f.next()?;
        if f.next()? != name {
            return None;
        }
        let mut out = [0u8; 6];
        let mut parts = mac.split(':');
        for b in out.iter_mut() {
            *b = u8::from_str_radix(parts.next()?, 16).ok()?;
        }
        parts.next().is_none().then_some(out)
    })
}

/// The port a service name has for `proto` ("tcp", "udp", "sctp") in `/etc/services`.
fn service(db: &str, name: &str, proto: &str) -> Option<u32> {
    entries(db).find_map(|(names, num)| {
        let (port, p) = num.split_once('/')?;
        (p == proto && names.contains(&name)).then(|| port.parse().ok())?
    })
}

/// Which transport a port name belongs to, as libpcap's `pcap_nametoport` decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortProto {
    /// TCP and UDP alike (or a number): the primitive covers TCP, UDP and SCTP.
    Any,
    Tcp,
    Udp,
    Sctp,
}

/// A port name's number and transport.
pub fn port(name: &str) -> Option<(u32, PortProto)> {
    let db = database("/etc/services");
    let tcp = service(&db, name, "tcp");
    let udp = service(&db, name, "udp");
    match (tcp, udp) {
        (Some(t), Some(u)) if t == u => Some((t, PortProto::Any)),
        (Some(t), _) => Some((t, PortProto::Tcp)),
        (None, Some(u)) => Some((u, PortProto::Udp)),
        (None, None) => service(&db, name, "sctp").map(|s| (s, PortProto::Sctp)),
    }
}

/// A port or a port name, as one end of a `portrange`: a number stands for any transport.
/// Like libpcap, digits are read up to the first character that is not one.
pub fn port_or_number(s: &str) -> Option<(u32, PortProto)> {
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
        return digits.parse().ok().map(|n| (n, PortProto::Any));
    }
    port(s)
}

/// The addresses of a host name, in the resolver's order.
#[cfg(not(fuzzing))]
pub fn host(name: &str) -> Vec<IpAddr> {
    use std::net::ToSocketAddrs;
    let mut out: Vec<IpAddr> = Vec::new();
    if let Ok(addrs) = (name, 0).to_socket_addrs() {
        for a in addrs {
            if !out.contains(&a.ip()) {
                out.push(a.ip());
            }
        }
    }
    out
}

/// Under the fuzzer (scripts/fuzz builds with `--cfg fuzzing`) names are not sent to the
/// resolver, which would put the fuzzer's random names on the network: `localhost` and
/// two test names resolve, nothing else does.
#[cfg(fuzzing)]
pub fn host(name: &str) -> Vec<IpAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    match name {
        "localhost" => vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)],
        "gw" => vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))],
        "multi" => vec![
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        ],
        _ => Vec::new(),
    }
}
