//! Redshift, two ways in:
//!
//! - the PostgreSQL wire protocol (sqlx's PostgreSQL driver, rows streamed as on
//!   PostgreSQL), with the URL's password or with IAM temporary credentials
//!   ([`cluster_credentials`]: `redshift:GetClusterCredentials`). Redshift's
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

/// How long the IAM password lasts: the longest Redshift grants, so a pool
/// connection opened late in a 15-minute invocation still logs in.
const CREDENTIALS_SECONDS: i32 = 3600;

/// A temporary database user and password.
#[derive(Debug)]
pub(crate) struct Credentials {
    /// `IAM:<db_user>`, the name Redshift gives the temporary login.
    pub(crate) user: String,
    pub(crate) password: Secret,
}

/// Temporary credentials on `cluster` (limited to `database` when given):
/// `redshift:GetClusterCredentials` for `db_user`, which must exist (no
/// auto-create: backflow never creates database users), or without one
/// `redshift:GetClusterCredentialsWithIAM` for the role's own database user.
pub(crate) async fn cluster_credentials(
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
    match answer {
        Ok((Some(user), Some(password))) => Ok(Credentials {
            user,
            password: Secret::new(password),
        }),
        Ok(_) => Err(format!(
            "redshift:{action} for {who} on cluster `{cluster}` answered without a user and \
             password"
        )),
        Err(message) => Err(format!(
            "IAM credentials for {who} on cluster `{cluster}` were refused \
             (redshift:{action}): {message}"
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
