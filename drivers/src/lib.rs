//! pktbox drivers: everything that moves Ethernet frames in and out of the process.
//!
//! A driver is opened from its io-pkt command-line form (`-d udp local=...,remote=...`) and
//! gives the stack a pollable file descriptor, non-blocking receive and send of whole
//! Ethernet frames, and its link state. The stack owns the interface (`ifnet`); the driver
//! only moves bytes.

use std::fmt;
use std::io;
use std::os::fd::RawFd;

pub mod hub;
pub mod impair;
pub mod netlink;
pub mod opts;
pub mod raw;
pub mod tap;
pub mod udp;

pub use opts::{parse_mac, parse_subopts, SubOpt};

/// Largest Ethernet header the stack accepts in front of an MTU-sized payload
/// (destination, source, one 802.1Q tag, ethertype).
pub const ETHER_HDR_MAX: usize = 18;
/// Smallest frame that carries an Ethernet header.
pub const ETHER_HDR_LEN: usize = 14;
/// Default MTU of every Ethernet driver.
pub const ETHERMTU: u32 = 1500;
/// Largest MTU an Ethernet driver accepts (NetBSD's ETHERMTU_JUMBO).
pub const ETHERMTU_JUMBO: u32 = 9000;
/// Receive buffer size that holds any frame a driver can hand us, so an oversized one is
/// seen whole and counted instead of silently truncated: with large receive offload, an
/// IP datagram of 64 KiB behind its Ethernet header (and a little more).
pub const RX_BUF: usize = 65536 + 256;

/// Interface capabilities, NetBSD's `IFCAP_*` bits (`if_capabilities`, `if_capenable`).
pub mod ifcap {
    /// TCP segmentation offload for IPv4: the stack may hand the driver one TCP segment
    /// of up to 64 KiB with its `gso_size`, and the device cuts it into MTU-sized ones.
    pub const TSOV4: u32 = 0x0000_0080;
    pub const CSUM_IPV4_RX: u32 = 0x0000_0100;
    pub const CSUM_IPV4_TX: u32 = 0x0000_0200;
    pub const CSUM_TCPV4_RX: u32 = 0x0000_0400;
    pub const CSUM_TCPV4_TX: u32 = 0x0000_0800;
    pub const CSUM_UDPV4_RX: u32 = 0x0000_1000;
    pub const CSUM_UDPV4_TX: u32 = 0x0000_2000;
    pub const CSUM_TCPV6_RX: u32 = 0x0000_4000;
    pub const CSUM_TCPV6_TX: u32 = 0x0000_8000;
    pub const CSUM_UDPV6_RX: u32 = 0x0001_0000;
    pub const CSUM_UDPV6_TX: u32 = 0x0002_0000;
    pub const TSOV6: u32 = 0x0004_0000;
    /// Large receive offload: the driver may hand up TCP segments merged into one of up
    /// to 64 KiB (a TAP does when the host's kernel sends GSO frames).
    pub const LRO: u32 = 0x0008_0000;

    /// The names NetBSD's ifconfig prints, in bit order (LRO is FreeBSD's word).
    pub const NAMES: &[(u32, &str)] = &[
        (TSOV4, "TSO4"),
        (CSUM_IPV4_RX, "IP4CSUM_Rx"),
        (CSUM_IPV4_TX, "IP4CSUM_Tx"),
        (CSUM_TCPV4_RX, "TCP4CSUM_Rx"),
        (CSUM_TCPV4_TX, "TCP4CSUM_Tx"),
        (CSUM_UDPV4_RX, "UDP4CSUM_Rx"),
        (CSUM_UDPV4_TX, "UDP4CSUM_Tx"),
        (CSUM_TCPV6_RX, "TCP6CSUM_Rx"),
        (CSUM_TCPV6_TX, "TCP6CSUM_Tx"),
        (CSUM_UDPV6_RX, "UDP6CSUM_Rx"),
        (CSUM_UDPV6_TX, "UDP6CSUM_Tx"),
        (TSOV6, "TSO6"),
        (LRO, "LRO"),
    ];

    /// `enabled=BITS<NAME,...>` as NetBSD's ifconfig prints a capability word.
    pub fn format(caps: u32) -> String {
        let names: Vec<&str> = NAMES.iter().filter(|(b, _)| caps & b != 0).map(|(_, n)| *n).collect();
        format!("{caps:x}<{}>", names.join(","))
    }
}

