//! IPv4 reassembly: sequences of fragments of a few datagrams.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pktbox_stack::fuzzing::reass(data);
});
