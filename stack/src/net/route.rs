//! The IPv4 routing table: longest-prefix match over network and host routes.
//!
//! Routes are kept in one hash map per prefix length, and a bit set says which lengths
//! hold any route, so a lookup probes only the lengths in use, longest first: at most 33
//! probes whatever the table size, and far fewer in practice.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;

/// NetBSD's route flags (`<net/route.h>`).
pub mod rtf {
    pub const UP: u32 = 0x1;
    pub const GATEWAY: u32 = 0x2;
    pub const HOST: u32 = 0x4;
    pub const REJECT: u32 = 0x8;
    pub const DYNAMIC: u32 = 0x10;
    pub const MODIFIED: u32 = 0x20;
    pub const DONE: u32 = 0x40;
    pub const CONNECTED: u32 = 0x100;
    pub const LLDATA: u32 = 0x400;
    pub const STATIC: u32 = 0x800;
    pub const BLACKHOLE: u32 = 0x1000;
    pub const PROTO2: u32 = 0x4000;
    pub const PROTO1: u32 = 0x8000;
    pub const LOCAL: u32 = 0x40000;
    pub const BROADCAST: u32 = 0x80000;

    /// Flag letters in the order netstat prints them.
    pub const LETTERS: &[(u32, char)] = &[
        (UP, 'U'),
        (GATEWAY, 'G'),
        (HOST, 'H'),
        (REJECT, 'R'),
        (DYNAMIC, 'D'),
        (MODIFIED, 'M'),
        (DONE, 'd'),
        (CONNECTED, 'C'),
        (LLDATA, 'L'),
        (STATIC, 'S'),
        (PROTO1, '1'),
        (PROTO2, '2'),
        (BLACKHOLE, 'B'),
        (LOCAL, 'l'),
        (BROADCAST, 'b'),
    ];

    /// The letters of a flag word.
    pub fn letters(f: u32) -> String {
        LETTERS.iter().filter(|(b, _)| f & b != 0).map(|(_, c)| *c).collect()
    }
}

/// Where a route sends packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Gateway {
    /// Straight out of the interface: the destination is on the link.
    Link(u16),
    /// Through a router on the link.
    Inet(Ipv4Addr),
}

/// One route (`struct rtentry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtentry {
    pub dst: Ipv4Addr,
    pub len: u8,
    pub gateway: Gateway,
    /// Outgoing interface.
    pub ifindex: u16,
    /// Source address for packets that take this route.
    pub ifa: Ipv4Addr,
    pub flags: u32,
    /// Packets sent through this route.
    pub use_count: u64,
    /// Path MTU, 0 to use the interface's.
    pub mtu: u32,
}

/// A multiplicative hasher for u32 keys: the table's keys are addresses, which need no
/// protection from flooding (only configuration adds routes).
#[derive(Default, Clone, Copy)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = (u64::from(v) ^ 0x5bd1_e995).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 ^= self.0 >> 29;
    }
}

type Map = HashMap<u32, Rtentry, BuildHasherDefault<AddrHasher>>;

/// The table.
pub struct RouteTable {
    by_len: Vec<Map>,
    /// Bit n set: some route of prefix length n exists.
    lens: u64,
    count: usize,
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable {
            by_len: (0..=32).map(|_| Map::default()).collect(),
            lens: 0,
            count: 0,
        }
    }
}

/// The network part of an address for a prefix length.
pub fn mask(a: Ipv4Addr, len: u8) -> u32 {
    let m = u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0);
    u32::from(a) & m
}

impl RouteTable {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Longest-prefix match.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&Rtentry> {
        let d = u32::from(dst);
        let mut lens = self.lens;
        while lens != 0 {
            let len = 63 - lens.leading_zeros();
            lens &= !(1u64 << len);
            let m = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            if let Some(r) = self.by_len[len as usize].get(&(d & m)) {
                return Some(r);
            }
        }
        None
    }

