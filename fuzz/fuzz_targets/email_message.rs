//! `EmailMessage::decode`, the mail service's view of whatever arrives on the queue. Anything it
//! accepts meets the contract (docs/email-message.md) and survives a re-publish unchanged,
//! `decode(encode(m)) == m` (a float in `data` up to a few units in the last place, see
//! `same_value`). Whatever it refuses, its error never quotes a template variable (they may
//! hold tokens).
#![no_main]

use common::email::{DecodeError, EmailMessage, SCHEMA_VERSION};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    match EmailMessage::decode(data) {
        Ok(message) => check_accepted(&message),
        Err(error) => check_refused(data, &error),
    }
});

fn check_accepted(message: &EmailMessage) {
    assert_eq!(message.schema_version, SCHEMA_VERSION);
    let email = &message.to.email;
    assert!(
        email.contains('@') && !email.chars().any(char::is_whitespace),
        "accepted a recipient that is no address: {email:?}"
    );
    assert!((1..=35).contains(&message.locale.len()), "locale");
    let encoded = message.encode();
    let again = EmailMessage::decode(&encoded).expect("an accepted message re-decodes");
    let (mut left, mut right) = (again.clone(), message.clone());
    assert!(
        same_value(
            &Value::Object(left.data.clone()),
            &Value::Object(right.data.clone())
        ),
        "decode(encode(m)) changed data: {:?} became {:?}",
        message.data,
        again.data
    );
    left.data.clear();
    right.data.clear();
    assert_eq!(left, right, "decode(encode(m)) != m");
}

/// JSON equality, except that a number with a fraction or exponent may move by a few units in
/// the last place: serde_json parses floats with "best-effort precision" unless its
/// `float_roundtrip` feature is on, which the workspace does not enable (template variables
/// are strings; a float in `data` is accepted but not part of the contract).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// A refusal names a field, a category and a position, or an unknown `kind`; never a value
/// from `data`.
fn check_refused(data: &[u8], error: &DecodeError) {
    let text = error.to_string();
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let kind = body.get("kind").and_then(Value::as_str);
    let Some(Value::Object(vars)) = body.get("data") else {
        return;
    };
    for value in vars.values() {
        if let Some(secret) = value.as_str().filter(|s| looks_like_token(s)) {
            assert!(
                Some(secret) == kind || !text.contains(secret),
                "the error quotes a template variable: {text}"
            );
        }
    }
}

/// Long enough and plain enough that it cannot occur in an error text by chance.
fn looks_like_token(s: &str) -> bool {
    s.len() >= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}
