//! Packet buffers (`struct mbuf`, one contiguous cluster each): the packet's bytes are the
//! window `[head, tail)` of a buffer with room in front, so a layer prepends its header
//! (Ethernet, a VLAN tag, PPPoE, ESP, an outer IPv6 header for a tunnel) by moving `head`
//! back instead of copying the packet, and rewrites the packet in place (TTL, NAT).
//!
//! Room in front: `MHEADROOM` = 128 bytes. The deepest stack of headers the stack is meant
//! to put in front of a datagram it already has is, for an IPv6 packet forwarded into an
//! IPsec tunnel over PPPoE on a VLAN: Ethernet 14 + two 802.1Q tags 8 + PPPoE and PPP 8 +
//! outer IPv6 40 + ESP 8 + an AES-CBC IV 16 = 94 bytes; 128 covers that with room for a
//! UDP encapsulation header (8) and keeps the data of a received frame (which starts
//! right after the headroom) on a 64-byte boundary of the allocation. A layer that needs
//! more gets a new buffer (`prepend` copies once) rather than failing.
//!
//! Buffers come in two sizes, both kept in a small free list per thread so the receive,
//! forwarding and output paths take no heap allocation per packet once warm: clusters of
//! `MCLBYTES` (2 KiB: one Ethernet frame behind the headroom) and jumbo buffers that hold
//! the largest frame a driver hands up (`RX_BUF`, a 64 KiB LRO super-frame) behind the
//! headroom. A receive thread reads each frame straight into a jumbo buffer's data area
//! (no copy); a packet that is to wait (an ARP hold queue) is `compact`ed into a buffer its
//! size first. The free lists are bounded (`POOL_CLUSTERS`, `POOL_JUMBOS`) so a thread
//! that freed a burst gives the memory back.
//!
//! Metadata travels with the packet: the interface it came in on, `M_BCAST`/`M_MCAST`
//! (it came as a link-level broadcast or multicast), `M_LOOP` (it went around lo0), the
//! offloads still to be done (`FrameMeta`: a checksum left partial, a TCP super-frame),
//! whose offsets count from the first byte of the packet as it is now (moved along by
//! `prepend` and `adj`), the offset of the network header, and the ALTQ queue id PF
//! classified it into (`qid`).

use std::cell::RefCell;

use pktbox_drivers::{Csum, FrameMeta, RX_BUF};

/// Room kept in front of the packet (see the module's text for the choice).
pub const MHEADROOM: usize = 128;
/// A cluster: headroom and one Ethernet frame (1518 bytes with a VLAN tag), with room behind.
pub const MCLBYTES: usize = 2048;
/// A jumbo buffer: headroom and the largest frame a driver hands up.
pub const MJUMBYTES: usize = MHEADROOM + RX_BUF;
/// Buffers each thread keeps for reuse.
pub const POOL_CLUSTERS: usize = 64;
pub const POOL_JUMBOS: usize = 4;

/// The packet came as a link-level broadcast.
pub const M_BCAST: u32 = 0x1;
/// The packet came as a link-level multicast.
pub const M_MCAST: u32 = 0x2;
/// The packet went around through a loopback interface.
pub const M_LOOP: u32 = 0x4;

struct Pool {
    clusters: Vec<Box<[u8]>>,
    jumbos: Vec<Box<[u8]>>,
    /// Buffers handed out and allocated, for tests and benchmarks.
    reused: u64,
    allocated: u64,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            clusters: Vec::new(),
            jumbos: Vec::new(),
            reused: 0,
            allocated: 0,
        })
    };
}

