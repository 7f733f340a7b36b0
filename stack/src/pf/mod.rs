//! PF, the packet filter (OpenBSD 4.2's, as NetBSD carries it): a module the stack loads
//! with `io-pkt -p pf` (or `pf-v4`, `pf-v6`, the names of QNX's lsm-pf modules). Attached,
//! it registers its test on the pfil hooks of each family (`net/pfil.rs`) and creates
//! `pflog0`; the rest of the stack never names it. It starts disabled with an empty
//! ruleset, as pf does.
//!
//! - `pkt.rs`: what PF reads of a packet (`pf_pdesc`);
//! - `state.rs`: the state table and TCP window tracking;
//! - `nat.rs`: rewriting with incremental checksum updates;
//! - here: `pf_test`, state matching (ICMP errors to the state they quote included), the
//!   translation a state carries, the counters of `pfctl -s info`, expiry, pflog.

pub mod ioctl;
pub mod nat;
pub mod pkt;
pub mod rules;
pub mod state;
pub mod table;

use std::sync::Arc;
use std::time::Instant;

use pktbox_drivers::Csum;

use crate::conf::Ctx;
use crate::net::ifnet::{inc, Dst, Ifnet};
use crate::net::pfil::{pfil_add_hook, Dir, Family, Verdict};
use crate::sys::callout::Timer;
use crate::sys::domain::{always, Domain, Module, Protosw};
use crate::sys::mbuf::Mbuf;
use crate::sys::Stack;
use nat::{rd16, rd32, set16, set32, set_bytes, Ck, Kind};
use pkt::{Addr, Af, Pd, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use state::{Host, Key, State, StateTable, TcpVerdict, Tm, TM_COUNT, TM_DEFAULTS};

/// Why a packet was dropped or how it matched (`PFRES_*`), in `pfctl -s info` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Reason {
    Match,
    BadOffset,
    Fragment,
    Short,
    Normalize,
    Memory,
    BadTimestamp,
    Congestion,
    IpOption,
    ProtoCksum,
    StateMismatch,
    StateInsert,
    StateLimit,
    SrcLimit,
    Synproxy,
}

pub const REASON_COUNT: usize = Reason::Synproxy as usize + 1;

/// The PF module's state in the stack context.
pub struct Pf {
    /// Loaded (`-p pf`): without it the control requests answer ENOENT.
    pub attached: bool,
    /// `pfctl -e`.
    pub enabled: bool,
    /// When PF was last enabled or disabled (`Status: Enabled for ...`).
    pub since: Instant,
    /// The clock states count their seconds from.
    start: Instant,
    pub states: StateTable,
    pub timeouts: [u32; TM_COUNT],
    /// The `Counters` block of `-s info`, by reason.
    pub counters: [u64; REASON_COUNT],
    /// Packets passed and dropped, per family, per direction: `[af][dir][pass, drop]`.
    pub pcounters: [[[u64; 2]; 2]; 2],
    /// Bytes per family and direction.
    pub bcounters: [[u64; 2]; 2],
    /// `set skip on`: interfaces (or groups) PF does not look at.
    pub skip: Vec<String>,
    /// The pflog0 interface, when attached.
    pub pflog: Option<Arc<Ifnet>>,
    /// `set hostid`.
    pub hostid: u32,
    /// The loaded rules and tables.
    pub rules: rules::Rules,
    /// Bumped by every load: a state counts against its rule only while this matches.
    pub rules_gen: u32,
    /// Round-robin position of the translation pools.
    rr: usize,
    /// `set limit` values (states is `states.limit`).
    pub limits: Vec<(crate::msg::pf::Limit, u32)>,
    pub debug: crate::msg::pf::Debug,
    pub loginterface: Option<String>,
    /// The limit counters of `-s info -v` (`LCOUNTER_NAMES`).
    pub lcounters: [u64; 7],
    /// While PF sends a packet of its own (a RST, an ICMP error): it passes unfiltered.
    sending: bool,
    /// The open chunked load (`PfReq::LoadBegin`): its ticket and what has come so far.
    pub xact: Option<(u32, crate::msg::pf::LoadReq)>,
    /// The last ticket handed out.
    pub xact_ticket: u32,
}

impl Default for Pf {
    fn default() -> Pf {
        let now = Instant::now();
        Pf {
            attached: false,
            enabled: false,
            since: now,
            start: now,
            states: StateTable::default(),
            timeouts: TM_DEFAULTS,
            counters: [0; REASON_COUNT],
            pcounters: [[[0; 2]; 2]; 2],
            bcounters: [[0; 2]; 2],
            skip: Vec::new(),
            pflog: None,
            hostid: crate::sys::random::os_u64() as u32,
            rules: rules::Rules::default(),
            rules_gen: 0,
            rr: 0,
            limits: crate::msg::pf::Limit::ALL
                .iter()
                .map(|l| (*l, l.default_value()))
                .collect(),
            debug: crate::msg::pf::Debug::Urgent,
            loginterface: None,
            lcounters: [0; 7],
            sending: false,
            xact: None,
            xact_ticket: 0,
        }
    }
}

impl Pf {
    /// Seconds since PF was attached: the clock of state creation and expiry.
    pub fn now(&self) -> u32 {
        self.start.elapsed().as_secs().min(u64::from(u32::MAX)) as u32
    }

    /// Enables or disables filtering (`pfctl -e`/`-d`): EEXIST when already enabled,
    /// ENOENT when not enabled, as DIOCSTART/DIOCSTOP answer.
    pub fn set_enabled(&mut self, on: bool) -> Result<(), i32> {
        match (self.enabled, on) {
            (true, true) => Err(libc::EEXIST),
            (false, false) => Err(libc::ENOENT),
            _ => {
                self.enabled = on;
                self.since = Instant::now();
                Ok(())
            }
        }
    }

