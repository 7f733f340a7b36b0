//! The primitives of pcap-filter(7) as tests on an Ethernet frame (DLT_EN10MB). Each builds
//! its tests in the order libpcap's code makes them, so that the loads a packet meets before
//! a verdict, and hence what a short packet does, are libpcap's.

use pktbox_stack::wire::bpf::*;
use pktbox_stack::wire::{arp, ethernet, ipv4};

use super::ir::{Cond, Graph, Val};
use super::lex::Kw;
use super::names::PortProto;
use super::Error;

// The numbers of the headers, as the BPF code compares them (32-bit operands).
pub const ETHERTYPE_IP: u32 = ethernet::ETHERTYPE_IP as u32;
pub const ETHERTYPE_IPV6: u32 = ethernet::ETHERTYPE_IPV6 as u32;
pub const ETHERTYPE_ARP: u32 = ethernet::ETHERTYPE_ARP as u32;
pub const ETHERTYPE_REVARP: u32 = ethernet::ETHERTYPE_REVARP as u32;
const ETHERTYPE_VLAN: u32 = ethernet::ETHERTYPE_VLAN as u32;
const ETHERMTU: u32 = ethernet::ETHERMTU as u32;
const IPPROTO_FRAGMENT: u32 = ipv4::IPPROTO_FRAGMENT as u32;
const IPPROTO_ICMPV6: u32 = ipv4::IPPROTO_ICMPV6 as u32;
const IPPROTO_TCP: u32 = ipv4::IPPROTO_TCP as u32;
const IPPROTO_UDP: u32 = ipv4::IPPROTO_UDP as u32;
const IPPROTO_SCTP: u32 = ipv4::IPPROTO_SCTP as u32;
const IP_OFFMASK: u32 = ipv4::IP_OFFMASK as u32;
/// Where the addresses are in an IPv4 header and in an Ethernet/IPv4 ARP packet.
const IP_SRC: u32 = 12;
const IP_DST: u32 = 16;
const ARP_SPA: u32 = 14;
const ARP_TPA: u32 = 24;
// An ARP packet of the one kind the address primitives look into is this long.
const _: () = assert!(arp::ARP_LEN as u32 == ARP_TPA + 4);
/// How deeply arithmetic may nest (the compiler recurses over it).
pub const MAX_VAL_DEPTH: usize = 200;

/// Which way an address or port is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Default,
    Src,
    Dst,
    SrcOrDst,
    SrcAndDst,
}

/// What kind of thing an identifier names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addr {
    Default,
    Host,
    Net,
    Port,
    Portrange,
    Gateway,
    Proto,
    Protochain,
}

/// The qualifiers in front of an identifier: protocol (None: any), direction, kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qual {
    pub proto: Option<Kw>,
    pub dir: Dir,
    pub addr: Addr,
}

/// The name libpcap's messages use for a protocol qualifier.
pub fn proto_name(p: Option<Kw>) -> &'static str {
    use Kw::*;
    match p {
        None => "",
        Some(k) => match k {
            Link => "link",
            Ip => "ip",
            Ip6 => "ip6",
            Arp => "arp",
            Rarp => "rarp",
            Tcp => "tcp",
            Udp => "udp",
            Icmp => "icmp",
            Icmp6 => "icmp6",
            Igmp => "igmp",
            Igrp => "igrp",
            Pim => "pim",
            Vrrp => "vrrp",
            Carp => "carp",
            Sctp => "sctp",
            Ah => "ah",
            Esp => "esp",
            Atalk => "atalk",
            Aarp => "aarp",
            Decnet => "decnet",
            Lat => "lat",
            Sca => "sca",
            Moprc => "moprc",
            Mopdl => "mopdl",
            Iso => "iso",
            Stp => "stp",
            Ipx => "ipx",
            Netbeui => "netbeui",
            _ => "?",
        },
    }
}

/// An arithmetic value and the tests that must hold for it to exist (`tcp[13]` exists only
/// in an unfragmented or first-fragment IPv4 TCP packet).
#[derive(Debug, Clone)]
pub struct Arth {
    pub val: Val,
    pub cond: Option<Cond>,
}

