//! bridge(4): an Ethernet bridge between member interfaces, as NetBSD's `if_bridge.c`
//! behaves: it learns which member each source address sits behind (the address cache,
//! `maxaddr` entries that expire after `timeout` seconds unless static), forwards a frame to
//! the member its destination was learned on, and floods one to an unknown destination (to
//! the members with DISCOVER), a broadcast or a multicast to every other member.
//!
//! Bridged frames stay on the receive thread: `bridge_input` runs from `ether_input` with
//! only the bridge's own lock, and a frame between members never takes the stack context.
//! Only what is for the stack goes up: a unicast to a member's own address (up through
//! that member, as NetBSD hands it up with `rcvif` set to it), and a copy of every
//! broadcast and multicast. What the stack sends on a member (`ether_frame_out`) goes
//! through `bridge_output`, so ARP and IP reach hosts behind any member.
//!
//! A bridging loop without STP cannot take the stack down: every frame is sent at once
//! from the receive thread that read it, so the members' driver queues bound the flood
//! (a full one drops the frame and counts it), and the channel is served by other threads.
//!
//! `brconfig bridge0 ipf` passes bridged IPv4 and IPv6 through the pfil hooks (NetBSD's
//! `bridge_ipf`): a frame forwarded between members meets the input hook as received on
//! its member and the output hook as sent on each member it leaves by; a drop drops it
//! (counted with the bridge's drops), and a hook may rewrite it. The hooks need the stack
//! context, so such a frame takes it, and only such a frame: `ipf` set, an IPv4/IPv6
//! ethertype, and a hook registered for the family (looked up without the context). That
//! is one lock of the context per filtered frame, taken after the bridge's lock is let go
//! (the context is always taken before a bridge's lock, never after), and a copy of the
//! frame per member it leaves by. With `ipf` off nothing changes: no context, no copy.
//!
//! 802.1D spanning tree is in `bridgestp.rs`; its timers run from the registered callout
//! (`BRIDGE` below, once a second as NetBSD's `bstp_tick`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use pktbox_drivers::{Csum, FrameMeta, Gso};

use crate::conf::Ctx;
use crate::msg::{ifbaf, ifbif, BrAddrInfo, BrMemberInfo, BrOp, BrStats, BrStatus, IFT_ETHER};
use crate::net::bridgestp::{self, Bstp, Port};
use crate::net::if_control::Fail;
use crate::net::ifnet::{Dst, Ifnet};
use crate::net::pfil::{self, pfil_run_hooks, Dir, Family, Verdict};
use crate::sys::callout::Timer;
use crate::sys::domain::{Domain, Protosw};
use crate::sys::mbuf::Mbuf;
use crate::sys::Stack;
use crate::wire::ethernet::{ETHERTYPE_IP, ETHERTYPE_IPV6, ETHER_HDR_LEN, ETHER_MIN_LEN};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{Ipv6Packet, HEADER_LEN as IPV6_HEADER_LEN};

/// Default size of the address cache (BRIDGE_RTABLE_MAX).
pub const BRIDGE_RTABLE_MAX: u32 = 100;
/// Default lifetime of a learned address, seconds (BRIDGE_RTABLE_TIMEOUT).
pub const BRIDGE_RTABLE_TIMEOUT: u32 = 20 * 60;
/// A member's default port priority and path cost (NetBSD's defaults).
pub const BSTP_DEFAULT_PORT_PRIORITY: u8 = 0x80;
pub const BSTP_DEFAULT_PATH_COST: u32 = 55;

/// One member (`struct bridge_iflist`).
pub(crate) struct Member {
    pub ifp: Arc<Ifnet>,
    pub flags: u32,
    /// The offloads the member had before it joined, given back when it leaves: frames
    /// pass between members as they are on the wire, so offloads are off while bridged.
    saved_caps: u32,
    pub stp: Port,
}

impl Member {
    /// Whether frames may be forwarded out of (or in through) this member now.
    fn forwarding(&self) -> bool {
        self.flags & ifbif::STP == 0 || self.stp.state == crate::msg::bstp_state::FORWARDING
    }

    /// Whether addresses are learned on this member now.
    fn learning(&self) -> bool {
        self.flags & ifbif::LEARNING != 0
            && (self.flags & ifbif::STP == 0
                || matches!(
                    self.stp.state,
                    crate::msg::bstp_state::FORWARDING | crate::msg::bstp_state::LEARNING
                ))
    }
}

/// One address cache entry (`struct bridge_rtnode`).
struct Entry {
    ifindex: u16,
    used: Instant,
    flags: u32,
}

