//! MLDv2 (RFC 3810), the listener side: a report when a group is joined or left, and the
//! current state in answer to a query. Reports go to ff02::16 with hop limit 1 and a
//! router alert (RFC 3810 5), from the link-local address (or the unspecified address
//! while it is tentative, 5.2.13). Groups of link-local scope other than the
//! solicited-node ones are reported too; ff02::1 never is (RFC 3810 6).

use std::net::Ipv6Addr;
use std::sync::Arc;

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

/// Reports a join (`true`) or leave of one group.
pub fn mld_report(ctx: &mut Ctx, ifp: &Arc<Ifnet>, group: Ipv6Addr, join: bool) {
    if group == ALL_NODES || a6::scope(&group) <= 1 {
        return;
    }
    let rtype = if join {
        mld::CHANGE_TO_EXCLUDE
    } else {
        mld::CHANGE_TO_INCLUDE
    };
    send(ctx, ifp, &[Record { rtype, group }]);
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