    /// Longest-prefix match, for updating counters.
    pub fn lookup_mut(&mut self, dst: Ipv4Addr) -> Option<&mut Rtentry> {
        let d = u32::from(dst);
        let mut lens = self.lens;
        while lens != 0 {
            let len = 63 - lens.leading_zeros();
            lens &= !(1u64 << len);
            let m = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            if self.by_len[len as usize].contains_key(&(d & m)) {
                return self.by_len[len as usize].get_mut(&(d & m));
            }
        }
        None
    }

    /// The route for exactly this destination and prefix length.
    pub fn get_exact(&self, dst: Ipv4Addr, len: u8) -> Option<&Rtentry> {
        self.by_len.get(usize::from(len))?.get(&mask(dst, len))
    }

    pub fn get_exact_mut(&mut self, dst: Ipv4Addr, len: u8) -> Option<&mut Rtentry> {
        self.by_len.get_mut(usize::from(len))?.get_mut(&mask(dst, len))
    }

    /// Adds a route; EEXIST if one with the same destination and length exists.
    pub fn add(&mut self, mut r: Rtentry) -> Result<(), i32> {
        if r.len > 32 {
            return Err(libc::EINVAL);
        }
        let key = mask(r.dst, r.len);
        r.dst = Ipv4Addr::from(key);
        let m = &mut self.by_len[usize::from(r.len)];
        if m.contains_key(&key) {
            return Err(libc::EEXIST);
        }
        m.insert(key, r.clone());
        self.lens |= 1u64 << r.len;
        self.count += 1;
        Ok(())
    }

    /// Removes the route for exactly this destination and length (ESRCH if none).
    pub fn delete(&mut self, dst: Ipv4Addr, len: u8) -> Result<Rtentry, i32> {
        let m = self.by_len.get_mut(usize::from(len)).ok_or(libc::EINVAL)?;
        let r = m.remove(&mask(dst, len)).ok_or(libc::ESRCH)?;
        if m.is_empty() {
            self.lens &= !(1u64 << len);
        }
        self.count -= 1;
        Ok(r)
    }

    /// Every route, ordered by destination then prefix length, as netstat lists them.
    pub fn dump(&self) -> Vec<Rtentry> {
        let mut v: Vec<Rtentry> = self.by_len.iter().flat_map(|m| m.values().cloned()).collect();
        v.sort_by_key(|r| (u32::from(r.dst), r.len));
        v
    }

    /// Removes every route for which `f` is true; returns them.
    pub fn remove_where(&mut self, f: impl Fn(&Rtentry) -> bool) -> Vec<Rtentry> {
        let mut gone = Vec::new();
        for (len, m) in self.by_len.iter_mut().enumerate() {
            let keys: Vec<u32> = m.iter().filter(|(_, r)| f(r)).map(|(k, _)| *k).collect();
            for k in keys {
                if let Some(r) = m.remove(&k) {
                    gone.push(r);
                }
            }
            if m.is_empty() {
                self.lens &= !(1u64 << len);
            }
        }
        self.count -= gone.len();
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(dst: &str, len: u8, gw: Gateway) -> Rtentry {
        Rtentry {
            dst: dst.parse().unwrap(),
            len,
            gateway: gw,
            ifindex: 2,
            ifa: Ipv4Addr::UNSPECIFIED,
            flags: rtf::UP,
            use_count: 0,
            mtu: 0,
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = RouteTable::default();
        t.add(r("0.0.0.0", 0, Gateway::Inet("10.0.0.1".parse().unwrap())))
            .unwrap();
        t.add(r("10.0.0.0", 8, Gateway::Link(2))).unwrap();
        t.add(r("10.1.0.0", 16, Gateway::Link(3))).unwrap();
        t.add(r("10.1.2.3", 32, Gateway::Link(4))).unwrap();
        assert_eq!(t.lookup("10.1.2.3".parse().unwrap()).unwrap().len, 32);
        assert_eq!(t.lookup("10.1.2.4".parse().unwrap()).unwrap().len, 16);
        assert_eq!(t.lookup("10.2.0.1".parse().unwrap()).unwrap().len, 8);
        assert_eq!(t.lookup("192.168.0.1".parse().unwrap()).unwrap().len, 0);
        assert_eq!(t.add(r("10.1.9.9", 16, Gateway::Link(3))), Err(libc::EEXIST));
        t.delete("10.1.0.0".parse().unwrap(), 16).unwrap();
        assert_eq!(t.lookup("10.1.2.4".parse().unwrap()).unwrap().len, 8);
        assert_eq!(t.delete("10.1.0.0".parse().unwrap(), 16), Err(libc::ESRCH));
        t.delete("0.0.0.0".parse().unwrap(), 0).unwrap();
        assert!(t.lookup("192.168.0.1".parse().unwrap()).is_none());
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove_where(|_| true).len(), 2);
        assert!(t.is_empty());
    }

    #[test]
    fn many_routes() {
        let mut t = RouteTable::default();
        for i in 0..10_000u32 {
            let a = Ipv4Addr::from(0x0a00_0000 | (i << 8));
            t.add(r(&a.to_string(), 24, Gateway::Link(2))).unwrap();
        }
        for i in (0..10_000u32).step_by(97) {
            let a = Ipv4Addr::from(0x0a00_0000 | (i << 8) | 7);
            assert_eq!(t.lookup(a).unwrap().dst, Ipv4Addr::from(0x0a00_0000 | (i << 8)));
        }
    }
}

/// Requests on the table (the RTM_* messages of the routing socket), and the routes that
/// addresses bring with them.
pub mod control {
    use std::net::Ipv4Addr;

