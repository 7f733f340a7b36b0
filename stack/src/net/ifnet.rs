//! `struct ifnet`: one network interface, its flags, MTU, link-level address and counters,
//! and the driver behind it. Receive threads reach an interface without the stack context,
//! so its mutable fields are atomics.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use pktbox_drivers::{Driver, FrameMeta, Gso};

use crate::conf::Ctx;
use crate::msg::{iff, IfData, IfInfo, IFT_ETHER, IFT_LOOP, LINK_STATE_DOWN, LINK_STATE_UP};
use crate::net::bpf::{BpfIf, Dir};
use crate::sys::mbuf::Mbuf;
use crate::sys::Stack;

/// Where `if_output` is to send a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dst {
    /// A network-layer next hop: the interface's link layer resolves it (ARP for IPv4,
    /// neighbor discovery for IPv6) and the family gives the link-level type.
    Ip(IpAddr),
    /// A link-level destination and type, resolved already (ARP's own packets).
    Link([u8; 6], u16),
}

/// An interface type's output routine (NetBSD's `ifp->if_output`): takes a network-layer
/// packet (no link header) for `Dst`, adds what the link needs, and sends it or queues
/// it. Under the stack context.
pub type IfOutput = fn(&mut Ctx, &Ifnet, Mbuf, Dst) -> Result<(), i32>;

/// An interface type's input routine (`ifp->if_input`): a whole frame from the driver,
/// on a receive thread without the stack context (it takes it for the layers above).
pub type IfInput = fn(&Stack, &Arc<Ifnet>, Mbuf);

/// NetBSD's loopback MTU.
pub const LOMTU: u32 = 33624;

/// The NetBSD counters of one interface (`if_data`), kept as atomics so receive threads
/// count without locks.
#[derive(Debug, Default)]
pub struct IfStats {
    pub ipackets: AtomicU64,
    pub ierrors: AtomicU64,
    pub opackets: AtomicU64,
    pub oerrors: AtomicU64,
    pub collisions: AtomicU64,
    pub ibytes: AtomicU64,
    pub obytes: AtomicU64,
    pub imcasts: AtomicU64,
    pub omcasts: AtomicU64,
    pub iqdrops: AtomicU64,
    pub noproto: AtomicU64,
    /// Segmentation offload: TCP super-frames handed to the driver to cut, and merged
    /// ones the driver handed up (large receive offload).
    pub otso: AtomicU64,
    pub ilro: AtomicU64,
}

/// Adds one to a counter.
#[inline]
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[inline]
fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One interface.
pub struct Ifnet {
    pub index: u16,
    pub name: String,
    pub if_type: u8,
    /// Link-level address (all zeroes for loopback).
    pub lladdr: [u8; 6],
    flags: AtomicU32,
    mtu: AtomicU32,
    /// Largest MTU the link accepts.
    pub max_mtu: u32,
    /// Offloads the driver can do (`if_capabilities`, `ifcap` bits) and those in use
    /// (`if_capenable`). Set when the driver is attached (at start with `-d`, or by
    /// `ifconfig IF linkstr` on a cloned interface).
    capabilities: AtomicU32,
    capenable: AtomicU32,
    pub stats: IfStats,
    lastchange: AtomicU64,
    /// The driver moving this interface's frames; empty for loopback and bridges, and
    /// for a cloned `tap`/`hub` interface until `ifconfig IF linkstr` opens it.
    pub driver: OnceLock<Box<dyn Driver>>,
    /// The driver kind a cloned interface opens on `linkstr` (`tap`, `hub`).
    pub clone_kind: Option<&'static str>,
    /// Receive priority asked for with the driver's `priority=`.
    pub priority: Option<i32>,
    /// Made with `ifconfig NAME create`, so `destroy` may remove it.
    pub cloned: bool,
    /// The captures listening on this interface.
    pub bpf: BpfIf,
    /// How many asked for promiscuous mode (`if_pcount`); PROMISC is set while any do.
    pcount: AtomicU32,
    /// The link type's output routine, chosen at attach: `ether_output`, `looutput`.
    pub if_output: IfOutput,
    /// The link type's input routine for frames from a driver: `ether_input`; None for
    /// loopback, whose output hands packets to the protocols' queue directly.
    pub if_input: Option<IfInput>,
    /// The bridge this interface is a member of (`ifp->if_bridge`).
    pub bridge: RwLock<Option<Arc<crate::net::if_bridge::Bridge>>>,
    /// A bridge interface's own state (`bridge0`'s softc); None for other interfaces.
    pub bridge_sc: Option<Arc<crate::net::if_bridge::Bridge>>,
}

