//! `libpktbox_socket.so`: the preloadable socket library. Loaded with
//! `LD_PRELOAD=.../libpktbox_socket.so SOCK=/prefix prog` (or `pktbox run -s /prefix -- prog`),
//! it takes over an unmodified program's AF_INET and AF_INET6 sockets (TCP, UDP, raw ICMP)
//! and puts them on the pktbox stack at `$SOCK`, through the same channel and message codec
//! the applets use. Every other family (AF_UNIX, AF_NETLINK, ...) and every descriptor that
//! is not a stack socket goes to the C library's own function (`dlsym(RTLD_NEXT)`).
//!
//! # Descriptors: each stack socket is a real kernel socket
//!
//! A stack socket is one socket-role connection to the stack (a SOCK_SEQPACKET channel
//! connection), but the descriptor the program gets is one end of an AF_UNIX socketpair
//! made for it; a pump thread of the library holds the other end and the channel
//! connection. So the kernel itself answers everything that only looks at the descriptor:
//!
//! - `poll`, `ppoll`, `select`, `pselect`, `epoll_*`, eventfd loops: readiness is the pair's
//!   (readable when the pump delivered bytes, a datagram, an accepted connection or end of
//!   file; writable when there is room), so mixed sets of kernel and stack descriptors need
//!   no help from the library and none of these calls is wrapped;
//! - TCP data: `read`, `write`, `readv`, `writev`, `send`, `recv` (with MSG_PEEK,
//!   MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL), `sendfile`, `splice` work on the pair as they
//!   are; the pump moves bytes between the pair and the stack (receive requests of up to
//!   128 KiB, sends that wait for room), and passes end of file both ways (shutdown);
//! - `fcntl(O_NONBLOCK)`, `ioctl(FIONBIO)`, FD_CLOEXEC, SO_RCVTIMEO and SO_SNDTIMEO are the
//!   pair's own; signals interrupt a blocking read, write or accept with EINTR as for any
//!   socket;
//! - `dup`, `dup2`, `dup3`, `fcntl(F_DUPFD)` are wrapped only to copy the table entry;
//!   `close` drops it. The pump notices when the program has closed every copy of its end
//!   (POLLHUP) and closes the channel connection, so the stack closes the socket.
//!
//! What the kernel cannot know is wrapped: `socket`, `bind`, `listen`, `accept`/`accept4`,
//! `connect`, `shutdown`, `getsockname`/`getpeername`, `getsockopt`/`setsockopt`, `ioctl`
//! on stack sockets, and for datagram sockets the calls that carry addresses or datagram
//! boundaries (`sendto`, `recvfrom`, `sendmsg`, `recvmsg`, `sendmmsg`, `recvmmsg`, `send`,
//! `recv`, `read`, `write`, `readv`, `writev` and the `_chk` variants): the pump hands each
//! received datagram to the pair behind its source address, sends go straight to the stack.
//!
//! - A listener's pump accepts from the stack ahead of the program (up to the backlog),
//!   gives each connection a pair and a pump of its own and writes one byte per connection
//!   to the listener's pair, so a listener polls readable when a connection waits; `accept`
//!   reads that byte (blocking or not as the descriptor is) and takes the connection.
//! - A non-blocking `connect` answers EINPROGRESS and fills the pair from the program's side
//!   so that it is not writable; the pump connects, records SO_ERROR and throws the filler
//!   away, so POLLOUT comes when the connection is up or failed, as with the kernel's TCP.
//!
//! The channel serves one socket's requests one at a time, so a receive parked in the stack
//! holds back a send: the pump parks receives for at most 1-10 ms and sends what the
//! program wrote in between (the latency this adds is what issue 14's shared-memory data
//! path is to remove).
//!
//! # Limits (each refused with an errno, named on stderr once when `PKTBOX_SOCKET_DEBUG` is
//! set)
//!
//! - fork: the child's copies of a stack descriptor move data (the parent's pump serves
//!   them while the parent lives) and answer getsockname/getpeername from what the library
//!   knew; requests that need the channel (setsockopt, accept, datagram sends) fail with
//!   EOPNOTSUPP in the child. exec: the pumps end with the old image, so stack sockets
//!   do not survive exec (the new program sees end of file).
//! - Statically linked programs, raw system calls and io_uring bypass the library.
//!   getaddrinfo is the library's own (`resolve`: /etc/hosts, then DNS over the stack's
//!   UDP), and so are getifaddrs, if_nametoindex, if_indextoname and if_nameindex (`ifs`:
//!   the stack's interfaces); gethostbyname and reverse lookups are still the C library's.
//! - Socket options the stack lacks fail with ENOPROTOOPT; `ioctl`s other than FIONBIO and
//!   FIONREAD on stack sockets fail with EOPNOTSUPP; SCM_RIGHTS of a stack descriptor passes
//!   the pair's end, which the receiving process sees as an AF_UNIX socket.
//! - A stack that goes away: reads see end of file, SO_ERROR and further requests give
//!   ECONNRESET; a new socket() gives ENETDOWN.

#![allow(clippy::missing_safety_doc)]

mod addr;
mod conn;
mod ifs;
#[macro_use]
mod real;
mod resolve;
mod sock;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::sync::{Arc, Mutex};

