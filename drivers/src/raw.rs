//! `raw`: an AF_PACKET socket on a host interface (`if=HOSTIF`), opened directly so the
//! receive threads can poll it. The stack sees every frame on the host interface's wire
//! (the socket is bound with ETH_P_ALL and joins the interface's promiscuous mode) and
//! sends frames onto it as they are.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::opts::{unknown, SubOpt};
use crate::{io_str, Driver, Recv};

pub struct Raw {
    fd: OwnedFd,
    ifname: String,
    ifindex: i32,
}

fn last_err() -> String {
    io_str(&io::Error::last_os_error())
}

impl Raw {
    pub fn open(opts: &[SubOpt]) -> Result<Raw, String> {
        let mut ifname = None;
        for o in opts {
            match o.key.as_str() {
                "if" => ifname = Some(o.require_value()?.to_string()),
                _ => return Err(unknown(o)),
            }
        }
        let ifname = ifname.ok_or("if=HOSTIF is required")?;
        let c = CString::new(ifname.clone()).map_err(|_| format!("if={ifname}: bad interface name"))?;
        // SAFETY: if_nametoindex reads a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) } as i32;
        if ifindex == 0 {
            return Err(format!("if={ifname}: {}", last_err()));
        }
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2); the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                i32::from(proto),
            )
        };
        if raw < 0 {
            return Err(format!("socket(AF_PACKET): {}", last_err()));
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain data.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex;
        // SAFETY: sll is a valid sockaddr_ll of the size given.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(format!("bind {ifname}: {}", last_err()));
        }
        // Frames for the stack's own MAC address are not the host's, so listen to all.
        // SAFETY: packet_mreq is plain data.
        let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
        mr.mr_ifindex = ifindex;
        mr.mr_type = libc::PACKET_MR_PROMISC as u16;
        // SAFETY: mr is a valid packet_mreq of the size given.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                &mr as *const libc::packet_mreq as *const libc::c_void,
                std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(format!("{ifname}: promiscuous mode: {}", last_err()));
        }
        Ok(Raw { fd, ifname, ifindex })
    }
}

impl Driver for Raw {
    fn kind(&self) -> &'static str {
        "raw"
    }

    fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Recv> {
        loop {
            // SAFETY: sockaddr_ll is plain data; recvfrom fills it.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: buf and from are valid for the sizes given.
            let r = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                    &mut from as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                    &mut len,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(Recv::WouldBlock),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
            // What the host itself sends on the interface comes back as PACKET_OUTGOING;
            // that includes our own frames, which are not input.
            if from.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            return Ok(Recv::Frame(r as usize));
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: frame is a valid buffer; the socket is bound to the interface.
            let r = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    frame.as_ptr() as *const libc::c_void,
                    frame.len(),
                    0,
                )
            };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn link_up(&self) -> bool {
        std::fs::read_to_string(format!("/sys/class/net/{}/carrier", self.ifname))
            .map(|s| s.trim() == "1")
            .unwrap_or(false)
    }

    fn details(&self) -> Vec<(String, String)> {
        vec![
            ("interface".into(), self.ifname.clone()),
            ("ifindex".into(), self.ifindex.to_string()),
        ]
    }
}
