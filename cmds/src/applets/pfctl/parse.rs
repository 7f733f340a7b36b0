//! The pf.conf parser (OpenBSD 4.2's grammar, as NetBSD ships it): macros, lists expanded
//! to their cross product, tables, options, scrub, queueing, translation and filter
//! rules, `antispoof`, anchors and `load anchor`, with the section order check. The
//! result is a `Ruleset` of the channel model, fully resolved except `(if)` addresses.
//!
//! Errors are collected as `FILE:LINE: message`, one statement at a time (a bad statement
//! is skipped and parsing goes on, as pfctl's yacc error rule does); any error means the
//! ruleset is not loaded. std and the channel model only: the fuzz target builds it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pktbox_stack::msg::pf::*;

use super::names;

/// One address of an interface, as pfctl's interface lookups need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddress {
    pub ifname: String,
    pub addr: IpAddr,
    pub prefix: u8,
    pub broadcast: Option<IpAddr>,
    pub peer: Option<IpAddr>,
    pub loopback: bool,
}

/// A host name resolver.
pub type Resolver = dyn Fn(&str) -> Vec<IpAddr>;

/// What the parser gets from outside.
pub struct Env<'a> {
    /// The file name as errors spell it (`-f` argument, or `stdin`).
    pub filename: String,
    /// `-D name=value`: overrides the file's definitions.
    pub defines: Vec<(String, String)>,
    /// Every interface's addresses (pfctl's getifaddrs); None when unknown.
    pub ifaddrs: Option<Vec<IfAddress>>,
    /// Interface names known, for `on IF` and table/host lookups by name.
    pub ifnames: Vec<String>,
    /// Reads a file named by `table ... file`, `load anchor`, `include`.
    pub read_file: &'a dyn Fn(&str) -> Result<String, String>,
    /// Resolves a host name (None: no resolver, as under the fuzzer).
    pub resolve: Option<&'a Resolver>,
    /// Generates source-hash keys (pfctl uses arc4random).
    pub random_key: &'a dyn Fn() -> [u8; 16],
}

/// The parse result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub ruleset: Ruleset,
    /// `load anchor NAME from FILE`: anchor path and its parsed ruleset.
    pub anchors: Vec<(String, Ruleset)>,
    /// Which sections the file had (for -R/-N/-A/-O messages).
    pub has_options: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    P(&'static str),
    Nl,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    line: u32,
}

/// A parse error: line and message.
#[derive(Debug)]
struct PErr {
    line: u32,
    msg: String,
}

type R<T> = Result<T, PErr>;

const MAX_MACRO_DEPTH: u32 = 16;
const MAX_INCLUDE_DEPTH: u32 = 8;
/// More combinations than this from one rule is refused (a list bomb).
const MAX_EXPANSION: usize = 100_000;

fn word_char(c: char) -> bool {
    c.is_alphanumeric()
        || (c.is_ascii_punctuation()
            && !matches!(
                c,
                '(' | ')' | '{' | '}' | '<' | '>' | '!' | '=' | '/' | '#' | ',' | '"' | '$' | '\\' | '\''
            ))
}

/// Splits text into raw tokens (macros left as `$name` words marked by a leading '$').
fn lex(text: &str, first_line: u32) -> Result<Vec<Token>, PErr> {
    let mut out = Vec::new();
    let mut line = first_line;
    let cs: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            '\\' if cs.get(i + 1) == Some(&'\n') => {
                line += 1;
                i += 2;
            }
            '\\' if cs.get(i + 1) == Some(&'\r') && cs.get(i + 2) == Some(&'\n') => {
                line += 1;
                i += 3;
            }
            ' ' | '\t' | '\r' => i += 1,
            '\n' => {
                out.push(Token { tok: Tok::Nl, line });
                line += 1;
                i += 1;
            }
            '#' => {
                while i < cs.len() && cs[i] != '\n' {
                    // A comment ends at the newline, even one after a backslash.
                    i += 1;
                }
            }
            '"' | '\'' => {
                let q = c;
                let start_line = line;
                let mut s = String::new();
                i += 1;
                loop {
                    match cs.get(i) {
                        None => {
                            return Err(PErr {
                                line: start_line,
                                msg: "unterminated quotes in string".into(),
                            })
                        }
                        Some(&ch) if ch == q => {
                            i += 1;
                            break;
                        }
                        Some('\\') if cs.get(i + 1) == Some(&'\n') => {
                            line += 1;
                            i += 2;
                        }
                        Some('\\') if cs.get(i + 1) == Some(&q) => {
                            s.push(q);
                            i += 2;
                        }
                        Some('\n') => {
                            return Err(PErr {
                                line,
                                msg: "newline in string".into(),
                            })
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    tok: Tok::Quoted(s),
                    line,
                });
            }
            '$' => {
                let mut s = String::from("$");
                i += 1;
                while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                    s.push(cs[i]);
                    i += 1;
                }
                if s.len() == 1 {
                    return Err(PErr {
                        line,
                        msg: "syntax error".into(),
                    });
                }
                out.push(Token {
                    tok: Tok::Word(s),
                    line,
                });
            }
            '{' | '}' | '(' | ')' | ',' | '/' => {
                let p = match c {
                    '{' => "{",
                    '}' => "}",
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    _ => "/",
                };
                out.push(Token { tok: Tok::P(p), line });
                i += 1;
            }
            '!' | '=' | '<' | '>' => {
                let next = cs.get(i + 1).copied();
                let p = match (c, next) {
                    ('!', Some('=')) => "!=",
                    ('<', Some('=')) => "<=",
                    ('>', Some('=')) => ">=",
                    ('>', Some('<')) => "><",
                    ('<', Some('>')) => "<>",
                    ('!', _) => "!",
                    ('=', _) => "=",
                    ('<', _) => "<",
                    _ => ">",
                };
                i += p.len();
                out.push(Token { tok: Tok::P(p), line });
            }
            '-' if cs.get(i + 1) == Some(&'>') => {
                out.push(Token {
                    tok: Tok::P("->"),
                    line,
                });
                i += 2;
            }
            c if word_char(c) => {
                let mut s = String::new();
                while i < cs.len() && word_char(cs[i]) {
                    s.push(cs[i]);
                    i += 1;
                    // `a->b` is three tokens.
                    if cs.get(i) == Some(&'-') && cs.get(i + 1) == Some(&'>') {
                        break;
                    }
                }
                out.push(Token {
                    tok: Tok::Word(s),
                    line,
                });
            }
            _ => {
                return Err(PErr {
                    line,
                    msg: "syntax error".into(),
                })
            }
        }
    }
    out.push(Token { tok: Tok::Nl, line });
    Ok(out)
}

/// Top-level keywords: a statement starting with one is not a macro definition.
const KEYWORDS: &[&str] = &[
    "set",
    "scrub",
    "no",
    "altq",
    "queue",
    "nat",
    "rdr",
    "binat",
    "nat-anchor",
    "rdr-anchor",
    "binat-anchor",
    "pass",
    "block",
    "anchor",
    "antispoof",
    "table",
    "load",
    "include",
];

/// Sections in the order pf.conf must keep them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Options,
    Scrub,
    Queue,
    Nat,
    Filter,
}

struct Parser<'a> {
    env: &'a Env<'a>,
    macros: HashMap<String, String>,
    errors: Vec<String>,
    out: Parsed,
    section: Section,
    require_order: bool,
    block_return: bool,
    state_lock: Option<StateLock>,
    /// Whether `set` options were read (for -O).
    filename: String,
    include_depth: u32,
    /// Tables defined in the file, by name (for the "already defined" check).
    table_names: Vec<String>,
}

/// Parses a pf.conf. Err carries every error, already formatted `FILE:LINE: message`.
pub fn parse(text: &str, env: &Env) -> Result<Parsed, Vec<String>> {
    let mut p = Parser {
        env,
        macros: HashMap::new(),
        errors: Vec::new(),
        out: Parsed::default(),
        section: Section::Options,
        require_order: true,
        block_return: false,
        state_lock: None,
        filename: env.filename.clone(),
        include_depth: 0,
        table_names: Vec::new(),
    };
    for (k, v) in &env.defines {
        p.macros.insert(k.clone(), v.clone());
    }
    p.run(text);
    if p.errors.is_empty() {
        Ok(p.out)
    } else {
        Err(p.errors)
    }
}

impl<'a> Parser<'a> {
    fn err(&mut self, line: u32, msg: impl Into<String>) {
        let msg = msg.into();
        self.errors.push(format!("{}:{}: {}", self.filename, line, msg));
    }

    fn run(&mut self, text: &str) {
        let toks = match lex(text, 1) {
            Ok(t) => t,
            Err(e) => {
                self.err(e.line, e.msg);
                return;
            }
        };
        let mut stmt: Vec<Token> = Vec::new();
        let mut depth = 0i32;
        for t in toks {
            match &t.tok {
                Tok::Word(w) if w.starts_with('$') => {
                    match self.expand_macro(&w[1..], t.line, 0) {
                        Ok(v) => {
                            for x in v {
                                match x.tok {
                                    Tok::P("{") => depth += 1,
                                    Tok::P("}") => depth -= 1,
                                    _ => {}
                                }
                                stmt.push(x);
                            }
                        }
                        Err(e) => {
                            self.err(e.line, e.msg);
                            // Skip the rest of the statement.
                            stmt.clear();
                            stmt.push(Token {
                                tok: Tok::P("error"),
                                line: t.line,
                            });
                        }
                    }
                }
                Tok::Nl if depth > 0 => {}
                Tok::Nl => {
                    if !stmt.is_empty() {
                        let s = std::mem::take(&mut stmt);
                        if s.first().map(|t| &t.tok) != Some(&Tok::P("error")) {
                            self.statement(s, t.line);
                        }
                    }
                    depth = 0;
                }
                Tok::P("{") => {
                    depth += 1;
                    stmt.push(t);
                }
                Tok::P("}") => {
                    depth -= 1;
                    stmt.push(t);
                }
                _ => stmt.push(t),
            }
        }
    }

