//! The rate limits (`RATE_LIMIT_*`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use common::config::Env;

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

/// `max` hits per `window`, written `20/1m`; `off` disables the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

/// A limit from configuration: `None` when switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSetting(pub Option<Limit>);

impl LimitSetting {
    pub fn new(max: u32, window: Duration) -> Self {
        Self(Some(Limit { max, window }))
    }

    pub const OFF: Self = Self(None);
}

impl FromStr for LimitSetting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        let expected = "expected COUNT/WINDOW such as 20/1m, or off";
        let (max, window) = s.split_once('/').ok_or(expected)?;
        let max: u32 = max.trim().parse().map_err(|_| expected)?;
        let window = humantime::parse_duration(window.trim()).map_err(|_| expected)?;
        if max == 0 || window < Duration::from_secs(1) {
            return Err("the count must be at least 1 and the window at least 1s".into());
        }
        Ok(Self::new(max, window))
    }
}

impl fmt::Display for LimitSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(l) => write!(f, "{}/{}", l.max, humantime::format_duration(l.window)),
            None => f.write_str("off"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limits() {
        assert_eq!(
            "20/1m".parse::<LimitSetting>().unwrap(),
            LimitSetting::new(20, Duration::from_secs(60))
        );
        assert_eq!(
            " 3 / 1h ".parse::<LimitSetting>().unwrap(),
            LimitSetting::new(3, Duration::from_secs(3600))
        );
        assert_eq!("OFF".parse::<LimitSetting>().unwrap(), LimitSetting::OFF);
        for bad in ["", "20", "0/1m", "x/1m", "5/soon", "5/10ms"] {
            assert!(bad.parse::<LimitSetting>().is_err(), "{bad}");
        }
        assert_eq!(
            LimitSetting::new(5, Duration::from_secs(300)).to_string(),
            "5/5m"
        );
    }
}
