//! What the AWS-reached warehouses (Athena, the Redshift Data API, Redshift's
//! IAM credentials) share: the SDK configuration and the messages of its errors.
//!
//! These warehouses are reached with the function's IAM role: the SDK's
//! standard chain finds its credentials, region and endpoint (locally
//! `AWS_ENDPOINT_URL`, the stand-in the other AWS clients use too).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_athena::error::{ProvideErrorMetadata, SdkError};

/// The standard chain's configuration (environment, role, region).
pub(crate) async fn from_env() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// A failed call as users read it: the service's code and message
/// (`InvalidRequestException: line 1:8: Column 'x' cannot be resolved`), or the
/// chain of causes of a call without such an answer (no credentials, no
/// connection, an answer that is not the service's format). The SDK's own
/// `DisplayErrorContext` is not used: it appends the raw response.
pub(crate) fn sdk_message<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(service) = error {
        let err = service.err();
        match (err.code(), err.message()) {
            (Some(code), Some(message)) => return format!("{code}: {message}"),
            (None, Some(message)) => return message.to_string(),
            _ => return causes(err),
        }
    }
    causes(error)
}

/// `error: its source: …`, each distinct part once.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text = format!("{text}: {part}");
        }
        source = cause.source();
    }
    text
}
