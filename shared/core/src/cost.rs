//! What a run costs in dollars at AWS list prices, from its [`Usage`] (pure).
//!
//! Every run record carries what the run consumed ([`Usage`]: Lambda GB-seconds
//! and invocations, DynamoDB read/write request units, S3 requests, Intercom
//! calls). [`run_cost`] prices it, one line per AWS charge, so a benchmark (or a
//! user reading `GET /runs/{id}`) can say what a run cost.
//!
//! # Prices
//!
//! us-east-1 list prices, free tiers ignored, for what the SAM template deploys:
//! arm64 Lambda, DynamoDB on-demand, S3 Standard, Secrets Manager. Each constant
//! names the page its price was read from and when (2026-08). Change a price
//! here and every report follows.
//!
//! # What [`Usage`] does not meter
//!
//! - Secrets Manager calls (one per secret read per invocation): the caller
//!   passes its count in [`Unmetered`].
//! - Writes to the runs table (the run record's counters, heartbeats, the lock)
//!   and the `GET` of the config from S3 on each invocation: a handful of units
//!   per run or batch, fractions of a cent per thousand runs.
//! - The `trigger` invocation that starts a run, the every-minute schedule tick,
//!   CloudWatch Logs ingestion, data transfer, storage (GB-month).
//!
//! Intercom calls cost nothing in dollars; they are bounded by the rate limit.

use serde::{Deserialize, Serialize};

use crate::run::Usage;

/// Lambda compute, arm64, per GB-second: $0.0000133334 (x86 $0.0000166667).
/// Source: <https://cloudchipr.com/blog/aws-lambda-pricing> (list price
/// quoted from aws.amazon.com/lambda/pricing), 2026-08.
pub const LAMBDA_ARM64_PER_GB_SECOND: f64 = 0.000_013_333_4;

/// Lambda requests: $0.20 per million invocations.
/// Source: <https://cloudchipr.com/blog/aws-lambda-pricing>, 2026-08.
pub const LAMBDA_PER_REQUEST: f64 = 0.20 / 1_000_000.0;

/// DynamoDB on-demand: $0.625 per million write request units (after the
/// −50 % cut effective 2024-11-01; it was $1.25).
/// Source: <https://aws.amazon.com/dynamodb/pricing/>, the cut
/// <https://aws.amazon.com/about-aws/whats-new/2024/11/amazon-dynamo-db-reduces-prices-on-demand-throughput-global-tables/>,
/// 2026-08.
pub const DYNAMODB_PER_WRITE_UNIT: f64 = 0.625 / 1_000_000.0;

/// DynamoDB on-demand: $0.125 per million read request units (after the cut of
/// 2024-11-01; it was $0.25).
/// Source: <https://aws.amazon.com/dynamodb/pricing/>, 2026-08.
pub const DYNAMODB_PER_READ_UNIT: f64 = 0.125 / 1_000_000.0;

/// S3 Standard PUT (and COPY, POST, LIST): $0.005 per 1,000 requests.
/// Source: <https://c3x.dev/blog/s3-request-fees-explained>, 2026-08.
pub const S3_PER_PUT: f64 = 0.005 / 1_000.0;

/// S3 Standard GET (and SELECT): $0.0004 per 1,000 requests.
/// Source: <https://c3x.dev/blog/s3-request-fees-explained>, 2026-08.
pub const S3_PER_GET: f64 = 0.0004 / 1_000.0;

/// Secrets Manager API calls: $0.05 per 10,000.
/// Source: <https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms>,
/// 2026-08.
pub const SECRETS_MANAGER_PER_CALL: f64 = 0.05 / 10_000.0;

/// Secrets Manager storage: $0.40 per secret per month (the stack has two:
/// the Intercom token and the warehouse URL). A fixed monthly cost, not a run's.
/// Source: <https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms>,
/// 2026-08.
pub const SECRETS_MANAGER_PER_SECRET_MONTH: f64 = 0.40;

/// Secrets the SAM stack creates (`<prefix>/intercom`, `<prefix>/warehouse`).
pub const STACK_SECRETS: u32 = 2;

/// What a run consumed that [`Usage`] does not count, supplied by the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unmetered {
    /// Secrets Manager `GetSecretValue` calls (about one per invocation and
    /// secret read).
    pub secrets_manager_calls: u64,
}

/// A run's AWS charges in US dollars, one field per line of the bill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Lambda GB-seconds (arm64).
    pub lambda_compute: f64,
    /// Lambda invocations.
    pub lambda_requests: f64,
    pub dynamodb_reads: f64,
    pub dynamodb_writes: f64,
    /// S3 PUTs and GETs.
    pub s3_requests: f64,
    pub secrets_manager: f64,
}

impl Cost {
    /// Every line added up.
    pub fn total(&self) -> f64 {
        self.lambda_compute
            + self.lambda_requests
            + self.dynamodb_reads
            + self.dynamodb_writes
            + self.s3_requests
            + self.secrets_manager
    }

    /// Every line multiplied by `k` (e.g. runs per month).
    pub fn times(&self, k: f64) -> Cost {
        Cost {
            lambda_compute: self.lambda_compute * k,
            lambda_requests: self.lambda_requests * k,
            dynamodb_reads: self.dynamodb_reads * k,
            dynamodb_writes: self.dynamodb_writes * k,
            s3_requests: self.s3_requests * k,
            secrets_manager: self.secrets_manager * k,
        }
    }

