use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse_str(text: &str) -> Result<Config, Error> {
    parse(text, "backflow.yaml", &no_env)
}

/// The example config users are given, verbatim (every documented key in one
/// file): it must keep parsing.
const PRODUCT_EXAMPLE: &str = r#"warehouse:
  type: sqlite                 # sqlite | postgres | mysql
  path: warehouse.db           # sqlite: relative to this file
  # url: { secret: backflow/warehouse, key: url }   # postgres / mysql, from Secrets Manager

destinations:
  intercom:
    type: intercom
    access_token: { secret: backflow/intercom, key: access_token }
    region: us                 # us | eu | au
    # base_url: http://127.0.0.1:4010   # overrides region (the emulator)

models:
  users:
    sql: select id, email, full_name, ltv, trial_ends_at, company_id from app_users
  companies:
    file: models/companies.sql

syncs:
  users_to_intercom:
    model: users
    destination: intercom
    object: user
    behavior: update_or_create
    key: { column: id, field: external_id }
    fields:
      email: email
      name: full_name
      custom_attributes.lifetime_value: ltv
      custom_attributes.trial_ends_at: trial_ends_at
      company_id: company_id
    schedule: "*/30 * * * *"   # cron, UTC; optional

  signups:
    model: signup_events
    destination: intercom
    object: event
    behavior: send
    key: { column: event_id, field: event_id }
    event_name: signed-up
    fields:
      user_id: user_id
      created_at: occurred_at
      metadata.plan: plan
"#;

#[test]
fn product_example_names_its_missing_model() {
    // The example's `signups` sync uses a model the example does not define.
    let e = parse_str(PRODUCT_EXAMPLE).unwrap_err();
    assert_eq!(
        e.to_string(),
        "backflow.yaml: sync `signups`: `model: signup_events` names no model (models: companies, users)"
    );
}

#[test]
fn product_example_parses() {
    let text = PRODUCT_EXAMPLE.replace(
        "  companies:\n",
        "  signup_events:\n    sql: select event_id, user_id, occurred_at, plan from signups\n  companies:\n",
    );
    let config = parse_str(&text).unwrap();
    assert_eq!(config.origin, "backflow.yaml");
    assert_eq!(
        config.warehouse,
        Some(Warehouse::Sqlite {
            path: "warehouse.db".into()
        })
    );
    assert_eq!(
        config.warehouse_for("users"),
        Some((
            "warehouse",
            &Warehouse::Sqlite {
                path: "warehouse.db".into()
            }
        ))
    );
    let dest = &config.destinations["intercom"];
    assert_eq!(dest.effective_base_url(), "https://api.intercom.io");
    assert_eq!(dest.access_token.secret, "backflow/intercom");
    let users = config.sync("users_to_intercom").unwrap();
    assert_eq!(users.object, Object::User);
    assert_eq!(users.behavior, Behavior::UpdateOrCreate);
    assert_eq!(users.key.field, KeyField::ExternalId);
    assert_eq!(users.fields["custom_attributes.lifetime_value"], "ltv");
    assert_eq!(users.schedule.as_deref(), Some("*/30 * * * *"));
    assert!(users.create_attributes);
    assert!(!users.sync_nulls);
    assert_eq!(users.batch_size(), 1000);
    let signups = config.sync("signups").unwrap();
    assert_eq!(signups.event_name.as_deref(), Some("signed-up"));
    assert!(config.model_sql("users").unwrap().starts_with("select id"));
    assert_eq!(config.model_sql("companies"), None); // `file`: the IO layer reads it
    assert_eq!(config.model_sql("nope"), None);
    assert!(config.sync("nope").is_none());
    let load = config.load_spec("users_to_intercom", vec![]).unwrap();
    assert_eq!(load.destination.region.as_deref(), Some("us"));
    assert_eq!(load.key_field, KeyField::ExternalId);
}

