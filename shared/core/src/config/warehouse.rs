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
    /// PostgreSQL (and Redshift through it).
    Postgres { url: UrlSource },
    /// MySQL or MariaDB.
    Mysql { url: UrlSource },
    /// Snowflake, through the connector protocol its drivers speak (HTTPS).
    Snowflake(Snowflake),
    /// BigQuery, through its REST API (HTTPS).
    Bigquery(Bigquery),
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
    }
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
