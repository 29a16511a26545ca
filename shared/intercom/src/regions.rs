//! Checking the token, and naming the region that accepts a refused one.
//!
//! An Intercom workspace, with its data and its access tokens, lives in one
//! region (US, EU or AU), each with its own base URL. A token sent to the wrong
//! region is answered `401` like a bad token, so on a `401` of `GET /me`
//! [`Client::check_token`] asks the other regions whether they accept the token
//! and, when one does, says which in the error.

use reqwest::Method;

use backflow_core::config::Region;

use crate::client::{Client, Counters};
use crate::error::Error;
use crate::requests;

/// `BACKFLOW_INTERCOM_REGION_URLS`: replaces Intercom's region base URLs (for
/// tests against emulators standing in for the three regions).
pub const REGION_URLS_ENV: &str = "BACKFLOW_INTERCOM_REGION_URLS";

/// The base URL of each Intercom region, as `(name, url)`: Intercom's own
/// ([`Region::base_url`]), or, when [`REGION_URLS_ENV`] is set, the ones it names.
pub fn region_urls() -> Vec<(&'static str, String)> {
    parse_region_urls(std::env::var(REGION_URLS_ENV).ok().as_deref())
}

/// `us=http://127.0.0.1:4011,eu=http://127.0.0.1:4012,au=…` → the regions it
/// names (unknown names and entries without `=` are ignored, a region named
/// twice keeps its last URL); unset or naming no region → Intercom's URLs.
pub(crate) fn parse_region_urls(spec: Option<&str>) -> Vec<(&'static str, String)> {
    let named: Vec<(&'static str, String)> = spec
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| {
            let (name, url) = entry.split_once('=')?;
            let region = Region::ALL.iter().find(|r| r.name() == name.trim())?;
            let url = url.trim().trim_end_matches('/');
            (!url.is_empty()).then(|| (region.name(), url.to_string()))
        })
        .collect();
    if named.is_empty() {
        return Region::ALL
            .iter()
            .map(|r| (r.name(), r.base_url().to_string()))
            .collect();
    }
    Region::ALL
        .iter()
        .filter_map(|r| named.iter().rev().find(|(n, _)| *n == r.name()).cloned())
        .collect()
}

/// The regions other than the one `base_url` points at; none when `base_url`
/// is not a region URL (a custom URL is never probed against the regions).
pub(crate) fn other_regions(
    regions: &[(&'static str, String)],
    base_url: &str,
) -> Vec<(&'static str, String)> {
    let own = base_url.trim_end_matches('/');
    if !regions.iter().any(|(_, url)| url == own) {
        return Vec::new();
    }
    regions
        .iter()
        .filter(|(_, url)| url != own)
        .cloned()
        .collect()
}

impl Client {
    /// `GET /me`. On `401`, when `base_url` is one of Intercom's region URLs, ask
    /// the other regions whether they accept the token, and say which one does.
    /// The region URLs are [`region_urls`] (Intercom's, unless overridden for tests).
    pub async fn check_token(&self) -> Result<(), Error> {
        let regions = region_urls();
        let others = other_regions(&regions, &self.config().base_url);
        self.check_token_against(&others).await
    }

    /// [`Client::check_token`] with the regions to probe given (name, base URL).
    pub(crate) async fn check_token_against(&self, others: &[(&str, String)]) -> Result<(), Error> {
        let me = requests::me();
        match self.send(&me).await {
            Ok(r) if r.is_success() => Ok(()),
            Ok(r) => Err(Error::Unexpected(format!(
                "GET /me answered {}: {}",
                r.status,
                requests::rejection(r.status, &r.body)
            ))),
            Err(Error::Unauthorized { .. }) => Err(Error::Unauthorized {
                hint: self.region_accepting(others, &me.path).await,
            }),
            Err(e) => Err(e),
        }
    }

    /// Ask each region in turn (one unpaced call each: another region's rate
    /// limit is not this workspace's) and name the first that accepts the token.
    async fn region_accepting(&self, others: &[(&str, String)], path: &str) -> Option<String> {
        for (name, base) in others {
            let url = format!("{}{}", base.trim_end_matches('/'), path);
            Counters::add(&self.counters().calls);
            if let Ok((status, _, _)) = self.exchange(Method::GET, &url, None).await {
                if (200..300).contains(&status) {
                    return Some(format!(
                        "the token is accepted in region {name}; set region: {name}"
                    ));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientConfig;
    use backflow_core::secret::Secret;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-trick HTTP server: `200 {}` when the bearer token is `accepted`,
    /// `401` otherwise. Returns its base URL.
    async fn token_server(accepted: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    let ok = text.contains(&format!("authorization: bearer {accepted}\r\n"));
                    let (status, body) = if ok {
                        ("200 OK", r#"{"type":"admin","id":"1"}"#)
                    } else {
                        (
                            "401 Unauthorized",
                            r#"{"type":"error.list","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}"#,
                        )
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn unauthorized_names_the_region_that_accepts_the_token() {
        let us = token_server("other-token").await;
        let eu = token_server("tok_eu").await;
        let au = token_server("nobody").await;
        let client = Client::new(ClientConfig::new(us.clone(), Secret::new("tok_eu"))).unwrap();
        let err = client
            .check_token_against(&[("au", au.clone()), ("eu", eu.clone())])
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::Unauthorized {
                hint: Some("the token is accepted in region eu; set region: eu".into())
            }
        );
        assert!(!err.to_string().contains("tok_eu"));
        // 401 is never retried: one call to /me, one probe each to au and eu.
        assert_eq!(client.stats().calls, 3);
        assert_eq!(client.stats().retries, 0);

        // No region accepts it: no hint.
        let err = client.check_token_against(&[("au", au)]).await.unwrap_err();
        assert_eq!(err, Error::Unauthorized { hint: None });

        // Accepted where configured.
        let ok = Client::new(ClientConfig::new(eu, Secret::new("tok_eu"))).unwrap();
        ok.check_token().await.unwrap();
    }

    #[tokio::test]
    async fn a_custom_base_url_is_never_probed_against_regions() {
        let base = token_server("good").await;
        let client = Client::new(ClientConfig::new(base, Secret::new("bad"))).unwrap();
        assert_eq!(
            client.check_token().await.unwrap_err(),
            Error::Unauthorized { hint: None }
        );
        assert_eq!(client.stats().calls, 1);
    }

    #[test]
    fn region_urls_are_intercoms_unless_overridden() {
        let intercom = vec![
            ("us", "https://api.intercom.io".to_string()),
            ("eu", "https://api.eu.intercom.io".to_string()),
            ("au", "https://api.au.intercom.io".to_string()),
        ];
        assert_eq!(parse_region_urls(None), intercom);
        assert_eq!(parse_region_urls(Some("")), intercom);
        assert_eq!(parse_region_urls(Some("mars=http://x")), intercom);
        assert_eq!(
            parse_region_urls(Some(
                " au = http://127.0.0.1:3/ ,us=http://127.0.0.1:1,bogus,eu=http://127.0.0.1:2"
            )),
            vec![
                ("us", "http://127.0.0.1:1".to_string()),
                ("eu", "http://127.0.0.1:2".to_string()),
                ("au", "http://127.0.0.1:3".to_string()),
            ]
        );
        // A region URL probes the others; a custom URL probes none.
        assert_eq!(
            other_regions(&intercom, "https://api.eu.intercom.io/"),
            vec![intercom[0].clone(), intercom[2].clone()]
        );
        assert!(other_regions(&intercom, "http://127.0.0.1:4010").is_empty());
    }
}