use libc::{c_int, c_long, c_uint, c_ulong, c_void, msghdr, size_t, sockaddr, socklen_t, ssize_t};
use pktbox_stack::msg::*;

use crate::conn::{Conn, Errno};
use crate::sock::{Kind, Phase, Sock};

/// Says once on stderr, when `PKTBOX_SOCKET_DEBUG` is set, that `what` is not done.
pub fn debug_once(what: &str) {
    static SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    if std::env::var_os("PKTBOX_SOCKET_DEBUG").is_none() {
        return;
    }
    let mut g = SAID.lock().unwrap_or_else(|p| p.into_inner());
    if g.get_or_insert_with(HashSet::new).insert(what.to_string()) {
        let line = format!("libpktbox_socket: {what}: not supported on a stack socket\n");
        // SAFETY: a write of a buffer we own to stderr.
        unsafe { libc::write(2, line.as_ptr() as *const c_void, line.len()) };
    }
}

fn set_errno(e: i32) {
    // SAFETY: errno is thread-local and always valid.
    unsafe { *libc::__errno_location() = e };
}

fn fail<T: From<i8>>(e: Errno) -> T {
    set_errno(e);
    T::from(-1)
}

fn result(r: Result<(), Errno>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

fn prefix() -> std::path::PathBuf {
    pktbox_stack::socket::prefix_from_env()
}

// ---- socket, bind, listen, accept, connect -------------------------------------------

#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    if domain != libc::AF_INET && domain != libc::AF_INET6 {
        return real!(socket: unsafe extern "C" fn(c_int, c_int, c_int) -> c_int)(domain, ty, protocol);
    }
    match new_socket(domain, ty, protocol) {
        Ok(fd) => fd,
        Err(e) => fail(e),
    }
}

fn new_socket(domain: c_int, ty: c_int, protocol: c_int) -> Result<c_int, Errno> {
    let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let v6 = domain == libc::AF_INET6;
    let icmp = if v6 { libc::IPPROTO_ICMPV6 } else { libc::IPPROTO_ICMP };
    let (kind, proto) = match (base, protocol) {
        (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => (Kind::Stream, libc::IPPROTO_TCP),
        (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => (Kind::Dgram, libc::IPPROTO_UDP),
        (libc::SOCK_RAW, p) if p == icmp => (Kind::Dgram, p),
        (libc::SOCK_DGRAM, p) if p == icmp => {
            debug_once("socket(SOCK_DGRAM, IPPROTO_ICMP) (ICMP datagram sockets; use SOCK_RAW)");
            return Err(libc::EPROTONOSUPPORT);
        }
        _ => {
            debug_once(&format!("socket(type {base}, protocol {protocol})"));
            return Err(libc::EPROTONOSUPPORT);
        }
    };
    let mut conn = Conn::open(&prefix(), domain, base, proto)?;
    if v6 && (kind == Kind::Stream || proto == libc::IPPROTO_UDP) {
        // Linux's default (net.ipv6.bindv6only=0), which the programs were written for;
        // NetBSD's, the stack's, is the opposite.
        conn.call(Msg::SockSetOpt(SockOpt::V6Only(false)))?;
    }
    let (app, pump) = sock::pair(kind, ty & libc::SOCK_NONBLOCK != 0, ty & libc::SOCK_CLOEXEC != 0)?;
    let s = Arc::new(Sock::new(kind, v6, base, proto, conn, app.as_raw_fd(), pump));
    let fd = app.into_raw_fd();
    // For sockstat's FD column; a stack that does not know the message is no reason to fail.
    if let Ok(mut c) = s.conn() {
        let _ = c.call(Msg::SockClientFd(fd));
    }
    sock::insert(fd, Arc::clone(&s));
    if kind == Kind::Dgram {
        sock::start_pump(&s, None);
    }
    Ok(fd)
}

#[no_mangle]
pub unsafe extern "C" fn bind(fd: c_int, a: *const sockaddr, len: socklen_t) -> c_int {
    let Some(s) = sock::lookup(fd) else {
        return real!(bind: unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int)(fd, a, len);
    };
    result((|| {
        let to = addr::in_family(unsafe { addr::read(a, len) }?, s.v6);
        s.conn()?.call(Msg::SockBind(SockAddrReq {
            addr: to,
            wait: Wait::default(),
        }))?;
        s.refresh_names().map(|_| ())
    })())
}

#[no_mangle]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    let Some(s) = sock::lookup(fd) else {
        return real!(listen: unsafe extern "C" fn(c_int, c_int) -> c_int)(fd, backlog);
    };
    result((|| {
        if s.kind != Kind::Stream {
            return Err(libc::EOPNOTSUPP);
        }
        let b = backlog.clamp(1, 4096);
        match s.state().phase {
            Phase::Listening => {
                s.state().backlog = b as usize;
                return Ok(());
            }
            Phase::Fresh => {}
            _ => return Err(libc::EINVAL),
        }
        s.conn()?.call(Msg::SockListen(ListenReq { backlog: b }))?;
        let _ = s.refresh_names();
        {
            let mut st = s.state();
            st.phase = Phase::Listening;
            st.backlog = b as usize;
        }
        sock::start_pump(&s, None);
        Ok(())
    })())
}

#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, a: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let Some(s) = sock::lookup(fd) else {
        return real!(accept: unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int)(fd, a, len);
    };
    take_accepted(&s, fd, a, len, 0)
}

