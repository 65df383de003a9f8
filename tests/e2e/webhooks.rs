//! Webhooks end to end: `POST /hooks/{project}/{integration}` through the local router
//! over embedded adapters, one test per promise of API.md and issue 7 (verified,
//! deduplicated, recorded, published; refused when unsigned, forged or stale; nothing
//! unverified kept), the data-change side of execute-step, and a bounded load test on
//! a loopback socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::aggregates::keys;
use shared::domain::{
    Change, CredentialEnvelope, DataChanged, FieldCondition, Integration, IntegrationName, Project,
    ProjectId, TriggerSubscription, WorkflowId,
};
use shared::execute::{ExecuteStep, matching_workflows};
use shared::http::{AppState, hash_token, local_router};
use shared::ports::{
    BusError, BusEvent, Clock, Condition, EventBus, EventHandler, HandlerError, Item, Key, Query,
};
use shared::routing::Target;
use shared::vault::{self, Credentials};
use shared::webhooks::{DEDUPE_TTL_SECS, NOTION_TOKEN_SK, signing};
use studio_tests::{LocalDeps, local_deps};
use tower::ServiceExt;

const HOST: &str = "hooks.example.com";

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
}

struct Hooks {
    router: Router,
    local: LocalDeps,
    project: ProjectId,
}

impl Hooks {
    async fn new() -> Self {
        Self::with(local_deps()).await
    }

    async fn with(local: LocalDeps) -> Self {
        let router = local_router(AppState {
            deps: local.deps.clone(),
            max_webhook_bytes: 256 * 1024,
            agent: Default::default(),
        });
        let project = ProjectId::parse("clinic").expect("id");
        let record = Project {
            id: project.clone(),
            name: "Clinic".into(),
            created_at: local.clock.now(),
            token_sha256: hash_token("stk_clinic"),
        };
        local
            .deps
            .store
            .put(
                Item::of(Key::new(keys::project(&project), keys::META), &record).expect("item"),
                Condition::NotExists,
            )
            .await
            .expect("project");
        Self {
            router,
            local,
            project,
        }
    }

    fn now(&self) -> i64 {
        self.local.clock.now().timestamp()
    }

    /// Seeds an integration whose credentials are sealed as the API seals them.
    async fn integration(
        &self,
        name: &str,
        provider: &str,
        credentials: &[(&str, &str)],
        config: Value,
    ) {
        seed(
            &self.local,
            &self.project,
            name,
            provider,
            credentials,
            config,
        )
        .await;
    }

    async fn post(
        &self,
        integration: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> Answer {
        self.post_to(
            &format!("/hooks/{}/{integration}", self.project),
            headers,
            body,
        )
        .await
    }

    async fn post_to(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> Answer {
        let mut request = Request::builder()
            .method("POST")
            .uri(path)
            .header("host", HOST)
            .header("x-forwarded-proto", "https");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body.into())).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// The integration's audit records, newest first.
    async fn audit(&self, integration: &str) -> Vec<Value> {
        let mut records: Vec<Value> = self
            .local
            .deps
            .store
            .query(&Query::prefix(
                keys::audit(
                    &self.project,
                    &IntegrationName::parse(integration).expect("name"),
                ),
                "",
            ))
            .await
            .expect("audit")
            .items
            .into_iter()
            .map(|i| i.doc)
            .collect();
        records.reverse();
        records
    }

    fn changes(&self) -> Vec<DataChanged> {
        self.local
            .bus
            .published()
            .into_iter()
            .filter(|e| e.detail_type == "DataChanged")
            .map(|e| serde_json::from_value(e.detail).expect("DataChanged detail"))
            .collect()
    }

    async fn entity(&self, integration: &str, entity: &str, id: &str) -> Option<Value> {
        let name = IntegrationName::parse(integration).expect("name");
        self.local
            .deps
            .store
            .get(&Key::new(
                keys::project(&self.project),
                keys::entity(&name, entity, id),
            ))
            .await
            .expect("get")
            .map(|i| i.doc)
    }

    /// Everything under the integration's dedupe partition, and its entities.
    async fn traces(&self, integration: &str) -> usize {
        let name = IntegrationName::parse(integration).expect("name");
        let markers = self
            .local
            .deps
            .store
            .query(&Query::prefix(
                keys::webhook_dedupe(&self.project, &name),
                "",
            ))
            .await
            .expect("query")
            .items
            .len();
        let entities = self
            .local
            .deps
            .store
            .query(&Query::prefix(
                keys::project(&self.project),
                format!("E#{name}#"),
            ))
            .await
            .expect("query")
            .items
            .len();
        markers + entities
    }
}

async fn seed(
    local: &LocalDeps,
    project: &ProjectId,
    name: &str,
    provider: &str,
    credentials: &[(&str, &str)],
    config: Value,
) {
    let name = IntegrationName::parse(name).expect("name");
    let mut sealed = Credentials::new();
    for (field, value) in credentials {
        sealed.insert(*field, *value);
    }
    let envelope: CredentialEnvelope =
        vault::seal(local.deps.keys.as_ref(), project, &name, 1, &sealed)
            .await
            .expect("seal");
    let now = local.clock.now();
    // From JSON, so fields other issues add with defaults need no change here.
    let integration: Integration = serde_json::from_value(json!({
        "name": name, "provider": provider, "config": config, "credentials": envelope,
        "created_at": now, "updated_at": now,
    }))
    .expect("integration");
    local
        .deps
        .store
        .put(
            Item::of(
                Key::new(keys::project(project), keys::integration(&name)),
                &integration,
            )
            .expect("item"),
            Condition::NotExists,
        )
        .await
        .expect("integration");
}

fn stripe_event(id: &str, customer: &str, email: &str, previous_email: &str) -> String {
    // Pretty-printed, as Stripe sends it: the signature is over these exact bytes.
    serde_json::to_string_pretty(&json!({
        "id": id, "object": "event", "type": "customer.updated", "created": 1795953000,
        "data": {"object": {"id": customer, "object": "customer", "email": email,
                            "name": "Ada Lovelace", "metadata": {"patient_id": "P-1"}},
                 "previous_attributes": {"email": previous_email}}
    }))
    .expect("json")
}

const WHSEC: &str = "whsec_clinic_test_secret_0123456789";

#[tokio::test]
async fn a_signed_stripe_event_is_verified_recorded_and_published_once() {
    let app = Hooks::new().await;
    // Through the API, as a user adds it: the webhook secret is one of the credentials.
    let created = app
        .router
        .clone()
        .oneshot(
            Request::builder()
                .method("POST")
                .uri(format!("/projects/{}/integrations", app.project))
                .header("authorization", "Bearer stk_clinic")
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"name": "stripe", "provider": "stripe",
                           "credentials": {"secret_key": "sk_test_abcdefghijklmnopqrstuvwx", "webhook_secret": WHSEC}})
                    .to_string(),
                ))
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(created.status(), StatusCode::CREATED);

    let body = stripe_event(
        "evt_1",
        "cus_1",
        "ada.lovelace@example.com",
        "ada@example.com",
    );
    let signature = signing::stripe(WHSEC, app.now(), body.as_bytes());
    let answer = app
        .post("stripe", &[("stripe-signature", &signature)], body.clone())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"outcome": "recorded", "events": 1, "changes": 1, "duplicates": 0, "ignored": 0})
    );

    let changes = app.changes();
    assert_eq!(changes.len(), 1);
    let change = &changes[0];
    assert_eq!(
        (change.entity_type.as_str(), change.entity_id.as_str()),
        ("customer", "cus_1")
    );
    assert_eq!(change.change, Change::Updated);
    assert_eq!(change.changed_fields, vec!["email"]);
    assert_eq!(
        change.before,
        json!({"email": "ada@example.com"}),
        "the provider's previous values"
    );
    assert_eq!(change.after["email"], "ada.lovelace@example.com");
    assert_eq!(change.provider_event_id, "evt_1");
    let cached = app
        .entity("stripe", "customer", "cus_1")
        .await
        .expect("cached entity");
    assert_eq!(cached["state"]["email"], "ada.lovelace@example.com");
    assert_eq!(cached["revision"], 1);

    // The same delivery again (a retry): acknowledged, ignored.
    let again = app
        .post("stripe", &[("stripe-signature", &signature)], body)
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["duplicates"], 1);
    assert_eq!(app.changes().len(), 1, "exactly one DataChanged");

    // The next change of the same customer: before is the cached state now.
    let next = stripe_event(
        "evt_2",
        "cus_1",
        "ada@clinic.example",
        "ada.lovelace@example.com",
    );
    let answer = app
        .post(
            "stripe",
            &[(
                "stripe-signature",
                &signing::stripe(WHSEC, app.now(), next.as_bytes()),
            )],
            next,
        )
        .await;
    assert_eq!(answer.body["changes"], 1);
    let second = &app.changes()[1];
    assert_eq!(
        second.before["name"], "Ada Lovelace",
        "the cached state, with the previous values laid over"
    );
    assert_eq!(second.before["email"], "ada.lovelace@example.com");

    // The webhook secret was decrypted once for the three deliveries (it is held for a
    // minute), and that decryption was audited.
    let audit = app
        .local
        .deps
        .store
        .query(&Query::prefix(
            keys::audit(
                &app.project,
                &IntegrationName::parse("stripe").expect("name"),
            ),
            "",
        ))
        .await
        .expect("audit");
    let purposes: Vec<&Value> = audit.items.iter().map(|i| &i.doc["purpose"]).collect();
    assert_eq!(
        purposes
            .iter()
            .filter(|p| **p == "webhook_verification")
            .count(),
        1,
        "{purposes:?}"
    );
    assert!(
        audit
            .items
            .iter()
            .all(|i| !i.doc.to_string().contains(WHSEC)),
        "no secret in the audit trail"
    );
}

