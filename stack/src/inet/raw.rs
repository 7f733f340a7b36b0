//! Raw IP sockets (`rip_input`, `rip_output`): what ping uses. Each socket is one channel
//! connection; received datagrams are pushed to it whole, header included, as BSD raw
//! sockets deliver them. A client that does not read loses datagrams (counted).

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::conf::Ctx;
use crate::inet::ip::{ip_output, Ip, OutPkt};
use crate::msg::wire::SeqPacket;
use crate::msg::{encode, DataMsg, Msg, MSGF_DATA};

/// One raw socket (`struct inpcb` of a raw socket).
pub struct RawPcb {
    pub id: u64,
    /// Protocol it receives and sends (0: every protocol on input).
    pub proto: u8,
    pub laddr: Option<Ipv4Addr>,
    pub faddr: Option<Ipv4Addr>,
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
    let (proto, src, dst) = (ip.proto(), ip.src(), ip.dst());
    let mut took = false;
    let mut encoded: Option<Vec<u8>> = None;
    for pcb in ctx.inet.raw.iter_mut() {
        if pcb.proto != 0 && pcb.proto != proto {
            continue;
        }
        if pcb.laddr.is_some_and(|l| l != dst) || pcb.faddr.is_some_and(|f| f != src) {
            continue;
        }
        took = true;
        let b = encoded.get_or_insert_with(|| {
            let m = Msg::SockData(DataMsg {
                from: SocketAddrV4::new(src, 0),
                data: pkt.to_vec(),
            });
            encode(&m, 0, std::process::id(), MSGF_DATA, 0)
        });
        if pcb.conn.send_nowait(b).is_err() {
            pcb.drops += 1;
        }
    }
    took
}

/// Sends the payload of a raw socket to `to` (or its connected address).
pub fn rip_output(ctx: &mut Ctx, id: u64, to: Option<Ipv4Addr>, data: &[u8]) -> Result<(), i32> {
    let pcb = ctx.inet.raw.iter().find(|p| p.id == id).ok_or(libc::EBADF)?;
    let dst = to.or(pcb.faddr).ok_or(libc::EDESTADDRREQ)?;
    if pcb.sndbuf.is_some_and(|b| data.len() > b) {
        return Err(libc::EMSGSIZE);
    }
    let out = OutPkt {
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
    ip_output(ctx, &out)
}
