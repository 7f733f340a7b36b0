//! Sequence-number arithmetic modulo 2^32 (RFC 9293 3.4).

#[inline]
pub fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[inline]
pub fn leq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}

#[inline]
pub fn gt(a: u32, b: u32) -> bool {
    lt(b, a)
}

#[inline]
pub fn geq(a: u32, b: u32) -> bool {
    leq(b, a)
}

/// The later of two sequence numbers.
#[inline]
pub fn max(a: u32, b: u32) -> u32 {
    if gt(a, b) {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps() {
        assert!(lt(0xffff_fff0, 0x10));
        assert!(gt(0x10, 0xffff_fff0));
        assert!(leq(5, 5) && geq(5, 5));
        assert_eq!(max(0xffff_fff0, 0x10), 0x10);
    }
}
