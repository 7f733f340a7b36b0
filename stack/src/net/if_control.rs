//! Interface control: attach and detach, the SIOC* requests ifconfig makes, cloning, and the
//! routing messages that tell subscribers about each change.

use std::sync::Arc;

use crate::conf::Ctx;
use crate::inet;
use crate::msg::{iff, IfAnnounceMsg, IfInfo, IfMsg, IfSetReq, Msg, IFAN_ARRIVAL, IFAN_DEPARTURE};
use crate::net::ifnet::Ifnet;

/// A failed request: an errno and, where it helps, what exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub errno: i32,
    pub text: Option<String>,
}

impl Fail {
    pub fn new(errno: i32) -> Fail {
        Fail { errno, text: None }
    }

    pub fn with(errno: i32, text: String) -> Fail {
        Fail {
            errno,
            text: Some(text),
        }
    }
}

/// Interface kinds that `ifconfig NAME create` makes (`ifconfig -C` lists them):
/// bridges, loopbacks, and Ethernet interfaces whose driver `ifconfig NAME linkstr`
/// opens: `tap`, and `hub` (also under rump's name `shmif`).
pub const CLONERS: &[&str] = &["bridge", "hub", "lo", "shmif", "tap"];

/// The cloners a variant has: io-pkt-v4 does not bridge.
pub fn cloners(variant: crate::sys::Variant) -> Vec<String> {
    CLONERS
        .iter()
        .filter(|c| **c != "bridge" || variant.has_bridge())
        .map(|c| c.to_string())
        .collect()
}

/// Sends RTM_IFINFO for an interface.
pub fn announce_ifinfo(ctx: &mut Ctx, ifp: &Ifnet) {
    let m = Msg::IfInfo(IfMsg {
        ifm_index: ifp.index,
        ifm_flags: ifp.flags(),
        ifname: ifp.name.clone(),
        ifm_data: ifp.data(),
    });
    ctx.rtsock.broadcast(&m);
}

fn announce(ctx: &mut Ctx, ifp: &Ifnet, what: u16) {
    let m = Msg::IfAnnounce(IfAnnounceMsg {
        ifan_index: ifp.index,
        ifan_name: ifp.name.clone(),
        ifan_what: what,
    });
    ctx.rtsock.broadcast(&m);
}

/// The lowest unused interface index.
pub fn next_index(ctx: &Ctx) -> u16 {
    (1..=u16::MAX)
        .find(|i| ctx.ifnet_by_index(*i).is_none())
        .unwrap_or(u16::MAX)
}

/// The first free name `<base><N>`.
pub fn next_name(ctx: &Ctx, base: &str) -> String {
    (0..)
        .map(|n| format!("{base}{n}"))
        .find(|n| ctx.ifnet_by_name(n).is_none())
        .unwrap_or_else(|| base.to_string())
}

/// Checks a name an interface may have: letters, then a unit number, at most 15 bytes.
pub fn valid_name(name: &str) -> bool {
    let unit_start = name.find(|c: char| c.is_ascii_digit());
    name.len() < 16
        && matches!(unit_start, Some(i) if i > 0
            && name[..i].chars().all(|c| c.is_ascii_lowercase())
            && name[i..].chars().all(|c| c.is_ascii_digit()))
}

/// Attaches an interface (`if_attach`) and announces it.
pub fn if_attach(ctx: &mut Ctx, ifp: Ifnet) -> Result<Arc<Ifnet>, Fail> {
    if ctx.ifnet_by_name(&ifp.name).is_some() {
        return Err(Fail::with(libc::EEXIST, format!("{}: interface exists", ifp.name)));
    }
    let ifp = Arc::new(ifp);
    let pos = ctx.ifnets.partition_point(|i| i.index < ifp.index);
    ctx.ifnets.insert(pos, ifp.clone());
    announce(ctx, &ifp, IFAN_ARRIVAL);
    Ok(ifp)
}

