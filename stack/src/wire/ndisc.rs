//! Neighbor Discovery messages (RFC 4861 section 4): router solicitation and
//! advertisement, neighbor solicitation and advertisement, redirect, and their options
//! (source/target link-layer address, prefix information, MTU, redirected header).
//! An option of length zero makes the whole message invalid (RFC 4861 4.6).

use std::net::Ipv6Addr;

use super::icmpv6::{self, fill_checksum};
use super::{addr6, be16, be32, Error, Result};

pub const OPT_SOURCE_LLA: u8 = 1;
pub const OPT_TARGET_LLA: u8 = 2;
pub const OPT_PREFIX_INFO: u8 = 3;
pub const OPT_REDIRECTED_HDR: u8 = 4;
pub const OPT_MTU: u8 = 5;

/// Router advertisement flags.
pub const RA_MANAGED: u8 = 0x80;
pub const RA_OTHER: u8 = 0x40;
/// Neighbor advertisement flags (top bits of the first word).
pub const NA_ROUTER: u32 = 0x8000_0000;
pub const NA_SOLICITED: u32 = 0x4000_0000;
pub const NA_OVERRIDE: u32 = 0x2000_0000;
/// Prefix information flags.
pub const PI_ONLINK: u8 = 0x80;
pub const PI_AUTO: u8 = 0x40;

/// A prefix information option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInfo {
    pub prefix_len: u8,
    pub on_link: bool,
    pub autonomous: bool,
    pub valid: u32,
    pub preferred: u32,
    pub prefix: Ipv6Addr,
}

/// One ND option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdOpt<'a> {
    SourceLla([u8; 6]),
    TargetLla([u8; 6]),
    Prefix(PrefixInfo),
    Mtu(u32),
    /// The redirected header option's packet (as much as fitted).
    Redirected(&'a [u8]),
    /// An option this stack does not know (ignored, as RFC 4861 says).
    Unknown(u8),
}

impl NdOpt<'_> {
    /// The option's length on the wire (a multiple of 8).
    pub fn wire_len(&self) -> usize {
        match self {
            NdOpt::SourceLla(_) | NdOpt::TargetLla(_) | NdOpt::Mtu(_) | NdOpt::Unknown(_) => 8,
            NdOpt::Prefix(_) => 32,
            NdOpt::Redirected(p) => 8 + p.len().div_ceil(8) * 8,
        }
    }

    /// Appends the option.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let len = self.wire_len();
        out.resize(start + len, 0);
        let o = &mut out[start..];
        o[1] = (len / 8) as u8;
        match *self {
            NdOpt::SourceLla(m) | NdOpt::TargetLla(m) => {
                o[0] = if matches!(self, NdOpt::SourceLla(_)) {
                    OPT_SOURCE_LLA
                } else {
                    OPT_TARGET_LLA
                };
                o[2..8].copy_from_slice(&m);
            }
            NdOpt::Mtu(m) => {
                o[0] = OPT_MTU;
                o[4..8].copy_from_slice(&m.to_be_bytes());
            }
            NdOpt::Prefix(p) => {
                o[0] = OPT_PREFIX_INFO;
                o[2] = p.prefix_len;
                o[3] = if p.on_link { PI_ONLINK } else { 0 } | if p.autonomous { PI_AUTO } else { 0 };
                o[4..8].copy_from_slice(&p.valid.to_be_bytes());
                o[8..12].copy_from_slice(&p.preferred.to_be_bytes());
                o[16..32].copy_from_slice(&p.prefix.octets());
            }
            NdOpt::Redirected(p) => {
                o[0] = OPT_REDIRECTED_HDR;
                o[8..8 + p.len()].copy_from_slice(p);
            }
            NdOpt::Unknown(t) => o[0] = t,
        }
    }
}

/// The options in `b`; an error (and nothing after it) at an option of length zero or
/// one that runs past the end, or a known option of the wrong size.
pub fn options(b: &[u8]) -> impl Iterator<Item = Result<NdOpt<'_>>> {
    let mut i = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || i >= b.len() {
            return None;
        }
        let r = one_option(&b[i..]);
        match r {
            Ok((o, len)) => {
                i += len;
                Some(Ok(o))
            }
            Err(e) => {
                failed = true;
                Some(Err(e))
            }
        }
    })
}

