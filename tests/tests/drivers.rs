//! Drivers carry whole frames: stacks joined by `udp` and `hub` wires see each other's
//! frames, and the test itself, as one end of a wire, gets ARP answered whole and in order
//! while malformed frames are counted as input errors.

use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use pktbox_tests::*;

/// The test's MAC on the wire.
const ME: [u8; 6] = [0x02, 0x00, 0x00, 0x7e, 0x57, 0x01];
const STACK_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn udp_opts(local: u16, remote: u16) -> String {
    format!("local=127.0.0.1:{local},remote=127.0.0.1:{remote}")
}

#[test]
fn two_stacks_on_a_udp_wire_see_each_other() {
    let (pa, pb) = (free_udp_port(), free_udp_port());
    let a = StackProc::start(&["-d", "udp", &udp_opts(pa, pb)]);
    let b = StackProc::start(&["-d", "udp", &udp_opts(pb, pa)]);
    assert_eq!(a.counter("en0", "ipackets"), 0);
    assert_eq!(b.counter("en0", "ipackets"), 0);

    // A's address add sends a gratuitous ARP (a broadcast) that B receives. B's en0 is
    // still down: the frame is counted in, then dropped (as NetBSD's ether_input drops
    // input on an interface that is not up, before counting it as a multicast).
    a.ok("ifconfig", &["en0", "10.0.0.1/24"]);
    assert_eq!(b.wait_counter("en0", "ipackets", 1), 1);
    assert_eq!(b.counter("en0", "imcasts"), 0);
    assert_eq!(b.counter("en0", "ierrors"), 0);
    assert_eq!(a.counter("en0", "opackets"), 1);
    assert_eq!(a.counter("en0", "omcasts"), 1);
    assert_eq!(a.counter("en0", "obytes"), 60);
    assert_eq!(b.counter("en0", "ibytes"), 60);

    // And the other way.
    b.ok("ifconfig", &["en0", "10.0.0.2/24"]);
    assert_eq!(a.wait_counter("en0", "ipackets", 1), 1);
    assert_eq!(a.counter("en0", "imcasts"), 1);
    assert_eq!(a.counter("en0", "ierrors"), 0);
    // Each answered nothing: the gratuitous ARPs asked for the sender's own address.
    assert_eq!(a.counter("en0", "opackets"), 1);
    assert_eq!(b.counter("en0", "opackets"), 1);

    // An alias on A is announced too.
    a.ok("ifconfig", &["en0", "10.0.0.11/24", "alias"]);
    assert_eq!(b.wait_counter("en0", "ipackets", 2), 2);

    // A claims B's address: B notices the duplicate in A's announcement and logs it.
    a.ok("ifconfig", &["en0", "10.0.0.2/24", "alias"]);
    let want = format!(
        "duplicate IP address 10.0.0.2 sent from link address {}",
        mac_str(&a.mac("en0"))
    );
    wait_for("B to log the duplicate address", || {
        std::fs::read_to_string(b.log_path()).ok().filter(|l| l.contains(&want))
    });
}

/// One end of a wire, held by the test.
trait Wire {
    fn send(&self, frame: &[u8]);
    /// The next frame, waiting at most PATIENCE.
    fn recv(&self) -> Vec<u8>;
}

struct UdpEnd(UdpSocket);

impl Wire for UdpEnd {
    fn send(&self, frame: &[u8]) {
        self.0.send(frame).expect("send on the udp wire");
    }

    fn recv(&self) -> Vec<u8> {
        let mut b = vec![0u8; 65536];
        let n = self.0.recv(&mut b).expect("a frame on the udp wire");
        b.truncate(n);
        b
    }
}

struct HubEnd {
    sock: UnixDatagram,
    /// The stack's member socket.
    peer: PathBuf,
}

impl Wire for HubEnd {
    fn send(&self, frame: &[u8]) {
        self.sock.send_to(frame, &self.peer).expect("send on the hub");
    }

    fn recv(&self) -> Vec<u8> {
        let mut b = vec![0u8; 65536];
        loop {
            let n = self.sock.recv(&mut b).expect("a frame on the hub");
            // An empty datagram is a member's hello (it joined), not a frame.
            if n > 0 {
                b.truncate(n);
                return b;
            }
        }
    }
}

