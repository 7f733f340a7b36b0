//! Socket options through the client library, between two stacks on a `udp` wire: what
//! SO_KEEPALIVE, SO_LINGER, TCP_NODELAY and the buffer sizes do to a connection.

use std::io::{Read, Write};
use std::time::Duration;

use pktbox_stack::socket::{TcpListener, TcpSocket, TcpStream};
use pktbox_tests::*;

const LONG: Option<Duration> = Some(Duration::from_secs(30));

/// A connection from stack `a` to a listener on `b` at 10.NET.0.2:`port`: the client
/// side (made by `client`, which sets its options) and the server side.
fn pair(
    a: &StackProc,
    l: &TcpListener,
    net: u8,
    port: u16,
    client: impl FnOnce(&mut TcpSocket),
) -> (TcpStream, TcpStream) {
    let mut s = TcpSocket::new_at(a.prefix()).unwrap();
    client(&mut s);
    let c = s.connect(format!("10.{net}.0.2:{port}"), LONG).unwrap();
    let (srv, _) = l.accept().unwrap();
    (c, srv)
}

/// How a read ends: data, end of file, or an errno.
fn read_end(s: &mut TcpStream) -> Result<usize, Option<i32>> {
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut buf = [0u8; 64];
    s.read(&mut buf).map_err(|e| e.raw_os_error())
}

/// The netstat -an line of the connection whose foreign end is `peer`.
fn netstat_line(st: &StackProc, args: &[&str], peer: &str) -> Option<String> {
    st.ok("netstat", args)
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some(peer))
        .map(String::from)
}

#[test]
fn keepalive_drops_a_connection_whose_peer_died_and_only_that_one() {
    let (a, mut b) = udp_pair(21);
    for (k, v) in [("keepidle", "1"), ("keepintvl", "1"), ("keepcnt", "2")] {
        a.ok("sysctl", &["-w", &format!("net.inet.tcp.{k}={v}")]);
    }
    let l = TcpListener::bind_at(b.prefix(), "0.0.0.0:5300", 8).unwrap();
    let (mut kept, _s1) = pair(&a, &l, 21, 5300, |s| s.set_keepalive(true).unwrap());
    let (mut plain, _s2) = pair(&a, &l, 21, 5300, |_| {});
    let plain_port = plain.local_addr().unwrap().port();
    // The peer goes away without a word (no FIN, no RST): only probes can tell.
    assert!(b.kill());
    assert_eq!(read_end(&mut kept), Err(Some(libc::ETIMEDOUT)));
    let st = a.open().stats().unwrap().tcp;
    assert!(st.keepdrops >= 1 && st.keepprobe >= 2, "{st:?}");
    // The connection without SO_KEEPALIVE knows nothing of it.
    let t = a.ok("netstat", &["-an"]);
    assert!(
        t.lines()
            .any(|l| l.contains(&format!("10.21.0.1.{plain_port} ")) && l.contains("ESTABLISHED")),
        "{t}"
    );
}

#[test]
fn linger_zero_resets_the_connection_on_close() {
    let (a, b) = udp_pair(22);
    let l = TcpListener::bind_at(b.prefix(), "0.0.0.0:5301", 8).unwrap();
    let (mut hard, mut s1) = pair(&a, &l, 22, 5301, |s| s.set_linger(Some(Duration::ZERO)).unwrap());
    let (mut soft, mut s2) = pair(&a, &l, 22, 5301, |_| {});
    for c in [&mut hard, &mut soft] {
        c.write_all(b"x").unwrap();
    }
    assert_eq!(read_end(&mut s1), Ok(1));
    assert_eq!(read_end(&mut s2), Ok(1));
    drop(hard);
    drop(soft);
    assert_eq!(read_end(&mut s1), Err(Some(libc::ECONNRESET)), "SO_LINGER 0: a reset");
    assert_eq!(read_end(&mut s2), Ok(0), "without it: an orderly end of file");
}

