//! API key material. A key is `pyat_` + 32 random bytes (base64url); only its SHA-256 is stored. A fast hash
//! is right here (unlike passwords): 256 random bits cannot be guessed, so slowing guesses buys nothing, and
//! the authorizer looks a key up on every request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Marks a bearer credential as an API key rather than a JWT (and makes leaked keys easy to scan for).
pub const PREFIX: &str = "pyat_";
/// How much of a key is kept in clear to tell keys apart in a listing.
const SHOWN_CHARS: usize = PREFIX.len() + 6;
const ENTROPY_BYTES: usize = 32;
/// Longest plausible key; anything longer is not worth hashing.
const MAX_LEN: usize = 128;

pub struct NewKeyMaterial {
    /// Shown to the client once, never stored.
    pub plaintext: SecretString,
    pub hash: String,
    /// The first characters, to recognise the key by.
    pub shown_prefix: String,
}

pub fn generate() -> anyhow::Result<NewKeyMaterial> {
    let (plaintext, hash) = generate_secret(PREFIX)?;
    let shown_prefix = plaintext.expose_secret()[..SHOWN_CHARS].to_string();
    Ok(NewKeyMaterial { plaintext, hash, shown_prefix })
}

/// Another single-purpose bearer secret (an invitation token): `prefix` + 32 random bytes (base64url), and
/// the SHA-256 it is stored as.
pub fn generate_secret(prefix: &str) -> anyhow::Result<(SecretString, String)> {
    let mut bytes = [0u8; ENTROPY_BYTES];
    OsRng.try_fill_bytes(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
    let plaintext = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let stored = hash(&plaintext);
    Ok((SecretString::from(plaintext), stored))
}

/// The stored form of a presented key.
pub fn hash(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}

/// Whether a bearer credential is shaped like an API key (otherwise it is treated as a JWT).
pub fn looks_like_api_key(credential: &str) -> bool {
    credential.starts_with(PREFIX) && credential.len() <= MAX_LEN
}

impl std::fmt::Debug for NewKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKeyMaterial").field("shown_prefix", &self.shown_prefix).finish_non_exhaustive()
    }
}

/// For tests and the one response that reveals a new key.
pub fn reveal(material: &NewKeyMaterial) -> &str {
    material.plaintext.expose_secret()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_new_key_is_prefixed_random_and_stored_only_as_its_hash() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert!(reveal(&a).starts_with(PREFIX));
        assert_eq!(reveal(&a).len(), PREFIX.len() + 43);
        assert_ne!(reveal(&a), reveal(&b));
        assert_eq!(a.hash, hash(reveal(&a)));
        assert!(!a.hash.contains(reveal(&a)));
        assert!(reveal(&a).starts_with(&a.shown_prefix));
    }

    #[test]
    fn only_prefixed_credentials_look_like_keys() {
        assert!(looks_like_api_key(reveal(&generate().unwrap())));
        assert!(!looks_like_api_key("eyJhbGciOiJIUzI1NiJ9.e30.sig"));
        assert!(!looks_like_api_key(&format!("{PREFIX}{}", "x".repeat(200))));
    }

    #[test]
    fn debug_output_does_not_show_the_key() {
        let key = generate().unwrap();
        assert!(!format!("{key:?}").contains(reveal(&key)));
    }
}
