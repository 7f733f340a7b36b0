//! The loaded rules and their evaluation (pf_test_rule, pf_get_translation): a ruleset is
//! compiled off to the side from pfctl's `Ruleset` (addresses to numbers and masks, tables
//! to indices, skip steps computed) and swapped in whole; evaluation walks the filter
//! rules with skip steps, the last matching rule deciding unless one is `quick`, anchors
//! evaluated where they are called.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::pkt::{Addr, Af, Pd, IPPROTO_TCP, IPPROTO_UDP};
use super::table::Table;
use crate::msg::pf::{self as m, Action, Dir as RDir, IfSpec, NatKind, Op, PortOp, Rule, StateKind};
use crate::net::pfil::Dir;

/// An address of a rule, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CAddr {
    Any,
    Net {
        af: Af,
        addr: Addr,
        mask: u128,
    },
    Range {
        af: Af,
        lo: Addr,
        hi: Addr,
    },
    /// Index into the ruleset's tables.
    Table(usize),
    /// `(if)`: follows the interface's addresses.
    Dynamic {
        ifname: String,
        flags: u8,
    },
    NoRoute,
    UrpfFailed,
}

/// One end of a rule, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CEnd {
    pub addr: CAddr,
    pub neg: bool,
    pub port: Option<PortOp>,
}

pub fn af_of(a: Af) -> m::Af {
    match a {
        Af::Inet => m::Af::Inet,
        Af::Inet6 => m::Af::Inet6,
    }
}

fn af_from(a: m::Af) -> Af {
    match a {
        m::Af::Inet => Af::Inet,
        m::Af::Inet6 => Af::Inet6,
    }
}

fn full_mask(af: Af, prefix: u8) -> u128 {
    let bits: u32 = if af == Af::Inet { 32 } else { 128 };
    let p = u32::from(prefix).min(bits);
    if p == 0 {
        return 0;
    }
    let m = u128::MAX << (128 - p);
    if af == Af::Inet {
        m >> 96
    } else {
        m
    }
}

/// The interface addresses `(if)` follows, as a view the evaluation is given.
pub trait IfAddrs {
    /// The addresses (with prefix lengths) of the interface named, in the family.
    fn addrs(&self, ifname: &str, af: Af) -> Vec<(Addr, u8)>;
    /// Whether a route back to `a` exists (for `no-route`), and by which interface.
    fn route_if(&self, af: Af, a: Addr) -> Option<u16>;
}

/// The state of a rule set that evaluation reads besides the packet.
pub struct Env<'a> {
    pub tables: &'a [Table],
    pub ifa: &'a dyn IfAddrs,
}

impl CAddr {
    fn matches(&self, env: &Env<'_>, af: Af, a: Addr, ifindex: u16) -> bool {
        match self {
            CAddr::Any => true,
            CAddr::Net { af: raf, addr, mask } => *raf == af && a.0 & mask == addr.0,
            CAddr::Range { af: raf, lo, hi } => *raf == af && a >= *lo && a <= *hi,
            CAddr::Table(i) => env.tables.get(*i).is_some_and(|t| t.matches(af, a)),
            CAddr::Dynamic { ifname, flags } => env.ifa.addrs(ifname, af).iter().any(|(x, p)| {
                if flags & m::dynflag::NETWORK != 0 {
                    let mk = full_mask(af, *p);
                    a.0 & mk == x.0 & mk
                } else {
                    *x == a
                }
            }),
            CAddr::NoRoute => env.ifa.route_if(af, a).is_none(),
            CAddr::UrpfFailed => env.ifa.route_if(af, a).is_some_and(|i| i != ifindex),
        }
    }

    /// The family the address pins a rule to, if it does.
    fn af(&self) -> Option<Af> {
        match self {
            CAddr::Net { af, .. } | CAddr::Range { af, .. } => Some(*af),
            _ => None,
        }
    }
}

impl CEnd {
    fn addr_matches(&self, env: &Env<'_>, af: Af, a: Addr, ifindex: u16) -> bool {
        self.addr.matches(env, af, a, ifindex) != self.neg
    }
}

/// `on [!] IF`: an interface by name, or a group (its driver name, `en` for en0).
fn if_matches(spec: &Option<IfSpec>, name: &str) -> bool {
    match spec {
        None => true,
        Some(s) => {
            let group = name.trim_end_matches(|c: char| c.is_ascii_digit());
            (s.name == name || s.name == group) != s.neg
        }
    }
}

fn dir_matches(d: RDir, dir: Dir) -> bool {
    match d {
        RDir::InOut => true,
        RDir::In => dir == Dir::In,
        RDir::Out => dir == Dir::Out,
    }
}

