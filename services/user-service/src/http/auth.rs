//! The `Authorization: Bearer <session token>` extractor, and the session cookie of browsers
//! (accepted by the forward-auth check only: the JSON API takes bearer tokens alone, so it
//! needs no CSRF defence).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::account::AccountError;
use crate::account::access::Credential;
use crate::crypto::{looks_like_token, session_digest};
use crate::store::StoreError;
use crate::store::sessions::SessionLookup;

/// The bearer token of a request: none, malformed (another scheme, or not of our tokens'
/// shape), or a token.
pub fn bearer(headers: &axum::http::HeaderMap) -> Credential<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Credential::Missing;
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .filter(|t| looks_like_token(t))
        .map_or(Credential::Malformed, Credential::Token)
}

/// A cookie of the request by name (every `Cookie` header; the first with that name).
pub fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    cookie_values(headers, name).next()
}

/// Every value of the cookie `name` the request carries. A browser sends several when cookies
/// of that name were set for other paths or domains: with `SESSION_COOKIE_DOMAIN`, a sibling
/// subdomain can plant its own session cookie with a longer path, which the browser sends
/// first (login CSRF: the victim works in the attacker's account).
pub fn cookie_values<'a>(
    headers: &'a axum::http::HeaderMap,
    name: &str,
) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// Whether the request carries the cookie `name` more than once (refused: which one is ours
/// cannot be told).
pub fn cookie_repeated(headers: &axum::http::HeaderMap, name: &str) -> bool {
    cookie_values(headers, name).nth(1).is_some()
}

/// The credential of a forward-auth check: the bearer token when an `Authorization` header
/// came, else the hosted pages' session cookie (browsers), else none.
pub fn bearer_or_cookie<'a>(
    headers: &'a axum::http::HeaderMap,
    cookie_name: &str,
) -> Credential<'a> {
    match bearer(headers) {
        Credential::Missing if cookie_repeated(headers, cookie_name) => {
            tracing::warn!("two session cookies: refused (one may be planted by a sibling domain)");
            Credential::Malformed
        }
        Credential::Missing => match cookie_value(headers, cookie_name) {
            Some(token) if looks_like_token(token) => Credential::Token(token),
            Some(_) => Credential::Malformed,
            None => Credential::Missing,
        },
        other => other,
    }
}

/// The session a request was made with.
pub struct CurrentSession {
    pub digest: String,
    pub id: String,
    pub user_id: String,
}

impl CurrentSession {
    pub fn session_ref(&self) -> crate::account::owner::SessionRef<'_> {
        crate::account::owner::SessionRef {
            user_id: &self.user_id,
            digest: &self.digest,
            id: &self.id,
        }
    }
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = match bearer(&parts.headers) {
            Credential::Token(token) => token,
            Credential::Missing | Credential::Malformed => {
                return Err(ApiError::Account(AccountError::Unauthorized));
            }
        };
        CurrentSession::of_token(state, token)
            .await?
            .ok_or(ApiError::Account(AccountError::Unauthorized))
    }
}

impl CurrentSession {
    /// The valid session of a token (bearer or the pages' cookie), `None` when it is unknown
    /// or ended. One Redis round trip: lookup, expiry, the account's security stamp, touch.
    pub async fn of_token(state: &AppState, token: &str) -> Result<Option<Self>, StoreError> {
        let digest = session_digest(token);
        Ok(match state.sessions.check(&digest).await? {
            SessionLookup::Valid(record) => Some(CurrentSession {
                digest,
                id: record.id.clone(),
                user_id: record.user_id.clone(),
            }),
            SessionLookup::Ended | SessionLookup::Unknown => None,
        })
    }
}
