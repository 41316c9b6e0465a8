/// What a storage adapter tells its caller. Only what callers branch on gets a variant.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition did not hold (already exists, version moved on, missing); for a
    /// transaction, any one condition failing cancels the whole write.
    #[error("the write's condition did not hold")]
    ConditionFailed,
    /// A pagination cursor that this adapter did not issue (or that was tampered with).
    #[error("invalid pagination cursor")]
    InvalidCursor,
    /// The request breaks a documented limit of the port (key too long, too many items in a transaction…).
    #[error("invalid storage request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;
