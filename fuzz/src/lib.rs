//! Shared code of the fuzz targets: tcpdump's pcap reader and filter compiler, taken from
//! the `pktbox` binary crate's sources as they are (they use nothing but std and the
//! stack's BPF definitions), and the decoding of a BPF program from raw bytes.

#![allow(dead_code)]

// Their unit tests belong to the pktbox crate (and reach into it): not built here.
#[cfg(not(test))]
#[path = "../../cmds/src/applets/tcpdump/pcap.rs"]
pub mod pcap;

#[cfg(not(test))]
#[path = "../../cmds/src/applets/tcpdump/compile/mod.rs"]
pub mod compile;

use pktbox_stack::wire::bpf::BpfInsn;

/// A program of `n` instructions from 8 bytes each (code, jt, jf, k, as `struct bpf_insn`).
pub fn insns(b: &[u8], n: usize) -> Vec<BpfInsn> {
    b.chunks_exact(8)
        .take(n)
        .map(|c| BpfInsn {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

// pfctl's pf.conf parser and rule printer, from the `pktbox` crate's sources; they are
// siblings there (`super::names`), so they sit at the root here.
#[cfg(not(test))]
#[path = "../../cmds/src/applets/pfctl/names.rs"]
pub mod names;

#[cfg(not(test))]
#[path = "../../cmds/src/applets/pfctl/parse.rs"]
pub mod parse;

#[cfg(not(test))]
#[path = "../../cmds/src/applets/pfctl/print.rs"]
pub mod print;
