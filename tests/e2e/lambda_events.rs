//! Every sample event in `events/` goes through the Lambda entry point of the function
//! whose folder it is in, the same code path as on AWS.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use shared::aggregates::keys;
use shared::domain::{CredentialEnvelope, Integration, IntegrationName, Project, ProjectId};
use shared::execute::ExecuteStep;
use shared::http::{AppState, Function, hash_token, router};
use shared::lambda::{InvocationError, invoke};
use shared::ports::{Condition, EventHandler, Item, Key};
use studio_tests::local_deps;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("events")
}

fn function_of(folder: &str) -> Function {
    match folder {
        "add-integration" => Function::AddIntegration,
        "compile-contract" => Function::CompileContract,
        "execute-step" => Function::ExecuteStep,
        "ingest-webhook" => Function::IngestWebhook,
        other => panic!("events/{other} is not a function's folder"),
    }
}

/// What each sample must produce today: an HTTP status, or whether the bus event was
/// handled. A sample without an entry fails the test, so new samples get checked.
fn expected() -> BTreeMap<&'static str, Value> {
    BTreeMap::from([
        ("add-integration/create-project.json", json!(201)),
        ("add-integration/create-project-invalid.json", json!(422)),
        ("add-integration/get-project.json", json!(200)),
        ("add-integration/list-integrations.json", json!(200)),
        ("add-integration/describe.json", json!(200)),
        ("add-integration/create-integration.json", json!(201)),
        ("add-integration/get-dependents.json", json!(200)),
        // The samples run in order on one store, so they chain: create-integration made
        // the postmark integration that compile-step compiles against, get-workflow
        // reads the result, and start-run runs it in the sandbox.
        ("compile-contract/compile-step.json", json!(201)),
        ("compile-contract/get-workflow.json", json!(200)),
        ("execute-step/start-run.json", json!(201)),
        ("execute-step/get-run.json", json!(404)),
        ("execute-step/list-runs.json", json!(200)),
        // No workflow subscribes yet: handled, nothing started.
        ("execute-step/data-changed.json", json!({"handled": true})),
        (
            "execute-step/workflow-triggered.json",
            json!({"handled": true}),
        ),
        // The run does not exist: refused for good (not retried).
        (
            "execute-step/step-requested.json",
            json!({"handled": false}),
        ),
        // The seeded stripe integration holds no webhook secret: refused, never accepted unsigned.
        ("ingest-webhook/stripe-webhook.json", json!(401)),
    ])
}

