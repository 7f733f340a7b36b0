//! route: manually manipulate the routing tables, NetBSD's syntax and output.

use std::ffi::OsString;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use pktbox_stack::msg::{
    encode, iff, rtv, IfInfo, Msg, RtFamily, RtMetrics, RtMsg, IFAN_ARRIVAL, IFAN_DEPARTURE, LINK_STATE_DOWN,
    LINK_STATE_UP,
};
use pktbox_stack::socket::{Error, Stack};
use pktbox_stack::wire::route::{rta, rtf};

use crate::common::{open_stack, parse, EXIT_FAILURE};
use crate::rtutil::{self, Names};

const PROG: &str = "route";
const USAGE: &str = "usage: route [-fnqSsv] command [[modifiers] args]";

pub fn command() -> Command {
    Command::new(PROG)
        .about("Manually manipulate the routing tables")
        .override_usage(
            "route [-fnqSsv] command [[modifiers] args]\n       \
             route [-n] add|change|delete|get [-net|-host] destination [gateway] [netmask]\n       \
             route [-nS] show [-inet|-inet6] [--json]\n       \
             route [-nqv] flush|flushall [-inet|-inet6]\n       \
             route [-n] monitor [-c count]",
        )
        .after_help(
            "Commands: add, delete, change, get, show, flush, flushall, monitor.\n\
             Modifiers: -inet, -inet6, -net, -host, -netmask MASK, -prefixlen N, -interface (or \
             -iface), -link, -ifp IF, -ifa ADDR, -cloning, -connected, -llinfo, -xresolve, -reject, \
             -noreject, -blackhole, -noblackhole, -static, -nostatic, -proto1, -proto2, -mtu N, \
             -hopcount N, -expire N, -recvpipe N, -sendpipe N, -ssthresh N, -rtt N, -rttvar N, \
             -lock (the next metric), -lockrest (every later metric).\n\
             The destination is `default`, an address, or NET/LEN. As on NetBSD, `128.32` is the host \
             128.0.0.32, `-net 128.32` the network 128.32.0.0/16 and `-net 10` the network 10/8.",
        )
        .arg(
            Arg::new("flush")
                .short('f')
                .action(ArgAction::SetTrue)
                .help("Remove all gateway and static routes (first, with a command)"),
        )
        .arg(
            Arg::new("numeric")
                .short('n')
                .action(ArgAction::SetTrue)
                .help("Print addresses as numbers, not names"),
        )
        .arg(
            Arg::new("quiet")
                .short('q')
                .action(ArgAction::SetTrue)
                .help("Print nothing when changing the table"),
        )
        .arg(
            Arg::new("spaced")
                .short('S')
                .action(ArgAction::SetTrue)
                .help("show: print a space for each flag that is not set, so flags line up"),
        )
        .arg(
            Arg::new("short")
                .short('s')
                .action(ArgAction::SetTrue)
                .help("get: print only the gateway that will be used"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .action(ArgAction::SetTrue)
                .help("Print the routing messages sent and received"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("show and get: print the routes as JSON"),
        )
        .arg(
            Arg::new("command")
                .value_name("command")
                .value_parser(["add", "delete", "change", "get", "show", "flush", "flushall", "monitor"])
                .help("What to do"),
        )
        .arg(
            Arg::new("args")
                .value_name("args")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .help("Modifiers and arguments of the command"),
        )
}

/// Options that come before the command.
#[derive(Debug, Default, Clone, Copy)]
struct Opts {
    flush: bool,
    numeric: bool,
    quiet: bool,
    spaced: bool,
    short: bool,
    verbose: bool,
    json: bool,
}

/// Why a command line cannot be used: a usage error (exit 2) or a bad value (exit 1, as
/// NetBSD's `errx`).
#[derive(Debug, PartialEq, Eq)]
enum BadArgs {
    Usage(String),
    Fail(String),
}

/// An add, delete, change or get request, parsed.
#[derive(Debug, PartialEq, Eq)]
struct RouteArgs {
    /// The destination as typed, up to a `/` (what NetBSD prints in `add net ...`).
    dest_text: String,
    /// The gateway as typed.
    gateway_text: Option<String>,
    /// `-inet6`: an IPv6 route.
    inet6: bool,
    dst: IpAddr,
    /// The `%zone` of a scoped IPv6 destination, as typed.
    dst_zone: Option<String>,
    /// None for a host route.
    prefixlen: Option<u8>,
    gateway: Option<IpAddr>,
    /// The `%zone` of a scoped IPv6 gateway (`fe80::1%en0`).
    gw_zone: Option<String>,
    ifp: Option<String>,
    /// `-ifa`: the source address.
    ifa: Option<IpAddr>,
    flags: u32,
    mtu: u32,
    rmx: RtMetrics,
    /// RTV_* bits of the metrics given, and of those locked.
    inits: u32,
    locks: u32,
    /// Warnings NetBSD prints for old-style trailing arguments.
    warnings: Vec<String>,
}

impl RouteArgs {
    fn is_host(&self) -> bool {
        self.prefixlen.is_none()
    }

    /// The routing message, with `%zone` names made interface indexes.
    fn msg(&self, ifs: &[IfInfo]) -> Result<RtMsg, BadArgs> {
        Ok(RtMsg {
            rtm_flags: self.flags,
            dst: Some(self.dst),
            dst_scope: zone(&self.dst_zone, ifs)?,
            gateway: self.gateway,
            gateway_scope: zone(&self.gw_zone, ifs)?,
            prefixlen: self.prefixlen,
            ifp: self.ifp.clone(),
            ifa: self.ifa,
            mtu: self.mtu,
            rmx: self.rmx,
            rtm_inits: self.inits,
            rmx_locks: self.locks,
            ..Default::default()
        })
    }
}

/// A `%zone`: an interface name or index (getaddrinfo's scope id).
fn zone(z: &Option<String>, ifs: &[IfInfo]) -> Result<u32, BadArgs> {
    let Some(z) = z else { return Ok(0) };
    if let Some(i) = ifs.iter().find(|i| i.name == *z) {
        return Ok(u32::from(i.index));
    }
    z.parse::<u32>()
        .ok()
        .filter(|n| *n != 0)
        .ok_or_else(|| BadArgs::Fail(format!("%{z}: bad value")))
}

/// An IPv6 address argument, with its `%zone` split off.
fn addr6(s: &str) -> Option<(Ipv6Addr, Option<String>)> {
    match s.split_once('%') {
        Some((a, z)) if !z.is_empty() => Some((a.parse().ok()?, Some(z.to_string()))),
        Some(_) => None,
        None => Some((s.parse().ok()?, None)),
    }
}

/// A netmask: dotted quad (any inet_aton form, so `0xffffff00` too) or `/LEN`.
fn parse_netmask(s: &str) -> Result<u8, BadArgs> {
    let m = match s.strip_prefix('/') {
        Some(l) => return parse_prefixlen(l),
        None => rtutil::inet_aton(s).ok_or_else(|| BadArgs::Fail(format!("{s}: bad value")))?,
    };
    rtutil::mask_len(m).ok_or_else(|| BadArgs::Fail(format!("{s}: non-contiguous netmask not supported")))
}

fn parse_prefixlen(s: &str) -> Result<u8, BadArgs> {
    parse_prefixlen_af(s, false)
}

/// A prefix length: 0-32, or 0-128 for IPv6.
fn parse_prefixlen_af(s: &str, inet6: bool) -> Result<u8, BadArgs> {
    let max = if inet6 { 128 } else { 32 };
    s.parse::<u8>()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| BadArgs::Fail(format!("{s}: bad value")))
}

/// An address argument: numbers in any inet_aton form, else a name from /etc/hosts.
fn host_addr(s: &str) -> Option<Ipv4Addr> {
    rtutil::inet_aton(s)
        .map(Ipv4Addr::from)
        .or_else(|| rtutil::host_by_name(s))
}

/// Keywords that NetBSD's route knows but this stack cannot honour: refused, never ignored.
const UNSUPPORTED: &[&str] = &[
    "atalk", "mpls", "tag", "sa", "xns", "iso", "cloned", "nocloned", "proxy", "genmask",
];

/// The metric keywords and their RTV_* bits.
const METRICS: &[(&str, u32)] = &[
    ("mtu", rtv::MTU),
    ("hopcount", rtv::HOPCOUNT),
    ("expire", rtv::EXPIRE),
    ("recvpipe", rtv::RPIPE),
    ("sendpipe", rtv::SPIPE),
    ("ssthresh", rtv::SSTHRESH),
    ("rtt", rtv::RTT),
    ("rttvar", rtv::RTTVAR),
];

/// route(8)'s grammar for add, delete, change and get (NetBSD's `newroute`).
fn parse_route(cmd: &str, args: &[String], quiet: bool) -> Result<RouteArgs, BadArgs> {
    let mut r = RouteArgs {
        dest_text: String::new(),
        gateway_text: None,
        inet6: false,
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst_zone: None,
        prefixlen: None,
        gateway: None,
        gw_zone: None,
        ifp: None,
        ifa: None,
        flags: rtf::STATIC,
        mtu: 0,
        rmx: RtMetrics::default(),
        inits: 0,
        locks: 0,
        warnings: Vec::new(),
    };
    let (mut net, mut host, mut iface, mut link) = (false, false, false, false);
    let (mut netmask, mut prefixlen): (Option<String>, Option<String>) = (None, None);
    let (mut locking, mut lockrest) = (false, false);
    let mut ifa_text: Option<String> = None;
    let mut dest: Option<String> = None;
    let mut gateway: Option<String> = None;
    let mut rest: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(kw) = a.strip_prefix('-').filter(|k| !k.is_empty()) else {
            if dest.is_none() {
                dest = Some(a.clone());
            } else if gateway.is_none() {
                gateway = Some(a.clone());
            } else {
                rest.push(a.clone());
            }
            continue;
        };
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| BadArgs::Usage(format!("botched keyword: {kw}")))
        };
        match kw {
            "inet" => r.inet6 = false,
            "inet6" => r.inet6 = true,
            "link" => link = true,
            "net" => net = true,
            "host" => host = true,
            "netmask" => {
                netmask = Some(value()?);
                net = true;
            }
            "prefixlen" => prefixlen = Some(value()?),
            "interface" | "iface" => iface = true,
            "ifp" => r.ifp = Some(value()?),
            "ifa" => ifa_text = Some(value()?),
            "static" => r.flags |= rtf::STATIC,
            "nostatic" => r.flags &= !rtf::STATIC,
            "reject" => r.flags |= rtf::REJECT,
            "noreject" => r.flags &= !rtf::REJECT,
            "blackhole" => r.flags |= rtf::BLACKHOLE,
            "noblackhole" => r.flags &= !rtf::BLACKHOLE,
            "proto1" => r.flags |= rtf::PROTO1,
            "proto2" => r.flags |= rtf::PROTO2,
            "cloning" | "connected" => r.flags |= rtf::CONNECTED,
            "nocloning" | "noconnected" => r.flags &= !rtf::CONNECTED,
            "llinfo" => r.flags |= rtf::LLDATA,
            "xresolve" => r.flags |= rtf::XRESOLVE,
            "lock" => locking = true,
            "lockrest" => lockrest = true,
            "dst" => dest = Some(value()?),
            "gateway" => gateway = Some(value()?),
            k if METRICS.iter().any(|(n, _)| *n == k) => {
                let bit = METRICS.iter().find(|(n, _)| *n == k).map_or(0, |(_, b)| *b);
                let v = value()?;
                let bad = || BadArgs::Fail(format!("{v}: bad value"));
                if bit == rtv::EXPIRE {
                    r.rmx.expire = v.parse().map_err(|_| bad())?;
                } else {
                    let n: u32 = v.parse().map_err(|_| bad())?;
                    match bit {
                        rtv::MTU => r.mtu = n,
                        rtv::HOPCOUNT => r.rmx.hopcount = n,
                        rtv::RPIPE => r.rmx.recvpipe = n,
                        rtv::SPIPE => r.rmx.sendpipe = n,
                        rtv::SSTHRESH => r.rmx.ssthresh = n,
                        rtv::RTT => r.rmx.rtt = n,
                        _ => r.rmx.rttvar = n,
                    }
                }
                r.inits |= bit;
                if locking || lockrest {
                    r.locks |= bit;
                }
                locking = false;
            }
            k if UNSUPPORTED.contains(&k) => return Err(BadArgs::Fail(format!("-{k}: not supported by this stack"))),
            k => return Err(BadArgs::Usage(format!("botched keyword: {k}"))),
        }
    }
    // Trailing arguments after the gateway: NetBSD's old forms (0: interface route, 1-9: via
    // a gateway), else a netmask.
    match rest.as_slice() {
        [] => {}
        [x] if x == "0" => {
            if !quiet {
                r.warnings.push("old usage of trailing 0, assuming route to if".into());
            }
            iface = true;
        }
        [x] if x.len() == 1 && x.as_bytes()[0].is_ascii_digit() => {
            if !quiet {
                r.warnings
                    .push("old usage of trailing digit, assuming route via gateway".into());
            }
            iface = false;
        }
        [x] => {
            netmask = Some(x.clone());
            net = true;
        }
        [_, x, ..] => return Err(BadArgs::Usage(format!("botched keyword: {x}"))),
    }
    let Some(dest) = dest else {
        return Err(BadArgs::Fail("missing destination specification".into()));
    };
    if cmd == "add" && gateway.is_none() {
        return Err(BadArgs::Fail("missing gateway specification".into()));
    }
    if host && net {
        return Err(BadArgs::Fail("-host and -net conflict".into()));
    }
    let inet6 = r.inet6;
    let netmask = match netmask {
        Some(m) if inet6 => Some(match m.strip_prefix('/') {
            Some(l) => parse_prefixlen_af(l, true)?,
            None => m
                .parse::<Ipv6Addr>()
                .ok()
                .and_then(rtutil::mask_len6)
                .ok_or_else(|| BadArgs::Fail(format!("{m}: bad value")))?,
        }),
        Some(m) => Some(parse_netmask(&m)?),
        None => None,
    };
    let prefixlen = prefixlen.map(|p| parse_prefixlen_af(&p, inet6)).transpose()?;

    if inet6 {
        parse_dest6(&mut r, &dest, net || prefixlen.is_some(), host, netmask.or(prefixlen))?;
    } else {
        parse_dest4(&mut r, &dest, net, host, netmask, prefixlen)?;
    }

    if let Some(t) = &ifa_text {
        r.ifa = Some(
            if inet6 {
                addr6(t).map(|(a, _)| IpAddr::V6(a))
            } else {
                host_addr(t).map(IpAddr::V4)
            }
            .ok_or_else(|| BadArgs::Fail(format!("{t}: bad value")))?,
        );
    }
    if let Some(g) = &gateway {
        let as_if = (iface || link) && !g.is_empty() && g.chars().all(|c| c.is_ascii_alphanumeric());
        let parsed = if link {
            None
        } else if inet6 {
            addr6(g).map(|(a, z)| {
                r.gw_zone = z;
                IpAddr::V6(a)
            })
        } else {
            host_addr(g).map(IpAddr::V4)
        };
        match parsed {
            Some(a) => r.gateway = Some(a),
            // `-interface en0` / `-link en0`: the interface by name (NetBSD wants its address
            // or a link-level address).
            None if as_if => {
                if r.ifp.is_none() {
                    r.ifp = Some(g.clone());
                }
                iface = true;
            }
            None => return Err(BadArgs::Fail(format!("{g}: bad value"))),
        }
    }
    r.gateway_text = gateway;
    r.flags |= rtf::UP;
    if r.is_host() {
        r.flags |= rtf::HOST;
    }
    if !iface {
        r.flags |= rtf::GATEWAY;
    }
    Ok(r)
}

