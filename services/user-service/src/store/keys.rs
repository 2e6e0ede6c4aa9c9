//! The user service's Redis key layout (the table in docs/redis.md). Every script and
//! transaction touches keys of one Cluster slot:
//!
//! - a user's sessions, session index and stamp share the hash tag `{u:<routing tag>}`, where
//!   the routing tag is derived from the user id and also starts every session token
//!   ([`crate::crypto::new_session_token`]), so the session key follows from the token alone;
//! - a key used together with another single key (a challenge's attempt counter) carries that
//!   key's whole name as its hash tag, which puts it in the same slot while the first key keeps
//!   its name;
//! - every other key is used alone.

use std::sync::Arc;

/// Builds the keys under one `REDIS_KEY_PREFIX` (which holds no braces: checked at start-up).
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: Arc<str>,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// `<prefix><kind>:<id>`: a key used on its own.
    pub fn plain(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// `<prefix><kind>:{<key>}`: a key in the same slot as `key` (a key without braces
    /// hashes whole, which is what the tag `{<key>}` hashes).
    pub fn beside(&self, key: &str, kind: &str) -> String {
        format!("{}{kind}:{{{key}}}", self.prefix)
    }

    /// `<prefix>{u:<tag>}:<kind>:<id>`: one of a user's keys, in the user's slot.
    pub fn user(&self, tag: &str, kind: &str, id: &str) -> String {
        format!("{}{{u:{tag}}}:{kind}:{id}", self.prefix)
    }

    /// `<prefix>{u:`: what every user's key starts with (the session copies follow changes
    /// under it).
    pub fn users_prefix(&self) -> String {
        format!("{}{{u:", self.prefix)
    }

    /// The prefix of a user's stamp keys (the session check appends the user id).
    pub fn stamp_prefix(&self, tag: &str) -> String {
        self.user(tag, "stamp", "")
    }
}

/// A session's stored digest: `<routing tag>.<SHA-256 of the token, hex>`.
pub fn split_session_digest(digest: &str) -> Option<(&str, &str)> {
    digest
        .split_once('.')
        .filter(|(tag, hex)| tag.len() == crate::crypto::ROUTING_TAG_LEN && hex.len() == 64)
}

/// The key of a session, from its token alone (operators' tools and tests).
pub fn session_key(prefix: &str, token: &str) -> String {
    let digest = crate::crypto::session_digest(token);
    let (tag, hex) = split_session_digest(&digest).unwrap_or(("", ""));
    Keys::new(prefix).user(tag, "session", hex)
}

/// The key of a user's stamp (operators' tools and tests).
pub fn stamp_key(prefix: &str, user_id: &str) -> String {
    Keys::new(prefix).user(&crate::crypto::routing_tag(user_id), "stamp", user_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC16 (XMODEM) of the hash tag, as Redis Cluster computes a key's slot.
    fn slot(key: &str) -> u16 {
        let hashed = match key.find('{') {
            Some(open) => match key[open + 1..].find('}') {
                Some(len) if len > 0 => &key[open + 1..open + 1 + len],
                _ => key,
            },
            None => key,
        };
        let mut crc: u16 = 0;
        for byte in hashed.bytes() {
            crc ^= u16::from(byte) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc % 16384
    }

    #[test]
    fn keys_used_together_share_a_slot() {
        let keys = Keys::new("up:");
        let user = "0190f2c4-7d2e-7c1a-9b1e-3f1a2b3c4d5e";
        let token = crate::crypto::new_session_token(user);
        let session = session_key("up:", &token);
        assert_eq!(slot(&session), slot(&stamp_key("up:", user)));
        let tag = crate::crypto::routing_tag(user);
        assert_eq!(
            slot(&session),
            slot(&keys.user(&tag, "user-sessions", user))
        );
        assert!(session.starts_with(&keys.stamp_prefix(&tag)[..9]));
        let challenge = keys.plain("mfa-challenge", "abc");
        assert_eq!(
            slot(&challenge),
            slot(&keys.beside(&challenge, "mfa-challenge-attempts"))
        );
        // The reference values of the Redis Cluster specification.
        assert_eq!(slot("123456789"), 12739);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
    }
}
