//! Control requests: interfaces, addresses, sysctl, routing-broadcast subscription.

use std::sync::Arc;

use crate::inet;
use crate::msg::{Empty, Header, Msg};
use crate::net::if_control::{self, Fail};
use crate::net::route::control as route;
use crate::resmgr::Conn;
use crate::sys::Stack;

/// Whether a request changes state (and so needs uid 0).
fn changes_state(msg: &Msg) -> bool {
    matches!(
        msg,
        Msg::IfCreate(_)
            | Msg::IfDestroy(_)
            | Msg::IfLinkstr(_)
            | Msg::BrSet(_)
            | Msg::IfSet(_)
            | Msg::AddrAdd(_)
            | Msg::AddrAdd6(_)
            | Msg::AddrDel(_)
            | Msg::SysctlSet(_)
            | Msg::RtAdd(_)
            | Msg::RtDelete(_)
            | Msg::RtChange(_)
            | Msg::RtFlush(_)
            | Msg::ArpSet(_)
            | Msg::ArpDelete(_)
    ) || matches!(msg, Msg::Pf(q) if crate::pf::ioctl::changes_state(q))
}

fn done(r: Result<(), Fail>) -> Result<Msg, Fail> {
    r.map(|()| Msg::Done(Empty))
}

fn check_family(stack: &Stack, a: Option<std::net::IpAddr>) -> Result<(), Fail> {
    if let Some(std::net::IpAddr::V6(_)) = a {
        if !stack.variant.has_inet6() {
            return Err(Fail::with(libc::EAFNOSUPPORT, stack.variant.lacks("IPv6")));
        }
    }
    Ok(())
}

/// A variant without IPv6 refuses IPv6 routes (EAFNOSUPPORT), as a kernel without INET6
/// refuses an AF_INET6 routing message.
fn rt_family(stack: &Stack, m: &crate::msg::RtMsg) -> Result<(), Fail> {
    let v6 = [m.dst, m.gateway, m.ifa]
        .iter()
        .any(|a| matches!(a, Some(std::net::IpAddr::V6(_))));
    if v6 && !stack.variant.has_inet6() {
        return Err(Fail::with(libc::EAFNOSUPPORT, stack.variant.lacks("IPv6")));
    }
    Ok(())
}

/// Serves a routing request with the stack context held, stamping the routing messages it
/// causes with the requester's pid and seq, as a BSD routing socket does.
fn on_behalf<T>(
    stack: &Arc<Stack>,
    conn: &Conn,
    hdr: &Header,
    f: impl FnOnce(&mut crate::conf::Ctx) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let mut ctx = stack.ctx();
    let pid = if conn.cred.pid != 0 { conn.cred.pid } else { hdr.pid };
    ctx.rtsock.origin = Some((pid, hdr.seq));
    let r = f(&mut ctx);
    ctx.rtsock.origin = None;
    r
}

