//! Congestion control: NewReno (RFC 5681, RFC 6582) and CUBIC (RFC 9438, the default),
//! chosen by net.inet.tcp.congctl.selected. Loss recovery (fast retransmit, NewReno's
//! partial ACKs) is in `input`; this module decides how the window grows and how far it
//! falls.

use std::time::{Duration, Instant};

use crate::msg::SysctlValue;
use crate::sys::sysctl::{Kind, Node};

/// The algorithms this build has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    NewReno,
    Cubic,
}

impl Algo {
    /// The names of every algorithm this build has, as sysctl shows and takes them.
    pub const NAMES: &'static [&'static str] = &["newreno", "cubic"];

    pub fn name(self) -> &'static str {
        match self {
            Algo::NewReno => "newreno",
            Algo::Cubic => "cubic",
        }
    }

    pub fn from_name(s: &str) -> Option<Algo> {
        match s {
            "newreno" | "reno" => Some(Algo::NewReno),
            "cubic" => Some(Algo::Cubic),
            _ => None,
        }
    }
}

/// The choice of algorithm, registered with the tcp protocol.
pub static SYSCTL: &[Node] = &[
    Node {
        name: "net.inet.tcp.congctl.available",
        desc: "Available congestion control algorithms",
        kind: Kind::Str { max: 0 },
        get: |_| SysctlValue::Str(Algo::NAMES.join(" ")),
        set: None,
    },
    Node {
        name: "net.inet.tcp.congctl.selected",
        desc: "Congestion control algorithm of new connections",
        kind: Kind::Choice(Algo::NAMES),
        get: |c| SysctlValue::Str(c.inet.tcp.congctl.name().into()),
        set: Some(|c, v| {
            if let SysctlValue::Str(s) = v {
                if let Some(a) = Algo::from_name(s) {
                    c.inet.tcp.congctl = a;
                }
            }
        }),
    },
];

/// CUBIC's constants (RFC 9438 4.1, 4.6).
const C: f64 = 0.4;
const BETA: f64 = 0.7;

/// Per-connection congestion-control state.
#[derive(Debug, Clone, Copy)]
pub struct Cc {
    pub algo: Algo,
    /// CUBIC: window before the last reduction, in segments.
    w_max: f64,
    /// CUBIC: the window at the start of this epoch, in segments.
    cwnd_epoch: f64,
    /// CUBIC: time to climb back to w_max, in seconds.
    k: f64,
    epoch_start: Option<Instant>,
    /// CUBIC: the Reno-friendly estimate, in segments.
    w_est: f64,
}

impl Cc {
    pub fn new(algo: Algo) -> Cc {
        Cc {
            algo,
            w_max: 0.0,
            cwnd_epoch: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
        }
    }

    /// The window grows: `acked` new bytes acknowledged outside recovery.
    /// Returns the new cwnd.
    pub fn on_ack(&mut self, cwnd: u32, ssthresh: u32, acked: u32, mss: u32, srtt: Duration, now: Instant) -> u32 {
        if cwnd < ssthresh {
            // Slow start (RFC 5681 3.1), at most one segment per ACK.
            return cwnd.saturating_add(acked.min(mss));
        }
        match self.algo {
            Algo::NewReno => cwnd.saturating_add((mss * mss / cwnd.max(1)).max(1)),
            Algo::Cubic => self.cubic_ack(cwnd, acked, mss, srtt, now),
        }
    }

    fn cubic_ack(&mut self, cwnd: u32, acked: u32, mss: u32, srtt: Duration, now: Instant) -> u32 {
        let mssf = f64::from(mss.max(1));
        let cw = f64::from(cwnd) / mssf;
        let start = match self.epoch_start {
            Some(s) => s,
            None => {
                // A new epoch (RFC 9438 4.2): K from how far below w_max we are.
                self.epoch_start = Some(now);
                self.cwnd_epoch = cw;
                self.w_est = cw;
                self.k = if self.w_max > cw {
                    ((self.w_max - cw) / C).cbrt()
                } else {
                    0.0
                };
                if self.w_max < cw {
                    self.w_max = cw;
                }
                now
            }
        };
        let t = now.duration_since(start).as_secs_f64() + srtt.as_secs_f64();
        let target = (C * (t - self.k).powi(3) + self.w_max).clamp(cw, 1.5 * cw);
        // The Reno-friendly region (RFC 9438 4.3).
        let alpha = 3.0 * (1.0 - BETA) / (1.0 + BETA);
        self.w_est += alpha * (f64::from(acked) / mssf) / cw.max(1.0);
        let next = if target < self.w_est {
            self.w_est
        } else {
            cw + (target - cw) / cw.max(1.0) * (f64::from(acked) / mssf)
        };
        let bytes = (next * mssf) as u64;
        bytes.clamp(u64::from(cwnd), u64::from(u32::MAX)) as u32
    }

    /// A congestion event (fast retransmit or timeout): the new ssthresh.
    pub fn on_loss(&mut self, cwnd: u32, flight: u32, mss: u32) -> u32 {
        match self.algo {
            Algo::NewReno => (flight / 2).max(2 * mss),
            Algo::Cubic => {
                let mssf = f64::from(mss.max(1));
                let cw = f64::from(cwnd) / mssf;
                // Fast convergence (RFC 9438 4.7).
                self.w_max = if cw < self.w_max { cw * (1.0 + BETA) / 2.0 } else { cw };
                self.epoch_start = None;
                ((f64::from(cwnd) * BETA) as u32).max(2 * mss)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sysctl_choice_is_every_algorithm() {
        for n in Algo::NAMES {
            assert_eq!(Algo::from_name(n).map(Algo::name), Some(*n));
        }
        for a in [Algo::NewReno, Algo::Cubic] {
            assert!(Algo::NAMES.contains(&a.name()));
        }
    }

    #[test]
    fn cubic_backs_off_less_and_climbs_back() {
        let mss = 1000;
        let mut c = Cc::new(Algo::Cubic);
        let ss = c.on_loss(100_000, 100_000, mss);
        assert_eq!(ss, 70_000, "beta 0.7");
        let mut r = Cc::new(Algo::NewReno);
        assert_eq!(r.on_loss(100_000, 100_000, mss), 50_000);
        // In congestion avoidance the window grows back towards w_max over time.
        let t0 = Instant::now();
        let mut cwnd = ss;
        for i in 0..2000u64 {
            let now = t0 + Duration::from_millis(i * 5);
            cwnd = c.on_ack(cwnd, ss, mss, mss, Duration::from_millis(10), now);
        }
        assert!(cwnd > 90_000, "CUBIC climbs back: {cwnd}");
        // Slow start below ssthresh.
        assert_eq!(
            c.on_ack(10_000, 70_000, 3000, mss, Duration::from_millis(10), t0),
            11_000
        );
    }
}
