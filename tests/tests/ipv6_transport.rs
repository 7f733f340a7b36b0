//! TCP and UDP over IPv6 (the v6 variant), with Linux's kernel as the referee over a TAP in
//! a namespace of the test's own: 256 MiB each way checked by SHA-256 (Linux's nc -6 and
//! the stack's nc -6), the same over a lossy, duplicating, reordering link, UDP both ways
//! with datagrams that fragment, a path MTU lowered by Linux's "packet too big" where Linux
//! forwards onto a 1280-byte link, IPv4 and IPv6 transfers at once, and a capture of
//! `ip6 and tcp` read back by Linux's tcpdump.

use std::io::Read;
use std::net::Shutdown;
use std::process::{Command, Stdio};
use std::time::Duration;

use pktbox_stack::socket::{TcpListener, TcpStream, UdpSocket};
use pktbox_tests::*;

/// What the Linux side runs.
const LINUX_TOOLS: &[&str] = &["ip", "nc", "sha256sum", "bash"];

/// A shell command run inside namespace `ns`.
fn in_ns(ns: &str, script: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "bash", "-c", script]);
    c
}

/// Runs a command inside `ns`, which must succeed.
fn ns_ok(ns: &str, args: &[&str]) -> Output {
    let mut full = vec!["netns", "exec", ns];
    full.extend_from_slice(args);
    run("ip", full).ok()
}

/// Waits until something in `ns` listens on TCP (or UDP) port `port`.
fn wait_listening(ns: &str, udp: bool, port: u16) {
    let flag = if udp { "-Hlun" } else { "-Hltn" };
    let filter = format!("sport = :{port}");
    wait_for(&format!("a listener on port {port} in {ns}"), || {
        let o = run("ip", ["netns", "exec", ns, "ss", flag, &filter]);
        (o.code == Some(0) && !o.stdout.trim().is_empty()).then_some(())
    });
}

/// The inet6 lines of `ifconfig IF`.
fn inet6_lines(st: &StackProc, ifname: &str) -> Vec<String> {
    st.ok("ifconfig", &[ifname])
        .lines()
        .filter(|l| l.trim_start().starts_with("inet6 "))
        .map(|l| l.trim().to_string())
        .collect()
}

/// Gives the stack `addr`/64 on en0 and waits until DAD has passed.
fn add_v6(st: &StackProc, addr: &str) {
    st.ok("ifconfig", &["en0", "inet6", addr, "prefixlen", "64"]);
    wait_for(&format!("{addr} on en0 to pass DAD"), || {
        inet6_lines(st, "en0")
            .into_iter()
            .find(|l| l.split_whitespace().nth(1) == Some(addr) && !l.contains("tentative"))
    });
}

/// A v6 stack on a TAP in `ns`: Linux's side is `2001:db8:N::1/64` (and `10.N.0.1/24`),
/// the stack's `2001:db8:N::2/64` (and `10.N.0.2/24`). `extra` adds driver options.
fn v6_peer(ns: &NetNs, net: u8, extra: &str) -> (StackProc, ChildGuard) {
    let (st, child) = start_variant_in_netns(
        ns,
        "io-pkt-v6-hc",
        "tap",
        &format!("tap=tap0,host=10.{net}.0.1/24{extra}"),
    );
    ns_ok(
        &ns.name,
        &[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("2001:db8:{net}::1/64"),
            "dev",
            "tap0",
            "nodad",
        ],
    );
    st.ok("ifconfig", &["en0", &format!("10.{net}.0.2/24")]);
    add_v6(&st, &format!("2001:db8:{net}::2"));
    (st, child)
}

/// Our TcpStream sends `total` bytes of the pattern to Linux's `nc -l` at `[addr]:port`
/// inside `ns`, which hashes what it got; both sums must be equal.
fn stack_sends(ns: &str, st: &StackProc, addr: &str, port: u16, total: usize, seed: u64) {
    let nc = if addr.contains(':') { "nc -6" } else { "nc -4" };
    let rx = in_ns(ns, &format!("{nc} -l {addr} {port} | sha256sum"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(ns, false, port);
    let to = if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    };
    let mut c = TcpStream::connect_at(st.prefix(), to.as_str(), Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("connect to {to}: {e}"));
    let sent = send_pattern(&mut c, total, seed);
    c.shutdown(Shutdown::Write).unwrap();
    drop(c);
    let out = rx.wait_with_output().unwrap();
    let got = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        got.split_whitespace().next(),
        Some(sent.as_str()),
        "sha256 at Linux's end ({to}, {total} bytes)"
    );
}

