//! The link layer: Ethernet (`-e` prints its header), 802.1Q tags, ARP, 802.3 frames, and
//! the loopback and raw-IP link types.

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
    if cur.data.len() < 14 {
        c.net_off = cur.data.len();
        c.p("[|ether]");
        return Ok(());
    }
    let (dst, src) = (&cur.data[0..6], &cur.data[6..12]);
    let mut t = cur.u16(12, "ether")?;
    let header = |c: &mut Ctx| {
        let (s, d) = (c.mac(src), c.mac(dst));
        format!("{s} > {d}, ")
    };
    c.net_off = 14;
    if t <= 1500 {
        // 802.3: the length, then LLC.
        if c.opts.ether {
            let h = header(c);
            c.p(&format!("{h}802.3, length {t}: "));
        }
        return llc(c, cur.sub(14), u32::from(t));
    }
    let known = matches!(t, 0x0800 | 0x0806 | 0x8035 | 0x86dd | 0x8100 | 0x88a8 | 0x9100);
    if c.opts.ether || !known {
        let h = header(c);
        let w = ethertype_words(c, t);
        c.p(&format!("{h}{w}length {wirelen}: "));
    }
    let mut off = 14;
    while matches!(t, 0x8100 | 0x88a8 | 0x9100) {
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
        0x0800 => inet::ip(c, payload, len),
        0x86dd => inet::ip6(c, payload, len),
        0x0806 | 0x8035 => arp(c, payload, len),
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
    let hrd = cur.u16(0, "arp")?;
    let pro = cur.u16(2, "arp")?;
    let hln = usize::from(cur.u8(4, "arp")?);
    let pln = usize::from(cur.u8(5, "arp")?);
    let op = cur.u16(6, "arp")?;
    if hrd != 1 || pro != 0x0800 || hln != 6 || pln != 4 {
        c.p(&format!("arp-#{op} for proto #{pro} ({pln}) hardware #{hrd} ({hln})"));
        return Ok(());
    }
    if c.vflag() > 0 {
        c.p("Ethernet (len 6), IPv4 (len 4), ");
    }
    let sha = cur.bytes(8, 6, "arp")?;
    let spa = ipv4(cur.bytes(14, 4, "arp")?);
    let tha = cur.bytes(18, 6, "arp")?;
    let tpa = ipv4(cur.bytes(24, 4, "arp")?);
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

fn ipv4(b: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
    a
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
