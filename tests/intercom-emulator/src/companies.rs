//! Companies (their attachments to contacts are in `membership`).
//!
//! - `POST /companies` upserts on `company_id`; an unknown body field is
//!   `400 bad_request` "bad 'x' parameter" (on `PUT` too, where `company_id`
//!   and `remote_created_at` are not writable);
//! - `monthly_spend` is truncated to an integer (at most 2^31-1), `plan` comes
//!   back as `{type:"plan", id, name}`, `user_count` counts attached contacts;
//! - `POST /companies/list` (and `GET /companies` without a filter) leave out
//!   companies without contacts, sorted by `last_request_at` (desc by default),
//!   10,000 at most; `GET /companies/scroll` allows one open scroll per app,
//!   which expires after 60 s idle (emulated time) and ends with empty `data`;
//! - `DELETE /companies/{id}` detaches its contacts; the `company_id` may then
//!   be used for a new company.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde_json::{json, Map, Value};

use crate::attributes::{apply_values, check_values};
use crate::errors::{ApiError, ApiResult};
use crate::input::{self, ApiVersion, Patch};
use crate::paging;
use crate::render;
use crate::state::{App, Company, Model, Plan, Scroll, Store};
use crate::Options;

const CREATE_FIELDS: &[&str] = &[
    "name",
    "company_id",
    "plan",
    "size",
    "website",
    "industry",
    "custom_attributes",
    "remote_created_at",
    "monthly_spend",
    "update_last_request_at",
];
const UPDATE_FIELDS: &[&str] = &[
    "name",
    "plan",
    "size",
    "website",
    "industry",
    "custom_attributes",
    "monthly_spend",
    "update_last_request_at",
];
/// Companies per scroll page.
pub const SCROLL_PAGE: usize = 50;
/// Idle seconds after which a scroll expires.
pub const SCROLL_TTL: i64 = 60;
/// Page-number company lists never reach past this many companies.
pub const LIST_CEILING: usize = 10_000;

/// The writable fields of a company body.
#[derive(Debug, Default)]
pub struct CompanyInput {
    name: Patch<String>,
    plan: Patch<String>,
    size: Patch<i64>,
    website: Patch<String>,
    industry: Patch<String>,
    monthly_spend: Option<i64>,
    remote_created_at: Patch<i64>,
    custom_attributes: Option<Map<String, Value>>,
    touch: bool,
}

fn parse_input(obj: &Map<String, Value>, allowed: &[&str]) -> ApiResult<CompanyInput> {
    if let Some(bad) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!("bad '{bad}' parameter")));
    }
    let monthly_spend = match obj.get("monthly_spend") {
        None => None,
        Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => {
            let spend = n.as_f64().unwrap_or(0.0).trunc();
            if spend > f64::from(i32::MAX) {
                return Err(ApiError::invalid(format!(
                    "monthly_spend must be at most {}",
                    i32::MAX
                )));
            }
            Some(spend as i64)
        }
        Some(_) => return Err(ApiError::invalid("monthly_spend must be a number")),
    };
    Ok(CompanyInput {
        name: input::string(obj, "name")?,
        plan: input::string(obj, "plan")?,
        size: input::integer(obj, "size")?,
        website: input::string(obj, "website")?,
        industry: input::string(obj, "industry")?,
        monthly_spend,
        remote_created_at: input::integer(obj, "remote_created_at")?,
        custom_attributes: input::object(obj, "custom_attributes")?,
        touch: input::boolean(obj, "update_last_request_at")?
            .flatten()
            .unwrap_or(false),
    })
}

fn set<T>(field: &mut Option<T>, patch: Patch<T>) {
    if let Some(v) = patch {
        *field = v;
    }
}

impl Store {
    fn plan(&mut self, name: Option<String>) -> Option<Plan> {
        let name = name?;
        let next = format!("{}", 269_315 + self.plans.len());
        let id = self.plans.entry(name.clone()).or_insert(next).clone();
        Some(Plan { id, name })
    }

    /// Apply `input` to the company `id` (custom attributes already checked).
    fn apply_company(
        &mut self,
        id: &str,
        input: CompanyInput,
        writes: Vec<(String, Value)>,
        now: i64,
    ) {
        let plan = input.plan.map(|p| self.plan(p));
        let Some(c) = self.companies.get_mut(id) else {
            return;
        };
        set(&mut c.name, input.name);
        set(&mut c.size, input.size);
        set(&mut c.website, input.website);
        set(&mut c.industry, input.industry);
        set(&mut c.remote_created_at, input.remote_created_at);
        if let Some(p) = plan {
            c.plan = p;
        }
        if let Some(m) = input.monthly_spend {
            c.monthly_spend = m;
        }
        if input.touch {
            c.last_request_at = Some(now);
        }
        apply_values(&mut c.custom_attributes, writes);
        c.updated_at = now;
    }

