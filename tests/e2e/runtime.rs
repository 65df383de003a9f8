//! The step runtime: sandbox runs with schema-derived mocks and a "would have sent"
//! trace, live runs against local servers (retries, Retry-After, no repeated side
//! effects), multi-step mappings, credentials rotated mid-run, and isolation between
//! projects.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use axum::routing::any;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::aggregates::keys;
use shared::domain::{
    IntegrationName, ProjectId, StepContract, StepRequested, Trigger, Workflow, WorkflowId,
};
use shared::ports::{Condition, Item, Key};

use crate::api::TestApp;

pub const TOKEN: &str = "canary-runtime-token-0a1b2c3d";

/// Stores a workflow and its contracts directly (the compiler has its own tests).
pub async fn store_workflow(
    app: &TestApp,
    project: &str,
    workflow: &str,
    contracts: Vec<(u32, &str, &str, Value)>,
) {
    let project = ProjectId::parse(project).expect("id");
    let id = WorkflowId::parse(workflow).expect("workflow");
    let trigger = Trigger::Entity {
        entity: "IntakeForm".into(),
        event: "submitted".into(),
    };
    let record = Workflow {
        id: id.clone(),
        trigger: Some(trigger.clone()),
        steps: contracts.iter().map(|(n, ..)| *n).collect(),
        updated_at: chrono::Utc::now(),
    };
    let store = &app.local.deps.store;
    store
        .put(
            Item::of(
                Key::new(keys::project(&project), keys::workflow(&id)),
                &record,
            )
            .expect("item"),
            Condition::Always,
        )
        .await
        .expect("workflow");
    for (step, integration, operation, mapping) in contracts {
        let contract = StepContract {
            workflow: id.clone(),
            step,
            trigger: trigger.clone(),
            integration: IntegrationName::parse(integration).expect("name"),
            provider: String::new().into(),
            operation: operation.into(),
            outbound: true,
            input_schema: json!({"type": "object"}),
            input_mapping: serde_json::from_value(mapping).expect("mapping"),
            output_schema: json!({"type": "object"}),
            integration_created_at: None,
        };
        store
            .put(
                Item::of(
                    Key::new(keys::project(&project), keys::step(&id, step)),
                    &contract,
                )
                .expect("item"),
                Condition::Always,
            )
            .await
            .expect("contract");
    }
}

pub async fn create(app: &TestApp, p: &str, token: &str, body: Value) {
    let answer = app
        .call(
            Method::POST,
            &format!("/projects/{p}/integrations"),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}

fn intake() -> Value {
    json!({"entity": "IntakeForm", "event": "submitted", "payload": {"patient_name": "Ada", "patient_email": "ada@example.com"}})
}

/// One scripted answer: status, headers, body.
pub type Scripted = (u16, Vec<(&'static str, &'static str)>, &'static str);

pub type Seen = Arc<Mutex<Vec<(String, String, HeaderMap, Bytes)>>>;

/// A loopback server that answers by a script: each request pops the next (status,
/// headers, body); the last one repeats.
pub async fn scripted_server(script: Vec<Scripted>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let script = Arc::new(Mutex::new(script));
    let app = Router::new().fallback(any(
        move |method: http::Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            let script = script.clone();
            async move {
                record.lock().expect("lock").push((
                    method.to_string(),
                    uri.to_string(),
                    headers,
                    body,
                ));
                let (status, headers, body) = {
                    let mut s = script.lock().expect("lock");
                    if s.len() > 1 {
                        s.remove(0)
                    } else {
                        s[0].clone()
                    }
                };
                let mut response = axum::response::Response::new(axum::body::Body::from(body));
                *response.status_mut() = AxumStatus::from_u16(status).expect("status");
                for (k, v) in headers {
                    response.headers_mut().insert(k, v.parse().expect("header"));
                }
                response
                    .headers_mut()
                    .insert("content-type", "application/json".parse().expect("ct"));
                response
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn custom_api(app: &TestApp, p: &str, token: &str, name: &str, base_url: &str) {
    create(
        app,
        p,
        token,
        json!({"name": name, "provider": "custom_http", "credentials": {"token": TOKEN},
               "config": {"base_url": base_url, "auth": {"scheme": "bearer"},
                          "endpoints": [
                            {"name": "create_ticket", "method": "POST", "path": "/tickets",
                             "input_schema": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}, "email": {"type": "string"}}},
                             "response_schema": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}, "title": {"type": "string"}}}},
                            {"name": "get_ticket", "method": "GET", "path": "/tickets/{id}",
                             "response_schema": {"type": "object", "properties": {"id": {"type": "string"}}}}
                          ]}}),
    )
    .await;
}

