//! `tap`: a Linux TAP device. The stack is the "wire side" of the device; the host side is
//! an ordinary Linux interface that `host=ADDR/LEN` configures over netlink.
//!
//! By default the device is opened with IFF_VNET_HDR: every frame read or written starts
//! with a virtio-net header (virtio 1.x, section 5.1.6: flags, gso_type, hdr_len,
//! gso_size, csum_start, csum_offset, num_buffers; 12 bytes, set with TUNSETVNETHDRSZ),
//! which lets one read or write carry a TCP segment of up to 64 KiB whose checksum is
//! left to the other side (TUNSETOFFLOAD with TUN_F_CSUM, TUN_F_TSO4 and TUN_F_TSO6 for
//! what the host may hand us), for IPv4 and IPv6 alike. `offload=none` opens a plain device, one MTU-sized frame per call.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::opts::{unknown, SubOpt};
use crate::{errno_str, finish_csum, ifcap, io_str, netlink, Common, Csum, Driver, FrameMeta, Gso, Recv};

const IFNAMSIZ: usize = 16;

#[repr(C)]
struct IfReqFlags {
    name: [u8; IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

nix::ioctl_write_int!(tunsetiff, b'T', 202);
nix::ioctl_write_int!(tunsetoffload, b'T', 208);
nix::ioctl_write_ptr!(tunsetvnethdrsz, b'T', 216, libc::c_int);

/// TUNSETIFF flag: frames carry a virtio-net header.
const IFF_VNET_HDR: libc::c_int = 0x4000;
/// TUNSETOFFLOAD bits: what the host may hand us.
const TUN_F_CSUM: u64 = 0x01;
const TUN_F_TSO4: u64 = 0x02;
const TUN_F_TSO6: u64 = 0x04;

/// The virtio-net header: its size with num_buffers, its flags and GSO types.
pub const VNET_HDR_LEN: usize = 12;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;

/// What a TAP with virtio-net headers can do.
pub const TAP_CAPS: u32 = ifcap::TSOV4
    | ifcap::CSUM_TCPV4_RX
    | ifcap::CSUM_TCPV4_TX
    | ifcap::CSUM_UDPV4_RX
    | ifcap::CSUM_UDPV4_TX
    | ifcap::TSOV6
    | ifcap::CSUM_TCPV6_RX
    | ifcap::CSUM_TCPV6_TX
    | ifcap::CSUM_UDPV6_RX
    | ifcap::CSUM_UDPV6_TX
    | ifcap::LRO;

pub struct Tap {
    file: File,
    name: String,
    host: Option<(std::net::Ipv4Addr, u8)>,
    /// Opened with IFF_VNET_HDR.
    vnet: bool,
}

/// Reads a virtio-net header (in the host's byte order, which is what a TAP uses unless
/// told otherwise) into frame metadata. `len` is the frame's length behind it.
pub fn parse_vnet_hdr(h: &[u8; VNET_HDR_LEN], len: usize) -> Result<FrameMeta, &'static str> {
    let u16_at = |i: usize| u16::from_ne_bytes([h[i], h[i + 1]]);
    let (flags, gso_type, gso_size) = (h[0], h[1], u16_at(4));
    let (start, offset) = (u16_at(6), u16_at(8));
    let csum = if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
        if usize::from(start) + usize::from(offset) + 2 > len {
            return Err("checksum offset beyond the frame");
        }
        Csum::Partial { start, offset }
    } else if flags & VIRTIO_NET_HDR_F_DATA_VALID != 0 {
        Csum::Valid
    } else {
        Csum::None
    };
    let gso = match gso_type & !VIRTIO_NET_HDR_GSO_ECN {
        VIRTIO_NET_HDR_GSO_NONE => Gso::None,
        VIRTIO_NET_HDR_GSO_TCPV4 => Gso::Tcp4 { size: gso_size },
        VIRTIO_NET_HDR_GSO_TCPV6 => Gso::Tcp6 { size: gso_size },
        _ => return Err("unknown GSO type"),
    };
    if gso != Gso::None && (gso_size == 0 || !matches!(csum, Csum::Partial { .. })) {
        return Err("GSO frame without a segment size or a partial checksum");
    }
    Ok(FrameMeta { csum, gso })
}

