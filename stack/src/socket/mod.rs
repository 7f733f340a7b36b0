//! The client's end of the channel: what every applet links. `Stack::open()` finds the
//! stack named by `SOCK` (default prefix `/run/io-pkt`), says the connection's role, and
//! then offers typed calls.
//!
//! ```no_run
//! use pktbox_stack::socket::Stack;
//! let mut s = Stack::open()?;
//! for ifp in s.if_list(None)? {
//!     println!("{} mtu {}", ifp.name, ifp.mtu);
//! }
//! # Ok::<(), pktbox_stack::socket::Error>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::msg::errno::strerror;
use crate::msg::wire::{Received, SeqPacket};
use crate::msg::*;

mod bpf;
pub use bpf::Bpf;

/// The prefix used when `SOCK` is not set.
pub const DEFAULT_PREFIX: &str = "/run/io-pkt";

/// Datagrams a UDP socket reads ahead, before a send, looking for an error the stack
/// pushed behind them.
const PUSHED_READ_AHEAD: usize = 256;

/// The stack prefix this process should talk to: `$SOCK`, else `/run/io-pkt`.
pub fn prefix_from_env() -> PathBuf {
    match std::env::var_os("SOCK") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_PREFIX),
    }
}

/// What can go wrong talking to a stack.
#[derive(Debug)]
pub enum Error {
    /// Nothing answers at the socket path.
    NoStack(PathBuf),
    /// The stack refused the request: errno and, sometimes, an explanation.
    Errno { errno: i32, text: Option<String> },
    /// The transport failed.
    Io(io::Error),
    /// The stack answered something this client cannot read.
    Protocol(String),
}

