//! From the graph to instructions: each reachable block becomes the code that computes its
//! value and one conditional jump; the two returns come last. A load whose value is already
//! in the accumulator (or index register) on every path into a block is not repeated, and
//! branches that cannot reach their target in 255 instructions go through a `ja`.

use std::collections::{HashMap, HashSet};

use pktbox_stack::wire::bpf::*;

use super::ir::{decide, Graph, Target, Val};
use super::opt::Optimized;
use super::Error;

/// Where `t` really leads: past tests that compare two constants (decided in the
/// optimizer's second pass; they load nothing, so skipping them changes no verdict). A test
/// whose branches now agree stays: libpcap keeps it, and its loads, at this stage.
pub fn resolve(g: &Graph, mut t: Target) -> Target {
    while let Target::Block(b) = t {
        let blk = &g.blocks[b];
        match (&blk.lhs, &blk.rhs) {
            (Val::Const(a), Val::Const(k)) => t = blk.target(decide(blk.op, *a, *k)),
            _ => break,
        }
    }
    t
}

/// What the registers are known to hold.
#[derive(Debug, Clone, Default, PartialEq)]
struct Regs {
    a: Option<Val>,
    x: Option<Val>,
}

impl Regs {
    fn meet(&mut self, other: &Regs) {
        if self.a != other.a {
            self.a = None;
        }
        if self.x != other.x {
            self.x = None;
        }
    }
}

/// Whether computing `v` into A uses (and so may change) the index register.
fn uses_x(v: &Val) -> bool {
    match v {
        Val::Const(_) | Val::Len => false,
        Val::Load { index, .. } => index.is_some(),
        Val::Msh(_) => true,
        Val::Alu(_, a, b) => !b.is_const() || uses_x(a),
        Val::Neg(a) => uses_x(a),
    }
}

/// Values that go into X with one instruction that leaves A alone.
fn x_loadable(v: &Val) -> bool {
    matches!(v, Val::Const(_) | Val::Len | Val::Msh(_))
}

/// Straight-line code for one block.
struct Code {
    insns: Vec<BpfInsn>,
    regs: Regs,
    /// Scratch words in use (a stack).
    depth: u32,
}

impl Code {
    fn push(&mut self, code: u16, k: u32) {
        self.insns.push(BpfInsn::stmt(code, k));
    }

    fn scratch(&mut self) -> Result<u32, Error> {
        if self.depth as usize >= BPF_MEMWORDS {
            return Err(Error::Semantic(
                "too many registers needed to evaluate expression".into(),
            ));
        }
        self.depth += 1;
        Ok(self.depth - 1)
    }

    /// Computes `v` into A.
    fn a(&mut self, v: &Val) -> Result<(), Error> {
        if self.regs.a.as_ref() == Some(v) {
            return Ok(());
        }
        match v {
            Val::Const(c) => self.push(BPF_LD | BPF_IMM, *c),
            Val::Len => self.push(BPF_LD | BPF_W | BPF_LEN, 0),
            Val::Load { size, k, index: None } => self.push(BPF_LD | size | BPF_ABS, *k),
            Val::Load {
                size,
                k,
                index: Some(idx),
            } => {
                self.x(idx)?;
                self.push(BPF_LD | size | BPF_IND, *k);
            }
            Val::Msh(_) => {
                self.x(v)?;
                self.push(BPF_MISC | BPF_TXA, 0);
            }
            Val::Alu(op, l, r) => {
                if let Val::Const(c) = **r {
                    self.a(l)?;
                    self.push(BPF_ALU | op | BPF_K, c);
                } else {
                    self.operand_in_x(l, r)?;
                    self.push(BPF_ALU | op | BPF_X, 0);
                }
            }
            Val::Neg(a) => {
                self.a(a)?;
                self.push(BPF_ALU | BPF_NEG, 0);
            }
        }
        self.regs.a = Some(v.clone());
        Ok(())
    }

    /// Leaves `l` in A and `r` in X.
    fn operand_in_x(&mut self, l: &Val, r: &Val) -> Result<(), Error> {
        if x_loadable(r) || self.regs.x.as_ref() == Some(r) && !uses_x(l) {
            self.a(l)?;
            self.x(r)
        } else {
            // libpcap's order: the left operand first, kept in scratch memory while the
            // right one is computed.
            self.a(l)?;
            let m = self.scratch()?;
            self.push(BPF_ST, m);
            self.x(r)?;
            self.push(BPF_LD | BPF_MEM, m);
            self.regs.a = Some(l.clone());
            self.depth -= 1;
            Ok(())
        }
    }

