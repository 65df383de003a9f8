//! The edges: `LiveEdge` puts exactly the request it is given on the wire and tells
//! a connect failure (never reached the provider) from a timeout; `SandboxEdge` never
//! opens a connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::any;
use shared::adapters::{EgressPolicy, LiveEdge, SandboxEdge};
use shared::ports::{Edge, EdgeError, EdgeOutcome, OutboundRequest};

type Seen = Arc<Mutex<Vec<(Method, Uri, HeaderMap, Bytes)>>>;

/// A capture server on a free loopback port: records requests, answers 201 with a JSON body,
/// or sleeps on `/slow`.
async fn capture_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = Router::new().fallback(any(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                if uri.path() == "/slow" {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                record
                    .lock()
                    .expect("lock")
                    .push((method, uri, headers, body));
                (
                    StatusCode::CREATED,
                    [("x-ratelimit-remaining", "41")],
                    "{\"MessageID\":\"m-1\"}",
                )
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn request(url: String) -> OutboundRequest {
    OutboundRequest {
        method: "POST".into(),
        url,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-postmark-server-token".into(), "canary-token".into()),
        ],
        body: b"{\"To\":\"ada@example.com\"}".to_vec(),
    }
}

#[tokio::test]
async fn the_live_edge_sends_the_exact_request_and_returns_the_response() {
    let (url, seen) = capture_server().await;
    let edge = loopback_edge(Duration::from_secs(2));
    let outcome = edge
        .send(&request(format!("{url}/email?x=1")))
        .await
        .expect("sent");
    let EdgeOutcome::Sent(response) = outcome else {
        panic!("live edge must send")
    };
    assert_eq!(response.status, 201);
    assert_eq!(response.body, b"{\"MessageID\":\"m-1\"}");
    assert!(
        response
            .headers
            .iter()
            .any(|(k, v)| k == "x-ratelimit-remaining" && v == "41")
    );
    let seen = seen.lock().expect("lock");
    let (method, uri, headers, body) = &seen[0];
    assert_eq!(method, Method::POST);
    assert_eq!(uri.to_string(), "/email?x=1");
    assert_eq!(headers["x-postmark-server-token"], "canary-token");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body.as_ref(), b"{\"To\":\"ada@example.com\"}");
}

#[tokio::test]
async fn the_live_edge_tells_timeouts_from_connect_failures() {
    let (url, _) = capture_server().await;
    let edge = loopback_edge(Duration::from_millis(200));
    assert_eq!(
        edge.send(&request(format!("{url}/slow"))).await,
        Err(EdgeError::Timeout(200))
    );
    // A port nobody listens on: refused before anything was sent.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let err = edge
        .send(&request(format!("http://127.0.0.1:{port}/x")))
        .await
        .expect_err("refused");
    assert!(matches!(err, EdgeError::Connect(_)), "{err:?}");
    let err = edge
        .send(&request("file:///etc/passwd".into()))
        .await
        .expect_err("scheme");
    assert!(matches!(err, EdgeError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn the_sandbox_edge_never_opens_a_connection() {
    let (url, seen) = capture_server().await;
    let outcome = SandboxEdge
        .send(&request(format!("{url}/email")))
        .await
        .expect("recorded");
    assert_eq!(outcome, EdgeOutcome::WouldHaveSent);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        seen.lock().expect("lock").is_empty(),
        "the sandbox reached the server"
    );
    assert!(matches!(
        SandboxEdge.send(&request("not a url".into())).await,
        Err(EdgeError::Invalid(_))
    ));
}

/// The tests' capture servers are on loopback, which the edge refuses by default.
fn loopback_edge(timeout: Duration) -> LiveEdge {
    LiveEdge::with_policy(timeout, EgressPolicy::parse("127.0.0.1").expect("policy"))
}

#[tokio::test]
async fn the_live_edge_refuses_non_public_addresses_unless_allowed() {
    let (url, seen) = capture_server().await;
    let port = url.rsplit(':').next().expect("port").to_owned();
    let strict = LiveEdge::new(Duration::from_secs(1));
    for target in [
        format!("http://127.0.0.1:{port}/x"),
        format!("http://localhost:{port}/x"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/x".to_owned(),
        "http://192.168.1.1/x".to_owned(),
        "http://[::1]/x".to_owned(),
        "http://[::ffff:127.0.0.1]/x".to_owned(),
        "http://100.64.0.1/x".to_owned(),
        "http://0.0.0.0/x".to_owned(),
    ] {
        let err = strict
            .send(&request(target.clone()))
            .await
            .expect_err("refused");
        assert!(matches!(err, EdgeError::Refused(_)), "{target}: {err:?}");
    }
    assert!(
        seen.lock().expect("lock").is_empty(),
        "nothing reached the server"
    );
    let by_name = LiveEdge::with_policy(
        Duration::from_secs(2),
        EgressPolicy::parse("localhost").expect("policy"),
    );
    by_name
        .send(&request(format!("http://localhost:{port}/x")))
        .await
        .expect("allowed by name");
    assert!(EgressPolicy::parse("10.0.0.0/33").is_err());
}
