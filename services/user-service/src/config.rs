//! Configuration from environment variables (see the table in README.md).

use std::net::SocketAddr;
use std::time::Duration;

use common::config::{ConfigError, Env};
use secrecy::{ExposeSecret, SecretString};

use crate::admin::tokens::AdminTokens;
use crate::net::TrustedProxies;
use crate::pages::PagesSettings;
use crate::secret_box::KeyRing;
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
    };

    fn from_env(env: &mut Env) -> Self {
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
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Public API listener.
    pub http_addr: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_addr: SocketAddr,
    /// The admin API's own listener; `None`: the admin API is off.
    pub admin_api_addr: Option<SocketAddr>,
    /// Bearer tokens of the admin API, by name (digests only).
    pub admin_api_tokens: AdminTokens,
    /// Connection strings may carry passwords: `SecretString`s, redacted in `Debug`.
    pub mongodb_uri: SecretString,
    pub mongodb_database: String,
    pub redis_url: SecretString,
    /// Prefix of every Redis key, so several deployments (or tests) can share one Redis.
    pub redis_key_prefix: String,
    pub amqp_url: SecretString,
    pub email_queue: String,
    /// Absolute session lifetime, however active the session is.
    pub session_ttl: Duration,
    /// A session unused for this long ends.
    pub session_idle_timeout: Duration,
    pub verification_ttl: Duration,
    /// Front-end page the verification email links to; the token is appended as `?token=`.
    pub verify_email_url: String,
    pub password_reset_ttl: Duration,
    /// Front-end page the reset email links to; the token is appended as `?token=`.
    pub password_reset_url: String,
    /// Topic exchange the domain events (`user.registered`, ...) are published to.
    pub events_exchange: String,
    /// Every request is answered within this time, 503 otherwise.
    pub request_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    pub rate_limits: RateLimits,
    /// IPv6 clients are rate limited by this prefix of their address (one /64 is one
    /// subscriber's, with endless addresses in it); IPv4 clients by their address.
    pub ipv6_rate_limit_prefix: u8,
    /// A client must send a request's whole header within this time.
    pub http_header_read_timeout: Duration,
    /// A connection with no request in flight is closed after this long.
    pub http_keepalive_timeout: Duration,
    /// Largest request header accepted, in bytes (at least 8192).
    pub http_max_header_bytes: usize,
    /// Root of a Pwned Passwords style range API (`https://api.pwnedpasswords.com`); unset: the
    /// breached-password check is off.
    pub pwned_passwords_url: Option<String>,
    pub pwned_passwords_timeout: Duration,
    /// Whether a user whose address is not verified yet may log in.
    pub allow_unverified_login: bool,
    /// At most this many argon2 computations at once (each takes ~19 MiB and one core).
    pub hash_concurrency: usize,
    /// How often the outbox relay looks for emails that could not be published at once.
    pub outbox_poll_interval: Duration,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// Keys that encrypt TOTP secrets at rest, the current one first; `None`: two-factor
    /// login cannot be enrolled in (`MFA_ENCRYPTION_KEYS` unset).
    pub mfa_keys: Option<KeyRing>,
    /// The issuer authenticator apps show next to the account (`MFA_ISSUER`).
    pub mfa_issuer: String,
    /// The hosted pages: origin, `return_to` allow-list, cookie, branding.
    pub pages: PagesSettings,
}

