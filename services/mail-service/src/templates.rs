//! Email templates: built into the binary so a deployed image cannot lack one, optionally
//! overridden file by file from `TEMPLATE_DIR` and reloaded when that directory changes.
//!
//! Layout (both): `<kind>/<locale>/{subject.txt,body.txt,body.html}`. Every kind must exist
//! in `en`, the last step of the locale fallback.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use common::email::EmailKind;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};
use tracing::{error, info, warn};

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
    ("email_change_requested", "en"),
    ("invitation", "en"),
    ("mfa_enabled", "en"),
    ("mfa_disabled", "en"),
    ("mfa_recovery_code_used", "en"),
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

    /// The built-ins with every template found in `dir` in place of (or next to) them.
    pub fn with_dir(dir: &Path) -> Result<Self, TemplateError> {
        let overrides = read_dir_sources(dir)?;
        let builtin: Vec<_> = SOURCES
            .iter()
            .filter(|(name, _)| !overrides.iter().any(|(n, _)| n == name))
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
            .collect();
        Self::compile(builtin.into_iter().chain(overrides))
    }

    /// The built-ins with the given `(name, source)` templates in place of (or next to) them:
    /// the registry an `EmailTemplate` controller publishes.
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

/// The templates in use, swapped whole on reload so a render never mixes two versions.
#[derive(Clone)]
pub struct TemplateStore {
    current: Arc<RwLock<Arc<Templates>>>,
}

impl TemplateStore {
    pub fn new(templates: Templates) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(templates))),
        }
    }

    pub fn current(&self) -> Arc<Templates> {
        self.current.read().expect("template lock").clone()
    }

    pub fn replace(&self, templates: Templates) {
        *self.current.write().expect("template lock") = Arc::new(templates);
    }

    /// Polls `dir` every `interval` and reloads on any change, keeping the running templates
    /// when the new ones do not compile. Polling rather than inotify because Kubernetes updates
    /// a mounted ConfigMap by swapping a `..data` symlink, which file watches on the old files
    /// miss, and because a few `stat`s every few seconds cost nothing.
    ///
    /// The directory's state is taken now, not when the future first runs, so a change made
    /// in between is not missed.
    pub fn watch(
        self,
        dir: PathBuf,
        interval: Duration,
        on_reload: impl Fn(bool) + Send,
        stop: impl std::future::Future<Output = ()>,
    ) -> impl std::future::Future<Output = ()> {
        let seen = fingerprint(&dir);
        self.poll(dir, seen, interval, on_reload, stop)
    }

    async fn poll(
        self,
        dir: PathBuf,
        mut seen: Vec<(PathBuf, Option<SystemTime>, u64)>,
        interval: Duration,
        on_reload: impl Fn(bool) + Send,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = &mut stop => return,
            }
            let now = fingerprint(&dir);
            if now == seen {
                continue;
            }
            seen = now;
            let loaded = {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || Templates::with_dir(&dir)).await
            };
            match loaded {
                Ok(Ok(templates)) => {
                    self.replace(templates);
                    on_reload(true);
                    info!(dir = %dir.display(), "templates reloaded");
                }
                Ok(Err(e)) => {
                    on_reload(false);
                    error!(dir = %dir.display(), error = %e,
                        "changed templates rejected; still using the previous ones");
                }
                Err(e) => {
                    on_reload(false);
                    error!(error = %e, "template reload failed");
                }
            }
        }
    }
}

/// Reads `<dir>/<kind>/<locale>/<part>` for the known parts, following symlinks and skipping
/// hidden entries (a ConfigMap mount's `..data` and timestamped directories are reached through
/// the visible symlinks).
fn read_dir_sources(dir: &Path) -> Result<Vec<(String, String)>, TemplateError> {
    let io = |path: &Path, e: std::io::Error| TemplateError::Io(format!("{}: {e}", path.display()));
    let mut sources = Vec::new();
    for kind_dir in visible_dirs(dir).map_err(|e| io(dir, e))? {
        let kind = file_name(&kind_dir);
        if !EmailKind::ALL.iter().any(|k| k.as_str() == kind) {
            warn!(dir = %kind_dir.display(), "template directory for an unknown kind ignored");
            continue;
        }
        for locale_dir in visible_dirs(&kind_dir).map_err(|e| io(&kind_dir, e))? {
            let locale = file_name(&locale_dir);
            for part in PARTS {
                let path = locale_dir.join(part);
                match std::fs::read_to_string(&path) {
                    Ok(source) => sources.push((format!("{kind}/{locale}/{part}"), source)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&path, e)),
                }
            }
        }
    }
    Ok(sources)
}

