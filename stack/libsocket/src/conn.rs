//! One socket-role connection to the stack: requests and their answers, with the datagrams
//! the stack pushes (UDP, raw) kept in arrival order. Built on `pktbox_stack::msg`, the same
//! codec `pktbox_stack::socket` uses.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use pktbox_stack::msg::wire::{Received, SeqPacket};
use pktbox_stack::msg::*;

/// A failed request: the errno the program should see.
pub type Errno = i32;

pub struct Conn {
    conn: SeqPacket,
    seq: u32,
    pid: u32,
    buf: Vec<u8>,
    /// Datagrams pushed while a request waited for its answer.
    pub queued: VecDeque<DataMsg>,
    /// The descriptor that came with the last answer (accept).
    pub last_fd: Option<OwnedFd>,
    /// An error the stack pushed (an ICMP error about what a connected UDP socket sent,
    /// such as ECONNREFUSED), to be reported once.
    pub so_error: Option<Errno>,
}

/// The errno a transport failure turns into: the stack went away.
fn gone(e: &std::io::Error) -> Errno {
    match e.raw_os_error() {
        Some(libc::EINTR) => libc::EINTR,
        _ => libc::ECONNRESET,
    }
}

impl Conn {
    /// A connection of the socket role to the stack at `prefix`; ENETDOWN when no stack
    /// answers there.
    pub fn open(prefix: &Path, domain: i32, stype: i32, protocol: i32) -> Result<Conn, Errno> {
        let path = pktbox_stack::sys::run::socket_path(prefix);
        let conn = SeqPacket::connect(&path).map_err(|_| libc::ENETDOWN)?;
        let _ = conn.set_buffers(1 << 20);
        let mut c = Conn::wrap(conn);
        c.call(Msg::Hello(HelloReq { role: Role::Socket }))?;
        c.call(Msg::Socket(SocketReq {
            domain,
            stype,
            protocol,
        }))?;
        Ok(c)
    }

    pub fn wrap(conn: SeqPacket) -> Conn {
        Conn {
            conn,
            seq: 0,
            pid: std::process::id(),
            buf: vec![0; MAX_MSG + 1],
            queued: VecDeque::new(),
            last_fd: None,
            so_error: None,
        }
    }

    pub fn fd(&self) -> RawFd {
        self.conn.as_raw_fd()
    }

    fn frame(&mut self, nowait: bool) -> Result<Option<Frame>, Errno> {
        let got = if nowait {
            match self.conn.recv_nowait(&mut self.buf) {
                Ok(g) => (g, None),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(gone(&e)),
            }
        } else {
            self.conn.recv_with_fd(&mut self.buf).map_err(|e| gone(&e))?
        };
        let n = match got.0 {
            Received::Msg(n) => n,
            Received::Truncated(_) => return Err(libc::EPROTO),
            Received::Closed => return Err(libc::ECONNRESET),
        };
        if got.1.is_some() {
            self.last_fd = got.1;
        }
        decode(&self.buf[..n]).map(Some).map_err(|_| libc::EPROTO)
    }

    /// Sends a request and waits for its answer; a refusal is its errno.
    pub fn call(&mut self, msg: Msg) -> Result<Msg, Errno> {
        self.last_fd = None;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.conn
            .send(&encode(&msg, seq, self.pid, 0, 0))
            .map_err(|e| gone(&e))?;
        loop {
            let Some(f) = self.frame(false)? else { continue };
            if f.hdr.flags & MSGF_DATA != 0 {
                self.pushed(f);
                continue;
            }
            if f.hdr.seq != seq {
                continue;
            }
            if f.hdr.errno != 0 {
                return Err(f.hdr.errno);
            }
            return Ok(f.msg);
        }
    }

    /// Moves the datagrams that wait on the connection now into `queued`.
    pub fn drain(&mut self) -> Result<(), Errno> {
        while let Some(f) = self.frame(true)? {
            if f.hdr.flags & MSGF_DATA != 0 {
                self.pushed(f);
            }
        }
        Ok(())
    }

    /// A frame the stack pushed: a datagram to queue, or an error (errno in its header).
    fn pushed(&mut self, f: Frame) {
        if f.hdr.errno != 0 {
            self.so_error = Some(f.hdr.errno);
        } else if let Msg::SockData(d) = f.msg {
            self.queued.push_back(d);
        }
    }

    /// getsockname(2) and getpeername(2) in one.
    pub fn names(&mut self) -> Result<SockNames, Errno> {
        match self.call(Msg::SockGetName(Empty))? {
            Msg::SockNamesOk(n) => Ok(n),
            _ => Err(libc::EPROTO),
        }
    }
}
