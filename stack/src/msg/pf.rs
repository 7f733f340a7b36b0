//! PF on the channel: every request pfctl makes of the stack's packet filter (NetBSD's
//! `/dev/pf` ioctls, DIOC*) and the types they carry, shared by pfctl (client) and the
//! engine in `pf/` (server).
//!
//! One request code carries `PfReq`, one reply code carries `PfReply` (see `Msg::Pf` and
//! `Msg::PfOk`). A stack without PF loaded (`io-pkt` without `-p pf`) answers every `PfReq`
//! with ENOENT, which pfctl prints as `pfctl: /dev/pf: No such file or directory`; pfctl
//! therefore sends `PfReq::Open` first, so that a later ENOENT (`-d` when PF is not
//! enabled) keeps its own meaning.
//!
//! A ruleset travels whole (`Ruleset`: options, tables, scrub, translation and filter
//! rules, ALTQ definitions), so a load is one message and the stack swaps it in one step.
//! Everything pfctl can compute without the stack (macro and list expansion, `antispoof`,
//! default `flags S/SA keep state`, the block policy, address lookups written without
//! parentheses, table files) is resolved before the ruleset is sent; what must follow the
//! interfaces (`(if)` addresses) travels as `Addr::Dynamic`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

// ------------------------------------------------------------------------------------
// Requests and replies.

/// A request to PF.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PfReq {
    /// open("/dev/pf"): Done if PF is loaded, ENOENT if not.
    Open,
    /// DIOCSTART: Done, or EEXIST when already enabled.
    Enable,
    /// DIOCSTOP: Done, or ENOENT when not enabled.
    Disable,
    /// A transaction (DIOCXBEGIN..DIOCXCOMMIT): the parts named in `parts` of the ruleset
    /// at `anchor` (and the nested anchors) are replaced together, or nothing changes.
    Load(LoadReq),
    /// The rules of one anchor ("" is the main ruleset) with their counters: filter,
    /// scrub and translation rules (DIOCGETRULES). Answer: `PfReply::Ruleset`.
    GetRules { anchor: String },
    /// The anchors directly under `parent` ("" for the top). Answer: `PfReply::Anchors`.
    GetAnchors { parent: String },
    /// DIOCGETSTATES, optionally only states bound to one interface (`-i`).
    /// Answer: `PfReply::States`.
    GetStates { ifname: Option<String> },
    /// DIOCGETSRCNODES. Answer: `PfReply::Sources`.
    GetSources,
    /// DIOCGETSTATUS. Answer: `PfReply::Info`.
    GetInfo,
    /// The options in force, every field set (timeouts, limits, debug, loginterface,
    /// skip, hostid). Answer: `PfReply::Options`. `-s timeouts` and `-s memory` read it.
    GetOptions,
    /// DIOCGETALTQS + DIOCGETQSTATS. Answer: `PfReply::Queues`.
    GetQueues,
    /// The tables of one anchor, or of all anchors when `anchor` is None (`-s Tables`).
    /// Answer: `PfReply::Tables`.
    GetTables { anchor: Option<String> },
    /// DIOCIGETIFACES, optionally one interface. Answer: `PfReply::Interfaces`.
    GetInterfaces { ifname: Option<String> },
    /// `-F`: flush one kind. Answer: `PfReply::Count` (rules, states, tables deleted...).
    Flush(FlushReq),
    /// `-k`: DIOCKILLSTATES. Answer: `PfReply::Count` (states killed).
    KillStates(KillReq),
    /// `-K`: DIOCKILLSRCNODES. Answer: `PfReply::Count` (source nodes killed).
    KillSources(KillReq),
    /// `-t T -T cmd`: DIOCR* table operations. Answer: `PfReply::Table`.
    Table(TableReq),
    /// `-z`: clear the rule counters of an anchor (DIOCCLRRULECTRS). Answer: Done.
    ClearRuleCounters { anchor: String },
    /// `-x level`: DIOCSETDEBUG. Answer: Done.
    SetDebug(Debug),
    /// `set loginterface` outside a load (DIOCSETSTATUSIF); None clears it. Answer: Done.
    SetLoginterface(Option<String>),
    /// DIOCXBEGIN for a ruleset too large for one message (`Load` is the one-message
    /// form): opens a transaction on the parts named, replacing any transaction still
    /// open. Answer: `PfReply::Ticket`.
    LoadBegin { anchor: String, parts: LoadParts },
    /// DIOCADDRULE & co.: more of the transaction's ruleset, gathered with
    /// `Ruleset::append` (and nested anchors by path). EBUSY when `ticket` is not the
    /// open transaction. Answer: Done.
    LoadAdd {
        ticket: u32,
        ruleset: Ruleset,
        nested: Vec<(String, Ruleset)>,
    },
    /// DIOCXCOMMIT: the gathered ruleset is loaded exactly as one `Load` would load it
    /// (all or nothing); the transaction ends either way. EBUSY for a stale ticket.
    /// Answer: Done.
    LoadCommit { ticket: u32 },
    /// `GetRules` a page at a time (a reply is one datagram): at most `max` rules from
    /// position `offset` of the anchor's scrub, then translation, then filter rules, in
    /// that order (options, tables and queues empty). Answer: `PfReply::Ruleset`; fewer
    /// than `max` rules means the end.
    GetRulesPage { anchor: String, offset: u32, max: u32 },
    /// `GetStates` a page at a time: at most `max` states from position `offset` of the
    /// stack's listing. Answer: `PfReply::States`; fewer than `max` means the end.
    GetStatesPage {
        ifname: Option<String>,
        offset: u32,
        max: u32,
    },
}

impl Ruleset {
    /// The page of `GetRulesPage`: rules `offset..offset + max` of scrub, nat, filter.
    pub fn page(&self, offset: u32, max: u32) -> Ruleset {
        let (mut skip, mut left) = (offset as usize, max as usize);
        fn take<T: Clone>(v: &[T], skip: &mut usize, left: &mut usize) -> Vec<T> {
            let from = (*skip).min(v.len());
            *skip -= from;
            let n = (*left).min(v.len() - from);
            *left -= n;
            v[from..from + n].to_vec()
        }
        Ruleset {
            scrub: take(&self.scrub, &mut skip, &mut left),
            nat: take(&self.nat, &mut skip, &mut left),
            filter: take(&self.filter, &mut skip, &mut left),
            ..Ruleset::default()
        }
    }