/// The skip-step fields, in pf's order.
const SKIP_IFP: usize = 0;
const SKIP_DIR: usize = 1;
const SKIP_AF: usize = 2;
const SKIP_PROTO: usize = 3;
const SKIP_SRC_ADDR: usize = 4;
const SKIP_SRC_PORT: usize = 5;
const SKIP_DST_ADDR: usize = 6;
const SKIP_DST_PORT: usize = 7;
const SKIP_COUNT: usize = 8;

/// A filter rule, compiled.
#[derive(Debug, Clone)]
pub struct CRule {
    pub def: Rule,
    pub af: Option<Af>,
    pub src: CEnd,
    pub dst: CEnd,
    /// Where to go when the field in question does not match.
    pub skip: [u32; SKIP_COUNT],
    /// Tag numbers (`tag`, `tagged`) and the queue id (`queue`), 0 for none.
    pub tag: u16,
    pub tagged: Option<(bool, u16)>,
    pub qid: u32,
    /// pf's `evaluations`: how many packets reached this rule (not skipped past it).
    /// A Cell because evaluation walks the ruleset through a shared reference.
    pub evals: std::cell::Cell<u64>,
}

impl CRule {
    /// The rule as pfctl shows it, with its evaluation count.
    pub fn shown(&self) -> Rule {
        let mut d = self.def.clone();
        d.counters.evaluations = self.evals.get();
        d
    }
}

/// A translation rule, compiled.
#[derive(Debug, Clone)]
pub struct CNat {
    pub def: m::NatRule,
    pub af: Option<Af>,
    pub src: CEnd,
    pub dst: CEnd,
    pub pool: Vec<CAddr>,
    pub tag: u16,
    pub tagged: Option<(bool, u16)>,
}

/// A scrub rule, compiled.
#[derive(Debug, Clone)]
pub struct CScrub {
    pub def: m::ScrubRule,
    pub af: Option<Af>,
    pub src: CEnd,
    pub dst: CEnd,
}

/// One ruleset: the main one or an anchor's.
#[derive(Debug, Clone, Default)]
pub struct Rs {
    pub scrub: Vec<CScrub>,
    pub nat: Vec<CNat>,
    pub rdr: Vec<CNat>,
    pub binat: Vec<CNat>,
    pub filter: Vec<CRule>,
    /// Translation rules in their loaded order (for `-s nat`).
    pub nat_order: Vec<m::NatRule>,
}

impl Rs {
    /// Makes every skip step point at the next rule, so that evaluation looks at every
    /// rule in turn (for measuring what skip steps save, and for checking that they
    /// change no decision).
    pub fn without_skip_steps(&mut self) {
        for (i, r) in self.filter.iter_mut().enumerate() {
            r.skip = [(i + 1) as u32; SKIP_COUNT];
        }
    }
}

/// Everything a load installs: the rulesets and the tables they use.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub main: Rs,
    pub anchors: BTreeMap<String, Rs>,
    pub tables: Vec<Table>,
    /// Tag names to numbers (1 up).
    pub tags: Vec<String>,
    /// Queue names to ids (1 up), from the `queue` definitions.
    pub queues: Vec<String>,
    pub altq: Vec<m::AltqDef>,
    pub queue_defs: Vec<m::QueueDef>,
}

/// Why a ruleset could not be compiled: errno and message.
pub type LoadErr = (i32, String);

fn einval(s: String) -> LoadErr {
    (libc::EINVAL, s)
}

