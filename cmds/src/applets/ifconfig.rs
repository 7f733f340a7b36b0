//! ifconfig: configure network interface parameters, NetBSD's syntax and output.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use pktbox_drivers::ifcap;
use pktbox_stack::msg::{iff, AddrReq, IfInfo, IfSetReq, LINK_STATE_UP};
use pktbox_stack::socket::{Error, Stack};
use serde_json::json;

use crate::common::{fail, ioctl_fail, open_stack, parse, usage_fail, EXIT_FAILURE};

const PROG: &str = "ifconfig";

pub fn command() -> Command {
    Command::new(PROG)
        .about("Configure network interface parameters")
        .override_usage(
            "ifconfig [-Lv] interface [inet] [address[/len]] [parameters]\n       \
             ifconfig -a [-d] [-L] [-u] [-v]\n       ifconfig -l [-d] [-u]\n       \
             ifconfig -s interface\n       ifconfig -C\n       ifconfig -w N\n       \
             ifconfig interface create | destroy",
        )
        .after_help(
            "Parameters: inet, alias, -alias, delete, netmask MASK (0xHEX, dotted quad or /LEN), \
             broadcast ADDR, mtu N, up, down, arp, -arp, debug, -debug, link0..link2, \
             -link0..-link2, create, destroy, linkstr STR.\n\
             inet6 ADDR[/LEN]: prefixlen N, alias, -alias, delete, eui64 (the interface \
             identifier of the interface's link-local address), pltime N, vltime N (seconds; \
             deprecated, then removed, when they run out), anycast.\n\
             Cloned interfaces (ifconfig -C lists the cloners): bridge0 (see brconfig), lo1, and \
             tap1, hub0 (rump's name shmif0 too), whose driver `linkstr` opens with the -d options \
             of io-pkt: `ifconfig tap1 linkstr tap=NAME,host=ADDR/LEN`, `ifconfig hub0 linkstr DIR` \
             (a bare directory is the hub's path=).\n\
             Offloads (SIOCSIFCAP; '-' in front turns one off): tso4, tso6, ip4csum, tcp4csum, \
             udp4csum (each also -rx and -tx alone, e.g. tcp4csum-tx), tcp6csum, udp6csum, lro.",
        )
        .arg(
            Arg::new("all")
                .short('a')
                .action(ArgAction::SetTrue)
                .help("Show all interfaces"),
        )
        .arg(
            Arg::new("list")
                .short('l')
                .action(ArgAction::SetTrue)
                .help("List interface names on one line"),
        )
        .arg(
            Arg::new("up")
                .short('u')
                .action(ArgAction::SetTrue)
                .help("With -a or -l: only interfaces that are up"),
        )
        .arg(
            Arg::new("down")
                .short('d')
                .action(ArgAction::SetTrue)
                .help("With -a or -l: only interfaces that are down"),
        )
        .arg(
            Arg::new("lifetimes")
                .short('L')
                .action(ArgAction::SetTrue)
                .help("Show the preferred and valid lifetimes of IPv6 addresses"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .action(ArgAction::SetTrue)
                .help("Also show counters and driver details"),
        )
        .arg(
            Arg::new("status")
                .short('s')
                .action(ArgAction::SetTrue)
                .help("Exit 0 if the interface has link, 1 if not; print nothing"),
        )
        .arg(
            Arg::new("cloners")
                .short('C')
                .action(ArgAction::SetTrue)
                .help("List the interface cloners"),
        )
        .arg(
            Arg::new("wait")
                .short('w')
                .value_name("N")
                .value_parser(clap::value_parser!(u32))
                .help("Wait up to N seconds for tentative addresses to finish duplicate address detection"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the state as JSON"),
        )
        .arg(
            Arg::new("interface")
                .value_name("interface")
                .help("The interface to show or configure"),
        )
        .arg(
            Arg::new("params")
                .value_name("parameters")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .help("Address and parameters"),
        )
}

/// `-L`: the inet6 lines end with the addresses' lifetimes (NetBSD's Lflag).
static LIFETIMES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What the parameters ask for, applied in a fixed order after parsing.
#[derive(Default, Debug)]
struct Plan {
    create: bool,
    destroy: bool,
    /// `linkstr STR`: the driver options of a cloned `tap`/`hub`/`shmif` interface.
    linkstr: Option<String>,
    addr: Option<(Ipv4Addr, Option<u8>)>,
    /// An IPv6 address (`ADDR`, `ADDR%IF`, `ADDR/LEN`): passed to the stack, which says
    /// whether its variant has IPv6.
    addr6: Option<std::net::Ipv6Addr>,
    /// `prefixlen N` or the `/LEN` of an IPv6 address.
    prefixlen: Option<u8>,
    /// `inet6` came first: the address words are IPv6.
    inet6: bool,
    /// `eui64`: the address's last 64 bits come from the interface's link-local address.
    eui64: bool,
    /// `pltime N`, `vltime N` (seconds), `anycast`.
    pltime: Option<u32>,
    vltime: Option<u32>,
    anycast: bool,
    netmask: Option<Ipv4Addr>,
    broadcast: Option<Ipv4Addr>,
    alias: bool,
    delete: bool,
    mtu: Option<u32>,
    set: u32,
    clear: u32,
    set_caps: u32,
    clear_caps: u32,
}

/// Parses a netmask: `0xffffff00`, `255.255.255.0` or `/24`.
fn parse_mask(s: &str) -> Option<Ipv4Addr> {
    if let Some(l) = s.strip_prefix('/') {
        let l: u8 = l.parse().ok().filter(|l| *l <= 32)?;
        return Some(pktbox_stack::wire::ipv4::len_mask(l));
    }
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16).ok().map(Ipv4Addr::from);
    }
    s.parse().ok()
}

