//! TCP's sysctl leaves (`net.inet.tcp.*`, and `kern.somaxconn`, which TCP's listen queues
//! obey), registered with the tcp protocol. The congestion-control nodes are in `cc`.

use crate::msg::SysctlValue;
use crate::sys::sysctl::{int, Kind, Node};

pub static NODES: &[Node] = &[
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
];
