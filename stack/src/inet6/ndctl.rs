//! What `ndp` asks of Neighbor Discovery over the control channel: deleting neighbor
//! cache entries, the prefix and default router lists, and an interface's ND parameters
//! (NetBSD's SIOCGNBRINFO_IN6 / SIOCGPRLST_IN6 / SIOCGDRLST_IN6 / SIOCGIFINFO_IN6).

use std::time::Instant;

use crate::conf::Ctx;
use crate::inet6::nd6::{NdEntry, Nud};
use crate::msg::{NdDelReq, NdIfInfo, NdPrefixInfo, NdRouterInfo, NdSetReq};
use crate::net::if_control::Fail;

/// `ndp -d`: removes the neighbor cache entry of `req.addr` (on `req.ifname` when given;
/// a link-local address without one must be unambiguous). Packets waiting for its
/// resolution go with it. ESRCH when there is no such entry, ENXIO for an unknown
/// interface.
pub fn nd6_delete(ctx: &mut Ctx, req: &NdDelReq) -> Result<(), Fail> {
    let index = match &req.ifname {
        Some(n) => Some(
            ctx.ifnet_by_name(n)
                .map(|i| i.index)
                .ok_or_else(|| Fail::new(libc::ENXIO))?,
        ),
        None => None,
    };
    // A proxy entry goes with it (and its solicited-node group).
    let proxied: Vec<(u16, std::net::Ipv6Addr)> = ctx
        .inet6
        .nd
        .proxies
        .keys()
        .filter(|(i, a)| *a == req.addr && index.is_none_or(|x| x == *i))
        .copied()
        .collect();
    for k in &proxied {
        ctx.inet6.nd.proxies.remove(k);
        if let Some(ifp) = ctx.ifnet_by_index(k.0).cloned() {
            crate::inet6::in6_leavegroup(ctx, &ifp, crate::wire::ipv6::addr::solicited_node(&k.1));
        }
    }
    let keys: Vec<(u16, std::net::Ipv6Addr)> = ctx
        .inet6
        .nd
        .cache
        .keys()
        .filter(|(i, a)| *a == req.addr && index.is_none_or(|x| x == *i))
        .copied()
        .collect();
    match keys.as_slice() {
        [] if !proxied.is_empty() => Ok(()),
        [] => Err(Fail::new(libc::ESRCH)),
        [k] => {
            ctx.inet6.nd.cache.remove(k);
            Ok(())
        }
        _ => Err(Fail::with(
            libc::EINVAL,
            format!("{} is a neighbor on more than one interface: give its scope", req.addr),
        )),
    }
}

/// `ndp -s ADDR LLADDR [temp] [proxy]`: with `proxy` a proxy entry (solicitations for
/// ADDR answered with LLADDR, see nd6's proxy_na); otherwise a static entry (or with `temp` an ordinary STALE one,
/// which ND confirms and ages as any other) for a neighbor on a connected link.
pub fn nd6_set(ctx: &mut Ctx, req: &NdSetReq) -> Result<(), Fail> {
    let scope = match &req.ifname {
        Some(n) => Some(
            ctx.ifnet_by_name(n)
                .map(|i| i.index)
                .ok_or_else(|| Fail::new(libc::ENXIO))?,
        ),
        None => None,
    };
    let a = req.addr;
    if a.is_multicast() || a.is_unspecified() || a.is_loopback() || crate::inet6::in6_ifaddr(ctx, &a).is_some() {
        return Err(Fail::with(libc::EINVAL, format!("{a} cannot be a neighbor")));
    }
    let on_link = crate::inet6::nd6::nd6_nexthop(ctx, &a, scope)
        .filter(|(i, nh)| *nh == a && i.if_type != crate::msg::IFT_LOOP)
        .map(|(i, _)| i);
    let Some(ifp) = on_link else {
        return Err(Fail::with(
            libc::EHOSTUNREACH,
            format!("{a} is not on a connected link"),
        ));
    };
    let key = (ifp.index, a);
    if req.proxy {
        if req.lladdr[0] & 1 != 0 {
            return Err(Fail::with(
                libc::EINVAL,
                "a proxy entry needs a unicast link-layer address".into(),
            ));
        }
        // Solicitations for it go to its solicited-node group: listen there once.
        if ctx.inet6.nd.proxies.insert(key, req.lladdr).is_none() {
            crate::inet6::in6_joingroup(ctx, &ifp, crate::wire::ipv6::addr::solicited_node(&a));
        }
        return Ok(());
    }
    let nd = &mut ctx.inet6.nd;
    if !nd.cache.contains_key(&key) && nd.cache.len() >= nd.max_entries {
        // Room as any new entry gets it: the stalest ordinary entry goes.
        let victim = nd
            .cache
            .iter()
            .filter(|(_, e)| !e.permanent)
            .min_by_key(|(_, e)| e.touched)
            .map(|(k, _)| *k);
        match victim {
            Some(k) => {
                nd.cache.remove(&k);
                ctx.inet6.icmp6stat.nd_evicted += 1;
            }
            None => return Err(Fail::new(libc::ENOBUFS)),
        }
    }
    let now = Instant::now();
    let e = ctx.inet6.nd.cache.entry(key).or_insert_with(|| NdEntry {
        lladdr: None,
        state: Nud::Stale,
        is_router: false,
        asked: 0,
        next: None,
        hold: Default::default(),
        touched: now,
        permanent: false,
    });
    e.lladdr = Some(req.lladdr);
    e.state = if req.temp { Nud::Stale } else { Nud::Reachable };
    e.next = None;
    e.asked = 0;
    e.touched = now;
    e.permanent = !req.temp;
    // Packets that waited for this neighbor go now.
    let held: Vec<_> = e.hold.drain(..).collect();
    for m in held {
        let _ = crate::net::ether::ether_frame_out(&ifp, m, req.lladdr, crate::wire::ethernet::ETHERTYPE_IPV6);
    }
    Ok(())
}

