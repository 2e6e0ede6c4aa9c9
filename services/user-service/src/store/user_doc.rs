//! The documents of the `users` collection and the conditions its writes share: what every
//! part of the users store (`users`, `user_mfa`, `user_profile`, `user_queries`) reads and
//! writes.

use mongodb::bson::{self, Document, doc};
use serde::{Deserialize, Serialize};

use crate::secret_box::Sealed;

/// A user as stored. `email` holds the normalised address and is unique.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    /// argon2id PHC string.
    pub password_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub locale: String,
    pub created_at: bson::DateTime,
    pub updated_at: bson::DateTime,
    /// Moves on every password change, reset, email change and deletion; sessions and emailed
    /// links carry the value they were made under (see `store::sessions`). Empty for accounts
    /// created before it existed, until their first such change.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub security_stamp: String,
    /// Set by an operator (admin API): no login, and every session ended when it was set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// The last successful login, recorded after the answer (absent: none since it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<bson::DateTime>,
    /// Two-factor login, when enrolled (see `store::user_mfa`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<MfaDoc>,
    /// Registered passkeys, oldest first (see `store::user_passkeys`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passkeys: Vec<PasskeyDoc>,
}

/// A passkey (WebAuthn credential) of the user, in the `passkeys` array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasskeyDoc {
    /// The credential id, base64url without padding (what clients send back).
    pub id: String,
    /// The owner's name for it.
    pub name: String,
    pub created_at: bson::DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<bson::DateTime>,
    /// The authenticator may sync the key to other devices (backup eligible), and has (backed
    /// up); as last reported.
    pub backup_eligible: bool,
    pub backed_up: bool,
    /// The public key, signature counter and flags as the relying-party library keeps them
    /// (its `Passkey`, as JSON).
    pub credential: String,
}

/// Two-factor login, in the user's `mfa` sub-document (see `store::user_mfa`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaDoc {
    /// The TOTP secret, encrypted (never stored in the clear).
    pub secret: Sealed,
    pub enabled_at: bson::DateTime,
    /// Each unused recovery code's SHA-256, bound to the user, sealed with the MFA keys
    /// (`s1:<kid>:<nonce>:<ciphertext>`; a bare base64 digest from before, until re-keyed:
    /// see `account::recovery_codes`).
    pub recovery_codes: Vec<String>,
    /// The newest time step whose code was accepted: no code of it or an older step works
    /// again (replay).
    pub last_step: i64,
}

/// Changes to the profile fields a user edits freely.
#[derive(Debug, Default)]
pub struct ProfileChanges {
    /// `Some(None)` removes the display name.
    pub display_name: Option<Option<String>>,
    pub locale: Option<String>,
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.locale.is_none()
    }

    pub(super) fn update(&self) -> Document {
        let mut set = doc! { "updated_at": bson::DateTime::now() };
        let mut update = Document::new();
        match &self.display_name {
            Some(Some(name)) => {
                set.insert("display_name", name);
            }
            Some(None) => {
                update.insert("$unset", doc! { "display_name": "" });
            }
            None => {}
        }
        if let Some(locale) = &self.locale {
            set.insert("locale", locale);
        }
        update.insert("$set", set);
        update
    }
}

/// Matches the stamp a workflow read: the field's absence for accounts from before stamps.
pub(super) fn stamp_filter(stamp: &str) -> bson::Bson {
    if stamp.is_empty() {
        bson::Bson::Document(doc! { "$exists": false })
    } else {
        bson::Bson::String(stamp.to_owned())
    }
}

/// What a stamp-moving write expects to find, and the stamp it leaves.
pub struct StampGuard<'a> {
    pub email: &'a str,
    pub stamp: &'a str,
    pub new_stamp: &'a str,
}

/// The outcome of a conditional update.
#[derive(Debug, PartialEq, Eq)]
pub enum Updated {
    Done,
    /// The user is gone or no longer matches the condition; nothing was written.
    NoMatch,
    /// The new address belongs to another account; nothing was written.
    EmailTaken,
}

/// The outcome of a registration attempt.
pub enum Inserted {
    Created,
    /// The address already has an account; nothing was written.
    EmailTaken,
}
