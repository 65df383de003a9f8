//! Stripe live mode against localstripe (PyPI: a stateful fake Stripe server, not
//! written by us): the catalog's Stripe operations, built by the runtime's request
//! builder with real credentials, sent through the live edge, and the answers checked
//! against the operations' response schemas. `infra/localstripe.sh start` runs it;
//! under CI=true a missing server fails the test.

use std::time::Duration;

use serde_json::{Value, json};
use shared::adapters::{EgressPolicy, LiveEdge};
use shared::catalog::{catalog, compile_schema, validation_errors};
use shared::ports::{Edge, EdgeOutcome};
use shared::runtime::request::{CredentialValues, build_request};
use shared::vault::Credentials;

fn localstripe() -> Option<String> {
    match std::env::var("LOCALSTRIPE_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(url) => Some(url),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "LOCALSTRIPE_URL is not set under CI=true: start it with infra/localstripe.sh start"
            )
        }
        None => {
            eprintln!(
                "skipping the localstripe test: LOCALSTRIPE_URL is not set (see infra/localstripe.sh)"
            );
            None
        }
    }
}

async fn call(url: &str, operation: &str, input: Value, key: &str) -> Value {
    let mut provider = catalog()
        .expect("catalog")
        .get("stripe")
        .expect("stripe")
        .clone();
    provider.base_url = url.to_owned();
    let op = provider
        .operations
        .iter()
        .find(|o| o.id == operation)
        .expect("operation")
        .clone();
    let mut credentials = Credentials::new();
    credentials.insert("secret_key", "sk_test_localstripe_canary_51H");
    let request = build_request(
        &provider,
        &op,
        &input,
        &serde_json::Map::new(),
        CredentialValues::Real(&credentials),
        Some(key),
    )
    .expect("request");
    assert!(
        request
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("idempotency-key") && v == key)
    );
    let edge = LiveEdge::with_policy(
        Duration::from_secs(5),
        EgressPolicy::parse("127.0.0.1").expect("policy"),
    );
    let EdgeOutcome::Sent(response) = edge.send(&request).await.expect("sent") else {
        panic!("not sent")
    };
    let body: Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!(response.status, 200, "{operation}: {body}");
    let validator = compile_schema(&op.response_schema).expect("schema");
    let errors = validation_errors(&validator, &body);
    assert!(
        errors.is_empty(),
        "{operation}: the response does not fit the declared schema: {errors:?}"
    );
    body
}

#[tokio::test]
async fn customers_payment_intents_and_refunds_round_trip_through_localstripe() {
    let Some(url) = localstripe() else { return };
    let customer = call(&url, "create_customer", json!({"email": "ada@example.com", "name": "Ada Lovelace", "metadata": {"patient_id": "p-1"}}), "studio-run-1#1").await;
    assert_eq!(customer["object"], "customer");
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(
        customer["metadata"]["patient_id"], "p-1",
        "bracket-notation form encoding reached Stripe's parser"
    );
    let id = customer["id"].as_str().expect("id").to_owned();
    let intent = call(
        &url,
        "create_payment_intent",
        json!({"amount": 4200, "currency": "usd", "customer": id, "payment_method": "pm_card_visa", "confirm": true}),
        "studio-run-1#2",
    )
    .await;
    assert_eq!(intent["object"], "payment_intent");
    assert_eq!(intent["amount"], 4200);
    assert_eq!(intent["status"], "succeeded");
    let refund = call(
        &url,
        "create_refund",
        json!({"payment_intent": intent["id"]}),
        "studio-run-1#3",
    )
    .await;
    assert_eq!(refund["object"], "refund");
    assert_eq!(refund["amount"], 4200);
}
