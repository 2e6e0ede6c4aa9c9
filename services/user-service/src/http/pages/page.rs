//! The request's page context: its language, its CSRF token (a `__Host-csrf` cookie the form
//! repeats) and the session cookie, read from any page request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::crypto::{looks_like_token, new_token};
use crate::http::AppState;
use crate::http::auth::cookie_value;

const CSRF_COOKIE: &str = "__Host-csrf";

/// The request's page context: language, CSRF token and session cookie.
pub struct Page {
    pub locale: String,
    pub csrf: String,
    /// The CSRF cookie is new (none came with the request): the response sets it.
    pub(super) new_csrf: bool,
    /// The session token from the session cookie, when one came.
    pub session_token: Option<String>,
}

impl Page {
    pub fn from_parts(parts: &Parts, state: &AppState) -> Self {
        let lang = parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "lang")
                .map(|(_, v)| v.into_owned())
        });
        let accept = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let locale = state.site.negotiate(lang.as_deref(), accept);
        let existing = cookie_value(&parts.headers, CSRF_COOKIE).filter(|t| looks_like_token(t));
        let session_cookie = state.config.pages.session_cookie();
        Page {
            locale,
            new_csrf: existing.is_none(),
            csrf: existing.map_or_else(new_token, str::to_owned),
            session_token: cookie_value(&parts.headers, session_cookie)
                .filter(|t| looks_like_token(t))
                .map(str::to_owned),
        }
    }

    /// `?lang=<locale>`, kept on every link and form of the pages.
    pub fn query(&self) -> String {
        format!("?lang={}", self.locale)
    }

    pub(super) fn attach_csrf_cookie(&self, response: &mut Response) {
        if self.new_csrf {
            let cookie = format!(
                "{CSRF_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict",
                self.csrf
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
    }

    /// A 303 to a path of the pages, in this page's language.
    pub fn redirect(&self, path: &str) -> Response {
        let sep = if path.contains('?') { '&' } else { '?' };
        Redirect::to(&format!("{path}{sep}lang={}", self.locale)).into_response()
    }
}

impl FromRequestParts<AppState> for Page {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Page::from_parts(parts, state))
    }
}
