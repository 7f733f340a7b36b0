//! `tcp_input`: segment arrival (RFC 9293 3.10.7), with RFC 5961's defences against
//! blind resets, SYNs and data, RFC 7323's timestamps and PAWS, RFC 6298's RTT
//! estimation and NewReno's loss recovery (RFC 5681, RFC 6582).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conf::Ctx;
use crate::inet::inpcb::TransIn;
use crate::inet::tcp::output::{mss_for, send_ack, send_rst, tcp_cksum, tcp_now, tcp_output};
use crate::inet::tcp::seq::{geq, gt, leq, lt};
use crate::inet::tcp::{tcp_close, tcp_drop, wake, Key, State, Tcb};
use crate::net::ifnet::Ifnet;
use crate::wire::tcp::{TcpPacket, TCPOPT_MAXSEG, TCP_HDR_LEN, TH_ACK, TH_FIN, TH_RST, TH_SYN};
use crate::wire::{self};

/// The options of a segment that matter here.
use crate::wire::tcp::TcpOpts as Opts;

/// Parses TCP options; a malformed list ends the parse (what came before stands). A
/// window shift above 14 counts as 14 (RFC 7323 2.3).
pub fn parse_opts(o: &[u8]) -> Opts {
    let mut r = Opts::parse(o);
    r.wscale = r.wscale.map(|w| w.min(super::TCP_MAX_WINSHIFT));
    r
}

/// One arriving segment, parsed.
struct SegIn<'a> {
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    opts: Opts,
    data: &'a [u8],
}

impl SegIn<'_> {
    fn len(&self) -> u32 {
        self.data.len() as u32 + u32::from(self.flags & TH_SYN != 0) + u32::from(self.flags & TH_FIN != 0)
    }
}

/// Answers a segment that belongs to no connection with a RST (unless it is one).
fn reset_unknown(ctx: &mut Ctx, key: Key, s: &SegIn<'_>) {
    if s.flags & TH_RST != 0 {
        return;
    }
    if s.flags & TH_ACK != 0 {
        send_rst(ctx, key, s.ack, 0, false);
    } else {
        send_rst(ctx, key, 0, s.seq.wrapping_add(s.len()), true);
    }
}

/// Input of a local TCP datagram in an IPv4 packet (the whole packet); `csum_ok` when the
/// checksum needs no check (the driver vouched for it). The segment may be a large one
/// merged by the driver (large receive offload): it is taken like any other.
pub fn tcp_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pkt: &[u8], bcast: bool, csum_ok: bool) {
    tcp_input_af(ctx, ifp, &TransIn::v4(pkt), bcast, csum_ok)
}

/// Input of a local TCP segment of either family (ip_input and ip6_input call this).
pub fn tcp_input_af(ctx: &mut Ctx, _ifp: &Arc<Ifnet>, tin: &TransIn<'_>, bcast: bool, csum_ok: bool) {
    let (src, dst) = (tin.src, tin.dst);
    let tcp = tin.payload();
    let st = &mut ctx.inet.tcp.stat;
    st.rcvtotal += 1;
    let th = match TcpPacket::new_checked(tcp) {
        Ok(th) => th,
        Err(wire::Error::Truncated) if tcp.len() < TCP_HDR_LEN => {
            st.rcvshort += 1;
            return;
        }
        Err(_) => {
            st.rcvbadoff += 1;
            return;
        }
    };
    if !csum_ok && tcp_cksum(src, dst, tcp) != 0 {
        st.rcvbadsum += 1;
        return;
    }
    // TCP is never for a broadcast or multicast address, nor from an unspecified one or a
    // v4-mapped one (RFC 4291 2.5.5.2: those never appear on the wire).
    let mapped = matches!(src, IpAddr::V6(a) if a.to_ipv4_mapped().is_some());
    if bcast || dst.is_multicast() || src.is_unspecified() || src.is_multicast() || mapped {
        return;
    }
    let (sport, dport) = (th.src_port(), th.dst_port());
    let s = SegIn {
        seq: th.seq(),
        ack: th.ack(),
        flags: th.flags() & 0x3f,
        win: th.window(),
        opts: parse_opts(th.options()),
        data: th.payload(),
    };
    let key: Key = (dst, dport, src, sport);
    match ctx.inet.tcp.lookup(&key) {
        Some(id) => {
            ctx.inet.tcp.touch(id);
            segment(ctx, id, &s)
        }
        None => match ctx.inet.tcp.lookup_listener(dst, dport) {
            Some(lid) => listen_input(ctx, lid, key, &s),
            None => {
                reset_unknown(ctx, key, &s);
            }
        },
    }
}

