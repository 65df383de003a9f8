//! SMART on FHIR Backend Services, live: a local token endpoint that checks the form
//! and verifies the client assertion with the registered public key, a local FHIR
//! server, and FHIR steps that get a token once, share it (also between concurrent
//! steps), get a new one when it expires, fail clearly when the assertion is refused,
//! and never let the private key, an assertion or a token reach any output.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::{any, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use http::{Method, StatusCode};
use p384::ecdsa::signature::Verifier;
use pkcs8::DecodePublicKey;
use pkcs8::spki::SubjectPublicKeyInfoRef;
use ring::signature::{RSA_PKCS1_2048_8192_SHA384, UnparsedPublicKey};
use serde_json::{Value, json};
use shared::domain::{ProjectId, RunMode, StepRequested, WorkflowId};
use shared::ports::{Clock, Key, Query};

use crate::api::TestApp;
use crate::runtime::{Seen, create, scripted_server, store_workflow};

const CLIENT_ID: &str = "studio-backend-client-1";
const KEY_ID: &str = "test-key-1";
const SCOPE: &str = "system/*.read system/*.write";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const PATIENT: &str = "{\"resourceType\": \"Patient\", \"id\": \"p1\"}";

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/smart")
        .join(name);
    std::fs::read_to_string(&path).expect("tests/data/smart fixture")
}

fn public_der(name: &str) -> Vec<u8> {
    let pem = fixture(name);
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("public key base64")
}

/// The public half the token endpoint has registered for the client.
#[derive(Clone)]
enum Registered {
    /// The PKCS#1 `RSAPublicKey` (what ring verifies with).
    Rsa(Vec<u8>),
    Ec(p384::ecdsa::VerifyingKey),
}

fn rsa_registered() -> Registered {
    let der = public_der("rsa-public.pem");
    let spki = SubjectPublicKeyInfoRef::try_from(der.as_slice()).expect("RSA public");
    Registered::Rsa(spki.subject_public_key.raw_bytes().to_vec())
}

fn ec_registered() -> Registered {
    let public =
        p384::PublicKey::from_public_key_der(&public_der("ec-p384-public.pem")).expect("EC public");
    Registered::Ec(public.into())
}

/// What the token endpoint saw and gave.
#[derive(Default)]
struct TokenLog {
    calls: AtomicUsize,
    assertions: Mutex<Vec<String>>,
    issued: Mutex<Vec<String>>,
    /// Why requests were refused (empty when every request was valid).
    refusals: Mutex<Vec<String>>,
}

struct TokenServer {
    url: String,
    log: Arc<TokenLog>,
}

impl TokenServer {
    fn calls(&self) -> usize {
        self.log.calls.load(Ordering::SeqCst)
    }
    fn issued(&self) -> Vec<String> {
        self.log.issued.lock().expect("lock").clone()
    }
    fn assertions(&self) -> Vec<String> {
        self.log.assertions.lock().expect("lock").clone()
    }
    fn refusals(&self) -> Vec<String> {
        self.log.refusals.lock().expect("lock").clone()
    }
}

