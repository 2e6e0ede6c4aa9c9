//! The `Authorization: Bearer <session token>` extractor.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::account::access::Credential;
use crate::crypto::{looks_like_token, token_digest};
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
            Credential::Missing | Credential::Malformed => return Err(ApiError::Unauthorized),
        };
        let digest = token_digest(token);
        // One Redis round trip: lookup, expiry, the account's security stamp, touch.
        let SessionLookup::Valid(record) = state.sessions.check(&digest).await? else {
            return Err(ApiError::Unauthorized);
        };
        Ok(CurrentSession {
            digest,
            id: record.id,
            user_id: record.user_id,
        })
    }
}
