//! `LiveEdge`: sends provider requests with reqwest, through the egress guard (see
//! [`super::edge`]). Only the binaries that call providers build it (`app::live_edge`:
//! execute-step and the local binary); the other functions do not link it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::egress::EgressPolicy;
use crate::ports::{Edge, EdgeError, EdgeOutcome, OutboundRequest, OutboundResponse};

/// Largest provider response read into memory; a bigger one is an error, not an OOM.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// reqwest's resolver, filtered by the egress policy.
struct GuardedResolver {
    policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = if policy.allows_host(&host) {
                resolved
            } else {
                resolved
                    .into_iter()
                    .filter(|a| policy.allows_ip(a.ip()))
                    .collect()
            };
            if allowed.is_empty() {
                return Err(format!(
                    "egress to {host} refused: it resolves to a non-public address"
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The [`Edge`] that sends: reqwest over rustls, with a time limit per request,
/// refusing destinations the egress policy does not allow.
pub struct LiveEdge {
    /// Built on the first send: building it loads the system's root certificates
    /// (rustls-platform-verifier), which an execute-step that only starts runs or runs
    /// sandbox steps never needs, and which would lengthen every cold start.
    client: std::sync::OnceLock<reqwest::Client>,
    timeout: Duration,
    policy: Arc<EgressPolicy>,
}

impl LiveEdge {
    /// A live edge that reaches public addresses only.
    pub fn new(timeout: Duration) -> Self {
        Self::with_policy(timeout, EgressPolicy::default())
    }

    /// Nothing can fail here: the HTTP client is built, and may fail, on the first send.
    pub fn with_policy(timeout: Duration, policy: EgressPolicy) -> Self {
        crate::tls::install_default_provider();
        Self {
            client: std::sync::OnceLock::new(),
            timeout,
            policy: Arc::new(policy),
        }
    }

    /// The HTTP client, built once (two first sends may both build one; one is kept).
    fn client(&self) -> Result<&reqwest::Client, EdgeError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: Arc::clone(&self.policy),
            }))
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(5)))
            // Redirects could carry credentials to another host; a provider API that
            // redirects is reported, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("studio-integrations/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EdgeError::Invalid(format!("http client: {e}")))?;
        Ok(self.client.get_or_init(|| client))
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
        // IP literals never reach the resolver: check them here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !self.policy.allows_ip(ip)
        {
            return Err(EdgeError::Refused(format!(
                "egress to {ip} refused: not a public address and not on the allow-list"
            )));
        }
        let mut builder = self.client()?.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let timeout_ms = self.timeout.as_millis() as u64;
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                EdgeError::Timeout(timeout_ms)
            } else if e.is_connect() {
                let text = format!("{:?}", e);
                if text.contains("egress to") {
                    EdgeError::Refused(
                        "egress refused: the host resolves to a non-public address".into(),
                    )
                } else {
                    EdgeError::Connect(e.without_url().to_string())
                }
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
