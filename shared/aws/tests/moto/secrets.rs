//! Secrets Manager references.

use super::*;

#[tokio::test]
async fn secrets_resolve_and_errors_never_show_values() {
    let f = fixture().await;
    let sm = &f.aws.secrets;
    for (name, text) in [
        (
            "backflow/intercom",
            r#"{"access_token":"tok_live_123","port":5432}"#,
        ),
        ("raw", "tok_raw_456"),
    ] {
        sm.create_secret()
            .name(name)
            .secret_string(text)
            .send()
            .await
            .unwrap();
    }
    let secrets = Secrets::new(sm.clone());
    let r = |secret: &str, key: &str| SecretRef {
        secret: secret.into(),
        key: key.into(),
    };

    let token = secrets
        .get(&r("backflow/intercom", "access_token"))
        .await
        .unwrap();
    assert_eq!(token.expose(), "tok_live_123");

    let errors = [
        (
            secrets.get(&r("backflow/intercom", "nope")).await,
            "secret `backflow/intercom` has no key `nope`",
        ),
        (
            secrets.get(&r("x", "access_token")).await,
            "secret `x` not found",
        ),
        (
            secrets.get(&r("backflow/intercom", "port")).await,
            "secret `backflow/intercom`: key `port` holds a number, expected a string",
        ),
    ];
    for (result, expected) in errors {
        assert_eq!(result.unwrap_err().to_string(), expected);
    }
    let err = secrets.get(&r("raw", "k")).await.unwrap_err().to_string();
    assert!(
        err.starts_with("secret `raw`: SecretString is not valid JSON"),
        "{err}"
    );
    assert!(!err.contains("tok_raw_456") && !format!("{secrets:?}").contains("tok_"));

    // Cached for the invocation: a deleted secret is still served until `clear`.
    sm.delete_secret()
        .secret_id("backflow/intercom")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert!(secrets
        .get(&r("backflow/intercom", "access_token"))
        .await
        .is_ok());
    secrets.clear();
    assert!(matches!(
        secrets.get(&r("backflow/intercom", "access_token")).await,
        Err(Error::SecretNotFound { .. })
    ));
}
