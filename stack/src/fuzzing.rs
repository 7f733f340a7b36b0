//! Entry points for the coverage-guided fuzz targets in `fuzz/` (see the README's "Fuzzing"
//! section). Each takes the bytes the fuzzer made and drives a real stack context with them,
//! as a driver or a client would; none is used by the stack itself.
//!
//! They are ordinary code (not `cfg(test)`), so they build with the crate and the fuzz
//! crate can call them without reaching into the stack's internals. Every function checks
//! the invariants that must hold whatever the input, and panics (a fuzzer crash) when one
//! does not.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};

use pktbox_drivers::{Driver, FrameMeta, Recv};

use crate::inet::tcp::output::tcp_cksum;
use crate::inet::tcp::usrreq;
use crate::inet::udp::{udp_cksum, UdpPcb};
use crate::msg::wire::SeqPacket;
use crate::msg::AddrReq;
use crate::net::ether::ether_input;
use crate::net::if_control::if_attach;
use crate::net::ifnet::Ifnet;
use crate::sys::Stack;
use crate::wire::checksum::cksum;
use crate::wire::ipv4::{write_header, Ipv4Packet, IP_MAXPACKET};

/// Our interface's MAC and address, and the peer's, on 10.0.0.0/24.
pub const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The port of the listener the harness connects to, and the peer's end of that connection.
pub const LISTEN_PORT: u16 = 80;
pub const PEER_PORT: u16 = 40000;

/// A driver that keeps the first frames the stack sends (at most `.1` of them) until they
/// are looked at: the fuzz harness's en0, and the unit tests'.
pub(crate) struct Sink(pub(crate) Mutex<Vec<Vec<u8>>>, usize);

struct SinkDriver(Arc<Sink>);

