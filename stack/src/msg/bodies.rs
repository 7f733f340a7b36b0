//! Message bodies. Each carries what its BSD counterpart carries, under the same names.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// NetBSD's interface flags (`<net/if.h>`).
pub mod iff {
    pub const UP: u32 = 0x1;
    pub const BROADCAST: u32 = 0x2;
    pub const DEBUG: u32 = 0x4;
    pub const LOOPBACK: u32 = 0x8;
    pub const POINTOPOINT: u32 = 0x10;
    pub const NOTRAILERS: u32 = 0x20;
    pub const RUNNING: u32 = 0x40;
    pub const NOARP: u32 = 0x80;
    pub const PROMISC: u32 = 0x100;
    pub const ALLMULTI: u32 = 0x200;
    pub const OACTIVE: u32 = 0x400;
    pub const SIMPLEX: u32 = 0x800;
    pub const LINK0: u32 = 0x1000;
    pub const LINK1: u32 = 0x2000;
    pub const LINK2: u32 = 0x4000;
    pub const MULTICAST: u32 = 0x8000;

    /// Flag names in bit order, as ifconfig prints them.
    pub const NAMES: &[(u32, &str)] = &[
        (UP, "UP"),
        (BROADCAST, "BROADCAST"),
        (DEBUG, "DEBUG"),
        (LOOPBACK, "LOOPBACK"),
        (POINTOPOINT, "POINTOPOINT"),
        (NOTRAILERS, "NOTRAILERS"),
        (RUNNING, "RUNNING"),
        (NOARP, "NOARP"),
        (PROMISC, "PROMISC"),
        (ALLMULTI, "ALLMULTI"),
        (OACTIVE, "OACTIVE"),
        (SIMPLEX, "SIMPLEX"),
        (LINK0, "LINK0"),
        (LINK1, "LINK1"),
        (LINK2, "LINK2"),
        (MULTICAST, "MULTICAST"),
    ];

    /// Flags a client may change with SIOCSIFFLAGS; the rest belong to the stack.
    /// PROMISC among them, as on NetBSD: it follows the captures that asked for it.
    pub const CANTCHANGE: u32 =
        BROADCAST | LOOPBACK | POINTOPOINT | RUNNING | OACTIVE | SIMPLEX | MULTICAST | PROMISC | ALLMULTI;
}

/// `ifi_link_state` values.
pub const LINK_STATE_UNKNOWN: i32 = 0;
pub const LINK_STATE_DOWN: i32 = 1;
pub const LINK_STATE_UP: i32 = 2;

/// `ifan_what` values.
pub const IFAN_ARRIVAL: u16 = 0;
pub const IFAN_DEPARTURE: u16 = 1;

/// `ifi_type` values (IANA ifType).
pub const IFT_ETHER: u8 = 0x06;
pub const IFT_LOOP: u8 = 0x18;
/// pflog interfaces (NetBSD's IFT_PFLOG).
pub const IFT_PFLOG: u8 = 0xf6;
/// A bridge (if_bridge), NetBSD's IFT_BRIDGE.
pub const IFT_BRIDGE: u8 = 0xd1;

/// A body with nothing in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Empty;

/// What a connection is for; its first message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Routing, interface, sysctl, pf and key requests; may subscribe to broadcasts.
    Control,
    /// One BSD socket.
    Socket,
    /// One packet capture.
    Bpf,
    /// An interface whose frames travel over the connection.
    Tunnel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReq {
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    /// The stack variant: io-pkt-v4, io-pkt-v4-hc or io-pkt-v6-hc.
    pub variant: String,
    /// pktbox version.
    pub version: String,
    /// The stack's process id.
    pub pid: u32,
}

/// `struct if_data`: an interface's type, link state and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IfData {
    pub ifi_type: u8,
    pub ifi_addrlen: u8,
    pub ifi_hdrlen: u8,
    pub ifi_link_state: i32,
    pub ifi_mtu: u64,
    pub ifi_metric: u64,
    pub ifi_baudrate: u64,
    pub ifi_ipackets: u64,
    pub ifi_ierrors: u64,
    pub ifi_opackets: u64,
    pub ifi_oerrors: u64,
    pub ifi_collisions: u64,
    pub ifi_ibytes: u64,
    pub ifi_obytes: u64,
    pub ifi_imcasts: u64,
    pub ifi_omcasts: u64,
    pub ifi_iqdrops: u64,
    pub ifi_noproto: u64,
    /// Time of the last change of state, seconds since the epoch.
    pub ifi_lastchange: u64,
}

