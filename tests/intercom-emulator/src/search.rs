//! The `POST /contacts/search` query language, pure: parsing with Intercom's
//! limits and per-type operators, and matching against field values.
//!
//! - a query is a filter `{field, operator, value}` or a group
//!   `{operator: AND|OR, value: [...]}`; groups nest at most 2 levels and hold
//!   at most 15 items each;
//! - operators by type: string `= != IN NIN ~ !~ ^ $`; integer (and float)
//!   `= != IN NIN < > <= >=`; boolean `= != IN NIN`; date `= < >` only;
//!   `tag_id` `= !=` only (`=` a tag the contact carries, `!=` one it does not);
//! - `IN`/`NIN` need an array, the others a scalar (`null` matches a missing
//!   value); a value of the wrong type fails the query;
//! - dates match by calendar day (UTC): `=` the whole day, `>` from the next
//!   day's midnight, `<` before that day's midnight.

use serde_json::Value;

/// Most filters or groups in one AND/OR group.
pub const MAX_GROUP_ITEMS: usize = 15;
/// Deepest nesting of groups.
pub const MAX_DEPTH: usize = 2;
const DAY: i64 = 86_400;

/// Type of a searchable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    /// A string compared case-insensitively (`email`, `email_domain`).
    StringCi,
    Integer,
    Float,
    Boolean,
    Date,
    /// `tag_id` and `segment_id`: `=`/`!=` only, against the set of ids a
    /// contact carries (the emulator has no segments: that set is empty).
    Tag,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    In,
    Nin,
    Lt,
    Gt,
    Le,
    Ge,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            "IN" => Op::In,
            "NIN" => Op::Nin,
            "<" => Op::Lt,
            ">" => Op::Gt,
            "<=" => Op::Le,
            ">=" => Op::Ge,
            "~" => Op::Contains,
            "!~" => Op::NotContains,
            "^" => Op::StartsWith,
            "$" => Op::EndsWith,
            _ => return None,
        })
    }

    fn allowed_for(self, ty: FieldType) -> bool {
        use Op::*;
        match ty {
            FieldType::String | FieldType::StringCi => {
                matches!(
                    self,
                    Eq | Ne | In | Nin | Contains | NotContains | StartsWith | EndsWith
                )
            }
            FieldType::Integer | FieldType::Float => {
                matches!(self, Eq | Ne | In | Nin | Lt | Gt | Le | Ge)
            }
            FieldType::Boolean => matches!(self, Eq | Ne | In | Nin),
            FieldType::Date => matches!(self, Eq | Lt | Gt),
            FieldType::Tag => matches!(self, Eq | Ne),
        }
    }
}

/// A field value, or a value to compare with.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A field holding several values (`tag_id`): `=` matches one of them,
    /// `= null` an empty set.
    Set(Vec<String>),
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Filter {
        field: String,
        ty: FieldType,
        op: Op,
        values: Vec<Scalar>,
    },
    And(Vec<Query>),
    Or(Vec<Query>),
}

/// Parse and validate `query`; `field_type` resolves a field name (including
/// `custom_attributes.<name>`) or says it is unknown.
pub fn parse(
    query: &Value,
    field_type: &dyn Fn(&str) -> Option<FieldType>,
) -> Result<Query, String> {
    parse_node(query, field_type, 0)
}

fn parse_node(
    node: &Value,
    field_type: &dyn Fn(&str) -> Option<FieldType>,
    depth: usize,
) -> Result<Query, String> {
    let obj = node
        .as_object()
        .ok_or("Each query and filter must be an object")?;
    let operator = obj
        .get("operator")
        .and_then(Value::as_str)
        .ok_or("operator is missing or not a string")?;
    if obj.contains_key("field") {
        return parse_filter(obj, operator, field_type);
    }
    let group_op = match operator {
        "AND" => true,
        "OR" => false,
        other => {
            return Err(format!(
                "Unsupported group operator '{other}': use AND or OR"
            ))
        }
    };
    if depth >= MAX_DEPTH {
        return Err(format!("Queries can nest at most {MAX_DEPTH} levels"));
    }
    let items = obj
        .get("value")
        .and_then(Value::as_array)
        .ok_or("A group's value must be an array of filters")?;
    if items.is_empty() {
        return Err("A group must hold at least one filter".into());
    }
    if items.len() > MAX_GROUP_ITEMS {
        return Err(format!(
            "A group can hold at most {MAX_GROUP_ITEMS} filters, got {}",
            items.len()
        ));
    }
    let children = items
        .iter()
        .map(|item| parse_node(item, field_type, depth + 1))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if group_op {
        Query::And(children)
    } else {
        Query::Or(children)
    })
}

