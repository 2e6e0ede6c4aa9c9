//! Domain events: what happened to an account, for other services to react to.
//!
//! Published through the same outbox as emails (atomically with the change that causes them) to
//! the durable topic exchange `EVENTS_EXCHANGE` with the event type as routing key. The schema is
//! documented in docs/events.md.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "user.registered")]
    Registered,
    #[serde(rename = "user.email_verified")]
    EmailVerified,
    #[serde(rename = "user.password_changed")]
    PasswordChanged,
    #[serde(rename = "user.deleted")]
    Deleted,
    /// The display name or locale changed; `data` holds only what changed.
    #[serde(rename = "user.profile_changed")]
    ProfileChanged,
    /// An operator's action (admin API); `data.actor` names the token.
    #[serde(rename = "user.admin.disabled")]
    AdminDisabled,
    #[serde(rename = "user.admin.enabled")]
    AdminEnabled,
    #[serde(rename = "user.admin.sessions_revoked")]
    AdminSessionsRevoked,
    #[serde(rename = "user.admin.updated")]
    AdminUpdated,
    #[serde(rename = "user.admin.email_verified")]
    AdminEmailVerified,
    #[serde(rename = "user.admin.email_sent")]
    AdminEmailSent,
    #[serde(rename = "user.admin.deleted")]
    AdminDeleted,
    #[serde(rename = "user.admin.invited")]
    AdminInvited,
    #[serde(rename = "user.admin.mfa_removed")]
    AdminMfaRemoved,
    #[serde(rename = "user.admin.passkey_removed")]
    AdminPasskeyRemoved,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Registered => "user.registered",
            EventType::EmailVerified => "user.email_verified",
            EventType::PasswordChanged => "user.password_changed",
            EventType::Deleted => "user.deleted",
            EventType::ProfileChanged => "user.profile_changed",
            EventType::AdminDisabled => "user.admin.disabled",
            EventType::AdminEnabled => "user.admin.enabled",
            EventType::AdminSessionsRevoked => "user.admin.sessions_revoked",
            EventType::AdminUpdated => "user.admin.updated",
            EventType::AdminEmailVerified => "user.admin.email_verified",
            EventType::AdminEmailSent => "user.admin.email_sent",
            EventType::AdminDeleted => "user.admin.deleted",
            EventType::AdminInvited => "user.admin.invited",
            EventType::AdminMfaRemoved => "user.admin.mfa_removed",
            EventType::AdminPasskeyRemoved => "user.admin.passkey_removed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub schema_version: u32,
    /// Unique per event and stable across re-publishing: consumers deduplicate by it.
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub occurred_at: DateTime<Utc>,
    pub user_id: String,
    /// Type-specific facts; never a secret.
    pub data: Map<String, Value>,
}

impl DomainEvent {
    pub fn new(kind: EventType, user_id: &str) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            event_id: Uuid::now_v7(),
            kind,
            occurred_at: Utc::now(),
            user_id: user_id.to_owned(),
            data: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("an event always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        let event = DomainEvent::new(EventType::EmailVerified, "u-1").with("email", "a@b.example");
        let json: Value = serde_json::from_str(&event.encode()).unwrap();
        assert_eq!(json["type"], "user.email_verified");
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["user_id"], "u-1");
        assert_eq!(json["data"]["email"], "a@b.example");
        let back: DomainEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
