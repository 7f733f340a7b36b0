//! The channel under abuse: 300 hostile clients (pipelining without reading, half-open
//! connects, garbage, oversized and cut-short datagrams, parked requests, subscribers that
//! never read) while a good client runs `ifconfig -a` and a TCP transfer crosses the
//! stack's loopback; and a user other than root, who may read everything and change
//! nothing, nor hold more than a bounded share of the stack's connections.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pktbox_stack::msg::wire::{Received, SeqPacket};
use pktbox_stack::msg::{
    decode, encode, AddrReq, BpfAttachReq, FlushReq, Frame, HelloReq, IfListReq, IfNameReq, IfSetReq, Msg, Role, RtMsg,
    SockAddrReq, SocketReq, SubscribeReq, SysctlGetReq, SysctlSetReq, Wait, MAX_MSG, MSGF_REPLY,
};
use pktbox_stack::resmgr::limits;
use pktbox_stack::socket::{TcpListener, TcpStream};
use pktbox_tests::hostile::{self, Hostile, Kind, RssPeak};
use pktbox_tests::*;
use sha2::{Digest, Sha256};

/// How many hostile clients.
const HOSTILE: usize = 300;

/// A bound on a command that should take milliseconds: only a hang trips it.
const LIVENESS: Duration = Duration::from_secs(60);

/// `pktbox ifconfig -a` against the stack: its output and how long it took. Panics if it
/// fails, or does not end within LIVENESS.
fn ifconfig_a(prefix: &Path) -> (String, Duration) {
    run_within(prefix, &["ifconfig", "-a"])
}

/// `pktbox ARGS...` against the stack, which must succeed within LIVENESS.
fn run_within(prefix: &Path, args: &[&str]) -> (String, Duration) {
    let t = Instant::now();
    let child = Command::new(bin())
        .args(args)
        .env("SOCK", prefix)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pktbox ifconfig -a");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let o = match rx.recv_timeout(LIVENESS) {
        Ok(o) => o.expect("wait for ifconfig -a"),
        Err(_) => {
            // SAFETY: kill(2) on our own child, not reaped yet (its waiter still runs).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!(
                "`{}` did not finish within {LIVENESS:?}: the good client was stalled",
                args.join(" ")
            );
        }
    };
    let took = t.elapsed();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    (String::from_utf8_lossy(&o.stdout).into_owned(), took)
}

/// A deterministic byte stream (xorshift) and its SHA-256.
fn pattern(total: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..total)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

fn sha(b: &[u8]) -> Vec<u8> {
    Sha256::digest(b).to_vec()
}

