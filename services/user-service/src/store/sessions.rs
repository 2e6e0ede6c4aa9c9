//! Sessions in Redis.
//!
//! `session:<token digest>` is a hash with the session's fields; its key expires at whichever
//! comes first, the idle timeout (pushed back on use) or the absolute lifetime. The index
//! `user-sessions:<user id>` maps each of a user's session ids to its digest, so that a user's
//! sessions can be listed and revoked without knowing their tokens. Index entries whose session
//! expired are pruned when the index is read.
//!
//! `stamp:<user id>` holds the user's current security stamp (a copy of the one in MongoDB, so
//! that checking a session never reads MongoDB). Every session records the stamp it was made
//! under and is valid only while the two are equal: a password change, reset, email change or
//! deletion moves the stamp and every older session ends, even one whose key a failed revocation
//! left behind or that a racing login created after the revocation. The stamp key lives as long
//! as the longest session can (refreshed at each login); a session whose stamp key is missing is
//! refused. The check, its expiry tests and the touch are one Lua script: one round trip, and a
//! revoked session is never brought back by a concurrent touch.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::{AsyncCommands, Script};

use super::StoreError;
use super::redis_store::RedisStore;
use super::session_scripts::{CHECK, CREATE, MARK_VERIFIED, RESTAMP, SWAP_STAMP};

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
}

/// What a token digest leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    /// A valid session (touched when due).
    Valid(SessionRecord),
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
}

impl SessionPolicy {
    /// Redis TTL for a session last used at `last_seen`.
    fn ttl(&self, record: &SessionRecord, now: DateTime<Utc>) -> i64 {
        let idle_end = record.last_seen_at
            + chrono::Duration::from_std(self.idle_timeout).unwrap_or(chrono::Duration::MAX);
        let end = idle_end.min(record.expires_at);
        (end - now).num_seconds()
    }

    /// A session still valid at `now`. Redis expiry is the primary guard; this one holds even
    /// if a TTL was lost or the policy was tightened since the session was created.
    fn is_valid(&self, record: &SessionRecord, now: DateTime<Utc>) -> bool {
        self.ttl(record, now) > 0
    }

