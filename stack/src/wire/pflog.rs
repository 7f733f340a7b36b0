//! The pflog header (`struct pfloghdr`, link type DLT_PFLOG = 117): what PF puts in front
//! of the raw IP packet (no link-level header) it copies to `pflogN` for a `log` rule, and
//! what tcpdump reads back from `-i pflog0` or a `-w` file.
//!
//! Layout as OpenBSD 4.x and NetBSD 5 and later write it (`length` = 61 =
//! `PFLOG_REAL_HDRLEN`, the offset of `pad`; 64 bytes on the wire). Integers are in
//! network byte order; tcpdump and Wireshark read them so.
//!
//! | off | field | size |
//! |---|---|---|
//! | 0 | length | 1 |
//! | 1 | af (BSD numbering: 2 inet, 24 inet6) | 1 |
//! | 2 | action (`PF_PASS`...) | 1 |
//! | 3 | reason (`PFRES_*`) | 1 |
//! | 4 | ifname | 16 |
//! | 20 | ruleset (anchor) | 16 |
//! | 36 | rulenr | 4 |
//! | 40 | subrulenr (`u32::MAX`: none) | 4 |
//! | 44 | uid, pid, rule_uid, rule_pid | 4 x 4 |
//! | 60 | dir (`PF_INOUT`, `PF_IN`, `PF_OUT`) | 1 |
//! | 61 | pad | 3 |
//!
//! The older header (OpenBSD 3.x, NetBSD 4) has no uid/pid words: `length` = 45, `dir` at
//! 44, 48 bytes. The view reads both; readers round `length` up to a multiple of 4 to find
//! the packet. `emit` writes the 64-byte form: Linux's tcpdump reads `dir` and `uid` at the
//! newer offsets whatever `length` says, so the older form would print a wrong direction
//! there.

use super::{be32, Error, Result};

/// The pcap link type of pflog interfaces and files.
pub const DLT_PFLOG: u32 = 117;
/// Bytes `emit` writes (the header with its padding).
pub const PFLOG_HDRLEN: usize = 64;
/// The `length` field `emit` writes: the header without its padding.
pub const PFLOG_REAL_HDRLEN: u8 = 61;
/// The shortest `length` a reader accepts (the older header without uid/pid).
pub const PFLOG_MIN_HDRLEN: u8 = 45;
pub const IFNAMSIZ: usize = 16;
pub const PF_RULESET_NAME_SIZE: usize = 16;

/// `af` values: BSD's address family numbers (NetBSD's and OpenBSD's AF_INET6 is 24;
/// FreeBSD writes 28 and Darwin 30, which the view also takes for IPv6).
pub const PFLOG_AF_INET: u8 = 2;
pub const PFLOG_AF_INET6: u8 = 24;

/// Actions (`enum { PF_PASS, PF_DROP, ... }` in pfvar.h).
pub const PF_PASS: u8 = 0;
pub const PF_DROP: u8 = 1;
pub const PF_SCRUB: u8 = 2;
pub const PF_NOSCRUB: u8 = 3;
pub const PF_NAT: u8 = 4;
pub const PF_NONAT: u8 = 5;
pub const PF_BINAT: u8 = 6;
pub const PF_NOBINAT: u8 = 7;
pub const PF_RDR: u8 = 8;
pub const PF_NORDR: u8 = 9;
pub const PF_SYNPROXY_DROP: u8 = 10;

/// Directions.
pub const PF_INOUT: u8 = 0;
pub const PF_IN: u8 = 1;
pub const PF_OUT: u8 = 2;

/// `subrulenr` when the rule is not inside an anchor.
pub const PFLOG_NO_SUBRULE: u32 = u32::MAX;
/// `uid` / `pid` when no socket was looked up for the packet (UID_MAX; tcpdump prints a
/// ` [uid N]` for any other value).
pub const PFLOG_NO_UID: u32 = u32::MAX;
pub const PFLOG_NO_PID: u32 = u32::MAX;

/// Names of the reasons (`PFRES_NAMES`), by number.
pub const PFRES_NAMES: [&str; 15] = [
    "match",
    "bad-offset",
    "fragment",
    "short",
    "normalize",
    "memory",
    "bad-timestamp",
    "congestion",
    "ip-option",
    "proto-cksum",
    "state-mismatch",
    "state-insert",
    "state-limit",
    "src-limit",
    "synproxy",
];

