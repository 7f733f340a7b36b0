//! Socket-role connections: one BSD socket each, closed when the connection closes, so a
//! client that exits or is killed leaks nothing: raw IPv4 sockets (ping), UDP and TCP.
//!
//! A blocking call (connect, accept, recv, a send that waits for room) waits on the
//! socket's condition variable with the stack context released, in this connection's own
//! thread; it ends early when the client goes away or the stack shuts down.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar};
use std::time::{Duration, Instant};

use crate::inet::raw::{rip_output, RawPcb};
use crate::inet::tcp::usrreq as tcp;
use crate::inet::udp::{self, UdpPcb};
use crate::msg::wire::SeqPacket;
use crate::msg::{encode, Empty, Header, Msg, SockNames, SockOpt, SocketReq, Wait, MSGF_REPLY};
use crate::net::if_control::Fail;
use crate::resmgr::Conn;
use crate::resmgr::{Job, Pool};
use crate::sys::{Ctx, Stack};

/// What kind of socket a connection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Raw,
    Udp,
    Tcp(tcp::Sock),
}

/// Creates the socket a connection stands for.
fn create(stack: &Arc<Stack>, conn: &Conn, req: &SocketReq) -> Result<Kind, Fail> {
    if req.domain != libc::AF_INET {
        return Err(Fail::new(libc::EAFNOSUPPORT));
    }
    let sock = conn
        .sock
        .try_clone()
        .map_err(|e| Fail::new(e.raw_os_error().unwrap_or(libc::ENOBUFS)))?;
    match req.stype {
        libc::SOCK_RAW => {
            if conn.cred.uid != 0 {
                return Err(Fail::new(libc::EPERM));
            }
            let proto = u8::try_from(req.protocol).map_err(|_| Fail::new(libc::EPROTONOSUPPORT))?;
            stack.ctx().inet.raw.push(RawPcb {
                id: conn.id,
                proto,
                laddr: None,
                faddr: None,
                ttl: None,
                tos: 0,
                conn: sock,
                drops: 0,
            });
            Ok(Kind::Raw)
        }
        libc::SOCK_DGRAM => {
            if req.protocol != 0 && req.protocol != libc::IPPROTO_UDP {
                return Err(Fail::new(libc::EPROTONOSUPPORT));
            }
            stack.ctx().inet.udp.push(UdpPcb {
                id: conn.id,
                laddr: Ipv4Addr::UNSPECIFIED,
                lport: 0,
                faddr: None,
                reuseaddr: false,
                reuseport: false,
                broadcast: false,
                ttl: None,
                tos: 0,
                conn: sock,
            });
            Ok(Kind::Udp)
        }
        libc::SOCK_STREAM => {
            if req.protocol != 0 && req.protocol != libc::IPPROTO_TCP {
                return Err(Fail::new(libc::EPROTONOSUPPORT));
            }
            drop(sock);
            tcp::attach(&mut stack.ctx(), conn.id);
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

fn setopt(ctx: &mut Ctx, kind: Kind, id: u64, o: SockOpt) -> Result<(), Fail> {
    match (kind, o) {
        (_, SockOpt::IpTtl(0)) => Err(Fail::new(libc::EINVAL)),
        (Kind::Raw, SockOpt::IpTtl(t)) => raw_pcb(ctx, id).map(|p| p.ttl = Some(t)),
        (Kind::Raw, SockOpt::IpTos(t)) => raw_pcb(ctx, id).map(|p| p.tos = t),
        (Kind::Udp, SockOpt::IpTtl(t)) => udp_pcb(ctx, id).map(|p| p.ttl = Some(t)),
        (Kind::Udp, SockOpt::IpTos(t)) => udp_pcb(ctx, id).map(|p| p.tos = t),
        (Kind::Udp, SockOpt::ReuseAddr(b)) => udp_pcb(ctx, id).map(|p| p.reuseaddr = b),
        (Kind::Udp, SockOpt::ReusePort(b)) => udp_pcb(ctx, id).map(|p| p.reuseport = b),
        (Kind::Udp, SockOpt::Broadcast(b)) => udp_pcb(ctx, id).map(|p| p.broadcast = b),
        (Kind::Tcp(s), o) => {
            let t = match o {
                SockOpt::IpTtl(v) => tcp::Opt::Ttl(v),
                SockOpt::IpTos(v) => tcp::Opt::Tos(v),
                SockOpt::ReuseAddr(v) | SockOpt::ReusePort(v) => tcp::Opt::ReuseAddr(v),
                SockOpt::NoDelay(v) => tcp::Opt::NoDelay(v),
                SockOpt::KeepAlive(v) => tcp::Opt::KeepAlive(v),
                SockOpt::Linger(v) => tcp::Opt::Linger(v.map(|s| Duration::from_secs(u64::from(s)))),
                SockOpt::SndBuf(n) => tcp::Opt::SndBuf(n as usize),
                SockOpt::RcvBuf(n) => tcp::Opt::RcvBuf(n as usize),
                SockOpt::Broadcast(_) => return Err(Fail::new(libc::ENOPROTOOPT)),
            };
            tcp::setopt(ctx, id, s, t).map_err(Fail::new)
        }
        // Options of other protocols (and broadcast, which raw sockets may always send).
        (Kind::Raw | Kind::Udp, _) => Ok(()),
    }
}

/// Serves one request of a socket connection; `kind` is None until socket() succeeds.
pub(crate) fn dispatch(
    stack: &Arc<Stack>,
    pool: &Arc<Pool>,
    conn: &Conn,
    kind: &mut Option<Kind>,
    hdr: &Header,
    msg: &Msg,
) {
    let root = conn.cred.uid == 0;
    let id = conn.id;
    if let Some(Kind::Tcp(s)) = *kind {
        if !matches!(msg, Msg::Socket(_)) {
            let mut s2 = s;
            let r = tcp_dispatch(stack, pool, conn, &mut s2, msg);
            *kind = Some(Kind::Tcp(s2));
            match r {
                Ok((m, None)) => conn.reply(hdr, &m),
                Ok((m, Some(fd))) => {
                    let b = encode(&m, hdr.seq, std::process::id(), MSGF_REPLY, 0);
                    let _ = conn.sock.send_with_fd(&b, fd.as_raw_fd());
                }
                Err(f) => conn.reply_err(hdr.seq, f.errno, f.text),
            }
            return;
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
            let ip = *a.addr.ip();
            if !ip.is_unspecified() && !ctx.inet.addrs.iter().any(|ia| ia.addr == ip) {
                Err(Fail::new(libc::EADDRNOTAVAIL))
            } else {
                raw_pcb(&mut ctx, id).map(|p| {
                    p.laddr = Some(ip).filter(|a| !a.is_unspecified());
                    Msg::Done(Empty)
                })
            }
        }
        (Msg::SockBind(a), Some(Kind::Udp)) => udp::udp_bind(&mut stack.ctx(), id, a.addr, root)
            .map(|()| Msg::Done(Empty))
            .map_err(Fail::new),
        (Msg::SockConnect(a), Some(Kind::Raw)) => {
            let ip = *a.addr.ip();
            raw_pcb(&mut stack.ctx(), id).map(|p| {
                p.faddr = Some(ip).filter(|a| !a.is_unspecified());
                Msg::Done(Empty)
            })
        }
        (Msg::SockConnect(a), Some(Kind::Udp)) => udp::udp_connect(&mut stack.ctx(), id, a.addr, root)
            .map(|()| Msg::Done(Empty))
            .map_err(Fail::new),
        (Msg::SockSetOpt(o), Some(k)) => setopt(&mut stack.ctx(), k, id, *o).map(|()| Msg::Done(Empty)),
        (Msg::SockSend(s), Some(Kind::Raw)) => {
            let to: Option<Ipv4Addr> = s.to.map(|a| *a.ip());
            rip_output(&mut stack.ctx(), id, to, &s.data)
                .map(|()| Msg::Done(Empty))
                .map_err(Fail::new)
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
                    local: SocketAddrV4::new(p.laddr.unwrap_or(Ipv4Addr::UNSPECIFIED), 0),
                    peer: p.faddr.map(|f| SocketAddrV4::new(f, 0)),
                })
            })
        }
        _ => Err(Fail::with(libc::EINVAL, "not a socket request".into())),
    };
    match r {
        Ok(m) => conn.reply(hdr, &m),
        Err(f) => conn.reply_err(hdr.seq, f.errno, f.text),
    }
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

