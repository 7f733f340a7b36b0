//! The configuration of the stack (NetBSD's kernel configuration, `ioconf.c` and its
//! `DOMAIN_DEFINE` list): the one place that names every domain compiled in, and the stack
//! context that holds their state.
//!
//! A domain declares its registration next to its code (`inet::INET`, `net::arp::ARP`) and
//! says for which variants it is present; adding one (inet6, pf, ipsec, ppp) is a line in
//! `DOMAINS` and a field in `Ctx`, and nothing in `sys/`.

use std::sync::Arc;

use crate::inet::InState;
use crate::net::arp::{ArpCache, ArpStats};
use crate::net::ifnet::Ifnet;
use crate::net::route::Rib;
use crate::net::route_socket::RouteSocket;
use crate::sys::domain::Domain;
use crate::sys::log;

/// Every domain compiled in, in the order they are set up, their timers run and their
/// release hooks are called.
///
/// inet6 comes before inet so that its release hook (delivery of what was sent to our own
/// IPv6 addresses through lo0) runs before TCP's, which files the connections that work
/// touched in its timer wheel and hands on the sockets it woke.
pub static DOMAINS: &[&Domain] = &[
    &crate::net::arp::ARP,
    &crate::inet6::INET6,
    &crate::inet::INET,
    &crate::net::if_bridge::BRIDGE,
];

/// The stack context: layer 3 and up, and the state the control requests change. Each
/// protocol's state is a plain field, reached directly on the packet path.
pub struct Ctx {
    /// Attached interfaces, in index order.
    pub ifnets: Vec<Arc<Ifnet>>,
    /// IPv4 addresses and parameters.
    pub inet: InState,
    /// IPv6 addresses, parameters and ND state (enabled in the v6 variant only).
    pub inet6: crate::inet6::In6State,
    pub arpstat: ArpStats,
    pub arp: ArpCache,
    /// The routing tables (`rt.inet`, `rt.inet6`).
    pub rt: Rib,
    pub hostname: String,
    /// Subscribers to routing broadcasts.
    pub rtsock: RouteSocket,
    /// The rate limit of log lines that network input causes (`klog_net!`).
    pub netlog: log::NetLog,
}

impl Ctx {
    /// Every protocol's state at its defaults; the domains' `init` then applies the
    /// stack's configuration.
    pub fn new() -> Ctx {
        Ctx {
            ifnets: Vec::new(),
            inet: InState::default(),
            inet6: crate::inet6::In6State::default(),
            arpstat: ArpStats::default(),
            arp: ArpCache::default(),
            rt: Rib::default(),
            hostname: String::new(),
            rtsock: RouteSocket::default(),
            netlog: log::NetLog::default(),
        }
    }

    pub fn ifnet_by_name(&self, name: &str) -> Option<&Arc<Ifnet>> {
        self.ifnets.iter().find(|i| i.name == name)
    }

    pub fn ifnet_by_index(&self, index: u16) -> Option<&Arc<Ifnet>> {
        self.ifnets.iter().find(|i| i.index == index)
    }
}

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx::new()
    }
}
