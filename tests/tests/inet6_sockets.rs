//! AF_INET6 sockets (issue 9, item 1): an IPv6 socket bound to `::` on an io-pkt-v6-hc
//! stack serves IPv4 peers unchanged, seeing them as v4-mapped addresses, when IPV6_V6ONLY
//! is cleared (NetBSD's default sets it); io-pkt-v4 refuses AF_INET6 sockets; nc's -4 / -6
//! and IPv6 literals.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use pktbox_stack::socket::{RawSocket, TcpListener, TcpSocket, TcpStream, UdpSocket};
use pktbox_tests::{bin, free_udp_port, wait_for, StackProc};

const T: Option<Duration> = Some(Duration::from_secs(5));

/// A (io-pkt-v4, 10.N.0.1/24) and B (io-pkt-v6-hc, 10.N.0.2/24) on a `udp` wire.
fn v4_and_v6_stacks(net: u8) -> (StackProc, StackProc) {
    let (pa, pb) = (free_udp_port(), free_udp_port());
    let a = StackProc::start(&["-d", "udp", &format!("local=127.0.0.1:{pa},remote=127.0.0.1:{pb}")]);
    let b = StackProc::start_variant(
        "io-pkt-v6-hc",
        &["-d", "udp", &format!("local=127.0.0.1:{pb},remote=127.0.0.1:{pa}")],
    );
    a.ok("ifconfig", &["en0", &format!("10.{net}.0.1/24")]);
    b.ok("ifconfig", &["en0", &format!("10.{net}.0.2/24")]);
    (a, b)
}

fn errno(e: &std::io::Error) -> Option<i32> {
    e.raw_os_error()
}

#[test]
fn a_dual_inet6_socket_on_the_unspecified_address_serves_ipv4_peers_v4_mapped() {
    let (a, b) = v4_and_v6_stacks(41);
    // TCP: the server is AF_INET6 on [::]:7000 with IPV6_V6ONLY cleared.
    let mut ls = TcpSocket::new_v6_at(b.prefix()).unwrap();
    ls.set_only_v6(false).unwrap();
    ls.bind("[::]:7000").unwrap();
    let l = ls.listen(8).unwrap();
    assert_eq!(l.local_addr().unwrap().to_string(), "[::]:7000");
    l.set_accept_timeout(T).unwrap();
    let mut cli = TcpStream::connect_at(a.prefix(), "10.41.0.2:7000", T).unwrap();
    let (mut srv, peer) = l.accept().unwrap();
    let cport = cli.local_addr().unwrap().port();
    assert_eq!(peer.to_string(), format!("[::ffff:10.41.0.1]:{cport}"));
    assert_eq!(srv.local_addr().unwrap().to_string(), "[::ffff:10.41.0.2]:7000");
    assert_eq!(srv.peer_addr().unwrap(), peer);
    // The IPv4 side sees nothing unusual.
    assert_eq!(cli.peer_addr().unwrap().to_string(), "10.41.0.2:7000");
    // More than both buffers hold: the server reads while the client writes.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 13) as u8).collect();
    srv.set_read_timeout(T).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let r = srv.read_to_end(&mut got).map(|_| got);
        (srv, r)
    });
    cli.set_write_timeout(T).unwrap();
    cli.write_all(&data).unwrap();
    cli.shutdown(std::net::Shutdown::Write).unwrap();
    let (mut srv, got) = reader.join().unwrap();
    let got = got.unwrap();
    assert!(
        got == data,
        "{} of {} bytes, equal: {}",
        got.len(),
        data.len(),
        got == data
    );
    srv.write_all(b"bye").unwrap();
    drop(srv);
    let mut back = Vec::new();
    cli.set_read_timeout(T).unwrap();
    cli.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"bye");
    // netstat shows the AF_INET6 sockets in their own table, the peer v4-mapped.
    let out = b.ok("netstat", &["-an"]);
    assert!(
        out.contains("Active Internet6 connections (including servers)"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("tcp6") && l.contains("*.7000") && l.contains("LISTEN")),
        "{out}"
    );

    // UDP, the same way.
    let mut us = UdpSocket::unbound_af_at(b.prefix(), true).unwrap();
    us.set_only_v6(false).unwrap();
    us.bind_to("[::]:9000").unwrap();
    us.set_read_timeout(T).unwrap();
    let mut uc = UdpSocket::bind_at(a.prefix(), "0.0.0.0:0").unwrap();
    uc.set_read_timeout(T).unwrap();
    uc.send_to(b"over v4", "10.41.0.2:9000").unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = us.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"over v4");
    let uport = uc.local_addr().unwrap().port();
    assert_eq!(from.to_string(), format!("[::ffff:10.41.0.1]:{uport}"));
    // The answer to the v4-mapped address goes out as IPv4; std's IPv4 form works too.
    us.send_to(b"mapped", from).unwrap();
    us.send_to(b"plain", ("10.41.0.1", uport)).unwrap();
    for want in [&b"mapped"[..], b"plain"] {
        let (n, from) = uc.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from.to_string().as_str()), (want, "10.41.0.2:9000"));
    }
}

