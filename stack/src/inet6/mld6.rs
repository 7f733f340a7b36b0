//! MLDv2 (RFC 3810), the listener side: a report when a group is joined or left, sent
//! again [Robustness Variable] - 1 more times at random intervals of up to the
//! [Unsolicited Report Interval] (RFC 3810 6.1: 2 reports in all, within 1 s), and the
//! current state in answer to a query, after a random delay of up to its Maximum
//! Response Delay (6.2). Reports go to ff02::16 with hop limit 1 and a
//! router alert (RFC 3810 5), from the link-local address (or the unspecified address
//! while it is tentative, 5.2.13). Groups of link-local scope other than the
//! solicited-node ones are reported too; ff02::1 never is (RFC 3810 6).

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conf::Ctx;
use crate::inet6::ip6::{ip6_output, Out6};
use crate::inet6::nd6::ALL_NODES;
use crate::msg::IFT_LOOP;
use crate::net::ifnet::Ifnet;
use crate::wire::icmpv6 as ic;
use crate::wire::ip6ext::{NH_ICMPV6, OPT_PADN, OPT_ROUTER_ALERT};
use crate::wire::ipv6::{addr as a6, Ipv6Repr};
use crate::wire::mld::{self, Record};

/// The hop-by-hop header with a router alert for MLD (RFC 2711: value 0).
const HBH_RA: [u8; 8] = [0, 0, OPT_ROUTER_ALERT, 2, 0, 0, OPT_PADN, 0];

fn send(ctx: &mut Ctx, ifp: &Arc<Ifnet>, records: &[Record]) {
    if records.is_empty() || ifp.if_type == IFT_LOOP || !ifp.is_up() {
        return;
    }
    let src = ctx
        .inet6
        .addrs
        .iter()
        .find(|x| x.ifindex == ifp.index && a6::is_link_local(&x.addr) && x.usable())
        .map(|x| x.addr)
        .unwrap_or(Ipv6Addr::UNSPECIFIED);
    let m = mld::report(records, &src);
    ctx.inet6.icmp6stat.outhist[usize::from(ic::MLDV2_LISTENER_REPORT)] += 1;
    let _ = ip6_output(
        ctx,
        &Out6 {
            src: Some(src),
            dst: mld::ALL_MLDV2_ROUTERS,
            ifindex: Some(ifp.index),
            nh: NH_ICMPV6,
            hlim: Some(1),
            hbh: Some(&HBH_RA),
            payload: &m,
            min_mtu: true,
        },
    );
}

/// [Robustness Variable] (RFC 3810 9.1): how many times a state change is reported.
pub const ROBUSTNESS: u32 = 2;
/// [Unsolicited Report Interval] (RFC 3810 9.11): the most a retransmission waits.
pub const UNSOLICITED_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// State-change reports waiting to be sent again, at most (one per group and
/// interface; the oldest goes first).
pub const MAX_PENDING: usize = 256;

/// A state-change report still to be sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub ifindex: u16,
    pub group: Ipv6Addr,
    pub join: bool,
    /// Retransmissions left.
    pub left: u32,
    pub at: Instant,
}

/// A random delay in [0, UNSOLICITED_REPORT_INTERVAL] (RFC 3810 6.1).
fn jitter() -> Duration {
    let ms = UNSOLICITED_REPORT_INTERVAL.as_millis() as u64;
    Duration::from_millis(crate::sys::random::os_u64() % (ms + 1))
}

fn record(group: Ipv6Addr, join: bool) -> Record {
    let rtype = if join {
        mld::CHANGE_TO_EXCLUDE
    } else {
        mld::CHANGE_TO_INCLUDE
    };
    Record { rtype, group }
}

/// Reports a join (`true`) or leave of one group, now and again ROBUSTNESS - 1 times
/// (a newer change of the same group replaces what was still to be sent for it).
pub fn mld_report(ctx: &mut Ctx, ifp: &Arc<Ifnet>, group: Ipv6Addr, join: bool) {
    if group == ALL_NODES || a6::scope(&group) <= 1 {
        return;
    }
    send(ctx, ifp, &[record(group, join)]);
    let pending = &mut ctx.inet6.mld_pending;
    pending.retain(|p| !(p.ifindex == ifp.index && p.group == group));
    if ROBUSTNESS <= 1 || ifp.if_type == IFT_LOOP {
        return;
    }
    if pending.len() >= MAX_PENDING {
        if let Some(i) = pending.iter().enumerate().min_by_key(|(_, p)| p.at).map(|(i, _)| i) {
            pending.swap_remove(i);
        }
    }
    let at = Instant::now() + jitter();
    pending.push(Pending {
        ifindex: ifp.index,
        group,
        join,
        left: ROBUSTNESS - 1,
        at,
    });
    // The callout thread may be asleep for longer than the delay.
    ctx.inet6.callout.kick();
}

