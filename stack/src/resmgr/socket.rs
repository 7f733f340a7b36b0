//! Socket-role connections: one BSD socket each, closed when the connection closes, so a
//! client that exits or is killed leaks nothing. This build has raw IPv4 sockets (ping)
//! and UDP sockets.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use crate::inet::raw::{rip_output, RawPcb};
use crate::inet::udp::{self, UdpPcb};
use crate::msg::{Empty, Header, Msg, SockNames, SockOpt, SocketReq};
use crate::net::if_control::Fail;
use crate::resmgr::Conn;
use crate::sys::{Ctx, Stack};

/// What kind of socket a connection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Raw,
    Udp,
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
        libc::SOCK_STREAM => Err(Fail::with(libc::EPROTONOSUPPORT, "TCP is not in this build yet".into())),
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
        // Raw sockets send to broadcast addresses freely; reuse has no meaning for them.
        (Kind::Raw, SockOpt::Broadcast(_) | SockOpt::ReuseAddr(_) | SockOpt::ReusePort(_)) => Ok(()),
    }
}

/// Serves one request of a socket connection; `kind` is None until socket() succeeds.
pub(crate) fn dispatch(stack: &Arc<Stack>, conn: &Conn, kind: &mut Option<Kind>, hdr: &Header, msg: &Msg) {
    let root = conn.cred.uid == 0;
    let id = conn.id;
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
    }
}