    /// How many rules a page counts.
    pub fn rule_count(&self) -> usize {
        self.scrub.len() + self.nat.len() + self.filter.len()
    }
}

/// A reply from PF.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PfReply {
    Done,
    /// How many things a flush or kill touched.
    Count(u64),
    Ruleset(Ruleset),
    Anchors(Vec<String>),
    States(Vec<StateEntry>),
    Sources(Vec<SrcNode>),
    Info(PfInfo),
    Options(Options),
    Queues(QueuesReply),
    Tables(Vec<TableInfo>),
    Interfaces(Vec<PfIfInfo>),
    Table(TableResult),
    /// The transaction `LoadBegin` opened.
    Ticket(u32),
}

/// Which parts of a ruleset a load replaces (`-R` filter, `-N` nat, `-A` queue,
/// `-O` options; all of them when none is given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadParts {
    pub options: bool,
    /// Filter and scrub rules (and anchor calls among them).
    pub filter: bool,
    /// Translation rules.
    pub nat: bool,
    /// ALTQ and queue definitions.
    pub queue: bool,
    /// Table definitions (loaded with the rules that use them).
    pub tables: bool,
}

impl LoadParts {
    pub const ALL: LoadParts = LoadParts {
        options: true,
        filter: true,
        nat: true,
        queue: true,
        tables: true,
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReq {
    /// "" for the main ruleset, else an anchor path such as `spam` or `a/b`.
    pub anchor: String,
    pub parts: LoadParts,
    pub ruleset: Ruleset,
    /// Anchors loaded in the same transaction (`load anchor NAME from FILE`), each with
    /// its full path.
    pub nested: Vec<(String, Ruleset)>,
}

/// The kinds `-F` flushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlushKind {
    /// Filter and scrub rules of the anchor.
    Rules,
    /// Translation rules of the anchor.
    Nat,
    /// ALTQ definitions.
    Queue,
    States,
    Sources,
    /// The statistics (`pf: statistics cleared`).
    Info,
    /// The tables of the anchor (answer: tables deleted).
    Tables,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushReq {
    pub kind: FlushKind,
    pub anchor: String,
    /// States: only those bound to this interface (`-i`).
    pub ifname: Option<String>,
}

/// An address with a prefix length (a host when the length is the family's full width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Net {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Net {
    pub fn host(addr: IpAddr) -> Net {
        Net {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    pub fn is_host(&self) -> bool {
        self.prefix == if self.addr.is_ipv4() { 32 } else { 128 }
    }

    pub fn af(&self) -> Af {
        if self.addr.is_ipv4() {
            Af::Inet
        } else {
            Af::Inet6
        }
    }

    /// Whether `a` (of the same family) lies inside.
    pub fn contains(&self, a: &IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let p = u32::from(self.prefix.min(32));
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                u32::from(n) & mask == u32::from(*a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let p = u32::from(self.prefix.min(128));
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                u128::from(n) & mask == u128::from(*a) & mask
            }
            _ => false,
        }
    }
}

/// `-k` / `-K`: states (or source nodes) from `src`, to `dst` when a second `-k` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillReq {
    pub src: Net,
    pub dst: Option<Net>,
    /// States: only those bound to this interface (`-i`).
    pub ifname: Option<String>,
}

// ------------------------------------------------------------------------------------
// The ruleset.

/// Everything one pf.conf (or one anchor's file) loads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ruleset {
    /// Options the file sets (fields left None keep their value in the stack).
    pub options: Options,
    pub tables: Vec<TableDef>,
    pub scrub: Vec<ScrubRule>,
    /// Translation rules in file order; the stack keeps nat, rdr and binat apart (as pf
    /// does) and `-s nat` lists them in that order.
    pub nat: Vec<NatRule>,
    pub filter: Vec<Rule>,
    pub altq: Vec<AltqDef>,
    pub queues: Vec<QueueDef>,
}

impl Ruleset {
    /// Adds `more` to this ruleset, as the pieces of one transaction add up: rules,
    /// queues and ALTQ definitions go after those already there, options set in `more`
    /// override, and a table defined again (same name) gets the new addresses and flags.
    pub fn append(&mut self, more: Ruleset) {
        let o = more.options;
        self.options.timeouts.extend(o.timeouts);
        self.options.limits.extend(o.limits);
        if o.loginterface.is_some() {
            self.options.loginterface = o.loginterface;
        }
        if let Some(skip) = o.skip {
            self.options.skip.get_or_insert_with(Vec::new).extend(skip);
        }
        if o.debug.is_some() {
            self.options.debug = o.debug;
        }
        if o.hostid.is_some() {
            self.options.hostid = o.hostid;
        }
        for t in more.tables {
            match self.tables.iter_mut().find(|x| x.name == t.name) {
                Some(x) => {
                    x.flags |= t.flags;
                    x.addrs.extend(t.addrs);
                }
                None => self.tables.push(t),
            }
        }
        self.scrub.extend(more.scrub);
        self.nat.extend(more.nat);
        self.filter.extend(more.filter);
        self.altq.extend(more.altq);
        self.queues.extend(more.queues);
    }
}

