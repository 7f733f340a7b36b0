//! ALTQ on an interface's send path: the priority queueing discipline (PRIQ) behind a
//! token bucket regulator (TBR), as `altq on en0 priq bandwidth 10Mb queue { ssh, std }`
//! sets up.
//!
//! The hook is one call: `ether_frame_out` hands each finished frame to `Ifnet::output`,
//! which sends it straight to the driver unless a queue is attached (one atomic load);
//! with one, the frame goes into its class's queue and the interface sends from the
//! queues while the bucket has tokens. Priority only means something where packets wait,
//! so the bucket makes the interface the bottleneck: at `bandwidth` the queue builds here
//! rather than in the driver or further on.
//!
//! PRIQ (NetBSD's altq_priq.c): up to 16 classes, each with a unique priority 0..15 (15
//! served first), a packet limit (`qlimit`, default 50) past which arriving packets are
//! dropped and counted, and exactly one `default` class for packets no rule put in a
//! queue. Dequeue always takes the head of the highest-priority non-empty class.
//!
//! The TBR (altq_subr.c's `tbr_dequeue`): tokens in bytes fill at `bandwidth / 8` per
//! second up to the bucket's depth; a packet may go while the count is above zero, and
//! takes its length from it (the count may go below zero, so the long-run rate is the
//! bandwidth). The depth defaults to pfctl's choice: 1, 4, 8 or 24 MTUs for bandwidths up
//! to 1 Mb, 10 Mb, 200 Mb and above, at most 65535 bytes; the bucket holds at least 10 ms
//! of the rate (`TBR_MIN_DEPTH`), so that the queue thread's scheduling latency (a wake-up
//! a few ms late on a busy machine) does not cost bandwidth. `tbrsize` (what
//! `pfctl -s queue` shows) stays the configured or default value.
//!
//! Packets the bucket holds back are sent by the interface's queue thread
//! (`altq-IFNAME`), which sleeps until the bucket has tokens again; the thread ends when
//! the queue is detached or the interface is gone. Every other sender sends what the
//! bucket allows on its own thread first, so an idle queue adds no hand-off.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::msg::pf::{AltqDef, QueueDef as PfQueueDef, QueueStats as PfQueueStats};
use crate::net::ifnet::Ifnet;
use crate::sys::mbuf::Mbuf;

/// Priorities 0..PRIQ_MAXPRI.
pub const PRIQ_MAXPRI: u8 = 16;
/// The least time's worth of the rate the bucket holds, whatever `tbrsize` says.
pub const TBR_MIN_DEPTH: Duration = Duration::from_millis(10);
/// A class's packet limit when the configuration gives none.
pub const DEFAULT_QLIMIT: usize = 50;

/// Whether ALTQ scheduler `name` is available: only `priq` is; `cbq` and `hfsc` (and
/// anything else) are refused with this message, which pfctl prints after `pfctl: `.
pub fn scheduler_supported(ifname: &str, name: &str) -> Result<(), String> {
    if name == "priq" {
        Ok(())
    } else {
        Err(format!("altq on {ifname}: {name} not supported, only priq"))
    }
}

/// One queue of the configuration (`queue ssh priority 7 qlimit 100 priq(default)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConf {
    pub name: String,
    /// The id rules use (`Mbuf::qid`); non-zero, unique on the interface.
    pub qid: u32,
    pub priority: u8,
    /// 0: `DEFAULT_QLIMIT`.
    pub qlimit: usize,
    /// `priq(default)`: unclassified packets go here.
    pub default: bool,
}

/// A PRIQ configuration for one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriqConf {
    pub ifname: String,
    /// Bits per second.
    pub bandwidth: u64,
    /// The bucket's depth in bytes; 0: pfctl's default for the bandwidth.
    pub tbrsize: usize,
    pub queues: Vec<QueueConf>,
}

/// pfctl's default bucket depth for `bandwidth` bits/s on a link of `mtu` bytes.
pub fn default_tbrsize(bandwidth: u64, mtu: u32) -> usize {
    let mtus = match bandwidth {
        0..=1_000_000 => 1,
        1_000_001..=10_000_000 => 4,
        10_000_001..=200_000_000 => 8,
        _ => 24,
    };
    (mtus * mtu as usize).min(0xffff)
}

