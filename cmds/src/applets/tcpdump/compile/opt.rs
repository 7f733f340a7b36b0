//! The optimizer. It matters for more than size: a test the optimizer removes does not
//! load anything, so on a packet too short for that load the program no longer gives up
//! with 0, and a test it moves up meets a short packet earlier. To give libpcap's verdict
//! on every packet, short ones included, this optimizer does what libpcap's does (after the
//! BPF+ design of Begel, McCanne and Graham), in the same two passes:
//!
//! 1. Rounds of jump threading and branch reordering until nothing changes, with values as
//!    written (only a comparison of two numbers, or a field under a zero mask, counts as
//!    known). Each round first works out, for the graph as it stands, which edges every
//!    path to a block takes (edge dominators), which blocks dominate which, and each
//!    block's height above the returns; then, from the bottom up:
//!    - an edge that leads to a test whose outcome is settled by an edge every path to it
//!      takes (the same test, or an equality with another constant held) goes straight to
//!      that outcome; so does an edge to a test whose two branches lead to the same place,
//!      which skips the test, loads and all;
//!    - in a chain of tests that all branch to the same place when they hold (`or`), a
//!      test of the value the chain starts with moves up before the tests of other values
//!      (likewise for chains joined by `and`), so a value is tested while it is at hand.
//!
//!    Like libpcap, a round uses what it worked out at its start even after it has changed
//!    the graph; the next round starts afresh.
//! 2. Constant folding ([`Val::simplify`]): loads whose value cannot matter (`x * 0`) go,
//!    and a test that becomes a comparison of constants is decided, but nothing is
//!    threaded any more.
//!
//! The first test of the program is special: when both its branches end up at the same
//! test, libpcap keeps its loads in front of that test, and so does [`Optimized::prefix`].

use pktbox_stack::wire::bpf::{BPF_JEQ, BPF_JSET};

use super::ir::{decide, Graph, Target, Val};

/// A set of blocks or edges (edge `(b, branch)` is number `2b + branch`).
#[derive(Debug, Clone, PartialEq)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn has(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    fn and(&mut self, o: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a &= b;
        }
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(i, &w)| (0..64).filter(move |j| w & (1 << j) != 0).map(move |j| i * 64 + j))
    }
}

fn edge(b: usize, branch: bool) -> usize {
    2 * b + usize::from(branch)
}

/// The outcome of block `b`'s test if an edge in `dom` settles it: the same test taken
/// before, or an equality with one constant after an equality with another held; or a
/// comparison of two constants.
fn settle(g: &Graph, b: usize, dom: &Bits) -> Option<bool> {
    let blk = &g.blocks[b];
    match (&blk.lhs, blk.op, &blk.rhs) {
        (Val::Const(a), op, Val::Const(k)) => return Some(decide(op, *a, *k)),
        // `jset #0` never holds, whatever it tests.
        (_, BPF_JSET, Val::Const(0)) => return Some(false),
        _ => {}
    }
    for e in dom.iter() {
        let (d, taken) = (e / 2, e % 2 == 1);
        let seen = &g.blocks[d];
        if seen.op != blk.op || seen.lhs != blk.lhs {
            continue;
        }
        if seen.rhs == blk.rhs {
            return Some(taken);
        }
        if taken && blk.op == BPF_JEQ && seen.rhs.is_const() && blk.rhs.is_const() {
            return Some(false);
        }
    }
    None
}

/// Follows `t` past every block whose outcome `dom` settles, or whose branches agree.
fn thread(g: &Graph, mut t: Target, dom: &Bits) -> Target {
    while let Target::Block(b) = t {
        let blk = &g.blocks[b];
        let outcome = if blk.jt == blk.jf {
            Some(true)
        } else {
            settle(g, b, dom)
        };
        let Some(o) = outcome else {
            break;
        };
        t = blk.target(o);
    }
    t
}