/// Linux's `nc` inside `ns` sends `total` random bytes it hashed to our TcpListener on
/// `[addr]:port`, which hashes what it got.
fn linux_sends(ns: &str, st: &StackProc, addr: &str, port: u16, total: usize) {
    let v6 = addr.contains(':');
    let bind = if v6 {
        format!("[::]:{port}")
    } else {
        format!("0.0.0.0:{port}")
    };
    let l = TcpListener::bind_at(st.prefix(), bind.as_str(), 4).unwrap();
    let dir = TempDir::new();
    let (file, sumfile) = (dir.join("data"), dir.join("sum"));
    let nc = if v6 { "nc -6" } else { "nc -4" };
    let tx = in_ns(
        ns,
        &format!(
            "head -c {total} /dev/urandom | tee >(sha256sum > {}) > {} && {nc} -N {addr} {port} < {}",
            sumfile.display(),
            file.display(),
            file.display()
        ),
    )
    .spawn()
    .unwrap();
    l.set_accept_timeout(Some(Duration::from_secs(60))).unwrap();
    let (mut s, peer) = l.accept().unwrap();
    assert_eq!(peer.is_ipv6(), v6, "the peer's family: {peer}");
    let (n, sum) = recv_all(&mut s);
    // Close our side too, or nc waits for it forever.
    drop(s);
    let o = tx.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(n, total);
    let want = std::fs::read_to_string(&sumfile).unwrap();
    assert_eq!(
        want.split_whitespace().next(),
        Some(sum.as_str()),
        "sha256 at our end ({addr})"
    );
}

/// Linux's nc -6 sends `total` bytes to the stack's own `nc -6 -l`, whose output is hashed.
fn linux_sends_to_our_nc(ns: &str, st: &StackProc, addr: &str, port: u16, total: usize) {
    let dir = TempDir::new();
    let (file, sumfile) = (dir.join("data"), dir.join("sum"));
    let ours = Command::new("bash")
        .arg("-c")
        .arg(format!("{} nc -6 -l {port} | sha256sum", bin().display()))
        .env("SOCK", st.prefix())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pattern = format!(".{port} ");
    wait_for("the stack's nc -6 -l listening", || {
        let t = st.ok("netstat", &["-an", "-f", "inet6"]);
        t.lines()
            .any(|l| l.starts_with("tcp6") && l.contains(&pattern) && l.contains("LISTEN"))
            .then_some(())
    });
    ns_ok(
        ns,
        &[
            "bash",
            "-c",
            &format!(
                "head -c {total} /dev/urandom | tee >(sha256sum > {}) > {} && nc -6 -N {addr} {port} < {}",
                sumfile.display(),
                file.display(),
                file.display()
            ),
        ],
    );
    let out = ours.wait_with_output().unwrap();
    let got = String::from_utf8_lossy(&out.stdout);
    let want = std::fs::read_to_string(&sumfile).unwrap();
    assert_eq!(
        got.split_whitespace().next(),
        want.split_whitespace().next(),
        "sha256 through the stack's nc -6"
    );
}

/// 2% loss each way on tap0, made by the Linux side (`numgen random`), for both families.
fn lossy_rules(ns: &str) {
    let dir = TempDir::new();
    let rules = dir.join("lossy.nft");
    std::fs::write(
        &rules,
        "table inet lossy {\n\
         \tchain in { type filter hook input priority 0; iifname \"tap0\" numgen random mod 100 < 2 drop; }\n\
         \tchain out { type filter hook output priority 0; oifname \"tap0\" numgen random mod 100 < 2 drop; }\n\
         }\n",
    )
    .unwrap();
    ns_ok(ns, &["nft", "-f", &rules.display().to_string()]);
}

