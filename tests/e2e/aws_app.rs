//! The functions' own start-up on the AWS backend, against moto: `app::build` reads the
//! configuration and the SDK settings from the environment (region, credentials and
//! endpoint, as Lambda and infra/moto.sh provide them) and its adapters then work:
//! DynamoDB reads and writes, KMS-sealed credentials, EventBridge publishing.

use secrecy::ExposeSecret;
use serde_json::json;
use shared::app;
use shared::config::Config;
use shared::domain::{IntegrationName, ProjectId};
use shared::ports::{BusEvent, Condition, Item, Key};
use shared::vault::{self, Credentials};
use studio_tests::{create_key, create_table, moto_endpoint, sdk_config, unique};

#[tokio::test]
async fn the_aws_backend_builds_from_the_environment_and_its_adapters_work() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let table = create_table(&sdk).await;
    let key_id = create_key(&sdk).await;
    let bus = unique("app-bus");
    aws_sdk_eventbridge::Client::new(&sdk)
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create bus");

    let config = Config::from_lookup(|name| match name {
        "STUDIO_BACKEND" => Some("aws".into()),
        "STUDIO_TABLE_NAME" => Some(table.clone()),
        "STUDIO_KMS_KEY_ID" => Some(key_id.clone()),
        "STUDIO_EVENT_BUS_NAME" => Some(bus.clone()),
        _ => None,
    })
    .expect("config");
    let app = app::build(config, app::no_live_edge)
        .await
        .expect("the AWS adapters build");
    assert!(app.local_bus.is_none(), "no in-process bus on AWS");
    let deps = &app.deps;

    // DynamoDB, through the SDK configuration app::build made.
    let key = Key::new("P#aws-app", "X#1");
    deps.store
        .put(
            Item::new(key.clone(), json!({"n": 1})),
            Condition::NotExists,
        )
        .await
        .expect("put");
    let read = deps.store.get(&key).await.expect("get").expect("present");
    assert_eq!(read.doc, json!({"n": 1}));
    let typed: Option<serde_json::Value> = shared::ports::get_as(deps.store.as_ref(), &key)
        .await
        .expect("get_as");
    assert_eq!(typed, Some(json!({"n": 1})));

    // KMS: a data key generated and unwrapped again.
    let project = ProjectId::parse("aws-app").expect("id");
    let name = IntegrationName::parse("stripe").expect("name");
    let mut credentials = Credentials::new();
    credentials.insert("secret_key", "sk_test_aws_app_canary");
    let envelope = vault::seal(deps.keys.as_ref(), &project, &name, 1, &credentials)
        .await
        .expect("seal with KMS");
    let opened = vault::open(deps.keys.as_ref(), &project, &name, &envelope)
        .await
        .expect("open with KMS");
    assert_eq!(
        opened
            .get("secret_key")
            .map(|s| s.expose_secret().to_owned()),
        Some("sk_test_aws_app_canary".to_owned())
    );

    // EventBridge.
    deps.bus
        .publish(vec![BusEvent::new(
            "StepRequested",
            json!({"project": "aws-app", "run": "r1", "step": 1}),
        )])
        .await
        .expect("publish to EventBridge");
}

/// The embedded data folder is its owner's only (0700), and so is every file in it
/// (0600): it holds the master key, sealed credentials, traces and cached personal data.
#[cfg(unix)]
#[tokio::test]
async fn the_embedded_data_folder_and_its_files_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let app = app::build(Config::embedded(&data), app::no_live_edge)
        .await
        .expect("embedded app");
    app.deps
        .store
        .put(
            Item::new(Key::new("P#m", "x"), json!({})),
            Condition::Always,
        )
        .await
        .expect("write");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the folder");
    let mut files = 0;
    for entry in std::fs::read_dir(&data).expect("list") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(files >= 2, "the database and the master key");
    app.stop().await.expect("stop");
}
