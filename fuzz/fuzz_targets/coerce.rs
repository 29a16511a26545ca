//! Fuzz target: value coercion (`backflow_core::value`) and row mapping
//! (`backflow_core::mapping`: custom-attribute types, event metadata, timestamps,
//! numbers, booleans, e-mails).
//!
//! Input: text, one warehouse cell per line (at most 16), so seeds stay readable:
//! `n` null, `b<true|false>`, `i<i64>`, `f<f64>`, `t<i64>` a timestamp (Unix
//! seconds), `s<text>` text, `l<a,b,…>` a list of texts (`l` alone: empty); any
//! other line is text as it is. An optional first line `#<kinds>` sets the column
//! kinds, one letter per column (`u`nknown, `b`ool, `i`nt, `f`loat, `s` text,
//! `t`imestamp, `d`ate, `l`ist). Column 12 is named `c12_at`, so the date-name
//! rule is exercised too.
//!
//! Must never panic. Every coercion that succeeds obeys its invariants (a
//! timestamp is Unix seconds within years 0000–9999 and reads back the same, a
//! number is finite and reads back the same, coercing a coerced value again gives
//! the same result, an accepted e-mail is accepted again as it is). The cells are
//! then one row for several syncs; a mapped row obeys what `load` and Intercom
//! expect (a non-blank key, at most 10 metadata keys, custom attributes in their
//! settled data type and at most 255 characters, a stable fingerprint).
#![no_main]

use std::sync::OnceLock;

use backflow_core::config::{self, Config, Object, MAX_METADATA_KEYS};
use backflow_core::mapping::Mapper;
use backflow_core::value::{
    check_email, infer_data_type, number_json, to_bool, to_float, to_int, to_json, to_text,
    to_unix_seconds, Column, ColumnKind, DataType, Value, MAX_ATTRIBUTE_CHARS, MAX_UNIX_SECONDS,
    MIN_UNIX_SECONDS,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;

/// Below this magnitude, an integer is read as epoch seconds (above, milliseconds).
const MILLIS_THRESHOLD: i64 = 100_000_000_000;
const COLUMNS: usize = 16;

/// Syncs exercising every field kind; columns are `c0` … `c15`.
const SYNCS: &str = r#"
warehouse: { type: sqlite, path: w.db }
destinations:
  ic: { type: intercom, access_token: { secret: s, key: k } }
models:
  m: { sql: select 1 }
syncs:
  contacts:
    model: m
    destination: ic
    object: contact
    behavior: update_or_create
    key: { column: c0, field: external_id }
    fields:
      email: c1
      name: c2
      role: c3
      signed_up_at: c4
      last_seen_at: c5
      owner_id: c6
      unsubscribed_from_emails: c7
      company_id: c8
      custom_attributes.a: c9
      custom_attributes.b: c10
      custom_attributes.c: c11
      custom_attributes.d: c12_at
      phone: c13
  users_by_email:
    model: m
    destination: ic
    object: user
    behavior: update_or_create
    key: { column: c1, field: email }
    sync_nulls: true
    fields:
      external_id: c0
      custom_attributes.e: c14
      custom_attributes.f: c15
      custom_attributes.g: c4
      last_seen_at: c11
  companies:
    model: m
    destination: ic
    object: company
    behavior: mirror
    key: { column: c0, field: company_id }
    sync_nulls: true
    fields:
      name: c2
      size: c6
      monthly_spend: c10
      remote_created_at: c4
      website: c3
      custom_attributes.h: c11
  events:
    model: m
    destination: ic
    object: event
    behavior: send
    key: { column: c0, field: event_id }
    fields:
      event_name: c2
      created_at: c4
      email: c1
      metadata: c3
      metadata.first_date: c5
      metadata.k6: c6
      metadata.k7: c7
      metadata.k8: c8
      metadata.k9: c9
      metadata.k10: c10
  events_many_keys:
    model: m
    destination: ic
    object: event
    behavior: send
    key: { column: c0, field: event_id }
    event_name: fuzzed
    fields:
      user_id: c2
      created_at: c5
      metadata: c3
      metadata.m1: c1
      metadata.m4: c4
      metadata.m6: c6
      metadata.m7: c7
      metadata.m8: c8
      metadata.m9: c9
      metadata.m10: c10
      metadata.m11: c11
      metadata.m12: c12_at
      metadata.m13: c13
      metadata.m14: c14
      metadata.m15: c15
"#;

fn syncs() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| config::parse(SYNCS, "fuzz.yaml", &|_| None).expect("fuzz syncs"))
}