/// The code generator's state: the graph and where the headers start, which every `vlan`
/// in the expression moves four bytes further for everything after it, as in libpcap.
pub struct Gen {
    pub g: Graph,
    /// Offset of the Ethernet type field.
    pub off_linktype: u32,
    /// Offset of the network-layer header.
    pub off_nl: u32,
    /// The network's mask, for `ip broadcast` (0 when unknown, as with tcpdump -d).
    pub netmask: u32,
    /// BSD loopback framing (DLT_NULL): a 4-byte address family in the capturing host's
    /// byte order instead of an Ethernet header.
    pub null: bool,
}

/// DLT_NULL's address-family word as a big-endian BPF load sees it on this host.
fn af_word(af: u32) -> u32 {
    u32::from_be_bytes(af.to_ne_bytes())
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Semantic(msg.into())
}

impl Gen {
    pub fn new(netmask: u32, linktype: u32) -> Self {
        let null = linktype == super::DLT_NULL;
        Gen {
            g: Graph::default(),
            off_linktype: if null { 0 } else { 12 },
            off_nl: if null { 4 } else { 14 },
            netmask,
            null,
        }
    }

    /// A test that never holds (`jset #0`), for protocols a link type cannot carry.
    fn never(&mut self) -> Cond {
        self.g.test(Val::Const(0), BPF_JSET, Val::Const(0))
    }

    /// Refuses what only Ethernet framing has, on BSD loopback framing.
    fn ether_only(&self, msg: &str) -> Result<(), Error> {
        if self.null {
            return Err(bad(msg));
        }
        Ok(())
    }

    fn and(&mut self, a: Cond, b: Cond) -> Cond {
        self.g.and(a, b)
    }

    fn or(&mut self, a: Cond, b: Cond) -> Cond {
        self.g.or(a, b)
    }

    fn not(&mut self, a: Cond) -> Cond {
        self.g.not(a)
    }

    pub fn and_opt(&mut self, a: Option<Cond>, b: Option<Cond>) -> Option<Cond> {
        match (a, b) {
            (Some(a), Some(b)) => Some(self.and(a, b)),
            (a, b) => a.or(b),
        }
    }

    fn cmp(&mut self, size: u16, k: u32, v: u32) -> Cond {
        self.g.cmp(size, k, v)
    }

    /// The Ethernet type (or length) field is larger than 1500: a type, not an 802.3 length.
    fn is_ethertype(&mut self) -> Cond {
        let t = self
            .g
            .test(Val::load(BPF_H, self.off_linktype), BPF_JGT, Val::Const(ETHERMTU));
        self.not(t)
    }

    /// An 802.2 frame whose DSAP (and SSAP, for `both`) is `sap`.
    fn llc_sap(&mut self, sap: u32, both: bool) -> Cond {
        let llc = self.is_ethertype();
        let sap = if both {
            self.cmp(BPF_H, self.off_nl, (sap << 8) | sap)
        } else {
            self.cmp(BPF_B, self.off_nl, sap)
        };
        self.and(llc, sap)
    }

    /// A SNAP frame (802.2 with AA AA 03) carrying `ethertype` under organisation `oui`.
    fn snap(&mut self, oui: u32, ethertype: u32) -> Cond {
        let llc = self.is_ethertype();
        let t = self.cmp(BPF_W, self.off_nl + 4, ((oui & 0xff) << 16) | ethertype);
        let h = self.cmp(BPF_W, self.off_nl, 0xaaaa_0300 | (oui >> 16));
        let snap = self.and(t, h);
        self.and(llc, snap)
    }

