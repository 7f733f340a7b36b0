//! `hub`: a multipoint Ethernet segment shared by every stack that names the same directory.
//!
//! Each member binds a Unix datagram socket in the directory; a frame sent by one member is
//! delivered to every other member's socket, as a repeater hub would, and each receiver
//! keeps what is addressed to it. Members that went away without cleaning up (their socket
//! refuses) are removed from the directory.
//!
//! Transmit never waits and never touches the file system: the stack calls it holding its
//! context. A member whose queue is full loses the frame, as a receiver whose ring is full
//! would, and the loss is counted (`ifconfig -v`: "member drops"). The member list is kept
//! by a background thread that looks at the directory's mtime every [`REFRESH`]; a member
//! that joins sends every member it finds an empty datagram, on which their receive
//! threads (which do not hold the stack context) read the directory at once, so the
//! newcomer's first frames are never answered into the void.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::opts::{unknown, SubOpt};
use crate::{io_str, Driver, Recv};

const SUFFIX: &str = ".hub";

/// How often the member list is checked against the directory.
pub const REFRESH: Duration = Duration::from_millis(100);

pub struct Hub {
    sock: UnixDatagram,
    seg: Arc<Segment>,
    refresher: Option<JoinHandle<()>>,
}

/// What the sending side, the receiving side and the refresher share.
struct Segment {
    dir: PathBuf,
    me: PathBuf,
    members: Mutex<Members>,
    /// One rescan at a time (the refresher and a receive thread may both want one).
    scanning: Mutex<()>,
    /// Frames a member could not take because its queue was full.
    drops: AtomicU64,
    ctl: Mutex<Ctl>,
    wake: Condvar,
}

#[derive(Default)]
struct Ctl {
    stop: bool,
    /// A send found members gone: rescan (and clean up) without waiting for the mtime.
    dirty: bool,
}

struct Members {
    /// Directory mtime (ns) when the list was read.
    stamp: i128,
    /// Each other member, with a non-blocking socket connected to it.
    list: Vec<(PathBuf, UnixDatagram)>,
    /// Sockets of members found dead by a send, for the refresher to unlink.
    gone: Vec<PathBuf>,
}

fn mtime_ns(dir: &Path) -> io::Result<i128> {
    let m = fs::metadata(dir)?;
    Ok(i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Errors that say the member's socket is no longer served.
fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNREFUSED) | Some(libc::ENOENT) | Some(libc::ENOTCONN) | Some(libc::EPIPE)
    )
}

