//! Dates kept as text, and arrays as lists, through the mapping on every
//! warehouse.

use backflow_core::secret::Secret;
use backflow_core::value::{ColumnKind, Value};
use backflow_warehouse::{Source, Warehouse};

use super::{
    assert_rows, col, collect, mysql_exec, mysql_url, pg_exec, pg_url, sqlite_setup, text, unique,
    with_cleanup,
};
use ColumnKind as K;
use Value::{Float, Int, Null, Timestamp};

/// Every date-named column of the `dated` model to a custom attribute that does
/// not exist yet, and `tags` to one more.
const DATED_SYNC: &str = "warehouse: { type: sqlite, path: w.db }
destinations:
  ic: { type: intercom, access_token: { secret: s, key: k } }
models:
  dated: { sql: select 1 }
syncs:
  s:
    model: dated
    destination: ic
    object: user
    behavior: update_or_create
    key: { column: id, field: external_id }
    fields:
      custom_attributes.trial_ends_at: trial_ends_at
      custom_attributes.renewal_date: renewal_date
      custom_attributes.seen_at: seen_at
      custom_attributes.note_at: note_at
      custom_attributes.trial: { column: trial_text, type: date }
      custom_attributes.tags: tags
";

/// 2026-01-01T12:00:00Z and midnight of that day.
const NOON: i64 = 1_767_268_800;
const MIDNIGHT: i64 = 1_767_225_600;

/// What every warehouse's `dated` model must become through the mapping: text
/// `…_at`/`…_date` columns holding timestamps are `date` attributes sent as Unix
/// seconds, a date-named column whose first value is no timestamp stays a
/// string, the long form's `date` is a date, and a later value that is no
/// timestamp makes its row invalid, naming the column. Rows: (1, the dates, tags);
/// (2, 'never' where a date was settled).
async fn assert_dated_model(warehouse: &Warehouse, sql: &str, tags: serde_json::Value) {
    use backflow_core::mapping::Mapper;
    use backflow_core::value::DataType;

    let config = backflow_core::config::parse(DATED_SYNC, "dated.yaml", &|_| None).unwrap();
    let rows = warehouse.stream("dated", sql).await.unwrap();
    let mut mapper = Mapper::new("s", &config.syncs["s"], &rows.columns).unwrap();
    let rows = collect(rows).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let mapped = mapper.map(1, &rows[0]).unwrap();
    assert_eq!(
        mapped.body["custom_attributes"],
        serde_json::json!({
            "trial_ends_at": NOON,
            "renewal_date": MIDNIGHT,
            "seen_at": NOON,
            "note_at": "soon",
            "trial": NOON,
            "tags": tags,
        })
    );
    let types: Vec<(String, DataType)> = mapper
        .attributes()
        .into_iter()
        .map(|a| (a.name, a.data_type))
        .collect();
    let expected = [
        ("note_at", DataType::String),
        ("renewal_date", DataType::Date),
        ("seen_at", DataType::Date),
        ("tags", DataType::String),
        ("trial", DataType::Date),
        ("trial_ends_at", DataType::Date),
    ];
    assert_eq!(
        types,
        expected
            .iter()
            .map(|(n, t)| (n.to_string(), *t))
            .collect::<Vec<_>>()
    );
    let invalid = mapper.map(2, &rows[1]).unwrap_err();
    assert_eq!(invalid.key.as_deref(), Some("2"));
    let reasons: Vec<&str> = invalid
        .reasons
        .iter()
        .map(|r| r.split(" (expected").next().unwrap())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "field `custom_attributes.trial` (column `trial_text`): 'never' is not a timestamp",
            "field `custom_attributes.trial_ends_at` (column `trial_ends_at`): 'never' is not a timestamp",
        ]
    );
}

