//! Completing Notion's webhook verification through the HTTP API: the handshake's
//! token, POSTed unsigned to `/hooks/...`, is revealed once by
//! `POST /projects/{project}/integrations/{name}/webhook-verification-token`, audited,
//! then set as `webhook_verification_token`, after which Notion's signed events are
//! accepted and unsigned or forged ones refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::aggregates::keys;
use shared::domain::{CredentialEnvelope, IntegrationName, ProjectId};
use shared::http::{AppState, local_router};
use shared::ports::{Condition, Item, Key, Page, Query, Store, StoreError, Write};
use shared::webhooks::{DEDUPE_TTL_SECS, NOTION_TOKEN_SK, signing};
use studio_tests::{LocalDeps, local_deps};
use tokio::sync::Barrier;
use tower::ServiceExt;

pub const TOKEN: &str = "secret_canaryNotionVerify5Qm2xT8vLr0aWc3Zp7Hk";
const INTEGRATION_TOKEN: &str = "ntn_4f1c9a0e7b3d2c6a8e5f0b1d9c7a3e2f6b8d0c4a1e9f7";

/// A store that can hold the first `n` reads of the pending token until all `n` have
/// read it (so concurrent reveals really race for the delete), and can refuse
/// transactions (an unavailable store: the audit record cannot be written).
pub struct FaultStore {
    inner: Arc<dyn Store>,
    held_reads: AtomicUsize,
    barrier: std::sync::Mutex<Option<Arc<Barrier>>>,
    refuse_transactions: AtomicBool,
}

impl FaultStore {
    fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            held_reads: AtomicUsize::new(0),
            barrier: std::sync::Mutex::new(None),
            refuse_transactions: AtomicBool::new(false),
        }
    }

    fn hold_token_reads(&self, n: usize) {
        self.held_reads.store(n, Ordering::SeqCst);
        *self.barrier.lock().expect("lock") = Some(Arc::new(Barrier::new(n)));
    }
}

#[async_trait]
impl Store for FaultStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let read = self.inner.get(key).await;
        if key.sk == NOTION_TOKEN_SK
            && self
                .held_reads
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            let barrier = self.barrier.lock().expect("lock").clone();
            if let Some(barrier) = barrier {
                barrier.wait().await;
            }
        }
        read
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.inner.delete(key, condition).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if self.refuse_transactions.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "injected: the table is throttling".into(),
            ));
        }
        self.inner.transact(writes).await
    }
    async fn transact_relaxed(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.inner.transact_relaxed(writes).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

pub struct NotionApp {
    pub router: Router,
    pub local: LocalDeps,
    pub faults: Arc<FaultStore>,
    pub project: String,
    pub token: String,
}

impl NotionApp {
    /// A project `clinic` with a Notion integration `notion` (no webhook token yet).
    pub async fn new() -> Self {
        let local = local_deps();
        let faults = Arc::new(FaultStore::new(local.deps.store.clone()));
        let mut deps = local.deps.clone();
        deps.store = faults.clone();
        let router = local_router(AppState {
            deps,
            max_webhook_bytes: 64 * 1024,
            agent: Default::default(),
        });
        let mut app = Self {
            router,
            local,
            faults,
            project: String::new(),
            token: String::new(),
        };
        let created = app
            .call(
                Method::POST,
                "/projects",
                None,
                Some(json!({"name": "clinic"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        app.project = created.body["id"].as_str().expect("id").to_owned();
        app.token = created.body["token"].as_str().expect("token").to_owned();
        let notion = app
            .api(
                Method::POST,
                "integrations",
                Some(json!({"name": "notion", "provider": "notion",
                            "credentials": {"integration_token": INTEGRATION_TOKEN},
                            "config": {"data_source_id": "248104cd-477e-80af-bc30-000bd28de8f9"}})),
            )
            .await;
        assert_eq!(notion.status, StatusCode::CREATED, "{}", notion.text);
        app
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
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
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.expect("request")).await
    }

    /// A call to `/projects/{project}/{path}` with the project's token.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call(
            method,
            &format!("/projects/{}/{path}", self.project),
            Some(&self.token),
            body,
        )
        .await
    }

    pub async fn reveal(&self, integration: &str) -> Answer {
        self.api(
            Method::POST,
            &format!("integrations/{integration}/webhook-verification-token"),
            None,
        )
        .await
    }

    pub async fn hook(&self, integration: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut request = Request::builder()
            .method("POST")
            .uri(format!("/hooks/{}/{integration}", self.project))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::from(body.to_owned())).expect("request"))
            .await
    }

    /// Notion's first, unsigned POST to a new subscription's URL.
    pub async fn handshake(&self, integration: &str) -> Answer {
        let answer = self
            .hook(
                integration,
                &[],
                &json!({"verification_token": TOKEN}).to_string(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["outcome"], "handshake_received");
        answer
    }

    /// A handshake with `token`, from `source` (the connection's peer, as the local
    /// binary sees it).
    pub async fn handshake_from(&self, token: &str, source: [u8; 4]) -> Answer {
        let request = Request::builder()
            .method("POST")
            .uri(format!("/hooks/{}/notion", self.project))
            .header("content-type", "application/json")
            .extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                source, 44_321,
            ))))
            .body(Body::from(json!({"verification_token": token}).to_string()))
            .expect("request");
        let answer = self.send(request).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["outcome"], "handshake_received");
        answer
    }

    fn pending_key(&self, integration: &str) -> Key {
        Key::new(
            keys::webhook_dedupe(
                &ProjectId::parse(&self.project).expect("id"),
                &IntegrationName::parse(integration).expect("name"),
            ),
            NOTION_TOKEN_SK,
        )
    }

    pub async fn pending(&self, integration: &str) -> Option<Item> {
        self.local
            .deps
            .store
            .get(&self.pending_key(integration))
            .await
            .expect("get")
    }

    async fn audit(&self, integration: &str) -> Answer {
        let audit = self
            .api(
                Method::GET,
                &format!("integrations/{integration}/audit"),
                None,
            )
            .await;
        assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
        audit
    }
}