/// An IPv4 destination, as NetBSD's getaddr(RTA_DST) reads it.
fn parse_dest4(
    r: &mut RouteArgs,
    dest: &str,
    mut net: bool,
    host: bool,
    netmask: Option<u8>,
    prefixlen: Option<u8>,
) -> Result<(), BadArgs> {
    let bad = || BadArgs::Fail(format!("{dest}: bad value"));
    let (dst, mut len): (u32, Option<u8>) = if dest == "default" {
        net = true;
        r.dest_text = dest.to_string();
        (0, Some(0))
    } else if let Some((a, l)) = dest.split_once('/') {
        r.dest_text = a.to_string();
        let v = if net {
            rtutil::inet_network(a).map(|n| rtutil::make_net_and_mask(n).0)
        } else {
            rtutil::inet_aton(a)
        };
        let l = parse_prefixlen(l)?;
        (v.ok_or_else(bad)?, Some(l))
    } else {
        r.dest_text = dest.to_string();
        let class = |(a, m): (u32, u32)| (a, rtutil::mask_len(m));
        match rtutil::inet_aton(dest).filter(|_| !net) {
            Some(v) if rtutil::inet_lnaof(v) != 0 => (v, None),
            Some(v) => class(rtutil::make_net_and_mask(v)),
            None => match rtutil::inet_network(dest) {
                Some(n) => class(rtutil::make_net_and_mask(n)),
                None => (u32::from(rtutil::host_by_name(dest).ok_or_else(bad)?), None),
            },
        }
    };
    if let Some(m) = netmask {
        len = Some(m);
    }
    if let Some(p) = prefixlen {
        len = Some(p);
    }
    if host {
        len = None;
    }
    // A /32 given as such is a host route, as NetBSD's prefixlen() says; `-net` keeps it a
    // network (the stack still marks a /32 as a host route).
    if len == Some(32) && !net {
        len = None;
    }
    r.dst = IpAddr::V4(Ipv4Addr::from(dst));
    r.prefixlen = len;
    Ok(())
}

