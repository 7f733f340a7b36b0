//! The checks a program passes before a capture takes it (NetBSD's `bpf_validate`):
//!
//! - it is not empty and has at most [`BPF_MAXINSNS`] instructions;
//! - every opcode is one the interpreter knows;
//! - jumps go forward and land inside the program, so it always ends;
//! - the last instruction is a return, so every path ends in one;
//! - scratch memory indices are below [`BPF_MEMWORDS`], and no path reads a word of scratch
//!   memory before writing it;
//! - no division (or modulus) by a constant zero.
//!
//! Loads from the packet are not bounded here: the interpreter checks each one against the
//! packet it runs on.

use super::insn::*;

/// Whether `code` is an instruction the interpreter knows.
pub fn bpf_opcode_known(code: u16) -> bool {
    if code > 0xff {
        return false;
    }
    match bpf_class(code) {
        BPF_LD => matches!(
            code & !0x07,
            c if c == BPF_W | BPF_IMM
                || c == BPF_W | BPF_ABS
                || c == BPF_H | BPF_ABS
                || c == BPF_B | BPF_ABS
                || c == BPF_W | BPF_IND
                || c == BPF_H | BPF_IND
                || c == BPF_B | BPF_IND
                || c == BPF_W | BPF_MEM
                || c == BPF_W | BPF_LEN
        ),
        BPF_LDX => matches!(
            code & !0x07,
            c if c == BPF_W | BPF_IMM || c == BPF_W | BPF_MEM || c == BPF_W | BPF_LEN || c == BPF_B | BPF_MSH
        ),
        BPF_ST | BPF_STX => code & !0x07 == 0,
        BPF_ALU => match bpf_op(code) {
            BPF_NEG => bpf_src(code) == BPF_K,
            BPF_ADD | BPF_SUB | BPF_MUL | BPF_DIV | BPF_MOD | BPF_AND | BPF_OR | BPF_XOR | BPF_LSH | BPF_RSH => true,
            _ => false,
        },
        BPF_JMP => match bpf_op(code) {
            BPF_JA => bpf_src(code) == BPF_K,
            BPF_JEQ | BPF_JGT | BPF_JGE | BPF_JSET => true,
            _ => false,
        },
        BPF_RET => code == BPF_RET | BPF_K || code == BPF_RET | BPF_A,
        BPF_MISC => code == BPF_MISC | BPF_TAX || code == BPF_MISC | BPF_TXA,
        _ => false,
    }
}

/// Checks `prog` against the rules above; the error names the first offending instruction.
pub fn bpf_validate(prog: &[BpfInsn]) -> Result<(), String> {
    let len = prog.len();
    if len == 0 {
        return Err("empty program".into());
    }
    if len > BPF_MAXINSNS {
        return Err(format!("program has {len} instructions, more than {BPF_MAXINSNS}"));
    }
    // For each instruction: the scratch words that may be unwritten on some path to it, or
    // None while no path to it has been seen. Jumps only go forward, so one pass in order
    // sees every predecessor of an instruction before the instruction itself.
    let mut unset: Vec<Option<u16>> = vec![None; len];
    unset[0] = Some(u16::MAX);
    let merge = |unset: &mut Vec<Option<u16>>, to: usize, bits: u16| {
        unset[to] = Some(unset[to].unwrap_or(0) | bits);
    };
    for (pc, ins) in prog.iter().enumerate() {
        let at = |what: &str| format!("instruction {pc}: {what}");
        let code = ins.code;
        if !bpf_opcode_known(code) {
            return Err(at(&format!("unknown opcode {code:#x}")));
        }
        // Where the next instruction (or a jump) may go: anything past pc is forward.
        let in_range = |off: u64| (pc as u64) + 1 + off < len as u64;
        let class = bpf_class(code);
        let uses_mem = (class == BPF_LD || class == BPF_LDX) && bpf_mode(code) == BPF_MEM;
        if (uses_mem || class == BPF_ST || class == BPF_STX) && ins.k as usize >= BPF_MEMWORDS {
            return Err(at(&format!("scratch memory index {} out of range", ins.k)));
        }
        if class == BPF_ALU && bpf_src(code) == BPF_K && matches!(bpf_op(code), BPF_DIV | BPF_MOD) && ins.k == 0 {
            return Err(at("division by zero"));
        }
        let Some(mut bits) = unset[pc] else {
            // No path reaches this instruction; it can never run. Its jumps must still be
            // in range, which the checks below see to.
            if class == BPF_JMP {
                check_jump(ins, pc, in_range)?;
            }
            continue;
        };
        if uses_mem && bits & (1 << ins.k) != 0 {
            return Err(at(&format!("M[{}] may be read before it is written", ins.k)));
        }
        if class == BPF_ST || class == BPF_STX {
            bits &= !(1 << ins.k);
        }
        match class {
            BPF_RET => {}
            BPF_JMP => {
                check_jump(ins, pc, in_range)?;
                if bpf_op(code) == BPF_JA {
                    merge(&mut unset, pc + 1 + ins.k as usize, bits);
                } else {
                    merge(&mut unset, pc + 1 + usize::from(ins.jt), bits);
                    merge(&mut unset, pc + 1 + usize::from(ins.jf), bits);
                }
            }
            _ => {
                if pc + 1 == len {
                    return Err(at("the program does not end in a return"));
                }
                merge(&mut unset, pc + 1, bits);
            }
        }
    }
    if bpf_class(prog[len - 1].code) != BPF_RET {
        return Err(format!("instruction {}: the program does not end in a return", len - 1));
    }
    Ok(())
}

fn check_jump(ins: &BpfInsn, pc: usize, in_range: impl Fn(u64) -> bool) -> Result<(), String> {
    let ok = if bpf_op(ins.code) == BPF_JA {
        in_range(u64::from(ins.k))
    } else {
        in_range(u64::from(ins.jt)) && in_range(u64::from(ins.jf))
    };
    if ok {
        Ok(())
    } else {
        Err(format!("instruction {pc}: jump out of the program"))
    }
}