    /// Refreshing `last_seen_at` costs a write, so it is done at most this often.
    fn touch_interval(&self) -> chrono::Duration {
        let quarter = self.idle_timeout / 4;
        chrono::Duration::from_std(quarter.min(Duration::from_secs(60))).unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct SessionStore {
    redis: RedisStore,
    policy: SessionPolicy,
}

const MAX_TEXT: usize = 256;

impl SessionStore {
    pub fn new(redis: RedisStore, policy: SessionPolicy) -> Self {
        Self { redis, policy }
    }

    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    fn session_key(&self, digest: &str) -> String {
        self.redis.key("session", digest)
    }

    fn index_key(&self, user_id: &str) -> String {
        self.redis.key("user-sessions", user_id)
    }

    fn stamp_key(&self, user_id: &str) -> String {
        self.redis.key("stamp", user_id)
    }

    /// How long the stamp key and the index live: as long as the newest session can.
    fn index_ttl(&self) -> i64 {
        self.policy.lifetime.as_secs().max(1) as i64 + 60
    }

    /// Stores a new session. Answers whether the stamp it carries is the user's current one in
    /// Redis; when it is not, the session exists but no request will accept it until the caller
    /// has settled which stamp is right (see the login workflow).
    #[tracing::instrument(name = "sessions.create", skip_all)]
    pub async fn create(
        &self,
        digest: &str,
        record: &SessionRecord,
    ) -> Result<StampCheck, StoreError> {
        let mut conn = self.redis.connection();
        let ttl = self.policy.ttl(record, record.created_at).max(1);
        let script = Script::new(CREATE);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.session_key(digest))
            .key(self.index_key(&record.user_id))
            .key(self.stamp_key(&record.user_id))
            .arg(ttl)
            .arg(self.index_ttl())
            .arg(&record.id)
            .arg(digest)
            .arg(&record.stamp);
        for (name, value) in fields(record) {
            invocation.arg(name).arg(value);
        }
        let current: Option<String> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        Ok(if current.as_deref() == Some(record.stamp.as_str()) {
            StampCheck::Current
        } else {
            StampCheck::Differs
        })
    }

    /// What a token digest leads to: a valid session (touched when due, which pushes its idle
    /// timeout back), one that ended, or none. One round trip; never reads MongoDB.
    #[tracing::instrument(name = "sessions.check", skip_all)]
    pub async fn check(&self, digest: &str) -> Result<SessionLookup, StoreError> {
        let mut conn = self.redis.connection();
        let now = Utc::now();
        let answer: redis::Value = Script::new(CHECK)
            .key(self.session_key(digest))
            .arg(self.redis.key("stamp", ""))
            .arg(now.timestamp())
            .arg(self.policy.idle_timeout.as_secs())
            .arg(self.policy.touch_interval().num_seconds())
            .invoke_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        let flat: Vec<String> = match answer {
            redis::Value::Nil => return Ok(SessionLookup::Unknown),
            redis::Value::Okay | redis::Value::SimpleString(_) => {
                return Ok(SessionLookup::Ended);
            }
            other => redis::from_redis_value(other)
                .map_err(|e| StoreError::Corrupt(format!("session check answer: {e}")))?,
        };
        let fields: HashMap<String, String> = flat
            .chunks_exact(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect();
        let record = parse(&fields)?;
        Ok(if self.policy.is_valid(&record, now) {
            SessionLookup::Valid(record)
        } else {
            SessionLookup::Ended
        })
    }

    /// Records on every current session of a user that the address is confirmed.
    #[tracing::instrument(name = "sessions.mark_verified", skip_all)]
    pub async fn mark_verified(&self, user_id: &str) -> Result<usize, StoreError> {
        let mut conn = self.redis.connection();
        let index: HashMap<String, String> = conn
            .hgetall(self.index_key(user_id))
            .await
            .map_err(StoreError::redis)?;
        if index.is_empty() {
            return Ok(0);
        }
        let script = Script::new(MARK_VERIFIED);
        let mut invocation = script.prepare_invoke();
        for digest in index.values() {
            invocation.key(self.session_key(digest));
        }
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(StoreError::redis)
    }

    /// Sets the user's stamp in Redis (before and after the change in MongoDB).
    #[tracing::instrument(name = "sessions.set_stamp", skip_all)]
    pub async fn set_stamp(&self, user_id: &str, stamp: &str) -> Result<(), StoreError> {
        let mut conn = self.redis.connection();
        conn.set_ex::<_, _, ()>(self.stamp_key(user_id), stamp, self.index_ttl() as u64)
            .await
            .map_err(StoreError::redis)
    }

    /// Puts `previous` back if the stamp is still `attempted` (a change that did not commit).
    #[tracing::instrument(name = "sessions.restore_stamp", skip_all)]
    pub async fn restore_stamp(
        &self,
        user_id: &str,
        attempted: &str,
        previous: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.redis.connection();
        let swapped: i32 = Script::new(SWAP_STAMP)
            .key(self.stamp_key(user_id))
            .arg(attempted)
            .arg(previous)
            .arg(self.index_ttl())
            .invoke_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        Ok(swapped == 1)
    }

    /// Moves one existing session to a new stamp (the session a password change keeps).
    #[tracing::instrument(name = "sessions.restamp", skip_all)]
    pub async fn restamp(&self, digest: &str, stamp: &str) -> Result<bool, StoreError> {
        let mut conn = self.redis.connection();
        let done: i32 = Script::new(RESTAMP)
            .key(self.session_key(digest))
            .arg(stamp)
            .invoke_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        Ok(done == 1)
    }

    /// Every valid session of a user, newest first.
    #[tracing::instrument(name = "sessions.list", skip_all)]
    pub async fn list(&self, user_id: &str) -> Result<Vec<StoredSession>, StoreError> {
        let mut conn = self.redis.connection();
        let index_key = self.index_key(user_id);
        let index: HashMap<String, String> =
            conn.hgetall(&index_key).await.map_err(StoreError::redis)?;
        let stamp: Option<String> = conn
            .get(self.stamp_key(user_id))
            .await
            .map_err(StoreError::redis)?;
        let now = Utc::now();
        let mut sessions = Vec::with_capacity(index.len());
        let mut stale = Vec::new();
        for (id, digest) in index {
            let fields: HashMap<String, String> = conn
                .hgetall(self.session_key(&digest))
                .await
                .map_err(StoreError::redis)?;
            match (!fields.is_empty()).then(|| parse(&fields)).transpose()? {
                Some(record)
                    if record.user_id == user_id
                        && Some(&record.stamp) == stamp.as_ref()
                        && self.policy.is_valid(&record, now) =>
                {
                    sessions.push(StoredSession { digest, record })
                }
                _ => stale.push(id),
            }
        }
        if !stale.is_empty() {
            conn.hdel::<_, _, ()>(&index_key, stale)
                .await
                .map_err(StoreError::redis)?;
        }
        sessions.sort_by_key(|s| std::cmp::Reverse(s.record.created_at));
        Ok(sessions)
    }

    /// Revokes one of a user's sessions by its public id. Returns whether it existed.
    #[tracing::instrument(name = "sessions.revoke", skip_all)]
    pub async fn revoke(&self, user_id: &str, session_id: &str) -> Result<bool, StoreError> {
        let mut conn = self.redis.connection();
        let index_key = self.index_key(user_id);
        let digest: Option<String> = conn
            .hget(&index_key, session_id)
            .await
            .map_err(StoreError::redis)?;
        let Some(digest) = digest else {
            return Ok(false);
        };
        let (deleted, _): (u32, u32) = redis::pipe()
            .atomic()
            .del(self.session_key(&digest))
            .hdel(&index_key, session_id)
            .query_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        Ok(deleted == 1)
    }

    /// Revokes every session of a user except `keep` (a session id). Returns how many ended.
    #[tracing::instrument(name = "sessions.revoke_all", skip_all)]
    pub async fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<usize, StoreError> {
        let mut conn = self.redis.connection();
        let index_key = self.index_key(user_id);
        let index: HashMap<String, String> =
            conn.hgetall(&index_key).await.map_err(StoreError::redis)?;
        let doomed: Vec<(String, String)> = index
            .into_iter()
            .filter(|(id, _)| Some(id.as_str()) != keep)
            .collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (id, digest) in &doomed {
            pipe.del(self.session_key(digest)).ignore();
            pipe.hdel(&index_key, id).ignore();
        }
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        Ok(doomed.len())
    }
}

/// The hash fields of a session.
fn fields(record: &SessionRecord) -> Vec<(&'static str, String)> {
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
    fields
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

fn parse(fields: &HashMap<String, String>) -> Result<SessionRecord, StoreError> {
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
        }
    }

    #[test]
    fn idle_and_absolute_limits() {
        let policy = SessionPolicy {
            idle_timeout: Duration::from_secs(3600),
            lifetime: Duration::from_secs(24 * 3600),
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
