//! `udp`: Ethernet frames over UDP, one frame a datagram. A point-to-point wire between two
//! stacks (or a stack and a test) that needs no privileges.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::fd::RawFd;

use crate::opts::{unknown, SubOpt};
use crate::{io_str, Driver, Recv};

pub struct Udp {
    sock: UdpSocket,
    local: SocketAddr,
    remote: SocketAddr,
}

fn resolve(key: &str, v: &str) -> Result<SocketAddr, String> {
    v.to_socket_addrs()
        .map_err(|e| format!("{key}={v}: {}", io_str(&e)))?
        .next()
        .ok_or_else(|| format!("{key}={v}: no address"))
}

impl Udp {
    pub fn open(opts: &[SubOpt]) -> Result<Udp, String> {
        let mut local = None;
        let mut remote = None;
        for o in opts {
            match o.key.as_str() {
                "local" => local = Some(resolve("local", o.require_value()?)?),
                "remote" => remote = Some(resolve("remote", o.require_value()?)?),
                _ => return Err(unknown(o)),
            }
        }
        let remote = remote.ok_or("remote=ADDR:PORT is required")?;
        let local = local.unwrap_or_else(|| match remote {
            SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("literal"),
            SocketAddr::V6(_) => "[::]:0".parse().expect("literal"),
        });
        let sock = UdpSocket::bind(local).map_err(|e| format!("bind {local}: {}", io_str(&e)))?;
        sock.connect(remote)
            .map_err(|e| format!("connect {remote}: {}", io_str(&e)))?;
        sock.set_nonblocking(true).map_err(|e| io_str(&e))?;
        let local = sock.local_addr().map_err(|e| io_str(&e))?;
        Ok(Udp { sock, local, remote })
    }
}

impl Driver for Udp {
    fn kind(&self) -> &'static str {
        "udp"
    }

    fn raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Recv> {
        loop {
            match self.sock.recv(buf) {
                Ok(n) => return Ok(Recv::Frame(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Recv::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The far end is not listening (yet): an ICMP error from an earlier send.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.sock.send(frame).map(|_| ())
    }

    fn link_up(&self) -> bool {
        true
    }

    fn details(&self) -> Vec<(String, String)> {
        vec![
            ("local".into(), self.local.to_string()),
            ("remote".into(), self.remote.to_string()),
        ]
    }
}
