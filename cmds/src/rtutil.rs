//! What route and netstat share, as NetBSD's `sbin/route/rtutil.c` is shared by both: BSD
//! address parsing with its short forms, network and host names, route flags, and the
//! routing table printer (`netstat -r`, `route show`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pktbox_stack::msg::{IfInfo, RtFamily, RtMsg};
use pktbox_stack::wire::route::rtf;
use serde_json::json;

/// Parses a number the way inet_aton(3) reads each part: `0x` hex, a leading `0` octal,
/// else decimal.
fn c_number(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        // inet_aton takes a bare "0x" as 0.
        return if h.is_empty() {
            Some(0)
        } else {
            u32::from_str_radix(h, 16).ok()
        };
    }
    if s.len() > 1 && s.starts_with('0') {
        return u32::from_str_radix(&s[1..], 8).ok();
    }
    s.parse().ok()
}

/// inet_aton(3): `a.b.c.d`, `a.b.c` (c fills 16 bits), `a.b` (b fills 24 bits), `a` (32 bits);
/// each part decimal, octal or hex. So `128.32` is 128.0.0.32.
pub fn inet_aton(s: &str) -> Option<u32> {
    let parts: Vec<u32> = s.split('.').map(c_number).collect::<Option<_>>()?;
    let (last, lead) = parts.split_last()?;
    if lead.len() > 3 || lead.iter().any(|p| *p > 0xff) {
        return None;
    }
    let room = 32 - 8 * lead.len() as u32;
    if room < 32 && *last >> room != 0 {
        return None;
    }
    let mut v = 0u32;
    for (i, p) in lead.iter().enumerate() {
        v |= p << (24 - 8 * i);
    }
    Some(v | last)
}

/// inet_network(3): up to four parts of a byte each, right-aligned: `128.32` is 0x8020, the
/// network number that `-net 128.32` names.
pub fn inet_network(s: &str) -> Option<u32> {
    let parts: Vec<u32> = s.split('.').map(c_number).collect::<Option<_>>()?;
    if parts.is_empty() || parts.len() > 4 || parts.iter().any(|p| *p > 0xff) {
        return None;
    }
    Some(parts.iter().fold(0u32, |v, p| (v << 8) | p))
}

/// inet_lnaof(3): the host part of an address by its class.
pub fn inet_lnaof(a: u32) -> u32 {
    if a & 0x8000_0000 == 0 {
        a & 0x00ff_ffff
    } else if a & 0xc000_0000 == 0x8000_0000 {
        a & 0xffff
    } else {
        a & 0xff
    }
}

const CLASSA_NET: u32 = 0xff00_0000;
const CLASSB_NET: u32 = 0xffff_0000;
const CLASSC_NET: u32 = 0xffff_ff00;
const CLASSD_NET: u32 = 0xf000_0000;

/// route(8)'s inet_makenetandmask: the address and implied mask of a network number, as
/// `-net 10` (10.0.0.0/8), `-net 128.32` (128.32.0.0/16) or `-net 10.1.2` (10.1.2.0/24).
pub fn make_net_and_mask(net: u32) -> (u32, u32) {
    match net {
        0 => (0, 0),
        1..=127 => (net << 24, CLASSA_NET),
        128..=191 => (net << 24, CLASSB_NET),
        192..=223 => (net << 24, CLASSC_NET),
        224..=255 => (net << 24, CLASSD_NET),
        256..=49151 => (net << 16, CLASSB_NET),
        49152..=57343 => (net << 16, CLASSC_NET),
        57344..=65535 => (net << 16, CLASSB_NET),
        65536..=14_680_063 => (net << 8, CLASSC_NET),
        14_680_064..=16_777_215 => (net << 8, CLASSD_NET),
        _ => {
            let mask = if net & !CLASSA_NET == 0 {
                CLASSA_NET
            } else if net & !CLASSB_NET == 0 {
                CLASSB_NET
            } else if net & !CLASSC_NET == 0 {
                CLASSC_NET
            } else {
                u32::MAX
            };
            (net, mask)
        }
    }
}

