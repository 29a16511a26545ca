//! The planner's rules, on rows planned as `extract` plans them.

use super::*;
use backflow_core::config::parse;
use backflow_core::value::{Column, ColumnKind};

fn spec(sync_yaml: &str) -> SyncSpec {
    let text = format!(
        "warehouse: {{type: sqlite, path: w.db}}\n\
         destinations:\n  ic: {{type: intercom, access_token: {{secret: s, key: k}}}}\n\
         models:\n  m: {{sql: select 1}}\n\
         syncs:\n  s:\n{sync_yaml}"
    );
    let config = parse(&text, "test.yaml", &|_| None).expect("config parses");
    config.syncs["s"].clone()
}

fn users() -> SyncSpec {
    spec(
        "    model: m\n    destination: ic\n    object: user\n    behavior: mirror\n\
         \x20   key: {column: id, field: external_id}\n    batch_size: 2\n\
         \x20   fields: {email: email}\n",
    )
}

fn columns() -> Vec<Column> {
    vec![
        Column {
            name: "id".into(),
            kind: ColumnKind::Text,
        },
        Column {
            name: "email".into(),
            kind: ColumnKind::Text,
        },
    ]
}

fn row(id: Option<&str>, email: &str) -> Vec<Value> {
    vec![
        id.map_or(Value::Null, |i| Value::Text(i.into())),
        Value::Text(email.into()),
    ]
}

type Planned<'a> = (
    Planner<'a>,
    Vec<(u32, Vec<BatchItem>)>,
    Vec<(String, Prior)>,
);

/// Plans `rows` as `extract` does: the state of each key from `prior`, a row
/// in order when its key is ≥ the largest key before it. Returns the planner,
/// the batches cut on the way, and the keys of `prior` no row claimed.
fn run<'a>(spec: &'a SyncSpec, rows: &[Vec<Value>], prior: &HashMap<String, Prior>) -> Planned<'a> {
    let mut mapper = Mapper::new("s", spec, &columns()).unwrap();
    let mut planner = Planner::new(spec, false);
    let mut batches = Vec::new();
    let mut last: Option<String> = None;
    let mut claimed = std::collections::HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        let key = planner.key_of(&mapper, r);
        let in_order = key
            .as_ref()
            .is_some_and(|k| planner.regular(k) && last.as_ref().is_none_or(|l| k >= l));
        if in_order {
            last.clone_from(&key);
        }
        let entry = key.as_ref().and_then(|k| prior.get(k).cloned());
        claimed.extend(key.clone());
        planner.push(i as u64 + 1, r, key, entry, in_order, &mut mapper);
        batches.extend(planner.take_batch(false));
    }
    let mut left: Vec<(String, Prior)> = prior
        .iter()
        .filter(|(k, _)| !claimed.contains(*k))
        .map(|(k, p)| (k.clone(), p.clone()))
        .collect();
    left.sort_by(|a, b| a.0.cmp(&b.0));
    (planner, batches, left)
}

#[test]
fn batches_are_cut_at_batch_size() {
    let spec = users();
    let rows: Vec<_> = (0..5)
        .map(|i| row(Some(&format!("u{i}")), &format!("u{i}@x.io")))
        .collect();
    let (mut planner, mut batches, _) = run(&spec, &rows, &HashMap::new());
    batches.extend(planner.take_batch(true));
    let sizes: Vec<(u32, usize)> = batches.iter().map(|(s, b)| (*s, b.len())).collect();
    assert_eq!(sizes, vec![(0, 2), (1, 2), (2, 1)]);
    assert_eq!(planner.plan.create, 5);
}

#[test]
fn a_duplicate_key_makes_both_rows_invalid_even_after_the_first_was_written() {
    let spec = users();
    // Sorted by key, as the warehouse returns them.
    let rows = vec![
        row(None, "n@x.io"),
        row(Some("a"), "a@x.io"),
        row(Some("b"), "b@x.io"),  // batch 0 = [a, b] is written here
        row(Some("b"), "b2@x.io"), // b was written: goes to the skip list
        row(Some("c"), "c@x.io"),
        row(Some("c"), "c2@x.io"), // c is still buffered: dropped from the batch
    ];
    let (mut planner, mut batches, _) = run(&spec, &rows, &HashMap::new());
    batches.extend(planner.take_batch(true));
    let keys: Vec<Vec<String>> = batches
        .iter()
        .map(|(_, b)| b.iter().map(|i| i.key.clone()).collect())
        .collect();
    assert_eq!(keys, vec![vec!["a".to_string(), "b".to_string()]]);
    assert_eq!(planner.skip, vec!["b".to_string()]);
    let invalid = planner.take_invalid();
    let mut rows: Vec<(Option<String>, Option<u64>)> =
        invalid.iter().map(|r| (r.key.clone(), r.row)).collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (None, Some(1)),
            (Some("b".into()), Some(3)),
            (Some("b".into()), Some(4)),
            (Some("c".into()), Some(5)),
            (Some("c".into()), Some(6)),
        ]
    );
    assert!(invalid
        .iter()
        .any(|r| r.reason.contains("appears more than once")));
    assert_eq!(
        (planner.plan.create, planner.plan.invalid),
        (1, 5),
        "{:?}",
        planner.plan
    );
}

