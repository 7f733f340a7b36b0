//! netstat: show network status, NetBSD's syntax and output: the Internet socket table
//! (netstat with no option, -a for servers too), interfaces (-i, -I, -w),
//! routing tables (-r), protocol statistics (-s, -p) and the ARP cache (-f arp). The
//! unix-domain socket table (-f unix) and the bpf users (-B) are not in this build yet, and
//! say so. The socket, interface and ARP tables are laid out by [`crate::table`].

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, Command};
use pktbox_stack::msg::{
    iff, ArpEntry, ArpStats, Icmp6Stats, IcmpStats, IfInfo, Ip6Stats, IpStats, RtFamily, RtMsg, SockInfo, Stats,
    TcpStats, UdpStats,
};
use pktbox_stack::socket::Stack;
use pktbox_stack::wire::route::rtf;
use serde_json::json;

use crate::common::{fail, open_stack, parse, usage_fail};
use crate::rtutil::{self, Names};
use crate::table::{self, Col, Table};

const PROG: &str = "netstat";

pub fn command() -> Command {
    Command::new(PROG)
        .about("Show network status")
        .override_usage(
            "netstat [-anvx] [-f address_family] [--json]\n       \
             netstat -i [-bnv] [-f address_family] [-I interface] [--json]\n       \
             netstat -w wait [-bn] [-I interface] [-c count]\n       \
             netstat -r [-n] [-f address_family] [--json]\n       \
             netstat -s [-s] [-f address_family] [-p protocol] [--json]\n       \
             netstat -f arp [-nv] [--json]",
        )
        .after_help(
            "Protocols for -p: ip, icmp, tcp, udp, arp. Address families for -f: inet, arp (the \
             ARP cache), link (interface lines only). The unix-domain socket table (-f unix) is \
             not in this build yet.",
        )
        .arg(
            Arg::new("all")
                .short('a')
                .action(ArgAction::SetTrue)
                .help("Show the state of all sockets, servers (listening and unconnected) too"),
        )
        .arg(
            Arg::new("bpf")
                .short('B')
                .action(ArgAction::SetTrue)
                .help("Show the bpf users (not in this build yet)"),
        )
        .arg(
            Arg::new("bytes")
                .short('b')
                .action(ArgAction::SetTrue)
                .help("With -i or -w: bytes in and out instead of packet counts"),
        )
        .arg(
            Arg::new("count")
                .short('c')
                .value_name("count")
                .value_parser(clap::value_parser!(u64).range(1..))
                .help("With -w: stop after count lines"),
        )
        .arg(
            Arg::new("family")
                .short('f')
                .value_name("address_family")
                .help("Only this address family: inet, inet6 (with -r), arp, link"),
        )
        .arg(
            Arg::new("interface")
                .short('I')
                .value_name("interface")
                .help("Only this interface (implies -i)"),
        )
        .arg(
            Arg::new("interfaces")
                .short('i')
                .action(ArgAction::SetTrue)
                .help("Show the interfaces: addresses and packet counters"),
        )
        .arg(
            Arg::new("numeric")
                .short('n')
                .action(ArgAction::SetTrue)
                .help("Print addresses as numbers, not names"),
        )
        .arg(
            Arg::new("protocol")
                .short('p')
                .value_name("protocol")
                .help("Statistics of one protocol: ip, icmp, tcp, udp, arp"),
        )
        .arg(
            Arg::new("routes")
                .short('r')
                .action(ArgAction::SetTrue)
                .help("Show the routing tables"),
        )
        .arg(
            Arg::new("stats")
                .short('s')
                .action(ArgAction::Count)
                .help("Show protocol statistics; twice hides the counters that are zero"),
        )
        .arg(Arg::new("verbose").short('v').action(ArgAction::SetTrue).help(
            "With -i, the socket table or -f arp: cut no long name or address to its \
                     column's width; each column is as wide as its widest entry",
        ))
        .arg(
            Arg::new("wait")
                .short('w')
                .value_name("wait")
                .value_parser(clap::value_parser!(u64).range(1..))
                .help("Show interface traffic every wait seconds (until interrupted or -c)"),
        )
        .arg(
            Arg::new("extended")
                .short('x')
                .action(ArgAction::SetTrue)
                .help("With the socket tables: the receive and send buffer sizes too (R-HIWA, S-HIWA)"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("With -i, -r, -s, -f arp or the socket table: print JSON"),
        )
}

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    Inet,
    /// `-f inet6` with -s.
    Inet6,
    Link,
    Arp,
}

const NOT_YET: &str = "unix-domain socket tables are not in this build yet";

/// The protocols whose statistics this build keeps, in NetBSD's order.
const PROTOCOLS: &[&str] = &["ip", "icmp", "tcp", "udp", "arp", "ip6", "icmp6"];
/// The ones of the inet6 family (`-f inet6 -s`); present when the stack has IPv6.
const PROTOCOLS6: &[&str] = &["ip6", "icmp6"];
/// Protocols NetBSD's netstat knows that this build does not have yet.
const LATER: &[&str] = &[
    "igmp", "carp", "pfsync", "pim", "udp6", "tcp6", "pim6", "rip6", "ipsec", "ipsec6",
];

pub fn run(args: Vec<OsString>) -> ExitCode {
    let m = match parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let numeric = m.get_flag("numeric");
    let json = m.get_flag("json");
    let sflag = m.get_count("stats");
    let iface = m.get_one::<String>("interface").cloned();
    let wait = m.get_one::<u64>("wait").copied();
    let count = m.get_one::<u64>("count").copied();
    let bytes = m.get_flag("bytes");
    let ifmode = m.get_flag("interfaces") || iface.is_some() || wait.is_some();
    let rflag = m.get_flag("routes");
    let proto = m.get_one::<String>("protocol").cloned();

    let all = m.get_flag("all");
    let wide = m.get_flag("verbose");
    let extended = m.get_flag("extended");
    if m.get_flag("bpf") {
        return fail(PROG, "bpf tables are not in this build yet");
    }
    // The routing table and the socket table show either family; the others IPv4 only
    // so far.
    let rt_family = match m.get_one::<String>("family").map(String::as_str) {
        Some("inet") => RtFamily::Inet,
        Some("inet6") => RtFamily::Inet6,
        _ => RtFamily::Any,
    };
    let family = match m.get_one::<String>("family").map(String::as_str) {
        None => Family::Any,
        Some("inet") => Family::Inet,
        Some("inet6") if rflag && sflag == 0 && !ifmode => Family::Any,
        // The socket table: its AF_INET6 part (`rt_family` says which).
        Some("inet6") if !rflag && sflag == 0 && !ifmode && proto.is_none() => Family::Any,
        Some("link") => Family::Link,
        Some("arp") => Family::Arp,
        Some("unix" | "local") => return fail(PROG, NOT_YET),
        // Statistics: the inet6 protocols.
        Some("inet6") if sflag > 0 && !ifmode && !rflag => Family::Inet6,
        Some("inet6") => return fail(PROG, "inet6: not in this build yet"),
        Some(f) => return fail(PROG, format!("{f}: unknown address family")),
    };
    if count.is_some() && wait.is_none() {
        return usage_fail(PROG, "-c goes with -w");
    }
    if bytes && !ifmode {
        return usage_fail(PROG, "-b goes with -i or -w");
    }
    if json && wait.is_some() {
        return usage_fail(PROG, "--json does not go with -w");
    }
    if let Some(p) = &proto {
        if !PROTOCOLS.contains(&p.as_str()) {
            return if LATER.contains(&p.as_str()) {
                fail(PROG, format!("{p}: not in this build yet"))
            } else {
                fail(PROG, format!("{p}: unknown or uninstrumented protocol"))
            };
        }
    }
    enum Mode {
        Sideways(u64),
        Interfaces,
        Routes,
        Stats,
        Arp,
        Sockets,
    }
    let mode = if ifmode {
        if sflag > 0 || proto.is_some() {
            return fail(PROG, "per-interface statistics are not in this build yet");
        }
        if family == Family::Arp {
            return usage_fail(PROG, "-f arp does not go with -i");
        }
        match wait {
            Some(w) => Mode::Sideways(w),
            None => Mode::Interfaces,
        }
    } else if rflag {
        if sflag > 0 {
            return fail(PROG, "routing statistics are not in this build yet");
        }
        if family == Family::Link {
            return usage_fail(PROG, "-f link goes with -i");
        }
        if family == Family::Arp {
            Mode::Arp
        } else {
            Mode::Routes
        }
    } else if sflag > 0 || proto.is_some() {
        if family == Family::Link {
            return usage_fail(PROG, "-f link goes with -i");
        }
        Mode::Stats
    } else if family == Family::Arp {
        Mode::Arp
    } else if family == Family::Link {
        return usage_fail(PROG, "-f link goes with -i");
    } else {
        Mode::Sockets
    };

    if wide && !matches!(mode, Mode::Interfaces | Mode::Arp | Mode::Sockets) {
        return usage_fail(PROG, "-v goes with -i, -f arp or the socket table");
    }
    let mut s = match open_stack(PROG) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let r = match mode {
        Mode::Sideways(w) => sideways(&mut s, iface.as_deref(), w, count, bytes),
        Mode::Interfaces => interfaces(&mut s, iface.as_deref(), family, Names::new(numeric), bytes, wide, json),
        Mode::Routes => routes(&mut s, numeric, json, rt_family),
        Mode::Stats => stats(&mut s, proto.as_deref(), family, sflag, json),
        Mode::Arp => arp(&mut s, numeric, wide, json),
        Mode::Sockets => sockets(&mut s, all, extended, proto.as_deref(), rt_family, numeric, wide, json),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(c) => c,
    }
}

