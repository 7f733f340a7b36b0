//! The stack's log: what NetBSD's kernel would `log()`. Lines go to standard error, which a
//! stack running in the background has pointed at `<prefix>/var/log/io-pkt.log`.
//!
//! Lines that the network can cause (a forged ARP, say) are written through
//! [`klog_net!`], which lets at most one line a [`NET_LOG_INTERVAL`] through from each
//! place in the code ([`ratecheck`], as NetBSD's ratecheck(9)) and counts the rest; the
//! next line that goes out from that place says how many were suppressed. A flood of
//! such packets costs a counter, not a write to standard error under the stack context.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Writes one log line, prefixed like the kernel's messages are by syslog.
pub fn log(args: std::fmt::Arguments<'_>) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "io-pkt: {args}");
}

/// `klog!("fmt", args...)`: one line in the stack's log.
#[macro_export]
macro_rules! klog {
    ($($t:tt)*) => { $crate::sys::log::log(format_args!($($t)*)) };
}

/// NetBSD's ratecheck(9): true, and `last` becomes now, when at least `min` has passed
/// since `last` (or nothing happened yet); false otherwise.
pub fn ratecheck(last: &mut Option<Instant>, min: Duration) -> bool {
    let now = Instant::now();
    match *last {
        Some(t) if now.saturating_duration_since(t) < min => false,
        _ => {
            *last = Some(now);
            true
        }
    }
}

/// The interval between two lines from one place that network input causes.
pub const NET_LOG_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Site {
    last: Option<Instant>,
    /// Lines suppressed since the last one written.
    pending: u64,
    written: u64,
}

/// The rate limit of the log lines that network input causes, per place in the code.
#[derive(Debug)]
pub struct NetLog {
    pub interval: Duration,
    sites: HashMap<&'static str, Site>,
    /// Lines suppressed, all places together.
    pub suppressed: u64,
}

impl Default for NetLog {
    fn default() -> Self {
        NetLog {
            interval: NET_LOG_INTERVAL,
            sites: HashMap::new(),
            suppressed: 0,
        }
    }
}

impl NetLog {
    /// Whether a line from `site` may be written now: Some(lines suppressed since the last
    /// one from there), or None (counted as suppressed).
    pub fn check(&mut self, site: &'static str) -> Option<u64> {
        let s = self.sites.entry(site).or_default();
        if ratecheck(&mut s.last, self.interval) {
            s.written += 1;
            Some(std::mem::take(&mut s.pending))
        } else {
            s.pending += 1;
            self.suppressed += 1;
            None
        }
    }

    /// Lines written from `site` so far.
    pub fn written(&self, site: &str) -> u64 {
        self.sites.get(site).map_or(0, |s| s.written)
    }

    /// Lines written from every place so far.
    pub fn written_total(&self) -> u64 {
        self.sites.values().map(|s| s.written).sum()
    }
}

/// Writes a line let through by the limit, saying how many before it were not.
pub fn log_net(args: std::fmt::Arguments<'_>, suppressed: u64) {
    if suppressed == 0 {
        log(args);
    } else {
        log(format_args!("{args} ({suppressed} similar lines suppressed)"));
    }
}

/// `klog_net!(ctx.netlog, "fmt", args...)`: a log line that network input causes, rate
/// limited per call site (see the module's comment).
#[macro_export]
macro_rules! klog_net {
    ($netlog:expr, $($t:tt)*) => {
        if let Some(n) = $netlog.check(concat!(file!(), ":", line!())) {
            $crate::sys::log::log_net(format_args!($($t)*), n)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratecheck_lets_one_event_through_per_interval() {
        let mut last = None;
        assert!(ratecheck(&mut last, Duration::from_secs(3600)), "the first passes");
        let first = last;
        for _ in 0..1000 {
            assert!(!ratecheck(&mut last, Duration::from_secs(3600)));
        }
        assert_eq!(last, first, "a refused check does not move the window");
        // Once the interval has passed (here: a window that started long ago) it passes.
        let mut old = Instant::now().checked_sub(Duration::from_secs(2));
        assert!(old.is_some());
        assert!(ratecheck(&mut old, Duration::from_secs(1)));
        assert!(!ratecheck(&mut old, Duration::from_secs(1)));
        // A zero interval never refuses.
        let mut z = None;
        assert!((0..10).all(|_| ratecheck(&mut z, Duration::ZERO)));
    }

    #[test]
    fn the_net_log_counts_what_it_suppresses_per_site() {
        let mut n = NetLog {
            interval: Duration::from_secs(3600),
            ..NetLog::default()
        };
        assert_eq!(n.check("a"), Some(0));
        assert_eq!(n.check("a"), None);
        assert_eq!(n.check("a"), None);
        // Another place has its own window.
        assert_eq!(n.check("b"), Some(0));
        assert_eq!((n.written("a"), n.written("b"), n.suppressed), (1, 1, 2));
        // When the window opens again, the line says how many were left out.
        n.interval = Duration::ZERO;
        assert_eq!(n.check("a"), Some(2));
        assert_eq!(n.check("a"), Some(0));
        assert_eq!(n.written_total(), 4);
    }
}
