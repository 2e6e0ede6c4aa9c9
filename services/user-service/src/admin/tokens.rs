//! The bearer tokens of the admin API (`ADMIN_API_TOKENS`): each has a name, which is the
//! actor of every action done with it. Only SHA-256 digests are kept, and a presented token is
//! compared with every configured digest in constant time, so neither the comparison's timing
//! nor a memory dump gives a token away. Several tokens at once allow rotation.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Shortest accepted token: 32 characters of a random string carry well over 128 bits.
pub const MIN_TOKEN_CHARS: usize = 32;

/// Least estimated entropy of a token, in bits (see [`estimated_bits`]). A random token of 32
/// hex digits scores well above it; one character repeated, a short word or a counting run
/// repeated to length score below.
pub const MIN_TOKEN_BITS: f64 = 64.0;

/// A deliberately pessimistic entropy estimate that needs no model of how the token was made:
/// the Shannon entropy of its character frequencies, counted once per *distinct* pair of
/// neighbouring characters (plus one), so a repeated segment adds nothing. `"a" × 32` scores 0,
/// `"password" × 4` 25, `"0123456789abcdef" × 2` 68 is the weakest pattern that passes; 32
/// random hex digits score 74 to 125, `openssl rand -base64 33` well over 150.
pub fn estimated_bits(token: &str) -> f64 {
    let chars: Vec<char> = token.chars().collect();
    let n = chars.len() as f64;
    let mut counts = std::collections::HashMap::new();
    for c in &chars {
        *counts.entry(*c).or_insert(0u32) += 1;
    }
    let per_char: f64 = counts
        .values()
        .map(|&k| {
            let p = f64::from(k) / n;
            -p * p.log2()
        })
        .sum();
    let pairs: std::collections::HashSet<(char, char)> =
        chars.windows(2).map(|w| (w[0], w[1])).collect();
    per_char * (pairs.len() + 1) as f64
}

#[derive(Clone)]
struct AdminToken {
    name: String,
    digest: [u8; 32],
}

/// The configured tokens. `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct AdminTokens(Vec<AdminToken>);

impl fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|t| &t.name))
            .finish()
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

impl AdminTokens {
    /// Parses `name:token,name2:token2`. Errors never quote a token.
    pub fn parse(value: &SecretString) -> Result<Self, String> {
        let mut tokens: Vec<AdminToken> = Vec::new();
        for (i, entry) in value.expose_secret().split(',').enumerate() {
            let entry = entry.trim();
            let position = i + 1;
            let Some((name, token)) = entry.split_once(':') else {
                return Err(format!("entry {position} is not `name:token`"));
            };
            let name = name.trim();
            if !valid_name(name) {
                return Err(format!(
                    "entry {position}: the name must be 1 to 64 of A-Z a-z 0-9 - _ . @"
                ));
            }
            if token.chars().count() < MIN_TOKEN_CHARS || token.trim() != token {
                return Err(format!(
                    "token `{name}` must be at least {MIN_TOKEN_CHARS} characters, without \
                     surrounding spaces"
                ));
            }
            if estimated_bits(token) < MIN_TOKEN_BITS {
                return Err(format!(
                    "token `{name}` is not random enough (repeated characters or patterns); \
                     generate one, e.g. `openssl rand -base64 33`"
                ));
            }
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            if tokens.iter().any(|t| t.name == name) {
                return Err(format!("the name `{name}` is used twice"));
            }
            if tokens.iter().any(|t| t.digest == digest) {
                return Err(format!("token `{name}` is the same as another one"));
            }
            tokens.push(AdminToken {
                name: name.to_owned(),
                digest,
            });
        }
        Ok(Self(tokens))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name of the token presented, if it is one of ours. Every configured digest is
    /// compared, each in constant time.
    pub fn authenticate(&self, presented: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for token in &self.0 {
            if constant_time_eq(&token.digest, &digest) {
                found = Some(token.name.as_str());
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "yN3r0Vq8KfJ2wLp7ZbT5xH1cUe9GdMs4";
    const B: &str = "Qm6tRz2Lk9VhX4pWc7JnF1sYb8DgAe3u";

    fn parse(value: &str) -> Result<AdminTokens, String> {
        AdminTokens::parse(&SecretString::from(value))
    }

    #[test]
    fn names_the_token_presented() {
        let tokens = parse(&format!("ops:{A}, ci-bot:{B}")).unwrap();
        assert_eq!(tokens.authenticate(A), Some("ops"));
        assert_eq!(tokens.authenticate(B), Some("ci-bot"));
        assert_eq!(tokens.authenticate("aaaa"), None);
        assert_eq!(format!("{tokens:?}"), r#"["ops", "ci-bot"]"#);
    }

    #[test]
    fn refuses_bad_entries_without_quoting_tokens() {
        for (value, expected) in [
            ("ops".to_owned(), "not `name:token`"),
            ("ops:short".to_owned(), "at least 32"),
            (format!(":{A}"), "name must be"),
            (format!("ops:{}", "a".repeat(32)), "not random enough"),
            (format!("ops:{}", "password".repeat(4)), "not random enough"),
            (format!("ops:{A},ops:{B}"), "used twice"),
            (format!("ops:{A},dev:{A}"), "same as another"),
        ] {
            let err = parse(&value).unwrap_err();
            assert!(err.contains(expected), "{value}: {err}");
            assert!(
                !err.contains(A) && !err.contains("short") && !err.contains("aaaa"),
                "{err}"
            );
        }
    }
}
