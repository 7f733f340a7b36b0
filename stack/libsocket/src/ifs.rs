//! The stack's interfaces as the C library's interface calls report them: getifaddrs,
//! if_nametoindex, if_indextoname, if_nameindex. Each asks the stack over a control
//! connection. The memory is laid out as glibc lays out its own (getifaddrs: one block,
//! freed by freeifaddrs; if_nameindex: an array and one string per name), so the C
//! library's free functions free it.

use std::net::IpAddr;

use libc::{c_char, c_int, c_uint, c_void};
use pktbox_stack::msg::IfInfo;

use crate::addr;

/// The stack's interfaces; the errno when it cannot be asked.
fn list() -> Result<Vec<IfInfo>, c_int> {
    let mut s =
        pktbox_stack::socket::Stack::open_at(&pktbox_stack::socket::prefix_from_env()).map_err(|_| libc::ENETDOWN)?;
    s.if_list(None).map_err(|e| e.errno().unwrap_or(libc::EIO))
}

/// NetBSD's IFF_* bits as Linux's (the same up to IFF_ALLMULTI; IFF_MULTICAST moves).
pub fn linux_flags(bsd: u32) -> c_uint {
    let mut f = bsd & 0x3ff;
    if bsd & 0x8000 != 0 {
        f |= libc::IFF_MULTICAST as u32;
    }
    f
}

/// Room for the name and three addresses behind each `ifaddrs`.
const NAME: usize = libc::IFNAMSIZ;
const SA: usize = 32;
const EXTRA: usize = NAME + 3 * SA;

fn entry_size() -> usize {
    (std::mem::size_of::<libc::ifaddrs>() + EXTRA).next_multiple_of(8)
}

/// What one entry holds before it is laid out.
struct Entry<'a> {
    ifp: &'a IfInfo,
    addr: Option<[u8; SA]>,
    mask: Option<[u8; SA]>,
    brd: Option<[u8; SA]>,
}

