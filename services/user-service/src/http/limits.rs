//! Applying the configured rate limits to a request.

use super::AppState;
use super::error::ApiError;
use crate::store::rate_limits::{LimitSetting, Verdict};

/// The limits, by the name used in metrics and logs.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    LoginIp,
    LoginAccount,
    SignupIp,
    EmailAddress,
    EmailIp,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::LoginIp => "login_ip",
            Limit::LoginAccount => "login_account",
            Limit::SignupIp => "signup_ip",
            Limit::EmailAddress => "email_address",
            Limit::EmailIp => "email_ip",
        }
    }

    fn setting(self, state: &AppState) -> LimitSetting {
        let limits = &state.config.rate_limits;
        match self {
            Limit::LoginIp => limits.login_ip,
            Limit::LoginAccount => limits.login_account,
            Limit::SignupIp => limits.signup_ip,
            Limit::EmailAddress => limits.email_address,
            Limit::EmailIp => limits.email_ip,
        }
    }
}

/// Counts one hit of `subject` against `limit`; 429 with `Retry-After` once over it. Fails
/// closed: when Redis cannot count, the request is refused with 503.
pub async fn enforce(state: &AppState, limit: Limit, subject: &str) -> Result<(), ApiError> {
    match state
        .limiter
        .hit(limit.name(), subject, limit.setting(state))
        .await?
    {
        Verdict::Allowed => Ok(()),
        Verdict::Limited { retry_after } => {
            state
                .metrics
                .rate_limited
                .with_label_values(&[limit.name()])
                .inc();
            tracing::info!(limit = limit.name(), "rate limited");
            Err(ApiError::RateLimited(retry_after))
        }
    }
}

/// Clears `subject`'s count against `limit` (after a successful login).
pub async fn clear(state: &AppState, limit: Limit, subject: &str) {
    if let Err(e) = state.limiter.reset(limit.name(), subject).await {
        tracing::warn!(limit = limit.name(), error = %e, "could not clear a rate limit");
    }
}