fn parse_cell(line: &str) -> Value {
    let (tag, rest) = match line.chars().next() {
        Some(c) => (c, &line[c.len_utf8()..]),
        None => return Value::Text(String::new()),
    };
    let parsed = match tag {
        'n' if rest.is_empty() => Some(Value::Null),
        'b' => rest.parse().ok().map(Value::Bool),
        'i' => rest.parse().ok().map(Value::Int),
        'f' => rest.parse().ok().map(Value::Float),
        't' => rest.parse().ok().map(Value::Timestamp),
        's' => Some(Value::Text(rest.to_string())),
        'l' if rest.is_empty() => Some(Value::List(Vec::new())),
        'l' => Some(Value::List(
            rest.split(',')
                .map(|t| Value::Text(t.to_string()))
                .collect(),
        )),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::Text(line.to_string()))
}

fn parse_kind(c: char) -> ColumnKind {
    match c {
        'b' => ColumnKind::Bool,
        'i' => ColumnKind::Int,
        'f' => ColumnKind::Float,
        's' => ColumnKind::Text,
        't' => ColumnKind::Timestamp,
        'd' => ColumnKind::Date,
        'l' => ColumnKind::List,
        _ => ColumnKind::Unknown,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n').peekable();
    let mut kinds = [ColumnKind::Unknown; COLUMNS];
    if let Some(header) = lines.peek().and_then(|l| l.strip_prefix('#')) {
        for (kind, c) in kinds.iter_mut().zip(header.chars()) {
            *kind = parse_kind(c);
        }
        lines.next();
    }
    let row: Vec<Value> = lines.take(COLUMNS).map(parse_cell).collect();
    for value in &row {
        check_value(value);
    }
    check_rows(&kinds, &row);
});

/// Every coercion of one cell, and its invariants.
fn check_value(value: &Value) {
    let quoted = value.quoted();
    assert!(!quoted.is_empty());
    if let Value::Text(_) = value {
        // Cut at 60 characters, plus the quotes and the ellipsis.
        assert!(quoted.chars().count() <= 63, "quoted too long: {quoted}");
    }

    if let Ok(t) = to_unix_seconds(value) {
        check_timestamp(value, t);
    }

    if let Ok(n) = to_int(value) {
        assert_eq!(to_int(&Value::Int(n)), Ok(n));
        assert_eq!(to_int(&Value::Text(n.to_string())), Ok(n));
        let text = to_text(&Value::Int(n)).expect("an int is text");
        assert_eq!(to_int(&Value::Text(text)), Ok(n));
        match value {
            // Text that is an integer is a number too, and the same one (within f64).
            Value::Text(_) | Value::Float(_) => {
                let f = to_float(value).expect("an integer is a number");
                assert_eq!(f, n as f64, "{value:?}");
            }
            _ => {}
        }
    }

    if let Ok(f) = to_float(value) {
        assert!(f.is_finite(), "{value:?} -> {f}");
        assert_eq!(to_float(&Value::Float(f)), Ok(f));
        let text = to_text(&Value::Float(f)).expect("a finite float is text");
        assert_eq!(to_float(&Value::Text(text.clone())), Ok(f), "{text}");
        let json = number_json(f);
        assert!(json.is_number(), "{f} -> {json}");
        if let Some(i) = json.as_i64() {
            assert_eq!(i as f64, f);
        }
    }

    if let Ok(b) = to_bool(value) {
        assert_eq!(to_bool(&Value::Bool(b)), Ok(b));
        let text = to_text(&Value::Bool(b)).expect("a bool is text");
        assert_eq!(to_bool(&Value::Text(text)), Ok(b));
    }

    if let Ok(s) = to_text(value) {
        assert_eq!(to_text(&Value::Text(s.clone())), Ok(s.clone()));
        if let Ok(email) = check_email(&s) {
            assert_eq!(email, email.trim());
            assert_eq!(email.matches('@').count(), 1, "{email}");
            assert!(!email.chars().any(char::is_whitespace), "{email}");
            assert_eq!(check_email(&email), Ok(email.clone()), "not idempotent");
        }
    }

    for data_type in [
        DataType::String,
        DataType::Integer,
        DataType::Float,
        DataType::Boolean,
        DataType::Date,
    ] {
        if let Ok(json) = to_json(value, data_type) {
            check_json(value, data_type, &json);
            // Coercing the result again (as the same type) changes nothing.
            let again = json_to_value(&json, data_type);
            assert_eq!(
                to_json(&again, data_type).as_ref(),
                Ok(&json),
                "{value:?} as {data_type:?}"
            );
        }
    }
    for kind in [ColumnKind::Unknown, ColumnKind::Text, ColumnKind::Date] {
        let _ = infer_data_type(kind, Some(value));
    }
}

