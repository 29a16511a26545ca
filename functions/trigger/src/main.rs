//! `trigger` Lambda entry point: builds the AWS clients once, then serves events.
#![recursion_limit = "256"]

use backflow_aws::{Aws, Settings};
use backflow_trigger::Trigger;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    backflow_aws::logging::init();
    let settings = Settings::from_env()?;
    let trigger = Trigger::new(Aws::from_env().await, settings);
    let trigger = &trigger;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        trigger
            .handle(event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
