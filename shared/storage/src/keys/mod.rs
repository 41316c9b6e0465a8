//! The keys port: envelope encryption of secrets at rest (connection tokens and the like), so a copy of the
//! table alone — a backup, an export, a leaked item — reveals none of them.
//!
//! Each encryption draws a fresh 256-bit data key, seals the plaintext with it (AES-256-GCM, random nonce) and
//! keeps the data key only wrapped by a key the adapter holds: KMS (`aws.rs`) or a master key file under the
//! data dir (`embedded.rs`). Both adapters write the same blob:
//!
//! ```text
//! version (1 byte: 1) | wrapped key length (u16 BE) | wrapped data key | nonce (12) | ciphertext ‖ tag (16)
//! ```
//!
//! Every seal, the payload's and (embedded) the data key's, takes as AAD the canonical form of the
//! [`EncryptionContext`] ([`canonical_context`]), so a blob copied to another tenant's or connection's row does
//! not decrypt there. Whatever makes a blob not decrypt — another context, another key, a flipped or missing
//! byte — is [`StoreError::Undecryptable`](crate::StoreError::Undecryptable), one error that says nothing more.

// The envelope helpers below serve the adapters; a build with neither has only the port.
#![cfg_attr(not(any(feature = "aws", feature = "embedded")), allow(dead_code))]

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;
mod sealer;

pub use sealer::Sealer;

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use secrecy::SecretSlice;
use secrecy::zeroize::Zeroizing;

use crate::{StoreError, StoreResult};

/// Encryption context: name → value pairs bound to a ciphertext (e.g. tenant id and connection id). A ciphertext
/// only decrypts with exactly the same context. Not secret: KMS logs it in CloudTrail.
pub type EncryptionContext = BTreeMap<String, String>;

/// Largest plaintext [`Keys::encrypt`] takes: secrets, not documents.
pub const MAX_PLAINTEXT: usize = 64 * 1024;
/// Most pairs in an [`EncryptionContext`].
pub const MAX_CONTEXT_PAIRS: usize = 8;
/// Longest name or value in an [`EncryptionContext`], in bytes.
pub const MAX_CONTEXT_LEN: usize = 256;

#[async_trait]
pub trait Keys: Send + Sync {
    /// Envelope-encrypts `plaintext` under a fresh data key bound to `context`; returns an opaque, versioned blob.
    async fn encrypt(&self, plaintext: &[u8], context: &EncryptionContext) -> StoreResult<Vec<u8>>;
    /// The plaintext, if `envelope` was made by this key store with exactly this `context`; else
    /// [`StoreError::Undecryptable`]. Zeroed when dropped.
    async fn decrypt(&self, envelope: &[u8], context: &EncryptionContext) -> StoreResult<SecretSlice<u8>>;
    async fn ready(&self) -> StoreResult<()>;
}

/// The blob format's version byte; also the first byte of every AAD, so a future format cannot be confused with it.
const VERSION: u8 = 1;
/// An AES-256 key.
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// A context both adapters accept: 1..=8 pairs, each name and value 1..=256 bytes. At least one pair: a
/// ciphertext bound to nothing could be moved to any row and still decrypt.
pub fn validate_context(context: &EncryptionContext) -> StoreResult<()> {
    if context.is_empty() || context.len() > MAX_CONTEXT_PAIRS {
        return Err(StoreError::Invalid(format!("an encryption context has 1 to {MAX_CONTEXT_PAIRS} pairs")));
    }
    let fits = |s: &String| !s.is_empty() && s.len() <= MAX_CONTEXT_LEN;
    if !context.iter().all(|(name, value)| fits(name) && fits(value)) {
        return Err(StoreError::Invalid(format!(
            "encryption context names and values are 1 to {MAX_CONTEXT_LEN} bytes"
        )));
    }
    Ok(())
}

/// What [`Keys::encrypt`] accepts: a valid context and at most [`MAX_PLAINTEXT`] bytes (possibly none).
pub fn validate_encrypt(plaintext: &[u8], context: &EncryptionContext) -> StoreResult<()> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(StoreError::Invalid(format!("a secret is at most {MAX_PLAINTEXT} bytes")));
    }
    validate_context(context)
}

/// The AAD of every seal: the version byte, the pair count, then each pair in name order as a u16 big-endian
/// length and bytes, name then value. Length prefixes make it unambiguous (`{"ab": "c"}` ≠ `{"a": "bc"}`).
/// Expects a validated context (lengths fit their prefixes).
pub(crate) fn canonical_context(context: &EncryptionContext) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + context.iter().map(|(n, v)| 4 + n.len() + v.len()).sum::<usize>());
    out.push(VERSION);
    out.push(u8::try_from(context.len()).unwrap_or(u8::MAX));
    for (name, value) in context {
        for part in [name, value] {
            out.extend_from_slice(&u16::try_from(part.len()).unwrap_or(u16::MAX).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

/// A fresh random AES-256 key, zeroed when dropped (KMS makes the data keys on AWS).
#[cfg(any(feature = "embedded", test))]
pub(crate) fn random_key() -> StoreResult<Zeroizing<[u8; KEY_LEN]>> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    aws_lc_rs::rand::fill(key.as_mut()).map_err(|_| crypto_failed("Failed to draw a random key"))?;
    Ok(key)
}

fn crypto_failed(what: &'static str) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!(what))
}

/// An AES-256-GCM key that draws a random nonce for every seal.
pub(crate) fn aead_key(key: &[u8]) -> StoreResult<RandomizedNonceKey> {
    RandomizedNonceKey::new(&AES_256_GCM, key).map_err(|_| crypto_failed("Failed to load an AES-256 key"))
}

/// `nonce ‖ ciphertext ‖ tag` of `plaintext` under `key`.
pub(crate) fn seal(key: &RandomizedNonceKey, aad: &[u8], plaintext: &[u8]) -> StoreResult<Vec<u8>> {
    let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    sealed.extend_from_slice(&[0u8; NONCE_LEN]);
    sealed.extend_from_slice(plaintext);
    let (nonce, tag) = key
        .seal_in_place_separate_tag(Aad::from(aad), &mut sealed[NONCE_LEN..])
        .map_err(|_| crypto_failed("Failed to seal with AES-256-GCM"))?;
    sealed[..NONCE_LEN].copy_from_slice(nonce.as_ref());
    sealed.extend_from_slice(tag.as_ref());
    Ok(sealed)
}

/// The plaintext of what [`seal`] made, or `Undecryptable` (wrong key, wrong AAD, any byte changed or missing).
pub(crate) fn open(key: &RandomizedNonceKey, aad: &[u8], sealed: &[u8]) -> StoreResult<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(StoreError::Undecryptable);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| StoreError::Undecryptable)?;
    let mut in_out = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len =
        key.open_in_place(nonce, Aad::from(aad), in_out.as_mut_slice()).map_err(|_| StoreError::Undecryptable)?.len();
    in_out.truncate(plaintext_len);
    Ok(in_out)
}