/// An ARP request from the test (sender 10.0.0.<100+seq>) for `target`, broadcast.
fn request(seq: u8, target: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        BROADCAST,
        &Arp {
            op: ARPOP_REQUEST,
            sha: ME,
            spa: Ipv4Addr::new(10, 0, 0, 100 + seq),
            tha: [0; 6],
            tpa: target,
        },
    )
}

/// Checks `f` is the stack's whole ARP reply to `request(seq, STACK_IP)`.
#[track_caller]
fn check_reply(f: &[u8], mac: [u8; 6], seq: u8) {
    // 14 + 28 bytes, padded to Ethernet's 60-byte minimum with zeroes.
    assert_eq!(f.len(), 60, "reply {seq}: {f:02x?}");
    assert!(f[42..].iter().all(|b| *b == 0), "reply {seq} padding: {f:02x?}");
    let e = parse_ether(f).unwrap();
    assert_eq!(e.dst, ME, "reply {seq} goes to the asker");
    assert_eq!(e.src, mac, "reply {seq} comes from the stack's MAC");
    assert_eq!(e.ethertype, ETHERTYPE_ARP);
    let a = Arp::parse(&e.payload).unwrap();
    assert_eq!(
        a,
        Arp {
            op: ARPOP_REPLY,
            sha: mac,
            spa: STACK_IP,
            tha: ME,
            tpa: Ipv4Addr::new(10, 0, 0, 100 + seq),
        },
        "reply {seq}"
    );
}

/// Sends a request and checks that the very next frame is its reply: everything the test
/// sent before has been through the stack's input by then.
fn sync(w: &dyn Wire, mac: [u8; 6], seq: u8) {
    w.send(&request(seq, STACK_IP));
    check_reply(&w.recv(), mac, seq);
}

/// A frame of exactly `len` bytes addressed to the stack, of an ethertype it does not speak.
fn frame_of(len: usize, mac: [u8; 6]) -> Vec<u8> {
    let mut f = ether_frame(mac, ME, 0x88b5, &[]);
    f.resize(len, 0x5a);
    f
}

