//! The hosted pages over HTTP, without a browser: headers, CSRF and origin checks, `return_to`,
//! the session cookie (and the forward-auth check accepting it), links that are not used by
//! opening them, and configuration. The flows in a real Chromium are in `browser.rs`.

use reqwest::header::{LOCATION, SET_COOKIE};

use crate::helpers::*;
use crate::page_client::{Browser, OWN_ORIGIN, urlencode};

#[tokio::test]
async fn pages_carry_a_strict_policy_and_no_referrer() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    for path in [
        "/login",
        "/signup",
        "/forgot-password",
        "/verify-email?token=x",
    ] {
        let page = browser.get(path).await;
        let header = |name: &str| page.headers[name].to_str().unwrap().to_owned();
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "style-src 'self'",
            "script-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("cache-control"), "no-store");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert!(header("content-type").starts_with("text/html"));
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        // Scripts only from our origin's assets (passkeys.js), never inline.
        for script in page.body.split("<script").skip(1) {
            let tag = &script[..script.find('>').unwrap()];
            assert!(tag.contains(r#"src="/assets/"#), "{path}: <script{tag}>");
        }
    }
    let css = app
        .client
        .get(format!("{}/assets/pages.css", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.text().await.unwrap().contains("--primary: #1d4ed8"));
    app.finish().await;
}

#[tokio::test]
async fn posts_need_the_csrf_token_and_our_origin() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let mut browser = Browser::new(&app);
    browser.get("/login").await;
    let csrf = browser.csrf.clone();
    let fields = [("email", email.as_str()), ("password", PASSWORD)];
    // No token, a wrong token, another origin, a hidden origin from another site.
    for (token, headers, state) in [
        (None, vec![("origin", OWN_ORIGIN)], "csrf_failed"),
        (
            Some("A".repeat(43)),
            vec![("origin", OWN_ORIGIN)],
            "csrf_failed",
        ),
        (
            Some(csrf.clone()),
            vec![("origin", "https://evil.example")],
            "cross_origin",
        ),
        (
            Some(csrf.clone()),
            vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
            "cross_origin",
        ),
    ] {
        let page = browser
            .post_with("/login", &fields, token.as_deref(), &headers)
            .await;
        assert_eq!(page.status, 403, "{state}");
        assert_eq!(page.state(), Some(state));
        assert!(browser.cookie("__Host-session").is_none());
    }
    // Refused as cross-site before anything else, even where no session would send the
    // browser to the login page.
    let page = browser
        .post_with(
            "/account/profile",
            &[("display_name", "x")],
            Some(&csrf),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(
        (page.status.as_u16(), page.state()),
        (403, Some("cross_origin"))
    );
    let metrics = app.metrics().await;
    for (reason, count) in [
        ("csrf_failed", 2),
        ("cross_origin", 3),
        ("invalid_return_to", 0),
    ] {
        let line = format!("user_page_refusals_total{{reason=\"{reason}\"}} {count}");
        assert!(metrics.contains(&line), "{line} not in the metrics");
    }
    // What browsers send from our own page under `Referrer-Policy: no-referrer`.
    let page = browser
        .post_with(
            "/login",
            &fields,
            Some(&csrf),
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.headers[LOCATION], "http://localhost:8080/account");
    app.finish().await;
}

#[tokio::test]
async fn login_sets_a_host_only_session_cookie_that_forward_auth_accepts() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let mut browser = Browser::new(&app);
    browser.get("/login").await;
    let page = browser
        .post("/login", &[("email", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(page.status, 303);
    let set_cookie: Vec<_> = page
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("__Host-session="))
        .expect("a session cookie");
    for attribute in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=86400",
    ] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Domain"), "{session}");

    let check = |cookie: String| {
        app.client
            .get(format!("{}/v1/auth/check", app.base))
            .header("cookie", cookie)
            .send()
    };
    let ok = check(browser.cookie_header()).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().contains_key("x-user-id"));
    let account = browser.get("/account").await;
    assert_eq!(account.data_page(), "account");
    assert!(account.body.contains(&email));

    browser.get("/logout").await;
    let out = browser.post("/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert!(browser.cookie("__Host-session").is_none(), "cookie cleared");
    let token = session.split(';').next().unwrap().to_owned();
    assert_eq!(check(token).await.unwrap().status(), 401, "session ended");
    let again = browser.get("/account").await;
    assert_eq!(again.status, 303);
    assert!(
        again.headers[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/login?return_to=")
    );
    app.finish().await;
}

#[tokio::test]
async fn return_to_must_be_on_an_allowed_origin() {
    let mut config = test_config();
    config.pages.return_to = "https://app.example.com, https://*.tools.example.com"
        .parse()
        .unwrap();
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    let mut browser = Browser::new(&app);
    for refused in [
        "https://evil.example/",
        "//evil.example/",
        "https://app.example.com.evil.example/",
        "javascript:alert(1)",
    ] {
        let path = format!("/login?return_to={}", urlencode(refused));
        let page = browser.get(&path).await;
        assert_eq!(page.status, 400, "{refused}");
        assert_eq!(page.state(), Some("invalid_return_to"));
        browser.get("/login").await;
        let posted = browser
            .post(
                "/login",
                &[
                    ("email", &email),
                    ("password", PASSWORD),
                    ("return_to", refused),
                ],
            )
            .await;
        assert_eq!(posted.status, 400, "{refused}");
        assert!(browser.cookie("__Host-session").is_none());
    }
    let target = "https://grafana.tools.example.com/d/1?x=2";
    let page = browser
        .get(&format!("/login?return_to={}", urlencode(target)))
        .await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://app.example.com https://*.tools.example.com"),
        "{csp}"
    );
    let done = browser
        .post(
            "/login",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("return_to", target),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.headers[LOCATION], target);
    app.finish().await;
}

#[tokio::test]
async fn opening_an_email_link_does_not_use_it() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), 202);
    let message = app.next_email().await;
    let url = message.data["action_url"].as_str().unwrap().to_owned();
    assert!(url.ends_with("&lang=en"), "{url}");
    let token = message.data["token"].as_str().unwrap().to_owned();
    let mut browser = Browser::new(&app);
    // A mail scanner, then the person: both only open it.
    for _ in 0..2 {
        let page = browser
            .get(&format!("/verify-email?token={token}&lang=de"))
            .await;
        assert_eq!(page.data_page(), "verify-email");
        assert!(page.body.contains("<html lang=\"de\">"));
        assert!(page.body.contains(&token), "the form carries the token");
    }
    let done = browser
        .post("/verify-email?lang=de", &[("token", &token)])
        .await;
    assert_eq!(done.status, 200);
    assert_eq!(done.state(), Some("verified"));
    assert!(done.body.contains("Ihre E-Mail-Adresse ist bestätigt."));
    let used = browser.post("/verify-email", &[("token", &token)]).await;
    assert_eq!(used.state(), Some("invalid_token"));
    assert!(used.body.contains("id=\"resend-form\""));
    app.finish().await;
}