#[tokio::test]
async fn sqlite_text_dates_become_date_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    // SQLite keeps dates as text (or numbers), declared or not; its JSON arrays
    // are text too.
    sqlite_setup(
        &path,
        "CREATE TABLE u (id TEXT, trial_ends_at TEXT, renewal_date, seen_at INTEGER,
                         note_at TEXT, trial_text VARCHAR(30), tags TEXT);
         INSERT INTO u VALUES
           ('1', '2026-01-01 12:00:00', '2026-01-01', 1767268800000, 'soon',
            '2026-01-01T12:00:00Z', '[\"vip\",\"beta\"]'),
           ('2', 'never', NULL, 1767268800, 'later', 'never', NULL);",
    )
    .await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path }).await.unwrap();
    assert_dated_model(
        &warehouse,
        "SELECT * FROM u ORDER BY id",
        serde_json::json!(r#"["vip","beta"]"#),
    )
    .await;
    // Through an expression the columns have no declared type at all.
    assert_dated_model(
        &warehouse,
        "SELECT id, trial_ends_at || '' AS trial_ends_at, renewal_date, seen_at + 0 AS seen_at,
                note_at, trial_text, tags FROM u ORDER BY id",
        serde_json::json!(r#"["vip","beta"]"#),
    )
    .await;
}

#[tokio::test]
async fn postgres_text_dates_and_arrays() {
    let schema = unique("pgd");
    let setup = format!(
        r#"
        CREATE SCHEMA {schema};
        CREATE TABLE {schema}.u (id text, trial_ends_at text, renewal_date varchar(10),
            seen_at int8, note_at text, trial_text text, tags text);
        INSERT INTO {schema}.u VALUES
            ('1', '2026-01-01 12:00:00', '2026-01-01', 1767268800000, 'soon',
             '2026-01-01 13:00:00+01', 'vip,beta'),
            ('2', 'never', NULL, 1767268800, 'later', 'never', NULL);
        "#
    );
    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    let body = async {
        pg_exec(&setup).await;
        let warehouse = Warehouse::connect(&Source::Postgres {
            url: Secret::new(pg_url()),
        })
        .await
        .unwrap();
        assert_dated_model(
            &warehouse,
            &format!("SELECT * FROM {schema}.u ORDER BY id"),
            serde_json::json!("vip,beta"),
        )
        .await;

        // Arrays are lists, each element read as its type; NULL elements stay.
        let rows = warehouse
            .stream(
                "arrays",
                "SELECT string_to_array('vip,beta', ',') AS tags,
                        '{{1,2},{3,NULL}}'::int4[] AS grid,
                        ARRAY['2024-02-29 13:45:30+02'::timestamptz, NULL] AS times,
                        ARRAY[0.5::numeric, 2] AS amounts,
                        '{}'::text[] AS empty,
                        NULL::int8[] AS nothing",
            )
            .await
            .unwrap();
        assert_eq!(
            rows.columns,
            ["tags", "grid", "times", "amounts", "empty", "nothing"]
                .iter()
                .map(|name| col(name, K::List))
                .collect::<Vec<_>>()
        );
        let list = Value::List;
        assert_rows(
            &collect(rows).await,
            &[vec![
                list(vec![text("vip"), text("beta")]),
                list(vec![list(vec![Int(1), Int(2)]), list(vec![Int(3), Null])]),
                list(vec![Timestamp(1_709_207_130), Null]),
                list(vec![Float(0.5), Float(2.0)]),
                list(vec![]),
                Null,
            ]],
        );

        // A list mapped to a custom attribute: that row is invalid, naming the
        // column; Intercom's data attributes hold no lists.
        let config = backflow_core::config::parse(DATED_SYNC, "dated.yaml", &|_| None).unwrap();
        let rows = warehouse
            .stream(
                "dated",
                "SELECT '1' AS id, NULL AS trial_ends_at, NULL AS renewal_date,
                        NULL AS seen_at, NULL AS note_at, NULL AS trial_text,
                        ARRAY['vip', 'beta'] AS tags",
            )
            .await
            .unwrap();
        let mut mapper =
            backflow_core::mapping::Mapper::new("s", &config.syncs["s"], &rows.columns).unwrap();
        let rows = collect(rows).await;
        let invalid = mapper.map(1, &rows[0]).unwrap_err();
        assert_eq!(
            invalid.reasons,
            vec![
                "field `custom_attributes.tags` (column `tags`): the list ['vip', 'beta'] \
                 cannot be a custom attribute: Intercom's custom attributes hold no lists \
                 (join it into text in the model's SQL)"
            ]
        );
    };
    with_cleanup(body, pg_exec(&drop)).await;
}

#[tokio::test]
async fn mysql_text_dates_become_date_attributes() {
    let table = unique("myd");
    let create = format!(
        "CREATE TABLE {table} (id VARCHAR(5), trial_ends_at VARCHAR(30), renewal_date TEXT,
            seen_at BIGINT, note_at VARCHAR(10), trial_text VARCHAR(30), tags JSON)"
    );
    let insert = format!(
        r#"INSERT INTO {table} VALUES
            ('1', '2026-01-01 12:00:00', '2026-01-01', 1767268800000, 'soon',
             '2026-01-01T12:00:00.250Z', '["vip", "beta"]'),
            ('2', 'never', NULL, 1767268800, 'later', 'never', NULL)"#
    );
    let drop = format!("DROP TABLE IF EXISTS {table}");
    let body = async {
        mysql_exec(&[&create, &insert]).await;
        let warehouse = Warehouse::connect(&Source::Mysql {
            url: Secret::new(mysql_url()),
        })
        .await
        .unwrap();
        // MySQL has no array type: a JSON array is its text, sent as a string.
        assert_dated_model(
            &warehouse,
            &format!("SELECT * FROM {table} ORDER BY id"),
            serde_json::json!(r#"["vip", "beta"]"#),
        )
        .await;
    };
    with_cleanup(body, mysql_exec(&[&drop])).await;
}
