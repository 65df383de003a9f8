//! Secrets are bound to where they go: a config change that moves an origin the
//! credentials are sent to (a base URL, a token URL, a login host) is refused unless it
//! brings the credentials again, and then it is one audited rotation naming both
//! origins. Sealed credentials do not open for other origins at all, so even a config
//! written around the API cannot redirect them.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::{Integration, IntegrationName, ProjectId};
use shared::ports::{Condition, Item, Key};
use shared::vault::{self, Credentials, Origins};

use crate::api::TestApp;

const CANARY: &str = "origin-canary-7f3a9c2e5b1d";
/// A PEM that is well formed (the create-time check), never used to sign here.
const PEM: &str = "-----BEGIN PRIVATE KEY-----\nTk9ULUEtUkVBTC1LRVk=\n-----END PRIVATE KEY-----\n";

struct Case {
    what: &'static str,
    create: Value,
    /// The config change that moves an origin.
    moving: Value,
    credentials: Value,
    from: &'static str,
    to: &'static str,
}

fn cases() -> Vec<Case> {
    let custom_config = json!({"base_url": "https://inventory.example.com/api", "auth": {"scheme": "bearer"},
        "endpoints": [{"name": "list_items", "method": "GET", "path": "/items", "description": "Lists the items."}]});
    let salesforce =
        json!({"client_id": "cid", "client_secret": CANARY, "refresh_token": "rt-origin"});
    let smart = json!({"client_id": "cid", "private_key": PEM});
    vec![
        Case {
            what: "Custom HTTP base_url",
            create: json!({"provider": "custom_http", "config": custom_config, "credentials": {"token": CANARY}}),
            moving: json!({"base_url": "https://collector.attacker.example"}),
            credentials: json!({"token": CANARY}),
            from: "https://inventory.example.com",
            to: "https://collector.attacker.example",
        },
        Case {
            what: "FHIR base_url",
            create: json!({"provider": "fhir", "config": {"base_url": "https://fhir.example.org/r4"},
                           "credentials": {"access_token": CANARY}}),
            moving: json!({"base_url": "https://fhir.attacker.example/r4"}),
            credentials: json!({"access_token": CANARY}),
            from: "https://fhir.example.org",
            to: "https://fhir.attacker.example",
        },
        Case {
            what: "FHIR token_url",
            create: json!({"provider": "fhir", "credentials": smart.clone(),
                           "config": {"base_url": "https://fhir.example.org/r4", "auth_type": "smart_backend_services",
                                      "token_url": "https://auth.example.org/token"}}),
            moving: json!({"token_url": "https://auth.attacker.example:8443/token"}),
            credentials: smart,
            from: "https://auth.example.org",
            to: "https://auth.attacker.example:8443",
        },
        Case {
            what: "Salesforce instance_url",
            create: json!({"provider": "salesforce", "config": {"instance_url": "https://acme.my.salesforce.com"},
                           "credentials": salesforce.clone()}),
            moving: json!({"instance_url": "https://acme.attacker.example"}),
            credentials: salesforce.clone(),
            from: "https://acme.my.salesforce.com",
            to: "https://acme.attacker.example",
        },
        Case {
            what: "Salesforce login_host (the OAuth token URL)",
            create: json!({"provider": "salesforce", "config": {"instance_url": "https://acme.my.salesforce.com"},
                           "credentials": salesforce.clone()}),
            moving: json!({"login_host": "login.attacker.example"}),
            credentials: salesforce,
            from: "https://login.salesforce.com",
            to: "https://login.attacker.example",
        },
    ]
}

