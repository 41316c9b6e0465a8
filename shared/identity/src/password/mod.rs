//! The password policy (OWASP ASVS 5.0 V6.2): at least 8 characters, no composition rules, any Unicode
//! allowed (spaces included, nothing trimmed), common and context-specific passwords refused.
//!
//! bcrypt reads only the first 72 bytes of its input. Rather than truncate silently (two passwords sharing a
//! 72-byte prefix would be one), or pre-hash (which brings its own pitfalls), a longer password is refused
//! with a clear message. 72 bytes is 72 ASCII characters; multi-byte characters count by their UTF-8 bytes.

mod hasher;

use std::collections::HashSet;
use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};

pub use hasher::{MIN_PRODUCTION_COST, PasswordHasher};

use crate::Email;

pub const MIN_CHARS: usize = 8;
/// bcrypt's input limit.
pub const MAX_BYTES: usize = 72;

/// Well-known passwords of 8 or more characters (shorter ones fail the length rule anyway), one per line,
/// compared case-insensitively.
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common.txt").lines().map(str::trim).filter(|l| !l.is_empty()).collect());

/// Words a password of this service must not be: they are the first guesses of a targeted attack.
const CONTEXT_WORDS: [&str; 2] = ["pyairtable", "airtable"];

/// A password that passed the policy. Never printed: `Debug` shows `[REDACTED]`.
#[derive(Debug)]
pub struct Password(SecretString);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordProblem {
    #[error("password must be at least {MIN_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_BYTES} bytes (bcrypt ignores anything longer)")]
    TooLong,
    #[error("password is too common; choose another")]
    Common,
    #[error("password must not be your email address or this service's name")]
    Contextual,
}

impl Password {
    /// Checks `raw` against the policy; `email` supplies the context words.
    pub fn parse(raw: SecretString, email: Option<&Email>) -> Result<Self, PasswordProblem> {
        let text = raw.expose_secret();
        if text.chars().count() < MIN_CHARS {
            return Err(PasswordProblem::TooShort);
        }
        if text.len() > MAX_BYTES {
            return Err(PasswordProblem::TooLong);
        }
        let folded = text.to_lowercase();
        if COMMON.contains(folded.as_str()) {
            return Err(PasswordProblem::Common);
        }
        let personal = email.into_iter().flat_map(|e| [e.as_str(), e.local_part()]);
        if CONTEXT_WORDS.iter().copied().chain(personal).any(|word| folded == word) {
            return Err(PasswordProblem::Contextual);
        }
        Ok(Self(raw))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn parse(raw: &str) -> Result<Password, PasswordProblem> {
        Password::parse(SecretString::from(raw), Email::parse("ann.lee@example.com").ok().as_ref())
    }

    #[test]
    fn a_long_enough_uncommon_password_passes() {
        assert!(parse("correct horse battery staple").is_ok());
        assert!(parse("  spaces count  ").is_ok());
        assert!(parse("ünïcødé✓✓").is_ok());
    }

    #[test]
    fn fewer_than_eight_characters_is_too_short() {
        assert_eq!(parse("Ab1!xyz").err(), Some(PasswordProblem::TooShort));
        // Characters, not bytes: seven two-byte characters are still seven.
        assert_eq!(parse("ééééééé").err(), Some(PasswordProblem::TooShort));
    }

    #[test]
    fn seventy_two_bytes_pass_and_seventy_three_are_refused_not_truncated() {
        assert!(parse(&"x7".repeat(36)).is_ok());
        assert_eq!(parse(&format!("{}y", "x7".repeat(36))).err(), Some(PasswordProblem::TooLong));
        // 37 three-byte characters: 37 characters but 111 bytes.
        assert_eq!(parse(&"€".repeat(37)).err(), Some(PasswordProblem::TooLong));
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for common in ["password", "PASSWORD1", "12345678", "qwertyuiop", "iloveyou", "Password123"] {
            assert_eq!(parse(common).err(), Some(PasswordProblem::Common), "{common}");
        }
    }

    #[test]
    fn the_email_or_service_name_is_refused() {
        assert_eq!(parse("ann.lee@example.com").err(), Some(PasswordProblem::Contextual));
        assert_eq!(parse("Ann.Lee@Example.com").err(), Some(PasswordProblem::Contextual));
        assert_eq!(parse("PyAirtable").err(), Some(PasswordProblem::Contextual));
    }

    #[test]
    fn the_common_list_is_loaded_and_lower_case() {
        assert!(COMMON.len() > 200);
        assert!(COMMON.iter().all(|p| p.chars().count() >= MIN_CHARS && *p == p.to_lowercase()));
    }
}