    fn count(&mut self, r: Reason) {
        self.counters[r as usize] += 1;
    }
}

/// The PF domain: its expiry timer (pf's purge thread). Present in every variant; it does
/// nothing until the module is attached.
pub static PF: Domain = Domain {
    name: "pf",
    family: 0,
    present: always,
    init: None,
    loopback: None,
    protosw: &[Protosw {
        name: "pf",
        timers: &[Timer {
            name: "pf_purge",
            period: Some(std::time::Duration::from_secs(1)),
            run: |c| {
                pf_purge(c);
                None
            },
            planned: None,
        }],
        ..Protosw::EMPTY
    }],
};

/// The module `-p pf` loads.
pub static PF_MODULE: Module = Module {
    names: &["pf", "pf-v4", "pf-v6"],
    attach: pf_attach,
};

/// The MTU pflog interfaces report (NetBSD's PFLOGMTU).
pub const PFLOGMTU: u32 = 33224;

/// Attaches PF: its test on each family's hooks, and pflog0.
fn pf_attach(ctx: &mut Ctx, stack: &Stack, name: &str) -> Result<(), String> {
    if name == "pf-v6" && !stack.variant.has_inet6() {
        return Err(format!("-p {name}: {}", stack.variant.lacks("IPv6")));
    }
    if ctx.pf.attached {
        return Err(format!("-p {name}: pf is loaded already"));
    }
    pfil_add_hook(ctx, Family::Inet, "pf", pf_check4)
        .map_err(|e| format!("-p {name}: {}", crate::msg::errno::strerror(e)))?;
    if stack.variant.has_inet6() {
        pfil_add_hook(ctx, Family::Inet6, "pf", pf_check6)
            .map_err(|e| format!("-p {name}: {}", crate::msg::errno::strerror(e)))?;
    }
    let idx = crate::net::if_control::next_index(ctx);
    let ifp = Ifnet::pseudo(idx, "pflog0".into(), crate::msg::IFT_PFLOG, PFLOGMTU, pflog_output);
    let ifp =
        crate::net::if_control::if_attach(ctx, ifp).map_err(|f| format!("pflog0: {}", f.text.unwrap_or_default()))?;
    let pf = &mut ctx.pf;
    pf.attached = true;
    pf.pflog = Some(ifp);
    pf.start = Instant::now();
    pf.since = pf.start;
    Ok(())
}

/// pflog0's `if_output`: nothing is sent through a log interface (pflogoutput).
fn pflog_output(_: &mut Ctx, _: &Ifnet, _: Mbuf, _: Dst) -> Result<(), i32> {
    Ok(())
}

/// The expiry pass of each second: a tenth of the table (by `interval`), so each state
/// is looked at every `interval` seconds.
pub fn pf_purge(ctx: &mut Ctx) {
    let pf = &mut ctx.pf;
    if !pf.attached || pf.states.is_empty() {
        return;
    }
    let now = pf.now();
    let interval = pf.timeouts[Tm::Interval as usize].max(1) as usize;
    let n = 1 + pf.states.len() as usize / interval;
    let tm = pf.timeouts;
    let gen = pf.rules_gen;
    let rules = &mut pf.rules;
    pf.states.purge(now, n, &tm, |s| {
        // The rule that made it counts one state less.
        if let (Some(i), true) = (s.rule, s.rule_gen == gen) {
            if let Some(r) = rules.main.filter.get_mut(i as usize) {
                r.def.counters.states = r.def.counters.states.saturating_sub(1);
            }
        }
    });
}

fn pf_check4(ctx: &mut Ctx, m: Mbuf, ifp: &Ifnet, dir: Dir) -> Verdict {
    pf_test(ctx, Af::Inet, dir, ifp, m)
}

fn pf_check6(ctx: &mut Ctx, m: Mbuf, ifp: &Ifnet, dir: Dir) -> Verdict {
    pf_test(ctx, Af::Inet6, dir, ifp, m)
}

/// What a state lookup said.
enum Found {
    /// A state took the packet (and translated it): pass.
    Pass(u32),
    /// A state refused it: drop, with this reason.
    Drop(Reason),
    /// No state: the rules decide.
    None,
}

/// PF's test of one packet going `dir` on `ifp` (pf_test / pf_test6).
pub fn pf_test(ctx: &mut Ctx, af: Af, dir: Dir, ifp: &Ifnet, mut m: Mbuf) -> Verdict {
    let pf = &mut ctx.pf;
    if !pf.enabled || pf.sending || skipped(&pf.skip, &ifp.name) {
        return Verdict::Pass(m);
    }
    let di = usize::from(dir == Dir::Out);
    let ai = usize::from(af == Af::Inet6);
    let parsed = match af {
        Af::Inet => pkt::parse4(m.as_slice()),
        Af::Inet6 => pkt::parse6(m.as_slice()),
    };
    let pd = match parsed {
        Ok(pd) => pd,
        Err(r) => {
            pf.count(r);
            pf.pcounters[ai][di][1] += 1;
            return Verdict::Drop(libc::EHOSTUNREACH);
        }
    };
    let len = pd.tot_len as u64;
    if !pf.rules.main.scrub.is_empty() {
        if let Err(r) = scrub(pf, &pd, dir, ifp, &mut m) {
            pf.count(r);
            pf.pcounters[ai][di][1] += 1;
            return Verdict::Drop(libc::EHOSTUNREACH);
        }
    }
    let found = pf_test_state(pf, &pd, dir, &mut m);
    let pass = match found {
        Found::Pass(id) if has_ip_options(&pd) && !pf.states.get(id).is_some_and(|s| s.allow_opts) => {
            let rn = pf.states.get(id).and_then(|s| s.rule).unwrap_or(u32::MAX);
            pf.count(Reason::IpOption);
            pflog_packet(ctx, ifp, &m, af, dir, crate::wire::pflog::PF_DROP, Reason::IpOption, rn);
            false
        }
        Found::Pass(id) => {
            let logged = pf.states.get(id).filter(|s| s.log).map(|s| s.rule.unwrap_or(u32::MAX));
            if let Some(qid) = pf.states.get(id).map(|s| s.qid) {
                m.qid = qid;
            }
            if let Some(rn) = logged {
                pflog_packet(ctx, ifp, &m, af, dir, crate::wire::pflog::PF_PASS, Reason::Match, rn);
            }
            true
        }
        Found::Drop(r) => {
            pf.count(r);
            false
        }
        Found::None => match pf_test_rule(ctx, &pd, dir, ifp, &mut m) {
            Ok(()) => true,
            Err(()) => false,
        },
    };
    let pf = &mut ctx.pf;
    pf.pcounters[ai][di][usize::from(!pass)] += 1;
    if pass {
        pf.bcounters[ai][di] += len;
        Verdict::Pass(m)
    } else {
        Verdict::Drop(libc::EHOSTUNREACH)
    }
}

