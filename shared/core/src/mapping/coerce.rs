//! One cell as the JSON of the Intercom field it is mapped to: custom
//! attributes (settling their type), standard fields, roles, event metadata.

use serde_json::{Map, Value as Json};

use super::Attribute;
use crate::config::fields::FieldKind;
use crate::value::{
    check_email, number_json, to_bool, to_float, to_int, to_json, to_text, to_unix_seconds,
    CoerceError, Value, MAX_ATTRIBUTE_CHARS,
};

/// A custom attribute's value in its data type, settling the type from this value
/// if the column's kind did not.
pub(super) fn attribute_json(
    attribute: &mut Attribute,
    value: &Value,
) -> Result<Json, CoerceError> {
    if let Value::List(_) = value {
        // Intercom's data attributes are scalars: `POST /data_attributes` has no
        // list type, and a list value is refused.
        return Err(CoerceError(format!(
            "{} cannot be a custom attribute: Intercom's custom attributes hold no \
             lists (join it into text in the model's SQL)",
            value.quoted()
        )));
    }
    let data_type = attribute.settle(value);
    let json = to_json(value, data_type)?;
    if let Json::String(s) = &json {
        let chars = s.chars().count();
        if chars > MAX_ATTRIBUTE_CHARS {
            return Err(CoerceError(format!(
                "text is {chars} characters; Intercom keeps at most {MAX_ATTRIBUTE_CHARS}"
            )));
        }
    }
    Ok(json)
}

/// Object `contact`: the mapped role, `user` or `lead` (any case).
pub(super) fn parse_role(value: &Value) -> Result<&'static str, CoerceError> {
    match to_text(value)?.trim().to_ascii_lowercase().as_str() {
        "user" => Ok("user"),
        "lead" => Ok("lead"),
        _ => Err(CoerceError(format!(
            "{} is not a contact role (user or lead)",
            value.quoted()
        ))),
    }
}

/// A standard (non-custom) field's JSON.
pub(super) fn standard_json(kind: &FieldKind, value: &Value) -> Result<Json, CoerceError> {
    Ok(match kind {
        FieldKind::Email => Json::from(check_email(&to_text(value)?)?),
        FieldKind::Timestamp => Json::from(to_unix_seconds(value)?),
        FieldKind::Integer => Json::from(to_int(value)?),
        FieldKind::Number => number_json(to_float(value)?),
        FieldKind::Bool => Json::from(to_bool(value)?),
        FieldKind::EventName => {
            let name = to_text(value)?;
            if name.trim().is_empty() {
                return Err(CoerceError("the event name is empty".into()));
            }
            Json::from(name)
        }
        _ => Json::from(to_text(value)?),
    })
}

/// A `metadata.<key>` value: keys ending in `_date` are Intercom dates (Unix
/// seconds); otherwise numbers stay numbers, text stays text, timestamps become
/// Unix seconds.
pub(super) fn metadata_value(key: &str, value: &Value) -> Result<Json, CoerceError> {
    if key.ends_with("_date") {
        return Ok(Json::from(to_unix_seconds(value)?));
    }
    Ok(match value {
        Value::Bool(b) => Json::from(*b),
        Value::Int(n) => Json::from(*n),
        Value::Float(_) => number_json(to_float(value)?),
        Value::Timestamp(t) => Json::from(*t),
        Value::Text(s) => Json::from(s.clone()),
        Value::Null => Json::Null,
        Value::List(_) => {
            return Err(CoerceError(format!(
                "{} cannot be event metadata: Intercom's metadata values hold no lists",
                value.quoted()
            )))
        }
    })
}

/// The `metadata` column: text holding a JSON object.
pub(super) fn metadata_json(value: &Value) -> Result<Map<String, Json>, CoerceError> {
    let not_object = || CoerceError(format!("{} is not a JSON object", value.quoted()));
    match value {
        Value::Text(s) => match serde_json::from_str::<Json>(s) {
            Ok(Json::Object(map)) => Ok(map),
            _ => Err(not_object()),
        },
        _ => Err(not_object()),
    }
}
