//! The interpreter (`bpf_filter`). It runs any program at all: a load outside the packet,
//! a division by zero, an unknown opcode, a scratch index out of range, a jump past the end
//! or falling off the end all stop the program with 0 (drop the packet), as NetBSD's
//! interpreter does for the cases a validated program can still meet. Jumps only go
//! forward, so a program of n instructions runs at most n steps.

use super::insn::*;

/// Loads `size` bytes (1, 2 or 4) at `off` of `pkt`, big-endian, or `None` outside it.
#[inline]
fn load(pkt: &[u8], off: u64, size: usize) -> Option<u32> {
    let off = usize::try_from(off).ok()?;
    let bytes = pkt.get(off..off.checked_add(size)?)?;
    Some(bytes.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b)))
}

/// Runs `prog` over `pkt` (the bytes at hand) for a packet that was `wirelen` bytes long on
/// the wire. Returns what the program returns: how many bytes to keep, 0 to drop.
pub fn bpf_filter(prog: &[BpfInsn], pkt: &[u8], wirelen: u32) -> u32 {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; BPF_MEMWORDS];
    let mut pc: usize = 0;
    macro_rules! ld {
        ($off:expr, $size:expr) => {
            match load(pkt, $off, $size) {
                Some(v) => v,
                None => return 0,
            }
        };
    }
    macro_rules! mem_index {
        ($k:expr) => {{
            let k = $k as usize;
            if k >= BPF_MEMWORDS {
                return 0;
            }
            k
        }};
    }
    loop {
        let Some(ins) = prog.get(pc) else {
            return 0;
        };
        pc += 1;
        let k = ins.k;
        // Every opcode fits in 8 bits; anything wider is unknown.
        if ins.code > 0xff {
            return 0;
        }
        match ins.code {
            // Returns.
            c if c == BPF_RET | BPF_K => return k,
            c if c == BPF_RET | BPF_A => return a,

            // Loads into A.
            c if c == BPF_LD | BPF_W | BPF_ABS => a = ld!(u64::from(k), 4),
            c if c == BPF_LD | BPF_H | BPF_ABS => a = ld!(u64::from(k), 2),
            c if c == BPF_LD | BPF_B | BPF_ABS => a = ld!(u64::from(k), 1),
            c if c == BPF_LD | BPF_W | BPF_IND => a = ld!(u64::from(x) + u64::from(k), 4),
            c if c == BPF_LD | BPF_H | BPF_IND => a = ld!(u64::from(x) + u64::from(k), 2),
            c if c == BPF_LD | BPF_B | BPF_IND => a = ld!(u64::from(x) + u64::from(k), 1),
            c if c == BPF_LD | BPF_W | BPF_LEN => a = wirelen,
            c if c == BPF_LD | BPF_IMM => a = k,
            c if c == BPF_LD | BPF_MEM => a = mem[mem_index!(k)],

            // Loads into X.
            c if c == BPF_LDX | BPF_W | BPF_IMM => x = k,
            c if c == BPF_LDX | BPF_W | BPF_MEM => x = mem[mem_index!(k)],
            c if c == BPF_LDX | BPF_W | BPF_LEN => x = wirelen,
            c if c == BPF_LDX | BPF_B | BPF_MSH => x = (ld!(u64::from(k), 1) & 0xf) << 2,

            // Stores.
            BPF_ST => mem[mem_index!(k)] = a,
            BPF_STX => mem[mem_index!(k)] = x,

            // Jumps.
            c if c == BPF_JMP | BPF_JA => {
                pc = match usize::try_from(k).ok().and_then(|k| pc.checked_add(k)) {
                    Some(p) => p,
                    None => return 0,
                }
            }
            c if bpf_class(c) == BPF_JMP => {
                let v = if bpf_src(c) == BPF_X { x } else { k };
                let taken = match bpf_op(c) {
                    BPF_JEQ => a == v,
                    BPF_JGT => a > v,
                    BPF_JGE => a >= v,
                    BPF_JSET => a & v != 0,
                    _ => return 0,
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
            }

            // Arithmetic.
            c if c == BPF_ALU | BPF_NEG => a = a.wrapping_neg(),
            c if bpf_class(c) == BPF_ALU => {
                let v = if bpf_src(c) == BPF_X { x } else { k };
                a = match bpf_op(c) {
                    BPF_ADD => a.wrapping_add(v),
                    BPF_SUB => a.wrapping_sub(v),
                    BPF_MUL => a.wrapping_mul(v),
                    BPF_DIV => match a.checked_div(v) {
                        Some(q) => q,
                        None => return 0,
                    },
                    BPF_MOD => match a.checked_rem(v) {
                        Some(r) => r,
                        None => return 0,
                    },
                    BPF_AND => a & v,
                    BPF_OR => a | v,
                    BPF_XOR => a ^ v,
                    // A shift by 32 or more shifts everything out.
                    BPF_LSH => a.checked_shl(v).unwrap_or(0),
                    BPF_RSH => a.checked_shr(v).unwrap_or(0),
                    _ => return 0,
                };
            }

            // Register transfers.
            c if c == BPF_MISC | BPF_TAX => x = a,
            c if c == BPF_MISC | BPF_TXA => a = x,

            _ => return 0,
        }
    }
}
