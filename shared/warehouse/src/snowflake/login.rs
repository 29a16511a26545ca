//! Snowflake's login (`POST /session/v1/login-request`), as its official
//! drivers send it: the session's role, warehouse, database and schema in the
//! query string; the credential in the JSON body — a password, or
//! `AUTHENTICATOR: SNOWFLAKE_JWT` with a token signed by the user's private key.
//! The answer carries the session token every later request sends as
//! `Authorization: Snowflake Token="…"`.

use backflow_core::secret::Secret;
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::SnowflakeAuth;
use crate::jwt::SigningKey;
use crate::SnowflakeSource;

/// How long a login JWT is valid; Snowflake accepts at most an hour.
const JWT_LIFETIME_SECS: u64 = 60;

/// The account as the JWT and `ACCOUNT_NAME` name it: the identifier before its
/// first `.` (the region and cloud are part of the host, not the account),
/// upper-cased, as the official drivers do.
pub(super) fn account_name(account: &str) -> String {
    account.split('.').next().unwrap_or(account).to_uppercase()
}

/// The login's query string: the session's context, in the drivers' names.
pub(super) fn login_query(
    source: &SnowflakeSource,
    request_id: &str,
) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    for (name, value) in [
        ("warehouse", &source.warehouse),
        ("databaseName", &source.database),
        ("schemaName", &source.schema),
        ("roleName", &source.role),
    ] {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    query.push(("requestId", request_id.to_string()));
    query
}

/// The login body. `now` is Unix seconds (the JWT's `iat`).
pub(super) fn login_body(source: &SnowflakeSource, now: u64) -> Result<Json, String> {
    let account = account_name(&source.account);
    let mut data = json!({
        "CLIENT_APP_ID": "backflow",
        "CLIENT_APP_VERSION": env!("CARGO_PKG_VERSION"),
        "ACCOUNT_NAME": account,
        "LOGIN_NAME": source.user,
        "CLIENT_ENVIRONMENT": {
            "APPLICATION": "backflow",
            "OS": std::env::consts::OS,
        },
        // Timestamps come back as instants either way; UTC keeps any text the
        // model makes of them (TO_VARCHAR) free of the account's zone.
        "SESSION_PARAMETERS": { "TIMEZONE": "UTC" },
    });
    match &source.auth {
        SnowflakeAuth::Password(password) => {
            data["PASSWORD"] = Json::String(password.expose().to_string());
        }
        SnowflakeAuth::KeyPair {
            private_key,
            passphrase,
        } => {
            let key = SigningKey::from_pem(private_key, passphrase.as_ref())?;
            data["AUTHENTICATOR"] = Json::String("SNOWFLAKE_JWT".to_string());
            data["TOKEN"] = Json::String(login_jwt(&key, &account, &source.user, now)?);
        }
    }
    Ok(json!({ "data": data }))
}

/// The key-pair login token: issuer `ACCOUNT.USER.SHA256:<fingerprint>`,
/// subject `ACCOUNT.USER`, valid for [`JWT_LIFETIME_SECS`].
pub(super) fn login_jwt(
    key: &SigningKey,
    account: &str,
    user: &str,
    now: u64,
) -> Result<String, String> {
    let subject = format!("{account}.{}", user.to_uppercase());
    let claims = json!({
        "iss": format!("{subject}.{}", key.public_key_fingerprint()?),
        "sub": subject,
        "iat": now,
        "exp": now + JWT_LIFETIME_SECS,
    });
    key.sign(&json!({"alg": "RS256", "typ": "JWT"}), &claims)
}

/// The answer to a login.
pub(super) type LoginResponse = super::Answer<LoginData>;

#[derive(Debug, Deserialize)]
pub(super) struct LoginData {
    #[serde(default)]
    pub token: Option<String>,
}

