//! Data attribute requests: list a model's attributes, create one.

use reqwest::Method;
use serde_json::json;

use backflow_core::value::DataType;

use super::{encode, Request};

/// `GET /data_attributes?model=contact|company`
pub fn list_data_attributes(model: &str) -> Request {
    Request::new(
        Method::GET,
        format!("/data_attributes?model={}", encode(model)),
        None,
    )
}

/// `POST /data_attributes` `{name, model, data_type}`
pub fn create_data_attribute(name: &str, model: &str, data_type: DataType) -> Request {
    Request::new(
        Method::POST,
        "/data_attributes".into(),
        Some(json!({"name": name, "model": model, "data_type": data_type_name(data_type)})),
    )
}

/// Intercom's name for a data type (`POST /data_attributes` and the list's `data_type`).
pub fn data_type_name(t: DataType) -> &'static str {
    match t {
        DataType::String => "string",
        DataType::Integer => "integer",
        DataType::Float => "float",
        DataType::Boolean => "boolean",
        DataType::Date => "date",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_create() {
        let r = list_data_attributes("company");
        assert_eq!(
            (r.method, r.path.as_str(), r.body),
            (Method::GET, "/data_attributes?model=company", None)
        );
        let r = create_data_attribute("ltv", "contact", DataType::Float);
        assert_eq!(
            (r.method, r.path.as_str()),
            (Method::POST, "/data_attributes")
        );
        assert_eq!(
            r.body,
            Some(json!({"name": "ltv", "model": "contact", "data_type": "float"}))
        );
        assert_eq!(data_type_name(DataType::Date), "date");
    }
}
