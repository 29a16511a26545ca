//! `after:` chains between syncs: which syncs wait for which, cycles, and when a
//! waiting sync is due.
//!
//! A sync with `after: [a, b]` starts when a run of each of `a` and `b` has ended
//! `succeeded` or `partial` since its own last run. The IO layer keeps, per
//! sync, the last such ending (run id and time) and the start time of its own
//! last run, and asks [`due`]. A start is claimed with [`Due::Start`]'s claim,
//! which names the very runs it follows, so the same endings delivered twice
//! (a duplicated invoke, the minute tick catching up) start the sync once.

use std::collections::BTreeMap;

use crate::config::SyncSpec;

/// A run of a sync this one waits for that ended `succeeded` or `partial` (not
/// a dry run): its id and when its ending was recorded (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub run_id: String,
    pub at_ms: i64,
}

/// What [`due`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Start now, once: the claim (a DynamoDB sort key) names the runs followed.
    Start { claim: String },
    /// Not yet: why (for the log).
    Wait(String),
}

/// Whether a sync waiting for `deps` is due. `own_last_start_ms` is when its
/// own last (not dry) run started, `None` if it never ran; `deps` are its
/// `after:` syncs with their last ending `succeeded`/`partial`, if any.
///
/// Due when every dependency ended after the sync's own last start. A
/// dependency that ended before it (the sync already ran after it) or never
/// ended well holds it back.
pub fn due(own_last_start_ms: Option<i64>, deps: &[(&str, Option<&Ended>)]) -> Due {
    if deps.is_empty() {
        return Due::Wait("no `after:` syncs".into());
    }
    let mut followed: Vec<(&str, &str)> = Vec::with_capacity(deps.len());
    for (name, ended) in deps {
        let Some(ended) = ended else {
            return Due::Wait(format!(
                "`{name}` has no run that ended succeeded or partial"
            ));
        };
        if let Some(start) = own_last_start_ms {
            if ended.at_ms <= start {
                return Due::Wait(format!(
                    "`{name}`'s last good run `{}` ended before this sync's last run started",
                    ended.run_id
                ));
            }
        }
        followed.push((name, &ended.run_id));
    }
    // Sorted by sync name, so the claim does not depend on the order of `after:`.
    followed.sort();
    let ids: Vec<&str> = followed.iter().map(|(_, id)| *id).collect();
    Due::Start {
        claim: format!("AFTER#{}", ids.join("+")),
    }
}

/// The syncs that name `sync` in their `after:`.
pub fn dependents_of<'a>(syncs: &'a BTreeMap<String, SyncSpec>, sync: &str) -> Vec<&'a str> {
    syncs
        .iter()
        .filter(|(_, spec)| spec.after.iter().any(|a| a == sync))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// A cycle of `after:` names, as a path that ends where it starts (`[a, b, a]`),
/// or `None`. Depth-first over the syncs in name order, so the cycle reported
/// is always the same one.
pub fn find_cycle(syncs: &BTreeMap<String, SyncSpec>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = syncs.keys().map(|k| (k.as_str(), Mark::New)).collect();
    for start in syncs.keys() {
        if marks[start.as_str()] != Mark::New {
            continue;
        }
        // An explicit stack of (sync, index of the next `after:` entry to visit).
        let mut path: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        marks.insert(start, Mark::OnPath);
        while let Some((node, next)) = path.last_mut() {
            let after = syncs.get(*node).map(|s| s.after.as_slice()).unwrap_or(&[]);
            let Some(dep) = after.get(*next) else {
                marks.insert(node, Mark::Done);
                path.pop();
                continue;
            };
            *next += 1;
            match marks.get(dep.as_str()).copied() {
                // Unknown names are validation's to report.
                None | Some(Mark::Done) => {}
                Some(Mark::OnPath) => {
                    let from = path.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[from..].iter().map(|(n, _)| n.to_string()).collect();
                    cycle.push(dep.clone());
                    return Some(cycle);
                }
                Some(Mark::New) => {
                    marks.insert(dep, Mark::OnPath);
                    path.push((dep.as_str(), 0));
                }
            }
        }
    }
    None
}