#[tokio::test]
async fn a_sandbox_run_records_what_it_would_have_sent_and_a_schema_derived_mock() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    create(&app, &p, &token, json!({"name": "clinic-mail", "provider": "postmark", "credentials": {"server_token": TOKEN},
                                    "config": {"from_address": "clinic@example.com"}}))
        .await;
    store_workflow(&app, &p, "patient-intake", vec![(1, "clinic-mail", "send_email", json!({
        "To": "{{entity.patient_email}}", "Subject": "Welcome {{entity.patient_name}}", "TextBody": "See you soon."
    }))])
    .await;
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "patient-intake", "mode": "sandbox", "trigger": intake()})),
        )
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.body);
    assert_eq!(run.body["status"], "succeeded", "{}", run.body);
    let step = &run.body["steps"][0];
    assert_eq!(step["effect"], "would_have_sent");
    assert_eq!(step["request"]["method"], "POST");
    assert_eq!(step["request"]["url"], "https://api.postmarkapp.com/email");
    let headers = step["request"]["headers"].as_array().expect("headers");
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "X-Postmark-Server-Token" && h[1] == "[redacted]"),
        "{headers:?}"
    );
    assert_eq!(step["request"]["body_json"]["To"], "ada@example.com");
    assert_eq!(step["request"]["body_json"]["From"], "clinic@example.com");
    assert_eq!(step["request"]["body_json"]["Subject"], "Welcome Ada");
    assert_eq!(
        step["response"]["body"]["To"], "ada@example.com",
        "the mock echoes what Postmark echoes"
    );
    assert!(step["response"]["body"]["MessageID"].is_string());
    assert!(!run.body.to_string().contains(TOKEN));
    // No decryption happened in the sandbox: the audit trail has only the creation.
    let audit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/clinic-mail/audit"),
            Some(&token),
            None,
        )
        .await;
    assert!(
        audit.body["records"]
            .as_array()
            .expect("records")
            .iter()
            .all(|r| r["purpose"] != "step_execution")
    );
    let again = app
        .call(
            Method::GET,
            &format!(
                "/projects/{p}/runs/{}",
                run.body["id"].as_str().expect("id")
            ),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(again.body["steps"][0]["request"], step["request"]);
}

