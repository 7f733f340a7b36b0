//! A coarse clock for the per-packet paths (NetBSD reads `time_uptime` there, a value the
//! clock interrupt keeps, rather than the hardware clock).
//!
//! `Instant::now()` reads the hardware clock; under a hypervisor that costs 20-30 ns, as
//! much as the rest of an ARP lookup. [`now`] reads `CLOCK_MONOTONIC_COARSE` instead (the
//! time of the last clock tick, a few ms at most behind) and turns it into an `Instant`
//! through a pair of readings of both clocks taken once per thread. The result is within
//! one tick of `Instant::now()`, either way: good for lifetimes of seconds and minutes
//! (ARP entries, their eviction order), not for measuring anything short.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    /// `Instant::now()` and the coarse clock, read together once.
    static BASE: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// The coarse monotonic clock (same epoch as `Instant` on Linux).
#[cfg(target_os = "linux")]
fn coarse() -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to write.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (r == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(not(target_os = "linux"))]
fn coarse() -> Option<Duration> {
    None
}

/// Now, to within a clock tick (see the module's text).
#[inline]
pub fn now() -> Instant {
    let Some(c) = coarse() else {
        return Instant::now();
    };
    let (i0, c0) = BASE.with(|b| match b.get() {
        Some(base) => base,
        None => {
            let base = (Instant::now(), c);
            b.set(Some(base));
            base
        }
    });
    // The coarse clock never goes back, so `c >= c0`.
    i0 + c.saturating_sub(c0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_now_is_within_a_tick_of_instant_now() {
        for _ in 0..1000 {
            let a = Instant::now();
            let c = now();
            let b = Instant::now();
            // A tick is at most 10 ms (HZ=100); allow twice that.
            let slack = Duration::from_millis(20);
            assert!(c + slack >= a, "coarse {c:?} far behind {a:?}");
            assert!(c <= b + slack, "coarse {c:?} far ahead of {b:?}");
        }
        let first = now();
        std::thread::sleep(Duration::from_millis(50));
        assert!(now() > first, "the coarse clock moved on");
    }
}