#[test]
fn linger_zero_set_on_an_established_stream_resets_too() {
    let (a, b) = udp_pair(25);
    let l = TcpListener::bind_at(b.prefix(), "0.0.0.0:5304", 8).unwrap();
    let (mut c, mut s) = pair(&a, &l, 25, 5304, |_| {});
    c.set_linger(Some(Duration::ZERO)).unwrap();
    drop(c);
    assert_eq!(read_end(&mut s), Err(Some(libc::ECONNRESET)));
}

/// Data segments stack `st` has sent so far.
fn sndpack(st: &StackProc) -> u64 {
    st.open().stats().unwrap().tcp.sndpack
}

#[test]
fn nodelay_sends_small_writes_at_once_and_nagle_holds_them() {
    let (a, b) = udp_pair(23);
    let l = TcpListener::bind_at(b.prefix(), "0.0.0.0:5302", 8).unwrap();
    let (mut nagle, _s1) = pair(&a, &l, 23, 5302, |_| {});
    let (mut quick, _s2) = pair(&a, &l, 23, 5302, |_| {});
    quick.set_nodelay(true).unwrap();
    // Stop the peer so that no ACK comes back: Nagle then holds every small write after
    // the first until the first is acknowledged.
    // SAFETY: kill(2) on the stack process this test started.
    assert_eq!(unsafe { libc::kill(b.pid(), libc::SIGSTOP) }, 0);
    let n0 = sndpack(&a);
    for _ in 0..10 {
        nagle.write_all(b"n").unwrap();
    }
    let n1 = sndpack(&a);
    for _ in 0..10 {
        quick.write_all(b"q").unwrap();
    }
    let n2 = sndpack(&a);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(b.pid(), libc::SIGCONT) }, 0);
    assert_eq!(n1 - n0, 1, "with Nagle, one small segment in flight at a time");
    assert_eq!(n2 - n1, 10, "with TCP_NODELAY, every write goes at once");
}

#[test]
fn buffer_sizes_take_effect_and_netstat_shows_them() {
    let (a, b) = udp_pair(24);
    // The listener's sizes, set before listen(2), are its connections'.
    let mut ls = TcpSocket::new_at(b.prefix()).unwrap();
    ls.set_recv_buffer_size(20000).unwrap();
    ls.set_send_buffer_size(12000).unwrap();
    ls.bind("0.0.0.0:5303").unwrap();
    let l = ls.listen(8).unwrap();
    let (mut c, mut s) = pair(&a, &l, 24, 5303, |s| {
        s.set_recv_buffer_size(32768).unwrap();
        s.set_send_buffer_size(16384).unwrap();
        s.set_ttl(17).unwrap();
    });
    let port = c.local_addr().unwrap().port();
    let line = netstat_line(&a, &["-anx"], "10.24.0.2.5303").unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f[f.len() - 2..], ["32768", "16384"], "{line}");
    let line = netstat_line(&b, &["-anx"], &format!("10.24.0.1.{port}")).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f[f.len() - 2..], ["20000", "12000"], "{line}");
    let t = b.ok("netstat", &["-anx"]);
    let listen = t.lines().find(|l| l.contains("LISTEN")).unwrap();
    assert!(listen.ends_with("20000   12000"), "{listen}");
    // The server's receive buffer is the window: with nobody reading, the client gets
    // no more than that much across, and the rest waits in its send buffer.
    c.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut sent = 0;
    let chunk = [5u8; 4096];
    while sent < 200_000 {
        match c.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let queued = wait_for("the server's receive buffer full", || {
        let line = netstat_line(&b, &["-an"], &format!("10.24.0.1.{port}"))?;
        let q: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        (q > 0).then_some(q)
    });
    assert!(queued <= 20000, "{queued} bytes held for a 20000-byte SO_RCVBUF");
    assert!(
        sent <= 20000 + 16384,
        "{sent} bytes written into 16384 + 20000 of buffers"
    );
    let mut got = vec![0u8; 1024];
    assert!(s.read(&mut got).unwrap() > 0);
}
