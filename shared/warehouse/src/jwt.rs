//! RS256 JSON Web Tokens, for Snowflake's key-pair login and Google's
//! service-account token exchange. Signing uses aws-lc-rs, the crypto library
//! rustls (and so reqwest) already links, so no second crypto stack ships.
//!
//! Keys arrive as PEM: `PRIVATE KEY` (PKCS#8, what `openssl pkcs8 -topk8` and
//! Google's key files hold), `RSA PRIVATE KEY` (PKCS#1, `openssl genrsa`'s older
//! output) or `ENCRYPTED PRIVATE KEY` (PKCS#8 with a passphrase; see `pkcs8`).

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use backflow_core::secret::Secret;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value as Json;

use crate::pkcs8;

/// An RSA private key that signs JWTs.
pub(crate) struct SigningKey {
    pair: RsaKeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Parses a PEM private key, decrypting it with `passphrase` when it is an
    /// `ENCRYPTED PRIVATE KEY`. Errors never quote the key.
    pub(crate) fn from_pem(pem: &Secret, passphrase: Option<&Secret>) -> Result<Self, String> {
        let (label, der) = pem_block(pem.expose())?;
        let pair = match (label.as_str(), passphrase) {
            ("PRIVATE KEY", _) => RsaKeyPair::from_pkcs8(&der)
                .map_err(|e| format!("the private key is not an RSA key ({e})"))?,
            ("RSA PRIVATE KEY", _) => RsaKeyPair::from_der(&der)
                .map_err(|e| format!("the private key is not an RSA key ({e})"))?,
            ("ENCRYPTED PRIVATE KEY", Some(passphrase)) => {
                let plain = pkcs8::decrypt(&der, passphrase.expose().as_bytes())?;
                RsaKeyPair::from_pkcs8(&plain)
                    .map_err(|e| format!("the decrypted private key is not an RSA key ({e})"))?
            }
            ("ENCRYPTED PRIVATE KEY", None) => {
                return Err("the private key is encrypted: set `private_key_passphrase`".to_string())
            }
            (other, _) => return Err(format!("expected a PEM `PRIVATE KEY`, found `{other}`")),
        };
        Ok(SigningKey { pair })
    }

    /// `SHA256:` + base64 of the SHA-256 of the public key's DER
    /// (SubjectPublicKeyInfo): the fingerprint Snowflake shows as
    /// `RSA_PUBLIC_KEY_FP` and expects in a JWT's issuer.
    pub(crate) fn public_key_fingerprint(&self) -> Result<String, String> {
        let der: PublicKeyX509Der<'static> = self
            .pair
            .public_key()
            .as_der()
            .map_err(|_| "could not encode the public key".to_string())?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
        Ok(format!("SHA256:{}", STANDARD.encode(digest.as_ref())))
    }

    /// A compact JWS: `base64url(header).base64url(claims).base64url(RS256 signature)`.
    pub(crate) fn sign(&self, header: &Json, claims: &Json) -> Result<String, String> {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "could not sign the token".to_string())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The first PEM block of `text`: its label and its decoded bytes. Key files are
/// often pasted into a secret with `\n` written out, so a literal `\n` counts as a
/// line break.
fn pem_block(text: &str) -> Result<(String, Vec<u8>), String> {
    let text = text.replace("\\n", "\n");
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN "));
    let begin = lines
        .next()
        .ok_or_else(|| "the private key is not PEM (no `-----BEGIN` line)".to_string())?;
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.strip_suffix("-----"))
        .ok_or_else(|| "the private key's `-----BEGIN` line is malformed".to_string())?
        .to_string();
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    for line in lines {
        if line == end {
            let der = STANDARD
                .decode(body.as_bytes())
                .map_err(|_| "the private key's PEM body is not base64".to_string())?;
            return Ok((label, der));
        }
        // Headers of legacy encrypted PEM (`Proc-Type:`, `DEK-Info:`).
        if line.contains(':') {
            return Err(
                "the private key uses the legacy OpenSSL encryption; convert it with \
                 `openssl pkcs8 -topk8 -v2 aes256`"
                    .to_string(),
            );
        }
        body.push_str(line);
    }
    Err(format!("the private key has no `{end}` line"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 2048-bit RSA test key (PKCS#8), made for these tests only.
    pub(crate) const TEST_KEY: &str = include_str!("../tests/data/rsa_key.p8");
    /// The same key encrypted with the passphrase `backflow-test` (PBES2,
    /// PBKDF2-HMAC-SHA256, AES-256-CBC: `openssl pkcs8 -topk8 -v2 aes256`).
    pub(crate) const TEST_KEY_ENCRYPTED: &str = include_str!("../tests/data/rsa_key_enc.p8");
    /// The same key as PKCS#1 (`openssl rsa -traditional`).
    pub(crate) const TEST_KEY_PKCS1: &str = include_str!("../tests/data/rsa_key_pkcs1.pem");
    /// `openssl rsa -pubout -outform DER | openssl dgst -sha256 -binary | base64`.
    pub(crate) const TEST_KEY_FINGERPRINT: &str = include_str!("../tests/data/rsa_key.fp");

    fn key(pem: &str, passphrase: Option<&str>) -> Result<SigningKey, String> {
        SigningKey::from_pem(&Secret::new(pem), passphrase.map(Secret::new).as_ref())
    }

    #[test]
    fn fingerprint_matches_openssl() {
        let expected = format!("SHA256:{}", TEST_KEY_FINGERPRINT.trim());
        for (pem, passphrase) in [
            (TEST_KEY, None),
            (TEST_KEY_PKCS1, None),
            (TEST_KEY_ENCRYPTED, Some("backflow-test")),
            // Pasted into a JSON secret with its line breaks written out.
            (&TEST_KEY.replace('\n', "\\n"), None),
        ] {
            let key = key(pem, passphrase).unwrap();
            assert_eq!(key.public_key_fingerprint().unwrap(), expected);
        }
    }

    #[test]
    fn signs_a_verifiable_rs256_token() {
        use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
        let key = key(TEST_KEY, None).unwrap();
        let token = key
            .sign(
                &serde_json::json!({"alg": "RS256", "typ": "JWT"}),
                &serde_json::json!({"sub": "A.U"}),
            )
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Json =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let public = key.pair.public_key().as_ref().to_vec();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the signature verifies with the public key");
    }

    #[test]
    fn bad_keys_are_explained_without_quoting_them() {
        let cases = [
            ("not a key", None, "not PEM"),
            ("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n", None, "not base64"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n", None, "no `-----END PRIVATE KEY-----`"),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", None, "found `CERTIFICATE`"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", None, "not an RSA key"),
            (TEST_KEY_ENCRYPTED, None, "set `private_key_passphrase`"),
            (TEST_KEY_ENCRYPTED, Some("wrong"), "passphrase"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                None,
                "legacy OpenSSL encryption",
            ),
        ];
        for (pem, passphrase, expected) in cases {
            let message = key(pem, passphrase).unwrap_err();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains("AAAA"), "{message}");
        }
    }
}
