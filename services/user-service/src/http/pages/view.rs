//! What a page shows, and how it becomes a response: the template, its texts in the
//! negotiated locale, the outcome message, the errors at their fields, the CSRF cookie.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use super::page::Page;
use crate::account::AccountError;
use crate::http::AppState;
use crate::http::error::{ApiError, FieldError};

/// A field's error as shown: the stable code and words in the page's language.
#[derive(Serialize)]
struct FieldMessage {
    code: &'static str,
    message: String,
}

/// The outcome message at the top of a page.
#[derive(Serialize)]
struct Outcome {
    state: String,
    message: String,
    alert: bool,
}

enum Message {
    /// A success state (`state_<name>` text).
    Done(&'static str),
    /// A refusal with its code (`error_<code>` text) and the English fallback.
    Refused {
        code: &'static str,
        detail: String,
        wait_seconds: Option<u64>,
    },
}

impl Page {
    /// The refusal page for a request refused before any workflow, counted by its code
    /// (`user_page_refusals_total{reason}`: a rise in `cross_origin` or `csrf_failed` is an
    /// attack, or a `PUBLIC_URL` that is not what browsers see).
    pub fn refuse(&self, state: &AppState, code: &'static str, status: StatusCode) -> Response {
        if crate::metrics::PAGE_REFUSALS.contains(&code) {
            state.metrics.page_refusals.with_label_values(&[code]).inc();
        }
        View::refusal(code, status).render(state, self)
    }
}

pub struct View {
    page: &'static str,
    title: &'static str,
    status: StatusCode,
    message: Option<Message>,
    /// The form the errors belong to (pages with several forms).
    failed: Option<&'static str>,
    errors: Vec<FieldError>,
    data: Map<String, Value>,
    signed_in: bool,
}

impl View {
    /// Page `page` (its template and `data-page`) titled by the text `title`.
    pub fn new(page: &'static str, title: &'static str) -> Self {
        View {
            page,
            title,
            status: StatusCode::OK,
            message: None,
            failed: None,
            errors: Vec::new(),
            data: Map::new(),
            signed_in: false,
        }
    }

    /// The refusal page for a request that cannot go on.
    pub fn refusal(code: &'static str, status: StatusCode) -> Self {
        View::new("error", "error_title")
            .with("back_to", "/login")
            .refused(code, status)
    }

    pub fn done(mut self, state: &'static str) -> Self {
        self.message = Some(Message::Done(state));
        self
    }

    pub fn refused(mut self, code: &'static str, status: StatusCode) -> Self {
        self.message = Some(Message::Refused {
            code,
            detail: String::new(),
            wait_seconds: None,
        });
        self.status = status;
        self
    }

    /// An error of a workflow: its status and code as the API gives them; a validation error
    /// puts each problem at its field of `form`.
    pub fn problem(mut self, form: &'static str, error: ApiError) -> Self {
        let (status, code) = (error.kind().status, error.kind().code);
        let wait_seconds = error.retry_after().map(|wait| wait.as_secs().max(1));
        self.status = status;
        self.failed = Some(form);
        self.message = Some(Message::Refused {
            code,
            detail: error.detail().into_owned(),
            wait_seconds,
        });
        if let ApiError::Account(AccountError::Validation(errors)) = error {
            self.errors = errors;
        }
        self
    }

    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.data.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    pub fn signed_in(mut self) -> Self {
        self.signed_in = true;
        self
    }

    pub fn render(self, state: &AppState, page: &Page) -> Response {
        let site = &state.site;
        let text = |key: &str| site.text(&page.locale, key);
        let outcome = self.message.map(|m| outcome(m, &text));
        let errors: BTreeMap<&str, FieldMessage> = self
            .errors
            .into_iter()
            .map(|e| {
                let message = text(&format!("error_{}", e.code)).unwrap_or(e.detail);
                let shown = FieldMessage {
                    code: e.code,
                    message,
                };
                (e.field, shown)
            })
            .collect();
        let brand = &state.config.pages.brand;
        let mut context = self.data;
        for (key, value) in [
            ("page", Value::from(self.page)),
            ("title", Value::from(text(self.title).unwrap_or_default())),
            ("lang", Value::from(page.locale.as_str())),
            ("q", Value::from(page.query())),
            ("csrf", Value::from(page.csrf.as_str())),
            ("signed_in", Value::from(self.signed_in)),
            ("passkeys_available", Value::from(state.webauthn.is_some())),
            ("failed", Value::from(self.failed.unwrap_or(""))),
            ("status", json_value(outcome)),
            ("errors", json_value(errors)),
            (
                "brand",
                serde_json::json!({
                    "product_name": brand.product_name,
                    "logo_url": brand.logo_url,
                    "support_url": brand.support_url,
                }),
            ),
        ] {
            context.insert(key.to_owned(), value);
        }
        context
            .entry("values")
            .or_insert_with(|| Value::Object(Map::new()));
        let context = minijinja::Value::from_serialize(&context);
        let context = minijinja::context! { t => site.texts(&page.locale), ..context };
        html_response(site.render(self.page, context), self.status, page)
    }
}

fn json_value(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The outcome message in the page's language (the API's English detail when no text exists).
fn outcome(message: Message, text: &impl Fn(&str) -> Option<String>) -> Outcome {
    match message {
        Message::Done(name) => Outcome {
            message: text(&format!("state_{name}")).unwrap_or_default(),
            state: name.to_owned(),
            alert: false,
        },
        Message::Refused {
            code,
            detail,
            wait_seconds,
        } => Outcome {
            message: text(&format!("error_{code}"))
                .map(|m| m.replace("{seconds}", &wait_seconds.unwrap_or(1).to_string()))
                .unwrap_or(detail),
            state: code.to_owned(),
            alert: true,
        },
    }
}

fn html_response(
    rendered: Result<String, crate::pages::site::RenderError>,
    status: StatusCode,
    page: &Page,
) -> Response {
    let mut response = match rendered {
        Ok(html) => (status, html).into_response(),
        Err(e) => {
            tracing::error!(error = %crate::store::chain(&e), "page not rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    };
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    page.attach_csrf_cookie(&mut response);
    response
}