/// Detaches an interface: its addresses go, then the interface.
pub fn if_detach(ctx: &mut Ctx, name: &str) -> Result<Arc<Ifnet>, Fail> {
    let pos = ctx
        .ifnets
        .iter()
        .position(|i| i.name == name)
        .ok_or_else(|| Fail::new(libc::ENXIO))?;
    let ifp = ctx.ifnets[pos].clone();
    if ifp.set_up(false) {
        announce_ifinfo(ctx, &ifp);
    }
    inet::purge_if(ctx, ifp.index, &ifp.name);
    crate::inet6::purge_if(ctx, ifp.index, &ifp.name);
    ctx.ifnets.remove(pos);
    announce(ctx, &ifp, IFAN_DEPARTURE);
    Ok(ifp)
}

/// The interfaces with their addresses, all or the one named.
pub fn if_list(ctx: &Ctx, name: Option<&str>) -> Result<Vec<IfInfo>, Fail> {
    let mut out = Vec::new();
    for ifp in &ctx.ifnets {
        if name.is_some_and(|n| n != ifp.name) {
            continue;
        }
        let mut info = ifp.info();
        info.addrs = ctx
            .inet
            .addrs
            .iter()
            .filter(|ia| ia.ifindex == ifp.index)
            .map(|ia| ia.to_ifaddr())
            .collect();
        info.addrs.extend(crate::inet6::if_addrs(ctx, ifp.index));
        out.push(info);
    }
    if out.is_empty() && name.is_some() {
        return Err(Fail::new(libc::ENXIO));
    }
    Ok(out)
}

/// SIOCIFCREATE: makes a cloned interface: `lo1`, `bridge0`, and `tap1`, `hub0`,
/// `shmif0`, whose driver `if_linkstr` opens. An unknown kind is EINVAL, as NetBSD's
/// if_clone_create says when no cloner matches.
pub fn if_create(ctx: &mut Ctx, stack: &crate::sys::Stack, name: &str) -> Result<(), Fail> {
    if !valid_name(name) {
        return Err(Fail::with(libc::EINVAL, format!("{name}: bad interface name")));
    }
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if !cloners(stack.variant).iter().any(|c| c == base) {
        return Err(Fail::new(libc::EINVAL));
    }
    if ctx.ifnet_by_name(name).is_some() {
        return Err(Fail::new(libc::EEXIST));
    }
    let idx = next_index(ctx);
    match base {
        "lo" => {
            if_attach(ctx, Ifnet::loopback(idx, name.to_string(), true))?;
        }
        "bridge" => {
            let br = crate::net::if_bridge::Bridge::new(name);
            let ifp = if_attach(ctx, Ifnet::new_bridge(idx, name.to_string(), br.clone()))?;
            br.set_ifp(&ifp);
        }
        _ => {
            let mut ifp = Ifnet::ether_nodriver(
                idx,
                name.to_string(),
                pktbox_drivers::random_mac(),
                pktbox_drivers::ETHERMTU,
            );
            ifp.cloned = true;
            ifp.clone_kind = Some(if base == "tap" { "tap" } else { "hub" });
            let ifp = if_attach(ctx, ifp)?;
            stack.rx.add(ifp);
        }
    }
    Ok(())
}

/// SIOCSLINKSTR: opens a cloned interface's driver with `linkstr`, the driver's `-d`
/// options (`tap=NAME,host=ADDR/LEN`; for a hub a bare directory is its `path=`, as
/// rump's shmif takes its bus file). The interface keeps its name and address, so
/// `name=` and `mac=` are refused; a second linkstr is EBUSY.
pub fn if_linkstr(ctx: &mut Ctx, stack: &crate::sys::Stack, name: &str, linkstr: &str) -> Result<(), Fail> {
    let ifp = ctx.ifnet_by_name(name).cloned().ok_or_else(|| Fail::new(libc::ENXIO))?;
    let Some(kind) = ifp.clone_kind else {
        return Err(Fail::with(
            libc::EOPNOTSUPP,
            format!("{name}: no link string for this interface"),
        ));
    };
    if ifp.driver.get().is_some() {
        return Err(Fail::with(libc::EBUSY, format!("{name}: link string already set")));
    }
    // A stack without receive threads (a detached one: unit tests, the fuzz harness)
    // could not serve a driver, and opens none.
    if !stack.rx.running() {
        return Err(Fail::with(libc::EOPNOTSUPP, "this stack has no receive threads".into()));
    }
    let opts = if kind == "hub" && !linkstr.contains('=') {
        if linkstr.contains(',') || linkstr.is_empty() {
            return Err(Fail::with(libc::EINVAL, format!("{linkstr}: bad link string")));
        }
        format!("path={linkstr}")
    } else {
        linkstr.to_string()
    };
    let parsed = pktbox_drivers::parse_options(kind, &opts).map_err(|e| Fail::with(libc::EINVAL, e.reason))?;
    let c = &parsed.common;
    if c.name.is_some() || c.mac.is_some() || c.priority.is_some() {
        return Err(Fail::with(
            libc::EINVAL,
            "name=, mac= and priority= are fixed when the interface is created".into(),
        ));
    }
    let o = pktbox_drivers::open(kind, &opts).map_err(|e| Fail::with(libc::EINVAL, e.reason))?;
    if let Some(mtu) = o.common.mtu {
        ifp.set_mtu(mtu);
    }
    if o.common.promiscuous {
        ifp.ifpromisc(true);
    }
    if ifp.attach_driver(o.driver).is_err() {
        return Err(Fail::with(libc::EBUSY, format!("{name}: link string already set")));
    }
    stack.rx.changed();
    announce_ifinfo(ctx, &ifp);
    Ok(())
}

