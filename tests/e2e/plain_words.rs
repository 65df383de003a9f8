//! The plain-words front doors as a new user meets them: an integration made from
//! exactly what describe's prompt requires, the design's own step compiled on it and
//! run in the sandbox; an integration stored before a field became required; a config
//! value a step needs, named in the 422 with the PATCH that fixes it.

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use shared::ports::{Condition, Item, Key};

use crate::api::TestApp;
use crate::compile::{add, add_postmark, compile_step as compile};

const DESIGN_STEP: &str = "When the intake form is submitted, call the Postmark integration to send a confirmation email to the patient";

fn intake_entity() -> Value {
    json!({"name": "IntakeForm",
           "fields": {"patient_name": "string", "patient_email": "email", "appointment_at": "datetime"}})
}

/// The fields a prompt marks required, each filled with the prompt's own example.
fn required_from_prompt(fields: &Value) -> Map<String, Value> {
    fields
        .as_array()
        .expect("fields")
        .iter()
        .filter(|f| f["required"] == true && f.get("when").is_none())
        .map(|f| {
            let example = f["example"]
                .as_str()
                .unwrap_or_else(|| panic!("required field {f} shows no example"));
            (f["name"].as_str().expect("name").to_owned(), json!(example))
        })
        .collect()
}

/// Describe's answer for some words (200 asserted).
async fn describe(app: &TestApp, p: &str, token: &str, text: &str) -> Value {
    let answer = app
        .call(
            Method::POST,
            &format!("/projects/{p}/integrations/describe"),
            Some(token),
            Some(json!({"text": text})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

/// A sandbox run of a workflow on an entity event (201 asserted).
async fn sandbox_run(app: &TestApp, p: &str, token: &str, workflow: &str, trigger: Value) -> Value {
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(token),
            Some(json!({"workflow": workflow, "mode": "sandbox", "trigger": trigger})),
        )
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.body);
    run.body
}

async fn patch_config(app: &TestApp, p: &str, token: &str, name: &str, config: Value) {
    let patched = app
        .call(
            Method::PATCH,
            &format!("/projects/{p}/integrations/{name}"),
            Some(token),
            Some(json!({"config": config})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
}

#[tokio::test]
async fn the_design_example_compiles_and_runs_on_an_integration_made_from_the_prompts_required_fields()
 {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let described = describe(
        &app,
        &p,
        &token,
        "Connect to Postmark to send transactional emails.",
    )
    .await;
    let prompt = &described["prompt"];
    let credentials = required_from_prompt(&prompt["credentials"]);
    let config = required_from_prompt(&prompt["config"]);
    assert!(config.contains_key("from_address"), "{prompt}");
    add(
        &app,
        &p,
        &token,
        json!({"name": described["suggested_name"], "provider": described["provider"],
                        "credentials": credentials, "config": config}),
    )
    .await;

    let contract = compile(
        &app,
        &p,
        &token,
        "patient-intake",
        json!({"instruction": DESIGN_STEP, "entity": intake_entity()}),
    )
    .await;
    assert_eq!(contract.status, StatusCode::CREATED, "{}", contract.body);
    assert_eq!(contract.body["integration"], "postmark");
    assert_eq!(contract.body["operation"], "send_email");
    assert_eq!(
        contract.body["trigger"],
        json!({"kind": "entity", "entity": "IntakeForm", "event": "submitted"})
    );
    assert_eq!(
        contract.body["input_mapping"]["To"],
        "{{entity.patient_email}}"
    );
    assert!(
        contract.body["input_mapping"].get("From").is_none(),
        "the sender is the integration's, not the patient's: {}",
        contract.body
    );

    let run = sandbox_run(
        &app,
        &p,
        &token,
        "patient-intake",
        json!({"entity": "IntakeForm", "event": "submitted",
                                    "payload": {"patient_name": "Ada", "patient_email": "ada@example.com",
                                                "appointment_at": "2026-12-08T10:00:00Z"}}),
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{}", run);
    let step = &run["steps"][0];
    assert_eq!(step["effect"], "would_have_sent");
    assert_eq!(step["request"]["url"], "https://api.postmarkapp.com/email");
    let mut expected = Map::new();
    for (k, v) in contract.body["input_mapping"].as_object().expect("mapping") {
        let text = v.as_str().expect("text mapping");
        let rendered = text
            .replace("{{entity.patient_email}}", "ada@example.com")
            .replace("{{entity.patient_name}}", "Ada")
            .replace("{{entity.appointment_at}}", "2026-12-08T10:00:00Z");
        expected.insert(k.clone(), json!(rendered));
    }
    expected.insert("From".into(), config["from_address"].clone());
    expected.insert("MessageStream".into(), json!("outbound"));
    assert_eq!(
        step["request"]["body_json"],
        Value::Object(expected),
        "the exact payload: the mapping rendered, the sender and stream from the integration"
    );
}

#[tokio::test]
async fn an_integration_stored_before_its_sender_was_required_is_told_which_config_to_patch() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    add(
        &app,
        &p,
        &token,
        json!({"name": "clinic-mail", "provider": "postmark",
                        "credentials": {"server_token": "00000000-0000-4000-8000-00000000c0de"},
                        "config": {"from_address": "clinic@example.com"}}),
    )
    .await;
    // As it was stored when from_address was optional: no sender in its config.
    let key = Key::new(format!("P#{p}"), "I#clinic-mail");
    let store = &app.local.deps.store;
    let mut item: Item = store.get(&key).await.expect("get").expect("stored");
    item.doc["config"]
        .as_object_mut()
        .expect("config")
        .remove("from_address");
    store.put(item, Condition::Always).await.expect("put");

    let listed = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/clinic-mail"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        listed.status,
        StatusCode::OK,
        "it still reads: {}",
        listed.body
    );
    // It still takes other config changes without the field it predates.
    patch_config(
        &app,
        &p,
        &token,
        "clinic-mail",
        json!({"message_stream": "outbound"}),
    )
    .await;

    let refused = compile(
        &app,
        &p,
        &token,
        "patient-intake",
        json!({"instruction": DESIGN_STEP, "entity": intake_entity()}),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let error = &refused.body["errors"][0];
    assert_eq!(error["field"], "config.from_address", "{}", refused.body);
    let message = error["message"].as_str().expect("message");
    assert!(
        message.contains("PATCH /projects/{project}/integrations/clinic-mail"),
        "{message}"
    );
    assert!(
        !refused
            .body
            .to_string()
            .contains("patient_email}}\", \"From"),
        "no suggestion to send as the patient: {}",
        refused.body
    );

    // A sender named in the words needs no config.
    let named = compile(
        &app,
        &p,
        &token,
        "patient-intake",
        json!({"instruction": "When the intake form is submitted, email the patient from front-desk@example.com with clinic-mail",
               "entity": intake_entity()}),
    )
    .await;
    assert_eq!(named.status, StatusCode::CREATED, "{}", named.body);

    patch_config(
        &app,
        &p,
        &token,
        "clinic-mail",
        json!({"from_address": "clinic@example.com"}),
    )
    .await;
    let compiled = compile(
        &app,
        &p,
        &token,
        "patient-intake",
        json!({"instruction": DESIGN_STEP, "entity": intake_entity(), "step": 1}),
    )
    .await;
    assert_eq!(compiled.status, StatusCode::CREATED, "{}", compiled.body);
}

#[tokio::test]
async fn a_linear_issue_goes_to_the_integrations_team_and_a_notion_page_to_its_database() {
    let app = TestApp::new();
    let (p, token) = app.project("eng").await;
    for body in [
        json!({"name": "linear", "provider": "linear",
               "credentials": {"api_key": "lin_api_0000000000000000000000000000000000000000"},
               "config": {"team_id": "9cfb482a-81e3-4154-b5b9-2c805e70a02d"}}),
        json!({"name": "notion", "provider": "notion",
               "credentials": {"integration_token": "ntn_000000000000000000000000000000000000000000000"},
               "config": {"data_source_id": "248104cd-477e-80af-bc30-000bd28de8f9"}}),
    ] {
        add(&app, &p, &token, body).await;
    }
    let bug = json!({"name": "BugReport", "fields": {"title": "string", "description": "string", "reporter_email": "email"}});
    for (step, words) in [
        (
            1,
            "When a bug report is submitted, create a Linear issue for the bug",
        ),
        (2, "Add a page to our Notion database for it"),
    ] {
        let answer = compile(
            &app,
            &p,
            &token,
            "bugs",
            json!({"instruction": words, "entity": bug, "step": step}),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{words}: {}",
            answer.body
        );
    }
    let run = sandbox_run(
        &app,
        &p,
        &token,
        "bugs",
        json!({"entity": "BugReport", "event": "submitted",
                                    "payload": {"title": "Login fails", "description": "500 on submit",
                                                "reporter_email": "ada@example.com"}}),
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{}", run);
    let linear = &run["steps"][0]["request"]["body_json"];
    assert_eq!(
        linear["variables"]["input"]["teamId"], "9cfb482a-81e3-4154-b5b9-2c805e70a02d",
        "{linear}"
    );
    assert_eq!(
        linear["variables"]["input"]["title"], "Login fails",
        "{linear}"
    );
    let notion = &run["steps"][1]["request"]["body_json"];
    assert_eq!(
        notion["parent"],
        json!({"data_source_id": "248104cd-477e-80af-bc30-000bd28de8f9"}),
        "{notion}"
    );
}

#[tokio::test]
async fn an_integrations_own_name_beats_its_providers_and_two_that_fit_equally_are_named() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    add_postmark(&app, &p, &token, "clinic-mail").await;
    add_postmark(&app, &p, &token, "postmark").await;
    let named = compile(
        &app,
        &p,
        &token,
        "intake",
        json!({"instruction": "When the intake form is submitted, use the Postmark integration to email the patient",
               "entity": intake_entity()}),
    )
    .await;
    assert_eq!(named.status, StatusCode::CREATED, "{}", named.body);
    assert_eq!(named.body["integration"], "postmark");

    let (q, token_q) = app.project("office").await;
    add_postmark(&app, &q, &token_q, "clinic-mail").await;
    add_postmark(&app, &q, &token_q, "office-mail").await;
    let ambiguous = compile(
        &app,
        &q,
        &token_q,
        "intake",
        json!({"instruction": "When the intake form is submitted, email the patient a confirmation",
               "entity": intake_entity()}),
    )
    .await;
    assert_eq!(
        ambiguous.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        ambiguous.body
    );
    assert_eq!(ambiguous.body["errors"][0]["field"], "integration");
    let message = ambiguous.body["errors"][0]["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("clinic-mail") && message.contains("office-mail"),
        "{message}"
    );
}

#[tokio::test]
async fn entity_events_are_read_from_any_common_english_shape() {
    let app = TestApp::new();
    let (p, token) = app.project("shop").await;
    add_postmark(&app, &p, &token, "clinic-mail").await;
    let cases = [
        (
            "Shipment",
            "When a shipment leaves the warehouse, email the customer with clinic-mail",
            "left",
        ),
        (
            "Membership",
            "when a member renews, email them a thank-you with clinic-mail",
            "renewed",
        ),
        (
            "Feedback",
            "every time a customer sends in feedback, email them a thank-you with clinic-mail",
            "submitted",
        ),
        (
            "Referral",
            "Once a referral arrives, email the patient with clinic-mail",
            "received",
        ),
        (
            "Order",
            "wen an order is placed, email the customer a confirmation with clinic-mail",
            "placed",
        ),
        (
            "SignupForm",
            "When the signup form is submitted, email the customer with clinic-mail",
            "submitted",
        ),
        (
            "CheckoutForm",
            "Email the customer a receipt with clinic-mail as soon as the checkout form is submitted",
            "submitted",
        ),
        (
            "Order",
            "any time an order ships, email the customer with clinic-mail",
            "shipped",
        ),
    ];
    for (n, (entity, words, event)) in cases.into_iter().enumerate() {
        let answer = compile(
            &app,
            &p,
            &token,
            &format!("w{n}"),
            json!({"instruction": words,
                   "entity": {"name": entity, "fields": {"email": "email"}}}),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{words}: {}",
            answer.body
        );
        assert_eq!(
            answer.body["trigger"],
            json!({"kind": "entity", "entity": entity, "event": event}),
            "{words}"
        );
    }
}

#[tokio::test]
async fn describe_knows_what_it_does_not_know() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    // A URL or a host: Custom HTTP, with the base URL filled in from the words.
    let url = describe(
        &app,
        &p,
        &token,
        "connect to our billing service at https://billing.example.org/api",
    )
    .await;
    assert_eq!(url["provider"], "custom_http", "{url}");
    assert_eq!(
        url["suggested_config"]["base_url"],
        "https://billing.example.org/api"
    );
    let base = url["prompt"]["config"]
        .as_array()
        .expect("config")
        .iter()
        .find(|f| f["name"] == "base_url")
        .cloned()
        .expect("base_url");
    assert_eq!(base["default"], "https://billing.example.org/api");
    let host = describe(
        &app,
        &p,
        &token,
        "we need to push referrals to api.acme-health.io",
    )
    .await;
    assert_eq!(host["provider"], "custom_http", "{host}");
    assert_eq!(
        host["suggested_config"]["base_url"],
        "https://api.acme-health.io"
    );
    // A provider's own API host is that provider.
    let stripe = describe(&app, &p, &token, "charge cards through api.stripe.com").await;
    assert_eq!(stripe["provider"], "stripe", "{stripe}");

    // A product the catalog lacks: no provider, its name said, Custom HTTP first.
    for (text, name) in [
        ("We want Freshdesk for our help desk tickets", "Freshdesk"),
        (
            "Connect DocuSign so patients can e-sign consent forms",
            "DocuSign",
        ),
    ] {
        let body = describe(&app, &p, &token, text).await;
        assert_eq!(body["provider"], Value::Null, "{text}: {body}");
        assert_eq!(body["candidates"][0]["provider"], "custom_http", "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(name)),
            "{body}"
        );
    }

    // From A to B: B.
    let moved = describe(
        &app,
        &p,
        &token,
        "Switch our reminders from Mailgun to Postmark",
    )
    .await;
    assert_eq!(moved["provider"], "postmark", "{moved}");
    let replaced = describe(
        &app,
        &p,
        &token,
        "replace Salesforce with HubSpot for our leads",
    )
    .await;
    assert_eq!(replaced["provider"], "hubspot", "{replaced}");
}

const LINEAR_KEY: &str = "lin_api_c4n4ryc4n4ryc4n4ryc4n4ryc4n4ryc4n4ryc4n4";

async fn add_linear(app: &TestApp, p: &str, token: &str) {
    add(
        app,
        p,
        token,
        json!({"name": "linear", "provider": "linear",
                        "credentials": {"api_key": LINEAR_KEY},
                        "config": {"team_id": "9cfb482a-81e3-4154-b5b9-2c805e70a02d"}}),
    )
    .await;
}

#[tokio::test]
async fn a_team_named_in_the_words_is_looked_up_and_the_sandbox_shows_the_lookup() {
    let app = TestApp::new();
    let (p, token) = app.project("eng").await;
    add_linear(&app, &p, &token).await;
    let bug = json!({"name": "BugReport", "fields": {"title": "string", "description": "string"}});
    let contract = compile(
        &app,
        &p,
        &token,
        "bugs",
        json!({"instruction": "When a bug report is submitted, create a Linear issue for the Platform team", "entity": bug}),
    )
    .await;
    assert_eq!(contract.status, StatusCode::CREATED, "{}", contract.body);
    assert_eq!(
        contract.body["input_mapping"]["input"]["teamId"],
        json!({"lookup": "team", "name": "Platform"}),
        "{}",
        contract.body
    );
    let run = sandbox_run(
        &app,
        &p,
        &token,
        "bugs",
        json!({"entity": "BugReport", "event": "submitted",
                                    "payload": {"title": "Login fails", "description": "500"}}),
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{}", run);
    let step = &run["steps"][0];
    let lookup = &step["lookups"][0];
    assert_eq!(lookup["kind"], "team");
    assert_eq!(lookup["name"], "Platform");
    assert_eq!(lookup["effect"], "would_have_sent");
    assert_eq!(lookup["request"]["url"], "https://api.linear.app/graphql");
    assert!(
        lookup["request"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("teams")),
        "{lookup}"
    );
    let id = lookup["id"].as_str().expect("mock id");
    assert_eq!(
        step["request"]["body_json"]["variables"]["input"]["teamId"],
        id
    );
    assert!(!run.to_string().contains(LINEAR_KEY));

    // A name the words do not give leaves the integration's own team.
    let plain = compile(
        &app,
        &p,
        &token,
        "bugs-2",
        json!({"instruction": "When a bug report is submitted, create a Linear issue for the bug", "entity": bug}),
    )
    .await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.body);
    assert!(
        plain.body["input_mapping"]["input"].get("teamId").is_none(),
        "{}",
        plain.body
    );
}

/// An edge that answers every request with Linear's teams, and counts what it was sent.
struct TeamsEdge(std::sync::Mutex<Vec<shared::ports::OutboundRequest>>);

#[async_trait::async_trait]
impl shared::ports::Edge for TeamsEdge {
    async fn send(
        &self,
        request: &shared::ports::OutboundRequest,
    ) -> Result<shared::ports::EdgeOutcome, shared::ports::EdgeError> {
        self.0.lock().expect("lock").push(request.clone());
        let body = json!({"data": {"teams": {"nodes": [
            {"id": "0b5e8a52-2d47-4c0e-9a1f-1f2f3a4b5c6d", "key": "ENG", "name": "Engineering"},
            {"id": "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "key": "PLAT", "name": "Platform"}
        ]}}});
        Ok(shared::ports::EdgeOutcome::Sent(
            shared::ports::OutboundResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.to_string().into_bytes(),
            },
        ))
    }
}

#[tokio::test]
async fn live_lookups_send_the_credentials_once_cache_per_revision_and_say_what_exists() {
    use shared::runtime::lookup;
    let app = TestApp::new();
    let (p, token) = app.project("eng").await;
    add_linear(&app, &p, &token).await;
    let project = shared::domain::ProjectId::parse(&p).expect("project");
    let mut integration: shared::domain::Integration = shared::ports::get_as(
        app.local.deps.store.as_ref(),
        &Key::new(format!("P#{p}"), "I#linear"),
    )
    .await
    .expect("read")
    .expect("stored");
    let edge = std::sync::Arc::new(TeamsEdge(Default::default()));
    let mut deps = app.local.deps.clone();
    deps.live_edge = edge.clone();
    let provider = shared::catalog::catalog()
        .expect("catalog")
        .get("linear")
        .expect("linear");
    let mut credentials = shared::vault::Credentials::new();
    credentials.insert("api_key", LINEAR_KEY);
    let redactor = credentials.redactor();
    let input = json!({"input": {"title": "Login fails", "teamId": {"lookup": "team", "name": "platform"}}});

    let (resolved, traces) = lookup::resolve_live(
        &deps,
        &project,
        provider,
        &integration,
        &input,
        &credentials,
        &redactor,
    )
    .await
    .expect("resolved");
    assert_eq!(
        resolved["input"]["teamId"],
        "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    );
    assert_eq!(resolved["input"]["title"], "Login fails");
    assert_eq!(traces[0]["effect"], "sent");
    assert!(
        !serde_json::to_string(&traces)
            .expect("json")
            .contains(LINEAR_KEY)
    );
    {
        let sent = edge.0.lock().expect("lock");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].url, "https://api.linear.app/graphql");
        assert!(
            sent[0]
                .headers
                .iter()
                .any(|(k, v)| k == "Authorization" && v == LINEAR_KEY),
            "the lookup carries the key at the edge"
        );
    }

    // Within the time to live, the same name is not looked up again.
    let (_, cached) = lookup::resolve_live(
        &deps,
        &project,
        provider,
        &integration,
        &input,
        &credentials,
        &redactor,
    )
    .await
    .expect("cached");
    assert_eq!(cached[0]["cached"], true);
    assert_eq!(edge.0.lock().expect("lock").len(), 1);

    // A config change or a rotation (a new revision) looks it up again.
    integration.revision += 1;
    lookup::resolve_live(
        &deps,
        &project,
        provider,
        &integration,
        &input,
        &credentials,
        &redactor,
    )
    .await
    .expect("resolved again");
    assert_eq!(edge.0.lock().expect("lock").len(), 2);

    // Nothing of that name: the step fails with what was looked for and what exists.
    let missing = json!({"input": {"teamId": {"lookup": "team", "name": "Design"}}});
    let error = lookup::resolve_live(
        &deps,
        &project,
        provider,
        &integration,
        &missing,
        &credentials,
        &redactor,
    )
    .await
    .expect_err("no such team");
    assert!(error.contains("no team named \"Design\""), "{error}");
    assert!(error.contains("ENG") && error.contains("PLAT"), "{error}");
}

#[tokio::test]
async fn a_database_and_a_calendar_named_in_the_words_become_lookups_and_the_integrations_own_name_does_not()
 {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    for body in [
        json!({"name": "notion", "provider": "notion",
               "credentials": {"integration_token": "ntn_000000000000000000000000000000000000000000000"},
               "config": {"data_source_id": "248104cd-477e-80af-bc30-000bd28de8f9"}}),
        json!({"name": "clinic-calendar", "provider": "google_calendar",
               "credentials": {"client_id": "client", "client_secret": "secret", "refresh_token": "refresh"},
               "config": {"calendar_id": "primary"}}),
    ] {
        add(&app, &p, &token, body).await;
    }
    let appointment = json!({"name": "AppointmentRequest",
                             "fields": {"patient_name": "string", "patient_email": "email", "starts_at": "datetime"}});
    let cases = [
        (
            "w1",
            "When an appointment request is submitted, add a page to our Projects database in Notion",
            "/parent/data_source_id",
            Some(json!({"lookup": "database", "name": "Projects"})),
        ),
        (
            "w2",
            "When an appointment request is submitted, put it on the Front Desk calendar",
            "/calendarId",
            Some(json!({"lookup": "calendar", "name": "Front Desk"})),
        ),
        (
            "w3",
            "When an appointment request is submitted, put it on the clinic calendar",
            "/calendarId",
            None,
        ),
    ];
    for (workflow, words, pointer, expected) in cases {
        let answer = compile(
            &app,
            &p,
            &token,
            workflow,
            json!({"instruction": words, "entity": appointment}),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{words}: {}",
            answer.body
        );
        assert_eq!(
            answer.body["input_mapping"].pointer(pointer).cloned(),
            expected,
            "{words}: {}",
            answer.body["input_mapping"]
        );
    }
}

/// Knowledge about providers is data: outside the catalog and the webhooks (and the two
/// provider standards the issue allows, SMART on FHIR and Notion's handshake), no Rust
/// line that is not a test names a provider id as a string.
#[test]
fn no_rust_outside_the_catalog_names_a_provider() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src");
    let ids: Vec<String> = shared::catalog::catalog()
        .expect("catalog")
        .providers()
        .map(|p| format!("\"{}\"", p.id))
        .filter(|id| id != "\"custom_http\"")
        .collect();
    let allowed = [
        "catalog/",
        "webhooks/",
        "runtime/smart.rs",
        "http/verification_token.rs",
    ];
    let mut found = Vec::new();
    let mut scanned = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(&root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            if !relative.ends_with(".rs") || allowed.iter().any(|a| relative.starts_with(a)) {
                continue;
            }
            scanned.push(relative.clone());
            let text = std::fs::read_to_string(&path).expect("source");
            // Test modules come last in a file: only what is before them ships.
            let shipped = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in shipped.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if let Some(id) = ids.iter().find(|id| code.contains(id.as_str())) {
                    found.push(format!("{relative}:{}: {id}", n + 1));
                }
            }
        }
    }
    // The scan read the files that once held provider tables.
    for file in [
        "compiler/mapping.rs",
        "compiler/shape.rs",
        "describe.rs",
        "runtime/mod.rs",
    ] {
        assert!(scanned.iter().any(|s| s == file), "{file} was not scanned");
    }
    assert!(found.is_empty(), "provider ids in Rust: {found:#?}");
}

