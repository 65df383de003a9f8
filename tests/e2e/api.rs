//! The studio API through the local router (all four functions' routes) over embedded
//! adapters: projects and their tokens, problem+json errors, reads, and the routes
//! that answer 501 until their issue lands.

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::aggregates::keys;
use shared::domain::{
    CredentialEnvelope, Integration, IntegrationName, Run, RunId, RunMode, RunStatus, StepTrace,
    WorkflowId,
};
use shared::http::{AppState, local_router};
use shared::ports::{Condition, Item, Key};
use studio_tests::{LocalDeps, local_deps};
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub local: LocalDeps,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub fn new() -> Self {
        Self::over(local_deps())
    }

    /// An app over the given dependencies (another store, for example).
    pub fn over(local: LocalDeps) -> Self {
        let router = local_router(AppState {
            deps: local.deps.clone(),
            max_webhook_bytes: 64 * 1024,
            agent: Default::default(),
        });
        Self { router, local }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
            None => builder.body(Body::empty()).expect("request"),
        };
        self.send(request).await
    }

    /// Creates a project; returns (id, token).
    pub async fn project(&self, name: &str) -> (String, String) {
        let answer = self
            .call(Method::POST, "/projects", None, Some(json!({"name": name})))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        (
            answer.body["id"].as_str().expect("id").to_owned(),
            answer.body["token"].as_str().expect("token").to_owned(),
        )
    }
}

fn assert_problem(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(answer.body["status"], status.as_u16());
    assert!(
        answer.body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/"))
    );
    assert!(answer.body["title"].is_string() && answer.body["detail"].is_string());
}

#[tokio::test]
async fn creating_a_project_returns_its_token_once_and_the_token_reads_it_back() {
    let app = TestApp::new();
    let (id, token) = app.project("  Clinic  ").await;
    assert!(token.starts_with("stk_") && token.len() > 40);
    let read = app
        .call(Method::GET, &format!("/projects/{id}"), Some(&token), None)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["name"], "Clinic");
    assert_eq!(read.body["id"], id.as_str());
    assert!(
        read.body.get("token").is_none(),
        "the token is shown only at creation"
    );
    let stored = app
        .local
        .deps
        .store
        .get(&Key::new(format!("P#{id}"), "META"))
        .await
        .expect("get")
        .expect("stored");
    assert!(
        !stored.doc.to_string().contains(&token),
        "only the token's hash is stored"
    );
}

