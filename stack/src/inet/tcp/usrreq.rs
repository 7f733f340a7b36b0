//! TCP's user requests (`tcp_usrreq`): what socket calls do to the protocol. Blocking is
//! the caller's business (resmgr waits on the connection's condition variable); these
//! functions never wait.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::conf::Ctx;
use crate::inet::inpcb::Af;
use crate::inet::out::{is_local, source_for};
use crate::inet::tcp::output::{mss_for, send_rst, tcp_output};
use crate::inet::tcp::{tcp_close, Bound, Listener, State, Tcb, TcpState, TCP_RCVBUF_MAX};

/// The options a socket keeps before it has a connection: the connection takes them when
/// it is made (connect), and the connections a listener accepts inherit the listener's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SockOpts {
    pub nodelay: bool,
    pub keepalive: bool,
    pub linger: Option<Duration>,
    /// SO_SNDBUF / SO_RCVBUF when set (the buffers then no longer grow by themselves).
    pub sndbuf: Option<usize>,
    pub rcvbuf: Option<usize>,
    /// IP_TTL when set (else net.inet.ip.ttl), IP_TOS.
    pub ttl: Option<u8>,
    pub tos: u8,
    /// The socket's domain and IPV6_V6ONLY (fixed at socket(2) and bind(2)).
    pub af: Af,
}

impl SockOpts {
    /// The send and receive buffer sizes a new connection starts with.
    pub fn spaces(&self, tcp: &TcpState) -> (usize, usize) {
        (
            self.sndbuf.unwrap_or(tcp.sendspace),
            self.rcvbuf.unwrap_or(tcp.recvspace),
        )
    }

    /// Gives a new connection these settings (its buffers are sized by `spaces`).
    pub fn apply(&self, t: &mut Tcb, default_ttl: u8) {
        t.nodelay = self.nodelay;
        t.keepalive = self.keepalive;
        t.linger = self.linger;
        t.snd_auto = self.sndbuf.is_none();
        t.rcv_auto = self.rcvbuf.is_none();
        t.ttl = self.ttl.unwrap_or(default_ttl);
        t.tos = self.tos;
        t.af = self.af;
    }

    /// Takes one option; false for those that are not kept here.
    fn set(&mut self, o: Opt) -> bool {
        let clamp = |n: usize| n.clamp(4096, TCP_RCVBUF_MAX);
        match o {
            Opt::NoDelay(v) => self.nodelay = v,
            Opt::KeepAlive(v) => self.keepalive = v,
            Opt::Linger(v) => self.linger = v,
            Opt::SndBuf(n) => self.sndbuf = Some(clamp(n)),
            Opt::RcvBuf(n) => self.rcvbuf = Some(clamp(n)),
            Opt::Ttl(v) => self.ttl = Some(v),
            Opt::Tos(v) => self.tos = v,
            Opt::ReuseAddr(_) | Opt::ReusePort(_) | Opt::V6Only(_) => return false,
        }
        true
    }
}

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

/// socket(2), of domain `af` (with IPV6_V6ONLY's default for AF_INET6).
pub fn attach(ctx: &mut Ctx, id: u64, af: Af) {
    let mut b = Bound::default();
    b.opts.af = af;
    ctx.inet.tcp.bound.insert(id, b);
}

fn anon_port(ctx: &mut Ctx, addr: IpAddr, af: Af, id: u64) -> Result<u16, i32> {
    let (a, b) = (ctx.inet.anonportmin, ctx.inet.anonportmax);
    let (lo, hi) = (a.min(b), a.max(b));
    let span = u32::from(hi - lo) + 1;
    let start = ctx.inet.portrand.next_u32() % span;
    for i in 0..span {
        let port = lo + ((start + i) % span) as u16;
        if !ctx.inet.tcp.port_in_use(addr, af, port, id, false, false) {
            return Ok(port);
        }
    }
    Err(libc::EADDRINUSE)
}