#[test]
fn three_hundred_hostile_clients_stall_no_good_one() {
    let st = StackProc::start(&[]);
    st.ok("ifconfig", &["lo1", "create"]);
    let prefix = st.prefix().to_path_buf();
    // The stack's footprint with a client served and a TCP connection made.
    let _ = ifconfig_a(&prefix);
    let base = hostile::vm_rss_kib(st.pid()).expect("the stack's VmRSS");
    let peak = RssPeak::start(st.pid());

    let abuse = Hostile::start(&st.socket_path(), HOSTILE);
    // Full strength first: every hostile client that sends has filled what the stack
    // would read from it (a stack whose workers waited on such clients would have none
    // left by now).
    assert!(
        abuse.wait_saturated(Duration::from_secs(120)),
        "the hostile clients never filled their sockets"
    );

    // A TCP transfer over the stack's loopback, during the abuse.
    const TOTAL: usize = 8 << 20;
    let data = pattern(TOTAL, 7);
    let want = sha(&data);
    // (Both ends in threads of their own, so that a stalled stack fails the test below
    // rather than hang it.)
    let (tx, server) = std::sync::mpsc::channel();
    let p1 = prefix.clone();
    let receiver = std::thread::spawn(move || {
        let l = TcpListener::bind_at(&p1, "127.0.0.1:7000", 4).expect("listen");
        let _ = tx.send(());
        let (mut s, _) = l.accept().expect("accept");
        let mut got = Vec::with_capacity(TOTAL);
        s.read_to_end(&mut got).expect("read");
        let _ = tx.send(());
        got
    });
    server
        .recv_timeout(LIVENESS)
        .expect("the TCP server could not listen: the stack was stalled");
    let p2 = prefix.clone();
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect_at(&p2, "127.0.0.1:7000", Some(LIVENESS)).expect("connect");
        c.write_all(&data).expect("write");
        c.shutdown(Shutdown::Write).expect("shutdown");
    });

    // The good client: ifconfig -a, over and over, and changes (which broadcast to the
    // subscribers that never read), until the transfer is over.
    let mut runs = 0;
    loop {
        let (out, _) = ifconfig_a(&prefix);
        assert!(out.starts_with("lo0: ") && out.contains("\nlo1: "), "{out}");
        run_within(&prefix, &["ifconfig", "lo1", if runs % 2 == 0 { "up" } else { "down" }]);
        runs += 1;
        if runs >= 30 && client.is_finished() {
            break;
        }
        assert!(runs < 100_000, "the transfer never ended");
    }
    client.join().expect("the TCP client");
    server
        .recv_timeout(LIVENESS)
        .expect("the TCP server never saw the end of the data");
    let got = receiver.join().expect("the TCP server");
    assert_eq!(got.len(), TOTAL, "bytes across the stack's loopback");
    assert!(sha(&got) == want, "the transfer's data changed on the way");

    let counts = (
        abuse.counts.datagrams.load(std::sync::atomic::Ordering::Relaxed),
        abuse.counts.reconnects.load(std::sync::atomic::Ordering::Relaxed),
    );
    let clients = abuse.stop();
    let peak = peak.stop();
    assert!(st.alive(), "the stack died under abuse");
    eprintln!(
        "abuse: {} hostile datagrams, {} reconnects; good client: {runs} ifconfig -a; VmRSS {base} KiB before, peak {peak} KiB",
        counts.0, counts.1
    );

    // The stack's memory stayed bounded. What the abuse may make it hold:
    // - replies waiting to be read: OUT_TOTAL in all, plus one reply (here < 4 KiB) per
    //   connection that was under its own bound when the total was reached;
    // - each worker's receive buffer: BUF_KEEP (64 KiB) resident, for up to threads_max
    //   (200) workers, and their stacks (a few pages each);
    // - per connection a few hundred bytes of state;
    // - the TCP connection's buffers (the window, 256 KiB each way, on both sockets).
    // 64 MiB covers all of that with room for the allocator; a queue without a bound
    // would pass it within seconds at the rate the pipelining clients send.
    let bound = base + (64 << 10);
    assert!(
        peak < bound,
        "VmRSS peaked at {peak} KiB, over {bound} KiB (base {base} KiB)"
    );

    // Every reply a pipelining client is owed comes, in order, once it reads: nothing
    // was dropped for being slow.
    let mut owed = 0;
    for c in clients.iter().filter(|c| c.kind == Kind::Pipeline) {
        owed += hostile::drain_pipeline(c, PATIENCE);
    }
    assert!(owed > 0);
    // A connection that never says what it is for is closed.
    for c in clients.iter().filter(|c| c.kind == Kind::HalfOpen) {
        let left = (c.connected + limits::HELLO_TIMEOUT).saturating_duration_since(Instant::now());
        assert!(
            hostile::closed_by_stack(c, left + PATIENCE),
            "a half-open connection was kept past the hello timeout"
        );
    }
    // And the stack still serves everyone.
    let (out, _) = ifconfig_a(&prefix);
    assert!(out.starts_with("lo0: "), "{out}");
    assert_eq!(st.open().if_list(None).unwrap().len(), 2);
    drop(clients);
    assert!(st.alive());
}

