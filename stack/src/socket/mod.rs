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
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::msg::errno::strerror;
use crate::msg::wire::{Received, SeqPacket};
use crate::msg::*;

/// The prefix used when `SOCK` is not set.
pub const DEFAULT_PREFIX: &str = "/run/io-pkt";

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
            if f.hdr.errno != 0 {
                let text = match f.msg {
                    Msg::ErrorText(t) if !t.is_empty() => Some(t),
                    _ => None,
                };
                return Err(Error::Errno {
                    errno: f.hdr.errno,
                    text,
                });
            }
            return Ok(f.msg);
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

    /// SIOCSIFFLAGS / SIOCSIFMTU.
    pub fn if_set(&mut self, req: IfSetReq) -> Result<(), Error> {
        self.expect_done(Msg::IfSet(req))
    }

    /// SIOCAIFADDR.
    pub fn addr_add(&mut self, req: AddrReq) -> Result<(), Error> {
        self.expect_done(Msg::AddrAdd(req))
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

    /// `route flush` (gateway and static routes) or, with `all`, `route flushall`; the routes
    /// removed.
    pub fn route_flush(&mut self, all: bool) -> Result<Vec<RtMsg>, Error> {
        match self.call(Msg::RtFlush(FlushReq { all }))? {
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

/// A raw IPv4 socket on a stack (root only, as on BSD): what ping uses.
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
    conn: SeqPacket,
    seq: u32,
    pid: u32,
    buf: Vec<u8>,
    /// Datagrams that arrived while waiting for an answer.
    queued: VecDeque<DataMsg>,
}

impl RawSocket {
    /// Opens a raw socket for `protocol` on the stack named by `SOCK`.
    pub fn open(protocol: u8) -> Result<RawSocket, Error> {
        RawSocket::open_at(&prefix_from_env(), protocol)
    }

    /// Opens a raw socket on the stack at `prefix`.
    pub fn open_at(prefix: &Path, protocol: u8) -> Result<RawSocket, Error> {
        let path = crate::sys::run::socket_path(prefix);
        let conn = SeqPacket::connect(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ECONNREFUSED) | Some(libc::ENOTDIR) => Error::NoStack(path.clone()),
            _ => Error::Io(e),
        })?;
        let _ = conn.set_buffers(1 << 20);
        let mut s = RawSocket {
            conn,
            seq: 0,
            pid: std::process::id(),
            buf: vec![0; MAX_MSG + 1],
            queued: VecDeque::new(),
        };
        s.call(Msg::Hello(HelloReq { role: Role::Socket }))?;
        s.call(Msg::Socket(SocketReq {
            domain: libc::AF_INET,
            stype: libc::SOCK_RAW,
            protocol: i32::from(protocol),
        }))?;
        Ok(s)
    }

    fn recv_frame(&mut self) -> Result<Frame, Error> {
        let n = match self.conn.recv(&mut self.buf)? {
            Received::Msg(n) => n,
            Received::Truncated(_) => return Err(Error::Protocol("oversized message".into())),
            Received::Closed => return Err(Error::Io(io::ErrorKind::ConnectionReset.into())),
        };
        decode(&self.buf[..n]).map_err(|e| Error::Protocol(e.to_string()))
    }

    fn call(&mut self, msg: Msg) -> Result<Msg, Error> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.conn.send(&encode(&msg, seq, self.pid, 0, 0))?;
        loop {
            let f = self.recv_frame()?;
            if f.hdr.flags & MSGF_DATA != 0 {
                if let Msg::SockData(d) = f.msg {
                    self.queued.push_back(d);
                }
                continue;
            }
            if f.hdr.seq != seq {
                continue;
            }
            if f.hdr.errno != 0 {
                let text = match f.msg {
                    Msg::ErrorText(t) if !t.is_empty() => Some(t),
                    _ => None,
                };
                return Err(Error::Errno {
                    errno: f.hdr.errno,
                    text,
                });
            }
            return Ok(f.msg);
        }
    }

    /// IP_TTL.
    pub fn set_ttl(&mut self, ttl: u8) -> Result<(), Error> {
        self.call(Msg::SockSetOpt(SockOpt::IpTtl(ttl))).map(|_| ())
    }

    /// IP_TOS.
    pub fn set_tos(&mut self, tos: u8) -> Result<(), Error> {
        self.call(Msg::SockSetOpt(SockOpt::IpTos(tos))).map(|_| ())
    }

    /// bind(2): the source address of what this socket sends.
    pub fn bind(&mut self, addr: std::net::Ipv4Addr) -> Result<(), Error> {
        self.call(Msg::SockBind(SockAddrReq {
            addr: std::net::SocketAddrV4::new(addr, 0),
        }))
        .map(|_| ())
    }

    /// sendto(2): `data` is the protocol's message; the stack adds the IP header.
    pub fn send_to(&mut self, data: &[u8], to: std::net::Ipv4Addr) -> Result<(), Error> {
        self.call(Msg::SockSend(SendReq {
            to: Some(std::net::SocketAddrV4::new(to, 0)),
            data: data.to_vec(),
        }))
        .map(|_| ())
    }

    /// The next datagram (the whole IP packet) and its source; None after `timeout`.
    pub fn recv_from(&mut self, timeout: Option<Duration>) -> Result<Option<(Vec<u8>, std::net::Ipv4Addr)>, Error> {
        if let Some(d) = self.queued.pop_front() {
            return Ok(Some((d.data, *d.from.ip())));
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(None);
        }
        self.conn.set_read_timeout(timeout)?;
        let r = loop {
            match self.recv_frame() {
                Ok(f) if f.hdr.flags & MSGF_DATA != 0 => {
                    if let Msg::SockData(d) = f.msg {
                        break Ok(Some((d.data, *d.from.ip())));
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

    /// The descriptor that polls readable when a datagram waits (for poll loops).
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.conn.as_raw_fd()
    }
}