fn sa(a: IpAddr, scope: u32) -> [u8; SA] {
    let sock = match a {
        IpAddr::V6(v6) => std::net::SocketAddr::V6(std::net::SocketAddrV6::new(v6, 0, 0, scope)),
        IpAddr::V4(v4) => std::net::SocketAddr::new(IpAddr::V4(v4), 0),
    };
    let (b, n) = addr::bytes(sock);
    let mut out = [0u8; SA];
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// An AF_PACKET `sockaddr_ll` for the interface (its index and link address).
fn sll(ifp: &IfInfo) -> [u8; SA] {
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut l: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    l.sll_family = libc::AF_PACKET as u16;
    l.sll_ifindex = c_int::from(ifp.index);
    if let Some(m) = ifp.lladdr {
        l.sll_halen = 6;
        l.sll_addr[..6].copy_from_slice(&m);
        l.sll_hatype = 1; // ARPHRD_ETHER
    } else {
        l.sll_hatype = 772; // ARPHRD_LOOPBACK
    }
    let mut out = [0u8; SA];
    let n = std::mem::size_of::<libc::sockaddr_ll>();
    // SAFETY: l is n bytes of plain data, n <= SA.
    unsafe { std::ptr::copy_nonoverlapping(&l as *const _ as *const u8, out.as_mut_ptr(), n) };
    out
}

/// getifaddrs(3): an AF_PACKET entry per interface, then one per address.
///
/// # Safety
/// `out` must be valid for a write.
pub unsafe fn getifaddrs(out: *mut *mut libc::ifaddrs) -> Result<(), c_int> {
    if out.is_null() {
        return Err(libc::EFAULT);
    }
    let ifs = list()?;
    let mut entries = Vec::new();
    for ifp in &ifs {
        entries.push(Entry {
            ifp,
            addr: Some(sll(ifp)),
            mask: None,
            brd: None,
        });
    }
    for ifp in &ifs {
        for a in &ifp.addrs {
            entries.push(Entry {
                ifp,
                addr: Some(sa(a.addr, a.scopeid)),
                mask: Some(sa(a.netmask, 0)),
                brd: a.brd.map(|b| sa(b, 0)),
            });
        }
    }
    if entries.is_empty() {
        unsafe { *out = std::ptr::null_mut() };
        return Ok(());
    }
    let es = entry_size();
    // SAFETY: one zeroed block for every entry; each is filled in below.
    let base = unsafe { libc::calloc(entries.len(), es) } as *mut u8;
    if base.is_null() {
        return Err(libc::ENOMEM);
    }
    for (i, e) in entries.iter().enumerate() {
        unsafe {
            let p = base.add(i * es);
            let ifa = p as *mut libc::ifaddrs;
            let extra = p.add(std::mem::size_of::<libc::ifaddrs>());
            let name = e.ifp.name.as_bytes();
            std::ptr::copy_nonoverlapping(name.as_ptr(), extra, name.len().min(NAME - 1));
            (*ifa).ifa_name = extra as *mut c_char;
            (*ifa).ifa_flags = linux_flags(e.ifp.flags);
            let slot = |k: usize, v: &Option<[u8; SA]>| -> *mut libc::sockaddr {
                match v {
                    Some(b) => {
                        let d = extra.add(NAME + k * SA);
                        std::ptr::copy_nonoverlapping(b.as_ptr(), d, SA);
                        d as *mut libc::sockaddr
                    }
                    None => std::ptr::null_mut(),
                }
            };
            (*ifa).ifa_addr = slot(0, &e.addr);
            (*ifa).ifa_netmask = slot(1, &e.mask);
            (*ifa).ifa_ifu = slot(2, &e.brd);
            (*ifa).ifa_data = std::ptr::null_mut::<c_void>();
            (*ifa).ifa_next = if i + 1 < entries.len() {
                base.add((i + 1) * es) as *mut libc::ifaddrs
            } else {
                std::ptr::null_mut()
            };
        }
    }
    unsafe { *out = base as *mut libc::ifaddrs };
    Ok(())
}

/// if_nametoindex(3): 0 (ENXIO) for a name the stack does not have.
pub fn nametoindex(name: &str) -> Result<c_uint, c_int> {
    list()?
        .iter()
        .find(|i| i.name == name)
        .map(|i| c_uint::from(i.index))
        .ok_or(libc::ENXIO)
}

/// if_indextoname(3) into the caller's IF_NAMESIZE buffer.
///
/// # Safety
/// `buf` must hold IF_NAMESIZE bytes.
pub unsafe fn indextoname(index: c_uint, buf: *mut c_char) -> Result<*mut c_char, c_int> {
    let ifs = list()?;
    let ifp = ifs.iter().find(|i| c_uint::from(i.index) == index).ok_or(libc::ENXIO)?;
    let n = ifp.name.len().min(libc::IF_NAMESIZE - 1);
    unsafe {
        std::ptr::copy_nonoverlapping(ifp.name.as_ptr() as *const c_char, buf, n);
        *buf.add(n) = 0;
    }
    Ok(buf)
}

/// if_nameindex(3): a malloc'd array ended by a zero entry, each name strdup'd.
pub fn nameindex() -> Result<*mut libc::if_nameindex, c_int> {
    let ifs = list()?;
    let sz = std::mem::size_of::<libc::if_nameindex>();
    // SAFETY: a zeroed array of ifs.len() + 1 entries; the last stays the terminator.
    let arr = unsafe { libc::calloc(ifs.len() + 1, sz) } as *mut libc::if_nameindex;
    if arr.is_null() {
        return Err(libc::ENOMEM);
    }
    for (k, ifp) in ifs.iter().enumerate() {
        let Ok(c) = std::ffi::CString::new(ifp.name.clone()) else {
            continue;
        };
        unsafe {
            let e = arr.add(k);
            (*e).if_index = c_uint::from(ifp.index);
            (*e).if_name = libc::strdup(c.as_ptr());
        }
    }
    Ok(arr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netbsd_flags_become_linux_flags() {
        // UP|BROADCAST|RUNNING|SIMPLEX|MULTICAST on NetBSD.
        let f = linux_flags(0x1 | 0x2 | 0x40 | 0x800 | 0x8000);
        assert_eq!(
            f,
            (libc::IFF_UP | libc::IFF_BROADCAST | libc::IFF_RUNNING | libc::IFF_MULTICAST) as u32
        );
        assert_eq!(linux_flags(0x8 | 0x1), (libc::IFF_LOOPBACK | libc::IFF_UP) as u32);
    }
}
