//! Bodies of the bridge requests (NetBSD's SIOCSDRVSPEC/SIOCGDRVSPEC BRDG* commands that
//! brconfig makes) and `ifconfig IF linkstr` (SIOCSLINKSTR).

use serde::{Deserialize, Serialize};

/// Member flags (`ifbreq.ifbr_ifsflags`, IFBIF_*).
pub mod ifbif {
    pub const LEARNING: u32 = 0x1;
    pub const DISCOVER: u32 = 0x2;
    pub const STP: u32 = 0x4;
    /// The names brconfig prints, in bit order.
    pub const NAMES: &[(u32, &str)] = &[(LEARNING, "LEARNING"), (DISCOVER, "DISCOVER"), (STP, "STP")];
}

/// Address cache entry flags (IFBAF_*).
pub mod ifbaf {
    pub const STATIC: u32 = 0x1;
    pub const NAMES: &[(u32, &str)] = &[(STATIC, "STATIC")];
}

/// 802.1D port states (BSTP_IFSTATE_*), with the words brconfig prints.
pub mod bstp_state {
    pub const DISABLED: u8 = 0;
    pub const LISTENING: u8 = 1;
    pub const LEARNING: u8 = 2;
    pub const FORWARDING: u8 = 3;
    pub const BLOCKING: u8 = 4;

    pub fn name(s: u8) -> &'static str {
        match s {
            DISABLED => "disabled",
            LISTENING => "listening",
            LEARNING => "learning",
            FORWARDING => "forwarding",
            BLOCKING => "blocking",
            _ => "<unknown state>",
        }
    }
}

/// SIOCSLINKSTR: the options a cloned interface's driver opens with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkstrReq {
    pub name: String,
    pub linkstr: String,
}

/// One brconfig command on one bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrReq {
    pub bridge: String,
    pub op: BrOp,
}

/// The brconfig commands that change a bridge (each one BRDG* ioctl).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrOp {
    /// BRDGADD.
    Add(String),
    /// BRDGDEL.
    Delete(String),
    /// BRDGSIFFLGS: member flags to set and to clear.
    MemberFlags { ifname: String, set: u32, clear: u32 },
    /// BRDGSADDR with IFBAF_STATIC.
    Static { ifname: String, mac: [u8; 6] },
    /// BRDGDADDR.
    DelAddr([u8; 6]),
    /// BRDGFLUSH: dynamic entries, or all.
    Flush { all: bool },
    /// BRDGSCACHE.
    MaxAddr(u32),
    /// BRDGSTO.
    Timeout(u32),
    /// BRDGSPRI.
    Priority(u16),
    /// BRDGSHT, seconds.
    HelloTime(u8),
    /// BRDGSFD, seconds.
    FwdDelay(u8),
    /// BRDGSMA, seconds.
    MaxAge(u8),
    /// BRDGSIFPRIO.
    IfPriority { ifname: String, prio: u8 },
    /// BRDGSIFCOST.
    IfPathCost { ifname: String, cost: u32 },
    /// BRDGSFILT: pfil hooks on bridged IPv4/IPv6.
    Ipf(bool),
}

/// One member as `brconfig bridge0` shows it (`ifbreq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrMemberInfo {
    pub ifname: String,
    pub flags: u32,
    pub port: u16,
    pub priority: u8,
    pub path_cost: u32,
    pub state: u8,
    /// 802.1D port details: the designated root and bridge (priority << 48 | MAC), the
    /// designated cost and port, and whether this port is the bridge's root port.
    pub designated_root: u64,
    pub designated_bridge: u64,
    pub designated_cost: u32,
    pub designated_port: u16,
    pub root_port: bool,
}

/// One address cache entry (`ifbareq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrAddrInfo {
    pub mac: [u8; 6],
    pub ifname: String,
    /// Seconds left (0 for a static entry).
    pub expire: u32,
    pub flags: u32,
}

/// Counters of one bridge: what was forwarded, flooded and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrStats {
    pub forwarded: u64,
    pub flooded: u64,
    pub local: u64,
    /// Frames dropped: a member's queue full, STP blocking, no destination.
    pub dropped: u64,
    /// Addresses not learned because the cache was full (maxaddr).
    pub cache_full: u64,
    pub bpdu_in: u64,
    pub bpdu_out: u64,
    pub bpdu_bad: u64,
    pub tcn_in: u64,
    pub topology_changes: u64,
}

/// The state of one bridge: `brconfig bridge0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrStatus {
    pub name: String,
    pub flags: u32,
    pub priority: u16,
    pub hellotime: u8,
    pub fwddelay: u8,
    pub maxage: u8,
    pub ipf: bool,
    pub maxaddr: u32,
    pub timeout: u32,
    /// Most recently added first, as NetBSD lists them.
    pub members: Vec<BrMemberInfo>,
    pub cache: Vec<BrAddrInfo>,
    /// 802.1D: this bridge's id, the root's, the cost to it, and the root port (None
    /// when this bridge is the root).
    pub bridge_id: u64,
    pub designated_root: u64,
    pub root_path_cost: u32,
    pub root_port: Option<String>,
    pub topology_change: bool,
    pub stats: BrStats,
}

/// `brconfig -a` / `brconfig bridge0`: all bridges or the one named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrGetReq {
    pub name: Option<String>,
}
