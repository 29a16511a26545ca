//! The HTTP API client: one request at a time, errors that say what to do next,
//! and every page of a paginated route.
//!
//! Routes (the product contract's "HTTP API"): `GET /syncs`, `POST
//! /syncs/{sync}/runs`, `GET /runs/{id}`, `GET /runs/{id}/rows?outcome=&limit=&cursor=`,
//! `GET /syncs/{sync}/runs?limit=&cursor=`. Path segments and query values from the
//! command line are percent-encoded here (RFC 3986, `%20` for a space), so the URL
//! that is signed is exactly the URL that is sent.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::sign::{self, Request, Signing};
use crate::target::{execute_api_id, execute_api_region, Origin, Target};
use crate::Error;

/// Per-request timeout. Generous: the local stack compiles a function on its first
/// invocation, and API Gateway itself gives up after 30 s.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Rows asked for per page of `GET /runs/{id}/rows`.
pub const ROWS_PAGE: usize = 1000;

/// The cap of an API that predates pagination: one page of at most this many rows.
pub const OLD_ROWS_CAP: usize = 10_000;

/// A client of one stack's API.
#[derive(Debug)]
pub struct Api {
    target: Target,
    http: reqwest::Client,
}

/// Every item of a paginated list.
#[derive(Debug, Clone, PartialEq)]
pub struct Pages {
    pub items: Vec<Value>,
    /// Whether the API paginates this route (its answers carry `next_cursor`).
    /// `false`: an API older than pagination, which answered one page.
    pub paginated: bool,
    /// The cursor to continue from when `max` stopped the walk early.
    pub next_cursor: Option<String>,
}

impl Api {
    pub fn new(target: Target) -> Api {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("backflow-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Api { target, http }
    }

    pub fn base_url(&self) -> &str {
        &self.target.base_url
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `GET path?query` → the answer's JSON.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Error> {
        self.request("GET", path, query, None).await
    }

    /// `POST path` with a JSON body → the answer's JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.request("POST", path, &[], Some(bytes)).await
    }

    /// Follows `next_cursor` from page to page and gathers the `key` arrays. Stops
    /// after `max` items when given (keeping the cursor to continue from). An answer
    /// without a `next_cursor` key comes from an API older than pagination: it is the
    /// only page.
    pub async fn pages(
        &self,
        path: &str,
        query: &[(&str, String)],
        key: &str,
        max: Option<usize>,
    ) -> Result<Pages, Error> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut q = query.to_vec();
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let page = self.get(path, &q).await?;
            let Some(list) = page.get(key).and_then(Value::as_array) else {
                return Err(self.unexpected(200, &format!("no `{key}` list in {page}")));
            };
            items.extend(list.iter().cloned());
            let paginated = page.get("next_cursor").is_some();
            let next = page
                .get("next_cursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            let Some(next) = next else {
                return Ok(Pages {
                    items,
                    paginated,
                    next_cursor: None,
                });
            };
            if let Some(max) = max.filter(|&m| items.len() >= m) {
                items.truncate(max);
                return Ok(Pages {
                    items,
                    paginated,
                    next_cursor: Some(next),
                });
            }
            // A cursor met twice would loop forever.
            if !seen.insert(next.clone()) {
                return Err(self.unexpected(200, &format!("the cursor {next:?} came back twice")));
            }
            cursor = Some(next);
        }
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Value, Error> {
        let url = url(&self.target.base_url, path, query);
        let http_method = if method == "POST" {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let mut req = self
            .http
            .request(http_method, &url)
            .header("accept", "application/json");
        let body = body.unwrap_or_default();
        if let Some(signer) = &self.target.signer {
            let credentials = signer.credentials().await?;
            let signing = Signing {
                credentials: &credentials,
                region: &signer.region,
                service: sign::SERVICE,
                time: SystemTime::now(),
            };
            let request = Request {
                method,
                url: &url,
                headers: &[],
                body: &body,
            };
            for (name, value) in sign::signature_headers(request, &signing)? {
                req = req.header(name, value);
            }
        }
        if method == "POST" {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text)
                .map_err(|_| self.unexpected(status, &format!("not JSON: {}", excerpt(&text))));
        }
        Err(answer_error(
            status,
            &text,
            &Context {
                base_url: &self.target.base_url,
                signed: self.target.signer.is_some(),
                path,
            },
        ))
    }

    fn unreachable(&self, e: &reqwest::Error) -> Error {
        let detail = error_chain(e);
        match self.target.origin {
            Origin::Local => Error::LocalStackDown {
                url: self.target.base_url.clone(),
                detail,
            },
            _ => Error::Unreachable {
                url: self.target.base_url.clone(),
                detail,
            },
        }
    }

    fn unexpected(&self, status: u16, detail: &str) -> Error {
        Error::Unexpected {
            url: self.target.base_url.clone(),
            status,
            detail: detail.to_string(),
        }
    }
}

/// The innermost cause of `e` ("Connection refused (os error 111)"), which is
/// what an operator can act on; reqwest's own message only names the URL.
fn error_chain(e: &reqwest::Error) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    let text = innermost.to_string();
    if e.is_timeout() {
        format!("timed out after {}s ({text})", REQUEST_TIMEOUT.as_secs())
    } else {
        text
    }
}

/// The first 300 characters of `text` (by character, never by byte).
pub fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(300).collect();
    if text.chars().nth(300).is_some() {
        out.push('…');
    }
    out
}