/// The validation message for a cycle found by [`find_cycle`], naming every
/// sync on it.
pub fn cycle_message(cycle: &[String]) -> String {
    let path: Vec<String> = cycle.iter().map(|s| format!("`{s}`")).collect();
    format!(
        "`after:` makes a cycle: {} (each waits for the next, so none would ever start); remove one of these `after:` entries",
        path.join(" runs after ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syncs(edges: &[(&str, &[&str])]) -> BTreeMap<String, SyncSpec> {
        edges
            .iter()
            .map(|(name, after)| {
                let yaml = format!(
                    "model: m\ndestination: d\nobject: company\nbehavior: update_or_create\nkey: {{column: id, field: company_id}}\nafter: [{}]\n",
                    after.join(", ")
                );
                (name.to_string(), serde_yaml_ng::from_str(&yaml).unwrap())
            })
            .collect()
    }

    #[test]
    fn cycles_are_found_and_name_every_sync_on_them() {
        for (edges, cycle) in [
            (
                vec![("a", &["b"][..]), ("b", &["a"][..])],
                Some(vec!["a", "b", "a"]),
            ),
            (
                vec![("a", &["b"][..]), ("b", &["c"][..]), ("c", &["a"][..])],
                Some(vec!["a", "b", "c", "a"]),
            ),
            // A cycle reached through a sync that is not on it.
            (
                vec![("x", &["y"][..]), ("y", &["z"][..]), ("z", &["y"][..])],
                Some(vec!["y", "z", "y"]),
            ),
            (vec![("a", &["a"][..])], Some(vec!["a", "a"])),
            // A chain and a diamond are no cycles.
            (
                vec![
                    ("companies", &[][..]),
                    ("users", &["companies"][..]),
                    ("events", &["users"][..]),
                ],
                None,
            ),
            (
                vec![
                    ("a", &[][..]),
                    ("b", &["a"][..]),
                    ("c", &["a"][..]),
                    ("d", &["b", "c"][..]),
                ],
                None,
            ),
            // Unknown names are not followed (validation names them).
            (vec![("a", &["nope"][..])], None),
        ] {
            let found = find_cycle(&syncs(&edges));
            let expected = cycle.map(|c| c.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(found, expected, "{edges:?}");
        }
    }

    #[test]
    fn the_cycle_message_names_both_syncs() {
        let m = cycle_message(&["users".into(), "companies".into(), "users".into()]);
        assert!(
            m.contains("`users` runs after `companies` runs after `users`"),
            "{m}"
        );
    }

    fn ended(id: &str, at_ms: i64) -> Ended {
        Ended {
            run_id: id.into(),
            at_ms,
        }
    }

    /// Own last start, the dependencies' endings, the decision (`None`: wait).
    type Case<'a> = (Option<i64>, Vec<(&'a str, Option<&'a Ended>)>, Option<Due>);

    #[test]
    fn due_when_every_dependency_ended_well_since_the_last_own_start() {
        let (a1, b1) = (ended("a-1", 1_000), ended("b-1", 2_000));
        let start = |claim: &str| Due::Start {
            claim: claim.into(),
        };
        let cases: Vec<Case> = vec![
            // Never ran: due once each dependency has a good ending.
            (None, vec![("a", Some(&a1))], Some(start("AFTER#a-1"))),
            (None, vec![("a", None)], None),
            (None, vec![("a", Some(&a1)), ("b", None)], None),
            // Ran after the dependency ended: not again until it ends again.
            (Some(1_000), vec![("a", Some(&a1))], None),
            (Some(1_500), vec![("a", Some(&a1))], None),
            (Some(999), vec![("a", Some(&a1))], Some(start("AFTER#a-1"))),
            // Every dependency must have ended since, not just one.
            (Some(1_500), vec![("a", Some(&a1)), ("b", Some(&b1))], None),
            (
                Some(500),
                vec![("b", Some(&b1)), ("a", Some(&a1))],
                Some(start("AFTER#a-1+b-1")),
            ),
            (None, vec![], None),
        ];
        for (own, deps, expected) in cases {
            let got = due(own, &deps);
            match expected {
                Some(e) => assert_eq!(got, e, "{own:?} {deps:?}"),
                None => assert!(matches!(got, Due::Wait(_)), "{own:?} {deps:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn the_claim_names_the_runs_followed_whatever_the_order_of_after() {
        let (a, b) = (ended("a-1", 10), ended("b-7", 20));
        assert_eq!(
            due(None, &[("a", Some(&a)), ("b", Some(&b))]),
            due(None, &[("b", Some(&b)), ("a", Some(&a))])
        );
        let a2 = ended("a-2", 30);
        assert_ne!(
            due(None, &[("a", Some(&a)), ("b", Some(&b))]),
            due(None, &[("a", Some(&a2)), ("b", Some(&b))]),
            "a new run of a dependency is a new claim"
        );
    }

    #[test]
    fn dependents_are_the_syncs_naming_it() {
        let s = syncs(&[("c", &[]), ("u", &["c"]), ("e", &["u", "c"])]);
        assert_eq!(dependents_of(&s, "c"), vec!["e", "u"]);
        assert_eq!(dependents_of(&s, "u"), vec!["e"]);
        assert!(dependents_of(&s, "e").is_empty());
    }
}
