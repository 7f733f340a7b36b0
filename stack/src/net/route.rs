//! The routing tables: one per address family behind one interface ([`Rib`]), each a
//! longest-prefix match over network and host routes.
//!
//! A table keeps one hash map per prefix length, and a bit set says which lengths hold any
//! route, so a lookup probes only the lengths in use, longest first: at most 33 probes for
//! IPv4 and 129 for IPv6 whatever the table size, and as many as distinct lengths are in
//! use in practice (a handful). The table is generic over the address type; the IPv4 table
//! keys on `u32` and the IPv6 table on `u128`, so neither pays for the other.
//!
//! IPv6 scoped addresses (link-local unicast, interface- and link-local multicast) are keyed
//! as KAME keys them: the zone (interface index) embedded in the second 16-bit word
//! ([`in6_embed_scope`]), so `fe80::/64` on en0 and on en1 are two routes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use crate::msg::RtMetrics;

use crate::wire::route::rtf;

/// Where a route sends packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Gateway<A = Ipv4Addr> {
    /// Straight out of the interface: the destination is on the link.
    Link(u16),
    /// Through a router on the link (for IPv6 a link-local router's zone is the route's
    /// interface).
    Inet(A),
}

/// One route (`struct rtentry`) of the table of address type `A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtentry<A = Ipv4Addr> {
    /// The destination, masked to `len` (IPv6 scoped destinations with the zone embedded).
    pub dst: A,
    pub len: u8,
    pub gateway: Gateway<A>,
    /// Outgoing interface.
    pub ifindex: u16,
    /// Source address for packets that take this route (unspecified: the interface's).
    pub ifa: A,
    pub flags: u32,
    /// Packets sent through this route.
    pub use_count: u64,
    /// Path MTU, 0 to use the interface's.
    pub mtu: u32,
    /// The other metrics (`route -hopcount`, `-rtt`, ...), None when all are zero: most
    /// routes have none, and the table stays dense for lookups.
    pub rmx: Option<Box<RtMetrics>>,
    /// RTV_* bits of the metrics the stack must not change (`-lock`, `-lockrest`).
    pub locks: u32,
}

impl<A: RtAddr> Rtentry<A> {
    /// A route with no metrics, no packets counted and no locks.
    pub fn new(dst: A, len: u8, gateway: Gateway<A>, ifindex: u16, ifa: A, flags: u32) -> Rtentry<A> {
        Rtentry {
            dst,
            len,
            gateway,
            ifindex,
            ifa,
            flags,
            use_count: 0,
            mtu: 0,
            rmx: None,
            locks: 0,
        }
    }

    /// The metrics other than the MTU (all zero when none were set).
    pub fn metrics(&self) -> RtMetrics {
        self.rmx.as_deref().copied().unwrap_or_default()
    }

    /// The gateway as a family-generic address (None for a link route).
    pub fn gateway_ip(&self) -> Option<IpAddr> {
        match self.gateway {
            Gateway::Inet(g) => Some(g.to_ip()),
            Gateway::Link(_) => None,
        }
    }

    /// The source address as a family-generic address (None when the route names none).
    pub fn ifa_ip(&self) -> Option<IpAddr> {
        (self.ifa != A::UNSPECIFIED).then(|| self.ifa.to_ip())
    }
}

/// An address type a table is keyed on: [`Ipv4Addr`] (u32 keys) or [`Ipv6Addr`] (u128).
pub trait RtAddr: Copy + Eq + Ord + std::fmt::Debug + Send + Sync + 'static {
    /// The integer the table hashes.
    type Key: Copy + Eq + Hash + Ord + std::fmt::Debug;
    /// Address length in bits (32, 128).
    const BITS: u8;
    const UNSPECIFIED: Self;
    fn key(self) -> Self::Key;
    fn from_key(k: Self::Key) -> Self;
    /// The first `len` bits of `k` (`len` at most `BITS`).
    fn mask_key(k: Self::Key, len: u8) -> Self::Key;
    fn to_ip(self) -> IpAddr;
    fn from_ip(a: IpAddr) -> Option<Self>;
}

