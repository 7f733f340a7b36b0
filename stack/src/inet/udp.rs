//! UDP (RFC 768): checksums, port unreachable, broadcast, connected and unconnected
//! sockets, SO_REUSEADDR / SO_REUSEPORT, ephemeral ports from
//! net.inet.ip.anonportmin-anonportmax. Each socket is one channel connection; datagrams
//! are pushed to it, and a client that does not read loses them (`fullsock`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::conf::Ctx;
use crate::inet::icmp;
use crate::inet::inpcb::{laddr_overlap, Af, TransIn};
use crate::inet::out::{transport_output, TransOut};
use crate::msg::wire::SeqPacket;
use crate::msg::{encode, DataMsg, Msg, MSGF_DATA};
use crate::net::ifnet::Ifnet;
use crate::wire::checksum::transport_cksum;
use crate::wire::ipv4::IPPROTO_UDP;

use crate::wire::icmp::{ICMP_UNREACH, UNREACH_PORT};
use crate::wire::udp::UDP_HDR_LEN;
use crate::wire::udp::{UdpPacket, UdpRepr};
use crate::wire::Error as WireError;

/// One UDP socket (`struct inpcb`).
pub struct UdpPcb {
    pub id: u64,
    /// AF_INET or AF_INET6, and IPV6_V6ONLY.
    pub af: Af,
    /// Local address (unspecified: any; `::` of a dual AF_INET6 socket: any of both
    /// families) and port (0: not bound yet). IPv4 endpoints of an AF_INET6 socket are
    /// kept as IPv4 (see `inet::inpcb`).
    pub laddr: IpAddr,
    pub lport: u16,
    pub faddr: Option<SocketAddr>,
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub broadcast: bool,
    pub ttl: Option<u8>,
    pub tos: u8,
    /// SO_SNDBUF: the largest datagram that may be sent (EMSGSIZE above), as BSD's
    /// sosend checks an atomic send against the buffer; None: only UDP's own limit.
    pub sndbuf: Option<usize>,
    /// SO_RCVBUF: the room for datagrams not yet read (the stack's side of the client's
    /// connection has this send buffer; beyond it datagrams are dropped, `fullsock`).
    pub rcvbuf: usize,
    pub conn: SeqPacket,
}

impl UdpPcb {
    /// A fresh, unbound socket `id` whose datagrams go to the client over `conn`, with
    /// `rcvbuf` bytes of room for what it has not read.
    pub fn new(id: u64, conn: SeqPacket, rcvbuf: usize) -> UdpPcb {
        UdpPcb {
            id,
            af: Af::INET,
            laddr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            lport: 0,
            faddr: None,
            reuseaddr: false,
            reuseport: false,
            broadcast: false,
            ttl: None,
            tos: 0,
            sndbuf: None,
            rcvbuf,
            conn,
        }
    }
}

/// What netstat shows as the send buffer of a UDP socket without SO_SNDBUF.
pub const UDP_SNDBUF_DEFAULT: usize = 65535;

/// The checksum over the pseudo-header (IPv4's or IPv6's) and the UDP datagram (RFC 768,
/// RFC 8200 8.1).
pub fn udp_cksum(src: IpAddr, dst: IpAddr, udp: &[u8]) -> u16 {
    transport_cksum(src, dst, IPPROTO_UDP, udp)
}

/// Input of a local UDP datagram in an IPv4 packet (the whole packet).
/// `csum_ok` when the checksum needs no check (the driver vouched for it).
pub fn udp_input(ctx: &mut Ctx, ifp: &Arc<Ifnet>, pkt: &[u8], bcast: bool, csum_ok: bool) {
    udp_input_af(ctx, ifp, &TransIn::v4(pkt), bcast, csum_ok)
}

