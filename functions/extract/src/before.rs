//! Step "read the before" (dry runs only): each sample row's record as
//! Intercom holds it now, so `backflow plan` shows what a run would change —
//! hand edits made in Intercom since the last run included — and not what
//! backflow remembers.
//!
//! At most one record per sample (`planner::SAMPLES_PER_KIND` per kind), found
//! as `load` would find it: contacts by the remembered Intercom id, else by
//! their key; companies by `company_id`. Events and invalid rows have no
//! before. The reads go through the destination's client (shared budget,
//! retries, region) and are counted in the run's `api_calls`. A read never
//! fails the dry run: a record Intercom does not have is `before: null` ("not
//! in Intercom"), a read that failed keeps what backflow remembers and says
//! why.

use serde_json::Value;

use backflow_core::before::sample_before;
use backflow_core::config::{Object, SyncSpec};
use backflow_core::run::{Sample, Usage};
use backflow_intercom::{CallStats, Client, Role, RowError};

use crate::prepare::Prepared;
use crate::Extract;

/// What one read found.
enum Read {
    Found(Value),
    Missing,
    /// Intercom refused this read (a 4xx other than not found).
    Refused(String),
    /// Intercom could not be reached (retries spent, token refused).
    Unreachable(String),
}

impl Extract {
    /// Replaces each sample's `before` with the record's current values of the
    /// fields the sync writes. Returns the calls it made (also added to `usage`).
    pub(crate) async fn read_before(
        &self,
        prepared: &Prepared,
        samples: &mut [Sample],
        usage: &mut Usage,
    ) -> anyhow::Result<CallStats> {
        let spec = &prepared.spec;
        if !samples.iter().any(|s| reads(spec.object, s)) {
            return Ok(CallStats::default());
        }
        let intercom = self.intercom(prepared).await?;
        // Once Intercom is out of reach (retries spent), each further read would
        // wait as long again: the rest say so without trying.
        let mut unreachable: Option<String> = None;
        for sample in samples.iter_mut().filter(|s| reads(spec.object, s)) {
            let read = match &unreachable {
                Some(e) => Read::Unreachable(e.clone()),
                None => read_record(&intercom, spec, sample).await,
            };
            if let Read::Unreachable(e) = &read {
                unreachable = Some(e.clone());
            }
            apply(spec, sample, read);
        }
        Ok(crate::prepare::done_with(&intercom, usage).await)
    }
}

/// Whether a sample gets a before from Intercom: rows and removals of
/// contacts and companies.
fn reads(object: Object, sample: &Sample) -> bool {
    let kind = matches!(
        sample.kind.as_str(),
        "create" | "update" | "archive" | "delete"
    );
    kind && sample.key.is_some() && (object == Object::Company || object.is_contact())
}

async fn read_record(intercom: &Client, spec: &SyncSpec, sample: &Sample) -> Read {
    let Some(key) = sample.key.as_deref() else {
        return Read::Missing;
    };
    let result = if spec.object == Object::Company {
        intercom.read_company(key).await
    } else {
        let known_id = sample
            .before
            .as_ref()
            .and_then(|b| b.get("intercom_id"))
            .and_then(Value::as_str);
        intercom
            .read_contact(spec.key.field, key, known_id, role(spec.object, sample))
            .await
    };
    match result {
        Ok(Some(record)) => Read::Found(record),
        Ok(None) => Read::Missing,
        Err(RowError::Rejected(r)) => Read::Refused(format!(
            "Intercom answered {} ({}): {}",
            r.status, r.code, r.message
        )),
        Err(RowError::Fatal(e)) => Read::Unreachable(e.to_string()),
    }
}

/// The role the row would be written with (an email search must not match a
/// lead for a user), or the object's; `None` (any role) for a removal of a
/// `contact`, as `load` removes it.
fn role(object: Object, sample: &Sample) -> Option<Role> {
    let from_body = sample
        .after
        .as_ref()
        .and_then(|a| a.get("body"))
        .and_then(|b| b.get("role"))
        .and_then(Value::as_str)
        .and_then(Role::parse);
    from_body.or(match object {
        Object::Lead => Some(Role::Lead),
        Object::User => Some(Role::User),
        _ => None,
    })
}

/// What the sample shows once read: the current values under the names of
/// the fields sent (the row's body; for a removal, every field the sync maps).
fn apply(spec: &SyncSpec, sample: &mut Sample, read: Read) {
    match read {
        Read::Found(record) => {
            if sample.kind == "create" {
                sample.reason = Some(already_there(&record));
            }
            let before =
                sample_before(spec, sample.after.as_ref(), sample.before.as_ref(), &record);
            sample.before = Some(before);
        }
        Read::Missing => {
            sample.before = None;
            sample.reason = Some("not in Intercom".into());
        }
        Read::Refused(e) | Read::Unreachable(e) => {
            sample.reason = Some(format!(
                "could not read from Intercom: {e} (before: what backflow remembers)"
            ));
        }
    }
}

/// A row planned as a create whose key Intercom already has: `load` finds the
/// record and updates it (one key, one record).
fn already_there(record: &Value) -> String {
    match record.get("id").and_then(Value::as_str) {
        Some(id) => format!("already in Intercom (id {id}): the run updates it"),
        None => "already in Intercom: the run updates it".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> SyncSpec {
        serde_json::from_value(json!({
            "model": "m", "destination": "d", "object": "user",
            "behavior": "update_or_create", "key": {"column": "id", "field": "external_id"},
            "fields": {"name": "full_name"},
        }))
        .expect("a sync spec")
    }

    fn sample(kind: &str) -> Sample {
        Sample {
            key: Some("u1".into()),
            kind: kind.into(),
            before: Some(json!({"intercom_id": "c1", "fingerprint": "f", "status": "active"})),
            after: Some(json!({"body": {"external_id": "u1", "name": "Model"}})),
            reason: None,
        }
    }

    #[test]
    fn what_a_read_makes_of_the_sample() {
        let record = json!({"id": "c1", "external_id": "u1", "name": "By hand"});
        let mut s = sample("update");
        apply(&spec(), &mut s, Read::Found(record.clone()));
        assert_eq!(
            s.before,
            Some(json!({"external_id": "u1", "name": "By hand"}))
        );
        assert_eq!(s.reason, None);

        let mut s = sample("create");
        apply(&spec(), &mut s, Read::Found(record));
        assert_eq!(
            s.reason.as_deref(),
            Some("already in Intercom (id c1): the run updates it")
        );

        let mut s = sample("update");
        apply(&spec(), &mut s, Read::Missing);
        assert_eq!(
            (s.before, s.reason.as_deref()),
            (None, Some("not in Intercom"))
        );

        // A failed read keeps what backflow remembers, and says why.
        for read in [
            Read::Refused("Intercom answered 403 (forbidden): no".into()),
            Read::Unreachable("gave up after 8 attempts".into()),
        ] {
            let mut s = sample("update");
            let remembered = s.before.clone();
            apply(&spec(), &mut s, read);
            assert_eq!(s.before, remembered);
            assert!(s
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("could not read from Intercom: ")));
        }
    }

    #[test]
    fn only_rows_and_removals_of_contacts_and_companies_are_read() {
        assert!(reads(Object::User, &sample("update")));
        assert!(reads(Object::Company, &sample("archive")));
        assert!(!reads(Object::User, &sample("invalid")));
        assert!(!reads(Object::Event, &sample("send")));
        let mut no_key = sample("create");
        no_key.key = None;
        assert!(!reads(Object::Lead, &no_key));
    }
}