    /// Line by line sum.
    pub fn plus(&self, other: &Cost) -> Cost {
        Cost {
            lambda_compute: self.lambda_compute + other.lambda_compute,
            lambda_requests: self.lambda_requests + other.lambda_requests,
            dynamodb_reads: self.dynamodb_reads + other.dynamodb_reads,
            dynamodb_writes: self.dynamodb_writes + other.dynamodb_writes,
            s3_requests: self.s3_requests + other.s3_requests,
            secrets_manager: self.secrets_manager + other.secrets_manager,
        }
    }
}

/// The AWS charges of a run that consumed `usage` (plus what it did not meter).
pub fn run_cost(usage: &Usage, unmetered: Unmetered) -> Cost {
    Cost {
        lambda_compute: usage.lambda_gb_seconds * LAMBDA_ARM64_PER_GB_SECOND,
        lambda_requests: usage.lambda_invocations as f64 * LAMBDA_PER_REQUEST,
        dynamodb_reads: usage.dynamodb_read_units * DYNAMODB_PER_READ_UNIT,
        dynamodb_writes: usage.dynamodb_write_units * DYNAMODB_PER_WRITE_UNIT,
        s3_requests: usage.s3_puts as f64 * S3_PER_PUT + usage.s3_gets as f64 * S3_PER_GET,
        secrets_manager: unmetered.secrets_manager_calls as f64 * SECRETS_MANAGER_PER_CALL,
    }
}

/// The fixed monthly cost of storing `secrets` secrets.
pub fn secrets_per_month(secrets: u32) -> f64 {
    f64::from(secrets) * SECRETS_MANAGER_PER_SECRET_MONTH
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal to a billionth of a dollar.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn usage(gbs: f64, inv: u64, rru: f64, wru: f64, puts: u64, gets: u64) -> Usage {
        Usage {
            lambda_gb_seconds: gbs,
            lambda_invocations: inv,
            dynamodb_read_units: rru,
            dynamodb_write_units: wru,
            s3_puts: puts,
            s3_gets: gets,
            intercom_calls: 0,
        }
    }

    #[test]
    fn each_line_at_its_list_price() {
        // (usage, secrets calls) -> expected lines
        // (compute, requests, reads, writes, s3, secrets)
        type Case = (Usage, u64, [f64; 6]);
        let cases: [Case; 7] = [
            (Usage::default(), 0, [0.0; 6]),
            // 1 GB for 1 s on arm64.
            (
                usage(1.0, 0, 0.0, 0.0, 0, 0),
                0,
                [0.000_013_333_4, 0.0, 0.0, 0.0, 0.0, 0.0],
            ),
            // A million invocations: $0.20.
            (
                usage(0.0, 1_000_000, 0.0, 0.0, 0, 0),
                0,
                [0.0, 0.20, 0.0, 0.0, 0.0, 0.0],
            ),
            // A million read units $0.125, a million write units $0.625.
            (
                usage(0.0, 0, 1e6, 1e6, 0, 0),
                0,
                [0.0, 0.0, 0.125, 0.625, 0.0, 0.0],
            ),
            // 1,000 PUTs $0.005 + 1,000 GETs $0.0004.
            (
                usage(0.0, 0, 0.0, 0.0, 1_000, 1_000),
                0,
                [0.0, 0.0, 0.0, 0.0, 0.0054, 0.0],
            ),
            // 10,000 Secrets Manager calls: $0.05.
            (Usage::default(), 10_000, [0.0, 0.0, 0.0, 0.0, 0.0, 0.05]),
            // An initial sync of 1M contacts as first estimated: 12,120 GB-s,
            // 1,002 invocations, 1M WRU, 1,000 PUT + 1,000 GET.
            (
                usage(12_120.0, 1_002, 0.0, 1e6, 1_000, 1_000),
                0,
                [0.161_600_808, 0.000_200_4, 0.0, 0.625, 0.0054, 0.0],
            ),
        ];
        for (u, secrets, want) in cases {
            let c = run_cost(
                &u,
                Unmetered {
                    secrets_manager_calls: secrets,
                },
            );
            let got = [
                c.lambda_compute,
                c.lambda_requests,
                c.dynamodb_reads,
                c.dynamodb_writes,
                c.s3_requests,
                c.secrets_manager,
            ];
            for (g, w) in got.iter().zip(want) {
                assert!(close(*g, w), "{u:?}: got {got:?}, want {want:?}");
            }
            assert!(close(c.total(), want.iter().sum()), "total of {u:?}");
        }
    }

    #[test]
    fn intercom_calls_cost_no_dollars() {
        let u = Usage {
            intercom_calls: 1_000_000,
            ..Usage::default()
        };
        assert_eq!(run_cost(&u, Unmetered::default()).total(), 0.0);
    }

    #[test]
    fn times_and_plus_work_line_by_line() {
        let c = run_cost(&usage(2.0, 3, 4.0, 5.0, 6, 7), Unmetered::default());
        let month = c.times(1_440.0);
        assert!(close(month.total(), c.total() * 1_440.0));
        assert!(close(month.dynamodb_writes, c.dynamodb_writes * 1_440.0));
        let both = c.plus(&c);
        assert!(close(both.total(), c.total() * 2.0));
        assert!(close(both.lambda_compute, c.lambda_compute * 2.0));
        assert_eq!(Cost::default().plus(&c), c);
    }

    #[test]
    fn the_stack_secrets_cost_80_cents_a_month() {
        assert!(close(secrets_per_month(STACK_SECRETS), 0.80));
        assert!(close(secrets_per_month(0), 0.0));
    }

    #[test]
    fn x86_would_cost_a_quarter_more() {
        // The constant is the arm64 price; the template deploys arm64.
        assert!((0.000_016_666_7 / LAMBDA_ARM64_PER_GB_SECOND - 1.25).abs() < 1e-4);
    }
}
