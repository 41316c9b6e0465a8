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
    /// A ciphertext that does not decrypt here: another encryption context (another tenant's or connection's),
    /// another key store's key, a tampered or truncated blob. One variant for all, telling an attacker nothing;
    /// callers answer as for a missing secret (or refuse), never with a server error.
    #[error("the ciphertext does not decrypt with this key and context")]
    Undecryptable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;
