//! TCP (RFC 9293): a view of the header and its segment, the flags and option kinds
//! (`netinet/tcp.h`), an iterator over the options (RFC 9293 MSS, RFC 7323 window scale
//! and timestamps, RFC 2018 SACK), the options a segment carries as values (`TcpOpts`),
//! and a `Repr` with `parse` and `emit`.

use std::net::IpAddr;

use super::checksum::transport_cksum;
use super::ipv4::IPPROTO_TCP;
use super::{be16, be32, Error, Result};

pub const TCP_HDR_LEN: usize = 20;
/// The longest header (data offset 15).
pub const TCP_MAXHDR_LEN: usize = 60;

pub const TH_FIN: u8 = 0x01;
pub const TH_SYN: u8 = 0x02;
pub const TH_RST: u8 = 0x04;
pub const TH_PUSH: u8 = 0x08;
pub const TH_ACK: u8 = 0x10;
pub const TH_URG: u8 = 0x20;
pub const TH_ECE: u8 = 0x40;
pub const TH_CWR: u8 = 0x80;

pub const TCPOPT_EOL: u8 = 0;
pub const TCPOPT_NOP: u8 = 1;
pub const TCPOPT_MAXSEG: u8 = 2;
pub const TCPOPT_WINDOW: u8 = 3;
pub const TCPOPT_SACK_PERMITTED: u8 = 4;
pub const TCPOPT_SACK: u8 = 5;
pub const TCPOPT_TIMESTAMP: u8 = 8;

/// The most SACK blocks a segment's options can carry (40 bytes of options).
pub const TCP_MAX_SACK: usize = 4;

/// A view of a TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// A view without checks: the caller knows the buffer holds the 20-byte header.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// A view whose data offset is at least 20 and inside the buffer.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = TcpPacket { buffer };
        let b = p.b();
        if b.len() < TCP_HDR_LEN {
            return Err(Error::Truncated);
        }
        let off = p.header_len();
        if off < TCP_HDR_LEN {
            return Err(Error::Malformed);
        }
        if off > b.len() {
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
    pub fn src_port(&self) -> u16 {
        be16(self.b(), 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), 2)
    }
    pub fn seq(&self) -> u32 {
        be32(self.b(), 4)
    }
    pub fn ack(&self) -> u32 {
        be32(self.b(), 8)
    }
    /// The header's length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[12] >> 4) * 4
    }
    /// The flag bits (`th_flags`, CWR and ECE included).
    pub fn flags(&self) -> u8 {
        self.b()[13]
    }
    pub fn window(&self) -> u16 {
        be16(self.b(), 14)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 16)
    }
    pub fn urgent(&self) -> u16 {
        be16(self.b(), 18)
    }
    /// The options bytes (empty when the data offset is out of the buffer).
    pub fn options(&self) -> &[u8] {
        self.b().get(TCP_HDR_LEN..self.header_len()).unwrap_or(&[])
    }
    /// The options, one at a time.
    pub fn options_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options())
    }
    /// The data after the header (empty when the data offset is out of the buffer).
    pub fn payload(&self) -> &[u8] {
        self.b().get(self.header_len()..).unwrap_or(&[])
    }
    /// Whether the checksum over the whole buffer verifies under the pseudo-header.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        transport_cksum(src, dst, IPPROTO_TCP, self.b()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Computes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        let b = self.buffer.as_mut();
        b[16..18].copy_from_slice(&[0, 0]);
        let c = transport_cksum(src, dst, IPPROTO_TCP, b);
        b[16..18].copy_from_slice(&c.to_be_bytes());
    }
}

/// One option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    MaxSeg(u16),
    WindowScale(u8),
    SackPermitted,
    /// SACK blocks as bytes, a multiple of 8: see [`sack_blocks`].
    Sack(&'a [u8]),
    Timestamp {
        val: u32,
        ecr: u32,
    },
    /// Any other kind, or a known kind of the wrong length (ignored, as RFC 9293 3.1 asks).
    Other {
        kind: u8,
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// One option from its kind and the bytes after kind and length.
    pub fn decode(kind: u8, d: &'a [u8]) -> TcpOption<'a> {
        match (kind, d.len()) {
            (TCPOPT_MAXSEG, 2) => TcpOption::MaxSeg(be16(d, 0)),
            (TCPOPT_WINDOW, 1) => TcpOption::WindowScale(d[0]),
            (TCPOPT_SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (TCPOPT_SACK, n) if n % 8 == 0 => TcpOption::Sack(d),
            (TCPOPT_TIMESTAMP, 8) => TcpOption::Timestamp {
                val: be32(d, 0),
                ecr: be32(d, 4),
            },
            _ => TcpOption::Other { kind, data: d },
        }
    }
}

/// The (left, right) edges of a SACK option's blocks.
pub fn sack_blocks(b: &[u8]) -> impl Iterator<Item = (u32, u32)> + '_ {
    b.chunks_exact(8).map(|c| (be32(c, 0), be32(c, 4)))
}

/// Walks a segment's options: NOP is skipped, EOL ends the walk, a length below 2 or past
/// the end yields one `Err(Malformed)` and ends it (what came before stands).
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    pub fn new(opts: &'a [u8]) -> Self {
        TcpOptions { rest: opts }
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let &kind = self.rest.first()?;
            match kind {
                TCPOPT_EOL => {
                    self.rest = &[];
                    return None;
                }
                TCPOPT_NOP => self.rest = &self.rest[1..],
                _ => {
                    let len = match self.rest.get(1) {
                        Some(&l) if l >= 2 && usize::from(l) <= self.rest.len() => usize::from(l),
                        _ => {
                            self.rest = &[];
                            return Some(Err(Error::Malformed));
                        }
                    };
                    let d = &self.rest[2..len];
                    self.rest = &self.rest[len..];
                    return Some(Ok(TcpOption::decode(kind, d)));
                }
            }
        }
    }
}

