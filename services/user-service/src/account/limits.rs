//! Applying the configured rate limits.

use std::net::IpAddr;

use super::AccountError;
use crate::config::LimitSetting;
use crate::state::AppState;
use crate::store::rate_limits::Verdict;

/// The limits, by the name used in metrics and logs.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    LoginIp,
    LoginAccount,
    SignupIp,
    /// Every email to an address a caller names (signup, resend, reset, email change).
    EmailAddress,
    EmailIp,
    EmailChangeUser,
    /// One-time code attempts per account.
    MfaAccount,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::LoginIp => "login_ip",
            Limit::LoginAccount => "login_account",
            Limit::SignupIp => "signup_ip",
            Limit::EmailAddress => "email_address",
            Limit::EmailIp => "email_ip",
            Limit::EmailChangeUser => "email_change_user",
            Limit::MfaAccount => "mfa_account",
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
            Limit::EmailChangeUser => limits.email_change_user,
            Limit::MfaAccount => limits.mfa_account,
        }
    }
}

/// Who is calling, as far as the workflows care: the client's address (through trusted
/// proxies only) and user agent.
#[derive(Debug, Clone)]
pub struct Caller {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl Caller {
    /// The subject of per-client limits: the IPv4 address, or the IPv6 address's network of
    /// `v6_prefix` bits (a subscriber gets a whole /64 and can pick any address in it).
    pub fn rate_subject(&self, v6_prefix: u8) -> String {
        match self.ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(v6_prefix.min(128)))
                    .unwrap_or(0);
                format!("{}/{v6_prefix}", std::net::Ipv6Addr::from(bits & mask))
            }
        }
    }
}

/// Counts one hit of `subject` against `limit`; `RateLimited` once over it. Fails closed: when
/// Redis cannot count, the request is refused (as unavailable).
pub async fn enforce(state: &AppState, limit: Limit, subject: &str) -> Result<(), AccountError> {
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
            Err(AccountError::RateLimited(retry_after))
        }
    }
}

/// Per-client limit for `caller`.
pub async fn enforce_client(
    state: &AppState,
    limit: Limit,
    caller: &Caller,
) -> Result<(), AccountError> {
    let subject = caller.rate_subject(state.config.ipv6_rate_limit_prefix);
    enforce(state, limit, &subject).await
}

/// Clears `subject`'s count against `limit` (after a successful login).
pub async fn clear(state: &AppState, limit: Limit, subject: &str) {
    if let Err(e) = state.limiter.reset(limit.name(), subject).await {
        tracing::warn!(limit = limit.name(), error = %crate::store::chain(&e), "could not clear a rate limit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(ip: &str) -> Caller {
        Caller {
            ip: ip.parse().unwrap(),
            user_agent: None,
        }
    }

    #[test]
    fn ipv6_subjects_are_networks() {
        assert_eq!(
            caller("2001:db8:1:2:aaaa::1").rate_subject(64),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            caller("2001:db8:1:2:aaaa::1").rate_subject(64),
            caller("2001:db8:1:2:ffff:1:2:3").rate_subject(64)
        );
        assert_ne!(
            caller("2001:db8:1:2::1").rate_subject(64),
            caller("2001:db8:1:3::1").rate_subject(64)
        );
        assert_eq!(caller("2001:db8::1").rate_subject(128), "2001:db8::1/128");
        assert_eq!(caller("192.0.2.7").rate_subject(64), "192.0.2.7");
    }
}
