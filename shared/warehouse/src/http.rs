//! The HTTP side the cloud warehouses share: one reqwest client (rustls, the
//! stack the rest of backflow uses), messages for transport errors and odd
//! answers, and a retried GET for the idempotent reads (result pages, chunks).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

/// The longest one HTTP request may take. Snowflake holds a query request for up
/// to 45 s before answering "still running", and a chunk is tens of MB at most.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Attempts of a retried GET (a 429, a 5xx or a dropped connection).
const GET_ATTEMPTS: u32 = 4;

/// Unix seconds now (the `iat` of a JWT).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A client for one warehouse: connects within `connect_timeout`.
pub(crate) fn client(connect_timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("backflow/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| describe(&e))
}

/// A transport error for a user: what failed, without the URL's query string
/// (which may carry a signed chunk URL's credentials).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_decode() || e.is_body() {
        "the answer could not be read"
    } else {
        "request failed"
    };
    let host = e
        .url()
        .map(|u| {
            format!(
                " ({}://{}{})",
                u.scheme(),
                u.host_str().unwrap_or("?"),
                u.path()
            )
        })
        .unwrap_or_default();
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        cause = format!(": {inner}");
        source = inner.source();
    }
    format!("{what}{host}{cause}")
}

/// An answer that is not what the protocol says: its status and the start of
/// its body, printable characters only.
pub(crate) fn unexpected_answer(status: StatusCode, body: &str) -> String {
    let excerpt: String = body.chars().filter(|c| !c.is_control()).take(300).collect();
    format!("unexpected answer {status}: {excerpt}")
}

/// `url` with `pairs` appended to its query string, each percent-encoded.
pub(crate) fn with_query(url: &str, pairs: &[(&str, String)]) -> Result<url::Url, String> {
    let mut url = url::Url::parse(url).map_err(|e| format!("bad URL `{url}`: {e}"))?;
    if !pairs.is_empty() {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
    }
    Ok(url)
}

/// A form body (`application/x-www-form-urlencoded`).
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// An answer's status and body text.
pub(crate) async fn text(response: reqwest::Response) -> Result<(StatusCode, String), String> {
    let status = response.status();
    let text = response.text().await.map_err(|e| describe(&e))?;
    Ok((status, text))
}

/// The most reserved up front for a body a server announced: a wrong or hostile
/// `Content-Length` must not make the function allocate gigabytes (a body
/// larger than this still grows as it arrives).
const MAX_RESERVATION: u64 = 256 * 1024 * 1024;

/// Bytes to reserve for `announced` bytes.
pub(crate) fn reservation(announced: u64) -> usize {
    usize::try_from(announced.min(MAX_RESERVATION)).unwrap_or(0)
}

/// An answer's body, read piece by piece into one buffer sized by its
/// `Content-Length` (`Response::bytes` and `text` may hold it twice on the way).
pub(crate) async fn body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::with_capacity(reservation(response.content_length().unwrap_or(0)));
    while let Some(piece) = response.chunk().await.map_err(|e| describe(&e))? {
        body.extend_from_slice(&piece);
    }
    Ok(body)
}

/// Whether a status is worth another attempt.
pub(crate) fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// The pause before poll number `poll` (0-based) of a running query: 250 ms,
/// doubling up to 5 s.
pub(crate) fn poll_pause(poll: u32) -> Duration {
    (Duration::from_millis(250) * 2u32.pow(poll.min(5))).min(Duration::from_secs(5))
}

/// The wait before attempt `attempt` (1-based, > 1) of a retried GET.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 * 2u64.pow(attempt.saturating_sub(2).min(4)))
}

/// GETs `url`, retrying a 429, a 5xx or a dropped connection (reads are
/// idempotent); the answer's status and bytes, or a message.
pub(crate) async fn get(
    http: &reqwest::Client,
    url: &str,
    headers: HeaderMap,
) -> Result<(StatusCode, Vec<u8>), String> {
    let mut attempt = 1;
    loop {
        let result = http.get(url).headers(headers.clone()).send().await;
        let retry = match result {
            Ok(response) if retryable(response.status()) && attempt < GET_ATTEMPTS => true,
            Ok(response) => {
                let status = response.status();
                return Ok((status, body(response).await?));
            }
            Err(e)
                if attempt < GET_ATTEMPTS
                    && (e.is_connect() || e.is_timeout() || e.is_request()) =>
            {
                true
            }
            Err(e) => return Err(describe(&e)),
        };
        debug_assert!(retry);
        attempt += 1;
        tokio::time::sleep(backoff(attempt)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_only_what_can_pass_later() {
        let cases = [
            (200, false),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (429, true),
            (500, true),
            (503, true),
        ];
        for (status, expected) in cases {
            assert_eq!(
                retryable(StatusCode::from_u16(status).unwrap()),
                expected,
                "{status}"
            );
        }
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_millis(1000));
        assert_eq!(backoff(9), Duration::from_millis(8000));
        let pauses: Vec<u64> = (0..8).map(|p| poll_pause(p).as_millis() as u64).collect();
        assert_eq!(pauses, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
    }

    #[test]
    fn odd_answers_are_cut_and_printable() {
        let body = format!("<html>\n{}", "x".repeat(1000));
        let message = unexpected_answer(StatusCode::BAD_GATEWAY, &body);
        assert!(
            message.starts_with("unexpected answer 502 Bad Gateway: <html>x"),
            "{message}"
        );
        assert!(message.len() < 400);
    }
}
