//! ifconfig against a running stack: NetBSD's syntax and output, `-l`, `-a`, `--json`, and
//! the routing messages a subscriber sees for each change.

use std::net::IpAddr;

use pktbox_stack::msg::{iff, IfAnnounceMsg, IfMsg, IfaMsg, Msg, IFAN_ARRIVAL, IFAN_DEPARTURE};
use pktbox_stack::socket::Stack;
use pktbox_tests::*;

/// A stack with one `udp` interface whose far end goes nowhere.
fn one_if_stack() -> StackProc {
    let (l, r) = (free_udp_port(), free_udp_port());
    StackProc::start(&["-d", "udp", &format!("local=127.0.0.1:{l},remote=127.0.0.1:{r}")])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Every interface and address message caused by the commands run so far (the route
/// messages that addresses bring with them are the routing tests' business).
fn drain(sub: &mut Stack) -> Vec<Msg> {
    pktbox_tests::broadcasts(sub)
        .into_iter()
        .filter(|m| !matches!(m, Msg::RtAdd(_) | Msg::RtDelete(_) | Msg::RtChange(_)))
        .collect()
}

fn newaddr(ifname: &str, index: u16, a: &str, mask: &str, brd: Option<&str>) -> IfaMsg {
    IfaMsg {
        ifam_index: index,
        ifam_flags: 0,
        ifam_metric: 0,
        ifname: ifname.into(),
        ifa: ip(a),
        netmask: ip(mask),
        brd: brd.map(ip),
    }
}

/// The RTM_IFINFO messages of a batch, as (name, flags, mtu).
fn ifinfos(v: &[Msg]) -> Vec<(String, u32, u64)> {
    v.iter()
        .filter_map(|m| match m {
            Msg::IfInfo(IfMsg {
                ifname,
                ifm_flags,
                ifm_data,
                ..
            }) => Some((ifname.clone(), *ifm_flags, ifm_data.ifi_mtu)),
            _ => None,
        })
        .collect()
}

const EN0_UP: u32 = iff::UP | iff::BROADCAST | iff::RUNNING | iff::SIMPLEX | iff::MULTICAST;
const EN0_DOWN: u32 = iff::BROADCAST | iff::SIMPLEX | iff::MULTICAST;

#[test]
fn ifconfig_configures_and_reports_like_netbsd() {
    let st = one_if_stack();
    let mac = mac_str(&st.mac("en0"));
    let en0_index = st.if_json("en0")["index"].as_u64().unwrap() as u16;

    let mut sub = st.open();
    sub.subscribe().expect("subscribe");

    // A fresh Ethernet interface is down and has no address.
    assert_eq!(
        st.ok("ifconfig", &["en0"]),
        format!(
            "en0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500\n\
             \taddress: {mac}\n\tstatus: active\n"
        )
    );
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0 en0\n");
    assert_eq!(st.ok("ifconfig", &["-l", "-u"]), "lo0\n");
    assert_eq!(st.ok("ifconfig", &["-l", "-d"]), "en0\n");

    // Setting an address prints nothing, brings the interface up, announces the address.
    let out = st.ok("ifconfig", &["en0", "inet", "10.0.0.2", "netmask", "255.255.255.0"]);
    assert_eq!(out, "");
    let en0_up = format!(
        "en0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n\
         \taddress: {mac}\n\tstatus: active\n\
         \tinet 10.0.0.2 netmask 0xffffff00 broadcast 10.0.0.255\n"
    );
    assert_eq!(st.ok("ifconfig", &["en0"]), en0_up);
    let b = drain(&mut sub);
    assert!(
        b.contains(&Msg::NewAddr(newaddr(
            "en0",
            en0_index,
            "10.0.0.2",
            "255.255.255.0",
            Some("10.0.0.255")
        ))),
        "no RTM_NEWADDR for 10.0.0.2: {b:#?}"
    );
    assert_eq!(
        ifinfos(&b),
        vec![("en0".into(), EN0_UP, 1500)],
        "RTM_IFINFO for en0 coming up: {b:#?}"
    );
    assert_eq!(b.len(), 2, "unexpected broadcasts: {b:#?}");

    // -a: every interface, lo0 first.
    assert_eq!(
        st.ok("ifconfig", &["-a"]),
        format!(
            "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 33624\n\
             \tinet 127.0.0.1 netmask 0xff000000\n{en0_up}"
        )
    );
    assert_eq!(st.ok("ifconfig", &["-l", "-u"]), "lo0 en0\n");
    assert_eq!(st.ok("ifconfig", &["-l", "-d"]), "\n");

    // An alias, in the /len form, is listed after the primary address.
    st.ok("ifconfig", &["en0", "inet", "10.0.0.3/24", "alias"]);
    assert_eq!(
        st.ok("ifconfig", &["en0"]),
        format!("{en0_up}\tinet 10.0.0.3 netmask 0xffffff00 broadcast 10.0.0.255\n")
    );
    let b = drain(&mut sub);
    assert_eq!(
        b,
        vec![Msg::NewAddr(newaddr(
            "en0",
            en0_index,
            "10.0.0.3",
            "255.255.255.0",
            Some("10.0.0.255")
        ))]
    );

    // -alias removes exactly that address.
    st.ok("ifconfig", &["en0", "inet", "10.0.0.3", "-alias"]);
    assert_eq!(st.ok("ifconfig", &["en0"]), en0_up);
    let b = drain(&mut sub);
    assert_eq!(
        b,
        vec![Msg::DelAddr(newaddr(
            "en0",
            en0_index,
            "10.0.0.3",
            "255.255.255.0",
            Some("10.0.0.255")
        ))]
    );

    // down / up: the flags change, the address stays; each change is an RTM_IFINFO.
    st.ok("ifconfig", &["en0", "down"]);
    assert_eq!(
        st.ok("ifconfig", &["en0"]),
        format!(
            "en0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500\n\
             \taddress: {mac}\n\tstatus: active\n\
             \tinet 10.0.0.2 netmask 0xffffff00 broadcast 10.0.0.255\n"
        )
    );
    assert_eq!(st.ok("ifconfig", &["-l", "-d"]), "en0\n");
    let b = drain(&mut sub);
    assert_eq!(ifinfos(&b), vec![("en0".into(), EN0_DOWN, 1500)], "{b:#?}");
    assert_eq!(b.len(), 1, "{b:#?}");
    // Down again changes nothing and says nothing.
    st.ok("ifconfig", &["en0", "down"]);
    assert_eq!(drain(&mut sub), vec![]);

    st.ok("ifconfig", &["en0", "up"]);
    assert_eq!(st.ok("ifconfig", &["en0"]), en0_up);
    let b = drain(&mut sub);
    assert_eq!(ifinfos(&b), vec![("en0".into(), EN0_UP, 1500)], "{b:#?}");
    assert_eq!(b.len(), 1, "{b:#?}");

    // mtu
    st.ok("ifconfig", &["en0", "mtu", "1400"]);
    assert_eq!(
        st.ok("ifconfig", &["en0"]).lines().next(),
        Some("en0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1400")
    );
    let b = drain(&mut sub);
    assert_eq!(ifinfos(&b), vec![("en0".into(), EN0_UP, 1400)], "{b:#?}");
    assert_eq!(b.len(), 1, "{b:#?}");

    // --json for scripts.
    let j = st.if_json("en0");
    assert_eq!(j["name"], "en0");
    assert_eq!(j["flags"], 0x8843);
    assert_eq!(
        j["flag_names"],
        serde_json::json!(["UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST"])
    );
    assert_eq!(j["mtu"], 1400);
    assert_eq!(j["address"], mac.as_str());
    assert_eq!(j["link_state"], "up");
    assert_eq!(j["driver"], "udp");
    assert_eq!(
        j["inet"],
        serde_json::json!([{
            "address": "10.0.0.2", "netmask": "255.255.255.0", "broadcast": "10.0.0.255",
            "tentative": false
        }])
    );
    for c in ["ipackets", "ierrors", "opackets", "oerrors", "ibytes", "obytes"] {
        assert!(j["counters"][c].is_u64(), "counters.{c} in {j}");
    }
    let all: serde_json::Value = serde_json::from_str(&st.ok("ifconfig", &["-a", "--json"])).unwrap();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lo0", "en0"]);

    // delete removes the (only) address; the interface stays up.
    st.ok("ifconfig", &["en0", "delete"]);
    assert_eq!(
        st.ok("ifconfig", &["en0"]),
        format!(
            "en0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1400\n\
             \taddress: {mac}\n\tstatus: active\n"
        )
    );
    let b = drain(&mut sub);
    assert_eq!(
        b,
        vec![Msg::DelAddr(newaddr(
            "en0",
            en0_index,
            "10.0.0.2",
            "255.255.255.0",
            Some("10.0.0.255")
        ))]
    );
}

#[test]
fn cloned_interfaces_arrive_and_depart() {
    let st = one_if_stack();
    let mut sub = st.open();
    sub.subscribe().expect("subscribe");

    assert_eq!(st.ok("ifconfig", &["-C"]), "hub lo shmif tap\n");
    assert_eq!(st.ok("ifconfig", &["lo1", "create"]), "");
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0 en0 lo1\n");
    assert_eq!(
        st.ok("ifconfig", &["lo1"]),
        "lo1: flags=8008<LOOPBACK,MULTICAST> mtu 33624\n"
    );
    let index = st.if_json("lo1")["index"].as_u64().unwrap() as u16;
    let b = drain(&mut sub);
    assert_eq!(
        b,
        vec![Msg::IfAnnounce(IfAnnounceMsg {
            ifan_index: index,
            ifan_name: "lo1".into(),
            ifan_what: IFAN_ARRIVAL,
        })]
    );

    // Creating it twice fails and changes nothing.
    let o = st.run("ifconfig", &["lo1", "create"]).code(1);
    assert_eq!(o.stderr, "ifconfig: SIOCIFCREATE: File exists\n");
    assert_eq!(drain(&mut sub), vec![]);

    // A loopback address: no broadcast address, no gratuitous ARP, but up.
    st.ok("ifconfig", &["lo1", "127.0.0.2", "netmask", "255.0.0.0"]);
    assert_eq!(
        st.ok("ifconfig", &["lo1"]),
        "lo1: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 33624\n\
         \tinet 127.0.0.2 netmask 0xff000000\n"
    );
    let b = drain(&mut sub);
    assert_eq!(b.len(), 2, "{b:#?}");
    assert!(b.contains(&Msg::NewAddr(newaddr("lo1", index, "127.0.0.2", "255.0.0.0", None))));

    // Destroy: down, its address goes, then the interface departs, in that order.
    assert_eq!(st.ok("ifconfig", &["lo1", "destroy"]), "");
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0 en0\n");
    let b = drain(&mut sub);
    assert_eq!(b.len(), 3, "{b:#?}");
    assert!(
        matches!(&b[0], Msg::IfInfo(m) if m.ifname == "lo1" && m.ifm_flags & iff::UP == 0),
        "{b:#?}"
    );
    assert_eq!(
        b[1],
        Msg::DelAddr(newaddr("lo1", index, "127.0.0.2", "255.0.0.0", None))
    );
    assert_eq!(
        b[2],
        Msg::IfAnnounce(IfAnnounceMsg {
            ifan_index: index,
            ifan_name: "lo1".into(),
            ifan_what: IFAN_DEPARTURE,
        })
    );
    let o = st.run("ifconfig", &["lo1"]).code(1);
    assert_eq!(o.stderr, "ifconfig: SIOCGIFFLAGS lo1: Device not configured\n");

    // Interfaces on drivers are not destroyable; lo0 neither.
    st.run("ifconfig", &["en0", "destroy"]).code(1);
    st.run("ifconfig", &["lo0", "destroy"]).code(1);
    assert_eq!(st.ok("ifconfig", &["-l"]), "lo0 en0\n");
    assert_eq!(drain(&mut sub), vec![]);
}

#[test]
fn address_forms_netbsd_accepts() {
    let st = one_if_stack();
    // Family word optional, netmask in hex, `up` in the same command.
    st.ok("ifconfig", &["en0", "10.1.0.1", "netmask", "0xffff0000", "up"]);
    let out = st.ok("ifconfig", &["en0"]);
    assert!(
        out.ends_with("\tinet 10.1.0.1 netmask 0xffff0000 broadcast 10.1.255.255\n"),
        "{out}"
    );
    // A new address without `alias` replaces the primary one: the new one is added first,
    // then the old one goes.
    let mut sub = st.open();
    sub.subscribe().unwrap();
    st.ok("ifconfig", &["en0", "inet", "10.2.0.1/8"]);
    let b = drain(&mut sub);
    let index = st.if_json("en0")["index"].as_u64().unwrap() as u16;
    assert_eq!(
        b,
        vec![
            Msg::NewAddr(newaddr("en0", index, "10.2.0.1", "255.0.0.0", Some("10.255.255.255"))),
            Msg::DelAddr(newaddr("en0", index, "10.1.0.1", "255.255.0.0", Some("10.1.255.255"))),
        ]
    );
    let j = st.if_json("en0");
    assert_eq!(
        j["inet"],
        serde_json::json!([{
            "address": "10.2.0.1", "netmask": "255.0.0.0", "broadcast": "10.255.255.255",
            "tentative": false
        }])
    );
    // Without a mask, the classful one (class C here).
    st.ok("ifconfig", &["en0", "192.168.7.1"]);
    let out = st.ok("ifconfig", &["en0"]);
    assert!(
        out.ends_with("\tinet 192.168.7.1 netmask 0xffffff00 broadcast 192.168.7.255\n"),
        "{out}"
    );
}
