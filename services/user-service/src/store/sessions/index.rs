//! The per-user index `user-sessions:<user id>`: listing a user's sessions and revoking them
//! by their public ids.

use std::collections::HashMap;

use chrono::Utc;
use redis::AsyncCommands;

use super::SessionStore;
use super::record::{StoredSession, parse};
use crate::store::StoreError;

impl SessionStore {
    /// Every valid session of a user, newest first. Three round trips whatever the number of
    /// sessions (index and stamp; every session in one pipeline; the pruning of ended entries),
    /// and the index is bounded by the per-account cap.
    #[tracing::instrument(name = "sessions.list", skip_all)]
    pub async fn list(&self, user_id: &str) -> Result<Vec<StoredSession>, StoreError> {
        let mut conn = self.redis.connection();
        let index_key = self.index_key(user_id);
        let (index, stamp): (HashMap<String, String>, Option<String>) = redis::pipe()
            .hgetall(&index_key)
            .get(self.stamp_key(user_id))
            .query_async(&mut conn)
            .await
            .map_err(StoreError::redis)?;
        let (entries, mut stale): (Vec<_>, Vec<_>) = index
            .into_iter()
            .map(|(id, digest)| (self.session_key(&digest), id, digest))
            .partition(|(key, _, _)| key.is_some());
        let mut stale: Vec<String> = stale.drain(..).map(|(_, id, _)| id).collect();
        let mut pipe = redis::pipe();
        for (key, _, _) in &entries {
            pipe.hgetall(key.as_deref().unwrap_or_default());
        }
        let found: Vec<HashMap<String, String>> = match entries.is_empty() {
            true => Vec::new(),
            false => pipe
                .query_async(&mut conn)
                .await
                .map_err(StoreError::redis)?,
        };
        let now = Utc::now();
        let mut sessions = Vec::with_capacity(entries.len());
        for ((_, id, digest), fields) in entries.into_iter().zip(found) {
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
        let mut conn = self.redis.durable_connection();
        let index_key = self.index_key(user_id);
        let digest: Option<String> = conn
            .hget(&index_key, session_id)
            .await
            .map_err(StoreError::redis)?;
        let Some(digest) = digest else {
            return Ok(false);
        };
        let Some(key) = self.session_key(&digest) else {
            conn.hdel::<_, _, ()>(&index_key, session_id)
                .await
                .map_err(StoreError::redis)?;
            return Ok(false);
        };
        let deleted: Result<(u32, u32), _> = redis::pipe()
            .atomic()
            .del(&key)
            .hdel(&index_key, session_id)
            .query_async(&mut conn)
            .await;
        self.forget_session(&digest, &key);
        let (deleted, _) = deleted.map_err(StoreError::redis)?;
        self.redis.wait_for_replicas(&mut conn, &key).await;
        Ok(deleted == 1)
    }

    /// Revokes every session of a user except `keep` (a session id). Returns how many ended.
    /// The deletions go in transactions of at most `REVOKE_BATCH` sessions, all pipelined: one
    /// round trip, and no single transaction blocks Redis for long.
    #[tracing::instrument(name = "sessions.revoke_all", skip_all)]
    pub async fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<usize, StoreError> {
        let mut conn = self.redis.durable_connection();
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
        for batch in doomed.chunks(REVOKE_BATCH) {
            pipe.cmd("MULTI").ignore();
            for (id, digest) in batch {
                if let Some(key) = self.session_key(digest) {
                    pipe.del(key).ignore();
                }
                pipe.hdel(&index_key, id).ignore();
            }
            pipe.cmd("EXEC").ignore();
        }
        let done = pipe.query_async::<()>(&mut conn).await;
        self.forget_user(user_id);
        done.map_err(StoreError::redis)?;
        self.redis.wait_for_replicas(&mut conn, &index_key).await;
        Ok(doomed.len())
    }
}

/// Sessions revoked per transaction.
const REVOKE_BATCH: usize = 100;
