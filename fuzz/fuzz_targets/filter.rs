//! tcpdump's filter compiler: any expression compiles to a program the kernel-side validator
//! accepts, or is refused with an error; the program then runs on a packet.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pktbox_fuzz::compile::{compile, Options, DLT_EN10MB, DLT_NULL};
use pktbox_stack::wire::bpf::{bpf_filter, bpf_validate};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    // The expression, then (after a NUL) a packet to run the program on.
    let (expr, pkt) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(expr) = std::str::from_utf8(expr) else { return };
    let opts = Options {
        snaplen: if flags & 4 != 0 { 96 } else { 262144 },
        netmask: if flags & 8 != 0 { 0xffff_ff00 } else { 0 },
        optimize: flags & 1 == 0,
        linktype: if flags & 2 != 0 { DLT_NULL } else { DLT_EN10MB },
    };
    if let Ok(prog) = compile(expr, &opts) {
        if let Err(e) = bpf_validate(&prog) {
            panic!("{expr:?} compiled to a program the validator refuses: {e}");
        }
        bpf_filter(&prog, pkt, pkt.len() as u32);
    }
});
