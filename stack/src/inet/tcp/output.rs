//! `tcp_output`: what to send now (data within the send and congestion windows, Nagle,
//! FIN, ACKs, window updates, probes), and the segments' headers and options.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use pktbox_drivers::ifcap;

use crate::conf::Ctx;
use crate::inet::ip::OutOffload;
use crate::inet::out::{net_hdr_len, path_mtu, transport_output, TransOut, IPV6_MMTU};
use crate::inet::tcp::seq::{gt, lt};
use crate::inet::tcp::{Key, State, Tcb, TCPTV_PERSMAX, TCPTV_PERSMIN};
use crate::wire::checksum::{fold, pseudo_sum, transport_cksum};
use crate::wire::ipv4::{IPPROTO_TCP, IP_HDR_LEN, IP_MAXPACKET};

use crate::wire::tcp::{
    TCPOPT_MAXSEG, TCPOPT_NOP, TCPOPT_SACK, TCPOPT_SACK_PERMITTED, TCPOPT_TIMESTAMP, TCPOPT_WINDOW, TH_ACK, TH_FIN,
    TH_PUSH, TH_RST, TH_SYN,
};

/// Our timestamp clock: milliseconds since the stack started (RFC 7323 5.4).
pub fn tcp_now(ctx: &Ctx) -> u32 {
    ctx.inet.tcp.isn_epoch.elapsed().as_millis() as u32
}

/// The TCP checksum over the pseudo-header (IPv4's, or IPv6's of RFC 8200 8.1) and the
/// segment.
pub fn tcp_cksum(src: IpAddr, dst: IpAddr, seg: &[u8]) -> u16 {
    transport_cksum(src, dst, IPPROTO_TCP, seg)
}

/// One segment to send.
pub struct Seg<'a> {
    pub key: Key,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub win: u16,
    /// Options, already encoded and padded to a multiple of 4.
    pub opts: &'a [u8],
    pub data: &'a [u8],
    pub ttl: u8,
    pub tos: u8,
}

/// Builds and sends one segment.
pub fn send_seg(ctx: &mut Ctx, s: &Seg<'_>) -> Result<(), i32> {
    send_seg_offload(ctx, s, None)
}

/// The offloads the interface towards `dst` has for TCP: checksum, and segmentation.
/// None for our own addresses (they go around through lo0).
pub fn tx_offload(ctx: &Ctx, dst: IpAddr) -> (bool, bool) {
    let (csum_bit, tso_bit) = match dst {
        IpAddr::V4(_) => (ifcap::CSUM_TCPV4_TX, ifcap::TSOV4),
        IpAddr::V6(_) => (ifcap::CSUM_TCPV6_TX, ifcap::TSOV6),
    };
    let Some(caps) = crate::inet::out::out_ifcaps(ctx, dst) else {
        return (false, false);
    };
    let csum = caps & csum_bit != 0;
    (csum, csum && caps & tso_bit != 0)
}

/// Copies `len` bytes of `buf` from `off` onto the end of `out`.
pub fn copy_out(buf: &VecDeque<u8>, off: usize, len: usize, out: &mut Vec<u8>) {
    let (a, b) = buf.as_slices();
    let end = off + len;
    if off < a.len() {
        out.extend_from_slice(&a[off..end.min(a.len())]);
    }
    if end > a.len() {
        out.extend_from_slice(&b[off.saturating_sub(a.len())..end - a.len()]);
    }
}

