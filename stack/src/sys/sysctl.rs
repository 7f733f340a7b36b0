//! The sysctl tree. Each node is typed, range-checked, and reads or writes the variable that
//! the stack itself uses, so a name is only here when it changes real behaviour.

use crate::msg::{SysctlChange, SysctlEntry, SysctlValue};
use crate::sys::Ctx;

/// A node's type and limits.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    Str {
        max: usize,
    },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

/// One leaf of the tree.
pub struct Node {
    pub name: &'static str,
    pub desc: &'static str,
    pub kind: Kind,
    pub get: fn(&Ctx) -> SysctlValue,
    pub set: Option<fn(&mut Ctx, &SysctlValue)>,
}

fn int(v: &SysctlValue) -> i64 {
    match v {
        SysctlValue::Int(i) => *i,
        SysctlValue::Str(_) => 0,
    }
}

/// The tree (`sysctl -a` prints it sorted by name).
pub static NODES: &[Node] = &[
    Node {
        name: "kern.hostname",
        desc: "System hostname",
        kind: Kind::Str { max: 255 },
        get: |c| SysctlValue::Str(c.hostname.clone()),
        set: Some(|c, v| {
            if let SysctlValue::Str(s) = v {
                c.hostname = s.clone();
            }
        }),
    },
    Node {
        name: "kern.ostype",
        desc: "Operating system type",
        kind: Kind::Str { max: 0 },
        get: |_| SysctlValue::Str("pktbox".into()),
        set: None,
    },
    Node {
        name: "kern.osrelease",
        desc: "Operating system release",
        kind: Kind::Str { max: 0 },
        get: |_| SysctlValue::Str(env!("CARGO_PKG_VERSION").into()),
        set: None,
    },
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
    Node {
        name: "net.inet.tcp.iss_fixed",
        desc: "Initial send sequence number of every new connection (testing); -1: RFC 6528",
        kind: Kind::Int {
            min: -1,
            max: u32::MAX as i64,
        },
        get: |c| SysctlValue::Int(c.inet.tcp.iss_fixed.map_or(-1, i64::from)),
        set: Some(|c, v| c.inet.tcp.iss_fixed = u32::try_from(int(v)).ok()),
    },
    Node {
        name: "net.inet.tcp.reass_maxqueuelen",
        desc: "Runs of out-of-order data a connection may hold",
        kind: Kind::Int { min: 1, max: 1 << 20 },
        get: |c| SysctlValue::Int(c.inet.tcp.reass_maxqueuelen as i64),
        set: Some(|c, v| c.inet.tcp.reass_maxqueuelen = int(v) as usize),
    },
    Node {
        name: "net.inet.tcp.rexmit_min",
        desc: "Minimum TCP retransmit timeout, in milliseconds",
        kind: Kind::Int { min: 10, max: 60_000 },
        get: |c| SysctlValue::Int(c.inet.tcp.rexmit_min.as_millis() as i64),
        set: Some(|c, v| c.inet.tcp.rexmit_min = std::time::Duration::from_millis(int(v) as u64)),
    },
    Node {
        name: "net.inet.tcp.sendspace",
        desc: "Default TCP send buffer size",
        kind: Kind::Int {
            min: 4096,
            max: 4 << 20,
        },
        get: |c| SysctlValue::Int(c.inet.tcp.sendspace as i64),
        set: Some(|c, v| c.inet.tcp.sendspace = int(v) as usize),
    },
    Node {
        name: "net.inet.tcp.recvspace",
        desc: "Default TCP receive buffer size",
        kind: Kind::Int {
            min: 4096,
            max: 4 << 20,
        },
        get: |c| SysctlValue::Int(c.inet.tcp.recvspace as i64),
        set: Some(|c, v| c.inet.tcp.recvspace = int(v) as usize),
    },
    Node {
        name: "net.inet.tcp.mssdflt",
        desc: "Default maximum segment size when the peer sends none",
        kind: Kind::Int { min: 64, max: 65535 },
        get: |c| SysctlValue::Int(i64::from(c.inet.tcp.mssdflt)),
        set: Some(|c, v| c.inet.tcp.mssdflt = int(v) as u32),
    },
    Node {
        name: "net.inet.tcp.keepidle",
        desc: "Time before the first keepalive probe, in seconds",
        kind: Kind::Int { min: 1, max: 24 * 3600 },
        get: |c| SysctlValue::Int(c.inet.tcp.keepidle.as_secs() as i64),
        set: Some(|c, v| c.inet.tcp.keepidle = std::time::Duration::from_secs(int(v) as u64)),
    },
    Node {
        name: "net.inet.tcp.keepintvl",
        desc: "Time between keepalive probes, in seconds",
        kind: Kind::Int { min: 1, max: 24 * 3600 },
        get: |c| SysctlValue::Int(c.inet.tcp.keepintvl.as_secs() as i64),
        set: Some(|c, v| c.inet.tcp.keepintvl = std::time::Duration::from_secs(int(v) as u64)),
    },
    Node {
        name: "net.inet.tcp.keepcnt",
        desc: "Keepalive probes unanswered before the connection is dropped",
        kind: Kind::Int { min: 1, max: 1000 },
        get: |c| SysctlValue::Int(i64::from(c.inet.tcp.keepcnt)),
        set: Some(|c, v| c.inet.tcp.keepcnt = int(v) as u32),
    },
    Node {
        name: "kern.somaxconn",
        desc: "Maximum listen queue length",
        kind: Kind::Int { min: 1, max: 65535 },
        get: |c| SysctlValue::Int(c.inet.tcp.somaxconn as i64),
        set: Some(|c, v| c.inet.tcp.somaxconn = int(v) as usize),
    },
    Node {
        name: "net.inet.tcp.congctl.available",
        desc: "Available congestion control algorithms",
        kind: Kind::Str { max: 0 },
        get: |_| SysctlValue::Str("newreno cubic".into()),
        set: None,
    },
    Node {
        name: "net.inet.tcp.congctl.selected",
        desc: "Congestion control algorithm of new connections",
        kind: Kind::Choice(&["newreno", "cubic"]),
        get: |c| SysctlValue::Str(c.inet.tcp.congctl.name().into()),
        set: Some(|c, v| {
            if let SysctlValue::Str(s) = v {
                if let Some(a) = crate::inet::tcp::cc::Algo::from_name(s) {
                    c.inet.tcp.congctl = a;
                }
            }
        }),
    },
    Node {
        name: "net.inet.tcp.keepinit",
        desc: "Connection establishment timeout, in seconds",
        kind: Kind::Int { min: 1, max: 24 * 3600 },
        get: |c| SysctlValue::Int(c.inet.tcp.keepinit.as_secs() as i64),
        set: Some(|c, v| c.inet.tcp.keepinit = std::time::Duration::from_secs(int(v) as u64)),
    },
    Node {
        name: "net.inet.tcp.msl",
        desc: "Maximum Segment Life, in seconds (TIME_WAIT lasts twice this)",
        kind: Kind::Int { min: 0, max: 3600 },
        get: |c| SysctlValue::Int(c.inet.tcp.msl.as_secs() as i64),
        set: Some(|c, v| c.inet.tcp.msl = std::time::Duration::from_secs(int(v) as u64)),
    },
    Node {
        name: "net.inet.tcp.rfc1323",
        desc: "Enable RFC1323 (RFC 7323) timestamps and window scaling",
        kind: Kind::Int { min: 0, max: 1 },
        get: |c| SysctlValue::Int(i64::from(c.inet.tcp.rfc1323)),
        set: Some(|c, v| c.inet.tcp.rfc1323 = int(v) != 0),
    },
    Node {
        name: "net.inet.tcp.win_scale",
        desc: "Use RFC1323 window scale options",
        kind: Kind::Int { min: 0, max: 1 },
        get: |c| SysctlValue::Int(i64::from(c.inet.tcp.win_scale)),
        set: Some(|c, v| c.inet.tcp.win_scale = int(v) != 0),
    },
    Node {
        name: "net.inet.tcp.timestamps",
        desc: "Use RFC1323 time stamp options",
        kind: Kind::Int { min: 0, max: 1 },
        get: |c| SysctlValue::Int(i64::from(c.inet.tcp.timestamps)),
        set: Some(|c, v| c.inet.tcp.timestamps = int(v) != 0),
    },
    Node {
        name: "net.inet.tcp.sack.enable",
        desc: "Enable RFC2018 Selective ACKnowledgement",
        kind: Kind::Int { min: 0, max: 1 },
        get: |c| SysctlValue::Int(i64::from(c.inet.tcp.sack)),
        set: Some(|c, v| c.inet.tcp.sack = int(v) != 0),
    },
    Node {
        name: "net.inet.icmp.returndatabytes",
        desc: "Number of bytes to return in an ICMP error message",
        kind: Kind::Int { min: 8, max: 512 },
        get: |c| SysctlValue::Int(c.inet.icmp_returndatabytes as i64),
        set: Some(|c, v| c.inet.icmp_returndatabytes = int(v) as usize),
    },
    Node {
        name: "net.inet.arp.keep",
        desc: "Valid ARP entry lifetime in seconds",
        kind: Kind::Int { min: 1, max: 24 * 3600 },
        get: |c| SysctlValue::Int(c.arp.keep.as_secs() as i64),
        set: Some(|c, v| c.arp.keep = std::time::Duration::from_secs(int(v) as u64)),
    },
    Node {
        name: "net.inet.arp.down",
        desc: "Failed ARP entry lifetime in seconds",
        kind: Kind::Int { min: 1, max: 24 * 3600 },
        get: |c| SysctlValue::Int(c.arp.down.as_secs() as i64),
        set: Some(|c, v| c.arp.down = std::time::Duration::from_secs(int(v) as u64)),
    },
    Node {
        name: "net.inet.arp.log_movements",
        desc: "log ARP replies from MACs different than the one in the cache",
        kind: Kind::Int { min: 0, max: 1 },
        get: |c| SysctlValue::Int(i64::from(c.arp.log_movements)),
        set: Some(|c, v| c.arp.log_movements = int(v) != 0),
    },
    Node {
        name: "net.inet.icmp.errppslimit",
        desc: "Maximum number of outgoing ICMP error messages per second (0: no limit)",
        kind: Kind::Int { min: 0, max: 1_000_000 },
        get: |c| SysctlValue::Int(i64::from(c.inet.icmp_limit.limit)),
        set: Some(|c, v| c.inet.icmp_limit.limit = int(v) as u32),
    },
];

