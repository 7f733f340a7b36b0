//! Threads and the stack context, the sysctl tree, logging.
//!
//! `Stack` is shared by every thread. Layer 2 (interface counters, flags, the driver) is
//! reachable without the stack context; everything from ARP and IP up lives in `Ctx`
//! behind one lock, which a receive thread takes to carry a packet up, as io-pkt's
//! receive threads "become the stack thread".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

pub mod callout;
pub mod log;
pub mod mbuf;
mod opts;
pub mod random;
pub mod run;
pub mod rxthread;
pub mod sysctl;

use crate::inet::InState;
use crate::net::arp::{ArpCache, ArpStats};
use crate::net::ifnet::Ifnet;
use crate::net::route::RouteTable;
use crate::net::route_socket::RouteSocket;

/// The stack variants of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Reduced footprint: IPv4 only; no IPsec, bridging or multilink PPP.
    V4,
    /// IPv4 with IPsec.
    V4Hc,
    /// Everything, IPv4 as part of v6.
    V6Hc,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::V4 => "io-pkt-v4",
            Variant::V4Hc => "io-pkt-v4-hc",
            Variant::V6Hc => "io-pkt-v6-hc",
        }
    }

    pub fn from_name(s: &str) -> Option<Variant> {
        match s {
            "io-pkt-v4" => Some(Variant::V4),
            "io-pkt-v4-hc" => Some(Variant::V4Hc),
            "io-pkt-v6-hc" | "io-pkt" => Some(Variant::V6Hc),
            _ => None,
        }
    }

    pub fn has_inet6(self) -> bool {
        self == Variant::V6Hc
    }

    pub fn has_ipsec(self) -> bool {
        self != Variant::V4
    }

    pub fn has_bridge(self) -> bool {
        self != Variant::V4
    }

    /// The message for a feature this variant lacks: which variant has it.
    pub fn lacks(self, feature: &str) -> String {
        let has = if feature == "IPv6" {
            "io-pkt-v6-hc"
        } else {
            "io-pkt-v4-hc or io-pkt-v6-hc"
        };
        format!("{} has no {feature}; use {has}", self.name())
    }
}

/// The stack context: layer 3 and up, and the state the control requests change.
pub struct Ctx {
    /// Attached interfaces, in index order.
    pub ifnets: Vec<Arc<Ifnet>>,
    /// IPv4 addresses and parameters.
    pub inet: InState,
    pub arpstat: ArpStats,
    pub arp: ArpCache,
    /// The IPv4 routing table.
    pub rt: RouteTable,
    pub hostname: String,
    /// Subscribers to routing broadcasts.
    pub rtsock: RouteSocket,
    /// The rate limit of log lines that network input causes (`klog_net!`).
    pub netlog: log::NetLog,
}

impl Ctx {
    pub fn ifnet_by_name(&self, name: &str) -> Option<&Arc<Ifnet>> {
        self.ifnets.iter().find(|i| i.name == name)
    }

    pub fn ifnet_by_index(&self, index: u16) -> Option<&Arc<Ifnet>> {
        self.ifnets.iter().find(|i| i.index == index)
    }
}

/// The stack context, held. Before it is let go, packets that the work done under it sent
/// to the stack's own addresses go around through lo0, as a BSD loopback interface's queue
/// is served after the sender is done: a reply is never processed in the middle of
/// sending what it answers.
///
/// Sockets that the work done under it woke (a parked request may go on) are handed to
/// the channel server once the context is let go.
pub struct CtxGuard<'a> {
    g: Option<MutexGuard<'a, Ctx>>,
    stack: &'a Stack,
}

impl std::ops::Deref for CtxGuard<'_> {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        // Only `drop` takes the inner guard out.
        self.g.as_ref().expect("the stack context is held")
    }
}

impl std::ops::DerefMut for CtxGuard<'_> {
    fn deref_mut(&mut self) -> &mut Ctx {
        self.g.as_mut().expect("the stack context is held")
    }
}

impl Drop for CtxGuard<'_> {
    fn drop(&mut self) {
        let Some(mut g) = self.g.take() else { return };
        crate::inet::ip::loopback_drain(&mut g);
        crate::inet::tcp::timer::tcp_sched_touched(&mut g);
        if g.inet.tcp.woken.is_empty() {
            return;
        }
        let woken = std::mem::take(&mut g.inet.tcp.woken);
        drop(g);
        if let Some(w) = self.stack.waker.get() {
            for id in woken {
                w(id);
            }
        }
    }
}

/// What the stack calls with the id of a socket whose parked request may go on.
pub type Waker = Box<dyn Fn(u64) + Send + Sync>;

/// Settings given on the command line (`-p tcpip ...`, `-t`).
#[derive(Debug, Clone)]
pub struct Config {
    pub variant: Variant,
    pub prefix: std::path::PathBuf,
    pub forward: bool,
    pub rx_threads: usize,
    pub rx_prio: Option<i32>,
    pub threads_min: usize,
    pub threads_max: usize,
    pub verbose: u32,
}

/// One running stack, shared by every thread.
pub struct Stack {
    pub variant: Variant,
    pub config: Config,
    ctx: Mutex<Ctx>,
    shutdown: AtomicBool,
    /// Wakes the callout thread early.
    pub callout: Arc<callout::Kick>,
    /// Set by the channel server when it starts.
    pub waker: OnceLock<Waker>,
}

impl Stack {
    /// A stack with no channel, driver or thread of its own: the context alone, for unit
    /// tests and the fuzz harness.
    pub fn detached() -> Arc<Stack> {
        Stack::new(Config {
            variant: Variant::V4,
            prefix: "/nonexistent".into(),
            forward: false,
            rx_threads: 1,
            rx_prio: None,
            threads_min: 1,
            threads_max: 1,
            verbose: 0,
        })
    }

    pub fn new(config: Config) -> Arc<Stack> {
        let inet = InState {
            forwarding: config.forward,
            ..Default::default()
        };
        let ctx = Ctx {
            ifnets: Vec::new(),
            inet,
            arpstat: ArpStats::default(),
            arp: ArpCache::default(),
            rt: RouteTable::default(),
            hostname: String::new(),
            rtsock: RouteSocket::default(),
            netlog: log::NetLog::default(),
        };
        let kick = Arc::new(callout::Kick::default());
        let mut ctx = ctx;
        ctx.inet.tcp.callout = kick.clone();
        Arc::new(Stack {
            variant: config.variant,
            config,
            ctx: Mutex::new(ctx),
            shutdown: AtomicBool::new(false),
            callout: kick,
            waker: OnceLock::new(),
        })
    }

    /// Takes the stack context. A thread that panicked while holding it cannot leave the
    /// stack unusable: the context is plain data and every change is made whole or not.
    pub fn ctx(&self) -> CtxGuard<'_> {
        CtxGuard {
            g: Some(self.ctx.lock().unwrap_or_else(|p| p.into_inner())),
            stack: self,
        }
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.callout.kick();
    }
}