    use super::{rtf, Gateway, Rtentry};
    use crate::conf::Ctx;
    use crate::msg::{Msg, RtMsg, IFT_LOOP};
    use crate::net::if_control::Fail;

    /// Flags a client may set on a route it adds.
    const CLIENT_FLAGS: u32 = rtf::REJECT | rtf::BLACKHOLE | rtf::STATIC | rtf::PROTO1 | rtf::PROTO2;

    /// The message that describes a route.
    pub fn rt_msg(ctx: &Ctx, r: &Rtentry) -> RtMsg {
        RtMsg {
            rtm_flags: r.flags,
            rtm_index: r.ifindex,
            dst: Some(r.dst),
            gateway: match r.gateway {
                Gateway::Inet(g) => Some(g),
                Gateway::Link(_) => None,
            },
            prefixlen: (r.flags & rtf::HOST == 0).then_some(r.len),
            ifp: ctx.ifnet_by_index(r.ifindex).map(|i| i.name.clone()),
            ifa: Some(r.ifa).filter(|a| !a.is_unspecified()),
            mtu: r.mtu,
            use_count: r.use_count,
        }
    }

    /// The message for a request that succeeded: BSD's routing socket sets RTF_DONE on the
    /// answer and on the copy every listener gets (`route get` and `route monitor` show it).
    fn done(mut m: RtMsg) -> RtMsg {
        m.rtm_flags |= rtf::DONE;
        m
    }

    fn dst_len(m: &RtMsg) -> Result<(Ipv4Addr, u8), Fail> {
        let dst = m.dst.ok_or_else(|| Fail::with(libc::EINVAL, "no destination".into()))?;
        let len = m.prefixlen.unwrap_or(32);
        if len > 32 {
            return Err(Fail::new(libc::EINVAL));
        }
        Ok((dst, len))
    }

