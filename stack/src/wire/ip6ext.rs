//! IPv6 extension headers (RFC 8200 section 4): hop-by-hop and destination options with
//! their TLV options, the routing header, the fragment header, and a walker over the chain
//! that is bounded (each header moves strictly forward, at most `MAX_EXT_HEADERS` of them,
//! hop-by-hop only first, no header kind repeated beyond what RFC 8200 4.1 allows) and
//! refuses any header that runs past the end of the packet.

use super::{be16, be32, Error};

pub const NH_HOPOPTS: u8 = 0;
pub const NH_TCP: u8 = 6;
pub const NH_UDP: u8 = 17;
pub const NH_ROUTING: u8 = 43;
pub const NH_FRAGMENT: u8 = 44;
pub const NH_ESP: u8 = 50;
pub const NH_AH: u8 = 51;
pub const NH_ICMPV6: u8 = 58;
pub const NH_NONE: u8 = 59;
pub const NH_DSTOPTS: u8 = 60;

/// The most extension headers one packet may carry before it is refused.
pub const MAX_EXT_HEADERS: usize = 8;
pub const FRAG_HDR_LEN: usize = 8;

/// Option types (RFC 8200 4.2, RFC 2711).
pub const OPT_PAD1: u8 = 0;
pub const OPT_PADN: u8 = 1;
pub const OPT_ROUTER_ALERT: u8 = 5;

/// Whether `nh` names an extension header the walker steps over.
pub fn is_ext(nh: u8) -> bool {
    matches!(nh, NH_HOPOPTS | NH_ROUTING | NH_FRAGMENT | NH_DSTOPTS)
}

/// A failure with the offset (from the start of the walked bytes) of the field at fault,
/// for an ICMPv6 parameter problem's pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainErr {
    pub err: Error,
    pub at: usize,
}

/// One extension header in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtHeader<'a> {
    /// Which header this is (the next-header value that named it).
    pub kind: u8,
    /// Its offset in the walked bytes.
    pub offset: usize,
    /// The whole header.
    pub data: &'a [u8],
    /// The next header after it.
    pub next: u8,
}

/// A step of the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Ext(ExtHeader<'a>),
    /// The upper-layer header (or NH_NONE) at this offset.
    Upper {
        nh: u8,
        offset: usize,
    },
}

/// Walks the extension headers of an IPv6 payload.
#[derive(Debug, Clone)]
pub struct Chain<'a> {
    buf: &'a [u8],
    nh: u8,
    off: usize,
    count: usize,
    /// Kinds seen: hop-by-hop, routing, fragment, and destination options (twice).
    seen_hbh: bool,
    seen_rt: bool,
    seen_frag: bool,
    seen_dst: u8,
    /// Offset of the next-header field that named the current header (for errors).
    nh_at: usize,
    done: bool,
}

impl<'a> Chain<'a> {
    /// A walk over `payload` (the bytes after the fixed header), whose first header is
    /// `first`. An error's `at` is `usize::MAX` when the field at fault is the fixed
    /// header's own next-header field.
    pub fn new(payload: &'a [u8], first: u8) -> Chain<'a> {
        Chain {
            buf: payload,
            nh: first,
            off: 0,
            count: 0,
            seen_hbh: false,
            seen_rt: false,
            seen_frag: false,
            seen_dst: 0,
            nh_at: usize::MAX,
            done: false,
        }
    }

    /// The next step; None after the upper layer or an error was returned.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Step<'a>, ChainErr>> {
        if self.done {
            return None;
        }
        let nh = self.nh;
        let off = self.off;
        let bad = |err, at| Some(Err(ChainErr { err, at }));
        if !is_ext(nh) {
            self.done = true;
            return Some(Ok(Step::Upper { nh, offset: off }));
        }
        self.done = true;
        let repeated = match nh {
            NH_HOPOPTS => self.count > 0 || self.seen_hbh,
            NH_ROUTING => std::mem::replace(&mut self.seen_rt, true),
            NH_FRAGMENT => std::mem::replace(&mut self.seen_frag, true),
            _ => {
                self.seen_dst += 1;
                self.seen_dst > 2
            }
        };
        if nh == NH_HOPOPTS {
            self.seen_hbh = true;
        }
        if repeated || self.count >= MAX_EXT_HEADERS {
            return bad(Error::Malformed, self.nh_at);
        }
        if self.buf.len() < off + 2 {
            return bad(Error::Truncated, off);
        }
        let len = if nh == NH_FRAGMENT {
            FRAG_HDR_LEN
        } else {
            (usize::from(self.buf[off + 1]) + 1) * 8
        };
        if self.buf.len() < off + len {
            return bad(Error::Truncated, off + 1);
        }
        let next = self.buf[off];
        let h = ExtHeader {
            kind: nh,
            offset: off,
            data: &self.buf[off..off + len],
            next,
        };
        self.count += 1;
        self.nh = next;
        self.nh_at = off;
        self.off = off + len;
        self.done = false;
        Some(Ok(Step::Ext(h)))
    }
}

