//! Captures (the descriptor half of NetBSD's `bpf.c`): each interface has a tap, each
//! capture a descriptor with its own filter, direction and pair of buffers.
//!
//! A tap runs on the thread that carries the frame (a receive thread for input, whoever
//! transmits for output) and costs one atomic load when nobody listens. For each
//! descriptor it runs the program and, when the packet is wanted, copies a `bpf_hdr` record
//! into the descriptor's store buffer. A full store buffer becomes the hold buffer that a
//! read takes; when the hold buffer is still unread too, the packet is dropped and counted:
//! a slow reader loses packets, it never holds up the stack. A read waits for a full hold
//! buffer, or for any packet in immediate mode, or for its timeout.
//!
//! Records are laid out as `wire::bpf::hdr` describes (`struct bpf_hdr`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::msg::{BpfConf, BpfStat};
use crate::wire::bpf::hdr::*;
use crate::wire::bpf::BpfProgram;

/// A capture's buffer size unless BIOCSBLEN says otherwise (NetBSD's `bpf_bufsize`).
pub const BPF_DFLTBUFSIZE: u32 = 32 * 1024;
/// The smallest buffer BIOCSBLEN grants.
pub const BPF_MINBUFSIZE: u32 = 32;
/// The largest: one read travels as one channel message.
pub const BPF_MAXBUFSIZE: u32 = (crate::msg::MAX_MSG - 64) as u32;

/// Which way a packet crosses the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    In,
    Out,
}

/// A capture's state, behind its lock.
struct State {
    filter: BpfProgram,
    conf: BpfConf,
    bufsize: usize,
    /// Where the tap appends records.
    store: Vec<u8>,
    /// A full buffer waiting for a read (empty: none).
    hold: Vec<u8>,
    /// A buffer a read gave back, kept for the next rotation.
    spare: Vec<u8>,
    stat: BpfStat,
    /// A read is parked until there is something to hand over.
    waiting: bool,
}

impl State {
    /// The store buffer becomes the hold buffer (`ROTATE_BUFFERS`).
    fn rotate(&mut self) {
        let fresh = std::mem::take(&mut self.spare);
        self.hold = std::mem::replace(&mut self.store, fresh);
        self.store.clear();
    }
}

/// What a capture calls when a parked read may go on.
pub type Notify = Box<dyn Fn() + Send + Sync>;

/// One capture (`struct bpf_d`).
pub struct BpfD {
    st: Mutex<State>,
    notify: Mutex<Option<Notify>>,
}

