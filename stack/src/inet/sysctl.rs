//! The sysctl leaves of IP and ICMP (`net.inet.ip.*`, `net.inet.icmp.*`), registered with
//! the inet domain.

use crate::msg::SysctlValue;
use crate::sys::sysctl::{int, Kind, Node};

pub static IP: &[Node] = &[
    Node {
        name: "net.inet.ip.anonportmin",
        desc: "Lowest ephemeral port number to assign",
        kind: Kind::Int { min: 1024, max: 65535 },
        get: |c| SysctlValue::Int(i64::from(c.inet.anonportmin)),
        set: Some(|c, v| c.inet.anonportmin = int(v) as u16),
    },
    Node {
        name: "net.inet.ip.anonportmax",
        desc: "Highest ephemeral port number to assign",
        kind: Kind::Int { min: 1024, max: 65535 },
        get: |c| SysctlValue::Int(i64::from(c.inet.anonportmax)),
        set: Some(|c, v| c.inet.anonportmax = int(v) as u16),
    },
    Node {
        name: "net.inet.ip.forwarding",
        desc: "Enable forwarding of INET datagrams",
        kind: Kind::Int { min: 0, max: 1 },
        get: |c| SysctlValue::Int(i64::from(c.inet.forwarding)),
        set: Some(|c, v| c.inet.forwarding = int(v) != 0),
    },
    Node {
        name: "net.inet.ip.redirect",
        desc: "Enable sending of ICMP redirect messages",
        kind: Kind::Int { min: 0, max: 1 },
        get: |c| SysctlValue::Int(i64::from(c.inet.redirect)),
        set: Some(|c, v| c.inet.redirect = int(v) != 0),
    },
    Node {
        name: "net.inet.ip.maxfragpackets",
        desc: "Maximum number of fragmented packets in reassembly",
        kind: Kind::Int { min: 0, max: 100_000 },
        get: |c| SysctlValue::Int(c.inet.maxfragpackets as i64),
        set: Some(|c, v| c.inet.maxfragpackets = int(v) as usize),
    },
    Node {
        name: "net.inet.ip.ttl",
        desc: "Default TTL for an INET datagram",
        kind: Kind::Int { min: 1, max: 255 },
        get: |c| SysctlValue::Int(i64::from(c.inet.ttl)),
        set: Some(|c, v| c.inet.ttl = int(v) as u8),
    },
];

pub static ICMP: &[Node] = &[Node {
    name: "net.inet.icmp.errppslimit",
    desc: "Maximum number of outgoing ICMP error messages per second (0: no limit)",
    kind: Kind::Int { min: 0, max: 1_000_000 },
    get: |c| SysctlValue::Int(i64::from(c.inet.icmp_limit.limit)),
    set: Some(|c, v| c.inet.icmp_limit.limit = int(v) as u32),
}];
