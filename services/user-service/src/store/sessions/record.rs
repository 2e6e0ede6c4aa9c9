//! A session as stored: its record, how long it lives, and its encoding as a Redis hash.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Public identifier, safe to show and to put in URLs (unlike the token).
    pub id: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, however active the session is.
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The user's security stamp when the session was created.
    pub stamp: String,
    /// Whether the account's address was confirmed; set at login and when the address is
    /// confirmed later, so that the forward-auth check can answer it from Redis alone.
    pub email_verified: bool,
    /// The account's address when the session was created, for forward-auth's optional
    /// `X-User-Email` (an email change ends every session, so it cannot go stale). Personal
    /// data: never logged. `None` for sessions made before the field existed.
    pub email: Option<String>,
}

/// What a token digest leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    /// A valid session (touched when due); shared with the replica's copy when it has one.
    Valid(Arc<SessionRecord>),
    /// A session that existed but is past its idle or absolute end, or whose account changed
    /// since (its stamp moved).
    Ended,
    /// No session: never issued, logged out or revoked.
    Unknown,
}

/// What the user's stamp in Redis said when a session was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StampCheck {
    /// The session's stamp is the current one.
    Current,
    /// Redis holds another stamp: the account changed meanwhile, or a change was abandoned.
    Differs,
}

/// A session together with the digest it is stored under.
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub digest: String,
    pub record: SessionRecord,
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle_timeout: Duration,
    pub lifetime: Duration,
    /// Live sessions per account; creating one more ends the oldest.
    pub max_per_account: u32,
}

impl SessionPolicy {
    /// Redis TTL for a session last used at `last_seen`.
    pub(super) fn ttl(&self, record: &SessionRecord, now: DateTime<Utc>) -> i64 {
        let idle_end = record.last_seen_at
            + chrono::Duration::from_std(self.idle_timeout).unwrap_or(chrono::Duration::MAX);
        let end = idle_end.min(record.expires_at);
        (end - now).num_seconds()
    }

    /// A session still valid at `now`. Redis expiry is the primary guard; this one holds even
    /// if a TTL was lost or the policy was tightened since the session was created.
    pub(super) fn is_valid(&self, record: &SessionRecord, now: DateTime<Utc>) -> bool {
        self.ttl(record, now) > 0
    }

    /// How long a copy of a session just read at `now` may stand in for Redis: until the
    /// session is due to be touched, or ends, whichever comes first.
    pub(super) fn fresh_for(&self, record: &SessionRecord, now: DateTime<Utc>) -> Duration {
        let idle = chrono::Duration::from_std(self.idle_timeout).unwrap_or(chrono::Duration::MAX);
        let end = (record.last_seen_at + self.touch_interval())
            .min(record.last_seen_at + idle)
            .min(record.expires_at);
        (end - now).to_std().unwrap_or_default()
    }

    /// Refreshing `last_seen_at` costs a write, so it is done at most this often.
    pub(super) fn touch_interval(&self) -> chrono::Duration {
        let quarter = self.idle_timeout / 4;
        chrono::Duration::from_std(quarter.min(Duration::from_secs(60))).unwrap_or_default()
    }
}

/// The longest user agent kept.
const MAX_TEXT: usize = 256;

/// The hash fields of a session.
pub(super) fn fields(record: &SessionRecord) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("id", record.id.clone()),
        ("user_id", record.user_id.clone()),
        ("created_at", record.created_at.timestamp().to_string()),
        ("last_seen_at", record.last_seen_at.timestamp().to_string()),
        ("expires_at", record.expires_at.timestamp().to_string()),
        ("stamp", record.stamp.clone()),
        (
            "email_verified",
            u8::from(record.email_verified).to_string(),
        ),
    ];
    if let Some(ua) = &record.user_agent {
        fields.push(("user_agent", truncate(ua)));
    }
    if let Some(ip) = &record.ip {
        fields.push(("ip", ip.clone()));
    }
    if let Some(email) = &record.email {
        fields.push(("email", email.clone()));
    }
    fields
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

pub(super) fn parse(fields: &HashMap<String, String>) -> Result<SessionRecord, StoreError> {
    let text = |name: &str| {
        fields
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("session field {name}")))
    };
    let time = |name: &str| {
        fields
            .get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or_else(|| StoreError::Corrupt(format!("session field {name}")))
    };
    Ok(SessionRecord {
        id: text("id")?,
        user_id: text("user_id")?,
        created_at: time("created_at")?,
        last_seen_at: time("last_seen_at")?,
        expires_at: time("expires_at")?,
        user_agent: fields.get("user_agent").cloned(),
        ip: fields.get("ip").cloned(),
        stamp: fields.get("stamp").cloned().unwrap_or_default(),
        // Sessions made before the field existed say nothing: not verified, the safe side.
        email_verified: fields.get("email_verified").is_some_and(|v| v == "1"),
        email: fields.get("email").cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(created: DateTime<Utc>, last_seen: DateTime<Utc>) -> SessionRecord {
        SessionRecord {
            id: "s".into(),
            user_id: "u".into(),
            created_at: created,
            last_seen_at: last_seen,
            expires_at: created + chrono::Duration::hours(24),
            user_agent: None,
            ip: None,
            stamp: "s".into(),
            email_verified: false,
            email: None,
        }
    }

    #[test]
    fn idle_and_absolute_limits() {
        let policy = SessionPolicy {
            idle_timeout: Duration::from_secs(3600),
            lifetime: Duration::from_secs(24 * 3600),
            max_per_account: 50,
        };
        let t0 = Utc::now();
        let fresh = record(t0, t0);
        assert_eq!(policy.ttl(&fresh, t0), 3600);
        assert!(policy.is_valid(&fresh, t0 + chrono::Duration::minutes(59)));
        assert!(!policy.is_valid(&fresh, t0 + chrono::Duration::minutes(61)));
        // Used an hour before its absolute end: the idle window is cut short by the end.
        let late = record(
            t0,
            t0 + chrono::Duration::hours(23) + chrono::Duration::minutes(30),
        );
        assert_eq!(
            policy.ttl(&late, late.last_seen_at),
            30 * 60,
            "capped by expires_at"
        );
        assert!(!policy.is_valid(&late, t0 + chrono::Duration::hours(24)));
    }
}