fn check_timestamp(value: &Value, t: i64) {
    assert!(
        (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&t),
        "{value:?} -> {t}: outside years 0000-9999"
    );
    assert_eq!(to_unix_seconds(&Value::Timestamp(t)), Ok(t));
    let text = to_text(&Value::Timestamp(t)).expect("a timestamp in range is text");
    assert_eq!(
        to_unix_seconds(&Value::Text(text.clone())),
        Ok(t),
        "{value:?} -> {t} -> {text}"
    );
    if t.abs() < MILLIS_THRESHOLD {
        assert_eq!(to_unix_seconds(&Value::Int(t)), Ok(t));
        assert_eq!(to_unix_seconds(&Value::Text(t.to_string())), Ok(t));
    }
    // Milliseconds are floored to the second they fall in.
    if let Value::Int(n) = value {
        if n.unsigned_abs() >= MILLIS_THRESHOLD as u64 {
            assert!(t * 1000 <= *n && *n < t * 1000 + 1000, "{n} ms -> {t} s");
        }
    }
}

/// The JSON `to_json` gives for a data type has that type.
fn check_json(value: &Value, data_type: DataType, json: &Json) {
    if value.is_null() {
        assert!(json.is_null());
        return;
    }
    match data_type {
        DataType::String => assert!(json.is_string()),
        DataType::Integer => assert!(json.is_i64(), "{json}"),
        DataType::Float => assert!(json.is_number() && json.as_f64().is_some_and(f64::is_finite)),
        DataType::Boolean => assert!(json.is_boolean()),
        DataType::Date => {
            let t = json.as_i64().expect("a date is an integer");
            assert!(
                (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&t),
                "{value:?} -> {t}"
            );
        }
    }
}

fn json_to_value(json: &Json, data_type: DataType) -> Value {
    match (json, data_type) {
        (Json::Null, _) => Value::Null,
        (Json::Bool(b), _) => Value::Bool(*b),
        (Json::String(s), _) => Value::Text(s.clone()),
        (Json::Number(n), DataType::Date) => Value::Timestamp(n.as_i64().expect("seconds")),
        (Json::Number(n), _) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().expect("a number")),
        },
        (other, _) => panic!("unexpected JSON {other}"),
    }
}

