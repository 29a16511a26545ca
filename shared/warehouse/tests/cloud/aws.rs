//! The warehouses reached with AWS credentials: Athena and the Redshift Data
//! API.
//!
//! - moto (the AWS stand-in of the local stack): Athena end to end — moto runs
//!   no SQL, but answers a query with results seeded through its backend API
//!   (`POST /moto-api/static/athena/query-results`), typed by their column
//!   metadata and headed by the column names as Athena's are. Its Data API
//!   accepts a statement and never finishes it, so only the timeout and the
//!   cancel can be shown there.
//! - A small local server speaking the documented JSON protocol (awsJson 1.1,
//!   `X-Amz-Target`; `aws_protocol.rs`): what moto cannot show — a Data API statement polled until
//!   it finishes, its result in two pages, a failed statement's message; Athena
//!   results over several pages (the header row only on the first) and a
//!   failed query.
//!
//! None of this is the real services (see docs/warehouses.md).

use std::time::Duration;

use backflow_core::value::{ColumnKind as K, Value};
use backflow_localstack::moto::MotoServer;
use backflow_warehouse::{
    AthenaSource, Error, RedshiftAccess, RedshiftSource, Source, Warehouse, ATHENA_PAGE_ROWS,
};
use serde_json::{json, Value as Json};

use backflow_core::secret::Secret;

use super::aws_protocol::{aws_at, json_service, operations};
use super::sorted::{check_sorted_by_key, SORT_ROWS};
use super::{col, collect, pg_exec, pg_url, text, unique, with_cleanup};
use Value::{Bool, Float, Int, List, Null, Timestamp};

fn athena(query_timeout: Duration) -> Source {
    Source::Athena(AthenaSource {
        database: "analytics".into(),
        workgroup: "primary".into(),
        output_location: Some("s3://backflow-athena-results/backflow/".into()),
        catalog: None,
        query_timeout,
        page_rows: ATHENA_PAGE_ROWS,
    })
}

fn data_api(access: RedshiftAccess, query_timeout: Duration) -> Source {
    Source::Redshift(RedshiftSource {
        access,
        database: Some("dev".into()),
        query_timeout,
    })
}

pub fn moto() -> MotoServer {
    // One log (and so one `.port` file, see `MotoServer::start`) per server:
    // tests run in parallel, and a shared port file handed two of them the
    // same moto, which the first to finish then stopped under the other.
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log =
        std::env::temp_dir().join(format!("bf-warehouse-moto-{}-{n}.log", std::process::id()));
    MotoServer::start(&log).expect("moto starts")
}

/// Athena's answer cells: `{"VarCharValue": …}`, `{}` for NULL.
fn athena_row(cells: &[Option<&str>]) -> Json {
    json!({"Data": cells.iter().map(|c| match c {
        Some(v) => json!({"VarCharValue": v}),
        None => json!({}),
    }).collect::<Vec<_>>()})
}

fn column_info(columns: &[(&str, &str)]) -> Json {
    json!(columns
        .iter()
        .map(|(name, ty)| json!({"Name": name, "Label": name, "Type": ty,
            "CatalogName": "hive", "SchemaName": "", "TableName": "",
            "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": true}))
        .collect::<Vec<_>>())
}

