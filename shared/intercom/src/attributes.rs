//! Custom data attributes: make sure every `custom_attributes.<name>` a sync writes
//! exists in Intercom with a compatible type before any row is sent.
//!
//! Intercom only accepts values for attributes that already exist, so writing a
//! row before its attribute exists would reject (or silently drop) the value.
//! [`Client::ensure_attributes`] lists each model's attributes once
//! (`GET /data_attributes?model=…`, not once per row), creates the missing ones
//! when the sync allows it (`POST /data_attributes`), and reports the rest as
//! [`AttributeProblem`]s so the caller can reject exactly the rows that write them.
//! What Intercom has is cached per [`Client`] ([`crate::cache`]).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use backflow_core::batch::AttributeSpec;
use backflow_core::value::DataType;

use crate::client::Client;
use crate::error::Error;
use crate::requests;

/// An attribute as Intercom lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownAttribute {
    /// Intercom's `data_type` (`string`, `integer`, `float`, `boolean`, `date`, …).
    pub data_type: String,
    /// `false` for standard attributes (`name`, `email`, …).
    pub custom: bool,
}

/// Why rows writing one attribute cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeProblem {
    /// The attribute name (without `custom_attributes.`).
    pub name: String,
    /// `contact` or `company`.
    pub model: String,
    /// `attribute_missing` (absent and `create_attributes: false`),
    /// `attribute_type_mismatch`, `attribute_not_custom`, or Intercom's code when
    /// it refused the create (e.g. `parameter_invalid`).
    pub code: String,
    pub message: String,
}

/// May values of `wanted` be written to an attribute Intercom types `existing`?
/// Equal types are; integers also fit a float attribute, and `datetime` is how
/// some versions name dates.
pub fn compatible(existing: &str, wanted: DataType) -> bool {
    let existing = existing.to_ascii_lowercase();
    existing == requests::attributes::data_type_name(wanted)
        || (wanted == DataType::Integer && existing == "float")
        || (wanted == DataType::Date && existing == "datetime")
}

/// Intercom's `data_type` name as backflow's type (`datetime` is a date).
pub fn parse_data_type(name: &str) -> Option<DataType> {
    Some(match name.to_ascii_lowercase().as_str() {
        "string" => DataType::String,
        "integer" => DataType::Integer,
        "float" => DataType::Float,
        "boolean" => DataType::Boolean,
        "date" | "datetime" => DataType::Date,
        _ => return None,
    })
}

impl Client {
    /// The custom attributes that already exist on `model` (`contact` or
    /// `company`) and their types, so values can be coerced to what Intercom
    /// expects before anything is sent. One `GET /data_attributes` per model and
    /// client.
    pub async fn existing_attribute_types(
        &self,
        model: &str,
    ) -> Result<HashMap<String, DataType>, Error> {
        self.load_model(model).await?;
        Ok(self.cache().custom_types(model))
    }

    /// Make sure the attributes in `specs` exist with a compatible type, creating
    /// the missing ones when `create` is true. Returns the problems (empty when
    /// every attribute is usable); `Err` only for failures that stop the batch.
    pub async fn ensure_attributes(
        &self,
        specs: &[AttributeSpec],
        create: bool,
    ) -> Result<Vec<AttributeProblem>, Error> {
        let mut problems = Vec::new();
        let mut seen = HashSet::new();
        for spec in specs {
            if !seen.insert((spec.model.as_str(), spec.name.as_str())) {
                continue;
            }
            self.load_model(&spec.model).await?;
            let problem = match self.cache().attribute(&spec.model, &spec.name) {
                Some(k) => unusable(spec, &k),
                None if !create => Some(problem(
                    spec,
                    "attribute_missing",
                    format!(
                        "custom attribute '{}' does not exist on {} in Intercom and the sync says create_attributes: false",
                        spec.name, spec.model
                    ),
                )),
                None => self.create_attribute(spec).await?,
            };
            problems.extend(problem);
        }
        Ok(problems)
    }

    /// `POST /data_attributes` for `spec`; the problem when it cannot be used.
    async fn create_attribute(
        &self,
        spec: &AttributeSpec,
    ) -> Result<Option<AttributeProblem>, Error> {
        let req =
            requests::attributes::create_data_attribute(&spec.name, &spec.model, spec.data_type);
        let r = self.send(&req).await?;
        if r.is_success() {
            tracing::info!(name = %spec.name, model = %spec.model, "created custom attribute");
            let data_type = r
                .body
                .get("data_type")
                .and_then(Value::as_str)
                .unwrap_or(requests::attributes::data_type_name(spec.data_type))
                .to_string();
            let created = KnownAttribute {
                data_type,
                custom: true,
            };
            self.cache()
                .add_attributes(&spec.model, [(spec.name.clone(), created)]);
            return Ok(None);
        }
        // Another invocation (a concurrent batch of the same run, another sync)
        // may have created it since the list was read, and Intercom refuses a
        // second create ("You already have 'x' …"): read the list again before
        // rejecting every row that writes the attribute.
        let rejection = requests::rejection(r.status, &r.body);
        self.cache().forget_model(&spec.model);
        self.load_model(&spec.model).await?;
        Ok(match self.cache().attribute(&spec.model, &spec.name) {
            Some(k) if k.custom && compatible(&k.data_type, spec.data_type) => {
                tracing::info!(name = %spec.name, model = %spec.model, "custom attribute created meanwhile by another invocation");
                None
            }
            Some(k) if k.custom => Some(problem(
                spec,
                "attribute_type_mismatch",
                type_mismatch(spec, &k.data_type),
            )),
            _ => Some(problem(spec, &rejection.code, rejection.message)),
        })
    }

