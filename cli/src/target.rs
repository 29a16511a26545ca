//! Where the API is, and how requests to it are signed.
//!
//! - Default: the local stack, `http://127.0.0.1:9000/lambda-url/trigger`,
//!   unsigned (no AWS credentials needed).
//! - `--api URL` / `BACKFLOW_API`: that URL; signed when its host is API
//!   Gateway's (`<id>.execute-api.<region>.amazonaws.com`) or with `--sign`
//!   (a custom domain in front of the API).
//! - `--stack NAME [--region R]`: the stack's `ApiUrl` output, read with
//!   CloudFormation `DescribeStacks`; always signed, with the stack's region.
//!
//! The AWS SDK config ([`sdk_config`]) follows the usual chain (environment,
//! profile, SSO, instance role). With an endpoint on loopback (moto, the local
//! stack) and no credentials in the environment, it uses dummy credentials and
//! `us-east-1`, so the local stack needs no AWS account.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudformation::types::Output;

use crate::Error;

/// The local stack's API (`make local-up`).
pub const LOCAL_API: &str = "http://127.0.0.1:9000/lambda-url/trigger";

/// The stack output that holds the API's base URL (infra/template.yaml).
pub const API_URL_OUTPUT: &str = "ApiUrl";

/// What the command line says about the API.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub api: Option<String>,
    pub stack: Option<String>,
    pub region: Option<String>,
    /// `--aws-endpoint` / `AWS_ENDPOINT_URL`: every AWS call the CLI makes goes there.
    pub aws_endpoint: Option<String>,
    /// `--sign`: sign requests to `--api` even when it is not an execute-api host.
    pub sign: bool,
}

/// Where the API was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The default local stack.
    Local,
    /// `--api` / `BACKFLOW_API`.
    Url,
    /// `--stack`.
    Stack { name: String, region: String },
}

/// The resolved API.
#[derive(Debug)]
pub struct Target {
    /// Base URL without a trailing `/`; routes are appended (`/syncs`).
    pub base_url: String,
    pub origin: Origin,
    /// `Some` when requests are signed.
    pub signer: Option<Signer>,
}

/// Signs requests with the SDK's credentials (cached until shortly before they expire).
pub struct Signer {
    provider: SharedCredentialsProvider,
    pub region: String,
    cached: Mutex<Option<Credentials>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `region` with the config's credentials provider.
    pub fn new(config: &SdkConfig, region: String) -> Result<Signer, Error> {
        let provider = config
            .credentials_provider()
            .ok_or_else(|| Error::NoCredentials {
                detail: "no credentials provider is configured".into(),
            })?;
        Ok(Signer {
            provider,
            region,
            cached: Mutex::new(None),
        })
    }

    /// Credentials to sign with, fetched once and again only near their expiry.
    pub async fn credentials(&self) -> Result<Credentials, Error> {
        let fresh = |c: &Credentials| {
            c.expiry().is_none_or(|at| {
                at.duration_since(SystemTime::now())
                    .is_ok_and(|left| left > Duration::from_secs(300))
            })
        };
        if let Some(c) = self.lock().as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        let credentials =
            self.provider
                .provide_credentials()
                .await
                .map_err(|e| Error::NoCredentials {
                    detail: DisplayErrorContext(&e).to_string(),
                })?;
        *self.lock() = Some(credentials.clone());
        Ok(credentials)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Credentials>> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Finds the API: `--stack`, else `--api`, else the local stack.
pub async fn resolve(choice: &Choice) -> Result<Target, Error> {
    if let Some(stack) = &choice.stack {
        let config = sdk_config(choice.region.as_deref(), choice.aws_endpoint.as_deref()).await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or(Error::NoRegion)?;
        let base_url = stack_api_url(&config, stack, &region).await?;
        return Ok(Target {
            base_url: trim_base(&base_url),
            origin: Origin::Stack {
                name: stack.clone(),
                region: region.clone(),
            },
            signer: Some(Signer::new(&config, region)?),
        });
    }
    let Some(url) = &choice.api else {
        return Ok(Target {
            base_url: LOCAL_API.to_string(),
            origin: Origin::Local,
            signer: None,
        });
    };
    let host_region = execute_api_region(url);
    let signer = if choice.sign || host_region.is_some() {
        let region = choice.region.clone().or(host_region);
        let config = sdk_config(region.as_deref(), choice.aws_endpoint.as_deref()).await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or(Error::NoRegion)?;
        Some(Signer::new(&config, region)?)
    } else {
        None
    };
    Ok(Target {
        base_url: trim_base(url),
        origin: Origin::Url,
        signer,
    })
}

fn trim_base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// The SDK config for the CLI's own AWS calls (CloudFormation, Secrets Manager, S3).
pub async fn sdk_config(region: Option<&str>, endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_string()));
    }
    if let Some(endpoint) = endpoint.filter(|e| !e.is_empty()) {
        loader = loader.endpoint_url(endpoint);
        let env = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
        if is_loopback(endpoint) && !env("AWS_ACCESS_KEY_ID") && !env("AWS_PROFILE") {
            loader = loader.credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "backflow-local",
            ));
            if region.is_none() && !env("AWS_REGION") && !env("AWS_DEFAULT_REGION") {
                loader = loader.region(Region::new("us-east-1"));
            }
        }
    }
    loader.load().await
}

