//! The preloadable socket library (`libpktbox_socket.so`, `pktbox run`) with unmodified
//! Debian programs as the referees: curl and python3's http.server on the stack against
//! their Linux twins in a namespace, and python event loops (epoll, poll, select, asyncio)
//! that mix a pipe, a kernel socket and stack sockets.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use pktbox_tests::*;

/// The library beside the binary, where `cargo build --workspace` puts it.
fn lib() -> PathBuf {
    let l = bin()
        .parent()
        .expect("the binary has a directory")
        .join("libpktbox_socket.so");
    assert!(
        l.is_file(),
        "{} is missing: run `cargo build --workspace` (or `cargo build -p pktbox-libsocket`) first",
        l.display()
    );
    l
}

/// `pktbox run -s PREFIX -- ARGS` as a Command.
fn on_stack(st: &StackProc, args: &[&str]) -> Command {
    let _ = lib();
    let mut c = Command::new(bin());
    c.arg("run").arg("-s").arg(st.prefix()).arg("--").args(args);
    c
}

fn in_ns(ns: &NetNs, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &ns.name]).args(args);
    c
}

fn sha256(p: &std::path::Path) -> String {
    let o = run("sha256sum", [p.as_os_str()]).ok();
    o.stdout.split_whitespace().next().unwrap_or_default().to_string()
}

/// A file of `mib` MiB of a pattern that repeats only every 251 bytes (not a multiple of
/// any segment or buffer size).
fn pattern_file(path: &std::path::Path, mib: usize) {
    let block: Vec<u8> = (0..251 * 4096).map(|i| (i % 251) as u8 ^ (i / 251 % 7) as u8).collect();
    let mut f = std::fs::File::create(path).expect("create the file to serve");
    let mut left = mib << 20;
    while left > 0 {
        let n = left.min(block.len());
        std::io::Write::write_all(&mut f, &block[..n]).expect("write the file to serve");
        left -= n;
    }
}

/// A v6 stack on a TAP in `ns`: Linux has 10.N.0.1/24 and 2001:db8:N::1/64, the stack .2.
fn peer(ns: &NetNs, net: u8) -> (StackProc, ChildGuard) {
    let (st, child) = start_variant_in_netns(ns, "io-pkt-v6-hc", "tap", &format!("tap=tap0,host=10.{net}.0.1/24"));
    // The namespace's own address answers through lo, which a new namespace has down.
    in_ns(ns, &["ip", "link", "set", "lo", "up"])
        .status()
        .expect("ip link set lo up");
    let a6 = format!("2001:db8:{net}::1/64");
    in_ns(ns, &["ip", "-6", "addr", "add", &a6, "dev", "tap0", "nodad"])
        .status()
        .expect("ip -6 addr add");
    st.ok("ifconfig", &["en0", &format!("10.{net}.0.2/24")]);
    let mine = format!("2001:db8:{net}::2");
    st.ok("ifconfig", &["en0", "inet6", &mine, "prefixlen", "64"]);
    wait_for("the stack's IPv6 address to pass DAD", || {
        let t = st.ok("ifconfig", &["en0"]);
        t.lines()
            .any(|l| l.contains(&mine) && !l.contains("tentative"))
            .then_some(())
    });
    (st, child)
}

/// Waits until `url` answers from where `cmd` runs.
fn wait_http(mut probe: impl FnMut() -> Command) {
    wait_for("the HTTP server to answer", || {
        let o = probe().stdout(Stdio::null()).stderr(Stdio::null()).status().ok()?;
        o.success().then_some(())
    });
}