fn if_list(s: &mut Stack) -> Result<Vec<IfInfo>, ExitCode> {
    s.if_list(None).map_err(|e| fail(PROG, format!("interface list: {e}")))
}

fn mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The name column: `*` after an interface that is down.
fn if_name(i: &IfInfo) -> String {
    if i.flags & iff::UP == 0 {
        format!("{}*", i.name)
    } else {
        i.name.clone()
    }
}

/// `netstat -i`: a `<Link>` line per interface, and one per inet address. NetBSD's widths
/// (if.c): Name 5, Mtu 5, Network 13 and Address 17 (both cut unless `wide`), then the
/// counters right-aligned in 8, 5, 8, 5, 5 (or the byte counts in 10, 10 with -b).
fn format_interfaces(ifs: &[IfInfo], family: Family, names: &mut Names, bytes: bool, wide: bool) -> String {
    let mut cols = vec![
        Col::left("Name", 5),
        Col::left("Mtu", 5),
        Col::left("Network", 13).cut(),
        Col::left("Address", 17).cut(),
    ];
    if bytes {
        cols.extend([Col::right("Ibytes", 10), Col::right("Obytes", 10)]);
    } else {
        cols.extend([
            Col::right("Ipkts", 8),
            Col::right("Ierrs", 5),
            Col::right("Opkts", 8),
            Col::right("Oerrs", 5),
            Col::right("Colls", 5),
        ]);
    }
    let mut t = Table::new(&cols, wide);
    for i in ifs {
        let d = &i.data;
        let counters: Vec<String> = if bytes {
            vec![d.ifi_ibytes.to_string(), d.ifi_obytes.to_string()]
        } else {
            [
                d.ifi_ipackets,
                d.ifi_ierrors,
                d.ifi_opackets,
                d.ifi_oerrors,
                d.ifi_collisions,
            ]
            .iter()
            .map(u64::to_string)
            .collect()
        };
        let line = |network: String, address: String| {
            [if_name(i), i.mtu.to_string(), network, address]
                .into_iter()
                .chain(counters.iter().cloned())
                .collect::<Vec<String>>()
        };
        if family != Family::Inet {
            t.row(line("<Link>".into(), i.lladdr.as_ref().map(mac).unwrap_or_default()));
        }
        if family == Family::Link {
            continue;
        }
        for a in &i.addrs {
            let (IpAddr::V4(addr), IpAddr::V4(mask)) = (a.addr, a.netmask) else {
                continue;
            };
            let len = rtutil::mask_len(u32::from(mask)).unwrap_or(32);
            let net = rtutil::netname(Ipv4Addr::from(u32::from(addr) & u32::from(mask)), len);
            t.row(line(net, names.host(addr)));
        }
    }
    t.render()
}

fn interfaces(
    s: &mut Stack,
    only: Option<&str>,
    family: Family,
    mut names: Names,
    bytes: bool,
    wide: bool,
    json: bool,
) -> Result<(), ExitCode> {
    let mut ifs = if_list(s)?;
    if let Some(name) = only {
        ifs.retain(|i| i.name == name);
        if ifs.is_empty() {
            return Err(fail(PROG, format!("{name}: unknown interface")));
        }
    }
    if json {
        let v: Vec<serde_json::Value> = ifs.iter().map(if_json).collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        print!("{}", format_interfaces(&ifs, family, &mut names, bytes, wide));
    }
    Ok(())
}

fn if_json(i: &IfInfo) -> serde_json::Value {
    let d = &i.data;
    json!({
        "name": i.name,
        "index": i.index,
        "up": i.flags & iff::UP != 0,
        "mtu": i.mtu,
        "address": i.lladdr.as_ref().map(mac),
        "inet": i.addrs.iter().filter_map(|a| match (a.addr, a.netmask) {
            (IpAddr::V4(addr), IpAddr::V4(mask)) => {
                let len = rtutil::mask_len(u32::from(mask)).unwrap_or(32);
                let net = Ipv4Addr::from(u32::from(addr) & u32::from(mask));
                Some(json!({ "address": addr.to_string(), "network": net.to_string(), "prefixlen": len }))
            }
            _ => None,
        }).collect::<Vec<_>>(),
        "ipackets": d.ifi_ipackets, "ierrors": d.ifi_ierrors,
        "opackets": d.ifi_opackets, "oerrors": d.ifi_oerrors,
        "collisions": d.ifi_collisions,
        "ibytes": d.ifi_ibytes, "obytes": d.ifi_obytes,
        "iqdrops": d.ifi_iqdrops,
    })
}

/// Counters of one interface (or the sum of all) for `-w`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tot {
    ip: u64,
    ib: u64,
    ie: u64,
    op: u64,
    ob: u64,
    oe: u64,
    co: u64,
}

impl Tot {
    fn of(i: &IfInfo) -> Tot {
        let d = &i.data;
        Tot {
            ip: d.ifi_ipackets,
            ib: d.ifi_ibytes,
            ie: d.ifi_ierrors,
            op: d.ifi_opackets,
            ob: d.ifi_obytes,
            oe: d.ifi_oerrors,
            co: d.ifi_collisions,
        }
    }