#[test]
fn tcp_over_v6_moves_256_mib_each_way() {
    if !can_run_linux("tcp_over_v6_moves_256_mib_each_way", LINUX_TOOLS) {
        return;
    }
    let ns = NetNs::new();
    let (st, _child) = v6_peer(&ns, 90, "");
    stack_sends(&ns.name, &st, "2001:db8:90::1", 7601, 256 << 20, 1);
    linux_sends(&ns.name, &st, "2001:db8:90::2", 7602, 256 << 20);
    linux_sends_to_our_nc(&ns.name, &st, "2001:db8:90::2", 7603, 16 << 20);
    // All of it went over IPv6: the v6 counters saw the segments, and TCP/IPv6 took the
    // interface's offloads (TSO6 out, super-frames in).
    let s6 = st.open().stats6().unwrap();
    assert!(s6.ip6.localout > 1000 && s6.ip6.delivered > 1000, "{:?}", s6.ip6);
    let j = st.if_json("en0");
    let tso = j["offload"]["tso_frames_out"].as_u64().unwrap_or(0);
    assert!(tso > 0, "TSO6 frames went out: {j}");
}

#[test]
fn tcp_over_v6_survives_loss_duplicates_and_reordering() {
    if !can_run_linux("tcp_over_v6_survives_loss_duplicates_and_reordering", LINUX_TOOLS) {
        return;
    }
    if !have("nft") {
        skip("tcp_over_v6_survives_loss_duplicates_and_reordering", "no nft");
        return;
    }
    // 2% loss each way by Linux's nftables, duplicates and reordering (with delay and
    // jitter) by the tap driver, seeded. 16 MiB each way: with 20 ms of delay and the
    // loss, 256 MiB would take minutes.
    let ns = NetNs::new();
    let (st, _child) = v6_peer(&ns, 91, ",dup=1,reorder=10,delay=20,jitter=5,seed=7");
    lossy_rules(&ns.name);
    stack_sends(&ns.name, &st, "2001:db8:91::1", 7611, 16 << 20, 2);
    linux_sends(&ns.name, &st, "2001:db8:91::2", 7612, 16 << 20);
    let tcp = st.open().stats().unwrap().tcp;
    assert!(tcp.sndrexmitpack > 0, "a lossy link makes us retransmit: {tcp:?}");
    assert!(
        tcp.rcvduppack > 0 || tcp.rcvoopack > 0,
        "duplicates or reordering seen: {tcp:?}"
    );
}

#[test]
fn tcp_over_v6_under_loss_alone_moves_256_mib() {
    if !can_run_linux("tcp_over_v6_under_loss_alone_moves_256_mib", LINUX_TOOLS) {
        return;
    }
    if !have("nft") {
        skip("tcp_over_v6_under_loss_alone_moves_256_mib", "no nft");
        return;
    }
    let ns = NetNs::new();
    let (st, _child) = v6_peer(&ns, 92, "");
    lossy_rules(&ns.name);
    stack_sends(&ns.name, &st, "2001:db8:92::1", 7621, 256 << 20, 3);
    linux_sends(&ns.name, &st, "2001:db8:92::2", 7622, 256 << 20);
    let tcp = st.open().stats().unwrap().tcp;
    assert!(tcp.sndrexmitpack > 0, "a lossy link makes us retransmit: {tcp:?}");
}

/// The Linux side of the UDP test: a python3 echo for `n` datagrams on `[addr]:port`.
const PY_ECHO: &str = r"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(30)
for _ in range(int(sys.argv[3])):
    d, a = s.recvfrom(65535)
    s.sendto(d, a)
";

/// A python3 client: sends datagrams of the sizes given to `[addr]:port`, checks each
/// echo, prints `ok N`.
const PY_CLIENT: &str = r"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(10)
for i, n in enumerate(map(int, sys.argv[3:])):
    d = bytes((i * 7 + j) % 251 for j in range(n))
    s.sendto(d, (sys.argv[1], int(sys.argv[2])))
    e, a = s.recvfrom(65535)
    assert e == d, (n, len(e))
    assert a[0] == sys.argv[1], a