/// Normalization (pf_normalize_ip, pf_normalize_tcp): the first matching `scrub` rule
/// clears DF (`no-df`), gives a new IP id (`random-id`), raises the TTL or hop limit
/// (`min-ttl`) and lowers the MSS a SYN offers (`max-mss`), each with its checksums
/// updated. `no scrub` stops the search. Fragments are not reassembled here: they pass
/// on to the rules as fragments.
fn scrub(pf: &mut Pf, pd: &Pd, dir: Dir, ifp: &Ifnet, m: &mut Mbuf) -> Result<(), Reason> {
    struct NoIfa;
    impl rules::IfAddrs for NoIfa {
        fn addrs(&self, _: &str, _: Af) -> Vec<(Addr, u8)> {
            Vec::new()
        }
        fn route_if(&self, _: Af, _: Addr) -> Option<u16> {
            None
        }
    }
    let Some(r) = rules::scrub_match(&pf.rules, &NoIfa, pd, dir, &ifp.name, ifp.index) else {
        return Ok(());
    };
    let def = &pf.rules.main.scrub[r].def;
    if def.no {
        return Ok(());
    }
    let (no_df, random_id, min_ttl, max_mss) = (def.no_df, def.random_id, def.min_ttl, def.max_mss);
    let p = m.as_mut_slice();
    if pd.af == Af::Inet {
        let ipck = [Ck::full(10)];
        let off = rd16(p, 6);
        if no_df && off & 0x4000 != 0 {
            set16(p, 6, off & !0x4000, &ipck, None);
        }
        if random_id && off & 0x3fff == 0 {
            set16(p, 4, crate::sys::random::os_u64() as u16, &ipck, None);
        }
        if let Some(t) = min_ttl {
            if p[8] < t {
                let w = rd16(p, 8);
                set16(p, 8, (u16::from(t) << 8) | (w & 0xff), &ipck, None);
            }
        }
    } else if let Some(t) = min_ttl {
        if p[7] < t {
            p[7] = t;
        }
    }
    if let Some(mss) = max_mss {
        if pd.proto == IPPROTO_TCP && !pd.frag && pd.tcp.flags & crate::wire::tcp::TH_SYN != 0 {
            let ck = l4_ck(pd, m);
            let p = m.as_mut_slice();
            clamp_mss(p, pd.off, pd.tcp.hlen, mss, ck);
        }
    }
    pf.rules.main.scrub[r].def.counters.packets[usize::from(dir == Dir::Out)] += 1;
    Ok(())
}

/// Lowers the MSS option of a TCP header at `off` to `mss`.
fn clamp_mss(p: &mut [u8], off: usize, hlen: usize, mss: u16, ck: Option<Ck>) {
    let mut i = off + 20;
    let end = off + hlen;
    while i < end {
        match p[i] {
            0 => break,
            1 => i += 1,
            kind => {
                if i + 1 >= end {
                    break;
                }
                let len = usize::from(p[i + 1]);
                if len < 2 || i + len > end {
                    break;
                }
                if kind == 2 && len == 4 && rd16(p, i + 2) > mss {
                    let c = ck.filter(|c| c.kind != Kind::Partial);
                    // The option's word may sit at an odd offset from the header: the
                    // checksum covers 16-bit words from the header's start.
                    if (i + 2 - off).is_multiple_of(2) {
                        set16(p, i + 2, mss, c.as_slice(), None);
                    } else {
                        let old = [p[i + 1], p[i + 2], p[i + 3], p[i + 4]];
                        let mut new = old;
                        new[1..3].copy_from_slice(&mss.to_be_bytes());
                        set_bytes(p, i + 1, &new, c.as_slice(), None);
                    }
                }
                i += len;
            }
        }
    }
}

/// `set skip on`: an interface named, or its group (driver name).
fn skipped(skip: &[String], name: &str) -> bool {
    if skip.is_empty() {
        return false;
    }
    let group = name.trim_end_matches(|c: char| c.is_ascii_digit());
    skip.iter().any(|s| s == name || s == group)
}

/// The interface addresses and routes `(if)`, `no-route` and `urpf-failed` read.
struct View<'a> {
    ifnets: &'a [Arc<Ifnet>],
    inet: &'a [crate::inet::InIfaddr],
    inet6: &'a [crate::inet6::In6Ifaddr],
    rt: &'a crate::net::route::Rib,
}

