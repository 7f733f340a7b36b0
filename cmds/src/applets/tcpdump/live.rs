//! Capturing on an interface of the stack: what libpcap's BPF backend does for tcpdump.
//! Opens a capture (a bpf-role connection), sets it up as the options say, hands back
//! buffers of records, and keeps count for the summary tcpdump prints at the end.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use pktbox_stack::msg::{iff, BpfConf, BpfStat, IfInfo, IFT_LOOP};
use pktbox_stack::socket::{Bpf, Error, Stack};
use pktbox_stack::wire::bpf::BpfInsn;
use pktbox_stack::wire::bpf::{DLT_EN10MB, DLT_NULL};

/// How long a read waits before it returns what there is, as libpcap's `to_ms` for
/// tcpdump; also how soon a SIGINT is noticed.
const READ_TIMEOUT_MS: u32 = 200;

/// tcpdump's buffer unless -B says otherwise (libpcap asks for 2 MiB; the stack grants up
/// to what one channel message carries).
pub const DEFAULT_BUFFER: u32 = 2 * 1024 * 1024;

/// The name and description of a link type, as tcpdump prints them.
pub fn dlt_name(dlt: u32) -> (&'static str, &'static str) {
    match dlt {
        DLT_NULL => ("NULL", "BSD loopback"),
        DLT_EN10MB => ("EN10MB", "Ethernet"),
        _ => ("UNKNOWN", "unknown"),
    }
}

/// The interfaces of the stack at `prefix`.
pub fn interfaces(prefix: &Path) -> Result<Vec<IfInfo>, String> {
    let mut s = Stack::open_at(prefix).map_err(|e| e.to_string())?;
    s.if_list(None).map_err(|e| e.to_string())
}

/// What `tcpdump -D` prints: one line per interface, numbered, with libpcap's flags.
pub fn list_interfaces(ifs: &[IfInfo]) -> String {
    let mut out = String::new();
    for (i, ifp) in ifs.iter().enumerate() {
        out += &format!("{}.{} [{}]\n", i + 1, ifp.name, describe(ifp));
    }
    out
}

fn describe(ifp: &IfInfo) -> String {
    let mut v = Vec::new();
    if ifp.flags & iff::UP != 0 {
        v.push("Up");
    }
    if ifp.flags & iff::RUNNING != 0 {
        v.push("Running");
    }
    if ifp.data.ifi_type == IFT_LOOP {
        v.push("Loopback");
    } else if ifp.data.ifi_link_state == pktbox_stack::msg::LINK_STATE_UP {
        v.push("Connected");
    } else {
        v.push("Disconnected");
    }
    v.join(", ")
}

/// The interface tcpdump listens on without -i: the first one that is up and not a
/// loopback (`pcap_lookupdev`), else the first one up.
pub fn default_interface(ifs: &[IfInfo]) -> Result<&IfInfo, String> {
    let up = |i: &&IfInfo| i.flags & iff::UP != 0;
    ifs.iter()
        .filter(up)
        .find(|i| i.data.ifi_type != IFT_LOOP)
        .or_else(|| ifs.iter().find(up))
        .ok_or_else(|| "no suitable device found".to_string())
}

/// How to capture.
#[derive(Debug, Clone)]
pub struct LiveConf {
    pub ifname: String,
    pub buffer: u32,
    pub promisc: bool,
    pub direction: u32,
    /// Hand over each packet as it comes (printing, -U), not a buffer at a time.
    pub immediate: bool,
    pub filter: Vec<BpfInsn>,
}

/// An open capture.
pub struct Live {
    bpf: Bpf,
    pub dlt: u32,
}

fn why(e: Error, ifname: &str) -> String {
    match e.errno() {
        Some(libc::ENXIO) => format!("{ifname}: No such device exists"),
        Some(libc::EPERM) => format!("{ifname}: You don't have permission to capture on that device"),
        _ => format!("{ifname}: {e}"),
    }
}

impl Live {
    pub fn open(prefix: &Path, c: &LiveConf) -> Result<Live, String> {
        let mut bpf = Bpf::open_at(prefix).map_err(|e| e.to_string())?;
        let att = bpf.attach(&c.ifname, Some(c.buffer)).map_err(|e| why(e, &c.ifname))?;
        bpf.set_filter(&c.filter).map_err(|e| why(e, &c.ifname))?;
        bpf.configure(BpfConf {
            promisc: c.promisc,
            direction: c.direction,
            immediate: c.immediate,
            timeout_ms: READ_TIMEOUT_MS,
        })
        .map_err(|e| why(e, &c.ifname))?;
        Ok(Live { bpf, dlt: att.dlt })
    }

    /// The next buffer of `bpf_hdr` records (empty when the read timeout passed).
    pub fn read(&mut self) -> Result<Vec<u8>, String> {
        self.bpf.read().map_err(|e| format!("read: {e}"))
    }

    pub fn stats(&mut self) -> Result<BpfStat, String> {
        self.bpf.stats().map_err(|e| e.to_string())
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Catches SIGINT, SIGTERM and SIGHUP so the capture ends with its summary, as tcpdump's
/// `cleanup` does.
pub fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether a signal asked the capture to end.
pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}
