//! Custom data attributes: listed once per model, created when missing.

use crate::*;

#[tokio::test]
async fn attributes_are_listed_once_per_model_and_created_when_missing() {
    let (emu, client) = start(plain()).await;
    let spec = |name: &str, model: &str, data_type| AttributeSpec {
        name: name.into(),
        model: model.into(),
        data_type,
    };
    let specs = vec![
        spec("ltv", "contact", DataType::Float),
        spec("trial_ends_at", "contact", DataType::Date),
        spec("seats", "company", DataType::Integer),
    ];
    assert_eq!(
        client.ensure_attributes(&specs, true).await.unwrap(),
        vec![]
    );
    // Again: cached, nothing to create.
    assert_eq!(
        client.ensure_attributes(&specs, true).await.unwrap(),
        vec![]
    );
    let s = stats(&emu).await;
    assert_eq!(route_count(&s, "GET /data_attributes"), 2);
    assert_eq!(route_count(&s, "POST /data_attributes"), 3);

    // The attribute is usable at once.
    let body = map(json!({"custom_attributes": {"ltv": 12.5}}));
    client
        .upsert_contact(KeyField::ExternalId, "u1", None, &body, Role::User)
        .await
        .unwrap();

    // A fresh client (new invocation): problems instead of creates.
    let other = client_for(&emu.base_url(), "tok_test", fast_policy());
    let problems = other
        .ensure_attributes(
            &[
                spec("ltv", "contact", DataType::String),
                spec("brand_new", "contact", DataType::Boolean),
                spec("ltv", "contact", DataType::Float),
                spec("email", "contact", DataType::String),
            ],
            false,
        )
        .await
        .unwrap();
    let codes: Vec<_> = problems
        .iter()
        .map(|p| (p.name.as_str(), p.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("ltv", "attribute_type_mismatch"),
            ("brand_new", "attribute_missing"),
            ("email", "attribute_not_custom"),
        ]
    );
    // A name taken by the other model: Intercom's refusal is the problem.
    let problems = other
        .ensure_attributes(&[spec("seats", "contact", DataType::Integer)], true)
        .await
        .unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].code, "parameter_invalid");
}
