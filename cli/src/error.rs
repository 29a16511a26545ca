//! The crate's one error type. Each message names what went wrong and what to do
//! next, because it is the last line an operator reads.

use thiserror::Error;

/// What stopped a command.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing listens at the local stack's default address.
    #[error("cannot reach the local stack at {url}: run `make local-up` (or pass --api URL or --stack NAME) ({detail})")]
    LocalStackDown { url: String, detail: String },
    /// The API given with `--api` or found with `--stack` cannot be reached.
    #[error("cannot reach the API at {url}: {detail} (check --api, BACKFLOW_API or --stack)")]
    Unreachable { url: String, detail: String },
    /// API Gateway refused the request (403): IAM or the signature.
    #[error("the API refused the request: {detail}")]
    Refused { detail: String },
    /// An error answer of the API, `{"error":{"code","message"}}`.
    #[error("{message}{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Api {
        status: u16,
        code: String,
        message: String,
        hint: Option<String>,
    },
    /// An answer that is not what a backflow API answers.
    #[error("unexpected answer from {url} ({status}): {detail}")]
    Unexpected {
        url: String,
        status: u16,
        detail: String,
    },
    /// `DescribeStacks` knows no such stack.
    #[error("no stack named `{stack}` in {region}: check --stack and --region (`aws cloudformation list-stacks --region {region}` lists them)")]
    NoStack { stack: String, region: String },
    /// The stack exists but has no `ApiUrl` output.
    #[error("stack `{stack}` in {region} has no `ApiUrl` output (outputs: {outputs}): is it a backflow stack, and did its deploy finish?")]
    NoApiUrl {
        stack: String,
        region: String,
        outputs: String,
    },
    /// `DescribeStacks` failed for another reason (credentials, network, IAM).
    #[error("cannot read stack `{stack}` in {region}: {detail}")]
    CloudFormation {
        stack: String,
        region: String,
        detail: String,
    },
    /// Requests must be signed but no credentials were found.
    #[error("no AWS credentials to sign the request with ({detail}): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (`aws configure`)")]
    NoCredentials { detail: String },
    /// A region is needed (for `--stack` or to sign) and none was given.
    #[error(
        "no AWS region: pass --region or set AWS_REGION (the region the stack is deployed in)"
    )]
    NoRegion,
    /// aws-sigv4 refused to sign (an invalid URL or header).
    #[error("cannot sign the request: {0}")]
    Signing(String),
}

impl Error {
    /// The HTTP status of an API error answer (`None` for every other error).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
