//! The `backflow` command line against a real local stack (SQLite): every command,
//! its output and its exit code, run as a user runs it — the binary, its stdout
//! and stderr captured (so not a terminal: tables without colour, progress as
//! lines).
//!
//! The binary is `$CARGO_TARGET_DIR/debug/backflow`, built once per test binary
//! with `cargo build -p backflow-cli` (or `BACKFLOW_CLI_BIN`). It reaches the
//! stack's API through `--api <cargo lambda watch>/lambda-url/trigger` and its
//! secrets through `--aws-endpoint <moto>`.
//!
//! Every command and its output is also appended to
//! `$TMPDIR/backflow-scenarios/<pid>/sqlite/cli-<scenario>.log`.
//!
//! Run: `cargo test -p backflow-scenarios --test cli`

use std::process::{Command, Output};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use backflow_scenarios::config::{destination, destination_with_secret, to_yaml, TOKEN};
use backflow_scenarios::stack::{put_secret, repo_root, target_dir};
use backflow_scenarios::warehouse::s;
use backflow_scenarios::{check, check_eq, moto, Col, Profile, Scenario, Val};
use serde_json::{json, Value};

#[path = "cli/pages.rs"]
mod pages;
use pages::api_pages_run_history_and_rows;

// ---------------------------------------------------------------------------
// Running the binary

/// The `backflow` binary, built once.
fn binary() -> Result<String> {
    static BIN: OnceLock<Result<String, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("BACKFLOW_CLI_BIN") {
            return Ok(bin);
        }
        let out = Command::new("cargo")
            .current_dir(repo_root())
            .args(["build", "-p", "backflow-cli", "--bin", "backflow"])
            .env("CARGO_TARGET_DIR", target_dir())
            .output()
            .map_err(|e| format!("running cargo build: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo build -p backflow-cli failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(format!("{}/debug/backflow", target_dir()))
    })
    .clone()
    .map_err(|e| anyhow::anyhow!(e))
}

/// What one command printed and how it exited.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Ran {
    fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.stdout).with_context(|| format!("stdout is not JSON\n{self}"))
    }
}

/// `backflow <args>` against the scenario's stack, with the caller's AWS and
/// backflow settings removed and the stack's moto as the AWS endpoint.
async fn cli(sc: &Scenario, args: &[&str]) -> Result<Ran> {
    let bin = binary()?;
    let api = format!("{}/lambda-url/trigger", sc.stack.watch_url);
    let endpoint = moto().await?.endpoint.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let args_text = args.join(" ");
    let out: Output = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(bin);
        if !args.iter().any(|a| a == "--api") {
            cmd.args(["--api", &api]);
        }
        cmd.args(&args);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("BACKFLOW_") || k == "NO_COLOR" {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
    })
    .await?
    .context("running backflow")?;
    let ran = Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    log(sc, &format!("$ backflow {}\n{ran}\n", args_text));
    Ok(ran)
}

/// Appends to `<stack dir>/cli-<scenario>.log`: every command and what it
/// printed, to read after a failure.
fn log(sc: &Scenario, text: &str) {
    use std::io::Write;
    let path = sc.stack.dir.join(format!("cli-{}.log", sc.name));
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{text}");
    }
}

/// The run id the CLI announced on stderr (`run <id> of <sync> started`).
fn started_run(r: &Ran) -> Result<String> {
    r.stderr
        .lines()
        .find_map(|l| {
            let rest = l
                .strip_prefix("run ")
                .or_else(|| l.strip_prefix("dry run "))?;
            let (id, tail) = rest.split_once(' ')?;
            tail.ends_with("started").then(|| id.to_string())
        })
        .with_context(|| format!("no `run <id> … started` line\n{r}"))
}

