//! The shared Intercom call budget: conditional takes, the stored limit, give
//! back, TTL, no token in the table, and two clients sharing it end to end.

use std::time::Duration;

use backflow_aws::budget::{app_id, BUDGET_TTL_SECS};
use backflow_aws::{share_budget, DynamoBudget};
use backflow_core::budget::{after_answer, Answer, Ask, Next, Window};
use backflow_core::retry::RetryPolicy;
use backflow_core::secret::Secret;
use backflow_intercom::CallBudget;
use serde_json::json;

use super::*;

const BASE: &str = "https://api.intercom.io";
const TOKEN: &str = "tok_budget_secret";
const RESET: i64 = 1_700_000_010;

fn window(reset: i64, limit: u32, from_headers: bool) -> Window {
    Window {
        reset,
        limit,
        limit_from_headers: from_headers,
    }
}

fn ask(w: Window, want: u32) -> Ask {
    Ask { window: w, want }
}

impl Fixture {
    fn budget(&self) -> DynamoBudget {
        DynamoBudget::new(
            self.aws.dynamodb.clone(),
            &self.runs_table,
            BASE,
            &Secret::new(TOKEN),
        )
    }

    async fn runs_items(&self) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.aws
            .dynamodb
            .scan()
            .table_name(&self.runs_table)
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn takes_are_conditional_on_the_window_limit() {
    let f = fixture().await;
    let b = f.budget();
    let w = window(RESET, 10, true);
    let granted = |used| Answer::Granted { used };
    assert_eq!(b.take(ask(w, 4)).await.unwrap(), granted(4));
    assert_eq!(b.take(ask(w, 4)).await.unwrap(), granted(8));
    // 8 + 4 > 10: refused, with the count and the limit, nothing taken.
    let refused = b.take(ask(w, 4)).await.unwrap();
    assert_eq!(
        refused,
        Answer::Refused {
            used: 8,
            limit: Some(10)
        }
    );
    assert_eq!(
        after_answer(&ask(w, 4), &refused),
        Next::AskAgain { window: w, used: 8 }
    );
    // The last two calls of the window are still taken.
    assert_eq!(b.take(ask(w, 2)).await.unwrap(), granted(10));
    let spent = b.take(ask(w, 1)).await.unwrap();
    assert_eq!(
        after_answer(&ask(w, 1), &spent),
        Next::WaitUntil(w.next_start_ms())
    );

    // Giving back makes room again; giving back to a window never used is a no-op.
    b.give_back(w, 4).await.unwrap();
    assert_eq!(b.take(ask(w, 4)).await.unwrap(), granted(10));
    b.give_back(window(RESET + 500, 10, true), 3).await.unwrap();

    // Windows are independent.
    let next = window(RESET + 10, 10, true);
    assert_eq!(b.take(ask(next, 10)).await.unwrap(), granted(10));

    // Another token (or workspace) is another app, with its own budget.
    let other = DynamoBudget::new(
        f.aws.dynamodb.clone(),
        &f.runs_table,
        BASE,
        &Secret::new("tok_other"),
    );
    assert_ne!(other.app(), b.app());
    assert_eq!(other.take(ask(w, 10)).await.unwrap(), granted(10));
}

#[tokio::test]
async fn an_assumed_limit_adopts_the_stored_one() {
    let f = fixture().await;
    let b = f.budget();
    // A client that saw the headers stores the limit (5).
    let known = window(RESET, 5, true);
    assert_eq!(
        b.take(ask(known, 3)).await.unwrap(),
        Answer::Granted { used: 3 }
    );
    // One that did not assumes 1,667: refused, told the stored limit, adopts it.
    let assumed = window(RESET, 1667, false);
    let answer = b.take(ask(assumed, 1)).await.unwrap();
    assert_eq!(
        answer,
        Answer::Refused {
            used: 3,
            limit: Some(5)
        }
    );
    let Next::AskAgain {
        window: adopted, ..
    } = after_answer(&ask(assumed, 1), &answer)
    else {
        panic!("expected AskAgain");
    };
    assert_eq!(adopted.limit, 5);
    assert_eq!(
        b.take(ask(adopted, 2)).await.unwrap(),
        Answer::Granted { used: 5 }
    );
    // A window where no limit is stored yet: the assumption is used, and not stored.
    let fresh = window(RESET + 10, 1667, false);
    assert_eq!(
        b.take(ask(fresh, 3)).await.unwrap(),
        Answer::Granted { used: 3 }
    );

    // The items: keyed by the app's hash, TTL an hour after the window, and the
    // token nowhere in the table.
    let items = f.runs_items().await;
    assert_eq!(items.len(), 2, "{items:?}");
    let app = app_id(BASE, &Secret::new(TOKEN));
    for item in &items {
        assert_eq!(
            item["pk"].as_s().unwrap(),
            &format!("BUDGET#{app}"),
            "{item:?}"
        );
        let sk = item["sk"].as_s().unwrap();
        let reset: i64 = sk.strip_prefix("W#").unwrap().parse().unwrap();
        assert_eq!(
            item["expires_at"].as_n().unwrap(),
            &(reset + BUDGET_TTL_SECS).to_string()
        );
        assert!(!format!("{item:?}").contains(TOKEN));
    }
    let first = items
        .iter()
        .find(|i| i["sk"].as_s().unwrap() == &format!("W#{RESET}"))
        .unwrap();
    assert_eq!(first["lim"].as_n().unwrap(), "5");
    assert_eq!(first["used"].as_n().unwrap(), "5");
    let second = items
        .iter()
        .find(|i| i["sk"].as_s().unwrap() == &format!("W#{}", RESET + 10))
        .unwrap();
    assert!(!second.contains_key("lim"), "{second:?}");
}

#[tokio::test]
async fn a_missing_table_is_an_error_naming_it_not_the_token() {
    let f = fixture().await;
    let b = DynamoBudget::new(
        f.aws.dynamodb.clone(),
        "no-such-table",
        BASE,
        &Secret::new(TOKEN),
    );
    let err = b.take(ask(window(RESET, 5, true), 1)).await.unwrap_err();
    assert!(err.0.contains("no-such-table"), "{err}");
    assert!(!err.0.contains(TOKEN), "{err}");
    assert!(b.describe().contains("no-such-table"));
    assert!(!b.describe().contains(TOKEN));
}

/// Two clients (two `load` invocations) on the DynamoDB budget against a rate
/// limit of 6 calls per window: no call is answered 429.
#[tokio::test]
async fn two_clients_share_one_budget_through_dynamodb() {
    let f = fixture().await;
    let emu = intercom_emulator::Emulator::start(
        intercom_emulator::Options {
            tokens: vec![TOKEN.into()],
            rate_limit: 6,
            ..intercom_emulator::Options::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let clients: Vec<backflow_intercom::Client> = (0..2)
        .map(|_| {
            let client = backflow_intercom::Client::new(backflow_intercom::ClientConfig {
                retry: RetryPolicy {
                    max_elapsed: Duration::from_secs(60),
                    ..RetryPolicy::default()
                },
                ..backflow_intercom::ClientConfig::new(emu.base_url(), Secret::new(TOKEN))
            })
            .unwrap();
            share_budget(client, &f.aws.dynamodb, &f.runs_table)
        })
        .collect();
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for i in 0..5 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let body = json!({"company_id": format!("c{c}-{i}")});
                client
                    .upsert_company(body.as_object().unwrap(), None)
                    .await
                    .unwrap()
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for client in &clients {
        client.release_budget().await;
    }
    let stats: serde_json::Value =
        reqwest_get(&format!("{}/_emulator/stats", emu.base_url())).await;
    assert_eq!(
        stats["by_status"]["429"],
        serde_json::Value::Null,
        "{stats}"
    );
    assert_eq!(stats["by_status"]["200"], json!(10), "{stats}");
    for client in &clients {
        let s = client.stats();
        assert_eq!(s.rate_limited, 0);
        assert!(s.budget_writes >= 2, "{s:?}");
    }
    // What the windows counted never exceeds the limit.
    for item in f.runs_items().await {
        let used: u32 = item["used"].as_n().unwrap().parse().unwrap();
        assert!(used <= 6, "{item:?}");
    }
}

async fn reqwest_get(url: &str) -> serde_json::Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}
