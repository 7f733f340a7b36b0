//! The classic BPF instruction (`struct bpf_insn`) and its opcode fields, with NetBSD's
//! names and values (`net/bpf.h`).

use serde::{Deserialize, Serialize};

/// One instruction: opcode, jump offsets for true and false (conditional jumps only, counted
/// from the next instruction), and the generic operand `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl BpfInsn {
    /// An instruction that does not branch (`BPF_STMT`).
    pub const fn stmt(code: u16, k: u32) -> Self {
        BpfInsn { code, jt: 0, jf: 0, k }
    }

    /// A jump (`BPF_JUMP`): to `jt` more instructions ahead when the test holds, `jf` when not.
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Self {
        BpfInsn { code, jt, jf, k }
    }
}

// Instruction classes.
pub const BPF_LD: u16 = 0x00;
pub const BPF_LDX: u16 = 0x01;
pub const BPF_ST: u16 = 0x02;
pub const BPF_STX: u16 = 0x03;
pub const BPF_ALU: u16 = 0x04;
pub const BPF_JMP: u16 = 0x05;
pub const BPF_RET: u16 = 0x06;
pub const BPF_MISC: u16 = 0x07;

// Load sizes.
pub const BPF_W: u16 = 0x00;
pub const BPF_H: u16 = 0x08;
pub const BPF_B: u16 = 0x10;

// Load modes.
pub const BPF_IMM: u16 = 0x00;
pub const BPF_ABS: u16 = 0x20;
pub const BPF_IND: u16 = 0x40;
pub const BPF_MEM: u16 = 0x60;
pub const BPF_LEN: u16 = 0x80;
pub const BPF_MSH: u16 = 0xa0;

// ALU operations.
pub const BPF_ADD: u16 = 0x00;
pub const BPF_SUB: u16 = 0x10;
pub const BPF_MUL: u16 = 0x20;
pub const BPF_DIV: u16 = 0x30;
pub const BPF_OR: u16 = 0x40;
pub const BPF_AND: u16 = 0x50;
pub const BPF_LSH: u16 = 0x60;
pub const BPF_RSH: u16 = 0x70;
pub const BPF_NEG: u16 = 0x80;
pub const BPF_MOD: u16 = 0x90;
pub const BPF_XOR: u16 = 0xa0;

// Jumps.
pub const BPF_JA: u16 = 0x00;
pub const BPF_JEQ: u16 = 0x10;
pub const BPF_JGT: u16 = 0x20;
pub const BPF_JGE: u16 = 0x30;
pub const BPF_JSET: u16 = 0x40;

// Operand sources: the constant k or the index register X.
pub const BPF_K: u16 = 0x00;
pub const BPF_X: u16 = 0x08;

// What a return returns: k (BPF_K) or the accumulator.
pub const BPF_A: u16 = 0x10;

// Miscellaneous operations.
pub const BPF_TAX: u16 = 0x00;
pub const BPF_TXA: u16 = 0x80;

/// Words of scratch memory (`M[0]` .. `M[15]`).
pub const BPF_MEMWORDS: usize = 16;
/// The longest program a capture accepts.
pub const BPF_MAXINSNS: usize = 4096;

/// The class bits of an opcode.
pub const fn bpf_class(code: u16) -> u16 {
    code & 0x07
}

/// The size bits of a load.
pub const fn bpf_size(code: u16) -> u16 {
    code & 0x18
}

/// The mode bits of a load.
pub const fn bpf_mode(code: u16) -> u16 {
    code & 0xe0
}

/// The operation bits of an ALU instruction or a jump.
pub const fn bpf_op(code: u16) -> u16 {
    code & 0xf0
}

/// The source bit of an ALU instruction or a jump.
pub const fn bpf_src(code: u16) -> u16 {
    code & 0x08
}

/// The value bits of a return.
pub const fn bpf_rval(code: u16) -> u16 {
    code & 0x18
}

/// The operation bits of a miscellaneous instruction.
pub const fn bpf_miscop(code: u16) -> u16 {
    code & 0xf8
}
