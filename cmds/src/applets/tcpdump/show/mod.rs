//! tcpdump's packet printer: one line per packet (more with `-v` or the hex options),
//! worded as tcpdump 4.99 words it, for the link types of [`super::pcap`].
//!
//! Live capture and `tcpdump -r` share it: build [`Options`] from the command line with
//! [`Options::from_matches`], make a [`Printer`] for the link type, and hand it every packet
//! with [`Printer::packet`]. The printer keeps what tcpdump keeps between packets: the
//! previous time stamp (for `-ttt`), the first one (`-ttttt`) and the initial sequence
//! numbers of TCP connections (relative sequence numbers).
//!
//! Names: without `-n`, IPv4 and IPv6 addresses are looked up in /etc/hosts only (never
//! in the DNS, so printing never waits on the network), ports are named from
//! /etc/services (per protocol, as tcpdump names them: `http`, `domain`), and Ethernet
//! addresses get tcpdump's `(oui ...)` vendor note. `-n` keeps addresses numeric, `-nn`
//! ports too.
//!
//! The dissectors live in [`link`] (Ethernet, 802.1Q, ARP, LLC) and [`inet`] (IPv4, IPv6,
//! ICMP, ICMPv6, TCP, UDP). Each reads through a [`Cur`], which knows how much was
//! captured: reading past it yields [`Trunc`], and the packet's line ends with tcpdump's
//! `[|proto]` marker. No input can make them panic.

use std::collections::HashMap;
use std::io::{self, Write};

use clap::ArgMatches;

mod inet;
mod link;
mod names;

#[cfg(test)]
pub mod corpus;
#[cfg(test)]
mod difftest;

/// What the command line asks of the printer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `-n` count: 1 keeps addresses numeric, 2 ports too.
    pub numeric: u8,
    /// `-e`: the link-level header.
    pub ether: bool,
    /// `-t` count: 0 time of day, 1 none, 2 seconds since 1970, 3 delta to the previous
    /// packet, 4 date and time, 5 delta to the first packet.
    pub ts: u8,
    /// `-v` count.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
    /// `-x` count (hex), `-X` count (hex and ASCII): 1 without the link header, 2 with it.
    pub hex: u8,
    pub hex_ascii: u8,
    /// `-S`: absolute TCP sequence numbers.
    pub absolute: bool,
    /// `-A`: the packet (without its link header) as ASCII, unless `-x`/`-X` asks for hex.
    pub ascii: bool,
    /// `-#`: number the packets.
    pub number: bool,
}

impl Options {
    /// The printing options of tcpdump's command line (the ids of `tcpdump::command()`).
    pub fn from_matches(m: &ArgMatches) -> Options {
        let count = |id: &str| m.try_get_one::<u8>(id).ok().flatten().copied().unwrap_or(0);
        let flag = |id: &str| m.try_get_one::<bool>(id).ok().flatten().copied().unwrap_or(false);
        Options {
            numeric: count("numeric"),
            ether: flag("ether"),
            ts: count("timestamp"),
            verbose: count("verbose"),
            quiet: flag("quick"),
            hex: count("hex"),
            hex_ascii: count("hex_ascii"),
            absolute: flag("absolute"),
            ascii: flag("ascii"),
            number: flag("number"),
        }
    }
}

/// `-A`: printable characters, spaces, tabs and line ends as they are, anything else as a
/// dot; a carriage return is left out before a line feed, and (as tcpdump 4.99 has it)
/// when at most one byte follows it.
fn ascii_dump(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\r' if b.len() - i <= 2 || b.get(i + 1) == Some(&b'\n') => {}
            b'\n' | b'\t' | b' ' => s.push(char::from(c)),
            0x21..=0x7e => s.push(char::from(c)),
            _ => s.push('.'),
        }
    }
    s
}

/// The captured data ended inside the named protocol's header.
#[derive(Debug, Clone, Copy)]
pub struct Trunc(pub &'static str);

/// A bounds-checked view of the packet: `data` is what was captured.
#[derive(Clone, Copy)]
pub struct Cur<'a> {
    pub data: &'a [u8],
}

