//! UDP through real stacks: two stacks on a `udp` wire, sockets of the client library on
//! each, and the nc applet.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use pktbox_stack::socket::UdpSocket;
use pktbox_tests::{bin, udp_pair, wait_for};

const T: Option<Duration> = Some(Duration::from_secs(5));

#[test]
fn datagrams_cross_both_ways_with_addresses() {
    let (a, b) = udp_pair(5);
    let mut srv = UdpSocket::bind_at(b.prefix(), "0.0.0.0:9000").unwrap();
    srv.set_read_timeout(T).unwrap();
    let mut cli = UdpSocket::bind_at(a.prefix(), "0.0.0.0:0").unwrap();
    cli.set_read_timeout(T).unwrap();
    let local = cli.local_addr().unwrap();
    assert_eq!(local.ip().to_string(), "0.0.0.0");
    assert!(local.port() >= 49152, "ephemeral port from the default range: {local}");
    // The first datagram may wait for ARP; it is held, not lost.
    cli.send_to(b"ping one", "10.5.0.2:9000").unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = srv.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping one");
    assert_eq!(from.to_string(), format!("10.5.0.1:{}", local.port()));
    srv.send_to(b"pong", from).unwrap();
    let (n, from2) = cli.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong");
    assert_eq!(from2.to_string(), "10.5.0.2:9000");
    // A large datagram is fragmented on the way and reassembled.
    let big: Vec<u8> = (0..8000u32).map(|i| (i * 7) as u8).collect();
    cli.send_to(&big, "10.5.0.2:9000").unwrap();
    let mut bigbuf = vec![0u8; 65536];
    let (n, _) = srv.recv_from(&mut bigbuf).unwrap();
    assert_eq!(&bigbuf[..n], &big[..]);
    // Connected: send/recv, and a datagram from elsewhere is not delivered.
    cli.connect("10.5.0.2:9000").unwrap();
    assert_eq!(cli.peer_addr().unwrap().to_string(), "10.5.0.2:9000");
    cli.send(b"connected").unwrap();
    let (n, _) = srv.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"connected");
    let mut other = UdpSocket::bind_at(b.prefix(), "0.0.0.0:9001").unwrap();
    other.send_to(b"stranger", ("10.5.0.1", local.port())).unwrap();
    srv.send_to(b"friend", ("10.5.0.1", local.port())).unwrap();
    let n = cli.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"friend", "only the connected peer's datagrams arrive");
}

#[test]
fn closed_port_is_unreachable_and_counted() {
    let (a, b) = udp_pair(5);
    let mut cli = UdpSocket::bind_at(a.prefix(), "0.0.0.0:0").unwrap();
    let before = b.open().stats().unwrap();
    cli.send_to(b"nobody", "10.5.0.2:9999").unwrap();
    let after = wait_for("udp noport", || {
        let s = b.open().stats().unwrap();
        (s.udp.noport > before.udp.noport).then_some(s)
    });
    assert_eq!(after.udp.noport, before.udp.noport + 1);
    assert_eq!(
        after.icmp.outhist[3],
        before.icmp.outhist[3] + 1,
        "one port unreachable sent"
    );
    wait_for("icmp unreachable at A", || {
        let s = a.open().stats().unwrap();
        (s.icmp.inhist[3] >= 1).then_some(())
    });
}

#[test]
fn bind_rules_and_reuse() {
    let (a, _b) = udp_pair(5);
    let _s1 = UdpSocket::bind_at(a.prefix(), "0.0.0.0:7000").unwrap();
    let e = UdpSocket::bind_at(a.prefix(), "0.0.0.0:7000").err().unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE));
    let e = UdpSocket::bind_at(a.prefix(), "10.9.9.9:7001").err().unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL));
    // SO_REUSEPORT on both lets two sockets share a port.
    let mut r1 = UdpSocket::unbound_at(a.prefix()).unwrap();
    r1.set_reuseport(true).unwrap();
    r1.bind_to("0.0.0.0:7002").unwrap();
    let mut r2 = UdpSocket::unbound_at(a.prefix()).unwrap();
    r2.set_reuseport(true).unwrap();
    r2.bind_to("0.0.0.0:7002").unwrap();
    // A socket that goes away frees its port.
    let s = UdpSocket::bind_at(a.prefix(), "0.0.0.0:7003").unwrap();
    drop(s);
    wait_for("port 7003 free again", || {
        UdpSocket::bind_at(a.prefix(), "0.0.0.0:7003").ok()
    });
    // The ephemeral range follows the sysctl.
    a.ok(
        "sysctl",
        &["-w", "net.inet.ip.anonportmin=60000", "net.inet.ip.anonportmax=60001"],
    );
    let mut e1 = UdpSocket::bind_at(a.prefix(), "0.0.0.0:0").unwrap();
    let mut e2 = UdpSocket::bind_at(a.prefix(), "0.0.0.0:0").unwrap();
    let mut ports = [e1.local_addr().unwrap().port(), e2.local_addr().unwrap().port()];
    ports.sort();
    assert_eq!(ports, [60000, 60001]);
    let e = UdpSocket::bind_at(a.prefix(), "0.0.0.0:0").err().unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE), "the range is used up");
}

#[test]
fn broadcast_needs_so_broadcast() {
    let (a, b) = udp_pair(5);
    let mut srv = UdpSocket::bind_at(b.prefix(), "0.0.0.0:9100").unwrap();
    srv.set_read_timeout(T).unwrap();
    let mut cli = UdpSocket::bind_at(a.prefix(), "0.0.0.0:0").unwrap();
    let e = cli.send_to(b"all", "10.5.0.255:9100").err().unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    cli.set_broadcast(true).unwrap();
    cli.send_to(b"all", "10.5.0.255:9100").unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = srv.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"all");
}

#[test]
fn nc_moves_datagrams() {
    let (a, b) = udp_pair(5);
    let port = "9200";
    let mut server = Command::new(bin())
        .args(["nc", "-v", "-u", "-l", "-w", "2", port])
        .env("SOCK", b.prefix())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // -v says when the listener is bound.
    let mut err = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert_eq!(line, format!("Bound on 0.0.0.0 {port}\n"));
    let mut client = Command::new(bin())
        .args(["nc", "-u", "-w", "1", "10.5.0.2", port])
        .env("SOCK", a.prefix())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    client.stdin.take().unwrap().write_all(b"through the stack\n").unwrap();
    assert!(client.wait().unwrap().success());
    let out = server.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through the stack\n");
    // TCP to a port nobody listens on is refused by the peer's RST.
    let o = a.run("nc", &["10.5.0.2", "80"]);
    assert_eq!(o.code, Some(1));
    assert_eq!(
        o.stderr,
        "nc: connect to 10.5.0.2 port 80 (tcp) failed: Connection refused\n"
    );
}