/// bind(2). `addr` is as the client gave it (v4-mapped for an IPv4 address of an
/// AF_INET6 socket).
pub fn bind(ctx: &mut Ctx, id: u64, addr: SocketAddr, root: bool) -> Result<(), i32> {
    let b = *ctx.inet.tcp.bound.get(&id).ok_or(libc::EINVAL)?;
    if b.lport != 0 {
        return Err(libc::EINVAL);
    }
    let af = b.opts.af;
    let addr = af.sock_in(addr)?;
    let ip = addr.ip();
    if !ip.is_unspecified() && !is_local(ctx, ip) {
        return Err(libc::EADDRNOTAVAIL);
    }
    if addr.port() != 0 && addr.port() < 1024 && !root {
        return Err(libc::EACCES);
    }
    let port = if addr.port() == 0 {
        anon_port(ctx, ip, af, id)?
    } else {
        if ctx
            .inet
            .tcp
            .port_in_use(ip, af, addr.port(), id, b.reuseaddr, b.reuseport)
        {
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
        bind(ctx, id, SocketAddr::new(b.opts.af.any(), 0), root)?;
    }
    let b = ctx.inet.tcp.bound.remove(&id).ok_or(libc::EINVAL)?;
    let max = ctx.inet.tcp.somaxconn;
    let backlog = if backlog <= 0 { max } else { (backlog as usize).min(max) };
    ctx.inet.tcp.listeners.insert(
        id,
        Listener {
            id,
            laddr: b.laddr.unwrap_or(b.opts.af.any()),
            lport: b.lport,
            backlog,
            queue: Default::default(),
            incomplete: 0,
            waiting: false,
            reuseport: b.reuseport,
            opts: b.opts,
        },
    );
    Ok(())
}

/// connect(2): sends the SYN; the caller waits for ESTABLISHED or an error.
/// `to` is as the client gave it: an AF_INET6 socket reaches an IPv4 peer by its
/// v4-mapped address, and the connection then runs over IPv4.
pub fn connect(ctx: &mut Ctx, id: u64, to: SocketAddr, root: bool) -> Result<(), i32> {
    let b = *ctx.inet.tcp.bound.get(&id).ok_or(libc::EISCONN)?;
    let af = b.opts.af;
    let to = af.sock_in(to)?;
    let broadcast = matches!(to.ip(), IpAddr::V4(a) if a.is_broadcast());
    if to.port() == 0 || to.ip().is_unspecified() || broadcast || to.ip().is_multicast() {
        return Err(libc::EADDRNOTAVAIL);
    }
    let laddr = match b.laddr {
        // A socket bound to an address of one family has no peers of the other.
        Some(a) if a.is_ipv4() != to.is_ipv4() => return Err(libc::EINVAL),
        Some(a) => a,
        None => source_for(ctx, to.ip()).ok_or(libc::ENETUNREACH)?,
    };
    let lport = if b.lport == 0 {
        anon_port(ctx, laddr, af, id)?
    } else {
        b.lport
    };
    let key = (laddr, lport, to.ip(), to.port());
    if ctx.inet.tcp.by_key.contains_key(&key) {
        return Err(libc::EADDRINUSE);
    }
    let _ = root;
    ctx.inet.tcp.bound.remove(&id);
    let mss = mss_for(ctx, to.ip());
    let tcp = &mut ctx.inet.tcp;
    let iss = tcp.new_isn(&key);
    let (sendspace, recvspace) = b.opts.spaces(tcp);
    let mut t = Tcb::new(id, key, State::SynSent, iss, sendspace, recvspace, mss);
    t.cc = super::cc::Cc::new(tcp.congctl);
    t.rexmit_min = tcp.rexmit_min;
    t.req_wscale = tcp.do_win_scale();
    t.req_ts = tcp.do_timestamps();
    t.req_sack = tcp.sack;
    t.rcv_wscale = if t.req_wscale { t.wanted_wscale() } else { 0 };
    let keepinit = tcp.keepinit;
    b.opts.apply(&mut t, ctx.inet.ttl);
    t.t_keep = Some(Instant::now() + keepinit);
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
    ReusePort(bool),
    Ttl(u8),
    Tos(u8),
    /// IPV6_V6ONLY: only on an AF_INET6 socket that is not bound yet (EINVAL after, as
    /// NetBSD's in6_pcb answers; ENOPROTOOPT on AF_INET).
    V6Only(bool),
}

/// setsockopt(2) on a TCP socket in any phase. Before the connection, options are kept
/// for it; on a listener, for the connections it accepts; on a connection, they act at
/// once. SO_REUSEADDR / SO_REUSEPORT matter only to bind(2), as in BSD: kept until then,
/// and then accepted without effect.
pub fn setopt(ctx: &mut Ctx, id: u64, sock: Sock, o: Opt) -> Result<(), i32> {
    ctx.inet.tcp.touch(id);
    let clamp = |n: usize| n.clamp(4096, TCP_RCVBUF_MAX);
    match sock {
        Sock::Fresh => {
            let b = ctx.inet.tcp.bound.get_mut(&id).ok_or(libc::EINVAL)?;
            match o {
                Opt::ReuseAddr(v) => b.reuseaddr = v,
                Opt::ReusePort(v) => b.reuseport = v,
                Opt::V6Only(_) if !b.opts.af.v6 => return Err(libc::ENOPROTOOPT),
                Opt::V6Only(_) if b.lport != 0 => return Err(libc::EINVAL),
                Opt::V6Only(v) => b.opts.af.v6only = v,
                o => {
                    b.opts.set(o);
                }
            }
        }
        Sock::Listening => {
            let l = ctx.inet.tcp.listeners.get_mut(&id).ok_or(libc::EINVAL)?;
            match o {
                // Others that set it may now bind the listener's port too, as in NetBSD,
                // where a later bind looks at the bound socket's SO_REUSEPORT.
                Opt::ReusePort(v) => l.reuseport = v,
                Opt::V6Only(_) if !l.opts.af.v6 => return Err(libc::ENOPROTOOPT),
                Opt::V6Only(_) => return Err(libc::EINVAL),
                o => {
                    l.opts.set(o);
                }
            }
        }
        Sock::Conn => {
            let keepidle = ctx.inet.tcp.keepidle;
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
                    t.t_keep = (v && t.state.synchronized()).then(|| Instant::now() + keepidle);
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
                Opt::ReuseAddr(_) | Opt::ReusePort(_) => {}
                Opt::V6Only(_) if !t.af.v6 => return Err(libc::ENOPROTOOPT),
                Opt::V6Only(_) => return Err(libc::EINVAL),
                Opt::Ttl(v) => t.ttl = v,
                Opt::Tos(v) => t.tos = v,
            }
        }
    }
    Ok(())
}

