use std::fmt;

use unicode_normalization::UnicodeNormalization;

use crate::invalid::Invalid;

/// A syntactically valid, normalised email address.
///
/// Normalisation: surrounding whitespace trimmed, the local part in Unicode NFC (so a composed
/// and a decomposed "ö" are one address), the domain converted to its ASCII (IDNA) form, and
/// the whole address lower-cased. Lengths count octets of UTF-8, as SMTP does (RFC 5321:
/// local part 64, address 254). Mailbox providers treat local parts
/// case-insensitively in practice, and two accounts differing only in case are a support
/// nightmare and an impersonation risk; the unique index sits on this form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let invalid = |why: &str| Invalid::new("invalid_email", why.to_owned());
        // As sent, in characters (the schema's `maxLength`); the normalised form is then held
        // to 254 octets.
        if raw.chars().count() > MAX_LEN {
            return Err(invalid("email must be at most 254 characters"));
        }
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(invalid("email must not be empty"));
        }
        let (local, domain) = raw
            .rsplit_once('@')
            .ok_or_else(|| invalid("email must contain '@'"))?;
        let local: String = local.to_lowercase().nfc().collect();
        let local = local.as_str();
        if local.is_empty() || local.len() > MAX_LOCAL_LEN {
            return Err(invalid("the part before '@' must be 1 to 64 octets"));
        }
        if local.contains('@') {
            return Err(invalid("email must contain exactly one '@'"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(invalid("the part before '@' has misplaced dots"));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "()<>,;:\\\"[]".contains(c))
        {
            return Err(invalid(
                "the part before '@' contains a forbidden character",
            ));
        }
        let domain = idna::domain_to_ascii(domain)
            .map_err(|_| invalid("the domain is not a valid host name"))?;
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        {
            return Err(invalid("the domain is not a valid host name"));
        }
        let email = format!("{local}@{domain}");
        if email.len() > MAX_LEN {
            return Err(invalid("email must be at most 254 bytes"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before '@', for the "password contains your email" rule.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(l, _)| l)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(
            Email::parse("  Ada.Lovelace@Example.COM ")
                .unwrap()
                .as_str(),
            "ada.lovelace@example.com"
        );
        assert_eq!(
            Email::parse("jörg@bücher.de").unwrap().as_str(),
            "jörg@xn--bcher-kva.de"
        );
        assert_eq!(Email::parse("a+tag@x.io").unwrap().local_part(), "a+tag");
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@@example.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-x.com",
            "a@exa mple.com",
            "a<b>@example.com",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.code, "invalid_email", "{bad:?}");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(190));
        assert!(Email::parse(&long).is_err());
        // 33 two-octet characters: 33 code points, 66 octets.
        assert!(Email::parse(&format!("{}@example.com", "é".repeat(33))).is_err());
        assert!(Email::parse(&format!("{}@example.com", "é".repeat(32))).is_ok());
    }

    #[test]
    fn one_address_whatever_the_unicode_form() {
        let composed = Email::parse("J\u{00F6}rg@example.com").unwrap();
        let decomposed = Email::parse("Jo\u{0308}rg@example.com").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(composed.as_str(), "j\u{00F6}rg@example.com");
    }
}
