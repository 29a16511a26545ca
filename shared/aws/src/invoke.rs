//! Asynchronous Lambda invocations: trigger → extract, extract → load (the fan-out).
//!
//! `InvocationType::Event` queues the event and returns 202 at once; Lambda delivers
//! it at least once (with up to two retries on error), which is why every step of a
//! run is idempotent (see [`crate::runs`]).

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use crate::error::context;
use crate::Error;

/// Starts functions asynchronously.
#[derive(Debug, Clone)]
pub struct Invoker {
    lambda: aws_sdk_lambda::Client,
    detach: bool,
}

impl Invoker {
    /// `detach` comes from `BACKFLOW_LOCAL_INVOKE=detach` and is for the **local stack
    /// only**: `cargo lambda watch` ignores `InvocationType=Event` and answers only
    /// after the invoked function finished, so a trigger would wait for its whole run
    /// (and, with one instance per function, an extract invoking loads could deadlock
    /// on itself). Detached, the invoke runs on a spawned tokio task and the caller
    /// returns at once; failures are only logged. Never set it in AWS: there the
    /// runtime freezes the process when the handler returns, so a spawned invoke may
    /// never be sent, and a real `Event` invoke already returns at once.
    pub fn new(lambda: aws_sdk_lambda::Client, detach: bool) -> Invoker {
        Invoker { lambda, detach }
    }

    /// Invokes `function` with `payload` as an `Event` (fire and forget).
    pub async fn invoke_async(
        &self,
        function: &str,
        payload: &serde_json::Value,
    ) -> Result<(), Error> {
        let body = serde_json::to_vec(payload).map_err(|e| Error::Invoke {
            function: function.to_string(),
            message: format!("cannot encode the payload: {e}"),
        })?;
        if !self.detach {
            return send(&self.lambda, function, body).await;
        }
        let lambda = self.lambda.clone();
        let function = function.to_string();
        tokio::spawn(async move {
            if let Err(e) = send(&lambda, &function, body).await {
                tracing::error!(error = %e, "detached invoke failed");
            }
        });
        Ok(())
    }
}

async fn send(lambda: &aws_sdk_lambda::Client, function: &str, body: Vec<u8>) -> Result<(), Error> {
    let out = lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(body))
        .send()
        .await
        .map_err(|e| Error::Invoke {
            function: function.to_string(),
            message: context(&e),
        })?;
    // A queued event is 202; the local emulator runs the function and answers 200.
    if let Some(kind) = out.function_error() {
        return Err(Error::Invoke {
            function: function.to_string(),
            message: format!("the function failed ({kind})"),
        });
    }
    Ok(())
}
