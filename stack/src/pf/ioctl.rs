//! PF's control requests (NetBSD's `/dev/pf` ioctls, `pfioctl`), served on the channel's
//! control role: every `PfReq` of `msg/pf.rs`. Without the module loaded each answers
//! ENOENT (pfctl: `/dev/pf: No such file or directory`).
//!
//! A load is atomic: the new rules are compiled off to the side, from a copy of what is
//! loaded, and put in place in one assignment under the stack context; any error leaves
//! the old ones in force. No packet sees a half-loaded ruleset, and none is dropped for
//! the swap (packets wait for the stack context as for any request).

use std::net::IpAddr;

use super::pkt::Af;
use super::rules::{af_of, Rs, Rules};
use super::state::TM_NAMES;
use super::table::Table;
use super::{Pf, REASON_COUNT};
use crate::conf::Ctx;
use crate::msg::pf::{
    self as m, Feedback, FlushKind, HostPort, KillReq, LoadReq, PeerTrack, PfInfo, PfReply, PfReq, StateEntry,
    TableInfo, TableOp, TableReq, TableResult,
};
use crate::net::if_control::Fail;
use crate::net::pfil::Dir;

/// Whether a request changes PF (and so needs uid 0, as /dev/pf's write ioctls).
pub fn changes_state(q: &PfReq) -> bool {
    match q {
        PfReq::Open
        | PfReq::GetRules { .. }
        | PfReq::GetRulesPage { .. }
        | PfReq::GetStatesPage { .. }
        | PfReq::GetAnchors { .. }
        | PfReq::GetStates { .. }
        | PfReq::GetSources
        | PfReq::GetInfo
        | PfReq::GetOptions
        | PfReq::GetQueues
        | PfReq::GetTables { .. }
        | PfReq::GetInterfaces { .. } => false,
        PfReq::Table(t) => !matches!(t.op, TableOp::Show { .. } | TableOp::Test(_)),
        _ => true,
    }
}

