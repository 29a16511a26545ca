//! The config from a local folder and from S3.

use super::*;

const CONFIG: &str = r#"
warehouse:
  type: sqlite
  path: warehouse.db
destinations:
  intercom:
    type: intercom
    access_token: { secret: backflow/intercom, key: access_token }
    region: us
models:
  companies:
    file: models/companies.sql
  users:
    sql: select id, email from app_users
syncs:
  companies_to_intercom:
    model: companies
    destination: intercom
    object: company
    behavior: update_or_create
    key: { column: company_id, field: company_id }
    fields:
      name: name
  users_to_intercom:
    model: users
    destination: intercom
    object: user
    behavior: update_or_create
    key: { column: id, field: external_id }
    fields:
      email: email
"#;

const COMPANIES_SQL: &str = "select company_id, name from companies\n";

#[tokio::test]
async fn config_from_a_local_folder() {
    let f = fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backflow.yaml");
    std::fs::write(&path, CONFIG).unwrap();
    let location = path.to_str().unwrap();

    let err = load_config(location, &f.aws.s3).await.unwrap_err();
    match &err {
        Error::ModelFile {
            config,
            model,
            file,
            ..
        } => {
            assert_eq!(
                (config.as_str(), model.as_str(), file.as_str()),
                (location, "companies", "models/companies.sql")
            );
        }
        other => panic!("expected ModelFile, got {other:?}"),
    }
    assert!(err.to_string().contains("models/companies.sql"), "{err}");

    std::fs::create_dir(dir.path().join("models")).unwrap();
    std::fs::write(dir.path().join("models/companies.sql"), COMPANIES_SQL).unwrap();
    let config = load_config(location, &f.aws.s3).await.unwrap();
    assert_eq!(
        config.models["companies"].sql.as_deref(),
        Some(COMPANIES_SQL)
    );
    assert_eq!(
        config.models["users"].sql.as_deref(),
        Some("select id, email from app_users")
    );
    assert_eq!(
        sqlite_path(&config, "warehouse.db"),
        dir.path().join("warehouse.db")
    );
    assert_eq!(
        sqlite_path(&config, "/data/w.db"),
        std::path::Path::new("/data/w.db")
    );

    let missing = dir.path().join("nope.yaml");
    let err = load_config(missing.to_str().unwrap(), &f.aws.s3)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConfigRead { .. }), "{err:?}");
}

#[tokio::test]
async fn config_from_s3() {
    let f = fixture().await;
    let location = format!("s3://{}/config/backflow.yaml", f.bucket);

    let err = load_config(&location, &f.aws.s3).await.unwrap_err();
    assert!(
        matches!(&err, Error::ConfigRead { location: l, .. } if *l == location),
        "{err:?}"
    );

    put_text(&f, "config/backflow.yaml", CONFIG).await;
    let err = load_config(&location, &f.aws.s3).await.unwrap_err();
    assert!(
        matches!(&err, Error::ModelFile { model, .. } if model == "companies"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("s3://{}/config/models/companies.sql", f.bucket)),
        "{err}"
    );

    put_text(&f, "config/models/companies.sql", COMPANIES_SQL).await;
    let config = load_config(&location, &f.aws.s3).await.unwrap();
    assert_eq!(config.origin, location);
    assert_eq!(
        config.models["companies"].sql.as_deref(),
        Some(COMPANIES_SQL)
    );

    put_text(&f, "config/bad.yaml", "warehouse: [").await;
    let bad = format!("s3://{}/config/bad.yaml", f.bucket);
    let err = load_config(&bad, &f.aws.s3).await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

async fn put_text(f: &Fixture, key: &str, text: &str) {
    f.aws
        .s3
        .put_object()
        .bucket(&f.bucket)
        .key(key)
        .body(text.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
}
