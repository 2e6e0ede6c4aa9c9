//! A browser stand-in for the hosted pages' HTTP tests: it keeps the cookies the pages set,
//! sends them back, and posts forms with the page's CSRF token from our origin.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};

use crate::helpers::TestApp;

/// The pages' origin in `test_config` (`PUBLIC_URL` unset).
pub const OWN_ORIGIN: &str = "http://localhost:8080";

/// A browser stand-in: keeps the cookies the pages set and sends them back, with the page's
/// CSRF token and an `Origin` header on posts.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
    pub csrf: String,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn state(&self) -> Option<&str> {
        let start = self.body.find("data-state=\"")? + "data-state=\"".len();
        self.body[start..].split('"').next()
    }

    pub fn data_page(&self) -> &str {
        let start = self.body.find("data-page=\"").expect("a page") + "data-page=\"".len();
        self.body[start..].split('"').next().unwrap()
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
            csrf: String::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    async fn keep(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let (status, headers) = (response.status(), response.headers().clone());
        let body = response.text().await.unwrap();
        if let Some(i) = body.find("name=\"csrf_token\" value=\"") {
            let start = i + "name=\"csrf_token\" value=\"".len();
            self.csrf = body[start..start + 43].to_owned();
        }
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// A form post as a browser sends it from our page: same origin, with the CSRF token.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone();
        self.post_with(path, fields, Some(&csrf), &[("origin", OWN_ORIGIN)])
            .await
    }

    pub async fn post_with(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        csrf: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Page {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(csrf) = csrf {
            form.push(("csrf_token", csrf));
        }
        let mut request = self
            .client
            .post(format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header())
            .form(&form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        self.keep(response).await
    }
}

pub fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}