    /// `POST /companies`: create, or update the one with this `company_id`.
    pub fn upsert_company(
        &mut self,
        company_id: String,
        input: CompanyInput,
        opts: &Options,
        now: i64,
    ) -> ApiResult<String> {
        let writes = match input.custom_attributes.clone() {
            Some(m) => check_values(self, Model::Company, m, opts.unknown_attributes)?,
            None => Vec::new(),
        };
        let id = match self.by_company_id.get(&company_id) {
            Some(id) => id.clone(),
            None => {
                let (seq, id) = self.new_id(now);
                let company = Company {
                    id: id.clone(),
                    seq,
                    company_id: company_id.clone(),
                    name: None,
                    plan: None,
                    size: None,
                    website: None,
                    industry: None,
                    monthly_spend: 0,
                    remote_created_at: None,
                    created_at: now,
                    updated_at: now,
                    last_request_at: None,
                    custom_attributes: Map::new(),
                    contacts: Default::default(),
                    tags: Vec::new(),
                };
                self.companies.insert(id.clone(), company);
                self.company_order.insert(seq, id.clone());
                self.by_company_id.insert(company_id, id.clone());
                id
            }
        };
        self.apply_company(&id, input, writes, now);
        Ok(id)
    }

    /// Companies shown by page-number lists and (by default) scroll.
    fn visible_companies(&self, hide_empty: bool) -> Vec<&Company> {
        self.company_order
            .values()
            .filter_map(|id| self.companies.get(id))
            .filter(|c| !hide_empty || !c.contacts.is_empty())
            .collect()
    }

    /// Remove a company; its contacts are detached.
    pub fn delete_company(&mut self, id: &str, now: i64) -> ApiResult<()> {
        let company = self.companies.remove(id).ok_or(ApiError::CompanyNotFound)?;
        self.company_order.remove(&company.seq);
        self.by_company_id.remove(&company.company_id);
        for contact_id in &company.contacts {
            if let Some(c) = self.contacts.get_mut(contact_id) {
                c.companies.retain(|cid| cid != id);
            }
        }
        self.forget_company_tags(&company);
        self.deleted_companies.push((company, now));
        Ok(())
    }
}

/// `POST /companies`
pub async fn create_or_update(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let input = parse_input(&obj, CREATE_FIELDS)?;
    let company_id = match obj.get("company_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(ApiError::ParameterMissing(
                "company_id is a required parameter".into(),
            ))
        }
    };
    let now = app.clock.now();
    let mut store = app.store();
    let id = store.upsert_company(company_id, input, &app.opts, now)?;
    Ok(render::ok(&render::company(&store, &store.companies[&id])))
}

/// `PUT /companies/{id}`
pub async fn update(State(app): State<Arc<App>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let input = parse_input(&obj, UPDATE_FIELDS)?;
    let now = app.clock.now();
    let mut store = app.store();
    if !store.companies.contains_key(&id) {
        return Err(ApiError::CompanyNotFound);
    }
    let writes = match input.custom_attributes.clone() {
        Some(m) => check_values(&store, Model::Company, m, app.opts.unknown_attributes)?,
        None => Vec::new(),
    };
    store.apply_company(&id, input, writes, now);
    Ok(render::ok(&render::company(&store, &store.companies[&id])))
}

/// `GET /companies/{id}`
pub async fn get(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let store = app.store();
    let c = store.companies.get(&id).ok_or(ApiError::CompanyNotFound)?;
    Ok(render::ok(&render::company(&store, c)))
}

/// `DELETE /companies/{id}`
pub async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let now = app.clock.now();
    app.store().delete_company(&id, now)?;
    Ok(render::ok(
        &json!({"id": id, "object": "company", "deleted": true}),
    ))
}

