//! Socket-role connections: one BSD socket each, closed when the connection closes, so a
//! client that exits or is killed leaks nothing: raw IPv4 sockets (ping), UDP and TCP,
//! of domain AF_INET or (on the variants with IPv6) AF_INET6. An AF_INET6 socket starts
//! with IPV6_V6ONLY set, as NetBSD's net.inet6.ip6.v6only defaults to 1; cleared (before
//! bind), its `::` takes IPv4 peers too, seen as v4-mapped addresses (`inet::inpcb`).
//!
//! A blocking call (connect, accept, recv, a send that waits for room) that cannot complete
//! at once is parked ([`Parked`]): the socket is marked `waiting` under the same hold of the
//! stack context in which the call found nothing to do, so TCP's next change to it queues
//! its id ([`crate::inet::tcp::wake`]) and the server tries the call again. Its reply then
//! goes out with the original seq. A timeout (SO_RCVTIMEO / SO_SNDTIMEO) is a deadline
//! after which the call ends as it did before: EAGAIN, ETIMEDOUT for connect, or the
//! bytes a send got in. A client that goes away ends the wait (its connection closes);
//! a stack that shuts down answers EINTR.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conf::Ctx;
use crate::inet::inpcb::Af;
use crate::inet::raw::{raw_addr, rip_output, RawPcb};
use crate::inet::tcp::usrreq as tcp;
use crate::inet::udp::{self, UdpPcb};
use crate::msg::wire::SeqPacket;
use crate::msg::{Empty, Header, Msg, SockNames, SockOpt, SocketReq, Wait};
use crate::net::if_control::Fail;
use crate::resmgr::{Conn, Server};
use crate::sys::Stack;

/// What kind of socket a connection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Raw,
    Udp,
    Tcp(tcp::Sock),
}

/// Creates the socket a connection stands for.
fn create(stack: &Arc<Stack>, conn: &Conn, req: &SocketReq) -> Result<Kind, Fail> {
    let af = match req.domain {
        libc::AF_INET => Af::INET,
        libc::AF_INET6 if stack.variant.has_inet6() => Af {
            v6: true,
            v6only: stack.ctx().inet.v6only,
        },
        libc::AF_INET6 => {
            return Err(Fail::with(
                libc::EAFNOSUPPORT,
                format!(
                    "inet6: address family not supported by this stack ({})",
                    stack.variant.name()
                ),
            ))
        }
        _ => return Err(Fail::new(libc::EAFNOSUPPORT)),
    };
    let sock = conn
        .sock()
        .try_clone()
        .map_err(|e| Fail::new(e.raw_os_error().unwrap_or(libc::ENOBUFS)))?;
    match req.stype {
        libc::SOCK_RAW => {
            if conn.cred.uid != 0 {
                return Err(Fail::new(libc::EPERM));
            }
            let proto = u8::try_from(req.protocol).map_err(|_| Fail::new(libc::EPROTONOSUPPORT))?;
            stack.ctx().inet.raw.push(RawPcb {
                af,
                ..RawPcb::new(conn.id, proto, sock)
            });
            Ok(Kind::Raw)
        }
        libc::SOCK_DGRAM => {
            if req.protocol != 0 && req.protocol != libc::IPPROTO_UDP {
                return Err(Fail::new(libc::EPROTONOSUPPORT));
            }
            let rcvbuf = push_room(&sock);
            stack.ctx().inet.udp.push(UdpPcb {
                af,
                ..UdpPcb::new(conn.id, sock, rcvbuf)
            });
            Ok(Kind::Udp)
        }
        libc::SOCK_STREAM => {
            if req.protocol != 0 && req.protocol != libc::IPPROTO_TCP {
                return Err(Fail::new(libc::EPROTONOSUPPORT));
            }
            drop(sock);
            tcp::attach(&mut stack.ctx(), conn.id, af);
            Ok(Kind::Tcp(tcp::Sock::Fresh))
        }
        _ => Err(Fail::new(libc::EPROTOTYPE)),
    }
}

fn raw_pcb(ctx: &mut Ctx, id: u64) -> Result<&mut RawPcb, Fail> {
    ctx.inet
        .raw
        .iter_mut()
        .find(|p| p.id == id)
        .ok_or(Fail::new(libc::EBADF))
}

fn udp_pcb(ctx: &mut Ctx, id: u64) -> Result<&mut UdpPcb, Fail> {
    ctx.inet
        .udp
        .iter_mut()
        .find(|p| p.id == id)
        .ok_or(Fail::new(libc::EBADF))
}

/// The room for datagrams that the client of a UDP or raw socket has not read: the send
/// buffer of the stack's side of its connection, as Linux counts it (it doubles what is
/// set, for its own overhead, and reports the double).
fn push_room(s: &SeqPacket) -> usize {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt on a descriptor we own, into a c_int of the length given.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            &mut v as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    if r == 0 {
        (v / 2).max(0) as usize
    } else {
        0
    }
}