/// Input of a local UDP datagram of either family (ip_input and ip6_input call this).
pub fn udp_input_af(ctx: &mut Ctx, ifp: &Arc<Ifnet>, tin: &TransIn<'_>, bcast: bool, csum_ok: bool) {
    let st = &mut ctx.inet.udpstat;
    st.ipackets += 1;
    let udp = tin.payload();
    let uh = match UdpPacket::new_checked(udp) {
        Ok(uh) => uh,
        Err(WireError::Truncated) if udp.len() < UDP_HDR_LEN => {
            st.hdrops += 1;
            return;
        }
        Err(_) => {
            st.badlen += 1;
            return;
        }
    };
    let udp = &udp[..uh.len()];
    // Over IPv6 the checksum is not optional (RFC 8200 8.1): a zero one is bad.
    let v6 = tin.dst.is_ipv6();
    if !csum_ok && (v6 || udp[6..8] != [0, 0]) && udp_cksum(tin.src, tin.dst, udp) != 0 {
        st.badsum += 1;
        return;
    }
    let (sport, dport) = (uh.src_port(), uh.dst_port());
    let from = SocketAddr::new(tin.src, sport);
    let dst = tin.dst;
    let data = &udp[UDP_HDR_LEN..];
    let matches = |p: &UdpPcb| {
        p.lport == dport
            && (p.af.laddr_match(p.laddr, dst) || (bcast && p.af.laddr_match(p.af.any(), dst)))
            && p.faddr.is_none_or(|f| f == from)
    };
    // Broadcast and multicast go to every matching socket; unicast to the most specific.
    let mut targets: Vec<usize> = Vec::new();
    if bcast || dst.is_multicast() {
        targets = ctx
            .inet
            .udp
            .iter()
            .enumerate()
            .filter(|(_, p)| matches(p))
            .map(|(i, _)| i)
            .collect();
    } else {
        let best = ctx
            .inet
            .udp
            .iter()
            .enumerate()
            .filter(|(_, p)| matches(p))
            .max_by_key(|(_, p)| (p.faddr.is_some() as u8) * 4 + p.af.specificity(p.laddr, dst));
        if let Some((i, _)) = best {
            targets.push(i);
        }
    }
    if targets.is_empty() {
        if bcast || dst.is_multicast() {
            ctx.inet.udpstat.noportbcast += 1;
        } else {
            ctx.inet.udpstat.noport += 1;
            // Port unreachable: ICMP for IPv4, ICMPv6 for IPv6.
            let pkt = tin.pkt.to_vec();
            if v6 {
                use crate::wire::icmpv6 as ic;
                crate::inet6::icmp6::icmp6_error(ctx, ifp, &pkt, ic::DST_UNREACH, ic::UNREACH_NOPORT, 0);
            } else {
                icmp::icmp_error(ctx, Some(ifp), &pkt, ICMP_UNREACH, UNREACH_PORT, 0, bcast);
            }
        }
        return;
    }
    // One encoding per form of the sender's address: as it is, and v4-mapped for AF_INET6
    // sockets taking an IPv4 datagram.
    let mut enc: [Option<Vec<u8>>; 2] = [None, None];
    for i in targets {
        let v6sock = ctx.inet.udp[i].af.v6;
        let b = enc[usize::from(v6sock)].get_or_insert_with(|| {
            encode(
                &Msg::SockData(DataMsg {
                    from: crate::inet::inpcb::sock_view(from, v6sock),
                    data: data.to_vec(),
                    hlim: None,
                }),
                0,
                std::process::id(),
                MSGF_DATA,
                0,
            )
        });
        if ctx.inet.udp[i].conn.send_nowait(b).is_ok() {
            ctx.inet.udpstat.delivered += 1;
        } else {
            ctx.inet.udpstat.fullsock += 1;
        }
    }
}