#[tokio::test]
async fn reset_page_shows_policy_errors_at_the_field_and_keeps_the_link() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let mut browser = Browser::new(&app);
    browser.get("/forgot-password").await;
    let sent = browser.post("/forgot-password", &[("email", &email)]).await;
    assert_eq!(sent.state(), Some("link_sent"));
    let token = app.next_email().await.data["token"]
        .as_str()
        .unwrap()
        .to_owned();
    browser.get(&format!("/reset-password?token={token}")).await;
    let short = browser
        .post(
            "/reset-password",
            &[("token", &token), ("new_password", "too short")],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(short.body.contains(
        "data-field=\"new_password\" data-code=\"password_too_short\">Use at least 15 characters."
    ));
    assert!(short.body.contains("aria-invalid=\"true\""));
    let new_password = "a completely different passphrase";
    let done = browser
        .post(
            "/reset-password",
            &[("token", &token), ("new_password", new_password)],
        )
        .await;
    assert_eq!(done.state(), Some("password_reset"));
    assert_eq!(app.login(&email, new_password).await.status(), 201);
    app.finish().await;
}

#[tokio::test]
async fn signup_answers_the_same_for_a_taken_address() {
    let app = spawn_app().await;
    let taken = app.verified_user().await;
    let mut answers = Vec::new();
    for email in [unique_email(), taken] {
        let mut browser = Browser::new(&app);
        browser.get("/signup").await;
        let page = browser
            .post(
                "/signup",
                &[
                    ("email", &email),
                    ("password", PASSWORD),
                    ("display_name", ""),
                ],
            )
            .await;
        assert_eq!(page.status, 200);
        answers.push(page.body.replace(&browser.csrf, ""));
    }
    assert_eq!(answers[0], answers[1]);
    app.finish().await;
}

#[tokio::test]
async fn pages_keep_the_api_rate_limits() {
    let mut config = test_config();
    config.rate_limits.login_ip = "2/1m".parse().unwrap();
    let app = spawn_with(config).await;
    let mut browser = Browser::new(&app);
    browser.get("/login").await;
    let fields = [
        ("email", "nobody@example.com"),
        ("password", "wrong password here"),
    ];
    for _ in 0..2 {
        let page = browser.post("/login", &fields).await;
        assert_eq!(page.state(), Some("invalid_credentials"));
        assert_eq!(page.status, 401);
    }
    let limited = browser.post("/login", &fields).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.state(), Some("rate_limited"));
    app.finish().await;
}

#[tokio::test]
async fn pages_can_be_turned_off() {
    let mut config = test_config();
    config.pages.enabled = false;
    let app = spawn_with(config).await;
    let (status, body) = problem(
        app.client
            .get(format!("{}/login", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found");
    app.finish().await;
}

#[tokio::test]
async fn a_shared_cookie_domain_uses_the_secure_prefix() {
    let mut env = test_env();
    env.push(("PUBLIC_URL".into(), "https://accounts.example.com".into()));
    env.push(("SESSION_COOKIE_DOMAIN".into(), "example.com".into()));
    let mut vars = common::config::Env::from_map(env.into_iter().collect());
    let config = user_service::config::Config::from_env(&mut vars).unwrap();
    assert_eq!(config.pages.session_cookie(), "__Secure-session");
    let refused = |pairs: &[(&str, &str)]| {
        let mut env = test_env();
        env.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut vars = common::config::Env::from_map(env.into_iter().collect());
        user_service::config::Config::from_env(&mut vars)
            .unwrap_err()
            .to_string()
    };
    assert!(
        refused(&[("PUBLIC_URL", "http://accounts.example.com")])
            .contains("PUBLIC_URL: must be https")
    );
    assert!(
        refused(&[
            ("PUBLIC_URL", "https://accounts.example.com"),
            ("SESSION_COOKIE_DOMAIN", "other.org")
        ])
        .contains("SESSION_COOKIE_DOMAIN")
    );
    assert!(refused(&[("RETURN_TO_ORIGINS", "https://*.com")]).contains("RETURN_TO_ORIGINS"));
    assert!(refused(&[("PAGES_PRIMARY_COLOR", "#ffdd00")]).contains("contrast"));
}
