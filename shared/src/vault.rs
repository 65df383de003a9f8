//! Envelope encryption of credentials.
//!
//! Each credential version gets a fresh data key from the key service, bound to the
//! project, integration and version (the encryption context). The credential fields
//! are sealed with AES-256-GCM under that data key, with the same context as
//! associated data, so a ciphertext moved to another item fails twice over: the key
//! service will not unwrap its data key, and the AEAD tag would not verify.
//!
//! Since context version 2 the context also names the origins (scheme, host, port) the
//! credentials may be sent to: the integration's base URL and token URL as its config
//! renders them. A config change that moves one cannot use the stored credentials
//! (they no longer open); it must come with the credentials again, sealed for the new
//! origins in the same write (`aggregates::integrations::credentials`). Envelopes
//! sealed under version 1 keep opening under it until their next rotation.

use std::collections::{BTreeMap, BTreeSet};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::domain::{CredentialEnvelope, IntegrationName, ProjectId};
use crate::ports::{EncryptionContext, KeyError, KeyService};

/// Plaintext credential fields. Values are secrets: not `Debug`-printable, wiped on
/// drop, and registered for redaction while held (see [`crate::redact`]).
#[derive(Default)]
pub struct Credentials(
    BTreeMap<String, SecretString>,
    Vec<crate::redact::Registration>,
);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Credentials {
    /// No fields yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a field (replacing any value it had) and registers the value for redaction
    /// while these credentials are held.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        self.1
            .push(crate::redact::Registration::new([value.clone()]));
        self.0.insert(name.into(), SecretString::from(value));
    }

    /// A redactor for exactly these values, for output made while they are in use.
    pub fn redactor(&self) -> crate::redact::Redactor {
        let values: Vec<String> = self
            .0
            .values()
            .map(|v| v.expose_secret().to_owned())
            .collect();
        // "user:password" pairs too: Basic auth sends their base64, and a provider that
        // echoes the Authorization header would otherwise carry both in one string.
        let pairs: Vec<String> = values
            .iter()
            .flat_map(|a| {
                values
                    .iter()
                    .filter(move |b| *b != a)
                    .map(move |b| format!("{a}:{b}"))
            })
            .collect();
        crate::redact::Redactor::new(values.into_iter().chain(pairs))
    }

    /// A field's value, if it is set.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name)
    }

    /// The names of the fields set, sorted; never their values.
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

/// Why credentials were not sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key service refused or failed to make or unwrap the data key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The ciphertext does not open: tampered, or moved from another item.
    #[error("the credential envelope does not open for this project and integration")]
    Tampered,
    /// The stored envelope does not decode (bad base64, wrong nonce or key length,
    /// fields that are not a JSON object of strings).
    #[error("the credential envelope is malformed: {0}")]
    Malformed(String),
    /// The audit record could not be written, so the credentials were not released.
    #[error("audit trail unavailable: {0}")]
    AuditUnavailable(String),
    /// [`open_for_claiming`]: the claim was already taken (a duplicate delivery).
    #[error("already claimed by another delivery")]
    Claimed,
}

/// The envelope context version that binds the credentials' destinations.
pub const ORIGIN_BOUND_CONTEXT: u32 = 2;

/// Where an integration's credentials may be sent: the origins (`scheme://host[:port]`)
/// of the URLs its config renders (the API's base URL, the OAuth or SMART token URL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(BTreeSet<String>);

impl Origins {
    /// The origins of a provider's URLs under this config; a URL whose placeholders
    /// are not all set, or that does not parse, adds none.
    pub fn of(
        provider: &crate::catalog::Provider,
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        use crate::catalog::Auth;
        use crate::runtime::oauth::{chosen_auth, render_url};
        let mut templates = vec![provider.base_url.as_str()];
        if let Some(Auth::OAuth2 { token_url, .. } | Auth::SmartBackendServices { token_url, .. }) =
            chosen_auth(provider, config)
        {
            templates.push(token_url);
        }
        let origins = templates
            .into_iter()
            .filter_map(|t| render_url(t, config))
            .filter_map(|u| url::Url::parse(&u).ok())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null")
            .collect();
        Self(origins)
    }

    /// The origins of a stored integration's URLs.
    ///
    /// # Errors
    /// `Malformed` when its provider (or Custom HTTP declaration) no longer loads.
    pub fn of_integration(integration: &crate::domain::Integration) -> Result<Self, VaultError> {
        let provider = crate::catalog::provider_for(
            integration.name.as_str(),
            &integration.provider,
            &integration.config,
        )
        .map_err(|e| VaultError::Malformed(format!("stored integration: {e}")))?;
        Ok(Self::of(&provider, &integration.config))
    }

