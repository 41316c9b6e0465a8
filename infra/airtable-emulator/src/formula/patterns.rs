//! `REGEX_MATCH`, `REGEX_EXTRACT`, `REGEX_REPLACE`. Airtable uses RE2 syntax; the `regex` crate speaks
//! nearly the same dialect and, like RE2, matches in linear time (no catastrophic backtracking). Compiled
//! programs are size-limited, and each formula keeps the few patterns it compiled, so a pattern is compiled
//! once per request rather than once per record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use regex::{Regex, RegexBuilder};

use super::eval::{Out, Val, fits, text_out};

/// The largest compiled program (and lazy DFA) one pattern may use.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Distinct patterns one formula keeps compiled; any more are compiled on every use.
const MAX_CACHED: usize = 32;

#[derive(Debug, Default)]
pub struct Regexes {
    compiled: Mutex<HashMap<String, Result<Arc<Regex>, String>>>,
}

impl Regexes {
    fn get(&self, pattern: &str) -> Result<Arc<Regex>, String> {
        let mut compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = compiled.get(pattern) {
            return found.clone();
        }
        let built = RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(Arc::new)
            .map_err(|e| format!("invalid regular expression: {e}"));
        if compiled.len() < MAX_CACHED {
            compiled.insert(pattern.to_string(), built.clone());
        }
        built
    }

    pub fn is_match(&self, text: &str, pattern: &str) -> Out {
        Ok(Val::Bool(self.get(pattern)?.is_match(text)))
    }

    /// The first match; none is an error, as in Airtable.
    pub fn extract(&self, text: &str, pattern: &str) -> Out {
        match self.get(pattern)?.find(text) {
            Some(found) => Ok(Val::Text(found.as_str().to_string())),
            None => Err("REGEX_EXTRACT found no match".into()),
        }
    }

    /// Every match replaced; `$1` or `${1}` (or `${name}`) in the replacement inserts a group, `$$` a dollar.
    pub fn replace(&self, text: &str, pattern: &str, replacement: &str) -> Out {
        let regex = self.get(pattern)?;
        let replacement = braced_groups(replacement);
        let mut out = String::new();
        let mut last = 0;
        for captures in regex.captures_iter(text) {
            let Some(whole) = captures.get(0) else { continue };
            out.push_str(&text[last..whole.start()]);
            captures.expand(&replacement, &mut out);
            last = whole.end();
            // Checked as it grows: empty matches between every character could otherwise multiply the text.
            fits(out.len() + (text.len() - last))?;
        }
        out.push_str(&text[last..]);
        text_out(out)
    }
}

/// `$12ab` means group 12 then `ab` (as in JavaScript), not a group named `12ab` (the crate's reading).
fn braced_groups(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len() + 8);
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push_str("$$");
            }
            Some(d) if d.is_ascii_digit() => {
                out.push_str("${");
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    out.push(d);
                    chars.next();
                }
                out.push('}');
            }
            _ => out.push('$'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn match_extract_and_replace_follow_airtable() {
        let r = Regexes::default();
        assert_eq!(r.is_match("Order 1234", r"\d{4}").unwrap(), Val::Bool(true));
        assert_eq!(r.is_match("Order", r"\d").unwrap(), Val::Bool(false));
        assert_eq!(r.extract("a-12-b-345", r"\d+").unwrap(), Val::Text("12".into()));
        assert!(r.extract("none", r"\d").is_err());
        assert_eq!(r.replace("2024-05-06", r"(\d+)-(\d+)-(\d+)", "$3/$2/$1").unwrap(), Val::Text("06/05/2024".into()));
        assert_eq!(r.replace("ab", "(a)", "$1x$$").unwrap(), Val::Text("ax$b".into()));
        assert_eq!(r.replace("a b  c", r"\s+", "_").unwrap(), Val::Text("a_b_c".into()));
    }

    #[test]
    fn invalid_oversized_and_explosive_patterns_are_errors_not_crashes() {
        let r = Regexes::default();
        assert!(r.is_match("x", "(").is_err());
        assert!(r.is_match("x", r"\w{1000}{1000}").is_err(), "over the size limit");
        let text = "a".repeat(100_000);
        let replacement = "b".repeat(100);
        assert!(r.replace(&text, "", &replacement).is_err(), "would be ~10 MB");
    }
}
