//! Intercom's error envelope: every failure leaves the emulator as
//! `{"type":"error.list","request_id":"<uuid>","errors":[{"code":…,"message":…}]}`.
//!
//! Codes and messages are Intercom's own where the docs or the OpenAPI examples
//! give them; the few the emulator had to choose are marked "(chosen)" and listed
//! in the README.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One failed request, as Intercom would answer it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401 `unauthorized`: missing, malformed or unknown bearer token.
    #[error("Access Token Invalid")]
    Unauthorized,
    /// 429 `rate_limit_exceeded`: the 10-second window's budget is spent.
    #[error("Exceeded rate limit of {0} in 10_seconds")]
    RateLimited(u32),
    /// 400 `bad_request`, e.g. "bad 'x' parameter" on `POST /companies`.
    #[error("{0}")]
    BadRequest(String),
    /// 400 `parameter_invalid`: the common validation failure.
    #[error("{0}")]
    ParameterInvalid(String),
    /// 400 `parameter_not_found`, e.g. "company not specified".
    #[error("{0}")]
    ParameterNotFound(String),
    /// 400 `parameter_missing` (chosen for absent required fields).
    #[error("{0}")]
    ParameterMissing(String),
    /// 400 `invalid_sort_order` on search.
    #[error("Invalid sort order '{0}'. Must be one of: ascending, descending")]
    InvalidSortOrder(String),
    /// 400 `invalid_merge` (2.16): lead and user share neither email nor phone.
    #[error("Contacts can only be merged when they are duplicates (matching email or phone). Pass skip_duplicate_validation=true to override this check.")]
    InvalidMerge,
    /// 400 `contact_company_limit_exceeded`.
    #[error("Contact has reached the maximum of 1000 company associations")]
    ContactCompanyLimit,
    /// 400 `scroll_exists`: a second company scroll while one is open.
    #[error("scroll already exists for this workspace")]
    ScrollExists,
    /// 400 `role_conversion_not_allowed` (chosen): `PUT role:"lead"` on a user,
    /// or `PUT role:"user"` on a lead unless that switch is on.
    #[error("{0}")]
    RoleConversion(String),
    /// 400 `contact_deleted` (chosen): a permanently deleted user's
    /// external_id or email used again.
    #[error("A contact matching those details was permanently deleted and cannot be re-created (id={0})")]
    PermanentlyDeleted(String),
    /// 422 `parameter_invalid` (2.16): `GET /data_attributes?model=conversation`.
    #[error(
        "model=conversation is no longer supported. Use GET /conversations/attributes instead"
    )]
    ConversationModelGone,
    /// 404 `not_found` "User Not Found": no such contact.
    #[error("User Not Found")]
    UserNotFound,
    /// 404 `company_not_found`.
    #[error("Company Not Found")]
    CompanyNotFound,
    /// 404 `field_not_found`: unknown data attribute id.
    #[error("We couldn't find that data attribute to update")]
    FieldNotFound,
    /// 404 `not_found` for an unknown scroll parameter (expired or ended).
    #[error("scroll parameter not found")]
    ScrollNotFound,
    /// 404 `not_found`: no such route (or method) in the emulated API.
    #[error("Resource Not Found")]
    RouteNotFound,
    /// 404 `not_found` "Resource Not Found": no such tag or subscription type
    /// (or it is not applied to the contact).
    #[error("Resource Not Found")]
    ResourceNotFound,
    /// 404 `not_found`: no custom object type with this identifier.
    #[error("Custom object type `{0}` not found")]
    CustomObjectTypeNotFound(String),
    /// 404 `not_found`: no such custom object instance.
    #[error("Custom object instance not found")]
    CustomObjectNotFound,
    /// 409 `conflict`: a user with that email or external_id exists.
    #[error("A contact matching those details already exists with id={0}")]
    Conflict(String),
    /// 409 `conflict`: the match is archived.
    #[error("An archived contact matching those details already exists with id={0}")]
    ConflictArchived(String),
    /// 410 `contact_merged` (2.16): the contact was merged into the given id.
    #[error("This contact has been merged. See the 'Link' header for the canonical contact.")]
    ContactMerged(String),
    /// 500 `server_error`: an injected fault.
    #[error("An unexpected error occurred, please try again")]
    ServerError,
    /// 503 `service_unavailable`: an injected fault.
    #[error("Service Unavailable")]
    ServiceUnavailable,
}