/// A segment for a listening socket: a SYN makes a connection in SYN_RECEIVED.
fn listen_input(ctx: &mut Ctx, lid: u64, key: Key, s: &SegIn<'_>) {
    if s.flags & TH_RST != 0 {
        return;
    }
    if s.flags & TH_ACK != 0 {
        // The third segment of a handshake answered with a SYN cookie?
        if s.flags & (TH_SYN | TH_FIN) == 0 && cookie_accept(ctx, lid, key, s) {
            return;
        }
        if ctx.inet.tcp.cookie_is_deferred(&key) {
            return;
        }
        send_rst(ctx, key, s.ack, 0, false);
        return;
    }
    if s.flags & TH_SYN == 0 {
        return;
    }
    if s.flags & TH_FIN != 0 {
        ctx.inet.tcp.stat.badsyn += 1;
        return;
    }
    let Some(l) = ctx.inet.tcp.listeners.get(&lid) else {
        return;
    };
    // The SYN queue and the accept queue together stay within NetBSD's limit (see
    // Listener::has_room). When the SYN queue is what fills it (a SYN flood, say), answer
    // with a SYN cookie and keep no state; when the accept queue alone is full, there is
    // no room either way.
    if !l.has_room() {
        if l.queue.len() < l.qlimit() {
            send_cookie(ctx, key, s);
        } else {
            ctx.inet.tcp.stat.listendrop += 1;
        }
        return;
    }
    let opts = l.opts;
    let our_mss = mss_for(ctx, key.2);
    let tcp = &mut ctx.inet.tcp;
    let id = tcp.alloc_id();
    let iss = tcp.new_isn(&key);
    let (sendspace, recvspace) = opts.spaces(tcp);
    let peer_mss = s.opts.mss.map(u32::from).unwrap_or(tcp.mssdflt);
    let mut t = Tcb::new(
        id,
        key,
        State::SynReceived,
        iss,
        sendspace,
        recvspace,
        our_mss.min(peer_mss).max(64),
    );
    t.cc = super::cc::Cc::new(tcp.congctl);
    t.rexmit_min = tcp.rexmit_min;
    t.irs = s.seq;
    t.rcv_nxt = s.seq.wrapping_add(1);
    t.snd_wnd = u32::from(s.win);
    t.max_sndwnd = t.snd_wnd;
    t.snd_wl1 = s.seq;
    t.snd_wl2 = iss;
    match s.opts.wscale.filter(|_| tcp.do_win_scale()) {
        Some(w) => {
            t.snd_wscale = w;
            t.rcv_wscale = t.wanted_wscale();
        }
        None => t.req_wscale = false,
    }
    match s.opts.ts.filter(|_| tcp.do_timestamps()) {
        Some((val, _)) => {
            t.ts_on = true;
            t.ts_recent = val;
            t.ts_recent_age = Instant::now();
        }
        None => t.req_ts = false,
    }
    t.sack_on = s.opts.sack_ok && tcp.sack;
    t.req_sack = t.sack_on;
    t.rcv_adv = t.rcv_nxt;
    t.listener = Some(lid);
    opts.apply(&mut t, ctx.inet.ttl);
    t.t_keep = Some(Instant::now() + ctx.inet.tcp.keepinit);
    let tcp = &mut ctx.inet.tcp;
    tcp.by_key.insert(key, id);
    tcp.insert_tcb(id, t);
    if let Some(l) = tcp.listeners.get_mut(&lid) {
        l.incomplete += 1;
    }
    let _ = tcp_output(ctx, id);
}

/// Sends a challenge ACK (RFC 5961 3.2, 4.2, 5.2), within its rate limit.
fn challenge_ack(ctx: &mut Ctx, id: u64) {
    if ctx.inet.tcp.challenge.check() {
        ctx.inet.tcp.stat.challengeack += 1;
        send_ack(ctx, id, None);
    }
}