/// Checksum state of one frame (what a virtio-net header's flags say).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Csum {
    /// Nothing known: the receiver checks, the sender has filled it in.
    #[default]
    None,
    /// The checksum over `frame[start..]` is still to be done and stored at
    /// `start + offset`; that field holds the pseudo-header sum (VIRTIO_NET_HDR_F_NEEDS_CSUM).
    /// On receive, the frame came from a host that trusts itself: no need to check.
    Partial { start: u16, offset: u16 },
    /// The driver (or the host) has checked it (VIRTIO_NET_HDR_F_DATA_VALID).
    Valid,
}

/// Segmentation of one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Gso {
    #[default]
    None,
    /// A TCP/IPv4 segment larger than the MTU, to be cut (or that was merged) into
    /// segments of `size` bytes of data each.
    Tcp4 { size: u16 },
    /// The same for TCP/IPv6.
    Tcp6 { size: u16 },
}

/// Offload metadata that travels with a frame between the stack and a driver that has
/// offloads: the meaning of a virtio-net header, without its layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameMeta {
    pub csum: Csum,
    pub gso: Gso,
}

impl FrameMeta {
    /// A plain frame: complete checksums, at most one MTU.
    pub const PLAIN: FrameMeta = FrameMeta {
        csum: Csum::None,
        gso: Gso::None,
    };

    pub fn is_plain(&self) -> bool {
        *self == FrameMeta::PLAIN
    }
}

/// What one non-blocking receive produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recv {
    /// A frame of this many bytes is in the buffer.
    Frame(usize),
    /// Nothing is waiting.
    WouldBlock,
}

/// A driver's view of one link.
pub trait Driver: Send + Sync {
    /// The driver's name as given to `-d`.
    fn kind(&self) -> &'static str;
    /// A descriptor that polls readable when frames wait.
    fn raw_fd(&self) -> RawFd;
    /// Receives one frame without blocking.
    fn recv(&self, buf: &mut [u8]) -> io::Result<Recv>;
    /// Sends one whole frame. A link that cannot take it now drops it (an error is returned
    /// so the caller counts it).
    fn send(&self, frame: &[u8]) -> io::Result<()>;
    /// Whether the link has carrier.
    fn link_up(&self) -> bool;
    /// Called when the interface is marked up or down, so the driver can follow
    /// (a TAP device reflects it on the host side).
    fn set_up(&self, _up: bool) -> io::Result<()> {
        Ok(())
    }
    /// Driver details for `ifconfig -v`, in nicinfo's spirit: (label, value).
    fn details(&self) -> Vec<(String, String)>;
    /// The offloads this link can do (`ifcap` bits); none by default.
    fn capabilities(&self) -> u32 {
        0
    }
    /// Turns on the receive offloads among `enabled` (a subset of `capabilities`) and
    /// off the others; transmit offloads need nothing from the driver but that it takes
    /// frames with metadata.
    fn set_capenable(&self, _enabled: u32) -> io::Result<()> {
        Ok(())
    }
    /// Receives one frame and its offload metadata, which says what is still to be
    /// done to it (a driver without offloads always gives `FrameMeta::PLAIN`). A frame
    /// whose metadata makes no sense is an `InvalidData` error, for the caller to count.
    fn recv_meta(&self, buf: &mut [u8], meta: &mut FrameMeta) -> io::Result<Recv> {
        *meta = FrameMeta::PLAIN;
        self.recv(buf)
    }
    /// Sends one frame with offload metadata; only the offloads enabled through
    /// `capabilities` are ever asked for, so a driver without any refuses all but plain.
    fn send_meta(&self, frame: &[u8], meta: &FrameMeta) -> io::Result<()> {
        if meta.is_plain() {
            self.send(frame)
        } else {
            Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
        }
    }
}

/// Options common to every driver, handled by the stack rather than the driver
/// (QNX: `name=`, `mac=`, `mtu=`, `priority=`, `promiscuous`, `verbose`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Common {
    pub name: Option<String>,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    pub priority: Option<i32>,
    pub promiscuous: bool,
    pub verbose: u32,
}

/// An opened driver with the common options that came with it.
pub struct Opened {
    pub driver: Box<dyn Driver>,
    pub common: Common,
}

/// Why a driver could not start; shown as `io-pkt: -d NAME: REASON`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverError {
    pub driver: String,
    pub reason: String,
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-d {}: {}", self.driver, self.reason)
    }
}

impl std::error::Error for DriverError {}

/// The drivers this build has, in the order `io-pkt -d` help lists them.
pub const DRIVERS: &[&str] = &["tap", "udp", "hub", "raw"];

/// A driver's option word, checked: the common options, the impairments, and the options
/// left for the driver itself.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub common: Common,
    pub impair: Option<impair::Settings>,
    pub rest: Vec<SubOpt>,
}