    /// The frame carries link-level protocol `proto` (`ether proto`): an Ethernet type, or
    /// for values up to 1500 an 802.2 service access point.
    pub fn linktype(&mut self, proto: u32) -> Cond {
        if self.null {
            // The address family: IPv4, or IPv6 under any of the BSDs' numbers for it.
            return match proto {
                ETHERTYPE_IP => self.cmp(BPF_W, 0, af_word(2)),
                ETHERTYPE_IPV6 => {
                    let mut c = self.cmp(BPF_W, 0, af_word(30));
                    for af in [24, 28] {
                        let t = self.cmp(BPF_W, 0, af_word(af));
                        c = self.or(c, t);
                    }
                    c
                }
                _ => self.never(),
            };
        }
        match proto {
            0xfe | 0xf0 => self.llc_sap(proto, true),
            0xe0 => {
                // IPX: Ethernet II, SNAP, 802.2, or raw 802.3 (FF FF).
                let e2 = self.cmp(BPF_H, self.off_linktype, 0x8137);
                let llc = self.is_ethertype();
                let s1 = self.cmp(BPF_W, self.off_nl + 4, 0x8137);
                let s2 = self.cmp(BPF_W, self.off_nl, 0xaaaa_0300);
                let snap = self.and(s1, s2);
                let sap = self.cmp(BPF_B, self.off_nl, 0xe0);
                let raw = self.cmp(BPF_H, self.off_nl, 0xffff);
                let r = self.or(sap, raw);
                let r = self.or(snap, r);
                let r = self.and(llc, r);
                self.or(e2, r)
            }
            p if p <= ETHERMTU => self.llc_sap(p, false),
            0x809b | 0x80f3 => {
                let e2 = self.cmp(BPF_H, self.off_linktype, proto);
                let oui = if proto == 0x809b { 0x080007 } else { 0 };
                let s = self.snap(oui, proto);
                self.or(e2, s)
            }
            p => self.cmp(BPF_H, self.off_linktype, p),
        }
    }

    /// IPv4 with protocol `p`.
    fn ip_proto(&mut self, p: u32) -> Cond {
        let ip = self.linktype(ETHERTYPE_IP);
        let c = self.cmp(BPF_B, self.off_nl + 9, p);
        self.and(ip, c)
    }

    /// IPv6 with next header `p`, directly or after a fragment header.
    fn ip6_proto(&mut self, p: u32) -> Cond {
        let ip6 = self.linktype(ETHERTYPE_IPV6);
        let direct = self.cmp(BPF_B, self.off_nl + 6, p);
        let frag = self.cmp(BPF_B, self.off_nl + 6, IPPROTO_FRAGMENT);
        let inner = self.cmp(BPF_B, self.off_nl + 40, p);
        let f = self.and(frag, inner);
        let nh = self.or(direct, f);
        self.and(ip6, nh)
    }

    /// IPv4 or IPv6 with protocol `p`.
    fn any_ip_proto(&mut self, p: u32) -> Cond {
        let a = self.ip_proto(p);
        let b = self.ip6_proto(p);
        self.or(a, b)
    }

    /// A protocol name alone: `ip`, `tcp`, `arp`, ...
    pub fn proto_abbrev(&mut self, p: Kw) -> Result<Cond, Error> {
        use Kw::*;
        Ok(match p {
            Ip => self.linktype(ETHERTYPE_IP),
            Ip6 => self.linktype(ETHERTYPE_IPV6),
            Arp => self.linktype(ETHERTYPE_ARP),
            Rarp => self.linktype(ETHERTYPE_REVARP),
            Atalk => self.linktype(0x809b),
            Aarp => self.linktype(0x80f3),
            Decnet => self.linktype(0x6003),
            Lat => self.linktype(0x6004),
            Sca => self.linktype(0x6007),
            Moprc => self.linktype(0x6002),
            Mopdl => self.linktype(0x6001),
            Iso => self.linktype(0xfe),
            Stp => self.linktype(0x42),
            Ipx => self.linktype(0xe0),
            Netbeui => self.linktype(0xf0),
            Tcp => self.any_ip_proto(IPPROTO_TCP),
            Udp => self.any_ip_proto(IPPROTO_UDP),
            Sctp => self.any_ip_proto(IPPROTO_SCTP),
            Ah => self.any_ip_proto(51),
            Esp => self.any_ip_proto(50),
            Pim => self.any_ip_proto(103),
            Icmp => self.ip_proto(1),
            Igmp => self.ip_proto(2),
            Igrp => self.ip_proto(9),
            Vrrp | Carp => self.ip_proto(112),
            Icmp6 => self.ip6_proto(IPPROTO_ICMPV6),
            _ => return Err(bad("link layer applied in wrong context")),
        })
    }