/// Applies the options of a SYN to a connection we opened.
fn syn_options(ctx: &Ctx, t: &mut Tcb, o: &Opts) {
    let our_mss = mss_for(ctx, t.faddr);
    t.t_maxseg = our_mss
        .min(o.mss.map(u32::from).unwrap_or(ctx.inet.tcp.mssdflt))
        .max(64);
    t.cwnd = 10 * t.t_maxseg;
    match o.wscale {
        Some(w) if t.req_wscale => t.snd_wscale = w,
        _ => {
            t.snd_wscale = 0;
            t.rcv_wscale = 0;
        }
    }
    match o.ts {
        Some((val, _)) if t.req_ts => {
            t.ts_on = true;
            t.ts_recent = val;
            t.ts_recent_age = Instant::now();
        }
        _ => t.ts_on = false,
    }
    t.sack_on = o.sack_ok && t.req_sack;
}

fn enter_time_wait(t: &mut Tcb, msl: Duration) {
    t.state = State::TimeWait;
    t.t_rexmt = None;
    t.t_persist = None;
    t.t_keep = None;
    t.t_delack = None;
    t.t_2msl = Some(Instant::now() + 2 * msl);
}

/// A segment for an existing connection.
fn segment(ctx: &mut Ctx, id: u64, s: &SegIn<'_>) {
    let Some(state) = ctx.inet.tcp.tcbs.get(&id).map(|t| t.state) else {
        return;
    };
    match state {
        State::SynSent => syn_sent(ctx, id, s),
        State::Closed | State::Listen => {}
        _ => synchronized(ctx, id, s),
    }
    wake(&mut ctx.inet.tcp, id);
}

fn syn_sent(ctx: &mut Ctx, id: u64, s: &SegIn<'_>) {
    let Some(t) = ctx.inet.tcp.tcbs.get(&id) else { return };
    let key = t.key();
    let ack_ok = s.flags & TH_ACK != 0 && gt(s.ack, t.iss) && leq(s.ack, t.snd_max);
    if s.flags & TH_ACK != 0 && !ack_ok {
        if s.flags & TH_RST == 0 {
            send_rst(ctx, key, s.ack, 0, false);
        }
        return;
    }
    if s.flags & TH_RST != 0 {
        if ack_ok {
            ctx.inet.tcp.stat.rcvrst += 1;
            tcp_drop(ctx, id, libc::ECONNREFUSED, false);
        }
        return;
    }
    if s.flags & TH_SYN == 0 {
        return;
    }
    let now = Instant::now();
    let mut t = match ctx.inet.tcp.tcbs.remove(&id) {
        Some(t) => t,
        None => return,
    };
    syn_options(ctx, &mut t, &s.opts);
    t.irs = s.seq;
    t.rcv_nxt = s.seq.wrapping_add(1);
    t.rcv_adv = t.rcv_nxt;
    if ack_ok {
        t.snd_una = s.ack;
        if lt(t.snd_nxt, t.snd_una) {
            t.snd_nxt = t.snd_una;
        }
        t.state = State::Established;
        // The window of a SYN is never scaled (RFC 7323 2.2).
        t.snd_wnd = u32::from(s.win);
        t.max_sndwnd = t.snd_wnd;
        t.snd_wl1 = s.seq;
        t.snd_wl2 = s.ack;
        t.t_rexmt = None;
        t.rxtshift = 0;
        t.t_softerror = None;
        if let Some((tseq, sent)) = t.rtseq.take() {
            if gt(s.ack, tseq) {
                t.rtt_update(now.duration_since(sent));
                ctx.inet.tcp.stat.rttupdated += 1;
            }
        }
        t.t_keep = t.keepalive.then(|| now + ctx.inet.tcp.keepidle);
        t.ack_now = true;
        ctx.inet.tcp.stat.connects += 1;
    } else {
        // Simultaneous open: answer with SYN,ACK from SYN_RECEIVED.
        t.state = State::SynReceived;
        t.snd_nxt = t.iss;
        t.snd_wnd = u32::from(s.win);
        t.snd_wl1 = s.seq;
    }
    ctx.inet.tcp.insert_tcb(id, t);
    let _ = tcp_output(ctx, id);
}

