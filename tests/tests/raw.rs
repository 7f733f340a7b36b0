//! The `raw` driver: an AF_PACKET socket on a host interface (one end of a veth pair in a
//! namespace of the test's own), with Linux on the other end as the peer.

use pktbox_tests::*;

#[test]
fn a_stack_on_a_host_interface_talks_to_linux() {
    let test = "a_stack_on_a_host_interface_talks_to_linux";
    if !need_root(test) || !need(test, &["ip", "ping"]) {
        return;
    }
    let ns = NetNs::new();
    for args in [
        vec![
            "-n", &ns.name, "link", "add", "vr0", "type", "veth", "peer", "name", "vr1",
        ],
        vec!["-n", &ns.name, "link", "set", "vr0", "up"],
        vec!["-n", &ns.name, "link", "set", "vr1", "up"],
        vec!["-n", &ns.name, "addr", "add", "10.79.0.1/24", "dev", "vr1"],
    ] {
        run("ip", args).ok();
    }
    let (st, child) = start_in_netns(&ns, "raw", "if=vr0,seed=5");
    st.ok("ifconfig", &["en0", "10.79.0.2/24"]);
    let v = st.ok("ifconfig", &["-v", "en0"]);
    assert!(v.contains("driver: raw interface vr0"), "{v}");
    assert!(v.contains("seed 5"), "impairments wrap the raw driver too: {v}");
    // Linux pings the stack through its own veth end, and the stack pings back.
    run(
        "ip",
        [
            "netns",
            "exec",
            &ns.name,
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            "10.79.0.2",
        ],
    )
    .ok();
    let out = st.ok("ping", &["-c", "3", "-i", "0.2", "10.79.0.1"]);
    assert!(out.contains("3 packets transmitted, 3 packets received"), "{out}");
    // The stack's own frames are not taken for input (PACKET_OUTGOING is skipped).
    let ierr = st.counter("en0", "ierrors");
    assert_eq!(ierr, 0);
    drop(st);
    drop(child);
}