/// Adds nested anchors' pieces to a transaction's list, by path.
pub fn append_nested(to: &mut Vec<(String, Ruleset)>, more: Vec<(String, Ruleset)>) {
    for (path, rs) in more {
        match to.iter_mut().find(|(p, _)| *p == path) {
            Some((_, x)) => x.append(rs),
            None => to.push((path, rs)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Af {
    Inet,
    Inet6,
}

/// Direction a rule applies to (PF_INOUT when neither `in` nor `out` is given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Dir {
    #[default]
    InOut,
    In,
    Out,
}

/// `on [!] IF` (an interface or an interface group/driver name such as `en`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfSpec {
    pub name: String,
    pub neg: bool,
}

/// `(if)` modifiers (PFI_AFLAG_*).
pub mod dynflag {
    /// `:network`: the interface's network(s).
    pub const NETWORK: u8 = 0x01;
    /// `:broadcast`.
    pub const BROADCAST: u8 = 0x02;
    /// `:peer`: the point-to-point peer.
    pub const PEER: u8 = 0x04;
    /// `:0`: the first address only, no aliases.
    pub const NOALIAS: u8 = 0x08;
}

/// One address specification (pf_addr_wrap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Addr {
    /// `any`.
    Any,
    /// `a.b.c.d[/nn]` or an IPv6 address with prefix.
    Net(Net),
    /// `a - b`, inclusive (same family).
    Range(IpAddr, IpAddr),
    /// `<name>`.
    Table(String),
    /// `(if)`, `(if:network)` ...: follows the interface's addresses; `flags` are
    /// `dynflag` bits. The rule's `af` (or None, both) selects the families.
    Dynamic { ifname: String, flags: u8 },
    /// `no-route`: no route back to the address.
    NoRoute,
    /// `urpf-failed`: the route back does not leave by the receiving interface.
    UrpfFailed,
}

/// Port and uid/gid comparison operators (PF_OP_*). `a`/`b` are the operands; unary
/// operators use `a` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `= a`.
    Eq,
    /// `!= a`.
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `a >< b`: strictly between.
    Between,
    /// `a <> b`: outside the range.
    Outside,
    /// `a:b`: inclusive range.
    Range,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortOp {
    pub op: Op,
    pub a: u16,
    pub b: u16,
}

impl PortOp {
    pub fn eq(p: u16) -> PortOp {
        PortOp { op: Op::Eq, a: p, b: 0 }
    }

    /// Whether `p` satisfies the operator.
    pub fn matches(&self, p: u16) -> bool {
        op_matches(self.op, u32::from(self.a), u32::from(self.b), u32::from(p))
    }
}

/// `user` / `group` comparisons (the uid of the local socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdOp {
    pub op: Op,
    pub a: u32,
    pub b: u32,
}

impl IdOp {
    pub fn matches(&self, v: u32) -> bool {
        op_matches(self.op, self.a, self.b, v)
    }
}

/// pf_match_port / pf_match: the operator semantics shared by ports and ids.
pub fn op_matches(op: Op, a: u32, b: u32, v: u32) -> bool {
    match op {
        Op::Eq => v == a,
        Op::Ne => v != a,
        Op::Lt => v < a,
        Op::Le => v <= a,
        Op::Gt => v > a,
        Op::Ge => v >= a,
        Op::Between => v > a && v < b,
        Op::Outside => v < a || v > b,
        Op::Range => v >= a && v <= b,
    }
}

/// One end of a rule: `[!] ADDR [port OP]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub addr: Addr,
    pub neg: bool,
    pub port: Option<PortOp>,
}

impl Default for Endpoint {
    fn default() -> Endpoint {
        Endpoint {
            addr: Addr::Any,
            neg: false,
            port: None,
        }
    }
}

/// `log`, `log (all, user, to pflogN)`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogOpts {
    /// Log every packet of the state, not only the first.
    pub all: bool,
    /// Log the uid/pid of the local socket.
    pub user: bool,
    /// `to pflogN` (None: pflog0).
    pub to: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Pass,
    Block,
}

/// How a block rule answers (resolved by pfctl from `set block-policy` when the rule
/// does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BlockHow {
    #[default]
    Drop,
    /// `return`: TCP RST for TCP, ICMP port unreachable (ICMPv6 too) for the rest.
    Return,
    /// `return-rst [(ttl N)]`.
    ReturnRst { ttl: Option<u8> },
    /// `return-icmp [(code[, code6])]`; None: port unreachable.
    ReturnIcmp { code: Option<u8>, code6: Option<u8> },
    /// `return-icmp6 [(code)]`.
    ReturnIcmp6 { code6: Option<u8> },
}

/// TCP flags as pf spells them: `FSRPAUEW` in bit order.
pub mod tcpflag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PUSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
    /// The letters, bit 0 first.
    pub const LETTERS: &[u8; 8] = b"FSRPAUEW";
}

/// `icmp-type T [code C]` / `icmp6-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcmpMatch {
    pub v6: bool,
    pub typ: u8,
    pub code: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StateKind {
    /// No state (stateless; `no_state_explicit` says whether `no state` was written).
    #[default]
    None,
    Keep,
    /// Keep state, randomising the TCP initial sequence numbers.
    Modulate,
    /// Keep state, completing the TCP handshake in PF before connecting the server.
    Synproxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceTrack {
    Rule,
    Global,
}

/// `if-bound`, `group-bound`, `floating` (PFRULE_IFBOUND/GRBOUND).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateLock {
    IfBound,
    GroupBound,
    Floating,
}

/// `overload <table> [flush [global]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overload {
    pub table: String,
    /// Flush the offender's states: None no, Some(false) those of this rule,
    /// Some(true) `flush global`.
    pub flush: Option<bool>,
}

/// The options in parentheses after `keep state`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateOpts {
    pub max: Option<u32>,
    pub no_sync: bool,
    pub source_track: Option<SourceTrack>,
    pub max_src_nodes: Option<u32>,
    pub max_src_states: Option<u32>,
    pub max_src_conn: Option<u32>,
    /// `max-src-conn-rate N/S`: N connections in S seconds.
    pub max_src_conn_rate: Option<(u32, u32)>,
    pub overload: Option<Overload>,
    pub lock: Option<StateLock>,
    /// Per-rule timeouts, in seconds.
    pub timeouts: Vec<(Timeout, u32)>,
}

/// Counters the stack keeps per rule (pf_rule's evaluations, packets, bytes, states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleCounters {
    pub evaluations: u64,
    /// [in, out].
    pub packets: [u64; 2],
    /// [in, out].
    pub bytes: [u64; 2],
    /// States this rule currently holds.
    pub states: u32,
    /// uid and pid of the process that loaded the rule (`-vv`).
    pub cuid: u32,
    pub cpid: u32,
}

