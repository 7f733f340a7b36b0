//! `struct sockaddr` to and from `SocketAddr`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::conn::Errno;

/// Size of the address header a datagram carries between the pump and the program:
/// a `sockaddr_in6` (a `sockaddr_in` fits in it).
pub const HDR: usize = std::mem::size_of::<libc::sockaddr_in6>();

/// Reads a caller's `sockaddr`.
///
/// # Safety
/// `sa` must point at `len` readable bytes (or be null).
pub unsafe fn read(sa: *const libc::sockaddr, len: libc::socklen_t) -> Result<SocketAddr, Errno> {
    if sa.is_null() || (len as usize) < std::mem::size_of::<libc::sa_family_t>() {
        return Err(libc::EINVAL);
    }
    let family = i32::from(unsafe { (*sa).sa_family });
    match family {
        libc::AF_INET => {
            if (len as usize) < std::mem::size_of::<libc::sockaddr_in>() {
                return Err(libc::EINVAL);
            }
            let s = unsafe { std::ptr::read_unaligned(sa as *const libc::sockaddr_in) };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
                u16::from_be(s.sin_port),
            )))
        }
        libc::AF_INET6 => {
            if (len as usize) < std::mem::size_of::<libc::sockaddr_in6>() {
                return Err(libc::EINVAL);
            }
            let s = unsafe { std::ptr::read_unaligned(sa as *const libc::sockaddr_in6) };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(s.sin6_addr.s6_addr),
                u16::from_be(s.sin6_port),
                u32::from_be(s.sin6_flowinfo),
                s.sin6_scope_id,
            )))
        }
        _ => Err(libc::EAFNOSUPPORT),
    }
}

/// `a` as the socket's family: an AF_INET6 socket sees IPv4 peers as v4-mapped, an AF_INET
/// socket sees v4-mapped addresses as IPv4.
pub fn in_family(a: SocketAddr, v6: bool) -> SocketAddr {
    match a {
        SocketAddr::V4(s) if v6 => SocketAddr::new(IpAddr::V6(s.ip().to_ipv6_mapped()), s.port()),
        SocketAddr::V6(s) if !v6 => match s.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), s.port()),
            None => a,
        },
        _ => a,
    }
}

/// The bytes of a `sockaddr_in` or `sockaddr_in6` for `a`, padded to [`HDR`].
pub fn bytes(a: SocketAddr) -> ([u8; HDR], usize) {
    let mut out = [0u8; HDR];
    match a {
        SocketAddr::V4(s) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: s.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*s.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            let n = std::mem::size_of::<libc::sockaddr_in>();
            // SAFETY: sin is plain data of n bytes, out has room for them.
            unsafe { std::ptr::copy_nonoverlapping(&sin as *const _ as *const u8, out.as_mut_ptr(), n) };
            (out, n)
        }
        SocketAddr::V6(s) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: s.port().to_be(),
                sin6_flowinfo: s.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: s.ip().octets(),
                },
                sin6_scope_id: s.scope_id(),
            };
            // SAFETY: sin6 is plain data of HDR bytes.
            unsafe { std::ptr::copy_nonoverlapping(&sin6 as *const _ as *const u8, out.as_mut_ptr(), HDR) };
            (out, HDR)
        }
    }
}

/// Writes `a` where the caller asked (accept, getsockname, recvfrom): truncated to the room
/// given, the full length reported, as the kernel does.
///
/// # Safety
/// `sa` must be null or point at `*len` writable bytes; `len` null or valid.
pub unsafe fn write(a: SocketAddr, sa: *mut libc::sockaddr, len: *mut libc::socklen_t) {
    if sa.is_null() || len.is_null() {
        return;
    }
    let (b, n) = bytes(a);
    let room = unsafe { *len } as usize;
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), sa as *mut u8, n.min(room));
        *len = n as libc::socklen_t;
    }
}

/// Reads back the header [`bytes`] wrote.
/// A record with no datagram: an error the stack reported for the socket (AF_UNSPEC,
/// then the errno), which the program's next receive returns.
pub fn error_hdr(errno: i32) -> [u8; HDR] {
    let mut out = [0u8; HDR];
    out[..2].copy_from_slice(&(libc::AF_UNSPEC as libc::sa_family_t).to_ne_bytes());
    out[4..8].copy_from_slice(&errno.to_ne_bytes());
    out
}

/// The errno of an error record (`error_hdr`).
pub fn parse_error_hdr(b: &[u8; HDR]) -> Option<i32> {
    let family = libc::sa_family_t::from_ne_bytes([b[0], b[1]]);
    (i32::from(family) == libc::AF_UNSPEC).then(|| i32::from_ne_bytes([b[4], b[5], b[6], b[7]]))
}

pub fn parse_hdr(b: &[u8; HDR]) -> Option<SocketAddr> {
    // SAFETY: b holds HDR bytes, enough for either address.
    unsafe { read(b.as_ptr() as *const libc::sockaddr, HDR as libc::socklen_t).ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_survive_the_round_trip_through_sockaddr() {
        for a in [
            "10.1.2.3:80".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:443".parse().unwrap(),
            "[fe80::1%3]:22".parse().unwrap(),
        ] {
            let (b, n) = bytes(a);
            let back = unsafe { read(b.as_ptr() as *const libc::sockaddr, n as libc::socklen_t) }.unwrap();
            assert_eq!(back, a);
            assert_eq!(parse_hdr(&b), Some(a));
        }
    }

    #[test]
    fn short_or_foreign_addresses_are_refused() {
        let (b, _) = bytes("10.1.2.3:80".parse().unwrap());
        assert_eq!(
            unsafe { read(b.as_ptr() as *const libc::sockaddr, 8) },
            Err(libc::EINVAL)
        );
        let un = [1u8, 0, b'/', b'x'];
        assert_eq!(
            unsafe { read(un.as_ptr() as *const libc::sockaddr, 4) },
            Err(libc::EAFNOSUPPORT)
        );
        assert_eq!(unsafe { read(std::ptr::null(), 16) }, Err(libc::EINVAL));
    }

    #[test]
    fn the_socket_family_decides_how_an_address_is_shown() {
        let v4: SocketAddr = "10.0.0.1:5".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:5".parse().unwrap();
        assert_eq!(in_family(v4, true), mapped);
        assert_eq!(in_family(mapped, false), v4);
        assert_eq!(in_family(v4, false), v4);
    }

    #[test]
    fn a_short_buffer_gets_a_truncated_address_and_the_full_length() {
        let a: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        let mut buf = [0xffu8; 8];
        let mut len: libc::socklen_t = 8;
        unsafe { write(a, buf.as_mut_ptr() as *mut libc::sockaddr, &mut len) };
        assert_eq!(len as usize, HDR);
        assert_eq!(u16::from_ne_bytes([buf[0], buf[1]]), libc::AF_INET6 as u16);
    }
}
