//! getaddrinfo(3) through the stack: numeric addresses, /etc/hosts, then DNS queries (A,
//! AAAA) over the stack's UDP to the name servers of /etc/resolv.conf
//! (`$PKTBOX_RESOLV_CONF` names another file). The C library's resolver would send them
//! through the kernel, which is not the network the program's sockets are on.
//!
//! The answer is built the way glibc builds its own (each `addrinfo` one malloc block with
//! its address behind it, the canonical name a separate malloc string), so the C library's
//! freeaddrinfo frees it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use libc::{addrinfo, c_char, c_int};

use crate::addr;

pub const EAI_NONAME: c_int = -2;
pub const EAI_AGAIN: c_int = -3;
pub const EAI_FAIL: c_int = -4;
pub const EAI_FAMILY: c_int = -6;
pub const EAI_SOCKTYPE: c_int = -7;
pub const EAI_SERVICE: c_int = -8;
pub const EAI_MEMORY: c_int = -10;

/// What the caller asked for.
pub struct Query {
    pub host: Option<String>,
    pub service: Option<String>,
    pub family: c_int,
    pub socktype: c_int,
    pub protocol: c_int,
    pub flags: c_int,
}

/// The addresses `q` stands for, and the canonical name.
pub fn lookup(q: &Query) -> Result<(Vec<IpAddr>, Option<String>), c_int> {
    if !matches!(q.family, libc::AF_UNSPEC | libc::AF_INET | libc::AF_INET6) {
        return Err(EAI_FAMILY);
    }
    let want = |a: &IpAddr| match q.family {
        libc::AF_INET => a.is_ipv4(),
        libc::AF_INET6 => a.is_ipv6(),
        _ => true,
    };
    let Some(host) = q.host.as_deref() else {
        let v: Vec<IpAddr> = if q.flags & libc::AI_PASSIVE != 0 {
            vec![Ipv6Addr::UNSPECIFIED.into(), Ipv4Addr::UNSPECIFIED.into()]
        } else {
            vec![Ipv6Addr::LOCALHOST.into(), Ipv4Addr::LOCALHOST.into()]
        };
        return Ok((v.into_iter().filter(want).collect(), None));
    };
    if let Some(a) = numeric(host) {
        return match a {
            IpAddr::V4(v4) if q.family == libc::AF_INET6 && q.flags & libc::AI_V4MAPPED != 0 => {
                Ok((vec![IpAddr::V6(v4.to_ipv6_mapped())], None))
            }
            a if want(&a) => Ok((vec![a], None)),
            _ => Err(EAI_FAMILY),
        };
    }
    if q.flags & libc::AI_NUMERICHOST != 0 {
        return Err(EAI_NONAME);
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let mut v: Vec<IpAddr> = hosts_lookup(&hosts, host).into_iter().filter(want).collect();
    let mut canon = None;
    if v.is_empty() {
        let conf_path = std::env::var("PKTBOX_RESOLV_CONF").unwrap_or_else(|_| "/etc/resolv.conf".into());
        let conf = std::fs::read_to_string(conf_path).unwrap_or_default();
        let (servers, search) = resolv_conf(&conf);
        let mut names = vec![host.trim_end_matches('.').to_string()];
        if !host.contains('.') {
            names.extend(search.iter().map(|d| format!("{host}.{d}")));
        }
        let mut answered = false;
        for name in &names {
            let mut types = Vec::new();
            if q.family != libc::AF_INET {
                types.push(28u16);
            }
            if q.family != libc::AF_INET6 || q.flags & libc::AI_V4MAPPED != 0 {
                types.push(1u16);
            }
            for t in types {
                match dns(&servers, name, t) {
                    Ok((addrs, cname)) => {
                        answered = true;
                        canon = canon.or(cname);
                        v.extend(addrs);
                    }
                    Err(e) if e == EAI_NONAME => answered = true,
                    Err(_) => {}
                }
            }
            if !v.is_empty() {
                canon.get_or_insert_with(|| name.clone());
                break;
            }
        }
        if v.is_empty() {
            return Err(if answered { EAI_NONAME } else { EAI_AGAIN });
        }
        if q.family == libc::AF_INET6 {
            let has6 = v.iter().any(IpAddr::is_ipv6);
            v = v
                .into_iter()
                .filter_map(|a| match a {
                    IpAddr::V4(x) if !has6 || q.flags & libc::AI_ALL != 0 => Some(IpAddr::V6(x.to_ipv6_mapped())),
                    IpAddr::V4(_) => None,
                    a => Some(a),
                })
                .collect();
        }
    } else {
        canon = Some(host.to_string());
    }
    Ok((v, canon))
}

/// A numeric IPv4 or IPv6 address, an IPv6 one with a numeric `%scope`.
fn numeric(h: &str) -> Option<IpAddr> {
    if let Ok(a) = h.parse::<IpAddr>() {
        return Some(a);
    }
    let (a, _) = h.split_once('%')?;
    a.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The scope id of `fe80::1%3` (a number only: the stack's interface names mean nothing
/// to the kernel's if_nametoindex).
fn scope(h: &str) -> u32 {
    h.split_once('%').and_then(|(_, s)| s.parse().ok()).unwrap_or(0)
}

/// The addresses /etc/hosts gives `name` (names and aliases compare without case).
pub fn hosts_lookup(text: &str, name: &str) -> Vec<IpAddr> {
    let mut v = Vec::new();
    for line in text.lines() {
        let mut w = line.split('#').next().unwrap_or("").split_whitespace();
        let Some(a) = w.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
            continue;
        };
        if w.any(|n| n.eq_ignore_ascii_case(name)) && !v.contains(&a) {
            v.push(a);
        }
    }
    v
}

/// The name servers (at most three, port 53) and search domains of a resolv.conf.
pub fn resolv_conf(text: &str) -> (Vec<SocketAddr>, Vec<String>) {
    let (mut servers, mut search) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut w = line.split(['#', ';']).next().unwrap_or("").split_whitespace();
        match w.next() {
            Some("nameserver") => {
                if let Some(a) = w.next().and_then(numeric) {
                    if servers.len() < 3 {
                        servers.push(SocketAddr::new(a, 53));
                    }
                }
            }
            Some("search") | Some("domain") => search = w.map(str::to_string).collect(),
            _ => {}
        }
    }
    (servers, search)
}

/// A DNS query for `name` of type `qtype` with id `id`.
pub fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        if label.len() > 63 {
            return None;
        }
        b.push(label.len() as u8);
        b.extend_from_slice(label.as_bytes());
    }
    b.push(0);
    if b.len() > 12 + 255 {
        return None;
    }
    b.extend_from_slice(&qtype.to_be_bytes());
    b.extend_from_slice(&[0, 1]);
    Some(b)
}

