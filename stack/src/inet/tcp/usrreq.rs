//! TCP's user requests (`tcp_usrreq`): what socket calls do to the protocol. Blocking is
//! the caller's business (resmgr waits on the connection's condition variable); these
//! functions never wait.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::inet::ip::source_for;
use crate::inet::tcp::output::{mss_for, send_rst, tcp_output};
use crate::inet::tcp::{tcp_close, Bound, Listener, State, Tcb, TCPTV_KEEP_INIT, TCP_RCVBUF_MAX};
use crate::sys::Ctx;

/// Where a TCP socket is in its life, from the socket's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sock {
    /// Made, maybe bound; `Bound` holds its settings.
    Fresh,
    /// Listening; the listener has the socket's id.
    Listening,
    /// Connecting or connected: the control block has the socket's id.
    Conn,
}

/// socket(2).
pub fn attach(ctx: &mut Ctx, id: u64) {
    ctx.inet.tcp.bound.insert(id, Bound::default());
}

fn anon_port(ctx: &mut Ctx, addr: Ipv4Addr, id: u64) -> Result<u16, i32> {
    let (a, b) = (ctx.inet.anonportmin, ctx.inet.anonportmax);
    let (lo, hi) = (a.min(b), a.max(b));
    let span = u32::from(hi - lo) + 1;
    let start = ctx.inet.portrand.next_u32() % span;
    for i in 0..span {
        let port = lo + ((start + i) % span) as u16;
        if !ctx.inet.tcp.port_in_use(addr, port, id, false) {
            return Ok(port);
        }
    }
    Err(libc::EADDRINUSE)
}

/// bind(2).
pub fn bind(ctx: &mut Ctx, id: u64, addr: SocketAddrV4, root: bool) -> Result<(), i32> {
    let b = *ctx.inet.tcp.bound.get(&id).ok_or(libc::EINVAL)?;
    if b.lport != 0 {
        return Err(libc::EINVAL);
    }
    let ip = *addr.ip();
    if !ip.is_unspecified() && !ctx.inet.addrs.iter().any(|ia| ia.addr == ip) {
        return Err(libc::EADDRNOTAVAIL);
    }
    if addr.port() != 0 && addr.port() < 1024 && !root {
        return Err(libc::EACCES);
    }
    let port = if addr.port() == 0 {
        anon_port(ctx, ip, id)?
    } else {
        if ctx.inet.tcp.port_in_use(ip, addr.port(), id, b.reuseaddr) {
            return Err(libc::EADDRINUSE);
        }
        addr.port()
    };
    if let Some(b) = ctx.inet.tcp.bound.get_mut(&id) {
        b.laddr = Some(ip).filter(|a| !a.is_unspecified());
        b.lport = port;
    }
    Ok(())
}

/// listen(2).
pub fn listen(ctx: &mut Ctx, id: u64, backlog: i32, root: bool) -> Result<(), i32> {
    let b = *ctx.inet.tcp.bound.get(&id).ok_or(libc::EINVAL)?;
    if b.lport == 0 {
        bind(ctx, id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), root)?;
    }
    let b = ctx.inet.tcp.bound.remove(&id).ok_or(libc::EINVAL)?;
    let max = ctx.inet.tcp.somaxconn;
    let backlog = if backlog <= 0 { max } else { (backlog as usize).min(max) };
    ctx.inet.tcp.listeners.insert(
        id,
        Listener {
            id,
            laddr: b.laddr.unwrap_or(Ipv4Addr::UNSPECIFIED),
            lport: b.lport,
            backlog,
            queue: Default::default(),
            incomplete: 0,
            waiting: false,
            nodelay: b.nodelay,
            keepalive: b.keepalive,
        },
    );
    Ok(())
}

/// connect(2): sends the SYN; the caller waits for ESTABLISHED or an error.
pub fn connect(ctx: &mut Ctx, id: u64, to: SocketAddrV4, root: bool) -> Result<(), i32> {
    if to.port() == 0 || to.ip().is_unspecified() || to.ip().is_broadcast() || to.ip().is_multicast() {
        return Err(libc::EADDRNOTAVAIL);
    }
    let b = *ctx.inet.tcp.bound.get(&id).ok_or(libc::EISCONN)?;
    let laddr = match b.laddr {
        Some(a) => a,
        None => source_for(ctx, *to.ip()).ok_or(libc::ENETUNREACH)?,
    };
    let lport = if b.lport == 0 {
        anon_port(ctx, laddr, id)?
    } else {
        b.lport
    };
    let key = (laddr, lport, *to.ip(), to.port());
    if ctx.inet.tcp.by_key.contains_key(&key) {
        return Err(libc::EADDRINUSE);
    }
    let _ = root;
    ctx.inet.tcp.bound.remove(&id);
    let mss = mss_for(ctx, *to.ip());
    let tcp = &mut ctx.inet.tcp;
    let iss = tcp.new_isn(&key);
    let sendspace = b.sndbuf.unwrap_or(tcp.sendspace);
    let recvspace = b.rcvbuf.unwrap_or(tcp.recvspace);
    let mut t = Tcb::new(id, key, State::SynSent, iss, sendspace, recvspace, mss);
    t.cc = super::cc::Cc::new(tcp.congctl);
    t.rexmit_min = tcp.rexmit_min;
    t.rcv_wscale = t.wanted_wscale();
    t.nodelay = b.nodelay;
    t.keepalive = b.keepalive;
    t.linger = b.linger;
    t.snd_auto = b.sndbuf.is_none();
    t.rcv_auto = b.rcvbuf.is_none();
    t.ttl = ctx.inet.ttl;
    t.t_keep = Some(Instant::now() + TCPTV_KEEP_INIT);
    tcp.stat.connattempt += 1;
    tcp.by_key.insert(key, id);
    tcp.insert_tcb(id, t);
    tcp_output(ctx, id)
}

