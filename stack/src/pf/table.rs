//! PF tables (`<name>`): sets of addresses and networks of both families, with negated
//! entries, matched by the longest prefix as pf's radix tables are. Each family keeps one
//! hash set per prefix length in use and a list of those lengths, longest first, so a
//! table of 100,000 host addresses is one probe per lookup.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::pkt::{Addr, Af};
use crate::msg::pf::{Net, TableAddr, TableStats};

#[derive(Debug, Default, Clone)]
struct Family {
    /// prefix length -> (masked address -> negated)
    by_len: HashMap<u8, HashMap<u128, bool>>,
    /// The lengths in use, longest first.
    lens: Vec<u8>,
}

fn mask(af: Af, prefix: u8) -> u128 {
    let bits = if af == Af::Inet { 32 } else { 128 };
    let p = u32::from(prefix.min(bits as u8));
    if p == 0 {
        return 0;
    }
    let m = u128::MAX << (128 - p);
    if af == Af::Inet {
        m >> 96
    } else {
        m
    }
}

impl Family {
    fn insert(&mut self, af: Af, a: Addr, prefix: u8, neg: bool) -> Option<bool> {
        let key = a.0 & mask(af, prefix);
        let set = self.by_len.entry(prefix).or_default();
        let old = set.insert(key, neg);
        if !self.lens.contains(&prefix) {
            self.lens.push(prefix);
            self.lens.sort_unstable_by(|a, b| b.cmp(a));
        }
        old
    }

    fn remove(&mut self, af: Af, a: Addr, prefix: u8) -> Option<bool> {
        let key = a.0 & mask(af, prefix);
        let set = self.by_len.get_mut(&prefix)?;
        let old = set.remove(&key);
        if set.is_empty() {
            self.by_len.remove(&prefix);
            self.lens.retain(|l| *l != prefix);
        }
        old
    }

    fn lookup(&self, af: Af, a: Addr) -> Option<bool> {
        for &l in &self.lens {
            if let Some(neg) = self.by_len.get(&l).and_then(|s| s.get(&(a.0 & mask(af, l)))) {
                return Some(*neg);
            }
        }
        None
    }

    fn len(&self) -> usize {
        self.by_len.values().map(|s| s.len()).sum()
    }
}

/// One table.
#[derive(Debug, Default, Clone)]
pub struct Table {
    pub name: String,
    pub anchor: String,
    /// `tflag` bits (persist, const, active, referenced).
    pub flags: u32,
    v4: Family,
    v6: Family,
    pub stats: TableStats,
    /// Seconds since the epoch when the counters were last cleared.
    pub cleared: u64,
}

fn split(ip: IpAddr) -> (Af, Addr) {
    match ip {
        IpAddr::V4(_) => (Af::Inet, Addr::from_ip(ip)),
        IpAddr::V6(_) => (Af::Inet6, Addr::from_ip(ip)),
    }
}

impl Table {
    pub fn new(name: &str, anchor: &str, flags: u32) -> Table {
        Table {
            name: name.to_string(),
            anchor: anchor.to_string(),
            flags,
            ..Table::default()
        }
    }

    fn fam(&mut self, af: Af) -> &mut Family {
        match af {
            Af::Inet => &mut self.v4,
            Af::Inet6 => &mut self.v6,
        }
    }

    /// Adds an entry; whether it is new (false: it was there already, perhaps changed in
    /// negation, which `changed` reports).
    pub fn add(&mut self, e: &TableAddr) -> (bool, bool) {
        let (af, a) = split(e.net.addr);
        match self.fam(af).insert(af, a, e.net.prefix, e.neg) {
            None => (true, false),
            Some(old) => (false, old != e.neg),
        }
    }

    /// Removes an entry; whether it was there.
    pub fn delete(&mut self, e: &TableAddr) -> bool {
        let (af, a) = split(e.net.addr);
        self.fam(af).remove(af, a, e.net.prefix).is_some()
    }

    pub fn clear(&mut self) -> usize {
        let n = self.len();
        self.v4 = Family::default();
        self.v6 = Family::default();
        n
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `a` matches: its longest prefix in the table is there and not negated.
    pub fn matches(&self, af: Af, a: Addr) -> bool {
        let f = match af {
            Af::Inet => &self.v4,
            Af::Inet6 => &self.v6,
        };
        f.lookup(af, a) == Some(false)
    }

    /// Whether the exact entry is there.
    pub fn contains(&self, e: &TableAddr) -> bool {
        let (af, a) = split(e.net.addr);
        let f = match af {
            Af::Inet => &self.v4,
            Af::Inet6 => &self.v6,
        };
        f.by_len
            .get(&e.net.prefix)
            .and_then(|s| s.get(&(a.0 & mask(af, e.net.prefix))))
            .is_some_and(|n| *n == e.neg)
    }

    /// Every entry, v4 first, each family by prefix length then address.
    pub fn entries(&self) -> Vec<TableAddr> {
        let mut out = Vec::with_capacity(self.len());
        for (af, f) in [(Af::Inet, &self.v4), (Af::Inet6, &self.v6)] {
            let mut lens: Vec<u8> = f.lens.clone();
            lens.sort_unstable();
            let mut seen = HashSet::new();
            for l in lens {
                let Some(set) = f.by_len.get(&l) else { continue };
                let mut v: Vec<(&u128, &bool)> = set.iter().collect();
                v.sort_unstable();
                for (a, neg) in v {
                    if seen.insert((l, *a)) {
                        out.push(TableAddr {
                            net: Net {
                                addr: Addr(*a).to_ip(af),
                                prefix: l,
                            },
                            neg: *neg,
                        });
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ta(s: &str, neg: bool) -> TableAddr {
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.parse().unwrap();
        let prefix = p.parse().unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
        TableAddr {
            net: Net { addr, prefix },
            neg,
        }
    }

    fn v(s: &str) -> (Af, Addr) {
        split(s.parse().unwrap())
    }

    #[test]
    fn the_longest_prefix_decides_and_negation_excludes() {
        let mut t = Table::new("t", "", 0);
        assert_eq!(t.add(&ta("10.0.0.0/8", false)), (true, false));
        assert_eq!(t.add(&ta("10.1.0.0/16", true)), (true, false));
        assert_eq!(t.add(&ta("2001:db8::/32", false)), (true, false));
        let m = |t: &Table, s| {
            let (af, a) = v(s);
            t.matches(af, a)
        };
        assert!(m(&t, "10.2.3.4"));
        assert!(!m(&t, "10.1.3.4"));
        assert!(!m(&t, "11.0.0.1"));
        assert!(m(&t, "2001:db8::1"));
        assert!(!m(&t, "2001:db9::1"));
        assert_eq!(t.add(&ta("10.0.0.0/8", false)), (false, false));
        assert!(t.delete(&ta("10.1.0.0/16", true)));
        assert!(m(&t, "10.1.3.4"));
        assert_eq!(t.len(), 2);
        assert_eq!(t.entries().len(), 2);
    }

    #[test]
    fn a_hundred_thousand_hosts_are_one_length() {
        let mut t = Table::new("big", "", 0);
        for i in 0..100_000u32 {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            t.add(&TableAddr {
                net: Net::host(a.into()),
                neg: false,
            });
        }
        assert_eq!(t.len(), 100_000);
        assert_eq!(t.v4.lens, vec![32]);
        assert!(t.matches(Af::Inet, Addr(0x0a00_0000 + 99_999)));
        assert!(!t.matches(Af::Inet, Addr(0x0a00_0000 + 100_000)));
    }
}
