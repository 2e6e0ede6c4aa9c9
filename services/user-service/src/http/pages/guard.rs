//! What every page request carries and every form post must prove: the page's language, the
//! CSRF token (a `__Host-csrf` cookie the form repeats), the origin of a post, and the browser
//! session (the session cookie, backed by the same Redis sessions as bearer tokens).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::page::Page;
use super::view::View;
use crate::http::AppState;
use crate::http::auth::CurrentSession;
use crate::pages::origins::WebOrigin;

/// Whether a post comes from the pages' own origin. Browsers send the page's origin, except
/// that `Referrer-Policy: no-referrer` (which the pages set, as links carry tokens) makes them
/// send `Origin: null`; then the fetch metadata tells (`Sec-Fetch-Site: same-origin`). A
/// client that sends neither is no browser and still needs the CSRF token.
pub fn same_origin(headers: &HeaderMap, own: &WebOrigin) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match header("origin") {
        Some(origin) if origin != "null" => origin.eq_ignore_ascii_case(own.as_str()),
        _ => header("sec-fetch-site").is_none_or(|site| site == "same-origin"),
    }
}

/// Every request but a `GET` or `HEAD` must come from our own origin: checked before the
/// handler's extractors, so a cross-site post is refused as such even where the session
/// extractor would have sent it to the login page.
pub async fn refuse_cross_origin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    if safe || same_origin(req.headers(), &state.config.pages.public_origin) {
        return next.run(req).await;
    }
    tracing::warn!(method = %req.method(), "form post from another origin refused");
    let (parts, _) = req.into_parts();
    Page::from_parts(&parts, &state).refuse(&state, "cross_origin", StatusCode::FORBIDDEN)
}

/// A page request carrying the session cookie twice is refused (400) and our cookie cleared:
/// with `SESSION_COOKIE_DOMAIN`, a sibling subdomain can plant a second one with a longer path,
/// which the browser would send first (login CSRF). The planted one is the sibling's to clear.
pub async fn refuse_repeated_session_cookie(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let name = state.config.pages.session_cookie();
    if !crate::http::auth::cookie_repeated(req.headers(), name) {
        return next.run(req).await;
    }
    tracing::warn!("page request with two session cookies refused");
    let (parts, _) = req.into_parts();
    let page = Page::from_parts(&parts, &state);
    let mut response = page.refuse(&state, "session_cookie_repeated", StatusCode::BAD_REQUEST);
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie(&state));
    response
}

/// A form post from our own pages (its origin checked by `refuse_cross_origin`): its CSRF
/// token matched against the cookie, its fields parsed into `T` (missing ones take their
/// defaults).
pub struct Posted<T> {
    pub page: Page,
    pub form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        // The origin was checked before any extractor ran (`refuse_cross_origin`).
        let (parts, body) = req.into_parts();
        let page = Page::from_parts(&parts, state);
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| page.refuse(state, "payload_too_large", StatusCode::PAYLOAD_TOO_LARGE))?;
        let sent = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
            .map(|f| f.csrf_token)
            .unwrap_or_default();
        let matches: bool = sent.as_bytes().ct_eq(page.csrf.as_bytes()).into();
        if page.new_csrf || !matches {
            tracing::warn!("form post without a valid CSRF token refused");
            return Err(page.refuse(state, "csrf_failed", StatusCode::FORBIDDEN));
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes)
            .map_err(|_| page.refuse(state, "invalid_body", StatusCode::BAD_REQUEST))?;
        Ok(Posted { page, form })
    }
}

/// The browser's session, from its session cookie. Without a valid one, the browser is sent
/// to the login page, to come back here afterwards.
pub struct SignedIn {
    pub digest: String,
    pub id: String,
    pub user_id: String,
}

impl SignedIn {
    pub fn session_ref(&self) -> crate::account::owner::SessionRef<'_> {
        crate::account::owner::SessionRef {
            user_id: &self.user_id,
            digest: &self.digest,
            id: &self.id,
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let page = Page::from_parts(parts, state);
        let to_login = || page.redirect("/login?return_to=%2Faccount");
        let Some(token) = &page.session_token else {
            return Err(to_login());
        };
        match CurrentSession::of_token(state, token).await {
            Ok(Some(session)) => Ok(SignedIn {
                digest: session.digest,
                id: session.id,
                user_id: session.user_id,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(View::new("error", "error_title")
                .with("back_to", "/account")
                .problem("", e.into())
                .render(state, &page)),
        }
    }
}

/// `Set-Cookie` for a new browser session, living as long as the session can.
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    let max_age = state.sessions.policy().lifetime.as_secs();
    session_cookie_header(state, token, max_age)
}

/// `Set-Cookie` that removes the browser session's cookie.
pub fn clear_session_cookie(state: &AppState) -> HeaderValue {
    session_cookie_header(state, "", 0)
}

fn session_cookie_header(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let settings = &state.config.pages;
    let domain = settings
        .cookie_domain
        .as_ref()
        .map_or_else(String::new, |d| format!("; Domain={d}"));
    let cookie = format!(
        "{}={value}; Path=/{domain}; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax",
        settings.session_cookie()
    );
    HeaderValue::from_str(&cookie).expect("tokens and domains are header-safe")
}

/// The body of a form that has nothing but its CSRF token.
#[derive(Deserialize, Default)]
pub struct NoFields {}
