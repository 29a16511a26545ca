//! Company membership requests: attaching a contact to a company.

use reqwest::Method;
use serde_json::json;

use super::{encode, Request};

/// `POST /contacts/{contact_id}/companies` `{"id": <Intercom company id>}`.
pub fn attach_company(contact_id: &str, company_intercom_id: &str) -> Request {
    Request::new(
        Method::POST,
        format!("/contacts/{}/companies", encode(contact_id)),
        Some(json!({"id": company_intercom_id})),
    )
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
    }
}