impl rules::IfAddrs for View<'_> {
    fn addrs(&self, ifname: &str, af: Af) -> Vec<(Addr, u8)> {
        let Some(ifp) = self.ifnets.iter().find(|i| i.name == ifname) else {
            return Vec::new();
        };
        match af {
            Af::Inet => self
                .inet
                .iter()
                .filter(|a| a.ifindex == ifp.index)
                .map(|a| (Addr::v4(a.addr), u32::from(a.mask).leading_ones() as u8))
                .collect(),
            Af::Inet6 => self
                .inet6
                .iter()
                .filter(|a| a.ifindex == ifp.index && !crate::wire::ipv6::addr::is_link_local(&a.addr))
                .map(|a| (Addr::v6(a.addr), a.prefixlen))
                .collect(),
        }
    }

    fn route_if(&self, af: Af, a: Addr) -> Option<u16> {
        match af {
            Af::Inet => self
                .rt
                .inet
                .lookup(std::net::Ipv4Addr::from(a.0 as u32))
                .map(|r| r.ifindex),
            Af::Inet6 => self.rt.inet6.lookup(std::net::Ipv6Addr::from(a.0)).map(|r| r.ifindex),
        }
    }
}

/// The packet after a translation: the end that changed.
fn translated(pd: &Pd, t: &rules::Translation) -> Pd {
    let mut q = *pd;
    if t.src_side {
        q.src = t.addr;
        if q.sport != 0 || matches!(pd.proto, IPPROTO_TCP | IPPROTO_UDP) {
            q.sport = t.port;
        }
        if pd.icmp_query {
            q.dport = t.port;
        }
    } else {
        q.dst = t.addr;
        if matches!(pd.proto, IPPROTO_TCP | IPPROTO_UDP) {
            q.dport = t.port;
        }
    }
    q
}

/// The rules for a packet no state has (pf_test_rule): translation, then the filter
/// rules on the translated packet; a pass that keeps state (or was translated) makes a
/// state; a block may answer (return-rst, return-icmp); `log` copies to pflog0.
fn pf_test_rule(ctx: &mut Ctx, pd: &Pd, dir: Dir, ifp: &Ifnet, m: &mut Mbuf) -> Result<(), ()> {
    let Ctx {
        pf,
        ifnets,
        inet,
        inet6,
        rt,
        ..
    } = ctx;
    let view = View {
        ifnets,
        inet: &inet.addrs,
        inet6: &inet6.addrs,
        rt,
    };
    let c = rules::Ctx4 {
        pd,
        dir,
        ifname: &ifp.name,
        ifindex: ifp.index,
        tag: 0,
    };
    let pf: &mut Pf = pf;
    let states = &mut pf.states;
    let tr = rules::translate(&mut pf.rules, &view, &c, &mut pf.rr, |addr, port| {
        // The translated source must not collide with a state already there.
        let ext = Host {
            addr: pd.dst,
            port: if pd.icmp_query { 0 } else { pd.dport },
        };
        let gwy = Host { addr, port };
        states.find(&Key::new(pd.af, pd.proto, ext, gwy), Dir::In).is_none()
    });
    let npd = tr.as_ref().map(|t| translated(pd, t)).unwrap_or(*pd);
    let tag = tr.as_ref().map(|t| t.tag).unwrap_or(0);
    let decision = if tr.as_ref().is_some_and(|t| t.pass) {
        None
    } else {
        let c2 = rules::Ctx4 { pd: &npd, tag, ..c };
        Some(rules::eval_filter(&mut pf.rules, &view, &c2))
    };
    let rule = decision.as_ref().and_then(|d| d.rule.clone());
    let gen = pf.rules_gen;
    let r = rule.as_ref().and_then(|(a, i)| rule_mut(&mut pf.rules, a, *i));
    let modulate = r
        .as_ref()
        .is_some_and(|r| r.def.state == crate::msg::pf::StateKind::Modulate);
    let allow_opts = r.as_ref().is_some_and(|r| r.def.allow_opts);
    let (action, keep, log, how, qid, rnr, rtag, max_states) = match r {
        Some(r) => {
            r.def.counters.packets[usize::from(dir == Dir::Out)] += 1;
            r.def.counters.bytes[usize::from(dir == Dir::Out)] += pd.tot_len as u64;
            (
                r.def.action,
                rules::keeps_state(&r.def),
                r.def.log.clone(),
                r.def.block,
                r.qid,
                r.def.nr,
                r.tag,
                r.def.state_opts.max,
            )
        }
        // The default rule: pass, no state.
        None => (
            crate::msg::pf::Action::Pass,
            false,
            None,
            crate::msg::pf::BlockHow::Drop,
            0,
            u32::MAX,
            0,
            None,
        ),
    };
    let _ = rtag;
    pf.count(Reason::Match);
    if action == crate::msg::pf::Action::Block {
        if log.is_some() {
            pflog_packet(ctx, ifp, m, pd.af, dir, crate::wire::pflog::PF_DROP, Reason::Match, rnr);
        }
        block_return(ctx, pd, dir, ifp, m, how);
        return Err(());
    }
    // pf drops an IPv4 packet with options that a rule without `allow-opts` (the default
    // rule included) would pass, and always logs it.
    if has_ip_options(pd) && !allow_opts {
        ctx.pf.count(Reason::IpOption);
        pflog_packet(
            ctx,
            ifp,
            m,
            pd.af,
            dir,
            crate::wire::pflog::PF_DROP,
            Reason::IpOption,
            rnr,
        );
        return Err(());
    }
    // Pass: apply the translation to the packet.
    let ck = l4_ck(pd, m);
    if let Some(t) = &tr {
        let h = Host {
            addr: t.addr,
            port: t.port,
        };
        rewrite_end(m.as_mut_slice(), pd, ck, t.src_side, h);
    }
    m.qid = qid;
    let pf = &mut ctx.pf;
    if keep || tr.is_some() {
        let (spd, gwy) = match (&tr, dir) {
            // lan is the original source, gwy what it became.
            (Some(t), Dir::Out) => (
                *pd,
                Some(Host {
                    addr: t.addr,
                    port: t.port,
                }),
            ),
            // lan is the translated destination, gwy the original one.
            (Some(_), Dir::In) => (
                npd,
                Some(Host {
                    addr: pd.dst,
                    port: pd.dport,
                }),
            ),
            (None, _) => (*pd, None),
        };
        if let (Some(max), Some(r)) = (
            max_states,
            rule.as_ref().and_then(|(a, i)| rule_mut(&mut pf.rules, a, *i)),
        ) {
            if r.def.counters.states >= max {
                pf.lcounters[0] += 1;
                pf.count(Reason::StateLimit);
                return Err(());
            }
        }
        match state_insert(pf, &spd, dir, gwy, m) {
            Ok(id) => {
                let main_rule = rule.as_ref().filter(|(a, _)| a.is_empty()).map(|(_, i)| *i as u32);
                if let Some(s) = pf.states.get_mut(id) {
                    s.rule = rule.as_ref().map(|(_, i)| *i as u32);
                    s.rule_gen = if main_rule.is_some() { gen } else { u32::MAX };
                    s.nat_rule = tr.as_ref().map(|t| t.rule.1 as u32);
                    s.log = log.as_ref().is_some_and(|l| l.all);
                    s.allow_opts = allow_opts;
                    s.tag = tag;
                    s.qid = qid;
                }
                if let Some(r) = rule.as_ref().and_then(|(a, i)| rule_mut(&mut pf.rules, a, *i)) {
                    r.def.counters.states += 1;
                }
                if modulate && pd.proto == IPPROTO_TCP && pd.tcp.flags & crate::wire::tcp::TH_SYN != 0 {
                    // `modulate state`: the creator's sequence numbers move by a random
                    // amount, so its ISN cannot be guessed from outside.
                    let diff = (crate::sys::random::os_u64() as u32).max(1);
                    if let Some(s) = pf.states.get_mut(id) {
                        s.src.seqdiff = diff;
                    }
                    let c = l4_ck(pd, m).filter(|c| c.kind != Kind::Partial);
                    set32(
                        m.as_mut_slice(),
                        pd.off + 4,
                        pd.tcp.seq.wrapping_add(diff),
                        c.as_slice(),
                    );
                }
            }
            Err(reason) => {
                pf.count(reason);
                return Err(());
            }
        }
    }
    if log.is_some() {
        pflog_packet(ctx, ifp, m, pd.af, dir, crate::wire::pflog::PF_PASS, Reason::Match, rnr);
    }
    Ok(())
}