#[tokio::test]
async fn a_live_run_sends_exactly_what_the_sandbox_recorded_apart_from_masking() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let (url, seen) = scripted_server(vec![(
        201,
        vec![],
        "{\"id\": \"T-1\", \"title\": \"Intake\"}",
    )])
    .await;
    custom_api(&app, &p, &token, "tickets", &url).await;
    store_workflow(&app, &p, "intake", vec![(1, "tickets", "create_ticket", json!({"title": "Intake for {{entity.patient_name}}", "email": "{{entity.patient_email}}"}))]).await;
    let body = |mode: &str| json!({"workflow": "intake", "mode": mode, "trigger": intake()});
    let sandbox = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(body("sandbox")),
        )
        .await;
    let live = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(body("live")),
        )
        .await;
    assert_eq!(live.body["status"], "succeeded", "{}", live.body);
    assert_eq!(live.body["steps"][0]["effect"], "sent");
    assert_eq!(live.body["steps"][0]["response"]["body"]["id"], "T-1");
    let captured = seen.lock().expect("lock").clone();
    assert_eq!(
        captured.len(),
        1,
        "the sandbox sent nothing, live sent once"
    );
    let (method, uri, headers, sent_body) = &captured[0];
    let recorded = &sandbox.body["steps"][0]["request"];
    assert_eq!(recorded["method"], method.as_str());
    assert_eq!(recorded["url"], format!("{url}{uri}"));
    assert_eq!(
        recorded["body"].as_str().expect("body").as_bytes(),
        sent_body.as_ref(),
        "byte for byte"
    );
    assert_eq!(headers["authorization"], format!("Bearer {TOKEN}"));
    let masked: Vec<(String, String)> = recorded["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap_or_default().to_lowercase(),
                h[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (name, value) in &masked {
        let sent = headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(sent.replace(TOKEN, "[redacted]"), *value, "header {name}");
    }
    assert_eq!(
        live.body["steps"][0]["request"], *recorded,
        "the live trace shows the same masked request"
    );
    assert!(!live.body.to_string().contains(TOKEN));
}

#[tokio::test]
async fn live_calls_retry_429_after_retry_after_but_never_repeat_an_unkeyed_side_effect_on_5xx() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let (limited, limited_seen) = scripted_server(vec![
        (
            429,
            vec![("retry-after", "1")],
            "{\"error\": \"slow down\"}",
        ),
        (201, vec![], "{\"id\": \"T-2\"}"),
    ])
    .await;
    custom_api(&app, &p, &token, "limited", &limited).await;
    store_workflow(
        &app,
        &p,
        "limited",
        vec![(1, "limited", "create_ticket", json!({"title": "x"}))],
    )
    .await;
    let started = std::time::Instant::now();
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "limited", "mode": "live", "trigger": intake()})),
        )
        .await;
    assert_eq!(run.body["status"], "succeeded", "{}", run.body);
    assert_eq!(run.body["steps"][0]["response"]["attempts"], 2);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(limited_seen.lock().expect("lock").len(), 2);

    let (failing, failing_seen) =
        scripted_server(vec![(503, vec![], "{\"error\": \"down\"}")]).await;
    custom_api(&app, &p, &token, "failing", &failing).await;
    store_workflow(
        &app,
        &p,
        "failing",
        vec![(1, "failing", "create_ticket", json!({"title": "x"}))],
    )
    .await;
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "failing", "mode": "live", "trigger": intake()})),
        )
        .await;
    assert_eq!(run.body["status"], "failed");
    assert_eq!(run.body["steps"][0]["effect"], "failed");
    assert_eq!(
        failing_seen.lock().expect("lock").len(),
        1,
        "a POST without an idempotency key is not repeated"
    );

    store_workflow(
        &app,
        &p,
        "reading",
        vec![(1, "failing", "get_ticket", json!({"id": "T-9"}))],
    )
    .await;
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "reading", "mode": "live", "trigger": intake()})),
        )
        .await;
    assert_eq!(run.body["status"], "failed");
    assert_eq!(
        run.body["steps"][0]["response"]["attempts"], 3,
        "a GET is retried"
    );
}

