//! Row order does not matter: the same rows in any order, planned through the
//! merge join and the planner exactly as a run plans them ([`plan_row`]), give
//! the same plan — the same action per key, the same counts, the same invalid
//! keys and the same removals — with state present so that creates, updates,
//! unchanged rows, removals and a duplicate key all occur. (Rows of one key
//! stay neighbours, as a warehouse's `ORDER BY` keeps them: see the test.)

use std::collections::{BTreeMap, HashMap};

use backflow_core::batch::BatchItem;
use backflow_core::config::{parse, SyncSpec};
use backflow_core::plan::{Action, PlanCounts, Prior, RecordStatus};
use backflow_core::value::{Column, ColumnKind};

use super::*;

/// State served in pages of `page` keys, in key order, as a DynamoDB Query does.
struct State {
    items: Vec<(String, Prior)>,
    page: usize,
    next: usize,
}

impl StateSource for State {
    type Error = std::convert::Infallible;
    async fn next_page(&mut self) -> Result<Option<Vec<(String, Prior)>>, Self::Error> {
        if self.next >= self.items.len() {
            return Ok(None);
        }
        let end = (self.next + self.page).min(self.items.len());
        let page = self.items[self.next..end].to_vec();
        self.next = end;
        Ok(Some(page))
    }
    async fn get(&mut self, key: &str) -> Result<Option<Prior>, Self::Error> {
        Ok(self
            .items
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, p)| p.clone()))
    }
}

fn users_mirror() -> SyncSpec {
    let text = "warehouse: {type: sqlite, path: w.db}\n\
         destinations:\n  ic: {type: intercom, access_token: {secret: s, key: k}}\n\
         models:\n  m: {sql: select 1}\n\
         syncs:\n  s:\n    model: m\n    destination: ic\n    object: user\n    behavior: mirror\n\
         \x20   key: {column: id, field: external_id}\n    batch_size: 4\n\
         \x20   fields: {email: email}\n";
    let config = parse(text, "test.yaml", &|_| None).expect("config parses");
    config.syncs["s"].clone()
}

fn columns() -> Vec<Column> {
    ["id", "email"]
        .iter()
        .map(|n| Column {
            name: n.to_string(),
            kind: ColumnKind::Text,
        })
        .collect()
}

fn row(id: Option<&str>, email: &str) -> Vec<Value> {
    vec![
        id.map_or(Value::Null, |i| Value::Text(i.into())),
        Value::Text(email.into()),
    ]
}

/// A run's plan, as `load` will see it.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    /// Per key, what is sent (rows a later duplicate cancelled left out).
    actions: BTreeMap<String, Action>,
    counts: PlanCounts,
    /// Keys of the invalid rows, sorted (a null key as "").
    invalid: Vec<String>,
}

/// Plans `rows` (in the order given) against `state` (sorted by key), served in
/// pages of `page`, through [`plan_row`] and the mirror's removals.
async fn plan(
    spec: &SyncSpec,
    rows: &[Vec<Value>],
    state: &[(String, Prior)],
    page: usize,
) -> Plan {
    let mut mapper = Mapper::new("s", spec, &columns()).expect("mapper");
    let mut planner = Planner::new(spec, false);
    let source = State {
        items: state.to_vec(),
        page,
        next: 0,
    };
    let mut merge = Merge::new(source, true);
    let mut items: Vec<BatchItem> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let Ok(()) = plan_row(&mut merge, &mut planner, &mut mapper, i as u64 + 1, r).await;
        items.extend(planner.take_batch(false).into_iter().flat_map(|(_, b)| b));
    }
    let Ok(walked) = merge.finish().await;
    planner
        .removals(walked.removals, walked.previously_active, true)
        .expect("mass removal allowed");
    while let Some((_, b)) = planner.take_batch(true) {
        items.extend(b);
    }
    let mut actions = BTreeMap::new();
    for item in items {
        if planner.skip.contains(&item.key) {
            continue;
        }
        let again = actions.insert(item.key.clone(), item.action);
        assert!(again.is_none(), "key {} sent twice in one run", item.key);
    }
    let mut invalid: Vec<String> = planner
        .take_invalid()
        .into_iter()
        .map(|r| r.key.unwrap_or_default())
        .collect();
    invalid.sort();
    Plan {
        actions,
        counts: planner.plan,
        invalid,
    }
}

/// Fisher–Yates with a small LCG: a repeatable shuffle per seed.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..out.len()).rev() {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.swap(i, (s >> 33) as usize % (i + 1));
    }
    out
}