#[test]
fn curl_on_the_stack_downloads_256_mib_from_linux_over_ipv4_and_ipv6() {
    if !can_run_linux(
        "curl_on_the_stack_downloads_256_mib_from_linux_over_ipv4_and_ipv6",
        &["curl", "python3", "sha256sum"],
    ) {
        return;
    }
    let _ = lib();
    let ns = NetNs::new();
    let (st, _child) = peer(&ns, 93);
    let www = TempDir::new();
    pattern_file(&www.join("big"), 256);
    let want = sha256(&www.join("big"));
    let mut srv = in_ns(&ns, &["python3", "-m", "http.server", "--bind", "::", "8080"]);
    srv.current_dir(www.path()).stdout(Stdio::null()).stderr(Stdio::null());
    let _srv = ChildGuard::spawn(srv);
    wait_http(|| in_ns(&ns, &["curl", "-sf", "-o", "/dev/null", "http://10.93.0.1:8080/"]));
    let before = st.open().stats().unwrap().tcp.rcvbyte;
    for url in ["http://10.93.0.1:8080/big", "http://[2001:db8:93::1]:8080/big"] {
        let out = www.join("got");
        let o = on_stack(&st, &["curl", "-sS", "--max-time", "120", "-o"])
            .arg(&out)
            .arg(url)
            .output()
            .expect("run curl on the stack");
        assert!(o.status.success(), "curl {url}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(sha256(&out), want, "what curl got from {url} differs");
        std::fs::remove_file(&out).ok();
    }
    // The bytes came through the stack, not the host's TCP.
    let got = st.open().stats().unwrap().tcp.rcvbyte - before;
    assert!(got >= 2 * (256 << 20), "the stack received only {got} bytes");
}

#[test]
fn linux_curl_downloads_from_python_http_server_on_the_stack() {
    if !can_run_linux(
        "linux_curl_downloads_from_python_http_server_on_the_stack",
        &["curl", "python3", "sha256sum"],
    ) {
        return;
    }
    let _ = lib();
    let ns = NetNs::new();
    let (st, _child) = peer(&ns, 94);
    let www = TempDir::new();
    pattern_file(&www.join("big"), 32);
    let want = sha256(&www.join("big"));
    let mut srv = on_stack(&st, &["python3", "-m", "http.server", "--bind", "::", "8081"]);
    srv.current_dir(www.path()).stdout(Stdio::null()).stderr(Stdio::null());
    let _srv = ChildGuard::spawn(srv);
    wait_for("python's listener on the stack", || {
        st.ok("netstat", &["-an"])
            .lines()
            .any(|l| l.contains(".8081") && l.contains("LISTEN"))
            .then_some(())
    });
    let out = www.join("got");
    for url in ["http://10.94.0.2:8081/big", "http://[2001:db8:94::2]:8081/big"] {
        let o = in_ns(&ns, &["curl", "-sS", "--max-time", "60", "-o"])
            .arg(&out)
            .arg(url)
            .output()
            .expect("run curl in the namespace");
        assert!(o.status.success(), "curl {url}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(sha256(&out), want, "what Linux curl got from {url} differs");
        std::fs::remove_file(&out).ok();
    }
    assert!(st.open().stats().unwrap().tcp.accepts >= 2);
}

/// Event loops of every kind python has, each mixing a pipe, a kernel socketpair and stack
/// sockets (a listener, a non-blocking connect, the accepted connection); then asyncio, a
/// refused non-blocking connect, UDP, a refused option, fork and dup.
const EVENT_LOOPS: &str = r#"
import asyncio, errno, os, selectors, socket, sys

port = int(sys.argv[1])
A = ("127.0.0.1", port)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(A)
l.listen(16)
l.setblocking(False)
r, w = os.pipe()
ka, kb = socket.socketpair()
assert ka.family == socket.AF_UNIX

for Sel in (selectors.EpollSelector, selectors.PollSelector, selectors.SelectSelector):
    sel = Sel()
    c = socket.socket()
    c.setblocking(False)
    e = c.connect_ex(A)
    assert e in (0, errno.EINPROGRESS), e
    sel.register(l, selectors.EVENT_READ, "listener")
    sel.register(r, selectors.EVENT_READ, "pipe")
    sel.register(ka, selectors.EVENT_READ, "kernel")
    sel.register(c, selectors.EVENT_WRITE, "connected")
    os.write(w, b"p")
    kb.send(b"k")
    seen, got, srv = set(), b"", None
    while got != b"HELLO":
        ready = sel.select(timeout=10)
        assert ready, (Sel.__name__, "nothing ready", seen)
        for key, ev in ready:
            d = key.data
            seen.add(d)
            if d == "listener":
                srv, peer = l.accept()
                assert peer == c.getsockname(), (peer, c.getsockname())
                srv.setblocking(False)
                sel.register(srv, selectors.EVENT_READ, "server")
            elif d == "pipe":
                assert os.read(r, 10) == b"p"
                sel.unregister(r)
            elif d == "kernel":
                assert ka.recv(10) == b"k"
                sel.unregister(ka)
            elif d == "connected":
                assert c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                assert c.getpeername() == A
                c.send(b"hello")
                sel.modify(c, selectors.EVENT_READ, "reply")
            elif d == "server":
                data = srv.recv(100)
                if data:
                    srv.send(data.upper())
                else:
                    sel.unregister(srv)
            elif d == "reply":
                got += c.recv(100)
    assert {"listener", "pipe", "kernel", "connected", "server", "reply"} <= seen, seen
    sel.close()
    c.close()
    srv.close()
    print(Sel.__name__, "ok")

handled = []

async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        writer.write(line.upper())
        await writer.drain()
    writer.close()
    handled.append(True)

async def amain():
    server = await asyncio.start_server(handle, "127.0.0.1", port + 1)
    loop = asyncio.get_running_loop()
    piped = loop.create_future()
    pr, pw = os.pipe()
    loop.add_reader(pr, lambda: piped.set_result(os.read(pr, 10)))
    os.write(pw, b"x")
    reader, writer = await asyncio.open_connection("127.0.0.1", port + 1)
    for i in range(50):
        writer.write(b"line %d\n" % i)
        await writer.drain()
        assert await reader.readline() == b"LINE %d\n" % i
    assert await piped == b"x"
    writer.close()
    await writer.wait_closed()
    while not handled:
        await asyncio.sleep(0.01)
    server.close()
    await server.wait_closed()
    print("asyncio ok")

asyncio.run(amain())

# A non-blocking connect to a port nobody listens on: writable, then SO_ERROR.
c = socket.socket()
c.setblocking(False)
assert c.connect_ex(("127.0.0.1", port + 2)) == errno.EINPROGRESS
sel = selectors.PollSelector()
sel.register(c, selectors.EVENT_WRITE)
assert sel.select(timeout=10)
assert c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
c.close()
print("refused ok")

# An option the stack lacks is refused, not ignored.
s = socket.socket()
try:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    raise SystemExit("TCP_CORK was taken")
except OSError as e:
    assert e.errno == errno.ENOPROTOOPT, e
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
s.close()
print("options ok")

# UDP: addresses, datagram boundaries, truncation.
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v.bind(("127.0.0.1", 0))
v.sendto(b"first datagram", u.getsockname())
v.sendto(b"second", u.getsockname())
d, frm = u.recvfrom(5)
assert (d, frm) == (b"first", v.getsockname()), (d, frm)
assert u.recvfrom(100) == (b"second", v.getsockname())
v.connect(u.getsockname())
v.send(b"connected")
assert u.recv(100) == b"connected"
print("udp ok")

# fork: the child writes on a stack socket made before the fork; dup: the copy is the
# same socket.
c = socket.create_connection(A)
l.setblocking(True)
srv, _ = l.accept()
pid = os.fork()
if pid == 0:
    c.sendall(b"from the child")
    os._exit(0)
os.waitpid(pid, 0)
c2 = c.dup()
assert c2.getpeername() == A
c2.sendall(b", and the dup")
c.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = srv.recv(100)
    if not b:
        break
    got += b
assert got == b"from the child, and the dup", got
print("fork ok")

# sendfile from a file to a stack socket, and two threads sending on one socket.
import tempfile, threading
c = socket.create_connection(A)
srv, _ = l.accept()
got = bytearray()
def drain():
    while True:
        b = srv.recv(65536)
        if not b:
            break
        got.extend(b)
reader = threading.Thread(target=drain)
reader.start()
with tempfile.TemporaryFile() as f:
    f.write(bytes(range(256)) * 4096)
    f.flush()
    f.seek(0)
    assert c.sendfile(f) == 256 * 4096
def blast(tag):
    for _ in range(200):
        c.sendall(tag * 100)
ts = [threading.Thread(target=blast, args=(t,)) for t in (b"a", b"b")]
for t in ts:
    t.start()
for t in ts:
    t.join()
c.shutdown(socket.SHUT_WR)
reader.join()
assert bytes(got[:256 * 4096]) == bytes(range(256)) * 4096
rest = bytes(got[256 * 4096:])
assert len(rest) == 2 * 200 * 100 and rest.count(b"a") == rest.count(b"b") == 200 * 100
print("sendfile ok")
"#;

#[test]
fn python_event_loops_mix_a_pipe_a_kernel_socket_and_stack_sockets() {
    if !need(
        "python_event_loops_mix_a_pipe_a_kernel_socket_and_stack_sockets",
        &["python3"],
    ) {
        return;
    }
    let st = StackProc::start(&[]);
    let dir = TempDir::new();
    let script = dir.join("loops.py");
    std::fs::write(&script, EVENT_LOOPS).unwrap();
    let accepts = st.open().stats().unwrap().tcp.accepts;
    let o = on_stack(&st, &["timeout", "60", "python3"])
        .arg(&script)
        .arg("7300")
        .output()
        .expect("run python on the stack");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "python: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for line in [
        "EpollSelector ok",
        "PollSelector ok",
        "SelectSelector ok",
        "asyncio ok",
        "refused ok",
        "options ok",
        "udp ok",
        "fork ok",
        "sendfile ok",
    ] {
        assert!(out.lines().any(|l| l == line), "no `{line}` in {out}");
    }
    // The listeners were the stack's: it accepted the connections.
    assert!(st.open().stats().unwrap().tcp.accepts >= accepts + 5);
}

#[test]
fn run_refuses_without_a_stack_and_reports_a_missing_command() {
    let _ = lib();
    let dir = TempDir::new();
    let o = Command::new(bin())
        .args(["run", "-s"])
        .arg(dir.path())
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no stack at"));
    let st = StackProc::start(&[]);
    let o = on_stack(&st, &["/nonexistent/program"]).output().unwrap();
    assert_eq!(o.status.code(), Some(127));
    // The program's kernel sockets stay the kernel's.
    let o = on_stack(&st, &["sh", "-c", "echo ok"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok\n");
}

#[test]
fn sockstat_names_the_program_its_pid_and_descriptors() {
    if !need("sockstat_names_the_program_its_pid_and_descriptors", &["python3"]) {
        return;
    }
    let st = StackProc::start(&[]);
    let dir = TempDir::new();
    let ready = dir.join("ready");
    // The program prints its pid and descriptor numbers, then holds its sockets until the
    // file it waits for goes.
    let script = format!(
        r#"
import os, socket, time
l = socket.socket(); l.bind(("127.0.0.1", 7400)); l.listen()
c = socket.create_connection(("127.0.0.1", 7400)); s, _ = l.accept()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 7401))
print(os.getpid(), l.fileno(), c.fileno(), s.fileno(), u.fileno(), flush=True)
open("{ready}", "w").close()
while os.path.exists("{ready}"):
    time.sleep(0.02)
"#,
        ready = ready.display()
    );
    let mut cmd = on_stack(&st, &["python3", "-c", &script]);
    cmd.stdout(Stdio::piped());
    let mut child = ChildGuard::spawn(cmd);
    wait_for("the program to hold its sockets", || ready.exists().then_some(()));
    let mut line = String::new();
    let out = child.child.stdout.as_mut().expect("the program's stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).unwrap();
    let n: Vec<u32> = line.split_whitespace().map(|w| w.parse().unwrap()).collect();
    let (pid, lfd, cfd, sfd, ufd) = (n[0], n[1], n[2], n[3], n[4]);
    let t = st.ok("sockstat", &["-n"]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0],
        "USER     COMMAND    PID   FD PROTO  LOCAL ADDRESS         FOREIGN ADDRESS"
    );
    let find = |fd: u32| {
        lines
            .iter()
            .find(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() >= 7 && w[2] == pid.to_string() && w[3] == fd.to_string()
            })
            .unwrap_or_else(|| panic!("no line for fd {fd} of {pid}:\n{t}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(find(lfd)[..2], ["root", "python3"]);
    assert_eq!(find(lfd)[4..], ["tcp", "127.0.0.1.7400", "*.*"]);
    assert_eq!(find(sfd)[4..6], ["tcp", "127.0.0.1.7400"]);
    assert_eq!(find(cfd)[6], "127.0.0.1.7400");
    assert_eq!(find(ufd)[4..], ["udp", "127.0.0.1.7401", "*.*"]);
    // -l: the listener only; -c: the two ends of the connection; -p: by port.
    let l = st.ok("sockstat", &["-nl"]);
    assert_eq!(l.lines().count(), 2, "{l}");
    let c = st.ok("sockstat", &["-nc"]);
    assert_eq!(c.lines().count(), 3, "{c}");
    let p = st.ok("sockstat", &["-n", "-p", "7401"]);
    assert_eq!(p.lines().count(), 2, "{p}");
    assert_eq!(st.ok("sockstat", &["-6"]).lines().count(), 1);
    std::fs::remove_file(&ready).unwrap();
    child.terminate();
}

/// `iperf3 ARGS` on the stack against Linux's `iperf3 -s -1` in `ns`: the client's summary.
fn iperf_to_linux(ns: &NetNs, st: &StackProc, port: u16, args: &[&str]) -> String {
    let p = port.to_string();
    let mut srv = in_ns(ns, &["iperf3", "-s", "-1", "-p", &p]);
    srv.stdout(Stdio::null()).stderr(Stdio::null());
    let _srv = ChildGuard::spawn(srv);
    wait_for("Linux's iperf3 to listen", || {
        let o = run(
            "ip",
            ["netns", "exec", &ns.name, "ss", "-Hltn", &format!("sport = :{port}")],
        );
        (!o.stdout.trim().is_empty()).then_some(())
    });
    let mut a = vec!["iperf3", "-c", "10.97.0.1", "-p", &p, "-t", "2"];
    a.extend_from_slice(args);
    let o = on_stack(st, &a).output().expect("run iperf3 on the stack");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "iperf3 {args:?}: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn iperf3_runs_on_the_stack_against_linux_both_ways_tcp_and_udp() {
    if !can_run_linux(
        "iperf3_runs_on_the_stack_against_linux_both_ways_tcp_and_udp",
        &["iperf3", "ss"],
    ) {
        return;
    }
    let _ = lib();
    let ns = NetNs::new();
    let (st, _child) = peer(&ns, 97);
    for (port, args) in [
        (5401, &[][..]),
        (5402, &["-R"][..]),
        (5403, &["-P", "4"][..]),
        (5404, &["-u", "-b", "50M"][..]),
    ] {
        let out = iperf_to_linux(&ns, &st, port, args);
        assert!(
            out.contains("iperf Done.") && out.lines().any(|l| l.contains("receiver")),
            "iperf3 {args:?}: {out}"
        );
        if args.first() == Some(&"-u") {
            // Every datagram arrived: the line says `0/N (0%)`.
            assert!(
                out.lines().any(|l| l.contains("receiver") && l.contains(" 0/")),
                "UDP lost datagrams on a clean link: {out}"
            );
        }
    }
    // And as the server: Linux's iperf3 sends to iperf3 -s on the stack.
    let mut srv = on_stack(&st, &["iperf3", "-s", "-1", "-p", "5405"]);
    srv.stdout(Stdio::null()).stderr(Stdio::null());
    let mut srv = ChildGuard::spawn(srv);
    wait_for("iperf3 -s on the stack", || {
        st.ok("netstat", &["-an"])
            .lines()
            .any(|l| l.contains(".5405") && l.contains("LISTEN"))
            .then_some(())
    });
    let o = in_ns(&ns, &["iperf3", "-c", "10.97.0.2", "-p", "5405", "-t", "2"])
        .output()
        .expect("run Linux's iperf3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let code = wait_for("iperf3 -s -1 on the stack to end", || srv.try_code());
    assert_eq!(code, Some(0), "iperf3 -s -1 on the stack ends cleanly");
}

#[test]
fn a_stack_that_goes_away_makes_calls_fail_not_hang() {
    if !need("a_stack_that_goes_away_makes_calls_fail_not_hang", &["python3"]) {
        return;
    }
    let mut st = StackProc::start(&[]);
    let dir = TempDir::new();
    let ready = dir.join("ready");
    let gone = dir.join("gone");
    let script = format!(
        r#"
import errno, os, socket, time
l = socket.socket(); l.bind(("127.0.0.1", 7500)); l.listen()
c = socket.create_connection(("127.0.0.1", 7500)); s, _ = l.accept()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 7501))
k1, k2 = socket.socketpair()
open("{ready}", "w").close()
while not os.path.exists("{gone}"):
    time.sleep(0.02)
c.settimeout(10)
assert c.recv(10) == b"", "a connection of a dead stack reads end of file"
assert c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNRESET
try:
    socket.socket()
    raise SystemExit("a socket of a dead stack was made")
except OSError as e:
    assert e.errno == errno.ENETDOWN, e
u.settimeout(10)
try:
    u.sendto(b"x", ("127.0.0.1", 7501))
    raise SystemExit("a datagram went to a dead stack")
except OSError as e:
    assert e.errno == errno.ECONNRESET, e
# The kernel's sockets are untouched.
k1.send(b"still here")
assert k2.recv(100) == b"still here"
print("gone ok")
"#,
        ready = ready.display(),
        gone = gone.display()
    );
    let mut cmd = on_stack(&st, &["timeout", "60", "python3", "-c", &script]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("run python on the stack");
    wait_for("the program to hold its sockets", || ready.exists().then_some(()));
    assert!(st.kill());
    std::fs::write(&gone, b"").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "gone ok");
}

/// A DNS server for the test, on Linux: `www.pktbox.test` has A 10.98.0.1 and AAAA
/// 2001:db8:98::1; every other name is NXDOMAIN. It counts the queries in a file.
const DNS_SERVER: &str = r#"
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
n = 0
while True:
    q, peer = s.recvfrom(1500)
    n += 1
    open(sys.argv[2], "w").write(str(n))
    qid, = struct.unpack("!H", q[:2])
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
    qtype, = struct.unpack("!H", q[i + 1:i + 3])
    question = q[12:i + 5]
    name = ".".join(labels).lower()
    ans = b""
    if name == "www.pktbox.test" and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("10.98.0.1")
    if name == "www.pktbox.test" and qtype == 28:
        ans = b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, 60, 16) + socket.inet_pton(socket.AF_INET6, "2001:db8:98::1")
    rcode = 0 if name == "www.pktbox.test" else 3
    hdr = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, 1 if ans else 0, 0, 0)
    s.sendto(hdr + question + ans, peer)
