//! Creating integrations: declarations checked field by field, secrets sealed and never
//! echoed, names unique per project, Custom HTTP declarations validated like catalog ones.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::ports::Key;

use crate::api::TestApp;

const CANARY: &str = "00000000-0000-4000-8000-c0ffeec0ffee";

async fn create(app: &TestApp, p: &str, token: &str, body: Value) -> crate::api::Answer {
    app.call(
        Method::POST,
        &format!("/projects/{p}/integrations"),
        Some(token),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_valid_integration_is_created_sealed_listed_and_announced_without_its_secret() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let answer = create(
        &app,
        &p,
        &token,
        json!({"name": "clinic-mail", "provider": "postmark",
               "credentials": {"server_token": CANARY},
               "config": {"from_address": "clinic@example.com"}}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(answer.body["name"], "clinic-mail");
    assert_eq!(answer.body["provider"], "postmark");
    assert_eq!(answer.body["credential_fields"], json!(["server_token"]));
    assert_eq!(answer.body["credential_version"], 1);
    assert_eq!(
        answer.body["config"],
        json!({"from_address": "clinic@example.com", "message_stream": "outbound"})
    );
    assert!(!answer.body.to_string().contains(CANARY));

    let stored = app
        .local
        .deps
        .store
        .get(&Key::new(format!("P#{p}"), "I#clinic-mail"))
        .await
        .expect("get")
        .expect("stored");
    assert!(
        !stored.doc.to_string().contains(CANARY),
        "only ciphertext is stored"
    );
    assert!(
        stored.doc["credentials"]["ciphertext"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );

    let list = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(list.body["integrations"][0]["name"], "clinic-mail");
    let one = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/clinic-mail"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(!list.body.to_string().contains(CANARY) && !one.body.to_string().contains(CANARY));

    let events = app.local.bus.published();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail_type, "IntegrationChanged");
    assert_eq!(events[0].detail["change"], "created");
    assert!(
        !serde_json::to_string(&events)
            .expect("json")
            .contains(CANARY)
    );
}

#[tokio::test]
async fn a_taken_name_is_a_conflict_and_leaves_the_first_integration_alone() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let body = json!({"name": "mail", "provider": "postmark", "credentials": {"server_token": CANARY}, "config": {"from_address": "clinic@example.com"}});
    assert_eq!(
        create(&app, &p, &token, body.clone()).await.status,
        StatusCode::CREATED
    );
    let again = create(&app, &p, &token, body).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.body["type"], "/problems/conflict");
}

#[tokio::test]
async fn every_missing_or_malformed_field_is_named_no_secret_is_echoed_and_nothing_is_written() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let writes = app.local.writes.writes();
    let secret = "tiny-secret-7f3";
    let answer = create(
        &app,
        &p,
        &token,
        json!({"name": "Clinic Mail", "provider": "postmark",
               "credentials": {"server_token": secret, "api_key": "x"},
               "config": {"from_address": "not an email", "colour": "blue"}}),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    let fields: Vec<&str> = answer.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for expected in [
        "name",
        "credentials.server_token",
        "credentials.api_key",
        "config.from_address",
        "config.colour",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} not named in {fields:?}"
        );
    }
    assert!(
        !answer.body.to_string().contains(secret),
        "a secret value was echoed: {}",
        answer.body
    );

    let missing = create(
        &app,
        &p,
        &token,
        json!({"name": "mail", "provider": "postmark"}),
    )
    .await;
    // Every field the prompt marks required is named: the token and the sender.
    let named: Vec<&str> = missing.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("required"))
        })
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(named.contains(&"credentials.server_token"), "{named:?}");
    assert!(named.contains(&"config.from_address"), "{named:?}");

    let unknown = create(
        &app,
        &p,
        &token,
        json!({"name": "mail", "provider": "postmarc"}),
    )
    .await;
    assert_eq!(unknown.body["errors"][0]["field"], "provider");
    let wrong_type = create(
        &app,
        &p,
        &token,
        json!({"name": "mail", "provider": "postmark", "credentials": {"server_token": 42}}),
    )
    .await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    let not_json = app
        .send(
            http::Request::builder()
                .method("POST")
                .uri(format!("/projects/{p}/integrations"))
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(format!(
                    "{{\"credentials\": {{\"server_token\": \"{secret}\""
                )))
                .expect("request"),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert!(!not_json.body.to_string().contains(secret));
    assert_eq!(
        app.local.writes.writes(),
        writes,
        "refused requests wrote nothing"
    );
    assert!(app.local.bus.published().is_empty());
}

