//! The keys port's suite: every shared case runs against the embedded adapter (a master key file in a fresh
//! data dir) and the KMS adapter (moto, a fresh key and alias per test). Tampering cases flip bytes at named
//! places of the blob's documented layout (`version | u16 length | wrapped key | nonce | ciphertext ‖ tag`).
//!
//! moto's Decrypt reports a ciphertext that names a key it does not know (a flipped byte in the key id it
//! embeds, or another key than the `KeyId` asked for) as `AccessDeniedException` where KMS answers
//! `IncorrectKeyException` or `InvalidCiphertextException`; the adapter maps all three to `Undecryptable`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use secrecy::{ExposeSecret, SecretSlice};
use storage::StoreError;
use storage::backend::{Backend, StorageMode, StorageSettings};
use storage::keys::aws::{KmsKeys, ensure_alias};
use storage::keys::embedded::EmbeddedKeys;
use storage::keys::{EncryptionContext, Keys, MAX_PLAINTEXT};

use crate::support::{self, TempDir};

/// `both` cases take `&dyn Keys`; adapter-only cases build their own.
macro_rules! conformance {
    (both: [$($case:ident),* $(,)?], embedded: [$($local:ident),* $(,)?], aws: [$($kms:ident),* $(,)?] $(,)?) => {
        mod embedded {
            $(#[tokio::test]
            async fn $case() {
                let dir = crate::support::TempDir::new();
                super::$case(&super::EmbeddedKeys::open(&dir.0).unwrap()).await;
            })*
            $(#[tokio::test]
            async fn $local() {
                super::$local().await;
            })*
        }
        mod aws {
            $(#[tokio::test]
            async fn $case() {
                super::$case(&super::kms().await).await;
            })*
            $(#[tokio::test]
            async fn $kms() {
                super::$kms().await;
            })*
        }
    };
}

conformance! {
    both: [
        encrypt_then_decrypt_round_trips_including_empty_and_the_largest_plaintext,
        two_encryptions_of_the_same_plaintext_differ,
        the_blob_does_not_contain_the_plaintext,
        another_context_is_undecryptable,
        a_flipped_byte_anywhere_is_undecryptable,
        a_truncated_or_extended_blob_is_undecryptable,
        invalid_inputs_are_refused,
        ready_succeeds,
    ],
    embedded: [
        the_key_file_is_private_to_this_user,
        another_backend_on_the_same_data_dir_decrypts_and_one_on_another_data_dir_does_not,
    ],
    aws: [
        a_blob_made_under_another_kms_key_is_undecryptable,
        the_backend_provisions_its_alias_once_and_decrypts_across_instances,
    ],
}

async fn kms_under(alias: &str) -> KmsKeys {
    let client = storage::aws::kms(&support::moto_config().await);
    ensure_alias(&client, alias).await.unwrap();
    KmsKeys::new(client, alias)
}

async fn kms() -> KmsKeys {
    kms_under(&format!("alias/{}", support::unique("keys"))).await
}

fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

fn tenant_a() -> EncryptionContext {
    context(&[("tenant", "ten_a"), ("connection", "con_1")])
}

fn invalid<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Invalid(_)))
}

#[track_caller]
fn assert_undecryptable(result: Result<SecretSlice<u8>, StoreError>, what: &str) {
    match result {
        Err(StoreError::Undecryptable) => {}
        Ok(_) => panic!("{what}: decrypted"),
        Err(e) => panic!("{what}: {e:#}"),
    }
}

/// Where the parts of a blob start: (wrapped key, nonce, ciphertext, tag).
fn layout(blob: &[u8]) -> (usize, usize, usize, usize) {
    let wrapped_len = usize::from(u16::from_be_bytes([blob[1], blob[2]]));
    (3, 3 + wrapped_len, 3 + wrapped_len + 12, blob.len() - 16)
}

async fn encrypt_then_decrypt_round_trips_including_empty_and_the_largest_plaintext(keys: &dyn Keys) {
    let largest: Vec<u8> = (0..MAX_PLAINTEXT).map(|i| (i % 251) as u8).collect();
    assert_eq!(largest.len(), 64 * 1024);
    for plaintext in [&b"airtable pat.xyz \x00\xff"[..], b"", &largest] {
        let blob = keys.encrypt(plaintext, &tenant_a()).await.unwrap();
        assert_eq!(blob[0], 1, "the version byte");
        let decrypted = keys.decrypt(&blob, &tenant_a()).await.unwrap();
        assert_eq!(decrypted.expose_secret(), plaintext, "{} bytes", plaintext.len());
        // Decrypting has no side effect: the blob decrypts again.
        assert_eq!(keys.decrypt(&blob, &tenant_a()).await.unwrap().expose_secret(), plaintext);
    }
}

