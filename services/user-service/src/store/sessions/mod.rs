//! Sessions in Redis.
//!
//! All of a user's session keys live under the hash tag `{u:<routing tag>}` (store::keys), the
//! tag every session token starts with, so each script below touches one Cluster slot:
//!
//! - `{u:<tag>}:session:<token digest>` is a hash with the session's fields; its key expires at
//!   whichever comes first, the idle timeout (pushed back on use) or the absolute lifetime.
//! - `{u:<tag>}:user-sessions:<user id>` maps each of a user's session ids to its stored digest
//!   (`<tag>.<hex>`), so that a user's sessions can be listed and revoked without their tokens.
//!   Every new session prunes the entries whose session expired and, past the cap of sessions
//!   per account, ends the oldest: the index stays bounded.
//! - `{u:<tag>}:stamp:<user id>` holds the user's current security stamp (a copy of the one in
//!   MongoDB, so that checking a session never reads MongoDB). Every session records the stamp
//!   it was made under and is valid only while the two are equal: a password change, reset,
//!   email change or deletion moves the stamp and every older session ends, even one whose key
//!   a failed revocation left behind or that a racing login created after the revocation. The
//!   stamp key lives as long as the longest session can (refreshed at each login); a session
//!   whose stamp key is missing is refused. The check, its expiry tests and the touch are one
//!   Lua script: one round trip, and a revoked session is never brought back by a concurrent
//!   touch.
//!
//! A replica may answer a check from its copy of a session it checked recently (`cache`), for
//! as long as Redis' notices say neither the session key nor the stamp key changed.

mod cache;
mod index;
mod record;
mod scripts;
mod stamps;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use self::record::{fields, parse};
use self::scripts::{CHECK, CREATE};
use crate::crypto::routing_tag;
use crate::store::StoreError;
use crate::store::keys::split_session_digest;
use crate::store::redis_store::RedisStore;

pub use self::cache::{CacheMetrics, SessionCache};
pub use self::record::{SessionLookup, SessionPolicy, SessionRecord, StampCheck, StoredSession};

#[derive(Clone)]
pub struct SessionStore {
    redis: RedisStore,
    policy: SessionPolicy,
    /// Sessions ended by the per-account cap.
    evicted: prometheus::IntCounter,
    /// Copies of valid sessions (`SESSION_CACHE_MAX_AGE`), when enabled.
    cache: Option<Arc<SessionCache>>,
}

impl SessionStore {
    pub fn new(redis: RedisStore, policy: SessionPolicy, evicted: prometheus::IntCounter) -> Self {
        Self {
            redis,
            policy,
            evicted,
            cache: None,
        }
    }

