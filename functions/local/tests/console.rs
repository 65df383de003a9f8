//! The console at `/console`, as the local binary serves it: its files under a strict
//! Content-Security-Policy, and the walk-through a person makes in it, run in headless
//! Chromium from the keyboard (Tab to reach each control, Enter to use it), with a
//! screenshot of each stage in `target/console-screens/` and no console error allowed.
//!
//! Without Chromium and chromedriver (Debian's `chromium` and `chromium-driver`, which
//! `infra/test.sh` installs) the browser test skips with a message; under `CI=true` it
//! fails instead.

mod server;
mod webdriver;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use tokio::process::{Child, Command};
use webdriver::{Browser, ENTER, TAB};

/// Starts studio-local on a free port with its data in `dir`; returns it and its URL.
async fn start(dir: &Path) -> (Child, String) {
    // reqwest here runs TLS on ring, as the binaries do (never used: all is loopback).
    shared::tls::install_default_provider();
    let mut command = Command::new(env!("CARGO_BIN_EXE_studio-local"));
    command
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env_remove("STUDIO_BACKEND")
        .env_remove("STUDIO_EGRESS_ALLOW");
    server::listening(command).await
}

// ---- The files and their policy ------------------------------------------------------

#[tokio::test]
async fn the_console_is_served_with_a_strict_content_security_policy_and_no_inline_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, url) = start(dir.path()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let page = client
        .get(format!("{url}/console"))
        .send()
        .await
        .expect("GET /console");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    for loosening in [
        "unsafe-inline",
        "unsafe-eval",
        "unsafe-hashes",
        "data:",
        "*",
    ] {
        assert!(!csp.contains(loosening), "{loosening} in {csp}");
    }
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    let lower = html.to_ascii_lowercase();
    // Every script is a file; no style element or attribute; no inline handler.
    for (at, _) in lower.match_indices("<script") {
        let tag = &lower[at..at + lower[at..].find('>').expect("tag end")];
        assert!(tag.contains(" src="), "an inline script: {tag}");
    }
    assert!(!lower.contains("<style"), "a style element");
    assert!(!lower.contains(" style="), "a style attribute");
    assert!(!lower.contains(" on"), "an inline handler");

    for (path, kind) in [
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
        ("/console/favicon.svg", "image/svg+xml"),
    ] {
        let file = client
            .get(format!("{url}{path}"))
            .send()
            .await
            .expect("GET a console file");
        assert_eq!(file.status(), 200, "{path}");
        assert!(file.headers().contains_key("content-security-policy"));
        let content_type = file.headers()["content-type"].to_str().expect("ascii");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
    }
    let script = client
        .get(format!("{url}/console/console.js"))
        .send()
        .await
        .expect("GET console.js")
        .text()
        .await
        .expect("js");
    // The token stays in this tab; markup is never written from strings.
    for sink in [
        "localStorage",
        "document.cookie",
        "innerHTML",
        "outerHTML",
        "eval(",
    ] {
        assert!(!script.contains(sink), "console.js uses {sink}");
    }

    // `/` leads to the console; the API is still there beside it.
    let root = client.get(format!("{url}/")).send().await.expect("GET /");
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "/console");
    let created = client
        .post(format!("{url}/projects"))
        .json(&json!({"name": "clinic"}))
        .send()
        .await
        .expect("POST /projects");
    assert_eq!(created.status(), 201);
    let unknown = client
        .get(format!("{url}/console/missing.js"))
        .send()
        .await
        .expect("GET a missing file");
    assert_eq!(unknown.status(), 404);
}

// ---- The walk-through in a browser ---------------------------------------------------------

/// The folder the screenshots go to: `target/console-screens/`.
fn screens_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("console-screens");
    std::fs::create_dir_all(&dir).expect("screens folder");
    dir
}

/// Presses Tab until the focused element matches `selector`, and checks that the focus
/// is visible there (an outline).
async fn tab_to(browser: &Browser, selector: &str) {
    for _ in 0..60 {
        browser.keys(TAB).await;
        let reached = browser
            .eval(
                "const e = document.activeElement; return !!e && e.matches(arguments[0]);",
                json!([selector]),
            )
            .await;
        if reached == true {
            let outline = browser
                .eval(
                    "const s = getComputedStyle(document.activeElement); \
                     return [s.outlineStyle, s.outlineWidth];",
                    json!([]),
                )
                .await;
            assert!(
                outline[0] != "none" && outline[1] != "0px",
                "no visible focus on {selector}: {outline}"
            );
            return;
        }
    }
    panic!("Tab never reached {selector}");
}

/// Tabs to `selector` and types `text` there.
async fn type_into(browser: &Browser, selector: &str, text: &str) {
    tab_to(browser, selector).await;
    browser.keys(text).await;
}

