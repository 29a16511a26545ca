//! One batch item → its Intercom calls → its outcome and the state to remember.

use std::collections::HashMap;

use backflow_aws::{RunTag, StateItem};
use backflow_core::batch::{BatchItem, LoadSpec};
use backflow_core::config::{Behavior, DeleteMode, Object};
use backflow_core::plan::{Action, RecordStatus};
use backflow_core::run::{Outcome, RowReport};
use backflow_core::subscriptions;
use backflow_core::tags::{company_hash, Memo};
use backflow_intercom::{Client, Role, RowError, WriteResult};

/// What became of one item.
#[derive(Debug)]
pub enum ItemResult {
    /// Intercom confirmed; `state` is what to remember (None: nothing to remember).
    Done {
        outcome: Outcome,
        state: Option<StateItem>,
    },
    /// Rejected by Intercom or not found: reported row by row. The state is
    /// untouched so the row is retried next run — or, when the record was
    /// written but its companies or tags were refused, `Some` state that
    /// remembers the record without a fingerprint (retried next run, never
    /// created twice) and only the list changes Intercom confirmed.
    Problem(RowReport, Option<StateItem>),
    /// The batch cannot go on (token refused, Intercom down past the retry budget).
    Fatal(String),
}

/// The outcome an earlier delivery of this run already recorded for `item`, if it
/// did: then the item is skipped (at-least-once delivery must not write twice).
pub fn already_done(run: RunTag, item: &BatchItem, known: Option<&StateItem>) -> Option<Outcome> {
    let s = known?;
    if s.run != run {
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
///
/// Only attributes some item of the batch writes are checked (and created): a
/// column that was null so far has no reliable type yet.
pub async fn attribute_problems(
    client: &Client,
    spec: &LoadSpec,
    items: &[BatchItem],
) -> anyhow::Result<HashMap<String, String>> {
    let written: Vec<_> = spec
        .attributes
        .iter()
        .filter(|a| {
            items.iter().any(|i| {
                i.body
                    .get("custom_attributes")
                    .and_then(|c| c.as_object())
                    .is_some_and(|c| c.contains_key(&a.name))
            })
        })
        .cloned()
        .collect();
    if written.is_empty() {
        return Ok(HashMap::new());
    }
    let problems = client
        .ensure_attributes(&written, spec.create_attributes)
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

pub(crate) fn report(
    item: &BatchItem,
    outcome: Outcome,
    reason: String,
    code: Option<String>,
) -> ItemResult {
    ItemResult::Problem(row_report(item, outcome, reason, code), None)
}

pub(crate) fn row_report(
    item: &BatchItem,
    outcome: Outcome,
    reason: String,
    code: Option<String>,
) -> RowReport {
    RowReport {
        key: Some(item.key.clone()),
        outcome,
        reason,
        code,
        row: item.row,
    }
}

pub(crate) fn is_contact(object: Object) -> bool {
    matches!(object, Object::Contact | Object::Lead | Object::User)
}

/// Sends one item.
pub async fn apply(
    client: &Client,
    spec: &LoadSpec,
    run: RunTag,
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
    // Subscription preferences are set with calls of their own, once the
    // contact is written; they are no contact field.
    let (body, preferences) = subscriptions::split(&item.body);
    let custom_object = spec.custom_object.as_deref().unwrap_or_default();
    let result: Result<WriteResult, RowError> = match (spec.object, item.action) {
        // Only the tags or companies changed: the record is not written again.
        (_, Action::Update) if item.lists.body_unchanged && known.is_some() => Ok(WriteResult {
            outcome: Outcome::Updated,
            intercom_id: known.map(str::to_string),
        }),
        (Object::Company, Action::Create | Action::Update) => {
            client.upsert_company(&item.body, known).await
        }
        (Object::Company, Action::Delete | Action::Archive) => {
            client.remove_company(&item.key, known).await
        }
        (Object::Event, Action::Send) => client.send_event(&item.body).await,
        (Object::CustomObject, Action::Create | Action::Update) => {
            client
                .upsert_custom_object(custom_object, &item.body, known)
                .await
        }
        (Object::CustomObject, Action::Delete | Action::Archive) => {
            client
                .remove_custom_object(custom_object, &item.key, known)
                .await
        }
        (o, Action::Create | Action::Update) if is_contact(o) => {
            // A record backflow archived (delete/mirror) that is back in the model:
            // a PUT alone would leave it archived.
            if let (Action::Create, Some(id)) = (item.action, known) {
                if let Err(RowError::Fatal(e)) = client.unarchive_contact(id).await {
                    return ItemResult::Fatal(e.to_string());
                }
            }
            if spec.behavior == Behavior::UpdateOnly {
                client
                    .update_contact_only(spec.key_field, &item.key, known, &body, role)
                    .await
            } else {
                client
                    .upsert_contact(spec.key_field, &item.key, known, &body, role)
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
    if let (Some(preferences), Some(contact_id)) = (preferences, &written.intercom_id) {
        if let Err(problem) =
            crate::preferences::set(client, spec, item, contact_id, preferences).await
        {
            return problem;
        }
    }
    let mut state = StateItem {
        key: item.key.clone(),
        intercom_id: written.intercom_id.clone(),
        fingerprint: item.fingerprint,
        status: status_of(written.outcome),
        run,
        outcome: written.outcome,
        remembered: item.lists.remembered.clone(),
    };
    if let (Some(contact_id), true) = (&written.intercom_id, is_contact(spec.object)) {
        if let Err(problem) = membership(client, item, written.outcome, contact_id).await {
            return match problem {
                RowError::Fatal(e) => ItemResult::Fatal(e.to_string()),
                RowError::Rejected(r) => {
                    state.fingerprint = None;
                    state.outcome = Outcome::Rejected;
                    let reason = format!("contact written, but {}", r.message);
                    ItemResult::Problem(
                        row_report(item, Outcome::Rejected, reason, Some(r.code)),
                        Some(state),
                    )
                }
            };
        }
        if let Some(companies) = &item.lists.row.companies {
            state.remembered.companies = Memo::of_companies(companies);
        }
    }
    ItemResult::Done {
        outcome: written.outcome,
        state: Some(state),
    }
}

/// A contact's companies (`company_id` / `company_ids`): attach those the row
/// lists that backflow did not attach before (each one for a new contact),
/// then detach those it attached and that left the row. Never creates a
/// company: one Intercom does not know is the row's rejection, naming it.
async fn membership(
    client: &Client,
    item: &BatchItem,
    outcome: Outcome,
    contact_id: &str,
) -> Result<(), RowError> {
    let Some(companies) = &item.lists.row.companies else {
        return Ok(());
    };
    let remembered = &item.lists.remembered.companies;
    for company_id in companies {
        if outcome != Outcome::Created && remembered.contains(company_hash(company_id)) {
            continue;
        }
        client
            .attach_company(contact_id, company_id)
            .await
            .map_err(|e| say(e, &format!("attaching it to company `{company_id}` failed")))?;
    }
    let leaving = remembered.minus(&Memo::of_companies(companies));
    if !leaving.is_empty() {
        client
            .detach_companies(contact_id, &leaving)
            .await
            .map_err(|e| say(e, "detaching it from a company it left failed"))?;
    }
    Ok(())
}

/// A rejection's message prefixed with what was being done.
fn say(e: RowError, what: &str) -> RowError {
    match e {
        RowError::Rejected(mut r) => {
            r.message = format!("{what}: {}", r.message);
            RowError::Rejected(r)
        }
        fatal => fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backflow_core::fingerprint::Fingerprint;

    fn item(action: Action, fp: Option<u128>) -> BatchItem {
        BatchItem {
            key: "k".into(),
            action,
            fingerprint: fp.map(Fingerprint),
            intercom_id: None,
            body: Default::default(),
            lists: Default::default(),
            row: Some(3),
        }
    }

    fn state(run: &str, fp: Option<u128>, status: RecordStatus, outcome: Outcome) -> StateItem {
        StateItem {
            key: "k".into(),
            intercom_id: Some("ic".into()),
            fingerprint: fp.map(Fingerprint),
            status,
            run: RunTag::of(run),
            outcome,
            remembered: Default::default(),
        }
    }

    #[test]
    fn a_redelivered_batch_skips_what_this_run_already_wrote() {
        use Outcome::{Archived, Created, Sent, Updated};
        use RecordStatus as S;
        let cases = [
            // (item, state, expected)
            (
                item(Action::Create, Some(1)),
                Some(state("r1", Some(1), S::Active, Created)),
                Some(Created),
            ),
            (
                item(Action::Update, Some(2)),
                Some(state("r1", Some(1), S::Active, Updated)),
                None,
            ),
            // Written by an earlier run: this run must write.
            (
                item(Action::Update, Some(1)),
                Some(state("r0", Some(1), S::Active, Updated)),
                None,
            ),
            (
                item(Action::Send, Some(1)),
                Some(state("r1", Some(1), S::Sent, Sent)),
                Some(Sent),
            ),
            (
                item(Action::Archive, None),
                Some(state("r1", None, S::Archived, Archived)),
                Some(Archived),
            ),
            (
                item(Action::Delete, None),
                Some(state("r1", None, S::Archived, Archived)),
                None,
            ),
            (item(Action::Create, Some(1)), None, None),
        ];
        for (i, (item, known, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                already_done(RunTag::of("r1"), &item, known.as_ref()),
                want,
                "case {i}"
            );
        }
    }
}