/// One class's counters, as `pfctl -s queue` shows them (`-v` adds the rates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    pub name: String,
    pub qid: u32,
    pub priority: u8,
    pub default: bool,
    pub qlength: usize,
    pub qlimit: usize,
    /// Sent.
    pub packets: u64,
    pub bytes: u64,
    /// Dropped at the limit.
    pub drop_packets: u64,
    pub drop_bytes: u64,
    /// Sent per second, measured over the last one to two seconds.
    pub pps: f64,
    pub bps: f64,
}

/// The counters at one moment, for the rates.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    packets: u64,
    bytes: u64,
}

/// How often the rate samples move on.
const SAMPLE: Duration = Duration::from_secs(1);

struct Class {
    conf: QueueConf,
    q: VecDeque<Mbuf>,
    packets: u64,
    bytes: u64,
    drop_packets: u64,
    drop_bytes: u64,
    /// The older and the newer sample; the rate is measured from the older.
    samples: [Sample; 2],
}

impl Class {
    fn sample(&mut self, now: Instant) {
        if now.duration_since(self.samples[1].at) >= SAMPLE {
            self.samples[0] = self.samples[1];
            self.samples[1] = Sample {
                at: now,
                packets: self.packets,
                bytes: self.bytes,
            };
        }
    }
}

/// The token bucket.
#[derive(Debug)]
struct Tbr {
    /// Bytes per nanosecond.
    rate: f64,
    depth: f64,
    tokens: f64,
    last: Instant,
}

impl Tbr {
    fn refill(&mut self, now: Instant) {
        let ns = now.saturating_duration_since(self.last).as_nanos() as f64;
        self.tokens = (self.tokens + ns * self.rate).min(self.depth);
        self.last = now;
    }

    /// When the count will be above zero again.
    fn ready_at(&self) -> Instant {
        if self.tokens > 0.0 {
            return self.last;
        }
        // Just past the moment the count reaches zero.
        let ns = (-self.tokens / self.rate).ceil() as u64 + 1;
        self.last + Duration::from_nanos(ns)
    }
}

/// The PRIQ discipline of one interface.
pub struct Priq {
    /// By priority, highest first.
    classes: Vec<Class>,
    default: usize,
    tbr: Tbr,
    pub bandwidth: u64,
    pub tbrsize: usize,
}

impl Priq {
    /// Checks the configuration as pfctl's `check_commit_priq` does, with its messages.
    pub fn new(conf: &PriqConf, mtu: u32, now: Instant) -> Result<Priq, String> {
        if conf.bandwidth == 0 {
            return Err(format!("altq on {}: bandwidth must be above 0", conf.ifname));
        }
        if conf.queues.is_empty() {
            return Err(format!("altq on {}: no queues", conf.ifname));
        }
        let mut used = [false; PRIQ_MAXPRI as usize];
        let mut classes = Vec::with_capacity(conf.queues.len());
        for q in &conf.queues {
            if q.priority >= PRIQ_MAXPRI {
                return Err(format!(
                    "{}: priority out of range: {} (max {})",
                    q.name,
                    q.priority,
                    PRIQ_MAXPRI - 1
                ));
            }
            if std::mem::replace(&mut used[usize::from(q.priority)], true) {
                return Err(format!(
                    "{} does not have a unique priority on interface {}",
                    q.name, conf.ifname
                ));
            }
            if q.qid == 0
                || classes
                    .iter()
                    .any(|c: &Class| c.conf.qid == q.qid || c.conf.name == q.name)
            {
                return Err(format!(
                    "queue {}: duplicate queue on interface {}",
                    q.name, conf.ifname
                ));
            }
            let mut qc = q.clone();
            if qc.qlimit == 0 {
                qc.qlimit = DEFAULT_QLIMIT;
            }
            let zero = Sample {
                at: now,
                packets: 0,
                bytes: 0,
            };
            classes.push(Class {
                conf: qc,
                q: VecDeque::new(),
                packets: 0,
                bytes: 0,
                drop_packets: 0,
                drop_bytes: 0,
                samples: [zero; 2],
            });
        }
        let defaults: Vec<usize> = (0..classes.len()).filter(|&i| classes[i].conf.default).collect();
        if defaults.len() != 1 {
            return Err(format!("should have one default queue on {}", conf.ifname));
        }
        classes.sort_by_key(|c| std::cmp::Reverse(c.conf.priority));
        let default = classes.iter().position(|c| c.conf.default).unwrap_or(0);
        let tbrsize = if conf.tbrsize == 0 {
            default_tbrsize(conf.bandwidth, mtu)
        } else {
            conf.tbrsize
        };
        // At least `TBR_MIN_DEPTH` of the rate: what the bucket gathers while the queue
        // thread waits to be scheduled, so a late wake-up costs no bandwidth.
        let depth = (tbrsize as f64).max(conf.bandwidth as f64 / 8.0 * TBR_MIN_DEPTH.as_secs_f64());
        Ok(Priq {
            classes,
            default,
            tbr: Tbr {
                rate: conf.bandwidth as f64 / 8.0 / 1e9,
                depth,
                tokens: depth,
                last: now,
            },
            bandwidth: conf.bandwidth,
            tbrsize,
        })
    }

