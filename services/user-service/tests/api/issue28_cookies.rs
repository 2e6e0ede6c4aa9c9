//! Issue 28's cookie items, against the real services: a second session cookie (planted by a
//! sibling subdomain) is refused, and the forward-auth check names the credential and refuses
//! cookie-authenticated unsafe requests from other origins.

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::Value;

use crate::helpers::*;

/// The session cookie's name in `test_config` (`PUBLIC_URL` on localhost, host-only).
const SESSION_COOKIE: &str = "__Host-session";

async fn check(
    app: &TestApp,
    method: reqwest::Method,
    headers: &[(&str, String)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app
        .client
        .request(method, format!("{}/v1/auth/check", app.base));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn two_session_cookies_are_refused() {
    let app = spawn_app().await;
    let victim = app.verified_user().await;
    let attacker = app.verified_user().await;
    let victims = app.session(&victim, PASSWORD).await;
    let attackers = app.session(&attacker, PASSWORD).await;
    // The planted cookie (longer path) comes first, as browsers send it.
    let both = format!("{SESSION_COOKIE}={attackers}; {SESSION_COOKIE}={victims}");
    let (status, _, _) = check(&app, reqwest::Method::GET, &[("cookie", both.clone())]).await;
    assert_eq!(status, 401, "forward-auth refuses two session cookies");
    let one = format!("{SESSION_COOKIE}={victims}");
    let (status, _, _) = check(&app, reqwest::Method::GET, &[("cookie", one)]).await;
    assert_eq!(status, 200);

    let page = app
        .client
        .get(format!("{}/account", app.base))
        .header(COOKIE, &both)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400, "the pages refuse two session cookies");
    let cleared = page.headers().get_all(SET_COOKIE).iter().any(|c| {
        c.to_str()
            .unwrap()
            .starts_with(&format!("{SESSION_COOKIE}=;"))
    });
    assert!(cleared, "our cookie is cleared");
    app.finish().await;
}

#[tokio::test]
async fn forward_auth_names_the_credential_and_refuses_cross_origin_cookie_writes() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let cookie = format!("{SESSION_COOKIE}={token}");
    let (status, headers, _) = check(
        &app,
        reqwest::Method::GET,
        &[("authorization", format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-auth-source"], "bearer");
    let (status, headers, _) =
        check(&app, reqwest::Method::GET, &[("cookie", cookie.clone())]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-auth-source"], "cookie");

    let app_origin = [
        ("x-forwarded-proto", "https".to_owned()),
        ("x-forwarded-host", "notes.example.com".to_owned()),
    ];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        let mut headers: Vec<(&'static str, String)> = vec![("cookie", cookie.clone())];
        headers.extend(app_origin.iter().cloned());
        headers.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        headers
    };
    // A form on another site posting to the app with the victim's cookie.
    let (status, _, body) = check(
        &app,
        reqwest::Method::POST,
        &with(&[("origin", "https://evil.example.net")]),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("cross_origin")));
    // The proxy sends the original method in a header (ingress-nginx, Traefik).
    let (status, _, _) = check(
        &app,
        reqwest::Method::GET,
        &with(&[
            ("x-forwarded-method", "DELETE"),
            ("sec-fetch-site", "same-site"),
        ]),
    )
    .await;
    assert_eq!(status, 403);
    // No origin at all: not provably the app's own, refused.
    let (status, _, _) = check(&app, reqwest::Method::PUT, &with(&[])).await;
    assert_eq!(status, 403);
    // The app's own pages.
    let (status, _, _) = check(
        &app,
        reqwest::Method::POST,
        &with(&[("origin", "https://notes.example.com")]),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = check(
        &app,
        reqwest::Method::POST,
        &with(&[("sec-fetch-site", "same-origin")]),
    )
    .await;
    assert_eq!(status, 200);
    // A bearer token is never sent by a browser on its own: no origin needed.
    let (status, headers, _) = check(
        &app,
        reqwest::Method::POST,
        &[("authorization", format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-auth-source"], "bearer");
    app.finish().await;
}
