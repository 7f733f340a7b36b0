//! The stack's log: what NetBSD's kernel would `log()`. Lines go to standard error, which a
//! stack running in the background has pointed at `<prefix>/var/log/io-pkt.log`.

use std::io::Write;

/// Writes one log line, prefixed like the kernel's messages are by syslog.
pub fn log(args: std::fmt::Arguments<'_>) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "io-pkt: {args}");
}

/// `klog!("fmt", args...)`: one line in the stack's log.
#[macro_export]
macro_rules! klog {
    ($($t:tt)*) => { $crate::sys::log::log(format_args!($($t)*)) };
}
