//! Redis: sessions and single-use verification tokens, always keyed by the token's digest.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::redis::{LuaScript, RedisConnection};
use redis::AsyncCommands;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::keys::Keys;
use crate::config::RedisSettings;

/// What a verification token stands for: this user owning this address. `previous` is set
/// when the address replaces another one (an email change), which the confirmation swaps in.
/// `stamp` is the user's security stamp when the link was made: once it moves (password
/// change or reset, email change, deletion), the link is dead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRecord {
    pub user_id: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(default)]
    pub stamp: String,
}

/// What a password reset token stands for. `email` binds it to the address it was sent to,
/// `stamp` to the state of the account then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetRecord {
    pub user_id: String,
    pub email: String,
    #[serde(default)]
    pub stamp: String,
    /// An invitation's set-password link: using it also proves the address.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invitation: bool,
    /// The "this wasn't me" link of an `mfa_enabled` notice: using it also removes the second
    /// factor. Not the account's "newest" reset link: a reset request does not replace it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removes_mfa: bool,
}

/// Makes ARGV[1] the user's one pending email change and answers the previous one (whose link
/// the caller deletes: it is another slot's key). KEYS: pending key. ARGV: digest, TTL.
static REPLACE_PENDING: LuaScript = LuaScript::new(
    r"
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if old and old ~= ARGV[1] then return old end
return false
",
);

/// Ends the pending email change if ARGV[1] is it. KEYS: pending key.
static TAKE_PENDING: LuaScript = LuaScript::new(
    r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
);

/// Connections of their own for the session writes that wait for replicas: `WAIT` holds up
/// the connection it runs on, so on the shared one every command queued behind it (the session
/// checks of every request) would wait too, for up to `REDIS_WAIT_TIMEOUT` while a replica is
/// missing. Several, so logins do not queue behind one another's `WAIT` either.
const DURABLE_CONNECTIONS: usize = 4;

#[derive(Clone)]
pub struct RedisStore {
    conn: RedisConnection,
    /// With `REDIS_WAIT_REPLICAS`: the connections of the session writes (round robin).
    durable: Arc<[RedisConnection]>,
    next_durable: Arc<AtomicUsize>,
    keys: Keys,
    /// Replicas a session write waits for, and for how long (`REDIS_WAIT_*`).
    wait: (u32, Duration),
}