impl Driver for SinkDriver {
    fn kind(&self) -> &'static str {
        "sink"
    }
    fn raw_fd(&self) -> std::os::fd::RawFd {
        -1
    }
    fn recv(&self, _: &mut [u8]) -> std::io::Result<Recv> {
        Ok(Recv::WouldBlock)
    }
    fn send(&self, f: &[u8]) -> std::io::Result<()> {
        let mut v = self.0 .0.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() < self.0 .1 {
            v.push(f.to_vec());
        }
        Ok(())
    }
    fn link_up(&self) -> bool {
        true
    }
    fn details(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A stack with lo0 up and en0 (10.0.0.1/24 on a [`Sink`] that keeps `keep` frames),
/// forwarding as asked.
pub(crate) fn en0_stack(forward: bool, keep: usize) -> (Arc<Stack>, Arc<Ifnet>, Arc<Sink>) {
    en0_stack_of(crate::sys::Variant::V4, forward, keep)
}

/// `en0_stack` of another variant: io-pkt-v6-hc brings the inet6 domain (lo0's ::1 is
/// added by the caller, which starts it as run.rs does: `inet6::if_up`).
pub(crate) fn en0_stack_of(
    variant: crate::sys::Variant,
    forward: bool,
    keep: usize,
) -> (Arc<Stack>, Arc<Ifnet>, Arc<Sink>) {
    let stack = Stack::detached_variant(variant);
    let sink = Arc::new(Sink(Mutex::new(Vec::new()), keep));
    let ifp = {
        let mut ctx = stack.ctx();
        ctx.inet.forwarding = forward;
        if_attach(&mut ctx, Ifnet::loopback(1, "lo0".into(), false))
            .expect("lo0 attaches to a fresh stack")
            .set_up(true);
        let ifp = if_attach(
            &mut ctx,
            Ifnet::ether(2, "en0".into(), MAC, 1500, Box::new(SinkDriver(sink.clone()))),
        )
        .expect("en0 attaches to a fresh stack");
        crate::inet::add_addr(
            &mut ctx,
            &AddrReq {
                name: "en0".into(),
                addr: Some(ME.into()),
                netmask: Some(Ipv4Addr::new(255, 255, 255, 0).into()),
                brd: None,
            },
        )
        .expect("an address on a fresh interface");
        ifp
    };
    (stack, ifp, sink)
}

/// Reads the fuzzer's bytes front to back; past the end every read is zero.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

/// A stack with lo0 and en0 (10.0.0.1/24), the peer in the ARP cache, TCP listeners on
/// ports 80 and 22, one connection accepted on port 80 from the peer, one connection of ours
/// in SYN_SENT, and UDP sockets on ports 53 and 7.
pub struct Net {
    pub stack: Arc<Stack>,
    pub ifp: Arc<Ifnet>,
    sink: Arc<Sink>,
    /// The client ends of the UDP sockets' channels (what the stack pushes datagrams to).
    udp_peers: Vec<SeqPacket>,
    /// Our TCP connections (accepted or connecting) and the listeners.
    pub tcp: Vec<u64>,
    pub listeners: Vec<u64>,
}

impl Net {
    pub fn new(forward: bool) -> Net {
        let (stack, ifp, sink) = en0_stack(forward, 64);
        let mut udp_peers = Vec::new();
        let (listeners, connecting) = {
            let mut ctx = stack.ctx();
            let mut listeners = Vec::new();
            for (id, addr, port) in [(1, ME, LISTEN_PORT), (2, Ipv4Addr::UNSPECIFIED, 22)] {
                usrreq::attach(&mut ctx, id, crate::inet::inpcb::Af::INET);
                let ok = usrreq::bind(&mut ctx, id, SocketAddrV4::new(addr, port).into(), true)
                    .and_then(|()| usrreq::listen(&mut ctx, id, 8, true));
                if ok.is_ok() {
                    listeners.push(id);
                }
            }
            for (id, addr, port) in [(10, Ipv4Addr::UNSPECIFIED, 53), (11, ME, 7)] {
                let Ok((ours, theirs)) = SeqPacket::pair() else {
                    continue;
                };
                ctx.inet.udp.push(UdpPcb::new(id, ours, 1 << 16));
                if crate::inet::udp::udp_bind(&mut ctx, id, SocketAddrV4::new(addr, port).into(), true).is_ok() {
                    udp_peers.push(theirs);
                }
            }
            (listeners, 3u64)
        };
        let mut net = Net {
            stack,
            ifp,
            sink,
            udp_peers,
            tcp: Vec::new(),
            listeners,
        };
        // The peer announces itself, so answers go out at once.
        let mut a = arp_frame(1, PEER, ME, PEER_MAC);
        net.input(&mut a);
        // A connection to the listener on port 80: SYN (with every option), SYN-ACK, ACK.
        let opts = [
            2, 4, 0x05, 0xb4, // MSS 1460
            1, 3, 3, 7, // window scale 7
            4, 2, // SACK permitted
            8, 10, 0, 0, 0, 1, 0, 0, 0, 0, // timestamps
            1, 1, // padding
        ];
        let mut syn = tcp_frame(PEER, PEER_PORT, ME, LISTEN_PORT, 1000, 0, 0x02, 65535, &opts, &[]);
        net.sink_clear();
        net.input(&mut syn);
        let synack = net.sent().into_iter().find_map(|f| parse_synack(&f));
        if let Some(isn) = synack {
            let ts = [1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1];
            let mut ack = tcp_frame(
                PEER,
                PEER_PORT,
                ME,
                LISTEN_PORT,
                1001,
                isn.wrapping_add(1),
                0x10,
                512,
                &ts,
                &[],
            );
            net.input(&mut ack);
            let mut ctx = net.stack.ctx();
            if let Some(&lid) = net.listeners.first() {
                if let Ok(Some(id)) = usrreq::accept(&mut ctx, lid) {
                    net.tcp.push(id);
                }
            }
        }
        // One of ours, connecting to the peer's port 7000.
        {
            let mut ctx = net.stack.ctx();
            usrreq::attach(&mut ctx, connecting, crate::inet::inpcb::Af::INET);
            if usrreq::connect(&mut ctx, connecting, SocketAddrV4::new(PEER, 7000).into(), true).is_ok() {
                net.tcp.push(connecting);
            }
        }
        net.sink_clear();
        net
    }

    /// Hands one frame to the stack as the driver's receive thread does.
    pub fn input(&mut self, frame: &mut [u8]) {
        ether_input(
            &self.stack,
            &self.ifp,
            crate::sys::mbuf::Mbuf::from_frame(frame, FrameMeta::PLAIN),
        );
        self.drain();
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 2048];
        for p in &self.udp_peers {
            while let Ok(crate::msg::wire::Received::Msg(_) | crate::msg::wire::Received::Truncated(_)) =
                p.recv_nowait(&mut buf)
            {}
        }
    }

    fn sent(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.sink.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn sink_clear(&self) {
        self.sink.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// What the stack sent is well-formed: an Ethernet header from our address, and an
    /// IPv4 header whose lengths fit the frame and whose checksum holds. (Not the reserved
    /// fragment bit: a forwarded packet keeps the bits it came with, as routers do.)
    fn check_sent(&self) {
        for f in self.sink.0.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            assert!(f.len() >= 14 && f[6..12] == MAC, "frame from our address");
            if f[12..14] != [8, 0] {
                continue;
            }
            let p = &f[14..];
            assert!(p.len() >= 20 && p[0] >> 4 == 4, "an IPv4 header");
            let hlen = usize::from(p[0] & 0xf) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            assert!(hlen >= 20 && hlen <= total && total <= p.len(), "lengths fit the frame");
            assert_eq!(cksum(&p[..hlen]), 0, "header checksum of what we sent");
        }
    }

    /// Runs the fuzzer's script: frames (with optional fix-ups so that they get past the
    /// checksums and into the connections), user actions on the sockets, timer ticks.
    /// Then checks the invariants.
    pub fn run(&mut self, data: &[u8]) {
        let mut b = Bytes(data);
        while !b.is_empty() {
            let op = b.u8();
            match op & 7 {
                0..=3 => {
                    let len = usize::from(b.u16() % 1600);
                    let body = b.take(len).to_vec();
                    let mut f = self.fixup(op, body);
                    self.input(&mut f);
                }
                4 => {
                    let which = usize::from(b.u8());
                    let n = usize::from(b.u16()) * 4;
                    if let Some(&id) = self.pick(which) {
                        let data = vec![0x5a; n];
                        let _ = usrreq::send(&mut self.stack.ctx(), id, &data);
                    }
                }
                5 => {
                    let which = usize::from(b.u8());
                    let act = b.u8();
                    if let Some(&id) = self.pick(which) {
                        let mut ctx = self.stack.ctx();
                        match act % 4 {
                            0 => {
                                let _ = usrreq::recv(&mut ctx, id, usize::from(b.u16()), act & 0x10 != 0);
                            }
                            1 => {
                                let _ = usrreq::shutdown(&mut ctx, id, i32::from(act >> 4) % 3);
                            }
                            2 => {
                                usrreq::close(&mut ctx, id, usrreq::Sock::Conn);
                                drop(ctx);
                                self.tcp.retain(|t| *t != id);
                            }
                            _ => usrreq::abort(&mut ctx, id),
                        }
                    }
                    for &l in &self.listeners.clone() {
                        if let Ok(Some(id)) = usrreq::accept(&mut self.stack.ctx(), l) {
                            if self.tcp.len() < 16 {
                                self.tcp.push(id);
                            }
                        }
                    }
                }
                6 => {
                    let mut ctx = self.stack.ctx();
                    crate::inet::tcp::timer::tcp_timers(&mut ctx);
                    crate::net::arp::arp_timer(&mut ctx);
                    crate::inet::reass::reass_timer(&mut ctx);
                }
                _ => {
                    let port = b.u16();
                    let n = usize::from(b.u16() % 2000);
                    let to = SocketAddrV4::new(if op & 0x80 != 0 { PEER } else { ME }, port);
                    let _ = crate::inet::udp::udp_output(&mut self.stack.ctx(), 10, Some(to.into()), &vec![7; n], true);
                    self.drain();
                }
            }
            self.check_sent();
            self.sink_clear();
        }
        self.check();
    }

    fn pick(&self, which: usize) -> Option<&u64> {
        if self.tcp.is_empty() {
            None
        } else {
            self.tcp.get(which % self.tcp.len())
        }
    }

    /// Makes a frame of the fuzzer's bytes. Bit 6 of `op` puts an Ethernet header for us
    /// from the peer in front (IPv4 unless bit 7 says ARP); bit 5 makes a TCP segment's
    /// addresses, ports and sequence numbers those of one of our connections (the fuzzer's
    /// numbers become offsets from rcv_nxt and snd_una); bit 4 mends the IP header's length
    /// and checksum; bit 3 the TCP, UDP or ICMP checksum.
    fn fixup(&self, op: u8, body: Vec<u8>) -> Vec<u8> {
        let mut f = if op & 0x40 != 0 {
            let mut f = Vec::with_capacity(body.len() + 14);
            f.extend_from_slice(&MAC);
            f.extend_from_slice(&PEER_MAC);
            f.extend_from_slice(if op & 0x80 != 0 { &[8, 6] } else { &[8, 0] });
            f.extend_from_slice(&body);
            f
        } else {
            body
        };
        if f.len() < 14 + 20 || f[12..14] != [8, 0] || f[14] >> 4 != 4 {
            return f;
        }
        let hlen = usize::from(f[14] & 0xf) * 4;
        if hlen < 20 || f.len() < 14 + hlen {
            return f;
        }
        let proto = f[14 + 9];
        let frag = u16::from_be_bytes([f[14 + 6], f[14 + 7]]) & 0x3fff != 0;
        if op & 0x20 != 0 && proto == 6 && f.len() >= 14 + hlen + 20 {
            let ctx = self.stack.ctx();
            let which = usize::from(f[14 + hlen]) % self.tcp.len().max(1);
            if let Some(t) = self.tcp.get(which).and_then(|id| ctx.inet.tcp.tcbs.get(id)) {
                f[14 + 12..14 + 16].copy_from_slice(&octets4(t.faddr));
                f[14 + 16..14 + 20].copy_from_slice(&octets4(t.laddr));
                let s = 14 + hlen;
                f[s..s + 2].copy_from_slice(&t.fport.to_be_bytes());
                f[s + 2..s + 4].copy_from_slice(&t.lport.to_be_bytes());
                let seq = u32::from_be_bytes([f[s + 4], f[s + 5], f[s + 6], f[s + 7]]);
                let ack = u32::from_be_bytes([f[s + 8], f[s + 9], f[s + 10], f[s + 11]]);
                // Small offsets either way: the top bit of each says "below".
                let rel = |base: u32, x: u32| {
                    if x & 0x8000_0000 != 0 {
                        base.wrapping_sub(x & 0xffff)
                    } else {
                        base.wrapping_add(x & 0x00ff_ffff)
                    }
                };
                f[s + 4..s + 8].copy_from_slice(&rel(t.rcv_nxt, seq).to_be_bytes());
                f[s + 8..s + 12].copy_from_slice(&rel(t.snd_una, ack).to_be_bytes());
            }
        }
        let total = f.len() - 14;
        if op & 0x10 != 0 && total <= IP_MAXPACKET {
            f[14 + 2..14 + 4].copy_from_slice(&(total as u16).to_be_bytes());
            f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
            let c = cksum(&f[14..14 + hlen]);
            f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
        }
        let ip_total = usize::from(u16::from_be_bytes([f[14 + 2], f[14 + 3]]));
        if op & 0x08 != 0 && !frag && ip_total >= hlen && ip_total <= total {
            let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
            let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
            let l4 = &mut f[14 + hlen..14 + ip_total];
            match proto {
                6 if l4.len() >= 20 => {
                    l4[16..18].copy_from_slice(&[0, 0]);
                    let c = tcp_cksum(src.into(), dst.into(), l4);
                    l4[16..18].copy_from_slice(&c.to_be_bytes());
                }
                17 if l4.len() >= 8 => {
                    l4[6..8].copy_from_slice(&[0, 0]);
                    let c = udp_cksum(src.into(), dst.into(), l4);
                    l4[6..8].copy_from_slice(&c.to_be_bytes());
                }
                1 if l4.len() >= 4 => {
                    l4[2..4].copy_from_slice(&[0, 0]);
                    let c = cksum(l4);
                    l4[2..4].copy_from_slice(&c.to_be_bytes());
                }
                _ => {}
            }
        }
        f
    }

    /// What must hold after any input.
    pub fn check(&self) {
        let ctx = self.stack.ctx();
        assert!(ctx.inet.reass.len() <= ctx.inet.maxfragpackets);
        assert!(ctx.arp.entries.len() <= crate::net::arp::ARP_MAXENTRIES);
        for t in ctx.inet.tcp.tcbs.values() {
            assert!(
                t.snd_buf.len() <= t.snd_buf_max.max(1) + 4 * 65536,
                "send buffer within bounds"
            );
            assert!(t.rcv_buf.len() <= t.rcv_buf_max.max(crate::inet::tcp::TCP_RCVBUF_MAX));
        }
    }
}

/// An ARP request or reply (`op`) from `spa` (hardware address `sha`) for `tpa`, broadcast.
pub fn arp_frame(op: u16, spa: Ipv4Addr, tpa: Ipv4Addr, sha: [u8; 6]) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&[8, 6, 0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa.octets());
    f
}

