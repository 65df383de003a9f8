//! The project's MCP server (`POST /projects/{p}/mcp`) through the official Rust SDK's
//! client over real HTTP: initialize, tools/list against the catalog, a sandbox call
//! with its exact payload, a live call refused until agents are allowed live calls and
//! then sent once, audited, stored as an agent's run; the studio's own tools; the
//! limits; and a canary credential that appears in no answer.

use std::collections::BTreeSet;
use std::time::Duration;

use http::{Method, StatusCode};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Map, Value, json};
use shared::http::mcp::AgentLimits;
use shared::http::{AppState, local_router};
use studio_tests::local_deps;

use crate::api::TestApp;
use crate::runtime::{create, scripted_server};

const POSTMARK_TOKEN: &str = "canary-mcp-postmark-0b6f2d19c4e8";
const TICKETS_TOKEN: &str = "canary-mcp-tickets-7a1c9e52d0b3";

type Client = RunningService<RoleClient, ()>;

/// The app served on a loopback port, as an agent reaches it.
async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn connect(base: &str, project: &str, token: &str) -> Client {
    let config =
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/projects/{project}/mcp"))
            .auth_header(token);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("initialize")
}

fn args(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("arguments are an object"),
    }
}

async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments)))
        .await
        .expect("tools/call answered")
}

fn text_of(result: &CallToolResult) -> String {
    serde_json::to_value(&result.content)
        .expect("content")
        .as_array()
        .expect("blocks")
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn tool<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

fn catalog_operation(provider: &str, op: &str) -> shared::catalog::Operation {
    let provider = shared::catalog::catalog()
        .expect("catalog")
        .get(provider)
        .expect("provider");
    provider
        .operations
        .iter()
        .find(|o| o.id.as_str() == op)
        .expect("operation")
        .clone()
}

/// A project with Postmark (`clinic-mail`) and a Custom HTTP API on a local server
/// (`tickets`, whose create takes an idempotency key).
async fn project_with_integrations(app: &TestApp, tickets_url: &str) -> (String, String) {
    let (p, token) = app.project("agents").await;
    create(
        app,
        &p,
        &token,
        json!({"name": "clinic-mail", "provider": "postmark",
        "credentials": {"server_token": POSTMARK_TOKEN},
        "config": {"from_address": "clinic@example.com"}}),
    )
    .await;
    create(app, &p, &token, json!({"name": "tickets", "provider": "custom_http",
        "credentials": {"token": TICKETS_TOKEN},
        "config": {"base_url": tickets_url, "auth": {"scheme": "bearer"}, "endpoints": [
            {"name": "create_ticket", "method": "POST", "path": "/tickets", "idempotency_header": "Idempotency-Key",
             "input_schema": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]},
             "response_schema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}},
            {"name": "delete_ticket", "method": "DELETE", "path": "/tickets/{id}"}
        ]}}))
    .await;
    (p, token)
}

/// A project with both integrations, the tickets provider answering `ticket` with 201,
/// and an MCP client connected to it: the app, the project, its token, the client, and
/// what the provider received.
struct Agent {
    app: TestApp,
    p: String,
    token: String,
    client: Client,
    seen: crate::runtime::Seen,
}

async fn agent(ticket: &'static str) -> Agent {
    let app = TestApp::new();
    let (tickets, seen) = scripted_server(vec![(201, vec![], ticket)]).await;
    let (p, token) = project_with_integrations(&app, &tickets).await;
    let client = connect(&serve(&app).await, &p, &token).await;
    Agent {
        app,
        p,
        token,
        client,
        seen,
    }
}