impl BpfD {
    pub fn new(bufsize: u32) -> Arc<BpfD> {
        Arc::new(BpfD {
            st: Mutex::new(State {
                filter: BpfProgram::accept_all(),
                conf: BpfConf {
                    promisc: false,
                    direction: BPF_D_INOUT,
                    immediate: false,
                    timeout_ms: 0,
                },
                bufsize: bufsize as usize,
                store: Vec::new(),
                hold: Vec::new(),
                spare: Vec::new(),
                stat: BpfStat::default(),
                waiting: false,
            }),
            notify: Mutex::new(None),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Grants a buffer size as BIOCSBLEN does: clamped to what the stack allows.
    pub fn clamp_bufsize(want: u32) -> u32 {
        want.clamp(BPF_MINBUFSIZE, BPF_MAXBUFSIZE)
    }

    pub fn bufsize(&self) -> u32 {
        self.lock().bufsize as u32
    }

    /// BIOCSBLEN: a new buffer size (clamped); what was buffered is discarded.
    pub fn set_bufsize(&self, want: u32) -> u32 {
        let n = BpfD::clamp_bufsize(want);
        let mut st = self.lock();
        st.bufsize = n as usize;
        st.store = Vec::new();
        st.hold = Vec::new();
        st.spare = Vec::new();
        n
    }

    /// BIOCSETF: a new program; what was buffered under the old one is discarded, as
    /// `bpf_setf` resets the descriptor.
    pub fn set_filter(&self, p: BpfProgram) {
        let mut st = self.lock();
        st.filter = p;
        st.store.clear();
        st.hold.clear();
        st.stat = BpfStat::default();
    }

    pub fn conf(&self) -> BpfConf {
        self.lock().conf
    }

    pub fn set_conf(&self, c: BpfConf) {
        self.lock().conf = c;
    }

    pub fn stats(&self) -> BpfStat {
        self.lock().stat
    }

    /// BIOCFLUSH: drops what is buffered and zeroes the counters.
    pub fn flush(&self) {
        let mut st = self.lock();
        st.store.clear();
        st.hold.clear();
        st.stat = BpfStat::default();
    }

    /// Offers one packet to the capture (`catchpacket` after the filter).
    fn catch(&self, pkt: &[u8], wirelen: usize, dir: Dir, ts: (i64, i64)) {
        let mut st = self.lock();
        let wanted = match st.conf.direction {
            BPF_D_IN => dir == Dir::In,
            BPF_D_OUT => dir == Dir::Out,
            _ => true,
        };
        if !wanted {
            return;
        }
        st.stat.recv += 1;
        let slen = st.filter.filter(pkt, u32::try_from(wirelen).unwrap_or(u32::MAX)) as usize;
        if slen == 0 {
            return;
        }
        let hdrlen = SIZEOF_BPF_HDR;
        let mut caplen = slen.min(pkt.len());
        if hdrlen + caplen > st.bufsize {
            caplen = st.bufsize.saturating_sub(hdrlen);
        }
        let mut at = bpf_wordalign(st.store.len());
        let mut wake = st.conf.immediate;
        if at + hdrlen + caplen > st.bufsize {
            if !st.hold.is_empty() {
                // Both buffers full: the reader is too slow for this packet.
                st.stat.drop += 1;
                return;
            }
            st.rotate();
            at = 0;
            wake = true;
        }
        let bufsize = st.bufsize;
        let store = &mut st.store;
        if store.capacity() < bufsize {
            store.reserve_exact(bufsize - store.len());
        }
        store.resize(at, 0);
        BpfHdr {
            tv_sec: ts.0,
            tv_usec: ts.1,
            caplen: caplen as u32,
            datalen: u32::try_from(wirelen).unwrap_or(u32::MAX),
            hdrlen: hdrlen as u16,
        }
        .put(store);
        store.extend_from_slice(&pkt[..caplen]);
        st.stat.capt += 1;
        let parked = wake && std::mem::take(&mut st.waiting);
        drop(st);
        if parked {
            if let Some(n) = self.notify.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                n();
            }
        }
    }

    /// Sets what to call when a parked read (see [`BpfD::try_read`]) may go on.
    pub fn set_notify(&self, n: Option<Notify>) {
        *self.notify.lock().unwrap_or_else(|p| p.into_inner()) = n;
    }

    /// The read deadline the capture's settings give a read starting now.
    pub fn read_deadline(&self) -> Option<Instant> {
        let ms = self.lock().conf.timeout_ms;
        (ms > 0).then(|| Instant::now() + Duration::from_millis(u64::from(ms)))
    }

    /// A read that does not wait: a buffer of records when a read would return now (empty
    /// when `deadline` passed with nothing captured), or None, after which the notifier
    /// is called once there is something to hand over.
    pub fn try_read(&self, deadline: Option<Instant>) -> Option<Vec<u8>> {
        let mut st = self.lock();
        if !st.hold.is_empty() {
            st.waiting = false;
            return Some(std::mem::take(&mut st.hold));
        }
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        if (st.conf.immediate || timed_out) && !st.store.is_empty() {
            st.waiting = false;
            st.rotate();
            return Some(std::mem::take(&mut st.hold));
        }
        if timed_out {
            st.waiting = false;
            return Some(Vec::new());
        }
        st.waiting = true;
        None
    }

    /// Gives a buffer that a read took back, so the next rotation need not allocate.
    pub fn give_back(&self, mut buf: Vec<u8>) {
        let mut st = self.lock();
        if st.spare.capacity() < buf.capacity() {
            buf.clear();
            st.spare = buf;
        }
    }
}

/// An interface's tap (`bpf_if`): the captures attached to it.
#[derive(Default)]
pub struct BpfIf {
    descs: RwLock<Vec<Arc<BpfD>>>,
    /// How many there are, read without the lock on every packet.
    n: AtomicUsize,
}

fn now() -> (i64, i64) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, i64::from(d.subsec_micros()))
}