/// Processing for SYN_RECEIVED and the synchronized states.
fn synchronized(ctx: &mut Ctx, id: u64, s: &SegIn<'_>) {
    let msl = ctx.inet.tcp.msl;
    let now = Instant::now();
    let now_ms = tcp_now(ctx);
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    let key = t.key();
    t.idle_since = now;
    // PAWS (RFC 7323 5.3): an old timestamp means an old duplicate.
    if t.ts_on && s.flags & TH_RST == 0 {
        if let Some((val, _)) = s.opts.ts {
            let stale = now.duration_since(t.ts_recent_age) > Duration::from_secs(24 * 24 * 3600);
            if lt(val, t.ts_recent) && !stale {
                ctx.inet.tcp.stat.pawsdrop += 1;
                send_ack(ctx, id, None);
                return;
            }
        }
    }
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    // A retransmitted SYN in SYN_RECEIVED: our SYN,ACK was lost; send it again.
    if t.state == State::SynReceived && s.flags & TH_SYN != 0 && s.seq == t.irs && s.flags & TH_ACK == 0 {
        t.snd_nxt = t.iss;
        let _ = tcp_output(ctx, id);
        return;
    }
    // Sequence acceptability (RFC 9293 3.10.7.4).
    let rcv_wnd = (t.rcv_space() as u32).max(t.rcv_adv.wrapping_sub(t.rcv_nxt));
    let seg_len = s.len();
    let in_window = |x: u32| geq(x, t.rcv_nxt) && lt(x, t.rcv_nxt.wrapping_add(rcv_wnd));
    let acceptable = match (seg_len, rcv_wnd) {
        (0, 0) => s.seq == t.rcv_nxt,
        (0, _) => in_window(s.seq),
        (_, 0) => false,
        (_, _) => in_window(s.seq) || in_window(s.seq.wrapping_add(seg_len - 1)),
    };
    if !acceptable {
        if s.flags & TH_RST != 0 {
            return;
        }
        let st = &mut ctx.inet.tcp.stat;
        if lt(s.seq, t.rcv_nxt) {
            st.rcvduppack += 1;
            st.rcvdupbyte += u64::from(seg_len);
        } else {
            st.rcvpackafterwin += 1;
        }
        // TIME_WAIT: a retransmitted FIN restarts the 2MSL wait.
        if t.state == State::TimeWait && s.flags & TH_FIN != 0 {
            t.t_2msl = Some(now + 2 * msl);
        }
        send_ack(ctx, id, None);
        return;
    }
    // RST (RFC 5961 3.2): only the exact next sequence number resets; others challenge.
    if s.flags & TH_RST != 0 {
        if s.seq != t.rcv_nxt {
            challenge_ack(ctx, id);
            return;
        }
        ctx.inet.tcp.stat.rcvrst += 1;
        let state = t.state;
        match state {
            State::SynReceived if t.listener.is_some() => tcp_close(ctx, id),
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                let err = if state == State::SynReceived {
                    libc::ECONNREFUSED
                } else {
                    libc::ECONNRESET
                };
                ctx.inet.tcp.stat.conndrops += 1;
                tcp_drop(ctx, id, err, false);
            }
            _ => tcp_close(ctx, id),
        }
        return;
    }
    // A SYN on a synchronized connection (RFC 5961 4.2): challenge it.
    if s.flags & TH_SYN != 0 {
        if t.state == State::SynReceived && t.listener.is_some() {
            ctx.inet.tcp.stat.badsyn += 1;
            return;
        }
        challenge_ack(ctx, id);
        return;
    }
    if s.flags & TH_ACK == 0 {
        return;
    }
    // Timestamps: remember the peer's (RFC 7323 4.3), and take an RTT sample from the echo.
    if let (true, Some((val, ecr))) = (t.ts_on, s.opts.ts) {
        if leq(s.seq, t.rcv_nxt) && geq(val, t.ts_recent) {
            t.ts_recent = val;
            t.ts_recent_age = now;
        }
        if ecr != 0 && gt(s.ack, t.snd_una) {
            let rtt = now_ms.wrapping_sub(ecr);
            if rtt < 600_000 {
                t.rtt_update(Duration::from_millis(u64::from(rtt.max(1))));
                ctx.inet.tcp.stat.rttupdated += 1;
            }
        }
    }
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    // ACK (RFC 5961 5.2): too new is answered and dropped; too old is challenged.
    if gt(s.ack, t.snd_max) {
        ctx.inet.tcp.stat.rcvacktoomuch += 1;
        if t.state == State::SynReceived {
            send_rst(ctx, key, s.ack, 0, false);
        } else {
            send_ack(ctx, id, None);
        }
        return;
    }
    if lt(s.ack, t.snd_una.wrapping_sub(t.max_sndwnd.max(1))) {
        challenge_ack(ctx, id);
        return;
    }
    if t.state == State::SynReceived {
        if leq(s.ack, t.snd_una) {
            send_rst(ctx, key, s.ack, 0, false);
            return;
        }
        t.state = State::Established;
        t.snd_wnd = u32::from(s.win) << t.snd_wscale;
        t.max_sndwnd = t.snd_wnd;
        t.snd_wl1 = s.seq;
        t.snd_wl2 = s.ack;
        t.t_keep = t.keepalive.then(|| now + ctx.inet.tcp.keepidle);
        let lid = t.listener;
        let st = &mut ctx.inet.tcp;
        st.stat.accepts += 1;
        if let Some(l) = lid.and_then(|l| st.listeners.get_mut(&l)) {
            l.incomplete = l.incomplete.saturating_sub(1);
            l.queue.push_back(id);
            let lid = l.id;
            wake(st, lid);
        }
    }
    ack_processing(ctx, id, s, now);
    if !ctx.inet.tcp.tcbs.contains_key(&id) {
        return;
    }
    data_processing(ctx, id, s, now);
    let _ = tcp_output(ctx, id);
}

