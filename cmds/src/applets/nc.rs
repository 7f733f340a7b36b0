//! nc: netcat on the stack. `nc HOST PORT` and `nc -l [-k] PORT` move bytes between
//! standard input/output and a TCP connection of the stack named by SOCK; with -u, UDP
//! datagrams. `-z` scans ports. `-4` / `-6` keep to one address family (the last given
//! wins, as in OpenBSD's nc); hosts may be IPv6 literals.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, Command};
use pktbox_stack::socket::{TcpListener, TcpStream, UdpSocket};

use crate::common::{fail, parse, usage_fail};

const PROG: &str = "nc";
/// What one read or write of a TCP connection moves: the most one channel message carries,
/// so that each round trip to the stack moves as much as it can.
const TCP_CHUNK: usize = pktbox_stack::msg::MAX_MSG / 2;
/// The listen backlog of `nc -l -k` (the stack caps it at kern.somaxconn).
const KEEP_BACKLOG: i32 = 128;

pub fn command() -> Command {
    Command::new(PROG)
        .version(env!("CARGO_PKG_VERSION"))
        .about("Move bytes between standard input/output and a socket of the stack")
        .long_about(
            "nc (netcat) reads standard input and sends it through a socket of the stack named by \
             SOCK, and writes what arrives to standard output. With -u it uses UDP: each read of \
             standard input is one datagram. With -l it listens on PORT; a UDP listener answers \
             the first sender (or, with -k, each sender in turn).",
        )
        .override_usage(
            "nc [-46uvz] [-w timeout] [-s sourceaddr] host port\n       nc -l [-46ukv] [-s sourceaddr] port",
        )
        .arg(
            Arg::new("inet4")
                .short('4')
                .action(ArgAction::SetTrue)
                .overrides_with("inet6")
                .help("Use IPv4 addresses only"),
        )
        .arg(
            Arg::new("inet6")
                .short('6')
                .action(ArgAction::SetTrue)
                .overrides_with("inet4")
                .help("Use IPv6 addresses only"),
        )
        .arg(
            Arg::new("listen")
                .short('l')
                .action(ArgAction::SetTrue)
                .help("Listen for incoming data"),
        )
        .arg(
            Arg::new("keep")
                .short('k')
                .action(ArgAction::SetTrue)
                .requires("listen")
                .help("With -l, keep listening after the first peer"),
        )
        .arg(Arg::new("udp").short('u').action(ArgAction::SetTrue).help("Use UDP"))
        .arg(
            Arg::new("shutdown")
                .short('N')
                .action(ArgAction::SetTrue)
                .help("Shut the connection down at end of input (TCP)"),
        )
        .arg(
            Arg::new("timeout")
                .short('w')
                .value_name("timeout")
                .value_parser(clap::value_parser!(u32).range(1..))
                .help("Quit after this many seconds without data once input has ended"),
        )
        .arg(
            Arg::new("zero")
                .short('z')
                .action(ArgAction::SetTrue)
                .help("Scan: connect, send nothing"),
        )
        .arg(
            Arg::new("source")
                .short('s')
                .value_name("sourceaddr")
                .help("Send from this local address"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .action(ArgAction::SetTrue)
                .help("Say what happens on standard error"),
        )
        .arg(Arg::new("args").value_name("host port").num_args(1..=2).required(true))
}

/// The address family -4 or -6 asked for (None: either).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Inet,
    Inet6,
}

impl Family {
    fn admits(f: Option<Family>, a: IpAddr) -> bool {
        match f {
            None => true,
            Some(Family::Inet) => a.is_ipv4(),
            Some(Family::Inet6) => a.is_ipv6(),
        }
    }
}

/// The first address of `host` in the family asked for (getaddrinfo with ai_family).
fn resolve(host: &str, port: u16, family: Option<Family>) -> Result<SocketAddr, String> {
    let gai = |what: &str| format!("getaddrinfo for host \"{host}\" port {port}: {what}");
    // An IPv6 literal may come in brackets, as in URLs.
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let all: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| gai("Name or service not known"))?
        .collect();
    all.iter()
        .copied()
        .find(|a| Family::admits(family, a.ip()))
        .ok_or_else(|| {
            if host.parse::<IpAddr>().is_ok() {
                gai("Address family for hostname not supported")
            } else {
                gai("No address associated with hostname")
            }
        })
}

/// The -s address, checked against -4 / -6.
fn source_of(s: Option<&String>, family: Option<Family>) -> Result<Option<IpAddr>, String> {
    let Some(s) = s else { return Ok(None) };
    let a: IpAddr = s.parse().map_err(|_| format!("{s}: bad source address"))?;
    if !Family::admits(family, a) {
        return Err(format!("{s}: source address of the wrong address family"));
    }
    Ok(Some(a))
}

