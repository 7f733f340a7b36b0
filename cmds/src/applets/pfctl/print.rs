//! Rules in pfctl's normalized text (print_rule of OpenBSD 4.2's pfctl_parser.c, as
//! NetBSD ships it): the same tokens in the same order, so `pfctl -nvf` and `-s rules`
//! read as NetBSD's do. std and the channel model only (the fuzz target builds it).

use std::fmt::Write;
use std::net::IpAddr;

use pktbox_stack::msg::pf::*;

use super::names;

/// NAT's default source port range, which pfctl does not print.
pub const NAT_PORT_LOW: u16 = 50001;
pub const NAT_PORT_HIGH: u16 = 65535;

fn net_text(n: &Net) -> String {
    if n.prefix == 0 && n.addr.is_unspecified() {
        return "any".into();
    }
    if n.is_host() {
        n.addr.to_string()
    } else {
        format!("{}/{}", n.addr, n.prefix)
    }
}

/// print_addr: one address specification, `!` in front when negated.
pub fn addr_text(a: &Addr, neg: bool) -> String {
    let s = match a {
        Addr::Any => "any".to_string(),
        Addr::Net(n) => net_text(n),
        Addr::Range(x, y) => format!("{x} - {y}"),
        Addr::Table(t) => format!("<{t}>"),
        Addr::Dynamic { ifname, flags } => {
            let mut s = format!("({ifname}");
            if flags & dynflag::NETWORK != 0 {
                s.push_str(":network");
            }
            if flags & dynflag::BROADCAST != 0 {
                s.push_str(":broadcast");
            }
            if flags & dynflag::PEER != 0 {
                s.push_str(":peer");
            }
            if flags & dynflag::NOALIAS != 0 {
                s.push_str(":0");
            }
            s.push(')');
            s
        }
        Addr::NoRoute => "no-route".into(),
        Addr::UrpfFailed => "urpf-failed".into(),
    };
    if neg {
        format!("! {s}")
    } else {
        s
    }
}

fn op_text(op: Op, a: &str, b: &str) -> String {
    match op {
        Op::Between => format!("{a} >< {b}"),
        Op::Outside => format!("{a} <> {b}"),
        Op::Eq => format!("= {a}"),
        Op::Ne => format!("!= {a}"),
        Op::Lt => format!("< {a}"),
        Op::Le => format!("<= {a}"),
        Op::Gt => format!("> {a}"),
        Op::Ge => format!(">= {a}"),
        Op::Range => format!("{a}:{b}"),
    }
}

/// print_port without the leading ` port`: `= ssh`, `1000:2000`, `> 1023`.
pub fn port_op_text(p: &PortOp, proto: Option<u8>) -> String {
    let pname = if proto == Some(6) { "tcp" } else { "udp" };
    let a = match p.op {
        Op::Eq | Op::Ne => names::service_name(p.a, pname).unwrap_or_else(|| p.a.to_string()),
        _ => p.a.to_string(),
    };
    op_text(p.op, &a, &p.b.to_string())
}

fn ugid_text(what: &str, u: &IdOp) -> String {
    let a = if u.a == u32::MAX && matches!(u.op, Op::Eq | Op::Ne) {
        "unknown".to_string()
    } else {
        u.a.to_string()
    };
    format!(" {what} {}", op_text(u.op, &a, &u.b.to_string()))
}

pub fn flags_text(f: u8) -> String {
    (0..8)
        .filter(|i| f & (1 << i) != 0)
        .map(|i| tcpflag::LETTERS[i] as char)
        .collect()
}

fn fromto_text(out: &mut String, src: &Endpoint, dst: &Endpoint, proto: Option<u8>) {
    let is_any = |e: &Endpoint| {
        !e.neg
            && e.port.is_none()
            && match &e.addr {
                Addr::Any => true,
                Addr::Net(n) => n.prefix == 0 && n.addr.is_unspecified(),
                _ => false,
            }
    };
    if is_any(src) && is_any(dst) {
        out.push_str(" all");
        return;
    }
    for (kw, e) in [("from", src), ("to", dst)] {
        let _ = write!(out, " {kw} {}", addr_text(&e.addr, e.neg));
        if let Some(p) = &e.port {
            let _ = write!(out, " port {}", port_op_text(p, proto));
        }
    }
}