async fn two_encryptions_of_the_same_plaintext_differ(keys: &dyn Keys) {
    let first = keys.encrypt(b"same secret", &tenant_a()).await.unwrap();
    let second = keys.encrypt(b"same secret", &tenant_a()).await.unwrap();
    assert_ne!(first, second);
    // Fresh data key and fresh nonce each time, not just a different wrapping.
    let (a, b) = (layout(&first), layout(&second));
    assert_ne!(first[a.0..a.1], second[b.0..b.1], "the wrapped data keys");
    assert_ne!(first[a.1..a.2], second[b.1..b.2], "the nonces");
    assert_ne!(first[a.2..], second[b.2..], "the ciphertexts");
}

async fn the_blob_does_not_contain_the_plaintext(keys: &dyn Keys) {
    let plaintext = b"patXXXXXXXXXXXXXX.0123456789abcdef0123456789abcdef0123456789abcdef".repeat(4);
    let blob = keys.encrypt(&plaintext, &tenant_a()).await.unwrap();
    // No 8-byte run of the plaintext appears anywhere in the blob.
    for window in plaintext.windows(8) {
        assert!(!blob.windows(8).any(|w| w == window), "the blob contains {:?}", String::from_utf8_lossy(window));
    }
}

async fn another_context_is_undecryptable(keys: &dyn Keys) {
    let blob = keys.encrypt(b"secret", &tenant_a()).await.unwrap();
    let other_tenant = context(&[("tenant", "ten_b"), ("connection", "con_1")]);
    let extra_pair = context(&[("tenant", "ten_a"), ("connection", "con_1"), ("purpose", "x")]);
    let missing_pair = context(&[("tenant", "ten_a")]);
    let renamed = context(&[("tenant", "ten_a"), ("connectioN", "con_1")]);
    // Concatenated naively, these would read the same as tenant_a's pairs.
    let shifted = context(&[("tenant", "ten_acon"), ("nection", "con_1")]);
    for other in [other_tenant, extra_pair, missing_pair, renamed, shifted] {
        assert_undecryptable(keys.decrypt(&blob, &other).await, &format!("{other:?}"));
    }
    assert_eq!(keys.decrypt(&blob, &tenant_a()).await.unwrap().expose_secret(), b"secret");
}

async fn a_flipped_byte_anywhere_is_undecryptable(keys: &dyn Keys) {
    let blob = keys.encrypt(b"a secret of some length", &tenant_a()).await.unwrap();
    let (wrapped, nonce, ciphertext, tag) = layout(&blob);
    let places = [
        ("version", 0),
        ("length, high byte", 1),
        ("length, low byte", 2),
        ("wrapped key, first byte", wrapped),
        ("wrapped key, middle", (wrapped + nonce) / 2),
        ("wrapped key, last byte", nonce - 1),
        ("nonce", nonce),
        ("nonce, last byte", ciphertext - 1),
        ("ciphertext", ciphertext),
        ("tag, first byte", tag),
        ("tag, last byte", blob.len() - 1),
    ];
    for (place, at) in places {
        for mask in [0x01, 0x80] {
            let mut tampered = blob.clone();
            tampered[at] ^= mask;
            assert_undecryptable(
                keys.decrypt(&tampered, &tenant_a()).await,
                &format!("flipped {mask:#04x} at the {place}"),
            );
        }
    }
    assert_eq!(keys.decrypt(&blob, &tenant_a()).await.unwrap().expose_secret(), b"a secret of some length");
}

async fn a_truncated_or_extended_blob_is_undecryptable(keys: &dyn Keys) {
    let blob = keys.encrypt(b"secret", &tenant_a()).await.unwrap();
    let (_, nonce, ciphertext, tag) = layout(&blob);
    for len in [0, 1, 3, nonce - 1, nonce, ciphertext, tag, blob.len() - 1] {
        assert_undecryptable(keys.decrypt(&blob[..len], &tenant_a()).await, &format!("truncated to {len} bytes"));
    }
    let mut extended = blob.clone();
    extended.push(0);
    assert_undecryptable(keys.decrypt(&extended, &tenant_a()).await, "one byte appended");
    assert_undecryptable(keys.decrypt(&blob[1..], &tenant_a()).await, "first byte dropped");

    // Well framed, but made up: wrapped keys of every size the length prefix allows.
    for wrapped_len in [1u16, 60, 200, 6145, u16::MAX] {
        let mut forged = vec![1];
        forged.extend_from_slice(&wrapped_len.to_be_bytes());
        forged.extend(std::iter::repeat_n(0xa5, usize::from(wrapped_len) + 12 + 16 + 8));
        assert_undecryptable(keys.decrypt(&forged, &tenant_a()).await, &format!("a forged {wrapped_len}-byte key"));
    }
}