/// The channel connection as a user other than root: made by a thread that takes that
/// effective uid and gid for itself alone (the raw system calls change the calling
/// thread's credentials, where the C library's would change every thread's). The stack
/// takes the peer's credentials (SO_PEERCRED) as they were at connect time.
fn connect_as(uid: u32, path: &Path, n: usize) -> Vec<std::io::Result<SeqPacket>> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let keep = libc::uid_t::MAX; // -1: leave as it is
                                     // SAFETY: setresgid/setresuid as raw system calls on this thread only; it ends
                                     // when this closure returns.
        unsafe {
            assert_eq!(libc::syscall(libc::SYS_setresgid, keep, uid, keep), 0);
            assert_eq!(libc::syscall(libc::SYS_setresuid, keep, uid, keep), 0);
        }
        (0..n).map(|_| SeqPacket::connect(&path)).collect()
    })
    .join()
    .expect("connecting thread")
}

/// A raw connection: requests and their replies.
struct Raw {
    c: SeqPacket,
    seq: u32,
    buf: Vec<u8>,
}

impl Raw {
    fn new(c: SeqPacket, role: Role) -> Raw {
        Raw::try_new(c, role).unwrap_or_else(|f| panic!("hello refused: {f:?}"))
    }

    /// A connection that said hello, or the refusal it got.
    fn try_new(c: SeqPacket, role: Role) -> Result<Raw, Box<Frame>> {
        c.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut r = Raw {
            c,
            seq: 0,
            buf: vec![0; 4096],
        };
        let f = r.call(&Msg::Hello(HelloReq { role }));
        if f.hdr.errno != 0 {
            return Err(Box::new(f));
        }
        assert!(matches!(f.msg, Msg::HelloOk(_)), "{f:?}");
        r.buf = vec![0; MAX_MSG + 1];
        Ok(r)
    }

    fn call(&mut self, m: &Msg) -> Frame {
        self.seq += 1;
        self.c.send(&encode(m, self.seq, 1, 0, 0)).expect("send");
        let n = match self.c.recv(&mut self.buf) {
            Ok(Received::Msg(n)) => n,
            other => panic!("reply to {m:?}: {other:?}"),
        };
        let f = decode(&self.buf[..n]).expect("reply decodes");
        assert_eq!(f.hdr.seq, self.seq, "{f:?}");
        assert_ne!(f.hdr.flags & MSGF_REPLY, 0, "{f:?}");
        f
    }

    #[track_caller]
    fn refused(&mut self, m: Msg, errno: i32) {
        let f = self.call(&m);
        assert_eq!(f.hdr.errno, errno, "{m:?} as a user other than root: {f:?}");
    }

    #[track_caller]
    fn allowed(&mut self, m: Msg) -> Msg {
        let f = self.call(&m);
        assert_eq!(f.hdr.errno, 0, "{m:?} as a user other than root: {f:?}");
        f.msg
    }
}

