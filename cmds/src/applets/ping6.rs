//! ping6: send ICMPv6 ECHO_REQUEST packets to network hosts, as NetBSD's (KAME's) ping6(8)
//! does, on the engine ping.rs keeps for both families (timing, statistics, flood output,
//! SIGINT/SIGQUIT handling); this file has what is IPv6's own: the options, the ICMPv6
//! packet and its messages, scope ids (`fe80::1%en0`, `-I en0`), and the Node Information
//! queries (RFC 4620).
//!
//! Output as KAME's: `PING6(56=40+8+8 bytes) SRC --> DST`, `16 bytes from ADDR,
//! icmp_seq=0 hlim=64 time=0.345 ms` (` (DUP!)` for a duplicate; `-v` adds ` dst=` our
//! address, the replies' destination), the statistics block
//! with `round-trip min/avg/max/std-dev`. The 8-byte timestamp (`struct tv32`) is always
//! used and the data is 8 bytes unless `-s` says otherwise. ICMPv6 messages other than
//! our echo replies (time exceeded, unreachable, packet too big) are printed only with
//! `-v`, as ping6's ICMPv6 filter passes them only then. Exit status: 0 if any reply
//! came, 2 if none, 1 for bad arguments and failures.
//!
//! Node Information: `-w` asks for the target's name (qtype 2 with the target address as
//! subject), `-W` the same in the 03 draft's form (no subject), `-t` for the qtypes it
//! supports, `-a addrtype` for its addresses; replies print as KAME's pr_pack does
//! (`24 bytes from fe80::1%en0: node1`, `NodeInfo Supported Qtypes 0-3`, the address list
//! with TTLs). The nonce is 8 bytes: the sequence number, then 6 random bytes a reply must
//! echo. `-H` looks up names for the addresses printed.
//!
//! As KAME's, ping6 sets IPV6_USE_MIN_MTU so that the stack fragments at 1280 bytes;
//! `-m` leaves the socket's default (the path MTU for unicast), `-mm` turns it off for
//! multicast too. `-b N` sets SO_SNDBUF and SO_RCVBUF.
//!
//! Refused, with a message: `-d` (no SO_DEBUG), `-g` (no IPV6_NEXTHOP),
//! `-N` (the NI group address needs the MD5 of the name; not done), `-P` (no IPsec),
//! `-x`, and intermediate hops (routing header type 0, RFC 5095). A time limit for the
//! whole run is NetBSD's `-X deadline`.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use pktbox_stack::msg::SockOpt;
use pktbox_stack::socket::{prefix_from_env, Error, RawSocket, Stack};
use pktbox_stack::wire::icmpv6 as ic;
use pktbox_stack::wire::nodeinfo as ni;

use super::ping::{flush, install_signals, Dst, Opts, Ping, ICMP_MINLEN};

const PROG: &str = "ping6";

/// IPv6's maximum payload less the ICMPv6 echo header (MAXDATALEN).
const MAXDATALEN: usize = 65535 - 40 - 8;
/// The default data: the 8-byte timestamp (ICMP6ECHOTMLEN).
const DEFDATALEN: usize = 8;
/// The IPv6 header.
const IP6_HDRLEN: usize = 40;
const IPPROTO_ICMPV6: u8 = 58;

const USAGE: &str = "ping6 [-dfHmnNoqtvwW] [-a addrtype] [-b bufsiz] [-c count] [-g gateway]\n      \
                     [-h hoplimit] [-I interface] [-i wait] [-l preload] [-p pattern]\n      \
                     [-S sourceaddr] [-s packetsize] [-x maxwait] [-X deadline] [hops...] host";

/// Options NetBSD's ping6 has and this one refuses, with why.
const REFUSED: &[(&str, &str)] = &[
    ("debug", "-d: SO_DEBUG is not supported"),
    ("gateway", "-g: IPV6_NEXTHOP is not supported by this stack"),
    (
        "nodeaddr",
        "-N: the node information multicast group (ff02::2:xxxx:xxxx) is not supported",
    ),
    ("policy", "-P: IPsec policies are not supported"),
    (
        "maxwait",
        "-x: a per-packet reply timeout is not supported (use -X deadline)",
    ),
];

/// A Node Information query ping6 sends instead of echo requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NiQuery {
    pub(super) qtype: u16,
    pub(super) code: u8,
    pub(super) flags: u16,
    /// The destination address is the subject (-w, -a); otherwise there is none.
    pub(super) subject: bool,
    /// The nonce's last 6 bytes; the first 2 are the sequence number.
    pub(super) nonce: [u8; 8],
}

impl NiQuery {
    fn new(qtype: u16, code: u8, flags: u16, subject: bool) -> NiQuery {
        let mut nonce = [0u8; 8];
        let got = std::fs::File::open("/dev/urandom").and_then(|mut f| {
            use std::io::Read;
            f.read_exact(&mut nonce)
        });
        if got.is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nonce = (t ^ u64::from(std::process::id()) << 32).to_be_bytes();
        }
        NiQuery {
            qtype,
            code,
            flags,
            subject,
            nonce,
        }
    }

    /// The query for sequence number `seq` (pinger's NI branches).
    pub(super) fn compose(&self, seq: u16, dst: &Ipv6Addr) -> Vec<u8> {
        let mut nonce = self.nonce;
        nonce[..2].copy_from_slice(&seq.to_be_bytes());
        let mut m = vec![0u8; ni::HEADER_LEN];
        ni::emit_header(&mut m, ni::NI_QUERY, self.code, self.qtype, self.flags, &nonce);
        if self.subject {
            m.extend_from_slice(&dst.octets());
        }
        m
    }

    /// The length of a query (pingerlen).
    fn len(&self) -> usize {
        ni::HEADER_LEN + if self.subject { 16 } else { 0 }
    }

    /// Whether a reply's nonce is ours (mynireply); the sequence number if so.
    fn mine(&self, r: &ni::NiPacket) -> Option<u16> {
        let n = r.nonce();
        (n[2..] == self.nonce[2..]).then(|| u16::from_be_bytes([n[0], n[1]]))
    }
}

