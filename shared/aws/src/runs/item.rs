//! The run item's encoding: keys, counter attributes, the UpdateExpression builder
//! and the decoding of a run item into a [`RunRecord`] (doc + counters overlay).
//! The layout itself is documented in [`super`].

use std::collections::HashMap;

use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use backflow_core::run::{Counts, RunRecord, RunStatus, Usage};

use crate::ddb::{n, n_f64, s, Attrs, Item};
use crate::Error;

type CountField = fn(&mut Counts) -> &mut u64;

const COUNTERS: [(&str, CountField); 9] = [
    ("c_created", |c| &mut c.created),
    ("c_updated", |c| &mut c.updated),
    ("c_deleted", |c| &mut c.deleted),
    ("c_archived", |c| &mut c.archived),
    ("c_sent", |c| &mut c.sent),
    ("c_unchanged", |c| &mut c.unchanged),
    ("c_invalid", |c| &mut c.invalid),
    ("c_rejected", |c| &mut c.rejected),
    ("c_not_found", |c| &mut c.not_found),
];

type UsageFloat = fn(&mut Usage) -> &mut f64;
type UsageInt = fn(&mut Usage) -> &mut u64;

const USAGE_FLOATS: [(&str, UsageFloat); 3] = [
    ("u_gbs", |u| &mut u.lambda_gb_seconds),
    ("u_rru", |u| &mut u.dynamodb_read_units),
    ("u_wru", |u| &mut u.dynamodb_write_units),
];

const USAGE_INTS: [(&str, UsageInt); 4] = [
    ("u_inv", |u| &mut u.lambda_invocations),
    ("u_s3put", |u| &mut u.s3_puts),
    ("u_s3get", |u| &mut u.s3_gets),
    ("u_calls", |u| &mut u.intercom_calls),
];

pub(super) fn run_pk(run_id: &str) -> String {
    format!("RUN#{run_id}")
}

pub(super) fn sync_pk(sync: &str) -> String {
    format!("SYNC#{sync}")
}

pub(super) fn rfc3339_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn json<T: serde::Serialize + ?Sized>(value: &T) -> AttributeValue {
    // Our own types always serialize (string keys; non-finite floats become null).
    s(serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
}

pub(super) fn decode_run(run_id: &str, item: &Item) -> Result<RunRecord, Error> {
    let what = format!("run `{run_id}`");
    let attrs = Attrs::new(item, &what);
    let doc = attrs.required_s("doc")?;
    let mut r: RunRecord = serde_json::from_str(doc).map_err(|e| Error::corrupt(&what, e))?;
    if let Some(status) = attrs.s("status")? {
        r.status = serde_json::from_value(serde_json::Value::String(status.into()))
            .map_err(|_| Error::corrupt(&what, format!("bad status `{status}`")))?;
    }
    for (attr, field) in COUNTERS {
        if let Some(v) = attrs.u64(attr)? {
            *field(&mut r.counts) = v;
        }
    }
    for (attr, field) in USAGE_FLOATS {
        if let Some(v) = attrs.f64(attr)? {
            *field(&mut r.usage) = v;
        }
    }
    for (attr, field) in USAGE_INTS {
        if let Some(v) = attrs.u64(attr)? {
            *field(&mut r.usage) = v;
        }
    }
    for (attr, target) in [
        ("api_calls", &mut r.api_calls),
        ("retries", &mut r.retries),
        ("b_total", &mut r.batches.total),
        ("b_done", &mut r.batches.done),
        ("b_failed", &mut r.batches.failed),
    ] {
        if let Some(v) = attrs.u64(attr)? {
            *target = v;
        }
    }
    if let Some(plan) = attrs.s("plan")? {
        r.plan = serde_json::from_str(plan).map_err(|e| Error::corrupt(&what, e))?;
    }
    if let Some(samples) = attrs.s("samples")? {
        r.samples = serde_json::from_str(samples).map_err(|e| Error::corrupt(&what, e))?;
    }
    if let Some(warnings) = attrs.s("warnings")? {
        r.warnings = serde_json::from_str(warnings).map_err(|e| Error::corrupt(&what, e))?;
    }
    if let Some(at) = attrs.s("finished_at")? {
        r.finished_at = Some(at.to_string());
    }
    if let Some(error) = attrs.s("error")? {
        r.error = Some(error.to_string());
    }
    if let Some(at) = attrs.u64("updated_at")? {
        r.updated_at = i64::try_from(at).ok();
    }
    Ok(r)
}

/// An UpdateExpression under construction; every attribute goes through `#name`
/// placeholders (`status` and friends are reserved words).
#[derive(Default)]
pub(super) struct Expr {
    set: Vec<String>,
    add: Vec<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub(super) fn set(&mut self, attr: &str, value: AttributeValue) {
        self.names.insert(format!("#{attr}"), attr.to_string());
        self.values.insert(format!(":{attr}"), value);
        self.set.push(format!("#{attr} = :{attr}"));
    }

    pub(super) fn add_value(&mut self, attr: &str, value: AttributeValue) {
        self.names.insert(format!("#{attr}"), attr.to_string());
        self.values.insert(format!(":{attr}"), value);
        self.add.push(format!("#{attr} :{attr}"));
    }

    /// ADD a counter; zeros are skipped (smaller request, same result).
    pub(super) fn add(&mut self, attr: &str, value: u64) {
        if value > 0 {
            self.add_value(attr, n(value));
        }
    }

    pub(super) fn add_counts(&mut self, counts: &Counts) {
        for (attr, field) in COUNTERS {
            let mut c = *counts;
            self.add(attr, *field(&mut c));
        }
    }

    pub(super) fn add_usage(&mut self, usage: &Usage) {
        let mut u = *usage;
        for (attr, field) in USAGE_FLOATS {
            let v = *field(&mut u);
            if v.is_finite() && v > 0.0 {
                self.add_value(attr, n_f64(v));
            }
        }
        for (attr, field) in USAGE_INTS {
            self.add(attr, *field(&mut u));
        }
    }

    /// `#status IN (:s0, :s1, ...)` (registers the placeholders).
    pub(super) fn status_in(&mut self, statuses: &[RunStatus]) -> String {
        self.names.insert("#status".into(), "status".into());
        let placeholders: Vec<String> = statuses
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let p = format!(":from{i}");
                self.values.insert(p.clone(), s(st.as_str()));
                p
            })
            .collect();
        format!("#status IN ({})", placeholders.join(", "))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty()
    }

    pub(super) fn expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.add.is_empty() {
            parts.push(format!("ADD {}", self.add.join(", ")));
        }
        parts.join(" ")
    }

    pub(super) fn apply_update(self, builder: UpdateBuilder) -> UpdateBuilder {
        builder
            .update_expression(self.expression())
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values(Some(self.values))
    }
}

