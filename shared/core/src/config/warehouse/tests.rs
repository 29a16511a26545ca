use crate::config::{
    parse, Athena, Bigquery, Config, Redshift, SecretRef, Snowflake, UrlSource, Warehouse,
};
use crate::Error;

fn parse_str(text: &str) -> Result<Config, Error> {
    parse(text, "backflow.yaml", &|_| None)
}

fn secret(secret: &str, key: &str) -> SecretRef {
    SecretRef {
        secret: secret.into(),
        key: key.into(),
    }
}

/// The "Warehouses" example of the product contract, verbatim.
const PRODUCT_EXAMPLE: &str = r#"warehouses:
  snowflake:
    type: snowflake
    account: xy12345.eu-west-1            # account identifier
    user: BACKFLOW
    private_key: { secret: backflow/snowflake, key: private_key }   # PEM (key-pair auth)
    # private_key_passphrase: { secret: backflow/snowflake, key: passphrase }
    # password: { secret: backflow/snowflake, key: password }     # instead of a key
    role: BACKFLOW_READER
    warehouse: COMPUTE_WH
    database: ANALYTICS
    schema: MARTS
    # base_url: http://127.0.0.1:8765     # instead of https://<account>.snowflakecomputing.com
  bigquery:
    type: bigquery
    project: acme-analytics
    location: US
    credentials: { secret: backflow/bigquery, key: service_account }  # the key file's JSON
    # base_url: http://127.0.0.1:9050     # instead of https://bigquery.googleapis.com;
    #                                     # credentials may then be left out (an emulator)
  redshift:
    type: redshift
    url: { secret: backflow/redshift, key: url }   # postgres://user:pw@host:5439/db
    # or the Data API, no network path needed:
    # cluster: analytics | workgroup: analytics (serverless), database: dev, db_user: backflow
  lake:
    type: athena
    database: analytics                   # Glue database
    workgroup: primary
    # output_location: s3://acme-athena-results/backflow/   # when the workgroup sets none
  app_db:
    type: postgres                        # postgres | mysql | sqlite as before
    url: { secret: backflow/warehouse, key: url }

destinations:
  intercom:
    type: intercom
    access_token: { secret: backflow/intercom, key: access_token }

models:
  users:
    warehouse: snowflake
    sql: select id, email, full_name, ltv from marts.users
"#;

#[test]
fn product_example_parses() {
    let config = parse_str(&format!("{PRODUCT_EXAMPLE}syncs: {{}}\n")).unwrap();
    assert_eq!(config.warehouse, None);
    assert_eq!(config.warehouses.len(), 5);
    let expected = Warehouse::Snowflake(Snowflake {
        account: "xy12345.eu-west-1".into(),
        user: "BACKFLOW".into(),
        private_key: Some(secret("backflow/snowflake", "private_key")),
        private_key_passphrase: None,
        password: None,
        role: Some("BACKFLOW_READER".into()),
        warehouse: Some("COMPUTE_WH".into()),
        database: Some("ANALYTICS".into()),
        schema: Some("MARTS".into()),
        base_url: None,
        query_timeout_secs: None,
    });
    assert_eq!(
        config.warehouse_for("users"),
        Some(("snowflake", &expected))
    );
    assert_eq!(
        config.warehouses["bigquery"],
        Warehouse::Bigquery(Bigquery {
            project: "acme-analytics".into(),
            location: Some("US".into()),
            credentials: Some(secret("backflow/bigquery", "service_account")),
            base_url: None,
            query_timeout_secs: None,
        })
    );
    assert_eq!(
        config.warehouses["app_db"],
        Warehouse::Postgres {
            url: UrlSource::Secret(secret("backflow/warehouse", "url"))
        }
    );
    assert_eq!(
        config.warehouses["redshift"],
        Warehouse::Redshift(Redshift {
            url: Some(UrlSource::Secret(secret("backflow/redshift", "url"))),
            cluster: None,
            workgroup: None,
            database: None,
            db_user: None,
            query_timeout_secs: None,
        })
    );
    assert_eq!(
        config.warehouses["lake"],
        Warehouse::Athena(Athena {
            database: "analytics".into(),
            workgroup: "primary".into(),
            output_location: None,
            catalog: None,
            query_timeout_secs: None,
        })
    );
    assert_eq!(config.warehouse_for("nope"), None);
}

