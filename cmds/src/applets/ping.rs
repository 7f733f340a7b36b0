//! ping: send ICMP ECHO_REQUEST packets to network hosts, as NetBSD's ping(8) does.
//!
//! The options, messages, output and exit status follow NetBSD's `sbin/ping/ping.c`:
//! `-T ttl` and `-t tos` (not Linux's meanings), `-w maxwait` as a limit on the whole run,
//! a TTL of 255 unless `-T` says otherwise, a `struct timespec` at the start of the data
//! (times printed to the microsecond; `-C` sends the old 8-byte `struct timeval` and prints
//! milliseconds to three places), `DUP!` for duplicates, errors about our own echo requests
//! (`36 bytes from 10.0.1.1: Time To Live exceeded for icmp_seq=0`), flood dots, and the
//! summary on completion or SIGINT. Exit status: 0 if any reply came, 2 if none, 1 for bad
//! arguments and failures.
//!
//! The first SIGINT lets outstanding replies dribble in (unless every packet sent has been
//! answered, or none ever was); the second ends the run. SIGQUIT (NetBSD's SIGINFO) prints
//! the statistics so far. No host names are looked up for addresses (`-n` is accepted and
//! always in effect).

use std::ffi::OsString;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use clap::{Arg, ArgAction, Command};
use pktbox_stack::socket::{Error, RawDatagram, RawSocket};
use pktbox_stack::wire::checksum::cksum;
use pktbox_stack::wire::icmp::{
    ICMP_ECHO, ICMP_ECHOREPLY, ICMP_MASKREQ, ICMP_PARAMPROB, ICMP_REDIRECT, ICMP_SOURCEQUENCH, ICMP_TIMXCEED,
    ICMP_TSTAMP, ICMP_TSTAMPREPLY, ICMP_UNREACH,
};
use pktbox_stack::wire::icmpv6::ECHO_REQUEST as ICMP6_ECHO_REQUEST;
use pktbox_stack::wire::ipv4::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IP_HDR_LEN, IP_MAXPACKET};

use crate::common::EXIT_FAILURE;

const PROG: &str = "ping";

/// The interval of a flood ping (FLOOD_INTVL).
const FLOOD_INTVL: f64 = 0.01;
/// The largest data size (MAXPACKET: room for the largest IP header and the ICMP header).
const MAXPACKET: i64 = IP_MAXPACKET as i64 - 60 - 8;
/// ICMP_MINLEN: an ICMP header.
pub(super) const ICMP_MINLEN: usize = 8;
/// The TTL of echo requests unless -T says otherwise (MAXTTL).
const MAXTTL: u8 = 255;
/// Size of the old timestamp header (`struct tv32`) and of the native `struct timespec`.
pub(super) const PHDR_LEN: usize = 8;
const PHDR64_LEN: usize = 16;
/// Sequence numbers whose replies are remembered to spot duplicates (MAX_DUP_CHK).
pub(super) const MAX_DUP_CHK: usize = 8 * 2048;
/// Longest sleep in one poll, so that a signal is noticed soon even if it slips in between
/// the check and the poll.
const POLL_SLICE: f64 = 0.1;

const ICMP_ROUTERADVERT: u8 = 9;
const ICMP_ROUTERSOLICIT: u8 = 10;
const ICMP_IREQ: u8 = 15;
const ICMP_IREQREPLY: u8 = 16;
const ICMP_MASKREPLY: u8 = 18;

const USAGE: &str = "ping [-aCfnoPQqv] [-c count] [-h host] [-I addr] [-i interval]\n     \
                     [-l preload] [-p pattern] [-s size] [-T ttl] [-t tos] [-w maxwait] host";

static SIGINTS: AtomicU32 = AtomicU32::new(0);
static SIGINFO: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGINT {
        SIGINTS.fetch_add(1, Ordering::SeqCst);
    } else {
        SIGINFO.store(true, Ordering::SeqCst);
    }
}

pub fn command() -> Command {
    let num = |name: &'static str, short: char, value: &'static str, help: &'static str| {
        // As getopt does, the next word is the value even when it starts with '-'.
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
        .about("Send ICMP ECHO_REQUEST packets to network hosts")
        .override_usage(USAGE)
        .after_help(
            "Replies print as `64 bytes from ADDR: icmp_seq=N ttl=T time=X ms`; the summary comes \
             when the count is reached, at maxwait, or on SIGINT (a first SIGINT waits for \
             outstanding replies, a second quits). SIGQUIT prints the statistics so far.\n\
             Exit status: 0 if any reply came, 2 if none, 1 for bad arguments and failures.",
        )
        .disable_help_flag(true)
        .arg(Arg::new("help").long("help").action(ArgAction::Help).help("Print help"))
        .arg(flag("audible", 'a', "Beep on every reply"))
        .arg(flag(
            "compat",
            'C',
            "Send the old 8-byte timestamp (struct timeval); times print in milliseconds to three places",
        ))
        .arg(num(
            "count",
            'c',
            "count",
            "Stop after sending (and waiting for the replies to) count packets",
        ))
        .arg(flag(
            "flood",
            'f',
            "Flood ping: a dot for every request sent, a backspace for every reply (superuser only)",
        ))
        .arg(num(
            "hostopt",
            'h',
            "host",
            "The host to ping, instead of the last argument",
        ))
        .arg(num(
            "interval",
            'i',
            "interval",
            "Wait interval seconds between packets (default 1)",
        ))
        .arg(num("srcaddr", 'I', "addr", "Send from this address"))
        .arg(num(
            "preload",
            'l',
            "preload",
            "Send preload packets as fast as possible first (superuser only)",
        ))
        .arg(flag("numeric", 'n', "Numeric output only (always the case here)"))
        .arg(flag("once", 'o', "Exit successfully after the first reply"))
        .arg(num(
            "pattern",
            'p',
            "pattern",
            "Fill the data with up to 16 bytes given in hex",
        ))
        .arg(flag("random", 'P', "Fill the data with a pseudo-random sequence"))
        .arg(flag("quiet", 'q', "Print only the summary lines at start and end"))
        .arg(flag(
            "semiquiet",
            'Q',
            "Do not print ICMP errors about our echo requests",
        ))
        .arg(num(
            "size",
            's',
            "size",
            "Data bytes in each packet (default 56, 64 with the ICMP header)",
        ))
        .arg(num("ttl", 'T', "ttl", "Time to live of the packets sent (default 255)"))
        .arg(num("tos", 't', "tos", "Type of service of the packets sent"))
        .arg(flag(
            "verbose",
            'v',
            "List every ICMP packet received, not only echo replies",
        ))
        .arg(num(
            "maxwait",
            'w',
            "maxwait",
            "Stop after maxwait seconds, whatever has been sent or received",
        ))
        .arg(Arg::new("host").value_name("host").help("The host to ping"))
}

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub(super) struct Opts {
    pub(super) npackets: Option<u64>,
    pub(super) interval: Option<f64>,
    pub(super) preload: u64,
    pub(super) datalen: Option<usize>,
    pub(super) ttl: Option<u8>,
    pub(super) tos: u8,
    pub(super) maxwait: f64,
    pub(super) src: Option<Ipv4Addr>,
    /// An IPv6 source (ping's -I with an IPv6 address, or ping6's -S).
    pub(super) src6: Option<std::net::Ipv6Addr>,
    /// The interface to send on (ping6's -I).
    pub(super) ifname: Option<String>,
    pub(super) pattern: Option<Vec<u8>>,
    pub(super) host: String,
    pub(super) audible: bool,
    pub(super) compat: bool,
    pub(super) flood: bool,
    pub(super) once: bool,
    pub(super) random: bool,
    pub(super) quiet: bool,
    pub(super) semiquiet: bool,
    pub(super) verbose: bool,
    /// ping6's Node Information query (-w -W -t -a) instead of echo requests.
    pub(super) ni: Option<super::ping6::NiQuery>,
    /// ping6's -H: reverse lookups of the addresses printed.
    pub(super) hostnames: bool,
    /// ping6's -m, counted: 0 fragment at the minimum MTU, 1 the socket's default
    /// (minimum MTU for multicast only), 2 or more never.
    pub(super) nofrag: u8,
    /// ping6's -b: SO_SNDBUF and SO_RCVBUF.
    pub(super) sockbufsize: Option<u32>,
}