#[tokio::test]
async fn later_steps_map_earlier_outputs_and_a_rotation_mid_run_applies_from_the_next_step() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let (url, seen) = scripted_server(vec![(
        201,
        vec![],
        "{\"id\": \"T-7\", \"title\": \"first\"}",
    )])
    .await;
    custom_api(&app, &p, &token, "tickets", &url).await;
    store_workflow(
        &app,
        &p,
        "two-steps",
        vec![
            (1, "tickets", "create_ticket", json!({"title": "first"})),
            (
                2,
                "tickets",
                "get_ticket",
                json!({"id": "{{steps.1.output.id}}"}),
            ),
        ],
    )
    .await;
    // Drive the run step by step, as execute-step invocations would: on a bus with no
    // consumer, so nothing runs a step behind the test's back.
    let quiet_bus = Arc::new(shared::adapters::InProcessBus::new());
    let mut quiet = app.local.deps.clone();
    quiet.bus = quiet_bus.clone();
    let deps = &quiet;
    let project = ProjectId::parse(&p).expect("id");
    let run = shared::runtime::start_run(
        deps,
        shared::runtime::StartRun {
            project: project.clone(),
            workflow: WorkflowId::parse("two-steps").expect("id"),
            mode: shared::domain::RunMode::Live,
            trigger: shared::runtime::RunTrigger::Entity {
                entity: "IntakeForm".into(),
                event: "submitted".into(),
                payload: json!({}),
            },
        },
    )
    .await
    .expect("started");
    let step = |n: u32| StepRequested {
        project: project.clone(),
        run: run.id.clone(),
        workflow: run.workflow.clone().expect("a workflow's run"),
        step: n,
        mode: run.mode,
    };
    let first = shared::runtime::execute_step(deps, &step(1))
        .await
        .expect("step 1");
    assert_eq!(first.next_step, Some(2));
    let rotated = app
        .call(
            Method::PUT,
            &format!("/projects/{p}/integrations/tickets/credentials"),
            Some(&token),
            Some(json!({"credentials": {"token": "canary-rotated-token-77"}})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let second = shared::runtime::execute_step(deps, &step(2))
        .await
        .expect("step 2");
    assert_eq!(second.effect, "sent");
    let duplicate = shared::runtime::execute_step(deps, &step(2))
        .await
        .expect("duplicate delivery");
    assert_eq!(duplicate.effect, "skipped");
    let captured = seen.lock().expect("lock").clone();
    assert_eq!(captured.len(), 2, "the duplicate delivery sent nothing");
    assert_eq!(captured[1].1, "/tickets/T-7", "step 2 used step 1's output");
    assert_eq!(captured[0].2["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(
        captured[1].2["authorization"], "Bearer canary-rotated-token-77",
        "the next step uses the new version"
    );
    let audit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/tickets/audit"),
            Some(&token),
            None,
        )
        .await;
    let uses: Vec<(Value, Value)> = audit.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["purpose"] == "step_execution")
        .map(|r| (r["cause"]["step"].clone(), r["credential_version"].clone()))
        .collect();
    assert_eq!(uses, vec![(json!(2), json!(2)), (json!(1), json!(1))]);
    let view = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs/{}", run.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(view.body["status"], "succeeded");
    let completed: Vec<String> = quiet_bus
        .published()
        .iter()
        .map(|e| e.detail_type.clone())
        .collect();
    assert!(
        completed.contains(&"RunCompleted".to_owned())
            && completed.contains(&"StepCompleted".to_owned())
    );
}

#[tokio::test]
async fn a_workflow_cannot_reach_another_projects_integration_at_run_time() {
    let app = TestApp::new();
    let (a, a_token) = app.project("a").await;
    let (b, b_token) = app.project("b").await;
    let (url, seen) = scripted_server(vec![(201, vec![], "{\"id\": \"T-1\"}")]).await;
    custom_api(&app, &a, &a_token, "tickets", &url).await;
    // Project b's workflow names "tickets", which only project a has.
    store_workflow(
        &app,
        &b,
        "sneaky",
        vec![(1, "tickets", "create_ticket", json!({"title": "x"}))],
    )
    .await;
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{b}/runs"),
            Some(&b_token),
            Some(json!({"workflow": "sneaky", "mode": "live", "trigger": intake()})),
        )
        .await;
    assert_eq!(run.body["status"], "failed", "{}", run.body);
    assert!(
        run.body["steps"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no integration tickets"))
    );
    assert!(seen.lock().expect("lock").is_empty());
}

/// A mock over the sandbox's byte budget (here, an echoed 70 KB title) fails the step
/// with the reason, and keeps the request the sandbox would have sent.
#[tokio::test]
async fn a_sandbox_step_whose_mock_would_be_over_the_budget_fails_with_the_reason() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    custom_api(&app, &p, &token, "tickets", "https://tickets.example.com").await;
    store_workflow(
        &app,
        &p,
        "intake",
        vec![(
            1,
            "tickets",
            "create_ticket",
            json!({"title": "{{entity.note}}"}),
        )],
    )
    .await;
    let trigger = json!({"entity": "IntakeForm", "event": "submitted", "payload": {"note": "n".repeat(70_000)}});
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "intake", "mode": "sandbox", "trigger": trigger})),
        )
        .await;
    assert_eq!(run.body["status"], "failed", "{}", run.body["status"]);
    let step = &run.body["steps"][0];
    assert_eq!(step["effect"], "failed");
    assert_eq!(
        step["error"],
        "no mock response for create_ticket: the mock response would be over 65536 bytes of JSON"
    );
    assert_eq!(step["request"]["method"], "POST");
}

