//! TCP's timers, run from the callout thread: retransmit (RFC 6298 5, with exponential
//! backoff and RFC 5681's loss response), persist (zero-window probes), keepalive and
//! connection-establishment, delayed ACK, and 2MSL / FIN_WAIT_2.

use std::time::Instant;

use crate::conf::Ctx;
use crate::inet::tcp::output::{send_ack, send_probe, tcp_output};
use crate::inet::tcp::{tcp_close, tcp_drop, State, TCPTV_PERSMAX, TCPTV_PERSMIN, TCP_MAXRXTSHIFT};

/// Runs every timer that is due: the connections whose wheel entry came up.
pub fn tcp_timers(ctx: &mut Ctx) {
    let now = Instant::now();
    tcp_sched_touched(ctx);
    let due = ctx.inet.tcp.wheel.expire(now);
    for (id, tick) in due {
        let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
            continue;
        };
        if t.sched_at != Some(tick) {
            // A stale entry: the connection was filed again for another tick since.
            continue;
        }
        t.sched_at = None;
        run_one(ctx, id, now);
        tcp_sched(ctx, id);
    }
}

/// The connection's earliest deadline, if it has one.
fn earliest(t: &super::Tcb) -> Option<Instant> {
    [t.t_rexmt, t.t_persist, t.t_keep, t.t_delack, t.t_2msl, t.t_tlp]
        .into_iter()
        .flatten()
        .min()
}

/// Files a connection in the callout wheel for its earliest deadline, unless an entry at
/// or before it is already there (that one, when it comes up, files the connection again
/// for what is then due). Wakes the callout thread when the deadline is earlier than its
/// planned wake-up.
pub fn tcp_sched(ctx: &mut Ctx, id: u64) {
    let tcp = &mut ctx.inet.tcp;
    let Some(t) = tcp.tcbs.get_mut(&id) else {
        return;
    };
    let Some(d) = earliest(t) else {
        return;
    };
    let tick = tcp.wheel.tick_of(d);
    if t.sched_at.is_some_and(|s| s <= tick) {
        return;
    }
    t.sched_at = Some(tick);
    tcp.wheel.insert(id, tick);
    if tick < tcp.wheel.planned {
        tcp.wheel.planned = tick;
        tcp.callout.kick();
    }
}

/// Files every connection that work under the stack context touched (`TcpState::touch`).
pub fn tcp_sched_touched(ctx: &mut Ctx) {
    while let Some(id) = ctx.inet.tcp.touched.pop() {
        tcp_sched(ctx, id);
    }
}

pub(crate) fn run_one(ctx: &mut Ctx, id: u64, now: Instant) {
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    if t.t_2msl.is_some_and(|d| d <= now) {
        // TIME_WAIT is over, or an orphan in FIN_WAIT_2 waited long enough.
        tcp_close(ctx, id);
        return;
    }
    if t.t_delack.is_some_and(|d| d <= now) {
        t.t_delack = None;
        t.ack_now = true;
        ctx.inet.tcp.stat.delack += 1;
        let _ = tcp_output(ctx, id);
    }
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    if t.t_tlp.is_some_and(|d| d <= now) {
        t.t_tlp = None;
        let tail = t.recover.is_none() && t.snd_una != t.snd_max && t.snd_nxt == t.snd_max;
        if tail && t.state.synchronized() && t.t_rexmt.is_none_or(|d| d > now) {
            ctx.inet.tcp.stat.tlpsent += 1;
            super::output::tlp_send(ctx, id);
        }
    }
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    if t.t_rexmt.is_some_and(|d| d <= now) {
        t.rxtshift += 1;
        if t.rxtshift > TCP_MAXRXTSHIFT {
            ctx.inet.tcp.stat.timeoutdrop += 1;
            // What an ICMP error said, if one came, rather than just "timed out".
            let e = t.t_softerror.unwrap_or(libc::ETIMEDOUT);
            tcp_drop(ctx, id, e, true);
            return;
        }
        ctx.inet.tcp.stat.rexmttimeo += 1;
        let mss = t.t_maxseg;
        if t.rxtshift == 1 && t.state.synchronized() {
            // RFC 5681 (4): loss by timeout: halve, then start over from one segment.
            t.ssthresh = t.cc.on_loss(t.cwnd, t.in_flight(), mss);
        }
        if t.state.synchronized() {
            t.cwnd = mss;
        }
        t.recover = None;
        t.dupacks = 0;
        t.rtseq = None;
        // After a timeout the SACK scoreboard is not trusted (RFC 6675 5.1).
        t.sacked.clear();
        t.end_recovery_log();
        t.t_tlp = None;
        t.tlp_probe = None;
        t.rexmit_next = t.snd_una;
        t.snd_nxt = t.snd_una;
        if matches!(t.state, State::SynSent | State::SynReceived) {
            t.snd_nxt = t.iss;
        }
        t.t_rexmt = Some(now + t.rto());
        let _ = tcp_output(ctx, id);
    }
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    if t.t_persist.is_some_and(|d| d <= now) {
        ctx.inet.tcp.stat.persisttimeo += 1;
        t.rxtshift = (t.rxtshift + 1).min(TCP_MAXRXTSHIFT);
        t.t_persist = Some(now + t.rto().clamp(TCPTV_PERSMIN, TCPTV_PERSMAX));
        send_probe(ctx, id);
    }
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    if t.t_keep.is_some_and(|d| d <= now) {
        ctx.inet.tcp.stat.keeptimeo += 1;
        if !t.state.synchronized() {
            // The connection was not established in time.
            ctx.inet.tcp.stat.conndrops += 1;
            let e = t.t_softerror.unwrap_or(libc::ETIMEDOUT);
            tcp_drop(ctx, id, e, false);
            return;
        }
        if t.keepalive && matches!(t.state, State::Established | State::CloseWait) {
            let idle = now.duration_since(t.idle_since);
            let (keepidle, keepintvl, keepcnt) = (ctx.inet.tcp.keepidle, ctx.inet.tcp.keepintvl, ctx.inet.tcp.keepcnt);
            if idle >= keepidle + keepintvl * keepcnt {
                ctx.inet.tcp.stat.keepdrops += 1;
                tcp_drop(ctx, id, libc::ETIMEDOUT, true);
                return;
            }
            // A keepalive probe: one below snd_una, so the peer must answer.
            let seq = t.snd_una.wrapping_sub(1);
            t.t_keep = Some(now + keepintvl);
            ctx.inet.tcp.stat.keepprobe += 1;
            send_ack(ctx, id, Some(seq));
        } else {
            t.t_keep = None;
        }
    }
}
