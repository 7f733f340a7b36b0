//! Every channel message, defined once, with its codec; both ends use this module.
//!
//! A message is one SOCK_SEQPACKET datagram: a fixed 20-byte header modelled on NetBSD's
//! `rt_msghdr` (length, version, type, flags, seq, pid, errno), then a body encoded with
//! postcard. The header's type says which body follows, so decoding is total: a datagram
//! that is truncated, oversized, of another version, of an unknown type, or whose body does
//! not decode to exactly the bytes given is refused with EINVAL.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

mod bodies;
mod bodies6;
mod bodies_bridge;
pub mod bytes;
pub mod errno;
pub mod pf;
pub mod sockaddr;
pub mod wire;
pub use bodies::*;
pub use bodies6::*;
pub use bodies_bridge::*;

/// Version of the channel protocol (the header's `version`).
pub const MSG_VERSION: u8 = 1;
/// Size of the fixed header.
pub const HDR_LEN: usize = 20;
/// Largest datagram either end sends or accepts.
pub const MAX_MSG: usize = 256 * 1024;

/// Header flag: this message answers a request (same seq).
pub const MSGF_REPLY: u16 = 0x1;
/// Header flag: this message is a routing broadcast, not an answer.
pub const MSGF_BCAST: u16 = 0x2;
/// Header flag: data for a socket, pushed by the stack.
pub const MSGF_DATA: u16 = 0x4;

/// The fixed header, as rt_msghdr carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Total length of the datagram, header included.
    pub len: u32,
    pub version: u8,
    pub mtype: u8,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub errno: i32,
}

impl Header {
    pub fn encode(&self, out: &mut [u8; HDR_LEN]) {
        out[0..4].copy_from_slice(&self.len.to_le_bytes());
        out[4] = self.version;
        out[5] = self.mtype;
        out[6..8].copy_from_slice(&self.flags.to_le_bytes());
        out[8..12].copy_from_slice(&self.seq.to_le_bytes());
        out[12..16].copy_from_slice(&self.pid.to_le_bytes());
        out[16..20].copy_from_slice(&self.errno.to_le_bytes());
    }

    /// Reads the header of a datagram of `b.len()` bytes and checks it against that length.
    pub fn decode(b: &[u8]) -> Result<Header, DecodeError> {
        if b.len() < HDR_LEN {
            return Err(DecodeError::Truncated);
        }
        if b.len() > MAX_MSG {
            return Err(DecodeError::Oversized);
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let h = Header {
            len: u32_at(0),
            version: b[4],
            mtype: b[5],
            flags: u16::from_le_bytes([b[6], b[7]]),
            seq: u32_at(8),
            pid: u32_at(12),
            errno: u32_at(16) as i32,
        };
        if h.version != MSG_VERSION {
            return Err(DecodeError::Version(h.version));
        }
        if h.len as usize != b.len() {
            return Err(DecodeError::Length);
        }
        Ok(h)
    }
}

/// Why a datagram was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    Oversized,
    Version(u8),
    Length,
    UnknownType(u8),
    Body,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "truncated message"),
            DecodeError::Oversized => write!(f, "oversized message"),
            DecodeError::Version(v) => write!(f, "message version {v} (expected {MSG_VERSION})"),
            DecodeError::Length => write!(f, "header length does not match the datagram"),
            DecodeError::UnknownType(t) => write!(f, "unknown message type {t:#x}"),
            DecodeError::Body => write!(f, "malformed message body"),
        }
    }
}

fn body<T: DeserializeOwned>(b: &[u8]) -> Result<T, DecodeError> {
    match postcard::take_from_bytes::<T>(b) {
        Ok((v, [])) => Ok(v),
        _ => Err(DecodeError::Body),
    }
}

fn put<T: Serialize>(v: &T, out: &mut Vec<u8>) {
    // Serializing plain data into a growable Vec cannot fail; the body goes straight
    // behind what is there.
    let b = std::mem::take(out);
    let len = b.len();
    *out = postcard::to_extend(v, b).unwrap_or_else(|_| vec![0; len]);
}