/// A filter rule (or, with `anchor` set, an anchor call: `anchor "name" ...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub action: Action,
    pub block: BlockHow,
    pub dir: Dir,
    pub log: Option<LogOpts>,
    pub quick: bool,
    pub ifname: Option<IfSpec>,
    pub af: Option<Af>,
    pub proto: Option<u8>,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub uid: Option<IdOp>,
    pub gid: Option<IdOp>,
    /// `flags F/M`: the packet's flags masked by `flagset` must equal `flags`. Both 0:
    /// no check (`flags any`).
    pub flags: u8,
    pub flagset: u8,
    pub icmp: Option<IcmpMatch>,
    pub tos: Option<u8>,
    pub state: StateKind,
    /// `no state` was written (4.2 prints it then).
    pub no_state_explicit: bool,
    pub state_opts: StateOpts,
    /// `fragment`: the rule matches fragments too.
    pub fragment: bool,
    pub allow_opts: bool,
    pub label: Option<String>,
    /// `queue q` or `queue (q, pri_q)`.
    pub queue: Option<String>,
    pub pqueue: Option<String>,
    pub tag: Option<String>,
    /// `[!] tagged t`: (negated, name).
    pub tagged: Option<(bool, String)>,
    /// `probability N%` as a fraction of u32::MAX (None: always).
    pub probability: Option<u32>,
    /// `anchor "name"`: evaluate the anchor's ruleset when the rule matches.
    pub anchor: Option<String>,
    /// Rule number in its ruleset (set by the stack; `@N` in `-vv`).
    pub nr: u32,
    pub counters: RuleCounters,
}

impl Rule {
    /// A rule with no conditions: `pass all` / `block drop all` without state.
    pub fn new(action: Action) -> Rule {
        Rule {
            action,
            block: BlockHow::Drop,
            dir: Dir::InOut,
            log: None,
            quick: false,
            ifname: None,
            af: None,
            proto: None,
            src: Endpoint::default(),
            dst: Endpoint::default(),
            uid: None,
            gid: None,
            flags: 0,
            flagset: 0,
            icmp: None,
            tos: None,
            state: StateKind::None,
            no_state_explicit: false,
            state_opts: StateOpts::default(),
            fragment: false,
            allow_opts: false,
            label: None,
            queue: None,
            pqueue: None,
            tag: None,
            tagged: None,
            probability: None,
            anchor: None,
            nr: 0,
            counters: RuleCounters::default(),
        }
    }
}

/// `fragment reassemble | crop | drop-ovl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum FragMode {
    #[default]
    Reassemble,
    Crop,
    DropOvl,
}

/// A `scrub` (normalization) rule, or `no scrub`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrubRule {
    pub no: bool,
    pub dir: Dir,
    pub log: Option<LogOpts>,
    pub quick: bool,
    pub ifname: Option<IfSpec>,
    pub af: Option<Af>,
    pub proto: Option<u8>,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub no_df: bool,
    pub random_id: bool,
    pub min_ttl: Option<u8>,
    pub max_mss: Option<u16>,
    /// `reassemble tcp`: TCP normalization (timestamps, ttl).
    pub reassemble_tcp: bool,
    pub frag: FragMode,
    pub nr: u32,
    pub counters: RuleCounters,
}

impl Default for ScrubRule {
    fn default() -> ScrubRule {
        ScrubRule {
            no: false,
            dir: Dir::InOut,
            log: None,
            quick: false,
            ifname: None,
            af: None,
            proto: None,
            src: Endpoint::default(),
            dst: Endpoint::default(),
            no_df: false,
            random_id: false,
            min_ttl: None,
            max_mss: None,
            reassemble_tcp: false,
            frag: FragMode::Reassemble,
            nr: 0,
            counters: RuleCounters::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NatKind {
    Nat,
    Rdr,
    Binat,
}

/// How a pool with several addresses (or a network) picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PoolType {
    /// Not given: a single address or (for nat) `bitmask`-free default of pf.
    #[default]
    None,
    Bitmask,
    Random,
    /// `source-hash [key]`: a 128-bit key, random if not given (pfctl picks it).
    SourceHash([u8; 16]),
    RoundRobin,
}

/// The target of a translation rule: `-> ADDR [port P[:Q|:*]] [pool opts] [static-port]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// One or more addresses (`{ a, b }` for round-robin); an address may be dynamic.
    pub addrs: Vec<Addr>,
    /// Port or port range: nat's source ports (default 50001:65535, kept as None), rdr's
    /// destination port. `hi` 0 means a single port.
    pub port: Option<(u16, u16)>,
    /// rdr `port P:*`: map the matched range onto a range starting at P.
    pub port_star: bool,
    pub kind: PoolType,
    pub sticky: bool,
    pub static_port: bool,
}

/// A translation rule: `nat`, `rdr`, `binat` and their `no` forms, or an anchor call
/// (`nat-anchor`, `rdr-anchor`, `binat-anchor`) when `anchor` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NatRule {
    pub kind: NatKind,
    pub no: bool,
    /// `nat pass`: translated packets skip the filter rules.
    pub pass: bool,
    pub log: Option<LogOpts>,
    pub dir: Dir,
    pub ifname: Option<IfSpec>,
    pub af: Option<Af>,
    pub proto: Option<u8>,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub tag: Option<String>,
    pub tagged: Option<(bool, String)>,
    /// None for `no` rules and anchor calls.
    pub pool: Option<Pool>,
    pub anchor: Option<String>,
    pub nr: u32,
    pub counters: RuleCounters,
}

impl NatRule {
    pub fn new(kind: NatKind) -> NatRule {
        NatRule {
            kind,
            no: false,
            pass: false,
            log: None,
            dir: Dir::InOut,
            ifname: None,
            af: None,
            proto: None,
            src: Endpoint::default(),
            dst: Endpoint::default(),
            tag: None,
            tagged: None,
            pool: None,
            anchor: None,
            nr: 0,
            counters: RuleCounters::default(),
        }
    }
}

