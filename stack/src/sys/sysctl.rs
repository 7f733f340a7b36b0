//! The sysctl tree. Each node is typed, range-checked, and reads or writes the variable that
//! the stack itself uses, so a name is only there when it changes real behaviour. The
//! nodes live next to what they control, registered by their protocols
//! (`Protosw::sysctl`, see `sys::domain`); this module holds the mechanism and `kern.*`.

use crate::conf::Ctx;
use crate::msg::{SysctlChange, SysctlEntry, SysctlValue};

/// A node's type and limits.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    Str {
        max: usize,
    },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

/// One leaf of the tree.
pub struct Node {
    pub name: &'static str,
    pub desc: &'static str,
    pub kind: Kind,
    pub get: fn(&Ctx) -> SysctlValue,
    pub set: Option<fn(&mut Ctx, &SysctlValue)>,
}

/// An integer value (a node's setter gets a value `parse` checked against its kind).
pub fn int(v: &SysctlValue) -> i64 {
    match v {
        SysctlValue::Int(i) => *i,
        SysctlValue::Str(_) => 0,
    }
}

/// The kernel's own leaves, present in every stack; the protocols' come from their
/// registrations (`Protosw::sysctl`).
pub static KERN: &[Node] = &[
    Node {
        name: "kern.hostname",
        desc: "System hostname",
        kind: Kind::Str { max: 255 },
        get: |c| SysctlValue::Str(c.hostname.clone()),
        set: Some(|c, v| {
            if let SysctlValue::Str(s) = v {
                c.hostname = s.clone();
            }
        }),
    },
    Node {
        name: "kern.ostype",
        desc: "Operating system type",
        kind: Kind::Str { max: 0 },
        get: |_| SysctlValue::Str("pktbox".into()),
        set: None,
    },
    Node {
        name: "kern.osrelease",
        desc: "Operating system release",
        kind: Kind::Str { max: 0 },
        get: |_| SysctlValue::Str(env!("CARGO_PKG_VERSION").into()),
        set: None,
    },
];

/// The tree of one stack: `KERN` and its domains' leaves, sorted by name (`sysctl -a`
/// prints it in this order).
pub struct Tree {
    nodes: Vec<&'static Node>,
}

impl Tree {
    /// A tree of `KERN` and `nodes`. A name registered twice is a mistake in the
    /// protocols' tables (the unit tests look for one in every variant); should one slip
    /// through, the first registration wins and the second is left out.
    pub fn new(nodes: impl IntoIterator<Item = &'static Node>) -> Tree {
        let mut v: Vec<&'static Node> = KERN.iter().chain(nodes).collect();
        v.sort_by(|a, b| a.name.cmp(b.name));
        v.dedup_by(|b, a| a.name == b.name);
        Tree { nodes: v }
    }

    /// Every leaf, sorted by name.
    pub fn nodes(&self) -> &[&'static Node] {
        &self.nodes
    }

    /// Reads a leaf or every leaf of a subtree ("" is the whole tree).
    pub fn get(&self, ctx: &Ctx, name: &str) -> Result<Vec<SysctlEntry>, SysctlError> {
        let v: Vec<SysctlEntry> = self
            .nodes
            .iter()
            .filter(|n| matches(n.name, name))
            .map(|n| SysctlEntry {
                name: n.name.to_string(),
                value: (n.get)(ctx),
                writable: n.set.is_some(),
                desc: n.desc.to_string(),
            })
            .collect();
        if v.is_empty() {
            return Err(self.bad_name(name));
        }
        Ok(v)
    }

    /// Writes a leaf. Subtrees cannot be written; read-only nodes give EPERM.
    pub fn set(&self, ctx: &mut Ctx, name: &str, value: &str) -> Result<SysctlChange, SysctlError> {
        let Some(node) = self.nodes.iter().find(|n| n.name == name) else {
            if self.nodes.iter().any(|n| matches(n.name, name)) {
                return Err(SysctlError {
                    errno: libc::EISDIR,
                    text: Some("a subtree; name a leaf to set".into()),
                });
            }
            return Err(self.bad_name(name));
        };
        let Some(setter) = node.set else {
            return Err(SysctlError {
                errno: libc::EPERM,
                text: None,
            });
        };
        let new = parse(node, value)?;
        let old = (node.get)(ctx);
        setter(ctx, &new);
        Ok(SysctlChange {
            name: name.to_string(),
            old,
            new: (node.get)(ctx),
        })
    }

    /// NetBSD's words for a name that does not exist: which level of it is invalid.
    fn bad_name(&self, name: &str) -> SysctlError {
        let parts: Vec<&str> = name.split('.').collect();
        let mut level = 0;
        for i in 1..=parts.len() {
            let pfx = parts[..i].join(".");
            if self.nodes.iter().any(|n| matches(n.name, &pfx)) {
                level = i;
            } else {
                break;
            }
        }
        let level = level.min(parts.len().saturating_sub(1));
        SysctlError {
            errno: libc::ENOENT,
            text: Some(format!(
                "{} level name '{}' in '{}' is invalid",
                ordinal(level),
                parts[level],
                name
            )),
        }
    }
}

/// Why a sysctl request failed: an errno and, for names, NetBSD's explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlError {
    pub errno: i32,
    pub text: Option<String>,
}

