//! tcpdump's filter compiler: the pcap-filter(7) language to classic BPF for Ethernet
//! (DLT_EN10MB), BSD loopback (DLT_NULL) and PF's log (DLT_PFLOG), in pure Rust.
//!
//! The programs are not libpcap's instruction for instruction, but their verdict is
//! libpcap's on every frame, short ones included: the tests come in libpcap's order (so a
//! frame too short for a load meets it exactly when libpcap's program would, and is
//! dropped the same way), and the optimizer removes the same tests libpcap's does.
//!
//! ```text
//! lex -> parse (builds the graph of tests, ir + gen) -> opt (jump threading) -> emit
//! ```

mod emit;
mod gen;
mod ir;
mod lex;
mod names;
mod opt;
mod parse;

use std::fmt;

use pktbox_stack::wire::bpf::{BpfInsn, BPF_K, BPF_MAXINSNS, BPF_RET};

/// What a filter is compiled for.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// What the program returns for a packet it accepts: the snap length.
    pub snaplen: u32,
    /// The network mask `ip broadcast` uses (0 when unknown, as tcpdump -d has it).
    pub netmask: u32,
    /// Run the optimizer (tcpdump's `-O` turns it off).
    pub optimize: bool,
    /// The link type the program will see: DLT_EN10MB, DLT_NULL for loopback, DLT_PFLOG
    /// for PF's log interfaces.
    pub linktype: u32,
}

/// Link types the compiler knows (`DLT_*`).
pub const DLT_NULL: u32 = 0;
pub const DLT_EN10MB: u32 = 1;
pub const DLT_PFLOG: u32 = pktbox_stack::wire::pflog::DLT_PFLOG;

impl Default for Options {
    fn default() -> Self {
        Options {
            snaplen: DEFAULT_SNAPLEN,
            netmask: 0,
            optimize: true,
            linktype: DLT_EN10MB,
        }
    }
}

/// More tests than a filter of a few hundred terms makes; the optimizer's work grows with
/// the square of their number.
const MAX_BLOCKS: usize = 8192;

/// libpcap's default snap length (MAXIMUM_SNAPLEN).
pub const DEFAULT_SNAPLEN: u32 = 262144;

/// Why an expression does not compile, worded as libpcap words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The expression does not parse; `at` is the character offset of the offending token
    /// (`near` its text, empty at the end).
    Syntax { at: usize, near: String },
    /// It parses but means nothing (`unknown host 'x'`, `illegal qualifier of 'port'`).
    Semantic(String),
}

impl Error {
    pub(crate) fn syntax(expr: &str, at: usize) -> Error {
        let near = expr[at.min(expr.len())..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        Error::Syntax { at, near }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Syntax { near, .. } if near.is_empty() => {
                write!(f, "can't parse filter expression: syntax error at end of expression")
            }
            Error::Syntax { at, near } => {
                write!(
                    f,
                    "can't parse filter expression: syntax error at '{near}' (character {})",
                    at + 1
                )
            }
            Error::Semantic(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// Compiles `expr` (the words of tcpdump's command line joined by spaces). An empty
/// expression accepts every packet. A program longer than a capture takes
/// ([`BPF_MAXINSNS`]) is refused here, as the validator would refuse it later.
pub fn compile(expr: &str, opts: &Options) -> Result<Vec<BpfInsn>, Error> {
    let prog = build(expr, opts)?;
    if prog.len() > BPF_MAXINSNS {
        return Err(Error::Semantic("expression too complex".into()));
    }
    Ok(prog)
}

fn build(expr: &str, opts: &Options) -> Result<Vec<BpfInsn>, Error> {
    let toks = lex::lex(expr)?;
    let mut p = parse::Parser::new(expr, toks, gen::Gen::new(opts.netmask, opts.linktype));
    let Some(cond) = p.program()? else {
        return Ok(vec![BpfInsn::stmt(BPF_RET | BPF_K, opts.snaplen)]);
    };
    let mut g = p.gen.g;
    if g.blocks.len() > MAX_BLOCKS {
        return Err(Error::Semantic("expression too complex".into()));
    }
    g.finish(&cond);
    if !opts.optimize {
        let o = opt::Optimized {
            entry: ir::Target::Block(cond.entry),
            prefix: Vec::new(),
        };
        return emit::emit(&g, &o, opts.snaplen);
    }
    let o = opt::optimize(&mut g, cond.entry);
    if emit::resolve(&g, o.entry) == ir::Target::Reject {
        return Err(Error::Semantic("expression rejects all packets".into()));
    }
    emit::emit(&g, &o, opts.snaplen)
}

#[cfg(test)]
mod tests;
