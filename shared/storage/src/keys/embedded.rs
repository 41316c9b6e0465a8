//! The keys port under `cargo run`: a master key file, `{data dir}/keys/master.key`, wraps each data key.
//!
//! A copy of `store.redb` without that file reveals no secret. Whoever can read the data dir can read both, so
//! this is no stronger than the user account running it; on AWS, KMS holds the key instead. Losing the file
//! loses every secret encrypted with it: it is made once, by whichever opener comes first, and never rewritten.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use async_trait::async_trait;
use aws_lc_rs::aead::RandomizedNonceKey;
use secrecy::SecretSlice;
use secrecy::zeroize::Zeroizing;

use super::{EncryptionContext, Envelope, KEY_LEN, Keys, aead_key, canonical_context, random_key};
use crate::StoreResult;

pub struct EmbeddedKeys {
    master: RandomizedNonceKey,
    path: PathBuf,
}

impl EmbeddedKeys {
    /// Reads the master key under `data_dir`, or makes it: 32 random bytes in a file readable by this user
    /// only (0600, in a 0700 directory).
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let dir = data_dir.join("keys");
        crate::embedded::create_private_dir(&dir)
            .with_context(|| format!("Failed to create the key directory {}", dir.display()))?;
        crate::embedded::restrict(&dir, 0o700);
        let path = dir.join("master.key");
        let key = match read_key(&path)? {
            Some(key) => key,
            None => create_key(&dir, &path)?,
        };
        crate::embedded::restrict(&path, 0o600);
        Ok(Self { master: aead_key(key.as_slice())?, path })
    }

    /// The master key file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The key in `path`, or `None` if there is no such file.
fn read_key(path: &Path) -> anyhow::Result<Option<Zeroizing<[u8; KEY_LEN]>>> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("Failed to open the master key {}", path.display())),
    };
    // One byte more than a key, to tell a longer file from a key.
    let mut bytes = Zeroizing::new([0u8; KEY_LEN + 1]);
    let mut len = 0;
    loop {
        match file.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("Failed to read the master key {}", path.display())),
        }
        if len == bytes.len() {
            break;
        }
    }
    if len != KEY_LEN {
        bail!(
            "The master key file {} is not a {KEY_LEN}-byte key ({}): put the right file back (every secret \
             encrypted under this data dir needs it), or, if none was ever stored, delete it to make a new one",
            path.display(),
            if len > KEY_LEN { "it is longer".to_owned() } else { format!("it has {len} bytes") }
        );
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&bytes[..KEY_LEN]);
    Ok(Some(key))
}

/// Writes a new key to a private temporary file, then links it into place: the link is the `create_new` that
/// settles a race between two openers (the loser reads the winner's key), and no opener ever sees a partly
/// written key, even after a crash.
fn create_key(dir: &Path, path: &Path) -> anyhow::Result<Zeroizing<[u8; KEY_LEN]>> {
    let key = random_key()?;
    let temp = dir.join(format!("master.key.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = write_new(&temp, key.as_slice()).and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match written {
        Ok(()) => {
            sync_dir(dir);
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_key(path)?
            .with_context(|| format!("The master key {} vanished while it was being created", path.display())),
        Err(e) => Err(e).with_context(|| format!("Failed to create the master key {}", path.display())),
    }
}

/// Creates `path` (it must not exist) with mode 0600 on unix, and writes `bytes` durably.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes the new directory entry durable (unix; best effort: the key was written, a failure here only
/// weakens crash safety).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot sync the key directory");
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[async_trait]
impl Keys for EmbeddedKeys {
    async fn encrypt(&self, plaintext: &[u8], context: &EncryptionContext) -> StoreResult<Vec<u8>> {
        super::validate_encrypt(plaintext, context)?;
        let aad = canonical_context(context);
        let data_key = random_key()?;
        let wrapped_key = super::seal(&self.master, &aad, data_key.as_slice())?;
        super::seal_envelope(data_key.as_slice(), &wrapped_key, &aad, plaintext)
    }

    async fn decrypt(&self, envelope: &[u8], context: &EncryptionContext) -> StoreResult<SecretSlice<u8>> {
        super::validate_context(context)?;
        let envelope = Envelope::parse(envelope)?;
        let aad = canonical_context(context);
        let data_key = super::open(&self.master, &aad, envelope.wrapped_key)?;
        super::open_payload(&data_key, &aad, envelope.sealed)
    }

    async fn ready(&self) -> StoreResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("storage-keys-{}", uuid::Uuid::new_v4().simple()))
    }

    #[test]
    fn a_key_file_of_the_wrong_length_is_refused_and_left_alone() {
        for len in [0, 31, 33, 64] {
            let dir = temp_dir();
            std::fs::create_dir_all(dir.join("keys")).unwrap();
            std::fs::write(dir.join("keys/master.key"), vec![1u8; len]).unwrap();
            let error = format!("{:#}", EmbeddedKeys::open(&dir).err().unwrap());
            assert!(error.contains("is not a 32-byte key"), "{error}");
            assert_eq!(std::fs::read(dir.join("keys/master.key")).unwrap().len(), len);
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[tokio::test]
    async fn concurrent_openers_agree_on_one_key_and_leave_no_temporary_file() {
        let dir = temp_dir();
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || EmbeddedKeys::open(&dir).unwrap())
            })
            .collect();
        let keys: Vec<EmbeddedKeys> = openers.into_iter().map(|t| t.join().unwrap()).collect();
        let context = EncryptionContext::from([("tenant".to_owned(), "t1".to_owned())]);
        for key in &keys {
            let blob = key.encrypt(b"secret", &context).await.unwrap();
            assert_eq!(
                secrecy::ExposeSecret::expose_secret(&keys[0].decrypt(&blob, &context).await.unwrap()),
                b"secret"
            );
        }
        let files: Vec<_> = std::fs::read_dir(dir.join("keys")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files, ["master.key"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