async fn audit(app: &TestApp, p: &str, token: &str, name: &str) -> Vec<Value> {
    let answer = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/{name}/audit?limit=200"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_change_that_moves_an_origin_needs_the_credentials_again_and_is_one_audited_rotation() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    for (i, case) in cases().into_iter().enumerate() {
        let name = format!("conn-{i}");
        let mut create = case.create.clone();
        create["name"] = json!(name);
        let created = app
            .call(
                Method::POST,
                &format!("/projects/{p}/integrations"),
                Some(&token),
                Some(create),
            )
            .await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{}: {}",
            case.what,
            created.body
        );
        let path = format!("/projects/{p}/integrations/{name}");
        let before = app.call(Method::GET, &path, Some(&token), None).await.body;
        let records = audit(&app, &p, &token, &name).await.len();

        // Without the credentials: refused, and nothing changes.
        let refused = app
            .call(
                Method::PATCH,
                &path,
                Some(&token),
                Some(json!({"config": case.moving})),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {}",
            case.what,
            refused.body
        );
        assert_eq!(
            refused.body["errors"][0]["field"], "credentials",
            "{}",
            case.what
        );
        let message = refused.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains(case.from) && message.contains(case.to),
            "{}: {message}",
            case.what
        );
        assert!(!refused.body.to_string().contains(CANARY));
        let after = app.call(Method::GET, &path, Some(&token), None).await.body;
        assert_eq!(after, before, "{}: nothing changed", case.what);
        assert_eq!(
            audit(&app, &p, &token, &name).await.len(),
            records,
            "{}",
            case.what
        );

        // With them: one rotation, sealed for the new origin, audited with both.
        let moved = app
            .call(
                Method::PATCH,
                &path,
                Some(&token),
                Some(json!({"config": case.moving, "credentials": case.credentials})),
            )
            .await;
        assert_eq!(
            moved.status,
            StatusCode::OK,
            "{}: {}",
            case.what,
            moved.body
        );
        assert_eq!(moved.body["credential_version"], 2, "{}", case.what);
        let trail = audit(&app, &p, &token, &name).await;
        assert_eq!(trail.len(), records + 1, "{}", case.what);
        let record = &trail[0];
        assert_eq!(record["outcome"], "rotated", "{}: {record}", case.what);
        assert_eq!(record["credential_version"], 2);
        let from = record["cause"]["origins"]["from"].to_string();
        let to = record["cause"]["origins"]["to"].to_string();
        assert!(
            from.contains(case.from) && !from.contains(case.to),
            "{}: {record}",
            case.what
        );
        assert!(
            to.contains(case.to) && !to.contains(case.from),
            "{}: {record}",
            case.what
        );
        assert!(!record.to_string().contains(CANARY));
        let stored = app
            .local
            .deps
            .store
            .get(&Key::new(format!("P#{p}"), format!("I#{name}")))
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(stored.doc["credentials"]["context"], 2, "{}", case.what);
    }
}