#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, a: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    let Some(s) = sock::lookup(fd) else {
        return real!(accept4: unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int)(
            fd, a, len, flags,
        );
    };
    take_accepted(&s, fd, a, len, flags)
}

unsafe fn take_accepted(s: &Arc<Sock>, fd: c_int, a: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    if s.kind != Kind::Stream || s.state().phase != Phase::Listening {
        return fail(libc::EINVAL);
    }
    if std::process::id() != s.owner {
        debug_once("accept on a listener inherited across fork");
        return fail(libc::EOPNOTSUPP);
    }
    loop {
        // The pump's byte for each connection: this read blocks, or not, as the program's
        // descriptor does, and a signal interrupts it.
        let mut b = [0u8; 1];
        let r = real::recv(fd, b.as_mut_ptr() as *mut c_void, 1, 0);
        if r < 0 {
            return -1;
        }
        if r == 0 {
            let e = s.state().so_error;
            return fail(if e != 0 { e } else { libc::ECONNABORTED });
        }
        let Some((app, child)) = s.state().accepted.pop_front() else {
            continue;
        };
        sock::set_flags(
            app.as_raw_fd(),
            flags & libc::SOCK_NONBLOCK != 0,
            flags & libc::SOCK_CLOEXEC != 0,
        );
        if let Some(p) = child.state().peer {
            unsafe { addr::write(p, a, len) };
        }
        let nfd = app.into_raw_fd();
        sock::insert(nfd, child);
        return nfd;
    }
}

#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, a: *const sockaddr, len: socklen_t) -> c_int {
    let Some(s) = sock::lookup(fd) else {
        return real!(connect: unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int)(fd, a, len);
    };
    if !a.is_null() && len as usize >= 2 && i32::from(unsafe { (*a).sa_family }) == libc::AF_UNSPEC {
        debug_once("connect(AF_UNSPEC) (dissolving an association)");
        return fail(libc::EOPNOTSUPP);
    }
    let to = match unsafe { addr::read(a, len) } {
        Ok(t) => addr::in_family(t, s.v6),
        Err(e) => return fail(e),
    };
    if s.kind == Kind::Dgram {
        return result((|| {
            s.conn()?.call(Msg::SockConnect(SockAddrReq {
                addr: to,
                wait: Wait::default(),
            }))?;
            s.refresh_names()?;
            s.state().peer = Some(to);
            Ok(())
        })());
    }
    match s.state().phase {
        Phase::Fresh => {}
        Phase::Connecting => return fail(libc::EALREADY),
        Phase::Connected => return fail(libc::EISCONN),
        Phase::Listening => return fail(libc::EINVAL),
    }
    if s.state().pump_end.is_none() {
        debug_once("connect again on a socket whose connect failed");
        return fail(libc::EINVAL);
    }
    // The pump connects in the background in both modes; a blocking connect waits for the
    // program's end to turn writable, as a poll would, so a signal interrupts it with EINTR
    // (the connection goes on: a later connect says EALREADY) and SO_SNDTIMEO bounds it
    // (EINPROGRESS), as on Linux.
    let filler = sock::fill(fd);
    {
        let mut st = s.state();
        st.phase = Phase::Connecting;
        st.so_error = 0;
        st.peer = Some(to);
    }
    sock::start_pump(&s, Some((to, filler)));
    if sock::nonblocking(fd) {
        return fail(libc::EINPROGRESS);
    }
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let mut tl = std::mem::size_of::<libc::timeval>() as socklen_t;
    let ms = if real::getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_SNDTIMEO,
        &mut tv as *mut _ as *mut c_void,
        &mut tl,
    ) == 0
        && (tv.tv_sec > 0 || tv.tv_usec > 0)
    {
        (tv.tv_sec * 1000 + tv.tv_usec / 1000).clamp(1, i64::from(c_int::MAX)) as c_int
    } else {
        -1
    };
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    match real::poll(&mut p, 1, ms) {
        r if r < 0 => -1,
        0 => fail(libc::EINPROGRESS),
        _ => {
            let mut st = s.state();
            if st.phase == Phase::Connected {
                0
            } else {
                let e = std::mem::take(&mut st.so_error);
                fail(if e != 0 { e } else { libc::ECONNREFUSED })
            }
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    let Some(s) = sock::lookup(fd) else {
        return real::shutdown(fd, how);
    };
    if !matches!(how, libc::SHUT_RD | libc::SHUT_WR | libc::SHUT_RDWR) {
        return fail(libc::EINVAL);
    }
    match s.kind {
        Kind::Stream => {
            if s.state().phase != Phase::Connected {
                return fail(libc::ENOTCONN);
            }
            // The pump sees end of file and passes it on after the bytes before it.
            real::shutdown(fd, how)
        }
        Kind::Dgram => result(
            s.conn()
                .and_then(|mut c| c.call(Msg::SockShutdown(ShutdownReq { how })).map(|_| ())),
        ),
    }
}

// ---- names ---------------------------------------------------------------------------

fn unspecified(v6: bool) -> SocketAddr {
    if v6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    }
}