/// A blob taken apart (see the module docs). Parsing checks only the framing; the seals check the rest.
pub(crate) struct Envelope<'a> {
    pub wrapped_key: &'a [u8],
    /// `nonce ‖ ciphertext ‖ tag`.
    pub sealed: &'a [u8],
}

impl<'a> Envelope<'a> {
    pub fn parse(blob: &'a [u8]) -> StoreResult<Self> {
        let [version, hi, lo, rest @ ..] = blob else { return Err(StoreError::Undecryptable) };
        let wrapped_len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if *version != VERSION || wrapped_len == 0 || rest.len() < wrapped_len + NONCE_LEN + TAG_LEN {
            return Err(StoreError::Undecryptable);
        }
        let (wrapped_key, sealed) = rest.split_at(wrapped_len);
        Ok(Self { wrapped_key, sealed })
    }

    pub fn encode(&self) -> StoreResult<Vec<u8>> {
        let wrapped_len = u16::try_from(self.wrapped_key.len())
            .ok()
            .filter(|len| *len > 0)
            .ok_or_else(|| crypto_failed("The wrapped data key does not fit the blob format"))?;
        let mut blob = Vec::with_capacity(3 + self.wrapped_key.len() + self.sealed.len());
        blob.push(VERSION);
        blob.extend_from_slice(&wrapped_len.to_be_bytes());
        blob.extend_from_slice(self.wrapped_key);
        blob.extend_from_slice(self.sealed);
        Ok(blob)
    }
}

/// Seals `plaintext` under `data_key` and frames it with the wrapped key: the part both adapters share.
pub(crate) fn seal_envelope(data_key: &[u8], wrapped_key: &[u8], aad: &[u8], plaintext: &[u8]) -> StoreResult<Vec<u8>> {
    let sealed = seal(&aead_key(data_key)?, aad, plaintext)?;
    Envelope { wrapped_key, sealed: &sealed }.encode()
}

/// Opens an envelope's payload with its unwrapped data key.
pub(crate) fn open_payload(data_key: &[u8], aad: &[u8], sealed: &[u8]) -> StoreResult<SecretSlice<u8>> {
    if data_key.len() != KEY_LEN {
        return Err(StoreError::Undecryptable);
    }
    let plaintext = open(&aead_key(data_key)?, aad, sealed)?;
    // A fresh allocation of exactly the right size: converting the Vec would reallocate and leave a copy behind.
    Ok(SecretSlice::from(Box::<[u8]>::from(plaintext.as_slice())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_canonical_context_is_unambiguous_and_ordered() {
        assert_ne!(canonical_context(&context(&[("ab", "c")])), canonical_context(&context(&[("a", "bc")])));
        assert_ne!(
            canonical_context(&context(&[("a", "b"), ("c", "d")])),
            canonical_context(&context(&[("a", "bc"), ("", "d")]))
        );
        assert_eq!(canonical_context(&context(&[("t", "1")])), [1, 1, 0, 1, b't', 0, 1, b'1']);
    }

    #[test]
    fn seal_and_open_round_trip_and_refuse_another_aad() {
        let key = aead_key(random_key().unwrap().as_slice()).unwrap();
        let sealed = seal(&key, b"aad", b"secret").unwrap();
        assert_eq!(open(&key, b"aad", &sealed).unwrap().as_slice(), b"secret");
        assert!(matches!(open(&key, b"other", &sealed), Err(StoreError::Undecryptable)));
    }

    #[test]
    fn framing_round_trips_and_rejects_short_or_unknown_blobs() {
        let sealed = [7u8; NONCE_LEN + TAG_LEN];
        let blob = Envelope { wrapped_key: b"wrapped", sealed: &sealed }.encode().unwrap();
        let parsed = Envelope::parse(&blob).unwrap();
        assert_eq!((parsed.wrapped_key, parsed.sealed), (&b"wrapped"[..], &sealed[..]));
        let bad: [&[u8]; 4] = [&blob[..blob.len() - 1], &[], &[VERSION, 0, 0], &[VERSION, 0, 1, 0]];
        for bad in bad {
            assert!(matches!(Envelope::parse(bad), Err(StoreError::Undecryptable)));
        }
        let mut other_version = blob.clone();
        other_version[0] = 2;
        assert!(matches!(Envelope::parse(&other_version), Err(StoreError::Undecryptable)));
    }
}