fn ordinal(n: usize) -> String {
    match n {
        0 => "top".into(),
        1 => "second".into(),
        2 => "third".into(),
        3 => "fourth".into(),
        4 => "fifth".into(),
        n => format!("{}th", n + 1),
    }
}

fn matches(node: &str, want: &str) -> bool {
    want.is_empty() || node == want || (node.starts_with(want) && node.as_bytes().get(want.len()) == Some(&b'.'))
}

/// Parses a value for a node, checking its type and range.
fn parse(node: &Node, value: &str) -> Result<SysctlValue, SysctlError> {
    let inval = |t: String| SysctlError {
        errno: libc::EINVAL,
        text: Some(t),
    };
    match node.kind {
        Kind::Int { min, max } => {
            let v = if let Some(h) = value.strip_prefix("0x") {
                i64::from_str_radix(h, 16).ok()
            } else {
                value.parse::<i64>().ok()
            }
            .ok_or_else(|| inval(format!("'{value}' is not a number")))?;
            if v < min || v > max {
                return Err(inval(format!("{v} is out of range {min}-{max}")));
            }
            Ok(SysctlValue::Int(v))
        }
        Kind::Choice(words) => {
            if !words.contains(&value) {
                return Err(inval(format!("'{value}' is not one of: {}", words.join(" "))));
            }
            Ok(SysctlValue::Str(value.to_string()))
        }
        Kind::Str { max } => {
            if value.len() > max {
                return Err(inval(format!("longer than {max} bytes")));
            }
            Ok(SysctlValue::Str(value.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{Config, Stack, Variant};

    fn stack() -> std::sync::Arc<Stack> {
        Stack::detached()
    }

    #[test]
    fn reads_and_writes() {
        let s = stack();
        let t = &s.registry.sysctl;
        let mut c = s.ctx();
        assert_eq!(t.get(&c, "net.inet.ip.ttl").unwrap()[0].value, SysctlValue::Int(64));
        assert_eq!(t.get(&c, "net.inet.ip").unwrap().len(), 6);
        assert_eq!(t.get(&c, "").unwrap().len(), t.nodes().len());
        let ch = t.set(&mut c, "net.inet.ip.ttl", "30").unwrap();
        assert_eq!(ch.old, SysctlValue::Int(64));
        assert_eq!(c.inet.ttl, 30);
        assert_eq!(t.set(&mut c, "net.inet.ip.ttl", "256").unwrap_err().errno, libc::EINVAL);
        assert_eq!(t.set(&mut c, "net.inet.ip.ttl", "x").unwrap_err().errno, libc::EINVAL);
        assert_eq!(c.inet.ttl, 30);
        assert_eq!(t.set(&mut c, "kern.ostype", "x").unwrap_err().errno, libc::EPERM);
        assert_eq!(t.set(&mut c, "net.inet", "1").unwrap_err().errno, libc::EISDIR);
        t.set(&mut c, "net.inet.ip.forwarding", "1").unwrap();
        assert!(c.inet.forwarding);
        t.set(&mut c, "net.inet.tcp.congctl.selected", "newreno").unwrap();
        assert_eq!(c.inet.tcp.congctl, crate::inet::tcp::cc::Algo::NewReno);
        assert_eq!(
            t.set(&mut c, "net.inet.tcp.congctl.selected", "vegas")
                .unwrap_err()
                .errno,
            libc::EINVAL
        );
    }

    #[test]
    fn names_the_bad_level() {
        let s = stack();
        let t = &s.registry.sysctl;
        let c = s.ctx();
        let e = t.get(&c, "net.inet.foo").unwrap_err();
        assert_eq!(e.text.unwrap(), "third level name 'foo' in 'net.inet.foo' is invalid");
        let e = t.get(&c, "bogus").unwrap_err();
        assert_eq!(e.text.unwrap(), "top level name 'bogus' in 'bogus' is invalid");
        assert!(t.get(&c, "net.in").is_err());
    }

    /// Every variant's tree: each registered name once, and `sysctl -a` sorted.
    #[test]
    fn registered_names_are_unique_and_listed_sorted() {
        for v in [Variant::V4, Variant::V4Hc, Variant::V6Hc] {
            let s = Stack::new(Config {
                variant: v,
                ..Stack::detached().config.clone()
            });
            let all: Vec<&Node> = s
                .registry
                .domains
                .iter()
                .flat_map(|d| d.protosw.iter())
                .flat_map(|p| p.sysctl.iter().flat_map(|t| t.iter()))
                .chain(KERN.iter())
                .collect();
            let mut names: Vec<&str> = all.iter().map(|n| n.name).collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            assert_eq!(names.len(), n, "{v:?}: a name registered twice");
            let c = s.ctx();
            let got: Vec<String> = s
                .registry
                .sysctl
                .get(&c, "")
                .unwrap()
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert_eq!(got, names, "{v:?}: every node, sorted");
            for want in [
                "kern.hostname",
                "kern.somaxconn",
                "net.inet.tcp.congctl.selected",
                "net.inet.icmp.errppslimit",
            ] {
                assert!(got.iter().any(|g| g == want), "{v:?}: {want}");
            }
        }
    }
}