/// The action's name as tcpdump prints it (`None`: tcpdump prints `unkn(N)`).
pub fn action_name(action: u8) -> Option<&'static str> {
    Some(match action {
        PF_PASS => "pass",
        PF_DROP => "block",
        PF_SCRUB => "scrub",
        PF_NAT => "nat",
        PF_NONAT => "nonat",
        PF_BINAT => "binat",
        PF_NOBINAT => "nobinat",
        PF_RDR => "rdr",
        PF_NORDR => "nordr",
        PF_SYNPROXY_DROP => "synproxy-drop",
        _ => return None,
    })
}

/// The action a filter expression names (`action block`), as libpcap reads them:
/// case-insensitive, with `accept` for pass and `drop` for block.
pub fn action_by_name(name: &str) -> Option<u8> {
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "pass" | "accept" => PF_PASS,
        "block" | "drop" => PF_DROP,
        "scrub" => PF_SCRUB,
        "noscrub" => PF_NOSCRUB,
        "nat" => PF_NAT,
        "nonat" => PF_NONAT,
        "binat" => PF_BINAT,
        "nobinat" => PF_NOBINAT,
        "rdr" => PF_RDR,
        "nordr" => PF_NORDR,
        "synproxy-drop" => PF_SYNPROXY_DROP,
        _ => return None,
    })
}

/// The reason a filter expression names (`reason short`), case-insensitive.
pub fn reason_by_name(name: &str) -> Option<u8> {
    PFRES_NAMES
        .iter()
        .position(|r| r.eq_ignore_ascii_case(name))
        .map(|i| i as u8)
}

/// The direction's name as tcpdump prints it.
pub fn dir_name(dir: u8) -> Option<&'static str> {
    Some(match dir {
        PF_INOUT => "in/out",
        PF_IN => "in",
        PF_OUT => "out",
        _ => return None,
    })
}

/// The bytes of a NUL-padded name field up to its first NUL.
pub fn name_bytes(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    &field[..end]
}

/// A view of a pflog record: the header and the IP packet behind it.
#[derive(Debug, Clone, Copy)]
pub struct PflogPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PflogPacket<T> {
    /// A view whose `length` field is at least the older header's and whose header (the
    /// length rounded up to 4) lies inside the buffer.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        let Some(&len) = b.first() else {
            return Err(Error::Truncated);
        };
        if len < PFLOG_MIN_HDRLEN {
            return Err(Error::Malformed);
        }
        let p = PflogPacket { buffer };
        if p.header_len() > p.b().len() {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    /// The `length` field.
    pub fn length(&self) -> u8 {
        self.b()[0]
    }
    /// Where the packet starts: `length` rounded up to 4 (BPF_WORDALIGN).
    pub fn header_len(&self) -> usize {
        (usize::from(self.length()) + 3) & !3
    }
    /// Whether this is the newer header, with the uid/pid words.
    pub fn has_uid(&self) -> bool {
        self.length() >= PFLOG_REAL_HDRLEN
    }
    pub fn af(&self) -> u8 {
        self.b()[1]
    }
    /// Whether `af` names IPv4 (`Some(false)`), IPv6 (`Some(true)`), or neither.
    pub fn is_inet6(&self) -> Option<bool> {
        match self.af() {
            PFLOG_AF_INET => Some(false),
            PFLOG_AF_INET6 | 28 | 30 => Some(true),
            _ => None,
        }
    }
    pub fn action(&self) -> u8 {
        self.b()[2]
    }
    pub fn reason(&self) -> u8 {
        self.b()[3]
    }
    /// The interface name field (16 bytes, NUL-padded).
    pub fn ifname_field(&self) -> &[u8] {
        &self.b()[4..4 + IFNAMSIZ]
    }
    /// The interface name up to its NUL.
    pub fn ifname(&self) -> &[u8] {
        name_bytes(self.ifname_field())
    }
    /// The ruleset (anchor) name up to its NUL.
    pub fn ruleset(&self) -> &[u8] {
        name_bytes(&self.b()[20..20 + PF_RULESET_NAME_SIZE])
    }
    pub fn rulenr(&self) -> u32 {
        be32(self.b(), 36)
    }
    pub fn subrulenr(&self) -> u32 {
        be32(self.b(), 40)
    }
    /// The uid of the socket the packet belongs to (newer header only).
    pub fn uid(&self) -> Option<u32> {
        self.has_uid().then(|| be32(self.b(), 44))
    }
    pub fn pid(&self) -> Option<u32> {
        self.has_uid().then(|| be32(self.b(), 48))
    }
    pub fn rule_uid(&self) -> Option<u32> {
        self.has_uid().then(|| be32(self.b(), 52))
    }
    pub fn rule_pid(&self) -> Option<u32> {
        self.has_uid().then(|| be32(self.b(), 56))
    }
    /// Offset of `dir`: 60 in the newer header, 44 in the older.
    pub fn dir_offset(&self) -> usize {
        if self.has_uid() {
            60
        } else {
            44
        }
    }
    pub fn dir(&self) -> u8 {
        self.b()[self.dir_offset()]
    }
    /// The logged IP packet.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..]
    }
}

