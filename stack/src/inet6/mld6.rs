//! MLDv2 (RFC 3810), the listener side: a report when a group is joined or left, sent
//! again [Robustness Variable] - 1 more times at random intervals of up to the
//! [Unsolicited Report Interval] (RFC 3810 6.1: 2 reports in all, within 1 s), and the
//! current state in answer to a query. Reports go to ff02::16 with hop limit 1 and a
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

/// Sends the state-change reports that are due again; returns when the next is due.
pub fn mld_timer(ctx: &mut Ctx) -> Option<Instant> {
    let now = Instant::now();
    if ctx.inet6.mld_pending.iter().all(|p| p.at > now) {
        return ctx.inet6.mld_pending.iter().map(|p| p.at).min();
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
    ctx.inet6.mld_pending.iter().map(|p| p.at).min()
}

/// A query: answers with the current state of the groups it asks about.
pub fn mld_query(ctx: &mut Ctx, ifp: &Arc<Ifnet>, h: &Ipv6Repr, m: &[u8]) {
    let Ok(asked) = mld::query_group(m) else {
        ctx.inet6.icmp6stat.badlen += 1;
        return;
    };
    if !a6::is_link_local(&h.src) || h.hop_limit != 1 {
        ctx.inet6.icmp6stat.badcode += 1;
        return;
    }
    let records: Vec<Record> = ctx
        .inet6
        .groups
        .iter()
        .filter(|g| g.0 == ifp.index && g.1 != ALL_NODES && (asked.is_unspecified() || asked == g.1))
        .take(60)
        .map(|g| Record {
            rtype: mld::MODE_IS_EXCLUDE,
            group: g.1,
        })
        .collect();
    send(ctx, ifp, &records);
}
