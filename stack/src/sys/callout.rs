//! Callouts: the protocols' periodic work from one timer thread: TCP's timers every tick
//! (10 ms, the resolution of tail loss probes; each timer is a deadline, so a tick only
//! looks for what is due), and ARP expiry and retries and reassembly timeouts in NetBSD's
//! slow-timeout rhythm of twice a second.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sys::Stack;

/// PR_SLOWHZ: slow timeouts per second.
pub const SLOWHZ: u32 = 2;

/// Starts the timer thread; it ends when the stack shuts down.
pub fn start(stack: &Arc<Stack>) -> std::io::Result<JoinHandle<()>> {
    let stack = stack.clone();
    std::thread::Builder::new().name("callout".into()).spawn(move || {
        let tick = Duration::from_millis(10);
        let slow_every = 100 / SLOWHZ;
        let mut n = 0u32;
        while !stack.shutting_down() {
            std::thread::sleep(tick);
            let mut ctx = stack.ctx();
            crate::inet::tcp::timer::tcp_timers(&mut ctx);
            n += 1;
            if n.is_multiple_of(slow_every) {
                crate::net::arp::arp_timer(&mut ctx);
                crate::inet::reass::reass_timer(&mut ctx);
            }
        }
    })
}