pub(crate) fn dispatch(stack: &Arc<Stack>, conn: &Conn, hdr: &Header, msg: &Msg) {
    if changes_state(msg) && conn.cred.uid != 0 {
        // NetBSD's routing socket refuses with EACCES (route(8): "Permission denied"); the
        // ioctls and sysctl writes with EPERM.
        let errno = match msg {
            Msg::RtAdd(_)
            | Msg::RtDelete(_)
            | Msg::RtChange(_)
            | Msg::RtFlush(_)
            | Msg::ArpSet(_)
            | Msg::ArpDelete(_) => libc::EACCES,
            _ => libc::EPERM,
        };
        conn.reply_err(hdr.seq, errno, None);
        return;
    }
    let r: Result<Msg, Fail> = match msg {
        Msg::IfList(q) => if_control::if_list(&stack.ctx(), q.name.as_deref()).map(Msg::IfListOk),
        Msg::IfCreate(q) => done(if_control::if_create(&mut stack.ctx(), stack, &q.name)),
        Msg::IfDestroy(q) => done(if_control::if_destroy(&mut stack.ctx(), stack, &q.name)),
        Msg::IfLinkstr(q) => done(if_control::if_linkstr(&mut stack.ctx(), stack, &q.name, &q.linkstr)),
        Msg::BrSet(q) => done(crate::net::if_bridge::bridge_set(&mut stack.ctx(), &q.bridge, &q.op)),
        Msg::BrGet(q) => crate::net::if_bridge::bridge_status(&stack.ctx(), q.name.as_deref()).map(Msg::BrStatusOk),
        Msg::IfSet(q) => done(if_control::if_set(&mut stack.ctx(), q)),
        Msg::AddrAdd(q) => check_family(stack, q.addr).and_then(|()| match q.addr {
            Some(std::net::IpAddr::V6(_)) => done(crate::inet6::add_addr(&mut stack.ctx(), q)),
            _ => done(inet::add_addr(&mut stack.ctx(), q)),
        }),
        Msg::AddrAdd6(q) => check_family(stack, q.req.addr).and_then(|()| {
            done(crate::inet6::add_addr_with(
                &mut stack.ctx(),
                &q.req,
                q.flags,
                q.pltime,
                q.vltime,
            ))
        }),
        Msg::AddrDel(q) => check_family(stack, q.addr).and_then(|()| match q.addr {
            Some(std::net::IpAddr::V6(_)) => done(crate::inet6::del_addr(&mut stack.ctx(), q)),
            _ => done(inet::del_addr(&mut stack.ctx(), q)),
        }),
        Msg::Stats6Get(_) if !stack.variant.has_inet6() => {
            Err(Fail::with(libc::EAFNOSUPPORT, stack.variant.lacks("IPv6")))
        }
        Msg::Stats6Get(_) => {
            let ctx = stack.ctx();
            Ok(Msg::Stats6Ok(crate::msg::Stats6 {
                ip6: ctx.inet6.stat,
                icmp6: ctx.inet6.icmp6stat.clone(),
            }))
        }
        Msg::NdDump(_) if !stack.variant.has_inet6() => {
            Err(Fail::with(libc::EAFNOSUPPORT, stack.variant.lacks("IPv6")))
        }
        Msg::NdDump(_) => Ok(Msg::NdList(crate::inet6::nd6::nd6_dump(&stack.ctx()))),
        Msg::NdDelete(_) | Msg::NdSet(_) | Msg::NdPrefixes(_) | Msg::NdRouters(_) | Msg::NdIfInfoGet(_)
            if !stack.variant.has_inet6() =>
        {
            Err(Fail::with(libc::EAFNOSUPPORT, stack.variant.lacks("IPv6")))
        }
        Msg::NdDelete(q) => done(crate::inet6::ndctl::nd6_delete(&mut stack.ctx(), q)),
        Msg::NdSet(q) => done(crate::inet6::ndctl::nd6_set(&mut stack.ctx(), q)),
        Msg::NdPrefixes(_) => Ok(Msg::NdPrefixList(crate::inet6::ndctl::nd6_prefixes(&stack.ctx()))),
        Msg::NdRouters(_) => Ok(Msg::NdRouterList(crate::inet6::ndctl::nd6_routers(&stack.ctx()))),
        Msg::NdIfInfoGet(q) => crate::inet6::ndctl::nd6_ifinfo(&stack.ctx(), &q.name).map(Msg::NdIfInfoOk),
        Msg::Pf(q) => crate::pf::ioctl::pf_ioctl(&mut stack.ctx(), q).map(|r| match r {
            crate::msg::pf::PfReply::Done => Msg::Done(Empty),
            r => Msg::PfOk(r),
        }),
        Msg::Cloners(_) => Ok(Msg::ClonerList(if_control::cloners(stack.variant))),
        Msg::SysctlGet(q) => stack
            .registry
            .sysctl
            .get(&stack.ctx(), &q.name)
            .map(Msg::SysctlValues)
            .map_err(|e| Fail {
                errno: e.errno,
                text: e.text,
            }),
        Msg::SysctlSet(q) => stack
            .registry
            .sysctl
            .set(&mut stack.ctx(), &q.name, &q.value)
            .map(Msg::SysctlChanged)
            .map_err(|e| Fail {
                errno: e.errno,
                text: e.text,
            }),
        Msg::Subscribe(q) => {
            let mut ctx = stack.ctx();
            if q.on {
                // Broadcasts go through the connection's reply queue: in order with its
                // replies, and dropped (counted) when the subscriber lets it fill.
                ctx.rtsock.subscribe(conn.id, conn.sink());
                Ok(Msg::Done(Empty))
            } else {
                ctx.rtsock.unsubscribe(conn.id);
                Ok(Msg::Done(Empty))
            }
        }
        Msg::RtAdd(q) => rt_family(stack, q)
            .and_then(|()| on_behalf(stack, conn, hdr, |ctx| route::rt_add(ctx, q)))
            .map(Msg::RtAdd),
        Msg::RtDelete(q) => rt_family(stack, q)
            .and_then(|()| on_behalf(stack, conn, hdr, |ctx| route::rt_delete(ctx, q)))
            .map(Msg::RtDelete),
        Msg::RtChange(q) => rt_family(stack, q)
            .and_then(|()| on_behalf(stack, conn, hdr, |ctx| route::rt_change(ctx, q)))
            .map(Msg::RtChange),
        Msg::RtGet(q) => rt_family(stack, q)
            .and_then(|()| route::rt_get(&stack.ctx(), q))
            .map(Msg::RtGet),
        Msg::RtFlush(q) => {
            if q.family == crate::msg::RtFamily::Inet6 && !stack.variant.has_inet6() {
                Err(Fail::with(libc::EAFNOSUPPORT, stack.variant.lacks("IPv6")))
            } else {
                on_behalf(stack, conn, hdr, |ctx| Ok(route::rt_flush(ctx, q.all, q.family))).map(Msg::RtFlushed)
            }
        }
        Msg::RtDump(_) => Ok(Msg::RtList(route::rt_dump(&stack.ctx()))),
        Msg::StatsGet(_) => Ok(Msg::StatsOk(stack.registry.stats(&stack.ctx()))),
        Msg::ArpDump(_) => Ok(Msg::ArpList(crate::net::arp::arp_dump(&stack.ctx()))),
        Msg::ArpSet(q) => crate::net::arp::arp_set(&mut stack.ctx(), q)
            .map(|()| Msg::Done(Empty))
            .map_err(Fail::new),
        Msg::ArpDelete(q) => crate::net::arp::arp_delete(&mut stack.ctx(), q.addr, q.proxy_only)
            .map(|()| Msg::Done(Empty))
            .map_err(Fail::new),
        Msg::SockList(_) => Ok(Msg::SockListOk(crate::inet::pcblist(&stack.ctx()))),
        _ => Err(Fail::with(libc::EINVAL, "not a control request".into())),
    };
    match r {
        Ok(m) => conn.reply(hdr, &m),
        Err(f) => conn.reply_err(hdr.seq, f.errno, f.text),
    }
}
