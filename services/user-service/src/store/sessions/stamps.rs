//! A user's security stamp in Redis, and the session fields that follow the account: the
//! stamp a session was made under, whether the address is confirmed.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::SessionStore;
use super::scripts::{MARK_VERIFIED, RESTAMP, SWAP_STAMP};
use crate::store::StoreError;

impl SessionStore {
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
        let mut invocation = MARK_VERIFIED.prepare_invoke();
        for key in index.values().filter_map(|digest| self.session_key(digest)) {
            invocation.key(key);
        }
        let marked = invocation.invoke_async(&mut conn).await;
        self.forget_user(user_id);
        marked.map_err(StoreError::redis)
    }

    /// Sets the user's stamp in Redis (before and after the change in MongoDB).
    #[tracing::instrument(name = "sessions.set_stamp", skip_all)]
    pub async fn set_stamp(&self, user_id: &str, stamp: &str) -> Result<(), StoreError> {
        let mut conn = self.redis.connection();
        let set = conn
            .set_ex::<_, _, ()>(self.stamp_key(user_id), stamp, self.index_ttl() as u64)
            .await;
        self.forget_user(user_id);
        set.map_err(StoreError::redis)
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
        let swapped: Result<i32, _> = SWAP_STAMP
            .key(self.stamp_key(user_id))
            .arg(attempted)
            .arg(previous)
            .arg(self.index_ttl())
            .invoke_async(&mut conn)
            .await;
        self.forget_user(user_id);
        Ok(swapped.map_err(StoreError::redis)? == 1)
    }

    /// Moves one existing session to a new stamp (the session a password change keeps).
    #[tracing::instrument(name = "sessions.restamp", skip_all)]
    pub async fn restamp(&self, digest: &str, stamp: &str) -> Result<bool, StoreError> {
        let Some(key) = self.session_key(digest) else {
            return Ok(false);
        };
        let mut conn = self.redis.connection();
        let done: Result<i32, _> = RESTAMP.key(&key).arg(stamp).invoke_async(&mut conn).await;
        self.forget_session(digest, &key);
        Ok(done.map_err(StoreError::redis)? == 1)
    }
}