#[tokio::test]
async fn bad_run_requests_are_refused_without_starting_anything() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let writes = app.local.writes.writes();
    let missing = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "nope", "trigger": intake()})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.body["errors"][0]["field"], "workflow");
    let bad_mode = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "x", "mode": "yolo", "trigger": intake()})),
        )
        .await;
    assert_eq!(bad_mode.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.local.writes.writes(), writes);
}

#[tokio::test]
async fn a_live_call_that_times_out_fails_the_step_without_repeating_an_unkeyed_post() {
    // A server that accepts the connection and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    custom_api(&app, &p, &token, "silent", &url).await;
    store_workflow(
        &app,
        &p,
        "silent",
        vec![(1, "silent", "create_ticket", json!({"title": "x"}))],
    )
    .await;
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "silent", "mode": "live", "trigger": intake()})),
        )
        .await;
    assert_eq!(run.body["status"], "failed", "{}", run.body);
    let error = run.body["steps"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out"), "{error}");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "a POST that may have arrived is not sent again"
    );
}

/// Eight deliveries of one live step at once (the bus delivers at least once): the
/// claim, written with the audit record of the credentials' use, lets exactly one of
/// them call out. The others cause nothing; a delivery that decrypted before losing the
/// claim says so in the audit trail.
#[tokio::test]
async fn concurrent_deliveries_of_a_live_step_call_out_once_and_every_decryption_is_audited() {
    let QuietRun {
        app,
        p,
        token,
        project,
        quiet,
        run,
        seen,
    } = quiet_live_run().await;
    let step = StepRequested {
        project: project.clone(),
        run: run.id.clone(),
        workflow: run.workflow.clone().expect("a workflow's run"),
        step: 1,
        mode: run.mode,
    };
    let deliveries = (0..8).map(|_| {
        let (deps, step) = (quiet.clone(), step.clone());
        tokio::spawn(async move { shared::runtime::execute_step(&deps, &step).await })
    });
    let mut effects = Vec::new();
    for delivery in deliveries {
        effects.push(delivery.await.expect("join").expect("step").effect);
    }
    effects.sort();
    assert_eq!(
        effects.iter().filter(|e| *e == "sent").count(),
        1,
        "{effects:?}"
    );
    assert_eq!(
        effects.iter().filter(|e| *e == "skipped").count(),
        7,
        "{effects:?}"
    );
    assert_eq!(
        seen.lock().expect("lock").len(),
        1,
        "one call reached the server"
    );
    let audit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/tickets/audit"),
            Some(&token),
            None,
        )
        .await;
    let outcomes: Vec<String> = audit.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["purpose"] == "step_execution")
        .map(|r| r["outcome"].as_str().expect("outcome").to_owned())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "decrypted").count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| o == "decrypted"
                || o.ends_with("not used: already claimed (duplicate delivery)")),
        "{outcomes:?}"
    );
    let view = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs/{}", run.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(view.body["status"], "succeeded", "{}", view.body);
}