    /// Works out the interface and gateway of a new or changed route.
    fn resolve(ctx: &Ctx, m: &RtMsg) -> Result<(Gateway, u16, Ipv4Addr), Fail> {
        let named_if = match &m.ifp {
            Some(n) => Some(ctx.ifnet_by_name(n).ok_or_else(|| Fail::new(libc::ENXIO))?.index),
            None => None,
        };
        let ifa_of = |idx: u16| {
            ctx.inet
                .addrs
                .iter()
                .find(|ia| ia.ifindex == idx)
                .map(|ia| ia.addr)
                .unwrap_or(Ipv4Addr::UNSPECIFIED)
        };
        let Some(gw) = m.gateway else {
            let idx = named_if.ok_or(Fail::new(libc::EINVAL))?;
            return Ok((Gateway::Link(idx), idx, ifa_of(idx)));
        };
        // A gateway that is one of our addresses makes an interface route (`-interface`).
        if let Some(ia) = ctx.inet.addrs.iter().find(|ia| ia.addr == gw) {
            let idx = named_if.unwrap_or(ia.ifindex);
            return Ok((Gateway::Link(idx), idx, ia.addr));
        }
        if m.rtm_flags & rtf::GATEWAY == 0 {
            // `-interface` with an address that is not ours.
            return Err(Fail::new(libc::ENETUNREACH));
        }
        // Otherwise the gateway must be on a directly connected network.
        let via = ctx
            .rt
            .lookup(gw)
            .filter(|r| matches!(r.gateway, Gateway::Link(_)) && r.flags & rtf::LOCAL == 0)
            .ok_or(Fail::new(libc::ENETUNREACH))?;
        let idx = named_if.unwrap_or(via.ifindex);
        Ok((
            Gateway::Inet(gw),
            idx,
            if via.ifa.is_unspecified() { ifa_of(idx) } else { via.ifa },
        ))
    }

    /// RTM_ADD.
    pub fn rt_add(ctx: &mut Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        let (dst, len) = dst_len(m)?;
        let (gateway, ifindex, ifa) = resolve(ctx, m)?;
        let mut flags = rtf::UP | (m.rtm_flags & CLIENT_FLAGS);
        if len == 32 {
            flags |= rtf::HOST;
        }
        if matches!(gateway, Gateway::Inet(_)) {
            flags |= rtf::GATEWAY;
        }
        let r = Rtentry {
            dst,
            len,
            gateway,
            ifindex,
            ifa,
            flags,
            use_count: 0,
            mtu: m.mtu,
        };
        ctx.rt.add(r.clone()).map_err(Fail::new)?;
        let stored = ctx.rt.get_exact(dst, len).cloned().unwrap_or(r);
        let msg = done(rt_msg(ctx, &stored));
        ctx.rtsock.broadcast(&Msg::RtAdd(msg.clone()));
        Ok(msg)
    }

    /// RTM_DELETE.
    pub fn rt_delete(ctx: &mut Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        let (dst, len) = dst_len(m)?;
        let r = ctx.rt.delete(dst, len).map_err(Fail::new)?;
        let msg = done(rt_msg(ctx, &r));
        ctx.rtsock.broadcast(&Msg::RtDelete(msg.clone()));
        Ok(msg)
    }

    /// RTM_CHANGE: a new gateway, interface, flags or MTU for an existing route.
    pub fn rt_change(ctx: &mut Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        let (dst, len) = dst_len(m)?;
        if ctx.rt.get_exact(dst, len).is_none() {
            return Err(Fail::new(libc::ESRCH));
        }
        let resolved = if m.gateway.is_some() || m.ifp.is_some() {
            Some(resolve(ctx, m)?)
        } else {
            None
        };
        let Some(r) = ctx.rt.get_exact_mut(dst, len) else {
            return Err(Fail::new(libc::ESRCH));
        };
        if let Some((gateway, ifindex, ifa)) = resolved {
            r.gateway = gateway;
            r.ifindex = ifindex;
            r.ifa = ifa;
            r.flags = (r.flags & !rtf::GATEWAY)
                | if matches!(gateway, Gateway::Inet(_)) {
                    rtf::GATEWAY
                } else {
                    0
                };
        }
        r.flags = (r.flags & !CLIENT_FLAGS) | (m.rtm_flags & CLIENT_FLAGS) | (r.flags & rtf::STATIC);
        if m.mtu != 0 {
            r.mtu = m.mtu;
        }
        let r = r.clone();
        let msg = done(rt_msg(ctx, &r));
        ctx.rtsock.broadcast(&Msg::RtChange(msg.clone()));
        Ok(msg)
    }