#[tokio::test]
async fn custom_http_declarations_are_validated_and_become_integrations() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let good = create(
        &app,
        &p,
        &token,
        json!({"name": "inventory", "provider": "custom_http",
               "credentials": {"api_key": "inv-key-123"},
               "config": {"base_url": "https://inventory.example.com/api",
                          "auth": {"scheme": "header", "header": "X-Api-Key"},
                          "endpoints": [{"name": "reserve_item", "method": "POST", "path": "/items/{sku}/reservations",
                                         "input_schema": {"type": "object", "required": ["sku", "quantity"],
                                                          "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}}},
                                         "response_schema": {"type": "object", "properties": {"reservation_id": {"type": "string"}}}}]}}),
    )
    .await;
    assert_eq!(good.status, StatusCode::CREATED, "{}", good.body);
    assert_eq!(good.body["credential_fields"], json!(["api_key"]));
    assert_eq!(good.body["config"]["endpoints"][0]["name"], "reserve_item");

    let missing_key = create(
        &app,
        &p,
        &token,
        json!({"name": "inventory-2", "provider": "custom_http",
               "config": {"base_url": "https://inventory.example.com", "auth": {"scheme": "bearer"},
                          "endpoints": [{"name": "ping", "method": "GET", "path": "/ping"}]}}),
    )
    .await;
    assert_eq!(missing_key.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing_key.body["errors"][0]["field"], "credentials.token");

    let bad = create(
        &app,
        &p,
        &token,
        json!({"name": "inventory-3", "provider": "custom_http", "credentials": {},
               "config": {"base_url": "ftp://inventory.example.com", "auth": {"scheme": "none"},
                          "endpoints": [{"name": "ping", "method": "GET", "path": "ping"}]}}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, vec!["config.base_url", "config.endpoints[0].path"]);
}

/// A response schema no sandbox mock fits within the budgets (one that requires itself
/// twice over, a billion-character string, 16 items six levels deep, a pattern that
/// repeats 10,240 times) is refused at create and at a config change, each problem naming
/// its endpoint, and nothing is written.
#[tokio::test]
async fn response_schemas_no_sandbox_mock_fits_are_refused_at_create_and_at_config_changes() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let mut grid = json!({"type": "integer"});
    for _ in 0..6 {
        grid = json!({"type": "array", "minItems": 16, "items": grid});
    }
    let object = |property: Value| json!({"type": "object", "required": ["p"], "properties": {"p": property}});
    let schemas = [
        json!({"type": "object", "required": ["a", "b"], "properties": {"a": {"$ref": "#"}, "b": {"$ref": "#"}}}),
        object(json!({"type": "string", "minLength": 1_000_000_000})),
        object(grid),
        object(json!({"type": "string", "pattern": "(a{256}){40}"})),
    ];
    let endpoints: Vec<Value> = schemas
        .iter()
        .enumerate()
        .map(|(i, schema)| json!({"name": format!("e{i}"), "method": "POST", "path": "/x", "response_schema": schema}))
        .collect();
    let before = app.local.writes.writes();
    let config = |endpoints: Value| json!({"base_url": "https://api.example.com", "auth": {"scheme": "none"}, "endpoints": endpoints});
    let refused = create(
        &app,
        &p,
        &token,
        json!({"name": "api", "provider": "custom_http", "credentials": {}, "config": config(json!(endpoints[..3]))}),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let errors = refused.body["errors"].as_array().expect("errors");
    let fields: Vec<&str> = errors.iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(
        fields,
        [
            "config.endpoints[0].response_schema",
            "config.endpoints[1].response_schema",
            "config.endpoints[2].response_schema"
        ]
    );
    assert!(
        errors[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at least 1000000000 characters")),
        "{errors:?}"
    );
    // The pattern is refused before it is compiled.
    let pattern = create(
        &app,
        &p,
        &token,
        json!({"name": "api", "provider": "custom_http", "credentials": {}, "config": config(json!([endpoints[3]]))}),
    )
    .await;
    assert_eq!(
        pattern.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        pattern.body
    );
    assert_eq!(
        pattern.body["errors"][0]["field"],
        "config.endpoints[0].response_schema"
    );
    assert_eq!(app.local.writes.writes(), before, "nothing written");

    let fine = json!([{"name": "ping", "method": "POST", "path": "/ping"}]);
    let created = create(
        &app,
        &p,
        &token,
        json!({"name": "api", "provider": "custom_http", "credentials": {}, "config": config(fine)}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let patched = app
        .call(
            Method::PATCH,
            &format!("/projects/{p}/integrations/api"),
            Some(&token),
            Some(json!({"config": {"endpoints": [endpoints[0]]}})),
        )
        .await;
    assert_eq!(
        patched.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        patched.body
    );
    assert_eq!(
        patched.body["errors"][0]["field"],
        "config.endpoints[0].response_schema"
    );
}

/// A declaration's headers are checked at create (header-name and header-value rules,
/// none of the headers the runtime sets), and a credential with a line break is refused
/// (it could start another header): each problem names its field, never a secret, and
/// nothing is written. A PEM key keeps its lines.
#[tokio::test]
async fn headers_and_credentials_that_could_split_a_request_are_refused_at_create() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let endpoints = json!([{"name": "ping", "method": "GET", "path": "/ping"}]);
    let before = app.local.writes.writes();
    let answer = create(
        &app,
        &p,
        &token,
        json!({"name": "api", "provider": "custom_http",
               "credentials": {"token": format!("{CANARY}\r\nX-Injected: 1")},
               "config": {"base_url": "https://api.example.com", "auth": {"scheme": "bearer"},
                          "endpoints": endpoints,
                          "headers": {"X-Ok": "1", "Host": "evil.example", "Content-Length": "0",
                                      "Bad\r\nName": "x", "X-Split": "a\r\nb", "X-Empty": " "}}}),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    let fields: Vec<&str> = answer.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for field in [
        "config.headers.host",
        "config.headers.content-length",
        "config.headers",
        "config.headers.x-split",
        "config.headers.x-empty",
    ] {
        assert!(fields.contains(&field), "{field} not named in {fields:?}");
    }
    assert!(
        !fields.iter().any(|f| f.contains("x-ok")),
        "a valid header is not refused: {fields:?}"
    );
    assert!(
        !answer.body.to_string().contains(CANARY),
        "no secret echoed"
    );
    assert_eq!(app.local.writes.writes(), before, "nothing written");

    let fine = create(
        &app,
        &p,
        &token,
        json!({"name": "api", "provider": "custom_http", "credentials": {"token": CANARY},
               "config": {"base_url": "https://api.example.com", "auth": {"scheme": "bearer"},
                          "endpoints": endpoints, "headers": {"X-Ok": "1"}}}),
    )
    .await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.body);
}