#[no_mangle]
pub unsafe extern "C" fn getsockname(fd: c_int, a: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let Some(s) = sock::lookup(fd) else {
        return real!(getsockname: unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int)(fd, a, len);
    };
    if a.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    let cached = {
        let st = s.state();
        match st.phase {
            Phase::Listening | Phase::Connected | Phase::Connecting => st.local,
            Phase::Fresh => None,
        }
    };
    let local = match cached {
        Some(l) => l,
        None => match s.refresh_names() {
            Ok((l, _)) => l,
            Err(libc::EOPNOTSUPP) => s.state().local.unwrap_or(unspecified(s.v6)),
            Err(e) => return fail(e),
        },
    };
    unsafe { addr::write(local, a, len) };
    0
}

#[no_mangle]
pub unsafe extern "C" fn getpeername(fd: c_int, a: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let Some(s) = sock::lookup(fd) else {
        return real!(getpeername: unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int)(fd, a, len);
    };
    if a.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    let st = s.state();
    let connected = s.kind == Kind::Dgram || st.phase == Phase::Connected;
    match st.peer {
        Some(p) if connected => {
            unsafe { addr::write(p, a, len) };
            0
        }
        _ => fail(libc::ENOTCONN),
    }
}

// ---- options -------------------------------------------------------------------------

/// The stack's option for (level, name) set to the int `v`; None for one it lacks.
fn stack_opt(level: c_int, name: c_int, v: c_int) -> Option<Result<SockOpt, Errno>> {
    let on = v != 0;
    let byte = |v: c_int, dflt: u8| -> Result<u8, Errno> {
        match v {
            -1 => Ok(dflt),
            1..=255 => Ok(v as u8),
            _ => Err(libc::EINVAL),
        }
    };
    let size = |v: c_int| u32::try_from(v).map_err(|_| libc::EINVAL);
    Some(Ok(match (level, name) {
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => SockOpt::ReuseAddr(on),
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => SockOpt::ReusePort(on),
        (libc::SOL_SOCKET, libc::SO_BROADCAST) => SockOpt::Broadcast(on),
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => SockOpt::KeepAlive(on),
        (libc::SOL_SOCKET, libc::SO_SNDBUF) => return Some(size(v).map(SockOpt::SndBuf)),
        (libc::SOL_SOCKET, libc::SO_RCVBUF) => return Some(size(v).map(SockOpt::RcvBuf)),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => SockOpt::NoDelay(on),
        (libc::IPPROTO_IP, libc::IP_TTL) => return Some(byte(v, 64).map(SockOpt::IpTtl)),
        (libc::IPPROTO_IP, libc::IP_TOS) => SockOpt::IpTos((v & 0xff) as u8),
        (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => SockOpt::V6Only(on),
        (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS) => return Some(byte(v, 64).map(SockOpt::Ipv6UnicastHops)),
        _ => return None,
    }))
}

#[no_mangle]
pub unsafe extern "C" fn setsockopt(fd: c_int, level: c_int, name: c_int, v: *const c_void, len: socklen_t) -> c_int {
    let Some(s) = sock::lookup(fd) else {
        return real::setsockopt(fd, level, name, v, len);
    };
    if level == libc::SOL_SOCKET && matches!(name, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO) {
        // The pair's own timeouts are the ones the program's reads and writes meet.
        return real::setsockopt(fd, level, name, v, len);
    }
    if v.is_null() {
        return fail(libc::EFAULT);
    }
    if level == libc::SOL_SOCKET && name == libc::SO_LINGER {
        if (len as usize) < std::mem::size_of::<libc::linger>() {
            return fail(libc::EINVAL);
        }
        let l = unsafe { std::ptr::read_unaligned(v as *const libc::linger) };
        let o = SockOpt::Linger((l.l_onoff != 0).then_some(l.l_linger.max(0) as u32));
        let r = s.conn().and_then(|mut c| c.call(Msg::SockSetOpt(o)).map(|_| ()));
        if r.is_ok() {
            s.state().linger = Some(l);
        }
        return result(r);
    }
    let iv = match len as usize {
        n if n >= 4 => unsafe { std::ptr::read_unaligned(v as *const c_int) },
        1..=3 => c_int::from(unsafe { *(v as *const u8) }),
        _ => return fail(libc::EINVAL),
    };
    match stack_opt(level, name, iv) {
        Some(Ok(o)) => {
            let r = s.conn().and_then(|mut c| c.call(Msg::SockSetOpt(o)).map(|_| ()));
            if r.is_ok() {
                s.state().opts.insert((level, name), iv);
            }
            result(r)
        }
        Some(Err(e)) => fail(e),
        None => {
            debug_once(&format!("setsockopt(level {level}, option {name})"));
            fail(libc::ENOPROTOOPT)
        }
    }
}

/// SO_SNDBUF or SO_RCVBUF as the stack has it: the socket's own line in the stack's socket
/// list, else (a TCP socket not bound yet) the stack's default, net.inet.tcp.sendspace or
/// recvspace.
fn buffer_size(s: &Sock, local: Option<SocketAddr>, peer: Option<SocketAddr>, snd: bool) -> Result<c_int, Errno> {
    let mut ctl = pktbox_stack::socket::Stack::open_at(&prefix()).map_err(|_| libc::ENETDOWN)?;
    let proto = if s.kind == Kind::Stream { "tcp" } else { "udp" };
    if let Some(l) = local {
        let list = ctl.sock_list().map_err(|e| e.errno().unwrap_or(libc::EIO))?;
        let mine = list.iter().find(|i| {
            i.proto == proto
                && addr::in_family(i.local, s.v6) == l
                && i.foreign.map(|f| addr::in_family(f, s.v6)) == peer
                && i.state != "TIME_WAIT"
        });
        if let Some(i) = mine {
            let v = if snd { i.sndbuf } else { i.rcvbuf };
            return Ok(v.min(c_int::MAX as u64) as c_int);
        }
    }
    if s.kind != Kind::Stream {
        debug_once("getsockopt(SO_SNDBUF/SO_RCVBUF) of an unbound datagram socket");
        return Err(libc::ENOPROTOOPT);
    }
    let name = if snd {
        "net.inet.tcp.sendspace"
    } else {
        "net.inet.tcp.recvspace"
    };
    let v = ctl.sysctl_get(name).map_err(|e| e.errno().unwrap_or(libc::EIO))?;
    match v.first().map(|e| &e.value) {
        Some(SysctlValue::Int(n)) => Ok((*n).clamp(0, i64::from(c_int::MAX)) as c_int),
        _ => Err(libc::ENOPROTOOPT),
    }
}

#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    v: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let Some(s) = sock::lookup(fd) else {
        return real::getsockopt(fd, level, name, v, len);
    };
    if level == libc::SOL_SOCKET && matches!(name, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO) {
        return real::getsockopt(fd, level, name, v, len);
    }
    if v.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    if level == libc::SOL_SOCKET && name == libc::SO_LINGER {
        let l = s.state().linger.unwrap_or(libc::linger {
            l_onoff: 0,
            l_linger: 0,
        });
        let n = std::mem::size_of::<libc::linger>().min(unsafe { *len } as usize);
        unsafe {
            std::ptr::copy_nonoverlapping(&l as *const _ as *const u8, v as *mut u8, n);
            *len = n as socklen_t;
        }
        return 0;
    }
    if level == libc::SOL_SOCKET && matches!(name, libc::SO_SNDBUF | libc::SO_RCVBUF) {
        let (cached, local, peer) = {
            let st = s.state();
            (st.opts.get(&(level, name)).copied(), st.local, st.peer)
        };
        let val = match cached {
            Some(v) => v,
            None => match buffer_size(&s, local, peer, name == libc::SO_SNDBUF) {
                Ok(v) => v,
                Err(e) => return fail(e),
            },
        };
        unsafe { put_int(val, v, len) };
        return 0;
    }
    let mut st = s.state();
    let val = match (level, name) {
        (libc::SOL_SOCKET, libc::SO_ERROR) => std::mem::take(&mut st.so_error),
        (libc::SOL_SOCKET, libc::SO_TYPE) => s.stype,
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => {
            if s.v6 {
                libc::AF_INET6
            } else {
                libc::AF_INET
            }
        }
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => s.protocol,
        (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => c_int::from(st.phase == Phase::Listening),
        _ => match st.opts.get(&(level, name)) {
            Some(v) => *v,

            None => match (level, name) {
                // Off until set, on the stack as on Linux (IPV6_V6ONLY: cleared at socket()).
                (
                    libc::SOL_SOCKET,
                    libc::SO_REUSEADDR | libc::SO_REUSEPORT | libc::SO_KEEPALIVE | libc::SO_BROADCAST,
                )
                | (libc::IPPROTO_TCP, libc::TCP_NODELAY)
                | (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => 0,
                _ => {
                    drop(st);
                    debug_once(&format!("getsockopt(level {level}, option {name})"));
                    return fail(libc::ENOPROTOOPT);
                }
            },
        },
    };
    drop(st);
    unsafe { put_int(val, v, len) };
    0
}

/// An int option's value where getsockopt's caller asked, cut to the room given.
unsafe fn put_int(val: c_int, v: *mut c_void, len: *mut socklen_t) {
    let b = val.to_ne_bytes();
    let n = b.len().min(unsafe { *len } as usize);
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), v as *mut u8, n);
        *len = n as socklen_t;
    }
}

