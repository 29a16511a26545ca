//! Custom object types as a workspace admin defines them in Intercom's
//! settings (the API cannot create one): declared at start with
//! `--custom-object-type Order:amount=float,status=string,placed_at=date`.
//! Pure: parsing and the attribute types.

/// The type of a custom object attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Integer,
    Float,
    Boolean,
    /// Unix seconds, as a JSON integer (like contact `date` attributes).
    Date,
}

impl AttrType {
    /// The name [`crate::attributes::check_value`] takes.
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Integer => "integer",
            AttrType::Float => "float",
            AttrType::Boolean => "boolean",
            AttrType::Date => "date",
        }
    }

    fn parse(s: &str) -> Option<AttrType> {
        Some(match s {
            "string" => AttrType::String,
            "integer" => AttrType::Integer,
            "float" => AttrType::Float,
            "boolean" => AttrType::Boolean,
            "date" => AttrType::Date,
            _ => return None,
        })
    }
}

/// A declared custom object type: its identifier and its custom attributes,
/// in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomObjectTypeSpec {
    pub name: String,
    pub attributes: Vec<(String, AttrType)>,
}

impl CustomObjectTypeSpec {
    /// The type of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<AttrType> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }
}

/// The standard attributes every instance has; no custom attribute may take their names.
const RESERVED: &[&str] = &[
    "id",
    "type",
    "external_id",
    "external_created_at",
    "external_updated_at",
    "created_at",
    "updated_at",
    "custom_attributes",
];

/// Letters, digits and `_`, not starting with a digit.
fn identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parse `NAME` or `NAME:attr=type,attr=type` (types `string`, `integer`,
/// `float`, `boolean`, `date`).
pub fn parse_spec(value: &str) -> Result<CustomObjectTypeSpec, String> {
    let (name, attrs) = value.split_once(':').unwrap_or((value, ""));
    let name = name.trim();
    if !identifier(name) {
        return Err(format!(
            "custom object type name '{name}' must be letters, digits and _ (NAME:attr=type,…)"
        ));
    }
    let mut attributes: Vec<(String, AttrType)> = Vec::new();
    for part in attrs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((attr, ty)) = part.split_once('=') else {
            return Err(format!("'{part}' should be attr=type"));
        };
        let (attr, ty) = (attr.trim(), ty.trim());
        if !identifier(attr) || RESERVED.contains(&attr) {
            return Err(format!(
                "'{attr}' is not a valid custom attribute name for {name}"
            ));
        }
        let ty = AttrType::parse(ty).ok_or_else(|| {
            format!("'{ty}' is not a type: use string, integer, float, boolean or date")
        })?;
        if attributes.iter().any(|(a, _)| a == attr) {
            return Err(format!("attribute '{attr}' of {name} is declared twice"));
        }
        attributes.push((attr.to_string(), ty));
    }
    Ok(CustomObjectTypeSpec {
        name: name.to_string(),
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations() {
        let order = parse_spec("Order:amount=float,status=string, placed_at = date").unwrap();
        assert_eq!(order.name, "Order");
        assert_eq!(
            order.attributes,
            vec![
                ("amount".to_string(), AttrType::Float),
                ("status".to_string(), AttrType::String),
                ("placed_at".to_string(), AttrType::Date),
            ]
        );
        assert_eq!(order.attribute("status"), Some(AttrType::String));
        assert_eq!(order.attribute("nope"), None);
        assert!(parse_spec("Device").unwrap().attributes.is_empty());
        assert!(parse_spec("Device:").unwrap().attributes.is_empty());
        for bad in [
            "",
            "9Lives",
            "Ord er:a=string",
            "Order:amount",
            "Order:amount=money",
            "Order:a=string,a=integer",
            "Order:external_id=string",
            "Order:a-b=string",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }
}