/// send(2): takes what fits in the send buffer; returns how much.
pub fn send(ctx: &mut Ctx, id: u64, data: &[u8]) -> Result<usize, i32> {
    ctx.inet.tcp.touch(id);
    let t = ctx.inet.tcp.tcbs.get_mut(&id).ok_or(libc::ENOTCONN)?;
    if let Some(e) = t.so_error {
        return Err(e);
    }
    if t.fin_queued {
        return Err(libc::EPIPE);
    }
    if !t.state.can_send() {
        return if matches!(t.state, State::SynSent | State::SynReceived) {
            Ok(0)
        } else {
            Err(libc::ENOTCONN)
        };
    }
    let n = t.snd_space().min(data.len());
    t.snd_buf.extend(&data[..n]);
    let _ = tcp_output(ctx, id);
    Ok(n)
}

/// What a receive found.
pub enum Recv {
    Data(Vec<u8>),
    /// The peer has closed its side and everything has been read.
    Eof,
    /// Nothing yet.
    Empty,
}

/// recv(2): up to `max` bytes; opens the window as the buffer drains.
pub fn recv(ctx: &mut Ctx, id: u64, max: usize, peek: bool) -> Result<Recv, i32> {
    ctx.inet.tcp.touch(id);
    let t = ctx.inet.tcp.tcbs.get_mut(&id).ok_or(libc::ENOTCONN)?;
    if !t.rcv_buf.is_empty() {
        let n = max.min(t.rcv_buf.len());
        let mut v = Vec::with_capacity(n);
        crate::inet::tcp::output::copy_out(&t.rcv_buf, 0, n, &mut v);
        if !peek {
            t.rcv_buf.drain(..n);
        }
        // A window that was (nearly) closed may now be worth announcing.
        if !peek {
            let _ = tcp_output(ctx, id);
        }
        return Ok(Recv::Data(v));
    }
    if let Some(e) = t.so_error.take() {
        return Err(e);
    }
    if t.fin_rcvd || matches!(t.state, State::Closed) {
        return Ok(Recv::Eof);
    }
    if matches!(t.state, State::SynSent | State::SynReceived) {
        return Ok(Recv::Empty);
    }
    Ok(Recv::Empty)
}

/// What happens when the user is done sending (`tcp_usrclosed`): a FIN in the queue.
fn usrclosed(ctx: &mut Ctx, id: u64) {
    let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
        return;
    };
    match t.state {
        State::Closed | State::Listen | State::SynSent => {
            tcp_close(ctx, id);
            return;
        }
        State::SynReceived | State::Established => {
            t.state = State::FinWait1;
            t.fin_queued = true;
        }
        State::CloseWait => {
            t.state = State::LastAck;
            t.fin_queued = true;
        }
        _ => {}
    }
    let _ = tcp_output(ctx, id);
}

/// shutdown(2): 0 read, 1 write, 2 both.
pub fn shutdown(ctx: &mut Ctx, id: u64, how: i32) -> Result<(), i32> {
    ctx.inet.tcp.touch(id);
    let t = ctx.inet.tcp.tcbs.get_mut(&id).ok_or(libc::ENOTCONN)?;
    if how == libc::SHUT_RD || how == libc::SHUT_RDWR {
        t.rcv_buf.clear();
        t.fin_rcvd = true;
    }
    if how == libc::SHUT_WR || how == libc::SHUT_RDWR {
        usrclosed(ctx, id);
    }
    Ok(())
}

/// close(2), also when the client goes away: unread data or SO_LINGER 0 reset the
/// connection (as BSD does); otherwise the FIN goes after the data, and the control
/// block lives on as an orphan until the close completes.
pub fn close(ctx: &mut Ctx, id: u64, sock: Sock) {
    ctx.inet.tcp.touch(id);
    match sock {
        Sock::Fresh => {
            ctx.inet.tcp.bound.remove(&id);
        }
        Sock::Listening => {
            if let Some(l) = ctx.inet.tcp.listeners.remove(&id) {
                // Connections nobody accepted, and those still opening, are reset.
                let pending: Vec<u64> = ctx
                    .inet
                    .tcp
                    .tcbs
                    .values()
                    .filter(|t| t.listener == Some(l.id) && t.orphan_of_listener())
                    .map(|t| t.id)
                    .collect();
                for t in pending {
                    abort(ctx, t);
                }
            }
        }
        Sock::Conn => {
            let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) else {
                return;
            };
            t.orphan = true;
            if t.state == State::Closed {
                tcp_close(ctx, id);
                return;
            }
            if !t.rcv_buf.is_empty() || t.linger == Some(Duration::ZERO) {
                abort(ctx, id);
                return;
            }
            usrclosed(ctx, id);
        }
    }
}

