//! The execute-step binary run as Lambda runs it: it reads its configuration from the
//! environment, builds its adapters once, then serves invocations from the Runtime API
//! — an HTTP API request and an EventBridge event, one after the other.

use std::time::Duration;

use serde_json::Value;
use studio_tests::lambda_runtime_api::{Answer, FakeRuntimeApi};

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/execute-step")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).expect("sample")).expect("json")
}

#[tokio::test]
async fn the_binary_serves_http_requests_and_bus_events_from_the_runtime_api() {
    let runtime =
        FakeRuntimeApi::start(vec![sample("list-runs.json"), sample("data-changed.json")]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_execute-step"))
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "execute-step")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/execute-step")
        .env("STUDIO_BACKEND", "embedded")
        .env("STUDIO_DATA_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("execute-step starts");
    let answers = runtime.answers(2, Duration::from_secs(30)).await;
    child.kill().await.expect("kill");
    assert_eq!(answers.len(), 2, "{answers:?}");
    let Answer::Response(http) = &answers[0].1 else {
        panic!("{answers:?}")
    };
    // The sample's JWT names prj-demo, which this fresh store does not hold.
    assert_eq!(http["statusCode"], 401, "{http}");
    assert_eq!(http["headers"]["content-type"], "application/problem+json");
    let Answer::Response(event) = &answers[1].1 else {
        panic!("{answers:?}")
    };
    assert_eq!(event["handled"], true, "{event}");
    assert_eq!(event["outcome"]["started_runs"], serde_json::json!([]));
    assert!(
        dir.path().join("master.key").is_file(),
        "adapters were built from the environment"
    );
}