print('ok', len(sys.argv) - 3)
";

#[test]
fn udp_over_v6_both_ways_with_fragments() {
    if !can_run_linux("udp_over_v6_both_ways_with_fragments", &["ip", "python3", "ss"]) {
        return;
    }
    let ns = NetNs::new();
    let (st, _child) = v6_peer(&ns, 93, "");
    let sizes = [1usize, 1452, 1453, 4000, 9000];
    // The stack sends to Linux's echo: 1452 bytes fill a 1500-byte packet, 1453 and more
    // go out in fragments, and come back in Linux's.
    let mut echo = Command::new("ip");
    echo.args([
        "netns",
        "exec",
        &ns.name,
        "python3",
        "-c",
        PY_ECHO,
        "2001:db8:93::1",
        "7701",
    ])
    .arg(sizes.len().to_string());
    let echo = ChildGuard::spawn(echo);
    wait_listening(&ns.name, true, 7701);
    let mut u = UdpSocket::bind_at(st.prefix(), "[::]:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 65536];
    for (i, &n) in sizes.iter().enumerate() {
        let d: Vec<u8> = (0..n).map(|j| ((i * 13 + j) % 253) as u8).collect();
        assert_eq!(u.send_to(&d, "[2001:db8:93::1]:7701").unwrap(), n);
        let (got, from) = u
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("echo of {n} bytes: {e}"));
        assert_eq!(from.to_string(), "[2001:db8:93::1]:7701");
        assert!(buf[..got] == d[..], "echo of {n} bytes: {got} bytes, not the same");
    }
    drop(echo);
    // Linux sends to the stack's echo.
    let mut srv = UdpSocket::bind_at(st.prefix(), "[::]:7702").unwrap();
    srv.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let n = sizes.len();
    let server = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let mut peers = Vec::new();
        for _ in 0..n {
            let (got, from) = srv.recv_from(&mut buf).expect("a datagram from Linux");
            srv.send_to(&buf[..got], from).expect("echo");
            peers.push((got, from));
        }
        peers
    });
    let args: Vec<String> = sizes.iter().map(|n| n.to_string()).collect();
    let mut cmd = vec!["python3", "-c", PY_CLIENT, "2001:db8:93::2", "7702"];
    cmd.extend(args.iter().map(|s| s.as_str()));
    let o = ns_ok(&ns.name, &cmd);
    assert_eq!(o.stdout.trim(), format!("ok {n}"), "{o:#?}");
    let peers = server.join().unwrap();
    assert_eq!(peers.iter().map(|p| p.0).collect::<Vec<_>>(), sizes);
    assert!(
        peers.iter().all(|p| p.1.ip().to_string() == "2001:db8:93::1"),
        "{peers:?}"
    );
    // Fragments both ways: ours reassembled here, and sent in pieces.
    let s6 = st.open().stats6().unwrap();
    assert!(s6.ip6.reassembled >= 4 && s6.ip6.fragmented >= 4, "{:?}", s6.ip6);
}

