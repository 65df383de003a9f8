//! Google Docs' two focused edits, `replace_text` (fill in a template) and `embed_image`
//! (insert an image): each picked by plain words, sending one batchUpdate request of its
//! kind, and answered in the sandbox with one reply per request, as Google answers.
//! (Words that write text into a document still pick `update_document`: the blind
//! batches' Docs steps measure that.)

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::TestApp;
use crate::compile::{add, compile_step};

const DOCUMENT: &str = "195j9eDD3ccgjQRttHhJPymLJUCOUjs-jmwTrekvdjFE";

fn referral() -> Value {
    json!({"name": "Referral", "fields": {"patient_name": "string", "notes": "string", "chart_url": "url"}})
}

/// Compiles one step of the words and runs it in the sandbox: the contract and the step's
/// trace.
async fn compile_and_run(instruction: &str) -> (Value, Value) {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    add(
        &app,
        &p,
        &token,
        json!({"name": "google-docs", "provider": "google_docs",
               "credentials": {"client_id": "123456789012-abcdefexample.apps.googleusercontent.com",
                               "client_secret": "GOCSPX-not-a-real-client-secret",
                               "refresh_token": "1//0example-refresh-token-not-real"}}),
    )
    .await;
    let contract = compile_step(
        &app,
        &p,
        &token,
        "w",
        json!({"instruction": instruction, "entity": referral()}),
    )
    .await;
    assert_eq!(contract.status, StatusCode::CREATED, "{}", contract.body);
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(&token),
            Some(json!({"workflow": "w", "mode": "sandbox",
                        "trigger": {"entity": "Referral", "event": "received",
                                    "payload": {"patient_name": "Ada Lovelace", "notes": "Knee pain",
                                                "chart_url": "https://example.com/charts/ada.png"}}})),
        )
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.body);
    assert_eq!(run.body["status"], "succeeded", "{}", run.body);
    (contract.body, run.body["steps"][0].clone())
}

#[tokio::test]
async fn filling_in_a_template_replaces_the_quoted_placeholder_with_the_field_named() {
    let (contract, step) = compile_and_run(&format!(
        "When a referral is received, replace the placeholder 'PATIENT_NAME' with the patient name in the document {DOCUMENT} in google-docs"
    ))
    .await;
    assert_eq!(contract["operation"], "replace_text", "{contract}");
    assert_eq!(
        step["request"]["url"],
        format!("https://docs.googleapis.com/v1/documents/{DOCUMENT}:batchUpdate"),
        "{step}"
    );
    assert_eq!(
        step["request"]["body_json"]["requests"],
        json!([{"replaceAllText": {"containsText": {"text": "PATIENT_NAME", "matchCase": true},
                                   "replaceText": "Ada Lovelace"}}]),
        "{step}"
    );
    let replies = &step["response"]["body"]["replies"];
    assert_eq!(replies.as_array().map(Vec::len), Some(1), "{step}");
    assert!(
        replies[0]["replaceAllText"]["occurrencesChanged"].is_u64(),
        "{step}"
    );
}

#[tokio::test]
async fn inserting_an_image_sends_its_url_and_is_answered_with_a_new_object_id() {
    let (contract, step) = compile_and_run(&format!(
        "When a referral is received, insert the chart image into the document {DOCUMENT} in google-docs"
    ))
    .await;
    assert_eq!(contract["operation"], "embed_image", "{contract}");
    assert_eq!(
        step["request"]["body_json"]["requests"],
        json!([{"insertInlineImage": {"endOfSegmentLocation": {},
                                      "uri": "https://example.com/charts/ada.png"}}]),
        "{step}"
    );
    let object_id = &step["response"]["body"]["replies"][0]["insertInlineImage"]["objectId"];
    assert!(
        object_id.as_str().is_some_and(|id| id.starts_with("kix.")),
        "{step}"
    );
    assert_ne!(object_id, "kix.q8m2n4hv7x1c", "the sample's id: {step}");
}