/// An IPv6 destination: `default`, `ADDR[%zone]`, `ADDR/LEN`, with `-prefixlen` or an IPv6
/// `-netmask`; without a length a host route (/128).
fn parse_dest6(r: &mut RouteArgs, dest: &str, net: bool, host: bool, len: Option<u8>) -> Result<(), BadArgs> {
    let bad = || BadArgs::Fail(format!("{dest}: bad value"));
    r.dest_text = dest.split('/').next().unwrap_or(dest).to_string();
    let (a, mut l) = if dest == "default" {
        (Ipv6Addr::UNSPECIFIED, Some(0))
    } else if let Some((a, l)) = dest.split_once('/') {
        let (a, z) = addr6(a).ok_or_else(bad)?;
        r.dst_zone = z;
        (a, Some(parse_prefixlen_af(l, true)?))
    } else {
        let (a, z) = addr6(dest).ok_or_else(bad)?;
        r.dst_zone = z;
        (a, None)
    };
    if let Some(n) = len {
        l = Some(n);
    }
    if host && len.is_none() {
        l = None;
    }
    if l.is_none() && net {
        return Err(BadArgs::Fail(format!("{dest}: -net needs -prefixlen or a length")));
    }
    if l == Some(128) && !net {
        l = None;
    }
    let v = u128::from(a) & u128::MAX.checked_shl(128 - u32::from(l.unwrap_or(128))).unwrap_or(0);
    r.dst = IpAddr::V6(Ipv6Addr::from(v));
    r.prefixlen = l;
    Ok(())
}

/// route(8)'s words for the errors of the routing socket.
fn route_strerror(e: &Error) -> String {
    match e.errno() {
        Some(libc::ESRCH) => "not in table".into(),
        Some(libc::EBUSY) => "entry in use".into(),
        Some(libc::ENOBUFS) => "routing table overflow".into(),
        // NetBSD's strerror wording (Linux's ends "by protocol").
        Some(libc::EAFNOSUPPORT) => "Address family not supported by protocol family".into(),
        _ => e.strerror(),
    }
}

fn socket_fail(e: &Error) {
    match e {
        Error::Errno { .. } => eprintln!("{PROG}: writing to routing socket: {}", route_strerror(e)),
        other => eprintln!("{PROG}: {other}"),
    }
}

fn usage(msg: Option<&str>) -> ExitCode {
    if let Some(m) = msg {
        eprintln!("{PROG}: {m}");
    }
    eprintln!("{USAGE}");
    ExitCode::from(crate::common::usage_code(PROG))
}

