//! Link impairments, as Linux's netem would make them (this kernel has no netem): a wrapper
//! around any driver that loses, duplicates, reorders, delays and rate-limits frames, in each
//! direction independently (frames the stack sends, and frames the driver receives).
//!
//! `open()` inserts it when any of these options is given. Each applies to every frame, in
//! each direction:
//!
//! - `loss=PCT`: the frame is dropped with probability PCT percent (counted; a lost frame
//!   sent is not an error to the stack, as a wire's loss is not).
//! - `dup=PCT`: with probability PCT a second copy follows the frame; the copy is delayed,
//!   reordered and rate-limited on its own.
//! - `delay=MS`: the frame is held for MS milliseconds.
//! - `jitter=MS`: the delay is uniform in delay-jitter..delay+jitter, never below 0. Frames
//!   leave in the order of their due times, so jitter larger than the gap between frames
//!   reorders them, as netem's does.
//! - `reorder=PCT`: with `delay=`, the frame skips the delay with probability PCT and goes at
//!   once, ahead of the frames still held (netem's reorder). Without `delay=`, the frame is
//!   held back for [`REORDER_HOLD_MS`] (10 ms) with probability PCT, and the frames sent
//!   meanwhile overtake it; the others go at once.
//! - `rate=MBIT`: a token bucket of MBIT megabits per second over frame bytes, after the
//!   delay, as deep as two full-size frames or 1 ms of traffic, whichever is more. Frames
//!   beyond it wait in a queue of [`RATE_QUEUE`] frames, and are dropped when it is full.
//! - `seed=N`: seeds the random choices (default: from the time and the pid). `ifconfig -v`
//!   shows the seed in use, so a run can be replayed with `seed=`.
//!
//! PCT is 0-100 and may be fractional (`loss=0.5`, `loss=0.5%`); MS is 0-60000 and may be
//! fractional (`delay=2.5`, `delay=20ms`); MBIT is above 0 and at most 100000 (`rate=10`,
//! `rate=10mbit`). The choices for one frame are made in this order, each from the
//! direction's own random stream: loss, dup, then for each copy reorder and jitter. The
//! same seed with the same options and the same frames makes the same choices.
//!
//! Frames held for later are bounded per direction ([`MAX_HELD_FRAMES`] frames and
//! [`MAX_HELD_BYTES`] bytes); beyond that they are dropped and counted as overflowed (a
//! send that overflows returns ENOBUFS so the stack counts an output error, as a full
//! interface queue does).
//!
//! Sending: loss and dup are decided in `send()`; a frame that need not wait goes to the
//! inner driver at once, on the caller's thread. Held frames are sent by one background
//! thread per interface that sleeps until the next one is due, and stops when the driver is
//! dropped.
//!
//! Receiving: `raw_fd()` is an epoll descriptor holding the inner driver's descriptor and a
//! timerfd armed for the next held frame, so receive threads that poll it wake both for new
//! frames and for held ones that have come due. `recv()` hands out due held frames first,
//! then reads the inner driver.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::opts::{parse_num, unknown, SubOpt};
use crate::{Driver, Recv};

/// The option names this wrapper takes.
pub const OPTIONS: &[&str] = &["loss", "dup", "reorder", "delay", "jitter", "rate", "seed"];

/// Most frames held in one direction (delayed, waiting for the rate limit, or due but not
/// yet taken by the stack).
pub const MAX_HELD_FRAMES: usize = 10_000;
/// Most bytes held in one direction.
pub const MAX_HELD_BYTES: usize = 64 << 20;
/// Frames that may wait for the rate limit in one direction (netem's default limit).
pub const RATE_QUEUE: usize = 1000;
/// How long `reorder=` without `delay=` holds back the frames it picks.
pub const REORDER_HOLD_MS: u64 = 10;

const MAX_MS: f64 = 60_000.0;
const MAX_MBIT: f64 = 100_000.0;
/// Frames read from the inner driver in one `recv()` while none of them comes out; the
/// descriptor stays readable, so the receive thread comes back for the rest.
const MAX_READS: usize = 64;
/// Largest Ethernet frame without jumbo: the rate limiter's bucket holds at least two.
const FULL_FRAME: f64 = 1518.0;

/// Impairment settings as given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Percentages, 0-100.
    pub loss: f64,
    pub dup: f64,
    pub reorder: f64,
    /// Milliseconds, 0-60000.
    pub delay: f64,
    pub jitter: f64,
    /// Megabits per second.
    pub rate: Option<f64>,
    pub seed: Option<u64>,
}

/// Strips a unit suffix, in any case.
fn strip_unit<'a>(v: &'a str, unit: &str) -> &'a str {
    let n = v.len().saturating_sub(unit.len());
    match (v.get(..n), v.get(n..)) {
        (Some(head), Some(tail)) if tail.eq_ignore_ascii_case(unit) => head,
        _ => v,
    }
}

fn number(o: &SubOpt, v: &str, unit: &str) -> Result<f64, String> {
    strip_unit(v, unit)
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("{}={v}: not a number", o.key))
}

