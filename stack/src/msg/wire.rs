//! The channel's transport: Unix SOCK_SEQPACKET sockets, one message a datagram.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let b = path.as_os_str().as_bytes();
    if b.len() >= sa.sun_path.len() || b.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: path too long for a Unix socket", path.display()),
        ));
    }
    for (d, s) in sa.sun_path.iter_mut().zip(b) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + b.len() + 1;
    Ok((sa, len as libc::socklen_t))
}

fn new_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The peer's credentials (SO_PEERCRED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cred {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// One end of a channel connection.
#[derive(Debug)]
pub struct SeqPacket {
    fd: OwnedFd,
}

/// What one receive gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A datagram of this many bytes (it fit the buffer).
    Msg(usize),
    /// A datagram larger than the buffer; its tail was discarded.
    Truncated(usize),
    /// The peer closed the connection.
    Closed,
}

impl SeqPacket {
    /// Connects to a listening channel socket.
    pub fn connect(path: &Path) -> io::Result<SeqPacket> {
        let fd = new_socket()?;
        let (sa, len) = sockaddr(path)?;
        // SAFETY: sa is a valid sockaddr_un of length len.
        cvt(unsafe { libc::connect(fd.as_raw_fd(), &sa as *const _ as *const libc::sockaddr, len) })?;
        Ok(SeqPacket { fd })
    }

    /// A connected pair, for tests and in-process tunnels.
    pub fn pair() -> io::Result<(SeqPacket, SeqPacket)> {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors socketpair writes.
        cvt(unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        })?;
        // SAFETY: both are fresh descriptors we own.
        unsafe {
            Ok((
                SeqPacket {
                    fd: OwnedFd::from_raw_fd(fds[0]),
                },
                SeqPacket {
                    fd: OwnedFd::from_raw_fd(fds[1]),
                },
            ))
        }
    }

    /// Sends one datagram, waiting for room.
    pub fn send(&self, b: &[u8]) -> io::Result<()> {
        self.send_flags(b, libc::MSG_NOSIGNAL)
    }

    /// Sends one datagram if there is room now (EAGAIN otherwise).
    pub fn send_nowait(&self, b: &[u8]) -> io::Result<()> {
        self.send_flags(b, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
    }

    fn send_flags(&self, b: &[u8], flags: libc::c_int) -> io::Result<()> {
        loop {
            // SAFETY: b is a valid buffer of b.len() bytes.
            let r = unsafe { libc::send(self.fd.as_raw_fd(), b.as_ptr() as *const libc::c_void, b.len(), flags) };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Receives one datagram into buf.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.recv_flags(buf, 0)
    }

    /// Receives one datagram into buf if one is there now (WouldBlock otherwise).
    pub fn recv_nowait(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.recv_flags(buf, libc::MSG_DONTWAIT)
    }

    fn recv_flags(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
        loop {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            };
            // SAFETY: msghdr is plain data; we fill the fields recvmsg reads.
            let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
            mh.msg_iov = &mut iov;
            mh.msg_iovlen = 1;
            // SAFETY: mh points at one valid iovec over buf.
            let r = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut mh, libc::MSG_CMSG_CLOEXEC | flags) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if r == 0 && mh.msg_flags & libc::MSG_TRUNC == 0 && self.peer_gone() {
                return Ok(Received::Closed);
            }
            if mh.msg_flags & libc::MSG_TRUNC != 0 {
                return Ok(Received::Truncated(r as usize));
            }
            return Ok(Received::Msg(r as usize));
        }
    }

    /// Whether the peer has closed (or shut down) its end. recvmsg returns 0 both at the end
    /// of the connection and for an empty datagram; only the former sets RDHUP/HUP.
    pub fn peer_gone(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a zero timeout never blocks.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        r != 0 && (r < 0 || p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0)
    }

    /// Sends one datagram with a descriptor attached (SCM_RIGHTS).
    pub fn send_with_fd(&self, b: &[u8], fd: RawFd) -> io::Result<()> {
        let mut iov = libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        };
        // Room for one cmsghdr carrying one int, aligned as CMSG_SPACE wants.
        let mut cbuf = [0u64; 4];
        // SAFETY: msghdr is plain data; every pointer set below outlives the call.
        let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        // SAFETY: CMSG_SPACE is a pure computation.
        mh.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
        // SAFETY: mh.msg_control points at a buffer of at least msg_controllen bytes.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&mh);
            if c.is_null() {
                return Err(io::ErrorKind::InvalidInput.into());
            }
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        }
        loop {
            // SAFETY: mh describes valid buffers.
            let r = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &mh, libc::MSG_NOSIGNAL) };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Receives one datagram and the descriptor that came with it, if any.
    pub fn recv_with_fd(&self, buf: &mut [u8]) -> io::Result<(Received, Option<OwnedFd>)> {
        loop {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            };
            let mut cbuf = [0u64; 8];
            // SAFETY: msghdr is plain data; we fill the fields recvmsg reads.
            let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
            mh.msg_iov = &mut iov;
            mh.msg_iovlen = 1;
            mh.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            mh.msg_controllen = std::mem::size_of_val(&cbuf);
            // SAFETY: mh points at valid buffers.
            let r = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut mh, libc::MSG_CMSG_CLOEXEC) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut fd = None;
            // SAFETY: walking the control messages recvmsg filled in.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&mh);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                        let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
                        if raw >= 0 && fd.is_none() {
                            fd = Some(OwnedFd::from_raw_fd(raw));
                        }
                    }
                    c = libc::CMSG_NXTHDR(&mh, c);
                }
            }
            let got = if r == 0 && mh.msg_flags & libc::MSG_TRUNC == 0 && self.peer_gone() {
                Received::Closed
            } else if mh.msg_flags & libc::MSG_TRUNC != 0 {
                Received::Truncated(r as usize)
            } else {
                Received::Msg(r as usize)
            };
            return Ok((got, fd));
        }
    }

    /// Wraps a descriptor received from the stack (an accepted connection).
    pub fn from_fd(fd: OwnedFd) -> SeqPacket {
        SeqPacket { fd }
    }

    /// The peer's credentials.
    pub fn peer_cred(&self) -> io::Result<Cred> {
        // SAFETY: ucred is plain data.
        let mut c: libc::ucred = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: c and len describe a buffer of the size SO_PEERCRED writes.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                &mut c as *mut _ as *mut libc::c_void,
                &mut len,
            )
        })?;
        Ok(Cred {
            pid: c.pid as u32,
            uid: c.uid,
            gid: c.gid,
        })
    }

    /// Sets (or with None clears) the receive timeout.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        let tv = match t {
            Some(d) => libc::timeval {
                tv_sec: d.as_secs() as libc::time_t,
                tv_usec: d.subsec_micros() as libc::suseconds_t,
            },
            None => libc::timeval { tv_sec: 0, tv_usec: 0 },
        };
        set_opt(self.fd.as_raw_fd(), libc::SO_RCVTIMEO, &tv)
    }

    /// Sets the send and receive buffer sizes.
    pub fn set_buffers(&self, bytes: usize) -> io::Result<()> {
        let v = bytes as libc::c_int;
        set_opt(self.fd.as_raw_fd(), libc::SO_SNDBUF, &v)?;
        set_opt(self.fd.as_raw_fd(), libc::SO_RCVBUF, &v)
    }

    /// Shuts both directions down, waking any thread blocked on this connection.
    pub fn shutdown(&self) {
        // SAFETY: shutdown(2) on a descriptor we own.
        unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RDWR) };
    }

    /// A second handle on the same connection (for sending from another thread).
    pub fn try_clone(&self) -> io::Result<SeqPacket> {
        Ok(SeqPacket {
            fd: self.fd.try_clone()?,
        })
    }
}