impl Rules {
    pub fn table_index(&self, anchor: &str, name: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|t| t.name == name && t.anchor == anchor)
            .or_else(|| self.tables.iter().position(|t| t.name == name && t.anchor.is_empty()))
    }

    /// The table named in `anchor` (or the main ruleset), made when missing (a rule that
    /// names a table nobody defined gets an empty one, as pfctl makes it).
    pub fn table_or_new(&mut self, anchor: &str, name: &str) -> usize {
        if let Some(i) = self.table_index(anchor, name) {
            return i;
        }
        self.tables.push(Table::new(name, anchor, m::tflag::ACTIVE));
        self.tables.len() - 1
    }

    fn tag_id(&mut self, name: &str) -> u16 {
        if let Some(i) = self.tags.iter().position(|t| t == name) {
            return (i + 1) as u16;
        }
        self.tags.push(name.to_string());
        self.tags.len() as u16
    }

    fn addr(&mut self, anchor: &str, a: &m::Addr) -> CAddr {
        match a {
            m::Addr::Any => CAddr::Any,
            m::Addr::Net(n) => {
                let af = af_from(n.af());
                let mask = full_mask(af, n.prefix);
                CAddr::Net {
                    af,
                    addr: Addr(Addr::from_ip(n.addr).0 & mask),
                    mask,
                }
            }
            m::Addr::Range(lo, hi) => CAddr::Range {
                af: if lo.is_ipv4() { Af::Inet } else { Af::Inet6 },
                lo: Addr::from_ip(*lo),
                hi: Addr::from_ip(*hi),
            },
            m::Addr::Table(name) => {
                let i = self.table_or_new(anchor, name);
                self.tables[i].flags |= m::tflag::REFERENCED | m::tflag::ACTIVE;
                CAddr::Table(i)
            }
            m::Addr::Dynamic { ifname, flags } => CAddr::Dynamic {
                ifname: ifname.clone(),
                flags: *flags,
            },
            m::Addr::NoRoute => CAddr::NoRoute,
            m::Addr::UrpfFailed => CAddr::UrpfFailed,
        }
    }

    fn end(&mut self, anchor: &str, e: &m::Endpoint) -> CEnd {
        CEnd {
            addr: self.addr(anchor, &e.addr),
            neg: e.neg,
            port: e.port,
        }
    }

    /// Compiles one ruleset (the main one, or `anchor`'s) into `self`.
    pub fn compile(&mut self, anchor: &str, rs: &m::Ruleset) -> Result<Rs, LoadErr> {
        let mut out = Rs::default();
        for t in &rs.tables {
            let i = self.table_or_new(anchor, &t.name);
            let tb = &mut self.tables[i];
            tb.flags |= t.flags | m::tflag::ACTIVE;
            tb.clear();
            for a in &t.addrs {
                tb.add(a);
            }
        }
        for q in &rs.queues {
            if !self.queues.contains(&q.name) {
                self.queues.push(q.name.clone());
            }
        }
        self.altq.extend(rs.altq.iter().cloned());
        self.queue_defs.extend(rs.queues.iter().cloned());
        for (i, s) in rs.scrub.iter().enumerate() {
            if !s.no && s.frag != m::FragMode::Reassemble {
                return Err((
                    libc::EOPNOTSUPP,
                    format!("scrub rule {i}: fragment crop and drop-ovl are not supported by this stack's pf yet"),
                ));
            }
            let mut def = s.clone();
            def.nr = i as u32;
            out.scrub.push(CScrub {
                af: s.af.map(af_from),
                src: self.end(anchor, &s.src),
                dst: self.end(anchor, &s.dst),
                def,
            });
        }
        for (i, n) in rs.nat.iter().enumerate() {
            let mut def = n.clone();
            def.nr = i as u32;
            let pool = match &n.pool {
                Some(p) if p.sticky => {
                    return Err((
                        libc::EOPNOTSUPP,
                        format!("rule {i}: sticky-address is not supported by this stack's pf yet"),
                    ))
                }
                Some(p) => {
                    if p.addrs.is_empty() && !n.no {
                        return Err(einval(format!("rule {i}: translation rule requires '-> address'")));
                    }
                    p.addrs.iter().map(|a| self.addr(anchor, a)).collect()
                }
                None if n.no || n.anchor.is_some() => Vec::new(),
                None => return Err(einval(format!("rule {i}: translation rule requires '-> address'"))),
            };
            let tag = n.tag.as_deref().map(|t| self.tag_id(t)).unwrap_or(0);
            let tagged = n.tagged.as_ref().map(|(neg, t)| (*neg, self.tag_id(t)));
            let c = CNat {
                af: n.af.map(af_from),
                src: self.end(anchor, &n.src),
                dst: self.end(anchor, &n.dst),
                pool,
                tag,
                tagged,
                def,
            };
            out.nat_order.push(c.def.clone());
            match n.kind {
                NatKind::Nat => out.nat.push(c),
                NatKind::Rdr => out.rdr.push(c),
                NatKind::Binat => out.binat.push(c),
            }
        }
        for (i, r) in rs.filter.iter().enumerate() {
            refuse_unsupported(i, r)?;
            let mut def = r.clone();
            def.nr = i as u32;
            let qid = match &r.queue {
                // The id the interfaces' queues know the name by (net::altq).
                Some(q) => match self.queues.iter().position(|x| x == q) {
                    Some(_) => crate::net::altq::qname_to_qid(q),
                    None => return Err(einval(format!("queue {q} has no parent"))),
                },
                None => 0,
            };
            let tag = r.tag.as_deref().map(|t| self.tag_id(t)).unwrap_or(0);
            let tagged = r.tagged.as_ref().map(|(neg, t)| (*neg, self.tag_id(t)));
            let src = self.end(anchor, &r.src);
            let dst = self.end(anchor, &r.dst);
            let af = r.af.map(af_from).or(src.addr.af()).or(dst.addr.af());
            out.filter.push(CRule {
                def,
                af,
                src,
                dst,
                skip: [0; SKIP_COUNT],
                tag,
                tagged,
                qid,
                evals: std::cell::Cell::new(0),
            });
        }
        skip_steps(&mut out.filter);
        Ok(out)
    }
}