fn parse_filter(
    obj: &serde_json::Map<String, Value>,
    operator: &str,
    field_type: &dyn Fn(&str) -> Option<FieldType>,
) -> Result<Query, String> {
    let field = obj
        .get("field")
        .and_then(Value::as_str)
        .ok_or("field must be a string")?;
    let ty = field_type(field).ok_or_else(|| format!("'{field}' is not a searchable field"))?;
    let op = Op::parse(operator).ok_or_else(|| format!("Unsupported operator '{operator}'"))?;
    if !op.allowed_for(ty) {
        return Err(format!(
            "Operator '{operator}' is not supported for field '{field}'"
        ));
    }
    let raw = obj.get("value").unwrap_or(&Value::Null);
    let values = match (op, raw) {
        (Op::In | Op::Nin, Value::Array(items)) => items
            .iter()
            .map(|v| scalar(v, ty, field))
            .collect::<Result<Vec<_>, _>>()?,
        (Op::In | Op::Nin, _) => {
            return Err(format!(
                "The value for operator '{operator}' must be an array"
            ))
        }
        (_, Value::Array(_)) => {
            return Err(format!(
                "The value for operator '{operator}' can't be an array"
            ))
        }
        (_, v) => vec![scalar(v, ty, field)?],
    };
    if matches!(op, Op::Lt | Op::Gt | Op::Le | Op::Ge) && values[0] == Scalar::Null {
        return Err(format!("Operator '{operator}' needs a value"));
    }
    Ok(Query::Filter {
        field: field.to_string(),
        ty,
        op,
        values,
    })
}

/// Convert a query value to the field's type; numeric strings are accepted for
/// numbers and dates (Intercom's own example sends `"1306054154"`).
fn scalar(v: &Value, ty: FieldType, field: &str) -> Result<Scalar, String> {
    let wrong = || format!("The value {v} is not valid for field '{field}'");
    Ok(match (ty, v) {
        (_, Value::Null) => Scalar::Null,
        (FieldType::String | FieldType::StringCi | FieldType::Tag, Value::String(s)) => {
            Scalar::Str(s.clone())
        }
        (FieldType::Integer | FieldType::Date, Value::Number(n)) => {
            Scalar::Int(n.as_i64().ok_or_else(wrong)?)
        }
        (FieldType::Integer | FieldType::Date, Value::String(s)) => {
            Scalar::Int(s.trim().parse().map_err(|_| wrong())?)
        }
        (FieldType::Float, Value::Number(n)) => Scalar::Float(n.as_f64().ok_or_else(wrong)?),
        (FieldType::Float, Value::String(s)) => {
            Scalar::Float(s.trim().parse().map_err(|_| wrong())?)
        }
        (FieldType::Boolean, Value::Bool(b)) => Scalar::Bool(*b),
        _ => return Err(wrong()),
    })
}

/// Midnight (UTC) of the day holding `ts`.
pub fn day_start(ts: i64) -> i64 {
    ts - ts.rem_euclid(DAY)
}

/// Does a record match? `get` returns a field's current value.
pub fn matches(q: &Query, get: &dyn Fn(&str) -> Scalar) -> bool {
    match q {
        Query::And(items) => items.iter().all(|i| matches(i, get)),
        Query::Or(items) => items.iter().any(|i| matches(i, get)),
        Query::Filter {
            field,
            ty,
            op,
            values,
        } => {
            let actual = get(field);
            match op {
                Op::In => values.iter().any(|v| equal(&actual, v, *ty)),
                Op::Nin => !values.iter().any(|v| equal(&actual, v, *ty)),
                Op::Eq => equal(&actual, &values[0], *ty),
                Op::Ne => !equal(&actual, &values[0], *ty),
                _ => compare(&actual, *op, &values[0], *ty),
            }
        }
    }
}