#[test]
fn sorted_rows_keep_one_key_in_memory_and_keys_out_of_order_are_remembered() {
    let spec = users();
    let mut rows: Vec<_> = (0..1000)
        .map(|i| row(Some(&format!("k{i:04}")), &format!("u{i}@x.io")))
        .collect();
    // Out of order: "a" comes after "k…", and again in a later row.
    rows.push(row(Some("a"), "a@x.io"));
    rows.push(row(Some("z"), "z@x.io"));
    rows.push(row(Some("a"), "a2@x.io"));
    let (planner, _, _) = run(&spec, &rows, &HashMap::new());
    assert!(
        planner.seen.len() <= 2,
        "remembered {} keys for 1,003 sorted rows",
        planner.seen.len()
    );
    let mut invalid: Vec<_> = planner.invalid.iter().map(|r| r.row).collect();
    invalid.sort();
    assert_eq!(invalid, vec![Some(1001), Some(1003)]);
}

#[test]
fn unchanged_rows_are_not_batched_and_mirror_removes_what_left() {
    let spec = users();
    let mut mapper = Mapper::new("s", &spec, &columns()).unwrap();
    let same = mapper
        .map(1, &row(Some("a"), "a@x.io"))
        .unwrap()
        .fingerprint;
    let active = |fp| Prior {
        intercom_id: Some("ic".into()),
        fingerprint: fp,
        status: RecordStatus::Active,
        remembered: Default::default(),
    };
    let mut prior: HashMap<String, Prior> = (0..20)
        .map(|i| (format!("gone{i}"), active(None)))
        .collect();
    prior.insert("a".into(), active(Some(same)));
    let (mut planner, batches, left) = run(&spec, &[row(Some("a"), "a@x.io")], &prior);
    assert!(batches.is_empty());
    assert_eq!(planner.plan.unchanged, 1);
    // 20 of 21 would go: more than 10 %, refused before anything is batched.
    let err = planner.removals(left.clone(), 21, false).unwrap_err();
    assert!(err.contains("allow_mass_removal"), "{err}");
    assert_eq!(planner.buffered(), 0);
    planner.removals(left, 21, true).unwrap();
    let (_, items) = planner.take_batch(true).unwrap();
    assert_eq!(items.len(), 20);
    assert!(items
        .iter()
        .all(|i| i.action == Action::Archive && i.intercom_id.as_deref() == Some("ic")));
}

#[test]
fn email_keys_are_remembered_case_insensitively() {
    assert_eq!(state_key(KeyField::Email, " Ada@X.io ".into()), "ada@x.io");
    assert_eq!(state_key(KeyField::ExternalId, "Ada".into()), "Ada");
    // Kept as it came, and the characters the quick check must not pass: a
    // title-case letter is not upper-case but does fold; a vertical tab and a
    // no-break space are trimmed.
    assert_eq!(state_key(KeyField::Email, "ada@x.io".into()), "ada@x.io");
    assert_eq!(state_key(KeyField::Email, "ǅa@x.io".into()), "ǆa@x.io");
    assert_eq!(
        state_key(KeyField::Email, "ada@x.io\u{b}".into()),
        "ada@x.io"
    );
    assert_eq!(
        state_key(KeyField::Email, "\u{a0}ada@x.io".into()),
        "ada@x.io"
    );
}

/// A row whose tags are what backflow applied is unchanged; one whose tags
/// changed (body the same) is an update that skips the body write; one whose
/// body changed too writes both.
#[test]
fn a_tag_change_alone_is_an_update_without_a_body_write() {
    use backflow_core::tags::{Memo, Remembered};
    let spec = spec(
        "    model: m\n    destination: ic\n    object: user\n    behavior: update_or_create\n\
         \x20   key: {column: id, field: external_id}\n\
         \x20   fields: {name: email, tags: email}\n",
    );
    let mut mapper = Mapper::new("s", &spec, &columns()).unwrap();
    let mapped = mapper.map(1, &row(Some("a"), "vip,beta")).unwrap();
    let remembered = |tags: &[&str]| Remembered {
        tags: Memo::of_tags(&tags.iter().map(|t| t.to_string()).collect::<Vec<_>>()),
        companies: Memo::default(),
    };
    let prior = |fp, tags: &[&str]| Prior {
        intercom_id: Some("ic".into()),
        fingerprint: Some(fp),
        status: RecordStatus::Active,
        remembered: remembered(tags),
    };
    let fp = mapped.fingerprint;
    let plan_one = |p: Prior| {
        let prior = HashMap::from([("a".to_string(), p)]);
        let (mut planner, _, _) = run(&spec, &[row(Some("a"), "vip,beta")], &prior);
        let batch = planner.take_batch(true);
        (planner.plan, batch.map(|(_, items)| items))
    };
    let (plan, batch) = plan_one(prior(fp, &["BETA", "vip"]));
    assert_eq!((plan.unchanged, batch), (1, None));
    let (plan, batch) = plan_one(prior(fp, &["vip", "old"]));
    assert_eq!(plan.update, 1);
    let item = &batch.unwrap()[0];
    assert!(item.lists.body_unchanged);
    assert_eq!(item.lists.row.tags.as_deref().unwrap(), ["vip", "beta"]);
    assert_eq!(item.lists.remembered, remembered(&["vip", "old"]));
    let other = backflow_core::fingerprint::Fingerprint(7);
    let (plan, batch) = plan_one(prior(other, &["vip", "old"]));
    assert_eq!(plan.update, 1);
    assert!(!batch.unwrap()[0].lists.body_unchanged);
}