impl Segment {
    /// Brings the member list up to date with the directory when it changed (or always,
    /// with `force`). The directory is read and new members are connected without the
    /// list's lock, which a send holds; only the merge takes it.
    fn rescan(&self, force: bool) -> io::Result<()> {
        let _one = lock(&self.scanning);
        let stamp = mtime_ns(&self.dir)?;
        let (known, gone) = {
            let mut m = lock(&self.members);
            if !force && stamp == m.stamp && m.gone.is_empty() {
                return Ok(());
            }
            let known: Vec<PathBuf> = m.list.iter().map(|(p, _)| p.clone()).collect();
            (known, std::mem::take(&mut m.gone))
        };
        for p in gone {
            let _ = fs::remove_file(&p);
        }
        let mut present = Vec::new();
        let mut fresh = Vec::new();
        for ent in fs::read_dir(&self.dir)? {
            let ent = ent?;
            let p = ent.path();
            let is_member = p.extension().and_then(|e| e.to_str()) == Some(&SUFFIX[1..])
                && ent.file_type().map(|t| t.is_socket()).unwrap_or(false);
            if !is_member || p == self.me {
                continue;
            }
            if known.contains(&p) {
                present.push(p);
                continue;
            }
            let Ok(s) = UnixDatagram::unbound() else { continue };
            match s.connect(&p) {
                Ok(()) => {
                    if s.set_nonblocking(true).is_ok() {
                        present.push(p.clone());
                        fresh.push((p, s));
                    }
                }
                // Nobody listens there: a member that died without cleaning up.
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                    let _ = fs::remove_file(&p);
                }
                Err(_) => {}
            }
        }
        let mut m = lock(&self.members);
        m.list.retain(|(p, _)| present.contains(p));
        m.list.extend(fresh);
        m.stamp = stamp;
        Ok(())
    }

    fn kick(&self) {
        lock(&self.ctl).dirty = true;
        self.wake.notify_one();
    }

    /// The refresher: rescans every REFRESH, or at once when kicked; stops when told.
    fn refresh_loop(&self) {
        let mut ctl = lock(&self.ctl);
        loop {
            if ctl.stop {
                return;
            }
            if !ctl.dirty {
                ctl = self
                    .wake
                    .wait_timeout(ctl, REFRESH)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
                if ctl.stop {
                    return;
                }
            }
            let force = std::mem::take(&mut ctl.dirty);
            drop(ctl);
            let _ = self.rescan(force);
            ctl = lock(&self.ctl);
        }
    }
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
        let seg = Arc::new(Segment {
            dir,
            me,
            members: Mutex::new(Members {
                stamp: i128::MIN,
                list: Vec::new(),
                gone: Vec::new(),
            }),
            scanning: Mutex::new(()),
            drops: AtomicU64::new(0),
            ctl: Mutex::new(Ctl::default()),
            wake: Condvar::new(),
        });
        seg.rescan(true)
            .map_err(|e| format!("{}: {}", seg.dir.display(), io_str(&e)))?;
        // Hello: the members read the directory now and know us before our first frame.
        for (_, s) in lock(&seg.members).list.iter() {
            let _ = s.send(&[]);
        }
        let s2 = seg.clone();
        let refresher = std::thread::Builder::new()
            .name("hub-members".into())
            .spawn(move || s2.refresh_loop())
            .map_err(|e| io_str(&e))?;
        Ok(Hub {
            sock,
            seg,
            refresher: Some(refresher),
        })
    }

    /// The other members currently on the segment (as last read from the directory).
    pub fn members(&self) -> usize {
        lock(&self.seg.members).list.len()
    }

    /// Frames lost so far because a member's queue was full.
    pub fn drops(&self) -> u64 {
        self.seg.drops.load(Ordering::Relaxed)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        lock(&self.seg.ctl).stop = true;
        self.seg.wake.notify_one();
        if let Some(h) = self.refresher.take() {
            let _ = h.join();
        }
        let _ = fs::remove_file(&self.seg.me);
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
                // A member's hello: it joined. Read the directory now (this is a receive
                // thread, which does not hold the stack context).
                Ok(0) => {
                    let _ = self.seg.rescan(true);
                }
                Ok(n) => return Ok(Recv::Frame(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Recv::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        if frame.is_empty() {
            // Not a frame (and the members would take it for a hello).
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut m = lock(&self.seg.members);
        let mut gone = Vec::new();
        let mut last_err = None;
        for (i, (_, s)) in m.list.iter().enumerate() {
            let r = match s.send(frame) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => s.send(frame),
                r => r,
            };
            match r {
                Ok(_) => {}
                Err(e) if is_gone(&e) => gone.push(i),
                // A member that does not keep up loses the frame, as on a congested segment.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.seg.drops.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => last_err = Some(e),
            }
        }
        if !gone.is_empty() {
            for i in gone.into_iter().rev() {
                let (p, _) = m.list.remove(i);
                m.gone.push(p);
            }
            drop(m);
            self.seg.kick();
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
            ("segment".into(), self.seg.dir.display().to_string()),
            ("port".into(), self.seg.me.display().to_string()),
            ("members".into(), self.members().to_string()),
            ("member drops".into(), self.drops().to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Hub {
        let o = SubOpt {
            key: "path".into(),
            value: Some(dir.display().to_string()),
        };
        Hub::open(&[o]).unwrap()
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pktbox-hub-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    /// Frames waiting for `h`, read without blocking.
    fn drain(h: &Hub) -> usize {
        let mut buf = vec![0u8; 2048];
        let mut n = 0;
        while let Ok(Recv::Frame(_)) = h.recv(&mut buf) {
            n += 1;
        }
        n
    }

    #[test]
    fn a_member_that_stops_reading_loses_frames_and_the_sender_goes_on() {
        let d = tmpdir("slow");
        let sender = open(&d);
        let slow = open(&d);
        let reader = open(&d);
        // Each learns of the later ones from their hellos.
        assert_eq!(drain(&sender), 0);
        assert_eq!(sender.members(), 2);
        // Far more than the slow member's queue holds. The old driver waited 20 ms for
        // room each time the queue was full: some 100 s for this loop.
        const N: usize = 20_000;
        let frame = vec![0x5au8; 1500];
        let mut read = 0;
        for i in 0..N {
            sender.send(&frame).expect("a slow member is no error of the sender's");
            if i % 64 == 0 {
                read += drain(&reader);
            }
        }
        read += drain(&reader);
        let queued = drain(&slow);
        let drops = sender.drops() as usize;
        assert!(queued > 0 && queued < N, "{queued} frames queued for the slow member");
        // Every frame either reached each member or is counted as lost for it.
        assert_eq!(
            queued + read + drops,
            2 * N,
            "queued {queued} read {read} drops {drops}"
        );
        assert!(drops >= N - queued);
        drop((sender, slow, reader));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_member_that_joins_is_known_before_its_first_frame_is_read() {
        let d = tmpdir("join");
        let a = open(&d);
        assert_eq!(a.members(), 0);
        let b = open(&d);
        b.send(&[1u8; 60]).unwrap();
        let mut buf = vec![0u8; 2048];
        // The hello comes first: by the time a reads b's frame, it can answer it.
        assert!(matches!(a.recv(&mut buf), Ok(Recv::Frame(60))));
        assert_eq!(a.members(), 1);
        a.send(&[2u8; 60]).unwrap();
        assert!(matches!(b.recv(&mut buf), Ok(Recv::Frame(60))));
        // One that leaves is dropped from the list by the next send.
        drop(b);
        a.send(&[3u8; 60]).unwrap();
        assert_eq!(a.members(), 0);
        drop(a);
        let _ = fs::remove_dir_all(&d);
    }
}