/// A valid config with one sync `s` whose body (indented 4) is `sync`.
fn with_sync(sync: &str) -> String {
    format!(
        "warehouse:\n  type: sqlite\n  path: w.db\n\
         destinations:\n  ic:\n    type: intercom\n    access_token: {{ secret: s, key: k }}\n\
         models:\n  m:\n    sql: select 1\n\
         syncs:\n  s:\n{sync}"
    )
}

const USER_SYNC: &str = "    model: m\n    destination: ic\n    object: user\n    behavior: update_or_create\n    key: { column: id, field: external_id }\n";

fn config_error(text: &str) -> (Option<usize>, String) {
    match parse_str(text) {
        Err(Error::Config { line, message, .. }) => (line, message),
        other => panic!("expected a config error, got {other:?}\n{text}"),
    }
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    let cases = [
        // (text, line, key)
        (format!("{}bogus: 1\n", with_sync(USER_SYNC)), 18, "bogus"),
        (format!("{USER_SYNC}    colour: red\n"), 0, "colour"),
        (
            USER_SYNC.replace("field: external_id }", "field: external_id, col: x }"),
            0,
            "col",
        ),
        (
            "warehouse:\n  type: sqlite\n  path: w.db\n  passwd: x\ndestinations: {}\nmodels: {}\nsyncs: {}\n"
                .to_string(),
            4,
            "passwd",
        ),
        (
            "warehouse:\n  type: sqlite\n  path: w.db\ndestinations:\n  ic:\n    type: intercom\n    access_token: { secret: s, key: k, version: 2 }\nmodels: {}\nsyncs: {}\n"
                .to_string(),
            7,
            "version",
        ),
    ];
    for (i, (text, line, key)) in cases.into_iter().enumerate() {
        let text = if text.starts_with("    model") {
            with_sync(&text)
        } else {
            text
        };
        let (got_line, message) = config_error(&text);
        let want_line = if line == 0 {
            // In the sync: the line of the key in the generated text.
            text.lines().position(|l| l.contains(key)).unwrap() + 1
        } else {
            line
        };
        assert_eq!(got_line, Some(want_line), "case {i}: {message}");
        assert!(
            message.contains(&format!("unknown field `{key}`")),
            "case {i}: {message}"
        );
    }
    let e = parse_str("destinations: {}\nmodels: {}\nsyncs: {}\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "backflow.yaml: no warehouse: set `warehouse:` (one warehouse) or `warehouses:` \
         (several, by name)"
    );
}

#[test]
fn an_empty_unknown_key_is_an_error_not_a_hang() {
    // Found by fuzz/fuzz_targets/config_parse.rs: looking for the line of the
    // unknown key `` looped forever, so the function parsing the config hung.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let texts = [
            format!("{}\"\": 1\n", with_sync(USER_SYNC)),
            with_sync(&format!("{USER_SYNC}    '': x\n")),
        ];
        let results: Vec<_> = texts.iter().map(|t| config_error(t)).collect();
        let _ = tx.send(results);
    });
    let results = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("parse returns");
    for (line, message) in results {
        assert!(line.is_some(), "{message}");
        assert!(message.contains("unknown field ``"), "{message}");
    }
}

#[test]
fn unknown_key_error_reads_well() {
    let text = with_sync(&format!("{USER_SYNC}    colour: red\n"));
    let e = parse_str(&text).unwrap_err().to_string();
    assert_eq!(
        e,
        "backflow.yaml:18: syncs.s: unknown field `colour`, expected one of `model`, \
         `destination`, `object`, `behavior`, `key`, `fields`, `schedule`, `event_name`, \
         `custom_object`, `create_attributes`, `sync_nulls`, `max_removals`, `delete`, `batch_size`, `tags_mode`, `after`, `alerts`"
    );
}

#[test]
fn yaml_type_errors_have_lines() {
    let (line, message) = config_error(&with_sync(
        &USER_SYNC.replace("object: user", "object: person"),
    ));
    assert_eq!(line, Some(15));
    assert!(message.contains("unknown variant `person`"), "{message}");
    let (line, message) = config_error(&with_sync(&format!("{USER_SYNC}    batch_size: many\n")));
    assert_eq!(line, Some(18));
    assert!(message.contains("batch_size"), "{message}");
    let (_, message) = config_error(
        "warehouse:\n  type: postgres\n  url: [1]\ndestinations: {}\nmodels: {}\nsyncs: {}\n",
    );
    assert!(message.contains("secret"), "{message}");
    let (line, _) = config_error("warehouse: [\n");
    assert!(line.is_some());
}