/// "Find the Contact whose Email is the customer's email" compiles to a SOQL SELECT of
/// the sObject and field the words name; at run time a value put inside the statement
/// is quoted as a SOQL string literal (`o'brien@example.com` is a valid address), so
/// no value can end the literal and change the query.
#[tokio::test]
async fn a_soql_query_is_compiled_from_the_words_and_its_values_cannot_change_it() {
    let app = TestApp::new();
    let (p, token) = app.project("crm").await;
    add(
        &app,
        &p,
        &token,
        json!({"name": "salesforce", "provider": "salesforce",
               "config": {"instance_url": "https://acme.my.salesforce.com"},
               "credentials": {"client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-canary-soql"}}),
    )
    .await;
    let order =
        json!({"name": "Order", "fields": {"customer_name": "string", "customer_email": "email"}});
    let compiled = compile(
        &app,
        &p,
        &token,
        "find",
        json!({"instruction": "When an order is placed, run a SOQL query in salesforce for the Contact whose Email equals the order's customer email",
               "entity": order}),
    )
    .await;
    assert_eq!(compiled.status, StatusCode::CREATED, "{}", compiled.body);
    assert_eq!(
        compiled.body["input_mapping"]["q"],
        "SELECT Id, Name, Email FROM Contact WHERE Email = '{{entity.customer_email}}'"
    );
    let run = sandbox_run(
        &app,
        &p,
        &token,
        "find",
        json!({"entity": "Order", "event": "placed",
               "payload": {"customer_name": "Shaun O'Brien", "customer_email": "o'brien@example.com"}}),
    )
    .await;
    let url = run["steps"][0]["request"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{run}"))
        .to_owned();
    let query = url.split_once("?q=").expect("a query").1;
    let decoded: String = form_urlencoded::parse(format!("q={query}").as_bytes())
        .map(|(_, v)| v.into_owned())
        .next()
        .expect("q");
    assert_eq!(
        decoded, r"SELECT Id, Name, Email FROM Contact WHERE Email = 'o\'brien@example.com'",
        "{url}"
    );
}
