//! Who may use the admin API: a configured token, from a peer that has not failed too often.
//! Failed authentications count per peer address (`RATE_LIMIT_ADMIN_AUTH`, in Redis, shared by
//! the replicas); at the limit the peer's requests are refused before their token is looked
//! at, so guessing costs a window per handful of tries. Refusals are logged with the peer's
//! address (never the token).

use std::net::IpAddr;

use super::audit::Actor;
use crate::account::AccountError;
use crate::state::AppState;
use crate::store::rate_limits::Verdict;

/// The rate-limit bucket and metric label.
const LIMIT: &str = "admin_auth";

/// The actor of `presented` (the bearer token sent, if any); `Ok(None)` for a missing or
/// unknown token (counted against `peer`); `RateLimited` while `peer` is over its budget.
pub async fn authenticate(
    state: &AppState,
    presented: Option<&str>,
    peer: IpAddr,
    path: &str,
) -> Result<Option<Actor>, AccountError> {
    let setting = state.config.rate_limits.admin_auth;
    let subject = peer.to_string();
    if let Verdict::Limited { retry_after } = state.limiter.peek(LIMIT, &subject, setting).await? {
        refused(state, peer, path, true);
        return Err(AccountError::RateLimited(retry_after));
    }
    let tokens = &state.config.admin_api.tokens;
    if let Some(name) = presented.and_then(|t| tokens.authenticate(t)) {
        return Ok(Some(Actor(name.to_owned())));
    }
    state.metrics.admin_auth_failures.inc();
    refused(state, peer, path, false);
    if let Verdict::Limited { retry_after } = state.limiter.hit(LIMIT, &subject, setting).await? {
        return Err(AccountError::RateLimited(retry_after));
    }
    Ok(None)
}

/// The refusal's audit line (with the peer's address) and, for a limited peer, the metric.
fn refused(state: &AppState, peer: IpAddr, path: &str, limited: bool) {
    let reason = if limited {
        state.metrics.rate_limited.with_label_values(&[LIMIT]).inc();
        "too many failed authentications"
    } else {
        "no valid token"
    };
    tracing::warn!(target: "audit", %peer, path, reason, "admin API request refused");
}
