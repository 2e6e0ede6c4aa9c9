//! The email message contract: what the user service publishes to `email_queue` and the mail
//! service consumes. Documented in `docs/email-message.md`; change both together.
//!
//! Version 1 is additive-compatible: consumers ignore fields they do not know, so a new
//! optional field needs no version bump. Anything else (a renamed or retyped field) does.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The contract version this code writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// AMQP `content_type` of every message.
pub const CONTENT_TYPE: &str = "application/json";

/// The kinds of email the platform sends. Each has a template per locale in the mail service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// Confirm an address: data `token`, `action_url`.
    VerifyEmail,
    /// Someone tried to register with an address that already has an account.
    AccountExists,
    /// A password reset was requested: data `token`, `action_url`.
    PasswordReset,
    /// The password was changed.
    PasswordChanged,
    /// The account was deleted.
    AccountDeleted,
    /// Sent to the previous address after the account's email changed: data `new_email`.
    EmailChanged,
    /// Sent to the current address when a change to another one is asked for (without the
    /// link, which goes to the new address): data `new_email`.
    EmailChangeRequested,
    /// An operator created the account: a link to choose the password (which also confirms
    /// the address); data `token`, `action_url`, `expires_in_hours`.
    Invitation,
    /// Two-factor login (TOTP) was turned on.
    MfaEnabled,
    /// Two-factor login was turned off.
    MfaDisabled,
    /// A recovery code was used to log in: data `remaining` (unused codes left).
    MfaRecoveryCodeUsed,
    /// A passkey (WebAuthn credential) was added to the account: data `passkey_name` (the name
    /// the owner gave it; not `name`, which greets the recipient).
    PasskeyAdded,
    /// A passkey was removed from the account, by its owner or an operator: data
    /// `passkey_name`.
    PasskeyRemoved,
}

impl EmailKind {
    pub const ALL: [EmailKind; 13] = [
        EmailKind::VerifyEmail,
        EmailKind::AccountExists,
        EmailKind::PasswordReset,
        EmailKind::PasswordChanged,
        EmailKind::AccountDeleted,
        EmailKind::EmailChanged,
        EmailKind::EmailChangeRequested,
        EmailKind::Invitation,
        EmailKind::MfaEnabled,
        EmailKind::MfaDisabled,
        EmailKind::MfaRecoveryCodeUsed,
        EmailKind::PasskeyAdded,
        EmailKind::PasskeyRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::VerifyEmail => "verify_email",
            EmailKind::AccountExists => "account_exists",
            EmailKind::PasswordReset => "password_reset",
            EmailKind::PasswordChanged => "password_changed",
            EmailKind::AccountDeleted => "account_deleted",
            EmailKind::EmailChanged => "email_changed",
            EmailKind::EmailChangeRequested => "email_change_requested",
            EmailKind::Invitation => "invitation",
            EmailKind::MfaEnabled => "mfa_enabled",
            EmailKind::MfaDisabled => "mfa_disabled",
            EmailKind::MfaRecoveryCodeUsed => "mfa_recovery_code_used",
            EmailKind::PasskeyAdded => "passkey_added",
            EmailKind::PasskeyRemoved => "passkey_removed",
        }
    }
}

impl fmt::Display for EmailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One email to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailMessage {
    /// Contract version, [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique per email and stable across redeliveries and re-publishes: the idempotency key.
    pub message_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub to: Recipient,
    pub kind: EmailKind,
    /// BCP 47 language tag, e.g. `en` or `de-AT`; the mail service falls back to `en`.
    pub locale: String,
    /// Template variables. May hold single-use secrets (tokens): never log it.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// When the link (`data.action_url` and its token) stops working. Optional (added within
    /// v1): the mail service dead-letters a message past it as `expired` instead of mailing a
    /// dead link, and the user service drops such an outbox entry instead of publishing it.
    /// Absent: the message does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a message body could not be accepted. Always permanent: redelivering the same bytes
/// cannot fix it.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not a valid email message: {0}")]
    Malformed(String),
    #[error("unsupported schema_version {0} (this consumer reads {SCHEMA_VERSION})")]
    UnsupportedVersion(u32),
    #[error("invalid field {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl EmailMessage {
    pub fn new(to: Recipient, kind: EmailKind, locale: impl Into<String>) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            message_id: Uuid::now_v7(),
            created_at: Utc::now(),
            to,
            kind,
            locale: locale.into(),
            data: Map::new(),
            expires_at: None,
        }
    }

    /// Sets when the message's link expires (the token's lifetime end).
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sets the link's expiry to `ttl` after `created_at`: call it with the token's TTL.
    pub fn expires_in(self, ttl: std::time::Duration) -> Self {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let at = self.created_at.checked_add_signed(ttl);
        match at {
            Some(at) => self.expires_at(at),
            None => self,
        }
    }

    /// Whether the link has expired at `now`. A message without `expires_at` never does.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    pub fn with_data(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an EmailMessage always serialises")
    }

    /// Parses and validates a message body.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        // Read the version first so a future v2 body is reported as such, not as malformed.
        #[derive(Deserialize)]
        struct Versioned {
            schema_version: u32,
        }
        let versioned: Versioned = serde_json::from_slice(bytes).map_err(describe)?;
        if versioned.schema_version != SCHEMA_VERSION {
            return Err(DecodeError::UnsupportedVersion(versioned.schema_version));
        }
        let message: EmailMessage = serde_json::from_slice(bytes).map_err(describe)?;
        if !looks_like_address(&message.to.email) {
            return Err(DecodeError::Invalid {
                field: "to.email",
                reason: "not an email address".into(),
            });
        }
        if message.locale.is_empty() || message.locale.len() > 35 {
            return Err(DecodeError::Invalid {
                field: "locale",
                reason: "must be a BCP 47 language tag".into(),
            });
        }
        Ok(message)
    }
}

