//! `extract` Lambda entry point: builds the AWS clients once, then serves events.
#![recursion_limit = "256"]

use backflow_aws::{Aws, Settings};
use backflow_extract::Extract;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

// A run allocates a few small strings and maps for every row it reads; glibc's
// malloc and free were a quarter of a large dry run's time, mimalloc's
// thread-local free lists cost a fraction of that (benchmarks/extract-profile.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    backflow_aws::logging::init();
    let settings = Settings::from_env()?;
    let extract = Extract::new(Aws::from_env().await, settings);
    let extract = &extract;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        extract
            .handle(event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