/// Writes the virtio-net header for a frame with metadata.
pub fn vnet_hdr(frame: &[u8], meta: &FrameMeta) -> io::Result<[u8; VNET_HDR_LEN]> {
    let mut h = [0u8; VNET_HDR_LEN];
    let mut put = |i: usize, v: u16| h[i..i + 2].copy_from_slice(&v.to_ne_bytes());
    let mut flags = 0;
    if let Csum::Partial { start, offset } = meta.csum {
        if usize::from(start) + usize::from(offset) + 2 > frame.len() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        put(6, start);
        put(8, offset);
    }
    let (gso_type, size) = match meta.gso {
        Gso::None => (VIRTIO_NET_HDR_GSO_NONE, 0),
        Gso::Tcp4 { size } => (VIRTIO_NET_HDR_GSO_TCPV4, size),
        Gso::Tcp6 { size } => (VIRTIO_NET_HDR_GSO_TCPV6, size),
    };
    if gso_type != VIRTIO_NET_HDR_GSO_NONE {
        // hdr_len: the headers up to the end of the TCP header.
        let Csum::Partial { start, .. } = meta.csum else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        let th = usize::from(start);
        let doff = frame.get(th + 12).map(|b| usize::from(b >> 4) * 4).unwrap_or(0);
        if doff < 20 || th + doff > frame.len() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        put(2, (th + doff) as u16);
        put(4, size);
    }
    h[0] = flags;
    h[1] = gso_type;
    Ok(h)
}

fn parse_host(v: &str) -> Result<(std::net::Ipv4Addr, u8), String> {
    let (a, l) = v
        .split_once('/')
        .ok_or_else(|| format!("host={v}: expected ADDR/LEN"))?;
    let addr = a.parse().map_err(|_| format!("host={v}: bad address"))?;
    let len: u8 = l.parse().map_err(|_| format!("host={v}: bad prefix length"))?;
    if len > 32 {
        return Err(format!("host={v}: bad prefix length"));
    }
    Ok((addr, len))
}

impl Tap {
    pub fn open(opts: &[SubOpt], common: &Common) -> Result<Tap, String> {
        let mut want = String::new();
        let mut host = None;
        let mut vnet = true;
        for o in opts {
            match o.key.as_str() {
                "tap" => want = o.require_value()?.to_string(),
                "host" => host = Some(parse_host(o.require_value()?)?),
                "offload" => {
                    vnet = match o.require_value()? {
                        "none" => false,
                        "all" => true,
                        v => return Err(format!("offload={v}: expected all or none")),
                    }
                }
                _ => return Err(unknown(o)),
            }
        }
        if want.len() >= IFNAMSIZ || want.contains('/') {
            return Err(format!("tap={want}: bad interface name"));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| format!("/dev/net/tun: {}", io_str(&e)))?;
        let mut req = IfReqFlags {
            name: [0; IFNAMSIZ],
            flags: (libc::IFF_TAP | libc::IFF_NO_PI | if vnet { IFF_VNET_HDR } else { 0 }) as libc::c_short,
            _pad: [0; 22],
        };
        let pattern = if want.is_empty() { "tap%d" } else { want.as_str() };
        req.name[..pattern.len()].copy_from_slice(pattern.as_bytes());
        // SAFETY: TUNSETIFF reads and writes an ifreq, which IfReqFlags lays out.
        unsafe { tunsetiff(file.as_raw_fd(), &mut req as *mut IfReqFlags as u64) }
            .map_err(|e| format!("TUNSETIFF: {}", errno_str(e)))?;
        if vnet {
            let sz = VNET_HDR_LEN as libc::c_int;
            // SAFETY: TUNSETVNETHDRSZ reads one int.
            unsafe { tunsetvnethdrsz(file.as_raw_fd(), &sz) }
                .map_err(|e| format!("TUNSETVNETHDRSZ: {}", errno_str(e)))?;
        }
        let end = req.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        let name = String::from_utf8_lossy(&req.name[..end]).into_owned();
        if let Some(mtu) = common.mtu {
            netlink::set_mtu(&name, mtu).map_err(|e| format!("mtu={mtu}: {e}"))?;
        }
        if let Some((addr, len)) = host {
            netlink::configure_host(&name, addr, len).map_err(|e| format!("host={addr}/{len}: {e}"))?;
        }
        // Receive offloads stay off (TUNSETOFFLOAD 0) until the stack turns them on.
        Ok(Tap { file, name, host, vnet })
    }

