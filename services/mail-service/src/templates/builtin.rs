//! The templates built into the binary, so a deployed image cannot lack one.

macro_rules! sources {
    ($(($kind:literal, $locale:literal)),* $(,)?) => {
        &[$(
            (
                concat!($kind, "/", $locale, "/subject.txt"),
                include_str!(concat!("../../templates/", $kind, "/", $locale, "/subject.txt")),
            ),
            (
                concat!($kind, "/", $locale, "/body.txt"),
                include_str!(concat!("../../templates/", $kind, "/", $locale, "/body.txt")),
            ),
            (
                concat!($kind, "/", $locale, "/body.html"),
                include_str!(concat!("../../templates/", $kind, "/", $locale, "/body.html")),
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
    ("passkey_added", "en"),
    ("passkey_removed", "en"),
];
