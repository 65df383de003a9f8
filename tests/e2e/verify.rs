//! The connection check (`POST /projects/{p}/integrations/{name}/verify`) against local
//! servers: a working key, a refused one whose error echoes it (masked in the answer),
//! a provider that never answers, a destination the egress policy refuses, sandbox mode
//! (nothing sent), and the 404 and 422 answers.

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::any;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{Answer, TestApp};
use crate::runtime::{create, scripted_server};

const KEY: &str = "canary-verify-bearer-5e1d0c77";

fn custom(name: &str, base_url: &str, verify: Option<Value>) -> Value {
    let mut config = json!({"base_url": base_url, "auth": {"scheme": "bearer"},
                            "endpoints": [{"name": "get_ticket", "method": "GET", "path": "/tickets/{id}"}]});
    if let Some(verify) = verify {
        config["verify"] = verify;
    }
    json!({"name": name, "provider": "custom_http", "credentials": {"token": KEY}, "config": config})
}

async fn verify(app: &TestApp, p: &str, token: &str, name: &str, query: &str) -> Answer {
    app.call(
        Method::POST,
        &format!("/projects/{p}/integrations/{name}/verify{query}"),
        Some(token),
        None,
    )
    .await
}

/// A provider that refuses every key with a 401 whose message repeats the key, as some
/// providers do.
async fn refusing_server() -> String {
    let app = Router::new().fallback(any(|headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = json!({"error": {"message": format!("Invalid API key provided: {auth}")}});
        (
            StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            body.to_string(),
        )
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_working_key_is_reported_ok_with_the_request_checked_and_the_use_audited() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let (url, seen) = scripted_server(vec![(200, vec![], r#"{"status": "up"}"#)]).await;
    let declared = json!({"method": "GET", "path": "/health?deep=1", "expect_status": [200]});
    create(&app, &p, &token, custom("tickets", &url, Some(declared))).await;

    let answer = verify(&app, &p, &token, "tickets", "").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["ok"], true, "{}", answer.body);
    assert_eq!(answer.body["status"], 200);
    assert_eq!(answer.body["checked"], format!("GET {url}/health?deep=1"));
    assert!(answer.body["took_ms"].is_u64(), "{}", answer.body);
    assert!(answer.body.get("reason").is_none(), "{}", answer.body);
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), 1, "sent once");
        assert_eq!(seen[0].0, "GET");
        assert_eq!(seen[0].1, "/health?deep=1");
        assert_eq!(
            seen[0].2.get("authorization").and_then(|v| v.to_str().ok()),
            Some(format!("Bearer {KEY}").as_str())
        );
    }
    let audit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/tickets/audit"),
            Some(&token),
            None,
        )
        .await;
    let purposes: Vec<&str> = audit.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["purpose"].as_str())
        .collect();
    assert!(purposes.contains(&"verification_call"), "{}", audit.body);
    assert!(!audit.body.to_string().contains(KEY));
}

#[tokio::test]
async fn a_refused_key_answers_the_providers_reason_masked_and_a_hint() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let url = refusing_server().await;
    let declared = json!({"method": "GET", "path": "/me"});
    create(&app, &p, &token, custom("tickets", &url, Some(declared))).await;

    let answer = verify(&app, &p, &token, "tickets", "").await;
    assert_eq!(answer.status, StatusCode::OK, "a completed check is a 200");
    assert_eq!(answer.body["ok"], false);
    assert_eq!(answer.body["status"], 401);
    assert_eq!(
        answer.body["reason"],
        "Invalid API key provided: Bearer [redacted]"
    );
    assert_eq!(answer.body["hint"], "the key is wrong or revoked");
    assert!(!answer.body.to_string().contains(KEY));
}

#[tokio::test]
async fn a_provider_that_never_answers_is_reported_as_a_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            keep.lock().expect("lock").push(socket);
        }
    });
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let declared = json!({"method": "GET", "path": "/health"});
    create(&app, &p, &token, custom("silent", &url, Some(declared))).await;

    let answer = verify(&app, &p, &token, "silent", "").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["ok"], false);
    assert!(answer.body.get("status").is_none(), "{}", answer.body);
    let reason = answer.body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("timed out"), "{reason}");
    assert!(
        answer.body["hint"]
            .as_str()
            .is_some_and(|h| h.contains("did not answer in time")),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_destination_the_egress_policy_refuses_is_reported_not_reached() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    // The test app's live edge allows loopback only.
    let declared = json!({"method": "GET", "path": "/health"});
    create(
        &app,
        &p,
        &token,
        custom("elsewhere", "https://10.1.2.3:8080", Some(declared)),
    )
    .await;
    let answer = verify(&app, &p, &token, "elsewhere", "").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["ok"], false, "{}", answer.body);
    assert!(
        answer.body["hint"]
            .as_str()
            .is_some_and(|h| h.contains("egress policy")),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn sandbox_mode_shows_the_masked_request_and_sends_nothing() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let (url, seen) = scripted_server(vec![(200, vec![], "{}")]).await;
    let declared = json!({"method": "GET", "path": "/health"});
    create(&app, &p, &token, custom("tickets", &url, Some(declared))).await;

    let answer = verify(&app, &p, &token, "tickets", "?mode=sandbox").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["mode"], "sandbox");
    assert_eq!(answer.body["sent"], false);
    assert_eq!(answer.body["checked"], format!("GET {url}/health"));
    assert_eq!(answer.body["expect_status"], json!([200]));
    let headers = answer.body["request"]["headers"].to_string();
    assert!(headers.contains("Bearer [redacted]"), "{headers}");
    assert!(!answer.body.to_string().contains(KEY));
    assert!(seen.lock().expect("lock").is_empty(), "nothing was sent");
    let audit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/tickets/audit"),
            Some(&token),
            None,
        )
        .await;
    assert!(
        !audit.body.to_string().contains("verification_call"),
        "the sandbox opens no credentials: {}",
        audit.body
    );
}

#[tokio::test]
async fn nothing_to_check_is_a_422_and_an_unknown_integration_a_404() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    create(
        &app,
        &p,
        &token,
        custom("plain", "http://127.0.0.1:9", None),
    )
    .await;

    let answer = verify(&app, &p, &token, "plain", "").await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("declares no verify request; there is nothing to check")),
        "{}",
        answer.body
    );
    let answer = verify(&app, &p, &token, "missing", "").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    let answer = verify(&app, &p, &token, "plain", "?mode=sometimes").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
}

#[tokio::test]
async fn a_verify_request_that_writes_is_refused_when_the_integration_is_created() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let declared = json!({"method": "POST", "path": "/health"});
    let answer = app
        .call(
            Method::POST,
            &format!("/projects/{p}/integrations"),
            Some(&token),
            Some(custom("tickets", "http://127.0.0.1:9", Some(declared))),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert!(
        answer.body.to_string().contains("config.verify.method"),
        "{}",
        answer.body
    );
}
