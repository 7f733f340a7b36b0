//! Channel datagrams: decoding every message type, then the control and capture handlers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pktbox_stack::fuzzing::channel(data);
});
