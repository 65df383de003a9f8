//! Key service conformance: `LocalKeyService` and `KmsKeyService` (on moto) behave
//! alike, and the vault's envelopes are bound to their project and integration.

use std::sync::Arc;

use secrecy::ExposeSecret;
use shared::adapters::KmsKeyService;
use shared::domain::{IntegrationName, ProjectId};
use shared::ports::{EncryptionContext, KeyError, KeyService};
use shared::vault::{self, Credentials, VaultError};
use studio_tests::{create_key, moto_endpoint, sdk_config};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let keys = shared::adapters::LocalKeyService::open_or_create(&dir.path().join("master.key"))
                        .expect("keys");
                    super::$name(std::sync::Arc::new(keys)).await;
                }
            )*
        }
        mod kms {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(keys) = super::kms().await {
                        super::$name(keys).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    a_data_key_unwraps_under_its_own_context,
    a_wrapped_key_does_not_unwrap_under_another_projects_or_integrations_context,
    a_tampered_wrapped_key_is_rejected,
    an_envelope_opens_only_on_its_own_project_integration_and_version,
);

async fn kms() -> Option<Arc<dyn KeyService>> {
    let endpoint = moto_endpoint()?;
    let sdk = sdk_config(&endpoint).await;
    let key_id = create_key(&sdk).await;
    Some(Arc::new(KmsKeyService::new(
        aws_sdk_kms::Client::new(&sdk),
        key_id,
    )))
}

fn ctx(project: &str, integration: &str) -> EncryptionContext {
    EncryptionContext::for_integration(project, integration)
}

async fn a_data_key_unwraps_under_its_own_context(keys: Arc<dyn KeyService>) {
    let c = ctx("clinic", "postmark");
    let made = keys.generate_data_key(&c).await.expect("generate");
    assert_ne!(
        made.wrapped.as_slice(),
        made.plaintext.as_slice(),
        "the wrapped key is not the key"
    );
    let opened = keys
        .decrypt_data_key(&made.wrapped, &c)
        .await
        .expect("decrypt");
    assert_eq!(*opened, *made.plaintext);
    let other = keys.generate_data_key(&c).await.expect("generate");
    assert_ne!(*other.plaintext, *made.plaintext, "every data key is fresh");
}

async fn a_wrapped_key_does_not_unwrap_under_another_projects_or_integrations_context(
    keys: Arc<dyn KeyService>,
) {
    let made = keys
        .generate_data_key(&ctx("clinic", "postmark"))
        .await
        .expect("generate");
    for wrong in [
        ctx("other-clinic", "postmark"),
        ctx("clinic", "stripe"),
        ctx("clinic", "postmark").with("version", "2"),
    ] {
        assert_eq!(
            keys.decrypt_data_key(&made.wrapped, &wrong).await,
            Err(KeyError::Rejected),
            "{wrong:?}"
        );
    }
    assert_eq!(
        keys.decrypt_data_key(&made.wrapped, &EncryptionContext::default())
            .await,
        Err(KeyError::Rejected)
    );
}

async fn a_tampered_wrapped_key_is_rejected(keys: Arc<dyn KeyService>) {
    let c = ctx("clinic", "postmark");
    let made = keys.generate_data_key(&c).await.expect("generate");
    let mut tampered = made.wrapped.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    assert_eq!(
        keys.decrypt_data_key(&tampered, &c).await,
        Err(KeyError::Rejected)
    );
    assert_eq!(
        keys.decrypt_data_key(&[], &c).await,
        Err(KeyError::Rejected)
    );
}

async fn an_envelope_opens_only_on_its_own_project_integration_and_version(
    keys: Arc<dyn KeyService>,
) {
    let project = ProjectId::parse("clinic").expect("id");
    let integration = IntegrationName::parse("postmark").expect("name");
    let canary = "canary-server-token-6f1c2d";
    let mut credentials = Credentials::new();
    credentials.insert("server_token", canary);
    let envelope = vault::seal(keys.as_ref(), &project, &integration, 1, &credentials)
        .await
        .expect("seal");
    let stored = serde_json::to_string(&envelope).expect("json");
    assert!(!stored.contains(canary), "the envelope holds no plaintext");
    assert_eq!(envelope.fields, vec!["server_token".to_owned()]);

    let opened = vault::open(keys.as_ref(), &project, &integration, &envelope)
        .await
        .expect("open");
    assert_eq!(
        opened
            .get("server_token")
            .map(|s| s.expose_secret().to_owned()),
        Some(canary.to_owned())
    );

    let other_project = ProjectId::parse("other-clinic").expect("id");
    let other_integration = IntegrationName::parse("clinic-mail").expect("name");
    assert!(matches!(
        vault::open(keys.as_ref(), &other_project, &integration, &envelope).await,
        Err(VaultError::Tampered)
    ));
    assert!(matches!(
        vault::open(keys.as_ref(), &project, &other_integration, &envelope).await,
        Err(VaultError::Tampered)
    ));
    let mut relabelled = envelope.clone();
    relabelled.version = 2;
    assert!(matches!(
        vault::open(keys.as_ref(), &project, &integration, &relabelled).await,
        Err(VaultError::Tampered)
    ));
    let debug = format!("{opened:?}");
    assert!(
        !debug.contains(canary),
        "Debug never prints a secret: {debug}"
    );
}