#[tokio::test]
async fn project_routes_refuse_a_missing_foreign_or_forged_token() {
    let app = TestApp::new();
    let (clinic, clinic_token) = app.project("clinic").await;
    let (_, other_token) = app.project("other").await;
    let path = format!("/projects/{clinic}/integrations");
    for token in [
        None,
        Some(other_token.as_str()),
        Some("stk_forged"),
        Some(""),
    ] {
        let answer = app.call(Method::GET, &path, token, None).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED);
        assert_eq!(
            answer
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
    // The same answer for a project that does not exist: no probing for ids.
    let unknown = app
        .call(
            Method::GET,
            "/projects/no-such-project/integrations",
            Some(&clinic_token),
            None,
        )
        .await;
    assert_problem(&unknown, StatusCode::UNAUTHORIZED);
    let ok = app
        .call(Method::GET, &path, Some(&clinic_token), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, json!({"integrations": []}));
}

#[tokio::test]
async fn bad_project_bodies_get_a_clear_problem_and_change_nothing() {
    let app = TestApp::new();
    let cases: Vec<(Request<Body>, StatusCode, Option<&str>)> = vec![
        (
            json_request("/projects", "{\"name\": \"\"}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
        (
            json_request("/projects", "{\"name\": \"   \"}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
        (
            json_request("/projects", "{}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("body"),
        ),
        (
            json_request("/projects", "{\"name\": 7}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("body"),
        ),
        (
            json_request("/projects", "{\"name\": \"a\", \"extra\": 1}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("body"),
        ),
        (
            json_request("/projects", "{\"name\": "),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            json_request(
                "/projects",
                &format!("{{\"name\": \"{}\"}}", "n".repeat(300 * 1024)),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
        (
            Request::builder()
                .method("POST")
                .uri("/projects")
                .body(Body::from("{\"name\":\"a\"}"))
                .expect("req"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
    ];
    for (request, status, field) in cases {
        let answer = app.send(request).await;
        assert_problem(&answer, status);
        if let Some(field) = field {
            assert_eq!(answer.body["errors"][0]["field"], field, "{}", answer.body);
        }
    }
    assert_eq!(app.local.writes.writes(), 0, "bad input wrote nothing");
}

fn json_request(path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let app = TestApp::new();
    assert_problem(
        &app.call(Method::GET, "/nowhere", None, None).await,
        StatusCode::NOT_FOUND,
    );
    assert_problem(
        &app.call(Method::DELETE, "/projects", None, None).await,
        StatusCode::METHOD_NOT_ALLOWED,
    );
}

#[tokio::test]
async fn reads_find_what_the_store_holds_and_404_what_it_does_not() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let project = shared::domain::ProjectId::parse(&p).expect("id");
    let store = &app.local.deps.store;
    let now = chrono::Utc::now();

    assert_problem(
        &app.call(
            Method::GET,
            &format!("/projects/{p}/integrations/postmark"),
            Some(&token),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    );
    assert_problem(
        &app.call(
            Method::GET,
            &format!("/projects/{p}/workflows/patient-intake"),
            Some(&token),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    );
    assert_problem(
        &app.call(
            Method::GET,
            &format!("/projects/{p}/runs/run-1"),
            Some(&token),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    );
    assert_problem(
        &app.call(
            Method::GET,
            &format!("/projects/{p}/runs/BAD%23ID"),
            Some(&token),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );

    let name = IntegrationName::parse("postmark").expect("name");
    let integration = Integration {
        name: name.clone(),
        provider: "postmark".into(),
        config: serde_json::from_value(json!({"from_address": "clinic@example.com"})).expect("map"),
        credentials: CredentialEnvelope {
            context: 1,
            version: 3,
            key_id: "local:test".into(),
            wrapped_key: "d3JhcHBlZA==".into(),
            nonce: "bm9uY2U=".into(),
            ciphertext: "c2VjcmV0".into(),
            fields: vec!["server_token".into()],
        },
        created_at: now,
        updated_at: now,
        revision: 0,
        needs_attention: None,
        agent_live: false,
        token_expires_at: None,
    };
    store
        .put(
            Item::of(
                Key::new(keys::project(&project), keys::integration(&name)),
                &integration,
            )
            .expect("item"),
            Condition::Always,
        )
        .await
        .expect("put");
    let read = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/postmark"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["credential_version"], 3);
    assert_eq!(read.body["credential_fields"], json!(["server_token"]));
    assert!(
        !read.body.to_string().contains("c2VjcmV0"),
        "no ciphertext or key material in metadata"
    );
    assert!(
        !read.body.to_string().contains("d3JhcHBlZA"),
        "no wrapped key in metadata"
    );

    let workflow = WorkflowId::parse("patient-intake").expect("id");
    for (n, minutes) in [(1, 2), (2, 1)] {
        let run = Run {
            id: RunId::parse(&format!("run-{n}")).expect("id"),
            workflow: Some(workflow.clone()),
            source: Default::default(),
            tool: None,
            mode: RunMode::Sandbox,
            status: RunStatus::Succeeded,
            trigger: json!({"entity": "IntakeForm"}),
            started_at: now - chrono::Duration::minutes(minutes),
            finished_at: Some(now),
        };
        store
            .put(
                Item::of(Key::new(keys::project(&project), keys::run(&run.id)), &run)
                    .expect("item"),
                Condition::Always,
            )
            .await
            .expect("put");
        let trace = StepTrace {
            run: run.id.clone(),
            step: 1,
            integration: name.clone(),
            operation: "send_email".into(),
            effect: "would_have_sent".into(),
            request: Some(json!({"method": "POST"})),
            response: Some(json!({"MessageID": "m-1"})),
            error: None,
            started_at: now,
            finished_at: now,
            lookups: Vec::new(),
            fetched: None,
        };
        store
            .put(
                Item::of(
                    Key::new(keys::project(&project), keys::run_step(&run.id, 1)),
                    &trace,
                )
                .expect("item"),
                Condition::Always,
            )
            .await
            .expect("put");
    }
    let run = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs/run-1"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(run.status, StatusCode::OK);
    assert_eq!(run.body["steps"][0]["effect"], "would_have_sent");
    let listed = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs?workflow=patient-intake"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let ids: Vec<&str> = listed.body["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec!["run-2", "run-1"],
        "newest id first, step traces not listed as runs"
    );
    let none = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs?workflow=other"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(none.body["runs"], json!([]));
    let bad_limit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs?limit=0"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&bad_limit, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn webhooks_answer_401_for_unknown_targets_and_413_past_the_limit_and_store_nothing() {
    let app = TestApp::new();
    let (p, _token) = app.project("clinic").await;
    let writes = app.local.writes.writes();
    let hook = |path: String, body: Vec<u8>| {
        Request::builder()
            .method("POST")
            .uri(path)
            .body(Body::from(body))
            .expect("req")
    };
    assert_problem(
        &app.send(hook("/hooks/nope/stripe".into(), b"{}".to_vec()))
            .await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        &app.send(hook(format!("/hooks/{p}/stripe"), b"{}".to_vec()))
            .await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        &app.send(hook(format!("/hooks/{p}/stripe"), vec![b'x'; 65 * 1024]))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    assert_eq!(app.local.writes.writes(), writes);
    assert!(
        app.local.bus.published().is_empty(),
        "nothing unverified is published"
    );
}
