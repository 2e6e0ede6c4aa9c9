use crate::invalid::Invalid;

/// A name shown to people (and put into emails): at most 100 characters as sent, trimmed, not
/// blank, with no
/// control characters and nothing invisible: no Unicode format characters (bidi overrides and
/// isolates, zero-width characters, tags), no line or paragraph separators, no filler
/// characters that render as blanks. Those let a name hide or reorder text in an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let invalid = |why: &str| Invalid::new("invalid_display_name", why.to_owned());
        // Counted as sent, surrounding whitespace included, so that the schema's `maxLength`
        // states the rule exactly.
        if raw.chars().count() > 100 {
            return Err(invalid("display_name must be at most 100 characters"));
        }
        let name = raw.trim();
        if name.is_empty() {
            return Err(invalid("display_name must not be blank"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("display_name must not contain control characters"));
        }
        if name.chars().any(is_invisible) {
            return Err(Invalid::new(
                "display_name_invisible_character",
                "display_name must not contain invisible or text-direction characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Unicode format characters (general category Cf), line and paragraph separators (Zl, Zp),
/// other whitespace than the plain space, and characters that render as nothing. The zero-width
/// (non-)joiners U+200C/U+200D stay allowed: Persian and Indic names and emoji sequences need
/// them, and they cannot reorder text.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}' | '\u{200E}' | '\u{200F}'
        | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{0600}'..='\u{0605}'
        | '\u{06DD}' | '\u{070F}' | '\u{0890}' | '\u{0891}' | '\u{08E2}' | '\u{110BD}'
        | '\u{110CD}' | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
        || (c.is_whitespace() && c != ' ')
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
        assert!(DisplayName::parse(&format!(" {} ", "x".repeat(99))).is_err());
    }

    #[test]
    fn refuses_invisible_and_direction_characters() {
        for bad in [
            "evil\u{202E}gnp.exe",
            "a\u{2066}b\u{2069}",
            "zero\u{200B}width",
            "mark\u{200F}",
            "line\u{2028}break",
            "para\u{2029}graph",
            "bom\u{FEFF}",
            "tag\u{E0041}",
            "filler\u{3164}",
            "no\u{00A0}break",
        ] {
            let err = DisplayName::parse(bad).unwrap_err();
            assert_eq!(err.code, "display_name_invisible_character", "{bad:?}");
        }
        for good in [
            "Ada Lovelace",
            "José Ñúñez",
            "李小龍",
            "Zoë 👩\u{200D}💻",
            "مهر\u{200C}داد",
            "❤\u{FE0F}",
        ] {
            assert!(DisplayName::parse(good).is_ok(), "{good:?}");
        }
    }
}
