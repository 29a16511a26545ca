use serde_json::json;

use super::*;

fn spec(yaml: &str) -> SyncSpec {
    let base = "model: m\ndestination: ic\n";
    serde_yaml_ng::from_str(&format!("{base}{yaml}")).unwrap()
}

fn cols(spec: &[(&str, ColumnKind)]) -> Vec<Column> {
    spec.iter()
        .map(|(name, kind)| Column {
            name: name.to_string(),
            kind: *kind,
        })
        .collect()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

use ColumnKind as K;

const CONTACT: &str = r#"
object: contact
behavior: update_or_create
key: { column: Email, field: email }
fields:
  external_id: id
  name: full_name
  phone: phone
  avatar: avatar
  role: kind
  signed_up_at: created
  last_seen_at: seen
  owner_id: owner
  unsubscribed_from_emails: unsub
  company_id: company
  custom_attributes.ltv: ltv
  custom_attributes.plan: plan
  custom_attributes.trial_ends_at: trial_ends
  custom_attributes.vip: vip
"#;

fn contact_columns() -> Vec<Column> {
    cols(&[
        ("id", K::Int),
        ("email", K::Text), // PostgreSQL folded `Email`
        ("full_name", K::Text),
        ("phone", K::Text),
        ("avatar", K::Text),
        ("kind", K::Text),
        ("created", K::Timestamp),
        ("seen", K::Text),
        ("owner", K::Int),
        ("unsub", K::Int),
        ("company", K::Int),
        ("ltv", K::Float),
        ("plan", K::Text),
        ("trial_ends", K::Date),
        ("vip", K::Unknown),
    ])
}

fn contact_row() -> Vec<Value> {
    vec![
        Value::Int(42),
        text(" Ann@Example.com "),
        text("Ann Lee"),
        Value::Null,
        text("https://example.com/ann.png"),
        text("Lead"),
        Value::Timestamp(1_704_164_645),
        text("2024-03-01T12:00:00+01:00"),
        Value::Int(7),
        Value::Int(0),
        Value::Int(1001),
        Value::Float(1234.5),
        text("pro"),
        text("2024-06-30"),
        Value::Bool(true),
    ]
}

#[test]
fn contact_body() {
    let spec = spec(CONTACT);
    let mut mapper = Mapper::new("s", &spec, &contact_columns()).unwrap();
    let mapped = mapper.map(1, &contact_row()).unwrap();
    insta::assert_json_snapshot!("contact", mapped);
    assert_eq!(mapped.key, "Ann@Example.com");
    assert_eq!(mapped.company_id.as_deref(), Some("1001"));
    assert!(!mapped.body.contains_key("phone"), "null left out");
    assert!(
        !mapped.body.contains_key("company_id"),
        "attached, not in the body"
    );
    assert_eq!(
        mapper.attributes(),
        vec![
            attr("ltv", "contact", DataType::Float),
            attr("plan", "contact", DataType::String),
            attr("trial_ends_at", "contact", DataType::Date),
            attr("vip", "contact", DataType::Boolean),
        ]
    );
}

fn attr(name: &str, model: &str, data_type: DataType) -> AttributeSpec {
    AttributeSpec {
        name: name.into(),
        model: model.into(),
        data_type,
    }
}

#[test]
fn company_body() {
    let spec = spec(
        r#"
object: company
behavior: mirror
key: { column: company_id, field: company_id }
fields:
  name: name
  plan: plan
  size: employees
  website: site
  industry: industry
  monthly_spend: mrr
  remote_created_at: created
  custom_attributes.seats: seats
"#,
    );
    let columns = cols(&[
        ("company_id", K::Int),
        ("name", K::Text),
        ("plan", K::Text),
        ("employees", K::Text),
        ("site", K::Text),
        ("industry", K::Unknown),
        ("mrr", K::Float),
        ("created", K::Date),
        ("seats", K::Unknown),
    ]);
    let row = vec![
        Value::Int(1001),
        text("Acme"),
        text("enterprise"),
        text("250"),
        text("acme.test"),
        text("Anvils"),
        Value::Float(155.0),
        text("2019-05-01"),
        Value::Int(25),
    ];
    let mut mapper = Mapper::new("companies", &spec, &columns).unwrap();
    let mapped = mapper.map(1, &row).unwrap();
    insta::assert_json_snapshot!("company", mapped);
    assert_eq!(mapped.body["company_id"], json!("1001"));
    assert!(!mapped.body.contains_key("role"));
    assert_eq!(
        mapper.attributes(),
        vec![attr("seats", "company", DataType::Integer)]
    );
}

const EVENT: &str = r#"
object: event
behavior: send
key: { column: event_id, field: event_id }
event_name: signed-up
fields:
  user_id: user_id
  created_at: occurred_at
  metadata.plan: plan
  metadata.trial_date: trial
  metadata.seats: seats
  metadata: props
"#;

fn event_columns() -> Vec<Column> {
    cols(&[
        ("event_id", K::Text),
        ("user_id", K::Int),
        ("occurred_at", K::Text),
        ("plan", K::Text),
        ("trial", K::Text),
        ("seats", K::Int),
        ("props", K::Text),
    ])
}

#[test]
fn event_body() {
    let spec = spec(EVENT);
    let mut mapper = Mapper::new("signups", &spec, &event_columns()).unwrap();
    let row = vec![
        text("ev-1"),
        Value::Int(42),
        text("2024-01-02 03:04:05+00"),
        text("pro"),
        text("2024-02-01"),
        Value::Null,
        text(
            r#"{"source": "ads", "plan": "ignored", "gone": null, "price": {"amount": 900, "currency": "eur"}}"#,
        ),
    ];
    let mapped = mapper.map(1, &row).unwrap();
    insta::assert_json_snapshot!("event", mapped);
    assert_eq!(mapped.key, "ev-1");
    assert!(
        !mapped.body.contains_key("event_id"),
        "backflow's own key is not sent"
    );
    assert_eq!(
        mapped.body["metadata"]["plan"],
        json!("pro"),
        "explicit mapping wins"
    );
    assert!(mapper.attributes().is_empty());
}

#[test]
fn event_name_from_a_column_and_email_identity() {
    let spec = spec(
        r#"
object: event
behavior: send
key: { column: id, field: event_id }
fields:
  event_name: name
  created_at: at
  email: mail
"#,
    );
    let columns = cols(&[
        ("id", K::Int),
        ("name", K::Text),
        ("at", K::Int),
        ("mail", K::Text),
    ]);
    let mut mapper = Mapper::new("e", &spec, &columns).unwrap();
    let mapped = mapper
        .map(
            1,
            &[
                Value::Int(9),
                text("ordered"),
                Value::Int(1_704_164_645_000),
                text("a@b.co"),
            ],
        )
        .unwrap();
    assert_eq!(
        Json::Object(mapped.body),
        json!({"event_name": "ordered", "created_at": 1_704_164_645, "email": "a@b.co"})
    );
    let bad = mapper
        .map(2, &[Value::Int(10), text(" "), Value::Null, text("nope")])
        .unwrap_err();
    assert_eq!(
        bad.reasons,
        vec![
            "field `at` (column `at`) is null; an event needs it"
                .replace("`at` (", "`created_at` ("),
            "field `email` (column `mail`): 'nope' is not a valid email".to_string(),
            "field `event_name` (column `name`): the event name is empty".to_string(),
        ]
    );
}

#[test]
fn roles_and_keys_per_object() {
    let columns = cols(&[("k", K::Text), ("n", K::Text)]);
    let cases = [
        (
            "lead",
            "email",
            "a@b.co",
            json!({"email": "a@b.co", "role": "lead"}),
        ),
        (
            "user",
            "external_id",
            "u-1",
            json!({"external_id": "u-1", "role": "user"}),
        ),
        (
            "contact",
            "external_id",
            "u-1",
            json!({"external_id": "u-1", "role": "user"}),
        ),
    ];
    for (object, field, key, want) in cases {
        let spec = spec(&format!(
            "object: {object}\nbehavior: update_or_create\nkey: {{ column: k, field: {field} }}\n"
        ));
        let mapped = Mapper::new("s", &spec, &columns)
            .unwrap()
            .map(1, &[text(key), Value::Null])
            .unwrap();
        assert_eq!(Json::Object(mapped.body), want, "{object}");
    }
    // The Intercom id is the caller's URL, not part of the body.
    let spec = spec(
        "object: user\nbehavior: update_only\nkey: { column: k, field: id }\nfields:\n  name: n\n",
    );
    let mapped = Mapper::new("s", &spec, &columns)
        .unwrap()
        .map(1, &[text("6762f0dd1bb69f9f2193bb83"), text("Ann")])
        .unwrap();
    assert_eq!(mapped.key, "6762f0dd1bb69f9f2193bb83");
    assert_eq!(
        Json::Object(mapped.body),
        json!({"name": "Ann", "role": "user"})
    );
}

#[test]
fn invalid_rows_collect_every_reason() {
    let spec = spec(CONTACT);
    let mut mapper = Mapper::new("s", &spec, &contact_columns()).unwrap();
    let mut row = contact_row();
    row[1] = text("not-an-email");
    row[5] = text("admin");
    row[7] = text("last tuesday");
    row[8] = text("seven");
    row[9] = text("maybe");
    row[11] = text("abc");
    row[12] = text(&"x".repeat(256));
    let invalid = mapper.map(7, &row).unwrap_err();
    assert_eq!(invalid.row, 7);
    assert_eq!(invalid.key.as_deref(), Some("not-an-email"));
    insta::assert_json_snapshot!("contact_invalid", invalid);
    assert_eq!(invalid.reasons.len(), 7, "{:#?}", invalid.reasons);
    assert!(invalid.reasons.contains(
        &"field `custom_attributes.ltv` (column `ltv`): 'abc' is not a number".to_string()
    ));
}

#[test]
fn invalid_cases() {
    let contact = spec(CONTACT);
    let columns = contact_columns();
    let with = |i: usize, v: Value| {
        let mut row = contact_row();
        row[i] = v;
        row
    };
    let cases: Vec<(Vec<Value>, &str)> = vec![
        (with(1, Value::Null), "key column `Email` is null"),
        (with(1, text("  ")), "key `email` (column `Email`): '  ' is not a valid email"),
        (with(1, text("ann@example")), "key `email` (column `Email`): 'ann@example' is not a valid email"),
        (with(5, text("admin")), "field `role` (column `kind`): 'admin' is not a contact role (user or lead)"),
        (with(6, text("garbage")), "field `signed_up_at` (column `created`): 'garbage' is not a timestamp (expected RFC 3339, YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or epoch seconds/milliseconds)"),
        (with(8, Value::Float(1.5)), "field `owner_id` (column `owner`): 1.5 is not an integer"),
        (with(9, Value::Int(3)), "field `unsubscribed_from_emails` (column `unsub`): 3 is not a boolean"),
        (with(11, text("abc")), "field `custom_attributes.ltv` (column `ltv`): 'abc' is not a number"),
        (with(13, text("soon")), "field `custom_attributes.trial_ends_at` (column `trial_ends`): 'soon' is not a timestamp (expected RFC 3339, YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or epoch seconds/milliseconds)"),
        (with(14, text("perhaps")), "field `custom_attributes.vip` (column `vip`): 'perhaps' is not a boolean"),
    ];
    for (row, want) in cases {
        let mut mapper = Mapper::new("s", &contact, &columns).unwrap();
        // A valid row first: it settles `vip` (an `Unknown` column) as boolean.
        mapper.map(1, &contact_row()).unwrap();
        let invalid = mapper.map(3, &row).unwrap_err();
        assert_eq!(invalid.reasons, vec![want.to_string()]);
    }
    let mut mapper = Mapper::new("s", &contact, &columns).unwrap();
    let invalid = mapper.map(3, &with(1, Value::Null)).unwrap_err();
    assert_eq!(invalid.key, None);
    // External ids: empty is not a key.
    let spec =
        spec("object: user\nbehavior: update_or_create\nkey: { column: k, field: external_id }\n");
    let invalid = Mapper::new("s", &spec, &cols(&[("k", K::Text)]))
        .unwrap()
        .map(1, &[text("")])
        .unwrap_err();
    assert_eq!(invalid.reasons, vec!["key column `k` is empty"]);
}

#[test]
fn long_strings_in_custom_attributes() {
    let spec = spec(CONTACT);
    let mut mapper = Mapper::new("s", &spec, &contact_columns()).unwrap();
    let mut row = contact_row();
    row[12] = text(&"é".repeat(255));
    assert!(
        mapper.map(1, &row).is_ok(),
        "255 characters (not bytes) is fine"
    );
    row[12] = text(&"é".repeat(256));
    assert_eq!(
        mapper.map(1, &row).unwrap_err().reasons,
        vec!["field `custom_attributes.plan` (column `plan`): text is 256 characters; Intercom keeps at most 255"]
    );
    // Standard string fields have no such limit.
    row[12] = text("pro");
    row[2] = text(&"n".repeat(300));
    assert!(mapper.map(1, &row).is_ok());
}

#[test]
fn event_metadata_limits_and_nulls() {
    let mut yaml = "object: event\nbehavior: send\nkey: { column: id, field: event_id }\nevent_name: e\nfields:\n  created_at: at\n  id: contact\n  metadata: props\n".to_string();
    for i in 0..4 {
        yaml.push_str(&format!("  metadata.k{i}: c{i}\n"));
    }
    let spec = spec(&yaml);
    let mut columns = cols(&[
        ("id", K::Int),
        ("at", K::Int),
        ("contact", K::Text),
        ("props", K::Text),
    ]);
    columns.extend(cols(&[
        ("c0", K::Int),
        ("c1", K::Int),
        ("c2", K::Int),
        ("c3", K::Int),
    ]));
    let mut mapper = Mapper::new("e", &spec, &columns).unwrap();
    let props = |n: usize| {
        let map: serde_json::Map<String, Json> =
            (0..n).map(|i| (format!("p{i}"), json!(i))).collect();
        text(&Json::Object(map).to_string())
    };
    let row = |props: Value, c0: Value| {
        vec![
            Value::Int(1),
            Value::Int(1_704_164_645),
            text("ic_1"),
            props,
            c0,
            Value::Int(1),
            Value::Int(2),
            Value::Int(3),
        ]
    };
    // 4 mapped + 6 from the object = 10: fine.
    assert!(mapper.map(1, &row(props(6), Value::Int(0))).is_ok());
    // 4 + 7 = 11.
    assert_eq!(
        mapper
            .map(2, &row(props(7), Value::Int(0)))
            .unwrap_err()
            .reasons,
        vec!["event metadata has 11 keys; Intercom keeps at most 10"]
    );
    // A null metadata value is not sent, so it does not count.
    let mapped = mapper.map(3, &row(props(7), Value::Null)).unwrap();
    assert_eq!(mapped.body["metadata"].as_object().unwrap().len(), 10);
    assert_eq!(mapped.body["id"], json!("ic_1"));
    assert_eq!(
        mapper
            .map(4, &row(text("[1, 2]"), Value::Int(0)))
            .unwrap_err()
            .reasons,
        vec!["field `metadata` (column `props`): '[1, 2]' is not a JSON object"]
    );
    // No metadata at all: no `metadata` key.
    let mapped = mapper
        .map(
            5,
            &[
                Value::Int(1),
                Value::Int(1),
                text("ic_1"),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
        )
        .unwrap();
    assert!(!mapped.body.contains_key("metadata"));
}

#[test]
fn timestamps_in_every_accepted_format() {
    const T: i64 = 1_704_164_645; // 2024-01-02T03:04:05Z
    let spec = spec("object: user\nbehavior: update_or_create\nkey: { column: k, field: external_id }\nfields:\n  signed_up_at: t\n");
    let cases: Vec<(ColumnKind, Value, Result<i64, &str>)> = vec![
        (K::Date, Value::Timestamp(1_704_153_600), Ok(1_704_153_600)),
        (K::Date, text("2024-01-02"), Ok(1_704_153_600)),
        (K::Timestamp, Value::Timestamp(T), Ok(T)),
        (K::Text, text("2024-01-02 03:04:05"), Ok(T)),
        (K::Text, text("2024-01-02 03:04:05.250"), Ok(T)),
        (K::Text, text("2024-01-02 04:04:05.250+01"), Ok(T)),
        (K::Text, text("2024-01-02T03:04:05Z"), Ok(T)),
        (K::Text, text("2024-01-01T22:04:05-05:00"), Ok(T)),
        (K::Text, text("2024-01-02T03:04:05"), Ok(T)),
        (K::Int, Value::Int(T), Ok(T)),
        (K::Int, Value::Int(T * 1000), Ok(T)),
        (K::Float, Value::Float(T as f64 * 1000.0 + 12.0), Ok(T)),
        (K::Text, text("1704164645"), Ok(T)),
        (K::Text, text("1704164645123"), Ok(T)),
        (
            K::Text,
            text("next week"),
            Err("'next week' is not a timestamp"),
        ),
        (
            K::Text,
            text("2024-02-30"),
            Err("'2024-02-30' is not a timestamp"),
        ),
        (K::Bool, Value::Bool(true), Err("true is not a timestamp")),
    ];
    for (kind, value, want) in cases {
        let columns = cols(&[("k", K::Text), ("t", kind)]);
        let got = Mapper::new("s", &spec, &columns)
            .unwrap()
            .map(1, &[text("u1"), value.clone()]);
        match (got, want) {
            (Ok(mapped), Ok(secs)) => {
                assert_eq!(mapped.body["signed_up_at"], json!(secs), "{value:?}")
            }
            (Err(invalid), Err(msg)) => {
                let reason = &invalid.reasons[0];
                assert!(
                    reason.starts_with(&format!("field `signed_up_at` (column `t`): {msg}")),
                    "{value:?}: {reason}"
                );
            }
            (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn nulls_are_left_out_unless_sync_nulls() {
    let yaml = "object: user\nbehavior: update_or_create\nkey: { column: k, field: external_id }\nfields:\n  name: n\n  company_id: c\n  custom_attributes.ltv: ltv\n";
    let columns = cols(&[
        ("k", K::Text),
        ("n", K::Text),
        ("c", K::Text),
        ("ltv", K::Float),
    ]);
    let row = [text("u1"), Value::Null, Value::Null, Value::Null];
    let mapped = Mapper::new("s", &spec(yaml), &columns)
        .unwrap()
        .map(1, &row)
        .unwrap();
    assert_eq!(
        Json::Object(mapped.body),
        json!({"external_id": "u1", "role": "user"})
    );
    let with_nulls = spec(&format!("{yaml}sync_nulls: true\n"));
    let mapped = Mapper::new("s", &with_nulls, &columns)
        .unwrap()
        .map(1, &row)
        .unwrap();
    assert_eq!(
        Json::Object(mapped.body),
        json!({"external_id": "u1", "role": "user", "name": null, "custom_attributes": {"ltv": null}})
    );
    assert_eq!(mapped.company_id, None);
}

#[test]
fn unknown_kinds_settle_on_the_first_value() {
    let spec = spec("object: company\nbehavior: update_or_create\nkey: { column: k, field: company_id }\nfields:\n  custom_attributes.score: score\n  custom_attributes.note: note\n");
    let columns = cols(&[("k", K::Text), ("score", K::Unknown), ("note", K::Unknown)]);
    let mut mapper = Mapper::new("s", &spec, &columns).unwrap();
    // Undecided while only nulls were seen.
    let score = |mapper: &Mapper| {
        let attributes = mapper.attributes();
        attributes
            .iter()
            .find(|a| a.name == "score")
            .unwrap()
            .data_type
    };
    mapper
        .map(1, &[text("a"), Value::Null, Value::Null])
        .unwrap();
    assert_eq!(score(&mapper), DataType::String);
    let mapped = mapper
        .map(2, &[text("b"), Value::Int(3), Value::Null])
        .unwrap();
    assert_eq!(mapped.body["custom_attributes"], json!({"score": 3}));
    assert_eq!(score(&mapper), DataType::Integer);
    // Later values are coerced to the settled type.
    let mapped = mapper.map(3, &[text("c"), text("4"), Value::Null]).unwrap();
    assert_eq!(mapped.body["custom_attributes"], json!({"score": 4}));
    let invalid = mapper
        .map(4, &[text("d"), Value::Float(4.5), Value::Null])
        .unwrap_err();
    assert_eq!(
        invalid.reasons,
        vec!["field `custom_attributes.score` (column `score`): 4.5 is not an integer"]
    );
    // A pinned type (an attribute that already exists in Intercom) wins.
    let mut mapper = Mapper::new("s", &spec, &columns).unwrap();
    assert!(mapper.set_attribute_type("score", DataType::String));
    assert!(!mapper.set_attribute_type("nope", DataType::String));
    let mapped = mapper
        .map(1, &[text("a"), Value::Int(3), Value::Int(5)])
        .unwrap();
    assert_eq!(
        mapped.body["custom_attributes"],
        json!({"score": "3", "note": 5})
    );
}

#[test]
fn columns_are_resolved_or_named() {
    let spec = spec(CONTACT);
    let mut columns = contact_columns();
    columns.retain(|c| c.name != "ltv");
    let e = Mapper::new("users", &spec, &columns).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sync `users`: model `m` has no column `ltv` (columns: id, email, full_name, phone, \
         avatar, kind, created, seen, owner, unsub, company, plan, trial_ends, vip)"
    );
    // Exact match first, then case-insensitive.
    let columns = cols(&[("K", K::Text), ("k", K::Int)]);
    let spec = crate::mapping::tests::spec(
        "object: user\nbehavior: update_or_create\nkey: { column: k, field: external_id }\n",
    );
    let mapper = Mapper::new("s", &spec, &columns).unwrap();
    assert_eq!(
        mapper.key_of(&[text("upper"), Value::Int(5)]).as_deref(),
        Some("5")
    );
    assert_eq!(mapper.key_column(), "k");
    let columns = cols(&[("K", K::Text)]);
    let mapper = Mapper::new("s", &spec, &columns).unwrap();
    assert_eq!(mapper.key_of(&[text("upper")]).as_deref(), Some("upper"));
    assert_eq!(mapper.key_of(&[Value::Null]), None);
    assert_eq!(mapper.key_of(&[]), None);
}

#[test]
fn fingerprints_follow_what_is_sent() {
    let spec = spec(CONTACT);
    let mut mapper = Mapper::new("s", &spec, &contact_columns()).unwrap();
    let fp = |mapper: &mut Mapper, row: &[Value]| mapper.map(1, row).unwrap().fingerprint;
    let base = fp(&mut mapper, &contact_row());
    assert_eq!(fp(&mut mapper, &contact_row()), base, "deterministic");
    // Same value in another form: same body, same fingerprint.
    let mut row = contact_row();
    row[7] = text("2024-03-01 11:00:00");
    assert_eq!(fp(&mut mapper, &row), base);
    for (i, v) in [
        (2, text("Ann B. Lee")),
        (10, Value::Int(1002)),
        (14, Value::Bool(false)),
        (3, text("+1 555")),
    ] {
        let mut row = contact_row();
        row[i] = v;
        assert_ne!(fp(&mut mapper, &row), base, "column {i}");
    }
    let mirror = crate::mapping::tests::spec(&CONTACT.replace("update_or_create", "mirror"));
    let mut other = Mapper::new("s", &mirror, &contact_columns()).unwrap();
    assert_ne!(
        fp(&mut other, &contact_row()),
        base,
        "the behavior is part of it"
    );
}

/// One custom attribute `x` mapped from one column, rows of one value each.
struct TypeCase {
    column: &'static str,
    kind: ColumnKind,
    /// The long form's `type`, when the sync declares one.
    declared: Option<&'static str>,
    /// Each row's value, and what is sent for it: the JSON, or the reason the
    /// row is invalid.
    rows: Vec<(Value, Result<serde_json::Value, &'static str>)>,
    /// The attribute's data type once the rows are mapped.
    data_type: DataType,
}

/// 2026-01-01T12:00:00Z and midnight of the same day.
const NOON: i64 = 1_767_268_800;
const MIDNIGHT: i64 = 1_767_225_600;

#[test]
fn custom_attribute_types_from_column_name_kind_and_long_form() {
    use serde_json::Value as J;
    let cases = vec![
        // SQLite keeps dates as text, and an expression's column has no type.
        TypeCase {
            column: "trial_ends_at",
            kind: K::Unknown,
            declared: None,
            rows: vec![
                (text("2026-01-01 12:00:00"), Ok(json!(NOON))),
                (text("2026-01-01"), Ok(json!(MIDNIGHT))),
            ],
            data_type: DataType::Date,
        },
        // A declared TEXT column (SQLite, PostgreSQL, MySQL) named `…_at`.
        TypeCase {
            column: "trial_ends_at",
            kind: K::Text,
            declared: None,
            rows: vec![(text("2026-01-01T13:00:00+01:00"), Ok(json!(NOON)))],
            data_type: DataType::Date,
        },
        // `…_date`, and Snowflake's upper-case names.
        TypeCase {
            column: "RENEWAL_DATE",
            kind: K::Text,
            declared: None,
            rows: vec![(text("2026-01-01"), Ok(json!(MIDNIGHT)))],
            data_type: DataType::Date,
        },
        // Epoch seconds and milliseconds in number columns.
        TypeCase {
            column: "seen_at",
            kind: K::Int,
            declared: None,
            rows: vec![
                (Value::Int(NOON), Ok(json!(NOON))),
                (Value::Int(NOON * 1000 + 999), Ok(json!(NOON))),
            ],
            data_type: DataType::Date,
        },
        TypeCase {
            column: "seen_at",
            kind: K::Float,
            declared: None,
            rows: vec![(Value::Float(NOON as f64 + 0.5), Ok(json!(NOON)))],
            data_type: DataType::Date,
        },
        // Nulls settle nothing; the first value does.
        TypeCase {
            column: "trial_ends_at",
            kind: K::Unknown,
            declared: None,
            rows: vec![
                (Value::Null, Ok(J::Null)),
                (text("2026-01-01"), Ok(json!(MIDNIGHT))),
            ],
            data_type: DataType::Date,
        },
        // A first value that is no timestamp: the attribute stays a string, and
        // later dates are sent as the text they are.
        TypeCase {
            column: "trial_ends_at",
            kind: K::Text,
            declared: None,
            rows: vec![
                (text("soon"), Ok(json!("soon"))),
                (text("2026-01-01"), Ok(json!("2026-01-01"))),
            ],
            data_type: DataType::String,
        },
        // Settled as a date: a later value that is no timestamp is invalid,
        // naming the column, rather than sent to a date attribute.
        TypeCase {
            column: "trial_ends_at",
            kind: K::Text,
            declared: None,
            rows: vec![
                (text("2026-01-01"), Ok(json!(MIDNIGHT))),
                (
                    text("soon"),
                    Err("field `custom_attributes.x` (column `trial_ends_at`): 'soon' is not a timestamp"),
                ),
            ],
            data_type: DataType::Date,
        },
        // Without the suffix, text stays text; `format` only ends in "at".
        TypeCase {
            column: "trial_ends",
            kind: K::Text,
            declared: None,
            rows: vec![(text("2026-01-01"), Ok(json!("2026-01-01")))],
            data_type: DataType::String,
        },
        TypeCase {
            column: "format",
            kind: K::Unknown,
            declared: None,
            rows: vec![(text("2026-01-01"), Ok(json!("2026-01-01")))],
            data_type: DataType::String,
        },
        // A boolean named `…_at` is still a boolean.
        TypeCase {
            column: "opted_at",
            kind: K::Bool,
            declared: None,
            rows: vec![(Value::Bool(true), Ok(json!(true)))],
            data_type: DataType::Boolean,
        },
        // The long form says it outright, whatever the name or kind.
        TypeCase {
            column: "trial_end",
            kind: K::Text,
            declared: Some("date"),
            rows: vec![
                (text("2026-01-01 12:00:00"), Ok(json!(NOON))),
                (Value::Int(NOON * 1000), Ok(json!(NOON))),
                (
                    text("soon"),
                    Err("field `custom_attributes.x` (column `trial_end`): 'soon' is not a timestamp"),
                ),
            ],
            data_type: DataType::Date,
        },
        TypeCase {
            column: "created_at",
            kind: K::Timestamp,
            declared: Some("string"),
            rows: vec![(Value::Timestamp(NOON), Ok(json!("2026-01-01T12:00:00Z")))],
            data_type: DataType::String,
        },
        TypeCase {
            column: "ltv",
            kind: K::Text,
            declared: Some("float"),
            rows: vec![
                (text("12.5"), Ok(json!(12.5))),
                (
                    text("n/a"),
                    Err("field `custom_attributes.x` (column `ltv`): 'n/a' is not a number"),
                ),
            ],
            data_type: DataType::Float,
        },
        TypeCase {
            column: "seats",
            kind: K::Unknown,
            declared: Some("integer"),
            rows: vec![(text("12"), Ok(json!(12)))],
            data_type: DataType::Integer,
        },
        TypeCase {
            column: "vip",
            kind: K::Text,
            declared: Some("boolean"),
            rows: vec![(text("yes"), Ok(json!(true)))],
            data_type: DataType::Boolean,
        },
        // Arrays: Intercom's custom attributes hold no lists.
        TypeCase {
            column: "tags",
            kind: K::List,
            declared: None,
            rows: vec![(
                Value::List(vec![text("a"), text("b")]),
                Err("field `custom_attributes.x` (column `tags`): the list ['a', 'b'] cannot be a custom attribute"),
            )],
            data_type: DataType::String,
        },
        TypeCase {
            column: "dates_at",
            kind: K::List,
            declared: Some("date"),
            rows: vec![(
                Value::List(vec![Value::Timestamp(NOON)]),
                Err("field `custom_attributes.x` (column `dates_at`): the list [2026-01-01T12:00:00Z] cannot be a custom attribute"),
            )],
            data_type: DataType::Date,
        },
    ];
    for case in cases {
        let source = match case.declared {
            Some(t) => format!("{{ column: {}, type: {t} }}", case.column),
            None => case.column.to_string(),
        };
        let spec = spec(&format!(
            "object: user\nbehavior: update_or_create\nkey: {{ column: id, field: external_id }}\n\
             sync_nulls: true\nfields:\n  custom_attributes.x: {source}\n"
        ));
        let columns = cols(&[("id", K::Text), (case.column, case.kind)]);
        let mut mapper = Mapper::new("s", &spec, &columns).unwrap();
        for (i, (value, expected)) in case.rows.iter().enumerate() {
            let row = [text("k"), value.clone()];
            let label = format!(
                "{} {:?} {:?} row {i}",
                case.column, case.kind, case.declared
            );
            match (mapper.map(i as u64 + 1, &row), expected) {
                (Ok(mapped), Ok(json)) => {
                    assert_eq!(mapped.body["custom_attributes"]["x"], *json, "{label}")
                }
                (Err(invalid), Err(reason)) => {
                    assert_eq!(invalid.reasons.len(), 1, "{label}");
                    assert!(
                        invalid.reasons[0].starts_with(reason),
                        "{label}: {}",
                        invalid.reasons[0]
                    );
                }
                (got, want) => panic!("{label}: got {got:?}, want {want:?}"),
            }
        }
        assert_eq!(
            mapper.attributes(),
            vec![attr("x", "contact", case.data_type)],
            "{} {:?} {:?}",
            case.column,
            case.kind,
            case.declared
        );
    }
}

#[test]
fn a_declared_type_is_kept_when_intercom_has_another() {
    let columns = cols(&[("id", K::Text), ("trial_end", K::Text)]);
    let declared = spec(
        "object: user\nbehavior: update_or_create\nkey: { column: id, field: external_id }\n\
         fields:\n  custom_attributes.trial: { column: trial_end, type: date }\n",
    );
    let mut mapper = Mapper::new("s", &declared, &columns).unwrap();
    assert!(!mapper.set_attribute_type("trial", DataType::String));
    let mapped = mapper.map(1, &[text("k"), text("2026-01-01")]).unwrap();
    assert_eq!(mapped.body["custom_attributes"]["trial"], json!(MIDNIGHT));
    assert_eq!(
        mapper.attributes(),
        vec![attr("trial", "contact", DataType::Date)]
    );
    // Inferred from the name: Intercom's existing type wins (it cannot change).
    let columns = cols(&[("id", K::Text), ("trial_ends_at", K::Text)]);
    let inferred = spec(
        "object: user\nbehavior: update_or_create\nkey: { column: id, field: external_id }\n\
         fields:\n  custom_attributes.trial: trial_ends_at\n",
    );
    let mut mapper = Mapper::new("s", &inferred, &columns).unwrap();
    assert!(mapper.set_attribute_type("trial", DataType::String));
    let mapped = mapper.map(1, &[text("k"), text("2026-01-01")]).unwrap();
    assert_eq!(
        mapped.body["custom_attributes"]["trial"],
        json!("2026-01-01")
    );
}

#[test]
fn lists_are_refused_wherever_intercom_takes_no_list() {
    let columns = cols(&[("id", K::Text), ("tags", K::List)]);
    let list = Value::List(vec![text("a"), Value::Int(2), Value::Null]);
    for (field, reason) in [
        (
            "name",
            "field `name` (column `tags`): the list ['a', 2, null] is not text",
        ),
        (
            "signed_up_at",
            "field `signed_up_at` (column `tags`): the list ['a', 2, null] is not a timestamp",
        ),
        (
            "owner_id",
            "field `owner_id` (column `tags`): the list ['a', 2, null] is not an integer",
        ),
    ] {
        let spec = spec(&format!(
            "object: user\nbehavior: update_or_create\nkey: {{ column: id, field: external_id }}\n\
             fields:\n  {field}: tags\n"
        ));
        let mut mapper = Mapper::new("s", &spec, &columns).unwrap();
        let invalid = mapper.map(1, &[text("k"), list.clone()]).unwrap_err();
        assert_eq!(invalid.reasons, vec![reason.to_string()]);
    }
    // A list key is no key.
    let spec = spec(
        "object: user\nbehavior: update_or_create\nkey: { column: tags, field: external_id }\n",
    );
    let mut mapper = Mapper::new("s", &spec, &columns).unwrap();
    let invalid = mapper.map(1, &[text("k"), list.clone()]).unwrap_err();
    assert!(invalid.reasons[0].contains("is not text"), "{invalid:?}");
    // Event metadata.
    let events = self::spec(
        "object: event\nbehavior: send\nkey: { column: id, field: event_id }\nevent_name: e\n\
         fields:\n  user_id: id\n  created_at: at\n  metadata.tags: tags\n",
    );
    let columns = cols(&[("id", K::Text), ("at", K::Int), ("tags", K::List)]);
    let mut mapper = Mapper::new("s", &events, &columns).unwrap();
    let invalid = mapper
        .map(1, &[text("k"), Value::Int(NOON), list])
        .unwrap_err();
    assert_eq!(
        invalid.reasons,
        vec!["field `metadata.tags` (column `tags`): the list ['a', 2, null] cannot be event metadata: Intercom's metadata values hold no lists"]
    );
}

#[test]
fn subscriptions_are_booleans_in_the_body_and_a_null_leaves_them_alone() {
    let sync = spec(
        "object: user\nbehavior: update_or_create\nkey: { column: id, field: external_id }\n\
         sync_nulls: true\nfields:\n  subscriptions.News: news\n  subscriptions.Beta: beta\n",
    );
    let columns = cols(&[("id", K::Text), ("news", K::Bool), ("beta", K::Unknown)]);
    let mut m = Mapper::new("s", &sync, &columns).unwrap();
    let row = m
        .map(1, &[text("u1"), Value::Bool(false), Value::Null])
        .unwrap();
    assert_eq!(
        Json::Object(row.body.clone()),
        json!({"external_id": "u1", "role": "user", "subscriptions": {"News": false}}),
        "a null is never sent, not even with sync_nulls"
    );
    let other = m
        .map(2, &[text("u1"), Value::Bool(true), Value::Null])
        .unwrap();
    assert_ne!(
        row.fingerprint, other.fingerprint,
        "a changed preference is a changed row"
    );
    let bad = m
        .map(3, &[text("u2"), text("maybe"), Value::Int(1)])
        .unwrap_err();
    assert_eq!(bad.reasons.len(), 1, "{:?}", bad.reasons);
    assert!(
        bad.reasons[0].starts_with("field `subscriptions.News` (column `news`):"),
        "{:?}",
        bad.reasons
    );
    assert!(
        m.attributes().is_empty(),
        "subscriptions are no data attributes"
    );
}

#[test]
fn a_custom_object_row_is_its_instance_body() {
    let sync = spec(
        "object: custom_object\ncustom_object: Order\nbehavior: update_or_create\n\
         key: { column: order_id, field: external_id }\nfields:\n  external_created_at: placed\n  \
         custom_attributes.amount: amount\n  custom_attributes.status: status\n",
    );
    let columns = cols(&[
        ("order_id", K::Int),
        ("placed", K::Text),
        ("amount", K::Float),
        ("status", K::Text),
    ]);
    let mut m = Mapper::new("s", &sync, &columns).unwrap();
    let row = m
        .map(
            1,
            &[
                Value::Int(7),
                text("2024-01-15"),
                Value::Float(9.5),
                Value::Null,
            ],
        )
        .unwrap();
    assert_eq!(row.key, "7");
    assert_eq!(
        Json::Object(row.body),
        json!({"external_id": "7", "external_created_at": 1_705_276_800, "custom_attributes": {"amount": 9.5}})
    );
    assert!(
        m.attributes().is_empty(),
        "a custom object's attributes are defined on its type: none is created"
    );
    let bad = m
        .map(2, &[Value::Int(8), text("soon"), Value::Null, Value::Null])
        .unwrap_err();
    assert!(
        bad.reasons[0].starts_with("field `external_created_at` (column `placed`)"),
        "{:?}",
        bad.reasons
    );
}

#[test]
fn tags_and_companies_are_lists_outside_the_body_and_fingerprint() {
    let spec = spec(
        "object: user\nbehavior: update_or_create\nkey: { column: id, field: external_id }\n\
         fields:\n  name: n\n  tags: t\n  company_id: c\n  company_ids: cs\n",
    );
    let columns = cols(&[
        ("id", K::Text),
        ("n", K::Text),
        ("t", K::List),
        ("c", K::Text),
        ("cs", K::Text),
    ]);
    let mut mapper = Mapper::new("s", &spec, &columns).unwrap();
    let row = |tags: Value, cs: &str| vec![text("u1"), text("Ann"), tags, text("acme"), text(cs)];
    let a = mapper
        .map(
            1,
            &row(Value::List(vec![text("VIP"), text(" trial ")]), "b, c"),
        )
        .unwrap();
    assert_eq!(a.lists.tags.as_deref().unwrap(), ["VIP", "trial"]);
    assert_eq!(a.lists.companies.as_deref().unwrap(), ["acme", "b", "c"]);
    assert!(!a.body.contains_key("tags") && !a.body.contains_key("company_ids"));
    // Another tag list: same body, same fingerprint — the memo tells the change.
    let b = mapper.map(2, &row(text("beta"), "b")).unwrap();
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(b.lists.tags.as_deref().unwrap(), ["beta"]);
    // A null list is mapped, and empty: what backflow applied is removed.
    let c = mapper.map(3, &row(Value::Null, "")).unwrap();
    assert_eq!(c.lists.tags, Some(vec![]));
    assert_eq!(c.lists.companies.as_deref().unwrap(), ["acme"]);
    // A nested list is the row's error, naming field and column.
    let bad = mapper
        .map(4, &row(Value::List(vec![Value::List(vec![])]), ""))
        .unwrap_err();
    assert!(
        bad.reasons[0]
            .starts_with("field `tags` (column `t`): the list [] is a list inside a list"),
        "{bad:?}"
    );
}