// ------------------------------------------------------------------------------------
// Options.

/// The timeouts (pf's PFTM_*), in `-s timeouts` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timeout {
    TcpFirst,
    TcpOpening,
    TcpEstablished,
    TcpClosing,
    TcpFinWait,
    TcpClosed,
    TcpTsDiff,
    UdpFirst,
    UdpSingle,
    UdpMultiple,
    IcmpFirst,
    IcmpError,
    OtherFirst,
    OtherSingle,
    OtherMultiple,
    Frag,
    Interval,
    AdaptiveStart,
    AdaptiveEnd,
    SrcTrack,
}

impl Timeout {
    pub const ALL: [Timeout; 20] = [
        Timeout::TcpFirst,
        Timeout::TcpOpening,
        Timeout::TcpEstablished,
        Timeout::TcpClosing,
        Timeout::TcpFinWait,
        Timeout::TcpClosed,
        Timeout::TcpTsDiff,
        Timeout::UdpFirst,
        Timeout::UdpSingle,
        Timeout::UdpMultiple,
        Timeout::IcmpFirst,
        Timeout::IcmpError,
        Timeout::OtherFirst,
        Timeout::OtherSingle,
        Timeout::OtherMultiple,
        Timeout::Frag,
        Timeout::Interval,
        Timeout::AdaptiveStart,
        Timeout::AdaptiveEnd,
        Timeout::SrcTrack,
    ];

    /// The name pf.conf and `-s timeouts` use.
    pub fn name(self) -> &'static str {
        match self {
            Timeout::TcpFirst => "tcp.first",
            Timeout::TcpOpening => "tcp.opening",
            Timeout::TcpEstablished => "tcp.established",
            Timeout::TcpClosing => "tcp.closing",
            Timeout::TcpFinWait => "tcp.finwait",
            Timeout::TcpClosed => "tcp.closed",
            Timeout::TcpTsDiff => "tcp.tsdiff",
            Timeout::UdpFirst => "udp.first",
            Timeout::UdpSingle => "udp.single",
            Timeout::UdpMultiple => "udp.multiple",
            Timeout::IcmpFirst => "icmp.first",
            Timeout::IcmpError => "icmp.error",
            Timeout::OtherFirst => "other.first",
            Timeout::OtherSingle => "other.single",
            Timeout::OtherMultiple => "other.multiple",
            Timeout::Frag => "frag",
            Timeout::Interval => "interval",
            Timeout::AdaptiveStart => "adaptive.start",
            Timeout::AdaptiveEnd => "adaptive.end",
            Timeout::SrcTrack => "src.track",
        }
    }

    pub fn from_name(s: &str) -> Option<Timeout> {
        Timeout::ALL.iter().copied().find(|t| t.name() == s)
    }

    /// pf's default (seconds; the adaptive values count states).
    pub fn default_value(self) -> u32 {
        match self {
            Timeout::TcpFirst => 120,
            Timeout::TcpOpening => 30,
            Timeout::TcpEstablished => 86400,
            Timeout::TcpClosing => 900,
            Timeout::TcpFinWait => 45,
            Timeout::TcpClosed => 90,
            Timeout::TcpTsDiff => 30,
            Timeout::UdpFirst => 60,
            Timeout::UdpSingle => 30,
            Timeout::UdpMultiple => 60,
            Timeout::IcmpFirst => 20,
            Timeout::IcmpError => 10,
            Timeout::OtherFirst => 60,
            Timeout::OtherSingle => 30,
            Timeout::OtherMultiple => 60,
            Timeout::Frag => 30,
            Timeout::Interval => 10,
            // 60% and 120% of the default state limit, as pf sets them.
            Timeout::AdaptiveStart => 6000,
            Timeout::AdaptiveEnd => 12000,
            Timeout::SrcTrack => 0,
        }
    }

    /// Whether the value counts states rather than seconds (`-s timeouts` prints
    /// ` states` after it).
    pub fn is_adaptive(self) -> bool {
        matches!(self, Timeout::AdaptiveStart | Timeout::AdaptiveEnd)
    }
}

/// The pools with hard limits (`set limit`, `-s memory`), in `-s memory` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Limit {
    States,
    SrcNodes,
    Frags,
    Tables,
    TableEntries,
}

impl Limit {
    pub const ALL: [Limit; 5] = [
        Limit::States,
        Limit::SrcNodes,
        Limit::Frags,
        Limit::Tables,
        Limit::TableEntries,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Limit::States => "states",
            Limit::SrcNodes => "src-nodes",
            Limit::Frags => "frags",
            Limit::Tables => "tables",
            Limit::TableEntries => "table-entries",
        }
    }

    pub fn from_name(s: &str) -> Option<Limit> {
        Limit::ALL.iter().copied().find(|l| l.name() == s)
    }

    pub fn default_value(self) -> u32 {
        match self {
            Limit::States => 10000,
            Limit::SrcNodes => 10000,
            Limit::Frags => 5000,
            Limit::Tables => 1000,
            Limit::TableEntries => 200000,
        }
    }
}

/// `set debug` / `-x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Debug {
    None,
    #[default]
    Urgent,
    Misc,
    Loud,
}

impl Debug {
    pub fn name(self) -> &'static str {
        match self {
            Debug::None => "none",
            Debug::Urgent => "urgent",
            Debug::Misc => "misc",
            Debug::Loud => "loud",
        }
    }

    pub fn from_name(s: &str) -> Option<Debug> {
        [Debug::None, Debug::Urgent, Debug::Misc, Debug::Loud]
            .into_iter()
            .find(|d| d.name() == s)
    }
}

/// The options a ruleset sets; None keeps the stack's current value. In a
/// `PfReply::Options` every field is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Options {
    pub timeouts: Vec<(Timeout, u32)>,
    pub limits: Vec<(Limit, u32)>,
    /// `set loginterface IF | none`: Some(None) clears it.
    pub loginterface: Option<Option<String>>,
    /// `set skip on { ... }`: the interfaces PF ignores.
    pub skip: Option<Vec<String>>,
    pub debug: Option<Debug>,
    pub hostid: Option<u32>,
}

