//! `KmsKeyService`: data keys from AWS KMS, bound to an EncryptionContext.
//!
//! KMS records the context in CloudTrail with every Decrypt, and refuses a Decrypt
//! whose context differs from the one the key was generated under; the context names
//! the project and integration, so a wrapped key is useless on another's item.

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::Zeroizing;

use crate::ports::{DataKey, EncryptionContext, KeyError, KeyService};

/// The [`KeyService`] on AWS KMS: `GenerateDataKey` and `Decrypt` with the context.
pub struct KmsKeyService {
    client: Client,
    key_id: String,
}

impl KmsKeyService {
    /// Data keys wrapped under the KMS key `key_id` (id, ARN or alias).
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }

    fn context(context: &EncryptionContext) -> std::collections::HashMap<String, String> {
        context
            .pairs()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn to_key(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(KeyError::Misconfigured(format!(
            "KMS returned a {}-byte data key, expected 32",
            bytes.len()
        )));
    }
    key.copy_from_slice(bytes);
    Ok(key)
}

#[async_trait]
impl KeyService for KmsKeyService {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, KeyError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(Self::context(context)))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception() || s.is_disabled_exception())
                {
                    KeyError::Misconfigured(format!("kms: {}", DisplayErrorContext(&e)))
                } else {
                    KeyError::Unavailable(format!("kms: {}", DisplayErrorContext(&e)))
                }
            })?;
        let plaintext = out
            .plaintext
            .ok_or_else(|| KeyError::Unavailable("kms returned no plaintext".into()))?;
        // Copy straight into a zeroizing buffer; the SDK's own Blob is dropped here.
        let plaintext = to_key(plaintext.as_ref())?;
        let wrapped = out
            .ciphertext_blob
            .ok_or_else(|| KeyError::Unavailable("kms returned no ciphertext".into()))?
            .into_inner();
        let key_id = out.key_id.unwrap_or_else(|| self.key_id.clone());
        Ok(DataKey {
            plaintext,
            wrapped,
            key_id,
        })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.to_vec()))
            .set_encryption_context(Some(Self::context(context)))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s)
                    if s.is_invalid_ciphertext_exception() || s.is_incorrect_key_exception() =>
                {
                    KeyError::Rejected
                }
                _ => KeyError::Unavailable(format!("kms: {}", DisplayErrorContext(&e))),
            })?;
        let plaintext = out
            .plaintext
            .ok_or_else(|| KeyError::Unavailable("kms returned no plaintext".into()))?;
        to_key(plaintext.as_ref())
    }
}