#[test]
fn inet6_sockets_are_v6only_by_default_as_on_netbsd() {
    let (a, b) = v4_and_v6_stacks(42);
    let l = TcpListener::bind_at(b.prefix(), "[::]:7001", 8).unwrap();
    let e = TcpStream::connect_at(a.prefix(), "10.42.0.2:7001", T)
        .err()
        .expect("refused");
    assert_eq!(errno(&e), Some(libc::ECONNREFUSED), "{e}");
    drop(l);
    // So is an unconnected UDP socket: an IPv4 datagram finds no port.
    let _us = UdpSocket::bind_at(b.prefix(), "[::]:9001").unwrap();
    let before = b.open().stats().unwrap().udp.noport;
    let mut uc = UdpSocket::bind_at(a.prefix(), "0.0.0.0:0").unwrap();
    uc.send_to(b"x", "10.42.0.2:9001").unwrap();
    wait_for("udp noport on B", || {
        (b.open().stats().unwrap().udp.noport > before).then_some(())
    });
    // No route to this IPv6 peer.
    let e = TcpStream::connect_at(b.prefix(), "[2001:db8::9]:80", T)
        .err()
        .expect("no route");
    assert_eq!(errno(&e), Some(libc::ENETUNREACH), "{e}");
}

#[test]
fn io_pkt_v4_refuses_inet6_sockets() {
    let st = StackProc::start(&[]);
    let e = TcpListener::bind_at(st.prefix(), "[::]:80", 8).err().expect("refused");
    assert_eq!(errno(&e), Some(libc::EAFNOSUPPORT), "{e}");
    let e = UdpSocket::bind_at(st.prefix(), "[::1]:0").err().expect("refused");
    assert_eq!(errno(&e), Some(libc::EAFNOSUPPORT), "{e}");
    let e = RawSocket::open6_at(st.prefix(), 58).err().expect("refused");
    assert_eq!(e.errno(), Some(libc::EAFNOSUPPORT), "{e}");
    // An AF_INET socket is not given an IPv6 address either.
    let mut s = TcpSocket::new_at(st.prefix()).unwrap();
    let e = s.bind("[::]:81").expect_err("refused");
    assert_eq!(errno(&e), Some(libc::EAFNOSUPPORT), "{e}");
    // nc says so the BSD way.
    let o = st.run("nc", &["-6", "-l", "7002"]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(o.stderr.contains("Address family not supported"), "{o:?}");
}

#[test]
fn nc_4_and_6_pick_the_family_and_take_ipv6_literals() {
    let (a, b) = v4_and_v6_stacks(43);
    // A literal of the other family than -4 / -6 asks for cannot be used.
    for (flag, host) in [("-4", "2001:db8::1"), ("-6", "10.43.0.1")] {
        let o = b.run("nc", &[flag, "-z", host, "80"]);
        assert_eq!(o.code, Some(1), "{o:?}");
        assert!(
            o.stderr.contains(&format!(
                "nc: getaddrinfo for host \"{host}\" port 80: Address family for hostname not supported"
            )),
            "{o:?}"
        );
    }
    let o = b.run("nc", &["-6", "-s", "10.43.0.2", "-z", "::1", "80"]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(o.stderr.contains("source address of the wrong address family"), "{o:?}");
    // An IPv6 literal (bracketed too) goes out through an AF_INET6 socket: there is no
    // route to it.
    for host in ["2001:db8::9", "[2001:db8::9]"] {
        let o = b.run("nc", &[host, "80"]);
        assert_eq!(o.code, Some(1), "{o:?}");
        assert!(
            o.stderr
                .contains("nc: connect to 2001:db8::9 port 80 (tcp) failed: Network is unreachable"),
            "{o:?}"
        );
    }
    // A v4-mapped literal reaches an IPv4 peer through an AF_INET6 socket.
    let l = TcpListener::bind_at(a.prefix(), "10.43.0.1:7100", 8).unwrap();
    l.set_accept_timeout(T).unwrap();
    let mut nc = Command::new(bin())
        .args(["nc", "-N", "::ffff:10.43.0.1", "7100"])
        .env("SOCK", b.prefix())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    nc.stdin
        .take()
        .unwrap()
        .write_all(b"hello over a mapped address\n")
        .unwrap();
    let (mut s, peer) = l.accept().unwrap();
    assert_eq!(peer.ip().to_string(), "10.43.0.2");
    s.set_read_timeout(T).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got, "hello over a mapped address\n");
    drop(s);
    assert!(nc.wait().unwrap().success());
    // -6 -l listens on `::` (V6ONLY), -4 -l (the default) on 0.0.0.0; the last of -4 and
    // -6 wins, as in OpenBSD's nc.
    let mut l6 = Command::new(bin())
        .args(["nc", "-4", "-6", "-l", "7200"])
        .env("SOCK", b.prefix())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let line = wait_for("nc -6 -l in netstat", || {
        b.ok("netstat", &["-an"])
            .lines()
            .find(|l| l.contains("*.7200"))
            .map(str::to_string)
    });
    assert!(line.starts_with("tcp6 ") && line.contains("LISTEN"), "{line}");
    // -f picks the family's table.
    let six = b.ok("netstat", &["-an", "-f", "inet6"]);
    assert!(
        six.starts_with("Active Internet6 connections (including servers)\n"),
        "{six}"
    );
    assert!(six.contains("*.7200"), "{six}");
    let four = b.ok("netstat", &["-an", "-f", "inet"]);
    assert!(!four.contains("Internet6") && !four.contains("*.7200"), "{four}");
    let _ = l6.kill();
    let _ = l6.wait();
}