/// A FHIR integration `ehr` with a bearer token, on https://fhir.example.org.
async fn create_ehr(app: &TestApp, p: &str, token: &str) {
    let created = app
        .call(
            Method::POST,
            &format!("/projects/{p}/integrations"),
            Some(token),
            Some(json!({"name": "ehr", "provider": "fhir", "config": {"base_url": "https://fhir.example.org/r4"},
                        "credentials": {"access_token": CANARY}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

#[tokio::test]
async fn a_change_that_keeps_every_origin_needs_no_credentials() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    create_ehr(&app, &p, &token).await;
    // Another path on the same origin, and a setting that is not a URL.
    let kept = app
        .call(
            Method::PATCH,
            &format!("/projects/{p}/integrations/ehr"),
            Some(&token),
            Some(json!({"config": {"base_url": "https://fhir.example.org/R4/v2", "subscription_header": "X-Sub"}})),
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(kept.body["credential_version"], 1);
}

fn integration(config: Value, envelope: shared::domain::CredentialEnvelope) -> Integration {
    let now = chrono::Utc::now();
    Integration {
        name: IntegrationName::parse("ehr").expect("name"),
        provider: "fhir".into(),
        config: serde_json::from_value(config).expect("config"),
        credentials: envelope,
        created_at: now,
        updated_at: now,
        revision: 0,
        needs_attention: None,
        agent_live: false,
        token_expires_at: None,
    }
}

#[tokio::test]
async fn sealed_credentials_do_not_open_for_another_origin_and_old_envelopes_still_open() {
    let app = TestApp::new();
    let keys = app.local.deps.keys.clone();
    let project = ProjectId::parse("clinic").expect("id");
    let name = IntegrationName::parse("ehr").expect("name");
    let home = json!({"base_url": "https://fhir.example.org/r4"});
    let away = json!({"base_url": "https://fhir.attacker.example/r4"});
    let mut credentials = Credentials::new();
    credentials.insert("access_token", CANARY);

    let origins = Origins::of_integration(&integration(home.clone(), empty())).expect("origins");
    assert_eq!(origins.list(), vec!["https://fhir.example.org".to_owned()]);
    let bound = vault::seal_bound(keys.as_ref(), &project, &name, 1, &credentials, &origins)
        .await
        .expect("seal");
    assert_eq!(bound.context, 2);
    for (config, opens) in [(home.clone(), true), (away.clone(), false)] {
        let stored = integration(config, bound.clone());
        let at = Origins::of_integration(&stored).expect("origins");
        let opened = vault::open_bound(keys.as_ref(), &project, &name, &bound, &at).await;
        assert_eq!(opened.is_ok(), opens, "{:?}", at);
        if let Err(e) = opened {
            assert!(matches!(e, vault::VaultError::Tampered), "{e}");
            assert!(!e.to_string().contains(CANARY));
        }
    }

    // An envelope sealed before origins were bound keeps opening until it is rotated.
    let legacy = vault::seal(keys.as_ref(), &project, &name, 1, &credentials)
        .await
        .expect("seal");
    assert_eq!(legacy.context, 1);
    let at = Origins::of_integration(&integration(home, legacy.clone())).expect("origins");
    assert!(
        vault::open_bound(keys.as_ref(), &project, &name, &legacy, &at)
            .await
            .is_ok()
    );
}

fn empty() -> shared::domain::CredentialEnvelope {
    serde_json::from_value(
        json!({"version": 1, "key_id": "", "wrapped_key": "", "nonce": "",
                                  "ciphertext": "", "fields": []}),
    )
    .expect("envelope")
}

#[tokio::test]
async fn a_config_written_around_the_api_cannot_send_the_secret_elsewhere() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    create_ehr(&app, &p, &token).await;
    // The stored item edited directly: the base URL moved, the envelope left as it was.
    let key = Key::new(format!("P#{p}"), "I#ehr");
    let mut doc = app
        .local
        .deps
        .store
        .get(&key)
        .await
        .expect("get")
        .expect("item")
        .doc;
    doc["config"]["base_url"] = json!("https://fhir.attacker.example/r4");
    app.local
        .deps
        .store
        .put(Item::new(key, doc.clone()), Condition::Always)
        .await
        .expect("put");
    let stored: Integration = serde_json::from_value(doc).expect("integration");
    let opened = vault::open_for(
        &app.local.deps,
        &ProjectId::parse(&p).expect("id"),
        &stored,
        shared::domain::AuditPurpose::StepExecution,
        json!({"test": "moved"}),
    )
    .await;
    assert!(
        matches!(opened, Err(vault::VaultError::Tampered)),
        "the credentials do not open"
    );
    let trail = audit(&app, &p, &token, "ehr").await;
    assert!(
        trail[0]["outcome"]
            .as_str()
            .unwrap_or_default()
            .starts_with("failed"),
        "the refused opening is audited: {}",
        trail[0]
    );
}

/// Every provider's OAuth (and SMART) token URL is among the origins its credentials
/// are bound to, as is its API's base URL: the refresh posts the client secret and the
/// refresh token there.
#[test]
fn every_token_url_and_base_url_is_a_bound_origin() {
    use shared::catalog::{Auth, catalog};
    let mut token_urls = 0;
    for provider in catalog().expect("catalog").providers() {
        let mut options: Vec<(Option<&str>, &Auth)> = vec![(None, &provider.auth)];
        if let Auth::Choice {
            options: choices, ..
        } = &provider.auth
        {
            options = choices.iter().map(|(k, a)| (Some(k.as_str()), a)).collect();
        }
        for (choice, auth) in options {
            // The config a user would give: each field's example, or its default.
            let mut config = serde_json::Map::new();
            for field in &provider.config {
                if let Some(value) = field.example.clone().or_else(|| field.default.clone()) {
                    config.insert(field.name.clone(), json!(value));
                }
            }
            if let (Some(choice), Auth::Choice { config_field, .. }) = (choice, &provider.auth) {
                config.insert(config_field.clone(), json!(choice));
            }
            let origins = Origins::of(provider, &config).list();
            let origin_of = |template: &str| {
                let url = shared::runtime::oauth::render_url(template, &config)
                    .unwrap_or_else(|| panic!("{}: {template} renders", provider.id));
                reqwest::Url::parse(&url)
                    .unwrap_or_else(|e| panic!("{}: {url}: {e}", provider.id))
                    .origin()
                    .ascii_serialization()
            };
            assert!(
                origins.contains(&origin_of(&provider.base_url)),
                "{}: {origins:?}",
                provider.id
            );
            if let Auth::OAuth2 { token_url, .. } | Auth::SmartBackendServices { token_url, .. } =
                auth
            {
                token_urls += 1;
                assert!(
                    origins.contains(&origin_of(token_url)),
                    "{} ({choice:?}): {token_url} not in {origins:?}",
                    provider.id
                );
            }
        }
    }
    assert!(
        token_urls >= 5,
        "the catalog's OAuth providers are covered ({token_urls})"
    );
}
