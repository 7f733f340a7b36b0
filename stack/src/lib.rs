//! pktbox-stack: a user-space network stack built the way NetBSD's (and QNX's io-pkt) is,
//! its channel, and the client library the tools use.
//!
//! One folder per layer, named as NetBSD names them: `msg` (channel messages), `resmgr`
//! (the stack's end of the channel), `socket` (the client's end), `net` (interfaces,
//! Ethernet, ARP), `inet` (IPv4), `sys` (the mechanisms: threads, the stack context's
//! lock, domain registration, callouts, the sysctl tree), and `conf` (the kernel
//! configuration: the domains compiled in and the stack context holding their state).

pub mod conf;
#[doc(hidden)]
pub mod fuzzing;
pub mod inet;
pub mod inet6;
pub mod msg;
pub mod net;
pub mod pf;
pub mod resmgr;
pub mod socket;
pub mod sys;
pub mod wire;