impl Error {
    /// The errno of a refusal, if this is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Errno { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The BSD text of the error, without an explanation ("Operation not permitted").
    pub fn strerror(&self) -> String {
        match self {
            Error::Errno { errno, .. } => strerror(*errno),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoStack(p) => write!(f, "no stack at {} (is io-pkt running? set SOCK=<prefix>)", p.display()),
            Error::Errno { errno, text } => match text {
                Some(t) if !t.is_empty() => write!(f, "{} ({t})", strerror(*errno)),
                _ => f.write_str(&strerror(*errno)),
            },
            Error::Io(e) => write!(f, "{e}"),
            Error::Protocol(s) => write!(f, "protocol error: {s}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// The answer a reply frame carries: its body, or the error its header's errno says.
fn answer(f: Frame) -> Result<Msg, Error> {
    if f.hdr.errno == 0 {
        return Ok(f.msg);
    }
    let text = match f.msg {
        Msg::ErrorText(t) if !t.is_empty() => Some(t),
        _ => None,
    };
    Err(Error::Errno {
        errno: f.hdr.errno,
        text,
    })
}

/// A control connection to a stack.
pub struct Stack {
    conn: SeqPacket,
    seq: u32,
    pid: u32,
    buf: Vec<u8>,
    /// Broadcasts that arrived while waiting for a reply.
    pending: VecDeque<Frame>,
    prefix: PathBuf,
    hello: HelloReply,
}

impl Stack {
    /// Opens a control connection to the stack named by `SOCK`.
    pub fn open() -> Result<Stack, Error> {
        Stack::open_at(&prefix_from_env())
    }

    /// Opens a control connection to the stack at `prefix`.
    pub fn open_at(prefix: &Path) -> Result<Stack, Error> {
        let path = crate::sys::run::socket_path(prefix);
        let conn = match SeqPacket::connect(&path) {
            Ok(c) => c,
            Err(e) => match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ECONNREFUSED) | Some(libc::ENOTDIR) | Some(libc::ENOTSOCK) => {
                    return Err(Error::NoStack(path))
                }
                _ => return Err(Error::Io(e)),
            },
        };
        let mut s = Stack {
            conn,
            seq: 0,
            pid: std::process::id(),
            buf: vec![0; MAX_MSG + 1],
            pending: VecDeque::new(),
            prefix: prefix.to_path_buf(),
            hello: HelloReply {
                variant: String::new(),
                version: String::new(),
                pid: 0,
            },
        };
        match s.call(Msg::Hello(HelloReq { role: Role::Control }))? {
            Msg::HelloOk(h) => s.hello = h,
            other => return Err(Error::Protocol(format!("unexpected answer to hello: {other:?}"))),
        }
        Ok(s)
    }

    /// The stack's prefix.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The seq the next request on this connection will carry (`route -v` shows it).
    pub fn next_seq(&self) -> u32 {
        self.seq.wrapping_add(1)
    }

    /// What the stack said of itself: variant, version, pid.
    pub fn hello(&self) -> &HelloReply {
        &self.hello
    }

    /// Sends raw bytes on the connection (for tests of the stack's input checks).
    pub fn send_raw(&self, b: &[u8]) -> Result<(), Error> {
        self.conn.send(b).map_err(Error::Io)
    }

    /// Receives one datagram and decodes it; the header comes back with the body.
    pub fn recv_frame(&mut self) -> Result<Frame, Error> {
        let n = match self.conn.recv(&mut self.buf)? {
            Received::Msg(n) => n,
            Received::Truncated(_) => return Err(Error::Protocol("oversized message".into())),
            Received::Closed => return Err(Error::Io(io::ErrorKind::ConnectionReset.into())),
        };
        decode(&self.buf[..n]).map_err(|e| Error::Protocol(e.to_string()))
    }

    /// Sends a request and waits for its answer. Broadcasts that arrive meanwhile are kept
    /// for `next_broadcast`.
    pub fn call(&mut self, msg: Msg) -> Result<Msg, Error> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let b = encode(&msg, seq, self.pid, 0, 0);
        self.conn.send(&b)?;
        loop {
            let f = self.recv_frame()?;
            if f.hdr.flags & MSGF_BCAST != 0 {
                self.pending.push_back(f);
                continue;
            }
            if f.hdr.seq != seq {
                continue;
            }
            return answer(f);
        }
    }

    fn expect_done(&mut self, msg: Msg) -> Result<(), Error> {
        match self.call(msg)? {
            Msg::Done(_) => Ok(()),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// The interfaces, all or the one named.
    pub fn if_list(&mut self, name: Option<&str>) -> Result<Vec<IfInfo>, Error> {
        match self.call(Msg::IfList(IfListReq {
            name: name.map(str::to_string),
        }))? {
            Msg::IfListOk(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// SIOCIFCREATE.
    pub fn if_create(&mut self, name: &str) -> Result<(), Error> {
        self.expect_done(Msg::IfCreate(IfNameReq { name: name.into() }))
    }

    /// SIOCIFDESTROY.
    pub fn if_destroy(&mut self, name: &str) -> Result<(), Error> {
        self.expect_done(Msg::IfDestroy(IfNameReq { name: name.into() }))
    }

    /// SIOCSLINKSTR: opens a cloned interface's driver with these options.
    pub fn if_linkstr(&mut self, name: &str, linkstr: &str) -> Result<(), Error> {
        self.expect_done(Msg::IfLinkstr(crate::msg::LinkstrReq {
            name: name.into(),
            linkstr: linkstr.into(),
        }))
    }

    /// One brconfig command on a bridge.
    pub fn bridge_set(&mut self, bridge: &str, op: crate::msg::BrOp) -> Result<(), Error> {
        self.expect_done(Msg::BrSet(crate::msg::BrReq {
            bridge: bridge.into(),
            op,
        }))
    }

    /// The state of every bridge, or of the one named.
    pub fn bridge_status(&mut self, name: Option<&str>) -> Result<Vec<crate::msg::BrStatus>, Error> {
        match self.call(Msg::BrGet(crate::msg::BrGetReq {
            name: name.map(str::to_string),
        }))? {
            Msg::BrStatusOk(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// SIOCSIFFLAGS / SIOCSIFMTU.
    pub fn if_set(&mut self, req: IfSetReq) -> Result<(), Error> {
        self.expect_done(Msg::IfSet(req))
    }

    /// SIOCAIFADDR.
    pub fn addr_add(&mut self, req: AddrReq) -> Result<(), Error> {
        self.expect_done(Msg::AddrAdd(req))
    }

    /// SIOCAIFADDR_IN6 with flags and lifetimes.
    pub fn addr_add6(&mut self, req: crate::msg::In6AliasReq) -> Result<(), Error> {
        self.expect_done(Msg::AddrAdd6(req))
    }

    /// SIOCDIFADDR.
    pub fn addr_del(&mut self, req: AddrReq) -> Result<(), Error> {
        self.expect_done(Msg::AddrDel(req))
    }

    /// SIOCIFGCLONERS.
    pub fn cloners(&mut self) -> Result<Vec<String>, Error> {
        match self.call(Msg::Cloners(Empty))? {
            Msg::ClonerList(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// Reads a sysctl name or subtree ("" for all).
    pub fn sysctl_get(&mut self, name: &str) -> Result<Vec<SysctlEntry>, Error> {
        match self.call(Msg::SysctlGet(SysctlGetReq { name: name.into() }))? {
            Msg::SysctlValues(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// Writes a sysctl leaf.
    pub fn sysctl_set(&mut self, name: &str, value: &str) -> Result<SysctlChange, Error> {
        match self.call(Msg::SysctlSet(SysctlSetReq {
            name: name.into(),
            value: value.into(),
        }))? {
            Msg::SysctlChanged(c) => Ok(c),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    fn route_call(&mut self, m: Msg) -> Result<RtMsg, Error> {
        match self.call(m)? {
            Msg::RtAdd(r) | Msg::RtDelete(r) | Msg::RtChange(r) | Msg::RtGet(r) => Ok(r),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// RTM_ADD; the answer is the route as the stack made it.
    pub fn route_add(&mut self, m: RtMsg) -> Result<RtMsg, Error> {
        self.route_call(Msg::RtAdd(m))
    }

    /// RTM_DELETE; the answer is the route that went.
    pub fn route_delete(&mut self, m: RtMsg) -> Result<RtMsg, Error> {
        self.route_call(Msg::RtDelete(m))
    }

    /// RTM_CHANGE.
    pub fn route_change(&mut self, m: RtMsg) -> Result<RtMsg, Error> {
        self.route_call(Msg::RtChange(m))
    }

    /// RTM_GET: the route to `m.dst` (exactly `m.dst/m.prefixlen` when a length is given).
    pub fn route_get(&mut self, m: RtMsg) -> Result<RtMsg, Error> {
        self.route_call(Msg::RtGet(m))
    }

    /// The whole routing table.
    pub fn route_dump(&mut self) -> Result<Vec<RtMsg>, Error> {
        match self.call(Msg::RtDump(Empty))? {
            Msg::RtList(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// `route flush` (gateway and static routes) or, with `all`, `route flushall`, of one
    /// family or both; the routes removed.
    pub fn route_flush(&mut self, all: bool, family: RtFamily) -> Result<Vec<RtMsg>, Error> {
        match self.call(Msg::RtFlush(FlushReq { all, family }))? {
            Msg::RtFlushed(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// Protocol counters (ip, icmp, arp).
    pub fn stats(&mut self) -> Result<Stats, Error> {
        match self.call(Msg::StatsGet(Empty))? {
            Msg::StatsOk(s) => Ok(s),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// The IPv6 counters (ip6stat, icmp6stat); EAFNOSUPPORT from a stack without IPv6.
    pub fn stats6(&mut self) -> Result<crate::msg::Stats6, Error> {
        match self.call(Msg::Stats6Get(Empty))? {
            Msg::Stats6Ok(s) => Ok(s),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// The neighbor cache (`ndp -a`); EAFNOSUPPORT from a stack without IPv6.
    pub fn nd_dump(&mut self) -> Result<Vec<crate::msg::NdEntryInfo>, Error> {
        match self.call(Msg::NdDump(Empty))? {
            Msg::NdList(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// `ndp -d`: deletes a neighbor cache entry (ESRCH: none).
    pub fn nd_delete(&mut self, req: crate::msg::NdDelReq) -> Result<(), Error> {
        match self.call(Msg::NdDelete(req))? {
            Msg::Done(_) => Ok(()),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// `ndp -s`: adds a neighbor cache entry.
    pub fn nd_set(&mut self, req: crate::msg::NdSetReq) -> Result<(), Error> {
        match self.call(Msg::NdSet(req))? {
            Msg::Done(_) => Ok(()),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// The prefix list (`ndp -p`).
    pub fn nd_prefixes(&mut self) -> Result<Vec<crate::msg::NdPrefixInfo>, Error> {
        match self.call(Msg::NdPrefixes(Empty))? {
            Msg::NdPrefixList(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// The default router list (`ndp -r`).
    pub fn nd_routers(&mut self) -> Result<Vec<crate::msg::NdRouterInfo>, Error> {
        match self.call(Msg::NdRouters(Empty))? {
            Msg::NdRouterList(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// The ND parameters of an interface (`ndp -i`); ENXIO for an unknown one.
    pub fn nd_ifinfo(&mut self, ifname: &str) -> Result<crate::msg::NdIfInfo, Error> {
        match self.call(Msg::NdIfInfoGet(IfNameReq {
            name: ifname.to_string(),
        }))? {
            Msg::NdIfInfoOk(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// A request to PF (pfctl's ioctls). ENOENT for every request when the stack has no
    /// PF loaded.
    pub fn pf(&mut self, req: crate::msg::pf::PfReq) -> Result<crate::msg::pf::PfReply, Error> {
        match self.call(Msg::Pf(req))? {
            Msg::PfOk(v) => Ok(v),
            Msg::Done(_) => Ok(crate::msg::pf::PfReply::Done),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// The sockets (netstat -a).
    pub fn sock_list(&mut self) -> Result<Vec<SockInfo>, Error> {
        match self.call(Msg::SockList(Empty))? {
            Msg::SockListOk(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// `arp -s`.
    pub fn arp_set(&mut self, req: crate::msg::ArpSetReq) -> Result<(), Error> {
        self.call(Msg::ArpSet(req)).map(|_| ())
    }

    /// `arp -d`.
    pub fn arp_delete(&mut self, req: crate::msg::ArpDelReq) -> Result<(), Error> {
        self.call(Msg::ArpDelete(req)).map(|_| ())
    }

    /// The ARP cache.
    pub fn arp_dump(&mut self) -> Result<Vec<ArpEntry>, Error> {
        match self.call(Msg::ArpDump(Empty))? {
            Msg::ArpList(v) => Ok(v),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// Starts receiving routing broadcasts on this connection.
    pub fn subscribe(&mut self) -> Result<(), Error> {
        self.expect_done(Msg::Subscribe(SubscribeReq { on: true }))
    }

    /// The next routing broadcast; None when `timeout` passes first.
    pub fn next_broadcast(&mut self, timeout: Option<Duration>) -> Result<Option<Msg>, Error> {
        Ok(self.next_broadcast_frame(timeout)?.map(|f| f.msg))
    }

    /// The next routing broadcast with its header (length, pid and seq of the request that
    /// caused it, as `route monitor` shows them); None when `timeout` passes first.
    pub fn next_broadcast_frame(&mut self, timeout: Option<Duration>) -> Result<Option<Frame>, Error> {
        if let Some(f) = self.pending.pop_front() {
            return Ok(Some(f));
        }
        self.conn.set_read_timeout(timeout)?;
        let r = loop {
            match self.recv_frame() {
                Ok(f) if f.hdr.flags & MSGF_BCAST != 0 => break Ok(Some(f)),
                Ok(_) => continue,
                Err(Error::Io(e)) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    break Ok(None)
                }
                Err(e) => break Err(e),
            }
        };
        self.conn.set_read_timeout(None)?;
        r
    }
}

/// One socket-role connection: requests and answers, with the datagrams the stack pushes
/// kept in arrival order. `RawSocket` and `UdpSocket` are built on it.
struct SockConn {
    conn: SeqPacket,
    seq: u32,
    pid: u32,
    buf: Vec<u8>,
    queued: VecDeque<DataMsg>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    nonblocking: bool,
    /// A descriptor that came with the last answer (accept).
    last_fd: Option<std::os::fd::OwnedFd>,
    /// AF_INET6 (else AF_INET): IPv4 addresses given to such a socket go as v4-mapped.
    v6: bool,
    /// An error the stack pushed (an ICMP error about what a connected UDP socket sent),
    /// reported once, by the next send or receive (BSD's `so_error`).
    so_error: Option<i32>,
}

impl SockConn {
    fn wrap(conn: SeqPacket) -> SockConn {
        SockConn {
            conn,
            seq: 0,
            pid: std::process::id(),
            buf: vec![0; MAX_MSG + 1],
            queued: VecDeque::new(),
            read_timeout: None,
            write_timeout: None,
            nonblocking: false,
            last_fd: None,
            v6: false,
            so_error: None,
        }
    }

    /// A frame the stack pushed: a datagram to queue, or an error to report.
    fn pushed(&mut self, f: Frame) {
        if f.hdr.errno != 0 {
            self.so_error = Some(f.hdr.errno);
        } else if let Msg::SockData(d) = f.msg {
            self.queued.push_back(d);
        }
    }

    /// The error the stack pushed, if any, taken (reported once). What the stack has
    /// already pushed is read first without waiting, while few datagrams are queued (a
    /// sender that never reads does not buffer without bound here; the stack drops
    /// beyond its socket buffer as for any socket).
    fn take_error(&mut self) -> Result<(), Error> {
        while self.so_error.is_none() && self.queued.len() < PUSHED_READ_AHEAD {
            let mut pfd = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&self.conn),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 {
                break;
            }
            let f = self.recv_frame()?;
            if f.hdr.flags & MSGF_DATA != 0 {
                self.pushed(f);
            }
        }
        match self.so_error.take() {
            Some(errno) => Err(Error::Errno { errno, text: None }),
            None => Ok(()),
        }
    }

    /// An address from the caller in the socket's family: an IPv4 one for an AF_INET6
    /// socket becomes v4-mapped (as Linux's AF_INET6 sockets take a `sockaddr_in`).
    fn fit(&self, a: SocketAddr) -> SocketAddr {
        match a {
            SocketAddr::V4(s) if self.v6 => SocketAddr::new(IpAddr::V6(s.ip().to_ipv6_mapped()), s.port()),
            _ => a,
        }
    }

    /// How a blocking request may wait, from the socket's settings.
    fn wait(&self, t: Option<Duration>) -> Wait {
        Wait {
            nonblock: self.nonblocking,
            timeout_ms: t.map(|d| d.as_millis().clamp(1, u128::from(u32::MAX)) as u32),
        }
    }

    /// A connection to the stack at `prefix` in the given role.
    fn connect(prefix: &Path, role: Role) -> Result<SockConn, Error> {
        let path = crate::sys::run::socket_path(prefix);
        let conn = SeqPacket::connect(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ECONNREFUSED) | Some(libc::ENOTDIR) => Error::NoStack(path.clone()),
            _ => Error::Io(e),
        })?;
        let _ = conn.set_buffers(1 << 20);
        let mut s = SockConn::wrap(conn);
        s.call(Msg::Hello(HelloReq { role }))?;
        Ok(s)
    }

    fn open(prefix: &Path, stype: i32, protocol: i32) -> Result<SockConn, Error> {
        SockConn::open_af(prefix, false, stype, protocol)
    }

    /// A socket of domain AF_INET6 when `v6`, else AF_INET.
    fn open_af(prefix: &Path, v6: bool, stype: i32, protocol: i32) -> Result<SockConn, Error> {
        let mut s = SockConn::connect(prefix, Role::Socket)?;
        s.call(Msg::Socket(SocketReq {
            domain: if v6 { libc::AF_INET6 } else { libc::AF_INET },
            stype,
            protocol,
        }))?;
        s.v6 = v6;
        Ok(s)
    }

    fn recv_frame(&mut self) -> Result<Frame, Error> {
        let (got, fd) = self.conn.recv_with_fd(&mut self.buf)?;
        let n = match got {
            Received::Msg(n) => n,
            Received::Truncated(_) => return Err(Error::Protocol("oversized message".into())),
            Received::Closed => return Err(Error::Io(io::ErrorKind::ConnectionReset.into())),
        };
        if fd.is_some() {
            self.last_fd = fd;
        }
        decode(&self.buf[..n]).map_err(|e| Error::Protocol(e.to_string()))
    }

    fn call(&mut self, msg: Msg) -> Result<Msg, Error> {
        self.last_fd = None;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.conn.send(&encode(&msg, seq, self.pid, 0, 0))?;
        loop {
            let f = self.recv_frame()?;
            if f.hdr.flags & MSGF_DATA != 0 {
                self.pushed(f);
                continue;
            }
            if f.hdr.seq != seq {
                continue;
            }
            return answer(f);
        }
    }

    fn done(&mut self, msg: Msg) -> Result<(), Error> {
        self.call(msg).map(|_| ())
    }

    /// The next pushed datagram; None after `timeout` (Some(ZERO): do not wait).
    fn next_data(&mut self, timeout: Option<Duration>) -> Result<Option<DataMsg>, Error> {
        if let Some(d) = self.queued.pop_front() {
            return Ok(Some(d));
        }
        if let Some(errno) = self.so_error.take() {
            return Err(Error::Errno { errno, text: None });
        }
        if timeout == Some(Duration::ZERO) {
            let mut pfd = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&self.conn),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 {
                return Ok(None);
            }
        }
        self.conn.set_read_timeout(timeout.filter(|t| !t.is_zero()))?;
        let r = loop {
            match self.recv_frame() {
                Ok(f) if f.hdr.flags & MSGF_DATA != 0 && f.hdr.errno != 0 => {
                    break Err(Error::Errno {
                        errno: f.hdr.errno,
                        text: None,
                    })
                }
                Ok(f) if f.hdr.flags & MSGF_DATA != 0 => {
                    if let Msg::SockData(d) = f.msg {
                        break Ok(Some(d));
                    }
                }
                Ok(_) => continue,
                Err(Error::Io(e)) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    break Ok(None)
                }
                Err(e) => break Err(e),
            }
        };
        self.conn.set_read_timeout(None)?;
        r
    }

    /// Receive as std's sockets do: honouring the read timeout and non-blocking mode.
    fn recv_std(&mut self) -> io::Result<DataMsg> {
        let t = if self.nonblocking {
            Some(Duration::ZERO)
        } else {
            self.read_timeout
        };
        // Nothing in time is WouldBlock, as std's sockets report a read timeout.
        self.next_data(t)?.ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    fn names(&mut self) -> Result<SockNames, Error> {
        match self.call(Msg::SockGetName(Empty))? {
            Msg::SockNamesOk(n) => Ok(n),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Errno { errno, .. } => io::Error::from_raw_os_error(errno),
            Error::Io(e) => e,
            Error::NoStack(p) => io::Error::new(io::ErrorKind::NotFound, Error::NoStack(p).to_string()),
            Error::Protocol(s) => io::Error::new(io::ErrorKind::InvalidData, s),
        }
    }
}

/// The addresses `addr` stands for, of either family, as std::net resolves them.
fn addrs(addr: impl std::net::ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let v: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if v.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        ));
    }
    Ok(v)
}

/// The first address `addr` stands for.
fn first(addr: impl std::net::ToSocketAddrs) -> io::Result<SocketAddr> {
    Ok(addrs(addr)?[0])
}

/// Tries `f` on each address in turn, as std::net does: the first success, else the
/// last error.
fn each<T>(addr: impl std::net::ToSocketAddrs, mut f: impl FnMut(SocketAddr) -> io::Result<T>) -> io::Result<T> {
    let mut last = None;
    for a in addrs(addr)? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::ErrorKind::InvalidInput.into()))
}

/// A raw IP socket on a stack (root only, as on BSD): what ping uses. AF_INET sockets
/// receive whole IPv4 datagrams; AF_INET6 ones (`open6_at`) the IPv6 payload alone.
///
/// ```no_run
/// use pktbox_stack::socket::RawSocket;
/// let mut s = RawSocket::open(1)?; // IPPROTO_ICMP
/// s.send_to(&[8, 0, 0xf7, 0xff, 0, 0, 0, 0], "127.0.0.1".parse().unwrap())?;
/// if let Some((pkt, from)) = s.recv_from(Some(std::time::Duration::from_secs(1)))? {
///     println!("{} bytes from {from}", pkt.len());
/// }
/// # Ok::<(), pktbox_stack::socket::Error>(())
/// ```
pub struct RawSocket {
    c: SockConn,
}

/// A datagram from `RawSocket::recv_msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDatagram {
    /// The whole IPv4 datagram, or the IPv6 payload (after the extension headers).
    pub data: Vec<u8>,
    pub from: SocketAddr,
    /// IPV6_HOPLIMIT: the hop limit it arrived with (AF_INET6 sockets).
    pub hlim: Option<u8>,
}

impl RawSocket {
    /// Opens a raw socket for `protocol` on the stack named by `SOCK`.
    pub fn open(protocol: u8) -> Result<RawSocket, Error> {
        RawSocket::open_at(&prefix_from_env(), protocol)
    }

    /// Opens a raw socket on the stack at `prefix`.
    pub fn open_at(prefix: &Path, protocol: u8) -> Result<RawSocket, Error> {
        Ok(RawSocket {
            c: SockConn::open(prefix, libc::SOCK_RAW, i32::from(protocol))?,
        })
    }

    /// Opens an AF_INET6 raw socket (for IPv6's `protocol`, 58 for ICMPv6) on the stack
    /// at `prefix`; EAFNOSUPPORT from a stack without IPv6.
    pub fn open6_at(prefix: &Path, protocol: u8) -> Result<RawSocket, Error> {
        Ok(RawSocket {
            c: SockConn::open_af(prefix, true, libc::SOCK_RAW, i32::from(protocol))?,
        })
    }

    /// IP_TTL.
    pub fn set_ttl(&mut self, ttl: u8) -> Result<(), Error> {
        self.c.done(Msg::SockSetOpt(SockOpt::IpTtl(ttl)))
    }

    /// IP_TOS.
    pub fn set_tos(&mut self, tos: u8) -> Result<(), Error> {
        self.c.done(Msg::SockSetOpt(SockOpt::IpTos(tos)))
    }

    /// setsockopt(2) with any option (SO_SNDBUF, SO_RCVBUF, IPV6_USE_MIN_MTU, ...).
    pub fn set_option(&mut self, o: SockOpt) -> Result<(), Error> {
        self.c.done(Msg::SockSetOpt(o))
    }

    /// IPV6_UNICAST_HOPS (an AF_INET6 socket): the hop limit of what it sends.
    pub fn set_hop_limit(&mut self, hlim: u8) -> Result<(), Error> {
        self.c.done(Msg::SockSetOpt(SockOpt::Ipv6UnicastHops(hlim)))
    }

    /// bind(2): the source address of what this socket sends.
    pub fn bind(&mut self, addr: std::net::Ipv4Addr) -> Result<(), Error> {
        self.bind_addr(IpAddr::V4(addr))
    }

    /// bind(2) with an address of either family (the socket's).
    pub fn bind_addr(&mut self, addr: IpAddr) -> Result<(), Error> {
        self.c.done(Msg::SockBind(SockAddrReq {
            addr: SocketAddr::new(addr, 0),
            wait: Wait::default(),
        }))
    }

    /// sendto(2): `data` is the protocol's message; the stack adds the IP header.
    pub fn send_to(&mut self, data: &[u8], to: std::net::Ipv4Addr) -> Result<(), Error> {
        self.send_to_addr(data, IpAddr::V4(to))
    }

    /// sendto(2) with an address of either family (the socket's).
    pub fn send_to_addr(&mut self, data: &[u8], to: IpAddr) -> Result<(), Error> {
        self.c.done(Msg::SockSend(SendReq {
            to: Some(SocketAddr::new(to, 0)),
            data: data.to_vec(),
            wait: Wait::default(),
        }))
    }

    /// The next datagram (the whole IP packet) and its IPv4 source; None after
    /// `timeout`. For an AF_INET socket (see `recv_from_addr` for both families).
    pub fn recv_from(&mut self, timeout: Option<Duration>) -> Result<Option<(Vec<u8>, std::net::Ipv4Addr)>, Error> {
        Ok(self.recv_from_addr(timeout)?.map(|(d, from)| {
            let v4 = match from {
                IpAddr::V4(a) => a,
                IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            };
            (d, v4)
        }))
    }

    /// connect(2): the peer of `send`; an AF_INET6 socket's source is fixed then (a scope
    /// id names the interface), which `local_addr` tells.
    pub fn connect(&mut self, to: SocketAddr) -> Result<(), Error> {
        self.c.done(Msg::SockConnect(SockAddrReq {
            addr: to,
            wait: Wait::default(),
        }))
    }

    /// getsockname(2).
    pub fn local_addr(&mut self) -> Result<SocketAddr, Error> {
        match self.c.call(Msg::SockGetName(Empty))? {
            Msg::SockNamesOk(n) => Ok(n.local),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// sendto(2) with a whole socket address: an IPv6 one's scope id names the interface
    /// to send on (`fe80::1%en0`, or ping6's -I for any destination).
    pub fn send_to_sa(&mut self, data: &[u8], to: SocketAddr) -> Result<(), Error> {
        self.c.done(Msg::SockSend(SendReq {
            to: Some(to),
            data: data.to_vec(),
            wait: Wait::default(),
        }))
    }

    /// recvmsg(2): the next datagram with its whole source address (a link-local IPv6
    /// source has its interface as scope id) and, on an AF_INET6 socket, its hop limit.
    pub fn recv_msg(&mut self, timeout: Option<Duration>) -> Result<Option<RawDatagram>, Error> {
        Ok(self.c.next_data(timeout)?.map(|d| RawDatagram {
            data: d.data,
            from: d.from,
            hlim: d.hlim,
        }))
    }

    /// The next datagram and its source address, of either family.
    pub fn recv_from_addr(&mut self, timeout: Option<Duration>) -> Result<Option<(Vec<u8>, IpAddr)>, Error> {
        Ok(self.c.next_data(timeout)?.map(|d| (d.data, d.from.ip())))
    }

    /// The descriptor that polls readable when a datagram waits (for poll loops).
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.c.conn)
    }
}

/// A UDP socket on a stack, shaped like `std::net::UdpSocket`.
///
/// ```no_run
/// use pktbox_stack::socket::UdpSocket;
/// let mut s = UdpSocket::bind("0.0.0.0:0")?;
/// s.send_to(b"hello", "10.0.0.1:7")?;
/// let mut buf = [0u8; 1500];
/// s.set_read_timeout(Some(std::time::Duration::from_secs(1)))?;
/// let (n, from) = s.recv_from(&mut buf)?;
/// println!("{n} bytes from {from}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    c: SockConn,
}

impl UdpSocket {
    /// Opens a UDP socket on the stack named by `SOCK` and binds it (port 0: ephemeral).
    /// The address's family makes the socket AF_INET or AF_INET6, as with std::net.
    pub fn bind(addr: impl std::net::ToSocketAddrs) -> io::Result<UdpSocket> {
        UdpSocket::bind_at(&prefix_from_env(), addr)
    }

    /// As `bind`, on the stack at `prefix`.
    pub fn bind_at(prefix: &Path, addr: impl std::net::ToSocketAddrs) -> io::Result<UdpSocket> {
        each(addr, |a| {
            let mut s = UdpSocket::unbound_af_at(prefix, a.is_ipv6())?;
            s.bind_to(a)?;
            Ok(s)
        })
    }

    /// An AF_INET socket not bound yet, so options (SO_REUSEADDR, SO_REUSEPORT) can come
    /// first.
    pub fn unbound_at(prefix: &Path) -> io::Result<UdpSocket> {
        UdpSocket::unbound_af_at(prefix, false)
    }

    /// As `unbound_at`, AF_INET6 when `v6` (then IPV6_V6ONLY may be set before bind).
    pub fn unbound_af_at(prefix: &Path, v6: bool) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            c: SockConn::open_af(prefix, v6, libc::SOCK_DGRAM, libc::IPPROTO_UDP)?,
        })
    }

    /// bind(2) of a socket made with `unbound_at`.
    pub fn bind_to(&mut self, addr: impl std::net::ToSocketAddrs) -> io::Result<()> {
        let a = self.c.fit(first(addr)?);
        Ok(self.c.done(Msg::SockBind(SockAddrReq {
            addr: a,
            wait: Wait::default(),
        }))?)
    }

    /// connect(2): fixes the peer; `send` and `recv` then talk to it only.
    pub fn connect(&mut self, addr: impl std::net::ToSocketAddrs) -> io::Result<()> {
        each(addr, |a| {
            let a = self.c.fit(a);
            Ok(self.c.done(Msg::SockConnect(SockAddrReq {
                addr: a,
                wait: Wait::default(),
            }))?)
        })
    }

    /// IPV6_V6ONLY (an AF_INET6 socket, before bind).
    pub fn set_only_v6(&mut self, on: bool) -> io::Result<()> {
        self.set_option(SockOpt::V6Only(on))
    }

    /// sendto(2).
    pub fn send_to(&mut self, buf: &[u8], addr: impl std::net::ToSocketAddrs) -> io::Result<usize> {
        let a = self.c.fit(first(addr)?);
        self.c.take_error()?;
        self.c.done(Msg::SockSend(SendReq {
            to: Some(a),
            data: buf.to_vec(),
            wait: Wait::default(),
        }))?;
        Ok(buf.len())
    }

    /// send(2) on a connected socket; an error the stack reported about what was sent
    /// before (ECONNREFUSED after a port unreachable) comes back here, once.
    pub fn send(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.c.take_error()?;
        self.c.done(Msg::SockSend(SendReq {
            to: None,
            data: buf.to_vec(),
            wait: Wait::default(),
        }))?;
        Ok(buf.len())
    }

    /// recvfrom(2): a datagram longer than `buf` is cut, as with std's sockets.
    pub fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, std::net::SocketAddr)> {
        let d = self.c.recv_std()?;
        let n = d.data.len().min(buf.len());
        buf[..n].copy_from_slice(&d.data[..n]);
        Ok((n, d.from))
    }

    /// recv(2).
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).map(|(n, _)| n)
    }

    /// SO_RCVTIMEO: None blocks forever; a timeout gives WouldBlock.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        if t == Some(Duration::ZERO) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "zero timeout"));
        }
        self.c.read_timeout = t;
        Ok(())
    }

    /// Non-blocking receive (WouldBlock when nothing waits).
    pub fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        self.c.nonblocking = on;
        Ok(())
    }

    /// SO_BROADCAST.
    pub fn set_broadcast(&mut self, on: bool) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(SockOpt::Broadcast(on)))?)
    }

    /// SO_REUSEADDR (before bind).
    pub fn set_reuseaddr(&mut self, on: bool) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(SockOpt::ReuseAddr(on)))?)
    }

    /// SO_REUSEPORT (before bind).
    pub fn set_reuseport(&mut self, on: bool) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(SockOpt::ReusePort(on)))?)
    }

    /// IP_TTL.
    pub fn set_ttl(&mut self, ttl: u32) -> io::Result<()> {
        let t = u8::try_from(ttl).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        Ok(self.c.done(Msg::SockSetOpt(SockOpt::IpTtl(t)))?)
    }

    /// setsockopt(2) with any option (ENOPROTOOPT for those UDP has no use for).
    pub fn set_option(&mut self, o: SockOpt) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(o))?)
    }

    /// getsockname(2).
    pub fn local_addr(&mut self) -> io::Result<std::net::SocketAddr> {
        Ok(self.c.names()?.local)
    }

    /// getpeername(2).
    pub fn peer_addr(&mut self) -> io::Result<std::net::SocketAddr> {
        match self.c.names()?.peer {
            Some(p) => Ok(p),
            None => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        }
    }

    /// The descriptor that polls readable when a datagram waits.
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.c.conn)
    }
}

/// A TCP connection on a stack, shaped like `std::net::TcpStream` (and implementing
/// `Read` and `Write`).
///
/// ```no_run
/// use std::io::{Read, Write};
/// use pktbox_stack::socket::TcpStream;
/// let mut s = TcpStream::connect("10.0.0.1:80")?;
/// s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
/// let mut reply = Vec::new();
/// s.read_to_end(&mut reply)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    c: SockConn,
}

/// A listening TCP socket, shaped like `std::net::TcpListener`.
///
/// ```no_run
/// use std::io::Write;
/// use pktbox_stack::socket::TcpListener;
/// let l = TcpListener::bind("0.0.0.0:7000")?;
/// let (mut s, peer) = l.accept()?;
/// writeln!(s, "hello {peer}")?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    c: std::sync::Mutex<SockConn>,
}

fn tcp_socket(prefix: &Path) -> io::Result<SockConn> {
    Ok(SockConn::open(prefix, libc::SOCK_STREAM, libc::IPPROTO_TCP)?)
}

impl TcpStream {
    /// Connects through the stack named by `SOCK`.
    pub fn connect(addr: impl std::net::ToSocketAddrs) -> io::Result<TcpStream> {
        TcpStream::connect_at(&prefix_from_env(), addr, None)
    }

    /// Connects through the stack at `prefix`, from `from` when given (address and port),
    /// waiting at most `timeout` when given.
    pub fn connect_at(
        prefix: &Path,
        addr: impl std::net::ToSocketAddrs,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        TcpStream::connect_from(prefix, None, addr, timeout)
    }

    /// connect(2) after bind(2) to `from`. The socket is AF_INET6 when the peer or `from`
    /// is an IPv6 address (an IPv4 or v4-mapped one then goes v4-mapped, with IPV6_V6ONLY
    /// cleared);
    /// each address the peer resolves to is tried in turn, as std::net does.
    pub fn connect_from(
        prefix: &Path,
        from: Option<SocketAddr>,
        addr: impl std::net::ToSocketAddrs,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        each(addr, |a| {
            let v6 = a.is_ipv6() || from.is_some_and(|f| f.is_ipv6());
            let mut c = SockConn::open_af(prefix, v6, libc::SOCK_STREAM, libc::IPPROTO_TCP)?;
            let v4peer = |x: SocketAddr| match x {
                SocketAddr::V4(_) => true,
                SocketAddr::V6(s) => s.ip().to_ipv4_mapped().is_some(),
            };
            if v6 && (v4peer(a) || from.is_some_and(v4peer)) {
                c.done(Msg::SockSetOpt(SockOpt::V6Only(false)))?;
            }
            if let Some(f) = from {
                let f = c.fit(f);
                c.done(Msg::SockBind(SockAddrReq {
                    addr: f,
                    wait: Wait::default(),
                }))?;
            }
            let wait = c.wait(timeout);
            let a = c.fit(a);
            c.done(Msg::SockConnect(SockAddrReq { addr: a, wait }))?;
            Ok(TcpStream { c })
        })
    }

    /// shutdown(2).
    pub fn shutdown(&mut self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        Ok(self.c.done(Msg::SockShutdown(ShutdownReq { how }))?)
    }

    /// TCP_NODELAY.
    pub fn set_nodelay(&mut self, on: bool) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(SockOpt::NoDelay(on)))?)
    }

    /// SO_KEEPALIVE.
    pub fn set_keepalive(&mut self, on: bool) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(SockOpt::KeepAlive(on)))?)
    }

    /// SO_LINGER.
    pub fn set_linger(&mut self, l: Option<Duration>) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(linger(l)))?)
    }

    /// IP_TTL.
    pub fn set_ttl(&mut self, ttl: u32) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(SockOpt::IpTtl(ttl_opt(ttl)?)))?)
    }

    /// SO_SNDBUF: the send buffer's size (it no longer grows by itself).
    pub fn set_send_buffer_size(&mut self, n: u32) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(SockOpt::SndBuf(n)))?)
    }