    /// `[pq] proto N`.
    pub fn proto(&mut self, v: u32, pq: Option<Kw>) -> Result<Cond, Error> {
        Ok(match pq {
            None => self.any_ip_proto(v),
            Some(Kw::Ip) => self.ip_proto(v),
            Some(Kw::Ip6) => self.ip6_proto(v),
            Some(Kw::Link) => self.linktype(v),
            Some(k @ (Kw::Arp | Kw::Rarp)) => {
                return Err(bad(format!(
                    "{} does not encapsulate another protocol",
                    proto_name(Some(k))
                )))
            }
            p => return Err(bad(format!("'{} proto' is bogus", proto_name(p)))),
        })
    }

    /// A 32-bit field at `off` of the network header, masked, equals `addr`.
    fn addr_word(&mut self, off: u32, mask: u32, addr: u32) -> Cond {
        self.g.mcmp(BPF_W, self.off_nl + off, mask, addr)
    }

    /// An IPv4 address test on one protocol's source and/or destination fields.
    fn hostop(&mut self, ethertype: u32, src: u32, dst: u32, addr: u32, mask: u32, dir: Dir) -> Cond {
        match dir {
            Dir::Src | Dir::Dst => {
                let lt = self.linktype(ethertype);
                let a = self.addr_word(if dir == Dir::Src { src } else { dst }, mask, addr);
                self.and(lt, a)
            }
            Dir::SrcAndDst => {
                let s = self.hostop(ethertype, src, dst, addr, mask, Dir::Src);
                let d = self.hostop(ethertype, src, dst, addr, mask, Dir::Dst);
                self.and(s, d)
            }
            Dir::Default | Dir::SrcOrDst => {
                let s = self.hostop(ethertype, src, dst, addr, mask, Dir::Src);
                let d = self.hostop(ethertype, src, dst, addr, mask, Dir::Dst);
                self.or(s, d)
            }
        }
    }

    /// `host`/`net` for an IPv4 address: IP, ARP and RARP unless a protocol is named.
    pub fn host4(&mut self, addr: u32, mask: u32, q: Qual) -> Result<Cond, Error> {
        let kind = if q.addr == Addr::Net { "net" } else { "host" };
        Ok(match q.proto {
            None => {
                let ip = self.hostop(ETHERTYPE_IP, IP_SRC, IP_DST, addr, mask, q.dir);
                let arp = self.hostop(ETHERTYPE_ARP, ARP_SPA, ARP_TPA, addr, mask, q.dir);
                let rarp = self.hostop(ETHERTYPE_REVARP, ARP_SPA, ARP_TPA, addr, mask, q.dir);
                let c = self.or(ip, arp);
                self.or(c, rarp)
            }
            Some(Kw::Ip) => self.hostop(ETHERTYPE_IP, IP_SRC, IP_DST, addr, mask, q.dir),
            Some(Kw::Arp) => self.hostop(ETHERTYPE_ARP, ARP_SPA, ARP_TPA, addr, mask, q.dir),
            Some(Kw::Rarp) => self.hostop(ETHERTYPE_REVARP, ARP_SPA, ARP_TPA, addr, mask, q.dir),
            Some(Kw::Link) => return Err(bad("illegal link layer address")),
            Some(Kw::Ip6) => return Err(bad("'ip6' modifier applied to ip host")),
            p => return Err(bad(format!("'{}' modifier applied to {kind}", proto_name(p)))),
        })
    }

    /// An IPv6 address test on the source and/or destination field.
    fn hostop6(&mut self, addr: &[u8; 16], mask: &[u8; 16], dir: Dir) -> Cond {
        let word = |b: &[u8; 16], i: usize| u32::from_be_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        match dir {
            Dir::Src | Dir::Dst => {
                let base = if dir == Dir::Src { 8 } else { 24 };
                let mut c = self.linktype(ETHERTYPE_IPV6);
                for i in 0..4 {
                    let w = self.addr_word(base + 4 * i as u32, word(mask, i), word(addr, i));
                    c = self.and(c, w);
                }
                c
            }
            Dir::SrcAndDst => {
                let s = self.hostop6(addr, mask, Dir::Src);
                let d = self.hostop6(addr, mask, Dir::Dst);
                self.and(s, d)
            }
            Dir::Default | Dir::SrcOrDst => {
                let s = self.hostop6(addr, mask, Dir::Src);
                let d = self.hostop6(addr, mask, Dir::Dst);
                self.or(s, d)
            }
        }
    }

