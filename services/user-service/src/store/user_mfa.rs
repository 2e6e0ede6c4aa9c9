//! Two-factor login in the `users` collection: the sealed TOTP secret, the digests of the
//! unused recovery codes and the last accepted time step, in the user's `mfa` sub-document.
//! Every write is conditional, so a code or a recovery code is accepted at most once even when
//! requests race.

use mongodb::bson::{self, doc};

use super::StoreError;
use super::outbox::OutboxEntry;
use super::user_doc::{StampGuard, Updated, UserDoc, stamp_filter};
use super::users::UserStore;
use crate::secret_box::Sealed;

pub use super::user_doc::MfaDoc;

/// The account still has the address and the stamp a workflow read.
fn guarded(guard: &StampGuard<'_>) -> mongodb::bson::Document {
    doc! { "email": guard.email, "security_stamp": stamp_filter(guard.stamp) }
}

impl UserStore {
    /// Turns two-factor login on, unless it already is, and moves the stamp, while the account
    /// still has the address and stamp of `guard`; the notice in the same transaction.
    #[tracing::instrument(name = "users.enable_mfa", skip_all, fields(user_id = %id))]
    pub async fn enable_mfa(
        &self,
        id: &str,
        guard: &StampGuard<'_>,
        mfa: &MfaDoc,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        let mfa = bson::to_bson(mfa).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut filter = guarded(guard);
        filter.insert("mfa", doc! { "$exists": false });
        self.update_with_outbox(
            id,
            filter,
            doc! { "$set": {
                "mfa": mfa,
                "security_stamp": guard.new_stamp,
                "updated_at": bson::DateTime::now(),
            } },
            outbox,
        )
        .await
    }

    /// Turns two-factor login off, if it is on, and moves the stamp, while the account still
    /// has the address and stamp of `guard`.
    #[tracing::instrument(name = "users.disable_mfa", skip_all, fields(user_id = %id))]
    pub async fn disable_mfa(
        &self,
        id: &str,
        guard: &StampGuard<'_>,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        let mut filter = guarded(guard);
        filter.insert("mfa", doc! { "$exists": true });
        self.update_with_outbox(
            id,
            filter,
            doc! {
                "$unset": { "mfa": "" },
                "$set": { "security_stamp": guard.new_stamp, "updated_at": bson::DateTime::now() },
            },
            outbox,
        )
        .await
    }

    /// Records that the code of `step` was used, if no code of it or a later step was, and the
    /// secret is still `secret` (verified against); `reseal` replaces the secret's ciphertext
    /// (re-encrypted under the current key) in the same write. Returns whether it was recorded.
    #[tracing::instrument(name = "users.accept_totp_step", skip_all, fields(user_id = %id))]
    pub async fn accept_totp_step(
        &self,
        id: &str,
        secret: &Sealed,
        step: i64,
        reseal: Option<&Sealed>,
    ) -> Result<bool, StoreError> {
        let mut set = doc! { "mfa.last_step": step };
        if let Some(sealed) = reseal {
            let sealed = bson::to_bson(sealed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            set.insert("mfa.secret", sealed);
        }
        self.users
            .update_one(
                doc! {
                    "_id": id,
                    "mfa.secret.ciphertext": &secret.ciphertext,
                    "mfa.last_step": { "$lt": step },
                },
                doc! { "$set": set },
            )
            .await
            .map(|r| r.matched_count == 1)
            .map_err(StoreError::mongo)
    }

    /// The accounts with two-factor login on, as a cursor (for the start-up re-keying of their
    /// recovery codes).
    #[tracing::instrument(name = "users.enrolled", skip_all)]
    pub async fn enrolled(&self) -> Result<mongodb::Cursor<UserDoc>, StoreError> {
        self.users
            .find(doc! { "mfa": { "$exists": true } })
            .await
            .map_err(StoreError::mongo)
    }

    /// Replaces the stored recovery codes (re-keyed) if they are still exactly `old`: a code
    /// used meanwhile is never brought back. Returns whether they were replaced.
    #[tracing::instrument(name = "users.replace_recovery_codes", skip_all, fields(user_id = %id))]
    pub async fn replace_recovery_codes(
        &self,
        id: &str,
        old: &[String],
        new: &[String],
    ) -> Result<bool, StoreError> {
        self.users
            .update_one(
                doc! { "_id": id, "mfa.recovery_codes": old },
                doc! { "$set": { "mfa.recovery_codes": new } },
            )
            .await
            .map(|r| r.matched_count == 1)
            .map_err(StoreError::mongo)
    }

    /// Uses up the recovery code stored as `digest` (its stored form), if it is unused, with the notice in the same
    /// transaction.
    #[tracing::instrument(name = "users.use_recovery_code", skip_all, fields(user_id = %id))]
    pub async fn use_recovery_code(
        &self,
        id: &str,
        digest: &str,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        self.update_with_outbox(
            id,
            doc! { "mfa.recovery_codes": digest },
            doc! { "$pull": { "mfa.recovery_codes": digest } },
            outbox,
        )
        .await
    }
}
