//! The account rules: sessions, the links emailed for verification and reset, passwords and
//! two-factor login.

use std::time::Duration;

use common::config::Env;
use secrecy::ExposeSecret;

use crate::pages::PagesSettings;
use crate::secret_box::KeyRing;

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Absolute session lifetime, however active the session is.
    pub ttl: Duration,
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// Live sessions one account may have; a new one beyond ends the oldest.
    pub max_per_account: u32,
    /// How long this process may answer a check from its copy of a valid session (zero: no
    /// copies); see `store::sessions::cache`.
    pub cache_max_age: Duration,
    /// Copies held at most.
    pub cache_entries: usize,
}

impl SessionSettings {
    pub(super) fn from_env(env: &mut Env) -> Self {
        let sessions = Self {
            ttl: env.duration("SESSION_TTL", Duration::from_secs(24 * 3600)),
            idle_timeout: env.duration("SESSION_IDLE_TIMEOUT", Duration::from_secs(3600)),
            max_per_account: env.optional("SESSION_MAX_PER_ACCOUNT", 50),
            cache_max_age: env.duration("SESSION_CACHE_MAX_AGE", Duration::from_secs(5)),
            cache_entries: env.optional("SESSION_CACHE_ENTRIES", 20_000),
        };
        if sessions.cache_max_age > Duration::from_secs(60) {
            env.invalid(
                "SESSION_CACHE_MAX_AGE",
                "must be at most 1m (0s turns copies off)",
            );
        }
        if !(1..=10_000_000).contains(&sessions.cache_entries) {
            env.invalid("SESSION_CACHE_ENTRIES", "must be from 1 to 10000000");
        }
        if !(1..=1000).contains(&sessions.max_per_account) {
            env.invalid("SESSION_MAX_PER_ACCOUNT", "must be from 1 to 1000");
        }
        for (name, value) in [
            ("SESSION_TTL", sessions.ttl),
            ("SESSION_IDLE_TIMEOUT", sessions.idle_timeout),
        ] {
            if value < Duration::from_secs(60) {
                env.invalid(name, "must be at least 1m");
            }
        }
        sessions
    }
}

/// The links emailed to prove an address or reset a password.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    pub verification_ttl: Duration,
    /// Front-end page the verification email links to; the token is appended as `?token=`.
    pub verify_email_url: String,
    pub password_reset_ttl: Duration,
    /// Front-end page the reset email links to; the token is appended as `?token=`.
    pub password_reset_url: String,
}

impl LinkSettings {
    /// The pages default to the hosted pages.
    pub(super) fn from_env(env: &mut Env, pages: &PagesSettings) -> Self {
        let links = Self {
            verification_ttl: env.duration("VERIFICATION_TTL", Duration::from_secs(24 * 3600)),
            verify_email_url: env.optional(
                "VERIFY_EMAIL_URL",
                format!("{}/verify-email", pages.public_origin),
            ),
            password_reset_ttl: env.duration("PASSWORD_RESET_TTL", Duration::from_secs(30 * 60)),
            password_reset_url: env.optional(
                "PASSWORD_RESET_URL",
                format!("{}/reset-password", pages.public_origin),
            ),
        };
        for (name, url) in [
            ("VERIFY_EMAIL_URL", &links.verify_email_url),
            ("PASSWORD_RESET_URL", &links.password_reset_url),
        ] {
            check_link_url(env, name, url);
        }
        links
    }
}

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    /// Root of a Pwned Passwords style range API (`https://api.pwnedpasswords.com`); unset: the
    /// breached-password check is off.
    pub pwned_url: Option<String>,
    pub pwned_timeout: Duration,
    /// At most this many argon2 computations at once (each takes ~19 MiB and one core).
    pub hash_concurrency: usize,
}

impl PasswordSettings {
    pub(super) fn from_env(env: &mut Env) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let passwords = Self {
            pwned_url: Some(env.optional("PWNED_PASSWORDS_URL", String::new()))
                .filter(|url| !url.is_empty()),
            pwned_timeout: env.duration("PWNED_PASSWORDS_TIMEOUT", Duration::from_secs(2)),
            hash_concurrency: env.optional("HASH_CONCURRENCY", cores),
        };
        if passwords.hash_concurrency == 0 {
            env.invalid("HASH_CONCURRENCY", "must be at least 1");
        }
        if let Some(url) = &passwords.pwned_url {
            check_http_url(env, "PWNED_PASSWORDS_URL", url);
        }
        passwords
    }
}

#[derive(Debug, Clone)]
pub struct MfaSettings {
    /// Keys that encrypt TOTP secrets at rest, the current one first; `None`: two-factor
    /// login cannot be enrolled in (`MFA_ENCRYPTION_KEYS` unset).
    pub keys: Option<KeyRing>,
    /// The issuer authenticator apps show next to the account (`MFA_ISSUER`).
    pub issuer: String,
}

impl MfaSettings {
    pub(super) fn from_env(env: &mut Env) -> Self {
        let mfa = Self {
            keys: mfa_keys(env),
            issuer: env.optional("MFA_ISSUER", "User platform".to_owned()),
        };
        if mfa.issuer.trim().is_empty() || mfa.issuer.contains(':') {
            env.invalid("MFA_ISSUER", "must be a non-empty name without `:`");
        }
        mfa
    }
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

/// A page that emailed links point at: the link carries a single-use token, so it must travel
/// over https, except to this host (development).
fn check_link_url(env: &mut Env, name: &str, raw: &str) {
    match url::Url::parse(raw) {
        Ok(url) if url.scheme() == "https" => {}
        Ok(url) if url.scheme() == "http" && crate::net::is_loopback_url(&url) => {}
        Ok(url) if url.scheme() == "http" => env.invalid(
            name,
            "must be https: the link carries a single-use token (http only for localhost)",
        ),
        _ => env.invalid(name, "must be an https URL"),
    }
}

fn check_http_url(env: &mut Env, name: &str, url: &str) {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        env.invalid(name, "must be an http(s) URL");
    }
}
