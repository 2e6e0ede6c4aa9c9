//! Email templates, compiled into the binary so a deployed image cannot lack one.
//!
//! Layout: `templates/<kind>/<locale>/{subject.txt,body.txt,body.html}`. Every kind must exist
//! in `en`, the last step of the locale fallback.

use common::email::EmailKind;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

/// The locale every kind has, used when nothing closer exists.
pub const FALLBACK_LOCALE: &str = "en";

const PARTS: [&str; 3] = ["subject.txt", "body.txt", "body.html"];

macro_rules! sources {
    ($(($kind:literal, $locale:literal)),* $(,)?) => {
        &[$(
            (
                concat!($kind, "/", $locale, "/subject.txt"),
                include_str!(concat!("../templates/", $kind, "/", $locale, "/subject.txt")),
            ),
            (
                concat!($kind, "/", $locale, "/body.txt"),
                include_str!(concat!("../templates/", $kind, "/", $locale, "/body.txt")),
            ),
            (
                concat!($kind, "/", $locale, "/body.html"),
                include_str!(concat!("../templates/", $kind, "/", $locale, "/body.html")),
            ),
        )*]
    };
}

/// `(name, source)` of every built-in template.
pub const SOURCES: &[(&str, &str)] = sources![
    ("verify_email", "en"),
    ("verify_email", "de"),
    ("account_exists", "en"),
    ("password_reset", "en"),
    ("password_changed", "en"),
    ("account_deleted", "en"),
    ("email_changed", "en"),
];

/// One email, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A template that does not compile, or a kind without its `en` set. Start-up errors.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name} does not compile: {reason}")]
    Invalid { name: String, reason: String },
    #[error("template {name} is missing (every kind needs {FALLBACK_LOCALE})")]
    Missing { name: String },
}

/// Why one message could not be rendered. Permanent: the same message fails the same way.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no template for {kind} in locale {locale} or its fallbacks")]
    NoTemplate { kind: EmailKind, locale: String },
    /// `reason` is minijinja's plain message (kind, detail, template and line), never the
    /// debug form, which would print the variables and so the token.
    #[error("template {name} failed: {reason}")]
    Failed { name: String, reason: String },
    #[error("template {name} rendered a subject with a line break")]
    MultilineSubject { name: String },
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles the built-in templates.
    pub fn new() -> Result<Self, TemplateError> {
        Self::from_sources(SOURCES)
    }

    /// Compiles the given templates; each kind needs its `en` set.
    pub fn from_sources(sources: &[(&'static str, &'static str)]) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        // Undefined variables are errors (a verify email without its token must not be sent),
        // but `{% if name %}` still works for optional ones.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        // Debug info would attach template variables (tokens) to errors.
        env.set_debug(false);
        env.set_trim_blocks(true);
        // The default callback already escapes `.html` and leaves `.txt` alone; keeping it
        // means autoescaping follows the file name, which is easy to see in review.
        for (name, source) in sources {
            env.add_template(name, source)
                .map_err(|e| TemplateError::Invalid {
                    name: (*name).to_owned(),
                    reason: e.to_string(),
                })?;
        }
        for kind in EmailKind::ALL {
            for part in PARTS {
                let name = template_name(kind, FALLBACK_LOCALE, part);
                if env.get_template(&name).is_err() {
                    return Err(TemplateError::Missing { name });
                }
            }
        }
        Ok(Self { env })
    }

    /// The locale whose templates serve `requested`: exact, then the language alone
    /// (`de-AT` → `de`), then `en`.
    pub fn resolve_locale(&self, kind: EmailKind, requested: &str) -> Option<String> {
        // BCP 47 tags are case-insensitive; the directories are lower case.
        let exact = requested.trim().replace('_', "-").to_ascii_lowercase();
        let language = exact.split('-').next().unwrap_or_default().to_owned();
        [exact, language, FALLBACK_LOCALE.to_owned()]
            .into_iter()
            .filter(|l| !l.is_empty() && !l.contains('/'))
            .find(|l| {
                PARTS
                    .iter()
                    .all(|part| self.env.get_template(&template_name(kind, l, part)).is_ok())
            })
    }

    /// Renders subject, text and HTML body. `data` is the message's template data.
    pub fn render(
        &self,
        kind: EmailKind,
        locale: &str,
        data: &Map<String, Value>,
    ) -> Result<Rendered, RenderError> {
        let locale = self
            .resolve_locale(kind, locale)
            .ok_or_else(|| RenderError::NoTemplate {
                kind,
                locale: locale.to_owned(),
            })?;
        let render = |part: &str| {
            let name = template_name(kind, &locale, part);
            self.env
                .get_template(&name)
                .and_then(|t| t.render(data))
                .map_err(|e| RenderError::Failed {
                    name: name.clone(),
                    reason: e.to_string(),
                })
        };
        let subject = render("subject.txt")?.trim().to_owned();
        if subject.contains(['\r', '\n']) {
            return Err(RenderError::MultilineSubject {
                name: template_name(kind, &locale, "subject.txt"),
            });
        }
        Ok(Rendered {
            subject,
            text: render("body.txt")?,
            html: render("body.html")?,
        })
    }
}