// ---- descriptors ---------------------------------------------------------------------

#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    sock::forget(fd);
    real::close(fd)
}

/// After a successful dup of `old` to `new`: `new` names the same stack socket.
fn dup_entry(old: RawFd, new: c_int) -> c_int {
    if new >= 0 {
        sock::forget(new);
        if let Some(s) = sock::lookup(old) {
            sock::insert(new, s);
        }
    }
    new
}

#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    let r = real!(dup: unsafe extern "C" fn(c_int) -> c_int)(fd);
    dup_entry(fd, r)
}

#[no_mangle]
pub unsafe extern "C" fn dup2(fd: c_int, new: c_int) -> c_int {
    let r = real!(dup2: unsafe extern "C" fn(c_int, c_int) -> c_int)(fd, new);
    if r < 0 || fd == new {
        return r;
    }
    dup_entry(fd, r)
}

#[no_mangle]
pub unsafe extern "C" fn dup3(fd: c_int, new: c_int, flags: c_int) -> c_int {
    let r = real!(dup3: unsafe extern "C" fn(c_int, c_int, c_int) -> c_int)(fd, new, flags);
    dup_entry(fd, r)
}

/// fcntl(2) is variadic; its one optional argument is an int or a pointer, which the
/// calling convention passes as a long.
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    let r = real::fcntl(fd, cmd, arg);
    if matches!(cmd, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) {
        return dup_entry(fd, r);
    }
    r
}