impl BpfIf {
    /// Whether any capture listens.
    #[inline]
    pub fn active(&self) -> bool {
        self.n.load(Ordering::Relaxed) != 0
    }

    pub fn attach(&self, d: &Arc<BpfD>) {
        let mut v = self.descs.write().unwrap_or_else(|p| p.into_inner());
        v.push(d.clone());
        self.n.store(v.len(), Ordering::Relaxed);
    }

    pub fn detach(&self, d: &Arc<BpfD>) {
        let mut v = self.descs.write().unwrap_or_else(|p| p.into_inner());
        v.retain(|x| !Arc::ptr_eq(x, d));
        self.n.store(v.len(), Ordering::Relaxed);
    }

    /// Hands a packet to every capture (`bpf_mtap`).
    #[inline]
    pub fn tap(&self, pkt: &[u8], dir: Dir) {
        if self.active() {
            self.tap_slow(pkt, pkt.len(), dir);
        }
    }

    #[cold]
    fn tap_slow(&self, pkt: &[u8], wirelen: usize, dir: Dir) {
        let ts = now();
        let v = self.descs.read().unwrap_or_else(|p| p.into_inner());
        for d in v.iter() {
            d.catch(pkt, wirelen, dir, ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bpf::{BpfInsn, BPF_K, BPF_RET};

    fn frames(d: &BpfD) -> Vec<(BpfHdr, Vec<u8>)> {
        let b = d.try_read(None).unwrap_or_default();
        records(&b).map(|(h, p)| (h, p.to_vec())).collect()
    }

    #[test]
    fn records_round_trip_and_buffers_rotate() {
        let d = BpfD::new(256);
        let tap = BpfIf::default();
        tap.attach(&d);
        d.set_conf(BpfConf {
            immediate: true,
            ..d.conf()
        });
        tap.tap(&[1, 2, 3], Dir::In);
        tap.tap(&[4; 10], Dir::Out);
        let got = frames(&d);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, vec![1, 2, 3]);
        assert_eq!((got[1].0.caplen, got[1].0.datalen, got[1].0.hdrlen), (10, 10, 26));
        // 100-byte packets: two fill the 256-byte store (2 * 128 with the headers), the third
        // rotates it into hold, the fifth finds both full and is dropped.
        d.set_conf(BpfConf {
            immediate: false,
            ..d.conf()
        });
        for _ in 0..5 {
            tap.tap(&[7; 100], Dir::In);
        }
        let st = d.stats();
        assert_eq!((st.recv, st.capt, st.drop), (7, 6, 1));
        assert_eq!(frames(&d).len(), 2);
        tap.detach(&d);
        assert!(!tap.active());
    }

    #[test]
    fn direction_snap_and_filter() {
        let d = BpfD::new(4096);
        let tap = BpfIf::default();
        tap.attach(&d);
        d.set_filter(BpfProgram::new(vec![BpfInsn::stmt(BPF_RET | BPF_K, 4)]).unwrap());
        d.set_conf(BpfConf {
            immediate: true,
            direction: BPF_D_IN,
            ..d.conf()
        });
        tap.tap(&[9; 50], Dir::Out);
        tap.tap(&[8; 50], Dir::In);
        let got = frames(&d);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0.caplen, got[0].0.datalen), (4, 50));
        assert_eq!(got[0].1, vec![8; 4]);
        // A packet bigger than the whole buffer is cut to fit.
        let d = BpfD::new(64);
        tap.attach(&d);
        d.set_conf(BpfConf {
            immediate: true,
            ..d.conf()
        });
        tap.tap(&[1; 500], Dir::In);
        let got = frames(&d);
        assert_eq!(got[0].0.caplen as usize, 64 - SIZEOF_BPF_HDR);
    }

    #[test]
    fn records_stop_at_a_bad_record() {
        let mut b = Vec::new();
        BpfHdr {
            tv_sec: 1,
            tv_usec: 2,
            caplen: 1000,
            datalen: 1000,
            hdrlen: 26,
        }
        .put(&mut b);
        b.extend_from_slice(&[0; 10]);
        assert_eq!(records(&b).count(), 0);
        assert_eq!(records(&[0u8; 5]).count(), 0);
    }
}