/// Checks driver `kind`'s comma-separated option word (may be empty) without opening
/// anything: the common options and the impairments are read here; an error names the
/// option, as `io-pkt: -d NAME: REASON` shows it.
pub fn parse_options(kind: &str, opts: &str) -> Result<Parsed, DriverError> {
    let err = |reason: String| DriverError {
        driver: kind.to_string(),
        reason,
    };
    let parsed = parse_subopts(opts).map_err(err)?;
    let mut common = Common::default();
    let mut rest = Vec::new();
    let mut impairments = Vec::new();
    for o in parsed {
        match o.key.as_str() {
            "name" => common.name = Some(o.require_value().map_err(err)?.to_string()),
            "mac" => common.mac = Some(parse_mac(o.require_value().map_err(err)?).map_err(err)?),
            "mtu" => {
                let v = o.require_u64().map_err(err)?;
                if !(68..=u64::from(ETHERMTU_JUMBO)).contains(&v) {
                    return Err(err(format!("mtu={v}: out of range 68-{ETHERMTU_JUMBO}")));
                }
                common.mtu = Some(v as u32);
            }
            "priority" => {
                let v = o.require_u64().map_err(err)?;
                if !(1..=255).contains(&v) {
                    return Err(err(format!("priority={v}: out of range 1-255")));
                }
                common.priority = Some(v as i32);
            }
            "promiscuous" => common.promiscuous = true,
            "verbose" => {
                common.verbose = match o.value {
                    None => 1,
                    Some(_) => o.require_u64().map_err(err)? as u32,
                }
            }
            k if impair::OPTIONS.contains(&k) => impairments.push(o),
            _ => rest.push(o),
        }
    }
    if !DRIVERS.contains(&kind) {
        return Err(err(format!("no such driver (this build has: {})", DRIVERS.join(", "))));
    }
    let impair = if impairments.is_empty() {
        None
    } else {
        Some(impair::Settings::parse(&impairments).map_err(err)?)
    };
    Ok(Parsed { common, impair, rest })
}

/// Opens driver `kind` with its comma-separated option word (may be empty).
///
/// Any of the link impairment options (`loss=`, `dup=`, `reorder=`, `delay=`, `jitter=`,
/// `rate=`, `seed=`) wraps the driver in [`impair::Impair`]; they are checked before the
/// driver opens, so a bad value leaves nothing behind.
pub fn open(kind: &str, opts: &str) -> Result<Opened, DriverError> {
    let err = |reason: String| DriverError {
        driver: kind.to_string(),
        reason,
    };
    let Parsed { common, impair, rest } = parse_options(kind, opts)?;
    let mut driver: Box<dyn Driver> = match kind {
        "tap" => Box::new(tap::Tap::open(&rest, &common).map_err(err)?),
        "udp" => Box::new(udp::Udp::open(&rest).map_err(err)?),
        "hub" => Box::new(hub::Hub::open(&rest).map_err(err)?),
        "raw" => Box::new(raw::Raw::open(&rest).map_err(err)?),
        _ => unreachable!("DRIVERS lists every driver opened here"),
    };
    if let Some(settings) = impair {
        driver = Box::new(impair::Impair::new(driver, settings).map_err(|e| err(io_str(&e)))?);
    }
    Ok(Opened { driver, common })
}

/// Finishes a checksum left partial (`Csum::Partial`): the ones'-complement sum of
/// `frame[start..]`, whose checksum field already holds the pseudo-header's sum, stored
/// complemented at `start + offset` (RFC 1071). False when the offsets lie outside.
pub fn finish_csum(frame: &mut [u8], start: u16, offset: u16) -> bool {
    let (s, at) = (usize::from(start), usize::from(start) + usize::from(offset));
    if at + 2 > frame.len() {
        return false;
    }
    let mut acc: u64 = 0;
    let mut chunks = frame[s..].chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    frame[at..at + 2].copy_from_slice(&(!(acc as u16)).to_be_bytes());
    true
}

/// Makes a locally administered unicast MAC address that is unlikely to collide:
/// the 02 prefix, then bytes from the pid, the time and a per-process counter.
pub fn random_mac() -> [u8; 6] {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32) ^ u64::from(N.fetch_add(1, Ordering::Relaxed)) << 48;
    // splitmix64 to spread the bits
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let b = z.to_le_bytes();
    [0x02, b[0], b[1], b[2], b[3], b[4]]
}

pub(crate) fn errno_str(e: nix::errno::Errno) -> String {
    io::Error::from_raw_os_error(e as i32)
        .to_string()
        .replace(&format!(" (os error {})", e as i32), "")
}

pub(crate) fn io_str(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_str(nix::errno::Errno::from_raw(n)),
        None => e.to_string(),
    }
}
