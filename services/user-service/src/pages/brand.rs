//! Branding of the pages: product name, logo, support link and two colours, checked for
//! contrast at start-up (WCAG 2.2 AA, 4.5:1 for text) so a brand cannot make the pages
//! unreadable.

use std::fmt;
use std::str::FromStr;

use url::Url;

/// The smallest contrast ratio text gets (WCAG 2.2 success criterion 1.4.3).
pub const MIN_CONTRAST: f64 = 4.5;

/// An sRGB colour, `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour([u8; 3]);

impl Colour {
    /// A blue with 6.7:1 against white.
    pub const DEFAULT_PRIMARY: Colour = Colour([0x1d, 0x4e, 0xd8]);
    pub const DEFAULT_BACKGROUND: Colour = Colour([0xff, 0xff, 0xff]);
    pub const WHITE: Colour = Colour([0xff, 0xff, 0xff]);
    /// The body text colour.
    pub const TEXT: Colour = Colour([0x1f, 0x29, 0x37]);

    /// Relative luminance (WCAG 2.2).
    fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0.map(channel);
        0.2126 * r + 0.7152 * g + 0.0722 * b
    }

    /// The contrast ratio of two colours, from 1 to 21.
    pub fn contrast(self, other: Colour) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }
}

impl FromStr for Colour {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let hex = raw
            .trim()
            .strip_prefix('#')
            .filter(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| format!("`{raw}` must be a colour as #rrggbb"))?;
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("checked hex");
        Ok(Colour([byte(0), byte(2), byte(4)]))
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

#[derive(Debug, Clone)]
pub struct Brand {
    pub product_name: String,
    /// An https URL (or a path on the pages' origin) of the logo image.
    pub logo_url: Option<String>,
    /// Where the pages send people who need help (https or mailto).
    pub support_url: Option<String>,
    /// Buttons and links.
    pub primary: Colour,
    pub background: Colour,
}

impl Brand {
    /// The variable and the problem, for the configuration's error list.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let name = self.product_name.trim();
        if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err((
                "PAGES_PRODUCT_NAME",
                "must be 1 to 60 printable characters".into(),
            ));
        }
        if let Some(logo) = &self.logo_url
            && !(logo.starts_with("https://") && Url::parse(logo).is_ok()
                || logo.starts_with('/') && !logo.starts_with("//"))
        {
            return Err((
                "PAGES_LOGO_URL",
                "must be an https URL or a path starting with /".into(),
            ));
        }
        if let Some(support) = &self.support_url
            && !((support.starts_with("https://") || support.starts_with("mailto:"))
                && Url::parse(support).is_ok())
        {
            return Err((
                "PAGES_SUPPORT_URL",
                "must be an https: or mailto: URL".into(),
            ));
        }
        for (name, a, b) in [
            ("PAGES_PRIMARY_COLOR", self.primary, Colour::WHITE),
            ("PAGES_PRIMARY_COLOR", self.primary, self.background),
            ("PAGES_BACKGROUND_COLOR", Colour::TEXT, self.background),
        ] {
            let ratio = a.contrast(b);
            if ratio < MIN_CONTRAST {
                return Err((
                    name,
                    format!(
                        "{a} on {b} has a contrast of {ratio:.1}:1, below the {MIN_CONTRAST}:1 text needs (WCAG AA)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The origin of an absolute logo URL, for the pages' `img-src`.
    pub fn logo_origin(&self) -> Option<String> {
        let url = Url::parse(self.logo_url.as_deref()?).ok()?;
        Some(url.origin().ascii_serialization())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_follows_wcag() {
        let black: Colour = "#000000".parse().unwrap();
        assert!((black.contrast(Colour::WHITE) - 21.0).abs() < 1e-9);
        assert!(Colour::DEFAULT_PRIMARY.contrast(Colour::WHITE) > 6.0);
        assert_eq!(Colour::DEFAULT_PRIMARY.to_string(), "#1d4ed8");
        assert!("1d4ed8".parse::<Colour>().is_err());
    }

    #[test]
    fn a_pale_brand_colour_is_refused() {
        let brand = Brand {
            product_name: "Acme".into(),
            logo_url: None,
            support_url: None,
            primary: "#ffcc00".parse().unwrap(),
            background: Colour::WHITE,
        };
        let (name, problem) = brand.check().unwrap_err();
        assert_eq!(name, "PAGES_PRIMARY_COLOR");
        assert!(problem.contains("contrast"), "{problem}");
    }
}
