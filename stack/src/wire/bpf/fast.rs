//! The interpreter for programs that passed validation: each instruction decoded once, when
//! the capture takes the program, into an operation with its operand and absolute jump
//! targets, so running it is one dispatch per instruction with no opcode checks left.
//!
//! What validation proved is still not trusted with memory: packet loads are bounds-checked,
//! scratch indices are masked, a jump target outside the program ends it with 0. It gives
//! the same answers as [`super::bpf_filter`] on every program it can decode (a property test
//! checks that).

use super::insn::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    RetK(u32),
    RetA,
    LdW(u32),
    LdH(u32),
    LdB(u32),
    LdIndW(u32),
    LdIndH(u32),
    LdIndB(u32),
    LdLen,
    LdImm(u32),
    LdMem(u8),
    LdxImm(u32),
    LdxMem(u8),
    LdxLen,
    LdxMsh(u32),
    St(u8),
    Stx(u8),
    Ja(u32),
    Jeq(u32, u32, u32),
    Jgt(u32, u32, u32),
    Jge(u32, u32, u32),
    Jset(u32, u32, u32),
    // A load from a fixed offset and a test of it, fused: the pair libpcap's code is
    // mostly made of. A is left as the load left it.
    LdHJeq(u32, u32, u16, u16),
    LdBJeq(u32, u32, u16, u16),
    LdWJeq(u32, u32, u16, u16),
    LdHJset(u32, u32, u16, u16),
    LdBJset(u32, u32, u16, u16),
    LdIndHJeq(u32, u32, u16, u16),
    JeqX(u32, u32),
    JgtX(u32, u32),
    JgeX(u32, u32),
    JsetX(u32, u32),
    Alu(u16, u32),
    AluX(u16),
    Neg,
    Tax,
    Txa,
}

/// A decoded program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded(Vec<Op>);

impl Decoded {
    /// Decodes a validated program. An instruction it does not know becomes `ret #0`.
    pub fn new(prog: &[BpfInsn]) -> Decoded {
        let ops = prog
            .iter()
            .enumerate()
            .map(|(pc, i)| {
                let next = pc as u32 + 1;
                let (jt, jf) = (next + u32::from(i.jt), next + u32::from(i.jf));
                let k = i.k;
                let m = (k as usize % BPF_MEMWORDS) as u8;
                const LD_W_ABS: u16 = BPF_LD | BPF_W | BPF_ABS;
                const LD_H_ABS: u16 = BPF_LD | BPF_H | BPF_ABS;
                const LD_B_ABS: u16 = BPF_LD | BPF_B | BPF_ABS;
                const LD_W_IND: u16 = BPF_LD | BPF_W | BPF_IND;
                const LD_H_IND: u16 = BPF_LD | BPF_H | BPF_IND;
                const LD_B_IND: u16 = BPF_LD | BPF_B | BPF_IND;
                const LD_LEN: u16 = BPF_LD | BPF_W | BPF_LEN;
                const LD_IMM: u16 = BPF_LD | BPF_IMM;
                const LD_MEM: u16 = BPF_LD | BPF_MEM;
                const LDX_IMM: u16 = BPF_LDX | BPF_W | BPF_IMM;
                const LDX_MEM: u16 = BPF_LDX | BPF_W | BPF_MEM;
                const LDX_LEN: u16 = BPF_LDX | BPF_W | BPF_LEN;
                const LDX_MSH: u16 = BPF_LDX | BPF_B | BPF_MSH;
                const RET_K: u16 = BPF_RET | BPF_K;
                const RET_A: u16 = BPF_RET | BPF_A;
                const JA: u16 = BPF_JMP | BPF_JA;
                const NEG: u16 = BPF_ALU | BPF_NEG;
                const TAX: u16 = BPF_MISC | BPF_TAX;
                const TXA: u16 = BPF_MISC | BPF_TXA;
                match i.code {
                    RET_K => Op::RetK(k),
                    RET_A => Op::RetA,
                    LD_W_ABS => Op::LdW(k),
                    LD_H_ABS => Op::LdH(k),
                    LD_B_ABS => Op::LdB(k),
                    LD_W_IND => Op::LdIndW(k),
                    LD_H_IND => Op::LdIndH(k),
                    LD_B_IND => Op::LdIndB(k),
                    LD_LEN => Op::LdLen,
                    LD_IMM => Op::LdImm(k),
                    LD_MEM => Op::LdMem(m),
                    LDX_IMM => Op::LdxImm(k),
                    LDX_MEM => Op::LdxMem(m),
                    LDX_LEN => Op::LdxLen,
                    LDX_MSH => Op::LdxMsh(k),
                    BPF_ST => Op::St(m),
                    BPF_STX => Op::Stx(m),
                    JA => Op::Ja(next.saturating_add(k)),
                    NEG => Op::Neg,
                    TAX => Op::Tax,
                    TXA => Op::Txa,
                    c if bpf_class(c) == BPF_JMP && c <= 0xff => match (bpf_op(c), bpf_src(c) == BPF_X) {
                        (BPF_JEQ, false) => Op::Jeq(k, jt, jf),
                        (BPF_JGT, false) => Op::Jgt(k, jt, jf),
                        (BPF_JGE, false) => Op::Jge(k, jt, jf),
                        (BPF_JSET, false) => Op::Jset(k, jt, jf),
                        (BPF_JEQ, true) => Op::JeqX(jt, jf),
                        (BPF_JGT, true) => Op::JgtX(jt, jf),
                        (BPF_JGE, true) => Op::JgeX(jt, jf),
                        (BPF_JSET, true) => Op::JsetX(jt, jf),
                        _ => Op::RetK(0),
                    },
                    c if bpf_class(c) == BPF_ALU && c <= 0xff => {
                        if bpf_src(c) == BPF_X {
                            Op::AluX(bpf_op(c))
                        } else {
                            Op::Alu(bpf_op(c), k)
                        }
                    }
                    _ => Op::RetK(0),
                }
            })
            .collect::<Vec<Op>>();
        Decoded(fuse(ops))
    }