/// Resets a connection and forgets it.
pub fn abort(ctx: &mut Ctx, id: u64) {
    if let Some(t) = ctx.inet.tcp.tcbs.get(&id) {
        if t.state.synchronized() || t.state == State::SynReceived {
            let (k, seq, ack) = (t.key(), t.snd_nxt, t.rcv_nxt);
            send_rst(ctx, k, seq, ack, true);
        }
    }
    tcp_close(ctx, id);
}

/// accept(2): the next established connection, if any.
pub fn accept(ctx: &mut Ctx, lid: u64) -> Result<Option<u64>, i32> {
    let l = ctx.inet.tcp.listeners.get_mut(&lid).ok_or(libc::EINVAL)?;
    while let Some(id) = l.queue.pop_front() {
        if let Some(t) = ctx.inet.tcp.tcbs.get_mut(&id) {
            t.listener = None;
            return Ok(Some(id));
        }
    }
    Ok(None)
}

impl Tcb {
    /// Whether a connection still belongs to its listener (not accepted yet).
    pub fn orphan_of_listener(&self) -> bool {
        self.listener.is_some()
    }
}

/// Socket options that TCP keeps.
#[derive(Debug, Clone, Copy)]
pub enum Opt {
    NoDelay(bool),
    KeepAlive(bool),
    Linger(Option<Duration>),
    SndBuf(usize),
    RcvBuf(usize),
    ReuseAddr(bool),
    Ttl(u8),
    Tos(u8),
}

/// setsockopt(2) on a TCP socket in any phase.
pub fn setopt(ctx: &mut Ctx, id: u64, sock: Sock, o: Opt) -> Result<(), i32> {
    ctx.inet.tcp.touch(id);
    let clamp = |n: usize| n.clamp(4096, TCP_RCVBUF_MAX);
    match sock {
        Sock::Fresh => {
            let b = ctx.inet.tcp.bound.get_mut(&id).ok_or(libc::EINVAL)?;
            match o {
                Opt::NoDelay(v) => b.nodelay = v,
                Opt::KeepAlive(v) => b.keepalive = v,
                Opt::Linger(v) => b.linger = v,
                Opt::SndBuf(n) => b.sndbuf = Some(clamp(n)),
                Opt::RcvBuf(n) => b.rcvbuf = Some(clamp(n)),
                Opt::ReuseAddr(v) => b.reuseaddr = v,
                Opt::Ttl(_) | Opt::Tos(_) => {}
            }
        }
        Sock::Listening => {
            let l = ctx.inet.tcp.listeners.get_mut(&id).ok_or(libc::EINVAL)?;
            match o {
                Opt::NoDelay(v) => l.nodelay = v,
                Opt::KeepAlive(v) => l.keepalive = v,
                _ => {}
            }
        }
        Sock::Conn => {
            let t = ctx.inet.tcp.tcbs.get_mut(&id).ok_or(libc::EINVAL)?;
            match o {
                Opt::NoDelay(v) => {
                    t.nodelay = v;
                    if v {
                        let _ = tcp_output(ctx, id);
                    }
                }
                Opt::KeepAlive(v) => {
                    t.keepalive = v;
                    t.t_keep = (v && t.state.synchronized()).then(|| Instant::now() + super::TCPTV_KEEP_IDLE);
                }
                Opt::Linger(v) => t.linger = v,
                Opt::SndBuf(n) => {
                    t.snd_buf_max = clamp(n);
                    t.snd_auto = false;
                }
                Opt::RcvBuf(n) => {
                    t.rcv_buf_max = clamp(n);
                    t.rcv_auto = false;
                }
                Opt::ReuseAddr(_) => {}
                Opt::Ttl(v) => t.ttl = v,
                Opt::Tos(v) => t.tos = v,
            }
        }
    }
    Ok(())
}

/// Local and peer addresses.
pub fn names(ctx: &Ctx, id: u64, sock: Sock) -> Result<(SocketAddrV4, Option<SocketAddrV4>), i32> {
    match sock {
        Sock::Fresh => {
            let b = ctx.inet.tcp.bound.get(&id).ok_or(libc::EINVAL)?;
            Ok((
                SocketAddrV4::new(b.laddr.unwrap_or(Ipv4Addr::UNSPECIFIED), b.lport),
                None,
            ))
        }
        Sock::Listening => {
            let l = ctx.inet.tcp.listeners.get(&id).ok_or(libc::EINVAL)?;
            Ok((SocketAddrV4::new(l.laddr, l.lport), None))
        }
        Sock::Conn => {
            let t = ctx.inet.tcp.tcbs.get(&id).ok_or(libc::EINVAL)?;
            Ok((t.local(), t.state.synchronized().then(|| t.peer())))
        }
    }
}
