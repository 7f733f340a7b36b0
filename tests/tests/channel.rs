//! Malformed channel messages: each gets an EINVAL reply, never a panic, and neither the
//! connection that sent it nor any other is harmed.

use std::time::Duration;

use pktbox_stack::msg::wire::{Received, SeqPacket};
use pktbox_stack::msg::{
    decode, encode, Frame, Header, HelloReq, IfListReq, Msg, Role, HDR_LEN, MAX_MSG, MSGF_REPLY, MSG_VERSION,
};
use pktbox_tests::*;

/// A raw connection to the stack's channel.
struct Raw {
    c: SeqPacket,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(st: &StackProc) -> Raw {
        let c = SeqPacket::connect(&st.socket_path()).expect("connect to the channel");
        // Room for the oversized datagrams this test sends.
        c.set_buffers(2 * MAX_MSG + 65536).expect("socket buffers");
        c.set_read_timeout(Some(PATIENCE)).unwrap();
        Raw {
            c,
            buf: vec![0; MAX_MSG + 1],
        }
    }

    fn send(&self, b: &[u8]) {
        self.c.send(b).expect("send a datagram");
    }

    /// The next datagram, whole, with its header.
    fn recv(&mut self) -> (Header, Vec<u8>) {
        let n = match self.c.recv(&mut self.buf) {
            Ok(Received::Msg(n)) => n,
            other => panic!("expected a reply from the stack, got {other:?}"),
        };
        let b = self.buf[..n].to_vec();
        let h = Header::decode(&b).unwrap_or_else(|e| panic!("reply header: {e}: {b:?}"));
        (h, b)
    }

    /// The reply to a request: must decode whole.
    fn reply(&mut self) -> Frame {
        let (_, b) = self.recv();
        decode(&b).unwrap_or_else(|e| panic!("reply does not decode: {e}"))
    }

    fn call(&mut self, m: &Msg, seq: u32) -> Frame {
        self.send(&encode(m, seq, std::process::id(), 0, 0));
        let f = self.reply();
        assert_eq!(f.hdr.seq, seq, "reply to seq {seq}: {f:?}");
        assert_ne!(f.hdr.flags & MSGF_REPLY, 0, "{f:?}");
        f
    }

    /// Sends `b` and checks the answer is an EINVAL error reply (with `seq` when the bad
    /// datagram carried a readable one).
    #[track_caller]
    fn expect_einval(&mut self, what: &str, b: &[u8], seq: Option<u32>) {
        self.send(b);
        let f = self.reply();
        assert_eq!(f.hdr.errno, libc::EINVAL, "{what}: expected EINVAL, got {f:?}");
        assert_ne!(f.hdr.flags & MSGF_REPLY, 0, "{what}: {f:?}");
        assert!(matches!(f.msg, Msg::ErrorText(_)), "{what}: error reply body: {f:?}");
        if let Some(s) = seq {
            assert_eq!(f.hdr.seq, s, "{what}: reply seq");
        }
    }
}

fn hello() -> Msg {
    Msg::Hello(HelloReq { role: Role::Control })
}

fn iflist() -> Msg {
    Msg::IfList(IfListReq {
        name: Some("lo0".into()),
    })
}

/// A header for a datagram of `len` bytes in all (body included).
fn header(len: usize, version: u8, mtype: u8, seq: u32) -> [u8; HDR_LEN] {
    let h = Header {
        len: len as u32,
        version,
        mtype,
        flags: 0,
        seq,
        pid: std::process::id(),
        errno: 0,
    };
    let mut b = [0u8; HDR_LEN];
    h.encode(&mut b);
    b
}