impl RtAddr for Ipv4Addr {
    type Key = u32;
    const BITS: u8 = 32;
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;
    #[inline]
    fn key(self) -> u32 {
        u32::from(self)
    }
    #[inline]
    fn from_key(k: u32) -> Self {
        Ipv4Addr::from(k)
    }
    #[inline]
    fn mask_key(k: u32, len: u8) -> u32 {
        k & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(self)
    }
    fn from_ip(a: IpAddr) -> Option<Self> {
        match a {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
}

impl RtAddr for Ipv6Addr {
    type Key = u128;
    const BITS: u8 = 128;
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;
    #[inline]
    fn key(self) -> u128 {
        u128::from(self)
    }
    #[inline]
    fn from_key(k: u128) -> Self {
        Ipv6Addr::from(k)
    }
    #[inline]
    fn mask_key(k: u128, len: u8) -> u128 {
        k & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(self)
    }
    fn from_ip(a: IpAddr) -> Option<Self> {
        match a {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
}

/// True for an IPv6 address whose meaning depends on the link (a zone): link-local unicast
/// (fe80::/10) and interface- or link-local multicast (ff01::/16, ff02::/16).
pub fn in6_is_scoped(a: Ipv6Addr) -> bool {
    let s = a.segments();
    (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xff0f) == 0xff01 || (s[0] & 0xff0f) == 0xff02
}

/// KAME's embedded form: a scoped address with its zone (interface index) in the second
/// 16-bit word; other addresses unchanged. Table keys of scoped routes are in this form.
pub fn in6_embed_scope(a: Ipv6Addr, zone: u16) -> Ipv6Addr {
    if !in6_is_scoped(a) {
        return a;
    }
    let mut s = a.segments();
    s[1] = zone;
    Ipv6Addr::from(s)
}

/// The address without its embedded zone, and the zone (0 for an unscoped address).
pub fn in6_clear_scope(a: Ipv6Addr) -> (Ipv6Addr, u32) {
    if !in6_is_scoped(a) {
        return (a, 0);
    }
    let mut s = a.segments();
    let zone = u32::from(s[1]);
    s[1] = 0;
    (Ipv6Addr::from(s), zone)
}

/// A multiplicative hasher for the tables' integer keys: the keys are addresses, which need
/// no protection from flooding (only configuration adds routes).
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
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.0 = (u64::from(v) ^ 0x5bd1_e995).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 ^= self.0 >> 29;
    }
    #[inline]
    fn write_u128(&mut self, v: u128) {
        // Prefixes keep their varying bits high and zeros low: fold the halves so every
        // bit reaches the low bits hashbrown picks buckets with.
        let x = ((v >> 64) as u64).wrapping_mul(0xff51_afd7_ed55_8ccd) ^ (v as u64);
        let x = (x ^ (x >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }
}

type Map<A> = HashMap<<A as RtAddr>::Key, Rtentry<A>, BuildHasherDefault<AddrHasher>>;

/// One family's table.
pub struct RouteTable<A: RtAddr = Ipv4Addr> {
    by_len: Vec<Map<A>>,
    /// Bit n (of the 192) set: some route of prefix length n exists.
    lens: [u64; 3],
    count: usize,
}

/// The IPv6 table.
pub type RouteTable6 = RouteTable<Ipv6Addr>;
/// A route of the IPv6 table.
pub type Rtentry6 = Rtentry<Ipv6Addr>;

impl<A: RtAddr> Default for RouteTable<A> {
    fn default() -> Self {
        RouteTable {
            by_len: (0..=A::BITS).map(|_| Map::<A>::default()).collect(),
            lens: [0; 3],
            count: 0,
        }
    }
}

/// The network part of an IPv4 address for a prefix length.
pub fn mask(a: Ipv4Addr, len: u8) -> u32 {
    Ipv4Addr::mask_key(u32::from(a), len.min(32))
}

/// The network part of an IPv6 address for a prefix length.
pub fn mask6(a: Ipv6Addr, len: u8) -> Ipv6Addr {
    Ipv6Addr::from(Ipv6Addr::mask_key(u128::from(a), len.min(128)))
}

impl<A: RtAddr> RouteTable<A> {
    /// Number of routes.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The prefix length and key of the longest route matching `d`.
    #[inline]
    fn find(&self, d: A::Key) -> Option<(usize, A::Key)> {
        let mut w = usize::from(A::BITS) / 64;
        loop {
            let mut bits = self.lens[w];
            while bits != 0 {
                let b = 63 - bits.leading_zeros();
                bits &= !(1u64 << b);
                let len = w * 64 + b as usize;
                let k = A::mask_key(d, len as u8);
                if self.by_len[len].contains_key(&k) {
                    return Some((len, k));
                }
            }
            if w == 0 {
                return None;
            }
            w -= 1;
        }
    }

    /// Longest-prefix match (for IPv6 a scoped destination in embedded form; see
    /// [`RouteTable::lookup_scoped`]).
    #[inline]
    pub fn lookup(&self, dst: A) -> Option<&Rtentry<A>> {
        // As `find`, but one probe per length: the hit is returned from the probe itself.
        let d = dst.key();
        let mut w = usize::from(A::BITS) / 64;
        loop {
            let mut bits = self.lens[w];
            while bits != 0 {
                let b = 63 - bits.leading_zeros();
                bits &= !(1u64 << b);
                let len = w * 64 + b as usize;
                if let Some(r) = self.by_len[len].get(&A::mask_key(d, len as u8)) {
                    return Some(r);
                }
            }
            if w == 0 {
                return None;
            }
            w -= 1;
        }
    }

    /// Longest-prefix match, for updating counters.
    pub fn lookup_mut(&mut self, dst: A) -> Option<&mut Rtentry<A>> {
        let (len, k) = self.find(dst.key())?;
        self.by_len[len].get_mut(&k)
    }

    /// The route for exactly this destination and prefix length.
    pub fn get_exact(&self, dst: A, len: u8) -> Option<&Rtentry<A>> {
        if len > A::BITS {
            return None;
        }
        self.by_len[usize::from(len)].get(&A::mask_key(dst.key(), len))
    }

    /// The route for exactly this destination and prefix length, to change it.
    pub fn get_exact_mut(&mut self, dst: A, len: u8) -> Option<&mut Rtentry<A>> {
        if len > A::BITS {
            return None;
        }
        self.by_len[usize::from(len)].get_mut(&A::mask_key(dst.key(), len))
    }

    /// Adds a route (its destination masked to its length); EEXIST if one with the same
    /// destination and length exists, EINVAL for a length past the address.
    pub fn add(&mut self, mut r: Rtentry<A>) -> Result<(), i32> {
        if r.len > A::BITS {
            return Err(libc::EINVAL);
        }
        let key = A::mask_key(r.dst.key(), r.len);
        r.dst = A::from_key(key);
        let len = usize::from(r.len);
        let m = &mut self.by_len[len];
        if m.contains_key(&key) {
            return Err(libc::EEXIST);
        }
        m.insert(key, r);
        self.lens[len / 64] |= 1u64 << (len % 64);
        self.count += 1;
        Ok(())
    }

    /// Removes the route for exactly this destination and length (ESRCH if none).
    pub fn delete(&mut self, dst: A, len: u8) -> Result<Rtentry<A>, i32> {
        if len > A::BITS {
            return Err(libc::EINVAL);
        }
        let l = usize::from(len);
        let m = &mut self.by_len[l];
        let r = m.remove(&A::mask_key(dst.key(), len)).ok_or(libc::ESRCH)?;
        if m.is_empty() {
            self.lens[l / 64] &= !(1u64 << (l % 64));
        }
        self.count -= 1;
        Ok(r)
    }

    /// Every route, ordered by destination then prefix length, as netstat lists them.
    pub fn dump(&self) -> Vec<Rtentry<A>> {
        let mut v: Vec<Rtentry<A>> = self.by_len.iter().flat_map(|m| m.values().cloned()).collect();
        v.sort_by_key(|r| (r.dst, r.len));
        v
    }

    /// Removes every route for which `f` is true; returns them.
    pub fn remove_where(&mut self, f: impl Fn(&Rtentry<A>) -> bool) -> Vec<Rtentry<A>> {
        let mut gone = Vec::new();
        for (len, m) in self.by_len.iter_mut().enumerate() {
            let keys: Vec<A::Key> = m.iter().filter(|(_, r)| f(r)).map(|(k, _)| *k).collect();
            for k in keys {
                if let Some(r) = m.remove(&k) {
                    gone.push(r);
                }
            }
            if m.is_empty() {
                self.lens[len / 64] &= !(1u64 << (len % 64));
            }
        }
        self.count -= gone.len();
        gone
    }
}

impl RouteTable<Ipv6Addr> {
    /// Longest-prefix match for `dst` in zone `scope` (the interface index of a link-local
    /// destination; ignored for a global one).
    pub fn lookup_scoped(&self, dst: Ipv6Addr, scope: u16) -> Option<&Rtentry6> {
        self.lookup(in6_embed_scope(dst, scope))
    }
}

/// The routing tables of every family (`ctx.rt`): `ctx.rt.inet.lookup(dst)` for IPv4,
/// `ctx.rt.inet6.lookup(dst)` for IPv6.
#[derive(Default)]
pub struct Rib {
    pub inet: RouteTable<Ipv4Addr>,
    pub inet6: RouteTable<Ipv6Addr>,
}

impl Rib {
    /// Routes in both tables.
    pub fn len(&self) -> usize {
        self.inet.len() + self.inet6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(dst: &str, len: u8, gw: Gateway) -> Rtentry {
        Rtentry::new(dst.parse().unwrap(), len, gw, 2, Ipv4Addr::UNSPECIFIED, rtf::UP)
    }

    fn r6(dst: Ipv6Addr, len: u8) -> Rtentry6 {
        Rtentry::new(dst, len, Gateway::Link(2), 2, Ipv6Addr::UNSPECIFIED, rtf::UP)
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
        assert_eq!(t.add(r("10.0.0.0", 33, Gateway::Link(2))), Err(libc::EINVAL));
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

    /// One route at every length 0..=128 along one address: each length wins for the
    /// addresses that share exactly that many leading bits.
    #[test]
    fn v6_every_prefix_length() {
        let base: u128 = 0x2001_0db8_1234_5678_9abc_def0_1357_9bdf;
        let mut t = RouteTable6::default();
        for len in 0..=128u8 {
            t.add(r6(Ipv6Addr::from(base), len)).unwrap();
        }
        assert_eq!(t.len(), 129);
        // Flip bit `i` (from the top): the longest match is the /i route.
        for i in 0..128u32 {
            let probe = Ipv6Addr::from(base ^ (1u128 << (127 - i)));
            let got = t.lookup(probe).unwrap();
            assert_eq!(u32::from(got.len), i, "flipping bit {i}");
            assert_eq!(got.dst, mask6(Ipv6Addr::from(base), got.len));
        }
        assert_eq!(t.lookup(Ipv6Addr::from(base)).unwrap().len, 128);
        // Take them away from the longest: each time the next shorter one answers.
        for len in (1..=128u8).rev() {
            t.delete(Ipv6Addr::from(base), len).unwrap();
            assert_eq!(t.lookup(Ipv6Addr::from(base)).unwrap().len, len - 1);
        }
        t.delete(Ipv6Addr::UNSPECIFIED, 0).unwrap();
        assert!(t.lookup(Ipv6Addr::from(base)).is_none());
        assert!(t.is_empty());
        assert_eq!(t.add(r6(Ipv6Addr::LOCALHOST, 129)), Err(libc::EINVAL));
        assert_eq!(t.delete(Ipv6Addr::LOCALHOST, 129), Err(libc::EINVAL));
    }

    #[test]
    fn v6_default_and_host() {
        let mut t = RouteTable6::default();
        t.add(r6(Ipv6Addr::UNSPECIFIED, 0)).unwrap();
        let h: Ipv6Addr = "2001:db8::1".parse().unwrap();
        t.add(r6(h, 128)).unwrap();
        assert_eq!(t.lookup(h).unwrap().len, 128);
        assert_eq!(t.lookup("2001:db8::2".parse().unwrap()).unwrap().len, 0);
        assert_eq!(t.lookup("::".parse().unwrap()).unwrap().len, 0);
        assert_eq!(t.lookup(Ipv6Addr::from(u128::MAX)).unwrap().len, 0);
        assert_eq!(t.add(r6(h, 128)), Err(libc::EEXIST));
        assert_eq!(t.get_exact("2001:db8::ffff".parse().unwrap(), 0).unwrap().len, 0);
        assert!(t.get_exact("2001:db8::ffff".parse().unwrap(), 128).is_none());
    }

    #[test]
    fn v6_zones_are_separate_routes() {
        let mut t = RouteTable6::default();
        let ll: Ipv6Addr = "fe80::".parse().unwrap();
        let mut a = r6(in6_embed_scope(ll, 2), 64);
        a.ifindex = 2;
        let mut b = r6(in6_embed_scope(ll, 3), 64);
        b.ifindex = 3;
        t.add(a).unwrap();
        t.add(b).unwrap();
        let peer: Ipv6Addr = "fe80::1".parse().unwrap();
        assert_eq!(t.lookup_scoped(peer, 2).unwrap().ifindex, 2);
        assert_eq!(t.lookup_scoped(peer, 3).unwrap().ifindex, 3);
        assert!(t.lookup_scoped(peer, 4).is_none());
        assert_eq!(in6_clear_scope(in6_embed_scope(peer, 3)), (peer, 3));
        let g: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(in6_embed_scope(g, 3), g);
        assert!(in6_is_scoped("ff02::1".parse().unwrap()));
        assert!(!in6_is_scoped("ff0e::1".parse().unwrap()));
    }

    /// A small deterministic generator (xorshift), so failures repeat.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn u128(&mut self) -> u128 {
            (u128::from(self.next()) << 64) | u128::from(self.next())
        }
    }

    /// Random routes and random deletes, against a linear scan of a plain list.
    #[test]
    fn v6_random_against_linear_scan() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut t = RouteTable6::default();
        let mut oracle: Vec<(u128, u8)> = Vec::new();
        // Addresses from a few shared tops, so prefixes nest and overlap.
        let tops: Vec<u128> = (0..4).map(|_| rng.u128()).collect();
        let addr = |rng: &mut Rng| {
            let top = tops[(rng.next() % 4) as usize];
            let keep = (rng.next() % 129) as u32;
            let m = u128::MAX.checked_shl(128 - keep).unwrap_or(0);
            (top & m) | (rng.u128() & !m)
        };
        for _ in 0..3000 {
            let a = addr(&mut rng);
            let len = (rng.next() % 129) as u8;
            let k = Ipv6Addr::mask_key(a, len);
            let res = t.add(r6(Ipv6Addr::from(a), len));
            if oracle.contains(&(k, len)) {
                assert_eq!(res, Err(libc::EEXIST));
            } else {
                assert_eq!(res, Ok(()));
                oracle.push((k, len));
            }
        }
        for round in 0..2 {
            for _ in 0..3000 {
                let a = addr(&mut rng);
                let want = oracle
                    .iter()
                    .filter(|(k, l)| Ipv6Addr::mask_key(a, *l) == *k)
                    .max_by_key(|(_, l)| *l)
                    .copied();
                let got = t.lookup(Ipv6Addr::from(a)).map(|r| (u128::from(r.dst), r.len));
                assert_eq!(got, want, "round {round}, {}", Ipv6Addr::from(a));
            }
            // Delete half, then look again.
            let mut keep = Vec::new();
            for (k, l) in oracle.drain(..) {
                if rng.next().is_multiple_of(2) {
                    assert!(t.delete(Ipv6Addr::from(k), l).is_ok());
                } else {
                    keep.push((k, l));
                }
            }
            oracle = keep;
            assert_eq!(t.len(), oracle.len());
        }
    }
}

#[cfg(test)]
mod control_tests {
    use std::net::{IpAddr, Ipv6Addr};

    use super::control::{rt_add_entry, rt_change_entry, rt_delete_entry, rt_dump, rt_ifa_add, rt_ifa_del};
    use super::{in6_embed_scope, rtf, Gateway, Rtentry};
    use crate::sys::Stack;

    /// The IPv6 API the address code uses: connected and local routes of an address, and
    /// routes added, changed and removed directly, each in the dump.
    #[test]
    fn inet6_api() {
        let stack = Stack::detached();
        let mut ctx = stack.ctx();
        let a: Ipv6Addr = "2001:db8::2".parse().unwrap();
        rt_ifa_add(&mut ctx, 1, IpAddr::V6(a), 64);
        let ll: Ipv6Addr = "fe80::2".parse().unwrap();
        rt_ifa_add(&mut ctx, 1, IpAddr::V6(ll), 64);
        assert_eq!(ctx.rt.inet6.len(), 4);
        let net = ctx.rt.inet6.lookup("2001:db8::9".parse().unwrap()).unwrap();
        assert_eq!((net.len, net.flags, net.ifa), (64, rtf::UP | rtf::CONNECTED, a));
        assert_eq!(ctx.rt.inet6.lookup(a).unwrap().flags, rtf::UP | rtf::HOST | rtf::LOCAL);
        let peer = ctx.rt.inet6.lookup_scoped("fe80::9".parse().unwrap(), 1).unwrap();
        assert_eq!(peer.dst, in6_embed_scope("fe80::".parse().unwrap(), 1));
        assert!(ctx.rt.inet6.lookup_scoped("fe80::9".parse().unwrap(), 2).is_none());
        let d = rt_dump(&ctx);
        let ll_net = d.iter().find(|m| m.dst_scope == 1 && m.prefixlen == Some(64)).unwrap();
        assert_eq!(ll_net.dst, Some("fe80::".parse().unwrap()));

        let gw: Ipv6Addr = "fe80::1".parse().unwrap();
        let def = Rtentry::new(
            Ipv6Addr::UNSPECIFIED,
            0,
            Gateway::Inet(gw),
            1,
            Ipv6Addr::UNSPECIFIED,
            rtf::UP | rtf::GATEWAY,
        );
        rt_add_entry(&mut ctx, def.clone()).unwrap();
        assert_eq!(rt_add_entry(&mut ctx, def), Err(libc::EEXIST));
        rt_change_entry(&mut ctx, Ipv6Addr::UNSPECIFIED, 0, |r| r.mtu = 1280).unwrap();
        assert_eq!(ctx.rt.inet6.lookup("2001:db9::1".parse().unwrap()).unwrap().mtu, 1280);
        let m = rt_dump(&ctx).into_iter().find(|m| m.prefixlen == Some(0)).unwrap();
        assert_eq!((m.gateway, m.gateway_scope), (Some(IpAddr::V6(gw)), 1));
        rt_delete_entry(&mut ctx, Ipv6Addr::UNSPECIFIED, 0).unwrap();
        assert_eq!(
            rt_delete_entry(&mut ctx, Ipv6Addr::UNSPECIFIED, 0).err(),
            Some(libc::ESRCH)
        );

        rt_ifa_del(&mut ctx, 1, IpAddr::V6(a), 64);
        rt_ifa_del(&mut ctx, 1, IpAddr::V6(ll), 64);
        assert!(ctx.rt.inet6.is_empty());
    }
}

/// Requests on the tables (the RTM_* messages of the routing socket) for both families, and
/// the routes that addresses bring with them.
pub mod control {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::{
        in6_clear_scope, in6_embed_scope, in6_is_scoped, rtf, Gateway, RouteTable, RtAddr, RtMetrics, Rtentry,
    };
    use crate::conf::Ctx;
    use crate::msg::{rtv, Msg, RtFamily, RtMsg, IFT_LOOP};
    use crate::net::if_control::Fail;

    /// Flags a client may set on a route it adds.
    const CLIENT_FLAGS: u32 = rtf::REJECT
        | rtf::BLACKHOLE
        | rtf::STATIC
        | rtf::PROTO1
        | rtf::PROTO2
        | rtf::CONNECTED
        | rtf::XRESOLVE
        | rtf::LLDATA;

    /// What the control code needs of a family besides its table.
    pub trait Family: RtAddr {
        fn table(ctx: &Ctx) -> &RouteTable<Self>;
        fn table_mut(ctx: &mut Ctx) -> &mut RouteTable<Self>;
        /// The family's addresses of this stack: (interface index, address, prefix length).
        fn local_addrs(ctx: &Ctx) -> Vec<(u16, Self, u8)>;
        /// The table key of `a` in zone `zone` (IPv6 scoped addresses embed it).
        fn scoped(a: Self, zone: u32) -> Self;
        /// The address without its zone, and the zone.
        fn unscoped(a: Self) -> (Self, u32);
        /// True for an address whose zone names its link (IPv6 link-local).
        fn is_scoped(a: Self) -> bool;
    }

    impl Family for Ipv4Addr {
        fn table(ctx: &Ctx) -> &RouteTable<Self> {
            &ctx.rt.inet
        }
        fn table_mut(ctx: &mut Ctx) -> &mut RouteTable<Self> {
            &mut ctx.rt.inet
        }
        fn local_addrs(ctx: &Ctx) -> Vec<(u16, Self, u8)> {
            ctx.inet
                .addrs
                .iter()
                .map(|ia| (ia.ifindex, ia.addr, ia.prefix_len()))
                .collect()
        }
        fn scoped(a: Self, _: u32) -> Self {
            a
        }
        fn unscoped(a: Self) -> (Self, u32) {
            (a, 0)
        }
        fn is_scoped(_: Self) -> bool {
            false
        }
    }

    impl Family for Ipv6Addr {
        fn table(ctx: &Ctx) -> &RouteTable<Self> {
            &ctx.rt.inet6
        }
        fn table_mut(ctx: &mut Ctx) -> &mut RouteTable<Self> {
            &mut ctx.rt.inet6
        }
        /// The stack's IPv6 addresses (`ctx.inet6.addrs`; none in the v4 variants).
        fn local_addrs(ctx: &Ctx) -> Vec<(u16, Self, u8)> {
            ctx.inet6
                .addrs
                .iter()
                .map(|ia| (ia.ifindex, ia.addr, ia.prefixlen))
                .collect()
        }
        fn scoped(a: Self, zone: u32) -> Self {
            in6_embed_scope(a, u16::try_from(zone).unwrap_or(0))
        }
        fn unscoped(a: Self) -> (Self, u32) {
            in6_clear_scope(a)
        }
        fn is_scoped(a: Self) -> bool {
            in6_is_scoped(a)
        }
    }

    /// The message that describes a route of either family.
    pub fn rt_msg<A: Family>(ctx: &Ctx, r: &Rtentry<A>) -> RtMsg {
        let (dst, dst_scope) = A::unscoped(r.dst);
        let (gateway, gateway_scope) = match r.gateway {
            Gateway::Inet(g) => {
                let zone = if A::is_scoped(g) { u32::from(r.ifindex) } else { 0 };
                (Some(g.to_ip()), zone)
            }
            Gateway::Link(_) => (None, 0),
        };
        RtMsg {
            rtm_flags: r.flags,
            rtm_index: r.ifindex,
            dst: Some(dst.to_ip()),
            dst_scope,
            gateway,
            gateway_scope,
            prefixlen: (r.flags & rtf::HOST == 0).then_some(r.len),
            ifp: ctx.ifnet_by_index(r.ifindex).map(|i| i.name.clone()),
            ifa: r.ifa_ip(),
            mtu: r.mtu,
            rmx: r.metrics(),
            rtm_inits: 0,
            rmx_locks: r.locks,
            use_count: r.use_count,
        }
    }

    /// The message for a request that succeeded: BSD's routing socket sets RTF_DONE on the
    /// answer and on the copy every listener gets (`route get` and `route monitor` show it).
    fn done(mut m: RtMsg) -> RtMsg {
        m.rtm_flags |= rtf::DONE;
        m
    }

    fn no_dst() -> Fail {
        Fail::with(libc::EINVAL, "no destination".into())
    }

    /// The destination (table key form) and prefix length of a request.
    fn dst_len<A: Family>(m: &RtMsg, zone: u32) -> Result<(A, u8), Fail> {
        let dst = m.dst.and_then(A::from_ip).ok_or_else(no_dst)?;
        let len = m.prefixlen.unwrap_or(A::BITS);
        if len > A::BITS {
            return Err(Fail::new(libc::EINVAL));
        }
        let zone = if m.dst_scope != 0 { m.dst_scope } else { zone };
        Ok((A::scoped(dst, zone), len))
    }

    /// The interface a request names by `-ifp`, if any.
    fn named_if(ctx: &Ctx, m: &RtMsg) -> Result<Option<u16>, Fail> {
        match &m.ifp {
            Some(n) => Ok(Some(ctx.ifnet_by_name(n).ok_or_else(|| Fail::new(libc::ENXIO))?.index)),
            None => Ok(None),
        }
    }

    /// Works out the gateway, interface and source address of a new or changed route, with
    /// NetBSD's checks: `-ifa` must be one of our addresses; an interface route's address
    /// must be ours; a gateway must be on a directly connected network (reached by a route
    /// that is not itself through a gateway). Otherwise ENETUNREACH.
    fn resolve<A: Family>(ctx: &Ctx, m: &RtMsg) -> Result<(Gateway<A>, u16, A), Fail> {
        let locals = A::local_addrs(ctx);
        let mut named = named_if(ctx, m)?;
        let want_ifa = match m.ifa {
            Some(ip) => {
                let a = A::from_ip(ip).ok_or_else(|| Fail::new(libc::EAFNOSUPPORT))?;
                let (idx, a, _) = *locals
                    .iter()
                    .find(|(_, x, _)| *x == a)
                    .ok_or_else(|| Fail::new(libc::ENETUNREACH))?;
                named = named.or(Some(idx));
                Some(a)
            }
            None => None,
        };
        let ifa_of = |idx: u16| {
            want_ifa
                .or_else(|| locals.iter().find(|(i, _, _)| *i == idx).map(|(_, a, _)| *a))
                .unwrap_or(A::UNSPECIFIED)
        };
        let gw = match m.gateway {
            None => {
                let idx = named.ok_or(Fail::new(libc::EINVAL))?;
                return Ok((Gateway::Link(idx), idx, ifa_of(idx)));
            }
            Some(ip) => A::from_ip(ip).ok_or_else(|| Fail::new(libc::EAFNOSUPPORT))?,
        };
        // A gateway that is one of our addresses makes an interface route (`-interface`).
        if let Some((i, a, _)) = locals.iter().find(|(_, a, _)| *a == gw) {
            let idx = named.unwrap_or(*i);
            return Ok((Gateway::Link(idx), idx, want_ifa.unwrap_or(*a)));
        }
        if m.rtm_flags & rtf::GATEWAY == 0 {
            // `-interface` with an address that is not ours.
            return Err(Fail::new(libc::ENETUNREACH));
        }
        // A link-local gateway with its zone (`fe80::1%en0`) is on that link by definition.
        if A::is_scoped(gw) {
            let zone = if m.gateway_scope != 0 {
                m.gateway_scope
            } else {
                named.map(u32::from).unwrap_or(0)
            };
            let idx = u16::try_from(zone)
                .ok()
                .filter(|z| *z != 0 && ctx.ifnet_by_index(*z).is_some())
                .ok_or(Fail::new(libc::ENETUNREACH))?;
            if named.is_some_and(|n| n != idx) {
                return Err(Fail::new(libc::EINVAL));
            }
            return Ok((Gateway::Inet(gw), idx, ifa_of(idx)));
        }
        // Otherwise the gateway must be on a directly connected network.
        let via = A::table(ctx)
            .lookup(gw)
            .filter(|r| {
                matches!(r.gateway, Gateway::Link(_)) && r.flags & (rtf::LOCAL | rtf::REJECT | rtf::BLACKHOLE) == 0
            })
            .ok_or(Fail::new(libc::ENETUNREACH))?;
        let idx = named.unwrap_or(via.ifindex);
        let ifa = match want_ifa {
            Some(a) => a,
            None if via.ifa != A::UNSPECIFIED && via.ifindex == idx => via.ifa,
            None => ifa_of(idx),
        };
        Ok((Gateway::Inet(gw), idx, ifa))
    }

    /// The metrics of a request, into a route: on add every metric the message carries, on
    /// change those its rtm_inits names (and a non-zero MTU).
    fn set_metrics<A: RtAddr>(r: &mut Rtentry<A>, m: &RtMsg, all: bool) {
        let set = |bit: u32| all || m.rtm_inits & bit != 0;
        if set(rtv::MTU) || m.mtu != 0 {
            r.mtu = m.mtu;
        }
        let mut x = r.metrics();
        if set(rtv::HOPCOUNT) {
            x.hopcount = m.rmx.hopcount;
        }
        if set(rtv::EXPIRE) {
            x.expire = m.rmx.expire;
        }
        if set(rtv::RPIPE) {
            x.recvpipe = m.rmx.recvpipe;
        }
        if set(rtv::SPIPE) {
            x.sendpipe = m.rmx.sendpipe;
        }
        if set(rtv::SSTHRESH) {
            x.ssthresh = m.rmx.ssthresh;
        }
        if set(rtv::RTT) {
            x.rtt = m.rmx.rtt;
        }
        if set(rtv::RTTVAR) {
            x.rttvar = m.rmx.rttvar;
        }
        r.rmx = (x != RtMetrics::default()).then(|| Box::new(x));
        if all {
            r.locks = m.rmx_locks;
        } else {
            // As NetBSD's RTM_CHANGE: the metrics set now take their lock from the request.
            r.locks = (r.locks & !m.rtm_inits) | (m.rtm_inits & m.rmx_locks);
        }
    }

    fn add_fam<A: Family>(ctx: &mut Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        let (gateway, ifindex, ifa) = resolve::<A>(ctx, m)?;
        let (dst, len) = dst_len::<A>(m, u32::from(ifindex))?;
        let mut flags = rtf::UP | (m.rtm_flags & CLIENT_FLAGS);
        if len == A::BITS {
            flags |= rtf::HOST;
        }
        if matches!(gateway, Gateway::Inet(_)) {
            flags |= rtf::GATEWAY;
        }
        let mut r = Rtentry::new(dst, len, gateway, ifindex, ifa, flags);
        set_metrics(&mut r, m, true);
        A::table_mut(ctx).add(r.clone()).map_err(Fail::new)?;
        let stored = A::table(ctx).get_exact(dst, len).cloned().unwrap_or(r);
        let msg = done(rt_msg(ctx, &stored));
        ctx.rtsock.broadcast(&Msg::RtAdd(msg.clone()));
        Ok(msg)
    }

    /// RTM_ADD, for the family of the message's destination.
    pub fn rt_add(ctx: &mut Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        match m.dst.ok_or_else(no_dst)? {
            IpAddr::V4(_) => add_fam::<Ipv4Addr>(ctx, m),
            IpAddr::V6(_) => add_fam::<Ipv6Addr>(ctx, m),
        }
    }

    fn delete_fam<A: Family>(ctx: &mut Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        let zone = named_if(ctx, m)?.map(u32::from).unwrap_or(0);
        let (dst, len) = dst_len::<A>(m, zone)?;
        let r = A::table_mut(ctx).delete(dst, len).map_err(Fail::new)?;
        let msg = done(rt_msg(ctx, &r));
        ctx.rtsock.broadcast(&Msg::RtDelete(msg.clone()));
        Ok(msg)
    }

    /// RTM_DELETE.
    pub fn rt_delete(ctx: &mut Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        match m.dst.ok_or_else(no_dst)? {
            IpAddr::V4(_) => delete_fam::<Ipv4Addr>(ctx, m),
            IpAddr::V6(_) => delete_fam::<Ipv6Addr>(ctx, m),
        }
    }

    fn change_fam<A: Family>(ctx: &mut Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        let zone = named_if(ctx, m)?.map(u32::from).unwrap_or(0);
        let (dst, len) = dst_len::<A>(m, zone)?;
        if A::table(ctx).get_exact(dst, len).is_none() {
            return Err(Fail::new(libc::ESRCH));
        }
        let resolved = if m.gateway.is_some() || m.ifp.is_some() || m.ifa.is_some() {
            Some(resolve::<A>(ctx, m)?)
        } else {
            None
        };
        let Some(r) = A::table_mut(ctx).get_exact_mut(dst, len) else {
            return Err(Fail::new(libc::ESRCH));
        };
        if let Some((gateway, ifindex, ifa)) = resolved {
            r.gateway = gateway;
            r.ifindex = ifindex;
            r.ifa = ifa;
            r.flags &= !rtf::GATEWAY;
            if matches!(gateway, Gateway::Inet(_)) {
                r.flags |= rtf::GATEWAY;
            }
        }
        r.flags = (r.flags & !CLIENT_FLAGS) | (m.rtm_flags & CLIENT_FLAGS) | (r.flags & rtf::STATIC);
        set_metrics(r, m, false);
        let r = r.clone();
        let msg = done(rt_msg(ctx, &r));
        ctx.rtsock.broadcast(&Msg::RtChange(msg.clone()));
        Ok(msg)
    }

    /// RTM_CHANGE: a new gateway, interface, source address, flags or metrics for an
    /// existing route.
    pub fn rt_change(ctx: &mut Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        match m.dst.ok_or_else(no_dst)? {
            IpAddr::V4(_) => change_fam::<Ipv4Addr>(ctx, m),
            IpAddr::V6(_) => change_fam::<Ipv6Addr>(ctx, m),
        }
    }

    fn get_fam<A: Family>(ctx: &Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        let zone = named_if(ctx, m)?.map(u32::from).unwrap_or(0);
        let dst = m.dst.and_then(A::from_ip).ok_or_else(no_dst)?;
        let dst = A::scoped(dst, if m.dst_scope != 0 { m.dst_scope } else { zone });
        let t = A::table(ctx);
        let r = match m.prefixlen {
            Some(len) => t.get_exact(dst, len),
            None => t.lookup(dst),
        };
        r.map(|r| done(rt_msg(ctx, r))).ok_or(Fail::new(libc::ESRCH))
    }

    /// RTM_GET: the route a destination takes (or exactly the one named, with a mask).
    pub fn rt_get(ctx: &Ctx, m: &RtMsg) -> Result<RtMsg, Fail> {
        match m.dst.ok_or_else(no_dst)? {
            IpAddr::V4(_) => get_fam::<Ipv4Addr>(ctx, m),
            IpAddr::V6(d) => {
                let mut r = get_fam::<Ipv6Addr>(ctx, m)?;
                // What a packet too big taught for this destination (RFC 8201), which
                // NetBSD shows on the host route it clones for it.
                if m.prefixlen.is_none() {
                    if let Some((mtu, _)) = ctx.inet6.pmtu.get(&d) {
                        if r.mtu == 0 || *mtu < r.mtu {
                            r.mtu = *mtu;
                        }
                    }
                    // The source ip6_output picks for this destination (RFC 6724 on the
                    // route's interface), not the address the route was added with: a
                    // default route through a link-local gateway carries the link-local,
                    // but a global destination is sent from a global address.
                    if r.rtm_flags & rtf::LOCAL == 0 {
                        if let Some(src) = crate::inet6::in6_selectsrc(ctx, &in6_clear_scope(d).0, Some(r.rtm_index)) {
                            r.ifa = Some(IpAddr::V6(src));
                        }
                    }
                }
                Ok(r)
            }
        }
    }

    /// Every route of both tables (IPv4 first), as messages.
    pub fn rt_dump(ctx: &Ctx) -> Vec<RtMsg> {
        let mut v: Vec<RtMsg> = ctx.rt.inet.dump().iter().map(|r| rt_msg(ctx, r)).collect();
        v.extend(ctx.rt.inet6.dump().iter().map(|r| rt_msg(ctx, r)));
        v
    }

    fn flush_fam<A: Family>(ctx: &mut Ctx, all: bool) -> Vec<RtMsg> {
        let gone = A::table_mut(ctx).remove_where(|r| {
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

    /// `route flush` (gateway and static routes, as NetBSD's route flushes them) and
    /// `route flushall` (all but those addresses own), of one family or both.
    pub fn rt_flush(ctx: &mut Ctx, all: bool, family: RtFamily) -> Vec<RtMsg> {
        let mut v = Vec::new();
        if family != RtFamily::Inet6 {
            v.extend(flush_fam::<Ipv4Addr>(ctx, all));
        }
        if family != RtFamily::Inet {
            v.extend(flush_fam::<Ipv6Addr>(ctx, all));
        }
        v
    }

    /// RTM_MISS: tells the routing socket's listeners that no route reaches `dst`.
    pub fn rt_miss(ctx: &mut Ctx, dst: IpAddr) {
        let (dst, dst_scope) = match dst {
            IpAddr::V6(a) => {
                let (a, z) = in6_clear_scope(a);
                (IpAddr::V6(a), z)
            }
            v4 => (v4, 0),
        };
        let m = RtMsg {
            dst: Some(dst),
            dst_scope,
            ..Default::default()
        };
        ctx.rtsock.broadcast(&Msg::RtMiss(m));
    }

    /// Adds a route the stack itself makes (a router from an advertisement, a redirect):
    /// `r.dst` in table key form (IPv6 scoped destinations with the zone embedded, see
    /// [`super::in6_embed_scope`]). EEXIST if the destination and length are taken. The
    /// new route is broadcast as RTM_ADD.
    pub fn rt_add_entry<A: Family>(ctx: &mut Ctx, r: Rtentry<A>) -> Result<(), i32> {
        let (dst, len) = (r.dst, r.len);
        A::table_mut(ctx).add(r)?;
        if let Some(stored) = A::table(ctx).get_exact(dst, len).cloned() {
            let m = rt_msg(ctx, &stored);
            ctx.rtsock.broadcast(&Msg::RtAdd(m));
        }
        Ok(())
    }

    /// Removes exactly the route `dst/len` (key form), broadcasting RTM_DELETE; ESRCH if
    /// there is none.
    pub fn rt_delete_entry<A: Family>(ctx: &mut Ctx, dst: A, len: u8) -> Result<Rtentry<A>, i32> {
        let r = A::table_mut(ctx).delete(dst, len)?;
        let m = rt_msg(ctx, &r);
        ctx.rtsock.broadcast(&Msg::RtDelete(m));
        Ok(r)
    }

    /// Changes the route `dst/len` (key form) in place with `f` (its destination and length
    /// must stay), broadcasting RTM_CHANGE; ESRCH if there is none.
    pub fn rt_change_entry<A: Family>(
        ctx: &mut Ctx,
        dst: A,
        len: u8,
        f: impl FnOnce(&mut Rtentry<A>),
    ) -> Result<(), i32> {
        let r = A::table_mut(ctx).get_exact_mut(dst, len).ok_or(libc::ESRCH)?;
        let (d, l) = (r.dst, r.len);
        f(r);
        r.dst = d;
        r.len = l;
        let r = r.clone();
        let m = rt_msg(ctx, &r);
        ctx.rtsock.broadcast(&Msg::RtChange(m));
        Ok(())
    }

    fn add_quiet<A: Family>(ctx: &mut Ctx, r: Rtentry<A>) {
        if A::table_mut(ctx).add(r.clone()).is_ok() {
            let stored = A::table(ctx).get_exact(r.dst, r.len).cloned().unwrap_or(r);
            let m = rt_msg(ctx, &stored);
            ctx.rtsock.broadcast(&Msg::RtAdd(m));
        }
    }

    fn del_quiet<A: Family>(ctx: &mut Ctx, dst: A, len: u8, want: impl Fn(&Rtentry<A>) -> bool) {
        if A::table(ctx).get_exact(dst, len).is_some_and(want) {
            if let Ok(r) = A::table_mut(ctx).delete(dst, len) {
                let m = rt_msg(ctx, &r);
                ctx.rtsock.broadcast(&Msg::RtDelete(m));
            }
        }
    }

    fn ifa_add_fam<A: Family>(ctx: &mut Ctx, ifindex: u16, addr: A, len: u8) {
        let lo = ctx.ifnets.iter().find(|i| i.if_type == IFT_LOOP).map(|i| i.index);
        let zone = u32::from(ifindex);
        let len = len.min(A::BITS);
        if len < A::BITS {
            let net = A::from_key(A::mask_key(A::scoped(addr, zone).key(), len));
            add_quiet(
                ctx,
                Rtentry::new(
                    net,
                    len,
                    Gateway::Link(ifindex),
                    ifindex,
                    addr,
                    rtf::UP | rtf::CONNECTED,
                ),
            );
        }
        add_quiet(
            ctx,
            Rtentry::new(
                A::scoped(addr, zone),
                A::BITS,
                Gateway::Link(ifindex),
                lo.unwrap_or(ifindex),
                addr,
                rtf::UP | rtf::HOST | rtf::LOCAL,
            ),
        );
    }

    fn ifa_del_fam<A: Family>(ctx: &mut Ctx, ifindex: u16, addr: A, len: u8) {
        let zone = u32::from(ifindex);
        let len = len.min(A::BITS);
        del_quiet(ctx, A::scoped(addr, zone), A::BITS, |r| r.flags & rtf::LOCAL != 0);
        let net = A::mask_key(addr.key(), len);
        let still = A::local_addrs(ctx)
            .iter()
            .any(|(i, a, l)| *i == ifindex && *l == len && *a != addr && A::mask_key(a.key(), len) == net);
        if len < A::BITS && !still {
            del_quiet(ctx, A::scoped(A::from_key(net), zone), len, |r| {
                r.flags & rtf::CONNECTED != 0 && r.ifindex == ifindex
            });
        }
    }

    /// The routes an address brings when it is configured on interface `ifindex`: its
    /// connected network (`UC`, link#ifindex, unless the prefix is the whole address) and
    /// a local host route (`UHl` through the loopback interface). Either family; an IPv6
    /// link-local address is keyed in the interface's zone. Routes that exist already stay
    /// as they are. Each new route is broadcast as RTM_ADD.
    pub fn rt_ifa_add(ctx: &mut Ctx, ifindex: u16, addr: IpAddr, prefixlen: u8) {
        match addr {
            IpAddr::V4(a) => ifa_add_fam(ctx, ifindex, a, prefixlen),
            IpAddr::V6(a) => ifa_add_fam(ctx, ifindex, a, prefixlen),
        }
    }

    /// Takes away the routes [`rt_ifa_add`] made for an address that is going: the local
    /// host route, and the connected route unless another address of the interface (as
    /// the family's address list has it, the going address excluded) is on the same
    /// network. Each removal is broadcast as RTM_DELETE.
    pub fn rt_ifa_del(ctx: &mut Ctx, ifindex: u16, addr: IpAddr, prefixlen: u8) {
        match addr {
            IpAddr::V4(a) => ifa_del_fam(ctx, ifindex, a, prefixlen),
            IpAddr::V6(a) => ifa_del_fam(ctx, ifindex, a, prefixlen),
        }
    }

    /// The IPv4 form of [`rt_ifa_add`].
    pub fn addr_routes_add(ctx: &mut Ctx, ifindex: u16, addr: Ipv4Addr, len: u8) {
        ifa_add_fam(ctx, ifindex, addr, len);
    }

    /// The IPv4 form of [`rt_ifa_del`].
    pub fn addr_routes_del(ctx: &mut Ctx, ifindex: u16, addr: Ipv4Addr, len: u8) {
        ifa_del_fam(ctx, ifindex, addr, len);
    }

    /// Removes every route (of both families) through an interface that is going away.
    pub fn if_routes_purge(ctx: &mut Ctx, ifindex: u16) {
        let gone4 = ctx
            .rt
            .inet
            .remove_where(|r| r.ifindex == ifindex || r.gateway == Gateway::Link(ifindex));
        let gone6 = ctx
            .rt
            .inet6
            .remove_where(|r| r.ifindex == ifindex || r.gateway == Gateway::Link(ifindex));
        let mut msgs: Vec<RtMsg> = gone4.iter().map(|r| rt_msg(ctx, r)).collect();
        msgs.extend(gone6.iter().map(|r| rt_msg(ctx, r)));
        for m in msgs {
            ctx.rtsock.broadcast(&Msg::RtDelete(m));
        }
    }
}
