//! Keeps a connection URL's password out of error messages.
//!
//! sqlx's messages do not normally echo the URL, but a driver, a TLS library or a
//! future version might; every message this crate builds from a driver error goes
//! through [`Redactor::redact`], which masks the whole URL and each form of its
//! password (as written, percent-decoded, and a `password=` query parameter).

use backflow_core::secret::Secret;

use crate::Error;

#[derive(Clone)]
pub(crate) struct Redactor {
    /// What error messages call the warehouse: the SQLite path, or the URL with its
    /// password masked.
    target: String,
    /// Longest first, so a password that contains another candidate is masked whole.
    secrets: Vec<Secret>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// For a source with no secret (a SQLite file).
    pub(crate) fn none(target: String) -> Self {
        Redactor {
            target,
            secrets: Vec::new(),
        }
    }

    /// For a source whose secrets are `secrets` (passwords, keys, key files).
    pub(crate) fn with_secrets(target: String, secrets: Vec<Secret>) -> Self {
        let mut redactor = Redactor::none(target);
        for secret in secrets {
            redactor.add_secret(secret);
        }
        redactor
    }

    /// Masks `secret` too from now on (a session token learned at login).
    pub(crate) fn add_secret(&mut self, secret: Secret) {
        if !secret.expose().is_empty() {
            self.secrets.push(secret);
            self.secrets
                .sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        }
    }

    /// Puts the config's name of the warehouse in front of what messages call it.
    pub(crate) fn name(&mut self, name: &str) {
        self.target = format!("`{name}` ({})", self.target);
    }

    pub(crate) fn for_url(url: &Secret) -> Self {
        let mut passwords: Vec<String> = Vec::new();
        for raw in url_passwords(url.expose()) {
            let decoded = percent_decode(raw);
            if decoded != raw {
                passwords.push(decoded);
            }
            passwords.push(raw.to_string());
        }
        passwords.retain(|p| !p.is_empty());
        passwords.sort_by_key(|p| std::cmp::Reverse(p.len()));
        passwords.dedup();
        let passwords: Vec<Secret> = passwords.into_iter().map(Secret::new).collect();
        let target = passwords
            .iter()
            .fold(url.expose().to_string(), |text, p| p.redact(&text));
        let mut secrets = vec![url.clone()];
        secrets.extend(passwords);
        Redactor { target, secrets }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |text, secret| secret.redact(&text))
    }

    /// A driver error as a message for a user, redacted.
    pub(crate) fn describe(&self, e: &sqlx::Error) -> String {
        let message = match e {
            // The server's own words; sqlx's "error returned from database: " adds
            // nothing for a user.
            sqlx::Error::Database(db) => db.message().to_string(),
            other => other.to_string(),
        };
        self.redact(&message)
    }

    pub(crate) fn connect_error(&self, message: &str) -> Error {
        Error::Connect {
            target: self.target.clone(),
            message: self.redact(message),
        }
    }

    /// A credential that cannot be used as it is (a malformed key or key file).
    pub(crate) fn credentials_error(&self, message: &str) -> Error {
        Error::Credentials {
            target: self.target.clone(),
            message: self.redact(message),
        }
    }

    pub(crate) fn query_error(&self, model: &str, message: &str) -> Error {
        Error::Query {
            warehouse: self.target.clone(),
            model: model.to_string(),
            message: self.redact(message),
        }
    }

    pub(crate) fn timeout_error(&self, model: &str, limit: std::time::Duration) -> Error {
        Error::Timeout {
            warehouse: self.target.clone(),
            model: model.to_string(),
            seconds: limit.as_secs(),
        }
    }
}

/// Every substring of `url` that may be its password: the userinfo password of
/// `scheme://user:password@host/...` and the value of a `password=` parameter.
fn url_passwords(url: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if let Some((userinfo, _host)) = rest[..authority_end].rsplit_once('@') {
        if let Some((_user, password)) = userinfo.split_once(':') {
            found.push(password);
        }
    }
    if let Some((_, query)) = rest.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=') {
                if key.eq_ignore_ascii_case("password") {
                    found.push(value);
                }
            }
        }
    }
    found
}

/// `%XX` → byte (and `+` left alone: it is literal in a URL's userinfo). Invalid
/// escapes are kept as written, and so is the whole text when the decoded bytes
/// are not UTF-8.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_or_else(|_| text.to_string(), |decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_userinfo_and_query_passwords() {
        assert_eq!(
            url_passwords("postgres://bob:s3cret@db:5432/app"),
            vec!["s3cret"]
        );
        assert_eq!(
            url_passwords("mysql://bob:p%40ss@db/app?password=other&ssl-mode=required"),
            vec!["p%40ss", "other"]
        );
        assert!(url_passwords("postgres://bob@db/app").is_empty());
        assert!(url_passwords("postgres://db/app").is_empty());
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("p%40ss%2Fw0rd"), "p@ss/w0rd");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%E2%9C%93"), "✓");
        // A multi-byte character right after `%`, and bytes that are not UTF-8.
        assert_eq!(percent_decode("p%aé%"), "p%aé%");
        assert_eq!(percent_decode("p%FFw"), "p%FFw");
    }

    #[test]
    fn masks_every_form_of_the_password() {
        let url = Secret::new("postgres://bob:p%40ss@db.internal:5432/app");
        let redactor = Redactor::for_url(&url);
        assert_eq!(redactor.target, "postgres://bob:***@db.internal:5432/app");
        assert_eq!(
            redactor
                .redact("failed for p@ss and p%40ss at postgres://bob:p%40ss@db.internal:5432/app"),
            "failed for *** and *** at ***"
        );
        let message = redactor.connect_error("auth failed: p@ss").to_string();
        assert!(
            !message.contains("p@ss") && !message.contains("p%40ss"),
            "{message}"
        );
        assert!(message.contains("db.internal"), "{message}");
    }
}