/// A buffer of at least `size` bytes: a pooled cluster or jumbo buffer when one fits, a
/// new one otherwise (zeroed: a buffer never shows what an earlier packet left in it,
/// since only `[head, tail)` is ever readable, but fresh memory costs nothing more).
#[inline]
fn get_buf(size: usize) -> Box<[u8]> {
    let class = if size <= MCLBYTES {
        MCLBYTES
    } else if size <= MJUMBYTES {
        MJUMBYTES
    } else {
        size
    };
    let reused = POOL
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let b = match class {
                MCLBYTES => p.clusters.pop(),
                MJUMBYTES => p.jumbos.pop(),
                _ => None,
            };
            if b.is_some() {
                p.reused += 1;
            } else {
                p.allocated += 1;
            }
            b
        })
        .ok()
        .flatten();
    reused.unwrap_or_else(|| vec![0u8; class].into_boxed_slice())
}

#[inline]
fn put_buf(b: Box<[u8]>) {
    let _ = POOL.try_with(|p| {
        let Ok(mut p) = p.try_borrow_mut() else { return };
        match b.len() {
            MCLBYTES if p.clusters.len() < POOL_CLUSTERS => p.clusters.push(b),
            MJUMBYTES if p.jumbos.len() < POOL_JUMBOS => p.jumbos.push(b),
            _ => {}
        }
    });
}

/// Buffers this thread took from its free list and buffers it had to allocate, so far.
pub fn pool_counts() -> (u64, u64) {
    POOL.try_with(|p| {
        let p = p.borrow();
        (p.reused, p.allocated)
    })
    .unwrap_or((0, 0))
}

/// One packet.
pub struct Mbuf {
    buf: Box<[u8]>,
    head: usize,
    tail: usize,
    /// Index of the interface the packet came in on (0: made here).
    pub rcvif: u16,
    /// `M_BCAST`, `M_MCAST`, `M_LOOP`.
    pub flags: u32,
    /// The ALTQ queue a filter rule put the packet in (`pass ... queue ssh`; 0: none, the
    /// interface's default queue). Set by PF, read by the interface's send queue
    /// (`net::altq`); like `rcvif` it stays with the packet through `prepend` and `adj`.
    pub qid: u32,
    /// Offloads still to be done; offsets from `head`.
    meta: FrameMeta,
    /// Where the network header starts, as an index into `buf` (unmoved by prepend/adj).
    nh: Option<usize>,
}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("len", &self.len())
            .field("headroom", &self.headroom())
            .field("rcvif", &self.rcvif)
            .field("flags", &self.flags)
            .field("qid", &self.qid)
            .field("meta", &self.meta)
            .finish()
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        put_buf(std::mem::take(&mut self.buf));
    }
}

impl Mbuf {
    fn with_buf(buf: Box<[u8]>, head: usize) -> Mbuf {
        Mbuf {
            buf,
            head,
            tail: head,
            rcvif: 0,
            flags: 0,
            qid: 0,
            meta: FrameMeta::PLAIN,
            nh: None,
        }
    }

    /// An empty packet with `MHEADROOM` in front and room for `len` bytes behind it.
    pub fn with_capacity(len: usize) -> Mbuf {
        Mbuf::with_buf(get_buf(MHEADROOM + len), MHEADROOM)
    }

    /// A packet holding a copy of `data`.
    pub fn from_slice(data: &[u8]) -> Mbuf {
        let mut m = Mbuf::with_capacity(data.len());
        m.append(data);
        m
    }

    /// A received frame made by copying (tests, fuzzers, frames that come from elsewhere
    /// than a driver's receive), with the driver's offload metadata.
    pub fn from_frame(frame: &[u8], meta: FrameMeta) -> Mbuf {
        let mut m = Mbuf::from_slice(frame);
        m.meta = meta;
        m
    }

    /// An empty jumbo packet for a driver to receive into: see `rx_space`.
    pub fn for_rx() -> Mbuf {
        Mbuf::with_buf(get_buf(MJUMBYTES), MHEADROOM)
    }

    /// All the room behind `head`, for a driver's receive; then `set_len` says how much
    /// of it the frame took. What is there before is unspecified.
    #[inline]
    pub fn rx_space(&mut self) -> &mut [u8] {
        &mut self.buf[self.head..]
    }

    /// Sets the length after a receive into `rx_space` (at most the room there is).
    #[inline]
    pub fn set_len(&mut self, n: usize) {
        self.tail = (self.head + n).min(self.buf.len());
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.tail - self.head
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.tail == self.head
    }