// ------------------------------------------------------------------------------------
// Tables.

/// One table entry: an address or network, `!` for a negated (excluding) entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableAddr {
    pub net: Net,
    pub neg: bool,
}

/// Table flags (PFR_TFLAG_*), as `-s Tables -v` shows them.
pub mod tflag {
    pub const PERSIST: u32 = 0x01;
    pub const CONST: u32 = 0x02;
    pub const ACTIVE: u32 = 0x04;
    pub const INACTIVE: u32 = 0x08;
    pub const REFERENCED: u32 = 0x10;
    pub const REFDANCHOR: u32 = 0x20;
}

/// `table <name> [persist] [const] { ... }` (file contents already read by pfctl).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    pub name: String,
    /// `tflag::PERSIST` / `tflag::CONST`.
    pub flags: u32,
    pub addrs: Vec<TableAddr>,
}

/// Packet and byte counters of a table or an entry: [in, out] x [block, pass].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TableStats {
    pub packets: [[u64; 2]; 2],
    pub bytes: [[u64; 2]; 2],
    /// Packets that matched the address of a negated entry.
    pub nomatch: u64,
    /// When the counters were last cleared (seconds since the epoch).
    pub cleared: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInfo {
    pub name: String,
    pub anchor: String,
    pub flags: u32,
    pub count: u32,
    /// Rules that refer to it, anchors that refer to it.
    pub refs: u32,
    pub anchor_refs: u32,
    pub stats: TableStats,
}

/// The table commands (`-T`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableOp {
    /// `kill`: delete the table.
    Kill,
    /// `flush`: delete every address.
    Flush,
    /// `add`: creates the table (persistent) if it does not exist.
    Add(Vec<TableAddr>),
    Delete(Vec<TableAddr>),
    /// `replace` (and `load`): the table becomes exactly these addresses.
    Replace(Vec<TableAddr>),
    /// `show`: with per-entry counters when `stats` (`-v`).
    Show {
        stats: bool,
    },
    /// `test`: which addresses the table matches (longest prefix, negation honoured).
    Test(Vec<IpAddr>),
    /// `zero`: clear the counters.
    Zero,
    /// `expire N`: delete entries whose counters were cleared more than N seconds ago.
    Expire(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableReq {
    pub anchor: String,
    pub name: String,
    pub op: TableOp,
}

/// What happened to one address of a table command (PFR_FB_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Feedback {
    None,
    Match,
    Added,
    Deleted,
    Changed,
    Cleared,
    Duplicate,
    NotMatch,
    Conflict,
}

/// One entry as `-T show` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    pub addr: TableAddr,
    pub stats: Option<TableStats>,
}

/// The answer to a table command: counts for the message pfctl prints, the per-address
/// feedback for `-v`, and the entries of `show`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TableResult {
    /// Tables created (`add` on a missing table) or deleted (`kill`).
    pub tables_created: u32,
    pub tables_deleted: u32,
    pub added: u32,
    pub deleted: u32,
    pub changed: u32,
    pub matched: u32,
    pub cleared: u32,
    /// One per address given, in order.
    pub feedback: Vec<(TableAddr, Feedback)>,
    pub entries: Vec<TableEntry>,
}

// ------------------------------------------------------------------------------------
// ALTQ.

/// `altq on IF priq bandwidth B [qlimit N] [tbrsize S] queue { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AltqDef {
    pub ifname: String,
    /// Bits per second (`10Mb`, `50%` resolved against the interface by pfctl).
    pub bandwidth: u64,
    pub qlimit: u32,
    /// Token bucket size in bytes; 0: pfctl's choice from the bandwidth.
    pub tbrsize: u32,
    pub queues: Vec<String>,
}

/// PRIQ queue options (`priq(default red ecn rio)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PriqOpts {
    pub default: bool,
    pub red: bool,
    pub ecn: bool,
    pub rio: bool,
}

/// `queue NAME [on IF] [bandwidth B] priority N [qlimit N] [priq(...)]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDef {
    pub name: String,
    /// The interface; pfctl fills it from the `altq on` that lists the queue.
    pub ifname: String,
    pub priority: u8,
    pub qlimit: u32,
    pub bandwidth: Option<u64>,
    pub opts: PriqOpts,
}

/// Per-queue counters (`-s queue -v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueStats {
    pub packets: u64,
    pub bytes: u64,
    pub dropped_packets: u64,
    pub dropped_bytes: u64,
    pub qlength: u32,
    pub qlimit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueuesReply {
    pub altq: Vec<AltqDef>,
    pub queues: Vec<(QueueDef, QueueStats)>,
}

// ------------------------------------------------------------------------------------
// States, source nodes, status, interfaces.

/// An address and port of a state (ICMP: the id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostPort {
    pub addr: IpAddr,
    pub port: u16,
}

/// One side's TCP sequence tracking (pf_state_peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerTrack {
    pub seqlo: u32,
    pub seqhi: u32,
    pub seqdiff: u32,
    pub max_win: u16,
    /// Window scale; None when not negotiated.
    pub wscale: Option<u8>,
    /// Protocol state (TCP: `tcp_state_name`; UDP/other: `PFUDPS_*`; ICMP: as is).
    pub state: u8,
}

/// A state as `-s states` prints it (lan-gwy-ext, as pf 4.2 keeps it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateEntry {
    /// None for a floating state (printed `all`).
    pub ifname: Option<String>,
    pub af: Af,
    pub proto: u8,
    /// The internal end, the translated address (equal to `lan` without NAT), the
    /// external end.
    pub lan: HostPort,
    pub gwy: HostPort,
    pub ext: HostPort,
    /// The direction of the packet that created the state: Out prints `->`, In `<-`.
    pub dir: Dir,
    /// The side that created the state, the other side.
    pub src: PeerTrack,
    pub dst: PeerTrack,
    /// Seconds since creation, seconds until expiry.
    pub age: u32,
    pub expires: u32,
    /// [src->dst, dst->src].
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// Number of the rule that created it (None: the default rule).
    pub rule: Option<u32>,
    pub id: u64,
    pub creatorid: u32,
}

