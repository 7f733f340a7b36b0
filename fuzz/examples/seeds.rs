//! Writes the seed corpora, fuzz/corpus/TARGET/: real frames, fragments, channel messages,
//! BPF programs, pcap files and filter expressions, each one file.
//!
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus

use std::net::Ipv4Addr;
use std::path::Path;

use pktbox_fuzz::compile::{compile, Options};
use pktbox_fuzz::pcap::Writer;
use pktbox_stack::fuzzing::{arp_frame, ip_frame, tcp_frame, LISTEN_PORT, MAC, ME, PEER, PEER_MAC, PEER_PORT};
use pktbox_stack::msg::*;

fn write(dir: &Path, target: &str, name: &str, b: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus directory");
    std::fs::write(d.join(name), b).expect("seed written");
}

/// One record of the net target's script: a whole frame, with the fix-up bits in `op`.
fn frame_op(op: u8, f: &[u8]) -> Vec<u8> {
    let mut v = vec![op];
    v.extend_from_slice(&(f.len() as u16).to_be_bytes());
    v.extend_from_slice(f);
    v
}

fn icmp_echo(seq: u16, n: usize) -> Vec<u8> {
    let mut m = vec![0u8; 8 + n];
    m[0] = 8;
    m[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in m[8..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let c = pktbox_stack::wire::checksum::cksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    let c = pktbox_stack::inet::udp::udp_cksum(PEER.into(), ME.into(), &u);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

fn net(dir: &Path) {
    let ts = [1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 1];
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::with_capacity(32);
    // Frames as they are (op 0: no fix-ups).
    seeds.push(("arp-request", frame_op(0, &arp_frame(1, PEER, ME, PEER_MAC))));
    seeds.push((
        "arp-reply",
        frame_op(0, &arp_frame(2, Ipv4Addr::new(10, 0, 0, 3), ME, [2, 0, 0, 0, 0, 3])),
    ));
    seeds.push(("arp-dup", frame_op(0, &arp_frame(1, ME, ME, [2, 9, 9, 9, 9, 9]))));
    seeds.push(("echo", frame_op(0, &ip_frame(PEER, ME, 1, 7, 0, &icmp_echo(1, 56)))));
    seeds.push((
        "echo-bcast",
        frame_op(
            0,
            &ip_frame(PEER, Ipv4Addr::new(10, 0, 0, 255), 1, 7, 0, &icmp_echo(2, 8)),
        ),
    ));
    seeds.push((
        "udp-53",
        frame_op(0, &ip_frame(PEER, ME, 17, 3, 0, &udp(5353, 53, b"query"))),
    ));
    seeds.push((
        "udp-7",
        frame_op(0, &ip_frame(PEER, ME, 17, 4, 0, &udp(9, 7, &[1; 100]))),
    ));
    seeds.push((
        "udp-noport",
        frame_op(0, &ip_frame(PEER, ME, 17, 5, 0, &udp(9, 9999, &[]))),
    ));
    seeds.push((
        "forward",
        frame_op(
            0,
            &ip_frame(PEER, Ipv4Addr::new(192, 0, 2, 1), 17, 5, 0, &udp(9, 9, &[0; 30])),
        ),
    ));
    seeds.push((
        "syn-22",
        frame_op(
            0,
            &tcp_frame(PEER, 5000, ME, 22, 77, 0, 0x02, 8192, &[2, 4, 5, 0xb4, 4, 2, 1, 1], &[]),
        ),
    ));
    seeds.push((
        "syn-closed",
        frame_op(0, &tcp_frame(PEER, 5000, ME, 23, 77, 0, 0x02, 8192, &[], &[])),
    ));
    seeds.push((
        "rst-closed",
        frame_op(0, &tcp_frame(PEER, 5000, ME, 23, 77, 5, 0x14, 0, &[], &[])),
    ));
    // Fragments of an echo request.
    let big = icmp_echo(9, 2000);
    let (a, b) = big.split_at(1480);
    let mut s = frame_op(0, &ip_frame(PEER, ME, 1, 9, 185, b));
    s.extend(frame_op(0, &ip_frame(PEER, ME, 1, 9, 0x2000, a)));
    seeds.push(("echo-fragments", s));
    // Segments on the established connection (op 0x38: rebase seq/ack, mend both checksums).
    let on_conn = |flags: u8, seq: u32, ack: u32, opts: &[u8], data: &[u8]| {
        frame_op(
            0x38,
            &tcp_frame(PEER, PEER_PORT, ME, LISTEN_PORT, seq, ack, flags, 512, opts, data),
        )
    };
    seeds.push(("conn-data", on_conn(0x18, 0, 0, &ts, b"GET / HTTP/1.0\r\n\r\n")));
    seeds.push(("conn-ooo", {
        let mut v = on_conn(0x18, 1000, 0, &ts, &[b'x'; 500]);
        v.extend(on_conn(0x18, 0, 0, &ts, &[b'y'; 1000]));
        v
    }));
    seeds.push(("conn-sack", {
        let mut v = vec![4, 0, 0x04, 0x00]; // send 4096 bytes
        let sack = [1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        v.extend(on_conn(0x10, 0, 0, &sack, &[]));
        v.extend(on_conn(0x10, 0, 1000, &ts, &[]));
        v.push(6);
        v
    }));
    seeds.push(("conn-fin", on_conn(0x11, 0, 0, &ts, &[])));
    seeds.push(("conn-rst", on_conn(0x04, 0, 0, &[], &[])));
    seeds.push(("conn-oldack", on_conn(0x10, 0x8000_0010, 0x8000_0010, &ts, &[])));
    seeds.push(("conn-zero-window", {
        let mut v = vec![4, 0, 0x10, 0x00];
        v.extend(frame_op(
            0x38,
            &tcp_frame(PEER, PEER_PORT, ME, LISTEN_PORT, 0, 0, 0x10, 0, &[], &[]),
        ));
        v.push(6);
        v.extend([5, 0, 1]);
        v
    }));
    seeds.push(("user-close", vec![5, 0, 2, 5, 1, 3, 6]));
    seeds.push(("udp-out", vec![7 | 0x80, 0x1f, 0x40, 0, 100, 7, 0, 53, 0, 10]));
    seeds.push(("synack-to-connect", {
        // Our SYN_SENT connection is the second; the fuzzer's seq byte 0 selects it.
        let mut f = tcp_frame(PEER, 7000, ME, 1, 500, 1, 0x12, 65535, &[2, 4, 5, 0xb4], &[]);
        f[14 + 20] = 1; // sport's high byte picks connection 1 (rewritten by the fix-up)
        frame_op(0x38, &f)
    }));
    // ICMP errors quoting what we sent on the connection (fix-up 0x18 mends the checksums).
    let quote = {
        let mut q = vec![0u8; 20];
        pktbox_stack::wire::ipv4::write_header(&mut q, 0, 1500, 1, 0x4000, 64, 6, ME, PEER);
        q.extend_from_slice(&LISTEN_PORT.to_be_bytes());
        q.extend_from_slice(&PEER_PORT.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 1]);
        q
    };
    for (name, t, code, rest) in [
        ("icmp-needfrag", 3u8, 4u8, [0u8, 0, 0x04, 0x00]),
        ("icmp-port-unreach", 3, 3, [0; 4]),
        ("icmp-timxceed", 11, 0, [0; 4]),
        ("icmp-paramprob", 12, 0, [20, 0, 0, 0]),
        ("icmp-redirect", 5, 1, [10, 0, 0, 3]),
        ("icmp-sourcequench", 4, 0, [0; 4]),
    ] {
        let mut m = vec![t, code, 0, 0];
        m.extend_from_slice(&rest);
        m.extend_from_slice(&quote);
        let c = pktbox_stack::wire::checksum::cksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        seeds.push((name, frame_op(0, &ip_frame(PEER, ME, 1, 11, 0, &m))));
    }
    let mut ts = vec![13u8, 0, 0, 0, 0, 1, 0, 1];
    ts.extend_from_slice(&[0; 12]);
    let c = pktbox_stack::wire::checksum::cksum(&ts);
    ts[2..4].copy_from_slice(&c.to_be_bytes());
    seeds.push(("icmp-tstamp", frame_op(0, &ip_frame(PEER, ME, 1, 12, 0, &ts))));
    // IP options: record route, timestamp, loose source route (0x10 mends the header).
    for (name, opts) in [
        ("ipopt-rr", vec![7u8, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("ipopt-ts", vec![68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("ipopt-lsrr", vec![131, 7, 4, 10, 0, 0, 9, 0]),
        ("ipopt-eol-nop", vec![1, 1, 1, 0]),
    ] {
        let mut f = ip_frame(PEER, ME, 1, 13, 0, &icmp_echo(3, 16));
        let hlen = 20 + opts.len();
        f[14] = 0x40 | (hlen / 4) as u8;
        let tail = f.split_off(34);
        f.extend_from_slice(&opts);
        f.extend_from_slice(&tail);
        seeds.push((name, frame_op(0x10, &f)));
    }
    seeds.push(("ttl-expired-forward", {
        let mut f = ip_frame(PEER, Ipv4Addr::new(192, 0, 2, 7), 17, 14, 0, &udp(1, 2, &[0; 8]));
        f[14 + 8] = 1;
        frame_op(0x10, &f)
    }));
    seeds.push(("timers", vec![6, 6, 6]));
    for (name, body) in seeds {
        let mut v = vec![0u8];
        v.extend(body);
        write(dir, "net", name, &v);
    }
    // The same with forwarding on.
    let mut v = vec![1u8];
    v.extend(frame_op(
        0,
        &ip_frame(PEER, Ipv4Addr::new(192, 0, 2, 1), 17, 5, 0, &udp(9, 9, &[0; 30])),
    ));
    write(dir, "net", "forward-on", &v);
    let mut v = vec![1u8];
    v.extend(frame_op(
        0,
        &ip_frame(PEER, Ipv4Addr::new(10, 0, 0, 9), 6, 5, 0x4000, &[0; 1400]),
    ));
    write(dir, "net", "forward-df", &v);
    let _ = MAC;
}

fn reass(dir: &Path) {
    // flags (bit 0 more, 1 odd length, 2 udp, 3 train, 4/5-7 options), id, offset/8,
    // length/8 (or train length), extra.
    let rec = |flags: u8, id: u8, off8: u16, len8: u8, extra: u8| {
        let mut v = vec![flags, id];
        v.extend_from_slice(&off8.to_be_bytes());
        v.extend([len8, extra]);
        v
    };
    let seeds: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "in-order",
            vec![rec(1, 0, 0, 10, 0), rec(1, 0, 10, 10, 0), rec(2, 0, 20, 3, 5)],
        ),
        (
            "reversed",
            vec![rec(0, 1, 20, 3, 0), rec(1, 1, 10, 10, 0), rec(1, 1, 0, 10, 0)],
        ),
        (
            "overlap",
            vec![rec(1, 0, 0, 10, 0), rec(1, 0, 5, 10, 0), rec(0, 0, 15, 2, 0)],
        ),
        ("hole", vec![rec(1, 0, 0, 10, 0), rec(0, 0, 20, 1, 0)]),
        ("twice-last", vec![rec(0, 0, 8, 1, 0), rec(0, 0, 9, 1, 0)]),
        ("options-first", vec![rec(0x31, 2, 0, 20, 0), rec(0, 2, 20, 20, 0)]),
        ("options-later", vec![rec(1, 3, 0, 20, 0), rec(0xf0, 3, 20, 20, 0)]),
        ("near-64k", vec![rec(1, 0, 0, 255, 0), rec(0, 0, 8180, 1, 0)]),
        (
            "big",
            (0..33)
                .map(|i| rec(if i < 32 { 1 } else { 0 }, 1, i * 250, 250, 0))
                .collect(),
        ),
        // The same as a train of 32 fragments and the last one.
        ("largest-train", vec![rec(8, 2, 0, 32, 0), rec(2, 2, 32 * 255, 29, 3)]),
        // The largest datagram there is: 65515 bytes after a 20-byte header, in 33 pieces.
        (
            "largest",
            (0..33)
                .map(|i| {
                    if i < 32 {
                        rec(1, 2, i * 255, 255, 0)
                    } else {
                        rec(2, 2, 32 * 255, 29, 3)
                    }
                })
                .collect(),
        ),
        (
            "two-datagrams",
            vec![
                rec(1, 0, 0, 4, 0),
                rec(5, 1, 0, 4, 0),
                rec(4, 1, 4, 4, 0),
                rec(0, 0, 4, 4, 0),
            ],
        ),
    ];
    for (name, recs) in seeds {
        write(dir, "reass", name, &recs.concat());
    }
}

fn channel(dir: &Path) {
    use std::net::{IpAddr, SocketAddrV4};
    let msgs: Vec<(&str, Msg)> = vec![
        ("iflist", Msg::IfList(IfListReq { name: None })),
        (
            "iflist-en0",
            Msg::IfList(IfListReq {
                name: Some("en0".into()),
            }),
        ),
        ("ifcreate", Msg::IfCreate(IfNameReq { name: "lo1".into() })),
        ("ifdestroy", Msg::IfDestroy(IfNameReq { name: "lo1".into() })),
        (
            "ifset",
            Msg::IfSet(IfSetReq {
                name: "en0".into(),
                set_flags: 1,
                clear_flags: 0,
                mtu: Some(9000),
                set_caps: 0,
                clear_caps: 0,
            }),
        ),
        (
            "addradd",
            Msg::AddrAdd(AddrReq {
                name: "en0".into(),
                addr: Some(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1))),
                netmask: Some(IpAddr::V4(Ipv4Addr::new(255, 255, 0, 0))),
                brd: None,
            }),
        ),
        (
            "addrdel",
            Msg::AddrDel(AddrReq {
                name: "en0".into(),
                addr: None,
                netmask: None,
                brd: None,
            }),
        ),
        (
            "sysctl-get",
            Msg::SysctlGet(SysctlGetReq {
                name: "net.inet".into(),
            }),
        ),
        (
            "sysctl-set",
            Msg::SysctlSet(SysctlSetReq {
                name: "net.inet.ip.forwarding".into(),
                value: "1".into(),
            }),
        ),
        (
            "sysctl-set-str",
            Msg::SysctlSet(SysctlSetReq {
                name: "net.inet.tcp.congctl.selected".into(),
                value: "reno".into(),
            }),
        ),
        ("cloners", Msg::Cloners(Empty)),
        ("rtdump", Msg::RtDump(Empty)),
        ("rtflush", Msg::RtFlush(FlushReq { all: true, ..Default::default() })),
        ("stats", Msg::StatsGet(Empty)),
        ("arpdump", Msg::ArpDump(Empty)),
        ("nddump", Msg::NdDump(Empty)),
        ("ndprefixes", Msg::NdPrefixes(Empty)),
        ("ndrouters", Msg::NdRouters(Empty)),
        ("ndifinfo", Msg::NdIfInfoGet(IfNameReq { name: "en0".into() })),
        (
            "nddelete",
            Msg::NdDelete(NdDelReq {
                addr: "fe80::1".parse().expect("literal"),
                ifname: Some("en0".into()),
            }),
        ),
        (
            "ndset",
            Msg::NdSet(NdSetReq {
                addr: "2001:db8::9".parse().expect("literal"),
                ifname: None,
                lladdr: [2, 0, 0, 0, 0, 9],
                temp: false,
            }),
        ),
        ("socklist", Msg::SockList(Empty)),
        (
            "rtadd",
            Msg::RtAdd(RtMsg {
                dst: Some(Ipv4Addr::new(192, 168, 0, 0).into()),
                gateway: Some(Ipv4Addr::new(10, 0, 0, 2).into()),
                prefixlen: Some(16),
                ..Default::default()
            }),
        ),
        (
            "rtadd6-scoped",
            Msg::RtAdd(RtMsg {
                dst: Some("2001:db8::".parse::<std::net::IpAddr>().expect("literal")),
                gateway: Some("fe80::1".parse::<std::net::IpAddr>().expect("literal")),
                gateway_scope: 2,
                prefixlen: Some(64),
                rtm_flags: 0x2,
                rtm_inits: 0x3,
                rmx_locks: 0x1,
                mtu: 1280,
                ..Default::default()
            }),
        ),
        (
            "rtadd-host-ifp",
            Msg::RtAdd(RtMsg {
                dst: Some(Ipv4Addr::new(192, 168, 9, 9).into()),
                ifp: Some("en0".into()),
                mtu: 1280,
                ..Default::default()
            }),
        ),
        (
            "rtget",
            Msg::RtGet(RtMsg {
                dst: Some(Ipv4Addr::new(10, 0, 0, 2).into()),
                ..Default::default()
            }),
        ),
        (
            "rtchange",
            Msg::RtChange(RtMsg {
                dst: Some(Ipv4Addr::new(10, 0, 0, 0).into()),
                prefixlen: Some(24),
                mtu: 1400,
                ..Default::default()
            }),
        ),
        (
            "rtdelete",
            Msg::RtDelete(RtMsg {
                dst: Some(Ipv4Addr::new(10, 0, 0, 0).into()),
                prefixlen: Some(24),
                ..Default::default()
            }),
        ),
        ("hello", Msg::Hello(HelloReq { role: Role::Control })),
        (
            "socket",
            Msg::Socket(SocketReq {
                domain: 2,
                stype: 1,
                protocol: 0,
            }),
        ),
        (
            "bind",
            Msg::SockBind(SockAddrReq {
                addr: SocketAddrV4::new(ME, 80).into(),
                wait: Wait::default(),
            }),
        ),
        ("setopt", Msg::SockSetOpt(SockOpt::Linger(Some(0)))),
        (
            "send",
            Msg::SockSend(SendReq {
                to: Some(SocketAddrV4::new(PEER, 53).into()),
                data: vec![1, 2, 3],
                wait: Wait {
                    nonblock: true,
                    timeout_ms: Some(10),
                },
            }),
        ),
        (
            "recv",
            Msg::SockRecv(RecvReq {
                max: 100,
                peek: true,
                wait: Wait::default(),
            }),
        ),
        (
            "bpf-attach",
            Msg::BpfAttach(BpfAttachReq {
                ifname: "en0".into(),
                buflen: Some(4096),
            }),
        ),
        (
            "bpf-setf",
            Msg::BpfSetFilter(compile("tcp port 80", &Options::default()).unwrap_or_default()),
        ),
        (
            "bpf-conf",
            Msg::BpfConfigure(BpfConf {
                promisc: true,
                direction: 1,
                immediate: true,
                timeout_ms: 100,
            }),
        ),
        ("bpf-write", Msg::BpfWrite(arp_frame(1, ME, PEER, MAC))),
        ("bpf-stats", Msg::BpfStats(Empty)),
        ("error", Msg::ErrorText("no such interface".into())),
        ("stats-ok", Msg::StatsOk(Stats::default())),
    ];
    let one = |m: &Msg, seq: u32| {
        let e = encode(m, seq, 1, 0, 0);
        let mut v = (e.len() as u16).to_be_bytes().to_vec();
        v.extend(e);
        v
    };
    for (name, m) in &msgs {
        let mut v = vec![0u8];
        v.extend(one(m, 1));
        write(dir, "channel", name, &v);
    }
    // A session: capture set up, then a frame written and the counters read; and a
    // non-root client trying to change things.
    let mut v = vec![0u8];
    for (i, m) in msgs.iter().filter(|(n, _)| n.starts_with("bpf")).enumerate() {
        v.extend(one(&m.1, i as u32));
    }
    write(dir, "channel", "bpf-session", &v);
    let mut v = vec![1u8];
    for (i, m) in msgs.iter().take(21).enumerate() {
        v.extend(one(&m.1, i as u32));
    }
    write(dir, "channel", "nonroot-session", &v);
}

fn filters() -> Vec<&'static str> {
    vec![
        "",
        "tcp",
        "udp port 53",
        "host 10.0.0.1",
        "src net 192.168.0.0/16 and not dst host 10.0.0.2",
        "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
        "icmp[icmptype] == icmp-echo",
        "ip[2:2] > 576",
        "arp or rarp",
        "ether host 02:00:00:00:00:01",
        "ether broadcast or ether multicast",
        "portrange 1000-2000",
        "ip proto 47",
        "len <= 100",
        "vlan and tcp",
        "ip6 and tcp port 443",
        "tcp port http and (tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420)",
        "ip broadcast",
        "not (port 22 or port 23) and ip[6:2] & 0x1fff = 0",
        "dst port 80 or src port 8080 or udp dst port 67",
        "ip[0] & 0xf != 5",
        "udp and ip[8] < 2",
        "gateway 10.0.0.1",
        "host localhost or dst host multi",
        "gateway gw",
        "ether proto \\ip and ip proto \\udp",
        "udp port domain or tcp port ssh",
        "ip6 protochain 6",
        "icmp6 and ip6[40] = 128",
    ]
}

fn filter(dir: &Path) {
    for (i, f) in filters().iter().enumerate() {
        let mut v = vec![(i % 16) as u8];
        v.extend_from_slice(f.as_bytes());
        v.push(0);
        v.extend(tcp_frame(PEER, 5000, ME, 80, 1, 0, 0x02, 100, &[], b"GET ")[..].iter());
        write(dir, "filter", &format!("f{i:02}"), &v);
    }
}

fn bpf(dir: &Path) {
    let pkt = tcp_frame(PEER, 5000, ME, 80, 1, 0, 0x02, 100, &[], b"GET ");
    let mut n = 0;
    for (i, f) in filters().iter().enumerate() {
        for optimize in [true, false] {
            let opts = Options {
                optimize,
                snaplen: 96,
                ..Options::default()
            };
            let Ok(prog) = compile(f, &opts) else { continue };
            if prog.len() > 255 {
                continue;
            }
            let mut v = vec![prog.len() as u8];
            for ins in &prog {
                v.extend_from_slice(&ins.code.to_le_bytes());
                v.extend([ins.jt, ins.jf]);
                v.extend_from_slice(&ins.k.to_le_bytes());
            }
            v.extend(&pkt);
            write(dir, "bpf", &format!("p{i:02}{}", if optimize { "o" } else { "" }), &v);
            n += 1;
        }
    }
    // Scratch memory, the index register, division, and ALU ops the compiler rarely uses.
    let raw: Vec<(u16, u8, u8, u32)> = vec![
        (0x00, 0, 0, 7),    // ld #7
        (0x02, 0, 0, 3),    // st M[3]
        (0x61, 0, 0, 3),    // ldx M[3]
        (0x3c, 0, 0, 0),    // div x
        (0x94, 0, 0, 5),    // mod #5
        (0xa4, 0, 0, 0xff), // xor #255
        (0x64, 0, 0, 2),    // lsh #2
        (0x84, 0, 0, 0),    // neg
        (0x07, 0, 0, 0),    // tax
        (0x50, 0, 0, 14),   // ldb [x+14]
        (0xb1, 0, 0, 14),   // ldxb 4*([14]&0xf)
        (0x48, 0, 0, 16),   // ldh [x+16]
        (0x80, 0, 0, 0),    // ld len
        (0x87, 0, 0, 0),    // txa
        (0x16, 0, 0, 0),    // ret a
    ];
    let mut v = vec![raw.len() as u8];
    for (c, jt, jf, k) in raw {
        v.extend_from_slice(&c.to_le_bytes());
        v.extend([jt, jf]);
        v.extend_from_slice(&k.to_le_bytes());
    }
    v.extend(&pkt);
    write(dir, "bpf", "alu", &v);
    eprintln!("{n} compiled programs");
}

fn pcap(dir: &Path) {
    let frames = [
        arp_frame(1, PEER, ME, PEER_MAC),
        ip_frame(PEER, ME, 1, 7, 0, &icmp_echo(1, 56)),
        tcp_frame(PEER, 5000, ME, 80, 1, 0, 0x02, 100, &[2, 4, 5, 0xb4], &[]),
        ip_frame(PEER, ME, 17, 3, 0, &udp(5353, 53, b"query")),
    ];
    for (name, snap, lt) in [
        ("en10mb", 262144u32, 1u32),
        ("snap96", 96, 1),
        ("null", 65535, 0),
        ("raw", 65535, 101),
    ] {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, snap, lt).expect("pcap header");
        for (i, f) in frames.iter().enumerate() {
            let cap = &f[..f.len().min(snap as usize)];
            w.packet(1_700_000_000 + i as u32, i as u32 * 1000, cap, f.len() as u32)
                .expect("record");
        }
        w.flush().expect("flush");
        write(dir, "pcap", name, &out);
    }
    // Big-endian and nanosecond variants of the same file, made by rewriting the header.
    let mut le = Vec::new();
    let mut w = Writer::new(&mut le, 65535, 1).expect("pcap header");
    w.packet(1, 2, &frames[1], frames[1].len() as u32).expect("record");
    w.flush().expect("flush");
    let mut ns = le.clone();
    ns[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    write(dir, "pcap", "nanosecond", &ns);
    let mut be = Vec::new();
    be.extend_from_slice(&0xa1b2_c3d4u32.to_be_bytes());
    be.extend_from_slice(&2u16.to_be_bytes());
    be.extend_from_slice(&4u16.to_be_bytes());
    be.extend_from_slice(&[0; 8]);
    be.extend_from_slice(&65535u32.to_be_bytes());
    be.extend_from_slice(&1u32.to_be_bytes());
    for x in [1u32, 2, frames[1].len() as u32, frames[1].len() as u32] {
        be.extend_from_slice(&x.to_be_bytes());
    }
    be.extend_from_slice(&frames[1]);
    write(dir, "pcap", "big-endian", &be);
    write(dir, "pcap", "truncated", &le[..le.len() - 10]);
    write(dir, "pcap", "header-only", &le[..24]);
}

fn iopkt(dir: &Path) {
    // Driver selector (0 tap, 1 udp, 2 hub, 3 raw; top bits pick the stack variant), the
    // -d option word, NUL, the -p tcpip option word.
    let seeds: [(&str, u8, &str, &str); 12] = [
        ("tap", 0, "tap=tap0,host=10.0.0.2/24,offload=all,mtu=1500", "forward"),
        (
            "tap-mac",
            0x40,
            "name=en0,mac=020000000001,priority=21,promiscuous",
            "threads_min=2,threads_max=4",
        ),
        (
            "udp",
            1,
            "local=127.0.0.1:7000,remote=127.0.0.1:7001,loss=1.5%,delay=10ms,jitter=2",
            "prefix=/run/a",
        ),
        (
            "hub",
            2,
            "path=/tmp/hub,mac=02:00:00:00:00:09,dup=0.5,reorder=3,rate=100,seed=42",
            "rx_prio=21",
        ),
        ("raw", 3, "if=eth0,verbose=2", "ipsec"),
        ("v6", 0x80, "tap=tap1,mtu=9000", "forward6,fastforward"),
        ("bad-mtu", 0, "mtu=20", ""),
        ("hex", 1, "mtu=0x5dc,priority=0x10", "threads_max=0x10"),
        ("empty-item", 2, "a,,b", "threads_min=9,threads_max=3"),
        ("bad-mac", 0, "mac=01:00:5e:00:00:01", "prefix=relative"),
        ("unknown", 7, "frobnicate=1", "frobnicate,pkt_cache=2"),
        ("impair-units", 1, "loss=100%,delay=60000ms,jitter=0MS,rate=1e3", ""),
    ];
    for (name, sel, d, p) in seeds {
        let mut v = vec![sel];
        v.extend_from_slice(d.as_bytes());
        v.push(0);
        v.extend_from_slice(p.as_bytes());
        write(dir, "iopkt", name, &v);
    }
    // A virtio-net header (needs checksum, TSO4 of 1448) and a frame length.
    let mut v = vec![200u8, 1, 1, 0, 0, 0xa8, 5, 34, 0, 16, 0, 0, 0];
    v.extend_from_slice(b"name=en1");
    write(dir, "iopkt", "vnet-tso", &v);
}

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into());
    let dir = Path::new(&dir);
    net(dir);
    reass(dir);
    channel(dir);
    filter(dir);
    bpf(dir);
    pcap(dir);
    iopkt(dir);
    ip6(dir);
}