fn ack_processing(ctx: &mut Ctx, id: u64, s: &SegIn<'_>, now: Instant) {
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    let mss = t.t_maxseg;
    if t.sack_on && s.opts.nsacks > 0 {
        t.sack_update(&s.opts.sacks[..s.opts.nsacks]);
    }
    let st = &mut ctx.inet.tcp.stat;
    if gt(s.ack, t.snd_una) {
        let acked = s.ack.wrapping_sub(t.snd_una);
        st.rcvackpack += 1;
        st.rcvackbyte += u64::from(acked);
        if let Some((tseq, sent)) = t.rtseq {
            if gt(s.ack, tseq) {
                t.rtseq = None;
                if !t.ts_on {
                    t.rtt_update(now.duration_since(sent));
                    st.rttupdated += 1;
                }
            }
        }
        let data_acked = (acked as usize).min(t.snd_buf.len());
        super::autosize_snd(t);
        t.snd_buf.drain(..data_acked);
        t.snd_una = s.ack;
        if lt(t.snd_nxt, t.snd_una) {
            t.snd_nxt = t.snd_una;
        }
        if t.sack_on {
            t.sack_trim();
            if lt(t.rexmit_next, t.snd_una) {
                t.rexmit_next = t.snd_una;
            }
        }
        // Congestion control: NewReno.
        match t.recover {
            Some(rec) if lt(s.ack, rec) && t.sack_on => {
                // SACK recovery goes on: the next holes, as the pipe allows.
                t.sack_trim();
                t.detect_lost_rexmits();
                super::output::sack_rexmit(ctx, id);
            }
            Some(rec) if lt(s.ack, rec) => {
                // Partial ACK (RFC 6582 3.2 step 5): resend the next hole, deflate.
                t.cwnd = t.cwnd.saturating_sub(acked).saturating_add(mss);
                let save = t.snd_nxt;
                t.snd_nxt = t.snd_una;
                let cw = t.cwnd;
                t.cwnd = mss;
                let _ = tcp_output(ctx, id);
                if let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) {
                    t.cwnd = cw;
                    if gt(save, t.snd_nxt) {
                        t.snd_nxt = save;
                    }
                }
            }
            Some(_) => {
                // Full ACK: recovery ends.
                t.cwnd = t.ssthresh.min(t.in_flight().max(mss) + mss);
                t.recover = None;
                t.end_recovery_log();
            }
            None => {
                let srtt = Duration::from_micros(t.srtt_us);
                t.cwnd = t.cc.on_ack(t.cwnd, t.ssthresh, acked, mss, srtt, now);
            }
        }
        let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
            return;
        };
        t.dupacks = 0;
        t.rxtshift = 0;
        t.t_softerror = None;
        t.t_rexmt = if t.snd_una == t.snd_max {
            None
        } else {
            Some(now + t.rto())
        };
        if t.tlp_probe.is_some_and(|(_, b)| leq(b, t.snd_una)) {
            t.tlp_probe = None;
        }
        t.arm_tlp(now);
    } else if s.ack == t.snd_una
        && s.data.is_empty()
        && s.flags & TH_FIN == 0
        && t.snd_una != t.snd_max
        && (u32::from(s.win) << t.snd_wscale) == t.snd_wnd
    {
        st.rcvdupack += 1;
        t.dupacks += 1;
        if t.dupacks == 3 && t.recover.is_none() {
            // Fast retransmit (RFC 5681 3.2), then fast recovery.
            st.fastrexmt += 1;
            t.ssthresh = t.cc.on_loss(t.cwnd, t.in_flight(), mss);
            t.recover = Some(t.snd_max);
            t.rtseq = None;
            if t.sack_on {
                // SACK recovery (RFC 6675): retransmit the holes as the pipe allows.
                t.cwnd = t.ssthresh;
                t.rexmit_next = t.snd_una;
                super::output::sack_rexmit(ctx, id);
                return finish_ack(ctx, id, s);
            }
            let save = t.snd_nxt;
            t.snd_nxt = t.snd_una;
            t.cwnd = mss;
            let _ = tcp_output(ctx, id);
            if let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) {
                t.cwnd = t.ssthresh + 3 * mss;
                if gt(save, t.snd_nxt) {
                    t.snd_nxt = save;
                }
            }
        } else if t.dupacks > 3 && t.recover.is_some() {
            if t.sack_on {
                t.detect_lost_rexmits();
                super::output::sack_rexmit(ctx, id);
            } else {
                t.cwnd = t.cwnd.saturating_add(mss);
            }
        }
    }
    // With SACK, enough data SACKed above a hole means loss without waiting for three
    // duplicate ACKs (RFC 6675 IsLost).
    if let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) {
        // A tail loss probe that arrived while something before it did not is a loss too
        // (RFC 8985 7.4).
        let probe_shows_loss = t.tlp_probe.is_some_and(|(a, b)| lt(t.snd_una, a) && t.covered(a, b));
        if t.sack_on
            && t.recover.is_none()
            && (t.sacked_bytes() >= 3 * mss || probe_shows_loss)
            && t.snd_una != t.snd_max
        {
            ctx.inet.tcp.stat.fastrexmt += 1;
            t.t_tlp = None;
            t.tlp_probe = None;
            t.ssthresh = t.cc.on_loss(t.cwnd, t.in_flight(), mss);
            t.cwnd = t.ssthresh;
            t.recover = Some(t.snd_max);
            t.rtseq = None;
            t.rexmit_next = t.snd_una;
            super::output::sack_rexmit(ctx, id);
        } else if t.sack_on && t.recover.is_some() && s.opts.nsacks > 0 {
            // New SACK information in recovery, whatever the window did: retransmissions
            // it shows lost, then what the pipe allows.
            t.detect_lost_rexmits();
            super::output::sack_rexmit(ctx, id);
        }
    }
    finish_ack(ctx, id, s)
}

