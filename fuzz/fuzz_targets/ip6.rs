//! IPv6 input, Neighbor Discovery and reassembly: scripts of packets from the link.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pktbox_stack::fuzzing::ip6(data);
});