    fn read_plain(&self, buf: &mut [u8]) -> io::Result<Recv> {
        loop {
            match (&self.file).read(buf) {
                Ok(n) => return Ok(Recv::Frame(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Recv::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The host-side interface name.
    pub fn ifname(&self) -> &str {
        &self.name
    }
}

impl Driver for Tap {
    fn kind(&self) -> &'static str {
        "tap"
    }

    fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Recv> {
        if !self.vnet {
            return self.read_plain(buf);
        }
        // A caller that takes no metadata gets a finished frame: the checksum done, and
        // no super-frames (receive offloads are off unless the stack turned them on).
        let mut meta = FrameMeta::PLAIN;
        let r = self.recv_meta(buf, &mut meta)?;
        if let Recv::Frame(n) = r {
            if meta.gso != Gso::None {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "GSO frame"));
            }
            if let Csum::Partial { start, offset } = meta.csum {
                finish_csum(&mut buf[..n], start, offset);
            }
        }
        Ok(r)
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.send_meta(frame, &FrameMeta::PLAIN)
    }

    fn link_up(&self) -> bool {
        // The wire side is attached as long as we hold the descriptor; carrier on the host
        // side follows whether the host interface is up.
        netlink::is_up(&self.name).unwrap_or(false)
    }

    fn details(&self) -> Vec<(String, String)> {
        let mut v = vec![("device".into(), self.name.clone())];
        if let Some((a, l)) = self.host {
            v.push(("host".into(), format!("{a}/{l}")));
        }
        v
    }

    fn capabilities(&self) -> u32 {
        if self.vnet {
            TAP_CAPS
        } else {
            0
        }
    }

    fn set_capenable(&self, enabled: u32) -> io::Result<()> {
        if !self.vnet {
            return Ok(());
        }
        // TUN_F_CSUM is one switch for both families: the host may leave checksums
        // partial when either family's receive checksum offload is on (a partial one of
        // the other family is then finished by the stack in software). Super-frames of a
        // family come only with that family's TCP receive checksum offload.
        let rx4 =
            enabled & (ifcap::CSUM_TCPV4_RX | ifcap::CSUM_UDPV4_RX) == ifcap::CSUM_TCPV4_RX | ifcap::CSUM_UDPV4_RX;
        let rx6 =
            enabled & (ifcap::CSUM_TCPV6_RX | ifcap::CSUM_UDPV6_RX) == ifcap::CSUM_TCPV6_RX | ifcap::CSUM_UDPV6_RX;
        let lro = enabled & ifcap::LRO != 0;
        let mut f = 0;
        if rx4 || rx6 {
            f |= TUN_F_CSUM;
        }
        if lro && rx4 {
            f |= TUN_F_TSO4;
        }
        if lro && rx6 {
            f |= TUN_F_TSO6;
        }
        // SAFETY: TUNSETOFFLOAD takes its flags as the argument itself.
        unsafe { tunsetoffload(self.file.as_raw_fd(), f) }
            .map(|_| ())
            .map_err(|e| io::Error::from_raw_os_error(e as i32))
    }

    fn recv_meta(&self, buf: &mut [u8], meta: &mut FrameMeta) -> io::Result<Recv> {
        if !self.vnet {
            *meta = FrameMeta::PLAIN;
            return self.read_plain(buf);
        }
        let mut h = [0u8; VNET_HDR_LEN];
        let n = loop {
            let mut iov = [IoSliceMut::new(&mut h), IoSliceMut::new(buf)];
            match (&self.file).read_vectored(&mut iov) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Recv::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let Some(len) = n.checked_sub(VNET_HDR_LEN) else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "short virtio-net header"));
        };
        *meta = parse_vnet_hdr(&h, len).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Recv::Frame(len))
    }

    fn send_meta(&self, frame: &[u8], meta: &FrameMeta) -> io::Result<()> {
        if !self.vnet {
            return if meta.is_plain() {
                (&self.file).write(frame).map(|_| ())
            } else {
                Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
            };
        }
        let h = vnet_hdr(frame, meta)?;
        (&self.file)
            .write_vectored(&[IoSlice::new(&h), IoSlice::new(frame)])
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(flags: u8, gso_type: u8, gso_size: u16, start: u16, offset: u16) -> [u8; VNET_HDR_LEN] {
        let mut h = [0u8; VNET_HDR_LEN];
        h[0] = flags;
        h[1] = gso_type;
        h[4..6].copy_from_slice(&gso_size.to_ne_bytes());
        h[6..8].copy_from_slice(&start.to_ne_bytes());
        h[8..10].copy_from_slice(&offset.to_ne_bytes());
        h
    }

    #[test]
    fn headers_read_and_write_back() {
        let m = parse_vnet_hdr(&hdr(1, 1, 1448, 34, 16), 9000).unwrap();
        assert_eq!(m.csum, Csum::Partial { start: 34, offset: 16 });
        assert_eq!(m.gso, Gso::Tcp4 { size: 1448 });
        let mut frame = vec![0u8; 9000];
        frame[34 + 12] = 8 << 4; // a 32-byte TCP header
        let h = vnet_hdr(&frame, &m).unwrap();
        assert_eq!(h[2..4], (34u16 + 32).to_ne_bytes());
        assert_eq!(parse_vnet_hdr(&h, frame.len()).unwrap(), m);
        assert_eq!(parse_vnet_hdr(&hdr(2, 0, 0, 0, 0), 60).unwrap().csum, Csum::Valid);
        assert!(parse_vnet_hdr(&[0; VNET_HDR_LEN], 60).unwrap().is_plain());
        // TCP over IPv6: the TCP header after Ethernet and the 40-byte IPv6 header.
        let m = parse_vnet_hdr(&hdr(1, 4, 1428, 54, 16), 9000).unwrap();
        assert_eq!(m.gso, Gso::Tcp6 { size: 1428 });
        frame[34 + 12] = 0;
        frame[54 + 12] = 5 << 4;
        let h = vnet_hdr(&frame, &m).unwrap();
        assert_eq!((h[0], h[1]), (1, 4));
        assert_eq!(h[2..4], (54u16 + 20).to_ne_bytes());
        assert_eq!(parse_vnet_hdr(&h, frame.len()).unwrap(), m);
    }

    #[test]
    fn malformed_headers_are_refused() {
        // Checksum field past the end; an unknown GSO type (UDP); GSO without a size or
        // without a partial checksum.
        assert!(parse_vnet_hdr(&hdr(1, 0, 0, 60, 16), 70).is_err());
        assert!(parse_vnet_hdr(&hdr(1, 3, 1448, 34, 6), 9000).is_err());
        assert!(parse_vnet_hdr(&hdr(1, 1, 0, 34, 16), 9000).is_err());
        assert!(parse_vnet_hdr(&hdr(0, 1, 1448, 0, 0), 9000).is_err());
        // A header for a frame whose TCP header does not fit.
        let m = FrameMeta {
            csum: Csum::Partial { start: 34, offset: 16 },
            gso: Gso::Tcp4 { size: 1448 },
        };
        assert!(vnet_hdr(&[0u8; 40], &m).is_err());
    }

    #[test]
    fn a_partial_checksum_is_finished() {
        // 20 bytes standing for a header whose checksum field (at 16) holds a
        // pseudo-header sum of 0x1234, then data.
        let mut f = vec![0u8; 40];
        f[20..24].copy_from_slice(&[0xab, 0xcd, 0x01, 0x02]);
        f[36..38].copy_from_slice(&0x1234u16.to_be_bytes());
        assert!(finish_csum(&mut f, 20, 16));
        // What a receiver checks: the pseudo-header's sum plus everything, checksum too.
        let mut acc: u32 = 0x1234;
        for c in f[20..].chunks(2) {
            acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        assert_eq!(acc as u16, 0xffff);
        assert!(!finish_csum(&mut f, 30, 16));
    }
}
