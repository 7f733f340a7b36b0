//! BPF in the stack: captures on an interface, both directions, filters, promiscuous mode,
//! injection, a reader too slow to keep up, and programs that must be refused.

use std::time::{Duration, Instant};

use pktbox_stack::msg::BpfConf;
use pktbox_stack::socket::{Bpf, Error};
use pktbox_stack::wire::bpf::{records, BpfInsn};
use pktbox_stack::wire::bpf::{BPF_D_IN, BPF_D_INOUT, DLT_EN10MB, DLT_NULL};
use pktbox_tests::*;

fn conf(direction: u32) -> BpfConf {
    BpfConf {
        promisc: false,
        direction,
        immediate: true,
        timeout_ms: 300,
    }
}

/// Reads until `n` packets have come or `within` passed.
fn collect(b: &mut Bpf, n: usize, within: Duration) -> Vec<Vec<u8>> {
    let end = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < end {
        let buf = b.read().unwrap();
        got.extend(records(&buf).map(|(h, p)| {
            assert_eq!(h.caplen as usize, p.len());
            assert!(h.datalen >= h.caplen);
            p.to_vec()
        }));
    }
    got
}

fn icmp_type(frame: &[u8]) -> Option<u8> {
    (frame.get(12..14)? == [8, 0] && frame.get(23)? == &1).then(|| frame[34])
}

#[test]
fn a_capture_sees_both_directions_through_its_filter() {
    if !need_root("a_capture_sees_both_directions_through_its_filter") {
        return;
    }
    let (a, _b) = udp_pair(7);
    let mut all = Bpf::open_at(a.prefix()).unwrap();
    let att = all.attach("en0", Some(1 << 16)).unwrap();
    assert_eq!((att.dlt, att.buflen), (DLT_EN10MB, 1 << 16));
    all.set_filter(&compiled_filter(&bin(), "icmp")).unwrap();
    all.configure(conf(BPF_D_INOUT)).unwrap();
    let mut inbound = Bpf::open_at(a.prefix()).unwrap();
    inbound.attach("en0", None).unwrap();
    inbound
        .set_filter(&compiled_filter(&bin(), "icmp[icmptype] == icmp-echoreply"))
        .unwrap();
    inbound.configure(conf(BPF_D_IN)).unwrap();
    a.ok("ping", &["-c", "3", "-i", "0.2", "10.7.0.2"]);
    let got = collect(&mut all, 6, Duration::from_secs(5));
    let types: Vec<_> = got.iter().filter_map(|f| icmp_type(f)).collect();
    assert_eq!(types, [8, 0, 8, 0, 8, 0], "{got:x?}");
    let got = collect(&mut inbound, 3, Duration::from_secs(5));
    assert_eq!(got.iter().filter_map(|f| icmp_type(f)).collect::<Vec<_>>(), [0, 0, 0]);
    // ARP went by too, but did not pass "icmp": seen, not kept.
    let st = all.stats().unwrap();
    assert!(st.recv > st.capt && st.capt == 6 && st.drop == 0, "{st:?}");
    // The snap length is what the program returns.
    all.set_filter(&[BpfInsn::stmt(0x06, 20)]).unwrap();
    a.ok("ping", &["-c", "1", "10.7.0.2"]);
    let got = collect(&mut all, 1, Duration::from_secs(5));
    assert_eq!(got[0].len(), 20);
}

