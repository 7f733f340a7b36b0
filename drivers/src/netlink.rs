//! Host-side configuration of a TAP device over rtnetlink, done synchronously.
//!
//! Each call opens its own `NETLINK_ROUTE` socket, looks the interface up by name
//! (`RTM_GETLINK` with `IFLA_IFNAME`), sends its requests with `NLM_F_REQUEST|NLM_F_ACK` and
//! reads until the kernel acknowledges each one. Requests are built with
//! `netlink-packet-route`; replies are decoded from their fixed headers only (`nlmsghdr`,
//! `nlmsgerr`, `ifinfomsg`), so attributes the crate does not know how to parse (a newer
//! kernel) can never make a call fail. Errors are the kernel's errno text, e.g.
//! "Operation not permitted".

use std::io;
use std::net::Ipv4Addr;

use netlink_packet_core::{
    DecodeError, ErrorBuffer, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLMSG_ERROR, NLM_F_ACK,
    NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkHeader, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Receive buffer size; one `RTM_NEWLINK` reply with all its attributes fits easily.
const RX_BUF: usize = 65536;

/// Sets the link up and adds addr/len (IPv4) to interface `ifname` (with broadcast computed).
/// EEXIST on the address is not an error.
pub fn configure_host(ifname: &str, addr: Ipv4Addr, len: u8) -> Result<(), String> {
    let (mut nl, found) = Rtnl::lookup(ifname)?;
    let mut link = LinkMessage::default();
    link.header.index = found.index;
    link.header.flags = LinkFlags::Up;
    link.header.change_mask = LinkFlags::Up;
    nl.request(RouteNetlinkMessage::SetLink(link), 0).map_err(text)?;

    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = len;
    msg.header.scope = AddressScope::Universe;
    msg.header.index = found.index;
    msg.attributes.push(AddressAttribute::Local(addr.into()));
    msg.attributes.push(AddressAttribute::Address(addr.into()));
    msg.attributes
        .extend(broadcast(addr, len).map(AddressAttribute::Broadcast));
    let flags = NLM_F_CREATE | NLM_F_EXCL;
    match nl.request(RouteNetlinkMessage::NewAddress(msg), flags) {
        Err(e) if e.raw_os_error() != Some(libc::EEXIST) => Err(text(e)),
        _ => Ok(()),
    }
}

/// Sets the MTU of interface `ifname`.
pub fn set_mtu(ifname: &str, mtu: u32) -> Result<(), String> {
    let (mut nl, found) = Rtnl::lookup(ifname)?;
    let mut link = LinkMessage::default();
    link.header.index = found.index;
    link.attributes.push(LinkAttribute::Mtu(mtu));
    nl.request(RouteNetlinkMessage::SetLink(link), 0)
        .map(drop)
        .map_err(text)
}

/// Whether interface `ifname` has IFF_UP set.
pub fn is_up(ifname: &str) -> Result<bool, String> {
    Ok(Rtnl::lookup(ifname)?.1.flags.contains(LinkFlags::Up))
}

/// The broadcast address of addr/len; none for /31 (RFC 3021) and /32.
fn broadcast(addr: Ipv4Addr, len: u8) -> Option<Ipv4Addr> {
    (len <= 30).then(|| Ipv4Addr::from(u32::from(addr) | (u32::MAX >> len)))
}

/// The errno text of `e` without the " (os error N)" suffix std appends.
fn text(e: io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A `NETLINK_ROUTE` socket connected to the kernel, with the last sequence number used.
struct Rtnl {
    sock: Socket,
    seq: u32,
}

impl Rtnl {
    /// Opens a socket and finds interface `ifname` with it: its header gives the index and
    /// flags. Errors name the interface.
    fn lookup(ifname: &str) -> Result<(Rtnl, LinkHeader), String> {
        let found = || -> io::Result<(Rtnl, LinkHeader)> {
            let mut sock = Socket::new(NETLINK_ROUTE)?;
            sock.bind_auto()?;
            sock.connect(&SocketAddr::new(0, 0))?;
            let mut nl = Rtnl { sock, seq: 0 };
            let mut msg = LinkMessage::default();
            msg.attributes.push(LinkAttribute::IfName(ifname.to_string()));
            let reply = nl.request(RouteNetlinkMessage::GetLink(msg), 0)?;
            let header = reply.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))?;
            Ok((nl, header))
        };
        found().map_err(|e| format!("{ifname}: {}", text(e)))
    }

    /// Sends `msg` with `NLM_F_REQUEST|NLM_F_ACK|flags` and reads replies until the
    /// acknowledgement of its sequence number. Returns the header of an `RTM_NEWLINK` reply
    /// that came before the ACK, if any; a negative error code becomes that errno, and a
    /// reply that cannot be decoded EBADMSG.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<Option<LinkHeader>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        req.finalize();
        let mut buf = vec![0; req.buffer_len().max(RX_BUF)];
        req.serialize(&mut buf);
        self.sock.send(&buf[..req.buffer_len()], 0)?;

        let bad = |_: DecodeError| io::Error::from_raw_os_error(libc::EBADMSG);
        let mut link = None;
        loop {
            let n = match self.sock.recv(&mut &mut buf[..], libc::MSG_TRUNC) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if n > buf.len() {
                return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
            }
            let mut off = 0;
            while off < n {
                let m = NetlinkBuffer::new_checked(&buf[off..n]).map_err(bad)?;
                if m.sequence_number() == self.seq {
                    match m.message_type() {
                        NLMSG_ERROR => {
                            let code = ErrorBuffer::new_checked(m.payload()).map_err(bad)?.code();
                            return match code {
                                None => Ok(link),
                                Some(c) => Err(io::Error::from_raw_os_error(c.get().wrapping_neg())),
                            };
                        }
                        libc::RTM_NEWLINK => link = LinkHeader::parse(m.payload()).ok(),
                        _ => {}
                    }
                }
                // new_checked guarantees 16 <= length <= n - off, so this always advances.
                off += (m.length() as usize + 3) & !3;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lo` is up everywhere but in a freshly made network namespace; sysfs says which.
    #[test]
    fn loopback_state() {
        let want = std::fs::read_to_string("/sys/class/net/lo/flags")
            .ok()
            .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
            .map(|f| f & 1 == 1)
            .unwrap_or(true);
        assert_eq!(is_up("lo"), Ok(want));
    }

    #[test]
    fn unknown_interface_is_named() {
        let name = "nosuch-pktbox0";
        for r in [
            is_up(name).map(drop),
            set_mtu(name, 1400),
            configure_host(name, Ipv4Addr::LOCALHOST, 8),
        ] {
            let e = r.expect_err("unknown interface accepted");
            assert!(e.contains(name), "{e}");
            assert!(!e.contains("os error"), "{e}");
        }
    }

    #[test]
    fn broadcast_address() {
        let a = Ipv4Addr::new(192, 168, 7, 1);
        assert_eq!(broadcast(a, 24), Some(Ipv4Addr::new(192, 168, 7, 255)));
        assert_eq!(broadcast(a, 0), Some(Ipv4Addr::BROADCAST));
        assert_eq!(broadcast(a, 30), Some(Ipv4Addr::new(192, 168, 7, 3)));
        assert_eq!(broadcast(a, 31), None);
        assert_eq!(broadcast(a, 32), None);
    }

    #[test]
    fn errno_text_has_no_suffix() {
        assert_eq!(
            text(io::Error::from_raw_os_error(libc::EPERM)),
            "Operation not permitted"
        );
        assert_eq!(text(io::Error::from_raw_os_error(libc::ENODEV)), "No such device");
    }
}
