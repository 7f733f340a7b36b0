//! What every transport's sockets share across the two families (NetBSD's `in_pcb.c`
//! and `in6_pcb.c` in one): the rules for a socket's family, IPV6_V6ONLY and v4-mapped
//! addresses, local-address matching and port clashes, and the network-layer envelope in
//! which ip_input or ip6_input hands a datagram up.
//!
//! Inside the stack an endpoint's address is always in its own family: an IPv4 peer of an
//! AF_INET6 socket is kept as the IPv4 address, and shown to the client as v4-mapped
//! (`::ffff:a.b.c.d`, RFC 4291 2.5.5.2) by [`sock_view`]. The one address that stands for
//! both families is the unspecified `::` of an AF_INET6 socket without IPV6_V6ONLY.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

/// A socket's domain and its IPV6_V6ONLY option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Af {
    /// AF_INET6 (else AF_INET).
    pub v6: bool,
    /// IPV6_V6ONLY: an AF_INET6 socket that takes no IPv4 peers.
    pub v6only: bool,
}

impl Af {
    pub const INET: Af = Af {
        v6: false,
        v6only: false,
    };

    /// AF_INET or AF_INET6, as `SockInfo` carries it.
    pub fn domain(self) -> i32 {
        if self.v6 {
            libc::AF_INET6
        } else {
            libc::AF_INET
        }
    }

    /// The unspecified address of the socket's family (what an unbound socket has).
    pub fn any(self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        }
    }

    /// Whether a socket bound to `bound` takes datagrams for `dst`: the same address, or
    /// the unspecified one of dst's family, or `::` of a dual AF_INET6 socket.
    pub fn laddr_match(self, bound: IpAddr, dst: IpAddr) -> bool {
        if bound.is_unspecified() {
            match bound {
                IpAddr::V4(_) => dst.is_ipv4(),
                IpAddr::V6(_) => dst.is_ipv6() || !self.v6only,
            }
        } else {
            bound == dst
        }
    }

    /// How well a binding fits (for picking the most specific socket): 2 for the exact
    /// address, 1 for a wildcard of the datagram's own family, 0 for `::` taking IPv4.
    pub fn specificity(self, bound: IpAddr, dst: IpAddr) -> u8 {
        if !bound.is_unspecified() {
            2
        } else if bound.is_ipv4() == dst.is_ipv4() {
            1
        } else {
            0
        }
    }

    /// An address from the client (bind, connect, sendto) in the stack's form: checks the
    /// family against the socket's and turns a v4-mapped address into the IPv4 one.
    /// AF_INET sockets take only IPv4 addresses and AF_INET6 sockets only IPv6 ones
    /// (EAFNOSUPPORT, as NetBSD's in_pcbbind / in6_pcbbind); a v4-mapped address on a
    /// V6ONLY socket is EINVAL, as NetBSD answers.
    pub fn sock_in(self, a: SocketAddr) -> Result<SocketAddr, i32> {
        match (self.v6, a) {
            (false, SocketAddr::V4(_)) => Ok(a),
            (false, SocketAddr::V6(_)) | (true, SocketAddr::V4(_)) => Err(libc::EAFNOSUPPORT),
            (true, SocketAddr::V6(s)) => match s.ip().to_ipv4_mapped() {
                Some(_) if self.v6only => Err(libc::EINVAL),
                Some(v4) => Ok(SocketAddr::new(IpAddr::V4(v4), s.port())),
                None => Ok(a),
            },
        }
    }

    /// An address of the stack's as the socket's client sees it (see [`sock_view`]).
    pub fn view(self, a: SocketAddr) -> SocketAddr {
        sock_view(a, self.v6)
    }
}

/// An address as an AF_INET6 socket's client sees it: IPv4 ones v4-mapped.
pub fn sock_view(a: SocketAddr, v6: bool) -> SocketAddr {
    match a {
        SocketAddr::V4(s) if v6 => SocketAddr::V6(SocketAddrV6::new(s.ip().to_ipv6_mapped(), s.port(), 0, 0)),
        _ => a,
    }
}

