//! The link layer: Ethernet (`-e` prints its header), 802.1Q tags, ARP, 802.3 frames, and
//! the loopback and raw-IP link types.

use pktbox_stack::wire::arp::{ArpPacket, ARPHRD_ETHER, ARP_LEN};
use pktbox_stack::wire::ethernet::{
    EthernetPacket, ETHERTYPE_ARP, ETHERTYPE_IP, ETHERTYPE_IPV6, ETHERTYPE_REVARP, ETHERTYPE_VLAN, ETHER_HDR_LEN,
};

use super::{hexdump, inet, Ctx, Cur, Trunc};

/// tcpdump's names of ethertypes.
pub fn ethertype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0800 => "IPv4",
        0x0806 => "ARP",
        0x8035 => "Reverse ARP",
        0x86dd => "IPv6",
        0x8100 => "802.1Q",
        0x88a8 => "802.1Q-QinQ",
        0x9100 => "802.1Q-9100",
        _ => return None,
    })
}

/// `ethertype IPv4 (0x0800), ` (or `IPv4, ` with `-q`).
fn ethertype_words(c: &Ctx, t: u16) -> String {
    let name = ethertype_name(t).unwrap_or("Unknown");
    if c.opts.quiet {
        match ethertype_name(t) {
            Some(n) => format!("{n}, "),
            None => format!("Unknown Ethertype (0x{t:04x}), "),
        }
    } else {
        format!("ethertype {name} (0x{t:04x}), ")
    }
}

/// An Ethernet frame.
pub fn ether(c: &mut Ctx, cur: Cur, wirelen: u32) -> Result<(), Trunc> {
    let Some(eh) = EthernetPacket::new(cur.data) else {
        c.net_off = cur.data.len();
        c.p("[|ether]");
        return Ok(());
    };
    let (dst, src) = (eh.get_destination().octets(), eh.get_source().octets());
    let (dst, src) = (&dst[..], &src[..]);
    let mut t = eh.get_ethertype().0;
    let header = |c: &mut Ctx| {
        let (s, d) = (c.mac(src), c.mac(dst));
        format!("{s} > {d}, ")
    };
    c.net_off = ETHER_HDR_LEN;
    if usize::from(t) <= pktbox_stack::wire::ethernet::ETHERMTU {
        // 802.3: the length, then LLC.
        if c.opts.ether {
            let h = header(c);
            c.p(&format!("{h}802.3, length {t}: "));
        }
        return llc(c, cur.sub(ETHER_HDR_LEN), u32::from(t));
    }
    let known = matches!(t, 0x0800 | 0x0806 | 0x8035 | 0x86dd | 0x8100 | 0x88a8 | 0x9100);
    if c.opts.ether || !known {
        let h = header(c);
        let w = ethertype_words(c, t);
        c.p(&format!("{h}{w}length {wirelen}: "));
    }
    let mut off = ETHER_HDR_LEN;
    while matches!(t, ETHERTYPE_VLAN | 0x88a8 | 0x9100) {
        let tci = cur.u16(off, "vlan")?;
        let inner = cur.u16(off + 2, "vlan")?;
        if c.opts.ether {
            let mut s = format!("vlan {}, p {}", tci & 0xfff, tci >> 13);
            if tci & 0x1000 != 0 {
                s.push_str(", DEI");
            }
            s.push_str(", ");
            c.p(&s);
            let w = ethertype_words(c, inner);
            c.p(&w);
        }
        t = inner;
        off += 4;
        c.net_off = off;
    }
    let payload = cur.sub(off);
    let len = wirelen.saturating_sub(off as u32);
    match t {
        ETHERTYPE_IP => inet::ip(c, payload, len),
        ETHERTYPE_IPV6 => inet::ip6(c, payload, len),
        ETHERTYPE_ARP | ETHERTYPE_REVARP => arp(c, payload, len),
        _ => {
            if !c.opts.ether && known {
                let h = header(c);
                let w = ethertype_words(c, t);
                c.p(&format!("{h}{w}length {wirelen}: "));
            }
            if c.opts.hex == 0 && c.opts.hex_ascii == 0 && !c.opts.quiet {
                let d = hexdump(payload.data, true, "\n\t");
                c.p(&d);
            }
            Ok(())
        }
    }
}

/// An 802.2 LLC header; only its words, the payload is not decoded.
fn llc(c: &mut Ctx, cur: Cur, _len: u32) -> Result<(), Trunc> {
    let dsap = cur.u8(0, "llc")?;
    let ssap = cur.u8(1, "llc")?;
    let ctl = cur.u8(2, "llc")?;
    c.p(&format!(
        "LLC, dsap Unknown (0x{:02x}) {}, ssap Unknown (0x{:02x}) {}, ctrl 0x{ctl:02x}",
        dsap & 0xfe,
        if dsap & 1 != 0 { "Group" } else { "Individual" },
        ssap & 0xfe,
        if ssap & 1 != 0 { "Response" } else { "Command" },
    ));
    Ok(())
}