#[tokio::test]
async fn concurrent_duplicate_deliveries_produce_exactly_one_change() {
    let app = Arc::new(Hooks::new().await);
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_x"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    let body = stripe_event("evt_dup", "cus_dup", "a@example.com", "b@example.com");
    let signature = signing::stripe(WHSEC, app.now(), body.as_bytes());
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (app, body, signature) = (app.clone(), body.clone(), signature.clone());
        tasks.push(tokio::spawn(async move {
            app.post("stripe", &[("stripe-signature", &signature)], body)
                .await
        }));
    }
    let mut changes = 0;
    for task in tasks {
        let answer = task.await.expect("task");
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        changes += answer.body["changes"].as_u64().expect("changes");
    }
    assert_eq!(changes, 1);
    assert_eq!(app.changes().len(), 1);
}

#[tokio::test]
async fn forged_missing_stale_or_unverifiable_signatures_get_401_and_leave_no_trace() {
    let app = Hooks::new().await;
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_x"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    // A Stripe integration without a webhook secret: signed deliveries cannot be checked.
    app.integration(
        "stripe-nosecret",
        "stripe",
        &[("secret_key", "sk_test_x")],
        json!({}),
    )
    .await;
    let body = stripe_event("evt_bad", "cus_bad", "x@example.com", "y@example.com");
    let now = app.now();
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("stripe", vec![]),
        (
            "stripe",
            vec![(
                "stripe-signature",
                signing::stripe("whsec_other", now, body.as_bytes()),
            )],
        ),
        (
            "stripe",
            vec![(
                "stripe-signature",
                signing::stripe(WHSEC, now - 301, body.as_bytes()),
            )],
        ),
        (
            "stripe",
            vec![(
                "stripe-signature",
                signing::stripe(WHSEC, now + 301, body.as_bytes()),
            )],
        ),
        ("stripe", vec![("stripe-signature", "t=1,v0=abc".into())]),
        (
            "stripe",
            vec![("stripe-signature", signing::stripe(WHSEC, now, b"{}"))],
        ),
        (
            "stripe-nosecret",
            vec![(
                "stripe-signature",
                signing::stripe(WHSEC, now, body.as_bytes()),
            )],
        ),
    ];
    for (integration, headers) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = app.post(integration, &headers, body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{integration} {headers:?}: {}",
            answer.body
        );
        assert_eq!(answer.body["status"], 401);
        assert!(!answer.body.to_string().contains(WHSEC));
    }
    assert_eq!(
        app.traces("stripe").await + app.traces("stripe-nosecret").await,
        0,
        "nothing unverified is stored"
    );
    assert!(app.changes().is_empty(), "nothing unverified is published");
    // Unsigned and stale deliveries are refused before the secret is opened: only the
    // two that needed the secret to be refused (a wrong key, a changed body) used it,
    // and it was opened (and audited) once for both: it is held for a minute.
    assert_eq!(app.audit("stripe").await.len(), 1);
}

/// API.md: an answer must not tell a stranger which integrations exist. An unknown
/// project or integration, a malformed name and an integration whose provider sends no
/// webhooks are all answered exactly as a forged or unsigned delivery to a real one:
/// same status, same headers, same body.
#[tokio::test]
async fn unknown_targets_get_the_same_401_as_a_forged_delivery_and_a_verified_unreadable_body_gets_400()
 {
    let app = Hooks::new().await;
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_x"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    app.integration(
        "docs",
        "google_docs",
        &[
            ("client_id", "c"),
            ("client_secret", "s"),
            ("refresh_token", "r"),
        ],
        json!({}),
    )
    .await;
    let body = stripe_event("evt_probe", "cus_1", "a@example.com", "b@example.com");
    let forged = signing::stripe("whsec_guessed", app.now(), body.as_bytes());
    let headers = [("stripe-signature", forged.as_str())];
    let wrong_signature = app.post("stripe", &headers, body.clone()).await;
    assert_eq!(wrong_signature.status, StatusCode::UNAUTHORIZED);
    let unsigned = app.post("stripe", &[], body.clone()).await;
    let seen = |answer: &Answer| {
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .map(|v| v.to_str().expect("text").to_owned())
        };
        (
            answer.status,
            header("content-type"),
            header("www-authenticate"),
            header("retry-after"),
            answer.body.clone(),
        )
    };
    assert_eq!(seen(&unsigned), seen(&wrong_signature));
    for path in [
        "/hooks/clinic/nope",
        "/hooks/nope/stripe",
        "/hooks/Bad%23/stripe",
        "/hooks/clinic/docs",
    ] {
        let answer = app.post_to(path, &headers, body.clone()).await;
        assert_eq!(seen(&answer), seen(&wrong_signature), "{path}");
    }
    assert!(
        !wrong_signature.body.to_string().contains("Stripe"),
        "the answer does not name the provider: {}",
        wrong_signature.body
    );
    let garbage = "this is not JSON";
    let answer = app
        .post(
            "stripe",
            &[(
                "stripe-signature",
                &signing::stripe(WHSEC, app.now(), garbage.as_bytes()),
            )],
            garbage,
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(app.traces("stripe").await, 0);
}

