//! Compile racing DELETE: a step is stored only on an integration that exists, and an
//! integration is deleted only while no step uses it, on both stores. A step stays
//! bound to the integration it was compiled against, never to one re-created under
//! its name.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::adapters::DynamoStore;
use shared::ports::{Condition, Key, Store};
use studio_tests::{create_table, local_deps, local_deps_over, moto_endpoint, sdk_config};

use crate::api::TestApp;
use crate::compile::{add_postmark, compile_step, intake_entity};

/// Compile + DELETE pairs run at once.
const PAIRS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compile_racing_delete_never_leaves_a_step_on_a_missing_integration_locally() {
    race(TestApp::over(local_deps())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compile_racing_delete_never_leaves_a_step_on_a_missing_integration_on_dynamodb() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let table = create_table(&sdk).await;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table,
        studio_tests::test_clock(),
    ));
    race(TestApp::over(local_deps_over(Some(store)))).await;
}

fn step_on(integration: &str) -> Value {
    json!({"integration": integration, "operation": "send_email", "entity": intake_entity(),
           "trigger": {"kind": "entity", "entity": "IntakeForm", "event": "submitted"},
           "input_mapping": {"To": "{{entity.patient_email}}", "Subject": "Welcome", "TextBody": "Hello {{entity.patient_name}}"}})
}

async fn race(app: TestApp) {
    let app = Arc::new(app);
    let (p, token) = app.project("race").await;
    for k in 0..PAIRS {
        add_postmark(&app, &p, &token, &format!("mail-{k}")).await;
    }
    let pairs = (0..PAIRS).map(|k| {
        let (app, p, token) = (app.clone(), p.clone(), token.clone());
        tokio::spawn(async move {
            let name = format!("mail-{k}");
            let path = format!("/projects/{p}/integrations/{name}");
            let workflow = format!("w-{k}");
            let compile = compile_step(&app, &p, &token, &workflow, step_on(&name));
            let delete = app.call(Method::DELETE, &path, Some(&token), None);
            // Either one starts first, half of the time each.
            if k % 2 == 0 {
                let (compiled, deleted) = tokio::join!(compile, delete);
                (k, compiled, deleted)
            } else {
                let (deleted, compiled) = tokio::join!(delete, compile);
                (k, compiled, deleted)
            }
        })
    });
    let (mut compiled_first, mut deleted_first) = (0, 0);
    for pair in pairs {
        let (k, compiled, deleted) = pair.await.expect("join");
        let step_stored = compiled.status == StatusCode::CREATED;
        let integration_deleted = deleted.status == StatusCode::NO_CONTENT;
        assert!(
            step_stored != integration_deleted,
            "pair {k}: compile answered {} ({}), delete answered {} ({})",
            compiled.status,
            compiled.body,
            deleted.status,
            deleted.body
        );
        if step_stored {
            compiled_first += 1;
            assert_eq!(deleted.status, StatusCode::CONFLICT, "{}", deleted.body);
        } else {
            deleted_first += 1;
            assert!(
                compiled.status == StatusCode::UNPROCESSABLE_ENTITY,
                "pair {k}: {} {}",
                compiled.status,
                compiled.body
            );
        }
        // What is stored agrees with what was answered.
        let name = format!("mail-{k}");
        let integration = stored(&app, &p, &format!("I#{name}")).await;
        let step = stored(&app, &p, &format!("W#w-{k}#S#01")).await;
        assert_eq!(integration.is_some(), step_stored, "pair {k}");
        assert_eq!(step.is_some(), step_stored, "pair {k}");
        let counter = stored(&app, &p, &format!("C#{name}")).await;
        if step_stored {
            assert_eq!(counter.expect("counter")["count"], 1, "pair {k}");
        } else {
            assert!(
                counter.is_none(),
                "pair {k}: the counter goes with the integration"
            );
        }
    }
    eprintln!("{PAIRS} pairs: compile first {compiled_first}, delete first {deleted_first}");
}

async fn stored(app: &TestApp, p: &str, sk: &str) -> Option<Value> {
    app.local
        .deps
        .store
        .get(&Key::new(format!("P#{p}"), sk))
        .await
        .expect("get")
        .map(|i| i.doc)
}

#[tokio::test]
async fn a_step_binds_to_the_integration_it_was_compiled_against() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    add_postmark(&app, &p, &token, "clinic-mail").await;
    let compiled = compile_step(&app, &p, &token, "intake", step_on("clinic-mail")).await;
    assert_eq!(compiled.status, StatusCode::CREATED, "{}", compiled.body);
    let path = format!("/projects/{p}/integrations/clinic-mail");
    let view = app.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(
        compiled.body["integration_created_at"], view.body["created_at"],
        "the contract names the integration it was compiled against"
    );
    let edge = stored(&app, &p, "D#clinic-mail#intake#01")
        .await
        .expect("edge");
    assert_eq!(edge["integration_created_at"], view.body["created_at"]);

    // A step left behind by data written before the counters (the integration and its
    // counter removed underneath it), then the name taken again: the step does not run
    // on the new integration.
    for sk in ["I#clinic-mail", "C#clinic-mail"] {
        app.local
            .deps
            .store
            .delete(&Key::new(format!("P#{p}"), sk), Condition::Always)
            .await
            .expect("delete");
    }
    app.local.clock.advance(chrono::Duration::seconds(5));
    add_postmark(&app, &p, &token, "clinic-mail").await;
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "intake", "mode": "sandbox",
                        "trigger": {"entity": "IntakeForm", "event": "submitted",
                                    "payload": {"patient_name": "Ada", "patient_email": "ada@example.com"}}})),
        )
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.body);
    assert_eq!(run.body["status"], "failed", "{}", run.body);
    assert!(
        run.body["steps"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("compile the step again"),
        "{}",
        run.body
    );
    // Compiled again, it binds to the new one and runs.
    let again = compile_step(&app, &p, &token, "intake", json!({"step": 1, "integration": "clinic-mail", "operation": "send_email", "entity": intake_entity(),
           "trigger": {"kind": "entity", "entity": "IntakeForm", "event": "submitted"},
           "input_mapping": {"To": "{{entity.patient_email}}", "Subject": "Welcome", "TextBody": "Hello"}})).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_ne!(
        again.body["integration_created_at"],
        compiled.body["integration_created_at"]
    );
}