    /// The origins, sorted.
    pub fn list(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }
}

/// The context a credential version is bound to (context version 1).
pub fn context(
    project: &ProjectId,
    integration: &IntegrationName,
    version: u32,
) -> EncryptionContext {
    EncryptionContext::for_integration(project.as_str(), integration.as_str())
        .with("version", version.to_string())
}

/// The context of an envelope: version 1's, or version 2's with the origins.
fn envelope_context(
    project: &ProjectId,
    integration: &IntegrationName,
    version: u32,
    origins: Option<&Origins>,
) -> EncryptionContext {
    let ctx = context(project, integration, version);
    match origins {
        // Origins never hold a space: one space-separated list is unambiguous.
        Some(origins) => ctx.with("origins", origins.list().join(" ")),
        None => ctx,
    }
}

/// Seals credential fields into a new envelope of the given version (context version
/// 1: bound to project, integration and version only). For values never sent anywhere
/// (a pending Notion verification token); an integration's credentials use
/// [`seal_bound`].
pub async fn seal(
    keys: &dyn KeyService,
    project: &ProjectId,
    integration: &IntegrationName,
    version: u32,
    credentials: &Credentials,
) -> Result<CredentialEnvelope, VaultError> {
    seal_with(keys, project, integration, version, credentials, None).await
}

/// Seals an integration's credentials, bound to the origins they may be sent to
/// (context version 2).
pub async fn seal_bound(
    keys: &dyn KeyService,
    project: &ProjectId,
    integration: &IntegrationName,
    version: u32,
    credentials: &Credentials,
    origins: &Origins,
) -> Result<CredentialEnvelope, VaultError> {
    seal_with(
        keys,
        project,
        integration,
        version,
        credentials,
        Some(origins),
    )
    .await
}

async fn seal_with(
    keys: &dyn KeyService,
    project: &ProjectId,
    integration: &IntegrationName,
    version: u32,
    credentials: &Credentials,
    origins: Option<&Origins>,
) -> Result<CredentialEnvelope, VaultError> {
    let ctx = envelope_context(project, integration, version, origins);
    let data_key = keys.generate_data_key(&ctx).await?;
    let mut object = serde_json::Map::new();
    for (name, value) in &credentials.0 {
        object.insert(
            name.clone(),
            serde_json::Value::String(value.expose_secret().to_owned()),
        );
    }
    let plaintext = Zeroizing::new(
        serde_json::to_vec(&object).map_err(|e| VaultError::Malformed(e.to_string()))?,
    );
    // The map holds copies of the secrets; wipe them too.
    for (_, value) in object.iter_mut() {
        if let serde_json::Value::String(s) = value {
            zeroize::Zeroize::zeroize(s);
        }
    }
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| KeyError::Unavailable(e.to_string()))?;
    let cipher = Aes256Gcm::new_from_slice(data_key.plaintext.as_slice())
        .map_err(|e| VaultError::Malformed(e.to_string()))?;
    let aad = ctx.canonical_bytes();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Malformed("encryption failed".into()))?;
    Ok(CredentialEnvelope {
        version,
        context: if origins.is_some() {
            ORIGIN_BOUND_CONTEXT
        } else {
            1
        },
        key_id: data_key.key_id.clone(),
        wrapped_key: B64.encode(&data_key.wrapped),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ciphertext),
        fields: credentials.names(),
    })
}

/// Opens an envelope of context version 1 for the project and integration it is stored
/// under (one of version 2 needs its origins: [`open_bound`]).
pub async fn open(
    keys: &dyn KeyService,
    project: &ProjectId,
    integration: &IntegrationName,
    envelope: &CredentialEnvelope,
) -> Result<Credentials, VaultError> {
    open_bound(keys, project, integration, envelope, &Origins::default()).await
}