fn log_text(out: &mut String, log: &Option<LogOpts>) {
    if let Some(l) = log {
        out.push_str(" log");
        let mut parts = Vec::new();
        if l.all {
            parts.push("all".to_string());
        }
        if l.user {
            parts.push("user".to_string());
        }
        if let Some(t) = &l.to {
            if t != "pflog0" {
                parts.push(format!("to {t}"));
            }
        }
        if !parts.is_empty() {
            let _ = write!(out, " ({})", parts.join(", "));
        }
    }
}

fn common_head(
    out: &mut String,
    dir: Dir,
    log: &Option<LogOpts>,
    quick: bool,
    ifname: &Option<IfSpec>,
    af: Option<Af>,
    proto: Option<u8>,
) {
    match dir {
        Dir::In => out.push_str(" in"),
        Dir::Out => out.push_str(" out"),
        Dir::InOut => {}
    }
    log_text(out, log);
    if quick {
        out.push_str(" quick");
    }
    if let Some(i) = ifname {
        if i.neg {
            let _ = write!(out, " on ! {}", i.name);
        } else {
            let _ = write!(out, " on {}", i.name);
        }
    }
    match af {
        Some(Af::Inet) => out.push_str(" inet"),
        Some(Af::Inet6) => out.push_str(" inet6"),
        None => {}
    }
    if let Some(p) = proto {
        match names::proto_name(p) {
            Some(n) => {
                let _ = write!(out, " proto {n}");
            }
            None => {
                let _ = write!(out, " proto {p}");
            }
        }
    }
}

fn icmp_code_text(typ: u8, code: u8, v6: bool) -> String {
    names::icmp_code_name(typ, code, v6)
        .map(str::to_string)
        .unwrap_or_else(|| code.to_string())
}

