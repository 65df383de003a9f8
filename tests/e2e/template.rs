//! template.yaml agrees with the code: the same routes per function, the same event
//! rule, the table's key and TTL attribute, and the configuration the code reads.

use std::collections::BTreeSet;

use axum::body::Body;
use http::{Request, StatusCode};
use serde_norway::Value;
use shared::http::{AppState, Function, ROUTES, router};
use shared::routing::{RULES, Target};
use studio_tests::local_deps;
use tower::ServiceExt;

fn template() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("template.yaml"))
        .expect("template.yaml parses")
}

fn logical_id(function: Function) -> &'static str {
    match function {
        Function::AddIntegration => "AddIntegrationFunction",
        Function::CompileContract => "CompileContractFunction",
        Function::ExecuteStep => "ExecuteStepFunction",
        Function::IngestWebhook => "IngestWebhookFunction",
    }
}

const FUNCTIONS: [Function; 4] = [
    Function::AddIntegration,
    Function::CompileContract,
    Function::ExecuteStep,
    Function::IngestWebhook,
];

fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

#[test]
fn each_function_declares_exactly_the_routes_its_router_serves() {
    let t = template();
    for function in FUNCTIONS {
        let resource = &t["Resources"][logical_id(function)];
        assert_eq!(
            resource["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda")
        );
        let events = resource["Properties"]["Events"]
            .as_mapping()
            .expect("events");
        let declared: BTreeSet<(String, String)> = events
            .values()
            .filter(|e| e["Type"].as_str() == Some("HttpApi"))
            .map(|e| {
                (
                    text(&e["Properties"]["Method"]).to_uppercase(),
                    text(&e["Properties"]["Path"]),
                )
            })
            .collect();
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .filter(|(f, _, _)| *f == function)
            .map(|(_, m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(declared, served, "{}", logical_id(function));
    }
}

#[tokio::test]
async fn every_declared_route_is_served_by_its_functions_router() {
    let local = local_deps();
    for (function, method, path) in ROUTES {
        let app = router(
            *function,
            AppState {
                deps: local.deps.clone(),
                max_webhook_bytes: 1024,
                agent: Default::default(),
            },
        );
        let concrete = path.replace('{', "x-").replace('}', "");
        let request = Request::builder()
            .method(*method)
            .uri(&concrete)
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("infallible");
        assert_ne!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("no such route"),
            "{method} {path} is not routed"
        );
    }
}

/// The connection check sends a live request: only execute-step is built with the live
/// edge (add-integration is built with `app::no_live_edge`, which refuses every send).
#[test]
fn the_connection_check_is_served_by_the_function_with_the_live_edge() {
    let verify = ("POST", "/projects/{project}/integrations/{name}/verify");
    let serving: Vec<Function> = shared::http::ROUTES
        .iter()
        .filter(|(_, method, path)| (*method, *path) == verify)
        .map(|(function, ..)| *function)
        .collect();
    assert_eq!(serving, vec![Function::ExecuteStep]);
    let events = &template()["Resources"]["ExecuteStepFunction"]["Properties"]["Events"];
    assert_eq!(
        text(&events["VerifyIntegration"]["Properties"]["Path"]),
        verify.1
    );
}

#[test]
fn only_the_webhook_route_is_public() {
    let t = template();
    assert_eq!(
        t["Resources"]["HttpApi"]["Properties"]["Auth"]["DefaultAuthorizer"].as_str(),
        Some("StudioJwt")
    );
    for function in FUNCTIONS {
        let events = t["Resources"][logical_id(function)]["Properties"]["Events"]
            .as_mapping()
            .expect("events");
        for event in events
            .values()
            .filter(|e| e["Type"].as_str() == Some("HttpApi"))
        {
            let public = event["Properties"]["Auth"]["Authorizer"].as_str() == Some("NONE");
            let path = text(&event["Properties"]["Path"]);
            assert_eq!(public, path.starts_with("/hooks/"), "{path}");
        }
    }
}

#[test]
fn the_event_rule_routes_what_the_in_process_bus_routes() {
    let t = template();
    for rule in RULES {
        assert_eq!(rule.target, Target::ExecuteStep);
        let event = &t["Resources"]["ExecuteStepFunction"]["Properties"]["Events"][rule.name];
        assert_eq!(
            event["Type"].as_str(),
            Some("EventBridgeRule"),
            "{}",
            rule.name
        );
        let pattern = &event["Properties"]["Pattern"];
        let sources: Vec<String> = pattern["source"]
            .as_sequence()
            .expect("source")
            .iter()
            .map(text)
            .collect();
        let types: BTreeSet<String> = pattern["detail-type"]
            .as_sequence()
            .expect("detail-type")
            .iter()
            .map(text)
            .collect();
        assert_eq!(sources, vec![rule.source.to_owned()]);
        assert_eq!(
            types,
            rule.detail_types
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>()
        );
    }
}

#[test]
fn the_table_and_configuration_match_what_the_code_uses() {
    let t = template();
    let table = &t["Resources"]["Table"]["Properties"];
    let keys: Vec<(String, String)> = table["KeySchema"]
        .as_sequence()
        .expect("keys")
        .iter()
        .map(|k| (text(&k["AttributeName"]), text(&k["KeyType"])))
        .collect();
    assert_eq!(
        keys,
        vec![("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some("ttl")
    );
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    let vars = globals["Environment"]["Variables"]
        .as_mapping()
        .expect("variables");
    for name in [
        "STUDIO_BACKEND",
        "STUDIO_TABLE_NAME",
        "STUDIO_KMS_KEY_ID",
        "STUDIO_EVENT_BUS_NAME",
    ] {
        assert!(
            vars.contains_key(name),
            "{name} is not set for the functions"
        );
    }
    assert_eq!(vars["STUDIO_BACKEND"].as_str(), Some("aws"));
}
