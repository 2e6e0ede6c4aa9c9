//! The `users` collection.

use mongodb::bson::{self, Document, doc};
use mongodb::options::{IndexOptions, ValidationAction, ValidationLevel};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::outbox::OutboxEntry;
pub use super::user_profile::ProfileChanges;
use super::{StoreError, is_duplicate_key};

pub const COLLECTION: &str = "users";

/// A user as stored. `email` holds the normalised address and is unique.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    /// argon2id PHC string.
    pub password_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub locale: String,
    pub created_at: bson::DateTime,
    pub updated_at: bson::DateTime,
    /// Moves on every password change, reset, email change and deletion; sessions and emailed
    /// links carry the value they were made under (see `store::sessions`). Empty for accounts
    /// created before it existed, until their first such change.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub security_stamp: String,
    /// Set by an operator (admin API): no login, and every session ended when it was set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// The last successful login, recorded after the answer (absent: none since it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<bson::DateTime>,
    /// Two-factor login, when enrolled (see `store::user_mfa`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<super::user_mfa::MfaDoc>,
}

/// Matches the stamp a workflow read: the field's absence for accounts from before stamps.
pub(super) fn stamp_filter(stamp: &str) -> bson::Bson {
    if stamp.is_empty() {
        bson::Bson::Document(doc! { "$exists": false })
    } else {
        bson::Bson::String(stamp.to_owned())
    }
}

/// What a stamp-moving write expects to find, and the stamp it leaves.
pub struct StampGuard<'a> {
    pub email: &'a str,
    pub stamp: &'a str,
    pub new_stamp: &'a str,
}

/// The one write of a transaction.
enum Write<'a> {
    Insert(&'a UserDoc),
    Update(Document, Document),
    Delete(Document),
}

/// The outcome of a conditional update.
#[derive(Debug, PartialEq, Eq)]
pub enum Updated {
    Done,
    /// The user is gone or no longer matches the condition; nothing was written.
    NoMatch,
    /// The new address belongs to another account; nothing was written.
    EmailTaken,
}

/// The outcome of a registration attempt.
pub enum Inserted {
    Created,
    /// The address already has an account; nothing was written.
    EmailTaken,
}

#[derive(Clone)]
pub struct UserStore {
    client: Client,
    pub(super) users: Collection<UserDoc>,
    outbox: Collection<OutboxEntry>,
}

/// The server-side contract of a user document. The application already guarantees it; the
/// validator keeps a manual fix-up or a future bug from writing a document every reader chokes
/// on.
fn schema() -> Document {
    doc! {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["_id", "email", "email_verified", "password_hash", "locale", "created_at", "updated_at"],
            "properties": {
                "_id": { "bsonType": "string", "minLength": 36, "maxLength": 36 },
                "email": { "bsonType": "string", "minLength": 3, "maxLength": 254 },
                "email_verified": { "bsonType": "bool" },
                "password_hash": { "bsonType": "string", "pattern": "^\\$argon2(id|i|d)\\$" },
                "display_name": { "bsonType": "string", "maxLength": 400 },
                "locale": { "bsonType": "string", "minLength": 2, "maxLength": 35 },
                "created_at": { "bsonType": "date" },
                "updated_at": { "bsonType": "date" },
                "security_stamp": { "bsonType": "string", "minLength": 1, "maxLength": 64 },
                "disabled": { "bsonType": "bool" },
                "last_login_at": { "bsonType": "date" },
                "mfa": super::user_mfa::schema(),
            },
        }
    }
}

impl UserStore {
    /// Creates the collection with its validator (or updates the validator of an existing one)
    /// and the indexes. Safe to run from several replicas at once.
    pub async fn init(client: Client, db: &Database) -> Result<Self, StoreError> {
        let existing = db
            .list_collection_names()
            .await
            .map_err(StoreError::mongo)?;
        if existing.iter().any(|n| n == COLLECTION) {
            db.run_command(doc! {
                "collMod": COLLECTION,
                "validator": schema(),
                "validationLevel": "strict",
                "validationAction": "error",
            })
            .await
            .map_err(StoreError::mongo)?;
        } else if let Err(e) = db
            .create_collection(COLLECTION)
            .validator(schema())
            .validation_level(ValidationLevel::Strict)
            .validation_action(ValidationAction::Error)
            .await
        {
            // Another replica won the race: its validator is the same as ours.
            if !matches!(e.kind.as_ref(), mongodb::error::ErrorKind::Command(c) if c.code == 48) {
                return Err(StoreError::mongo(e));
            }
        }
        let users = db.collection::<UserDoc>(COLLECTION);
        users
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "email": 1 })
                    .options(
                        IndexOptions::builder()
                            .unique(true)
                            .name("email_unique".to_owned())
                            .build(),
                    )
                    .build(),
            )
            .await
            .map_err(StoreError::mongo)?;
        super::user_queries::create_indexes(&users).await?;
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
    #[tracing::instrument(name = "users.set_password", skip_all, fields(user_id = %id))]
    pub async fn set_password(
        &self,
        id: &str,
        guard: &StampGuard<'_>,
        hash: &str,
        verify: bool,
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
        self.update_with_outbox(
            id,
            doc! { "email": guard.email, "security_stamp": stamp_filter(guard.stamp) },
            doc! { "$set": set },
            outbox,
        )
        .await
    }

    /// Marks `email` verified if it is still the account's unverified address and the link's
    /// stamp is still the account's.
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
            doc! { "email": email, "email_verified": false, "security_stamp": stamp_filter(stamp) },
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
            let result = async {
                let matched = match &write {
                    Write::Insert(user) => {
                        self.users.insert_one(*user).session(&mut session).await?;
                        true
                    }
                    Write::Update(filter, update) => {
                        self.users
                            .update_one(filter.clone(), update.clone())
                            .session(&mut session)
                            .await?
                            .matched_count
                            == 1
                    }
                    Write::Delete(filter) => {
                        self.users
                            .delete_one(filter.clone())
                            .session(&mut session)
                            .await?
                            .deleted_count
                            == 1
                    }
                };
                if !matched {
                    return Ok(false);
                }
                if !outbox.is_empty() {
                    self.outbox
                        .insert_many(outbox)
                        .session(&mut session)
                        .await?;
                }
                session.commit_transaction().await?;
                Ok::<_, mongodb::error::Error>(true)
            }
            .await;
            match result {
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
}