#[tokio::test]
async fn slack_url_verification_is_answered_with_its_challenge_once_signed() {
    let app = Hooks::new().await;
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    app.integration(
        "slack",
        "slack",
        &[("bot_token", "xoxb-1"), ("signing_secret", secret)],
        json!({}),
    )
    .await;
    let body = json!({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "type": "url_verification",
                      "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    .to_string();
    let ts = app.now().to_string();
    let signed = signing::slack(secret, app.now(), body.as_bytes());
    let answer = app
        .post(
            "slack",
            &[
                ("x-slack-request-timestamp", &ts),
                ("x-slack-signature", &signed),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    let unsigned = app
        .post("slack", &[("x-slack-request-timestamp", &ts)], body)
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);

    // An event_callback: a message becomes a created message entity.
    let event = json!({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
                       "event": {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1355517523.000005"}})
    .to_string();
    let signed = signing::slack(secret, app.now(), event.as_bytes());
    let answer = app
        .post(
            "slack",
            &[
                ("x-slack-request-timestamp", &ts),
                ("x-slack-signature", &signed),
            ],
            event,
        )
        .await;
    assert_eq!(answer.body["changes"], 1, "{}", answer.body);
    assert_eq!(app.changes()[0].change, Change::Created);
}

#[tokio::test]
async fn notions_handshake_token_is_kept_sealed_and_signed_events_verify_with_it() {
    let app = Hooks::new().await;
    app.integration(
        "notion",
        "notion",
        &[("integration_token", "ntn_1")],
        json!({}),
    )
    .await;
    let token = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";
    let answer = app
        .post(
            "notion",
            &[("content-type", "application/json")],
            json!({"verification_token": token}).to_string(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["outcome"], "handshake_received");
    let key = Key::new(
        keys::webhook_dedupe(&app.project, &IntegrationName::parse("notion").expect("n")),
        NOTION_TOKEN_SK,
    );
    let kept = app
        .local
        .deps
        .store
        .get(&key)
        .await
        .expect("get")
        .expect("kept");
    assert!(
        !kept.doc.to_string().contains(token),
        "sealed, never in clear"
    );
    assert_eq!(kept.expires_at, Some(app.now() + DEDUPE_TTL_SECS));
    let envelope: CredentialEnvelope =
        serde_json::from_value(kept.doc["handshakes"][0]["envelope"].clone()).expect("envelope");
    let opened = vault::open(
        app.local.deps.keys.as_ref(),
        &app.project,
        &IntegrationName::parse("notion").expect("n"),
        &envelope,
    )
    .await
    .expect("opens for its own integration");
    use secrecy::ExposeSecret;
    assert_eq!(
        opened
            .get("verification_token")
            .map(|s| s.expose_secret().to_owned()),
        Some(token.to_owned())
    );

    // The kept token is not a key: a delivery signed with it is still refused until
    // the user sets it as webhook_verification_token.
    let event = json!({"id": "e-1", "type": "page.properties_updated",
                       "entity": {"id": "page-1", "type": "page"},
                       "data": {"updated_properties": ["title", "Status"]}})
    .to_string();
    let signature = signing::notion(token, event.as_bytes());
    let refused = app
        .post(
            "notion",
            &[("x-notion-signature", &signature)],
            event.clone(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    app.integration(
        "notion2",
        "notion",
        &[
            ("integration_token", "ntn_1"),
            ("webhook_verification_token", token),
        ],
        json!({}),
    )
    .await;
    let answer = app
        .post("notion2", &[("x-notion-signature", &signature)], event)
        .await;
    assert_eq!(answer.body["changes"], 1, "{}", answer.body);
    assert_eq!(app.changes()[0].changed_fields, vec!["title", "Status"]);
}

#[tokio::test]
async fn twilio_callbacks_verify_against_the_forwarded_url_and_dedupe_by_its_token() {
    let app = Hooks::new().await;
    app.integration(
        "sms",
        "twilio",
        &[
            ("account_sid", "AC1"),
            ("auth_token", "twilio-auth-token-1"),
        ],
        json!({}),
    )
    .await;
    let url = format!("https://{HOST}/hooks/clinic/sms?ref=status");
    let params = |status: &str| -> Vec<(String, String)> {
        [
            ("MessageSid", "SM1"),
            ("SmsSid", "SM1"),
            ("AccountSid", "AC1"),
            ("From", "+15017122661"),
            ("To", "+15558675310"),
            ("MessageStatus", status),
            ("SmsStatus", status),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    let form = |p: &[(String, String)]| {
        let mut s = form_urlencoded_body();
        for (k, v) in p {
            s.append_pair(k, v);
        }
        s.finish()
    };
    for status in ["sent", "delivered"] {
        let p = params(status);
        let signature = signing::twilio("twilio-auth-token-1", &url, &p);
        let answer = app
            .post_to(
                "/hooks/clinic/sms?ref=status",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("x-twilio-signature", &signature),
                ],
                form(&p),
            )
            .await;
        assert_eq!(answer.body["changes"], 1, "{status}: {}", answer.body);
    }
    let changes = app.changes();
    assert_eq!(
        changes[1].changed_fields,
        vec!["MessageStatus", "SmsStatus"]
    );
    assert_eq!(changes[1].before["MessageStatus"], "sent");

    // With I-Twilio-Idempotency-Token, a retry carries the same token.
    let p = params("read");
    let signature = signing::twilio("twilio-auth-token-1", &url, &p);
    for expected in [1, 0] {
        let answer = app
            .post_to(
                "/hooks/clinic/sms?ref=status",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("x-twilio-signature", &signature),
                    ("i-twilio-idempotency-token", "idem-1"),
                ],
                form(&p),
            )
            .await;
        assert_eq!(answer.body["changes"], expected, "{}", answer.body);
    }
    // Signed for another URL: refused.
    let elsewhere = signing::twilio(
        "twilio-auth-token-1",
        "https://evil.example/hooks/clinic/sms",
        &p,
    );
    let answer = app
        .post_to(
            "/hooks/clinic/sms?ref=status",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-twilio-signature", &elsewhere),
            ],
            form(&p),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

fn form_urlencoded_body() -> FormBody {
    FormBody(Vec::new())
}

/// A tiny form encoder (the test crate has no form dependency).
struct FormBody(Vec<String>);

impl FormBody {
    fn append_pair(&mut self, k: &str, v: &str) {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                        (b as char).to_string()
                    }
                    b' ' => "+".into(),
                    other => format!("%{other:02X}"),
                })
                .collect::<String>()
        };
        self.0.push(format!("{}={}", enc(k), enc(v)));
    }

    fn finish(&self) -> String {
        self.0.join("&")
    }
}

#[tokio::test]
async fn hubspot_and_sendgrid_batches_give_one_change_per_event() {
    let app = Hooks::new().await;
    let secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    app.integration(
        "crm",
        "hubspot",
        &[("access_token", "pat-1"), ("client_secret", secret)],
        json!({}),
    )
    .await;
    let batch = json!([
        {"objectId": 1246965, "propertyName": "lifecyclestage", "propertyValue": "subscriber",
         "eventId": 3816279340u64, "subscriptionType": "contact.propertyChange", "occurredAt": 1462216307945u64},
        {"objectId": 1246978, "eventId": 3816279480u64, "subscriptionType": "contact.creation", "occurredAt": 1462216307945u64},
        {"objectId": 7, "eventId": 3816279999u64, "subscriptionType": "company.creation"}
    ])
    .to_string();
    let ts = (app.now() * 1000).to_string();
    let url = format!("https://{HOST}/hooks/clinic/crm");
    let signature = signing::hubspot_v3(secret, "POST", &url, batch.as_bytes(), app.now() * 1000);
    let headers = [
        ("x-hubspot-request-timestamp", ts.as_str()),
        ("x-hubspot-signature-v3", signature.as_str()),
    ];
    let answer = app.post("crm", &headers, batch.clone()).await;
    assert_eq!(
        answer.body,
        json!({"outcome": "recorded", "events": 3, "changes": 2, "duplicates": 0, "ignored": 1})
    );
    let again = app.post("crm", &headers, batch).await;
    assert_eq!(again.body["duplicates"], 2);
    let ids: Vec<String> = app
        .changes()
        .iter()
        .map(|c| c.provider_event_id.clone())
        .collect();
    assert_eq!(ids, vec!["3816279340", "3816279480"]);

    // SendGrid's published vector (sendgrid-python's tests), at its own time.
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/webhooks/vectors.json"
        ))
        .expect("vectors"),
    )
    .expect("json");
    let v = vectors["vectors"]
        .as_array()
        .expect("list")
        .iter()
        .find(|v| v["scheme"] == "sendgrid_ecdsa")
        .expect("sendgrid vector");
    let sendgrid = Hooks::new().await;
    sendgrid
        .local
        .clock
        .set(chrono::DateTime::from_timestamp(v["now"].as_i64().expect("now"), 0).expect("t"));
    sendgrid
        .integration(
            "mail",
            "sendgrid",
            &[
                ("api_key", "SG.x"),
                ("webhook_verification_key", v["secret"].as_str().expect("k")),
            ],
            json!({}),
        )
        .await;
    let headers: Vec<(&str, &str)> = v["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().expect("str")))
        .collect();
    let answer = sendgrid
        .post("mail", &headers, v["body"].as_str().expect("body"))
        .await;
    assert_eq!(answer.body["changes"], 1, "{}", answer.body);
    let change = &sendgrid.changes()[0];
    assert_eq!(change.entity_type, "message");
    assert_eq!(
        change.provider_event_id,
        "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"
    );
    assert_eq!(change.after["event"], "dropped");
}

fn linear_issue(action: &str, state: &str, previous_state_id: Option<&str>, at_ms: i64) -> String {
    let mut body = json!({
        "action": action, "type": "Issue", "createdAt": format!("2026-11-29T12:00:{:02}.000Z", at_ms % 60),
        "data": {"id": "iss-1", "identifier": "ENG-1", "title": "Time zones",
                 "stateId": format!("state-{state}"), "state": {"name": state, "type": "started"}},
        "url": "https://linear.app/clinic/issue/ENG-1", "webhookTimestamp": at_ms
    });
    if let Some(previous) = previous_state_id {
        body["updatedFrom"] = json!({"stateId": previous});
    }
    body.to_string()
}

#[tokio::test]
async fn a_linear_issue_moving_to_done_triggers_only_the_workflows_whose_conditions_hold() {
    let app = Hooks::new().await;
    app.integration(
        "linear",
        "linear",
        &[
            ("api_key", "lin_api_1"),
            ("webhook_signing_secret", "lin_wh_1"),
        ],
        json!({}),
    )
    .await;
    let now_ms = app.now() * 1000;
    async fn send(app: &Hooks, body: String, delivery: &str) -> Answer {
        let signature = signing::linear("lin_wh_1", body.as_bytes());
        app.post(
            "linear",
            &[
                ("linear-signature", &signature),
                ("linear-delivery", delivery),
            ],
            body,
        )
        .await
    }
    let created = send(
        &app,
        linear_issue("create", "In Progress", None, now_ms),
        "d-1",
    )
    .await;
    assert_eq!(created.body["changes"], 1, "{}", created.body);
    let done = send(
        &app,
        linear_issue("update", "Done", Some("state-In Progress"), now_ms),
        "d-2",
    )
    .await;
    assert_eq!(done.body["changes"], 1, "{}", done.body);
    let stale = send(
        &app,
        linear_issue("update", "Done", None, now_ms - 61_000),
        "d-3",
    )
    .await;
    assert_eq!(
        stale.status,
        StatusCode::UNAUTHORIZED,
        "webhookTimestamp outside 60 s"
    );

    let changes = app.changes();
    assert_eq!(changes[0].change, Change::Created);
    let moved = &changes[1];
    assert_eq!(moved.change, Change::Updated);
    assert_eq!(moved.before["state"]["name"], "In Progress");
    assert_eq!(moved.after["state"]["name"], "Done");
    assert_eq!(moved.changed_fields, vec!["stateId"]);

    // Subscriptions, as the compiler stores them.
    let linear = IntegrationName::parse("linear").expect("n");
    for (workflow, conditions) in [
        (
            "notify-on-done",
            vec![FieldCondition {
                field: "state.name".into(),
                equals: json!("done"),
            }],
        ),
        (
            "notify-in-progress",
            vec![FieldCondition {
                field: "state.name".into(),
                equals: json!("In Progress"),
            }],
        ),
        ("any-issue-update", vec![]),
        (
            "eng-done",
            vec![
                FieldCondition {
                    field: "state.name".into(),
                    equals: json!("DONE"),
                },
                FieldCondition {
                    field: "identifier".into(),
                    equals: json!("eng-1"),
                },
            ],
        ),
    ] {
        let workflow = WorkflowId::parse(workflow).expect("w");
        let subscription = TriggerSubscription {
            workflow: workflow.clone(),
            integration: linear.clone(),
            entity_type: "issue".into(),
            change: Change::Updated,
            conditions,
        };
        app.local
            .deps
            .store
            .put(
                Item::of(
                    Key::new(
                        keys::project(&app.project),
                        keys::trigger(&linear, "issue", Change::Updated, &workflow),
                    ),
                    &subscription,
                )
                .expect("item"),
                Condition::Always,
            )
            .await
            .expect("subscription");
    }
    let matched: Vec<String> = matching_workflows(&app.local.deps, moved)
        .await
        .expect("matching")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        matched,
        vec!["any-issue-update", "eng-done", "notify-on-done"]
    );
    let created_matches = matching_workflows(&app.local.deps, &changes[0])
        .await
        .expect("m");
    assert!(
        created_matches.is_empty(),
        "subscriptions are per change kind"
    );

    // execute-step takes the DataChanged and starts a live run of each matched
    // workflow that can run (here two of the three have a step; one was never compiled).
    for (workflow, steps) in [
        ("any-issue-update", vec![1]),
        ("notify-on-done", vec![1]),
        ("eng-done", vec![]),
    ] {
        let id = WorkflowId::parse(workflow).expect("w");
        let record: shared::domain::Workflow = serde_json::from_value(json!({
            "id": id, "trigger": {"kind": "data_change", "integration": "linear", "entity_type": "issue", "change": "updated"},
            "steps": steps, "updated_at": app.local.clock.now()
        }))
        .expect("workflow");
        app.local
            .deps
            .store
            .put(
                Item::of(
                    Key::new(keys::project(&app.project), keys::workflow(&id)),
                    &record,
                )
                .expect("item"),
                Condition::Always,
            )
            .await
            .expect("workflow");
    }
    let handled = ExecuteStep::new(app.local.deps.clone())
        .handle(&BusEvent::of("DataChanged", moved).expect("event"))
        .await;
    match handled {
        Ok(answer) => {
            assert_eq!(
                answer["matched"],
                json!(["any-issue-update", "eng-done", "notify-on-done"])
            );
            assert_eq!(
                answer["started_runs"].as_array().map(Vec::len),
                Some(2),
                "{answer}"
            );
            assert_eq!(answer["not_started"][0]["workflow"], "eng-done");
            let runs = app
                .local
                .deps
                .store
                .query(&Query::prefix(
                    keys::project(&app.project),
                    keys::RUN_PREFIX,
                ))
                .await
                .expect("runs");
            let run = runs
                .items
                .iter()
                .find(|i| !i.key.sk.contains("#S#"))
                .expect("a run");
            assert_eq!(run.doc["mode"], "live");
            assert_eq!(run.doc["trigger"]["kind"], "data_change");
            assert_eq!(run.doc["trigger"]["after"]["state"]["name"], "Done");

            // The bus delivers again (as after a failed invocation): the same runs are
            // found, none is started twice.
            let again = ExecuteStep::new(app.local.deps.clone())
                .handle(&BusEvent::of("DataChanged", moved).expect("event"))
                .await
                .expect("redelivery");
            let ids = |a: &Value| {
                let mut ids: Vec<String> = a["started_runs"]
                    .as_array()
                    .expect("runs")
                    .iter()
                    .map(|r| r.as_str().expect("id").to_owned())
                    .collect();
                ids.sort();
                ids
            };
            assert_eq!(ids(&again), ids(&answer), "the same runs, not new ones");
            let runs = app
                .local
                .deps
                .store
                .query(&Query::prefix(
                    keys::project(&app.project),
                    keys::RUN_PREFIX,
                ))
                .await
                .expect("runs");
            let count = runs
                .items
                .iter()
                .filter(|i| i.key.sk.matches('#').count() == 1)
                .count();
            assert_eq!(count, 2, "one run per matched workflow that can run");
        }
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn postmark_intercom_calendar_fhir_and_custom_http_each_verify_their_own_way() {
    let app = Hooks::new().await;
    app.integration(
        "mail",
        "postmark",
        &[
            ("server_token", "pm-1"),
            ("webhook_password", "pm-hook-pass"),
        ],
        json!({}),
    )
    .await;
    let delivery =
        json!({"RecordType": "Delivery", "MessageID": "m-1", "Recipient": "ada@example.com",
                          "DeliveredAt": "2026-11-29T10:00:01Z"})
        .to_string();
    let open =
        json!({"RecordType": "Open", "MessageID": "m-1", "ReceivedAt": "2026-11-29T10:05:00Z"})
            .to_string();
    let good = signing::basic("postmark", "pm-hook-pass");
    let bad = signing::basic("postmark", "pm-hook-pasS");
    assert_eq!(
        app.post("mail", &[("authorization", &good)], delivery.clone())
            .await
            .body["changes"],
        1
    );
    assert_eq!(
        app.post("mail", &[("authorization", &good)], open)
            .await
            .body["changes"],
        1,
        "same MessageID, other record type"
    );
    assert_eq!(
        app.post("mail", &[("authorization", &bad)], delivery.clone())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("mail", &[], delivery).await.status,
        StatusCode::UNAUTHORIZED
    );

    app.integration(
        "support",
        "intercom",
        &[("access_token", "dG9r"), ("client_secret", "ic-secret")],
        json!({}),
    )
    .await;
    let note = json!({"type": "notification_event", "topic": "contact.user.created", "id": "notif_1",
                      "data": {"item": {"type": "contact", "id": "c-1", "email": "ada@example.com"}}})
    .to_string();
    let signature = signing::hub_sha1("ic-secret", note.as_bytes());
    assert_eq!(
        app.post("support", &[("x-hub-signature", &signature)], note.clone())
            .await
            .body["changes"],
        1
    );
    assert_eq!(
        app.post(
            "support",
            &[(
                "x-hub-signature",
                &signing::hub_sha1("other", note.as_bytes())
            )],
            note
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );

    app.integration(
        "cal",
        "google_calendar",
        &[
            ("client_id", "c"),
            ("client_secret", "s"),
            ("refresh_token", "r"),
            ("channel_token", "chan-token-1"),
        ],
        json!({}),
    )
    .await;
    let goog = |number: &'static str, token: &'static str| {
        vec![
            ("x-goog-channel-id", "chan-1"),
            ("x-goog-channel-token", token),
            ("x-goog-resource-id", "res-1"),
            ("x-goog-resource-state", "exists"),
            ("x-goog-message-number", number),
        ]
    };
    assert_eq!(
        app.post("cal", &goog("10", "chan-token-1"), "").await.body["changes"],
        1
    );
    assert_eq!(
        app.post("cal", &goog("10", "chan-token-1"), "").await.body["duplicates"],
        1
    );
    assert_eq!(
        app.post("cal", &goog("11", "wrong"), "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let cached = app
        .entity("cal", "calendar", "res-1")
        .await
        .expect("entity");
    assert!(
        !cached.to_string().contains("chan-token-1"),
        "the channel token is not part of the event"
    );

    app.integration("ehr", "fhir", &[("access_token", "t"), ("subscription_secret", "fhir-sub-secret")],
        json!({"base_url": "https://fhir.example.org/r4", "subscription_header": "X-Subscription-Auth"})).await;
    let bundle = json!({"resourceType": "Bundle", "id": "b-1", "type": "history",
                        "entry": [{"resource": {"resourceType": "Parameters"}},
                                  {"resource": {"resourceType": "Encounter", "id": "enc-1", "status": "in-progress"}}]})
    .to_string();
    assert_eq!(
        app.post(
            "ehr",
            &[("x-subscription-auth", "Bearer fhir-sub-secret")],
            bundle.clone()
        )
        .await
        .body["changes"],
        1
    );
    assert_eq!(
        app.post(
            "ehr",
            &[("authorization", "Bearer fhir-sub-secret")],
            bundle
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED,
        "only the header the subscription declares"
    );

    let declaration = json!({
        "base_url": "https://api.example.com", "auth": {"scheme": "bearer"},
        "endpoints": [{"name": "get_ticket", "method": "GET", "path": "/tickets/{id}"}],
        "webhook": {"header": "X-Signature", "prefix": "sha256=", "timestamp_header": "X-Timestamp",
                    "event_id": "/id", "event_type": "/type",
                    "entities": [{"event_types": ["ticket.updated"], "entity_type": "ticket", "id": "/data/id",
                                  "change": "updated", "state": "/data"}]}
    });
    app.integration(
        "tickets",
        "custom_http",
        &[("token", "t"), ("webhook_secret", "custom-secret")],
        declaration,
    )
    .await;
    let body =
        json!({"id": "evt-9", "type": "ticket.updated", "data": {"id": "T-7", "status": "closed"}})
            .to_string();
    let ts = app.now().to_string();
    let format = shared::catalog::HmacFormat {
        encoding: shared::catalog::DigestEncoding::Hex,
        prefix: "sha256=".into(),
        signed: "{timestamp}.{body}".into(),
    };
    let signature = signing::declared("custom-secret", &format, Some(&ts), body.as_bytes());
    let answer = app
        .post(
            "tickets",
            &[("x-timestamp", &ts), ("x-signature", &signature)],
            body.clone(),
        )
        .await;
    assert_eq!(answer.body["changes"], 1, "{}", answer.body);
    let unsigned = app.post("tickets", &[("x-timestamp", &ts)], body).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn mailgun_signature_tokens_are_accepted_once() {
    let app = Hooks::new().await;
    app.integration(
        "mg",
        "mailgun",
        &[
            ("api_key", "key-1"),
            ("webhook_signing_key", "mg-signing-key"),
        ],
        json!({"domain": "mg.example.com"}),
    )
    .await;
    let ts = app.now().to_string();
    let body = |event_id: &str, token: &str| {
        json!({"signature": {"timestamp": ts, "token": token, "signature": signing::mailgun("mg-signing-key", &ts, token)},
               "event-data": {"event": "delivered", "id": event_id,
                              "message": {"headers": {"message-id": "20111114174239.25659.5817@mg.example.com"}}}})
        .to_string()
    };
    assert_eq!(
        app.post("mg", &[], body("ev-1", "tok-1")).await.body["changes"],
        1
    );
    assert_eq!(
        app.post("mg", &[], body("ev-1", "tok-1")).await.body["duplicates"],
        1,
        "a redelivery"
    );
    // A captured signature reused for other event data: refused.
    let replay = app.post("mg", &[], body("ev-2", "tok-1")).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.body);
    assert_eq!(app.changes().len(), 1);
}

/// A bus that refuses its first `failures` publishes.
struct FlakyBus {
    inner: Arc<dyn EventBus>,
    failures: AtomicUsize,
}

#[async_trait]
impl EventBus for FlakyBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), BusError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(BusError::Unavailable("injected".into()));
        }
        self.inner.publish(events).await
    }
}

/// A Stripe integration whose bus refuses its first `failures` publishes.
async fn stripe_on_a_flaky_bus(failures: usize) -> (Hooks, Arc<FlakyBus>) {
    let mut local = local_deps();
    let bus = Arc::new(FlakyBus {
        inner: local.bus.clone(),
        failures: AtomicUsize::new(failures),
    });
    local.deps.bus = bus.clone();
    let app = Hooks::with(local).await;
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_x"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    (app, bus)
}

#[tokio::test]
async fn a_change_the_bus_refuses_is_undone_so_the_providers_retry_records_it() {
    let (app, _) = stripe_on_a_flaky_bus(1).await;
    let first = stripe_event("evt_a", "cus_a", "one@example.com", "zero@example.com");
    let signature = signing::stripe(WHSEC, app.now(), first.as_bytes());
    let failed = app
        .post("stripe", &[("stripe-signature", &signature)], first.clone())
        .await;
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.body
    );
    assert_eq!(app.traces("stripe").await, 0, "marker and entity undone");
    let retried = app
        .post("stripe", &[("stripe-signature", &signature)], first)
        .await;
    assert_eq!(retried.body["changes"], 1, "{}", retried.body);
    assert_eq!(app.changes().len(), 1);
    assert_eq!(
        app.changes()[0].before,
        json!({"email": "zero@example.com"})
    );
}

#[tokio::test]
async fn an_undone_update_puts_the_cached_entity_back_as_it_was() {
    let (app, bus) = stripe_on_a_flaky_bus(0).await;
    let first = stripe_event("evt_1", "cus_a", "one@example.com", "zero@example.com");
    let signature = signing::stripe(WHSEC, app.now(), first.as_bytes());
    let recorded = app
        .post("stripe", &[("stripe-signature", &signature)], first)
        .await;
    assert_eq!(recorded.body["changes"], 1, "{}", recorded.body);
    let cached = app.entity("stripe", "customer", "cus_a").await;
    assert_eq!(
        cached.as_ref().map(|c| c["revision"].clone()),
        Some(json!(1))
    );

    bus.failures.store(1, Ordering::SeqCst);
    let second = stripe_event("evt_2", "cus_a", "two@example.com", "one@example.com");
    let signature = signing::stripe(WHSEC, app.now(), second.as_bytes());
    let failed = app
        .post(
            "stripe",
            &[("stripe-signature", &signature)],
            second.clone(),
        )
        .await;
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.body
    );
    assert_eq!(
        app.entity("stripe", "customer", "cus_a").await,
        cached,
        "the cached entity is put back exactly as it was"
    );
    assert_eq!(
        app.traces("stripe").await,
        2,
        "the first event's marker and the entity: the second's marker is gone"
    );

    let retried = app
        .post("stripe", &[("stripe-signature", &signature)], second)
        .await;
    assert_eq!(retried.body["changes"], 1, "{}", retried.body);
    let changes = app.changes();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1].before["email"], "one@example.com");
    assert_eq!(changes[1].after["email"], "two@example.com");
    assert_eq!(changes[1].changed_fields, vec!["email"]);
    let now = app
        .entity("stripe", "customer", "cus_a")
        .await
        .expect("cached");
    assert_eq!(now["revision"], 2);
    assert_eq!(now["state"]["email"], "two@example.com");
}

/// Records every DataChanged routed to execute-step.
#[derive(Default)]
struct Recorder {
    events: std::sync::Mutex<Vec<DataChanged>>,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &BusEvent) -> Result<Value, HandlerError> {
        let change = DataChanged::deserialize(&event.detail)
            .map_err(|e| HandlerError::Rejected(e.to_string()))?;
        self.events.lock().expect("lock").push(change);
        Ok(json!({}))
    }
}