/// Why a sysctl request failed: an errno and, for names, NetBSD's explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlError {
    pub errno: i32,
    pub text: Option<String>,
}

fn ordinal(n: usize) -> String {
    match n {
        0 => "top".into(),
        1 => "second".into(),
        2 => "third".into(),
        3 => "fourth".into(),
        4 => "fifth".into(),
        n => format!("{}th", n + 1),
    }
}

/// NetBSD's words for a name that does not exist: which level of it is invalid.
fn bad_name(name: &str) -> SysctlError {
    let parts: Vec<&str> = name.split('.').collect();
    let mut level = 0;
    for i in 1..=parts.len() {
        let pfx = parts[..i].join(".");
        if NODES
            .iter()
            .any(|n| n.name == pfx || n.name.starts_with(&format!("{pfx}.")))
        {
            level = i;
        } else {
            break;
        }
    }
    let level = level.min(parts.len().saturating_sub(1));
    SysctlError {
        errno: libc::ENOENT,
        text: Some(format!(
            "{} level name '{}' in '{}' is invalid",
            ordinal(level),
            parts[level],
            name
        )),
    }
}

fn matches(node: &str, want: &str) -> bool {
    want.is_empty() || node == want || (node.starts_with(want) && node.as_bytes().get(want.len()) == Some(&b'.'))
}

