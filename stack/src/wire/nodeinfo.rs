//! ICMPv6 Node Information messages (RFC 4620): the constants, the 16-byte header view and
//! the DNS-wire name codec both ends use (the stack's responder in `inet6/ni6.rs`, ping6's
//! `-w -W -t -a` in the applets).
//!
//! ```text
//!  0       1       2       3
//!  type    code    checksum
//!  qtype           flags
//!  nonce (8 bytes)
//!  data: the query's subject, or the reply's answer
//! ```

/// Query (139) and reply (140).
pub const NI_QUERY: u8 = 139;
pub const NI_REPLY: u8 = 140;

/// A query's code: what its subject is.
pub const SUBJ_IPV6: u8 = 0;
pub const SUBJ_FQDN: u8 = 1;
pub const SUBJ_IPV4: u8 = 2;

/// A reply's code.
pub const SUCCESS: u8 = 0;
pub const REFUSED: u8 = 1;
pub const UNKNOWN: u8 = 2;

/// Qtypes.
pub const QTYPE_NOOP: u16 = 0;
pub const QTYPE_SUPTYPES: u16 = 1;
pub const QTYPE_FQDN: u16 = 2;
pub const QTYPE_NODEADDR: u16 = 3;
pub const QTYPE_IPV4ADDR: u16 = 4;

/// Supported Qtypes flag: the bitmap is compressed.
pub const SUPTYPE_FLAG_COMPRESS: u16 = 0x0001;
/// Node Name reply flag: the TTL means something (KAME never sets it).
pub const FQDN_FLAG_VALIDTTL: u16 = 0x0001;

/// Node Addresses flags (the 16-bit field as it is on the wire, RFC 4620 6.3, plus KAME's
/// experimental anycast bit).
pub const NODEADDR_FLAG_TRUNCATE: u16 = 0x0001;
pub const NODEADDR_FLAG_ALL: u16 = 0x0002;
pub const NODEADDR_FLAG_COMPAT: u16 = 0x0004;
pub const NODEADDR_FLAG_LINKLOCAL: u16 = 0x0008;
pub const NODEADDR_FLAG_SITELOCAL: u16 = 0x0010;
pub const NODEADDR_FLAG_GLOBAL: u16 = 0x0020;
pub const NODEADDR_FLAG_ANYCAST: u16 = 0x0040;

/// The header: type, code, checksum, qtype, flags, nonce.
pub const HEADER_LEN: usize = 16;
/// A Node Name reply's fixed part: the header and the 32-bit TTL (ICMP6_NIRLEN).
pub const NIRLEN: usize = HEADER_LEN + 4;

/// A checked view of a Node Information message.
#[derive(Debug, Clone, Copy)]
pub struct NiPacket<'a>(&'a [u8]);

impl<'a> NiPacket<'a> {
    /// None when shorter than the header.
    pub fn new_checked(b: &'a [u8]) -> Option<NiPacket<'a>> {
        (b.len() >= HEADER_LEN).then_some(NiPacket(b))
    }
    pub fn msg_type(&self) -> u8 {
        self.0[0]
    }
    pub fn code(&self) -> u8 {
        self.0[1]
    }
    pub fn qtype(&self) -> u16 {
        u16::from_be_bytes([self.0[4], self.0[5]])
    }
    pub fn flags(&self) -> u16 {
        u16::from_be_bytes([self.0[6], self.0[7]])
    }
    pub fn nonce(&self) -> &'a [u8] {
        &self.0[8..16]
    }
    /// The subject (a query) or the answer (a reply).
    pub fn data(&self) -> &'a [u8] {
        &self.0[HEADER_LEN..]
    }
}

/// Writes a header (checksum zero: the stack fills it in).
pub fn emit_header(out: &mut [u8], t: u8, code: u8, qtype: u16, flags: u16, nonce: &[u8; 8]) {
    out[0] = t;
    out[1] = code;
    out[2..4].copy_from_slice(&[0, 0]);
    out[4..6].copy_from_slice(&qtype.to_be_bytes());
    out[6..8].copy_from_slice(&flags.to_be_bytes());
    out[8..16].copy_from_slice(nonce);
}