/// Steps run concurrently, with a fair share per project: three live steps of one
/// project stuck on a provider that never answers do not hold up another project's
/// sandbox run, which finishes while they still wait.
#[tokio::test]
async fn a_stuck_provider_in_one_project_does_not_hold_up_another_project() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let app = TestApp::new();
    let (stuck, stuck_token) = app.project("stuck").await;
    custom_api(&app, &stuck, &stuck_token, "silent", &url).await;
    store_workflow(
        &app,
        &stuck,
        "silent",
        vec![(1, "silent", "create_ticket", json!({"title": "x"}))],
    )
    .await;
    let mut stuck_runs = Vec::new();
    for _ in 0..3 {
        let run = app
            .call(
                Method::POST,
                &format!("/projects/{stuck}/runs"),
                Some(&stuck_token),
                Some(json!({"workflow": "silent", "mode": "live", "trigger": intake(), "wait": false})),
            )
            .await;
        assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.body);
        stuck_runs.push(run.body["id"].as_str().expect("id").to_owned());
    }
    // The stuck steps are in flight: each has reached the silent server.
    for _ in 0..200 {
        if accepted.load(std::sync::atomic::Ordering::SeqCst) == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);

    let (other, other_token) = app.project("other").await;
    create(&app, &other, &other_token, json!({"name": "clinic-mail", "provider": "postmark", "credentials": {"server_token": TOKEN},
        "config": {"from_address": "clinic@example.com"}})).await;
    store_workflow(
        &app,
        &other,
        "intake",
        vec![(
            1,
            "clinic-mail",
            "send_email",
            json!({"To": "{{entity.patient_email}}", "Subject": "Hi", "TextBody": "Hello"}),
        )],
    )
    .await;
    let sandbox = app
        .call(
            Method::POST,
            &format!("/projects/{other}/runs"),
            Some(&other_token),
            Some(json!({"workflow": "intake", "mode": "sandbox", "trigger": intake()})),
        )
        .await;
    assert_eq!(sandbox.status, StatusCode::CREATED, "{}", sandbox.body);
    assert_eq!(sandbox.body["status"], "succeeded", "{}", sandbox.body);
    for run in &stuck_runs {
        let seen = app
            .call(
                Method::GET,
                &format!("/projects/{stuck}/runs/{run}"),
                Some(&stuck_token),
                None,
            )
            .await;
        assert_eq!(
            seen.body["status"], "running",
            "the stuck project's run still waits on its provider: {}",
            seen.body
        );
    }
}

/// Runs and their traces are kept 30 days by default: until then they read and list;
/// after, the run answers 404 and no listing shows it.
#[tokio::test]
async fn runs_and_their_traces_expire_after_the_retention() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    create(&app, &p, &token, json!({"name": "clinic-mail", "provider": "postmark", "credentials": {"server_token": TOKEN},
        "config": {"from_address": "clinic@example.com"}})).await;
    store_workflow(
        &app,
        &p,
        "intake",
        vec![(
            1,
            "clinic-mail",
            "send_email",
            json!({"To": "{{entity.patient_email}}", "Subject": "Hi", "TextBody": "Hello"}),
        )],
    )
    .await;
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "intake", "mode": "sandbox", "trigger": intake()})),
        )
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.body);
    let id = run.body["id"].as_str().expect("id").to_owned();
    app.local.clock.advance(
        chrono::Duration::days(i64::from(shared::aggregates::runs::DEFAULT_RETENTION_DAYS))
            - chrono::Duration::minutes(1),
    );
    let kept = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(
        kept.body["steps"].as_array().map(Vec::len),
        Some(1),
        "{}",
        kept.body
    );
    app.local.clock.advance(chrono::Duration::minutes(2));
    let gone = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.body);
    let listed = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(listed.body["runs"], json!([]), "{}", listed.body);
}