/// PFUDPS_* (UDP and other protocols).
pub const UDP_STATE_NAMES: [&str; 3] = ["NO_TRAFFIC", "SINGLE", "MULTIPLE"];
/// TCPS_* then pf's PF_TCPS_PROXY_SRC (11) and PF_TCPS_PROXY_DST (12).
pub const TCP_STATE_NAMES: [&str; 13] = [
    "CLOSED",
    "LISTEN",
    "SYN_SENT",
    "SYN_RCVD",
    "ESTABLISHED",
    "CLOSE_WAIT",
    "FIN_WAIT_1",
    "CLOSING",
    "LAST_ACK",
    "FIN_WAIT_2",
    "TIME_WAIT",
    "PROXY:SRC",
    "PROXY:DST",
];

/// A source-tracking node (`-s Sources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SrcNode {
    pub addr: IpAddr,
    /// The translation address chosen for it (sticky-address), if any.
    pub raddr: Option<IpAddr>,
    pub rule: Option<u32>,
    pub states: u32,
    pub conn: u32,
    /// max-src-conn-rate window: count, seconds.
    pub conn_rate: (u32, u32),
    pub age: u32,
    pub expires: u32,
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
}

/// Names of the reason counters (PFRES_*), in `-s info` order; the index is the pflog
/// header's reason.
pub const REASON_NAMES: [&str; 15] = [
    "match",
    "bad-offset",
    "fragment",
    "short",
    "normalize",
    "memory",
    "bad-timestamp",
    "congestion",
    "ip-option",
    "proto-cksum",
    "state-mismatch",
    "state-insert",
    "state-limit",
    "src-limit",
    "synproxy",
];

/// Names of the limit counters (LCNT_*), in `-s info -v` order.
pub const LCOUNTER_NAMES: [&str; 7] = [
    "max states per rule",
    "max-src-states",
    "max-src-nodes",
    "max-src-conn",
    "max-src-conn-rate",
    "overload table insertion",
    "overload flush states",
];

/// Counters of the loginterface: [inet, inet6] x [in, out] (x [pass, block]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogIfStats {
    pub name: String,
    pub bytes: [[u64; 2]; 2],
    pub packets: [[[u64; 2]; 2]; 2],
}

/// pf_status: the `-s info` block.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PfInfo {
    pub running: bool,
    /// Seconds since PF was last enabled or disabled (None: never).
    pub since: Option<u64>,
    pub debug: Debug,
    pub hostid: u32,
    /// MD5 of the loaded ruleset (`-v`).
    pub checksum: [u8; 16],
    pub states: u32,
    pub src_nodes: u32,
    /// State table: searches, inserts, removals.
    pub fcounters: [u64; 3],
    /// Source tracking table: searches, inserts, removals.
    pub scounters: [u64; 3],
    /// Indexed as `REASON_NAMES`.
    pub counters: Vec<u64>,
    /// Indexed as `LCOUNTER_NAMES`.
    pub lcounters: Vec<u64>,
    pub loginterface: Option<LogIfStats>,
}