/// A SMART token endpoint on loopback: checks the form as the Backend Services spec
/// has it, verifies the assertion's signature with `registered` and its claims against
/// the app's clock, refuses a replayed `jti`, and answers with a new token that lives
/// `expires_in` seconds, or `invalid_client`. Slow enough that concurrent steps overlap.
async fn token_server(app: &TestApp, registered: Registered, expires_in: i64) -> TokenServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/auth/token", listener.local_addr().expect("addr"));
    let log = Arc::new(TokenLog::default());
    let clock = app.local.clock.clone();
    let (state, audience) = (log.clone(), url.clone());
    let router = Router::new().route(
        "/auth/token",
        post(move |headers: HeaderMap, body: Bytes| {
            let (log, audience, registered) = (state.clone(), audience.clone(), registered.clone());
            let now = clock.now().timestamp();
            async move {
                let n = log.calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                let seen: Vec<String> = log.assertions.lock().expect("lock").clone();
                let checked = check_request(&headers, &body, &registered, &audience, now, &seen);
                if let Some(assertion) = form(&body).get("client_assertion") {
                    log.assertions.lock().expect("lock").push(assertion.clone());
                }
                match checked {
                    Ok(()) => {
                        let token =
                            format!("canary-smart-access-{n}-{}", uuid::Uuid::new_v4().simple());
                        log.issued.lock().expect("lock").push(token.clone());
                        let answer = json!({"access_token": token, "token_type": "bearer",
                                            "expires_in": expires_in, "scope": SCOPE});
                        (StatusCode::OK, axum::Json(answer))
                    }
                    Err(why) => {
                        log.refusals.lock().expect("lock").push(why.clone());
                        // Echoes the assertion, as a careless server might: it must not
                        // reach any output.
                        let assertion = form(&body)
                            .get("client_assertion")
                            .cloned()
                            .unwrap_or_default();
                        let answer = json!({"error": "invalid_client",
                                            "error_description": format!("{why}: {assertion}")});
                        (StatusCode::BAD_REQUEST, axum::Json(answer))
                    }
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    TokenServer { url, log }
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn check_request(
    headers: &HeaderMap,
    body: &[u8],
    registered: &Registered,
    audience: &str,
    now: i64,
    seen: &[String],
) -> Result<(), String> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/x-www-form-urlencoded" {
        return Err(format!("content-type {content_type}"));
    }
    let fields = form(body);
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return Err(format!("grant_type {}", field("grant_type")));
    }
    if field("scope") != SCOPE {
        return Err(format!("scope {}", field("scope")));
    }
    if field("client_assertion_type") != ASSERTION_TYPE {
        return Err("client_assertion_type".into());
    }
    let assertion = field("client_assertion");
    if seen.iter().any(|s| s == assertion) {
        return Err("assertion replayed".into());
    }
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("not a compact JWS".into());
    };
    let decode = |part: &str| B64URL.decode(part).map_err(|e| format!("base64url: {e}"));
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    let claims_json: Value = serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())?;
    let signature = decode(signature)?;
    let input = format!("{}.{}", parts[0], parts[1]);
    if header["typ"] != "JWT" || header["kid"] != KEY_ID {
        return Err(format!("header {header}"));
    }
    let verified = match registered {
        Registered::Rsa(key) => {
            header["alg"] == "RS384"
                && UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA384, key)
                    .verify(input.as_bytes(), &signature)
                    .is_ok()
        }
        Registered::Ec(key) => {
            header["alg"] == "ES384"
                && signature.len() == 96
                && p384::ecdsa::Signature::from_slice(&signature)
                    .is_ok_and(|s| key.verify(input.as_bytes(), &s).is_ok())
        }
    };
    if !verified {
        return Err("signature does not verify with the registered key".into());
    }
    let exp = claims_json["exp"].as_i64().unwrap_or_default();
    if claims_json["iss"] != CLIENT_ID
        || claims_json["sub"] != CLIENT_ID
        || claims_json["aud"] != audience
        || exp <= now
        || exp > now + 300
        || !claims_json["jti"].is_string()
    {
        return Err(format!("claims {claims_json}"));
    }
    let jti = &claims_json["jti"];
    for earlier in seen {
        let claims = earlier.split('.').nth(1).unwrap_or_default();
        let earlier: Value = B64URL
            .decode(claims)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if &earlier["jti"] == jti {
            return Err("jti reused".into());
        }
    }
    Ok(())
}