/// `strtol(s, &end, 0)` with nothing left over: decimal, 0x hex or 0 octal.
fn c_long(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if t.starts_with(['+', '-']) {
        return None;
    }
    let digits = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
    if digits.starts_with(['+', '-']) {
        return None;
    }
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()?
    } else {
        t.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// `strtod(s, &end)` with nothing left over.
fn c_double(s: &str) -> Option<f64> {
    let t = s.trim_start();
    let v: f64 = t.parse().ok()?;
    v.is_finite().then_some(v)
}

/// `inet_aton`: `a.b.c.d`, `a.b.c`, `a.b`, `a`, each part decimal, octal or hex.
fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut v = Vec::with_capacity(parts.len());
    for p in &parts {
        if p.is_empty() || !p.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let n = c_long(p).filter(|n| *n >= 0)?;
        v.push(u64::try_from(n).ok()?);
    }
    let last = *v.last()?;
    let head = &v[..v.len() - 1];
    if head.iter().any(|b| *b > 255) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if room < 64 && last >= 1u64 << room {
        return None;
    }
    let mut a: u32 = 0;
    for (i, b) in head.iter().enumerate() {
        a |= (*b as u32) << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(a | last as u32))
}

/// NetBSD's gethost: an address as it is, else a name looked up (never a string that looks
/// like a broken address).
fn gethost(arg: &str, name: &str) -> Result<Ipv4Addr, String> {
    if let Some(a) = inet_aton(name) {
        return Ok(a);
    }
    let unknown = || format!("Cannot resolve \"{name}\" (Unknown host)");
    if name.is_empty() || name.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(unknown());
    }
    let addrs: Vec<std::net::SocketAddr> = (name, 0).to_socket_addrs().map_err(|_| unknown())?.collect();
    if let Some(a) = addrs.iter().find_map(|a| match a.ip() {
        std::net::IpAddr::V4(v) => Some(v),
        _ => None,
    }) {
        return Ok(a);
    }
    if addrs.is_empty() {
        Err(unknown())
    } else {
        Err(format!("{arg} only supported with IP"))
    }
}

/// Parses the `-p` pattern: 1 to 32 hex digits, two to a byte.
fn parse_pattern(p: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("\"-p {p}\": patterns must be specified with 1-32 hex digits");
    if p.is_empty() || p.len() > 32 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    p.as_bytes()
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap_or("x"), 16).map_err(|_| bad()))
        .collect()
}

/// Reads the command line; an error is what NetBSD's ping says before it exits 1.
fn parse_opts(m: &clap::ArgMatches) -> Result<Opts, String> {
    let s = |n: &str| m.get_one::<String>(n).map(String::as_str);
    let mut o = Opts {
        audible: m.get_flag("audible"),
        compat: m.get_flag("compat"),
        flood: m.get_flag("flood"),
        once: m.get_flag("once"),
        random: m.get_flag("random"),
        quiet: m.get_flag("quiet"),
        semiquiet: m.get_flag("semiquiet"),
        verbose: m.get_flag("verbose"),
        ..Opts::default()
    };
    if let Some(v) = s("count") {
        let n = c_long(v)
            .filter(|n| *n > 0 && *n <= i64::from(i32::MAX))
            .ok_or_else(|| format!("Bad/invalid number of packets: {v}"))?;
        o.npackets = Some(n as u64);
    }
    if let Some(v) = s("interval") {
        let i = c_double(v)
            .filter(|i| *i > 0.0)
            .ok_or_else(|| format!("Bad/invalid interval: {v}"))?;
        o.interval = Some(i);
    }
    if let Some(v) = s("preload") {
        let n = c_long(v)
            .filter(|n| *n >= 0 && *n <= i64::from(i32::MAX))
            .ok_or_else(|| format!("Bad/invalid preload value: {v}"))?;
        o.preload = n as u64;
    }
    if let Some(v) = s("size") {
        let n = c_long(v)
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("Bad/invalid packet size: {v}"))?;
        if n > MAXPACKET {
            return Err("packet size is too large".into());
        }
        o.datalen = Some(n as usize);
    }
    if let Some(v) = s("tos") {
        o.tos = c_long(v)
            .and_then(|t| u8::try_from(t).ok())
            .ok_or_else(|| format!("bad tos value: {v}"))?;
    }
    if let Some(v) = s("ttl") {
        o.ttl = Some(
            c_long(v)
                .filter(|t| *t > 0)
                .and_then(|t| u8::try_from(t).ok())
                .ok_or_else(|| format!("ttl out of range: {v}"))?,
        );
    }
    if let Some(v) = s("maxwait") {
        o.maxwait = c_double(v)
            .filter(|w| *w > 0.0)
            .ok_or_else(|| format!("Bad/invalid maxwait time: {v}"))?;
    }
    if let Some(p) = s("pattern") {
        if o.random {
            return Err("Only one of -P and -p allowed".into());
        }
        o.pattern = Some(parse_pattern(p)?);
    }
    if let Some(v) = s("srcaddr") {
        match v.parse::<std::net::Ipv6Addr>() {
            Ok(a) => o.src6 = Some(a),
            Err(_) => o.src = Some(gethost("-I", v)?),
        }
    }
    o.host = match (s("hostopt"), s("host")) {
        (Some(h), None) | (None, Some(h)) => h.to_string(),
        _ => return Err(String::new()),
    };
    Ok(o)
}