    /// Puts `v` in X (A may change, unless `v` is loadable straight into X or in A already).
    fn x(&mut self, v: &Val) -> Result<(), Error> {
        if self.regs.x.as_ref() == Some(v) {
            return Ok(());
        }
        match v {
            Val::Const(c) => self.push(BPF_LDX | BPF_W | BPF_IMM, *c),
            Val::Len => self.push(BPF_LDX | BPF_W | BPF_LEN, 0),
            Val::Msh(k) => self.push(BPF_LDX | BPF_B | BPF_MSH, *k),
            _ => {
                self.a(v)?;
                self.push(BPF_MISC | BPF_TAX, 0);
            }
        }
        self.regs.x = Some(v.clone());
        Ok(())
    }
}

/// Lays out the optimized program; `accept` is what a match returns (the snap length). The
/// caller has ruled out an entry that rejects everything.
pub fn emit(g: &Graph, o: &Optimized, accept: u32) -> Result<Vec<BpfInsn>, Error> {
    // Decided tests drop out.
    let mut g = g.clone();
    for b in 0..g.blocks.len() {
        let (jt, jf) = (resolve(&g, g.blocks[b].jt), resolve(&g, g.blocks[b].jf));
        g.blocks[b].jt = jt;
        g.blocks[b].jf = jf;
    }
    // libpcap's last touches, which change no verdict: `x - y == 0` is `x == y`, `x - k == c`
    // is `x == c + k`, and `x & m == 0` is `jset #m` with the branches swapped.
    for blk in &mut g.blocks {
        if let (Val::Alu(BPF_SUB, l, r), BPF_JEQ, Val::Const(c)) = (&blk.lhs, blk.op, &blk.rhs) {
            match (&**r, *c) {
                (Val::Const(k), c) => {
                    blk.rhs = Val::Const(c.wrapping_add(*k));
                    blk.lhs = (**l).clone();
                }
                (r, 0) => {
                    let (l, r) = ((**l).clone(), r.clone());
                    blk.lhs = l;
                    blk.rhs = r;
                }
                _ => {}
            }
        }
        if let (Val::Alu(BPF_AND, v, m), BPF_JEQ, Val::Const(0)) = (&blk.lhs, blk.op, &blk.rhs) {
            if let Val::Const(m) = **m {
                blk.lhs = (**v).clone();
                blk.op = BPF_JSET;
                blk.rhs = Val::Const(m);
                std::mem::swap(&mut blk.jt, &mut blk.jf);
            }
        }
    }
    let entry = resolve(&g, o.entry);
    intern(&mut g, entry);
    let g = &g;
    // The loads of a first test that is gone.
    let mut head = Code {
        insns: Vec::new(),
        regs: Regs::default(),
        depth: 0,
    };
    for v in &o.prefix {
        head.a(v)?;
    }
    let n = g.blocks.len();
    // Code of each block, with what registers hold on the way in (so every predecessor of a
    // block is done before it).
    let topo: Vec<usize> = match entry {
        Target::Block(e) => g
            .topo(e)
            .ok_or_else(|| Error::Semantic("internal error: loop in the program".into()))?,
        _ => Vec::new(),
    };
    let mut regs_in: Vec<Option<Regs>> = vec![None; n];
    if let Target::Block(e) = entry {
        regs_in[e] = Some(head.regs.clone());
    }
    let mut code: Vec<Vec<BpfInsn>> = vec![Vec::new(); n];
    for &b in &topo {
        let blk = &g.blocks[b];
        let mut c = Code {
            insns: Vec::new(),
            regs: regs_in[b].clone().unwrap_or_default(),
            depth: 0,
        };
        let jcode = if let Val::Const(k) = blk.rhs {
            c.a(&blk.lhs)?;
            BpfInsn::jump(BPF_JMP | blk.op | BPF_K, k, 0, 0)
        } else {
            c.operand_in_x(&blk.lhs, &blk.rhs)?;
            BpfInsn::jump(BPF_JMP | blk.op | BPF_X, 0, 0, 0)
        };
        c.insns.push(jcode);
        for t in [blk.jt, blk.jf] {
            if let Target::Block(s) = t {
                match &mut regs_in[s] {
                    Some(r) => r.meet(&c.regs),
                    slot @ None => *slot = Some(c.regs.clone()),
                }
            }
        }
        code[b] = c.insns;
    }
    // Blocks whose code and successors are the same are one block, even when the values in
    // the registers differ (each path brings its own), as libpcap merges them.
    let mut merged = g.clone();
    let mut canon: Vec<usize> = (0..n).collect();
    let mut seen: HashMap<(Vec<BpfInsn>, Target, Target), usize> = HashMap::new();
    let fix = |canon: &[usize], t: Target| match t {
        Target::Block(s) => Target::Block(canon[s]),
        t => t,
    };
    for &b in topo.iter().rev() {
        let (jt, jf) = (fix(&canon, merged.blocks[b].jt), fix(&canon, merged.blocks[b].jf));
        merged.blocks[b].jt = jt;
        merged.blocks[b].jf = jf;
        canon[b] = *seen.entry((code[b].clone(), jt, jf)).or_insert(b);
    }
    let g = &merged;
    let ret = |t: Target| match t {
        Target::Accept => accept,
        _ => 0,
    };
    let order = layout(g, entry);

    // Branches that need a `ja` because their target is too far: grows until all fit.
    let mut far: Vec<[bool; 2]> = vec![[false; 2]; n];
    loop {
        // Where each block and return starts.
        let mut start = vec![0usize; n];
        let mut rets: Vec<(Target, usize)> = Vec::new();
        let mut pos = head.insns.len();
        for &t in &order {
            match t {
                Target::Block(b) => {
                    start[b] = pos;
                    pos += code[b].len() + far[b].iter().filter(|f| **f).count();
                }
                t => {
                    rets.push((t, pos));
                    pos += 1;
                }
            }
        }
        let at = |t: Target| match t {
            Target::Block(s) => start[s],
            t => rets.iter().find(|(r, _)| *r == t).map_or(0, |(_, p)| *p),
        };
        let mut grew = false;
        for &b in order.iter().filter_map(|t| match t {
            Target::Block(b) => Some(b),
            _ => None,
        }) {
            let jump_at = start[b] + code[b].len() - 1;
            for (i, t) in [g.blocks[b].jt, g.blocks[b].jf].into_iter().enumerate() {
                if !far[b][i] && at(t) - (jump_at + 1) > 255 {
                    far[b][i] = true;
                    grew = true;
                }
            }
        }
        if grew {
            continue;
        }
        let mut out = Vec::with_capacity(pos);
        out.extend(head.insns.iter().copied());
        for &t in &order {
            let Target::Block(b) = t else {
                out.push(BpfInsn::stmt(BPF_RET | BPF_K, ret(t)));
                continue;
            };
            let mut insns = code[b].clone();
            let Some(mut j) = insns.pop() else { continue };
            let jump_at = out.len() + insns.len();
            let mut tramp = Vec::new();
            for (i, t) in [g.blocks[b].jt, g.blocks[b].jf].into_iter().enumerate() {
                let off = if far[b][i] {
                    let ja_at = jump_at + 1 + tramp.len();
                    tramp.push(BpfInsn::stmt(BPF_JMP | BPF_JA, (at(t) - (ja_at + 1)) as u32));
                    ja_at - (jump_at + 1)
                } else {
                    at(t) - (jump_at + 1)
                };
                if i == 0 {
                    j.jt = off as u8;
                } else {
                    j.jf = off as u8;
                }
            }
            out.extend(insns);
            out.push(j);
            out.extend(tramp);
        }
        return Ok(out);
    }
}