/// A FHIR server that answers every read with a Patient and echoes the Authorization
/// header it got inside it, as a hostile or careless server might.
async fn echoing_fhir_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = Router::new().fallback(any(
        move |method: http::Method, uri: http::Uri, headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                record.lock().expect("lock").push((
                    method.to_string(),
                    uri.to_string(),
                    headers,
                    body,
                ));
                let patient = json!({"resourceType": "Patient", "id": "p1",
                                     "meta": {"tag": [{"code": auth}]}});
                (
                    [("content-type", "application/fhir+json")],
                    patient.to_string(),
                )
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/r4", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Creates a FHIR integration that signs its SMART client assertions with `key`.
async fn ehr(app: &TestApp, p: &str, token: &str, name: &str, key: &str, fhir: &str, tokens: &str) {
    create(
        app,
        p,
        token,
        json!({"name": name, "provider": "fhir",
               "credentials": {"client_id": CLIENT_ID, "private_key": key, "key_id": KEY_ID},
               "config": {"base_url": fhir, "auth_type": "smart_backend_services", "token_url": tokens}}),
    )
    .await;
}

fn read_patient() -> Value {
    json!({"resource_type": "Patient", "id": "p1"})
}

async fn run(app: &TestApp, p: &str, token: &str, workflow: &str) -> Value {
    let answer = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(token),
            Some(json!({"workflow": workflow, "mode": "live",
                        "trigger": {"entity": "IntakeForm", "event": "submitted", "payload": {}}})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body
}

fn bearers(seen: &Seen) -> Vec<String> {
    seen.lock()
        .expect("lock")
        .iter()
        .map(|(.., headers, _)| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn audit_outcomes(app: &TestApp, p: &str, token: &str, name: &str) -> Vec<String> {
    let audit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/{name}/audit"),
            Some(token),
            None,
        )
        .await;
    audit.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["purpose"] == "token_refresh")
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_live_fhir_step_gets_a_smart_token_and_later_steps_reuse_it_as_bearer() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let tokens = token_server(&app, rsa_registered(), 300).await;
    let (fhir, seen) = scripted_server(vec![(200, vec![], PATIENT)]).await;
    // PKCS#1 here; the other tests use PKCS#8 and SEC1.
    ehr(
        &app,
        &p,
        &token,
        "ehr",
        &fixture("rsa-pkcs1.pem"),
        &fhir,
        &tokens.url,
    )
    .await;
    store_workflow(
        &app,
        &p,
        "chart",
        vec![
            (1, "ehr", "read_resource", read_patient()),
            (2, "ehr", "read_resource", read_patient()),
        ],
    )
    .await;
    let first = run(&app, &p, &token, "chart").await;
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(first["steps"][0]["effect"], "sent");
    assert_eq!(first["steps"][1]["effect"], "sent");
    let second = run(&app, &p, &token, "chart").await;
    assert_eq!(second["status"], "succeeded", "{second}");
    assert_eq!(tokens.refusals(), Vec::<String>::new());
    assert_eq!(tokens.calls(), 1, "one token for four steps");
    let issued = tokens.issued();
    assert_eq!(
        bearers(&seen),
        vec![format!("Bearer {}", issued[0]); 4],
        "every FHIR call carried the token"
    );
    let captured = seen.lock().expect("lock").clone();
    assert_eq!(captured[0].1, "/Patient/p1");
    let headers = first["steps"][0]["request"]["headers"]
        .as_array()
        .expect("headers");
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "Authorization" && h[1] == "Bearer [redacted]"),
        "{headers:?}"
    );
    // Stored like an OAuth2 refresh: a new credential version, its expiry, audited.
    assert_eq!(
        audit_outcomes(&app, &p, &token, "ehr").await,
        vec!["refreshed"]
    );
    let stored: shared::domain::Integration = app
        .local
        .deps
        .store
        .get(&Key::new(format!("P#{p}"), "I#ehr"))
        .await
        .expect("get")
        .expect("stored")
        .parse()
        .expect("parse");
    assert_eq!(stored.credentials.version, 2);
    assert_eq!(
        stored.token_expires_at,
        Some(app.local.clock.now() + chrono::Duration::seconds(300))
    );
    assert!(
        stored
            .credentials
            .fields
            .contains(&"private_key".to_owned())
    );
}

#[tokio::test]
async fn five_concurrent_smart_steps_share_one_token_request() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let tokens = token_server(&app, ec_registered(), 300).await;
    let (fhir, seen) = scripted_server(vec![(200, vec![], PATIENT)]).await;
    ehr(
        &app,
        &p,
        &token,
        "ehr",
        &fixture("ec-p384-pkcs8.pem"),
        &fhir,
        &tokens.url,
    )
    .await;
    store_workflow(
        &app,
        &p,
        "chart",
        vec![(1, "ehr", "read_resource", read_patient())],
    )
    .await;
    // Runs started on a bus with no consumer, then their steps executed at once, as
    // five execute-step invocations would.
    let mut quiet = app.local.deps.clone();
    quiet.bus = Arc::new(shared::adapters::InProcessBus::new());
    let project = ProjectId::parse(&p).expect("id");
    let mut steps = Vec::new();
    for _ in 0..5 {
        let started = shared::runtime::start_run(
            &quiet,
            shared::runtime::StartRun {
                project: project.clone(),
                workflow: WorkflowId::parse("chart").expect("id"),
                mode: RunMode::Live,
                trigger: shared::runtime::RunTrigger::Entity {
                    entity: "IntakeForm".into(),
                    event: "submitted".into(),
                    payload: json!({}),
                },
            },
        )
        .await
        .expect("started");
        let requested = StepRequested {
            project: project.clone(),
            run: started.id.clone(),
            workflow: started.workflow.clone().expect("a workflow's run"),
            step: 1,
            mode: RunMode::Live,
        };
        let deps = quiet.clone();
        steps.push(async move { shared::runtime::execute_step(&deps, &requested).await });
    }
    let tasks: Vec<_> = steps.into_iter().map(tokio::spawn).collect();
    for task in tasks {
        let outcome = task.await.expect("task").expect("step");
        assert_eq!(outcome.effect, "sent", "{outcome:?}");
    }
    assert_eq!(tokens.refusals(), Vec::<String>::new());
    assert_eq!(
        tokens.calls(),
        1,
        "one token request for five concurrent steps"
    );
    assert_eq!(
        bearers(&seen),
        vec![format!("Bearer {}", tokens.issued()[0]); 5]
    );
}