/// A bridge's state, behind its lock (`struct bridge_softc`).
pub(crate) struct Softc {
    pub running: bool,
    /// Most recently added first, as NetBSD keeps them.
    pub members: Vec<Member>,
    cache: HashMap<[u8; 6], Entry>,
    pub maxaddr: u32,
    pub timeout: u32,
    pub ipf: bool,
    pub stp: Bstp,
    pub stats: BrStats,
}

/// A bridge: its name and its state.
pub struct Bridge {
    pub name: String,
    ifp: OnceLock<Weak<Ifnet>>,
    sc: Mutex<Softc>,
}

/// What the bridge did with a received frame.
pub enum BridgeIn {
    /// For the stack: carry it up through this interface.
    Local(Mbuf, Arc<Ifnet>),
    /// Forwarded, flooded or dropped: nothing for the stack.
    Done,
}

impl Bridge {
    pub fn new(name: &str) -> Arc<Bridge> {
        Arc::new(Bridge {
            name: name.to_string(),
            ifp: OnceLock::new(),
            sc: Mutex::new(Softc {
                running: false,
                members: Vec::new(),
                cache: HashMap::new(),
                maxaddr: BRIDGE_RTABLE_MAX,
                timeout: BRIDGE_RTABLE_TIMEOUT,
                ipf: false,
                stp: Bstp::default(),
                stats: BrStats::default(),
            }),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Softc> {
        self.sc.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ties the bridge to its interface, once attached.
    pub fn set_ifp(&self, ifp: &Arc<Ifnet>) {
        let _ = self.ifp.set(Arc::downgrade(ifp));
    }
}

impl Softc {
    fn member(&self, ifindex: u16) -> Option<usize> {
        self.members.iter().position(|m| m.ifp.index == ifindex)
    }

    fn member_by_name(&self, name: &str) -> Result<usize, Fail> {
        self.members
            .iter()
            .position(|m| m.ifp.name == name)
            .ok_or_else(|| Fail::new(libc::ENOENT))
    }

    /// Learns that `src` sits behind member `ifindex` (`bridge_rtupdate`). A full cache
    /// takes no new address; a static entry is not moved.
    fn learn(&mut self, src: &[u8; 6], ifindex: u16, now: Instant) {
        if src[0] & 1 != 0 || *src == [0; 6] {
            return;
        }
        if let Some(e) = self.cache.get_mut(src) {
            if e.flags & ifbaf::STATIC == 0 {
                e.ifindex = ifindex;
                e.used = now;
            }
            return;
        }
        if self.cache.len() >= self.maxaddr as usize {
            self.stats.cache_full += 1;
            return;
        }
        self.cache.insert(
            *src,
            Entry {
                ifindex,
                used: now,
                flags: 0,
            },
        );
    }

    /// How long a learned address lives: the configured timeout, or the forward delay
    /// while a topology change is in progress (802.1D 8.3.5).
    fn lifetime(&self) -> Duration {
        if self.stp.topology_change {
            Duration::from_secs(u64::from(self.stp.forward_delay >> 8))
        } else {
            Duration::from_secs(u64::from(self.timeout))
        }
    }

    /// The member a destination was learned on, if its entry is alive.
    fn lookup(&self, dst: &[u8; 6], now: Instant) -> Option<u16> {
        let e = self.cache.get(dst)?;
        if e.flags & ifbaf::STATIC == 0 && now.duration_since(e.used) >= self.lifetime() {
            return None;
        }
        Some(e.ifindex)
    }

    /// Removes expired dynamic entries (`bridge_rtage`).
    fn age(&mut self, now: Instant) {
        let life = self.lifetime();
        self.cache
            .retain(|_, e| e.flags & ifbaf::STATIC != 0 || now.duration_since(e.used) < life);
    }

    /// Removes the dynamic entries, or all (`bridge_rtflush`), or those of one member.
    pub(crate) fn flush(&mut self, all: bool, ifindex: Option<u16>) {
        self.cache.retain(|_, e| {
            let this = ifindex.is_none_or(|i| e.ifindex == i);
            !(this && (all || e.flags & ifbaf::STATIC == 0))
        });
    }

    fn is_member_addr(&self, a: &[u8; 6]) -> Option<usize> {
        self.members.iter().position(|m| m.ifp.lladdr == *a)
    }

    /// The members `flood` sends on.
    fn flood_targets(&self, except: Option<u16>, unknown_unicast: bool) -> Vec<Arc<Ifnet>> {
        self.members
            .iter()
            .filter(|m| Some(m.ifp.index) != except && m.ifp.is_up() && m.forwarding())
            .filter(|m| !unknown_unicast || m.flags & ifbif::DISCOVER != 0)
            .map(|m| m.ifp.clone())
            .collect()
    }

    /// Sends one frame on every usable member but `except` (`bridge_broadcast`); unknown
    /// unicast goes only to members with DISCOVER.
    fn flood(&mut self, frame: &[u8], meta: &FrameMeta, except: Option<u16>, unknown_unicast: bool) {
        let mut sent = false;
        for m in &self.members {
            if Some(m.ifp.index) == except || !m.ifp.is_up() || !m.forwarding() {
                continue;
            }
            if unknown_unicast && m.flags & ifbif::DISCOVER == 0 {
                continue;
            }
            if m.ifp.transmit(frame, meta).is_err() {
                self.stats.dropped += 1;
            }
            sent = true;
        }
        if sent {
            self.stats.flooded += 1;
        }
    }
}

/// What a frame received from a member becomes on the way out of another: the offloads
/// the host left to do are done here (a checksum finished), since members bridge plain
/// frames. None for a super-frame, which no member takes while bridged.
fn outgoing(m: &mut Mbuf) -> Option<FrameMeta> {
    let meta = m.meta();
    if meta.gso != Gso::None {
        return None;
    }
    if let Csum::Partial { start, offset } = meta.csum {
        if !pktbox_drivers::finish_csum(m.as_mut_slice(), start, offset) {
            return None;
        }
    }
    Some(FrameMeta::PLAIN)
}

fn mac_at(f: &[u8], at: usize) -> [u8; 6] {
    let mut a = [0u8; 6];
    a.copy_from_slice(&f[at..at + 6]);
    a
}

/// Whether a bridge interface is up (and so bridging).
fn running(br: &Bridge, sc: &Softc) -> bool {
    sc.running && br.ifp.get().and_then(Weak::upgrade).is_some_and(|i| i.is_up())
}

/// A frame from member `ifp` (`bridge_input`): on the receive thread, whole, at least an
/// Ethernet header long. Learns its source, then forwards, floods or drops it, or hands
/// it up when it is for the stack.
pub fn bridge_input(stack: &Stack, br: &Arc<Bridge>, ifp: &Arc<Ifnet>, mut m: Mbuf) -> BridgeIn {
    let now = Instant::now();
    let mut sc = br.lock();
    if !running(br, &sc) {
        return BridgeIn::Local(m, ifp.clone());
    }
    let Some(i) = sc.member(ifp.index) else {
        return BridgeIn::Local(m, ifp.clone());
    };
    let f = m.as_slice();
    let dst = mac_at(f, 0);
    let src = mac_at(f, 6);
    // Spanning tree frames are the bridge's own; they are never forwarded.
    if dst == bridgestp::BSTP_ETHERADDR {
        if sc.members[i].flags & ifbif::STP != 0 {
            bridgestp::input(&mut sc, i, f);
        }
        return BridgeIn::Done;
    }
    // Our own frame come back round a loop.
    if sc.is_member_addr(&src).is_some() {
        sc.stats.dropped += 1;
        return BridgeIn::Done;
    }
    let (flags, state) = (sc.members[i].flags, sc.members[i].stp.state);
    if flags & ifbif::STP != 0
        && matches!(
            state,
            crate::msg::bstp_state::BLOCKING | crate::msg::bstp_state::LISTENING | crate::msg::bstp_state::DISABLED
        )
    {
        // A port that is not forwarding passes nothing on; what is for the stack goes up
        // through it, as NetBSD's bridge_input returns the frame to ether_input.
        return BridgeIn::Local(m, ifp.clone());
    }
    if sc.members[i].learning() {
        sc.learn(&src, ifp.index, now);
    }
    if !sc.members[i].forwarding() {
        // The learning state: learn, pass nothing on.
        return BridgeIn::Local(m, ifp.clone());
    }
    // With `ipf`, an IP frame that is forwarded goes through the hooks (see above).
    let fam = if sc.ipf { ipf_family(stack, m.as_slice()) } else { None };
    if dst[0] & 1 != 0 {
        // Broadcast and multicast: a copy to every other member, and up.
        if let Some(fam) = fam {
            match outgoing(&mut m) {
                Some(_) => {
                    let to = sc.flood_targets(Some(ifp.index), false);
                    drop(sc);
                    ipf_forward(stack, br, fam, ifp, m.as_slice(), to, true);
                    sc = br.lock();
                }
                None => sc.stats.dropped += 1,
            }
            sc.stats.local += 1;
            return BridgeIn::Local(m, ifp.clone());
        }
        match outgoing(&mut m) {
            Some(meta) => sc.flood(m.as_slice(), &meta, Some(ifp.index), false),
            None => sc.stats.dropped += 1,
        }
        sc.stats.local += 1;
        return BridgeIn::Local(m, ifp.clone());
    }
    // A unicast to one of the members' own addresses is for the stack, on that member.
    if let Some(j) = sc.is_member_addr(&dst) {
        sc.stats.local += 1;
        return BridgeIn::Local(m, sc.members[j].ifp.clone());
    }
    let Some(meta) = outgoing(&mut m) else {
        sc.stats.dropped += 1;
        return BridgeIn::Done;
    };
    if let Some(fam) = fam {
        let (to, flood) = match sc.lookup(&dst, now) {
            Some(out) if out == ifp.index => (Vec::new(), false),
            Some(out) => match sc.member(out) {
                Some(j) if sc.members[j].ifp.is_up() && sc.members[j].forwarding() => {
                    (vec![sc.members[j].ifp.clone()], false)
                }
                _ => (Vec::new(), false),
            },
            None => (sc.flood_targets(Some(ifp.index), true), true),
        };
        if to.is_empty() {
            sc.stats.dropped += u64::from(!flood);
            return BridgeIn::Done;
        }
        drop(sc);
        ipf_forward(stack, br, fam, ifp, m.as_slice(), to, flood);
        return BridgeIn::Done;
    }
    match sc.lookup(&dst, now) {
        Some(out) if out == ifp.index => {
            // The destination is on the segment it came from.
            sc.stats.dropped += 1;
        }
        Some(out) => match sc.member(out) {
            Some(j) if sc.members[j].ifp.is_up() && sc.members[j].forwarding() => {
                if sc.members[j].ifp.transmit(m.as_slice(), &meta).is_ok() {
                    sc.stats.forwarded += 1;
                } else {
                    sc.stats.dropped += 1;
                }
            }
            _ => sc.stats.dropped += 1,
        },
        None => sc.flood(m.as_slice(), &meta, Some(ifp.index), true),
    }
    BridgeIn::Done
}

/// The family whose pfil hooks see a bridged frame with `ipf` on: IPv4 and IPv6 frames
/// (untagged), when a hook is registered for the family. Everything else passes.
fn ipf_family(stack: &Stack, f: &[u8]) -> Option<Family> {
    let fam = match u16::from_be_bytes([f[12], f[13]]) {
        ETHERTYPE_IP => Family::Inet,
        ETHERTYPE_IPV6 => Family::Inet6,
        _ => return None,
    };
    pfil::armed(&stack.pfil_armed, fam).then_some(fam)
}

/// The IP packet of a bridged frame, cut to its own length, when its header is sound
/// enough for a filter to read (NetBSD's `bridge_ip_checkbasic` / `bridge_ip6_checkbasic`).
fn ipf_packet(fam: Family, f: &[u8]) -> Option<Mbuf> {
    let p = f.get(ETHER_HDR_LEN..)?;
    let len = match fam {
        Family::Inet => Ipv4Packet::new_checked(p).ok()?.total_len(),
        Family::Inet6 => IPV6_HEADER_LEN + usize::from(Ipv6Packet::new_checked(p).ok()?.payload_len()),
    };
    let mut m = Mbuf::from_slice(&p[..len]);
    m.set_network_header();
    Some(m)
}

/// `bridge_ipf` for a frame from member `src` forwarded to the members `to`: the input
/// hook once, then the output hook per member, with the stack context taken for this frame
/// only (the bridge's lock is not held). What passes is sent, what is dropped is counted.
fn ipf_forward(
    stack: &Stack,
    br: &Bridge,
    fam: Family,
    src: &Arc<Ifnet>,
    frame: &[u8],
    to: Vec<Arc<Ifnet>>,
    flood: bool,
) {
    let mut hdr = [0u8; ETHER_HDR_LEN];
    hdr.copy_from_slice(&frame[..ETHER_HDR_LEN]);
    let mut out: Vec<(Arc<Ifnet>, Mbuf)> = Vec::with_capacity(to.len());
    let mut dropped = 0u64;
    match ipf_packet(fam, frame) {
        None => dropped += 1,
        Some(m) => {
            let mut ctx = stack.ctx();
            match pfil_run_hooks(&mut ctx, fam, Dir::In, src, m) {
                Verdict::Pass(m) => {
                    for ifp in to {
                        let mut c = Mbuf::from_slice(m.as_slice());
                        c.set_network_header();
                        match pfil_run_hooks(&mut ctx, fam, Dir::Out, &ifp, c) {
                            Verdict::Pass(c) => out.push((ifp, c)),
                            Verdict::Drop(_) => dropped += 1,
                            Verdict::Consumed => {}
                        }
                    }
                }
                Verdict::Drop(_) => dropped += 1,
                Verdict::Consumed => {}
            }
        }
    }
    let mut sent = 0u64;
    for (ifp, mut c) in out {
        c.prepend(ETHER_HDR_LEN).copy_from_slice(&hdr);
        if c.len() < ETHER_MIN_LEN {
            c.extend(ETHER_MIN_LEN - c.len());
        }
        match ifp.transmit(c.as_slice(), &FrameMeta::PLAIN) {
            Ok(()) => sent += 1,
            Err(_) => dropped += 1,
        }
    }
    let mut sc = br.lock();
    sc.stats.dropped += dropped;
    if sent > 0 {
        if flood {
            sc.stats.flooded += 1;
        } else {
            sc.stats.forwarded += 1;
        }
    }
}

/// A frame the stack sends on member `ifp` (`bridge_output`): to the member its
/// destination was learned on, otherwise (and for broadcast and multicast) to every
/// member. Its source address stays the sending member's.
pub fn bridge_output(br: &Arc<Bridge>, ifp: &Ifnet, frame: &[u8], meta: &FrameMeta) -> Result<(), i32> {
    let sc = br.lock();
    if !running(br, &sc) || frame.len() < 6 || !meta.is_plain() {
        drop(sc);
        return ifp.transmit(frame, meta);
    }
    let dst = mac_at(frame, 0);
    if dst[0] & 1 == 0 {
        if let Some(j) = sc.lookup(&dst, Instant::now()).and_then(|o| sc.member(o)) {
            let m = &sc.members[j];
            if !m.forwarding() {
                return Err(libc::ENETDOWN);
            }
            return m.ifp.transmit(frame, meta);
        }
    }
    let mut ok = false;
    let mut err = libc::ENETDOWN;
    for m in &sc.members {
        if !m.ifp.is_up() || !m.forwarding() {
            continue;
        }
        match m.ifp.transmit(frame, meta) {
            Ok(()) => ok = true,
            Err(e) => err = e,
        }
    }
    if ok {
        Ok(())
    } else {
        Err(err)
    }
}

/// For ARP on bridge member `ifp`: the other member of the same bridge that holds IPv4
/// address `tpa`, if one does and `ifp` does not.
pub fn arp_member(ctx: &Ctx, ifp: &Ifnet, tpa: std::net::Ipv4Addr) -> Option<Arc<Ifnet>> {
    let br = ifp.bridge()?;
    let owner = ctx.inet.addrs.iter().find(|ia| ia.addr == tpa)?.ifindex;
    if owner == ifp.index {
        return None;
    }
    let o = ctx.ifnet_by_index(owner)?;
    o.bridge().filter(|b| Arc::ptr_eq(b, &br)).map(|_| o.clone())
}

/// The bridge interface's own `if_output`: a bridge has no address of its own to send
/// from (the stack's addresses sit on the members), as on NetBSD.
pub fn bridge_if_output(_ctx: &mut Ctx, _ifp: &Ifnet, _m: Mbuf, _dst: Dst) -> Result<(), i32> {
    Err(libc::EOPNOTSUPP)
}

fn bridge_of(ctx: &Ctx, name: &str) -> Result<(Arc<Ifnet>, Arc<Bridge>), Fail> {
    let ifp = ctx.ifnet_by_name(name).cloned().ok_or_else(|| Fail::new(libc::ENXIO))?;
    let br = ifp.bridge_sc.clone().ok_or_else(|| Fail::new(libc::EINVAL))?;
    Ok((ifp, br))
}

/// Adds a member (`bridge_ioctl_add`), with NetBSD's refusals: no such interface ENOENT,
/// already ours EEXIST, another bridge's EBUSY, not Ethernet (the bridge itself, lo0)
/// EINVAL, a different MTU EINVAL.
fn add_member(ctx: &mut Ctx, bifp: &Ifnet, br: &Arc<Bridge>, name: &str) -> Result<(), Fail> {
    let ifs = ctx
        .ifnet_by_name(name)
        .cloned()
        .ok_or_else(|| Fail::new(libc::ENOENT))?;
    if let Some(other) = ifs.bridge() {
        return Err(Fail::new(if Arc::ptr_eq(&other, br) {
            libc::EEXIST
        } else {
            libc::EBUSY
        }));
    }
    if ifs.if_type != IFT_ETHER {
        return Err(Fail::new(libc::EINVAL));
    }
    if ifs.mtu() != bifp.mtu() {
        return Err(Fail::new(libc::EINVAL));
    }
    let mut sc = br.lock();
    let saved_caps = ifs.capenable();
    if saved_caps != 0 {
        if let Err(e) = ifs.set_capenable(0) {
            return Err(Fail::with(e, format!("{name}: offloads cannot be turned off")));
        }
    }
    ifs.ifpromisc(true);
    ifs.set_bridge(Some(br.clone()));
    sc.members.insert(
        0,
        Member {
            ifp: ifs.clone(),
            flags: ifbif::LEARNING | ifbif::DISCOVER,
            saved_caps,
            stp: Port::new(ifs.index, BSTP_DEFAULT_PORT_PRIORITY, BSTP_DEFAULT_PATH_COST),
        },
    );
    if sc.running {
        bridgestp::initialization(&mut sc);
    }
    Ok(())
}

/// Takes a member out (`bridge_delete_member`): its addresses go, its promiscuous mode
/// and offloads come back.
fn remove_member(sc: &mut Softc, i: usize) {
    let m = sc.members.remove(i);
    sc.flush(true, Some(m.ifp.index));
    m.ifp.set_bridge(None);
    m.ifp.ifpromisc(false);
    if m.saved_caps != 0 {
        let _ = m.ifp.set_capenable(m.saved_caps);
    }
    if sc.running {
        bridgestp::initialization(sc);
    }
}

/// A member is being destroyed or detached: it leaves its bridge first.
pub fn member_detach(ifp: &Ifnet) {
    if let Some(br) = ifp.bridge() {
        let mut sc = br.lock();
        if let Some(i) = sc.member(ifp.index) {
            remove_member(&mut sc, i);
        }
    }
}

/// A bridge is being destroyed: every member leaves.
pub fn bridge_detach(br: &Bridge) {
    let mut sc = br.lock();
    sc.running = false;
    while !sc.members.is_empty() {
        remove_member(&mut sc, 0);
    }
}

/// The bridge interface went up or down (`bridge_init`, `bridge_stop`): up starts the
/// spanning tree; down stops it and flushes the learned addresses.
pub fn bridge_updown(br: &Bridge, up: bool) {
    let mut sc = br.lock();
    if sc.running == up {
        return;
    }
    sc.running = up;
    if up {
        bridgestp::initialization(&mut sc);
    } else {
        bridgestp::stop(&mut sc);
        sc.flush(false, None);
    }
}

/// One brconfig command.
pub fn bridge_set(ctx: &mut Ctx, name: &str, op: &BrOp) -> Result<(), Fail> {
    let (bifp, br) = bridge_of(ctx, name)?;
    if let BrOp::Add(ifname) = op {
        return add_member(ctx, &bifp, &br, ifname);
    }
    let mut sc = br.lock();
    let mut reinit = false;
    match op {
        BrOp::Add(_) => {}
        BrOp::Delete(ifname) => {
            let i = sc.member_by_name(ifname)?;
            remove_member(&mut sc, i);
        }
        BrOp::MemberFlags { ifname, set, clear } => {
            let i = sc.member_by_name(ifname)?;
            let new = (sc.members[i].flags | set) & !clear;
            if new & ifbif::STP != 0 && sc.members[i].ifp.if_type != IFT_ETHER {
                return Err(Fail::new(libc::EINVAL));
            }
            reinit = (new ^ sc.members[i].flags) & ifbif::STP != 0;
            sc.members[i].flags = new;
        }
        BrOp::Static { ifname, mac } => {
            let i = sc.member_by_name(ifname)?;
            if mac[0] & 1 != 0 {
                return Err(Fail::new(libc::EINVAL));
            }
            let ifindex = sc.members[i].ifp.index;
            if !sc.cache.contains_key(mac) && sc.cache.len() >= sc.maxaddr as usize {
                return Err(Fail::new(libc::ENOSPC));
            }
            sc.cache.insert(
                *mac,
                Entry {
                    ifindex,
                    used: Instant::now(),
                    flags: ifbaf::STATIC,
                },
            );
        }
        BrOp::DelAddr(mac) => {
            sc.cache.remove(mac).ok_or_else(|| Fail::new(libc::ENOENT))?;
        }
        BrOp::Flush { all } => sc.flush(*all, None),
        BrOp::MaxAddr(n) => {
            sc.maxaddr = *n;
            // A smaller cache drops dynamic entries beyond it (`bridge_rttrim`).
            let now = Instant::now();
            sc.age(now);
            if sc.cache.len() > *n as usize {
                let mut dynamic: Vec<([u8; 6], Instant)> = sc
                    .cache
                    .iter()
                    .filter(|(_, e)| e.flags & ifbaf::STATIC == 0)
                    .map(|(k, e)| (*k, e.used))
                    .collect();
                dynamic.sort_by_key(|(_, t)| *t);
                let excess = sc.cache.len() - *n as usize;
                for (k, _) in dynamic.into_iter().take(excess) {
                    sc.cache.remove(&k);
                }
            }
        }
        BrOp::Timeout(t) => sc.timeout = *t,
        BrOp::Priority(p) => {
            sc.stp.bridge_priority = *p;
            reinit = true;
        }
        BrOp::HelloTime(s) | BrOp::FwdDelay(s) | BrOp::MaxAge(s) => {
            if *s == 0 {
                return Err(Fail::new(libc::EINVAL));
            }
            let v = u16::from(*s) << 8;
            match op {
                BrOp::HelloTime(_) => sc.stp.bridge_hello_time = v,
                BrOp::FwdDelay(_) => sc.stp.bridge_forward_delay = v,
                _ => sc.stp.bridge_max_age = v,
            }
            reinit = true;
        }
        BrOp::IfPriority { ifname, prio } => {
            let i = sc.member_by_name(ifname)?;
            sc.members[i].stp.priority = *prio;
            reinit = true;
        }
        BrOp::IfPathCost { ifname, cost } => {
            let i = sc.member_by_name(ifname)?;
            sc.members[i].stp.path_cost = *cost;
            reinit = true;
        }
        BrOp::Ipf(on) => sc.ipf = *on,
    }
    if reinit && sc.running {
        bridgestp::initialization(&mut sc);
    }
    Ok(())
}

/// The state of every bridge, or the one named.
pub fn bridge_status(ctx: &Ctx, name: Option<&str>) -> Result<Vec<BrStatus>, Fail> {
    let now = Instant::now();
    let mut out = Vec::new();
    for ifp in &ctx.ifnets {
        let Some(br) = &ifp.bridge_sc else { continue };
        if name.is_some_and(|n| n != ifp.name) {
            continue;
        }
        let sc = br.lock();
        let name_of = |idx: u16| {
            sc.members
                .iter()
                .find(|m| m.ifp.index == idx)
                .map(|m| m.ifp.name.clone())
                .unwrap_or_default()
        };
        let life = sc.lifetime();
        let mut cache: Vec<BrAddrInfo> = sc
            .cache
            .iter()
            .filter(|(_, e)| e.flags & ifbaf::STATIC != 0 || now.duration_since(e.used) < life)
            .map(|(mac, e)| BrAddrInfo {
                mac: *mac,
                ifname: name_of(e.ifindex),
                expire: if e.flags & ifbaf::STATIC != 0 {
                    0
                } else {
                    life.saturating_sub(now.duration_since(e.used)).as_secs() as u32
                },
                flags: e.flags,
            })
            .collect();
        cache.sort_by_key(|a| a.mac);
        let root_port = sc.stp.root_port.map(name_of);
        out.push(BrStatus {
            name: ifp.name.clone(),
            flags: ifp.flags(),
            priority: sc.stp.bridge_priority,
            hellotime: (sc.stp.bridge_hello_time >> 8) as u8,
            fwddelay: (sc.stp.bridge_forward_delay >> 8) as u8,
            maxage: (sc.stp.bridge_max_age >> 8) as u8,
            ipf: sc.ipf,
            maxaddr: sc.maxaddr,
            timeout: sc.timeout,
            members: sc
                .members
                .iter()
                .map(|m| BrMemberInfo {
                    ifname: m.ifp.name.clone(),
                    flags: m.flags,
                    port: m.ifp.index & 0xff,
                    priority: m.stp.priority,
                    path_cost: m.stp.path_cost,
                    state: m.stp.state,
                    designated_root: m.stp.designated_root,
                    designated_bridge: m.stp.designated_bridge,
                    designated_cost: m.stp.designated_cost,
                    designated_port: m.stp.designated_port,
                    root_port: sc.stp.root_port == Some(m.ifp.index),
                })
                .collect(),
            cache,
            bridge_id: sc.stp.bridge_id,
            designated_root: sc.stp.designated_root,
            root_path_cost: sc.stp.root_path_cost,
            root_port,
            topology_change: sc.stp.topology_change,
            stats: sc.stats.clone(),
        });
    }
    if out.is_empty() && name.is_some() {
        return Err(Fail::new(libc::ENXIO));
    }
    Ok(out)
}

/// Once a second (NetBSD's `bstp_tick` and `bridge_timer`): the spanning tree's timers,
/// then the address cache's expiry.
fn bridge_timer(ctx: &mut Ctx) -> Option<Instant> {
    let now = Instant::now();
    for ifp in &ctx.ifnets {
        if let Some(br) = &ifp.bridge_sc {
            // The bridge follows its interface's UP flag however it was set (ifconfig,
            // brconfig, or an address added).
            bridge_updown(br, ifp.is_up());
            let mut sc = br.lock();
            if sc.running {
                bridgestp::tick(&mut sc);
            }
            sc.age(now);
        }
    }
    None
}

/// The bridge's registration: its timer. Present in the variants that bridge.
pub static BRIDGE: Domain = Domain {
    name: "bridge",
    // NetBSD has no family for bridges; AF_UNSPEC.
    family: 0,
    present: crate::sys::Variant::has_bridge,
    init: None,
    loopback: None,
    protosw: &[Protosw {
        name: "bridge",
        timers: &[Timer {
            name: "bstp_tick",
            period: Some(Duration::from_secs(1)),
            run: bridge_timer,
            planned: None,
        }],
        ..Protosw::EMPTY
    }],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipf_takes_sound_ip_packets_cut_to_their_length() {
        // An IPv4 header, 20 bytes in all, behind an Ethernet header and padded to 60.
        let mut f = vec![0u8; ETHER_MIN_LEN];
        f[12..14].copy_from_slice(&ETHERTYPE_IP.to_be_bytes());
        f[14] = 0x45;
        f[16..18].copy_from_slice(&20u16.to_be_bytes());
        let m = ipf_packet(Family::Inet, &f).expect("sound");
        assert_eq!(m.len(), 20);
        // Longer than the frame, a header length under 20, the wrong version: refused.
        f[16..18].copy_from_slice(&100u16.to_be_bytes());
        assert!(ipf_packet(Family::Inet, &f).is_none());
        f[16..18].copy_from_slice(&20u16.to_be_bytes());
        f[14] = 0x44;
        assert!(ipf_packet(Family::Inet, &f).is_none());
        f[14] = 0x65;
        assert!(ipf_packet(Family::Inet, &f).is_none());
        assert!(ipf_packet(Family::Inet, &f[..20]).is_none());
        // IPv6: 40 bytes of header plus the payload length.
        let mut f = vec![0u8; ETHER_HDR_LEN + 48];
        f[14] = 0x60;
        f[18..20].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(ipf_packet(Family::Inet6, &f).map(|m| m.len()), Some(48));
        f[18..20].copy_from_slice(&9u16.to_be_bytes());
        assert!(ipf_packet(Family::Inet6, &f).is_none());
        assert!(ipf_packet(Family::Inet6, &f[..30]).is_none());
    }

    fn mac(n: u8) -> [u8; 6] {
        [2, 0, 0, 0, 0, n]
    }

    #[test]
    fn the_cache_learns_moves_and_fills_to_maxaddr() {
        let br = Bridge::new("bridge0");
        let mut sc = br.lock();
        sc.maxaddr = 3;
        let t = Instant::now();
        sc.learn(&mac(1), 2, t);
        sc.learn(&mac(2), 3, t);
        // Multicast and zero sources are never learned.
        sc.learn(&[1, 0, 0x5e, 0, 0, 1], 2, t);
        sc.learn(&[0; 6], 2, t);
        assert_eq!(sc.lookup(&mac(1), t), Some(2));
        // A station that moved.
        sc.learn(&mac(1), 3, t);
        assert_eq!(sc.lookup(&mac(1), t), Some(3));
        sc.learn(&mac(3), 2, t);
        // Full at maxaddr: the fourth is not learned, and counted.
        sc.learn(&mac(4), 2, t);
        assert_eq!(sc.cache.len(), 3);
        assert_eq!(sc.lookup(&mac(4), t), None);
        assert_eq!(sc.stats.cache_full, 1);
    }

    #[test]
    fn entries_expire_after_the_timeout_and_sooner_in_a_topology_change() {
        let br = Bridge::new("bridge0");
        let mut sc = br.lock();
        sc.maxaddr = 3;
        let t = Instant::now();
        sc.learn(&mac(1), 2, t);
        sc.cache.insert(
            mac(9),
            Entry {
                ifindex: 3,
                used: t,
                flags: ifbaf::STATIC,
            },
        );
        assert_eq!(sc.lookup(&mac(1), t + Duration::from_secs(1199)), Some(2));
        assert_eq!(sc.lookup(&mac(1), t + Duration::from_secs(1200)), None);
        // While the topology changes, the forward delay (15 s) is the lifetime.
        sc.stp.topology_change = true;
        assert_eq!(sc.lookup(&mac(1), t + Duration::from_secs(14)), Some(2));
        assert_eq!(sc.lookup(&mac(1), t + Duration::from_secs(15)), None);
        sc.age(t + Duration::from_secs(20));
        assert_eq!(sc.cache.len(), 1, "the static entry stays");
        assert_eq!(sc.lookup(&mac(9), t + Duration::from_secs(99_999)), Some(3));
        // A static entry is not moved by learning.
        sc.learn(&mac(9), 2, t);
        assert_eq!(sc.lookup(&mac(9), t), Some(3));
    }

    #[test]
    fn flush_keeps_static_entries_and_flushall_does_not() {
        let br = Bridge::new("bridge0");
        let mut sc = br.lock();
        sc.maxaddr = 3;
        let t = Instant::now();
        sc.learn(&mac(1), 2, t);
        sc.learn(&mac(2), 3, t);
        sc.cache.insert(
            mac(9),
            Entry {
                ifindex: 3,
                used: t,
                flags: ifbaf::STATIC,
            },
        );
        sc.flush(false, Some(2));
        assert_eq!(sc.cache.len(), 2);
        sc.flush(false, None);
        assert_eq!(sc.cache.keys().copied().collect::<Vec<_>>(), vec![mac(9)]);
        sc.flush(true, None);
        assert!(sc.cache.is_empty());
    }
}
