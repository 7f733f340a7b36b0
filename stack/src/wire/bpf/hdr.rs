//! The records a capture's read returns and the constants a capture is set with
//! (`net/bpf.h`): `struct bpf_hdr` as a 64-bit NetBSD lays it out (`bpf_timeval` of two
//! longs, then caplen, datalen and hdrlen), little-endian, each record padded to a multiple
//! of 8 ([`BPF_ALIGNMENT`]); [`records`] walks a buffer of them.

/// `bpf_hdr`'s size on the wire: tv_sec (8), tv_usec (8), caplen (4), datalen (4),
/// hdrlen (2).
pub const SIZEOF_BPF_HDR: usize = 26;
/// Records start on multiples of this (`BPF_ALIGNMENT`, a long).
pub const BPF_ALIGNMENT: usize = 8;
/// Direction filter values (`BIOCSDIRECTION`), as NetBSD numbers them.
pub const BPF_D_IN: u32 = 0;
pub const BPF_D_INOUT: u32 = 1;
pub const BPF_D_OUT: u32 = 2;

/// Link types (`DLT_*`).
pub const DLT_NULL: u32 = 0;
pub const DLT_EN10MB: u32 = 1;

/// Rounds up to the record alignment (`BPF_WORDALIGN`).
pub const fn bpf_wordalign(n: usize) -> usize {
    (n + BPF_ALIGNMENT - 1) & !(BPF_ALIGNMENT - 1)
}

/// One record's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfHdr {
    pub tv_sec: i64,
    pub tv_usec: i64,
    /// Bytes captured (what follows the header).
    pub caplen: u32,
    /// The packet's length on the wire.
    pub datalen: u32,
    /// Where the packet starts, from the start of the record.
    pub hdrlen: u16,
}

impl BpfHdr {
    /// Appends the header as a record starts.
    pub fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.tv_sec.to_le_bytes());
        out.extend_from_slice(&self.tv_usec.to_le_bytes());
        out.extend_from_slice(&self.caplen.to_le_bytes());
        out.extend_from_slice(&self.datalen.to_le_bytes());
        out.extend_from_slice(&self.hdrlen.to_le_bytes());
    }

    /// The header at the start of `b`, or `None` when `b` is shorter than one.
    pub fn get(b: &[u8]) -> Option<BpfHdr> {
        let b: &[u8; SIZEOF_BPF_HDR] = b.get(..SIZEOF_BPF_HDR)?.try_into().ok()?;
        let i64_at = |i: usize| {
            i64::from_le_bytes([
                b[i],
                b[i + 1],
                b[i + 2],
                b[i + 3],
                b[i + 4],
                b[i + 5],
                b[i + 6],
                b[i + 7],
            ])
        };
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(BpfHdr {
            tv_sec: i64_at(0),
            tv_usec: i64_at(8),
            caplen: u32_at(16),
            datalen: u32_at(20),
            hdrlen: u16::from_le_bytes([b[24], b[25]]),
        })
    }
}

/// Walks a buffer of records as a read returns it: each header with its captured bytes.
/// A record that does not fit what is left ends the walk.
pub fn records(buf: &[u8]) -> impl Iterator<Item = (BpfHdr, &[u8])> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        let rest = buf.get(off..)?;
        let h = BpfHdr::get(rest)?;
        let start = usize::from(h.hdrlen);
        let data = rest.get(start..start.checked_add(h.caplen as usize)?)?;
        off += bpf_wordalign(start + h.caplen as usize);
        Some((h, data))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(h: &BpfHdr, data: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        h.put(out);
        out.resize(start + usize::from(h.hdrlen), 0);
        out.extend_from_slice(data);
        out.resize(start + bpf_wordalign(usize::from(h.hdrlen) + data.len()), 0);
    }

    #[test]
    fn records_round_trip_and_stop_at_a_short_one() {
        let a = BpfHdr {
            tv_sec: 1,
            tv_usec: 2,
            caplen: 3,
            datalen: 60,
            hdrlen: SIZEOF_BPF_HDR as u16,
        };
        let b = BpfHdr {
            tv_sec: -1,
            tv_usec: 999_999,
            caplen: 0,
            datalen: 0,
            hdrlen: 32,
        };
        let mut buf = Vec::new();
        record(&a, &[1, 2, 3], &mut buf);
        record(&b, &[], &mut buf);
        let got: Vec<_> = records(&buf).collect();
        assert_eq!(got, vec![(a, &[1u8, 2, 3][..]), (b, &[][..])]);
        // Every truncation gives a prefix of the records, never a panic.
        for n in 0..buf.len() {
            let k = records(&buf[..n]).count();
            assert!(k <= 1, "{n}: {k}");
        }
        assert_eq!(BpfHdr::get(&buf[..SIZEOF_BPF_HDR - 1]), None);
        assert_eq!(bpf_wordalign(0), 0);
        assert_eq!(bpf_wordalign(29), 32);
    }
}