    /// Runs the program as [`super::bpf_filter`] would.
    pub fn run(&self, pkt: &[u8], wirelen: u32) -> u32 {
        let ops = &self.0[..];
        let mut a: u32 = 0;
        let mut x: u32 = 0;
        // Behind a reference, so the compiler keeps it in one place rather than carrying
        // copies of it from one dispatch to the next.
        let mem = &mut [0u32; BPF_MEMWORDS];
        let mut pc = 0usize;
        macro_rules! at {
            ($off:expr, $n:literal) => {{
                let Ok(off) = usize::try_from($off) else { return 0 };
                if off >= pkt.len() || pkt.len() - off < $n {
                    return 0;
                }
                // SAFETY: off + $n <= pkt.len(), checked just above.
                unsafe { &*(pkt.as_ptr().add(off) as *const [u8; $n]) }
            }};
        }
        macro_rules! br {
            ($c:expr, $t:expr, $f:expr) => {
                pc = if $c { $t } else { $f } as usize
            };
        }
        loop {
            let Some(&op) = ops.get(pc) else { return 0 };
            pc += 1;
            match op {
                Op::RetK(k) => return k,
                Op::RetA => return a,
                Op::LdW(k) => a = u32::from_be_bytes(*at!(k, 4)),
                Op::LdH(k) => a = u32::from(u16::from_be_bytes(*at!(k, 2))),
                Op::LdB(k) => a = u32::from(at!(k, 1)[0]),
                Op::LdIndW(k) => a = u32::from_be_bytes(*at!(u64::from(x) + u64::from(k), 4)),
                Op::LdIndH(k) => a = u32::from(u16::from_be_bytes(*at!(u64::from(x) + u64::from(k), 2))),
                Op::LdIndB(k) => a = u32::from(at!(u64::from(x) + u64::from(k), 1)[0]),
                Op::LdLen => a = wirelen,
                Op::LdImm(k) => a = k,
                Op::LdMem(m) => a = mem[usize::from(m) % BPF_MEMWORDS],
                Op::LdxImm(k) => x = k,
                Op::LdxMem(m) => x = mem[usize::from(m) % BPF_MEMWORDS],
                Op::LdxLen => x = wirelen,
                Op::LdxMsh(k) => x = u32::from(at!(k, 1)[0] & 0xf) << 2,
                Op::St(m) => mem[usize::from(m) % BPF_MEMWORDS] = a,
                Op::Stx(m) => mem[usize::from(m) % BPF_MEMWORDS] = x,
                Op::Ja(t) => pc = t as usize,
                Op::Jeq(k, t, f) => br!(a == k, t, f),
                Op::Jgt(k, t, f) => br!(a > k, t, f),
                Op::Jge(k, t, f) => br!(a >= k, t, f),
                Op::Jset(k, t, f) => br!(a & k != 0, t, f),
                Op::LdHJeq(off, k, t, f) => {
                    a = u32::from(u16::from_be_bytes(*at!(off, 2)));
                    br!(a == k, t, f)
                }
                Op::LdBJeq(off, k, t, f) => {
                    a = u32::from(at!(off, 1)[0]);
                    br!(a == k, t, f)
                }
                Op::LdWJeq(off, k, t, f) => {
                    a = u32::from_be_bytes(*at!(off, 4));
                    br!(a == k, t, f)
                }
                Op::LdHJset(off, k, t, f) => {
                    a = u32::from(u16::from_be_bytes(*at!(off, 2)));
                    br!(a & k != 0, t, f)
                }
                Op::LdBJset(off, k, t, f) => {
                    a = u32::from(at!(off, 1)[0]);
                    br!(a & k != 0, t, f)
                }
                Op::LdIndHJeq(off, k, t, f) => {
                    a = u32::from(u16::from_be_bytes(*at!(u64::from(x) + u64::from(off), 2)));
                    br!(a == k, t, f)
                }
                Op::JeqX(t, f) => br!(a == x, t, f),
                Op::JgtX(t, f) => br!(a > x, t, f),
                Op::JgeX(t, f) => br!(a >= x, t, f),
                Op::JsetX(t, f) => br!(a & x != 0, t, f),
                Op::Alu(op, k) => match alu(op, a, k) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::AluX(op) => match alu(op, a, x) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::Neg => a = a.wrapping_neg(),
                Op::Tax => x = a,
                Op::Txa => a = x,
            }
        }
    }
}