/// SO_RCVBUF of a UDP or raw socket: sizes the room for unread datagrams (see
/// `push_room`); SO_SNDBUFFORCE first, as the stack may be allowed to go past
/// net.core.wmem_max, else what SO_SNDBUF allows. Returns the size in effect.
fn set_push_room(s: &SeqPacket, n: u32) -> Result<usize, Fail> {
    let v = libc::c_int::try_from(n.clamp(SOCKBUF_MIN, SOCKBUF_MAX)).map_err(|_| Fail::new(libc::EINVAL))?;
    let set = |opt| {
        // SAFETY: setsockopt on a descriptor we own with a c_int value of the right size.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &v as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    if set(libc::SO_SNDBUFFORCE) != 0 && set(libc::SO_SNDBUF) != 0 {
        return Err(Fail::new(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOBUFS),
        ));
    }
    Ok(push_room(s))
}

/// Limits of SO_SNDBUF / SO_RCVBUF on UDP and raw sockets.
const SOCKBUF_MIN: u32 = 2048;
const SOCKBUF_MAX: u32 = 4 << 20;

/// setsockopt(2). Every option is either done or refused: TCP's and the socket-level
/// options that only mean something to a connection (SO_LINGER, SO_KEEPALIVE) are
/// ENOPROTOOPT on UDP and raw sockets, as are the port-sharing options on raw sockets.
fn setopt(ctx: &mut Ctx, kind: Kind, id: u64, o: SockOpt) -> Result<(), Fail> {
    match (kind, o) {
        // IPV6_UNICAST_HOPS: on a raw socket any hop limit (ping6 -h 0 included); on the
        // others what IP_TTL sets, which their IPv6 output takes as the hop limit.
        (Kind::Raw, SockOpt::Ipv6UnicastHops(h)) => {
            let p = raw_pcb(ctx, id)?;
            if !p.af.v6 {
                return Err(Fail::new(libc::ENOPROTOOPT));
            }
            p.ttl = Some(h);
            Ok(())
        }
        (k, SockOpt::Ipv6UnicastHops(h)) => setopt(ctx, k, id, SockOpt::IpTtl(h)),
        (Kind::Raw, SockOpt::Ipv6UseMinMtu(v)) => {
            let p = raw_pcb(ctx, id)?;
            if !p.af.v6 {
                return Err(Fail::new(libc::ENOPROTOOPT));
            }
            if !(-1..=1).contains(&v) {
                return Err(Fail::new(libc::EINVAL));
            }
            p.use_min_mtu = v;
            Ok(())
        }
        (_, SockOpt::IpTtl(0)) => Err(Fail::new(libc::EINVAL)),
        (_, SockOpt::SndBuf(0) | SockOpt::RcvBuf(0)) => Err(Fail::new(libc::EINVAL)),
        (Kind::Raw, SockOpt::IpTtl(t)) => raw_pcb(ctx, id).map(|p| p.ttl = Some(t)),
        (Kind::Raw, SockOpt::IpTos(t)) => raw_pcb(ctx, id).map(|p| p.tos = t),
        (Kind::Raw, SockOpt::SndBuf(n)) => raw_pcb(ctx, id).map(|p| p.sndbuf = Some(n as usize)),
        (Kind::Raw, SockOpt::RcvBuf(n)) => set_push_room(&raw_pcb(ctx, id)?.conn, n).map(|_| ()),
        // Raw sockets may always send to a broadcast address (BSD's rip_output).
        (Kind::Raw, SockOpt::Broadcast(_)) => Ok(()),
        (Kind::Udp, SockOpt::IpTtl(t)) => udp_pcb(ctx, id).map(|p| p.ttl = Some(t)),
        (Kind::Udp, SockOpt::IpTos(t)) => udp_pcb(ctx, id).map(|p| p.tos = t),
        (Kind::Udp, SockOpt::ReuseAddr(b)) => udp_pcb(ctx, id).map(|p| p.reuseaddr = b),
        (Kind::Udp, SockOpt::ReusePort(b)) => udp_pcb(ctx, id).map(|p| p.reuseport = b),
        (Kind::Udp, SockOpt::Broadcast(b)) => udp_pcb(ctx, id).map(|p| p.broadcast = b),
        (Kind::Udp, SockOpt::SndBuf(n)) => udp_pcb(ctx, id).map(|p| p.sndbuf = Some(n as usize)),
        (Kind::Udp, SockOpt::RcvBuf(n)) => {
            let p = udp_pcb(ctx, id)?;
            p.rcvbuf = set_push_room(&p.conn, n)?;
            Ok(())
        }
        (Kind::Udp, SockOpt::V6Only(v)) => {
            let p = udp_pcb(ctx, id)?;
            set_v6only(&mut p.af, p.lport != 0, v)
        }
        (Kind::Raw, SockOpt::V6Only(v)) => {
            let p = raw_pcb(ctx, id)?;
            set_v6only(&mut p.af, p.laddr.is_some(), v)
        }
        (Kind::Tcp(s), o) => {
            let t = match o {
                SockOpt::IpTtl(v) => tcp::Opt::Ttl(v),
                SockOpt::IpTos(v) => tcp::Opt::Tos(v),
                SockOpt::ReuseAddr(v) => tcp::Opt::ReuseAddr(v),
                SockOpt::ReusePort(v) => tcp::Opt::ReusePort(v),
                SockOpt::NoDelay(v) => tcp::Opt::NoDelay(v),
                SockOpt::KeepAlive(v) => tcp::Opt::KeepAlive(v),
                SockOpt::Linger(v) => tcp::Opt::Linger(v.map(|s| Duration::from_secs(u64::from(s)))),
                SockOpt::SndBuf(n) => tcp::Opt::SndBuf(n as usize),
                SockOpt::RcvBuf(n) => tcp::Opt::RcvBuf(n as usize),
                SockOpt::V6Only(v) => tcp::Opt::V6Only(v),
                SockOpt::Ipv6UnicastHops(v) => tcp::Opt::Ttl(v),
                SockOpt::Broadcast(_) | SockOpt::Ipv6UseMinMtu(_) => return Err(Fail::new(libc::ENOPROTOOPT)),
            };
            tcp::setopt(ctx, id, s, t).map_err(Fail::new)
        }
        (Kind::Raw | Kind::Udp, SockOpt::NoDelay(_) | SockOpt::KeepAlive(_) | SockOpt::Linger(_))
        | (Kind::Raw, SockOpt::ReuseAddr(_) | SockOpt::ReusePort(_))
        // IPV6_USE_MIN_MTU is a raw socket's only (ping6 -m); UDP does not take it yet.
        | (Kind::Udp, SockOpt::Ipv6UseMinMtu(_)) => Err(Fail::new(libc::ENOPROTOOPT)),
    }
}