/// Parses `A.B.C.D` or `A.B.C.D/LEN`.
fn parse_addr(s: &str) -> Option<(Ipv4Addr, Option<u8>)> {
    match s.split_once('/') {
        Some((a, l)) => Some((a.parse().ok()?, Some(l.parse().ok().filter(|l: &u8| *l <= 32)?))),
        None => Some((s.parse().ok()?, None)),
    }
}

fn flag_word(w: &str) -> Option<(bool, u32)> {
    let (neg, name) = match w.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, w),
    };
    let f = match name {
        // `arp` clears NOARP; `-arp` sets it.
        "arp" => return Some((neg, iff::NOARP)),
        "debug" => iff::DEBUG,
        "link0" => iff::LINK0,
        "link1" => iff::LINK1,
        "link2" => iff::LINK2,
        _ => return None,
    };
    Some((!neg, f))
}

/// NetBSD's capability words (`tso4`, `tcp4csum-rx`, ...; `-` in front disables), and
/// FreeBSD's `lro`.
fn cap_word(w: &str) -> Option<(bool, u32)> {
    let (neg, name) = match w.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, w),
    };
    let c = match name {
        "ip4csum" => ifcap::CSUM_IPV4_RX | ifcap::CSUM_IPV4_TX,
        "ip4csum-rx" => ifcap::CSUM_IPV4_RX,
        "ip4csum-tx" => ifcap::CSUM_IPV4_TX,
        "tcp4csum" => ifcap::CSUM_TCPV4_RX | ifcap::CSUM_TCPV4_TX,
        "tcp4csum-rx" => ifcap::CSUM_TCPV4_RX,
        "tcp4csum-tx" => ifcap::CSUM_TCPV4_TX,
        "udp4csum" => ifcap::CSUM_UDPV4_RX | ifcap::CSUM_UDPV4_TX,
        "udp4csum-rx" => ifcap::CSUM_UDPV4_RX,
        "udp4csum-tx" => ifcap::CSUM_UDPV4_TX,
        "tcp6csum" => ifcap::CSUM_TCPV6_RX | ifcap::CSUM_TCPV6_TX,
        "udp6csum" => ifcap::CSUM_UDPV6_RX | ifcap::CSUM_UDPV6_TX,
        "tso4" => ifcap::TSOV4,
        "tso6" => ifcap::TSOV6,
        "lro" => ifcap::LRO,
        _ => return None,
    };
    Some((!neg, c))
}