/// Skips a (possibly compressed) name at `i`; where what follows starts.
fn skip_name(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let l = *b.get(i)? as usize;
        if l == 0 {
            return Some(i + 1);
        }
        if l & 0xc0 == 0xc0 {
            b.get(i + 1)?;
            return Some(i + 2);
        }
        i += 1 + l;
    }
}

/// Reads a (possibly compressed) name at `i`, following at most 16 pointers.
fn read_name(b: &[u8], mut i: usize) -> Option<String> {
    let mut out = Vec::new();
    for _ in 0..128 {
        let l = *b.get(i)? as usize;
        if l == 0 {
            return Some(out.join("."));
        }
        if l & 0xc0 == 0xc0 {
            i = ((l & 0x3f) << 8) | *b.get(i + 1)? as usize;
            continue;
        }
        out.push(String::from_utf8_lossy(b.get(i + 1..i + 1 + l)?).into_owned());
        i += 1 + l;
    }
    None
}

/// The addresses of an answer to query `id` of type `qtype`, and the CNAME target if one
/// came; EAI_NONAME for NXDOMAIN, EAI_FAIL for another error or a malformed answer.
pub fn parse_answer(b: &[u8], id: u16, qtype: u16) -> Result<(Vec<IpAddr>, Option<String>), c_int> {
    let u16_at = |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])) };
    if u16_at(0) != Some(id) || b.len() < 12 || b[2] & 0x80 == 0 {
        return Err(EAI_FAIL);
    }
    match b[3] & 0x0f {
        0 => {}
        3 => return Err(EAI_NONAME),
        _ => return Err(EAI_FAIL),
    }
    let (qd, an) = (u16_at(4).unwrap_or(0), u16_at(6).unwrap_or(0));
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(b, i).ok_or(EAI_FAIL)? + 4;
    }
    let (mut v, mut cname) = (Vec::new(), None);
    for _ in 0..an {
        i = skip_name(b, i).ok_or(EAI_FAIL)?;
        let t = u16_at(i).ok_or(EAI_FAIL)?;
        let len = u16_at(i + 8).ok_or(EAI_FAIL)? as usize;
        let data = b.get(i + 10..i + 10 + len).ok_or(EAI_FAIL)?;
        match (t, len) {
            (1, 4) if qtype == 1 => v.push(IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3]))),
            (28, 16) if qtype == 28 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(data);
                v.push(IpAddr::V6(Ipv6Addr::from(o)));
            }
            (5, _) => cname = read_name(b, i + 10),
            _ => {}
        }
        i += 10 + len;
    }
    Ok((v, cname))
}