    /// Checks answer from `cache` while it is live (see `cache`).
    pub fn with_cache(mut self, cache: Arc<SessionCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The copies of valid sessions, when enabled.
    pub fn cache(&self) -> Option<&Arc<SessionCache>> {
        self.cache.as_ref()
    }

    /// Drops this process's copy of a session it changed or ended (other replicas hear of it
    /// from Redis).
    fn forget_session(&self, digest: &str, key: &str) {
        if let (Some(cache), Some((tag, _))) = (&self.cache, split_session_digest(digest)) {
            cache.forget_session(key, tag);
        }
    }

    /// Drops this process's copies of a user's sessions after a change to them or the stamp.
    fn forget_user(&self, user_id: &str) {
        if let Some(cache) = &self.cache {
            cache.forget_user(&routing_tag(user_id), user_id);
        }
    }

    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    /// The key of a stored digest (`<tag>.<hex>`); `None` for one of another shape (a token
    /// from before routing tags, or garbage), which no session is stored under.
    fn session_key(&self, digest: &str) -> Option<String> {
        let (tag, hex) = split_session_digest(digest)?;
        Some(self.redis.keys().user(tag, "session", hex))
    }

    fn index_key(&self, user_id: &str) -> String {
        self.redis
            .keys()
            .user(&routing_tag(user_id), "user-sessions", user_id)
    }

    fn stamp_key(&self, user_id: &str) -> String {
        self.redis
            .keys()
            .user(&routing_tag(user_id), "stamp", user_id)
    }

    /// How long the stamp key and the index live: as long as the newest session can.
    fn index_ttl(&self) -> i64 {
        self.policy.lifetime.as_secs().max(1) as i64 + 60
    }

    /// Stores a new session, prunes the user's index of ended sessions and ends the oldest ones
    /// beyond the per-account cap (counted in `user_sessions_evicted_total`). Answers whether
    /// the stamp it carries is the user's current one in Redis; when it is not, the session
    /// exists but no request will accept it until the caller has settled which stamp is right
    /// (see the login workflow).
    #[tracing::instrument(name = "sessions.create", skip_all)]
    pub async fn create(
        &self,
        digest: &str,
        record: &SessionRecord,
    ) -> Result<StampCheck, StoreError> {
        let tag = routing_tag(&record.user_id);
        let key = self
            .session_key(digest)
            .filter(|_| digest.starts_with(&format!("{tag}.")))
            .ok_or_else(|| StoreError::Corrupt("session digest without the user's tag".into()))?;
        let ttl = self.policy.ttl(record, record.created_at).max(1);
        let mut invocation = CREATE.prepare_invoke();
        invocation
            .key(&key)
            .key(self.index_key(&record.user_id))
            .key(self.stamp_key(&record.user_id))
            .arg(ttl)
            .arg(self.index_ttl())
            .arg(&record.id)
            .arg(digest)
            .arg(&record.stamp)
            .arg(self.policy.max_per_account)
            .arg(self.redis.keys().user(&tag, "session", ""));
        for (name, value) in fields(record) {
            invocation.arg(name).arg(value);
        }
        let mut conn = self.redis.durable_connection();
        let (current, evicted): (Option<String>, u64) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        if evicted > 0 {
            self.forget_user(&record.user_id);
            self.evicted.inc_by(evicted);
            tracing::info!(user_id = %record.user_id, evicted, "oldest sessions ended: per-account cap");
        }
        self.redis.wait_for_replicas(&mut conn, &key).await;
        Ok(if current.as_deref() == Some(record.stamp.as_str()) {
            StampCheck::Current
        } else {
            StampCheck::Differs
        })
    }

    /// What a token digest leads to: a valid session (touched when due, which pushes its idle
    /// timeout back), one that ended, or none. One round trip, or none when this process holds
    /// a current copy (`cache`); never reads MongoDB. The span `sessions.check` is the round
    /// trip's: a check answered from the copy has none.
    pub async fn check(&self, digest: &str) -> Result<SessionLookup, StoreError> {
        let (Some(key), Some((tag, _))) = (self.session_key(digest), split_session_digest(digest))
        else {
            return Ok(SessionLookup::Unknown);
        };
        let ticket = match self.cache.as_deref().map(|c| c.get(&key, tag)) {
            Some(Ok(copy)) => return Ok(SessionLookup::Valid(copy)),
            Some(Err(ticket)) => Some(ticket),
            None => None,
        };
        let now = Utc::now();
        let lookup = self.check_in_redis(&key, tag, now).await?;
        if let (Some(cache), Some(ticket), SessionLookup::Valid(record)) =
            (&self.cache, ticket, &lookup)
        {
            cache.keep(ticket, &key, record, self.policy.fresh_for(record, now));
        }
        Ok(lookup)
    }

    /// The check itself: the script, then the expiry tests on what it answered.
    #[tracing::instrument(name = "sessions.check", skip_all)]
    async fn check_in_redis(
        &self,
        key: &str,
        tag: &str,
        now: DateTime<Utc>,
    ) -> Result<SessionLookup, StoreError> {
        let mut conn = self.redis.connection();
        let answer: redis::Value = CHECK
            .key(key)
            .arg(self.redis.keys().stamp_prefix(tag))
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
        let mut flat = flat.into_iter();
        let mut fields = HashMap::with_capacity(flat.len() / 2);
        while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
            fields.insert(name, value);
        }
        let record = parse(&fields)?;
        Ok(if self.policy.is_valid(&record, now) {
            SessionLookup::Valid(Arc::new(record))
        } else {
            SessionLookup::Ended
        })
    }
}