const LAKE_COLUMNS: [(&str, &str); 8] = [
    ("id", "varchar"),
    ("seats", "bigint"),
    ("ltv", "decimal"),
    ("score", "double"),
    ("active", "boolean"),
    ("signed_up", "date"),
    ("last_seen", "timestamp"),
    ("tags", "array"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn athena_on_moto_reads_seeded_results_typed_by_their_metadata() {
    let moto = moto();
    let header: Vec<Option<&str>> = LAKE_COLUMNS.iter().map(|(n, _)| Some(*n)).collect();
    let seeded = json!({"results": [{
        "column_info": column_info(&LAKE_COLUMNS),
        "rows": [
            athena_row(&header),
            athena_row(&[Some("u-1"), Some("3"), Some("1234.50"), Some("0.1"), Some("true"),
                Some("2024-01-02"), Some("2024-01-02 03:04:05.678"), Some("[vip, beta]")]),
            athena_row(&[Some("u-2"), None, None, None, Some("false"), None, None, Some("[]")]),
        ],
    }]});
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/moto-api/static/athena/query-results",
            moto.endpoint
        ))
        .json(&seeded)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status().as_u16(),
        201,
        "seeding moto's Athena results"
    );

    let aws = aws_at(&moto.endpoint).await;
    let warehouse = Warehouse::connect_with_aws(
        &athena(Duration::from_secs(60)),
        Duration::from_secs(5),
        &aws,
    )
    .await
    .unwrap();
    let sql = warehouse.sorted_by_key("SELECT * FROM users", "id", false);
    let rows = warehouse.stream("users", &sql).await.unwrap();
    assert_eq!(
        rows.columns,
        vec![
            col("id", K::Text),
            col("seats", K::Int),
            col("ltv", K::Float),
            col("score", K::Float),
            col("active", K::Bool),
            col("signed_up", K::Date),
            col("last_seen", K::Timestamp),
            col("tags", K::List),
        ]
    );
    assert_eq!(
        collect(rows).await,
        vec![
            vec![
                text("u-1"),
                Int(3),
                Float(1234.5),
                Float(0.1),
                Bool(true),
                Timestamp(1_704_153_600),
                Timestamp(1_704_164_645),
                List(vec![text("vip"), text("beta")]),
            ],
            vec![
                text("u-2"),
                Null,
                Null,
                Null,
                Bool(false),
                Null,
                Null,
                List(vec![])
            ],
        ],
        "the header row is skipped, every cell typed"
    );

    // moto kept the query as backflow started it: the sorted SQL, in the
    // workgroup, database and output location of the config.
    let athena = aws_sdk_athena::Client::new(&aws);
    let ids = athena
        .list_query_executions()
        .work_group("primary")
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let execution = athena
        .get_query_execution()
        .query_execution_id(&ids[0])
        .send()
        .await
        .unwrap()
        .query_execution
        .unwrap();
    assert_eq!(execution.query(), Some(sql.as_str()));
    assert_eq!(execution.work_group(), Some("primary"));
    assert_eq!(
        execution
            .query_execution_context()
            .and_then(|c| c.database()),
        Some("analytics")
    );
    let output = execution
        .result_configuration()
        .and_then(|c| c.output_location())
        .unwrap_or_default();
    assert!(
        output.starts_with("s3://backflow-athena-results/backflow/"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_api_on_moto_fails_the_run_naming_the_warehouse() {
    // moto 5.1.22 answers ExecuteStatement with `CreatedAt` as ISO text where
    // the Data API's JSON protocol has epoch seconds, so the SDK refuses the
    // answer (and moto would never finish the statement anyway): the run fails
    // before any row, naming the warehouse and model, in one readable line.
    let moto = moto();
    let aws = aws_at(&moto.endpoint).await;
    let source = data_api(
        RedshiftAccess::DataApiCluster {
            cluster: "analytics".into(),
            db_user: Some("backflow".into()),
        },
        Duration::from_secs(5),
    );
    let warehouse = Warehouse::connect_named_with_aws("rs", &source, Duration::from_secs(5), &aws)
        .await
        .unwrap();
    let err = warehouse.stream("users", "SELECT 1").await.unwrap_err();
    let Error::Query {
        warehouse,
        model,
        message,
    } = &err
    else {
        panic!("expected a query error, got {err:?}");
    };
    assert_eq!(
        warehouse,
        "`rs` (Redshift cluster analytics, database dev (Data API))"
    );
    assert_eq!(model, "users");
    assert!(message.contains("failed to parse JSON"), "{message}");
    assert!(
        !message.contains("SdkBody") && message.len() < 400,
        "one line, not the raw response: {message}"
    );
}

// ------------------------------------------------------ a documented-protocol server

#[tokio::test]
async fn data_api_polls_until_finished_and_reads_every_page() {
    let (endpoint, calls) = json_service(|target, body, seen| match target {
        "RedshiftData.ExecuteStatement" => (200, json!({"Id": "st-1"})),
        "RedshiftData.DescribeStatement" if seen == 0 => {
            (200, json!({"Id": "st-1", "Status": "STARTED"}))
        }
        "RedshiftData.DescribeStatement" => (
            200,
            json!({"Id": "st-1", "Status": "FINISHED", "HasResultSet": true}),
        ),
        "RedshiftData.GetStatementResult" if body.get("NextToken").is_none() => (
            200,
            json!({
                "ColumnMetadata": [
                    {"name": "id", "typeName": "varchar"},
                    {"name": "seats", "typeName": "int4"},
                    {"name": "ltv", "typeName": "numeric"},
                    {"name": "active", "typeName": "bool"},
                    {"name": "last_seen", "typeName": "timestamptz"},
                    {"name": "profile", "typeName": "super"},
                ],
                "Records": [[
                    {"stringValue": "u-1"}, {"longValue": 3}, {"stringValue": "1234.50"},
                    {"booleanValue": true}, {"stringValue": "2024-01-02 03:04:05.678+00"},
                    {"stringValue": "{\"plan\":\"pro\"}"},
                ]],
                "NextToken": "page-2",
                "TotalNumRows": 2,
            }),
        ),
        "RedshiftData.GetStatementResult" => (
            200,
            json!({
                "Records": [[
                    {"stringValue": "u-2"}, {"isNull": true}, {"isNull": true},
                    {"booleanValue": false}, {"isNull": true}, {"isNull": true},
                ]],
                "TotalNumRows": 2,
            }),
        ),
        _ => (400, json!({"__type": "UnknownOperationException"})),
    })
    .await;
    let aws = aws_at(&endpoint).await;
    let source = data_api(
        RedshiftAccess::DataApiCluster {
            cluster: "analytics".into(),
            db_user: Some("backflow".into()),
        },
        Duration::from_secs(60),
    );
    let warehouse = Warehouse::connect_with_aws(&source, Duration::from_secs(5), &aws)
        .await
        .unwrap();
    let sql = warehouse.sorted_by_key("select * from users", "id", false);
    let rows = warehouse.stream("users", &sql).await.unwrap();
    assert_eq!(
        rows.columns,
        vec![
            col("id", K::Text),
            col("seats", K::Int),
            col("ltv", K::Float),
            col("active", K::Bool),
            col("last_seen", K::Timestamp),
            col("profile", K::Text),
        ]
    );
    assert_eq!(
        collect(rows).await,
        vec![
            vec![
                text("u-1"),
                Int(3),
                Float(1234.5),
                Bool(true),
                Timestamp(1_704_164_645),
                text("{\"plan\":\"pro\"}"),
            ],
            vec![text("u-2"), Null, Null, Bool(false), Null, Null],
        ]
    );
    assert_eq!(
        operations(&calls),
        [
            "RedshiftData.ExecuteStatement",
            "RedshiftData.DescribeStatement",
            "RedshiftData.DescribeStatement",
            "RedshiftData.GetStatementResult",
            "RedshiftData.GetStatementResult",
        ]
    );
    let calls = calls.lock().unwrap();
    let execute = &calls[0].1;
    assert_eq!(execute["Sql"], json!(sql));
    assert_eq!(execute["ClusterIdentifier"], json!("analytics"));
    assert_eq!(execute["DbUser"], json!("backflow"));
    assert_eq!(execute["Database"], json!("dev"));
    assert_eq!(calls[4].1["NextToken"], json!("page-2"));
}

#[tokio::test]
async fn a_failed_data_api_statement_fails_with_redshifts_message() {
    let (endpoint, calls) = json_service(|target, _, _| match target {
        "RedshiftData.ExecuteStatement" => (200, json!({"Id": "st-2"})),
        "RedshiftData.DescribeStatement" => (
            200,
            json!({
                "Id": "st-2", "Status": "FAILED",
                "Error": "ERROR: relation \"marts.nope\" does not exist",
            }),
        ),
        _ => (400, json!({"__type": "UnknownOperationException"})),
    })
    .await;
    let aws = aws_at(&endpoint).await;
    let source = data_api(
        RedshiftAccess::DataApiWorkgroup {
            workgroup: "analytics".into(),
        },
        Duration::from_secs(60),
    );
    let warehouse = Warehouse::connect_named_with_aws("rs", &source, Duration::from_secs(5), &aws)
        .await
        .unwrap();
    let err = warehouse
        .stream("users", "select * from marts.nope")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "model `users` on warehouse `rs` (Redshift Serverless workgroup analytics, database dev \
         (Data API)): query failed: the statement failed: ERROR: relation \"marts.nope\" does \
         not exist"
    );
    let calls = calls.lock().unwrap();
    assert_eq!(calls[0].1["WorkgroupName"], json!("analytics"));
    assert!(calls[0].1.get("DbUser").is_none(), "{:?}", calls[0].1);
}

#[tokio::test]
async fn athena_reads_every_page_and_skips_only_the_first_header() {
    let columns = [("id", "varchar"), ("name", "varchar")];
    let (endpoint, calls) = json_service(move |target, body, seen| match target {
        "AmazonAthena.StartQueryExecution" => (200, json!({"QueryExecutionId": "q-1"})),
        "AmazonAthena.GetQueryExecution" => {
            let state = if seen == 0 { "RUNNING" } else { "SUCCEEDED" };
            (200, json!({"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": state}}}))
        }
        "AmazonAthena.GetQueryResults" if body.get("NextToken").is_none() => (200, json!({
            "ResultSet": {
                "ResultSetMetadata": {"ColumnInfo": column_info(&columns)},
                "Rows": [athena_row(&[Some("id"), Some("name")]), athena_row(&[Some("a"), Some("A")])],
            },
            "NextToken": "t-2",
        })),
        "AmazonAthena.GetQueryResults" => (200, json!({
            "ResultSet": {
                "ResultSetMetadata": {"ColumnInfo": column_info(&columns)},
                // A data row that reads like the header, on a later page: kept.
                "Rows": [athena_row(&[Some("id"), Some("name")]), athena_row(&[Some("b"), None])],
            },
        })),
        _ => (400, json!({"__type": "InvalidRequestException", "Message": "unknown"})),
    })
    .await;
    let aws = aws_at(&endpoint).await;
    let mut source = athena(Duration::from_secs(60));
    if let Source::Athena(a) = &mut source {
        a.page_rows = 2;
    }
    let warehouse = Warehouse::connect_with_aws(&source, Duration::from_secs(5), &aws)
        .await
        .unwrap();
    let rows = warehouse
        .stream("users", "SELECT id, name FROM t")
        .await
        .unwrap();
    assert_eq!(
        collect(rows).await,
        vec![
            vec![text("a"), text("A")],
            vec![text("id"), text("name")],
            vec![text("b"), Null],
        ]
    );
    let calls = calls.lock().unwrap();
    let start = &calls[0].1;
    assert_eq!(start["WorkGroup"], json!("primary"));
    assert_eq!(
        start["QueryExecutionContext"]["Database"],
        json!("analytics")
    );
    assert_eq!(
        start["ResultConfiguration"]["OutputLocation"],
        json!("s3://backflow-athena-results/backflow/")
    );
    let pages: Vec<&Json> = calls
        .iter()
        .filter(|(t, _)| t == "AmazonAthena.GetQueryResults")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0]["MaxResults"], json!(2));
    assert_eq!(pages[1]["NextToken"], json!("t-2"));
}