/// Serves one request under the stack context.
pub fn pf_ioctl(ctx: &mut Ctx, q: &PfReq) -> Result<PfReply, Fail> {
    if !ctx.pf.attached {
        return Err(Fail::new(libc::ENOENT));
    }
    let done = |r: Result<(), i32>| r.map(|()| PfReply::Done).map_err(Fail::new);
    match q {
        PfReq::Open => Ok(PfReply::Done),
        PfReq::Enable => done(ctx.pf.set_enabled(true)),
        PfReq::Disable => done(ctx.pf.set_enabled(false)),
        PfReq::Load(l) => load(ctx, l).map(|()| PfReply::Done),
        // A load in pieces: gathered beside the rules, then loaded as one `Load`.
        PfReq::LoadBegin { anchor, parts } => {
            ctx.pf.xact_ticket = ctx.pf.xact_ticket.wrapping_add(1);
            let l = LoadReq {
                anchor: anchor.clone(),
                parts: *parts,
                ruleset: m::Ruleset::default(),
                nested: Vec::new(),
            };
            ctx.pf.xact = Some((ctx.pf.xact_ticket, l));
            Ok(PfReply::Ticket(ctx.pf.xact_ticket))
        }
        PfReq::LoadAdd {
            ticket,
            ruleset,
            nested,
        } => match &mut ctx.pf.xact {
            Some((t, l)) if t == ticket => {
                l.ruleset.append(ruleset.clone());
                m::append_nested(&mut l.nested, nested.clone());
                Ok(PfReply::Done)
            }
            _ => Err(Fail::new(libc::EBUSY)),
        },
        PfReq::LoadCommit { ticket } => match ctx.pf.xact.take() {
            Some((t, l)) if t == *ticket => load(ctx, &l).map(|()| PfReply::Done),
            other => {
                ctx.pf.xact = other;
                Err(Fail::new(libc::EBUSY))
            }
        },
        PfReq::GetRules { anchor } => get_rules(&ctx.pf, anchor).map(PfReply::Ruleset),
        PfReq::GetRulesPage { anchor, offset, max } => {
            // Only the page is copied out (the same slice as `Ruleset::page`).
            let rs = rs_ref(&ctx.pf.rules, anchor).ok_or_else(|| Fail::new(libc::EINVAL))?;
            let (ns, nn) = (rs.scrub.len(), rs.nat_order.len());
            let total = ns + nn + rs.filter.len();
            let from = (*offset as usize).min(total);
            let mut page = m::Ruleset::default();
            for i in from..from.saturating_add(*max as usize).min(total) {
                if i < ns {
                    page.scrub.push(rs.scrub[i].def.clone());
                } else if i < ns + nn {
                    page.nat.push(rs.nat_order[i - ns].clone());
                } else {
                    page.filter.push(rs.filter[i - ns - nn].shown());
                }
            }
            Ok(PfReply::Ruleset(page))
        }
        PfReq::GetStatesPage { ifname, offset, max } => Ok(PfReply::States(
            states(ctx, ifname.as_deref())
                .into_iter()
                .skip(*offset as usize)
                .take(*max as usize)
                .collect(),
        )),
        PfReq::GetAnchors { parent } => Ok(PfReply::Anchors(anchors(&ctx.pf.rules, parent))),
        PfReq::GetStates { ifname } => Ok(PfReply::States(states(ctx, ifname.as_deref()))),
        PfReq::GetSources => Ok(PfReply::Sources(Vec::new())),
        PfReq::GetInfo => Ok(PfReply::Info(info(&ctx.pf))),
        PfReq::GetOptions => Ok(PfReply::Options(options(&ctx.pf))),
        // The queues live in the interfaces' send path (net::altq).
        PfReq::GetQueues => Ok(PfReply::Queues(m::QueuesReply {
            altq: ctx.pf.rules.altq.clone(),
            queues: crate::net::altq::queue_stats(&ctx.ifnets, &ctx.pf.rules.queue_defs),
        })),
        PfReq::GetTables { anchor } => Ok(PfReply::Tables(tables(&ctx.pf, anchor.as_deref()))),
        PfReq::GetInterfaces { ifname } => Ok(PfReply::Interfaces(interfaces(ctx, ifname.as_deref()))),
        PfReq::Flush(f) => flush(ctx, &f.kind, &f.anchor, f.ifname.as_deref()),
        PfReq::KillStates(k) => Ok(PfReply::Count(kill_states(ctx, k))),
        // No source nodes are kept (source tracking is refused at load).
        PfReq::KillSources(_) => Ok(PfReply::Count(0)),
        PfReq::Table(t) => table_op(&mut ctx.pf, t).map(PfReply::Table),
        PfReq::ClearRuleCounters { anchor } => {
            let rs = rs_mut(&mut ctx.pf.rules, anchor).ok_or_else(|| Fail::new(libc::EINVAL))?;
            for r in &mut rs.filter {
                r.evals.set(0);
                r.def.counters = m::RuleCounters {
                    states: r.def.counters.states,
                    ..Default::default()
                };
            }
            Ok(PfReply::Done)
        }
        PfReq::SetDebug(d) => {
            ctx.pf.debug = *d;
            Ok(PfReply::Done)
        }
        PfReq::SetLoginterface(i) => {
            ctx.pf.loginterface = i.clone();
            Ok(PfReply::Done)
        }
    }
}

fn rs_mut<'a>(rules: &'a mut Rules, anchor: &str) -> Option<&'a mut Rs> {
    if anchor.is_empty() {
        Some(&mut rules.main)
    } else {
        rules.anchors.get_mut(anchor)
    }
}

fn rs_ref<'a>(rules: &'a Rules, anchor: &str) -> Option<&'a Rs> {
    if anchor.is_empty() {
        Some(&rules.main)
    } else {
        rules.anchors.get(anchor)
    }
}

/// The timeout index of the engine for a model timeout.
fn tm_of(t: m::Timeout) -> Option<usize> {
    TM_NAMES.iter().position(|n| *n == t.name())
}

