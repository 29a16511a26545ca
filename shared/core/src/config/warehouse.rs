//! The `warehouse:` / `warehouses:` part of the config: where models run.
//!
//! One config may name several warehouses (`warehouses: { name: {...}, ... }`);
//! a model says which one runs it (`models.<m>.warehouse: name`) when there is
//! more than one. The older single `warehouse:` block is the only warehouse of
//! its config. Every credential is a Secrets Manager reference, never a literal:
//! the config is uploaded to S3 and read by people who must not see passwords.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Config, SecretRef};

/// The name [`Config::warehouse_for`] gives the single `warehouse:` block.
pub const SINGLE_WAREHOUSE: &str = "warehouse";

/// A warehouse connection, by `type`. New engines slot in as new variants (each
/// a struct with `deny_unknown_fields`, like [`Snowflake`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Warehouse {
    /// An SQLite file; `path` is relative to the config file's folder.
    Sqlite { path: String },
    /// PostgreSQL.
    Postgres { url: UrlSource },
    /// MySQL or MariaDB.
    Mysql { url: UrlSource },
    /// Snowflake, through the connector protocol its drivers speak (HTTPS).
    Snowflake(Snowflake),
    /// BigQuery, through its REST API (HTTPS).
    Bigquery(Bigquery),
    /// Redshift: the PostgreSQL wire protocol (`url`), or the Redshift Data API
    /// (`cluster` / `workgroup`).
    Redshift(Redshift),
    /// Athena (an S3 lake), through its API with the function's IAM role.
    Athena(Athena),
}

impl Warehouse {
    /// The config spelling of the type (`sqlite`, `snowflake`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Warehouse::Sqlite { .. } => "sqlite",
            Warehouse::Postgres { .. } => "postgres",
            Warehouse::Mysql { .. } => "mysql",
            Warehouse::Snowflake(_) => "snowflake",
            Warehouse::Bigquery(_) => "bigquery",
            Warehouse::Redshift(_) => "redshift",
            Warehouse::Athena(_) => "athena",
        }
    }
}

/// A connection URL: from Secrets Manager (the normal case, since it carries a
/// password) or literal (a local database without a password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UrlSource {
    Secret(SecretRef),
    Literal(String),
}

/// `type: snowflake`. Key-pair (`private_key`) or `password` authentication, one
/// of them. `role`, `warehouse`, `database` and `schema` default to the user's own
/// defaults in Snowflake when left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snowflake {
    /// The account identifier (`xy12345.eu-west-1`, or `orgname-account_name`).
    pub account: String,
    /// The login name of backflow's Snowflake user.
    pub user: String,
    /// The user's private key (PEM, PKCS#8; encrypted with `private_key_passphrase`
    /// or not), for key-pair (JWT) authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<SecretRef>,
    /// The passphrase of an encrypted `private_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_passphrase: Option<SecretRef>,
    /// The user's password, instead of a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// The role the session uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The virtual warehouse that runs the queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// The session's database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The session's schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Instead of `https://<account>.snowflakecomputing.com` (a stand-in, a proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// How long a model's query may run before the run fails (default 600 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_timeout_secs: Option<u64>,
}

/// `type: bigquery`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bigquery {
    /// The project that runs (and is billed for) the queries.
    pub project: String,
    /// Where the queries run (`US`, `EU`, `europe-west1`, ...); BigQuery infers it
    /// from the tables when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The service account's key file (its whole JSON). Only an emulator at
    /// `base_url` may go without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<SecretRef>,
    /// Instead of `https://bigquery.googleapis.com` (an emulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// How long a model's query may run before the run fails (default 600 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_timeout_secs: Option<u64>,
}

/// `type: redshift`. Three ways in, told apart by the keys present:
/// - `url` alone: the PostgreSQL wire protocol with the URL's user and password;
/// - `url` (its password left out) with `cluster`: the wire protocol with IAM
///   temporary credentials — for `db_user` (`redshift:GetClusterCredentials`),
///   else for the role's own database user `IAMR:<role>`
///   (`redshift:GetClusterCredentialsWithIAM`); the database is `database`,
///   else the URL's;
/// - `url` (its password left out) with `workgroup`: the same on a serverless
///   workgroup (`redshift-serverless:GetCredentials`, the role's own database
///   user);
/// - `cluster` or `workgroup` (serverless) and `database`, no `url`: the
///   Redshift Data API (HTTPS, no network path to the cluster needed), as
///   `db_user` or else as the role's own database user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redshift {
    /// `postgres://user:password@host:5439/db` (or without the password when
    /// `cluster` or `workgroup` issue IAM credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<UrlSource>,
    /// A provisioned cluster's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// A Redshift Serverless workgroup's name: the Data API's target, or with
    /// `url` the issuer of the wire protocol's IAM credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workgroup: Option<String>,
    /// The database the queries run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The existing database user IAM credentials are issued for (a provisioned
    /// cluster); without it, the role's own (`IAMR:<role name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_user: Option<String>,
    /// How long a model's Data API statement may run (default 600 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_timeout_secs: Option<u64>,
}

