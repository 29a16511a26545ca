use proptest::prelude::*;

use super::*;

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

#[test]
fn unix_seconds_from_every_accepted_form() {
    // 2024-01-02T03:04:05Z
    const T: i64 = 1_704_164_645;
    const DAY: i64 = 1_704_153_600; // 2024-01-02T00:00:00Z
    let cases: &[(Value, i64)] = &[
        (Value::Timestamp(T), T),
        (Value::Int(T), T),
        (Value::Int(T * 1000 + 999), T),
        (Value::Int(-1500), -1500), // small: seconds before 1970
        (Value::Int(-100_000_000_500), -100_000_001),
        (Value::Float(T as f64 + 0.75), T),
        (Value::Float(T as f64 * 1000.0), T),
        (text("1704164645"), T),
        (text("1704164645000"), T),
        (text(" 1704164645 "), T),
        (text("2024-01-02T03:04:05Z"), T),
        (text("2024-01-02t03:04:05z"), T),
        (text("2024-01-02T03:04:05.987Z"), T),
        (text("2024-01-02T08:34:05+05:30"), T),
        (text("2024-01-02 03:04:05Z"), T),
        (text("2024-01-02 03:04:05+00"), T),
        (text("2024-01-02 03:04:05.123456+00"), T),
        (text("2024-01-01 22:04:05-0500"), T),
        (text("2024-01-02T03:04:05+0000"), T),
        (text("2024-01-02 03:04:05"), T),
        (text("2024-01-02 03:04:05.5"), T),
        (text("2024-01-02T03:04:05"), T),
        (text("2024-01-02T03:04:05.123"), T),
        (text("2024-01-02"), DAY),
        (text("  2024-01-02\n"), DAY),
    ];
    for (value, want) in cases {
        assert_eq!(to_unix_seconds(value), Ok(*want), "{value:?}");
    }
}

#[test]
fn unix_seconds_refuses_garbage_and_quotes_it() {
    for value in [
        text(""),
        text("yesterday"),
        text("2024-13-01"),
        text("2024-02-30"),
        text("01/02/2024"),
        text("2024-01-02T25:00:00Z"),
        text("+2024-01-02"),
        text("1.5e9"),
        Value::Bool(true),
        Value::Null,
        Value::Float(f64::NAN),
        Value::Float(f64::INFINITY),
        Value::Float(1e300),
    ] {
        assert!(to_unix_seconds(&value).is_err(), "{value:?}");
    }
    let e = to_unix_seconds(&text("yesterday")).unwrap_err();
    assert!(e.0.starts_with("'yesterday' is not a timestamp"), "{e}");
}

#[test]
fn unix_seconds_stay_within_years_0000_to_9999() {
    // Found by fuzz/fuzz_targets/coerce.rs: any i64 used to pass as epoch
    // seconds or milliseconds, `i64::MAX` ms being the year 292 million.
    for value in [
        Value::Int(i64::MAX),
        Value::Int(i64::MIN),
        Value::Int(MAX_UNIX_SECONDS * 1000 + 1000),
        Value::Float(1e17),
        Value::Timestamp(MAX_UNIX_SECONDS + 1),
        Value::Timestamp(MIN_UNIX_SECONDS - 1),
        text("9223372036854775807"),
        text("9999-12-31T23:59:59-00:01"),
    ] {
        let e = to_unix_seconds(&value).unwrap_err();
        assert!(
            e.0.contains("within the years 0000 to 9999"),
            "{value:?}: {e}"
        );
    }
    for (value, want) in [
        (Value::Timestamp(MAX_UNIX_SECONDS), MAX_UNIX_SECONDS),
        (Value::Timestamp(MIN_UNIX_SECONDS), MIN_UNIX_SECONDS),
        (Value::Int(MAX_UNIX_SECONDS * 1000 + 999), MAX_UNIX_SECONDS),
        (text("9999-12-31T23:59:59Z"), MAX_UNIX_SECONDS),
        (text("0000-01-01"), MIN_UNIX_SECONDS),
    ] {
        assert_eq!(to_unix_seconds(&value), Ok(want), "{value:?}");
    }
}

#[test]
fn ints() {
    let ok: &[(Value, i64)] = &[
        (Value::Int(-7), -7),
        (Value::Float(12.0), 12),
        (text(" 42 "), 42),
        (text("42.0"), 42),
        (text("-3"), -3),
    ];
    for (v, want) in ok {
        assert_eq!(to_int(v), Ok(*want), "{v:?}");
    }
    for v in [
        Value::Float(1.5),
        Value::Float(f64::NAN),
        Value::Float(1e19),
        Value::Bool(true),
        text("abc"),
        text("1.5"),
        Value::Timestamp(0),
        Value::Null,
    ] {
        assert!(to_int(&v).is_err(), "{v:?}");
    }
    assert_eq!(
        to_int(&text("abc")).unwrap_err().0,
        "'abc' is not an integer"
    );
}

