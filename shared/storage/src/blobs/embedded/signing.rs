//! HMAC-SHA256 signatures for the embedded presigned URLs.
//!
//! The key is random, generated on first use and kept in the data dir, so URLs survive a restart of the
//! runner but one data dir's URLs mean nothing to another, and no key is ever baked into the code.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const KEY_FILE: &str = ".signing-key";
/// HMAC-SHA256's block size: a key of exactly this length is used as is.
const KEY_LEN: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Get,
    Put,
}

impl Op {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Put => "put",
        }
    }
}

pub(super) struct Signer {
    key: [u8; KEY_LEN],
}

impl Signer {
    /// Reads `{dir}/.signing-key`, creating it if absent. Creation links a fully written temp file into
    /// place, which fails if another opener won the race; then that opener's key is used.
    pub(super) fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(KEY_FILE);
        if !path.exists() {
            let tmp = dir.join(format!("{KEY_FILE}.{}", uuid::Uuid::new_v4()));
            write_private(&tmp, &rand::random::<[u8; KEY_LEN]>())?;
            let linked = std::fs::hard_link(&tmp, &path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(e).with_context(|| format!("Failed to create {}", path.display()));
                }
                _ => {}
            }
        }
        let bytes = std::fs::read(&path).with_context(|| format!("Failed to read {}", path.display()))?;
        let key = <[u8; KEY_LEN]>::try_from(bytes.as_slice())
            .map_err(|_| anyhow::anyhow!("{} is corrupt (delete it to start over with a new key)", path.display()))?;
        Ok(Self { key })
    }

    /// `terms`: an upload's content type and length (`type\nlength`), empty for a GET.
    fn mac(&self, op: Op, bucket: &str, key: &str, expires: i64, terms: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&self.key.into());
        // Newlines cannot occur in any part (keys and content types refuse control characters), so the message
        // is unambiguous.
        mac.update(format!("{}\n{bucket}\n{key}\n{expires}\n{terms}", op.as_str()).as_bytes());
        mac
    }

    pub(super) fn sign(&self, op: Op, bucket: &str, key: &str, expires: i64, terms: &str) -> String {
        hex::encode(self.mac(op, bucket, key, expires, terms).finalize().into_bytes())
    }

    /// Constant-time comparison, so timing reveals nothing about the right signature.
    pub(super) fn verify(&self, op: Op, bucket: &str, key: &str, expires: i64, terms: &str, signature: &str) -> bool {
        hex::decode(signature).is_ok_and(|sig| self.mac(op, bucket, key, expires, terms).verify_slice(&sig).is_ok())
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).with_context(|| format!("Failed to create {}", path.display()))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).with_context(|| format!("Failed to write {}", path.display()))
}
