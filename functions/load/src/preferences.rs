//! A written contact's subscription preferences (`subscriptions.<name>`
//! columns): one attach or detach per type the row names, with the type ids
//! `extract` resolved for the run (see `backflow_core::subscriptions`).

use serde_json::{Map, Value};

use backflow_core::batch::{BatchItem, LoadSpec};
use backflow_core::run::Outcome;
use backflow_core::subscriptions::{self, Change};
use backflow_intercom::{Client, RowError};

use crate::apply::{report, ItemResult};

/// Sets every preference of the row on the contact `contact_id`. `Err` is the
/// row's result when one could not be set: the contact is written but the row
/// is rejected (its state is not remembered), so the next run sends it again.
pub(crate) async fn set(
    client: &Client,
    spec: &LoadSpec,
    item: &BatchItem,
    contact_id: &str,
    preferences: &Map<String, Value>,
) -> Result<(), ItemResult> {
    for change in subscriptions::changes(preferences, &spec.subscription_types) {
        let (change, opted_in) = change.map_err(|name| {
            report(
                item,
                Outcome::Rejected,
                format!(
                    "contact written, but subscription type `{name}` was not resolved for \
                     this run (the batch predates the sync's mapping of it)"
                ),
                Some("subscription_unresolved".into()),
            )
        })?;
        let kind = match change {
            Change::Attach(kind) | Change::Detach(kind) => kind,
        };
        match client.set_subscription(contact_id, &change).await {
            Ok(()) => {}
            Err(RowError::Rejected(r)) => {
                let reason = format!(
                    "contact written, but opting it {} subscription type `{}` failed: \
                     Intercom answered {}: {}",
                    if opted_in { "in to" } else { "out of" },
                    kind.name,
                    r.status,
                    r.message
                );
                return Err(report(item, Outcome::Rejected, reason, Some(r.code)));
            }
            Err(RowError::Fatal(e)) => return Err(ItemResult::Fatal(e.to_string())),
        }
    }
    Ok(())
}
