//! A state item's encoding: what `load` writes per key ([`StateItem`]), and
//! its attributes as DynamoDB stores them (see the layout in [`super`]).

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use backflow_core::fingerprint::Fingerprint;
use backflow_core::plan::{Prior, RecordStatus};
use backflow_core::run::Outcome;
use backflow_core::tags::{Memo, Remembered};

use super::{pk, KEY_PREFIX};
use crate::ddb::{self, s, Attrs, Item};
use crate::Error;

/// One key's state, as `load` writes it after Intercom answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateItem {
    pub key: String,
    pub intercom_id: Option<String>,
    /// `None` when the write was refused: the next run retries the row.
    pub fingerprint: Option<Fingerprint>,
    pub status: RecordStatus,
    /// The run that wrote this item.
    pub run: RunTag,
    /// What that write did.
    pub outcome: Outcome,
    /// The tags backflow applied and (contacts) the companies it attached.
    pub remembered: Remembered,
}

impl StateItem {
    /// What the diff needs of it.
    pub fn prior(&self) -> Prior {
        Prior {
            intercom_id: self.intercom_id.clone(),
            fingerprint: self.fingerprint,
            status: self.status.clone(),
            remembered: self.remembered.clone(),
        }
    }
}

/// Which run wrote a state item: enough of its run id to tell "this run" from
/// "an earlier run" when a batch is delivered again (4 bytes instead of 25).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunTag(pub [u8; 4]);

impl RunTag {
    pub fn of(run_id: &str) -> RunTag {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(run_id.as_bytes());
        RunTag([digest[0], digest[1], digest[2], digest[3]])
    }
}

/// Defines the outcome codes stored in `r` from one list: [`outcome_code`] is an
/// exhaustive `match` (an `Outcome` without a code does not compile) and
/// [`outcome_of`] reads the same list back (a code given twice is an unreachable
/// pattern, refused by the lints).
macro_rules! outcome_codes {
    ($($code:literal => $outcome:ident,)*) => {
        /// The code stored for `outcome`.
        pub fn outcome_code(outcome: Outcome) -> u8 {
            match outcome {
                $(Outcome::$outcome => $code,)*
            }
        }

        /// The outcome stored as `code`; `None` for a code no outcome has.
        pub fn outcome_of(code: u8) -> Option<Outcome> {
            match code {
                $($code => Some(Outcome::$outcome),)*
                _ => None,
            }
        }
    };
}

// Append only: a stored code keeps its meaning.
outcome_codes! {
    0 => Created,
    1 => Updated,
    2 => Deleted,
    3 => Archived,
    4 => Sent,
    5 => Unchanged,
    6 => Invalid,
    7 => Rejected,
    8 => NotFound,
}

fn status_str(status: &RecordStatus) -> &'static str {
    match status {
        RecordStatus::Active => "active",
        RecordStatus::Archived => "archived",
        RecordStatus::Deleted => "deleted",
        RecordStatus::Sent => "sent",
    }
}

fn parse_status(text: &str) -> Option<RecordStatus> {
    Some(match text {
        "active" => RecordStatus::Active,
        "archived" => RecordStatus::Archived,
        "deleted" => RecordStatus::Deleted,
        "sent" => RecordStatus::Sent,
        _ => return None,
    })
}

/// `Outcome` from its `as_str` (serde's snake_case name).
pub(crate) fn parse_outcome(text: &str) -> Option<Outcome> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