    /// SO_RCVBUF: the receive buffer's size, and so the window (it no longer grows by
    /// itself).
    pub fn set_recv_buffer_size(&mut self, n: u32) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(SockOpt::RcvBuf(n)))?)
    }

    /// setsockopt(2) with any option.
    pub fn set_option(&mut self, o: SockOpt) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(o))?)
    }

    /// SO_RCVTIMEO.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.c.read_timeout = t;
        Ok(())
    }

    /// SO_SNDTIMEO.
    pub fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.c.write_timeout = t;
        Ok(())
    }

    /// Non-blocking reads and writes (WouldBlock when they cannot go on at once).
    pub fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        self.c.nonblocking = on;
        Ok(())
    }

    /// getsockname(2).
    pub fn local_addr(&mut self) -> io::Result<std::net::SocketAddr> {
        Ok(self.c.names()?.local)
    }

    /// getpeername(2).
    pub fn peer_addr(&mut self) -> io::Result<std::net::SocketAddr> {
        match self.c.names()?.peer {
            Some(p) => Ok(p),
            None => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        }
    }

    /// Whether a read would not block now (data, end of file or an error waits), waiting
    /// at most `timeout`.
    pub fn poll_readable(&mut self, timeout: Duration) -> io::Result<bool> {
        let wait = Wait {
            nonblock: timeout.is_zero(),
            timeout_ms: Some(timeout.as_millis().clamp(1, u128::from(u32::MAX)) as u32),
        };
        match self.c.call(Msg::SockRecv(RecvReq {
            max: 1,
            peek: true,
            wait,
        })) {
            Ok(_) => Ok(true),
            Err(Error::Errno {
                errno: libc::EAGAIN, ..
            }) => Ok(false),
            Err(Error::Errno { .. }) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }
}

