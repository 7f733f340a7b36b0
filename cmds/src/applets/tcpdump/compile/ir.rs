//! The compiler's intermediate form: a graph of blocks, each computing one value and
//! comparing it, with a true and a false successor, as in McCanne and Jacobson's BPF paper.
//! Primitives build small graphs; `and`, `or` and `not` join them by patching their open
//! exits, so a graph is always acyclic with every edge pointing to a later block.

use pktbox_stack::wire::bpf::*;

/// A value the program computes into the accumulator. Structural equality is value
/// equality: two blocks that compute equal `Val`s load the same bytes the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Val {
    Const(u32),
    /// The packet's length on the wire (`len`).
    Len,
    /// `size` bytes (BPF_W, BPF_H, BPF_B) at `k`, plus the value of `index` if there is one.
    Load {
        size: u16,
        k: u32,
        index: Option<Box<Val>>,
    },
    /// Four times the low nibble of the byte at `k`: an IPv4 header's length (`ldxb`).
    Msh(u32),
    /// `BPF_ALU` operation `op` on two values.
    Alu(u16, Box<Val>, Box<Val>),
    Neg(Box<Val>),
}

impl Val {
    pub fn load(size: u16, k: u32) -> Val {
        Val::Load { size, k, index: None }
    }

    /// A load at `k` plus a computed offset: absolute when the offset is a constant.
    pub fn load_at(size: u16, k: u32, index: Val) -> Val {
        match index {
            Val::Const(c) => Val::load(size, k.wrapping_add(c)),
            // tcp[c]: the constant folds into k, the header length stays in X.
            Val::Alu(BPF_ADD, a, b) => match (*a, *b) {
                (Val::Msh(m), Val::Const(c)) | (Val::Const(c), Val::Msh(m)) => Val::Load {
                    size,
                    k: k.wrapping_add(c),
                    index: Some(Box::new(Val::Msh(m))),
                },
                (a, b) => Val::Load {
                    size,
                    k,
                    index: Some(Box::new(Val::alu(BPF_ADD, a, b))),
                },
            },
            index => Val::Load {
                size,
                k,
                index: Some(Box::new(index)),
            },
        }
    }

    /// `op` applied to `a` and `b`, as written: folding waits for [`Val::simplify`].
    pub fn alu(op: u16, a: Val, b: Val) -> Val {
        Val::Alu(op, Box::new(a), Box::new(b))
    }

    pub fn neg(a: Val) -> Val {
        Val::Neg(Box::new(a))
    }

    /// The value with constants folded. A zero operand can make the other one irrelevant
    /// (`x * 0`, `0 / x`); then the other is not computed at all, so its loads cannot fail
    /// on a short packet. These are the simplifications libpcap's optimizer makes in its
    /// second pass, and matching them keeps verdicts on short packets equal.
    pub fn simplify(&self) -> Val {
        match self {
            Val::Const(_) | Val::Len | Val::Msh(_) => self.clone(),
            Val::Load { size, k, index } => match index {
                None => self.clone(),
                Some(i) => Val::load_at(*size, *k, i.simplify()),
            },
            Val::Neg(a) => match a.simplify() {
                Val::Const(c) => Val::Const(c.wrapping_neg()),
                a => Val::Neg(Box::new(a)),
            },
            Val::Alu(op, a, b) => {
                let (op, a, b) = (*op, a.simplify(), b.simplify());
                match (op, &a, &b) {
                    (_, Val::Const(x), Val::Const(y)) => match fold(op, *x, *y) {
                        Some(v) => Val::Const(v),
                        None => Val::alu(op, a, b),
                    },
                    (BPF_ADD | BPF_SUB | BPF_OR | BPF_XOR | BPF_LSH | BPF_RSH, _, Val::Const(0)) => a,
                    (BPF_MUL | BPF_AND, _, Val::Const(0)) => Val::Const(0),
                    (BPF_ADD | BPF_OR | BPF_XOR, Val::Const(0), _) => b,
                    (BPF_MUL | BPF_DIV | BPF_MOD | BPF_AND | BPF_LSH | BPF_RSH, Val::Const(0), _) => Val::Const(0),
                    _ => Val::alu(op, a, b),
                }
            }
        }
    }

    /// How deeply the value's operations nest.
    pub fn depth(&self) -> usize {
        match self {
            Val::Const(_) | Val::Len | Val::Msh(_) => 1,
            Val::Load { index, .. } => 1 + index.as_ref().map_or(0, |i| i.depth()),
            Val::Alu(_, a, b) => 1 + a.depth().max(b.depth()),
            Val::Neg(a) => 1 + a.depth(),
        }
    }

    pub fn is_const(&self) -> bool {
        matches!(self, Val::Const(_))
    }
}

/// `x op y` as the interpreter computes it; None for a division by zero (left for run time,
/// which the parser refuses before it gets here).
pub fn fold(op: u16, x: u32, y: u32) -> Option<u32> {
    Some(match op {
        BPF_ADD => x.wrapping_add(y),
        BPF_SUB => x.wrapping_sub(y),
        BPF_MUL => x.wrapping_mul(y),
        BPF_DIV => x.checked_div(y)?,
        BPF_MOD => x.checked_rem(y)?,
        BPF_AND => x & y,
        BPF_OR => x | y,
        BPF_XOR => x ^ y,
        BPF_LSH => x.checked_shl(y).unwrap_or(0),
        BPF_RSH => x.checked_shr(y).unwrap_or(0),
        _ => return None,
    })
}

