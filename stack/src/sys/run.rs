//! Bringing a stack up and down: the instance lock, interfaces, threads, the channel, and a
//! clean shutdown on SIGTERM.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sys::signal::{SigSet, Signal};
use pktbox_drivers::Opened;

use crate::msg::wire::{Listener, SeqPacket};
use crate::net::if_control::{if_attach, next_index, next_name, valid_name};
use crate::net::ifnet::Ifnet;
use crate::sys::{callout, rxthread, Config, Stack};

/// `<prefix>/dev/socket`: where a stack serves its channel.
pub fn socket_path(prefix: &Path) -> PathBuf {
    prefix.join("dev/socket")
}

fn lock_path(prefix: &Path) -> PathBuf {
    prefix.join("dev/socket.lock")
}

/// The instance lock: held for the life of the stack, it says which process owns a prefix.
struct InstanceLock {
    file: File,
    path: PathBuf,
}

impl InstanceLock {
    fn take(prefix: &Path) -> Result<InstanceLock, String> {
        let path = lock_path(prefix);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(format!(
                "a stack is already running at {}{}",
                socket_path(prefix).display(),
                if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                }
            ));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
        Ok(InstanceLock { file, path })
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        let _ = &self.file;
    }
}

/// Runs a stack until SIGTERM (or SIGINT/SIGHUP). `ready` is called once: with Ok when the
/// channel answers, or with the reason the stack could not start.
pub fn run(config: Config, drivers: Vec<Opened>, ready: impl FnOnce(Result<(), String>)) -> Result<(), String> {
    // Every thread inherits this mask; the main thread takes the signals with sigwait.
    let mut sigs = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        sigs.add(s);
    }
    let _ = sigs.thread_block();
    // SAFETY: ignoring SIGPIPE; writes to closed peers return EPIPE instead.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };

    let started = start(config, drivers);
    let (stack, listener, rx, lock) = match started {
        Ok(v) => v,
        Err(e) => {
            ready(Err(e.clone()));
            return Err(e);
        }
    };
    let listener = Arc::new(listener);
    let server = {
        let stack = stack.clone();
        let l = listener.clone();
        std::thread::Builder::new()
            .name("resmgr-poll".into())
            .spawn(move || crate::resmgr::serve(stack, l))
            .map_err(|e| format!("cannot start the channel thread: {e}"))?
    };
    // The channel answers from here on.
    ready(Ok(()));

    let _sig = sigs.wait();
    stack.begin_shutdown();
    {
        let ctx = stack.ctx();
        for ifp in &ctx.ifnets {
            ifp.set_up(false);
        }
    }
    listener.shutdown();
    let _ = fs::remove_file(socket_path(&stack.config.prefix));
    for h in rx {
        let _ = h.join();
    }
    let _ = server.join();
    // Dropping the interfaces closes the drivers: TAP devices are released, hub ports removed.
    // Bridges let their members go first (a bridge and its members refer to each other),
    // and the receive threads' list lets go of its interfaces.
    {
        let mut ctx = stack.ctx();
        for ifp in &ctx.ifnets {
            if let Some(br) = &ifp.bridge_sc {
                crate::net::if_bridge::bridge_detach(br);
            }
        }
        ctx.ifnets.clear();
    }
    stack.rx.clear();
    drop(lock);
    Ok(())
}

type Started = (Arc<Stack>, Listener, Vec<std::thread::JoinHandle<()>>, InstanceLock);

/// Raises the soft descriptor limit to the hard one, as servers do: every channel
/// connection costs the stack descriptors, and the channel's connection limits are
/// worked out from this one (`resmgr::limits::max_conns`).
fn raise_nofile() {
    // SAFETY: rlimit is plain data; getrlimit fills it.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: a valid rlimit to fill, then to set.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 && rl.rlim_cur < rl.rlim_max {
        rl.rlim_cur = rl.rlim_max;
        // SAFETY: as above; a failure leaves the limit as it was.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) };
    }
}

fn start(config: Config, drivers: Vec<Opened>) -> Result<Started, String> {
    raise_nofile();
    let prefix = config.prefix.clone();
    let dev = prefix.join("dev");
    fs::create_dir_all(&dev).map_err(|e| format!("{}: {e}", dev.display()))?;
    let lock = InstanceLock::take(&prefix)?;
    let sock = socket_path(&prefix);
    // We hold the lock, so a socket file here is a stale one from a stack that was killed.
    if sock.exists() {
        if SeqPacket::connect(&sock).is_ok() {
            return Err(format!("a stack is already running at {}", sock.display()));
        }
        fs::remove_file(&sock).map_err(|e| format!("{}: {e}", sock.display()))?;
    }
    let stack = Stack::new(config);
    let mut rx_ifs = Vec::new();
    {
        let mut ctx = stack.ctx();
        let lo =
            if_attach(&mut ctx, Ifnet::loopback(1, "lo0".into(), false)).map_err(|f| f.text.unwrap_or_default())?;
        lo.set_up(true);
        stack
            .registry
            .loopback(&mut ctx, &lo)
            .map_err(|e| format!("lo0: {e}"))?;
        for o in drivers {
            let name = match &o.common.name {
                Some(n) => {
                    if !valid_name(n) {
                        return Err(format!("-d {}: name={n}: bad interface name", o.driver.kind()));
                    }
                    n.clone()
                }
                None => next_name(&ctx, "en"),
            };
            let kind = o.driver.kind();
            let idx = next_index(&ctx);
            let mac = o.common.mac.unwrap_or_else(pktbox_drivers::random_mac);
            let mtu = o.common.mtu.unwrap_or(pktbox_drivers::ETHERMTU);
            let mut ifp = Ifnet::ether(idx, name, mac, mtu, o.driver);
            ifp.priority = o.common.priority;
            if o.common.promiscuous {
                ifp.ifpromisc(true);
            }
            let ifp = if_attach(&mut ctx, ifp).map_err(|f| format!("-d {kind}: {}", f.text.unwrap_or_default()))?;
            rx_ifs.push(ifp);
        }
    }
    let n = stack.config.rx_threads;
    let mut rx = rxthread::start(&stack, rx_ifs, n).map_err(|e| format!("cannot start receive threads: {e}"))?;
    rx.push(callout::start(&stack).map_err(|e| format!("cannot start the timer thread: {e}"))?);
    let listener = Listener::bind(&sock).map_err(|e| format!("{}: {e}", sock.display()))?;
    // Anyone may connect: reading is open, and each request that changes state is checked
    // against the peer's credentials (SO_PEERCRED), as a PF_ROUTE socket is on BSD. What
    // users other than root can make the stack hold is bounded (resmgr::limits).
    fs::set_permissions(&sock, fs::Permissions::from_mode(0o666)).map_err(|e| format!("{}: {e}", sock.display()))?;
    Ok((stack, listener, rx, lock))
}