/// The earliest of the reports and answers still to send.
fn next_due(ctx: &Ctx) -> Option<Instant> {
    let p = ctx.inet6.mld_pending.iter().map(|p| p.at);
    p.chain(ctx.inet6.mld_answers.iter().map(|a| a.at)).min()
}

/// Sends the answers to queries and the state-change reports that are due; returns when
/// the next is due.
pub fn mld_timer(ctx: &mut Ctx) -> Option<Instant> {
    let now = Instant::now();
    if ctx.inet6.mld_answers.iter().any(|a| a.at <= now) {
        let (due, wait) = std::mem::take(&mut ctx.inet6.mld_answers)
            .into_iter()
            .partition(|a| a.at <= now);
        ctx.inet6.mld_answers = wait;
        for a in due {
            answer(ctx, &a);
        }
    }
    if ctx.inet6.mld_pending.iter().all(|p| p.at > now) {
        return next_due(ctx);
    }
    let mut due = Vec::new();
    ctx.inet6.mld_pending.retain_mut(|p| {
        if p.at > now {
            return true;
        }
        due.push((p.ifindex, p.group, p.join));
        p.left -= 1;
        p.at = now + jitter();
        p.left > 0
    });
    for (ifindex, group, join) in due {
        // Still what the interface wants: a group left and joined again (or gone) has a
        // newer entry, or none.
        let Some(ifp) = ctx.ifnet_by_index(ifindex).cloned() else {
            continue;
        };
        if super::in6_member(ctx, ifindex, &group) == join {
            send(ctx, &ifp, &[record(group, join)]);
        }
    }
    next_due(ctx)
}

/// An answer to queries on one interface, due at a random time within the query's
/// Maximum Response Delay (RFC 3810 6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub ifindex: u16,
    pub at: Instant,
    /// None: every group (a general query); else the groups asked about.
    pub groups: Option<Vec<Ipv6Addr>>,
}

/// A query: the current state of the groups it asks about is reported after a random
/// delay of up to its Maximum Response Delay (RFC 3810 6.2): a general query's answer
/// already due sooner stands, and takes in a group-specific one; otherwise the sooner
/// time wins and a general answer replaces group-specific ones.
pub fn mld_query(ctx: &mut Ctx, ifp: &Arc<Ifnet>, h: &Ipv6Repr, m: &[u8]) {
    let (Ok(asked), Ok(max)) = (mld::query_group(m), mld::query_max_delay(m)) else {
        ctx.inet6.icmp6stat.badlen += 1;
        return;
    };
    if !a6::is_link_local(&h.src) || h.hop_limit != 1 {
        ctx.inet6.icmp6stat.badcode += 1;
        return;
    }
    let general = asked.is_unspecified();
    if !general && (asked == ALL_NODES || !super::in6_member(ctx, ifp.index, &asked)) {
        return;
    }
    let max_ms = max.as_millis() as u64;
    let at = Instant::now() + Duration::from_millis(crate::sys::random::os_u64() % (max_ms + 1));
    let answers = &mut ctx.inet6.mld_answers;
    match answers.iter_mut().find(|a| a.ifindex == ifp.index) {
        Some(a) if a.groups.is_none() && a.at <= at => {}
        Some(a) if general => {
            a.at = a.at.min(at);
            a.groups = None;
        }
        Some(a) => {
            a.at = a.at.min(at);
            if let Some(g) = a.groups.as_mut() {
                if !g.contains(&asked) {
                    g.push(asked);
                }
            }
        }
        None => answers.push(Answer {
            ifindex: ifp.index,
            at,
            groups: (!general).then(|| vec![asked]),
        }),
    }
    ctx.inet6.callout.kick();
}

/// Sends an answer that came due: the current state of the groups asked about.
fn answer(ctx: &mut Ctx, a: &Answer) {
    let Some(ifp) = ctx.ifnet_by_index(a.ifindex).cloned() else {
        return;
    };
    let records: Vec<Record> = ctx
        .inet6
        .groups
        .iter()
        .filter(|g| g.0 == a.ifindex && g.1 != ALL_NODES && a.groups.as_ref().is_none_or(|asked| asked.contains(&g.1)))
        .take(60)
        .map(|g| Record {
            rtype: mld::MODE_IS_EXCLUDE,
            group: g.1,
        })
        .collect();
    send(ctx, &ifp, &records);
}
