//! Redis: enrolments waiting for their first code, and the challenges of the second login
//! step, keyed by the challenge token's digest.

use std::time::Duration;

use common::redis::LuaScript;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::redis_store::RedisStore;
use crate::secret_box::Sealed;

/// A password proved for this account under this security stamp; the second factor is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRecord {
    pub user_id: String,
    pub stamp: String,
}

/// Counts one attempt at a challenge and returns the record with the attempt's number, or
/// nothing when the challenge is unknown, expired or out of attempts (then it is deleted).
/// KEYS: record, attempt counter. ARGV: most attempts.
static ATTEMPT: LuaScript = LuaScript::new(
    r"
local record = redis.call('GET', KEYS[1])
if not record then return false end
local n = redis.call('INCR', KEYS[2])
if n == 1 then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
if n > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return false
end
return {record, n}
",
);

impl RedisStore {
    /// The secret of an enrolment in progress; a new enrolment replaces it.
    #[tracing::instrument(name = "redis.put_pending_mfa", skip_all)]
    pub async fn put_pending_mfa(
        &self,
        user_id: &str,
        sealed: &Sealed,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.put_json(self.key("mfa-pending", user_id), sealed, ttl)
            .await
    }

    #[tracing::instrument(name = "redis.pending_mfa", skip_all)]
    pub async fn pending_mfa(&self, user_id: &str) -> Result<Option<Sealed>, StoreError> {
        let mut conn = self.connection();
        let value: Option<String> = conn
            .get(self.key("mfa-pending", user_id))
            .await
            .map_err(StoreError::redis)?;
        value
            .map(|v| serde_json::from_str(&v).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    #[tracing::instrument(name = "redis.drop_pending_mfa", skip_all)]
    pub async fn drop_pending_mfa(&self, user_id: &str) -> Result<(), StoreError> {
        let mut conn = self.connection();
        conn.del::<_, ()>(self.key("mfa-pending", user_id))
            .await
            .map_err(StoreError::redis)
    }

    #[tracing::instrument(name = "redis.put_challenge", skip_all)]
    pub async fn put_challenge(
        &self,
        digest: &str,
        record: &ChallengeRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.put_json(self.key("mfa-challenge", digest), record, ttl)
            .await
    }

    /// Counts an attempt (see `ATTEMPT`): the record and the attempt's number (1-based).
    #[tracing::instrument(name = "redis.attempt_challenge", skip_all)]
    pub async fn attempt_challenge(
        &self,
        digest: &str,
        max_attempts: u32,
    ) -> Result<Option<(ChallengeRecord, u32)>, StoreError> {
        let mut conn = self.connection();
        let found: Option<(String, u32)> = ATTEMPT
            .key(self.key("mfa-challenge", digest))
            .key(self.attempts_key(digest))
            .arg(max_attempts)
            .invoke_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        found
            .map(|(record, n)| {
                serde_json::from_str(&record)
                    .map(|r| (r, n))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    /// Uses the challenge up: of two concurrent successes only one gets the record.
    #[tracing::instrument(name = "redis.take_challenge", skip_all)]
    pub async fn take_challenge(
        &self,
        digest: &str,
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        let record = self.take_json(self.key("mfa-challenge", digest)).await?;
        self.drop_challenge(digest).await?;
        Ok(record)
    }

    /// The challenge's attempt counter, in its record's Cluster slot (see store::keys).
    fn attempts_key(&self, digest: &str) -> String {
        let record = self.key("mfa-challenge", digest);
        self.keys().beside(&record, "mfa-challenge-attempts")
    }

    /// Ends a challenge (out of attempts, or its account changed).
    #[tracing::instrument(name = "redis.drop_challenge", skip_all)]
    pub async fn drop_challenge(&self, digest: &str) -> Result<(), StoreError> {
        let mut conn = self.connection();
        conn.del::<_, ()>(&[self.key("mfa-challenge", digest), self.attempts_key(digest)])
            .await
            .map_err(StoreError::redis)
    }
}