/// The options of a segment that a TCP acts on, as values.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpOpts {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    /// (TSval, TSecr).
    pub ts: Option<(u32, u32)>,
    pub sack_ok: bool,
    /// SACK blocks (up to four).
    pub sacks: [(u32, u32); TCP_MAX_SACK],
    pub nsacks: usize,
}

impl TcpOpts {
    /// Reads an options list; a malformed one ends the walk and what came before stands.
    pub fn parse(opts: &[u8]) -> TcpOpts {
        let mut r = TcpOpts::default();
        for o in TcpOptions::new(opts) {
            match o {
                Ok(TcpOption::MaxSeg(m)) => r.mss = Some(m),
                Ok(TcpOption::WindowScale(w)) => r.wscale = Some(w),
                Ok(TcpOption::SackPermitted) => r.sack_ok = true,
                Ok(TcpOption::Sack(b)) => {
                    for blk in sack_blocks(b) {
                        if r.nsacks < TCP_MAX_SACK {
                            r.sacks[r.nsacks] = blk;
                            r.nsacks += 1;
                        }
                    }
                }
                Ok(TcpOption::Timestamp { val, ecr }) => r.ts = Some((val, ecr)),
                Ok(TcpOption::Other { .. }) => {}
                Err(_) => break,
            }
        }
        r
    }

    /// The bytes `emit` writes: padded with NOPs to 4-byte words.
    pub fn len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.wscale.is_some() {
            n += 4;
        }
        if self.sack_ok {
            n += 4;
        }
        if self.ts.is_some() {
            n += 12;
        }
        if self.nsacks > 0 {
            n += 4 + 8 * self.nsacks.min(TCP_MAX_SACK);
        }
        n
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the options in the order BSD sends them (MSS; NOP, window scale; NOP NOP
    /// SACK-permitted; NOP NOP timestamps; NOP NOP SACK blocks).
    pub fn emit(&self, out: &mut Vec<u8>) {
        if let Some(m) = self.mss {
            out.extend_from_slice(&[TCPOPT_MAXSEG, 4]);
            out.extend_from_slice(&m.to_be_bytes());
        }
        if let Some(w) = self.wscale {
            out.extend_from_slice(&[TCPOPT_NOP, TCPOPT_WINDOW, 3, w]);
        }
        if self.sack_ok {
            out.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERMITTED, 2]);
        }
        if let Some((val, ecr)) = self.ts {
            out.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10]);
            out.extend_from_slice(&val.to_be_bytes());
            out.extend_from_slice(&ecr.to_be_bytes());
        }
        let n = self.nsacks.min(TCP_MAX_SACK);
        if n > 0 {
            out.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK, (2 + 8 * n) as u8]);
            for (l, r) in &self.sacks[..n] {
                out.extend_from_slice(&l.to_be_bytes());
                out.extend_from_slice(&r.to_be_bytes());
            }
        }
    }
}

/// A segment's header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    pub opts: TcpOpts,
}