/// IPV6_V6ONLY on a UDP or raw socket: AF_INET6 only (ENOPROTOOPT on AF_INET), and only
/// before bind (EINVAL), as NetBSD's ip6_ctloutput.
fn set_v6only(af: &mut Af, bound: bool, v: bool) -> Result<(), Fail> {
    if !af.v6 {
        return Err(Fail::new(libc::ENOPROTOOPT));
    }
    if bound {
        return Err(Fail::new(libc::EINVAL));
    }
    af.v6only = v;
    Ok(())
}

/// Serves one request of a socket connection; `kind` is None until socket() succeeds.
/// Returns the request when it has to wait (it is answered later, see `retry`).
pub(crate) fn dispatch(
    srv: &Arc<Server>,
    conn: &Conn,
    kind: &mut Option<Kind>,
    hdr: &Header,
    msg: &mut Msg,
) -> Option<Parked> {
    let stack = &srv.stack;
    let root = conn.cred.uid == 0;
    let id = conn.id;
    if let Msg::SockClientFd(fd) = msg {
        // Only shown by sockstat: any number the client likes, of its own socket.
        conn.client_fd.store(*fd, std::sync::atomic::Ordering::Relaxed);
        send_reply(conn, hdr, Ok((Msg::Done(Empty), None)));
        return None;
    }
    if let Some(Kind::Tcp(s)) = *kind {
        if !matches!(msg, Msg::Socket(_)) {
            let mut s2 = s;
            let mut parked = None;
            let r = tcp_dispatch(srv, conn, &mut s2, hdr, msg, &mut parked);
            *kind = Some(Kind::Tcp(s2));
            if let Some(r) = r {
                send_reply(conn, hdr, r);
            }
            return parked;
        }
    }
    let r: Result<Msg, Fail> = match (msg, *kind) {
        (Msg::Socket(req), None) => create(stack, conn, req).map(|k| {
            *kind = Some(k);
            Msg::Done(Empty)
        }),
        (Msg::Socket(_), Some(_)) => Err(Fail::with(libc::EISCONN, "the socket exists".into())),
        (_, None) => Err(Fail::with(libc::EINVAL, "socket() must come first".into())),
        (Msg::SockBind(a), Some(Kind::Raw)) => {
            let mut ctx = stack.ctx();
            raw_pcb(&mut ctx, id)
                .and_then(|p| raw_addr(p.af, a.addr).map_err(Fail::new))
                .and_then(|ip| {
                    if !ip.is_unspecified() && !crate::inet::out::is_local(&ctx, ip) {
                        return Err(Fail::new(libc::EADDRNOTAVAIL));
                    }
                    let p = raw_pcb(&mut ctx, id)?;
                    p.laddr = Some(ip).filter(|a| !a.is_unspecified());
                    Ok(Msg::Done(Empty))
                })
        }
        (Msg::SockBind(a), Some(Kind::Udp)) => udp::udp_bind(&mut stack.ctx(), id, a.addr, root)
            .map(|()| Msg::Done(Empty))
            .map_err(Fail::new),
        (Msg::SockConnect(a), Some(Kind::Raw)) => {
            let mut ctx = stack.ctx();
            raw_pcb(&mut ctx, id)
                .and_then(|p| {
                    let ip = raw_addr(p.af, a.addr).map_err(Fail::new)?;
                    p.faddr = Some(ip).filter(|a| !a.is_unspecified());
                    Ok((p.laddr, p.faddr))
                })
                .and_then(|(laddr, faddr)| {
                    // An AF_INET6 socket's connect fixes its source as rip6_connect does (what
                    // ping6 asks getsockname for), on the interface the scope names.
                    if let (None, Some(IpAddr::V6(d))) = (laddr, faddr) {
                        let scope = match a.addr {
                            SocketAddr::V6(s) => u16::try_from(s.scope_id()).map_err(|_| Fail::new(libc::ENXIO))?,
                            SocketAddr::V4(_) => 0,
                        };
                        let src = crate::inet::raw::rip6_selectsrc(&mut ctx, &d, (scope != 0).then_some(scope))
                            .map_err(Fail::new)?;
                        raw_pcb(&mut ctx, id)?.laddr = Some(IpAddr::V6(src));
                    }
                    Ok(Msg::Done(Empty))
                })
        }
        (Msg::SockConnect(a), Some(Kind::Udp)) => udp::udp_connect(&mut stack.ctx(), id, a.addr, root)
            .map(|()| Msg::Done(Empty))
            .map_err(Fail::new),
        (Msg::SockSetOpt(o), Some(k)) => setopt(&mut stack.ctx(), k, id, *o).map(|()| Msg::Done(Empty)),
        (Msg::SockSend(s), Some(Kind::Raw)) => {
            let mut ctx = stack.ctx();
            raw_pcb(&mut ctx, id).map(|p| p.af).and_then(|af| {
                let to = s.to.map(|a| raw_addr(af, a)).transpose().map_err(Fail::new)?;
                let scope = match s.to {
                    Some(std::net::SocketAddr::V6(a)) => a.scope_id(),
                    _ => 0,
                };
                rip_output(&mut ctx, id, to, scope, &s.data)
                    .map(|()| Msg::Done(Empty))
                    .map_err(Fail::new)
            })
        }
        (Msg::SockSend(s), Some(Kind::Udp)) => udp::udp_output(&mut stack.ctx(), id, s.to, &s.data, root)
            .map(|()| Msg::Done(Empty))
            .map_err(Fail::new),
        (Msg::SockGetName(_), Some(Kind::Udp)) => udp::udp_names(&stack.ctx(), id)
            .map(|(local, peer)| Msg::SockNamesOk(SockNames { local, peer }))
            .map_err(Fail::new),
        (Msg::SockGetName(_), Some(Kind::Raw)) => {
            let mut ctx = stack.ctx();
            raw_pcb(&mut ctx, id).map(|p| {
                Msg::SockNamesOk(SockNames {
                    local: SocketAddr::new(p.laddr.unwrap_or(p.af.any()), 0),
                    peer: p.faddr.map(|f| SocketAddr::new(f, 0)),
                })
            })
        }
        _ => Err(Fail::with(libc::EINVAL, "not a socket request".into())),
    };
    match r {
        Ok(m) => conn.reply(hdr, &m),
        Err(f) => conn.reply_err(hdr.seq, f.errno, f.text),
    }
    None
}

