//! The `users` collection.

use mongodb::bson::{self, Document, doc};
use mongodb::{Client, ClientSession, Collection, Database};

use super::outbox::OutboxEntry;
use super::user_doc::stamp_filter;
use super::{StoreError, is_duplicate_key};

/// How long the stop gives MongoDB to end the driver's sessions once SHUTDOWN_TIMEOUT is
/// spent: one round trip, normally.
const IMMEDIATE_CLOSE: std::time::Duration = std::time::Duration::from_secs(2);

pub use super::user_collection::COLLECTION;
pub use super::user_doc::{Inserted, PasskeyDoc, ProfileChanges, StampGuard, Updated, UserDoc};

/// The one write of a transaction.
enum Write<'a> {
    Insert(&'a UserDoc),
    Update(Document, Document),
    Delete(Document),
    /// No user changes: the transaction writes the outbox entries only.
    OutboxOnly,
}

#[derive(Clone)]
pub struct UserStore {
    client: Client,
    pub(super) users: Collection<UserDoc>,
    outbox: Collection<OutboxEntry>,
}

impl UserStore {
    /// Prepares the collection (validator, indexes) and the outbox's. Safe to run from several
    /// replicas at once.
    pub async fn init(client: Client, db: &Database) -> Result<Self, StoreError> {
        let users = super::user_collection::prepare(db).await?;
        let outbox = super::outbox::init_collection(db).await?;
        Ok(Self {
            client,
            users,
            outbox,
        })
    }

    /// Inserts the user and the messages that go with it (verification email, domain event) in
    /// one transaction, so there is never an account without its verification email, nor an
    /// email for an account that does not exist.
    #[tracing::instrument(name = "users.insert_with_outbox", skip_all)]
    pub async fn insert_with_outbox(
        &self,
        user: &UserDoc,
        outbox: &[OutboxEntry],
    ) -> Result<Inserted, StoreError> {
        match self.transact(Write::Insert(user), outbox).await {
            Ok(_) => Ok(Inserted::Created),
            Err(e) if is_duplicate_key(&e) => Ok(Inserted::EmailTaken),
            Err(e) => Err(StoreError::mongo(e)),
        }
    }

    /// Writes outbox entries in a transaction of their own: the same shape of write as an
    /// account's creation, for a signup whose address is taken (`account::registration`).
    #[tracing::instrument(name = "users.write_outbox", skip_all)]
    pub async fn write_outbox(&self, outbox: &[OutboxEntry]) -> Result<(), StoreError> {
        self.transact(Write::OutboxOnly, outbox)
            .await
            .map(|_| ())
            .map_err(StoreError::mongo)
    }

    /// Applies `update` to the user if it still matches `filter` (plus its id), together with
    /// the outbox entries. Returns whether the user matched; nothing is written if not.
    pub(super) async fn update_with_outbox(
        &self,
        id: &str,
        filter: Document,
        update: Document,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        let mut filter = filter;
        filter.insert("_id", id);
        match self.transact(Write::Update(filter, update), outbox).await {
            Ok(matched) => Ok(if matched {
                Updated::Done
            } else {
                Updated::NoMatch
            }),
            Err(e) if is_duplicate_key(&e) => Ok(Updated::EmailTaken),
            Err(e) => Err(StoreError::mongo(e)),
        }
    }

    /// Replaces the password hash and moves the stamp, only while the account still has the
    /// address and the stamp the caller checked (an email change or another password change in
    /// between makes it a no-match). `verify`: the address is proven too (invitation link).
    pub async fn set_password(
        &self,
        id: &str,
        guard: &StampGuard<'_>,
        hash: &str,
        verify: bool,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        self.set_password_and_mfa(id, guard, hash, (verify, false), outbox)
            .await
    }

    /// `set_password`, and with `remove_mfa` the second factor goes in the same write (the
    /// "this wasn't me" link of an `mfa_enabled` notice).
    #[tracing::instrument(name = "users.set_password", skip_all, fields(user_id = %id))]
    pub async fn set_password_and_mfa(
        &self,
        id: &str,
        guard: &StampGuard<'_>,
        hash: &str,
        (verify, remove_mfa): (bool, bool),
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        let mut set = doc! {
            "password_hash": hash,
            "security_stamp": guard.new_stamp,
            "updated_at": bson::DateTime::now(),
        };
        if verify {
            set.insert("email_verified", true);
        }
        let mut update = doc! { "$set": set };
        if remove_mfa {
            update.insert("$unset", doc! { "mfa": "" });
        }
        self.update_with_outbox(
            id,
            doc! { "email": guard.email, "security_stamp": stamp_filter(guard.stamp) },
            update,
            outbox,
        )
        .await
    }

    /// Marks `email` verified if it is still the account's unverified address, the link's
    /// stamp is still the account's and the account is not disabled.
    #[tracing::instrument(name = "users.mark_verified", skip_all, fields(user_id = %id))]
    pub async fn mark_verified(
        &self,
        id: &str,
        email: &str,
        stamp: &str,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        self.update_with_outbox(
            id,
            doc! {
                "email": email,
                "email_verified": false,
                "security_stamp": stamp_filter(stamp),
                "disabled": { "$ne": true },
            },
            doc! { "$set": { "email_verified": true, "updated_at": bson::DateTime::now() } },
            outbox,
        )
        .await
    }