/// Opens an envelope for the project and integration it is stored under and, if it
/// was sealed under context version 2, for the origins its config renders now: sealed
/// for other origins, it does not open ([`VaultError::Tampered`]).
pub async fn open_bound(
    keys: &dyn KeyService,
    project: &ProjectId,
    integration: &IntegrationName,
    envelope: &CredentialEnvelope,
    origins: &Origins,
) -> Result<Credentials, VaultError> {
    let decode = |field: &str, v: &str| {
        B64.decode(v)
            .map_err(|e| VaultError::Malformed(format!("{field}: {e}")))
    };
    let wrapped = decode("wrapped_key", &envelope.wrapped_key)?;
    let nonce = decode("nonce", &envelope.nonce)?;
    let ciphertext = decode("ciphertext", &envelope.ciphertext)?;
    if nonce.len() != 12 {
        return Err(VaultError::Malformed("nonce must be 12 bytes".into()));
    }
    let ctx = match envelope.context {
        1 => context(project, integration, envelope.version),
        ORIGIN_BOUND_CONTEXT => {
            envelope_context(project, integration, envelope.version, Some(origins))
        }
        other => {
            return Err(VaultError::Malformed(format!(
                "unknown envelope context version {other}"
            )));
        }
    };
    let data_key = match keys.decrypt_data_key(&wrapped, &ctx).await {
        Ok(k) => k,
        Err(KeyError::Rejected) => return Err(VaultError::Tampered),
        Err(e) => return Err(e.into()),
    };
    let cipher = Aes256Gcm::new_from_slice(data_key.as_slice())
        .map_err(|e| VaultError::Malformed(e.to_string()))?;
    let aad = ctx.canonical_bytes();
    let plaintext = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Tampered)?,
    );
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&plaintext)
        .map_err(|_| VaultError::Malformed("not a JSON object".into()))?;
    let mut credentials = Credentials::new();
    for (name, value) in object {
        match value {
            serde_json::Value::String(s) => credentials.insert(name, s),
            _ => {
                return Err(VaultError::Malformed(format!(
                    "field {name} is not a string"
                )));
            }
        }
    }
    Ok(credentials)
}

/// Opens an integration's credentials for one use, and writes the audit record that
/// names the use: project, integration, credential version, purpose, cause, outcome.
/// A failed decryption is audited too. If the audit record cannot be written, the
/// credentials are not handed out.
pub async fn open_for(
    deps: &crate::ports::Deps,
    project: &ProjectId,
    integration: &crate::domain::Integration,
    purpose: crate::domain::AuditPurpose,
    cause: serde_json::Value,
) -> Result<Credentials, VaultError> {
    open_audited(deps, project, integration, None, purpose, cause, None).await
}

/// As [`open_for`], with a claim (a conditional write, such as a live step's
/// `NotExists` claim) written in the same transaction as the audit record: one commit
/// instead of two before a live call. If the claim's condition fails, the credentials
/// are not handed out ([`VaultError::Claimed`]) and the decryption is still audited,
/// with an outcome that says it went unused. `origins` are the integration's, from the
/// provider the caller already has (a Custom HTTP provider is not built again).
pub async fn open_for_claiming(
    deps: &crate::ports::Deps,
    project: &ProjectId,
    integration: &crate::domain::Integration,
    origins: &Origins,
    purpose: crate::domain::AuditPurpose,
    cause: serde_json::Value,
    claim: crate::ports::Write,
) -> Result<Credentials, VaultError> {
    open_audited(
        deps,
        project,
        integration,
        Some(origins),
        purpose,
        cause,
        Some(claim),
    )
    .await
}

async fn open_audited(
    deps: &crate::ports::Deps,
    project: &ProjectId,
    integration: &crate::domain::Integration,
    origins: Option<&Origins>,
    purpose: crate::domain::AuditPurpose,
    cause: serde_json::Value,
    claim: Option<crate::ports::Write>,
) -> Result<Credentials, VaultError> {
    use crate::ports::StoreError;
    // A failed decryption is audited on its own inside open_deferred.
    let (credentials, audit) =
        open_deferred_with(deps, project, integration, origins, purpose, cause).await?;
    let Some(claim) = claim else {
        audit.write_alone(deps).await?;
        return Ok(credentials);
    };
    match deps.store.transact(vec![audit.write(), claim]).await {
        Ok(()) => Ok(credentials),
        Err(StoreError::ConditionFailed { index: Some(1) }) => {
            // Not used, but decrypted: that is audited too.
            audit
                .noting("not used: already claimed (duplicate delivery)")
                .write_alone(deps)
                .await?;
            Err(VaultError::Claimed)
        }
        Err(e) => Err(VaultError::AuditUnavailable(e.to_string())),
    }
}

/// An audit record whose writing is left to the caller, to go into the caller's own
/// transaction (see [`open_deferred`]) or on its own.
#[must_use = "an opening's audit record must be written"]
pub struct PendingAudit(crate::ports::Key, crate::domain::AuditRecord);

