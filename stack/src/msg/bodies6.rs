//! Bodies of the IPv6 family: address flags (`IN6_IFF_*`), NetBSD's `ip6stat` and
//! `icmp6stat`, and the neighbor cache as `ndp -a` lists it.

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

/// Address flags (NetBSD's `IN6_IFF_*`).
pub mod in6f {
    pub const ANYCAST: u32 = 0x01;
    pub const TENTATIVE: u32 = 0x02;
    pub const DUPLICATED: u32 = 0x04;
    pub const DETACHED: u32 = 0x08;
    pub const DEPRECATED: u32 = 0x10;
    pub const NODAD: u32 = 0x20;
    pub const AUTOCONF: u32 = 0x40;
    pub const TEMPORARY: u32 = 0x80;

    /// Names in bit order, as ifconfig prints them after an inet6 address.
    pub const NAMES: &[(u32, &str)] = &[
        (ANYCAST, "anycast"),
        (TENTATIVE, "tentative"),
        (DUPLICATED, "duplicated"),
        (DETACHED, "detached"),
        (DEPRECATED, "deprecated"),
        (NODAD, "nodad"),
        (AUTOCONF, "autoconf"),
        (TEMPORARY, "temporary"),
    ];
}

/// NetBSD's `ip6stat` (netinet6/ip6_var.h), the counters `netstat -s -p ip6` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Ip6Stats {
    pub total: u64,
    pub tooshort: u64,
    pub toosmall: u64,
    pub fragments: u64,
    pub fragdropped: u64,
    pub fragtimeout: u64,
    pub fragoverflow: u64,
    pub forward: u64,
    pub cantforward: u64,
    pub redirectsent: u64,
    pub delivered: u64,
    pub localout: u64,
    pub odropped: u64,
    pub reassembled: u64,
    pub fragmented: u64,
    pub ofragments: u64,
    pub cantfrag: u64,
    pub badoptions: u64,
    pub noroute: u64,
    pub badvers: u64,
    pub rawout: u64,
    pub badscope: u64,
    pub notmember: u64,
    pub nogif: u64,
    pub toomanyhdr: u64,
    /// Upper-layer protocol with no handler (counted with a parameter problem sent).
    pub noproto: u64,
    /// Fragments dropped because they overlap another (RFC 5722).
    pub fragoverlap: u64,
    /// Packets for an address still being probed by DAD (discarded, RFC 4862 5.4).
    pub tentative: u64,
}

/// NetBSD's `icmp6stat`; the histograms are indexed by ICMPv6 type (0..=255).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Icmp6Stats {
    pub error: u64,
    pub canterror: u64,
    pub toofreq: u64,
    pub outhist: Vec<u64>,
    pub badcode: u64,
    pub tooshort: u64,
    pub checksum: u64,
    pub badlen: u64,
    pub reflect: u64,
    pub inhist: Vec<u64>,
    pub nd_toomanyopt: u64,
    pub pmtuchg: u64,
    /// Packet too big ignored: quoting nothing of ours that still exists (RFC 8201 5.2).
    pub pmtuignored: u64,
    pub nd_badopt: u64,
    pub badns: u64,
    pub badna: u64,
    pub badrs: u64,
    pub badra: u64,
    pub badredirect: u64,
    /// Neighbor cache entries evicted to make room (the cache is bounded).
    pub nd_evicted: u64,
    /// Addresses found duplicated by DAD.
    pub dad_duplicated: u64,
    /// Packets dropped from a full or expired hold queue.
    pub nd_holddropped: u64,
    /// Errors dropped for quoting nothing a socket of ours sent (RFC 5927): no such
    /// connection, or a TCP sequence number outside what is unacknowledged.
    pub badquote: u64,
    /// Node Information (RFC 4620): replies sent; queries dropped as malformed (a bad
    /// subject, a short message); refused by net.inet6.icmp6.nodeinfo (off, the qtype not
    /// allowed, a global source without GLOBALOK); dropped by the rate limit.
    pub ni_reply: u64,
    pub ni_bad: u64,
    pub ni_refused: u64,
    pub ni_toofreq: u64,
}

