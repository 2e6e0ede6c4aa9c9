//! Encryption at rest of the TOTP secrets: AES-256-GCM under keys from configuration
//! (`MFA_ENCRYPTION_KEYS`), each with an id stored next to the ciphertext so keys can be
//! rotated: the first key encrypts, every listed key decrypts, and a secret found under an
//! older key is re-encrypted with the current one when it is next used.

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

/// A secret as stored: the id of the key that sealed it, a random 96-bit nonce and the
/// ciphertext with its tag (base64). The owner's id is authenticated data: a ciphertext copied
/// into another account does not open there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub kid: String,
    pub nonce: String,
    pub ciphertext: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("no configured key has id {0:?}")]
    UnknownKey(String),
    #[error(
        "the sealed secret does not open (wrong key, tampered with, or bound to another owner)"
    )]
    Corrupt,
}

/// The configured keys; the first is the current one. `Debug` shows the ids only.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<(String, SecretSlice<u8>)>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("KeyRing").field("ids", &ids).finish()
    }
}

impl KeyRing {
    /// Parses `id:base64key,id:base64key,...` (32-byte keys, standard base64; ids of letters,
    /// digits, `-` and `_`, at most 32, unique). The problem never quotes a key.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut keys: Vec<(String, SecretSlice<u8>)> = Vec::new();
        for (i, entry) in raw.split(',').map(str::trim).enumerate() {
            let position = i + 1;
            let (id, key) = entry
                .split_once(':')
                .ok_or(format!("entry {position} is not KEY_ID:BASE64_KEY"))?;
            let id = id.trim();
            if id.is_empty()
                || id.len() > 32
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "entry {position}: the key id must be 1 to 32 letters, digits, - or _"
                ));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err(format!("key id {id} is listed twice"));
            }
            let bytes = STANDARD
                .decode(key.trim())
                .map_err(|_| format!("key {id} is not valid base64"))?;
            if bytes.len() != 32 {
                return Err(format!(
                    "key {id} must be 32 bytes (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)"
                ));
            }
            keys.push((id.to_owned(), bytes.into()));
        }
        Ok(Self { keys })
    }

    /// The id of the key new secrets are sealed with.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    fn cipher(&self, kid: &str) -> Result<Aes256Gcm, SealError> {
        let (_, key) = self
            .keys
            .iter()
            .find(|(id, _)| id == kid)
            .ok_or_else(|| SealError::UnknownKey(kid.to_owned()))?;
        Ok(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(
            key.expose_secret(),
        )))
    }

    /// Seals `secret` for `owner` with the current key.
    pub fn seal(&self, secret: &SecretSlice<u8>, owner: &str) -> Sealed {
        let kid = self.current_id();
        let cipher = self.cipher(kid).expect("the current key is in the ring");
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.expose_secret(),
            aad: owner.as_bytes(),
        };
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("AES-GCM encrypts any message of this size");
        Sealed {
            kid: kid.to_owned(),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        }
    }

    /// Opens a secret sealed for `owner` with any key of the ring.
    pub fn open(&self, sealed: &Sealed, owner: &str) -> Result<SecretSlice<u8>, SealError> {
        let cipher = self.cipher(&sealed.kid)?;
        let nonce = STANDARD
            .decode(&sealed.nonce)
            .ok()
            .filter(|n| n.len() == 12)
            .ok_or(SealError::Corrupt)?;
        let ciphertext = STANDARD
            .decode(&sealed.ciphertext)
            .map_err(|_| SealError::Corrupt)?;
        let payload = Payload {
            msg: &ciphertext,
            aad: owner.as_bytes(),
        };
        cipher
            .decrypt(Nonce::from_slice(&nonce), payload)
            .map(SecretSlice::from)
            .map_err(|_| SealError::Corrupt)
    }

    /// Whether `sealed` is under an older key and should be sealed again.
    pub fn is_stale(&self, sealed: &Sealed) -> bool {
        sealed.kid != self.current_id()
    }
}

impl std::str::FromStr for KeyRing {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    #[test]
    fn rotation_keeps_old_secrets_readable() {
        let old = KeyRing::parse(&format!("k1:{}", key(1))).unwrap();
        let secret: SecretSlice<u8> = b"12345678901234567890".to_vec().into();
        let sealed = old.seal(&secret, "user-a");
        assert_eq!(sealed.kid, "k1");
        assert!(!sealed.ciphertext.contains("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"));
        let rotated = KeyRing::parse(&format!("k2:{}, k1:{}", key(2), key(1))).unwrap();
        assert!(rotated.is_stale(&sealed));
        let opened = rotated.open(&sealed, "user-a").unwrap();
        assert_eq!(opened.expose_secret(), secret.expose_secret());
        assert_eq!(rotated.seal(&opened, "user-a").kid, "k2");
        // Bound to its owner, and to a key the ring holds.
        assert!(matches!(
            rotated.open(&sealed, "user-b"),
            Err(SealError::Corrupt)
        ));
        let new_only = KeyRing::parse(&format!("k2:{}", key(2))).unwrap();
        assert!(matches!(
            new_only.open(&sealed, "user-a"),
            Err(SealError::UnknownKey(_))
        ));
    }

    #[test]
    fn refuses_bad_configuration_without_quoting_keys() {
        for bad in [
            "",
            "k1",
            &format!("k1:{}", STANDARD.encode([1u8; 16])),
            "k1:not base64!",
            &format!("k1:{},k1:{}", key(1), key(2)),
            &format!("bad id:{}", key(1)),
        ] {
            let err = KeyRing::parse(bad).unwrap_err();
            assert!(!err.contains(&key(1)), "{err}");
        }
        let ring = KeyRing::parse(&format!("k1:{}", key(7))).unwrap();
        assert!(!format!("{ring:?}").contains(&key(7)));
    }
}
