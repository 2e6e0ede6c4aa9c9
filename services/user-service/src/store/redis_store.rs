//! Redis: sessions and single-use verification tokens, always keyed by the token's digest.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StoreError;

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

/// Makes ARGV[1] the user's one pending email change and deletes the link of the previous
/// one. KEYS: pending key, verify key prefix. ARGV: digest, TTL.
const REPLACE_PENDING: &str = r"
local old = redis.call('GET', KEYS[1])
if old and old ~= ARGV[1] then redis.call('DEL', KEYS[2] .. old) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
";

/// Ends the pending email change if ARGV[1] is it. KEYS: pending key.
const TAKE_PENDING: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::redis)?;
        // Fail a command fast when Redis is gone instead of letting requests pile up; the
        // manager reconnects in the background.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(StoreError::redis)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    pub(super) fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    pub(super) fn connection(&self) -> ConnectionManager {
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

    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
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
        redis::Script::new(REPLACE_PENDING)
            .key(self.key("email-change", &record.user_id))
            .key(self.key("verify", ""))
            .arg(digest)
            .arg(ttl.as_secs().max(1))
            .invoke_async::<i32>(&mut conn)
            .await
            .map(|_| ())
            .map_err(StoreError::redis)
    }

    /// Whether `digest` is the user's pending email change; it stops being pending either way.
    #[tracing::instrument(name = "redis.take_email_change", skip_all)]
    pub async fn take_email_change(&self, user_id: &str, digest: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let taken: i32 = redis::Script::new(TAKE_PENDING)
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