fn bad_args(b: BadArgs) -> ExitCode {
    match b {
        BadArgs::Usage(m) => usage(Some(&m)),
        BadArgs::Fail(m) => {
            eprintln!("{PROG}: {m}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let (args, rest) = crate::common::split_at_first_word(args);
    // NetBSD names a bad command word the same way as a bad keyword.
    if let Some(c) = args
        .get(1..)
        .and_then(|a| a.iter().find(|a| !a.to_string_lossy().starts_with('-')))
    {
        let c = c.to_string_lossy();
        if !["add", "delete", "change", "get", "show", "flush", "flushall", "monitor"].contains(&c.as_ref()) {
            return usage(Some(&format!("botched keyword: {c}")));
        }
    }
    let m = match parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let o = Opts {
        flush: m.get_flag("flush"),
        numeric: m.get_flag("numeric"),
        quiet: m.get_flag("quiet"),
        spaced: m.get_flag("spaced"),
        short: m.get_flag("short"),
        verbose: m.get_flag("verbose"),
        json: m.get_flag("json"),
    };
    let cmd = match m.get_one::<String>("command") {
        Some(c) => c.clone(),
        None if o.flush => "flush".to_string(),
        None => return usage(None),
    };
    if o.json && !matches!(cmd.as_str(), "show" | "get") {
        return usage(Some("--json goes with show and get"));
    }
    // Check the arguments before touching the stack: a bad line changes nothing.
    let mut family = RtFamily::Any;
    let req = match cmd.as_str() {
        "add" | "delete" | "change" | "get" => match parse_route(&cmd, &rest, o.quiet) {
            Ok(r) => Some(r),
            Err(b) => return bad_args(b),
        },
        "show" | "flush" | "flushall" => {
            match family_args(&rest) {
                Ok(f) => family = f,
                Err(b) => return bad_args(b),
            }
            None
        }
        _ => None,
    };
    let monitor_count = if cmd == "monitor" {
        match rest.as_slice() {
            [] => None,
            [c, n] if c == "-c" => match n.parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => return bad_args(BadArgs::Fail(format!("{n}: bad value"))),
            },
            [x, ..] => return usage(Some(&format!("botched keyword: {x}"))),
        }
    } else {
        None
    };
    let mut s = match open_stack(PROG) {
        Ok(s) => s,
        Err(c) => return c,
    };
    if o.flush && cmd != "flush" && cmd != "flushall" && cmd != "show" && cmd != "monitor" {
        if let Err(c) = flush(&mut s, &o, false, RtFamily::Any) {
            return c;
        }
    }
    let r = match (cmd.as_str(), req) {
        ("show", _) => show(&mut s, &o, family),
        ("flush", _) => flush(&mut s, &o, false, family),
        ("flushall", _) => flush(&mut s, &o, true, family),
        ("monitor", _) => monitor(&mut s, &o, monitor_count),
        ("get", Some(r)) => get(&mut s, &o, &r),
        (_, Some(r)) => change_table(&mut s, &o, &cmd, &r),
        _ => Err(usage(None)),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(c) => c,
    }
}

/// The optional address family of show and flush: `-inet` or `-inet6`.
fn family_args(rest: &[String]) -> Result<RtFamily, BadArgs> {
    match rest {
        [] => Ok(RtFamily::Any),
        [f] if f == "-inet" => Ok(RtFamily::Inet),
        [f] if f == "-inet6" => Ok(RtFamily::Inet6),
        [f, ..] => Err(BadArgs::Usage(format!(
            "botched keyword: {}",
            f.trim_start_matches('-')
        ))),
    }
}

/// The routing message a command writes.
fn rtm_of(cmd: &str) -> fn(RtMsg) -> Msg {
    match cmd {
        "add" => Msg::RtAdd,
        "delete" => Msg::RtDelete,
        "change" => Msg::RtChange,
        _ => Msg::RtGet,
    }
}

/// With -v, the message about to be written, as route(8) shows it.
fn print_request(s: &Stack, cmd: &str, m: &RtMsg, names: &mut Names) {
    let msg = rtm_of(cmd)(m.clone());
    let seq = s.next_seq();
    let len = encode(&msg, seq, std::process::id(), 0, 0).len();
    print!("{}", format_msg(len, std::process::id(), seq, 0, &msg, &[], names));
}

/// add, delete and change: `add net 10.1.0.0: gateway 10.0.0.1`, or the error appended.
fn change_table(s: &mut Stack, o: &Opts, cmd: &str, r: &RouteArgs) -> Result<(), ExitCode> {
    for w in &r.warnings {
        eprintln!("{PROG}: {w}");
    }
    let mut names = Names::new(o.numeric);
    let ifs = zones_ifs(s, r);
    let m = r.msg(&ifs).map_err(bad_args)?;
    if o.verbose {
        print_request(s, cmd, &m, &mut names);
    }
    let res = match cmd {
        "add" => s.route_add(m),
        "delete" => s.route_delete(m),
        _ => s.route_change(m),
    };
    if let Err(e) = &res {
        socket_fail(e);
    }
    if !o.quiet {
        let mut line = format!("{cmd} {} {}", if r.is_host() { "host" } else { "net" }, r.dest_text);
        if let Some(g) = &r.gateway_text {
            line += &format!(": gateway {g}");
        }
        if let Err(e) = &res {
            line += &format!(": {}", route_strerror(e));
        }
        println!("{line}");
    }
    match res {
        Ok(_) => Ok(()),
        Err(_) => Err(ExitCode::from(EXIT_FAILURE)),
    }
}

/// The interfaces, for the gateways of local routes; an empty list if the stack will not say.
fn interfaces(s: &mut Stack) -> Vec<IfInfo> {
    s.if_list(None).unwrap_or_default()
}

/// The interfaces when a `%zone` needs naming, else none: asking costs a message, and
/// route's requests carry the seq NetBSD's would.
fn zones_ifs(s: &mut Stack, r: &RouteArgs) -> Vec<IfInfo> {
    if r.dst_zone.is_some() || r.gw_zone.is_some() {
        interfaces(s)
    } else {
        Vec::new()
    }
}

/// `route get`: the route a destination takes, in NetBSD's block.
fn get(s: &mut Stack, o: &Opts, r: &RouteArgs) -> Result<(), ExitCode> {
    let mut names = Names::new(o.numeric);
    let ifs = zones_ifs(s, r);
    let m = RtMsg {
        ifp: None,
        ..r.msg(&ifs).map_err(bad_args)?
    };
    if o.verbose {
        print_request(s, "get", &m, &mut names);
    }
    let got = s.route_get(m.clone()).map_err(|e| {
        socket_fail(&e);
        ExitCode::from(EXIT_FAILURE)
    })?;
    let ifs = if ifs.is_empty() { interfaces(s) } else { ifs };
    if o.json {
        let mut v = rtutil::route_json(&got, &ifs);
        v["route_to"] = serde_json::json!(r.dst.to_string());
        println!("{v}");
        return Ok(());
    }
    if o.short {
        return match got.gateway.filter(|_| got.rtm_flags & rtf::GATEWAY != 0) {
            Some(g) => {
                println!("{}", rtutil::ip_name(g, got.gateway_scope, &ifs, &mut names));
                Ok(())
            }
            None => Err(ExitCode::from(EXIT_FAILURE)),
        };
    }
    let to = rtutil::ip_name(r.dst, m.dst_scope, &ifs, &mut names);
    print!("{}", format_get(&to, &got, &ifs, &mut names, unix_now()));
    if o.verbose {
        print!("{}", common_tail(&got, &ifs, &mut names));
    }
    Ok(())
}

/// Seconds since the epoch, for the expire column.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A route's mask as `route get` prints it: `default` for a zero-length one, else the mask
/// address.
fn mask_text(r: &RtMsg, len: u8) -> String {
    if len == 0 {
        "default".to_string()
    } else if r.is_inet6() {
        rtutil::len_mask6(len).to_string()
    } else {
        Ipv4Addr::from(rtutil::len_mask(len)).to_string()
    }
}

/// NetBSD's print_getmsg: the route, `flags: 0x%x<NAMES>`, and the metrics with `L` after
/// each locked one (rtt and rttvar in milliseconds, expire as seconds from now).
fn format_get(to: &str, g: &RtMsg, ifs: &[IfInfo], names: &mut Names, now: i64) -> String {
    let mut out = format!("   route to: {to}\n");
    let dst = g.dst.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    out += &format!("destination: {}\n", rtutil::ip_name(dst, g.dst_scope, ifs, names));
    if let Some(len) = g.prefixlen {
        out += &format!("       mask: {}\n", mask_text(g, len));
    }
    if let Some(gw) = g.gateway.filter(|_| g.rtm_flags & rtf::GATEWAY != 0) {
        out += &format!("    gateway: {}\n", rtutil::ip_name(gw, g.gateway_scope, ifs, names));
    }
    if let Some(a) = g.ifa {
        out += &format!(" local addr: {}\n", rtutil::ip_name(a, 0, ifs, names));
    }
    if let Some(i) = &g.ifp {
        out += &format!("  interface: {i}\n");
    }
    out += &format!("      flags: {}\n", rtutil::route_flags_hex(g.rtm_flags));
    out += " recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire\n";
    let lock = |bit: u32| if g.rmx_locks & bit != 0 { 'L' } else { ' ' };
    let msec = |us: u32| (i64::from(us) + 500) / 1000;
    let expire = if g.rmx.expire != 0 { g.rmx.expire - now } else { 0 };
    let cols: [(i64, u32); 8] = [
        (i64::from(g.rmx.recvpipe), rtv::RPIPE),
        (i64::from(g.rmx.sendpipe), rtv::SPIPE),
        (i64::from(g.rmx.ssthresh), rtv::SSTHRESH),
        (msec(g.rmx.rtt), rtv::RTT),
        (msec(g.rmx.rttvar), rtv::RTTVAR),
        (i64::from(g.rmx.hopcount), rtv::HOPCOUNT),
        (i64::from(g.mtu), rtv::MTU),
        (expire, rtv::EXPIRE),
    ];
    let cells: Vec<String> = cols.iter().map(|(v, b)| format!("{v:>8}{}", lock(*b))).collect();
    out += &cells.join(" ");
    out += "\n";
    out
}

/// `route show`: the table, as `netstat -r`.
fn show(s: &mut Stack, o: &Opts, family: RtFamily) -> Result<(), ExitCode> {
    let mut routes = s
        .route_dump()
        .map_err(|e| crate::common::fail(PROG, format!("route dump: {e}")))?;
    routes.retain(|r| match family {
        RtFamily::Any => true,
        RtFamily::Inet => !r.is_inet6(),
        RtFamily::Inet6 => r.is_inet6(),
    });
    rtutil::sort_routes(&mut routes);
    let ifs = interfaces(s);
    if o.json {
        let v: Vec<serde_json::Value> = routes.iter().map(|r| rtutil::route_json(r, &ifs)).collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        print!("{}", rtutil::routing_tables(&routes, &ifs, o.numeric, o.spaced, family));
    }
    Ok(())
}

/// `route flush` / `flushall`: each route removed, `DEST GATEWAY done`.
fn flush(s: &mut Stack, o: &Opts, all: bool, family: RtFamily) -> Result<(), ExitCode> {
    let ifs = interfaces(s);
    let mut gone = s.route_flush(all, family).map_err(|e| {
        socket_fail(&e);
        ExitCode::from(EXIT_FAILURE)
    })?;
    rtutil::sort_routes(&mut gone);
    let mut names = Names::new(o.numeric);
    if o.verbose {
        println!("Examining routing table from sysctl");
    }
    for r in &gone {
        if o.quiet {
            continue;
        }
        if o.verbose {
            let msg = Msg::RtDelete(r.clone());
            let len = encode(&msg, 0, std::process::id(), 0, 0).len();
            print!("{}", format_msg(len, std::process::id(), 0, 0, &msg, &ifs, &mut names));
        } else {
            let dst = rtutil::dest_name(r, &ifs, &mut names);
            let gw = rtutil::gateway_name(r, &ifs, &mut names);
            println!("{dst:<20.20} {gw:<20.20} done");
        }
    }
    let _ = std::io::stdout().flush();
    Ok(())
}

/// `route monitor`: every routing message as it comes, until interrupted (or `-c count`).
fn monitor(s: &mut Stack, o: &Opts, count: Option<u64>) -> Result<(), ExitCode> {
    s.subscribe()
        .map_err(|e| crate::common::fail(PROG, format!("subscribe: {e}")))?;
    let mut names = Names::new(o.numeric);
    let mut ifs = interfaces(s);
    let mut seen = 0u64;
    let mut out = std::io::stdout();
    while count.is_none_or(|c| seen < c) {
        let f = match s.next_broadcast_frame(None) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => return Err(crate::common::fail(PROG, format!("read from routing socket: {e}"))),
        };
        if matches!(f.msg, Msg::NewAddr(_) | Msg::DelAddr(_) | Msg::IfAnnounce(_)) {
            ifs = interfaces(s);
        }
        let text = format!(
            "got message of size {} on {}{}",
            f.hdr.len,
            ctime_now(),
            format_msg(
                f.hdr.len as usize,
                f.hdr.pid,
                f.hdr.seq,
                f.hdr.errno,
                &f.msg,
                &ifs,
                &mut names
            )
        );
        if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
            // Standard output went away (a closed pipe): nothing more to say.
            return Ok(());
        }
        seen += 1;
    }
    Ok(())
}