/// The unspecified address of a family (IPv4's when none was asked for, as nc listens).
fn any_of(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

fn port_of(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("port number invalid: {s}"))
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let m = match parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let words: Vec<String> = m
        .get_many::<String>("args")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let listen = m.get_flag("listen");
    let verbose = m.get_flag("verbose");
    let timeout = m.get_one::<u32>("timeout").map(|s| Duration::from_secs(u64::from(*s)));
    let udp = m.get_flag("udp");
    if udp && m.get_flag("zero") {
        return fail(PROG, "-z with -u is not in this build yet");
    }
    let family = if m.get_flag("inet6") {
        Some(Family::Inet6)
    } else if m.get_flag("inet4") {
        Some(Family::Inet)
    } else {
        None
    };
    let source = match source_of(m.get_one::<String>("source"), family) {
        Ok(s) => s,
        Err(e) => return fail(PROG, e),
    };
    if !udp {
        return tcp_main(
            &words,
            listen,
            m.get_flag("keep"),
            m.get_flag("zero"),
            m.get_flag("shutdown"),
            source,
            family,
            timeout,
            verbose,
        );
    }
    let (peer, local_port) = if listen {
        if words.len() != 1 {
            return usage_fail(PROG, "with -l, give only a port");
        }
        match port_of(&words[0]) {
            Ok(p) => (None, p),
            Err(e) => return fail(PROG, e),
        }
    } else {
        if words.len() != 2 {
            return usage_fail(PROG, "give a host and a port");
        }
        let port = match port_of(&words[1]) {
            Ok(p) => p,
            Err(e) => return fail(PROG, e),
        };
        match resolve(&words[0], port, family) {
            Ok(a) => (Some(a), 0),
            Err(e) => return fail(PROG, e),
        }
    };
    // The socket's family: the source's, else the peer's, else -6's.
    let v6 = match (source, peer) {
        (Some(s), _) => s.is_ipv6(),
        (None, Some(p)) => p.is_ipv6(),
        (None, None) => family == Some(Family::Inet6),
    };
    if let (Some(s), Some(p)) = (source, peer) {
        if s.is_ipv6() != p.is_ipv6() {
            return fail(PROG, format!("{s}: source address of the wrong address family"));
        }
    }
    let source = source.unwrap_or(any_of(v6));
    let prefix = pktbox_stack::socket::prefix_from_env();
    let mut sock = match UdpSocket::bind_at(&prefix, SocketAddr::new(source, local_port)) {
        Ok(s) => s,
        Err(e) => return fail(PROG, format!("bind: {}", io_text(&e))),
    };
    if let Some(p) = peer {
        if let Err(e) = sock.connect(p) {
            return fail(PROG, format!("connect: {}", io_text(&e)));
        }
        if verbose {
            eprintln!("Connection to {} {} port [udp/*] succeeded!", p.ip(), p.port());
        }
    } else if verbose {
        eprintln!("Bound on {source} {local_port}");
    }
    match udp_loop(&mut sock, peer.is_some(), m.get_flag("keep"), timeout, verbose) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(PROG, e),
    }
}

/// Ports from a `PORT` or `LOW-HIGH` word.
fn ports_of(s: &str) -> Result<Vec<u16>, String> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port_of(a)?, port_of(b)?);
            if a > b {
                return Err(format!("port range not valid: {s}"));
            }
            Ok((a..=b).collect())
        }
        None => Ok(vec![port_of(s)?]),
    }
}

