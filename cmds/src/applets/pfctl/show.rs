//! `pfctl -s ...`: the views, in NetBSD pfctl's layouts (print_status, print_state,
//! pfctl_show_rules, ...), and `--json` for each.

use std::process::ExitCode;

use pktbox_stack::msg::pf::*;
use pktbox_stack::socket::Stack;
use serde::Serialize;

use super::print;
use super::{err, Opts};

fn get(s: &mut Stack, req: PfReq, what: &str) -> Result<PfReply, ExitCode> {
    s.pf(req).map_err(|e| match e.errno() {
        Some(libc::ENOENT) => err("Anchor or Ruleset does not exist."),
        _ => err(format!("{what}: {e}")),
    })
}

fn json<T: Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// The section titles of `-s all`, a blank line between them.
struct Titles {
    first: bool,
    on: bool,
}

impl Titles {
    fn title(&mut self, t: &str) {
        if !self.on {
            return;
        }
        if !self.first {
            println!();
        }
        self.first = false;
        println!("{t}");
    }
}

pub fn show(s: &mut Stack, mode: &str, opts: &Opts) -> Result<(), ExitCode> {
    if mode == "osfp" {
        return Err(err("OS fingerprints are not supported"));
    }
    if opts.json {
        return show_json(s, mode, opts);
    }
    let mut t = Titles {
        first: true,
        on: mode == "all",
    };
    let all = mode == "all";
    if all || mode == "nat" {
        t.title("TRANSLATION RULES:");
        show_rules(s, opts, true)?;
    }
    if all || mode == "rules" {
        t.title("FILTER RULES:");
        show_rules(s, opts, false)?;
    }
    if mode == "queue" {
        show_queue(s, opts)?;
    }
    if mode == "Anchors" {
        show_anchors(s, opts)?;
    }
    if all || mode == "states" {
        t.title("STATES:");
        show_states(s, opts)?;
    }
    if (all && opts.verbose > 0) || mode == "Sources" {
        t.title("SOURCE TRACKING NODES:");
        show_sources(s, opts)?;
    }
    if all || mode == "info" {
        t.title("INFO:");
        show_info(s, opts)?;
    }
    if all || mode == "labels" {
        t.title("LABEL COUNTERS:");
        show_labels(s, opts)?;
    }
    if all || mode == "timeouts" {
        t.title("TIMEOUTS:");
        show_timeouts(s)?;
    }
    if all || mode == "memory" {
        t.title("LIMITS:");
        show_memory(s)?;
    }
    if all || mode == "Tables" {
        t.title("TABLES:");
        show_tables(s, opts)?;
    }
    if all || mode == "Interfaces" {
        t.title("INTERFACES:");
        show_interfaces(s, opts)?;
    }
    if opts.zero && (mode == "rules" || mode == "all") {
        get(
            s,
            PfReq::ClearRuleCounters {
                anchor: opts.anchor.clone(),
            },
            "DIOCCLRRULECTRS",
        )?;
    }
    Ok(())
}

/// Rules and states per request: a page must fit one datagram.
const PAGE_RULES: u32 = 200;
const PAGE_STATES: u32 = 500;

/// The anchor's rules, a page at a time (DIOCGETRULES / DIOCGETRULE).
fn ruleset(s: &mut Stack, opts: &Opts) -> Result<Ruleset, ExitCode> {
    let mut all = Ruleset::default();
    let mut offset = 0;
    loop {
        let page = match get(
            s,
            PfReq::GetRulesPage {
                anchor: opts.anchor.clone(),
                offset,
                max: PAGE_RULES,
            },
            "DIOCGETRULES",
        )? {
            PfReply::Ruleset(r) => r,
            _ => Ruleset::default(),
        };
        let n = page.rule_count() as u32;
        all.append(page);
        if n < PAGE_RULES {
            return Ok(all);
        }
        offset += n;
    }
}