impl RedisStore {
    /// Connects in the configured mode (standalone, Sentinel or Cluster) and checks that
    /// Redis answers: the service does not start without it.
    pub async fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        let conn = RedisConnection::open(&settings.connection)?;
        conn.readiness()
            .await
            .map_err(|problem| anyhow::anyhow!("Redis is not usable: {problem}"))?;
        conn.check_eviction_policy(settings.connection.allow_eviction)
            .await?;
        let durable = if settings.wait_replicas == 0 {
            Vec::new()
        } else {
            (0..DURABLE_CONNECTIONS)
                .map(|_| RedisConnection::open(&settings.connection))
                .collect::<Result<_, _>>()?
        };
        Ok(Self {
            conn,
            durable: durable.into(),
            next_durable: Arc::default(),
            keys: Keys::new(&settings.key_prefix),
            wait: (settings.wait_replicas, settings.wait_timeout),
        })
    }

    /// The connection for a session write followed by [`Self::wait_for_replicas`]: one of the
    /// durable ones with `REDIS_WAIT_REPLICAS`, the shared one otherwise.
    pub(super) fn durable_connection(&self) -> RedisConnection {
        if self.durable.is_empty() {
            return self.conn.clone();
        }
        let n = self.next_durable.fetch_add(1, Ordering::Relaxed);
        self.durable[n % self.durable.len()].clone()
    }

    /// After a session write on `conn` (a [`Self::durable_connection`]): waits for `REDIS_WAIT_REPLICAS` replicas to have it (at
    /// most `REDIS_WAIT_TIMEOUT`). `WAIT` counts the writes of this connection; the `EXISTS` of
    /// `key` before it routes both to the key's node in a Cluster. A shortfall or an error is
    /// logged: the write is done on the primary either way.
    pub(super) async fn wait_for_replicas(&self, conn: &mut RedisConnection, key: &str) {
        let (replicas, timeout) = self.wait;
        if replicas == 0 {
            return;
        }
        let answer: redis::RedisResult<(u32, u32)> = redis::pipe()
            .exists(key)
            .cmd("WAIT")
            .arg(replicas)
            .arg(timeout.as_millis().max(1) as u64)
            .query_async(conn)
            .await;
        match answer {
            Ok((_, acked)) if acked >= replicas => {}
            Ok((_, acked)) => {
                tracing::warn!(
                    acked,
                    wanted = replicas,
                    "session write reached fewer replicas than REDIS_WAIT_REPLICAS in time"
                )
            }
            Err(e) => tracing::warn!(error = %e, "waiting for replicas failed"),
        }
    }

    pub(super) fn key(&self, kind: &str, id: &str) -> String {
        self.keys.plain(kind, id)
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    pub(super) fn connection(&self) -> RedisConnection {
        self.conn.clone()
    }

    pub(super) async fn put_json<T: Serialize>(
        &self,
        key: String,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let value = serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        conn.set_ex::<_, _, ()>(key, value, ttl.as_secs().max(1))
            .await
            .map_err(StoreError::redis)
    }

    /// Reads and deletes in one step: a token works once, even under races.
    pub(super) async fn take_json<T: DeserializeOwned>(
        &self,
        key: String,
    ) -> Result<Option<T>, StoreError> {
        let mut conn = self.conn.clone();
        let value: Option<String> = conn.get_del(key).await.map_err(StoreError::redis)?;
        value
            .map(|v| serde_json::from_str(&v).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Readiness: what is wrong in the configured mode, if anything.
    pub async fn ping(&self) -> Result<(), String> {
        self.conn.readiness().await
    }

    #[tracing::instrument(name = "redis.put_verification", skip_all)]
    pub async fn put_verification(
        &self,
        digest: &str,
        record: &VerificationRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.put_json(self.key("verify", digest), record, ttl).await
    }

    #[tracing::instrument(name = "redis.take_verification", skip_all)]
    pub async fn take_verification(
        &self,
        digest: &str,
    ) -> Result<Option<VerificationRecord>, StoreError> {
        self.take_json(self.key("verify", digest)).await
    }

    /// Stores the link of an email change and makes it the user's only pending one: the link
    /// of an earlier request stops working.
    #[tracing::instrument(name = "redis.put_email_change", skip_all)]
    pub async fn put_email_change(
        &self,
        digest: &str,
        record: &VerificationRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.put_verification(digest, record, ttl).await?;
        let mut conn = self.conn.clone();
        let previous: Option<String> = REPLACE_PENDING
            .key(self.key("email-change", &record.user_id))
            .arg(digest)
            .arg(ttl.as_secs().max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        // The previous link is no longer pending, which already refuses it; deleting it
        // just tidies up.
        match previous {
            Some(old) => self.drop_verification(&old).await,
            None => Ok(()),
        }
    }

    /// Whether `digest` is the user's pending email change; it stops being pending either way.
    #[tracing::instrument(name = "redis.take_email_change", skip_all)]
    pub async fn take_email_change(&self, user_id: &str, digest: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let taken: i32 = TAKE_PENDING
            .key(self.key("email-change", user_id))
            .arg(digest)
            .invoke_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        Ok(taken == 1)
    }

    #[tracing::instrument(name = "redis.drop_verification", skip_all)]
    pub async fn drop_verification(&self, digest: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        conn.del::<_, ()>(self.key("verify", digest))
            .await
            .map_err(StoreError::redis)
    }

    /// Stores a reset token and makes it the account's only valid one: issuing a new token
    /// invalidates every older one.
    #[tracing::instrument(name = "redis.put_reset", skip_all)]
    pub async fn put_reset(
        &self,
        digest: &str,
        record: &ResetRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.put_json(self.key("reset", digest), record, ttl)
            .await?;
        if record.removes_mfa {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        conn.set_ex::<_, _, ()>(
            self.key("reset-current", &record.user_id),
            digest,
            ttl.as_secs().max(1),
        )
        .await
        .map_err(StoreError::redis)
    }

    /// The token's record without using it up, if it is still the account's newest one.
    #[tracing::instrument(name = "redis.peek_reset", skip_all)]
    pub async fn peek_reset(&self, digest: &str) -> Result<Option<ResetRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let value: Option<String> = conn
            .get(self.key("reset", digest))
            .await
            .map_err(StoreError::redis)?;
        let Some(record) = value
            .map(|v| serde_json::from_str::<ResetRecord>(&v))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
        else {
            return Ok(None);
        };
        let current: Option<String> = conn
            .get(self.key("reset-current", &record.user_id))
            .await
            .map_err(StoreError::redis)?;
        Ok((record.removes_mfa || current.as_deref() == Some(digest)).then_some(record))
    }

    /// Burns the token; returns its record only if it is still the account's newest one.
    #[tracing::instrument(name = "redis.take_reset", skip_all)]
    pub async fn take_reset(&self, digest: &str) -> Result<Option<ResetRecord>, StoreError> {
        let Some(record) = self
            .take_json::<ResetRecord>(self.key("reset", digest))
            .await?
        else {
            return Ok(None);
        };
        if record.removes_mfa {
            return Ok(Some(record));
        }
        let mut conn = self.conn.clone();
        let current_key = self.key("reset-current", &record.user_id);
        let current: Option<String> = conn.get(&current_key).await.map_err(StoreError::redis)?;
        if current.as_deref() != Some(digest) {
            return Ok(None);
        }
        conn.del::<_, ()>(current_key)
            .await
            .map_err(StoreError::redis)?;
        Ok(Some(record))
    }
}