/// Builds and sends one segment. With `tso` (Some(gso_size), or Some(0) for checksum
/// offload alone), the checksum is left to the interface and the segment may carry more
/// than one MTU of data, which the interface cuts into segments of gso_size.
pub fn send_seg_offload(ctx: &mut Ctx, s: &Seg<'_>, tso: Option<u16>) -> Result<(), i32> {
    let (laddr, lport, faddr, fport) = s.key;
    let hlen = 20 + s.opts.len();
    let mut b = Vec::with_capacity(hlen + s.data.len());
    b.extend_from_slice(&lport.to_be_bytes());
    b.extend_from_slice(&fport.to_be_bytes());
    b.extend_from_slice(&s.seq.to_be_bytes());
    b.extend_from_slice(&s.ack.to_be_bytes());
    b.push(((hlen / 4) as u8) << 4);
    b.push(s.flags);
    b.extend_from_slice(&s.win.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(s.opts);
    b.extend_from_slice(s.data);
    let c = match tso {
        // The pseudo-header's sum, not complemented, for the interface to finish.
        Some(_) => !fold(pseudo_sum(laddr, faddr, IPPROTO_TCP, b.len())),
        None => tcp_cksum(laddr, faddr, &b),
    };
    b[16..18].copy_from_slice(&c.to_be_bytes());
    let st = &mut ctx.inet.tcp.stat;
    st.sndtotal += 1;
    if s.flags & TH_RST != 0 {
        st.sndrst += 1;
    }
    transport_output(
        ctx,
        &TransOut {
            src: Some(laddr),
            dst: faddr,
            proto: IPPROTO_TCP,
            ttl: s.ttl,
            tos: s.tos,
            df: false,
            payload: &b,
            offload: OutOffload {
                csum_at: tso.map(|_| 16),
                tso: tso.unwrap_or(0),
            },
        },
    )
}

/// Sends a RST (RFC 9293 3.10.7.1): with ACK when answering a segment without one.
pub fn send_rst(ctx: &mut Ctx, key: Key, seq: u32, ack: u32, with_ack: bool) {
    let ttl = ctx.inet.ttl;
    let _ = send_seg(
        ctx,
        &Seg {
            key,
            seq,
            ack: if with_ack { ack } else { 0 },
            flags: TH_RST | if with_ack { TH_ACK } else { 0 },
            win: 0,
            opts: &[],
            data: &[],
            ttl,
            tos: 0,
        },
    );
}

/// The options of a segment: MSS, window scale and timestamps on a SYN; timestamps after.
fn options(ctx: &Ctx, t: &Tcb, syn: bool, out: &mut Vec<u8>) {
    if syn {
        let mss = mss_for(ctx, t.faddr).min(65535) as u16;
        out.extend_from_slice(&[TCPOPT_MAXSEG, 4]);
        out.extend_from_slice(&mss.to_be_bytes());
        if t.req_wscale {
            out.extend_from_slice(&[TCPOPT_NOP, TCPOPT_WINDOW, 3, t.rcv_wscale]);
        }
        if t.req_sack {
            out.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERMITTED, 2]);
        }
    }
    if (syn && t.req_ts) || t.ts_on {
        out.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10]);
        out.extend_from_slice(&tcp_now(ctx).to_be_bytes());
        let echo = if t.ts_on || t.state != State::SynSent {
            t.ts_recent
        } else {
            0
        };
        out.extend_from_slice(&echo.to_be_bytes());
    }
    // SACK blocks for what we hold out of order (RFC 2018 4): the block of the most
    // recent segment first, then the others, as many as fit.
    if t.sack_on && !syn && !t.ooo.is_empty() {
        let mut ranges = t.ooo.ranges();
        if let Some(recent) = t.last_ooo {
            if let Some(i) = ranges.iter().position(|(a, b)| !lt(recent, *a) && lt(recent, *b)) {
                let r = ranges.remove(i);
                ranges.insert(0, r);
            }
        }
        let room = (40 - out.len()).saturating_sub(4) / 8;
        let n = ranges.len().min(room).min(4);
        if n > 0 {
            out.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK, (2 + 8 * n) as u8]);
            for (a, b) in ranges.iter().take(n) {
                out.extend_from_slice(&a.to_be_bytes());
                out.extend_from_slice(&b.to_be_bytes());
            }
        }
    }
}

/// The options of a non-SYN segment, for tests.
#[cfg(test)]
pub fn options_for_test(ctx: &Ctx, t: &Tcb, out: &mut Vec<u8>) {
    options(ctx, t, false, out);
}

/// How much data one segment of this connection carries besides its options.
fn seg_data_max(ctx: &Ctx, t: &Tcb) -> u32 {
    let mut opts = Vec::with_capacity(40);
    options(ctx, t, false, &mut opts);
    t.t_maxseg.saturating_sub(opts.len() as u32).max(1)
}

