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
        let mut out = Vec::with_capacity(256);
        canonical(parts, &mut out);
        Fingerprint(xxhash_rust::xxh3::xxh3_128(&out))
    }

    /// The fingerprint of the object whose entries are `entries` (in any order):
    /// the same as [`Fingerprint::of`] of that object, without first copying the
    /// borrowed parts into one (a row's body is hashed once per row).
    pub fn of_entries(entries: &[(&str, Part<'_>)]) -> Fingerprint {
        let mut sorted: Vec<&(&str, Part<'_>)> = entries.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::with_capacity(256);
        out.push(b'{');
        for (i, (k, part)) in sorted.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_string(k, &mut out);
            out.push(b':');
            match part {
                Part::Str(s) => push_string(s, &mut out),
                Part::OptStr(None) => out.extend_from_slice(b"null"),
                Part::OptStr(Some(s)) => push_string(s, &mut out),
                Part::Map(map) => canonical_map(map, &mut out),
                Part::Value(v) => canonical(v, &mut out),
            }
        }
        out.push(b'}');
        Fingerprint(xxhash_rust::xxh3::xxh3_128(&out))
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

/// One entry's value for [`Fingerprint::of_entries`], borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    Str(&'a str),
    /// `null` when `None`.
    OptStr(Option<&'a str>),
    Map(&'a serde_json::Map<String, serde_json::Value>),
    Value(&'a serde_json::Value),
}

/// Appends the canonical encoding of `value` to `out`.
fn canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value as J;
    match value {
        J::Null => out.extend_from_slice(b"null"),
        J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // serde_json prints numbers as `Number`'s Display does; writing to a Vec
        // cannot fail.
        J::Number(n) => {
            let _ = serde_json::to_writer(&mut *out, n);
        }
        J::String(s) => push_string(s, out),
        J::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        J::Object(map) => canonical_map(map, out),
    }
}

fn canonical_map(map: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<u8>) {
    // serde_json's map iterates in key order unless its `preserve_order` feature
    // is on somewhere in the build: then (only) the entries are sorted first.
    if map.keys().is_sorted() {
        push_entries(map.iter(), out);
    } else {
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        push_entries(entries.into_iter(), out);
    }
}

fn push_entries<'a>(
    entries: impl Iterator<Item = (&'a String, &'a serde_json::Value)>,
    out: &mut Vec<u8>,
) {
    out.push(b'{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_string(k, out);
        out.push(b':');
        canonical(v, out);
    }
    out.push(b'}');
}

fn push_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's escaping is the canonical one; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value as J};

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
        let mut out = Vec::new();
        canonical(
            &json!({"b": [1, "é\"\n"], "a": {"d": null, "c": -2.5}}),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":-2.5,"d":null},"b":[1,"é\"\n"]}"#
        );
        assert_eq!(fp.to_hex(), "071ee5e1012c88a2d3e502cac4a21ab8");
    }

    #[test]
    fn entries_hash_as_the_object_they_make() {
        let body = json!({"email": "ann@example.com", "z": [1, {"b": 2, "a": "é\n"}], "n": -2.5});
        let J::Object(map) = &body else {
            unreachable!()
        };
        for company in [None, Some("acme")] {
            let whole = Fingerprint::of(&json!({
                "object": "user",
                "behavior": "update_or_create",
                "body": &body,
                "company_id": company,
                "tags": ["b", "a"],
            }));
            let tags = json!(["b", "a"]);
            let parts = Fingerprint::of_entries(&[
                ("object", Part::Str("user")),
                ("tags", Part::Value(&tags)),
                ("body", Part::Map(map)),
                ("behavior", Part::Str("update_or_create")),
                ("company_id", Part::OptStr(company)),
            ]);
            assert_eq!(parts, whole, "company {company:?}");
        }
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