#[tokio::test]
async fn tools_list_holds_every_operation_with_the_catalogs_schemas_and_the_studio_tools() {
    let Agent { token, client, .. } = agent(r#"{"id": "T-1"}"#).await;
    let tools = client.list_all_tools().await.expect("tools/list");

    let postmark = shared::catalog::catalog()
        .expect("catalog")
        .get("postmark")
        .expect("postmark");
    let mut expected: BTreeSet<String> = postmark
        .operations
        .iter()
        .map(|o| format!("clinic-mail.{}", o.id))
        .collect();
    expected.extend(["tickets.create_ticket", "tickets.delete_ticket"].map(String::from));
    expected.extend(["describe_integration", "compile_step"].map(String::from));
    let listed: BTreeSet<String> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(listed, expected);

    // The input schema is the catalog's, with the integration's default sender applied
    // and said so, and the studio's mode argument.
    let send = tool(&tools, "clinic-mail.send_email");
    let op = catalog_operation("postmark", "send_email");
    let mut schema = Value::Object((*send.input_schema).clone());
    assert_eq!(
        schema["properties"]["From"]["default"],
        "clinic@example.com"
    );
    assert!(
        schema["properties"]["From"]["description"]
            .as_str()
            .expect("said")
            .contains("Defaults to the integration's setting"),
        "{schema}"
    );
    assert_eq!(
        schema["properties"]["mode"]["enum"],
        json!(["sandbox", "live"])
    );
    // Less what the studio added, it is the catalog's schema: the same properties, the
    // same keywords, one fewer required input (the sender the integration fills).
    // The message stream's default comes from the provider's config default.
    assert_eq!(schema["properties"]["MessageStream"]["default"], "outbound");
    let properties = schema["properties"].as_object_mut().expect("properties");
    properties.remove("mode");
    for (name, property) in properties.iter_mut() {
        let property = property.as_object_mut().expect("object");
        if property.remove("default").is_some() {
            match op.input_schema["properties"][name].get("description") {
                Some(d) => property.insert("description".into(), d.clone()),
                None => property.remove("description"),
            };
        }
    }
    let mut catalog = op.input_schema.clone();
    if let Some(required) = catalog.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| r != "From");
    }
    assert_eq!(schema, catalog);

    // The output schema: {run, mode, effect, status, request, response}, response being
    // the operation's response schema.
    let output = Value::Object((*send.output_schema.clone().expect("outputSchema")).clone());
    assert_eq!(output["type"], "object");
    assert_eq!(output["properties"]["response"], op.response_schema);
    for field in ["run", "mode", "effect", "status", "request", "response"] {
        assert!(
            output["required"]
                .as_array()
                .expect("required")
                .contains(&json!(field))
        );
    }

    // Hints from the catalog: reads are read-only, deletions destructive.
    let hints = |name: &str| {
        serde_json::to_value(tool(&tools, name).annotations.clone().expect("annotations"))
            .expect("hints")
    };
    assert_eq!(
        hints("clinic-mail.get_outbound_message")["readOnlyHint"],
        true
    );
    assert_eq!(hints("clinic-mail.send_email")["readOnlyHint"], false);
    assert_eq!(hints("clinic-mail.send_email")["destructiveHint"], false);
    assert_eq!(hints("tickets.delete_ticket")["destructiveHint"], true);
    assert_eq!(
        hints("tickets.create_ticket")["idempotentHint"],
        true,
        "it takes a key"
    );
    assert_eq!(hints("clinic-mail.send_email")["idempotentHint"], false);

    let listed = serde_json::to_string(&tools).expect("json");
    for secret in [POSTMARK_TOKEN, TICKETS_TOKEN, token.as_str()] {
        assert!(!listed.contains(secret), "a secret in tools/list");
    }
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_sandbox_call_shows_the_exact_payload_and_is_an_agents_run() {
    let Agent {
        app,
        p,
        token,
        client,
        seen,
    } = agent(r#"{"id": "T-1"}"#).await;

    let result = call(
        &client,
        "clinic-mail.send_email",
        json!({
            "To": "pat@example.com", "Subject": "Your visit", "TextBody": "See you at 9."
        }),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", text_of(&result));
    let out = result
        .structured_content
        .clone()
        .expect("structuredContent");
    assert_eq!(out["mode"], "sandbox");
    assert_eq!(out["effect"], "would_have_sent");
    assert_eq!(out["request"]["method"], "POST");
    assert_eq!(out["request"]["url"], "https://api.postmarkapp.com/email");
    assert_eq!(
        out["request"]["body_json"]["From"], "clinic@example.com",
        "the default"
    );
    assert_eq!(out["request"]["body_json"]["To"], "pat@example.com");
    assert_eq!(out["request"]["body_json"]["Subject"], "Your visit");
    assert_eq!(
        out["response"]["To"], "pat@example.com",
        "the mock echoes the recipient"
    );
    // The structured content fits the tool's output schema, as clients check.
    let tools = client.list_all_tools().await.expect("tools/list");
    let schema = Value::Object(
        (*tool(&tools, "clinic-mail.send_email")
            .output_schema
            .clone()
            .expect("schema"))
        .clone(),
    );
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    assert!(validator.is_valid(&out), "{out}");
    assert!(text_of(&result).contains("nothing was sent"));
    assert!(
        seen.lock().expect("lock").is_empty(),
        "sandbox sends nothing"
    );

    // The call is a run of its own: source agent, the tool in place of a workflow.
    let run = out["run"].as_str().expect("run id");
    let listed = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs?source=agent"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["runs"][0]["id"], run);
    assert_eq!(listed.body["runs"][0]["source"], "agent");
    assert_eq!(listed.body["runs"][0]["tool"], "clinic-mail.send_email");
    assert!(listed.body["runs"][0].get("workflow").is_none());
    let workflows = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs?source=workflow"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(workflows.body["runs"], json!([]));
    let read = app
        .call(
            Method::GET,
            &format!("/projects/{p}/runs/{run}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(read.body["status"], "succeeded");
    assert_eq!(read.body["steps"][0]["effect"], "would_have_sent");
    assert_eq!(read.body["steps"][0]["request"], out["request"]);

    // Input the provider would refuse is a tool error that says what the API says.
    let refused = call(
        &client,
        "clinic-mail.send_email",
        json!({"Subject": "no recipient"}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text_of(&refused).contains("the input does not fit Postmark's send_email"),
        "{}",
        text_of(&refused)
    );
    // A tool the project does not have is a protocol error.
    let unknown = client
        .call_tool(CallToolRequestParams::new("clinic-mail.launch_rocket"))
        .await;
    assert!(unknown.is_err(), "{unknown:?}");
    let bad_mode = call(
        &client,
        "clinic-mail.send_email",
        json!({"To": "a@b.co", "mode": "loud"}),
    )
    .await;
    assert_eq!(bad_mode.is_error, Some(true));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_live_call_is_refused_until_allowed_then_sent_once_and_audited() {
    let Agent {
        app,
        p,
        token,
        client,
        seen,
    } = agent(r#"{"id": "T-42"}"#).await;

    let refused = call(
        &client,
        "tickets.create_ticket",
        json!({"title": "Printer", "mode": "live"}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text_of(&refused).contains("live calls by agents are off"),
        "{}",
        text_of(&refused)
    );
    assert!(
        seen.lock().expect("lock").is_empty(),
        "nothing sent while refused"
    );

    let allowed = app
        .call(
            Method::PUT,
            &format!("/projects/{p}/integrations/tickets/agent-access"),
            Some(&token),
            Some(json!({"live": true})),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    assert_eq!(allowed.body["agent_live"], true);

    let sent = call(
        &client,
        "tickets.create_ticket",
        json!({"title": "Printer", "mode": "live"}),
    )
    .await;
    assert_eq!(sent.is_error, Some(false), "{}", text_of(&sent));
    let out = sent.structured_content.clone().expect("structured");
    assert_eq!(out["mode"], "live");
    assert_eq!(out["effect"], "sent");
    assert_eq!(out["status"], 201);
    assert_eq!(out["response"], json!({"id": "T-42"}));
    let run = out["run"].as_str().expect("run");
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), 1, "sent once");
        let (method, uri, headers, body) = &seen[0];
        assert_eq!((method.as_str(), uri.as_str()), ("POST", "/tickets"));
        assert_eq!(
            serde_json::from_slice::<Value>(body).expect("json"),
            json!({"title": "Printer"})
        );
        assert_eq!(
            headers["authorization"].to_str().expect("ascii"),
            format!("Bearer {TICKETS_TOKEN}")
        );
        // The idempotency key comes from the server's run id, not the JSON-RPC id.
        assert_eq!(
            headers["idempotency-key"].to_str().expect("ascii"),
            format!("studio-{run}#1")
        );
    }

    let audit = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/tickets/audit"),
            Some(&token),
            None,
        )
        .await;
    let records = audit.body["records"].as_array().expect("records").clone();
    let use_of = records
        .iter()
        .find(|r| r["purpose"] == "step_execution")
        .expect("the live call's credential use is audited");
    assert_eq!(
        use_of["cause"],
        json!({"source": "agent", "tool": "tickets.create_ticket", "run": run})
    );
    assert!(
        records
            .iter()
            .any(|r| r["purpose"] == "agent_access" && r["outcome"] == "agent live calls allowed"),
        "{records:?}"
    );

    // Refused again once turned off.
    let off = app
        .call(
            Method::PUT,
            &format!("/projects/{p}/integrations/tickets/agent-access"),
            Some(&token),
            Some(json!({"live": false})),
        )
        .await;
    assert_eq!(off.body["agent_live"], false);
    let again = call(
        &client,
        "tickets.create_ticket",
        json!({"title": "Printer", "mode": "live"}),
    )
    .await;
    assert_eq!(again.is_error, Some(true));
    assert_eq!(seen.lock().expect("lock").len(), 1);

    for answer in [
        text_of(&refused),
        text_of(&sent),
        serde_json::to_string(&out).expect("json"),
    ] {
        assert!(!answer.contains(TICKETS_TOKEN) && !answer.contains(&token));
    }
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn compile_step_stores_the_step_with_its_edges_and_describe_answers_the_prompt() {
    let Agent {
        app,
        p,
        token,
        client,
        ..
    } = agent(r#"{"id": "T-1"}"#).await;

    let described = call(
        &client,
        "describe_integration",
        json!({"text": "we text patients appointment reminders"}),
    )
    .await;
    assert_eq!(described.is_error, Some(false), "{}", text_of(&described));
    assert_eq!(
        described.structured_content.expect("structured")["provider"],
        "twilio"
    );

    let compiled = call(&client, "compile_step", json!({
        "workflow": "patient-intake",
        "instruction": "When an intake form is submitted, email the patient a confirmation with clinic-mail",
        "entity": {"name": "IntakeForm", "fields": {"patient_email": "email", "patient_name": "string"}}
    }))
    .await;
    assert_eq!(compiled.is_error, Some(false), "{}", text_of(&compiled));
    let contract = compiled.structured_content.expect("contract");
    assert_eq!(contract["integration"], "clinic-mail");
    assert_eq!(contract["operation"], "send_email");
    let dependents = app
        .call(
            Method::GET,
            &format!("/projects/{p}/integrations/clinic-mail/dependents"),
            Some(&token),
            None,
        )
        .await;
    assert!(
        dependents.body.to_string().contains("patient-intake"),
        "{}",
        dependents.body
    );

    // The same checks as the API: a step the project cannot do is refused, naming why.
    let refused = call(
        &client,
        "compile_step",
        json!({
            "workflow": "patient-intake",
            "instruction": "When an intake form is submitted, open a Zendesk ticket",
            "entity": {"name": "IntakeForm", "fields": {"patient_email": "email"}}
        }),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    let api = app
        .call(
            Method::POST,
            &format!("/projects/{p}/workflows/patient-intake/steps/compile"),
            Some(&token),
            Some(
                json!({"instruction": "When an intake form is submitted, open a Zendesk ticket",
                        "entity": {"name": "IntakeForm", "fields": {"patient_email": "email"}}}),
            ),
        )
        .await;
    assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_of(&refused),
        api.body["detail"].as_str().expect("detail")
    );
    client.cancel().await.expect("close");
}

/// An app with its own agent limits.
fn app_with(limits: AgentLimits) -> TestApp {
    let local = local_deps();
    let router = local_router(AppState {
        deps: local.deps.clone(),
        max_webhook_bytes: 64 * 1024,
        agent: limits,
    });
    TestApp { router, local }
}

#[tokio::test]
async fn calls_over_the_projects_limit_and_past_the_wait_are_told_so() {
    let app = app_with(AgentLimits {
        calls_per_minute: 3,
        call_timeout: Duration::from_millis(100),
    });
    // A provider that answers after 600 ms.
    let slow = axum::Router::new().fallback(axum::routing::any(|| async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            r#"{"id": "T-9"}"#,
        )
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let slow_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, slow).await });
    let (p, token) = project_with_integrations(&app, &slow_url).await;
    app.call(
        Method::PUT,
        &format!("/projects/{p}/integrations/tickets/agent-access"),
        Some(&token),
        Some(json!({"live": true})),
    )
    .await;
    let client = connect(&serve(&app).await, &p, &token).await;

    let waited = call(
        &client,
        "tickets.create_ticket",
        json!({"title": "Slow", "mode": "live"}),
    )
    .await;
    assert_eq!(waited.is_error, Some(true));
    let text = text_of(&waited);
    assert!(text.contains("still running"), "{text}");
    // The call carries on without its caller and is recorded when it ends.
    let run = text
        .split_once("/runs/")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .expect("the run is in the message")
        .to_owned();
    let mut status = Value::Null;
    for _ in 0..100 {
        let read = app
            .call(
                Method::GET,
                &format!("/projects/{p}/runs/{run}"),
                Some(&token),
                None,
            )
            .await;
        status = read.body["status"].clone();
        if status != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "succeeded");

    call(
        &client,
        "clinic-mail.send_email",
        json!({"To": "a@example.com"}),
    )
    .await;
    call(
        &client,
        "clinic-mail.send_email",
        json!({"To": "b@example.com"}),
    )
    .await;
    let limited = call(
        &client,
        "clinic-mail.send_email",
        json!({"To": "c@example.com"}),
    )
    .await;
    assert_eq!(limited.is_error, Some(true));
    assert!(
        text_of(&limited).contains("too many tool calls"),
        "{}",
        text_of(&limited)
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn the_mcp_route_wants_the_projects_token() {
    let app = TestApp::new();
    let (p, _token) = app.project("agents").await;
    let (_, other) = app.project("other").await;
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    for token in [None, Some(other.as_str())] {
        let answer = app
            .call(
                Method::POST,
                &format!("/projects/{p}/mcp"),
                token,
                Some(initialize.clone()),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    }
}

#[tokio::test]
async fn the_transports_refusals_are_problems_like_the_rest_of_the_api() {
    use axum::body::Body;
    let app = TestApp::new();
    let (p, token) = app.project("agents").await;
    let request = |accept: &'static str, body: &'static str| {
        http::Request::builder()
            .method(Method::POST)
            .uri(format!("/projects/{p}/mcp"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("accept", accept)
            .body(Body::from(body))
            .expect("request")
    };
    let not_json_rpc = app
        .send(request("application/json, text/event-stream", "{not json"))
        .await;
    assert!(
        not_json_rpc.status.is_client_error(),
        "{}",
        not_json_rpc.status
    );
    assert_eq!(
        not_json_rpc.headers["content-type"],
        "application/problem+json"
    );
    assert!(
        not_json_rpc.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let wrong_accept = app.send(request("text/html", initialize)).await;
    assert!(
        wrong_accept.status.is_client_error(),
        "{}",
        wrong_accept.status
    );
    assert_eq!(
        wrong_accept.headers["content-type"],
        "application/problem+json"
    );
}

/// An agent's call that a stopped process left running is never carried on (its caller
/// is gone): a live call claimed with no trace fails with its outcome unknown, one not
/// yet claimed fails saying nothing was sent, and nothing is left running.
#[tokio::test]
async fn a_start_after_a_crash_ends_agents_calls_without_sending_them() {
    use shared::aggregates::{keys, runs};
    use shared::domain::{ProjectId, Run, RunId, RunMode, RunSource, RunStatus};
    use shared::ports::{Clock, Condition, Item, Key};
    let app = TestApp::new();
    let (p, token) = app.project("agents").await;
    let project = ProjectId::parse(&p).expect("id");
    let deps = &app.local.deps;
    let now = app.local.clock.now();
    let agent_run = |id: &str, mode: RunMode| Run {
        id: RunId::parse(id).expect("id"),
        workflow: None,
        source: RunSource::Agent,
        tool: Some("tickets.create_ticket".into()),
        mode,
        status: RunStatus::Running,
        trigger: json!({"kind": "agent", "tool": "tickets.create_ticket", "arguments": {}}),
        started_at: now,
        finished_at: None,
    };
    let claimed = agent_run("agent-live-1", RunMode::Live);
    let unclaimed = agent_run("agent-sandbox-2", RunMode::Sandbox);
    for run in [&claimed, &unclaimed] {
        runs::insert(deps, &project, run, None, runs::Commit::ByMode)
            .await
            .expect("stored");
    }
    deps.store
        .put(
            Item::new(
                Key::new(
                    keys::project(&project),
                    keys::run_step_claim(&claimed.id, 1),
                ),
                json!({"claimed_at": now}),
            ),
            Condition::NotExists,
        )
        .await
        .expect("claim");

    let resumed = shared::runtime::resume(deps).await.expect("resume");
    assert_eq!(
        (resumed.requested, resumed.unknown, resumed.ended),
        (0, 1, 1)
    );
    for (run, says) in [
        (&claimed, "may have reached the provider"),
        (&unclaimed, "nothing was sent"),
    ] {
        let read = app
            .call(
                Method::GET,
                &format!("/projects/{p}/runs/{}", run.id),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(read.body["status"], "failed", "{}", read.body);
        assert_eq!(read.body["source"], "agent");
        let error = read.body["steps"][0]["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{error}");
    }
    assert!(runs::running(deps).await.expect("index").is_empty());
    app.local.bus.wait_idle().await;
}

#[tokio::test]
async fn a_body_over_the_apis_limit_is_refused_before_anything_runs() {
    use axum::body::Body;
    let app = TestApp::new();
    let (p, token) = app.project("agents").await;
    let note = "x".repeat(300 * 1024);
    let message = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "describe_integration", "arguments": {"text": note}}});
    let request = http::Request::builder()
        .method(Method::POST)
        .uri(format!("/projects/{p}/mcp"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Body::from(message.to_string()))
        .expect("request");
    let answer = app.send(request).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.body
    );
    assert_eq!(answer.headers["content-type"], "application/problem+json");
}
