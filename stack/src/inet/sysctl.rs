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

pub static ICMP: &[Node] = &[
    Node {
        name: "net.inet.icmp.errppslimit",
        desc: "Maximum number of outgoing ICMP error messages per second (0: no limit)",
        kind: Kind::Int { min: 0, max: 1_000_000 },
        get: |c| SysctlValue::Int(i64::from(c.inet.icmp_limit.limit)),
        set: Some(|c, v| c.inet.icmp_limit.limit = int(v) as u32),
    },
    Node {
        name: "net.inet.icmp.returndatabytes",
        desc: "Number of bytes to return in an ICMP error message",
        kind: Kind::Int { min: 8, max: 512 },
        get: |c| SysctlValue::Int(c.inet.icmp_returndatabytes as i64),
        set: Some(|c, v| c.inet.icmp_returndatabytes = int(v) as usize),
    },
];

/// ARP's leaves (`net.inet.arp.*`), which NetBSD's inet domain registers too.
pub static ARP: &[Node] = &[
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
];

#[cfg(test)]
mod tests {
    use crate::sys::Stack;

    /// The NetBSD nodes of issue 15 write the variables the stack uses.
    #[test]
    fn netbsd_nodes_drive_the_stack() {
        let s = Stack::detached();
        let t = &s.registry.sysctl;
        let mut c = s.ctx();
        t.set(&mut c, "net.inet.tcp.keepinit", "30").unwrap();
        assert_eq!(c.inet.tcp.keepinit, std::time::Duration::from_secs(30));
        t.set(&mut c, "net.inet.tcp.msl", "5").unwrap();
        assert_eq!(c.inet.tcp.msl, std::time::Duration::from_secs(5));
        t.set(&mut c, "net.inet.tcp.rfc1323", "0").unwrap();
        assert!(!c.inet.tcp.do_win_scale() && !c.inet.tcp.do_timestamps());
        t.set(&mut c, "net.inet.tcp.rfc1323", "1").unwrap();
        t.set(&mut c, "net.inet.tcp.timestamps", "0").unwrap();
        assert!(c.inet.tcp.do_win_scale() && !c.inet.tcp.do_timestamps());
        t.set(&mut c, "net.inet.tcp.sack.enable", "0").unwrap();
        assert!(!c.inet.tcp.sack);
        assert_eq!(
            t.set(&mut c, "net.inet.icmp.returndatabytes", "7").unwrap_err().errno,
            libc::EINVAL
        );
        t.set(&mut c, "net.inet.icmp.returndatabytes", "64").unwrap();
        assert_eq!(c.inet.icmp_returndatabytes, 64);
        t.set(&mut c, "net.inet.arp.keep", "60").unwrap();
        assert_eq!(c.arp.keep, std::time::Duration::from_secs(60));
        t.set(&mut c, "net.inet.arp.down", "3").unwrap();
        assert_eq!(c.arp.down, std::time::Duration::from_secs(3));
        t.set(&mut c, "net.inet.arp.log_movements", "0").unwrap();
        assert!(!c.arp.log_movements);
        assert_eq!(t.get(&c, "net.inet.arp").unwrap().len(), 3);
        let e = t.get(&c, "net.inet.tcp.bogus").unwrap_err();
        assert_eq!(
            e.text.unwrap(),
            "fourth level name 'bogus' in 'net.inet.tcp.bogus' is invalid"
        );
    }
}
