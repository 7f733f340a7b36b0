//! `tap`: a Linux TAP device. The stack is the "wire side" of the device; the host side is
//! an ordinary Linux interface that `host=ADDR/LEN` configures over netlink.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::opts::{unknown, SubOpt};
use crate::{errno_str, io_str, netlink, Common, Driver, Recv};

const IFNAMSIZ: usize = 16;

#[repr(C)]
struct IfReqFlags {
    name: [u8; IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

nix::ioctl_write_int!(tunsetiff, b'T', 202);

pub struct Tap {
    file: File,
    name: String,
    host: Option<(std::net::Ipv4Addr, u8)>,
}

fn parse_host(v: &str) -> Result<(std::net::Ipv4Addr, u8), String> {
    let (a, l) = v
        .split_once('/')
        .ok_or_else(|| format!("host={v}: expected ADDR/LEN"))?;
    let addr = a.parse().map_err(|_| format!("host={v}: bad address"))?;
    let len: u8 = l.parse().map_err(|_| format!("host={v}: bad prefix length"))?;
    if len > 32 {
        return Err(format!("host={v}: bad prefix length"));
    }
    Ok((addr, len))
}

impl Tap {
    pub fn open(opts: &[SubOpt], common: &Common) -> Result<Tap, String> {
        let mut want = String::new();
        let mut host = None;
        for o in opts {
            match o.key.as_str() {
                "tap" => want = o.require_value()?.to_string(),
                "host" => host = Some(parse_host(o.require_value()?)?),
                _ => return Err(unknown(o)),
            }
        }
        if want.len() >= IFNAMSIZ || want.contains('/') {
            return Err(format!("tap={want}: bad interface name"));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| format!("/dev/net/tun: {}", io_str(&e)))?;
        let mut req = IfReqFlags {
            name: [0; IFNAMSIZ],
            flags: (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        let pattern = if want.is_empty() { "tap%d" } else { want.as_str() };
        req.name[..pattern.len()].copy_from_slice(pattern.as_bytes());
        // SAFETY: TUNSETIFF reads and writes an ifreq, which IfReqFlags lays out.
        unsafe { tunsetiff(file.as_raw_fd(), &mut req as *mut IfReqFlags as u64) }
            .map_err(|e| format!("TUNSETIFF: {}", errno_str(e)))?;
        let end = req.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        let name = String::from_utf8_lossy(&req.name[..end]).into_owned();
        if let Some(mtu) = common.mtu {
            netlink::set_mtu(&name, mtu).map_err(|e| format!("mtu={mtu}: {e}"))?;
        }
        if let Some((addr, len)) = host {
            netlink::configure_host(&name, addr, len).map_err(|e| format!("host={addr}/{len}: {e}"))?;
        }
        Ok(Tap { file, name, host })
    }

    /// The host-side interface name.
    pub fn ifname(&self) -> &str {
        &self.name
    }
}

impl Driver for Tap {
    fn kind(&self) -> &'static str {
        "tap"
    }

    fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Recv> {
        loop {
            match (&self.file).read(buf) {
                Ok(n) => return Ok(Recv::Frame(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Recv::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        (&self.file).write(frame).map(|_| ())
    }

    fn link_up(&self) -> bool {
        // The wire side is attached as long as we hold the descriptor; carrier on the host
        // side follows whether the host interface is up.
        netlink::is_up(&self.name).unwrap_or(false)
    }

    fn details(&self) -> Vec<(String, String)> {
        let mut v = vec![("device".into(), self.name.clone())];
        if let Some((a, l)) = self.host {
            v.push(("host".into(), format!("{a}/{l}")));
        }
        v
    }
}
