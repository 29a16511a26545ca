//! A contact's subscription preferences: the workspace's types (read once per
//! run by `extract`) and the attach or detach that sets one preference.

use backflow_core::subscriptions::{Change, SubscriptionType};

use super::reject;
use crate::client::Client;
use crate::error::{Error, RowError};
use crate::requests::{self, subscriptions};

impl Client {
    /// The workspace's subscription types (`GET /subscription_types`).
    pub async fn subscription_types(&self) -> Result<Vec<SubscriptionType>, Error> {
        let r = self.send(&subscriptions::list_types()).await?;
        if !r.is_success() {
            return Err(Error::Unexpected(format!(
                "GET /subscription_types answered {}",
                requests::rejection(r.status, &r.body)
            )));
        }
        Ok(subscriptions::types_from_list(&r.body))
    }

    /// Sets one preference of the contact `contact_id` (just written, so it
    /// exists). Attaching a type the contact already has changes nothing in
    /// Intercom; detaching one it does not have answers `404`, which means the
    /// contact is already at the type's default — what was asked.
    pub async fn set_subscription(
        &self,
        contact_id: &str,
        change: &Change<'_>,
    ) -> Result<(), RowError> {
        let (request, absent_is_done) = match change {
            Change::Attach(kind) => (subscriptions::attach(contact_id, kind), false),
            Change::Detach(kind) => (subscriptions::detach(contact_id, kind), true),
        };
        let r = self.req(&request).await?;
        if r.is_success() || (absent_is_done && r.status == 404) {
            Ok(())
        } else {
            Err(reject(&r))
        }
    }
}
