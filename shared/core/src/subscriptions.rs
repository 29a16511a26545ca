//! Contacts' subscription preferences (`subscriptions.<type name>` columns).
//!
//! Intercom has two kinds of subscription type, and a contact's explicit
//! preference is the type *attached* to it (`POST /contacts/{id}/subscriptions`
//! `{id, consent_type}`) or not (`DELETE /contacts/{id}/subscriptions/{type}`):
//! attaching an `opt_out` type opts the contact out, attaching an `opt_in` type
//! opts it in. A sync says what it wants per type — in (`true`) or out
//! (`false`) — and this module turns that into the attach or detach that gets
//! there. Types are named in the config and resolved to Intercom's ids once per
//! run (by `extract`, from `GET /subscription_types`); an unknown name fails the
//! run before any write.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::SyncSpec;
use crate::mapping::SUBSCRIPTIONS_KEY;

/// An Intercom subscription type a sync opts contacts in or out of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionType {
    /// The name as the sync writes it (`subscriptions.<name>`).
    pub name: String,
    /// Intercom's id of the type.
    pub id: String,
    /// `opt_out` (contacts receive until they opt out) or `opt_in` (only after
    /// they opt in): what attaching the type to a contact means.
    pub consent_type: String,
}

/// One call that sets a contact's preference for one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// Attach the type (`POST /contacts/{id}/subscriptions`).
    Attach(&'a SubscriptionType),
    /// Detach it: back to the type's default (`DELETE …/subscriptions/{id}`).
    Detach(&'a SubscriptionType),
}

/// The subscription type names `spec` maps, in `fields` order.
pub fn mapped_names(spec: &SyncSpec) -> Vec<&str> {
    spec.fields
        .keys()
        .filter_map(|f| f.strip_prefix("subscriptions."))
        .collect()
}

/// The types `names` refer to among Intercom's (`available`): the same name,
/// else the same name ignoring case. `Err` names the first unknown name and
/// lists the types Intercom has.
pub fn resolve(
    names: &[&str],
    available: &[SubscriptionType],
) -> Result<Vec<SubscriptionType>, String> {
    names
        .iter()
        .map(|name| {
            let found = available
                .iter()
                .find(|t| t.name == *name)
                .or_else(|| available.iter().find(|t| t.name.eq_ignore_ascii_case(name)));
            match found {
                Some(t) => Ok(SubscriptionType {
                    name: name.to_string(),
                    ..t.clone()
                }),
                None => Err(format!(
                    "`fields.subscriptions.{name}`: Intercom has no subscription type named \
                     `{name}` (it has: {})",
                    if available.is_empty() {
                        "none".to_string()
                    } else {
                        available
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )),
            }
        })
        .collect()
}

/// A request body (and the preferences object inside one).
type Body = Map<String, Value>;

/// The contact body without its preferences (borrowed when it has none), and
/// the preferences (name → opted in), when the row has any.
pub fn split(body: &Map<String, Value>) -> (Cow<'_, Body>, Option<&Body>) {
    let Some(preferences) = body.get(SUBSCRIPTIONS_KEY) else {
        return (Cow::Borrowed(body), None);
    };
    let mut contact = body.clone();
    contact.remove(SUBSCRIPTIONS_KEY);
    let preferences = preferences.as_object().filter(|m| !m.is_empty());
    (Cow::Owned(contact), preferences)
}

/// The call that gets the contact to `opted_in` for `kind`: an `opt_in` type is
/// attached to opt in and detached to opt out; an `opt_out` type the reverse.
pub fn change(kind: &SubscriptionType, opted_in: bool) -> Change<'_> {
    if (kind.consent_type == "opt_in") == opted_in {
        Change::Attach(kind)
    } else {
        Change::Detach(kind)
    }
}

/// The calls for a row's `preferences` (name → bool), in name order; a name
/// the run did not resolve is `Err(name)` (it cannot happen for a batch
/// `extract` wrote: it resolves every name the sync maps).
pub fn changes<'a>(
    preferences: &'a Map<String, Value>,
    types: &'a [SubscriptionType],
) -> Vec<Result<(Change<'a>, bool), &'a str>> {
    preferences
        .iter()
        .filter_map(|(name, v)| v.as_bool().map(|b| (name, b)))
        .map(|(name, opted_in)| {
            types
                .iter()
                .find(|t| &t.name == name)
                .map(|t| (change(t, opted_in), opted_in))
                .ok_or(name.as_str())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(name: &str, id: &str, consent: &str) -> SubscriptionType {
        SubscriptionType {
            name: name.into(),
            id: id.into(),
            consent_type: consent.into(),
        }
    }

    #[test]
    fn names_resolve_exactly_then_ignoring_case_and_unknown_ones_are_named() {
        let there = [
            kind("Newsletter", "1", "opt_out"),
            kind("Beta", "2", "opt_in"),
        ];
        let got = resolve(&["newsletter", "Beta"], &there).unwrap();
        assert_eq!(got[0], kind("newsletter", "1", "opt_out"));
        assert_eq!(got[1], kind("Beta", "2", "opt_in"));
        let err = resolve(&["Beta", "Promos"], &there).unwrap_err();
        assert!(err.contains("`fields.subscriptions.Promos`"), "{err}");
        assert!(err.contains("it has: Newsletter, Beta"), "{err}");
        assert!(resolve(&["X"], &[]).unwrap_err().contains("it has: none"));
    }

    #[test]
    fn each_preference_is_the_attach_or_detach_that_gets_there() {
        let out = kind("News", "1", "opt_out");
        let inn = kind("Beta", "2", "opt_in");
        assert_eq!(
            change(&out, false),
            Change::Attach(&out),
            "opt out of an opt_out type"
        );
        assert_eq!(
            change(&out, true),
            Change::Detach(&out),
            "back in: its default"
        );
        assert_eq!(
            change(&inn, true),
            Change::Attach(&inn),
            "opt in to an opt_in type"
        );
        assert_eq!(change(&inn, false), Change::Detach(&inn));
        let types = [out.clone(), inn.clone()];
        let prefs = json!({"News": false, "Beta": true, "Gone": true});
        let prefs = prefs.as_object().unwrap();
        assert_eq!(
            changes(prefs, &types),
            vec![
                Ok((Change::Attach(&inn), true)),
                Err("Gone"),
                Ok((Change::Attach(&out), false)),
            ]
        );
    }

    #[test]
    fn preferences_leave_the_contact_body() {
        let body = json!({"email": "a@b.c", "subscriptions": {"News": true}});
        let (contact, prefs) = split(body.as_object().unwrap());
        assert_eq!(
            Value::Object(contact.into_owned()),
            json!({"email": "a@b.c"})
        );
        assert_eq!(Value::Object(prefs.unwrap().clone()), json!({"News": true}));
        let plain = json!({"email": "a@b.c"});
        let (contact, none) = split(plain.as_object().unwrap());
        assert!(
            matches!(contact, Cow::Borrowed(_)),
            "nothing to take out: no copy"
        );
        assert_eq!(none, None);
    }
}
