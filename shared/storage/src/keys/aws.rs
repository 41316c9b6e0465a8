//! The keys port on AWS KMS: `GenerateDataKey` gives each encryption its data key, in plaintext (used once,
//! then zeroed) and wrapped by the KMS key (kept in the blob); decrypting asks KMS's `Decrypt` to unwrap it.
//!
//! The encryption context goes to KMS as well as into the local AAD, so KMS refuses to unwrap a data key for
//! another context, CloudTrail records which tenant's secret each call touched, and key policies can be
//! conditioned on it (`kms:EncryptionContext:tenant`). The Lambda role needs `kms:GenerateDataKey` and
//! `kms:Decrypt` on the key, and `kms:DescribeKey` for [`Keys::ready`].

use std::collections::HashMap;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use secrecy::SecretSlice;
use secrecy::zeroize::Zeroizing;

use super::{EncryptionContext, Envelope, KEY_LEN, Keys, canonical_context};
use crate::{StoreError, StoreResult};

/// The longest `CiphertextBlob` KMS's Decrypt accepts.
const MAX_CIPHERTEXT_BLOB: usize = 6144;

pub struct KmsKeys {
    client: Client,
    /// A key id, key ARN or `alias/…`.
    key_id: String,
}

impl KmsKeys {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }
}

fn unexpected(e: impl std::error::Error + Send + Sync + 'static, what: String) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e).context(what))
}

fn kms_context(context: &EncryptionContext) -> HashMap<String, String> {
    context.iter().map(|(name, value)| (name.clone(), value.clone())).collect()
}

/// Whether KMS refused to unwrap because of the ciphertext (tampered, another context, another key), as opposed
/// to a fault of ours (permissions, throttling, a missing key), which must stay loud. Given the `KeyId`, KMS answers
/// a blob under another key with `IncorrectKeyException`; without access to the key the blob names, with
/// `AccessDeniedException` "The ciphertext refers to a customer master key that does not exist…", which moto
/// sends with no message at all. An access denial that names the caller ("User: … is not authorized to perform:
/// kms:Decrypt") is a permission problem, not a bad blob.
fn refused_ciphertext(e: &DecryptError) -> bool {
    e.is_invalid_ciphertext_exception()
        || e.is_incorrect_key_exception()
        || (e.code() == Some("AccessDeniedException")
            && e.message().is_none_or(|m| m.is_empty() || m.starts_with("The ciphertext refers to")))
}

#[async_trait]
impl Keys for KmsKeys {
    #[tracing::instrument(skip_all, fields(key = %self.key_id))]
    async fn encrypt(&self, plaintext: &[u8], context: &EncryptionContext) -> StoreResult<Vec<u8>> {
        super::validate_encrypt(plaintext, context)?;
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|e| unexpected(e, format!("Failed to generate a data key under {}", self.key_id)))?;
        let data_key = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        let wrapped_key = out.ciphertext_blob.map(Blob::into_inner).unwrap_or_default();
        if data_key.len() != KEY_LEN || wrapped_key.is_empty() {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "KMS returned no {KEY_LEN}-byte data key, or no wrapped key, from GenerateDataKey"
            )));
        }
        super::seal_envelope(&data_key, &wrapped_key, &canonical_context(context), plaintext)
    }

    #[tracing::instrument(skip_all, fields(key = %self.key_id))]
    async fn decrypt(&self, envelope: &[u8], context: &EncryptionContext) -> StoreResult<SecretSlice<u8>> {
        super::validate_context(context)?;
        let envelope = Envelope::parse(envelope)?;
        // KMS refuses longer ones as invalid requests; no blob it made is.
        if envelope.wrapped_key.len() > MAX_CIPHERTEXT_BLOB {
            return Err(StoreError::Undecryptable);
        }
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(envelope.wrapped_key))
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|e| match e {
                SdkError::ServiceError(ref service) if refused_ciphertext(service.err()) => StoreError::Undecryptable,
                e => unexpected(e, format!("Failed to decrypt a data key under {}", self.key_id)),
            })?;
        let data_key = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        super::open_payload(&data_key, &canonical_context(context), envelope.sealed)
    }

    async fn ready(&self) -> StoreResult<()> {
        self.client
            .describe_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(|e| unexpected(e, format!("Failed to describe the KMS key {}", self.key_id)))?;
        Ok(())
    }
}

/// Creates a symmetric key and `alias` for it unless the alias exists (emulators and tests; a deployment
/// brings its own key). Two racing provisioners may both create a key; one alias wins, the other key idles.
pub async fn ensure_alias(client: &Client, alias: &str) -> anyhow::Result<()> {
    match client.describe_key().key_id(alias).send().await {
        Ok(_) => return Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found_exception()) => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("Failed to describe the KMS key {alias}"))),
    }
    let key = client
        .create_key()
        .description(format!("Envelope encryption of secrets at rest ({alias})"))
        .send()
        .await
        .with_context(|| format!("Failed to create a KMS key for {alias}"))?;
    let key_id = key.key_metadata().map(|m| m.key_id().to_owned()).context("KMS created a key without an id")?;
    match client.create_alias().alias_name(alias).target_key_id(&key_id).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("Failed to create the KMS alias {alias}"))),
    }
}