/// Runs `f` under the stack context until it gives a value, waiting on the socket's
/// condition variable in between, as the caller's `Wait` allows. A client that goes away
/// or a stack that shuts down ends the wait with EINTR.
fn block<T>(
    stack: &Arc<Stack>,
    conn: &Conn,
    wait: Wait,
    cv_of: impl Fn(&Ctx) -> Option<Arc<Condvar>>,
    mut f: impl FnMut(&mut Ctx) -> Result<Option<T>, i32>,
) -> Result<T, i32> {
    let deadline = wait
        .timeout_ms
        .map(|ms| Instant::now() + Duration::from_millis(u64::from(ms)));
    let mut g = stack.ctx();
    loop {
        if let Some(v) = f(&mut g)? {
            return Ok(v);
        }
        if wait.nonblock {
            return Err(libc::EAGAIN);
        }
        let slice = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Err(libc::EAGAIN);
                }
                (d - now).min(Duration::from_millis(200))
            }
            None => Duration::from_millis(200),
        };
        if stack.shutting_down() || conn.sock.peer_gone() {
            return Err(libc::EINTR);
        }
        let cv = cv_of(&g).ok_or(libc::EBADF)?;
        g = stack.wait(g, &cv, slice);
    }
}

fn tcb_cv(ctx: &Ctx, id: u64) -> Option<Arc<Condvar>> {
    ctx.inet.tcp.tcbs.get(&id).map(|t| t.cv.clone())
}