/// What a round works out before it changes anything.
struct Shape {
    /// Reachable blocks, from the bottom up in libpcap's order (by height, and within a
    /// height, the last one a depth-first walk finished first).
    bottom_up: Vec<usize>,
    /// For each block, the edges every path to it takes.
    edom: Vec<Bits>,
    /// For each block, the blocks every path to it passes through (itself included).
    dom: Vec<Bits>,
}

fn successors(g: &Graph, b: usize) -> impl Iterator<Item = (usize, bool)> + '_ {
    [true, false]
        .into_iter()
        .filter_map(move |br| match g.blocks[b].target(br) {
            Target::Block(s) => Some((s, br)),
            _ => None,
        })
}

impl Shape {
    fn of(g: &Graph, root: usize) -> Shape {
        let n = g.blocks.len();
        let order = g.topo(root).unwrap_or_default();
        let mut preds: Vec<Vec<(usize, bool)>> = vec![Vec::new(); n];
        for &b in &order {
            for (s, br) in successors(g, b) {
                preds[s].push((b, br));
            }
        }
        let mut edom = vec![Bits::new(2 * n); n];
        let mut dom = vec![Bits::new(n); n];
        for &b in &order {
            let mut e: Option<Bits> = None;
            let mut d: Option<Bits> = None;
            for &(p, br) in &preds[b] {
                let mut pe = edom[p].clone();
                pe.set(edge(p, br));
                match &mut e {
                    Some(x) => x.and(&pe),
                    None => e = Some(pe),
                }
                match &mut d {
                    Some(x) => x.and(&dom[p]),
                    None => d = Some(dom[p].clone()),
                }
            }
            edom[b] = e.unwrap_or_else(|| Bits::new(2 * n));
            let mut d = d.unwrap_or_else(|| Bits::new(n));
            d.set(b);
            dom[b] = d;
        }
        // Heights, and the order a depth-first walk (true branch first) finishes blocks in.
        let mut level = vec![0usize; n];
        let mut finished = Vec::new();
        let mut seen = vec![false; n];
        let mut stack = vec![(root, false)];
        while let Some((b, done)) = stack.pop() {
            if done {
                let l = |t: Target| match t {
                    Target::Block(s) => level[s],
                    _ => 0,
                };
                level[b] = 1 + l(g.blocks[b].jt).max(l(g.blocks[b].jf));
                finished.push(b);
                continue;
            }
            if seen[b] {
                continue;
            }
            seen[b] = true;
            stack.push((b, true));
            for t in [g.blocks[b].jf, g.blocks[b].jt] {
                if let Target::Block(s) = t {
                    if !seen[s] {
                        stack.push((s, false));
                    }
                }
            }
        }
        let mut bottom_up: Vec<usize> = finished.into_iter().rev().collect();
        bottom_up.sort_by_key(|&b| level[b]);
        Shape { bottom_up, edom, dom }
    }
}

/// The predecessors (block, branch) of every block, among `blocks`: as in libpcap, the
/// blocks reachable when the round started, even those that threading has since cut off.
fn preds_of(g: &Graph, blocks: &[usize]) -> Vec<Vec<(usize, bool)>> {
    let mut preds = vec![Vec::new(); g.blocks.len()];
    for &b in blocks.iter().rev() {
        for (s, br) in successors(g, b) {
            preds[s].push((b, br));
        }
    }
    preds
}