/// ctime(3) of now, with its newline: `Thu Nov 27 22:10:00 2025\n`.
fn ctime_now() -> String {
    let mut buf = [0 as libc::c_char; 64];
    // SAFETY: time(NULL) reads the clock; ctime_r writes at most 26 bytes into a 64-byte
    // buffer and returns it (or NULL on failure, which is checked).
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        if libc::ctime_r(&t, buf.as_mut_ptr()).is_null() {
            return "?\n".into();
        }
        std::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    }
}

/// Interface flags as route(8) names them (its ifnetflags).
fn if_flags(f: u32) -> String {
    let names: Vec<(u32, &str)> = iff::NAMES
        .iter()
        .map(|(b, n)| (*b, if *b == iff::POINTOPOINT { "PTP" } else { *n }))
        .collect();
    rtutil::bits(f, &names)
}

/// `sockaddrs: <DST,GATEWAY>` and the addresses, each after a space (pmsg_addrs).
fn addrs_block(list: &[(u32, String)]) -> String {
    if list.is_empty() {
        return "\n".into();
    }
    let bits = list.iter().fold(0, |b, (f, _)| b | f);
    let mut out = format!("\nsockaddrs: {}\n", rtutil::bits(bits, rta::NAMES));
    for (_, v) in list {
        out += &format!(" {v}");
    }
    out + "\n"
}

