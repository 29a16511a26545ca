//! Fuzz target: the config parser, through the entry point the functions use.
//!
//! Input: the text of a `backflow.yaml`, optionally followed by a NUL byte and the
//! SQL that every `file:` model reads (the IO layer, `backflow_aws::config_source`,
//! reads those files after parsing; here the text after the NUL stands in for them).
//! Non-UTF-8 input is dropped, as the IO layer refuses it before parsing.
//!
//! Must never panic. An `Err` names the config's origin and a line ≥ 1. An `Ok`
//! config must satisfy what the functions rely on without checking again:
//! - every sync names a defined model and destination, and `load_spec` agrees with it;
//! - every model has exactly one of `sql` / `file`, not blank; afterwards
//!   `model_sql` is `Some` for every model;
//! - every mapped field has a kind for its object, custom-attribute names are
//!   valid, batch sizes are in range, schedules parse and `is_due` answers;
//! - a `Mapper` builds from the columns the sync names (as `extract` does) and
//!   maps rows without panicking;
//! - it re-serializes to YAML that deserializes to the same config, and (when the
//!   text has no `$` for `${VAR}` expansion to act on) parses and validates again.
#![no_main]

use backflow_core::config::fields::{field_kind, FieldKind};
use backflow_core::config::{self, Config, Object, MAX_BATCH_SIZE};
use backflow_core::value::{Column, ColumnKind, Value};
use backflow_core::{mapping::Mapper, schedule, Error};
use libfuzzer_sys::fuzz_target;

const ORIGIN: &str = "fuzz/backflow.yaml";