#[test]
fn redshift_and_athena_accept_each_way_in() {
    let accepted = [
        "  rs:\n    type: redshift\n    url: postgres://u:p@h:5439/dev\n",
        // IAM credentials over the wire protocol.
        "  rs:\n    type: redshift\n    url: postgres://backflow@h:5439/dev\n    cluster: c\n    db_user: backflow\n",
        // ... and as the role's own database user.
        "  rs:\n    type: redshift\n    url: postgres://h:5439/dev\n    cluster: c\n",
        // ... and on a serverless workgroup (the role's own database user).
        "  rs:\n    type: redshift\n    url: postgres://h:5439/dev\n    workgroup: w\n    database: analytics\n",
        // The Data API, provisioned (as a user or the role) and serverless.
        "  rs:\n    type: redshift\n    cluster: c\n    database: dev\n    db_user: backflow\n",
        "  rs:\n    type: redshift\n    cluster: c\n    database: dev\n",
        "  rs:\n    type: redshift\n    workgroup: w\n    database: dev\n    query_timeout_secs: 60\n",
        "  lake:\n    type: athena\n    database: d\n    workgroup: primary\n    output_location: s3://b/p/\n    catalog: AwsDataCatalog\n",
    ];
    for warehouses in accepted {
        let text = config(warehouses, "    sql: select 1\n");
        let parsed = parse_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let yaml = serde_yaml_ng::to_string(&parsed).unwrap();
        assert_eq!(parse_str(&yaml).unwrap(), parsed, "{yaml}");
    }
}

#[test]
fn redshift_and_athena_checks_name_the_field() {
    const RS: &str = "  rs:\n    type: redshift\n";
    let cases = [
        (
            format!("{RS}    database: dev\n"),
            "warehouse `rs`: set `url` (the PostgreSQL wire protocol) or `cluster` / `workgroup` \
             (the Redshift Data API)",
        ),
        (
            format!("{RS}    cluster: c\n    workgroup: w\n    database: dev\n"),
            "warehouse `rs`: set either `cluster` (provisioned) or `workgroup` (serverless), not both",
        ),
        (
            format!("{RS}    cluster: c\n    db_user: u\n"),
            "warehouse `rs`: `database` is required with the Data API (`cluster` / `workgroup`)",
        ),
        (
            format!("{RS}    workgroup: w\n    database: dev\n    db_user: u\n"),
            "warehouse `rs`: `db_user` is not used with `workgroup`: serverless logs in as \
             the function's IAM role (`IAMR:<role name>`)",
        ),
        (
            format!("{RS}    url: postgres://h/dev\n    workgroup: w\n    db_user: u\n"),
            "warehouse `rs`: `db_user` is not used with `workgroup`: serverless logs in as \
             the function's IAM role (`IAMR:<role name>`)",
        ),
        (
            format!("{RS}    url: postgres://h/dev\n    db_user: u\n"),
            "warehouse `rs`: `db_user` (IAM credentials) needs `cluster`: the cluster that issues them",
        ),
        (
            format!("{RS}    url: postgres://h/dev\n    workgroup: ' '\n"),
            "warehouse `rs`: `workgroup` is empty",
        ),
        (
            format!("{RS}    cluster: ' '\n    database: dev\n    db_user: u\n"),
            "warehouse `rs`: `cluster` is empty",
        ),
        (
            format!("{RS}    workgroup: w\n    database: dev\n    query_timeout_secs: 900\n"),
            "warehouse `rs`: `query_timeout_secs: 900` is out of range (1 to 840: Lambda \
             stops an invocation after 900 s)",
        ),
        (
            "  lake:\n    type: athena\n    database: d\n    workgroup: w\n    output_location: my-bucket/p\n".into(),
            "warehouse `lake`: `output_location` must be an S3 URL, `s3://bucket/prefix/` (got `my-bucket/p`)",
        ),
        (
            "  lake:\n    type: athena\n    database: ''\n    workgroup: w\n".into(),
            "warehouse `lake`: `database` is empty",
        ),
    ];
    for (warehouses, expected) in cases {
        let text = config(&warehouses, "    sql: select 1\n");
        assert_eq!(message(&text).1, expected, "{text}");
    }
    let (_, text) = message(&config(
        "  lake:\n    type: athena\n    database: d\n",
        "    sql: x\n",
    ));
    assert!(text.contains("missing field `workgroup`"), "{text}");
}