/// A pflog header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PflogRepr {
    pub af: u8,
    pub action: u8,
    pub reason: u8,
    /// NUL-padded; `set_ifname` fills it from a name.
    pub ifname: [u8; IFNAMSIZ],
    /// The anchor's name, NUL-padded (empty for the main ruleset).
    pub ruleset: [u8; PF_RULESET_NAME_SIZE],
    pub rulenr: u32,
    pub subrulenr: u32,
    pub uid: u32,
    pub pid: u32,
    pub rule_uid: u32,
    pub rule_pid: u32,
    pub dir: u8,
}

/// Copies `name` into a NUL-padded field, cutting it so one NUL always remains (as
/// `strlcpy` does).
fn fill_name(field: &mut [u8], name: &str) {
    field.fill(0);
    let n = name.len().min(field.len() - 1);
    field[..n].copy_from_slice(&name.as_bytes()[..n]);
}

impl PflogRepr {
    /// A header for a packet of family `inet6` logged by rule `rulenr` of the main
    /// ruleset on interface `ifname`: no anchor, no socket looked up.
    pub fn new(inet6: bool, action: u8, reason: u8, dir: u8, ifname: &str, rulenr: u32) -> PflogRepr {
        let mut r = PflogRepr {
            af: if inet6 { PFLOG_AF_INET6 } else { PFLOG_AF_INET },
            action,
            reason,
            ifname: [0; IFNAMSIZ],
            ruleset: [0; PF_RULESET_NAME_SIZE],
            rulenr,
            subrulenr: PFLOG_NO_SUBRULE,
            uid: PFLOG_NO_UID,
            pid: PFLOG_NO_PID,
            rule_uid: 0,
            rule_pid: 0,
            dir,
        };
        r.set_ifname(ifname);
        r
    }

    pub fn set_ifname(&mut self, name: &str) {
        fill_name(&mut self.ifname, name);
    }

    /// Marks the rule as rule `subrulenr` of anchor `ruleset`.
    pub fn set_anchor(&mut self, ruleset: &str, subrulenr: u32) {
        fill_name(&mut self.ruleset, ruleset);
        self.subrulenr = subrulenr;
    }

    /// Reads a checked header (either form; the older one gives the "none" uid/pid).
    pub fn parse<T: AsRef<[u8]>>(p: &PflogPacket<T>) -> PflogRepr {
        let mut ifname = [0; IFNAMSIZ];
        ifname.copy_from_slice(p.ifname_field());
        let mut ruleset = [0; PF_RULESET_NAME_SIZE];
        ruleset.copy_from_slice(&p.b()[20..20 + PF_RULESET_NAME_SIZE]);
        PflogRepr {
            af: p.af(),
            action: p.action(),
            reason: p.reason(),
            ifname,
            ruleset,
            rulenr: p.rulenr(),
            subrulenr: p.subrulenr(),
            uid: p.uid().unwrap_or(PFLOG_NO_UID),
            pid: p.pid().unwrap_or(PFLOG_NO_PID),
            rule_uid: p.rule_uid().unwrap_or(0),
            rule_pid: p.rule_pid().unwrap_or(0),
            dir: p.dir(),
        }
    }

    /// Writes the 64-byte header into `buf[..PFLOG_HDRLEN]` (for `Mbuf::prepend`).
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let Some(b) = buf.get_mut(..PFLOG_HDRLEN) else {
            return Err(Error::Truncated);
        };
        b[0] = PFLOG_REAL_HDRLEN;
        b[1] = self.af;
        b[2] = self.action;
        b[3] = self.reason;
        b[4..20].copy_from_slice(&self.ifname);
        b[20..36].copy_from_slice(&self.ruleset);
        b[36..40].copy_from_slice(&self.rulenr.to_be_bytes());
        b[40..44].copy_from_slice(&self.subrulenr.to_be_bytes());
        b[44..48].copy_from_slice(&self.uid.to_be_bytes());
        b[48..52].copy_from_slice(&self.pid.to_be_bytes());
        b[52..56].copy_from_slice(&self.rule_uid.to_be_bytes());
        b[56..60].copy_from_slice(&self.rule_pid.to_be_bytes());
        b[60] = self.dir;
        b[61..64].fill(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record written field by field from the table in the module's text, not by `emit`.
    fn handmade() -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[0] = 61;
        b[1] = 2;
        b[2] = 1; // block
        b[3] = 0; // match
        b[4..7].copy_from_slice(b"en0");
        b[36..40].copy_from_slice(&[0, 0, 0, 3]);
        b[40..44].copy_from_slice(&[0xff; 4]);
        b[44..52].copy_from_slice(&[0xff; 8]);
        b[60] = 1; // in
        b.extend_from_slice(&[0x45, 0, 0, 20]);
        b
    }