#[test]
fn floats() {
    assert_eq!(to_float(&Value::Int(3)), Ok(3.0));
    assert_eq!(to_float(&Value::Float(1.25)), Ok(1.25));
    assert_eq!(to_float(&text(" 155.5 ")), Ok(155.5));
    for v in [
        text("abc"),
        text("NaN"),
        text("inf"),
        Value::Bool(false),
        Value::Null,
    ] {
        assert!(to_float(&v).is_err(), "{v:?}");
    }
    assert_eq!(
        to_float(&text("abc")).unwrap_err().0,
        "'abc' is not a number"
    );
}

#[test]
fn bools() {
    for (s, want) in [
        ("true", true),
        ("TRUE", true),
        ("t", true),
        ("Yes", true),
        ("1", true),
        (" false ", false),
        ("F", false),
        ("no", false),
        ("0", false),
    ] {
        assert_eq!(to_bool(&text(s)), Ok(want), "{s}");
    }
    assert_eq!(to_bool(&Value::Int(1)), Ok(true));
    assert_eq!(to_bool(&Value::Int(0)), Ok(false));
    assert_eq!(to_bool(&Value::Bool(true)), Ok(true));
    for v in [
        Value::Int(2),
        text("maybe"),
        text(""),
        Value::Timestamp(1),
        Value::Null,
    ] {
        assert!(to_bool(&v).is_err(), "{v:?}");
    }
    assert_eq!(
        to_bool(&text("maybe")).unwrap_err().0,
        "'maybe' is not a boolean"
    );
}

#[test]
fn texts() {
    assert_eq!(to_text(&text(" a ")).unwrap(), " a ");
    assert_eq!(to_text(&Value::Int(42)).unwrap(), "42");
    assert_eq!(to_text(&Value::Float(42.0)).unwrap(), "42");
    assert_eq!(to_text(&Value::Float(1.5)).unwrap(), "1.5");
    assert_eq!(to_text(&Value::Bool(true)).unwrap(), "true");
    assert_eq!(
        to_text(&Value::Timestamp(1_704_164_645)).unwrap(),
        "2024-01-02T03:04:05Z"
    );
    assert!(to_text(&Value::Null).is_err());
    assert!(to_text(&Value::Float(f64::NAN)).is_err());
    assert!(to_text(&Value::Timestamp(i64::MAX)).is_err());
}

#[test]
fn json_per_data_type() {
    use serde_json::json;
    let cases: &[(Value, DataType, serde_json::Value)] = &[
        (Value::Int(5), DataType::String, json!("5")),
        (text("5"), DataType::Integer, json!(5)),
        (Value::Float(155.0), DataType::Float, json!(155)),
        (Value::Float(155.5), DataType::Float, json!(155.5)),
        (text("yes"), DataType::Boolean, json!(true)),
        (text("2024-01-02"), DataType::Date, json!(1_704_153_600)),
        (Value::Null, DataType::Integer, json!(null)),
    ];
    for (v, dt, want) in cases {
        assert_eq!(&to_json(v, *dt).unwrap(), want, "{v:?} as {dt:?}");
    }
    assert!(to_json(&text("abc"), DataType::Float).is_err());
}