/// `-a addrtype`: the Node Addresses flags (usage error for another letter).
fn addrtype(s: &str) -> Result<u16, String> {
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'a' => ni::NODEADDR_FLAG_ALL,
            'c' | 'C' => ni::NODEADDR_FLAG_COMPAT,
            'l' | 'L' => ni::NODEADDR_FLAG_LINKLOCAL,
            's' | 'S' => ni::NODEADDR_FLAG_SITELOCAL,
            'g' | 'G' => ni::NODEADDR_FLAG_GLOBAL,
            'A' => ni::NODEADDR_FLAG_ANYCAST,
            _ => return Err(String::new()),
        };
    }
    Ok(f)
}

pub fn command() -> Command {
    let val = |name: &'static str, short: char, value: &'static str, help: &'static str| {
        Arg::new(name)
            .short(short)
            .value_name(value)
            .allow_hyphen_values(true)
            .help(help)
    };
    let flag = |name: &'static str, short: char, help: &'static str| {
        Arg::new(name).short(short).action(ArgAction::SetTrue).help(help)
    };
    Command::new(PROG)
        .about("Send ICMPv6 ECHO_REQUEST packets to network hosts")
        .override_usage(USAGE)
        .after_help(
            "Replies print as `16 bytes from ADDR, icmp_seq=N hlim=H time=X ms`; a link-local \
             address carries its scope (`fe80::1%en0`). Other ICMPv6 messages (time exceeded, \
             unreachable, packet too big) print with -v. The summary comes when the count is \
             reached, at the deadline, or on SIGINT; SIGQUIT prints the statistics so far.\n\
             Node Information queries (RFC 4620) instead of echo requests: -w asks for the \
             target's name (`28 bytes from fe80::1%en0: node1`; -v adds the TTL), -W the same \
             in the 03 draft's form, -t for the qtypes it answers (`NodeInfo Supported Qtypes \
             0-3`), -a for its addresses, one per line with their TTL. A pktbox stack answers \
             them as net.inet6.icmp6.nodeinfo allows (sysctl(8)). Not supported: -d, -g, -N, \
             -P, -x and intermediate hops. Packets are fragmented at 1280 bytes unless -m.\n\
             Exit status: 0 if any reply came, 2 if none, 1 for bad arguments and failures.",
        )
        .disable_help_flag(true)
        .arg(Arg::new("help").long("help").action(ArgAction::Help).help("Print help"))
        .arg(val(
            "count",
            'c',
            "count",
            "Stop after sending (and receiving) count packets",
        ))
        .arg(flag("flood", 'f', "Flood ping (superuser only)"))
        .arg(val("hoplimit", 'h', "hoplimit", "Hop limit of the packets sent"))
        .arg(val(
            "interface",
            'I',
            "interface",
            "Send on this interface (the scope of a link-local destination)",
        ))
        .arg(val(
            "wait",
            'i',
            "wait",
            "Wait this many seconds between packets (default 1)",
        ))
        .arg(val(
            "preload",
            'l',
            "preload",
            "Send preload packets as fast as possible first",
        ))
        .arg(flag("numeric", 'n', "Numeric output only (always the case here)"))
        .arg(flag("once", 'o', "Exit successfully after the first reply"))
        .arg(val(
            "pattern",
            'p',
            "pattern",
            "Fill the data with up to 16 bytes given in hex",
        ))
        .arg(flag("quiet", 'q', "Print only the summary lines at start and end"))
        .arg(val("sourceaddr", 'S', "sourceaddr", "Send from this address"))
        .arg(val("size", 's', "packetsize", "Data bytes in each packet (default 8)"))
        .arg(flag(
            "verbose",
            'v',
            "List every ICMPv6 message received, not only echo replies",
        ))
        .arg(val(
            "deadline",
            'X',
            "deadline",
            "Stop after deadline seconds, whatever has been sent or received",
        ))
        .arg(val(
            "addrtype",
            'a',
            "addrtype",
            "Node Information Node Addresses query: a all interfaces, l link-local, s \
             site-local, g global, c IPv4-compatible, A anycast",
        ))
        .arg(flag("hostname", 'H', "Look up names for the addresses printed"))
        .arg(flag("supported", 't', "Node Information Supported Qtypes query"))
        .arg(flag("who", 'w', "Node Information Node Name query"))
        .arg(flag("whoold", 'W', "As -w, in the 03 draft's form (no subject)"))
        .arg(val(
            "bufsiz",
            'b',
            "bufsiz",
            "Socket buffer size (SO_SNDBUF and SO_RCVBUF)",
        ))
        .arg(
            Arg::new("nofrag")
                .short('m')
                .action(ArgAction::Count)
                .help("Do not fragment at the minimum MTU: once for unicast, twice for multicast too"),
        )
        // Refused (see REFUSED).
        .arg(flag("debug", 'd', "Not supported"))
        .arg(val("gateway", 'g', "gateway", "Not supported: IPV6_NEXTHOP"))
        .arg(flag("nodeaddr", 'N', "Not supported: the NI multicast group"))
        .arg(val("policy", 'P', "policy", "Not supported: IPsec"))
        .arg(val("maxwait", 'x', "maxwait", "Not supported (see -X)"))
        .arg(
            Arg::new("host")
                .value_name("host")
                .num_args(1..)
                .help("The host to ping (intermediate hops are not supported)"),
        )
}

/// Whether `s` is an IPv6 address, with or without a `%scope`.
pub(super) fn is_v6_literal(s: &str) -> bool {
    s.split('%').next().is_some_and(|a| a.parse::<Ipv6Addr>().is_ok())
}