/// The load test: thousands of deliveries sent concurrently over a loopback socket to
/// the local router (valid ones, each also sent again, forged and stale ones), then:
/// exactly one DataChanged per unique valid delivery, none lost, no 5xx. Bounded in
/// count (3,000 requests) and in time (the test fails past 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_thousands_of_concurrent_deliveries_give_one_change_per_unique_valid_one() {
    const UNIQUE: usize = 1_000;
    const FORGED: usize = 500;
    const STALE: usize = 500;
    const IN_FLIGHT: usize = 64;
    let app = Hooks::new().await;
    let recorder = Arc::new(Recorder::default());
    app.local.bus.attach(Target::ExecuteStep, recorder.clone());
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_x"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    assert!(address.ip().is_loopback());
    let router = app.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let now = app.now();
    let mut requests: Vec<(String, String, StatusCode)> = Vec::new();
    for i in 0..UNIQUE {
        let body = stripe_event(
            &format!("evt_load_{i}"),
            &format!("cus_{}", i % 250),
            &format!("p{i}@example.com"),
            "old@example.com",
        );
        let signature = signing::stripe(WHSEC, now, body.as_bytes());
        requests.push((body.clone(), signature.clone(), StatusCode::OK));
        requests.push((body, signature, StatusCode::OK)); // the provider's retry
    }
    for i in 0..FORGED {
        let body = stripe_event(
            &format!("evt_forged_{i}"),
            "cus_x",
            "x@example.com",
            "y@example.com",
        );
        requests.push((
            body.clone(),
            signing::stripe("whsec_forger", now, body.as_bytes()),
            StatusCode::UNAUTHORIZED,
        ));
    }
    for i in 0..STALE {
        let body = stripe_event(
            &format!("evt_stale_{i}"),
            "cus_x",
            "x@example.com",
            "y@example.com",
        );
        requests.push((
            body.clone(),
            signing::stripe(WHSEC, now - 3600, body.as_bytes()),
            StatusCode::UNAUTHORIZED,
        ));
    }
    // Shuffle deterministically so duplicates and refusals interleave.
    let n = requests.len();
    for i in 0..n {
        let j = (i * 7919 + 13) % n;
        requests.swap(i, j);
    }

    shared::tls::install_default_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()
        .expect("client");
    let url = format!("http://{address}/hooks/{}/stripe", app.project);
    let started = std::time::Instant::now();
    let queue = Arc::new(tokio::sync::Mutex::new(requests));
    let server_errors = Arc::new(AtomicUsize::new(0));
    let wrong = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (queue, client, url) = (queue.clone(), client.clone(), url.clone());
        let (server_errors, wrong) = (server_errors.clone(), wrong.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some((body, signature, expected)) = queue.lock().await.pop() else {
                    break;
                };
                let response = client
                    .post(&url)
                    .header("stripe-signature", signature)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("loopback request");
                let status = response.status();
                if status.is_server_error() {
                    server_errors.fetch_add(1, Ordering::SeqCst);
                }
                // A refusal past the limit of failed verifications is a 429.
                let refused_as_expected =
                    expected == StatusCode::UNAUTHORIZED && status == StatusCode::TOO_MANY_REQUESTS;
                if status.as_u16() != expected.as_u16() && !refused_as_expected {
                    wrong.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    let all = async {
        for w in workers {
            w.await.expect("worker");
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), all)
        .await
        .expect("bounded: under 60 s");
    let elapsed = started.elapsed();
    app.local.bus.wait_idle().await;
    server.abort();

    assert_eq!(server_errors.load(Ordering::SeqCst), 0, "no 5xx");
    assert_eq!(wrong.load(Ordering::SeqCst), 0, "every answer as expected");
    let events = recorder.events.lock().expect("lock").clone();
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| e.provider_event_id.as_str())
        .collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "no DataChanged twice");
    assert_eq!(
        ids.len(),
        UNIQUE,
        "one DataChanged per unique valid delivery, none lost"
    );
    assert!(
        ids.iter().all(|id| id.starts_with("evt_load_")),
        "nothing forged or stale published"
    );
    eprintln!(
        "load: {} requests ({UNIQUE} unique valid, {UNIQUE} duplicates, {FORGED} forged, {STALE} stale), {IN_FLIGHT} in flight, {:.2?}, {:.0} requests/s",
        n,
        elapsed,
        n as f64 / elapsed.as_secs_f64()
    );
}

