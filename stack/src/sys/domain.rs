//! Domains and protocol switches (NetBSD's `struct domain` and `struct protosw`): how a
//! family and its protocols plug into the stack without the base naming them.
//!
//! A domain (inet, arp, later inet6, pf, ipsec, ppp) declares itself next to its code as a
//! `static Domain`; `conf.rs` lists the domains compiled in, each one saying for which
//! variants it is present. At start the stack keeps those of its variant and from them
//! builds what the mechanisms here walk: the callout thread's timers, the sysctl tree, the
//! statistics `netstat -s` reads, the hooks run when the stack context is let go, and each
//! domain's `init`.
//!
//! Registration serves the slow paths only. The per-protocol state stays a plain field of
//! `Ctx` (no lookup or downcast per packet), and a domain's input table (`protox`) is a
//! static array built at compile time from its protocol switch.

use std::sync::Arc;

use crate::conf::Ctx;
use crate::msg::Stats;
use crate::net::ifnet::Ifnet;
use crate::sys::callout::Timer;
use crate::sys::sysctl::Node;
use crate::sys::{Stack, Variant};

/// A protocol's input routine (`pr_input`): the whole datagram, the interface it came in
/// on, whether it was sent to a broadcast address, and whether its transport checksum was
/// already verified (by the interface).
pub type PrInput = fn(&mut Ctx, &Arc<Ifnet>, &[u8], bool, bool);

/// What runs when the stack context is let go (`CtxGuard`'s drop): work deferred until the
/// sender is done (loopback delivery, timer scheduling). It appends the ids of sockets it
/// woke to the list, which the channel server is handed once the context is free.
pub type Release = fn(&mut Ctx, &mut Vec<u64>);

/// Adds a protocol's counters to the statistics `netstat -s` reads.
pub type StatsReader = fn(&Ctx, &mut Stats);

/// Configures lo0 for a domain when the stack starts; the error says why it could not.
pub type LoopbackAttach = fn(&mut Ctx, &Arc<Ifnet>) -> Result<(), String>;

/// Sets up a domain's or a protocol's state once the stack exists (`dom_init`, `pr_init`).
pub type Init = fn(&mut Ctx, &Stack);

/// One protocol of a domain (`struct protosw`). Every part is optional but the name.
pub struct Protosw {
    pub name: &'static str,
    /// The protocol number in its domain's header (IPPROTO_*), 0 for none.
    pub protocol: u8,
    /// Input by `protocol`; see `protox`.
    pub input: Option<PrInput>,
    pub init: Option<Init>,
    /// Timed work the callout thread runs (`pr_slowtimo`, `pr_fasttimo`).
    pub timers: &'static [Timer],
    /// Sysctl leaves, each slice one table (a protocol may keep a table next to the code a
    /// node controls).
    pub sysctl: &'static [&'static [Node]],
    pub stats: Option<StatsReader>,
    pub release: Option<Release>,
}

impl Protosw {
    /// A protocol with nothing registered: `Protosw { name, ..Protosw::EMPTY }`.
    pub const EMPTY: Protosw = Protosw {
        name: "",
        protocol: 0,
        input: None,
        init: None,
        timers: &[],
        sysctl: &[],
        stats: None,
        release: None,
    };
}

/// A family and its protocols (`struct domain`).
pub struct Domain {
    pub name: &'static str,
    /// The address family (AF_*).
    pub family: i32,
    /// Whether the variant has this domain (`Variant::has_inet6` for inet6).
    pub present: fn(Variant) -> bool,
    pub init: Option<Init>,
    /// Gives lo0 the domain's loopback address (127.0.0.1/8, ::1) when the stack starts.
    pub loopback: Option<LoopbackAttach>,
    pub protosw: &'static [Protosw],
}

/// For `Domain::present`: every variant.
pub fn always(_: Variant) -> bool {
    true
}

/// The input table of a protocol switch (NetBSD's `ip_protox`): the input routine of each
/// protocol number, built at compile time so that delivering a datagram is one indexed
/// load and call.
pub const fn protox(sw: &[Protosw]) -> [Option<PrInput>; 256] {
    let mut t: [Option<PrInput>; 256] = [None; 256];
    let mut i = 0;
    while i < sw.len() {
        if sw[i].input.is_some() {
            t[sw[i].protocol as usize] = sw[i].input;
        }
        i += 1;
    }
    t
}

/// What a running stack registered: its variant's domains and, gathered from them, the
/// lists the mechanisms walk.
pub struct Registry {
    pub domains: Vec<&'static Domain>,
    pub timers: Vec<&'static Timer>,
    pub stats: Vec<StatsReader>,
    pub release: Vec<Release>,
    pub sysctl: crate::sys::sysctl::Tree,
}

