//! `/v1/auth/check`: the forward-auth endpoint an ingress asks before passing a request on to
//! another service (docs/api.md, "Authenticating requests for other services").

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{bearer_or_cookie, cookie_value};
use super::docs::{NeedsSession, ProblemDoc, Unavailable};
use super::error::ApiError;
use super::forward_origin::{Source, cookie_may_authorise};
use crate::account::access::{self, Identity, Requirement};

pub const USER_ID: HeaderName = HeaderName::from_static("x-user-id");
pub const SESSION_ID: HeaderName = HeaderName::from_static("x-session-id");
pub const EMAIL_VERIFIED: HeaderName = HeaderName::from_static("x-user-email-verified");
pub const EMAIL: HeaderName = HeaderName::from_static("x-user-email");
pub const AUTH_SOURCE: HeaderName = HeaderName::from_static("x-auth-source");

/// Options, set in the proxy's auth URL. Unknown parameters are refused (400), so that a typo
/// in a requirement fails closed instead of silently letting requests through.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckOptions {
    /// Refuse (403 `email_not_verified`) a session whose account has not confirmed its address.
    #[serde(default)]
    require_verified_email: bool,
}

/// Who is calling; the same facts as the `X-User-*` response headers.
#[derive(Serialize, ToSchema)]
pub struct CheckedIdentity {
    user_id: String,
    session_id: String,
    email_verified: bool,
    /// The address the session was created with; only with `FORWARD_AUTH_EMAIL_HEADER` on,
    /// and absent for sessions created before the service kept it.
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// The session's absolute end.
    expires_at: DateTime<Utc>,
}

/// Answers whether the request carries a valid session and whose it is: `200` with
/// `X-User-Id`, `X-Session-Id` and `X-User-Email-Verified` (and `X-User-Email` when
/// `FORWARD_AUTH_EMAIL_HEADER` is on), which the proxy copies onto the request it passes on
/// (configure it to overwrite any the client sent), or `401` with
/// `WWW-Authenticate: Bearer`. One Redis round trip, never MongoDB. Every method gets the same
/// answer, as forward-auth proxies send the original request's method.
#[utoipa::path(
    method(get, head, post, put, patch, delete, options),
    path = "/v1/auth/check",
    tag = "sessions",
    operation_id = "auth_check",
    security(("session" = [])),
    params(CheckOptions),
    responses(
        (status = 200, body = CheckedIdentity, headers(
            ("X-User-Id" = String, description = "The caller's user id"),
            ("X-Session-Id" = String, description = "The session's public id"),
            ("X-User-Email-Verified" = String, description = "`true` or `false`"),
            ("X-User-Email" = String, description = "The address the session was created \
                with; only when `FORWARD_AUTH_EMAIL_HEADER` is on"),
            ("X-Auth-Source" = String, description = "The credential used: `bearer` or `cookie`"),
        )),
        (status = 400, description = "An unknown or malformed option (`invalid_query`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "`require_verified_email` was set and the account's \
            address is not confirmed (`email_not_verified`); or a session cookie came with a \
            request other than GET, HEAD or OPTIONS not from the application's own origin \
            (`cross_origin`).", body = ProblemDoc,
            content_type = "application/problem+json"),
        NeedsSession,
        Unavailable,
    )
)]
pub async fn check(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    // The request itself, not the method, headers and URI extracted apart: those extractors
    // copy, and this endpoint runs in front of every request of every application.
    let (parts, _) = request.into_parts();
    let (method, headers) = (&parts.method, &parts.headers);
    let Query(options) = Query::<CheckOptions>::try_from_uri(&parts.uri)
        .map_err(|rejection| ApiError::InvalidQuery(rejection.body_text()))?;
    let requirement = Requirement {
        verified_email: options.require_verified_email,
    };
    let cookie = state.config.pages.session_cookie();
    // Only a cookie that came is held to the origin rule: no credential at all is a 401.
    let source = if headers.contains_key(AUTHORIZATION) {
        Source::Bearer
    } else {
        Source::Cookie
    };
    let has_cookie = cookie_value(headers, cookie).is_some();
    if source == Source::Cookie && has_cookie && !cookie_may_authorise(method, headers) {
        tracing::warn!(%method, "forward-auth: cookie on a cross-origin unsafe request refused");
        return Err(ApiError::CrossOrigin);
    }
    let mut identity =
        access::check(&state, bearer_or_cookie(headers, cookie), requirement).await?;
    if !state.config.forward_auth_email_header {
        identity.email = None;
    }
    let identity_headers = IdentityHeaders::of(&identity)?;
    let mut response = Json(CheckedIdentity {
        user_id: identity.user_id,
        session_id: identity.session_id,
        email_verified: identity.email_verified,
        email: identity.email,
        expires_at: identity.expires_at,
    })
    .into_response();
    // Into the response's own map: no second map to build and merge on every check.
    let headers = response.headers_mut();
    identity_headers.insert_into(headers);
    headers.insert(AUTH_SOURCE, source.header_value());
    Ok(response)
}

/// The `X-User-*` header values of an identity.
struct IdentityHeaders {
    user_id: HeaderValue,
    session_id: HeaderValue,
    email_verified: HeaderValue,
    email: Option<HeaderValue>,
}

impl IdentityHeaders {
    fn of(identity: &Identity) -> Result<Self, ApiError> {
        // Ids are ours (UUIDs), always valid header values; refuse rather than panic if not.
        let header = |text: &str| HeaderValue::from_str(text).map_err(|_| ApiError::Internal);
        let verified = if identity.email_verified {
            "true"
        } else {
            "false"
        };
        Ok(Self {
            user_id: header(&identity.user_id)?,
            session_id: header(&identity.session_id)?,
            email_verified: HeaderValue::from_static(verified),
            // The address as stored: ASCII, or UTF-8 for an internationalised local part (sent
            // as is). Addresses never hold control characters, so this always succeeds.
            email: identity
                .email
                .as_deref()
                .and_then(|email| HeaderValue::from_bytes(email.as_bytes()).ok()),
        })
    }

    fn insert_into(self, headers: &mut HeaderMap) {
        headers.insert(USER_ID, self.user_id);
        headers.insert(SESSION_ID, self.session_id);
        headers.insert(EMAIL_VERIFIED, self.email_verified);
        if let Some(email) = self.email {
            headers.insert(EMAIL, email);
        }
    }
}
