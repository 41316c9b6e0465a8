//! The one identifier grammar of scopes and custom roles: `[A-Za-z0-9_-]{1,64}`. Airtable's ids (`appXXXX`,
//! `tblXXXX`) and the platform's UUIDs both fit; a name never does (the gateway resolves a table name to its id
//! before it asks for a decision).

/// The longest identifier, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Whether `id` is `[A-Za-z0-9_-]{1,64}`.
pub fn is_valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `given`, cut to a length an error message may echo.
pub(crate) fn echo(given: &str) -> String {
    given.chars().take(MAX_ID_LEN + 16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_to_64_safe_characters() {
        for good in
            ["a", "wsX", "app0123456789abcd", "tbl_Q-1", "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f60", &"x".repeat(64)]
        {
            assert!(is_valid_id(good), "{good}");
        }
        for bad in ["", &"x".repeat(65), "a b", "a/b", "a:b", "é", "tbl.1", "a\n", "Table 1"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }
}