fn one_option(b: &[u8]) -> Result<(NdOpt<'_>, usize)> {
    if b.len() < 2 {
        return Err(Error::Truncated);
    }
    let len = usize::from(b[1]) * 8;
    if len == 0 {
        return Err(Error::Malformed);
    }
    if len > b.len() {
        return Err(Error::Truncated);
    }
    let o = &b[..len];
    let lla = || {
        let mut m = [0u8; 6];
        m.copy_from_slice(&o[2..8]);
        m
    };
    let opt = match o[0] {
        // Ethernet's link-layer address options are one unit long (RFC 2464 section 6).
        OPT_SOURCE_LLA if len == 8 => NdOpt::SourceLla(lla()),
        OPT_TARGET_LLA if len == 8 => NdOpt::TargetLla(lla()),
        OPT_MTU if len == 8 => NdOpt::Mtu(be32(o, 4)),
        OPT_PREFIX_INFO if len == 32 => {
            let pl = o[2];
            if pl > 128 {
                return Err(Error::Malformed);
            }
            NdOpt::Prefix(PrefixInfo {
                prefix_len: pl,
                on_link: o[3] & PI_ONLINK != 0,
                autonomous: o[3] & PI_AUTO != 0,
                valid: be32(o, 4),
                preferred: be32(o, 8),
                prefix: addr6(o, 16),
            })
        }
        OPT_REDIRECTED_HDR => NdOpt::Redirected(&o[8.min(len)..]),
        OPT_SOURCE_LLA | OPT_TARGET_LLA | OPT_MTU | OPT_PREFIX_INFO => return Err(Error::Malformed),
        t => NdOpt::Unknown(t),
    };
    Ok((opt, len))
}

/// Checks every option of a message.
pub fn check_options(b: &[u8]) -> Result<()> {
    options(b).try_for_each(|o| o.map(|_| ()))
}

/// An ND message: its fixed part and its option bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdRepr<'a> {
    RouterSolicit {
        opts: &'a [u8],
    },
    RouterAdvert {
        hop_limit: u8,
        flags: u8,
        router_lifetime: u16,
        reachable: u32,
        retrans: u32,
        opts: &'a [u8],
    },
    NeighborSolicit {
        target: Ipv6Addr,
        opts: &'a [u8],
    },
    NeighborAdvert {
        flags: u32,
        target: Ipv6Addr,
        opts: &'a [u8],
    },
    Redirect {
        target: Ipv6Addr,
        dest: Ipv6Addr,
        opts: &'a [u8],
    },
}

impl<'a> NdRepr<'a> {
    /// Parses a whole ICMPv6 message of an ND type: the lengths of RFC 4861 section 6.1
    /// and 7.1, code 0, and options that parse.
    pub fn parse(m: &'a [u8]) -> Result<NdRepr<'a>> {
        if m.len() < 8 {
            return Err(Error::Truncated);
        }
        if m[1] != 0 {
            return Err(Error::Malformed);
        }
        let need = |n: usize| if m.len() < n { Err(Error::Truncated) } else { Ok(()) };
        let r = match m[0] {
            icmpv6::ND_ROUTER_SOLICIT => NdRepr::RouterSolicit { opts: &m[8..] },
            icmpv6::ND_ROUTER_ADVERT => {
                need(16)?;
                NdRepr::RouterAdvert {
                    hop_limit: m[4],
                    flags: m[5],
                    router_lifetime: be16(m, 6),
                    reachable: be32(m, 8),
                    retrans: be32(m, 12),
                    opts: &m[16..],
                }
            }
            icmpv6::ND_NEIGHBOR_SOLICIT => {
                need(24)?;
                NdRepr::NeighborSolicit {
                    target: addr6(m, 8),
                    opts: &m[24..],
                }
            }
            icmpv6::ND_NEIGHBOR_ADVERT => {
                need(24)?;
                NdRepr::NeighborAdvert {
                    flags: be32(m, 4),
                    target: addr6(m, 8),
                    opts: &m[24..],
                }
            }
            icmpv6::ND_REDIRECT => {
                need(40)?;
                NdRepr::Redirect {
                    target: addr6(m, 8),
                    dest: addr6(m, 24),
                    opts: &m[40..],
                }
            }
            _ => return Err(Error::Malformed),
        };
        check_options(r.opts())?;
        Ok(r)
    }

    pub fn opts(&self) -> &'a [u8] {
        match *self {
            NdRepr::RouterSolicit { opts }
            | NdRepr::RouterAdvert { opts, .. }
            | NdRepr::NeighborSolicit { opts, .. }
            | NdRepr::NeighborAdvert { opts, .. }
            | NdRepr::Redirect { opts, .. } => opts,
        }
    }

    /// The source link-layer address option, if any.
    pub fn source_lla(&self) -> Option<[u8; 6]> {
        options(self.opts()).find_map(|o| match o {
            Ok(NdOpt::SourceLla(m)) => Some(m),
            _ => None,
        })
    }

    /// The target link-layer address option, if any.
    pub fn target_lla(&self) -> Option<[u8; 6]> {
        options(self.opts()).find_map(|o| match o {
            Ok(NdOpt::TargetLla(m)) => Some(m),
            _ => None,
        })
    }