/// Every kind of bad datagram, with the seq its reply should carry (if readable).
fn bad_datagrams() -> Vec<(&'static str, Vec<u8>, Option<u32>)> {
    let good = encode(&iflist(), 77, 1, 0, 0);
    let mut v: Vec<(&'static str, Vec<u8>, Option<u32>)> = vec![
        ("1 byte", vec![1], None),
        ("10 bytes", good[..10].to_vec(), None),
        ("19 bytes", good[..19].to_vec(), None),
    ];
    // One byte over MAX_MSG: received whole, refused by length.
    let mut big = vec![0u8; MAX_MSG + 1];
    big[..HDR_LEN].copy_from_slice(&header(MAX_MSG + 1, MSG_VERSION, 0x41, 78));
    v.push(("MAX_MSG + 1 bytes", big, None));
    // Far over: the stack's buffer cannot hold it; it is cut and refused.
    let mut huge = vec![0xa5u8; MAX_MSG + 4096];
    huge[..HDR_LEN].copy_from_slice(&header(MAX_MSG + 4096, MSG_VERSION, 0x41, 79));
    v.push(("MAX_MSG + 4096 bytes", huge, None));
    // Garbage: a pattern with no sense in it.
    let garbage: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    v.push(("200 bytes of garbage", garbage, None));
    v.push(("all 0xff", vec![0xff; 64], None));
    v.push(("all zeroes", vec![0; 64], None));
    // A header of another version.
    let mut ver = good.clone();
    ver[4] = MSG_VERSION.wrapping_add(1);
    v.push(("wrong version", ver, Some(77)));
    let mut ver0 = good.clone();
    ver0[4] = 0;
    v.push(("version 0", ver0, Some(77)));
    // Lengths that lie, both ways.
    let mut lie = good.clone();
    lie[..4].copy_from_slice(&((good.len() + 1) as u32).to_le_bytes());
    v.push(("length says one more", lie, Some(77)));
    let mut lie2 = good.clone();
    lie2[..4].copy_from_slice(&(HDR_LEN as u32).to_le_bytes());
    v.push(("length says header only", lie2, Some(77)));
    let mut lie3 = good.clone();
    lie3[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    v.push(("length u32::MAX", lie3, Some(77)));
    // Valid headers over bodies that do not decode to the type they name.
    let mut body = header(HDR_LEN + 13, MSG_VERSION, 0x41, 80).to_vec();
    body.extend_from_slice(&[0xff; 13]);
    v.push(("IfList with a garbage body", body, Some(80)));
    let mut body = header(HDR_LEN + 5, MSG_VERSION, 0x45, 81).to_vec();
    body.extend_from_slice(&[3, 0x80, 0x80, 0x80, 0x80]);
    v.push(("AddrAdd with a truncated body", body, Some(81)));
    let mut trail = good.clone();
    trail.extend_from_slice(&[0, 0, 0]);
    let tl = trail.len() as u32;
    trail[..4].copy_from_slice(&tl.to_le_bytes());
    trail[8..12].copy_from_slice(&82u32.to_le_bytes());
    v.push(("IfList with trailing bytes", trail, Some(82)));
    // A string length far beyond the datagram.
    let mut body = header(HDR_LEN + 6, MSG_VERSION, 0x47, 83).to_vec();
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, b'x']);
    v.push(("SysctlGet with a huge string length", body, Some(83)));
    // An unknown message type with an empty body.
    v.push((
        "unknown type 0x3f",
        header(HDR_LEN, MSG_VERSION, 0x3f, 84).to_vec(),
        Some(84),
    ));
    v.push((
        "unknown type 0xfe",
        header(HDR_LEN, MSG_VERSION, 0xfe, 85).to_vec(),
        Some(85),
    ));
    v
}

#[test]
fn malformed_messages_get_einval_and_harm_nobody() {
    let st = StackProc::start(&[]);
    // A well-behaved client connected before the abuse starts, used during and after it.
    let mut bystander = st.open();
    let mut c = Raw::connect(&st);

    // Before the connection has a role.
    for (what, b, seq) in bad_datagrams() {
        c.expect_einval(&format!("{what}, before hello"), &b, seq);
    }
    // A request other than hello as the first message is refused too.
    let f = c.call(&iflist(), 5);
    assert_eq!(f.hdr.errno, libc::EINVAL, "{f:?}");

    // The same connection can still say hello and be answered.
    let f = c.call(&hello(), 6);
    assert_eq!(f.hdr.errno, 0, "{f:?}");
    let Msg::HelloOk(h) = f.msg else { panic!("hello: {f:?}") };
    assert_eq!(h.variant, "io-pkt-v4");
    assert_eq!(h.pid as i32, st.pid());

    // As a control connection.
    for (i, (what, b, seq)) in bad_datagrams().into_iter().enumerate() {
        c.expect_einval(&format!("{what}, after hello"), &b, seq);
        // Every few, check the stack answers properly on this connection and another.
        if i % 4 == 0 {
            let f = c.call(&iflist(), 1000 + i as u32);
            assert!(
                matches!(&f.msg, Msg::IfListOk(v) if v.len() == 1 && v[0].name == "lo0"),
                "{f:?}"
            );
            assert_eq!(bystander.if_list(None).unwrap().len(), 1);
        }
    }
    let f = c.call(&iflist(), 2000);
    assert!(
        matches!(&f.msg, Msg::IfListOk(v) if v.len() == 1 && v[0].name == "lo0"),
        "{f:?}"
    );
    // A reply is not a request.
    let f = c.call(&Msg::Done(pktbox_stack::msg::Empty), 2001);
    assert_eq!(f.hdr.errno, libc::EINVAL, "{f:?}");

    // Nothing was changed by any of it, and new clients are served.
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0\n");
    assert_eq!(st.ok("sysctl", &["-n", "net.inet.ip.ttl"]), "64\n");
    let mut fresh = st.open();
    assert_eq!(fresh.if_list(None).unwrap().len(), 1);
    assert_eq!(bystander.sysctl_get("net.inet.ip.ttl").unwrap().len(), 1);
    assert!(st.alive());
}

