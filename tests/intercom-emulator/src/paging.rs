//! Pagination helpers: `per_page` limits and opaque cursors.
//!
//! Cursors look like Intercom's (base64 of a small JSON array, e.g. `WzEyLDNd`)
//! and are only good for walking forward; the emulator does not bind a cursor
//! to its query, so reuse one only with the query that produced it.

use axum::http::{header, HeaderMap};

use crate::errors::{ApiError, ApiResult};

/// Largest `per_page` of any list or search.
pub const MAX_PER_PAGE: usize = 150;
/// Default page size of contact lists and searches.
pub const DEFAULT_PER_PAGE: usize = 50;

/// Validate an optional `per_page` (1..=150).
pub fn per_page(value: Option<i64>, default: usize) -> ApiResult<usize> {
    match value {
        None => Ok(default),
        Some(n) if (1..=MAX_PER_PAGE as i64).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::invalid(format!(
            "per_page must be between 1 and {MAX_PER_PAGE}, got {n}"
        ))),
    }
}

/// Parse a query-string `per_page`.
pub fn per_page_param(value: Option<&String>, default: usize) -> ApiResult<usize> {
    match value {
        None => Ok(default),
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) => per_page(Some(n), default),
            Err(_) => Err(ApiError::invalid("per_page must be an integer")),
        },
    }
}

/// Parse a query-string `page` (1 when absent; a number from 1 up).
pub fn page_param(value: Option<&String>) -> ApiResult<usize> {
    match value {
        None => Ok(1),
        Some(p) => p
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| ApiError::invalid("page must be a positive integer")),
    }
}

/// The absolute URL of page `page` of `path`, on the host the request came
/// to (page-number lists link their next page this way).
pub fn page_url(headers: &HeaderMap, path: &str, page: usize, per_page: usize) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}{path}?page={page}&per_page={per_page}")
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encode two numbers as an opaque cursor.
pub fn encode(a: u64, b: u64) -> String {
    base64(format!("[{a},{b}]").as_bytes())
}

/// Decode a cursor made by [`encode`]; a malformed one is a `400`.
pub fn decode(cursor: &str) -> ApiResult<(u64, u64)> {
    let bad = || ApiError::invalid(format!("Invalid starting_after value '{cursor}'"));
    let bytes = unbase64(cursor).ok_or_else(bad)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(bad)?;
    let (a, b) = inner.split_once(',').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

fn base64(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(input: &str) -> Option<Vec<u8>> {
    let digits: Vec<u32> = input
        .trim_end_matches('=')
        .bytes()
        .map(|b| ALPHABET.iter().position(|&a| a == b).map(|p| p as u32))
        .collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        if chunk.len() < 2 {
            return None;
        }
        let mut n = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            n |= d << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for (a, b) in [(0, 0), (1, 2), (12, 3), (u64::MAX, 7)] {
            assert_eq!(decode(&encode(a, b)).unwrap(), (a, b));
        }
        assert_eq!(encode(12, 3), "WzEyLDNd");
        assert!(decode("not a cursor!").is_err());
        assert!(decode("WzEy").is_err());
    }

    #[test]
    fn per_page_is_bounded() {
        assert_eq!(per_page(None, 50).unwrap(), 50);
        assert_eq!(per_page(Some(150), 50).unwrap(), 150);
        assert!(per_page(Some(151), 50).is_err());
        assert!(per_page(Some(0), 50).is_err());
        assert!(per_page_param(Some(&"x".to_string()), 50).is_err());
    }

    #[test]
    fn page_numbers_start_at_one() {
        assert_eq!(page_param(None).unwrap(), 1);
        assert_eq!(page_param(Some(&" 3 ".to_string())).unwrap(), 3);
        assert!(page_param(Some(&"0".to_string())).is_err());
        assert!(page_param(Some(&"x".to_string())).is_err());
    }
}
