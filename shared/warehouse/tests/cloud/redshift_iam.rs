//! Redshift's wire protocol with IAM temporary credentials. The three calls
//! that issue them are answered by a local server in each API's documented
//! wire format, and what they return logs in:
//!
//! - `redshift:GetClusterCredentials` and `GetClusterCredentialsWithIAM`: the
//!   query protocol (a form with `Action` and `Version=2012-12-01`, answered
//!   by `<{Action}Response><{Action}Result>` XML; a refusal is
//!   `<ErrorResponse><Error><Type/><Code/><Message/></Error>`);
//! - `redshift-serverless:GetCredentials`: awsJson 1.1 (`X-Amz-Target:
//!   RedshiftServerless.GetCredentials`, body `workgroupName`, `dbName`,
//!   `durationSeconds` 900 to 3600; answer `dbUser`, `dbPassword`,
//!   `expiration` in epoch seconds; a refusal is `{"__type", "message"}`).
//!
//! The formats are those of the AWS API models (botocore
//! `data/redshift/2012-12-01/service-2.json`, protocol `query`;
//! `data/redshift-serverless/2021-04-21/service-2.json`, protocol `json` 1.1,
//! target prefix `RedshiftServerless`) as the Rust SDK reads them.
//!
//! `GetClusterCredentials` runs on moto too.
//!
//! The login is the machine's PostgreSQL with trust auth (the user name and
//! database count, the password is not checked: rows come back), or a login
//! stand-in that asks for the password in clear and refuses it (what reached
//! the login, and that the message masks it). None of this is real Redshift
//! (see docs/warehouses.md).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backflow_core::config::{self, UrlSource};
use backflow_core::secret::Secret;
use backflow_warehouse::{Error, RedshiftAccess, RedshiftSource, SdkConfig, Source, Warehouse};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::aws::moto;
use super::aws_protocol::{aws_at, json_service, query_service, Calls};
use super::{collect, pg_exec, pg_url, text, unique, with_cleanup};

const PASSWORD: &str = "AmazonIssued/P4ss+word=";

/// The local PostgreSQL's URL with no password, another user and a database
/// that does not exist (the credentials and `database` must replace them),
/// and the database the test logs in to.
fn passwordless_url() -> (String, String) {
    let mut url = url::Url::parse(&pg_url()).unwrap();
    let database = url.path().trim_start_matches('/').to_string();
    url.set_path("/bf_no_such_database");
    url.set_username("nobody").unwrap();
    url.set_password(None).unwrap();
    (url.to_string(), database)
}

fn redshift(access: RedshiftAccess, database: &str) -> Source {
    Source::Redshift(RedshiftSource {
        access,
        database: Some(database.to_string()),
        query_timeout: Duration::from_secs(60),
    })
}

/// Opens `source` (as warehouse `rs`) with the SDK pointed at `aws`.
async fn connect(source: &Source, aws: &SdkConfig) -> Result<Warehouse, Error> {
    Warehouse::connect_named_with_aws("rs", source, Duration::from_secs(5), aws).await
}

/// `source` logs in to the local PostgreSQL as `role` (created for the test,
/// dropped after) in `database`, and reads a row there.
async fn logs_in_as(role: &str, database: &str, source: Source, aws: &SdkConfig) {
    let body = async {
        pg_exec(&format!("CREATE ROLE \"{role}\" LOGIN")).await;
        let warehouse = connect(&source, aws).await.unwrap();
        let rows = warehouse
            .stream(
                "who",
                "SELECT current_user::text AS u, current_database()::text AS d",
            )
            .await
            .unwrap();
        assert_eq!(collect(rows).await, vec![vec![text(role), text(database)]]);
        warehouse.close().await;
    };
    with_cleanup(body, pg_exec(&format!("DROP ROLE IF EXISTS \"{role}\""))).await;
}

/// The parameters of the one call made.
fn only_call(calls: &Calls) -> (String, Json) {
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    calls[0].clone()
}

// ------------------------------------------------------------ the cluster

/// Redshift's query-protocol answer to `action` with these credentials.
fn cluster_answer(action: &str, user: &str) -> String {
    format!(
        "<{action}Response xmlns=\"http://redshift.amazonaws.com/doc/2012-12-01/\">\
         <{action}Result><DbUser>{user}</DbUser><DbPassword>{PASSWORD}</DbPassword>\
         <Expiration>2026-12-06T13:00:00Z</Expiration></{action}Result>\
         <ResponseMetadata><RequestId>0e9b1f4c-1b6e-4c1e-9f0a-2a9f7d1c3b55</RequestId>\
         </ResponseMetadata></{action}Response>"
    )
}

