//! The mechanisms of the stack, which name no protocol: threads, the stack context's lock,
//! domain registration (`domain`), the callout thread, the sysctl tree, logging.
//!
//! `Stack` is shared by every thread. Layer 2 (interface counters, flags, the driver) is
//! reachable without the stack context; everything from ARP and IP up lives in `Ctx`
//! (`conf.rs`, with the list of domains) behind one lock, which a receive thread takes to carry a packet up, as io-pkt's
//! receive threads "become the stack thread".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

pub mod callout;
pub mod clock;
pub mod domain;
pub mod log;
pub mod mbuf;
mod opts;
pub mod random;
pub mod run;
pub mod rxthread;
pub mod sysctl;

use crate::conf::Ctx;

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

/// The stack context, held. Before it is let go, packets that the work done under it sent
/// to the stack's own addresses go around through lo0, as a BSD loopback interface's queue
/// is served after the sender is done: a reply is never processed in the middle of
/// sending what it answers.
///
/// Sockets that the work done under it woke (a parked request may go on) are handed to
/// the channel server once the context is let go. Both are the protocols' registered
/// release hooks (`Protosw::release`), run in registration order.
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
        let mut woken = Vec::new();
        for f in &self.stack.registry.release {
            f(&mut g, &mut woken);
        }
        if woken.is_empty() {
            return;
        }
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
    /// Modules to attach at start (`-p pf`), by the name given; `conf::MODULES` has them.
    pub modules: Vec<String>,
}

/// One running stack, shared by every thread.
pub struct Stack {
    pub variant: Variant,
    pub config: Config,
    /// The domains of this variant and what they registered.
    pub registry: domain::Registry,
    ctx: Mutex<Ctx>,
    shutdown: AtomicBool,
    /// Wakes the callout thread early.
    pub callout: Arc<callout::Kick>,
    /// Set by the channel server when it starts.
    pub waker: OnceLock<Waker>,
    /// The interfaces the receive threads serve.
    pub rx: rxthread::RxSet,
    /// Which families have pfil hooks (`Pfil::armed`, shared), for threads without the
    /// context.
    pub pfil_armed: Arc<std::sync::atomic::AtomicU8>,
}

impl Stack {
    /// A stack with no channel, driver or thread of its own: the context alone, for unit
    /// tests and the fuzz harness.
    pub fn detached() -> Arc<Stack> {
        Stack::detached_variant(Variant::V4)
    }

    /// `detached`, of another variant (io-pkt-v6-hc: with the inet6 domain).
    pub fn detached_variant(variant: Variant) -> Arc<Stack> {
        Stack::new(Config {
            variant,
            prefix: "/nonexistent".into(),
            forward: false,
            rx_threads: 1,
            rx_prio: None,
            threads_min: 1,
            threads_max: 1,
            verbose: 0,
            modules: Vec::new(),
        })
    }

    /// A stack of the domains `conf::DOMAINS` has for its variant, set up by their
    /// `init`.
    pub fn new(config: Config) -> Arc<Stack> {
        let ctx = Ctx::new();
        let pfil_armed = ctx.pfil.armed.clone();
        let stack = Arc::new(Stack {
            variant: config.variant,
            registry: domain::Registry::new(crate::conf::DOMAINS, config.variant),
            config,
            ctx: Mutex::new(ctx),
            shutdown: AtomicBool::new(false),
            callout: Arc::new(callout::Kick::default()),
            waker: OnceLock::new(),
            rx: rxthread::RxSet::default(),
            pfil_armed,
        });
        stack.registry.init(&mut stack.ctx(), &stack);
        stack
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
        self.rx.changed();
    }
}
