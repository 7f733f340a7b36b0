//! Receive threads: each serves a share of the interfaces, reads their frames in batches and
//! carries each one up through the interface's `if_input` (`ether_input`), taking the stack
//! context only for the layers above the link. Each frame is read straight into an mbuf
//! from the thread's free list (behind its headroom), so it goes up, and on when it is
//! forwarded, without being copied.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pktbox_drivers::{FrameMeta, Recv};

use crate::net::ifnet::{inc, Ifnet};
use crate::sys::mbuf::Mbuf;
use crate::sys::Stack;

/// Frames read from one interface before the thread looks at its others.
const BATCH: usize = 32;

static PRIO_WARNED: AtomicBool = AtomicBool::new(false);

/// Gives the calling thread a real-time priority, or says once why it could not.
pub fn set_priority(prio: i32, what: &str) {
    let param = libc::sched_param { sched_priority: prio };
    // SAFETY: pthread_setschedparam on the calling thread with a valid sched_param.
    let r = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_RR, &param) };
    if r != 0 && !PRIO_WARNED.swap(true, Ordering::Relaxed) {
        crate::klog!(
            "warning: {what} priority {prio} not set: {} (running at normal priority)",
            crate::msg::errno::strerror(r)
        );
    }
}

/// The interfaces the receive threads serve, each with the thread that serves it. An
/// interface attached at run time (`ifconfig tap1 create` + `linkstr`) joins the least
/// busy thread; a destroyed one leaves. Threads see a change by the generation number,
/// at the latest one poll timeout later.
#[derive(Default)]
pub struct RxSet {
    ifs: std::sync::Mutex<Vec<(Arc<Ifnet>, usize)>>,
    gen: std::sync::atomic::AtomicU64,
    threads: std::sync::atomic::AtomicUsize,
    /// Wakes threads that have no interface to poll when the set changes.
    cv: std::sync::Condvar,
}

impl RxSet {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Arc<Ifnet>, usize)>> {
        self.ifs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands an interface to the thread serving the fewest.
    pub fn add(&self, ifp: Arc<Ifnet>) {
        let n = self.threads.load(Ordering::Acquire).max(1);
        let mut l = self.lock();
        if l.iter().any(|(i, _)| Arc::ptr_eq(i, &ifp)) {
            return;
        }
        let t = (0..n)
            .min_by_key(|t| l.iter().filter(|(_, u)| u == t).count())
            .unwrap_or(0);
        l.push((ifp, t));
        self.gen.fetch_add(1, Ordering::AcqRel);
        self.cv.notify_all();
    }

    /// Takes an interface off its thread (it is being destroyed).
    pub fn remove(&self, ifp: &Ifnet) {
        let mut l = self.lock();
        l.retain(|(i, _)| !std::ptr::eq(Arc::as_ptr(i), ifp));
        self.gen.fetch_add(1, Ordering::AcqRel);
        self.cv.notify_all();
    }

    /// Whether receive threads run (not in a detached stack: unit tests, fuzzing).
    pub fn running(&self) -> bool {
        self.threads.load(Ordering::Acquire) > 0
    }

    /// Lets go of every interface (the stack is stopping).
    pub fn clear(&self) {
        self.lock().clear();
        self.changed();
    }

    /// Tells the threads to look again (an interface got its driver, or the stack is
    /// stopping).
    pub fn changed(&self) {
        let _l = self.lock();
        self.gen.fetch_add(1, Ordering::AcqRel);
        self.cv.notify_all();
    }

    /// Sleeps until the set changes from generation `gen` (or a second passes): what a
    /// thread with nothing to poll does, so an idle one costs nothing.
    fn wait_change(&self, gen: u64) {
        let l = self.lock();
        if self.gen.load(Ordering::Acquire) == gen {
            let _ = self.cv.wait_timeout(l, std::time::Duration::from_secs(1));
        }
    }

