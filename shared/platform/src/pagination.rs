//! `?limit=&cursor=` for list routes: validated once, the same everywhere.

use serde::Deserialize;

use crate::ApiError;

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The limit, 1..=100 (default 20).
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit.as_deref() {
            None | Some("") => Ok(DEFAULT_LIMIT),
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )),
            },
        }
    }

    pub fn cursor(&self) -> Option<String> {
        self.cursor.clone().filter(|c| !c.is_empty())
    }
}

/// Maps a storage cursor error to the client's 400.
pub fn invalid_cursor() -> ApiError {
    ApiError::bad_request("invalid_cursor", "cursor is not one this API issued")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_rejects_out_of_range_values() {
        let q = |l: &str| PageQuery { limit: Some(l.into()), cursor: None };
        assert_eq!(PageQuery::default().limit().ok(), Some(DEFAULT_LIMIT));
        assert_eq!(q("5").limit().ok(), Some(5));
        assert!(q("0").limit().is_err());
        assert!(q("101").limit().is_err());
        assert!(q("abc").limit().is_err());
    }
}