/// Tabs to `selector` and presses Enter.
async fn press(browser: &Browser, selector: &str) {
    tab_to(browser, selector).await;
    browser.keys(ENTER).await;
}

async fn text_of(browser: &Browser, selector: &str) -> String {
    let text = browser
        .eval(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            json!([selector]),
        )
        .await;
    text.as_str()
        .unwrap_or_else(|| panic!("{selector} is on the page"))
        .to_owned()
}

/// The screenshot of a stage, after checking the page logged no error on the way.
/// `expected` lists the errors the stage causes on purpose (the network's line for the
/// refused DELETE).
async fn stage(browser: &Browser, name: &str, expected: &[&str]) {
    browser
        .screenshot(&screens_dir().join(format!("{name}.png")))
        .await;
    for entry in browser.console_entries().await {
        let message = entry["message"].as_str().unwrap_or("");
        let level = entry["level"].as_str().unwrap_or("");
        let foreseen = expected.iter().any(|e| message.contains(e));
        assert!(
            level != "SEVERE" || foreseen,
            "a console error at {name}: {entry}"
        );
    }
}

/// Everything the page holds as text and in its inputs, to look for a secret in.
async fn page_content(browser: &Browser) -> String {
    browser
        .eval(
            "return document.documentElement.outerHTML + '\\n' + \
             Array.from(document.querySelectorAll('input, textarea')).map(i => i.value).join('\\n');",
            json!([]),
        )
        .await
        .as_str()
        .expect("text")
        .to_owned()
}

#[tokio::test]
async fn the_walk_through_runs_in_chromium_from_the_keyboard() {
    let Some((chromium, chromedriver)) = webdriver::find_tools() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium and chromedriver are required under CI=true (infra/test.sh installs them)"
        );
        eprintln!(
            "skipping the console's browser test: no chromium or chromedriver on the PATH \
             (apt-get install chromium chromium-driver, or infra/test.sh)"
        );
        return;
    };
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, url) = start(dir.path()).await;
    let browser = Browser::start(&chromium, &chromedriver, 1200, 2000).await;
    walk_through(&browser, &url).await;
    browser.quit().await;
    eprintln!(
        "console walk-through: {:.1} s; screenshots in {}",
        began.elapsed().as_secs_f64(),
        screens_dir().display()
    );
}

const SECRET: &str = "POSTMARK_API_TEST";
const ROTATED: &str = "POSTMARK_API_TEST_ROTATED";
const SENTENCE: &str = "When the intake form is submitted, call the Postmark integration \
                        to send a confirmation email to the patient.";

