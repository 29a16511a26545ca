//! Response shapes of contacts and companies, field for field as in the 2.14
//! OpenAPI examples (`owner_id` becomes a string under 2.16). Views borrow from
//! the store and are serialized while the lock is held, so nothing is cloned.
//!
//! A contact's `tags`, `companies` and `opted_in/out_subscription_types` are
//! list stubs of `{type, id, url}` references, at most 10 each (`has_more`
//! and `total_count` tell the rest); a company's `tags` is a `tag.list` of
//! `{type, id, name}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::state::{Company, Contact, Store, WORKSPACE_ID};
use crate::subscriptions::Consent;

/// Serialize now (typically under the store lock) into a JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut r = (status, bytes).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serialize with `200 OK`.
pub fn ok<T: Serialize>(value: &T) -> Response {
    json(StatusCode::OK, value)
}

type Null = Option<()>;

#[derive(Serialize)]
#[serde(untagged)]
enum OwnerId {
    Int(i64),
    Str(String),
}

#[derive(Serialize)]
struct Avatar<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    image_url: &'a str,
}

#[derive(Serialize)]
struct EmptyList {
    #[serde(rename = "type")]
    kind: &'static str,
    data: [(); 0],
}

/// `prefix + id + suffix`, written straight into the output (no allocation).
struct UrlPath<'a>(&'static str, &'a str, &'static str);

impl Serialize for UrlPath<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}{}{}", self.0, self.1, self.2))
    }
}

#[derive(Serialize)]
struct Stub<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: Vec<T>,
    url: UrlPath<'a>,
    total_count: usize,
    has_more: bool,
}

fn empty_stub<'a>(url: UrlPath<'a>) -> Stub<'a, ()> {
    Stub {
        kind: "list",
        data: vec![],
        url,
        total_count: 0,
        has_more: false,
    }
}

/// A reference in a list stub: `{type, id, url}` (the spec's `addressable_list`).
#[derive(Serialize)]
struct Ref<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    url: UrlPath<'a>,
}

/// Most references a contact's list stub shows.
const STUB_ITEMS: usize = 10;

/// A list stub of `refs` (all of them; at most [`STUB_ITEMS`] are shown).
fn stub<'a, I>(refs: I, url: UrlPath<'a>) -> Stub<'a, Ref<'a>>
where
    I: ExactSizeIterator<Item = Ref<'a>>,
{
    let total_count = refs.len();
    let data: Vec<Ref<'a>> = refs.take(STUB_ITEMS).collect();
    Stub {
        kind: "list",
        has_more: total_count > data.len(),
        total_count,
        data,
        url,
    }
}

fn subscription_stub<'a>(c: &'a Contact, consent: Consent) -> Stub<'a, Ref<'a>> {
    let refs: Vec<Ref<'a>> = c
        .subscriptions
        .iter()
        .filter(|s| s.consent == consent)
        .map(|s| Ref {
            kind: "subscription",
            id: &s.id,
            url: UrlPath("/subscription_types/", &s.id, ""),
        })
        .collect();
    stub(
        refs.into_iter(),
        UrlPath("/contacts/", &c.id, "/subscriptions"),
    )
}

#[derive(Serialize)]
struct Location {
    #[serde(rename = "type")]
    kind: &'static str,
    country: Null,
    region: Null,
    city: Null,
    country_code: Null,
    continent_code: Null,
}

/// A contact as Intercom returns it.
#[derive(Serialize)]
pub struct ContactView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    workspace_id: &'static str,
    external_id: Option<&'a str>,
    role: &'static str,
    email: Option<&'a str>,
    email_domain: Option<String>,
    phone: Option<&'a str>,
    name: Option<&'a str>,
    avatar: Option<Avatar<'a>>,
    owner_id: Option<OwnerId>,
    social_profiles: EmptyList,
    has_hard_bounced: bool,
    marked_email_as_spam: bool,
    unsubscribed_from_emails: bool,
    created_at: i64,
    updated_at: i64,
    signed_up_at: Option<i64>,
    last_seen_at: Option<i64>,
    last_replied_at: Null,
    last_contacted_at: Null,
    last_email_opened_at: Null,
    last_email_clicked_at: Null,
    language_override: Null,
    browser: Null,
    browser_version: Null,
    browser_language: Null,
    os: Null,
    location: Location,
    android_app_name: Null,
    android_app_version: Null,
    android_device: Null,
    android_os_version: Null,
    android_sdk_version: Null,
    android_last_seen_at: Null,
    ios_app_name: Null,
    ios_app_version: Null,
    ios_device: Null,
    ios_os_version: Null,
    ios_sdk_version: Null,
    ios_last_seen_at: Null,
    custom_attributes: &'a Map<String, Value>,
    tags: Stub<'a, Ref<'a>>,
    notes: Stub<'a, ()>,
    companies: Stub<'a, Ref<'a>>,
    opted_out_subscription_types: Stub<'a, Ref<'a>>,
    opted_in_subscription_types: Stub<'a, Ref<'a>>,
    utm_campaign: Null,
    utm_content: Null,
    utm_medium: Null,
    utm_source: Null,
    utm_term: Null,
    referrer: Null,
    enabled_push_messaging: Null,
}

/// The domain part of an email, lower-cased.
pub fn email_domain(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_lowercase())
        .filter(|d| !d.is_empty())
}