#[tokio::test]
async fn a_failed_athena_query_fails_with_its_reason_and_a_slow_one_is_stopped() {
    let (endpoint, calls) = json_service(|target, body, _| match target {
        "AmazonAthena.StartQueryExecution" => {
            let id = if body["QueryString"] == json!("SELECT slow") { "q-slow" } else { "q-bad" };
            (200, json!({"QueryExecutionId": id}))
        }
        "AmazonAthena.GetQueryExecution" if body["QueryExecutionId"] == json!("q-bad") => (200, json!({
            "QueryExecution": {"QueryExecutionId": "q-bad", "Status": {
                "State": "FAILED",
                "StateChangeReason": "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.analytics.nope' does not exist",
            }},
        })),
        "AmazonAthena.GetQueryExecution" => (200, json!({
            "QueryExecution": {"QueryExecutionId": "q-slow", "Status": {"State": "RUNNING"}},
        })),
        "AmazonAthena.StopQueryExecution" => (200, json!({})),
        _ => (400, json!({"__type": "InvalidRequestException", "Message": "unexpected"})),
    })
    .await;
    let aws = aws_at(&endpoint).await;
    let warehouse = Warehouse::connect_named_with_aws(
        "lake",
        &athena(Duration::from_secs(1)),
        Duration::from_secs(5),
        &aws,
    )
    .await
    .unwrap();
    let err = warehouse
        .stream("users", "SELECT * FROM nope")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "model `users` on warehouse `lake` (Athena workgroup primary, database analytics): \
         query failed: the query failed: TABLE_NOT_FOUND: line 1:15: Table \
         'awsdatacatalog.analytics.nope' does not exist"
    );
    let err = warehouse.stream("users", "SELECT slow").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { seconds: 1, .. }), "{err:?}");
    let stopped: Vec<Json> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| t == "AmazonAthena.StopQueryExecution")
        .map(|(_, b)| b["QueryExecutionId"].clone())
        .collect();
    assert_eq!(stopped, [json!("q-slow")], "the slow query is stopped");
}

