//! The pages' templates, translations and stylesheet: built into the binary, each file
//! replaceable from `PAGES_TEMPLATE_DIR` (a flat directory, so a ConfigMap can hold it:
//! `login.html`, `de.json`, `pages.css`, ...). Loaded once at start-up; a template that does
//! not compile stops the start with its name and line.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use minijinja::{Environment, Value};

use super::brand::Brand;

/// The locale every text exists in, the last step of the fallback.
pub const FALLBACK_LOCALE: &str = "en";

macro_rules! built_in {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../pages/templates/", $name)))),*]
    };
}

/// `(file name, source)` of every built-in template.
const TEMPLATES: &[(&str, &str)] = built_in![
    "layout.html",
    "forms.html",
    "signup.html",
    "signup-done.html",
    "verify-email.html",
    "reset-password.html",
    "forgot-password.html",
    "login.html",
    "login-mfa.html",
    "account.html",
    "mfa-enrol.html",
    "passkey-enrol.html",
    "mfa-recovery-codes.html",
    "account-deleted.html",
    "logout.html",
    "error.html",
];

/// Built-in translations: `(locale, JSON object of key → text)`.
const CATALOGS: &[(&str, &str)] = &[
    ("en", include_str!("../../pages/i18n/en.json")),
    ("de", include_str!("../../pages/i18n/de.json")),
];

const STYLESHEET: &str = include_str!("../../pages/pages.css");

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("page template {name} does not compile: {reason}")]
    Template { name: String, reason: String },
    #[error("translation file {name} is not a JSON object of strings: {reason}")]
    Catalog { name: String, reason: String },
    #[error("cannot read PAGES_TEMPLATE_DIR {dir}")]
    Io {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a page could not be rendered (a replaced template that fails at run time).
#[derive(Debug, thiserror::Error)]
#[error("page {page} failed to render")]
pub struct RenderError {
    page: String,
    #[source]
    source: minijinja::Error,
}

pub struct Site {
    env: Environment<'static>,
    /// Locale → every text, the fallback locale's filling the gaps.
    catalogs: HashMap<String, Value>,
    stylesheet: String,
}

impl Site {
    pub fn load(brand: &Brand, dir: Option<&Path>) -> Result<Self, SiteError> {
        let mut templates: BTreeMap<String, String> = TEMPLATES
            .iter()
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
            .collect();
        let mut catalog_sources: BTreeMap<String, String> = CATALOGS
            .iter()
            .map(|(l, s)| ((*l).to_owned(), (*s).to_owned()))
            .collect();
        let mut stylesheet = STYLESHEET.to_owned();
        if let Some(dir) = dir {
            for (name, source) in read_overrides(dir)? {
                if name == "pages.css" {
                    stylesheet = source;
                } else if let Some(locale) = name.strip_suffix(".json") {
                    catalog_sources.insert(locale.to_owned(), source);
                } else {
                    templates.insert(name, source);
                }
            }
        }
        let mut env = Environment::new();
        for (name, source) in templates {
            env.add_template_owned(name.clone(), source)
                .map_err(|e| SiteError::Template {
                    name,
                    reason: e.to_string(),
                })?;
        }
        env.add_template_owned("pages.css", stylesheet)
            .map_err(|e| SiteError::Template {
                name: "pages.css".into(),
                reason: e.to_string(),
            })?;
        let stylesheet = env
            .get_template("pages.css")
            .and_then(|t| {
                t.render(minijinja::context! {
                    primary => brand.primary.to_string(),
                    background => brand.background.to_string(),
                })
            })
            .map_err(|e| SiteError::Template {
                name: "pages.css".into(),
                reason: e.to_string(),
            })?;
        let catalogs = merge_catalogs(&catalog_sources)?;
        Ok(Site {
            env,
            catalogs,
            stylesheet,
        })
    }

    /// The built-in site with the default brand (tests, and checking templates).
    pub fn built_in(brand: &Brand) -> Result<Self, SiteError> {
        Self::load(brand, None)
    }

    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }

    /// The closest locale with a translation: an explicit choice (the link's `lang`) first,
    /// then the browser's `Accept-Language` in its order, else the fallback.
    pub fn negotiate(&self, explicit: Option<&str>, accept_language: Option<&str>) -> String {
        let wanted = explicit.into_iter().map(str::to_owned).chain(
            accept_language
                .into_iter()
                .flat_map(preferences)
                .collect::<Vec<_>>(),
        );
        for tag in wanted {
            if let Some(found) = self.closest(&tag) {
                return found;
            }
        }
        FALLBACK_LOCALE.to_owned()
    }

    fn closest(&self, tag: &str) -> Option<String> {
        let tag = tag.trim().replace('_', "-");
        if tag.is_empty() || tag.len() > 35 {
            return None;
        }
        let exact = self.catalogs.keys().find(|l| l.eq_ignore_ascii_case(&tag));
        let language = tag.split('-').next().unwrap_or("");
        exact
            .or_else(|| {
                self.catalogs
                    .keys()
                    .find(|l| l.eq_ignore_ascii_case(language))
            })
            .cloned()
    }

    /// Every locale with a translation and its name in that language, by tag.
    pub fn locales(&self) -> Vec<(String, String)> {
        let mut locales: Vec<_> = self
            .catalogs
            .keys()
            .map(|tag| {
                (
                    tag.clone(),
                    self.text(tag, "language_name")
                        .unwrap_or_else(|| tag.clone()),
                )
            })
            .collect();
        locales.sort();
        locales
    }

    /// The texts of `locale` (which `negotiate` returned).
    pub fn texts(&self, locale: &str) -> Value {
        self.catalogs
            .get(locale)
            .or_else(|| self.catalogs.get(FALLBACK_LOCALE))
            .cloned()
            .unwrap_or_default()
    }

    /// One text of `locale`, `None` when no catalog has it.
    pub fn text(&self, locale: &str, key: &str) -> Option<String> {
        let texts = self.texts(locale);
        let value = texts.get_attr(key).ok()?;
        value.as_str().map(str::to_owned)
    }

    pub fn render(&self, page: &str, context: Value) -> Result<String, RenderError> {
        let name = format!("{page}.html");
        self.env
            .get_template(&name)
            .and_then(|t| t.render(context))
            .map_err(|source| RenderError {
                page: page.to_owned(),
                source,
            })
    }
}