/// `strtol` with nothing left over, in base 10 (ping6 reads its numbers so).
fn num(s: &str) -> Option<i64> {
    s.trim_start().parse().ok()
}

/// Reads ping6's command line into the engine's options; an error is what ping6 says
/// before it exits 1 (empty: the usage).
fn parse_opts(m: &clap::ArgMatches) -> Result<Opts, String> {
    for (name, why) in REFUSED {
        let given = match m.try_get_one::<String>(name) {
            Ok(v) => v.is_some(),
            Err(_) => m.get_flag(name),
        };
        if given {
            return Err(why.to_string());
        }
    }
    let s = |n: &str| m.get_one::<String>(n).map(String::as_str);
    let mut o = Opts {
        flood: m.get_flag("flood"),
        once: m.get_flag("once"),
        quiet: m.get_flag("quiet"),
        verbose: m.get_flag("verbose"),
        // KAME's ping6 always carries the 8-byte timestamp.
        compat: true,
        ..Opts::default()
    };
    if let Some(v) = s("count") {
        let n = num(v)
            .filter(|n| *n > 0 && *n <= i64::from(i32::MAX))
            .ok_or_else(|| format!("illegal number of packets -- {v}"))?;
        o.npackets = Some(n as u64);
    }
    if let Some(v) = s("hoplimit") {
        let h = num(v)
            .and_then(|h| u8::try_from(h).ok())
            .ok_or_else(|| format!("illegal hoplimit {v}"))?;
        o.ttl = Some(h);
    }
    if let Some(v) = s("wait") {
        let i: f64 = v
            .trim_start()
            .parse()
            .ok()
            .filter(|i: &f64| i.is_finite() && *i > 0.0)
            .ok_or_else(|| format!("illegal timing interval {v}"))?;
        o.interval = Some(i);
    }
    if let Some(v) = s("preload") {
        let n = num(v)
            .filter(|n| *n >= 0 && *n <= i64::from(i32::MAX))
            .ok_or_else(|| format!("illegal preload value -- {v}"))?;
        o.preload = n as u64;
    }
    if let Some(v) = s("size") {
        let n = num(v)
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("illegal datalen value -- {v}"))?;
        if n as u64 > MAXDATALEN as u64 {
            return Err(format!("datalen value too large, maximum is {MAXDATALEN}"));
        }
        o.datalen = Some(n as usize);
    }
    if let Some(v) = s("deadline") {
        o.maxwait = v
            .trim_start()
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite() && *w > 0.0)
            .ok_or_else(|| format!("illegal deadline -- {v}"))?;
    }
    if let Some(p) = s("pattern") {
        let bad = || format!("\"-p {p}\": patterns must be specified with 1-32 hex digits");
        if p.is_empty() || p.len() > 32 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        o.pattern = Some(
            p.as_bytes()
                .chunks(2)
                .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap_or("x"), 16).map_err(|_| bad()))
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(v) = s("sourceaddr") {
        o.src6 = Some(
            v.split('%')
                .next()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| format!("{v}: invalid source address"))?,
        );
    }
    // The last of -w -W -t -a wins, as in ping6's getopt loop; clap keeps no order, so
    // the precedence here is fixed: -a, -t, -W, -w.
    o.hostnames = m.get_flag("hostname");
    o.nofrag = m.get_count("nofrag");
    if let Some(v) = s("bufsiz") {
        o.sockbufsize = Some(
            v.parse()
                .ok()
                .filter(|n: &u32| *n > 0)
                .ok_or_else(|| "invalid socket buffer size".to_string())?,
        );
    }
    if m.get_flag("who") {
        o.ni = Some(NiQuery::new(ni::QTYPE_FQDN, ni::SUBJ_IPV6, 0, true));
    }
    if m.get_flag("whoold") {
        o.ni = Some(NiQuery::new(ni::QTYPE_FQDN, 0, 0, false));
    }
    if m.get_flag("supported") {
        o.ni = Some(NiQuery::new(
            ni::QTYPE_SUPTYPES,
            ni::SUBJ_FQDN,
            ni::SUPTYPE_FLAG_COMPRESS,
            false,
        ));
    }
    if let Some(a) = s("addrtype") {
        let f = addrtype(a)?;
        o.ni = Some(NiQuery::new(ni::QTYPE_NODEADDR, ni::SUBJ_IPV6, f, true));
    }
    o.ifname = s("interface").map(str::to_string);
    let hosts: Vec<&String> = m.get_many::<String>("host").map(|v| v.collect()).unwrap_or_default();
    match hosts.as_slice() {
        [h] => o.host = h.to_string(),
        [] => return Err(String::new()),
        _ => return Err("intermediate hops: routing headers (type 0) are not supported (RFC 5095)".into()),
    }
    Ok(o)
}

/// The destination: an IPv6 literal (with an optional `%scope`, a name or an index) or
/// a name with an IPv6 address, with the scope `-I` gives when the address has none.
fn resolve(host: &str, ifs: &[(u16, String)], ifname: Option<&str>) -> Result<SocketAddrV6, String> {
    let index_of = |name: &str| -> Result<u32, String> {
        if let Some((i, _)) = ifs.iter().find(|(_, n)| n == name) {
            return Ok(u32::from(*i));
        }
        match name.parse::<u32>() {
            Ok(i) if ifs.iter().any(|(x, _)| u32::from(*x) == i) => Ok(i),
            _ => Err(format!("{name}: invalid interface name")),
        }
    };
    let forced = ifname.map(index_of).transpose()?;
    let (addr, scope) = match host.split_once('%') {
        Some((a, s)) => {
            let a: Ipv6Addr = a
                .parse()
                .map_err(|_| format!("{host}: hostname nor servname provided, or not known"))?;
            (a, Some(index_of(s)?))
        }
        None => match host.parse::<Ipv6Addr>() {
            Ok(a) => (a, None),
            Err(_) => {
                let unknown = || format!("{host}: hostname nor servname provided, or not known");
                let found = (host, 0)
                    .to_socket_addrs()
                    .map_err(|_| unknown())?
                    .find_map(|a| match a {
                        SocketAddr::V6(a) => Some(*a.ip()),
                        SocketAddr::V4(_) => None,
                    });
                (found.ok_or_else(unknown)?, None)
            }
        },
    };
    if let (Some(s), Some(f)) = (scope, forced) {
        if s != f {
            return Err(format!("{host}: the scope differs from the interface -I names"));
        }
    }
    Ok(SocketAddrV6::new(addr, 0, 0, scope.or(forced).unwrap_or(0)))
}