pub(super) fn encode_item(sync: &str, item: &StateItem) -> Item {
    let mut out = ddb::key(pk(sync), format!("{KEY_PREFIX}{}", item.key));
    if let Some(iid) = &item.intercom_id {
        out.insert("iid".into(), s(iid));
    }
    if let Some(fp) = item.fingerprint {
        out.insert("fp".into(), b(fp.0.to_be_bytes().to_vec()));
    }
    if item.status != RecordStatus::Active {
        out.insert("st".into(), s(status_str(&item.status)));
    }
    let mut r = Vec::with_capacity(5);
    r.push(outcome_code(item.outcome));
    r.extend_from_slice(&item.run.0);
    out.insert("r".into(), b(r));
    // Absent when empty: a sync without lists pays nothing for them.
    for (name, memo) in [
        ("tg", &item.remembered.tags),
        ("cs", &item.remembered.companies),
    ] {
        if !memo.is_empty() {
            out.insert(name.into(), b(memo.to_bytes()));
        }
    }
    out
}

/// `tg` / `cs` (4 bytes per hash); items written before them kept the one
/// attached company as text in `co`.
fn decode_remembered(attrs: &Attrs) -> Result<Remembered, Error> {
    let memo = |name: &str| -> Result<Memo, Error> {
        match attrs.b(name)? {
            None => Ok(Memo::default()),
            Some(bytes) => Memo::from_bytes(bytes).ok_or_else(|| {
                Error::corrupt(
                    attrs.what(),
                    format!("bad `{name}`: {} bytes, not a multiple of 4", bytes.len()),
                )
            }),
        }
    };
    let mut companies = memo("cs")?;
    if let Some(co) = attrs.s("co")? {
        let mut all = companies.0;
        all.push(backflow_core::tags::company_hash(co));
        companies = Memo::of_hashes(all);
    }
    Ok(Remembered {
        tags: memo("tg")?,
        companies,
    })
}

fn b(bytes: Vec<u8>) -> AttributeValue {
    AttributeValue::B(Blob::new(bytes))
}

fn decode_fingerprint(attrs: &Attrs) -> Result<Option<Fingerprint>, Error> {
    let bad = |message: String| Error::corrupt(attrs.what(), message);
    match attrs.get("fp") {
        None => Ok(None),
        Some(AttributeValue::B(blob)) => {
            let bytes = blob.as_ref();
            let raw: [u8; 16] = bytes
                .try_into()
                .map_err(|_| bad(format!("bad fingerprint: {} bytes", bytes.len())))?;
            Ok(Some(Fingerprint(u128::from_be_bytes(raw))))
        }
        // Items written before fingerprints were binary.
        Some(AttributeValue::S(hex)) => Fingerprint::from_hex(hex)
            .map(Some)
            .ok_or_else(|| bad(format!("bad fingerprint `{hex}`"))),
        Some(_) => Err(bad("attribute `fp` is neither B nor S".into())),
    }
}

pub(super) fn decode_prior(sync: &str, item: &Item) -> Result<(String, Prior), Error> {
    let sk = Attrs::new(item, "a state item")
        .s("sk")?
        .unwrap_or_default();
    let what = format!("state item `{sk}` of sync `{sync}`");
    let attrs = Attrs::new(item, &what);
    let key = sk
        .strip_prefix(KEY_PREFIX)
        .ok_or_else(|| Error::corrupt(&what, "sort key does not start with KEY#"))?
        .to_string();
    let fingerprint = decode_fingerprint(&attrs)?;
    let status = match attrs.s("st")? {
        None => RecordStatus::Active,
        Some(st) => {
            parse_status(st).ok_or_else(|| Error::corrupt(&what, format!("bad status `{st}`")))?
        }
    };
    let prior = Prior {
        intercom_id: attrs.s("iid")?.map(str::to_string),
        fingerprint,
        status,
        remembered: decode_remembered(&attrs)?,
    };
    Ok((key, prior))
}