/// The outcome of jump `op` (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET) on two known values.
pub fn decide(op: u16, a: u32, b: u32) -> bool {
    match op {
        BPF_JEQ => a == b,
        BPF_JGT => a > b,
        BPF_JGE => a >= b,
        _ => a & b != 0,
    }
}

/// Where a branch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Block(usize),
    Accept,
    Reject,
    /// Not patched yet (only while the parser is building the graph).
    Open,
}

/// One test: compute `lhs`, compare it with `rhs` by `op`.
#[derive(Debug, Clone)]
pub struct Block {
    pub lhs: Val,
    pub op: u16,
    pub rhs: Val,
    pub jt: Target,
    pub jf: Target,
}

impl Block {
    pub fn target(&self, branch: bool) -> Target {
        if branch {
            self.jt
        } else {
            self.jf
        }
    }

    pub fn set_target(&mut self, branch: bool, t: Target) {
        if branch {
            self.jt = t;
        } else {
            self.jf = t;
        }
    }
}

/// One open branch of a condition: block and which side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub block: usize,
    pub branch: bool,
}

/// A condition under construction: where it starts, and its branches still to be patched,
/// those taken when it holds and those taken when it does not.
#[derive(Debug, Clone)]
pub struct Cond {
    pub entry: usize,
    pub t: Vec<Exit>,
    pub f: Vec<Exit>,
}

/// All the blocks of one program, in the order they were made.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    pub blocks: Vec<Block>,
}

impl Graph {
    /// A new block testing `lhs op rhs`.
    pub fn test(&mut self, lhs: Val, op: u16, rhs: Val) -> Cond {
        let id = self.blocks.len();
        self.blocks.push(Block {
            lhs,
            op,
            rhs,
            jt: Target::Open,
            jf: Target::Open,
        });
        Cond {
            entry: id,
            t: vec![Exit {
                block: id,
                branch: true,
            }],
            f: vec![Exit {
                block: id,
                branch: false,
            }],
        }
    }

    /// `size` bytes at `k` equal `v`.
    pub fn cmp(&mut self, size: u16, k: u32, v: u32) -> Cond {
        self.test(Val::load(size, k), BPF_JEQ, Val::Const(v))
    }

    /// `size` bytes at `k`, masked with `mask`, equal `v`.
    /// A masked test for zero is a `jset` with its branches swapped, which libpcap's
    /// optimizer also makes of it in its first pass (it changes which tests count as the
    /// same). With a zero mask that is `jset #0`, which never holds, so the optimizer drops
    /// the test, loads and all, while arithmetic that comes to zero is only folded later.
    pub fn mcmp(&mut self, size: u16, k: u32, mask: u32, v: u32) -> Cond {
        let lhs = match mask {
            u32::MAX => Val::load(size, k),
            // A zero mask gives `jset #0`, which never holds: known from the first pass on.
            m if v == 0 => {
                let t = self.test(Val::load(size, k), BPF_JSET, Val::Const(m));
                return self.not(t);
            }
            m => Val::alu(BPF_AND, Val::load(size, k), Val::Const(m)),
        };
        self.test(lhs, BPF_JEQ, Val::Const(v))
    }

    fn patch(&mut self, exits: &[Exit], to: Target) {
        for e in exits {
            self.blocks[e.block].set_target(e.branch, to);
        }
    }

    /// `a and b`: b runs only when a holds.
    pub fn and(&mut self, a: Cond, b: Cond) -> Cond {
        self.patch(&a.t, Target::Block(b.entry));
        let mut f = a.f;
        f.extend(b.f);
        Cond {
            entry: a.entry,
            t: b.t,
            f,
        }
    }

    /// `a or b`: b runs only when a does not hold.
    pub fn or(&mut self, a: Cond, b: Cond) -> Cond {
        self.patch(&a.f, Target::Block(b.entry));
        let mut t = a.t;
        t.extend(b.t);
        Cond {
            entry: a.entry,
            t,
            f: b.f,
        }
    }

    pub fn not(&mut self, a: Cond) -> Cond {
        Cond {
            entry: a.entry,
            t: a.f,
            f: a.t,
        }
    }

    /// Closes the graph: the condition's true branches accept, its false ones reject.
    pub fn finish(&mut self, c: &Cond) {
        self.patch(&c.t, Target::Accept);
        self.patch(&c.f, Target::Reject);
    }
}

impl Graph {
    /// The blocks reachable from `root`, every block after all its predecessors (earlier
    /// made blocks first where there is a choice); None if the edges form a cycle.
    pub fn topo(&self, root: usize) -> Option<Vec<usize>> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let n = self.blocks.len();
        let succ = |b: usize| {
            [self.blocks[b].jt, self.blocks[b].jf]
                .into_iter()
                .filter_map(|t| match t {
                    Target::Block(s) => Some(s),
                    _ => None,
                })
        };
        let mut reach = vec![false; n];
        let mut stack = vec![root];
        reach[root] = true;
        let mut indeg = vec![0usize; n];
        while let Some(b) = stack.pop() {
            for s in succ(b) {
                indeg[s] += 1;
                if !reach[s] {
                    reach[s] = true;
                    stack.push(s);
                }
            }
        }
        let mut ready = BinaryHeap::from([Reverse(root)]);
        let mut out = Vec::new();
        while let Some(Reverse(b)) = ready.pop() {
            out.push(b);
            for s in succ(b) {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    ready.push(Reverse(s));
                }
            }
        }
        (out.len() == reach.iter().filter(|r| **r).count()).then_some(out)
    }
}