/// An address as ping6 prints it: numeric, a scoped one with `%interface`.
fn pr_addr(a: &Ipv6Addr, scope: u32, ifs: &[(u16, String)]) -> String {
    let scoped = a.segments()[0] & 0xffc0 == 0xfe80 || (a.is_multicast() && a.segments()[0] & 0x000f <= 2);
    match ifs.iter().find(|(i, _)| u32::from(*i) == scope) {
        Some((_, n)) if scoped && scope != 0 => format!("{a}%{n}"),
        _ if scoped && scope != 0 => format!("{a}%{scope}"),
        _ => a.to_string(),
    }
}

/// The name the host's resolver gives an address (getnameinfo with NI_NAMEREQD), for -H.
fn lookup_name(a: &Ipv6Addr) -> Option<String> {
    // SAFETY: a zeroed sockaddr_in6 is a valid value; we fill in the family and address.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = a.octets();
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: the sockaddr and the buffer live across the call, with their true lengths.
    let r = unsafe {
        libc::getnameinfo(
            (&sa as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if r != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string into the buffer.
    let c = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(c.to_string_lossy().into_owned())
}

/// pr_addr: with -H a name when the resolver has one, else the numeric form.
fn pr_addr_h(a: &Ipv6Addr, scope: u32, ifs: &[(u16, String)], names: bool) -> String {
    if names {
        if let Some(n) = lookup_name(a) {
            return n;
        }
    }
    pr_addr(a, scope, ifs)
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let m = match crate::common::parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let o = match parse_opts(&m) {
        Ok(o) => o,
        Err(e) if e.is_empty() => return crate::common::usage(&command()),
        Err(e) => return crate::common::fail(PROG, e),
    };
    let root = nix::unistd::getuid().is_root();
    if o.flood && !root {
        return crate::common::fail(PROG, "Must be superuser to flood ping");
    }
    if o.preload > 0 && !root {
        return crate::common::fail(PROG, "Must be superuser to preload");
    }
    let interval = o.interval.unwrap_or(if o.flood { 0.01 } else { 1.0 });
    if interval < 1.0 && !root && !o.flood {
        return crate::common::fail(PROG, "Operation not permitted: only root may use interval < 1s");
    }
    run_opts(PROG, o, interval)
}

/// A run towards an IPv6 destination, for ping6 and for ping given an IPv6 address
/// (`prog` names the command in messages).
pub(super) fn run_opts(prog: &str, mut o: Opts, interval: f64) -> ExitCode {
    let prefix = prefix_from_env();
    let ifs: Vec<(u16, String)> = match Stack::open_at(&prefix).and_then(|mut s| s.if_list(None)) {
        Ok(v) => v.into_iter().map(|i| (i.index, i.name)).collect(),
        Err(e) => return crate::common::fail(prog, e),
    };
    let dst = match resolve(&o.host, &ifs, o.ifname.as_deref()) {
        Ok(d) => d,
        Err(e) => return crate::common::fail(prog, e),
    };
    let mut sock = match RawSocket::open6_at(&prefix, IPPROTO_ICMPV6) {
        Ok(s) => s,
        Err(e @ Error::NoStack(_)) => return crate::common::fail(prog, e),
        Err(e) => return crate::common::fail(prog, format!("socket: {}", e.strerror())),
    };
    // KAME's ping6 has the stack fragment at the minimum MTU unless -m says otherwise.
    if o.nofrag != 1 {
        let v = if o.nofrag > 1 { 0 } else { 1 };
        if let Err(e) = sock.set_option(SockOpt::Ipv6UseMinMtu(v)) {
            return crate::common::fail(prog, format!("setsockopt(IPV6_USE_MIN_MTU): {}", e.strerror()));
        }
    }
    let datalen_wanted = if o.ni.is_some() {
        0
    } else {
        o.datalen.unwrap_or(DEFDATALEN)
    };
    if let Some(n) = o.sockbufsize {
        if datalen_wanted > n as usize {
            eprintln!("{prog}: you need -b to increase socket buffer size");
        }
        for (opt, name) in [(SockOpt::SndBuf(n), "SO_SNDBUF"), (SockOpt::RcvBuf(n), "SO_RCVBUF")] {
            if let Err(e) = sock.set_option(opt) {
                return crate::common::fail(prog, format!("setsockopt({name}): {}", e.strerror()));
            }
        }
    }
    if let Some(h) = o.ttl {
        if let Err(e) = sock.set_hop_limit(h) {
            return crate::common::fail(prog, format!("IPV6_UNICAST_HOPS: {}", e.strerror()));
        }
    }
    if let Some(s) = o.src6 {
        if let Err(e) = sock.bind_addr(IpAddr::V6(s)) {
            return crate::common::fail(prog, format!("bind: {}", e.strerror()));
        }
    }
    // The source the stack will choose, from a second socket connected to the
    // destination (KAME's ping6 asks a connected UDP socket the same way); no route is an
    // error before anything is sent.
    let src = match o.src6 {
        Some(s) => s,
        None => {
            let found = RawSocket::open6_at(&prefix, IPPROTO_ICMPV6).and_then(|mut d| {
                d.connect(SocketAddr::V6(dst))?;
                d.local_addr()
            });
            match found {
                Ok(SocketAddr::V6(a)) => *a.ip(),
                Ok(SocketAddr::V4(_)) => Ipv6Addr::UNSPECIFIED,
                Err(e) => return crate::common::fail(prog, format!("UDP connect: {}", e.strerror())),
            }
        }
    };
    // A Node Information query carries no timestamp and ignores -s.
    let datalen = if o.ni.is_some() {
        0
    } else {
        o.datalen.unwrap_or(DEFDATALEN)
    };
    o.compat = true;
    let names = o.hostnames;
    let mut p = Ping::new(o, sock, Dst::V6(dst), datalen, interval);
    p.ifnames = ifs;
    p.local = pr_addr_h(&src, dst.scope_id(), &p.ifnames, names);
    if let Some(pat) = p.o.pattern.clone() {
        for (k, j) in (p.phdrlen..p.datalen).zip((0..pat.len()).cycle()) {
            p.opack[ICMP_MINLEN + k] = pat[j];
        }
    }
    install_signals();
    let len = p.o.ni.map_or(ICMP_MINLEN + p.datalen, |q| q.len());
    println!(
        "PING6({}=40+8+{} bytes) {} --> {}",
        IP6_HDRLEN + len,
        len - ICMP_MINLEN,
        p.local,
        pr_addr_h(dst.ip(), dst.scope_id(), &p.ifnames, names)
    );
    flush();
    for _ in 0..p.o.preload {
        p.now = super::ping::Ts::now();
        p.pinger();
    }
    p.doit()
}

impl Ping {
    /// Looks at one ICMPv6 message received (the payload, as raw IPv6 sockets deliver
    /// it; `hlim` its hop limit) and prints it if it is ours (KAME's pr_pack).
    pub(super) fn pr_pack6(&mut self, icp: &[u8], from: SocketAddrV6, hlim: Option<u8>) {
        let cc = icp.len();
        let who = pr_addr_h(from.ip(), from.scope_id(), &self.ifnames, self.o.hostnames);
        if cc < ICMP_MINLEN {
            if self.o.verbose {
                self.jiggle_flush(true);
                println!("packet too short ({cc} bytes) from {who}");
            }
            return;
        }
        if let (Some(q), Some(r)) = (self.o.ni, ni::NiPacket::new_checked(icp)) {
            if r.msg_type() == ni::NI_REPLY {
                if let Some(seq) = q.mine(&r) {
                    self.account_reply(seq, icp);
                    if self.o.quiet {
                        return;
                    }
                    self.jiggle_flush(true);
                    println!("{cc} bytes from {who}: {}", pr_nireply(&r, self.o.verbose));
                    flush();
                    return;
                }
            }
        }
        let id = u16::from_be_bytes([icp[4], icp[5]]);
        let seq = u16::from_be_bytes([icp[6], icp[7]]);
        if icp[0] == ic::ECHO_REPLY && id == self.ident {
            let (dup, triptime) = self.account_reply(seq, icp);
            if self.o.quiet {
                return;
            }
            if self.o.flood {
                self.jiggle(-1);
                return;
            }
            self.jiggle_flush(true);
            let mut line = format!("{cc} bytes from {who}, icmp_seq={seq}");
            match hlim {
                Some(h) => line.push_str(&format!(" hlim={h}")),
                None => line.push_str(" hlim=?"),
            }
            // The replies' destination: the source our requests carried.
            if self.o.verbose {
                line.push_str(&format!(" dst={}", self.local));
            }
            if self.timing != super::ping::Timing::None {
                line.push_str(&format!(" time={:.3} ms", triptime * 1000.0));
            }
            if dup {
                line.push_str(" (DUP!)");
            }
            // The data after the timestamp must come back as sent.
            let (lo, hi) = (ICMP_MINLEN + self.phdrlen, ICMP_MINLEN + self.datalen);
            if icp.len() >= hi && icp[lo..hi] != self.opack[lo..hi] {
                let i = (lo..hi).find(|&i| icp[i] != self.opack[i]).unwrap_or(lo);
                line.push_str(&format!(
                    "\nwrong data byte #{} should have been {:#x} but was {:#x}",
                    i - ICMP_MINLEN,
                    self.opack[i],
                    icp[i]
                ));
            } else if icp.len() < hi {
                line.push_str(&format!("\nwrong total length {cc} instead of {}", self.ip_len));
            }
            println!("{line}");
            flush();
            return;
        }
        // Something other than our echo reply: KAME's filter passes it only with -v.
        if !self.o.verbose {
            return;
        }
        self.jiggle_flush(true);
        println!("{cc} bytes from {who}: {}", pr_icmph6(icp));
        flush();
    }
}

/// What a Node Information reply says (pr_pack's NI branch, pr_suptypes, pr_nodeaddr);
/// the caller prints it after `N bytes from ADDR: ` and ends the line.
fn pr_nireply(r: &ni::NiPacket, verbose: bool) -> String {
    match r.code() {
        ni::SUCCESS => {}
        ni::REFUSED => return format!("refused, type 0x{:x}", r.msg_type()),
        ni::UNKNOWN => return format!("unknown, type 0x{:x}", r.msg_type()),
        c => return format!("unknown code 0x{c:x}, type 0x{:x}", r.msg_type()),
    }
    let d = r.data();
    match r.qtype() {
        ni::QTYPE_NOOP => "NodeInfo NOOP".to_string(),
        ni::QTYPE_SUPTYPES => pr_suptypes(r, verbose),
        ni::QTYPE_NODEADDR => pr_nodeaddr(r, verbose),
        // Node Name, and anything else as KAME prints it.
        _ => {
            let mut s = String::new();
            let names = d.get(4..).unwrap_or(&[]);
            // The 03 draft's form: one length byte, then the name.
            let oldfqdn = names.first().is_some_and(|&l| usize::from(l) + 1 == names.len());
            if oldfqdn {
                for &c in &names[1..] {
                    if c.is_ascii_graphic() || c == b' ' {
                        s.push(char::from(c));
                    } else {
                        s.push_str(&format!("\\{c:03o}"));
                    }
                }
            } else {
                let mut at = 0;
                let mut first = true;
                while at < names.len() {
                    let Some((mut name, used)) = ni::dns_decode(&names[at..]) else {
                        s.push_str("???");
                        break;
                    };
                    at += used;
                    // A truncated (single) name ends in a second zero byte.
                    if names.get(at) == Some(&0) && !name.is_empty() {
                        name.pop();
                        at += 1;
                    }
                    if !first {
                        s.push(',');
                    }
                    s.push_str(&name);
                    first = false;
                }
            }
            if verbose {
                let mut parts = Vec::new();
                if d.len() >= 4 {
                    let ttl = i32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                    if r.flags() & ni::FQDN_FLAG_VALIDTTL == 0 {
                        parts.push(format!("TTL={ttl}:meaningless"));
                    } else if ttl < 0 {
                        parts.push(format!("TTL={ttl}:invalid"));
                    } else {
                        parts.push(format!("TTL={ttl}"));
                    }
                    if oldfqdn {
                        parts.push("03 draft".to_string());
                    } else if names.is_empty() {
                        parts.push("no name".to_string());
                    }
                }
                s.push_str(&format!(" ({})", parts.join(",")));
            }
            s
        }
    }
}

/// The qtypes set in a Supported Qtypes bitmap, as ranges (pr_suptypes, pr_bitrange):
/// ` 0-3`. Bit n of each 32-bit word, from its least significant, is qtype 32k + n.
fn pr_suptypes(r: &ni::NiPacket, verbose: bool) -> String {
    let mut s = "NodeInfo Supported Qtypes".to_string();
    if verbose {
        s.push_str(if r.flags() & ni::SUPTYPE_FLAG_COMPRESS != 0 {
            ", compressed bitmap"
        } else {
            ", raw bitmap"
        });
    }
    let mut d = r.data();
    let mut cur = 0u32;
    let mut run: Option<(u32, u32)> = None;
    let flush_run = |s: &mut String, run: &mut Option<(u32, u32)>| {
        if let Some((a, b)) = run.take() {
            if a == b {
                s.push_str(&format!(" {a}"));
            } else {
                s.push_str(&format!(" {a}-{b}"));
            }
        }
    };
    while !d.is_empty() {
        let (words, skip) = if r.flags() & ni::SUPTYPE_FLAG_COMPRESS == 0 {
            if !d.len().is_multiple_of(4) || d.len() > 8192 {
                s.push_str("???");
                return s;
            }
            (d.len() / 4, 0)
        } else {
            if d.len() < 4 || !d.len().is_multiple_of(4) {
                return s;
            }
            let w = usize::from(u16::from_be_bytes([d[0], d[1]]));
            let k = u32::from(u16::from_be_bytes([d[2], d[3]]));
            if 4 + w * 4 > d.len() {
                return s;
            }
            d = &d[4..];
            (w, k)
        };
        for w in 0..words {
            let v = u32::from_be_bytes([d[4 * w], d[4 * w + 1], d[4 * w + 2], d[4 * w + 3]]);
            for bit in 0..32 {
                let q = cur + 32 * w as u32 + bit;
                if v & (1 << bit) != 0 {
                    run = Some(run.map_or((q, q), |(a, _)| (a, q)));
                } else {
                    flush_run(&mut s, &mut run);
                }
            }
        }
        flush_run(&mut s, &mut run);
        d = &d[words * 4..];
        cur += 32 * words as u32 + 32 * skip;
        if cur > 1 << 16 {
            break;
        }
    }
    s
}

/// A Node Addresses reply: a line per address with its TTL (pr_nodeaddr); the caller's
/// newline ends the block with an empty line, as KAME's does.
fn pr_nodeaddr(r: &ni::NiPacket, verbose: bool) -> String {
    let mut s = String::new();
    if verbose && r.flags() & ni::NODEADDR_FLAG_TRUNCATE != 0 {
        s.push_str(" truncated");
    }
    s.push('\n');
    let d = r.data();
    if d.is_empty() {
        s.push_str("  no address\n");
    }
    let withttl = d.len().is_multiple_of(20);
    let step = if withttl { 20 } else { 16 };
    for c in d.chunks(step) {
        let (ttl, a) = if withttl { (Some(&c[..4]), &c[4..]) } else { (None, c) };
        if a.len() < 16 {
            break;
        }
        let mut o = [0u8; 16];
        o.copy_from_slice(&a[..16]);
        s.push_str(&format!("  {}", Ipv6Addr::from(o)));
        if let Some(t) = ttl {
            let t = u32::from_be_bytes([t[0], t[1], t[2], t[3]]);
            if t == 0xffff_ffff {
                s.push_str("(TTL=infty)");
            } else {
                s.push_str(&format!("(TTL={t})"));
            }
        }
        s.push('\n');
    }
    s
}

/// What an ICMPv6 message other than an echo reply says (KAME's pr_icmph), with the
/// quoted header of an error (pr_retip).
fn pr_icmph6(icp: &[u8]) -> String {
    let (t, code) = (icp[0], icp[1]);
    let word = u32::from_be_bytes([icp[4], icp[5], icp[6], icp[7]]);
    let mut s = match t {
        ic::DST_UNREACH => match code {
            0 => "No Route to Destination".to_string(),
            1 => "Destination Administratively Unreachable".to_string(),
            2 => "Destination Unreachable Beyond Scope".to_string(),
            3 => "Destination Host Unreachable".to_string(),
            4 => "Destination Port Unreachable".to_string(),
            c => format!("Destination Unreachable, Bad Code: {c}"),
        },
        ic::PACKET_TOO_BIG => format!("Packet too big mtu = {word}"),
        ic::TIME_EXCEEDED => match code {
            0 => "Time to live exceeded".to_string(),
            1 => "Frag reassembly time exceeded".to_string(),
            c => format!("Time exceeded, Bad Code: {c}"),
        },
        ic::PARAM_PROB => {
            let what = match code {
                0 => "Erroneous Header Field".to_string(),
                1 => "Unknown Nextheader".to_string(),
                2 => "Unrecognized Option".to_string(),
                c => format!("Bad code({c})"),
            };
            format!("Parameter problem: {what}\npointer = 0x{word:02x}")
        }
        ic::ECHO_REQUEST => "Echo Request".to_string(),
        ic::ECHO_REPLY => "Echo Reply".to_string(),
        ic::MLD_LISTENER_QUERY => "Listener Query".to_string(),
        ic::MLD_LISTENER_REPORT => "Listener Report".to_string(),
        ic::MLD_LISTENER_DONE => "Listener Done".to_string(),
        ic::ND_ROUTER_SOLICIT => "Router Solicitation".to_string(),
        ic::ND_ROUTER_ADVERT => "Router Advertisement".to_string(),
        ic::ND_NEIGHBOR_SOLICIT => "Neighbor Solicitation".to_string(),
        ic::ND_NEIGHBOR_ADVERT => "Neighbor Advertisement".to_string(),
        ic::ND_REDIRECT => "Redirect".to_string(),
        t => format!("Bad ICMP type: {t}"),
    };
    if ic::is_error(t) {
        s.push('\n');
        s.push_str(&pr_retip(&icp[ICMP_MINLEN..]));
    }
    s
}

/// The IPv6 header an error quotes and what it carried (KAME's pr_iph and pr_retip).
fn pr_retip(ip6: &[u8]) -> String {
    if ip6.len() < IP6_HDRLEN {
        return "packet too short".to_string();
    }
    let vfc = u32::from_be_bytes([ip6[0], ip6[1], ip6[2], ip6[3]]);
    let mut a = [0u8; 16];
    a.copy_from_slice(&ip6[8..24]);
    let src = Ipv6Addr::from(a);
    a.copy_from_slice(&ip6[24..40]);
    let dst = Ipv6Addr::from(a);
    let nh = ip6[6];
    let mut s = format!(
        "Vr TC  Flow Plen Nxt Hlim\n {:1x} {:02x} {:05x} {:04x}  {:02x}   {:02x}\n{src}->{dst}\n",
        vfc >> 28,
        (vfc >> 20) & 0xff,
        vfc & 0xfffff,
        u16::from_be_bytes([ip6[4], ip6[5]]),
        nh,
        ip6[7]
    );
    let up = &ip6[IP6_HDRLEN..];
    match nh {
        IPPROTO_ICMPV6 if up.len() >= 8 => s.push_str(&format!(
            "ICMP6: type = {}, code = {}, id = {}, seq = {}",
            up[0],
            up[1],
            u16::from_be_bytes([up[4], up[5]]),
            u16::from_be_bytes([up[6], up[7]])
        )),
        6 | 17 if up.len() >= 4 => s.push_str(&format!(
            "{}: from port {}, to port {}",
            if nh == 6 { "TCP" } else { "UDP" },
            u16::from_be_bytes([up[0], up[1]]),
            u16::from_be_bytes([up[2], up[3]])
        )),
        44 => s.push_str("frag"),
        n => s.push_str(&format!("Unknown Header({n})")),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Result<Opts, String> {
        let m = command()
            .try_get_matches_from(std::iter::once("ping6").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        parse_opts(&m)
    }

    #[test]
    fn bad_arguments_say_what_ping6_says() {
        assert_eq!(opts(&["-c", "x", "h"]).unwrap_err(), "illegal number of packets -- x");
        assert_eq!(opts(&["-h", "256", "h"]).unwrap_err(), "illegal hoplimit 256");
        assert_eq!(opts(&["-i", "0", "h"]).unwrap_err(), "illegal timing interval 0");
        assert_eq!(opts(&["-s", "-1", "h"]).unwrap_err(), "illegal datalen value -- -1");
        assert_eq!(
            opts(&["-s", "65488", "h"]).unwrap_err(),
            "datalen value too large, maximum is 65487"
        );
        assert!(opts(&["-N", "h"])
            .unwrap_err()
            .starts_with("-N: the node information multicast"));
        assert!(opts(&["-g", "fe80::1", "h"])
            .unwrap_err()
            .starts_with("-g: IPV6_NEXTHOP"));
        assert!(opts(&["-d", "h"]).unwrap_err().starts_with("-d: SO_DEBUG"));
        assert_eq!(opts(&["-a", "lq", "h"]).unwrap_err(), "");
        let w = opts(&["-w", "h"]).unwrap().ni.unwrap();
        assert_eq!(
            (w.qtype, w.code, w.flags, w.subject),
            (ni::QTYPE_FQDN, ni::SUBJ_IPV6, 0, true)
        );
        let a = opts(&["-a", "agl", "h"]).unwrap().ni.unwrap();
        assert_eq!(
            a.flags,
            ni::NODEADDR_FLAG_ALL | ni::NODEADDR_FLAG_GLOBAL | ni::NODEADDR_FLAG_LINKLOCAL
        );
        let t = opts(&["-t", "h"]).unwrap().ni.unwrap();
        assert_eq!((t.qtype, t.code, t.subject), (ni::QTYPE_SUPTYPES, ni::SUBJ_FQDN, false));
        assert!(opts(&["-H", "h"]).unwrap().hostnames);
        assert!(opts(&["hop", "h"]).unwrap_err().starts_with("intermediate hops"));
        assert_eq!(opts(&[]).unwrap_err(), "");
        let o = opts(&["-c", "3", "-h", "1", "-s", "4000", "-I", "en0", "-X", "2", "fe80::1"]).unwrap();
        assert_eq!(o.npackets, Some(3));
        assert_eq!(o.ttl, Some(1));
        assert_eq!(o.datalen, Some(4000));
        assert_eq!(o.ifname.as_deref(), Some("en0"));
        assert_eq!(o.maxwait, 2.0);
        assert!(o.compat);
    }

    #[test]
    fn node_information_queries_and_replies() {
        let q = NiQuery::new(ni::QTYPE_FQDN, ni::SUBJ_IPV6, 0, true);
        let dst: Ipv6Addr = "fe80::1".parse().unwrap();
        let m = q.compose(5, &dst);
        assert_eq!(m.len(), q.len());
        assert_eq!(q.len(), 32);
        assert_eq!(&m[..8], &[ni::NI_QUERY, 0, 0, 0, 0, 2, 0, 0]);
        assert_eq!(&m[8..10], &[0, 5]);
        assert_eq!(&m[16..], &dst.octets());
        // A reply echoing the nonce is ours, with the sequence number.
        let mut r = m.clone();
        r[0] = ni::NI_REPLY;
        r.truncate(16);
        r.extend_from_slice(&[0, 0, 0, 0]);
        r.extend_from_slice(b"\x05node1\0\0");
        let p = ni::NiPacket::new_checked(&r).unwrap();
        assert_eq!(q.mine(&p), Some(5));
        assert_eq!(pr_nireply(&p, false), "node1");
        assert_eq!(pr_nireply(&p, true), "node1 (TTL=0:meaningless)");
        let mut other = r.clone();
        other[12] ^= 1;
        assert_eq!(q.mine(&ni::NiPacket::new_checked(&other).unwrap()), None);
        // A fully qualified name keeps its dot; two names are comma-separated.
        r.truncate(20);
        r.extend_from_slice(b"\x01a\x01b\x01c\0\x01d\0\0");
        assert_eq!(pr_nireply(&ni::NiPacket::new_checked(&r).unwrap(), false), "a.b.c.,d");
        // Supported qtypes 0-3 and 7.
        r.truncate(16);
        r[5] = 1;
        r.extend_from_slice(&0x8fu32.to_be_bytes());
        assert_eq!(
            pr_nireply(&ni::NiPacket::new_checked(&r).unwrap(), false),
            "NodeInfo Supported Qtypes 0-3 7"
        );
        // Node addresses.
        r.truncate(16);
        r[5] = 3;
        r.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
        r.extend_from_slice(&dst.octets());
        assert_eq!(
            pr_nireply(&ni::NiPacket::new_checked(&r).unwrap(), false),
            "\n  fe80::1(TTL=2147483647)\n"
        );
        r.truncate(16);
        assert_eq!(
            pr_nireply(&ni::NiPacket::new_checked(&r).unwrap(), false),
            "\n  no address\n"
        );
        r[1] = ni::UNKNOWN;
        assert_eq!(
            pr_nireply(&ni::NiPacket::new_checked(&r).unwrap(), false),
            "unknown, type 0x8c"
        );
    }

    #[test]
    fn scopes_resolve_to_interface_indexes() {
        let ifs = vec![(1, "lo0".to_string()), (2, "en0".to_string())];
        let a = resolve("fe80::1%en0", &ifs, None).unwrap();
        assert_eq!((a.ip().segments()[0], a.scope_id()), (0xfe80, 2));
        assert_eq!(resolve("fe80::1", &ifs, Some("en0")).unwrap().scope_id(), 2);
        assert_eq!(resolve("fe80::1%2", &ifs, None).unwrap().scope_id(), 2);
        assert_eq!(resolve("2001:db8::1", &ifs, None).unwrap().scope_id(), 0);
        assert_eq!(
            resolve("fe80::1%en9", &ifs, None).unwrap_err(),
            "en9: invalid interface name"
        );
        assert!(resolve("fe80::1%en0", &ifs, Some("lo0")).is_err());
        assert_eq!(pr_addr(&"fe80::1".parse().unwrap(), 2, &ifs), "fe80::1%en0");
        assert_eq!(pr_addr(&"2001:db8::1".parse().unwrap(), 2, &ifs), "2001:db8::1");
        assert!(is_v6_literal("fe80::1%en0"));
        assert!(!is_v6_literal("10.0.0.1"));
    }

    #[test]
    fn errors_print_as_kame_prints_them() {
        // A time exceeded quoting our echo request.
        let mut m = vec![ic::TIME_EXCEEDED, 0, 0, 0, 0, 0, 0, 0];
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 16, 58, 1];
        ip6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        ip6.extend_from_slice(&"2001:db8:1::2".parse::<Ipv6Addr>().unwrap().octets());
        ip6.extend_from_slice(&[128, 0, 0, 0, 0x12, 0x34, 0, 5]);
        m.extend_from_slice(&ip6);
        let s = pr_icmph6(&m);
        assert!(s.starts_with("Time to live exceeded\nVr TC  Flow Plen Nxt Hlim\n 6 00 00000 0010  3a   01\n"));
        assert!(s.contains("2001:db8::1->2001:db8:1::2"));
        assert!(s.ends_with("ICMP6: type = 128, code = 0, id = 4660, seq = 5"));
        let mut big = vec![ic::PACKET_TOO_BIG, 0, 0, 0, 0, 0, 5, 0];
        big.extend_from_slice(&ip6);
        assert!(pr_icmph6(&big).starts_with("Packet too big mtu = 1280\n"));
        assert_eq!(
            pr_icmph6(&[ic::ND_NEIGHBOR_SOLICIT, 0, 0, 0, 0, 0, 0, 0]),
            "Neighbor Solicitation"
        );
    }
}