impl TcpRepr {
    /// Reads a checked segment whose checksum verifies under the pseudo-header of `src`
    /// and `dst` (else `Malformed`); returns the header and the data.
    pub fn parse<'a>(p: &TcpPacket<&'a [u8]>, src: IpAddr, dst: IpAddr) -> Result<(TcpRepr, &'a [u8])> {
        let b: &'a [u8] = p.buffer;
        let v = TcpPacket::new_checked(b)?;
        if !v.verify_checksum(src, dst) {
            return Err(Error::Malformed);
        }
        let off = v.header_len();
        Ok((
            TcpRepr {
                src_port: v.src_port(),
                dst_port: v.dst_port(),
                seq: v.seq(),
                ack: v.ack(),
                flags: v.flags(),
                window: v.window(),
                urgent: v.urgent(),
                opts: TcpOpts::parse(&b[TCP_HDR_LEN..off]),
            },
            &b[off..],
        ))
    }

    pub fn header_len(&self) -> usize {
        TCP_HDR_LEN + self.opts.len()
    }

    /// Appends the segment (header, options, `payload`) to `out` with its checksum.
    pub fn emit(&self, out: &mut Vec<u8>, payload: &[u8], src: IpAddr, dst: IpAddr) -> Result<()> {
        let hlen = self.header_len();
        if hlen > TCP_MAXHDR_LEN {
            return Err(Error::Malformed);
        }
        let start = out.len();
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ack.to_be_bytes());
        out.push(((hlen / 4) as u8) << 4);
        out.push(self.flags);
        out.extend_from_slice(&self.window.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.urgent.to_be_bytes());
        self.opts.emit(out);
        out.extend_from_slice(payload);
        TcpPacket::new_unchecked(&mut out[start..]).fill_checksum(src, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn syn() -> TcpRepr {
        let mut opts = TcpOpts {
            mss: Some(1460),
            wscale: Some(7),
            ts: Some((0x01020304, 0)),
            sack_ok: true,
            ..Default::default()
        };
        opts.sacks[0] = (10, 20);
        opts.nsacks = 1;
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 0xdeadbeef,
            ack: 0,
            flags: TH_SYN,
            window: 65535,
            urgent: 0,
            opts,
        }
    }

    #[test]
    fn round_trip_both_families() {
        let r = syn();
        for (s, d) in [(a("10.0.0.1"), a("10.0.0.2")), (a("2001:db8::1"), a("2001:db8::2"))] {
            let mut b = Vec::new();
            r.emit(&mut b, b"data", s, d).unwrap();
            assert_eq!(b.len(), r.header_len() + 4);
            assert_eq!(r.header_len() % 4, 0);
            let p = TcpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(TcpRepr::parse(&p, s, d), Ok((r, &b"data"[..])));
            // The addresses count (swapping them would not: the sum is symmetric).
            assert_eq!(TcpRepr::parse(&p, s, s), Err(Error::Malformed));
        }
        // Five SACK blocks do not fit with the rest: refused, not truncated silently.
        let mut big = syn();
        big.opts.nsacks = 4;
        assert_eq!(
            big.emit(&mut Vec::new(), &[], a("::1"), a("::1")),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn known_checksum() {
        // 10.0.0.1:1 -> 10.0.0.2:2, seq 0, ack 0, offset 5, no flags, window 0.
        // Pseudo 0x0a00+1+0x0a00+2+6+20 = 0x141d; header 1+2+0x5000 = 0x5003.
        let r = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 0,
            ack: 0,
            flags: 0,
            window: 0,
            urgent: 0,
            opts: TcpOpts::default(),
        };
        let mut b = Vec::new();
        r.emit(&mut b, &[], a("10.0.0.1"), a("10.0.0.2")).unwrap();
        assert_eq!(u16::from_be_bytes([b[16], b[17]]), !(0x141du16 + 0x5003));
    }

    #[test]
    fn options_iterator() {
        let o = [
            TCPOPT_MAXSEG,
            4,
            5,
            0xb4,
            TCPOPT_NOP,
            TCPOPT_WINDOW,
            3,
            14,
            TCPOPT_SACK_PERMITTED,
            2,
            99,
            3,
            7,
            TCPOPT_MAXSEG,
            3,
            1,
            TCPOPT_SACK,
            10,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            2,
            TCPOPT_EOL,
            TCPOPT_MAXSEG,
        ];
        let got: Vec<_> = TcpOptions::new(&o).collect();
        assert_eq!(
            got,
            vec![
                Ok(TcpOption::MaxSeg(1460)),
                Ok(TcpOption::WindowScale(14)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Other { kind: 99, data: &[7] }),
                Ok(TcpOption::Other {
                    kind: TCPOPT_MAXSEG,
                    data: &[1]
                }),
                Ok(TcpOption::Sack(&[0, 0, 0, 1, 0, 0, 0, 2])),
            ]
        );
        let p = TcpOpts::parse(&o);
        assert_eq!(
            (p.mss, p.wscale, p.sack_ok, p.nsacks, p.sacks[0]),
            (Some(1460), Some(14), true, 1, (1, 2))
        );
        // A malformed option ends the walk; what came before stands.
        let bad = [TCPOPT_WINDOW, 3, 2, TCPOPT_TIMESTAMP, 1, 0, 0];
        assert_eq!(TcpOptions::new(&bad).last(), Some(Err(Error::Malformed)));
        assert_eq!(TcpOpts::parse(&bad).wscale, Some(2));
        assert_eq!(TcpOpts::parse(&[TCPOPT_MAXSEG, 40, 0, 0]), TcpOpts::default());
        // Every prefix of a list parses without panicking.
        let mut full = Vec::new();
        syn().opts.emit(&mut full);
        for n in 0..full.len() {
            let _ = TcpOpts::parse(&full[..n]);
            assert!(TcpOptions::new(&full[..n]).count() <= 5);
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut b = Vec::new();
        syn().emit(&mut b, &[], a("::1"), a("::1")).unwrap();
        for n in 0..b.len() {
            assert_eq!(TcpPacket::new_checked(&b[..n]).err(), Some(Error::Truncated), "{n}");
        }
        let mut bad = b.clone();
        bad[12] = 4 << 4;
        assert_eq!(TcpPacket::new_checked(&bad[..]).err(), Some(Error::Malformed));
        let v = TcpPacket::new_unchecked(&b[..20]);
        assert_eq!((v.options(), v.payload()), (&[][..], &[][..]));
    }
}