/// Asks each server in turn, twice round, over the stack's UDP.
fn dns(servers: &[SocketAddr], name: &str, qtype: u16) -> Result<(Vec<IpAddr>, Option<String>), c_int> {
    let prefix = pktbox_stack::socket::prefix_from_env();
    let mut last = EAI_AGAIN;
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
    for round in 0..2u64 {
        for (k, s) in servers.iter().enumerate() {
            let id = (seed.wrapping_mul(2654435761).wrapping_add(round * 7 + k as u64) & 0xffff) as u16;
            let Some(q) = query(id, name, qtype) else {
                return Err(EAI_NONAME);
            };
            let bind: SocketAddr = if s.is_ipv6() {
                "[::]:0"
                    .parse()
                    .unwrap_or(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0))
            } else {
                SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0)
            };
            let Ok(mut u) = pktbox_stack::socket::UdpSocket::bind_at(&prefix, bind) else {
                return Err(EAI_AGAIN);
            };
            if u.set_read_timeout(Some(Duration::from_millis(1500))).is_err() || u.send_to(&q, *s).is_err() {
                continue;
            }
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = u.recv_from(&mut buf) {
                if from != *s {
                    continue;
                }
                match parse_answer(&buf[..n], id, qtype) {
                    Ok(r) => return Ok(r),
                    Err(EAI_NONAME) => return Err(EAI_NONAME),
                    Err(e) => {
                        last = e;
                        break;
                    }
                }
            }
        }
    }
    Err(last)
}

/// The port of a service: a number, else its /etc/services name for the protocol.
pub fn port(service: Option<&str>, socktype: c_int, flags: c_int) -> Result<u16, c_int> {
    let Some(s) = service else { return Ok(0) };
    if let Ok(p) = s.parse::<u16>() {
        return Ok(p);
    }
    if flags & libc::AI_NUMERICSERV != 0 {
        return Err(EAI_NONAME);
    }
    let proto = if socktype == libc::SOCK_DGRAM { "udp" } else { "tcp" };
    let text = std::fs::read_to_string("/etc/services").unwrap_or_default();
    for line in text.lines() {
        let mut w = line.split('#').next().unwrap_or("").split_whitespace();
        let (Some(name), Some(pp)) = (w.next(), w.next()) else {
            continue;
        };
        let Some((p, pr)) = pp.split_once('/') else { continue };
        if pr == proto && (name == s || w.any(|a| a == s)) {
            if let Ok(p) = p.parse() {
                return Ok(p);
            }
        }
    }
    Err(EAI_SERVICE)
}

/// Builds the C list: one entry per address and socket type.
///
/// # Safety
/// `res` must be valid for a write.
pub unsafe fn build(
    q: &Query,
    host: Option<&str>,
    addrs: &[IpAddr],
    canon: Option<String>,
    res: *mut *mut addrinfo,
) -> c_int {
    let types: Vec<(c_int, c_int)> = match (q.socktype, q.protocol) {
        (0, 0) => vec![
            (libc::SOCK_STREAM, libc::IPPROTO_TCP),
            (libc::SOCK_DGRAM, libc::IPPROTO_UDP),
            (libc::SOCK_RAW, 0),
        ],
        (0, libc::IPPROTO_TCP) => vec![(libc::SOCK_STREAM, libc::IPPROTO_TCP)],
        (0, libc::IPPROTO_UDP) => vec![(libc::SOCK_DGRAM, libc::IPPROTO_UDP)],
        (libc::SOCK_STREAM, p) => vec![(libc::SOCK_STREAM, if p == 0 { libc::IPPROTO_TCP } else { p })],
        (libc::SOCK_DGRAM, p) => vec![(libc::SOCK_DGRAM, if p == 0 { libc::IPPROTO_UDP } else { p })],
        (libc::SOCK_RAW, p) => vec![(libc::SOCK_RAW, p)],
        _ => return EAI_SOCKTYPE,
    };
    let mut head: *mut addrinfo = std::ptr::null_mut();
    let mut tail: *mut *mut addrinfo = &mut head;
    let sc = host.map(scope).unwrap_or(0);
    for a in addrs {
        for &(t, p) in &types {
            let port = match port(q.service.as_deref(), t, q.flags) {
                Ok(p) => p,
                Err(e) if types.len() > 1 && e == EAI_SERVICE => continue,
                Err(e) => {
                    unsafe { free_list(head) };
                    return e;
                }
            };
            let sa = match a {
                IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(*v6, port, 0, sc)),
                IpAddr::V4(v4) => SocketAddr::new(IpAddr::V4(*v4), port),
            };
            let (bytes, n) = addr::bytes(sa);
            let size = std::mem::size_of::<addrinfo>() + addr::HDR;
            // SAFETY: a fresh block of `size` bytes, written before use.
            let node = unsafe { libc::calloc(1, size) } as *mut addrinfo;
            if node.is_null() {
                unsafe { free_list(head) };
                return EAI_MEMORY;
            }
            unsafe {
                let sap = (node as *mut u8).add(std::mem::size_of::<addrinfo>());
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), sap, n);
                (*node).ai_flags = q.flags;
                (*node).ai_family = if a.is_ipv6() { libc::AF_INET6 } else { libc::AF_INET };
                (*node).ai_socktype = t;
                (*node).ai_protocol = p;
                (*node).ai_addrlen = n as libc::socklen_t;
                (*node).ai_addr = sap as *mut libc::sockaddr;
                *tail = node;
                tail = &mut (*node).ai_next;
            }
        }
    }
    if head.is_null() {
        return EAI_SERVICE;
    }
    if q.flags & libc::AI_CANONNAME != 0 {
        if let Some(c) = canon {
            if let Ok(cs) = std::ffi::CString::new(c) {
                // SAFETY: strdup copies into a malloc block the C library's freeaddrinfo frees.
                unsafe { (*head).ai_canonname = libc::strdup(cs.as_ptr()) };
            }
        }
    }
    unsafe { *res = head };
    0
}