#[test]
fn a_capture_connection_takes_no_harm_from_malformed_requests() {
    let st = StackProc::start(&[]);
    let mut c = Raw::connect(&st);
    let f = c.call(&Msg::Hello(HelloReq { role: Role::Bpf }), 1);
    assert_eq!(f.hdr.errno, 0, "{f:?}");
    for (what, b, seq) in bad_datagrams() {
        c.expect_einval(&format!("{what}, on a capture"), &b, seq);
    }
    // Requests of other roles, and replies, are not capture requests.
    for (i, m) in [iflist(), Msg::Done(pktbox_stack::msg::Empty), hello()]
        .iter()
        .enumerate()
    {
        let f = c.call(m, 10 + i as u32);
        assert_eq!(f.hdr.errno, libc::EINVAL, "{f:?}");
    }
    // A program that fails the checks is refused with the reason.
    let bad = Msg::BpfSetFilter(vec![pktbox_stack::wire::bpf::BpfInsn::stmt(0x05, 7)]);
    let f = c.call(&bad, 20);
    assert_eq!(f.hdr.errno, libc::EINVAL, "{f:?}");
    assert!(
        matches!(&f.msg, Msg::ErrorText(t) if t.starts_with("invalid filter program")),
        "{f:?}"
    );
    // Still a working capture afterwards (root may attach; others are told no).
    let f = c.call(
        &Msg::BpfAttach(pktbox_stack::msg::BpfAttachReq {
            ifname: "lo0".into(),
            buflen: Some(u32::MAX),
        }),
        21,
    );
    if is_root() {
        assert!(
            matches!(f.msg, Msg::BpfAttachedOk(a) if a.buflen == pktbox_stack::net::bpf::dev::BPF_MAXBUFSIZE),
            "{f:?}"
        );
    } else {
        assert_eq!(f.hdr.errno, libc::EPERM, "{f:?}");
    }
    assert!(st.alive());
}

#[test]
fn a_client_that_vanishes_mid_stream_harms_nobody() {
    let st = StackProc::start(&[]);
    let mut other = st.open();
    for _ in 0..20 {
        let c = Raw::connect(&st);
        c.send(&encode(&hello(), 1, 1, 0, 0));
        // Requests whose answers nobody will read, then gone.
        for s in 0..50 {
            c.send(&encode(&iflist(), s, 1, 0, 0));
        }
        c.send(&[1, 2, 3]);
        drop(c);
    }
    assert_eq!(other.if_list(None).unwrap().len(), 1);
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0\n");
}

#[test]
fn an_empty_datagram_is_refused_not_taken_for_a_close() {
    let st = StackProc::start(&[]);
    let mut c = Raw::connect(&st);
    assert_eq!(c.call(&hello(), 1).hdr.errno, 0);
    c.send(&[]);
    // The stack answers EINVAL (a truncated message) and keeps the connection.
    c.c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (h, _) = c.recv();
    assert_eq!(h.errno, libc::EINVAL, "{h:?}");
    let f = c.call(&iflist(), 2);
    assert!(matches!(f.msg, Msg::IfListOk(_)), "{f:?}");
}

#[test]
fn a_subscriber_that_never_reads_does_not_stall_the_stack() {
    let st = StackProc::start(&[]);
    let mut lazy = st.open();
    lazy.subscribe().unwrap();
    let mut s = st.open();
    s.if_create("lo1").unwrap();
    // Far more routing messages than the lazy subscriber's socket buffer holds.
    for i in 0..3000 {
        s.if_set(pktbox_stack::msg::IfSetReq {
            name: "lo1".into(),
            set_flags: if i % 2 == 0 { pktbox_stack::msg::iff::UP } else { 0 },
            clear_flags: if i % 2 == 0 { 0 } else { pktbox_stack::msg::iff::UP },
            mtu: None,
            set_caps: 0,
            clear_caps: 0,
        })
        .unwrap();
    }
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0 lo1\n");
    // The lazy subscriber still gets the first messages, in order, and is still served.
    let first = lazy.next_broadcast(Some(PATIENCE)).unwrap();
    assert!(matches!(first, Some(Msg::IfAnnounce(_))), "{first:?}");
    assert_eq!(lazy.if_list(None).unwrap().len(), 2);
}