pub(super) fn decode_item(sync: &str, item: &Item) -> Result<StateItem, Error> {
    let (key, prior) = decode_prior(sync, item)?;
    let what = format!("state item `KEY#{key}` of sync `{sync}`");
    let attrs = Attrs::new(item, &what);
    let (outcome, run) = match attrs.b("r")? {
        Some(&[code, a, b, c, d]) => {
            let outcome = outcome_of(code)
                .ok_or_else(|| Error::corrupt(&what, format!("bad outcome code {code}")))?;
            (outcome, RunTag([a, b, c, d]))
        }
        Some(other) => {
            return Err(Error::corrupt(
                &what,
                format!("bad `r`: {} bytes, want 5", other.len()),
            ))
        }
        // Items written before `r`: the run id and outcome spelled out.
        None => {
            let out = attrs.s("out")?.unwrap_or_default();
            let outcome = parse_outcome(out)
                .ok_or_else(|| Error::corrupt(&what, format!("bad outcome `{out}`")))?;
            (outcome, RunTag::of(attrs.s("run")?.unwrap_or_default()))
        }
    };
    Ok(StateItem {
        key,
        intercom_id: prior.intercom_id,
        fingerprint: prior.fingerprint,
        status: prior.status,
        run,
        outcome,
        remembered: prior.remembered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddb::get_s;

    fn get_b<'a>(item: &'a Item, name: &str) -> Option<&'a [u8]> {
        Attrs::new(item, "item").b(name).ok().flatten()
    }

    fn item() -> StateItem {
        StateItem {
            key: "u-1".into(),
            intercom_id: Some("6650a".into()),
            fingerprint: Some(Fingerprint(0xabc)),
            status: RecordStatus::Active,
            run: RunTag::of("r1"),
            outcome: Outcome::NotFound,
            remembered: Remembered {
                tags: Memo::of_tags(&["VIP".to_string(), "trial".to_string()]),
                companies: Memo::of_companies(&["acme".to_string()]),
            },
        }
    }

    #[test]
    fn items_round_trip() {
        let item = item();
        let encoded = encode_item("users", &item);
        assert_eq!(get_b(&encoded, "cs").map(<[u8]>::len), Some(4));
        assert_eq!(get_b(&encoded, "tg").map(<[u8]>::len), Some(8));
        assert!(!encoded.contains_key("co"), "companies are hashes now");
        assert_eq!(get_s(&encoded, "pk"), Some("SYNC#users"));
        assert_eq!(get_s(&encoded, "sk"), Some("KEY#u-1"));
        assert_eq!(get_b(&encoded, "fp").map(<[u8]>::len), Some(16));
        assert!(!encoded.contains_key("st"), "active is the default");
        assert_eq!(decode_item("users", &encoded).unwrap(), item);

        let refused = StateItem {
            fingerprint: None,
            intercom_id: None,
            status: RecordStatus::Sent,
            outcome: Outcome::Rejected,
            ..item.clone()
        };
        let encoded = encode_item("users", &refused);
        assert!(!encoded.contains_key("fp") && !encoded.contains_key("iid"));
        assert_eq!(get_s(&encoded, "st"), Some("sent"));
        assert_eq!(decode_item("users", &encoded).unwrap(), refused);

        for outcome in (0..=u8::MAX).filter_map(outcome_of) {
            let one = StateItem {
                outcome,
                ..item.clone()
            };
            let back = decode_item("users", &encode_item("users", &one)).unwrap();
            assert_eq!(back.outcome, outcome);
        }
    }

    /// Items in DynamoDB hold these codes: changing one would misread them.
    #[test]
    fn outcome_codes_keep_their_meaning() {
        let stored: Vec<(u8, &str)> = (0..=u8::MAX)
            .filter_map(|code| outcome_of(code).map(|o| (code, o.as_str())))
            .collect();
        assert_eq!(
            stored,
            [
                (0, "created"),
                (1, "updated"),
                (2, "deleted"),
                (3, "archived"),
                (4, "sent"),
                (5, "unchanged"),
                (6, "invalid"),
                (7, "rejected"),
                (8, "not_found"),
            ]
        );
        for (code, _) in stored {
            let outcome = outcome_of(code).unwrap();
            assert_eq!(outcome_code(outcome), code);
        }
    }

    /// What a run reads of every item on every run, so every byte counts: a
    /// user with an Intercom id and no company holds the keys, the id, the
    /// binary fingerprint and the 5-byte `r`, nothing else (64 B plus the sync's
    /// name and the key; the moto test `state::a_state_item_is_64_bytes_plus_the_sync_and_the_key`
    /// measures it as DynamoDB bills it).
    #[test]
    fn a_typical_user_item_is_small() {
        let typical = StateItem {
            key: "u-0000001".into(),
            intercom_id: Some("6650a1b2c3d4e5f601234567".into()),
            remembered: Remembered::default(),
            ..item()
        };
        let encoded = encode_item("users", &typical);
        let mut names: Vec<&str> = encoded.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["fp", "iid", "pk", "r", "sk"]);
        assert_eq!(get_b(&encoded, "fp").map(<[u8]>::len), Some(16));
        assert_eq!(get_b(&encoded, "r").map(<[u8]>::len), Some(5));
    }

    /// Items written before fingerprints were binary and `r` existed still read.
    #[test]
    fn items_of_the_earlier_layout_still_read() {
        let mut old = ddb::key("SYNC#users", "KEY#u-1");
        old.insert("iid".into(), s("6650a"));
        old.insert("fp".into(), s(Fingerprint(0xabc).to_hex()));
        old.insert("st".into(), s("active"));
        old.insert("run".into(), s("r1"));
        old.insert("out".into(), s("not_found"));
        old.insert("co".into(), s("acme"));
        let want = StateItem {
            remembered: Remembered {
                tags: Memo::default(),
                companies: Memo::of_companies(&["acme".to_string()]),
            },
            ..item()
        };
        assert_eq!(decode_item("users", &old).unwrap(), want);
    }

    #[test]
    fn corrupt_items_are_named() {
        let mut encoded = encode_item("users", &item());
        encoded.insert("st".into(), s("gone"));
        let err = decode_item("users", &encoded).unwrap_err().to_string();
        assert!(err.contains("KEY#u-1") && err.contains("gone"), "{err}");

        let mut encoded = encode_item("users", &item());
        encoded.insert("r".into(), b(vec![200, 0, 0, 0, 0]));
        let err = decode_item("users", &encoded).unwrap_err().to_string();
        assert!(err.contains("KEY#u-1") && err.contains("200"), "{err}");

        let mut encoded = encode_item("users", &item());
        encoded.insert("fp".into(), b(vec![1, 2, 3]));
        let err = decode_item("users", &encoded).unwrap_err().to_string();
        assert!(err.contains("KEY#u-1") && err.contains("3 bytes"), "{err}");

        // Attributes of the wrong type are named, never read as absent.
        for (attr, value, says) in [
            ("iid", AttributeValue::N("7".into()), "`iid` is N, not S"),
            ("co", AttributeValue::Bool(true), "`co` is BOOL, not S"),
            ("tg", s("vip"), "`tg` is S, not B"),
            ("cs", b(vec![1, 2]), "bad `cs`: 2 bytes"),
            ("st", AttributeValue::L(vec![]), "`st` is L, not S"),
            ("r", s("r1"), "`r` is S, not B"),
            (
                "fp",
                AttributeValue::N("1".into()),
                "`fp` is neither B nor S",
            ),
        ] {
            let mut encoded = encode_item("users", &item());
            encoded.insert(attr.into(), value);
            let err = decode_item("users", &encoded).unwrap_err().to_string();
            assert!(
                err.contains("KEY#u-1") && err.contains(says),
                "{attr}: {err}"
            );
        }
        let mut encoded = encode_item("users", &item());
        encoded.insert("sk".into(), AttributeValue::N("1".into()));
        let err = decode_item("users", &encoded).unwrap_err().to_string();
        assert!(err.contains("`sk` is N, not S"), "{err}");
        encoded.remove("sk");
        let err = decode_item("users", &encoded).unwrap_err().to_string();
        assert!(err.contains("sort key does not start with KEY#"), "{err}");
    }
}