impl ApiError {
    /// Shorthand for the most common failure.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::ParameterInvalid(message.into())
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Unauthorized => StatusCode::UNAUTHORIZED,
            RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            BadRequest(_)
            | ParameterInvalid(_)
            | ParameterNotFound(_)
            | ParameterMissing(_)
            | InvalidSortOrder(_)
            | InvalidMerge
            | ContactCompanyLimit
            | ScrollExists
            | RoleConversion(_)
            | PermanentlyDeleted(_) => StatusCode::BAD_REQUEST,
            ConversationModelGone => StatusCode::UNPROCESSABLE_ENTITY,
            UserNotFound
            | CompanyNotFound
            | FieldNotFound
            | ScrollNotFound
            | RouteNotFound
            | ResourceNotFound
            | CustomObjectTypeNotFound(_)
            | CustomObjectNotFound => StatusCode::NOT_FOUND,
            Conflict(_) | ConflictArchived(_) => StatusCode::CONFLICT,
            ContactMerged(_) => StatusCode::GONE,
            ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Intercom's `errors[0].code`.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Unauthorized => "unauthorized",
            RateLimited(_) => "rate_limit_exceeded",
            BadRequest(_) => "bad_request",
            ParameterInvalid(_) | ConversationModelGone => "parameter_invalid",
            ParameterNotFound(_) => "parameter_not_found",
            ParameterMissing(_) => "parameter_missing",
            InvalidSortOrder(_) => "invalid_sort_order",
            InvalidMerge => "invalid_merge",
            ContactCompanyLimit => "contact_company_limit_exceeded",
            ScrollExists => "scroll_exists",
            RoleConversion(_) => "role_conversion_not_allowed",
            PermanentlyDeleted(_) => "contact_deleted",
            UserNotFound
            | ScrollNotFound
            | RouteNotFound
            | ResourceNotFound
            | CustomObjectTypeNotFound(_)
            | CustomObjectNotFound => "not_found",
            CompanyNotFound => "company_not_found",
            FieldNotFound => "field_not_found",
            Conflict(_) | ConflictArchived(_) => "conflict",
            ContactMerged(_) => "contact_merged",
            ServerError => "server_error",
            ServiceUnavailable => "service_unavailable",
        }
    }
}

#[derive(Serialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: &'static str,
    request_id: String,
    errors: [Item; 1],
}

#[derive(Serialize)]
struct Item {
    code: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            kind: "error.list",
            request_id: uuid::Uuid::new_v4().to_string(),
            errors: [Item {
                code: self.code(),
                message: self.to_string(),
            }],
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let ApiError::ContactMerged(canonical) = &self {
            let link = format!("</contacts/{canonical}>; rel=\"canonical\"");
            if let Ok(value) = HeaderValue::from_str(&link) {
                response.headers_mut().insert(header::LINK, value);
            }
        }
        response
    }
}

/// What every handler returns.
pub type ApiResult<T = Response> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_messages_carry_the_id_as_intercom_does() {
        assert_eq!(
            ApiError::Conflict("abc".into()).to_string(),
            "A contact matching those details already exists with id=abc"
        );
        assert_eq!(
            ApiError::ConflictArchived("abc".into()).to_string(),
            "An archived contact matching those details already exists with id=abc"
        );
        assert_eq!(
            ApiError::Conflict("a".into()).status(),
            StatusCode::CONFLICT
        );
    }

    #[test]
    fn rate_limit_message_names_the_budget() {
        let e = ApiError::RateLimited(167);
        assert_eq!(e.to_string(), "Exceeded rate limit of 167 in 10_seconds");
        assert_eq!(e.code(), "rate_limit_exceeded");
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
