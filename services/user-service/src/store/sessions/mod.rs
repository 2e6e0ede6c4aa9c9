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

mod index;
mod record;
mod scripts;

use std::collections::HashMap;

use chrono::Utc;
use redis::{AsyncCommands, Script};

use self::record::{fields, parse};
use self::scripts::{CHECK, CREATE, MARK_VERIFIED, RESTAMP, SWAP_STAMP};
use crate::store::StoreError;
use crate::store::redis_store::RedisStore;

pub use self::record::{SessionLookup, SessionPolicy, SessionRecord, StampCheck, StoredSession};

#[derive(Clone)]
pub struct SessionStore {
    redis: RedisStore,
    policy: SessionPolicy,
}

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
}
