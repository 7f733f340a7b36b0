//! Error numbers as they travel on the channel (Linux values) and their BSD wording, so
//! tools print what a NetBSD user expects (`Device not configured`, not Linux's words).

/// The BSD text of an errno, falling back to the C library's.
pub fn strerror(e: i32) -> String {
    let bsd = match e {
        libc::EPERM => "Operation not permitted",
        libc::ENOENT => "No such file or directory",
        libc::ESRCH => "No such process",
        libc::ENXIO => "Device not configured",
        libc::EACCES => "Permission denied",
        libc::EBUSY => "Device busy",
        libc::EEXIST => "File exists",
        libc::ENODEV => "Operation not supported by device",
        libc::EINVAL => "Invalid argument",
        libc::ENOSPC => "No space left on device",
        libc::ENOBUFS => "No buffer space available",
        libc::EOPNOTSUPP => "Operation not supported",
        libc::EPROTONOSUPPORT => "Protocol not supported",
        libc::EAFNOSUPPORT => "Address family not supported by protocol family",
        libc::EADDRINUSE => "Address already in use",
        libc::EADDRNOTAVAIL => "Can't assign requested address",
        libc::ENETDOWN => "Network is down",
        libc::ENETUNREACH => "Network is unreachable",
        libc::EHOSTUNREACH => "No route to host",
        libc::ECONNREFUSED => "Connection refused",
        libc::ETIMEDOUT => "Connection timed out",
        libc::EMSGSIZE => "Message too long",
        _ => "",
    };
    if !bsd.is_empty() {
        return bsd.to_string();
    }
    let s = std::io::Error::from_raw_os_error(e).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
