//! Socket data as one run of bytes (`#[serde(with = "crate::msg::bytes")]`): a length and
//! the bytes, which postcard copies whole, where a plain `Vec<u8>` goes element by element.
//! The encoding is the same either way (a varint length, then the bytes).

use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Serializer;

pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(v)
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(b) = seq.next_element()? {
            v.push(b);
        }
        Ok(v)
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_byte_buf(BytesVisitor)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Fast(#[serde(with = "super")] Vec<u8>);
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Plain(Vec<u8>);

    #[test]
    fn same_encoding_as_a_plain_vec() {
        let v: Vec<u8> = (0..=255).collect();
        let a = postcard::to_allocvec(&Fast(v.clone())).unwrap();
        let b = postcard::to_allocvec(&Plain(v.clone())).unwrap();
        assert_eq!(a, b);
        assert_eq!(postcard::from_bytes::<Fast>(&b).unwrap(), Fast(v));
        assert!(postcard::from_bytes::<Fast>(&[5, 1, 2]).is_err());
    }
}
