//! The SDK clients, built once per cold start.
//!
//! Each function's `main` calls [`Aws::from_env`] before `lambda_runtime::run`, so the
//! clients (and their TLS connections) are reused by every warm invocation.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The AWS clients backflow uses.
#[derive(Debug, Clone)]
pub struct Aws {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub lambda: aws_sdk_lambda::Client,
    /// Alerts (`alerts:` on a sync).
    pub sns: aws_sdk_sns::Client,
}

impl Aws {
    /// The standard credential/region chain. Endpoints come from `AWS_ENDPOINT_URL` /
    /// `AWS_ENDPOINT_URL_<SERVICE>` (read by the SDK itself); when either the global or
    /// the S3 override is set (moto, MinIO), S3 uses path-style addressing, because
    /// `bucket.127.0.0.1:5000` does not resolve.
    pub async fn from_env() -> Aws {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let custom_s3 = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()));
        Aws::from_config(&config, None, custom_s3)
    }

    /// Clients for one endpoint (a moto server in tests) with dummy credentials and
    /// region `us-east-1`, independent of the process environment's `AWS_*` settings
    /// for region, credentials and endpoints (the endpoint is set on each service's
    /// config, because `AWS_ENDPOINT_URL_<SERVICE>` would otherwise win over the
    /// shared config's).
    pub async fn for_endpoint(url: &str) -> Aws {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "backflow-test",
            ))
            .load()
            .await;
        Aws::from_config(&config, Some(url), true)
    }

    fn from_config(config: &SdkConfig, endpoint: Option<&str>, s3_path_style: bool) -> Aws {
        // `set_endpoint_url(None)` would drop the endpoint found in the environment,
        // so only override when asked to.
        let mut s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(s3_path_style);
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(config);
        let mut secrets = aws_sdk_secretsmanager::config::Builder::from(config);
        let mut lambda = aws_sdk_lambda::config::Builder::from(config);
        let mut sns = aws_sdk_sns::config::Builder::from(config);
        if let Some(url) = endpoint {
            sns = sns.endpoint_url(url);
            s3 = s3.endpoint_url(url);
            dynamodb = dynamodb.endpoint_url(url);
            secrets = secrets.endpoint_url(url);
            lambda = lambda.endpoint_url(url);
        }
        Aws {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            secrets: aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
            lambda: aws_sdk_lambda::Client::from_conf(lambda.build()),
            sns: aws_sdk_sns::Client::from_conf(sns.build()),
        }
    }
}