/// A host name in DNS wire format as KAME's responder encodes its own (ni6_nametodns): a
/// name with fewer than two dots is taken as a single, not fully qualified name and ends
/// in two zero bytes (RFC 4620 6.3's truncated form), otherwise one. None for a name with
/// an empty label or one longer than 63 bytes; an empty name encodes as nothing.
pub fn name_to_dns(name: &str) -> Option<Vec<u8>> {
    if name.is_empty() {
        return Some(Vec::new());
    }
    let dots = name.bytes().filter(|&c| c == b'.').count();
    let nterm = if dots < 2 { 2 } else { 1 };
    let body = name.strip_suffix('.').unwrap_or(name);
    let mut out = Vec::with_capacity(name.len() + 3);
    for label in body.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.resize(out.len() + nterm, 0);
    Some(out)
}

/// Reads one name in DNS wire format from `b` (no compression), as ping6's dnsdecode does:
/// labels joined by `.`, with a trailing `.` for the terminating zero. Returns the name and
/// the bytes used; None when it runs past the end, a label pointer appears, or it does not
/// fit in 1025 bytes (MAXDNAME).
pub fn dns_decode(b: &[u8]) -> Option<(String, usize)> {
    let mut s = String::new();
    let mut i = 0;
    loop {
        let &l = b.get(i)?;
        if l == 0 || i != 0 {
            s.push('.');
        }
        if l == 0 {
            i += 1;
            break;
        }
        if l & 0xc0 != 0 {
            return None;
        }
        let label = b.get(i + 1..i + 1 + usize::from(l))?;
        for &c in label {
            if c.is_ascii_graphic() && c != b'.' {
                s.push(char::from(c));
            } else {
                s.push_str(&format!("\\{c:03o}"));
            }
        }
        i += 1 + usize::from(l);
        if s.len() > 1025 {
            return None;
        }
    }
    Some((s, i))
}

/// The labels of a name in DNS wire format, lower-cased, and whether it ended in the
/// truncated (two zero bytes) form. None when malformed.
pub fn dns_labels(b: &[u8]) -> Option<(Vec<Vec<u8>>, bool)> {
    let mut v = Vec::new();
    let mut i = 0;
    loop {
        let &l = b.get(i)?;
        i += 1;
        if l == 0 {
            let truncated = b.get(i) == Some(&0);
            return Some((v, truncated));
        }
        if l & 0xc0 != 0 {
            return None;
        }
        let label = b.get(i..i + usize::from(l))?;
        v.push(label.to_ascii_lowercase());
        i += usize::from(l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_encode_as_kame_encodes_its_hostname() {
        assert_eq!(name_to_dns("node1").unwrap(), b"\x05node1\x00\x00");
        assert_eq!(name_to_dns("a.b").unwrap(), b"\x01a\x01b\x00\x00");
        assert_eq!(
            name_to_dns("host.example.com").unwrap(),
            b"\x04host\x07example\x03com\x00"
        );
        assert_eq!(name_to_dns("").unwrap(), b"");
        assert!(name_to_dns("foo..bar").is_none());
        assert!(name_to_dns(&"x".repeat(64)).is_none());
    }

    #[test]
    fn names_decode_as_ping6_decodes_them() {
        let (s, n) = dns_decode(b"\x04host\x07example\x03com\x00").unwrap();
        assert_eq!((s.as_str(), n), ("host.example.com.", 18));
        let (s, n) = dns_decode(b"\x05node1\x00\x00").unwrap();
        assert_eq!((s.as_str(), n), ("node1.", 7));
        assert!(dns_decode(b"\x05nod").is_none());
        assert!(dns_decode(b"\xc0\x0c").is_none());
        assert!(dns_decode(b"").is_none());
        let (l, t) = dns_labels(b"\x05NoDe1\x00\x00").unwrap();
        assert_eq!((l, t), (vec![b"node1".to_vec()], true));
    }
}
