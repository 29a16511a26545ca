//! Bad config: each mistake refused with a message that names it, before
//! any write.

use std::time::Duration;

use anyhow::{Context, Result};
use backflow_scenarios::warehouse::s;
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario};
use serde_json::json;

use super::user_spec;

// 10. bad config (isolated: the last cases write a config no run can start under)

/// How a [`BadConfig`] case is refused.
enum Refusal {
    /// `POST /syncs/{sync}/runs` answers this status with an error envelope.
    Status(u16),
    /// The run starts and ends `failed`.
    RunFails,
    /// Either the API refuses the run (status ≥ 400) or the run ends `failed`.
    RefusedOrFails,
}

/// One way to get the config wrong, and what a user gets back instead of a run.
struct BadConfig<'a> {
    /// What is wrong; names the case in every failure message.
    case: &'static str,
    /// Writes the broken config (nothing, for an unknown sync); returns the sync to start.
    setup: Box<dyn Fn() -> Result<String> + Send + Sync + 'a>,
    refusal: Refusal,
    /// What the refusal's message must name (the sync, column, secret, key or variable).
    names: String,
}

pub(super) async fn bad_config(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let table = sc
        .table(
            "people",
            &[("id", Col::Text), ("email", Col::Text)],
            &[vec![s("p-1"), s("p1@example.com")]],
        )
        .await?;
    let select = format!("select id, email from {table}");
    let no_secret = format!("{}_no_secret", sc.name);
    let missing_secret = format!("bfscn-no-such-secret-{}/intercom", std::process::id());

    // The cases run in this order, each on top of the config the previous ones
    // left. The last two make the whole config invalid, so they come last; the
    // unset variable replaces the unknown key in the same sync.
    let cases = vec![
        BadConfig {
            case: "an unknown sync",
            setup: Box::new(|| Ok(sc.sync("no_such_sync"))),
            refusal: Refusal::Status(404),
            names: sc.sync("no_such_sync"),
        },
        BadConfig {
            case: "a mapping to a missing column",
            setup: Box::new(|| {
                sc.add_sync(
                    "missing_mapped",
                    &select,
                    user_spec(
                        &dest,
                        "id",
                        "external_id",
                        json!({"email": "email", "name": "no_such_col"}),
                    ),
                )
            }),
            refusal: Refusal::RunFails,
            names: "no_such_col".into(),
        },
        BadConfig {
            case: "a model selecting a missing column",
            setup: Box::new(|| {
                sc.add_sync(
                    "missing_selected",
                    &format!("select id, email, missing_col2 from {table}"),
                    user_spec(
                        &dest,
                        "id",
                        "external_id",
                        json!({"email": "email", "name": "missing_col2"}),
                    ),
                )
            }),
            refusal: Refusal::RunFails,
            names: "missing_col2".into(),
        },
        BadConfig {
            case: "a destination whose secret is missing",
            setup: Box::new(|| {
                sc.stack.register(
                    &[(
                        no_secret.clone(),
                        backflow_scenarios::config::destination_with_secret(
                            ic.base_url(),
                            &missing_secret,
                        ),
                    )],
                    &[],
                    &[],
                )?;
                sc.add_sync(
                    "missing_secret",
                    &select,
                    user_spec(&no_secret, "id", "external_id", json!({"email": "email"})),
                )
            }),
            refusal: Refusal::RunFails,
            names: missing_secret.clone(),
        },
        BadConfig {
            case: "a config with an unknown key",
            setup: Box::new(|| {
                let good = sc.add_sync(
                    "good",
                    &select,
                    user_spec(&dest, "id", "external_id", json!({"email": "email"})),
                )?;
                sc.stack
                    .patch_sync(&good, |v| v["behaviour_typo"] = json!("mirror"))?;
                Ok(good)
            }),
            refusal: Refusal::RefusedOrFails,
            names: "behaviour_typo".into(),
        },
        BadConfig {
            case: "a config naming an unset variable (`${VAR}`)",
            setup: Box::new(|| {
                let good = sc.sync("good");
                sc.stack.patch_sync(&good, |v| {
                    if let Some(o) = v.as_object_mut() {
                        o.remove("behaviour_typo");
                    }
                    v["fields"]["name"] = json!("${BFSCN_UNSET_VARIABLE}");
                })?;
                Ok(good)
            }),
            refusal: Refusal::RefusedOrFails,
            names: "BFSCN_UNSET_VARIABLE".into(),
        },
    ];

    for BadConfig {
        case,
        setup,
        refusal,
        names,
    } in cases
    {
        let sync = setup().with_context(|| format!("{case}: writing the config"))?;
        let message = match refusal {
            Refusal::Status(code) => {
                let ans = sc.api.start(&sync, RunRequest::normal()).await?;
                check_eq!(
                    ans.status,
                    code,
                    "{case}: POST /syncs/{sync}/runs: {}",
                    ans.text
                );
                check!(
                    ans.body["error"]["code"].is_string()
                        && ans.body["error"]["message"].is_string(),
                    "{case}: error envelope: {}",
                    ans.text
                );
                ans.error_message()
            }
            Refusal::RunFails => {
                let r = sc
                    .api
                    .run_to_end(&sync, RunRequest::normal())
                    .await
                    .with_context(|| case)?;
                check_eq!(r.status(), "failed", "{case}\n{r}");
                r.error()
            }
            Refusal::RefusedOrFails => {
                let ans = sc.api.start(&sync, RunRequest::normal()).await?;
                if ans.status == 202 {
                    let id = ans.body["run_id"].as_str().unwrap_or_default().to_string();
                    let r = sc.api.wait(&id, Duration::from_secs(120)).await?;
                    check_eq!(r.status(), "failed", "{case}: the run\n{r}");
                    r.error()
                } else {
                    check!(
                        ans.status >= 400,
                        "{case}: the run is refused: {} {}",
                        ans.status,
                        ans.text
                    );
                    ans.error_message()
                }
            }
        };
        check!(
            message.contains(&names),
            "{case}: the error names {names:?}: {message:?}"
        );
        let stats = ic.stats().await?;
        check!(
            stats.writes() == 0,
            "{case}: nothing written to Intercom: {:?}",
            stats.write_routes()
        );
        check!(ic.contacts().await?.is_empty(), "{case}: no contacts");
    }
    Ok(())
}