    /// `host`/`net` for an IPv6 address.
    pub fn host6(&mut self, addr: &[u8; 16], mask: &[u8; 16], q: Qual) -> Result<Cond, Error> {
        let kind = if q.addr == Addr::Net { "net" } else { "host" };
        match q.proto {
            None | Some(Kw::Ip6) => Ok(self.hostop6(addr, mask, q.dir)),
            Some(Kw::Link) => Err(bad(format!("link-layer modifier applied to ip6 {kind}"))),
            p => Err(bad(format!("'{}' modifier applied to ip6 {kind}", proto_name(p)))),
        }
    }

    /// Six bytes at `off` equal `mac`: the last four first, then the first two.
    fn mac_at(&mut self, off: u32, mac: &[u8; 6]) -> Cond {
        let lo = self.cmp(BPF_W, off + 2, u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]));
        let hi = self.cmp(BPF_H, off, u32::from(u16::from_be_bytes([mac[0], mac[1]])));
        self.and(lo, hi)
    }

    /// `ether host`, `ether src`, `ether dst`.
    pub fn ether_host(&mut self, mac: &[u8; 6], dir: Dir) -> Result<Cond, Error> {
        self.ether_only("ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel")?;
        Ok(match dir {
            Dir::Src => self.mac_at(6, mac),
            Dir::Dst => self.mac_at(0, mac),
            Dir::SrcAndDst => {
                let s = self.mac_at(6, mac);
                let d = self.mac_at(0, mac);
                self.and(s, d)
            }
            Dir::Default | Dir::SrcOrDst => {
                let s = self.mac_at(6, mac);
                let d = self.mac_at(0, mac);
                self.or(s, d)
            }
        })
    }

    /// The IPv4 packet is not a later fragment (its fragment offset is 0).
    fn first_fragment(&mut self) -> Cond {
        let t = self
            .g
            .test(Val::load(BPF_H, self.off_nl + 6), BPF_JSET, Val::Const(IP_OFFMASK));
        self.not(t)
    }

    /// The value of the port field at `off` (0 source, 2 destination) of a transport header.
    fn port_field(&self, v6: bool, off: u32) -> Val {
        if v6 {
            Val::load(BPF_H, self.off_nl + 40 + off)
        } else {
            Val::Load {
                size: BPF_H,
                k: self.off_nl + off,
                index: Some(Box::new(Val::Msh(self.off_nl))),
            }
        }
    }

    /// The port field at `off` is in `lo..=hi` (one test when they are equal).
    fn port_atom(&mut self, v6: bool, off: u32, lo: u32, hi: u32, range: bool) -> Cond {
        let f = self.port_field(v6, off);
        if !range {
            return self.g.test(f, BPF_JEQ, Val::Const(lo));
        }
        let ge = self.g.test(f.clone(), BPF_JGE, Val::Const(lo));
        let gt = self.g.test(f, BPF_JGT, Val::Const(hi));
        let le = self.not(gt);
        self.and(ge, le)
    }

    fn port_atoms(&mut self, v6: bool, lo: u32, hi: u32, range: bool, dir: Dir) -> Cond {
        match dir {
            Dir::Src => self.port_atom(v6, 0, lo, hi, range),
            Dir::Dst => self.port_atom(v6, 2, lo, hi, range),
            Dir::SrcAndDst => {
                let s = self.port_atom(v6, 0, lo, hi, range);
                let d = self.port_atom(v6, 2, lo, hi, range);
                self.and(s, d)
            }
            Dir::Default | Dir::SrcOrDst => {
                let s = self.port_atom(v6, 0, lo, hi, range);
                let d = self.port_atom(v6, 2, lo, hi, range);
                self.or(s, d)
            }
        }
    }

    /// Ports of one IP version, for the transports `pp` allows: SCTP, TCP, UDP in that
    /// order. IPv4 looks only at first fragments and finds the transport header through
    /// the IP header length; IPv6 assumes no extension headers.
    fn ports(&mut self, v6: bool, lo: u32, hi: u32, range: bool, pp: PortProto, dir: Dir) -> Cond {
        let protos: &[u32] = match pp {
            PortProto::Any => &[IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP],
            PortProto::Tcp => &[IPPROTO_TCP],
            PortProto::Udp => &[IPPROTO_UDP],
            PortProto::Sctp => &[IPPROTO_SCTP],
        };
        let lt = self.linktype(if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IP });
        let mut any: Option<Cond> = None;
        for &p in protos {
            let c = if v6 {
                let nh = self.cmp(BPF_B, self.off_nl + 6, p);
                let a = self.port_atoms(true, lo, hi, range, dir);
                self.and(nh, a)
            } else {
                let pr = self.cmp(BPF_B, self.off_nl + 9, p);
                let fr = self.first_fragment();
                let pf = self.and(pr, fr);
                let a = self.port_atoms(false, lo, hi, range, dir);
                self.and(pf, a)
            };
            any = Some(match any {
                Some(prev) => self.or(prev, c),
                None => c,
            });
        }
        match any {
            Some(c) => self.and(lt, c),
            None => lt,
        }
    }

    /// `port` and `portrange`: IPv6 first, then IPv4, as libpcap orders them.
    pub fn port(&mut self, lo: u32, hi: u32, range: bool, pp: PortProto, dir: Dir) -> Cond {
        let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
        let v6 = self.ports(true, lo, hi, range, pp, dir);
        let v4 = self.ports(false, lo, hi, range, pp, dir);
        self.or(v6, v4)
    }

    /// `[ether|ip] broadcast`.
    pub fn broadcast(&mut self, pq: Option<Kw>) -> Result<Cond, Error> {
        match pq {
            None | Some(Kw::Link) => {
                self.ether_only("not a broadcast link")?;
                Ok(self.mac_at(0, &[0xff; 6]))
            }
            Some(Kw::Ip) => {
                let hostmask = !self.netmask;
                let ip = self.linktype(ETHERTYPE_IP);
                let zero = self.addr_word(16, hostmask, 0);
                let ones = self.addr_word(16, hostmask, hostmask);
                let b = self.or(zero, ones);
                Ok(self.and(ip, b))
            }
            _ => Err(bad("only link-layer/IP broadcast filters supported")),
        }
    }

    /// `[ether|ip|ip6] multicast`.
    pub fn multicast(&mut self, pq: Option<Kw>) -> Result<Cond, Error> {
        match pq {
            None | Some(Kw::Link) => {
                self.ether_only(
                    "link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel",
                )?;
                Ok(self.g.test(Val::load(BPF_B, 0), BPF_JSET, Val::Const(1)))
            }
            Some(Kw::Ip) => {
                let ip = self.linktype(ETHERTYPE_IP);
                let m = self.g.test(Val::load(BPF_B, self.off_nl + 16), BPF_JGE, Val::Const(224));
                Ok(self.and(ip, m))
            }
            Some(Kw::Ip6) => {
                let ip6 = self.linktype(ETHERTYPE_IPV6);
                let m = self.cmp(BPF_B, self.off_nl + 24, 255);
                Ok(self.and(ip6, m))
            }
            _ => Err(bad(
                "link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel",
            )),
        }
    }

    /// `less N`: the packet is at most N bytes long.
    pub fn less(&mut self, n: u32) -> Cond {
        let t = self.g.test(Val::Len, BPF_JGT, Val::Const(n));
        self.not(t)
    }

    /// `greater N`: the packet is at least N bytes long.
    pub fn greater(&mut self, n: u32) -> Cond {
        self.g.test(Val::Len, BPF_JGE, Val::Const(n))
    }

    /// `vlan [ID]`: an 802.1Q (or 802.1ad, or old QinQ) tag, with that ID. Everything after
    /// it in the expression looks four bytes further in, past the tag.
    pub fn vlan(&mut self, id: Option<u32>) -> Result<Cond, Error> {
        if let Some(id) = id {
            if id > 4095 {
                return Err(bad(format!("VLAN tag {id} greater than maximum 4095")));
            }
        }
        self.ether_only("no VLAN support for data link type NULL")?;
        let mut c = self.cmp(BPF_H, self.off_linktype, ETHERTYPE_VLAN);
        for tpid in [0x88a8, 0x9100] {
            let t = self.cmp(BPF_H, self.off_linktype, tpid);
            c = self.or(c, t);
        }
        if let Some(id) = id {
            let t = self.g.mcmp(BPF_H, self.off_nl, 0x0fff, id);
            c = self.and(c, t);
        }
        self.off_linktype += 4;
        self.off_nl += 4;
        Ok(c)
    }

    /// `proto[index : size]`: the bytes and the tests that make them exist.
    pub fn load(&mut self, pq: Kw, index: Arth, size: u32) -> Result<Arth, Error> {
        use Kw::*;
        let size = match size {
            1 => BPF_B,
            2 => BPF_H,
            4 => BPF_W,
            _ => return Err(bad("data size must be 1, 2, or 4")),
        };
        // As libpcap computes it: the offset goes into X, even a constant one, so until the
        // optimizer's second pass `ip[0]` is not the same value as the `ldb [14]` of a
        // protocol test.
        let at = |k: u32, index: Val| Val::Load {
            size,
            k,
            index: Some(Box::new(index)),
        };
        let (val, cond) = match pq {
            Link => (at(0, index.val), None),
            Ip | Ip6 | Arp | Rarp | Atalk | Aarp | Decnet | Lat | Sca | Moprc | Mopdl => {
                let v = at(self.off_nl, index.val);
                (v, Some(self.proto_abbrev(pq)?))
            }
            Tcp | Udp | Icmp | Igmp | Igrp | Pim | Vrrp | Carp | Sctp => {
                let ip = self.linktype(ETHERTYPE_IP);
                let p = self.proto_abbrev(pq)?;
                let c = self.and(ip, p);
                let fr = self.first_fragment();
                let c = self.and(c, fr);
                let x = Val::alu(BPF_ADD, index.val, Val::Msh(self.off_nl));
                (at(self.off_nl, x), Some(c))
            }
            Icmp6 => {
                let ip6 = self.linktype(ETHERTYPE_IPV6);
                let nh = self.cmp(BPF_B, self.off_nl + 6, IPPROTO_ICMPV6);
                let c = self.and(ip6, nh);
                (at(self.off_nl + 40, index.val), Some(c))
            }
            _ => return Err(bad("unsupported index operation")),
        };
        let cond = self.and_opt(index.cond, cond);
        Ok(Arth { val, cond })
    }

    /// `a op b` for an arithmetic operator.
    pub fn arith(&mut self, op: u16, a: Arth, b: Arth) -> Result<Arth, Error> {
        match (op, &b.val.simplify()) {
            (BPF_DIV, Val::Const(0)) => return Err(bad("division by zero")),
            (BPF_MOD, Val::Const(0)) => return Err(bad("modulus by zero")),
            (BPF_LSH | BPF_RSH, Val::Const(n)) if *n > 31 => return Err(bad("shift by more than 31 bits")),
            _ => {}
        }
        // A long chain (`x + 1 + 1 + ...`) nests as deeply as parentheses would.
        if a.val.depth().max(b.val.depth()) >= MAX_VAL_DEPTH {
            return Err(bad("expression too complex"));
        }
        // libpcap keeps only the left operand's tests: in `ip[2:2] - tcp[12]`, tcp[12] does
        // not make the packet TCP (its `gen_arth` returns the left operand with its tests).
        // Surprising, but a filter must select what tcpdump's selects.
        Ok(Arth {
            val: Val::alu(op, a.val, b.val),
            cond: a.cond,
        })
    }

    /// `a relop b`: `>`, `>=`, `=`, `==`, `<`, `<=`, `!=`.
    pub fn relation(&mut self, relop: &str, a: Arth, b: Arth) -> Cond {
        let (op, negate) = match relop {
            ">" => (BPF_JGT, false),
            ">=" => (BPF_JGE, false),
            "<" => (BPF_JGE, true),
            "<=" => (BPF_JGT, true),
            "!=" => (BPF_JEQ, true),
            _ => (BPF_JEQ, false),
        };
        let pre = self.and_opt(a.cond, b.cond);
        let t = self.g.test(a.val, op, b.val);
        let t = if negate { self.not(t) } else { t };
        match pre {
            Some(p) => self.and(p, t),
            None => t,
        }
    }
}