fn parse_params(params: &[String]) -> Result<Plan, String> {
    let mut p = Plan::default();
    let mut it = params.iter().peekable();
    let mut first = true;
    while let Some(w) = it.next() {
        let mut value = |what: &str| it.next().cloned().ok_or_else(|| format!("{what}: missing argument"));
        match w.as_str() {
            "inet" if first => {}
            "inet6" if first => p.inet6 = true,
            "prefixlen" => {
                let v = value("prefixlen")?;
                if p.prefixlen.is_some() {
                    return Err("prefixlen given twice (as /len and prefixlen)".into());
                }
                p.prefixlen = Some(
                    v.parse()
                        .ok()
                        .filter(|l: &u8| *l <= 128)
                        .ok_or_else(|| format!("{v}: bad value"))?,
                );
            }
            "alias" => p.alias = true,
            "-alias" | "delete" => p.delete = true,
            "eui64" => p.eui64 = true,
            "anycast" => p.anycast = true,
            "pltime" | "vltime" => {
                let v = value(w)?;
                let t: u32 = v.parse().map_err(|_| format!("invalid {w}"))?;
                if w == "pltime" {
                    p.pltime = Some(t);
                } else {
                    p.vltime = Some(t);
                }
            }
            "tentative" | "-tentative" | "deprecated" | "-deprecated" | "-anycast" => {
                return Err(format!("{w}: setting this address flag is not supported"));
            }
            "create" => p.create = true,
            "destroy" => p.destroy = true,
            "linkstr" => p.linkstr = Some(value("linkstr")?),
            "-linkstr" => return Err("-linkstr: a driver once opened stays until the interface is destroyed".into()),
            "up" => p.set |= iff::UP,
            "down" => p.clear |= iff::UP,
            "netmask" => {
                let v = value("netmask")?;
                p.netmask = Some(parse_mask(&v).ok_or_else(|| format!("{v}: bad value"))?);
            }
            "broadcast" => {
                let v = value("broadcast")?;
                p.broadcast = Some(v.parse().map_err(|_| format!("{v}: bad value"))?);
            }
            "mtu" => {
                let v = value("mtu")?;
                p.mtu = Some(v.parse().map_err(|_| format!("{v}: bad value"))?);
            }
            other => {
                if let Some((set, f)) = flag_word(other) {
                    if set {
                        p.set |= f;
                    } else {
                        p.clear |= f;
                    }
                } else if let Some((set, c)) = cap_word(other) {
                    if set {
                        p.set_caps |= c;
                    } else {
                        p.clear_caps |= c;
                    }
                } else if p.addr6.is_none() && other.contains(':') && !other.starts_with('-') {
                    let (a, len) = match other.split_once('/') {
                        Some((a, l)) => (
                            a,
                            Some(
                                l.parse()
                                    .ok()
                                    .filter(|l: &u8| *l <= 128)
                                    .ok_or_else(|| format!("{other}: bad value"))?,
                            ),
                        ),
                        None => (other, None),
                    };
                    // fe80::1%en0: the scope names the interface being configured anyway.
                    let a = a.split('%').next().unwrap_or(a);
                    p.addr6 = Some(a.parse().map_err(|_| format!("{other}: bad value"))?);
                    if len.is_some() {
                        if p.prefixlen.is_some() {
                            return Err("prefixlen given twice (as /len and prefixlen)".into());
                        }
                        p.prefixlen = len;
                    }
                } else if p.addr.is_none() && other.starts_with(|c: char| c.is_ascii_digit()) {
                    p.addr = Some(parse_addr(other).ok_or_else(|| format!("{other}: bad value"))?);
                } else {
                    return Err(format!("{other}: unknown parameter"));
                }
            }
        }
        first = false;
    }
    if p.prefixlen.is_some() && p.addr6.is_none() {
        return Err("prefixlen: an inet6 parameter without an inet6 address".into());
    }
    for (given, what) in [
        (p.eui64, "eui64"),
        (p.pltime.is_some(), "pltime"),
        (p.vltime.is_some(), "vltime"),
        (p.anycast, "anycast"),
    ] {
        if given && p.addr6.is_none() {
            return Err(format!("{what} not allowed for the AF"));
        }
    }
    if p.netmask.is_some() && p.addr.as_ref().is_some_and(|(_, l)| l.is_some()) {
        return Err("netmask given twice (as /len and netmask)".into());
    }
    Ok(p)
}