#[test]
fn a_packet_too_big_from_a_linux_router_lowers_the_path_mtu() {
    if !can_run_linux("a_packet_too_big_from_a_linux_router_lowers_the_path_mtu", LINUX_TOOLS) {
        return;
    }
    // The stack's namespace (R) is a Linux router between the TAP and a 1280-byte veth
    // link to a second namespace (H). H advertises an MSS of 1440 (advmss), so the stack
    // sends full 1500-byte packets until R's packet too big says 1280.
    let r = NetNs::new();
    let h = NetNs::new();
    let (st, _child) = v6_peer(&r, 94, "");
    ns_ok(
        &r.name,
        &[
            "ip", "link", "add", "v6r", "mtu", "1280", "type", "veth", "peer", "name", "v6h", "netns", &h.name,
        ],
    );
    ns_ok(
        &r.name,
        &["ip", "-6", "addr", "add", "2001:db8:95::1/64", "dev", "v6r", "nodad"],
    );
    ns_ok(&r.name, &["ip", "link", "set", "v6r", "up"]);
    ns_ok(&r.name, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    ns_ok(&h.name, &["ip", "link", "set", "v6h", "mtu", "1280", "up"]);
    ns_ok(
        &h.name,
        &["ip", "-6", "addr", "add", "2001:db8:95::2/64", "dev", "v6h", "nodad"],
    );
    ns_ok(
        &h.name,
        &[
            "ip",
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:db8:95::1",
            "advmss",
            "1440",
        ],
    );
    st.ok(
        "route",
        &["add", "-inet6", "2001:db8:95::", "-prefixlen", "64", "2001:db8:94::1"],
    );
    let before = st.ok("route", &["-n", "get", "-inet6", "2001:db8:95::2"]);
    assert!(!before.contains(" 1280 "), "{before}");
    stack_sends(&h.name, &st, "2001:db8:95::2", 7801, 8 << 20, 5);
    let s6 = st.open().stats6().unwrap();
    assert!(s6.icmp6.inhist[2] >= 1, "a packet too big came in: {:?}", s6.icmp6);
    assert!(s6.icmp6.pmtuchg >= 1, "{:?}", s6.icmp6);
    // route get shows the learnt MTU in its metrics line.
    let after = st.ok("route", &["-n", "get", "-inet6", "2001:db8:95::2"]);
    let metrics = after
        .lines()
        .skip_while(|l| !l.contains("recvpipe"))
        .nth(1)
        .unwrap_or_else(|| panic!("no metrics line: {after}"));
    let cols: Vec<&str> = metrics.split_whitespace().collect();
    assert_eq!(cols.get(6), Some(&"1280"), "route get's mtu column: {after}");
    // And the path keeps working in the other direction too, now within 1280.
    linux_sends(&h.name, &st, "2001:db8:94::2", 7802, 4 << 20);
}

#[test]
fn v4_and_v6_transfers_at_once() {
    if !can_run_linux("v4_and_v6_transfers_at_once", LINUX_TOOLS) {
        return;
    }
    let ns = NetNs::new();
    let (st, _child) = v6_peer(&ns, 96, "");
    let st = std::sync::Arc::new(st);
    let name = ns.name.clone();
    std::thread::scope(|s| {
        let (a, b) = (st.clone(), st.clone());
        let (n1, n2) = (name.clone(), name.clone());
        let t4 = s.spawn(move || stack_sends(&n1, &a, "10.96.0.1", 7901, 64 << 20, 6));
        let t6 = s.spawn(move || stack_sends(&n2, &b, "2001:db8:96::1", 7902, 64 << 20, 7));
        t4.join().unwrap();
        t6.join().unwrap();
        let (a, b) = (st.clone(), st.clone());
        let (n1, n2) = (name.clone(), name.clone());
        let t4 = s.spawn(move || linux_sends(&n1, &a, "10.96.0.2", 7903, 64 << 20));
        let t6 = s.spawn(move || linux_sends(&n2, &b, "2001:db8:96::2", 7904, 64 << 20));
        t4.join().unwrap();
        t6.join().unwrap();
    });
    let s = st.open().stats().unwrap();
    let s6 = st.open().stats6().unwrap();
    // Both families carried their share (in super-frames both ways, so counts are low).
    let (n4, n6) = (s.ip.delivered + s.ip.localout, s6.ip6.delivered + s6.ip6.localout);
    assert!(n4 > 1000 && n6 > 1000, "{:?} {:?}", s.ip, s6.ip6);
}

#[test]
fn a_capture_of_ip6_and_tcp_is_read_back_by_linux_tcpdump() {
    if !can_run_linux(
        "a_capture_of_ip6_and_tcp_is_read_back_by_linux_tcpdump",
        &["ip", "nc", "tcpdump", "bash", "sha256sum"],
    ) {
        return;
    }
    let ns = NetNs::new();
    let (st, _child) = v6_peer(&ns, 97, "");
    let dir = TempDir::new();
    let file = dir.join("v6.pcap");
    let file_s = file.display().to_string();
    let mut cmd = Command::new(bin());
    cmd.args(["tcpdump", "-i", "en0", "-U", "-w", &file_s, "ip6 and tcp"])
        .env("SOCK", st.prefix())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut dump = ChildGuard::spawn(cmd);
    let mut err = std::io::BufReader::new(dump.child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("listening on en0"), "{line}");
    // IPv4 traffic at the same time must not be in the capture.
    let v4 = Command::new("ip")
        .args(["netns", "exec", &ns.name, "ping", "-c", "3", "-i", "0.2", "10.97.0.2"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(v4.success());
    stack_sends(&ns.name, &st, "2001:db8:97::1", 7951, 1 << 20, 8);
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(dump.child.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    assert_eq!(dump.terminate(), Some(0), "{rest}");
    let linux = run("tcpdump", ["-r", &file_s, "-nn"]).ok();
    let lines: Vec<&str> = linux.stdout.lines().collect();
    assert!(lines.len() >= 7, "{}", linux.stdout);
    let out = "2001:db8:97::2.";
    let back = "2001:db8:97::1.7951 > 2001:db8:97::2.";
    for l in &lines {
        let ok = l.contains(" IP6 ")
            && ((l.contains(&format!(" IP6 {out}")) && l.contains(" > 2001:db8:97::1.7951: "))
                || l.contains(&format!(" IP6 {back}")));
        assert!(ok, "not our v6 connection: {l}\n{}", linux.stdout);
    }
    assert!(lines[0].contains("Flags [S]"), "{}", lines[0]);
    assert!(lines[1].contains("Flags [S.]"), "{}", lines[1]);
    assert!(lines.iter().any(|l| l.contains("Flags [F")), "{}", linux.stdout);
    // The data went one way: our last data segment ends at relative sequence 2^20 + 1,
    // and Linux acknowledged all of it.
    let last = format!(":{}, ack 1", (1 << 20) + 1);
    let acked = format!("ack {}", (1 << 20) + 1);
    assert!(lines.iter().any(|l| l.contains(&last)), "{}", linux.stdout);
    // Or, when our FIN rode on the last data segment, the data and the FIN at once.
    let acked_fin = format!("ack {},", (1 << 20) + 2);
    assert!(
        lines.iter().any(|l| l.contains(&acked) || l.contains(&acked_fin)),
        "{}",
        linux.stdout
    );
    // Our FIN goes out once (again only as a retransmission of the same sequence number),
    // never a second FIN after the first was acknowledged.
    let fin_seqs: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| l.contains(&format!(" IP6 {out}")) && l.contains("Flags [F"))
        .filter_map(|l| l.split("seq ").nth(1)?.split(',').next())
        .map(|s| s.rsplit(':').next().unwrap_or(s))
        .collect();
    assert_eq!(fin_seqs.len(), 1, "{}", linux.stdout);
}

/// The offload counts of en0 from `ifconfig --json`: TSO frames out, LRO frames in.
fn offload_counts(st: &StackProc) -> (u64, u64) {
    let j = st.if_json("en0");
    let n = |k: &str| j["offload"][k].as_u64().unwrap_or_else(|| panic!("offload.{k} in {j}"));
    (n("tso_frames_out"), n("lro_frames_in"))
}

/// What Linux's ethtool says of a feature of the TAP's host side (None without ethtool).
fn host_feature(ns: &NetNs, feature: &str) -> Option<String> {
    if !have("ethtool") {
        return None;
    }
    let o = run("ip", ["netns", "exec", &ns.name, "ethtool", "-k", "tap0"]).ok();
    o.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{feature}: ")).map(|v| v.to_string()))
}

#[test]
fn tso6_and_v6_checksum_offload_engage_and_turn_off() {
    if !can_run_linux("tso6_and_v6_checksum_offload_engage_and_turn_off", LINUX_TOOLS) {
        return;
    }
    let ns = NetNs::new();
    let (st, _child) = v6_peer(&ns, 99, "");
    let ifc = st.ok("ifconfig", &["en0"]);
    assert!(
        ifc.contains("TCP6CSUM_Rx,TCP6CSUM_Tx,UDP6CSUM_Rx,UDP6CSUM_Tx,TSO6,LRO>"),
        "{ifc}"
    );
    if let Some(v) = host_feature(&ns, "tx-tcp6-segmentation") {
        assert!(v.starts_with("on"), "host side tx-tcp6-segmentation: {v}");
    }
    // On: super-frames both ways over IPv6 alone (no IPv4 traffic here).
    stack_sends(&ns.name, &st, "2001:db8:99::1", 7971, 32 << 20, 9);
    linux_sends(&ns.name, &st, "2001:db8:99::2", 7972, 32 << 20);
    let (tso, lro) = offload_counts(&st);
    assert!(tso > 0 && lro > 0, "TSO6 frames out {tso}, LRO frames in {lro}");
    // Off: everything in software, and the host stops sending super-frames.
    st.ok("ifconfig", &["en0", "-tso6", "-tcp6csum", "-udp6csum"]);
    let ifc = st.ok("ifconfig", &["en0"]);
    assert!(
        ifc.contains("\tenabled=83c80<TSO4,TCP4CSUM_Rx,TCP4CSUM_Tx,UDP4CSUM_Rx,UDP4CSUM_Tx,LRO>"),
        "{ifc}"
    );
    if let Some(v) = host_feature(&ns, "tx-tcp6-segmentation") {
        assert!(v.starts_with("off"), "host side tx-tcp6-segmentation: {v}");
    }
    stack_sends(&ns.name, &st, "2001:db8:99::1", 7973, 32 << 20, 10);
    linux_sends(&ns.name, &st, "2001:db8:99::2", 7974, 32 << 20);
    assert_eq!(offload_counts(&st), (tso, lro), "nothing offloaded over IPv6");
    // Checksum offload alone (no TSO6): segments of one MTU, their checksums left to the
    // interface; the data still arrives whole.
    st.ok("ifconfig", &["en0", "tcp6csum", "udp6csum"]);
    stack_sends(&ns.name, &st, "2001:db8:99::1", 7975, 8 << 20, 11);
    assert_eq!(offload_counts(&st).0, tso, "no TSO6 frames without tso6");
    st.ok("ifconfig", &["en0", "tso6"]);
    stack_sends(&ns.name, &st, "2001:db8:99::1", 7976, 8 << 20, 12);
    assert!(offload_counts(&st).0 > tso, "TSO6 again");
}

#[test]
fn linux_forwarding_in_software_takes_our_tso6_checksums() {
    if !can_run_linux(
        "linux_forwarding_in_software_takes_our_tso6_checksums",
        &["ip", "nc", "sha256sum", "bash", "ethtool"],
    ) {
        return;
    }
    // Linux forwards what the stack sends (TSO6 super-frames whose checksum holds only
    // the pseudo-header's sum) onto a veth with checksum offload off, so Linux itself cuts
    // them and finishes every checksum from ours, and the host behind (H) checks each
    // one: a wrong pseudo-header sum would never get through.
    let r = NetNs::new();
    let h = NetNs::new();
    let (st, _child) = v6_peer(&r, 89, "");
    ns_ok(
        &r.name,
        &[
            "ip", "link", "add", "v6r", "type", "veth", "peer", "name", "v6h", "netns", &h.name,
        ],
    );
    ns_ok(
        &r.name,
        &["ip", "-6", "addr", "add", "2001:db8:88::1/64", "dev", "v6r", "nodad"],
    );
    ns_ok(&r.name, &["ip", "link", "set", "v6r", "up"]);
    ns_ok(&r.name, &["ethtool", "-K", "v6r", "tx", "off"]);
    ns_ok(&r.name, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    ns_ok(&h.name, &["ip", "link", "set", "v6h", "up"]);
    ns_ok(
        &h.name,
        &["ip", "-6", "addr", "add", "2001:db8:88::2/64", "dev", "v6h", "nodad"],
    );
    ns_ok(
        &h.name,
        &["ip", "-6", "route", "add", "default", "via", "2001:db8:88::1"],
    );
    st.ok(
        "route",
        &["add", "-inet6", "2001:db8:88::", "-prefixlen", "64", "2001:db8:89::1"],
    );
    let (tso0, _) = offload_counts(&st);
    stack_sends(&h.name, &st, "2001:db8:88::2", 7991, 32 << 20, 13);
    assert!(offload_counts(&st).0 > tso0, "TSO6 frames went out");
    // And back: H's segments, merged by Linux into super-frames for the TAP.
    linux_sends(&h.name, &st, "2001:db8:89::2", 7992, 32 << 20);
    let o = run("ip", ["netns", "exec", &h.name, "nstat", "-az", "TcpInCsumErrors"]);
    if o.code == Some(0) {
        let bad = o
            .stdout
            .lines()
            .find(|l| l.starts_with("TcpInCsumErrors"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("0");
        assert_eq!(bad, "0", "checksum errors at H: {}", o.stdout);
    }
}

/// UDP over IPv6 leaves its checksum to the TAP (UDP6CSUM_Tx): Linux, forwarding the
/// datagrams onto a veth with checksum offload off, finishes each checksum from the
/// pseudo-header sum we left, and the host behind it (H) checks them: a wrong partial sum
/// would be dropped there. Datagrams above the MTU are fragmented here, their checksum
/// finished in software first. Both kinds come back whole from H's echo.
#[test]
fn linux_forwarding_in_software_takes_our_udp6_checksums() {
    if !can_run_linux(
        "linux_forwarding_in_software_takes_our_udp6_checksums",
        &["ip", "python3", "ss", "ethtool", "nstat"],
    ) {
        return;
    }
    let r = NetNs::new();
    let h = NetNs::new();
    let (st, _child) = v6_peer(&r, 87, "");
    assert!(st.ok("ifconfig", &["en0"]).contains("UDP6CSUM_Tx"));
    ns_ok(
        &r.name,
        &[
            "ip", "link", "add", "v6r", "type", "veth", "peer", "name", "v6h", "netns", &h.name,
        ],
    );
    ns_ok(
        &r.name,
        &["ip", "-6", "addr", "add", "2001:db8:86::1/64", "dev", "v6r", "nodad"],
    );
    ns_ok(&r.name, &["ip", "link", "set", "v6r", "up"]);
    ns_ok(&r.name, &["ethtool", "-K", "v6r", "tx", "off"]);
    ns_ok(&r.name, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    ns_ok(&h.name, &["ip", "link", "set", "v6h", "up"]);
    ns_ok(
        &h.name,
        &["ip", "-6", "addr", "add", "2001:db8:86::2/64", "dev", "v6h", "nodad"],
    );
    ns_ok(
        &h.name,
        &["ip", "-6", "route", "add", "default", "via", "2001:db8:86::1"],
    );
    st.ok(
        "route",
        &["add", "-inet6", "2001:db8:86::", "-prefixlen", "64", "2001:db8:87::1"],
    );
    let sizes = [1usize, 100, 1000, 1452, 3000];
    let mut echo = Command::new("ip");
    echo.args([
        "netns",
        "exec",
        &h.name,
        "python3",
        "-c",
        PY_ECHO,
        "2001:db8:86::2",
        "7861",
    ])
    .arg(sizes.len().to_string());
    let echo = ChildGuard::spawn(echo);
    wait_listening(&h.name, true, 7861);
    let mut u = UdpSocket::bind_at(st.prefix(), "[::]:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 65536];
    for (i, &n) in sizes.iter().enumerate() {
        let d: Vec<u8> = (0..n).map(|j| ((i * 29 + j) % 249) as u8).collect();
        assert_eq!(u.send_to(&d, "[2001:db8:86::2]:7861").unwrap(), n);
        let (got, _) = u
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("echo of {n} bytes through Linux: {e}"));
        assert!(buf[..got] == d[..], "echo of {n} bytes: {got} bytes, not the same");
    }
    drop(echo);
    let o = run("ip", ["netns", "exec", &h.name, "nstat", "-az", "Udp6InCsumErrors"]);
    let bad = o
        .stdout
        .lines()
        .find(|l| l.starts_with("Udp6InCsumErrors"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("0");
    assert_eq!(bad, "0", "checksum errors at H: {}", o.stdout);
}
