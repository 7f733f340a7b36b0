//! What PF reads of a packet (`struct pf_pdesc`): family, protocol, addresses, ports or
//! ICMP id, the TCP fields state tracking needs, and where each rewritable field and
//! checksum lies. Parsing is total: a packet too short for the header its protocol names
//! is refused with the reason pf counts (`short`, `bad-offset`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::nat::{rd16, rd32};
use super::Reason;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

/// A family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Af {
    Inet,
    Inet6,
}

/// An address of either family, as a number (IPv4 in the low 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr(pub u128);

impl Addr {
    pub fn v4(a: Ipv4Addr) -> Addr {
        Addr(u128::from(u32::from(a)))
    }

    pub fn v6(a: Ipv6Addr) -> Addr {
        Addr(u128::from(a))
    }

    pub fn from_ip(a: IpAddr) -> Addr {
        match a {
            IpAddr::V4(a) => Addr::v4(a),
            IpAddr::V6(a) => Addr::v6(a),
        }
    }

    pub fn to_ip(self, af: Af) -> IpAddr {
        match af {
            Af::Inet => IpAddr::V4(Ipv4Addr::from(self.0 as u32)),
            Af::Inet6 => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }

    /// The address as it lies in a header of `af`.
    pub fn bytes(self, af: Af, out: &mut [u8; 16]) -> &[u8] {
        match af {
            Af::Inet => {
                out[..4].copy_from_slice(&(self.0 as u32).to_be_bytes());
                &out[..4]
            }
            Af::Inet6 => {
                *out = self.0.to_be_bytes();
                &out[..]
            }
        }
    }

    fn read(p: &[u8], at: usize, af: Af) -> Addr {
        match af {
            Af::Inet => Addr(u128::from(rd32(p, at))),
            Af::Inet6 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(&p[at..at + 16]);
                Addr(u128::from_be_bytes(b))
            }
        }
    }
}

/// The TCP fields state tracking reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tcp {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub win: u16,
    /// Header length with options.
    pub hlen: usize,
    /// Bytes of data.
    pub dlen: u32,
}

/// One packet as PF sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pd {
    pub af: Af,
    pub proto: u8,
    pub src: Addr,
    pub dst: Addr,
    /// Where the source and destination addresses lie.
    pub src_at: usize,
    pub dst_at: usize,
    /// The IPv4 header checksum's offset (None for IPv6).
    pub ip_ck: Option<usize>,
    /// Where the transport header starts.
    pub off: usize,
    /// The packet's length by its header.
    pub tot_len: usize,
    /// Ports (TCP, UDP), or the ICMP query id in both (0 otherwise).
    pub sport: u16,
    pub dport: u16,
    /// A fragment other than the first: no transport header to read.
    pub frag: bool,
    pub ttl: u8,
    pub tos: u8,
    pub tcp: Tcp,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// An ICMP or ICMPv6 query (echo and its kin), whose id is its "port".
    pub icmp_query: bool,
}

impl Pd {
    /// The transport checksum's offset in the packet, when it has one this packet holds.
    pub fn l4_ck(&self) -> Option<usize> {
        if self.frag {
            return None;
        }
        let at = match self.proto {
            IPPROTO_TCP => self.off + 16,
            IPPROTO_UDP => self.off + 6,
            IPPROTO_ICMP | IPPROTO_ICMPV6 => self.off + 2,
            _ => return None,
        };
        (at + 2 <= self.tot_len).then_some(at)
    }

    /// Whether the transport checksum covers the addresses (a pseudo-header).
    pub fn l4_pseudo(&self) -> bool {
        self.proto != IPPROTO_ICMP
    }
}

/// ICMP and ICMPv6 query messages (with an id), and the errors that quote a packet.
pub fn icmp_is_query(af: Af, t: u8) -> bool {
    match af {
        Af::Inet => matches!(t, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18),
        Af::Inet6 => matches!(t, 128 | 129),
    }
}

pub fn icmp_is_error(af: Af, t: u8) -> bool {
    match af {
        Af::Inet => matches!(t, 3 | 4 | 5 | 11 | 12),
        Af::Inet6 => matches!(t, 1..=4),
    }
}

/// Reads an IPv4 packet (validated by ip_input or made by ip_output).
pub fn parse4(p: &[u8]) -> Result<Pd, Reason> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return Err(Reason::Short);
    }
    let hlen = usize::from(p[0] & 0xf) * 4;
    let tot = usize::from(rd16(p, 2)).min(p.len());
    if hlen < 20 || hlen > tot {
        return Err(Reason::BadOffset);
    }
    let off_field = rd16(p, 6);
    let mut pd = Pd {
        af: Af::Inet,
        proto: p[9],
        src: Addr::read(p, 12, Af::Inet),
        dst: Addr::read(p, 16, Af::Inet),
        src_at: 12,
        dst_at: 16,
        ip_ck: Some(10),
        off: hlen,
        tot_len: tot,
        sport: 0,
        dport: 0,
        frag: off_field & 0x1fff != 0,
        ttl: p[8],
        tos: p[1],
        tcp: Tcp::default(),
        icmp_type: 0,
        icmp_code: 0,
        icmp_query: false,
    };
    transport(p, &mut pd)?;
    Ok(pd)
}