/// DIOCXBEGIN .. DIOCXCOMMIT in one step.
fn load(ctx: &mut Ctx, l: &LoadReq) -> Result<(), Fail> {
    let pf = &mut ctx.pf;
    let mut new = pf.rules.clone();
    let fail = |(e, t): (i32, String)| Fail::with(e, t);
    let compiled = new.compile(&l.anchor, &l.ruleset).map_err(fail)?;
    let mut nested = Vec::new();
    for (path, rs) in &l.nested {
        nested.push((path.clone(), new.compile(path, rs).map_err(fail)?));
    }
    // Limits: refused with the limit's name.
    let entries: usize = new.tables.iter().map(|t| t.len()).sum();
    let table_limit = limit_of(pf, &l.ruleset.options, m::Limit::TableEntries);
    if entries as u64 > u64::from(table_limit) {
        return Err(Fail::with(
            libc::ENOMEM,
            format!("table-entries limit ({table_limit}) reached"),
        ));
    }
    let tables_limit = limit_of(pf, &l.ruleset.options, m::Limit::Tables);
    if new.tables.len() as u64 > u64::from(tables_limit) {
        return Err(Fail::with(
            libc::ENOMEM,
            format!("tables limit ({tables_limit}) reached"),
        ));
    }
    // Put the parts asked for in place; the others stay as they were.
    {
        let old = rs_ref(&pf.rules, &l.anchor).cloned().unwrap_or_default();
        let mut rs = compiled;
        if !l.parts.filter {
            rs.filter = old.filter;
            rs.scrub = old.scrub;
        }
        if !l.parts.nat {
            rs.nat = old.nat;
            rs.rdr = old.rdr;
            rs.binat = old.binat;
            rs.nat_order = old.nat_order;
        }
        if l.anchor.is_empty() {
            new.main = rs;
        } else {
            new.anchors.insert(l.anchor.clone(), rs);
        }
    }
    if !l.parts.queue {
        new.altq = pf.rules.altq.clone();
        new.queue_defs = pf.rules.queue_defs.clone();
    } else {
        new.altq = l.ruleset.altq.clone();
        new.queue_defs = l.ruleset.queues.clone();
        // The interfaces' queues change now, all or none, before anything else does.
        crate::net::altq::commit(&ctx.ifnets, &new.altq, &new.queue_defs).map_err(|e| Fail::with(libc::EINVAL, e))?;
    }
    for (p, rs) in nested {
        new.anchors.insert(p, rs);
    }
    // Options (main ruleset only).
    if l.parts.options && l.anchor.is_empty() {
        let o = &l.ruleset.options;
        let mut tm = pf.timeouts;
        for (t, v) in &o.timeouts {
            if let Some(i) = tm_of(*t) {
                tm[i] = *v;
            }
        }
        let mut limits = pf.limits.clone();
        for (k, v) in &o.limits {
            if let Some(e) = limits.iter_mut().find(|(x, _)| x == k) {
                e.1 = *v;
            }
        }
        pf.timeouts = tm;
        pf.limits = limits;
        if let Some((_, v)) = pf.limits.iter().find(|(k, _)| *k == m::Limit::States) {
            pf.states.limit = *v;
        }
        if let Some(li) = &o.loginterface {
            pf.loginterface = li.clone();
        }
        if let Some(s) = &o.skip {
            pf.skip = s.clone();
        }
        if let Some(d) = o.debug {
            pf.debug = d;
        }
        if let Some(h) = o.hostid {
            pf.hostid = h;
        }
    }
    pf.rules = new;
    pf.rules_gen = pf.rules_gen.wrapping_add(1);
    // States keep their translation and tracking; they no longer count against a rule.
    let gen = pf.rules_gen;
    for (_, s) in pf.states.iter_mut() {
        if s.rule_gen != gen {
            s.rule_gen = u32::MAX;
        }
    }
    Ok(())
}

fn limit_of(pf: &Pf, o: &m::Options, l: m::Limit) -> u32 {
    o.limits
        .iter()
        .find(|(k, _)| *k == l)
        .or_else(|| pf.limits.iter().find(|(k, _)| *k == l))
        .map(|(_, v)| *v)
        .unwrap_or_else(|| l.default_value())
}

fn get_rules(pf: &Pf, anchor: &str) -> Result<m::Ruleset, Fail> {
    let rs = rs_ref(&pf.rules, anchor).ok_or_else(|| Fail::new(libc::EINVAL))?;
    Ok(m::Ruleset {
        options: m::Options::default(),
        tables: Vec::new(),
        scrub: rs.scrub.iter().map(|s| s.def.clone()).collect(),
        nat: rs.nat_order.clone(),
        filter: rs.filter.iter().map(|r| r.shown()).collect(),
        altq: if anchor.is_empty() {
            pf.rules.altq.clone()
        } else {
            Vec::new()
        },
        queues: if anchor.is_empty() {
            pf.rules.queue_defs.clone()
        } else {
            Vec::new()
        },
    })
}