/// Every state (of one interface with -i), a page at a time (DIOCGETSTATES).
fn all_states(s: &mut Stack, opts: &Opts) -> Result<Vec<StateEntry>, ExitCode> {
    let mut all = Vec::new();
    loop {
        let page = match get(
            s,
            PfReq::GetStatesPage {
                ifname: opts.ifname.clone(),
                offset: all.len() as u32,
                max: PAGE_STATES,
            },
            "DIOCGETSTATES",
        )? {
            PfReply::States(v) => v,
            _ => Vec::new(),
        };
        let n = page.len() as u32;
        all.extend(page);
        if n < PAGE_STATES {
            return Ok(all);
        }
    }
}

fn show_json(s: &mut Stack, mode: &str, opts: &Opts) -> Result<(), ExitCode> {
    match mode {
        "rules" | "nat" | "labels" => {
            let r = ruleset(s, opts)?;
            match mode {
                "rules" => json(&serde_json::json!({ "scrub": r.scrub, "filter": r.filter })),
                "nat" => json(&r.nat),
                _ => json(&labels(&r)),
            }
        }
        "all" => {
            let r = ruleset(s, opts)?;
            let states = PfReply::States(all_states(s, opts)?);
            let info = get(s, PfReq::GetInfo, "DIOCGETSTATUS")?;
            let o = get(s, PfReq::GetOptions, "DIOCGETTIMEOUT")?;
            let tables = get(s, PfReq::GetTables { anchor: None }, "DIOCRGETTABLES")?;
            let ifs = get(
                s,
                PfReq::GetInterfaces {
                    ifname: opts.ifname.clone(),
                },
                "DIOCIGETIFACES",
            )?;
            json(&serde_json::json!({
                "ruleset": r,
                "labels": labels(&r),
                "states": states,
                "info": info,
                "options": o,
                "tables": tables,
                "interfaces": ifs,
            }));
        }
        "queue" => json(&get(s, PfReq::GetQueues, "DIOCGETALTQS")?),
        "Anchors" => json(&get(
            s,
            PfReq::GetAnchors {
                parent: opts.anchor.clone(),
            },
            "DIOCGETRULESETS",
        )?),
        "Sources" => json(&get(s, PfReq::GetSources, "DIOCGETSRCNODES")?),
        "states" => json(&PfReply::States(all_states(s, opts)?)),
        "info" => json(&get(s, PfReq::GetInfo, "DIOCGETSTATUS")?),
        "timeouts" | "memory" => json(&get(s, PfReq::GetOptions, "DIOCGETTIMEOUT")?),
        "Tables" => json(&get(
            s,
            PfReq::GetTables {
                anchor: (!opts.anchor.is_empty()).then(|| opts.anchor.clone()),
            },
            "DIOCRGETTABLES",
        )?),
        "Interfaces" => json(&get(
            s,
            PfReq::GetInterfaces {
                ifname: opts.ifname.clone(),
            },
            "DIOCIGETIFACES",
        )?),
        _ => {}
    }
    Ok(())
}

