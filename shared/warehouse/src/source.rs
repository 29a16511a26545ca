//! Where a warehouse is: [`Source`], with every credential already fetched from
//! Secrets Manager, and [`Source::from_config`], which builds it from the
//! config's `warehouses:` entry.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use backflow_core::config::{self, SecretRef, UrlSource};
use backflow_core::secret::Secret;

/// How long a cloud warehouse's query may run when the config does not say.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(600);

/// Rows per BigQuery result page when the config does not say.
pub const DEFAULT_PAGE_ROWS: u32 = 10_000;

/// Rows per Athena result page: GetQueryResults' maximum.
pub const ATHENA_PAGE_ROWS: i32 = 1_000;

/// Where a warehouse is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A SQLite database file, opened read-only; it must exist.
    Sqlite { path: PathBuf },
    /// A PostgreSQL URL, `postgres://user:password@host:5432/db`.
    Postgres { url: Secret },
    /// A MySQL or MariaDB URL, `mysql://user:password@host:3306/db`.
    Mysql { url: Secret },
    /// A Snowflake account.
    Snowflake(SnowflakeSource),
    /// A BigQuery project.
    Bigquery(BigquerySource),
    /// A Redshift cluster or serverless workgroup.
    Redshift(RedshiftSource),
    /// Athena (tables of a Glue database, queried through Athena's API).
    Athena(AthenaSource),
}

/// A Redshift warehouse (see `config::Redshift`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedshiftSource {
    pub access: RedshiftAccess,
    /// Replaces the URL's database on the wire protocol; the Data API's database.
    pub database: Option<String>,
    /// How long a Data API statement may run.
    pub query_timeout: Duration,
}

/// How backflow reaches Redshift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedshiftAccess {
    /// The PostgreSQL wire protocol with the URL's user and password.
    Url(Secret),
    /// The wire protocol with IAM temporary credentials from `cluster` (the
    /// URL has no password): for `db_user` (`redshift:GetClusterCredentials`),
    /// else for the role's own database user
    /// (`redshift:GetClusterCredentialsWithIAM`).
    IamCluster {
        url: Secret,
        cluster: String,
        db_user: Option<String>,
    },
    /// The wire protocol with IAM temporary credentials from a serverless
    /// `workgroup` (`redshift-serverless:GetCredentials`), for the role's own
    /// database user (the URL has no password).
    IamWorkgroup { url: Secret, workgroup: String },
    /// The Redshift Data API (HTTPS) on a provisioned cluster, as `db_user` or
    /// else as the role's own database user.
    DataApiCluster {
        cluster: String,
        db_user: Option<String>,
    },
    /// The Redshift Data API on a serverless workgroup, as the caller's IAM
    /// identity.
    DataApiWorkgroup { workgroup: String },
}

/// An Athena workgroup and database (see `config::Athena`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaSource {
    pub database: String,
    pub workgroup: String,
    pub output_location: Option<String>,
    pub catalog: Option<String>,
    pub query_timeout: Duration,
    /// Rows per GetQueryResults page (Athena's maximum is 1,000).
    pub page_rows: i32,
}

/// A Snowflake account and who logs in (see `config::Snowflake`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnowflakeSource {
    pub account: String,
    pub user: String,
    pub auth: SnowflakeAuth,
    pub role: Option<String>,
    pub warehouse: Option<String>,
    pub database: Option<String>,
    pub schema: Option<String>,
    /// Instead of `https://<account>.snowflakecomputing.com`.
    pub base_url: Option<String>,
    pub query_timeout: Duration,
}

/// How backflow's Snowflake user logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnowflakeAuth {
    Password(Secret),
    /// A PEM private key (PKCS#8, encrypted with `passphrase` or not, or PKCS#1).
    KeyPair {
        private_key: Secret,
        passphrase: Option<Secret>,
    },
}

/// A BigQuery project (see `config::Bigquery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigquerySource {
    pub project: String,
    pub location: Option<String>,
    /// The service account's key file (JSON); `None` only for an emulator.
    pub credentials: Option<Secret>,
    /// Instead of `https://bigquery.googleapis.com`.
    pub base_url: Option<String>,
    pub query_timeout: Duration,
    /// Rows per result page (`maxResults`).
    pub page_rows: u32,
}