/// serde_json messages can quote the offending value, which may be a token: keep only the
/// category and position.
fn describe(e: serde_json::Error) -> DecodeError {
    let text = e.to_string();
    let safe = if text.starts_with("missing field") || text.starts_with("unknown variant") {
        text
    } else {
        format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )
    };
    DecodeError::Malformed(safe)
}

fn looks_like_address(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EmailMessage {
        EmailMessage::new(
            Recipient {
                email: "ada@example.com".into(),
                name: Some("Ada".into()),
            },
            EmailKind::VerifyEmail,
            "en",
        )
        .with_data("token", "secret-token")
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(EmailMessage::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn wire_format_is_stable() {
        let v: Value = serde_json::from_slice(&sample().encode()).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["kind"], "verify_email");
        assert_eq!(v["to"]["email"], "ada@example.com");
        assert_eq!(v["data"]["token"], "secret-token");
        assert!(v["message_id"].is_string() && v["created_at"].is_string());
        assert!(v.get("expires_at").is_none(), "absent unless set");
    }

    #[test]
    fn expiry_is_optional_and_round_trips() {
        let m = sample().expires_in(std::time::Duration::from_secs(3600));
        let v: Value = serde_json::from_slice(&m.encode()).unwrap();
        assert!(v["expires_at"].is_string());
        let back = EmailMessage::decode(&m.encode()).unwrap();
        assert_eq!(
            back.expires_at,
            Some(m.created_at + chrono::Duration::hours(1))
        );
        assert!(!back.is_expired(m.created_at));
        assert!(back.is_expired(m.created_at + chrono::Duration::hours(1)));
        assert!(!sample().is_expired(Utc::now() + chrono::Duration::days(3650)));
    }

    #[test]
    fn rejects_what_it_cannot_send_without_echoing_values() {
        assert!(matches!(
            EmailMessage::decode(b"not json"),
            Err(DecodeError::Malformed(_))
        ));
        let mut v: Value = serde_json::from_slice(&sample().encode()).unwrap();
        v["schema_version"] = 2.into();
        assert!(matches!(
            EmailMessage::decode(&serde_json::to_vec(&v).unwrap()),
            Err(DecodeError::UnsupportedVersion(2))
        ));
        v["schema_version"] = 1.into();
        v["kind"] = "launch_missiles".into();
        let err = EmailMessage::decode(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
        v["kind"] = "verify_email".into();
        v["to"]["email"] = 12345.into();
        let err = EmailMessage::decode(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(!err.to_string().contains("12345"), "{err}");
        v["to"]["email"] = "nobody".into();
        assert!(matches!(
            EmailMessage::decode(&serde_json::to_vec(&v).unwrap()),
            Err(DecodeError::Invalid {
                field: "to.email",
                ..
            })
        ));
    }

    #[test]
    fn kind_names_are_the_wire_names() {
        for kind in EmailKind::ALL {
            let wire = serde_json::to_value(kind).unwrap();
            assert_eq!(wire, kind.as_str());
            assert_eq!(serde_json::from_value::<EmailKind>(wire).unwrap(), kind);
        }
        let unique: std::collections::HashSet<_> = EmailKind::ALL.iter().collect();
        assert_eq!(unique.len(), EmailKind::ALL.len());
        assert_eq!(EmailKind::PasskeyAdded.as_str(), "passkey_added");
        assert_eq!(EmailKind::PasskeyRemoved.as_str(), "passkey_removed");
    }

    #[test]
    fn ignores_unknown_fields_for_forward_compatibility() {
        let mut v: Value = serde_json::from_slice(&sample().encode()).unwrap();
        v["priority"] = "high".into();
        assert!(EmailMessage::decode(&serde_json::to_vec(&v).unwrap()).is_ok());
    }
}