    fn add(self, o: Tot) -> Tot {
        Tot {
            ip: self.ip + o.ip,
            ib: self.ib + o.ib,
            ie: self.ie + o.ie,
            op: self.op + o.op,
            ob: self.ob + o.ob,
            oe: self.oe + o.oe,
            co: self.co + o.co,
        }
    }

    fn since(self, o: Tot) -> Tot {
        Tot {
            ip: self.ip.wrapping_sub(o.ip),
            ib: self.ib.wrapping_sub(o.ib),
            ie: self.ie.wrapping_sub(o.ie),
            op: self.op.wrapping_sub(o.op),
            ob: self.ob.wrapping_sub(o.ob),
            oe: self.oe.wrapping_sub(o.oe),
            co: self.co.wrapping_sub(o.co),
        }
    }

    fn line(self, bytes: bool) -> String {
        if bytes {
            format!("{:>10} {:>8.8} {:>10} {:>5.5}", self.ib, " ", self.ob, " ")
        } else {
            format!(
                "{:>8} {:>5} {:>8} {:>5} {:>5}",
                self.ip, self.ie, self.op, self.oe, self.co
            )
        }
    }
}

/// The two header lines of `-w`, NetBSD's iftot_banner.
fn sideways_banner(name: &str, bytes: bool) -> String {
    let half = |n: &str| {
        if bytes {
            format!("{n:>7.7} in {:>8.8} {n:>6.6} out {:>5.5}", " ", " ")
        } else {
            format!("{n:>5.5} in {:>5.5}{n:>5.5} out {:>5.5} {:>5.5}", " ", " ", " ")
        }
    };
    let cols = if bytes {
        format!("{:>10.10} {:>8.8} {:>10.10} {:>5.5}", "bytes", " ", "bytes", " ")
    } else {
        format!(
            "{:>8.8} {:>5.5} {:>8.8} {:>5.5} {:>5.5}",
            "packets", "errs", "packets", "errs", "colls"
        )
    };
    format!("{}  {}\n{cols}  {cols}\n", half(name), half("total"))
}

/// Lines between banners, as NetBSD's netstat redraws them.
const REDRAW_LINES: u64 = 21;

/// `netstat -w N`: traffic of one interface and of all, every N seconds; the first line is
/// the totals so far, each later one what changed.
fn sideways(s: &mut Stack, only: Option<&str>, wait: u64, count: Option<u64>, bytes: bool) -> Result<(), ExitCode> {
    let ifs = if_list(s)?;
    // Without -I, the busiest interface, as NetBSD picks it.
    let name = match only {
        Some(n) => {
            if !ifs.iter().any(|i| i.name == n) {
                return Err(fail(PROG, format!("{n}: unknown interface")));
            }
            n.to_string()
        }
        None => ifs
            .iter()
            .max_by_key(|i| i.data.ifi_ibytes + i.data.ifi_obytes)
            .map(|i| i.name.clone())
            .unwrap_or_default(),
    };
    let mut out = std::io::stdout();
    let (mut old, mut old_sum) = (Tot::default(), Tot::default());
    let mut ifs = Some(ifs);
    let (mut n, mut since_banner) = (0u64, REDRAW_LINES);
    loop {
        if since_banner == REDRAW_LINES {
            since_banner = 0;
            old = Tot::default();
            old_sum = Tot::default();
            let _ = out.write_all(sideways_banner(&name, bytes).as_bytes());
        }
        let list = match ifs.take() {
            Some(l) => l,
            None => if_list(s)?,
        };
        let cur = list.iter().find(|i| i.name == name).map(Tot::of).unwrap_or_default();
        let sum = list.iter().map(Tot::of).fold(Tot::default(), Tot::add);
        let line = format!("{}  {}\n", cur.since(old).line(bytes), sum.since(old_sum).line(bytes));
        if out.write_all(line.as_bytes()).and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
        (old, old_sum) = (cur, sum);
        n += 1;
        since_banner += 1;
        if count.is_some_and(|c| n >= c) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(wait));
    }
}

fn routes(s: &mut Stack, numeric: bool, json: bool, family: RtFamily) -> Result<(), ExitCode> {
    let mut routes: Vec<RtMsg> = s.route_dump().map_err(|e| fail(PROG, format!("route dump: {e}")))?;
    routes.retain(|r| match family {
        RtFamily::Any => true,
        RtFamily::Inet => !r.is_inet6(),
        RtFamily::Inet6 => r.is_inet6(),
    });
    rtutil::sort_routes(&mut routes);
    let ifs = if_list(s)?;
    if json {
        let v: Vec<serde_json::Value> = routes.iter().map(|r| rtutil::route_json(r, &ifs)).collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        print!("{}", rtutil::routing_tables(&routes, &ifs, numeric, false, family));
    }
    Ok(())
}

/// The ARP cache as routing-table lines (the way NetBSD listed RTF_LLINFO routes), in the
/// routing table's widths: Destination and Gateway 18, Flags 6, Refs 6, Use 8, Expire 6, two
/// blanks, the interface (at most IFNAMSIZ, 16).
fn format_arp(list: &[ArpEntry], names: &mut Names, wide: bool) -> String {
    let mut out = String::from("Routing tables\n");
    if list.is_empty() {
        return out;
    }
    out += "\nInternet (ARP):\n";
    let mut t = Table::new(
        &[
            Col::left("Destination", 18),
            Col::left("Gateway", 18),
            Col::left("Flags", 6).cut(),
            Col::right("Refs", 6),
            Col::right("Use", 8),
            Col::right("Expire", 6).gap(2),
            Col::left("Interface", 0),
        ],
        wide,
    );
    let mut v: Vec<&ArpEntry> = list.iter().collect();
    v.sort_by_key(|e| u32::from(e.addr));
    for e in v {
        let gw = e.lladdr.as_ref().map(mac).unwrap_or_else(|| "(incomplete)".into());
        let mut f = rtf::UP | rtf::HOST | rtf::LLDATA;
        if e.permanent {
            f |= rtf::STATIC;
        }
        let exp = match e.expire {
            Some(x) if !e.permanent => x.to_string(),
            _ => "-".into(),
        };
        t.row([
            names.host(e.addr),
            gw,
            rtf::letters(f),
            "-".into(),
            "-".into(),
            exp,
            table::cut(&e.ifname, 16).to_string(),
        ]);
    }
    out + &t.render()
}

