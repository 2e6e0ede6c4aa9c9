//! Persistence: users and the email outbox in MongoDB, sessions and single-use codes in Redis.

pub mod keys;
pub mod mfa_challenges;
pub mod outbox;
pub mod passkey_ceremonies;
pub mod rate_limits;
pub mod redis_store;
pub mod sessions;
mod user_collection;
mod user_doc;
pub mod user_mfa;
pub mod user_passkeys;
pub mod user_profile;
pub mod user_queries;
pub mod users;

use mongodb::error::{ErrorKind, WriteFailure};

/// Something a store could not do. Details go to logs, never to clients; the driver's error
/// is kept as the cause.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("mongodb unavailable")]
    Mongo(#[source] mongodb::error::Error),
    #[error("redis unavailable")]
    Redis(#[source] redis::RedisError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn mongo(e: mongodb::error::Error) -> Self {
        StoreError::Mongo(e)
    }

    pub fn redis(e: redis::RedisError) -> Self {
        StoreError::Redis(e)
    }

    /// The backing service that failed, for logs and problem documents; `None` for bad data.
    pub fn dependency(&self) -> Option<&'static str> {
        match self {
            StoreError::Mongo(_) => Some("mongodb"),
            StoreError::Redis(_) => Some("redis"),
            StoreError::Corrupt(_) => None,
        }
    }
}

/// An error with its whole cause chain, for a log field.
pub use common::error_chain as chain;

const DUPLICATE_KEY: i32 = 11000;

pub(crate) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errs| errs.iter().any(|w| w.code == DUPLICATE_KEY)),
        _ => false,
    }
}

pub(crate) fn to_bson_time(t: chrono::DateTime<chrono::Utc>) -> mongodb::bson::DateTime {
    mongodb::bson::DateTime::from_millis(t.timestamp_millis())
}

pub(crate) fn from_bson_time(t: mongodb::bson::DateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default()
}