use shared::ports::{Page, Store, StoreError, Write};

/// A store that refuses single writes (an audit record written on its own) and serves
/// everything else.
struct RefusingSingleWrites(Arc<dyn Store>);

#[async_trait]
impl Store for RefusingSingleWrites {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.0.get(key).await
    }
    async fn put(&self, _: Item, _: Condition) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("injected: throttled".into()))
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.0.delete(key, condition).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.0.transact(writes).await
    }
    async fn transact_relaxed(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.0.transact_relaxed(writes).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.0.query(query).await
    }
}

/// The webhook secret is opened once a minute, and its audit record is written before
/// it is used: the first delivery costs the record and the event's commit, the next
/// ones only their event's commit. When the record cannot be written, nothing is
/// decided with the secret: 503, so the provider retries, duplicates and forgeries
/// alike.
#[tokio::test]
async fn the_secret_is_audited_before_use_once_a_minute_and_no_audit_means_no_answer() {
    let mut local = local_deps();
    // The receiver's commits only: no handler deletes the changes' pending entries.
    let losing = Arc::new(LosingBus::default());
    local.deps.bus = losing.clone();
    let refusing: Arc<dyn Store> = Arc::new(RefusingSingleWrites(local.deps.store.clone()));
    let counting = local.writes.clone();
    let app = Hooks::with(local).await;
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_abc"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    let event = |n: usize| {
        let body = stripe_event(
            &format!("evt_{n}"),
            &format!("cus_{n}"),
            "a@example.com",
            "b@example.com",
        );
        let signature = signing::stripe(WHSEC, app.now(), body.as_bytes());
        (body, signature)
    };
    let (body, signature) = event(1);
    let before = counting.writes();
    let answer = app
        .post("stripe", &[("stripe-signature", &signature)], body.clone())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        counting.writes() - before,
        2,
        "the audit record, then the event"
    );
    assert_eq!(app.audit("stripe").await.len(), 1);
    let (second, second_signature) = event(2);
    let before = counting.writes();
    let answer = app
        .post("stripe", &[("stripe-signature", &second_signature)], second)
        .await;
    assert_eq!(answer.body["changes"], 1, "{}", answer.body);
    assert_eq!(counting.writes() - before, 1, "the key is held: one commit");
    assert_eq!(app.audit("stripe").await.len(), 1);

    // Now single writes fail, in a process that holds no key (another Lambda
    // container): every delivery needs the secret opened, and its record written.
    let mut cold = app.local.deps.clone();
    cold.store = refusing.clone();
    cold.webhook_guard = Arc::new(shared::webhooks::Guard::default());
    let mut warm = app.local.deps.clone();
    warm.store = refusing;
    let call = |deps: shared::ports::Deps, headers: Vec<(&'static str, String)>, body: String| {
        let router = local_router(AppState {
            deps,
            max_webhook_bytes: 256 * 1024,
            agent: Default::default(),
        });
        async move {
            let mut request = Request::builder()
                .method("POST")
                .uri("/hooks/clinic/stripe")
                .header("host", HOST)
                .header("x-forwarded-proto", "https");
            for (k, v) in headers {
                request = request.header(k, v);
            }
            router
                .oneshot(request.body(Body::from(body)).expect("request"))
                .await
                .expect("infallible")
                .status()
        }
    };
    let duplicate = call(
        cold.clone(),
        vec![("stripe-signature", signature.clone())],
        body.clone(),
    )
    .await;
    assert_eq!(duplicate, StatusCode::SERVICE_UNAVAILABLE);
    let forged = call(
        cold.clone(),
        vec![(
            "stripe-signature",
            signing::stripe("whsec_not_the_secret", app.now(), body.as_bytes()),
        )],
        body.clone(),
    )
    .await;
    assert_eq!(forged, StatusCode::SERVICE_UNAVAILABLE);
    let (fresh, fresh_signature) = event(3);
    let refused = call(
        cold,
        vec![("stripe-signature", fresh_signature.clone())],
        fresh.clone(),
    )
    .await;
    assert_eq!(
        refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "not decided unaudited"
    );
    assert_eq!(
        app.audit("stripe").await.len(),
        1,
        "nothing more could be written"
    );
    assert_eq!(
        losing.0.load(Ordering::SeqCst),
        2,
        "nothing recorded without the record"
    );
    // The process that holds the key (opened with its record) still verifies.
    let recorded = call(warm, vec![("stripe-signature", fresh_signature)], fresh).await;
    assert_eq!(recorded, StatusCode::OK);
    assert_eq!(losing.0.load(Ordering::SeqCst), 3);
}