    /// Puts `m` in the class of its `qid` (the default class for 0 or an unknown id).
    /// A full class drops it: `Err` gives it back, counted.
    pub fn enqueue(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        let i = match m.qid {
            0 => self.default,
            id => self
                .classes
                .iter()
                .position(|c| c.conf.qid == id)
                .unwrap_or(self.default),
        };
        let c = &mut self.classes[i];
        if c.q.len() >= c.conf.qlimit {
            c.drop_packets += 1;
            c.drop_bytes += m.len() as u64;
            return Err(m);
        }
        c.q.push_back(m);
        Ok(())
    }

    /// The next packet to send at `now`: the head of the highest-priority non-empty class,
    /// if the bucket lets one go.
    pub fn dequeue(&mut self, now: Instant) -> Option<Mbuf> {
        self.tbr.refill(now);
        if self.tbr.tokens <= 0.0 {
            return None;
        }
        let c = self.classes.iter_mut().find(|c| !c.q.is_empty())?;
        let m = c.q.pop_front()?;
        c.packets += 1;
        c.bytes += m.len() as u64;
        c.sample(now);
        self.tbr.tokens -= m.len() as f64;
        Some(m)
    }

    /// Packets waiting in all classes.
    pub fn len(&self) -> usize {
        self.classes.iter().map(|c| c.q.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.iter().all(|c| c.q.is_empty())
    }

    /// When a waiting packet may next go (None: nothing waits).
    pub fn next_ready(&self) -> Option<Instant> {
        (!self.is_empty()).then(|| self.tbr.ready_at())
    }

    /// Every class's counters, highest priority first.
    pub fn stats(&mut self, now: Instant) -> Vec<QueueStats> {
        self.classes
            .iter_mut()
            .map(|c| {
                c.sample(now);
                let s = c.samples[0];
                let secs = now.duration_since(s.at).as_secs_f64();
                let (pps, bps) = if secs > 0.0 {
                    (
                        (c.packets - s.packets) as f64 / secs,
                        (c.bytes - s.bytes) as f64 * 8.0 / secs,
                    )
                } else {
                    (0.0, 0.0)
                };
                QueueStats {
                    name: c.conf.name.clone(),
                    qid: c.conf.qid,
                    priority: c.conf.priority,
                    default: c.conf.default,
                    qlength: c.q.len(),
                    qlimit: c.conf.qlimit,
                    packets: c.packets,
                    bytes: c.bytes,
                    drop_packets: c.drop_packets,
                    drop_bytes: c.drop_bytes,
                    pps,
                    bps,
                }
            })
            .collect()
    }
}

struct State {
    priq: Priq,
    /// Which attachment this is: a queue thread whose number differs ends.
    gen: u64,
}

/// An interface's ALTQ slot (in `Ifnet`): empty unless `attach` put a discipline there.
#[derive(Default)]
pub struct IfAltq {
    on: AtomicBool,
    /// Attachments so far.
    gens: AtomicU64,
    state: Mutex<Option<State>>,
    /// Wakes the queue thread: packets wait, or the queue went away.
    cv: Condvar,
}

impl IfAltq {
    /// Whether a discipline is attached (the send path's only cost without one).
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a PRIQ discipline on `ifp`'s send path (replacing one there; its waiting
    /// packets are dropped) and starts its queue thread.
    pub fn attach(ifp: &Arc<Ifnet>, conf: &PriqConf) -> Result<(), String> {
        if ifp.driver.get().is_none() {
            return Err(format!("altq on {}: not supported on this interface", ifp.name));
        }
        let priq = Priq::new(conf, ifp.mtu(), Instant::now())?;
        let a = &ifp.altq;
        let gen;
        {
            let mut st = a.lock();
            if let Some(old) = st.as_mut() {
                // The old thread sees the new state and carries on with it.
                old.priq = priq;
                return Ok(());
            }
            gen = a.gens.fetch_add(1, Ordering::Relaxed) + 1;
            *st = Some(State { priq, gen });
            a.on.store(true, Ordering::Release);
        }
        let weak = Arc::downgrade(ifp);
        let spawned = std::thread::Builder::new()
            .name(format!("altq-{}", ifp.name))
            .spawn(move || queue_thread(weak, gen));
        if let Err(e) = spawned {
            a.on.store(false, Ordering::Release);
            *a.lock() = None;
            return Err(format!("altq on {}: {e}", ifp.name));
        }
        Ok(())
    }

