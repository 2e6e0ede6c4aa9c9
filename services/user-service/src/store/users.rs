//! The `users` collection.

use mongodb::bson::{self, Document, doc};
use mongodb::options::{IndexOptions, ValidationAction, ValidationLevel};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::outbox::OutboxEntry;
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
    users: Collection<UserDoc>,
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
        let outbox = super::outbox::init_collection(db).await?;
        Ok(Self {
            client,
            users,
            outbox,
        })
    }

    /// Inserts the user and the email that goes with it in one transaction, so there is never
    /// an account without its verification email, nor an email for an account that does not
    /// exist.
    pub async fn insert_with_email(
        &self,
        user: &UserDoc,
        email: &OutboxEntry,
    ) -> Result<Inserted, StoreError> {
        let mut session = self
            .client
            .start_session()
            .await
            .map_err(StoreError::mongo)?;
        // One retry covers the transient conflicts transactions are allowed to report.
        for attempt in 0..2 {
            session
                .start_transaction()
                .await
                .map_err(StoreError::mongo)?;
            let result = async {
                self.users.insert_one(user).session(&mut session).await?;
                self.outbox.insert_one(email).session(&mut session).await?;
                session.commit_transaction().await
            }
            .await;
            match result {
                Ok(()) => return Ok(Inserted::Created),
                Err(e) => {
                    // Never leave a transaction open: it would hold locks until it times out.
                    let _ = session.abort_transaction().await;
                    if is_duplicate_key(&e) {
                        return Ok(Inserted::EmailTaken);
                    }
                    if attempt == 0 && e.contains_label("TransientTransactionError") {
                        continue;
                    }
                    return Err(StoreError::mongo(e));
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    pub async fn find_by_email(&self, email: &str) -> Result<Option<UserDoc>, StoreError> {
        self.users
            .find_one(doc! { "email": email })
            .await
            .map_err(StoreError::mongo)
    }

    pub async fn find_by_id(&self, id: &str) -> Result<Option<UserDoc>, StoreError> {
        self.users
            .find_one(doc! { "_id": id })
            .await
            .map_err(StoreError::mongo)
    }

    /// Marks the address verified if the account still has that address. Returns whether it did.
    pub async fn mark_verified(&self, id: &str, email: &str) -> Result<bool, StoreError> {
        let now = bson::DateTime::now();
        let result = self
            .users
            .update_one(
                doc! { "_id": id, "email": email },
                doc! { "$set": { "email_verified": true, "updated_at": now } },
            )
            .await
            .map_err(StoreError::mongo)?;
        Ok(result.matched_count == 1)
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