"#;

#[test]
fn getaddrinfo_resolves_through_the_stack_to_a_linux_dns_server() {
    if !can_run_linux(
        "getaddrinfo_resolves_through_the_stack_to_a_linux_dns_server",
        &["curl", "python3", "getent"],
    ) {
        return;
    }
    let _ = lib();
    let ns = NetNs::new();
    let (st, _child) = peer(&ns, 98);
    let dir = TempDir::new();
    let server = dir.join("dns.py");
    let count = dir.join("queries");
    std::fs::write(&server, DNS_SERVER).unwrap();
    let mut dns = in_ns(&ns, &["python3"]);
    dns.arg(&server).arg("10.98.0.1").arg(&count);
    dns.stdout(Stdio::null()).stderr(Stdio::null());
    let _dns = ChildGuard::spawn(dns);
    let conf = dir.join("resolv.conf");
    std::fs::write(&conf, "nameserver 10.98.0.1\nsearch pktbox.test\n").unwrap();
    wait_for("the DNS server to listen", || {
        let o = run("ip", ["netns", "exec", &ns.name, "ss", "-Hlun", "sport = :53"]);
        (!o.stdout.trim().is_empty()).then_some(())
    });
    let getent = |name: &str| {
        on_stack(&st, &["getent", "ahosts", name])
            .env("PKTBOX_RESOLV_CONF", &conf)
            .output()
            .expect("run getent on the stack")
    };
    let o = getent("www.pktbox.test");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "getent: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("10.98.0.1"), "{out}");
    assert!(out.contains("2001:db8:98::1"), "{out}");
    // The search domain completes a short name; an unknown name is not found (exit 2).
    assert!(String::from_utf8_lossy(&getent("www").stdout).contains("10.98.0.1"));
    assert_eq!(getent("nothere.pktbox.test").status.code(), Some(2));
    let asked: u32 = std::fs::read_to_string(&count).unwrap().trim().parse().unwrap();
    assert!(asked >= 4, "the server saw {asked} queries");
    // And a program that resolves and connects: curl by name, through the stack.
    let www = TempDir::new();
    std::fs::write(www.join("hello"), "hello by name\n").unwrap();
    let mut srv = in_ns(&ns, &["python3", "-m", "http.server", "--bind", "::", "8080"]);
    srv.current_dir(www.path()).stdout(Stdio::null()).stderr(Stdio::null());
    let _srv = ChildGuard::spawn(srv);
    wait_http(|| in_ns(&ns, &["curl", "-sf", "-o", "/dev/null", "http://10.98.0.1:8080/"]));
    for flag in ["-4", "-6"] {
        let o = on_stack(
            &st,
            &[
                "curl",
                "-sS",
                flag,
                "--max-time",
                "20",
                "http://www.pktbox.test:8080/hello",
            ],
        )
        .env("PKTBOX_RESOLV_CONF", &conf)
        .output()
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "hello by name\n",
            "curl {flag}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// Lists getifaddrs, then if_nametoindex and if_indextoname of argv[1].
const IFADDRS_C: &str = r#"
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    struct ifaddrs *ifa, *p;
    char host[NI_MAXHOST], name[IF_NAMESIZE];
    if (getifaddrs(&ifa) != 0) { perror("getifaddrs"); return 1; }
    for (p = ifa; p; p = p->ifa_next) {
        if (!p->ifa_addr) continue;
        int fam = p->ifa_addr->sa_family;
        if (fam == AF_INET || fam == AF_INET6) {
            socklen_t len = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
            if (getnameinfo(p->ifa_addr, len, host, sizeof host, 0, 0, NI_NUMERICHOST)) return 1;
            printf("%s %s %s%s\n", p->ifa_name, fam == AF_INET ? "inet" : "inet6", host,
                   (p->ifa_flags & IFF_UP) ? " up" : "");
        } else {
            printf("%s link\n", p->ifa_name);
        }
    }
    freeifaddrs(ifa);
    unsigned idx = if_nametoindex(argv[1]);
    printf("index %u name %s\n", idx, if_indextoname(idx, name) ? name : "?");
    printf("missing %u\n", if_nametoindex("nosuchif0"));
    return 0;
}
"#;

#[test]
fn getifaddrs_and_if_nametoindex_see_the_stack_s_interfaces() {
    if !need("getifaddrs_and_if_nametoindex_see_the_stack_s_interfaces", &["gcc"]) {
        return;
    }
    let dir = TempDir::new();
    std::fs::write(dir.join("ifaddrs.c"), IFADDRS_C).unwrap();
    let exe = dir.join("ifaddrs");
    let o = Command::new("gcc")
        .arg("-o")
        .arg(&exe)
        .arg(dir.join("ifaddrs.c"))
        .output()
        .unwrap();
    assert!(o.status.success(), "gcc: {}", String::from_utf8_lossy(&o.stderr));
    let st = StackProc::start(&[]);
    st.ok("ifconfig", &["lo0", "alias", "127.0.0.77/8"]);
    let o = on_stack(&st, &[exe.to_str().unwrap(), "lo0"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"lo0 link"), "{out}");
    assert!(lines.contains(&"lo0 inet 127.0.0.1 up"), "{out}");
    assert!(lines.contains(&"lo0 inet 127.0.0.77 up"), "{out}");
    // The stack's names, not the kernel's: no `lo`, `eth0` here.
    assert!(lines.iter().all(|l| !l.starts_with("lo ")), "{out}");
    let idx = st.if_json("lo0")["index"].as_u64().unwrap();
    assert!(lines.contains(&format!("index {idx} name lo0").as_str()), "{out}");
    assert!(lines.contains(&"missing 0"), "{out}");
}

/// A signal without SA_RESTART interrupts a blocking accept and a blocking recv on stack
/// sockets with EINTR, as it does the kernel's.
const EINTR_C: &str = r#"
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static void on_alarm(int s) { (void)s; }
int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7700) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4)) { perror("listen"); return 1; }
    alarm(1);
    int r = accept(l, 0, 0);
    printf("accept %d %s\n", r, r < 0 && errno == EINTR ? "EINTR" : strerror(errno));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
    char b[8];
    alarm(1);
    ssize_t n = recv(c, b, sizeof b, 0);
    printf("recv %zd %s\n", n, n < 0 && errno == EINTR ? "EINTR" : strerror(errno));
    return 0;
}
"#;