/// `base` + `path` + the percent-encoded query.
pub fn url(base: &str, path: &str, query: &[(&str, String)]) -> String {
    let mut url = format!("{}{path}", base.trim_end_matches('/'));
    for (i, (k, v)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&encode(k));
        url.push('=');
        url.push_str(&encode(v));
    }
    url
}

/// RFC 3986 percent-encoding of everything but the unreserved characters, for a
/// path segment or a query value taken from the command line.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What [`answer_error`] needs to know about the request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub base_url: &'a str,
    pub signed: bool,
    pub path: &'a str,
}

/// An error answer → the error to show. The API's own errors are
/// `{"error":{"code","message"}}`; API Gateway's refusals are `403 {"message":…}`.
pub fn answer_error(status: u16, text: &str, ctx: &Context<'_>) -> Error {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let api_error = body.get("error").and_then(|e| {
        Some((
            e.get("code")?.as_str()?.to_string(),
            e.get("message")?.as_str()?.to_string(),
        ))
    });
    if let Some((code, message)) = api_error {
        return Error::Api {
            status,
            hint: hint(status, &code, ctx.path),
            code,
            message,
        };
    }
    if status == 401 || status == 403 {
        let message = body
            .get("message")
            .or_else(|| body.get("Message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| excerpt(text));
        return Error::Refused {
            detail: refusal(&message, ctx),
        };
    }
    Error::Unexpected {
        url: ctx.base_url.to_string(),
        status,
        detail: excerpt(text),
    }
}

/// Why API Gateway refused, and what to do about it.
fn refusal(message: &str, ctx: &Context<'_>) -> String {
    let resource = match (
        execute_api_region(ctx.base_url),
        execute_api_id(ctx.base_url),
    ) {
        (Some(region), Some(id)) => format!("arn:aws:execute-api:{region}:*:{id}/*"),
        _ => ctx.base_url.to_string(),
    };
    if !ctx.signed {
        return format!(
            "{message}: the API wants requests signed with AWS credentials; use --stack NAME, or --sign with --api"
        );
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("signature") || lower.contains("security token") || lower.contains("expired")
    {
        return format!(
            "{message}: the signature was not accepted; check your AWS credentials (`aws sts get-caller-identity`) and that --region is the stack's region"
        );
    }
    format!(
        "{message}: your credentials lack execute-api:Invoke on {resource}, or they are not the ones you meant (`aws sts get-caller-identity` says whose they are)"
    )
}

/// What to do next after an API error.
fn hint(status: u16, code: &str, path: &str) -> Option<String> {
    let hint = match (status, code) {
        (404, _) if path.starts_with("/syncs/") => "`backflow syncs` lists the syncs",
        (404, _) if path.starts_with("/runs/") => "`backflow runs` lists recent runs",
        (409, _) => "follow it with `backflow show RUN`, or wait for it to end",
        (422, _) | (_, "config_invalid") => "`backflow validate CONFIG` shows what is wrong",
        (s, _) if s >= 500 => {
            "the functions' logs say more (CloudWatch Logs, or the local stack's log)"
        }
        _ => return None,
    };
    Some(hint.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(signed: bool) -> Context<'static> {
        Context {
            base_url: "https://abc123.execute-api.eu-west-1.amazonaws.com",
            signed,
            path: "/syncs",
        }
    }

    #[test]
    fn urls_encode_what_comes_from_the_command_line() {
        assert_eq!(
            url(
                "http://h/x/",
                &format!("/runs/{}/rows", encode("a b/c")),
                &[]
            ),
            "http://h/x/runs/a%20b%2Fc/rows"
        );
        assert_eq!(
            url(
                "http://h",
                "/runs/r/rows",
                &[("outcome", "invalid".into()), ("cursor", "a+b/=".into())]
            ),
            "http://h/runs/r/rows?outcome=invalid&cursor=a%2Bb%2F%3D"
        );
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn api_errors_keep_their_message_and_get_a_hint() {
        let e = answer_error(
            404,
            r#"{"error":{"code":"not_found","message":"no sync named `x`"}}"#,
            &Context {
                path: "/syncs/x/runs",
                ..ctx(false)
            },
        );
        assert_eq!(e.status(), Some(404));
        assert_eq!(
            e.to_string(),
            "no sync named `x` (`backflow syncs` lists the syncs)"
        );
        let e = answer_error(
            409,
            r#"{"error":{"code":"run_in_progress","message":"sync `x` already has a run in progress: r1"}}"#,
            &ctx(false),
        );
        assert!(e.to_string().contains("backflow show RUN"), "{e}");
    }

    #[test]
    fn refusals_say_what_to_do() {
        let forbidden = r#"{"message":"Forbidden"}"#;
        let e = answer_error(403, forbidden, &ctx(true)).to_string();
        assert!(
            e.starts_with("the API refused the request: Forbidden: your credentials lack execute-api:Invoke on arn:aws:execute-api:eu-west-1:*:abc123/*"),
            "{e}"
        );
        let e = answer_error(403, forbidden, &ctx(false)).to_string();
        assert!(e.contains("use --stack NAME"), "{e}");
        let e = answer_error(
            403,
            r#"{"message":"Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z"}"#,
            &ctx(true),
        )
        .to_string();
        assert!(e.contains("aws sts get-caller-identity"), "{e}");
        assert!(e.contains("--region"), "{e}");
    }

    #[test]
    fn other_answers_are_unexpected_and_cut_by_character() {
        let long = "é".repeat(400);
        let e = answer_error(502, &long, &ctx(false));
        let Error::Unexpected { status, detail, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(status, 502);
        assert_eq!(detail.chars().count(), 301);
    }
}
