//! `hub`: a multipoint Ethernet segment shared by every stack that names the same directory.
//!
//! Each member binds a Unix datagram socket in the directory; a frame sent by one member is
//! delivered to every other member's socket, as a repeater hub would, and each receiver
//! keeps what is addressed to it. Members that went away without cleaning up (their socket
//! refuses) are removed from the directory by the first sender that notices.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::opts::{unknown, SubOpt};
use crate::{io_str, Driver, Recv};

const SUFFIX: &str = ".hub";

pub struct Hub {
    sock: UnixDatagram,
    dir: PathBuf,
    me: PathBuf,
    members: Mutex<Members>,
}

struct Members {
    /// Directory mtime (ns) when the list was read.
    stamp: i128,
    /// Each other member, with a socket connected to it: a connected datagram socket can
    /// wait for room in the member's queue (which the kernel keeps short).
    list: Vec<(PathBuf, UnixDatagram)>,
}

/// How long a send waits for a member's queue to have room before the frame is dropped
/// for that member, as a congested segment would.
const ROOM_WAIT_MS: i32 = 20;

fn mtime_ns(dir: &Path) -> io::Result<i128> {
    let m = fs::metadata(dir)?;
    Ok(i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()))
}

impl Hub {
    pub fn open(opts: &[SubOpt]) -> Result<Hub, String> {
        let mut dir = None;
        for o in opts {
            match o.key.as_str() {
                "path" => dir = Some(PathBuf::from(o.require_value()?)),
                _ => return Err(unknown(o)),
            }
        }
        let dir = dir.ok_or("path=DIR is required")?;
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {}", dir.display(), io_str(&e)))?;
        static N: AtomicU32 = AtomicU32::new(0);
        let me = dir.join(format!(
            "{}-{}{SUFFIX}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        // A file of this name can only be left by an earlier process with our pid.
        let _ = fs::remove_file(&me);
        let sock = UnixDatagram::bind(&me).map_err(|e| format!("{}: {}", me.display(), io_str(&e)))?;
        sock.set_nonblocking(true).map_err(|e| io_str(&e))?;
        let big: libc::c_int = 4 << 20;
        // SAFETY: setsockopt with a valid fd and a c_int value of the right size.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &big as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        Ok(Hub {
            sock,
            dir,
            me,
            members: Mutex::new(Members {
                stamp: i128::MIN,
                list: Vec::new(),
            }),
        })
    }

    fn rescan(&self, m: &mut Members) -> io::Result<()> {
        let stamp = mtime_ns(&self.dir)?;
        if stamp == m.stamp {
            return Ok(());
        }
        let mut old = std::mem::take(&mut m.list);
        for ent in fs::read_dir(&self.dir)? {
            let ent = ent?;
            let p = ent.path();
            let is_member = p.extension().and_then(|e| e.to_str()) == Some(&SUFFIX[1..])
                && ent.file_type().map(|t| t.is_socket()).unwrap_or(false);
            if !is_member || p == self.me {
                continue;
            }
            if let Some(i) = old.iter().position(|(q, _)| *q == p) {
                m.list.push(old.swap_remove(i));
                continue;
            }
            let Ok(s) = UnixDatagram::unbound() else { continue };
            match s.connect(&p) {
                Ok(()) => {
                    let _ = s.set_nonblocking(true);
                    m.list.push((p, s));
                }
                // Nobody listens there: a member that died without cleaning up.
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                    let _ = fs::remove_file(&p);
                }
                Err(_) => {}
            }
        }
        m.stamp = stamp;
        Ok(())
    }

    /// The other members currently on the segment.
    pub fn members(&self) -> usize {
        let mut m = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.rescan(&mut m);
        m.list.len()
    }
}

/// Sends on a connected member socket, waiting a little for room in its queue.
fn send_waiting(s: &UnixDatagram, frame: &[u8]) -> io::Result<()> {
    loop {
        match s.send(frame) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut pfd = libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let r = unsafe { libc::poll(&mut pfd, 1, ROOM_WAIT_MS) };
                if r <= 0 {
                    return Err(e);
                }
                // Room now (or an error the next send reports).
                match s.send(frame) {
                    Ok(_) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.me);
    }
}

impl Driver for Hub {
    fn kind(&self) -> &'static str {
        "hub"
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
                Err(e) => return Err(e),
            }
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        let mut m = self.members.lock().unwrap_or_else(|p| p.into_inner());
        self.rescan(&mut m)?;
        let mut gone = Vec::new();
        let mut last_err = None;
        for (i, (_, s)) in m.list.iter().enumerate() {
            match send_waiting(s, frame) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ECONNREFUSED) | Some(libc::ENOENT) | Some(libc::ENOTCONN) | Some(libc::EPIPE)
                    ) =>
                {
                    gone.push(i)
                }
                // A member that does not keep up loses the frame, as on a congested segment.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => last_err = Some(e),
            }
        }
        if !gone.is_empty() {
            for i in gone.into_iter().rev() {
                let (p, _) = m.list.remove(i);
                let _ = fs::remove_file(&p);
            }
            m.stamp = i128::MIN;
        }
        match last_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn link_up(&self) -> bool {
        true
    }

    fn details(&self) -> Vec<(String, String)> {
        vec![
            ("segment".into(), self.dir.display().to_string()),
            ("port".into(), self.me.display().to_string()),
            ("members".into(), self.members().to_string()),
        ]
    }
}