impl Config {
    pub fn from_env(env: &mut Env) -> Result<Self, ConfigError> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let pages = PagesSettings::from_env(env);
        let mut config = Config {
            http_addr: env.optional("HTTP_ADDR", ([0, 0, 0, 0], 8080).into()),
            admin_addr: env.optional("ADMIN_ADDR", ([0, 0, 0, 0], 9090).into()),
            admin_api_addr: env.optional_opt("ADMIN_API_ADDR"),
            admin_api_tokens: AdminTokens::default(),
            mongodb_uri: env.secret("MONGODB_URI").unwrap_or_default(),
            mongodb_database: env.optional("MONGODB_DATABASE", "user_platform".to_owned()),
            redis_url: env.secret("REDIS_URL").unwrap_or_default(),
            redis_key_prefix: env.optional("REDIS_KEY_PREFIX", "up:".to_owned()),
            amqp_url: env.secret("AMQP_URL").unwrap_or_default(),
            email_queue: env.optional("EMAIL_QUEUE", common::amqp::DEFAULT_QUEUE.to_owned()),
            session_ttl: env.duration("SESSION_TTL", Duration::from_secs(24 * 3600)),
            session_idle_timeout: env.duration("SESSION_IDLE_TIMEOUT", Duration::from_secs(3600)),
            verification_ttl: env.duration("VERIFICATION_TTL", Duration::from_secs(24 * 3600)),
            // The hosted pages by default.
            verify_email_url: env.optional(
                "VERIFY_EMAIL_URL",
                format!("{}/verify-email", pages.public_origin),
            ),
            password_reset_ttl: env.duration("PASSWORD_RESET_TTL", Duration::from_secs(30 * 60)),
            password_reset_url: env.optional(
                "PASSWORD_RESET_URL",
                format!("{}/reset-password", pages.public_origin),
            ),
            events_exchange: env.optional("EVENTS_EXCHANGE", "user.events".to_owned()),
            request_timeout: env.duration("REQUEST_TIMEOUT", Duration::from_secs(10)),
            trusted_proxies: env.optional("TRUSTED_PROXIES", TrustedProxies::default()),
            rate_limits: RateLimits::from_env(env),
            ipv6_rate_limit_prefix: env.optional("RATE_LIMIT_IPV6_PREFIX", 64),
            http_header_read_timeout: env
                .duration("HTTP_HEADER_READ_TIMEOUT", Duration::from_secs(10)),
            http_keepalive_timeout: env.duration("HTTP_KEEPALIVE_TIMEOUT", Duration::from_secs(75)),
            http_max_header_bytes: env.optional("HTTP_MAX_HEADER_BYTES", 16 * 1024),
            pwned_passwords_url: Some(env.optional("PWNED_PASSWORDS_URL", String::new()))
                .filter(|url| !url.is_empty()),
            pwned_passwords_timeout: env
                .duration("PWNED_PASSWORDS_TIMEOUT", Duration::from_secs(2)),
            allow_unverified_login: env.flag("ALLOW_UNVERIFIED_LOGIN", false),
            hash_concurrency: env.optional("HASH_CONCURRENCY", cores),
            outbox_poll_interval: env.duration("OUTBOX_POLL_INTERVAL", Duration::from_secs(5)),
            shutdown_timeout: env.duration("SHUTDOWN_TIMEOUT", Duration::from_secs(25)),
            mfa_keys: mfa_keys(env),
            mfa_issuer: env.optional("MFA_ISSUER", "User platform".to_owned()),
            pages,
        };
        for (name, value, schemes) in [
            (
                "MONGODB_URI",
                &config.mongodb_uri,
                &["mongodb://", "mongodb+srv://"][..],
            ),
            (
                "REDIS_URL",
                &config.redis_url,
                &["redis://", "rediss://"][..],
            ),
            ("AMQP_URL", &config.amqp_url, &["amqp://", "amqps://"][..]),
        ] {
            let value = value.expose_secret();
            if value.is_empty() {
                env.invalid(name, "is required but not set");
            } else if !schemes.iter().any(|s| value.starts_with(s)) {
                env.invalid(name, format!("must start with {}", schemes.join(" or ")));
            }
        }
        config.admin_api_tokens = admin_api_tokens(env, &config);
        if !(8..=128).contains(&config.ipv6_rate_limit_prefix) {
            env.invalid(
                "RATE_LIMIT_IPV6_PREFIX",
                "must be a prefix length from 8 to 128",
            );
        }
        if config.http_max_header_bytes < 8192 {
            env.invalid("HTTP_MAX_HEADER_BYTES", "must be at least 8192");
        }
        for (name, value) in [
            ("HTTP_HEADER_READ_TIMEOUT", config.http_header_read_timeout),
            ("HTTP_KEEPALIVE_TIMEOUT", config.http_keepalive_timeout),
        ] {
            if value < Duration::from_secs(1) {
                env.invalid(name, "must be at least 1s");
            }
        }
        if config.hash_concurrency == 0 {
            env.invalid("HASH_CONCURRENCY", "must be at least 1");
        }
        if config.session_ttl < Duration::from_secs(60) {
            env.invalid("SESSION_TTL", "must be at least 1m");
        }
        for (name, url) in [
            ("VERIFY_EMAIL_URL", &config.verify_email_url),
            ("PASSWORD_RESET_URL", &config.password_reset_url),
        ] {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                env.invalid(name, "must be an http(s) URL");
            }
        }
        if let Some(url) = &config.pwned_passwords_url
            && !url.starts_with("http://")
            && !url.starts_with("https://")
        {
            env.invalid("PWNED_PASSWORDS_URL", "must be an http(s) URL");
        }
        if config.session_idle_timeout < Duration::from_secs(60) {
            env.invalid("SESSION_IDLE_TIMEOUT", "must be at least 1m");
        }
        if config.request_timeout < Duration::from_secs(1) {
            env.invalid("REQUEST_TIMEOUT", "must be at least 1s");
        }
        if config.mfa_issuer.trim().is_empty() || config.mfa_issuer.contains(':') {
            env.invalid("MFA_ISSUER", "must be a non-empty name without `:`");
        }
        if config.events_exchange.is_empty() || config.events_exchange.starts_with("amq.") {
            env.invalid("EVENTS_EXCHANGE", "must be a non-reserved exchange name");
        }
        std::mem::replace(env, Env::from_map(Default::default())).finish()?;
        Ok(config)
    }
}

