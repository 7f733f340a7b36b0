//! Classic BPF (`net/bpf.h`, `bpf_filter.c`): the instruction set, the checks a program
//! must pass before a capture accepts it, the interpreter that runs it on each packet, and
//! the records a capture's read returns (`hdr`). Both ends use these: the stack's taps
//! (`net/bpf/dev.rs`), the channel (`msg/` carries programs as `Vec<BpfInsn>`) and
//! tcpdump, which compiles, checks and runs programs itself.
//!
//! The pieces a tap needs:
//!
//! - [`BpfInsn`] and the `BPF_*` constants (`insn`), with [`BpfInsn::stmt`] and
//!   [`BpfInsn::jump`] in the roles of the `BPF_STMT`/`BPF_JUMP` macros;
//! - [`bpf_validate`], NetBSD's acceptance rules (forward jumps only, every path ends in a
//!   return, scratch memory in range and written before it is read, no division by a
//!   constant zero, known opcodes only);
//! - [`bpf_filter`], which runs any program, valid or not, on a packet without reading
//!   outside it and without panicking: it returns how many bytes of the packet to keep
//!   (0: drop it);
//! - [`BpfProgram`], a program that has passed [`bpf_validate`], for a capture to hold. It
//!   travels on the channel as a `Vec<BpfInsn>` and decodes only if it passes the checks.
//!
//! A tap runs the capture's program on each frame and keeps what it returns, no more than
//! the frame and the capture's snap length:
//!
//! ```
//! use pktbox_stack::wire::bpf::{BpfInsn, BpfProgram, BPF_ABS, BPF_H, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET};
//!
//! // tcpdump -dd ip
//! let ip = BpfProgram::new(vec![
//!     BpfInsn::stmt(BPF_LD | BPF_H | BPF_ABS, 12),
//!     BpfInsn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 1),
//!     BpfInsn::stmt(BPF_RET | BPF_K, 262144),
//!     BpfInsn::stmt(BPF_RET | BPF_K, 0),
//! ])
//! .unwrap();
//! let mut frame = vec![0u8; 60];
//! frame[12] = 0x08;
//! let keep = ip.filter(&frame, frame.len() as u32).min(frame.len() as u32);
//! assert_eq!(keep, 60);
//! ```

mod fast;
pub mod hdr;
pub mod insn;
pub mod interp;
pub mod validate;

pub use hdr::*;
pub use insn::*;
pub use interp::bpf_filter;
pub use validate::bpf_validate;

use serde::{Deserialize, Serialize};

/// A program that passed [`bpf_validate`]: what a capture keeps as its filter (BIOCSETF).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<BpfInsn>", into = "Vec<BpfInsn>")]
pub struct BpfProgram(Vec<BpfInsn>, fast::Decoded);

impl BpfProgram {
    /// Checks `insns` and keeps them, or says why they are refused.
    pub fn new(insns: Vec<BpfInsn>) -> Result<Self, String> {
        bpf_validate(&insns)?;
        let d = fast::Decoded::new(&insns);
        Ok(BpfProgram(insns, d))
    }

    /// The program that accepts every packet whole, as a capture without a filter does:
    /// `ret #-1`.
    pub fn accept_all() -> Self {
        let insns = vec![BpfInsn::stmt(BPF_RET | BPF_K, u32::MAX)];
        let d = fast::Decoded::new(&insns);
        BpfProgram(insns, d)
    }

    /// Runs the program: how many bytes of `pkt` to keep (0: the packet is not wanted).
    /// `pkt` is what is at hand (the captured bytes), `wirelen` the length the packet had on
    /// the wire (what `len` compares against).
    pub fn filter(&self, pkt: &[u8], wirelen: u32) -> u32 {
        self.1.run(pkt, wirelen)
    }

    pub fn insns(&self) -> &[BpfInsn] {
        &self.0
    }
}

impl TryFrom<Vec<BpfInsn>> for BpfProgram {
    type Error = String;
    fn try_from(insns: Vec<BpfInsn>) -> Result<Self, String> {
        BpfProgram::new(insns)
    }
}

impl From<BpfProgram> for Vec<BpfInsn> {
    fn from(p: BpfProgram) -> Self {
        p.0
    }
}

#[cfg(test)]
mod tests;