fn show_rules(s: &mut Stack, opts: &Opts, nat: bool) -> Result<(), ExitCode> {
    let r = ruleset(s, opts)?;
    let vv = opts.verbose > 1;
    let counters = |c: &RuleCounters| {
        if opts.verbose > 0 {
            println!("{}", print::counters_text(c, vv));
        }
    };
    if nat {
        for kind in [NatKind::Nat, NatKind::Rdr, NatKind::Binat] {
            for n in r.nat.iter().filter(|n| n.kind == kind) {
                println!("{}", print::nat_text(n, vv));
                counters(&n.counters);
            }
        }
    } else {
        for x in &r.scrub {
            println!("{}", print::scrub_text(x, vv));
            counters(&x.counters);
        }
        for x in &r.filter {
            println!("{}", print::rule_text(x, vv));
            counters(&x.counters);
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Label {
    label: String,
    evaluations: u64,
    packets: u64,
    bytes: u64,
    in_packets: u64,
    in_bytes: u64,
    out_packets: u64,
    out_bytes: u64,
}

/// Rules with the same label add up (pfctl sums them in the listing).
fn labels(r: &Ruleset) -> Vec<Label> {
    let mut out: Vec<Label> = Vec::new();
    for x in &r.filter {
        let Some(l) = &x.label else { continue };
        let c = &x.counters;
        let e = match out.iter_mut().position(|e| e.label == *l) {
            Some(i) => &mut out[i],
            None => {
                out.push(Label {
                    label: l.clone(),
                    evaluations: 0,
                    packets: 0,
                    bytes: 0,
                    in_packets: 0,
                    in_bytes: 0,
                    out_packets: 0,
                    out_bytes: 0,
                });
                let n = out.len() - 1;
                &mut out[n]
            }
        };
        e.evaluations += c.evaluations;
        e.packets += c.packets[0] + c.packets[1];
        e.bytes += c.bytes[0] + c.bytes[1];
        e.in_packets += c.packets[0];
        e.in_bytes += c.bytes[0];
        e.out_packets += c.packets[1];
        e.out_bytes += c.bytes[1];
    }
    out
}

fn show_labels(s: &mut Stack, opts: &Opts) -> Result<(), ExitCode> {
    let r = ruleset(s, opts)?;
    for l in labels(&r) {
        println!(
            "{} {} {} {} {} {} {} {}",
            l.label, l.evaluations, l.packets, l.bytes, l.in_packets, l.in_bytes, l.out_packets, l.out_bytes
        );
    }
    Ok(())
}

fn show_anchors(s: &mut Stack, opts: &Opts) -> Result<(), ExitCode> {
    if let PfReply::Anchors(v) = get(
        s,
        PfReq::GetAnchors {
            parent: opts.anchor.clone(),
        },
        "DIOCGETRULESETS",
    )? {
        for a in v {
            println!("  {a}");
        }
    }
    Ok(())
}

fn show_states(s: &mut Stack, opts: &Opts) -> Result<(), ExitCode> {
    {
        for st in &all_states(s, opts)? {
            println!("{}", print::state_text(st, opts.verbose));
        }
    }
    Ok(())
}

fn hms(secs: u32) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

fn show_sources(s: &mut Stack, opts: &Opts) -> Result<(), ExitCode> {
    if let PfReply::Sources(v) = get(s, PfReq::GetSources, "DIOCGETSRCNODES")? {
        for n in &v {
            let raddr = n.raddr.map(|a| a.to_string()).unwrap_or_else(|| "0.0.0.0".into());
            println!(
                "{} -> {} ( states {}, connections {}, rate {}.{}/{}s )",
                n.addr,
                raddr,
                n.states,
                n.conn,
                n.conn_rate.0 / 1000,
                (n.conn_rate.0 % 1000) / 100,
                n.conn_rate.1
            );
            if opts.verbose > 0 {
                let mut l = format!("   age {}", hms(n.age));
                if n.states == 0 {
                    l.push_str(&format!(", expires in {}", hms(n.expires)));
                }
                l.push_str(&format!(
                    ", {} pkts, {} bytes",
                    n.packets[0] + n.packets[1],
                    n.bytes[0] + n.bytes[1]
                ));
                if let Some(r) = n.rule {
                    l.push_str(&format!(", filter rule {r}"));
                }
                println!("{l}");
            }
        }
    }
    Ok(())
}

/// print_status.
pub fn info_text(i: &PfInfo, verbose: bool) -> String {
    let mut o = String::new();
    let running = if i.running { "Enabled" } else { "Disabled" };
    let runtime = i.since.unwrap_or(0);
    let stat = match i.since {
        Some(secs) => {
            let (day, rest) = (secs / 86400, secs % 86400);
            format!(
                "Status: {running} for {day} days {:02}:{:02}:{:02}",
                rest / 3600,
                (rest / 60) % 60,
                rest % 60
            )
        }
        None => format!("Status: {running}"),
    };
    let debug = match i.debug {
        Debug::None => "Debug: None",
        Debug::Urgent => "Debug: Urgent",
        Debug::Misc => "Debug: Misc",
        Debug::Loud => "Debug: Loud",
    };
    o.push_str(&format!("{stat:<44}{debug:>15}\n\n"));
    if verbose {
        o.push_str(&format!("Hostid:   0x{:08x}\n", i.hostid));
        let hex: String = i.checksum.iter().map(|b| format!("{b:02x}")).collect();
        o.push_str(&format!("Checksum: 0x{hex}\n\n"));
    }
    if let Some(l) = &i.loginterface {
        o.push_str(&format!(
            "Interface Stats for {:<16} {:>5} {:>16}\n",
            l.name, "IPv4", "IPv6"
        ));
        o.push_str(&format!(
            "  {:<25} {:>14} {:>16}\n",
            "Bytes In", l.bytes[0][0], l.bytes[1][0]
        ));
        o.push_str(&format!(
            "  {:<25} {:>14} {:>16}\n",
            "Bytes Out", l.bytes[0][1], l.bytes[1][1]
        ));
        o.push_str("  Packets In\n");
        o.push_str(&format!(
            "    {:<23} {:>14} {:>16}\n",
            "Passed", l.packets[0][0][0], l.packets[1][0][0]
        ));
        o.push_str(&format!(
            "    {:<23} {:>14} {:>16}\n",
            "Blocked", l.packets[0][0][1], l.packets[1][0][1]
        ));
        o.push_str("  Packets Out\n");
        o.push_str(&format!(
            "    {:<23} {:>14} {:>16}\n",
            "Passed", l.packets[0][1][0], l.packets[1][1][0]
        ));
        o.push_str(&format!(
            "    {:<23} {:>14} {:>16}\n\n",
            "Blocked", l.packets[0][1][1], l.packets[1][1][1]
        ));
    }
    let rate = |v: u64| {
        if runtime > 0 {
            format!("{:>14.1}/s", v as f64 / runtime as f64)
        } else {
            format!("{:>14}", "")
        }
    };
    o.push_str(&format!("{:<27} {:>14} {:>16}\n", "State Table", "Total", "Rate"));
    o.push_str(&format!("  {:<25} {:>14} {:>14}\n", "current entries", i.states, ""));
    for (n, v) in ["searches", "inserts", "removals"].iter().zip(i.fcounters) {
        o.push_str(&format!("  {n:<25} {v:>14} {}\n", rate(v)));
    }
    if verbose {
        o.push_str("Source Tracking Table\n");
        o.push_str(&format!("  {:<25} {:>14} {:>14}\n", "current entries", i.src_nodes, ""));
        for (n, v) in ["searches", "inserts", "removals"].iter().zip(i.scounters) {
            o.push_str(&format!("  {n:<25} {v:>14} {}\n", rate(v)));
        }
    }
    o.push_str("Counters\n");
    for (k, n) in REASON_NAMES.iter().enumerate() {
        let v = i.counters.get(k).copied().unwrap_or(0);
        o.push_str(&format!("  {n:<25} {v:>14} {}\n", rate(v)));
    }
    if verbose {
        o.push_str("Limit Counters\n");
        for (k, n) in LCOUNTER_NAMES.iter().enumerate() {
            let v = i.lcounters.get(k).copied().unwrap_or(0);
            o.push_str(&format!("  {n:<25} {v:>14} {}\n", rate(v)));
        }
    }
    o
}

fn show_info(s: &mut Stack, opts: &Opts) -> Result<(), ExitCode> {
    if let PfReply::Info(i) = get(s, PfReq::GetInfo, "DIOCGETSTATUS")? {
        print!("{}", info_text(&i, opts.verbose > 0));
    }
    Ok(())
}

fn options(s: &mut Stack) -> Result<Options, ExitCode> {
    match get(s, PfReq::GetOptions, "DIOCGETTIMEOUT")? {
        PfReply::Options(o) => Ok(o),
        _ => Ok(Options::default()),
    }
}

/// `-s timeouts`: every timeout, the running value (pf's default if the stack left it out).
pub fn timeouts_text(o: &Options) -> String {
    let mut out = String::new();
    for t in Timeout::ALL {
        let v = o
            .timeouts
            .iter()
            .find(|(x, _)| *x == t)
            .map(|(_, v)| *v)
            .unwrap_or(t.default_value());
        out.push_str(&format!(
            "{:<20} {:>10}{}\n",
            t.name(),
            v,
            if t.is_adaptive() { " states" } else { "s" }
        ));
    }
    out
}

/// `-s memory`.
pub fn memory_text(o: &Options) -> String {
    let mut out = String::new();
    for l in Limit::ALL {
        let v = o
            .limits
            .iter()
            .find(|(x, _)| *x == l)
            .map(|(_, v)| *v)
            .unwrap_or(l.default_value());
        if v == u32::MAX {
            out.push_str(&format!("{:<13} unlimited\n", l.name()));
        } else {
            out.push_str(&format!("{:<13} hard limit {v:>8}\n", l.name()));
        }
    }
    out
}

fn show_timeouts(s: &mut Stack) -> Result<(), ExitCode> {
    print!("{}", timeouts_text(&options(s)?));
    Ok(())
}

fn show_memory(s: &mut Stack) -> Result<(), ExitCode> {
    print!("{}", memory_text(&options(s)?));
    Ok(())
}

/// ctime(3) in UTC: `Thu Jan  1 00:00:00 1970`.
pub fn ctime(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let wday = (days + 4).rem_euclid(7) as usize;
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        WD[wday],
        MO[(m - 1) as usize],
        d,
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        y
    )
}

/// The counters block of a table or an entry (`-s Tables -vv`, `-T show -v`).
pub fn print_table_stats(st: &TableStats, indent: &str) {
    println!("{indent}Cleared:     {}", ctime(st.cleared));
    for (name, dir, act) in [
        ("In/Block:", 0, 0),
        ("In/Pass:", 0, 1),
        ("Out/Block:", 1, 0),
        ("Out/Pass:", 1, 1),
    ] {
        println!(
            "{indent}{name:<12} [ Packets: {:<18} Bytes: {:<18} ]",
            st.packets[dir][act], st.bytes[dir][act]
        );
    }
}

fn show_tables(s: &mut Stack, opts: &Opts) -> Result<(), ExitCode> {
    let anchor = (!opts.anchor.is_empty()).then(|| opts.anchor.clone());
    if let PfReply::Tables(v) = get(s, PfReq::GetTables { anchor }, "DIOCRGETTABLES")? {
        for t in &v {
            if opts.verbose == 0 {
                println!("{}", t.name);
                continue;
            }
            let f = |bit: u32, c: char| if t.flags & bit != 0 { c } else { '-' };
            let mut line = format!(
                "{}{}{}{}{}{}\t{}",
                f(tflag::CONST, 'c'),
                f(tflag::PERSIST, 'p'),
                f(tflag::ACTIVE, 'a'),
                f(tflag::INACTIVE, 'i'),
                f(tflag::REFERENCED, 'r'),
                f(tflag::REFDANCHOR, 'h'),
                t.name
            );
            if !t.anchor.is_empty() {
                line.push('\t');
                line.push_str(&t.anchor);
            }
            println!("{line}");
            if opts.verbose > 1 {
                println!("\tAddresses:   {}", t.count);
                println!(
                    "\tReferences:  [ Anchors: {:<18} Rules: {:<18} ]",
                    t.anchor_refs, t.refs
                );
                println!(
                    "\tEvaluations: [ NoMatch: {:<18} Match: {:<18} ]",
                    t.stats.nomatch,
                    t.stats.packets.iter().flatten().sum::<u64>()
                );
                print_table_stats(&t.stats, "\t");
            }
        }
    }
    Ok(())
}

fn show_interfaces(s: &mut Stack, opts: &Opts) -> Result<(), ExitCode> {
    if let PfReply::Interfaces(v) = get(
        s,
        PfReq::GetInterfaces {
            ifname: opts.ifname.clone(),
        },
        "DIOCIGETIFACES",
    )? {
        for i in &v {
            if opts.verbose > 0 && i.skip {
                println!("{} (skip)", i.name);
            } else {
                println!("{}", i.name);
            }
            if opts.verbose > 1 {
                println!("\tCleared:     {}", ctime(i.cleared));
                println!("\tReferences:  [ States:  {:<18} Rules: {:<18} ]", i.states, i.rules);
                for k in 0..8 {
                    let (af, dir, act) = ((k >> 2) & 1, (k >> 1) & 1, k & 1);
                    let name = format!(
                        "{}{}/{}:",
                        if dir == 1 { "Out" } else { "In" },
                        if af == 1 { 6 } else { 4 },
                        if act == 1 { "Block" } else { "Pass" }
                    );
                    println!(
                        "\t{name:<12} [ Packets: {:<18} Bytes: {:<18} ]",
                        i.packets[af][dir][act], i.bytes[af][dir][act]
                    );
                }
            }
        }
    }
    Ok(())
}

fn show_queue(s: &mut Stack, opts: &Opts) -> Result<(), ExitCode> {
    let r = match s.pf(PfReq::GetQueues) {
        Err(e) if e.errno() == Some(libc::ENODEV) => {
            // pfctl_test_altqsupport: the stack has no ALTQ.
            if !opts.quiet {
                eprintln!("No ALTQ support in kernel\nALTQ related functions disabled");
            }
            return Ok(());
        }
        Err(e) => return Err(err(format!("DIOCGETALTQS: {e}"))),
        Ok(r) => r,
    };
    if let PfReply::Queues(q) = r {
        for a in &q.altq {
            println!("{}", print::altq_text(a));
            for (d, st) in q.queues.iter().filter(|(d, _)| d.ifname == a.ifname) {
                println!("{}", print::queue_text(d));
                if opts.verbose > 0 {
                    println!(
                        "  [ pkts: {:>10}  bytes: {:>10}  dropped pkts: {:>6} bytes: {:>6} ]",
                        st.packets, st.bytes, st.dropped_packets, st.dropped_bytes
                    );
                    println!("  [ qlength: {:>3}/{:>3} ]", st.qlength, st.qlimit);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_is_utc_ctime() {
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(1_700_000_000), "Tue Nov 14 22:13:20 2023");
    }

    #[test]
    fn timeouts_and_memory_layout() {
        let t = timeouts_text(&Options::default());
        assert!(t.starts_with("tcp.first                   120s\n"), "{t}");
        assert!(t.contains("adaptive.start             6000 states\n"), "{t}");
        let m = memory_text(&Options::default());
        assert!(m.starts_with("states        hard limit    10000\n"), "{m}");
    }

    #[test]
    fn info_block() {
        let i = PfInfo {
            running: true,
            since: Some(86400 + 3661),
            states: 2,
            counters: vec![5; REASON_NAMES.len()],
            ..PfInfo::default()
        };
        let t = info_text(&i, false);
        let first = t.lines().next().unwrap();
        assert_eq!(first, "Status: Enabled for 1 days 01:01:01           Debug: Urgent");
        assert!(
            t.contains("State Table                          Total             Rate\n"),
            "{t}"
        );
        assert!(
            t.contains("  current entries                        2               \n"),
            "{t}"
        );
        assert!(
            t.contains("  match                                  5            0.0/s\n"),
            "{t}"
        );
    }
}
