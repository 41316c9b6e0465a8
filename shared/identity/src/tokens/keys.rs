//! Signing and verifying keys, addressed by `kid` so a key can be rotated: tokens name the key that signed
//! them, and a verifier holds the current key plus any it still honours. Each key is bound to exactly one
//! algorithm; a token whose header claims another is refused (RFC 8725 §3.1, no algorithm confusion).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::TokenSettings;

/// The algorithms this service signs or accepts. No `none`, no RSA (PKCS#1 v1.5 has a history; add PS256
/// here if an RSA key is ever required).
pub const ALLOWED: [Algorithm; 5] =
    [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512, Algorithm::ES256, Algorithm::EdDSA];
/// RFC 7518 §3.2: an HMAC key at least as long as the hash (256 bits for HS256).
pub const MIN_HMAC_KEY_BYTES: usize = 32;
/// The file under the data dir that holds the local runner's generated key.
pub const LOCAL_KEY_FILE: &str = "jwt-signing-key";

pub struct KeySet {
    pub(super) signing: (String, Algorithm, EncodingKey),
    pub(super) verifying: HashMap<String, (Algorithm, DecodingKey)>,
}

impl KeySet {
    /// An HMAC key set (HS256/384/512) from a secret of at least 32 bytes.
    pub fn hmac(algorithm: Algorithm, secret: &SecretString, kid: Option<String>) -> anyhow::Result<Self> {
        if !matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            bail!("{algorithm:?} is not an HMAC algorithm");
        }
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < MIN_HMAC_KEY_BYTES {
            bail!("the JWT signing key must be at least {MIN_HMAC_KEY_BYTES} bytes");
        }
        // A kid derived from the secret (domain-separated, truncated): stable across instances, reveals nothing.
        let kid = kid.unwrap_or_else(|| short_digest(b"pyairtable-kid:", bytes));
        let decoding = DecodingKey::from_secret(bytes);
        Ok(Self::single(kid, algorithm, EncodingKey::from_secret(bytes), decoding))
    }

    /// An ES256 or EdDSA key set from PEM: the private key signs, the public key verifies.
    pub fn asymmetric(
        algorithm: Algorithm,
        private_pem: &SecretString,
        public_pem: &str,
        kid: Option<String>,
    ) -> anyhow::Result<Self> {
        let private = private_pem.expose_secret().as_bytes();
        let (encoding, decoding) = match algorithm {
            Algorithm::ES256 => (EncodingKey::from_ec_pem(private), DecodingKey::from_ec_pem(public_pem.as_bytes())),
            Algorithm::EdDSA => (EncodingKey::from_ed_pem(private), DecodingKey::from_ed_pem(public_pem.as_bytes())),
            other => bail!("{other:?} is not an allowed asymmetric algorithm"),
        };
        let encoding = encoding.context("JWT_SIGNING_KEY is not a valid PEM private key for the algorithm")?;
        let decoding = decoding.context("JWT_VERIFYING_KEY is not a valid PEM public key for the algorithm")?;
        let kid = kid.unwrap_or_else(|| short_digest(b"pyairtable-kid:", public_pem.as_bytes()));
        Ok(Self::single(kid, algorithm, encoding, decoding))
    }

    /// Keeps honouring tokens signed by a retired key (rotation), without signing with it.
    pub fn also_verify(mut self, kid: String, algorithm: Algorithm, key: DecodingKey) -> anyhow::Result<Self> {
        if !ALLOWED.contains(&algorithm) {
            bail!("{algorithm:?} is not on the allow-list");
        }
        self.verifying.insert(kid, (algorithm, key));
        Ok(self)
    }

    /// The key set the settings describe. Without a configured key, `local_dir` (the local runner's data dir)
    /// supplies one generated on first start; on Lambda there is no such dir and a key is required.
    pub fn from_settings(settings: &TokenSettings, local_dir: Option<&Path>) -> anyhow::Result<Self> {
        // Settings built in code (tests, the local runner) get the same bounds as those read from the env.
        settings.validate()?;
        let algorithm = settings.algorithm;
        let kid = settings.key_id.clone();
        match (&settings.signing_key, &settings.verifying_key, local_dir) {
            (Some(key), None, _) => Self::hmac(algorithm, key, kid),
            (Some(key), Some(public), _) => Self::asymmetric(algorithm, key, public, kid),
            (None, _, Some(dir)) => Self::hmac(algorithm, &local_key(dir)?, kid),
            (None, _, None) => bail!("environment variable JWT_SIGNING_KEY is required but not set"),
        }
    }

    fn single(kid: String, algorithm: Algorithm, encoding: EncodingKey, decoding: DecodingKey) -> Self {
        Self { verifying: HashMap::from([(kid.clone(), (algorithm, decoding))]), signing: (kid, algorithm, encoding) }
    }
}

fn short_digest(domain: &[u8], bytes: &[u8]) -> String {
    let digest = Sha256::new().chain_update(domain).chain_update(bytes).finalize();
    hex::encode(&digest[..8])
}

/// Reads the local runner's key, or makes one (48 random bytes) readable by this user only.
fn local_key(dir: &Path) -> anyhow::Result<SecretString> {
    let path = dir.join(LOCAL_KEY_FILE);
    if !path.exists() {
        // The data dir, when this makes it, is private too (as the embedded store makes it).
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
        let mut bytes = [0u8; 48];
        OsRng.try_fill_bytes(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
        write_private(&path, URL_SAFE_NO_PAD.encode(bytes).as_bytes())?;
        tracing::info!(path = %path.display(), "generated a JWT signing key for the local runner");
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("Failed to read {}", path.display()))?;
    Ok(SecretString::from(text.trim().to_string()))
}

/// Creates the file only if absent (two runners starting at once keep the first key) with mode 0600.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => file.write_all(contents).with_context(|| format!("Failed to write {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("Failed to create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn an_hmac_key_shorter_than_32_bytes_is_refused() {
        let short = SecretString::from("x".repeat(31));
        assert!(KeySet::hmac(Algorithm::HS256, &short, None).is_err());
        assert!(KeySet::hmac(Algorithm::HS256, &SecretString::from("x".repeat(32)), None).is_ok());
    }

    #[test]
    fn the_local_key_is_generated_once_and_then_reused() {
        let dir = std::env::temp_dir().join(format!("identity-key-{}", uuid::Uuid::new_v4()));
        let first = local_key(&dir).unwrap();
        let second = local_key(&dir).unwrap();
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert!(first.expose_secret().len() >= MIN_HMAC_KEY_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(LOCAL_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn without_a_configured_key_or_a_local_dir_there_is_no_key_set() {
        assert!(KeySet::from_settings(&TokenSettings::default(), None).is_err());
    }
}