impl Settings {
    /// Reads impairment options (keys from [`OPTIONS`]); an error names the option.
    pub fn parse(opts: &[SubOpt]) -> Result<Settings, String> {
        let mut s = Settings::default();
        for o in opts {
            let v = o.require_value()?;
            let pct = || -> Result<f64, String> {
                let x = number(o, v, "%")?;
                if !(0.0..=100.0).contains(&x) {
                    return Err(format!("{}={v}: out of range 0-100 (percent)", o.key));
                }
                Ok(x)
            };
            let ms = || -> Result<f64, String> {
                let x = number(o, v, "ms")?;
                if !(0.0..=MAX_MS).contains(&x) {
                    return Err(format!("{}={v}: out of range 0-60000 (milliseconds)", o.key));
                }
                Ok(x)
            };
            match o.key.as_str() {
                "loss" => s.loss = pct()?,
                "dup" => s.dup = pct()?,
                "reorder" => s.reorder = pct()?,
                "delay" => s.delay = ms()?,
                "jitter" => s.jitter = ms()?,
                "rate" => {
                    let x = number(o, v, "mbit")?;
                    if !(x > 0.0 && x <= MAX_MBIT) {
                        return Err(format!("rate={v}: out of range: above 0, at most 100000 (Mbit/s)"));
                    }
                    s.rate = Some(x);
                }
                "seed" => s.seed = Some(parse_num(v).ok_or_else(|| format!("seed={v}: not a number"))?),
                _ => return Err(unknown(o)),
            }
        }
        Ok(s)
    }

    /// The settings as an option word (without the seed), or `none`.
    pub fn word(&self) -> String {
        let mut v = Vec::new();
        for (k, x) in [
            ("loss", self.loss),
            ("dup", self.dup),
            ("reorder", self.reorder),
            ("delay", self.delay),
            ("jitter", self.jitter),
        ] {
            if x != 0.0 {
                v.push(format!("{k}={x}"));
            }
        }
        if let Some(r) = self.rate {
            v.push(format!("rate={r}"));
        }
        if v.is_empty() {
            "none".into()
        } else {
            v.join(",")
        }
    }
}

/// splitmix64: small, fast, and the same sequence for the same seed everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `pct` percent; draws nothing when `pct` is 0.
    pub fn chance(&mut self, pct: f64) -> bool {
        pct > 0.0 && self.unit() * 100.0 < pct
    }
}

/// A seed from the time, the pid and a counter, for when `seed=` is not given.
fn default_seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    mix(nanos ^ (u64::from(std::process::id()) << 32) ^ (N.fetch_add(1, Ordering::Relaxed) << 48))
}

/// CLOCK_MONOTONIC in nanoseconds: the clock the timerfd is armed on.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What happened to frames in one direction.
#[derive(Debug, Default)]
pub struct Counters {
    /// Dropped by `loss=`.
    pub dropped: AtomicU64,
    /// Second copies made by `dup=`.
    pub duplicated: AtomicU64,
    /// Frames picked by `reorder=`.
    pub reordered: AtomicU64,
    /// Frames held for a while (delay, jitter, reorder hold-back, rate).
    pub delayed: AtomicU64,
    /// Dropped because the held frames or the rate queue were full.
    pub overflowed: AtomicU64,
    /// Held frames the inner driver failed to send.
    pub errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn show(&self, errors: bool) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = format!(
            "dropped {} duplicated {} reordered {} delayed {} overflowed {}",
            g(&self.dropped),
            g(&self.duplicated),
            g(&self.reordered),
            g(&self.delayed),
            g(&self.overflowed)
        );
        if errors {
            s += &format!(" errors {}", g(&self.errors));
        }
        s
    }
}

/// The settings in the units the pipe works in.
#[derive(Debug, Clone, Copy)]
struct Shape {
    loss: f64,
    dup: f64,
    reorder: f64,
    delay_ns: u64,
    jitter_ns: u64,
    /// Nanoseconds one byte takes at the rate limit.
    ns_per_byte: Option<f64>,
    /// The bucket depth, as time at the rate.
    burst_ns: u64,
}

impl Shape {
    fn new(s: &Settings) -> Shape {
        let ns_per_byte = s.rate.map(|mbit| 8000.0 / mbit);
        let burst_ns = match (s.rate, ns_per_byte) {
            (Some(mbit), Some(nspb)) => ((2.0 * FULL_FRAME).max(mbit * 125.0) * nspb) as u64,
            _ => 0,
        };
        Shape {
            loss: s.loss,
            dup: s.dup,
            reorder: s.reorder,
            delay_ns: (s.delay * 1e6) as u64,
            jitter_ns: (s.jitter * 1e6) as u64,
            ns_per_byte,
            burst_ns,
        }
    }
}

/// A frame waiting for its due time.
struct Held {
    due: u64,
    seq: u64,
    data: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, o: &Held) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Held) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}

impl Ord for Held {
    fn cmp(&self, o: &Held) -> CmpOrdering {
        (self.due, self.seq).cmp(&(o.due, o.seq))
    }
}

/// What became of a frame offered to a pipe (of its first copy, when duplicated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// It may go now: the caller delivers it.
    Pass,
    /// It is held, or already due behind frames that are.
    Queued,
    /// `loss=` dropped it.
    Lost,
    /// No room to hold it.
    Overflow,
}

/// One direction's impairments: a delay stage (frames ordered by due time) feeding a rate
/// stage (first in, first out, each frame with the time it may leave).
struct Pipe {
    shape: Shape,
    rng: Rng,
    delayed: BinaryHeap<Reverse<Held>>,
    /// Frames past the delay, with the time the rate limit lets them go; those times never
    /// decrease along the queue.
    ready: VecDeque<(u64, Vec<u8>)>,
    seq: u64,
    frames: usize,
    bytes: usize,
    /// The rate limiter's theoretical arrival time (GCRA, the token bucket as a clock).
    tat: u64,
    stats: Arc<Counters>,
}