/// An interface as PF knows it (`-s Interfaces`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PfIfInfo {
    pub name: String,
    /// `set skip on` names it.
    pub skip: bool,
    /// States and rules that refer to it.
    pub states: u32,
    pub rules: u32,
    /// When the counters were last cleared (seconds since the epoch).
    pub cleared: u64,
    /// [inet, inet6] x [in, out] x [pass, block].
    pub packets: [[[u64; 2]; 2]; 2],
    pub bytes: [[[u64; 2]; 2]; 2],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{decode, encode, Msg};

    fn sample_rule() -> Rule {
        let mut r = Rule::new(Action::Pass);
        r.dir = Dir::In;
        r.ifname = Some(IfSpec {
            name: "en0".into(),
            neg: false,
        });
        r.af = Some(Af::Inet);
        r.proto = Some(6);
        r.dst.port = Some(PortOp::eq(22));
        r.src.addr = Addr::Dynamic {
            ifname: "en1".into(),
            flags: dynflag::NETWORK,
        };
        r.flags = tcpflag::SYN;
        r.flagset = tcpflag::SYN | tcpflag::ACK;
        r.state = StateKind::Keep;
        r.state_opts.max_src_conn_rate = Some((20, 5));
        r.state_opts.overload = Some(Overload {
            table: "flood".into(),
            flush: Some(true),
        });
        r.state_opts.timeouts.push((Timeout::TcpEstablished, 60));
        r.label = Some("ssh".into());
        r
    }

    fn sample_ruleset() -> Ruleset {
        let mut nat = NatRule::new(NatKind::Nat);
        nat.ifname = Some(IfSpec {
            name: "en1".into(),
            neg: false,
        });
        nat.src.addr = Addr::Net(Net {
            addr: "10.0.0.0".parse().unwrap(),
            prefix: 24,
        });
        nat.pool = Some(Pool {
            addrs: vec![Addr::Dynamic {
                ifname: "en1".into(),
                flags: 0,
            }],
            port: None,
            port_star: false,
            kind: PoolType::None,
            sticky: false,
            static_port: true,
        });
        Ruleset {
            options: Options {
                timeouts: vec![(Timeout::TcpFirst, 60)],
                limits: vec![(Limit::States, 100000)],
                loginterface: Some(Some("en0".into())),
                skip: Some(vec!["lo0".into()]),
                debug: Some(Debug::Misc),
                hostid: None,
            },
            tables: vec![TableDef {
                name: "bad".into(),
                flags: tflag::PERSIST,
                addrs: vec![TableAddr {
                    net: Net::host("2001:db8::1".parse().unwrap()),
                    neg: true,
                }],
            }],
            scrub: vec![ScrubRule {
                max_mss: Some(1440),
                ..ScrubRule::default()
            }],
            nat: vec![nat],
            filter: vec![Rule::new(Action::Block), sample_rule()],
            altq: vec![AltqDef {
                ifname: "en0".into(),
                bandwidth: 10_000_000,
                qlimit: 50,
                tbrsize: 0,
                queues: vec!["ssh".into(), "std".into()],
            }],
            queues: vec![QueueDef {
                name: "std".into(),
                ifname: "en0".into(),
                priority: 1,
                qlimit: 50,
                bandwidth: None,
                opts: PriqOpts {
                    default: true,
                    ..PriqOpts::default()
                },
            }],
        }
    }

    #[test]
    fn requests_and_replies_round_trip() {
        let msgs = vec![
            Msg::Pf(PfReq::Open),
            Msg::Pf(PfReq::Load(LoadReq {
                anchor: String::new(),
                parts: LoadParts::ALL,
                ruleset: sample_ruleset(),
                nested: vec![("spam".into(), Ruleset::default())],
            })),
            Msg::Pf(PfReq::KillStates(KillReq {
                src: Net::host("10.0.0.2".parse().unwrap()),
                dst: None,
                ifname: None,
            })),
            Msg::Pf(PfReq::Table(TableReq {
                anchor: String::new(),
                name: "bad".into(),
                op: TableOp::Test(vec!["10.1.2.3".parse().unwrap()]),
            })),
            Msg::PfOk(PfReply::Ruleset(sample_ruleset())),
            Msg::PfOk(PfReply::States(vec![StateEntry {
                ifname: None,
                af: Af::Inet6,
                proto: 17,
                lan: HostPort {
                    addr: "2001:db8::2".parse().unwrap(),
                    port: 5353,
                },
                gwy: HostPort {
                    addr: "2001:db8::2".parse().unwrap(),
                    port: 5353,
                },
                ext: HostPort {
                    addr: "2001:db8::1".parse().unwrap(),
                    port: 53,
                },
                dir: Dir::Out,
                src: PeerTrack {
                    state: 2,
                    ..PeerTrack::default()
                },
                dst: PeerTrack::default(),
                age: 1,
                expires: 59,
                packets: [1, 2],
                bytes: [60, 120],
                rule: Some(3),
                id: 7,
                creatorid: 1,
            }])),
            Msg::PfOk(PfReply::Info(PfInfo {
                counters: vec![0; REASON_NAMES.len()],
                lcounters: vec![0; LCOUNTER_NAMES.len()],
                ..PfInfo::default()
            })),
        ];
        for m in msgs {
            let b = encode(&m, 9, 1, 0, 0);
            let f = decode(&b).unwrap();
            assert_eq!(f.msg, m);
            // Every strict prefix of the body is refused, never a panic.
            for cut in crate::msg::HDR_LEN..b.len() {
                let mut t = b[..cut].to_vec();
                let n = t.len() as u32;
                t[0..4].copy_from_slice(&n.to_le_bytes());
                assert!(decode(&t).is_err(), "prefix {cut} of {m:?} decoded");
            }
        }
    }

    #[test]
    fn pieces_of_a_transaction_add_up() {
        let whole = sample_ruleset();
        let mut first = whole.clone();
        first.filter.truncate(1);
        first.tables[0].addrs.clear();
        let mut second = Ruleset {
            filter: whole.filter[1..].to_vec(),
            tables: whole.tables.clone(),
            ..Ruleset::default()
        };
        second.tables[0].flags = 0;
        first.append(second);
        assert_eq!(first, whole);
        let mut nested = vec![("a".to_string(), Ruleset::default())];
        append_nested(
            &mut nested,
            vec![("a".into(), whole.clone()), ("b".into(), Ruleset::default())],
        );
        assert_eq!(nested.len(), 2);
        assert_eq!(nested[0].1.filter, whole.filter);
    }

    #[test]
    fn pages_cover_the_rules_once() {
        let rs = sample_ruleset();
        let n = rs.rule_count() as u32;
        let mut back = Ruleset::default();
        for off in (0..n + 2).step_by(2) {
            let p = rs.page(off, 2);
            assert!(p.rule_count() <= 2);
            back.append(p);
        }
        assert_eq!(rs.page(n, 5).rule_count(), 0);
        assert_eq!((back.scrub, back.nat, back.filter), (rs.scrub, rs.nat, rs.filter));
    }

    #[test]
    fn operators_follow_pf_match() {
        assert!(PortOp {
            op: Op::Between,
            a: 10,
            b: 20
        }
        .matches(15));
        assert!(!PortOp {
            op: Op::Between,
            a: 10,
            b: 20
        }
        .matches(10));
        assert!(PortOp {
            op: Op::Range,
            a: 10,
            b: 20
        }
        .matches(20));
        assert!(PortOp {
            op: Op::Outside,
            a: 10,
            b: 20
        }
        .matches(21));
        assert!(!PortOp {
            op: Op::Outside,
            a: 10,
            b: 20
        }
        .matches(20));
        assert!(IdOp {
            op: Op::Ge,
            a: 1000,
            b: 0
        }
        .matches(1000));
    }

    #[test]
    fn nets_contain() {
        let n = Net {
            addr: "10.0.0.0".parse().unwrap(),
            prefix: 8,
        };
        assert!(n.contains(&"10.255.0.1".parse().unwrap()));
        assert!(!n.contains(&"11.0.0.1".parse().unwrap()));
        assert!(!n.contains(&"::1".parse().unwrap()));
        let z = Net {
            addr: "::".parse().unwrap(),
            prefix: 0,
        };
        assert!(z.contains(&"2001:db8::1".parse().unwrap()));
        assert!(Net::host("::1".parse().unwrap()).is_host());
    }

    #[test]
    fn names_round_trip() {
        for t in Timeout::ALL {
            assert_eq!(Timeout::from_name(t.name()), Some(t));
        }
        for l in Limit::ALL {
            assert_eq!(Limit::from_name(l.name()), Some(l));
        }
        assert_eq!(Debug::from_name("loud"), Some(Debug::Loud));
    }
}