/// Scripts for the ip6 target: each record is op, selector, a 16-bit word, then the op's
/// own bytes (see `pktbox_stack::fuzzing::ip6`).
fn ip6(dir: &Path) {
    // op 0x81: an ICMPv6 of type given next, hop limit 255; selector 0x00: from the peer's
    // link-local to ours.
    let echo = |sel: u8, n: u8| {
        let mut v = vec![0x81, sel, 0, 0, 128, 0, 0, 0, 1, n];
        v.extend(std::iter::repeat_n(0x61, usize::from(n)));
        v
    };
    // op 0xa0: an ND message (type 133 + next byte % 5) with a target (word % 4: ours,
    // the global, the peer's, the source) and options.
    let nd = |sel: u8, word: u16, t: u8, fixed: [u8; 4], opts: &[u8]| {
        let mut v = vec![0xa0, sel];
        v.extend_from_slice(&word.to_be_bytes());
        v.push(t);
        v.extend_from_slice(&fixed);
        v.push(opts.len() as u8);
        v.extend_from_slice(opts);
        v
    };
    let slla = [1u8, 1, 2, 0, 0, 0, 0, 2];
    let mut prefix = vec![3u8, 4, 64, 0xc0, 0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0];
    prefix.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // op 0x8b/0x83: a fragment (more / last) of datagram id, at offset/8, of len/8 * 8.
    let frag = |op: u8, id: u8, off8: u16, len8: u8| {
        let mut v = vec![op | 0x20, 8, 0, 0, id];
        v.extend_from_slice(&off8.to_be_bytes());
        v.push(len8);
        v
    };
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("echo-link-local", [echo(0, 8), echo(8, 16)].concat()),
        (
            "ns-na",
            [
                nd(0x18, 0, 2, [0; 4], &slla),
                nd(0x10, 2, 3, [0x60, 0, 0, 0], &[2, 1, 2, 0, 0, 0, 0, 2]),
                vec![4, 0, 0, 0],
            ]
            .concat(),
        ),
        (
            "ra-prefix",
            nd(0x10, 0, 1, [64, 0, 7, 8], &[slla.to_vec(), vec![5, 1, 0, 0, 0, 0, 5, 0xdc], prefix].concat()),
        ),
        (
            "fragments",
            [frag(0x8b, 1, 0, 10), frag(0x8b, 1, 10, 10), frag(0x83, 1, 20, 2), vec![4, 0, 0, 0]].concat(),
        ),
        ("big-echo-out", vec![6, 0, 0x10, 0x00]),
    ];
    for (name, v) in seeds {
        write(dir, "ip6", name, &v);
    }
}