/// Redshift's query-protocol error envelope.
fn cluster_refusal(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://redshift.amazonaws.com/doc/2012-12-01/\">\
         <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>5f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f</RequestId></ErrorResponse>"
    )
}

fn iam_cluster(url: &str, db_user: Option<&str>) -> RedshiftAccess {
    RedshiftAccess::IamCluster {
        url: Secret::new(url),
        cluster: "analytics".into(),
        db_user: db_user.map(str::to_string),
    }
}

/// `action` answers with credentials for `role`, which log in (as
/// `db_user` when given); the fields of the one call, and the database.
async fn cluster_login(action: &'static str, role: &str, db_user: Option<&str>) -> (Json, String) {
    let answer = cluster_answer(action, role);
    let (endpoint, calls) = query_service(move |called, _, _| {
        if called == action {
            (200, answer.clone())
        } else {
            (400, cluster_refusal("InvalidAction", called))
        }
    })
    .await;
    let aws = aws_at(&endpoint).await;
    let (url, database) = passwordless_url();
    let source = redshift(iam_cluster(&url, db_user), &database);
    logs_in_as(role, &database, source, &aws).await;
    let (called, fields) = only_call(&calls);
    assert_eq!(called, action);
    (fields, database)
}

#[tokio::test]
async fn get_cluster_credentials_asks_for_the_db_user_and_its_answer_logs_in() {
    let role = format!("IAM:{}", unique("rsuser"));
    let (fields, database) = cluster_login("GetClusterCredentials", &role, Some("backflow")).await;
    assert_eq!(
        fields,
        json!({
            "Version": "2012-12-01",
            "ClusterIdentifier": "analytics",
            "DbUser": "backflow",
            "DbName": database,
            "DurationSeconds": "3600",
            "AutoCreate": "false",
        })
    );
}

#[tokio::test]
async fn get_cluster_credentials_with_iam_asks_for_the_roles_user_and_its_answer_logs_in() {
    let role = format!("IAMR:{}", unique("rsrole"));
    let (fields, database) = cluster_login("GetClusterCredentialsWithIAM", &role, None).await;
    assert_eq!(
        fields,
        json!({
            "Version": "2012-12-01",
            "ClusterIdentifier": "analytics",
            "DbName": database,
            "DurationSeconds": "3600",
        })
    );
}

/// moto's `GetClusterCredentials` (`IAM:<db_user>` on a cluster created
/// there, `ClusterNotFound` on another).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_cluster_credentials_on_moto_log_in_and_a_missing_cluster_is_named() {
    let moto = moto();
    let aws = aws_at(&moto.endpoint).await;
    aws_sdk_redshift::Client::new(&aws)
        .create_cluster()
        .cluster_identifier("analytics")
        .node_type("ra3.xlplus")
        .master_username("admin")
        .master_user_password("Admin-Passw0rd")
        .send()
        .await
        .unwrap();
    let db_user = unique("bfiam");
    let (url, database) = passwordless_url();
    let on = |cluster: &str| {
        let access = RedshiftAccess::IamCluster {
            url: Secret::new(&url),
            cluster: cluster.into(),
            db_user: Some(db_user.clone()),
        };
        redshift(access, &database)
    };
    logs_in_as(&format!("IAM:{db_user}"), &database, on("analytics"), &aws).await;

    let err = connect(&on("nope"), &aws).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    for part in [
        "`rs`",
        &format!("IAM credentials for `{db_user}` on cluster `nope` were refused"),
        "redshift:GetClusterCredentials",
        "ClusterNotFound",
    ] {
        assert!(message.contains(part), "{part} missing in {message}");
    }
}

