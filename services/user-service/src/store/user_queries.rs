//! The operators' queries and writes on `users` (admin API): listing in creation order with a
//! cursor, disabling, and the login record.

use mongodb::bson::{self, Document, doc};

use super::StoreError;
use super::outbox::OutboxEntry;
use super::user_collection::CREATED_ORDER;
use super::user_doc::{ProfileChanges, StampGuard, Updated, UserDoc, stamp_filter};
use super::users::UserStore;

/// Which users a listing shows. Every field narrows it.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    /// Normalised addresses starting with this.
    pub email_prefix: Option<String>,
    pub verified: Option<bool>,
    pub disabled: Option<bool>,
    /// Created at or after.
    pub created_from: Option<bson::DateTime>,
    /// Created before.
    pub created_before: Option<bson::DateTime>,
}

/// A position in the creation order: the last user of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub created_at: bson::DateTime,
    pub id: String,
}

impl UserFilter {
    fn to_document(&self, after: Option<&Position>) -> Document {
        let mut and = Vec::new();
        if let Some(prefix) = &self.email_prefix {
            // A range on the unique email index; no regular expression.
            and.push(doc! { "email": { "$gte": prefix, "$lt": format!("{prefix}\u{10FFFF}") } });
        }
        if let Some(verified) = self.verified {
            and.push(doc! { "email_verified": verified });
        }
        match self.disabled {
            Some(true) => and.push(doc! { "disabled": true }),
            Some(false) => and.push(doc! { "disabled": { "$ne": true } }),
            None => {}
        }
        let mut created = Document::new();
        if let Some(from) = self.created_from {
            created.insert("$gte", from);
        }
        if let Some(before) = self.created_before {
            created.insert("$lt", before);
        }
        if !created.is_empty() {
            and.push(doc! { "created_at": created });
        }
        if let Some(p) = after {
            and.push(doc! { "$or": [
                { "created_at": { "$gt": p.created_at } },
                { "created_at": p.created_at, "_id": { "$gt": &p.id } },
            ] });
        }
        if and.is_empty() {
            Document::new()
        } else {
            doc! { "$and": and }
        }
    }
}

impl UserStore {
    /// Up to `limit` users matching `filter` after `after`, in creation order (ties by id).
    #[tracing::instrument(name = "users.list", skip_all)]
    pub async fn list(
        &self,
        filter: &UserFilter,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<UserDoc>, StoreError> {
        use futures_util::TryStreamExt;
        self.users
            .find(filter.to_document(after))
            .sort(doc! { "created_at": 1, "_id": 1 })
            .hint(mongodb::options::Hint::Name(CREATED_ORDER.to_owned()))
            .limit(i64::from(limit))
            .await
            .map_err(StoreError::mongo)?
            .try_collect()
            .await
            .map_err(StoreError::mongo)
    }

    /// Sets or clears `disabled`, guarded by the address and stamp the caller read, with the
    /// outbox entries in the same transaction; the stamp moves when `guard.new_stamp` differs.
    #[tracing::instrument(name = "users.set_disabled", skip_all, fields(user_id = %id))]
    pub async fn set_disabled(
        &self,
        id: &str,
        guard: &StampGuard<'_>,
        disabled: bool,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        let mut set = doc! { "disabled": disabled, "updated_at": bson::DateTime::now() };
        if guard.new_stamp != guard.stamp {
            set.insert("security_stamp", guard.new_stamp);
        }
        let update = doc! { "$set": set };
        self.update_with_outbox(
            id,
            doc! { "email": guard.email, "security_stamp": stamp_filter(guard.stamp) },
            update,
            outbox,
        )
        .await
    }

    /// Moves the security stamp (every session and link of the account ends), guarded like
    /// `set_disabled`, with the outbox entries in the same transaction.
    #[tracing::instrument(name = "users.move_stamp", skip_all, fields(user_id = %id))]
    pub async fn move_stamp(
        &self,
        id: &str,
        guard: &StampGuard<'_>,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        self.update_with_outbox(
            id,
            doc! { "email": guard.email, "security_stamp": stamp_filter(guard.stamp) },
            doc! { "$set": { "security_stamp": guard.new_stamp } },
            outbox,
        )
        .await
    }

    /// Writes outbox entries that belong to an existing user, in one transaction with a check
    /// that the user is still there: for actions whose effect is the messages themselves (an
    /// operator's email and its audit event). `NoMatch` when the user is gone.
    #[tracing::instrument(name = "users.outbox_for", skip_all, fields(user_id = %id))]
    pub async fn outbox_for(
        &self,
        id: &str,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        // A no-op update (the field never exists): the transaction's write is the outbox's.
        let noop = doc! { "$unset": { "outbox_only_write": "" } };
        self.update_with_outbox(id, Document::new(), noop, outbox)
            .await
    }

    /// Applies an operator's profile changes with the outbox entries, in one transaction.
    #[tracing::instrument(name = "users.update_profile", skip_all, fields(user_id = %id))]
    pub async fn update_profile_with_outbox(
        &self,
        id: &str,
        changes: &ProfileChanges,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        self.update_with_outbox(id, Document::new(), changes.update(), outbox)
            .await
    }

    /// Records a successful login (not a profile change: `updated_at` stays).
    #[tracing::instrument(name = "users.record_login", skip_all)]
    pub async fn record_login(&self, id: &str) -> Result<(), StoreError> {
        self.users
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "last_login_at": bson::DateTime::now() } },
            )
            .await
            .map(|_| ())
            .map_err(StoreError::mongo)
    }
}
