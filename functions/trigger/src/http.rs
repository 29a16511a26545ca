//! The HTTP API: `GET /syncs`, `POST /syncs/{sync}/runs`, `GET /syncs/{sync}/runs`,
//! `GET /runs/{id}`, `GET /runs/{id}/rows` (JSON, or CSV with `Accept: text/csv`).
//! Errors are `{"error":{"code","message"}}`.

use serde_json::{json, Value};

use backflow_core::api::{self, Request, RunOptions};

use crate::runs::{StartError, StartOptions};
use crate::Trigger;

/// An HTTP answer in the shape API Gateway (payload 2.0) and function URLs accept.
/// `cookies` and `multiValueHeaders` are there although empty: `cargo lambda watch`
/// parses the answer with a struct that requires them.
pub fn response(status: u16, body: &Value) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {},
        "cookies": [],
        "isBase64Encoded": false,
        "body": body.to_string(),
    })
}

pub fn error(status: u16, code: &str, message: &str) -> Value {
    response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// Answers one HTTP request. Everything a client sends is parsed first, with no
/// IO ([`api::parse`]): a refused request is answered 4xx and starts nothing.
pub async fn handle(trigger: &Trigger, event: &Value) -> Value {
    match api::parse(event) {
        Ok(request) => answer(trigger, request).await,
        Err(refusal) => error(refusal.status, refusal.code, &refusal.message),
    }
}

async fn answer(trigger: &Trigger, request: Request) -> Value {
    match request {
        Request::ListSyncs => match crate::runs::list_syncs(trigger).await {
            Ok(body) => response(200, &body),
            Err(e) => error(500, "config_invalid", &e.to_string()),
        },
        Request::StartRun { sync, options } => start_run(trigger, &sync, options).await,
        Request::GetRun { run_id } => match crate::runs::get(trigger, &run_id).await {
            Ok(Some(record)) => response(200, &serde_json::to_value(record).unwrap_or_default()),
            Ok(None) => error(404, "not_found", &format!("no run `{run_id}`")),
            Err(e) => error(500, "internal", &e.to_string()),
        },
        Request::RunRows {
            run_id,
            outcome,
            limit,
            after,
            csv,
        } => match crate::runs::rows(trigger, &run_id, outcome, limit, after.as_ref()).await {
            Ok(Some(page)) if csv => csv_response(&page),
            Ok(Some(page)) => response(
                200,
                &json!({ "rows": page.items, "next_cursor": page.next_cursor }),
            ),
            Ok(None) => error(404, "not_found", &format!("no run `{run_id}`")),
            Err(e) => error(500, "internal", &e.to_string()),
        },
        Request::SyncRuns { sync, limit, after } => {
            match crate::runs::history(trigger, &sync, limit, after.as_ref()).await {
                Ok(Some(page)) => response(
                    200,
                    &json!({ "runs": page.items, "next_cursor": page.next_cursor }),
                ),
                Ok(None) => error(404, "not_found", &format!("no sync named `{sync}`")),
                Err(e) => error(500, "internal", &e.to_string()),
            }
        }
    }
}

/// A page of rows as CSV ([`api::csv::rows`]); the next page's cursor in the
/// `x-next-cursor` header, absent on the last page.
fn csv_response(page: &crate::runs::Page<backflow_core::run::RowReport>) -> Value {
    let mut headers = json!({"content-type": "text/csv; charset=utf-8"});
    if let Some(cursor) = &page.next_cursor {
        headers["x-next-cursor"] = json!(cursor);
    }
    json!({
        "statusCode": 200,
        "headers": headers,
        "multiValueHeaders": {},
        "cookies": [],
        "isBase64Encoded": false,
        "body": api::csv::rows(&page.items),
    })
}

async fn start_run(trigger: &Trigger, sync: &str, request: RunOptions) -> Value {
    let options = StartOptions {
        dry_run: request.dry_run,
        full_resync: request.full_resync,
        allow_mass_removal: request.allow_mass_removal,
        trigger: backflow_core::run::Trigger::Api,
    };
    match crate::runs::start(trigger, sync, options).await {
        Ok(run_id) => response(202, &json!({"run_id": run_id, "status": "queued"})),
        Err(StartError::UnknownSync) => error(404, "not_found", &format!("no sync named `{sync}`")),
        Err(StartError::AlreadyRunning(run_id)) => error(
            409,
            "run_in_progress",
            &format!("sync `{sync}` already has a run in progress: {run_id}"),
        ),
        Err(StartError::Config(msg)) => error(422, "config_invalid", &msg),
        Err(StartError::Internal(msg)) => error(500, "internal", &msg),
    }
}