/// What this engine does not do yet is refused at load, naming the option.
fn refuse_unsupported(i: usize, r: &Rule) -> Result<(), LoadErr> {
    let what = if r.uid.is_some() {
        Some("user")
    } else if r.gid.is_some() {
        Some("group")
    } else if r.state == StateKind::Synproxy {
        Some("synproxy state")
    } else if r.state_opts.source_track.is_some()
        || r.state_opts.max_src_nodes.is_some()
        || r.state_opts.max_src_states.is_some()
        || r.state_opts.max_src_conn.is_some()
        || r.state_opts.max_src_conn_rate.is_some()
        || r.state_opts.overload.is_some()
    {
        Some("source tracking (source-track, max-src-*, overload)")
    } else if !r.state_opts.timeouts.is_empty() {
        Some("a timeout on a rule (use `set timeout`)")
    } else if matches!(
        r.state_opts.lock,
        Some(crate::msg::pf::StateLock::IfBound | crate::msg::pf::StateLock::GroupBound)
    ) {
        Some("if-bound and group-bound states (states float)")
    } else if matches!(r.block, crate::msg::pf::BlockHow::ReturnRst { ttl: Some(_) }) {
        Some("return-rst (ttl N)")
    } else {
        None
    };
    match what {
        Some(w) => Err((
            libc::EOPNOTSUPP,
            format!("rule {i}: {w} is not supported by this stack's pf yet"),
        )),
        None => Ok(()),
    }
}

/// pf_calc_skip_steps: for each rule and field, the first later rule whose field differs,
/// so that a mismatch on that field skips every rule in between at once.
fn skip_steps(rules: &mut [CRule]) {
    let n = rules.len();
    let same = |a: &CRule, b: &CRule, f: usize| -> bool {
        match f {
            SKIP_IFP => a.def.ifname == b.def.ifname,
            SKIP_DIR => a.def.dir == b.def.dir,
            SKIP_AF => a.af == b.af,
            SKIP_PROTO => a.def.proto == b.def.proto,
            SKIP_SRC_ADDR => a.src.addr == b.src.addr && a.src.neg == b.src.neg,
            SKIP_SRC_PORT => a.src.port == b.src.port,
            SKIP_DST_ADDR => a.dst.addr == b.dst.addr && a.dst.neg == b.dst.neg,
            _ => a.dst.port == b.dst.port,
        }
    };
    for f in 0..SKIP_COUNT {
        // Walk back: the skip of i is i+1's if i+1 has the same field, else i+1.
        let mut next = n as u32;
        for i in (0..n).rev() {
            if i + 1 < n && !same(&rules[i], &rules[i + 1], f) {
                next = (i + 1) as u32;
            }
            rules[i].skip[f] = next;
        }
    }
}

/// The packet facts evaluation needs besides `Pd`.
pub struct Ctx4<'a> {
    pub pd: &'a Pd,
    pub dir: Dir,
    pub ifname: &'a str,
    pub ifindex: u16,
    /// The tag a translation rule gave the packet.
    pub tag: u16,
}

fn port_ok(p: &Option<PortOp>, proto: u8, frag: bool, v: u16) -> bool {
    match p {
        None => true,
        Some(op) => !frag && matches!(proto, IPPROTO_TCP | IPPROTO_UDP) && op.matches(v),
    }
}

/// The result of the filter rules: the index of the deciding rule in its ruleset (None:
/// the default rule), that ruleset's anchor, and the packet's tag afterwards.
#[derive(Debug, Clone)]
pub struct Decision {
    pub rule: Option<(String, usize)>,
    pub tag: u16,
}

/// Evaluates the filter rules of `rs` (and the anchors they call).
pub fn eval_filter(rules: &mut Rules, env_ifa: &dyn IfAddrs, c: &Ctx4<'_>) -> Decision {
    let mut d = Decision { rule: None, tag: c.tag };
    let mut quick = false;
    let main = std::mem::take(&mut rules.main);
    eval_rs(rules, &main, "", env_ifa, c, &mut d, &mut quick, 0);
    rules.main = main;
    d
}