/// The state of a router's neighbor cache entry, as `ndp -p` names it.
fn rtr_state(ctx: &Ctx, ifindex: u16, a: &std::net::Ipv6Addr) -> String {
    match ctx.inet6.nd.cache.get(&(ifindex, *a)).map(|e| e.state) {
        None => "no neighbor state".into(),
        Some(Nud::Incomplete) => "incomplete".into(),
        Some(Nud::Reachable) => "reachable".into(),
        Some(Nud::Stale) => "stale".into(),
        Some(Nud::Delay) => "delay".into(),
        Some(Nud::Probe) => "probe".into(),
    }
}

fn ifname(ctx: &Ctx, index: u16) -> String {
    ctx.ifnet_by_index(index).map(|i| i.name.clone()).unwrap_or_default()
}

/// The prefix list.
pub fn nd6_prefixes(ctx: &Ctx) -> Vec<NdPrefixInfo> {
    let now = Instant::now();
    let life = |v: u32| (v != u32::MAX).then_some(v);
    ctx.inet6
        .nd
        .prefixes
        .iter()
        .map(|p| NdPrefixInfo {
            prefix: p.prefix,
            len: p.len,
            ifname: ifname(ctx, p.ifindex),
            onlink: true,
            autonomous: p.autonomous,
            vltime: life(p.vltime),
            pltime: life(p.pltime),
            expire: p.expire.map(|t| t.saturating_duration_since(now).as_secs()),
            advrtrs: vec![(p.advrtr, rtr_state(ctx, p.ifindex, &p.advrtr))],
        })
        .collect()
}

/// The default router list.
pub fn nd6_routers(ctx: &Ctx) -> Vec<NdRouterInfo> {
    let now = Instant::now();
    ctx.inet6
        .nd
        .routers
        .iter()
        .map(|r| NdRouterInfo {
            addr: r.addr,
            ifname: ifname(ctx, r.ifindex),
            managed: r.raflags & 0x80 != 0,
            other: r.raflags & 0x40 != 0,
            pref: (r.raflags >> 3) & 3,
            expire: Some(r.expire.saturating_duration_since(now).as_secs()),
        })
        .collect()
}

/// `ndp -i IF`: ENXIO for an unknown interface.
pub fn nd6_ifinfo(ctx: &Ctx, name: &str) -> Result<NdIfInfo, Fail> {
    let ifp = ctx.ifnet_by_name(name).ok_or_else(|| Fail::new(libc::ENXIO))?;
    let nd = &ctx.inet6.nd;
    Ok(NdIfInfo {
        linkmtu: nd.linkmtu.get(&ifp.index).copied().unwrap_or(0),
        maxmtu: ifp.mtu(),
        curhlim: ctx.inet6.hlim,
        basereachable_ms: nd.reachable.as_millis().min(u128::from(u32::MAX)) as u32,
        // Entries stay reachable for the base time itself (no random factor here).
        reachable_s: nd.reachable.as_secs().min(u64::from(u32::MAX)) as u32,
        retrans_ms: nd.retrans.as_millis().min(u128::from(u32::MAX)) as u32,
        nud: true,
        accept_rtadv: ctx.inet6.accept_rtadv,
        auto_linklocal: true,
    })
}
