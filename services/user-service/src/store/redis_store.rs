//! Redis: sessions and single-use verification tokens, always keyed by the token's digest.

use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::StoreError;

/// A session as stored.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a verification token stands for: this user owning this address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRecord {
    pub user_id: String,
    pub email: String,
}

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

    fn key(&self, kind: &str, digest: &str) -> String {
        format!("{}{kind}:{digest}", self.prefix)
    }

    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub async fn put_verification(
        &self,
        digest: &str,
        record: &VerificationRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let value = format!("{}\n{}", record.user_id, record.email);
        conn.set_ex::<_, _, ()>(self.key("verify", digest), value, ttl.as_secs().max(1))
            .await
            .map_err(StoreError::redis)
    }

    /// Returns the record and deletes it in one step: a token works once, even under races.
    pub async fn take_verification(
        &self,
        digest: &str,
    ) -> Result<Option<VerificationRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let value: Option<String> = conn
            .get_del(self.key("verify", digest))
            .await
            .map_err(StoreError::redis)?;
        Ok(value.and_then(|v| {
            v.split_once('\n')
                .map(|(user_id, email)| VerificationRecord {
                    user_id: user_id.to_owned(),
                    email: email.to_owned(),
                })
        }))
    }

    pub async fn drop_verification(&self, digest: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        conn.del::<_, ()>(self.key("verify", digest))
            .await
            .map_err(StoreError::redis)
    }

    pub async fn create_session(
        &self,
        digest: &str,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key("session", digest);
        let ttl = (record.expires_at - record.created_at).num_seconds().max(1);
        redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("user_id", record.user_id.clone()),
                    ("created_at", record.created_at.timestamp().to_string()),
                    ("expires_at", record.expires_at.timestamp().to_string()),
                ],
            )
            .ignore()
            .expire(&key, ttl)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(StoreError::redis)
    }

    pub async fn session(&self, digest: &str) -> Result<Option<SessionRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: std::collections::HashMap<String, String> = conn
            .hgetall(self.key("session", digest))
            .await
            .map_err(StoreError::redis)?;
        if fields.is_empty() {
            return Ok(None);
        }
        let time = |name: &str| {
            fields
                .get(name)
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(|s| DateTime::from_timestamp(s, 0))
                .ok_or_else(|| StoreError::Corrupt(format!("session field {name}")))
        };
        let record = SessionRecord {
            user_id: fields
                .get("user_id")
                .cloned()
                .ok_or_else(|| StoreError::Corrupt("session field user_id".into()))?,
            created_at: time("created_at")?,
            expires_at: time("expires_at")?,
        };
        // Redis expiry is the primary guard; this one holds even if a TTL was lost.
        Ok((record.expires_at > Utc::now()).then_some(record))
    }

    pub async fn delete_session(&self, digest: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        conn.del::<_, ()>(self.key("session", digest))
            .await
            .map_err(StoreError::redis)
    }
}