/// Local and peer addresses, as the client sees them (v4-mapped on AF_INET6 sockets).
pub fn names(ctx: &Ctx, id: u64, sock: Sock) -> Result<(SocketAddr, Option<SocketAddr>), i32> {
    match sock {
        Sock::Fresh => {
            let b = ctx.inet.tcp.bound.get(&id).ok_or(libc::EINVAL)?;
            let af = b.opts.af;
            Ok((af.view(SocketAddr::new(b.laddr.unwrap_or(af.any()), b.lport)), None))
        }
        Sock::Listening => {
            let l = ctx.inet.tcp.listeners.get(&id).ok_or(libc::EINVAL)?;
            Ok((l.opts.af.view(SocketAddr::new(l.laddr, l.lport)), None))
        }
        Sock::Conn => {
            let t = ctx.inet.tcp.tcbs.get(&id).ok_or(libc::EINVAL)?;
            Ok((t.local(), t.state.synchronized().then(|| t.peer())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inet::input_tests::{arp, ether, setup, Sink, HIM, MAC, ME, PEER};
    use crate::inet::tcp::output::tcp_cksum;
    use crate::net::ether::ether_input;
    use crate::net::ifnet::Ifnet;
    use crate::sys::Stack;
    use crate::wire::ipv4::{write_header, IPPROTO_TCP};
    use pktbox_drivers::FrameMeta;
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::sync::Arc;

    fn stack() -> (Arc<Stack>, Arc<Ifnet>, Arc<Sink>) {
        let (stack, ifp, sink) = setup(false);
        let a = ether([0xff; 6], 0x0806, &arp(1, HIM, ME, PEER));
        ether_input(&stack, &ifp, crate::sys::mbuf::Mbuf::from_frame(&a, FrameMeta::PLAIN));
        sink.0.lock().unwrap().clear();
        (stack, ifp, sink)
    }

    /// A SYN from HIM:4000 to `dport`.
    fn syn(dport: u16) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&4000u16.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&1000u32.to_be_bytes());
        t.extend_from_slice(&0u32.to_be_bytes());
        t.extend_from_slice(&[0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 5, 0xb4]);
        let c = tcp_cksum(HIM.into(), ME.into(), &t);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0u8; 20];
        write_header(&mut ip, 0, 20 + t.len(), 1, 0, 64, IPPROTO_TCP, HIM, ME);
        ip.extend_from_slice(&t);
        ether(MAC, 0x0800, &ip)
    }

    /// (TTL, TOS) of each TCP segment sent.
    fn sent(sink: &Sink) -> Vec<(u8, u8)> {
        sink.0
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f[12..14] == [8, 0] && f[14 + 9] == IPPROTO_TCP)
            .map(|f| (f[14 + 8], f[14 + 1]))
            .collect()
    }

    const ALL: [Opt; 7] = [
        Opt::Ttl(9),
        Opt::Tos(0x28),
        Opt::SndBuf(8192),
        Opt::RcvBuf(16384),
        Opt::NoDelay(true),
        Opt::KeepAlive(true),
        Opt::Linger(Some(Duration::ZERO)),
    ];

    fn has_all(t: &Tcb) {
        assert_eq!((t.ttl, t.tos), (9, 0x28));
        assert_eq!((t.snd_buf_max, t.rcv_buf_max), (8192, 16384));
        assert!(!t.snd_auto && !t.rcv_auto, "set sizes do not grow by themselves");
        assert!(t.nodelay && t.keepalive);
        assert_eq!(t.linger, Some(Duration::ZERO));
    }

    #[test]
    fn options_set_before_connect_are_the_connection_s() {
        let (stack, _ifp, sink) = stack();
        let mut ctx = stack.ctx();
        attach(&mut ctx, 1, Af::INET);
        for o in ALL {
            setopt(&mut ctx, 1, Sock::Fresh, o).unwrap();
        }
        connect(&mut ctx, 1, SocketAddrV4::new(HIM, 80).into(), true).unwrap();
        has_all(&ctx.inet.tcp.tcbs[&1]);
        drop(ctx);
        assert_eq!(sent(&sink), vec![(9, 0x28)], "the SYN carries IP_TTL and IP_TOS");
    }

    #[test]
    fn accepted_connections_inherit_the_listener_s_options() {
        let (stack, ifp, sink) = stack();
        {
            let mut ctx = stack.ctx();
            attach(&mut ctx, 1, Af::INET);
            // Some before listen(2), the rest on the listening socket.
            for o in &ALL[..3] {
                setopt(&mut ctx, 1, Sock::Fresh, *o).unwrap();
            }
            bind(&mut ctx, 1, SocketAddrV4::new(ME, 7000).into(), true).unwrap();
            listen(&mut ctx, 1, 8, true).unwrap();
            for o in &ALL[3..] {
                setopt(&mut ctx, 1, Sock::Listening, *o).unwrap();
            }
        }
        ether_input(
            &stack,
            &ifp,
            crate::sys::mbuf::Mbuf::from_frame(&syn(7000), FrameMeta::PLAIN),
        );
        let ctx = stack.ctx();
        let t = ctx.inet.tcp.tcbs.values().next().expect("a connection in SYN_RECEIVED");
        has_all(t);
        assert_eq!(sent(&sink), vec![(9, 0x28)], "the SYN,ACK carries IP_TTL and IP_TOS");
        // netstat shows the listener's sizes, which its connections start with.
        let l = crate::inet::pcblist(&ctx)
            .into_iter()
            .find(|s| s.state == "LISTEN")
            .unwrap();
        assert_eq!((l.rcvbuf, l.sndbuf), (16384, 8192));
    }

    #[test]
    fn so_reuseport_lets_sockets_that_all_set_it_share_a_port() {
        let (stack, _ifp, _sink) = stack();
        let mut ctx = stack.ctx();
        let any: SocketAddr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7100).into();
        for id in 1..=3 {
            attach(&mut ctx, id, Af::INET);
        }
        for id in 1..=2 {
            setopt(&mut ctx, id, Sock::Fresh, Opt::ReusePort(true)).unwrap();
            bind(&mut ctx, id, any, true).unwrap();
        }
        listen(&mut ctx, 1, 8, true).unwrap();
        // One that did not set it cannot join them, nor can one that set SO_REUSEADDR
        // only (it was SO_REUSEPORT's stand-in).
        assert_eq!(bind(&mut ctx, 3, any, true), Err(libc::EADDRINUSE));
        setopt(&mut ctx, 3, Sock::Fresh, Opt::ReuseAddr(true)).unwrap();
        assert_eq!(bind(&mut ctx, 3, any, true), Err(libc::EADDRINUSE));
        setopt(&mut ctx, 3, Sock::Fresh, Opt::ReusePort(true)).unwrap();
        bind(&mut ctx, 3, any, true).unwrap();
        // A listener that clears it keeps later ones out.
        setopt(&mut ctx, 1, Sock::Listening, Opt::ReusePort(false)).unwrap();
        attach(&mut ctx, 4, Af::INET);
        setopt(&mut ctx, 4, Sock::Fresh, Opt::ReusePort(true)).unwrap();
        assert_eq!(bind(&mut ctx, 4, any, true), Err(libc::EADDRINUSE));
    }

    #[test]
    fn linger_zero_resets_on_close_and_linger_off_does_not() {
        for (lg, rst) in [(Some(Duration::ZERO), true), (None, false)] {
            let (stack, _ifp, sink) = stack();
            let mut ctx = stack.ctx();
            attach(&mut ctx, 1, Af::INET);
            setopt(&mut ctx, 1, Sock::Fresh, Opt::Linger(lg)).unwrap();
            connect(&mut ctx, 1, SocketAddrV4::new(HIM, 80).into(), true).unwrap();
            // Pretend the handshake completed.
            let t = ctx.inet.tcp.tcbs.get_mut(&1).unwrap();
            t.state = State::Established;
            t.snd_una = t.snd_nxt;
            sink.0.lock().unwrap().clear();
            close(&mut ctx, 1, Sock::Conn);
            let flags: Vec<u8> = sink
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|f| f[12..14] == [8, 0] && f[14 + 9] == IPPROTO_TCP)
                .map(|f| f[14 + 20 + 13])
                .collect();
            assert_eq!(flags.iter().any(|f| f & 0x04 != 0), rst, "{lg:?}: {flags:x?}");
            assert_eq!(ctx.inet.tcp.tcbs.contains_key(&1), !rst);
        }
    }
}
