//! Callouts: the protocols' periodic work from one timer thread: TCP's timers every tick
//! (10 ms, the resolution of tail loss probes; each timer is a deadline, so a tick only
//! looks for what is due), and ARP expiry and retries and reassembly timeouts in NetBSD's
//! slow-timeout rhythm of twice a second. With no TCP connection the thread sleeps until
//! the next slow timeout, so an idle stack wakes twice a second, not a hundred times; a
//! new connection (or shutdown) wakes it at once.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sys::Stack;

/// How the callout thread is woken before its sleep is over.
#[derive(Default)]
pub struct Kick {
    kicked: Mutex<bool>,
    cv: Condvar,
}

impl Kick {
    /// Wakes the callout thread (a connection appeared, or the stack is stopping).
    pub fn kick(&self) {
        *self.kicked.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_one();
    }

    /// Sleeps for `d` or until kicked.
    fn sleep(&self, d: Duration) {
        let mut k = self.kicked.lock().unwrap_or_else(|p| p.into_inner());
        if !*k {
            k = self.cv.wait_timeout(k, d).unwrap_or_else(|p| p.into_inner()).0;
        }
        *k = false;
    }
}

/// PR_SLOWHZ: slow timeouts per second.
pub const SLOWHZ: u32 = 2;

/// Starts the timer thread; it ends when the stack shuts down.
pub fn start(stack: &Arc<Stack>) -> std::io::Result<JoinHandle<()>> {
    let stack = stack.clone();
    std::thread::Builder::new().name("callout".into()).spawn(move || {
        let tick = Duration::from_millis(10);
        let slow = Duration::from_millis(1000 / u64::from(SLOWHZ));
        let mut next_slow = Instant::now() + slow;
        while !stack.shutting_down() {
            let busy = {
                let mut ctx = stack.ctx();
                crate::inet::tcp::timer::tcp_timers(&mut ctx);
                if Instant::now() >= next_slow {
                    crate::net::arp::arp_timer(&mut ctx);
                    crate::inet::reass::reass_timer(&mut ctx);
                    next_slow += slow;
                }
                !ctx.inet.tcp.tcbs.is_empty()
            };
            let now = Instant::now();
            let until_slow = next_slow.saturating_duration_since(now);
            stack
                .callout
                .sleep(if busy { tick.min(until_slow) } else { until_slow });
        }
    })
}
