//! Secrets and unpredictable numbers: keys come from the kernel's CSPRNG (getrandom(2)),
//! never from the clock, and everything derived from them goes through SipHash
//! (the `siphasher` crate), a vetted keyed PRF. One place for the stack's secret material:
//! the TCP ISN secret (RFC 6528), the SYN-cookie key, IP ids and ephemeral ports.

use siphasher::sip::SipHasher24;
use std::hash::Hasher;

/// Fills `buf` from the kernel's CSPRNG. The stack cannot run without unpredictable
/// secrets, so a kernel that refuses (which Linux does not, once booted) stops it with
/// the reason rather than falling back to something guessable.
pub fn os_random(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("getrandom: the kernel's random source failed: {e}");
    }
}

/// A random u64 straight from the kernel.
pub fn os_u64() -> u64 {
    let mut b = [0u8; 8];
    os_random(&mut b);
    u64::from_le_bytes(b)
}

/// A 128-bit SipHash-2-4 key, drawn from the kernel when made.
#[derive(Clone)]
pub struct SipKey {
    k0: u64,
    k1: u64,
}

impl SipKey {
    /// A fresh key from the kernel's CSPRNG.
    pub fn new() -> SipKey {
        SipKey {
            k0: os_u64(),
            k1: os_u64(),
        }
    }

    /// A fixed key, for tests that need repeatable output.
    pub fn from_parts(k0: u64, k1: u64) -> SipKey {
        SipKey { k0, k1 }
    }

    /// SipHash-2-4 of `words`, each fed as 8 little-endian bytes.
    pub fn hash(&self, words: &[u64]) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        for w in words {
            h.write_u64(*w);
        }
        h.finish()
    }
}

impl Default for SipKey {
    fn default() -> Self {
        SipKey::new()
    }
}

impl std::fmt::Debug for SipKey {
    // Never print the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SipKey(..)")
    }
}

/// A stream of unpredictable numbers: SipHash of a counter under a kernel-drawn key (a
/// PRF in counter mode), for choices that must not be guessed, such as the first
/// ephemeral port to try.
#[derive(Debug, Default)]
pub struct KeyedStream {
    key: SipKey,
    n: u64,
}

impl KeyedStream {
    pub fn next_u32(&mut self) -> u32 {
        self.n = self.n.wrapping_add(1);
        self.key.hash(&[self.n]) as u32
    }
}

/// IP ids (RFC 6864, RFC 7739): a 16-bit counter sent through a keyed permutation (a
/// four-round Feistel network over two bytes, each round a SipHash of the round and the
/// other half), so an id does not come back within 65536 datagrams, yet no id tells an
/// observer the next one.
#[derive(Debug)]
pub struct IdPerm {
    key: SipKey,
    n: u16,
}

impl Default for IdPerm {
    fn default() -> Self {
        IdPerm {
            key: SipKey::new(),
            n: os_u64() as u16,
        }
    }
}

impl IdPerm {
    pub fn with_key(key: SipKey, start: u16) -> IdPerm {
        IdPerm { key, n: start }
    }

    /// The permutation of one 16-bit value.
    pub fn permute(&self, x: u16) -> u16 {
        let (mut l, mut r) = ((x >> 8) as u8, x as u8);
        for round in 0..4u64 {
            let f = self.key.hash(&[round, u64::from(r)]) as u8;
            (l, r) = (r, l ^ f);
        }
        (u16::from(l) << 8) | u16::from(r)
    }

    pub fn next_id(&mut self) -> u16 {
        self.n = self.n.wrapping_add(1);
        self.permute(self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_between_draws() {
        let (a, b) = (SipKey::new(), SipKey::new());
        assert_ne!(a.hash(&[1, 2, 3]), b.hash(&[1, 2, 3]));
    }

    #[test]
    fn sip_matches_the_reference_vector() {
        // The SipHash paper's test key 00 01 .. 0f over the empty input: 0x726fdb47dd0e0e31.
        let k = SipKey::from_parts(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        let h = SipHasher24::new_with_keys(k.k0, k.k1);
        assert_eq!(h.finish(), 0x726f_db47_dd0e_0e31);
    }

    #[test]
    fn ip_ids_are_a_permutation() {
        let p = IdPerm::with_key(SipKey::from_parts(1, 2), 0);
        let mut seen = vec![false; 65536];
        for x in 0..=u16::MAX {
            let y = p.permute(x) as usize;
            assert!(!seen[y], "{x} maps onto a value already taken");
            seen[y] = true;
        }
        // And not the identity or a plain offset.
        let d: Vec<u16> = (0..8).map(|x| p.permute(x + 1).wrapping_sub(p.permute(x))).collect();
        assert!(d.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn ids_do_not_repeat_within_65536() {
        let mut p = IdPerm::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..65536 {
            assert!(seen.insert(p.next_id()));
        }
    }
}