    /// Swaps in a confirmed new address (verified) and moves the stamp, if the account still
    /// has `guard.email` and `guard.stamp`.
    #[tracing::instrument(name = "users.change_email", skip_all, fields(user_id = %id))]
    pub async fn change_email(
        &self,
        id: &str,
        guard: &StampGuard<'_>,
        new_email: &str,
        outbox: &[OutboxEntry],
    ) -> Result<Updated, StoreError> {
        self.update_with_outbox(
            id,
            doc! { "email": guard.email, "security_stamp": stamp_filter(guard.stamp) },
            doc! { "$set": {
                "email": new_email,
                "email_verified": true,
                "security_stamp": guard.new_stamp,
                "updated_at": bson::DateTime::now(),
            } },
            outbox,
        )
        .await
    }

    /// Deletes the user and writes the outbox entries. Returns whether the user existed.
    #[tracing::instrument(name = "users.delete_with_outbox", skip_all)]
    pub async fn delete_with_outbox(
        &self,
        id: &str,
        outbox: &[OutboxEntry],
    ) -> Result<bool, StoreError> {
        self.transact(Write::Delete(doc! { "_id": id }), outbox)
            .await
            .map_err(StoreError::mongo)
    }

    /// One write to `users` and the outbox entries that belong to it, atomically. Returns
    /// whether the write matched a user.
    async fn transact(
        &self,
        write: Write<'_>,
        outbox: &[OutboxEntry],
    ) -> Result<bool, mongodb::error::Error> {
        let mut session = self.client.start_session().await?;
        // One retry covers the transient conflicts transactions are allowed to report.
        for attempt in 0..2 {
            session.start_transaction().await?;
            match self.write_and_commit(&mut session, &write, outbox).await {
                Ok(true) => return Ok(true),
                Ok(false) => {
                    session.abort_transaction().await?;
                    return Ok(false);
                }
                Err(e) => {
                    // Never leave a transaction open: it would hold locks until it times out.
                    let _ = session.abort_transaction().await;
                    if attempt == 0 && e.contains_label("TransientTransactionError") {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// The body of a transaction: the write, then, if it matched a user, the outbox entries and
    /// the commit. Returns whether it matched (the caller aborts if not).
    async fn write_and_commit(
        &self,
        session: &mut ClientSession,
        write: &Write<'_>,
        outbox: &[OutboxEntry],
    ) -> Result<bool, mongodb::error::Error> {
        let matched = match write {
            Write::Insert(user) => {
                self.users.insert_one(*user).session(&mut *session).await?;
                true
            }
            Write::Update(filter, update) => {
                self.users
                    .update_one(filter.clone(), update.clone())
                    .session(&mut *session)
                    .await?
                    .matched_count
                    == 1
            }
            Write::Delete(filter) => {
                self.users
                    .delete_one(filter.clone())
                    .session(&mut *session)
                    .await?
                    .deleted_count
                    == 1
            }
            Write::OutboxOnly => true,
        };
        if !matched {
            return Ok(false);
        }
        if !outbox.is_empty() {
            self.outbox
                .insert_many(outbox)
                .session(&mut *session)
                .await?;
        }
        session.commit_transaction().await?;
        Ok(true)
    }

    #[tracing::instrument(name = "users.find_by_email", skip_all)]
    pub async fn find_by_email(&self, email: &str) -> Result<Option<UserDoc>, StoreError> {
        self.users
            .find_one(doc! { "email": email })
            .await
            .map_err(StoreError::mongo)
    }

    #[tracing::instrument(name = "users.find_by_id", skip_all)]
    pub async fn find_by_id(&self, id: &str) -> Result<Option<UserDoc>, StoreError> {
        self.users
            .find_one(doc! { "_id": id })
            .await
            .map_err(StoreError::mongo)
    }

    pub async fn ping(&self) -> Result<(), String> {
        self.client
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The last step of the stop, once nothing uses the store: ends the driver's server
    /// sessions and closes its connections, waiting until `deadline` for its own clean-up
    /// (sessions returned, transactions aborted, cursors killed), then cutting it short. A
    /// driver left to the end of the runtime would run that clean-up as the runtime drops it,
    /// and panic.
    #[tracing::instrument(name = "users.close", skip_all)]
    pub async fn close(&self, deadline: tokio::time::Instant) {
        let graceful = self.client.clone().shutdown();
        if tokio::time::timeout_at(deadline, graceful).await.is_err() {
            tracing::warn!("MongoDB clean-up unfinished at SHUTDOWN_TIMEOUT; closing at once");
            let immediate = self.client.clone().shutdown().immediate(true);
            let cap = tokio::time::Instant::now() + IMMEDIATE_CLOSE;
            if tokio::time::timeout_at(cap, immediate).await.is_err() {
                tracing::warn!("MongoDB did not answer the end of its sessions");
            }
        }
    }
}
