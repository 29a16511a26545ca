//! Company membership requests: attaching a contact to a company, detaching
//! it, and listing its companies.

use reqwest::Method;
use serde_json::{json, Value};

use super::{encode, Request};

/// `POST /contacts/{contact_id}/companies` `{"id": <Intercom company id>}`.
pub fn attach_company(contact_id: &str, company_intercom_id: &str) -> Request {
    Request::new(
        Method::POST,
        format!("/contacts/{}/companies", encode(contact_id)),
        Some(json!({"id": company_intercom_id})),
    )
}

/// `DELETE /contacts/{contact_id}/companies/{id}` (Intercom ids).
pub fn detach_company(contact_id: &str, company_intercom_id: &str) -> Request {
    Request::new(
        Method::DELETE,
        format!(
            "/contacts/{}/companies/{}",
            encode(contact_id),
            encode(company_intercom_id)
        ),
        None,
    )
}

/// The most companies one page of `GET /contacts/{id}/companies` holds.
pub const COMPANIES_PER_PAGE: usize = 150;

/// `GET /contacts/{id}/companies?per_page=150&page=N`.
pub fn contact_companies(contact_id: &str, page: usize) -> Request {
    Request::new(
        Method::GET,
        format!(
            "/contacts/{}/companies?per_page={COMPANIES_PER_PAGE}&page={page}",
            encode(contact_id)
        ),
        None,
    )
}

/// `(Intercom id, company_id)` of each company in a `GET
/// /contacts/{id}/companies` answer (`data`, or `companies` as the schema
/// names it), and whether another page follows.
pub fn companies_of(body: &Value) -> (Vec<(String, String)>, bool) {
    let items = body
        .get("data")
        .or_else(|| body.get("companies"))
        .and_then(Value::as_array);
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let list = items
        .map(|items| {
            items
                .iter()
                .filter_map(|c| Some((text(c.get("id"))?, text(c.get("company_id"))?)))
                .collect()
        })
        .unwrap_or_default();
    let more = body
        .get("pages")
        .and_then(|p| p.get("next"))
        .is_some_and(|n| !n.is_null());
    (list, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_is_a_post_of_the_company_id() {
        let a = attach_company("c 1", "co9");
        assert_eq!(
            (a.method, a.path.as_str()),
            (Method::POST, "/contacts/c%201/companies")
        );
        assert_eq!(a.body, Some(json!({"id": "co9"})));
        let d = detach_company("c1", "co9");
        assert_eq!(
            (d.method, d.path.as_str()),
            (Method::DELETE, "/contacts/c1/companies/co9")
        );
        assert_eq!(
            contact_companies("c1", 2).path,
            "/contacts/c1/companies?per_page=150&page=2"
        );
    }

    #[test]
    fn a_contacts_companies_from_either_spelling() {
        let body = json!({"type": "list", "companies": [{"id": "i1", "company_id": "acme"}, {"id": "i2", "company_id": 7}],
            "pages": {"next": "http://x/contacts/c1/companies?page=2"}});
        assert_eq!(
            companies_of(&body),
            (
                vec![("i1".into(), "acme".into()), ("i2".into(), "7".into())],
                true
            )
        );
        let last = json!({"type": "list", "data": [], "pages": {"next": null}});
        assert_eq!(companies_of(&last), (vec![], false));
    }
}
