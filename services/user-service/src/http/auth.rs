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
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The credential of a forward-auth check: the bearer token when an `Authorization` header
/// came, else the hosted pages' session cookie (browsers), else none.
pub fn bearer_or_cookie<'a>(
    headers: &'a axum::http::HeaderMap,
    cookie_name: &str,
) -> Credential<'a> {
    match bearer(headers) {
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
                id: record.id,
                user_id: record.user_id,
            }),
            SessionLookup::Ended | SessionLookup::Unknown => None,
        })
    }
}