/// `if_msghdr` (RTM_IFINFO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfMsg {
    pub ifm_index: u16,
    pub ifm_flags: u32,
    /// The interface name (a BSD message carries it in an RTA_IFP sockaddr_dl).
    pub ifname: String,
    pub ifm_data: IfData,
}

/// `ifa_msghdr` (RTM_NEWADDR, RTM_DELADDR) with its RTA_IFA, RTA_NETMASK, RTA_BRD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaMsg {
    pub ifam_index: u16,
    pub ifam_flags: u32,
    pub ifam_metric: i32,
    pub ifname: String,
    pub ifa: IpAddr,
    pub netmask: IpAddr,
    pub brd: Option<IpAddr>,
}

/// `if_announcemsghdr` (RTM_IFANNOUNCE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfAnnounceMsg {
    pub ifan_index: u16,
    pub ifan_name: String,
    pub ifan_what: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfListReq {
    /// One interface, or all when None.
    pub name: Option<String>,
}

/// One address of an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub netmask: IpAddr,
    pub brd: Option<IpAddr>,
    /// Still doing duplicate address detection (IN6_IFF_TENTATIVE): not usable yet.
    /// `ifconfig -w` waits for it to clear.
    pub tentative: bool,
    /// IPv6 address flags (`IN6_IFF_*`: tentative, duplicated, deprecated, autoconf).
    pub flags: u32,
    /// The scope id of a link-local IPv6 address (its interface index), else 0.
    pub scopeid: u32,
    /// An IPv6 address's remaining preferred and valid lifetimes in seconds (`ifconfig
    /// -L`); None: infinite.
    pub pltime: Option<u32>,
    pub vltime: Option<u32>,
}

/// Everything ifconfig shows of one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfInfo {
    pub index: u16,
    pub name: String,
    pub flags: u32,
    pub mtu: u32,
    /// Link-level address (Ethernet interfaces).
    pub lladdr: Option<[u8; 6]>,
    pub data: IfData,
    pub addrs: Vec<IfAddr>,
    /// The driver behind it (`tap`, `udp`, `hub`), None for loopback.
    pub driver: Option<String>,
    /// Driver details for `ifconfig -v`.
    pub details: Vec<(String, String)>,
    /// Offloads the interface can do and those enabled (`ifcap` bits).
    pub capabilities: u32,
    pub capenable: u32,
    /// TCP super-frames sent for the driver to cut (TSO), and received merged (LRO).
    pub otso: u64,
    pub ilro: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfNameReq {
    pub name: String,
}

/// SIOCSIFFLAGS (set, then clear) and SIOCSIFMTU in one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfSetReq {
    pub name: String,
    pub set_flags: u32,
    pub clear_flags: u32,
    pub mtu: Option<u32>,
    /// SIOCSIFCAP: offloads to enable, then to disable.
    pub set_caps: u32,
    pub clear_caps: u32,
}

/// SIOCAIFADDR / SIOCDIFADDR (`struct in_aliasreq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrReq {
    pub name: String,
    /// For SIOCDIFADDR, None removes the first address of the interface.
    pub addr: Option<IpAddr>,
    pub netmask: Option<IpAddr>,
    pub brd: Option<IpAddr>,
}

/// A sysctl value, typed as the node is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SysctlValue {
    Int(i64),
    Str(String),
}