#[test]
fn signals_interrupt_blocking_calls_on_stack_sockets() {
    if !need("signals_interrupt_blocking_calls_on_stack_sockets", &["gcc"]) {
        return;
    }
    let dir = TempDir::new();
    std::fs::write(dir.join("eintr.c"), EINTR_C).unwrap();
    let exe = dir.join("eintr");
    let o = Command::new("gcc")
        .arg("-o")
        .arg(&exe)
        .arg(dir.join("eintr.c"))
        .output()
        .unwrap();
    assert!(o.status.success(), "gcc: {}", String::from_utf8_lossy(&o.stderr));
    let st = StackProc::start(&[]);
    let o = on_stack(&st, &["timeout", "30", exe.to_str().unwrap()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(out, "accept -1 EINTR\nrecv -1 EINTR\n");
}

/// What a connected UDP socket of a program on the stack hears when Linux's port is
/// closed: python's recv raises ConnectionRefusedError (ECONNREFUSED from Linux's port
/// unreachable, over IPv6 and IPv4), once; the socket then works on (a DNS resolver
/// relies on this rather than waiting out its timeout).
#[test]
fn a_program_s_connected_udp_socket_hears_port_unreachable() {
    if !can_run_linux(
        "a_program_s_connected_udp_socket_hears_port_unreachable",
        &["ip", "python3"],
    ) {
        return;
    }
    let ns = NetNs::new();
    let (st, _child) = peer(&ns, 84);
    let script = r#"
import socket, sys
for fam, host in ((socket.AF_INET6, "2001:db8:84::1"), (socket.AF_INET, "10.84.0.1")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(10)
    s.connect((host, 9))
    s.send(b"anyone?")
    try:
        s.recv(100)
        print("no error", fam)
        sys.exit(1)
    except ConnectionRefusedError:
        pass
    # Reported once: a receive now times out rather than failing again.
    s.settimeout(0.3)
    try:
        s.recv(100)
        print("data?", fam)
        sys.exit(1)
    except socket.timeout:
        pass
    print("refused ok", fam)
"#;
    let o = on_stack(&st, &["timeout", "60", "python3", "-c", script])
        .output()
        .expect("run python on the stack");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "python: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(out.lines().filter(|l| l.starts_with("refused ok")).count(), 2, "{out}");
}
