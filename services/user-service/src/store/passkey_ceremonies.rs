//! Redis: the passkey ceremonies in progress (registration, sign-in, step-up), keyed by the
//! digest of the ceremony's token. A ceremony is taken once (`GETDEL`): its challenge cannot
//! be answered twice, and it dies with its time-to-live.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PasskeyRegistration,
};

use super::StoreError;
use super::redis_store::RedisStore;

/// What the ceremony is for, and what it is bound to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CeremonyPurpose {
    /// Adding a passkey to the account of this session (step-up already passed).
    Enrol {
        user_id: String,
        session_id: String,
        stamp: String,
    },
    /// Signing in without a password: any account's passkey (discoverable), or one of this
    /// account's (email first).
    SignIn { user_id: Option<String> },
    /// The second login step of this challenge (its digest), for its account.
    SecondStep {
        challenge_digest: String,
        user_id: String,
    },
    /// Proving presence for a sensitive change, in this session.
    StepUp { user_id: String, session_id: String },
}

/// The library's state of the ceremony.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CeremonyState {
    Registration(PasskeyRegistration),
    Authentication(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

#[derive(Serialize, Deserialize)]
pub struct CeremonyRecord {
    pub purpose: CeremonyPurpose,
    pub state: CeremonyState,
}

impl RedisStore {
    #[tracing::instrument(name = "redis.put_passkey_ceremony", skip_all)]
    pub async fn put_passkey_ceremony(
        &self,
        digest: &str,
        record: &CeremonyRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.put_json(self.key("passkey-ceremony", digest), record, ttl)
            .await
    }

    /// The ceremony, at most once.
    #[tracing::instrument(name = "redis.take_passkey_ceremony", skip_all)]
    pub async fn take_passkey_ceremony(
        &self,
        digest: &str,
    ) -> Result<Option<CeremonyRecord>, StoreError> {
        self.take_json(self.key("passkey-ceremony", digest)).await
    }
}
