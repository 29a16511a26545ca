//! What a client remembers of the workspace for its lifetime (one invocation),
//! so each fact costs one call: the Intercom id of a company by its
//! `company_id` (attaching contacts), and the data attributes of each model
//! (checking and coercing custom attributes). Shared by the client's clones.

use std::collections::HashMap;
use std::sync::Mutex;

use backflow_core::value::DataType;

use crate::attributes::{parse_data_type, KnownAttribute};
use crate::client::lock;

#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// `company_id` → Intercom company id.
    companies: Mutex<HashMap<String, String>>,
    /// model → attribute name → what Intercom has.
    attributes: Mutex<HashMap<String, HashMap<String, KnownAttribute>>>,
    /// The workspace's tags `(id, name)`, once listed (removing tags).
    tags: Mutex<Option<Vec<(String, String)>>>,
}

impl Cache {
    /// The Intercom id of the company with `company_id`, if known.
    pub fn company(&self, company_id: &str) -> Option<String> {
        lock(&self.companies).get(company_id).cloned()
    }

    pub fn remember_company(&self, company_id: String, intercom_id: String) {
        lock(&self.companies).insert(company_id, intercom_id);
    }

    /// Forget a company (deleted, or its id turned out stale).
    pub fn forget_company(&self, company_id: &str) {
        lock(&self.companies).remove(company_id);
    }

    /// The workspace's tags, if listed.
    pub fn tags(&self) -> Option<Vec<(String, String)>> {
        lock(&self.tags).clone()
    }

    /// Remember the workspace's tags, as listed.
    pub fn set_tags(&self, listed: Vec<(String, String)>) {
        *lock(&self.tags) = Some(listed);
    }

    /// A tag created (or found by name) after the list was read.
    pub fn add_tag(&self, tag: (String, String)) {
        if let Some(known) = lock(&self.tags).as_mut() {
            if !known.contains(&tag) {
                known.push(tag);
            }
        }
    }

    /// Whether `model`'s attributes were listed.
    pub fn has_model(&self, model: &str) -> bool {
        lock(&self.attributes).contains_key(model)
    }

    /// Add listed (or created) attributes of `model`.
    pub fn add_attributes(
        &self,
        model: &str,
        listed: impl IntoIterator<Item = (String, KnownAttribute)>,
    ) {
        lock(&self.attributes)
            .entry(model.to_string())
            .or_default()
            .extend(listed);
    }

    /// Forget `model`'s attributes, so the next look lists them again.
    pub fn forget_model(&self, model: &str) {
        lock(&self.attributes).remove(model);
    }

    /// What Intercom has for the attribute `name` of `model`, as last listed.
    pub fn attribute(&self, model: &str, name: &str) -> Option<KnownAttribute> {
        lock(&self.attributes).get(model)?.get(name).cloned()
    }

    /// The custom attributes of `model` with a type backflow knows.
    pub fn custom_types(&self, model: &str) -> HashMap<String, DataType> {
        lock(&self.attributes)
            .get(model)
            .map(|m| {
                m.iter()
                    .filter(|(_, k)| k.custom)
                    .filter_map(|(name, k)| Some((name.clone(), parse_data_type(&k.data_type)?)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(data_type: &str, custom: bool) -> KnownAttribute {
        KnownAttribute {
            data_type: data_type.into(),
            custom,
        }
    }

    #[test]
    fn companies_are_remembered_and_forgotten() {
        let c = Cache::default();
        assert_eq!(c.company("acme"), None);
        c.remember_company("acme".into(), "co1".into());
        assert_eq!(c.company("acme").as_deref(), Some("co1"));
        c.forget_company("acme");
        assert_eq!(c.company("acme"), None);
    }

    #[test]
    fn attributes_by_model() {
        let c = Cache::default();
        assert!(!c.has_model("contact"));
        c.add_attributes("contact", [("email".to_string(), known("string", false))]);
        c.add_attributes(
            "contact",
            [
                ("ltv".to_string(), known("float", true)),
                ("odd".to_string(), known("options", true)),
            ],
        );
        assert!(c.has_model("contact") && !c.has_model("company"));
        assert_eq!(c.attribute("contact", "ltv"), Some(known("float", true)));
        assert_eq!(c.attribute("company", "ltv"), None);
        // Standard attributes and types backflow cannot write are left out.
        assert_eq!(
            c.custom_types("contact"),
            HashMap::from([("ltv".to_string(), DataType::Float)])
        );
        c.forget_model("contact");
        assert!(!c.has_model("contact"));
        assert!(c.custom_types("contact").is_empty());
    }
}