/// One TLV option of a hop-by-hop or destination options header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt<'a> {
    pub kind: u8,
    /// Offset of the option in the header.
    pub offset: usize,
    pub data: &'a [u8],
}

impl Opt<'_> {
    /// What to do with an unrecognized option: the top two bits of its type
    /// (0 skip, 1 discard, 2 discard and send a parameter problem, 3 the same unless
    /// the destination was multicast).
    pub fn action(&self) -> u8 {
        self.kind >> 6
    }
}

/// The options of an options header (`hdr` is the whole header, from its next-header
/// byte). Stops with an error at an option that runs past the end.
pub fn options(hdr: &[u8]) -> impl Iterator<Item = Result<Opt<'_>, ChainErr>> {
    let mut i = 2;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || i >= hdr.len() {
            return None;
        }
        let kind = hdr[i];
        if kind == OPT_PAD1 {
            let o = Opt {
                kind,
                offset: i,
                data: &hdr[i..i],
            };
            i += 1;
            return Some(Ok(o));
        }
        let Some(&l) = hdr.get(i + 1) else {
            failed = true;
            return Some(Err(ChainErr {
                err: Error::Truncated,
                at: i,
            }));
        };
        let end = i + 2 + usize::from(l);
        if end > hdr.len() {
            failed = true;
            return Some(Err(ChainErr {
                err: Error::Truncated,
                at: i + 1,
            }));
        }
        let o = Opt {
            kind,
            offset: i,
            data: &hdr[i + 2..end],
        };
        i = end;
        Some(Ok(o))
    })
}

/// The fragment header (RFC 8200 section 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragRepr {
    pub next: u8,
    /// Offset of this fragment's data in bytes (a multiple of 8).
    pub offset: u16,
    pub more: bool,
    pub ident: u32,
}

impl FragRepr {
    pub fn parse(h: &[u8]) -> Result<FragRepr, Error> {
        if h.len() < FRAG_HDR_LEN {
            return Err(Error::Truncated);
        }
        let w = be16(h, 2);
        Ok(FragRepr {
            next: h[0],
            offset: w & !7,
            more: w & 1 != 0,
            ident: be32(h, 4),
        })
    }

    pub fn emit(&self, h: &mut [u8]) {
        h[0] = self.next;
        h[1] = 0;
        let w = (self.offset & !7) | u16::from(self.more);
        h[2..4].copy_from_slice(&w.to_be_bytes());
        h[4..8].copy_from_slice(&self.ident.to_be_bytes());
    }
}

/// The routing header's generic part (RFC 8200 section 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingRepr {
    pub next: u8,
    pub routing_type: u8,
    pub segments_left: u8,
}

