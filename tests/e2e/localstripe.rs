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

/// The connection check against a Stripe-compatible server: Stripe's own verify
/// request (from its catalog file) declared on a Custom HTTP integration that points at
/// localstripe, with a working key, then with one localstripe refuses.
#[tokio::test]
async fn the_connection_check_passes_with_a_working_key_and_names_a_refused_one_masked() {
    let Some(url) = localstripe() else { return };
    let stripe = catalog().expect("catalog").get("stripe").expect("stripe");
    let verify = stripe.verify.as_ref().expect("stripe declares a check");
    let app = crate::api::TestApp::new();
    let (p, token) = app.project("clinic").await;
    for (name, key) in [
        ("stripe-ok", "sk_test_localstripe_verify_51H"),
        ("stripe-bad", "rk_wrong_localstripe_verify_51H"),
    ] {
        crate::runtime::create(
            &app,
            &p,
            &token,
            json!({"name": name, "provider": "custom_http", "credentials": {"token": key},
                   "config": {"base_url": url, "auth": {"scheme": "bearer"},
                              "endpoints": [{"name": "list_customers", "method": "GET", "path": "/v1/customers"}],
                              "verify": {"method": "GET", "path": verify.path, "expect_status": verify.expect_status}}}),
        )
        .await;
    }
    let check = |name: &'static str| {
        let app = &app;
        let (p, token) = (p.clone(), token.clone());
        async move {
            app.call(
                http::Method::POST,
                &format!("/projects/{p}/integrations/{name}/verify"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let ok = check("stripe-ok").await;
    assert_eq!(ok.body["ok"], true, "{}", ok.body);
    assert_eq!(ok.body["checked"], format!("GET {url}{}", verify.path));
    let bad = check("stripe-bad").await;
    assert_eq!(bad.body["ok"], false, "{}", bad.body);
    assert_eq!(bad.body["status"], 401, "{}", bad.body);
    assert_eq!(bad.body["reason"], "Unauthorized", "Stripe's error.message");
    assert_eq!(bad.body["hint"], "the key is wrong or revoked");
    assert!(
        !bad.body
            .to_string()
            .contains("rk_wrong_localstripe_verify_51H"),
        "{}",
        bad.body
    );
}
