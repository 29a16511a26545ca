//! What every API request goes through before (and after) its handler, in this
//! order: added latency → bearer-token check (`401`, no rate-limit headers) →
//! rate limit (`429`) → random fault (`500`/`503`/dropped connection) → the
//! handler → `X-RateLimit-*` headers → stats.
//!
//! Matched routes get this as a `route_layer` (so the route template is known
//! for the stats); unknown routes and methods go through the same steps in the
//! fallback handlers below and end in a `404` error list.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;
use crate::faults::{DropConnection, Fault};
use crate::ratelimit::Decision;
use crate::state::App;

/// `route_layer` middleware for every emulated Intercom route.
pub async fn gate(
    State(app): State<Arc<App>>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let route = route_label(req.method(), matched.as_ref().map(MatchedPath::as_str));
    guarded(&app, &route, req, |req| next.run(req)).await
}

/// Fallback for paths the emulator does not serve.
pub async fn unknown_route(State(app): State<Arc<App>>, req: Request) -> Response {
    let route = route_label(req.method(), None);
    guarded(&app, &route, req, |_| async {
        ApiError::RouteNotFound.into_response()
    })
    .await
}

/// Fallback for a known path with a method it does not take: Intercom answers
/// `404`, not `405`.
pub async fn unknown_method(
    State(app): State<Arc<App>>,
    matched: Option<MatchedPath>,
    req: Request,
) -> Response {
    let route = route_label(req.method(), matched.as_ref().map(MatchedPath::as_str));
    guarded(&app, &route, req, |_| async {
        ApiError::RouteNotFound.into_response()
    })
    .await
}

fn route_label(method: &Method, template: Option<&str>) -> String {
    format!("{} {}", method, template.unwrap_or("(unmatched)"))
}

async fn guarded<F, Fut>(app: &App, route: &str, req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let latency = app.latency_ms();
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if !authorized(&app.opts.tokens, req.headers()) {
        app.stats.record(route, "401");
        return ApiError::Unauthorized.into_response();
    }
    let decision = app.limiter.check(app.clock.wall());
    let mut response = if !decision.allowed {
        ApiError::RateLimited(decision.limit).into_response()
    } else {
        match app.faults.roll() {
            None => inner(req).await,
            Some(fault) => {
                if app.opts.fault_after_apply {
                    let _applied = inner(req).await;
                }
                fault_response(fault)
            }
        }
    };
    // On every authenticated answer, as Intercom does (unlimited included).
    rate_limit_headers(response.headers_mut(), decision);
    let code = response.status();
    let dropped = response.extensions().get::<DropConnection>().is_some();
    app.stats
        .record(route, if dropped { "dropped" } else { code.as_str() });
    response
}

/// `Authorization: Bearer <token>`, with `<token>` one of `tokens` (any
/// non-empty token when `tokens` is empty).
pub fn authorized(tokens: &[String], headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return false;
    }
    tokens.is_empty() || tokens.iter().any(|t| t == token)
}

fn rate_limit_headers(headers: &mut HeaderMap, d: Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(d.reset));
}

fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::ServerError => ApiError::ServerError.into_response(),
        Fault::ServiceUnavailable => ApiError::ServiceUnavailable.into_response(),
        Fault::Drop => {
            let mut r = axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
            r.extensions_mut().insert(DropConnection);
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn bearer_tokens_are_checked() {
        let tokens = vec!["good".to_string()];
        assert!(authorized(&tokens, &headers("Bearer good")));
        assert!(authorized(&tokens, &headers("bearer good")));
        assert!(!authorized(&tokens, &headers("Bearer bad")));
        assert!(!authorized(&tokens, &headers("Basic good")));
        assert!(!authorized(&tokens, &HeaderMap::new()));
        assert!(authorized(&[], &headers("Bearer anything")));
        assert!(!authorized(&[], &headers("Bearer ")));
        assert!(!authorized(&[], &HeaderMap::new()));
    }
}
