//! One batch item → its Intercom calls → its outcome and the state to remember.

use std::collections::HashMap;

use backflow_aws::StateItem;
use backflow_core::batch::{BatchItem, LoadSpec};
use backflow_core::config::{Behavior, DeleteMode, Object};
use backflow_core::plan::{Action, RecordStatus};
use backflow_core::run::{Outcome, RowReport};
use backflow_intercom::{Client, Role, RowError, WriteResult};

/// What became of one item.
#[derive(Debug)]
pub enum ItemResult {
    /// Intercom confirmed; `state` is what to remember (None: nothing to remember).
    Done {
        outcome: Outcome,
        state: Option<StateItem>,
    },
    /// Rejected by Intercom or not found: reported row by row, state untouched so
    /// the row is retried next run.
    Problem(RowReport),
    /// The batch cannot go on (token refused, Intercom down past the retry budget).
    Fatal(String),
}

/// The outcome an earlier delivery of this run already recorded for `item`, if it
/// did: then the item is skipped (at-least-once delivery must not write twice).
pub fn already_done(run_id: &str, item: &BatchItem, known: Option<&StateItem>) -> Option<Outcome> {
    let s = known?;
    if s.run_id != run_id {
        return None;
    }
    let done = match item.action {
        Action::Create | Action::Update => s.fingerprint == item.fingerprint,
        Action::Send => s.status == RecordStatus::Sent,
        Action::Archive => s.status == RecordStatus::Archived,
        Action::Delete => s.status == RecordStatus::Deleted,
    };
    done.then_some(s.outcome)
}

/// Custom attributes the rows must not write (missing with `create_attributes:
/// false`, or existing with another type), by name, with the reason.
pub async fn attribute_problems(
    client: &Client,
    spec: &LoadSpec,
) -> anyhow::Result<HashMap<String, String>> {
    if spec.attributes.is_empty() {
        return Ok(HashMap::new());
    }
    let problems = client
        .ensure_attributes(&spec.attributes, spec.create_attributes)
        .await?;
    Ok(problems
        .into_iter()
        .map(|p| {
            let reason = format!(
                "custom attribute `{}` ({}): {} — {}",
                p.name, p.model, p.code, p.message
            );
            (p.name, reason)
        })
        .collect())
}

fn status_of(outcome: Outcome) -> RecordStatus {
    match outcome {
        Outcome::Archived => RecordStatus::Archived,
        Outcome::Deleted => RecordStatus::Deleted,
        Outcome::Sent => RecordStatus::Sent,
        _ => RecordStatus::Active,
    }
}

fn report(item: &BatchItem, outcome: Outcome, reason: String, code: Option<String>) -> ItemResult {
    ItemResult::Problem(RowReport {
        key: Some(item.key.clone()),
        outcome,
        reason,
        code,
        row: None,
    })
}

fn is_contact(object: Object) -> bool {
    matches!(object, Object::Contact | Object::Lead | Object::User)
}

/// Sends one item.
pub async fn apply(
    client: &Client,
    spec: &LoadSpec,
    run_id: &str,
    item: &BatchItem,
    blocked: &HashMap<String, String>,
) -> ItemResult {
    if let Some(attrs) = item
        .body
        .get("custom_attributes")
        .and_then(|v| v.as_object())
    {
        if let Some(reason) = attrs.keys().find_map(|name| blocked.get(name)) {
            return report(
                item,
                Outcome::Rejected,
                reason.clone(),
                Some("attribute_unavailable".into()),
            );
        }
    }
    let known = item.intercom_id.as_deref();
    let role = match item.body.get("role").and_then(|v| v.as_str()) {
        Some("lead") => Role::Lead,
        _ => Role::User,
    };
    let result: Result<WriteResult, RowError> = match (spec.object, item.action) {
        (Object::Company, Action::Create | Action::Update) => {
            client.upsert_company(&item.body, known).await
        }
        (Object::Company, Action::Delete | Action::Archive) => {
            client.remove_company(&item.key, known).await
        }
        (Object::Event, Action::Send) => client.send_event(&item.body).await,
        (o, Action::Create | Action::Update) if is_contact(o) => {
            if spec.behavior == Behavior::UpdateOnly {
                client
                    .update_contact_only(spec.key_field, &item.key, known, &item.body, role)
                    .await
            } else {
                client
                    .upsert_contact(spec.key_field, &item.key, known, &item.body, role)
                    .await
            }
        }
        (o, Action::Archive) if is_contact(o) => {
            client
                .remove_contact(spec.key_field, &item.key, known, DeleteMode::Archive)
                .await
        }
        (o, Action::Delete) if is_contact(o) => {
            client
                .remove_contact(spec.key_field, &item.key, known, DeleteMode::Permanent)
                .await
        }
        (object, action) => {
            return report(
                item,
                Outcome::Rejected,
                format!("{action:?} is not possible for {object:?}"),
                None,
            );
        }
    };
    let written = match result {
        Ok(w) => w,
        Err(RowError::Rejected(r)) => {
            return report(
                item,
                Outcome::Rejected,
                format!("Intercom answered {}: {}", r.status, r.message),
                Some(r.code),
            )
        }
        Err(RowError::Fatal(e)) => return ItemResult::Fatal(e.to_string()),
    };
    if written.outcome == Outcome::NotFound {
        let reason = format!(
            "no Intercom record matches {:?} `{}`",
            spec.key_field, item.key
        );
        return report(item, Outcome::NotFound, reason, None);
    }
    if let (Some(company_id), Some(contact_id)) = (&item.company_id, &written.intercom_id) {
        if is_contact(spec.object) {
            match client.attach_company(contact_id, company_id).await {
                Ok(_) => {}
                Err(RowError::Rejected(r)) => {
                    let reason = format!(
                        "contact written, but attaching it to company `{company_id}` failed: {}",
                        r.message
                    );
                    return report(item, Outcome::Rejected, reason, Some(r.code));
                }
                Err(RowError::Fatal(e)) => return ItemResult::Fatal(e.to_string()),
            }
        }
    }
    let state = StateItem {
        key: item.key.clone(),
        intercom_id: written.intercom_id.clone(),
        fingerprint: item.fingerprint,
        status: status_of(written.outcome),
        run_id: run_id.to_string(),
        outcome: written.outcome,
    };
    ItemResult::Done {
        outcome: written.outcome,
        state: Some(state),
    }
}
