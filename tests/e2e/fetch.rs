//! A change whose webhook names only the entity (HubSpot's "contact 512 was created"):
//! a step that maps the contact's properties has the contact read first, from the
//! integration that reported it. In sandbox the read is mocked and shown; live it is
//! sent with that integration's credentials, audited, and reused by the run's later
//! steps; a step that maps nothing more reads nothing.

use std::sync::{Arc, Mutex};

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::{DataChanged, ProjectId, RunMode, StepRequested, WorkflowId};
use shared::ports::{Edge, EdgeError, EdgeOutcome, OutboundRequest, OutboundResponse};
use shared::runtime::{RunTrigger, StartRun};

use crate::api::TestApp;
use crate::compile::{add, compile_step};

const HUBSPOT_TOKEN: &str = "pat-na1-canary-fetch-4f1e2d3c";
const INTERCOM_TOKEN: &str = "dG9rOmNhbmFyeS1pbnRlcmNvbS1mZXRjaA==";

async fn project_with_hubspot_and_intercom(app: &TestApp) -> (String, String) {
    let (p, token) = app.project("crm-sync").await;
    add(
        app,
        &p,
        &token,
        json!({"name": "hubspot", "provider": "hubspot",
               "config": {"auth_type": "private_app"},
               "credentials": {"access_token": HUBSPOT_TOKEN, "client_secret": "hubspot-app-secret-canary"}}),
    )
    .await;
    add(
        app,
        &p,
        &token,
        json!({"name": "intercom", "provider": "intercom",
               "config": {"admin_id": "814860"},
               "credentials": {"access_token": INTERCOM_TOKEN}}),
    )
    .await;
    (p, token)
}

fn contact_created(p: &str) -> DataChanged {
    serde_json::from_value(json!({
        "project": p, "integration": "hubspot", "entity_type": "contact",
        "entity_id": "512", "change": "created",
        "after": {"objectId": 512, "subscriptionType": "contact.creation", "eventId": 3816279480u64},
        "provider_event_id": "3816279480"
    }))
    .expect("change")
}

/// Starts a run on a bus nobody consumes, so the test runs each step itself.
async fn start(
    app: &TestApp,
    p: &str,
    workflow: &str,
    mode: RunMode,
) -> (shared::ports::Deps, StepRequested) {
    let mut deps = app.local.deps.clone();
    deps.bus = Arc::new(shared::adapters::InProcessBus::new());
    let project = ProjectId::parse(p).expect("project");
    let run = shared::runtime::start_run(
        &deps,
        StartRun {
            project: project.clone(),
            workflow: WorkflowId::parse(workflow).expect("workflow"),
            mode,
            trigger: RunTrigger::DataChange(contact_created(p)),
        },
    )
    .await
    .expect("started");
    let step = StepRequested {
        project,
        run: run.id.clone(),
        workflow: run.workflow.clone().expect("a workflow's run"),
        step: 1,
        mode,
    };
    (deps, step)
}

/// Step `n`'s trace, as the run's view shows it.
async fn trace_of(app: &TestApp, p: &str, token: &str, step: &StepRequested, n: usize) -> Value {
    let view = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs/{}", step.run),
            Some(token),
            None,
        )
        .await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.body);
    view.body["steps"][n - 1].clone()
}

#[tokio::test]
async fn a_step_that_maps_a_hubspot_contacts_properties_has_the_contact_read_in_sandbox() {
    let app = TestApp::new();
    let (p, token) = project_with_hubspot_and_intercom(&app).await;
    let compiled = compile_step(
        &app,
        &p,
        &token,
        "sync",
        json!({"instruction": "When a new contact is created in HubSpot, create a matching contact in Intercom with the contact's email"}),
    )
    .await;
    assert_eq!(compiled.status, StatusCode::CREATED, "{}", compiled.body);
    assert_eq!(
        compiled.body["input_mapping"]["email"],
        "{{change.after.properties.email}}"
    );

    let (deps, step) = start(&app, &p, "sync", RunMode::Sandbox).await;
    let outcome = shared::runtime::execute_step(&deps, &step)
        .await
        .expect("step");
    assert_eq!(outcome.effect, "would_have_sent");
    let trace = trace_of(&app, &p, &token, &step, 1).await;
    let fetched = trace["fetched"].clone();
    assert_eq!(fetched["effect"], "would_have_sent");
    assert_eq!(fetched["mock"], true);
    assert_eq!(fetched["operation"], "get_contact");
    let url = fetched["request"]["url"].as_str().expect("url");
    assert!(
        url.starts_with("https://api.hubapi.com/crm/v3/objects/contacts/512?properties=email%2C")
            || url.starts_with(
                "https://api.hubapi.com/crm/v3/objects/contacts/512?properties=email,"
            ),
        "{url}"
    );
    // The mocked contact's email is what the Intercom step would have sent.
    let mocked = fetched["response"]["properties"]["email"]
        .as_str()
        .expect("a mocked email")
        .to_owned();
    assert_eq!(
        fetched["response"]["id"], "512",
        "the mock is the contact asked for"
    );
    assert_eq!(trace["request"]["body_json"]["email"], mocked.as_str());
    let shown = trace.to_string();
    assert!(!shown.contains(HUBSPOT_TOKEN) && !shown.contains(INTERCOM_TOKEN));
}

/// HubSpot answers the read with a contact; Intercom answers the create.
struct CrmEdge(Mutex<Vec<OutboundRequest>>);