// ------------------------------------------------- Redshift's wire protocol

fn redshift_url(url: &str, database: Option<&str>) -> Source {
    Source::Redshift(RedshiftSource {
        access: RedshiftAccess::Url(Secret::new(url)),
        database: database.map(str::to_string),
        query_timeout: Duration::from_secs(60),
    })
}

/// `type: redshift` with a URL on the local PostgreSQL: Redshift's dialect
/// (no `COLLATE "C"`) is SQL PostgreSQL runs, and on this server's `C.UTF-8`
/// database it sorts in byte order; `database` replaces the URL's.
#[tokio::test]
async fn redshift_wire_protocol_on_postgres_sorts_by_key_without_a_collation() {
    let table = unique("rs_sorted");
    let body = async {
        pg_exec(&format!(
            "CREATE TABLE {table} (n INTEGER, email TEXT); INSERT INTO {table} VALUES {SORT_ROWS};"
        ))
        .await;
        let mut url = url::Url::parse(&pg_url()).unwrap();
        let database = url.path().trim_start_matches('/').to_string();
        url.set_path("/bf_no_such_database");
        let warehouse = Warehouse::connect(&redshift_url(url.as_str(), Some(&database)))
            .await
            .unwrap();
        let sql = warehouse.sorted_by_key("SELECT 1 AS k", "k", false);
        assert!(!sql.contains("COLLATE"), "{sql}");
        check_sorted_by_key(&warehouse, &table).await;
    };
    with_cleanup(body, pg_exec(&format!("DROP TABLE IF EXISTS {table}"))).await;
}