/// `type: athena`: queries run in `workgroup`, reading tables of the Glue
/// `database`; results are written to `output_location` (or where the workgroup
/// says).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Athena {
    /// The Glue database unqualified table names are looked up in.
    pub database: String,
    /// The Athena workgroup that runs (and is billed for) the queries.
    pub workgroup: String,
    /// `s3://bucket/prefix/` for the results, when the workgroup sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_location: Option<String>,
    /// The data catalog (default `AwsDataCatalog`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// How long a model's query may run before the run fails (default 600 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_timeout_secs: Option<u64>,
}

/// The longest `query_timeout_secs`: Lambda stops an invocation after 900 s, and
/// the run must still be marked failed after the query gives up.
pub const MAX_QUERY_TIMEOUT_SECS: u64 = 840;

impl Config {
    /// Every warehouse by the name models use: the `warehouses:` entries, or the
    /// single `warehouse:` block under [`SINGLE_WAREHOUSE`].
    pub fn all_warehouses(&self) -> BTreeMap<&str, &Warehouse> {
        let mut all: BTreeMap<&str, &Warehouse> = self
            .warehouses
            .iter()
            .map(|(name, w)| (name.as_str(), w))
            .collect();
        if let Some(single) = &self.warehouse {
            all.insert(SINGLE_WAREHOUSE, single);
        }
        all
    }

    /// The warehouse that runs model `model`, with its name: the one the model
    /// names, else the config's only warehouse. `None` for an unknown model (a
    /// validated config gives every model a warehouse).
    pub fn warehouse_for(&self, model: &str) -> Option<(&str, &Warehouse)> {
        let model = self.models.get(model)?;
        let all = self.all_warehouses();
        match &model.warehouse {
            Some(name) => all.get_key_value(name.as_str()).map(|(n, w)| (*n, *w)),
            None if all.len() == 1 => all.into_iter().next(),
            None => None,
        }
    }
}

/// The checks serde cannot make, as messages without the file: which block is
/// missing or doubled, a credential missing or contradicting another, a bad URL.
pub(super) fn validate(config: &Config) -> Result<(), String> {
    match (&config.warehouse, config.warehouses.is_empty()) {
        (Some(_), false) => return Err(
            "set either `warehouse:` (one warehouse) or `warehouses:` (several, by name), not both"
                .into(),
        ),
        (None, true) => return Err(
            "no warehouse: set `warehouse:` (one warehouse) or `warehouses:` (several, by name)"
                .into(),
        ),
        _ => {}
    }
    for (name, warehouse) in config.all_warehouses() {
        let at = if config.warehouse.is_some() {
            "`warehouse`".to_string()
        } else {
            format!("warehouse `{name}`")
        };
        check(warehouse).map_err(|message| format!("{at}: {message}"))?;
    }
    Ok(())
}

fn check(warehouse: &Warehouse) -> Result<(), String> {
    match warehouse {
        Warehouse::Sqlite { path } if path.trim().is_empty() => Err("`path` is empty".into()),
        Warehouse::Sqlite { .. } | Warehouse::Postgres { .. } | Warehouse::Mysql { .. } => Ok(()),
        Warehouse::Snowflake(s) => check_snowflake(s),
        Warehouse::Bigquery(b) => check_bigquery(b),
        Warehouse::Redshift(r) => check_redshift(r),
        Warehouse::Athena(a) => check_athena(a),
    }
}

fn check_redshift(r: &Redshift) -> Result<(), String> {
    for (key, value) in [
        ("cluster", &r.cluster),
        ("workgroup", &r.workgroup),
        ("database", &r.database),
        ("db_user", &r.db_user),
    ] {
        if let Some(value) = value {
            not_blank(key, value)?;
        }
    }
    if r.cluster.is_some() && r.workgroup.is_some() {
        return Err(
            "set either `cluster` (provisioned) or `workgroup` (serverless), not both".into(),
        );
    }
    match (&r.url, &r.cluster, &r.workgroup) {
        (None, None, None) => {
            return Err(
                "set `url` (the PostgreSQL wire protocol) or `cluster` / `workgroup` (the \
                 Redshift Data API)"
                    .into(),
            )
        }
        (Some(_), None, None) if r.db_user.is_some() => {
            return Err(
                "`db_user` (IAM credentials) needs `cluster`: the cluster that issues them".into(),
            )
        }
        // Serverless maps the caller's IAM role to its own database user, on
        // the Data API and the wire protocol alike: there is no user to name.
        (_, None, Some(_)) if r.db_user.is_some() => {
            return Err(
                "`db_user` is not used with `workgroup`: serverless logs in as the \
                 function's IAM role (`IAMR:<role name>`)"
                    .into(),
            )
        }
        (None, _, _) if r.database.is_none() => {
            return Err("`database` is required with the Data API (`cluster` / `workgroup`)".into())
        }
        _ => {}
    }
    check_timeout(r.query_timeout_secs)
}