impl RoutingRepr {
    pub fn parse(h: &[u8]) -> Result<RoutingRepr, Error> {
        if h.len() < 8 {
            return Err(Error::Truncated);
        }
        Ok(RoutingRepr {
            next: h[0],
            routing_type: h[2],
            segments_left: h[3],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(b: &[u8], first: u8) -> Result<Vec<(u8, usize)>, ChainErr> {
        let mut c = Chain::new(b, first);
        let mut v = Vec::new();
        while let Some(s) = c.next() {
            match s? {
                Step::Ext(h) => v.push((h.kind, h.offset)),
                Step::Upper { nh, offset } => v.push((nh, offset)),
            }
        }
        Ok(v)
    }

    #[test]
    fn walks_a_full_chain() {
        // hop-by-hop (8) -> dst opts (16) -> routing (8) -> fragment (8) -> icmpv6
        let mut b = vec![NH_DSTOPTS, 0, 1, 4, 0, 0, 0, 0];
        b.extend_from_slice(&[NH_ROUTING, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[NH_FRAGMENT, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[NH_ICMPV6, 0, 0, 9, 0, 0, 0, 1]);
        b.extend_from_slice(&[128, 0, 0, 0]);
        let v = walk(&b, NH_HOPOPTS).unwrap();
        assert_eq!(v, vec![(0, 0), (60, 8), (43, 24), (44, 32), (58, 40)]);
        let f = FragRepr::parse(&b[32..]).unwrap();
        assert_eq!((f.offset, f.more, f.ident, f.next), (8, true, 1, NH_ICMPV6));
        let mut e = [0u8; 8];
        f.emit(&mut e);
        assert_eq!(&e, &b[32..40]);
    }

    #[test]
    fn refuses_overruns_repeats_and_misplaced_hop_by_hop() {
        // A header whose length runs past the end.
        let b = [NH_ICMPV6, 3, 0, 0, 0, 0, 0, 0];
        assert_eq!(walk(&b, NH_DSTOPTS).unwrap_err().err, Error::Truncated);
        // Only one byte.
        assert_eq!(walk(&[0], NH_ROUTING).unwrap_err().err, Error::Truncated);
        // Hop-by-hop after another header.
        let b = [NH_HOPOPTS, 0, 0, 0, 0, 0, 0, 0, NH_NONE, 0, 0, 0, 0, 0, 0, 0];
        let e = walk(&b, NH_DSTOPTS).unwrap_err();
        assert_eq!((e.err, e.at), (Error::Malformed, 0));
        // Three destination options headers.
        let mut b = Vec::new();
        for _ in 0..3 {
            b.extend_from_slice(&[NH_DSTOPTS, 0, 1, 4, 0, 0, 0, 0]);
        }
        assert_eq!(walk(&b, NH_DSTOPTS).unwrap_err().err, Error::Malformed);
        // Two fragment headers.
        let b = [NH_FRAGMENT, 0, 0, 0, 0, 0, 0, 0, NH_NONE, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(walk(&b, NH_FRAGMENT).unwrap_err().err, Error::Malformed);
    }

    #[test]
    fn every_prefix_of_random_bytes_walks_without_panicking() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut b = vec![0u8; (x % 80) as usize];
            for v in &mut b {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = [0u8, 43, 44, 60, 58, (x >> 8) as u8][(x % 6) as usize];
            }
            let mut c = Chain::new(&b, (x % 64) as u8);
            let mut n = 0;
            while let Some(s) = c.next() {
                n += 1;
                if let Ok(Step::Ext(h)) = s {
                    assert!(h.offset + h.data.len() <= b.len());
                    for o in options(h.data).flatten() {
                        assert!(o.offset < h.data.len());
                    }
                }
            }
            assert!(n <= MAX_EXT_HEADERS + 1);
        }
    }

    #[test]
    fn option_tlvs() {
        let h = [NH_ICMPV6, 0, OPT_PAD1, OPT_ROUTER_ALERT, 2, 0, 0, OPT_PAD1];
        let v: Vec<_> = options(&h).map(|o| o.unwrap().kind).collect();
        assert_eq!(v, vec![OPT_PAD1, OPT_ROUTER_ALERT, OPT_PAD1]);
        let bad = [NH_ICMPV6, 0, 0xc2, 9, 0, 0, 0, 0];
        let e: Vec<_> = options(&bad).collect();
        assert_eq!(e.len(), 1);
        assert!(e[0].is_err());
        let o = Opt {
            kind: 0xc2,
            offset: 2,
            data: &[],
        };
        assert_eq!(o.action(), 3);
    }
}
