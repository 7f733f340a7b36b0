//! The optimizer. It matters for more than size: a test the optimizer removes does not
//! load anything, so on a packet too short for that load the program no longer gives up
//! with 0, and a test it moves up meets a short packet earlier. To give libpcap's verdict
//! on every packet, short ones included, this optimizer does what libpcap's does, in the
//! same two passes:
//!
//! 1. Jump threading and branch reordering, with values as written (only a comparison of
//!    two numbers, or a masked field with a zero mask, counts as known):
//!    - an edge that leads to a test whose outcome the tests on every path to that edge
//!      establish (the same test, or an equality with another constant) goes straight to
//!      that outcome;
//!    - a test whose two branches lead to the same place is skipped, loads and all;
//!    - in a chain of tests that all branch to the same place when they hold (`or`), a
//!      test of the value the chain starts with moves up before tests of other values
//!      (and likewise for chains joined by `and`), so a value is tested while it is at
//!      hand.
//! 2. Constant folding ([`Val::simplify`]): loads whose value cannot matter (`x * 0`) go,
//!    and a test that becomes a comparison of constants is decided, but nothing is
//!    threaded any more.
//!
//! The first test of the program is special: when both its branches end up at the same
//! test, libpcap keeps its loads in front of that test, and so does [`Optimized::prefix`].
//!
//! The graph stays acyclic, so one pass in topological order sees every predecessor of a
//! block before the block.

use std::collections::HashMap;

use pktbox_stack::net::bpf::BPF_JEQ;

use super::ir::{decide, Graph, Target, Val};

/// A test's identity: value, jump, operand.
type Key = (Val, u16, Val);

/// What is known on entry to a block: outcomes of tests seen on every path to it.
#[derive(Debug, Clone, Default)]
struct Facts(HashMap<Key, bool>);

impl Facts {
    fn with(&self, k: Key, v: bool) -> Facts {
        let mut f = self.clone();
        f.0.insert(k, v);
        f
    }

    fn intersect(&mut self, other: &Facts) {
        self.0.retain(|k, v| other.0.get(k) == Some(v));
    }

    /// The outcome of `lhs op rhs` if these facts settle it.
    fn settle(&self, lhs: &Val, op: u16, rhs: &Val) -> Option<bool> {
        if let (Val::Const(a), Val::Const(b)) = (lhs, rhs) {
            return Some(decide(op, *a, *b));
        }
        if let Some(v) = self.0.get(&(lhs.clone(), op, rhs.clone())) {
            return Some(*v);
        }
        // lhs == c1 is known; then lhs == c2 is false for any other constant c2.
        if op == BPF_JEQ && rhs.is_const() {
            let other = self
                .0
                .iter()
                .any(|((l, o, r), v)| *v && *o == BPF_JEQ && l == lhs && r.is_const() && r != rhs);
            if other {
                return Some(false);
            }
        }
        None
    }
}

/// The result: where the program starts, and what it loads before it starts (the first
/// test's values, when that test itself is gone).
#[derive(Debug, Clone)]
pub struct Optimized {
    pub entry: Target,
    pub prefix: Vec<Val>,
}

fn key(g: &Graph, b: usize) -> Key {
    let blk = &g.blocks[b];
    (blk.lhs.clone(), blk.op, blk.rhs.clone())
}

/// Follows `t` past every block whose outcome `facts` settle, or whose branches agree.
fn thread(g: &Graph, mut t: Target, mut facts: Facts) -> (Target, Facts) {
    while let Target::Block(b) = t {
        let blk = &g.blocks[b];
        let outcome = if blk.jt == blk.jf {
            Some(true)
        } else {
            facts.settle(&blk.lhs, blk.op, &blk.rhs)
        };
        let Some(o) = outcome else {
            break;
        };
        if blk.jt != blk.jf {
            facts = facts.with(key(g, b), o);
        }
        t = blk.target(o);
    }
    (t, facts)
}

/// One round of jump threading over every edge reachable from `root`; whether it changed
/// anything.
fn thread_all(g: &mut Graph, root: usize) -> bool {
    let n = g.blocks.len();
    let mut facts: Vec<Option<Facts>> = vec![None; n];
    facts[root] = Some(Facts::default());
    let mut changed = false;
    for b in g.topo(root).unwrap_or_default() {
        let Some(f) = facts[b].take() else {
            continue;
        };
        for branch in [true, false] {
            let edge = f.with(key(g, b), branch);
            let old = g.blocks[b].target(branch);
            let (new, known) = thread(g, old, edge);
            if new != old {
                g.blocks[b].set_target(branch, new);
                changed = true;
            }
            if let Target::Block(s) = new {
                match &mut facts[s] {
                    Some(sf) => sf.intersect(&known),
                    slot @ None => *slot = Some(known),
                }
            }
        }
    }
    changed
}

