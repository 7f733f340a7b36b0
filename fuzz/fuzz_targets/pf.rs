//! PF: packets through pf_test both ways under a fixed ruleset (nat, rdr, binat, scrub,
//! tables, block return, modulate state).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pktbox_stack::fuzzing::pf(data);
});