impl From<SeqPacket> for OwnedFd {
    fn from(s: SeqPacket) -> OwnedFd {
        s.fd
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsRawFd for SeqPacket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn set_opt<T>(fd: RawFd, opt: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: v is a valid value of the type the option takes.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// The listening channel socket.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Binds and listens at path (which must not exist).
    pub fn bind(path: &Path) -> io::Result<Listener> {
        let fd = new_socket()?;
        let (sa, len) = sockaddr(path)?;
        // SAFETY: sa is a valid sockaddr_un of length len.
        cvt(unsafe { libc::bind(fd.as_raw_fd(), &sa as *const _ as *const libc::sockaddr, len) })?;
        // SAFETY: listen(2) on our bound socket.
        cvt(unsafe { libc::listen(fd.as_raw_fd(), 128) })?;
        Ok(Listener { fd })
    }

    /// Makes `accept` return WouldBlock instead of waiting.
    pub fn set_nonblocking(&self) -> io::Result<()> {
        // SAFETY: fcntl on a descriptor we own.
        let fl = cvt(unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_GETFL) })?;
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK) })?;
        Ok(())
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> io::Result<SeqPacket> {
        loop {
            // SAFETY: null address arguments are allowed by accept4.
            let r = unsafe {
                libc::accept4(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if r >= 0 {
                // SAFETY: a fresh descriptor we own.
                return Ok(SeqPacket {
                    fd: unsafe { OwnedFd::from_raw_fd(r) },
                });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Wakes a thread blocked in accept (used at shutdown).
    pub fn shutdown(&self) {
        // SAFETY: shutdown(2) on a descriptor we own.
        unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_datagram_is_not_a_close() {
        let (a, b) = SeqPacket::pair().unwrap();
        let mut buf = [0u8; 16];
        a.send(&[]).unwrap();
        a.send(&[7]).unwrap();
        assert_eq!(b.recv(&mut buf).unwrap(), Received::Msg(0));
        assert_eq!(b.recv(&mut buf).unwrap(), Received::Msg(1));
        drop(a);
        assert_eq!(b.recv(&mut buf).unwrap(), Received::Closed);
    }
}