/// The prefix length of a contiguous mask; None for a mask with holes.
pub fn mask_len(m: u32) -> Option<u8> {
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// The mask of a prefix length.
pub fn len_mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0)
}

/// NetBSD's netname4: `default`, `127/8`, `10.0.2/24`, `10.1.2.128/25`: as many bytes of the
/// network as the prefix covers.
pub fn netname(a: Ipv4Addr, len: u8) -> String {
    let v = u32::from(a);
    if v == 0 && len == 0 {
        return "default".into();
    }
    let o = a.octets();
    match len {
        0..=8 => format!("{}/{len}", o[0]),
        9..=16 => format!("{}.{}/{len}", o[0], o[1]),
        17..=24 => format!("{}.{}.{}/{len}", o[0], o[1], o[2]),
        _ => format!("{}.{}.{}.{}/{len}", o[0], o[1], o[2], o[3]),
    }
}

/// Host names from /etc/hosts, for the names NetBSD's tools print without `-n` (no DNS: a
/// tool that waits on a resolver while the network is broken is no help mending it).
pub struct Names {
    numeric: bool,
    hosts: Option<HashMap<Ipv4Addr, String>>,
}

impl Names {
    pub fn new(numeric: bool) -> Names {
        Names { numeric, hosts: None }
    }

    fn hosts(&mut self) -> &HashMap<Ipv4Addr, String> {
        self.hosts.get_or_insert_with(|| {
            let mut m = HashMap::new();
            if let Ok(t) = std::fs::read_to_string("/etc/hosts") {
                for line in t.lines() {
                    let mut w = line.split('#').next().unwrap_or("").split_whitespace();
                    if let (Some(a), Some(n)) = (w.next(), w.next()) {
                        if let Ok(a) = a.parse::<Ipv4Addr>() {
                            m.entry(a).or_insert_with(|| n.to_string());
                        }
                    }
                }
            }
            m
        })
    }

    /// NetBSD's routename4: `default` for 0.0.0.0, else the host's name or its address.
    pub fn host(&mut self, a: Ipv4Addr) -> String {
        if a.is_unspecified() {
            return "default".into();
        }
        if !self.numeric {
            if let Some(n) = self.hosts().get(&a) {
                return n.clone();
            }
        }
        a.to_string()
    }
}

/// An address from /etc/hosts by name (gethostbyname without the resolver).
pub fn host_by_name(name: &str) -> Option<Ipv4Addr> {
    let t = std::fs::read_to_string("/etc/hosts").ok()?;
    t.lines().find_map(|line| {
        let mut w = line.split('#').next().unwrap_or("").split_whitespace();
        let a = w.next()?.parse::<Ipv4Addr>().ok()?;
        w.any(|n| n == name).then_some(a)
    })
}

/// BSD's bprintf of route flags: `<UP,GATEWAY,DONE,STATIC>`, nothing for none.
pub fn route_flags(f: u32) -> String {
    bits(f, rtf::NAMES)
}

/// NetBSD's snprintb of route flags, as `route get` prints them: `0x843<UP,GATEWAY,DONE,STATIC>`.
pub fn route_flags_hex(f: u32) -> String {
    format!("{f:#x}{}", route_flags(f))
}

/// bprintf over any table of names.
pub fn bits(f: u32, names: &[(u32, &str)]) -> String {
    let set: Vec<&str> = names.iter().filter(|(b, _)| f & b != 0).map(|(_, n)| *n).collect();
    if set.is_empty() {
        String::new()
    } else {
        format!("<{}>", set.join(","))
    }
}

/// The flag letters of the Flags column; with `spaced` (route's -S) a space for each flag
/// that is not set, so the letters line up.
pub fn flag_letters(f: u32, spaced: bool) -> String {
    if !spaced {
        return rtf::letters(f);
    }
    rtf::LETTERS
        .iter()
        .map(|(b, c)| if f & b != 0 { *c } else { ' ' })
        .collect()
}