#[test]
fn emails() {
    assert_eq!(check_email(" Ann@Example.com ").unwrap(), "Ann@Example.com");
    assert_eq!(
        check_email("a+tag@sub.example.co.uk").unwrap(),
        "a+tag@sub.example.co.uk"
    );
    for bad in [
        "",
        "ann",
        "@example.com",
        "ann@",
        "ann@example",
        "ann@@example.com",
        "a@b@example.com",
        "ann smith@example.com",
        "ann@.example.com",
        "ann@example.com.",
        "ann@example..com",
    ] {
        assert!(check_email(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        check_email("ann").unwrap_err().0,
        "'ann' is not a valid email"
    );
}

#[test]
fn data_type_inference() {
    use ColumnKind as K;
    let cases: &[(ColumnKind, Option<Value>, DataType)] = &[
        (K::Bool, None, DataType::Boolean),
        (K::Int, Some(text("x")), DataType::Integer),
        (K::Float, None, DataType::Float),
        (K::Timestamp, None, DataType::Date),
        (K::Date, None, DataType::Date),
        (K::Text, Some(Value::Int(1)), DataType::String),
        (K::Unknown, None, DataType::String),
        (K::Unknown, Some(Value::Int(1)), DataType::Integer),
        (K::Unknown, Some(Value::Float(1.5)), DataType::Float),
        (K::Unknown, Some(Value::Bool(true)), DataType::Boolean),
        (K::Unknown, Some(Value::Timestamp(0)), DataType::Date),
        (K::Unknown, Some(text("2024-01-02")), DataType::String),
    ];
    for (kind, value, want) in cases {
        assert_eq!(
            infer_data_type(*kind, value.as_ref()),
            *want,
            "{kind:?} {value:?}"
        );
    }
}

#[test]
fn date_names_and_date_named_inference() {
    for (name, want) in [
        ("trial_ends_at", true),
        ("TRIAL_ENDS_AT", true),
        ("renewal_date", true),
        ("Renewal_Date", true),
        ("at", false),
        ("format", false),
        ("chat", false),
        ("date", false),
        ("update", false),
        ("trial_ends", false),
        ("_at", true),
    ] {
        assert_eq!(is_date_name(name), want, "{name}");
    }
    use ColumnKind as K;
    let cases: &[(ColumnKind, Value, DataType)] = &[
        (K::Text, text("2026-01-01 12:00:00"), DataType::Date),
        (K::Text, text("2026-01-01"), DataType::Date),
        (K::Text, text("2026-01-01T12:00:00+01:00"), DataType::Date),
        (K::Text, text("1767268800"), DataType::Date),
        (K::Text, text("soon"), DataType::String),
        (K::Text, text("01/02/2026"), DataType::String),
        (K::Int, Value::Int(1_767_268_800), DataType::Date),
        (K::Int, Value::Int(1_767_268_800_000), DataType::Date),
        // Beyond the year 9999 even as milliseconds: a number, not a date.
        (K::Int, Value::Int(i64::MAX), DataType::Integer),
        (K::Float, Value::Float(1.5e9), DataType::Date),
        (K::Float, Value::Float(f64::NAN), DataType::Float),
        (K::Unknown, text("2026-01-01"), DataType::Date),
        (K::Unknown, Value::Bool(true), DataType::Boolean),
        (K::Unknown, text("n/a"), DataType::String),
    ];
    for (kind, value, want) in cases {
        assert_eq!(
            infer_date_named_type(*kind, value),
            *want,
            "{kind:?} {value:?}"
        );
    }
    assert!(kind_may_hold_dates(K::Text) && kind_may_hold_dates(K::Unknown));
    assert!(!kind_may_hold_dates(K::Bool) && !kind_may_hold_dates(K::List));
}

#[test]
fn lists_are_refused_by_every_coercion() {
    let list = Value::List(vec![
        text("vip"),
        Value::Int(2),
        Value::List(vec![Value::Null]),
    ]);
    assert_eq!(list.quoted(), "the list ['vip', 2, [null]]");
    for data_type in [
        DataType::String,
        DataType::Integer,
        DataType::Float,
        DataType::Boolean,
        DataType::Date,
    ] {
        let e = to_json(&list, data_type).unwrap_err();
        assert!(e.0.starts_with("the list ['vip', 2, [null]] is not"), "{e}");
    }
    // A huge list is cut in messages, like text.
    let huge = Value::List((0..100_000).map(Value::Int).collect());
    let quoted = huge.quoted();
    assert!(
        quoted.chars().count() < 80 && quoted.ends_with("…]"),
        "{quoted}"
    );
    let deep = (0..1000).fold(Value::Null, |inner, _| Value::List(vec![inner]));
    assert!(deep.quoted().chars().count() < 80);
    assert_eq!(infer_data_type(ColumnKind::List, None), DataType::String);
}

#[test]
fn long_text_is_cut_in_messages() {
    let long = "x".repeat(500);
    let e = to_int(&text(&long)).unwrap_err();
    assert!(e.0.len() < 100, "{e}");
    assert!(e.0.contains('…'));
}

proptest! {
    #[test]
    fn unix_seconds_never_panics_on_text(s in ".*") {
        let _ = to_unix_seconds(&Value::Text(s));
    }

    #[test]
    fn unix_seconds_never_panics_on_timestamp_like_text(
        s in "[0-9+-]{0,6}-[0-9]{1,3}-[0-9]{1,3}[T ][0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{0,12})?(Z|[+-][0-9]{1,4}(:[0-9]{2})?)?"
    ) {
        let _ = to_unix_seconds(&Value::Text(s));
    }

    #[test]
    fn unix_seconds_never_panics_on_numbers(n in any::<i64>(), f in any::<f64>()) {
        let _ = to_unix_seconds(&Value::Int(n));
        let _ = to_unix_seconds(&Value::Float(f));
    }

    #[test]
    fn rfc3339_round_trips(secs in -62_135_596_800i64..253_402_300_799) {
        // Years 0001..=9999: what RFC 3339 can write.
        let t = to_text(&Value::Timestamp(secs)).unwrap();
        prop_assert_eq!(to_unix_seconds(&Value::Text(t)), Ok(secs));
    }

    #[test]
    fn integral_floats_are_ints(n in -(1i64 << 53)..(1i64 << 53)) {
        prop_assert_eq!(to_int(&Value::Float(n as f64)), Ok(n));
        prop_assert_eq!(number_json(n as f64), serde_json::json!(n));
    }
}
