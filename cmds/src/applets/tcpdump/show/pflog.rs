//! LINKTYPE_PFLOG (117): the pflog header PF puts in front of a logged packet
//! (`pktbox_stack::wire::pflog`), then the IP packet.
//!
//! Worded as tcpdump 4.99's print-pflog: with `-e`, `rule 3/0(match): block in on en0: `
//! before the packet (`rule 3.anchor.1/` for a rule inside an anchor); a family it does
//! not know prints the header words even without `-e`, then the bytes. One difference:
//! tcpdump 4.99's reason table names reason 3 `unkn(3)` and reason 4 `3(short)` (a slip
//! in its table); this printer gives PF's names, `3(short)` and `4(normalize)`. An older
//! 45-byte header (no uid/pid words) has its direction read at its own offset, where
//! tcpdump on Linux reads the 61-byte header's.

use pktbox_stack::wire::pflog::{action_name, dir_name, PflogPacket, PFLOG_MIN_HDRLEN, PFRES_NAMES};

use super::{hexdump, inet, Ctx, Cur, Trunc};

/// A name field as tcpdump's `nd_printjnp` shows it: up to the NUL, bytes above 0x7f as
/// `M-` and their low 7 bits, control characters as `^X`.
fn printjnp(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        let mut c = c;
        if !c.is_ascii() {
            c &= 0x7f;
            s.push_str("M-");
        }
        if !(0x20..0x7f).contains(&c) {
            c ^= 0x40;
            s.push('^');
        }
        s.push(char::from(c));
    }
    s
}

/// `rule 3/0(match): block in on en0: `.
fn words<T: AsRef<[u8]>>(p: &PflogPacket<T>) -> String {
    let rule = if p.subrulenr() == u32::MAX {
        format!("rule {}/", p.rulenr())
    } else {
        format!("rule {}.{}.{}/", p.rulenr(), printjnp(p.ruleset()), p.subrulenr())
    };
    let reason = match PFRES_NAMES.get(usize::from(p.reason())) {
        Some(n) => format!("{}({n})", p.reason()),
        None => format!("unkn({})", p.reason()),
    };
    let unkn = |v: u8| format!("unkn({v})");
    let action = action_name(p.action()).map_or_else(|| unkn(p.action()), String::from);
    let dir = dir_name(p.dir()).map_or_else(|| unkn(p.dir()), String::from);
    format!("{rule}{reason}: {action} {dir} on {}: ", printjnp(p.ifname()))
}

/// A pflog record.
pub fn pflog(c: &mut Ctx, cur: Cur, wirelen: u32) -> Result<(), Trunc> {
    let len = cur.u8(0, "pflog")?;
    if len < PFLOG_MIN_HDRLEN {
        c.net_off = cur.data.len();
        c.p("[pflog: invalid header length!]");
        return Ok(());
    }
    let Ok(p) = PflogPacket::new_checked(cur.data) else {
        // The header was cut short by the snap length.
        c.net_off = cur.data.len();
        return Err(Trunc("pflog"));
    };
    let hlen = p.header_len();
    c.net_off = hlen;
    if c.opts.ether {
        c.p(&words(&p));
    }
    let payload = cur.sub(hlen);
    let len = wirelen.saturating_sub(hlen as u32);
    match p.is_inet6() {
        Some(false) => inet::ip(c, payload, len),
        Some(true) => inet::ip6(c, payload, len),
        None => {
            if !c.opts.ether {
                c.p(&words(&p));
            }
            if c.opts.hex == 0 && c.opts.hex_ascii == 0 && !c.opts.quiet {
                let d = hexdump(payload.data, true, "\n\t");
                c.p(&d);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use pktbox_stack::wire::pflog::*;

    use super::super::{Options, Printer};
    use crate::applets::tcpdump::pcap::LINKTYPE_PFLOG;

    /// A logged UDP datagram 10.0.0.2:1234 -> 10.0.0.1:7777 behind `r`'s header.
    pub fn record(r: &PflogRepr) -> Vec<u8> {
        let mut b = vec![0u8; PFLOG_HDRLEN];
        r.emit(&mut b).unwrap();
        b.extend_from_slice(&[0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1]);
        b.extend_from_slice(&[0x04, 0xd2, 0x1e, 0x61, 0, 8, 0, 0]);
        b
    }

    fn show(opts: Options, b: &[u8]) -> String {
        let mut p = Printer::new(opts, LINKTYPE_PFLOG);
        let s = p.format(0, 0, b, b.len() as u32);
        s.split_once(' ').unwrap().1.trim_end_matches('\n').to_string()
    }

    fn e() -> Options {
        Options {
            ether: true,
            numeric: 2,
            ..Options::default()
        }
    }

    #[test]
    fn the_header_words_as_tcpdump_has_them() {
        let r = PflogRepr::new(false, PF_DROP, 0, PF_IN, "en0", 3);
        let b = record(&r);
        let udp = "10.0.0.2.1234 > 10.0.0.1.7777: UDP, length 0";
        assert_eq!(show(e(), &b), format!("rule 3/0(match): block in on en0: {udp}"));
        // Without -e, only the packet.
        let n = Options {
            numeric: 2,
            ..Options::default()
        };
        assert_eq!(show(n, &b), format!("IP {udp}"));
        let mut r = PflogRepr::new(true, PF_PASS, 3, PF_OUT, "wm0", 5);
        r.set_anchor("ftp-proxy", 2);
        r.af = 99;
        let b = record(&r);
        // An unknown family: the words without -e too, then the bytes.
        let s = show(Options::default(), &b);
        assert!(
            s.starts_with("rule 5.ftp-proxy.2/3(short): pass out on wm0: \n\t0x0000:  4500 001c"),
            "{s}"
        );
        r.action = 13;
        r.dir = 7;
        r.reason = 200;
        r.set_ifname("e\u{1}x");
        let s = show(e(), &record(&r));
        assert!(
            s.starts_with("rule 5.ftp-proxy.2/unkn(200): unkn(13) unkn(7) on e^Ax: "),
            "{s}"
        );
    }

    #[test]
    fn short_and_bad_headers() {
        let b = record(&PflogRepr::new(false, PF_DROP, 0, PF_IN, "en0", 3));
        assert_eq!(show(e(), &b[..40]), " [|pflog]");
        let mut bad = b.clone();
        bad[0] = 20;
        assert_eq!(show(e(), &bad), "[pflog: invalid header length!]");
        // The older header: direction at 44, the packet at 48.
        let mut old = b[..48].to_vec();
        old[0] = 45;
        old[44] = PF_OUT;
        old.extend_from_slice(&b[64..]);
        assert!(show(e(), &old).starts_with("rule 3/0(match): block out on en0: 10.0.0.2.1234 >"));
    }

    #[test]
    fn names_print_as_printjnp() {
        assert_eq!(super::printjnp(b"en0"), "en0");
        assert_eq!(super::printjnp(&[b'e', 1, 0xc3, b'x', 0x7f]), "e^AM-Cx^?");
    }
}