impl<'a> Cur<'a> {
    pub fn u8(&self, at: usize, p: &'static str) -> Result<u8, Trunc> {
        self.data.get(at).copied().ok_or(Trunc(p))
    }
    pub fn u16(&self, at: usize, p: &'static str) -> Result<u16, Trunc> {
        Ok(u16::from_be_bytes([self.u8(at, p)?, self.u8(at + 1, p)?]))
    }
    pub fn u32(&self, at: usize, p: &'static str) -> Result<u32, Trunc> {
        Ok(u32::from(self.u16(at, p)?) << 16 | u32::from(self.u16(at + 2, p)?))
    }
    pub fn bytes(&self, at: usize, n: usize, p: &'static str) -> Result<&'a [u8], Trunc> {
        self.data.get(at..at.checked_add(n).ok_or(Trunc(p))?).ok_or(Trunc(p))
    }
    /// What was captured from `at` on (empty past the end).
    pub fn rest(&self, at: usize) -> &'a [u8] {
        self.data.get(at..).unwrap_or(&[])
    }
    pub fn sub(&self, at: usize) -> Cur<'a> {
        Cur { data: self.rest(at) }
    }
}

/// The per-connection state of relative TCP sequence numbers: the initial sequence number of
/// each side, keyed by the connection's addresses and ports in a canonical order.
pub(crate) type TcpSeqs = HashMap<(Vec<u8>, Vec<u8>, u16, u16), (u32, u32)>;

/// Prints packets one after the other; keeps what tcpdump keeps between them.
pub struct Printer {
    pub opts: Options,
    linktype: u32,
    prev: Option<(u32, u32)>,
    first: Option<(u32, u32)>,
    pub(crate) tcp: TcpSeqs,
    pub(crate) names: names::Names,
    /// Packets printed so far (`-#`).
    count: u64,
}

/// What a dissector needs while printing one packet.
pub(crate) struct Ctx<'p> {
    pub o: String,
    pub opts: &'p Options,
    pub tcp: &'p mut TcpSeqs,
    pub names: &'p mut names::Names,
    /// Where the network layer starts in the packet (for `-x`, `-X`).
    pub net_off: usize,
}

impl Ctx<'_> {
    pub fn p(&mut self, s: &str) {
        self.o.push_str(s);
    }
    pub fn vflag(&self) -> u8 {
        self.opts.verbose
    }
    /// An IPv4 address, named unless `-n`.
    pub fn ip4(&mut self, a: [u8; 4]) -> String {
        if self.opts.numeric > 0 {
            return std::net::Ipv4Addr::from(a).to_string();
        }
        self.names.host(&a)
    }
    pub fn ip6(&mut self, a: [u8; 16]) -> String {
        if self.opts.numeric > 0 {
            return std::net::Ipv6Addr::from(a).to_string();
        }
        self.names.host(&a)
    }
    pub fn mac(&mut self, m: &[u8]) -> String {
        let s = names::mac_string(m);
        if self.opts.numeric > 0 || m.len() != 6 {
            return s;
        }
        if m.iter().all(|&b| b == 0xff) {
            return "Broadcast".to_string();
        }
        match names::oui(m) {
            Some(v) => format!("{s} ({v})"),
            None => s,
        }
    }
    pub fn port(&mut self, proto: &str, p: u16) -> String {
        if self.opts.numeric > 0 {
            return p.to_string();
        }
        self.names.port(proto, p)
    }
}

impl Printer {
    pub fn new(opts: Options, linktype: u32) -> Printer {
        Printer {
            opts,
            linktype,
            prev: None,
            first: None,
            tcp: HashMap::new(),
            names: names::Names::default(),
            count: 0,
        }
    }

    /// Prints one packet: `data` as captured (perhaps cut short by a snap length), `wirelen`
    /// its length on the wire.
    pub fn packet(
        &mut self,
        out: &mut impl Write,
        ts_sec: u32,
        ts_usec: u32,
        data: &[u8],
        wirelen: u32,
    ) -> io::Result<()> {
        let line = self.format(ts_sec, ts_usec, data, wirelen);
        out.write_all(line.as_bytes())
    }