impl Pipe {
    fn new(shape: Shape, seed: u64, stats: Arc<Counters>) -> Pipe {
        Pipe {
            shape,
            rng: Rng::new(seed),
            delayed: BinaryHeap::new(),
            ready: VecDeque::new(),
            seq: 0,
            frames: 0,
            bytes: 0,
            tat: 0,
            stats,
        }
    }

    fn fits(&self, len: usize) -> bool {
        self.frames < MAX_HELD_FRAMES && self.bytes + len <= MAX_HELD_BYTES
    }

    /// Runs one frame, arriving at `now`, through loss and dup, and places each copy.
    /// With `may_pass`, a first copy that need not wait is left to the caller (`Pass`)
    /// instead of being copied into the pipe.
    fn offer(&mut self, frame: &[u8], now: u64, may_pass: bool) -> Offer {
        if self.rng.chance(self.shape.loss) {
            bump(&self.stats.dropped);
            return Offer::Lost;
        }
        let copies = if self.rng.chance(self.shape.dup) {
            bump(&self.stats.duplicated);
            2
        } else {
            1
        };
        self.advance(now);
        let mut first = Offer::Queued;
        for i in 0..copies {
            let due = self.due(now);
            let fate = self.place(frame, due, now, may_pass && i == 0);
            if i == 0 {
                first = fate;
            }
        }
        first
    }

    /// When one copy arriving at `now` is due out of the delay stage.
    fn due(&mut self, now: u64) -> u64 {
        let s = self.shape;
        if self.rng.chance(s.reorder) {
            bump(&self.stats.reordered);
            return if s.delay_ns > 0 {
                now
            } else {
                now + REORDER_HOLD_MS * 1_000_000
            };
        }
        if s.delay_ns == 0 && s.jitter_ns == 0 {
            return now;
        }
        let j = if s.jitter_ns > 0 {
            (self.rng.unit() * 2.0 - 1.0) * s.jitter_ns as f64
        } else {
            0.0
        };
        now + (s.delay_ns as f64 + j).max(0.0) as u64
    }

    /// When the rate limit lets a frame that reached it at `t` go.
    fn release_at(&self, t: u64) -> u64 {
        match self.shape.ns_per_byte {
            Some(_) => t.max(self.tat.saturating_sub(self.shape.burst_ns)),
            None => t,
        }
    }

    /// Takes a frame of `len` bytes that reached the rate limit at `t` from the bucket.
    fn commit(&mut self, len: usize, t: u64) {
        if let Some(nspb) = self.shape.ns_per_byte {
            self.tat = self.tat.max(t) + (len as f64 * nspb) as u64;
        }
    }

    fn rate_full(&self) -> bool {
        self.shape.ns_per_byte.is_some() && self.ready.len() >= RATE_QUEUE
    }

    fn overflow(&self) -> Offer {
        bump(&self.stats.overflowed);
        Offer::Overflow
    }

    fn place(&mut self, frame: &[u8], due: u64, now: u64, may_pass: bool) -> Offer {
        if due > now {
            if !self.fits(frame.len()) {
                return self.overflow();
            }
            bump(&self.stats.delayed);
            self.seq += 1;
            self.frames += 1;
            self.bytes += frame.len();
            self.delayed.push(Reverse(Held {
                due,
                seq: self.seq,
                data: frame.to_vec(),
            }));
            return Offer::Queued;
        }
        if self.rate_full() {
            return self.overflow();
        }
        let at = self.release_at(due);
        if at <= now && may_pass && self.ready.is_empty() {
            self.commit(frame.len(), due);
            return Offer::Pass;
        }
        if !self.fits(frame.len()) {
            return self.overflow();
        }
        if at > now {
            bump(&self.stats.delayed);
        }
        self.commit(frame.len(), due);
        self.frames += 1;
        self.bytes += frame.len();
        self.ready.push_back((at, frame.to_vec()));
        Offer::Queued
    }

    /// Moves the frames whose delay is over into the rate stage, in due order.
    fn advance(&mut self, now: u64) {
        while self.delayed.peek().is_some_and(|h| h.0.due <= now) {
            let Some(Reverse(h)) = self.delayed.pop() else { break };
            if self.rate_full() {
                self.frames -= 1;
                self.bytes -= h.data.len();
                bump(&self.stats.overflowed);
                continue;
            }
            let at = self.release_at(h.due);
            self.commit(h.data.len(), h.due);
            self.ready.push_back((at, h.data));
        }
    }

    /// The next frame allowed out by `now`.
    fn pop(&mut self, now: u64) -> Option<Vec<u8>> {
        self.advance(now);
        if self.ready.front().is_some_and(|(at, _)| *at <= now) {
            let (_, f) = self.ready.pop_front()?;
            self.frames -= 1;
            self.bytes -= f.len();
            return Some(f);
        }
        None
    }