/// A filter rule (print_rule for pass/block/anchor). `verbose` is `-vv`: `@N ` first.
pub fn rule_text(r: &Rule, verbose: bool) -> String {
    let mut out = String::new();
    if verbose {
        let _ = write!(out, "@{} ", r.nr);
    }
    match &r.anchor {
        Some(a) => {
            let _ = write!(out, "anchor \"{a}\"");
        }
        None => out.push_str(match r.action {
            Action::Pass => "pass",
            Action::Block => "block",
        }),
    }
    if r.action == Action::Block && r.anchor.is_none() {
        match r.block {
            BlockHow::Drop => out.push_str(" drop"),
            BlockHow::Return => out.push_str(" return"),
            BlockHow::ReturnRst { ttl: None } => out.push_str(" return-rst"),
            BlockHow::ReturnRst { ttl: Some(t) } => {
                let _ = write!(out, " return-rst(ttl {t})");
            }
            BlockHow::ReturnIcmp { code, code6 } => {
                let c4 = icmp_code_text(3, code.unwrap_or(3), false);
                let c6 = icmp_code_text(1, code6.unwrap_or(4), true);
                match r.af {
                    Some(Af::Inet) => {
                        let _ = write!(out, " return-icmp({c4})");
                    }
                    Some(Af::Inet6) => {
                        let _ = write!(out, " return-icmp6({c6})");
                    }
                    None => {
                        let _ = write!(out, " return-icmp({c4}, {c6})");
                    }
                }
            }
            BlockHow::ReturnIcmp6 { code6 } => {
                let c6 = icmp_code_text(1, code6.unwrap_or(4), true);
                let _ = write!(out, " return-icmp6({c6})");
            }
        }
    }
    common_head(&mut out, r.dir, &r.log, r.quick, &r.ifname, r.af, r.proto);
    fromto_text(&mut out, &r.src, &r.dst, r.proto);
    if let Some(u) = &r.uid {
        out.push_str(&ugid_text("user", u));
    }
    if let Some(g) = &r.gid {
        out.push_str(&ugid_text("group", g));
    }
    if r.flags != 0 || r.flagset != 0 {
        let _ = write!(out, " flags {}/{}", flags_text(r.flags), flags_text(r.flagset));
    } else if r.action == Action::Pass
        && r.proto.is_none_or(|p| p == 6)
        && !r.fragment
        && r.anchor.is_none()
        && r.state != StateKind::None
    {
        out.push_str(" flags any");
    }
    if let Some(ic) = &r.icmp {
        out.push_str(if ic.v6 { " icmp6-type" } else { " icmp-type" });
        match names::icmp_type_name(ic.typ, ic.v6) {
            Some(n) => {
                let _ = write!(out, " {n}");
            }
            None => {
                let _ = write!(out, " {}", ic.typ);
            }
        }
        if let Some(code) = ic.code {
            let _ = write!(out, " code {}", icmp_code_text(ic.typ, code, ic.v6));
        }
    }
    if let Some(t) = r.tos {
        let _ = write!(out, " tos 0x{t:02x}");
    }
    match r.state {
        StateKind::None if r.action == Action::Pass && r.anchor.is_none() => out.push_str(" no state"),
        StateKind::None => {}
        StateKind::Keep => out.push_str(" keep state"),
        StateKind::Modulate => out.push_str(" modulate state"),
        StateKind::Synproxy => out.push_str(" synproxy state"),
    }
    if let Some(p) = r.probability {
        let pct = f64::from(p) * 100.0 / (f64::from(u32::MAX) + 1.0);
        let mut s = format!("{pct:.6}");
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
        let _ = write!(out, " probability {s}%");
    }
    let o = &r.state_opts;
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = o.max {
        parts.push(format!("max {m}"));
    }
    if o.no_sync {
        parts.push("no-sync".into());
    }
    match o.source_track {
        Some(SourceTrack::Rule) => parts.push("source-track rule".into()),
        Some(SourceTrack::Global) => parts.push("source-track global".into()),
        None => {}
    }
    if let Some(v) = o.max_src_states {
        parts.push(format!("max-src-states {v}"));
    }
    if let Some(v) = o.max_src_conn {
        parts.push(format!("max-src-conn {v}"));
    }
    if let Some((a, b)) = o.max_src_conn_rate {
        parts.push(format!("max-src-conn-rate {a}/{b}"));
    }
    if let Some(v) = o.max_src_nodes {
        parts.push(format!("max-src-nodes {v}"));
    }
    if let Some(ov) = &o.overload {
        let mut s = format!("overload <{}>", ov.table);
        match ov.flush {
            Some(true) => s.push_str(" flush global"),
            Some(false) => s.push_str(" flush"),
            None => {}
        }
        parts.push(s);
    }
    match o.lock {
        Some(StateLock::IfBound) => parts.push("if-bound".into()),
        Some(StateLock::GroupBound) => parts.push("group-bound".into()),
        _ => {}
    }
    for t in Timeout::ALL {
        if let Some((_, v)) = o.timeouts.iter().rev().find(|(x, _)| *x == t) {
            parts.push(format!("{} {v}", t.name()));
        }
    }
    if !parts.is_empty() {
        let _ = write!(out, " ({})", parts.join(", "));
    }
    if r.fragment {
        out.push_str(" fragment");
    }
    if r.allow_opts {
        out.push_str(" allow-opts");
    }
    if let Some(l) = &r.label {
        let _ = write!(out, " label \"{l}\"");
    }
    match (&r.queue, &r.pqueue) {
        (Some(q), Some(p)) => {
            let _ = write!(out, " queue({q}, {p})");
        }
        (Some(q), None) => {
            let _ = write!(out, " queue {q}");
        }
        _ => {}
    }
    if let Some(t) = &r.tag {
        let _ = write!(out, " tag {t}");
    }
    if let Some((neg, t)) = &r.tagged {
        if *neg {
            out.push_str(" !");
        }
        let _ = write!(out, " tagged {t}");
    }
    out
}

/// A scrub rule.
pub fn scrub_text(r: &ScrubRule, verbose: bool) -> String {
    let mut out = String::new();
    if verbose {
        let _ = write!(out, "@{} ", r.nr);
    }
    out.push_str(if r.no { "no scrub" } else { "scrub" });
    common_head(&mut out, r.dir, &r.log, r.quick, &r.ifname, r.af, r.proto);
    fromto_text(&mut out, &r.src, &r.dst, r.proto);
    if r.no_df {
        out.push_str(" no-df");
    }
    if r.random_id {
        out.push_str(" random-id");
    }
    if let Some(t) = r.min_ttl {
        let _ = write!(out, " min-ttl {t}");
    }
    if let Some(m) = r.max_mss {
        let _ = write!(out, " max-mss {m}");
    }
    if !r.no {
        if r.reassemble_tcp {
            out.push_str(" reassemble tcp");
        }
        out.push_str(match r.frag {
            FragMode::DropOvl => " fragment drop-ovl",
            FragMode::Crop => " fragment crop",
            FragMode::Reassemble => " fragment reassemble",
        });
    }
    out
}