impl io::Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let wait = self.c.wait(self.c.read_timeout);
        let max = buf.len().min(MAX_MSG / 2) as u32;
        match self.c.call(Msg::SockRecv(RecvReq { max, peek: false, wait }))? {
            Msg::SockData(d) => {
                let n = d.data.len().min(buf.len());
                buf[..n].copy_from_slice(&d.data[..n]);
                Ok(n)
            }
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected answer: {other:?}"),
            )),
        }
    }
}

impl io::Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let wait = self.c.wait(self.c.write_timeout);
        let n = buf.len().min(MAX_MSG / 2);
        match self.c.call(Msg::SockSend(SendReq {
            to: None,
            data: buf[..n].to_vec(),
            wait,
        }))? {
            Msg::SockSent(k) => Ok(k as usize),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected answer: {other:?}"),
            )),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// SO_LINGER's value from a duration (whole seconds).
fn linger(l: Option<Duration>) -> SockOpt {
    SockOpt::Linger(l.map(|d| d.as_secs().min(u64::from(u32::MAX)) as u32))
}

fn ttl_opt(ttl: u32) -> io::Result<u8> {
    u8::try_from(ttl).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A TCP socket before it connects or listens, for the options that must be set first
/// (as `socket2::Socket` is for std's): what is set here is kept for the connection
/// (IP_TTL, IP_TOS, the buffer sizes, TCP_NODELAY, SO_KEEPALIVE, SO_LINGER), and a
/// listener's connections inherit it.
///
/// ```no_run
/// use pktbox_stack::socket::TcpSocket;
/// let mut s = TcpSocket::new()?;
/// s.set_ttl(8)?;
/// s.set_send_buffer_size(16384)?;
/// let stream = s.connect("10.0.0.1:80", None)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpSocket {
    c: SockConn,
}