impl Ifnet {
    /// An Ethernet interface on a driver. It starts down, as NetBSD's do.
    /// Every offload the driver has is enabled from the start.
    pub fn ether(index: u16, name: String, lladdr: [u8; 6], mtu: u32, driver: Box<dyn Driver>) -> Ifnet {
        let ifp = Ifnet::ether_nodriver(index, name, lladdr, mtu);
        // A new interface has no driver yet, so this one is taken.
        let _ = ifp.attach_driver(driver);
        ifp
    }

    /// An Ethernet interface whose driver comes later (`ifconfig tap1 create`, then
    /// `ifconfig tap1 linkstr ...`): until then it sends nothing and receives nothing.
    pub fn ether_nodriver(index: u16, name: String, lladdr: [u8; 6], mtu: u32) -> Ifnet {
        Ifnet {
            capabilities: AtomicU32::new(0),
            capenable: AtomicU32::new(0),
            index,
            name,
            if_type: IFT_ETHER,
            lladdr,
            flags: AtomicU32::new(iff::BROADCAST | iff::SIMPLEX | iff::MULTICAST),
            mtu: AtomicU32::new(mtu),
            max_mtu: pktbox_drivers::ETHERMTU_JUMBO,
            stats: IfStats::default(),
            lastchange: AtomicU64::new(now_secs()),
            driver: OnceLock::new(),
            clone_kind: None,
            priority: None,
            cloned: false,
            bpf: BpfIf::default(),
            pcount: AtomicU32::new(0),
            if_output: crate::net::ether::ether_output,
            if_input: Some(crate::net::ether::ether_input),
            bridge: RwLock::new(None),
            bridge_sc: None,
        }
    }

    /// A bridge interface (`ifconfig bridge0 create`): no driver and no link-level address
    /// of its own; its members carry the frames.
    pub fn new_bridge(index: u16, name: String, sc: Arc<crate::net::if_bridge::Bridge>) -> Ifnet {
        let mut ifp = Ifnet::ether_nodriver(index, name, [0; 6], pktbox_drivers::ETHERMTU);
        ifp.if_type = crate::msg::IFT_BRIDGE;
        ifp.flags = AtomicU32::new(0);
        ifp.if_output = crate::net::if_bridge::bridge_if_output;
        ifp.if_input = None;
        ifp.bridge_sc = Some(sc);
        ifp.cloned = true;
        ifp
    }

    /// Gives the interface its driver, with every offload the driver has enabled.
    /// Gives the driver back if the interface has one already.
    pub fn attach_driver(&self, driver: Box<dyn Driver>) -> Result<(), Box<dyn Driver>> {
        if self.driver.get().is_some() {
            return Err(driver);
        }
        let caps = driver.capabilities();
        let caps = match driver.set_capenable(caps) {
            Ok(()) => caps,
            Err(e) => {
                crate::klog!("{}: offloads off: {e}", self.name);
                0
            }
        };
        self.driver.set(driver)?;
        self.capabilities.store(caps, Ordering::Release);
        self.capenable.store(caps, Ordering::Release);
        if self.is_up() {
            if let Some(d) = self.driver.get() {
                if let Err(e) = d.set_up(true) {
                    crate::klog!("{}: {}", self.name, e);
                }
            }
        }
        self.touch();
        Ok(())
    }