/// A fixed environment for `${VAR}`: unset, empty and multi-line values included.
fn env(var: &str) -> Option<String> {
    match var {
        "LOCAL_INTERCOM_PORT" => Some("4010".into()),
        v if v.starts_with("UNSET") => None,
        v if v.starts_with("EMPTY") => Some(String::new()),
        v if v.starts_with("NL") => Some("a\n  b: c".into()),
        v => Some(v.to_ascii_lowercase()),
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fuzz_target!(|data: &[u8]| {
    let (yaml, sql) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let (Ok(text), Ok(sql)) = (std::str::from_utf8(yaml), std::str::from_utf8(sql)) else {
        return;
    };
    match config::parse(text, ORIGIN, &env) {
        Ok(config) => check_config(config, sql),
        Err(e) => check_error(text, &e),
    }
});

fn check_error(text: &str, e: &Error) {
    let message = e.to_string();
    assert!(!message.is_empty());
    match e {
        Error::Config { file, line, .. } => {
            assert_eq!(file, ORIGIN);
            if let Some(line) = *line {
                assert!(line >= 1, "line 0: {message}");
                // With no multi-line variable the expanded text has the lines the
                // user wrote, so the line named must be one of them (or one past the
                // end, where YAML reports an unexpected end of input).
                if !text.contains("${NL") {
                    let lines = yaml_lines(text);
                    assert!(
                        line <= lines + 1,
                        "line {line} of {lines}: {message}\n{text:?}"
                    );
                }
            }
        }
        Error::MissingEnv { file, line, var } => {
            assert_eq!(file, ORIGIN);
            assert!(*line >= 1 && var.starts_with("UNSET"), "{message}");
        }
        Error::Sync { file, .. } | Error::Invalid { file, .. } => assert_eq!(file, ORIGIN),
        _ => {}
    }
}

/// The lines of `text` as YAML counts them: `\r\n`, `\r`, `\n`, NEL, LS and PS
/// each end one.
fn yaml_lines(text: &str) -> usize {
    let breaks = text
        .replace("\r\n", "\n")
        .matches(['\r', '\n', '\u{85}', '\u{2028}', '\u{2029}'])
        .count();
    breaks + 1
}

fn check_config(mut config: Config, sql: &str) {
    assert_eq!(config.origin, ORIGIN);

    // Re-serialization: YAML out, the same config back.
    let yaml = serde_yaml_ng::to_string(&config).expect("a parsed config serializes");
    let mut back: Config = serde_yaml_ng::from_str(&yaml)
        .unwrap_or_else(|e| panic!("re-serialized config does not load: {e}\n{yaml}"));
    back.origin = config.origin.clone();
    assert_eq!(back, config, "re-serialized config differs\n{yaml}");
    if !yaml.contains('$') {
        let again = config::parse(&yaml, ORIGIN, &no_env)
            .unwrap_or_else(|e| panic!("re-serialized config is refused: {e}\n{yaml}"));
        assert_eq!(again, config, "re-parsed config differs\n{yaml}");
    }

    // Models: exactly one source, not blank; then the IO layer fills `sql`.
    for (name, model) in config.models.iter_mut() {
        match (&model.sql, &model.file) {
            (Some(s), None) | (None, Some(s)) => assert!(!s.trim().is_empty(), "model {name}"),
            other => panic!("model {name}: {other:?}"),
        }
        if model.file.is_some() {
            model.sql = Some(sql.to_string());
        }
    }
    for name in config.models.keys() {
        assert!(config.model_sql(name).is_some(), "model {name} has no SQL");
    }

    let minute = chrono::DateTime::from_timestamp(1_795_950_840, 0).expect("a valid time");
    for (name, spec) in &config.syncs {
        assert!(
            config.models.contains_key(&spec.model),
            "sync {name}: model"
        );
        let destination = config
            .destinations
            .get(&spec.destination)
            .unwrap_or_else(|| panic!("sync {name}: destination"));
        let load = config
            .load_spec(name, Vec::new())
            .unwrap_or_else(|| panic!("sync {name}: no load spec"));
        assert_eq!(load.sync, *name);
        assert_eq!(
            (load.object, load.behavior, load.key_field),
            (spec.object, spec.behavior, spec.key.field)
        );
        assert_eq!(load.delete_mode, spec.delete_mode());
        assert_eq!(load.destination.access_token, destination.access_token);
        let base = &load.destination.base_url;
        assert!(
            base.starts_with("http://") || base.starts_with("https://"),
            "sync {name}: base_url {base}"
        );
        assert!(!spec.key.column.trim().is_empty());
        assert!((1..=MAX_BATCH_SIZE).contains(&spec.batch_size()));
        if let Some(cron) = &spec.schedule {
            schedule::parse(cron).unwrap_or_else(|e| panic!("sync {name}: {e}"));
            schedule::is_due(cron, minute).unwrap_or_else(|e| panic!("sync {name}: {e}"));
        }
        let mut attributes = 0;
        for field in spec.fields.keys() {
            match field_kind(spec.object, field) {
                None => panic!("sync {name}: field {field} has no kind"),
                Some(FieldKind::CustomAttribute(attr)) => {
                    assert!(!attr.trim().is_empty() && !attr.contains(['.', '$']));
                    attributes += 1;
                }
                Some(_) => {}
            }
        }
        if spec.object == Object::Event {
            assert!(spec.event_name.is_some() != spec.fields.contains_key("event_name"));
            assert!(spec.fields.contains_key("created_at"));
        } else {
            assert!(spec.event_name.is_none());
        }

        // What `extract` does next: a mapper over the model's columns.
        let mut columns = vec![Column {
            name: spec.key.column.clone(),
            kind: ColumnKind::Unknown,
        }];
        for source in spec.fields.values() {
            columns.push(Column {
                name: source.column().to_string(),
                kind: ColumnKind::Text,
            });
        }
        let mut mapper = Mapper::new(name, spec, &columns)
            .unwrap_or_else(|e| panic!("sync {name}: mapper: {e}"));
        assert_eq!(mapper.key_column(), spec.key.column);
        let nulls = vec![Value::Null; columns.len()];
        let invalid = mapper.map(1, &nulls).expect_err("a null key is invalid");
        assert!(!invalid.reasons.is_empty());
        let texts: Vec<Value> = (0..columns.len())
            .map(|i| Value::Text(format!("v{i}@example.com")))
            .collect();
        if let Ok(row) = mapper.map(2, &texts) {
            assert!(!row.key.trim().is_empty());
        }
        let expected = if spec.object == Object::Event {
            0
        } else {
            attributes
        };
        assert_eq!(mapper.attributes().len(), expected, "sync {name}");
    }
}
