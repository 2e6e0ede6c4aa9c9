//! Rules of the request bodies that the derive cannot state: the patterns of display names and
//! locales (built from the character sets the parsers use; the tests below hold the two
//! together), `email` needing `current_password` in a profile update, and the constant values
//! of response fields.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use utoipa::Modify;
use utoipa::openapi::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, Schema};

/// Unicode `White_Space`, what `str::trim` removes. Written out because `\s` means different
/// sets in ECMA-262, Python and Rust regular expressions.
const WHITE_SPACE: &[(char, char)] = &[
    ('\u{9}', '\u{D}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{A0}', '\u{A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

/// What `DisplayName::parse` refuses inside a name: control characters, whitespace other than
/// the space, and the invisible and text-direction characters.
const NOT_IN_NAMES: &[(char, char)] = &[
    ('\u{0}', '\u{1F}'),
    ('\u{7F}', '\u{A0}'),
    ('\u{AD}', '\u{AD}'),
    ('\u{34F}', '\u{34F}'),
    ('\u{600}', '\u{605}'),
    ('\u{61C}', '\u{61C}'),
    ('\u{6DD}', '\u{6DD}'),
    ('\u{70F}', '\u{70F}'),
    ('\u{890}', '\u{891}'),
    ('\u{8E2}', '\u{8E2}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{2000}', '\u{200B}'),
    ('\u{200E}', '\u{200F}'),
    ('\u{2028}', '\u{202F}'),
    ('\u{205F}', '\u{206F}'),
    ('\u{3000}', '\u{3000}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// The inside of a regular expression character class: `\uXXXX` escapes in the Basic
/// Multilingual Plane (the same in every dialect), the characters themselves above it.
fn class(ranges: &[(char, char)]) -> String {
    let one = |c: char| {
        if u32::from(c) < 0x1_0000 {
            format!("\\u{:04X}", u32::from(c))
        } else {
            c.to_string()
        }
    };
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                one(a)
            } else {
                format!("{}-{}", one(a), one(b))
            }
        })
        .collect()
}

/// Surrounding whitespace (trimmed), then a name that starts and ends with a visible
/// character and has nothing refused in between. The length is the schema's `maxLength`.
pub fn display_name_pattern() -> String {
    let space = class(WHITE_SPACE);
    let refused = class(NOT_IN_NAMES);
    format!("^[{space}]*[^{refused}\\u0020](?:[^{refused}]*[^{refused}\\u0020])?[{space}]*$")
}

/// `Locale::parse`: a language of 2 or 3 letters, then subtags of 1 to 8 letters or digits
/// after `-` or `_`, surrounding whitespace trimmed.
pub fn locale_pattern() -> String {
    let space = class(WHITE_SPACE);
    format!("^[{space}]*[A-Za-z]{{2,3}}(?:[-_][A-Za-z0-9]{{1,8}})*[{space}]*$")
}

pub struct Rules;

impl Modify for Rules {
    fn modify(&self, openapi: &mut OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let schemas = &mut components.schemas;
        for body in ["RegisterBody", "PatchBody"] {
            property(schemas, body, "display_name").pattern = Some(display_name_pattern());
            property(schemas, body, "locale").pattern = Some(locale_pattern());
        }
        for body in ["PasskeyEnrolBody", "PasskeyRenameBody"] {
            property(schemas, body, "name").pattern = Some(display_name_pattern());
        }
        object(schemas, "PatchBody")
            .extensions
            .get_or_insert_with(Default::default)
            .insert(
                "dependentRequired".to_owned(),
                json!({ "email": ["current_password"] }),
            );
        // A step-up is a code or a passkey, not both.
        for body in [
            "PatchBody",
            "ChangePasswordBody",
            "DeleteBody",
            "PasskeyOptionsBody",
        ] {
            object(schemas, body)
                .extensions
                .get_or_insert_with(Default::default)
                .insert(
                    "not".to_owned(),
                    json!({ "required": ["totp_code", "passkey"] }),
                );
        }
        // A second factor is a code or a recovery code, exactly one.
        for body in ["MfaLoginBody", "DisableBody"] {
            object(schemas, body)
                .extensions
                .get_or_insert_with(Default::default)
                .insert(
                    "oneOf".to_owned(),
                    json!([{ "required": ["code"] }, { "required": ["recovery_code"] }]),
                );
        }
        property(schemas, "MfaRequired", "mfa_required").enum_values =
            Some(vec![Value::Bool(true)]);
        let constants: [(&str, &str, &[&str]); 3] = [
            ("Accepted", "status", &["accepted", "pending_verification"]),
            ("EmailChange", "status", &["pending_verification"]),
            ("NewSession", "token_type", &["Bearer"]),
        ];
        for (schema, field, values) in constants {
            property(schemas, schema, field).enum_values =
                Some(values.iter().map(|v| Value::from(*v)).collect());
        }
    }
}

pub(crate) fn object<'a>(
    schemas: &'a mut BTreeMap<String, RefOr<Schema>>,
    name: &str,
) -> &'a mut Object {
    match schemas.get_mut(name) {
        Some(RefOr::T(Schema::Object(object))) => object,
        _ => panic!("the document has no object schema {name}"),
    }
}

pub(crate) fn property<'a>(
    schemas: &'a mut BTreeMap<String, RefOr<Schema>>,
    name: &str,
    field: &str,
) -> &'a mut Object {
    match object(schemas, name).properties.get_mut(field) {
        Some(RefOr::T(Schema::Object(object))) => object,
        _ => panic!("{name} has no property {field}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DisplayName;

    fn contains(ranges: &[(char, char)], c: char) -> bool {
        ranges.iter().any(|&(a, b)| (a..=b).contains(&c))
    }

    #[test]
    fn white_space_is_what_trim_removes() {
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            assert_eq!(contains(WHITE_SPACE, c), c.is_whitespace(), "{c:?}");
        }
    }

    #[test]
    fn the_name_pattern_refuses_what_the_parser_refuses() {
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            let refused = DisplayName::parse(&format!("a{c}b")).is_err();
            assert_eq!(contains(NOT_IN_NAMES, c), refused, "{c:?}");
        }
        // Every whitespace character but the space is refused inside a name, so the ends of a
        // trimmed name are exactly the characters the pattern allows there.
        assert!(
            WHITE_SPACE
                .iter()
                .all(|&(a, b)| (a..=b).all(|c| c == ' ' || contains(NOT_IN_NAMES, c)))
        );
    }

    #[test]
    fn patterns_are_written_with_portable_escapes() {
        let name = display_name_pattern();
        assert!(
            name.starts_with("^[\\u0009-\\u000D\\u0020\\u0085"),
            "{name}"
        );
        assert!(name.contains("\u{E0000}-\u{E0FFF}"), "{name}");
        assert!(!name.contains("\\s"));
        assert_eq!(
            locale_pattern().replace(&class(WHITE_SPACE), "W"),
            "^[W]*[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*[W]*$"
        );
    }
}