impl std::fmt::Display for SysctlValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SysctlValue::Int(v) => write!(f, "{v}"),
            SysctlValue::Str(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlGetReq {
    /// A full name, a prefix naming a subtree, or "" for everything.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlEntry {
    pub name: String,
    pub value: SysctlValue,
    pub writable: bool,
    pub desc: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlSetReq {
    pub name: String,
    /// The new value as the user wrote it; the stack parses it by the node's type.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlChange {
    pub name: String,
    pub old: SysctlValue,
    pub new: SysctlValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeReq {
    pub on: bool,
}

/// `rt_msghdr` with its RTA_* addresses: the body of RTM_ADD, RTM_DELETE, RTM_CHANGE,
/// RTM_GET and RTM_MISS, as requests, answers and broadcasts, for either family. The family
/// of a message is its destination's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RtMsg {
    /// RTF_* flags.
    pub rtm_flags: u32,
    /// Interface index of the route (0 when not known or not given).
    pub rtm_index: u16,
    /// RTA_DST.
    pub dst: Option<IpAddr>,
    /// The destination's sin6_scope_id (the interface index of a link-local destination).
    pub dst_scope: u32,
    /// RTA_GATEWAY as an address (a gateway route).
    pub gateway: Option<IpAddr>,
    /// The gateway's sin6_scope_id (`fe80::1%en0`).
    pub gateway_scope: u32,
    /// RTA_NETMASK as a prefix length; None for a host route.
    pub prefixlen: Option<u8>,
    /// RTA_IFP: the interface by name (`-ifp`, or `-interface` routes' interface).
    pub ifp: Option<String>,
    /// RTA_IFA: the source address the route uses.
    pub ifa: Option<IpAddr>,
    /// rmx_mtu (0 = the interface's).
    pub mtu: u32,
    /// The other rt_metrics.
    pub rmx: RtMetrics,
    /// rtm_inits: the RTV_* metrics this message sets.
    pub rtm_inits: u32,
    /// rmx_locks: the RTV_* metrics the stack must leave alone.
    pub rmx_locks: u32,
    /// rt_use: packets sent along the route.
    pub use_count: u64,
}

impl RtMsg {
    /// True for an IPv6 route message.
    pub fn is_inet6(&self) -> bool {
        matches!(self.dst, Some(IpAddr::V6(_)))
    }
}

/// The RTV_* bits of rtm_inits and rmx_locks (`<net/route.h>`).
pub mod rtv {
    pub const MTU: u32 = 0x1;
    pub const HOPCOUNT: u32 = 0x2;
    pub const EXPIRE: u32 = 0x4;
    pub const RPIPE: u32 = 0x8;
    pub const SPIPE: u32 = 0x10;
    pub const SSTHRESH: u32 = 0x20;
    pub const RTT: u32 = 0x40;
    pub const RTTVAR: u32 = 0x80;

    /// The names route(8) prints for `inits:` and `locks:`.
    pub const NAMES: &[(u32, &str)] = &[
        (MTU, "mtu"),
        (HOPCOUNT, "hopcount"),
        (EXPIRE, "expire"),
        (RPIPE, "recvpipe"),
        (SPIPE, "sendpipe"),
        (SSTHRESH, "ssthresh"),
        (RTT, "rtt"),
        (RTTVAR, "rttvar"),
    ];
}

/// `struct rt_metrics` apart from the MTU: what a route keeps for the transport protocols
/// and shows in `route get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RtMetrics {
    pub hopcount: u32,
    /// Absolute expiry time in seconds of the stack's uptime clock (0: none).
    pub expire: i64,
    pub recvpipe: u32,
    pub sendpipe: u32,
    pub ssthresh: u32,
    /// Round-trip time and its variance, in microseconds (RTM_RTTUNIT).
    pub rtt: u32,
    pub rttvar: u32,
}

/// Which table a flush empties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RtFamily {
    /// Both.
    #[default]
    Any,
    Inet,
    Inet6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FlushReq {
    /// `route flushall`: also the routes that are not gateway routes.
    pub all: bool,
    /// `route flush -inet` / `-inet6`.
    pub family: RtFamily,
}

/// NetBSD's `ipstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IpStats {
    pub total: u64,
    pub badsum: u64,
    pub tooshort: u64,
    pub toosmall: u64,
    pub badhlen: u64,
    pub badlen: u64,
    pub fragments: u64,
    pub fragdropped: u64,
    pub fragtimeout: u64,
    pub forward: u64,
    pub fastforward: u64,
    pub cantforward: u64,
    pub redirectsent: u64,
    pub noproto: u64,
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
    pub toolong: u64,
    pub nogif: u64,
    pub badaddr: u64,
}