fn assert_problem(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(
        answer
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{}",
        answer.text
    );
    assert!(
        !answer.text.contains(TOKEN),
        "a problem carries the token: {}",
        answer.text
    );
}

fn notion_event(id: &str) -> String {
    json!({"id": id, "type": "page.properties_updated",
           "timestamp": "2026-11-29T12:00:00.000Z",
           "entity": {"id": "59833787-2cf9-4fdf-8782-e53db20768a5", "type": "page"},
           "data": {"updated_properties": ["title", "Status"]}})
    .to_string()
}

#[tokio::test]
async fn the_handshake_token_is_revealed_exactly_once_and_never_cached() {
    let app = NotionApp::new().await;
    app.handshake("notion").await;
    assert!(app.pending("notion").await.is_some());

    let revealed = app.reveal("notion").await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    assert_eq!(revealed.body["verification_token"], TOKEN);
    assert_eq!(
        revealed
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let received_at = revealed.body["received_at"].as_str().expect("received_at");
    assert!(
        chrono::DateTime::parse_from_rfc3339(received_at).is_ok(),
        "{received_at}"
    );
    let next = revealed.body["next"].as_str().expect("next");
    assert!(next.contains("Verify"), "{next}");
    assert!(
        next.contains(&format!(
            "PUT /projects/{}/integrations/notion/credentials",
            app.project
        )),
        "{next}"
    );
    assert!(next.contains("webhook_verification_token"), "{next}");
    assert!(next.contains("integration_token"), "{next}");
    assert!(!next.contains(TOKEN), "the instructions repeat the token");
    assert!(
        app.pending("notion").await.is_none(),
        "revealed means removed"
    );

    let again = app.reveal("notion").await;
    assert_problem(&again, StatusCode::NOT_FOUND);
    assert!(
        again.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("already revealed")),
        "{}",
        again.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_reveals_exactly_one_gets_the_token() {
    let app = Arc::new(NotionApp::new().await);
    app.handshake("notion").await;
    const RACERS: usize = 6;
    // Every racer has read the pending token before any of them commits.
    app.faults.hold_token_reads(RACERS);
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                tokio::time::timeout(std::time::Duration::from_secs(20), app.reveal("notion"))
                    .await
                    .expect("a racer hung")
            })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut tokens = 0;
    for racer in racers {
        let answer = racer.await.expect("racer");
        if answer.text.contains(TOKEN) {
            tokens += 1;
        }
        statuses.push(answer.status.as_u16());
    }
    statuses.sort();
    let mut expected = vec![404; RACERS - 1];
    expected.insert(0, 200);
    assert_eq!(statuses, expected);
    assert_eq!(tokens, 1, "the token went out {tokens} times");
    let audit = app.audit("notion").await;
    let reveals = audit.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["purpose"] == "verification_token_revealed")
        .count();
    assert_eq!(reveals, 1, "{}", audit.text);
}

