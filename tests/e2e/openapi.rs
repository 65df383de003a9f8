//! The OpenAPI document (`docs/openapi.json`): the checked-in copy is the one the code
//! makes, it is a valid OpenAPI 3.1 document (the OpenAPI Initiative's JSON Schema,
//! vendored in `tests/data/openapi-3.1`), the local binary's router serves it, and the
//! API answers as it says: every status a walk through the API meets is documented for
//! its operation, and every body validates against the documented schema.

use std::path::PathBuf;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use jsonschema::{Registry, Validator};
use serde_json::{Value, json};

use crate::api::{Answer, TestApp};
use base64::Engine;

/// The Postmark integration's webhook password (its deliveries' basic credentials).
const HOOK_PASSWORD: &str = "hook-password-0001";

/// The command that writes the checked-in copy again.
const REGENERATE: &str =
    "STUDIO_WRITE_OPENAPI=1 cargo test -p studio-tests --test e2e -- openapi::the_checked_in";

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

fn document() -> Value {
    let text = shared::http::openapi::json().expect("the document");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn the_checked_in_document_is_the_one_the_code_makes() {
    let made = shared::http::openapi::json().expect("the document");
    let path = checked_in_path();
    if std::env::var_os("STUDIO_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &made).expect("write docs/openapi.json");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == made,
        "docs/openapi.json is not the document the code makes; write it again with\n  {REGENERATE}"
    );
}

/// The OpenAPI 3.1 schema that also checks every Schema Object against the OAS
/// dialect, with the schemas it refers to registered under their ids.
fn openapi_31_validator() -> Validator {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/openapi-3.1");
    let load = |name: &str| -> Value {
        let text = std::fs::read_to_string(dir.join(name)).expect("vendored schema");
        serde_norway::from_str(&text).expect("YAML")
    };
    let base = load("schema-base.yaml");
    let mut resources = Vec::new();
    for name in ["schema.yaml", "dialect.yaml", "meta.yaml"] {
        let schema = load(name);
        let id = schema["$id"].as_str().expect("$id").to_owned();
        resources.push((id, schema));
    }
    let registry = Registry::new()
        .extend(resources)
        .expect("ids")
        .prepare()
        .expect("registry");
    jsonschema::options()
        .with_registry(&registry)
        .build(&base)
        .expect("the OpenAPI 3.1 schema compiles")
}

#[test]
fn the_document_is_a_valid_openapi_3_1_document() {
    let validator = openapi_31_validator();
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // The validator does catch a broken document.
    let mut broken = doc.clone();
    broken["paths"]["/projects"]["post"]["responses"]["201"] = json!({"content": 1});
    assert!(!validator.is_valid(&broken));
}

#[tokio::test]
async fn the_local_router_serves_the_document_at_openapi_json() {
    let app = TestApp::new();
    let request = Request::builder()
        .method(Method::GET)
        .uri("/openapi.json")
        .body(Body::empty())
        .expect("request");
    let answer = app.send(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(answer.body, document());
}

/// Holds answers against the document.
struct Conformance {
    doc: Value,
    /// The (method, route) pairs checked so far.
    checked: std::cell::RefCell<std::collections::BTreeSet<(String, String)>>,
}

impl Conformance {
    fn new() -> Self {
        Self {
            doc: document(),
            checked: Default::default(),
        }
    }

    /// `answer` was the API's answer to `method` on the route `template`: its status is
    /// documented for the operation, with the media type it came with, and its body
    /// validates against the schema documented for them.
    fn check(&self, method: &Method, template: &str, answer: &Answer) {
        let what = format!("{method} {template} → {}", answer.status);
        let operation = &self.doc["paths"][template][method.as_str().to_ascii_lowercase()];
        assert!(operation.is_object(), "{what}: no such operation");
        let mut response = &operation["responses"][answer.status.as_str()];
        assert!(
            response.is_object(),
            "{what}: status not documented: {}",
            answer.body
        );
        if let Some(reference) = response["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/responses/");
            response = &self.doc["components"]["responses"][name];
        }
        if answer.body.is_null() {
            assert!(response.get("content").is_none(), "{what}: body expected");
        } else {
            let media = answer
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let schema = &response["content"][media]["schema"];
            assert!(schema.is_object(), "{what}: {media} not documented");
            let mut root = schema.clone();
            root["components"] = self.doc["components"].clone();
            let validator = jsonschema::validator_for(&root).expect("schema compiles");
            let errors: Vec<String> = validator
                .iter_errors(&answer.body)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{what}: {}\n{}",
                errors.join("\n"),
                answer.body
            );
        }
        self.checked
            .borrow_mut()
            .insert((method.to_string(), template.to_owned()));
    }
}

