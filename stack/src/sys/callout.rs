//! Callouts: the protocols' timed work from one timer thread, which runs the timers the
//! stack's domains registered (`Timer`, in each `Protosw`). TCP's timers live in a
//! hierarchical timing wheel of 10 ms ticks (the resolution of tail loss probes; `Wheel`
//! below): arming one is O(1), and the thread sleeps until the wheel's next entry, so an
//! idle connection costs nothing per tick however many there are. ARP expiry and
//! retries and reassembly timeouts run in NetBSD's slow-timeout rhythm of twice a second,
//! so an idle stack wakes twice a second, not a hundred times; a deadline earlier than the
//! planned wake-up (or shutdown) wakes the thread at once.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::conf::Ctx;
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

/// The callout wheel's tick.
pub const TICK: Duration = Duration::from_millis(10);

/// A protocol's timed work, registered in its `Protosw` (NetBSD's `pr_slowtimo` and
/// `pr_fasttimo`, and callouts a protocol keeps in a wheel of its own).
pub struct Timer {
    pub name: &'static str,
    /// How often `run` is due; `None`: every time the callout thread wakes, for a timer
    /// that says itself (by what `run` returns) when it next has work.
    pub period: Option<Duration>,
    /// Does the work due now. Returns when the timer next has work before its period is
    /// over, if it knows.
    pub run: fn(&mut Ctx) -> Option<Instant>,
    /// Told when the thread plans to wake next, so that work armed for earlier can kick it.
    pub planned: Option<fn(&mut Ctx, Instant)>,
}

/// The slow timeout: what `Timer::period` says for NetBSD's `pr_slowtimo`.
pub const SLOW: Duration = Duration::from_millis(1000 / SLOWHZ as u64);

/// The callout thread's schedule of registered timers: when each periodic one is next due.
pub struct Callouts {
    timers: Vec<(&'static Timer, Option<Instant>)>,
}

impl Callouts {
    /// Periodic timers are first due one period after `now`.
    pub fn new(timers: &[&'static Timer], now: Instant) -> Callouts {
        Callouts {
            timers: timers.iter().map(|t| (*t, t.period.map(|p| now + p))).collect(),
        }
    }

    /// Runs every timer that is due at `now` and returns when the thread must next wake
    /// (at the latest `IDLE` from now), having told the timers that want to know.
    pub fn run(&mut self, ctx: &mut Ctx, now: Instant) -> Instant {
        let mut wake: Option<Instant> = None;
        let earliest = |w: &mut Option<Instant>, t: Instant| *w = Some(w.map_or(t, |x| x.min(t)));
        for (t, next) in &mut self.timers {
            if next.is_none_or(|at| now >= at) {
                if let Some(at) = (t.run)(ctx) {
                    earliest(&mut wake, at);
                }
                if let (Some(at), Some(p)) = (next.as_mut(), t.period) {
                    // Keep the rhythm; after a long stall, start again from now.
                    *at += p;
                    if *at <= now {
                        *at = now + p;
                    }
                }
            }
            if let Some(at) = *next {
                earliest(&mut wake, at);
            }
        }
        let wake = wake.map_or(now + IDLE, |w| w.min(now + IDLE));
        for (t, _) in &self.timers {
            if let Some(f) = t.planned {
                f(ctx, wake);
            }
        }
        wake
    }
}

/// The longest the callout thread sleeps.
const IDLE: Duration = Duration::from_secs(1);

/// Starts the timer thread, which runs the stack's registered timers; it ends when the
/// stack shuts down.
pub fn start(stack: &Arc<Stack>) -> std::io::Result<JoinHandle<()>> {
    let stack = stack.clone();
    std::thread::Builder::new().name("callout".into()).spawn(move || {
        let mut callouts = Callouts::new(&stack.registry.timers, Instant::now());
        while !stack.shutting_down() {
            let wake = {
                let mut ctx = stack.ctx();
                callouts.run(&mut ctx, Instant::now())
            };
            stack.callout.sleep(wake.saturating_duration_since(Instant::now()));
        }
    })
}

/// Bits of a tick count each level of the wheel covers.
const WHEEL_BITS: u32 = 6;
const WHEEL_SLOTS: usize = 1 << WHEEL_BITS;
/// Levels: 64^7 ticks of 10 ms is longer than any timer.
const WHEEL_LEVELS: usize = 7;

/// A hierarchical timing wheel of callouts (as NetBSD's callout(9) wheel and Varghese and
/// Lauck's scheme): level 0 holds what is due within the current 64 ticks, one slot a
/// tick; each level above covers 64 times the span of the one below, and its slots are
/// moved down ("cascaded") when the current time enters them. Arming is O(1), a tick
/// costs only the entries that are due or move down, and an entry far off (a keepalive
/// two hours away) is looked at a handful of times in all, so idle state costs nothing
/// per tick.
///
/// An entry is an id and the tick it is for. The wheel does not cancel: an owner whose
/// deadline moved checks, when the entry comes due, whether it is still the one it
/// wants (see `tcp_sched`), so re-arming is an insert and a stale entry is dropped when it
/// comes up.
pub struct Wheel {
    start: Instant,
    tick: Duration,
    /// The last tick processed.
    now: u64,
    slots: Vec<Vec<(u64, u64)>>,
    /// Entries that were already due when inserted or cascaded.
    due: Vec<(u64, u64)>,
    len: usize,
    /// The tick the callout thread sleeps until; an earlier insert must wake it.
    pub planned: u64,
}

impl std::fmt::Debug for Wheel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wheel({} entries at tick {})", self.len, self.now)
    }
}