async fn invalid_inputs_are_refused(keys: &dyn Keys) {
    let too_long = vec![0u8; MAX_PLAINTEXT + 1];
    assert!(invalid(&keys.encrypt(&too_long, &tenant_a()).await), "a plaintext over 64 KiB");

    let long = "x".repeat(257);
    let nine: EncryptionContext = (0..9).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let bad_contexts = [
        ("no pair", EncryptionContext::new()),
        ("nine pairs", nine),
        ("an empty name", context(&[("", "v")])),
        ("an empty value", context(&[("tenant", "")])),
        ("a 257-byte name", context(&[(&long, "v")])),
        ("a 257-byte value", context(&[("tenant", &long)])),
    ];
    let blob = keys.encrypt(b"secret", &tenant_a()).await.unwrap();
    for (what, bad) in &bad_contexts {
        assert!(invalid(&keys.encrypt(b"secret", bad).await), "encrypt with {what}");
        assert!(invalid(&keys.decrypt(&blob, bad).await), "decrypt with {what}");
    }

    // The limits themselves are fine.
    let widest: EncryptionContext = (0..8).map(|i| (format!("{i}{}", "n".repeat(255)), "v".repeat(256))).collect();
    let blob = keys.encrypt(b"secret", &widest).await.unwrap();
    assert_eq!(keys.decrypt(&blob, &widest).await.unwrap().expose_secret(), b"secret");
}

async fn ready_succeeds(keys: &dyn Keys) {
    keys.ready().await.unwrap();
}

#[cfg(unix)]
async fn the_key_file_is_private_to_this_user() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = TempDir::new();
    let keys = EmbeddedKeys::open(&dir.0).unwrap();
    assert_eq!(keys.path(), dir.0.join("keys").join("master.key"));
    assert_eq!(std::fs::read(keys.path()).unwrap().len(), 32);
    assert_eq!(mode(&dir.0.join("keys")), 0o700);
    assert_eq!(mode(keys.path()), 0o600);

    // Opened again, an existing file and directory that were widened are narrowed.
    std::fs::set_permissions(keys.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.0.join("keys"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let again = EmbeddedKeys::open(&dir.0).unwrap();
    assert_eq!((mode(&dir.0.join("keys")), mode(again.path())), (0o700, 0o600));
}

#[cfg(not(unix))]
async fn the_key_file_is_private_to_this_user() {}

fn embedded_settings(dir: &TempDir) -> StorageSettings {
    let mut settings = StorageSettings::defaults(StorageMode::Embedded);
    settings.data_dir = dir.0.clone();
    settings
}

async fn another_backend_on_the_same_data_dir_decrypts_and_one_on_another_data_dir_does_not() {
    let dir = TempDir::new();
    let first = Backend::open(&embedded_settings(&dir)).await.unwrap();
    let blob = first.keys().await.unwrap().encrypt(b"survives a restart", &tenant_a()).await.unwrap();
    // One key store per backend.
    let (a, b) = (first.keys().await.unwrap(), first.keys().await.unwrap());
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    drop((a, b, first));

    // The embedded store allows one opener at a time: the first backend is closed, as after a restart.
    let second = Backend::open(&embedded_settings(&dir)).await.unwrap();
    let decrypted = second.keys().await.unwrap().decrypt(&blob, &tenant_a()).await.unwrap();
    assert_eq!(decrypted.expose_secret(), b"survives a restart");

    let other_dir = TempDir::new();
    let other = Backend::open(&embedded_settings(&other_dir)).await.unwrap();
    assert_undecryptable(other.keys().await.unwrap().decrypt(&blob, &tenant_a()).await, "another data dir's key");
}

async fn a_blob_made_under_another_kms_key_is_undecryptable() {
    let (ours, theirs) = (kms().await, kms().await);
    let blob = theirs.encrypt(b"secret", &tenant_a()).await.unwrap();
    assert_undecryptable(ours.decrypt(&blob, &tenant_a()).await, "another KMS key's blob");
    assert_eq!(theirs.decrypt(&blob, &tenant_a()).await.unwrap().expose_secret(), b"secret");
}

async fn the_backend_provisions_its_alias_once_and_decrypts_across_instances() {
    let mut settings = StorageSettings::defaults(StorageMode::Aws);
    settings.provision = true;
    settings.table_prefix = format!("{}-", support::unique("keys"));
    settings.kms_key = format!("alias/{}secrets", settings.table_prefix);
    settings.aws.endpoint_url = Some(support::moto_endpoint());
    settings.aws.region = Some("us-east-1".into());

    let first = Backend::open(&settings).await.unwrap();
    let keys = first.keys().await.unwrap();
    keys.ready().await.unwrap();
    let blob = keys.encrypt(b"shared by every instance", &tenant_a()).await.unwrap();

    // Another instance finds the alias and does not make a second key: it decrypts the first one's blobs.
    let second = Backend::open(&settings).await.unwrap();
    let decrypted = second.keys().await.unwrap().decrypt(&blob, &tenant_a()).await.unwrap();
    assert_eq!(decrypted.expose_secret(), b"shared by every instance");

    let client = storage::aws::kms(&support::moto_config().await);
    let key = client.describe_key().key_id(&settings.kms_key).send().await.unwrap();
    assert!(key.key_metadata().is_some_and(|m| m.enabled()));
}
