//! The record of sent messages in Redis, which makes delivery idempotent across redeliveries,
//! re-publishes and replicas. See `docs/mail-delivery.md` for the guarantees and the one window
//! left open.
//!
//! Keys (after `REDIS_KEY_PREFIX`):
//! - `sent:<message_id>`: the SMTP relay accepted this message; kept for `SENT_TTL`.
//! - `sending:{<prefix>sent:<message_id>}`: a replica is sending it right now; value is that
//!   attempt's random token, kept for `SEND_CLAIM_TTL` at most. Its hash tag is the sent key's
//!   whole name, so both are in one Cluster slot (the scripts below touch both) while the sent
//!   key keeps the name it had before Cluster support: records made earlier still count.

use std::time::Duration;

use common::redis::LuaScript;
use common::redis::{RedisConnection, RedisSetupError};
use redis::RedisError;
use uuid::Uuid;

use crate::config::RedisConfig;

/// What [`SentLog::claim`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Already sent: nothing to do.
    AlreadySent,
    /// Another attempt holds the claim, still sending (or crashed less than a claim TTL ago).
    Busy,
    /// Ours to send; pass the claim to [`SentLog::record_sent`] or [`SentLog::release`].
    Claimed(Claim),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Claim {
    message_id: Uuid,
    token: String,
}

// One round trip for the check and the claim, so no other replica can slip in between.
static CLAIM: LuaScript = LuaScript::new(
    r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 2
",
);

// Only the holder may drop a claim: an attempt whose claim expired must not delete its
// successor's.
static RELEASE: LuaScript = LuaScript::new(
    r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
);

// Recording and releasing together; the sent key is only ever created, never refreshed, so
// its TTL counts from the first acceptance.
static RECORD: LuaScript = LuaScript::new(
    r"
redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
",
);

#[derive(Clone)]
pub struct SentLog {
    conn: RedisConnection,
    prefix: String,
    sent_ttl_ms: u64,
    claim_ttl_ms: u64,
}

impl SentLog {
    /// Connects lazily, so a Redis outage at start-up only makes the service unready.
    pub fn new(config: &RedisConfig) -> Result<Self, RedisSetupError> {
        Ok(Self {
            conn: RedisConnection::open(&config.connection)?,
            prefix: config.key_prefix.clone(),
            sent_ttl_ms: millis(config.sent_ttl),
            claim_ttl_ms: millis(config.claim_ttl),
        })
    }

    fn sent_key(&self, id: Uuid) -> String {
        format!("{}sent:{id}", self.prefix)
    }

    fn claim_key(&self, id: Uuid) -> String {
        format!("{}sending:{{{}}}", self.prefix, self.sent_key(id))
    }

    #[tracing::instrument(name = "sent_log.claim", skip_all)]
    pub async fn claim(&self, message_id: Uuid) -> Result<ClaimOutcome, RedisError> {
        let token = Uuid::new_v4().simple().to_string();
        let found: i64 = CLAIM
            .key(self.sent_key(message_id))
            .key(self.claim_key(message_id))
            .arg(&token)
            .arg(self.claim_ttl_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match found {
            0 => ClaimOutcome::AlreadySent,
            1 => ClaimOutcome::Claimed(Claim { message_id, token }),
            _ => ClaimOutcome::Busy,
        })
    }

    /// Records that the relay accepted the message, and drops the claim.
    #[tracing::instrument(name = "sent_log.record_sent", skip_all)]
    pub async fn record_sent(&self, claim: &Claim) -> Result<(), RedisError> {
        let _: i64 = RECORD
            .key(self.sent_key(claim.message_id))
            .key(self.claim_key(claim.message_id))
            .arg(&claim.token)
            .arg(self.sent_ttl_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Gives the claim up after a failed attempt, so the retry need not wait for it to expire.
    #[tracing::instrument(name = "sent_log.release", skip_all)]
    pub async fn release(&self, claim: Claim) -> Result<(), RedisError> {
        let _: i64 = RELEASE
            .key(self.claim_key(claim.message_id))
            .arg(&claim.token)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Refuses an evicting Redis unless allowed (see `RedisConnection::check_eviction_policy`).
    pub async fn check_eviction(&self, allow: bool) -> Result<(), common::redis::EvictingRedis> {
        self.conn.check_eviction_policy(allow).await
    }

    /// For readiness: what is wrong in the configured mode (no primary known, slots not
    /// covered), if anything. Never the URL (it may carry the password).
    pub async fn ping(&self) -> Result<(), String> {
        self.conn.readiness().await
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