/// Reads a leaf or every leaf of a subtree ("" is the whole tree).
pub fn get(ctx: &Ctx, name: &str) -> Result<Vec<SysctlEntry>, SysctlError> {
    let v: Vec<SysctlEntry> = NODES
        .iter()
        .filter(|n| matches(n.name, name))
        .map(|n| SysctlEntry {
            name: n.name.to_string(),
            value: (n.get)(ctx),
            writable: n.set.is_some(),
            desc: n.desc.to_string(),
        })
        .collect();
    if v.is_empty() {
        return Err(bad_name(name));
    }
    let mut v = v;
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// Parses a value for a node, checking its type and range.
fn parse(node: &Node, value: &str) -> Result<SysctlValue, SysctlError> {
    let inval = |t: String| SysctlError {
        errno: libc::EINVAL,
        text: Some(t),
    };
    match node.kind {
        Kind::Int { min, max } => {
            let v = if let Some(h) = value.strip_prefix("0x") {
                i64::from_str_radix(h, 16).ok()
            } else {
                value.parse::<i64>().ok()
            }
            .ok_or_else(|| inval(format!("'{value}' is not a number")))?;
            if v < min || v > max {
                return Err(inval(format!("{v} is out of range {min}-{max}")));
            }
            Ok(SysctlValue::Int(v))
        }
        Kind::Choice(words) => {
            if !words.contains(&value) {
                return Err(inval(format!("'{value}' is not one of: {}", words.join(" "))));
            }
            Ok(SysctlValue::Str(value.to_string()))
        }
        Kind::Str { max } => {
            if value.len() > max {
                return Err(inval(format!("longer than {max} bytes")));
            }
            Ok(SysctlValue::Str(value.to_string()))
        }
    }
}

/// Writes a leaf. Subtrees cannot be written; read-only nodes give EPERM.
pub fn set(ctx: &mut Ctx, name: &str, value: &str) -> Result<SysctlChange, SysctlError> {
    let Some(node) = NODES.iter().find(|n| n.name == name) else {
        if NODES.iter().any(|n| matches(n.name, name)) {
            return Err(SysctlError {
                errno: libc::EISDIR,
                text: Some("a subtree; name a leaf to set".into()),
            });
        }
        return Err(bad_name(name));
    };
    let Some(setter) = node.set else {
        return Err(SysctlError {
            errno: libc::EPERM,
            text: None,
        });
    };
    let new = parse(node, value)?;
    let old = (node.get)(ctx);
    setter(ctx, &new);
    Ok(SysctlChange {
        name: name.to_string(),
        old,
        new: (node.get)(ctx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Stack;

    fn stack() -> std::sync::Arc<Stack> {
        Stack::detached()
    }

    #[test]
    fn reads_and_writes() {
        let s = stack();
        let mut c = s.ctx();
        assert_eq!(get(&c, "net.inet.ip.ttl").unwrap()[0].value, SysctlValue::Int(64));
        assert_eq!(get(&c, "net.inet.ip").unwrap().len(), 6);
        assert_eq!(get(&c, "").unwrap().len(), NODES.len());
        let ch = set(&mut c, "net.inet.ip.ttl", "30").unwrap();
        assert_eq!(ch.old, SysctlValue::Int(64));
        assert_eq!(c.inet.ttl, 30);
        assert_eq!(set(&mut c, "net.inet.ip.ttl", "256").unwrap_err().errno, libc::EINVAL);
        assert_eq!(set(&mut c, "net.inet.ip.ttl", "x").unwrap_err().errno, libc::EINVAL);
        assert_eq!(c.inet.ttl, 30);
        assert_eq!(set(&mut c, "kern.ostype", "x").unwrap_err().errno, libc::EPERM);
        assert_eq!(set(&mut c, "net.inet", "1").unwrap_err().errno, libc::EISDIR);
        set(&mut c, "net.inet.ip.forwarding", "1").unwrap();
        assert!(c.inet.forwarding);
    }

    #[test]
    fn netbsd_nodes_drive_the_stack() {
        let s = stack();
        let mut c = s.ctx();
        set(&mut c, "net.inet.tcp.keepinit", "30").unwrap();
        assert_eq!(c.inet.tcp.keepinit, std::time::Duration::from_secs(30));
        set(&mut c, "net.inet.tcp.msl", "5").unwrap();
        assert_eq!(c.inet.tcp.msl, std::time::Duration::from_secs(5));
        set(&mut c, "net.inet.tcp.rfc1323", "0").unwrap();
        assert!(!c.inet.tcp.do_win_scale() && !c.inet.tcp.do_timestamps());
        set(&mut c, "net.inet.tcp.rfc1323", "1").unwrap();
        set(&mut c, "net.inet.tcp.timestamps", "0").unwrap();
        assert!(c.inet.tcp.do_win_scale() && !c.inet.tcp.do_timestamps());
        set(&mut c, "net.inet.tcp.sack.enable", "0").unwrap();
        assert!(!c.inet.tcp.sack);
        assert_eq!(
            set(&mut c, "net.inet.icmp.returndatabytes", "7").unwrap_err().errno,
            libc::EINVAL
        );
        set(&mut c, "net.inet.icmp.returndatabytes", "64").unwrap();
        assert_eq!(c.inet.icmp_returndatabytes, 64);
        set(&mut c, "net.inet.arp.keep", "60").unwrap();
        assert_eq!(c.arp.keep, std::time::Duration::from_secs(60));
        set(&mut c, "net.inet.arp.down", "3").unwrap();
        assert_eq!(c.arp.down, std::time::Duration::from_secs(3));
        set(&mut c, "net.inet.arp.log_movements", "0").unwrap();
        assert!(!c.arp.log_movements);
        assert_eq!(get(&c, "net.inet.arp").unwrap().len(), 3);
        let e = get(&c, "net.inet.udp.checksum").unwrap_err();
        assert_eq!(
            e.text.unwrap(),
            "third level name 'udp' in 'net.inet.udp.checksum' is invalid"
        );
        let e = get(&c, "net.inet.tcp.bogus").unwrap_err();
        assert_eq!(
            e.text.unwrap(),
            "fourth level name 'bogus' in 'net.inet.tcp.bogus' is invalid"
        );
    }

    #[test]
    fn names_the_bad_level() {
        let s = stack();
        let c = s.ctx();
        let e = get(&c, "net.inet.foo").unwrap_err();
        assert_eq!(e.text.unwrap(), "third level name 'foo' in 'net.inet.foo' is invalid");
        let e = get(&c, "bogus").unwrap_err();
        assert_eq!(e.text.unwrap(), "top level name 'bogus' in 'bogus' is invalid");
        assert!(get(&c, "net.in").is_err());
    }
}