/// A CLOCK_MONOTONIC time, as NetBSD's ping keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Ts {
    pub(super) sec: i64,
    pub(super) nsec: i64,
}

impl Ts {
    pub(super) fn now() -> Ts {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes the timespec we pass.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
        Ts {
            sec: t.tv_sec,
            nsec: t.tv_nsec,
        }
    }

    fn secs(&self) -> f64 {
        self.sec as f64 + self.nsec as f64 / 1e9
    }

    fn add(&self, d: f64) -> Ts {
        let whole = d.trunc() as i64;
        let mut sec = self.sec + whole;
        let mut nsec = self.nsec + ((d - d.trunc()) * 1e9).round() as i64;
        if nsec >= 1_000_000_000 {
            sec += 1;
            nsec -= 1_000_000_000;
        }
        Ts { sec, nsec }
    }
}

/// diffsec: `a - b` in seconds; -1 when `a` was never set.
pub(super) fn diffsec(a: Option<Ts>, b: Option<Ts>) -> f64 {
    match a {
        None => -1.0,
        Some(a) => a.secs() - b.unwrap_or_default().secs(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timing {
    None,
    /// `struct tv32` in network order (-C).
    Tv32,
    /// A native `struct timespec` (F_TIMING64).
    Ts64,
}

/// Where the echo requests go: an IPv4 host (ping) or an IPv6 one (ping6, and ping given
/// an IPv6 address), with its scope (the interface index of a link-local address, or the
/// interface `-I` names; 0 for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dst {
    V4(Ipv4Addr),
    V6(SocketAddrV6),
}

/// One run of ping or ping6 (NetBSD's globals): the timing, the statistics, the output
/// and the signal handling are the same for both families; what differs is the packet
/// (ICMP or ICMPv6, see ping6.rs) and the wording of a few lines.
pub(super) struct Ping {
    pub(super) o: Opts,
    pub(super) sock: RawSocket,
    pub(super) dst: Dst,
    /// Interface names by index, to print a link-local source as `fe80::1%en0` (ping6).
    pub(super) ifnames: Vec<(u16, String)>,
    /// Our address as ping6 prints it: where the replies come to (`-v`'s ` dst=`).
    pub(super) local: String,
    pub(super) ident: u16,
    pub(super) datalen: usize,
    pub(super) phdrlen: usize,
    pub(super) timing: Timing,
    /// The ICMP message sent: header and data (the timestamp is written for each one).
    pub(super) opack: Vec<u8>,
    /// Length of the IP datagram sent (what a reply should measure).
    pub(super) ip_len: usize,
    pub(super) npackets: u64,
    pub(super) interval: f64,
    pub(super) ntransmitted: u64,
    pub(super) nreceived: u64,
    pub(super) nrepeats: u64,
    pub(super) rcvd_tbl: Vec<u8>,
    pub(super) lastrcvd: bool,
    pub(super) prefinished: bool,
    pub(super) last_seqno: u16,
    pub(super) rnd: u32,
    pub(super) tmin: f64,
    pub(super) tmax: f64,
    pub(super) tsum: f64,
    pub(super) tsumsq: f64,
    pub(super) now: Ts,
    pub(super) last_tx: Option<Ts>,
    pub(super) next_tx: Option<Ts>,
    pub(super) first_tx: Option<Ts>,
    pub(super) last_rx: Option<Ts>,
    pub(super) first_rx: Option<Ts>,
    pub(super) jiggle_time: Option<Ts>,
    pub(super) jiggle_cnt: i64,
    pub(super) total_jiggled: i64,
    pub(super) jiggle_direction: i64,
}

/// Why the run ends early.
enum Fatal {
    /// The connection to the stack failed: say so and exit 1.
    Io(String),
}

pub(super) fn flush() {
    let _ = std::io::stdout().flush();
}

impl Ping {
    pub(super) fn seq_bit(seq: u64) -> (usize, u8) {
        (((seq / 8) as usize) % (MAX_DUP_CHK / 8), 1 << (seq & 7))
    }

    fn fill_random(&mut self) {
        for i in self.phdrlen..self.datalen {
            self.rnd = self.rnd.wrapping_mul(3_141_592_621).wrapping_add(663_896_637);
            self.opack[ICMP_MINLEN + i] = (self.rnd >> 24) as u8;
        }
    }

    /// Composes and sends one echo request (pinger).
    pub(super) fn pinger(&mut self) {
        let seq = (self.ntransmitted & 0xffff) as u16;
        let v6 = matches!(self.dst, Dst::V6(_));
        let p = &mut self.opack;
        p[0] = if v6 { ICMP6_ECHO_REQUEST } else { ICMP_ECHO };
        p[1] = 0;
        p[4..6].copy_from_slice(&self.ident.to_be_bytes());
        p[6..8].copy_from_slice(&seq.to_be_bytes());
        match self.timing {
            Timing::Tv32 => {
                p[8..12].copy_from_slice(&(self.now.sec as u32).to_be_bytes());
                p[12..16].copy_from_slice(&((self.now.nsec / 1000) as u32).to_be_bytes());
            }
            Timing::Ts64 => {
                p[8..16].copy_from_slice(&self.now.sec.to_ne_bytes());
                p[16..24].copy_from_slice(&self.now.nsec.to_ne_bytes());
            }
            Timing::None => {}
        }
        p[2..4].copy_from_slice(&[0, 0]);
        // The stack computes an ICMPv6 checksum itself (RFC 3542 3.1: it covers the
        // pseudo-header, whose source only the stack knows).
        if !v6 {
            let c = cksum(p);
            p[2..4].copy_from_slice(&c.to_be_bytes());
        }
        if let (Some(q), Dst::V6(a)) = (self.o.ni, self.dst) {
            self.opack = q.compose(seq, a.ip());
        }
        let sent = match self.dst {
            Dst::V4(a) => self.sock.send_to(&self.opack, a),
            Dst::V6(a) => self.sock.send_to_sa(&self.opack, SocketAddr::V6(a)),
        };
        if let Err(e) = sent {
            self.jiggle_flush(true);
            eprintln!("{PROG}: sendto: {}", e.strerror());
        }
        self.lastrcvd = false;
        let (byte, bit) = Self::seq_bit(self.ntransmitted);
        self.rcvd_tbl[byte] &= !bit;
        self.ntransmitted += 1;
        self.last_tx = Some(self.now);
        if self.next_tx.is_none() {
            self.first_tx = Some(self.now);
            self.next_tx = Some(self.now);
        }
        // Transmit regularly; at most 100 ms behind, send extras to catch up, otherwise
        // skip the packets we were too slow to send.
        if diffsec(self.next_tx, Some(self.now)) <= self.interval {
            loop {
                self.next_tx = self.next_tx.map(|t| t.add(self.interval));
                if diffsec(self.next_tx, Some(self.now)) >= -0.1 {
                    break;
                }
            }
        }
        if self.o.flood {
            self.jiggle(1);
        }
        if self.o.random {
            self.fill_random();
        }
    }

    pub(super) fn jiggle_flush(&mut self, nl: bool) {
        let mut out = String::new();
        if self.jiggle_cnt > 0 {
            self.total_jiggled += self.jiggle_cnt;
            self.jiggle_direction = 1;
            out.push_str(&".".repeat(self.jiggle_cnt as usize));
        } else if self.jiggle_cnt < 0 {
            self.total_jiggled -= self.jiggle_cnt;
            self.jiggle_direction = -1;
            out.push_str(&"\u{8}".repeat((-self.jiggle_cnt) as usize));
        }
        self.jiggle_cnt = 0;
        if nl {
            if self.total_jiggled != 0 {
                out.push('\n');
            }
            self.total_jiggled = 0;
            self.jiggle_direction = -1;
        }
        print!("{out}");
        flush();
        let _ = std::io::stderr().flush();
        self.jiggle_time = Some(self.now);
    }

    /// Moves the flood cursor: a dot out, a backspace back.
    pub(super) fn jiggle(&mut self, delta: i64) {
        if self.o.quiet {
            return;
        }
        // Never back up into messages.
        if self.total_jiggled + self.jiggle_cnt + delta < 0 {
            return;
        }
        self.jiggle_cnt += delta;
        let dt = diffsec(self.last_tx, self.jiggle_time);
        if dt > 0.2 || (dt >= 0.15 && delta * self.jiggle_direction < 0) {
            self.jiggle_flush(false);
        }
    }

    /// Counts an echo reply to us: its round-trip time from the timestamp it carries (0
    /// without one) and whether it is a duplicate. Shared by both families.
    pub(super) fn account_reply(&mut self, seq: u16, icp: &[u8]) -> (bool, f64) {
        if u64::from(seq) == (self.ntransmitted.wrapping_sub(1) & 0xffff) {
            self.lastrcvd = true;
        }
        self.last_rx = Some(self.now);
        if self.first_rx.is_none() {
            self.first_rx = self.last_rx;
        }
        self.nreceived += 1;
        let mut triptime = 0.0;
        let sent = match self.timing {
            Timing::Tv32 if icp.len() >= ICMP_MINLEN + PHDR_LEN => {
                let s = u32::from_be_bytes([icp[8], icp[9], icp[10], icp[11]]);
                let us = u32::from_be_bytes([icp[12], icp[13], icp[14], icp[15]]);
                Some(Ts {
                    sec: i64::from(s),
                    nsec: i64::from(us) * 1000,
                })
            }
            Timing::Ts64 if icp.len() >= ICMP_MINLEN + PHDR64_LEN => {
                let mut s = [0u8; 8];
                let mut ns = [0u8; 8];
                s.copy_from_slice(&icp[8..16]);
                ns.copy_from_slice(&icp[16..24]);
                Some(Ts {
                    sec: i64::from_ne_bytes(s),
                    nsec: i64::from_ne_bytes(ns),
                })
            }
            _ => None,
        };
        if let Some(tv) = sent {
            triptime = diffsec(Some(self.now), Some(tv));
            self.tsum += triptime;
            self.tsumsq += triptime * triptime;
            self.tmin = self.tmin.min(triptime);
            self.tmax = self.tmax.max(triptime);
        }
        let (byte, bit) = Self::seq_bit(u64::from(seq));
        let dup = self.rcvd_tbl[byte] & bit != 0;
        if dup {
            self.nrepeats += 1;
            self.nreceived -= 1;
        } else {
            self.rcvd_tbl[byte] |= bit;
        }
        (dup, triptime)
    }

    /// The start of a reply line (pr_pack_sub).
    fn pr_pack_sub(&mut self, cc: usize, from: Ipv4Addr, seq: u16, dup: bool, ttl: u8, triptime: f64) {
        self.jiggle_flush(true);
        if self.o.flood {
            return;
        }
        let mut line = format!("{cc} bytes from {from}: icmp_seq={seq}");
        if dup {
            line.push_str(" DUP!");
        }
        line.push_str(&format!(" ttl={ttl}"));
        match self.timing {
            Timing::Ts64 => line.push_str(&format!(" time={:.6} ms", triptime * 1000.0)),
            Timing::Tv32 => line.push_str(&format!(" time={:.3} ms", triptime * 1000.0)),
            Timing::None => {}
        }
        print!("{line}");
        if self.o.audible && !dup {
            eprint!("\x07");
        }
    }

    /// Looks at one received datagram (the whole IP packet) and prints it if it is ours.
    fn pr_pack(&mut self, buf: &[u8], from: Ipv4Addr) {
        let tot_len = buf.len();
        let hlen = buf.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
        if hlen < IP_HDR_LEN || tot_len < hlen + ICMP_MINLEN {
            if self.o.verbose {
                self.jiggle_flush(true);
                println!("packet too short ({tot_len} bytes) from {from}");
            }
            return;
        }
        let ttl = buf[8];
        let net_len = tot_len - hlen;
        let icp = &buf[hlen..];
        // A damaged message is not ours to count (the stack's icmp_input drops these too).
        if cksum(icp) != 0 {
            if self.o.verbose {
                self.jiggle_flush(true);
                println!("{net_len} bytes from {from}: bad ICMP checksum");
            }
            return;
        }
        let id = u16::from_be_bytes([icp[4], icp[5]]);
        let seq = u16::from_be_bytes([icp[6], icp[7]]);
        let dumped;
        if icp[0] == ICMP_ECHOREPLY && id == self.ident {
            let (dup, triptime) = self.account_reply(seq, icp);
            let mut started = false;
            let sub = |p: &mut Ping, started: &mut bool| {
                if !*started {
                    *started = true;
                    p.pr_pack_sub(net_len, from, seq, dup, ttl, triptime);
                }
            };
            if tot_len != self.ip_len {
                sub(self, &mut started);
                print!("\nwrong total length {tot_len} instead of {}", self.ip_len);
            }
            if !dup {
                let gap = seq.wrapping_sub(self.last_seqno.wrapping_add(1));
                if gap > 0 && gap < 0x8000 && self.o.verbose {
                    println!(
                        "[*** sequence gap of {gap} packets from {} ... {} ***]",
                        self.last_seqno.wrapping_add(1),
                        seq.wrapping_sub(1)
                    );
                    if self.o.quiet {
                        self.summary(false);
                    }
                }
                if gap < 0x8000 {
                    self.last_seqno = seq;
                }
            }
            if self.o.quiet {
                flush();
                return;
            }
            if !self.o.flood {
                sub(self, &mut started);
            }
            // Check the data after the timestamp.
            let (lo, hi) = (ICMP_MINLEN + self.phdrlen, ICMP_MINLEN + self.datalen);
            if !self.o.random && icp.len() >= hi && icp[lo..hi] != self.opack[lo..hi] {
                let i = (lo..hi).find(|&i| icp[i] != self.opack[i]).unwrap_or(lo);
                sub(self, &mut started);
                let mut s = format!(
                    "\nwrong data byte #{} should have been {:#x} but was {:#x}",
                    i - lo,
                    self.opack[i],
                    icp[i]
                );
                for j in self.phdrlen..self.datalen {
                    if j % 16 == 0 {
                        s.push_str("\n\t");
                    }
                    s.push_str(&format!("{:2x} ", icp[ICMP_MINLEN + j]));
                }
                print!("{s}");
            }
            dumped = started;
        } else {
            if !self.pr_icmph(icp, from, net_len) {
                return;
            }
            dumped = true;
        }
        if dumped {
            println!();
            flush();
        } else {
            self.jiggle(-1);
        }
    }

    /// Whether to print an ICMP message other than an echo reply, and its start
    /// (ck_pr_icmph). `override_` prints errors about our own requests without -v.
    fn ck_pr_icmph(&mut self, icp: &[u8], from: Ipv4Addr, cc: usize, override_: bool) -> bool {
        let mut res = false;
        let quoted = &icp[ICMP_MINLEN..];
        let ours = quoted.len() >= IP_HDR_LEN && {
            let hlen = usize::from(quoted[0] & 0x0f) * 4;
            quoted[9] == IPPROTO_ICMP && quoted.len() >= hlen + 6 && {
                let id = u16::from_be_bytes([quoted[hlen + 4], quoted[hlen + 5]]);
                id == self.ident
            }
        };
        if self.o.verbose || (ours && override_ && !self.o.quiet && !self.o.semiquiet) {
            self.jiggle_flush(true);
            print!("{cc} bytes from {from}: ");
            res = true;
        }
        res
    }

    /// Describes an ICMP message other than an echo reply (pr_icmph). False if nothing was
    /// printed.
    fn pr_icmph(&mut self, icp: &[u8], from: Ipv4Addr, cc: usize) -> bool {
        let (t, code) = (icp[0], icp[1]);
        let error = matches!(
            t,
            ICMP_UNREACH | ICMP_SOURCEQUENCH | ICMP_REDIRECT | ICMP_TIMXCEED | ICMP_PARAMPROB
        );
        // An error must quote at least an IP header.
        if error && icp.len() < ICMP_MINLEN + IP_HDR_LEN {
            return false;
        }
        if t == ICMP_ECHOREPLY {
            // Other people's pings are too noisy to show.
            return false;
        }
        if !self.ck_pr_icmph(icp, from, cc, error) {
            return false;
        }
        let mut unknown = false;
        let text = match t {
            ICMP_UNREACH => match code {
                0 => "Destination Net Unreachable".to_string(),
                1 => "Destination Host Unreachable".to_string(),
                2 => "Destination Protocol Unreachable".to_string(),
                3 => "Destination Port Unreachable".to_string(),
                4 => format!(
                    "frag needed and DF set.  Next MTU={}",
                    u16::from_be_bytes([icp[6], icp[7]])
                ),
                5 => "Source Route Failed".to_string(),
                6 => "Unreachable unknown net".to_string(),
                7 => "Unreachable unknown host".to_string(),
                8 => "Unreachable host isolated".to_string(),
                9 => "Net prohibited access".to_string(),
                10 => "Host prohibited access".to_string(),
                11 => "Bad TOS for net".to_string(),
                12 => "Bad TOS for host".to_string(),
                13 => "Communication prohibited".to_string(),
                14 => "Host precedence violation".to_string(),
                15 => "Precedence cutoff".to_string(),
                c => format!("Bad Destination Unreachable Code: {c}"),
            },
            ICMP_SOURCEQUENCH => "Source Quench".to_string(),
            ICMP_REDIRECT => {
                let what = match code {
                    0 => "Redirect Network".to_string(),
                    1 => "Redirect Host".to_string(),
                    2 => "Redirect Type of Service and Network".to_string(),
                    3 => "Redirect Type of Service and Host".to_string(),
                    c => format!("Redirect--Bad Code: {c}"),
                };
                let gw = Ipv4Addr::new(icp[4], icp[5], icp[6], icp[7]);
                format!("{what} New router addr: {gw}")
            }
            ICMP_ECHO => format!(
                "Echo Request: ID={} seq={}",
                u16::from_be_bytes([icp[4], icp[5]]),
                u16::from_be_bytes([icp[6], icp[7]])
            ),
            ICMP_ROUTERADVERT => "Router Discovery Advert".to_string(),
            ICMP_ROUTERSOLICIT => "Router Discovery Solicit".to_string(),
            ICMP_TIMXCEED => match code {
                0 => "Time To Live exceeded".to_string(),
                1 => "Frag reassembly time exceeded".to_string(),
                c => format!("Time exceeded, Bad Code: {c}"),
            },
            ICMP_PARAMPROB => format!("Parameter problem: pointer = 0x{:02x}", icp[4]),
            ICMP_TSTAMP => "Timestamp".to_string(),
            ICMP_TSTAMPREPLY => "Timestamp Reply".to_string(),
            ICMP_IREQ => "Information Request".to_string(),
            ICMP_IREQREPLY => "Information Reply".to_string(),
            ICMP_MASKREQ => "Address Mask Request".to_string(),
            ICMP_MASKREPLY => "Address Mask Reply".to_string(),
            t => {
                unknown = true;
                format!("Bad ICMP type: {t}")
            }
        };
        print!("{text}");
        if error {
            self.pr_retip(icp);
        } else if unknown && self.o.verbose && icp.len() >= ICMP_MINLEN + IP_HDR_LEN {
            self.pr_iph(icp);
        }
        true
    }

    /// The quoted IP header, with -v (pr_iph).
    fn pr_iph(&self, icp: &[u8]) {
        let ip = &icp[ICMP_MINLEN..];
        let hlen = usize::from(ip[0] & 0x0f) * 4;
        let off = u16::from_be_bytes([ip[6], ip[7]]);
        let mut s = String::from("\n Vr HL TOS  Len   ID Flg  off TTL Pro  cks      Src\t     Dst\n");
        s.push_str(&format!(
            "  {:1x}  {:1x}  {:02x} {:04x} {:04x}",
            ip[0] >> 4,
            ip[0] & 0x0f,
            ip[1],
            u16::from_be_bytes([ip[2], ip[3]]),
            u16::from_be_bytes([ip[4], ip[5]])
        ));
        s.push_str(&format!("   {:1x} {:04x}", (off & 0xe000) >> 13, off & 0x1fff));
        s.push_str(&format!(
            "  {:02x}  {:02x} {:04x}",
            ip[8],
            ip[9],
            u16::from_be_bytes([ip[10], ip[11]])
        ));
        s.push_str(&format!(" {:>15} ", Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15])));
        s.push_str(&format!(" {} ", Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])));
        for b in ip.iter().take(hlen.min(ip.len())).skip(IP_HDR_LEN) {
            s.push_str(&format!("{b:02x}"));
        }
        print!("{s}");
    }

    /// What the quoted datagram was (pr_retip): for our echo requests, which one.
    fn pr_retip(&self, icp: &[u8]) {
        if self.o.verbose {
            self.pr_iph(icp);
        }
        let ip = &icp[ICMP_MINLEN..];
        let hlen = usize::from(ip[0] & 0x0f) * 4;
        let Some(cp) = ip.get(hlen..hlen + 8).filter(|_| hlen >= IP_HDR_LEN) else {
            return;
        };
        match ip[9] {
            IPPROTO_TCP | IPPROTO_UDP if self.o.verbose => print!(
                "\n  {}: from port {}, to port {}",
                if ip[9] == IPPROTO_TCP { "TCP" } else { "UDP" },
                u16::from_be_bytes([cp[0], cp[1]]),
                u16::from_be_bytes([cp[2], cp[3]])
            ),
            IPPROTO_ICMP if cp[0] == ICMP_ECHO => {
                let (id, seq) = (u16::from_be_bytes([cp[4], cp[5]]), u16::from_be_bytes([cp[6], cp[7]]));
                if self.o.verbose {
                    print!("\n  ID={id} icmp_seq={seq}");
                } else {
                    print!(" for icmp_seq={seq}");
                }
            }
            _ => {}
        }
    }

    /// The statistics (summary); with `header`, the line that starts them.
    pub(super) fn summary(&mut self, header: bool) {
        self.jiggle_flush(true);
        let mut s = String::new();
        let v6 = matches!(self.dst, Dst::V6(_));
        if header {
            if v6 {
                s.push_str(&format!("\n--- {} ping6 statistics ---\n", self.o.host));
            } else {
                s.push_str(&format!("\n----{} PING Statistics----\n", self.o.host));
            }
        }
        s.push_str(&format!("{} packets transmitted, ", self.ntransmitted));
        s.push_str(&format!("{} packets received, ", self.nreceived));
        if self.nrepeats > 0 {
            s.push_str(&format!("+{} duplicates, ", self.nrepeats));
        }
        if self.ntransmitted > 0 {
            if self.nreceived > self.ntransmitted {
                s.push_str("-- somebody's duplicating packets!");
            } else {
                let loss = (self.ntransmitted - self.nreceived) as f64 * 100.0 / self.ntransmitted as f64;
                s.push_str(&format!("{loss:.1}% packet loss"));
            }
        }
        s.push('\n');
        if self.nreceived > 0 && self.timing != Timing::None && v6 {
            // ping6's line: three places, the population deviation.
            let n = (self.nreceived + self.nrepeats) as f64;
            let avg = self.tsum / n;
            let dev = (self.tsumsq / n - avg * avg).max(0.0).sqrt();
            s.push_str(&format!(
                "round-trip min/avg/max/std-dev = {:.3}/{:.3}/{:.3}/{:.3} ms\n",
                self.tmin * 1000.0,
                avg * 1000.0,
                self.tmax * 1000.0,
                dev * 1000.0
            ));
        } else if self.nreceived > 0 && self.timing != Timing::None {
            let n = (self.nreceived + self.nrepeats) as f64;
            let avg = self.tsum / n;
            let variance = if n > 1.0 {
                ((self.tsumsq - n * avg * avg) / (n - 1.0)).max(0.0)
            } else {
                0.0
            };
            let p = if self.timing == Timing::Ts64 { 6 } else { 3 };
            s.push_str(&format!(
                "round-trip min/avg/max/stddev = {:.p$}/{:.p$}/{:.p$}/{:.p$} ms\n",
                self.tmin * 1000.0,
                avg * 1000.0,
                self.tmax * 1000.0,
                variance.sqrt() * 1000.0
            ));
            if self.o.flood {
                let mut r = diffsec(self.last_rx, self.first_rx);
                let mut t = diffsec(self.last_tx, self.first_tx);
                if r == 0.0 {
                    r = 0.0001;
                }
                if t == 0.0 {
                    t = 0.0001;
                }
                s.push_str(&format!(
                    "  {:.1} packets/sec sent,  {:.1} packets/sec received\n",
                    self.ntransmitted as f64 / t,
                    self.nreceived as f64 / r
                ));
            }
        }
        print!("{s}");
        flush();
    }

    /// The end: the statistics, and 0 if anything answered, else 2 (finish).
    fn finish(&mut self) -> ExitCode {
        self.summary(true);
        ExitCode::from(if self.nreceived > 0 { 0 } else { 2 })
    }

    /// Signals noticed since the last look. Some(code) when the run is over.
    fn signals(&mut self) -> Option<ExitCode> {
        if SIGINFO.swap(false, Ordering::SeqCst) {
            self.summary(false);
        }
        let ints = SIGINTS.load(Ordering::SeqCst);
        if ints == 0 {
            return None;
        }
        // The first interrupt lets outstanding replies dribble in, unless we are caught
        // up or the remote is dead; the second ends it (prefinish, then finish).
        if self.prefinished || ints > 1 || self.lastrcvd || self.nreceived == 0 {
            return Some(self.finish());
        }
        self.prefinished = true;
        self.npackets = self.npackets.min(self.ntransmitted);
        None
    }

    /// One received datagram, to the reader of its family.
    fn dispatch(&mut self, d: RawDatagram) {
        match (self.dst, d.from) {
            (Dst::V4(_), SocketAddr::V4(from)) => self.pr_pack(&d.data, *from.ip()),
            (Dst::V6(_), SocketAddr::V6(from)) => self.pr_pack6(&d.data, from, d.hlim),
            _ => {}
        }
    }

    /// Takes what the stack sent us; Err when the connection to the stack is gone.
    fn receive(&mut self, wait: f64) -> Result<(), Fatal> {
        // Datagrams that arrived while a request was being answered are queued in the
        // socket; a zero timeout hands those out without reading.
        loop {
            match self.sock.recv_msg(Some(Duration::ZERO)) {
                Ok(Some(d)) => {
                    self.now = Ts::now();
                    self.dispatch(d);
                }
                Ok(None) => break,
                Err(e) => return Err(Fatal::Io(format!("recvfrom: {e}"))),
            }
        }
        let mut pfd = libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = (wait.clamp(0.0, POLL_SLICE) * 1000.0).ceil() as libc::c_int;
        // SAFETY: poll on one pollfd that lives across the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(Fatal::Io(format!("poll: {e}")));
        }
        if n == 0 {
            return Ok(());
        }
        match self.sock.recv_msg(Some(Duration::from_millis(10))) {
            Ok(Some(d)) => {
                self.now = Ts::now();
                self.dispatch(d);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(Fatal::Io(format!("recvfrom: {e}"))),
        }
    }

    /// The main loop (doit).
    pub(super) fn doit(&mut self) -> ExitCode {
        let start = Ts::now();
        let last = (self.o.maxwait != 0.0).then(|| start.secs() + self.o.maxwait);
        loop {
            if let Some(code) = self.signals() {
                return code;
            }
            self.now = Ts::now();
            let d_last = last.map_or(365.0 * 24.0 * 60.0 * 60.0, |l| l - self.now.secs());
            let sec = if self.ntransmitted < self.npackets && d_last > 0.0 {
                let mut sec = diffsec(self.next_tx, Some(self.now));
                // Send if within 100 us or late for the next packet.
                if sec <= 0.0001 || (self.lastrcvd && self.o.flood) {
                    self.pinger();
                    sec = diffsec(self.next_tx, Some(self.now));
                }
                sec.max(0.0).min(d_last)
            } else {
                // For the last response, wait twice as long as the worst case seen, or
                // ten times the interval, whichever is longer.
                let sec = (2.0 * self.tmax).max(10.0 * self.interval) - diffsec(Some(self.now), self.last_tx);
                let sec = sec.min(d_last);
                if sec <= 0.0 {
                    break;
                }
                sec
            };
            if let Err(Fatal::Io(e)) = self.receive(sec) {
                self.jiggle_flush(true);
                eprintln!("{PROG}: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
            if self.nreceived >= self.npackets || (self.nreceived > 0 && self.o.once) {
                break;
            }
        }
        self.finish()
    }
}

impl Ping {
    /// A run's state before the first packet: the data after the timestamp is the byte
    /// counter NetBSD fills it with. Where `o.compat` (-C) or a short `datalen` asks, the
    /// timestamp is the old 8-byte one (ping6 always uses it, as KAME's does).
    pub(super) fn new(o: Opts, sock: RawSocket, dst: Dst, datalen: usize, interval: f64) -> Ping {
        let (timing, phdrlen) = if !o.compat && datalen >= PHDR64_LEN {
            (Timing::Ts64, PHDR64_LEN)
        } else if datalen >= PHDR_LEN {
            (Timing::Tv32, PHDR_LEN)
        } else {
            (Timing::None, 0)
        };
        // The ICMP header, then at least ICMP_MINLEN bytes of data.
        let cc = ICMP_MINLEN + datalen.max(ICMP_MINLEN);
        let mut opack = vec![0u8; cc];
        for i in phdrlen..datalen {
            opack[ICMP_MINLEN + i] = i as u8;
        }
        Ping {
            sock,
            dst,
            ifnames: Vec::new(),
            local: String::new(),
            ident: (std::process::id() & 0xffff) as u16,
            datalen,
            phdrlen,
            timing,
            opack,
            ip_len: match dst {
                Dst::V4(_) => IP_HDR_LEN + cc,
                Dst::V6(_) => cc,
            },
            npackets: o.npackets.map_or(u64::MAX, |n| n + o.preload),
            interval,
            ntransmitted: 0,
            nreceived: 0,
            nrepeats: 0,
            rcvd_tbl: vec![0; MAX_DUP_CHK / 8],
            lastrcvd: true,
            prefinished: false,
            last_seqno: 0xffff,
            rnd: 0,
            tmin: f64::INFINITY,
            tmax: 0.0,
            tsum: 0.0,
            tsumsq: 0.0,
            now: Ts::now(),
            last_tx: None,
            next_tx: None,
            first_tx: None,
            last_rx: None,
            first_rx: None,
            jiggle_time: None,
            jiggle_cnt: 0,
            total_jiggled: 0,
            jiggle_direction: -1,
            o,
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: \n{USAGE}");
    ExitCode::from(EXIT_FAILURE)
}

pub(super) fn install_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    // No SA_RESTART: a signal interrupts the poll, so it is seen at once.
    let sa = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for s in [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGCONT] {
        // SAFETY: the handler only touches atomics, which is async-signal-safe.
        let _ = unsafe { sigaction(s, &sa) };
    }
    // A reader that goes away (`ping ... | head`) ends the run as it ends a C ping,
    // rather than a failed print.
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: restoring the default action.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &dfl) };
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let m = match crate::common::parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let o = match parse_opts(&m) {
        Ok(o) => o,
        Err(e) if e.is_empty() => return usage(),
        Err(e) => return crate::common::fail(PROG, e),
    };
    let root = nix::unistd::getuid().is_root();
    let interval = o.interval.unwrap_or(if o.flood { FLOOD_INTVL } else { 1.0 });
    if o.flood && !root {
        return crate::common::fail(PROG, "Must be superuser to use -f");
    }
    if interval < 1.0 && !root {
        return crate::common::fail(PROG, "Must be superuser to use < 1 sec ping interval");
    }
    if o.preload > 0 && !root {
        return crate::common::fail(PROG, "Must be superuser to use -l");
    }
    if o.audible && o.flood {
        eprintln!("{PROG}: Sorry, no audible output for flood pings");
    }
    // An IPv6 destination (or source) goes to ping6's side of the engine.
    if super::ping6::is_v6_literal(&o.host) || o.src6.is_some() {
        return super::ping6::run_opts(PROG, o, interval);
    }
    let dst = match gethost("", &o.host) {
        Ok(a) => a,
        Err(e) => return crate::common::fail(PROG, e),
    };
    let mut sock = match RawSocket::open(IPPROTO_ICMP) {
        Ok(s) => s,
        Err(e @ Error::NoStack(_)) => return crate::common::fail(PROG, e),
        Err(e) => return crate::common::fail(PROG, format!("Cannot create socket: {}", e.strerror())),
    };
    if let Err(e) = sock.set_ttl(o.ttl.unwrap_or(MAXTTL)) {
        return crate::common::fail(PROG, format!("Can't set time-to-live: {}", e.strerror()));
    }
    if o.tos != 0 {
        if let Err(e) = sock.set_tos(o.tos) {
            return crate::common::fail(PROG, format!("Can't set type of service: {}", e.strerror()));
        }
    }
    if let Some(src) = o.src {
        if let Err(e) = sock.bind(src) {
            return crate::common::fail(PROG, format!("Can't set source interface/address: {}", e.strerror()));
        }
    }
    let datalen = o.datalen.unwrap_or(64 - PHDR_LEN);
    let mut p = Ping::new(o, sock, Dst::V4(dst), datalen, interval);
    if let Some(pat) = p.o.pattern.clone() {
        for (k, j) in (p.phdrlen..p.datalen).zip((0..pat.len()).cycle()) {
            p.opack[ICMP_MINLEN + k] = pat[j];
        }
        if !p.o.quiet {
            let shown: String = (0..pat.len())
                .filter_map(|j| p.opack.get(ICMP_MINLEN + p.phdrlen + j))
                .map(|b| format!("{b:02x}"))
                .collect();
            println!("PATTERN: 0x{shown}");
        }
    } else if p.o.random {
        p.fill_random();
    }
    install_signals();
    println!("PING {} ({}): {} data bytes", p.o.host, dst, p.datalen);
    flush();
    for _ in 0..p.o.preload {
        p.now = Ts::now();
        p.pinger();
    }
    p.doit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_strtol_reads_them() {
        assert_eq!(c_long("10"), Some(10));
        assert_eq!(c_long("0x10"), Some(16));
        assert_eq!(c_long("010"), Some(8));
        assert_eq!(c_long("0"), Some(0));
        assert_eq!(c_long("-3"), Some(-3));
        assert_eq!(c_long("x"), None);
        assert_eq!(c_long("3x"), None);
        assert_eq!(c_long(""), None);
        assert_eq!(c_long("--3"), None);
        assert_eq!(c_double("0.2"), Some(0.2));
        assert_eq!(c_double("1e-1"), Some(0.1));
        assert_eq!(c_double("inf"), None);
        assert_eq!(c_double("1s"), None);
    }

    #[test]
    fn addresses_as_inet_aton_reads_them() {
        assert_eq!(inet_aton("10.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("127.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(inet_aton("10.1.2"), Some(Ipv4Addr::new(10, 1, 0, 2)));
        assert_eq!(inet_aton("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(inet_aton("3232235777"), Some(Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!(inet_aton("10.0.0.256"), None);
        assert_eq!(inet_aton("256.0.0.1"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
        assert_eq!(inet_aton("example.org"), None);
        assert_eq!(inet_aton("1..2"), None);
        assert_eq!(
            gethost("", "10.0.0.300"),
            Err("Cannot resolve \"10.0.0.300\" (Unknown host)".into())
        );
    }

    #[test]
    fn patterns() {
        assert_eq!(parse_pattern("ff"), Ok(vec![0xff]));
        assert_eq!(parse_pattern("a1b2c"), Ok(vec![0xa1, 0xb2, 0x0c]));
        assert!(parse_pattern("").is_err());
        assert!(parse_pattern("zz").is_err());
        assert!(parse_pattern(&"a".repeat(33)).is_err());
    }

    fn opts(args: &[&str]) -> Result<Opts, String> {
        let m = command()
            .try_get_matches_from(std::iter::once("ping").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        parse_opts(&m)
    }

    #[test]
    fn bad_arguments_say_what_netbsd_says() {
        assert_eq!(opts(&["-c", "x", "h"]).unwrap_err(), "Bad/invalid number of packets: x");
        assert_eq!(opts(&["-c", "0", "h"]).unwrap_err(), "Bad/invalid number of packets: 0");
        assert_eq!(opts(&["-i", "0", "h"]).unwrap_err(), "Bad/invalid interval: 0");
        assert_eq!(opts(&["-T", "0", "h"]).unwrap_err(), "ttl out of range: 0");
        assert_eq!(opts(&["-T", "256", "h"]).unwrap_err(), "ttl out of range: 256");
        assert_eq!(opts(&["-t", "0x100", "h"]).unwrap_err(), "bad tos value: 0x100");
        assert_eq!(opts(&["-s", "-1", "h"]).unwrap_err(), "Bad/invalid packet size: -1");
        assert_eq!(opts(&["-s", "70000", "h"]).unwrap_err(), "packet size is too large");
        assert_eq!(opts(&["-w", "0", "h"]).unwrap_err(), "Bad/invalid maxwait time: 0");
        assert_eq!(
            opts(&["-P", "-p", "ff", "h"]).unwrap_err(),
            "Only one of -P and -p allowed"
        );
        assert_eq!(opts(&[]).unwrap_err(), "");
        assert_eq!(opts(&["-h", "a", "b"]).unwrap_err(), "");
        let o = opts(&[
            "-c", "3", "-T", "1", "-t", "0x10", "-s", "4000", "-w", "2.5", "10.0.0.1",
        ])
        .unwrap();
        assert_eq!(o.npackets, Some(3));
        assert_eq!(o.ttl, Some(1));
        assert_eq!(o.tos, 0x10);
        assert_eq!(o.datalen, Some(4000));
        assert_eq!(o.maxwait, 2.5);
        assert_eq!(o.host, "10.0.0.1");
        assert_eq!(opts(&["-h", "10.0.0.9"]).unwrap().host, "10.0.0.9");
    }

    #[test]
    fn timespec_arithmetic() {
        let t = Ts {
            sec: 5,
            nsec: 900_000_000,
        };
        assert_eq!(
            t.add(0.2),
            Ts {
                sec: 6,
                nsec: 100_000_000
            }
        );
        assert_eq!(
            t.add(1.0),
            Ts {
                sec: 6,
                nsec: 900_000_000
            }
        );
        assert!((diffsec(Some(t.add(0.5)), Some(t)) - 0.5).abs() < 1e-9);
        assert_eq!(diffsec(None, Some(t)), -1.0);
    }
}