/// glibc's name for fcntl with a 64-bit off_t, which programs built with large file
/// support call.
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    let r = real!(fcntl64: unsafe extern "C" fn(c_int, c_int, c_long) -> c_int)(fd, cmd, arg);
    if matches!(cmd, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) {
        return dup_entry(fd, r);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
    let io = real!(ioctl: unsafe extern "C" fn(c_int, c_ulong, *mut c_void) -> c_int);
    let Some(s) = sock::lookup(fd) else {
        return io(fd, req, arg);
    };
    match req {
        libc::FIONBIO | libc::FIOCLEX | libc::FIONCLEX => io(fd, req, arg),
        libc::FIONREAD if s.kind == Kind::Stream => io(fd, req, arg),
        libc::FIONREAD => {
            if arg.is_null() {
                return fail(libc::EFAULT);
            }
            // The size of the next datagram, without the address before it.
            let r = real::recv(
                fd,
                std::ptr::null_mut(),
                0,
                libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            );
            let n = if r > 0 {
                (r as usize).saturating_sub(addr::HDR)
            } else {
                0
            };
            unsafe { *(arg as *mut c_int) = n as c_int };
            0
        }
        _ => {
            debug_once(&format!("ioctl({req:#x})"));
            fail(libc::EOPNOTSUPP)
        }
    }
}

// ---- datagrams -----------------------------------------------------------------------

/// Receives one datagram into `iov`: its source goes to `name`, MSG_TRUNC to `mflags`.
unsafe fn dgram_recv(
    s: &Sock,
    fd: c_int,
    iov: &[libc::iovec],
    flags: c_int,
    name: *mut sockaddr,
    namelen: *mut socklen_t,
    mflags: Option<&mut c_int>,
) -> ssize_t {
    let mut hdr = [0u8; addr::HDR];
    let mut v = Vec::with_capacity(iov.len() + 1);
    v.push(libc::iovec {
        iov_base: hdr.as_mut_ptr() as *mut c_void,
        iov_len: hdr.len(),
    });
    v.extend_from_slice(iov);
    let mut m: msghdr = unsafe { std::mem::zeroed() };
    m.msg_iov = v.as_mut_ptr();
    m.msg_iovlen = v.len() as _;
    let fl = flags & (libc::MSG_PEEK | libc::MSG_DONTWAIT | libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC);
    let r = real::recvmsg(fd, &mut m, fl);
    if r < 0 {
        return -1;
    }
    if r == 0 {
        let e = s.state().so_error;
        return fail(if e != 0 { e } else { libc::ECONNRESET });
    }
    if (r as usize) < addr::HDR {
        return fail(libc::EPROTO);
    }
    if let Some(e) = addr::parse_error_hdr(&hdr).filter(|_| r as usize == addr::HDR) {
        // An ICMP error about what this socket sent (ECONNREFUSED): reported once.
        return fail(e);
    }
    if let Some(from) = addr::parse_hdr(&hdr) {
        unsafe { addr::write(from, name, namelen) };
    } else if !namelen.is_null() {
        unsafe { *namelen = 0 };
    }
    if let Some(f) = mflags {
        *f = m.msg_flags & libc::MSG_TRUNC;
    }
    r - addr::HDR as ssize_t
}

/// Sends one datagram made of `iov` to `to` (the connected peer when None).
unsafe fn dgram_send(s: &Sock, iov: &[libc::iovec], to: Option<SocketAddr>) -> ssize_t {
    let mut data = Vec::new();
    for v in iov {
        if v.iov_len > 0 {
            if v.iov_base.is_null() {
                return fail(libc::EFAULT);
            }
            data.extend_from_slice(unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) });
        }
    }
    let n = data.len();
    let r = s.conn().and_then(|mut c| {
        // An error the stack pushed and the pump has not handed on yet: this send reports
        // it, as BSD's next send does.
        if let Some(e) = c.so_error.take() {
            return Err(e);
        }
        c.call(Msg::SockSend(SendReq {
            to: to.map(|a| addr::in_family(a, s.v6)),
            data,
            wait: Wait::default(),
        }))
    });
    match r {
        Ok(_) => n as ssize_t,
        Err(e) => fail(e),
    }
}

fn one(buf: *const c_void, n: size_t) -> [libc::iovec; 1] {
    [libc::iovec {
        iov_base: buf as *mut c_void,
        iov_len: n,
    }]
}

unsafe fn iovs<'a>(iov: *const libc::iovec, n: c_int) -> &'a [libc::iovec] {
    if iov.is_null() || n <= 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(iov, n as usize) }
    }
}

unsafe fn dest(a: *const sockaddr, len: socklen_t) -> Result<Option<SocketAddr>, Errno> {
    if a.is_null() {
        Ok(None)
    } else {
        unsafe { addr::read(a, len) }.map(Some)
    }
}

