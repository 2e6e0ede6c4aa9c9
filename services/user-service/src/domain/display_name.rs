use super::Invalid;

/// A name shown to people: 1 to 100 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        let invalid = |why: &str| Invalid::new("invalid_display_name", why.to_owned());
        if name.is_empty() {
            return Err(invalid("display_name must not be blank"));
        }
        if name.chars().count() > 100 {
            return Err(invalid("display_name must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("display_name must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(DisplayName::parse("  Ada ").unwrap().into_inner(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("a\u{0007}b").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
    }
}