#[allow(clippy::too_many_arguments)]
fn tcp_main(
    words: &[String],
    listen: bool,
    keep: bool,
    zero: bool,
    shut: bool,
    source: Option<IpAddr>,
    family: Option<Family>,
    timeout: Option<Duration>,
    verbose: bool,
) -> ExitCode {
    let prefix = pktbox_stack::socket::prefix_from_env();
    if listen {
        if words.len() != 1 {
            return usage_fail(PROG, "with -l, give only a port");
        }
        let port = match port_of(&words[0]) {
            Ok(p) => p,
            Err(e) => return fail(PROG, e),
        };
        // One waiting connection, as OpenBSD's netcat listens; with -k, where a thread
        // takes connections off the queue as they come, room for a burst of them (each
        // waits in its own socket buffer until it is served).
        let backlog = if keep { KEEP_BACKLOG } else { 1 };
        let source = source.unwrap_or(any_of(family == Some(Family::Inet6)));
        let l = match TcpListener::bind_at(&prefix, SocketAddr::new(source, port), backlog) {
            Ok(l) => l,
            Err(e) => return fail(PROG, format!("bind: {}", io_text(&e))),
        };
        if verbose {
            eprintln!("Listening on {source} {port}");
        }
        // With -k, a thread keeps accepting while a connection is served, so the clients
        // that come meanwhile are taken off the listen queue (and see their connection
        // established) instead of finding it full; they are served in the order they came.
        let (queued, mut single) = if keep {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || loop {
                let r = l.accept();
                let stop = r.is_err();
                if tx.send(r).is_err() || stop {
                    return;
                }
            });
            (Some(rx), None)
        } else {
            (None, Some(l))
        };
        loop {
            let next = match (&queued, &mut single) {
                (Some(rx), _) => rx
                    .recv()
                    .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))),
                (None, Some(l)) => l.accept(),
                (None, None) => return ExitCode::SUCCESS,
            };
            let (s, peer) = match next {
                Ok(v) => v,
                Err(e) => return fail(PROG, format!("accept: {}", io_text(&e))),
            };
            if verbose {
                eprintln!("Connection received on {} {}", peer.ip(), peer.port());
            }
            if let Err(e) = tcp_session(s, shut, timeout) {
                return fail(PROG, e);
            }
            if !keep {
                return ExitCode::SUCCESS;
            }
        }
    }
    if words.len() != 2 {
        return usage_fail(PROG, "give a host and a port");
    }
    let ports = match ports_of(&words[1]) {
        Ok(p) => p,
        Err(e) => return fail(PROG, e),
    };
    let from = source.map(|s| SocketAddr::new(s, 0));
    let mut failed = false;
    for port in &ports {
        let to = match resolve(&words[0], *port, family) {
            Ok(a) => a,
            Err(e) => return fail(PROG, e),
        };
        if from.is_some_and(|f| f.is_ipv6() != to.is_ipv6()) {
            return fail(
                PROG,
                format!(
                    "{}: source address of the wrong address family",
                    source.unwrap_or(to.ip())
                ),
            );
        }
        match TcpStream::connect_from(&prefix, from, to, timeout) {
            Ok(s) => {
                if verbose {
                    eprintln!("Connection to {} {} port [tcp/*] succeeded!", to.ip(), to.port());
                }
                if zero {
                    drop(s);
                    continue;
                }
                return match tcp_session(s, shut, timeout) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(PROG, e),
                };
            }
            Err(e) => {
                failed = true;
                if verbose || !zero {
                    eprintln!(
                        "{PROG}: connect to {} port {} (tcp) failed: {}",
                        to.ip(),
                        to.port(),
                        io_text(&e)
                    );
                }
            }
        }
    }
    if failed {
        ExitCode::from(crate::common::EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Moves bytes both ways on a TCP connection: standard input (read by its own thread) to
/// the connection, the connection to standard output, until the peer closes.
fn tcp_session(mut s: TcpStream, shut: bool, timeout: Option<Duration>) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Option<Vec<u8>>>(4);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; TCP_CHUNK];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    if tx.send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; TCP_CHUNK];
    let mut stdin_open = true;
    let mut last = Instant::now();
    loop {
        let mut pending = false;
        while stdin_open {
            match rx.try_recv() {
                Ok(Some(d)) => {
                    s.write_all(&d).map_err(|e| format!("write: {}", io_text(&e)))?;
                    last = Instant::now();
                    pending = true;
                }
                Ok(None) | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    stdin_open = false;
                    if shut {
                        s.shutdown(std::net::Shutdown::Write)
                            .map_err(|e| format!("shutdown: {}", io_text(&e)))?;
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
            }
        }
        // While input flows, only look for what has arrived; otherwise wait a little.
        s.set_read_timeout(Some(Duration::from_millis(if pending { 1 } else { 20 })))
            .map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => {
                out.flush().map_err(|e| e.to_string())?;
                return Ok(());
            }
            Ok(n) => {
                out.write_all(&buf[..n]).map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())?;
                last = Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("read: {}", io_text(&e))),
        }
        if !stdin_open {
            if let Some(t) = timeout {
                if last.elapsed() >= t {
                    return Ok(());
                }
            }
        }
    }
}

fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => pktbox_stack::msg::errno::strerror(n),
        None => e.to_string(),
    }
}

/// Moves datagrams both ways until input ends and, with -w, the peer falls silent.
fn udp_loop(
    sock: &mut UdpSocket,
    mut connected: bool,
    keep: bool,
    timeout: Option<Duration>,
    verbose: bool,
) -> Result<(), String> {
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut out = std::io::stdout();
    let mut buf = vec![0u8; 65536];
    let mut last_data = Instant::now();
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    loop {
        // Drain what has arrived.
        loop {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    last_data = Instant::now();
                    if !connected && !keep {
                        sock.connect(from).map_err(|e| format!("connect: {}", io_text(&e)))?;
                        connected = true;
                        if verbose {
                            eprintln!("Connection received on {} {}", from.ip(), from.port());
                        }
                    }
                    out.write_all(&buf[..n]).map_err(|e| e.to_string())?;
                    out.flush().map_err(|e| e.to_string())?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("recv: {}", io_text(&e))),
            }
        }
        if !stdin_open {
            if let Some(t) = timeout {
                if last_data.elapsed() >= t {
                    return Ok(());
                }
            }
        }
        let mut fds = vec![libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if stdin_open && connected {
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: fds is a valid array of pollfd.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        if fds.len() > 1 && fds[1].revents != 0 {
            let n = stdin.lock().read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                stdin_open = false;
                last_data = Instant::now();
                if timeout.is_none() && !connected {
                    return Ok(());
                }
                continue;
            }
            sock.send(&buf[..n]).map_err(|e| format!("write: {}", io_text(&e)))?;
        }
    }
}
