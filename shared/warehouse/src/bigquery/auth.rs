//! A service account's access token: a JWT signed with the key file's private
//! key (RS256), exchanged at the key file's `token_uri` for a bearer token
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`), as Google's
//! client libraries do for a service account key.

use backflow_core::secret::Secret;
use serde::Deserialize;
use serde_json::json;

use crate::jwt::SigningKey;

/// What the token may do: run query jobs and read their results.
pub(super) const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";

/// A token lives an hour; a run is over long before.
const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// The fields of a service account key file that are used.
#[derive(Deserialize)]
pub(super) struct KeyFile {
    #[serde(rename = "type")]
    pub kind: String,
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_string()
}

impl KeyFile {
    /// Parses the key file; errors say what is wrong without quoting it.
    pub(super) fn parse(credentials: &Secret) -> Result<KeyFile, String> {
        let key: KeyFile = serde_json::from_str(credentials.expose()).map_err(|e| {
            format!(
                "`credentials` is not a service account key file (JSON with `client_email`, \
                 `private_key`): {}",
                serde_error_without_input(&e)
            )
        })?;
        if key.kind != "service_account" {
            return Err(format!(
                "`credentials` is a `{}` key file, not a `service_account` one",
                key.kind.chars().take(40).collect::<String>()
            ));
        }
        Ok(key)
    }

    /// The signed assertion for `now` (Unix seconds).
    pub(super) fn assertion(&self, now: u64) -> Result<String, String> {
        let key = SigningKey::from_pem(&Secret::new(self.private_key.clone()), None)?;
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(id) = &self.private_key_id {
            header["kid"] = json!(id);
        }
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        key.sign(&header, &claims)
    }
}

/// serde's message keeps its position but never a piece of the input.
fn serde_error_without_input(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// The token endpoint's answer.
#[derive(Deserialize)]
pub(super) struct TokenResponse {
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

impl TokenResponse {
    pub(super) fn into_token(self) -> Result<Secret, String> {
        match (self.access_token, self.error) {
            (Some(token), None) if !token.is_empty() => Ok(Secret::new(token)),
            (_, Some(error)) => Err(match self.error_description {
                Some(description) => format!("{error}: {description}"),
                None => error,
            }),
            _ => Err("the token endpoint gave no access token".to_string()),
        }
    }
}

/// Exchanges the key file for an access token.
pub(super) async fn access_token(http: &reqwest::Client, key: &KeyFile) -> Result<Secret, String> {
    let assertion = key.assertion(crate::http::unix_now())?;
    let response = http
        .post(&key.token_uri)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(crate::http::form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ]))
        .send()
        .await
        .map_err(|e| crate::http::describe(&e))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| crate::http::describe(&e))?;
    match serde_json::from_str::<TokenResponse>(&text) {
        Ok(answer) => answer.into_token(),
        Err(_) => Err(crate::http::unexpected_answer(status, &text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tests::TEST_KEY;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    pub(crate) fn key_file(token_uri: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": "acme",
            "private_key_id": "kid-1",
            "private_key": TEST_KEY,
            "client_email": "backflow@acme.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        })
        .to_string()
    }

    #[test]
    fn the_assertion_has_googles_claims() {
        let key = KeyFile::parse(&Secret::new(key_file(
            "https://oauth2.googleapis.com/token",
        )))
        .unwrap();
        let jwt = key.assertion(1_700_000_000).unwrap();
        let part = |i: usize| -> serde_json::Value {
            serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(jwt.split('.').nth(i).unwrap())
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(
            part(0),
            json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"})
        );
        assert_eq!(
            part(1),
            json!({
                "iss": "backflow@acme.iam.gserviceaccount.com",
                "scope": SCOPE,
                "aud": "https://oauth2.googleapis.com/token",
                "iat": 1_700_000_000u64,
                "exp": 1_700_003_600u64,
            })
        );
    }

    #[test]
    fn bad_key_files_are_explained_without_quoting_them() {
        let cases = [
            ("not json at all: s3cr3t", "not a service account key file"),
            (
                r#"{"type": "authorized_user", "client_email": "x", "private_key": "s3cr3t"}"#,
                "`authorized_user`",
            ),
            (
                r#"{"type": "service_account", "private_key": "s3cr3t"}"#,
                "client_email",
            ),
        ];
        for (text, expected) in cases {
            let message = KeyFile::parse(&Secret::new(text)).err().unwrap();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains("s3cr3t"), "{message}");
        }
    }

    #[test]
    fn token_answers() {
        let ok: TokenResponse = serde_json::from_value(
            json!({"access_token": "ya29.x", "expires_in": 3599, "token_type": "Bearer"}),
        )
        .unwrap();
        assert_eq!(ok.into_token().unwrap().expose(), "ya29.x");
        let refused: TokenResponse = serde_json::from_value(
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
        )
        .unwrap();
        assert_eq!(
            refused.into_token().unwrap_err(),
            "invalid_grant: Invalid JWT Signature."
        );
    }
}