    /// What [`Printer::packet`] writes, as a string (ending in a newline).
    pub fn format(&mut self, ts_sec: u32, ts_usec: u32, data: &[u8], wirelen: u32) -> String {
        self.count += 1;
        let mut o = if self.opts.number {
            format!("{:5}  ", self.count)
        } else {
            String::new()
        };
        o.push_str(&self.timestamp(ts_sec, ts_usec));
        let mut ctx = Ctx {
            o: String::new(),
            opts: &self.opts,
            tcp: &mut self.tcp,
            names: &mut self.names,
            net_off: 0,
        };
        let cur = Cur { data };
        let r = match self.linktype {
            super::pcap::LINKTYPE_ETHERNET => link::ether(&mut ctx, cur, wirelen),
            super::pcap::LINKTYPE_RAW => link::raw(&mut ctx, cur, wirelen),
            super::pcap::LINKTYPE_NULL | super::pcap::LINKTYPE_LOOP => {
                link::null(&mut ctx, cur, wirelen, self.linktype == super::pcap::LINKTYPE_LOOP)
            }
            _ => {
                ctx.p(&format!("[link-type {}] length {wirelen}", self.linktype));
                Ok(())
            }
        };
        // An empty name: the dissector printed its own marker.
        if let Err(Trunc(p)) = r.or_else(|t| if t.0.is_empty() { Ok(()) } else { Err(t) }) {
            ctx.p(&format!(" [|{p}]"));
        }
        o.push_str(&ctx.o);
        let (hex, ascii) = (self.opts.hex, self.opts.hex_ascii);
        if hex > 0 || ascii > 0 {
            let from = if hex.max(ascii) > 1 { 0 } else { ctx.net_off };
            let bytes = data.get(from..).unwrap_or(&[]);
            o.push_str(&hexdump(bytes, ascii > 0, "\n\t"));
        } else if self.opts.ascii {
            o.push('\n');
            o.push_str(&ascii_dump(data.get(ctx.net_off..).unwrap_or(&[])));
        }
        o.push('\n');
        o
    }

    fn timestamp(&mut self, sec: u32, usec: u32) -> String {
        let now = (sec, usec);
        let delta = |a: (u32, u32), b: (u32, u32)| {
            let t = (i64::from(b.0) * 1_000_000 + i64::from(b.1)) - (i64::from(a.0) * 1_000_000 + i64::from(a.1));
            let t = t.max(0);
            let s = t / 1_000_000;
            format!(
                " {:02}:{:02}:{:02}.{:06} ",
                s / 3600 % 24,
                s / 60 % 60,
                s % 60,
                t % 1_000_000
            )
        };
        let s = match self.opts.ts {
            0 => {
                let tm = local_time(sec);
                format!("{:02}:{:02}:{:02}.{:06} ", tm.hour, tm.min, tm.sec, usec)
            }
            1 => String::new(),
            2 => format!("{sec}.{usec:06} "),
            3 => delta(self.prev.unwrap_or(now), now),
            4 => {
                let tm = local_time(sec);
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06} ",
                    tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec, usec
                )
            }
            _ => delta(*self.first.get_or_insert(now), now),
        };
        self.prev = Some(now);
        s
    }
}

/// A broken-down local time.
struct Tm {
    year: i32,
    mon: i32,
    mday: i32,
    hour: i32,
    min: i32,
    sec: i32,
}

/// The local time of `sec` (honouring TZ, as localtime(3) does).
fn local_time(sec: u32) -> Tm {
    let t = sec as libc::time_t;
    // SAFETY: tm is plain data that localtime_r fills; t lives across the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return Tm {
            year: 1970,
            mon: 1,
            mday: 1,
            hour: 0,
            min: 0,
            sec: 0,
        };
    }
    Tm {
        year: tm.tm_year + 1900,
        mon: tm.tm_mon + 1,
        mday: tm.tm_mday,
        hour: tm.tm_hour,
        min: tm.tm_min,
        sec: tm.tm_sec,
    }
}

