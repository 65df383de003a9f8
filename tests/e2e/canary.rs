//! The canary test: unique secret values planted in integrations of several providers,
//! every flow run (create, rotate, describe, compile, sandbox run, live run against a
//! local server that echoes credentials back, webhook verification, Notion's handshake
//! token and its one reveal, the connection check, agents' MCP tool calls, error
//! paths), and
//! every response, log line, event and stored item (other than the envelopes) searched
//! for them.

use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::any;
use http::Method;
use serde_json::{Value, json};
use shared::ports::{Key, Query};

use crate::api::TestApp;

const POSTMARK: &str = "canary-postmark-7c1e5a9d-server-token";
const STRIPE: &str = "sk_test_canaryStripe4f2b8e61a";
const STRIPE_HOOK: &str = "whsec_canaryStripeHook93d07c";
const TWILIO: &str = "canaryTwilioAuthToken5b81c2e0";
const CUSTOM: &str = "canary-custom-bearer-2e9f7a41";
const ROTATED: &str = "canary-rotated-bearer-8d3c6b05";
const BASIC: &str = "canary-basic-password-61f0d2";
const NOTION_KEY: &str = "ntn_canaryNotionIntegration3e8b1f0c9d27a4";
/// Notion's handshake token: revealed once, deliberately, by the reveal route; that one
/// answer is the only output allowed to carry it.
const NOTION_VERIFY: &str = "secret_canaryNotionHandshake7d2e9a4c61b0";
const ALL: [&str; 9] = [
    POSTMARK,
    STRIPE,
    STRIPE_HOOK,
    TWILIO,
    CUSTOM,
    ROTATED,
    BASIC,
    NOTION_KEY,
    NOTION_VERIFY,
];

