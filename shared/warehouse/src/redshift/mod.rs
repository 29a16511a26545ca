//! Redshift, two ways in:
//!
//! - the PostgreSQL wire protocol (sqlx's PostgreSQL driver, rows streamed as on
//!   PostgreSQL), with the URL's password or with IAM temporary credentials
//!   ([`iam_credentials`]: `redshift:GetClusterCredentials*` on a provisioned
//!   cluster, `redshift-serverless:GetCredentials` on a workgroup). Redshift's
//!   dialect differs where backflow's SQL touches it: the sorted extract orders
//!   by the key without `COLLATE "C"` (see `order`), and a column of a type
//!   PostgreSQL does not have (`SUPER`, `GEOMETRY`, `HLLSKETCH`, `VARBYTE`)
//!   makes sqlx ask the catalog with a cast Redshift refuses (sqlx issue
//!   #3817): that error is explained ([`explain_wire_error`]) — cast the column
//!   in the model's SQL, or use the Data API;
//! - the Redshift Data API ([`data_api`]): HTTPS with the function's IAM role,
//!   no network path to the cluster.

pub(crate) mod data_api;

use aws_config::SdkConfig;
use backflow_core::secret::Secret;

use crate::aws::sdk_message;

/// How long the IAM password lasts: the longest Redshift grants (all three
/// calls take 900 to 3600 s), so a pool connection opened late in a 15-minute
/// invocation still logs in.
const CREDENTIALS_SECONDS: i32 = 3600;

/// Who issues the wire protocol's IAM credentials.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Issuer<'a> {
    /// A provisioned cluster, for `db_user` or else the role's own user.
    Cluster {
        cluster: &'a str,
        db_user: Option<&'a str>,
    },
    /// A serverless workgroup, for the role's own user.
    Workgroup(&'a str),
}

/// A temporary database user and password.
#[derive(Debug)]
pub(crate) struct Credentials {
    /// The name Redshift gives the temporary login: `IAM:<db_user>`, or
    /// `IAMR:<role name>` for the role's own user.
    pub(crate) user: String,
    pub(crate) password: Secret,
}

/// Temporary credentials from `issuer`, limited to `database` when given.
pub(crate) async fn iam_credentials(
    config: &SdkConfig,
    issuer: Issuer<'_>,
    database: Option<&str>,
) -> Result<Credentials, String> {
    match issuer {
        Issuer::Cluster { cluster, db_user } => {
            cluster_credentials(config, cluster, db_user, database).await
        }
        Issuer::Workgroup(workgroup) => workgroup_credentials(config, workgroup, database).await,
    }
}

/// Temporary credentials on `cluster` (limited to `database` when given):
/// `redshift:GetClusterCredentials` for `db_user`, which must exist (no
/// auto-create: backflow never creates database users), or without one
/// `redshift:GetClusterCredentialsWithIAM` for the role's own database user.
async fn cluster_credentials(
    config: &SdkConfig,
    cluster: &str,
    db_user: Option<&str>,
    database: Option<&str>,
) -> Result<Credentials, String> {
    let client = aws_sdk_redshift::Client::new(config);
    let database = database.map(str::to_string);
    let (who, action, answer) = match db_user {
        Some(db_user) => {
            let answer = client
                .get_cluster_credentials()
                .cluster_identifier(cluster)
                .db_user(db_user)
                .set_db_name(database)
                .duration_seconds(CREDENTIALS_SECONDS)
                .auto_create(false)
                .send()
                .await
                .map(|a| (a.db_user, a.db_password))
                .map_err(|e| sdk_message(&e));
            (format!("`{db_user}`"), "GetClusterCredentials", answer)
        }
        None => {
            let answer = client
                .get_cluster_credentials_with_iam()
                .cluster_identifier(cluster)
                .set_db_name(database)
                .duration_seconds(CREDENTIALS_SECONDS)
                .send()
                .await
                .map(|a| (a.db_user, a.db_password))
                .map_err(|e| sdk_message(&e));
            (
                "the role's database user".to_string(),
                "GetClusterCredentialsWithIAM",
                answer,
            )
        }
    };
    credentials(
        answer,
        &who,
        &format!("cluster `{cluster}`"),
        "redshift",
        action,
    )
}

/// Temporary credentials on serverless `workgroup` (limited to `database`
/// when given): `redshift-serverless:GetCredentials`, for the role's own
/// database user (`IAMR:<role name>`); serverless takes no user name.
async fn workgroup_credentials(
    config: &SdkConfig,
    workgroup: &str,
    database: Option<&str>,
) -> Result<Credentials, String> {
    let answer = aws_sdk_redshiftserverless::Client::new(config)
        .get_credentials()
        .workgroup_name(workgroup)
        .set_db_name(database.map(str::to_string))
        .duration_seconds(CREDENTIALS_SECONDS)
        .send()
        .await
        .map(|a| (a.db_user, a.db_password))
        .map_err(|e| sdk_message(&e));
    credentials(
        answer,
        "the role's database user",
        &format!("workgroup `{workgroup}`"),
        "redshift-serverless",
        "GetCredentials",
    )
}

/// The user and password of an answer, or a message naming who asked whom
/// (`at`) with which IAM action; the password is never in it.
fn credentials(
    answer: Result<(Option<String>, Option<String>), String>,
    who: &str,
    at: &str,
    service: &str,
    action: &str,
) -> Result<Credentials, String> {
    match answer {
        Ok((Some(user), Some(password))) => Ok(Credentials {
            user,
            password: Secret::new(password),
        }),
        Ok(_) => Err(format!(
            "{service}:{action} for {who} on {at} answered without a user and password"
        )),
        Err(message) => Err(format!(
            "IAM credentials for {who} on {at} were refused ({service}:{action}): {message}"
        )),
    }
}

/// A wire-protocol error as users should read it: sqlx's catalog lookup of a
/// type PostgreSQL does not have fails on Redshift with `cannot cast type
/// regtype to character varying` (Redshift has no object identifier types),
/// which says nothing about the model; say which types and what to do.
pub(crate) fn explain_wire_error(message: String) -> String {
    if message.contains("regtype") {
        format!(
            "{message} — the result has a column of a type the PostgreSQL protocol cannot \
             describe on Redshift (SUPER, GEOMETRY, GEOGRAPHY, HLLSKETCH, VARBYTE): cast it \
             in the model's SQL (`JSON_SERIALIZE(col)` for SUPER, `col::varchar` otherwise), \
             or use the Data API (`cluster` / `workgroup` without `url`), which reads SUPER \
             as JSON"
        )
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_super_lookup_error_says_what_to_cast() {
        let explained = explain_wire_error(
            "error returned from database: cannot cast type regtype to character varying".into(),
        );
        assert!(
            explained.starts_with("error returned from database: cannot cast type regtype"),
            "{explained}"
        );
        assert!(explained.contains("JSON_SERIALIZE(col)"), "{explained}");
        assert!(explained.contains("SUPER"), "{explained}");
        let other = "relation \"users\" does not exist".to_string();
        assert_eq!(explain_wire_error(other.clone()), other);
    }
}
