//! The out-of-order queue (NetBSD's tcp_reass segment queue): data that arrived above
//! rcv_nxt, waiting for the hole below it to fill.
//!
//! Sequence numbers wrap at 2^32, so they cannot key an ordered map as they are: near the
//! wrap a later segment would sort first. The queue keys its runs by a 64-bit unwrapped
//! sequence number instead, counted from an anchor that follows rcv_nxt (everything held
//! lies within a window of it, far less than 2^31 away), so the map's order is the
//! sequence space's order on either side of the wrap.
//!
//! Its memory is bounded twice: by bytes (the caller's receive space, which counts what is
//! held here) and by runs (`max_runs`, net.inet.tcp.reass_maxqueuelen), since a peer could
//! otherwise fill a large window with 1-byte segments, each costing far more than its byte.
//! A segment that continues the run before it is appended to that run, so a burst that
//! arrives in order behind one hole costs one run, not one per segment.

use std::collections::BTreeMap;

/// Where the unwrapped numbering starts: far from 0 either way.
const ANCHOR: u64 = 1 << 40;

/// Why a segment was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Keeping it would take more runs than allowed.
    TooManyRuns,
}

#[derive(Debug, Clone)]
pub struct SegQueue {
    /// Runs of contiguous data, by unwrapped starting sequence number; they never overlap.
    runs: BTreeMap<u64, Vec<u8>>,
    bytes: usize,
    /// The sequence number `base_abs` stands for (rcv_nxt when last looked at).
    base: u32,
    base_abs: u64,
}

impl Default for SegQueue {
    fn default() -> Self {
        SegQueue {
            runs: BTreeMap::new(),
            bytes: 0,
            base: 0,
            base_abs: ANCHOR,
        }
    }
}

impl SegQueue {
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Runs held.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Moves the anchor to `rcv_nxt`, which only ever moves forward, less than 2^31 at a
    /// time.
    fn rebase(&mut self, rcv_nxt: u32) {
        if self.runs.is_empty() {
            self.base_abs = ANCHOR;
        } else {
            let d = rcv_nxt.wrapping_sub(self.base) as i32 as i64;
            self.base_abs = self.base_abs.wrapping_add_signed(d);
        }
        self.base = rcv_nxt;
    }

    fn abs(&self, seq: u32) -> u64 {
        self.base_abs
            .wrapping_add_signed(i64::from(seq.wrapping_sub(self.base) as i32))
    }

    fn seq_of(&self, abs: u64) -> u32 {
        self.base.wrapping_add(abs.wrapping_sub(self.base_abs) as u32)
    }

    /// Keeps `data`, which starts at `seq` above `rcv_nxt`. What is already held is not
    /// kept twice (the new segment is trimmed to what is new). Ok also when nothing was
    /// new.
    pub fn insert(&mut self, rcv_nxt: u32, seq: u32, data: &[u8], max_runs: usize) -> Result<(), Refused> {
        self.rebase(rcv_nxt);
        let mut s = self.abs(seq);
        let mut data = data;
        // Not below rcv_nxt: that part is the caller's (in-sequence) business.
        if s < self.base_abs {
            let skip = (self.base_abs - s).min(data.len() as u64) as usize;
            data = &data[skip..];
            s = self.base_abs;
        }
        if data.is_empty() {
            return Ok(());
        }
        // The run before: it may cover the start, or all, of the new data.
        let mut append_to = None;
        if let Some((&ps, pd)) = self.runs.range(..=s).next_back() {
            let pe = ps + pd.len() as u64;
            if pe >= s + data.len() as u64 {
                return Ok(());
            }
            if pe >= s {
                data = &data[(pe - s) as usize..];
                s = pe;
                append_to = Some(ps);
            }
        }
        // Runs the new data covers whole go; one it reaches into cuts the new data short.
        let e = s + data.len() as u64;
        let inside: Vec<u64> = self.runs.range(s..e).map(|(&k, _)| k).collect();
        let mut end = e;
        for k in inside {
            let len = self.runs.get(&k).map_or(0, Vec::len) as u64;
            if k + len <= e {
                if let Some(v) = self.runs.remove(&k) {
                    self.bytes -= v.len();
                }
            } else {
                end = k;
                break;
            }
        }
        let data = &data[..(end - s) as usize];
        if data.is_empty() {
            return Ok(());
        }
        match append_to.and_then(|ps| self.runs.get_mut(&ps)) {
            Some(run) => run.extend_from_slice(data),
            None => {
                if self.runs.len() >= max_runs {
                    return Err(Refused::TooManyRuns);
                }
                self.runs.insert(s, data.to_vec());
            }
        }
        self.bytes += data.len();
        Ok(())
    }