fn anchors(rules: &Rules, parent: &str) -> Vec<String> {
    let prefix = if parent.is_empty() {
        String::new()
    } else {
        format!("{parent}/")
    };
    let mut out: Vec<String> = rules
        .anchors
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix))
        .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
        .collect();
    out.dedup();
    out
}

fn host_port(af: Af, h: super::state::Host) -> HostPort {
    HostPort {
        addr: h.addr.to_ip(af),
        port: h.port,
    }
}

fn peer(p: &super::state::Peer) -> PeerTrack {
    PeerTrack {
        seqlo: p.seqlo,
        seqhi: p.seqhi,
        seqdiff: p.seqdiff,
        max_win: p.max_win,
        wscale: (p.wscale & super::state::WSCALE_FLAG != 0).then_some(p.wscale & super::state::WSCALE_MASK),
        state: p.state,
    }
}

fn states(ctx: &Ctx, ifname: Option<&str>) -> Vec<StateEntry> {
    let pf = &ctx.pf;
    let now = pf.now();
    let tm = pf.timeouts;
    pf.states
        .iter()
        .filter_map(|(id, s)| {
            let ifn = (s.ifindex != 0)
                .then(|| ctx.ifnet_by_index(s.ifindex).map(|i| i.name.clone()))
                .flatten();
            if ifname.is_some_and(|n| ifn.as_deref() != Some(n)) {
                return None;
            }
            Some(StateEntry {
                ifname: ifn,
                af: af_of(s.af),
                proto: s.proto,
                lan: host_port(s.af, s.lan),
                gwy: host_port(s.af, s.gwy),
                ext: host_port(s.af, s.ext),
                dir: match s.direction {
                    Dir::In => m::Dir::In,
                    Dir::Out => m::Dir::Out,
                },
                src: peer(&s.src),
                dst: peer(&s.dst),
                age: now.saturating_sub(s.creation),
                expires: pf.states.expiry(s, &tm).saturating_sub(now),
                packets: s.packets,
                bytes: s.bytes,
                rule: s.rule,
                id: u64::from(id),
                creatorid: pf.hostid,
            })
        })
        .collect()
}

fn info(pf: &Pf) -> PfInfo {
    PfInfo {
        running: pf.enabled,
        since: Some(pf.since.elapsed().as_secs()),
        debug: pf.debug,
        hostid: pf.hostid,
        checksum: [0; 16],
        states: pf.states.len(),
        src_nodes: 0,
        fcounters: [pf.states.searches, pf.states.inserts, pf.states.removals],
        scounters: [0; 3],
        counters: pf.counters[..REASON_COUNT].to_vec(),
        lcounters: pf.lcounters.to_vec(),
        loginterface: pf.loginterface.as_ref().map(|n| m::LogIfStats {
            name: n.clone(),
            bytes: pf.bcounters,
            packets: pf.pcounters,
        }),
    }
}

fn options(pf: &Pf) -> m::Options {
    m::Options {
        timeouts: m::Timeout::ALL
            .iter()
            .filter_map(|t| tm_of(*t).map(|i| (*t, pf.timeouts[i])))
            .collect(),
        limits: pf.limits.clone(),
        loginterface: Some(pf.loginterface.clone()),
        skip: Some(pf.skip.clone()),
        debug: Some(pf.debug),
        hostid: Some(pf.hostid),
    }
}

fn tables(pf: &Pf, anchor: Option<&str>) -> Vec<TableInfo> {
    pf.rules
        .tables
        .iter()
        .filter(|t| t.flags & m::tflag::ACTIVE != 0)
        .filter(|t| anchor.is_none_or(|a| a == t.anchor))
        .map(|t| TableInfo {
            name: t.name.clone(),
            anchor: t.anchor.clone(),
            flags: t.flags,
            count: t.len() as u32,
            refs: u32::from(t.flags & m::tflag::REFERENCED != 0),
            anchor_refs: 0,
            stats: t.stats,
        })
        .collect()
}

