//! Configuration from environment variables (see the table in README.md), grouped by concern;
//! each group reads and checks its own variables, and every problem is reported at once.

mod accounts;
mod backends;
mod passkeys;
mod rate_limits;
mod server;

use common::config::{ConfigError, Env};

use crate::pages::PagesSettings;

pub use accounts::{LinkSettings, MfaSettings, PasswordSettings, SessionSettings};
pub use backends::{AmqpSettings, MongoSettings, RedisSettings};
pub use passkeys::PasskeySettings;
pub use rate_limits::{Limit, LimitSetting, RateLimits};
pub use server::{AdminApiSettings, ServerSettings};

#[derive(Debug, Clone)]
pub struct Config {
    /// The public API's and the operational listener, with their timeouts and limits.
    pub server: ServerSettings,
    /// The admin API's listener and tokens.
    pub admin_api: AdminApiSettings,
    pub mongodb: MongoSettings,
    pub redis: RedisSettings,
    /// The broker: the email queue, the events exchange and the outbox relay.
    pub amqp: AmqpSettings,
    pub sessions: SessionSettings,
    /// The verification and reset links emailed.
    pub links: LinkSettings,
    /// Hashing and the breached-password check.
    pub passwords: PasswordSettings,
    /// Two-factor login.
    pub mfa: MfaSettings,
    /// Passkeys (WebAuthn).
    pub passkeys: PasskeySettings,
    pub rate_limits: RateLimits,
    /// IPv6 clients are rate limited by this prefix of their address (one /64 is one
    /// subscriber's, with endless addresses in it); IPv4 clients by their address.
    pub ipv6_rate_limit_prefix: u8,
    /// Whether a user whose address is not verified yet may log in.
    pub allow_unverified_login: bool,
    /// Whether `/v1/auth/check` answers the session's address in `X-User-Email` (opt-in: the
    /// address is personal data every app behind the ingress would then receive).
    pub forward_auth_email_header: bool,
    /// The hosted pages: origin, `return_to` allow-list, cookie, branding.
    pub pages: PagesSettings,
}

impl Config {
    pub fn from_env(env: &mut Env) -> Result<Self, ConfigError> {
        let pages = PagesSettings::from_env(env);
        let server = ServerSettings::from_env(env);
        let mfa = MfaSettings::from_env(env);
        let passkeys = PasskeySettings::from_env(env, &pages, &mfa.issuer);
        let config = Config {
            admin_api: AdminApiSettings::from_env(env, &server),
            server,
            mongodb: MongoSettings::from_env(env),
            redis: RedisSettings::from_env(env),
            amqp: AmqpSettings::from_env(env),
            sessions: SessionSettings::from_env(env),
            links: LinkSettings::from_env(env, &pages),
            passwords: PasswordSettings::from_env(env),
            mfa,
            passkeys,
            rate_limits: RateLimits::from_env(env),
            ipv6_rate_limit_prefix: env.optional("RATE_LIMIT_IPV6_PREFIX", 64),
            allow_unverified_login: env.flag("ALLOW_UNVERIFIED_LOGIN", false),
            forward_auth_email_header: env.flag("FORWARD_AUTH_EMAIL_HEADER", false),
            pages,
        };
        if !(8..=128).contains(&config.ipv6_rate_limit_prefix) {
            env.invalid(
                "RATE_LIMIT_IPV6_PREFIX",
                "must be a prefix length from 8 to 128",
            );
        }
        std::mem::replace(env, Env::from_map(Default::default())).finish()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests;