/// A config with `warehouses` (indented 2) and model `m` (its body indented 4).
fn config(warehouses: &str, model: &str) -> String {
    format!("warehouses:\n{warehouses}destinations: {{}}\nmodels:\n  m:\n{model}syncs: {{}}\n")
}

const LITE: &str = "  lite:\n    type: sqlite\n    path: w.db\n";
const SNOW: &str = "  snow:\n    type: snowflake\n    account: xy12345\n    user: U\n    password: { secret: s, key: password }\n";
const BQ: &str = "  bq:\n    type: bigquery\n    project: p\n    base_url: http://127.0.0.1:9050\n";

fn message(text: &str) -> (Option<usize>, String) {
    match parse_str(text) {
        Err(Error::Config { line, message, .. }) => (line, message),
        Err(Error::Invalid { message, .. }) => (None, message),
        other => panic!("expected an error, got {other:?}\n{text}"),
    }
}

#[test]
fn a_model_names_its_warehouse_when_there_are_several() {
    let all = format!("{LITE}{SNOW}{BQ}");
    let text = config(&all, "    warehouse: bq\n    sql: select 1\n");
    let parsed = parse_str(&text).unwrap();
    let (name, warehouse) = parsed.warehouse_for("m").unwrap();
    assert_eq!((name, warehouse.type_name()), ("bq", "bigquery"));

    // One warehouse under `warehouses:` runs every model without naming it.
    let text = config(SNOW, "    sql: select 1\n");
    assert_eq!(
        parse_str(&text).unwrap().warehouse_for("m").unwrap().0,
        "snow"
    );

    let cases = [
        (
            config(&all, "    sql: select 1\n"),
            Some(16),
            "model `m`: the config has several warehouses (bq, lite, snow); say which one \
             runs this model with `warehouse:`",
        ),
        (
            config(&all, "    sql: select 1\n    warehouse: redshift\n"),
            Some(18),
            "model `m`: `warehouse: redshift` names no warehouse (warehouses: bq, lite, snow)",
        ),
        (
            "warehouse: { type: sqlite, path: w.db }\ndestinations: {}\nmodels:\n  m:\n    sql: select 1\n    warehouse: warehouse\nsyncs: {}\n".to_string(),
            Some(6),
            "model `m`: `warehouse: warehouse`: this config has a single `warehouse:` block, \
             which runs every model; name warehouses under `warehouses:` to choose between them",
        ),
    ];
    for (text, line, expected) in cases {
        assert_eq!(message(&text), (line, expected.to_string()), "{text}");
    }
    let e = parse_str(&config(&all, "    sql: select 1\n")).unwrap_err();
    assert!(
        e.to_string().starts_with("backflow.yaml:16: model `m`"),
        "{e}"
    );
}

#[test]
fn warehouse_and_warehouses_are_exclusive() {
    let text = format!(
        "warehouse: {{ type: sqlite, path: w.db }}\n{}",
        config(LITE, "    sql: x\n")
    );
    assert_eq!(
        message(&text).1,
        "set either `warehouse:` (one warehouse) or `warehouses:` (several, by name), not both"
    );
    let text = "warehouses: {}\ndestinations: {}\nmodels: {}\nsyncs: {}\n";
    assert!(message(text).1.starts_with("no warehouse: set"));
}