async fn walk_through(browser: &Browser, url: &str) {
    // A project, created in the console.
    browser.goto(&format!("{url}/console")).await;
    browser
        .wait_for(
            "the start page",
            "return !!document.querySelector('#create-project');",
        )
        .await;
    // The policy arrives and holds: HTML from a string is refused (Trusted Types).
    let written = browser
        .eval(
            "try { document.body.insertAdjacentHTML('beforeend', '<i>x</i>'); return 'written'; } \
             catch (e) { return e.name; }",
            json!([]),
        )
        .await;
    assert_eq!(
        written, "TypeError",
        "the page's CSP refuses markup from strings"
    );
    stage(browser, "01-start", &["TrustedHTML"]).await;
    type_into(browser, "#project-name", "clinic").await;
    browser.keys(ENTER).await;
    browser
        .wait_for(
            "the token shown once",
            "return !!document.querySelector('#project-token');",
        )
        .await;
    let token = browser
        .eval(
            "return [sessionStorage.getItem('studio.token'), localStorage.length, document.cookie];",
            json!([]),
        )
        .await;
    assert!(token[0].as_str().is_some_and(|t| t.starts_with("stk_")));
    assert_eq!(token[1], 0, "nothing in localStorage");
    assert_eq!(token[2], "", "no cookie");
    stage(browser, "02-project-created", &[]).await;

    // Describe Postmark; the form asks for what the prompt lists.
    press(browser, "#first-integration").await;
    type_into(
        browser,
        "#describe-text",
        "Connect to Postmark to send transactional emails.",
    )
    .await;
    browser.keys(ENTER).await;
    browser
        .wait_for(
            "the generated form",
            "return !!document.querySelector('#create-form');",
        )
        .await;
    let form = browser
        .eval(
            "const t = document.querySelector('#credentials-server_token'); \
             const f = document.querySelector('#config-from_address'); \
             return [t.type, t.required, f.type, f.required, \
                     document.querySelector('#credentials-server_token-rules').textContent];",
            json!([]),
        )
        .await;
    assert_eq!(form[0], "password", "a secret is a password input");
    assert_eq!(form[1], true);
    assert_eq!(form[2], "email");
    assert_eq!(form[3], true, "the sender is required");
    assert!(
        form[4]
            .as_str()
            .is_some_and(|r| r.contains("at least 17 characters")),
        "the format rules are shown: {form}"
    );
    stage(browser, "03-describe", &[]).await;
    type_into(browser, "#credentials-server_token", SECRET).await;
    type_into(browser, "#config-from_address", "clinic@example.com").await;
    press(browser, "#create-form button[type=submit]").await;
    browser
        .wait_for(
            "the new integration's view",
            "return !!document.querySelector('#dependents') && \
                    document.querySelector('h1').textContent === 'postmark';",
        )
        .await;
    assert!(
        !page_content(browser).await.contains(SECRET),
        "the secret left the page"
    );
    stage(browser, "04-integration", &[]).await;

    // Compile the intake step.
    press(browser, "nav a[href='#/workflows']").await;
    browser
        .wait_for(
            "the compile form",
            "return !!document.querySelector('#compile-form');",
        )
        .await;
    type_into(browser, "#compile-workflow", "patient-intake").await;
    type_into(browser, "#compile-instruction", SENTENCE).await;
    type_into(browser, "#compile-entity", "IntakeForm").await;
    type_into(
        browser,
        "#compile-fields",
        "patient_name: string, patient_email: email, appointment_at: datetime",
    )
    .await;
    press(browser, "#compile-form button[type=submit]").await;
    browser
        .wait_for(
            "the contract",
            "return !!document.querySelector('article.contract');",
        )
        .await;
    let contract = text_of(browser, "article.contract").await;
    for part in [
        "When IntakeForm is submitted",
        "postmark",
        "send_email",
        "{{entity.patient_email}}",
        "Input schema",
        "Output schema",
    ] {
        assert!(
            contract.contains(part),
            "{part} in the contract: {contract}"
        );
    }
    stage(browser, "05-contract", &[]).await;

    // Run it in the sandbox: the trace shows what would have been sent, exactly.
    type_into(browser, "#payload-appointment_at", "2026-12-01T10:00:00Z").await;
    type_into(browser, "#payload-patient_email", "ada@example.com").await;
    type_into(browser, "#payload-patient_name", "Ada").await;
    press(browser, "#run-form button[type=submit]").await;
    browser
        .wait_for(
            "the trace",
            "return !!document.querySelector('article.step');",
        )
        .await;
    assert_eq!(
        text_of(browser, "article.step .marker").await,
        "Would have sent"
    );
    assert_eq!(
        text_of(browser, "#step-1-request-line").await,
        "POST https://api.postmarkapp.com/email"
    );
    let body = serde_json::to_string_pretty(&json!({
        "From": "clinic@example.com",
        "MessageStream": "outbound",
        "Subject": "Your intake form is confirmed",
        "TextBody": "Hello Ada,\n\nThis confirms that your intake form was submitted.\n\nAppointment at: 2026-12-01T10:00:00Z",
        "To": "ada@example.com",
    }))
    .expect("json");
    assert_eq!(text_of(browser, "#step-1-request-body").await, body);
    let headers = text_of(browser, "#step-1-request-headers").await;
    assert!(
        headers.contains("X-Postmark-Server-Token[redacted]"),
        "{headers}"
    );
    let response = text_of(browser, "#step-1-response-status").await;
    assert!(
        response.starts_with("Status 200") && response.contains("mock"),
        "{response}"
    );
    assert!(
        text_of(browser, "article.step .timing")
            .await
            .contains(" ms")
    );
    assert!(!page_content(browser).await.contains(SECRET));
    stage(browser, "06-trace", &[]).await;

    // The integration's view: one dependent step; a delete is refused with the list.
    press(browser, "#step-1-integration").await;
    browser
        .wait_for(
            "the integration's view",
            "return !!document.querySelector('#dependents');",
        )
        .await;
    let dependents = browser
        .eval(
            "return Array.from(document.querySelectorAll('#dependents .dependent-step')).map(e => e.textContent);",
            json!([]),
        )
        .await;
    assert_eq!(dependents, json!(["Step 1 · send_email · outbound call"]));
    assert!(
        text_of(browser, "#dependents")
            .await
            .contains("patient-intake")
    );
    stage(browser, "07-integration-dependents", &[]).await;
    press(browser, "#delete-toggle").await;
    let confirm_focused = browser
        .eval("return document.activeElement.id;", json!([]))
        .await;
    assert_eq!(confirm_focused, "delete-button");
    browser.keys(ENTER).await;
    browser
        .wait_for(
            "the refusal",
            "return !!document.querySelector('#delete-problem');",
        )
        .await;
    let refusal = text_of(browser, "#delete-problem").await;
    assert!(refusal.contains("409"), "{refusal}");
    assert!(
        refusal.contains("postmark is used by 1 step(s) in 1 workflow(s)"),
        "{refusal}"
    );
    let radius = browser
        .eval(
            "return Array.from(document.querySelectorAll('#blast-radius .dependent-step')).map(e => e.textContent);",
            json!([]),
        )
        .await;
    assert_eq!(radius, json!(["Step 1 · send_email · outbound call"]));
    stage(browser, "08-delete-refused", &["409"]).await;

    // Rotate the credentials, then read the audit trail.
    press(browser, "#rotate-toggle").await;
    browser.keys(ROTATED).await;
    browser.keys(ENTER).await;
    browser
        .wait_for(
            "the rotation",
            "return document.querySelector('#messages').textContent.includes('version 2');",
        )
        .await;
    assert!(!page_content(browser).await.contains(SECRET));
    // Twenty more rotations through the API, so the trail has a second page.
    let session = browser
        .eval(
            "return [sessionStorage.getItem('studio.project'), sessionStorage.getItem('studio.token')];",
            json!([]),
        )
        .await;
    let (project, token) = (
        session[0].as_str().expect("id"),
        session[1].as_str().expect("token"),
    );
    let client = reqwest::Client::new();
    for n in 3..=22 {
        let rotated = client
            .put(format!(
                "{url}/projects/{project}/integrations/postmark/credentials"
            ))
            .bearer_auth(token)
            .json(&json!({"credentials": {"server_token": format!("{ROTATED}_{n}")}}))
            .send()
            .await
            .expect("PUT credentials");
        assert_eq!(rotated.status(), 200);
    }
    press(browser, "#audit-link").await;
    browser
        .wait_for(
            "the audit trail",
            "return !!document.querySelector('#audit-records');",
        )
        .await;
    // Newest first, twenty to a page; the older ones on the next.
    let versions = "return Array.from(document.querySelectorAll('#audit-records tbody tr')) \
                    .map(r => r.cells[1].textContent + ' ' + r.cells[2].textContent + ' ' + r.cells[3].textContent);";
    let first_page = browser.eval(versions, json!([])).await;
    let expected: Vec<String> = (3..=22)
        .rev()
        .map(|v| format!("credentials_stored rotated v{v}"))
        .collect();
    assert_eq!(first_page, json!(expected));
    stage(browser, "09-audit", &[]).await;
    press(browser, "#audit-more").await;
    browser
        .wait_for(
            "the older records",
            "return document.querySelectorAll('#audit-records tbody tr').length === 21;",
        )
        .await;
    let all = browser.eval(versions, json!([])).await;
    assert_eq!(all[20], "credentials_stored rotated v2");
    let more_hidden = browser
        .eval(
            "return document.querySelector('#audit-more').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(more_hidden, true, "no third page");
    stage(browser, "10-audit-older", &[]).await;

    // An agent calls the integration through the MCP server (sandbox): its call shows
    // on the Agents page and in the trace view; the integration's view turns live calls on.
    let called = client
        .post(format!("{url}/projects/{project}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "postmark.send_email",
            "arguments": {"To": "pat@example.com", "Subject": "Hello", "TextBody": "From an agent"}}}))
        .send()
        .await
        .expect("tools/call");
    assert_eq!(called.status(), 200);
    let answer: serde_json::Value = called.json().await.expect("JSON-RPC");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    browser
        .eval("location.hash = '#/agents'; return true;", json!([]))
        .await;
    browser
        .wait_for(
            "the agents' calls",
            "return !!document.querySelector('#runs');",
        )
        .await;
    assert!(
        text_of(browser, "#runs")
            .await
            .contains("postmark.send_email")
    );
    assert!(text_of(browser, "#mcp-url").await.ends_with("/mcp"));
    stage(browser, "11-agents", &[]).await;
    press(browser, "#runs tbody a").await;
    browser
        .wait_for(
            "the agent's trace",
            "return !!document.querySelector('#run-origin');",
        )
        .await;
    assert!(
        text_of(browser, "#run-origin")
            .await
            .contains("postmark.send_email")
    );
    assert!(!page_content(browser).await.contains(SECRET));
    stage(browser, "12-agent-trace", &[]).await;
    browser
        .eval(
            "location.hash = '#/integrations/postmark'; return true;",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "the integration's view",
            "return !!document.querySelector('#agent-live-toggle');",
        )
        .await;
    assert!(
        text_of(browser, "#agent-access")
            .await
            .contains("sandbox only")
    );
    press(browser, "#agent-live-toggle").await;
    browser
        .wait_for(
            "agents allowed live calls",
            "return document.querySelector('#messages').textContent.includes('Agents may now call');",
        )
        .await;
    assert!(
        text_of(browser, "#agent-access")
            .await
            .contains("may call it live")
    );
}