/// View of `c`; `owner_as_string` for 2.16.
pub fn contact(c: &Contact, owner_as_string: bool) -> ContactView<'_> {
    let id = c.id.as_str();
    let companies = c.companies.iter().map(|cid| Ref {
        kind: "company",
        id: cid,
        url: UrlPath("/companies/", cid, ""),
    });
    let tags = c.tags.iter().map(|t| Ref {
        kind: "tag",
        id: &t.id,
        url: UrlPath("/tags/", &t.id, ""),
    });
    ContactView {
        kind: "contact",
        id,
        workspace_id: WORKSPACE_ID,
        external_id: c.external_id.as_deref(),
        role: c.role.as_str(),
        email: c.email.as_deref(),
        email_domain: c.email.as_deref().and_then(email_domain),
        phone: c.phone.as_deref(),
        name: c.name.as_deref(),
        avatar: c.avatar.as_deref().map(|url| Avatar {
            kind: "avatar",
            image_url: url,
        }),
        owner_id: c.owner_id.map(|o| {
            if owner_as_string {
                OwnerId::Str(o.to_string())
            } else {
                OwnerId::Int(o)
            }
        }),
        social_profiles: EmptyList {
            kind: "list",
            data: [],
        },
        has_hard_bounced: false,
        marked_email_as_spam: false,
        unsubscribed_from_emails: c.unsubscribed_from_emails,
        created_at: c.created_at,
        updated_at: c.updated_at,
        signed_up_at: c.signed_up_at,
        last_seen_at: c.last_seen_at,
        last_replied_at: None,
        last_contacted_at: None,
        last_email_opened_at: None,
        last_email_clicked_at: None,
        language_override: None,
        browser: None,
        browser_version: None,
        browser_language: None,
        os: None,
        location: Location {
            kind: "location",
            country: None,
            region: None,
            city: None,
            country_code: None,
            continent_code: None,
        },
        android_app_name: None,
        android_app_version: None,
        android_device: None,
        android_os_version: None,
        android_sdk_version: None,
        android_last_seen_at: None,
        ios_app_name: None,
        ios_app_version: None,
        ios_device: None,
        ios_os_version: None,
        ios_sdk_version: None,
        ios_last_seen_at: None,
        custom_attributes: &c.custom_attributes,
        tags: stub(tags, UrlPath("/contacts/", id, "/tags")),
        notes: empty_stub(UrlPath("/contacts/", id, "/notes")),
        companies: stub(companies, UrlPath("/contacts/", id, "/companies")),
        opted_out_subscription_types: subscription_stub(c, Consent::OptOut),
        opted_in_subscription_types: subscription_stub(c, Consent::OptIn),
        utm_campaign: None,
        utm_content: None,
        utm_medium: None,
        utm_source: None,
        utm_term: None,
        referrer: None,
        enabled_push_messaging: None,
    }
}

#[derive(Serialize)]
struct PlanView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct TagBasic<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct TagList<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    tags: Vec<TagBasic<'a>>,
}

#[derive(Serialize)]
struct SegmentList {
    #[serde(rename = "type")]
    kind: &'static str,
    segments: [(); 0],
}

/// A company as Intercom returns it (unset optional fields are left out, as in
/// Intercom's examples; `plan` is `{}` when unset).
#[derive(Serialize)]
pub struct CompanyView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    company_id: &'a str,
    id: &'a str,
    app_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_created_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_request_at: Option<i64>,
    monthly_spend: i64,
    session_count: i64,
    user_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    website: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    industry: Option<&'a str>,
    tags: TagList<'a>,
    segments: SegmentList,
    plan: Value,
    custom_attributes: &'a Map<String, Value>,
}

/// View of `c` (its tags' names come from `store`).
pub fn company<'a>(store: &'a Store, c: &'a Company) -> CompanyView<'a> {
    let plan = match &c.plan {
        Some(p) => serde_json::to_value(PlanView {
            kind: "plan",
            id: &p.id,
            name: &p.name,
        })
        .unwrap_or(Value::Null),
        None => Value::Object(Map::new()),
    };
    CompanyView {
        kind: "company",
        company_id: &c.company_id,
        id: &c.id,
        app_id: WORKSPACE_ID,
        name: c.name.as_deref(),
        remote_created_at: c.remote_created_at,
        created_at: c.created_at,
        updated_at: c.updated_at,
        last_request_at: c.last_request_at,
        monthly_spend: c.monthly_spend,
        session_count: 0,
        user_count: c.contacts.len(),
        size: c.size,
        website: c.website.as_deref(),
        industry: c.industry.as_deref(),
        tags: TagList {
            kind: "tag.list",
            tags: c
                .tags
                .iter()
                .filter_map(|id| store.tag(id))
                .map(|t| TagBasic {
                    kind: "tag",
                    id: &t.id,
                    name: &t.name,
                })
                .collect(),
        },
        segments: SegmentList {
            kind: "segment.list",
            segments: [],
        },
        plan,
        custom_attributes: &c.custom_attributes,
    }
}

/// Cursor-style `pages` object.
pub fn pages(page: usize, per_page: usize, total: usize, next: Option<String>) -> Value {
    let total_pages = total.div_ceil(per_page.max(1));
    let mut v = serde_json::json!({
        "type": "pages",
        "page": page,
        "per_page": per_page,
        "total_pages": total_pages,
    });
    if let Some(cursor) = next {
        v["next"] = serde_json::json!({"page": page + 1, "starting_after": cursor});
    }
    v
}

/// Companies of a contact, in attach order.
pub fn contact_companies<'a>(store: &'a Store, c: &Contact) -> Vec<CompanyView<'a>> {
    c.companies
        .iter()
        .filter_map(|id| store.companies.get(id))
        .map(|co| company(store, co))
        .collect()
}
