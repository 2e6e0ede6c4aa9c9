//! The optional breached-password check against a Pwned Passwords style range API
//! (k-anonymity: only the first five hex digits of the password's SHA-1 leave the process; the
//! server answers with every suffix under that prefix and the password is matched locally).
//!
//! Off unless `PWNED_PASSWORDS_URL` is set. It fails open: when the service cannot be asked in
//! time the password is accepted and a warning logged, because an outage of a third party must
//! not stop people from signing up or changing passwords.

use std::time::Duration;

use prometheus::IntCounterVec;
use sha1::{Digest, Sha1};

use crate::domain::Password;

#[derive(Clone)]
pub struct PwnedPasswords {
    inner: Option<Inner>,
    checks: IntCounterVec,
}

#[derive(Clone)]
struct Inner {
    client: reqwest::Client,
    base: String,
}

/// What the range API said about one password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// Seen in breaches this many times.
    Found(u64),
    NotFound,
    /// Not checked: the feature is off, or the API failed (logged).
    Unknown,
}

impl PwnedPasswords {
    /// `base` is the API root, e.g. `https://api.pwnedpasswords.com`; `None` turns the check off.
    pub fn new(base: Option<String>, timeout: Duration, checks: IntCounterVec) -> Self {
        let inner = base.map(|base| Inner {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .user_agent(concat!("user-platform/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("a TLS client builds with rustls"),
            base: base.trim_end_matches('/').to_owned(),
        });
        Self { inner, checks }
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    #[tracing::instrument(name = "pwned.check", skip_all)]
    pub async fn check(&self, password: &Password) -> Breach {
        let Some(inner) = &self.inner else {
            return Breach::Unknown;
        };
        let digest = hex::encode_upper(Sha1::digest(password.expose().as_bytes()));
        let (prefix, suffix) = digest.split_at(5);
        let result = async {
            let response = inner
                .client
                .get(format!("{}/range/{prefix}", inner.base))
                // Padding makes every answer about the same size, hiding the prefix's popularity
                // from anyone watching the traffic.
                .header("Add-Padding", "true")
                .send()
                .await?
                .error_for_status()?;
            response.text().await
        }
        .await;
        let outcome = match result {
            Ok(body) => match find_suffix(&body, suffix) {
                Some(count) if count > 0 => Breach::Found(count),
                _ => Breach::NotFound,
            },
            Err(e) => {
                tracing::warn!(error = %e, "breached-password check failed; password accepted");
                Breach::Unknown
            }
        };
        let label = match outcome {
            Breach::Found(_) => "breached",
            Breach::NotFound => "clean",
            Breach::Unknown => "error",
        };
        self.checks.with_label_values(&[label]).inc();
        outcome
    }
}

/// The count for `suffix` in a range response (`SUFFIX:COUNT` lines; padding lines have 0).
fn find_suffix(body: &str, suffix: &str) -> Option<u64> {
    body.lines().find_map(|line| {
        let (s, count) = line.trim().split_once(':')?;
        s.eq_ignore_ascii_case(suffix)
            .then(|| count.trim().parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_suffix_and_ignores_padding() {
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n\
                    00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2\r\n\
                    011053FD0102E94D6AE2F8B83D76FAF94F6:0\r\n";
        assert_eq!(
            find_suffix(body, "00d4f6e8fa6eecad2a3aa415eec418d38ec"),
            Some(2)
        );
        assert_eq!(
            find_suffix(body, "011053FD0102E94D6AE2F8B83D76FAF94F6"),
            Some(0)
        );
        assert_eq!(find_suffix(body, "FFFFF"), None);
    }
}