/// Closes the socket of a connection that went away.
pub(crate) fn close(stack: &Stack, id: u64, kind: Kind) {
    let mut ctx = stack.ctx();
    match kind {
        Kind::Raw => ctx.inet.raw.retain(|p| p.id != id),
        Kind::Udp => ctx.inet.udp.retain(|p| p.id != id),
        Kind::Tcp(s) => tcp::close(&mut ctx, id, s),
    }
}

/// A blocking request that could not complete yet, kept with its connection.
pub(crate) struct Parked {
    pub hdr: Header,
    /// When the request gives up (SO_RCVTIMEO / SO_SNDTIMEO).
    pub deadline: Option<Instant>,
    wait: Wait,
    op: Op,
}

/// What a parked request waits for.
enum Op {
    Accept,
    Recv {
        max: usize,
        peek: bool,
    },
    /// The data still to go (`data[off..]`).
    Send {
        data: Vec<u8>,
        off: usize,
    },
    Connect,
}

/// How a blocking request completed.
enum Done {
    Accepted(u64),
    Data(Vec<u8>),
    Sent(usize),
    Connected,
}

type Reply = Result<(Msg, Option<std::os::fd::OwnedFd>), Fail>;

/// Sends a TCP request's reply (with a descriptor for accept).
fn send_reply(conn: &Conn, hdr: &Header, r: Reply) {
    match r {
        Ok((m, None)) => conn.reply(hdr, &m),
        Ok((m, Some(fd))) => conn.reply_fd(hdr, &m, fd),
        Err(f) => conn.reply_err(hdr.seq, f.errno, f.text),
    }
}