macro_rules! messages {
    ($( $(#[$doc:meta])* $code:literal => $name:ident ( $ty:ty ) ),* $(,)?) => {
        /// A decoded message body; the variant fixes the header's type.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[allow(clippy::large_enum_variant)]
        pub enum Msg {
            $( $(#[$doc])* $name($ty), )*
        }

        impl Msg {
            /// The header type that carries this body.
            pub fn mtype(&self) -> u8 {
                match self { $( Msg::$name(_) => $code, )* }
            }

            fn put_body(&self, out: &mut Vec<u8>) {
                match self { $( Msg::$name(v) => put(v, out), )* }
            }

            fn decode_body(mtype: u8, b: &[u8]) -> Result<Msg, DecodeError> {
                match mtype {
                    $( $code => Ok(Msg::$name(body::<$ty>(b)?)), )*
                    t => Err(DecodeError::UnknownType(t)),
                }
            }

            /// The name of a message type, for `route monitor` and errors.
            pub fn type_name(mtype: u8) -> Option<&'static str> {
                match mtype { $( $code => Some(stringify!($name)), )* _ => None }
            }
        }
    };
}

// Codes below 0x40 are NetBSD's RTM_* values; pktbox's own requests start at 0x40.
// A reply reuses the request's code with MSGF_REPLY set; its body type is the reply type
// below for that code (see `Reply`).
messages! {
    /// RTM_ADD.
    0x01 => RtAdd(RtMsg),
    /// RTM_DELETE.
    0x02 => RtDelete(RtMsg),
    /// RTM_CHANGE.
    0x03 => RtChange(RtMsg),
    /// RTM_GET.
    0x04 => RtGet(RtMsg),
    /// RTM_MISS: a lookup found no route.
    0x07 => RtMiss(RtMsg),
    /// RTM_NEWADDR: an address was added (ifa_msghdr).
    0x0c => NewAddr(IfaMsg),
    /// RTM_DELADDR: an address was removed (ifa_msghdr).
    0x0d => DelAddr(IfaMsg),
    /// RTM_IFANNOUNCE: an interface arrived or departed (if_announcemsghdr).
    0x10 => IfAnnounce(IfAnnounceMsg),
    /// RTM_IFINFO: an interface's flags or link state changed (if_msghdr).
    0x14 => IfInfo(IfMsg),
    /// First message of a connection: its role.
    0x40 => Hello(HelloReq),
    /// Interfaces, all or one (NET_RT_IFLIST).
    0x41 => IfList(IfListReq),
    /// SIOCIFCREATE.
    0x42 => IfCreate(IfNameReq),
    /// SIOCIFDESTROY.
    0x43 => IfDestroy(IfNameReq),
    /// SIOCSIFFLAGS / SIOCSIFMTU.
    0x44 => IfSet(IfSetReq),
    /// SIOCAIFADDR.
    0x45 => AddrAdd(AddrReq),
    /// SIOCDIFADDR.
    0x46 => AddrDel(AddrReq),
    /// sysctl read of a name or subtree.
    0x47 => SysctlGet(SysctlGetReq),
    /// sysctl write.
    0x48 => SysctlSet(SysctlSetReq),
    /// Start or stop routing broadcasts on this connection.
    0x49 => Subscribe(SubscribeReq),
    /// SIOCIFGCLONERS.
    0x4a => Cloners(Empty),
    /// The routing table (NET_RT_DUMP).
    0x4b => RtDump(Empty),
    /// `route flush`.
    0x4c => RtFlush(FlushReq),
    /// Protocol counters.
    0x4d => StatsGet(Empty),
    /// The ARP cache (NET_RT_FLAGS with RTF_LLDATA).
    0x4e => ArpDump(Empty),
    /// The sockets (netstat -a): pcblist.
    0x4f => SockList(Empty),
    /// IPv6 protocol counters (ip6stat, icmp6stat).
    0x6e => Stats6Get(Empty),
    /// SIOCAIFADDR_IN6 with flags and lifetimes (in6_aliasreq).
    0x6d => AddrAdd6(In6AliasReq),
    /// The neighbor cache (`ndp -a`).
    0x6f => NdDump(Empty),
    /// `ndp -d`: delete one neighbor cache entry.
    0x68 => NdDelete(NdDelReq),
    /// The prefix list (`ndp -p`).
    0x69 => NdPrefixes(Empty),
    /// The default router list (`ndp -r`).
    0x6a => NdRouters(Empty),
    /// An interface's ND parameters (`ndp -i`).
    0x6b => NdIfInfoGet(IfNameReq),
    /// `ndp -s`: add a neighbor cache entry.
    0x6c => NdSet(NdSetReq),
    /// socket(2): the first request of a socket-role connection.
    0x50 => Socket(SocketReq),
    /// bind(2).
    0x51 => SockBind(SockAddrReq),
    /// connect(2).
    0x52 => SockConnect(SockAddrReq),
    /// setsockopt(2).
    0x53 => SockSetOpt(SockOpt),
    /// sendto(2).
    0x54 => SockSend(SendReq),
    /// A received datagram (pushed, MSGF_DATA).
    0x55 => SockData(DataMsg),
    /// getsockname(2) / getpeername(2).
    0x56 => SockGetName(Empty),
    /// listen(2).
    0x57 => SockListen(ListenReq),
    /// accept(2): the answer carries the new connection's descriptor (SCM_RIGHTS).
    0x58 => SockAccept(Wait),
    /// recv(2) on a stream socket.
    0x59 => SockRecv(RecvReq),
    /// shutdown(2).
    0x5a => SockShutdown(ShutdownReq),
    /// The descriptor number the client's program knows this socket by, for sockstat.
    0x5f => SockClientFd(i32),
    /// `arp -s` (RTM_ADD with RTF_LLDATA).
    0x70 => ArpSet(ArpSetReq),
    /// `arp -d` (RTM_DELETE with RTF_LLDATA).
    0x71 => ArpDelete(ArpDelReq),
    /// BIOCSBLEN + BIOCSETIF.
    0x60 => BpfAttach(BpfAttachReq),
    /// BIOCSETF: the program is checked before it is taken.
    0x61 => BpfSetFilter(Vec<crate::wire::bpf::BpfInsn>),
    /// BIOCPROMISC, BIOCSDIRECTION, BIOCIMMEDIATE, BIOCSRTIMEOUT.
    0x62 => BpfConfigure(BpfConf),
    /// read(2) on the capture: the answer is a buffer of `bpf_hdr` records.
    0x63 => BpfRead(Empty),
    /// write(2) on the capture: one whole frame to send on the interface.
    0x64 => BpfWrite(Vec<u8>),
    /// BIOCGSTATS.
    0x65 => BpfStats(Empty),
    /// BIOCFLUSH.
    0x66 => BpfFlush(Empty),
    /// A request to PF (the /dev/pf ioctls); ENOENT when PF is not loaded.
    0x78 => Pf(pf::PfReq),
    /// SIOCSLINKSTR: open a cloned interface's driver.
    0x90 => IfLinkstr(LinkstrReq),
    /// A brconfig command (the BRDG* ioctls).
    0x91 => BrSet(BrReq),
    /// The bridges' state (BRDGGIFS, BRDGRTS, BRDGGPARAM ...).
    0x92 => BrGet(BrGetReq),
    // Replies.
    0xc0 => HelloOk(HelloReply),
    0xc1 => IfListOk(Vec<IfInfo>),
    0xc2 => Done(Empty),
    0xc7 => SysctlValues(Vec<SysctlEntry>),
    0xc8 => SysctlChanged(SysctlChange),
    0xca => ClonerList(Vec<String>),
    0xcb => RtList(Vec<RtMsg>),
    0xcc => RtFlushed(Vec<RtMsg>),
    0xcd => StatsOk(Stats),
    0xce => ArpList(Vec<ArpEntry>),
    0xcf => SockListOk(Vec<SockInfo>),
    0xee => Stats6Ok(Stats6),
    0xef => NdList(Vec<NdEntryInfo>),
    0xe9 => NdPrefixList(Vec<NdPrefixInfo>),
    0xea => NdRouterList(Vec<NdRouterInfo>),
    0xeb => NdIfInfoOk(NdIfInfo),
    0xd6 => SockNamesOk(SockNames),
    /// How many bytes a send took.
    0xd4 => SockSent(u64),
    /// An accepted connection: its addresses (its descriptor rides along).
    0xd8 => SockAccepted(SockNames),
    0xe0 => BpfAttachedOk(BpfAttached),
    /// Records read from a capture, each a `bpf_hdr` then the captured bytes.
    0xe3 => BpfData(Vec<u8>),
    0xe5 => BpfStatsOk(BpfStat),
    0xf8 => PfOk(pf::PfReply),
    0xf2 => BrStatusOk(Vec<BrStatus>),
    /// An error reply's optional explanation (the header's errno is the error).
    0xff => ErrorText(String),
}

/// A whole datagram, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub hdr: Header,
    pub msg: Msg,
}

/// Encodes a message with the given seq, pid, flags and errno.
pub fn encode(msg: &Msg, seq: u32, pid: u32, flags: u16, errno: i32) -> Vec<u8> {
    // Socket data is most of a data message: room for it at once, not by doubling.
    let data = match msg {
        Msg::SockData(d) => d.data.len(),
        Msg::SockSend(d) => d.data.len(),
        _ => 0,
    };
    let mut out = Vec::with_capacity(HDR_LEN + data + 64);
    out.resize(HDR_LEN, 0);
    msg.put_body(&mut out);
    let hdr = Header {
        len: out.len() as u32,
        version: MSG_VERSION,
        mtype: msg.mtype(),
        flags,
        seq,
        pid,
        errno,
    };
    let mut h = [0u8; HDR_LEN];
    hdr.encode(&mut h);
    out[..HDR_LEN].copy_from_slice(&h);
    out
}

/// Decodes one datagram: header checks, then the body that its type names.
pub fn decode(b: &[u8]) -> Result<Frame, DecodeError> {
    let hdr = Header::decode(b)?;
    let msg = Msg::decode_body(hdr.mtype, &b[HDR_LEN..])?;
    Ok(Frame { hdr, msg })
}

#[cfg(test)]
mod tests;
