//! A result page parsed straight from its body's bytes: `rows[].f[].v` as text
//! borrowed from the body (when it has no escapes), records and arrays as JSON.
//!
//! A page of 10,000 rows is a couple of MB of JSON; parsed into a
//! `serde_json::Value` tree it took about three times that, one allocation per
//! cell, on top of the body and the decoded rows.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use backflow_core::value::Value;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value as Json;

use super::cells::{self, Field};

/// The rows of a jobs.query or jobs.getQueryResults answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Page<'a> {
    #[serde(default, borrow)]
    pub rows: Vec<Row<'a>>,
    #[serde(default)]
    pub page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Row<'a> {
    #[serde(default, borrow)]
    pub f: Vec<Cell<'a>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Cell<'a> {
    #[serde(default, borrow)]
    v: Raw<'a>,
}

/// A cell as sent: BigQuery sends scalars as text, records (`{"f": …}`) and
/// arrays (`[{"v": …}]`) as JSON.
#[derive(Debug, Default)]
enum Raw<'a> {
    #[default]
    Null,
    Text(Cow<'a, str>),
    Json(Json),
}

/// The page in `body`; a body that is not one is a message.
pub(super) fn parse(body: &[u8]) -> Result<Page<'_>, String> {
    serde_json::from_slice(body).map_err(|e| format!("a result page is not BigQuery's JSON: {e}"))
}

impl Cell<'_> {
    /// The cell as `field`'s type says (see `cells`).
    pub(super) fn value(&self, field: &Field) -> Result<Value, String> {
        match &self.v {
            Raw::Null => Ok(Value::Null),
            Raw::Text(text) => cells::text_cell(text, field),
            Raw::Json(json) => cells::cell(json, field),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor(PhantomData))
    }
}

struct RawVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for RawVisitor<'a> {
    type Value = Raw<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a BigQuery cell")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Raw<'a>, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Raw<'a>, E> {
        Ok(Raw::Null)
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Raw<'a>, E> {
        Ok(Raw::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Raw<'a>, E> {
        Ok(Raw::Text(Cow::Owned(text.to_string())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Raw<'a>, E> {
        Ok(Raw::Text(Cow::Owned(text)))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Raw<'a>, E> {
        Ok(Raw::Json(Json::Bool(b)))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Raw<'a>, E> {
        Ok(Raw::Json(Json::from(n)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Raw<'a>, E> {
        Ok(Raw::Json(Json::from(n)))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Raw<'a>, E> {
        Ok(Raw::Json(Json::from(n)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Raw<'a>, A::Error> {
        Json::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Raw::Json)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Raw<'a>, A::Error> {
        Json::deserialize(de::value::MapAccessDeserializer::new(map)).map(Raw::Json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(type_name: &str, mode: Option<&str>) -> Field {
        serde_json::from_value(serde_json::json!({"name": "c", "type": type_name, "mode": mode}))
            .unwrap()
    }

    #[test]
    fn cells_are_read_as_the_json_path_reads_them() {
        let body = br#"{"rows": [{"f": [{"v": "42"}, {"v": null}, {"v": "a\"b"},
            {"v": [{"v": "1"}, {"v": "2"}]}, {"v": {"f": [{"v": "x"}]}}, {"v": 7}]}],
            "pageToken": "next", "totalRows": "1"}"#;
        let page = parse(body).unwrap();
        assert_eq!(page.page_token.as_deref(), Some("next"));
        let cells = &page.rows[0].f;
        let mut record = field("RECORD", None);
        record.fields = vec![field("STRING", None)];
        let fields = [
            field("INTEGER", None),
            field("STRING", None),
            field("STRING", None),
            field("INTEGER", Some("REPEATED")),
            record,
            field("INTEGER", None),
        ];
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        for (i, (cell, field)) in cells.iter().zip(&fields).enumerate() {
            let expected = cells::cell(&json["rows"][0]["f"][i]["v"], field);
            assert_eq!(cell.value(field), expected, "cell {i}");
        }
        assert!(matches!(cells[0].v, Raw::Text(Cow::Borrowed("42"))));
        assert_eq!(cells[2].value(&fields[2]), Ok(Value::Text("a\"b".into())));
        assert!(parse(b"<html>").is_err());
    }
}
