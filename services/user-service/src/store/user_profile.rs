//! The password hash upgrade after a login.

use mongodb::bson::{self, doc};

use super::StoreError;
use super::users::UserStore;

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
}