fn arp(s: &mut Stack, numeric: bool, wide: bool, json: bool) -> Result<(), ExitCode> {
    let list = s.arp_dump().map_err(|e| fail(PROG, format!("arp table: {e}")))?;
    if json {
        let v: Vec<serde_json::Value> = list
            .iter()
            .map(|e| {
                json!({
                    "address": e.addr.to_string(),
                    "lladdr": e.lladdr.as_ref().map(mac),
                    "interface": e.ifname,
                    "expire": e.expire,
                    "permanent": e.permanent,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        print!("{}", format_arp(&list, &mut Names::new(numeric), wide));
    }
    Ok(())
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Builds one section of `netstat -s`; counters that are zero are left out with `-ss`.
struct Section {
    out: String,
    hide_zero: bool,
}

impl Section {
    fn new(name: &str, sflag: u8) -> Section {
        Section {
            out: format!("{name}:\n"),
            hide_zero: sflag > 1,
        }
    }

    /// A line whose noun takes an `s` after any count but one: `\t3 packets ...`.
    /// `fmt` holds `{}` for the count and `{s}` for the plural ending.
    /// A line with two counts; the first `{s}` follows the first count, the second the
    /// second.
    fn p2(&mut self, n: u64, m: u64, fmt: &str) {
        if n != 0 || m != 0 || !self.hide_zero {
            let line = fmt
                .replacen("{}", &n.to_string(), 1)
                .replacen("{s}", plural(n), 1)
                .replacen("{}", &m.to_string(), 1)
                .replacen("{s}", plural(m), 1);
            self.out += &line;
            self.out.push('\n');
        }
    }

    fn p(&mut self, n: u64, fmt: &str) {
        if n != 0 || !self.hide_zero {
            self.out += &fmt.replacen("{}", &n.to_string(), 1).replace("{s}", plural(n));
            self.out.push('\n');
        }
    }
}

/// NetBSD's names of ICMP types, for the histograms.
const ICMP_NAMES: &[&str] = &[
    "echo reply",
    "#1",
    "#2",
    "destination unreachable",
    "source quench",
    "routing redirect",
    "alternate host address",
    "#7",
    "echo",
    "router advertisement",
    "router solicitation",
    "time exceeded",
    "parameter problem",
    "time stamp",
    "time stamp reply",
    "information request",
    "information request reply",
    "address mask request",
    "address mask reply",
];

fn icmp_name(t: usize) -> String {
    ICMP_NAMES
        .get(t)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("#{t}"))
}

fn format_ip(st: &IpStats, sflag: u8) -> String {
    let mut s = Section::new("ip", sflag);
    s.p(st.total, "\t{} total packet{s} received");
    s.p(st.badsum, "\t{} bad header checksum{s}");
    s.p(st.toosmall, "\t{} with size smaller than minimum");
    s.p(st.tooshort, "\t{} with data size < data length");
    s.p(st.toolong, "\t{} with length > max ip packet size");
    s.p(st.badhlen, "\t{} with header length < data size");
    s.p(st.badlen, "\t{} with data length < header length");
    s.p(st.badoptions, "\t{} with bad options");
    s.p(st.badvers, "\t{} with incorrect version number");
    s.p(st.fragments, "\t{} fragment{s} received");
    s.p(st.fragdropped, "\t{} fragment{s} dropped (dup or out of space)");
    s.p(st.fragtimeout, "\t{} fragment{s} dropped after timeout");
    s.p(st.reassembled, "\t{} packet{s} reassembled ok");
    s.p(st.delivered, "\t{} packet{s} for this host");
    s.p(st.noproto, "\t{} packet{s} for unknown/unsupported protocol");
    if st.forward != 0 || !s.hide_zero {
        let mut line = format!("\t{} packet{} forwarded", st.forward, plural(st.forward));
        if st.fastforward != 0 || !s.hide_zero {
            line += &format!(" ({} packet{} fast forwarded)", st.fastforward, plural(st.fastforward));
        }
        s.out += &line;
        s.out.push('\n');
    }
    s.p(st.cantforward, "\t{} packet{s} not forwardable");
    s.p(st.redirectsent, "\t{} redirect{s} sent");
    s.p(st.nogif, "\t{} packet{s} no matching gif found");
    s.p(st.localout, "\t{} packet{s} sent from this host");
    s.p(st.rawout, "\t{} packet{s} sent with fabricated ip header");
    s.p(st.odropped, "\t{} output packet{s} dropped due to no bufs, etc.");
    s.p(st.noroute, "\t{} output packet{s} discarded due to no route");
    s.p(st.fragmented, "\t{} output datagram{s} fragmented");
    s.p(st.ofragments, "\t{} fragment{s} created");
    s.p(st.cantfrag, "\t{} datagram{s} that can't be fragmented");
    s.p(st.badaddr, "\t{} datagram{s} with bad address in header");
    s.out
}

/// An ICMP or ICMPv6 type histogram, types named by `name`; nothing when all are zero.
fn histogram(out: &mut String, title: &str, h: &[u64], name: fn(usize) -> String) {
    let mut first = true;
    for (t, n) in h.iter().enumerate().filter(|(_, n)| **n != 0) {
        if first {
            let _ = writeln!(out, "\t{title} histogram:");
            first = false;
        }
        let _ = writeln!(out, "\t\t{}: {n}", name(t));
    }
}

fn format_icmp(st: &IcmpStats, sflag: u8) -> String {
    let mut s = Section::new("icmp", sflag);
    s.p(st.error, "\t{} call{s} to icmp_error");
    s.p(st.oldicmp, "\t{} error{s} not generated because old message was icmp");
    s.p(
        st.oldshort,
        "\t{} error{s} not generated because old ip message was too short",
    );
    s.p(st.toofreq, "\t{} error{s} not generated because of rate limitation");
    histogram(&mut s.out, "Output", &st.outhist, icmp_name);
    s.p(st.badcode, "\t{} message{s} with bad code fields");
    s.p(st.tooshort, "\t{} message{s} < minimum length");
    s.p(st.checksum, "\t{} bad checksum{s}");
    s.p(st.badlen, "\t{} message{s} with bad length");
    histogram(&mut s.out, "Input", &st.inhist, icmp_name);
    s.p(st.reflect, "\t{} message response{s} generated");
    s.p(st.pmtuchg, "\t{} path MTU change{s}");
    s.p(
        st.pmtuignored,
        "\t{} path MTU change{s} ignored (no matching socket or implausible MTU)",
    );
    s.p(
        st.badquote,
        "\t{} error{s} ignored (quoting no connection or socket of ours)",
    );
    s.out
}

fn format_arp_stats(st: &ArpStats, sflag: u8) -> String {
    let mut s = Section::new("arp", sflag);
    s.p(st.sent_requests + st.sent_replies, "\t{} packet{s} sent");
    s.p(st.sent_replies, "\t\t{} reply packet{s}");
    s.p(st.sent_requests, "\t\t{} request packet{s}");
    s.p(st.received, "\t{} packet{s} received");
    s.p(st.rcv_replies, "\t\t{} reply packet{s}");
    s.p(st.rcv_requests, "\t\t{} valid request packet{s}");
    s.p(st.rcv_mcast, "\t\t{} broadcast/multicast packet{s}");
    s.p(st.rcv_badproto, "\t\t{} packet{s} with unknown protocol type");
    s.p(st.rcv_badlen, "\t\t{} packet{s} with bad (short) length");
    s.p(st.rcv_zerotpa, "\t\t{} packet{s} with null target IP address");
    s.p(st.rcv_zerospa, "\t\t{} packet{s} with null source IP address");
    s.p(
        st.rcv_localsha,
        "\t\t{} packet{s} sourced from a local hardware address",
    );
    s.p(
        st.rcv_bcastsha,
        "\t\t{} packet{s} with a broadcast source hardware address",
    );
    s.p(st.dup_ips, "\t\t{} duplicate{s} for a local IP address");
    s.p(st.dfr_total, "\t{} packet{s} deferred pending ARP resolution");
    s.p(st.dfr_sent, "\t\t{} sent");
    s.p(st.dfr_dropped, "\t\t{} dropped");
    s.p(st.allocfail, "\t{} failure{s} to allocate llinfo");
    s.out
}

/// `host.port` as netstat prints an endpoint; `*` for the wildcard address or port. As
/// NetBSD's inetprint and inet6print, the host part is cut to 16 characters unless
/// `wide`; IPv6 addresses print numerically (`2001:db8::1.80`, `::ffff:10.0.0.1.80`).
fn endpoint(a: Option<std::net::SocketAddr>, names: &mut Names, wide: bool) -> String {
    match a {
        None => "*.*".into(),
        Some(a) => {
            let host = match a.ip() {
                ip if ip.is_unspecified() => "*".to_string(),
                std::net::IpAddr::V4(ip) => names.host(ip),
                std::net::IpAddr::V6(ip) => ip.to_string(),
            };
            let host = if wide { &host } else { table::cut(&host, 16) };
            let port = if a.port() == 0 {
                "*".to_string()
            } else {
                a.port().to_string()
            };
            format!("{host}.{port}")
        }
    }
}

/// The socket table: `Active Internet connections [(including servers)]`, in NetBSD's
/// widths (inet.c): Proto 5, Recv-Q 6, Send-Q 6, two blanks, the addresses in 22 (cut
/// unless `wide`), the state. With `extended` (FreeBSD's -x; NetBSD has no column for
/// them), each line ends with the socket's receive and send buffer sizes, FreeBSD's
/// R-HIWA and S-HIWA. AF_INET6 sockets follow in their own table, `Active Internet6
/// connections`, as `tcp6` and `udp6` (NetBSD's ip6protopr), when there are any.
fn format_sockets(list: &[SockInfo], all: bool, extended: bool, names: &mut Names, wide: bool) -> String {
    let (v4, v6): (Vec<&SockInfo>, Vec<&SockInfo>) = list.iter().partition(|so| so.family != libc::AF_INET6);
    let mut out = format_socket_table(&v4, "", all, extended, names, wide);
    let shown = |so: &&&SockInfo| all || (so.state != "LISTEN" && so.foreign.is_some());
    if v6.iter().any(|so| shown(&so)) {
        out.push_str(&format_socket_table(&v6, "6", all, extended, names, wide));
    }
    out
}

/// One family's table (`six` is "6" for AF_INET6's, "" for AF_INET's).
fn format_socket_table(
    list: &[&SockInfo],
    six: &str,
    all: bool,
    extended: bool,
    names: &mut Names,
    wide: bool,
) -> String {
    let mut cols = vec![
        Col::left("Proto", 5).cut(),
        Col::right("Recv-Q", 6),
        Col::right("Send-Q", 6).gap(2),
        Col::left("Local Address", 22).cut(),
        Col::left("Foreign Address", 22).cut(),
    ];
    if extended {
        cols.push(Col::left("State", 11));
        cols.push(Col::right("R-HIWA", 7));
        cols.push(Col::right("S-HIWA", 7));
    } else {
        cols.push(Col::left("State", 0));
    }
    let mut t = Table::new(&cols, wide);
    for so in list {
        // Without -a, servers (listeners and unconnected sockets) are left out.
        if !all && (so.state == "LISTEN" || so.foreign.is_none()) {
            continue;
        }
        let mut row = vec![
            format!("{}{six}", so.proto),
            so.recv_q.to_string(),
            so.send_q.to_string(),
            endpoint(Some(so.local), names, wide),
            endpoint(so.foreign, names, wide),
            so.state.to_string(),
        ];
        if extended {
            row.push(so.rcvbuf.to_string());
            row.push(so.sndbuf.to_string());
        }
        t.row(row);
    }
    format!(
        "Active Internet{six} connections{}\n{}",
        if all { " (including servers)" } else { "" },
        t.render()
    )
}

#[allow(clippy::too_many_arguments)]
fn sockets(
    s: &mut Stack,
    all: bool,
    extended: bool,
    proto: Option<&str>,
    family: RtFamily,
    numeric: bool,
    wide: bool,
    json: bool,
) -> Result<(), ExitCode> {
    let mut list = s.sock_list().map_err(|e| fail(PROG, format!("socket list: {e}")))?;
    if let Some(p) = proto {
        if !matches!(p, "tcp" | "udp") {
            return Err(fail(PROG, format!("{p}: no socket table for this protocol")));
        }
        list.retain(|so| so.proto == p);
    }
    match family {
        RtFamily::Inet => list.retain(|so| so.family == libc::AF_INET),
        RtFamily::Inet6 => list.retain(|so| so.family == libc::AF_INET6),
        RtFamily::Any => {}
    }
    if json {
        let v: Vec<serde_json::Value> = list
            .iter()
            .filter(|so| all || (so.state != "LISTEN" && so.foreign.is_some()))
            .map(|so| {
                let six = if so.family == libc::AF_INET6 { "6" } else { "" };
                serde_json::json!({
                    "proto": format!("{}{six}", so.proto), "recv_q": so.recv_q, "send_q": so.send_q,
                    "local": so.local.to_string(),
                    "foreign": so.foreign.map(|f| f.to_string()),
                    "state": so.state,
                    "rcvbuf": so.rcvbuf, "sndbuf": so.sndbuf,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(());
    }
    let mut names = Names::new(numeric);
    if matches!(family, RtFamily::Inet6) {
        let v6: Vec<&SockInfo> = list.iter().collect();
        print!("{}", format_socket_table(&v6, "6", all, extended, &mut names, wide));
    } else {
        print!("{}", format_sockets(&list, all, extended, &mut names, wide));
    }
    Ok(())
}

fn format_tcp(st: &TcpStats, sflag: u8) -> String {
    let mut s = Section::new("tcp", sflag);
    let sent = st.sndtotal;
    s.p(sent, "\t{} packet{s} sent");
    s.p2(st.sndpack, st.sndbyte, "\t\t{} data packet{s} ({} byte{s})");
    s.p2(
        st.sndrexmitpack,
        st.sndrexmitbyte,
        "\t\t{} data packet{s} ({} byte{s}) retransmitted",
    );
    s.p2(st.sndacks, st.delack, "\t\t{} ack-only packet{s} ({} delayed)");
    s.p(st.sndprobe, "\t\t{} window probe packet{s}");
    s.p(st.sndwinup, "\t\t{} window update packet{s}");
    s.p(st.sndctrl, "\t\t{} control packet{s}");
    s.p(st.rcvtotal, "\t{} packet{s} received");
    s.p2(st.rcvackpack, st.rcvackbyte, "\t\t{} ack{s} (for {} byte{s})");
    s.p(st.rcvdupack, "\t\t{} duplicate ack{s}");
    s.p(st.rcvacktoomuch, "\t\t{} ack{s} for unsent data");
    s.p2(
        st.rcvpack,
        st.rcvbyte,
        "\t\t{} packet{s} ({} byte{s}) received in-sequence",
    );
    s.p2(
        st.rcvduppack,
        st.rcvdupbyte,
        "\t\t{} completely duplicate packet{s} ({} byte{s})",
    );
    s.p(st.pawsdrop, "\t\t{} old duplicate packet{s}");
    s.p(st.rcvpartduppack, "\t\t{} packet{s} with some dup. data");
    s.p2(st.rcvoopack, st.rcvoobyte, "\t\t{} out-of-order packet{s} ({} byte{s})");
    s.p(st.rcvpackafterwin, "\t\t{} packet{s} of data after window");
    s.p(st.rcvwinupd, "\t\t{} window update packet{s}");
    s.p(st.rcvbadsum, "\t\t{} discarded for bad checksum{s}");
    s.p(st.rcvbadoff, "\t\t{} discarded for bad header offset field{s}");
    s.p(st.rcvshort, "\t\t{} discarded because packet too short");
    s.p(st.rcvmemdrop, "\t\t{} discarded due to memory problems");
    s.p(st.connattempt, "\t{} connection request{s}");
    s.p(st.accepts, "\t{} connection accept{s}");
    s.p(
        st.connects + st.accepts,
        "\t{} connection{s} established (including accepts)",
    );
    s.p2(st.closed, st.drops, "\t{} connection{s} closed (including {} drop{s})");
    s.p(st.conndrops, "\t{} embryonic connection{s} dropped");
    s.p2(
        st.rttupdated,
        st.segstimed,
        "\t{} segment{s} updated rtt (of {} attempt{s})",
    );
    s.p(st.rexmttimeo, "\t{} retransmit timeout{s}");
    s.p(st.timeoutdrop, "\t\t{} connection{s} dropped by rexmit timeout");
    s.p(st.persisttimeo, "\t{} persist timeout{s}");
    s.p(st.keeptimeo, "\t{} keepalive timeout{s}");
    s.p(st.keepprobe, "\t\t{} keepalive probe{s} sent");
    s.p(st.keepdrops, "\t\t{} connection{s} dropped by keepalive");
    s.p(st.fastrexmt, "\t{} fast retransmit{s}");
    s.p(st.tlpsent, "\t{} tail loss probe{s} sent");
    s.p(
        st.listendrop,
        "\t{} connection{s} dropped because the listen queue was full",
    );
    s.p(st.badsyn, "\t{} bad connection attempt{s}");
    s.p(st.challengeack, "\t{} challenge ACK{s} sent (RFC 5961)");
    s.p(st.syncookiessent, "\t{} SYN cookie{s} sent");
    s.p(st.syncookiesrecvd, "\t{} SYN cookie{s} received");
    s.p(st.syncookiesfailed, "\t{} bad SYN cookie{s}");
    s.p(st.rcvrst, "\t{} reset{s} received");
    s.p(st.sndrst, "\t{} reset{s} sent");
    s.out
}

fn format_udp(st: &UdpStats, sflag: u8) -> String {
    let mut s = Section::new("udp", sflag);
    s.p(st.ipackets, "\t{} datagram{s} received");
    s.p(st.hdrops, "\t{} with incomplete header");
    s.p(st.badlen, "\t{} with bad data length field");
    s.p(st.badsum, "\t{} with bad checksum");
    s.p(st.noport, "\t{} dropped due to no socket");
    s.p(
        st.noportbcast,
        "\t{} broadcast/multicast datagram{s} dropped due to no socket",
    );
    s.p(st.fullsock, "\t{} dropped due to full socket buffers");
    s.p(st.delivered, "\t{} delivered");
    s.p(st.opackets, "\t{} datagram{s} output");
    s.out
}

/// NetBSD's names of ICMPv6 types (inet6.c's icmp6names), for the histograms.
fn icmp6_name(t: usize) -> String {
    let n = match t {
        1 => "unreach",
        2 => "packet too big",
        3 => "time exceed",
        4 => "parameter problem",
        128 => "echo",
        129 => "echo reply",
        130 => "multicast listener query",
        131 => "multicast listener report",
        132 => "multicast listener done",
        133 => "router solicitation",
        134 => "router advertisement",
        135 => "neighbor solicitation",
        136 => "neighbor advertisement",
        137 => "redirect",
        138 => "router renumbering",
        139 => "node information request",
        140 => "node information reply",
        141 => "inverse neighbor solicitation",
        142 => "inverse neighbor advertisement",
        143 => "multicast listener report v2",
        _ => return format!("#{t}"),
    };
    n.to_string()
}

/// `netstat -s -p ip6`: NetBSD's ip6_stats lines, in its order; the last three lines
/// are this stack's own counters.
fn format_ip6(st: &Ip6Stats, sflag: u8) -> String {
    let mut s = Section::new("ip6", sflag);
    s.p(st.total, "\t{} total packet{s} received");
    s.p(st.toosmall, "\t{} with size smaller than minimum");
    s.p(st.tooshort, "\t{} with data size < data length");
    s.p(st.badoptions, "\t{} with bad options");
    s.p(st.badvers, "\t{} with incorrect version number");
    s.p(st.fragments, "\t{} fragment{s} received");
    s.p(st.fragdropped, "\t{} fragment{s} dropped (dup or out of space)");
    s.p(st.fragtimeout, "\t{} fragment{s} dropped after timeout");
    s.p(st.fragoverflow, "\t{} fragment{s} that exceeded limit");
    s.p(st.reassembled, "\t{} packet{s} reassembled ok");
    s.p(st.delivered, "\t{} packet{s} for this host");
    s.p(st.forward, "\t{} packet{s} forwarded");
    s.p(st.cantforward, "\t{} packet{s} not forwardable");
    s.p(st.redirectsent, "\t{} redirect{s} sent");
    s.p(st.localout, "\t{} packet{s} sent from this host");
    s.p(st.rawout, "\t{} packet{s} sent with fabricated ip header");
    s.p(st.odropped, "\t{} output packet{s} dropped due to no bufs, etc.");
    s.p(st.noroute, "\t{} output packet{s} discarded due to no route");
    s.p(st.fragmented, "\t{} output datagram{s} fragmented");
    s.p(st.ofragments, "\t{} fragment{s} created");
    s.p(st.cantfrag, "\t{} datagram{s} that can't be fragmented");
    s.p(st.badscope, "\t{} packet{s} that violated scope rules");
    s.p(st.notmember, "\t{} multicast packet{s} which we don't join");
    s.p(st.nogif, "\t{} tunneling packet{s} that can't find gif");
    s.p(st.toomanyhdr, "\t{} packet{s} discarded due to too may headers");
    s.p(st.noproto, "\t{} packet{s} for unknown/unsupported protocol");
    s.p(st.fragoverlap, "\t{} fragment{s} dropped for overlapping another");
    s.p(st.tentative, "\t{} packet{s} for a tentative address discarded");
    s.out
}

/// `netstat -s -p icmp6`: NetBSD's icmp6_stats lines, in its order; the lines from the
/// ND evictions on are this stack's own counters (ND, DAD, quoted errors, Node
/// Information).
fn format_icmp6(st: &Icmp6Stats, sflag: u8) -> String {
    let mut s = Section::new("icmp6", sflag);
    s.p(st.error, "\t{} call{s} to icmp6_error");
    s.p(
        st.canterror,
        "\t{} error{s} not generated because old message was icmp6 or so",
    );
    s.p(st.toofreq, "\t{} error{s} not generated because of rate limitation");
    histogram(&mut s.out, "Output", &st.outhist, icmp6_name);
    s.p(st.badcode, "\t{} message{s} with bad code fields");
    s.p(st.tooshort, "\t{} message{s} < minimum length");
    s.p(st.checksum, "\t{} bad checksum{s}");
    s.p(st.badlen, "\t{} message{s} with bad length");
    histogram(&mut s.out, "Input", &st.inhist, icmp6_name);
    s.p(st.reflect, "\t{} message response{s} generated");
    s.p(st.nd_toomanyopt, "\t{} message{s} with too many ND options");
    s.p(st.nd_badopt, "\t{} message{s} with bad ND options");
    s.p(st.badns, "\t{} bad neighbor solicitation message{s}");
    s.p(st.badna, "\t{} bad neighbor advertisement message{s}");
    s.p(st.badrs, "\t{} bad router solicitation message{s}");
    s.p(st.badra, "\t{} bad router advertisement message{s}");
    s.p(st.badredirect, "\t{} bad redirect message{s}");
    s.p(st.pmtuchg, "\t{} path MTU change{s}");
    s.p(st.nd_evicted, "\t{} neighbor cache eviction{s} to make room");
    s.p(st.dad_duplicated, "\t{} duplicate address detection failure{s}");
    s.p(
        st.nd_holddropped,
        "\t{} packet{s} dropped waiting for address resolution",
    );
    s.p(
        st.badquote,
        "\t{} error{s} ignored (quoting no connection or socket of ours)",
    );
    s.p(st.ni_reply, "\t{} node information answer{s} sent");
    s.p(st.ni_bad, "\t{} bad node information request{s}");
    s.p(st.ni_refused, "\t{} node information request{s} refused by policy");
    s.p(
        st.ni_toofreq,
        "\t{} node information request{s} dropped because of rate limitation",
    );
    s.out
}

fn stats(s: &mut Stack, proto: Option<&str>, family: Family, sflag: u8, json: bool) -> Result<(), ExitCode> {
    let st: Stats = s.stats().map_err(|e| fail(PROG, format!("statistics: {e}")))?;
    let have6 = st.ip6.is_some();
    let wanted: Vec<&str> = match (proto, family) {
        (Some(p), _) if PROTOCOLS6.contains(&p) && !have6 => {
            return Err(fail(PROG, format!("{p}: address family not supported by this stack")))
        }
        (Some(p), _) => vec![p],
        (None, Family::Arp) => vec!["arp"],
        (None, Family::Inet6) if !have6 => return Err(fail(PROG, "inet6: address family not supported by this stack")),
        (None, Family::Inet6) => PROTOCOLS6.to_vec(),
        (None, Family::Inet) => PROTOCOLS.iter().copied().filter(|p| !PROTOCOLS6.contains(p)).collect(),
        _ => PROTOCOLS
            .iter()
            .copied()
            .filter(|p| have6 || !PROTOCOLS6.contains(p))
            .collect(),
    };
    if json {
        let mut v = serde_json::Map::new();
        for p in &wanted {
            let x = match *p {
                "ip" => serde_json::to_value(st.ip),
                "icmp" => serde_json::to_value(&st.icmp),
                "tcp" => serde_json::to_value(st.tcp),
                "udp" => serde_json::to_value(st.udp),
                "ip6" => serde_json::to_value(st.ip6),
                "icmp6" => serde_json::to_value(&st.icmp6),
                _ => serde_json::to_value(st.arp),
            };
            v.insert(p.to_string(), x.unwrap_or_default());
        }
        println!("{}", serde_json::Value::Object(v));
        return Ok(());
    }
    let mut out = String::new();
    for p in &wanted {
        out += &match *p {
            "ip" => format_ip(&st.ip, sflag),
            "icmp" => format_icmp(&st.icmp, sflag),
            "tcp" => format_tcp(&st.tcp, sflag),
            "udp" => format_udp(&st.udp, sflag),
            "ip6" => st.ip6.as_ref().map(|x| format_ip6(x, sflag)).unwrap_or_default(),
            "icmp6" => st.icmp6.as_ref().map(|x| format_icmp6(x, sflag)).unwrap_or_default(),
            _ => format_arp_stats(&st.arp, sflag),
        };
    }
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pktbox_stack::msg::{IfAddr, IfData};

    fn ifinfo(name: &str, index: u16, addrs: &[(&str, &str)], lladdr: Option<[u8; 6]>) -> IfInfo {
        IfInfo {
            index,
            name: name.into(),
            flags: iff::UP,
            mtu: 1500,
            lladdr,
            data: IfData {
                ifi_ipackets: 12,
                ifi_opackets: 7,
                ifi_ierrors: 1,
                ..IfData::default()
            },
            addrs: addrs
                .iter()
                .map(|(a, m)| IfAddr {
                    addr: a.parse().unwrap(),
                    netmask: m.parse().unwrap(),
                    brd: None,
                    tentative: false,
                    flags: 0,
                    scopeid: 0,
                    pltime: None,
                    vltime: None,
                })
                .collect(),
            driver: None,
            details: vec![],
            capabilities: 0,
            capenable: 0,
            otso: 0,
            ilro: 0,
        }
    }

    #[test]
    fn interface_table_like_netbsd() {
        let mut lo = ifinfo("lo0", 1, &[("127.0.0.1", "255.0.0.0")], None);
        lo.mtu = 33624;
        let mut en = ifinfo("en0", 2, &[("10.0.2.15", "255.255.255.0")], Some([2, 0, 0, 0, 0, 1]));
        en.flags = 0;
        let t = format_interfaces(&[lo, en], Family::Any, &mut Names::new(true), false, false);
        assert_eq!(
            t,
            "Name  Mtu   Network       Address              Ipkts Ierrs    Opkts Oerrs Colls\n\
             lo0   33624 <Link>                                12     1        7     0     0\n\
             lo0   33624 127/8         127.0.0.1               12     1        7     0     0\n\
             en0*  1500  <Link>        02:00:00:00:00:01       12     1        7     0     0\n\
             en0*  1500  10.0.2/24     10.0.2.15               12     1        7     0     0\n"
        );
        let en = ifinfo("en0", 2, &[("10.0.2.15", "255.255.255.0")], None);
        let t = format_interfaces(
            std::slice::from_ref(&en),
            Family::Inet,
            &mut Names::new(true),
            true,
            false,
        );
        assert_eq!(
            t,
            "Name  Mtu   Network       Address               Ibytes     Obytes\n\
             en0   1500  10.0.2/24     10.0.2.15                  0          0\n"
        );
        let t = format_interfaces(&[en], Family::Link, &mut Names::new(true), false, false);
        assert_eq!(t.lines().count(), 2);
        assert!(t.contains("<Link>"));
    }

    #[test]
    fn long_entries_widen_or_are_cut_as_netbsd_does() {
        let mut en = ifinfo("en0", 2, &[("192.168.100.150", "255.255.255.252")], None);
        let mut names = Names::new(true);
        // NetBSD cuts the network to 13 characters (%-13.13s); -v does not.
        let narrow = format_interfaces(std::slice::from_ref(&en), Family::Inet, &mut names, false, false);
        let row = |name: &str, net: &str, w: usize, ipkts: u64, wi: usize| {
            format!(
                "{name:<5} 1500  {net:<w$} {:<17} {ipkts:>wi$}     1        7     0     0\n",
                "192.168.100.150"
            )
        };
        assert!(narrow.ends_with(&row("en0", "192.168.100.1", 13, 12, 8)), "{narrow}");
        let wide = format_interfaces(std::slice::from_ref(&en), Family::Inet, &mut names, false, true);
        assert!(wide.ends_with(&row("en0", "192.168.100.148/30", 18, 12, 8)), "{wide}");
        // A long name and a large counter are never cut: they widen their columns.
        en.name = "bridge0".into();
        en.data.ifi_ipackets = 1_234_567_890;
        let t = format_interfaces(std::slice::from_ref(&en), Family::Inet, &mut names, false, false);
        let head = format!(
            "{:<7} {:<5} {:<13} {:<17} {:>10} {:>5} {:>8} {:>5} {:>5}\n",
            "Name", "Mtu", "Network", "Address", "Ipkts", "Ierrs", "Opkts", "Oerrs", "Colls"
        );
        assert_eq!(
            t,
            format!(
                "{head}{:<7} 1500  {:<13} {:<17} {:>10}     1        7     0     0\n",
                "bridge0", "192.168.100.1", "192.168.100.150", 1_234_567_890
            )
        );
    }

    #[test]
    fn inet6_sockets_get_their_own_table_as_tcp6_and_udp6() {
        let so = |family: i32, proto: &str, local: &str, foreign: Option<&str>, state: &str| SockInfo {
            proto: proto.into(),
            family,
            recv_q: 0,
            send_q: 0,
            local: local.parse().unwrap(),
            foreign: foreign.map(|f| f.parse().unwrap()),
            state: state.into(),
            rcvbuf: 65536,
            sndbuf: 65536,
            owner: None,
        };
        let list = [
            so(
                libc::AF_INET,
                "tcp",
                "10.0.0.2:22",
                Some("10.0.0.1:5000"),
                "ESTABLISHED",
            ),
            so(libc::AF_INET6, "tcp", "[::]:80", None, "LISTEN"),
            so(
                libc::AF_INET6,
                "tcp",
                "[2001:db8::1]:80",
                Some("[2001:db8::2]:49152"),
                "ESTABLISHED",
            ),
            so(
                libc::AF_INET6,
                "tcp",
                "[::ffff:10.0.0.2]:80",
                Some("[::ffff:10.0.0.1]:5001"),
                "ESTABLISHED",
            ),
            so(libc::AF_INET6, "udp", "[::]:53", None, ""),
        ];
        let mut names = Names::new(true);
        assert_eq!(
            format_sockets(&list, true, false, &mut names, false),
            "Active Internet connections (including servers)\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n\
             tcp        0      0  10.0.0.2.22            10.0.0.1.5000          ESTABLISHED\n\
             Active Internet6 connections (including servers)\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n\
             tcp6       0      0  *.80                   *.*                    LISTEN\n\
             tcp6       0      0  2001:db8::1.80         2001:db8::2.49152      ESTABLISHED\n\
             tcp6       0      0  ::ffff:10.0.0.2.80     ::ffff:10.0.0.1.5001   ESTABLISHED\n\
             udp6       0      0  *.53                   *.*\n"
        );
        // Without -a, a family whose sockets are all servers shows no table.
        let servers = [so(libc::AF_INET6, "tcp", "[::]:80", None, "LISTEN")];
        assert_eq!(
            format_sockets(&servers, false, false, &mut names, false),
            "Active Internet connections\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n"
        );
    }

    #[test]
    fn socket_table_like_netbsd() {
        let so = |proto: &str, local: &str, foreign: Option<&str>, state: &str| SockInfo {
            proto: proto.into(),
            family: libc::AF_INET,
            recv_q: 0,
            send_q: 17,
            local: local.parse().unwrap(),
            foreign: foreign.map(|f| f.parse().unwrap()),
            state: state.into(),
            rcvbuf: 65536,
            sndbuf: 65536,
            owner: None,
        };
        let list = [
            so("tcp", "0.0.0.0:22", None, "LISTEN"),
            so("tcp", "10.0.0.2:49152", Some("10.0.0.1:22"), "ESTABLISHED"),
            so("udp", "10.0.0.2:53", None, ""),
        ];
        let mut names = Names::new(true);
        assert_eq!(
            format_sockets(&list, true, false, &mut names, false),
            "Active Internet connections (including servers)\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n\
             tcp        0     17  *.22                   *.*                    LISTEN\n\
             tcp        0     17  10.0.0.2.49152         10.0.0.1.22            ESTABLISHED\n\
             udp        0     17  10.0.0.2.53            *.*\n"
        );
        assert_eq!(
            format_sockets(&list, false, false, &mut names, false),
            "Active Internet connections\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n\
             tcp        0     17  10.0.0.2.49152         10.0.0.1.22            ESTABLISHED\n"
        );
        assert_eq!(
            endpoint(Some("10.0.0.2:1".parse().unwrap()), &mut names, false),
            "10.0.0.2.1"
        );
    }

    #[test]
    fn sideways_banner_like_netbsd() {
        assert_eq!(
            sideways_banner("en0", false),
            "  en0 in        en0 out              total in      total out            \n \
             packets  errs  packets  errs colls   packets  errs  packets  errs colls\n"
        );
        let t = Tot {
            ip: 5,
            ie: 0,
            op: 3,
            ..Tot::default()
        };
        assert_eq!(t.line(false), "       5     0        3     0     0");
        assert_eq!(t.since(t), Tot::default());
    }

    #[test]
    fn stats_like_netbsd() {
        let ip = IpStats {
            total: 1234,
            delivered: 1,
            ..IpStats::default()
        };
        let t = format_ip(&ip, 1);
        assert!(
            t.starts_with("ip:\n\t1234 total packets received\n\t0 bad header checksums\n"),
            "{t}"
        );
        assert!(t.contains("\t1 packet for this host\n"));
        assert!(t.contains("\t0 packets forwarded (0 packets fast forwarded)\n"));
        assert!(t.contains("\t0 with size smaller than minimum\n"));
        assert_eq!(
            format_ip(&ip, 2),
            "ip:\n\t1234 total packets received\n\t1 packet for this host\n"
        );
        let mut icmp = IcmpStats {
            reflect: 3,
            ..IcmpStats::default()
        };
        icmp.outhist = vec![0; 41];
        icmp.inhist = vec![0; 41];
        icmp.outhist[0] = 3;
        icmp.inhist[8] = 3;
        icmp.inhist[40] = 1;
        let t = format_icmp(&icmp, 2);
        assert_eq!(
            t,
            "icmp:\n\tOutput histogram:\n\t\techo reply: 3\n\tInput histogram:\n\t\techo: 3\n\t\t#40: 1\n\
             \t3 message responses generated\n"
        );
        let t = format_arp_stats(
            &ArpStats {
                sent_requests: 2,
                sent_replies: 1,
                ..ArpStats::default()
            },
            2,
        );
        assert_eq!(t, "arp:\n\t3 packets sent\n\t\t1 reply packet\n\t\t2 request packets\n");
        assert!(format_arp_stats(&ArpStats::default(), 1).contains("\t\t0 dropped\n"));
    }

    #[test]
    fn socket_table_with_and_without_buffer_sizes() {
        let so = SockInfo {
            proto: "tcp".into(),
            family: libc::AF_INET,
            recv_q: 0,
            send_q: 12,
            local: "10.0.0.1:5000".parse().unwrap(),
            foreign: Some("10.0.0.2:80".parse().unwrap()),
            state: "ESTABLISHED".into(),
            rcvbuf: 65536,
            sndbuf: 16384,
            owner: None,
        };
        let mut names = Names::new(true);
        assert_eq!(
            format_sockets(std::slice::from_ref(&so), false, false, &mut names, false),
            "Active Internet connections\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n\
             tcp        0     12  10.0.0.1.5000          10.0.0.2.80            ESTABLISHED\n"
        );
        assert_eq!(
            format_sockets(&[so], true, true, &mut names, false),
            "Active Internet connections (including servers)\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        State        R-HIWA  S-HIWA\n\
             tcp        0     12  10.0.0.1.5000          10.0.0.2.80            ESTABLISHED   65536   16384\n"
        );
    }

    #[test]
    fn arp_table() {
        let e = ArpEntry {
            addr: "10.0.0.1".parse().unwrap(),
            lladdr: Some([2, 0, 0, 0, 0, 9]),
            ifname: "en0".into(),
            expire: Some(1190),
            permanent: false,
            published: false,
            proxy_only: false,
        };
        let t = format_arp(&[e], &mut Names::new(true), false);
        assert!(
            t.ends_with("10.0.0.1           02:00:00:00:00:09  UHL         -        -   1190  en0\n"),
            "{t}"
        );
    }
}