#[allow(clippy::too_many_arguments)]
fn eval_rs(
    rules: &mut Rules,
    rs: &Rs,
    anchor: &str,
    ifa: &dyn IfAddrs,
    c: &Ctx4<'_>,
    d: &mut Decision,
    quick: &mut bool,
    depth: u32,
) {
    let pd = c.pd;
    let n = rs.filter.len();
    let mut i = 0usize;
    while i < n && !*quick {
        let r = &rs.filter[i];
        r.evals.set(r.evals.get() + 1);
        let env = Env {
            tables: &rules.tables,
            ifa,
        };
        if !if_matches(&r.def.ifname, c.ifname) {
            i = r.skip[SKIP_IFP] as usize;
            continue;
        }
        if !dir_matches(r.def.dir, c.dir) {
            i = r.skip[SKIP_DIR] as usize;
            continue;
        }
        if r.af.is_some_and(|a| a != pd.af) {
            i = r.skip[SKIP_AF] as usize;
            continue;
        }
        if r.def.proto.is_some_and(|p| p != pd.proto) {
            i = r.skip[SKIP_PROTO] as usize;
            continue;
        }
        if !r.src.addr_matches(&env, pd.af, pd.src, c.ifindex) {
            i = r.skip[SKIP_SRC_ADDR] as usize;
            continue;
        }
        if !port_ok(&r.src.port, pd.proto, pd.frag, pd.sport) {
            i = r.skip[SKIP_SRC_PORT] as usize;
            continue;
        }
        if !r.dst.addr_matches(&env, pd.af, pd.dst, c.ifindex) {
            i = r.skip[SKIP_DST_ADDR] as usize;
            continue;
        }
        if !port_ok(&r.dst.port, pd.proto, pd.frag, pd.dport) {
            i = r.skip[SKIP_DST_PORT] as usize;
            continue;
        }
        let other = other_match(r, pd, d.tag);
        if !other {
            i += 1;
            continue;
        }
        if let Some(a) = &r.def.anchor {
            // Call the anchor: its rules decide as if they stood here.
            if depth < 64 && !a.ends_with('*') {
                let path = if anchor.is_empty() {
                    a.clone()
                } else {
                    format!("{anchor}/{a}")
                };
                let key = if rules.anchors.contains_key(&path) {
                    path
                } else {
                    a.clone()
                };
                if let Some(sub) = rules.anchors.remove(&key) {
                    eval_rs(rules, &sub, &key, ifa, c, d, quick, depth + 1);
                    rules.anchors.insert(key, sub);
                }
            }
            i += 1;
            continue;
        }
        d.rule = Some((anchor.to_string(), i));
        if r.tag != 0 {
            d.tag = r.tag;
        }
        if r.def.quick {
            *quick = true;
        }
        i += 1;
    }
}

/// The conditions that have no skip step.
fn other_match(r: &CRule, pd: &Pd, tag: u16) -> bool {
    if let Some(t) = r.def.tos {
        if pd.tos != t {
            return false;
        }
    }
    // `flags` looks at TCP segments only; other protocols pass it by (pf_test_udp and
    // its kin never read it), so `pass all flags S/SA keep state` also keeps UDP state.
    if r.def.flagset != 0 && pd.proto == IPPROTO_TCP && !pd.frag && pd.tcp.flags & r.def.flagset != r.def.flags {
        return false;
    }
    if let Some(ic) = &r.def.icmp {
        if pd.frag || !matches!(pd.proto, 1 | 58) || pd.icmp_type != ic.typ {
            return false;
        }
        if ic.code.is_some_and(|c| c != pd.icmp_code) {
            return false;
        }
    }
    if pd.frag
        && (r.src.port.is_some()
            || r.dst.port.is_some()
            || (r.def.flagset != 0 && pd.proto == IPPROTO_TCP)
            || r.def.icmp.is_some())
    {
        return false;
    }
    if let Some((neg, t)) = r.tagged {
        if (tag == t) == neg {
            return false;
        }
    }
    if let Some(p) = r.def.probability {
        // pf's probability is a fraction of u32::MAX.
        if crate::sys::random::os_u64() as u32 > p {
            return false;
        }
    }
    true
}

/// What a translation rule gave a packet: its new end (src for nat and outbound binat,
/// dst for rdr and inbound binat), the rule, and its tag.
#[derive(Debug, Clone, Copy)]
pub struct Translation {
    pub src_side: bool,
    pub addr: Addr,
    pub port: u16,
    /// (kind, index) of the rule.
    pub rule: (NatKind, usize),
    pub pass: bool,
    pub tag: u16,
}