/// A translation rule.
pub fn nat_text(r: &NatRule, verbose: bool) -> String {
    let mut out = String::new();
    if verbose {
        let _ = write!(out, "@{} ", r.nr);
    }
    let kw = match r.kind {
        NatKind::Nat => "nat",
        NatKind::Rdr => "rdr",
        NatKind::Binat => "binat",
    };
    match &r.anchor {
        Some(a) => {
            let _ = write!(out, "{kw}-anchor \"{a}\"");
        }
        None => {
            if r.no {
                out.push_str("no ");
            }
            out.push_str(kw);
            if r.pass {
                out.push_str(" pass");
            }
        }
    }
    common_head(&mut out, r.dir, &r.log, false, &r.ifname, r.af, r.proto);
    fromto_text(&mut out, &r.src, &r.dst, r.proto);
    if let Some(t) = &r.tag {
        let _ = write!(out, " tag {t}");
    }
    if let Some((neg, t)) = &r.tagged {
        if *neg {
            out.push_str(" !");
        }
        let _ = write!(out, " tagged {t}");
    }
    if r.anchor.is_some() || r.no {
        return out;
    }
    let Some(p) = &r.pool else {
        return out;
    };
    out.push_str(" -> ");
    if p.addrs.len() > 1 {
        let list: Vec<String> = p.addrs.iter().map(|a| addr_text(a, false)).collect();
        let _ = write!(out, "{{ {} }}", list.join(", "));
    } else if let Some(a) = p.addrs.first() {
        out.push_str(&addr_text(a, false));
    }
    match r.kind {
        NatKind::Nat => {
            if let Some((lo, hi)) = p.port {
                let hi = if hi == 0 { lo } else { hi };
                if (lo, hi) != (NAT_PORT_LOW, NAT_PORT_HIGH) {
                    if lo == hi {
                        let _ = write!(out, " port {lo}");
                    } else {
                        let _ = write!(out, " port {lo}:{hi}");
                    }
                }
            }
        }
        NatKind::Rdr => {
            if let Some((lo, hi)) = p.port {
                let _ = write!(out, " port {lo}");
                if p.port_star {
                    out.push_str(":*");
                } else if hi != 0 && hi != lo {
                    let _ = write!(out, ":{hi}");
                }
            }
        }
        NatKind::Binat => {}
    }
    match p.kind {
        PoolType::None => {}
        PoolType::Bitmask => out.push_str(" bitmask"),
        PoolType::Random => out.push_str(" random"),
        PoolType::SourceHash(k) => {
            out.push_str(" source-hash 0x");
            for b in k {
                let _ = write!(out, "{b:02x}");
            }
        }
        PoolType::RoundRobin => out.push_str(" round-robin"),
    }
    if p.sticky {
        out.push_str(" sticky-address");
    }
    if p.static_port {
        out.push_str(" static-port");
    }
    out
}

/// print_tabledef: `table <name> const persist { a b }` (as `-nv` shows definitions).
pub fn table_def_text(t: &TableDef) -> String {
    let mut out = format!("table <{}>", t.name);
    if t.flags & tflag::CONST != 0 {
        out.push_str(" const");
    }
    if t.flags & tflag::PERSIST != 0 {
        out.push_str(" persist");
    }
    out.push_str(" {");
    for a in &t.addrs {
        out.push_str(if a.neg { " !" } else { " " });
        out.push_str(&net_text(&a.net));
    }
    out.push_str(" }");
    out
}

/// A bandwidth as pfctl's rate2str prints it: `10Mb`, `1.50Mb`, `512Kb`.
pub fn rate_text(bps: u64) -> String {
    let units = [("b", 1.0), ("Kb", 1e3), ("Mb", 1e6), ("Gb", 1e9)];
    let mut i = 0;
    let mut v = bps as f64;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let _ = units[i].1;
    if (v - v.trunc()).abs() < f64::EPSILON {
        format!("{}{}", v as u64, units[i].0)
    } else {
        format!("{v:.2}{}", units[i].0)
    }
}

/// `altq on en0 priq bandwidth 10Mb queue { ssh, std }`.
pub fn altq_text(a: &AltqDef) -> String {
    let mut out = format!("altq on {} priq bandwidth {}", a.ifname, rate_text(a.bandwidth));
    if a.qlimit != 50 {
        let _ = write!(out, " qlimit {}", a.qlimit);
    }
    if a.tbrsize != 0 {
        let _ = write!(out, " tbrsize {}", a.tbrsize);
    }
    if a.queues.len() == 1 {
        let _ = write!(out, " queue {}", a.queues[0]);
    } else {
        let _ = write!(out, " queue {{ {} }}", a.queues.join(", "));
    }
    out
}

