//! pcap savefiles (pcap-savefile(5)): the reader `tcpdump -r` uses and the writer behind
//! `-w`.
//!
//! A file is a 24-byte header (magic, version 2.4, reserved words, snap length, link type)
//! followed by records, each a 16-byte header (seconds, micro- or nanoseconds, captured
//! length, length on the wire) and the captured bytes. The magic number 0xa1b2c3d4 (or
//! 0xa1b23c4d for nanosecond time stamps) is written in the writer's byte order, so the
//! reader learns the order from it. The reader checks everything it is given and turns
//! every inconsistency into an [`Error`] worded as libpcap words it; it never panics.

use std::fmt;
use std::io::{self, Read, Write};

/// Link types (the LINKTYPE_ values of the pcap registry) this build prints.
pub const LINKTYPE_NULL: u32 = 0;
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_LOOP: u32 = 108;
/// PF's log interfaces (`pflog0`): a pflog header, then the IP packet.
pub const LINKTYPE_PFLOG: u32 = 117;

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;

/// The largest record a reader accepts, whatever the file's header says: libpcap's
/// MAXIMUM_SNAPLEN, its bound for every link type this build reads. A record up to it is
/// taken even when the header's snap length is smaller (as libpcap takes it); a larger one
/// is refused, so a file cannot make the reader allocate more than this for one record.
pub const MAX_SNAPLEN: u32 = 262144;

/// tcpdump's name and description of a link type, as `reading from file` shows it.
pub fn linktype_name(lt: u32) -> Option<(&'static str, &'static str)> {
    match lt {
        LINKTYPE_NULL => Some(("NULL", "BSD loopback")),
        LINKTYPE_ETHERNET => Some(("EN10MB", "Ethernet")),
        LINKTYPE_RAW => Some(("RAW", "Raw IP")),
        LINKTYPE_LOOP => Some(("LOOP", "OpenBSD loopback")),
        LINKTYPE_PFLOG => Some(("PFLOG", "OpenBSD pflog file")),
        _ => None,
    }
}

/// `link-type EN10MB (Ethernet)`, or `link-type 147` for one without a name.
pub fn linktype_desc(lt: u32) -> String {
    match linktype_name(lt) {
        Some((n, d)) => format!("{n} ({d})"),
        None => lt.to_string(),
    }
}

/// What can be wrong with a savefile.
#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    /// The file ended inside something: what, how many bytes were needed and how many came.
    Truncated {
        what: &'static str,
        wanted: usize,
        got: usize,
    },
    /// The first four bytes are not a pcap magic number.
    UnknownFormat,
    Version(u16, u16),
    /// A record longer than any the reader takes ([`MAX_SNAPLEN`]).
    CapLen {
        caplen: u32,
        max: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Truncated { what, wanted, got } => {
                write!(
                    f,
                    "truncated dump file; tried to read {wanted} {what} bytes, only got {got}"
                )
            }
            Error::UnknownFormat => f.write_str("unknown file format"),
            Error::Version(a, b) => write!(f, "unsupported pcap savefile version {a}.{b}"),
            Error::CapLen { caplen, max } => {
                write!(
                    f,
                    "invalid packet capture length {caplen}, bigger than maximum of {max}"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// The file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub snaplen: u32,
    pub linktype: u32,
    /// Time stamps carry nanoseconds rather than microseconds.
    pub nanos: bool,
    /// The file's byte order is not this machine's.
    pub swapped: bool,
}

/// One packet of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub ts_sec: u32,
    /// Microseconds (nanosecond files are converted, as tcpdump does by default).
    pub ts_usec: u32,
    /// The length the packet had on the wire; `data` holds what was captured.
    pub wirelen: u32,
    pub data: Vec<u8>,
}

/// Reads as much of `buf` as the input has; how much that was.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A 32-bit word of the file, in its byte order (`be`: big-endian).
fn word(b: &[u8], at: usize, be: bool) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    if be {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    }
}

fn half(b: &[u8], at: usize, be: bool) -> u16 {
    let w = [b.get(at).copied().unwrap_or(0), b.get(at + 1).copied().unwrap_or(0)];
    if be {
        u16::from_be_bytes(w)
    } else {
        u16::from_le_bytes(w)
    }
}