fn template_name(kind: EmailKind, locale: &str, part: &str) -> String {
    format!("{}/{locale}/{part}", kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn full_data() -> Map<String, Value> {
        data(json!({
            "name": "Ada",
            "token": "tok-123_ABC",
            "action_url": "https://example.com/verify?token=tok-123_ABC",
        }))
    }

    #[test]
    fn every_kind_renders_in_english() {
        let t = Templates::new().unwrap();
        for kind in EmailKind::ALL {
            let r = t.render(kind, "en", &full_data()).unwrap();
            assert!(!r.subject.is_empty(), "{kind}");
            assert!(r.text.contains("Hello Ada,"), "{kind}: {}", r.text);
            assert!(r.html.contains("<p>Hello Ada,</p>"), "{kind}: {}", r.html);
        }
    }

    #[test]
    fn optional_name_may_be_missing() {
        let t = Templates::new().unwrap();
        let r = t
            .render(EmailKind::PasswordChanged, "en", &Map::new())
            .unwrap();
        assert!(r.text.starts_with("Hello,\n"), "{}", r.text);
    }

    #[test]
    fn token_is_on_its_own_line() {
        let t = Templates::new().unwrap();
        for kind in [EmailKind::VerifyEmail, EmailKind::PasswordReset] {
            for locale in ["en", "de"] {
                let r = t.render(kind, locale, &full_data()).unwrap();
                assert!(
                    r.text.lines().any(|l| l == "Token: tok-123_ABC"),
                    "{kind}/{locale}: {}",
                    r.text
                );
            }
        }
    }

    #[test]
    fn missing_required_data_is_an_error() {
        let t = Templates::new().unwrap();
        let err = t
            .render(
                EmailKind::VerifyEmail,
                "en",
                &data(json!({"action_url": "x"})),
            )
            .unwrap_err();
        assert!(matches!(err, RenderError::Failed { .. }), "{err}");
    }

    #[test]
    fn locale_falls_back_to_language_then_english() {
        let t = Templates::new().unwrap();
        let kind = EmailKind::VerifyEmail;
        assert_eq!(t.resolve_locale(kind, "de").as_deref(), Some("de"));
        assert_eq!(t.resolve_locale(kind, "de-AT").as_deref(), Some("de"));
        assert_eq!(t.resolve_locale(kind, "DE_at").as_deref(), Some("de"));
        assert_eq!(t.resolve_locale(kind, "fr-FR").as_deref(), Some("en"));
        assert_eq!(t.resolve_locale(kind, "../x").as_deref(), Some("en"));
        // A kind without German falls back to English even for an exact `de`.
        assert_eq!(
            t.resolve_locale(EmailKind::AccountDeleted, "de").as_deref(),
            Some("en")
        );
        let r = t.render(kind, "de-AT", &full_data()).unwrap();
        assert!(r.subject.contains("Bestätigen"), "{}", r.subject);
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let t = Templates::new().unwrap();
        let mut d = full_data();
        d.insert("name".into(), json!("<b>Ada</b> & \"Bob\""));
        let r = t.render(EmailKind::AccountExists, "en", &d).unwrap();
        assert!(
            r.html
                .contains("&lt;b&gt;Ada&lt;&#x2f;b&gt; &amp; &quot;Bob&quot;"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b>"), "{}", r.html);
        assert!(r.text.contains("<b>Ada</b> & \"Bob\""), "{}", r.text);
    }

    #[test]
    fn start_up_errors_name_the_template() {
        let err = Templates::from_sources(&[("verify_email/en/body.txt", "{% if %}")])
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("verify_email/en/body.txt"),
            "{err}"
        );

        let err = Templates::from_sources(&SOURCES[..3]).err().unwrap();
        assert!(matches!(err, TemplateError::Missing { .. }), "{err}");
    }
}
