//! Recovery codes: ten per enrolment, 80 random bits each (`xxxx-xxxx-xxxx-xxxx`), shown once.
//! Stored is the SHA-256 of the code bound to its account, sealed with the MFA keys
//! (`MFA_ENCRYPTION_KEYS`, AES-256-GCM, the user id as associated data) as
//! `s1:<kid>:<nonce>:<ciphertext>`: a copy of the database alone gives nothing to test guesses
//! against, and, unlike an HMAC, a sealed digest can be moved to a new key without the codes.
//!
//! Entries of older versions (a bare unkeyed digest of a 50-bit code) still match; the start-up
//! sweep (`rekey_all`) seals them, and re-seals entries under an older key, in place.

use base64::Engine;
use data_encoding::BASE32_NOPAD;
use futures_util::TryStreamExt;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::{Digest, Sha256};

use crate::secret_box::{KeyRing, Sealed};
use crate::state::AppState;
use crate::store::chain;
use crate::store::users::UserDoc;

/// How many recovery codes an enrolment gets.
pub const RECOVERY_CODES: usize = 10;
/// Base32 characters of a code: 16 × 5 = 80 random bits.
const CODE_CHARS: usize = 16;
/// The marker of a sealed entry.
const SEALED: &str = "s1";

/// Ten new recovery codes for `user_id` and their stored (sealed) forms.
pub fn new_codes(keys: &KeyRing, user_id: &str) -> (Vec<SecretString>, Vec<String>) {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::rng().fill_bytes(&mut bytes);
            let raw = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
            let code = raw
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
                .collect::<Vec<_>>()
                .join("-");
            let stored = seal(keys, user_id, &digest(user_id, &raw[..CODE_CHARS]));
            (SecretString::from(code), stored)
        })
        .unzip()
}

/// The unkeyed digest of a normalised code, bound to its account (what version 1 stored).
fn digest(user_id: &str, normalised: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"user-platform recovery code\0");
    hasher.update(user_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(normalised.as_bytes());
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(hasher.finalize())
}

/// A recovery code as typed: dashes and spaces dropped, case ignored.
fn normalise(raw: &str) -> String {
    raw.chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn seal(keys: &KeyRing, user_id: &str, digest: &str) -> String {
    let secret: SecretSlice<u8> = digest.as_bytes().to_vec().into();
    let sealed = keys.seal(&secret, user_id);
    format!(
        "{SEALED}:{}:{}:{}",
        sealed.kid, sealed.nonce, sealed.ciphertext
    )
}

/// The sealed form of a stored entry; `None` for a version-1 (bare digest) entry.
fn parse(entry: &str) -> Option<Sealed> {
    let mut parts = entry.splitn(4, ':');
    (parts.next() == Some(SEALED)).then_some(())?;
    let (kid, nonce, ciphertext) = (parts.next()?, parts.next()?, parts.next()?);
    Some(Sealed {
        kid: kid.to_owned(),
        nonce: nonce.to_owned(),
        ciphertext: ciphertext.to_owned(),
    })
}

/// The digest a stored entry holds; `None` when it does not open (key gone, tampered with).
fn open(keys: &KeyRing, user_id: &str, entry: &str) -> Option<String> {
    let Some(sealed) = parse(entry) else {
        return Some(entry.to_owned());
    };
    let opened = keys.open(&sealed, user_id).ok()?;
    String::from_utf8(opened.expose_secret().to_vec()).ok()
}

/// The stored entry `code` matches among `stored` (those of `user_id`), if any.
pub fn find<'a>(
    keys: &KeyRing,
    user_id: &str,
    stored: &'a [String],
    code: &SecretString,
) -> Option<&'a String> {
    let wanted = digest(user_id, &normalise(code.expose_secret()));
    stored
        .iter()
        .find(|entry| open(keys, user_id, entry).is_some_and(|d| d == wanted))
}

/// The entries of `user` sealed under the current key, when any is not yet: `None` when all
/// are, or when one cannot be opened (it is left as it is).
fn rekeyed(keys: &KeyRing, user: &UserDoc) -> Option<Vec<String>> {
    let stored = &user.mfa.as_ref()?.recovery_codes;
    let current = |e: &String| parse(e).is_some_and(|s| !keys.is_stale(&s));
    if stored.iter().all(current) {
        return None;
    }
    stored
        .iter()
        .map(|entry| {
            if current(entry) {
                return Some(entry.clone());
            }
            open(keys, &user.id, entry).map(|d| seal(keys, &user.id, &d))
        })
        .collect()
}