/// Sends again up to `len` bytes of what was sent from `start` (data only, with an ACK),
/// no more than fit one segment with its options; counts it as a retransmission. Returns
/// how many bytes went, or None when there was nothing to send.
fn resend(ctx: &mut Ctx, id: u64, start: u32, len: u32) -> Option<u32> {
    let t = ctx.inet.tcp.tcbs.get(&id)?;
    let mut opts = Vec::with_capacity(40);
    options(ctx, t, false, &mut opts);
    let seg_max = seg_data_max(ctx, t) as usize;
    let off = start.wrapping_sub(t.snd_una) as usize;
    let len = (len as usize).min(seg_max).min(t.snd_buf.len().saturating_sub(off));
    if len == 0 {
        return None;
    }
    let mut data = Vec::with_capacity(len);
    copy_out(&t.snd_buf, off, len, &mut data);
    let (win, _) = window(t);
    let (key, ack, ttl, tos) = (t.key(), t.rcv_nxt, t.ttl, t.tos);
    let st = &mut ctx.inet.tcp.stat;
    st.sndrexmitpack += 1;
    st.sndrexmitbyte += len as u64;
    let _ = send_seg(
        ctx,
        &Seg {
            key,
            seq: start,
            ack,
            flags: TH_ACK,
            win,
            opts: &opts,
            data: &data,
            ttl,
            tos,
        },
    );
    Some(len as u32)
}

/// Retransmits holes the peer's SACK blocks show, while RFC 6675's pipe leaves room in
/// the congestion window.
pub fn sack_rexmit(ctx: &mut Ctx, id: u64) {
    for _ in 0..64 {
        let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
            return;
        };
        if t.pipe().saturating_add(t.t_maxseg) > t.cwnd {
            return;
        }
        // Retransmissions lost in their turn go first, then the next hole.
        let mut again = None;
        while let Some((a, b)) = t.relost.pop_front() {
            if !t.covered(a, b) {
                again = Some((a, b.wrapping_sub(a).min(t.t_maxseg)));
                break;
            }
        }
        let Some((start, len)) = again.or_else(|| t.next_hole()) else {
            return;
        };
        let Some(sent) = resend(ctx, id, start, len) else {
            return;
        };
        if let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) {
            let end = start.wrapping_add(sent);
            // What of a lost-again range did not fit this segment waits for the next.
            if let Some((a, alen)) = again {
                if sent < alen {
                    t.relost.push_front((end, a.wrapping_add(alen)));
                }
            }
            if again.is_none() {
                t.rexmit_next = end;
            }
            let hi = t.snd_max;
            t.rexmits.push_back((start, end, hi));
        }
    }
}

/// A tail loss probe (RFC 8985 7.3): the last segment sent, once more, so that its ACK
/// shows the peer's scoreboard when too little came after a loss to show it otherwise.
pub fn tlp_send(ctx: &mut Ctx, id: u64) {
    let Some(t) = ctx.inet.tcp.tcbs.get(&id) else { return };
    let len = t.snd_max.wrapping_sub(t.snd_una).min(seg_data_max(ctx, t));
    let start = t.snd_max.wrapping_sub(len);
    if let Some(sent) = resend(ctx, id, start, len) {
        if let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) {
            t.tlp_probe = Some((start, start.wrapping_add(sent)));
        }
    }
}

/// The MSS we offer for a peer: the outgoing interface's MTU less the network and TCP
/// headers (IPv6's minimum MTU when there is no route towards a v6 peer).
pub fn mss_for(ctx: &Ctx, dst: IpAddr) -> u32 {
    let dflt = if dst.is_ipv4() { 1500 } else { IPV6_MMTU };
    let mtu = path_mtu(ctx, dst).unwrap_or(dflt);
    mtu.saturating_sub(net_hdr_len(dst) + 20).max(64)
}

/// The window to advertise, scaled, never shrinking the right edge already offered.
fn window(t: &Tcb) -> (u16, u32) {
    let mut space = t.rcv_space() as u32;
    // Receiver silly window avoidance (RFC 9293 3.8.6.2.2).
    if (space as usize) < t.rcv_buf_max / 4 && space < t.t_maxseg {
        space = 0;
    }
    let adv_room = t.rcv_adv.wrapping_sub(t.rcv_nxt);
    if lt(t.rcv_nxt.wrapping_add(space), t.rcv_adv) && adv_room <= (65535u32 << t.rcv_wscale) {
        space = adv_room;
    }
    let scaled = (space >> t.rcv_wscale).min(65535);
    (scaled as u16, scaled << t.rcv_wscale)
}