/// `ADMIN_API_TOKENS`, required (and only allowed) with `ADMIN_API_ADDR`, whose port must be
/// none of the other listeners'.
fn admin_api_tokens(env: &mut Env, config: &Config) -> AdminTokens {
    let tokens = env.secret("ADMIN_API_TOKENS");
    let Some(addr) = config.admin_api_addr else {
        if tokens.is_some() {
            env.invalid("ADMIN_API_TOKENS", "is set but ADMIN_API_ADDR is not");
        }
        return AdminTokens::default();
    };
    if addr == config.http_addr || addr == config.admin_addr {
        env.invalid(
            "ADMIN_API_ADDR",
            "must differ from HTTP_ADDR and ADMIN_ADDR (the admin API has a listener of its own)",
        );
    }
    let Some(tokens) = tokens else {
        env.invalid(
            "ADMIN_API_TOKENS",
            "is required when ADMIN_API_ADDR is set (`name:token,...`)",
        );
        return AdminTokens::default();
    };
    AdminTokens::parse(&tokens).unwrap_or_else(|problem| {
        env.invalid("ADMIN_API_TOKENS", problem);
        AdminTokens::default()
    })
}

/// `MFA_ENCRYPTION_KEYS`: unset or empty is "off"; anything else must parse.
fn mfa_keys(env: &mut Env) -> Option<KeyRing> {
    let raw = env.secret("MFA_ENCRYPTION_KEYS")?;
    match KeyRing::parse(raw.expose_secret()) {
        Ok(ring) => Some(ring),
        Err(problem) => {
            env.invalid("MFA_ENCRYPTION_KEYS", problem);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_missing_or_bad_variable() {
        let mut env = Env::from_map(
            [("REDIS_URL", "http://nope"), ("SESSION_TTL", "soon")]
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        let err = Config::from_env(&mut env).unwrap_err().to_string();
        for name in [
            "MONGODB_URI",
            "REDIS_URL: must start",
            "AMQP_URL",
            "SESSION_TTL",
        ] {
            assert!(err.contains(name), "{name} missing from {err}");
        }
    }

    #[test]
    fn mfa_keys_are_optional_but_checked_when_set() {
        let with_keys = |keys: &str| {
            let mut env = Env::from_map(
                [
                    ("MONGODB_URI", "mongodb://127.0.0.1:27017"),
                    ("REDIS_URL", "redis://127.0.0.1"),
                    ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
                    ("MFA_ENCRYPTION_KEYS", keys),
                ]
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            );
            Config::from_env(&mut env)
        };
        assert!(with_keys("").unwrap().mfa_keys.is_none());
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let ring = with_keys(&format!("k2:{key}, k1:{key}")).unwrap().mfa_keys;
        assert_eq!(ring.unwrap().current_id(), "k2");
        let err = with_keys(&format!("k1:{}", &key[..20]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MFA_ENCRYPTION_KEYS"), "{err}");
        assert!(!err.contains(&key[..20]), "{err}");
    }

    #[test]
    fn defaults() {
        let mut env = Env::from_map(
            [
                ("MONGODB_URI", "mongodb://127.0.0.1:27017"),
                ("REDIS_URL", "redis://127.0.0.1"),
                ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        );
        let c = Config::from_env(&mut env).unwrap();
        assert_eq!(c.email_queue, "email_queue");
        assert_eq!(c.http_addr.port(), 8080);
        assert!(!c.allow_unverified_login);
    }

    fn base(extra: &[(&str, &str)]) -> Env {
        let mut vars: std::collections::HashMap<String, String> = [
            ("MONGODB_URI", "mongodb://127.0.0.1:27017"),
            ("REDIS_URL", "redis://127.0.0.1"),
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        vars.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        Env::from_map(vars)
    }

    #[test]
    fn admin_api_needs_its_own_port_and_tokens() {
        let c = Config::from_env(&mut base(&[])).unwrap();
        assert!(c.admin_api_addr.is_none() && c.admin_api_tokens.is_empty());
        let token = "ops:0123456789abcdef0123456789abcdef";
        let c = Config::from_env(&mut base(&[
            ("ADMIN_API_ADDR", "127.0.0.1:9091"),
            ("ADMIN_API_TOKENS", token),
        ]))
        .unwrap();
        assert_eq!(c.admin_api_addr.unwrap().port(), 9091);
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        for (vars, expected) in [
            (
                vec![("ADMIN_API_ADDR", "127.0.0.1:9091")],
                "ADMIN_API_TOKENS: is required",
            ),
            (vec![("ADMIN_API_TOKENS", token)], "ADMIN_API_ADDR is not"),
            (
                vec![
                    ("ADMIN_API_ADDR", "0.0.0.0:9090"),
                    ("ADMIN_API_TOKENS", token),
                ],
                "ADMIN_API_ADDR: must differ",
            ),
            (
                vec![
                    ("ADMIN_API_ADDR", "127.0.0.1:9091"),
                    ("ADMIN_API_TOKENS", "ops:x"),
                ],
                "ADMIN_API_TOKENS: token `ops` must be",
            ),
        ] {
            let err = Config::from_env(&mut base(&vars)).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected} not in {err}");
        }
    }

    #[test]
    fn debug_output_holds_no_password() {
        let mut env = Env::from_map(
            [
                ("MONGODB_URI", "mongodb://app:mongo-pw@127.0.0.1:27017"),
                ("REDIS_URL", "redis://app:redis-pw@127.0.0.1"),
                ("AMQP_URL", "amqp://app:amqp-pw@127.0.0.1:5672/%2f"),
            ]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        );
        let c = Config::from_env(&mut env).unwrap();
        let debug = format!("{c:?}");
        for secret in ["mongo-pw", "redis-pw", "amqp-pw"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert_eq!(
            c.amqp_url.expose_secret(),
            "amqp://app:amqp-pw@127.0.0.1:5672/%2f"
        );
    }
}
