//! Whole Ethernet frames (ARP, IPv4, ICMP, UDP, TCP) into a configured stack with
//! listeners, connections and UDP sockets; user actions and timer ticks between them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut net = pktbox_stack::fuzzing::Net::new(first & 1 != 0);
    net.run(rest);
});