/// An IPv4 header longer than 20 bytes carries options (pf checks only IPv4's).
fn has_ip_options(pd: &Pd) -> bool {
    pd.af == Af::Inet && pd.off > 20
}

/// The rule at `i` of the ruleset `anchor` ("" the main one).
fn rule_mut<'a>(rules: &'a mut rules::Rules, anchor: &str, i: usize) -> Option<&'a mut rules::CRule> {
    if anchor.is_empty() {
        rules.main.filter.get_mut(i)
    } else {
        rules.anchors.get_mut(anchor).and_then(|rs| rs.filter.get_mut(i))
    }
}

/// A blocked packet's answer (pf_send_tcp, pf_send_icmp): a RST for TCP under
/// `return`/`return-rst`, an ICMP unreachable (port, or the code given) otherwise. Never
/// for a RST, nor for what is sent to a broadcast or multicast address.
fn block_return(ctx: &mut Ctx, pd: &Pd, dir: Dir, ifp: &Ifnet, m: &Mbuf, how: crate::msg::pf::BlockHow) {
    use crate::msg::pf::BlockHow;
    let tcp = pd.proto == IPPROTO_TCP && !pd.frag;
    let rst = match how {
        BlockHow::Drop => return,
        BlockHow::Return => tcp,
        BlockHow::ReturnRst { .. } => {
            if !tcp {
                return;
            }
            true
        }
        BlockHow::ReturnIcmp { .. } | BlockHow::ReturnIcmp6 { .. } => false,
    };
    let _ = dir;
    ctx.pf.sending = true;
    if rst {
        if pd.tcp.flags & crate::wire::tcp::TH_RST == 0 {
            let t = &pd.tcp;
            let seg = t.dlen
                + u32::from(t.flags & crate::wire::tcp::TH_SYN != 0)
                + u32::from(t.flags & crate::wire::tcp::TH_FIN != 0);
            let (with_ack, seq, ack) = if t.flags & crate::wire::tcp::TH_ACK != 0 {
                (false, t.ack, 0)
            } else {
                (true, 0, t.seq.wrapping_add(seg))
            };
            let key = (pd.dst.to_ip(pd.af), pd.dport, pd.src.to_ip(pd.af), pd.sport);
            crate::inet::tcp::output::send_rst(ctx, key, seq, ack, with_ack);
        }
    } else if let Some(ifa) = ctx.ifnet_by_index(ifp.index).cloned() {
        let pkt = &m.as_slice()[..pd.tot_len];
        match pd.af {
            Af::Inet => {
                let code = match how {
                    BlockHow::ReturnIcmp { code: Some(c), .. } => c,
                    _ => crate::wire::icmp::UNREACH_PORT,
                };
                crate::inet::icmp::icmp_error(ctx, Some(&ifa), pkt, crate::wire::icmp::ICMP_UNREACH, code, 0, false);
            }
            Af::Inet6 => {
                let code = match how {
                    BlockHow::ReturnIcmp { code6: Some(c), .. } | BlockHow::ReturnIcmp6 { code6: Some(c) } => c,
                    _ => 4,
                };
                crate::inet6::icmp6::icmp6_error(ctx, &ifa, pkt, 1, code, 0);
            }
        }
    }
    ctx.pf.sending = false;
}

