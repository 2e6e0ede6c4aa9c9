//! A web app behind nginx with the forward-auth check, used from a browser: no session sends
//! the browser to the hosted login page with `return_to`; the login comes back there, and the
//! session cookie gets the request through with the caller's identity.

use reqwest::header::LOCATION;

use crate::helpers::*;
use crate::nginx;
use crate::page_client::Browser;

#[tokio::test]
async fn browsers_without_a_session_are_sent_to_login_and_come_back() {
    let port = free_port();
    let app_origin = format!("http://127.0.0.1:{port}");
    let mut config = test_config();
    config.pages.return_to = app_origin.parse().unwrap();
    let app = spawn_with(config).await;
    let proxy = nginx::start_on(&app.base, port).await;
    let email = app.verified_user().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let anonymous = no_redirects
        .get(format!("{}/app/orders", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 302);
    let login = anonymous.headers()[LOCATION].to_str().unwrap().to_owned();
    let return_to = format!("{app_origin}/app/orders");
    assert_eq!(login, format!("{}/login?return_to={return_to}", app.base));
    assert_eq!(proxy.upstream.count(), 0);

    let mut browser = Browser::new(&app);
    let page = browser.get(login.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(page.status, 200);
    let done = browser
        .post(
            "/login",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.headers[LOCATION], return_to.as_str());

    // The cookie is the pages' host's; a real browser sends it to the app when both share it
    // (one host, or SESSION_COOKIE_DOMAIN): here it is sent by hand.
    let through = no_redirects
        .get(&return_to)
        .header("cookie", browser.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(through.status(), 200);
    assert_eq!(through.text().await.unwrap(), "hello");
    assert!(proxy.upstream.last("x-user-id").is_some());
    app.finish().await;
}
