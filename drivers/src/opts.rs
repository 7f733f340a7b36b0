//! io-pkt option words: `key=value,flag,key2=0x10`, as getsubopt(3) splits them.

/// One `key[=value]` item of an option word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubOpt {
    pub key: String,
    pub value: Option<String>,
}

impl SubOpt {
    /// The value, or an error naming the option that lacks one.
    pub fn require_value(&self) -> Result<&str, String> {
        match self.value.as_deref() {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!("{}: missing value", self.key)),
        }
    }

    /// The value as an unsigned number, decimal or `0x` hex.
    pub fn require_u64(&self) -> Result<u64, String> {
        let v = self.require_value()?;
        parse_num(v).ok_or_else(|| format!("{}={v}: not a number", self.key))
    }
}

/// Parses a number as io-pkt's options take them: decimal, or hex with `0x`.
pub fn parse_num(v: &str) -> Option<u64> {
    if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        v.parse().ok()
    }
}

/// Splits an option word. Empty items (`a,,b`) and empty keys are errors.
pub fn parse_subopts(word: &str) -> Result<Vec<SubOpt>, String> {
    if word.is_empty() {
        return Ok(Vec::new());
    }
    word.split(',')
        .map(|item| {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (item, None),
            };
            if key.is_empty() {
                return Err(format!("empty option in \"{word}\""));
            }
            Ok(SubOpt {
                key: key.to_string(),
                value,
            })
        })
        .collect()
}

/// Parses a MAC address: 12 hex digits (QNX's form) or six colon-separated octets.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let hex: String = if s.contains(':') || s.contains('-') {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 || parts.iter().any(|p| p.is_empty() || p.len() > 2) {
            return Err(format!("mac={s}: bad MAC address"));
        }
        parts.iter().map(|p| format!("{p:0>2}")).collect()
    } else {
        s.to_string()
    };
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("mac={s}: bad MAC address (12 hex digits)"));
    }
    let mut mac = [0u8; 6];
    for (i, m) in mac.iter_mut().enumerate() {
        *m = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| format!("mac={s}: bad MAC address"))?;
    }
    if mac[0] & 1 != 0 {
        return Err(format!("mac={s}: a multicast address cannot be an interface address"));
    }
    Ok(mac)
}

/// Reports an option the driver does not know.
pub fn unknown(o: &SubOpt) -> String {
    format!("unrecognized option: \"{}\"", o.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_options() {
        let v = parse_subopts("local=127.0.0.1:5000,remote=127.0.0.1:5001,verbose").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].value.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(v[2].value, None);
        assert!(parse_subopts("a,,b").is_err());
        assert!(parse_subopts("=x").is_err());
        assert_eq!(parse_subopts("").unwrap(), vec![]);
    }

    #[test]
    fn numbers_and_macs() {
        assert_eq!(parse_num("0x10"), Some(16));
        assert_eq!(parse_num("10"), Some(10));
        assert_eq!(parse_num("x"), None);
        assert_eq!(parse_mac("020000000001").unwrap(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(parse_mac("02:00:00:0:0:a").unwrap(), [2, 0, 0, 0, 0, 10]);
        assert!(parse_mac("010000000001").is_err());
        assert!(parse_mac("02000000001").is_err());
        assert!(parse_mac("02:00:00:00:00").is_err());
    }
}
