//! The `users` collection itself: its validator and its indexes, set up at start.

use mongodb::bson::{Document, doc};
use mongodb::options::{IndexOptions, ValidationAction, ValidationLevel};
use mongodb::{Collection, Database, IndexModel};

use super::StoreError;
use super::user_doc::UserDoc;

pub const COLLECTION: &str = "users";

/// The order of listings, and the index that serves it as a range scan.
pub(super) const CREATED_ORDER: &str = "created_order";

/// Creates the collection with its validator (or updates the validator of an existing one)
/// and the indexes. Safe to run from several replicas at once.
pub(super) async fn prepare(db: &Database) -> Result<Collection<UserDoc>, StoreError> {
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
    let unique = IndexOptions::builder()
        .unique(true)
        .name("email_unique".to_owned())
        .build();
    create_index(&users, doc! { "email": 1 }, unique).await?;
    let named = IndexOptions::builder()
        .name(CREATED_ORDER.to_owned())
        .build();
    create_index(&users, doc! { "created_at": 1, "_id": 1 }, named).await?;
    Ok(users)
}

/// Creates an index (nothing happens if it exists as specified).
async fn create_index(
    users: &Collection<UserDoc>,
    keys: Document,
    options: IndexOptions,
) -> Result<(), StoreError> {
    let index = IndexModel::builder().keys(keys).options(options).build();
    users
        .create_index(index)
        .await
        .map(|_| ())
        .map_err(StoreError::mongo)
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
                "mfa": mfa_schema(),
                "passkeys": passkeys_schema(),
            },
        }
    }
}

/// The validator's rule for `passkeys`.
fn passkeys_schema() -> Document {
    doc! {
        "bsonType": "array",
        "maxItems": 50,
        "items": {
            "bsonType": "object",
            "required": ["id", "name", "created_at", "backup_eligible", "backed_up", "credential"],
            "properties": {
                "id": { "bsonType": "string", "minLength": 1, "maxLength": 1400 },
                "name": { "bsonType": "string", "minLength": 1, "maxLength": 200 },
                "created_at": { "bsonType": "date" },
                "last_used_at": { "bsonType": "date" },
                "backup_eligible": { "bsonType": "bool" },
                "backed_up": { "bsonType": "bool" },
                "credential": { "bsonType": "string" },
            },
        },
    }
}

/// The validator's rule for `mfa`.
fn mfa_schema() -> Document {
    doc! {
        "bsonType": "object",
        "required": ["secret", "enabled_at", "recovery_codes", "last_step"],
        "properties": {
            "secret": {
                "bsonType": "object",
                "required": ["kid", "nonce", "ciphertext"],
                "properties": {
                    "kid": { "bsonType": "string", "minLength": 1, "maxLength": 32 },
                    "nonce": { "bsonType": "string" },
                    "ciphertext": { "bsonType": "string" },
                },
            },
            "enabled_at": { "bsonType": "date" },
            "recovery_codes": { "bsonType": "array", "maxItems": 20, "items": { "bsonType": "string" } },
            "last_step": { "bsonType": "long" },
        },
    }
}