    fn expand_macro(&self, name: &str, line: u32, depth: u32) -> R<Vec<Token>> {
        if depth > MAX_MACRO_DEPTH {
            return Err(PErr {
                line,
                msg: format!("macro '{name}' expands too deeply"),
            });
        }
        let Some(v) = self.macros.get(name) else {
            return Err(PErr {
                line,
                msg: format!("macro '{name}' not defined"),
            });
        };
        let toks = lex(v, line).map_err(|e| PErr { line, msg: e.msg })?;
        let mut out = Vec::new();
        for mut t in toks {
            t.line = line;
            match &t.tok {
                Tok::Nl => {}
                Tok::Word(w) if w.starts_with('$') => out.extend(self.expand_macro(&w[1..], line, depth + 1)?),
                _ => out.push(t),
            }
        }
        Ok(out)
    }

    fn statement(&mut self, toks: Vec<Token>, end_line: u32) {
        let first_line = toks[0].line;
        // Macro definition: NAME = "value" ...
        if let (Some(Tok::Word(name)), Some(Tok::P("="))) = (toks.first().map(|t| &t.tok), toks.get(1).map(|t| &t.tok))
        {
            if !KEYWORDS.contains(&name.as_str()) {
                let name = name.clone();
                let mut vals = Vec::new();
                for t in &toks[2..] {
                    match &t.tok {
                        Tok::Word(w) | Tok::Quoted(w) => vals.push(w.clone()),
                        Tok::P(p) => vals.push(p.to_string()),
                        Tok::Nl => {}
                    }
                }
                if vals.is_empty() {
                    self.err(first_line, "syntax error");
                    return;
                }
                // -D definitions win over the file's.
                if !self.env.defines.iter().any(|(k, _)| *k == name) {
                    self.macros.insert(name, vals.join(" "));
                }
                return;
            }
        }
        let mut c = Cur { toks, pos: 0, end_line };
        let r = self.dispatch(&mut c);
        if let Err(e) = r {
            self.err(e.line, e.msg);
        }
    }

    fn order(&mut self, c: &Cur, s: Section) -> R<()> {
        if self.require_order && s < self.section {
            return Err(PErr {
                line: c.line(),
                msg: "Rules must be in order: options, normalization, queueing, translation, filtering".into(),
            });
        }
        self.section = s;
        Ok(())
    }

    fn dispatch(&mut self, c: &mut Cur) -> R<()> {
        let w = c.word_any()?;
        match w.as_str() {
            "set" => {
                self.order(c, Section::Options)?;
                self.out.has_options = true;
                self.set_option(c)
            }
            "scrub" => {
                self.order(c, Section::Scrub)?;
                self.scrub(c, false)
            }
            "altq" => {
                self.order(c, Section::Queue)?;
                self.altq(c)
            }
            "queue" => {
                self.order(c, Section::Queue)?;
                self.queue(c)
            }
            "nat" | "rdr" | "binat" | "nat-anchor" | "rdr-anchor" | "binat-anchor" => {
                self.order(c, Section::Nat)?;
                self.nat(c, &w, false)
            }
            "no" => {
                let k = c.word_any()?;
                match k.as_str() {
                    "scrub" => {
                        self.order(c, Section::Scrub)?;
                        self.scrub(c, true)
                    }
                    "nat" | "rdr" | "binat" => {
                        self.order(c, Section::Nat)?;
                        self.nat(c, &k, true)
                    }
                    _ => Err(c.syntax()),
                }
            }
            "pass" | "block" | "anchor" => {
                self.order(c, Section::Filter)?;
                self.filter(c, &w)
            }
            "antispoof" => {
                self.order(c, Section::Filter)?;
                self.antispoof(c)
            }
            "table" => self.table(c),
            "load" => self.load_anchor(c),
            "include" => self.include(c),
            "match" => Err(c.err_here("match rules are not supported by this pf version")),
            _ => Err(c.syntax_at(c.pos.saturating_sub(1))),
        }
    }

    // ---------------------------------------------------------------- options

