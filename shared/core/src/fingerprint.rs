//! A stable fingerprint of what a row would send to Intercom.
//!
//! Stored per key after Intercom confirmed the write; a row whose fingerprint is
//! unchanged costs no API call. 128 bits (xxh3) so that a million-row model has no
//! practical collision risk; stable across releases because it hashes a canonical
//! JSON encoding (sorted keys), not Rust's `Hash`.

use serde::{Deserialize, Serialize};

/// 128-bit fingerprint, serialized as 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u128);

impl Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Fingerprint::from_hex(&s).ok_or_else(|| serde::de::Error::custom("bad fingerprint"))
    }
}

impl Fingerprint {
    /// The fingerprint of `parts`: xxh3-128 of its canonical JSON encoding (object
    /// keys sorted at every level, no whitespace, strings escaped and numbers printed
    /// as serde_json prints them). Written by hand rather than with
    /// `serde_json::to_string` because another crate enabling serde_json's
    /// `preserve_order` feature would silently make that order-sensitive.
    pub fn of(parts: &serde_json::Value) -> Fingerprint {
        let mut out = String::with_capacity(256);
        canonical(parts, &mut out);
        Fingerprint(xxhash_rust::xxh3::xxh3_128(out.as_bytes()))
    }

    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 32 {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(Fingerprint)
    }
}

/// Appends the canonical encoding of `value` to `out`.
fn canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value as J;
    match value {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Number(n) => out.push_str(&n.to_string()),
        J::String(s) => push_string(s, out),
        J::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        J::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_string(k, out);
                out.push(':');
                canonical(v, out);
            }
            out.push('}');
        }
    }
}

fn push_string(s: &str, out: &mut String) {
    // serde_json's escaping is the canonical one; serializing a &str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_order_does_not_matter() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,2],"x":"s"}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a":{"x":"s","y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(Fingerprint::of(&a), Fingerprint::of(&b));
    }

    #[test]
    fn any_change_changes_it() {
        let base = json!({"body": {"email": "a@b.co", "n": 1, "ok": true, "l": [1, 2]}, "c": null});
        let variants = [
            json!({"body": {"email": "a@b.com", "n": 1, "ok": true, "l": [1, 2]}, "c": null}),
            json!({"body": {"email": "a@b.co", "n": 2, "ok": true, "l": [1, 2]}, "c": null}),
            json!({"body": {"email": "a@b.co", "n": 1.5, "ok": true, "l": [1, 2]}, "c": null}),
            json!({"body": {"email": "a@b.co", "n": "1", "ok": true, "l": [1, 2]}, "c": null}),
            json!({"body": {"email": "a@b.co", "n": 1, "ok": false, "l": [1, 2]}, "c": null}),
            json!({"body": {"email": "a@b.co", "n": 1, "ok": true, "l": [2, 1]}, "c": null}),
            json!({"body": {"email": "a@b.co", "n": 1, "ok": true, "l": [1, 2]}, "c": "x"}),
            json!({"body": {"email": "a@b.co", "n": 1, "ok": true, "l": [1, 2]}}),
            json!({"body": {"email": "a@b.co", "n": 1, "ok": true, "l": [1, 2], "m": null}, "c": null}),
        ];
        let fp = Fingerprint::of(&base);
        for v in &variants {
            assert_ne!(Fingerprint::of(v), fp, "{v}");
        }
    }

    #[test]
    fn encoding_is_stable_across_releases() {
        // Changing this value means every stored fingerprint goes stale and the next
        // run of every sync updates every record: only ever change it on purpose.
        let fp = Fingerprint::of(&json!({
            "object": "user",
            "behavior": "update_or_create",
            "body": {"email": "ann@example.com", "custom_attributes": {"ltv": 12.5, "vip": true}},
            "company_id": "acme",
        }));
        let mut out = String::new();
        canonical(
            &json!({"b": [1, "é\"\n"], "a": {"d": null, "c": -2.5}}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":{"c":-2.5,"d":null},"b":[1,"é\"\n"]}"#);
        assert_eq!(fp.to_hex(), "071ee5e1012c88a2d3e502cac4a21ab8");
    }

    #[test]
    fn hex_round_trip() {
        let fp = Fingerprint(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(fp.to_hex(), "0123456789abcdef0011223344556677");
        assert_eq!(Fingerprint::from_hex(&fp.to_hex()), Some(fp));
        assert_eq!(Fingerprint::from_hex("xyz"), None);
        let json = serde_json::to_string(&fp).unwrap();
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), fp);
    }
}
