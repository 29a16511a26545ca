use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::config::{DeleteOptions, KeyField, KeySpec};

fn spec(object: Object, behavior: Behavior, mode: Option<DeleteMode>) -> SyncSpec {
    SyncSpec {
        model: "m".into(),
        destination: "ic".into(),
        object,
        behavior,
        key: KeySpec {
            column: "k".into(),
            field: match object {
                Object::Company => KeyField::CompanyId,
                Object::Event => KeyField::EventId,
                Object::CustomObject => KeyField::ExternalId,
                _ => KeyField::Email,
            },
        },
        fields: BTreeMap::new(),
        schedule: None,
        event_name: None,
        custom_object: (object == Object::CustomObject).then(|| "Order".into()),
        create_attributes: true,
        sync_nulls: false,
        max_removals: None,
        delete: mode.map(|mode| DeleteOptions { mode }),
        batch_size: None,
        tags_mode: None,
        after: Vec::new(),
        alerts: None,
    }
}

const FP: Fingerprint = Fingerprint(1);
const OTHER: Fingerprint = Fingerprint(2);

fn prior(id: bool, fp: Option<Fingerprint>, status: RecordStatus) -> Prior {
    Prior {
        intercom_id: id.then(|| "ic_1".to_string()),
        fingerprint: fp,
        status,
        remembered: Default::default(),
    }
}

#[test]
fn decide_table() {
    use Action::*;
    use Behavior as B;
    use RecordStatus as S;
    let active = prior(true, Some(FP), S::Active);
    let changed = prior(true, Some(OTHER), S::Active);
    let refused = prior(true, None, S::Active);
    let no_id = prior(false, Some(FP), S::Active);
    let archived = prior(true, Some(FP), S::Archived);
    let deleted = prior(true, Some(FP), S::Deleted);
    let sent = prior(false, Some(FP), S::Sent);
    let user = Object::User;
    let cases: Vec<(SyncSpec, Option<&Prior>, bool, Option<Action>)> = vec![
        // update_or_create / mirror
        (
            spec(user, B::UpdateOrCreate, None),
            None,
            false,
            Some(Create),
        ),
        (
            spec(user, B::UpdateOrCreate, None),
            Some(&no_id),
            false,
            Some(Create),
        ),
        (
            spec(user, B::UpdateOrCreate, None),
            Some(&archived),
            false,
            Some(Create),
        ),
        (
            spec(user, B::UpdateOrCreate, None),
            Some(&deleted),
            false,
            Some(Create),
        ),
        (
            spec(user, B::UpdateOrCreate, None),
            Some(&changed),
            false,
            Some(Update),
        ),
        (
            spec(user, B::UpdateOrCreate, None),
            Some(&refused),
            false,
            Some(Update),
        ),
        (
            spec(user, B::UpdateOrCreate, None),
            Some(&active),
            true,
            Some(Update),
        ),
        (
            spec(user, B::UpdateOrCreate, None),
            Some(&active),
            false,
            None,
        ),
        (
            spec(Object::Company, B::Mirror, None),
            Some(&active),
            false,
            None,
        ),
        (
            spec(Object::Company, B::Mirror, None),
            None,
            true,
            Some(Create),
        ),
        (
            spec(Object::Company, B::Mirror, None),
            Some(&archived),
            true,
            Some(Create),
        ),
        // update_only
        (spec(user, B::UpdateOnly, None), None, false, Some(Update)),
        (spec(user, B::UpdateOnly, None), Some(&active), false, None),
        (
            spec(user, B::UpdateOnly, None),
            Some(&active),
            true,
            Some(Update),
        ),
        (
            spec(user, B::UpdateOnly, None),
            Some(&changed),
            false,
            Some(Update),
        ),
        (
            spec(user, B::UpdateOnly, None),
            Some(&refused),
            false,
            Some(Update),
        ),
        (
            spec(user, B::UpdateOnly, None),
            Some(&archived),
            false,
            Some(Update),
        ),
        // delete
        (spec(user, B::Delete, None), None, false, Some(Archive)),
        (
            spec(user, B::Delete, None),
            Some(&active),
            false,
            Some(Archive),
        ),
        (spec(user, B::Delete, None), Some(&archived), false, None),
        (
            spec(user, B::Delete, None),
            Some(&archived),
            true,
            Some(Archive),
        ),
        (spec(user, B::Delete, None), Some(&deleted), false, None),
        (
            spec(user, B::Delete, Some(DeleteMode::Permanent)),
            None,
            false,
            Some(Delete),
        ),
        (
            spec(user, B::Delete, Some(DeleteMode::Permanent)),
            Some(&archived),
            false,
            Some(Delete),
        ),
        (
            spec(user, B::Delete, Some(DeleteMode::Permanent)),
            Some(&deleted),
            false,
            None,
        ),
        (
            spec(Object::Contact, B::Delete, None),
            Some(&active),
            false,
            Some(Archive),
        ),
        (
            spec(Object::Company, B::Delete, None),
            None,
            false,
            Some(Delete),
        ),
        (
            spec(Object::Company, B::Delete, None),
            Some(&deleted),
            false,
            None,
        ),
        (
            spec(Object::Company, B::Delete, None),
            Some(&deleted),
            true,
            Some(Delete),
        ),
        // send
        (spec(Object::Event, B::Send, None), None, false, Some(Send)),
        (spec(Object::Event, B::Send, None), None, true, Some(Send)),
        (spec(Object::Event, B::Send, None), Some(&sent), false, None),
        (spec(Object::Event, B::Send, None), Some(&sent), true, None),
        (
            spec(Object::Event, B::Send, None),
            Some(&refused),
            true,
            None,
        ),
    ];
    for (i, (spec, prior, full, want)) in cases.iter().enumerate() {
        assert_eq!(
            decide(spec, *prior, FP, *full),
            *want,
            "case {i}: {:?} {:?} prior {prior:?} full_resync {full}",
            spec.object,
            spec.behavior
        );
    }
}