    /// The offloads the driver can do.
    pub fn capabilities(&self) -> u32 {
        self.capabilities.load(Ordering::Acquire)
    }

    /// The bridge this interface is a member of.
    pub fn bridge(&self) -> Option<Arc<crate::net::if_bridge::Bridge>> {
        self.bridge.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Joins or leaves a bridge.
    pub fn set_bridge(&self, br: Option<Arc<crate::net::if_bridge::Bridge>>) {
        *self.bridge.write().unwrap_or_else(|p| p.into_inner()) = br;
    }

    /// A loopback interface.
    pub fn loopback(index: u16, name: String, cloned: bool) -> Ifnet {
        Ifnet {
            index,
            name,
            if_type: IFT_LOOP,
            lladdr: [0; 6],
            flags: AtomicU32::new(iff::LOOPBACK | iff::MULTICAST),
            mtu: AtomicU32::new(LOMTU),
            max_mtu: 65535,
            capabilities: AtomicU32::new(0),
            capenable: AtomicU32::new(0),
            stats: IfStats::default(),
            lastchange: AtomicU64::new(now_secs()),
            driver: OnceLock::new(),
            clone_kind: None,
            priority: None,
            cloned,
            bpf: BpfIf::default(),
            pcount: AtomicU32::new(0),
            if_output: crate::net::if_loop::looutput,
            if_input: None,
            bridge: RwLock::new(None),
            bridge_sc: None,
        }
    }

    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    pub fn is_up(&self) -> bool {
        self.flags() & iff::UP != 0
    }

    pub fn mtu(&self) -> u32 {
        self.mtu.load(Ordering::Acquire)
    }

    pub fn set_mtu(&self, mtu: u32) {
        self.mtu.store(mtu, Ordering::Release);
        self.touch();
    }

    /// The offloads in use.
    pub fn capenable(&self) -> u32 {
        self.capenable.load(Ordering::Acquire)
    }

    /// Enables the offloads in `caps` that the driver has, and disables the others
    /// (SIOCSIFCAP).
    pub fn set_capenable(&self, caps: u32) -> Result<(), i32> {
        let caps = caps & self.capabilities();
        if let Some(d) = self.driver.get() {
            d.set_capenable(caps)
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
        }
        self.capenable.store(caps, Ordering::Release);
        self.touch();
        Ok(())
    }

    fn touch(&self) {
        self.lastchange.store(now_secs(), Ordering::Relaxed);
    }

    /// Marks the interface up (with RUNNING, as a driver's init does) or down.
    /// Returns whether anything changed.
    pub fn set_up(&self, up: bool) -> bool {
        let old = self.flags();
        let new = if up {
            old | iff::UP | iff::RUNNING
        } else {
            old & !(iff::UP | iff::RUNNING)
        };
        self.set_flags(new)
    }

    /// Sets the whole flag word but PROMISC, which follows `ifpromisc`. Returns whether it
    /// changed.
    pub fn set_flags(&self, new: u32) -> bool {
        let promisc = if self.pcount.load(Ordering::Acquire) > 0 {
            iff::PROMISC
        } else {
            0
        };
        let new = (new & !iff::PROMISC) | promisc;
        let old = self.flags.swap(new, Ordering::AcqRel);
        if old == new {
            return false;
        }
        if (old ^ new) & iff::UP != 0 {
            if let Some(d) = self.driver.get() {
                if let Err(e) = d.set_up(new & iff::UP != 0) {
                    crate::klog!("{}: {}", self.name, e);
                }
            }
        }
        self.touch();
        true
    }

    /// Asks for promiscuous mode or gives the request back (`ifpromisc`): the interface is
    /// promiscuous while anyone wants it. Returns whether the flags changed.
    pub fn ifpromisc(&self, on: bool) -> bool {
        let before = if on {
            self.pcount.fetch_add(1, Ordering::AcqRel)
        } else {
            let r = self
                .pcount
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            match r {
                Ok(n) => n,
                Err(_) => return false,
            }
        };
        let flip = if on { before == 0 } else { before == 1 };
        if !flip {
            return false;
        }
        if on {
            self.flags.fetch_or(iff::PROMISC, Ordering::AcqRel);
        } else {
            self.flags.fetch_and(!iff::PROMISC, Ordering::AcqRel);
        }
        self.touch();
        true
    }

    /// Whether frames for other stations are received.
    pub fn promisc(&self) -> bool {
        self.flags() & iff::PROMISC != 0
    }

    /// Whether the link has carrier.
    pub fn link_up(&self) -> bool {
        match self.driver.get() {
            Some(d) => d.link_up(),
            // A cloned interface whose driver is not open yet has no carrier.
            None => self.clone_kind.is_none(),
        }
    }

    /// A snapshot of `if_data`.
    pub fn data(&self) -> IfData {
        let s = &self.stats;
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IfData {
            ifi_type: self.if_type,
            ifi_addrlen: if self.if_type == IFT_ETHER { 6 } else { 0 },
            ifi_hdrlen: if self.if_type == IFT_ETHER { 14 } else { 0 },
            ifi_link_state: if self.link_up() { LINK_STATE_UP } else { LINK_STATE_DOWN },
            ifi_mtu: u64::from(self.mtu()),
            ifi_metric: 0,
            ifi_baudrate: 0,
            ifi_ipackets: g(&s.ipackets),
            ifi_ierrors: g(&s.ierrors),
            ifi_opackets: g(&s.opackets),
            ifi_oerrors: g(&s.oerrors),
            ifi_collisions: g(&s.collisions),
            ifi_ibytes: g(&s.ibytes),
            ifi_obytes: g(&s.obytes),
            ifi_imcasts: g(&s.imcasts),
            ifi_omcasts: g(&s.omcasts),
            ifi_iqdrops: g(&s.iqdrops),
            ifi_noproto: g(&s.noproto),
            ifi_lastchange: self.lastchange.load(Ordering::Relaxed),
        }
    }

    /// Everything ifconfig shows, but the addresses (which live in the stack context).
    pub fn info(&self) -> IfInfo {
        IfInfo {
            index: self.index,
            name: self.name.clone(),
            flags: self.flags(),
            mtu: self.mtu(),
            lladdr: (self.if_type == IFT_ETHER).then_some(self.lladdr),
            data: self.data(),
            addrs: Vec::new(),
            driver: self.driver.get().map(|d| d.kind().to_string()),
            details: self.driver.get().map(|d| d.details()).unwrap_or_default(),
            capabilities: self.capabilities(),
            capenable: self.capenable(),
            otso: self.stats.otso.load(Ordering::Relaxed),
            ilro: self.stats.ilro.load(Ordering::Relaxed),
        }
    }

    /// Counts a frame received from the driver.
    pub fn count_in(&self, len: usize) {
        inc(&self.stats.ipackets);
        add(&self.stats.ibytes, len as u64);
    }

    /// Hands a whole frame to the driver: `if_output`'s last step. Counts it either way.
    /// `meta` says what offloads the driver is to finish (a TSO frame is above the MTU).
    pub fn transmit(&self, frame: &[u8], meta: &FrameMeta) -> Result<(), i32> {
        if !self.is_up() {
            return Err(libc::ENETDOWN);
        }
        let Some(d) = self.driver.get() else {
            return Err(libc::ENXIO);
        };
        self.bpf.tap(frame, Dir::Out);
        match d.send_meta(frame, meta) {
            Ok(()) => {
                if meta.gso != Gso::None {
                    inc(&self.stats.otso);
                }
                inc(&self.stats.opackets);
                add(&self.stats.obytes, frame.len() as u64);
                if frame.first().is_some_and(|b| b & 1 != 0) {
                    inc(&self.stats.omcasts);
                }
                Ok(())
            }
            Err(e) => {
                inc(&self.stats.oerrors);
                Err(e.raw_os_error().unwrap_or(libc::EIO))
            }
        }
    }
}