/// The `ApiUrl` output of `stack`.
pub async fn stack_api_url(config: &SdkConfig, stack: &str, region: &str) -> Result<String, Error> {
    let cf = aws_sdk_cloudformation::Client::new(config);
    let answer = cf.describe_stacks().stack_name(stack).send().await;
    let out = match answer {
        Ok(out) => out,
        Err(e) => {
            let missing = e.as_service_error().is_some_and(|se| {
                se.code() == Some("ValidationError")
                    && se.message().is_some_and(|m| m.contains("does not exist"))
            });
            if missing {
                return Err(Error::NoStack {
                    stack: stack.to_string(),
                    region: region.to_string(),
                });
            }
            let detail = DisplayErrorContext(&e).to_string();
            if detail.contains("credentials") {
                return Err(Error::NoCredentials { detail });
            }
            return Err(Error::CloudFormation {
                stack: stack.to_string(),
                region: region.to_string(),
                detail,
            });
        }
    };
    let Some(found) = out.stacks().first() else {
        return Err(Error::NoStack {
            stack: stack.to_string(),
            region: region.to_string(),
        });
    };
    find_output(found.outputs(), API_URL_OUTPUT).ok_or_else(|| Error::NoApiUrl {
        stack: stack.to_string(),
        region: region.to_string(),
        outputs: output_names(found.outputs()),
    })
}

fn find_output(outputs: &[Output], key: &str) -> Option<String> {
    outputs
        .iter()
        .find(|o| o.output_key() == Some(key))
        .and_then(|o| o.output_value())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn output_names(outputs: &[Output]) -> String {
    let names: Vec<&str> = outputs.iter().filter_map(|o| o.output_key()).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The host of `url` (no port), lower-cased; `None` when it has none.
pub fn host(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    parsed.host_str().map(str::to_ascii_lowercase)
}

/// The region of an API Gateway URL, `https://<id>.execute-api.<region>.amazonaws.com…`.
pub fn execute_api_region(url: &str) -> Option<String> {
    let host = host(url)?;
    let mut labels = host.split('.');
    let (_id, service, region) = (labels.next()?, labels.next()?, labels.next()?);
    let rest: Vec<&str> = labels.collect();
    let aws = rest == ["amazonaws", "com"] || rest == ["amazonaws", "com", "cn"];
    (service == "execute-api" && aws && !region.is_empty()).then(|| region.to_string())
}

/// The API id of an API Gateway URL (its first host label).
pub fn execute_api_id(url: &str) -> Option<String> {
    execute_api_region(url)?;
    host(url)?.split('.').next().map(str::to_string)
}

/// Whether `url` points at this machine (moto, the local stack).
pub fn is_loopback(url: &str) -> bool {
    let Some(host) = host(url) else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_api_hosts_name_their_region() {
        let cases = [
            (
                "https://a1b2c3.execute-api.eu-west-1.amazonaws.com",
                Some("eu-west-1"),
            ),
            (
                "https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/syncs",
                Some("cn-north-1"),
            ),
            (
                "https://A1.EXECUTE-API.us-east-1.AMAZONAWS.COM/",
                Some("us-east-1"),
            ),
            ("http://127.0.0.1:9000/lambda-url/trigger", None),
            ("https://api.example.com", None),
            (
                "https://x.execute-api.us-east-1.amazonaws.com.evil.org",
                None,
            ),
            ("not a url", None),
        ];
        for (url, want) in cases {
            assert_eq!(execute_api_region(url).as_deref(), want, "{url}");
        }
        assert_eq!(
            execute_api_id("https://a1b2c3.execute-api.eu-west-1.amazonaws.com").as_deref(),
            Some("a1b2c3")
        );
    }

    #[test]
    fn loopback_endpoints() {
        assert!(is_loopback("http://127.0.0.1:5000"));
        assert!(is_loopback("http://localhost:5000"));
        assert!(is_loopback("http://[::1]:5000"));
        assert!(!is_loopback(
            "https://secretsmanager.us-east-1.amazonaws.com"
        ));
        assert!(!is_loopback(""));
    }

    #[test]
    fn outputs_are_found_by_key() {
        let outputs = vec![
            Output::builder()
                .output_key("BucketName")
                .output_value("b")
                .build(),
            Output::builder()
                .output_key("ApiUrl")
                .output_value("https://x.execute-api.us-east-1.amazonaws.com")
                .build(),
        ];
        assert_eq!(
            find_output(&outputs, API_URL_OUTPUT).as_deref(),
            Some("https://x.execute-api.us-east-1.amazonaws.com")
        );
        assert_eq!(find_output(&outputs[..1], API_URL_OUTPUT), None);
        assert_eq!(output_names(&outputs[..1]), "BucketName");
        assert_eq!(output_names(&[]), "none");
    }
}
