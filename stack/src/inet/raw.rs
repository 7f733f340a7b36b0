//! Raw IP sockets (`rip_input`, `rip_output`): what ping uses. Each socket is one channel
//! connection; received datagrams are pushed to it whole, header included, as BSD raw
//! sockets deliver them. A client that does not read loses datagrams (counted).

use std::net::{IpAddr, SocketAddr};

use crate::conf::Ctx;
use crate::inet::inpcb::{Af, TransIn};
use crate::inet::ip::Ip;
use crate::inet::out::{transport_output, TransOut};
use crate::msg::wire::SeqPacket;
use crate::msg::{encode, DataMsg, Msg, MSGF_DATA};

/// One raw socket (`struct inpcb` of a raw socket).
pub struct RawPcb {
    pub id: u64,
    /// Protocol it receives and sends (0: every protocol on input).
    pub proto: u8,
    /// AF_INET (IPv4 datagrams, header included) or AF_INET6 (IPv6 payloads, as BSD's
    /// rip6 delivers them); a raw socket sees only its own family.
    pub af: Af,
    pub laddr: Option<IpAddr>,
    pub faddr: Option<IpAddr>,
    pub ttl: Option<u8>,
    pub tos: u8,
    /// SO_SNDBUF: the largest datagram that may be sent (EMSGSIZE above).
    pub sndbuf: Option<usize>,
    pub conn: SeqPacket,
    /// Datagrams lost because the client's buffer was full.
    pub drops: u64,
}

impl RawPcb {
    /// A fresh raw socket `id` for protocol `proto`, whose datagrams go to the client over
    /// `conn`.
    pub fn new(id: u64, proto: u8, conn: SeqPacket) -> RawPcb {
        RawPcb {
            id,
            proto,
            af: Af::INET,
            laddr: None,
            faddr: None,
            ttl: None,
            tos: 0,
            sndbuf: None,
            conn,
            drops: 0,
        }
    }
}

/// Gives a copy of a local datagram to every raw socket that wants it. Returns whether
/// any did.
pub fn rip_input(ctx: &mut Ctx, pkt: &[u8]) -> bool {
    if ctx.inet.raw.is_empty() {
        return false;
    }
    let ip = Ip(pkt);
    let tin = TransIn {
        src: IpAddr::V4(ip.src()),
        dst: IpAddr::V4(ip.dst()),
        pkt,
        off: 0,
    };
    raw_deliver(ctx, ip.proto(), &tin)
}

/// Gives a copy of a local IPv6 datagram's upper-layer payload (`tin.payload()`, after
/// the extension headers) for protocol `proto` to every AF_INET6 raw socket that wants
/// it (`rip6_input`; ip6_input calls this). Returns whether any did.
pub fn rip6_input(ctx: &mut Ctx, proto: u8, tin: &TransIn<'_>) -> bool {
    if ctx.inet.raw.is_empty() {
        return false;
    }
    raw_deliver(ctx, proto, tin)
}

/// Delivers `tin.payload()` to the raw sockets of its family for `proto`.
fn raw_deliver(ctx: &mut Ctx, proto: u8, tin: &TransIn<'_>) -> bool {
    let (src, dst) = (tin.src, tin.dst);
    let v6 = dst.is_ipv6();
    let mut took = false;
    let mut encoded: Option<Vec<u8>> = None;
    for pcb in ctx.inet.raw.iter_mut() {
        if pcb.af.v6 != v6 || (pcb.proto != 0 && pcb.proto != proto) {
            continue;
        }
        if pcb.laddr.is_some_and(|l| l != dst) || pcb.faddr.is_some_and(|f| f != src) {
            continue;
        }
        took = true;
        let b = encoded.get_or_insert_with(|| {
            let m = Msg::SockData(DataMsg {
                from: SocketAddr::new(src, 0),
                data: tin.payload().to_vec(),
            });
            encode(&m, 0, std::process::id(), MSGF_DATA, 0)
        });
        if pcb.conn.send_nowait(b).is_err() {
            pcb.drops += 1;
        }
    }
    took
}

/// A raw socket's address from the client, in its family (port ignored). An AF_INET6 raw
/// socket has no IPv4 peers: a v4-mapped address is EINVAL.
pub fn raw_addr(af: Af, a: SocketAddr) -> Result<IpAddr, i32> {
    let ip = af.sock_in(SocketAddr::new(a.ip(), 0))?.ip();
    if af.v6 && ip.is_ipv4() {
        return Err(libc::EINVAL);
    }
    Ok(ip)
}

/// Sends the payload of a raw socket to `to` (or its connected address).
pub fn rip_output(ctx: &mut Ctx, id: u64, to: Option<IpAddr>, data: &[u8]) -> Result<(), i32> {
    let pcb = ctx.inet.raw.iter().find(|p| p.id == id).ok_or(libc::EBADF)?;
    let dst = to.or(pcb.faddr).ok_or(libc::EDESTADDRREQ)?;
    if pcb.sndbuf.is_some_and(|b| data.len() > b) {
        return Err(libc::EMSGSIZE);
    }
    let out = TransOut {
        src: pcb.laddr,
        dst,
        proto: pcb.proto,
        ttl: pcb.ttl.unwrap_or(ctx.inet.ttl),
        tos: pcb.tos,
        df: false,
        payload: data,
        offload: Default::default(),
    };
    // ips_rawout counts only datagrams whose sender wrote the IP header (IP_HDRINCL), as
    // NetBSD's rip_output does; here the stack always writes it, so they are ordinary output.
    transport_output(ctx, &out)
}
