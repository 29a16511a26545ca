//! `backflow validate` without a stack: every config under `examples/` is
//! valid (what `make demo` runs must parse, models' files included); on
//! `after:` chains, a cycle is refused naming the syncs on it (exit 1), a
//! chain is valid (exit 0).

use crate::{backflow, show};

fn config(users_after: &str) -> String {
    format!(
        r#"warehouse:
  type: sqlite
  path: warehouse.db
destinations:
  intercom:
    type: intercom
    access_token: {{ secret: backflow/intercom, key: access_token }}
models:
  companies:
    sql: select company_id from companies
  users:
    sql: select id, email from users
syncs:
  companies_to_intercom:
    model: companies
    destination: intercom
    object: company
    behavior: update_or_create
    key: {{ column: company_id, field: company_id }}
    schedule: "0 * * * *"
    after: [{users_after}]
  users_to_intercom:
    model: users
    destination: intercom
    object: user
    behavior: update_or_create
    key: {{ column: id, field: external_id }}
    fields:
      email: email
    after: [companies_to_intercom]
    alerts: {{ failed: true, rejected_pct: 5, max_minutes: 30 }}
"#
    )
}

#[test]
fn every_example_config_is_valid() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&examples).expect("examples/") {
        let config = entry.expect("an entry").path().join("backflow.yaml");
        if !config.exists() {
            continue;
        }
        let path = config.to_string_lossy().into_owned();
        // The quickstart names the emulator's port, as local-up exports it.
        let o = backflow(&["validate", &path], &[("LOCAL_INTERCOM_PORT", "4010")]);
        assert_eq!(o.status.code(), Some(0), "{path}\n{}", show(&o));
        checked.push(path);
    }
    assert!(!checked.is_empty(), "no backflow.yaml under {examples:?}");
}

#[test]
fn a_cycle_of_after_is_refused_naming_both_syncs() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("backflow.yaml");
    let path_s = path.to_string_lossy().into_owned();

    std::fs::write(&path, config("")).expect("write");
    let o = backflow(&["validate", &path_s], &[]);
    assert_eq!(o.status.code(), Some(0), "a chain is valid\n{}", show(&o));

    std::fs::write(&path, config("users_to_intercom")).expect("write");
    let o = backflow(&["validate", &path_s], &[]);
    assert_eq!(o.status.code(), Some(1), "a cycle is invalid\n{}", show(&o));
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains(&path_s), "names the file\n{out}");
    assert!(out.contains("makes a cycle"), "says why\n{out}");
    assert!(
        out.contains("`companies_to_intercom` runs after `users_to_intercom` runs after `companies_to_intercom`"),
        "names both syncs\n{out}"
    );
}