/// A savefile being read.
pub struct Reader<R> {
    input: R,
    be: bool,
    pub header: Header,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the file header.
    pub fn new(mut input: R) -> Result<Self, Error> {
        let mut h = [0u8; 24];
        let got = fill(&mut input, &mut h[..4])?;
        if got < 4 {
            return Err(Error::Truncated {
                what: "file header",
                wanted: 4,
                got,
            });
        }
        let m = [h[0], h[1], h[2], h[3]];
        let (nanos, be) = if m == MAGIC_USEC.to_be_bytes() {
            (false, true)
        } else if m == MAGIC_USEC.to_le_bytes() {
            (false, false)
        } else if m == MAGIC_NSEC.to_be_bytes() {
            (true, true)
        } else if m == MAGIC_NSEC.to_le_bytes() {
            (true, false)
        } else {
            return Err(Error::UnknownFormat);
        };
        let swapped = be != cfg!(target_endian = "big");
        let got = 4 + fill(&mut input, &mut h[4..])?;
        if got < 24 {
            return Err(Error::Truncated {
                what: "file header",
                wanted: 24,
                got,
            });
        }
        let (major, minor) = (half(&h, 4, be), half(&h, 6, be));
        if major != 2 {
            return Err(Error::Version(major, minor));
        }
        // A snap length of 0 or above the maximum is taken as the maximum, as libpcap does.
        let snaplen = match word(&h, 16, be) {
            0 => MAX_SNAPLEN,
            n => n.min(MAX_SNAPLEN),
        };
        // The upper bits of the link-type word carry FCS information; the type is the low 16.
        let linktype = word(&h, 20, be) & 0xffff;
        Ok(Reader {
            input,
            be,
            header: Header {
                snaplen,
                linktype,
                nanos,
                swapped,
            },
        })
    }

    /// The next record, None at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, Error> {
        let mut h = [0u8; 16];
        let got = fill(&mut self.input, &mut h)?;
        if got == 0 {
            return Ok(None);
        }
        if got < 16 {
            return Err(Error::Truncated {
                what: "header",
                wanted: 16,
                got,
            });
        }
        let s = self.be;
        let (ts_sec, frac, caplen, wirelen) = (word(&h, 0, s), word(&h, 4, s), word(&h, 8, s), word(&h, 12, s));
        if caplen > MAX_SNAPLEN {
            return Err(Error::CapLen {
                caplen,
                max: MAX_SNAPLEN,
            });
        }
        // The buffer grows with what the file really has, so a short file that promises a
        // long record costs no more memory than its own length.
        let mut data = Vec::new();
        loop {
            match (&mut self.input).take(u64::from(caplen)).read_to_end(&mut data) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if data.len() < caplen as usize {
            return Err(Error::Truncated {
                what: "captured",
                wanted: caplen as usize,
                got: data.len(),
            });
        }
        let ts_usec = if self.header.nanos { frac / 1000 } else { frac };
        Ok(Some(Record {
            ts_sec,
            ts_usec,
            wirelen: wirelen.max(caplen),
            data,
        }))
    }
}

/// A savefile being written: microsecond time stamps, this machine's byte order (which is
/// little-endian on the machines pktbox runs on).
pub struct Writer<W: Write> {
    out: W,
    snaplen: u32,
    /// Flush after every packet (`-U`).
    pub flush_each: bool,
}