#[tokio::test]
async fn a_walk_through_the_api_meets_only_documented_answers() {
    let app = TestApp::new();
    let doc = Conformance::new();
    let call = async |method: Method,
                      template: &str,
                      path: &str,
                      token: Option<&str>,
                      body: Option<Value>,
                      status: StatusCode|
           -> Answer {
        let answer = app.call(method.clone(), path, token, body).await;
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.body);
        doc.check(&method, template, &answer);
        answer
    };
    let created = call(
        Method::POST,
        "/projects",
        "/projects",
        None,
        Some(json!({"name": "clinic"})),
        StatusCode::CREATED,
    )
    .await;
    let p = created.body["id"].as_str().expect("id").to_owned();
    let token = created.body["token"].as_str().expect("token").to_owned();
    let t = Some(token.as_str());
    call(
        Method::POST,
        "/projects",
        "/projects",
        None,
        Some(json!({"nom": "clinic"})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    call(
        Method::GET,
        "/projects/{project}",
        &format!("/projects/{p}"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    call(
        Method::GET,
        "/projects/{project}",
        &format!("/projects/{p}"),
        None,
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    call(
        Method::POST,
        "/projects/{project}/integrations/describe",
        &format!("/projects/{p}/integrations/describe"),
        t,
        Some(json!({"text": "Connect to Postmark to send transactional emails."})),
        StatusCode::OK,
    )
    .await;
    let postmark = json!({"name": "postmark", "provider": "postmark",
        "credentials": {"server_token": "pm-server-token-1", "webhook_password": HOOK_PASSWORD},
        "config": {"from_address": "clinic@example.com"}});
    let integrations = "/projects/{project}/integrations";
    let integration = "/projects/{project}/integrations/{name}";
    let ip = format!("/projects/{p}/integrations");
    let named = format!("{ip}/postmark");
    call(
        Method::POST,
        integrations,
        &ip,
        t,
        Some(postmark.clone()),
        StatusCode::CREATED,
    )
    .await;
    call(
        Method::POST,
        integrations,
        &ip,
        t,
        Some(postmark),
        StatusCode::CONFLICT,
    )
    .await;
    call(Method::GET, integrations, &ip, t, None, StatusCode::OK).await;
    // Postmark's deliveries carry the webhook URL's basic credentials.
    let hook = format!("/hooks/{p}/postmark");
    let delivery = json!({"RecordType": "Delivery", "MessageID": "m-1",
        "Recipient": "ada@example.com", "DeliveredAt": "2026-11-29T10:00:01Z"});
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("postmark:{HOOK_PASSWORD}"));
    let signed = Request::builder()
        .method(Method::POST)
        .uri(&hook)
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/json")
        .body(Body::from(delivery.to_string()))
        .expect("request");
    let answer = app.send(signed).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["outcome"], "recorded");
    doc.check(&Method::POST, "/hooks/{project}/{integration}", &answer);
    call(Method::GET, integration, &named, t, None, StatusCode::OK).await;
    call(
        Method::GET,
        integration,
        &format!("{ip}/absent"),
        t,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    call(
        Method::PATCH,
        integration,
        &named,
        t,
        Some(json!({"config": {"from_address": "desk@example.com"}})),
        StatusCode::OK,
    )
    .await;
    call(
        Method::PUT,
        "/projects/{project}/integrations/{name}/credentials",
        &format!("{named}/credentials"),
        t,
        Some(json!({"credentials": {"server_token": "pm-server-token-2"}})),
        StatusCode::OK,
    )
    .await;
    let compile = "/projects/{project}/workflows/{workflow}/steps/compile";
    let workflow = format!("/projects/{p}/workflows/patient-intake");
    call(
        Method::POST,
        compile,
        &format!("{workflow}/steps/compile"),
        t,
        Some(json!({
            "instruction": "When the intake form is submitted, call the Postmark integration to send a confirmation email to the patient.",
            "entity": {"name": "IntakeForm", "fields": {"patient_name": "string", "patient_email": "email"}}
        })),
        StatusCode::CREATED,
    )
    .await;
    call(
        Method::GET,
        "/projects/{project}/workflows/{workflow}",
        &workflow,
        t,
        None,
        StatusCode::OK,
    )
    .await;
    call(
        Method::GET,
        "/projects/{project}/integrations/{name}/dependents",
        &format!("{named}/dependents"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    call(
        Method::DELETE,
        integration,
        &named,
        t,
        None,
        StatusCode::CONFLICT,
    )
    .await;
    let runs = format!("/projects/{p}/runs");
    let trigger = json!({"entity": "IntakeForm", "payload": {"patient_name": "Ada", "patient_email": "ada@example.com"}});
    let run = call(
        Method::POST,
        "/projects/{project}/runs",
        &runs,
        t,
        Some(json!({"workflow": "patient-intake", "trigger": trigger})),
        StatusCode::CREATED,
    )
    .await;
    let run_id = run.body["id"].as_str().expect("run id").to_owned();
    call(
        Method::GET,
        "/projects/{project}/runs",
        &format!("{runs}?workflow=patient-intake"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    call(
        Method::GET,
        "/projects/{project}/runs",
        &format!("{runs}?limit=many"),
        t,
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    call(
        Method::GET,
        "/projects/{project}/runs/{run}",
        &format!("{runs}/{run_id}"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    call(
        Method::POST,
        "/projects/{project}/integrations/{name}/verify",
        &format!("{named}/verify?mode=sandbox"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    call(
        Method::GET,
        "/projects/{project}/integrations/{name}/audit",
        &format!("{named}/audit"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    call(
        Method::PUT,
        "/projects/{project}/integrations/{name}/agent-access",
        &format!("{named}/agent-access"),
        t,
        Some(json!({"live": false})),
        StatusCode::OK,
    )
    .await;
    // The MCP server: an initialize, as a client sends it.
    let initialize = Request::builder()
        .method(Method::POST)
        .uri(format!("/projects/{p}/mcp"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Body::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "walk", "version": "1"}}})
            .to_string(),
        ))
        .expect("request");
    let answer = app.send(initialize).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["result"]["serverInfo"]["name"], "studio");
    doc.check(&Method::POST, "/projects/{project}/mcp", &answer);
    call(
        Method::POST,
        "/projects/{project}/integrations/{name}/webhook-verification-token",
        &format!("{named}/webhook-verification-token"),
        t,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    call(
        Method::POST,
        "/hooks/{project}/{integration}",
        &hook,
        None,
        Some(delivery),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    call(
        Method::DELETE,
        "/projects/{project}/workflows/{workflow}/steps/{step}",
        &format!("{workflow}/steps/1"),
        t,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    call(
        Method::DELETE,
        integration,
        &named,
        t,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    // A body that is not JSON, and one sent as another media type.
    let not_json = Request::builder()
        .method(Method::POST)
        .uri(&ip)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .expect("request");
    let answer = app.send(not_json).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    doc.check(&Method::POST, integrations, &answer);
    let text = Request::builder()
        .method(Method::POST)
        .uri(&ip)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "text/plain")
        .body(Body::from("postmark"))
        .expect("request");
    let answer = app.send(text).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    doc.check(&Method::POST, integrations, &answer);
    // Every route was walked.
    let walked = doc.checked.borrow();
    for (_, method, path) in shared::http::ROUTES {
        assert!(
            walked.contains(&(method.to_string(), path.to_string())),
            "{method} {path} was not walked"
        );
    }
}