/// The rest of ACK processing: window update and the states our FIN moves us through.
fn finish_ack(ctx: &mut Ctx, id: u64, s: &SegIn<'_>) {
    let msl = ctx.inet.tcp.msl;
    let now = Instant::now();
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    // Window update (RFC 9293 3.10.7.4, fifth check).
    if lt(t.snd_wl1, s.seq) || (t.snd_wl1 == s.seq && leq(t.snd_wl2, s.ack)) {
        let w = u32::from(s.win) << t.snd_wscale;
        if w > t.snd_wnd {
            ctx.inet.tcp.stat.rcvwinupd += 1;
        }
        t.snd_wnd = w;
        t.max_sndwnd = t.max_sndwnd.max(w);
        t.snd_wl1 = s.seq;
        t.snd_wl2 = s.ack;
        if w > 0 {
            t.t_persist = None;
        }
    }
    // Our FIN acknowledged?
    let fin_acked = t.fin_acked();
    match t.state {
        State::FinWait1 if fin_acked => {
            t.state = State::FinWait2;
            // An orphan waits for the peer's FIN no longer than tcp_maxidle.
            if t.orphan {
                t.t_2msl = Some(now + super::TCPTV_KEEPINTVL * super::TCP_KEEPCNT);
            }
        }
        State::Closing if fin_acked => enter_time_wait(t, msl),
        State::LastAck if fin_acked => tcp_close(ctx, id),
        _ => {}
    }
}

