//! Company membership: a contact belongs to any number of companies (at most
//! 1,000), in the order they were attached.
//!
//! - `POST /contacts/{id}/companies` `{id: <Intercom company id>}` attaches
//!   (attaching twice changes nothing): `400 parameter_not_found` "company not
//!   specified" without an id, `404 company_not_found`, `404 not_found` "User
//!   Not Found", `400 contact_company_limit_exceeded` past 1,000;
//! - `DELETE /contacts/{id}/companies/{company_id}` detaches that one company;
//!   one that is not attached is `404 company_not_found` (chosen);
//! - `GET /contacts/{id}/companies` lists them, page by page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::{json, Value};

use crate::errors::{ApiError, ApiResult};
use crate::input::{self, ApiVersion};
use crate::paging;
use crate::render;
use crate::state::App;

const COMPANY_LIMIT_PER_CONTACT: usize = 1000;

/// `POST /contacts/{id}/companies` `{id: <Intercom company id>}`
pub async fn attach(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let company_id = match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(ApiError::ParameterNotFound("company not specified".into())),
    };
    let mut store = app.store();
    store.live_contact(&contact_id, version)?;
    if !store.companies.contains_key(&company_id) {
        return Err(ApiError::CompanyNotFound);
    }
    let contact = store
        .contacts
        .get_mut(&contact_id)
        .ok_or(ApiError::UserNotFound)?;
    if !contact.companies.contains(&company_id) {
        if contact.companies.len() >= COMPANY_LIMIT_PER_CONTACT {
            return Err(ApiError::ContactCompanyLimit);
        }
        contact.companies.push(company_id.clone());
    }
    let company = store
        .companies
        .get_mut(&company_id)
        .ok_or(ApiError::CompanyNotFound)?;
    company.contacts.insert(contact_id);
    Ok(render::ok(&render::company(
        &store,
        &store.companies[&company_id],
    )))
}

/// `DELETE /contacts/{id}/companies/{company_id}`: a company that is not
/// attached answers `404 company_not_found`.
pub async fn detach(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path((contact_id, company_id)): Path<(String, String)>,
) -> ApiResult {
    let mut store = app.store();
    let Some(contact) = store.contacts.get_mut(&contact_id) else {
        return Err(store.missing_contact(&contact_id, version));
    };
    let before = contact.companies.len();
    contact.companies.retain(|c| c != &company_id);
    let was_attached = contact.companies.len() != before;
    let company = store
        .companies
        .get_mut(&company_id)
        .ok_or(ApiError::CompanyNotFound)?;
    if !was_attached {
        return Err(ApiError::CompanyNotFound);
    }
    company.contacts.remove(&contact_id);
    Ok(render::ok(&render::company(
        &store,
        &store.companies[&company_id],
    )))
}

/// `GET /contacts/{id}/companies[?page=&per_page=]`: attachment order,
/// `per_page` ≤ 150 (default 50); `pages.next` links the next page, else null.
pub async fn of_contact(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let per_page = paging::per_page_param(q.get("per_page"), paging::DEFAULT_PER_PAGE)?;
    let page = q
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let store = app.store();
    let contact = store.live_contact(&id, version)?;
    let all = render::contact_companies(&store, contact);
    let total = all.len();
    let total_pages = total.div_ceil(per_page);
    let data: Vec<_> = all
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let path = format!("/contacts/{id}/companies");
    let next = (page < total_pages).then(|| paging::page_url(&headers, &path, page + 1, per_page));
    // The `contact_attached_companies` schema (and python-intercom) read
    // `companies`; the operation's own example uses `data`: both are sent.
    Ok(render::ok(&json!({
        "type": "list",
        "companies": data,
        "data": data,
        "pages": {"type": "pages", "next": next, "page": page, "per_page": per_page, "total_pages": total_pages},
        "total_count": total,
    })))
}
