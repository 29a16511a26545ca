//! Subscriptions on contacts and Intercom Custom Objects (issue 16, part 2):
//! what lands in Intercom, read back through its API and the emulator's dump,
//! and what an unknown type name does (fails the run before any write).

use anyhow::Result;
use backflow_scenarios::warehouse::{b, f, s, ts, NULL};
use backflow_scenarios::{
    check, check_eq, Col, Intercom, Profile, RunRecord, RunRequest, Scenario, Stats,
};
use serde_json::{json, Value};

use super::{by_key, only, FEB_01_2024_10H, JAN_15_2024, MAR_04_2024_050607};

/// The emulator's options with `subscription_types` and `custom_object_types`
/// declared, as a workspace admin would in Intercom's settings.
fn declared(subscriptions: &[&str], objects: &[&str]) -> Result<intercom_emulator::Options> {
    let mut opts = Profile::Plain.options();
    for t in subscriptions {
        opts.subscription_types
            .push(intercom_emulator::parse_subscription_type(t).map_err(anyhow::Error::msg)?);
    }
    for t in objects {
        opts.custom_object_types
            .push(intercom_emulator::parse_custom_object_type(t).map_err(anyhow::Error::msg)?);
    }
    Ok(opts)
}

/// The names of the subscription types attached to the contact with
/// `external_id`, read back through Intercom's own `GET /contacts/{id}/subscriptions`.
async fn attached(ic: &Intercom, external_id: &str) -> Result<Vec<String>> {
    let contacts = ic.contacts().await?;
    let id = only(&contacts, "external_id", external_id)?["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let list = ic
        .ok(
            reqwest::Method::GET,
            &format!("/contacts/{id}/subscriptions"),
            None,
        )
        .await?;
    let mut names: Vec<String> = list["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            t["default_translation"]["name"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// A normal run of `sync` to its end, and the calls it made to `ic`.
async fn counted_run(sc: &Scenario, ic: &Intercom, sync: &str) -> Result<(RunRecord, Stats)> {
    let before = ic.stats().await?;
    let r = sc.api.run_to_end(sync, RunRequest::normal()).await?;
    Ok((r, ic.stats().await?.since(&before)))
}

/// A run of `sync` with nothing changed: `rows` unchanged and no write; its calls.
async fn unchanged_run(sc: &Scenario, ic: &Intercom, sync: &str, rows: u64) -> Result<Stats> {
    let (r, delta) = counted_run(sc, ic, sync).await?;
    check_eq!(r.status(), "succeeded", "unchanged run\n{r}");
    check_eq!(r.count("unchanged"), rows, "counts.unchanged\n{r}");
    check_eq!(
        delta.writes(),
        0,
        "writes of an unchanged run: {:?}",
        delta.write_routes()
    );
    Ok(delta)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------
// Subscriptions: opt in / opt out, null leaves it, ids resolved once per run

pub(super) async fn subscriptions_opt_in_and_out(sc: Scenario) -> Result<()> {
    let opts = declared(&["Newsletter", "Beta program:opt_in"], &[])?;
    let (dest, ic) = sc.emulator_with("subs", opts).await?;
    let cols = [
        ("id", Col::Text),
        ("email", Col::Text),
        ("news", Col::Bool),
        ("beta", Col::Bool),
    ];
    let table = sc
        .table(
            "subscribers",
            &cols,
            &[
                // Out of the newsletter (an opt_out type: attached), into the beta (opt_in: attached).
                vec![s("s-1"), s("s1@example.com"), b(false), b(true)],
                // The defaults, said outright: nothing attached.
                vec![s("s-2"), s("s2@example.com"), b(true), b(false)],
                // No preference: left as it is.
                vec![s("s-3"), s("s3@example.com"), NULL, NULL],
                vec![s("s-4"), s("s4@example.com"), b(false), NULL],
            ],
        )
        .await?;
    let sync = sc.add_sync(
        "subscribers",
        &format!("select id, email, news, beta from {table}"),
        json!({
            "destination": dest, "object": "user", "behavior": "update_or_create",
            "key": {"column": "id", "field": "external_id"}, "batch_size": 2,
            "fields": {"email": "email", "subscriptions.Newsletter": "news", "subscriptions.Beta program": "beta"},
        }),
    )?;
    let (r, delta) = counted_run(&sc, &ic, &sync).await?;
    check_eq!(r.status(), "succeeded", "first run\n{r}");
    check_eq!(r.count("created"), 4, "counts.created\n{r}");
    check_eq!(
        attached(&ic, "s-1").await?,
        names(&["Beta program", "Newsletter"]),
        "s-1"
    );
    check_eq!(attached(&ic, "s-2").await?, names(&[]), "s-2");
    check_eq!(attached(&ic, "s-3").await?, names(&[]), "s-3");
    check_eq!(attached(&ic, "s-4").await?, names(&["Newsletter"]), "s-4");
    check_eq!(
        delta.route("GET /subscription_types"),
        1,
        "the types are resolved once per run, not per batch (2 batches): {:?}",
        delta.by_route
    );
    check_eq!(
        delta.route("POST /contacts/{id}/subscriptions"),
        3,
        "one attach per opt-out of the newsletter or opt-in to the beta: {:?}",
        delta.by_route
    );

    // Nothing changed: no call writes.
    unchanged_run(&sc, &ic, &sync, 4).await?;

    // Someone opts s-3 out of the newsletter in Intercom; the model says
    // nothing about s-3's newsletter, so the next run leaves it.
    let contacts = ic.contacts().await?;
    let s3 = only(&contacts, "external_id", "s-3")?["id"].clone();
    let types = ic
        .ok(reqwest::Method::GET, "/subscription_types", None)
        .await?;
    let newsletter = types["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["default_translation"]["name"] == "Newsletter")
        .map(|t| t["id"].clone())
        .unwrap_or(Value::Null);
    ic.ok(
        reqwest::Method::POST,
        &format!(
            "/contacts/{}/subscriptions",
            s3.as_str().unwrap_or_default()
        ),
        Some(json!({"id": newsletter, "consent_type": "opt_out"})),
    )
    .await?;
    sc.sql(&[
        format!("UPDATE {table} SET news = TRUE WHERE id = 's-1'"),
        format!("UPDATE {table} SET beta = TRUE WHERE id = 's-2'"),
        format!("UPDATE {table} SET email = 's3.new@example.com' WHERE id = 's-3'"),
    ])
    .await?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "run after changes\n{r}");
    check_eq!(r.count("updated"), 3, "counts.updated\n{r}");
    check_eq!(
        attached(&ic, "s-1").await?,
        names(&["Beta program"]),
        "s-1 back in the newsletter"
    );
    check_eq!(
        attached(&ic, "s-2").await?,
        names(&["Beta program"]),
        "s-2 opted in to the beta"
    );
    check_eq!(
        attached(&ic, "s-3").await?,
        names(&["Newsletter"]),
        "s-3's own opt-out is left alone"
    );
    check_eq!(
        attached(&ic, "s-4").await?,
        names(&["Newsletter"]),
        "s-4 untouched"
    );

    // A type Intercom does not have fails the run before any write.
    let strangers = sc
        .table(
            "strangers",
            &[
                ("id", Col::Text),
                ("email", Col::Text),
                ("promo", Col::Bool),
            ],
            &[vec![s("x-1"), s("x1@example.com"), b(true)]],
        )
        .await?;
    let unknown = sc.add_sync(
        "unknown_type",
        &format!("select id, email, promo from {strangers}"),
        json!({
            "destination": dest, "object": "user", "behavior": "update_or_create",
            "key": {"column": "id", "field": "external_id"},
            "fields": {"email": "email", "subscriptions.Promotions": "promo"},
        }),
    )?;
    let (r, delta) = counted_run(&sc, &ic, &unknown).await?;
    check_eq!(r.status(), "failed", "an unknown subscription type\n{r}");
    let error = r.error();
    for part in [
        "subscriptions.Promotions",
        "no subscription type named `Promotions`",
        "Newsletter, Beta program",
    ] {
        check!(error.contains(part), "the error names {part:?}: {error}");
    }
    check_eq!(
        delta.writes(),
        0,
        "writes before the failure: {:?}",
        delta.write_routes()
    );
    check!(
        ic.contacts()
            .await?
            .iter()
            .all(|c| c["external_id"] != "x-1"),
        "x-1 was not created"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Custom objects: create, update, delete, mirror by external_id

const ORDER: &str = "Order:amount=float,status=string,paid=boolean,shipped_at=date";

/// The live (not deleted) instances of the dump by `external_id`, and the deleted ones.
async fn instances(ic: &Intercom) -> Result<(Vec<Value>, Vec<Value>)> {
    let all = ic.dump().await?["custom_object_instances"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(all.into_iter().partition(|i| i["deleted"] == false))
}

pub(super) async fn custom_objects_by_external_id(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc
        .emulator_with("objects", declared(&[], &[ORDER])?)
        .await?;
    let cols = [
        ("order_id", Col::Text),
        ("amount", Col::Float),
        ("status", Col::Text),
        ("paid", Col::Bool),
        ("placed", Col::Text),
        ("changed", Col::Timestamp),
        ("shipped", Col::Timestamp),
        ("coupon", Col::Text),
    ];
    let row = |id: &str, amount: f64, status: &str, coupon: Option<&str>| {
        vec![
            s(id),
            f(amount),
            s(status),
            b(amount > 50.0),
            s("2024-01-15T00:00:00Z"),
            ts("2024-03-04 05:06:07"),
            ts("2024-02-01 10:00:00"),
            coupon.map(s).unwrap_or(NULL),
        ]
    };
    let table = sc
        .table(
            "orders",
            &cols,
            &[
                row("o-1", 99.5, "paid", None),
                row("o-2", 12.25, "open", None),
                row("o-3", 40.0, "open", None),
                row("o-4", 75.0, "paid", None),
                // The Order type has no `coupon`: Intercom refuses this one row.
                row("o-5", 5.0, "open", Some("SPRING")),
            ],
        )
        .await?;
    let sync = sc.add_sync(
        "orders",
        &format!(
            "select order_id, amount, status, paid, placed, changed, shipped, coupon from {table}"
        ),
        json!({
            "destination": dest, "object": "custom_object", "custom_object": "Order",
            "behavior": "mirror", "key": {"column": "order_id", "field": "external_id"},
            "fields": {
                "external_created_at": "placed", "external_updated_at": "changed",
                "custom_attributes.amount": "amount", "custom_attributes.status": "status",
                "custom_attributes.paid": "paid", "custom_attributes.shipped_at": "shipped",
                "custom_attributes.coupon": "coupon",
            },
        }),
    )?;
    let (r, delta) = counted_run(&sc, &ic, &sync).await?;
    check_eq!(r.status(), "partial", "first run (one row refused)\n{r}");
    check_eq!(r.count("created"), 4, "counts.created\n{r}");
    check_eq!(r.count("rejected"), 1, "counts.rejected\n{r}");
    let rejected = by_key(&sc.api.rows(r.id(), "rejected").await?);
    let o5 = rejected
        .get("o-5")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or(Value::Null);
    check_eq!(
        o5["code"].as_str(),
        Some("parameter_invalid"),
        "o-5's code: {o5}"
    );
    let reason = o5["reason"].as_str().unwrap_or_default();
    check!(
        reason.contains("Intercom answered 400") && reason.contains("coupon"),
        "o-5's reason is Intercom's: {reason}"
    );
    check_eq!(o5["row"].as_u64(), Some(5), "o-5's row: {o5}");
    check_eq!(
        delta.route("POST /data_attributes") + delta.route("GET /data_attributes"),
        0,
        "a custom object's attributes are its type's: none is read or created ({:?})",
        delta.by_route
    );
    let (live, _) = instances(&ic).await?;
    check_eq!(live.len(), 4, "live instances: {live:?}");
    let o1 = only(&live, "external_id", "o-1")?;
    check_eq!(o1["type"], json!("Order"), "o-1's type");
    check_eq!(
        o1["custom_attributes"],
        json!({"amount": 99.5, "status": "paid", "paid": true, "shipped_at": FEB_01_2024_10H}),
        "o-1's attributes"
    );
    check_eq!(
        o1["external_created_at"],
        json!(JAN_15_2024),
        "o-1 external_created_at"
    );
    check_eq!(
        o1["external_updated_at"],
        json!(MAR_04_2024_050607),
        "o-1 external_updated_at"
    );
    let o2_id = only(&live, "external_id", "o-2")?["id"].clone();

    // o-5 fixed, o-2 changed: one create, one update, three unchanged.
    sc.sql(&[
        format!("UPDATE {table} SET coupon = NULL WHERE order_id = 'o-5'"),
        // One column per UPDATE: the BigQuery stand-in rewrites the table per statement.
        format!("UPDATE {table} SET amount = 15.75 WHERE order_id = 'o-2'"),
        format!("UPDATE {table} SET status = 'paid' WHERE order_id = 'o-2'"),
    ])
    .await?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "second run\n{r}");
    check_eq!(
        (r.count("created"), r.count("updated"), r.count("unchanged")),
        (1, 1, 3),
        "created, updated, unchanged\n{r}"
    );
    let (live, _) = instances(&ic).await?;
    check_eq!(live.len(), 5, "live instances: {live:?}");
    let o2 = only(&live, "external_id", "o-2")?;
    check_eq!(o2["id"], o2_id, "o-2 updated in place");
    check_eq!(
        o2["custom_attributes"]["amount"],
        json!(15.75),
        "o-2 amount"
    );
    check_eq!(
        o2["custom_attributes"]["status"],
        json!("paid"),
        "o-2 status"
    );

    // No change: no call to the instances but the one read that checks the type.
    let delta = unchanged_run(&sc, &ic, &sync, 5).await?;
    let instance_calls: u64 = delta
        .by_route
        .iter()
        .filter(|(route, _)| route.contains("/custom_object_instances"))
        .map(|(_, n)| n)
        .sum();
    check_eq!(
        instance_calls,
        1,
        "instance calls of an unchanged run (the type check): {:?}",
        delta.by_route
    );

    // o-4 leaves the model: the mirror deletes it by external_id.
    sc.sql(&[format!("DELETE FROM {table} WHERE order_id = 'o-4'")])
        .await?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "mirror removal\n{r}");
    check_eq!(r.count("deleted"), 1, "counts.deleted\n{r}");
    let (live, deleted) = instances(&ic).await?;
    check_eq!(live.len(), 4, "live instances: {live:?}");
    only(&deleted, "external_id", "o-4")?;

    // `delete`: the rows name instances to remove; one that is not there is not found.
    let gone = sc
        .table(
            "gone",
            &[("ext", Col::Text)],
            &[vec![s("o-3")], vec![s("o-404")]],
        )
        .await?;
    let delete = sc.add_sync(
        "delete",
        &format!("select ext from {gone}"),
        json!({
            "destination": dest, "object": "custom_object", "custom_object": "Order",
            "behavior": "delete", "key": {"column": "ext", "field": "external_id"},
        }),
    )?;
    let r = sc.api.run_to_end(&delete, RunRequest::normal()).await?;
    check_eq!(r.status(), "partial", "delete run\n{r}");
    check_eq!(
        (r.count("deleted"), r.count("not_found")),
        (1, 1),
        "deleted, not_found\n{r}"
    );
    let (live, deleted) = instances(&ic).await?;
    let mut left: Vec<&str> = live
        .iter()
        .filter_map(|i| i["external_id"].as_str())
        .collect();
    left.sort();
    check_eq!(
        left,
        vec!["o-1", "o-2", "o-5"],
        "live instances after the delete"
    );
    only(&deleted, "external_id", "o-3")?;

    // A type Intercom does not have fails the run before any write.
    let unknown = sc.add_sync(
        "unknown_type",
        &format!("select order_id, amount from {table}"),
        json!({
            "destination": dest, "object": "custom_object", "custom_object": "Invoice",
            "behavior": "update_or_create", "key": {"column": "order_id", "field": "external_id"},
            "fields": {"custom_attributes.amount": "amount"},
        }),
    )?;
    let (r, delta) = counted_run(&sc, &ic, &unknown).await?;
    check_eq!(r.status(), "failed", "an unknown custom object type\n{r}");
    let error = r.error();
    check!(
        error.contains("no Custom Object type `Invoice`"),
        "the error names the type: {error}"
    );
    check_eq!(
        delta.writes(),
        0,
        "writes before the failure: {:?}",
        delta.write_routes()
    );
    Ok(())
}