fn users_cols() -> [(&'static str, Col); 3] {
    [
        ("id", Col::Text),
        ("email", Col::Text),
        ("full_name", Col::Text),
    ]
}

fn user_spec(dest: &str) -> Value {
    json!({
        "destination": dest, "object": "user", "behavior": "update_or_create",
        "key": {"column": "id", "field": "external_id"},
        "fields": {"email": "email", "name": "full_name"},
    })
}

// ---------------------------------------------------------------------------
// validate

/// A complete config beside the stack's (so `warehouse.db` resolves), with one
/// sync on `table` to `dest`; `extra` is merged into the sync.
fn write_config(
    sc: &Scenario,
    file: &str,
    dest: Value,
    table: &str,
    extra: Value,
) -> Result<(String, String)> {
    let mut sync = user_spec("intercom");
    sync["model"] = json!("users");
    if let (Some(s), Some(e)) = (sync.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    let doc = json!({
        "warehouse": {"type": "sqlite", "path": "warehouse.db"},
        "destinations": {"intercom": dest},
        "models": {"users": {"sql": format!("select id, email, full_name from {table}")}},
        "syncs": {"users_to_intercom": sync},
    });
    let path = sc.stack.dir.join(format!("{}-{file}", sc.name));
    let text = to_yaml(&doc);
    std::fs::write(&path, &text)?;
    Ok((path.display().to_string(), text))
}

async fn cli_validate(sc: Scenario) -> Result<()> {
    let (_, ic) = sc.emulator(Profile::Plain).await?;
    let table = sc
        .table(
            "users",
            &users_cols(),
            &[vec![s("1"), s("a@example.com"), s("Ann")]],
        )
        .await?;
    let dest = destination(ic.base_url());

    let (good, _) = write_config(&sc, "good.yaml", dest.clone(), &table, json!({}))?;
    let r = cli(&sc, &["validate", &good]).await?;
    check_eq!(r.code, Some(0), "validate a good config\n{r}");
    check!(
        r.stdout
            .contains("is valid: 1 syncs, 1 models, 1 destinations, warehouse sqlite"),
        "{r}"
    );
    check!(
        r.stdout.contains("users_to_intercom") && r.stdout.contains("id → external_id"),
        "{r}"
    );
    let j = cli(&sc, &["validate", &good, "--json"]).await?.json()?;
    check_eq!(j["valid"], json!(true), "validate --json");

    // An unknown key: refused with the file and the key's line.
    let (bad, text) = write_config(
        &sc,
        "bad.yaml",
        dest.clone(),
        &table,
        json!({"colour": "blue"}),
    )?;
    let line = text
        .lines()
        .position(|l| {
            l.trim_start().starts_with("\"colour\":") || l.trim_start().starts_with("colour:")
        })
        .map(|i| i + 1)
        .context("the bad key's line")?;
    let r = cli(&sc, &["validate", &bad]).await?;
    check_eq!(r.code, Some(1), "validate a bad config\n{r}");
    check!(
        r.stdout.contains(&format!("{bad}:{line}: ")),
        "expected `{bad}:{line}: …`\n{r}"
    );
    check!(r.stdout.contains("unknown field `colour`"), "{r}");

    // --connect: the model runs for no rows, the token is accepted.
    let r = cli(&sc, &["validate", &good, "--connect"]).await?;
    check_eq!(r.code, Some(0), "validate --connect\n{r}");
    check!(r.stdout.contains("connected to SQLite"), "{r}");
    check!(r.stdout.contains("columns: id ("), "{r}");
    check!(r.stdout.contains("accepts the token"), "{r}");

    // --connect: a column the model does not have, and a token Intercom refuses.
    let wrong_secret = format!("backflow/{}-wrong", sc.name);
    put_secret(
        moto().await?,
        &wrong_secret,
        &json!({"access_token": "not-the-token"}),
    )
    .await?;
    let (broken, _) = write_config(
        &sc,
        "broken.yaml",
        destination_with_secret(ic.base_url(), &wrong_secret),
        &table,
        json!({"fields": {"email": "email", "name": "nope"}}),
    )?;
    let r = cli(&sc, &["validate", &broken, "--connect"]).await?;
    check_eq!(r.code, Some(1), "validate --connect, broken\n{r}");
    check!(r.stdout.contains("FAILED"), "{r}");
    check!(r.stdout.contains("has no column `nope`"), "{r}");
    check!(r.stdout.contains("refused the access token"), "{r}");
    check!(
        !r.stdout.contains("not-the-token") && !r.stderr.contains("not-the-token"),
        "the token leaked\n{r}"
    );
    check!(!r.stdout.contains(TOKEN), "a token leaked\n{r}");
    Ok(())
}

// ---------------------------------------------------------------------------
// run: 20,000 rows, progress to 100 %

const BIG: u64 = 20_000;

async fn cli_run_follows_20000_rows(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Unlimited).await?;
    let rows: Vec<Vec<Val>> = (1..=BIG)
        .map(|n| {
            vec![
                s(format!("{n:05}")),
                s(format!("u{n}@example.com")),
                s(format!("User {n}")),
            ]
        })
        .collect();
    let table = sc.table("users", &users_cols(), &rows).await?;
    let mut spec = user_spec(&dest);
    spec["batch_size"] = json!(1000);
    let sync = sc.add_sync(
        "users",
        &format!("select id, email, full_name from {table}"),
        spec,
    )?;

    let before = ic.stats().await?;
    let r = cli(&sc, &["run", &sync]).await?;
    check_eq!(r.code, Some(0), "backflow run\n{r}");
    let run_id = started_run(&r)?;
    // Progress lines (stderr is not a terminal): loading, then the last one at 100 %.
    let progress: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with("queued")
                || l.starts_with("extracting")
                || l.starts_with("loading")
                || l.starts_with("succeeded")
        })
        .collect();
    check!(
        progress
            .iter()
            .any(|l| l.starts_with("loading") && l.contains("/20 batches")),
        "no loading line\n{r}"
    );
    let last = progress.last().context("no progress line")?;
    check!(
        last.starts_with("succeeded  20/20 batches  100%  20,000/20,000 rows"),
        "last progress line: {last}\n{r}"
    );
    check!(
        r.stdout
            .contains(&format!("run {run_id} of {sync}: succeeded")),
        "{r}"
    );
    check!(r.stdout.contains("20,000 created"), "{r}");
    let created = r
        .stdout
        .lines()
        .find(|l| l.starts_with("create "))
        .context("no create line")?;
    check_eq!(
        created.split_whitespace().collect::<Vec<_>>(),
        vec!["create", "20,000", "20,000"],
        "create line\n{r}"
    );
    check_eq!(
        ic.stats().await?.since(&before).route("POST /contacts"),
        BIG,
        "creates"
    );

    // show: timings, usage and cost; --json is the API's record.
    let r = cli(&sc, &["show", &run_id]).await?;
    check_eq!(r.code, Some(0), "backflow show\n{r}");
    for needle in [
        "succeeded",
        "20 of 20 done, 0 failed",
        "Lambda compute",
        "DynamoDB writes",
        "total",
        "$",
    ] {
        check!(r.stdout.contains(needle), "show lacks {needle:?}\n{r}");
    }
    let shown = cli(&sc, &["show", &run_id, "--json"]).await?.json()?;
    let api = sc.api.run(&run_id).await?.0;
    check_eq!(shown, api, "show --json = GET /runs/{{id}}");

    // runs: the run is in the sync's history (or its last run, on an API without history).
    let r = cli(&sc, &["runs", &sync]).await?;
    check_eq!(r.code, Some(0), "backflow runs\n{r}");
    check!(
        r.stdout.contains(&run_id) && r.stdout.contains("20,000 created"),
        "{r}"
    );
    let j = cli(&sc, &["runs", &sync, "--json"]).await?.json()?;
    check_eq!(
        j["runs"][0],
        api,
        "runs --json: the newest is GET /runs/{{id}}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Every other command, and the exit codes

async fn cli_commands_and_exit_codes(sc: Scenario) -> Result<()> {
    let (dest, _ic) = sc.emulator(Profile::Plain).await?;
    let rows = vec![
        vec![s("1"), s("ann@example.com"), s("Ann")],
        vec![s("2"), s("bob@example.com"), s("Bob")],
        vec![s("3"), s("cid.at.example.com"), s("Cid")],
        vec![s("4"), s("dee@example.com"), s("Dee")],
    ];
    let table = sc.table("users", &users_cols(), &rows).await?;
    let sync = sc.add_sync(
        "users",
        &format!("select id, email, full_name from {table}"),
        user_spec(&dest),
    )?;
    let broken = sc.add_sync(
        "broken",
        "select id, email, full_name from no_such_table_cli",
        user_spec(&dest),
    )?;

    // syncs: a table; --json is the API's answer (compared when no run moved in between).
    let r = cli(&sc, &["syncs"]).await?;
    check_eq!(r.code, Some(0), "backflow syncs\n{r}");
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{sync} ")))
        .context("sync line")?;
    check!(
        line.contains("user") && line.contains("update_or_create") && line.contains("never"),
        "{line}\n{r}"
    );
    let mut compared = false;
    for _ in 0..5 {
        let before = sc.api.syncs().await?.body;
        let cli_json = cli(&sc, &["syncs", "--json"]).await?.json()?;
        if sc.api.syncs().await?.body == before {
            check_eq!(cli_json, before, "syncs --json = GET /syncs");
            compared = true;
            break;
        }
    }
    check!(
        compared,
        "GET /syncs never held still long enough to compare"
    );

    // plan: the plan, then samples field by field; nothing written.
    let r = cli(&sc, &["plan", &sync]).await?;
    check_eq!(r.code, Some(0), "backflow plan\n{r}");
    check!(r.stdout.contains(&format!("of {sync}: succeeded")), "{r}");
    let plan_line = |action: &str| {
        r.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(action))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    check_eq!(
        plan_line("create"),
        Some(vec!["create", "3"]),
        "plan create\n{r}"
    );
    check_eq!(
        plan_line("invalid"),
        Some(vec!["invalid", "1"]),
        "plan invalid\n{r}"
    );
    check!(
        r.stdout
            .contains("sample rows (before: Intercom now → after: what the run sends):"),
        "{r}"
    );
    check!(
        r.stdout.contains("create  key 1") && r.stdout.contains("ann@example.com"),
        "{r}"
    );
    check!(r.stdout.contains("is not a valid email"), "{r}");
    let j = cli(&sc, &["plan", &sync, "--json"]).await?.json()?;
    check_eq!(
        (j["dry_run"].clone(), j["status"].clone()),
        (json!(true), json!("succeeded")),
        "plan --json"
    );
    let dry_id = j["run_id"].as_str().context("plan --json run_id")?;
    check_eq!(
        j,
        sc.api.run(dry_id).await?.0,
        "plan --json = GET /runs/{{id}}"
    );

    // run: partial (one invalid row) → exit 2, with the rows that did not land.
    let r = cli(&sc, &["run", &sync]).await?;
    check_eq!(r.code, Some(2), "backflow run (partial)\n{r}");
    let run_id = started_run(&r)?;
    check!(
        r.stdout
            .contains(&format!("run {run_id} of {sync}: partial")),
        "{r}"
    );
    check!(r.stdout.contains("3 created, 1 invalid"), "{r}");
    check!(
        r.stdout.contains("rows that did not land:") && r.stdout.contains("cid.at.example.com"),
        "{r}"
    );
    check!(
        r.stdout.contains(&format!("`backflow rows {run_id}`")),
        "{r}"
    );

    // rows: a table, CSV, and JSON equal to the API's rows.
    let r = cli(&sc, &["rows", &run_id]).await?;
    check_eq!(r.code, Some(0), "backflow rows\n{r}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    check_eq!(
        lines
            .first()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["KEY", "OUTCOME", "CODE", "ROW", "REASON"]),
        "rows header\n{r}"
    );
    check!(
        lines.len() == 2 && lines[1].starts_with("3 ") && lines[1].contains("invalid"),
        "{r}"
    );
    let r = cli(&sc, &["rows", &run_id, "--csv"]).await?;
    check_eq!(r.code, Some(0), "backflow rows --csv\n{r}");
    let csv: Vec<&str> = r.stdout.split("\r\n").collect();
    check_eq!(csv[0], "key,outcome,reason,code,row", "csv header\n{r}");
    check!(
        csv[1].starts_with("3,invalid,")
            && csv[1].ends_with(",,3")
            && csv[1].contains("cid.at.example.com"),
        "{r}"
    );
    let j = cli(&sc, &["rows", &run_id, "--json"]).await?.json()?;
    let api = sc
        .api
        .request("GET", &format!("/runs/{run_id}/rows"), None)
        .await?
        .body;
    check_eq!(j, api, "rows --json = GET /runs/{{id}}/rows");
    let r = cli(&sc, &["rows", &run_id, "--outcome", "rejected"]).await?;
    check!(
        r.code == Some(0) && r.stdout.contains("reported no rows rejected"),
        "{r}"
    );

    // show: the partial run.
    let r = cli(&sc, &["show", &run_id]).await?;
    check_eq!(r.code, Some(0), "backflow show\n{r}");
    check!(
        r.stdout.contains("partial") && r.stdout.contains("1 row did not land"),
        "{r}"
    );

    // A broken query fails the run → exit 1, with the engine's message.
    let r = cli(&sc, &["run", &broken]).await?;
    check_eq!(r.code, Some(1), "backflow run (failed)\n{r}");
    check!(
        r.stdout.contains(": failed")
            && r.stdout.contains("error: ")
            && r.stdout.contains("no_such_table_cli"),
        "{r}"
    );

    // --no-wait: queued, exit 0, the API's answer as JSON.
    let r = cli(&sc, &["run", &sync, "--no-wait", "--json"]).await?;
    check_eq!(r.code, Some(0), "backflow run --no-wait\n{r}");
    let j = r.json()?;
    check_eq!(j["status"], json!("queued"), "run --no-wait --json\n{r}");
    let queued = j["run_id"].as_str().context("run_id")?.to_string();
    let end = sc
        .api
        .wait(&queued, backflow_scenarios::api::DEFAULT_RUN_TIMEOUT)
        .await?;
    check_eq!(end.status(), "partial", "the --no-wait run\n{end}");

    // runs (every sync).
    let r = cli(&sc, &["runs", "--limit", "50"]).await?;
    check!(
        r.code == Some(0) && r.stdout.starts_with("RUN "),
        "backflow runs\n{r}"
    );

    // What backflow cannot do → exit 3, saying what to do next.
    let r = cli(&sc, &["run", "no_such_sync_cli"]).await?;
    check_eq!(r.code, Some(3), "unknown sync\n{r}");
    check!(
        r.stderr.contains("no sync named `no_such_sync_cli`")
            && r.stderr.contains("`backflow syncs` lists the syncs"),
        "{r}"
    );
    let r = cli(&sc, &["show", "no-such-run"]).await?;
    check!(
        r.code == Some(3) && r.stderr.contains("`backflow runs` lists recent runs"),
        "unknown run\n{r}"
    );
    let r = cli(&sc, &["--api", "http://127.0.0.1:1/x", "syncs"]).await?;
    check!(
        r.code == Some(3)
            && r.stderr
                .contains("cannot reach the API at http://127.0.0.1:1/x"),
        "unreachable\n{r}"
    );
    let r = cli(&sc, &["run"]).await?;
    check_eq!(r.code, Some(3), "a bad command line\n{r}");
    Ok(())
}