    /// When the next held frame may go (in the past when one already may).
    fn next_wake(&self) -> Option<u64> {
        let a = self.ready.front().map(|(at, _)| *at);
        let b = self.delayed.peek().map(|h| h.0.due);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The sending side, shared with the thread that sends held frames.
struct Tx {
    inner: Arc<dyn Driver>,
    state: Mutex<TxState>,
    wake: Condvar,
}

struct TxState {
    pipe: Pipe,
    /// When the sending thread means to wake (u64::MAX: not until told).
    sleep_until: u64,
    stop: bool,
}

impl Tx {
    /// Sends every held frame allowed out by `now`, in order.
    fn flush(&self, st: &mut TxState, now: u64) {
        while let Some(f) = st.pipe.pop(now) {
            if self.inner.send(&f).is_err() {
                bump(&st.pipe.stats.errors);
            }
        }
    }
}

fn tx_loop(tx: Arc<Tx>) {
    let mut st = lock(&tx.state);
    loop {
        if st.stop {
            return;
        }
        let now = mono_ns();
        tx.flush(&mut st, now);
        match st.pipe.next_wake() {
            None => {
                st.sleep_until = u64::MAX;
                st = tx.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            Some(t) if t <= now => {}
            Some(t) => {
                st.sleep_until = t;
                st = tx
                    .wake
                    .wait_timeout(st, Duration::from_nanos(t - now))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    }
}

/// The receiving side.
struct Rx {
    pipe: Pipe,
    /// The absolute time the timerfd is armed for, while it may still be (or become)
    /// readable.
    armed: Option<u64>,
}

/// Any driver, impaired.
pub struct Impair {
    inner: Arc<dyn Driver>,
    settings: Settings,
    seed: u64,
    tx: Arc<Tx>,
    thread: Option<JoinHandle<()>>,
    rx: Mutex<Rx>,
    epoll: OwnedFd,
    timer: OwnedFd,
    out: Arc<Counters>,
    inn: Arc<Counters>,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn epoll_add(ep: RawFd, fd: RawFd) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    // SAFETY: epoll_ctl with valid descriptors and an epoll_event it only reads.
    cvt(unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) }).map(|_| ())
}

impl Impair {
    /// Wraps `inner` with the impairments of `settings`.
    pub fn new(inner: Box<dyn Driver>, settings: Settings) -> io::Result<Impair> {
        let inner: Arc<dyn Driver> = Arc::from(inner);
        let seed = settings.seed.unwrap_or_else(default_seed);
        let shape = Shape::new(&settings);
        // SAFETY: timerfd_create and epoll_create1 return a new descriptor or -1.
        let timer = unsafe {
            OwnedFd::from_raw_fd(cvt(libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            ))?)
        };
        // SAFETY: as above.
        let epoll = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        epoll_add(epoll.as_raw_fd(), inner.raw_fd())?;
        epoll_add(epoll.as_raw_fd(), timer.as_raw_fd())?;
        let out = Arc::new(Counters::default());
        let inn = Arc::new(Counters::default());
        // Each direction draws from its own stream, so what one does not change the other.
        let tx = Arc::new(Tx {
            inner: inner.clone(),
            state: Mutex::new(TxState {
                pipe: Pipe::new(shape, mix(seed ^ 0x6f7574), out.clone()),
                sleep_until: u64::MAX,
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let t = tx.clone();
        let thread = std::thread::Builder::new()
            .name("impair-tx".into())
            .spawn(move || tx_loop(t))?;
        Ok(Impair {
            inner,
            settings,
            seed,
            tx,
            thread: Some(thread),
            rx: Mutex::new(Rx {
                pipe: Pipe::new(shape, mix(seed ^ 0x696e), inn.clone()),
                armed: None,
            }),
            epoll,
            timer,
            out,
            inn,
        })
    }

    /// The seed in use (given or chosen).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What happened to frames sent.
    pub fn out_counters(&self) -> &Counters {
        &self.out
    }

    /// What happened to frames received.
    pub fn in_counters(&self) -> &Counters {
        &self.inn
    }

    /// Arms the timerfd for absolute time `want` (None: disarmed). A time in the past
    /// makes it readable at once. A wakeup already armed no later than `want` is kept: it
    /// comes early, and the `recv()` it causes arms the timer again, which saves a system
    /// call per frame while frames stream through.
    fn arm(&self, rx: &mut Rx, want: Option<u64>) {
        match (rx.armed, want) {
            (a, w) if a == w => return,
            (Some(a), Some(w)) if a <= w => return,
            _ => {}
        }
        let t = want.unwrap_or(0);
        let mut v = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: (t / 1_000_000_000) as libc::time_t,
                tv_nsec: (t % 1_000_000_000) as libc::c_long,
            },
        };
        if want.is_some() && t == 0 {
            // All zeroes would disarm it.
            v.it_value.tv_nsec = 1;
        }
        // SAFETY: timerfd_settime on our timerfd with a valid itimerspec.
        let r = unsafe {
            libc::timerfd_settime(
                self.timer.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &v,
                std::ptr::null_mut(),
            )
        };
        if r == 0 {
            rx.armed = want;
        }
    }

    /// Clears the timerfd once it has expired, so the descriptor does not stay readable.
    fn consume_timer(&self, rx: &mut Rx, now: u64) {
        if rx.armed.is_none_or(|t| t > now) {
            return;
        }
        let mut n = [0u8; 8];
        // SAFETY: reading 8 bytes from our timerfd into an 8-byte buffer.
        let r = unsafe { libc::read(self.timer.as_raw_fd(), n.as_mut_ptr().cast(), 8) };
        if r == 8 {
            rx.armed = None;
        }
        // Not expired yet (the timer interrupt lags the clock): it will be, and the next
        // call reads it.
    }

    fn recv_locked(&self, rx: &mut Rx, buf: &mut [u8], now: u64) -> io::Result<Recv> {
        let mut reads = 0;
        loop {
            if let Some(f) = rx.pipe.pop(now) {
                let n = f.len().min(buf.len());
                buf[..n].copy_from_slice(&f[..n]);
                return Ok(Recv::Frame(n));
            }
            if reads == MAX_READS {
                return Ok(Recv::WouldBlock);
            }
            match self.inner.recv(buf)? {
                Recv::WouldBlock => return Ok(Recv::WouldBlock),
                Recv::Frame(n) => {
                    reads += 1;
                    if rx.pipe.offer(&buf[..n], now, true) == Offer::Pass {
                        return Ok(Recv::Frame(n));
                    }
                }
            }
        }
    }
}

impl Drop for Impair {
    fn drop(&mut self) {
        lock(&self.tx.state).stop = true;
        self.tx.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Driver for Impair {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn raw_fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Recv> {
        let mut rx = lock(&self.rx);
        let now = mono_ns();
        self.consume_timer(&mut rx, now);
        let r = self.recv_locked(&mut rx, buf, now);
        let want = rx.pipe.next_wake();
        self.arm(&mut rx, want);
        r
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        let mut st = lock(&self.tx.state);
        let now = mono_ns();
        let r = match st.pipe.offer(frame, now, true) {
            Offer::Pass => self.inner.send(frame),
            Offer::Queued | Offer::Lost => Ok(()),
            Offer::Overflow => Err(io::Error::from_raw_os_error(libc::ENOBUFS)),
        };
        // A duplicate, or frames the thread has not got to yet.
        self.tx.flush(&mut st, now);
        if st.pipe.next_wake().is_some_and(|t| t < st.sleep_until) {
            self.tx.wake.notify_one();
        }
        r
    }

    fn link_up(&self) -> bool {
        self.inner.link_up()
    }

    fn set_up(&self, up: bool) -> io::Result<()> {
        self.inner.set_up(up)
    }

    fn details(&self) -> Vec<(String, String)> {
        let mut v = self.inner.details();
        v.push(("impair".into(), self.settings.word()));
        v.push(("seed".into(), self.seed.to_string()));
        v.push(("out".into(), self.out.show(true)));
        v.push(("in".into(), self.inn.show(false)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_subopts;
    use std::collections::HashMap;
    use std::os::unix::net::UnixDatagram;
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    /// A driver over one end of a datagram socket pair; the test holds the other end.
    struct Fake {
        sock: UnixDatagram,
        dropped: Arc<AtomicBool>,
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    impl Driver for Fake {
        fn kind(&self) -> &'static str {
            "fake"
        }

        fn raw_fd(&self) -> RawFd {
            self.sock.as_raw_fd()
        }

        fn recv(&self, buf: &mut [u8]) -> io::Result<Recv> {
            match self.sock.recv(buf) {
                Ok(n) => Ok(Recv::Frame(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Recv::WouldBlock),
                Err(e) => Err(e),
            }
        }

        fn send(&self, frame: &[u8]) -> io::Result<()> {
            self.sock.send(frame).map(|_| ())
        }

        fn link_up(&self) -> bool {
            true
        }

        fn details(&self) -> Vec<(String, String)> {
            vec![("fake".into(), "yes".into())]
        }
    }

    fn set_buf(s: &UnixDatagram, opt: libc::c_int) {
        let big: libc::c_int = 8 << 20;
        // SAFETY: setsockopt with a valid fd and a c_int value of the right size.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &big as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    struct Setup {
        imp: Impair,
        /// The far end of the wire.
        peer: UnixDatagram,
        inner_dropped: Arc<AtomicBool>,
    }

    fn setup(opts: &str) -> Setup {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        for s in [&a, &b] {
            set_buf(s, libc::SO_SNDBUF);
            set_buf(s, libc::SO_RCVBUF);
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let fake = Fake {
            sock: a,
            dropped: dropped.clone(),
        };
        let settings = Settings::parse(&parse_subopts(opts).unwrap()).unwrap();
        Setup {
            imp: Impair::new(Box::new(fake), settings).unwrap(),
            peer: b,
            inner_dropped: dropped,
        }
    }

    /// Frame `i`: its number, then bytes that depend on it and their position.
    fn frame(i: u32, len: usize) -> Vec<u8> {
        let mut f = i.to_be_bytes().to_vec();
        f.extend((4..len.max(4)).map(|k| (i as usize * 31 + k * 7) as u8));
        f
    }

    /// The number of a frame made by `frame`, checking every byte.
    #[track_caller]
    fn check(f: &[u8]) -> u32 {
        let i = u32::from_be_bytes(f[..4].try_into().unwrap());
        assert_eq!(f, &frame(i, f.len())[..], "frame {i} corrupted");
        i
    }

    /// What reaches the peer until nothing has come for `quiet`.
    fn peer_frames(peer: &UnixDatagram, quiet: Duration) -> Vec<(Instant, Vec<u8>)> {
        peer.set_read_timeout(Some(quiet)).unwrap();
        let mut v = Vec::new();
        let mut b = vec![0u8; RX];
        while let Ok(n) = peer.recv(&mut b) {
            v.push((Instant::now(), b[..n].to_vec()));
        }
        v
    }

    const RX: usize = crate::RX_BUF;

    /// Receives as a receive thread does: poll the descriptor, then recv until it would
    /// block; until nothing has come for `quiet`.
    fn rx_frames(imp: &Impair, quiet: Duration) -> Vec<(Instant, Vec<u8>)> {
        let mut v = Vec::new();
        let mut b = vec![0u8; RX];
        loop {
            let mut p = libc::pollfd {
                fd: imp.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, quiet.as_millis() as i32) };
            if r == 0 {
                return v;
            }
            for _ in 0..32 {
                match imp.recv(&mut b).unwrap() {
                    Recv::Frame(n) => v.push((Instant::now(), b[..n].to_vec())),
                    Recv::WouldBlock => break,
                }
            }
        }
    }

    fn numbers(v: &[(Instant, Vec<u8>)]) -> Vec<u32> {
        v.iter().map(|(_, f)| check(f)).collect()
    }

    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    const QUIET: Duration = Duration::from_millis(150);

    /// Sends `n` frames through the impaired side, in chunks the peer keeps up with.
    fn send_all(s: &Setup, n: u32, len: usize) -> Vec<(Instant, Vec<u8>)> {
        let mut got = Vec::new();
        for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
            for &i in chunk {
                s.imp.send(&frame(i, len)).unwrap();
            }
            got.extend(peer_frames(&s.peer, Duration::from_millis(20)));
        }
        got.extend(peer_frames(&s.peer, QUIET));
        got
    }

    /// Sends `n` frames from the peer and receives them through the impaired side.
    fn recv_all(s: &Setup, n: u32, len: usize) -> Vec<(Instant, Vec<u8>)> {
        let mut got = Vec::new();
        for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
            for &i in chunk {
                s.peer.send(&frame(i, len)).unwrap();
            }
            got.extend(rx_frames(&s.imp, Duration::from_millis(20)));
        }
        got.extend(rx_frames(&s.imp, QUIET));
        got
    }

    fn parse(word: &str) -> Result<Settings, String> {
        Settings::parse(&parse_subopts(word).unwrap())
    }

    #[test]
    fn options_are_checked_by_name() {
        let s = parse("loss=0.5,dup=1%,reorder=100,delay=20ms,jitter=2.5,rate=10Mbit,seed=0x10").unwrap();
        assert_eq!(
            s,
            Settings {
                loss: 0.5,
                dup: 1.0,
                reorder: 100.0,
                delay: 20.0,
                jitter: 2.5,
                rate: Some(10.0),
                seed: Some(16),
            }
        );
        assert_eq!(s.word(), "loss=0.5,dup=1,reorder=100,delay=20,jitter=2.5,rate=10");
        assert_eq!(parse("seed=3").unwrap().word(), "none");
        for (word, msg) in [
            ("loss=101", "loss=101: out of range 0-100 (percent)"),
            ("dup=-1", "dup=-1: out of range 0-100 (percent)"),
            ("reorder=x", "reorder=x: not a number"),
            ("loss=NaN", "loss=NaN: not a number"),
            ("loss=%", "loss=%: not a number"),
            ("loss", "loss: missing value"),
            ("delay=", "delay: missing value"),
            ("delay=60001", "delay=60001: out of range 0-60000 (milliseconds)"),
            ("jitter=inf", "jitter=inf: not a number"),
            ("rate=0", "rate=0: out of range: above 0, at most 100000 (Mbit/s)"),
            (
                "rate=100001",
                "rate=100001: out of range: above 0, at most 100000 (Mbit/s)",
            ),
            ("seed=1.5", "seed=1.5: not a number"),
            ("seed=-1", "seed=-1: not a number"),
        ] {
            assert_eq!(parse(word), Err(msg.to_string()), "{word}");
        }
        // Through open(), before the driver is opened.
        let e = crate::open("udp", "remote=127.0.0.1:9,loss=200").err().unwrap();
        assert_eq!(e.to_string(), "-d udp: loss=200: out of range 0-100 (percent)");
        let e = crate::open("nosuch", "loss=200").err().unwrap();
        assert_eq!(
            e.to_string(),
            "-d nosuch: no such driver (this build has: tap, udp, hub, raw)"
        );
    }

    #[test]
    fn open_wraps_the_driver_and_reports_the_seed() {
        let o = crate::open("udp", "remote=127.0.0.1:9,delay=5,seed=77").unwrap();
        assert_eq!(o.driver.kind(), "udp");
        let d = o.driver.details();
        let get = |k: &str| d.iter().find(|(l, _)| l == k).map(|(_, v)| v.clone());
        assert_eq!(get("remote").as_deref(), Some("127.0.0.1:9"));
        assert_eq!(get("impair").as_deref(), Some("delay=5"));
        assert_eq!(get("seed").as_deref(), Some("77"));
        assert_eq!(
            get("out").as_deref(),
            Some("dropped 0 duplicated 0 reordered 0 delayed 0 overflowed 0 errors 0")
        );
        assert_eq!(
            get("in").as_deref(),
            Some("dropped 0 duplicated 0 reordered 0 delayed 0 overflowed 0")
        );
        // Without impairments the driver is not wrapped.
        let o = crate::open("udp", "remote=127.0.0.1:9").unwrap();
        assert!(o.driver.details().iter().all(|(l, _)| l != "impair"));
        // Without seed= one is chosen, and shown.
        let a = setup("loss=1");
        let b = setup("loss=1");
        assert_ne!(a.imp.seed(), b.imp.seed());
        let shown = a.imp.details().into_iter().find(|(l, _)| l == "seed").unwrap().1;
        assert_eq!(shown, a.imp.seed().to_string());
    }

    #[test]
    fn loss_drops_about_half_and_the_seed_replays_it() {
        let run = |opts: &str| {
            let s = setup(opts);
            let got = numbers(&send_all(&s, 1000, 100));
            assert_eq!(get(&s.imp.out_counters().dropped), 1000 - got.len() as u64);
            // In order: loss alone does not reorder.
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
            got
        };
        let a = run("loss=50,seed=42");
        assert!((350..=650).contains(&a.len()), "{} of 1000 passed", a.len());
        assert_eq!(run("loss=50,seed=42"), a, "the same seed makes the same choices");
        assert_ne!(run("loss=50,seed=43"), a);
        // Receiving, too.
        let rx = |opts: &str| {
            let s = setup(opts);
            let got = numbers(&recv_all(&s, 1000, 100));
            assert_eq!(get(&s.imp.in_counters().dropped), 1000 - got.len() as u64);
            got
        };
        let r = rx("loss=50,seed=42");
        assert!((350..=650).contains(&r.len()), "{} of 1000 passed", r.len());
        assert_eq!(rx("loss=50,seed=42"), r);
        // Fractions: loss=0.5 of 4000 frames loses a few, not many.
        let s = setup("loss=0.5,seed=1");
        let n = send_all(&s, 4000, 60).len();
        assert!((3940..4000).contains(&n), "{n} of 4000 passed");
        // loss=100 loses everything, loss=0 nothing.
        assert!(send_all(&setup("loss=100"), 100, 60).is_empty());
        assert_eq!(send_all(&setup("loss=0,seed=9"), 100, 60).len(), 100);
    }

    #[test]
    fn dup_100_doubles_every_frame() {
        let s = setup("dup=100");
        let got = numbers(&send_all(&s, 300, 200));
        let want: Vec<u32> = (0..300).flat_map(|i| [i, i]).collect();
        assert_eq!(got, want);
        assert_eq!(get(&s.imp.out_counters().duplicated), 300);
        let got = numbers(&recv_all(&s, 300, 200));
        assert_eq!(got, want);
        assert_eq!(get(&s.imp.in_counters().duplicated), 300);
    }

    #[test]
    fn delay_holds_frames_for_at_least_the_delay() {
        let s = setup("delay=50");
        let t0 = Instant::now();
        for i in 0..20 {
            s.imp.send(&frame(i, 500)).unwrap();
        }
        // Nothing yet.
        s.peer.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        assert!(s.peer.recv(&mut [0u8; 600]).is_err(), "a frame came before its delay");
        let got = peer_frames(&s.peer, Duration::from_millis(500));
        assert_eq!(numbers(&got), (0..20).collect::<Vec<_>>());
        for (t, _) in &got {
            assert!(*t - t0 >= Duration::from_millis(50), "sent after {:?}", *t - t0);
            assert!(*t - t0 < Duration::from_secs(5), "sent after {:?}", *t - t0);
        }
        assert_eq!(get(&s.imp.out_counters().delayed), 20);
        // Receiving: the held frames wake the poller when they are due.
        let t0 = Instant::now();
        for i in 0..20 {
            s.peer.send(&frame(i, 500)).unwrap();
        }
        let got = rx_frames(&s.imp, Duration::from_millis(500));
        assert_eq!(numbers(&got), (0..20).collect::<Vec<_>>());
        for (t, _) in &got {
            assert!(*t - t0 >= Duration::from_millis(50), "received after {:?}", *t - t0);
        }
        assert_eq!(get(&s.imp.in_counters().delayed), 20);
    }

    #[test]
    fn jitter_spreads_the_delay() {
        let s = setup("delay=40,jitter=30,seed=5");
        let t0 = Instant::now();
        for i in 0..50 {
            s.imp.send(&frame(i, 100)).unwrap();
        }
        let got = peer_frames(&s.peer, Duration::from_millis(500));
        let mut n = numbers(&got);
        assert_ne!(
            n,
            (0..50).collect::<Vec<_>>(),
            "jitter of 30 ms reorders frames sent together"
        );
        n.sort();
        assert_eq!(n, (0..50).collect::<Vec<_>>());
        for (t, _) in &got {
            assert!(*t - t0 >= Duration::from_millis(10), "sent after {:?}", *t - t0);
        }
    }

    /// Counts the frames that arrived out of order (after a higher-numbered one).
    fn out_of_order(n: &[u32]) -> usize {
        let mut max = None;
        let mut c = 0;
        for &i in n {
            if max.is_some_and(|m| i < m) {
                c += 1;
            }
            max = max.max(Some(i));
        }
        c
    }

    #[test]
    fn reorder_changes_the_order_and_loses_nothing() {
        for opts in ["delay=20,reorder=30,seed=1", "reorder=30,seed=1"] {
            let s = setup(opts);
            let mut got = numbers(&send_all(&s, 300, 80));
            assert!(out_of_order(&got) > 0, "{opts}: {got:?}");
            let picked = get(&s.imp.out_counters().reordered);
            assert!((30..=150).contains(&picked), "{opts}: {picked} reordered");
            got.sort();
            assert_eq!(got, (0..300).collect::<Vec<_>>(), "{opts}");
            let mut got = numbers(&recv_all(&s, 300, 80));
            assert!(out_of_order(&got) > 0, "{opts}: {got:?}");
            got.sort();
            assert_eq!(got, (0..300).collect::<Vec<_>>(), "{opts}");
        }
        // Without delay, the frames not picked go at once.
        let s = setup("reorder=50,seed=3");
        s.imp.send(&frame(0, 60)).unwrap();
        let first = peer_frames(&s.peer, Duration::from_millis(5));
        let later = peer_frames(&s.peer, Duration::from_millis(100));
        assert_eq!(first.len() + later.len(), 1);
    }

    #[test]
    fn everything_at_once_keeps_frames_whole() {
        let opts = "dup=20,reorder=20,delay=5,jitter=5,rate=200,seed=11";
        let s = setup(opts);
        let mut lens = Rng::new(99);
        let sizes: Vec<usize> = (0..500).map(|_| 60 + (lens.next_u64() % 1455) as usize).collect();
        let mut got = Vec::new();
        for chunk in (0..500u32).collect::<Vec<_>>().chunks(50) {
            for &i in chunk {
                s.imp.send(&frame(i, sizes[i as usize])).unwrap();
            }
            got.extend(peer_frames(&s.peer, Duration::from_millis(20)));
        }
        got.extend(peer_frames(&s.peer, QUIET));
        let check_all = |got: &[(Instant, Vec<u8>)], dups: u64| {
            let mut count: HashMap<u32, usize> = HashMap::new();
            for (_, f) in got {
                let i = check(f);
                assert_eq!(f.len(), sizes[i as usize]);
                *count.entry(i).or_default() += 1;
            }
            assert_eq!(count.len(), 500, "every frame came");
            assert!(count.values().all(|&c| c == 1 || c == 2));
            assert_eq!(got.len() as u64, 500 + dups);
        };
        check_all(&got, get(&s.imp.out_counters().duplicated));
        let mut got = Vec::new();
        for chunk in (0..500u32).collect::<Vec<_>>().chunks(50) {
            for &i in chunk {
                s.peer.send(&frame(i, sizes[i as usize])).unwrap();
            }
            got.extend(rx_frames(&s.imp, Duration::from_millis(20)));
        }
        got.extend(rx_frames(&s.imp, QUIET));
        check_all(&got, get(&s.imp.in_counters().duplicated));
        assert_eq!(get(&s.imp.out_counters().overflowed), 0);
        assert_eq!(get(&s.imp.in_counters().overflowed), 0);
    }

    #[test]
    fn rate_limits_throughput() {
        // 1 Mbit/s is 125 bytes a millisecond: 300 frames of 1000 bytes take 2.4 s.
        let s = setup("rate=1");
        let t0 = Instant::now();
        for i in 0..300 {
            s.imp.send(&frame(i, 1000)).unwrap();
        }
        s.peer.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut n = 0;
        let mut b = [0u8; 2000];
        while t0.elapsed() < Duration::from_millis(400) {
            if s.peer.recv(&mut b).is_ok() {
                check(&b[..1000]);
                n += 1;
            }
        }
        // 400 ms carry 50 frames, and the bucket a few more; the bounds are generous.
        assert!((5..=120).contains(&n), "{n} frames in 400 ms at 1 Mbit/s");
        assert!(get(&s.imp.out_counters().delayed) >= 150);
        // Dropping the driver with frames held stops its thread and closes the inner driver.
        let Setup { imp, inner_dropped, .. } = s;
        let t = Instant::now();
        drop(imp);
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(inner_dropped.load(Ordering::SeqCst));

        // The queue is bounded: beyond RATE_QUEUE frames waiting, sends fail with ENOBUFS.
        let s = setup("rate=1");
        let mut refused = 0;
        for i in 0..1500 {
            if let Err(e) = s.imp.send(&frame(i, 1000)) {
                assert_eq!(e.raw_os_error(), Some(libc::ENOBUFS));
                refused += 1;
            }
        }
        assert!((400..=500).contains(&refused), "{refused} refused");
        assert_eq!(get(&s.imp.out_counters().overflowed), refused);

        // Receiving.
        let s = setup("rate=1");
        let t0 = Instant::now();
        for i in 0..100 {
            s.peer.send(&frame(i, 1000)).unwrap();
        }
        let mut n = 0;
        let mut b = vec![0u8; RX];
        while t0.elapsed() < Duration::from_millis(300) {
            let mut p = libc::pollfd {
                fd: s.imp.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, 50) };
            while let Recv::Frame(_) = s.imp.recv(&mut b).unwrap() {
                n += 1;
            }
        }
        assert!((3..=80).contains(&n), "{n} frames in 300 ms at 1 Mbit/s");
        // A fast rate lets a burst through at once.
        let s = setup("rate=10000");
        assert_eq!(send_all(&s, 100, 1000).len(), 100);
    }

    #[test]
    fn held_frames_are_bounded() {
        let s = setup("delay=60000");
        let mut refused = 0;
        for i in 0..(MAX_HELD_FRAMES as u32 + 50) {
            if s.imp.send(&frame(i, 60)).is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 50);
        assert_eq!(get(&s.imp.out_counters().overflowed), 50);
        // Bytes too: 1 MiB frames, 64 of them fill it.
        let s = setup("delay=60000");
        let big = vec![0u8; 1 << 20];
        let refused = (0..70).filter(|_| s.imp.send(&big).is_err()).count();
        assert_eq!(refused, 6);
    }

    #[test]
    fn the_rng_is_fixed() {
        // splitmix64's published first outputs for seed 0.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        let mut r = Rng::new(5);
        let hits = (0..100_000).filter(|_| r.chance(25.0)).count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
        assert!(!Rng::new(1).chance(0.0));
        assert!((0..1000).all(|_| r.chance(100.0)));
    }
}