#[async_trait::async_trait]
impl Edge for CrmEdge {
    async fn send(&self, request: &OutboundRequest) -> Result<EdgeOutcome, EdgeError> {
        self.0.lock().expect("lock").push(request.clone());
        let body = if request.url.starts_with("https://api.hubapi.com/") {
            json!({"id": "512", "properties": {"email": "ada@example.org", "firstname": "Ada",
                   "hs_object_id": "512", "createdate": "2026-12-07T10:00:00.000Z",
                   "lastmodifieddate": "2026-12-07T10:00:00.000Z"},
                   "createdAt": "2026-12-07T10:00:00.000Z", "updatedAt": "2026-12-07T10:00:00.000Z",
                   "archived": false})
        } else {
            json!({"type": "contact", "id": "6762f0dd1bb69f9f2193bb83", "role": "user",
                   "email": "ada@example.org"})
        };
        Ok(EdgeOutcome::Sent(OutboundResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }))
    }
}

#[tokio::test]
async fn live_the_contact_is_read_with_hubspots_credentials_audited_and_reused_by_later_steps() {
    let app = TestApp::new();
    let (p, token) = project_with_hubspot_and_intercom(&app).await;
    for (step, words) in [
        (
            1,
            "When a new contact is created in HubSpot, create a matching contact in Intercom with the contact's email",
        ),
        (
            2,
            "Then post the contact's first name to Intercom as a new contact too, using the HubSpot contact's email",
        ),
    ] {
        let compiled = compile_step(
            &app,
            &p,
            &token,
            "sync",
            json!({"instruction": words, "step": step}),
        )
        .await;
        assert_eq!(
            compiled.status,
            StatusCode::CREATED,
            "{words}: {}",
            compiled.body
        );
    }
    let (mut deps, first) = start(&app, &p, "sync", RunMode::Live).await;
    let edge = Arc::new(CrmEdge(Mutex::new(Vec::new())));
    deps.live_edge = edge.clone();

    let outcome = shared::runtime::execute_step(&deps, &first)
        .await
        .expect("step 1");
    assert_eq!(outcome.effect, "sent", "{outcome:?}");
    let trace = trace_of(&app, &p, &token, &first, 1).await;
    let fetched = trace["fetched"].clone();
    assert_eq!(fetched["effect"], "sent");
    assert_eq!(fetched["status"], 200);
    {
        let sent = edge.0.lock().expect("lock");
        assert_eq!(sent.len(), 2, "the read, then the step");
        assert_eq!(sent[0].method, "GET");
        assert!(
            sent[0]
                .url
                .starts_with("https://api.hubapi.com/crm/v3/objects/contacts/512?")
        );
        assert!(
            sent[0]
                .headers
                .iter()
                .any(|(k, v)| k == "Authorization" && v == &format!("Bearer {HUBSPOT_TOKEN}")),
            "the read carries HubSpot's token at the edge"
        );
        let body: Value = serde_json::from_slice(&sent[1].body).expect("json");
        assert_eq!(
            body["email"], "ada@example.org",
            "the step used the read contact"
        );
        assert!(
            sent[1]
                .headers
                .iter()
                .any(|(k, v)| k == "Authorization" && v == &format!("Bearer {INTERCOM_TOKEN}"))
        );
    }
    let second = StepRequested {
        step: 2,
        ..first.clone()
    };
    let outcome = shared::runtime::execute_step(&deps, &second)
        .await
        .expect("step 2");
    assert_eq!(outcome.effect, "sent");
    let trace2 = trace_of(&app, &p, &token, &first, 2).await;
    assert_eq!(trace2["fetched"]["cached"], true, "{trace2}");
    assert_eq!(edge.0.lock().expect("lock").len(), 3, "no second read");

    // One audited use of HubSpot's credentials, for the read, caused by step 1.
    let audit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/hubspot/audit"),
            Some(&token),
            None,
        )
        .await;
    let reads: Vec<&Value> = audit.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["purpose"] == "change_fetch")
        .collect();
    assert_eq!(reads.len(), 1, "{}", audit.body);
    assert_eq!(reads[0]["cause"]["step"], 1);
    for shown in [
        trace.to_string(),
        trace2.to_string(),
        audit.body.to_string(),
    ] {
        assert!(!shown.contains(HUBSPOT_TOKEN) && !shown.contains(INTERCOM_TOKEN));
    }
}

#[tokio::test]
async fn a_step_that_maps_nothing_the_event_lacks_reads_nothing() {
    let app = TestApp::new();
    let (p, token) = project_with_hubspot_and_intercom(&app).await;
    let compiled = compile_step(
        &app,
        &p,
        &token,
        "note",
        json!({"trigger": {"kind": "data_change", "integration": "hubspot", "entity_type": "contact", "change": "created"},
               "integration": "intercom", "operation": "create_contact",
               "input_mapping": {"role": "lead", "external_id": "hubspot-{{change.entity_id}}"}}),
    )
    .await;
    assert_eq!(compiled.status, StatusCode::CREATED, "{}", compiled.body);
    let (deps, step) = start(&app, &p, "note", RunMode::Sandbox).await;
    let outcome = shared::runtime::execute_step(&deps, &step)
        .await
        .expect("step");
    assert_eq!(outcome.effect, "would_have_sent");
    let trace = trace_of(&app, &p, &token, &step, 1).await;
    assert!(trace.get("fetched").is_none(), "{trace}");
}
