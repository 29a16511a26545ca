//! `backflow`, the operator's command line (see the crate's `lib.rs` for its layout).
//!
//! This file only parses the command line and dispatches to `commands::*`.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done; a run (or dry run) that **succeeded**; `run --no-wait` once the run is queued |
//! | 1 | a run or dry run that **failed**; `validate`: the config is invalid or a `--connect` check failed |
//! | 2 | a run that ended **partial** (some rows invalid, rejected or not found) |
//! | 3 | backflow could not do what was asked: a bad command line, the API unreachable or refusing the request, an unknown sync or run, a run of the sync already in progress |
//! | 130 | `run`/`plan` stopped following on Ctrl-C (the run goes on) |

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use backflow_cli::api::Api;
use backflow_cli::commands::{plan, rows, run, runs, show, syncs, validate};
use backflow_cli::output::{paint, Out};
use backflow_cli::target::{self, Choice};
use backflow_cli::{EXIT_ERROR, EXIT_OK};

const ABOUT: &str = "The operator's tool for backflow: check a config, preview and run syncs, follow them, read their history, costs and refused rows.";

const EXAMPLES: &str = "\
Examples:
  backflow syncs                                  the syncs of the local stack (make local-up)
  backflow plan users_to_intercom                 what a run would change, field by field
  backflow run users_to_intercom                  run it, with a progress bar; exit 0/2/1
  backflow rows 20261129T111444Z-606c45ac         the rows it refused, and why
  backflow --stack backflow --region eu-west-1 runs   a deployed stack (SigV4-signed)