    /// Room in front of the packet.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.head
    }

    /// Room behind the packet.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.tail
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.head..self.tail]
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.head..self.tail]
    }

    /// The offloads still to be done, offsets from the first byte of the packet.
    #[inline]
    pub fn meta(&self) -> FrameMeta {
        self.meta
    }

    #[inline]
    pub fn set_meta(&mut self, meta: FrameMeta) {
        self.meta = meta;
    }

    /// Marks the current first byte as the start of the network header.
    #[inline]
    pub fn set_network_header(&mut self) {
        self.nh = Some(self.head);
    }

    /// Offset of the network header from the first byte of the packet, when it is marked
    /// and still inside the packet.
    #[inline]
    pub fn network_header(&self) -> Option<usize> {
        self.nh
            .filter(|&nh| nh >= self.head && nh <= self.tail)
            .map(|nh| nh - self.head)
    }

    /// Moves the checksum offsets when the packet's start moves by `delta` bytes.
    #[inline]
    fn shift_meta(&mut self, delta: isize) {
        if let Csum::Partial { start, offset } = self.meta.csum {
            let s = start as isize + delta;
            let start = s.clamp(0, u16::MAX as isize) as u16;
            self.meta.csum = Csum::Partial { start, offset };
        }
    }

    /// Moves the packet into a new buffer with `front` bytes of room before it (and the
    /// usual headroom before that), and `back` bytes behind.
    fn regrow(&mut self, front: usize, back: usize) {
        let len = self.len();
        let mut nb = get_buf(MHEADROOM + front + len + back);
        let nhead = MHEADROOM + front;
        nb[nhead..nhead + len].copy_from_slice(&self.buf[self.head..self.tail]);
        self.nh = self
            .nh
            .and_then(|nh| (nh + nhead).checked_sub(self.head))
            .filter(|&nh| nh <= nb.len());
        let old = std::mem::replace(&mut self.buf, nb);
        put_buf(old);
        self.head = nhead;
        self.tail = nhead + len;
    }

    /// Makes `n` bytes of room at the front of the packet and returns them, zeroed, for a
    /// header. Moves `head` back when there is headroom; copies the packet into a new
    /// buffer otherwise.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> &mut [u8] {
        if self.head < n {
            self.regrow(n, 0);
        }
        self.head -= n;
        self.shift_meta(n as isize);
        let h = &mut self.buf[self.head..self.head + n];
        h.fill(0);
        h
    }

    /// Appends `n` zeroed bytes at the end and returns them (a new buffer when there is
    /// no room behind).
    #[inline]
    pub fn extend(&mut self, n: usize) -> &mut [u8] {
        if self.tailroom() < n {
            self.regrow(0, n);
        }
        let at = self.tail;
        self.tail += n;
        let t = &mut self.buf[at..at + n];
        t.fill(0);
        t
    }

    /// Appends a copy of `data`.
    #[inline]
    pub fn append(&mut self, data: &[u8]) {
        if self.tailroom() < data.len() {
            self.regrow(0, data.len());
        }
        self.buf[self.tail..self.tail + data.len()].copy_from_slice(data);
        self.tail += data.len();
    }

    /// Drops `n` bytes from the front (NetBSD's `m_adj(m, n)`); all of them when it is
    /// shorter. A partial checksum's start moves along (it must lie behind what is cut,
    /// which the layer that cuts a header checks first).
    #[inline]
    pub fn adj(&mut self, n: usize) {
        let n = n.min(self.len());
        self.head += n;
        self.shift_meta(-(n as isize));
    }

    /// Drops `n` bytes from the end (`m_adj(m, -n)`); all of them when it is shorter.
    #[inline]
    pub fn trim(&mut self, n: usize) {
        self.tail -= n.min(self.len());
    }

    /// Cuts the packet to `len` bytes when it is longer (link-level padding).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.tail = self.head + len;
        }
    }

    /// Moves the packet into a buffer of its own size when it sits in a much larger one
    /// (a received frame in a jumbo buffer), before it is kept waiting.
    pub fn compact(&mut self) {
        let small_in_big = MHEADROOM + self.len() <= MCLBYTES && self.buf.len() > MCLBYTES;
        if small_in_big || self.buf.len() > MJUMBYTES {
            self.regrow(0, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pktbox_drivers::Gso;

    fn partial(start: u16) -> FrameMeta {
        FrameMeta {
            csum: Csum::Partial { start, offset: 16 },
            gso: Gso::None,
        }
    }

    #[test]
    fn build_and_read() {
        let mut m = Mbuf::with_capacity(100);
        assert!(m.is_empty());
        assert_eq!(m.headroom(), MHEADROOM);
        m.append(b"hello");
        m.extend(3).copy_from_slice(b"abc");
        assert_eq!(m.as_slice(), b"helloabc");
        m.as_mut_slice()[0] = b'H';
        assert_eq!(m.as_slice(), b"Helloabc");
        assert_eq!(m.len(), 8);
        assert_eq!(m.tailroom(), MCLBYTES - MHEADROOM - 8);
    }

    #[test]
    fn prepend_in_headroom_moves_no_data() {
        let mut m = Mbuf::from_slice(&[1, 2, 3]);
        let before = m.as_slice().as_ptr();
        let h = m.prepend(14);
        assert_eq!(h, &[0; 14]);
        h[0] = 9;
        assert_eq!(m.len(), 17);
        assert_eq!(m.headroom(), MHEADROOM - 14);
        assert_eq!(&m.as_slice()[14..], &[1, 2, 3]);
        assert_eq!(m.as_slice()[0], 9);
        // The data did not move.
        assert_eq!(m.as_slice()[14..].as_ptr(), before);
    }

    #[test]
    fn prepend_past_headroom_copies_once() {
        let mut m = Mbuf::from_slice(&[7; 10]);
        m.prepend(MHEADROOM);
        assert_eq!(m.headroom(), 0);
        m.set_network_header();
        let h = m.prepend(4);
        h.copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(m.len(), 10 + MHEADROOM + 4);
        assert_eq!(&m.as_slice()[..4], &[1, 2, 3, 4]);
        assert!(m.as_slice()[4..4 + MHEADROOM].iter().all(|&b| b == 0));
        assert_eq!(&m.as_slice()[4 + MHEADROOM..], &[7; 10]);
        assert_eq!(m.headroom(), MHEADROOM);
        // The network header mark moved with the data.
        assert_eq!(m.network_header(), Some(4));
    }

    #[test]
    fn queue_id_survives_prepend_adj_and_regrow() {
        let mut m = Mbuf::from_slice(&[5; 40]);
        assert_eq!(m.qid, 0);
        m.qid = 7;
        m.prepend(14);
        m.adj(14);
        // Past the headroom: the packet moves into a new buffer.
        m.prepend(MHEADROOM + 1);
        m.append(&[0; MCLBYTES]);
        m.compact();
        assert_eq!(m.qid, 7);
    }

    #[test]
    fn append_past_the_end_grows() {
        let mut m = Mbuf::with_capacity(10);
        let big = vec![3u8; MCLBYTES];
        m.append(&[1]);
        m.append(&big);
        assert_eq!(m.len(), MCLBYTES + 1);
        assert_eq!(m.as_slice()[0], 1);
        assert!(m.as_slice()[1..].iter().all(|&b| b == 3));
        // Larger than any pooled class: a buffer its own size.
        let mut h = Mbuf::from_slice(&vec![1u8; MJUMBYTES]);
        h.extend(1);
        assert_eq!(h.len(), MJUMBYTES + 1);
    }

    #[test]
    fn adj_and_trim_from_both_ends() {
        let mut m = Mbuf::from_slice(&[0, 1, 2, 3, 4, 5, 6, 7]);
        m.adj(2);
        assert_eq!(m.as_slice(), &[2, 3, 4, 5, 6, 7]);
        m.trim(2);
        assert_eq!(m.as_slice(), &[2, 3, 4, 5]);
        m.truncate(10);
        assert_eq!(m.len(), 4);
        m.truncate(3);
        assert_eq!(m.as_slice(), &[2, 3, 4]);
        // The room given back in front can be used again without copying.
        assert_eq!(m.headroom(), MHEADROOM + 2);
        m.adj(100);
        assert!(m.is_empty());
        m.trim(5);
        assert!(m.is_empty());
        let mut m = Mbuf::from_slice(&[1, 2]);
        m.trim(100);
        assert!(m.is_empty());
    }

    #[test]
    fn checksum_offsets_follow_the_start() {
        let mut m = Mbuf::from_frame(&[0; 60], partial(34));
        m.adj(14);
        assert_eq!(m.meta(), partial(20));
        m.prepend(14);
        assert_eq!(m.meta(), partial(34));
        m.prepend(4);
        assert_eq!(m.meta(), partial(38));
        // Cutting past it cannot make it negative.
        m.adj(50);
        assert_eq!(m.meta(), partial(0));
        let mut p = Mbuf::from_frame(&[0; 60], FrameMeta::PLAIN);
        p.adj(14);
        assert!(p.meta().is_plain());
    }

    #[test]
    fn network_header_mark() {
        let mut m = Mbuf::from_slice(&[0; 40]);
        assert_eq!(m.network_header(), None);
        m.adj(14);
        m.set_network_header();
        assert_eq!(m.network_header(), Some(0));
        m.prepend(14);
        assert_eq!(m.network_header(), Some(14));
        m.adj(20);
        assert_eq!(m.network_header(), None);
    }

    #[test]
    fn receive_into_a_jumbo_buffer() {
        let mut m = Mbuf::for_rx();
        assert_eq!(m.rx_space().len(), RX_BUF);
        m.rx_space()[..4].copy_from_slice(&[1, 2, 3, 4]);
        m.set_len(4);
        assert_eq!(m.as_slice(), &[1, 2, 3, 4]);
        m.set_len(usize::MAX / 2);
        assert_eq!(m.len(), RX_BUF);
        m.set_len(4);
        // Kept waiting: it moves into a cluster.
        m.compact();
        assert_eq!(m.as_slice(), &[1, 2, 3, 4]);
        assert_eq!(m.headroom() + m.len() + m.tailroom(), MCLBYTES);
    }

    #[test]
    fn buffers_are_reused_and_show_no_old_bytes() {
        // Warm the pool, then take and give back a buffer many times: no allocation.
        drop(Mbuf::for_rx());
        drop(Mbuf::with_capacity(100));
        let (_, alloc0) = pool_counts();
        for _ in 0..1000 {
            let mut m = Mbuf::for_rx();
            m.rx_space()[..3].copy_from_slice(&[9, 9, 9]);
            m.set_len(3);
            let mut c = Mbuf::with_capacity(100);
            c.append(&[5; 100]);
        }
        let (reused, alloc1) = pool_counts();
        assert_eq!(alloc1, alloc0);
        assert!(reused >= 2000);
        // A reused buffer's earlier bytes are never in the packet, and what is prepended
        // or extended is zeroed.
        let mut m = Mbuf::with_capacity(100);
        assert!(m.is_empty());
        assert_eq!(m.extend(100), &[0; 100][..]);
        assert_eq!(m.prepend(10), &[0; 10][..]);
    }

    #[test]
    fn the_pool_is_bounded() {
        let many: Vec<Mbuf> = (0..POOL_JUMBOS * 3).map(|_| Mbuf::for_rx()).collect();
        drop(many);
        POOL.with(|p| assert!(p.borrow().jumbos.len() <= POOL_JUMBOS));
        let many: Vec<Mbuf> = (0..POOL_CLUSTERS * 2).map(|_| Mbuf::with_capacity(1)).collect();
        drop(many);
        POOL.with(|p| assert!(p.borrow().clusters.len() <= POOL_CLUSTERS));
    }
}