#[tokio::test]
async fn the_reveal_is_audited_and_the_record_does_not_hold_the_token() {
    let app = NotionApp::new().await;
    app.handshake("notion").await;
    let revealed = app
        .send(
            Request::builder()
                .method("POST")
                .uri(format!(
                    "/projects/{}/integrations/notion/webhook-verification-token",
                    app.project
                ))
                .header("authorization", format!("Bearer {}", app.token))
                .header("x-request-id", "req-reveal-1")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    let audit = app.audit("notion").await;
    let record = &audit.body["records"][0];
    assert_eq!(
        record["purpose"], "verification_token_revealed",
        "{}",
        audit.text
    );
    assert_eq!(record["outcome"], "revealed");
    assert_eq!(record["credential_version"], 0, "the handshake's envelope");
    assert_eq!(
        record["cause"]["request"],
        "POST webhook-verification-token"
    );
    assert_eq!(record["cause"]["request_id"], "req-reveal-1");
    assert_eq!(
        record["cause"]["handshakes"][0]["received_at"],
        revealed.body["received_at"]
    );
    assert!(!audit.text.contains(TOKEN), "{}", audit.text);
}

#[tokio::test]
async fn without_an_audit_record_nothing_is_revealed_or_removed() {
    let app = NotionApp::new().await;
    app.handshake("notion").await;
    app.faults.refuse_transactions.store(true, Ordering::SeqCst);
    let refused = app.reveal("notion").await;
    assert_problem(&refused, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        app.pending("notion").await.is_some(),
        "still there for a retry"
    );
    app.faults
        .refuse_transactions
        .store(false, Ordering::SeqCst);
    let audit = app.audit("notion").await;
    assert!(
        !audit.text.contains("verification_token_revealed"),
        "{}",
        audit.text
    );
    let retried = app.reveal("notion").await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(retried.body["verification_token"], TOKEN);
}

#[tokio::test]
async fn an_envelope_that_does_not_open_is_a_server_error_and_is_not_removed() {
    let app = NotionApp::new().await;
    app.handshake("notion").await;
    // Another integration's pending token, copied over this one's: bound to the other
    // integration's context, it must not open here.
    let other = app
        .api(
            Method::POST,
            "integrations",
            Some(json!({"name": "notion-2", "provider": "notion",
                        "credentials": {"integration_token": INTEGRATION_TOKEN},
                        "config": {"data_source_id": "248104cd-477e-80af-bc30-000bd28de8f9"}})),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);
    app.handshake("notion-2").await;
    let foreign = app.pending("notion-2").await.expect("pending");
    let mut moved = app.pending("notion").await.expect("pending");
    moved.doc["handshakes"][0]["envelope"] = foreign.doc["handshakes"][0]["envelope"].clone();
    app.local
        .deps
        .store
        .put(moved.clone(), Condition::Always)
        .await
        .expect("put");

    let refused = app.reveal("notion").await;
    assert_problem(&refused, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(app.pending("notion").await.map(|i| i.doc), Some(moved.doc));
    let audit = app.audit("notion").await;
    let record = &audit.body["records"][0];
    assert_eq!(
        record["purpose"], "verification_token_revealed",
        "{}",
        audit.text
    );
    assert!(
        record["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("failed")),
        "{}",
        audit.text
    );
}

#[tokio::test]
async fn nothing_pending_an_expired_token_or_an_unknown_or_non_notion_integration_is_404() {
    let app = NotionApp::new().await;
    let never = app.reveal("notion").await;
    assert_problem(&never, StatusCode::NOT_FOUND);
    assert!(
        never.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("none has been received")),
        "{}",
        never.text
    );

    let unknown = app.reveal("no-such-integration").await;
    assert_problem(&unknown, StatusCode::NOT_FOUND);
    assert!(
        unknown.text.contains("no integration named"),
        "{}",
        unknown.text
    );

    let stripe = app
        .api(
            Method::POST,
            "integrations",
            Some(json!({"name": "payments", "provider": "stripe",
                        "credentials": {"secret_key": "sk_test_4eC39HqLyjWDarjtT1zdp7dc"}})),
        )
        .await;
    assert_eq!(stripe.status, StatusCode::CREATED, "{}", stripe.text);
    let not_notion = app.reveal("payments").await;
    assert_problem(&not_notion, StatusCode::NOT_FOUND);
    assert!(
        not_notion.text.contains("only Notion integrations"),
        "{}",
        not_notion.text
    );

    app.handshake("notion").await;
    app.local
        .clock
        .advance(chrono::Duration::seconds(DEDUPE_TTL_SECS + 1));
    let expired = app.reveal("notion").await;
    assert_problem(&expired, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_set_webhook_verification_token_is_a_409_that_says_how_to_rotate() {
    let app = NotionApp::new().await;
    app.handshake("notion").await;
    let set = app
        .api(
            Method::PUT,
            "integrations/notion/credentials",
            Some(json!({"credentials": {"integration_token": INTEGRATION_TOKEN,
                                        "webhook_verification_token": "secret_setByHandFromAnotherPlace01"}})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    let conflict = app.reveal("notion").await;
    assert_problem(&conflict, StatusCode::CONFLICT);
    let detail = conflict.body["detail"].as_str().expect("detail");
    assert!(detail.contains("To rotate it"), "{detail}");
    assert!(detail.contains("/credentials"), "{detail}");
    assert!(
        app.pending("notion").await.is_some(),
        "a refused reveal removes nothing"
    );

    // The rotation the 409 describes: drop the credential, Notion sends a new token
    // (a recreated subscription), reveal it.
    let dropped = app
        .api(
            Method::PUT,
            "integrations/notion/credentials",
            Some(json!({"credentials": {"integration_token": INTEGRATION_TOKEN}})),
        )
        .await;
    assert_eq!(dropped.status, StatusCode::OK, "{}", dropped.text);
    app.handshake("notion").await;
    // The handshake received before the token was set is still pending beside the new
    // one: both are shown.
    let revealed = app.reveal("notion").await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    let handshakes = revealed.body["handshakes"].as_array().expect("handshakes");
    assert_eq!(handshakes.len(), 2, "{}", revealed.text);
    assert!(handshakes.iter().all(|h| h["verification_token"] == TOKEN));
    let warning = revealed.body["warning"].as_str().expect("warning");
    assert!(warning.contains("the same token"), "{warning}");
}

#[tokio::test]
async fn another_projects_token_cannot_reveal_it() {
    let app = NotionApp::new().await;
    app.handshake("notion").await;
    let other = app
        .call(
            Method::POST,
            "/projects",
            None,
            Some(json!({"name": "other"})),
        )
        .await;
    let other_token = other.body["token"].as_str().expect("token");
    let path = format!(
        "/projects/{}/integrations/notion/webhook-verification-token",
        app.project
    );
    for token in [Some(other_token), Some("stk_forged"), None] {
        let refused = app.call(Method::POST, &path, token, None).await;
        assert_problem(&refused, StatusCode::UNAUTHORIZED);
    }
    // Its own project's route with its own token finds no such integration.
    let own = app
        .call(
            Method::POST,
            &format!(
                "/projects/{}/integrations/notion/webhook-verification-token",
                other.body["id"].as_str().expect("id")
            ),
            Some(other_token),
            None,
        )
        .await;
    assert_problem(&own, StatusCode::NOT_FOUND);
    assert!(app.pending("notion").await.is_some());
    assert_eq!(app.reveal("notion").await.status, StatusCode::OK);
}

#[tokio::test]
async fn after_the_reveal_and_the_credentials_put_signed_events_pass_and_others_get_401() {
    let app = NotionApp::new().await;
    app.handshake("notion").await;
    let event = notion_event("evt-1");
    let signature = signing::notion(TOKEN, event.as_bytes());
    // Before the token is set, even a properly signed event is refused.
    let early = app
        .hook("notion", &[("x-notion-signature", &signature)], &event)
        .await;
    assert_eq!(early.status, StatusCode::UNAUTHORIZED, "{}", early.text);

    let revealed = app.reveal("notion").await;
    let token = revealed.body["verification_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let set = app
        .api(
            Method::PUT,
            "integrations/notion/credentials",
            Some(
                json!({"credentials": {"integration_token": INTEGRATION_TOKEN,
                                        "webhook_verification_token": token}}),
            ),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert!(!set.text.contains(TOKEN), "{}", set.text);
    assert!(
        set.body["credential_fields"]
            .as_array()
            .expect("fields")
            .contains(&json!("webhook_verification_token"))
    );

    let accepted = app
        .hook("notion", &[("x-notion-signature", &signature)], &event)
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(accepted.body["changes"], 1, "{}", accepted.text);

    let unsigned = app.hook("notion", &[], &notion_event("evt-2")).await;
    assert_problem(&unsigned, StatusCode::UNAUTHORIZED);
    let forged = app
        .hook(
            "notion",
            &[(
                "x-notion-signature",
                &signing::notion("secret_notTheRealToken000000000000", b"x"),
            )],
            &notion_event("evt-3"),
        )
        .await;
    assert_problem(&forged, StatusCode::UNAUTHORIZED);
    let tampered = app
        .hook(
            "notion",
            &[("x-notion-signature", &signature)],
            &event.replace("Status", "Statuz"),
        )
        .await;
    assert_problem(&tampered, StatusCode::UNAUTHORIZED);

    // A later handshake is not kept while the token is set, so nothing is revealed.
    app.handshake("notion").await;
    assert!(app.pending("notion").await.is_none());
    assert_problem(&app.reveal("notion").await, StatusCode::CONFLICT);
}

/// The pending item's envelope is bound to its integration and sealed as version 0,
/// so it cannot be opened as (or confused with) the integration's credentials.
#[tokio::test]
async fn the_pending_token_is_sealed_as_version_zero_of_its_integration() {
    let app = NotionApp::new().await;
    app.handshake("notion").await;
    let pending = app.pending("notion").await.expect("pending");
    assert!(!pending.doc.to_string().contains(TOKEN));
    let envelope: CredentialEnvelope =
        serde_json::from_value(pending.doc["handshakes"][0]["envelope"].clone()).expect("envelope");
    assert_eq!(envelope.version, 0);
}

const STRANGER: &str = "secret_strangerSentThis0000000000000000000000";

/// A handshake is unsigned: anyone who knows the webhook URL can send one. A second
/// one used to replace the first, and the reveal then showed only the stranger's
/// token. Now every handshake is kept, with when and where from it came, and the
/// reveal shows them all and warns.
#[tokio::test]
async fn a_second_handshake_does_not_replace_the_first_and_the_reveal_shows_both_with_a_warning() {
    let app = NotionApp::new().await;
    app.handshake_from(TOKEN, [198, 51, 100, 7]).await;
    app.local.clock.advance(chrono::Duration::seconds(30));
    app.handshake_from(STRANGER, [203, 0, 113, 66]).await;

    let revealed = app.reveal("notion").await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    let handshakes = revealed.body["handshakes"].as_array().expect("handshakes");
    assert_eq!(handshakes.len(), 2, "{}", revealed.text);
    assert_eq!(handshakes[0]["verification_token"], TOKEN);
    assert_eq!(handshakes[0]["source"], "198.51.100.7");
    assert_eq!(handshakes[1]["verification_token"], STRANGER);
    assert_eq!(handshakes[1]["source"], "203.0.113.66");
    let at = |h: &Value| {
        chrono::DateTime::parse_from_rfc3339(h["received_at"].as_str().expect("received_at"))
            .expect("time")
    };
    assert_eq!((at(&handshakes[1]) - at(&handshakes[0])).num_seconds(), 30);
    let warning = revealed.body["warning"].as_str().expect("a warning");
    assert!(warning.contains("2 handshakes"), "{warning}");
    assert!(
        warning.contains("only one of them is Notion's"),
        "{warning}"
    );
    assert!(
        revealed.body.get("verification_token").is_none(),
        "no single token is offered when there are two: {}",
        revealed.text
    );
    // Still shown once.
    assert!(app.pending("notion").await.is_none());
    assert_problem(&app.reveal("notion").await, StatusCode::NOT_FOUND);
    // The audit record says when and where from, never which token.
    let audit = app.audit("notion").await;
    let record = &audit.body["records"][0];
    assert_eq!(record["cause"]["handshakes"][1]["source"], "203.0.113.66");
    assert!(!audit.text.contains(TOKEN) && !audit.text.contains(STRANGER));
}

/// At most five handshakes are kept; later ones are answered alike but dropped, and
/// the reveal says the list was full. Revealing clears it for the next subscription.
#[tokio::test]
async fn past_five_handshakes_later_ones_are_dropped_and_the_reveal_says_the_list_was_full() {
    let app = NotionApp::new().await;
    for n in 0..7u8 {
        app.handshake_from(&format!("secret_flood{n:0>40}"), [192, 0, 2, n])
            .await;
    }
    let revealed = app.reveal("notion").await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    let sources: Vec<&str> = revealed.body["handshakes"]
        .as_array()
        .expect("handshakes")
        .iter()
        .map(|h| h["source"].as_str().expect("source"))
        .collect();
    assert_eq!(
        sources,
        [
            "192.0.2.0",
            "192.0.2.1",
            "192.0.2.2",
            "192.0.2.3",
            "192.0.2.4"
        ]
    );
    let warning = revealed.body["warning"].as_str().expect("warning");
    assert!(warning.contains("was full"), "{warning}");
    app.handshake_from(TOKEN, [198, 51, 100, 7]).await;
    let next = app.reveal("notion").await;
    assert_eq!(next.body["verification_token"], TOKEN, "{}", next.text);
    assert_eq!(next.body["source"], "198.51.100.7");
    assert!(next.body.get("warning").is_none(), "{}", next.text);
}

/// On AWS the source address is API Gateway's `requestContext.http.sourceIp` (the
/// caller cannot set it; an `x-forwarded-for` header is not believed).
#[tokio::test]
async fn a_handshake_through_lambda_is_kept_with_api_gateways_source_ip() {
    let app = NotionApp::new().await;
    let path = format!("/hooks/{}/notion", app.project);
    let payload = json!({
        "version": "2.0",
        "routeKey": "POST /hooks/{project}/{integration}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                    "x-forwarded-for": "10.1.2.3", "x-forwarded-proto": "https"},
        "requestContext": {"accountId": "123456789012", "apiId": "a1b2c3d4e5",
                           "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.10", "userAgent": "notion-api"},
                           "requestId": "Qx13demoIAMEJQ=", "routeKey": "POST /hooks/{project}/{integration}",
                           "stage": "$default", "time": "29/Nov/2026:08:00:13 +0000", "timeEpoch": 1_795_939_213_000i64},
        "body": json!({"verification_token": TOKEN}).to_string(),
        "isBase64Encoded": false
    });
    let answer = shared::lambda::invoke(&app.router, None, payload)
        .await
        .expect("invoked");
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let revealed = app.reveal("notion").await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    assert_eq!(revealed.body["verification_token"], TOKEN);
    assert_eq!(revealed.body["source"], "203.0.113.10");
}