/// Providers do not promise delivery order. An event that happened before the one the
/// cached entity already reflects is acknowledged and recorded as seen (a retry of it
/// stays a duplicate), but it neither rolls the cached state back nor publishes a
/// change that is no longer true.
#[tokio::test]
async fn a_late_older_event_does_not_roll_back_the_cached_entity() {
    let app = Hooks::new().await;
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_abc"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    let event = |id: &str, email: &str, previous: &str, created: i64| {
        let mut doc: Value =
            serde_json::from_str(&stripe_event(id, "cus_9", email, previous)).expect("json");
        doc["created"] = json!(created);
        serde_json::to_string_pretty(&doc).expect("json")
    };
    let send = |body: String| {
        let signature = signing::stripe(WHSEC, app.now(), body.as_bytes());
        let app = &app;
        async move {
            app.post("stripe", &[("stripe-signature", &signature)], body)
                .await
        }
    };
    // Newest first: the customer's email went a → b (at 100), then b → c (at 200), and
    // the second change arrives first.
    let newer = send(event(
        "evt_new",
        "c@example.com",
        "b@example.com",
        1_795_953_200,
    ))
    .await;
    assert_eq!(newer.body["changes"], 1, "{}", newer.body);
    let older = event("evt_old", "b@example.com", "a@example.com", 1_795_953_100);
    let late = send(older.clone()).await;
    assert_eq!(late.status, StatusCode::OK);
    assert_eq!(
        late.body,
        json!({"outcome": "recorded", "events": 1, "changes": 0, "duplicates": 0, "ignored": 1})
    );
    let cached = app
        .entity("stripe", "customer", "cus_9")
        .await
        .expect("cached");
    assert_eq!(cached["state"]["email"], "c@example.com", "not rolled back");
    assert_eq!(app.changes().len(), 1, "no stale DataChanged");
    let retried = send(older).await;
    assert_eq!(retried.body["duplicates"], 1, "{}", retried.body);
    // A newer event still applies, over the newest cached one.
    let newest = send(event(
        "evt_newest",
        "d@example.com",
        "c@example.com",
        1_795_953_300,
    ))
    .await;
    assert_eq!(newest.body["changes"], 1);
    assert_eq!(app.changes()[1].before["email"], "c@example.com");
}