/// Whether `port` on `addr` is taken for a socket (of family `af`) with these reuse options.
fn in_use(ctx: &Ctx, addr: IpAddr, af: Af, port: u16, reuseaddr: bool, reuseport: bool, except: u64) -> bool {
    ctx.inet.udp.iter().any(|p| {
        p.id != except
            && p.lport == port
            && laddr_overlap(p.laddr, p.af, addr, af)
            && !(reuseport && p.reuseport)
            && !(reuseaddr && p.reuseaddr && (addr.is_multicast() || p.laddr != addr))
    })
}

/// Picks an unused ephemeral port (net.inet.ip.anonportmin-anonportmax).
fn anon_port(ctx: &mut Ctx, addr: IpAddr, af: Af, except: u64) -> Result<u16, i32> {
    let (a, b) = (ctx.inet.anonportmin, ctx.inet.anonportmax);
    let (lo, hi) = (a.min(b), a.max(b));
    let span = u32::from(hi - lo) + 1;
    let start = ctx.inet.portrand.next_u32() % span;
    for i in 0..span {
        let port = lo + ((start + i) % span) as u16;
        if !in_use(ctx, addr, af, port, false, false, except) {
            return Ok(port);
        }
    }
    Err(libc::EADDRINUSE)
}

fn pcb(ctx: &Ctx, id: u64) -> Result<&UdpPcb, i32> {
    ctx.inet.udp.iter().find(|p| p.id == id).ok_or(libc::EBADF)
}

fn pcb_mut(ctx: &mut Ctx, id: u64) -> Result<&mut UdpPcb, i32> {
    ctx.inet.udp.iter_mut().find(|p| p.id == id).ok_or(libc::EBADF)
}

/// bind(2). `addr` is as the client gave it (v4-mapped for an IPv4 address of an
/// AF_INET6 socket).
pub fn udp_bind(ctx: &mut Ctx, id: u64, addr: SocketAddr, root: bool) -> Result<(), i32> {
    let p = pcb(ctx, id)?;
    let af = p.af;
    if p.lport != 0 {
        return Err(libc::EINVAL);
    }
    let addr = af.sock_in(addr)?;
    let ip = addr.ip();
    if !ip.is_unspecified()
        && !ip.is_multicast()
        && !crate::inet::out::is_broadcast(ctx, ip)
        && !crate::inet::out::is_local(ctx, ip)
    {
        return Err(libc::EADDRNOTAVAIL);
    }
    // Ports below 1024 are for root (IPPORT_RESERVED).
    if addr.port() != 0 && addr.port() < 1024 && !root {
        return Err(libc::EACCES);
    }
    let port = if addr.port() == 0 {
        anon_port(ctx, ip, af, id)?
    } else {
        if in_use(ctx, ip, af, addr.port(), p.reuseaddr, p.reuseport, id) {
            return Err(libc::EADDRINUSE);
        }
        addr.port()
    };
    let p = pcb_mut(ctx, id)?;
    p.laddr = ip;
    p.lport = port;
    Ok(())
}

/// Binds an unbound socket to an ephemeral port on the unspecified address.
fn autobind(ctx: &mut Ctx, id: u64, root: bool) -> Result<(), i32> {
    let any = SocketAddr::new(pcb(ctx, id)?.af.any(), 0);
    udp_bind(ctx, id, any, root)
}

/// connect(2): fixes the peer; binds an ephemeral port if needed.
pub fn udp_connect(ctx: &mut Ctx, id: u64, to: SocketAddr, root: bool) -> Result<(), i32> {
    let to = pcb(ctx, id)?.af.sock_in(to)?;
    if to.port() == 0 {
        return Err(libc::EADDRNOTAVAIL);
    }
    if pcb(ctx, id)?.lport == 0 {
        autobind(ctx, id, root)?;
    }
    let p = pcb_mut(ctx, id)?;
    if to.ip().is_unspecified() {
        p.faddr = None;
    } else {
        // A socket bound to an address of one family cannot have a peer of the other.
        if !p.laddr.is_unspecified() && p.laddr.is_ipv4() != to.is_ipv4() {
            return Err(libc::EINVAL);
        }
        p.faddr = Some(to);
    }
    Ok(())
}

