//! Sandbox mocks answer as the provider does: its success status, no body where it
//! sends none, the object the request asks for; and a literal `{{` in a mapping.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::TestApp;
use crate::compile::{add, compile_step, intake_entity};
use crate::runtime::store_workflow;

const TRIGGER: &str = r#"{"kind": "entity", "entity": "IntakeForm", "event": "submitted"}"#;

fn trigger() -> Value {
    serde_json::from_str(TRIGGER).expect("trigger")
}

/// Runs a workflow in sandbox; the run's steps.
async fn sandbox_run(app: &TestApp, p: &str, token: &str, workflow: &str) -> Vec<Value> {
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(token),
            Some(json!({"workflow": workflow, "mode": "sandbox",
                        "trigger": {"entity": "IntakeForm", "event": "submitted",
                                    "payload": {"patient_name": "Ada", "patient_email": "ada@example.com"}}})),
        )
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.body);
    assert_eq!(run.body["status"], "succeeded", "{}", run.body);
    run.body["steps"].as_array().expect("steps").clone()
}

/// One step of one operation, run in sandbox: its trace.
async fn one_step(integration: Value, operation: &str, mapping: Value) -> Value {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let name = integration["name"].as_str().expect("name").to_owned();
    add(&app, &p, &token, integration).await;
    store_workflow(&app, &p, "w", vec![(1, &name, operation, mapping)]).await;
    sandbox_run(&app, &p, &token, "w").await.remove(0)
}

fn sendgrid() -> Value {
    json!({"name": "mail", "provider": "sendgrid",
           "credentials": {"api_key": "SG.EXAMPLEEXAMPLEEXAMPLE.EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE"},
           "config": {"from_address": "clinic@example.com"}})
}

fn sendgrid_mapping() -> Value {
    json!({"personalizations": [{"to": [{"email": "{{entity.patient_email}}"}]}],
           "subject": "Welcome {{entity.patient_name}}",
           "content": [{"type": "text/plain", "value": "See you soon."}]})
}

#[tokio::test]
async fn a_sendgrid_send_is_answered_202_with_no_body() {
    let step = one_step(sendgrid(), "send_email", sendgrid_mapping()).await;
    assert_eq!(step["response"]["status"], 202, "{step}");
    assert_eq!(step["response"]["body"], Value::Null, "{step}");
}

#[tokio::test]
async fn a_salesforce_update_is_answered_204_with_no_body() {
    let step = one_step(
        json!({"name": "crm", "provider": "salesforce",
               "credentials": {"client_id": "3MVG9EXAMPLE0CONSUMER0KEY0NOT0REAL",
                               "client_secret": "EXAMPLE0000000000000000000000000000000000000000000000000000000000",
                               "refresh_token": "5Aep8610000000000000000000000000000000000000000000000000000000000000000000000000000"},
               "config": {"instance_url": "https://example.my.salesforce.com"}}),
        "update_record",
        json!({"sobject": "Lead", "id": "00QD000000IqhSLMAZ", "fields": {"Description": "Intake from {{entity.patient_name}}"}}),
    )
    .await;
    assert_eq!(step["response"]["status"], 204, "{step}");
    assert_eq!(step["response"]["body"], Value::Null, "{step}");
}

#[tokio::test]
async fn a_twilio_sms_is_answered_201_with_what_was_sent() {
    let step = one_step(
        json!({"name": "sms", "provider": "twilio",
               "credentials": {"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "0123456789abcdef0123456789abcdef"},
               "config": {"from_number": "+15017122661"}}),
        "send_sms",
        json!({"To": "+15558675310", "Body": "Hello {{entity.patient_name}}"}),
    )
    .await;
    assert_eq!(step["response"]["status"], 201, "{step}");
    let body = &step["response"]["body"];
    assert_eq!(body["to"], "+15558675310", "{body}");
    assert_eq!(body["from"], "+15017122661", "{body}");
    assert_eq!(body["body"], "Hello Ada", "{body}");
}

#[tokio::test]
async fn retrieving_a_stripe_customer_answers_the_customer_asked_for() {
    let step = one_step(
        json!({"name": "payments", "provider": "stripe",
               "credentials": {"secret_key": "sk_test_EXAMPLEEXAMPLEEXAMPLE0000"}}),
        "retrieve_customer",
        json!({"customer": "cus_QXg1o8vcGmoR32"}),
    )
    .await;
    assert_eq!(step["response"]["status"], 200, "{step}");
    assert_eq!(
        step["response"]["body"]["id"], "cus_QXg1o8vcGmoR32",
        "{step}"
    );
}

#[tokio::test]
async fn updating_a_hubspot_contact_answers_that_contact_with_the_properties_sent() {
    let step = one_step(
        json!({"name": "crm", "provider": "hubspot",
               "credentials": {"access_token": "pat-na1-00000000-0000-0000-0000-000000000000"}}),
        "update_contact",
        json!({"contactId": "512", "properties": {"lifecyclestage": "customer"}}),
    )
    .await;
    let body = &step["response"]["body"];
    assert_eq!(body["id"], "512", "{step}");
    assert_eq!(body["properties"]["lifecyclestage"], "customer", "{step}");
}

#[tokio::test]
async fn a_later_step_cannot_map_the_output_of_a_step_answered_with_no_body() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    add(&app, &p, &token, sendgrid()).await;
    let first = compile_step(
        &app,
        &p,
        &token,
        "w",
        json!({"integration": "mail", "operation": "send_email", "entity": intake_entity(),
               "trigger": trigger(), "input_mapping": sendgrid_mapping()}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let mut mapping = sendgrid_mapping();
    mapping["subject"] = json!("Sent {{steps.1.output.message_id}}");
    let second = compile_step(
        &app,
        &p,
        &token,
        "w",
        json!({"integration": "mail", "operation": "send_email", "input_mapping": mapping}),
    )
    .await;
    assert_eq!(
        second.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        second.body
    );
    assert!(
        second.body.to_string().contains("answered with no body"),
        "{}",
        second.body
    );
}

#[tokio::test]
async fn four_braces_send_a_literal_pair_of_braces() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    add(
        &app,
        &p,
        &token,
        json!({"name": "docs", "provider": "google_docs",
               "credentials": {"client_id": "123456789012-abcdefexample.apps.googleusercontent.com",
                               "client_secret": "GOCSPX-not-a-real-client-secret",
                               "refresh_token": "1//0example-refresh-token-not-real"}}),
    )
    .await;
    let compiled = compile_step(
        &app,
        &p,
        &token,
        "w",
        json!({"integration": "docs", "operation": "update_document", "entity": intake_entity(),
               "trigger": trigger(),
               "input_mapping": {"documentId": "195j9eDD3ccgjQRttHhJPymLJUCOUjs-jmwTrekvdjFE",
                                 "requests": [{"replaceAllText": {
                                     "containsText": {"text": "{{{{clinic_name}}", "matchCase": true},
                                     "replaceText": "Clinic of {{entity.patient_name}}"}}]}}),
    )
    .await;
    assert_eq!(compiled.status, StatusCode::CREATED, "{}", compiled.body);
    let step = sandbox_run(&app, &p, &token, "w").await.remove(0);
    let sent = &step["request"]["body_json"]["requests"][0]["replaceAllText"];
    assert_eq!(sent["containsText"]["text"], "{{clinic_name}}", "{step}");
    assert_eq!(sent["replaceText"], "Clinic of Ada", "{step}");
}