/// NetBSD's `icmpstat`; histograms are indexed by ICMP type (0..=40).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IcmpStats {
    pub error: u64,
    pub oldshort: u64,
    pub oldicmp: u64,
    pub outhist: Vec<u64>,
    pub badcode: u64,
    pub tooshort: u64,
    pub checksum: u64,
    pub badlen: u64,
    pub reflect: u64,
    pub inhist: Vec<u64>,
    pub pmtuchg: u64,
    /// "Fragmentation needed" errors ignored: quoting no datagram of a socket of ours
    /// (RFC 5927), or an MTU below the floor (296, as NetBSD) or above the interface's.
    pub pmtuignored: u64,
    /// Errors not sent because of the rate limit (icmperrppslim).
    pub toofreq: u64,
    /// Errors dropped for quoting nothing a socket of ours sent (RFC 5927): no such
    /// connection, or a TCP sequence number outside what is unacknowledged.
    pub badquote: u64,
}

/// NetBSD's `arpstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ArpStats {
    pub sent_requests: u64,
    pub sent_replies: u64,
    pub received: u64,
    pub rcv_requests: u64,
    pub rcv_replies: u64,
    pub rcv_mcast: u64,
    pub rcv_badproto: u64,
    pub rcv_badlen: u64,
    pub rcv_zerotpa: u64,
    pub rcv_zerospa: u64,
    pub rcv_localsha: u64,
    pub rcv_bcastsha: u64,
    pub dup_ips: u64,
    pub dfr_total: u64,
    pub dfr_sent: u64,
    pub dfr_dropped: u64,
    pub allocfail: u64,
}

/// NetBSD's `tcpstat` (the counters this stack keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TcpStats {
    pub connattempt: u64,
    pub accepts: u64,
    pub connects: u64,
    pub drops: u64,
    pub conndrops: u64,
    pub closed: u64,
    pub segstimed: u64,
    pub rttupdated: u64,
    pub delack: u64,
    pub timeoutdrop: u64,
    pub rexmttimeo: u64,
    pub persisttimeo: u64,
    pub keeptimeo: u64,
    pub keepprobe: u64,
    pub keepdrops: u64,
    pub sndtotal: u64,
    pub sndpack: u64,
    pub sndbyte: u64,
    pub sndrexmitpack: u64,
    pub sndrexmitbyte: u64,
    pub sndacks: u64,
    pub sndprobe: u64,
    pub sndwinup: u64,
    pub sndctrl: u64,
    pub sndrst: u64,
    pub rcvtotal: u64,
    pub rcvpack: u64,
    pub rcvbyte: u64,
    pub rcvbadsum: u64,
    pub rcvbadoff: u64,
    pub rcvshort: u64,
    pub rcvduppack: u64,
    pub rcvdupbyte: u64,
    pub rcvpartduppack: u64,
    pub rcvoopack: u64,
    /// Out-of-order segments not kept: the queue was at its byte or run limit.
    pub rcvmemdrop: u64,
    pub rcvoobyte: u64,
    pub rcvpackafterwin: u64,
    pub rcvwinprobe: u64,
    pub rcvdupack: u64,
    pub rcvacktoomuch: u64,
    pub rcvackpack: u64,
    pub rcvackbyte: u64,
    pub rcvwinupd: u64,
    pub pawsdrop: u64,
    pub listendrop: u64,
    pub badsyn: u64,
    pub rcvrst: u64,
    pub challengeack: u64,
    pub fastrexmt: u64,
    /// Tail loss probes sent (RFC 8985).
    pub tlpsent: u64,
    pub syncookiessent: u64,
    pub syncookiesrecvd: u64,
    pub syncookiesfailed: u64,
}

