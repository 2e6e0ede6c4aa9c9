//! Passkeys (WebAuthn): the relying party's id and name, and the origins ceremonies may come
//! from.

use std::net::IpAddr;

use common::config::Env;
use url::Url;

use crate::pages::PagesSettings;

#[derive(Debug, Clone)]
pub struct PasskeySettings {
    /// The relying-party id (`PASSKEY_RP_ID`): a registrable domain the public origin is on;
    /// the host of `PUBLIC_URL` by default. Credentials are bound to it for good: changing it
    /// makes every registered passkey unusable.
    pub rp_id: String,
    /// The name authenticators show (`PASSKEY_RP_NAME`; the `MFA_ISSUER` by default).
    pub rp_name: String,
    /// The origins a ceremony may come from: `PUBLIC_URL` and `PASSKEY_ORIGINS` (custom
    /// front-ends on the same domain).
    pub origins: Vec<Url>,
    /// False when `PUBLIC_URL` is an IP address and no `PASSKEY_RP_ID` is set: WebAuthn needs a
    /// domain, so passkeys are off (their calls answer `501 passkeys_not_configured`, the pages
    /// show none) and everything else works.
    pub available: bool,
}

impl PasskeySettings {
    pub(super) fn from_env(env: &mut Env, pages: &PagesSettings, issuer: &str) -> Self {
        let public = Url::parse(pages.public_origin.as_str()).ok();
        let default_id = public
            .as_ref()
            .and_then(|u| u.host_str())
            .unwrap_or("localhost")
            .to_owned();
        let explicit_id = env.optional_opt::<String>("PASSKEY_RP_ID");
        let available = explicit_id.is_some() || !is_ip(&default_id);
        let rp_id = explicit_id.unwrap_or(default_id);
        if available && is_ip(&rp_id) {
            env.invalid(
                "PASSKEY_RP_ID",
                "must be a domain: WebAuthn has no IP relying parties",
            );
        }
        let rp_name = env.optional("PASSKEY_RP_NAME", issuer.to_owned());
        let mut origins: Vec<Url> = public.into_iter().collect();
        let extra: String = env.optional("PASSKEY_ORIGINS", String::new());
        for raw in extra.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Url::parse(raw) {
                Ok(url) if url.path() == "/" && url.query().is_none() => origins.push(url),
                _ => env.invalid("PASSKEY_ORIGINS", format!("`{raw}` is not an origin")),
            }
        }
        for origin in origins.iter().filter(|_| available) {
            if let Err(problem) = check_origin(origin, &rp_id) {
                env.invalid("PASSKEY_ORIGINS", problem);
            }
        }
        if rp_name.trim().is_empty() {
            env.invalid("PASSKEY_RP_NAME", "must not be empty");
        }
        Self {
            rp_id,
            rp_name,
            origins,
            available,
        }
    }
}

/// An IP address (IPv6 in brackets, as a URL's host): never a relying-party id.
fn is_ip(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
}

/// An origin ceremonies may come from: https (http only on this machine) and on the
/// relying-party id's domain, as browsers require.
fn check_origin(origin: &Url, rp_id: &str) -> Result<(), String> {
    let host = origin.host_str().unwrap_or_default();
    let secure = origin.scheme() == "https"
        || (origin.scheme() == "http" && crate::net::is_loopback_url(origin));
    if !secure {
        return Err(format!(
            "`{origin}` must be https (http only for localhost)"
        ));
    }
    if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
        return Err(format!(
            "`{origin}` is not on the relying-party id `{rp_id}` (PASSKEY_RP_ID)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_on_the_rp_id() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(check_origin(&url("https://login.example.com"), "example.com").is_ok());
        assert!(check_origin(&url("https://example.com"), "example.com").is_ok());
        assert!(check_origin(&url("https://example.org"), "example.com").is_err());
        assert!(check_origin(&url("https://badexample.com"), "example.com").is_err());
        assert!(check_origin(&url("http://example.com"), "example.com").is_err());
        assert!(check_origin(&url("http://localhost:8080"), "localhost").is_ok());
    }

    #[test]
    fn ip_hosts_are_no_relying_party() {
        assert!(is_ip("127.0.0.1"));
        assert!(is_ip("[::1]"));
        assert!(!is_ip("localhost"));
        assert!(!is_ip("example.com"));
    }
}
