//! The rate limits (`RATE_LIMIT_*`).

use std::time::Duration;

use common::config::Env;

use crate::store::rate_limits::LimitSetting;

/// Limits shared by every replica (kept in Redis). Each is `COUNT/WINDOW` or `off`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Login attempts per client address.
    pub login_ip: LimitSetting,
    /// Login attempts per target account, whatever address they come from; cleared by a
    /// successful login.
    pub login_account: LimitSetting,
    /// Registrations per client address.
    pub signup_ip: LimitSetting,
    /// Verification and reset emails requested per recipient address (no email bombing).
    pub email_address: LimitSetting,
    /// Verification and reset requests per client address.
    pub email_ip: LimitSetting,
    /// Email-change requests per account (each mails the new and the current address).
    pub email_change_user: LimitSetting,
    /// One-time code attempts per account (second login step, step-up, disabling), whatever
    /// address they come from; cleared by a correct code.
    pub mfa_account: LimitSetting,
    /// Failed admin API authentications per peer address; at the limit, the peer's requests
    /// are refused (429) before their token is looked at.
    pub admin_auth: LimitSetting,
}

impl RateLimits {
    pub const OFF: Self = Self {
        login_ip: LimitSetting::OFF,
        login_account: LimitSetting::OFF,
        signup_ip: LimitSetting::OFF,
        email_address: LimitSetting::OFF,
        email_ip: LimitSetting::OFF,
        email_change_user: LimitSetting::OFF,
        mfa_account: LimitSetting::OFF,
        admin_auth: LimitSetting::OFF,
    };

    pub(super) fn from_env(env: &mut Env) -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Self {
            login_ip: env.optional("RATE_LIMIT_LOGIN_IP", LimitSetting::new(30, minutes(1))),
            login_account: env.optional(
                "RATE_LIMIT_LOGIN_ACCOUNT",
                LimitSetting::new(10, minutes(5)),
            ),
            signup_ip: env.optional("RATE_LIMIT_SIGNUP_IP", LimitSetting::new(20, minutes(10))),
            email_address: env.optional(
                "RATE_LIMIT_EMAIL_ADDRESS",
                LimitSetting::new(3, minutes(60)),
            ),
            email_ip: env.optional("RATE_LIMIT_EMAIL_IP", LimitSetting::new(20, minutes(60))),
            email_change_user: env
                .optional("RATE_LIMIT_EMAIL_CHANGE", LimitSetting::new(5, minutes(60))),
            mfa_account: env.optional("RATE_LIMIT_MFA_ACCOUNT", LimitSetting::new(10, minutes(5))),
            admin_auth: env.optional("RATE_LIMIT_ADMIN_AUTH", LimitSetting::new(10, minutes(1))),
        }
    }
}