/// SIOCIFDESTROY: removes a cloned interface. Interfaces on drivers are not destroyable.
/// A bridge lets its members go; a member leaves its bridge.
pub fn if_destroy(ctx: &mut Ctx, stack: &crate::sys::Stack, name: &str) -> Result<(), Fail> {
    let ifp = ctx.ifnet_by_name(name).cloned().ok_or_else(|| Fail::new(libc::ENXIO))?;
    if !ifp.cloned {
        return Err(Fail::new(libc::EOPNOTSUPP));
    }
    if let Some(br) = &ifp.bridge_sc {
        crate::net::if_bridge::bridge_detach(br);
    }
    crate::net::if_bridge::member_detach(&ifp);
    stack.rx.remove(&ifp);
    if_detach(ctx, name).map(|_| ())
}

/// SIOCSIFFLAGS and SIOCSIFMTU.
pub fn if_set(ctx: &mut Ctx, req: &IfSetReq) -> Result<(), Fail> {
    let ifp = ctx
        .ifnet_by_name(&req.name)
        .cloned()
        .ok_or_else(|| Fail::new(libc::ENXIO))?;
    if let Some(mtu) = req.mtu {
        if mtu < 68 || mtu > ifp.max_mtu {
            return Err(Fail::with(
                libc::EINVAL,
                format!("mtu {mtu} out of range 68-{}", ifp.max_mtu),
            ));
        }
    }
    let settable = !iff::CANTCHANGE;
    if (req.set_flags | req.clear_flags) & !settable & !iff::UP != 0 {
        return Err(Fail::with(libc::EINVAL, "flags the stack owns cannot be set".into()));
    }
    if req.set_caps & !ifp.capabilities() != 0 {
        return Err(Fail::with(libc::EINVAL, "the interface cannot do that offload".into()));
    }
    if req.set_caps | req.clear_caps != 0 {
        let caps = (ifp.capenable() | req.set_caps) & !req.clear_caps;
        if caps != ifp.capenable() {
            ifp.set_capenable(caps).map_err(Fail::new)?;
            announce_ifinfo(ctx, &ifp);
        }
    }
    if let Some(mtu) = req.mtu {
        if mtu != ifp.mtu() {
            ifp.set_mtu(mtu);
            announce_ifinfo(ctx, &ifp);
        }
    }
    let mut new = (ifp.flags() | req.set_flags) & !req.clear_flags;
    // UP brings RUNNING with it, as a driver's init does; down takes it away.
    if new & iff::UP != 0 {
        new |= iff::RUNNING;
    } else {
        new &= !iff::RUNNING;
    }
    let was_up = ifp.is_up();
    if ifp.set_flags(new) {
        announce_ifinfo(ctx, &ifp);
    }
    if let Some(br) = &ifp.bridge_sc {
        crate::net::if_bridge::bridge_updown(br, ifp.is_up());
    }
    if !was_up && ifp.is_up() {
        crate::inet6::if_up(ctx, &ifp);
    }
    Ok(())
}