/// A pool address for a packet: the pool's first address of the family (a network keeps
/// the host's bits, `bitmask`; round-robin steps through the pool; source-hash hashes the
/// source).
fn pool_addr(pool: &[CAddr], rr: &mut usize, ifa: &dyn IfAddrs, af: Af, host: Addr, kind: m::PoolType) -> Option<Addr> {
    let mut cands: Vec<(Addr, u128)> = Vec::new();
    for p in pool {
        match p {
            CAddr::Net { af: paf, addr, mask } if *paf == af => cands.push((*addr, *mask)),
            CAddr::Dynamic { ifname, flags } => {
                for (a, pl) in ifa.addrs(ifname, af) {
                    let mk = if flags & m::dynflag::NETWORK != 0 {
                        full_mask(af, pl)
                    } else {
                        full_mask(af, 128)
                    };
                    cands.push((Addr(a.0 & mk), mk));
                    if flags & m::dynflag::NOALIAS != 0 || flags & m::dynflag::NETWORK == 0 {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    if cands.is_empty() {
        return None;
    }
    let pick = match kind {
        m::PoolType::RoundRobin => {
            *rr = rr.wrapping_add(1);
            *rr % cands.len()
        }
        m::PoolType::SourceHash(k) => {
            let key = crate::sys::random::SipKey::from_parts(
                u64::from_le_bytes([k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]]),
                u64::from_le_bytes([k[8], k[9], k[10], k[11], k[12], k[13], k[14], k[15]]),
            );
            (key.hash(&[host.0 as u64, (host.0 >> 64) as u64]) as usize) % cands.len()
        }
        m::PoolType::Random => (crate::sys::random::os_u64() as usize) % cands.len(),
        _ => 0,
    };
    let (base, mask) = cands[pick];
    let all = if af == Af::Inet {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    let hostbits = all & !mask;
    Some(match kind {
        m::PoolType::Random if hostbits != 0 => Addr(base.0 | (u128::from(crate::sys::random::os_u64()) & hostbits)),
        m::PoolType::SourceHash(_) if hostbits != 0 => {
            Addr(base.0 | (u128::from(crate::sys::random::SipKey::from_parts(1, 2).hash(&[host.0 as u64])) & hostbits))
        }
        // bitmask (and a single address): the host's bits under the pool's network.
        _ => Addr(base.0 | (host.0 & hostbits)),
    })
}

/// The first scrub rule of the main ruleset that matches the packet.
pub fn scrub_match(rules: &Rules, ifa: &dyn IfAddrs, pd: &Pd, dir: Dir, ifname: &str, ifindex: u16) -> Option<usize> {
    let env = Env {
        tables: &rules.tables,
        ifa,
    };
    rules.main.scrub.iter().position(|s| {
        if_matches(&s.def.ifname, ifname)
            && dir_matches(s.def.dir, dir)
            && s.af.is_none_or(|a| a == pd.af)
            && s.def.proto.is_none_or(|p| p == pd.proto)
            && s.src.addr_matches(&env, pd.af, pd.src, ifindex)
            && port_ok(&s.src.port, pd.proto, pd.frag, pd.sport)
            && s.dst.addr_matches(&env, pd.af, pd.dst, ifindex)
            && port_ok(&s.dst.port, pd.proto, pd.frag, pd.dport)
    })
}

fn nat_match(n: &CNat, env: &Env<'_>, c: &Ctx4<'_>, dir: Dir) -> bool {
    let pd = c.pd;
    if !if_matches(&n.def.ifname, c.ifname) || !dir_matches(n.def.dir, dir) {
        return false;
    }
    if n.af.is_some_and(|a| a != pd.af) || n.def.proto.is_some_and(|p| p != pd.proto) {
        return false;
    }
    if !n.src.addr_matches(env, pd.af, pd.src, c.ifindex) || !port_ok(&n.src.port, pd.proto, pd.frag, pd.sport) {
        return false;
    }
    if !n.dst.addr_matches(env, pd.af, pd.dst, c.ifindex) || !port_ok(&n.dst.port, pd.proto, pd.frag, pd.dport) {
        return false;
    }
    if let Some((neg, t)) = n.tagged {
        if (c.tag == t) == neg {
            return false;
        }
    }
    true
}

/// pf_get_translation: binat then nat outbound, binat then rdr inbound. `free_port`
/// says whether a source port (or ICMP id) may be used for the new source.
pub fn translate(
    rules: &mut Rules,
    ifa: &dyn IfAddrs,
    c: &Ctx4<'_>,
    rr: &mut usize,
    mut free_port: impl FnMut(Addr, u16) -> bool,
) -> Option<Translation> {
    let pd = c.pd;
    let env = Env {
        tables: &rules.tables,
        ifa,
    };
    let lists: [(NatKind, &Vec<CNat>); 2] = match c.dir {
        Dir::Out => [(NatKind::Binat, &rules.main.binat), (NatKind::Nat, &rules.main.nat)],
        Dir::In => [(NatKind::Binat, &rules.main.binat), (NatKind::Rdr, &rules.main.rdr)],
    };
    for (kind, list) in lists {
        for (i, n) in list.iter().enumerate() {
            if n.def.anchor.is_some() {
                continue;
            }
            // An inbound binat matches packets to its pool, from its destination.
            let hit = if kind == NatKind::Binat && c.dir == Dir::In {
                if_matches(&n.def.ifname, c.ifname)
                    && n.af.is_none_or(|a| a == pd.af)
                    && n.def.proto.is_none_or(|p| p == pd.proto)
                    && n.pool.iter().any(|p| p.matches(&env, pd.af, pd.dst, c.ifindex))
                    && n.dst.addr_matches(&env, pd.af, pd.src, c.ifindex)
            } else {
                nat_match(n, &env, c, c.dir)
            };
            if !hit {
                continue;
            }
            if n.def.no {
                return None;
            }
            let pool = n.def.pool.clone().unwrap_or(m::Pool {
                addrs: Vec::new(),
                port: None,
                port_star: false,
                kind: m::PoolType::None,
                sticky: false,
                static_port: false,
            });
            let t = match (kind, c.dir) {
                (NatKind::Nat, _) | (NatKind::Binat, Dir::Out) => {
                    let addr = pool_addr(&n.pool, rr, ifa, pd.af, pd.src, pool.kind)?;
                    let port = if kind == NatKind::Binat || pool.static_port || !has_ports(pd) {
                        pd.sport
                    } else {
                        let (lo, hi) = match pool.port {
                            Some((lo, 0)) => (lo, lo),
                            Some((lo, hi)) => (lo.min(hi), lo.max(hi)),
                            None => (50001, 65535),
                        };
                        pick_port(lo, hi, |p| free_port(addr, p))?
                    };
                    Translation {
                        src_side: true,
                        addr,
                        port,
                        rule: (kind, i),
                        pass: n.def.pass,
                        tag: n.tag,
                    }
                }
                (NatKind::Binat, Dir::In) => {
                    // Back to the inside network, host bits kept.
                    let CAddr::Net { addr, mask, .. } = n.src.addr else {
                        return None;
                    };
                    let all = if pd.af == Af::Inet {
                        u128::from(u32::MAX)
                    } else {
                        u128::MAX
                    };
                    Translation {
                        src_side: false,
                        addr: Addr(addr.0 | (pd.dst.0 & all & !mask)),
                        port: pd.dport,
                        rule: (kind, i),
                        pass: n.def.pass,
                        tag: n.tag,
                    }
                }
                _ => {
                    let addr = pool_addr(&n.pool, rr, ifa, pd.af, pd.dst, pool.kind)?;
                    let port = match pool.port {
                        Some((p, _)) if pool.port_star => {
                            let base = n.dst.port.map(|o| o.a).unwrap_or(pd.dport);
                            p.wrapping_add(pd.dport.wrapping_sub(base))
                        }
                        Some((p, 0)) => p,
                        Some((p, hi)) => {
                            // A range: the offset into the matched range, wrapped.
                            let base = n
                                .dst
                                .port
                                .filter(|o| o.op == Op::Range)
                                .map(|o| o.a)
                                .unwrap_or(pd.dport);
                            let span = hi.saturating_sub(p).saturating_add(1);
                            p + pd.dport.wrapping_sub(base) % span.max(1)
                        }
                        None => pd.dport,
                    };
                    Translation {
                        src_side: false,
                        addr,
                        port,
                        rule: (kind, i),
                        pass: n.def.pass,
                        tag: n.tag,
                    }
                }
            };
            return Some(t);
        }
    }
    None
}

fn has_ports(pd: &Pd) -> bool {
    !pd.frag && (matches!(pd.proto, IPPROTO_TCP | IPPROTO_UDP) || pd.icmp_query)
}

/// A free port in `lo..=hi`, starting at a random one (pf_get_sport).
fn pick_port(lo: u16, hi: u16, mut free: impl FnMut(u16) -> bool) -> Option<u16> {
    let span = u32::from(hi - lo) + 1;
    let start = (crate::sys::random::os_u64() as u32) % span;
    (0..span.min(65536))
        .map(|k| lo + ((start + k) % span) as u16)
        .find(|p| free(*p))
}

/// Resolves an address written as an `IpAddr` into the ruleset's form.
pub fn addr_of(ip: IpAddr) -> (Af, Addr) {
    match ip {
        IpAddr::V4(_) => (Af::Inet, Addr::from_ip(ip)),
        IpAddr::V6(_) => (Af::Inet6, Addr::from_ip(ip)),
    }
}

/// Whether a rule keeps state.
pub fn keeps_state(r: &Rule) -> bool {
    r.action == Action::Pass && matches!(r.state, StateKind::Keep | StateKind::Modulate | StateKind::Synproxy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::pf::{Endpoint, Net};

    struct NoIf;
    impl IfAddrs for NoIf {
        fn addrs(&self, _: &str, _: Af) -> Vec<(Addr, u8)> {
            Vec::new()
        }
        fn route_if(&self, _: Af, _: Addr) -> Option<u16> {
            Some(1)
        }
    }

    fn pd(dport: u16) -> Pd {
        let mut p = super::super::pkt::parse4(&{
            let mut b = vec![0u8; 40];
            b[0] = 0x45;
            b[2..4].copy_from_slice(&40u16.to_be_bytes());
            b[9] = 6;
            b[12..16].copy_from_slice(&[10, 0, 0, 2]);
            b[16..20].copy_from_slice(&[192, 0, 2, 9]);
            b[32] = 0x50;
            b[33] = 0x02;
            b
        })
        .unwrap();
        p.dport = dport;
        p
    }

    fn rule_to_port(p: u16, action: Action, quick: bool) -> Rule {
        let mut r = Rule::new(action);
        r.proto = Some(6);
        r.quick = quick;
        r.dst = Endpoint {
            addr: m::Addr::Net(Net {
                addr: "192.0.2.0".parse().unwrap(),
                prefix: 24,
            }),
            neg: false,
            port: Some(PortOp::eq(p)),
        };
        r
    }

    fn load(filter: Vec<Rule>) -> Rules {
        let mut rules = Rules::default();
        let rs = m::Ruleset {
            filter,
            ..m::Ruleset::default()
        };
        rules.main = rules.compile("", &rs).unwrap();
        rules
    }

    fn decide(rules: &mut Rules, dport: u16) -> Option<usize> {
        let p = pd(dport);
        let c = Ctx4 {
            pd: &p,
            dir: Dir::In,
            ifname: "en0",
            ifindex: 2,
            tag: 0,
        };
        eval_filter(rules, &NoIf, &c).rule.map(|(_, i)| i)
    }

    #[test]
    fn the_last_match_decides_unless_one_is_quick() {
        let mut rules = load(vec![
            Rule::new(Action::Block),
            rule_to_port(22, Action::Pass, false),
            rule_to_port(80, Action::Pass, true),
            rule_to_port(80, Action::Block, false),
        ]);
        assert_eq!(decide(&mut rules, 22), Some(1));
        assert_eq!(decide(&mut rules, 80), Some(2));
        assert_eq!(decide(&mut rules, 25), Some(0));
    }

    #[test]
    fn skip_steps_jump_over_runs_of_the_same_field() {
        let mut filter = vec![Rule::new(Action::Block)];
        for p in 1..=100 {
            let mut r = rule_to_port(p, Action::Pass, false);
            r.ifname = Some(IfSpec {
                name: "en1".into(),
                neg: false,
            });
            filter.push(r);
        }
        filter.push(rule_to_port(443, Action::Pass, false));
        let mut rules = load(filter);
        // Rule 1's interface differs from en0: its skip goes past all 100 en1 rules.
        assert_eq!(rules.main.filter[1].skip[SKIP_IFP], 101);
        assert_eq!(rules.main.filter[0].skip[SKIP_IFP], 1);
        assert_eq!(decide(&mut rules, 443), Some(101));
        assert_eq!(decide(&mut rules, 50), Some(0));
        // The same decisions as without skip steps (every rule looked at).
        let before = rules.main.filter.iter().map(|r| r.skip).collect::<Vec<_>>();
        rules.main.without_skip_steps();
        assert_eq!(decide(&mut rules, 443), Some(101));
        assert_eq!(decide(&mut rules, 50), Some(0));
        assert_ne!(before[1], rules.main.filter[1].skip);
    }

    #[test]
    fn unsupported_options_are_refused_by_name() {
        let mut r = Rule::new(Action::Pass);
        r.state = StateKind::Synproxy;
        let mut rules = Rules::default();
        let rs = m::Ruleset {
            filter: vec![r],
            ..m::Ruleset::default()
        };
        let e = rules.compile("", &rs).unwrap_err();
        assert_eq!(e.0, libc::EOPNOTSUPP);
        assert!(e.1.contains("synproxy"), "{}", e.1);
    }
}