#[test]
fn removal_actions() {
    for object in [Object::Contact, Object::Lead, Object::User] {
        assert_eq!(
            removal_action(&spec(object, Behavior::Mirror, None)),
            Action::Archive
        );
    }
    assert_eq!(
        removal_action(&spec(Object::Company, Behavior::Mirror, None)),
        Action::Delete
    );
}

#[test]
fn mass_removal_guard() {
    // (removals, previously_active, max_removals, allow, ok)
    let cases = [
        (0, 0, None, false, true),
        (0, 100, None, false, true),
        (10, 100, None, false, true),
        (11, 100, None, false, false),
        (1, 19, None, false, true),
        (2, 19, None, false, false), // 2 > 1.9
        (1, 5, None, false, true),   // at least 1
        (2, 5, None, false, false),
        (1, 1, None, false, false), // everything
        (1, 1, None, true, true),
        (100, 100, Some(1000), false, false), // the model emptied: always stops
        (100, 100, Some(1000), true, true),
        (50, 100, Some(50), false, true),
        (51, 100, Some(50), false, false),
        (1, 100, Some(0), false, false),
        (5000, 10, None, true, true),
    ];
    for (removals, before, max, allow, ok) in cases {
        let got = check_removals(removals, before, max, allow);
        assert_eq!(
            got.is_ok(),
            ok,
            "{removals} of {before}, max {max:?}, allow {allow}: {got:?}"
        );
    }
    assert_eq!(
        check_removals(11, 100, None, false).unwrap_err(),
        "mirror would remove 11 of the 100 records synced before, more than the limit of 10 \
         (the default max_removals, 10 % of them); nothing was removed. If this is intended, \
         run again with \"allow_mass_removal\": true (or raise max_removals in the sync)."
    );
    let e = check_removals(100, 100, Some(1000), false).unwrap_err();
    assert!(e.contains("every record synced before"), "{e}");
    assert!(e.contains("\"allow_mass_removal\": true"), "{e}");
    assert_eq!(default_max_removals(0), 0);
    assert_eq!(default_max_removals(9), 1);
    assert_eq!(default_max_removals(25), 2);
}

