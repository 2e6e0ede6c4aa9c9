//! The forward-auth check: "is this request authenticated, and as whom?", asked by the ingress
//! (ingress-nginx `auth-url`, Traefik `ForwardAuth`, Envoy `ext_authz`) for every request to
//! the services behind it. Answered from Redis alone, in one round trip (the session check
//! script: lookup, idle and absolute expiry, security stamp, touch): never MongoDB, so it keeps
//! answering while MongoDB is down.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::AccountError;
use crate::crypto::session_digest;
use crate::state::AppState;
use crate::store::sessions::SessionLookup;

/// What a request presented as its credential.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// Nothing.
    Missing,
    /// Something that cannot be one of our session tokens (wrong scheme or shape).
    Malformed,
    Token(&'a str),
}

/// What the caller of the check requires beyond a valid session.
#[derive(Debug, Clone, Copy, Default)]
pub struct Requirement {
    pub verified_email: bool,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: String,
    pub session_id: String,
    pub email_verified: bool,
    /// The address the session was created with; `None` for sessions from before it was kept.
    pub email: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// Checks a credential, counting the result (`user_auth_checks_total{result}`) and timing it.
#[tracing::instrument(name = "access.check", skip_all, fields(result = tracing::field::Empty))]
pub async fn check(
    state: &AppState,
    credential: Credential<'_>,
    requirement: Requirement,
) -> Result<Identity, AccountError> {
    let started = Instant::now();
    let (result, outcome) = decide(state, credential, requirement).await;
    let (count, latency) = state.metrics.auth_check(result);
    count.inc();
    latency.observe(started.elapsed().as_secs_f64());
    tracing::Span::current().record("result", result);
    outcome
}

/// The result label and the outcome of one check.
async fn decide(
    state: &AppState,
    credential: Credential<'_>,
    requirement: Requirement,
) -> (&'static str, Result<Identity, AccountError>) {
    let token = match credential {
        Credential::Missing => return ("missing", Err(AccountError::Unauthorized)),
        Credential::Malformed => return ("invalid", Err(AccountError::Unauthorized)),
        Credential::Token(token) => token,
    };
    match state.sessions.check(&session_digest(token)).await {
        Err(e) => ("error", Err(e.into())),
        Ok(SessionLookup::Unknown) => ("invalid", Err(AccountError::Unauthorized)),
        Ok(SessionLookup::Ended) => ("expired", Err(AccountError::Unauthorized)),
        Ok(SessionLookup::Valid(record))
            if requirement.verified_email && !record.email_verified =>
        {
            ("unverified", Err(AccountError::EmailNotVerified))
        }
        Ok(SessionLookup::Valid(record)) => (
            "ok",
            Ok(Identity {
                user_id: record.user_id.clone(),
                session_id: record.id.clone(),
                email_verified: record.email_verified,
                email: record.email.clone(),
                expires_at: record.expires_at,
            }),
        ),
    }
}