Where the API is: the local stack (http://127.0.0.1:9000/lambda-url/trigger) unless
--api URL / BACKFLOW_API or --stack NAME says otherwise. Tables for people, --json
for scripts; colour only on a terminal, never with NO_COLOR.

Exit codes: 0 succeeded, 1 failed (run, or invalid config), 2 partial, 3 backflow
could not do what was asked (API unreachable or refusing, unknown sync or run),
130 stopped following (Ctrl-C).";

#[derive(Debug, Parser)]
#[command(name = "backflow", version, about = ABOUT, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// The API's base URL [default: the local stack, http://127.0.0.1:9000/lambda-url/trigger].
    /// Signed with SigV4 when it is an API Gateway URL (or with --sign).
    #[arg(long, global = true, env = "BACKFLOW_API", value_name = "URL")]
    api: Option<String>,
    /// A deployed stack: its API URL is the stack's `ApiUrl` output (CloudFormation
    /// DescribeStacks), and requests are signed with your AWS credentials. Wins over --api.
    #[arg(long, global = true, env = "BACKFLOW_STACK", value_name = "NAME")]
    stack: Option<String>,
    /// The AWS region of --stack (and of signing) [default: the AWS config's, e.g. AWS_REGION].
    #[arg(long, global = true, value_name = "REGION")]
    region: Option<String>,
    /// Send the CLI's own AWS calls (CloudFormation, Secrets Manager, S3) to this
    /// endpoint, e.g. the local stack's moto at http://127.0.0.1:5000.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    aws_endpoint: Option<String>,
    /// Sign requests to --api with SigV4 even when it is not an execute-api host
    /// (a custom domain in front of the API).
    #[arg(long, global = true)]
    sign: bool,
    /// Print JSON for scripts: the API's answer (for `rows`, every page's rows in one list).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a config file with the functions' own rules, without AWS.
    #[command(after_help = "\
Examples:
  backflow validate examples/quickstart/backflow.yaml
  backflow validate backflow.yaml --connect --aws-endpoint http://127.0.0.1:5000

--connect needs what a run needs: the secrets the config names, read from Secrets
Manager with your AWS credentials (or from --aws-endpoint / AWS_ENDPOINT_URL, e.g.
the local stack's moto, with no credentials); a network path to the warehouse;
and Intercom at the destination's region or base_url (GET /me).")]
    Validate {
        /// The config: a path or s3://bucket/key [default: BACKFLOW_CONFIG, else backflow.yaml].
        config: Option<String>,
        /// Also run each model for no rows (its columns and types against the sync's
        /// fields) and ask Intercom whether each destination's token is accepted.
        #[arg(long)]
        connect: bool,
    },
    /// List the syncs, their schedules and last runs.
    #[command(after_help = "Example:\n  backflow syncs")]
    Syncs,
    /// Preview a sync: a dry run's plan, then sample rows field by field: before (read
    /// from Intercom now, hand edits included) → after (what the run would send).
    /// Nothing is written to Intercom; the reads (at most 3 per kind of row) are the
    /// run's calls.
    #[command(after_help = "Example:\n  backflow plan users_to_intercom")]
    Plan {
        /// The sync's name (`backflow syncs` lists them).
        sync: String,
    },
    /// Run a sync and follow it to its end (batches, rows, calls, rate, ETA).
    /// Exit 0 succeeded, 2 partial, 1 failed.
    #[command(after_help = "\
Examples:
  backflow run users_to_intercom
  backflow run users_to_intercom --full-resync
  backflow run users_to_intercom --no-wait --json | jq -r .run_id")]
    Run {
        /// The sync's name (`backflow syncs` lists them).
        sync: String,
        /// Ignore what backflow remembers: send every row again (events are never re-sent).
        #[arg(long)]
        full_resync: bool,
        /// Let a mirror sync remove more than its max_removals.
        #[arg(long)]
        allow_mass_removal: bool,
        /// Start the run and exit 0 once it is queued.
        #[arg(long)]
        no_wait: bool,
    },
    /// Run history, newest first: one sync's, or every sync's.
    #[command(
        after_help = "Examples:\n  backflow runs\n  backflow runs users_to_intercom --limit 5"
    )]
    Runs {
        /// Only this sync's runs.
        sync: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One run: status, counts against the plan, timings, usage and its AWS cost.
    #[command(after_help = "Example:\n  backflow show 20261129T111444Z-606c45ac")]
    Show {
        /// The run id (`backflow runs` lists them).
        run: String,
    },
    /// The rows a run reported (invalid, rejected, not found) with their reasons, every page.
    #[command(after_help = "\
Examples:
  backflow rows 20261129T111444Z-606c45ac
  backflow rows 20261129T111444Z-606c45ac --outcome rejected --csv > rejected.csv")]
    Rows {
        /// The run id (`backflow runs` lists them).
        run: String,
        /// Only rows with this outcome.
        #[arg(long, value_enum)]
        outcome: Option<rows::OutcomeFilter>,
        /// CSV instead of a table: the API's CSV of every page (RFC 4180, header
        /// `key,outcome,reason,code,row`, formula-like cells prefixed with `'`).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { EXIT_OK });
        }
    };
    let out = Out::detect(cli.global.json);
    match dispatch(cli, &out).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!(
                "{} {e:#}",
                paint(out.err_color, "error:", comfy_table::Color::Red)
            );
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn dispatch(cli: Cli, out: &Out) -> anyhow::Result<u8> {
    let g = cli.global;
    let choice = Choice {
        api: g.api,
        stack: g.stack,
        region: g.region,
        aws_endpoint: g.aws_endpoint.filter(|e| !e.is_empty()),
        sign: g.sign,
    };
    if let Command::Validate { config, connect } = &cli.command {
        return validate::run(out, &choice, config.as_deref(), *connect).await;
    }
    let api = Api::new(target::resolve(&choice).await?);
    match cli.command {
        Command::Validate { .. } => unreachable!("handled above"),
        Command::Syncs => syncs::run(&api, out).await,
        Command::Plan { sync } => plan::run(&api, out, &sync).await,
        Command::Run {
            sync,
            full_resync,
            allow_mass_removal,
            no_wait,
        } => {
            let options = run::Options {
                dry_run: false,
                full_resync,
                allow_mass_removal,
            };
            run::run(&api, out, &sync, options, no_wait).await
        }
        Command::Runs { sync, limit } => runs::run(&api, out, sync.as_deref(), limit).await,
        Command::Show { run } => show::run(&api, out, &run).await,
        Command::Rows { run, outcome, csv } => rows::run(&api, out, &run, outcome, csv).await,
    }
}