#[tokio::test]
async fn a_smart_token_is_reused_until_it_nearly_expires_then_acquired_again() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let tokens = token_server(&app, ec_registered(), 300).await;
    let (fhir, seen) = scripted_server(vec![(200, vec![], PATIENT)]).await;
    ehr(
        &app,
        &p,
        &token,
        "ehr",
        &fixture("ec-p384-sec1.pem"),
        &fhir,
        &tokens.url,
    )
    .await;
    store_workflow(
        &app,
        &p,
        "chart",
        vec![(1, "ehr", "read_resource", read_patient())],
    )
    .await;
    let start = app.local.clock.now();
    assert_eq!(run(&app, &p, &token, "chart").await["status"], "succeeded");
    app.local.clock.set(start + chrono::Duration::seconds(200));
    assert_eq!(run(&app, &p, &token, "chart").await["status"], "succeeded");
    assert_eq!(tokens.calls(), 1, "still valid for 100 s: reused");
    // Inside the last minute (or past the end), a new token is acquired.
    app.local.clock.set(start + chrono::Duration::seconds(301));
    assert_eq!(run(&app, &p, &token, "chart").await["status"], "succeeded");
    assert_eq!(tokens.refusals(), Vec::<String>::new());
    assert_eq!(tokens.calls(), 2);
    let issued = tokens.issued();
    assert_ne!(issued[0], issued[1]);
    assert_eq!(
        bearers(&seen),
        vec![
            format!("Bearer {}", issued[0]),
            format!("Bearer {}", issued[0]),
            format!("Bearer {}", issued[1]),
        ]
    );
    assert_eq!(
        audit_outcomes(&app, &p, &token, "ehr").await,
        vec!["refreshed", "refreshed"]
    );
}