    /// Takes the discipline off (its waiting packets are dropped); the interface sends
    /// straight to the driver again. Whether there was one.
    pub fn detach(&self) -> bool {
        let mut st = self.lock();
        self.on.store(false, Ordering::Release);
        let had = st.take().is_some();
        // A thread waiting on the old state sees none and ends.
        drop(st);
        self.cv.notify_all();
        had
    }

    /// The classes' counters and the discipline's bandwidth, if one is attached.
    pub fn stats(&self) -> Option<(u64, usize, Vec<QueueStats>)> {
        let mut st = self.lock();
        let s = st.as_mut()?;
        Some((s.priq.bandwidth, s.priq.tbrsize, s.priq.stats(Instant::now())))
    }

    /// `Ifnet::output` with a discipline: queues `m`, then sends what the bucket allows.
    /// ENOBUFS when the class is full (the packet is dropped, as ALTQ_ENQUEUE does).
    pub fn enqueue(&self, ifp: &Ifnet, m: Mbuf) -> Result<(), i32> {
        let mut st = self.lock();
        let Some(s) = st.as_mut() else {
            drop(st);
            return ifp.transmit(m.as_slice(), &m.meta());
        };
        if s.priq.enqueue(m).is_err() {
            crate::net::ifnet::inc(&ifp.stats.iqdrops);
            return Err(libc::ENOBUFS);
        }
        drain(ifp, &mut s.priq, Instant::now());
        if !s.priq.is_empty() {
            self.cv.notify_one();
        }
        Ok(())
    }
}

/// Sends what the bucket allows now. A driver error counts in `oerrors` (in `transmit`)
/// and drops that packet.
fn drain(ifp: &Ifnet, priq: &mut Priq, now: Instant) {
    while let Some(m) = priq.dequeue(now) {
        let _ = ifp.transmit(m.as_slice(), &m.meta());
    }
}

/// The interface's queue thread: sends the packets the bucket held back when it has
/// tokens again. Ends when the discipline is detached or the interface is gone.
fn queue_thread(ifp: Weak<Ifnet>, gen: u64) {
    loop {
        let Some(ifp) = ifp.upgrade() else {
            return;
        };
        let a = &ifp.altq;
        let mut st = a.lock();
        let wait = match st.as_mut() {
            None => return,
            Some(s) if s.gen != gen => return,
            Some(s) => {
                let now = Instant::now();
                drain(&ifp, &mut s.priq, now);
                // Nothing waiting: sleep until a sender wakes us (with a bound, so a gone
                // interface is noticed).
                s.priq
                    .next_ready()
                    .map_or(Duration::from_millis(500), |t| t.saturating_duration_since(now))
            }
        };
        if !wait.is_zero() {
            st = a.cv.wait_timeout(st, wait).unwrap_or_else(|p| p.into_inner()).0;
        }
        drop(st);
    }
}

/// Queue names to the ids rules put in `Mbuf::qid` (NetBSD's `pf_qname2qid`): one id
/// per name for the stack's life, from 1, the same on every interface, so PF's engine
/// can set a packet's queue before it knows the interface it leaves by.
static QNAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The id of queue `name` (allocated on first use).
pub fn qname_to_qid(name: &str) -> u32 {
    let mut t = QNAMES.lock().unwrap_or_else(|p| p.into_inner());
    let i = match t.iter().position(|n| n == name) {
        Some(i) => i,
        None => {
            t.push(name.to_string());
            t.len() - 1
        }
    };
    i as u32 + 1
}

/// The discipline's configuration from pfctl's definitions (`msg::pf`): the `altq on` line
/// and the queues of the ruleset (those of other interfaces are skipped). RED, RIO and
/// ECN on a PRIQ queue are refused; a `qlimit` on the `altq` line is every queue's
/// default.
pub fn conf_from_model(a: &AltqDef, queues: &[PfQueueDef]) -> Result<PriqConf, String> {
    let mut out = Vec::with_capacity(a.queues.len());
    for name in &a.queues {
        let Some(q) = queues
            .iter()
            .find(|q| q.name == *name && (q.ifname.is_empty() || q.ifname == a.ifname))
        else {
            return Err(format!("queue {name} has no parent on {}", a.ifname));
        };
        for (on, what) in [(q.opts.red, "red"), (q.opts.rio, "rio"), (q.opts.ecn, "ecn")] {
            if on {
                return Err(format!("queue {name}: priq({what}) not supported, only priq(default)"));
            }
        }
        let qlimit = if q.qlimit != 0 { q.qlimit } else { a.qlimit };
        out.push(QueueConf {
            name: q.name.clone(),
            qid: qname_to_qid(&q.name),
            priority: q.priority,
            qlimit: qlimit as usize,
            default: q.opts.default,
        });
    }
    Ok(PriqConf {
        ifname: a.ifname.clone(),
        bandwidth: a.bandwidth,
        tbrsize: a.tbrsize as usize,
        queues: out,
    })
}

/// Puts the ruleset's ALTQ definitions on the interfaces, all or none: every definition is
/// checked first (an unknown interface: `altq on IF: no such interface`), then each named
/// interface gets its discipline and every other interface loses the one it had.
pub fn commit(ifnets: &[Arc<Ifnet>], altq: &[AltqDef], queues: &[PfQueueDef]) -> Result<(), String> {
    let mut plan = Vec::with_capacity(altq.len());
    for a in altq {
        let Some(ifp) = ifnets.iter().find(|i| i.name == a.ifname) else {
            return Err(format!("altq on {}: no such interface", a.ifname));
        };
        if plan.iter().any(|(i, _): &(&Arc<Ifnet>, PriqConf)| i.name == a.ifname) {
            return Err(format!("altq on {}: more than one altq on the interface", a.ifname));
        }
        let conf = conf_from_model(a, queues)?;
        Priq::new(&conf, ifp.mtu(), Instant::now())?;
        plan.push((ifp, conf));
    }
    for ifp in ifnets {
        if !plan.iter().any(|(i, _)| Arc::ptr_eq(i, ifp)) {
            ifp.altq.detach();
        }
    }
    for (ifp, conf) in plan {
        IfAltq::attach(ifp, &conf)?;
    }
    Ok(())
}

/// The counters of every attached discipline, as `pfctl -s queue` asks for them (the
/// definitions as the ruleset gave them, with each queue's counters).
pub fn queue_stats(ifnets: &[Arc<Ifnet>], queues: &[PfQueueDef]) -> Vec<(PfQueueDef, PfQueueStats)> {
    let mut out = Vec::new();
    for ifp in ifnets {
        let Some((_, _, st)) = ifp.altq.stats() else {
            continue;
        };
        for q in st {
            let def = queues
                .iter()
                .find(|d| d.name == q.name && (d.ifname.is_empty() || d.ifname == ifp.name))
                .cloned()
                .unwrap_or_else(|| PfQueueDef {
                    name: q.name.clone(),
                    ifname: ifp.name.clone(),
                    priority: q.priority,
                    qlimit: q.qlimit as u32,
                    bandwidth: None,
                    opts: Default::default(),
                });
            out.push((
                def,
                PfQueueStats {
                    packets: q.packets,
                    bytes: q.bytes,
                    dropped_packets: q.drop_packets,
                    dropped_bytes: q.drop_bytes,
                    qlength: q.qlength as u32,
                    qlimit: q.qlimit as u32,
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(queues: &[(&str, u32, u8, usize, bool)]) -> PriqConf {
        PriqConf {
            ifname: "en0".into(),
            bandwidth: 10_000_000,
            tbrsize: 0,
            queues: queues
                .iter()
                .map(|&(n, qid, priority, qlimit, default)| QueueConf {
                    name: n.into(),
                    qid,
                    priority,
                    qlimit,
                    default,
                })
                .collect(),
        }
    }

    fn pkt(qid: u32, len: usize, tag: u8) -> Mbuf {
        let mut m = Mbuf::from_slice(&vec![tag; len]);
        m.qid = qid;
        m
    }

    fn two() -> PriqConf {
        conf(&[("ssh", 1, 7, 0, false), ("std", 2, 1, 0, true)])
    }

    #[test]
    fn configuration_is_checked() {
        let t = Instant::now();
        assert!(Priq::new(&two(), 1500, t).is_ok());
        let e = |c: PriqConf| Priq::new(&c, 1500, t).err().unwrap();
        assert_eq!(
            e(conf(&[("a", 1, 16, 0, true)])),
            "a: priority out of range: 16 (max 15)"
        );
        assert_eq!(
            e(conf(&[("a", 1, 3, 0, true), ("b", 2, 3, 0, false)])),
            "b does not have a unique priority on interface en0"
        );
        assert_eq!(
            e(conf(&[("a", 1, 3, 0, false), ("b", 2, 4, 0, false)])),
            "should have one default queue on en0"
        );
        assert_eq!(
            e(conf(&[("a", 1, 3, 0, true), ("b", 2, 4, 0, true)])),
            "should have one default queue on en0"
        );
        assert_eq!(
            e(conf(&[("a", 1, 3, 0, true), ("a", 2, 4, 0, false)])),
            "queue a: duplicate queue on interface en0"
        );
        let mut c = two();
        c.bandwidth = 0;
        assert_eq!(e(c), "altq on en0: bandwidth must be above 0");
        assert_eq!(scheduler_supported("en0", "priq"), Ok(()));
        assert_eq!(
            scheduler_supported("en0", "cbq"),
            Err("altq on en0: cbq not supported, only priq".into())
        );
        assert!(scheduler_supported("en0", "hfsc").is_err());
    }

    #[test]
    fn pfctl_default_bucket_depths() {
        assert_eq!(default_tbrsize(1_000_000, 1500), 1500);
        assert_eq!(default_tbrsize(10_000_000, 1500), 6000);
        assert_eq!(default_tbrsize(100_000_000, 1500), 12000);
        assert_eq!(default_tbrsize(1_000_000_000, 1500), 36000);
        assert_eq!(default_tbrsize(1_000_000_000, 9000), 0xffff);
        let p = Priq::new(&two(), 1500, Instant::now()).unwrap();
        assert_eq!(p.tbrsize, 6000);
    }

    #[test]
    fn higher_priority_goes_first_and_unclassified_goes_to_default() {
        let t = Instant::now();
        let mut c = two();
        c.bandwidth = 1_000_000_000;
        let mut p = Priq::new(&c, 1500, t).unwrap();
        for i in 0..3 {
            p.enqueue(pkt(2, 100, i)).unwrap();
        }
        p.enqueue(pkt(0, 100, 10)).unwrap(); // no queue: std
        p.enqueue(pkt(99, 100, 11)).unwrap(); // unknown: std
        p.enqueue(pkt(1, 100, 20)).unwrap();
        p.enqueue(pkt(1, 100, 21)).unwrap();
        assert_eq!(p.len(), 7);
        let order: Vec<u8> = std::iter::from_fn(|| p.dequeue(t)).map(|m| m.as_slice()[0]).collect();
        assert_eq!(order, [20, 21, 0, 1, 2, 10, 11]);
        let s = p.stats(t);
        assert_eq!((s[0].name.as_str(), s[0].packets, s[0].bytes), ("ssh", 2, 200));
        assert_eq!((s[1].name.as_str(), s[1].packets, s[1].default), ("std", 5, true));
    }

    #[test]
    fn a_full_class_drops_and_counts() {
        let t = Instant::now();
        let mut p = Priq::new(&conf(&[("a", 1, 3, 2, true), ("b", 2, 5, 0, false)]), 1500, t).unwrap();
        assert!(p.enqueue(pkt(1, 60, 0)).is_ok());
        assert!(p.enqueue(pkt(1, 60, 1)).is_ok());
        assert!(p.enqueue(pkt(1, 70, 2)).is_err());
        // Another class still takes packets, up to its default limit.
        for i in 0..DEFAULT_QLIMIT {
            assert!(p.enqueue(pkt(2, 60, i as u8)).is_ok());
        }
        assert!(p.enqueue(pkt(2, 60, 0)).is_err());
        let s = p.stats(t);
        let a = s.iter().find(|q| q.name == "a").unwrap();
        assert_eq!((a.qlength, a.qlimit, a.drop_packets, a.drop_bytes), (2, 2, 1, 70));
        let b = s.iter().find(|q| q.name == "b").unwrap();
        assert_eq!((b.qlength, b.qlimit, b.drop_packets), (50, 50, 1));
    }

    #[test]
    fn the_bucket_limits_the_rate() {
        // 10 Mbit/s, a bucket of 10 ms (12500 bytes; pfctl's 6000 is less): in 100 ms of
        // simulated time about 125000 bytes go (plus the bucket and one packet of
        // overdraft), not more.
        let t0 = Instant::now();
        let mut p = Priq::new(&two(), 1500, t0).unwrap();
        let mut sent = 0usize;
        let mut now = t0;
        let end = t0 + Duration::from_millis(100);
        while now <= end {
            while p.len() < 40 {
                p.enqueue(pkt(2, 1500, 0)).unwrap();
            }
            while let Some(m) = p.dequeue(now) {
                sent += m.len();
            }
            // The queue says when to look again, and that is in the future.
            let next = p.next_ready().unwrap();
            assert!(next > now);
            now = next;
        }
        let ideal = 125_000 + 12_500;
        assert!(sent <= ideal + 1500, "sent {sent}");
        assert!(sent >= ideal - 3000, "sent {sent}");
    }

    #[test]
    fn priority_wins_under_the_bucket() {
        // With bulk traffic keeping the low class full, a high-priority packet waits for
        // at most one packet's time, never behind the bulk backlog.
        let t0 = Instant::now();
        let mut p = Priq::new(&two(), 1500, t0).unwrap();
        for _ in 0..50 {
            p.enqueue(pkt(2, 1500, 0)).unwrap();
        }
        let mut now = t0;
        // Use up the bucket.
        while p.dequeue(now).is_some() {}
        p.enqueue(pkt(1, 84, 7)).unwrap();
        now = p.next_ready().unwrap();
        let m = p.dequeue(now).unwrap();
        assert_eq!(m.as_slice()[0], 7);
        assert_eq!(m.len(), 84);
        // The wait was well under the 50 bulk packets' 60 ms.
        assert!(now.duration_since(t0) < Duration::from_millis(5));
    }

    #[test]
    fn rates_are_measured() {
        let t0 = Instant::now();
        let mut c = two();
        c.bandwidth = 1_000_000_000;
        let mut p = Priq::new(&c, 1500, t0).unwrap();
        let mut now = t0;
        for _ in 0..30 {
            now += Duration::from_millis(100);
            for _ in 0..10 {
                p.enqueue(pkt(2, 1000, 0)).unwrap();
            }
            while p.dequeue(now).is_some() {}
        }
        let s = p.stats(now);
        let std = &s[1];
        // 100 packets of 1000 bytes a second.
        assert!((std.pps - 100.0).abs() < 15.0, "{}", std.pps);
        assert!((std.bps - 800_000.0).abs() < 120_000.0, "{}", std.bps);
        assert_eq!(s[0].pps, 0.0);
    }

    /// A driver that records what it is given and when.
    type Sent = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;
    struct Rec(Sent);

    impl pktbox_drivers::Driver for Rec {
        fn kind(&self) -> &'static str {
            "rec"
        }
        fn raw_fd(&self) -> std::os::fd::RawFd {
            -1
        }
        fn recv(&self, _: &mut [u8]) -> std::io::Result<pktbox_drivers::Recv> {
            Ok(pktbox_drivers::Recv::WouldBlock)
        }
        fn send(&self, frame: &[u8]) -> std::io::Result<()> {
            self.0.lock().unwrap().push((Instant::now(), frame.to_vec()));
            Ok(())
        }
        fn link_up(&self) -> bool {
            true
        }
        fn details(&self) -> Vec<(String, String)> {
            Vec::new()
        }
    }

    #[test]
    fn an_interface_sends_through_its_queue() {
        let sent: Sent = Arc::new(Mutex::new(Vec::new()));
        let ifp = Arc::new(Ifnet::ether(
            1,
            "en0".into(),
            [2, 0, 0, 0, 0, 1],
            1500,
            Box::new(Rec(sent.clone())),
        ));
        ifp.set_up(true);
        // Without a discipline the frame goes at once.
        ifp.output(pkt(1, 60, 1)).unwrap();
        assert_eq!(sent.lock().unwrap().len(), 1);
        assert!(ifp.altq.stats().is_none());

        let mut c = two();
        c.bandwidth = 1_000_000;
        IfAltq::attach(&ifp, &c).unwrap();
        let t0 = Instant::now();
        // 50 bulk frames fill the low class (its limit); the 51st is refused.
        for _ in 0..50 {
            ifp.output(pkt(2, 1500, 2)).unwrap();
        }
        let mut dropped = 0;
        for _ in 0..10 {
            if ifp.output(pkt(2, 1500, 2)) == Err(libc::ENOBUFS) {
                dropped += 1;
            }
        }
        assert!(dropped > 0);
        ifp.output(pkt(1, 100, 7)).unwrap();
        // Bulk frames still waiting now were waiting when the ping went in: each of them
        // must leave after it.
        let (_, _, st) = ifp.altq.stats().unwrap();
        let waiting = st[1].qlength;
        assert!(waiting > 0, "1 Mbit/s sends 50 frames in 600 ms");
        // Wait for the queue thread to send everything.
        while ifp.altq.stats().unwrap().2.iter().any(|q| q.qlength > 0) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let frames = sent.lock().unwrap().clone();
        let ping = frames.iter().position(|(_, f)| f[0] == 7).unwrap();
        assert!(frames.len() - 1 - ping >= waiting, "ping at {ping} of {}", frames.len());
        // The bucket held the rate: the bytes past the bucket's depth took at least their
        // time at 1 Mbit/s.
        let bytes: usize = frames[1..].iter().map(|(_, f)| f.len()).sum();
        let last = frames.last().unwrap().0;
        let floor = Duration::from_secs_f64((bytes - 1500 - 1500) as f64 * 8.0 / 1e6);
        assert!(last.duration_since(t0) >= floor);
        let (_, _, st) = ifp.altq.stats().unwrap();
        assert_eq!(st[0].packets + st[1].packets, frames.len() as u64 - 1);
        assert_eq!(st[1].drop_packets, dropped);
        assert_eq!(ifp.data().ifi_iqdrops, dropped);

        // Detached: straight to the driver again.
        assert!(ifp.altq.detach());
        ifp.output(pkt(1, 60, 9)).unwrap();
        assert_eq!(sent.lock().unwrap().last().unwrap().1[0], 9);
        assert!(!ifp.altq.detach());
    }

    #[test]
    fn pfctl_definitions_become_a_discipline() {
        use crate::msg::pf::PriqOpts;
        let a = AltqDef {
            ifname: "en0".into(),
            bandwidth: 10_000_000,
            qlimit: 0,
            tbrsize: 0,
            queues: vec!["ssh".into(), "std".into()],
        };
        let q = |name: &str, priority, default| PfQueueDef {
            name: name.into(),
            ifname: "en0".into(),
            priority,
            qlimit: 0,
            bandwidth: None,
            opts: PriqOpts {
                default,
                ..PriqOpts::default()
            },
        };
        let qs = vec![q("ssh", 7, false), q("std", 1, true)];
        let c = conf_from_model(&a, &qs).unwrap();
        assert_eq!(c.queues.len(), 2);
        assert_eq!(c.queues[0].qid, qname_to_qid("ssh"));
        assert_ne!(qname_to_qid("ssh"), qname_to_qid("std"));
        assert!(c.queues[1].default);

        let sent: Sent = Arc::new(Mutex::new(Vec::new()));
        let ifp = Arc::new(Ifnet::ether(
            1,
            "en0".into(),
            [2, 0, 0, 0, 0, 1],
            1500,
            Box::new(Rec(sent)),
        ));
        let ifs = vec![ifp.clone()];
        commit(&ifs, std::slice::from_ref(&a), &qs).unwrap();
        assert!(ifp.altq.is_on());
        let st = queue_stats(&ifs, &qs);
        assert_eq!(st.len(), 2);
        assert_eq!((st[0].0.name.as_str(), st[0].1.qlimit), ("ssh", 50));
        // A bad set changes nothing; an empty one takes the discipline off.
        let mut red = qs.clone();
        red[0].opts.red = true;
        assert_eq!(
            commit(&ifs, std::slice::from_ref(&a), &red),
            Err("queue ssh: priq(red) not supported, only priq(default)".into())
        );
        let mut other = a.clone();
        other.ifname = "en9".into();
        assert_eq!(
            commit(&ifs, &[other], &qs),
            Err("altq on en9: no such interface".into())
        );
        assert!(ifp.altq.is_on());
        commit(&ifs, &[], &[]).unwrap();
        assert!(!ifp.altq.is_on());
    }
}
