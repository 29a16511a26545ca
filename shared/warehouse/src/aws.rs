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

/// What one look at a running query found.
pub(crate) enum Polled<T> {
    Done(T),
    Running,
}

/// Calls `check` until it says [`Polled::Done`] (250 ms doubling to 5 s
/// between calls); `None` when the next pause would pass `deadline` (the
/// caller stops the query and fails the run).
pub(crate) async fn poll_until<T, E, F, Fut>(
    deadline: tokio::time::Instant,
    mut check: F,
) -> Result<Option<T>, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Polled<T>, E>>,
{
    let mut poll = 0;
    loop {
        if let Polled::Done(done) = check().await? {
            return Ok(Some(done));
        }
        let pause = crate::http::poll_pause(poll);
        if tokio::time::Instant::now() + pause >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(pause).await;
        poll += 1;
    }
}