fn any_object() -> impl Strategy<Value = Object> {
    prop_oneof![
        Just(Object::Company),
        Just(Object::Contact),
        Just(Object::Lead),
        Just(Object::User),
        Just(Object::Event),
    ]
}

/// A (object, behavior, delete mode) the config accepts.
fn any_spec() -> impl Strategy<Value = SyncSpec> {
    (any_object(), 0usize..4, any::<bool>()).prop_map(|(object, b, permanent)| {
        let behaviors: &[Behavior] = match object {
            Object::Company => &[Behavior::UpdateOrCreate, Behavior::Delete, Behavior::Mirror],
            Object::Event => &[Behavior::Send],
            _ => &[
                Behavior::UpdateOrCreate,
                Behavior::UpdateOnly,
                Behavior::Delete,
                Behavior::Mirror,
            ],
        };
        let behavior = behaviors[b % behaviors.len()];
        let mode = (behavior == Behavior::Delete && permanent).then_some(DeleteMode::Permanent);
        spec(object, behavior, mode)
    })
}

fn any_prior() -> impl Strategy<Value = Option<Prior>> {
    proptest::option::of(
        (
            any::<bool>(),
            proptest::option::of(0u128..4),
            prop_oneof![
                Just(RecordStatus::Active),
                Just(RecordStatus::Archived),
                Just(RecordStatus::Deleted),
                Just(RecordStatus::Sent),
            ],
        )
            .prop_map(|(id, fp, status)| prior(id, fp.map(Fingerprint), status)),
    )
}

/// What a confirmed write leaves in the state.
fn apply(action: Action, fp: Fingerprint) -> Prior {
    match action {
        Action::Create | Action::Update => prior(true, Some(fp), RecordStatus::Active),
        Action::Archive => prior(true, None, RecordStatus::Archived),
        Action::Delete => prior(true, None, RecordStatus::Deleted),
        Action::Send => prior(false, Some(fp), RecordStatus::Sent),
    }
}

proptest! {
    #[test]
    fn confirmed_and_unchanged_is_a_no_op(
        spec in any_spec(),
        fp in any::<u128>(),
    ) {
        prop_assume!(!matches!(spec.behavior, Behavior::Send | Behavior::Delete));
        let p = prior(true, Some(Fingerprint(fp)), RecordStatus::Active);
        prop_assert_eq!(decide(&spec, Some(&p), Fingerprint(fp), false), None);
    }

    #[test]
    fn applying_a_plan_reaches_the_model(
        spec in any_spec(),
        state in proptest::collection::btree_map(0u8..20, any_prior().prop_filter_map("some", |p| p), 0..20),
        model in proptest::collection::btree_map(0u8..20, 0u128..4, 0..20),
        full in any::<bool>(),
    ) {
        let mut state = state;
        for (key, fp) in &model {
            if let Some(action) = decide(&spec, state.get(key), Fingerprint(*fp), full) {
                state.insert(*key, apply(action, Fingerprint(*fp)));
            }
        }
        for (key, fp) in &model {
            prop_assert_eq!(
                decide(&spec, state.get(key), Fingerprint(*fp), false),
                None,
                "key {} state {:?}", key, state.get(key)
            );
        }
    }
}

#[test]
fn custom_object_instances_are_deleted_never_archived() {
    let mirror = spec(Object::CustomObject, Behavior::Mirror, None);
    assert_eq!(removal_action(&mirror), Action::Delete);
    let delete = spec(Object::CustomObject, Behavior::Delete, None);
    let fp = Fingerprint(1);
    assert_eq!(decide(&delete, None, fp, false), Some(Action::Delete));
    let gone = Prior {
        intercom_id: Some("1".into()),
        fingerprint: None,
        status: RecordStatus::Deleted,
        remembered: Default::default(),
    };
    assert_eq!(
        decide(&delete, Some(&gone), fp, false),
        None,
        "deleted before: unchanged"
    );
    assert_eq!(
        decide(&mirror, Some(&gone), fp, false),
        Some(Action::Create),
        "back in the model: created again"
    );
}