impl LoginResponse {
    /// The session token, or Snowflake's reason for refusing the login.
    pub(super) fn into_token(self) -> Result<Secret, String> {
        match (self.success, self.data.and_then(|d| d.token)) {
            (true, Some(token)) => Ok(Secret::new(token)),
            (true, None) => Err("the login answer has no session token".to_string()),
            (false, _) => Err(engine_message(self.message.as_deref(), self.code.as_ref())),
        }
    }
}

/// Snowflake's message with its code: `Incorrect username or password was
/// specified. (390100)`.
pub(super) fn engine_message(message: Option<&str>, code: Option<&Json>) -> String {
    let message = message.unwrap_or("no message").trim();
    match code {
        Some(Json::String(code)) if !message.contains(code.as_str()) => {
            format!("{message} ({code})")
        }
        Some(Json::Number(code)) => format!("{message} ({code})"),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tests::{TEST_KEY, TEST_KEY_FINGERPRINT};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use std::time::Duration;

    fn source(auth: SnowflakeAuth) -> SnowflakeSource {
        SnowflakeSource {
            account: "xy12345.eu-west-1".into(),
            user: "backflow".into(),
            auth,
            role: Some("BACKFLOW_READER".into()),
            warehouse: Some("COMPUTE_WH".into()),
            database: Some("ANALYTICS".into()),
            schema: None,
            base_url: None,
            query_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn password_login_names_the_session_and_sends_the_password() {
        let source = source(SnowflakeAuth::Password(Secret::new("pw")));
        let body = login_body(&source, 1_700_000_000).unwrap();
        assert_eq!(body["data"]["ACCOUNT_NAME"], "XY12345");
        assert_eq!(body["data"]["LOGIN_NAME"], "backflow");
        assert_eq!(body["data"]["PASSWORD"], "pw");
        assert!(body["data"].get("AUTHENTICATOR").is_none());
        assert!(body["data"]["SESSION_PARAMETERS"].is_object());
        assert_eq!(
            login_query(&source, "r1"),
            vec![
                ("warehouse", "COMPUTE_WH".to_string()),
                ("databaseName", "ANALYTICS".to_string()),
                ("roleName", "BACKFLOW_READER".to_string()),
                ("requestId", "r1".to_string()),
            ]
        );
    }

    #[test]
    fn key_pair_login_sends_a_jwt_with_the_drivers_claims() {
        let source = source(SnowflakeAuth::KeyPair {
            private_key: Secret::new(TEST_KEY),
            passphrase: None,
        });
        let body = login_body(&source, 1_700_000_000).unwrap();
        assert_eq!(body["data"]["AUTHENTICATOR"], "SNOWFLAKE_JWT");
        assert!(body["data"].get("PASSWORD").is_none());
        let token = body["data"]["TOKEN"].as_str().unwrap();
        let claims = token.split('.').nth(1).unwrap();
        let claims: Json =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(
            claims,
            json!({
                "iss": format!("XY12345.BACKFLOW.SHA256:{}", TEST_KEY_FINGERPRINT.trim()),
                "sub": "XY12345.BACKFLOW",
                "iat": 1_700_000_000u64,
                "exp": 1_700_000_060u64,
            })
        );
    }

    #[test]
    fn a_refused_login_gives_snowflakes_reason() {
        let refused: LoginResponse = serde_json::from_value(json!({
            "data": {"nextAction": "RETRY_LOGIN", "authnMethod": "PASSWORD"},
            "code": "390100",
            "message": "Incorrect username or password was specified.",
            "success": false,
            "headers": null
        }))
        .unwrap();
        assert_eq!(
            refused.into_token().unwrap_err(),
            "Incorrect username or password was specified. (390100)"
        );
        let ok: LoginResponse =
            serde_json::from_value(json!({"data": {"token": "t0k"}, "success": true})).unwrap();
        assert_eq!(ok.into_token().unwrap().expose(), "t0k");
        assert_eq!(account_name("orgname-acct_1"), "ORGNAME-ACCT_1");
    }
}
