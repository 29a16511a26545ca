//! The stand-ins for the cloud warehouses (fakesnow for Snowflake, crucible for
//! BigQuery), started by the one starter every harness uses
//! ([`backflow_localstack::standin`]). A stand-in that cannot start skips its
//! tests, except under `CI=1`, where that is a failure.

pub use backflow_localstack::standin::{StandIn, StandInKind as Kind};

/// The stand-in of `kind`, started on first use; `None` (the test should
/// return) when it cannot start outside CI.
pub fn get(kind: Kind) -> Option<&'static StandIn> {
    match backflow_localstack::standin::shared(kind) {
        Ok(stand_in) => Some(stand_in),
        Err(message)
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false") =>
        {
            panic!("{message}")
        }
        Err(message) => {
            eprintln!("skipped: {message}");
            None
        }
    }
}