    /// Takes the first run when the hole before it is filled (it starts at or below
    /// `rcv_nxt`), without the part below `rcv_nxt`. Runs wholly below it are dropped.
    pub fn pull(&mut self, rcv_nxt: u32) -> Option<Vec<u8>> {
        self.rebase(rcv_nxt);
        loop {
            let (&s, _) = self.runs.iter().next()?;
            if s > self.base_abs {
                return None;
            }
            let mut run = self.runs.remove(&s)?;
            self.bytes -= run.len();
            let skip = (self.base_abs - s) as usize;
            if skip < run.len() {
                run.drain(..skip);
                return Some(run);
            }
        }
    }

    /// The sequence ranges held, in sequence order, adjacent runs joined (for SACK).
    pub fn ranges(&self) -> Vec<(u32, u32)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (&s, d) in &self.runs {
            let e = s + d.len() as u64;
            match out.last_mut() {
                Some(last) if last.1 >= s => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        out.into_iter().map(|(a, b)| (self.seq_of(a), self.seq_of(b))).collect()
    }

    /// Forgets everything held.
    pub fn clear(&mut self) {
        self.runs.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `segs` (offset from `isn`, length) in order; delivers in-sequence data as a
    /// receiver does; returns what was delivered and the final rcv_nxt.
    fn receive(isn: u32, total: usize, segs: &[(usize, usize)]) -> (Vec<u8>, u32) {
        let src: Vec<u8> = (0..total).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut q = SegQueue::default();
        let mut nxt = isn;
        let mut out = Vec::new();
        for &(off, len) in segs {
            let seq = isn.wrapping_add(off as u32);
            let data = &src[off..off + len];
            let ahead = seq.wrapping_sub(nxt) as i32;
            if ahead <= 0 {
                let skip = (-ahead) as usize;
                if skip < data.len() {
                    out.extend_from_slice(&data[skip..]);
                    nxt = nxt.wrapping_add((data.len() - skip) as u32);
                }
                while let Some(run) = q.pull(nxt) {
                    nxt = nxt.wrapping_add(run.len() as u32);
                    out.extend_from_slice(&run);
                }
            } else {
                q.insert(nxt, seq, data, 1 << 20).expect("room");
            }
            assert_eq!(q.bytes(), q.runs.values().map(Vec::len).sum::<usize>());
        }
        assert_eq!(out, src[..out.len()]);
        (out, nxt)
    }

    #[test]
    fn reverse_order_across_the_wrap() {
        // The first segment is lost; the rest arrive, crossing 2^32; then the first.
        let isn = u32::MAX - 3000;
        let mut segs: Vec<(usize, usize)> = (1..8).map(|i| (i * 1000, 1000)).collect();
        segs.push((0, 1000));
        let (out, nxt) = receive(isn, 8000, &segs);
        assert_eq!(out.len(), 8000);
        assert_eq!(nxt, isn.wrapping_add(8000));
    }

    #[test]
    fn overlaps_and_duplicates_are_kept_once() {
        let isn = u32::MAX - 10;
        let segs = [(5, 10), (7, 3), (3, 20), (30, 5), (28, 9), (0, 4), (20, 10)];
        let (out, _) = receive(isn, 37, &segs);
        assert_eq!(out.len(), 37);
    }

    #[test]
    fn sack_ranges_follow_sequence_order_across_the_wrap() {
        let mut q = SegQueue::default();
        let nxt = u32::MAX - 100;
        q.insert(nxt, 20, &[0; 10], 8).unwrap(); // after the wrap
        q.insert(nxt, u32::MAX - 50, &[0; 10], 8).unwrap(); // before it
        q.insert(nxt, 30, &[0; 5], 8).unwrap(); // continues the first run
        assert_eq!(q.ranges(), vec![(u32::MAX - 50, u32::MAX - 40), (20, 35)]);
        assert_eq!(q.runs(), 2);
        // Nothing is deliverable until the hole at rcv_nxt fills.
        assert!(q.pull(nxt).is_none());
        assert_eq!(q.pull(u32::MAX - 50).map(|v| v.len()), Some(10));
    }

    #[test]
    fn runs_are_capped_and_bytes_counted() {
        let mut q = SegQueue::default();
        // 1-byte segments with 1-byte holes: each one a run.
        for i in 0..10u32 {
            q.insert(0, 1 + 2 * i, &[1], 10).unwrap();
        }
        assert_eq!(q.insert(0, 100, &[1], 10), Err(Refused::TooManyRuns));
        // Continuing a run costs no new run.
        assert_eq!(q.insert(0, 20, &[1, 2, 3], 10), Ok(()));
        assert_eq!(q.runs(), 10);
        assert_eq!(q.bytes(), 13);
        q.clear();
        assert_eq!((q.runs(), q.bytes()), (0, 0));
    }
}