#[test]
fn credentials_are_checked() {
    let cases = [
        (
            SNOW.replace("    password: { secret: s, key: password }\n", ""),
            "warehouse `snow`: set `private_key` (key-pair authentication, recommended) or `password`",
        ),
        (
            format!("{SNOW}    private_key: {{ secret: s, key: pk }}\n"),
            "warehouse `snow`: set either `private_key` (key-pair) or `password`, not both",
        ),
        (
            format!("{SNOW}    private_key_passphrase: {{ secret: s, key: pp }}\n"),
            "warehouse `snow`: `private_key_passphrase` is only for an encrypted `private_key`",
        ),
        (
            SNOW.replace("account: xy12345", "account: https://xy12345.snowflakecomputing.com"),
            "warehouse `snow`: `account: https://xy12345.snowflakecomputing.com` is not an \
             account identifier (write `xy12345.eu-west-1` or `orgname-account_name`, not a \
             URL; a URL goes in `base_url`)",
        ),
        (
            format!("{SNOW}    base_url: 127.0.0.1:8765\n"),
            "warehouse `snow`: `base_url` must start with http:// or https:// (got `127.0.0.1:8765`)",
        ),
        (
            format!("{SNOW}    query_timeout_secs: 0\n"),
            "warehouse `snow`: `query_timeout_secs: 0` is out of range (1 to 840: Lambda \
             stops an invocation after 900 s)",
        ),
        (
            format!("{SNOW}    role: ' '\n"),
            "warehouse `snow`: `role` is empty",
        ),
        (
            BQ.replace("    base_url: http://127.0.0.1:9050\n", ""),
            "warehouse `bq`: `credentials` (the service account's key file, from Secrets \
             Manager) is required; only an emulator at `base_url` may go without",
        ),
        (
            BQ.replace("project: p", "project: ''"),
            "warehouse `bq`: `project` is empty",
        ),
    ];
    for (warehouses, expected) in cases {
        let text = config(&warehouses, "    sql: select 1\n");
        assert_eq!(message(&text).1, expected, "{text}");
    }
    // The single block names itself `warehouse`.
    let text = "warehouse:\n  type: sqlite\n  path: ' '\ndestinations: {}\nmodels: {}\nsyncs: {}\n";
    assert_eq!(message(text).1, "`warehouse`: `path` is empty");
}

#[test]
fn credentials_are_secret_references_never_literals() {
    let literal = SNOW.replace("{ secret: s, key: password }", "hunter2");
    let (line, text) = message(&config(&literal, "    sql: x\n"));
    assert!(line.is_some(), "{text}");
    assert!(
        text.contains("\"hunter2\", expected { secret: <name>, key: <json key> }"),
        "{text}"
    );
    let literal = format!("{BQ}    credentials: '{{\"type\": \"service_account\"}}'\n");
    let (_, text) = message(&config(&literal, "    sql: x\n"));
    assert!(text.contains("never from the config"), "{text}");
}

#[test]
fn unknown_keys_and_types_are_refused_with_their_line() {
    let cases = [
        (
            format!("{SNOW}    passwrd: x\n"),
            7,
            "unknown field `passwrd`",
        ),
        (
            format!("{BQ}    dataset: d\n"),
            6,
            "unknown field `dataset`",
        ),
        (
            "  rs:\n    type: redshift\n    url: x\n    host: h\n".to_string(),
            5,
            "unknown field `host`",
        ),
        (
            "  lake:\n    type: athena\n    database: d\n    workgroup: w\n    s3_output: x\n"
                .to_string(),
            6,
            "unknown field `s3_output`",
        ),
        (
            "  rs:\n    type: redshfit\n    url: x\n".to_string(),
            3,
            "unknown variant `redshfit`, expected one of `sqlite`, `postgres`, `mysql`, \
             `snowflake`, `bigquery`, `redshift`, `athena`",
        ),
    ];
    for (warehouses, line, expected) in cases {
        let text = config(&warehouses, "    sql: x\n");
        let (got, message) = message(&text);
        assert!(message.contains(expected), "{message}");
        if line != 3 {
            assert_eq!(got, Some(line), "{message}");
        }
    }
    let (_, message) = message(&config(LITE, "    sql: x\n    warehose: lite\n"));
    assert!(message.contains("unknown field `warehose`"), "{message}");
}

#[test]
fn round_trips_through_yaml() {
    let text = config(
        &format!("{LITE}{SNOW}{BQ}"),
        "    warehouse: snow\n    sql: x\n",
    );
    let config = parse_str(&text).unwrap();
    let yaml = serde_yaml_ng::to_string(&config).unwrap();
    assert!(!yaml.contains("\nwarehouse:"), "{yaml}");
    assert_eq!(parse_str(&yaml).unwrap(), config);
    let single = parse_str(
        "warehouse: { type: sqlite, path: w.db }\ndestinations: {}\nmodels: {}\nsyncs: {}\n",
    )
    .unwrap();
    let yaml = serde_yaml_ng::to_string(&single).unwrap();
    assert!(!yaml.contains("warehouses"), "{yaml}");
    assert_eq!(parse_str(&yaml).unwrap(), single);
}