fn data_processing(ctx: &mut Ctx, id: u64, s: &SegIn<'_>, now: Instant) {
    let msl = ctx.inet.tcp.msl;
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    if !matches!(t.state, State::Established | State::FinWait1 | State::FinWait2) {
        // CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT take no more data; TIME_WAIT re-ACKs a FIN.
        if t.state == State::TimeWait && s.flags & TH_FIN != 0 {
            t.t_2msl = Some(now + 2 * msl);
            t.ack_now = true;
        }
        return;
    }
    if t.keepalive {
        t.t_keep = Some(now + ctx.inet.tcp.keepidle);
    }
    let st = &mut ctx.inet.tcp.stat;
    // Trim what we already have from the front, and what exceeds the window from the back.
    let mut seq = s.seq;
    let mut data = s.data;
    let mut fin = s.flags & TH_FIN != 0;
    if lt(seq, t.rcv_nxt) {
        let dup = t.rcv_nxt.wrapping_sub(seq) as usize;
        if dup >= data.len() {
            if !data.is_empty() {
                st.rcvduppack += 1;
                st.rcvdupbyte += data.len() as u64;
                t.ack_now = true;
            }
            data = &[];
            if fin && dup > s.data.len() {
                fin = false;
            }
        } else {
            st.rcvpartduppack += 1;
            data = &data[dup..];
        }
        seq = t.rcv_nxt;
    }
    // Beyond the window: keep only what fits.
    let max_len = t.rcv_space().saturating_sub(seq.wrapping_sub(t.rcv_nxt) as usize);
    if data.len() > max_len {
        data = &data[..max_len];
        fin = false;
    }
    if t.orphan && !data.is_empty() {
        // Nobody will read it: RFC 9293 says reset (as BSD does).
        let key = t.key();
        let (snd, ack) = (t.snd_nxt, t.rcv_nxt);
        send_rst(ctx, key, snd, ack, false);
        tcp_close(ctx, id);
        return;
    }
    if seq == t.rcv_nxt {
        if !data.is_empty() {
            st.rcvpack += 1;
            st.rcvbyte += data.len() as u64;
            t.rcv_buf.extend(data);
            t.rcv_nxt = t.rcv_nxt.wrapping_add(data.len() as u32);
            super::autosize_rcv(t, data.len(), now);
            // Segments that were waiting for this one.
            while let Some(run) = t.ooo.pull(t.rcv_nxt) {
                t.rcv_buf.extend(&run);
                t.rcv_nxt = t.rcv_nxt.wrapping_add(run.len() as u32);
            }
            // Delayed ACK: every second full segment at once, others within TCPTV_DELACK.
            // A merged segment counts for the full segments it holds.
            t.unacked_segs += (data.len() / t.t_maxseg.max(1) as usize).max(1) as u32;
            if t.unacked_segs >= 2 || !t.ooo.is_empty() {
                t.ack_now = true;
            } else if t.t_delack.is_none() {
                t.t_delack = Some(now + super::TCPTV_DELACK);
            }
        }
        if fin {
            t.rcv_nxt = t.rcv_nxt.wrapping_add(1);
            t.fin_rcvd = true;
            t.ack_now = true;
            match t.state {
                State::Established => t.state = State::CloseWait,
                State::FinWait1 => {
                    if t.fin_acked() {
                        enter_time_wait(t, msl);
                    } else {
                        t.state = State::Closing;
                    }
                }
                State::FinWait2 => enter_time_wait(t, msl),
                _ => {}
            }
        }
    } else if !data.is_empty() {
        // Out of order: keep it (within the window) and say what we still need.
        st.rcvoopack += 1;
        st.rcvoobyte += data.len() as u64;
        t.last_ooo = Some(seq);
        // Bounded by the receive space (which counts what the queue holds) and by runs.
        let max_runs = ctx.inet.tcp.reass_maxqueuelen;
        let kept = t.rcv_space() >= data.len() && t.ooo.insert(t.rcv_nxt, seq, data, max_runs).is_ok();
        if !kept {
            st.rcvmemdrop += 1;
        }
        t.ack_now = true;
    }
}

/// MSS values a SYN cookie can carry (3 bits).
const COOKIE_MSS: [u16; 8] = [216, 536, 1024, 1220, 1380, 1440, 1460, 8960];

/// The cookie's time counter: 64-second ticks, 5 bits.
fn cookie_tick(ctx: &Ctx) -> u32 {
    ((ctx.inet.tcp.isn_epoch.elapsed().as_secs() / 64) & 31) as u32
}

/// The 24-bit keyed hash of a cookie.
fn cookie_hash(ctx: &Ctx, key: &Key, irs: u32, tick: u32) -> u32 {
    ctx.inet.tcp.cookie_hash(key, irs, tick) & 0x00ff_ffff
}

