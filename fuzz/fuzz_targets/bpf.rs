//! The BPF validator, then the interpreter and the pre-decoded fast path on the programs it
//! accepts: both must give the same answer for every packet.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pktbox_stack::wire::bpf::{bpf_filter, bpf_validate, BpfProgram};

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n);
    let prog = pktbox_fuzz::insns(rest, n);
    let pkt = &rest[(prog.len() * 8).min(rest.len())..];
    if bpf_validate(&prog).is_err() {
        assert!(
            BpfProgram::new(prog).is_err(),
            "a program the validator refuses is refused"
        );
        return;
    }
    let p = BpfProgram::new(prog.clone()).expect("a valid program is taken");
    for wirelen in [pkt.len() as u32, pkt.len() as u32 + 100] {
        let a = bpf_filter(&prog, pkt, wirelen);
        let b = p.filter(pkt, wirelen);
        assert_eq!(a, b, "interpreter and fast path agree");
    }
});