/// The soft descriptor limit raised to the hard one.
fn raise_nofile() {
    // SAFETY: rlimit is plain data, filled by getrlimit and given back to setrlimit.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

fn nobody_conn(st: &StackProc, role: Role) -> Raw {
    let c = connect_as(65534, &st.socket_path(), 1).pop().unwrap();
    Raw::new(c.expect("connect as nobody"), role)
}

/// What a user could have changed.
fn state(st: &StackProc) -> Vec<String> {
    vec![
        st.ok("ifconfig", &["-a"]),
        st.ok("netstat", &["-rn"]),
        st.ok("sysctl", &["net.inet"]),
        st.ok("netstat", &["-an"]),
    ]
}

#[test]
fn a_user_other_than_root_reads_all_and_changes_nothing() {
    if !is_root() {
        skip(
            "a_user_other_than_root_reads_all_and_changes_nothing",
            "needs root to take another uid",
        );
        return;
    }
    // The stack raises its descriptor limit to the hard one and sizes its connection
    // limits by it; so does this test, before it starts the stack (which inherits it), to
    // know them and to hold as many connections.
    raise_nofile();
    let (_, user_conns) = limits::max_conns();
    let per_uid = limits::CONNS_PER_UID.min(user_conns);
    let st = StackProc::start(&["-d", "hub", &format!("path={}", TempDir::new().path().display())]);
    st.ok("ifconfig", &["en0", "10.44.0.1/24"]);
    st.ok("route", &["add", "10.45.0.0/24", "10.44.0.2"]);
    for d in [st.prefix().to_path_buf(), st.prefix().join("dev")] {
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let mut sub = st.open();
    sub.subscribe().unwrap();
    let before = state(&st);

    let mut c = nobody_conn(&st, Role::Control);
    let name = |n: &str| IfNameReq { name: n.into() };
    let set = |set_flags, clear_flags, mtu| IfSetReq {
        name: "en0".into(),
        set_flags,
        clear_flags,
        mtu,
        set_caps: 0,
        clear_caps: 0,
    };
    let addr = |a: &str| AddrReq {
        name: "en0".into(),
        addr: Some(a.parse().unwrap()),
        netmask: Some("255.255.255.0".parse().unwrap()),
        brd: None,
    };
    let route = || RtMsg {
        dst: Some("10.45.0.0".parse().unwrap()),
        gateway: Some("10.44.0.3".parse().unwrap()),
        prefixlen: Some(24),
        ..Default::default()
    };
    // The ioctls and sysctl writes: EPERM, as NetBSD's kauth says for them.
    c.refused(Msg::IfCreate(name("lo1")), libc::EPERM);
    c.refused(Msg::IfDestroy(name("en0")), libc::EPERM);
    c.refused(Msg::IfSet(set(0, pktbox_stack::msg::iff::UP, None)), libc::EPERM);
    c.refused(Msg::IfSet(set(0, 0, Some(1280))), libc::EPERM);
    c.refused(Msg::IfSet(set(pktbox_stack::msg::iff::PROMISC, 0, None)), libc::EPERM);
    c.refused(Msg::AddrAdd(addr("10.44.0.9")), libc::EPERM);
    c.refused(Msg::AddrDel(addr("10.44.0.1")), libc::EPERM);
    c.refused(
        Msg::SysctlSet(SysctlSetReq {
            name: "net.inet.ip.ttl".into(),
            value: "5".into(),
        }),
        libc::EPERM,
    );
    c.refused(
        Msg::SysctlSet(SysctlSetReq {
            name: "net.inet.ip.forwarding".into(),
            value: "1".into(),
        }),
        libc::EPERM,
    );
    // Writes to the routing socket: EACCES, as NetBSD's route_output answers them.
    c.refused(Msg::RtAdd(route()), libc::EACCES);
    c.refused(Msg::RtChange(route()), libc::EACCES);
    c.refused(Msg::RtDelete(route()), libc::EACCES);
    c.refused(
        Msg::RtFlush(FlushReq {
            all: true,
            ..Default::default()
        }),
        libc::EACCES,
    );
    // Reading is open, as a routing socket is to everyone.
    assert!(matches!(c.allowed(Msg::IfList(IfListReq { name: None })), Msg::IfListOk(v) if v.len() == 2));
    c.allowed(Msg::SysctlGet(SysctlGetReq {
        name: "net.inet.ip.ttl".into(),
    }));
    assert!(matches!(c.allowed(Msg::RtDump(Default::default())), Msg::RtList(v) if !v.is_empty()));
    c.allowed(Msg::RtGet(route()));
    c.allowed(Msg::StatsGet(Default::default()));
    c.allowed(Msg::ArpDump(Default::default()));
    c.allowed(Msg::SockList(Default::default()));
    c.allowed(Msg::Cloners(Default::default()));
    c.allowed(Msg::Subscribe(SubscribeReq { on: true }));

    // Sockets are open to everyone, except raw ones and the reserved ports.
    let mut s = nobody_conn(&st, Role::Socket);
    s.refused(
        Msg::Socket(SocketReq {
            domain: libc::AF_INET,
            stype: libc::SOCK_RAW,
            protocol: libc::IPPROTO_ICMP,
        }),
        libc::EPERM,
    );
    s.allowed(Msg::Socket(SocketReq {
        domain: libc::AF_INET,
        stype: libc::SOCK_DGRAM,
        protocol: 0,
    }));
    let at = |a: &str| SockAddrReq {
        addr: a.parse().unwrap(),
        wait: Wait {
            nonblock: false,
            timeout_ms: None,
        },
    };
    s.refused(Msg::SockBind(at("0.0.0.0:53")), libc::EACCES);
    s.allowed(Msg::SockBind(at("0.0.0.0:5353")));
    let mut t = nobody_conn(&st, Role::Socket);
    t.allowed(Msg::Socket(SocketReq {
        domain: libc::AF_INET,
        stype: libc::SOCK_STREAM,
        protocol: 0,
    }));
    t.refused(Msg::SockBind(at("10.44.0.1:80")), libc::EACCES);
    // Capturing and injecting frames are root's (/dev/bpf is 0600 on NetBSD).
    let mut b = nobody_conn(&st, Role::Bpf);
    b.refused(
        Msg::BpfAttach(BpfAttachReq {
            ifname: "en0".into(),
            buflen: None,
        }),
        libc::EPERM,
    );
    b.refused(Msg::BpfWrite(vec![0; 60]), libc::EPERM);

    drop((s, t, b));
    // (The sockets just closed go from `netstat -an` as the stack sees them hang up.)
    let deadline = Instant::now() + PATIENCE;
    while state(&st) != before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(state(&st), before, "a user other than root changed the stack");
    assert_eq!(broadcasts(&mut sub), vec![], "a refused request announced a change");
    drop(c);

    // Nor can such a user take all of the stack's connections: past CONNS_PER_UID (or its
    // share of the descriptor limit), its next is turned away (EMFILE or ENFILE, said on
    // the connection, then closed), while root still connects.
    // (The connections of nobody's closed above may not all be gone yet: a refused one is
    // tried again until they are.)
    let mut many: Vec<Raw> = connect_as(65534, &st.socket_path(), per_uid)
        .into_iter()
        .filter_map(|c| Raw::try_new(c.expect("connect as nobody"), Role::Control).ok())
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while many.len() < per_uid {
        assert!(Instant::now() < deadline, "only {} connections for nobody", many.len());
        std::thread::sleep(Duration::from_millis(20));
        let c = connect_as(65534, &st.socket_path(), 1).pop().unwrap().expect("connect");
        many.extend(Raw::try_new(c, Role::Control).ok());
    }
    let extra = connect_as(65534, &st.socket_path(), 1).pop().unwrap().expect("connect");
    extra.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = extra.send(&encode(&Msg::Hello(HelloReq { role: Role::Control }), 1, 1, 0, 0));
    let mut buf = vec![0u8; 4096];
    let n = match extra.recv(&mut buf) {
        Ok(Received::Msg(n)) => n,
        other => panic!("a connection over the limit: {other:?}"),
    };
    let f = decode(&buf[..n]).expect("the refusal decodes");
    let want = if per_uid == limits::CONNS_PER_UID {
        libc::EMFILE
    } else {
        libc::ENFILE
    };
    assert_eq!(f.hdr.errno, want, "{f:?}");
    assert!(matches!(extra.recv(&mut buf), Ok(Received::Closed)));
    assert_eq!(st.open().if_list(None).unwrap().len(), 2, "root is still served");
    assert!(matches!(
        many[0].allowed(Msg::IfList(IfListReq { name: None })),
        Msg::IfListOk(_)
    ));
    // One closed makes room for one more.
    many.truncate(per_uid - 1);
    wait_for("room for one more connection of nobody's", || {
        let c = connect_as(65534, &st.socket_path(), 1).pop()?.ok()?;
        c.set_read_timeout(Some(PATIENCE)).ok()?;
        c.send(&encode(&Msg::Hello(HelloReq { role: Role::Control }), 1, 1, 0, 0))
            .ok()?;
        match c.recv(&mut buf) {
            Ok(Received::Msg(n)) => decode(&buf[..n]).ok().filter(|f| f.hdr.errno == 0),
            _ => None,
        }
    });
    assert!(st.alive());
}
