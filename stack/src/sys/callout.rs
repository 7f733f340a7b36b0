//! Callouts: the protocols' periodic work (ARP expiry and retries, reassembly timeouts)
//! from one timer thread, in NetBSD's slow-timeout rhythm of twice a second.

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
        let tick = Duration::from_millis(1000 / u64::from(SLOWHZ));
        while !stack.shutting_down() {
            std::thread::sleep(tick);
            let mut ctx = stack.ctx();
            crate::net::arp::arp_timer(&mut ctx);
            crate::inet::reass::reass_timer(&mut ctx);
        }
    })
}