#[tokio::test]
async fn a_refused_cluster_credential_names_the_cluster_and_the_action() {
    let (endpoint, _) = query_service(|action, _, _| match action {
        "GetClusterCredentials" => (
            403,
            cluster_refusal(
                "AccessDenied",
                "User: arn:aws:sts::123456789012:assumed-role/backflow-extract/backflow-extract \
                 is not authorized to perform: redshift:GetClusterCredentials on resource: \
                 arn:aws:redshift:us-east-1:123456789012:dbuser:analytics/backflow",
            ),
        ),
        _ => (
            404,
            cluster_refusal("ClusterNotFound", "Cluster analytics not found."),
        ),
    })
    .await;
    let aws = aws_at(&endpoint).await;
    let (url, database) = passwordless_url();
    let cases = [
        (
            Some("backflow"),
            "IAM credentials for `backflow` on cluster `analytics` were refused \
             (redshift:GetClusterCredentials): AccessDenied: User: \
             arn:aws:sts::123456789012:assumed-role/backflow-extract/backflow-extract is not \
             authorized to perform: redshift:GetClusterCredentials",
        ),
        (
            None,
            "IAM credentials for the role's database user on cluster `analytics` were refused \
             (redshift:GetClusterCredentialsWithIAM): ClusterNotFound: Cluster analytics not \
             found.",
        ),
    ];
    for (db_user, expected) in cases {
        let source = redshift(iam_cluster(&url, db_user), &database);
        let err = connect(&source, &aws).await.unwrap_err();
        let Error::Connect { target, message } = &err else {
            panic!("expected a connect error, got {err:?}");
        };
        assert!(target.starts_with("`rs` (postgres://nobody@"), "{target}");
        assert!(message.starts_with(expected), "{message}");
    }
}

// ---------------------------------------------------------- the workgroup

/// Redshift Serverless' awsJson answer with these credentials.
fn workgroup_answer(user: &str) -> Json {
    json!({
        "dbUser": user,
        "dbPassword": PASSWORD,
        "expiration": 1_796_562_000,
        "nextRefreshTime": 1_796_590_800,
    })
}

async fn serverless(user: &str) -> (String, Calls) {
    let answer = workgroup_answer(user);
    json_service(move |target, _, _| match target {
        "RedshiftServerless.GetCredentials" => (200, answer.clone()),
        _ => (400, json!({"__type": "UnknownOperationException"})),
    })
    .await
}

/// The whole path a user takes: a `type: redshift` config entry with `url`
/// and `workgroup`, its source, the credentials, rows.
#[tokio::test]
async fn a_workgroup_url_logs_in_with_get_credentials_and_reads_rows() {
    let role = format!("IAMR:{}", unique("rswg"));
    let (endpoint, calls) = serverless(&role).await;
    let aws = aws_at(&endpoint).await;
    let (url, database) = passwordless_url();
    let entry = config::Warehouse::Redshift(config::Redshift {
        url: Some(UrlSource::Literal(url.clone())),
        cluster: None,
        workgroup: Some("analytics".into()),
        database: Some(database.clone()),
        db_user: None,
        query_timeout_secs: Some(60),
    });
    let source = Source::from_config(
        &entry,
        |p: &str| PathBuf::from(p),
        |r| async move { Err::<Secret, String>(format!("no secret {r:?} in this config")) },
    )
    .await
    .unwrap();
    assert_eq!(
        source,
        redshift(
            RedshiftAccess::IamWorkgroup {
                url: Secret::new(&url),
                workgroup: "analytics".into(),
            },
            &database
        )
    );
    logs_in_as(&role, &database, source, &aws).await;
    let (target, body) = only_call(&calls);
    assert_eq!(target, "RedshiftServerless.GetCredentials");
    assert_eq!(
        body,
        json!({"workgroupName": "analytics", "dbName": database, "durationSeconds": 3600})
    );
}

#[tokio::test]
async fn a_refused_workgroup_credential_names_the_workgroup_and_the_action() {
    let (endpoint, _) = json_service(|_, _, _| {
        (
            400,
            json!({
                "__type": "AccessDeniedException",
                "message": "User: arn:aws:sts::123456789012:assumed-role/backflow-extract/\
                    backflow-extract is not authorized to perform: \
                    redshift-serverless:GetCredentials on resource: \
                    arn:aws:redshift-serverless:us-east-1:123456789012:workgroup/0b1c2d3e",
            }),
        )
    })
    .await;
    let aws = aws_at(&endpoint).await;
    let (url, database) = passwordless_url();
    let source = redshift(
        RedshiftAccess::IamWorkgroup {
            url: Secret::new(&url),
            workgroup: "analytics".into(),
        },
        &database,
    );
    let err = connect(&source, &aws).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    let message = err.to_string();
    let expected = "IAM credentials for the role's database user on workgroup `analytics` were \
                    refused (redshift-serverless:GetCredentials): AccessDeniedException: User: \
                    arn:aws:sts::123456789012:assumed-role/backflow-extract/backflow-extract is \
                    not authorized";
    assert!(message.contains(expected), "{message}");
    assert!(
        message.starts_with("could not connect to the warehouse `rs`"),
        "{message}"
    );
}

