//! What a service's store shares with every other: JSON records in the table port's items, the failures a
//! handler branches on (a lost optimistic race, a bad cursor) and their API answers, and a page of a listing.

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use storage::StoreError;
use storage::table::{Attributes, Item};

/// What callers branch on; everything else is unexpected.
#[derive(Debug, thiserror::Error)]
pub enum StoreFailure {
    #[error("the record changed since it was read")]
    Conflict,
    #[error("invalid pagination cursor")]
    InvalidCursor,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for StoreFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ConditionFailed => Self::Conflict,
            StoreError::InvalidCursor => Self::InvalidCursor,
            other => Self::Unexpected(anyhow::Error::new(other)),
        }
    }
}

impl From<StoreFailure> for crate::ApiError {
    fn from(e: StoreFailure) -> Self {
        match e {
            StoreFailure::Conflict => {
                crate::ApiError::conflict("version_conflict", "It changed since you read it; read it again and retry")
            }
            StoreFailure::InvalidCursor => crate::pagination::invalid_cursor(),
            StoreFailure::Unexpected(e) => crate::ApiError::Unexpected(e),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreFailure>;

/// One page of a listing.
#[derive(Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A record as an item's attributes (it must serialize as a JSON object).
pub fn encode<T: Serialize>(record: &T) -> anyhow::Result<Attributes> {
    match serde_json::to_value(record).context("Failed to encode a record")? {
        serde_json::Value::Object(map) => Ok(map),
        _ => anyhow::bail!("a record must encode as an object"),
    }
}

/// An item's record and its version.
pub fn decode<T: DeserializeOwned>(item: Item) -> anyhow::Result<(T, u64)> {
    let record = serde_json::from_value(serde_json::Value::Object(item.attrs))
        .with_context(|| format!("Failed to decode {}/{}", item.key.pk, item.key.sk))?;
    Ok((record, item.version))
}