/// A TCP socket's requests.
fn tcp_dispatch(
    stack: &Arc<Stack>,
    pool: &Arc<Pool>,
    conn: &Conn,
    s: &mut tcp::Sock,
    msg: &Msg,
) -> Result<(Msg, Option<std::os::fd::OwnedFd>), Fail> {
    let root = conn.cred.uid == 0;
    let id = conn.id;
    let done = |r: Result<(), i32>| r.map(|()| (Msg::Done(Empty), None)).map_err(Fail::new);
    match (msg, *s) {
        (Msg::SockBind(a), tcp::Sock::Fresh) => done(tcp::bind(&mut stack.ctx(), id, a.addr, root)),
        (Msg::SockListen(l), tcp::Sock::Fresh) => {
            tcp::listen(&mut stack.ctx(), id, l.backlog, root).map_err(Fail::new)?;
            *s = tcp::Sock::Listening;
            Ok((Msg::Done(Empty), None))
        }
        (Msg::SockListen(_), tcp::Sock::Listening) => Ok((Msg::Done(Empty), None)),
        (Msg::SockConnect(a), tcp::Sock::Fresh) => {
            tcp::connect(&mut stack.ctx(), id, a.addr, root).map_err(Fail::new)?;
            *s = tcp::Sock::Conn;
            if a.wait.nonblock {
                return Err(Fail::new(libc::EINPROGRESS));
            }
            wait_connected(stack, conn, a.wait)
        }
        (Msg::SockConnect(a), tcp::Sock::Conn) => wait_connected(stack, conn, a.wait),
        (Msg::SockAccept(w), tcp::Sock::Listening) => {
            let cv = |c: &Ctx| c.inet.tcp.listeners.get(&id).map(|l| l.cv.clone());
            let tid = block(stack, conn, *w, cv, |c| tcp::accept(c, id)).map_err(Fail::new)?;
            let (mine, theirs) = SeqPacket::pair().map_err(|e| Fail::new(e.raw_os_error().unwrap_or(libc::EMFILE)))?;
            let names = tcp::names(&stack.ctx(), tid, tcp::Sock::Conn).map_err(Fail::new)?;
            let _ = mine.set_buffers(1 << 20);
            pool.push(
                stack,
                Job::Accepted {
                    sock: mine,
                    cred: conn.cred,
                    id: tid,
                },
            );
            let fd = std::os::fd::OwnedFd::from(theirs);
            Ok((
                Msg::SockAccepted(SockNames {
                    local: names.0,
                    peer: names.1,
                }),
                Some(fd),
            ))
        }
        (Msg::SockRecv(r), tcp::Sock::Conn) => {
            let max = (r.max as usize).clamp(1, crate::msg::MAX_MSG - 1024);
            let got = block(
                stack,
                conn,
                r.wait,
                |c| tcb_cv(c, id),
                |c| match tcp::recv(c, id, max, r.peek)? {
                    tcp::Recv::Data(v) => Ok(Some(v)),
                    tcp::Recv::Eof => Ok(Some(Vec::new())),
                    tcp::Recv::Empty => Ok(None),
                },
            )
            .map_err(Fail::new)?;
            let peer = tcp::names(&stack.ctx(), id, tcp::Sock::Conn)
                .ok()
                .and_then(|n| n.1)
                .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
            Ok((Msg::SockData(crate::msg::DataMsg { from: peer, data: got }), None))
        }
        (Msg::SockSend(d), tcp::Sock::Conn) => {
            let mut off = 0usize;
            let r = block(
                stack,
                conn,
                d.wait,
                |c| tcb_cv(c, id),
                |c| {
                    off += tcp::send(c, id, &d.data[off..])?;
                    Ok((off == d.data.len()).then_some(()))
                },
            );
            match r {
                Ok(()) => Ok((Msg::SockSent(off as u64), None)),
                Err(libc::EAGAIN) if off > 0 => Ok((Msg::SockSent(off as u64), None)),
                Err(e) => Err(Fail::new(e)),
            }
        }
        (Msg::SockShutdown(h), tcp::Sock::Conn) => done(tcp::shutdown(&mut stack.ctx(), id, h.how)),
        (Msg::SockShutdown(_), _) => Err(Fail::new(libc::ENOTCONN)),
        (Msg::SockSetOpt(o), st) => {
            setopt(&mut stack.ctx(), Kind::Tcp(st), id, *o)?;
            Ok((Msg::Done(Empty), None))
        }
        (Msg::SockGetName(_), st) => {
            let (local, peer) = tcp::names(&stack.ctx(), id, st).map_err(Fail::new)?;
            Ok((Msg::SockNamesOk(SockNames { local, peer }), None))
        }
        (Msg::SockRecv(_) | Msg::SockSend(_), _) => Err(Fail::new(libc::ENOTCONN)),
        (Msg::SockConnect(_), tcp::Sock::Listening) => Err(Fail::new(libc::EISCONN)),
        (Msg::SockAccept(_), _) | (Msg::SockListen(_), _) | (Msg::SockBind(_), _) => Err(Fail::new(libc::EINVAL)),
        _ => Err(Fail::with(libc::EINVAL, "not a socket request".into())),
    }
}

/// Waits until a connection is established (or fails).
fn wait_connected(stack: &Arc<Stack>, conn: &Conn, w: Wait) -> Result<(Msg, Option<std::os::fd::OwnedFd>), Fail> {
    let id = conn.id;
    block(
        stack,
        conn,
        w,
        |c| tcb_cv(c, id),
        |c| {
            let t = c.inet.tcp.tcbs.get_mut(&id).ok_or(libc::ECONNREFUSED)?;
            if let Some(e) = t.so_error.take() {
                return Err(e);
            }
            Ok(t.state.synchronized().then_some(()))
        },
    )
    .map(|()| (Msg::Done(Empty), None))
    .map_err(|e| {
        Fail::new(if e == libc::EAGAIN && !w.nonblock {
            libc::ETIMEDOUT
        } else {
            e
        })
    })
}
