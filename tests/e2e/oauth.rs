//! OAuth2 at the edge: a refresh before expiry, one refresh at a time per integration
//! (concurrent steps share it), the new tokens sealed as a new credential version and
//! audited, and a refused refresh marking the integration as needing attention.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::post;
use http::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::json;
use shared::domain::{Integration, ProjectId};
use shared::ports::Key;
use shared::runtime::oauth;

use crate::api::TestApp;

const REFRESH: &str = "canary-refresh-token-31337";

/// A token endpoint on loopback: counts calls, answers with `status` and a new token.
async fn token_endpoint(status: u16, expires_in: i64) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/token",
        post(move |body: String| {
            let counter = counter.clone();
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                // Slow enough that concurrent steps overlap.
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                assert!(body.contains("grant_type=refresh_token"), "{body}");
                assert!(body.contains(REFRESH), "the refresh token is sent");
                let code = http::StatusCode::from_u16(status).expect("status");
                let answer = if status == 200 {
                    json!({"access_token": format!("canary-access-{n}"), "expires_in": expires_in, "token_type": "Bearer"})
                } else {
                    json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
                };
                (code, axum::Json(answer))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/token", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

async fn sheets(app: &TestApp) -> (String, String, Integration) {
    let (p, token) = app.project("clinic").await;
    let created = app
        .call(
            Method::POST,
            &format!("/projects/{p}/integrations"),
            Some(&token),
            Some(json!({"name": "sheets", "provider": "google_sheets",
                        "credentials": {"client_id": "client-1.apps.googleusercontent.com", "client_secret": "canary-client-secret-1", "refresh_token": REFRESH},
                        "config": {"spreadsheet_id": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let integration = stored(app, &p).await;
    (p, token, integration)
}

async fn open(
    deps: &shared::ports::Deps,
    project: &ProjectId,
    integration: &Integration,
) -> shared::vault::Credentials {
    shared::vault::open_for(
        deps,
        project,
        integration,
        shared::domain::AuditPurpose::StepExecution,
        json!({"run": "r"}),
    )
    .await
    .expect("open")
}

async fn stored(app: &TestApp, p: &str) -> Integration {
    app.local
        .deps
        .store
        .get(&Key::new(format!("P#{p}"), "I#sheets"))
        .await
        .expect("get")
        .expect("stored")
        .parse()
        .expect("parse")
}

#[tokio::test]
async fn a_missing_or_expiring_token_is_refreshed_sealed_as_a_new_version_and_audited() {
    let app = TestApp::new();
    let (p, token, integration) = sheets(&app).await;
    let project = ProjectId::parse(&p).expect("id");
    let (url, calls) = token_endpoint(200, 30).await;
    let deps = &app.local.deps;
    let creds = open(deps, &project, &integration).await;
    let (after, fresh) = oauth::ensure_fresh(
        deps,
        &project,
        &integration,
        &url,
        creds,
        json!({"run": "r", "step": 1}),
    )
    .await
    .expect("refreshed");
    assert_eq!(
        fresh
            .get("access_token")
            .map(|s| s.expose_secret().to_owned()),
        Some("canary-access-1".into())
    );
    assert_eq!(after.credentials.version, 2);
    assert_eq!(
        stored(&app, &p).await.credentials.version,
        2,
        "stored as a new envelope"
    );
    // expires_in 30 s is inside the one-minute margin: the next step refreshes again,
    // as a token that expires during a run must be.
    let creds = open(deps, &project, &after).await;
    let (again, _) = oauth::ensure_fresh(
        deps,
        &project,
        &after,
        &url,
        creds,
        json!({"run": "r", "step": 2}),
    )
    .await
    .expect("refreshed");
    assert_eq!(again.credentials.version, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let audit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/sheets/audit"),
            Some(&token),
            None,
        )
        .await;
    let refreshes: Vec<_> = audit.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["purpose"] == "token_refresh")
        .collect();
    assert_eq!(refreshes.len(), 2);
    assert_eq!(refreshes[0]["outcome"], "refreshed");
    assert!(!audit.body.to_string().contains("canary-access"));
}

#[tokio::test]
async fn concurrent_steps_share_one_refresh() {
    let app = TestApp::new();
    let (p, _, integration) = sheets(&app).await;
    let project = ProjectId::parse(&p).expect("id");
    let (url, calls) = token_endpoint(200, 3600).await;
    let mut tasks = Vec::new();
    for step in 0..5 {
        let deps = app.local.deps.clone();
        let integration = integration.clone();
        let url = url.clone();
        let project = project.clone();
        tasks.push(tokio::spawn(async move {
            let creds = shared::vault::open_for(
                &deps,
                &project,
                &integration,
                shared::domain::AuditPurpose::StepExecution,
                json!({"step": step}),
            )
            .await
            .expect("open");
            let (_, fresh) = oauth::ensure_fresh(
                &deps,
                &project,
                &integration,
                &url,
                creds,
                json!({"step": step}),
            )
            .await
            .expect("token");
            fresh
                .get("access_token")
                .map(|s| s.expose_secret().to_owned())
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.expect("task"));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one refresh for five concurrent steps"
    );
    assert!(
        tokens
            .iter()
            .all(|t| t.as_deref() == Some("canary-access-1")),
        "{tokens:?}"
    );
}

#[tokio::test]
async fn a_refused_refresh_marks_the_integration_as_needing_attention() {
    let app = TestApp::new();
    let (p, token, integration) = sheets(&app).await;
    let project = ProjectId::parse(&p).expect("id");
    let (url, _) = token_endpoint(400, 0).await;
    let creds = shared::vault::open_for(
        &app.local.deps,
        &project,
        &integration,
        shared::domain::AuditPurpose::StepExecution,
        json!({}),
    )
    .await
    .expect("open");
    let err = oauth::ensure_fresh(
        &app.local.deps,
        &project,
        &integration,
        &url,
        creds,
        json!({"run": "r"}),
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, oauth::OAuthError::Refused(_)), "{err}");
    let view = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/sheets"),
            Some(&token),
            None,
        )
        .await;
    assert!(
        view.body["needs_attention"]
            .as_str()
            .is_some_and(|r| r.contains("invalid_grant")),
        "{}",
        view.body
    );
    assert!(!view.body.to_string().contains(REFRESH));
}

#[tokio::test]
async fn hubspot_public_apps_use_oauth_and_private_apps_a_token() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let missing = app
        .call(Method::POST, &format!("/projects/{p}/integrations"), Some(&token),
              Some(json!({"name": "crm", "provider": "hubspot", "config": {"auth_type": "oauth2"}, "credentials": {}})))
        .await;
    let fields: Vec<&str> = missing.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        vec!["credentials.client_id", "credentials.refresh_token"]
    );
    let hubspot = shared::catalog::catalog()
        .expect("catalog")
        .get("hubspot")
        .expect("hubspot")
        .clone();
    let oauth: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(json!({"auth_type": "oauth2"})).expect("map");
    assert_eq!(
        oauth::token_url(&hubspot, &oauth).as_deref(),
        Some("https://api.hubapi.com/oauth/v1/token")
    );
    assert_eq!(
        oauth::token_url(&hubspot, &serde_json::Map::new()),
        None,
        "private apps (the default) need no refresh"
    );
    let private = app
        .call(Method::POST, &format!("/projects/{p}/integrations"), Some(&token),
              Some(json!({"name": "crm", "provider": "hubspot", "credentials": {"access_token": "pat-na1-canary-0000"}})))
        .await;
    assert_eq!(private.status, StatusCode::CREATED, "{}", private.body);
}
