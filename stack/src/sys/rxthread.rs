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

/// Starts `n` receive threads over the interfaces that have drivers.
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
    let mut shares: Vec<Vec<Arc<Ifnet>>> = vec![Vec::new(); n.min(ifs.len().max(1))];
    let len = shares.len();
    for (i, ifp) in ifs.into_iter().enumerate() {
        shares[i % len].push(ifp);
    }
    let mut handles = Vec::new();
    for (t, share) in shares.into_iter().enumerate() {
        if share.is_empty() {
            continue;
        }
        let stack = stack.clone();
        let prio = if per_if_prio {
            share[0].priority.or(stack.config.rx_prio)
        } else {
            stack.config.rx_prio
        };
        let h = std::thread::Builder::new().name(format!("rx{t}")).spawn(move || {
            if let Some(p) = prio {
                set_priority(p, "receive thread");
            }
            rx_loop(&stack, &share)
        })?;
        handles.push(h);
    }
    Ok(handles)
}

fn rx_loop(stack: &Stack, ifs: &[Arc<Ifnet>]) {
    let fds: Vec<BorrowedFd<'_>> = ifs
        .iter()
        .filter_map(|i| i.driver.as_ref())
        // SAFETY: the descriptor belongs to a driver that this thread's Arc keeps open.
        .map(|d| unsafe { BorrowedFd::borrow_raw(d.raw_fd()) })
        .collect();
    while !stack.shutting_down() {
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
        for (ifp, ready) in ifs.iter().zip(ready) {
            if !ready {
                continue;
            }
            let (Some(d), Some(input)) = (ifp.driver.as_ref(), ifp.if_input) else {
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