/// A TCP segment in an Ethernet frame from the peer to us, checksums right.
#[allow(clippy::too_many_arguments)]
pub fn tcp_frame(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    opts: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let olen = opts.len() & !3;
    let mut t = Vec::with_capacity(20 + olen + data.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.push((((20 + olen) / 4) as u8) << 4);
    t.push(flags);
    t.extend_from_slice(&win.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(&opts[..olen]);
    t.extend_from_slice(data);
    let c = tcp_cksum(src.into(), dst.into(), &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ip_frame(src, dst, 6, 1, 0, &t)
}

/// An IPv4 packet (20-byte header) in an Ethernet frame from the peer to us.
pub fn ip_frame(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, id: u16, off: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(34 + payload.len());
    f.extend_from_slice(&MAC);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&[8, 0]);
    let mut h = [0u8; 20];
    write_header(&mut h, 0, 20 + payload.len(), id, off, 64, proto, src, dst);
    f.extend_from_slice(&h);
    f.extend_from_slice(payload);
    f
}

/// The ISN of a SYN-ACK we sent, if `f` is one.
fn parse_synack(f: &[u8]) -> Option<u32> {
    if f.len() < 54 || f[12..14] != [8, 0] || f[23] != 6 {
        return None;
    }
    let t = &f[14 + usize::from(f[14] & 0xf) * 4..];
    if t.len() < 20 || t[13] & 0x12 != 0x12 {
        return None;
    }
    Some(u32::from_be_bytes([t[4], t[5], t[6], t[7]]))
}

/// IP reassembly: the fuzzer's bytes describe fragments of a few datagrams from the peer
/// (id, offset, more-fragments, length, header options, protocol); each goes to
/// `ip_reass` as ip_input would hand it over. A datagram that comes out must be one that
/// ip_input can take: a header whose length fields match the bytes, within 64 KiB.
pub fn reass(data: &[u8]) {
    let stack = Stack::detached();
    let mut b = Bytes(data);
    // Trains make many fragments of few bytes of input: a bound keeps each run short.
    let mut budget = 4 * crate::inet::reass::MAXFRAGS;
    while !b.is_empty() && budget > 0 {
        let flags = b.u8();
        let id = u16::from(b.u8() & 3);
        let off8 = b.u16() & 0x1fff;
        let len8 = b.u8();
        let extra = usize::from(b.u8() & 7);
        // Bit 3: a train of `len8` full fragments (2040 bytes each, more following) from
        // `off8` on, so that a datagram of any size is a few bytes of input away.
        let (count, len8) = if flags & 8 != 0 { (len8, 255) } else { (1, len8) };
        for i in 0..u16::from(count) {
            let off8 = off8 + i * 255;
            if off8 > 0x1fff || budget == 0 {
                break;
            }
            budget -= 1;
            let more = flags & 1 != 0 || count > 1;
            // Mostly multiples of 8; sometimes not, as a last fragment may be.
            let len = usize::from(len8) * 8 + if flags & 2 != 0 { extra } else { 0 };
            let opts = usize::from(flags >> 5) * 4 + if flags & 0x10 != 0 { 8 } else { 0 };
            let hlen = (20 + opts).min(60);
            if hlen + len > IP_MAXPACKET {
                continue;
            }
            let p = fragment(flags, id, off8, more, hlen, len);
            let mut ctx = stack.ctx();
            if let Some(whole) = crate::inet::reass::ip_reass(&mut ctx, &p) {
                let ip = Ipv4Packet::new_unchecked(&whole);
                assert!(whole.len() <= IP_MAXPACKET, "reassembled {} bytes", whole.len());
                assert!(ip.hlen() >= 20 && ip.hlen() <= whole.len());
                assert_eq!(ip.total_len(), whole.len(), "total length field matches the datagram");
                assert_eq!(cksum(&whole[..ip.hlen()]), 0, "header checksum");
                assert!(!ip.is_fragment());
            }
            assert!(ctx.inet.reass.len() <= ctx.inet.maxfragpackets);
            assert!(ctx.inet.reass.fragments() <= ctx.inet.maxfragpackets * crate::inet::reass::MAXFRAGS);
        }
    }
}

/// One fragment from the peer to us: a header of `hlen` bytes (no-op options after the
/// first 20), `len` bytes of data at `off8` * 8.
fn fragment(flags: u8, id: u16, off8: u16, more: bool, hlen: usize, len: usize) -> Vec<u8> {
    let total = hlen + len;
    let mut p = vec![0u8; total];
    let off = off8 | if more { 0x2000 } else { 0 };
    let proto = if flags & 4 != 0 { 17 } else { 1 };
    write_header(&mut p[..20], 0, total, id, off, 64, proto, PEER, ME);
    p[0] = 0x40 | (hlen / 4) as u8;
    for o in &mut p[20..hlen] {
        *o = 1;
    }
    p[10..12].copy_from_slice(&[0, 0]);
    let c = cksum(&p[..hlen]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    for (i, x) in p[hlen..].iter_mut().enumerate() {
        *x = (i as u8) ^ (off8 as u8);
    }
    p
}

/// Channel messages: the fuzzer's bytes are a credential choice, then datagrams (each a
/// 16-bit length and the bytes), each decoded as the stack decodes what a client sends.
/// What decodes must encode back to the same message; control and capture requests then go
/// to the handlers the stack's workers call, from root or from an ordinary user. A request
/// from an ordinary user must change nothing.
pub fn channel(data: &[u8]) {
    use crate::msg::wire::{Cred, Received};
    use crate::msg::{decode, encode, Msg};
    use crate::resmgr::{bpf, control, Conn};

    let mut b = Bytes(data);
    let root = b.u8() & 1 == 0;
    let Ok((ours, theirs)) = SeqPacket::pair() else { return };
    let net = Net::new(false);
    let cred = Cred {
        pid: 1,
        uid: if root { 0 } else { 1000 },
        gid: 0,
    };
    let Ok(conn) = Conn::detached(1 << 40, ours, cred) else {
        return;
    };
    let mut cap = bpf::Capture::new();
    let mut buf = vec![0u8; crate::msg::MAX_MSG + 1];
    while !b.is_empty() {
        let len = usize::from(b.u16());
        let d = b.take(len).to_vec();
        let Ok(frame) = decode(&d) else { continue };
        let again = encode(
            &frame.msg,
            frame.hdr.seq,
            frame.hdr.pid,
            frame.hdr.flags,
            frame.hdr.errno,
        );
        match decode(&again) {
            Ok(f2) => assert!(f2.hdr == frame.hdr || again.len() != d.len() || f2.msg == frame.msg),
            Err(e) => panic!("a decoded message does not decode after encoding: {e}"),
        }
        let before = (!root).then(|| state_of(&net));
        match &frame.msg {
            Msg::BpfAttach(_)
            | Msg::BpfSetFilter(_)
            | Msg::BpfConfigure(_)
            | Msg::BpfRead(_)
            | Msg::BpfWrite(_)
            | Msg::BpfStats(_)
            | Msg::BpfFlush(_) => {
                let _ = bpf::dispatch(&net.stack, &conn, &mut cap, &frame.hdr, &frame.msg);
            }
            Msg::Subscribe(_) => {}
            m => control::dispatch(&net.stack, &conn, &frame.hdr, m),
        }
        if let Some(before) = before {
            assert_eq!(
                before,
                state_of(&net),
                "a request from an ordinary user changed the stack"
            );
        }
        while let Ok(Received::Msg(n)) = theirs.recv_nowait(&mut buf) {
            assert!(decode(&buf[..n]).is_ok(), "the stack sent a reply that does not decode");
        }
    }
    bpf::close(&net.stack, cap);
}

/// What an ordinary user may not change: interfaces, addresses, routes, sysctl values.
fn state_of(net: &Net) -> String {
    let ctx = net.stack.ctx();
    let ifs: Vec<_> = crate::net::if_control::if_list(&ctx, None)
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i.index, i.name, i.flags, i.mtu, i.lladdr, i.addrs, i.capenable))
        .collect();
    let rt: Vec<_> = crate::net::route::control::rt_dump(&ctx);
    let sysctl = net
        .stack
        .registry
        .sysctl
        .get(&ctx, "net")
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    format!("{ifs:?}\n{rt:?}\n{sysctl}")
}

/// IPv6 input, Neighbor Discovery and reassembly: the fuzzer's bytes are a script of
/// packets from the link to a v6 stack (en0 with its link-local and 2001:db8::1/64,
/// accepting router advertisements, with small bounds on the neighbor cache and
/// reassembly so that they are reached): raw payloads under any next header, ICMPv6 and ND
/// messages with fuzzer-made options (checksums fixed up, so they get past the checksum),
/// fragments of a few datagrams, timer runs with every deadline passed, forwarding on and
/// off, and local output of echo requests of any size. After every step the bounds must
/// hold: neighbor cache, hold queues, routers, prefixes, addresses, reassembly queues and
/// memory.
pub fn ip6(data: &[u8]) {
    use crate::inet6::{frag6, icmp6, nd6};
    use crate::wire::icmpv6::fill_checksum;
    use crate::wire::ipv6::{addr as a6, Ipv6Repr};
    use std::net::Ipv6Addr;

    let (stack, ifp, sink) = en0_stack_of(crate::sys::Variant::V6Hc, false, 64);
    let me_ll = a6::with_iid(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), &a6::eui64(&MAC));
    let peer_ll = a6::with_iid(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), &a6::eui64(&PEER_MAC));
    let global = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    {
        let mut ctx = stack.ctx();
        ctx.inet6.accept_rtadv = true;
        ctx.inet6.nd.max_entries = 32;
        ctx.inet6.maxfragpackets = 8;
        ctx.inet6.icmp_limit.limit = 0;
        // Node Information queries reach every answer.
        ctx.hostname = "fuzz.example.org".into();
        ctx.inet6.nodeinfo = 0xf;
        ctx.inet6.ni_limit.limit = 0;
        if let Some(lo) = ctx.ifnet_by_name("lo0").cloned() {
            crate::inet6::if_up(&mut ctx, &lo);
        }
        crate::inet6::if_up(&mut ctx, &ifp);
        let req = AddrReq {
            name: "en0".into(),
            addr: Some(global.into()),
            netmask: None,
            brd: None,
        };
        crate::inet6::add_addr(&mut ctx, &req).expect("an inet6 address on a fresh interface");
        for _ in 0..3 {
            for ia in ctx.inet6.addrs.iter_mut() {
                ia.dad_next = ia.dad_next.map(|_| std::time::Instant::now());
            }
            nd6::dad_timer(&mut ctx);
        }
    }
    let pkt6 = |src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hlim: u8, payload: &[u8]| {
        let mut f = Vec::with_capacity(14 + 40 + payload.len());
        f.extend_from_slice(&a6::multicast_mac(&dst));
        if !dst.is_multicast() {
            f[..6].copy_from_slice(&MAC);
        }
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&[0x86, 0xdd]);
        let mut h = [0u8; 40];
        Ipv6Repr {
            traffic_class: 0,
            flow_label: 0,
            payload_len: payload.len().min(65535) as u16,
            next_header: nh,
            hop_limit: hlim,
            src,
            dst,
        }
        .emit(&mut h);
        f.extend_from_slice(&h);
        f.extend_from_slice(payload);
        f
    };
    let mut b = Bytes(data);
    let mut budget = 256;
    while !b.is_empty() && budget > 0 {
        budget -= 1;
        let op = b.u8();
        let sel = b.u8();
        let r = b.u16();
        let src = [
            peer_ll,
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, r),
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
            Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            Ipv6Addr::LOCALHOST,
        ][usize::from(sel % 6)];
        let dst = [
            me_ll,
            global,
            nd6::ALL_NODES,
            a6::solicited_node(&me_ll),
            Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, r),
            nd6::ALL_ROUTERS,
        ][usize::from(sel / 8 % 6)];
        let hlim = if op & 0x80 != 0 { 255 } else { b.u8() };
        let frame = match op & 7 {
            // Any next header, any payload.
            0 => {
                let nh = b.u8();
                let n = usize::from(b.u8()) * 2;
                pkt6(src, dst, nh, hlim, b.take(n))
            }
            // ICMPv6 (ND, MLD, echo, errors) with a correct checksum; bit 6: options
            // follow a well-formed ND fixed part with a target of ours or the peer's.
            1 | 2 => {
                let t = if op & 1 == 0 { 133 + b.u8() % 5 } else { b.u8() };
                let code = if op & 0x40 != 0 { b.u8() } else { 0 };
                let mut m = vec![t, code, 0, 0];
                m.extend_from_slice(b.take(4));
                m.resize(8, 0);
                if op & 0x20 != 0 {
                    let target = [me_ll, global, peer_ll, src][usize::from(r % 4)];
                    m.extend_from_slice(&target.octets());
                    if t == 137 {
                        m.extend_from_slice(&dst.octets());
                    }
                }
                let n = usize::from(b.u8());
                m.extend_from_slice(b.take(n));
                fill_checksum(&mut m, &src, &dst);
                pkt6(src, dst, 58, hlim, &m)
            }
            // A fragment of one of four datagrams.
            3 => {
                let id = u32::from(b.u8() & 3);
                let off8 = b.u16() & 0x1fff;
                let more = op & 8 != 0;
                let len = usize::from(b.u8()) * 8 + if op & 0x10 != 0 { usize::from(r & 7) } else { 0 };
                let mut p = vec![if op & 0x20 != 0 { 58 } else { 59 }, 0];
                p.extend_from_slice(&((off8 << 3) | u16::from(more)).to_be_bytes());
                p.extend_from_slice(&id.to_be_bytes());
                p.extend((0..len).map(|i| i as u8 ^ off8 as u8));
                pkt6(src, dst, 44, hlim, &p)
            }
            // Every deadline passes.
            4 => {
                let mut ctx = stack.ctx();
                frag6::age_all(&mut ctx);
                frag6::frag6_timer(&mut ctx);
                let past = std::time::Instant::now();
                for e in ctx.inet6.nd.cache.values_mut() {
                    e.next = e.next.map(|_| past);
                }
                nd6::nd6_timer(&mut ctx);
                icmp6::pmtu_timer(&mut ctx);
                for p in ctx.inet6.mld_pending.iter_mut() {
                    p.at = past;
                }
                for a in ctx.inet6.mld_answers.iter_mut() {
                    a.at = past;
                }
                crate::inet6::mld6::mld_timer(&mut ctx);
                Vec::new()
            }
            5 => {
                stack.ctx().inet6.forwarding = op & 8 != 0;
                Vec::new()
            }
            // Local output of an echo request, fragmented above the path MTU.
            6 => {
                let n = usize::from(r % 5000);
                let _ = icmp6::icmp6_echo(&mut stack.ctx(), dst, Some(ifp.index), 1, 1, &vec![0x5a; n]);
                Vec::new()
            }
            // Raw bytes after the Ethernet header.
            _ => {
                let n = usize::from(b.u8()) * 2;
                let mut f = MAC.to_vec();
                f.extend_from_slice(&PEER_MAC);
                f.extend_from_slice(&[0x86, 0xdd]);
                f.extend_from_slice(b.take(n));
                f
            }
        };
        if !frame.is_empty() {
            ether_input(
                &stack,
                &ifp,
                crate::sys::mbuf::Mbuf::from_frame(&frame, FrameMeta::PLAIN),
            );
        }
        sink.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let ctx = stack.ctx();
        let s = &ctx.inet6;
        assert!(
            s.nd.cache.len() <= s.nd.max_entries,
            "neighbor cache {}",
            s.nd.cache.len()
        );
        assert!(s.nd.cache.values().all(|e| e.hold.len() <= nd6::ND_MAXHOLD));
        assert!(s.nd.routers.len() <= nd6::MAX_DEFROUTERS);
        assert!(s.nd.prefixes.len() <= nd6::MAX_PREFIXES);
        assert!(s.nd.redirects.len() <= nd6::MAX_REDIRECTS);
        assert!(s.mld_pending.len() <= crate::inet6::mld6::MAX_PENDING);
        assert!(s.mld_answers.len() <= 2, "one answer per interface at most");
        assert!(s
            .mld_answers
            .iter()
            .all(|a| a.groups.as_ref().is_none_or(|g| g.len() <= s.groups.len())));
        assert!(s.addrs.len() <= 4 + nd6::MAX_PREFIXES, "{} addresses", s.addrs.len());
        assert!(s.reass.len() <= s.maxfragpackets);
        assert!(s.reass.mem() <= frag6::REASS_MEM_MAX);
        assert!(s.loopq.is_empty(), "loopback drained when the context is let go");
    }
}