/// How the transport checksum of `pd` is held in `m` (a partial one from the offload
/// metadata, a UDP/IPv4 one that may be absent).
fn l4_ck(pd: &Pd, m: &Mbuf) -> Option<Ck> {
    let at = pd.l4_ck()?;
    let kind = match m.meta().csum {
        Csum::Partial { start, offset } if usize::from(start) + usize::from(offset) == at => Kind::Partial,
        _ if pd.proto == IPPROTO_UDP && pd.af == Af::Inet => Kind::Udp,
        _ => Kind::Full,
    };
    Some(Ck { at, kind })
}

/// Rewrites one end of a packet (`src` or destination) to `h`: the address (carried into
/// the IP header checksum and, when it has a pseudo-header, the transport checksum) and
/// the port or ICMP query id (carried into the transport checksum, unless that is left to
/// the interface, whose sum reads the new port).
pub fn rewrite_end(p: &mut [u8], pd: &Pd, ck: Option<Ck>, src: bool, h: Host) {
    let mut direct: [Ck; 2] = [Ck::full(0); 2];
    let mut n = 0;
    if let Some(c) = pd.ip_ck {
        direct[n] = Ck::full(c);
        n += 1;
    }
    if let Some(c) = ck.filter(|_| pd.l4_pseudo()) {
        direct[n] = c;
        n += 1;
    }
    let mut b = [0u8; 16];
    let at = if src { pd.src_at } else { pd.dst_at };
    set_bytes(p, at, h.addr.bytes(pd.af, &mut b), &direct[..n], None);
    if pd.frag {
        return;
    }
    let port_ck = ck.filter(|c| c.kind != Kind::Partial);
    let port_ck = port_ck.as_slice();
    match pd.proto {
        IPPROTO_TCP | IPPROTO_UDP => {
            let at = pd.off + if src { 0 } else { 2 };
            set16(p, at, h.port, port_ck, None);
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 if pd.icmp_query && h.port != 0 => {
            set16(p, pd.off + 4, h.port, port_ck, None);
        }
        _ => {}
    }
}

/// Looks the packet up in the state table and, when a state has it, tracks it and applies
/// the state's translation.
fn pf_test_state(pf: &mut Pf, pd: &Pd, dir: Dir, m: &mut Mbuf) -> Found {
    if pd.frag {
        // Fragments carry no ports: they are for the rules (and scrub) to decide.
        return Found::None;
    }
    if matches!(pd.proto, IPPROTO_ICMP | IPPROTO_ICMPV6) && !pd.icmp_query {
        let want = if pd.af == Af::Inet {
            IPPROTO_ICMP
        } else {
            IPPROTO_ICMPV6
        };
        if pd.proto == want && pkt::icmp_is_error(pd.af, pd.icmp_type) {
            return icmp_error_state(pf, pd, dir, m);
        }
    }
    let key = Key::for_packet(pd, dir);
    let Some(id) = pf.states.find(&key, dir) else {
        return Found::None;
    };
    let now = pf.now();
    let ck = l4_ck(pd, m);
    let Some(s) = pf.states.get_mut(id) else {
        return Found::None;
    };
    let fwd = s.direction == dir;
    match pd.proto {
        IPPROTO_TCP => {
            let mut t = pd.tcp;
            let (seqdiff_src, seqdiff_dst) = if fwd {
                (s.src.seqdiff, s.dst.seqdiff)
            } else {
                (s.dst.seqdiff, s.src.seqdiff)
            };
            // The acknowledgment in the other side's own numbering.
            if seqdiff_dst != 0 && t.flags & crate::wire::tcp::TH_ACK != 0 {
                t.ack = t.ack.wrapping_sub(seqdiff_dst);
            }
            let ws = if t.flags & crate::wire::tcp::TH_SYN != 0 {
                state::syn_wscale(&m.as_slice()[pd.off + 20..pd.off + t.hlen])
            } else {
                0
            };
            match state::tcp_track(s, fwd, &t, ws, now) {
                TcpVerdict::Pass => {}
                TcpVerdict::Bad => return Found::Drop(Reason::StateMismatch),
                TcpVerdict::Reopen => {
                    pf.states.remove(id);
                    return Found::None;
                }
            }
            if seqdiff_src != 0 || seqdiff_dst != 0 {
                let p = m.as_mut_slice();
                let c: &[Ck] = match &ck {
                    Some(c) if c.kind != Kind::Partial => std::slice::from_ref(c),
                    _ => &[],
                };
                set32(p, pd.off + 4, pd.tcp.seq.wrapping_add(seqdiff_src), c);
                set32(p, pd.off + 8, t.ack, c);
            }
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            s.timeout = Tm::IcmpError;
            s.expire = now;
        }
        _ => state::udp_track(s, fwd, now),
    }
    let side = usize::from(!fwd);
    s.packets[side] += 1;
    s.bytes[side] += pd.tot_len as u64;
    // The translation the state carries: outbound the source becomes gwy, inbound the
    // destination becomes lan.
    if s.lan != s.gwy {
        let (lan, gwy) = (s.lan, s.gwy);
        match dir {
            Dir::Out => rewrite_end(m.as_mut_slice(), pd, ck, true, gwy),
            Dir::In => rewrite_end(m.as_mut_slice(), pd, ck, false, lan),
        }
    }
    Found::Pass(id)
}

/// An ICMP error: the state of the packet it quotes decides (pf_test_state_icmp). The
/// quoted packet went the other way, so its source is our destination. A TCP quote must
/// lie in that state's window; a quote that matches no state goes to the rules.
fn icmp_error_state(pf: &mut Pf, pd: &Pd, dir: Dir, m: &mut Mbuf) -> Found {
    let o2 = pd.off + 8;
    let p = m.as_slice();
    let inner = match pd.af {
        Af::Inet => quoted4(&p[o2.min(pd.tot_len)..pd.tot_len]),
        Af::Inet6 => quoted6(&p[o2.min(pd.tot_len)..pd.tot_len]),
    };
    let Some(q) = inner else {
        return Found::Drop(Reason::Short);
    };
    // The quote's source and destination as the state's key orders them: an error coming
    // in quotes a packet that went out (its src is gwy, its dst ext), and the other way.
    let (a, b) = (
        Host {
            addr: q.pd.src,
            port: q.pd.sport,
        },
        Host {
            addr: q.pd.dst,
            port: q.pd.dport,
        },
    );
    let key = match dir {
        // ext-gwy: (ext, gwy) = (the quote's destination, its source).
        Dir::In => Key::new(pd.af, q.pd.proto, swap_icmp(b, q.pd.icmp_query), a),
        // lan-ext: (lan, ext) = (the quote's destination, its source).
        Dir::Out => Key::new(pd.af, q.pd.proto, b, swap_icmp(a, q.pd.icmp_query)),
    };
    let Some(id) = pf.states.find(&key, dir) else {
        return Found::None;
    };
    let Some(s) = pf.states.get_mut(id) else {
        return Found::None;
    };
    if q.pd.proto == IPPROTO_TCP {
        // The quoted segment was sent by the peer our error's destination is.
        let fwd = s.direction != dir;
        let (src, dst) = if fwd { (&s.src, &s.dst) } else { (&s.dst, &s.src) };
        let seq = q.seq.wrapping_sub(src.seqdiff);
        let dws = if src.wscale & state::WSCALE_FLAG != 0 && dst.wscale & state::WSCALE_FLAG != 0 {
            dst.wscale & state::WSCALE_MASK
        } else {
            0
        };
        let lo = src.seqlo.wrapping_sub((u32::from(dst.max_win) << dws).max(1));
        let ge = |a: u32, b: u32| (a.wrapping_sub(b) as i32) >= 0;
        if !(ge(src.seqhi, seq) && ge(seq, lo)) {
            return Found::Drop(Reason::StateMismatch);
        }
    }
    s.packets[usize::from(s.direction != dir)] += 1;
    // Translate: the outer address on our side and the quote's matching end.
    if s.lan != s.gwy {
        let (lan, gwy) = (s.lan, s.gwy);
        let ck = l4_ck(pd, m);
        let p = m.as_mut_slice();
        let outer = ck.map(|c| Ck { kind: Kind::Full, ..c });
        let (qsrc, outer_h) = match dir {
            // Coming in: the quote went out from lan as gwy; its source goes back to lan.
            Dir::In => (true, lan),
            // Going out: the quote came in to gwy and was translated to lan: show gwy.
            Dir::Out => (false, gwy),
        };
        let inner_h = outer_h;
        // The quote: its address and port, with its own checksums, all under the
        // ICMP checksum.
        let o2 = pd.off + 8;
        let qpd = q.pd;
        let mut direct = [Ck::full(0); 2];
        let mut n = 0;
        if let Some(c) = qpd.ip_ck {
            direct[n] = Ck::full(o2 + c);
            n += 1;
        }
        let qck = qpd.l4_ck().map(|c| Ck {
            at: o2 + c,
            kind: if qpd.proto == IPPROTO_UDP && qpd.af == Af::Inet {
                Kind::Udp
            } else {
                Kind::Full
            },
        });
        if let Some(c) = qck.filter(|_| qpd.l4_pseudo()) {
            direct[n] = c;
            n += 1;
        }
        // Only the ICMPv6 checksum covers the outer addresses (a pseudo-header); the
        // ICMP checksum covers the quote either way.
        let icmp_outer = outer;
        let mut b = [0u8; 16];
        let at = o2 + if qsrc { qpd.src_at } else { qpd.dst_at };
        set_bytes(p, at, inner_h.addr.bytes(pd.af, &mut b), &direct[..n], icmp_outer);
        if matches!(qpd.proto, IPPROTO_TCP | IPPROTO_UDP) {
            let pat = o2 + qpd.off + if qsrc { 0 } else { 2 };
            if pat + 2 <= p.len() {
                let qc: &[Ck] = match &qck {
                    Some(c) if c.at + 2 <= p.len() => std::slice::from_ref(c),
                    _ => &[],
                };
                set16(p, pat, inner_h.port, qc, icmp_outer);
            }
        } else if qpd.icmp_query && o2 + qpd.off + 6 <= p.len() {
            set16(p, o2 + qpd.off + 4, inner_h.port, &[], icmp_outer);
        }
        // The error's own address on our side.
        let mut od = [Ck::full(0); 2];
        let mut on = 0;
        if let Some(c) = pd.ip_ck {
            od[on] = Ck::full(c);
            on += 1;
        }
        if pd.af == Af::Inet6 {
            if let Some(c) = outer {
                od[on] = c;
                on += 1;
            }
        }
        let oat = if dir == Dir::In { pd.dst_at } else { pd.src_at };
        set_bytes(p, oat, outer_h.addr.bytes(pd.af, &mut b), &od[..on], None);
    }
    Found::Pass(id)
}

/// An ICMP query's ext port is 0 in the key.
fn swap_icmp(h: Host, query: bool) -> Host {
    if query {
        Host { port: 0, ..h }
    } else {
        h
    }
}

/// What an ICMP error quotes: the header and the first 8 bytes of the transport header.
struct Quoted {
    pd: Pd,
    /// The quoted TCP segment's sequence number.
    seq: u32,
}

fn quoted_transport(q: &[u8], pd: &mut Pd) -> Option<u32> {
    let o = pd.off;
    let mut seq = 0;
    match pd.proto {
        IPPROTO_TCP | IPPROTO_UDP => {
            if q.len() < o + 8 {
                return None;
            }
            pd.sport = rd16(q, o);
            pd.dport = rd16(q, o + 2);
            if pd.proto == IPPROTO_TCP {
                seq = rd32(q, o + 4);
            }
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            if q.len() < o + 8 {
                return None;
            }
            pd.icmp_type = q[o];
            if pkt::icmp_is_query(pd.af, q[o]) {
                pd.icmp_query = true;
                pd.sport = rd16(q, o + 4);
                pd.dport = pd.sport;
            }
        }
        _ => {}
    }
    Some(seq)
}

fn quoted4(q: &[u8]) -> Option<Quoted> {
    if q.len() < 20 || q[0] >> 4 != 4 {
        return None;
    }
    let hlen = usize::from(q[0] & 0xf) * 4;
    if hlen < 20 || q.len() < hlen + 8 || rd16(q, 6) & 0x1fff != 0 {
        return None;
    }
    let mut pd = Pd {
        af: Af::Inet,
        proto: q[9],
        src: Addr(u128::from(rd32(q, 12))),
        dst: Addr(u128::from(rd32(q, 16))),
        src_at: 12,
        dst_at: 16,
        ip_ck: Some(10),
        off: hlen,
        tot_len: q.len(),
        sport: 0,
        dport: 0,
        frag: false,
        ttl: q[8],
        tos: q[1],
        tcp: pkt::Tcp::default(),
        icmp_type: 0,
        icmp_code: 0,
        icmp_query: false,
    };
    let seq = quoted_transport(q, &mut pd)?;
    Some(Quoted { pd, seq })
}

fn quoted6(q: &[u8]) -> Option<Quoted> {
    if q.len() < 48 || q[0] >> 4 != 6 {
        return None;
    }
    let mut chain = crate::wire::ip6ext::Chain::new(&q[40..], q[6]);
    let (proto, off) = loop {
        match chain.next() {
            Some(Ok(crate::wire::ip6ext::Step::Ext(h))) => {
                if h.kind == crate::wire::ip6ext::NH_FRAGMENT && rd16(h.data, 2) & 0xfff8 != 0 {
                    return None;
                }
            }
            Some(Ok(crate::wire::ip6ext::Step::Upper { nh, offset })) => break (nh, 40 + offset),
            _ => return None,
        }
    };
    let addr = |at: usize| {
        let mut b = [0u8; 16];
        b.copy_from_slice(&q[at..at + 16]);
        Addr(u128::from_be_bytes(b))
    };
    let mut pd = Pd {
        af: Af::Inet6,
        proto,
        src: addr(8),
        dst: addr(24),
        src_at: 8,
        dst_at: 24,
        ip_ck: None,
        off,
        tot_len: q.len(),
        sport: 0,
        dport: 0,
        frag: false,
        ttl: q[7],
        tos: 0,
        tcp: pkt::Tcp::default(),
        icmp_type: 0,
        icmp_code: 0,
        icmp_query: false,
    };
    let seq = quoted_transport(q, &mut pd)?;
    Some(Quoted { pd, seq })
}

/// Makes a state for `pd` going `dir` (what a `keep state` rule does), with the
/// translation `gwy` when the packet was translated (lan/ext as it was before). TCP's
/// creator peer is set up from the segment.
pub fn state_insert(pf: &mut Pf, pd: &Pd, dir: Dir, gwy: Option<Host>, m: &Mbuf) -> Result<u32, Reason> {
    let now = pf.now();
    let mut s = State::new(pd, dir, gwy, now);
    if pd.proto == IPPROTO_TCP {
        let opts = &m.as_slice()[(pd.off + 20).min(pd.tot_len)..(pd.off + pd.tcp.hlen).min(pd.tot_len)];
        let o = crate::wire::tcp::TcpOpts::parse(opts);
        let ws = if pd.tcp.flags & crate::wire::tcp::TH_SYN != 0 {
            state::syn_wscale(opts)
        } else {
            0
        };
        state::tcp_first(&mut s, &pd.tcp, ws, o.mss.unwrap_or(0));
    } else if pd.proto != IPPROTO_ICMP && pd.proto != IPPROTO_ICMPV6 {
        state::udp_track(&mut s, true, now);
        s.timeout = if pd.proto == IPPROTO_UDP {
            Tm::UdpFirst
        } else {
            Tm::OtherFirst
        };
    }
    s.packets[0] = 1;
    s.bytes[0] = pd.tot_len as u64;
    pf.states.insert(s).map_err(|e| match e {
        state::InsertErr::Exists => Reason::StateInsert,
        state::InsertErr::Limit => Reason::StateLimit,
    })
}

/// Copies a packet to pflog0's captures with a pflog header in front (`PFLOG_PACKET`).
#[allow(clippy::too_many_arguments)]
pub fn pflog_packet(ctx: &Ctx, ifp: &Ifnet, m: &Mbuf, af: Af, dir: Dir, action: u8, reason: Reason, rulenr: u32) {
    let Some(log) = ctx.pf.pflog.as_ref() else {
        return;
    };
    if !log.bpf.active() {
        return;
    }
    use crate::wire::pflog::{PflogRepr, PFLOG_HDRLEN, PF_IN, PF_OUT};
    let h = PflogRepr::new(
        af == Af::Inet6,
        action,
        reason as u8,
        if dir == Dir::In { PF_IN } else { PF_OUT },
        &ifp.name,
        rulenr,
    );
    let mut c = Mbuf::with_capacity(PFLOG_HDRLEN + m.len());
    if h.emit(c.extend(PFLOG_HDRLEN)).is_err() {
        return;
    }
    c.append(m.as_slice());
    inc(&log.stats.opackets);
    log.stats
        .obytes
        .fetch_add(c.len() as u64, std::sync::atomic::Ordering::Relaxed);
    log.bpf.tap(c.as_slice(), crate::net::bpf::Dir::Out);
}

#[cfg(test)]
mod tests;