/// What every wire must do, with the stack at the far end of `w` on interface en0.
fn arp_and_errors_over(st: &StackProc, w: &dyn Wire) {
    let mac = st.mac("en0");
    st.ok("ifconfig", &["en0", "inet", "10.0.0.2", "netmask", "255.255.255.0"]);

    // The address was announced: a gratuitous ARP, a broadcast request for itself.
    let f = w.recv();
    assert_eq!(f.len(), 60, "{f:02x?}");
    let e = parse_ether(&f).unwrap();
    assert_eq!((e.dst, e.src, e.ethertype), (BROADCAST, mac, ETHERTYPE_ARP));
    assert_eq!(
        Arp::parse(&e.payload).unwrap(),
        Arp {
            op: ARPOP_REQUEST,
            sha: mac,
            spa: STACK_IP,
            tha: [0; 6],
            tpa: STACK_IP,
        }
    );

    // N requests; N replies, whole and in order. They go in windows of W outstanding
    // requests: a hub member's socket queues only net.unix.max_dgram_qlen (10) datagrams,
    // and the hub drops frames for a member whose queue is full, as a busy segment would.
    const N: u8 = 64;
    const W: u8 = 8;
    for win in (0..N).step_by(W as usize) {
        for seq in win..win + W {
            w.send(&request(seq, STACK_IP));
        }
        for seq in win..win + W {
            check_reply(&w.recv(), mac, seq);
        }
    }

    // A request for an address that is not the stack's gets no answer.
    w.send(&request(100, Ipv4Addr::new(10, 0, 0, 99)));
    // Nor does a reply, nor a request unicast to another MAC.
    let mut r = Arp::parse(&parse_ether(&request(101, STACK_IP)).unwrap().payload).unwrap();
    r.op = ARPOP_REPLY;
    w.send(&arp_frame(mac, &r));
    let mut other = request(102, STACK_IP);
    other[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    w.send(&other);
    sync(w, mac, 103);
    assert_eq!(st.counter("en0", "ierrors"), 0);

    // A runt and an oversized frame: two input errors, no answer.
    let ierrors = st.counter("en0", "ierrors");
    w.send(&request(110, STACK_IP)[..10]);
    let mut big = request(111, STACK_IP);
    big.resize(3000, 0);
    w.send(&big);
    sync(w, mac, 112);
    assert_eq!(st.counter("en0", "ierrors"), ierrors + 2);
    let v = st.ok("ifconfig", &["-v", "en0"]);
    let input = v
        .lines()
        .find(|l| l.starts_with("\tinput: "))
        .unwrap_or_else(|| panic!("ifconfig -v has no input line: {v}"));
    assert!(
        input.contains(" packets, ") && input.contains(&format!(", {} errors", ierrors + 2)),
        "ifconfig -v input line: {input}"
    );

    // The limits are 14 bytes and mtu + 18 (one VLAN tag's room): just inside is not an
    // error (an unknown protocol), just outside is.
    let ierrors = st.counter("en0", "ierrors");
    let noproto = st.counter("en0", "noproto");
    for len in [13, 14, 1518, 1519] {
        w.send(&frame_of(len, mac));
    }
    sync(w, mac, 120);
    assert_eq!(st.counter("en0", "ierrors"), ierrors + 2, "13 and 1519 bytes");
    assert_eq!(st.counter("en0", "noproto"), noproto + 2, "14 and 1518 bytes");

    // The limit follows the MTU.
    st.ok("ifconfig", &["en0", "mtu", "1400"]);
    let ierrors = st.counter("en0", "ierrors");
    w.send(&frame_of(1418, mac));
    w.send(&frame_of(1419, mac));
    sync(w, mac, 121);
    assert_eq!(st.counter("en0", "ierrors"), ierrors + 1, "1419 bytes at mtu 1400");

    // With -arp the interface neither answers ARP nor announces addresses (NetBSD's
    // ether_input drops ARP on an IFF_NOARP interface).
    st.ok("ifconfig", &["en0", "-arp"]);
    assert!(
        st.ok("ifconfig", &["en0"])
            .starts_with("en0: flags=88c3<UP,BROADCAST,RUNNING,NOARP,SIMPLEX,MULTICAST> mtu 1400\n"),
        "-arp sets NOARP"
    );
    w.send(&request(125, STACK_IP));
    st.ok("ifconfig", &["en0", "10.0.0.12/24", "alias"]);
    st.ok("ifconfig", &["en0", "arp"]);
    // The first frame now is the answer to this request: nothing came before it.
    sync(w, mac, 126);

    // A request that arrives while the interface is down is dropped, not answered later.
    st.ok("ifconfig", &["en0", "down"]);
    let iqdrops = st.counter("en0", "iqdrops");
    w.send(&request(130, STACK_IP));
    wait_for("the request to be dropped", || {
        (st.counter("en0", "iqdrops") > iqdrops).then_some(())
    });
    st.ok("ifconfig", &["en0", "up"]);
    sync(w, mac, 131);
}

#[test]
fn a_burst_over_udp_is_answered_whole_and_in_order() {
    let me = UdpSocket::bind("127.0.0.1:0").unwrap();
    me.set_read_timeout(Some(PATIENCE)).unwrap();
    let sp = free_udp_port();
    let st = StackProc::start(&["-d", "udp", &udp_opts(sp, me.local_addr().unwrap().port())]);
    me.connect(("127.0.0.1", sp)).unwrap();
    st.ok("ifconfig", &["en0", "10.0.0.2/24"]);
    let w = UdpEnd(me);
    let mac = st.mac("en0");
    assert_eq!(w.recv().len(), 60, "the gratuitous ARP");
    // All at once: a UDP socket's buffer holds them all.
    for seq in 0..100 {
        w.send(&request(seq, STACK_IP));
    }
    for seq in 0..100 {
        check_reply(&w.recv(), mac, seq);
    }
}

#[test]
fn the_test_as_a_udp_end_gets_arp_answered() {
    let me = UdpSocket::bind("127.0.0.1:0").unwrap();
    me.set_read_timeout(Some(PATIENCE)).unwrap();
    let sp = free_udp_port();
    let st = StackProc::start(&["-d", "udp", &udp_opts(sp, me.local_addr().unwrap().port())]);
    me.connect(("127.0.0.1", sp)).unwrap();
    arp_and_errors_over(&st, &UdpEnd(me));
}

/// Binds the test's member socket in a hub directory.
fn hub_member(dir: &std::path::Path) -> (UnixDatagram, PathBuf) {
    let me = dir.join(format!("{}.hub", unique("test-")));
    let s = UnixDatagram::bind(&me).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    (s, me)
}

/// The other members' sockets in a hub directory.
fn hub_others(dir: &std::path::Path, me: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hub") && p != me)
        .collect();
    v.sort();
    v
}

#[test]
fn the_test_as_a_hub_member_gets_arp_answered() {
    let d = TempDir::new();
    let hub = d.join("hub");
    std::fs::create_dir(&hub).unwrap();
    let (sock, me) = hub_member(&hub);
    let st = StackProc::start(&["-d", "hub", &format!("path={}", hub.display())]);
    let others = hub_others(&hub, &me);
    assert_eq!(others.len(), 1, "the stack's member socket: {others:?}");
    let w = HubEnd {
        sock,
        peer: others[0].clone(),
    };
    arp_and_errors_over(&st, &w);
    // The stack's member socket goes with the stack.
    drop(st);
    assert_eq!(hub_others(&hub, &me), Vec::<PathBuf>::new());
}

#[test]
fn three_stacks_on_one_hub() {
    let d = TempDir::new();
    let hub = d.join("hub");
    let opt = format!("path={}", hub.display());
    let stacks: Vec<StackProc> = (0..3).map(|_| StackProc::start(&["-d", "hub", &opt])).collect();
    assert_eq!(hub_others(&hub, &d.join("none")).len(), 3);
    let rx = |s: &StackProc| s.counter("en0", "ipackets");
    let mut seen = [0u64; 3];
    for (i, st) in stacks.iter().enumerate() {
        st.ok("ifconfig", &["en0", &format!("10.0.0.{}/24", i + 1)]);
        // The other two each receive the announcement; the sender does not hear itself.
        for (j, other) in stacks.iter().enumerate() {
            if j != i {
                seen[j] += 1;
                assert_eq!(other.wait_counter("en0", "ipackets", seen[j]), seen[j]);
            }
        }
        assert_eq!(rx(st), seen[i], "stack {i} heard its own frame");
    }
    for (i, st) in stacks.iter().enumerate() {
        assert_eq!(seen[i], 2);
        assert_eq!(st.counter("en0", "opackets"), 1);
        assert_eq!(st.counter("en0", "ierrors"), 0);
        // Stack i was up (it had its address) only for the announcements after its own.
        assert_eq!(st.counter("en0", "imcasts"), 2 - i as u64);
    }
    // A stack that leaves the hub takes its socket with it; the rest still talk.
    let mut stacks = stacks;
    let gone = stacks.pop().unwrap();
    drop(gone);
    assert_eq!(hub_others(&hub, &d.join("none")).len(), 2);
    stacks[0].ok("ifconfig", &["en0", "10.0.0.11/24", "alias"]);
    assert_eq!(stacks[1].wait_counter("en0", "ipackets", 3), 3);
}

/// A member's socket queues at most net.unix.max_dgram_qlen datagrams (10 by default)
/// whatever its SO_RCVBUF; the hub driver keeps what does not fit in a transmit ring and
/// sends it as room comes, so a burst of 64 frames each way arrives whole and in order at
/// a member that reads while the burst is sent.
#[test]
fn a_burst_over_a_hub_is_not_lost() {
    let d = TempDir::new();
    let hub = d.join("hub");
    std::fs::create_dir(&hub).unwrap();
    let (sock, me) = hub_member(&hub);
    let st = StackProc::start(&["-d", "hub", &format!("path={}", hub.display())]);
    let peer = hub_others(&hub, &me).remove(0);
    let w = HubEnd { sock, peer };
    st.ok("ifconfig", &["en0", "10.0.0.2/24"]);
    let mac = st.mac("en0");
    assert_eq!(w.recv().len(), 60, "the gratuitous ARP");
    let sender = w.sock.try_clone().unwrap();
    let peer = w.peer.clone();
    let burst = std::thread::spawn(move || {
        for seq in 0..64 {
            sender.send_to(&request(seq, STACK_IP), &peer).expect("send on the hub");
        }
    });
    for seq in 0..64 {
        check_reply(&w.recv(), mac, seq);
    }
    burst.join().unwrap();
}
