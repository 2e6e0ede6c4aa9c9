//! Passkeys in the `users` collection: the user's `passkeys` array. Every write is
//! conditional on the array the workflow read (compare and set), so two requests never lose
//! each other's changes: a concurrent sign-in's counter, a rename, a removal.

use mongodb::bson::{self, Bson, Document, doc};

use super::StoreError;
use super::outbox::OutboxEntry;
use super::user_doc::{PasskeyDoc, StampGuard, Updated, stamp_filter};
use super::users::UserStore;

/// Matches the array as it was read (absent and empty alike).
fn unchanged(current: &[PasskeyDoc]) -> Result<Document, StoreError> {
    if current.is_empty() {
        return Ok(doc! { "$or": [
            { "passkeys": { "$exists": false } },
            { "passkeys": { "$size": 0 } },
        ] });
    }
    Ok(doc! { "passkeys": to_array(current)? })
}

fn to_array(passkeys: &[PasskeyDoc]) -> Result<Bson, StoreError> {
    bson::to_bson(passkeys).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl UserStore {
    /// Adds a passkey, with the owner's notice in the same transaction, while the account
    /// still has the stamp and the passkeys the workflow read.
    #[tracing::instrument(name = "users.add_passkey", skip_all, fields(user_id = %id))]
    pub async fn add_passkey(
        &self,
        id: &str,
        stamp: &str,
        current: &[PasskeyDoc],
        added: &PasskeyDoc,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        let mut filter = unchanged(current)?;
        filter.insert("security_stamp", stamp_filter(stamp));
        let mut all = current.to_vec();
        all.push(added.clone());
        let update = doc! { "$set": {
            "passkeys": to_array(&all)?,
            "updated_at": bson::DateTime::now(),
        } };
        self.update_with_outbox(id, filter, update, outbox).await
    }

    /// Replaces the passkeys (a sign-in's new counter and flags, a rename) if they are still
    /// `current`. Answers whether they were replaced.
    #[tracing::instrument(name = "users.replace_passkeys", skip_all, fields(user_id = %id))]
    pub async fn replace_passkeys(
        &self,
        id: &str,
        current: &[PasskeyDoc],
        new: &[PasskeyDoc],
    ) -> Result<bool, StoreError> {
        let mut filter = unchanged(current)?;
        filter.insert("_id", id);
        self.users
            .update_one(filter, doc! { "$set": { "passkeys": to_array(new)? } })
            .await
            .map(|r| r.matched_count == 1)
            .map_err(StoreError::mongo)
    }

    /// Stores the passkeys without one that was removed and moves the stamp, while the
    /// account still has the address, stamp and passkeys read; the notice in the same
    /// transaction.
    #[tracing::instrument(name = "users.remove_passkey", skip_all, fields(user_id = %id))]
    pub async fn remove_passkey(
        &self,
        id: &str,
        guard: &StampGuard<'_>,
        current: &[PasskeyDoc],
        remaining: &[PasskeyDoc],
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        let mut filter = unchanged(current)?;
        filter.insert("email", guard.email);
        filter.insert("security_stamp", stamp_filter(guard.stamp));
        let update = doc! { "$set": {
            "passkeys": to_array(remaining)?,
            "security_stamp": guard.new_stamp,
            "updated_at": bson::DateTime::now(),
        } };
        self.update_with_outbox(id, filter, update, outbox).await
    }
}