/// The addresses of a route message.
fn rt_addrs(r: &RtMsg, ifs: &[IfInfo], names: &mut Names) -> Vec<(u32, String)> {
    let mut v = Vec::new();
    if let Some(d) = r.dst {
        v.push((rta::DST, rtutil::ip_name(d, r.dst_scope, ifs, names)));
    }
    if r.gateway.is_some() || r.rtm_index != 0 || r.rtm_flags & rtf::LOCAL != 0 {
        v.push((rta::GATEWAY, rtutil::gateway_name(r, ifs, names)));
    }
    if let Some(l) = r.prefixlen {
        v.push((rta::NETMASK, mask_text(r, l)));
    }
    if let Some(i) = &r.ifp {
        v.push((rta::IFP, i.clone()));
    }
    if let Some(a) = r.ifa {
        v.push((rta::IFA, rtutil::ip_name(a, 0, ifs, names)));
    }
    v
}

/// `locks:  inits: ` and the addresses (pmsg_common).
fn common_tail(r: &RtMsg, ifs: &[IfInfo], names: &mut Names) -> String {
    let mut inits = r.rtm_inits;
    if r.mtu != 0 {
        inits |= rtv::MTU;
    }
    format!(
        "\nlocks: {} inits: {}{}",
        rtutil::bits(r.rmx_locks, rtv::NAMES),
        rtutil::bits(inits, rtv::NAMES),
        addrs_block(&rt_addrs(r, ifs, names))
    )
}

