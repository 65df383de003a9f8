//! `LocalKeyService`: envelope key wrapping under a local master key.
//!
//! The master key is 32 random bytes in a file created on first start with mode 0600.
//! A data key is wrapped with AES-256-GCM under the master key, with the encryption
//! context as associated data: unwrapping under any other context fails the tag check,
//! exactly as KMS refuses a Decrypt whose EncryptionContext differs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ports::{DataKey, EncryptionContext, KeyError, KeyService};

/// Format byte of a wrapped key, so the layout can change without ambiguity.
const WRAP_V1: u8 = 1;
const NONCE_LEN: usize = 12;

/// The embedded [`KeyService`]: data keys wrapped with AES-256-GCM under a master key
/// kept in a local file.
pub struct LocalKeyService {
    cipher: Aes256Gcm,
    key_id: String,
    path: PathBuf,
}

impl LocalKeyService {
    /// Loads the master key from `path`, creating it (mode 0600) if it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, KeyError> {
        let key = match std::fs::read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path)?,
            Err(e) => {
                return Err(KeyError::Misconfigured(format!(
                    "cannot read master key {}: {e}",
                    path.display()
                )));
            }
        };
        if key.len() != 32 {
            return Err(KeyError::Misconfigured(format!(
                "master key {} must be exactly 32 bytes, found {}",
                path.display(),
                key.len()
            )));
        }
        let cipher =
            Aes256Gcm::new_from_slice(&key).map_err(|e| KeyError::Misconfigured(e.to_string()))?;
        // The key id names the key without revealing it: a hash of a hash.
        let fingerprint = Sha256::digest(Sha256::digest(key.as_slice()));
        let key_id = format!("local:{}", hex::encode(&fingerprint[..8]));
        Ok(Self {
            cipher,
            key_id,
            path: path.to_owned(),
        })
    }

    fn create(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let mut key = Zeroizing::new(vec![0u8; 32]);
        getrandom::fill(&mut key).map_err(|e| KeyError::Misconfigured(e.to_string()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                KeyError::Misconfigured(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut options = std::fs::OpenOptions::new();
        // create_new: never overwrite a key another process made a moment ago.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(&key)
                    .and_then(|_| file.sync_all())
                    .map_err(|e| {
                        KeyError::Misconfigured(format!("cannot write master key: {e}"))
                    })?;
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(path)
                .map(Zeroizing::new)
                .map_err(|e| KeyError::Misconfigured(format!("cannot read master key: {e}"))),
            Err(e) => Err(KeyError::Misconfigured(format!(
                "cannot create master key {}: {e}",
                path.display()
            ))),
        }
    }

    /// The master key's id: `local:` and a fingerprint that does not reveal the key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The master key's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl KeyService for LocalKeyService {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, KeyError> {
        let mut plaintext = Zeroizing::new([0u8; 32]);
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(plaintext.as_mut_slice())
            .and_then(|_| getrandom::fill(&mut nonce))
            .map_err(|e| KeyError::Unavailable(e.to_string()))?;
        let aad = context.canonical_bytes();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_slice(),
                    aad: &aad,
                },
            )
            .map_err(|_| KeyError::Unavailable("wrapping failed".into()))?;
        let mut wrapped = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        wrapped.push(WRAP_V1);
        wrapped.extend_from_slice(&nonce);
        wrapped.extend_from_slice(&sealed);
        Ok(DataKey {
            plaintext,
            wrapped,
            key_id: self.key_id.clone(),
        })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let (version, rest) = wrapped.split_first().ok_or(KeyError::Rejected)?;
        if *version != WRAP_V1 || rest.len() < NONCE_LEN + 16 {
            return Err(KeyError::Rejected);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let aad = context.canonical_bytes();
        let opened = Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: &aad,
                    },
                )
                .map_err(|_| KeyError::Rejected)?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if opened.len() != 32 {
            return Err(KeyError::Rejected);
        }
        key.copy_from_slice(&opened);
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/master.key");
        let first = LocalKeyService::open_or_create(&path).expect("created");
        let second = LocalKeyService::open_or_create(&path).expect("reopened");
        assert_eq!(first.key_id(), second.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_master_key_of_the_wrong_size_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("short.key");
        std::fs::write(&path, b"short").expect("write");
        let err = LocalKeyService::open_or_create(&path)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("short.key"), "{err}");
    }
}