/// Sends whatever the connection should send now. Returns the errno of a failed send.
///
/// The FIN counts as one sequence number after the buffered data: sent when everything
/// before it has gone, retransmitted with it.
pub fn tcp_output(ctx: &mut Ctx, id: u64) -> Result<(), i32> {
    // Sending arms the retransmit, persist and tail-loss-probe timers.
    ctx.inet.tcp.touch(id);
    loop {
        let Some(t) = ctx.inet.tcp.tcbs.get(&id) else {
            return Ok(());
        };
        if matches!(t.state, State::Closed | State::Listen | State::TimeWait) {
            return Ok(());
        }
        let syn = matches!(t.state, State::SynSent | State::SynReceived) && t.snd_nxt == t.iss;
        let buffered = t.snd_buf.len();
        let off = t.snd_nxt.wrapping_sub(t.snd_una) as usize;
        let data_off = off.min(buffered);
        // The usable window: the smaller of the peer's and the congestion window.
        // The peer's window counts from snd_una; the congestion window counts what is in
        // flight, which in SACK recovery is RFC 6675's pipe.
        let wnd_room = (t.snd_wnd as usize).saturating_sub(off);
        let cwnd_room = if t.sack_on && t.recover.is_some() {
            (t.cwnd as usize).saturating_sub(t.pipe() as usize)
        } else {
            (t.cwnd as usize).saturating_sub(off)
        };
        let mut opts = Vec::with_capacity(40);
        options(ctx, t, syn, &mut opts);
        // t_maxseg counts data and options together (RFC 6691): a full segment with
        // timestamps carries 12 bytes less data, so that it still fits the MTU.
        let seg_max = (t.t_maxseg as usize)
            .saturating_sub(if syn { 0 } else { opts.len() })
            .max(1);
        // With segmentation offload, one segment of up to 64 KiB, whole segments of
        // seg_max but the last, for the interface to cut.
        let (csum_off, tso_off) = tx_offload(ctx, t.faddr);
        let len_max = if tso_off && !syn {
            ((IP_MAXPACKET - IP_HDR_LEN - 20 - opts.len()) / seg_max * seg_max).max(seg_max)
        } else {
            seg_max
        };
        let mut len = (buffered - data_off).min(wnd_room).min(cwnd_room).min(len_max);
        if !t.state.synchronized() {
            len = 0;
        }
        // Once the peer has acknowledged our FIN, there is none to send (FIN_WAIT_2 and
        // TIME_WAIT send ACKs only).
        let fin_now =
            t.fin_queued && t.state.synchronized() && !t.fin_acked() && off <= buffered && data_off + len == buffered;
        // Nagle (RFC 9293 3.7.4): hold a small segment of new data while data is in
        // flight; a retransmission (below snd_max) is never held (NetBSD's tcp_output).
        if len > 0
            && len < seg_max
            && !t.nodelay
            && t.in_flight() > 0
            && data_off + len == buffered
            && !fin_now
            && !lt(t.snd_nxt, t.snd_max)
        {
            len = 0;
        }
        let (win, win_bytes) = window(t);
        let win_update = t.state.synchronized() && {
            let grown = win_bytes.saturating_sub(t.rcv_adv.wrapping_sub(t.rcv_nxt));
            grown >= 2 * t.t_maxseg || grown as usize >= t.rcv_buf_max / 2
        };
        if !(syn || len > 0 || fin_now || t.ack_now || win_update) {
            // Unsent data behind a closed window: the persist timer will probe.
            if buffered > data_off && t.snd_wnd == 0 && t.in_flight() == 0 && t.t_persist.is_none() {
                let d = t.rto().clamp(TCPTV_PERSMIN, TCPTV_PERSMAX);
                if let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) {
                    t.t_persist = Some(Instant::now() + d);
                }
            }
            return Ok(());
        }
        let mut flags = TH_ACK;
        if syn {
            flags = if t.state == State::SynSent {
                TH_SYN
            } else {
                TH_SYN | TH_ACK
            };
        }
        if fin_now {
            flags |= TH_FIN;
        }
        if len > 0 && data_off + len == buffered {
            flags |= TH_PUSH;
        }
        let mut data = Vec::with_capacity(len);
        copy_out(&t.snd_buf, data_off, len, &mut data);
        let seq = t.snd_nxt;
        let seg_ack = if flags & TH_ACK != 0 { t.rcv_nxt } else { 0 };
        let (key, ttl, tos, acking) = (t.key(), t.ttl, t.tos, t.ack_now);
        let retransmit = lt(seq, t.snd_max);
        let offload = csum_off.then_some(if len > seg_max { seg_max as u16 } else { 0 });
        let r = send_seg_offload(
            ctx,
            &Seg {
                key,
                seq,
                ack: seg_ack,
                flags,
                // A SYN's window is never scaled (RFC 7323 2.2).
                win: if syn { t.rcv_space().min(65535) as u16 } else { win },
                opts: &opts,
                data: &data,
                ttl,
                tos,
            },
            offload,
        );
        let now = Instant::now();
        let st = &mut ctx.inet.tcp.stat;
        if len > 0 {
            // A segment cut by the interface counts as the segments it becomes.
            let segs = len.div_ceil(seg_max) as u64;
            if retransmit {
                st.sndrexmitpack += segs;
                st.sndrexmitbyte += len as u64;
            } else {
                st.sndpack += segs;
                st.sndbyte += len as u64;
            }
        } else if flags & (TH_SYN | TH_FIN) != 0 {
            st.sndctrl += 1;
        } else if win_update && !acking {
            st.sndwinup += 1;
        } else {
            st.sndacks += 1;
        }
        let mut timed = false;
        let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
            return r;
        };
        // Advance snd_nxt over what the segment carried (SYN and FIN count one each).
        let adv = len as u32 + u32::from(flags & TH_SYN != 0) + u32::from(flags & TH_FIN != 0);
        if flags & TH_FIN != 0 && t.fin_seq.is_none() {
            t.fin_seq = Some(seq.wrapping_add(len as u32));
        }
        let end = seq.wrapping_add(adv);
        if gt(end, t.snd_nxt) {
            t.snd_nxt = end;
        }
        if gt(t.snd_nxt, t.snd_max) {
            t.snd_max = t.snd_nxt;
            // Time one segment at a time, never a retransmitted one (Karn).
            if t.rtseq.is_none() && adv > 0 && !t.ts_on {
                t.rtseq = Some((seq, now));
                timed = true;
            }
        }
        if adv > 0 && t.t_rexmt.is_none() {
            t.t_rexmt = Some(now + t.rto());
            t.t_persist = None;
        }
        if adv > 0 {
            t.arm_tlp(now);
        }
        if gt(t.rcv_nxt.wrapping_add(win_bytes), t.rcv_adv) {
            t.rcv_adv = t.rcv_nxt.wrapping_add(win_bytes);
        }
        t.ack_now = false;
        t.unacked_segs = 0;
        t.t_delack = None;
        t.idle_since = now;
        if timed {
            ctx.inet.tcp.stat.segstimed += 1;
        }
        r?;
        // Go on while there is data to send; a bare ACK or a FIN ends the round.
        if len == 0 || flags & TH_FIN != 0 {
            return Ok(());
        }
    }
}