/// ARP and RARP for Ethernet and IPv4.
pub fn arp(c: &mut Ctx, cur: Cur, len: u32) -> Result<(), Trunc> {
    if !c.opts.ether {
        c.p("ARP, ");
    }
    // The fixed part (8 bytes) must be there; the view wants the addresses' 20 bytes
    // as well, which a short capture may lack: it reads a zero-padded copy, and the
    // addresses are taken only when they were captured.
    cur.bytes(0, 8, "arp")?;
    let mut whole = [0u8; ARP_LEN];
    let n = cur.data.len().min(ARP_LEN);
    whole[..n].copy_from_slice(&cur.data[..n]);
    let Some(ah) = ArpPacket::new(&whole) else {
        return Err(Trunc("arp"));
    };
    let (hrd, pro, op) = (ah.get_hardware_type().0, ah.get_protocol_type().0, ah.get_operation().0);
    let (hln, pln) = (usize::from(ah.get_hw_addr_len()), usize::from(ah.get_proto_addr_len()));
    if hrd != ARPHRD_ETHER || pro != ETHERTYPE_IP || hln != 6 || pln != 4 {
        c.p(&format!("arp-#{op} for proto #{pro} ({pln}) hardware #{hrd} ({hln})"));
        return Ok(());
    }
    if c.vflag() > 0 {
        c.p("Ethernet (len 6), IPv4 (len 4), ");
    }
    if cur.data.len() < ARP_LEN {
        return Err(Trunc("arp"));
    }
    let (sha, spa) = (ah.get_sender_hw_addr().octets(), ah.get_sender_proto_addr().octets());
    let (tha, tpa) = (ah.get_target_hw_addr().octets(), ah.get_target_proto_addr().octets());
    let (sha, tha) = (&sha[..], &tha[..]);
    let s = match op {
        1 => {
            let t = c.ip4(tpa);
            let known = if tha.iter().any(|&b| b != 0) {
                format!(" ({})", c.mac(tha))
            } else {
                String::new()
            };
            let s = c.ip4(spa);
            format!("Request who-has {t}{known} tell {s}")
        }
        2 => {
            let s = c.ip4(spa);
            let m = c.mac(sha);
            format!("Reply {s} is-at {m}")
        }
        3 => {
            let (t, s) = (c.mac(tha), c.mac(sha));
            format!("Reverse Request who-is {t} tell {s}")
        }
        4 => {
            let (t, a) = (c.mac(tha), c.ip4(tpa));
            format!("Reverse Reply {t} at {a}")
        }
        8 => {
            let (t, s) = (c.mac(tha), c.mac(sha));
            format!("Inverse Request who-is {t} tell {s}")
        }
        9 => {
            let (t, a) = (c.mac(tha), c.ip4(tpa));
            format!("Inverse Reply {t} at {a}")
        }
        _ => format!("Unknown ({op})"),
    };
    c.p(&format!("{s}, length {len}"));
    Ok(())
}

/// LINKTYPE_RAW: the packet starts with an IPv4 or IPv6 header.
pub fn raw(c: &mut Ctx, cur: Cur, wirelen: u32) -> Result<(), Trunc> {
    match cur.u8(0, "ip")? >> 4 {
        4 => inet::ip(c, cur, wirelen),
        6 => inet::ip6(c, cur, wirelen),
        v => {
            c.p(&format!("IP{v}"));
            Ok(())
        }
    }
}

/// LINKTYPE_NULL (host byte order) and LINKTYPE_LOOP (network order): a 4-byte address
/// family, then the packet.
pub fn null(c: &mut Ctx, cur: Cur, wirelen: u32, network_order: bool) -> Result<(), Trunc> {
    let b = cur.bytes(0, 4, "null")?;
    let w = [b[0], b[1], b[2], b[3]];
    let af = if network_order {
        u32::from_be_bytes(w)
    } else {
        u32::from_ne_bytes(w)
    };
    c.net_off = 4;
    if c.opts.ether {
        let name = match af {
            2 => "IPv4",
            24 | 28 | 30 => "IPv6",
            _ => "Unknown",
        };
        c.p(&format!("AF {name} ({af}), length {wirelen}: "));
    }
    let len = wirelen.saturating_sub(4);
    match af {
        2 => inet::ip(c, cur.sub(4), len),
        24 | 28 | 30 => inet::ip6(c, cur.sub(4), len),
        _ => {
            c.p(&format!("AF Unknown ({af}), length {wirelen}"));
            Ok(())
        }
    }
}