fn equal(actual: &Scalar, wanted: &Scalar, ty: FieldType) -> bool {
    match (actual, wanted) {
        (Scalar::Set(a), Scalar::Null) => a.is_empty(),
        (Scalar::Set(a), Scalar::Str(w)) => a.contains(w),
        (Scalar::Null, Scalar::Null) => true,
        (Scalar::Null, _) | (_, Scalar::Null) => false,
        (Scalar::Int(a), Scalar::Int(w)) if ty == FieldType::Date => day_start(*a) == day_start(*w),
        (Scalar::Str(a), Scalar::Str(w)) if ty == FieldType::StringCi => {
            a.to_lowercase() == w.to_lowercase()
        }
        (Scalar::Str(a), Scalar::Str(w)) => a == w,
        (Scalar::Bool(a), Scalar::Bool(w)) => a == w,
        (a, w) => match (number(a), number(w)) {
            (Some(a), Some(w)) => a == w,
            _ => false,
        },
    }
}

fn number(s: &Scalar) -> Option<f64> {
    match s {
        Scalar::Int(i) => Some(*i as f64),
        Scalar::Float(f) => Some(*f),
        _ => None,
    }
}

fn compare(actual: &Scalar, op: Op, wanted: &Scalar, ty: FieldType) -> bool {
    if let (Scalar::Str(a), Scalar::Str(w)) = (actual, wanted) {
        let (a, w) = if ty == FieldType::StringCi {
            (a.to_lowercase(), w.to_lowercase())
        } else {
            (a.clone(), w.clone())
        };
        return match op {
            Op::Contains => a.contains(&w),
            Op::NotContains => !a.contains(&w),
            Op::StartsWith => a.starts_with(&w),
            Op::EndsWith => a.ends_with(&w),
            _ => false,
        };
    }
    if op == Op::NotContains {
        // A missing value does not contain anything.
        return true;
    }
    if ty == FieldType::Date {
        let (Scalar::Int(a), Scalar::Int(w)) = (actual, wanted) else {
            return false;
        };
        let day = day_start(*w);
        return match op {
            Op::Gt => *a >= day + DAY,
            Op::Lt => *a < day,
            _ => false,
        };
    }
    let (Some(a), Some(w)) = (number(actual), number(wanted)) else {
        return false;
    };
    match op {
        Op::Lt => a < w,
        Op::Gt => a > w,
        Op::Le => a <= w,
        Op::Ge => a >= w,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn types(field: &str) -> Option<FieldType> {
        Some(match field {
            "email" => FieldType::StringCi,
            "name" => FieldType::String,
            "created_at" => FieldType::Date,
            "owner_id" => FieldType::Integer,
            "custom_attributes.score" => FieldType::Float,
            "unsubscribed_from_emails" => FieldType::Boolean,
            "tag_id" => FieldType::Tag,
            _ => return None,
        })
    }

    fn p(v: Value) -> Result<Query, String> {
        parse(&v, &types)
    }

    fn filter(field: &str, op: &str, value: Value) -> Value {
        json!({"field": field, "operator": op, "value": value})
    }

    #[test]
    fn operators_depend_on_the_field_type() {
        assert!(p(filter("name", "~", json!("a"))).is_ok());
        assert!(p(filter("name", ">", json!("a"))).is_err());
        assert!(p(filter("owner_id", ">=", json!(1))).is_ok());
        assert!(p(filter("owner_id", "~", json!(1))).is_err());
        assert!(p(filter("unsubscribed_from_emails", "<", json!(true))).is_err());
        for op in ["=", "<", ">"] {
            assert!(p(filter("created_at", op, json!(1))).is_ok(), "{op}");
        }
        for op in ["!=", "<=", ">=", "IN", "NIN"] {
            assert!(p(filter("created_at", op, json!([1]))).is_err(), "{op}");
        }
        assert!(p(filter("tag_id", "IN", json!(["1"]))).is_err());
        assert!(p(filter("nope", "=", json!("x"))).is_err());
        assert!(p(filter("name", "LIKE", json!("x"))).is_err());
    }

    #[test]
    fn tag_id_matches_one_of_the_tags_a_contact_carries() {
        let tagged = |q: Value| {
            let q = p(q).unwrap();
            let get = |_: &str| Scalar::Set(vec!["7".into(), "9".into()]);
            let bare = |_: &str| Scalar::Set(vec![]);
            (matches(&q, &get), matches(&q, &bare))
        };
        assert_eq!(tagged(filter("tag_id", "=", json!("9"))), (true, false));
        assert_eq!(tagged(filter("tag_id", "=", json!("8"))), (false, false));
        assert_eq!(tagged(filter("tag_id", "!=", json!("7"))), (false, true));
        assert_eq!(tagged(filter("tag_id", "=", json!(null))), (false, true));
    }

    #[test]
    fn values_must_have_the_right_shape_and_type() {
        assert!(p(filter("name", "IN", json!("a"))).is_err());
        assert!(p(filter("name", "=", json!(["a"]))).is_err());
        assert!(p(filter("name", "IN", json!(["a", "b"]))).is_ok());
        assert!(p(filter("created_at", ">", json!("foorbar"))).is_err());
        assert!(p(filter("created_at", ">", json!("1306054154"))).is_ok());
        assert!(p(filter("owner_id", "=", json!("x"))).is_err());
        assert!(p(filter("unsubscribed_from_emails", "=", json!("true"))).is_err());
        assert!(p(filter("name", "=", json!(5))).is_err());
        assert!(p(filter("name", "=", json!(null))).is_ok());
    }

    #[test]
    fn nesting_and_group_size_are_limited() {
        let leaf = filter("name", "=", json!("a"));
        let two = json!({"operator": "AND", "value": [
            {"operator": "OR", "value": [leaf.clone(), leaf.clone()]},
            {"operator": "OR", "value": [leaf.clone()]}
        ]});
        assert!(p(two).is_ok());
        let three = json!({"operator": "AND", "value": [
            {"operator": "OR", "value": [{"operator": "AND", "value": [leaf.clone()]}]}
        ]});
        assert!(p(three).unwrap_err().contains("nest"));
        let fifteen: Vec<Value> = (0..15).map(|_| leaf.clone()).collect();
        assert!(p(json!({"operator": "OR", "value": fifteen})).is_ok());
        let sixteen: Vec<Value> = (0..16).map(|_| leaf.clone()).collect();
        assert!(p(json!({"operator": "OR", "value": sixteen}))
            .unwrap_err()
            .contains("15"));
        assert!(p(json!({"operator": "XOR", "value": [leaf]})).is_err());
    }

    #[test]
    fn dates_match_by_calendar_day() {
        // 2020-01-01 09:00 UTC
        let nine_am = 1_577_869_200;
        let midnight = 1_577_836_800;
        let get_at = |ts: i64| move |_: &str| Scalar::Int(ts);
        let eq = p(filter("created_at", "=", json!(midnight))).unwrap();
        assert!(matches(&eq, &get_at(nine_am)));
        assert!(!matches(&eq, &get_at(midnight + DAY)));
        let gt = p(filter("created_at", ">", json!(nine_am))).unwrap();
        assert!(
            !matches(&gt, &get_at(nine_am + 3600)),
            "same day is not greater"
        );
        assert!(matches(&gt, &get_at(midnight + DAY)));
        let lt = p(filter("created_at", "<", json!(nine_am))).unwrap();
        assert!(!matches(&lt, &get_at(midnight)));
        assert!(matches(&lt, &get_at(midnight - 1)));
    }

    #[test]
    fn strings_and_groups_evaluate() {
        let q = p(json!({"operator": "OR", "value": [
            filter("email", "=", json!("A@X.COM")),
            {"operator": "AND", "value": [filter("name", "^", json!("Jo")), filter("name", "$", json!("hn"))]}
        ]}))
        .unwrap();
        let rec = |email: &'static str, name: &'static str| {
            move |f: &str| match f {
                "email" => Scalar::Str(email.into()),
                "name" => Scalar::Str(name.into()),
                _ => Scalar::Null,
            }
        };
        assert!(matches(&q, &rec("a@x.com", "Zed")));
        assert!(matches(&q, &rec("b@x.com", "John")));
        assert!(!matches(&q, &rec("b@x.com", "Jane")));
        let missing = p(filter("name", "=", json!(null))).unwrap();
        assert!(matches(&missing, &|_: &str| Scalar::Null));
        let nin = p(filter("name", "NIN", json!(["a"]))).unwrap();
        assert!(matches(&nin, &|_: &str| Scalar::Str("b".into())));
        let num = p(filter("custom_attributes.score", ">", json!(2))).unwrap();
        assert!(matches(&num, &|_: &str| Scalar::Float(2.5)));
        assert!(!matches(&num, &|_: &str| Scalar::Null));
    }
}