/// An IPv4 endpoint's four octets (the harness's connections are all IPv4).
fn octets4(a: std::net::IpAddr) -> [u8; 4] {
    match a {
        std::net::IpAddr::V4(a) => a.octets(),
        std::net::IpAddr::V6(a) => a.to_ipv4_mapped().map(|a| a.octets()).unwrap_or_default(),
    }
}

/// PF: packets through `pf_test` both ways on two interfaces, under a fixed ruleset with
/// scrub, nat, rdr, binat, a table, block return and modulate state. Each packet is one
/// control byte (direction, interface, family, whether the header is made right), two
/// bytes of length, then its bytes; a made-right header takes its addresses from a few
/// hosts on each side, so that states are made and hit. After each packet the state
/// table holds its limit, and a passed packet is as long as it came.
pub fn pf(data: &[u8]) {
    use crate::msg::pf::{self as m, Action, PfReq, Rule, StateKind};
    use crate::net::pfil::{Dir, Verdict};
    let stack = Stack::detached_variant(crate::sys::Variant::V6Hc);
    let (en0, en1) = {
        let mut ctx = stack.ctx();
        if (crate::pf::PF_MODULE.attach)(&mut ctx, &stack, "pf").is_err() {
            return;
        }
        let mut mk = |name: &str, a: [u8; 4]| {
            let idx = crate::net::if_control::next_index(&ctx);
            let ifp = Ifnet::pseudo(idx, name.into(), crate::msg::IFT_ETHER, 1500, |_, _, _, _| Ok(()));
            let ifp = if_attach(&mut ctx, ifp).expect("a fresh interface");
            ctx.inet.addrs.push(crate::inet::InIfaddr {
                ifindex: idx,
                addr: Ipv4Addr::from(a),
                mask: Ipv4Addr::new(255, 255, 255, 0),
                broadcast: None,
            });
            ifp
        };
        (mk("en0", [10, 0, 0, 1]), mk("en1", [198, 51, 100, 1]))
    };
    let net = |s: &str, p: u8| {
        m::Addr::Net(m::Net {
            addr: s.parse().expect("an address"),
            prefix: p,
        })
    };
    let on = |n: &str| {
        Some(m::IfSpec {
            name: n.into(),
            neg: false,
        })
    };
    let pool = |a: m::Addr, port: Option<(u16, u16)>| {
        Some(m::Pool {
            addrs: vec![a],
            port,
            port_star: false,
            kind: m::PoolType::None,
            sticky: false,
            static_port: false,
        })
    };
    let mut nat = m::NatRule::new(m::NatKind::Nat);
    nat.ifname = on("en1");
    nat.src.addr = net("10.0.0.0", 24);
    nat.pool = pool(
        m::Addr::Dynamic {
            ifname: "en1".into(),
            flags: 0,
        },
        None,
    );
    let mut rdr = m::NatRule::new(m::NatKind::Rdr);
    rdr.ifname = on("en1");
    rdr.proto = Some(6);
    rdr.dst.port = Some(m::PortOp::eq(8080));
    rdr.pool = pool(net("10.0.0.5", 32), Some((80, 0)));
    let mut binat = m::NatRule::new(m::NatKind::Binat);
    binat.ifname = on("en1");
    binat.src.addr = net("10.0.0.9", 32);
    binat.pool = pool(net("198.51.100.9", 32), None);
    let mut bad = Rule::new(Action::Block);
    bad.quick = true;
    bad.block = m::BlockHow::Return;
    bad.src.addr = m::Addr::Table("bad".into());
    let mut keep = Rule::new(Action::Pass);
    keep.flags = 0x02;
    keep.flagset = 0x12;
    keep.state = StateKind::Keep;
    let mut modulate = keep.clone();
    modulate.dir = m::Dir::Out;
    modulate.state = StateKind::Modulate;
    let rs = m::Ruleset {
        options: m::Options {
            limits: vec![(m::Limit::States, 64)],
            ..m::Options::default()
        },
        tables: vec![m::TableDef {
            name: "bad".into(),
            flags: 0,
            addrs: vec![m::TableAddr {
                net: m::Net::host("198.51.100.66".parse().expect("an address")),
                neg: false,
            }],
        }],
        scrub: vec![m::ScrubRule {
            no_df: true,
            random_id: true,
            min_ttl: Some(32),
            max_mss: Some(1200),
            ..m::ScrubRule::default()
        }],
        nat: vec![nat, rdr, binat],
        filter: vec![Rule::new(Action::Block), bad, keep, modulate],
        ..m::Ruleset::default()
    };
    {
        let mut ctx = stack.ctx();
        let load = m::LoadReq {
            anchor: String::new(),
            parts: m::LoadParts::ALL,
            ruleset: rs,
            nested: Vec::new(),
        };
        crate::pf::ioctl::pf_ioctl(&mut ctx, &PfReq::Load(load)).expect("the fixed ruleset loads");
        crate::pf::ioctl::pf_ioctl(&mut ctx, &PfReq::Enable).expect("enable");
    }
    let hosts4: [[u8; 4]; 4] = [[10, 0, 0, 2], [10, 0, 0, 9], [198, 51, 100, 2], [198, 51, 100, 1]];
    let mut b = Bytes(data);
    let mut n = 0;
    while !b.is_empty() && n < 256 {
        n += 1;
        let ctl = b.u8();
        let len = usize::from(b.u16() % 1600);
        let body = b.take(len).to_vec();
        let dir = if ctl & 1 == 0 { Dir::In } else { Dir::Out };
        let ifp = if ctl & 2 == 0 { &en0 } else { &en1 };
        let v6 = ctl & 4 != 0;
        let pkt = if ctl & 8 != 0 && !v6 {
            // A right IPv4 header in front of the bytes, as ip_input would pass on.
            let proto = [6u8, 17, 1, body.first().copied().unwrap_or(0)][usize::from(ctl >> 4 & 3)];
            let (s, d) = (hosts4[usize::from(ctl >> 6)], hosts4[body.len() % 4]);
            let mut p = vec![0u8; 20];
            p[0] = 0x45;
            p[2..4].copy_from_slice(&((20 + body.len()) as u16).to_be_bytes());
            p[8] = 64;
            p[9] = proto;
            p[12..16].copy_from_slice(&s);
            p[16..20].copy_from_slice(&d);
            let c = cksum(&p);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            p.extend_from_slice(&body);
            p
        } else {
            body
        };
        let af = if v6 {
            crate::pf::pkt::Af::Inet6
        } else {
            crate::pf::pkt::Af::Inet
        };
        let before = pkt.len();
        let mut ctx = stack.ctx();
        match crate::pf::pf_test(&mut ctx, af, dir, ifp, crate::sys::mbuf::Mbuf::from_slice(&pkt)) {
            Verdict::Pass(m) => assert_eq!(m.len(), before, "pf changed a packet's length"),
            Verdict::Drop(_) | Verdict::Consumed => {}
        }
        assert!(ctx.pf.states.len() <= ctx.pf.states.limit, "the state limit");
        if ctl == 0xff {
            crate::pf::pf_purge(&mut ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inet::tcp::State;

    /// The harness really has what the targets are meant to reach: an established
    /// connection and one in SYN_SENT, and a segment the fuzzer writes with offsets lands
    /// in sequence on the connection.
    #[test]
    fn the_net_harness_reaches_connections() {
        let mut net = Net::new(false);
        let states: Vec<State> = {
            let ctx = net.stack.ctx();
            net.tcp.iter().map(|id| ctx.inet.tcp.tcbs[id].state).collect()
        };
        assert_eq!(states, [State::Established, State::SynSent]);
        let f = tcp_frame(PEER, 1, ME, 1, 0, 0, 0x18, 512, &[], b"hello");
        let mut script = vec![0x38];
        script.extend_from_slice(&(f.len() as u16).to_be_bytes());
        script.extend_from_slice(&f);
        net.run(&script);
        let id = net.tcp[0];
        let got = usrreq::recv(&mut net.stack.ctx(), id, 100, false);
        match got {
            Ok(usrreq::Recv::Data(d)) => assert_eq!(d, b"hello"),
            _ => panic!("the segment did not land on the connection"),
        }
    }

    #[test]
    fn reass_and_channel_take_anything() {
        reass(&[1, 0, 0, 0, 10, 0, 0, 0, 0, 10, 3, 0]);
        let m = crate::msg::encode(&crate::msg::Msg::StatsGet(crate::msg::Empty), 1, 1, 0, 0);
        let mut v = vec![1u8];
        v.extend_from_slice(&(m.len() as u16).to_be_bytes());
        v.extend(m);
        channel(&v);
        channel(&[0, 0xff, 0xff, 1, 2, 3]);
    }
}
