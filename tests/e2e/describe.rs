//! Describe: plain words to a provider. A labelled set of phrasings
//! (`tests/data/describe_phrasings.tsv`) measures top-1 accuracy; docs/plain-words.md
//! reports it.

use http::{Method, StatusCode};
use serde_json::json;

use crate::api::TestApp;

/// (expected, text) pairs; `none` means no catalog provider fits.
pub fn phrasings() -> Vec<(String, String)> {
    labelled("describe_phrasings.tsv")
}

fn labelled(file: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(file);
    std::fs::read_to_string(path)
        .expect("phrasings file")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (expected, text) = l.split_once('\t').expect("expected<TAB>text");
            (expected.to_owned(), text.to_owned())
        })
        .collect()
}

/// Top-1 accuracy and the misses, printed.
fn accuracy(name: &str, set: &[(String, String)]) -> (f64, Vec<String>) {
    let mut misses = Vec::new();
    for (expected, text) in set {
        let described = shared::describe::describe(text).expect("catalog");
        let got = described.provider.clone().unwrap_or_else(|| "none".into());
        if &got != expected {
            misses.push(format!(
                "  {text:?}: expected {expected}, got {got} ({:?})",
                described.candidates.first()
            ));
        }
    }
    let accuracy = 1.0 - misses.len() as f64 / set.len() as f64;
    println!(
        "describe top-1 accuracy, {name}: {:.1} % ({} of {})",
        accuracy * 100.0,
        set.len() - misses.len(),
        set.len()
    );
    for miss in &misses {
        println!("{miss}");
    }
    (accuracy, misses)
}

#[test]
fn top_1_accuracy_on_the_labelled_phrasings_is_at_least_97_percent() {
    let set = phrasings();
    assert!(
        set.len() >= 150,
        "the labelled set has {} phrasings",
        set.len()
    );
    let (accuracy, misses) = accuracy("labelled set", &set);
    assert!(
        accuracy >= 0.97,
        "accuracy {:.1} %, misses:\n{}",
        accuracy * 100.0,
        misses.join("\n")
    );
}

/// Phrasings written after the provider files were tuned, never used to tune them: an
/// honest estimate of accuracy on new text.
/// Every blind batch (`tests/data/blind/batchN/describe.tsv`), scored as it is today;
/// BENCHMARKS.md records each one's first run.
#[test]
fn top_1_accuracy_on_the_blind_batches_is_at_least_98_percent() {
    let mut right = 0.0;
    let mut all = 0;
    for file in crate::compile::blind_batches("describe.tsv") {
        let set = labelled(&file);
        let (share, _) = accuracy(&file, &set);
        right += share * set.len() as f64;
        all += set.len();
    }
    assert!(all >= 40, "{all} blind phrasings");
    let share = right / all as f64;
    println!(
        "describe top-1 accuracy, all blind batches: {:.1} % of {all}",
        share * 100.0
    );
    assert!(share >= 0.98, "blind accuracy {:.1} %", share * 100.0);
}

#[test]
fn top_1_accuracy_on_held_out_phrasings_is_at_least_90_percent() {
    let set = labelled("describe_holdout.tsv");
    let (accuracy, misses) = accuracy("held-out set", &set);
    assert!(
        accuracy >= 0.90,
        "accuracy {:.1} %, misses:\n{}",
        accuracy * 100.0,
        misses.join("\n")
    );
}

#[tokio::test]
async fn describe_answers_the_provider_candidates_a_free_name_and_the_exact_fields() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let path = format!("/projects/{p}/integrations/describe");
    let answer = app
        .call(
            Method::POST,
            &path,
            Some(&token),
            Some(json!({"text": "Connect to Postmark to send transactional emails."})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["provider"], "postmark");
    assert_eq!(body["suggested_name"], "postmark");
    assert_eq!(body["candidates"][0]["provider"], "postmark");
    assert_eq!(body["candidates"][0]["display_name"], "Postmark");
    assert_eq!(body["candidates"][0]["category"], "email");
    assert!(
        body["candidates"][0]["confidence"]
            .as_f64()
            .is_some_and(|c| c > 0.9),
        "{body}"
    );
    assert_eq!(body["candidates"][0]["reason"], "names Postmark");
    let credentials = body["prompt"]["credentials"]
        .as_array()
        .expect("credentials");
    assert_eq!(
        credentials[0],
        json!({"name": "server_token", "label": "Server API token", "secret": true, "required": true,
                 "min_length": 17, "example": "00000000-0000-0000-0000-000000000000",
                 "help": "Postmark → Servers → your server → API Tokens (a UUID; POSTMARK_API_TEST for Postmark's test mode)."})
    );
    // The sender is asked for as required: the design's own step cannot run without it.
    let sender = body["prompt"]["config"]
        .as_array()
        .expect("config")
        .iter()
        .find(|f| f["name"] == "from_address")
        .cloned()
        .expect("from_address");
    assert_eq!(sender["format"], "email");
    assert_eq!(sender["required"], true);
    assert_eq!(
        sender["needed_for"],
        json!(["send_email", "send_email_with_template"])
    );
    assert_eq!(body["prompt"]["scopes"], json!([]));

    // Once "postmark" is taken, the suggestion moves on.
    let created = app
        .call(
            Method::POST,
            &format!("/projects/{p}/integrations"),
            Some(&token),
            Some(json!({"name": "postmark", "provider": "postmark", "credentials": {"server_token": "00000000-0000-0000-0000-000000000001"}, "config": {"from_address": "clinic@example.com"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let again = app
        .call(
            Method::POST,
            &path,
            Some(&token),
            Some(json!({"text": "postmark"})),
        )
        .await;
    assert_eq!(again.body["suggested_name"], "postmark-2");
    let named = app
        .call(
            Method::POST,
            &path,
            Some(&token),
            Some(json!({"text": "Postmark, called clinic-mail"})),
        )
        .await;
    assert_eq!(named.body["suggested_name"], "clinic-mail");
}

#[tokio::test]
async fn when_nothing_fits_provider_is_null_and_custom_http_is_offered() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let answer = app
        .call(
            Method::POST,
            &format!("/projects/{p}/integrations/describe"),
            Some(&token),
            Some(json!({"text": "connect our Shopify store"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["provider"], serde_json::Value::Null);
    assert!(
        answer.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Custom HTTP"))
    );
    let candidates = answer.body["candidates"].as_array().expect("candidates");
    assert!(
        candidates.iter().any(|c| c["provider"] == "custom_http"),
        "{candidates:?}"
    );

    let own = app
        .call(
            Method::POST,
            &format!("/projects/{p}/integrations/describe"),
            Some(&token),
            Some(json!({"text": "call our internal REST API"})),
        )
        .await;
    assert_eq!(own.body["provider"], "custom_http");
    assert!(
        own.body["prompt"]["config"]
            .as_array()
            .expect("config")
            .iter()
            .any(|f| f["name"] == "base_url")
    );
}

#[tokio::test]
async fn describe_refuses_empty_or_oversized_text() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let path = format!("/projects/{p}/integrations/describe");
    for text in [json!(""), json!("   "), json!("x".repeat(2001))] {
        let answer = app
            .call(
                Method::POST,
                &path,
                Some(&token),
                Some(json!({"text": text})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer.body["errors"][0]["field"], "text");
    }
}
