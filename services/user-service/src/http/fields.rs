//! Request fields that several bodies share, parsed into typed values: one-time codes and the
//! second factor, profile changes (public and admin), a registration's fields. Every parser
//! collects all problems of a body, so a client learns about them at once.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use super::error::{ApiError, FieldError};
use crate::account::AccountError;
use crate::account::registration::Registration;
use crate::account::second_factor::SecondFactor;
use crate::crypto::looks_like_token;
use crate::domain::{DisplayName, Email, Locale, Password};
use crate::store::users::ProfileChanges;
use crate::totp;

/// The longest recovery code taken as typed (with dashes and spaces).
const MAX_RECOVERY_CODE: usize = 64;

/// `null` and absent differ: absent leaves a field alone, `null` clears it.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A field that may be absent but, when present, is a value: `null` is refused (400).
pub(crate) fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A body with a second factor: the struct as written, plus `code` and `recovery_code`
/// (exactly one of the two, checked by [`parse_factor`]).
macro_rules! with_second_factor {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$field_meta])* $field: $ty,)*
            /// A current code; or else `recovery_code` (exactly one of the two).
            #[serde(default, deserialize_with = "crate::http::fields::not_null")]
            #[schema(value_type = String, pattern = "^[0-9]{6}$", min_length = 6, max_length = 6)]
            code: Option<String>,
            /// An unused recovery code (dashes, spaces and case do not matter); uses it up.
            #[serde(default, deserialize_with = "crate::http::fields::not_null")]
            #[schema(value_type = String, min_length = 1, max_length = 64)]
            recovery_code: Option<String>,
        }
    };
}
pub(crate) use with_second_factor;

/// The token of an emailed link: a well-formed one, else 400 `invalid_token` (the same answer
/// as for a well-formed token that is not live).
pub(crate) fn link_token(raw: &str) -> Result<&str, ApiError> {
    if looks_like_token(raw) {
        Ok(raw)
    } else {
        Err(ApiError::Account(AccountError::InvalidToken))
    }
}

/// A `totp_code` field: six digits, else 422 `invalid_totp_code`.
pub fn parse_code(field: &'static str, raw: &str) -> Result<SecretString, FieldError> {
    if totp::is_code_shaped(raw) {
        Ok(SecretString::from(raw))
    } else {
        Err(FieldError {
            field,
            code: "invalid_totp_code",
            detail: format!("{field} must be the 6 digits the authenticator app shows"),
        })
    }
}

/// A `totp_code` field, checked for shape.
pub fn optional_code(raw: Option<String>) -> Result<Option<SecretString>, ApiError> {
    raw.map(|c| parse_code("totp_code", &c))
        .transpose()
        .map_err(|e| ApiError::invalid(vec![e]))
}

/// Exactly one of `code` and `recovery_code`.
pub(crate) fn parse_factor(
    code: Option<String>,
    recovery_code: Option<String>,
) -> Result<SecondFactor, ApiError> {
    let invalid = |field, code, detail: &str| {
        ApiError::invalid(vec![FieldError {
            field,
            code,
            detail: detail.into(),
        }])
    };
    match (code, recovery_code) {
        (Some(code), None) => parse_code("code", &code)
            .map(SecondFactor::Code)
            .map_err(|e| ApiError::invalid(vec![e])),
        (None, Some(raw)) if !raw.is_empty() && raw.chars().count() <= MAX_RECOVERY_CODE => {
            Ok(SecondFactor::RecoveryCode(raw.into()))
        }
        (None, Some(_)) => Err(invalid(
            "recovery_code",
            "invalid_recovery_code",
            "recovery_code must be 1 to 64 characters",
        )),
        _ => Err(invalid(
            "code",
            "mfa_factor_required",
            "send exactly one of code and recovery_code",
        )),
    }
}

/// A display name (`None` absent, `Some(None)` cleared) and a locale, as the public and the
/// admin profile updates take them; problems are added to `errors`.
pub(crate) fn profile_changes(
    display_name: Option<Option<String>>,
    locale: Option<String>,
    errors: &mut Vec<FieldError>,
) -> ProfileChanges {
    let mut changes = ProfileChanges::default();
    match display_name {
        Some(Some(raw)) => match DisplayName::parse(&raw) {
            Ok(name) => changes.display_name = Some(Some(name.into_inner())),
            Err(e) => errors.push(FieldError::new("display_name", e)),
        },
        Some(None) => changes.display_name = Some(None),
        None => {}
    }
    if let Some(raw) = locale {
        match Locale::parse(&raw) {
            Ok(locale) => changes.locale = Some(locale.as_str().to_owned()),
            Err(e) => errors.push(FieldError::new("locale", e)),
        }
    }
    changes
}

/// A registration's fields (the API's body, the sign-up page's form).
pub(crate) fn parse_registration(
    email: &str,
    password: &str,
    display_name: Option<&str>,
    locale: Option<&str>,
) -> Result<Registration, ApiError> {
    let mut errors = Vec::new();
    let email = Email::parse(email)
        .map_err(|e| errors.push(FieldError::new("email", e)))
        .ok();
    let password = Password::parse(password)
        .map_err(|e| errors.push(FieldError::new("password", e)))
        .ok();
    let display_name = match display_name.map(DisplayName::parse) {
        Some(Ok(name)) => Some(name),
        Some(Err(e)) => {
            errors.push(FieldError::new("display_name", e));
            None
        }
        None => None,
    };
    let locale = Locale::parse(locale.unwrap_or("en"))
        .map_err(|e| errors.push(FieldError::new("locale", e)))
        .ok();
    if let (Some(email), Some(password)) = (&email, &password)
        && let Err(e) = password
            .check_not_derived_from(email)
            .and_then(|()| password.check_not_common())
    {
        errors.push(FieldError::new("password", e));
    }
    match (email, password, locale) {
        (Some(email), Some(password), Some(locale)) if errors.is_empty() => Ok(Registration {
            email,
            password,
            display_name,
            locale,
        }),
        _ => Err(ApiError::invalid(errors)),
    }
}