#[test]
fn env_vars_are_expanded_or_named() {
    let text = "warehouse:\n  type: postgres\n  url: ${PG_URL}\ndestinations:\n  ic:\n    type: intercom\n    access_token: { secret: s, key: k }\n    base_url: ${EMU}\nmodels: {}\nsyncs: {}\n";
    let env = |v: &str| match v {
        "PG_URL" => Some("postgres://localhost/db".to_string()),
        _ => None,
    };
    assert_eq!(
        parse(text, "c.yaml", &env).unwrap_err(),
        Error::MissingEnv {
            file: "c.yaml".into(),
            line: 8,
            var: "EMU".into()
        }
    );
    let env = |v: &str| match v {
        "PG_URL" => Some("postgres://localhost/db".to_string()),
        "EMU" => Some("http://127.0.0.1:4010/".to_string()),
        _ => None,
    };
    let config = parse(text, "c.yaml", &env).unwrap();
    assert_eq!(
        config.warehouse,
        Some(Warehouse::Postgres {
            url: UrlSource::Literal("postgres://localhost/db".into())
        })
    );
    let dest = &config.destinations["ic"];
    assert_eq!(dest.effective_base_url(), "http://127.0.0.1:4010");
    assert_eq!(dest.spec().region, None);
}

/// Parses a config whose sync `s` is `sync`; the validation message or "ok".
fn check(sync: &str) -> String {
    match parse_str(&with_sync(sync)) {
        Ok(_) => "ok".to_string(),
        Err(Error::Sync { sync, message, .. }) => {
            assert_eq!(sync, "s");
            message
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
}

fn sync(object: &str, behavior: &str, key_field: &str, extra: &str) -> String {
    format!(
        "    model: m\n    destination: ic\n    object: {object}\n    behavior: {behavior}\n    key: {{ column: k, field: {key_field} }}\n{extra}"
    )
}

const EVENT_OK: &str =
    "    event_name: signed-up\n    fields:\n      created_at: at\n      user_id: uid\n";

#[test]
fn objects_behaviors_and_keys() {
    let contact_behaviors = ["update_or_create", "update_only", "delete", "mirror"];
    let all = [
        "update_or_create",
        "update_only",
        "delete",
        "mirror",
        "send",
    ];
    for object in ["contact", "lead", "user"] {
        for behavior in all {
            for key in ["email", "external_id", "id", "company_id", "event_id"] {
                let got = check(&sync(object, behavior, key, ""));
                let allowed = contact_behaviors.contains(&behavior)
                    && ["email", "external_id", "id"].contains(&key)
                    && (key != "id" || ["update_only", "delete"].contains(&behavior));
                assert_eq!(got == "ok", allowed, "{object} {behavior} {key}: {got}");
                if !allowed {
                    let named = got.contains(&format!("behavior: {behavior}"))
                        || got.contains(&format!("key.field: {key}"));
                    assert!(named, "{got}");
                }
            }
        }
    }
    for behavior in all {
        for key in ["company_id", "email", "event_id"] {
            let got = check(&sync("company", behavior, key, ""));
            let allowed =
                ["update_or_create", "delete", "mirror"].contains(&behavior) && key == "company_id";
            assert_eq!(got == "ok", allowed, "company {behavior} {key}: {got}");
        }
    }
    for behavior in all {
        for key in ["event_id", "email", "id"] {
            let got = check(&sync("event", behavior, key, EVENT_OK));
            let allowed = behavior == "send" && key == "event_id";
            assert_eq!(got == "ok", allowed, "event {behavior} {key}: {got}");
        }
    }
    assert_eq!(
        check(&sync("user", "mirror", "id", "")),
        "`key.field: id` (the Intercom id) is allowed only with behavior update_only or delete, \
         not mirror: backflow cannot create a record with a given Intercom id"
    );
    assert_eq!(
        check(&sync("company", "update_only", "company_id", "")),
        "`behavior: update_only` is not allowed for object `company` (allowed: update_or_create, delete, mirror)"
    );
}

#[test]
fn fields_per_object() {
    let contact_fields = "    fields:\n      email: k\n      external_id: x\n      name: n\n      phone: p\n      avatar: a\n      signed_up_at: s\n      last_seen_at: l\n      owner_id: o\n      unsubscribed_from_emails: u\n      company_id: c\n      custom_attributes.plan_name: pn\n";
    assert_eq!(
        check(&sync("user", "update_or_create", "email", contact_fields)),
        "ok"
    );
    let with_role = format!("{contact_fields}      role: r\n");
    assert_eq!(
        check(&sync("contact", "update_or_create", "email", &with_role)),
        "ok"
    );
    let got = check(&sync("lead", "update_or_create", "email", &with_role));
    assert!(
        got.starts_with("`fields.role` is not a field of object `lead`"),
        "{got}"
    );
    let company_fields = "    fields:\n      name: n\n      plan: p\n      size: s\n      website: w\n      industry: i\n      monthly_spend: m\n      remote_created_at: r\n      custom_attributes.tier: t\n";
    assert_eq!(
        check(&sync("company", "mirror", "company_id", company_fields)),
        "ok"
    );
    for (object, key, bad) in [
        ("company", "company_id", "email"),
        ("company", "company_id", "company_id"),
        ("user", "email", "plan"),
        ("user", "email", "metadata.x"),
        ("user", "email", "custom_attribute.x"),
        ("event", "event_id", "custom_attributes.x"),
        ("event", "event_id", "name"),
    ] {
        let extra = if object == "event" {
            format!("{EVENT_OK}      {bad}: c\n")
        } else {
            format!("    fields:\n      {bad}: c\n")
        };
        let got = check(&sync(object, "update_or_create", key, &extra).replace(
            "behavior: update_or_create",
            if object == "event" {
                "behavior: send"
            } else {
                "behavior: update_or_create"
            },
        ));
        assert!(
            got.starts_with(&format!(
                "`fields.{bad}` is not a field of object `{object}` (allowed: "
            )),
            "{object} {bad}: {got}"
        );
    }
}

#[test]
fn tags_and_company_lists() {
    let tags = "    fields:\n      tags: t\n";
    for object in ["user", "lead", "contact"] {
        let key = "email";
        assert_eq!(check(&sync(object, "update_or_create", key, tags)), "ok");
        let both = "    fields:\n      company_id: c\n      company_ids: cs\n      tags: t\n    tags_mode: exact\n";
        assert_eq!(check(&sync(object, "update_only", key, both)), "ok");
    }
    assert_eq!(
        check(&sync(
            "company",
            "update_or_create",
            "company_id",
            &format!("{tags}    tags_mode: keep\n")
        )),
        "ok"
    );
    let got = check(&sync(
        "company",
        "update_or_create",
        "company_id",
        "    fields:\n      company_ids: c\n",
    ));
    assert!(
        got.starts_with("`fields.company_ids` is not a field of object `company`"),
        "{got}"
    );
    let got = check(&sync(
        "user",
        "update_or_create",
        "email",
        "    tags_mode: exact\n",
    ));
    assert_eq!(
        got,
        "`tags_mode` needs `fields.tags` (the column listing the tags)"
    );
    let bad = sync(
        "user",
        "update_or_create",
        "email",
        &format!("{tags}    tags_mode: all\n"),
    );
    match parse_str(&with_sync(&bad)) {
        Err(Error::Config { message, line, .. }) => {
            assert!(message.contains("unknown variant `all`"), "{message}");
            assert!(line.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn custom_attribute_names() {
    for (name, ok) in [
        ("ltv", true),
        ("Plan Name", true),
        ("", false),
        ("a.b", false),
        ("a$b", false),
    ] {
        let got = check(&sync(
            "user",
            "update_or_create",
            "email",
            &format!("    fields:\n      \"custom_attributes.{name}\": c\n"),
        ));
        assert_eq!(got == "ok", ok, "{name:?}: {got}");
        if !ok {
            assert!(
                got.contains(&format!("`fields.custom_attributes.{name}`")),
                "{got}"
            );
        }
    }
}

#[test]
fn key_field_must_not_map_another_column() {
    let same = "    fields:\n      external_id: k\n";
    assert_eq!(
        check(&sync("user", "update_or_create", "external_id", same)),
        "ok"
    );
    let other = "    fields:\n      external_id: other\n";
    let got = check(&sync("user", "update_or_create", "external_id", other));
    assert!(
        got.starts_with(
            "`fields.external_id: other` contradicts `key: { column: k, field: external_id }`"
        ),
        "{got}"
    );
    let got = check(&sync(
        "contact",
        "update_or_create",
        "email",
        "    fields:\n      email: mail\n",
    ));
    assert!(got.contains("contradicts"), "{got}");
}

#[test]
fn event_rules() {
    let ev = |extra: &str| check(&sync("event", "send", "event_id", extra));
    assert_eq!(ev(EVENT_OK), "ok");
    assert_eq!(
        ev("    fields:\n      event_name: name\n      created_at: at\n      email: e\n      metadata: meta\n"),
        "ok"
    );
    let cases = [
        ("    fields:\n      created_at: at\n      user_id: u\n", "an event needs a name"),
        (
            "    event_name: x\n    fields:\n      event_name: n\n      created_at: at\n      user_id: u\n",
            "not both",
        ),
        ("    event_name: \" \"\n    fields:\n      created_at: at\n      user_id: u\n", "`event_name` is empty"),
        ("    event_name: x\n    fields:\n      user_id: u\n", "`fields.created_at`"),
        ("    event_name: x\n    fields:\n      created_at: at\n", "found none"),
        (
            "    event_name: x\n    fields:\n      created_at: at\n      user_id: u\n      email: e\n",
            "found `fields.user_id`, `fields.email`",
        ),
        ("    event_name: x\n    fields:\n      created_at: at\n      id: i\n      \"metadata.\": m\n", "metadata key is empty"),
    ];
    for (extra, want) in cases {
        let got = ev(extra);
        assert!(got.contains(want), "{extra}: {got}");
    }
    let meta = |n: usize| {
        let mut extra = EVENT_OK.to_string();
        for i in 0..n {
            extra.push_str(&format!("      metadata.k{i}: c{i}\n"));
        }
        ev(&extra)
    };
    assert_eq!(meta(10), "ok");
    // More than 10 mappings are allowed: the limit is per event, after nulls are
    // dropped, and a row over it is reported invalid (see mapping).
    assert_eq!(meta(11), "ok");
    let got = check(&sync(
        "user",
        "update_or_create",
        "email",
        "    event_name: x\n",
    ));
    assert_eq!(got, "`event_name` is only for object `event`, not `user`");
}

#[test]
fn option_rules() {
    let cases = [
        (sync("user", "delete", "email", "    delete: { mode: permanent }\n"), "ok"),
        (sync("user", "delete", "email", "    delete: { mode: archive }\n"), "ok"),
        (sync("user", "mirror", "email", "    delete: { mode: permanent }\n"), "`delete` is only for behavior delete, not mirror"),
        (sync("user", "mirror", "email", "    max_removals: 50\n"), "ok"),
        (sync("company", "update_or_create", "company_id", "    max_removals: 50\n"), "`max_removals` is only for behavior mirror, not update_or_create"),
        (sync("user", "mirror", "email", "    schedule: \"0 9 * * MON-FRI\"\n"), "ok"),
        (sync("user", "mirror", "email", "    schedule: \"every day\"\n"), "`schedule`: `every day` is not a 5-field cron expression (minute hour day-of-month month day-of-week, UTC)"),
        (sync("user", "mirror", "email", "    schedule: \"0 0 9 * * *\"\n"), "`schedule`: `0 0 9 * * *` is not a 5-field cron expression (minute hour day-of-month month day-of-week, UTC)"),
        (sync("user", "mirror", "email", "    batch_size: 1\n"), "ok"),
        (sync("user", "mirror", "email", "    batch_size: 10000\n"), "ok"),
        (sync("user", "mirror", "email", "    batch_size: 0\n"), "`batch_size: 0` is out of range (1 to 10000)"),
        (sync("user", "mirror", "email", "    batch_size: 10001\n"), "`batch_size: 10001` is out of range (1 to 10000)"),
    ];
    for (text, want) in cases {
        assert_eq!(check(&text), want, "{text}");
    }
    let got = check(&sync(
        "user",
        "mirror",
        "email",
        "    schedule: \"61 * * * *\"\n",
    ));
    assert!(
        got.starts_with("`schedule`: `61 * * * *` is not a valid cron expression"),
        "{got}"
    );
}

#[test]
fn references_and_models() {
    let got = check(&USER_SYNC.replace("model: m", "model: nope"));
    assert_eq!(got, "`model: nope` names no model (models: m)");
    let got = check(&USER_SYNC.replace("destination: ic", "destination: x"));
    assert_eq!(
        got,
        "`destination: x` names no destination (destinations: ic)"
    );
    for (models, want) in [
        (
            "  m:\n    sql: select 1\n    file: m.sql\n",
            "model `m`: set either `sql` or `file`, not both",
        ),
        (
            "  m: {}\n",
            "model `m`: set `sql` (a query) or `file` (a .sql file)",
        ),
        ("  m:\n    sql: \"\"\n", "model `m`: `sql` is empty"),
    ] {
        let text = with_sync(USER_SYNC).replace("  m:\n    sql: select 1\n", models);
        assert_eq!(
            parse_str(&text).unwrap_err(),
            Error::Invalid {
                file: "backflow.yaml".into(),
                message: want.into()
            }
        );
    }
    let text = with_sync(USER_SYNC).replace("key: k }\n", "key: k }\n    base_url: ftp://x\n");
    let e = parse_str(&text).unwrap_err().to_string();
    assert!(
        e.contains("`base_url` must start with http:// or https://"),
        "{e}"
    );
}

#[test]
fn the_long_form_declares_a_custom_attribute_type() {
    let text = with_sync(&format!(
        "{USER_SYNC}    fields:\n      email: email\n      \
         custom_attributes.trial_ends_at: {{ column: trial_end, type: date }}\n      \
         custom_attributes.seats:\n        column: seats\n        type: integer\n"
    ));
    let config = parse_str(&text).unwrap();
    let fields = &config.syncs["s"].fields;
    assert_eq!(fields["email"], FieldSource::Column("email".into()));
    assert_eq!(
        fields["custom_attributes.trial_ends_at"],
        FieldSource::Typed(TypedColumn {
            column: "trial_end".into(),
            data_type: DataType::Date,
        })
    );
    assert_eq!(fields["custom_attributes.seats"].column(), "seats");
    assert_eq!(
        fields["custom_attributes.seats"].data_type(),
        Some(DataType::Integer)
    );
    for t in ["string", "integer", "float", "boolean", "date"] {
        let text = with_sync(&format!(
            "{USER_SYNC}    fields:\n      custom_attributes.x: {{ column: c, type: {t} }}\n"
        ));
        let config = parse_str(&text).unwrap();
        let declared = config.syncs["s"].fields["custom_attributes.x"].data_type();
        assert_eq!(declared.map(DataType::as_str), Some(t));
    }
}

#[test]
fn long_form_mistakes_name_the_sync_field_and_line() {
    let field = |source: &str| {
        with_sync(&format!(
            "{USER_SYNC}    fields:\n      email: email\n      custom_attributes.trial: {source}\n"
        ))
    };
    // An unknown type: the sync, the field and the types there are.
    let (line, message) = config_error(&field("{ column: trial_end, type: datetime }"));
    assert_eq!(line, Some(20), "{message}");
    assert!(
        message.contains("syncs.s.fields.custom_attributes.trial")
            && message.contains("unknown variant `datetime`, expected one of `string`, `integer`, `float`, `boolean`, `date`"),
        "{message}"
    );
    // A misspelt key of the long form.
    let (line, message) = config_error(&field("{ colum: trial_end, type: date }"));
    assert_eq!(line, Some(20), "{message}");
    assert!(
        message.contains("unknown field `colum`, expected `column` or `type`"),
        "{message}"
    );
    // Both keys are needed.
    let (_, message) = config_error(&field("{ column: trial_end }"));
    assert!(message.contains("missing field `type`"), "{message}");
    // Neither a name nor the long form.
    let (_, message) = config_error(&field("[trial_end]"));
    assert!(
        message.contains("a column name or { column: <column>, type:"),
        "{message}"
    );
    // Only custom attributes take a type.
    let got = check(&format!(
        "{USER_SYNC}    fields:\n      signed_up_at: {{ column: created, type: date }}\n"
    ));
    assert!(
        got.starts_with(
            "`fields.signed_up_at: { column: created, type: date }`: only custom attributes"
        ),
        "{got}"
    );
    // An empty column is refused in either form.
    let got = check(&format!(
        "{USER_SYNC}    fields:\n      custom_attributes.x: {{ column: \" \", type: date }}\n"
    ));
    assert_eq!(got, "`fields.custom_attributes.x` names no column");
}

#[test]
fn custom_objects_name_their_type_and_take_external_id() {
    let order = "    custom_object: Order\n";
    for behavior in ["update_or_create", "delete", "mirror"] {
        assert_eq!(
            check(&sync("custom_object", behavior, "external_id", order)),
            "ok"
        );
    }
    for (behavior, key) in [("update_only", "external_id"), ("send", "external_id")] {
        let got = check(&sync("custom_object", behavior, key, order));
        assert!(
            got.contains(&format!(
                "`behavior: {behavior}` is not allowed for object `custom_object`"
            )),
            "{got}"
        );
    }
    for key in ["email", "id", "company_id"] {
        let got = check(&sync("custom_object", "update_or_create", key, order));
        assert_eq!(got, format!("`key.field: {key}` is not allowed for object `custom_object` (allowed: external_id)"));
    }
    let got = check(&sync(
        "custom_object",
        "update_or_create",
        "external_id",
        "",
    ));
    assert!(
        got.starts_with("object `custom_object` needs `custom_object: <type>`"),
        "{got}"
    );
    let got = check(&sync("user", "update_or_create", "external_id", order));
    assert_eq!(
        got,
        "`custom_object` is only for object `custom_object`, not `user`"
    );
    let got = check(&sync(
        "custom_object",
        "delete",
        "external_id",
        "    custom_object: Order\n    delete: { mode: permanent }\n",
    ));
    assert!(
        got.contains("Intercom deletes an instance for good"),
        "{got}"
    );
    let fields = "    fields:\n      external_created_at: c\n      external_updated_at: u\n      custom_attributes.amount: a\n      external_id: k\n";
    assert_eq!(
        check(&sync(
            "custom_object",
            "update_or_create",
            "external_id",
            &format!("{order}{fields}")
        )),
        "ok"
    );
    let got = check(&sync(
        "custom_object",
        "update_or_create",
        "external_id",
        &format!("{order}    fields:\n      name: n\n"),
    ));
    assert_eq!(got, "`fields.name` is not a field of object `custom_object` (allowed: external_id, external_created_at, external_updated_at, custom_attributes.<name>)");
    let config = parse_str(&with_sync(&sync(
        "custom_object",
        "mirror",
        "external_id",
        order,
    )))
    .unwrap();
    let load = config.load_spec("s", vec![]).unwrap();
    assert_eq!(
        (load.object, load.custom_object.as_deref()),
        (Object::CustomObject, Some("Order"))
    );
}

#[test]
fn subscriptions_are_contact_fields() {
    let fields = "    fields:\n      subscriptions.Product news: n\n";
    for object in ["user", "lead", "contact"] {
        assert_eq!(
            check(&sync(object, "update_or_create", "external_id", fields)),
            "ok",
            "{object}"
        );
    }
    let got = check(&sync("company", "update_or_create", "company_id", fields));
    assert!(
        got.starts_with("`fields.subscriptions.Product news` is not a field of object `company`"),
        "{got}"
    );
    let got = check(&sync(
        "user",
        "update_or_create",
        "external_id",
        "    fields:\n      subscriptions.: n\n",
    ));
    assert_eq!(
        got,
        "`fields.subscriptions.`: the subscription type name is empty"
    );
    let config = parse_str(&with_sync(&sync(
        "user",
        "update_or_create",
        "external_id",
        fields,
    )))
    .unwrap();
    assert_eq!(
        crate::subscriptions::mapped_names(&config.syncs["s"]),
        vec!["Product news"]
    );
}

#[test]
fn after_names_other_syncs_each_once() {
    for (extra, says) in [
        ("    after: [s]\n", "`after: s` names this sync itself"),
        (
            "    after: [nope]\n",
            "`after: nope` names no sync (syncs: s)",
        ),
        ("    after: []\n", "ok"),
        ("    after: nope\n", "invalid type"),
    ] {
        let text = with_sync(&format!("{USER_SYNC}{extra}"));
        let message = match parse_str(&text) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert!(message.contains(says), "{extra}: {message}");
    }
}

/// Three syncs `a`, `b`, `c` with the given `after:` lists.
fn chained(a: &str, b: &str, c: &str) -> String {
    let mut text = with_sync(USER_SYNC).replace("  s:\n", "  a:\n");
    text.push_str(&format!(
        "    after: [{a}]\n  b:\n{USER_SYNC}    after: [{b}]\n  c:\n{USER_SYNC}    after: [{c}]\n"
    ));
    text
}

#[test]
fn a_cycle_is_refused_naming_every_sync_on_it() {
    let ok = parse_str(&chained("", "a", "b, a")).expect("a chain and a diamond");
    assert_eq!(ok.syncs["c"].after, vec!["b".to_string(), "a".to_string()]);
    for (a, b, c, cycle) in [
        ("b", "a", "", "`a` runs after `b` runs after `a`"),
        (
            "c",
            "a",
            "b",
            "`a` runs after `c` runs after `b` runs after `a`",
        ),
        ("", "c", "b", "`b` runs after `c` runs after `b`"),
    ] {
        let e = parse_str(&chained(a, b, c)).expect_err(cycle);
        let message = e.to_string();
        assert!(matches!(e, Error::Sync { .. }), "{e:?}");
        assert!(message.contains("makes a cycle"), "{message}");
        assert!(message.contains(cycle), "{cycle}: {message}");
    }
}

#[test]
fn alerts_are_typed_and_checked() {
    for (extra, says) in [
        (
            "    alerts: { failed: true, rejected_pct: 5, max_minutes: 30 }\n",
            "ok",
        ),
        ("    alerts: { rejected_pct: 0.5 }\n", "ok"),
        ("    alerts: {}\n", "`alerts`: set at least one"),
        ("    alerts: { rejected_pct: 101 }\n", "not a percentage"),
        ("    alerts: { max_minutes: 0 }\n", "max_minutes: 0"),
        ("    alerts: { failed: yes }\n", "invalid type"),
        ("    alerts: { email: a@b.c }\n", "unknown field `email`"),
        ("    alerts: { max_minutes: -1 }\n", "expected u64"),
    ] {
        let text = with_sync(&format!("{USER_SYNC}{extra}"));
        let message = match parse_str(&text) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert!(message.contains(says), "{extra}: {message}");
    }
    let config = parse_str(&with_sync(&format!(
        "{USER_SYNC}    alerts: {{ failed: true, rejected_pct: 5, max_minutes: 30 }}\n"
    )))
    .unwrap();
    assert_eq!(
        config.syncs["s"].alerts,
        Some(Alerts {
            failed: true,
            rejected_pct: Some(5.0),
            max_minutes: Some(30)
        })
    );
}
