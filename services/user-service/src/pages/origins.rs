//! Origins: the pages' own (`PUBLIC_URL`), and where a `return_to` may send the browser after
//! login (`RETURN_TO_ORIGINS`). Anything else is refused: no open redirects.

use std::fmt;
use std::str::FromStr;

use url::Url;

/// A web origin, `scheme://host[:port]`, in the form browsers send in `Origin` (lower-case host,
/// default port left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOrigin(String);

impl WebOrigin {
    /// The origin of an absolute http(s) URL.
    pub fn of(url: &Url) -> Option<Self> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return None;
        }
        Some(WebOrigin(url.origin().ascii_serialization()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// `localhost` and loopback addresses, where browsers keep `Secure` cookies over http.
    pub fn is_loopback(&self) -> bool {
        Url::parse(&self.0).is_ok_and(|url| crate::net::is_loopback_url(&url))
    }
}

impl FromStr for WebOrigin {
    type Err = String;

    /// An origin, or a URL whose path is `/` (a trailing slash is common in configuration).
    fn from_str(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw.trim()).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{raw}` must be an origin (scheme://host[:port]), no path"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{raw}` must not carry credentials"));
        }
        WebOrigin::of(&url).ok_or_else(|| format!("`{raw}` must be an http(s) origin"))
    }
}

impl fmt::Display for WebOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of `RETURN_TO_ORIGINS`: an origin, or `https://*.example.com` for every subdomain
/// of `example.com` (not `example.com` itself; list it too if wanted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    Exact(WebOrigin),
    Subdomains { scheme: String, parent: String },
}

impl OriginPattern {
    pub fn matches(&self, origin: &WebOrigin) -> bool {
        match self {
            OriginPattern::Exact(o) => o == origin,
            OriginPattern::Subdomains { scheme, parent } => origin
                .as_str()
                .strip_prefix(scheme.as_str())
                .and_then(|rest| rest.strip_prefix("://"))
                .and_then(|host| host.strip_suffix(parent.as_str()))
                .is_some_and(|sub| {
                    sub.ends_with('.') && sub.len() > 1 && !sub.contains(':') && !sub.contains('/')
                }),
        }
    }

    /// The CSP source expression allowing this pattern as a form target.
    pub fn csp_source(&self) -> String {
        match self {
            OriginPattern::Exact(o) => o.to_string(),
            OriginPattern::Subdomains { scheme, parent } => format!("{scheme}://*.{parent}"),
        }
    }
}

impl FromStr for OriginPattern {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Some((scheme, rest)) = raw.split_once("://*.") {
            let parent = rest.trim_end_matches('/').to_ascii_lowercase();
            let valid_host = !parent.is_empty()
                && parent.contains('.')
                && parent
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !matches!(scheme, "http" | "https") || !valid_host {
                return Err(format!(
                    "`{raw}` must be an origin or https://*.domain (a domain with a dot)"
                ));
            }
            return Ok(OriginPattern::Subdomains {
                scheme: scheme.to_owned(),
                parent,
            });
        }
        raw.parse().map(OriginPattern::Exact)
    }
}

/// `RETURN_TO_ORIGINS`: comma-separated patterns; empty means only the pages' own origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnToOrigins(pub Vec<OriginPattern>);

impl FromStr for ReturnToOrigins {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(ReturnToOrigins)
    }
}

/// Where to send the browser after login: a path on the pages' own origin, or an absolute URL
/// on an allowed origin. `None`: refused.
pub fn check_return_to(raw: &str, own: &WebOrigin, allowed: &ReturnToOrigins) -> Option<String> {
    if raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    // A path of our own: `/x` but not `//host` (a scheme-relative URL to another host).
    if raw.starts_with('/') && !raw.starts_with("//") {
        let url = Url::parse(own.as_str()).ok()?.join(raw).ok()?;
        return (WebOrigin::of(&url)? == *own).then(|| url.to_string());
    }
    let url = Url::parse(raw).ok()?;
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let origin = WebOrigin::of(&url)?;
    (origin == *own || allowed.0.iter().any(|p| p.matches(&origin))).then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> WebOrigin {
        "https://accounts.example.com".parse().unwrap()
    }

    #[test]
    fn origins_are_normalised() {
        let o: WebOrigin = "HTTPS://Accounts.Example.com:443/".parse().unwrap();
        assert_eq!(o.as_str(), "https://accounts.example.com");
        assert!("https://a.example.com/path".parse::<WebOrigin>().is_err());
        assert!("ftp://a.example.com".parse::<WebOrigin>().is_err());
        assert!(
            "http://localhost:8080"
                .parse::<WebOrigin>()
                .unwrap()
                .is_loopback()
        );
        assert!(!own().is_loopback());
    }

    #[test]
    fn return_to_allows_own_paths_and_listed_origins_only() {
        let allowed: ReturnToOrigins = "https://app.example.com, https://*.tools.example.com"
            .parse()
            .unwrap();
        let ok = |raw: &str| check_return_to(raw, &own(), &allowed);
        assert_eq!(
            ok("/account").unwrap(),
            "https://accounts.example.com/account"
        );
        assert!(ok("https://app.example.com/x?y=1").is_some());
        assert!(ok("https://grafana.tools.example.com/d/1").is_some());
        for refused in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "https://app.example.com.evil.example/",
            "https://tools.example.com/",
            "https://x.tools.example.com.evil.example/",
            "http://app.example.com/",
            "https://user:pw@app.example.com/",
            "javascript:alert(1)",
            "https://app.example.com:8443/",
        ] {
            assert!(ok(refused).is_none(), "{refused} was allowed");
        }
    }

    #[test]
    fn patterns_need_a_real_parent_domain() {
        assert!("https://*.com".parse::<OriginPattern>().is_err());
        assert!("https://*.".parse::<OriginPattern>().is_err());
        assert!("https://*.example.com".parse::<OriginPattern>().is_ok());
    }
}