#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    a: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    match sock::lookup_dgram(fd) {
        Some(s) => unsafe { dgram_recv(&s, fd, &one(buf, n), flags, a, len, None) },
        None => {
            real!(recvfrom: unsafe extern "C" fn(c_int, *mut c_void, size_t, c_int, *mut sockaddr, *mut socklen_t) -> ssize_t)(
                fd, buf, n, flags, a, len,
            )
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    a: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    match sock::lookup_dgram(fd) {
        Some(s) => unsafe { dgram_recv(&s, fd, &one(buf, n.min(buflen)), flags, a, len, None) },
        None => {
            real!(__recvfrom_chk: unsafe extern "C" fn(c_int, *mut c_void, size_t, size_t, c_int, *mut sockaddr, *mut socklen_t) -> ssize_t)(
                fd, buf, n, buflen, flags, a, len,
            )
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    match sock::lookup_dgram(fd) {
        Some(s) => unsafe {
            dgram_recv(
                &s,
                fd,
                &one(buf, n),
                flags,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                None,
            )
        },
        None => real::recv(fd, buf, n, flags),
    }
}

#[no_mangle]
pub unsafe extern "C" fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t {
    match sock::lookup_dgram(fd) {
        Some(s) => unsafe {
            dgram_recv(
                &s,
                fd,
                &one(buf, n.min(buflen)),
                flags,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                None,
            )
        },
        None => real!(__recv_chk: unsafe extern "C" fn(c_int, *mut c_void, size_t, size_t, c_int) -> ssize_t)(
            fd, buf, n, buflen, flags,
        ),
    }
}

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    match sock::lookup_dgram(fd) {
        Some(s) => unsafe {
            dgram_recv(
                &s,
                fd,
                &one(buf, n),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                None,
            )
        },
        None => real!(read: unsafe extern "C" fn(c_int, *mut c_void, size_t) -> ssize_t)(fd, buf, n),
    }
}

#[no_mangle]
pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t {
    match sock::lookup_dgram(fd) {
        Some(s) => unsafe {
            dgram_recv(
                &s,
                fd,
                &one(buf, n.min(buflen)),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                None,
            )
        },
        None => {
            real!(__read_chk: unsafe extern "C" fn(c_int, *mut c_void, size_t, size_t) -> ssize_t)(fd, buf, n, buflen)
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, n: c_int) -> ssize_t {
    match sock::lookup_dgram(fd) {
        Some(s) => unsafe {
            dgram_recv(
                &s,
                fd,
                iovs(iov, n),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                None,
            )
        },
        None => real!(readv: unsafe extern "C" fn(c_int, *const libc::iovec, c_int) -> ssize_t)(fd, iov, n),
    }
}

#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, m: *mut msghdr, flags: c_int) -> ssize_t {
    let Some(s) = sock::lookup_dgram(fd) else {
        return real::recvmsg(fd, m, flags);
    };
    if m.is_null() {
        return fail(libc::EFAULT);
    }
    let m = unsafe { &mut *m };
    let mut name_len = m.msg_namelen;
    let mut mf = 0;
    let r = unsafe {
        dgram_recv(
            &s,
            fd,
            iovs(m.msg_iov, m.msg_iovlen as c_int),
            flags,
            m.msg_name as *mut sockaddr,
            &mut name_len,
            Some(&mut mf),
        )
    };
    if r >= 0 {
        if !m.msg_name.is_null() {
            m.msg_namelen = name_len;
        }
        m.msg_controllen = 0;
        m.msg_flags = mf;
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    v: *mut libc::mmsghdr,
    n: c_uint,
    flags: c_int,
    t: *mut libc::timespec,
) -> c_int {
    if sock::lookup_dgram(fd).is_none() {
        return real!(recvmmsg: unsafe extern "C" fn(c_int, *mut libc::mmsghdr, c_uint, c_int, *mut libc::timespec) -> c_int)(
            fd, v, n, flags, t,
        );
    }
    let mut got = 0;
    for i in 0..n as usize {
        // After the first datagram, only what is already there (MSG_WAITFORONE's way).
        let fl = if i == 0 {
            flags & !libc::MSG_WAITFORONE
        } else {
            flags | libc::MSG_DONTWAIT
        };
        let h = unsafe { &mut *v.add(i) };
        let r = unsafe { recvmsg(fd, &mut h.msg_hdr, fl) };
        if r < 0 {
            break;
        }
        h.msg_len = r as c_uint;
        got += 1;
    }
    if got == 0 {
        -1
    } else {
        got
    }
}

#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    a: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    let s = if a.is_null() {
        sock::lookup_dgram(fd)
    } else {
        sock::lookup(fd)
    };
    match s {
        Some(s) if s.kind == Kind::Dgram => match unsafe { dest(a, len) } {
            Ok(to) => unsafe { dgram_send(&s, &one(buf, n), to) },
            Err(e) => fail(e),
        },
        // A connected TCP socket ignores the address, as the kernel's does.
        Some(_) => real::send(fd, buf, n, flags),
        None => {
            real!(sendto: unsafe extern "C" fn(c_int, *const c_void, size_t, c_int, *const sockaddr, socklen_t) -> ssize_t)(
                fd, buf, n, flags, a, len,
            )
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    match sock::lookup_dgram(fd) {
        Some(s) => unsafe { dgram_send(&s, &one(buf, n), None) },
        None => real::send(fd, buf, n, flags),
    }
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    match sock::lookup_dgram(fd) {
        Some(s) => unsafe { dgram_send(&s, &one(buf, n), None) },
        None => real!(write: unsafe extern "C" fn(c_int, *const c_void, size_t) -> ssize_t)(fd, buf, n),
    }
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, n: c_int) -> ssize_t {
    match sock::lookup_dgram(fd) {
        Some(s) => unsafe { dgram_send(&s, iovs(iov, n), None) },
        None => real!(writev: unsafe extern "C" fn(c_int, *const libc::iovec, c_int) -> ssize_t)(fd, iov, n),
    }
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, m: *const msghdr, flags: c_int) -> ssize_t {
    let real_sendmsg = real!(sendmsg: unsafe extern "C" fn(c_int, *const msghdr, c_int) -> ssize_t);
    if m.is_null() {
        return real_sendmsg(fd, m, flags);
    }
    let mm = unsafe { &*m };
    let s = if mm.msg_name.is_null() {
        sock::lookup_dgram(fd)
    } else {
        sock::lookup(fd)
    };
    match s {
        Some(s) if s.kind == Kind::Dgram => {
            if mm.msg_controllen > 0 {
                debug_once("sendmsg with ancillary data");
                return fail(libc::EOPNOTSUPP);
            }
            match unsafe { dest(mm.msg_name as *const sockaddr, mm.msg_namelen) } {
                Ok(to) => unsafe { dgram_send(&s, iovs(mm.msg_iov, mm.msg_iovlen as c_int), to) },
                Err(e) => fail(e),
            }
        }
        Some(_) => {
            let mut copy = *mm;
            copy.msg_name = std::ptr::null_mut();
            copy.msg_namelen = 0;
            real_sendmsg(fd, &copy, flags)
        }
        None => real_sendmsg(fd, m, flags),
    }
}

#[no_mangle]
pub unsafe extern "C" fn sendmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> c_int {
    if sock::lookup(fd).is_none() {
        return real!(sendmmsg: unsafe extern "C" fn(c_int, *mut libc::mmsghdr, c_uint, c_int) -> c_int)(
            fd, v, n, flags,
        );
    }
    let mut sent = 0;
    for i in 0..n as usize {
        let h = unsafe { &mut *v.add(i) };
        let r = unsafe { sendmsg(fd, &h.msg_hdr, flags) };
        if r < 0 {
            break;
        }
        h.msg_len = r as c_uint;
        sent += 1;
    }
    if sent == 0 && n > 0 {
        -1
    } else {
        sent
    }
}

// ---- names ---------------------------------------------------------------------------

/// getaddrinfo(3) through the stack (see `resolve`): numeric addresses, /etc/hosts, then
/// DNS over the stack's UDP to the servers of /etc/resolv.conf.
#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const libc::c_char,
    service: *const libc::c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
) -> c_int {
    if res.is_null() {
        return resolve::EAI_FAIL;
    }
    let (family, socktype, protocol, flags) = if hints.is_null() {
        (libc::AF_UNSPEC, 0, 0, libc::AI_V4MAPPED | libc::AI_ADDRCONFIG)
    } else {
        let h = unsafe { &*hints };
        (h.ai_family, h.ai_socktype, h.ai_protocol, h.ai_flags)
    };
    let q = resolve::Query {
        host: unsafe { resolve::opt_str(node) },
        service: unsafe { resolve::opt_str(service) },
        family,
        socktype,
        protocol,
        flags,
    };
    if q.host.is_none() && q.service.is_none() {
        return resolve::EAI_NONAME;
    }
    match resolve::lookup(&q) {
        Ok((addrs, canon)) if addrs.is_empty() => {
            drop(canon);
            resolve::EAI_NONAME
        }
        Ok((addrs, canon)) => unsafe { resolve::build(&q, q.host.as_deref(), &addrs, canon, res) },
        Err(e) => e,
    }
}

// ---- interfaces ----------------------------------------------------------------------

/// getifaddrs(3) of the stack's interfaces (freed by the C library's freeifaddrs).
#[no_mangle]
pub unsafe extern "C" fn getifaddrs(out: *mut *mut libc::ifaddrs) -> c_int {
    result(unsafe { ifs::getifaddrs(out) })
}

#[no_mangle]
pub unsafe extern "C" fn if_nametoindex(name: *const libc::c_char) -> c_uint {
    let Some(n) = (unsafe { resolve::opt_str(name) }) else {
        set_errno(libc::EFAULT);
        return 0;
    };
    match ifs::nametoindex(&n) {
        Ok(i) => i,
        Err(e) => {
            set_errno(e);
            0
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn if_indextoname(index: c_uint, buf: *mut libc::c_char) -> *mut libc::c_char {
    if buf.is_null() {
        set_errno(libc::EFAULT);
        return std::ptr::null_mut();
    }
    match unsafe { ifs::indextoname(index, buf) } {
        Ok(p) => p,
        Err(e) => {
            set_errno(e);
            std::ptr::null_mut()
        }
    }
}

/// if_nameindex(3) (freed by the C library's if_freenameindex).
#[no_mangle]
pub unsafe extern "C" fn if_nameindex() -> *mut libc::if_nameindex {
    match ifs::nameindex() {
        Ok(p) => p,
        Err(e) => {
            set_errno(e);
            std::ptr::null_mut()
        }
    }
}