/// One socket, as `netstat -a` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockInfo {
    /// "tcp", "udp" or "raw" (the same for AF_INET6 sockets: see `family`).
    pub proto: String,
    /// AF_INET or AF_INET6: the socket's domain (netstat's `tcp` / `tcp6`).
    pub family: i32,
    pub recv_q: u64,
    pub send_q: u64,
    /// A v4-mapped address (`::ffff:a.b.c.d`) belongs to an AF_INET6 socket; see `family`.
    #[serde(with = "crate::msg::sockaddr")]
    pub local: std::net::SocketAddr,
    #[serde(with = "crate::msg::sockaddr::opt")]
    pub foreign: Option<std::net::SocketAddr>,
    /// TCP state name (LISTEN, ESTABLISHED, ...); empty for other protocols.
    pub state: String,
    /// The receive and send buffer sizes (SO_RCVBUF, SO_SNDBUF as they stand: BSD's
    /// sb_hiwat), shown by `netstat -x`.
    pub rcvbuf: u64,
    pub sndbuf: u64,
    /// The process holding the socket (sockstat): None for a socket no client holds
    /// (TIME_WAIT, a connection not accepted yet).
    pub owner: Option<SockOwner>,
}

/// Who holds a socket: the credentials of its channel connection (SO_PEERCRED) and the
/// descriptor number the client's program knows it by, when the client said
/// (`SockClientFd`; the preloadable socket library does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockOwner {
    pub pid: u32,
    pub uid: u32,
    pub fd: Option<i32>,
}

/// Protocol counters for `netstat -s`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Stats {
    pub ip: IpStats,
    pub icmp: IcmpStats,
    pub arp: ArpStats,
    pub udp: UdpStats,
    pub tcp: TcpStats,
    /// ip6stat and icmp6stat, from a stack with IPv6 (None without).
    pub ip6: Option<crate::msg::Ip6Stats>,
    pub icmp6: Option<crate::msg::Icmp6Stats>,
}

/// One ARP cache entry (`arp -a`, `netstat -f arp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpEntry {
    pub addr: std::net::Ipv4Addr,
    /// None while the address is being resolved.
    pub lladdr: Option<[u8; 6]>,
    pub ifname: String,
    /// Seconds until it expires; None for permanent entries.
    pub expire: Option<u64>,
    pub permanent: bool,
    /// Answered for by this stack (`arp -s ... pub`).
    pub published: bool,
    /// Only answered for, not in the cache (`arp -s ... pub proxy`).
    pub proxy_only: bool,
}

/// `arp -s`: a static ARP entry (NetBSD writes it as RTM_ADD with RTF_LLDATA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpSetReq {
    pub addr: std::net::Ipv4Addr,
    /// None: the interface's own address (`auto`).
    pub lladdr: Option<[u8; 6]>,
    /// `temp`: expires like a learned entry instead of being permanent.
    pub temp: bool,
    /// `pub`: answer requests for the address.
    pub publish: bool,
    /// `pub proxy`: answer for it only, keep no cache entry.
    pub proxy_only: bool,
}

/// `arp -d`: removes an entry (RTM_DELETE of an RTF_LLDATA route).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpDelReq {
    pub addr: std::net::Ipv4Addr,
    /// `proxy`: only the published (proxy) entry.
    pub proxy_only: bool,
}

/// `socket(2)` for a connection of the socket role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketReq {
    /// AF_INET or AF_INET6.
    pub domain: i32,
    /// SOCK_RAW or SOCK_DGRAM (SOCK_STREAM comes with TCP).
    pub stype: i32,
    /// IPPROTO_*.
    pub protocol: i32,
}

/// A socket option (`setsockopt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SockOpt {
    /// IP_TTL: 1-255.
    IpTtl(u8),
    /// IP_TOS.
    IpTos(u8),
    /// SO_REUSEADDR.
    ReuseAddr(bool),
    /// SO_REUSEPORT.
    ReusePort(bool),
    /// SO_BROADCAST.
    Broadcast(bool),
    /// TCP_NODELAY.
    NoDelay(bool),
    /// SO_KEEPALIVE.
    KeepAlive(bool),
    /// SO_LINGER: None off, Some(seconds) on.
    Linger(Option<u32>),
    /// SO_SNDBUF.
    SndBuf(u32),
    /// SO_RCVBUF.
    RcvBuf(u32),
    /// IPV6_V6ONLY (AF_INET6 sockets, before bind): refuse IPv4 peers, which a v6 socket
    /// otherwise sees as v4-mapped addresses (`::ffff:a.b.c.d`).
    V6Only(bool),
    /// IPV6_UNICAST_HOPS: the hop limit of what an AF_INET6 socket sends.
    Ipv6UnicastHops(u8),
    /// IPV6_USE_MIN_MTU (RFC 3542 11.1) on an AF_INET6 raw socket: 1 fragment to the
    /// minimum MTU (1280), 0 to the path MTU, -1 (the default) the minimum MTU for
    /// multicast destinations only.
    Ipv6UseMinMtu(i8),
}