/// Keys `k00`..`k39` synced before (one active state item each, with the
/// fingerprint a confirmed write leaves); then the model has `k00`–`k09`
/// changed, `k10`–`k29` as they were, `k30`–`k39` gone, `n00`–`n09` new, the
/// key `dup` twice and a row without a key.
async fn prior_state_and_model(spec: &SyncSpec) -> (Vec<(String, Prior)>, Vec<Vec<Value>>) {
    let first: Vec<Vec<Value>> = (0..40)
        .map(|n| row(Some(&format!("k{n:02}")), &format!("k{n}@x.io")))
        .collect();
    let mut mapper = Mapper::new("s", spec, &columns()).expect("mapper");
    let mut planner = Planner::new(spec, false);
    let mut state: HashMap<String, Prior> = HashMap::new();
    for (i, r) in first.iter().enumerate() {
        let key = planner.key_of(&mapper, r);
        planner.push(i as u64 + 1, r, key, None, true, &mut mapper);
    }
    while let Some((_, b)) = planner.take_batch(true) {
        for item in b {
            state.insert(
                item.key.clone(),
                Prior {
                    intercom_id: Some(format!("ic-{}", item.key)),
                    fingerprint: item.fingerprint,
                    status: RecordStatus::Active,
                    remembered: Default::default(),
                },
            );
        }
    }
    let mut state: Vec<(String, Prior)> = state.into_iter().collect();
    state.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(state.len(), 40, "the first run synced every key");

    let mut model: Vec<Vec<Value>> = Vec::new();
    for n in 0..30 {
        let email = if n < 10 {
            format!("k{n}-changed@x.io")
        } else {
            format!("k{n}@x.io")
        };
        model.push(row(Some(&format!("k{n:02}")), &email));
    }
    for n in 0..10 {
        model.push(row(Some(&format!("n{n:02}")), &format!("n{n}@x.io")));
    }
    model.push(row(Some("dup"), "dup1@x.io"));
    model.push(row(Some("dup"), "dup2@x.io"));
    model.push(row(None, "nokey@x.io"));
    (state, model)
}

#[tokio::test]
async fn a_shuffled_model_gives_the_same_plan() {
    let spec = users_mirror();
    let (state, mut model) = prior_state_and_model(&spec).await;
    // The order the warehouse gives: sorted by key (a null key first).
    model.sort_by(|a, b| format!("{:?}", a[0]).cmp(&format!("{:?}", b[0])));
    let sorted = plan(&spec, &model, &state, 5).await;

    // What that plan is, so the comparison below cannot pass on two empty plans.
    let expected_counts = PlanCounts {
        create: 10,
        update: 10,
        archive: 10,
        unchanged: 20,
        invalid: 3,
        ..PlanCounts::default()
    };
    assert_eq!(sorted.counts, expected_counts, "{sorted:#?}");
    let of = |a: Action| -> Vec<&str> {
        sorted
            .actions
            .iter()
            .filter(|(_, x)| **x == a)
            .map(|(k, _)| k.as_str())
            .collect()
    };
    let keys = |prefix: &str, range: std::ops::Range<u32>| -> Vec<String> {
        range.map(|n| format!("{prefix}{n:02}")).collect()
    };
    assert_eq!(of(Action::Update), keys("k", 0..10));
    assert_eq!(of(Action::Archive), keys("k", 30..40));
    assert_eq!(of(Action::Create), keys("n", 0..10));
    assert_eq!(sorted.actions.len(), 30, "unchanged rows are not sent");
    assert_eq!(sorted.invalid, ["", "dup", "dup"]);

    // Rows with one key stay neighbours, as in any warehouse's ORDER BY key
    // (equal keys sort together, whatever the collation): that is how a
    // duplicate is found without remembering every key. Everything else comes
    // in any order.
    let mut groups: Vec<Vec<Vec<Value>>> = Vec::new();
    for r in &model {
        match groups.last_mut() {
            Some(g) if g[0][0] == r[0] => g.push(r.clone()),
            _ => groups.push(vec![r.clone()]),
        }
    }
    for seed in 0..60u64 {
        let rows: Vec<Vec<Value>> = shuffled(&groups, seed)
            .into_iter()
            .flat_map(|g| shuffled(&g, seed))
            .collect();
        for page in [1, 3, 100] {
            let got = plan(&spec, &rows, &state, page).await;
            assert_eq!(
                got, sorted,
                "seed {seed}, state pages of {page}: a shuffled model planned differently"
            );
        }
    }
}