/// Seals every version-1 entry and re-seals every entry under an older key, account by
/// account; each write is conditional on the entries being unchanged (a code used meanwhile is
/// never brought back). Run in the background at start-up; idempotent across replicas.
#[tracing::instrument(name = "mfa.rekey_recovery_codes", skip_all)]
pub async fn rekey_all(state: AppState) {
    let Some(keys) = state.config.mfa.keys.clone() else {
        return;
    };
    let mut users = match state.users.enrolled().await {
        Ok(users) => users,
        Err(e) => {
            tracing::warn!(error = %chain(&e), "recovery codes not re-keyed");
            return;
        }
    };
    let mut rekeyed_users = 0usize;
    loop {
        let user = match users.try_next().await {
            Ok(Some(user)) => user,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %chain(&crate::store::StoreError::mongo(e)), "re-keying stopped");
                break;
            }
        };
        let (Some(new), Some(mfa)) = (rekeyed(&keys, &user), user.mfa.as_ref()) else {
            continue;
        };
        match state
            .users
            .replace_recovery_codes(&user.id, &mfa.recovery_codes, &new)
            .await
        {
            Ok(true) => rekeyed_users += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = %chain(&e), "recovery codes not re-keyed")
            }
        }
    }
    tracing::info!(
        accounts = rekeyed_users,
        kid = keys.current_id(),
        "recovery codes re-keyed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> KeyRing {
        use base64::engine::general_purpose::STANDARD;
        let entries: Vec<String> = spec
            .split(',')
            .map(|id| {
                format!(
                    "{id}:{}",
                    STANDARD.encode([id.len() as u8 + id.as_bytes()[0]; 32])
                )
            })
            .collect();
        KeyRing::parse(&entries.join(",")).unwrap()
    }

    #[test]
    fn codes_are_80_bit_sealed_and_typed_loosely() {
        let keys = ring("k1");
        let (codes, stored) = new_codes(&keys, "user-a");
        assert_eq!(codes.len(), RECOVERY_CODES);
        let first = codes[0].expose_secret();
        assert_eq!(first.len(), 19, "{first}");
        assert_eq!(normalise(first).len(), CODE_CHARS);
        assert!(stored[0].starts_with("s1:k1:"));
        assert!(!stored[0].contains(&digest("user-a", &normalise(first))));
        let typed = SecretString::from(format!(" {} ", first.to_uppercase().replace('-', " ")));
        assert_eq!(find(&keys, "user-a", &stored, &typed), Some(&stored[0]));
        assert_eq!(find(&keys, "user-b", &stored, &codes[0]), None);
    }

    #[test]
    fn version_1_entries_match_and_are_sealed_by_the_sweep() {
        let keys = ring("k2,k1");
        let legacy = digest("user-a", "abcdeabcde");
        let old = ring("k1");
        let under_old = seal(&old, "user-a", &digest("user-a", "fghijfghij"));
        let now = mongodb::bson::DateTime::now();
        let user: UserDoc = mongodb::bson::from_document(mongodb::bson::doc! {
            "_id": "user-a", "email": "a@example.com", "email_verified": true,
            "password_hash": "x", "locale": "en", "created_at": now, "updated_at": now,
            "mfa": {
                "secret": { "kid": "k1", "nonce": "", "ciphertext": "" },
                "enabled_at": now, "recovery_codes": [legacy, under_old], "last_step": 0_i64,
            },
        })
        .unwrap();
        let code = SecretString::from("abcde-abcde".to_owned());
        let stored = &user.mfa.as_ref().unwrap().recovery_codes;
        assert_eq!(find(&keys, "user-a", stored, &code), Some(&stored[0]));
        let new = rekeyed(&keys, &user).unwrap();
        assert!(new.iter().all(|e| e.starts_with("s1:k2:")));
        assert!(find(&ring("k2"), "user-a", &new, &code).is_some());
        let other = SecretString::from("fghij-fghij".to_owned());
        assert!(find(&ring("k2"), "user-a", &new, &other).is_some());
    }
}
