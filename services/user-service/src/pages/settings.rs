//! The hosted pages' configuration (`PUBLIC_URL`, `RETURN_TO_ORIGINS`, `SESSION_COOKIE_DOMAIN`,
//! `PAGES_*`), read with the rest of the configuration and checked the same way.

use std::path::PathBuf;

use common::config::Env;

use super::brand::{Brand, Colour};
use super::origins::{ReturnToOrigins, WebOrigin};

#[derive(Debug, Clone)]
pub struct PagesSettings {
    /// Whether the pages are served (`PAGES_ENABLED`); off for those who bring their own.
    pub enabled: bool,
    /// The origin the pages are served on, as browsers see it (`PUBLIC_URL`).
    pub public_origin: WebOrigin,
    /// Where `return_to` may point besides `public_origin`.
    pub return_to: ReturnToOrigins,
    /// `Domain` of the session cookie, to share it with sibling subdomains; `None`: host-only.
    pub cookie_domain: Option<String>,
    pub brand: Brand,
    /// Directory whose files replace built-in templates, translations or the stylesheet.
    pub template_dir: Option<PathBuf>,
}

impl PagesSettings {
    pub fn from_env(env: &mut Env) -> Self {
        let default_origin: WebOrigin = "http://localhost:8080".parse().expect("valid origin");
        let public_origin = env.optional("PUBLIC_URL", default_origin);
        if !public_origin.is_https() && !public_origin.is_loopback() {
            env.invalid(
                "PUBLIC_URL",
                "must be https (browsers keep the session cookie only over https; http is for localhost)",
            );
        }
        let cookie_domain: Option<String> = env
            .optional_opt::<String>("SESSION_COOKIE_DOMAIN")
            .map(|d| d.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty());
        if let Some(domain) = &cookie_domain {
            check_cookie_domain(env, domain, &public_origin);
        }
        let brand = Brand {
            product_name: env.optional("PAGES_PRODUCT_NAME", "Accounts".to_owned()),
            logo_url: env.optional_opt("PAGES_LOGO_URL"),
            support_url: env.optional_opt("PAGES_SUPPORT_URL"),
            primary: env.optional("PAGES_PRIMARY_COLOR", Colour::DEFAULT_PRIMARY),
            background: env.optional("PAGES_BACKGROUND_COLOR", Colour::DEFAULT_BACKGROUND),
        };
        if let Err(problem) = brand.check() {
            env.invalid(problem.0, problem.1);
        }
        PagesSettings {
            enabled: env.flag("PAGES_ENABLED", true),
            public_origin,
            return_to: env.optional("RETURN_TO_ORIGINS", ReturnToOrigins::default()),
            cookie_domain,
            brand,
            template_dir: env
                .optional_opt::<String>("PAGES_TEMPLATE_DIR")
                .map(PathBuf::from),
        }
    }

    /// The session cookie's name: `__Host-` keeps it on this host exactly; a shared domain needs
    /// `__Secure-` (browsers refuse `__Host-` cookies with a `Domain`).
    pub fn session_cookie(&self) -> &'static str {
        if self.cookie_domain.is_some() {
            "__Secure-session"
        } else {
            "__Host-session"
        }
    }
}

fn check_cookie_domain(env: &mut Env, domain: &str, origin: &WebOrigin) {
    let host = origin
        .as_str()
        .split_once("://")
        .map_or("", |(_, rest)| rest.split(':').next().unwrap_or(""));
    let valid = domain.contains('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !valid {
        env.invalid(
            "SESSION_COOKIE_DOMAIN",
            "must be a domain name such as example.com",
        );
    } else if host != domain && !host.ends_with(&format!(".{domain}")) {
        env.invalid(
            "SESSION_COOKIE_DOMAIN",
            format!("must be PUBLIC_URL's host or a parent of it ({host})"),
        );
    }
}
