//! The registry: every template compiled under the same rules, and the rendering of one
//! email with the locale fallback.

use common::email::EmailKind;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use super::builtin::SOURCES;

/// The locale every kind has, used when nothing closer exists.
pub const FALLBACK_LOCALE: &str = "en";

pub(super) const PARTS: [&str; 3] = ["subject.txt", "body.txt", "body.html"];

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
    #[error("cannot read template directory: {0}")]
    Io(String),
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
        Self::compile(
            sources
                .iter()
                .map(|(n, s)| ((*n).to_owned(), (*s).to_owned())),
        )
    }

    /// The built-ins with the given `(name, source)` templates in place of (or next to) them:
    /// what a template directory or an `EmailTemplate` controller publishes.
    pub fn with_overrides(overrides: Vec<(String, String)>) -> Result<Self, TemplateError> {
        let builtin: Vec<_> = SOURCES
            .iter()
            .filter(|(name, _)| !overrides.iter().any(|(n, _)| n == name))
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
            .collect();
        Self::compile(builtin.into_iter().chain(overrides))
    }

    /// The three templates of `kind` in `locale`, named as the registry names them, if they
    /// compile under the same rules as every other template. Checking them on their own means
    /// a broken one is rejected before it can take part in a registry rebuild.
    pub fn compile_set(
        kind: EmailKind,
        locale: &str,
        subject: &str,
        text: &str,
        html: &str,
    ) -> Result<Vec<(String, String)>, TemplateError> {
        let set: Vec<(String, String)> = PARTS
            .iter()
            .zip([subject, text, html])
            .map(|(part, source)| (template_name(kind, locale, part), source.to_owned()))
            .collect();
        let mut env = new_environment();
        for (name, source) in &set {
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|e| TemplateError::Invalid {
                    name: name.clone(),
                    reason: e.to_string(),
                })?;
        }
        Ok(set)
    }

    fn compile(sources: impl Iterator<Item = (String, String)>) -> Result<Self, TemplateError> {
        let mut env = new_environment();
        for (name, source) in sources {
            env.add_template_owned(name.clone(), source)
                .map_err(|e| TemplateError::Invalid {
                    name,
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

/// The engine and its rules, the same for every source of templates.
fn new_environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Undefined variables are errors (a verify email without its token must not be sent),
    // but `{% if name %}` still works for optional ones.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    // Debug info would attach template variables (tokens) to errors.
    env.set_debug(false);
    env.set_trim_blocks(true);
    // The default callback already escapes `.html` and leaves `.txt` alone; keeping it
    // means autoescaping follows the file name, which is easy to see in review.
    env
}

/// An HTML body for a text-only template: the text template's output, HTML-escaped once (its
/// variables are not escaped a second time), in a `<pre>` block so line breaks survive.
pub fn html_from_text(text: &str) -> String {
    format!(
        "<pre style=\"white-space: pre-wrap\">{{% autoescape false %}}{{% filter escape %}}{text}\
         {{% endfilter %}}{{% endautoescape %}}</pre>"
    )
}

pub(super) fn template_name(kind: EmailKind, locale: &str, part: &str) -> String {
    format!("{}/{locale}/{part}", kind.as_str())
}