/// The IPv6 counters (`netstat -s -p ip6|icmp6`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Stats6 {
    pub ip6: Ip6Stats,
    pub icmp6: Icmp6Stats,
}

/// One neighbor cache entry (`ndp -a`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NdEntryInfo {
    pub addr: Ipv6Addr,
    pub ifname: String,
    pub lladdr: Option<[u8; 6]>,
    /// "INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE".
    pub state: String,
    pub is_router: bool,
    /// Seconds until the state's timer runs out, None for none.
    pub expire: Option<u64>,
    /// Solicitations sent in this state (ndp prints them after the flags).
    pub asked: u32,
    /// A proxy entry (`ndp -s ADDR MAC proxy`): answered for, not a neighbor.
    pub proxy: bool,
}

/// `ndp -d`: the neighbor cache entry of `addr` (on `ifname`, or on whichever interface
/// has one) goes; ESRCH when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NdDelReq {
    pub addr: Ipv6Addr,
    pub ifname: Option<String>,
}

/// `ndp -s ADDR LLADDR [temp]`: a static neighbor cache entry (with `temp` an ordinary
/// one that ages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NdSetReq {
    pub addr: Ipv6Addr,
    pub ifname: Option<String>,
    pub lladdr: [u8; 6],
    pub temp: bool,
    /// `proxy`: answer neighbor solicitations for `addr` with `lladdr` (proxy ND, NetBSD's
    /// RTF_ANNOUNCE); no neighbor cache entry is made.
    pub proxy: bool,
}

/// SIOCAIFADDR_IN6 with what `struct in6_aliasreq` adds to an address: its flags (only
/// `in6f::ANYCAST` is taken) and lifetimes in seconds (None: infinite), from ifconfig's
/// `anycast`, `pltime N`, `vltime N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct In6AliasReq {
    pub req: crate::msg::AddrReq,
    pub flags: u32,
    pub pltime: Option<u32>,
    pub vltime: Option<u32>,
}

/// One entry of the prefix list (`ndp -p`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NdPrefixInfo {
    pub prefix: Ipv6Addr,
    pub len: u8,
    pub ifname: String,
    /// The L flag (the list holds on-link prefixes) and the A flag of the advertisement.
    pub onlink: bool,
    pub autonomous: bool,
    /// The advertised valid and preferred lifetimes in seconds; None: infinity.
    pub vltime: Option<u32>,
    pub pltime: Option<u32>,
    /// Seconds until it expires; None: never.
    pub expire: Option<u64>,
    /// The router that advertised it and the state of its neighbor cache entry
    /// (`reachable`, `stale`, ..., or `no neighbor state`).
    pub advrtrs: Vec<(Ipv6Addr, String)>,
}

/// One entry of the default router list (`ndp -r`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NdRouterInfo {
    pub addr: Ipv6Addr,
    pub ifname: String,
    /// The M and O flags of its advertisement, and its preference (RFC 4191: 0 medium,
    /// 1 high, 3 low).
    pub managed: bool,
    pub other: bool,
    pub pref: u8,
    /// Seconds until its router lifetime ends; None: never.
    pub expire: Option<u64>,
}

/// The ND parameters of an interface (`ndp -i IF`, NetBSD's `struct nd_ifinfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NdIfInfo {
    /// The MTU a router advertised for the link (0: none).
    pub linkmtu: u32,
    /// The interface's MTU.
    pub maxmtu: u32,
    pub curhlim: u8,
    pub basereachable_ms: u32,
    pub reachable_s: u32,
    pub retrans_ms: u32,
    pub nud: bool,
    pub accept_rtadv: bool,
    pub auto_linklocal: bool,
}