/// Whether two local bindings (address and family options) could both take one datagram:
/// a port clash unless the reuse options allow it. `0.0.0.0` and a dual `::` clash, as
/// on NetBSD; `0.0.0.0` and a V6ONLY `::` do not.
pub fn laddr_overlap(a: IpAddr, a_af: Af, b: IpAddr, b_af: Af) -> bool {
    match (a.is_unspecified(), b.is_unspecified()) {
        (false, false) => a == b,
        (true, false) => a_af.laddr_match(a, b),
        (false, true) => b_af.laddr_match(b, a),
        (true, true) => match (a, b) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => true,
            (IpAddr::V4(_), IpAddr::V6(_)) => !b_af.v6only,
            (IpAddr::V6(_), IpAddr::V4(_)) => !a_af.v6only,
        },
    }
}

/// A transport datagram as the network layer hands it up: its addresses, and the whole
/// network-layer packet with the offset of the transport header (ICMP and ICMPv6 errors
/// quote the packet).
#[derive(Debug, Clone, Copy)]
pub struct TransIn<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub pkt: &'a [u8],
    /// Where the transport header starts in `pkt` (after any extension headers).
    pub off: usize,
}

impl<'a> TransIn<'a> {
    /// An IPv4 datagram (header checked by ip_input).
    pub fn v4(pkt: &'a [u8]) -> TransIn<'a> {
        let ip = crate::wire::ipv4::Ipv4Packet::new_unchecked(pkt);
        TransIn {
            src: IpAddr::V4(ip.src()),
            dst: IpAddr::V4(ip.dst()),
            pkt,
            off: ip.hlen().min(pkt.len()),
        }
    }

    /// The transport header and what follows it.
    pub fn payload(&self) -> &'a [u8] {
        self.pkt.get(self.off..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V6: Af = Af {
        v6: true,
        v6only: false,
    };
    const V6ONLY: Af = Af { v6: true, v6only: true };

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_mapped_addresses_become_ipv4_inside_and_mapped_again_outside() {
        assert_eq!(V6.sock_in(sa("[::ffff:10.0.0.2]:80")), Ok(sa("10.0.0.2:80")));
        assert_eq!(V6.sock_in(sa("[2001:db8::1]:80")), Ok(sa("[2001:db8::1]:80")));
        assert_eq!(V6ONLY.sock_in(sa("[::ffff:10.0.0.2]:80")), Err(libc::EINVAL));
        assert_eq!(V6.sock_in(sa("10.0.0.2:80")), Err(libc::EAFNOSUPPORT));
        assert_eq!(Af::INET.sock_in(sa("[2001:db8::1]:80")), Err(libc::EAFNOSUPPORT));
        assert_eq!(V6.view(sa("10.0.0.2:80")), sa("[::ffff:10.0.0.2]:80"));
        assert_eq!(Af::INET.view(sa("10.0.0.2:80")), sa("10.0.0.2:80"));
    }

    #[test]
    fn a_dual_wildcard_takes_both_families_and_v6only_only_ipv6() {
        let any6: IpAddr = "::".parse().unwrap();
        let any4: IpAddr = "0.0.0.0".parse().unwrap();
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(V6.laddr_match(any6, v4) && V6.laddr_match(any6, v6));
        assert!(!V6ONLY.laddr_match(any6, v4) && V6ONLY.laddr_match(any6, v6));
        assert!(Af::INET.laddr_match(any4, v4) && !Af::INET.laddr_match(any4, v6));
        assert!(V6.specificity(any6, v4) < Af::INET.specificity(any4, v4));
        assert!(laddr_overlap(any4, Af::INET, any6, V6));
        assert!(!laddr_overlap(any4, Af::INET, any6, V6ONLY));
        assert!(laddr_overlap(v4, V6, any6, V6));
        assert!(!laddr_overlap(v4, Af::INET, any6, V6ONLY));
        assert!(!laddr_overlap(v4, Af::INET, v6, V6));
    }
}