#[tokio::test]
async fn every_sample_event_goes_through_its_function_with_the_expected_answer() {
    let local = local_deps();
    let deps = local.deps.clone();
    // The samples act on project prj-demo with token stk_demo, which has a stripe integration.
    let project = ProjectId::parse("prj-demo").expect("id");
    let record = Project {
        id: project.clone(),
        name: "Demo".into(),
        created_at: chrono::Utc::now(),
        token_sha256: hash_token("stk_demo"),
    };
    deps.store
        .put(
            Item::of(Key::new(keys::project(&project), keys::META), &record).expect("item"),
            Condition::Always,
        )
        .await
        .expect("seed project");
    let stripe = IntegrationName::parse("stripe").expect("name");
    let integration = Integration {
        name: stripe.clone(),
        provider: "stripe".into(),
        config: Default::default(),
        credentials: CredentialEnvelope {
            context: 1,
            version: 1,
            key_id: "local:x".into(),
            wrapped_key: String::new(),
            nonce: String::new(),
            ciphertext: String::new(),
            fields: vec![],
        },
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        revision: 0,
        needs_attention: None,
        agent_live: false,
        token_expires_at: None,
    };
    deps.store
        .put(
            Item::of(
                Key::new(keys::project(&project), keys::integration(&stripe)),
                &integration,
            )
            .expect("item"),
            Condition::Always,
        )
        .await
        .expect("seed integration");

    let expected = expected();
    let mut checked = 0;
    let mut folders: Vec<_> = std::fs::read_dir(events_dir())
        .expect("events/")
        .flatten()
        .collect();
    folders.sort_by_key(|e| e.file_name());
    for folder in folders.into_iter().filter(|e| e.path().is_dir()) {
        let folder_name = folder.file_name().to_string_lossy().into_owned();
        let function = function_of(&folder_name);
        let app = router(
            function,
            AppState {
                deps: deps.clone(),
                max_webhook_bytes: 1024 * 1024,
                agent: Default::default(),
            },
        );
        let handler: Option<Arc<dyn EventHandler>> = (function == Function::ExecuteStep)
            .then(|| Arc::new(ExecuteStep::new(deps.clone())) as Arc<dyn EventHandler>);
        let mut files: Vec<_> = std::fs::read_dir(folder.path())
            .expect("folder")
            .flatten()
            .collect();
        files.sort_by_key(|e| e.file_name());
        for file in files
            .into_iter()
            .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
        {
            let name = format!("{folder_name}/{}", file.file_name().to_string_lossy());
            let want = expected
                .get(name.as_str())
                .unwrap_or_else(|| panic!("no expectation for events/{name}"));
            let payload: Value = serde_json::from_slice(&std::fs::read(file.path()).expect("read"))
                .expect("valid JSON");
            let answer = invoke(&app, handler.as_deref(), payload)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            match want {
                Value::Number(status) => {
                    assert_eq!(
                        answer["statusCode"].as_u64(),
                        status.as_u64(),
                        "{name}: {answer}"
                    );
                    if status.as_u64().is_some_and(|s| s >= 400) {
                        assert_eq!(
                            answer["headers"]["content-type"], "application/problem+json",
                            "{name}"
                        );
                    }
                }
                Value::Object(outcome) => {
                    assert_eq!(answer["handled"], outcome["handled"], "{name}: {answer}")
                }
                other => panic!("bad expectation {other}"),
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        expected.len(),
        "every expectation matched a sample file"
    );
}

/// On AWS the HTTP API's JWT authorizer has verified the caller; its `projects` claim
/// decides, whatever bearer token rides along.
#[tokio::test]
async fn on_lambda_the_jwt_projects_claim_decides_access() {
    let local = local_deps();
    let project = ProjectId::parse("prj-demo").expect("id");
    let record = Project {
        id: project.clone(),
        name: "Demo".into(),
        created_at: chrono::Utc::now(),
        token_sha256: hash_token("a-different-token"),
    };
    local
        .deps
        .store
        .put(
            Item::of(Key::new(keys::project(&project), keys::META), &record).expect("item"),
            Condition::Always,
        )
        .await
        .expect("seed");
    let app = router(
        Function::AddIntegration,
        AppState {
            deps: local.deps.clone(),
            max_webhook_bytes: 1024,
            agent: Default::default(),
        },
    );
    let sample: Value = serde_json::from_slice(
        &std::fs::read(events_dir().join("add-integration/get-project.json")).expect("read"),
    )
    .expect("json");
    let with_claim = |projects: &str| {
        let mut event = sample.clone();
        event["requestContext"]["authorizer"]["jwt"]["claims"]["projects"] = json!(projects);
        event
    };
    for (claim, status) in [
        ("prj-demo", 200),
        ("other prj-demo", 200),
        ("other,prj-demo", 200),
        ("other", 401),
        ("", 401),
    ] {
        let answer = invoke(&app, None, with_claim(claim))
            .await
            .expect("answered");
        assert_eq!(answer["statusCode"], status, "claim {claim:?}: {answer}");
    }
}

#[tokio::test]
async fn a_function_refuses_events_it_has_no_handler_for_and_payloads_it_cannot_read() {
    let local = local_deps();
    let app = router(
        Function::AddIntegration,
        AppState {
            deps: local.deps.clone(),
            max_webhook_bytes: 1024,
            agent: Default::default(),
        },
    );
    let event: Value = serde_json::from_slice(
        &std::fs::read(events_dir().join("execute-step/step-requested.json")).expect("read"),
    )
    .expect("json");
    assert!(matches!(
        invoke(&app, None, event).await,
        Err(InvocationError::NoEventHandler)
    ));
    assert!(matches!(
        invoke(&app, None, json!({"hello": "world"})).await,
        Err(InvocationError::UnknownPayload(_))
    ));
}

#[tokio::test]
async fn a_route_of_another_function_is_not_served_by_this_one() {
    let local = local_deps();
    let app = router(
        Function::CompileContract,
        AppState {
            deps: local.deps.clone(),
            max_webhook_bytes: 1024,
            agent: Default::default(),
        },
    );
    let payload: Value = serde_json::from_slice(
        &std::fs::read(events_dir().join("add-integration/create-project.json")).expect("read"),
    )
    .expect("json");
    let answer = invoke(&app, None, payload).await.expect("answered");
    assert_eq!(answer["statusCode"], 404);
}