/// `Accept-Language` tags by preference (`q` descending, `*` and `q=0` dropped).
fn preferences(header: &str) -> Vec<String> {
    let mut tags: Vec<(f32, usize, String)> = header
        .split(',')
        .take(20)
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (tag != "*" && !tag.is_empty() && q > 0.0).then(|| (q, i, tag.to_owned()))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().map(|(_, _, tag)| tag).collect()
}

/// Each locale's texts over the fallback's, so a missing translation shows in English.
fn merge_catalogs(sources: &BTreeMap<String, String>) -> Result<HashMap<String, Value>, SiteError> {
    let parse = |locale: &str, source: &str| {
        serde_json::from_str::<BTreeMap<String, String>>(source).map_err(|e| SiteError::Catalog {
            name: format!("{locale}.json"),
            reason: e.to_string(),
        })
    };
    let fallback = parse(
        FALLBACK_LOCALE,
        sources.get(FALLBACK_LOCALE).map_or("{}", String::as_str),
    )?;
    sources
        .iter()
        .map(|(locale, source)| {
            let mut texts = fallback.clone();
            texts.extend(parse(locale, source)?);
            Ok((locale.clone(), Value::from_serialize(&texts)))
        })
        .collect()
}

/// The files of the override directory: `*.html`, `*.json` and `pages.css`, by name. Other
/// entries (a ConfigMap's `..data` links, dot files) are skipped.
fn read_overrides(dir: &Path) -> Result<Vec<(String, String)>, SiteError> {
    let io = |source| SiteError::Io {
        dir: dir.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let wanted = !name.starts_with('.')
            && (name.ends_with(".html") || name.ends_with(".json") || name == "pages.css");
        if wanted && path.is_file() {
            files.push((name, std::fs::read_to_string(&path).map_err(io)?));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::brand::Colour;

    fn brand() -> Brand {
        Brand {
            product_name: "Acme".into(),
            logo_url: None,
            support_url: None,
            primary: Colour::DEFAULT_PRIMARY,
            background: Colour::DEFAULT_BACKGROUND,
        }
    }

    #[test]
    fn every_translation_has_every_key_of_the_fallback() {
        let parse = |s: &str| serde_json::from_str::<BTreeMap<String, String>>(s).unwrap();
        let en = parse(CATALOGS[0].1);
        for (locale, source) in CATALOGS {
            let texts = parse(source);
            let missing: Vec<_> = en.keys().filter(|k| !texts.contains_key(*k)).collect();
            let extra: Vec<_> = texts.keys().filter(|k| !en.contains_key(*k)).collect();
            assert!(missing.is_empty(), "{locale} lacks {missing:?}");
            assert!(extra.is_empty(), "{locale} has unknown keys {extra:?}");
        }
    }

    #[test]
    fn locales_are_negotiated() {
        let site = Site::built_in(&brand()).unwrap();
        assert_eq!(site.negotiate(Some("de-CH"), None), "de");
        assert_eq!(
            site.negotiate(None, Some("fr-FR, de;q=0.8, en;q=0.5")),
            "de"
        );
        assert_eq!(site.negotiate(None, Some("de;q=0, en")), "en");
        assert_eq!(site.negotiate(Some("xx"), Some("*")), "en");
        assert_eq!(site.text("de", "login_title").as_deref(), Some("Anmelden"));
    }

    #[test]
    fn overrides_replace_single_files() {
        let dir = std::env::temp_dir().join(format!("pages-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("fr.json"), r#"{"login_title": "Connexion"}"#).unwrap();
        std::fs::write(dir.join("pages.css"), "body { color: {{ primary }}; }").unwrap();
        let site = Site::load(&brand(), Some(&dir)).unwrap();
        assert_eq!(site.negotiate(None, Some("fr")), "fr");
        assert_eq!(site.text("fr", "login_title").as_deref(), Some("Connexion"));
        assert!(
            site.text("fr", "signup_title").is_some(),
            "falls back to English"
        );
        assert_eq!(site.stylesheet(), "body { color: #1d4ed8; }");
        std::fs::write(dir.join("login.html"), "{% if %}").unwrap();
        let err = Site::load(&brand(), Some(&dir)).err().unwrap().to_string();
        assert!(err.contains("login.html"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
