//! Socket addresses on the channel (`#[serde(with = "crate::msg::sockaddr")]`, and
//! `sockaddr::opt` for an `Option`): the family's address, the port, and for IPv6 the flow
//! label and scope id of `sockaddr_in6`, which serde's own encoding of `SocketAddrV6`
//! drops (a link-local `fe80::1%en0` needs its scope).

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The wire form: `sockaddr_in` / `sockaddr_in6` as a tagged union.
#[derive(Serialize, Deserialize)]
enum Sa {
    In(std::net::Ipv4Addr, u16),
    In6(std::net::Ipv6Addr, u16, u32, u32),
}

impl From<&SocketAddr> for Sa {
    fn from(a: &SocketAddr) -> Sa {
        match a {
            SocketAddr::V4(a) => Sa::In(*a.ip(), a.port()),
            SocketAddr::V6(a) => Sa::In6(*a.ip(), a.port(), a.flowinfo(), a.scope_id()),
        }
    }
}

impl From<Sa> for SocketAddr {
    fn from(a: Sa) -> SocketAddr {
        match a {
            Sa::In(ip, port) => SocketAddr::new(IpAddr::V4(ip), port),
            Sa::In6(ip, port, flow, scope) => SocketAddr::V6(SocketAddrV6::new(ip, port, flow, scope)),
        }
    }
}

pub fn serialize<S: Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    Sa::from(a).serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    Sa::deserialize(d).map(SocketAddr::from)
}

/// The same for an optional address.
pub mod opt {
    use super::*;

    pub fn serialize<S: Serializer>(a: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        a.as_ref().map(Sa::from).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        Ok(Option::<Sa>::deserialize(d)?.map(SocketAddr::from))
    }
}