#[test]
fn promiscuous_mode_follows_the_captures_and_injection_reaches_the_wire() {
    if !need_root("promiscuous_mode_follows_the_captures_and_injection_reaches_the_wire") {
        return;
    }
    let (a, b) = udp_pair(7);
    let mac_a = a.mac("en0");
    let other = [0x02, 0, 0, 0, 0x77, 0x77];
    // Stack B writes frames onto the wire: one for A, one for a station that is not there.
    let mut inj = Bpf::open_at(b.prefix()).unwrap();
    inj.attach("en0", None).unwrap();
    let mut cap = Bpf::open_at(a.prefix()).unwrap();
    cap.attach("en0", None).unwrap();
    cap.set_filter(&compiled_filter(&bin(), "ether proto 0x88b5")).unwrap();
    cap.configure(conf(BPF_D_IN)).unwrap();
    let frame = |dst: [u8; 6], tag: u8| ether_frame(dst, b.mac("en0"), 0x88b5, &[tag; 46]);
    inj.write(&frame(mac_a, 1)).unwrap();
    inj.write(&frame(other, 2)).unwrap();
    let got = collect(&mut cap, 2, Duration::from_secs(2));
    assert_eq!(
        got.iter().map(|f| f[14]).collect::<Vec<_>>(),
        [1],
        "without promiscuous mode"
    );
    assert!(!a.ok("ifconfig", &["en0"]).contains("PROMISC"));
    cap.configure(BpfConf {
        promisc: true,
        ..conf(BPF_D_IN)
    })
    .unwrap();
    assert!(a.ok("ifconfig", &["en0"]).contains("PROMISC"));
    let noproto = a.counter("en0", "noproto");
    inj.write(&frame(mac_a, 3)).unwrap();
    inj.write(&frame(other, 4)).unwrap();
    let got = collect(&mut cap, 2, Duration::from_secs(5));
    assert_eq!(got.iter().map(|f| f[14]).collect::<Vec<_>>(), [3, 4], "promiscuous");
    // A promiscuous interface still takes in only what is its own: the frame for A reaches
    // ether_input's dispatch (an unknown type: noproto), the other one only the capture.
    assert_eq!(a.counter("en0", "noproto"), noproto + 1);
    // The capture's end gives promiscuous mode back, and a second capture that holds it
    // keeps it on until it ends too.
    let mut second = Bpf::open_at(a.prefix()).unwrap();
    second.attach("en0", None).unwrap();
    second
        .configure(BpfConf {
            promisc: true,
            ..conf(BPF_D_IN)
        })
        .unwrap();
    drop(cap);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        a.ok("ifconfig", &["en0"]).contains("PROMISC"),
        "the second capture still holds it"
    );
    drop(second);
    wait_for("PROMISC to go", || {
        Some(()).filter(|_| !a.ok("ifconfig", &["en0"]).contains("PROMISC"))
    });
    // Bad frames are refused with the reason, and the capture carries on.
    let e = inj.write(&[0u8; 5]).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    let e = inj.write(&vec![0u8; 3000]).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EMSGSIZE), "{e}");
    inj.write(&frame(mac_a, 5)).unwrap();
}

#[test]
fn a_slow_reader_loses_packets_and_the_stack_does_not_wait() {
    if !need_root("a_slow_reader_loses_packets_and_the_stack_does_not_wait") {
        return;
    }
    let (a, _b) = udp_pair(7);
    // Resolve the peer first: otherwise the burst below waits for ARP in a hold queue of
    // 16 and, on a loaded machine, most of it is dropped there, before the tap.
    a.ok("ping", &["-c", "1", "10.7.0.2"]);
    let mut cap = Bpf::open_at(a.prefix()).unwrap();
    // Room for a few echo requests only, and nobody reads.
    let att = cap.attach("en0", Some(1024)).unwrap();
    assert_eq!(att.buflen, 1024);
    cap.configure(BpfConf {
        immediate: false,
        ..conf(BPF_D_INOUT)
    })
    .unwrap();
    // 200 requests as fast as they go (the preload), then one a second until -w ends it.
    // (The udp wire between the stacks may lose some of the burst: the kernel's socket
    // buffer is the limit there, not the capture.)
    let o = a.run("ping", &["-q", "-c", "1", "-l", "200", "-w", "2", "10.7.0.2"]);
    let received: u64 = o
        .stdout
        .split(" packets received")
        .next()
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(received > 0, "{o:?}");
    let st = cap.stats().unwrap();
    // Every request went out past the tap, every reply came in past it.
    assert!(st.recv >= 200 + received, "{st:?} {o:?}");
    assert!(st.drop > 0 && st.capt + st.drop == st.recv, "{st:?}");
    // The stack did not wait for the reader: it still answers at once.
    a.ok("ping", &["-c", "1", "10.7.0.2"]);
    // What was kept is whole records, and reading frees room again.
    let n = records(&cap.read().unwrap()).count();
    assert!(n > 0);
    cap.flush().unwrap();
    assert_eq!(cap.stats().unwrap().recv, 0);
}