    #[test]
    fn reads_the_newer_header() {
        let b = handmade();
        let p = PflogPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 64);
        assert_eq!(p.is_inet6(), Some(false));
        assert_eq!(p.action(), PF_DROP);
        assert_eq!(p.reason(), 0);
        assert_eq!(p.ifname(), b"en0");
        assert_eq!(p.ruleset(), b"");
        assert_eq!(p.rulenr(), 3);
        assert_eq!(p.subrulenr(), PFLOG_NO_SUBRULE);
        assert_eq!(p.uid(), Some(PFLOG_NO_UID));
        assert_eq!(p.dir(), PF_IN);
        assert_eq!(p.payload(), &[0x45, 0, 0, 20]);
    }

    #[test]
    fn emit_writes_the_table_layout() {
        let r = PflogRepr::new(false, PF_DROP, 0, PF_IN, "en0", 3);
        let mut b = vec![0xaa; 64];
        r.emit(&mut b).unwrap();
        assert_eq!(&b[..], &handmade()[..64]);
        let p = PflogPacket::new_checked(&b[..]).unwrap();
        assert_eq!(PflogRepr::parse(&p), r);
        assert_eq!(r.emit(&mut [0; 63]), Err(Error::Truncated));
    }

    #[test]
    fn reads_the_older_header() {
        // 3.x: length 45, dir at 44, the packet at 48.
        let mut b = vec![0u8; 48];
        b[0] = 45;
        b[1] = 24;
        b[2] = PF_PASS;
        b[4..8].copy_from_slice(b"wm0\0");
        b[20..24].copy_from_slice(b"ftp\0");
        b[39] = 9;
        b[43] = 2;
        b[44] = PF_OUT;
        b.extend_from_slice(&[0x60, 0, 0, 0]);
        let p = PflogPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 48);
        assert_eq!(p.is_inet6(), Some(true));
        assert_eq!(p.dir(), PF_OUT);
        assert_eq!(p.uid(), None);
        assert_eq!(p.ruleset(), b"ftp");
        assert_eq!((p.rulenr(), p.subrulenr()), (9, 2));
        assert_eq!(p.payload(), &[0x60, 0, 0, 0]);
        assert_eq!(PflogRepr::parse(&p).uid, PFLOG_NO_UID);
    }

    #[test]
    fn short_or_bad_lengths_are_refused() {
        assert_eq!(PflogPacket::new_checked(&[][..]).unwrap_err(), Error::Truncated);
        let mut b = handmade();
        b[0] = 44;
        assert_eq!(PflogPacket::new_checked(&b[..]).unwrap_err(), Error::Malformed);
        b[0] = 61;
        assert_eq!(PflogPacket::new_checked(&b[..63]).unwrap_err(), Error::Truncated);
        // A length field past the buffer.
        b[0] = 255;
        assert_eq!(PflogPacket::new_checked(&b[..]).unwrap_err(), Error::Truncated);
    }

    #[test]
    fn names_are_cut_and_anchors_set() {
        let mut r = PflogRepr::new(true, PF_PASS, 3, PF_OUT, "a-very-long-interface-name", 1);
        assert_eq!(name_bytes(&r.ifname), b"a-very-long-int");
        assert_eq!(r.af, PFLOG_AF_INET6);
        r.set_anchor("anchor", 4);
        let mut b = [0u8; 64];
        r.emit(&mut b).unwrap();
        let p = PflogPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.ruleset(), b"anchor");
        assert_eq!(p.subrulenr(), 4);
    }

    #[test]
    fn names_of_actions_reasons_and_directions() {
        assert_eq!(action_name(PF_DROP), Some("block"));
        assert_eq!(action_name(PF_NOSCRUB), None);
        assert_eq!(action_by_name("DROP"), Some(PF_DROP));
        assert_eq!(action_by_name("accept"), Some(PF_PASS));
        assert_eq!(action_by_name("frob"), None);
        assert_eq!(reason_by_name("bad-offset"), Some(1));
        assert_eq!(reason_by_name("synproxy"), Some(14));
        assert_eq!(reason_by_name("nope"), None);
        assert_eq!(dir_name(PF_INOUT), Some("in/out"));
        assert_eq!(dir_name(3), None);
    }
}
