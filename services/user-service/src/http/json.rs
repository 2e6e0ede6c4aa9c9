//! A JSON body extractor whose rejections are problem documents that never quote the body.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Like `axum::Json`, but: requires `application/json` (or `+json`), and reports errors by
/// field path and category only, because serde's messages can contain the offending value,
/// which may be a password.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidBody("The request body could not be read.".into())
            }
        })?;
        decode(&bytes).map(ApiJson)
    }
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde maps a JSON array onto a struct's fields by position; every body here is an object
    // with named fields, so anything else is refused before it can be read that way.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::InvalidBody(
            "The request body must be a JSON object.".into(),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    if value.is_ok() {
        // Trailing bytes after the object.
        de.end().map_err(|e| {
            ApiError::MalformedJson(format!(
                "Unexpected data after the JSON value (line {}, column {}).",
                e.line(),
                e.column()
            ))
        })?;
    }
    value.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::MalformedJson(format!(
                "The body is not valid JSON (line {}, column {}).",
                inner.line(),
                inner.column()
            ));
        }
        let message = inner.to_string();
        // These messages name fields, never values.
        let safe = ["missing field", "unknown field", "duplicate field"]
            .iter()
            .any(|p| message.starts_with(p));
        let detail = if safe {
            // Drop serde's " at line X column Y" suffix.
            let message = message.split(" at line ").next().unwrap_or(&message);
            if path == "." {
                format!("{message}.")
            } else {
                format!("{message} in `{path}`.")
            }
        } else if path == "." {
            "The body must be a JSON object.".to_owned()
        } else {
            format!("`{path}` has the wrong type.")
        };
        ApiError::InvalidBody(detail)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        password: String,
    }

    fn detail(bytes: &[u8]) -> String {
        match decode::<Body>(bytes).unwrap_err() {
            ApiError::MalformedJson(d) | ApiError::InvalidBody(d) => d,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn never_echoes_values() {
        let d = detail(br#"{"email": "a@b.c", "password": 123456789012345}"#);
        assert!(!d.contains("123456789012345"), "{d}");
        assert!(d.contains("password"), "{d}");
    }

    #[test]
    fn names_missing_and_unknown_fields() {
        assert!(detail(br#"{"email": "a@b.c"}"#).contains("missing field `password`"));
        let d = detail(br#"{"email": "a@b.c", "password": "x", "roles": ["admin"]}"#);
        assert!(d.contains("unknown field `roles`"), "{d}");
        assert!(matches!(
            decode::<Body>(b"{"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            decode::<Body>(b"[]"),
            Err(ApiError::InvalidBody(_))
        ));
        // Positional arrays would otherwise fill the fields in order.
        assert_eq!(
            detail(br#" ["a@b.c", "correct horse battery staple"]"#),
            "The request body must be a JSON object."
        );
    }
}
