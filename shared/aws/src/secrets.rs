//! `{secret, key}` references resolved from AWS Secrets Manager.
//!
//! A secret's `SecretString` is a JSON object of strings (`{"access_token": "..."}`),
//! as the console's key/value editor writes it. Values are wrapped in [`Secret`] the
//! moment they are parsed, and errors name the secret and the key, never a value.
//!
//! The cache lives as long as the [`Secrets`] value: build one per invocation so a
//! rotated token is picked up by the next invocation, while the two keys of one
//! secret (or one token used by many requests) cost one `GetSecretValue`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use backflow_core::config::SecretRef;
use backflow_core::secret::Secret;

use crate::error::{context, Error};

/// One secret's keys. `Err(type name)`: the key exists but its value is not a string
/// (only the JSON type's name is kept, for the error message).
type Fields = HashMap<String, Result<Secret, &'static str>>;

/// Secrets Manager with a per-invocation cache.
#[derive(Clone)]
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
    cache: Arc<Mutex<HashMap<String, Arc<Fields>>>>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached: Vec<String> = self.lock().keys().cloned().collect();
        f.debug_struct("Secrets").field("cached", &cached).finish()
    }
}

impl Secrets {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Secrets {
        Secrets {
            client,
            cache: Arc::default(),
        }
    }

    /// The value of `r.key` in the JSON object stored in secret `r.secret`.
    pub async fn get(&self, r: &SecretRef) -> Result<Secret, Error> {
        let cached = self.lock().get(&r.secret).cloned();
        let fields = match cached {
            Some(fields) => fields,
            None => {
                let fields = Arc::new(self.fetch(&r.secret).await?);
                self.lock().insert(r.secret.clone(), fields.clone());
                fields
            }
        };
        match fields.get(&r.key) {
            Some(Ok(value)) => Ok(value.clone()),
            Some(Err(kind)) => Err(Error::SecretInvalid {
                secret: r.secret.clone(),
                message: format!("key `{}` holds {kind}, expected a string", r.key),
            }),
            None => Err(Error::SecretKeyMissing {
                secret: r.secret.clone(),
                key: r.key.clone(),
            }),
        }
    }

    /// Forgets every cached value (the next `get` reads Secrets Manager again).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Fields>>> {
        // A poisoned cache is still a valid cache.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn fetch(&self, secret: &str) -> Result<Fields, Error> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(GetSecretValueError::ResourceNotFoundException(_)) => Error::SecretNotFound {
                    secret: secret.to_string(),
                },
                _ => Error::SecretsManager {
                    secret: secret.to_string(),
                    message: context(&e),
                },
            })?;
        let Some(text) = out.secret_string() else {
            return Err(Error::SecretInvalid {
                secret: secret.to_string(),
                message: "has no SecretString (binary secrets are not supported); store a JSON object such as {\"key\": \"value\"}".into(),
            });
        };
        parse_fields(secret, text)
    }
}

/// Parses a `SecretString`. serde_json's syntax errors give a position, not content,
/// but the message is replaced anyway: nothing of the text may reach a log.
fn parse_fields(secret: &str, text: &str) -> Result<Fields, Error> {
    let invalid = |message: &str| Error::SecretInvalid {
        secret: secret.to_string(),
        message: message.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| {
        invalid("SecretString is not valid JSON; store a JSON object such as {\"key\": \"value\"}")
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err(invalid(
            "SecretString is not a JSON object; store a JSON object such as {\"key\": \"value\"}",
        ));
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let field = match v {
                serde_json::Value::String(s) => Ok(Secret::new(s)),
                serde_json::Value::Null => Err("null"),
                serde_json::Value::Bool(_) => Err("a boolean"),
                serde_json::Value::Number(_) => Err("a number"),
                serde_json::Value::Array(_) => Err("an array"),
                serde_json::Value::Object(_) => Err("an object"),
            };
            (k, field)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects_of_strings() {
        let fields = parse_fields("s", r#"{"a":"tok_1","n":5}"#).unwrap();
        assert_eq!(fields["a"].as_ref().unwrap().expose(), "tok_1");
        assert_eq!(fields["n"].as_ref().unwrap_err(), &"a number");
    }

    #[test]
    fn errors_never_echo_the_text() {
        for text in ["tok_secret_1", "\"tok_secret_1\"", "{\"a\": tok_secret_1}"] {
            let err = parse_fields("backflow/intercom", text)
                .unwrap_err()
                .to_string();
            assert!(err.contains("backflow/intercom"), "{err}");
            assert!(!err.contains("tok_secret_1"), "{err}");
        }
    }
}