    fn set_option(&mut self, c: &mut Cur) -> R<()> {
        let w = c.word_any()?;
        match w.as_str() {
            "timeout" => {
                let items = c.list_or_one(|c| {
                    let n = c.word_any()?;
                    let v = c.number()?;
                    Ok((n, v))
                })?;
                for (n, v) in items {
                    let t = Timeout::from_name(&n).ok_or_else(|| c.err_here(format!("unknown timeout {n}")))?;
                    let v = u32::try_from(v).map_err(|_| c.err_here("timeout value out of range"))?;
                    self.out.ruleset.options.timeouts.push((t, v));
                }
            }
            "limit" => {
                let items = c.list_or_one(|c| {
                    let n = c.word_any()?;
                    let v = c.number()?;
                    Ok((n, v))
                })?;
                for (n, v) in items {
                    let l = Limit::from_name(&n).ok_or_else(|| c.err_here(format!("unknown limit {n}")))?;
                    let v = u32::try_from(v).map_err(|_| c.err_here("limit value out of range"))?;
                    self.out.ruleset.options.limits.push((l, v));
                }
            }
            "optimization" => {
                let o = c.word_any()?;
                self.optimization(c, &o)?;
            }
            "loginterface" => {
                let i = c.word_any()?;
                self.out.ruleset.options.loginterface = Some(if i == "none" { None } else { Some(i) });
            }
            "block-policy" => match c.word_any()?.as_str() {
                "drop" => self.block_return = false,
                "return" => self.block_return = true,
                _ => return Err(c.syntax_at(c.pos - 1)),
            },
            "state-policy" => {
                self.state_lock = Some(match c.word_any()?.as_str() {
                    "if-bound" => StateLock::IfBound,
                    "group-bound" => StateLock::GroupBound,
                    "floating" => StateLock::Floating,
                    _ => return Err(c.syntax_at(c.pos - 1)),
                })
            }
            "require-order" => {
                self.require_order = match c.word_any()?.as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(c.syntax_at(c.pos - 1)),
                }
            }
            "debug" => {
                let d = c.word_any()?;
                let d = Debug::from_name(&d).ok_or_else(|| c.err_here(format!("unknown debug level {d}")))?;
                self.out.ruleset.options.debug = Some(d);
            }
            "hostid" => {
                let v = c.number()?;
                let v = u32::try_from(v).map_err(|_| c.err_here("illegal hostid value"))?;
                if v == 0 {
                    return Err(c.err_here("illegal hostid value 0"));
                }
                self.out.ruleset.options.hostid = Some(v);
            }
            "skip" => {
                c.expect_word("on")?;
                let ifs = c.list_or_one(|c| c.word_any())?;
                self.out.ruleset.options.skip.get_or_insert_with(Vec::new).extend(ifs);
            }
            "fingerprints" => {
                return Err(c.err_here("set fingerprints: OS fingerprinting is not supported"));
            }
            _ => return Err(c.syntax_at(c.pos - 1)),
        }
        c.end()
    }

    /// `set optimization`: pfctl's timeout presets.
    fn optimization(&mut self, c: &Cur, o: &str) -> R<()> {
        let mult = match o {
            "normal" | "default" => None,
            "high-latency" | "satellite" => Some((3, 2)),
            "conservative" => Some((5, 2)),
            "aggressive" => {
                let t = &mut self.out.ruleset.options.timeouts;
                t.push((Timeout::TcpFirst, 30));
                t.push((Timeout::TcpOpening, 5));
                t.push((Timeout::TcpEstablished, 18000));
                t.push((Timeout::TcpClosing, 60));
                t.push((Timeout::TcpFinWait, 30));
                t.push((Timeout::TcpClosed, 30));
                t.push((Timeout::TcpTsDiff, 10));
                return Ok(());
            }
            _ => return Err(c.err_here(format!("unknown optimization {o}"))),
        };
        for t in Timeout::ALL {
            if t.is_adaptive() || matches!(t, Timeout::Interval | Timeout::SrcTrack) {
                continue;
            }
            let v = match mult {
                None => t.default_value(),
                Some((n, d)) => t.default_value() * n / d,
            };
            self.out.ruleset.options.timeouts.push((t, v));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- tables

    fn table(&mut self, c: &mut Cur) -> R<()> {
        c.expect_p("<")?;
        let name = c.word_any()?;
        c.expect_p(">")?;
        if name.len() >= 32 {
            return Err(c.err_here(format!("table name too long: {name}")));
        }
        let mut flags = 0;
        let mut addrs = Vec::new();
        while !c.at_end() {
            if c.is_p("{") {
                let items = c.braced(|c| {
                    let neg = c.eat_p("!");
                    let hs = self.host(c)?;
                    Ok((neg, hs))
                })?;
                for (neg, hs) in items {
                    for h in hs {
                        addrs.push(self.table_addr(c, h.addr, neg)?);
                    }
                }
                continue;
            }
            let w = c.word_any()?;
            match w.as_str() {
                "persist" => flags |= tflag::PERSIST,
                "const" => flags |= tflag::CONST,
                "counters" => {}
                "file" => {
                    let path = c.string()?;
                    let text =
                        (self.env.read_file)(&path).map_err(|e| c.err_here(format!("cannot load \"{path}\": {e}")))?;
                    for (i, l) in text.lines().enumerate() {
                        let l = l.split('#').next().unwrap_or("");
                        for item in l.split_whitespace() {
                            let (neg, item) = match item.strip_prefix('!') {
                                Some(r) => (true, r),
                                None => (false, item),
                            };
                            let (item, mask) = match item.split_once('/') {
                                Some((h, m)) => match m.parse::<u8>() {
                                    Ok(m) => (h, Some(m)),
                                    Err(_) => {
                                        return Err(PErr {
                                            line: c.line(),
                                            msg: format!("{path}:{}: illegal netmask {m}", i + 1),
                                        })
                                    }
                                },
                                None => (item, None),
                            };
                            let hs = self.host_word(item, mask, c).map_err(|e| PErr {
                                line: c.line(),
                                msg: format!("{path}:{}: {}", i + 1, e.msg),
                            })?;
                            for h in hs {
                                addrs.push(self.table_addr(c, h.addr, neg)?);
                            }
                        }
                    }
                }
                _ => return Err(c.err_here(format!("invalid table option '{w}'"))),
            }
        }
        if self.table_names.contains(&name) {
            return Err(c.err_here(format!("table <{name}> redefined")));
        }
        self.table_names.push(name.clone());
        self.out.ruleset.tables.push(TableDef { name, flags, addrs });
        Ok(())
    }

    fn table_addr(&self, c: &Cur, a: Addr, neg: bool) -> R<TableAddr> {
        match a {
            Addr::Net(net) => Ok(TableAddr { net, neg }),
            _ => Err(c.err_here("invalid table entry: only addresses and networks")),
        }
    }

    fn load_anchor(&mut self, c: &mut Cur) -> R<()> {
        c.expect_word("anchor")?;
        let name = c.string()?;
        c.expect_word("from")?;
        let path = c.string()?;
        c.end()?;
        let text = (self.env.read_file)(&path).map_err(|e| c.err_here(format!("cannot load \"{path}\": {e}")))?;
        let sub_env = Env {
            filename: path.clone(),
            defines: self.env.defines.clone(),
            ifaddrs: self.env.ifaddrs.clone(),
            ifnames: self.env.ifnames.clone(),
            read_file: self.env.read_file,
            resolve: self.env.resolve,
            random_key: self.env.random_key,
        };
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(c.err_here("anchors nested too deeply"));
        }
        let mut p = Parser {
            env: &sub_env,
            macros: self.macros.clone(),
            errors: Vec::new(),
            out: Parsed::default(),
            section: Section::Options,
            require_order: true,
            block_return: self.block_return,
            state_lock: self.state_lock,
            filename: path,
            include_depth: self.include_depth + 1,
            table_names: Vec::new(),
        };
        p.run(&text);
        if !p.errors.is_empty() {
            self.errors.extend(p.errors);
            return Ok(());
        }
        self.out.anchors.push((name.clone(), p.out.ruleset));
        for (n, r) in p.out.anchors {
            self.out.anchors.push((format!("{name}/{n}"), r));
        }
        Ok(())
    }

    fn include(&mut self, c: &mut Cur) -> R<()> {
        let path = c.string()?;
        c.end()?;
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(c.err_here("includes nested too deeply"));
        }
        let text = (self.env.read_file)(&path).map_err(|e| c.err_here(format!("cannot open \"{path}\": {e}")))?;
        let saved = std::mem::replace(&mut self.filename, path);
        self.include_depth += 1;
        self.run(&text);
        self.include_depth -= 1;
        self.filename = saved;
        Ok(())
    }

    // ---------------------------------------------------------------- hosts

    /// `any | HOST | { list } | <table> | (if) | no-route | urpf-failed | self`, with `!`
    /// allowed on each list member. Returns (negated, addr, af) items.
    fn hosts(&mut self, c: &mut Cur) -> R<Vec<HostItem>> {
        if c.is_p("{") {
            let items = c.braced(|c| {
                let neg = c.eat_p("!");
                let mut hs = self.host(c)?;
                for h in &mut hs {
                    h.neg ^= neg;
                }
                Ok(hs)
            })?;
            return Ok(items.into_iter().flatten().collect());
        }
        let neg = c.eat_p("!");
        let mut hs = if c.is_p("{") {
            // `! { a, b }` negates each member.
            self.hosts(c)?
        } else {
            self.host(c)?
        };
        for h in &mut hs {
            h.neg ^= neg;
        }
        Ok(hs)
    }

    fn host(&mut self, c: &mut Cur) -> R<Vec<HostItem>> {
        if c.eat_p("<") {
            let name = c.word_any()?;
            c.expect_p(">")?;
            return Ok(vec![HostItem::new(Addr::Table(name), None)]);
        }
        if c.eat_p("(") {
            let spec = c.word_any()?;
            c.expect_p(")")?;
            let (ifname, flags) =
                dyn_spec(&spec).ok_or_else(|| c.err_here(format!("illegal interface modifier in {spec}")))?;
            return Ok(vec![HostItem::new(Addr::Dynamic { ifname, flags }, None)]);
        }
        let w = c.string()?;
        match w.as_str() {
            "any" => return Ok(vec![HostItem::new(Addr::Any, None)]),
            "no-route" => return Ok(vec![HostItem::new(Addr::NoRoute, None)]),
            "urpf-failed" => return Ok(vec![HostItem::new(Addr::UrpfFailed, None)]),
            _ => {}
        }
        // a - b
        if c.is_word("-") {
            c.pos += 1;
            let b = c.string()?;
            let (Some(x), Some(y)) = (parse_ip(&w), parse_ip(&b)) else {
                return Err(c.err_here("could not parse host specification"));
            };
            if x.is_ipv4() != y.is_ipv4() {
                return Err(c.err_here("address range: mixed address families"));
            }
            let af = af_of(&x);
            return Ok(vec![HostItem::new(Addr::Range(x, y), Some(af))]);
        }
        let mask = if c.eat_p("/") { Some(c.number()?) } else { None };
        let mask = match mask {
            Some(m) if m > 128 => return Err(c.err_here(format!("illegal netmask {m}"))),
            Some(m) => Some(m as u8),
            None => None,
        };
        self.host_word(&w, mask, c)
    }

    /// A host written as a word: an interface (with modifiers), an address, or a name.
    fn host_word(&self, w: &str, mask: Option<u8>, c: &Cur) -> R<Vec<HostItem>> {
        if let Some(ip) = parse_ip(w) {
            let full = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = mask.unwrap_or(full);
            if prefix > full {
                return Err(c.err_here(format!("netmask {prefix} invalid for IPv4 address")));
            }
            let net = Net {
                addr: mask_addr(ip, prefix),
                prefix,
            };
            return Ok(vec![HostItem::new(Addr::Net(net), Some(af_of(&ip)))]);
        }
        // An interface name (or `self`), with :network etc.
        if let Some((ifname, flags)) = dyn_spec(w) {
            let known = ifname == "self" || self.env.ifnames.contains(&ifname);
            if known {
                let addrs = self.if_lookup(&ifname, flags);
                if addrs.is_empty() {
                    return Err(c.err_here(format!("no IP address found for {w}")));
                }
                return Ok(addrs
                    .into_iter()
                    .map(|n| {
                        let n = match mask {
                            Some(m) if m <= n.prefix || n.is_host() => Net {
                                addr: mask_addr(n.addr, m),
                                prefix: m,
                            },
                            _ => n,
                        };
                        HostItem::new(Addr::Net(n), Some(n.af()))
                    })
                    .collect());
            }
        }
        if let Some(resolve) = self.env.resolve {
            let ips = resolve(w);
            if !ips.is_empty() {
                return Ok(ips
                    .into_iter()
                    .map(|ip| {
                        let full = if ip.is_ipv4() { 32 } else { 128 };
                        let prefix = mask.unwrap_or(full).min(full);
                        HostItem::new(
                            Addr::Net(Net {
                                addr: mask_addr(ip, prefix),
                                prefix,
                            }),
                            Some(af_of(&ip)),
                        )
                    })
                    .collect());
            }
        }
        Err(c.err_here(format!("no IP address found for {w}")))
    }

    /// pfctl's ifa_lookup: the interface's addresses, networks, broadcast or peer
    /// addresses (`self`: every interface).
    fn if_lookup(&self, ifname: &str, flags: u8) -> Vec<Net> {
        let Some(all) = &self.env.ifaddrs else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seen_v4 = false;
        let mut seen_v6 = false;
        for a in all {
            if ifname != "self" && a.ifname != ifname {
                continue;
            }
            if flags & dynflag::NOALIAS != 0 {
                let seen = if a.addr.is_ipv4() { &mut seen_v4 } else { &mut seen_v6 };
                if *seen {
                    continue;
                }
                *seen = true;
            }
            let n = if flags & dynflag::BROADCAST != 0 {
                match a.broadcast {
                    Some(b) if a.addr.is_ipv4() => Net::host(b),
                    _ => continue,
                }
            } else if flags & dynflag::PEER != 0 {
                match a.peer {
                    Some(p) => Net::host(p),
                    None => continue,
                }
            } else if flags & dynflag::NETWORK != 0 {
                if let IpAddr::V6(v6) = a.addr {
                    if v6.segments()[0] & 0xffc0 == 0xfe80 {
                        continue;
                    }
                }
                Net {
                    addr: mask_addr(a.addr, a.prefix),
                    prefix: a.prefix,
                }
            } else {
                Net::host(a.addr)
            };
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }

    // ---------------------------------------------------------------- ports etc.

    fn ports(&mut self, c: &mut Cur) -> R<Vec<PortOp>> {
        if c.is_p("{") {
            return c.braced(port_item).map(|v| v.into_iter().collect());
        }
        Ok(vec![port_item(c)?])
    }

    fn protos(&mut self, c: &mut Cur) -> R<Vec<u8>> {
        c.list_or_one(|c| {
            let w = c.word_any()?;
            proto_value(&w).ok_or_else(|| c.err_here(format!("unknown protocol {w}")))
        })
    }

    fn ifaces(&mut self, c: &mut Cur) -> R<Vec<IfSpec>> {
        if c.is_p("{") {
            return c.braced(|c| {
                let neg = c.eat_p("!");
                Ok(IfSpec {
                    name: c.word_any()?,
                    neg,
                })
            });
        }
        let neg = c.eat_p("!");
        Ok(vec![IfSpec {
            name: c.word_any()?,
            neg,
        }])
    }

    /// `[from SRC [port P]] [to DST [port P]] | all`.
    fn fromto(&mut self, c: &mut Cur) -> R<FromTo> {
        let mut ft = FromTo::default();
        if c.eat_word("all") {
            return Ok(ft);
        }
        if c.eat_word("from") {
            if !c.is_word("port") {
                ft.src = self.hosts(c)?;
            }
            if c.eat_word("port") {
                ft.sport = self.ports(c)?.into_iter().map(Some).collect();
            }
            if c.is_word("os") {
                return Err(c.err_here("OS fingerprinting is not supported"));
            }
        }
        if c.eat_word("to") {
            if !c.is_word("port") {
                ft.dst = self.hosts(c)?;
            }
            if c.eat_word("port") {
                ft.dport = self.ports(c)?.into_iter().map(Some).collect();
            }
        }
        Ok(ft)
    }

    fn log_opts(&mut self, c: &mut Cur) -> R<LogOpts> {
        let mut l = LogOpts::default();
        if c.eat_p("(") {
            loop {
                let w = c.word_any()?;
                match w.as_str() {
                    "all" => l.all = true,
                    "user" => l.user = true,
                    "to" => {
                        let i = c.word_any()?;
                        if !i.starts_with("pflog") {
                            return Err(c.err_here(format!("{i}: not a pflog interface")));
                        }
                        l.to = Some(i);
                    }
                    _ => return Err(c.syntax_at(c.pos - 1)),
                }
                if c.eat_p(",") {
                    continue;
                }
                c.expect_p(")")?;
                break;
            }
        }
        Ok(l)
    }

    // ---------------------------------------------------------------- scrub

    fn scrub(&mut self, c: &mut Cur, no: bool) -> R<()> {
        let mut t = ScrubRule {
            no,
            ..ScrubRule::default()
        };
        let head = self.rule_head(c, false)?;
        t.dir = head.dir;
        t.log = head.log.clone();
        t.quick = head.quick;
        t.af = head.af;
        let ft = self.fromto(c)?;
        let mut fragment_given = false;
        while !c.at_end() {
            let w = c.word_any()?;
            match w.as_str() {
                "no-df" => t.no_df = true,
                "random-id" => t.random_id = true,
                "min-ttl" => t.min_ttl = Some(c.number_u8()?),
                "max-mss" => {
                    let v = c.number()?;
                    t.max_mss = Some(u16::try_from(v).map_err(|_| c.err_here("illegal max-mss value"))?);
                }
                "reassemble" => {
                    c.expect_word("tcp")?;
                    t.reassemble_tcp = true;
                }
                "fragment" => {
                    if fragment_given {
                        return Err(c.err_here("fragcache cannot be specified more than once"));
                    }
                    fragment_given = true;
                    t.frag = match c.word_any()?.as_str() {
                        "reassemble" => FragMode::Reassemble,
                        "crop" => FragMode::Crop,
                        "drop-ovl" => FragMode::DropOvl,
                        _ => return Err(c.syntax_at(c.pos - 1)),
                    };
                }
                _ => return Err(c.syntax_at(c.pos - 1)),
            }
        }
        if no && (t.no_df || t.random_id || t.min_ttl.is_some() || t.max_mss.is_some() || t.reassemble_tcp) {
            return Err(c.err_here("no scrub rules take no options"));
        }
        let combos = self.expand(c, &head, &ft)?;
        for k in combos {
            let mut r = t.clone();
            r.ifname = k.ifname;
            r.af = k.af;
            r.proto = k.proto;
            r.src = k.src;
            r.dst = k.dst;
            self.out.ruleset.scrub.push(r);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- queueing

    fn altq(&mut self, c: &mut Cur) -> R<()> {
        c.expect_word("on")?;
        let ifname = c.word_any()?;
        let mut def = AltqDef {
            ifname,
            bandwidth: 0,
            qlimit: 50,
            tbrsize: 0,
            queues: Vec::new(),
        };
        let mut sched = None;
        while !c.at_end() {
            let w = c.word_any()?;
            match w.as_str() {
                "priq" => sched = Some("priq"),
                "cbq" | "hfsc" => {
                    return Err(c.err_here(format!("{w}: ALTQ discipline not supported (only priq)")));
                }
                "bandwidth" => def.bandwidth = self.bandwidth(c)?,
                "qlimit" => def.qlimit = c.number_u32()?,
                "tbrsize" => def.tbrsize = c.number_u32()?,
                "queue" => def.queues = c.list_or_one(|c| c.word_any())?,
                _ => return Err(c.syntax_at(c.pos - 1)),
            }
        }
        if sched.is_none() {
            return Err(c.err_here("no scheduler specified!"));
        }
        if def.queues.is_empty() {
            return Err(c.err_here("altq on an interface needs a queue list"));
        }
        if def.bandwidth == 0 {
            return Err(c.err_here(format!("altq on {}: bandwidth is not specified", def.ifname)));
        }
        if self.out.ruleset.altq.iter().any(|a| a.ifname == def.ifname) {
            return Err(c.err_here(format!("altq on {} is already defined", def.ifname)));
        }
        self.out.ruleset.altq.push(def);
        Ok(())
    }

    fn bandwidth(&mut self, c: &mut Cur) -> R<u64> {
        let w = c.word_any()?;
        let (num, unit) = split_num(&w);
        let v: f64 = num.parse().map_err(|_| c.err_here(format!("unknown unit {w}")))?;
        let bps = match unit {
            "" | "b" => v,
            "Kb" => v * 1e3,
            "Mb" => v * 1e6,
            "Gb" => v * 1e9,
            "%" => {
                return Err(c.err_here("bandwidth in percent is only allowed for queues under a parent (not in priq)"))
            }
            _ => return Err(c.err_here(format!("unknown unit {unit}"))),
        };
        if !(0.0..=1e15).contains(&bps) {
            return Err(c.err_here("bandwidth out of range"));
        }
        Ok(bps as u64)
    }

    fn queue(&mut self, c: &mut Cur) -> R<()> {
        let name = c.word_any()?;
        let mut q = QueueDef {
            name: name.clone(),
            ifname: String::new(),
            priority: 1,
            qlimit: 50,
            bandwidth: None,
            opts: PriqOpts::default(),
        };
        let mut on = None;
        while !c.at_end() {
            let w = c.word_any()?;
            match w.as_str() {
                "on" => on = Some(c.word_any()?),
                "bandwidth" => q.bandwidth = Some(self.bandwidth(c)?),
                "priority" => {
                    let p = c.number()?;
                    if p > 15 {
                        return Err(c.err_here(format!("priority out of range: max {}", 15)));
                    }
                    q.priority = p as u8;
                }
                "qlimit" => q.qlimit = c.number_u32()?,
                "priq" => {
                    c.expect_p("(")?;
                    loop {
                        let o = c.word_any()?;
                        match o.as_str() {
                            "default" => q.opts.default = true,
                            "red" | "rio" | "ecn" => {
                                return Err(c.err_here(format!("priq option {o} is not supported")));
                            }
                            _ => return Err(c.syntax_at(c.pos - 1)),
                        }
                        c.eat_p(",");
                        if c.eat_p(")") {
                            break;
                        }
                    }
                }
                "cbq" | "hfsc" => {
                    return Err(c.err_here(format!("{w}: ALTQ discipline not supported (only priq)")));
                }
                "{" => return Err(c.err_here("priq queues have no child queues")),
                _ => return Err(c.syntax_at(c.pos - 1)),
            }
        }
        // The interface: the altq that lists the queue (or `on IF`).
        let ifs: Vec<String> = self
            .out
            .ruleset
            .altq
            .iter()
            .filter(|a| a.queues.contains(&name) && on.as_ref().is_none_or(|o| *o == a.ifname))
            .map(|a| a.ifname.clone())
            .collect();
        if ifs.is_empty() {
            return Err(c.err_here(format!("queue {name} has no parent (no altq lists it)")));
        }
        for i in ifs {
            if self.out.ruleset.queues.iter().any(|x| x.name == name && x.ifname == i) {
                return Err(c.err_here(format!("queue {name} already exists on interface {i}")));
            }
            let mut qq = q.clone();
            qq.ifname = i;
            self.out.ruleset.queues.push(qq);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- translation

    fn nat(&mut self, c: &mut Cur, kw: &str, no: bool) -> R<()> {
        let (kind, anchor) = match kw {
            "nat" => (NatKind::Nat, false),
            "rdr" => (NatKind::Rdr, false),
            "binat" => (NatKind::Binat, false),
            "nat-anchor" => (NatKind::Nat, true),
            "rdr-anchor" => (NatKind::Rdr, true),
            _ => (NatKind::Binat, true),
        };
        let mut t = NatRule::new(kind);
        t.no = no;
        if anchor {
            t.anchor = Some(c.string()?);
        }
        if !no && !anchor && c.eat_word("pass") {
            t.pass = true;
        }
        let head = self.rule_head(c, true)?;
        t.dir = head.dir;
        t.log = head.log.clone();
        let ft = self.fromto(c)?;
        // tag / tagged before the arrow.
        loop {
            if c.eat_word("tag") {
                t.tag = Some(c.string()?);
            } else if c.is_p("!") && c.is_word_at(c.pos + 1, "tagged") {
                c.pos += 2;
                t.tagged = Some((true, c.string()?));
            } else if c.eat_word("tagged") {
                t.tagged = Some((false, c.string()?));
            } else {
                break;
            }
        }
        let mut pool_hosts: Vec<HostItem> = Vec::new();
        if c.eat_p("->") {
            if no || anchor {
                return Err(c.err_here(format!(
                    "translation address not allowed in {}",
                    if no { "no rules" } else { "anchor calls" }
                )));
            }
            pool_hosts = self.hosts(c)?;
            let mut pool = Pool {
                addrs: Vec::new(),
                port: None,
                port_star: false,
                kind: PoolType::None,
                sticky: false,
                static_port: false,
            };
            while !c.at_end() {
                let w = c.word_any()?;
                match w.as_str() {
                    "port" => {
                        if kind == NatKind::Binat {
                            return Err(c.err_here("binat does not take a port"));
                        }
                        let p = c.word_any()?;
                        let (lo, hi, star) = parse_port_range(&p).ok_or_else(|| c.err_here(port_error(&p)))?;
                        pool.port = Some((lo, hi));
                        pool.port_star = star;
                    }
                    "static-port" => {
                        if kind != NatKind::Nat {
                            return Err(c.err_here("the 'static-port' option is only valid with nat rules"));
                        }
                        pool.static_port = true;
                    }
                    "bitmask" => pool.kind = PoolType::Bitmask,
                    "random" => pool.kind = PoolType::Random,
                    "round-robin" => pool.kind = PoolType::RoundRobin,
                    "source-hash" => {
                        let key = if c.at_end() || c.is_word("sticky-address") || c.is_word("static-port") {
                            (self.env.random_key)()
                        } else {
                            let k = c.word_any()?;
                            parse_hash_key(&k).ok_or_else(|| c.err_here(format!("illegal key {k}")))?
                        };
                        pool.kind = PoolType::SourceHash(key);
                    }
                    "sticky-address" => pool.sticky = true,
                    _ => return Err(c.syntax_at(c.pos - 1)),
                }
            }
            t.pool = Some(pool);
        } else if !no && !anchor {
            return Err(c.err_here("translation rule requires '-> address'"));
        }
        c.end()?;
        if kind == NatKind::Binat {
            if ft.sport.iter().any(Option::is_some) || ft.dport.iter().any(Option::is_some) {
                return Err(c.err_here("binat rules take no ports"));
            }
            if head.dir != Dir::InOut {
                return Err(c.err_here("binat rules take no direction"));
            }
        }
        let combos = self.expand(c, &head, &ft)?;
        let before = self.out.ruleset.nat.len();
        for k in combos {
            if k.proto.is_some_and(|p| p != 6 && p != 17) && t.pool.as_ref().is_some_and(|p| p.port.is_some()) {
                return Err(c.err_here("port only applies to tcp/udp"));
            }
            let mut r = t.clone();
            r.ifname = k.ifname.clone();
            r.proto = k.proto;
            r.src = k.src.clone();
            r.dst = k.dst.clone();
            r.af = k.af;
            if let Some(pool) = &mut r.pool {
                // The pool's addresses must agree with the rule's family.
                let mut addrs = Vec::new();
                for h in &pool_hosts {
                    if h.neg {
                        return Err(c.err_here("invalid use of '!' in a translation address"));
                    }
                    match (r.af, h.af) {
                        (Some(a), Some(b)) if a != b => continue,
                        (None, Some(b)) => r.af = Some(b),
                        _ => {}
                    }
                    addrs.push(h.addr.clone());
                }
                if addrs.is_empty() {
                    continue;
                }
                if addrs.len() > 1 && !matches!(pool.kind, PoolType::RoundRobin) && !matches!(pool.kind, PoolType::None)
                {
                    return Err(c.err_here("only round-robin valid for multiple redirection addresses"));
                }
                if addrs.len() > 1 && pool.kind == PoolType::None {
                    pool.kind = PoolType::RoundRobin;
                }
                if kind == NatKind::Binat {
                    let ok = match (&r.src.addr, &addrs[0]) {
                        (Addr::Net(a), Addr::Net(b)) => a.prefix == b.prefix,
                        (Addr::Net(a), Addr::Dynamic { .. }) => a.is_host(),
                        _ => false,
                    };
                    if addrs.len() != 1 || !ok {
                        return Err(
                            c.err_here("binat requires a source address and a translation address with the same mask")
                        );
                    }
                }
                pool.addrs = addrs;
            }
            self.out.ruleset.nat.push(r);
        }
        if self.out.ruleset.nat.len() == before {
            return Err(c.err_here("rule expands to no valid combination"));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- filter

    /// `[in|out] [log ...] [quick] [on IF] [inet|inet6] [proto P]`, shared by every rule.
    fn rule_head(&mut self, c: &mut Cur, nat: bool) -> R<Head> {
        let mut h = Head::default();
        loop {
            if c.eat_word("in") {
                h.dir = Dir::In;
            } else if c.eat_word("out") {
                h.dir = Dir::Out;
            } else if c.eat_word("log") {
                h.log = Some(self.log_opts(c)?);
            } else if c.eat_word("log-all") {
                h.log = Some(LogOpts {
                    all: true,
                    ..LogOpts::default()
                });
            } else if !nat && c.eat_word("quick") {
                h.quick = true;
            } else if c.eat_word("on") {
                h.ifs = self.ifaces(c)?;
            } else if c.eat_word("inet") {
                h.af = Some(Af::Inet);
            } else if c.eat_word("inet6") {
                h.af = Some(Af::Inet6);
            } else if c.eat_word("proto") {
                h.protos = self.protos(c)?;
            } else if c.is_word("route-to") || c.is_word("reply-to") || c.is_word("dup-to") || c.is_word("fastroute") {
                let w = c.word_any()?;
                return Err(c.err_here(format!("{w} is not supported")));
            } else {
                break;
            }
        }
        Ok(h)
    }

    fn filter(&mut self, c: &mut Cur, kw: &str) -> R<()> {
        let mut r = Rule::new(if kw == "block" { Action::Block } else { Action::Pass });
        if kw == "anchor" {
            let name = c.string()?;
            if name.is_empty() || name.starts_with('/') || name.contains("..") {
                return Err(c.err_here(format!("anchor name '{name}' is not valid")));
            }
            r.anchor = Some(name);
        }
        if kw == "block" {
            r.block = if self.block_return {
                BlockHow::Return
            } else {
                BlockHow::Drop
            };
            if let Some(w) = c.peek_word() {
                match w {
                    "drop" => {
                        c.pos += 1;
                        r.block = BlockHow::Drop;
                    }
                    "return" => {
                        c.pos += 1;
                        r.block = BlockHow::Return;
                    }
                    "return-rst" => {
                        c.pos += 1;
                        let mut ttl = None;
                        if c.eat_p("(") {
                            c.expect_word("ttl")?;
                            ttl = Some(c.number_u8()?);
                            c.expect_p(")")?;
                        }
                        r.block = BlockHow::ReturnRst { ttl };
                    }
                    "return-icmp" => {
                        c.pos += 1;
                        let (mut code, mut code6) = (None, None);
                        if c.eat_p("(") {
                            code = Some(icmp_code_arg(c, false)?);
                            if c.eat_p(",") {
                                code6 = Some(icmp_code_arg(c, true)?);
                            }
                            c.expect_p(")")?;
                        }
                        r.block = BlockHow::ReturnIcmp { code, code6 };
                    }
                    "return-icmp6" => {
                        c.pos += 1;
                        let mut code6 = None;
                        if c.eat_p("(") {
                            code6 = Some(icmp_code_arg(c, true)?);
                            c.expect_p(")")?;
                        }
                        r.block = BlockHow::ReturnIcmp6 { code6 };
                    }
                    _ => {}
                }
            }
        }
        let head = self.rule_head(c, false)?;
        r.dir = head.dir;
        r.log = head.log.clone();
        r.quick = head.quick;
        let ft = self.fromto(c)?;
        // Filter options, in any order.
        let mut uids: Vec<Option<IdOp>> = vec![None];
        let mut gids: Vec<Option<IdOp>> = vec![None];
        let mut icmps: Vec<Option<IcmpMatch>> = vec![None];
        let mut flags_given = false;
        let mut state_given = false;
        while !c.at_end() {
            let w = match c.peek_word() {
                Some(w) => w.to_string(),
                None if c.is_p("!") && c.is_word_at(c.pos + 1, "tagged") => {
                    c.pos += 2;
                    r.tagged = Some((true, c.string()?));
                    continue;
                }
                None => return Err(c.syntax()),
            };
            c.pos += 1;
            match w.as_str() {
                "user" | "group" => {
                    let ops = c.list_or_one(|c| id_item(c, w == "user"))?;
                    let v = ops.into_iter().map(Some).collect();
                    if w == "user" {
                        uids = v;
                    } else {
                        gids = v;
                    }
                }
                "flags" => {
                    flags_given = true;
                    let f = c.word_any()?;
                    if f == "any" {
                        r.flags = 0;
                        r.flagset = 0;
                    } else if c.eat_p("/") {
                        let m = c.word_any()?;
                        r.flags = parse_flags(&f).ok_or_else(|| c.err_here(format!("bad flags {f}")))?;
                        r.flagset = parse_flags(&m).ok_or_else(|| c.err_here(format!("bad flags {m}")))?;
                    } else if let Some((a, b)) = f.split_once('/') {
                        r.flags = parse_flags(a).ok_or_else(|| c.err_here(format!("bad flags {a}")))?;
                        r.flagset = parse_flags(b).ok_or_else(|| c.err_here(format!("bad flags {b}")))?;
                    } else {
                        r.flags = parse_flags(&f).ok_or_else(|| c.err_here(format!("bad flags {f}")))?;
                        r.flagset = 0xff;
                    }
                    if r.flags & !r.flagset != 0 && r.flagset != 0 {
                        return Err(c.err_here("flags always false"));
                    }
                }
                "icmp-type" | "icmp6-type" => {
                    let v6 = w == "icmp6-type";
                    let items = c.list_or_one(|c| {
                        let t = c.word_any()?;
                        let typ =
                            icmp_type_value(&t, v6).ok_or_else(|| c.err_here(format!("unknown icmp-type {t}")))?;
                        let mut code = None;
                        if c.eat_word("code") {
                            let cw = c.word_any()?;
                            code = Some(
                                icmp_code_value(typ, &cw, v6)
                                    .ok_or_else(|| c.err_here(format!("unknown icmp-code {cw}")))?,
                            );
                        }
                        Ok(IcmpMatch { v6, typ, code })
                    })?;
                    icmps = items.into_iter().map(Some).collect();
                }
                "tos" => {
                    let t = c.word_any()?;
                    let v = parse_num(&t)
                        .filter(|v| *v <= 255)
                        .ok_or_else(|| c.err_here(format!("illegal tos value {t}")))?;
                    r.tos = Some(v as u8);
                }
                "keep" | "modulate" | "synproxy" => {
                    c.expect_word("state")?;
                    if state_given {
                        return Err(c.err_here("multiple state options not allowed"));
                    }
                    state_given = true;
                    r.state = match w.as_str() {
                        "keep" => StateKind::Keep,
                        "modulate" => StateKind::Modulate,
                        _ => StateKind::Synproxy,
                    };
                    if c.is_p("(") {
                        r.state_opts = self.state_opts(c)?;
                    }
                }
                "no" => {
                    c.expect_word("state")?;
                    if state_given {
                        return Err(c.err_here("multiple state options not allowed"));
                    }
                    state_given = true;
                    r.state = StateKind::None;
                    r.no_state_explicit = true;
                }
                "fragment" => r.fragment = true,
                "allow-opts" => r.allow_opts = true,
                "label" => {
                    if r.label.is_some() {
                        return Err(c.err_here("label cannot be redefined"));
                    }
                    let l = c.string()?;
                    if l.len() >= 64 {
                        return Err(c.err_here("rule label too long (max 63 chars)"));
                    }
                    r.label = Some(l);
                }
                "queue" => {
                    if c.eat_p("(") {
                        r.queue = Some(c.word_any()?);
                        if c.eat_p(",") {
                            r.pqueue = Some(c.word_any()?);
                        }
                        c.expect_p(")")?;
                    } else {
                        r.queue = Some(c.word_any()?);
                    }
                }
                "tag" => r.tag = Some(c.string()?),
                "tagged" => r.tagged = Some((false, c.string()?)),
                "probability" => {
                    let p = c.word_any()?;
                    let num = p.strip_suffix('%').unwrap_or(&p);
                    let v: f64 = num
                        .parse()
                        .map_err(|_| c.err_here(format!("invalid probability: {p}")))?;
                    if !(0.0..=100.0).contains(&v) || v == 0.0 {
                        return Err(c.err_here(format!("invalid probability: {p}")));
                    }
                    r.probability = Some(if v >= 100.0 {
                        0
                    } else {
                        ((v / 100.0) * (u32::MAX as f64 + 1.0)) as u32
                    });
                    if r.probability == Some(0) {
                        r.probability = None;
                    }
                }
                "os" => return Err(c.err_here("OS fingerprinting is not supported")),
                "rtable" => return Err(c.err_here("rtable is not supported")),
                _ => return Err(c.syntax_at(c.pos - 1)),
            }
        }
        // pf 4.2's defaults: a pass rule keeps state, and a stateful rule checks S/SA.
        if r.action == Action::Block && state_given && r.state != StateKind::None {
            return Err(c.err_here("keep state on block rules doesn't make sense"));
        }
        if r.action == Action::Pass && !state_given && r.anchor.is_none() {
            r.state = StateKind::Keep;
        }
        if r.state != StateKind::None && !flags_given && !r.fragment && r.anchor.is_none() {
            r.flags = tcpflag::SYN;
            r.flagset = tcpflag::SYN | tcpflag::ACK;
        }
        if r.state_opts.lock.is_none() && r.state != StateKind::None {
            if let Some(l) = self.state_lock {
                if l != StateLock::Floating {
                    r.state_opts.lock = Some(l);
                }
            }
        }
        if r.state == StateKind::Synproxy && head.protos.iter().any(|p| *p != 6) {
            return Err(c.err_here("synproxy state only applies to tcp"));
        }
        let combos = self.expand(c, &head, &ft)?;
        let before = self.out.ruleset.filter.len();
        for k in combos {
            for uid in &uids {
                for gid in &gids {
                    for icmp in &icmps {
                        let mut x = r.clone();
                        x.ifname = k.ifname.clone();
                        x.af = k.af;
                        x.proto = k.proto;
                        x.src = k.src.clone();
                        x.dst = k.dst.clone();
                        x.uid = *uid;
                        x.gid = *gid;
                        x.icmp = *icmp;
                        if let Some(ic) = icmp {
                            let want = if ic.v6 { 58 } else { 1 };
                            if x.proto != Some(want) {
                                return Err(c.err_here(if ic.v6 {
                                    "icmp6-type only allowed with proto icmp6"
                                } else {
                                    "icmp-type only allowed with proto icmp"
                                }));
                            }
                            let af = if ic.v6 { Af::Inet6 } else { Af::Inet };
                            match x.af {
                                Some(a) if a != af => continue,
                                None => x.af = Some(af),
                                _ => {}
                            }
                        }
                        if x.proto == Some(1) && x.af == Some(Af::Inet6)
                            || x.proto == Some(58) && x.af == Some(Af::Inet)
                        {
                            continue;
                        }
                        // Flags only for TCP: the default S/SA is dropped for the others.
                        if x.proto.is_some_and(|p| p != 6) && (x.flags != 0 || x.flagset != 0) {
                            if flags_given {
                                return Err(c.err_here("flags only apply to tcp"));
                            }
                            x.flags = 0;
                            x.flagset = 0;
                        }
                        if let Some(l) = &x.label {
                            let nr = self.out.ruleset.filter.len() as u32;
                            x.label = Some(expand_label(l, &x, nr));
                        }
                        self.out.ruleset.filter.push(x);
                        if self.out.ruleset.filter.len() - before > MAX_EXPANSION {
                            return Err(c.err_here("rule expands to too many rules"));
                        }
                    }
                }
            }
        }
        if self.out.ruleset.filter.len() == before {
            return Err(c.err_here("rule expands to no valid combination"));
        }
        Ok(())
    }

    fn state_opts(&mut self, c: &mut Cur) -> R<StateOpts> {
        let mut o = StateOpts::default();
        c.expect_p("(")?;
        loop {
            let w = c.word_any()?;
            match w.as_str() {
                "max" => o.max = Some(c.number_u32()?),
                "no-sync" => o.no_sync = true,
                "source-track" => {
                    o.source_track = Some(if c.eat_word("global") {
                        SourceTrack::Global
                    } else {
                        c.eat_word("rule");
                        SourceTrack::Rule
                    });
                }
                "max-src-nodes" => o.max_src_nodes = Some(c.number_u32()?),
                "max-src-states" => o.max_src_states = Some(c.number_u32()?),
                "max-src-conn" => o.max_src_conn = Some(c.number_u32()?),
                "max-src-conn-rate" => {
                    let a = c.number_u32()?;
                    c.expect_p("/")?;
                    let b = c.number_u32()?;
                    if a == 0 || b == 0 {
                        return Err(c.err_here("max-src-conn-rate needs a limit and seconds above 0"));
                    }
                    o.max_src_conn_rate = Some((a, b));
                }
                "overload" => {
                    c.expect_p("<")?;
                    let t = c.word_any()?;
                    c.expect_p(">")?;
                    let mut flush = None;
                    if c.eat_word("flush") {
                        flush = Some(c.eat_word("global"));
                    }
                    o.overload = Some(Overload { table: t, flush });
                }
                "if-bound" => o.lock = Some(StateLock::IfBound),
                "group-bound" => o.lock = Some(StateLock::GroupBound),
                "floating" => o.lock = Some(StateLock::Floating),
                "pflow" | "sloppy" => return Err(c.err_here(format!("state option {w} is not supported"))),
                _ => {
                    let t = Timeout::from_name(&w).ok_or_else(|| c.err_here(format!("illegal timeout name {w}")))?;
                    o.timeouts.push((t, c.number_u32()?));
                }
            }
            if c.eat_p(",") {
                continue;
            }
            c.expect_p(")")?;
            break;
        }
        if o.overload.is_some() && o.max_src_conn.is_none() && o.max_src_conn_rate.is_none() {
            return Err(c.err_here("overload requires max-src-conn or max-src-conn-rate"));
        }
        if o.source_track.is_none()
            && (o.max_src_nodes.is_some()
                || o.max_src_states.is_some()
                || o.max_src_conn.is_some()
                || o.max_src_conn_rate.is_some())
        {
            o.source_track = Some(SourceTrack::Rule);
        }
        Ok(o)
    }

    fn antispoof(&mut self, c: &mut Cur) -> R<()> {
        let mut log = None;
        let mut quick = false;
        loop {
            if c.eat_word("log") {
                log = Some(self.log_opts(c)?);
            } else if c.eat_word("quick") {
                quick = true;
            } else {
                break;
            }
        }
        c.expect_word("for")?;
        let ifs = c.list_or_one(|c| c.word_any())?;
        let mut af = None;
        if c.eat_word("inet") {
            af = Some(Af::Inet);
        } else if c.eat_word("inet6") {
            af = Some(Af::Inet6);
        }
        let mut label = None;
        if c.eat_word("label") {
            label = Some(c.string()?);
        }
        c.end()?;
        let before = self.out.ruleset.filter.len();
        for ifname in ifs {
            let (name, flags) = dyn_spec(&ifname).ok_or_else(|| c.err_here(format!("illegal interface {ifname}")))?;
            if !self.env.ifnames.contains(&name) {
                return Err(c.err_here(format!("{ifname}: no such interface")));
            }
            let loopback = self
                .env
                .ifaddrs
                .iter()
                .flatten()
                .any(|a| a.ifname == name && a.loopback);
            let mk = |net: Net, neg_if: bool| {
                let mut r = Rule::new(Action::Block);
                r.dir = Dir::In;
                r.log = log.clone();
                r.quick = quick;
                r.label = label.clone();
                if neg_if {
                    r.ifname = Some(IfSpec {
                        name: name.clone(),
                        neg: true,
                    });
                }
                r.af = Some(net.af());
                r.src.addr = Addr::Net(net);
                r
            };
            let wanted = |n: &Net| af.is_none_or(|a| a == n.af());
            for n in self.if_lookup(&name, flags | dynflag::NETWORK) {
                if wanted(&n) {
                    self.out.ruleset.filter.push(mk(n, true));
                }
            }
            if !loopback {
                for n in self.if_lookup(&name, flags) {
                    if let IpAddr::V6(v6) = n.addr {
                        if v6.segments()[0] & 0xffc0 == 0xfe80 {
                            continue;
                        }
                    }
                    if wanted(&n) {
                        self.out.ruleset.filter.push(mk(n, false));
                    }
                }
            }
        }
        if self.out.ruleset.filter.len() == before {
            return Err(c.err_here("rule expands to no valid combination"));
        }
        Ok(())
    }

    /// The cross product of a rule's lists, keeping the combinations whose families
    /// agree (pfctl's expand_rule).
    fn expand(&mut self, c: &Cur, head: &Head, ft: &FromTo) -> R<Vec<Combo>> {
        let ifs: Vec<Option<IfSpec>> = if head.ifs.is_empty() {
            vec![None]
        } else {
            head.ifs.iter().cloned().map(Some).collect()
        };
        let protos: Vec<Option<u8>> = if head.protos.is_empty() {
            vec![None]
        } else {
            head.protos.iter().copied().map(Some).collect()
        };
        let any = vec![HostItem::new(Addr::Any, None)];
        let src = if ft.src.is_empty() { &any } else { &ft.src };
        let dst = if ft.dst.is_empty() { &any } else { &ft.dst };
        let none = vec![None];
        let sport = if ft.sport.is_empty() { &none } else { &ft.sport };
        let dport = if ft.dport.is_empty() { &none } else { &ft.dport };
        let total = ifs.len() * protos.len() * src.len() * dst.len() * sport.len() * dport.len();
        if total > MAX_EXPANSION {
            return Err(c.err_here("rule expands to too many rules"));
        }
        let mut out = Vec::new();
        for i in &ifs {
            for p in &protos {
                if (ft.sport.iter().any(Option::is_some) || ft.dport.iter().any(Option::is_some))
                    && !matches!(p, Some(6) | Some(17))
                {
                    return Err(c.err_here("port only applies to tcp/udp"));
                }
                for s in src {
                    for d in dst {
                        let mut af = head.af;
                        let mut ok = true;
                        for h in [s, d] {
                            if let Some(haf) = h.af {
                                match af {
                                    Some(a) if a != haf => ok = false,
                                    _ => af = Some(haf),
                                }
                            }
                        }
                        if !ok {
                            continue;
                        }
                        for sp in sport {
                            for dp in dport {
                                out.push(Combo {
                                    ifname: i.clone(),
                                    af,
                                    proto: *p,
                                    src: Endpoint {
                                        addr: s.addr.clone(),
                                        neg: s.neg,
                                        port: *sp,
                                    },
                                    dst: Endpoint {
                                        addr: d.addr.clone(),
                                        neg: d.neg,
                                        port: *dp,
                                    },
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone)]
struct HostItem {
    addr: Addr,
    neg: bool,
    af: Option<Af>,
}

impl HostItem {
    fn new(addr: Addr, af: Option<Af>) -> HostItem {
        HostItem { addr, neg: false, af }
    }
}

#[derive(Debug, Default)]
struct Head {
    dir: Dir,
    log: Option<LogOpts>,
    quick: bool,
    ifs: Vec<IfSpec>,
    af: Option<Af>,
    protos: Vec<u8>,
}

#[derive(Debug, Default)]
struct FromTo {
    src: Vec<HostItem>,
    sport: Vec<Option<PortOp>>,
    dst: Vec<HostItem>,
    dport: Vec<Option<PortOp>>,
}

struct Combo {
    ifname: Option<IfSpec>,
    af: Option<Af>,
    proto: Option<u8>,
    src: Endpoint,
    dst: Endpoint,
}

/// A cursor over one statement's tokens.
struct Cur {
    toks: Vec<Token>,
    pos: usize,
    end_line: u32,
}

impl Cur {
    fn line(&self) -> u32 {
        self.toks.get(self.pos).map(|t| t.line).unwrap_or(self.end_line)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn err_here(&self, msg: impl Into<String>) -> PErr {
        PErr {
            line: self.end_line.max(self.toks.first().map(|t| t.line).unwrap_or(0)),
            msg: msg.into(),
        }
    }

    fn syntax_at(&self, pos: usize) -> PErr {
        PErr {
            line: self.toks.get(pos).map(|t| t.line).unwrap_or(self.end_line),
            msg: "syntax error".into(),
        }
    }

    fn syntax(&self) -> PErr {
        self.syntax_at(self.pos)
    }

    fn end(&self) -> R<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.pos).map(|t| &t.tok) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn is_word(&self, w: &str) -> bool {
        self.is_word_at(self.pos, w)
    }

    fn is_word_at(&self, pos: usize, w: &str) -> bool {
        matches!(self.toks.get(pos).map(|t| &t.tok), Some(Tok::Word(x)) if x == w)
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_word(&mut self, w: &str) -> R<()> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    fn is_p(&self, p: &str) -> bool {
        matches!(self.toks.get(self.pos).map(|t| &t.tok), Some(Tok::P(x)) if *x == p)
    }

    fn eat_p(&mut self, p: &str) -> bool {
        if self.is_p(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_p(&mut self, p: &str) -> R<()> {
        if self.eat_p(p) {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// A bare word (keywords included).
    fn word_any(&mut self) -> R<String> {
        match self.toks.get(self.pos).map(|t| &t.tok) {
            Some(Tok::Word(w)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.syntax()),
        }
    }

    /// A word or a quoted string.
    fn string(&mut self) -> R<String> {
        match self.toks.get(self.pos).map(|t| &t.tok) {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.syntax()),
        }
    }

    fn number(&mut self) -> R<u64> {
        let p = self.pos;
        let w = self.word_any()?;
        parse_num(&w).ok_or_else(|| self.syntax_at(p))
    }

    fn number_u32(&mut self) -> R<u32> {
        let v = self.number()?;
        u32::try_from(v).map_err(|_| self.err_here(format!("number {v} out of range")))
    }

    fn number_u8(&mut self) -> R<u8> {
        let v = self.number()?;
        u8::try_from(v).map_err(|_| self.err_here(format!("number {v} out of range")))
    }

    /// `{ a, b c }` (commas optional) with `item` read for each member.
    fn braced<T>(&mut self, mut item: impl FnMut(&mut Cur) -> R<T>) -> R<Vec<T>> {
        self.expect_p("{")?;
        let mut out = Vec::new();
        loop {
            if self.eat_p("}") {
                break;
            }
            if self.at_end() {
                return Err(self.syntax());
            }
            out.push(item(self)?);
            self.eat_p(",");
            if out.len() > MAX_EXPANSION {
                return Err(self.err_here("list too long"));
            }
        }
        if out.is_empty() {
            return Err(self.syntax());
        }
        Ok(out)
    }

    fn list_or_one<T>(&mut self, mut item: impl FnMut(&mut Cur) -> R<T>) -> R<Vec<T>> {
        if self.is_p("{") {
            self.braced(item)
        } else {
            Ok(vec![item(self)?])
        }
    }
}

// ---------------------------------------------------------------- helpers

fn af_of(ip: &IpAddr) -> Af {
    if ip.is_ipv4() {
        Af::Inet
    } else {
        Af::Inet6
    }
}

/// A strict address literal: dotted quad (all four parts) or IPv6.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(a));
    }
    // fe80::1%en0: the scope is the interface; pf matches the address.
    let s6 = s.split('%').next().unwrap_or(s);
    if s6.contains(':') {
        if let Ok(a) = s6.parse::<Ipv6Addr>() {
            return Some(IpAddr::V6(a));
        }
    }
    None
}

/// The address with the bits past `prefix` cleared.
pub fn mask_addr(a: IpAddr, prefix: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let p = u32::from(prefix.min(32));
            let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            IpAddr::V4(Ipv4Addr::from(u32::from(v) & m))
        }
        IpAddr::V6(v) => {
            let p = u32::from(prefix.min(128));
            let m = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            IpAddr::V6(Ipv6Addr::from(u128::from(v) & m))
        }
    }
}

/// `en0`, `en0:network`, `en0:broadcast:0` ... -> name and `dynflag` bits.
fn dyn_spec(s: &str) -> Option<(String, u8)> {
    // An IPv6 literal is not an interface.
    if s.parse::<Ipv6Addr>().is_ok() {
        return None;
    }
    let mut parts = s.split(':');
    let name = parts.next()?.to_string();
    if name.is_empty() {
        return None;
    }
    let mut flags = 0;
    for m in parts {
        let f = match m {
            "network" => dynflag::NETWORK,
            "broadcast" => dynflag::BROADCAST,
            "peer" => dynflag::PEER,
            "0" => dynflag::NOALIAS,
            _ => return None,
        };
        // network, broadcast and peer exclude each other.
        if f != dynflag::NOALIAS && flags & !dynflag::NOALIAS != 0 {
            return None;
        }
        flags |= f;
    }
    Some((name, flags))
}

fn parse_num(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok();
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn split_num(s: &str) -> (&str, &str) {
    let i = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    (&s[..i], &s[i..])
}

fn proto_value(w: &str) -> Option<u8> {
    if let Some(n) = parse_num(w) {
        return u8::try_from(n).ok();
    }
    names::proto_by_name(w)
}

fn port_value(w: &str) -> Option<u16> {
    names::port_by_name(w)
}

/// `p`, `p:q`, `p:*` for a translation target.
fn parse_port_range(w: &str) -> Option<(u16, u16, bool)> {
    match w.split_once(':') {
        None => Some((port_value(w)?, 0, false)),
        Some((a, "*")) => Some((port_value(a)?, 0, true)),
        Some((a, b)) => {
            let (a, b) = (port_value(a)?, port_value(b)?);
            (a <= b).then_some((a, b, false))
        }
    }
}

/// One port item: `[op] p`, `p:q`, `p >< q`, `p <> q`.
fn port_item(c: &mut Cur) -> R<PortOp> {
    let op = unary_op(c);
    let w = c.word_any()?;
    if let Some(op) = op {
        let p = port_value(&w).ok_or_else(|| c.err_here(port_error(&w)))?;
        return Ok(PortOp { op, a: p, b: 0 });
    }
    if let Some((a, b)) = w.split_once(':') {
        let a = port_value(a).ok_or_else(|| c.err_here(port_error(a)))?;
        let b = port_value(b).ok_or_else(|| c.err_here(port_error(b)))?;
        return Ok(PortOp { op: Op::Range, a, b });
    }
    let a = port_value(&w).ok_or_else(|| c.err_here(port_error(&w)))?;
    for (p, op) in [("><", Op::Between), ("<>", Op::Outside)] {
        if c.eat_p(p) {
            let b = c.word_any()?;
            let b = port_value(&b).ok_or_else(|| c.err_here(port_error(&b)))?;
            return Ok(PortOp { op, a, b });
        }
    }
    Ok(PortOp::eq(a))
}

fn unary_op(c: &mut Cur) -> Option<Op> {
    for (p, op) in [
        ("=", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        ("<=", Op::Le),
        (">", Op::Gt),
        (">=", Op::Ge),
    ] {
        if c.eat_p(p) {
            return Some(op);
        }
    }
    None
}

/// `user`/`group` item: a name (looked up), `unknown`, or a number, with operators.
fn id_item(c: &mut Cur, user: bool) -> R<IdOp> {
    let lookup = |w: &str| -> Option<u32> {
        if w == "unknown" {
            return Some(u32::MAX);
        }
        if let Some(n) = parse_num(w) {
            return u32::try_from(n).ok();
        }
        lookup_id(w, user)
    };
    let op = unary_op(c);
    let w = c.word_any()?;
    let what = if user { "user" } else { "group" };
    let a = lookup(&w).ok_or_else(|| c.err_here(format!("unknown {what} {w}")))?;
    if let Some(op) = op {
        return Ok(IdOp { op, a, b: 0 });
    }
    for (p, op) in [("><", Op::Between), ("<>", Op::Outside)] {
        if c.eat_p(p) {
            let b = c.word_any()?;
            let b = lookup(&b).ok_or_else(|| c.err_here(format!("unknown {what} {b}")))?;
            return Ok(IdOp { op, a, b });
        }
    }
    Ok(IdOp { op: Op::Eq, a, b: 0 })
}

/// A user or group name from /etc/passwd or /etc/group.
fn lookup_id(name: &str, user: bool) -> Option<u32> {
    if cfg!(fuzzing) {
        return (name == "root" || name == "wheel").then_some(0);
    }
    let path = if user { "/etc/passwd" } else { "/etc/group" };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let n = f.next()?;
        f.next()?;
        let id = f.next()?;
        (n == name).then(|| id.parse().ok())?
    })
}

fn icmp_type_value(w: &str, v6: bool) -> Option<u8> {
    if let Some(n) = parse_num(w) {
        return u8::try_from(n).ok();
    }
    names::icmp_type_by_name(w, v6)
}

fn icmp_code_value(typ: u8, w: &str, v6: bool) -> Option<u8> {
    if let Some(n) = parse_num(w) {
        return u8::try_from(n).ok();
    }
    names::icmp_code_by_name(typ, w, v6)
}

/// The code of `return-icmp(code)`: a destination-unreachable code.
fn icmp_code_arg(c: &mut Cur, v6: bool) -> R<u8> {
    let w = c.word_any()?;
    let typ = if v6 { 1 } else { 3 };
    icmp_code_value(typ, &w, v6).ok_or_else(|| c.err_here(format!("unknown icmp-code {w}")))
}

/// `FSRPAUEW` letters to bits; "" is an error.
fn parse_flags(s: &str) -> Option<u8> {
    let mut f = 0u8;
    for ch in s.bytes() {
        let i = tcpflag::LETTERS.iter().position(|l| *l == ch)?;
        f |= 1 << i;
    }
    (f != 0).then_some(f)
}

fn parse_hash_key(k: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    if let Some(h) = k.strip_prefix("0x") {
        if h.len() != 32 {
            return None;
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        return Some(out);
    }
    // A string key: its bytes folded in (pfctl takes the MD5 of it; any fixed
    // function of the string serves the same purpose).
    let mut h: u64 = 0xcbf29ce484222325;
    for (i, o) in out.iter_mut().enumerate() {
        for b in k.bytes().chain([i as u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        *o = (h >> 24) as u8;
    }
    Some(out)
}

/// pfctl's label macros: `$if`, `$srcaddr`, `$dstaddr`, `$srcport`, `$dstport`,
/// `$proto`, `$nr`.
fn expand_label(l: &str, r: &Rule, nr: u32) -> String {
    if !l.contains('$') {
        return l.to_string();
    }
    let addr = |e: &Endpoint| super::print::addr_text(&e.addr, e.neg);
    let port = |e: &Endpoint| match e.port {
        Some(p) if p.op == Op::Eq => p.a.to_string(),
        Some(p) => super::print::port_op_text(&p, r.proto),
        None => String::new(),
    };
    l.replace("$if", r.ifname.as_ref().map(|i| i.name.as_str()).unwrap_or(""))
        .replace("$srcaddr", &addr(&r.src))
        .replace("$dstaddr", &addr(&r.dst))
        .replace("$srcport", &port(&r.src))
        .replace("$dstport", &port(&r.dst))
        .replace(
            "$proto",
            &r.proto
                .map(|p| names::proto_name(p).unwrap_or_else(|| p.to_string()))
                .unwrap_or_default(),
        )
        .replace("$nr", &nr.to_string())
}

/// pfctl's words for a port it cannot use: a number out of range is an "illegal port
/// value", anything else an "unknown port" (not in services).
fn port_error(w: &str) -> String {
    if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) {
        format!("illegal port value {w}")
    } else {
        format!("unknown port {w}")
    }
}