/// A start after a crash carries on the runs left running, found through the running
/// index: a run whose step was requested but never ran is resumed and completes; a run
/// whose live step was claimed with no trace (the process died mid-send) fails with its
/// outcome unknown and is never sent again; afterwards nothing is left running.
#[tokio::test]
async fn a_start_after_a_crash_resumes_unrun_steps_and_never_resends_a_claimed_one() {
    // The "crashed" process: its bus never delivers, as if it died with the events queued.
    let QuietRun {
        app,
        p,
        token,
        project,
        quiet: crashed,
        run: unrun,
        seen,
    } = quiet_live_run().await;
    let claimed = shared::runtime::start_run(&crashed, one_step_live(&project))
        .await
        .expect("run");
    // The second one's step was claimed (and perhaps sent) when the process died.
    app.local
        .deps
        .store
        .put(
            Item::new(
                Key::new(
                    keys::project(&project),
                    keys::run_step_claim(&claimed.id, 1),
                ),
                json!({"claimed_at": shared::ports::Clock::now(app.local.clock.as_ref())}),
            ),
            Condition::NotExists,
        )
        .await
        .expect("claim");
    let listed = shared::aggregates::runs::running(&app.local.deps)
        .await
        .expect("index");
    assert_eq!(listed.len(), 2, "{listed:?}");

    // The restart.
    let resumed = shared::runtime::resume(&app.local.deps)
        .await
        .expect("resume");
    assert_eq!(
        (resumed.requested, resumed.unknown, resumed.ended),
        (1, 1, 0)
    );
    app.local.bus.wait_idle().await;
    let read = |id: String| {
        let (app, p, token) = (&app, p.clone(), token.clone());
        async move {
            app.call(
                Method::GET,
                &format!("/projects/{p}/runs/{id}"),
                Some(&token),
                None,
            )
            .await
            .body
        }
    };
    let done = read(unrun.id.to_string()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let unknown = read(claimed.id.to_string()).await;
    assert_eq!(unknown["status"], "failed", "{unknown}");
    let error = unknown["steps"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("may have reached the provider"), "{error}");
    assert_eq!(
        seen.lock().expect("lock").len(),
        1,
        "only the unrun step was sent"
    );
    assert!(
        shared::aggregates::runs::running(&app.local.deps)
            .await
            .expect("index")
            .is_empty(),
        "nothing is left running"
    );
}

/// A delivery that finds a live step claimed long ago with no trace (its holder died
/// after claiming) records the step as failed with its outcome unknown, instead of
/// waiting forever or sending it again.
#[tokio::test]
async fn a_stale_claim_fails_the_step_as_unknown_instead_of_resending_it() {
    let QuietRun {
        app,
        p,
        token,
        project,
        quiet,
        run,
        seen,
    } = quiet_live_run().await;
    quiet
        .store
        .put(
            Item::new(
                Key::new(keys::project(&project), keys::run_step_claim(&run.id, 1)),
                json!({"claimed_at": shared::ports::Clock::now(app.local.clock.as_ref())}),
            ),
            Condition::NotExists,
        )
        .await
        .expect("claim");
    let step = StepRequested {
        project: project.clone(),
        run: run.id.clone(),
        workflow: run.workflow.clone().expect("a workflow's run"),
        step: 1,
        mode: run.mode,
    };
    let fresh = shared::runtime::execute_step(&quiet, &step)
        .await
        .expect("step");
    assert_eq!(
        fresh.effect, "skipped",
        "a recent claim is another delivery at work"
    );
    app.local.clock.advance(chrono::Duration::minutes(2));
    let stale = shared::runtime::execute_step(&quiet, &step)
        .await
        .expect("step");
    assert_eq!(stale.effect, "failed");
    assert!(seen.lock().expect("lock").is_empty(), "never sent");
    let view = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs/{}", run.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(view.body["status"], "failed", "{}", view.body);
}

/// A live one-step workflow against a scripted ticket server, and one run of it started
/// on a bus that never delivers (its step is left for the test to deliver, or for a
/// restart to find): the app, project, token, that quiet copy of the app's adapters, the
/// run and what the server saw.
struct QuietRun {
    app: TestApp,
    p: String,
    token: String,
    project: ProjectId,
    quiet: shared::ports::Deps,
    run: shared::domain::Run,
    seen: Seen,
}

async fn quiet_live_run() -> QuietRun {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let (url, seen) = scripted_server(vec![(201, vec![], "{\"id\": \"T-1\"}")]).await;
    custom_api(&app, &p, &token, "tickets", &url).await;
    store_workflow(
        &app,
        &p,
        "one-step",
        vec![(1, "tickets", "create_ticket", json!({"title": "once"}))],
    )
    .await;
    let mut quiet = app.local.deps.clone();
    quiet.bus = Arc::new(shared::adapters::InProcessBus::new());
    let project = ProjectId::parse(&p).expect("id");
    let run = shared::runtime::start_run(&quiet, one_step_live(&project))
        .await
        .expect("started");
    QuietRun {
        app,
        p,
        token,
        project,
        quiet,
        run,
        seen,
    }
}

fn one_step_live(project: &ProjectId) -> shared::runtime::StartRun {
    shared::runtime::StartRun {
        project: project.clone(),
        workflow: WorkflowId::parse("one-step").expect("id"),
        mode: shared::domain::RunMode::Live,
        trigger: shared::runtime::RunTrigger::Entity {
            entity: "IntakeForm".into(),
            event: "submitted".into(),
            payload: json!({}),
        },
    }
}