/// Frees a list `build` made, on the way out of a failure.
unsafe fn free_list(mut p: *mut addrinfo) {
    while !p.is_null() {
        unsafe {
            let next = (*p).ai_next;
            libc::free((*p).ai_canonname as *mut libc::c_void);
            libc::free(p as *mut libc::c_void);
            p = next;
        }
    }
}

/// A C string argument, or None.
///
/// # Safety
/// `p` is null or a NUL-terminated string.
pub unsafe fn opt_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_gives_servers_and_search_domains() {
        let (s, d) = resolv_conf("# x\nnameserver 10.0.0.53\nnameserver 2001:db8::53 ; c\nsearch a.test b.test\n");
        assert_eq!(
            s,
            vec!["10.0.0.53:53".parse().unwrap(), "[2001:db8::53]:53".parse().unwrap()]
        );
        assert_eq!(d, vec!["a.test", "b.test"]);
    }

    #[test]
    fn hosts_match_names_and_aliases_without_case() {
        let t = "127.0.0.1 localhost\n10.1.1.1 Web.example www # c\n::1 localhost ip6-localhost\n";
        assert_eq!(hosts_lookup(t, "WWW"), vec!["10.1.1.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(hosts_lookup(t, "localhost").len(), 2);
        assert!(hosts_lookup(t, "nothere").is_empty());
    }

    /// An answer as a server builds it: the question echoed, a CNAME, then the address,
    /// names compressed.
    fn answer(id: u16, rcode: u8) -> Vec<u8> {
        let mut b = query(id, "www.pktbox.test", 1).unwrap();
        b[2] = 0x81;
        b[3] = 0x80 | rcode;
        b[7] = 2;
        // www.pktbox.test CNAME web.pktbox.test (web + pointer to "pktbox.test" at 16)
        b.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'w', b'e', b'b', 0xc0, 16]);
        let web = b.len() - 6;
        b.extend_from_slice(&[0xc0, web as u8, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7]);
        b
    }

    #[test]
    fn answers_give_addresses_and_the_canonical_name() {
        let (v, c) = parse_answer(&answer(7, 0), 7, 1).unwrap();
        assert_eq!(v, vec!["10.9.8.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(c.as_deref(), Some("web.pktbox.test"));
        assert_eq!(parse_answer(&answer(7, 3), 7, 1), Err(EAI_NONAME));
        assert_eq!(parse_answer(&answer(7, 0), 8, 1), Err(EAI_FAIL));
    }

    #[test]
    fn truncated_or_looping_answers_are_refused_not_followed() {
        let a = answer(7, 0);
        for n in 0..a.len() {
            let _ = parse_answer(&a[..n], 7, 1);
        }
        // A name that points at itself.
        assert_eq!(read_name(&[0xc0, 0], 0), None);
    }

    #[test]
    fn services_by_number_and_name() {
        assert_eq!(port(Some("8080"), libc::SOCK_STREAM, 0), Ok(8080));
        assert_eq!(port(None, 0, 0), Ok(0));
        assert_eq!(
            port(Some("http"), libc::SOCK_STREAM, libc::AI_NUMERICSERV),
            Err(EAI_NONAME)
        );
        assert_eq!(
            port(Some("no-such-service-here"), libc::SOCK_STREAM, 0),
            Err(EAI_SERVICE)
        );
    }
}