/// tcpdump's hex dump: lines of 16 bytes as groups of two, each line starting with
/// `prefix` and the offset; with `ascii`, the printable characters after the hex.
pub fn hexdump(b: &[u8], ascii: bool, prefix: &str) -> String {
    let mut o = String::new();
    for (i, line) in b.chunks(16).enumerate() {
        let mut hex = String::new();
        for pair in line.chunks(2) {
            hex.push(' ');
            for x in pair {
                hex.push_str(&format!("{x:02x}"));
            }
        }
        o.push_str(&format!("{prefix}0x{:04x}: ", i * 16));
        if ascii {
            let text: String = line
                .iter()
                .map(|&c| if (0x21..0x7f).contains(&c) { c as char } else { '.' })
                .collect();
            o.push_str(&format!("{hex:<40}  {text}"));
        } else {
            o.push_str(&hex);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hexdump_as_tcpdump() {
        let b: Vec<u8> = (0x41..0x41 + 19).collect();
        assert_eq!(
            hexdump(&b, false, "\n\t"),
            "\n\t0x0000:  4142 4344 4546 4748 494a 4b4c 4d4e 4f50\n\t0x0010:  5152 53"
        );
        assert_eq!(
            hexdump(&b[..3], true, "\n\t"),
            "\n\t0x0000:  4142 43                                  ABC"
        );
    }

    fn print_one(verbose: u8, frame: &[u8]) -> String {
        let mut p = Printer::new(
            Options {
                numeric: 2,
                verbose,
                ..Default::default()
            },
            1,
        );
        p.format(1, 2, frame, frame.len() as u32)
    }

    const M1: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const M2: [u8; 6] = [2, 0, 0, 0, 0, 2];

    /// Hop-by-hop options whose last one runs past the header: tcpdump still names it
    /// (the corpus has only well-formed option lists).
    #[test]
    fn an_ipv6_option_past_its_header_is_named() {
        let (a, b) = (
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        );
        // Six bytes of options after next header and length; the last option runs past
        // the header (a length and no data, or no length at all).
        for (opts, words) in [
            ([5, 2, 0x12, 0x34, 1, 7], "HBH (rtalert: 0x1234) (padn) "),
            ([0, 0, 0x3e, 9, 0, 0], "HBH (pad1)(pad1)(opt_type 0x3e: len=9) "),
            ([5, 2, 0, 0, 0, 5], "HBH (rtalert: 0x0000) (pad1) "),
            ([0, 0, 0, 0, 5, 2], "HBH (pad1)(pad1)(pad1)(pad1)(rtalert: 0x0000)  "),
        ] {
            let mut hbh = vec![59, 0];
            hbh.extend(opts);
            let f = corpus::ether(M1, M2, 0x86dd, &corpus::ipv6(a, b, 0, &hbh, 64, 0));
            let out = print_one(1, &f);
            assert!(out.contains(words), "{words:?} not in {out:?}");
        }
    }

    /// Messages too short for their checksum field, checked with -v: printed, no panic.
    #[test]
    fn short_icmp_and_udp_are_printed_with_their_checksums() {
        let icmp = corpus::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &[15, 0], &[], 0, 1, 64, 0, false);
        let out = print_one(1, &corpus::ether(M1, M2, 0x0800, &icmp));
        assert!(
            out.contains("ICMP information request, length 2 (wrong icmp cksum 0 (->f0ff)!)"),
            "{out:?}"
        );
        // A UDP length (4) below the header's size.
        let udp = corpus::ipv4(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            17,
            &[0, 7, 0, 9, 0, 4, 0x12, 0x34],
            &[],
            0,
            1,
            64,
            0,
            false,
        );
        let out = print_one(2, &corpus::ether(M1, M2, 0x0800, &udp));
        assert!(
            out.contains("10.0.0.1.7 > 10.0.0.2.9: [bad udp cksum 0x1234 -> "),
            "{out:?}"
        );
        assert!(out.contains("UDP, length 0"), "{out:?}");
    }

    #[test]
    fn garbage_never_panics() {
        let mut r = corpus::Rng(99);
        let frames = corpus::corpus(7, 200);
        for opts in [
            Options::default(),
            Options {
                verbose: 2,
                ether: true,
                hex_ascii: 2,
                ..Default::default()
            },
        ] {
            let mut p = Printer::new(opts.clone(), 1);
            for f in &frames {
                for _ in 0..4 {
                    let mut b = f.bytes.clone();
                    let at = r.below(b.len().max(1));
                    if let Some(x) = b.get_mut(at) {
                        *x = r.next() as u8;
                    }
                    b.truncate(r.below(b.len() + 1));
                    p.format(1, 2, &b, f.wirelen);
                }
                let n = r.below(80);
                let junk = r.bytes(n);
                p.format(1, 2, &junk, r.next() as u32);
            }
        }
    }
}
