//! The `outbox` collection: every email and domain event is written here, in the same transaction as the
//! change that causes it, before it is published. A broker outage therefore delays emails but
//! never loses them: the relay publishes whatever is still here.

use chrono::{DateTime, Utc};
use common::email::EmailMessage;
use common::telemetry::propagation::{self, Carrier};
use mongodb::bson::{self, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::{StoreError, from_bson_time, to_bson_time};
use crate::events::DomainEvent;

pub const COLLECTION: &str = "outbox";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The email's message id, or the event's id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Email kind or event type; the AMQP `type` property.
    pub kind: String,
    /// Where it goes: `Email` to the email queue, `Event` to the events exchange.
    #[serde(default)]
    pub destination: Destination,
    /// The encoded message, published byte for byte.
    pub payload: String,
    pub created_at: bson::DateTime,
    /// Not published before this instant: a lease held by whoever is publishing it, or a
    /// back-off after a failed attempt.
    pub available_at: bson::DateTime,
    pub attempts: i32,
    /// When the email's link expires (`EmailMessage::expires_at`): past it, the relay drops
    /// the entry instead of publishing it. Absent for events and link-less emails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<bson::DateTime>,
    /// The W3C trace context of the request that wrote it (`traceparent`, `tracestate`), so
    /// that publishing it later, from any replica, continues that request's trace. Empty
    /// when tracing is off.
    #[serde(default, skip_serializing_if = "Carrier::is_empty")]
    pub trace: Carrier,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    #[default]
    Email,
    Event,
}

impl Destination {
    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Email => "email",
            Destination::Event => "event",
        }
    }
}

impl OutboxEntry {
    /// An entry leased for `lease` to the request that creates it, which publishes it at once;
    /// the relay only takes it over if that fails.
    pub fn new(message: &EmailMessage, lease: chrono::Duration) -> Self {
        let mut entry = Self::leased(
            message.message_id.to_string(),
            message.kind.as_str(),
            Destination::Email,
            String::from_utf8(message.encode()).expect("JSON is UTF-8"),
            lease,
        );
        entry.expires_at = message.expires_at.map(to_bson_time);
        entry
    }

    pub fn event(event: &DomainEvent, lease: chrono::Duration) -> Self {
        Self::leased(
            event.event_id.to_string(),
            event.kind.as_str(),
            Destination::Event,
            event.encode(),
            lease,
        )
    }

    fn leased(
        id: String,
        kind: &str,
        destination: Destination,
        payload: String,
        lease: chrono::Duration,
    ) -> Self {
        let now = Utc::now();
        Self {
            id,
            kind: kind.to_owned(),
            destination,
            payload,
            created_at: to_bson_time(now),
            available_at: to_bson_time(now + lease),
            attempts: 0,
            expires_at: None,
            trace: propagation::current_carrier(),
        }
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        from_bson_time(self.created_at)
    }

    /// Whether the email's link has expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| from_bson_time(at) <= now)
    }
}

pub(super) async fn init_collection(db: &Database) -> Result<Collection<OutboxEntry>, StoreError> {
    let outbox = db.collection::<OutboxEntry>(COLLECTION);
    outbox
        .create_index(
            IndexModel::builder()
                .keys(doc! { "available_at": 1 })
                .options(
                    IndexOptions::builder()
                        .name("available_at".to_owned())
                        .build(),
                )
                .build(),
        )
        .await
        .map_err(StoreError::mongo)?;
    Ok(outbox)
}

#[derive(Clone)]
pub struct OutboxStore {
    entries: Collection<OutboxEntry>,
}

impl OutboxStore {
    pub fn new(db: &Database) -> Self {
        Self {
            entries: db.collection(COLLECTION),
        }
    }

    #[tracing::instrument(name = "outbox.insert", skip_all, fields(message_id = %entry.id))]
    pub async fn insert(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.entries
            .insert_one(entry)
            .await
            .map(|_| ())
            .map_err(StoreError::mongo)
    }

    /// Takes the oldest due entry and leases it for `lease`, so that other replicas' relays
    /// leave it alone while this one publishes it. Debug level: the relay polls every few
    /// seconds, and an empty poll is not worth a trace.
    #[tracing::instrument(name = "outbox.claim_due", level = "debug", skip_all)]
    pub async fn claim_due(
        &self,
        lease: chrono::Duration,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        let now = Utc::now();
        self.entries
            .find_one_and_update(
                doc! { "available_at": { "$lte": to_bson_time(now) } },
                doc! {
                    "$set": { "available_at": to_bson_time(now + lease) },
                    "$inc": { "attempts": 1 },
                },
            )
            .sort(doc! { "available_at": 1 })
            .return_document(ReturnDocument::After)
            .await
            .map_err(StoreError::mongo)
    }

    /// Published and confirmed by the broker: done.
    #[tracing::instrument(name = "outbox.remove", skip_all, fields(message_id = %id))]
    pub async fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.entries
            .delete_one(doc! { "_id": id })
            .await
            .map(|_| ())
            .map_err(StoreError::mongo)
    }

    pub async fn pending(&self) -> Result<u64, StoreError> {
        self.entries
            .estimated_document_count()
            .await
            .map_err(StoreError::mongo)
    }
}