/// Starts a request that may have to wait: it completes now (and is answered) or is
/// returned to be parked.
fn start(srv: &Arc<Server>, conn: &Conn, hdr: &Header, wait: Wait, op: Op) -> Option<Parked> {
    let p = Parked {
        hdr: *hdr,
        deadline: wait
            .timeout_ms
            .map(|ms| Instant::now() + Duration::from_millis(u64::from(ms))),
        wait,
        op,
    };
    retry(srv, conn, p)
}

/// Tries a parked request again: None once it completed and was answered.
pub(crate) fn retry(srv: &Arc<Server>, conn: &Conn, mut p: Parked) -> Option<Parked> {
    match attempt(srv, conn, &mut p) {
        Some(r) => {
            send_reply(conn, &p.hdr, r);
            None
        }
        None => Some(p),
    }
}

/// How a request ends with errno `e` (EAGAIN: it would wait and may not).
fn fail(p: &Parked, e: i32) -> Reply {
    match p.op {
        Op::Connect if e == libc::EAGAIN && !p.wait.nonblock => Err(Fail::new(libc::ETIMEDOUT)),
        Op::Send { off, .. } if e == libc::EAGAIN && off > 0 => Ok((Msg::SockSent(off as u64), None)),
        _ => Err(Fail::new(e)),
    }
}

/// One try at a blocking request: its reply, or None when it has to wait, in which case
/// the socket is marked so that TCP wakes it (under the same hold of the stack context,
/// so no change is missed).
fn attempt(srv: &Arc<Server>, conn: &Conn, p: &mut Parked) -> Option<Reply> {
    let stack = &srv.stack;
    let id = conn.id;
    let mut ctx = stack.ctx();
    let got: Result<Option<Done>, i32> = match &mut p.op {
        // A connection the user has no room for stays queued, as accept(2) leaves it when
        // the process is out of descriptors.
        Op::Accept => match srv.room_for(conn.cred.uid) {
            Ok(()) => tcp::accept(&mut ctx, id).map(|o| o.map(Done::Accepted)),
            Err(e) => Err(e),
        },
        Op::Recv { max, peek } => match tcp::recv(&mut ctx, id, *max, *peek) {
            Ok(tcp::Recv::Data(v)) => Ok(Some(Done::Data(v))),
            Ok(tcp::Recv::Eof) => Ok(Some(Done::Data(Vec::new()))),
            Ok(tcp::Recv::Empty) => Ok(None),
            Err(e) => Err(e),
        },
        Op::Send { data, off } => tcp::send(&mut ctx, id, data.get(*off..).unwrap_or_default()).map(|n| {
            *off += n;
            (*off >= data.len()).then_some(Done::Sent(*off))
        }),
        Op::Connect => match ctx.inet.tcp.tcbs.get_mut(&id) {
            None => Err(libc::ECONNREFUSED),
            Some(t) => match t.so_error.take() {
                Some(e) => Err(e),
                None => Ok(t.state.synchronized().then_some(Done::Connected)),
            },
        },
    };
    match got {
        Ok(Some(d)) => {
            drop(ctx);
            return Some(finish(srv, conn, d));
        }
        Err(e) => return Some(fail(p, e)),
        Ok(None) => {}
    }
    if p.wait.nonblock || p.deadline.is_some_and(|d| Instant::now() >= d) {
        return Some(fail(p, libc::EAGAIN));
    }
    if stack.shutting_down() {
        return Some(fail(p, libc::EINTR));
    }
    let tcp = &mut ctx.inet.tcp;
    let marked = match p.op {
        Op::Accept => tcp.listeners.get_mut(&id).map(|l| l.waiting = true),
        _ => tcp.tcbs.get_mut(&id).map(|t| t.waiting = true),
    };
    if marked.is_none() {
        return Some(fail(p, libc::EBADF));
    }
    None
}

