//! The `Authorization: Bearer <session token>` extractor.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::crypto::{looks_like_token, token_digest};

/// The session a request was made with.
pub struct CurrentSession {
    pub digest: String,
    pub id: String,
    pub user_id: String,
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            })
            .filter(|t| looks_like_token(t))
            .ok_or(ApiError::Unauthorized)?;
        let digest = token_digest(token);
        // One Redis round trip: lookup, expiry, the account's security stamp, touch.
        let record = state
            .sessions
            .check(&digest)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(CurrentSession {
            digest,
            id: record.id,
            user_id: record.user_id,
        })
    }
}
