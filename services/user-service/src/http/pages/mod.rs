//! The hosted pages (docs/pages.md): server-rendered HTML on the public port for sign-up,
//! email links, login and the account, built on the same workflows, limits and error codes as
//! the JSON API. One small script of their own for passkeys (every page works without it where
//! a password does) and no third-party assets; every response carries a strict
//! Content-Security-Policy, `Referrer-Policy: no-referrer` and `Cache-Control: no-store`, and
//! `Strict-Transport-Security` when `PUBLIC_URL` is https.

mod account;
mod account_mfa;
mod account_passkeys;
mod device;
pub mod guard;
mod links;
mod login;
mod page;
mod passkey_login;
mod signup;
mod view;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::AppState;

/// Every (method, route) of the pages, for metrics that start at zero.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/assets/pages.css"),
    ("GET", "/assets/passkeys.js"),
    ("GET", "/signup"),
    ("POST", "/signup"),
    ("GET", "/verify-email"),
    ("POST", "/verify-email"),
    ("POST", "/verify-email/resend"),
    ("GET", "/reset-password"),
    ("POST", "/reset-password"),
    ("GET", "/forgot-password"),
    ("POST", "/forgot-password"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/login/mfa"),
    ("POST", "/login/passkey/options"),
    ("POST", "/login/passkey"),
    ("POST", "/login/mfa/passkey/options"),
    ("POST", "/login/mfa/passkey"),
    ("GET", "/logout"),
    ("POST", "/logout"),
    ("GET", "/account"),
    ("POST", "/account/profile"),
    ("POST", "/account/email"),
    ("POST", "/account/password"),
    ("POST", "/account/sessions/revoke"),
    ("POST", "/account/sessions/revoke-others"),
    ("POST", "/account/mfa"),
    ("POST", "/account/mfa/confirm"),
    ("POST", "/account/mfa/disable"),
    ("POST", "/account/passkeys"),
    ("POST", "/account/passkeys/create"),
    ("POST", "/account/passkeys/rename"),
    ("POST", "/account/passkeys/remove"),
    ("POST", "/account/delete"),
];

pub fn router(state: &AppState) -> Router<AppState> {
    let headers = PageHeaders {
        csp: content_security_policy(state),
        hsts: state.config.pages.public_origin.is_https().then(|| {
            // A year, the pages' host only: `includeSubDomains` would decide for every sibling
            // of a shared cookie domain, which is not ours to decide.
            HeaderValue::from_static("max-age=31536000")
        }),
    };
    Router::new()
        .route("/assets/pages.css", get(stylesheet))
        .route("/assets/passkeys.js", get(script))
        .route("/signup", get(signup::show).post(signup::submit))
        .route("/verify-email", get(links::verify_page).post(links::verify))
        .route("/verify-email/resend", post(links::resend))
        .route("/reset-password", get(links::reset_page).post(links::reset))
        .route(
            "/forgot-password",
            get(links::forgot_page).post(links::forgot),
        )
        .route("/login", get(login::show).post(login::submit))
        .route("/login/mfa", post(login::second_step))
        .route("/login/passkey/options", post(passkey_login::options))
        .route("/login/passkey", post(passkey_login::submit))
        .route(
            "/login/mfa/passkey/options",
            post(passkey_login::second_step_options),
        )
        .route("/login/mfa/passkey", post(passkey_login::second_step))
        .route("/logout", get(login::confirm).post(login::submit_logout))
        .route("/account", get(account::show))
        .route("/account/profile", post(account::profile))
        .route("/account/email", post(account::email))
        .route("/account/password", post(account::password))
        .route("/account/sessions/revoke", post(account::revoke))
        .route(
            "/account/sessions/revoke-others",
            post(account::revoke_others),
        )
        .route("/account/mfa", post(account_mfa::enrol))
        .route("/account/mfa/confirm", post(account_mfa::confirm))
        .route("/account/mfa/disable", post(account_mfa::disable))
        .route("/account/passkeys", post(account_passkeys::begin))
        .route("/account/passkeys/create", post(account_passkeys::create))
        .route("/account/passkeys/rename", post(account_passkeys::rename))
        .route("/account/passkeys/remove", post(account_passkeys::remove))
        .route("/account/delete", post(account::delete))
        .method_not_allowed_fallback(signup::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::refuse_cross_origin,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::refuse_repeated_session_cookie,
        ))
        .layer(middleware::from_fn_with_state(headers, page_headers))
}

/// `default-src 'none'`: the pages load their own stylesheet, script (passkeys: it fetches
/// ceremony options from the pages' origin) and images (the QR code is a
/// `data:` image; the logo may come from its configured origin), post forms to themselves or
/// (after login, by redirect) to an allowed `return_to` origin, and cannot be framed.
fn content_security_policy(state: &AppState) -> HeaderValue {
    let pages = &state.config.pages;
    let mut img = vec!["'self'".to_owned(), "data:".to_owned()];
    img.extend(pages.brand.logo_origin());
    let mut form_action = vec!["'self'".to_owned()];
    form_action.extend(pages.return_to.0.iter().map(|p| p.csp_source()));
    let policy = format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
         img-src {}; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        img.join(" "),
        form_action.join(" ")
    );
    HeaderValue::from_str(&policy).expect("origins are header-safe")
}

/// The headers every page response carries.
#[derive(Clone)]
struct PageHeaders {
    csp: HeaderValue,
    /// `Strict-Transport-Security`, when the pages' origin is https.
    hsts: Option<HeaderValue>,
}

async fn page_headers(State(page): State<PageHeaders>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, page.csp);
    if let Some(hsts) = page.hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The passkey script (the pages' only one): the same for every brand, cached like the
/// stylesheet.
async fn script() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        SCRIPT,
    )
        .into_response()
}

const SCRIPT: &str = include_str!("../../../pages/passkeys.js");

/// The stylesheet, with the brand's colours.
async fn stylesheet(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        state.site.stylesheet().to_owned(),
    )
        .into_response()
}
