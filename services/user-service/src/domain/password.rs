use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

use super::{Email, Invalid};

/// A candidate password that meets the policy: 15 to 1024 code points after NFKC
/// normalisation (NIST SP 800-63B: length, not composition rules; never truncated).
///
/// Held as a `SecretString` so it cannot be printed by accident.
pub struct Password(SecretString);

pub const MIN_CHARS: usize = 15;
pub const MAX_CHARS: usize = 1024;

impl Password {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let normalised: String = raw.nfkc().collect();
        let count = normalised.chars().count();
        if count < MIN_CHARS {
            return Err(Invalid::new(
                "password_too_short",
                format!("password must be at least {MIN_CHARS} characters"),
            ));
        }
        if count > MAX_CHARS {
            return Err(Invalid::new(
                "password_too_long",
                format!("password must be at most {MAX_CHARS} characters"),
            ));
        }
        Ok(Self(SecretString::from(normalised)))
    }

    /// A password given at login: normalised the same way but not held to the policy, so a
    /// policy change never locks anyone out.
    pub fn for_verification(raw: &str) -> Self {
        Self(SecretString::from(raw.nfkc().collect::<String>()))
    }

    /// Refuses a password that contains the address it protects.
    pub fn check_not_derived_from(&self, email: &Email) -> Result<(), Invalid> {
        let local = email.local_part();
        if local.chars().count() >= 3
            && self.expose().to_lowercase().contains(&local.to_lowercase())
        {
            return Err(Invalid::new(
                "password_contains_email",
                "password must not contain your email address",
            ));
        }
        Ok(())
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_in_code_points_after_nfkc() {
        assert_eq!(
            Password::parse("short").unwrap_err().code,
            "password_too_short"
        );
        // 15 multi-byte code points pass although a byte count would say 45.
        assert!(Password::parse(&"日".repeat(15)).is_ok());
        // U+FB01 (ﬁ ligature) becomes "fi" under NFKC: 8 ligatures are 16 code points.
        assert!(Password::parse(&"\u{FB01}".repeat(8)).is_ok());
        assert!(Password::parse(&"x".repeat(1024)).is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(1025)).unwrap_err().code,
            "password_too_long"
        );
    }

    #[test]
    fn never_printed() {
        let p = Password::parse("correct horse battery staple").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }

    #[test]
    fn may_not_contain_the_email() {
        let email = Email::parse("lovelace@example.com").unwrap();
        let p = Password::parse("my name is LOVELACE and I approve").unwrap();
        assert!(p.check_not_derived_from(&email).is_err());
        let p = Password::parse("an entirely unrelated phrase").unwrap();
        assert!(p.check_not_derived_from(&email).is_ok());
    }
}
