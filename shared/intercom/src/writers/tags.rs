//! Tags: Intercom's bulk form first (`POST /tags` naming up to
//! [`BULK_TAG_LIMIT`] contacts or companies: one call however many records),
//! the per-contact forms where there is no bulk one (untagging a contact) or
//! when a bulk request is refused (to find the one record at fault), and the
//! workspace's tags (to turn a remembered hash back into a tag).
//!
//! A bulk request is all or nothing: one unknown record refuses the whole
//! request, so the caller retries its records one by one to report only the
//! one at fault.

use backflow_core::tags::tag_key;

use super::{not_found_status, reject};
use crate::client::Client;
use crate::error::RowError;
use crate::requests::tags::{self as req, Tag};

pub use crate::requests::tags::BULK_TAG_LIMIT;

impl Client {
    /// `POST /tags {name, users}` for up to [`BULK_TAG_LIMIT`] contacts
    /// (Intercom ids). Returns the tag's id.
    pub async fn bulk_tag_contacts(
        &self,
        name: &str,
        contact_ids: &[&str],
    ) -> Result<String, RowError> {
        self.tag_request(&req::tag_contacts(name, contact_ids))
            .await
    }

    /// `POST /tags {name, companies}` for up to [`BULK_TAG_LIMIT`] companies
    /// (Intercom ids), each tagged or (`true`) untagged. Returns the tag's id.
    pub async fn bulk_tag_companies(
        &self,
        name: &str,
        companies: &[(&str, bool)],
    ) -> Result<String, RowError> {
        self.tag_request(&req::tag_companies(name, companies)).await
    }

    /// The id of the tag named `name`, created when missing (`POST /tags {name}`).
    pub async fn tag_named(&self, name: &str) -> Result<String, RowError> {
        self.tag_request(&req::create_tag(name)).await
    }

    async fn tag_request(&self, r: &crate::requests::Request) -> Result<String, RowError> {
        let answer = self.req(r).await?;
        if !answer.is_success() {
            return Err(reject(&answer));
        }
        let tag = req::tag_of(&answer.body).ok_or_else(|| {
            RowError::Fatal(crate::Error::Unexpected(format!(
                "POST /tags answered {} without a tag",
                answer.status
            )))
        })?;
        let id = tag.0.clone();
        self.cache().add_tag(tag);
        Ok(id)
    }

    /// Every tag of the workspace, listed once per client (`GET /tags`).
    pub async fn workspace_tags(&self) -> Result<Vec<Tag>, RowError> {
        if let Some(tags) = self.cache().tags() {
            return Ok(tags);
        }
        let r = self.req(&req::list_tags()).await?;
        if !r.is_success() {
            return Err(reject(&r));
        }
        let tags = req::tags_of(&r.body);
        self.cache().set_tags(tags.clone());
        Ok(tags)
    }

    /// `POST /contacts/{id}/tags {id}`: one contact, one tag.
    pub async fn tag_contact(&self, contact_id: &str, tag_id: &str) -> Result<(), RowError> {
        let r = self.req(&req::tag_contact(contact_id, tag_id)).await?;
        if r.is_success() {
            Ok(())
        } else {
            Err(reject(&r))
        }
    }

    /// `DELETE /contacts/{id}/tags/{tag_id}`. A tag that is no longer on the
    /// contact (removed by hand, or by an earlier attempt whose answer was
    /// lost) is done; a contact that is gone is the row's rejection.
    pub async fn untag_contact(&self, contact_id: &str, tag_id: &str) -> Result<(), RowError> {
        let r = self.req(&req::untag_contact(contact_id, tag_id)).await?;
        if r.is_success() {
            return Ok(());
        }
        let rejection = crate::requests::rejection(r.status, &r.body);
        let contact_gone = rejection
            .message
            .to_ascii_lowercase()
            .contains("user not found");
        if not_found_status(r.status) && !contact_gone {
            return Ok(());
        }
        Err(RowError::Rejected(rejection))
    }

    /// The tags a record carries now: `GET /contacts/{id}/tags`, or the
    /// company's `tags` (`GET /companies/{id}`). For `tags_mode: exact`.
    pub async fn record_tags(&self, company: bool, id: &str) -> Result<Vec<Tag>, RowError> {
        let request = if company {
            req::get_company(id)
        } else {
            req::contact_tags(id)
        };
        let r = self.req(&request).await?;
        if !r.is_success() {
            return Err(reject(&r));
        }
        Ok(req::tags_of(&r.body))
    }
}

/// The workspace tags whose lower-cased name hashes to `hash`: none when the
/// tag was deleted in Intercom, more than one only on a hash collision.
pub fn tags_with_hash(tags: &[Tag], hash: u32) -> Vec<&Tag> {
    tags.iter()
        .filter(|(_, name)| backflow_core::tags::tag_hash(name) == hash)
        .collect()
}

/// Whether two tag names are the same tag in Intercom.
pub fn same_tag(a: &str, b: &str) -> bool {
    tag_key(a) == tag_key(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backflow_core::tags::tag_hash;

    #[test]
    fn hashes_find_their_tags_case_insensitively() {
        let tags: Vec<Tag> = vec![("1".into(), "VIP".into()), ("2".into(), "trial".into())];
        assert_eq!(tags_with_hash(&tags, tag_hash("vip")), vec![&tags[0]]);
        assert!(tags_with_hash(&tags, tag_hash("gone")).is_empty());
        assert!(same_tag(" Trial", "trial"));
    }
}