/// One routing message as `route monitor` prints it (NetBSD's print_rtmsg).
fn format_msg(len: usize, pid: u32, seq: u32, errno: i32, msg: &Msg, ifs: &[IfInfo], names: &mut Names) -> String {
    let rt = |what: &str, r: &RtMsg, names: &mut Names| {
        format!(
            "{what}: len {len}, pid: {pid}, seq {seq}, errno {errno}, flags:{}{}",
            rtutil::route_flags(r.rtm_flags),
            common_tail(r, ifs, names)
        )
    };
    match msg {
        Msg::RtAdd(r) => rt("RTM_ADD: Add Route", r, names),
        Msg::RtDelete(r) => rt("RTM_DELETE: Delete Route", r, names),
        Msg::RtChange(r) => rt("RTM_CHANGE: Change Metrics, Flags or Gateway", r, names),
        Msg::RtGet(r) => rt("RTM_GET: Report Metrics", r, names),
        Msg::RtMiss(r) => rt("RTM_MISS: Lookup failed on this address", r, names),
        Msg::NewAddr(a) | Msg::DelAddr(a) => {
            let what = if matches!(msg, Msg::NewAddr(_)) {
                "RTM_NEWADDR: address being added to iface"
            } else {
                "RTM_DELADDR: address being removed from iface"
            };
            let mut list = vec![
                (rta::NETMASK, a.netmask.to_string()),
                (rta::IFP, a.ifname.clone()),
                (rta::IFA, a.ifa.to_string()),
            ];
            if let Some(b) = a.brd {
                list.push((rta::BRD, b.to_string()));
            }
            format!(
                "{what}: len {len}, metric {}, flags:{}{}",
                a.ifam_metric,
                rtutil::route_flags(a.ifam_flags),
                addrs_block(&list)
            )
        }
        Msg::IfInfo(i) => {
            let state = match i.ifm_data.ifi_link_state {
                LINK_STATE_UP => "carrier: active".to_string(),
                LINK_STATE_DOWN => "carrier: no carrier".to_string(),
                0 => "carrier: unknown".to_string(),
                x => format!("carrier: 0x{x:x}"),
            };
            format!(
                "RTM_IFINFO: iface status change: len {len}, if# {}, {state}, flags:{}{}",
                i.ifm_index,
                if_flags(i.ifm_flags),
                addrs_block(&[(rta::IFP, i.ifname.clone())])
            )
        }
        Msg::IfAnnounce(a) => {
            let what = match a.ifan_what {
                IFAN_ARRIVAL => "arrival".to_string(),
                IFAN_DEPARTURE => "departure".to_string(),
                x => format!("#{x}"),
            };
            format!(
                "RTM_IFANNOUNCE: iface arrival/departure: len {len}, if# {}, name {}, what: {what}\n",
                a.ifan_index, a.ifan_name
            )
        }
        other => format!(
            "#{}: len {len}\n",
            pktbox_stack::msg::Msg::type_name(other.mtype()).unwrap_or("?")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(cmd: &str, s: &str) -> Result<RouteArgs, BadArgs> {
        parse_route(cmd, &s.split_whitespace().map(String::from).collect::<Vec<_>>(), false)
    }

    fn ok(cmd: &str, s: &str) -> (String, Option<u8>, u32) {
        let r = p(cmd, s).unwrap();
        (r.dst.to_string(), r.prefixlen, r.flags)
    }

    const UGS: u32 = rtf::UP | rtf::GATEWAY | rtf::STATIC;

    #[test]
    fn destinations_as_netbsd_reads_them() {
        // Short forms: host unless -net.
        assert_eq!(
            ok("add", "128.32 10.0.0.1"),
            ("128.0.0.32".into(), None, UGS | rtf::HOST)
        );
        assert_eq!(ok("add", "128.32.130 10.0.0.1").0, "128.32.0.130");
        assert_eq!(ok("add", "-net 128.32 10.0.0.1"), ("128.32.0.0".into(), Some(16), UGS));
        assert_eq!(
            ok("add", "-net 128.32.130 10.0.0.1"),
            ("128.32.130.0".into(), Some(24), UGS)
        );
        assert_eq!(ok("add", "-net 10 10.0.0.1"), ("10.0.0.0".into(), Some(8), UGS));
        assert_eq!(ok("add", "-net 10.1 10.0.0.1"), ("10.1.0.0".into(), Some(16), UGS));
        assert_eq!(
            ok("add", "-net 192.168 10.0.0.1"),
            ("192.168.0.0".into(), Some(24), UGS)
        );
        // A zero host part (by class) makes a network.
        assert_eq!(ok("add", "10.0.0.0 10.0.0.1"), ("10.0.0.0".into(), Some(8), UGS));
        assert_eq!(ok("add", "172.16.0.0 10.0.0.1"), ("172.16.0.0".into(), Some(16), UGS));
        assert_eq!(ok("add", "192.168.1.0 10.0.0.1"), ("192.168.1.0".into(), Some(24), UGS));
        // ... and a non-zero one a host, even when it looks like a subnet.
        assert_eq!(
            ok("add", "10.1.0.0 10.0.0.1"),
            ("10.1.0.0".into(), None, UGS | rtf::HOST)
        );
        assert_eq!(ok("add", "-host 10.0.0.0 10.0.0.1").1, None);
        // NET/LEN.
        let r = p("add", "10.1.0.0/16 10.0.0.1").unwrap();
        assert_eq!(
            (r.dst.to_string(), r.prefixlen, r.dest_text.as_str()),
            ("10.1.0.0".into(), Some(16), "10.1.0.0")
        );
        assert_eq!(ok("add", "10.9.9.9/32 10.0.0.1").1, None);
        assert_eq!(ok("add", "-net 10.1/16 10.0.0.1"), ("10.1.0.0".into(), Some(16), UGS));
        // Without -net, `10.1` is inet_aton's 10.0.0.1 (the stack masks it).
        assert_eq!(ok("add", "10.1/16 10.0.0.1"), ("10.0.0.1".into(), Some(16), UGS));
        // default.
        let r = p("add", "default 10.0.0.1").unwrap();
        assert_eq!(
            (r.dst, r.prefixlen, r.dest_text.as_str()),
            (IpAddr::V4(Ipv4Addr::UNSPECIFIED), Some(0), "default")
        );
        assert_eq!(ok("add", "0.0.0.0 10.0.0.1").1, Some(0));
    }

    #[test]
    fn netmask_forms() {
        for m in [
            "-netmask 255.255.0.0",
            "-netmask 0xffff0000",
            "-prefixlen 16",
            "-netmask /16",
        ] {
            assert_eq!(ok("add", &format!("-net 10.1.0.0 10.0.0.1 {m}")).1, Some(16), "{m}");
            assert_eq!(ok("add", &format!("{m} 10.1.0.0 10.0.0.1")).1, Some(16), "{m}");
        }
        // A netmask after the gateway, as the third argument.
        assert_eq!(ok("add", "10.1.0.0 10.0.0.1 255.255.0.0").1, Some(16));
        assert_eq!(
            ok("add", "-net 192.168.1.0 -netmask 255.255.255.240 10.200.0.1").1,
            Some(28)
        );
        assert_eq!(ok("add", "-net 10.1 10.0.0.1 -netmask 255.255.255.0").1, Some(24));
        assert_eq!(
            p("add", "-net 10.1 10.0.0.1 -netmask 255.0.255.0"),
            Err(BadArgs::Fail(
                "255.0.255.0: non-contiguous netmask not supported".into()
            ))
        );
        assert_eq!(
            p("add", "10.1.0.0/33 10.0.0.1"),
            Err(BadArgs::Fail("33: bad value".into()))
        );
        assert_eq!(
            p("add", "-net 10 10.0.0.1 -prefixlen x"),
            Err(BadArgs::Fail("x: bad value".into()))
        );
    }

    #[test]
    fn inet6_destinations() {
        let r = p("add", "-inet6 2001:db8::/64 fe80::1%en0").unwrap();
        assert_eq!(r.dst, "2001:db8::".parse::<IpAddr>().unwrap());
        assert_eq!((r.prefixlen, r.dest_text.as_str()), (Some(64), "2001:db8::"));
        assert_eq!(r.gateway, Some("fe80::1".parse().unwrap()));
        assert_eq!(r.gw_zone.as_deref(), Some("en0"));
        assert_eq!(r.flags, UGS);
        let r = p("add", "-inet6 2001:db8:1:2:: -prefixlen 48 2001:db8::1").unwrap();
        assert_eq!((r.dst.to_string(), r.prefixlen), ("2001:db8:1::".into(), Some(48)));
        let r = p("add", "-inet6 default fe80::1%2").unwrap();
        assert_eq!((r.dst.to_string(), r.prefixlen), ("::".into(), Some(0)));
        let r = p("add", "-inet6 2001:db8::5 2001:db8::1").unwrap();
        assert_eq!((r.prefixlen, r.flags & rtf::HOST), (None, rtf::HOST));
        let r = p("add", "-inet6 2001:db8::/64 -interface en0").unwrap();
        assert_eq!(
            (r.gateway, r.ifp.as_deref(), r.flags & rtf::GATEWAY),
            (None, Some("en0"), 0)
        );
        let r = p("add", "-inet6 2001:db8:: -netmask ffff:ffff:: 2001:db8::1").unwrap();
        assert_eq!(r.prefixlen, Some(32));
        assert_eq!(
            p("add", "-inet6 2001:db8::/129 2001:db8::1"),
            Err(BadArgs::Fail("129: bad value".into()))
        );
        // Without -inet6 an IPv6 address is no address, as on NetBSD.
        assert!(matches!(p("add", "2001:db8::1 10.0.0.1"), Err(BadArgs::Fail(_))));
        assert_eq!(
            p("add", "-inet6 10.1 ::1"),
            Err(BadArgs::Fail("10.1: bad value".into()))
        );
        assert!(matches!(
            p("add", "-inet6 2001:db8::/64 fe80::1%"),
            Err(BadArgs::Fail(_))
        ));
    }

    #[test]
    fn modifiers() {
        let r = p("add", "-net 10.2 -interface 10.0.0.2").unwrap();
        assert_eq!(r.flags, rtf::UP | rtf::STATIC);
        assert_eq!(r.gateway, Some("10.0.0.2".parse().unwrap()));
        let r = p("add", "-net 10.2 -iface en0").unwrap();
        assert_eq!((r.gateway, r.ifp.as_deref()), (None, Some("en0")));
        let r = p(
            "add",
            "-host 10.9.9.9 10.0.0.1 -reject -proto1 -proto2 -mtu 1400 -ifp en0",
        )
        .unwrap();
        assert_eq!(r.flags, UGS | rtf::HOST | rtf::REJECT | rtf::PROTO1 | rtf::PROTO2);
        assert_eq!((r.mtu, r.ifp.as_deref()), (1400, Some("en0")));
        let r = p("add", "10.9.9.9 10.0.0.1 -blackhole -nostatic").unwrap();
        assert_eq!(r.flags, rtf::UP | rtf::GATEWAY | rtf::HOST | rtf::BLACKHOLE);
        assert_eq!(
            p("add", "10.9.9.9 10.0.0.1 -static").unwrap().flags & rtf::STATIC,
            rtf::STATIC
        );
        // Metrics and locks: -lock locks the next metric only, -lockrest every later one.
        let r = p(
            "add",
            "10.9.9.9 10.0.0.1 -hopcount 3 -lock -mtu 1300 -rtt 20000 -lockrest -ssthresh 9 -expire 77",
        )
        .unwrap();
        assert_eq!(
            (r.rmx.hopcount, r.mtu, r.rmx.rtt, r.rmx.ssthresh, r.rmx.expire),
            (3, 1300, 20000, 9, 77)
        );
        assert_eq!(
            r.inits,
            rtv::HOPCOUNT | rtv::MTU | rtv::RTT | rtv::SSTHRESH | rtv::EXPIRE
        );
        assert_eq!(r.locks, rtv::MTU | rtv::SSTHRESH | rtv::EXPIRE);
        let r = p(
            "add",
            "-net 10.2 10.0.0.1 -ifa 10.0.0.9 -cloning -llinfo -xresolve -recvpipe 1 -sendpipe 2 -rttvar 3",
        )
        .unwrap();
        assert_eq!(r.ifa, Some("10.0.0.9".parse().unwrap()));
        assert_eq!(r.flags, UGS | rtf::CONNECTED | rtf::LLDATA | rtf::XRESOLVE);
        assert_eq!((r.rmx.recvpipe, r.rmx.sendpipe, r.rmx.rttvar), (1, 2, 3));
        assert_eq!(
            p("add", "-net 10.2 10.0.0.1 -connected -noconnected").unwrap().flags,
            UGS
        );
        let r = p("add", "-net 10.2 -link en0").unwrap();
        assert_eq!(
            (r.gateway, r.ifp.as_deref(), r.flags & rtf::GATEWAY),
            (None, Some("en0"), 0)
        );
        // Old trailing forms.
        let r = p("add", "10.9.9.9 10.0.0.2 0").unwrap();
        assert_eq!(r.flags & rtf::GATEWAY, 0);
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(
            p("add", "10.9.9.9 10.0.0.1 1").unwrap().flags & rtf::GATEWAY,
            rtf::GATEWAY
        );
        // Delete and get need no gateway; add does.
        assert_eq!(p("delete", "-net 10.1").unwrap().gateway_text, None);
        assert_eq!(
            ok("get", "10.1.2.3"),
            (
                "10.1.2.3".into(),
                None,
                rtf::UP | rtf::GATEWAY | rtf::HOST | rtf::STATIC
            )
        );
        assert_eq!(
            p("add", "-net 10.1"),
            Err(BadArgs::Fail("missing gateway specification".into()))
        );
        assert_eq!(
            p("get", ""),
            Err(BadArgs::Fail("missing destination specification".into()))
        );
    }

    #[test]
    fn bad_lines() {
        assert_eq!(
            p("add", "-bogus 10.1 10.0.0.1"),
            Err(BadArgs::Usage("botched keyword: bogus".into()))
        );
        assert_eq!(
            p("add", "10.1 10.0.0.1 -netmask"),
            Err(BadArgs::Usage("botched keyword: netmask".into()))
        );
        assert_eq!(
            p("add", "-host -net 10.1 10.0.0.1"),
            Err(BadArgs::Fail("-host and -net conflict".into()))
        );
        assert_eq!(
            p("add", "10.0.0.300 10.0.0.1"),
            Err(BadArgs::Fail("10.0.0.300: bad value".into()))
        );
        assert_eq!(
            p("add", "10.1 nohost.invalid"),
            Err(BadArgs::Fail("nohost.invalid: bad value".into()))
        );
        assert_eq!(p("add", "10.1 en0"), Err(BadArgs::Fail("en0: bad value".into())));
        assert!(matches!(p("add", "10.1 10.0.0.1 -hopcount x"), Err(BadArgs::Fail(_))));
        assert!(matches!(
            p("add", "10.1 10.0.0.1 -ifa nohost.invalid"),
            Err(BadArgs::Fail(_))
        ));
        assert!(matches!(p("add", "10.1 10.0.0.1 -proxy"), Err(BadArgs::Fail(_))));
        assert!(matches!(
            p("add", "10.1 10.0.0.1 255.255.0.0 extra"),
            Err(BadArgs::Usage(_))
        ));
        assert_eq!(family_args(&["-inet".into()]), Ok(RtFamily::Inet));
        assert_eq!(family_args(&["-inet6".into()]), Ok(RtFamily::Inet6));
        assert_eq!(family_args(&[]), Ok(RtFamily::Any));
        assert!(matches!(family_args(&["-foo".into()]), Err(BadArgs::Usage(_))));
    }

    #[test]
    fn get_block_like_netbsd() {
        let g = RtMsg {
            rtm_flags: UGS | rtf::DONE,
            rtm_index: 2,
            dst: Some("10.1.0.0".parse().unwrap()),
            gateway: Some("10.0.0.1".parse().unwrap()),
            prefixlen: Some(16),
            ifp: Some("en0".into()),
            ifa: Some("10.0.0.2".parse().unwrap()),
            mtu: 1400,
            ..Default::default()
        };
        let mut names = Names::new(true);
        assert_eq!(
            format_get("10.1.2.3", &g, &[], &mut names, 1000),
            "   route to: 10.1.2.3\n\
             destination: 10.1.0.0\n       mask: 255.255.0.0\n    gateway: 10.0.0.1\n \
             local addr: 10.0.0.2\n  interface: en0\n      flags: 0x843<UP,GATEWAY,DONE,STATIC>\n \
             recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire\n       \
             0         0         0         0         0         0      1400         0 \n"
        );
        // The default route, metrics with locks, an expiry 60 s ahead, rtt in ms.
        let d = RtMsg {
            dst: Some("0.0.0.0".parse().unwrap()),
            prefixlen: Some(0),
            ifa: None,
            mtu: 1280,
            rmx: RtMetrics {
                hopcount: 3,
                expire: 1060,
                recvpipe: 8192,
                sendpipe: 4096,
                ssthresh: 1000,
                rtt: 25_400,
                rttvar: 1_000,
            },
            rmx_locks: rtv::MTU | rtv::HOPCOUNT,
            ..g.clone()
        };
        assert_eq!(
            format_get("default", &d, &[], &mut names, 1000),
            "   route to: default\n\
             destination: default\n       mask: default\n    gateway: 10.0.0.1\n  \
             interface: en0\n      flags: 0x843<UP,GATEWAY,DONE,STATIC>\n \
             recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire\n    \
             8192      4096      1000        25         1         3L     1280L       60 \n"
        );
        // IPv6: the mask as an address, a link-local gateway with its zone.
        let v6 = RtMsg {
            dst: Some("2001:db8::".parse().unwrap()),
            prefixlen: Some(64),
            gateway: Some("fe80::1".parse().unwrap()),
            gateway_scope: 7,
            ifa: None,
            mtu: 0,
            ..g.clone()
        };
        let block = format_get("2001:db8::5", &v6, &[], &mut names, 0);
        assert!(
            block.contains("destination: 2001:db8::\n       mask: ffff:ffff:ffff:ffff::\n    gateway: fe80::1%7\n"),
            "{block}"
        );
    }

    #[test]
    fn monitor_lines_like_netbsd() {
        let r = RtMsg {
            rtm_flags: UGS | rtf::DONE,
            rtm_index: 2,
            dst: Some("10.1.0.0".parse().unwrap()),
            gateway: Some("10.0.0.1".parse().unwrap()),
            prefixlen: Some(16),
            ifp: Some("en0".into()),
            ifa: Some("10.0.0.2".parse().unwrap()),
            ..Default::default()
        };
        let mut names = Names::new(true);
        assert_eq!(
            format_msg(120, 42, 7, 0, &Msg::RtAdd(r), &[], &mut names),
            "RTM_ADD: Add Route: len 120, pid: 42, seq 7, errno 0, flags:<UP,GATEWAY,DONE,STATIC>\n\
             locks:  inits: \nsockaddrs: <DST,GATEWAY,NETMASK,IFP,IFA>\n 10.1.0.0 10.0.0.1 255.255.0.0 en0 10.0.0.2\n"
        );
    }
}