impl TcpSocket {
    /// A TCP socket on the stack named by `SOCK`.
    pub fn new() -> io::Result<TcpSocket> {
        TcpSocket::new_at(&prefix_from_env())
    }

    /// A TCP socket on the stack at `prefix`.
    pub fn new_at(prefix: &Path) -> io::Result<TcpSocket> {
        Ok(TcpSocket { c: tcp_socket(prefix)? })
    }

    /// An AF_INET6 TCP socket on the stack at `prefix` (IPV6_V6ONLY set, as NetBSD's
    /// default; clear it with `set_only_v6(false)` before bind to take IPv4 peers too).
    pub fn new_v6_at(prefix: &Path) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            c: SockConn::open_af(prefix, true, libc::SOCK_STREAM, libc::IPPROTO_TCP)?,
        })
    }

    /// IPV6_V6ONLY (an AF_INET6 socket, before bind).
    pub fn set_only_v6(&mut self, on: bool) -> io::Result<()> {
        self.set_option(SockOpt::V6Only(on))
    }

    /// setsockopt(2) with any option.
    pub fn set_option(&mut self, o: SockOpt) -> io::Result<()> {
        Ok(self.c.done(Msg::SockSetOpt(o))?)
    }

    /// SO_REUSEADDR.
    pub fn set_reuseaddr(&mut self, on: bool) -> io::Result<()> {
        self.set_option(SockOpt::ReuseAddr(on))
    }

    /// SO_REUSEPORT: several sockets may bind the same address and port if all set it.
    pub fn set_reuseport(&mut self, on: bool) -> io::Result<()> {
        self.set_option(SockOpt::ReusePort(on))
    }

    /// IP_TTL.
    pub fn set_ttl(&mut self, ttl: u32) -> io::Result<()> {
        self.set_option(SockOpt::IpTtl(ttl_opt(ttl)?))
    }

    /// IP_TOS.
    pub fn set_tos(&mut self, tos: u8) -> io::Result<()> {
        self.set_option(SockOpt::IpTos(tos))
    }

    /// TCP_NODELAY.
    pub fn set_nodelay(&mut self, on: bool) -> io::Result<()> {
        self.set_option(SockOpt::NoDelay(on))
    }

    /// SO_KEEPALIVE.
    pub fn set_keepalive(&mut self, on: bool) -> io::Result<()> {
        self.set_option(SockOpt::KeepAlive(on))
    }

    /// SO_LINGER.
    pub fn set_linger(&mut self, l: Option<Duration>) -> io::Result<()> {
        self.set_option(linger(l))
    }

    /// SO_SNDBUF.
    pub fn set_send_buffer_size(&mut self, n: u32) -> io::Result<()> {
        self.set_option(SockOpt::SndBuf(n))
    }

    /// SO_RCVBUF.
    pub fn set_recv_buffer_size(&mut self, n: u32) -> io::Result<()> {
        self.set_option(SockOpt::RcvBuf(n))
    }

    /// bind(2).
    pub fn bind(&mut self, addr: impl std::net::ToSocketAddrs) -> io::Result<()> {
        let a = self.c.fit(first(addr)?);
        Ok(self.c.done(Msg::SockBind(SockAddrReq {
            addr: a,
            wait: Wait::default(),
        }))?)
    }

    /// connect(2), waiting at most `timeout` when given.
    pub fn connect(mut self, addr: impl std::net::ToSocketAddrs, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let a = self.c.fit(first(addr)?);
        let wait = self.c.wait(timeout);
        self.c.done(Msg::SockConnect(SockAddrReq { addr: a, wait }))?;
        Ok(TcpStream { c: self.c })
    }

    /// listen(2).
    pub fn listen(mut self, backlog: i32) -> io::Result<TcpListener> {
        self.c.done(Msg::SockListen(ListenReq { backlog }))?;
        Ok(TcpListener {
            c: std::sync::Mutex::new(self.c),
        })
    }
}