/// Moves a test up a chain, as described in the module documentation: `branch` is the
/// branch the tests of the chain share the target of (true for `or`, whose chain follows the
/// false branches; false for `and`). Whether it moved anything.
fn pullup(g: &mut Graph, root: usize, preds: &[Vec<(usize, bool)>], dom: &[Bits], b: usize, branch: bool) -> bool {
    let along = !branch;
    let Some(&(p0, _)) = preds[b].first() else {
        return false;
    };
    // Every predecessor leaves the same value in the accumulator.
    let val = g.blocks[p0].lhs.clone();
    if preds[b].iter().any(|&(p, _)| g.blocks[p].lhs != val) {
        return false;
    }
    let exit = g.blocks[b].target(branch);
    let fits = |g: &Graph, t: Target| match t {
        Target::Block(d) => g.blocks[d].target(branch) == exit && dom[d].has(b),
        _ => false,
    };
    // Past the tests of that value at the top of the chain.
    let mut diff = b;
    let mut above: Option<usize> = None;
    loop {
        if !fits(g, Target::Block(diff)) {
            return false;
        }
        if g.blocks[diff].lhs != val {
            break;
        }
        above = Some(diff);
        let Target::Block(next) = g.blocks[diff].target(along) else {
            return false;
        };
        diff = next;
    }
    // Further down, the next test of that value.
    let mut before = diff;
    let pull = loop {
        let t = g.blocks[before].target(along);
        if !fits(g, t) {
            return false;
        }
        let Target::Block(c) = t else {
            return false;
        };
        if g.blocks[c].lhs == val {
            break c;
        }
        before = c;
    };
    // Unlink it and put it in front of `diff`, unless that would make a loop.
    let saved = g.clone();
    let after = g.blocks[pull].target(along);
    g.blocks[before].set_target(along, after);
    g.blocks[pull].set_target(along, Target::Block(diff));
    match above {
        Some(a) => g.blocks[a].set_target(along, Target::Block(pull)),
        None => {
            // The predecessors as the round found them; one that threading or an earlier
            // move has pointed elsewhere since keeps its edge.
            for &(p, br) in &preds[b] {
                if g.blocks[p].target(br) == Target::Block(b) {
                    g.blocks[p].set_target(br, Target::Block(pull));
                }
            }
        }
    }
    if g.topo(root).is_none() {
        *g = saved;
        return false;
    }
    true
}

/// One round of pass 1; whether it changed anything.
fn round(g: &mut Graph, root: usize) -> bool {
    let shape = Shape::of(g, root);
    let mut changed = false;
    for &b in &shape.bottom_up {
        for branch in [true, false] {
            let mut dom = shape.edom[b].clone();
            dom.set(edge(b, branch));
            let old = g.blocks[b].target(branch);
            let new = thread(g, old, &dom);
            if new != old {
                g.blocks[b].set_target(branch, new);
                changed = true;
            }
        }
    }
    let preds = preds_of(g, &shape.bottom_up);
    for &b in &shape.bottom_up {
        // libpcap's or_pullup, then its and_pullup.
        for branch in [true, false] {
            if pullup(g, root, &preds, &shape.dom, b, branch) {
                changed = true;
            }
        }
    }
    changed
}

/// The result: where the program starts, and what it loads before it starts (the first
/// test's values, when that test itself is gone).
#[derive(Debug, Clone)]
pub struct Optimized {
    pub entry: Target,
    pub prefix: Vec<Val>,
}

/// More rounds than any expression of sane size needs.
const MAX_ROUNDS: usize = 1000;

/// Optimizes the program whose first test is block `root`.
pub fn optimize(g: &mut Graph, root: usize) -> Optimized {
    // Pass 1, until nothing changes (with a bound, in case moves and threading were ever to
    // undo each other: the program is right either way).
    for _ in 0..MAX_ROUNDS {
        if !round(g, root) {
            break;
        }
    }
    // Pass 2.
    for blk in &mut g.blocks {
        blk.lhs = blk.lhs.simplify();
        blk.rhs = blk.rhs.simplify();
    }
    let r = &g.blocks[root];
    if r.jt != r.jf {
        return Optimized {
            entry: Target::Block(root),
            prefix: Vec::new(),
        };
    }
    // The first test is gone; its loads stay when a test follows.
    let prefix = match r.jt {
        Target::Block(_) => [&r.lhs, &r.rhs]
            .into_iter()
            .filter(|v| !v.is_const())
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    Optimized { entry: r.jt, prefix }
}