/// Every log line of the test binary, through the production redacting writer (one
/// global subscriber: other tests that search the logs use this one).
pub(crate) fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(move || shared::redact::RedactingWriter(Sink(sink.clone())))
            .try_init();
        buffer
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A provider that echoes everything back: the Authorization header and the body, in
/// a 200 for `/echo` and in a 500 error for `/fail`.
async fn echo_server() -> String {
    let app = Router::new().fallback(any(|uri: http::Uri, headers: HeaderMap, body: Bytes| async move {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let mut echoed = json!({"id": "T-1", "you_sent": {"authorization": auth, "body": String::from_utf8_lossy(&body)}});
        if uri.path().starts_with("/fail") {
            // A provider whose error message repeats the credential it refused.
            echoed["message"] = json!(format!("refused {auth}"));
        }
        let status = if uri.path().starts_with("/fail") { 500 } else { 200 };
        (http::StatusCode::from_u16(status).expect("status"), [("content-type", "application/json")], echoed.to_string())
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// One JSON-RPC request to the project's MCP server, as an MCP client posts it; the
/// whole answer as text.
async fn mcp_request(app: &TestApp, p: &str, token: &str, method: &str, params: Value) -> String {
    use axum::body::Body;
    let request = http::Request::builder()
        .method(Method::POST)
        .uri(format!("/projects/{p}/mcp"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(Body::from(
            json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string(),
        ))
        .expect("request");
    let answer = app.send(request).await;
    assert_eq!(
        answer.status,
        http::StatusCode::OK,
        "{method}: {}",
        answer.body
    );
    format!("mcp {method} {:?} {}", answer.headers, answer.body)
}

fn stripe_signature(secret: &str, timestamp: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[tokio::test]
async fn no_planted_secret_appears_in_any_response_log_event_or_stored_item() {
    let logs = logs();
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    let url = echo_server().await;
    let mut outputs: Vec<String> = Vec::new();
    let call = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let token = token.clone();
        async move {
            let answer = app.call(method, &path, Some(&token), body).await;
            format!(
                "{path} {} {:?} {}",
                answer.status, answer.headers, answer.body
            )
        }
    };

    // Create, including error paths that carry secrets in the wrong place.
    for body in [
        json!({"name": "mail", "provider": "postmark", "credentials": {"server_token": POSTMARK}, "config": {"from_address": "clinic@example.com"}}),
        json!({"name": "payments", "provider": "stripe", "credentials": {"secret_key": STRIPE, "webhook_secret": STRIPE_HOOK}}),
        json!({"name": "sms", "provider": "twilio", "credentials": {"account_sid": "AC00000000000000000000000000000000", "auth_token": TWILIO}, "config": {"from_number": "+15005550006"}}),
        json!({"name": "tickets", "provider": "custom_http", "credentials": {"token": CUSTOM},
               "config": {"base_url": url, "auth": {"scheme": "bearer"},
                          "endpoints": [{"name": "echo", "method": "POST", "path": "/echo", "input_schema": {"type": "object", "properties": {"note": {"type": "string"}}}},
                                        {"name": "fail", "method": "POST", "path": "/fail"}],
                          "verify": {"method": "GET", "path": "/fail"}}}),
        json!({"name": "basic-api", "provider": "custom_http", "credentials": {"username": "clinic", "password": BASIC},
               "config": {"base_url": url, "auth": {"scheme": "basic"},
                          "endpoints": [{"name": "echo", "method": "POST", "path": "/echo"}],
                          "verify": {"method": "GET", "path": "/echo"}}}),
        json!({"name": "docs", "provider": "notion", "credentials": {"integration_token": NOTION_KEY}, "config": {"data_source_id": "248104cd-477e-80af-bc30-000bd28de8f9"}}),
        json!({"name": "bad", "provider": "stripe", "credentials": {"secret_key": format!("pk_{STRIPE}"), "nonsense": STRIPE}}),
        json!({"name": "bad-2", "provider": "postmark", "credentials": {"server_token": {"nested": POSTMARK}}}),
        json!({"name": "mail", "provider": "postmark", "credentials": {"server_token": POSTMARK}}),
    ] {
        outputs.push(
            call(
                Method::POST,
                format!("/projects/{p}/integrations"),
                Some(body),
            )
            .await,
        );
    }
    outputs.push(
        app.send(
            http::Request::builder()
                .method("POST")
                .uri(format!("/projects/{p}/integrations"))
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(format!(
                    "{{\"name\": \"x\", \"credentials\": {{\"token\": \"{CUSTOM}\""
                )))
                .expect("request"),
        )
        .await
        .body
        .to_string(),
    );
    // Rotate, and a bad rotation.
    outputs.push(
        call(
            Method::PUT,
            format!("/projects/{p}/integrations/tickets/credentials"),
            Some(json!({"credentials": {"token": ROTATED}})),
        )
        .await,
    );
    outputs.push(
        call(
            Method::PUT,
            format!("/projects/{p}/integrations/mail/credentials"),
            Some(json!({"credentials": {"server_token": STRIPE, "extra": TWILIO}})),
        )
        .await,
    );
    // Describe, with a secret pasted into the text.
    outputs.push(
        call(
            Method::POST,
            format!("/projects/{p}/integrations/describe"),
            Some(json!({"text": format!("connect stripe with key {STRIPE} called {STRIPE}")})),
        )
        .await,
    );
    // Compile and run.
    outputs.push(
        call(
            Method::POST,
            format!("/projects/{p}/workflows/intake/steps/compile"),
            Some(json!({"instruction": "When the intake form is submitted, call the tickets integration to echo the note",
                        "entity": {"name": "IntakeForm", "fields": {"note": "string"}}})),
        )
        .await,
    );
    crate::runtime::store_workflow(
        &app,
        &p,
        "echo",
        vec![(1, "tickets", "echo", json!({"note": "{{entity.note}}"}))],
    )
    .await;
    crate::runtime::store_workflow(&app, &p, "fail", vec![(1, "tickets", "fail", json!({}))]).await;
    crate::runtime::store_workflow(&app, &p, "basic", vec![(1, "basic-api", "echo", json!({}))])
        .await;
    for (workflow, mode) in [
        ("echo", "sandbox"),
        ("echo", "live"),
        ("fail", "live"),
        ("basic", "live"),
    ] {
        let run = json!({"workflow": workflow, "mode": mode, "trigger": {"entity": "IntakeForm", "payload": {"note": "hello"}}});
        outputs.push(call(Method::POST, format!("/projects/{p}/runs"), Some(run)).await);
    }
    outputs.push(
        call(
            Method::GET,
            format!("/projects/{p}/runs?workflow=echo"),
            None,
        )
        .await,
    );
    // Agents through the project's MCP server: the tool list, sandbox and live calls
    // (live allowed on the Custom HTTP integrations), a provider error that repeats the
    // credential, a refused live call, and the agents' runs.
    for name in ["tickets", "basic-api"] {
        outputs.push(
            call(
                Method::PUT,
                format!("/projects/{p}/integrations/{name}/agent-access"),
                Some(json!({"live": true})),
            )
            .await,
        );
    }
    let mut mcp = vec![mcp_request(&app, &p, &token, "tools/list", json!({})).await];
    for (tool, arguments) in [
        ("tickets.echo", json!({"note": "hello"})),
        ("tickets.echo", json!({"note": "hello", "mode": "live"})),
        ("tickets.fail", json!({"mode": "live"})),
        ("basic-api.echo", json!({"mode": "live"})),
        (
            "mail.send_email",
            json!({"To": "pat@example.com", "TextBody": "hi"}),
        ),
        (
            "mail.send_email",
            json!({"To": "pat@example.com", "TextBody": "hi", "mode": "live"}),
        ),
        (
            "payments.create_customer",
            json!({"email": "pat@example.com"}),
        ),
    ] {
        let params = json!({"name": tool, "arguments": arguments});
        mcp.push(mcp_request(&app, &p, &token, "tools/call", params).await);
    }
    assert!(
        mcp.iter().any(|m| m.contains("\"effect\":\"sent\"")),
        "an agent's live call did not run: {mcp:?}"
    );
    outputs.extend(mcp);
    outputs.push(
        call(
            Method::GET,
            format!("/projects/{p}/runs?source=agent"),
            None,
        )
        .await,
    );
    // The connection check, live and in sandbox: a provider error that repeats the
    // credential, a success, a destination the egress policy refuses.
    for name in ["tickets", "basic-api", "payments", "mail"] {
        for query in ["", "?mode=sandbox"] {
            outputs.push(
                call(
                    Method::POST,
                    format!("/projects/{p}/integrations/{name}/verify{query}"),
                    None,
                )
                .await,
            );
        }
    }
    for path in [
        "integrations",
        "integrations/tickets",
        "integrations/tickets/audit",
        "integrations/payments/audit",
        "integrations/tickets/dependents",
    ] {
        outputs.push(call(Method::GET, format!("/projects/{p}/{path}"), None).await);
    }
    // Webhooks: a valid Stripe delivery and a forged one.
    // Signed at the app's clock (a fixed clock in tests), inside Stripe's 300 s window.
    let now = shared::ports::Clock::now(app.local.clock.as_ref()).timestamp();
    let event = json!({"id": "evt_canary_1", "object": "event", "type": "customer.updated", "created": now,
                       "data": {"object": {"id": "cus_1", "object": "customer", "email": "ada@example.com"}, "previous_attributes": {"email": "old@example.com"}}})
    .to_string();
    let mut webhook_statuses = Vec::new();
    for signature in [
        stripe_signature(STRIPE_HOOK, now, &event),
        format!("t=1,v1={STRIPE}"),
    ] {
        let answer = app
            .send(
                http::Request::builder()
                    .method("POST")
                    .uri(format!("/hooks/{p}/payments"))
                    .header("stripe-signature", signature)
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(event.clone()))
                    .expect("request"),
            )
            .await;
        outputs.push(format!(
            "{} {:?} {}",
            answer.status, answer.headers, answer.body
        ));
        webhook_statuses.push(answer.status.as_u16());
    }
    assert!(
        webhook_statuses[0] < 300,
        "the valid delivery was accepted: {webhook_statuses:?}"
    );
    assert_eq!(webhook_statuses[1], 401, "the forged delivery was refused");

    // Notion: the handshake, the one reveal (the only answer allowed to carry the
    // token), a second reveal, setting the token, a signed and a forged event.
    let hook = |headers: Vec<(&'static str, String)>, body: String| {
        let app = &app;
        let p = p.clone();
        async move {
            let mut request = http::Request::builder()
                .method("POST")
                .uri(format!("/hooks/{p}/docs"))
                .header("content-type", "application/json");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let answer = app
                .send(request.body(axum::body::Body::from(body)).expect("request"))
                .await;
            (
                answer.status.as_u16(),
                format!("{} {:?} {}", answer.status, answer.headers, answer.body),
            )
        }
    };
    let (status, out) = hook(
        vec![],
        json!({"verification_token": NOTION_VERIFY}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    outputs.push(out);
    let reveal_path = format!("/projects/{p}/integrations/docs/webhook-verification-token");
    let mut revealed = app
        .call(Method::POST, &reveal_path, Some(&token), None)
        .await;
    assert_eq!(revealed.status, 200, "{}", revealed.body);
    assert_eq!(revealed.body["verification_token"], NOTION_VERIFY);
    // The rest of that answer (headers, instructions, timestamps) is searched too.
    revealed.body["verification_token"] = Value::Null;
    revealed.body["handshakes"][0]["verification_token"] = Value::Null;
    outputs.push(format!(
        "{} {:?} {}",
        revealed.status, revealed.headers, revealed.body
    ));
    outputs.push(call(Method::POST, reveal_path.clone(), None).await);
    outputs.push(
        call(
            Method::PUT,
            format!("/projects/{p}/integrations/docs/credentials"),
            Some(json!({"credentials": {"integration_token": NOTION_KEY,
                                        "webhook_verification_token": NOTION_VERIFY}})),
        )
        .await,
    );
    outputs.push(call(Method::POST, reveal_path, None).await);
    let page_event = json!({"id": "evt-notion-canary", "type": "page.properties_updated",
                            "entity": {"id": "page-canary", "type": "page"},
                            "data": {"updated_properties": ["title"]}})
    .to_string();
    let mut notion_statuses = Vec::new();
    for signature in [
        shared::webhooks::signing::notion(NOTION_VERIFY, page_event.as_bytes()),
        format!("sha256={NOTION_VERIFY}"),
    ] {
        let (status, out) = hook(vec![("x-notion-signature", signature)], page_event.clone()).await;
        notion_statuses.push(status);
        outputs.push(out);
    }
    assert_eq!(
        notion_statuses,
        [200, 401],
        "signed accepted, forged refused"
    );
    let notion_audit = call(
        Method::GET,
        format!("/projects/{p}/integrations/docs/audit"),
        None,
    )
    .await;
    assert!(
        notion_audit.contains("verification_token_revealed"),
        "the reveal was audited: {notion_audit}"
    );
    outputs.push(notion_audit);
    app.local.bus.wait_idle().await;

    // Events.
    outputs.push(serde_json::to_string(&app.local.bus.published()).expect("json"));
    // Stored items: every item of the project's partition (envelopes removed) and the
    // audit partitions.
    let store = &app.local.deps.store;
    let mut partitions = vec![format!("P#{p}")];
    for name in ["mail", "payments", "sms", "tickets", "basic-api", "docs"] {
        partitions.push(format!("A#{p}#{name}"));
        partitions.push(format!("H#{p}#{name}"));
    }
    for pk in partitions {
        let mut query = Query::prefix(pk.clone(), "");
        loop {
            let page = store.query(&query).await.expect("query");
            for item in &page.items {
                let mut doc = item.doc.clone();
                if item.key.sk.starts_with("I#")
                    && let Some(envelope) = doc.get_mut("credentials")
                {
                    for field in ["ciphertext", "wrapped_key", "nonce"] {
                        envelope[field] = Value::Null;
                    }
                }
                outputs.push(format!("{}/{} {}", item.key.pk, item.key.sk, doc));
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
    }
    let _ = store.get(&Key::new(format!("P#{p}"), "META")).await;
    let log_text = String::from_utf8_lossy(&logs.lock().expect("lock")).into_owned();
    assert!(
        log_text.contains("integration created"),
        "the log capture works"
    );
    outputs.push(log_text);

    // The flows really ran: a live run reached the echo server, a webhook was verified.
    let all = outputs.join("\n");
    assert!(
        all.contains("\"effect\":\"sent\""),
        "the live run did not run"
    );
    assert!(
        all.contains("[redacted]"),
        "nothing was masked: the echo server's answer should have been"
    );
    assert!(
        all.contains("refused Bearer [redacted]") && all.contains("\"ok\":true"),
        "the connection checks did not reach the echo server"
    );
    // Basic auth carries base64("user:password"): that must not appear either.
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("clinic:{BASIC}"),
    );
    assert!(
        !outputs.iter().any(|o| o.contains(&basic)),
        "Basic credentials leaked in base64"
    );
    for canary in ALL {
        let found: Vec<&str> = outputs
            .iter()
            .filter(|o| o.contains(canary))
            .map(|o| &o[..o.len().min(300)])
            .collect();
        assert!(
            found.is_empty(),
            "{canary} leaked into:\n{}",
            found.join("\n---\n")
        );
    }
}
