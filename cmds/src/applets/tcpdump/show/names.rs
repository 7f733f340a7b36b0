//! Names for addresses, ports and protocols, as tcpdump prints them without `-n`.
//!
//! Host names come from /etc/hosts only (the first name of the first line that has the
//! address); pktbox's tcpdump never asks the DNS. Port names come from /etc/services, for
//! TCP and UDP separately (the first name listed for the port and protocol). Both files are
//! read once, when the first name is wanted.

use std::collections::HashMap;
use std::net::IpAddr;

/// Lazily loaded name tables.
#[derive(Default)]
pub struct Names {
    hosts: Option<HashMap<IpAddr, String>>,
    services: Option<HashMap<(String, u16), String>>,
}

fn load_hosts() -> HashMap<IpAddr, String> {
    let mut m = HashMap::new();
    let text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut w = line.split_whitespace();
        let (Some(a), Some(name)) = (w.next(), w.next()) else {
            continue;
        };
        if let Ok(a) = a.parse::<IpAddr>() {
            m.entry(a).or_insert_with(|| name.to_string());
        }
    }
    m
}

fn load_services() -> HashMap<(String, u16), String> {
    let mut m = HashMap::new();
    let text = std::fs::read_to_string("/etc/services").unwrap_or_default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut w = line.split_whitespace();
        let (Some(name), Some(pp)) = (w.next(), w.next()) else {
            continue;
        };
        let Some((port, proto)) = pp.split_once('/') else {
            continue;
        };
        if let Ok(port) = port.parse::<u16>() {
            m.entry((proto.to_string(), port)).or_insert_with(|| name.to_string());
        }
    }
    m
}

impl Names {
    /// The name of a 4- or 16-byte address, or its numeric form.
    pub fn host(&mut self, a: &[u8]) -> String {
        let ip = match a.len() {
            4 => {
                let mut b = [0u8; 4];
                b.copy_from_slice(a);
                IpAddr::from(b)
            }
            _ => {
                let mut b = [0u8; 16];
                b.copy_from_slice(a.get(..16).unwrap_or(&[0; 16]));
                IpAddr::from(b)
            }
        };
        let hosts = self.hosts.get_or_insert_with(load_hosts);
        hosts.get(&ip).cloned().unwrap_or_else(|| ip.to_string())
    }

    /// The service name of a TCP or UDP port (`proto` is "tcp" or "udp"), or its number.
    pub fn port(&mut self, proto: &str, p: u16) -> String {
        let s = self.services.get_or_insert_with(load_services);
        s.get(&(proto.to_string(), p)).cloned().unwrap_or_else(|| p.to_string())
    }
}

/// `02:00:00:00:00:01`.
pub fn mac_string(m: &[u8]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The vendor note tcpdump adds to an Ethernet address without `-n`: its own short list of
/// organisations, `oui Unknown` for the rest, nothing for group addresses.
pub fn oui(m: &[u8]) -> Option<String> {
    let first = *m.first()?;
    if first & 1 != 0 {
        return None;
    }
    let o = u32::from(first) << 16 | u32::from(*m.get(1)?) << 8 | u32::from(*m.get(2)?);
    let name = match o {
        0x000000 => "Ethernet",
        0x00000c => "Cisco",
        0x0000f8 => "Cisco",
        0x000142 => "Cisco",
        0x0001e6 => "Hewlett-Packard",
        0x0007cb => "Apple",
        0x00e02b => "Extreme",
        0x00d04f => "Cisco",
        0x080007 => "Apple",
        _ => "Unknown",
    };
    Some(format!("oui {name}"))
}

/// tcpdump's names of IP protocol numbers (what follows `proto` with `-v`).
pub fn ip_proto(p: u8) -> Option<&'static str> {
    Some(match p {
        0 => "Options",
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPIP",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6",
        43 => "Routing",
        44 => "Fragment",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "ICMPv6",
        60 => "Dst Options",
        103 => "PIM",
        112 => "VRRP",
        132 => "SCTP",
        _ => return None,
    })
}

/// The name of an IP protocol number in the short form without `-n` (`exptest-253`).
pub fn ip_proto_short(p: u8) -> Option<&'static str> {
    Some(match p {
        253 => "exptest-253",
        254 => "exptest-254",
        _ => return None,
    })
}