/// The reply of a blocking request that completed.
fn finish(srv: &Arc<Server>, conn: &Conn, d: Done) -> Reply {
    let stack = &srv.stack;
    let id = conn.id;
    match d {
        Done::Accepted(tid) => {
            let (mine, theirs) = SeqPacket::pair().map_err(|e| Fail::new(e.raw_os_error().unwrap_or(libc::EMFILE)))?;
            let names = tcp::names(&stack.ctx(), tid, tcp::Sock::Conn).map_err(Fail::new)?;
            let _ = mine.set_buffers(1 << 20);
            let c = srv
                .conn(tid, mine, conn.cred, Some(crate::msg::Role::Socket))
                .map_err(|e| Fail::new(e.raw_os_error().unwrap_or(libc::ENOBUFS)))?;
            srv.add(c, Some(Kind::Tcp(tcp::Sock::Conn)));
            let fd = std::os::fd::OwnedFd::from(theirs);
            Ok((
                Msg::SockAccepted(SockNames {
                    local: names.0,
                    peer: names.1,
                }),
                Some(fd),
            ))
        }
        Done::Data(data) => {
            let peer = tcp::names(&stack.ctx(), id, tcp::Sock::Conn)
                .ok()
                .and_then(|n| n.1)
                .unwrap_or(SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0));
            Ok((
                Msg::SockData(crate::msg::DataMsg {
                    from: peer,
                    data,
                    hlim: None,
                }),
                None,
            ))
        }
        Done::Sent(n) => Ok((Msg::SockSent(n as u64), None)),
        Done::Connected => Ok((Msg::Done(Empty), None)),
    }
}

