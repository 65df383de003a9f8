//! Credentials: rotation and config changes with their audit records, audited
//! decryption (failures too), the audit trail newest first and read-only, and
//! envelopes that do not open on another project's or integration's item.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::{AuditPurpose, Integration, ProjectId};
use shared::ports::{Condition, Item, Key};
use shared::vault;

use crate::api::TestApp;

const FIRST: &str = "canary-first-token-5d2e1";
const SECOND: &str = "canary-second-token-9b7c4";

async fn with_postmark(app: &TestApp) -> (String, String) {
    let (p, token) = app.project("clinic").await;
    let created = app
        .call(
            Method::POST,
            &format!("/projects/{p}/integrations"),
            Some(&token),
            Some(json!({"name": "mail", "provider": "postmark", "credentials": {"server_token": FIRST}, "config": {"from_address": "clinic@example.com"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (p, token)
}

async fn stored(app: &TestApp, p: &str, name: &str) -> Integration {
    app.local
        .deps
        .store
        .get(&Key::new(format!("P#{p}"), format!("I#{name}")))
        .await
        .expect("get")
        .expect("stored")
        .parse()
        .expect("integration")
}

#[tokio::test]
async fn rotation_stores_a_new_version_audits_it_and_announces_it_without_the_secret() {
    let app = TestApp::new();
    let (p, token) = with_postmark(&app).await;
    let rotated = app
        .call(
            Method::PUT,
            &format!("/projects/{p}/integrations/mail/credentials"),
            Some(&token),
            Some(json!({"credentials": {"server_token": SECOND}})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["credential_version"], 2);
    assert!(!rotated.body.to_string().contains(SECOND));

    let integration = stored(&app, &p, "mail").await;
    assert_eq!(integration.credentials.version, 2);
    let project = ProjectId::parse(&p).expect("id");
    let opened = vault::open_bound(
        app.local.deps.keys.as_ref(),
        &project,
        &integration.name,
        &integration.credentials,
        &vault::Origins::of_integration(&integration).expect("origins"),
    )
    .await
    .expect("opens");
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(opened.get("server_token").expect("field")),
        SECOND
    );

    let events = app.local.bus.published();
    let last = events.last().expect("an event");
    assert_eq!(last.detail["change"], "credentials_rotated");
    assert_eq!(last.detail["credential_version"], 2);
    let all = serde_json::to_string(&events).expect("json");
    assert!(!all.contains(FIRST) && !all.contains(SECOND));

    let audit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/mail/audit"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK);
    assert_eq!(audit.body["records"][0]["purpose"], "credentials_stored");
    assert_eq!(audit.body["records"][0]["credential_version"], 2);
    assert_eq!(audit.body["records"][0]["outcome"], "rotated");
}

#[tokio::test]
async fn a_bad_rotation_or_config_change_is_named_and_changes_nothing() {
    let app = TestApp::new();
    let (p, token) = with_postmark(&app).await;
    let writes = app.local.writes.writes();
    let bad = app
        .call(
            Method::PUT,
            &format!("/projects/{p}/integrations/mail/credentials"),
            Some(&token),
            Some(json!({"credentials": {"server_token": "short"}})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"][0]["field"], "credentials.server_token");
    assert!(!bad.body.to_string().contains("\"short\""));
    let bad_config = app
        .call(
            Method::PATCH,
            &format!("/projects/{p}/integrations/mail"),
            Some(&token),
            Some(json!({"config": {"from_address": "nope"}})),
        )
        .await;
    assert_eq!(bad_config.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_config.body["errors"][0]["field"], "config.from_address");
    let missing = app
        .call(
            Method::PUT,
            &format!("/projects/{p}/integrations/nope/credentials"),
            Some(&token),
            Some(json!({"credentials": {}})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(app.local.writes.writes(), writes);
    assert_eq!(stored(&app, &p, "mail").await.credentials.version, 1);
}

#[tokio::test]
async fn a_config_change_merges_and_is_audited() {
    let app = TestApp::new();
    let (p, token) = with_postmark(&app).await;
    let changed = app
        .call(
            Method::PATCH,
            &format!("/projects/{p}/integrations/mail"),
            Some(&token),
            Some(json!({"config": {"from_address": "front-desk@example.com"}})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(
        changed.body["config"]["from_address"],
        "front-desk@example.com"
    );
    assert_eq!(changed.body["config"]["message_stream"], "outbound");
    assert_eq!(changed.body["credential_version"], 1);
    assert_eq!(
        app.local
            .bus
            .published()
            .last()
            .map(|e| e.detail["change"].clone()),
        Some(json!("config_updated"))
    );
}

#[tokio::test]
async fn every_decryption_is_audited_with_its_cause_and_failures_too_newest_first() {
    let app = TestApp::new();
    let (p, token) = with_postmark(&app).await;
    let project = ProjectId::parse(&p).expect("id");
    let integration = stored(&app, &p, "mail").await;
    for run in ["run-1", "run-2", "run-3"] {
        let opened = vault::open_for(
            &app.local.deps,
            &project,
            &integration,
            AuditPurpose::StepExecution,
            json!({"workflow": "patient-intake", "step": 1, "run": run}),
        )
        .await
        .expect("opens");
        drop(opened);
    }
    // The envelope copied onto another project's integration does not open there.
    let (other, other_token) = with_postmark(&app).await;
    let other_project = ProjectId::parse(&other).expect("id");
    let mut stolen = stored(&app, &other, "mail").await;
    stolen.credentials = integration.credentials.clone();
    let refused = vault::open_for(
        &app.local.deps,
        &other_project,
        &stolen,
        AuditPurpose::StepExecution,
        json!({"run": "run-x"}),
    )
    .await;
    assert!(
        matches!(refused, Err(vault::VaultError::Tampered)),
        "{refused:?}"
    );

    let page = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/mail/audit?limit=2"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let runs: Vec<&str> = page.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["cause"]["run"].as_str())
        .collect();
    assert_eq!(runs, vec!["run-3", "run-2"], "newest first");
    assert_eq!(page.body["records"][0]["purpose"], "step_execution");
    assert_eq!(page.body["records"][0]["outcome"], "decrypted");
    let next = page.body["next"].as_str().expect("a next page");
    let rest = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/mail/audit?limit=2&after={next}"),
            Some(&token),
            None,
        )
        .await;
    let runs: Vec<Value> = rest.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["cause"]["run"].clone())
        .collect();
    assert_eq!(runs[0], json!("run-1"));

    let failures = app
        .call(
            Method::GET,
            &format!("/projects/{other}/integrations/mail/audit"),
            Some(&other_token),
            None,
        )
        .await;
    assert!(
        failures.body["records"][0]["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("failed")),
        "{}",
        failures.body
    );

    // The trail is read-only through the API.
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let answer = app
            .call(
                method,
                &format!("/projects/{p}/integrations/mail/audit"),
                Some(&token),
                Some(json!({})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    }
}

#[tokio::test]
async fn credentials_are_not_released_when_the_audit_record_cannot_be_written() {
    let app = TestApp::new();
    let (p, _) = with_postmark(&app).await;
    let project = ProjectId::parse(&p).expect("id");
    let integration = stored(&app, &p, "mail").await;
    // A store that refuses single writes (the audit record's) but serves reads.
    struct Refusing(std::sync::Arc<dyn shared::ports::Store>);
    #[async_trait::async_trait]
    impl shared::ports::Store for Refusing {
        async fn get(&self, k: &Key) -> Result<Option<Item>, shared::ports::StoreError> {
            self.0.get(k).await
        }
        async fn put(&self, _: Item, _: Condition) -> Result<(), shared::ports::StoreError> {
            Err(shared::ports::StoreError::Unavailable("throttled".into()))
        }
        async fn delete(&self, k: &Key, c: Condition) -> Result<(), shared::ports::StoreError> {
            self.0.delete(k, c).await
        }
        async fn transact(
            &self,
            w: Vec<shared::ports::Write>,
        ) -> Result<(), shared::ports::StoreError> {
            self.0.transact(w).await
        }
        async fn transact_relaxed(
            &self,
            w: Vec<shared::ports::Write>,
        ) -> Result<(), shared::ports::StoreError> {
            self.0.transact_relaxed(w).await
        }
        async fn query(
            &self,
            q: &shared::ports::Query,
        ) -> Result<shared::ports::Page, shared::ports::StoreError> {
            self.0.query(q).await
        }
    }
    let mut deps = app.local.deps.clone();
    deps.store = std::sync::Arc::new(Refusing(deps.store.clone()));
    let result = vault::open_for(
        &deps,
        &project,
        &integration,
        AuditPurpose::StepExecution,
        json!({"run": "r"}),
    )
    .await;
    assert!(matches!(
        result,
        Err(vault::VaultError::AuditUnavailable(_))
    ));
}