fn cap_names(c: u32) -> Vec<&'static str> {
    ifcap::NAMES
        .iter()
        .filter(|(b, _)| c & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

fn flags_str(f: u32) -> String {
    let names: Vec<&str> = iff::NAMES.iter().filter(|(b, _)| f & b != 0).map(|(_, n)| *n).collect();
    format!("flags={f:x}<{}>", names.join(","))
}

fn mac_str(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn mask_hex(m: &IpAddr) -> String {
    match m {
        IpAddr::V4(a) => format!("0x{:08x}", u32::from(*a)),
        IpAddr::V6(_) => m.to_string(),
    }
}

/// One interface, as NetBSD's ifconfig prints it.
fn print_if(i: &IfInfo, verbose: bool) {
    println!("{}: {} mtu {}", i.name, flags_str(i.flags), i.mtu);
    if i.capabilities != 0 {
        println!("\tcapabilities={}", ifcap::format(i.capabilities));
        println!("\tenabled={}", ifcap::format(i.capenable));
    }
    if let Some(m) = &i.lladdr {
        println!("\taddress: {}", mac_str(m));
        println!(
            "\tstatus: {}",
            if i.data.ifi_link_state == LINK_STATE_UP {
                "active"
            } else {
                "no carrier"
            }
        );
    }
    if verbose {
        let d = &i.data;
        if let Some(drv) = &i.driver {
            let det: Vec<String> = i.details.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!(
                "\tdriver: {drv}{}{}",
                if det.is_empty() { "" } else { " " },
                det.join(" ")
            );
        }
        if i.capabilities != 0 {
            println!("\toffload: {} TSO frames out, {} LRO frames in", i.otso, i.ilro);
        }
        let mut input = format!("\tinput: {} packets, {} bytes", d.ifi_ipackets, d.ifi_ibytes);
        if d.ifi_imcasts > 0 {
            input += &format!(", {} multicasts", d.ifi_imcasts);
        }
        if d.ifi_ierrors > 0 {
            input += &format!(", {} errors", d.ifi_ierrors);
        }
        if d.ifi_iqdrops > 0 {
            input += &format!(", {} queue drops", d.ifi_iqdrops);
        }
        if d.ifi_noproto > 0 {
            input += &format!(", {} unknown protocol", d.ifi_noproto);
        }
        println!("{input}");
        let mut output = format!("\toutput: {} packets, {} bytes", d.ifi_opackets, d.ifi_obytes);
        if d.ifi_omcasts > 0 {
            output += &format!(", {} multicasts", d.ifi_omcasts);
        }
        if d.ifi_oerrors > 0 {
            output += &format!(", {} errors", d.ifi_oerrors);
        }
        if d.ifi_collisions > 0 {
            output += &format!(", {} collisions", d.ifi_collisions);
        }
        println!("{output}");
    }
    for a in i.addrs.iter().filter(|a| a.addr.is_ipv4()) {
        let mut line = format!("\tinet {} netmask {}", a.addr, mask_hex(&a.netmask));
        if let Some(b) = &a.brd {
            line += &format!(" broadcast {b}");
        }
        if a.tentative {
            line += " tentative";
        }
        println!("{line}");
    }
    for a in i.addrs.iter().filter(|a| a.addr.is_ipv6()) {
        println!("{}", inet6_line(&i.name, a));
    }
}

/// Prefix length of an IPv6 netmask.
fn prefixlen(m: &IpAddr) -> u32 {
    match m {
        IpAddr::V6(m) => u128::from(*m).leading_ones(),
        IpAddr::V4(m) => u32::from(*m).leading_ones(),
    }
}

/// The inet6 line of one address, as NetBSD's af_inet6.c prints it:
/// `inet6 fe80::1%en0 prefixlen 64 tentative scopeid 0x2`.
fn inet6_line(ifname: &str, a: &pktbox_stack::msg::IfAddr) -> String {
    let mut line = format!("\tinet6 {}", a.addr);
    if a.scopeid != 0 {
        line += &format!("%{ifname}");
    }
    line += &format!(" prefixlen {}", prefixlen(&a.netmask));
    for (bit, name) in pktbox_stack::msg::in6f::NAMES {
        if a.flags & bit != 0 {
            line += &format!(" {name}");
        }
    }
    if a.scopeid != 0 {
        line += &format!(" scopeid 0x{:x}", a.scopeid);
    }
    if LIFETIMES.load(std::sync::atomic::Ordering::Relaxed) && (a.pltime.is_some() || a.vltime.is_some()) {
        let t = |v: Option<u32>| v.map_or("infty".to_string(), |s| s.to_string());
        line += &format!(" pltime {} vltime {}", t(a.pltime), t(a.vltime));
    }
    line
}

fn if_json(i: &IfInfo) -> serde_json::Value {
    let flags: Vec<&str> = iff::NAMES
        .iter()
        .filter(|(b, _)| i.flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    let d = &i.data;
    json!({
        "name": i.name,
        "index": i.index,
        "flags": i.flags,
        "flag_names": flags,
        "mtu": i.mtu,
        "address": i.lladdr.as_ref().map(mac_str),
        "link_state": if d.ifi_link_state == LINK_STATE_UP { "up" } else { "down" },
        "driver": i.driver,
        "details": i.details.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect::<Vec<_>>(),
        "capabilities": cap_names(i.capabilities),
        "enabled": cap_names(i.capenable),
        "offload": { "tso_frames_out": i.otso, "lro_frames_in": i.ilro },
        "inet6": i.addrs.iter().filter(|a| a.addr.is_ipv6()).map(|a| json!({
            "address": a.addr.to_string(),
            "prefixlen": prefixlen(&a.netmask),
            "flags": pktbox_stack::msg::in6f::NAMES.iter().filter(|(b, _)| a.flags & b != 0).map(|(_, n)| *n).collect::<Vec<_>>(),
            "scopeid": a.scopeid,
            "tentative": a.tentative,
            "pltime": a.pltime,
            "vltime": a.vltime,
        })).collect::<Vec<_>>(),
        "inet": i.addrs.iter().filter(|a| a.addr.is_ipv4()).map(|a| json!({
            "address": a.addr.to_string(),
            "netmask": a.netmask.to_string(),
            "broadcast": a.brd.map(|b| b.to_string()),
            "tentative": a.tentative,
        })).collect::<Vec<_>>(),
        "counters": {
            "ipackets": d.ifi_ipackets, "ierrors": d.ifi_ierrors,
            "opackets": d.ifi_opackets, "oerrors": d.ifi_oerrors,
            "collisions": d.ifi_collisions, "ibytes": d.ifi_ibytes,
            "obytes": d.ifi_obytes, "imcasts": d.ifi_imcasts, "omcasts": d.ifi_omcasts,
            "iqdrops": d.ifi_iqdrops, "noproto": d.ifi_noproto,
        },
    })
}

fn show(list: &[IfInfo], json: bool, verbose: bool) {
    if json {
        let v: Vec<serde_json::Value> = list.iter().map(if_json).collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        for i in list {
            print_if(i, verbose);
        }
    }
}

/// `-w N`: polls until no address of any interface is tentative, for at most `secs`
/// seconds, as NetBSD's wait_dad_exec does. Returns at once when none is. Addresses still
/// tentative at the deadline are not an error (NetBSD goes on, too).
fn wait_dad(secs: u32) -> Result<(), ExitCode> {
    let mut s = open_stack(PROG)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(u64::from(secs));
    loop {
        let l = s.if_list(None).map_err(|e| ioctl_fail(PROG, "SIOCGIFCONF", &e))?;
        if !l.iter().any(|i| i.addrs.iter().any(|a| a.tentative)) {
            return Ok(());
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return Ok(());
        }
        // NetBSD polls every 100 ms.
        std::thread::sleep((deadline - now).min(std::time::Duration::from_millis(100)));
    }
}

fn filter_updown(list: Vec<IfInfo>, up: bool, down: bool) -> Vec<IfInfo> {
    list.into_iter()
        .filter(|i| (!up || i.flags & iff::UP != 0) && (!down || i.flags & iff::UP == 0))
        .collect()
}

/// The interface named, or the NetBSD error for one that does not exist.
fn lookup(s: &mut Stack, name: &str) -> Result<IfInfo, ExitCode> {
    match s.if_list(Some(name)) {
        Ok(mut v) if !v.is_empty() => Ok(v.remove(0)),
        Ok(_) => Err(fail(PROG, format!("SIOCGIFFLAGS {name}: Device not configured"))),
        Err(e) => Err(ioctl_fail(PROG, &format!("SIOCGIFFLAGS {name}"), &e)),
    }
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let (args, params) = crate::common::split_at_first_operand(args, &["-w"]);
    let m = match parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let (all, list, up, down) = (
        m.get_flag("all"),
        m.get_flag("list"),
        m.get_flag("up"),
        m.get_flag("down"),
    );
    let (verbose, json) = (m.get_flag("verbose"), m.get_flag("json"));
    LIFETIMES.store(m.get_flag("lifetimes"), std::sync::atomic::Ordering::Relaxed);
    let iface = m.get_one::<String>("interface").cloned();

    if let Some(&secs) = m.get_one::<u32>("wait") {
        // NetBSD's `ifconfig -w N` alone only waits; with an interface it waits first.
        if let Err(c) = wait_dad(secs) {
            return c;
        }
        if !all && !list && iface.is_none() && !m.get_flag("cloners") {
            return ExitCode::SUCCESS;
        }
    }
    if m.get_flag("cloners") {
        let mut s = match open_stack(PROG) {
            Ok(s) => s,
            Err(c) => return c,
        };
        return match s.cloners() {
            Ok(v) => {
                println!("{}", v.join(" "));
                ExitCode::SUCCESS
            }
            Err(e) => ioctl_fail(PROG, "SIOCIFGCLONERS", &e),
        };
    }
    if all || list {
        if let Some(extra) = iface.as_deref().filter(|f| *f != "inet") {
            return usage_fail(PROG, format!("{extra}: unexpected argument with -a or -l"));
        }
        let mut s = match open_stack(PROG) {
            Ok(s) => s,
            Err(c) => return c,
        };
        let l = match s.if_list(None) {
            Ok(l) => filter_updown(l, up, down),
            Err(e) => return ioctl_fail(PROG, "SIOCGIFCONF", &e),
        };
        if list && !json {
            println!("{}", l.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(" "));
        } else {
            show(&l, json, verbose);
        }
        return ExitCode::SUCCESS;
    }
    let Some(name) = iface else {
        return crate::common::usage(&command());
    };
    let plan = match parse_params(&params) {
        Ok(p) => p,
        Err(e) => return fail(PROG, e),
    };
    let mut s = match open_stack(PROG) {
        Ok(s) => s,
        Err(c) => return c,
    };
    if m.get_flag("status") {
        return match lookup(&mut s, &name) {
            Ok(i) if i.data.ifi_link_state == LINK_STATE_UP => ExitCode::SUCCESS,
            Ok(_) => ExitCode::from(EXIT_FAILURE),
            Err(c) => c,
        };
    }
    if let Err(c) = apply(&mut s, &name, &plan) {
        return c;
    }
    if params.is_empty() {
        return match lookup(&mut s, &name) {
            Ok(i) => {
                show(&[i], json, verbose);
                ExitCode::SUCCESS
            }
            Err(c) => c,
        };
    }
    ExitCode::SUCCESS
}

fn apply(s: &mut Stack, name: &str, p: &Plan) -> Result<(), ExitCode> {
    let err = |what: &str, e: Error| ioctl_fail(PROG, what, &e);
    if p.create {
        s.if_create(name).map_err(|e| err("SIOCIFCREATE", e))?;
    }
    if p.destroy {
        return s.if_destroy(name).map_err(|e| err("SIOCIFDESTROY", e));
    }
    if let Some(l) = &p.linkstr {
        s.if_linkstr(name, l).map_err(|e| err("SIOCSLINKSTR", e))?;
    }
    let info = lookup(s, name)?;
    if p.delete && p.addr6.is_none() {
        let req = AddrReq {
            name: name.into(),
            addr: p.addr.map(|(a, _)| IpAddr::V4(a)),
            netmask: None,
            brd: None,
        };
        s.addr_del(req).map_err(|e| err("SIOCDIFADDR", e))?;
    }
    if let Some(mut a6) = p.addr6 {
        if p.eui64 {
            // NetBSD's setia6eui64: the identifier must still be zero; it comes from the
            // interface's link-local address.
            if u128::from(a6) & u128::from(u64::MAX) != 0 {
                return Err(fail(PROG, "interface index is already filled"));
            }
            let ll = info.addrs.iter().find_map(|a| match a.addr {
                IpAddr::V6(l) if l.segments()[0] & 0xffc0 == 0xfe80 => Some(l),
                _ => None,
            });
            let Some(ll) = ll else {
                return Err(fail(PROG, "could not determine link local address"));
            };
            a6 = std::net::Ipv6Addr::from(u128::from(a6) | (u128::from(ll) & u128::from(u64::MAX)));
        }
        let mask = p.prefixlen.map(|l| {
            IpAddr::V6(std::net::Ipv6Addr::from(
                u128::MAX.checked_shl(128 - u32::from(l)).unwrap_or(0),
            ))
        });
        let req = AddrReq {
            name: name.into(),
            addr: Some(IpAddr::V6(a6)),
            netmask: if p.delete { None } else { mask },
            brd: None,
        };
        let extras = p.anycast || p.pltime.is_some() || p.vltime.is_some();
        let r = if p.delete {
            s.addr_del(req)
        } else if extras {
            s.addr_add6(pktbox_stack::msg::In6AliasReq {
                req,
                flags: if p.anycast { pktbox_stack::msg::in6f::ANYCAST } else { 0 },
                pltime: p.pltime,
                vltime: p.vltime,
            })
        } else {
            s.addr_add(req)
        };
        r.map_err(|e| {
            if e.errno() == Some(libc::EAFNOSUPPORT) {
                fail(PROG, "inet6: address family not supported by this stack")
            } else {
                err(if p.delete { "SIOCDIFADDR_IN6" } else { "SIOCAIFADDR_IN6" }, e)
            }
        })?;
    }
    if let Some(mtu) = p.mtu {
        s.if_set(IfSetReq {
            name: name.into(),
            set_flags: 0,
            clear_flags: 0,
            mtu: Some(mtu),
            set_caps: 0,
            clear_caps: 0,
        })
        .map_err(|e| err("SIOCSIFMTU", e))?;
    }
    let changes_addr = !p.delete && (p.addr.is_some() || p.netmask.is_some() || p.broadcast.is_some());
    if changes_addr {
        let primary = info.addrs.iter().find(|a| a.addr.is_ipv4());
        // With only netmask or broadcast, they apply to the primary address.
        let addr = match (p.addr, primary) {
            (Some((a, _)), _) => a,
            (None, Some(pa)) => match pa.addr {
                IpAddr::V4(a) => a,
                IpAddr::V6(_) => return Err(fail(PROG, "no inet address to change")),
            },
            (None, None) => return Err(fail(PROG, "no inet address to change")),
        };
        let mask = match (p.addr.and_then(|(_, l)| l), p.netmask) {
            (Some(l), _) => Some(pktbox_stack::wire::ipv4::len_mask(l)),
            (None, Some(m)) => Some(m),
            (None, None) if p.addr.is_none() || p.alias => {
                primary.filter(|pa| pa.addr == addr).map(|pa| match pa.netmask {
                    IpAddr::V4(m) => m,
                    IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                })
            }
            (None, None) => None,
        };
        let req = AddrReq {
            name: name.into(),
            addr: Some(IpAddr::V4(addr)),
            netmask: mask.map(IpAddr::V4),
            brd: p.broadcast.map(IpAddr::V4),
        };
        s.addr_add(req).map_err(|e| err("SIOCAIFADDR", e))?;
        // Without `alias`, a new address replaces the interface's primary one. The old one
        // goes only once the new one is in, so a refused address leaves the interface as
        // it was.
        if !p.alias && p.addr.is_some() {
            if let Some(pa) = primary.filter(|pa| pa.addr != IpAddr::V4(addr)) {
                let req = AddrReq {
                    name: name.into(),
                    addr: Some(pa.addr),
                    netmask: None,
                    brd: None,
                };
                s.addr_del(req).map_err(|e| err("SIOCDIFADDR", e))?;
            }
        }
    }
    if p.set_caps != 0 || p.clear_caps != 0 {
        s.if_set(IfSetReq {
            name: name.into(),
            set_flags: 0,
            clear_flags: 0,
            mtu: None,
            set_caps: p.set_caps,
            clear_caps: p.clear_caps,
        })
        .map_err(|e| err("SIOCSIFCAP", e))?;
    }
    if p.set != 0 || p.clear != 0 {
        s.if_set(IfSetReq {
            name: name.into(),
            set_flags: p.set,
            clear_flags: p.clear,
            mtu: None,
            set_caps: 0,
            clear_caps: 0,
        })
        .map_err(|e| err("SIOCSIFFLAGS", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Plan, String> {
        parse_params(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn inet6_lines_like_netbsd() {
        let a = |addr: &str, len: u8, flags: u32, scopeid: u32| pktbox_stack::msg::IfAddr {
            addr: addr.parse().unwrap(),
            netmask: IpAddr::V6(std::net::Ipv6Addr::from(u128::MAX << (128 - len))),
            brd: None,
            tentative: flags & pktbox_stack::msg::in6f::TENTATIVE != 0,
            flags,
            scopeid,
            pltime: None,
            vltime: None,
        };
        use pktbox_stack::msg::in6f;
        assert_eq!(
            inet6_line("en0", &a("fe80::1", 64, 0, 2)),
            "\tinet6 fe80::1%en0 prefixlen 64 scopeid 0x2"
        );
        assert_eq!(
            inet6_line("en0", &a("2001:db8::2", 64, in6f::TENTATIVE | in6f::AUTOCONF, 0)),
            "\tinet6 2001:db8::2 prefixlen 64 tentative autoconf"
        );
        assert_eq!(inet6_line("lo0", &a("::1", 128, 0, 0)), "\tinet6 ::1 prefixlen 128");
    }

    #[test]
    fn parses_capability_words() {
        let x = p("tso4 -tcp4csum-rx udp4csum lro").unwrap();
        assert_eq!(
            x.set_caps,
            ifcap::TSOV4 | ifcap::CSUM_UDPV4_RX | ifcap::CSUM_UDPV4_TX | ifcap::LRO
        );
        assert_eq!(x.clear_caps, ifcap::CSUM_TCPV4_RX);
        assert_eq!(x.set | x.clear, 0);
        assert_eq!(ifcap::format(ifcap::TSOV4 | ifcap::LRO), "80080<TSO4,LRO>");
        assert_eq!(ifcap::format(0), "0<>");
    }

    #[test]
    fn parses_netbsd_parameters() {
        let x = p("inet 10.0.0.2 netmask 0xffffff00 up").unwrap();
        assert_eq!(x.addr, Some(("10.0.0.2".parse().unwrap(), None)));
        assert_eq!(x.netmask, Some("255.255.255.0".parse().unwrap()));
        assert_eq!(x.set, iff::UP);
        let x = p("10.0.0.3/24 alias").unwrap();
        assert!(x.alias);
        assert_eq!(x.addr, Some(("10.0.0.3".parse().unwrap(), Some(24))));
        assert!(p("10.0.0.3 -alias").unwrap().delete);
        assert_eq!(p("mtu 9000").unwrap().mtu, Some(9000));
        assert_eq!(p("-arp").unwrap().set, iff::NOARP);
        assert_eq!(p("arp").unwrap().clear, iff::NOARP);
        assert_eq!(p("-link0").unwrap().clear, iff::LINK0);
        assert_eq!(p("10.0.0.300").unwrap_err(), "10.0.0.300: bad value");
        assert_eq!(p("mtu").unwrap_err(), "mtu: missing argument");
        assert_eq!(p("bogus").unwrap_err(), "bogus: unknown parameter");
        assert_eq!(p("netmask 255.0.0.0 netmask").unwrap_err(), "netmask: missing argument");
        assert_eq!(parse_mask("/24"), Some("255.255.255.0".parse().unwrap()));
        assert_eq!(parse_mask("0xff000000"), Some("255.0.0.0".parse().unwrap()));
        assert_eq!(p("inet6 fe80::1").unwrap().addr6, Some("fe80::1".parse().unwrap()));
        assert!(p("inet6 fe80::x").is_err());
        let x = p("inet6 2001:db8::2 prefixlen 64 alias").unwrap();
        assert_eq!(
            (x.addr6, x.prefixlen, x.alias),
            (Some("2001:db8::2".parse().unwrap()), Some(64), true)
        );
        let x = p("inet6 2001:db8::2/48").unwrap();
        assert_eq!(x.prefixlen, Some(48));
        let x = p("inet6 fe80::1%en0 -alias").unwrap();
        assert_eq!((x.addr6, x.delete), (Some("fe80::1".parse().unwrap()), true));
        assert!(p("inet6 2001:db8::2/64 prefixlen 64").is_err());
        assert!(p("inet6 2001:db8::2/129").is_err());
        assert!(p("prefixlen 64").is_err());
        let x = p("inet6 2001:db8:: prefixlen 64 eui64 pltime 30 vltime 60 anycast alias").unwrap();
        assert_eq!(
            (x.eui64, x.pltime, x.vltime, x.anycast),
            (true, Some(30), Some(60), true)
        );
        assert_eq!(p("inet6 2001:db8::1 pltime x").unwrap_err(), "invalid pltime");
        assert_eq!(p("10.0.0.1 anycast").unwrap_err(), "anycast not allowed for the AF");
        assert!(p("inet6 2001:db8::1 tentative").is_err());
    }

    #[test]
    fn flags_like_netbsd() {
        let f = iff::UP | iff::BROADCAST | iff::RUNNING | iff::SIMPLEX | iff::MULTICAST;
        assert_eq!(flags_str(f), "flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>");
        assert_eq!(
            flags_str(iff::UP | iff::LOOPBACK | iff::RUNNING | iff::MULTICAST),
            "flags=8049<UP,LOOPBACK,RUNNING,MULTICAST>"
        );
    }
}