    fn share(&self, t: usize) -> Vec<Arc<Ifnet>> {
        self.lock()
            .iter()
            .filter(|(_, u)| *u == t)
            .map(|(i, _)| i.clone())
            .collect()
    }

    /// Which thread serves the interface.
    pub fn thread_of(&self, ifp: &Ifnet) -> Option<usize> {
        self.lock()
            .iter()
            .find(|(i, _)| std::ptr::eq(Arc::as_ptr(i), ifp))
            .map(|(_, t)| *t)
    }
}

/// Starts `n` receive threads over the interfaces that have drivers; interfaces
/// attached later join them through `Stack::rx`.
pub fn start(stack: &Arc<Stack>, ifs: Vec<Arc<Ifnet>>, n: usize) -> std::io::Result<Vec<JoinHandle<()>>> {
    let n = n.max(1);
    let with_prio = ifs.iter().filter(|i| i.priority.is_some()).count();
    if with_prio > 0 && n < ifs.len() {
        crate::klog!(
            "warning: per-interface priorities need a receive thread per interface ({} interfaces, {} threads); ignored",
            ifs.len(),
            n
        );
    }
    let per_if_prio = with_prio > 0 && n >= ifs.len();
    stack.rx.threads.store(n, Ordering::Release);
    let mut prios = vec![stack.config.rx_prio; n];
    for (i, ifp) in ifs.into_iter().enumerate() {
        if per_if_prio {
            prios[i % n] = ifp.priority.or(stack.config.rx_prio);
        }
        stack.rx.add(ifp);
    }
    let mut handles = Vec::new();
    for (t, prio) in prios.into_iter().enumerate() {
        let stack = stack.clone();
        let h = std::thread::Builder::new().name(format!("rx{t}")).spawn(move || {
            if let Some(p) = prio {
                set_priority(p, "receive thread");
            }
            rx_loop(&stack, t)
        })?;
        handles.push(h);
    }
    Ok(handles)
}

fn rx_loop(stack: &Stack, t: usize) {
    let mut gen = u64::MAX;
    let mut share: Vec<Arc<Ifnet>> = Vec::new();
    while !stack.shutting_down() {
        let g = stack.rx.gen.load(Ordering::Acquire);
        if g != gen {
            gen = g;
            share = stack
                .rx
                .share(t)
                .into_iter()
                .filter(|i| i.driver.get().is_some())
                .collect();
        }
        if share.is_empty() {
            stack.rx.wait_change(gen);
            continue;
        }
        let fds: Vec<BorrowedFd<'_>> = share
            .iter()
            .filter_map(|i| i.driver.get())
            // SAFETY: the descriptor belongs to a driver that `share` keeps open.
            .map(|d| unsafe { BorrowedFd::borrow_raw(d.raw_fd()) })
            .collect();
        let mut pfds: Vec<PollFd<'_>> = fds.iter().map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN)).collect();
        match poll(&mut pfds, PollTimeout::from(200u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                crate::klog!("receive thread: poll: {}", e.desc());
                return;
            }
        }
        let ready: Vec<bool> = pfds
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        for (ifp, ready) in share.iter().zip(ready) {
            if !ready {
                continue;
            }
            let (Some(d), Some(input)) = (ifp.driver.get(), ifp.if_input) else {
                continue;
            };
            let mut meta = FrameMeta::PLAIN;
            for _ in 0..BATCH {
                let mut m = Mbuf::for_rx();
                match d.recv_meta(m.rx_space(), &mut meta) {
                    Ok(Recv::Frame(n)) => {
                        m.set_len(n);
                        m.set_meta(meta);
                        m.rcvif = ifp.index;
                        input(stack, ifp, m);
                    }
                    Ok(Recv::WouldBlock) => break,
                    // A frame whose offload metadata makes no sense: counted, dropped.
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => inc(&ifp.stats.ierrors),
                    Err(_) => {
                        inc(&ifp.stats.ierrors);
                        break;
                    }
                }
            }
        }
    }
}
