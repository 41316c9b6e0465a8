//! Email addresses, parsed once: trimmed and lower-cased, so uniqueness and login are case-insensitive
//! (`Ann@Example.com` and `ann@example.com` are one account). Only the common dot-atom form is accepted:
//! quoted local parts and IP-literal domains are legal in RFC 5321 but unused by real sign-ups and a classic
//! source of parser confusion.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("email {0}")]
pub struct InvalidEmail(&'static str);

/// RFC 5321's limits: 254 characters in all (a path of 256 minus the angle brackets), 64 before the `@`.
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;
/// Characters that need quoting in an address, never accepted here.
const SPECIALS: &str = "\"(),:;<>[]\\";

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() || email.len() > MAX_LEN {
            return Err(InvalidEmail("must be 1 to 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control() || SPECIALS.contains(c)) {
            return Err(InvalidEmail("contains a character that is not allowed"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(InvalidEmail("must contain @"));
        };
        if domain.contains('@') {
            return Err(InvalidEmail("must contain exactly one @"));
        }
        if local.is_empty() || local.len() > MAX_LOCAL_LEN || !dot_atom(local) {
            return Err(InvalidEmail("has an invalid part before the @"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let valid_label = |l: &&str| {
            !l.is_empty()
                && l.len() <= MAX_LABEL_LEN
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(valid_label) {
            return Err(InvalidEmail("has an invalid domain"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@` (for the password policy's context words).
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

/// Dots separate non-empty atoms: no leading, trailing or doubled dot.
fn dot_atom(part: &str) -> bool {
    part.split('.').all(|atom| !atom.is_empty())
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
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Ann.Lee+news@Example.COM ").unwrap().as_str(), "ann.lee+news@example.com");
    }

    #[test]
    fn emails_differing_only_in_case_are_equal() {
        assert_eq!(Email::parse("ANN@EXAMPLE.COM").unwrap(), Email::parse("ann@example.com").unwrap());
    }

    #[test]
    fn common_valid_forms_are_accepted() {
        for ok in ["a@b.co", "first.last@sub.example.org", "x_y-z@my-domain.io", "ünïcode@exämple.de"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_emails_are_rejected() {
        let too_long = format!("{}@example.com", "a".repeat(250));
        let long_local = format!("{}@example.com", "a".repeat(65));
        let bad = [
            "",
            "   ",
            "plainaddress",
            "@example.com",
            "ann@",
            "ann@localhost",
            "ann@@example.com",
            "a@b@example.com",
            "ann lee@example.com",
            "ann@exa mple.com",
            ".ann@example.com",
            "ann.@example.com",
            "an..n@example.com",
            "ann@example..com",
            "ann@-example.com",
            "ann@example-.com",
            "\"ann\"@example.com",
            "ann@[127.0.0.1]",
            "ann\u{0}@example.com",
            too_long.as_str(),
            long_local.as_str(),
        ];
        for raw in bad {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn the_local_part_is_what_precedes_the_at() {
        assert_eq!(Email::parse("ann@example.com").unwrap().local_part(), "ann");
    }
}