// ------------------------------------------------ what reached the login

/// What one login attempt sent.
#[derive(Debug, Clone, PartialEq)]
struct Login {
    user: String,
    database: String,
    password: String,
}

/// A PostgreSQL server that only refuses logins (protocol 3.0, "Message
/// Formats" of the PostgreSQL manual): it declines TLS, asks for the password
/// in clear (AuthenticationCleartextPassword), records it, and answers
/// `28P01 invalid_password` with a message that echoes it, as a careless
/// server or proxy might. Its port and the attempts.
async fn refusing_login() -> (u16, Arc<Mutex<Vec<Login>>>) {
    let logins: Arc<Mutex<Vec<Login>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = logins.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                if let Ok(login) = refuse(&mut socket).await {
                    seen.lock().unwrap().push(login);
                }
            });
        }
    });
    (port, logins)
}

async fn refuse(socket: &mut tokio::net::TcpStream) -> std::io::Result<Login> {
    const SSL_REQUEST: i32 = 80_877_103;
    const GSS_REQUEST: i32 = 80_877_104;
    let startup = loop {
        let length = socket.read_i32().await?;
        let code = socket.read_i32().await?;
        let mut rest = vec![0; usize::try_from(length - 8).unwrap_or(0)];
        socket.read_exact(&mut rest).await?;
        if code == SSL_REQUEST || code == GSS_REQUEST {
            socket.write_all(b"N").await?;
        } else {
            break rest;
        }
    };
    // Startup parameters: name\0value\0 ... \0.
    let text = String::from_utf8_lossy(&startup).into_owned();
    let fields: Vec<&str> = text.split('\0').collect();
    let parameter = |name: &str| {
        fields
            .chunks(2)
            .find(|pair| pair[0] == name)
            .and_then(|pair| pair.get(1))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let (user, database) = (parameter("user"), parameter("database"));
    socket.write_all(b"R").await?;
    socket.write_i32(8).await?;
    socket.write_i32(3).await?;
    let tag = socket.read_u8().await?;
    assert_eq!(tag, b'p', "a PasswordMessage");
    let length = socket.read_i32().await?;
    let mut password = vec![0; usize::try_from(length - 4).unwrap_or(0)];
    socket.read_exact(&mut password).await?;
    let password = String::from_utf8_lossy(&password)
        .trim_end_matches('\0')
        .to_string();
    let mut error = Vec::new();
    for (field, value) in [
        (b'S', "FATAL".to_string()),
        (b'V', "FATAL".to_string()),
        (b'C', "28P01".to_string()),
        (
            b'M',
            format!("password authentication failed for user \"{user}\" (got \"{password}\")"),
        ),
    ] {
        error.push(field);
        error.extend_from_slice(value.as_bytes());
        error.push(0);
    }
    error.push(0);
    socket.write_all(b"E").await?;
    socket
        .write_i32(i32::try_from(error.len() + 4).unwrap())
        .await?;
    socket.write_all(&error).await?;
    socket.flush().await?;
    Ok(Login {
        user,
        database,
        password,
    })
}

#[tokio::test]
async fn the_issued_password_reaches_the_login_and_is_masked_in_its_refusal() {
    let (endpoint, _) = serverless("IAMR:backflow-extract").await;
    let aws = aws_at(&endpoint).await;
    let (port, logins) = refusing_login().await;
    let source = redshift(
        RedshiftAccess::IamWorkgroup {
            url: Secret::new(format!("postgres://nobody@127.0.0.1:{port}/elsewhere")),
            workgroup: "analytics".into(),
        },
        "dev",
    );
    let err = connect(&source, &aws).await.unwrap_err();
    assert_eq!(
        logins.lock().unwrap().first(),
        Some(&Login {
            user: "IAMR:backflow-extract".into(),
            database: "dev".into(),
            password: PASSWORD.into(),
        }),
        "the login used GetCredentials' user and password, in `database`"
    );
    let message = err.to_string();
    assert!(
        message.contains(
            "password authentication failed for user \"IAMR:backflow-extract\" (got \"***\")"
        ),
        "masked in place: {message}"
    );
    for shown in [message, format!("{err:?}")] {
        assert!(!shown.contains(PASSWORD), "the password leaked: {shown}");
    }
}