#[test]
fn loopback_captures_carry_the_address_family() {
    if !need_root("loopback_captures_carry_the_address_family") {
        return;
    }
    let a = StackProc::start(&[]);
    let mut cap = Bpf::open_at(a.prefix()).unwrap();
    assert_eq!(cap.attach("lo0", None).unwrap().dlt, DLT_NULL);
    cap.configure(conf(BPF_D_INOUT)).unwrap();
    a.ok("ping", &["-c", "1", "127.0.0.1"]);
    let got = collect(&mut cap, 2, Duration::from_secs(5));
    assert_eq!(got.len(), 2);
    for f in &got {
        assert_eq!(u32::from_ne_bytes([f[0], f[1], f[2], f[3]]), libc::AF_INET as u32);
        assert_eq!(f[4] >> 4, 4);
    }
    // A datagram written to lo0 comes back in: an echo request to ourselves is answered.
    let mut echo = vec![0u8; 4];
    echo.copy_from_slice(&(libc::AF_INET as u32).to_ne_bytes());
    let mut ip = [
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 8, 0, 0, 0, 0x12, 0x34, 0, 1,
    ];
    let s = cksum(&ip[..20]);
    ip[10..12].copy_from_slice(&s.to_be_bytes());
    let s = cksum(&ip[20..]);
    ip[22..24].copy_from_slice(&s.to_be_bytes());
    echo.extend_from_slice(&ip);
    cap.write(&echo).unwrap();
    let got = collect(&mut cap, 2, Duration::from_secs(5));
    assert_eq!(got.iter().map(|f| f[24]).collect::<Vec<_>>(), [8, 0], "{got:x?}");
}

fn cksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[test]
fn hostile_and_random_programs_are_refused_or_run_safely() {
    if !need_root("hostile_and_random_programs_are_refused_or_run_safely") {
        return;
    }
    let (a, _b) = udp_pair(7);
    let mut cap = Bpf::open_at(a.prefix()).unwrap();
    cap.attach("en0", None).unwrap();
    let ret = |k| BpfInsn::stmt(0x06, k);
    let hostile: [(&str, Vec<BpfInsn>); 5] = [
        ("no return", vec![BpfInsn::stmt(0x00, 0)]),
        ("backward jump", vec![BpfInsn::stmt(0x05, u32::MAX), ret(1)]),
        ("jump out of the program", vec![BpfInsn::jump(0x15, 0, 5, 0), ret(1)]),
        ("division by zero", vec![BpfInsn::stmt(0x34, 0), ret(1)]),
        ("scratch memory out of range", vec![BpfInsn::stmt(0x02, 16), ret(1)]),
    ];
    for (what, p) in hostile {
        match cap.set_filter(&p) {
            Err(Error::Errno { errno, text }) => {
                assert_eq!(errno, libc::EINVAL, "{what}");
                assert!(text.unwrap_or_default().starts_with("invalid filter program"), "{what}");
            }
            r => panic!("{what}: {r:?}"),
        }
    }
    // Random programs: each is refused or runs on live traffic; the stack lives on.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let codes: [u16; 16] = [
        0x00, 0x28, 0x30, 0x20, 0x40, 0x48, 0x50, 0xb1, 0x04, 0x14, 0x34, 0x54, 0x15, 0x25, 0x45, 0x87,
    ];
    let mut accepted = 0;
    cap.configure(BpfConf {
        timeout_ms: 50,
        ..conf(BPF_D_INOUT)
    })
    .unwrap();
    for i in 0..400 {
        let len = 1 + (next() % 8) as usize;
        let mut p: Vec<BpfInsn> = (0..len)
            .map(|_| {
                let r = next();
                let k = match r % 4 {
                    0 => (r >> 8) as u32 % 64,
                    1 => (r >> 8) as u32,
                    _ => (r >> 8) as u32 % 2000,
                };
                BpfInsn::jump(
                    codes[(r >> 40) as usize % 16],
                    k,
                    (r >> 48) as u8 % 4,
                    (r >> 56) as u8 % 4,
                )
            })
            .collect();
        if i % 2 == 0 {
            p.push(BpfInsn::stmt(0x16, 0));
        }
        if cap.set_filter(&p).is_ok() {
            accepted += 1;
            if accepted % 20 == 0 {
                a.ok("ping", &["-c", "1", "10.7.0.2"]);
                let _ = cap.read().unwrap();
            }
        }
    }
    assert!(accepted > 20, "{accepted} accepted");
    assert!(a.alive());
    a.ok("ping", &["-c", "1", "10.7.0.2"]);
}

#[test]
fn captures_need_root_and_an_interface() {
    let a = StackProc::start(&[]);
    let mut cap = Bpf::open_at(a.prefix()).unwrap();
    let e = cap.read().unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENXIO), "{e}");
    if is_root() {
        let e = cap.attach("en9", None).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENXIO), "{e}");
        let e = cap.configure(conf(7)).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    }
}