/// The interface index that owns an address.
fn if_of_addr(ifs: &[IfInfo], a: IpAddr) -> Option<u16> {
    ifs.iter()
        .find(|i| i.addrs.iter().any(|x| x.addr == a))
        .map(|i| i.index)
}

/// The name of a zone (interface index) for `%zone`: the interface's name, else the number.
pub fn zone_name(ifs: &[IfInfo], zone: u32) -> String {
    ifs.iter()
        .find(|i| u32::from(i.index) == zone)
        .map(|i| i.name.clone())
        .unwrap_or_else(|| zone.to_string())
}

/// An address of either family as the tables print it: IPv4 through [`Names::host`], IPv6
/// as text with `%zone` when it has one, `default` for the unspecified address.
pub fn ip_name(a: IpAddr, zone: u32, ifs: &[IfInfo], names: &mut Names) -> String {
    match a {
        IpAddr::V4(a) => names.host(a),
        IpAddr::V6(a) if a.is_unspecified() => "default".into(),
        IpAddr::V6(a) if zone != 0 => format!("{a}%{}", zone_name(ifs, zone)),
        IpAddr::V6(a) => a.to_string(),
    }
}

/// The gateway of a route as the tables show it: an address, or `link#N` for a route straight
/// out of interface N. A local address's route goes out of lo0, but its gateway is the link
/// of the interface that owns the address (as on NetBSD).
pub fn gateway_name(r: &RtMsg, ifs: &[IfInfo], names: &mut Names) -> String {
    match r.gateway {
        Some(g) => ip_name(g, r.gateway_scope, ifs, names),
        None => format!("link#{}", link_index(r, ifs)),
    }
}

/// The interface index of a link gateway.
pub fn link_index(r: &RtMsg, ifs: &[IfInfo]) -> u16 {
    if r.rtm_flags & rtf::LOCAL != 0 {
        if let Some(i) = r.ifa.and_then(|a| if_of_addr(ifs, a)) {
            return i;
        }
    }
    r.rtm_index
}

/// The destination of a route as the tables show it: a host's name or address, a network
/// as netname does (NetBSD's netname6 for IPv6: `2001:db8::/64`, `fe80::%en0/64`).
pub fn dest_name(r: &RtMsg, ifs: &[IfInfo], names: &mut Names) -> String {
    match r.dst.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)) {
        IpAddr::V4(dst) => match r.prefixlen {
            Some(len) if len < 32 || r.rtm_flags & rtf::HOST == 0 => netname(dst, len),
            _ => names.host(dst),
        },
        IpAddr::V6(dst) => match r.prefixlen {
            Some(0) if dst.is_unspecified() => "default".into(),
            Some(len) if len < 128 || r.rtm_flags & rtf::HOST == 0 => {
                format!("{}/{len}", ip_name(IpAddr::V6(dst), r.dst_scope, ifs, names))
            }
            _ => ip_name(IpAddr::V6(dst), r.dst_scope, ifs, names),
        },
    }
}

/// The sort key of an address: IPv4 before IPv6, then by value.
fn addr_key(a: Option<IpAddr>) -> (bool, u128) {
    match a {
        Some(IpAddr::V6(a)) => (true, u128::from(a)),
        Some(IpAddr::V4(a)) => (false, u128::from(u32::from(a))),
        None => (false, 0),
    }
}

/// The table's order: IPv4 first, by destination, then prefix length.
pub fn sort_routes(v: &mut [RtMsg]) {
    v.sort_by_key(|r| (addr_key(r.dst), r.dst_scope, r.prefixlen.unwrap_or(128)));
}

/// A prefix length as an IPv6 mask (`ffff:ffff:ffff:ffff::`).
pub fn len_mask6(len: u8) -> Ipv6Addr {
    Ipv6Addr::from(u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0))
}