impl Wheel {
    pub fn new(tick: Duration) -> Wheel {
        Wheel {
            start: Instant::now(),
            tick,
            now: 0,
            slots: vec![Vec::new(); WHEEL_SLOTS * WHEEL_LEVELS],
            due: Vec::new(),
            len: 0,
            planned: u64::MAX,
        }
    }

    /// Entries held (stale ones included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first tick at or after `t`.
    pub fn tick_of(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.start).as_nanos();
        let n = self.tick.as_nanos().max(1);
        d.div_ceil(n).min(u128::from(u64::MAX / 2)) as u64
    }

    /// When tick `n` begins.
    pub fn instant_of(&self, n: u64) -> Instant {
        let nanos = u128::from(n) * self.tick.as_nanos();
        self.start + Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
    }

    /// The tick the wheel has processed up to.
    pub fn current(&self) -> u64 {
        self.now
    }

    /// Files `id` for tick `at`.
    pub fn insert(&mut self, id: u64, at: u64) {
        self.len += 1;
        self.place(id, at);
    }

    fn place(&mut self, id: u64, at: u64) {
        if at <= self.now {
            self.due.push((id, at));
            return;
        }
        let x = at ^ self.now;
        let level = ((63 - x.leading_zeros()) / WHEEL_BITS) as usize;
        let level = level.min(WHEEL_LEVELS - 1);
        let slot = ((at >> (WHEEL_BITS * level as u32)) as usize) & (WHEEL_SLOTS - 1);
        self.slots[level * WHEEL_SLOTS + slot].push((id, at));
    }

    /// Advances to `now` and returns every entry that came due, each with its tick.
    pub fn expire(&mut self, now: Instant) -> Vec<(u64, u64)> {
        let d = now.saturating_duration_since(self.start).as_nanos();
        let target = (d / self.tick.as_nanos().max(1)).min(u128::from(u64::MAX / 2)) as u64;
        let mut out = std::mem::take(&mut self.due);
        while self.now < target {
            if self.len == out.len() {
                // Nothing left in the wheel: jump.
                self.now = target;
                break;
            }
            self.now += 1;
            for level in (1..WHEEL_LEVELS).rev() {
                let shift = WHEEL_BITS * level as u32;
                if self.now & ((1u64 << shift) - 1) != 0 {
                    continue;
                }
                let slot = ((self.now >> shift) as usize) & (WHEEL_SLOTS - 1);
                for (id, at) in std::mem::take(&mut self.slots[level * WHEEL_SLOTS + slot]) {
                    self.place(id, at);
                }
                out.append(&mut self.due);
            }
            let slot = (self.now as usize) & (WHEEL_SLOTS - 1);
            out.append(&mut self.slots[slot]);
        }
        self.len -= out.len();
        out
    }

    /// The next tick at which `expire` has work (an entry due, or a slot to move down), if
    /// any.
    pub fn next_work(&self) -> Option<u64> {
        if !self.due.is_empty() {
            return Some(self.now);
        }
        for level in 0..WHEEL_LEVELS {
            let shift = WHEEL_BITS * level as u32;
            let digit = ((self.now >> shift) as usize) & (WHEEL_SLOTS - 1);
            for s in digit + 1..WHEEL_SLOTS {
                if !self.slots[level * WHEEL_SLOTS + s].is_empty() {
                    let above = (self.now >> shift >> WHEEL_BITS) << WHEEL_BITS;
                    return Some((above | s as u64) << shift);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);
    static FAST_RUNS: AtomicUsize = AtomicUsize::new(0);

    static SLOW_T: Timer = Timer {
        name: "test-slow",
        period: Some(Duration::from_secs(1)),
        run: |c| {
            SLOW_RUNS.fetch_add(1, Ordering::SeqCst);
            c.inet.stat.fragtimeout += 1;
            None
        },
        planned: None,
    };
    static FAST_T: Timer = Timer {
        name: "test-fast",
        period: None,
        run: |_| {
            FAST_RUNS.fetch_add(1, Ordering::SeqCst);
            None
        },
        planned: None,
    };

    #[test]
    fn registered_timers_run_when_due() {
        let s = Stack::detached();
        let mut c = s.ctx();
        let t0 = Instant::now();
        let mut co = Callouts::new(&[&SLOW_T, &FAST_T], t0);
        // Not yet due: only the every-wake-up timer runs; the thread is told to wake at the
        // periodic one's first deadline.
        assert_eq!(co.run(&mut c, t0), t0 + Duration::from_secs(1));
        assert_eq!(
            (SLOW_RUNS.load(Ordering::SeqCst), FAST_RUNS.load(Ordering::SeqCst)),
            (0, 1)
        );
        assert_eq!(
            co.run(&mut c, t0 + Duration::from_millis(1000)),
            t0 + Duration::from_secs(2)
        );
        assert_eq!(SLOW_RUNS.load(Ordering::SeqCst), 1);
        assert_eq!(c.inet.stat.fragtimeout, 1, "it ran on the stack context");
        // A long stall: one run, then the rhythm starts again from then.
        let late = t0 + Duration::from_secs(10);
        assert_eq!(co.run(&mut c, late), late + Duration::from_secs(1));
        assert_eq!(SLOW_RUNS.load(Ordering::SeqCst), 2);
        assert_eq!(FAST_RUNS.load(Ordering::SeqCst), 3);
        // With nothing periodic and nothing known, the thread still looks again in a while.
        assert_eq!(Callouts::new(&[&FAST_T], t0).run(&mut c, t0), t0 + IDLE);
    }

    #[test]
    fn the_stack_registers_tcp_arp_and_reassembly_timers() {
        let s = Stack::detached();
        let names: Vec<&str> = s.registry.timers.iter().map(|t| t.name).collect();
        for want in ["tcp", "arp", "ip_reass"] {
            assert!(names.contains(&want), "{want} in {names:?}");
        }
        // The TCP wheel learns when the thread wakes, so an earlier deadline kicks it.
        let mut c = s.ctx();
        let now = Instant::now();
        let mut co = Callouts::new(&s.registry.timers, now);
        let wake = co.run(&mut c, now);
        assert!(wake <= now + SLOW);
        assert_eq!(c.inet.tcp.wheel.planned, c.inet.tcp.wheel.tick_of(wake));
    }

    /// A wheel whose clock the test drives, in ticks.
    fn run_to(w: &mut Wheel, tick: u64) -> Vec<(u64, u64)> {
        let t = w.instant_of(tick);
        w.expire(t)
    }

    #[test]
    fn entries_fire_at_their_tick_on_every_level() {
        let mut w = Wheel::new(Duration::from_millis(10));
        let ats = [
            1u64, 2, 63, 64, 65, 100, 4095, 4096, 4097, 300_000, 2_000_000, 70_000_000,
        ];
        for (i, at) in ats.iter().enumerate() {
            w.insert(i as u64, *at);
        }
        let mut fired = Vec::new();
        let mut wakes = 0;
        // Jump from one next_work to the next, as the callout thread does.
        while let Some(n) = w.next_work() {
            wakes += 1;
            for (id, at) in run_to(&mut w, n) {
                assert_eq!(at, n, "entry {id} fired at its own tick");
                fired.push(at);
            }
        }
        assert_eq!(fired, ats.to_vec());
        assert!(w.is_empty());
        // Far entries cost a few wake-ups each, not one per tick.
        assert!(wakes < 100, "{wakes} wake-ups");
    }

    #[test]
    fn late_expiry_catches_up_and_past_entries_fire_at_once() {
        let mut w = Wheel::new(Duration::from_millis(10));
        for at in [5u64, 70, 5000] {
            w.insert(at, at);
        }
        let got: Vec<u64> = run_to(&mut w, 6000).into_iter().map(|e| e.0).collect();
        assert_eq!(got, vec![5, 70, 5000]);
        w.insert(9, 10);
        assert_eq!(w.next_work(), Some(6000));
        assert_eq!(run_to(&mut w, 6000), vec![(9, 10)]);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn a_random_schedule_fires_each_entry_once_in_order() {
        let mut w = Wheel::new(Duration::from_millis(10));
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut want = Vec::new();
        let mut now = 0u64;
        let mut got = Vec::new();
        for id in 0..5000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = now + 1 + x % 100_000;
            w.insert(id, at);
            want.push((at, id));
            if id % 7 == 0 {
                now += x % 300;
                for (i, a) in run_to(&mut w, now) {
                    assert!(a <= now);
                    got.push((a, i));
                }
            }
        }
        for (i, a) in run_to(&mut w, 1_000_000) {
            got.push((a, i));
        }
        got.sort();
        want.sort();
        assert_eq!(got.len(), want.len(), "every entry fired once");
        let first = got.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(first, None, "the first difference");
    }
}