/// sendto(2).
pub fn udp_output(ctx: &mut Ctx, id: u64, to: Option<SocketAddr>, data: &[u8], root: bool) -> Result<(), i32> {
    let p = pcb(ctx, id)?;
    let dst = match (to, p.faddr) {
        (Some(_), Some(_)) => return Err(libc::EISCONN),
        (Some(t), None) => p.af.sock_in(t)?,
        (None, Some(f)) => f,
        (None, None) => return Err(libc::EDESTADDRREQ),
    };
    if dst.port() == 0 {
        return Err(libc::EADDRNOTAVAIL);
    }
    // A dual socket's `::` sends to either family; a bound address fixes the family.
    if !p.laddr.is_unspecified() && p.laddr.is_ipv4() != dst.is_ipv4() {
        return Err(libc::EINVAL);
    }
    let is_bcast = crate::inet::out::is_broadcast(ctx, dst.ip());
    if is_bcast && !p.broadcast {
        return Err(libc::EACCES);
    }
    let nethdr = crate::inet::out::net_hdr_len(dst.ip()) as usize;
    if UDP_HDR_LEN + data.len() + nethdr > 65535 || p.sndbuf.is_some_and(|b| data.len() > b) {
        return Err(libc::EMSGSIZE);
    }
    if p.lport == 0 {
        autobind(ctx, id, root)?;
    }
    let p = pcb(ctx, id)?;
    // The source address: the bound one, else the route's.
    let src = if p.laddr.is_unspecified() || p.laddr.is_multicast() || crate::inet::out::is_broadcast(ctx, p.laddr) {
        crate::inet::out::source_for(ctx, dst.ip()).ok_or(libc::ENETUNREACH)?
    } else {
        p.laddr
    };
    let p = pcb(ctx, id)?;
    let (lport, ttl, tos) = (p.lport, p.ttl.unwrap_or(ctx.inet.ttl), p.tos);
    let mut u = vec![0u8; UDP_HDR_LEN + data.len()];
    let hdr = UdpRepr {
        src_port: lport,
        dst_port: dst.port(),
    };
    // Checksum offload (UDP4CSUM_Tx / UDP6CSUM_Tx on the way out): only the
    // pseudo-header's sum here; the interface, or ip_output when it cannot after all
    // (the datagram is to be fragmented), finishes it.
    let tx_bit = if dst.is_ipv4() {
        pktbox_drivers::ifcap::CSUM_UDPV4_TX
    } else {
        pktbox_drivers::ifcap::CSUM_UDPV6_TX
    };
    let csum_off = crate::inet::out::out_ifcaps(ctx, dst.ip()).is_some_and(|c| c & tx_bit != 0);
    if csum_off {
        hdr.emit_partial(&mut u, data, src, dst.ip())
    } else {
        hdr.emit(&mut u, data, src, dst.ip())
    }
    .map_err(|_| libc::EMSGSIZE)?;
    ctx.inet.udpstat.opackets += 1;
    transport_output(
        ctx,
        &TransOut {
            src: Some(src),
            dst: dst.ip(),
            proto: IPPROTO_UDP,
            ttl,
            tos,
            df: false,
            payload: &u,
            offload: crate::inet::ip::OutOffload {
                csum_at: csum_off.then_some(6),
                tso: 0,
            },
        },
    )
}

/// getsockname / getpeername, as the client sees them (v4-mapped on AF_INET6 sockets).
pub fn udp_names(ctx: &Ctx, id: u64) -> Result<(SocketAddr, Option<SocketAddr>), i32> {
    let p = pcb(ctx, id)?;
    Ok((
        p.af.view(SocketAddr::new(p.laddr, p.lport)),
        p.faddr.map(|f| p.af.view(f)),
    ))
}
