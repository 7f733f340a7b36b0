//! Multicast Listener Discovery: the MLDv2 report (RFC 3810 section 5.2) and the query's
//! fixed part (5.1, and MLDv1's shorter one of RFC 2710).

use std::net::Ipv6Addr;

use super::icmpv6::{self, fill_checksum};
use super::{addr6, be16, Error, Result};

/// Multicast address record types (RFC 3810 5.2.12).
pub const MODE_IS_INCLUDE: u8 = 1;
pub const MODE_IS_EXCLUDE: u8 = 2;
pub const CHANGE_TO_INCLUDE: u8 = 3;
pub const CHANGE_TO_EXCLUDE: u8 = 4;

/// The MLDv2 routers' group reports go to.
pub const ALL_MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

/// One record: a group with no sources (what joining a group is: exclude nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub rtype: u8,
    pub group: Ipv6Addr,
}

/// Builds a report of source-less records, with its checksum.
pub fn report(records: &[Record], src: &Ipv6Addr) -> Vec<u8> {
    let mut m = vec![0u8; 8 + 20 * records.len()];
    m[0] = icmpv6::MLDV2_LISTENER_REPORT;
    m[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    for (i, r) in records.iter().enumerate() {
        let o = &mut m[8 + 20 * i..8 + 20 * (i + 1)];
        o[0] = r.rtype;
        o[4..20].copy_from_slice(&r.group.octets());
    }
    fill_checksum(&mut m, src, &ALL_MLDV2_ROUTERS);
    m
}

/// The records of a report (sources are skipped over); stops with an error at one that
/// runs past the end.
pub fn records(m: &[u8]) -> impl Iterator<Item = Result<Record>> + '_ {
    let n = if m.len() >= 8 { be16(m, 6) } else { 0 };
    let mut at = 8usize;
    let mut left = if m.len() >= 8 { n } else { 0 };
    let mut failed = m.len() < 8;
    let mut first = true;
    std::iter::from_fn(move || {
        if failed && first {
            first = false;
            return Some(Err(Error::Truncated));
        }
        if failed || left == 0 {
            return None;
        }
        first = false;
        let hdr = m.get(at..at + 20);
        let Some(h) = hdr else {
            failed = true;
            return Some(Err(Error::Truncated));
        };
        let len = 20 + usize::from(h[1]) * 4 + usize::from(be16(h, 2)) * 16;
        if at + len > m.len() {
            failed = true;
            return Some(Err(Error::Truncated));
        }
        let r = Record {
            rtype: h[0],
            group: addr6(h, 4),
        };
        at += len;
        left -= 1;
        Some(Ok(r))
    })
}

/// A query's Maximum Response Delay (RFC 3810 5.1.3: the Maximum Response Code, below
/// 32768 in milliseconds as it is, above in its floating-point form; MLDv1's field is
/// plain milliseconds and always below 32768 in practice).
pub fn query_max_delay(m: &[u8]) -> Result<std::time::Duration> {
    if m.len() < 24 {
        return Err(Error::Truncated);
    }
    let code = u32::from(be16(m, 4));
    let ms = if code < 0x8000 {
        code
    } else {
        let (exp, mant) = ((code >> 12) & 7, code & 0xfff);
        (mant | 0x1000) << (exp + 3)
    };
    Ok(std::time::Duration::from_millis(u64::from(ms)))
}

/// The group a query asks about (unspecified: a general query).
pub fn query_group(m: &[u8]) -> Result<Ipv6Addr> {
    if m.len() < 24 {
        return Err(Error::Truncated);
    }
    Ok(addr6(m, 8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmpv6::Icmpv6Packet;

    #[test]
    fn max_response_codes_in_both_forms() {
        let q = |code: u16| {
            let mut m = vec![130u8, 0, 0, 0];
            m.extend_from_slice(&code.to_be_bytes());
            m.resize(24, 0);
            query_max_delay(&m).unwrap().as_millis()
        };
        assert_eq!(q(0), 0);
        assert_eq!(q(10_000), 10_000);
        assert_eq!(q(0x7fff), 32767);
        // Floating point: (mant | 0x1000) << (exp + 3).
        assert_eq!(q(0x8000), 32768);
        assert_eq!(q(0xffff), 0x1fff << 10);
        assert_eq!(query_max_delay(&[130, 0, 0, 0]), Err(Error::Truncated));
    }

    #[test]
    fn report_round_trip() {
        let g: Ipv6Addr = "ff02::1:ff00:2".parse().unwrap();
        let src: Ipv6Addr = "fe80::2".parse().unwrap();
        let m = report(
            &[Record {
                rtype: CHANGE_TO_EXCLUDE,
                group: g,
            }],
            &src,
        );
        assert_eq!(m.len(), 28);
        assert!(Icmpv6Packet::new_checked(&m[..])
            .unwrap()
            .verify(&src, &ALL_MLDV2_ROUTERS));
        let r: Vec<_> = records(&m).collect();
        assert_eq!(
            r,
            vec![Ok(Record {
                rtype: CHANGE_TO_EXCLUDE,
                group: g
            })]
        );
        // A count larger than the records there: an error, not a read past the end.
        let mut bad = m.clone();
        bad[7] = 3;
        let r: Vec<_> = records(&bad).collect();
        assert_eq!(r.last(), Some(&Err(Error::Truncated)));
        assert_eq!(records(&m[..4]).collect::<Vec<_>>(), vec![Err(Error::Truncated)]);
        assert!(query_group(&m[..20]).is_err());
    }
}