/// The reachable blocks' predecessors (block, branch) and dominators.
struct Shape {
    order: Vec<usize>,
    reach: Vec<bool>,
    preds: Vec<Vec<(usize, bool)>>,
    /// dom[d] has bit b when every path from the root to d passes through b.
    dom: Vec<Vec<u64>>,
    /// Height above the returns (libpcap's "level").
    level: Vec<usize>,
}

impl Shape {
    fn of(g: &Graph, root: usize) -> Shape {
        let n = g.blocks.len();
        let words = n.div_ceil(64);
        let order = g.topo(root).unwrap_or_default();
        let mut reach = vec![false; n];
        reach[root] = true;
        let mut preds = vec![Vec::new(); n];
        let mut dom: Vec<Vec<u64>> = vec![Vec::new(); n];
        for &b in &order {
            let mut d = if b == root {
                vec![0u64; words]
            } else {
                let mut it = preds[b].iter().map(|&(p, _): &(usize, bool)| &dom[p]);
                let first: Vec<u64> = it.next().cloned().unwrap_or_else(|| vec![0; words]);
                it.fold(first, |acc, o| acc.iter().zip(o).map(|(a, b)| a & b).collect())
            };
            d[b / 64] |= 1 << (b % 64);
            dom[b] = d;
            for branch in [true, false] {
                if let Target::Block(s) = g.blocks[b].target(branch) {
                    reach[s] = true;
                    preds[s].push((b, branch));
                }
            }
        }
        let mut level = vec![0; n];
        for &b in order.iter().rev() {
            let l = |t: Target| match t {
                Target::Block(s) => level[s],
                _ => 0,
            };
            level[b] = 1 + l(g.blocks[b].jt).max(l(g.blocks[b].jf));
        }
        Shape {
            order,
            reach,
            preds,
            dom,
            level,
        }
    }

    fn dominates(&self, b: usize, d: usize) -> bool {
        self.dom[d].get(b / 64).is_some_and(|w| w & (1 << (b % 64)) != 0)
    }
}

/// Moves a test up a chain, as described in the module documentation: `branch` false for
/// chains of false branches (`or`), true for chains of true branches (`and`). Whether it
/// moved anything.
fn pullup(g: &mut Graph, s: &Shape, b: usize, branch: bool) -> bool {
    let along = !branch;
    let Some(&(p0, _)) = s.preds[b].first() else {
        return false;
    };
    // Every predecessor leaves the same value in the accumulator.
    let val = g.blocks[p0].lhs.clone();
    if s.preds[b].iter().any(|&(p, _)| g.blocks[p].lhs != val) {
        return false;
    }
    let exit = g.blocks[b].target(branch);
    let fits = |g: &Graph, t: Target| match t {
        Target::Block(d) => g.blocks[d].target(branch) == exit && s.dominates(b, d),
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
    // Unlink it and put it in front of `diff`, unless that would make a loop (the test
    // has other predecessors inside the chain).
    let saved = g.clone();
    let after = g.blocks[pull].target(along);
    g.blocks[before].set_target(along, after);
    g.blocks[pull].set_target(along, Target::Block(diff));
    match above {
        Some(a) => g.blocks[a].set_target(along, Target::Block(pull)),
        None => {
            for &(p, br) in &s.preds[b] {
                g.blocks[p].set_target(br, Target::Block(pull));
            }
        }
    }
    if g.topo(s.order[0]).is_none() {
        *g = saved;
        return false;
    }
    true
}

/// One round of reordering, from the returns up; whether anything moved.
fn pullups(g: &mut Graph, root: usize) -> bool {
    let mut moved = false;
    let mut shape = Shape::of(g, root);
    let mut order: Vec<usize> = shape.order.iter().copied().filter(|&b| b != root).collect();
    order.sort_by_key(|&b| shape.level[b]);
    for b in order {
        for branch in [true, false] {
            if shape.reach[b] && pullup(g, &shape, b, branch) {
                moved = true;
                // The shape is stale after a move.
                shape = Shape::of(g, root);
            }
        }
    }
    moved
}

/// Optimizes the program whose first test is block `root`.
pub fn optimize(g: &mut Graph, root: usize) -> Optimized {
    // Pass 1.
    loop {
        while thread_all(g, root) {}
        if !pullups(g, root) {
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