impl TcpListener {
    /// Binds and listens on the stack named by `SOCK`.
    pub fn bind(addr: impl std::net::ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_at(&prefix_from_env(), addr, 128)
    }

    /// Binds and listens on the stack at `prefix` with this backlog. An IPv6 address
    /// makes an AF_INET6 socket, with NetBSD's IPV6_V6ONLY default (set): use
    /// `TcpSocket::new_v6_at` and `set_only_v6(false)` for one that takes IPv4 peers too.
    pub fn bind_at(prefix: &Path, addr: impl std::net::ToSocketAddrs, backlog: i32) -> io::Result<TcpListener> {
        each(addr, |a| {
            let mut c = SockConn::open_af(prefix, a.is_ipv6(), libc::SOCK_STREAM, libc::IPPROTO_TCP)?;
            c.done(Msg::SockSetOpt(SockOpt::ReuseAddr(true)))?;
            c.done(Msg::SockBind(SockAddrReq {
                addr: a,
                wait: Wait::default(),
            }))?;
            c.done(Msg::SockListen(ListenReq { backlog }))?;
            Ok(TcpListener {
                c: std::sync::Mutex::new(c),
            })
        })
    }

    /// accept(2).
    pub fn accept(&self) -> io::Result<(TcpStream, std::net::SocketAddr)> {
        let mut c = self.c.lock().unwrap_or_else(|p| p.into_inner());
        let wait = c.wait(c.read_timeout);
        let names = match c.call(Msg::SockAccept(wait))? {
            Msg::SockAccepted(n) => n,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected answer: {other:?}"),
                ))
            }
        };
        let fd = c
            .last_fd
            .take()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "accept answered without a descriptor"))?;
        let v6 = c.v6;
        let peer = names
            .peer
            .unwrap_or(SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0));
        let mut conn = SockConn::wrap(SeqPacket::from_fd(fd));
        conn.v6 = v6;
        Ok((TcpStream { c: conn }, peer))
    }

    /// getsockname(2).
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        let mut c = self.c.lock().unwrap_or_else(|p| p.into_inner());
        Ok(c.names()?.local)
    }

    /// Non-blocking accept (WouldBlock when nobody waits).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.c.lock().unwrap_or_else(|p| p.into_inner()).nonblocking = on;
        Ok(())
    }

    /// How long accept waits (None: forever).
    pub fn set_accept_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.c.lock().unwrap_or_else(|p| p.into_inner()).read_timeout = t;
        Ok(())
    }

    /// setsockopt(2) on the listener: the connections it accepts from now on inherit
    /// the option.
    pub fn set_option(&self, o: SockOpt) -> io::Result<()> {
        Ok(self
            .c
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .done(Msg::SockSetOpt(o))?)
    }
}
