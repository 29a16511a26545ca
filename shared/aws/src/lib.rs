//! backflow's AWS adapters: thin, tested IO around the pure core.
//!
//! # Layout
//! - [`clients`]: [`Aws`], the SDK clients, built once per cold start (outside the
//!   handler) so warm invocations reuse their connections; honours `AWS_ENDPOINT_URL*`
//!   (moto locally).
//! - [`env`](mod@env): [`Settings`], the functions' `BACKFLOW_*` environment.
//! - [`secrets`]: [`Secrets`], `{secret, key}` references resolved from Secrets Manager
//!   with a per-invocation cache. Values only ever leave as [`backflow_core::secret::Secret`].
//! - [`config_source`]: reads `backflow.yaml` from a local path or `s3://`, and the
//!   models' `.sql` files beside it.
//! - [`batches`]: S3 batches (`extract` → `load`) and small JSON run artifacts.
//! - [`state`]: [`StateStore`], what Intercom confirmed per sync and key (DynamoDB, one
//!   partition per sync so a run reads its state with one paginated Query).
//! - [`runs`]: [`RunStore`], run records, row reports, the per-sync lock, schedule
//!   claims; every method that can be delivered twice is idempotent (conditional writes).
//! - [`budget`]: [`DynamoBudget`], the Intercom call budget shared by every
//!   concurrent function calling one Intercom app (a counter per app and 10-second
//!   window in the runs table); [`share_budget`] puts a client on it.
//! - [`invoke`]: [`Invoker`], asynchronous Lambda invocations (the fan-out).
//! - [`ended`]: [`RunEnd`], the one way a run ends: the record finished, then
//!   the sync's `alerts:` (SNS) and the syncs waiting for it (`after:`).
//! - [`error`]: the crate's one [`Error`]; never carries a secret value.
//! - [`logging`]: the functions' JSON log setup (one object per line).
//!
//! The table layouts are documented at the top of [`state`] and [`runs`].

pub mod batches;
pub mod budget;
pub mod clients;
pub mod config_source;
pub mod ended;
pub mod env;
pub mod error;
pub mod invoke;
pub mod logging;
pub mod runs;
pub mod secrets;
pub mod state;

mod ddb;

pub use batches::Batches;
pub use budget::{share_budget, DynamoBudget};
pub use clients::Aws;
pub use config_source::{load_config, sqlite_path};
pub use ended::RunEnd;
pub use env::Settings;
pub use error::Error;
pub use invoke::Invoker;
pub use runs::RunStore;
pub use secrets::Secrets;
pub use state::{ReadStats, RunTag, StateItem, StatePages, StateStore, WriteStats};