fn page_list(store: &Store, q: &HashMap<String, String>, hide_empty: bool) -> ApiResult {
    let per_page = paging::per_page_param(q.get("per_page"), 15)?;
    let page = paging::page_param(q.get("page"))?;
    let descending = match q.get("order").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "order must be asc or desc, got '{other}'"
            )))
        }
    };
    let mut companies = store.visible_companies(hide_empty);
    if let Some(tag_id) = q.get("tag_id") {
        companies.retain(|c| c.tags.contains(tag_id));
    }
    companies.sort_by_key(|c| (c.last_request_at.unwrap_or(0), c.seq));
    if descending {
        companies.reverse();
    }
    let total = companies.len();
    companies.truncate(LIST_CEILING);
    let start = (page - 1).saturating_mul(per_page);
    let data: Vec<_> = companies
        .iter()
        .skip(start)
        .take(per_page)
        .map(|c| render::company(store, c))
        .collect();
    let total_pages = total.min(LIST_CEILING).div_ceil(per_page);
    let next = if page < total_pages {
        json!({"page": page + 1})
    } else {
        Value::Null
    };
    Ok(render::ok(&json!({
        "type": "list",
        "data": data,
        "pages": {"type": "pages", "next": next, "page": page, "per_page": per_page, "total_pages": total_pages},
        "total_count": total,
    })))
}

/// `GET /companies?company_id=` / `?name=` (one company) or a filtered list.
pub async fn retrieve(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let store = app.store();
    if let Some(company_id) = q.get("company_id") {
        let c = store
            .by_company_id
            .get(company_id)
            .and_then(|id| store.companies.get(id))
            .ok_or(ApiError::CompanyNotFound)?;
        return Ok(render::ok(&render::company(&store, c)));
    }
    if let Some(name) = q.get("name") {
        let c = store
            .company_order
            .values()
            .filter_map(|id| store.companies.get(id))
            .find(|c| c.name.as_deref() == Some(name.as_str()))
            .ok_or(ApiError::CompanyNotFound)?;
        return Ok(render::ok(&render::company(&store, c)));
    }
    if q.contains_key("segment_id") {
        // The emulator has no segments: nothing matches.
        return Ok(render::ok(&json!({
            "type": "list", "data": [], "total_count": 0,
            "pages": {"type": "pages", "next": null, "page": 1, "per_page": 15, "total_pages": 0},
        })));
    }
    page_list(&store, &q, true)
}

/// `POST /companies/list?page=&per_page=&order=asc|desc`
pub async fn list(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let store = app.store();
    page_list(&store, &q, true)
}

/// `GET /companies/scroll[?scroll_param=]`
pub async fn scroll(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let now = app.clock.now();
    let mut store = app.store();
    if store
        .scroll
        .as_ref()
        .is_some_and(|s| now - s.last_used >= SCROLL_TTL)
    {
        store.scroll = None;
    }
    let param = q.get("scroll_param").filter(|p| !p.is_empty());
    match (param, &store.scroll) {
        (None, Some(_)) => return Err(ApiError::ScrollExists),
        (None, None) => {
            let ids = store
                .visible_companies(app.opts.scroll_hides_empty_companies)
                .iter()
                .map(|c| c.id.clone())
                .collect();
            store.scroll = Some(Scroll {
                param: uuid::Uuid::new_v4().to_string(),
                ids,
                position: 0,
                last_used: now,
            });
        }
        (Some(p), Some(s)) if *p == s.param => {}
        (Some(_), _) => return Err(ApiError::ScrollNotFound),
    }
    let Some(mut scroll) = store.scroll.take() else {
        return Err(ApiError::ScrollNotFound);
    };
    let end = (scroll.position + SCROLL_PAGE).min(scroll.ids.len());
    let page_ids = scroll.ids[scroll.position..end].to_vec();
    scroll.position = end;
    scroll.last_used = now;
    let param = scroll.param.clone();
    if !page_ids.is_empty() {
        store.scroll = Some(scroll);
    }
    let data: Vec<_> = page_ids
        .iter()
        .filter_map(|id| store.companies.get(id))
        .map(|c| render::company(&store, c))
        .collect();
    Ok(render::ok(&json!({
        "type": "list", "data": data, "pages": null, "total_count": null, "scroll_param": param,
    })))
}

/// `GET /companies/{id}/contacts`
pub async fn contacts(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let per_page = paging::per_page_param(q.get("per_page"), paging::DEFAULT_PER_PAGE)?;
    let page = q
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let store = app.store();
    let company = store.companies.get(&id).ok_or(ApiError::CompanyNotFound)?;
    let mut members: Vec<_> = company
        .contacts
        .iter()
        .filter_map(|cid| store.contacts.get(cid))
        .collect();
    members.sort_by_key(|c| c.seq);
    let total = members.len();
    let data: Vec<_> = members
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| render::contact(c, version.v2_16))
        .collect();
    Ok(render::ok(&json!({
        "type": "list",
        "data": data,
        "total_count": total,
        "pages": {"type": "pages", "page": page, "per_page": per_page, "total_pages": total.div_ceil(per_page)},
    })))
}