impl Registry {
    /// The domains of `all` present in `variant`, in the order given.
    pub fn new(all: &[&'static Domain], variant: Variant) -> Registry {
        let domains: Vec<&'static Domain> = all.iter().copied().filter(|d| (d.present)(variant)).collect();
        let sw = || domains.iter().flat_map(|d| d.protosw.iter());
        Registry {
            timers: sw().flat_map(|p| p.timers.iter()).collect(),
            stats: sw().filter_map(|p| p.stats).collect(),
            release: sw().filter_map(|p| p.release).collect(),
            sysctl: crate::sys::sysctl::Tree::new(sw().flat_map(|p| p.sysctl.iter().flat_map(|t| t.iter()))),
            domains,
        }
    }

    /// Runs every domain's and protocol's `init`, in registration order.
    pub fn init(&self, ctx: &mut Ctx, stack: &Stack) {
        for d in &self.domains {
            if let Some(f) = d.init {
                f(ctx, stack);
            }
            for p in d.protosw {
                if let Some(f) = p.init {
                    f(ctx, stack);
                }
            }
        }
    }

    /// Gives lo0 each domain's loopback address.
    pub fn loopback(&self, ctx: &mut Ctx, lo: &Arc<Ifnet>) -> Result<(), String> {
        for d in &self.domains {
            if let Some(f) = d.loopback {
                f(ctx, lo)?;
            }
        }
        Ok(())
    }

    /// The statistics of every registered protocol.
    pub fn stats(&self, ctx: &Ctx) -> Stats {
        let mut s = Stats::default();
        for f in &self.stats {
            f(ctx, &mut s);
        }
        s
    }

    pub fn domain(&self, name: &str) -> Option<&'static Domain> {
        self.domains.iter().copied().find(|d| d.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::SysctlValue;
    use crate::sys::sysctl::Kind;

    static TEST6_NODES: &[Node] = &[Node {
        name: "net.test6.hops",
        desc: "A node of a domain only io-pkt-v6-hc has",
        kind: Kind::Int { min: 0, max: 255 },
        get: |_| SysctlValue::Int(64),
        set: None,
    }];

    static TEST6: Domain = Domain {
        name: "test6",
        family: 24,
        present: Variant::has_inet6,
        init: None,
        loopback: None,
        protosw: &[Protosw {
            name: "test6",
            sysctl: &[TEST6_NODES],
            ..Protosw::EMPTY
        }],
    };

    #[test]
    fn a_gated_domain_is_only_in_its_variants() {
        let all: Vec<&'static Domain> = crate::conf::DOMAINS.iter().copied().chain([&TEST6]).collect();
        let s = Stack::detached();
        let ctx = s.ctx();
        for v in [Variant::V4, Variant::V4Hc, Variant::V6Hc] {
            let r = Registry::new(&all, v);
            let names: Vec<String> = r.sysctl.get(&ctx, "").unwrap().into_iter().map(|e| e.name).collect();
            assert!(
                names.iter().any(|n| n == "net.inet.ip.ttl"),
                "{v:?}: inet is in every variant"
            );
            assert_eq!(names.iter().any(|n| n == "net.test6.hops"), v.has_inet6(), "{v:?}");
            assert_eq!(r.domain("test6").is_some(), v.has_inet6());
            if !v.has_inet6() {
                let e = r.sysctl.get(&ctx, "net.test6").unwrap_err();
                assert_eq!(e.errno, libc::ENOENT);
            }
        }
    }

    #[test]
    fn protox_maps_each_registered_number() {
        let inet = crate::conf::DOMAINS.iter().find(|d| d.name == "inet").unwrap();
        let t = protox(inet.protosw);
        for p in inet.protosw {
            assert_eq!(t[p.protocol as usize].is_some(), p.input.is_some(), "{}", p.name);
        }
        assert!(t[crate::wire::ipv4::IPPROTO_TCP as usize].is_some());
        assert!(t[crate::wire::ipv4::IPPROTO_UDP as usize].is_some());
        assert!(t[crate::wire::ipv4::IPPROTO_ICMP as usize].is_some());
        assert_eq!(t.iter().filter(|f| f.is_some()).count(), 3);
    }

    #[test]
    fn stats_come_from_the_registered_readers() {
        let s = Stack::detached();
        {
            let mut c = s.ctx();
            c.inet.stat.total = 7;
            c.inet.tcp.stat.accepts = 3;
            c.arpstat.received = 5;
        }
        let st = s.registry.stats(&s.ctx());
        assert_eq!(st.ip.total, 7);
        assert_eq!(st.tcp.accepts, 3);
        assert_eq!(st.arp.received, 5);
    }
}
