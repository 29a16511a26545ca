//! The Intercom fields a sync may map (the left side of `fields`), per object, and
//! what each becomes in a request body. One table for both the config validation and
//! the mapping, so they cannot disagree.

use super::Object;

/// How a mapped column becomes part of the Intercom request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// A string field (`name`, `phone`, `plan`, events' `user_id`, ...).
    Text,
    /// `email`: validated and trimmed.
    Email,
    /// `signed_up_at`, `last_seen_at`, `remote_created_at`, events' `created_at`:
    /// Unix seconds.
    Timestamp,
    /// `owner_id`, `size`.
    Integer,
    /// `monthly_spend`.
    Number,
    /// `unsubscribed_from_emails`.
    Bool,
    /// Object `contact` only: `user` or `lead`.
    Role,
    /// Contacts: the `company_id` of the company to attach to (not in the body).
    CompanyId,
    /// Contacts: a list of `company_id`s to attach to (not in the body).
    CompanyIds,
    /// Contacts and companies: a list of tag names (not in the body).
    Tags,
    /// `custom_attributes.<name>`.
    CustomAttribute(String),
    /// Contacts: `subscriptions.<subscription type name>`, a boolean: opted in
    /// (`true`) or out (`false`); null leaves the contact's preference alone.
    Subscription(String),
    /// Events: `event_name` from a column.
    EventName,
    /// Events: `metadata.<key>`.
    MetadataKey(String),
    /// Events: `metadata`, a column holding a JSON object of metadata.
    MetadataObject,
}

/// The contact fields (objects `contact`, `lead`, `user`); `role` only for `contact`.
pub const CONTACT_FIELDS: &[&str] = &[
    "email",
    "external_id",
    "name",
    "phone",
    "avatar",
    "role",
    "signed_up_at",
    "last_seen_at",
    "owner_id",
    "unsubscribed_from_emails",
    "company_id",
    "company_ids",
    "tags",
    "custom_attributes.<name>",
    "subscriptions.<name>",
];

/// The company fields.
pub const COMPANY_FIELDS: &[&str] = &[
    "name",
    "plan",
    "size",
    "website",
    "industry",
    "monthly_spend",
    "remote_created_at",
    "tags",
    "custom_attributes.<name>",
];

/// The custom object fields (`external_id` is the key).
pub const CUSTOM_OBJECT_FIELDS: &[&str] = &[
    "external_id",
    "external_created_at",
    "external_updated_at",
    "custom_attributes.<name>",
];

/// The event fields.
pub const EVENT_FIELDS: &[&str] = &[
    "event_name",
    "created_at",
    "user_id",
    "email",
    "id",
    "metadata.<key>",
    "metadata",
];

/// The fields `object` accepts, for error messages.
pub fn allowed_fields(object: Object) -> Vec<&'static str> {
    match object {
        Object::Contact => CONTACT_FIELDS.to_vec(),
        Object::Lead | Object::User => CONTACT_FIELDS
            .iter()
            .copied()
            .filter(|f| *f != "role")
            .collect(),
        Object::Company => COMPANY_FIELDS.to_vec(),
        Object::Event => EVENT_FIELDS.to_vec(),
        Object::CustomObject => CUSTOM_OBJECT_FIELDS.to_vec(),
    }
}

/// What the Intercom field `field` (a left side of `fields`) is for `object`, or
/// `None` when the object has no such field. Names after `custom_attributes.` and
/// `metadata.` are returned as they are; config validation checks them.
pub fn field_kind(object: Object, field: &str) -> Option<FieldKind> {
    use FieldKind as K;
    match object {
        Object::Contact | Object::Lead | Object::User => {
            if let Some(name) = field.strip_prefix("custom_attributes.") {
                return Some(K::CustomAttribute(name.to_string()));
            }
            if let Some(name) = field.strip_prefix("subscriptions.") {
                return Some(K::Subscription(name.to_string()));
            }
            Some(match field {
                "email" => K::Email,
                "external_id" | "name" | "phone" | "avatar" => K::Text,
                "role" if object == Object::Contact => K::Role,
                "signed_up_at" | "last_seen_at" => K::Timestamp,
                "owner_id" => K::Integer,
                "unsubscribed_from_emails" => K::Bool,
                "company_id" => K::CompanyId,
                "company_ids" => K::CompanyIds,
                "tags" => K::Tags,
                _ => return None,
            })
        }
        Object::Company => {
            if let Some(name) = field.strip_prefix("custom_attributes.") {
                return Some(K::CustomAttribute(name.to_string()));
            }
            Some(match field {
                "name" | "plan" | "website" | "industry" => K::Text,
                "size" => K::Integer,
                "monthly_spend" => K::Number,
                "remote_created_at" => K::Timestamp,
                "tags" => K::Tags,
                _ => return None,
            })
        }
        Object::CustomObject => {
            if let Some(name) = field.strip_prefix("custom_attributes.") {
                return Some(K::CustomAttribute(name.to_string()));
            }
            Some(match field {
                "external_id" => K::Text,
                "external_created_at" | "external_updated_at" => K::Timestamp,
                _ => return None,
            })
        }
        Object::Event => {
            if let Some(key) = field.strip_prefix("metadata.") {
                return Some(K::MetadataKey(key.to_string()));
            }
            Some(match field {
                "event_name" => K::EventName,
                "created_at" => K::Timestamp,
                "user_id" | "id" => K::Text,
                "email" => K::Email,
                "metadata" => K::MetadataObject,
                _ => return None,
            })
        }
    }
}

/// Events: the fields that identify the contact; exactly one is mapped.
pub const EVENT_IDENTITY_FIELDS: [&str; 3] = ["user_id", "email", "id"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_field_has_a_kind() {
        for object in [
            Object::Contact,
            Object::Lead,
            Object::User,
            Object::Company,
            Object::Event,
            Object::CustomObject,
        ] {
            for field in allowed_fields(object) {
                let field = field.replace("<name>", "x").replace("<key>", "x");
                assert!(field_kind(object, &field).is_some(), "{object:?} {field}");
            }
        }
        assert_eq!(field_kind(Object::User, "role"), None);
        assert_eq!(field_kind(Object::Contact, "role"), Some(FieldKind::Role));
        assert_eq!(field_kind(Object::Company, "company_id"), None);
        assert_eq!(field_kind(Object::Event, "custom_attributes.x"), None);
        assert_eq!(
            field_kind(Object::User, "subscriptions.Product news"),
            Some(FieldKind::Subscription("Product news".into()))
        );
        assert_eq!(field_kind(Object::Company, "subscriptions.x"), None);
        assert_eq!(field_kind(Object::CustomObject, "subscriptions.x"), None);
        assert_eq!(field_kind(Object::CustomObject, "name"), None);
    }
}