/// The prefix length of a contiguous IPv6 mask.
pub fn mask_len6(m: Ipv6Addr) -> Option<u8> {
    let m = u128::from(m);
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// `netstat -r` / `route show`: "Routing tables", then the `Internet:` section and the
/// `Internet6:` section (each only when it has routes, and only the family asked for), in
/// NetBSD 8's columns: Refs and Use are `-` (NetBSD no longer reports them), the Mtu is `-`
/// when the interface's, followed by `L` when locked.
pub fn routing_tables(routes: &[RtMsg], ifs: &[IfInfo], numeric: bool, spaced: bool, family: RtFamily) -> String {
    let mut names = Names::new(numeric);
    let mut out = String::from("Routing tables\n");
    for (v6, title) in [(false, "Internet"), (true, "Internet6")] {
        if family == if v6 { RtFamily::Inet } else { RtFamily::Inet6 } {
            continue;
        }
        let rows: Vec<&RtMsg> = routes.iter().filter(|r| r.is_inet6() == v6).collect();
        if rows.is_empty() {
            continue;
        }
        // NetBSD's WID_DST and WID_GW: wider for IPv6 addresses with -n.
        let (wd, wg) = if v6 && numeric { (34, 30) } else { (18, 18) };
        let _ = write!(out, "\n{title}:\n");
        let _ = writeln!(
            out,
            "{:<wd$.wd$} {:<wg$.wg$} {:<6.6} {:>6.6} {:>8.8} {:>6.6} Interface",
            "Destination", "Gateway", "Flags", "Refs", "Use", "Mtu"
        );
        for r in rows {
            let dst = dest_name(r, ifs, &mut names);
            let gw = gateway_name(r, ifs, &mut names);
            let (dst, gw) = if numeric {
                (format!("{dst:<wd$}"), format!("{gw:<wg$}"))
            } else {
                (format!("{dst:<wd$.wd$}"), format!("{gw:<wg$.wg$}"))
            };
            let mtu = if r.mtu == 0 { "-".to_string() } else { r.mtu.to_string() };
            let lock = if r.rmx_locks & pktbox_stack::msg::rtv::MTU != 0 {
                'L'
            } else {
                ' '
            };
            let _ = writeln!(
                out,
                "{dst} {gw} {:<6.6} {:>6} {:>8} {:>6}{lock} {:.16}",
                flag_letters(r.rtm_flags, spaced),
                "-",
                "-",
                mtu,
                r.ifp.as_deref().unwrap_or("")
            );
        }
    }
    out
}

/// One route for `--json`.
pub fn route_json(r: &RtMsg, ifs: &[IfInfo]) -> serde_json::Value {
    let mut names = Names::new(true);
    json!({
        "family": if r.is_inet6() { "inet6" } else { "inet" },
        "destination": r.dst.map(|d| d.to_string()),
        "destination_scope": (r.dst_scope != 0).then(|| zone_name(ifs, r.dst_scope)),
        "prefixlen": r.prefixlen.unwrap_or(if r.is_inet6() { 128 } else { 32 }),
        "name": dest_name(r, ifs, &mut names),
        "gateway": r.gateway.map(|g| g.to_string()),
        "gateway_scope": (r.gateway_scope != 0).then(|| zone_name(ifs, r.gateway_scope)),
        "gateway_link": r.gateway.is_none().then(|| link_index(r, ifs)),
        "flags": r.rtm_flags,
        "flag_letters": rtf::letters(r.rtm_flags),
        "flag_names": rtf::NAMES.iter().filter(|(b, _)| r.rtm_flags & b != 0).map(|(_, n)| *n).collect::<Vec<_>>(),
        "use": r.use_count,
        "mtu": r.mtu,
        "metrics": {
            "hopcount": r.rmx.hopcount,
            "expire": r.rmx.expire,
            "recvpipe": r.rmx.recvpipe,
            "sendpipe": r.rmx.sendpipe,
            "ssthresh": r.rmx.ssthresh,
            "rtt": r.rmx.rtt,
            "rttvar": r.rmx.rttvar,
        },
        "locks": r.rmx_locks,
        "interface": r.ifp,
        "local_addr": r.ifa.map(|a| a.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    fn inet_aton_short_forms() {
        assert_eq!(inet_aton("128.32"), Some(a("128.0.0.32")));
        assert_eq!(inet_aton("128.32.130"), Some(a("128.32.0.130")));
        assert_eq!(inet_aton("10.0.0.1"), Some(a("10.0.0.1")));
        assert_eq!(inet_aton("0x0a000001"), Some(a("10.0.0.1")));
        assert_eq!(inet_aton("012.0.0.1"), Some(a("10.0.0.1")));
        assert_eq!(inet_aton("10"), Some(10));
        assert_eq!(inet_aton("10.0.0.256"), None);
        assert_eq!(inet_aton("256.1"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
        assert_eq!(inet_aton("10..1"), None);
        assert_eq!(inet_aton("en0"), None);
        assert_eq!(inet_aton(""), None);
        assert_eq!(inet_aton("09"), None);
    }

    #[test]
    fn inet_network_right_aligns() {
        assert_eq!(inet_network("128.32"), Some(0x8020));
        assert_eq!(inet_network("10"), Some(10));
        assert_eq!(inet_network("10.1.2"), Some(0x0a0102));
        assert_eq!(inet_network("10.1.2.3"), Some(0x0a01_0203));
        assert_eq!(inet_network("10.256"), None);
        assert_eq!(inet_network("1.2.3.4.5"), None);
    }

    #[test]
    fn implied_masks_by_class() {
        assert_eq!(make_net_and_mask(10), (a("10.0.0.0"), CLASSA_NET));
        assert_eq!(make_net_and_mask(0x8020), (a("128.32.0.0"), CLASSB_NET));
        assert_eq!(make_net_and_mask(0x0a01), (a("10.1.0.0"), CLASSB_NET));
        assert_eq!(make_net_and_mask(0xc0a8), (a("192.168.0.0"), CLASSC_NET));
        assert_eq!(make_net_and_mask(0x80_2082), (a("128.32.130.0"), CLASSC_NET));
        assert_eq!(make_net_and_mask(a("192.168.1.0")), (a("192.168.1.0"), CLASSC_NET));
        assert_eq!(make_net_and_mask(a("172.16.0.0")), (a("172.16.0.0"), CLASSB_NET));
        assert_eq!(make_net_and_mask(a("10.0.0.0")), (a("10.0.0.0"), CLASSA_NET));
        assert_eq!(make_net_and_mask(a("10.1.2.3")), (a("10.1.2.3"), u32::MAX));
        assert_eq!(make_net_and_mask(0), (0, 0));
        assert_eq!(inet_lnaof(a("10.1.0.0")), 0x10000);
        assert_eq!(inet_lnaof(a("172.16.0.0")), 0);
        assert_eq!(inet_lnaof(a("192.168.1.0")), 0);
    }

    #[test]
    fn masks() {
        assert_eq!(mask_len(0xffff_ff00), Some(24));
        assert_eq!(mask_len(0), Some(0));
        assert_eq!(mask_len(u32::MAX), Some(32));
        assert_eq!(mask_len(0xff00_ff00), None);
        assert_eq!(len_mask(16), 0xffff_0000);
        assert_eq!(len_mask(0), 0);
    }

    #[test]
    fn netnames_like_netbsd() {
        let n = |s: &str, l| netname(s.parse().unwrap(), l);
        assert_eq!(n("0.0.0.0", 0), "default");
        assert_eq!(n("127.0.0.0", 8), "127/8");
        assert_eq!(n("10.0.2.0", 24), "10.0.2/24");
        assert_eq!(n("10.1.0.0", 16), "10.1/16");
        assert_eq!(n("172.16.0.0", 12), "172.16/12");
        assert_eq!(n("10.1.2.128", 25), "10.1.2.128/25");
        assert_eq!(n("192.168.1.0", 23), "192.168.1/23");
        assert_eq!(n("10.9.9.9", 32), "10.9.9.9/32");
        assert_eq!(n("128.0.0.0", 1), "128/1");
        let mut names = Names::new(true);
        assert_eq!(names.host("0.0.0.0".parse().unwrap()), "default");
        assert_eq!(names.host("127.0.0.1".parse().unwrap()), "127.0.0.1");
    }

    #[test]
    fn flags() {
        assert_eq!(
            route_flags(rtf::UP | rtf::GATEWAY | rtf::DONE | rtf::STATIC),
            "<UP,GATEWAY,DONE,STATIC>"
        );
        assert_eq!(route_flags(rtf::UP | rtf::HOST | rtf::LOCAL), "<UP,HOST,LOCAL>");
        assert_eq!(route_flags(0), "");
        assert_eq!(flag_letters(rtf::UP | rtf::GATEWAY | rtf::STATIC, false), "UGS");
        let spaced = flag_letters(rtf::UP | rtf::STATIC, true);
        assert_eq!(spaced.len(), rtf::LETTERS.len());
        assert!(spaced.starts_with("U  "));
    }

    #[test]
    fn table_lines_up() {
        let r = RtMsg {
            rtm_flags: rtf::UP | rtf::GATEWAY | rtf::STATIC,
            rtm_index: 2,
            dst: Some("0.0.0.0".parse().unwrap()),
            gateway: Some("10.0.0.1".parse().unwrap()),
            prefixlen: Some(0),
            ifp: Some("en0".into()),
            use_count: 3,
            ..Default::default()
        };
        let c = RtMsg {
            rtm_flags: rtf::UP | rtf::CONNECTED,
            dst: Some("10.0.0.0".parse().unwrap()),
            gateway: None,
            prefixlen: Some(24),
            mtu: 1400,
            use_count: 0,
            ..r.clone()
        };
        let d6 = RtMsg {
            rtm_flags: rtf::UP | rtf::GATEWAY | rtf::STATIC,
            dst: Some("::".parse().unwrap()),
            gateway: Some("fe80::1".parse().unwrap()),
            gateway_scope: 2,
            prefixlen: Some(0),
            ..r.clone()
        };
        let n6 = RtMsg {
            rtm_flags: rtf::UP | rtf::STATIC,
            dst: Some("2001:db8::".parse().unwrap()),
            gateway: None,
            prefixlen: Some(64),
            mtu: 1280,
            rmx_locks: pktbox_stack::msg::rtv::MTU,
            ..r.clone()
        };
        let ll = RtMsg {
            rtm_flags: rtf::UP | rtf::CONNECTED,
            dst: Some("fe80::".parse().unwrap()),
            dst_scope: 2,
            gateway: None,
            prefixlen: Some(64),
            ..r.clone()
        };
        let en0 = IfInfo {
            index: 2,
            name: "en0".into(),
            flags: 0,
            mtu: 1500,
            lladdr: None,
            data: Default::default(),
            addrs: vec![],
            driver: None,
            details: vec![],
            capabilities: 0,
            capenable: 0,
            otso: 0,
            ilro: 0,
        };
        let mut all = vec![n6, d6, ll, c, r];
        sort_routes(&mut all);
        let t = routing_tables(&all, std::slice::from_ref(&en0), true, false, RtFamily::Any);
        assert_eq!(
            t,
            "Routing tables\n\nInternet:\n\
             Destination        Gateway            Flags    Refs      Use    Mtu Interface\n\
             default            10.0.0.1           UGS         -        -      -  en0\n\
             10.0.0/24          link#2             UC          -        -   1400  en0\n\
             \nInternet6:\n\
             Destination                        Gateway                        Flags    Refs      Use    Mtu Interface\n\
             default                            fe80::1%en0                    UGS         -        -      -  en0\n\
             2001:db8::/64                      link#2                         US          -        -   1280L en0\n\
             fe80::%en0/64                      link#2                         UC          -        -      -  en0\n"
        );
        let only6 = routing_tables(&all, &[en0], true, false, RtFamily::Inet6);
        assert!(only6.starts_with("Routing tables\n\nInternet6:\n"));
        assert!(!routing_tables(&all, &[], true, false, RtFamily::Inet).contains("Internet6"));
    }
}