#[tokio::test]
async fn a_refused_client_assertion_fails_the_step_clearly_and_the_integration_needs_attention() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    // The EHR has the RSA key registered; the integration signs with the EC key.
    let tokens = token_server(&app, rsa_registered(), 300).await;
    let (fhir, seen) = scripted_server(vec![(200, vec![], PATIENT)]).await;
    ehr(
        &app,
        &p,
        &token,
        "ehr",
        &fixture("ec-p384-pkcs8.pem"),
        &fhir,
        &tokens.url,
    )
    .await;
    store_workflow(
        &app,
        &p,
        "chart",
        vec![(1, "ehr", "read_resource", read_patient())],
    )
    .await;
    let failed = run(&app, &p, &token, "chart").await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["steps"][0]["error"].as_str().expect("error");
    assert!(
        error.contains("token endpoint refused the client assertion")
            && error.contains("400 invalid_client"),
        "{error}"
    );
    assert_eq!(tokens.calls(), 1);
    assert!(
        seen.lock().expect("lock").is_empty(),
        "no FHIR call without a token"
    );
    let view = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/ehr"),
            Some(&token),
            None,
        )
        .await;
    assert!(
        view.body["needs_attention"].as_str().is_some_and(|r| r
            .contains("SMART token request refused")
            && r.contains("invalid_client")),
        "{}",
        view.body
    );
    assert_eq!(
        audit_outcomes(&app, &p, &token, "ehr").await,
        vec!["failed: 400 invalid_client"]
    );
}