fn interfaces(ctx: &Ctx, ifname: Option<&str>) -> Vec<m::PfIfInfo> {
    ctx.ifnets
        .iter()
        .filter(|i| ifname.is_none_or(|n| n == i.name))
        .map(|i| m::PfIfInfo {
            name: i.name.clone(),
            skip: super::skipped(&ctx.pf.skip, &i.name),
            states: ctx.pf.states.iter().filter(|(_, s)| s.ifindex == i.index).count() as u32,
            rules: ctx
                .pf
                .rules
                .main
                .filter
                .iter()
                .filter(|r| r.def.ifname.as_ref().is_some_and(|s| s.name == i.name))
                .count() as u32,
            ..Default::default()
        })
        .collect()
}

fn flush(ctx: &mut Ctx, kind: &FlushKind, anchor: &str, ifname: Option<&str>) -> Result<PfReply, Fail> {
    let pf = &mut ctx.pf;
    match kind {
        FlushKind::Rules => {
            let mut new = pf.rules.clone();
            if let Some(rs) = rs_mut(&mut new, anchor) {
                rs.filter.clear();
                rs.scrub.clear();
            }
            pf.rules = new;
            Ok(PfReply::Done)
        }
        FlushKind::Nat => {
            if let Some(rs) = rs_mut(&mut pf.rules, anchor) {
                rs.nat.clear();
                rs.rdr.clear();
                rs.binat.clear();
                rs.nat_order.clear();
            }
            Ok(PfReply::Done)
        }
        FlushKind::Queue => {
            pf.rules.altq.clear();
            pf.rules.queue_defs.clear();
            // The interfaces send straight to their drivers again.
            let _ = crate::net::altq::commit(&ctx.ifnets, &[], &[]);
            Ok(PfReply::Done)
        }
        FlushKind::States => {
            let idx = ifname.and_then(|n| ctx.ifnets.iter().find(|i| i.name == n).map(|i| i.index));
            if ifname.is_some() && idx.is_none() {
                return Ok(PfReply::Count(0));
            }
            let n = ctx.pf.states.retain(|s| idx.is_none_or(|i| s.ifindex == i));
            Ok(PfReply::Count(u64::from(n)))
        }
        FlushKind::Sources => Ok(PfReply::Count(0)),
        FlushKind::Info => {
            pf.counters = [0; REASON_COUNT];
            pf.pcounters = Default::default();
            pf.bcounters = Default::default();
            pf.lcounters = [0; 7];
            pf.states.searches = 0;
            pf.states.inserts = 0;
            pf.states.removals = 0;
            Ok(PfReply::Done)
        }
        FlushKind::Tables => {
            let mut n = 0;
            for t in &mut pf.rules.tables {
                if t.anchor == anchor && t.flags & m::tflag::ACTIVE != 0 {
                    t.clear();
                    t.flags &= !(m::tflag::ACTIVE | m::tflag::PERSIST);
                    n += 1;
                }
            }
            Ok(PfReply::Count(n))
        }
    }
}

fn net_has(n: &m::Net, ip: IpAddr) -> bool {
    n.contains(&ip)
}

fn kill_states(ctx: &mut Ctx, k: &KillReq) -> u64 {
    let idx = k.ifname.as_deref().map(|n| {
        ctx.ifnets
            .iter()
            .find(|i| i.name == n)
            .map(|i| i.index)
            .unwrap_or(u16::MAX)
    });
    let n = ctx.pf.states.retain(|s| {
        // The state's source is the side that made it.
        let (src, dst) = match s.direction {
            Dir::Out => (s.lan, s.ext),
            Dir::In => (s.ext, s.lan),
        };
        idx.is_none_or(|i| s.ifindex == i)
            && net_has(&k.src, src.addr.to_ip(s.af))
            && k.dst.as_ref().is_none_or(|d| net_has(d, dst.addr.to_ip(s.af)))
    });
    u64::from(n)
}

