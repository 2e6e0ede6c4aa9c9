//! Sessions in Redis.
//!
//! `session:<token digest>` is a hash with the session's fields; its key expires at whichever
//! comes first, the idle timeout (pushed back on use) or the absolute lifetime. The index
//! `user-sessions:<user id>` maps each of a user's session ids to its digest, so that a user's
//! sessions can be listed and revoked without knowing their tokens. Index entries whose session
//! expired are pruned when the index is read.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::AsyncCommands;

use super::StoreError;
use super::redis_store::RedisStore;

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

    pub async fn create(&self, digest: &str, record: &SessionRecord) -> Result<(), StoreError> {
        let mut conn = self.redis.connection();
        let key = self.session_key(digest);
        let index = self.index_key(&record.user_id);
        let ttl = self.policy.ttl(record, record.created_at).max(1);
        let mut fields = vec![
            ("id", record.id.clone()),
            ("user_id", record.user_id.clone()),
            ("created_at", record.created_at.timestamp().to_string()),
            ("last_seen_at", record.last_seen_at.timestamp().to_string()),
            ("expires_at", record.expires_at.timestamp().to_string()),
        ];
        if let Some(ua) = &record.user_agent {
            fields.push(("user_agent", truncate(ua)));
        }
        if let Some(ip) = &record.ip {
            fields.push(("ip", ip.clone()));
        }
        let lifetime = self.policy.lifetime.as_secs().max(1) as i64;
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &fields)
            .ignore()
            .expire(&key, ttl)
            .ignore()
            .hset(&index, &record.id, digest)
            .ignore()
            // The index lives as long as the newest session can.
            .expire(&index, lifetime)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(StoreError::redis)
    }

    /// The valid session behind a token digest, if any.
    pub async fn get(&self, digest: &str) -> Result<Option<SessionRecord>, StoreError> {
        let mut conn = self.redis.connection();
        let fields: HashMap<String, String> = conn
            .hgetall(self.session_key(digest))
            .await
            .map_err(StoreError::redis)?;
        if fields.is_empty() {
            return Ok(None);
        }
        let record = parse(&fields)?;
        Ok(self.policy.is_valid(&record, Utc::now()).then_some(record))
    }

    /// Records use of the session, which pushes its idle timeout back.
    pub async fn touch(&self, digest: &str, record: &SessionRecord) -> Result<(), StoreError> {
        let now = Utc::now();
        if now - record.last_seen_at < self.policy.touch_interval() {
            return Ok(());
        }
        let mut touched = record.clone();
        touched.last_seen_at = now;
        let ttl = self.policy.ttl(&touched, now).max(1);
        let key = self.session_key(digest);
        let mut conn = self.redis.connection();
        // XX-like guard: only refresh a session that still exists (not one revoked meanwhile).
        let exists: bool = conn.exists(&key).await.map_err(StoreError::redis)?;
        if !exists {
            return Ok(());
        }
        redis::pipe()
            .atomic()
            .hset(&key, "last_seen_at", now.timestamp().to_string())
            .ignore()
            .expire(&key, ttl)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(StoreError::redis)
    }

    /// Every valid session of a user, newest first.
    pub async fn list(&self, user_id: &str) -> Result<Vec<StoredSession>, StoreError> {
        let mut conn = self.redis.connection();
        let index_key = self.index_key(user_id);
        let index: HashMap<String, String> =
            conn.hgetall(&index_key).await.map_err(StoreError::redis)?;
        let now = Utc::now();
        let mut sessions = Vec::with_capacity(index.len());
        let mut stale = Vec::new();
        for (id, digest) in index {
            let fields: HashMap<String, String> = conn
                .hgetall(self.session_key(&digest))
                .await
                .map_err(StoreError::redis)?;
            match (!fields.is_empty()).then(|| parse(&fields)).transpose()? {
                Some(record) if record.user_id == user_id && self.policy.is_valid(&record, now) => {
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