#[tokio::test]
async fn a_private_key_that_does_not_parse_fails_the_step_without_sending_or_echoing_it() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let tokens = token_server(&app, rsa_registered(), 300).await;
    let (fhir, seen) = scripted_server(vec![(200, vec![], PATIENT)]).await;
    let body = "Y2FuYXJ5LWJyb2tlbi1wcml2YXRlLWtleS01ZDdlOWE=";
    let broken = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
    ehr(&app, &p, &token, "ehr", &broken, &fhir, &tokens.url).await;
    store_workflow(
        &app,
        &p,
        "chart",
        vec![(1, "ehr", "read_resource", read_patient())],
    )
    .await;
    let failed = run(&app, &p, &token, "chart").await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["steps"][0]["error"].as_str().expect("error");
    assert!(
        error.contains("SMART backend services")
            && error.contains("private key does not parse as a PKCS#8 private key"),
        "{error}"
    );
    assert!(!failed.to_string().contains(body));
    assert_eq!(tokens.calls(), 0, "nothing was sent");
    assert!(seen.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn no_private_key_assertion_or_token_reaches_a_trace_error_event_stored_item_or_log() {
    let logs = crate::canary::logs();
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let accepting = token_server(&app, rsa_registered(), 300).await;
    let refusing = token_server(&app, ec_registered(), 300).await;
    let (fhir, _) = echoing_fhir_server().await;
    let key = fixture("rsa-pkcs8.pem");
    ehr(&app, &p, &token, "ehr", &key, &fhir, &accepting.url).await;
    ehr(&app, &p, &token, "ehr-refused", &key, &fhir, &refusing.url).await;
    store_workflow(
        &app,
        &p,
        "chart",
        vec![
            (1, "ehr", "read_resource", read_patient()),
            (2, "ehr", "read_resource", read_patient()),
        ],
    )
    .await;
    store_workflow(
        &app,
        &p,
        "refused",
        vec![(1, "ehr-refused", "read_resource", read_patient())],
    )
    .await;
    let mut outputs = Vec::new();
    for workflow in ["chart", "refused"] {
        outputs.push(run(&app, &p, &token, workflow).await.to_string());
    }
    for path in [
        "runs?workflow=chart",
        "runs?workflow=refused",
        "integrations",
        "integrations/ehr",
        "integrations/ehr-refused",
        "integrations/ehr/audit",
        "integrations/ehr-refused/audit",
    ] {
        let answer = app
            .call(
                Method::GET,
                &format!("/projects/{p}/{path}"),
                Some(&token),
                None,
            )
            .await;
        outputs.push(format!("{path} {:?} {}", answer.headers, answer.body));
    }
    app.local.bus.wait_idle().await;
    outputs.push(serde_json::to_string(&app.local.bus.published()).expect("json"));
    for pk in [
        format!("P#{p}"),
        format!("A#{p}#ehr"),
        format!("A#{p}#ehr-refused"),
    ] {
        for item in shared::ports::query_all(app.local.deps.store.as_ref(), Query::prefix(pk, ""))
            .await
            .expect("query")
        {
            let mut doc = item.doc.clone();
            if item.key.sk.starts_with("I#") {
                for field in ["ciphertext", "wrapped_key", "nonce"] {
                    doc["credentials"][field] = Value::Null;
                }
            }
            outputs.push(format!("{}/{} {doc}", item.key.pk, item.key.sk));
        }
    }
    let log_text = String::from_utf8_lossy(&logs.lock().expect("lock")).into_owned();
    assert!(
        log_text.contains("integration created"),
        "the log capture works"
    );
    outputs.push(log_text);

    // The flows ran: a token was issued and used, one was refused, and the FHIR
    // server's echo of the Authorization header was masked.
    let all = outputs.join("\n");
    assert_eq!(accepting.calls(), 1);
    assert_eq!(refusing.calls(), 1);
    assert!(
        all.contains("\"effect\":\"sent\""),
        "the live run did not run"
    );
    assert!(
        all.contains("refused the client assertion"),
        "the refusal did not happen"
    );
    assert!(
        all.contains("Bearer [redacted]"),
        "the echoed token was not masked"
    );

    let mut secrets: Vec<(String, String)> = Vec::new();
    secrets.push(("private key".into(), key.clone()));
    for line in key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
    {
        secrets.push(("a line of the private key".into(), line.to_owned()));
    }
    let assertions: HashSet<String> = accepting
        .assertions()
        .into_iter()
        .chain(refusing.assertions())
        .collect();
    assert_eq!(assertions.len(), 2);
    for assertion in assertions {
        // The signature alone is as secret: it would let the assertion be rebuilt.
        let signature = assertion.rsplit('.').next().unwrap_or_default().to_owned();
        secrets.push(("an assertion".into(), assertion));
        secrets.push(("an assertion's signature".into(), signature));
    }
    for issued in accepting.issued() {
        secrets.push(("an access token".into(), issued));
    }
    for (what, secret) in &secrets {
        let found: Vec<&str> = outputs
            .iter()
            .filter(|o| o.contains(secret.as_str()))
            .map(|o| &o[..o.len().min(300)])
            .collect();
        assert!(
            found.is_empty(),
            "{what} leaked into:\n{}",
            found.join("\n---\n")
        );
    }
}

/// The connection check of a SMART integration gets a token first, exactly as a step
/// does (audited as a refresh), then sends the catalog's verify read with it.
#[tokio::test]
async fn the_connection_check_gets_a_smart_token_first_and_sends_the_read_with_it() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let tokens = token_server(&app, rsa_registered(), 300).await;
    let (fhir, seen) = echoing_fhir_server().await;
    ehr(
        &app,
        &p,
        &token,
        "ehr",
        &fixture("rsa-pkcs8.pem"),
        &fhir,
        &tokens.url,
    )
    .await;
    let answer = app
        .call(
            Method::POST,
            &format!("/projects/{p}/integrations/ehr/verify"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["ok"], true, "{}", answer.body);
    assert_eq!(tokens.calls(), 1, "{:?}", tokens.refusals());
    let issued = tokens.issued();
    assert_eq!(bearers(&seen), vec![format!("Bearer {}", issued[0])]);
    assert_eq!(
        seen.lock().expect("lock")[0].1,
        "/r4/Patient?_id=credential-check"
    );
    assert!(!answer.body.to_string().contains(&issued[0]));
    assert_eq!(audit_outcomes(&app, &p, &token, "ehr").await.len(), 1);
}
