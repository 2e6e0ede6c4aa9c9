//! Rate limits kept in Redis, so every replica counts against the same budget.
//!
//! Fixed windows: the first hit of a subject starts a window of `window`; at most `max` hits fit
//! in it. Simple, one round trip, and the answer carries exactly how long to wait.

use std::time::Duration;

use redis::Script;
use sha2::{Digest, Sha256};

use super::StoreError;
use super::redis_store::RedisStore;
use crate::config::LimitSetting;

/// What a limit says about one more hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit; the window ends after this long.
    Limited {
        retry_after: Duration,
    },
}

/// Increments the window's counter and reports its remaining time, atomically.
const HIT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

#[derive(Clone)]
pub struct RateLimiter {
    redis: RedisStore,
    script: std::sync::Arc<Script>,
}

impl RateLimiter {
    pub fn new(redis: RedisStore) -> Self {
        Self {
            redis,
            script: std::sync::Arc::new(Script::new(HIT)),
        }
    }

    /// Counts one hit of `subject` in `bucket`. Subjects are hashed so that no address or IP
    /// appears in a Redis key.
    #[tracing::instrument(name = "rate_limit.hit", skip_all, fields(bucket = %bucket))]
    pub async fn hit(
        &self,
        bucket: &str,
        subject: &str,
        setting: LimitSetting,
    ) -> Result<Verdict, StoreError> {
        let Some(limit) = setting.0 else {
            return Ok(Verdict::Allowed);
        };
        let key = self.key(bucket, subject);
        let mut conn = self.redis.connection();
        let (count, ttl_ms): (u64, i64) = self
            .script
            .key(key)
            .arg(limit.window.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        if count > u64::from(limit.max) {
            Ok(Verdict::Limited {
                retry_after: Duration::from_millis(ttl_ms.max(1000) as u64),
            })
        } else {
            Ok(Verdict::Allowed)
        }
    }

    /// Whether `subject` is over the limit already, without counting a hit: for limits that
    /// count failures only, checked before the attempt.
    #[tracing::instrument(name = "rate_limit.peek", skip_all, fields(bucket = %bucket))]
    pub async fn peek(
        &self,
        bucket: &str,
        subject: &str,
        setting: LimitSetting,
    ) -> Result<Verdict, StoreError> {
        let Some(limit) = setting.0 else {
            return Ok(Verdict::Allowed);
        };
        let key = self.key(bucket, subject);
        let mut conn = self.redis.connection();
        let (count, ttl_ms): (Option<u64>, i64) = redis::pipe()
            .get(&key)
            .pttl(&key)
            .query_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        if count.unwrap_or(0) >= u64::from(limit.max) {
            Ok(Verdict::Limited {
                retry_after: Duration::from_millis(ttl_ms.max(1000) as u64),
            })
        } else {
            Ok(Verdict::Allowed)
        }
    }

    /// Forgets the hits of `subject`: a successful login clears its account's failures.
    #[tracing::instrument(name = "rate_limit.reset", skip_all, fields(bucket = %bucket))]
    pub async fn reset(&self, bucket: &str, subject: &str) -> Result<(), StoreError> {
        let mut conn = self.redis.connection();
        redis::cmd("DEL")
            .arg(self.key(bucket, subject))
            .query_async::<()>(&mut conn)
            .await
            .map_err(StoreError::redis)
    }

    fn key(&self, bucket: &str, subject: &str) -> String {
        let digest = hex::encode(&Sha256::digest(subject.as_bytes())[..16]);
        self.redis.key(&format!("rl:{bucket}"), &digest)
    }
}
