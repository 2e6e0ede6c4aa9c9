//! What the forward-auth check learns about the request it guards: which credential came (the
//! `X-Auth-Source` answer header), the original method (proxies send it as
//! `X-Original-Method` or `X-Forwarded-Method`) and whether a browser request is same-origin.
//!
//! A session cookie is sent by the browser with every request to the app, cross-site ones
//! included where `SameSite=Lax` lets it (top-level navigations, and any request from a sibling
//! subdomain, which is same-site). So a cookie never authorises an unsafe method (anything but
//! GET, HEAD, OPTIONS) unless the browser says the request comes from the app's own origin:
//! `Sec-Fetch-Site: same-origin`, or an `Origin` equal to the forwarded request's origin
//! (`X-Original-URL`, or `X-Forwarded-Proto` and `X-Forwarded-Host`). A bearer token is never
//! sent by a browser on its own and needs no such check.

use axum::http::{HeaderMap, HeaderValue, Method};

/// The credential a check accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Bearer,
    Cookie,
}

impl Source {
    /// The `X-Auth-Source` value.
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Source::Bearer => "bearer",
            Source::Cookie => "cookie",
        })
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The method of the request the proxy guards.
fn original_method(method: &Method, headers: &HeaderMap) -> Method {
    header(headers, "x-original-method")
        .or_else(|| header(headers, "x-forwarded-method"))
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .unwrap_or_else(|| method.clone())
}

/// `scheme://host[:port]` of the request the proxy guards, when the proxy says.
fn forwarded_origin(headers: &HeaderMap) -> Option<String> {
    if let Some(url) = header(headers, "x-original-url")
        && let Ok(url) = url::Url::parse(url)
    {
        let origin = url.origin();
        return origin.is_tuple().then(|| origin.ascii_serialization());
    }
    let proto = header(headers, "x-forwarded-proto")?;
    let host = header(headers, "x-forwarded-host")?;
    Some(format!("{}://{}", proto.to_ascii_lowercase(), host))
}

/// Whether a cookie may authorise the guarded request: a safe method, or a browser request
/// from the app's own origin.
pub fn cookie_may_authorise(method: &Method, headers: &HeaderMap) -> bool {
    let method = original_method(method, headers);
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if let Some(site) = header(headers, "sec-fetch-site") {
        return site.eq_ignore_ascii_case("same-origin");
    }
    match (header(headers, "origin"), forwarded_origin(headers)) {
        (Some(origin), Some(own)) if origin != "null" => origin.eq_ignore_ascii_case(&own),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn unsafe_cookie_requests_need_the_apps_own_origin() {
        let post = Method::POST;
        assert!(cookie_may_authorise(&Method::GET, &headers(&[])));
        assert!(!cookie_may_authorise(&post, &headers(&[])));
        assert!(!cookie_may_authorise(
            &Method::GET,
            &headers(&[("x-forwarded-method", "DELETE")])
        ));
        assert!(cookie_may_authorise(
            &post,
            &headers(&[("sec-fetch-site", "same-origin")])
        ));
        assert!(!cookie_may_authorise(
            &post,
            &headers(&[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://app.example.com"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.example.com"),
            ])
        ));
        assert!(cookie_may_authorise(
            &post,
            &headers(&[
                ("origin", "https://app.example.com"),
                ("x-original-url", "https://app.example.com/notes?x=1"),
            ])
        ));
        assert!(!cookie_may_authorise(
            &post,
            &headers(&[
                ("origin", "https://evil.example.com"),
                ("x-original-url", "https://app.example.com/notes"),
            ])
        ));
        assert!(!cookie_may_authorise(
            &post,
            &headers(&[
                ("origin", "null"),
                ("x-original-url", "https://app.example.com/")
            ])
        ));
    }
}
