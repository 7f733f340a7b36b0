//! Socket-role connections: one BSD socket each, closed when the connection closes.
//! This build has raw IPv4 sockets (what ping uses).

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::inet::raw::{rip_output, RawPcb};
use crate::msg::{Empty, Header, Msg, SockOpt};
use crate::net::if_control::Fail;
use crate::resmgr::Conn;
use crate::sys::Stack;

/// Creates the socket a connection stands for.
fn create(stack: &Arc<Stack>, conn: &Conn, req: &crate::msg::SocketReq) -> Result<(), Fail> {
    if req.domain != libc::AF_INET {
        return Err(Fail::new(libc::EAFNOSUPPORT));
    }
    if req.stype != libc::SOCK_RAW {
        return Err(Fail::with(
            libc::EPROTONOSUPPORT,
            "only raw sockets are in this build yet".into(),
        ));
    }
    if conn.cred.uid != 0 {
        return Err(Fail::new(libc::EPERM));
    }
    let proto = u8::try_from(req.protocol).map_err(|_| Fail::new(libc::EPROTONOSUPPORT))?;
    let sock = conn
        .sock
        .try_clone()
        .map_err(|e| Fail::new(e.raw_os_error().unwrap_or(libc::ENOBUFS)))?;
    let mut ctx = stack.ctx();
    ctx.inet.raw.push(RawPcb {
        id: conn.id,
        proto,
        laddr: None,
        faddr: None,
        ttl: None,
        tos: 0,
        conn: sock,
        drops: 0,
    });
    Ok(())
}

/// Serves one request of a socket connection. `open` says whether the socket exists yet.
pub(crate) fn dispatch(stack: &Arc<Stack>, conn: &Conn, open: &mut bool, hdr: &Header, msg: &Msg) {
    let r: Result<(), Fail> = match (msg, *open) {
        (Msg::Socket(req), false) => create(stack, conn, req).map(|()| *open = true),
        (Msg::Socket(_), true) => Err(Fail::with(libc::EISCONN, "the socket exists".into())),
        (_, false) => Err(Fail::with(libc::EINVAL, "socket() must come first".into())),
        (Msg::SockBind(a), true) => {
            let mut ctx = stack.ctx();
            let ip = *a.addr.ip();
            if !ip.is_unspecified() && !ctx.inet.addrs.iter().any(|ia| ia.addr == ip) {
                Err(Fail::new(libc::EADDRNOTAVAIL))
            } else {
                with_pcb(&mut ctx.inet.raw, conn.id, |p| {
                    p.laddr = Some(ip).filter(|a| !a.is_unspecified())
                })
            }
        }
        (Msg::SockConnect(a), true) => {
            let mut ctx = stack.ctx();
            let ip = *a.addr.ip();
            with_pcb(&mut ctx.inet.raw, conn.id, |p| {
                p.faddr = Some(ip).filter(|a| !a.is_unspecified())
            })
        }
        (Msg::SockSetOpt(o), true) => {
            let mut ctx = stack.ctx();
            match *o {
                SockOpt::IpTtl(0) => Err(Fail::new(libc::EINVAL)),
                SockOpt::IpTtl(t) => with_pcb(&mut ctx.inet.raw, conn.id, |p| p.ttl = Some(t)),
                SockOpt::IpTos(t) => with_pcb(&mut ctx.inet.raw, conn.id, |p| p.tos = t),
            }
        }
        (Msg::SockSend(s), true) => {
            let mut ctx = stack.ctx();
            let to: Option<Ipv4Addr> = s.to.map(|a| *a.ip());
            rip_output(&mut ctx, conn.id, to, &s.data).map_err(Fail::new)
        }
        _ => Err(Fail::with(libc::EINVAL, "not a socket request".into())),
    };
    match r {
        Ok(()) => conn.reply(hdr, &Msg::Done(Empty)),
        Err(f) => conn.reply_err(hdr.seq, f.errno, f.text),
    }
}

fn with_pcb(raw: &mut [RawPcb], id: u64, f: impl FnOnce(&mut RawPcb)) -> Result<(), Fail> {
    let p = raw.iter_mut().find(|p| p.id == id).ok_or(Fail::new(libc::EBADF))?;
    f(p);
    Ok(())
}

/// Closes the socket of a connection that went away.
pub(crate) fn close(stack: &Stack, id: u64) {
    stack.ctx().inet.raw.retain(|p| p.id != id);
}