impl PendingAudit {
    /// The record as a write, for the caller's transaction (append only: `NotExists`).
    /// Serialized straight from the record; a record that does not serialize (it always
    /// does: strings, numbers and a JSON cause) still makes a write that fails the
    /// transaction rather than one that drops the record.
    pub fn write(&self) -> crate::ports::Write {
        use crate::ports::{Condition, RawItem, Write};
        match RawItem::of(self.0.clone(), &self.1) {
            Ok(item) => Write::PutRaw(item, Condition::NotExists),
            Err(_) => Write::Check(self.0.clone(), Condition::Exists),
        }
    }

    /// The same record with a note after its outcome ("decrypted; <note>").
    fn noting(mut self, note: &str) -> Self {
        self.1.outcome = self.1.outcome.noting(note);
        self
    }

    /// Writes the record on its own.
    pub async fn write_alone(self, deps: &crate::ports::Deps) -> Result<(), VaultError> {
        let item = crate::ports::Item::of(self.0, &self.1)
            .map_err(|e| VaultError::AuditUnavailable(e.to_string()))?;
        deps.store
            .put(item, crate::ports::Condition::NotExists)
            .await
            .map_err(|e| VaultError::AuditUnavailable(e.to_string()))
    }
}

/// Opens credentials for a use that has no effect outside this process until the
/// caller's transaction commits (checking a webhook's signature), and returns the
/// audit record for the caller to write in that transaction — one commit instead of
/// two — or on its own on every path that commits nothing ([`PendingAudit`]). The
/// record is durable before anything the use decides becomes visible. A failed
/// decryption is audited at once, as [`open_for`] does.
pub async fn open_deferred(
    deps: &crate::ports::Deps,
    project: &ProjectId,
    integration: &crate::domain::Integration,
    purpose: crate::domain::AuditPurpose,
    cause: serde_json::Value,
) -> Result<(Credentials, PendingAudit), VaultError> {
    open_deferred_with(deps, project, integration, None, purpose, cause).await
}

/// As [`open_deferred`], with the integration's origins when the caller has them.
async fn open_deferred_with(
    deps: &crate::ports::Deps,
    project: &ProjectId,
    integration: &crate::domain::Integration,
    origins: Option<&Origins>,
    purpose: crate::domain::AuditPurpose,
    cause: serde_json::Value,
) -> Result<(Credentials, PendingAudit), VaultError> {
    let derived;
    let origins = match origins {
        Some(o) => Ok(o),
        None => {
            derived = Origins::of_integration(integration);
            derived.as_ref()
        }
    };
    let result = match origins {
        // Origins::of_integration fails only as Malformed.
        Err(VaultError::Malformed(m)) => Err(VaultError::Malformed(m.clone())),
        Err(other) => Err(VaultError::Malformed(other.to_string())),
        Ok(origins) => {
            open_bound(
                deps.keys.as_ref(),
                project,
                &integration.name,
                &integration.credentials,
                origins,
            )
            .await
        }
    };
    let outcome = match &result {
        Ok(_) => crate::domain::AuditOutcome::Decrypted,
        Err(e) => crate::domain::AuditOutcome::Failed(e.to_string()),
    };
    let audit = audit_record(
        deps,
        project,
        &integration.name,
        integration.credentials.version,
        purpose,
        cause,
        outcome,
    );
    match result {
        Ok(credentials) => Ok((credentials, audit)),
        Err(e) => {
            audit.write_alone(deps).await?;
            Err(e)
        }
    }
}

/// An audit record, for the caller to write in its own transaction
/// ([`PendingAudit::write`]) or on its own ([`PendingAudit::write_alone`]). Append only:
/// it is written with `NotExists`.
pub fn audit_record(
    deps: &crate::ports::Deps,
    project: &ProjectId,
    integration: &IntegrationName,
    credential_version: u32,
    purpose: crate::domain::AuditPurpose,
    cause: serde_json::Value,
    outcome: crate::domain::AuditOutcome,
) -> PendingAudit {
    let at = deps.clock.now();
    let id = deps.ids.new_id();
    let key = crate::aggregates::integrations::audit_key(project, integration, &at, &id);
    let record = crate::domain::AuditRecord {
        id,
        project: project.clone(),
        integration: integration.clone(),
        credential_version,
        purpose,
        cause,
        at,
        outcome,
    };
    PendingAudit(key, record)
}