/// Jump targets narrowed to the 16 bits the fused forms keep (a program has at most 4096
/// instructions).
fn targets(t: u32, f: u32) -> Option<(u16, u16)> {
    Some((u16::try_from(t).ok()?, u16::try_from(f).ok()?))
}

/// Fuses each load from a fixed offset with the test right after it. The test keeps its
/// own place too, for the jumps that land on it.
fn fuse(mut ops: Vec<Op>) -> Vec<Op> {
    for i in 0..ops.len().saturating_sub(1) {
        let fused = match (ops[i], ops[i + 1]) {
            (Op::LdH(off), Op::Jeq(k, t, f)) => targets(t, f).map(|(t, f)| Op::LdHJeq(off, k, t, f)),
            (Op::LdB(off), Op::Jeq(k, t, f)) => targets(t, f).map(|(t, f)| Op::LdBJeq(off, k, t, f)),
            (Op::LdW(off), Op::Jeq(k, t, f)) => targets(t, f).map(|(t, f)| Op::LdWJeq(off, k, t, f)),
            (Op::LdH(off), Op::Jset(k, t, f)) => targets(t, f).map(|(t, f)| Op::LdHJset(off, k, t, f)),
            (Op::LdB(off), Op::Jset(k, t, f)) => targets(t, f).map(|(t, f)| Op::LdBJset(off, k, t, f)),
            (Op::LdIndH(off), Op::Jeq(k, t, f)) => targets(t, f).map(|(t, f)| Op::LdIndHJeq(off, k, t, f)),
            _ => None,
        };
        if let Some(op) = fused {
            ops[i] = op;
        }
    }
    ops
}

#[inline]
fn alu(op: u16, a: u32, v: u32) -> Option<u32> {
    Some(match op {
        BPF_ADD => a.wrapping_add(v),
        BPF_SUB => a.wrapping_sub(v),
        BPF_MUL => a.wrapping_mul(v),
        BPF_DIV => a.checked_div(v)?,
        BPF_MOD => a.checked_rem(v)?,
        BPF_AND => a & v,
        BPF_OR => a | v,
        BPF_XOR => a ^ v,
        BPF_LSH => a.checked_shl(v).unwrap_or(0),
        BPF_RSH => a.checked_shr(v).unwrap_or(0),
        _ => return None,
    })
}