#[cfg(test)]
mod tests {
    use backflow_core::run::{BatchCounts, Trigger};

    use super::*;

    #[test]
    fn expressions_skip_zeros_and_use_placeholders() {
        let mut e = Expr::default();
        e.set("status", s("loading"));
        e.add_counts(&Counts {
            created: 2,
            ..Counts::default()
        });
        e.add_usage(&Usage {
            lambda_gb_seconds: 0.125,
            ..Usage::default()
        });
        let condition = e.status_in(&[RunStatus::Queued, RunStatus::Extracting]);
        assert_eq!(
            e.expression(),
            "SET #status = :status ADD #c_created :c_created, #u_gbs :u_gbs"
        );
        assert_eq!(condition, "#status IN (:from0, :from1)");
        assert_eq!(e.values[":u_gbs"], AttributeValue::N("0.125000".into()));
        assert_eq!(e.values[":from1"], s("extracting"));
        assert_eq!(e.names.len(), 3);
    }

    #[test]
    fn counters_overlay_the_doc() {
        let record = RunRecord {
            run_id: "r1".into(),
            sync: "users".into(),
            trigger: Trigger::Schedule,
            dry_run: false,
            full_resync: false,
            allow_mass_removal: false,
            status: RunStatus::Queued,
            started_at: "2026-08-22T10:00:00Z".into(),
            finished_at: None,
            counts: Counts::default(),
            plan: None,
            api_calls: 0,
            retries: 0,
            batches: BatchCounts::default(),
            error: None,
            samples: vec![],
            warnings: vec![],
            usage: Usage::default(),
            updated_at: None,
        };
        let mut item = Item::new();
        item.insert("doc".into(), json(&record));
        item.insert("status".into(), s("partial"));
        item.insert("c_not_found".into(), n(3));
        item.insert("b_done".into(), n(2));
        item.insert("u_wru".into(), n("1.500000"));
        item.insert("updated_at".into(), n(1_780_000_000));
        item.insert("error".into(), s("boom"));
        let r = decode_run("r1", &item).unwrap();
        assert_eq!(r.status, RunStatus::Partial);
        assert_eq!(r.counts.not_found, 3);
        assert_eq!(r.batches.done, 2);
        assert_eq!(r.usage.dynamodb_write_units, 1.5);
        assert_eq!(r.updated_at, Some(1_780_000_000));
        assert_eq!(r.error.as_deref(), Some("boom"));

        item.insert("status".into(), s("sleeping"));
        let err = decode_run("r1", &item).unwrap_err().to_string();
        assert!(
            err.contains("run `r1`") && err.contains("sleeping"),
            "{err}"
        );
    }
}