impl Source {
    /// The source of a config's warehouse entry. `sqlite_path` resolves a SQLite
    /// `path:` (relative to the config's folder); `secret` fetches one
    /// `{ secret, key }` reference from Secrets Manager.
    pub async fn from_config<E, F, Fut>(
        warehouse: &config::Warehouse,
        sqlite_path: impl FnOnce(&str) -> PathBuf,
        mut secret: F,
    ) -> Result<Source, E>
    where
        F: FnMut(SecretRef) -> Fut,
        Fut: Future<Output = Result<Secret, E>>,
    {
        let mut optional = async |reference: &Option<SecretRef>| -> Result<Option<Secret>, E> {
            match reference {
                Some(r) => Ok(Some(secret(r.clone()).await?)),
                None => Ok(None),
            }
        };
        let timeout = |secs: Option<u64>| secs.map_or(DEFAULT_QUERY_TIMEOUT, Duration::from_secs);
        Ok(match warehouse {
            config::Warehouse::Sqlite { path } => Source::Sqlite {
                path: sqlite_path(path),
            },
            config::Warehouse::Postgres { url } => Source::Postgres {
                url: url_secret(url, &mut optional).await?,
            },
            config::Warehouse::Mysql { url } => Source::Mysql {
                url: url_secret(url, &mut optional).await?,
            },
            config::Warehouse::Snowflake(s) => {
                let auth = match optional(&s.private_key).await? {
                    Some(private_key) => SnowflakeAuth::KeyPair {
                        private_key,
                        passphrase: optional(&s.private_key_passphrase).await?,
                    },
                    // Validation made sure one of the two is there.
                    None => SnowflakeAuth::Password(
                        optional(&s.password)
                            .await?
                            .unwrap_or_else(|| Secret::new("")),
                    ),
                };
                Source::Snowflake(SnowflakeSource {
                    account: s.account.clone(),
                    user: s.user.clone(),
                    auth,
                    role: s.role.clone(),
                    warehouse: s.warehouse.clone(),
                    database: s.database.clone(),
                    schema: s.schema.clone(),
                    base_url: s.base_url.clone(),
                    query_timeout: timeout(s.query_timeout_secs),
                })
            }
            config::Warehouse::Bigquery(b) => Source::Bigquery(BigquerySource {
                project: b.project.clone(),
                location: b.location.clone(),
                credentials: optional(&b.credentials).await?,
                base_url: b.base_url.clone(),
                query_timeout: timeout(b.query_timeout_secs),
                page_rows: DEFAULT_PAGE_ROWS,
            }),
            config::Warehouse::Redshift(r) => {
                // Validation made sure the keys fit one of these.
                let access = match (&r.url, &r.cluster, &r.workgroup, &r.db_user) {
                    (Some(url), Some(cluster), _, db_user) => RedshiftAccess::IamCluster {
                        url: url_secret(url, &mut optional).await?,
                        cluster: cluster.clone(),
                        db_user: db_user.clone(),
                    },
                    (Some(url), None, Some(workgroup), _) => RedshiftAccess::IamWorkgroup {
                        url: url_secret(url, &mut optional).await?,
                        workgroup: workgroup.clone(),
                    },
                    (Some(url), ..) => RedshiftAccess::Url(url_secret(url, &mut optional).await?),
                    (None, _, Some(workgroup), _) => RedshiftAccess::DataApiWorkgroup {
                        workgroup: workgroup.clone(),
                    },
                    (None, cluster, None, db_user) => RedshiftAccess::DataApiCluster {
                        cluster: cluster.clone().unwrap_or_default(),
                        db_user: db_user.clone(),
                    },
                };
                Source::Redshift(RedshiftSource {
                    access,
                    database: r.database.clone(),
                    query_timeout: timeout(r.query_timeout_secs),
                })
            }
            config::Warehouse::Athena(a) => Source::Athena(AthenaSource {
                database: a.database.clone(),
                workgroup: a.workgroup.clone(),
                output_location: a.output_location.clone(),
                catalog: a.catalog.clone(),
                query_timeout: timeout(a.query_timeout_secs),
                page_rows: ATHENA_PAGE_ROWS,
            }),
        })
    }

    /// The type's name, which messages use when the config's name is unknown.
    pub fn type_name(&self) -> &'static str {
        match self {
            Source::Sqlite { .. } => "sqlite",
            Source::Postgres { .. } => "postgres",
            Source::Mysql { .. } => "mysql",
            Source::Snowflake(_) => "snowflake",
            Source::Bigquery(_) => "bigquery",
            Source::Redshift(_) => "redshift",
            Source::Athena(_) => "athena",
        }
    }
}

async fn url_secret<E, G>(url: &UrlSource, optional: &mut G) -> Result<Secret, E>
where
    G: AsyncFnMut(&Option<SecretRef>) -> Result<Option<Secret>, E>,
{
    match url {
        UrlSource::Literal(text) => Ok(Secret::new(text.clone())),
        UrlSource::Secret(r) => Ok(optional(&Some(r.clone()))
            .await?
            .unwrap_or_else(|| Secret::new(""))),
    }
}