    /// RTM_GET: the route a destination takes (or exactly the one named, with a mask).
    pub fn rt_get(ctx: &Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        let dst = m.dst.ok_or_else(|| Fail::with(libc::EINVAL, "no destination".into()))?;
        let r = match m.prefixlen {
            Some(len) => ctx.rt.get_exact(dst, len),
            None => ctx.rt.lookup(dst),
        };
        r.map(|r| done(rt_msg(ctx, r))).ok_or(Fail::new(libc::ESRCH))
    }

    /// `route flush` (gateway and static routes, as NetBSD's route flushes them) and
    /// `route flushall` (all but those addresses own).
    pub fn rt_flush(ctx: &mut Ctx, all: bool) -> Vec<RtMsg> {
        let gone = ctx.rt.remove_where(|r| {
            if all {
                r.flags & (rtf::LOCAL | rtf::CONNECTED) == 0
            } else {
                r.flags & (rtf::GATEWAY | rtf::STATIC) != 0
            }
        });
        let msgs: Vec<RtMsg> = gone.iter().map(|r| done(rt_msg(ctx, r))).collect();
        for m in &msgs {
            ctx.rtsock.broadcast(&Msg::RtDelete(m.clone()));
        }
        msgs
    }

    fn add_quiet(ctx: &mut Ctx, r: Rtentry) {
        if ctx.rt.add(r.clone()).is_ok() {
            let m = rt_msg(ctx, &r);
            ctx.rtsock.broadcast(&Msg::RtAdd(m));
        }
    }

    fn del_quiet(ctx: &mut Ctx, dst: Ipv4Addr, len: u8, want: impl Fn(&Rtentry) -> bool) {
        if ctx.rt.get_exact(dst, len).is_some_and(want) {
            if let Ok(r) = ctx.rt.delete(dst, len) {
                let m = rt_msg(ctx, &r);
                ctx.rtsock.broadcast(&Msg::RtDelete(m));
            }
        }
    }

    /// The routes an address brings: its connected network, and a local host route.
    pub fn addr_routes_add(ctx: &mut Ctx, ifindex: u16, addr: Ipv4Addr, len: u8) {
        let lo = ctx.ifnets.iter().find(|i| i.if_type == IFT_LOOP).map(|i| i.index);
        if len < 32 {
            add_quiet(
                ctx,
                Rtentry {
                    dst: Ipv4Addr::from(super::mask(addr, len)),
                    len,
                    gateway: Gateway::Link(ifindex),
                    ifindex,
                    ifa: addr,
                    flags: rtf::UP | rtf::CONNECTED,
                    use_count: 0,
                    mtu: 0,
                },
            );
        }
        add_quiet(
            ctx,
            Rtentry {
                dst: addr,
                len: 32,
                gateway: Gateway::Link(ifindex),
                ifindex: lo.unwrap_or(ifindex),
                ifa: addr,
                flags: rtf::UP | rtf::HOST | rtf::LOCAL,
                use_count: 0,
                mtu: 0,
            },
        );
    }

    /// Takes away the routes of an address that is going (the connected route stays while
    /// another address of the interface is on the same network).
    pub fn addr_routes_del(ctx: &mut Ctx, ifindex: u16, addr: Ipv4Addr, len: u8) {
        del_quiet(ctx, addr, 32, |r| r.flags & rtf::LOCAL != 0);
        let net = super::mask(addr, len);
        let still = ctx
            .inet
            .addrs
            .iter()
            .any(|ia| ia.ifindex == ifindex && ia.prefix_len() == len && super::mask(ia.addr, len) == net);
        if len < 32 && !still {
            del_quiet(ctx, Ipv4Addr::from(net), len, |r| {
                r.flags & rtf::CONNECTED != 0 && r.ifindex == ifindex
            });
        }
    }

    /// Removes every route through an interface that is going away.
    pub fn if_routes_purge(ctx: &mut Ctx, ifindex: u16) {
        let gone = ctx
            .rt
            .remove_where(|r| r.ifindex == ifindex || r.gateway == Gateway::Link(ifindex));
        for r in gone {
            let m = rt_msg(ctx, &r);
            ctx.rtsock.broadcast(&Msg::RtDelete(m));
        }
    }
}
