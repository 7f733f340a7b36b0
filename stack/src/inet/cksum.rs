//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

/// Adds the 16-bit words of `b` to a running one's-complement sum.
pub fn sum(mut acc: u32, b: &[u8]) -> u32 {
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Folds a sum to 16 bits and complements it.
pub fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum of `b`.
pub fn cksum(b: &[u8]) -> u16 {
    fold(sum(0, b))
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word changed from `old` to `new`.
pub fn update(ck: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!ck) + u32::from(!old) + u32::from(new);
    fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // The example words of RFC 1071 section 3.
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(0, &b)), !0xddf2);
    }

    #[test]
    fn incremental_matches_full() {
        let mut h = [
            0x45u8, 0, 0, 84, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = cksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(cksum(&h), 0);
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let c2 = update(c, old, new);
        h[10..12].copy_from_slice(&c2.to_be_bytes());
        assert_eq!(cksum(&h), 0);
    }
}
