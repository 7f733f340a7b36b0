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
            Error::NoStack(p) => write!(
                f,
                "no stack at {} (is io-pkt running? set SOCK=<prefix>)",
                p.display()
            ),
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
    pending: VecDeque<Msg>,
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
                Some(libc::ENOENT)
                | Some(libc::ECONNREFUSED)
                | Some(libc::ENOTDIR)
                | Some(libc::ENOTSOCK) => return Err(Error::NoStack(path)),
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
        match s.call(Msg::Hello(HelloReq {
            role: Role::Control,
        }))? {
            Msg::HelloOk(h) => s.hello = h,
            other => {
                return Err(Error::Protocol(format!(
                    "unexpected answer to hello: {other:?}"
                )))
            }
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
                self.pending.push_back(f.msg);
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

    /// Starts receiving routing broadcasts on this connection.
    pub fn subscribe(&mut self) -> Result<(), Error> {
        self.expect_done(Msg::Subscribe(SubscribeReq { on: true }))
    }

    /// The next routing broadcast; None when `timeout` passes first.
    pub fn next_broadcast(&mut self, timeout: Option<Duration>) -> Result<Option<Msg>, Error> {
        if let Some(m) = self.pending.pop_front() {
            return Ok(Some(m));
        }
        self.conn.set_read_timeout(timeout)?;
        let r = loop {
            match self.recv_frame() {
                Ok(f) if f.hdr.flags & MSGF_BCAST != 0 => break Ok(Some(f.msg)),
                Ok(_) => continue,
                Err(Error::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break Ok(None)
                }
                Err(e) => break Err(e),
            }
        };
        self.conn.set_read_timeout(None)?;
        r
    }
}