fn visible_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !file_name(&path).starts_with('.') && path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where every template file resolves to, and its size and mtime: a ConfigMap update changes
/// the resolved paths, an in-place edit the mtime or size.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut files = Vec::new();
    let Ok(kinds) = visible_dirs(dir) else {
        return files;
    };
    for kind_dir in kinds {
        for locale_dir in visible_dirs(&kind_dir).unwrap_or_default() {
            for part in PARTS {
                let path = locale_dir.join(part);
                if let Ok(meta) = std::fs::metadata(&path) {
                    let resolved = std::fs::canonicalize(&path).unwrap_or(path);
                    files.push((resolved, meta.modified().ok(), meta.len()));
                }
            }
        }
    }
    files
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
            "new_email": "ada@example.org",
            "remaining": 9,
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

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mail-templates-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, name: &str, source: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, source).unwrap();
    }

    #[test]
    fn directory_overrides_built_ins_and_adds_locales() {
        let dir = temp_dir("override");
        write(&dir, "password_changed/en/subject.txt", "Custom subject");
        write(&dir, "password_reset/fr/subject.txt", "Réinitialiser");
        write(&dir, "password_reset/fr/body.txt", "Jeton: {{ token }}");
        write(&dir, "password_reset/fr/body.html", "<p>{{ token }}</p>");
        write(&dir, ".hidden/en/subject.txt", "{% broken");
        let t = Templates::with_dir(&dir).unwrap();
        let r = t
            .render(EmailKind::PasswordChanged, "en", &full_data())
            .unwrap();
        assert_eq!(r.subject, "Custom subject");
        assert!(
            r.text.contains("Hello Ada,"),
            "the built-in body stays: {}",
            r.text
        );
        let r = t
            .render(EmailKind::PasswordReset, "fr-CA", &full_data())
            .unwrap();
        assert_eq!(r.text, "Jeton: tok-123_ABC");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_broken_directory_template_is_named() {
        let dir = temp_dir("broken");
        write(&dir, "verify_email/de/body.txt", "{% if %}");
        let err = Templates::with_dir(&dir).err().unwrap();
        assert!(
            err.to_string().contains("verify_email/de/body.txt"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn reloads_when_a_config_map_swaps_its_data_link() {
        // The layout the kubelet creates: visible names link through `..data` to a
        // timestamped directory, and an update re-points `..data`.
        let dir = temp_dir("configmap");
        let v1 = dir.join("..v1");
        write(&v1, "account_deleted/en/subject.txt", "Version one");
        std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/account_deleted", dir.join("account_deleted")).unwrap();

        let store = TemplateStore::new(Templates::with_dir(&dir).unwrap());
        let subject = |s: &TemplateStore| {
            s.current()
                .render(EmailKind::AccountDeleted, "en", &Map::new())
                .unwrap()
                .subject
        };
        assert_eq!(subject(&store), "Version one");

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let reloads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let watcher = tokio::spawn(store.clone().watch(
            dir.clone(),
            Duration::from_millis(50),
            {
                let reloads = reloads.clone();
                move |_| {
                    reloads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            },
            async move {
                let _ = stop_rx.await;
            },
        ));

        // A broken update is rejected and the running version stays.
        let v2 = dir.join("..v2");
        write(&v2, "account_deleted/en/subject.txt", "{% if %}");
        std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        wait_for(|| reloads.load(std::sync::atomic::Ordering::SeqCst) >= 1).await;
        assert_eq!(subject(&store), "Version one");

        let v3 = dir.join("..v3");
        write(&v3, "account_deleted/en/subject.txt", "Version three");
        std::os::unix::fs::symlink("..v3", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        wait_for(|| subject(&store) == "Version three").await;

        let _ = stop_tx.send(());
        watcher.await.unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    async fn wait_for(mut done: impl FnMut() -> bool) {
        for _ in 0..100 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("condition not met in time");
    }
}