    /// List a model's attributes into the cache, once per client.
    async fn load_model(&self, model: &str) -> Result<(), Error> {
        if self.cache().has_model(model) {
            return Ok(());
        }
        let r = self
            .send(&requests::attributes::list_data_attributes(model))
            .await?;
        if !r.is_success() {
            return Err(Error::Unexpected(format!(
                "GET /data_attributes?model={model} answered {}",
                requests::rejection(r.status, &r.body)
            )));
        }
        self.cache()
            .add_attributes(model, parse_attribute_list(&r.body));
        Ok(())
    }
}

/// Why rows cannot write to `known`, an attribute Intercom already has.
fn unusable(spec: &AttributeSpec, known: &KnownAttribute) -> Option<AttributeProblem> {
    if !known.custom {
        return Some(problem(
            spec,
            "attribute_not_custom",
            format!(
                "'{}' is a standard {} attribute, not a custom one",
                spec.name, spec.model
            ),
        ));
    }
    (!compatible(&known.data_type, spec.data_type)).then(|| {
        problem(
            spec,
            "attribute_type_mismatch",
            type_mismatch(spec, &known.data_type),
        )
    })
}

fn problem(spec: &AttributeSpec, code: &str, message: String) -> AttributeProblem {
    AttributeProblem {
        name: spec.name.clone(),
        model: spec.model.clone(),
        code: code.to_string(),
        message,
    }
}

/// `{type:"list", data:[{name, data_type, custom, archived, …}]}` → name → attribute.
/// Archived attributes are skipped (they only appear with `include_archived`).
pub(crate) fn parse_attribute_list(body: &Value) -> HashMap<String, KnownAttribute> {
    let mut out = HashMap::new();
    let Some(data) = body.get("data").and_then(Value::as_array) else {
        return out;
    };
    for a in data {
        if a.get("archived").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let Some(name) = a.get("name").and_then(Value::as_str) else {
            continue;
        };
        let custom = a.get("custom").and_then(Value::as_bool).unwrap_or_else(|| {
            a.get("full_name")
                .and_then(Value::as_str)
                .is_some_and(|f| f.starts_with("custom_attributes."))
        });
        let data_type = a
            .get("data_type")
            .and_then(Value::as_str)
            .unwrap_or("string")
            .to_string();
        out.insert(name.to_string(), KnownAttribute { data_type, custom });
    }
    out
}

/// Why rows writing `spec` are refused when Intercom already has the attribute as
/// `data_type`.
fn type_mismatch(spec: &AttributeSpec, data_type: &str) -> String {
    format!(
        "custom attribute '{}' is a {data_type} attribute in Intercom, but the column holds {} values (Intercom cannot change an attribute's type)",
        spec.name,
        requests::attributes::data_type_name(spec.data_type)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compatibility() {
        assert!(compatible("string", DataType::String));
        assert!(compatible("float", DataType::Integer));
        assert!(!compatible("integer", DataType::Float));
        assert!(compatible("date", DataType::Date));
        assert!(compatible("datetime", DataType::Date));
        assert!(!compatible("string", DataType::Boolean));
    }

    /// Two batches of one run both find `plan` missing; the second create is
    /// refused ("You already have 'plan' …"), which must not reject its rows.
    #[tokio::test]
    async fn an_attribute_created_meanwhile_is_no_problem() {
        use backflow_core::secret::Secret;
        let emu = intercom_emulator::Emulator::start(
            intercom_emulator::Options::default(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let client =
            || Client::new(crate::ClientConfig::new(emu.base_url(), Secret::new("t"))).unwrap();
        let (a, b) = (client(), client());
        let plan = |data_type| AttributeSpec {
            name: "plan".into(),
            model: "contact".into(),
            data_type,
        };
        // Both read the (empty) list first, then `a` creates the attribute.
        assert!(a
            .existing_attribute_types("contact")
            .await
            .unwrap()
            .is_empty());
        assert!(b
            .existing_attribute_types("contact")
            .await
            .unwrap()
            .is_empty());
        assert!(a
            .ensure_attributes(&[plan(DataType::String)], true)
            .await
            .unwrap()
            .is_empty());
        assert!(b
            .ensure_attributes(&[plan(DataType::String)], true)
            .await
            .unwrap()
            .is_empty());
        // Created meanwhile with another type: a type mismatch, not a refusal.
        let c = client();
        assert!(c
            .existing_attribute_types("company")
            .await
            .unwrap()
            .is_empty());
        // It believes `contact` has no attributes: `plan` looks missing.
        c.cache().add_attributes("contact", []);
        let problems = c
            .ensure_attributes(&[plan(DataType::Integer)], true)
            .await
            .unwrap();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code, "attribute_type_mismatch");
    }

    #[test]
    fn lists_are_parsed() {
        let body = json!({"type": "list", "data": [
            {"name": "email", "full_name": "email", "data_type": "string", "custom": false},
            {"name": "ltv", "full_name": "custom_attributes.ltv", "data_type": "float", "custom": true},
            {"name": "old", "data_type": "string", "custom": true, "archived": true},
            {"name": "plan", "full_name": "custom_attributes.plan", "data_type": "string"},
        ]});
        let m = parse_attribute_list(&body);
        assert_eq!(m.len(), 3);
        assert!(!m["email"].custom);
        assert_eq!(m["ltv"].data_type, "float");
        assert!(m["plan"].custom);
        assert!(parse_attribute_list(&json!({})).is_empty());
    }
}