    /// The whole ICMPv6 message with `extra` options (this repr's own option bytes are
    /// not repeated) and its checksum.
    pub fn build(&self, extra: &[NdOpt], src: &Ipv6Addr, dst: &Ipv6Addr) -> Vec<u8> {
        let mut m = vec![0u8; 8];
        match *self {
            NdRepr::RouterSolicit { .. } => m[0] = icmpv6::ND_ROUTER_SOLICIT,
            NdRepr::RouterAdvert {
                hop_limit,
                flags,
                router_lifetime,
                reachable,
                retrans,
                ..
            } => {
                m[0] = icmpv6::ND_ROUTER_ADVERT;
                m[4] = hop_limit;
                m[5] = flags;
                m[6..8].copy_from_slice(&router_lifetime.to_be_bytes());
                m.extend_from_slice(&reachable.to_be_bytes());
                m.extend_from_slice(&retrans.to_be_bytes());
            }
            NdRepr::NeighborSolicit { target, .. } => {
                m[0] = icmpv6::ND_NEIGHBOR_SOLICIT;
                m.extend_from_slice(&target.octets());
            }
            NdRepr::NeighborAdvert { flags, target, .. } => {
                m[0] = icmpv6::ND_NEIGHBOR_ADVERT;
                m[4..8].copy_from_slice(&flags.to_be_bytes());
                m.extend_from_slice(&target.octets());
            }
            NdRepr::Redirect { target, dest, .. } => {
                m[0] = icmpv6::ND_REDIRECT;
                m.extend_from_slice(&target.octets());
                m.extend_from_slice(&dest.octets());
            }
        }
        for o in extra {
            o.emit(&mut m);
        }
        fill_checksum(&mut m, src, dst);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmpv6::Icmpv6Packet;

    #[test]
    fn ns_na_round_trip() {
        let s: Ipv6Addr = "fe80::1".parse().unwrap();
        let t: Ipv6Addr = "fe80::2".parse().unwrap();
        let d = crate::wire::ipv6::addr::solicited_node(&t);
        let mac = [2, 0, 0, 0, 0, 1];
        let m = NdRepr::NeighborSolicit { target: t, opts: &[] }.build(&[NdOpt::SourceLla(mac)], &s, &d);
        assert_eq!(m.len(), 32);
        assert!(Icmpv6Packet::new_checked(&m[..]).unwrap().verify(&s, &d));
        let r = NdRepr::parse(&m).unwrap();
        assert!(matches!(r, NdRepr::NeighborSolicit { target, .. } if target == t));
        assert_eq!(r.source_lla(), Some(mac));
        assert_eq!(r.target_lla(), None);
        let na = NdRepr::NeighborAdvert {
            flags: NA_SOLICITED | NA_OVERRIDE,
            target: t,
            opts: &[],
        }
        .build(&[NdOpt::TargetLla(mac)], &t, &s);
        let r = NdRepr::parse(&na).unwrap();
        assert!(matches!(r, NdRepr::NeighborAdvert { flags, .. } if flags == NA_SOLICITED | NA_OVERRIDE));
        assert_eq!(r.target_lla(), Some(mac));
    }

    #[test]
    fn ra_with_prefix_and_mtu() {
        let pi = PrefixInfo {
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid: 86400,
            preferred: 14400,
            prefix: "2001:db8:1::".parse().unwrap(),
        };
        let s: Ipv6Addr = "fe80::1".parse().unwrap();
        let d: Ipv6Addr = "ff02::1".parse().unwrap();
        let m = NdRepr::RouterAdvert {
            hop_limit: 64,
            flags: 0,
            router_lifetime: 1800,
            reachable: 0,
            retrans: 0,
            opts: &[],
        }
        .build(&[NdOpt::SourceLla([2; 6]), NdOpt::Mtu(1500), NdOpt::Prefix(pi)], &s, &d);
        let r = NdRepr::parse(&m).unwrap();
        let got: Vec<_> = options(r.opts()).map(|o| o.unwrap()).collect();
        assert_eq!(got, vec![NdOpt::SourceLla([2; 6]), NdOpt::Mtu(1500), NdOpt::Prefix(pi)]);
    }

    #[test]
    fn bad_options_invalidate_the_message() {
        let mut m = NdRepr::RouterSolicit { opts: &[] }.build(
            &[NdOpt::SourceLla([2; 6])],
            &Ipv6Addr::UNSPECIFIED,
            &Ipv6Addr::LOCALHOST,
        );
        m[9] = 0; // option length zero
        assert_eq!(NdRepr::parse(&m).unwrap_err(), Error::Malformed);
        m[9] = 2; // runs past the end
        assert_eq!(NdRepr::parse(&m).unwrap_err(), Error::Truncated);
        // A prefix option of the wrong size.
        let bad = [0u8, 0, 0, 0, 0, 0, 0, 0, OPT_PREFIX_INFO, 1, 64, 0, 0, 0, 0, 0];
        let mut ra = vec![icmpv6::ND_ROUTER_ADVERT, 0, 0, 0, 64, 0, 0, 0];
        ra.extend_from_slice(&bad);
        assert_eq!(NdRepr::parse(&ra).unwrap_err(), Error::Malformed);
        // Short fixed parts, non-zero code.
        assert_eq!(
            NdRepr::parse(&[icmpv6::ND_NEIGHBOR_SOLICIT, 0, 0, 0, 0, 0, 0, 0]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            NdRepr::parse(&[icmpv6::ND_ROUTER_SOLICIT, 1, 0, 0, 0, 0, 0, 0]).unwrap_err(),
            Error::Malformed
        );
    }
}
