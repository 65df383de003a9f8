//! The design's walk-through on the AWS backend, as close to the deployed system as
//! this machine gets: DynamoDB, KMS, EventBridge and SQS in moto, the template's
//! execute-step rule routing to a queue, and the queue consumed by execute-step's
//! handler (what Lambda does deployed). Compile, then a sandbox and a live run
//! complete; a signed Stripe webhook becomes a DataChanged whose triggered run
//! completes.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use shared::config::Config;
use shared::http::{AppState, local_router};
use shared::webhooks::signing;
use studio_tests::{create_key, create_table, moto_endpoint, sdk_config};
use tower::ServiceExt;

async fn call(
    router: &axum::Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .header("content-type", "application/json")
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .expect("request");
    let answer = router.clone().oneshot(request).await.expect("infallible");
    let status = answer.status();
    let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A provider on this machine that answers every call with 201 and a ticket.
async fn provider() -> String {
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::CREATED,
            axum::Json(json!({"id": "T-1", "title": "welcome"})),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

const WHSEC: &str = "whsec_walkthrough_0123456789abcdef";

#[tokio::test]
async fn the_walkthrough_completes_on_the_aws_backend_with_the_rule_routed_to_a_queue() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let (table, key_id) = (create_table(&sdk).await, create_key(&sdk).await);
    let (bus, queue_url) = studio_tests::bus_routed_to_a_queue(&sdk).await;
    let config = Config::from_lookup(|name| match name {
        "STUDIO_BACKEND" => Some("aws".into()),
        "STUDIO_TABLE_NAME" => Some(table.clone()),
        "STUDIO_KMS_KEY_ID" => Some(key_id.clone()),
        "STUDIO_EVENT_BUS_NAME" => Some(bus.clone()),
        "STUDIO_EVENT_QUEUE_URL" => Some(queue_url.clone()),
        "STUDIO_EGRESS_ALLOW" => Some("127.0.0.1".into()),
        _ => None,
    })
    .expect("config");
    let app = shared::app::build(config, shared::app::live_edge)
        .await
        .expect("AWS adapters");
    assert!(
        shared::app::consume_event_queue(&app).expect("queue consumer"),
        "the queue is consumed"
    );
    let router = local_router(AppState {
        deps: app.deps.clone(),
        max_webhook_bytes: app.config.max_webhook_bytes,
        agent: Default::default(),
    });
    let r = &router;

    let (status, project) = call(
        r,
        Method::POST,
        "/projects",
        &[],
        Some(json!({"name": "clinic"}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    let p = project["id"].as_str().expect("id").to_owned();
    let bearer = format!("Bearer {}", project["token"].as_str().expect("token"));
    let auth = [("authorization", bearer.as_str())];
    let base = format!("/projects/{p}");

    // Two integrations: Postmark (sandbox), a Custom HTTP API on this machine (live),
    // and Stripe for the webhook.
    let tickets = provider().await;
    for integration in [
        json!({"name": "clinic-mail", "provider": "postmark", "credentials": {"server_token": "pm-walkthrough-token"},
               "config": {"from_address": "clinic@example.com"}}),
        json!({"name": "tickets", "provider": "custom_http", "credentials": {"token": "tk-walkthrough"},
               "config": {"base_url": tickets, "auth": {"scheme": "bearer"},
                          "endpoints": [{"name": "create_ticket", "method": "POST", "path": "/tickets",
                                         "input_schema": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}},
                                         "response_schema": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}]}}),
        json!({"name": "stripe", "provider": "stripe",
               "credentials": {"secret_key": "sk_test_abcdefghijklmnopqrstuvwx", "webhook_secret": WHSEC}}),
    ] {
        let (status, body) = call(
            r,
            Method::POST,
            &format!("{base}/integrations"),
            &auth,
            Some(integration.to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // Compile: the design's example, a live step, and a data-change trigger.
    let entity = json!({"name": "IntakeForm", "fields": {"patient_name": "string", "patient_email": "email"}});
    for (workflow, body) in [
        (
            "intake",
            json!({"instruction": "When the intake form is submitted, call the Postmark integration to send a confirmation email to the patient.", "entity": entity}),
        ),
        (
            "ticket",
            json!({"integration": "tickets", "operation": "create_ticket", "input_mapping": {"title": "welcome {{entity.patient_name}}"},
                          "trigger": {"kind": "entity", "entity": "IntakeForm", "event": "submitted"}, "entity": entity}),
        ),
        (
            "on-customer",
            json!({"integration": "tickets", "operation": "create_ticket", "input_mapping": {"title": "{{change.after.email}} changed"},
                   "trigger": {"kind": "data_change", "integration": "stripe", "entity_type": "customer", "change": "updated"}}),
        ),
    ] {
        let (status, contract) = call(
            r,
            Method::POST,
            &format!("{base}/workflows/{workflow}/steps/compile"),
            &auth,
            Some(body.to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{workflow}: {contract}");
    }

    // A sandbox run and a live run, each waited for: both complete.
    let payload = json!({"patient_name": "Ada", "patient_email": "ada@example.com"});
    for (workflow, mode, effect) in [
        ("intake", "sandbox", "would_have_sent"),
        ("ticket", "live", "sent"),
    ] {
        let run = json!({"workflow": workflow, "mode": mode, "trigger": {"entity": "IntakeForm", "payload": payload}});
        let (status, body) = call(
            r,
            Method::POST,
            &format!("{base}/runs"),
            &auth,
            Some(run.to_string()),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{workflow} did not finish: {body}"
        );
        assert_eq!(body["status"], "succeeded", "{body}");
        assert_eq!(body["steps"][0]["effect"], effect, "{body}");
    }

    // An agent through the MCP server: a sandbox call, then a live one once allowed,
    // each an agent's run in DynamoDB, its credential use audited.
    let (status, _) = call(
        r,
        Method::PUT,
        &format!("{base}/integrations/tickets/agent-access"),
        &auth,
        Some(json!({"live": true}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mcp_headers = [
        ("authorization", bearer.as_str()),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    for (tool, arguments, effect) in [
        (
            "clinic-mail.send_email",
            json!({"To": "ada@example.com", "TextBody": "hi"}),
            "would_have_sent",
        ),
        (
            "tickets.create_ticket",
            json!({"title": "from an agent", "mode": "live"}),
            "sent",
        ),
    ] {
        let message = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                             "params": {"name": tool, "arguments": arguments}});
        let (status, answer) = call(
            r,
            Method::POST,
            &format!("{base}/mcp"),
            &mcp_headers,
            Some(message.to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let result = &answer["result"];
        assert_eq!(result["isError"], false, "{tool}: {answer}");
        assert_eq!(result["structuredContent"]["effect"], effect, "{answer}");
    }
    let (_, agents) = call(
        r,
        Method::GET,
        &format!("{base}/runs?source=agent"),
        &auth,
        None,
    )
    .await;
    assert_eq!(agents["runs"].as_array().map(Vec::len), Some(2), "{agents}");
    let (_, audit) = call(
        r,
        Method::GET,
        &format!("{base}/integrations/tickets/audit"),
        &auth,
        None,
    )
    .await;
    assert!(
        audit["records"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["cause"]["source"] == "agent")),
        "{audit}"
    );

    // A signed Stripe webhook: DataChanged, then the triggered run, completing.
    let event = json!({"id": "evt_walk_1", "object": "event", "type": "customer.updated", "created": 1795953000,
        "data": {"object": {"id": "cus_walk", "object": "customer", "email": "ada.lovelace@example.com", "name": "Ada"},
                 "previous_attributes": {"email": "ada@example.com"}}}).to_string();
    let signature = signing::stripe(WHSEC, chrono::Utc::now().timestamp(), event.as_bytes());
    let (status, answer) = call(
        r,
        Method::POST,
        &format!("/hooks/{p}/stripe"),
        &[("stripe-signature", signature.as_str())],
        Some(event),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["changes"], 1, "{answer}");
    let mut triggered = Value::Null;
    for _ in 0..300 {
        let (_, runs) = call(
            r,
            Method::GET,
            &format!("{base}/runs?workflow=on-customer"),
            &auth,
            None,
        )
        .await;
        triggered = runs["runs"][0].clone();
        if triggered["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        triggered["status"], "succeeded",
        "the triggered run: {triggered}"
    );
    assert_eq!(triggered["trigger"]["kind"], "data_change", "{triggered}");
    assert_eq!(
        triggered["mode"], "live",
        "a data change runs live: {triggered}"
    );
}