/// A test app whose refusals are answered at once (the refusal floor is for strangers
/// timing the answers; these tests count them).
async fn hooks_without_floor() -> Hooks {
    let mut local = local_deps();
    local.deps.webhook_guard = Arc::new(shared::webhooks::Guard::new(
        shared::webhooks::GuardSettings {
            refusal_floor: std::time::Duration::ZERO,
            ..Default::default()
        },
    ));
    Hooks::with(local).await
}

/// Forged deliveries used to cost a decryption and a durable audit record each. Now a
/// flood costs one opening (audited) and one summary record when the key is dropped;
/// past 60 failures a minute the URL answers 429 with Retry-After, known and unknown
/// names alike, while the provider's valid deliveries still go through.
#[tokio::test]
async fn a_flood_of_forged_deliveries_opens_the_secret_once_and_is_limited_per_minute() {
    let app = hooks_without_floor().await;
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_x"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    let body = stripe_event("evt_forged", "cus_f", "f@example.com", "g@example.com");
    let forged = signing::stripe("whsec_guessed", app.now(), body.as_bytes());
    let mut statuses = std::collections::BTreeMap::new();
    let mut limited = None;
    for _ in 0..200 {
        let answer = app
            .post("stripe", &[("stripe-signature", &forged)], body.clone())
            .await;
        *statuses.entry(answer.status.as_u16()).or_insert(0) += 1;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(answer);
        }
    }
    let limit = shared::webhooks::FAILED_VERIFICATIONS_PER_MINUTE as usize;
    assert_eq!(
        statuses,
        std::collections::BTreeMap::from([(401, limit), (429, 200 - limit)])
    );
    let limited = limited.expect("a 429");
    assert_eq!(
        limited.headers.get("content-type").expect("type"),
        "application/problem+json"
    );
    assert_eq!(limited.body["status"], 429);
    let retry_after: u64 = limited
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let audit = app.audit("stripe").await;
    assert_eq!(audit.len(), 1, "one opening for the whole flood: {audit:?}");
    assert_eq!(audit[0]["outcome"], "decrypted");

    // The provider's own delivery is not refused for the forger's failures.
    let valid = stripe_event("evt_real", "cus_r", "r@example.com", "s@example.com");
    let answer = app
        .post(
            "stripe",
            &[(
                "stripe-signature",
                &signing::stripe(WHSEC, app.now(), valid.as_bytes()),
            )],
            valid,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["changes"], 1);

    // A name that does not exist is counted and limited the same way.
    let mut unknown = Vec::new();
    for _ in 0..=limit {
        let answer = app
            .post_to(
                "/hooks/clinic/no-such-hook",
                &[("stripe-signature", &forged)],
                body.clone(),
            )
            .await;
        unknown.push(answer);
    }
    assert!(
        unknown[..limit]
            .iter()
            .all(|a| a.status == StatusCode::UNAUTHORIZED)
    );
    let last = unknown.last().expect("answers");
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(last.body, limited.body);
    assert_eq!(
        last.headers.get("retry-after"),
        limited.headers.get("retry-after")
    );

    // A minute later the key is dropped; one record says what it served.
    app.local.clock.advance(chrono::Duration::seconds(61));
    let answer = app.post_to("/hooks/clinic/no-such-hook", &[], "{}").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "counted afresh");
    let audit = app.audit("stripe").await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0]["purpose"], "webhook_verification");
    assert_eq!(audit[0]["outcome"], "released: served 201, failed 200");
    assert_eq!(audit[0]["cause"]["verification_key"]["released"], "expired");
    // And failures are counted afresh.
    let answer = app
        .post(
            "stripe",
            &[(
                "stripe-signature",
                &signing::stripe("whsec_guessed", app.now(), body.as_bytes()),
            )],
            body,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

/// The first deliveries to an integration whose key is not held arrive together (a
/// provider's burst, or a forger's): one of them opens the key, the others wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_to_a_cold_integration_open_its_secret_once() {
    let app = Arc::new(hooks_without_floor().await);
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_x"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    let body = stripe_event("evt_burst", "cus_b", "b@example.com", "c@example.com");
    let forged = signing::stripe("whsec_guessed", app.now(), body.as_bytes());
    let deliveries: Vec<_> = (0..32)
        .map(|_| {
            let (app, body, forged) = (app.clone(), body.clone(), forged.clone());
            tokio::spawn(async move {
                app.post("stripe", &[("stripe-signature", &forged)], body)
                    .await
                    .status
            })
        })
        .collect();
    for delivery in deliveries {
        assert_eq!(delivery.await.expect("delivery"), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.audit("stripe").await.len(), 1);
}

/// A request id from a header goes into the audit record only when it is short and
/// made of plain characters; a long or odd one is replaced, never stored as sent.
#[tokio::test]
async fn request_ids_reach_audit_records_only_when_short_and_plain() {
    let app = hooks_without_floor().await;
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_x"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    let body = stripe_event("evt_id", "cus_i", "i@example.com", "j@example.com");
    let huge = "a".repeat(60 * 1024);
    for (sent, kept) in [
        ("req-7f3a:1.2_b", true),
        (huge.as_str(), false),
        ("<script>alert(1)</script>", false),
        ("two words", false),
    ] {
        // Each in a new minute, so the key is opened (and audited) again.
        app.local.clock.advance(chrono::Duration::seconds(61));
        let forged = signing::stripe("whsec_guessed", app.now(), body.as_bytes());
        let answer = app
            .post(
                "stripe",
                &[("stripe-signature", &forged), ("x-request-id", sent)],
                body.clone(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        let audit = app.audit("stripe").await;
        let opening = audit
            .iter()
            .find(|r| r["outcome"] == "decrypted")
            .expect("the opening's record");
        let stored = opening["cause"]["webhook_request"].as_str().expect("id");
        assert_eq!(stored == sent, kept, "{:.60}", sent);
        assert!(stored.len() <= 128);
        assert!(opening.to_string().len() < 1024, "{opening}");
    }
}

/// A bus that takes events and loses them: a process killed after it acknowledged a
/// delivery and before its in-memory bus handled the change.
#[derive(Default)]
struct LosingBus(AtomicUsize);

#[async_trait]
impl EventBus for LosingBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), BusError> {
        self.0.fetch_add(events.len(), Ordering::SeqCst);
        Ok(())
    }
}

async fn pending_changes(app: &Hooks) -> usize {
    shared::aggregates::events::pending_changes(&app.local.deps)
        .await
        .expect("pending")
        .len()
}

#[tokio::test]
async fn a_change_acknowledged_and_never_handled_is_published_again_and_handled_once() {
    let mut local = local_deps();
    let real = local.bus.clone();
    let losing = Arc::new(LosingBus::default());
    local.deps.bus = losing.clone();
    let app = Hooks::with(local).await;
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_x"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    let event = stripe_event("evt_lost", "cus_lost", "new@example.com", "old@example.com");
    let post = |at: i64| {
        let signature = signing::stripe(WHSEC, at, event.as_bytes());
        let (app, event) = (&app, event.clone());
        async move {
            app.post("stripe", &[("stripe-signature", &signature)], event)
                .await
        }
    };
    assert_eq!(post(app.now()).await.body["changes"], 1);
    assert_eq!(losing.0.load(Ordering::SeqCst), 1);
    assert_eq!(pending_changes(&app).await, 1, "acknowledged, not handled");

    // The provider's retry soon after is a duplicate, not published again.
    assert_eq!(post(app.now()).await.body["duplicates"], 1);
    assert_eq!(losing.0.load(Ordering::SeqCst), 1);
    // A retry after the change stayed pending a minute publishes it again.
    app.local.clock.advance(chrono::Duration::seconds(61));
    let again = post(app.now()).await;
    assert_eq!(again.body["duplicates"], 1, "{}", again.body);
    assert_eq!(losing.0.load(Ordering::SeqCst), 2);

    // The restart: the pending change goes out on the working bus, is handled, and is
    // no longer pending.
    let mut restarted = app.local.deps.clone();
    restarted.bus = real.clone();
    assert_eq!(
        shared::webhooks::publish_pending(&restarted)
            .await
            .expect("published"),
        1
    );
    for _ in 0..500 {
        if pending_changes(&app).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(pending_changes(&app).await, 0, "handled");
    let published: Vec<BusEvent> = real
        .published()
        .into_iter()
        .filter(|e| e.detail_type == "DataChanged")
        .collect();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].detail["provider_event_id"], "evt_lost");
    assert_eq!(
        published[0].detail["before"],
        json!({"email": "old@example.com"})
    );
}

#[tokio::test]
async fn a_handled_change_leaves_nothing_pending() {
    let app = Hooks::new().await;
    app.integration(
        "stripe",
        "stripe",
        &[("secret_key", "sk_test_x"), ("webhook_secret", WHSEC)],
        json!({}),
    )
    .await;
    let event = stripe_event("evt_ok", "cus_ok", "new@example.com", "old@example.com");
    let signature = signing::stripe(WHSEC, app.now(), event.as_bytes());
    let answer = app
        .post("stripe", &[("stripe-signature", &signature)], event)
        .await;
    assert_eq!(answer.body["changes"], 1, "{}", answer.body);
    for _ in 0..500 {
        if pending_changes(&app).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(pending_changes(&app).await, 0);
}