/// `queue std priority 1 priq( default )`.
pub fn queue_text(q: &QueueDef) -> String {
    let mut out = format!("queue {}", q.name);
    if let Some(b) = q.bandwidth {
        let _ = write!(out, " bandwidth {}", rate_text(b));
    }
    let _ = write!(out, " priority {}", q.priority);
    if q.qlimit != 50 {
        let _ = write!(out, " qlimit {}", q.qlimit);
    }
    if q.opts.default {
        out.push_str(" priq( default )");
    }
    out
}

/// The `-v` counters line after a rule, and `-vv`'s creator line.
pub fn counters_text(c: &RuleCounters, vv: bool) -> String {
    let mut s = format!(
        "  [ Evaluations: {:<8}  Packets: {:<8}  Bytes: {:<10}  States: {:<6}]",
        c.evaluations,
        c.packets[0] + c.packets[1],
        c.bytes[0] + c.bytes[1],
        c.states
    );
    if vv {
        let _ = write!(s, "\n  [ Inserted: uid {} pid {} ]", c.cuid, c.cpid);
    }
    s
}

/// A host and port of a state: `a.b.c.d:port`, `addr[port]` for IPv6.
pub fn hostport_text(h: &HostPort, proto: u8) -> String {
    let with_port = matches!(proto, 6 | 17 | 1 | 58);
    match h.addr {
        IpAddr::V4(a) if with_port => format!("{a}:{}", h.port),
        IpAddr::V6(a) if with_port => format!("{a}[{}]", h.port),
        a => a.to_string(),
    }
}

fn hms(secs: u32) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

fn peer_state_name(proto: u8, s: u8) -> String {
    match proto {
        6 => TCP_STATE_NAMES
            .get(usize::from(s))
            .map(|n| n.to_string())
            .unwrap_or_else(|| s.to_string()),
        1 | 58 => s.to_string(),
        _ => UDP_STATE_NAMES
            .get(usize::from(s))
            .map(|n| n.to_string())
            .unwrap_or_else(|| s.to_string()),
    }
}

/// print_state: the state line, and with `-v`/`-vv` its detail lines.
pub fn state_text(s: &StateEntry, verbose: u8) -> String {
    let mut out = String::new();
    let ifname = s.ifname.as_deref().unwrap_or("all");
    let proto = names::proto_name(s.proto).unwrap_or_else(|| s.proto.to_string());
    let _ = write!(out, "{ifname} {proto} ");
    let arrow = if s.dir == Dir::Out { "->" } else { "<-" };
    let _ = write!(out, "{}", hostport_text(&s.lan, s.proto));
    if s.lan != s.gwy {
        let _ = write!(out, " {arrow} {}", hostport_text(&s.gwy, s.proto));
    }
    let _ = write!(out, " {arrow} {}", hostport_text(&s.ext, s.proto));
    let (src, dst) = (&s.src, &s.dst);
    let _ = write!(
        out,
        "       {}:{}",
        peer_state_name(s.proto, src.state),
        peer_state_name(s.proto, dst.state)
    );
    if verbose > 0 {
        if s.proto == 6 {
            out.push_str("\n   ");
            for (i, p) in [src, dst].into_iter().enumerate() {
                if i == 1 {
                    out.push_str("  ");
                }
                let _ = write!(out, "[{} + {}](+{})", p.seqlo, p.seqhi.wrapping_sub(p.seqlo), p.seqdiff);
                if let Some(w) = p.wscale {
                    let _ = write!(out, " wscale {w}");
                }
            }
        }
        let _ = write!(
            out,
            "\n   age {}, expires in {}, {}:{} pkts, {}:{} bytes",
            hms(s.age),
            hms(s.expires),
            s.packets[0],
            s.packets[1],
            s.bytes[0],
            s.bytes[1]
        );
        if let Some(r) = s.rule {
            let _ = write!(out, ", rule {r}");
        }
        if verbose > 1 {
            let _ = write!(out, "\n   id: {:016x} creatorid: {:08x}", s.id, s.creatorid);
        }
    }
    out
}