/// Merges blocks that do the same test and go to the same places, from the returns up, so
/// that shared tails are laid out once (libpcap's `intern_blocks`).
fn intern(g: &mut Graph, entry: Target) {
    let Target::Block(e) = entry else {
        return;
    };
    let Some(topo) = g.topo(e) else {
        return;
    };
    let mut canon: Vec<usize> = (0..g.blocks.len()).collect();
    let mut seen: HashMap<(Val, u16, Val, Target, Target), usize> = HashMap::new();
    let fix = |canon: &[usize], t: Target| match t {
        Target::Block(s) => Target::Block(canon[s]),
        t => t,
    };
    for &b in topo.iter().rev() {
        let (jt, jf) = (fix(&canon, g.blocks[b].jt), fix(&canon, g.blocks[b].jf));
        g.blocks[b].jt = jt;
        g.blocks[b].jf = jf;
        let blk = &g.blocks[b];
        let key = (blk.lhs.clone(), blk.op, blk.rhs.clone(), jt, jf);
        canon[b] = *seen.entry(key).or_insert(b);
    }
}

/// The order blocks and returns are laid out in, as libpcap lays them out: each block
/// before its true branch's code, which comes before its false branch's.
fn layout(g: &Graph, entry: Target) -> Vec<Target> {
    let mut post: Vec<Target> = Vec::new();
    let mut done: HashSet<Target> = HashSet::new();
    let mut stack = vec![(entry, false)];
    while let Some((t, children_done)) = stack.pop() {
        if children_done {
            post.push(t);
            continue;
        }
        if !done.insert(t) {
            continue;
        }
        stack.push((t, true));
        if let Target::Block(b) = t {
            // Visited false branch first, so that it ends up laid out last.
            for s in [g.blocks[b].jt, g.blocks[b].jf] {
                if !done.contains(&s) {
                    stack.push((s, false));
                }
            }
        }
    }
    post.reverse();
    post
}