/// Reads an IPv6 packet: its extension headers are walked to the upper layer.
pub fn parse6(p: &[u8]) -> Result<Pd, Reason> {
    if p.len() < 40 || p[0] >> 4 != 6 {
        return Err(Reason::Short);
    }
    let tot = (40 + usize::from(rd16(p, 4))).min(p.len());
    let mut chain = crate::wire::ip6ext::Chain::new(&p[40..tot], p[6]);
    let mut frag = false;
    let (proto, off) = loop {
        match chain.next() {
            Some(Ok(crate::wire::ip6ext::Step::Ext(h))) => {
                if h.kind == crate::wire::ip6ext::NH_FRAGMENT {
                    // Offset nonzero: no upper-layer header here.
                    let fo = rd16(h.data, 2) & 0xfff8;
                    if fo != 0 {
                        frag = true;
                        break (h.next, 40 + h.offset + h.data.len());
                    }
                }
            }
            Some(Ok(crate::wire::ip6ext::Step::Upper { nh, offset })) => break (nh, 40 + offset),
            Some(Err(_)) | None => return Err(Reason::Short),
        }
    };
    let mut pd = Pd {
        af: Af::Inet6,
        proto,
        src: Addr::read(p, 8, Af::Inet6),
        dst: Addr::read(p, 24, Af::Inet6),
        src_at: 8,
        dst_at: 24,
        ip_ck: None,
        off,
        tot_len: tot,
        sport: 0,
        dport: 0,
        frag,
        ttl: p[7],
        tos: ((rd16(p, 0) >> 4) & 0xff) as u8,
        tcp: Tcp::default(),
        icmp_type: 0,
        icmp_code: 0,
        icmp_query: false,
    };
    transport(p, &mut pd)?;
    Ok(pd)
}

/// Reads the transport header the packet names (none for a later fragment).
fn transport(p: &[u8], pd: &mut Pd) -> Result<(), Reason> {
    if pd.frag {
        return Ok(());
    }
    let o = pd.off;
    let have = pd.tot_len.saturating_sub(o);
    match pd.proto {
        IPPROTO_TCP => {
            if have < 20 {
                return Err(Reason::Short);
            }
            let hlen = usize::from(p[o + 12] >> 4) * 4;
            if hlen < 20 || hlen > have {
                return Err(Reason::BadOffset);
            }
            pd.sport = rd16(p, o);
            pd.dport = rd16(p, o + 2);
            pd.tcp = Tcp {
                seq: rd32(p, o + 4),
                ack: rd32(p, o + 8),
                flags: p[o + 13],
                win: rd16(p, o + 14),
                hlen,
                dlen: (have - hlen) as u32,
            };
        }
        IPPROTO_UDP => {
            if have < 8 {
                return Err(Reason::Short);
            }
            let ulen = usize::from(rd16(p, o + 4));
            if ulen < 8 || ulen > have {
                return Err(Reason::Short);
            }
            pd.sport = rd16(p, o);
            pd.dport = rd16(p, o + 2);
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            let want = if pd.proto == IPPROTO_ICMP { Af::Inet } else { Af::Inet6 };
            if want != pd.af {
                // ICMP inside IPv6 or ICMPv6 inside IPv4: pf treats it as another protocol.
                return Ok(());
            }
            if have < 8 {
                return Err(Reason::Short);
            }
            pd.icmp_type = p[o];
            pd.icmp_code = p[o + 1];
            if icmp_is_query(pd.af, pd.icmp_type) {
                pd.icmp_query = true;
                let id = rd16(p, o + 4);
                pd.sport = id;
                pd.dport = id;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_bad_headers_are_refused_with_their_reason() {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[9] = IPPROTO_TCP;
        // A TCP header of 20 bytes claiming 60.
        p[32] = 0xf0;
        assert_eq!(parse4(&p), Err(Reason::BadOffset));
        p[32] = 0x50;
        let pd = parse4(&p).unwrap();
        assert_eq!((pd.off, pd.tcp.hlen, pd.tcp.dlen), (20, 20, 0));
        p[2..4].copy_from_slice(&30u16.to_be_bytes());
        assert_eq!(parse4(&p), Err(Reason::Short));
        assert_eq!(parse4(&p[..10]), Err(Reason::Short));
        assert_eq!(parse6(&p), Err(Reason::Short));
    }

    #[test]
    fn a_later_fragment_has_no_ports() {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[6..8].copy_from_slice(&0x0001u16.to_be_bytes());
        p[9] = IPPROTO_UDP;
        let pd = parse4(&p).unwrap();
        assert!(pd.frag);
        assert_eq!((pd.sport, pd.dport, pd.l4_ck()), (0, 0, None));
    }
}