/// Sends one byte beyond the window (a zero-window probe), from the persist timer.
pub fn send_probe(ctx: &mut Ctx, id: u64) {
    let Some(t) = ctx.inet.tcp.tcbs.get(&id) else { return };
    let off = t.snd_nxt.wrapping_sub(t.snd_una) as usize;
    let Some(&byte) = t.snd_buf.get(off).or_else(|| t.snd_buf.front()) else {
        return;
    };
    let seq = if off < t.snd_buf.len() { t.snd_nxt } else { t.snd_una };
    let (win, _) = window(t);
    let mut opts = Vec::new();
    options(ctx, t, false, &mut opts);
    let (key, ack, ttl, tos) = (t.key(), t.rcv_nxt, t.ttl, t.tos);
    ctx.inet.tcp.stat.sndprobe += 1;
    let _ = send_seg(
        ctx,
        &Seg {
            key,
            seq,
            ack,
            flags: TH_ACK,
            win,
            opts: &opts,
            data: &[byte],
            ttl,
            tos,
        },
    );
}

/// Sends a bare ACK now (challenge ACKs, keepalive probes, out-of-window answers).
pub fn send_ack(ctx: &mut Ctx, id: u64, seq_override: Option<u32>) {
    let Some(t) = ctx.inet.tcp.tcbs.get(&id) else { return };
    let (win, _) = window(t);
    let mut opts = Vec::new();
    options(ctx, t, false, &mut opts);
    let (key, seq, ack, ttl, tos) = (t.key(), seq_override.unwrap_or(t.snd_nxt), t.rcv_nxt, t.ttl, t.tos);
    ctx.inet.tcp.stat.sndacks += 1;
    let _ = send_seg(
        ctx,
        &Seg {
            key,
            seq,
            ack,
            flags: TH_ACK,
            win,
            opts: &opts,
            data: &[],
            ttl,
            tos,
        },
    );
}