fn check_athena(a: &Athena) -> Result<(), String> {
    not_blank("database", &a.database)?;
    not_blank("workgroup", &a.workgroup)?;
    if let Some(catalog) = &a.catalog {
        not_blank("catalog", catalog)?;
    }
    match &a.output_location {
        Some(location) if !location.starts_with("s3://") || location.len() <= "s3://".len() => {
            return Err(format!(
                "`output_location` must be an S3 URL, `s3://bucket/prefix/` (got `{location}`)"
            ))
        }
        _ => {}
    }
    check_timeout(a.query_timeout_secs)
}

fn check_snowflake(s: &Snowflake) -> Result<(), String> {
    not_blank("account", &s.account)?;
    not_blank("user", &s.user)?;
    if s.account.contains(['/', ':', '?', '#', '@']) {
        return Err(format!(
            "`account: {}` is not an account identifier (write `xy12345.eu-west-1` or \
             `orgname-account_name`, not a URL; a URL goes in `base_url`)",
            s.account
        ));
    }
    match (&s.private_key, &s.password) {
        (Some(_), Some(_)) => {
            return Err("set either `private_key` (key-pair) or `password`, not both".into())
        }
        (None, None) => {
            return Err(
                "set `private_key` (key-pair authentication, recommended) or `password`".into(),
            )
        }
        _ => {}
    }
    if s.private_key_passphrase.is_some() && s.private_key.is_none() {
        return Err("`private_key_passphrase` is only for an encrypted `private_key`".into());
    }
    for (key, value) in [
        ("role", &s.role),
        ("warehouse", &s.warehouse),
        ("database", &s.database),
        ("schema", &s.schema),
    ] {
        if let Some(value) = value {
            not_blank(key, value)?;
        }
    }
    check_base_url(s.base_url.as_deref())?;
    check_timeout(s.query_timeout_secs)
}

fn check_bigquery(b: &Bigquery) -> Result<(), String> {
    not_blank("project", &b.project)?;
    if let Some(location) = &b.location {
        not_blank("location", location)?;
    }
    if b.credentials.is_none() && b.base_url.is_none() {
        return Err(
            "`credentials` (the service account's key file, from Secrets Manager) is required; \
             only an emulator at `base_url` may go without"
                .into(),
        );
    }
    check_base_url(b.base_url.as_deref())?;
    check_timeout(b.query_timeout_secs)
}

fn not_blank(key: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("`{key}` is empty"))
    } else {
        Ok(())
    }
}

fn check_base_url(url: Option<&str>) -> Result<(), String> {
    match url {
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => Err(format!(
            "`base_url` must start with http:// or https:// (got `{url}`)"
        )),
        _ => Ok(()),
    }
}

fn check_timeout(secs: Option<u64>) -> Result<(), String> {
    match secs {
        Some(secs) if !(1..=MAX_QUERY_TIMEOUT_SECS).contains(&secs) => Err(format!(
            "`query_timeout_secs: {secs}` is out of range (1 to {MAX_QUERY_TIMEOUT_SECS}: \
             Lambda stops an invocation after 900 s)"
        )),
        _ => Ok(()),
    }
}

/// The problem with model `name`'s `warehouse:` key, if any: it must name a
/// warehouse, and must be there when there are several.
pub(super) fn check_model(config: &Config, model: &super::Model) -> Result<(), String> {
    let all = config.all_warehouses();
    let names = || all.keys().copied().collect::<Vec<_>>().join(", ");
    match &model.warehouse {
        Some(name) if config.warehouse.is_some() => Err(format!(
            "`warehouse: {name}`: this config has a single `warehouse:` block, which runs \
             every model; name warehouses under `warehouses:` to choose between them"
        )),
        Some(name) if !all.contains_key(name.as_str()) => Err(format!(
            "`warehouse: {name}` names no warehouse (warehouses: {})",
            names()
        )),
        None if all.len() > 1 => Err(format!(
            "the config has several warehouses ({}); say which one runs this model with `warehouse:`",
            names()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
