use super::*;
use proptest::prelude::*;

fn sample() -> Vec<Msg> {
    vec![
        Msg::Hello(HelloReq { role: Role::Control }),
        Msg::IfList(IfListReq {
            name: Some("en0".into()),
        }),
        Msg::AddrAdd(AddrReq {
            name: "en0".into(),
            addr: Some("10.0.0.2".parse().unwrap()),
            netmask: Some("255.255.255.0".parse().unwrap()),
            brd: None,
        }),
        Msg::AddrAdd6(In6AliasReq {
            req: AddrReq {
                name: "en0".into(),
                addr: Some("2001:db8::2".parse().unwrap()),
                netmask: None,
                brd: None,
            },
            flags: crate::msg::in6f::ANYCAST,
            pltime: Some(30),
            vltime: None,
        }),
        Msg::SysctlValues(vec![SysctlEntry {
            name: "net.inet.ip.ttl".into(),
            value: SysctlValue::Int(64),
            writable: true,
            desc: "ttl".into(),
        }]),
        Msg::Done(Empty),
        Msg::ErrorText("x".into()),
        // ndp's requests and answers.
        Msg::NdDelete(NdDelReq {
            addr: "fe80::1".parse().unwrap(),
            ifname: Some("en0".into()),
        }),
        Msg::NdPrefixes(Empty),
        Msg::NdSet(NdSetReq {
            addr: "2001:db8::1".parse().unwrap(),
            ifname: None,
            lladdr: [2, 0, 0, 0, 0, 9],
            temp: true,
            proxy: true,
        }),
        Msg::NdRouters(Empty),
        Msg::NdIfInfoGet(IfNameReq { name: "en0".into() }),
        Msg::NdList(vec![NdEntryInfo {
            addr: "fe80::1".parse().unwrap(),
            ifname: "en0".into(),
            lladdr: Some([2, 0, 0, 0, 0, 1]),
            state: "REACHABLE".into(),
            is_router: true,
            expire: Some(29),
            asked: 0,
            proxy: false,
        }]),
        Msg::NdPrefixList(vec![NdPrefixInfo {
            prefix: "2001:db8::".parse().unwrap(),
            len: 64,
            ifname: "en0".into(),
            onlink: true,
            autonomous: true,
            vltime: Some(86400),
            pltime: None,
            expire: Some(86399),
            advrtrs: vec![("fe80::1".parse().unwrap(), "reachable".into())],
        }]),
        Msg::NdRouterList(vec![NdRouterInfo {
            addr: "fe80::1".parse().unwrap(),
            ifname: "en0".into(),
            managed: false,
            other: true,
            pref: 3,
            expire: Some(1799),
        }]),
        Msg::NdIfInfoOk(NdIfInfo {
            linkmtu: 1500,
            maxmtu: 1500,
            curhlim: 64,
            basereachable_ms: 30000,
            reachable_s: 30,
            retrans_ms: 1000,
            nud: true,
            accept_rtadv: false,
            auto_linklocal: true,
        }),
        Msg::Socket(SocketReq {
            domain: libc::AF_INET6,
            stype: libc::SOCK_DGRAM,
            protocol: 0,
        }),
        Msg::SockSetOpt(SockOpt::V6Only(false)),
        Msg::SockBind(SockAddrReq {
            addr: "[::]:80".parse().unwrap(),
            wait: Wait::default(),
        }),
        Msg::SockConnect(SockAddrReq {
            addr: "10.0.0.1:80".parse().unwrap(),
            wait: Wait::default(),
        }),
        Msg::SockSend(SendReq {
            // A link-local peer keeps its scope (and flow label) across the channel.
            to: Some(std::net::SocketAddr::V6(std::net::SocketAddrV6::new(
                "fe80::1".parse().unwrap(),
                53,
                0x12345,
                3,
            ))),
            data: vec![1, 2, 3],
            wait: Wait::default(),
        }),
        Msg::SockData(DataMsg {
            from: "[::ffff:10.0.0.2]:53".parse().unwrap(),
            data: vec![9; 40],
            hlim: None,
        }),
        Msg::SockData(DataMsg {
            from: std::net::SocketAddr::V6(std::net::SocketAddrV6::new("fe80::1".parse().unwrap(), 0, 0, 2)),
            data: vec![129, 0, 0, 0],
            hlim: Some(64),
        }),
        Msg::SockNamesOk(SockNames {
            local: "[2001:db8::1]:80".parse().unwrap(),
            peer: Some("[2001:db8::2]:49152".parse().unwrap()),
        }),
        Msg::SockNamesOk(SockNames {
            local: "0.0.0.0:0".parse().unwrap(),
            peer: None,
        }),
    ]
}

#[test]
fn ipv6_socket_addresses_keep_their_scope_id() {
    let to = std::net::SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 7);
    let m = Msg::SockSend(SendReq {
        to: Some(to.into()),
        data: vec![],
        wait: Wait::default(),
    });
    match decode(&encode(&m, 1, 1, 0, 0)).unwrap().msg {
        Msg::SockSend(SendReq {
            to: Some(std::net::SocketAddr::V6(a)),
            ..
        }) => assert_eq!(a.scope_id(), 7),
        other => panic!("{other:?}"),
    }
}

#[test]
fn round_trip() {
    for m in sample() {
        let b = encode(&m, 7, 42, MSGF_REPLY, 0);
        let f = decode(&b).unwrap();
        assert_eq!(f.msg, m);
        assert_eq!(f.hdr.seq, 7);
        assert_eq!(f.hdr.pid, 42);
        assert_eq!(f.hdr.flags, MSGF_REPLY);
        assert_eq!(f.hdr.len as usize, b.len());
    }
}

#[test]
fn refuses_bad_input() {
    let b = encode(
        &Msg::IfList(IfListReq {
            name: Some("en0".into()),
        }),
        1,
        1,
        0,
        0,
    );
    assert_eq!(decode(&b[..10]), Err(DecodeError::Truncated));
    // Cut inside the body, with the header length fixed up to match.
    let mut cut = b[..b.len() - 1].to_vec();
    let l = (cut.len() as u32).to_le_bytes();
    cut[..4].copy_from_slice(&l);
    assert_eq!(decode(&cut), Err(DecodeError::Body));
    // Trailing garbage after a complete body.
    let mut long = b.clone();
    long.push(0);
    let l = (long.len() as u32).to_le_bytes();
    long[..4].copy_from_slice(&l);
    assert_eq!(decode(&long), Err(DecodeError::Body));
    // Length field that lies.
    let mut lie = b.clone();
    lie[0] = lie[0].wrapping_add(1);
    assert_eq!(decode(&lie), Err(DecodeError::Length));
    let mut ver = b.clone();
    ver[4] = 99;
    assert_eq!(decode(&ver), Err(DecodeError::Version(99)));
    let mut ty = b;
    ty[5] = 0x3f;
    assert_eq!(decode(&ty), Err(DecodeError::UnknownType(0x3f)));
    assert_eq!(decode(&vec![0u8; MAX_MSG + 1]), Err(DecodeError::Oversized));
}

proptest! {
    #[test]
    fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_is_total_with_valid_header(t in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut b = vec![0u8; HDR_LEN];
        b.extend_from_slice(&body);
        let h = Header { len: b.len() as u32, version: MSG_VERSION, mtype: t, ..Default::default() };
        let mut hb = [0u8; HDR_LEN];
        h.encode(&mut hb);
        b[..HDR_LEN].copy_from_slice(&hb);
        let _ = decode(&b);
    }
}