/// Answers a SYN with a SYN,ACK whose sequence number encodes what we need to accept the
/// connection later (a SYN cookie, RFC 4987 3.6): time, MSS, and a keyed hash.
fn send_cookie(ctx: &mut Ctx, key: Key, s: &SegIn<'_>) {
    let peer_mss = s.opts.mss.unwrap_or(536).min(mss_for(ctx, key.2) as u16);
    let m = COOKIE_MSS.iter().rposition(|v| *v <= peer_mss).unwrap_or(0) as u32;
    let tick = cookie_tick(ctx);
    let cookie = (tick << 27) | (m << 24) | cookie_hash(ctx, &key, s.seq, tick);
    let mss = COOKIE_MSS[m as usize];
    let mut opts = vec![TCPOPT_MAXSEG, 4];
    opts.extend_from_slice(&mss.to_be_bytes());
    let win = ctx.inet.tcp.recvspace.min(65535) as u16;
    let ttl = ctx.inet.ttl;
    ctx.inet.tcp.stat.syncookiessent += 1;
    let _ = super::output::send_seg(
        ctx,
        &super::output::Seg {
            key,
            seq: cookie,
            ack: s.seq.wrapping_add(1),
            flags: TH_SYN | TH_ACK,
            win,
            opts: &opts,
            data: &[],
            ttl,
            tos: 0,
        },
    );
}

/// Checks the ACK of a handshake we answered with a cookie and, when it is good, makes
/// the connection, ESTABLISHED, on the listener's accept queue. Window scaling and
/// timestamps are not used on such a connection (the cookie cannot carry them).
fn cookie_accept(ctx: &mut Ctx, lid: u64, key: Key, s: &SegIn<'_>) -> bool {
    let cookie = s.ack.wrapping_sub(1);
    let irs = s.seq.wrapping_sub(1);
    let tick = cookie >> 27;
    let now = cookie_tick(ctx);
    if tick != now && tick != (now + 31) & 31 {
        return false;
    }
    if cookie & 0x00ff_ffff != cookie_hash(ctx, &key, irs, tick) {
        ctx.inet.tcp.stat.syncookiesfailed += 1;
        return false;
    }
    let Some(l) = ctx.inet.tcp.listeners.get(&lid) else {
        return false;
    };
    // A cookie was sent because the queues were full with the accept queue below the
    // limit; the connection it makes goes straight to the accept queue, so that is what
    // must have room now. (Refused, the peer's later segments no longer match the cookie
    // and are reset: a refusal here loses the connection.)
    if l.queue.len() >= l.qlimit() {
        ctx.inet.tcp.stat.listendrop += 1;
        ctx.inet.tcp.defer_cookie(key);
        return true;
    }
    let opts = l.opts;
    let mss = u32::from(COOKIE_MSS[((cookie >> 24) & 7) as usize]);
    let tcp = &mut ctx.inet.tcp;
    let id = tcp.alloc_id();
    let (sendspace, recvspace) = opts.spaces(tcp);
    let recvspace = recvspace.min(65535);
    let mut t = Tcb::new(id, key, State::Established, cookie, sendspace, recvspace, mss);
    t.cc = super::cc::Cc::new(tcp.congctl);
    t.rexmit_min = tcp.rexmit_min;
    t.snd_una = cookie.wrapping_add(1);
    t.snd_nxt = t.snd_una;
    t.snd_max = t.snd_una;
    t.irs = irs;
    t.rcv_nxt = s.seq;
    t.rcv_adv = s.seq.wrapping_add(recvspace as u32);
    t.snd_wnd = u32::from(s.win);
    t.max_sndwnd = t.snd_wnd;
    t.snd_wl1 = s.seq;
    t.snd_wl2 = s.ack;
    t.req_wscale = false;
    t.req_ts = false;
    opts.apply(&mut t, ctx.inet.ttl);
    tcp.stat.syncookiesrecvd += 1;
    tcp.stat.accepts += 1;
    tcp.cookie_deferred.remove(&key);
    tcp.by_key.insert(key, id);
    tcp.insert_tcb(id, t);
    if let Some(l) = tcp.listeners.get_mut(&lid) {
        l.queue.push_back(id);
        wake(tcp, lid);
    }
    // Any data that came with the ACK.
    if !s.data.is_empty() || s.flags & TH_FIN != 0 {
        segment(ctx, id, s);
    }
    true
}