/// The cells as one row of each sync.
fn check_rows(kinds: &[ColumnKind; COLUMNS], row: &[Value]) {
    let config = syncs();
    let columns: Vec<Column> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| Column {
            name: if i == 12 {
                "c12_at".to_string()
            } else {
                format!("c{i}")
            },
            kind: *kind,
        })
        .collect();
    for (name, spec) in &config.syncs {
        let mut mapper = Mapper::new(name, spec, &columns).expect("the fuzz syncs' columns exist");
        let key = mapper.key_of(row);
        match mapper.map(7, row) {
            Ok(mapped) => {
                assert!(!mapped.key.trim().is_empty(), "{name}: blank key");
                assert_eq!(key.as_deref(), Some(mapped.key.as_str()), "{name}: key_of");
                if spec.key.field.as_str() == "email" {
                    assert_eq!(check_email(&mapped.key).as_ref(), Ok(&mapped.key));
                }
                check_body(spec.object, &mapper, &mapped.body);
                // `metadata.first_date: c5` is mapped explicitly: an Intercom date.
                if *name == "events" && row.get(5).is_some_and(|v| !v.is_null()) {
                    let t = mapped.body["metadata"]["first_date"].as_i64();
                    assert!(
                        t.is_some_and(|t| (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&t)),
                        "{t:?}"
                    );
                }
                // Same row, same mapper (types now settled): the same row out, so
                // an unchanged row is recognised as unchanged.
                let again = mapper.map(7, row).expect("mapped once, maps again");
                assert_eq!(again, mapped, "{name}: mapping is not deterministic");
            }
            Err(invalid) => {
                assert_eq!(invalid.row, 7);
                assert!(
                    !invalid.reasons.is_empty(),
                    "{name}: invalid without reason"
                );
                assert_eq!(invalid.key, key, "{name}: key_of");
            }
        }
    }
}

fn check_body(object: Object, mapper: &Mapper, body: &serde_json::Map<String, Json>) {
    serde_json::to_string(body).expect("a body serializes");
    for field in [
        "signed_up_at",
        "last_seen_at",
        "remote_created_at",
        "created_at",
    ] {
        if let Some(t) = body.get(field).filter(|j| !j.is_null()) {
            let t = t.as_i64().expect("a timestamp is an integer");
            assert!(
                (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&t),
                "{field}: {t}"
            );
        }
    }
    if object.is_contact() {
        let role = body.get("role").and_then(Json::as_str);
        assert!(matches!(role, Some("user" | "lead")), "role {role:?}");
    }
    if let Some(attrs) = body.get("custom_attributes") {
        let attrs = attrs.as_object().expect("custom_attributes is an object");
        let specs = mapper.attributes();
        for (name, json) in attrs {
            let spec = specs
                .iter()
                .find(|a| a.name == *name)
                .unwrap_or_else(|| panic!("attribute {name} not declared"));
            if json.is_null() {
                continue;
            }
            match spec.data_type {
                DataType::String => {
                    let s = json.as_str().expect("a string attribute");
                    assert!(s.chars().count() <= MAX_ATTRIBUTE_CHARS);
                }
                DataType::Integer => assert!(json.is_i64(), "{name}: {json}"),
                DataType::Float => assert!(json.is_number(), "{name}: {json}"),
                DataType::Boolean => assert!(json.is_boolean(), "{name}: {json}"),
                DataType::Date => {
                    let t = json.as_i64().expect("a date attribute is an integer");
                    assert!(
                        (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&t),
                        "{name}: {t}"
                    );
                }
            }
        }
    }
    if object == Object::Event {
        let name = body.get("event_name").and_then(Json::as_str);
        assert!(
            name.is_some_and(|n| !n.trim().is_empty()),
            "event_name {name:?}"
        );
        assert!(body.get("created_at").is_some_and(Json::is_i64));
        if let Some(metadata) = body.get("metadata") {
            let metadata = metadata.as_object().expect("metadata is an object");
            assert!(!metadata.is_empty() && metadata.len() <= MAX_METADATA_KEYS);
            assert!(metadata.values().all(|v| !v.is_null()), "null metadata");
        }
    }
}