/// A TCP socket's requests: the reply, or None when the request was started and parked
/// (see `tcp_dispatch`'s caller) or answered by `start`.
fn tcp_dispatch(
    srv: &Arc<Server>,
    conn: &Conn,
    s: &mut tcp::Sock,
    hdr: &Header,
    msg: &mut Msg,
    parked: &mut Option<Parked>,
) -> Option<Reply> {
    let stack = &srv.stack;
    let root = conn.cred.uid == 0;
    let id = conn.id;
    let done = |r: Result<(), i32>| Some(r.map(|()| (Msg::Done(Empty), None)).map_err(Fail::new));
    let mut park = |w: Wait, op: Op| {
        *parked = start(srv, conn, hdr, w, op);
        None
    };
    match (msg, *s) {
        (Msg::SockBind(a), tcp::Sock::Fresh) => done(tcp::bind(&mut stack.ctx(), id, a.addr, root)),
        (Msg::SockListen(l), tcp::Sock::Fresh) => {
            if let Err(e) = tcp::listen(&mut stack.ctx(), id, l.backlog, root) {
                return Some(Err(Fail::new(e)));
            }
            *s = tcp::Sock::Listening;
            done(Ok(()))
        }
        (Msg::SockListen(_), tcp::Sock::Listening) => done(Ok(())),
        (Msg::SockConnect(a), tcp::Sock::Fresh) => {
            if let Err(e) = tcp::connect(&mut stack.ctx(), id, a.addr, root) {
                return Some(Err(Fail::new(e)));
            }
            *s = tcp::Sock::Conn;
            if a.wait.nonblock {
                return Some(Err(Fail::new(libc::EINPROGRESS)));
            }
            park(a.wait, Op::Connect)
        }
        (Msg::SockConnect(a), tcp::Sock::Conn) => park(a.wait, Op::Connect),
        (Msg::SockAccept(w), tcp::Sock::Listening) => park(*w, Op::Accept),
        (Msg::SockRecv(r), tcp::Sock::Conn) => {
            let max = (r.max as usize).clamp(1, crate::msg::MAX_MSG - 1024);
            park(r.wait, Op::Recv { max, peek: r.peek })
        }
        (Msg::SockSend(d), tcp::Sock::Conn) => {
            let data = std::mem::take(&mut d.data);
            park(d.wait, Op::Send { data, off: 0 })
        }
        (Msg::SockShutdown(h), tcp::Sock::Conn) => done(tcp::shutdown(&mut stack.ctx(), id, h.how)),
        (Msg::SockShutdown(_), _) => Some(Err(Fail::new(libc::ENOTCONN))),
        (Msg::SockSetOpt(o), st) => {
            Some(setopt(&mut stack.ctx(), Kind::Tcp(st), id, *o).map(|()| (Msg::Done(Empty), None)))
        }
        (Msg::SockGetName(_), st) => Some(
            tcp::names(&stack.ctx(), id, st)
                .map(|(local, peer)| (Msg::SockNamesOk(SockNames { local, peer }), None))
                .map_err(Fail::new),
        ),
        (Msg::SockRecv(_) | Msg::SockSend(_), _) => Some(Err(Fail::new(libc::ENOTCONN))),
        (Msg::SockConnect(_), tcp::Sock::Listening) => Some(Err(Fail::new(libc::EISCONN))),
        (Msg::SockAccept(_), _) | (Msg::SockListen(_), _) | (Msg::SockBind(_), _) => Some(Err(Fail::new(libc::EINVAL))),
        _ => Some(Err(Fail::with(libc::EINVAL, "not a socket request".into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inet::input_tests::{setup, HIM, ME};
    use crate::wire::ipv4::{write_header, IPPROTO_UDP};

    /// A UDP socket (id 1) bound to port 5300 on a fresh stack; the client's end too.
    fn udp_sock(ctx: &mut Ctx) -> SeqPacket {
        let (ours, theirs) = SeqPacket::pair().unwrap();
        let rcvbuf = push_room(&ours);
        ctx.inet.udp.push(UdpPcb {
            lport: 5300,
            ..UdpPcb::new(1, ours, rcvbuf)
        });
        theirs
    }

    /// `n` datagrams of 600 bytes from HIM to port 5300, nobody reading them; how many
    /// were queued for the socket.
    fn flood(n: usize, rcvbuf: Option<u32>) -> u64 {
        let (stack, ifp, _sink) = setup(false);
        let mut ctx = stack.ctx();
        let _client = udp_sock(&mut ctx);
        if let Some(b) = rcvbuf {
            setopt(&mut ctx, Kind::Udp, 1, SockOpt::RcvBuf(b)).unwrap();
        }
        let mut p = vec![0u8; 20 + 8 + 600];
        let total = p.len();
        write_header(&mut p[..20], 0, total, 1, 0, 64, IPPROTO_UDP, HIM, ME);
        p[20..22].copy_from_slice(&53u16.to_be_bytes());
        p[22..24].copy_from_slice(&5300u16.to_be_bytes());
        p[24..26].copy_from_slice(&608u16.to_be_bytes());
        for _ in 0..n {
            udp::udp_input(&mut ctx, &ifp, &p, false, true);
        }
        assert_eq!(ctx.inet.udpstat.delivered + ctx.inet.udpstat.fullsock, n as u64);
        ctx.inet.udpstat.delivered
    }

    #[test]
    fn so_rcvbuf_bounds_what_a_udp_socket_holds_unread() {
        assert_eq!(flood(40, None), 40, "the default holds 40 small datagrams");
        let small = flood(40, Some(4096));
        assert!(small > 0 && small < 40, "{small} of 40 queued with SO_RCVBUF 4096");
    }

    #[test]
    fn so_sndbuf_bounds_the_datagrams_a_udp_socket_sends_and_netstat_shows_both() {
        let (stack, _ifp, _sink) = setup(false);
        let mut ctx = stack.ctx();
        let _client = udp_sock(&mut ctx);
        setopt(&mut ctx, Kind::Udp, 1, SockOpt::SndBuf(512)).unwrap();
        setopt(&mut ctx, Kind::Udp, 1, SockOpt::RcvBuf(8192)).unwrap();
        let to = Some(SocketAddr::new(HIM.into(), 53));
        assert_eq!(udp::udp_output(&mut ctx, 1, to, &[0; 513], true), Err(libc::EMSGSIZE));
        // (Held for ARP, but accepted.)
        assert_eq!(udp::udp_output(&mut ctx, 1, to, &[0; 512], true), Ok(()));
        let so = crate::inet::pcblist(&ctx)
            .into_iter()
            .find(|s| s.proto == "udp")
            .unwrap();
        assert_eq!((so.rcvbuf, so.sndbuf), (8192, 512));
    }

    #[test]
    fn options_udp_and_raw_sockets_have_no_use_for_are_refused() {
        let (stack, _ifp, _sink) = setup(false);
        let mut ctx = stack.ctx();
        let _client = udp_sock(&mut ctx);
        let (ours, _theirs) = SeqPacket::pair().unwrap();
        ctx.inet.raw.push(RawPcb::new(2, 1, ours));
        let refused = [
            SockOpt::Linger(Some(0)),
            SockOpt::Linger(None),
            SockOpt::KeepAlive(true),
            SockOpt::NoDelay(true),
        ];
        for (kind, id) in [(Kind::Udp, 1), (Kind::Raw, 2)] {
            for o in refused {
                let e = setopt(&mut ctx, kind, id, o).err().map(|f| f.errno);
                assert_eq!(e, Some(libc::ENOPROTOOPT), "{kind:?} {o:?}");
            }
            let e = setopt(&mut ctx, kind, id, SockOpt::SndBuf(0)).err().map(|f| f.errno);
            assert_eq!(e, Some(libc::EINVAL));
        }
        for o in [SockOpt::ReuseAddr(true), SockOpt::ReusePort(true)] {
            let e = setopt(&mut ctx, Kind::Raw, 2, o).err().map(|f| f.errno);
            assert_eq!(e, Some(libc::ENOPROTOOPT), "raw {o:?}");
        }
        // What they do use is taken.
        setopt(&mut ctx, Kind::Raw, 2, SockOpt::SndBuf(100)).unwrap();
        assert_eq!(
            crate::inet::raw::rip_output(&mut ctx, 2, Some(HIM.into()), 0, &[0; 101]),
            Err(libc::EMSGSIZE)
        );
        setopt(&mut ctx, Kind::Udp, 1, SockOpt::ReusePort(true)).unwrap();
        assert!(ctx.inet.udp[0].reuseport);
    }

    /// A dual (V6ONLY cleared) or V6ONLY AF_INET6 UDP socket `id` bound to `[::]:5300`.
    fn udp6_sock(ctx: &mut Ctx, id: u64, v6only: bool) -> SeqPacket {
        let (ours, theirs) = SeqPacket::pair().unwrap();
        let rcvbuf = push_room(&ours);
        ctx.inet.udp.push(UdpPcb {
            af: Af { v6: true, v6only },
            ..UdpPcb::new(id, ours, rcvbuf)
        });
        udp::udp_bind(ctx, id, "[::]:5300".parse().unwrap(), true).unwrap();
        theirs
    }

    /// A datagram from HIM:53 to ME:5300.
    fn datagram(data: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20 + 8];
        p.extend_from_slice(data);
        let total = p.len();
        write_header(&mut p[..20], 0, total, 1, 0, 64, IPPROTO_UDP, HIM, ME);
        p[20..22].copy_from_slice(&53u16.to_be_bytes());
        p[22..24].copy_from_slice(&5300u16.to_be_bytes());
        p[24..26].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        p
    }

    #[test]
    fn a_dual_udp_socket_gets_ipv4_datagrams_from_a_v4_mapped_sender_and_answers_over_ipv4() {
        let (stack, ifp, _sink) = setup(false);
        let mut ctx = stack.ctx();
        let client = udp6_sock(&mut ctx, 1, false);
        udp::udp_input(&mut ctx, &ifp, &datagram(b"hi"), false, true);
        assert_eq!(ctx.inet.udpstat.delivered, 1);
        let mut buf = vec![0u8; 2048];
        let n = match client.recv_nowait(&mut buf).unwrap() {
            crate::msg::wire::Received::Msg(n) => n,
            other => panic!("{other:?}"),
        };
        let mapped: SocketAddr = format!("[::ffff:{HIM}]:53").parse().unwrap();
        match crate::msg::decode(&buf[..n]).unwrap().msg {
            Msg::SockData(d) => assert_eq!((d.from, d.data.as_slice()), (mapped, &b"hi"[..])),
            other => panic!("{other:?}"),
        }
        // The answer to the v4-mapped address is an IPv4 datagram (held for ARP here).
        let before = ctx.inet.stat.localout;
        udp::udp_output(&mut ctx, 1, Some(mapped), b"ho", true).unwrap();
        assert_eq!(ctx.inet.stat.localout, before + 1);
        // A real IPv6 peer needs IPv6 output, which this stack does not have yet.
        let v6: SocketAddr = "[2001:db8::2]:53".parse().unwrap();
        assert_eq!(
            udp::udp_output(&mut ctx, 1, Some(v6), b"ho", true),
            Err(libc::ENETUNREACH)
        );
        let (local, _) = udp::udp_names(&ctx, 1).unwrap();
        assert_eq!(local, "[::]:5300".parse().unwrap());
    }

    #[test]
    fn a_v6only_udp_socket_gets_no_ipv4_datagrams_and_cannot_change_its_mind_once_bound() {
        let (stack, ifp, _sink) = setup(false);
        let mut ctx = stack.ctx();
        let _client = udp6_sock(&mut ctx, 1, true);
        udp::udp_input(&mut ctx, &ifp, &datagram(b"hi"), false, true);
        assert_eq!((ctx.inet.udpstat.delivered, ctx.inet.udpstat.noport), (0, 1));
        let e = setopt(&mut ctx, Kind::Udp, 1, SockOpt::V6Only(false))
            .err()
            .map(|f| f.errno);
        assert_eq!(e, Some(libc::EINVAL));
        let mapped: SocketAddr = format!("[::ffff:{HIM}]:53").parse().unwrap();
        assert_eq!(
            udp::udp_output(&mut ctx, 1, Some(mapped), b"ho", true),
            Err(libc::EINVAL)
        );
        // An AF_INET socket has no IPV6_V6ONLY.
        let (ours, _theirs) = SeqPacket::pair().unwrap();
        ctx.inet.udp.push(UdpPcb::new(2, ours, 65536));
        let e = setopt(&mut ctx, Kind::Udp, 2, SockOpt::V6Only(true))
            .err()
            .map(|f| f.errno);
        assert_eq!(e, Some(libc::ENOPROTOOPT));
    }
}