impl<W: Write> Writer<W> {
    /// Writes the file header.
    pub fn new(mut out: W, snaplen: u32, linktype: u32) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend(MAGIC_USEC.to_ne_bytes());
        h.extend(2u16.to_ne_bytes());
        h.extend(4u16.to_ne_bytes());
        h.extend(0u32.to_ne_bytes()); // thiszone
        h.extend(0u32.to_ne_bytes()); // sigfigs
        h.extend(snaplen.to_ne_bytes());
        h.extend(linktype.to_ne_bytes());
        out.write_all(&h)?;
        Ok(Writer {
            out,
            snaplen,
            flush_each: false,
        })
    }

    /// Writes one packet: at most the snap length of `data`, and its length on the wire.
    pub fn packet(&mut self, ts_sec: u32, ts_usec: u32, data: &[u8], wirelen: u32) -> io::Result<()> {
        let data = data.get(..self.snaplen as usize).unwrap_or(data);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&ts_sec.to_ne_bytes());
        h[4..8].copy_from_slice(&ts_usec.to_ne_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_ne_bytes());
        h[12..16].copy_from_slice(&wirelen.max(data.len() as u32).to_ne_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), 65535, LINKTYPE_ETHERNET).expect("vec");
        for (s, u, d, l) in records {
            w.packet(*s, *u, d, *l).expect("vec");
        }
        w.into_inner()
    }

    #[test]
    fn round_trip() {
        let f = file(&[(1, 2, b"abcdef", 6), (3, 999_999, b"xy", 60)]);
        assert_eq!(f.len(), 24 + 16 + 6 + 16 + 2);
        let mut r = Reader::new(&f[..]).expect("header");
        assert_eq!(
            r.header,
            Header {
                snaplen: 65535,
                linktype: 1,
                nanos: false,
                swapped: false
            }
        );
        let a = r.next_record().expect("ok").expect("one");
        assert_eq!((a.ts_sec, a.ts_usec, a.wirelen, &a.data[..]), (1, 2, 6, &b"abcdef"[..]));
        let b = r.next_record().expect("ok").expect("two");
        assert_eq!((b.ts_usec, b.wirelen, &b.data[..]), (999_999, 60, &b"xy"[..]));
        assert!(r.next_record().expect("ok").is_none());
    }

    #[test]
    fn other_byte_order_and_nanoseconds() {
        let mut f = Vec::new();
        f.extend(MAGIC_NSEC.to_be_bytes());
        f.extend(2u16.to_be_bytes());
        f.extend(4u16.to_be_bytes());
        f.extend([0; 8]);
        f.extend(96u32.to_be_bytes());
        f.extend(1u32.to_be_bytes());
        for w in [7u32, 123_456_789, 3, 50] {
            f.extend(w.to_be_bytes());
        }
        f.extend(b"abc");
        let mut r = Reader::new(&f[..]).expect("header");
        assert!(r.header.nanos && r.header.snaplen == 96 && r.header.linktype == 1);
        assert_eq!(r.header.swapped, cfg!(target_endian = "little"));
        let p = r.next_record().expect("ok").expect("one");
        assert_eq!(
            (p.ts_sec, p.ts_usec, p.wirelen, &p.data[..]),
            (7, 123_456, 50, &b"abc"[..])
        );
    }

    #[test]
    fn errors_worded_as_libpcap() {
        let msg = |b: &[u8]| match Reader::new(b).and_then(|mut r| r.next_record().map(|_| ())) {
            Err(e) => e.to_string(),
            Ok(()) => "ok".into(),
        };
        assert_eq!(
            msg(b"abc"),
            "truncated dump file; tried to read 4 file header bytes, only got 3"
        );
        assert_eq!(msg(b"abcdefgh"), "unknown file format");
        let f = file(&[(1, 2, b"abcdef", 6)]);
        assert_eq!(
            msg(&f[..6]),
            "truncated dump file; tried to read 24 file header bytes, only got 6"
        );
        assert_eq!(
            msg(&f[..31]),
            "truncated dump file; tried to read 16 header bytes, only got 7"
        );
        assert_eq!(
            msg(&f[..43]),
            "truncated dump file; tried to read 6 captured bytes, only got 3"
        );
        let mut g = f.clone();
        g[4] = 9;
        assert_eq!(msg(&g), "unsupported pcap savefile version 9.4");
        let mut g = f;
        g[24 + 10] = 0x10;
        assert_eq!(
            msg(&g),
            "invalid packet capture length 1048582, bigger than maximum of 262144"
        );
    }

    /// A header cannot raise the per-record bound: a snap length of 2^32-1 is taken as
    /// libpcap's maximum, and a record above it is refused before anything is allocated.
    #[test]
    fn header_snaplen_does_not_raise_the_record_bound() {
        let mut f = file(&[(1, 2, b"abcdef", 6)]);
        f[16..20].copy_from_slice(&u32::MAX.to_ne_bytes());
        f[24 + 8..24 + 12].copy_from_slice(&0xffff_fff0u32.to_ne_bytes());
        let mut r = Reader::new(&f[..]).expect("header");
        assert_eq!(r.header.snaplen, MAX_SNAPLEN);
        match r.next_record() {
            Err(e) => assert_eq!(
                e.to_string(),
                "invalid packet capture length 4294967280, bigger than maximum of 262144"
            ),
            Ok(_) => panic!("a 4 GiB record was taken"),
        }
        // Snap length 0 means the maximum too.
        f[16..20].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(Reader::new(&f[..]).expect("header").header.snaplen, MAX_SNAPLEN);
    }

    /// A record longer than the header's snap length but within the maximum is read, as
    /// libpcap reads it; one that claims the maximum and stops short is reported truncated.
    #[test]
    fn records_up_to_the_maximum_are_read() {
        let big = vec![7u8; 70_000];
        let f = file(&[(1, 2, &big, 70_000)]);
        let mut g = f.clone();
        g[16..20].copy_from_slice(&96u32.to_ne_bytes());
        // The writer cut the record at its snap length (65535): make the record whole again.
        g.truncate(24);
        for w in [1u32, 2, 70_000, 70_000] {
            g.extend(w.to_ne_bytes());
        }
        g.extend(&big);
        let mut r = Reader::new(&g[..]).expect("header");
        assert_eq!(r.next_record().expect("ok").expect("one").data.len(), 70_000);
        g.truncate(24 + 16 + 10);
        g[24 + 8..24 + 12].copy_from_slice(&MAX_SNAPLEN.to_ne_bytes());
        let mut r = Reader::new(&g[..]).expect("header");
        assert_eq!(
            r.next_record().expect_err("short").to_string(),
            "truncated dump file; tried to read 262144 captured bytes, only got 10"
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let base = file(&[(1, 2, b"abcdef", 6), (3, 4, &[0u8; 70], 70)]);
        for i in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = base.clone();
            // Flip a few bytes, then cut somewhere.
            for k in 0..(x % 4) {
                let at = ((x >> (8 * k)) as usize) % b.len();
                b[at] = (x >> (3 * k)) as u8;
            }
            b.truncate((x >> 20) as usize % (b.len() + 1));
            if i % 7 == 0 {
                b = (0..(x % 64)).map(|k| (x >> (k % 56)) as u8).collect();
            }
            if let Ok(mut r) = Reader::new(&b[..]) {
                while let Ok(Some(_)) = r.next_record() {}
            }
        }
    }
}
