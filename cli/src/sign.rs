//! SigV4 signing of one API request, for a deployed stack's API Gateway (IAM
//! auth, service `execute-api`).
//!
//! The signature covers the method, the URL (path and query), the `host` header
//! (taken from the URL, port included) and the body's SHA-256; `aws-sigv4` adds
//! `x-amz-date`, and `x-amz-security-token` for temporary credentials. Headers the
//! HTTP client adds later (`accept`, `content-type`, `user-agent`) are not signed,
//! which SigV4 allows. Pure given the credentials and the time, so it is tested
//! against the AWS test-suite vectors without a server.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::Error;

/// The signing name of API Gateway's execute API.
pub const SERVICE: &str = "execute-api";

/// One request to sign.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The full URL, as it will be sent.
    pub url: &'a str,
    /// Extra headers to sign (besides `host`), lower-case names.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Who signs, where, and when.
#[derive(Debug, Clone)]
pub struct Signing<'a> {
    pub credentials: &'a Credentials,
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
}

/// The headers to add to `request` so that it carries a SigV4 signature:
/// `authorization`, `x-amz-date`, and `x-amz-security-token` when the credentials
/// have a session token.
pub fn signature_headers(
    request: Request<'_>,
    signing: &Signing<'_>,
) -> Result<Vec<(String, String)>, Error> {
    let identity = signing.credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(signing.region)
        .name(signing.service)
        .time(signing.time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| Error::Signing(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| Error::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| Error::Signing(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect())
}
