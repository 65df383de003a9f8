//! The edges: `LiveEdge` sends with reqwest; `SandboxEdge` records and never sends.

use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{Edge, EdgeError, EdgeOutcome, OutboundRequest, OutboundResponse};

/// Largest provider response read into memory; a bigger one is an error, not an OOM.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

pub struct LiveEdge {
    client: reqwest::Client,
    timeout: Duration,
}

impl LiveEdge {
    pub fn new(timeout: Duration) -> Result<Self, EdgeError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // Redirects could carry credentials to another host; a provider API that
            // redirects is reported, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("studio-integrations/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EdgeError::Invalid(format!("http client: {e}")))?;
        Ok(Self { client, timeout })
    }
}

#[async_trait]
impl Edge for LiveEdge {
    async fn send(&self, request: &OutboundRequest) -> Result<EdgeOutcome, EdgeError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| EdgeError::Invalid(format!("method {:?}", request.method)))?;
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| EdgeError::Invalid(format!("url: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(EdgeError::Invalid(format!(
                "scheme {} is not allowed",
                url.scheme()
            )));
        }
        let mut builder = self.client.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let timeout_ms = self.timeout.as_millis() as u64;
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                EdgeError::Timeout(timeout_ms)
            } else if e.is_connect() {
                EdgeError::Connect(e.without_url().to_string())
            } else if e.is_builder() {
                EdgeError::Invalid(e.without_url().to_string())
            } else {
                EdgeError::Transport(e.without_url().to_string())
            }
        };
        let mut response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(EdgeError::Transport(format!(
                    "response larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(EdgeOutcome::Sent(OutboundResponse {
            status,
            headers,
            body,
        }))
    }
}

/// Sends nothing: in sandbox mode this is the only edge the runtime holds, so no code
/// path above it can reach the network. The caller records the request it handed over
/// as the "would have sent" trace.
#[derive(Debug, Default)]
pub struct SandboxEdge;

#[async_trait]
impl Edge for SandboxEdge {
    async fn send(&self, request: &OutboundRequest) -> Result<EdgeOutcome, EdgeError> {
        reqwest::Url::parse(&request.url).map_err(|e| EdgeError::Invalid(format!("url: {e}")))?;
        Ok(EdgeOutcome::WouldHaveSent)
    }
}
