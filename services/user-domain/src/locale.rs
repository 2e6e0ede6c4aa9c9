use crate::invalid::Invalid;

/// A BCP 47 language tag in its common shape (`en`, `de-AT`, `zh-Hant-TW`), canonical case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let invalid = || {
            Invalid::new(
                "invalid_locale",
                "locale must be a language tag such as en or de-AT",
            )
        };
        let mut parts = raw.trim().split(['-', '_']);
        let language = parts
            .next()
            .filter(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
        let mut out = language.ok_or_else(invalid)?.to_ascii_lowercase();
        for part in parts {
            if part.is_empty() || part.len() > 8 || !part.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(invalid());
            }
            out.push('-');
            match part.len() {
                2 => out.push_str(&part.to_ascii_uppercase()),
                4 => {
                    let (first, rest) = part.split_at(1);
                    out.push_str(&first.to_ascii_uppercase());
                    out.push_str(&rest.to_ascii_lowercase());
                }
                _ => out.push_str(&part.to_ascii_lowercase()),
            }
        }
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalises() {
        assert_eq!(Locale::parse("de_at").unwrap().as_str(), "de-AT");
        assert_eq!(Locale::parse("zh-hant-tw").unwrap().as_str(), "zh-Hant-TW");
        assert!(Locale::parse("english!").is_err());
        assert!(Locale::parse("").is_err());
    }
}