// ---------------------------------------------------------------------------
// plan: the before is what Intercom holds now

/// Issue 15 item 3: a row changed in the model whose contact was also edited by
/// hand in Intercom shows before = the hand edit, after = the model; a contact
/// deleted by hand shows "not in Intercom"; a new row whose key Intercom already
/// has shows that record. The reads are the dry run's `api_calls`.
async fn cli_plan_reads_before_from_intercom(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let cols = [
        ("id", Col::Text),
        ("email", Col::Text),
        ("full_name", Col::Text),
        ("tier", Col::Text),
    ];
    let row = |id: &str, name: &str, tier: &str| {
        vec![s(id), s(format!("u{id}@example.com")), s(name), s(tier)]
    };
    let rows = vec![
        row("1", "Ann", "free"),
        row("2", "Bob", "free"),
        row("3", "Cid", "free"),
    ];
    let table = sc.table("people", &cols, &rows).await?;
    let mut spec = user_spec(&dest);
    spec["fields"]["custom_attributes.tier"] = json!("tier");
    let sync = sc.add_sync(
        "people",
        &format!("select id, email, full_name, tier from {table}"),
        spec,
    )?;
    let r = cli(&sc, &["run", &sync]).await?;
    check_eq!(r.code, Some(0), "the first run\n{r}");

    // By hand in Intercom: Bob renamed and re-tiered, Cid deleted, and Dee —
    // not in the model yet — created.
    let id_of = |contacts: &[Value], external_id: &str| {
        contacts
            .iter()
            .find(|c| c["external_id"] == external_id)
            .and_then(|c| c["id"].as_str())
            .map(str::to_string)
    };
    let contacts = ic.contacts().await?;
    let bob = id_of(&contacts, "2").context("Bob's contact")?;
    let cid = id_of(&contacts, "3").context("Cid's contact")?;
    ic.ok(
        reqwest::Method::PUT,
        &format!("/contacts/{bob}"),
        Some(json!({"name": "Bob by hand", "custom_attributes": {"tier": "hand"}})),
    )
    .await?;
    ic.ok(reqwest::Method::DELETE, &format!("/contacts/{cid}"), None)
        .await?;
    let dee = json!({"role": "user", "external_id": "4", "name": "Dee by hand", "email": "u4@example.com"});
    ic.create_contact(dee).await?;
    // And in the model: Bob and Cid changed, Dee new.
    sc.sql(&[
        format!("UPDATE {table} SET full_name = 'Bob model', tier = 'gold' WHERE id = '2'"),
        format!("UPDATE {table} SET tier = 'gold' WHERE id = '3'"),
        format!("INSERT INTO {table} (id, email, full_name, tier) VALUES ('4', 'u4@example.com', 'Dee', 'gold')"),
    ])
    .await?;

    let before = ic.stats().await?;
    let j = cli(&sc, &["plan", &sync, "--json"]).await?.json()?;
    let delta = ic.stats().await?.since(&before);
    check_eq!(j["status"], json!("succeeded"), "plan --json\n{j:#}");
    let sample = |key: &str| {
        j["samples"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["key"] == key))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let bob_s = sample("2");
    check_eq!(bob_s["kind"], json!("update"), "Bob's sample\n{j:#}");
    check_eq!(
        (
            bob_s["before"]["name"].clone(),
            bob_s["before"]["custom_attributes"]["tier"].clone()
        ),
        (json!("Bob by hand"), json!("hand")),
        "Bob's before is the hand edit, read from Intercom now\n{bob_s:#}"
    );
    check_eq!(
        (
            bob_s["after"]["body"]["name"].clone(),
            bob_s["after"]["body"]["custom_attributes"]["tier"].clone()
        ),
        (json!("Bob model"), json!("gold")),
        "Bob's after is the model\n{bob_s:#}"
    );
    check_eq!(
        bob_s["before"]["email"],
        json!("u2@example.com"),
        "{bob_s:#}"
    );
    let cid_s = sample("3");
    check_eq!(
        (
            cid_s["kind"].clone(),
            cid_s["before"].clone(),
            cid_s["reason"].clone()
        ),
        (json!("update"), Value::Null, json!("not in Intercom")),
        "Cid was deleted by hand\n{cid_s:#}"
    );
    let dee_s = sample("4");
    check_eq!(
        (dee_s["kind"].clone(), dee_s["before"]["name"].clone()),
        (json!("create"), json!("Dee by hand")),
        "Dee is new to backflow, not to Intercom\n{dee_s:#}"
    );
    check!(
        dee_s["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("already in Intercom (id ")),
        "{dee_s:#}"
    );
    // The reads are the run's calls: Bob by his id (1), Cid by his id then his
    // external_id (2, both 404), Dee by her external_id (1). Besides them the
    // extract's check of the destination (GET /me, GET /data_attributes), and
    // no write.
    let checks = delta.route("GET /me") + delta.route("GET /data_attributes");
    let reads = delta.requests - checks;
    check_eq!(
        (reads, j["api_calls"].clone()),
        (4, json!(4)),
        "api_calls = the reads the emulator saw: {:?}\n{j:#}",
        delta.by_route
    );
    check_eq!(
        delta.writes(),
        0,
        "a dry run writes nothing: {:?}",
        delta.by_route
    );

    // The table: the hand edit → the model, marked as a change.
    let r = cli(&sc, &["plan", &sync]).await?;
    check_eq!(r.code, Some(0), "backflow plan\n{r}");
    let line = |field: &str, section: &str| {
        let start = r.stdout.find(section)?;
        r.stdout[start..]
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == field))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    check_eq!(
        line("name", "update  key 2"),
        Some("* name Bob by hand Bob model".to_string()),
        "{r}"
    );
    check_eq!(
        line("custom_attributes.tier", "update  key 2"),
        Some("* custom_attributes.tier hand gold".to_string()),
        "{r}"
    );
    check!(r.stdout.contains("update  key 3\n  not in Intercom"), "{r}");
    check!(
        r.stdout
            .contains("4 Intercom call(s) read the sample rows' records"),
        "{r}"
    );
    Ok(())
}

mod sqlite {
    macro_rules! cli_tests {
        ($($name:ident),*) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                backflow_scenarios::run_scenario(backflow_scenarios::Kind::Sqlite, stringify!($name), false, super::$name).await;
            }
        )*};
    }
    cli_tests!(
        cli_validate,
        cli_run_follows_20000_rows,
        cli_commands_and_exit_codes,
        cli_plan_reads_before_from_intercom
    );
    cli_tests!(api_pages_run_history_and_rows);
}