/// How a blocking request may wait: not at all, up to a time, or until done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Wait {
    pub nonblock: bool,
    /// SO_RCVTIMEO / SO_SNDTIMEO in milliseconds.
    pub timeout_ms: Option<u32>,
}

/// listen(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenReq {
    pub backlog: i32,
}

/// recv(2) on a stream socket: up to `max` bytes; an empty answer is end of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecvReq {
    pub max: u32,
    pub peek: bool,
    pub wait: Wait,
}

/// shutdown(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownReq {
    pub how: i32,
}

/// getsockname(2) and getpeername(2) in one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockNames {
    #[serde(with = "crate::msg::sockaddr")]
    pub local: std::net::SocketAddr,
    #[serde(with = "crate::msg::sockaddr::opt")]
    pub peer: Option<std::net::SocketAddr>,
}

/// NetBSD's `udpstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UdpStats {
    pub ipackets: u64,
    pub hdrops: u64,
    pub badlen: u64,
    pub badsum: u64,
    pub noport: u64,
    pub noportbcast: u64,
    pub fullsock: u64,
    pub delivered: u64,
    pub opackets: u64,
}

/// `bind(2)` / `connect(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockAddrReq {
    #[serde(with = "crate::msg::sockaddr")]
    pub addr: std::net::SocketAddr,
    /// For connect on a stream socket.
    pub wait: Wait,
}

/// `sendto(2)`: the payload (for a raw ICMP socket, the ICMP message; the stack adds the IP
/// header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReq {
    #[serde(with = "crate::msg::sockaddr::opt")]
    pub to: Option<std::net::SocketAddr>,
    #[serde(with = "crate::msg::bytes")]
    pub data: Vec<u8>,
    /// For a stream socket: whether to wait for room in the send buffer.
    pub wait: Wait,
}

/// A datagram for the socket, pushed by the stack (MSGF_DATA): for raw sockets, the whole
/// IP packet, header included, as BSD raw sockets deliver it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataMsg {
    #[serde(with = "crate::msg::sockaddr")]
    pub from: std::net::SocketAddr,
    #[serde(with = "crate::msg::bytes")]
    pub data: Vec<u8>,
    /// The hop limit of an IPv6 datagram given to an AF_INET6 raw socket (the
    /// IPV6_HOPLIMIT ancillary data of RFC 3542 6); None otherwise.
    pub hlim: Option<u8>,
}

/// BIOCSETIF (with BIOCSBLEN before it): attach a capture to an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpfAttachReq {
    pub ifname: String,
    /// The buffer size asked for (BIOCSBLEN); None keeps the default.
    pub buflen: Option<u32>,
}

/// What an attached capture got: the link type (BIOCGDLT) and buffer size (BIOCGBLEN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpfAttached {
    pub dlt: u32,
    pub buflen: u32,
}

/// A capture's settings: BIOCPROMISC, BIOCSDIRECTION, BIOCIMMEDIATE, BIOCSRTIMEOUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpfConf {
    /// Put the interface in promiscuous mode while the capture lasts.
    pub promisc: bool,
    /// BPF_D_IN, BPF_D_INOUT or BPF_D_OUT.
    pub direction: u32,
    /// Hand each packet to a read as soon as it arrives, not when the buffer fills.
    pub immediate: bool,
    /// How long a read waits for a full buffer before it returns what there is (0: forever).
    pub timeout_ms: u32,
}

/// BIOCGSTATS: packets seen by the capture, dropped for want of buffer space, and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BpfStat {
    pub recv: u64,
    pub drop: u64,
    pub capt: u64,
}
