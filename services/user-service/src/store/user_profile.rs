//! The profile fields a user edits freely, and the password hash upgrade after a login.

use mongodb::bson::{self, Document, doc};

use super::StoreError;
use super::users::{UserDoc, UserStore};

/// Changes to the profile fields a user edits freely.
#[derive(Debug, Default)]
pub struct ProfileChanges {
    /// `Some(None)` removes the display name.
    pub display_name: Option<Option<String>>,
    pub locale: Option<String>,
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.locale.is_none()
    }

    pub(super) fn update(&self) -> Document {
        let mut set = doc! { "updated_at": bson::DateTime::now() };
        let mut update = Document::new();
        match &self.display_name {
            Some(Some(name)) => {
                set.insert("display_name", name);
            }
            Some(None) => {
                update.insert("$unset", doc! { "display_name": "" });
            }
            None => {}
        }
        if let Some(locale) = &self.locale {
            set.insert("locale", locale);
        }
        update.insert("$set", set);
        update
    }
}

impl UserStore {
    /// Replaces the password hash after a login proved the password, so older parameters are
    /// upgraded. Only if the hash is still the one that was verified (no lost update).
    #[tracing::instrument(name = "users.upgrade_hash", skip_all)]
    pub async fn upgrade_hash(&self, id: &str, old: &str, new: &str) -> Result<(), StoreError> {
        self.users
            .update_one(
                doc! { "_id": id, "password_hash": old },
                doc! { "$set": { "password_hash": new, "updated_at": bson::DateTime::now() } },
            )
            .await
            .map(|_| ())
            .map_err(StoreError::mongo)
    }

    /// Applies profile changes and returns the updated user.
    #[tracing::instrument(name = "users.update_profile", skip_all, fields(user_id = %id))]
    pub async fn update_profile(
        &self,
        id: &str,
        changes: &ProfileChanges,
    ) -> Result<Option<UserDoc>, StoreError> {
        self.users
            .find_one_and_update(doc! { "_id": id }, changes.update())
            .return_document(mongodb::options::ReturnDocument::After)
            .await
            .map_err(StoreError::mongo)
    }
}