fn table_op(pf: &mut Pf, t: &TableReq) -> Result<TableResult, Fail> {
    let mut res = TableResult::default();
    let limit = pf
        .limits
        .iter()
        .find(|(k, _)| *k == m::Limit::TableEntries)
        .map(|(_, v)| *v)
        .unwrap_or(200_000) as usize;
    let total: usize = pf.rules.tables.iter().map(|x| x.len()).sum();
    let idx = pf.rules.table_index(&t.anchor, &t.name).filter(|i| {
        pf.rules.tables[*i].flags & m::tflag::ACTIVE != 0 || matches!(t.op, TableOp::Add(_) | TableOp::Replace(_))
    });
    let i = match (idx, &t.op) {
        (Some(i), _) => i,
        (None, TableOp::Add(_) | TableOp::Replace(_)) => {
            let tables_limit = pf
                .limits
                .iter()
                .find(|(k, _)| *k == m::Limit::Tables)
                .map(|(_, v)| *v)
                .unwrap_or(1000) as usize;
            if pf
                .rules
                .tables
                .iter()
                .filter(|x| x.flags & m::tflag::ACTIVE != 0)
                .count()
                >= tables_limit
            {
                return Err(Fail::with(
                    libc::ENOMEM,
                    format!("tables limit ({tables_limit}) reached"),
                ));
            }
            res.tables_created = 1;
            pf.rules
                .tables
                .push(Table::new(&t.name, &t.anchor, m::tflag::PERSIST | m::tflag::ACTIVE));
            pf.rules.tables.len() - 1
        }
        (None, _) => return Err(Fail::new(libc::ESRCH)),
    };
    let tb = &mut pf.rules.tables[i];
    if tb.flags & m::tflag::ACTIVE == 0 {
        tb.flags |= m::tflag::ACTIVE | m::tflag::PERSIST;
        res.tables_created = 1;
    }
    let is_const = tb.flags & m::tflag::CONST != 0;
    let writes = !matches!(t.op, TableOp::Show { .. } | TableOp::Test(_));
    if is_const && writes {
        return Err(Fail::new(libc::EPERM));
    }
    match &t.op {
        TableOp::Kill => {
            tb.clear();
            tb.flags &= !(m::tflag::ACTIVE | m::tflag::PERSIST);
            res.tables_deleted = 1;
        }
        TableOp::Flush => {
            res.deleted = tb.clear() as u32;
        }
        TableOp::Add(addrs) => {
            if total + addrs.len() > limit {
                return Err(Fail::with(
                    libc::ENOMEM,
                    format!("table-entries limit ({limit}) reached"),
                ));
            }
            for a in addrs {
                let fb = match tb.add(a) {
                    (true, _) => {
                        res.added += 1;
                        Feedback::Added
                    }
                    (false, true) => {
                        res.changed += 1;
                        Feedback::Changed
                    }
                    (false, false) => Feedback::None,
                };
                res.feedback.push((*a, fb));
            }
        }
        TableOp::Delete(addrs) => {
            for a in addrs {
                let fb = if tb.delete(a) {
                    res.deleted += 1;
                    Feedback::Deleted
                } else {
                    Feedback::None
                };
                res.feedback.push((*a, fb));
            }
        }
        TableOp::Replace(addrs) => {
            let others = total - tb.len();
            if others + addrs.len() > limit {
                return Err(Fail::with(
                    libc::ENOMEM,
                    format!("table-entries limit ({limit}) reached"),
                ));
            }
            let old: std::collections::HashSet<m::TableAddr> = tb.entries().into_iter().collect();
            let new: std::collections::HashSet<m::TableAddr> = addrs.iter().copied().collect();
            for a in old.difference(&new) {
                tb.delete(a);
                res.deleted += 1;
                res.feedback.push((*a, Feedback::Deleted));
            }
            for a in addrs {
                if !old.contains(a) {
                    tb.add(a);
                    res.added += 1;
                    res.feedback.push((*a, Feedback::Added));
                }
            }
        }
        TableOp::Show { stats } => {
            res.entries = tb
                .entries()
                .into_iter()
                .map(|a| m::TableEntry {
                    addr: a,
                    stats: stats.then(m::TableStats::default),
                })
                .collect();
        }
        TableOp::Test(ips) => {
            for ip in ips {
                let (af, a) = super::rules::addr_of(*ip);
                let hit = tb.matches(af, a);
                res.matched += u32::from(hit);
                res.feedback.push((
                    m::TableAddr {
                        net: m::Net::host(*ip),
                        neg: false,
                    },
                    if hit { Feedback::Match } else { Feedback::NotMatch },
                ));
            }
        }
        TableOp::Zero => {
            tb.stats = m::TableStats::default();
            tb.cleared = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            res.cleared = tb.len() as u32;
        }
        // Entries carry no per-entry clear time: none has expired.
        TableOp::Expire(_) => {}
    }
    Ok(res)
}
