//! The edges: `LiveEdge` sends with reqwest; `SandboxEdge` records and never sends.
//!
//! The live edge refuses requests to loopback, private, link-local (the cloud metadata
//! address 169.254.169.254), shared, multicast and other non-public addresses unless
//! the configured allow-list names the host or its network. The check runs on every
//! address the name resolves to, inside reqwest's resolver, so the address that is
//! checked is the address that is connected to (no DNS-rebinding gap); IP literals in
//! URLs are checked before any connection.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{Edge, EdgeError, EdgeOutcome, OutboundRequest, OutboundResponse};

/// Largest provider response read into memory; a bigger one is an error, not an OOM.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Which non-public destinations live calls may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    hosts: Vec<String>,
    networks: Vec<(IpAddr, u8)>,
}

impl EgressPolicy {
    /// Parses a comma-separated allow-list: host names, IP addresses, CIDR networks
    /// (`localhost,127.0.0.1,10.0.0.0/8`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut policy = Self::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some((ip, bits)) = entry.split_once('/') {
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| format!("{entry:?} is not a CIDR network"))?;
                let bits: u8 = bits
                    .parse()
                    .map_err(|_| format!("{entry:?} has a bad prefix length"))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if bits > max {
                    return Err(format!("{entry:?} has a prefix longer than {max}"));
                }
                policy.networks.push((ip, bits));
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                policy
                    .networks
                    .push((ip, if ip.is_ipv4() { 32 } else { 128 }));
            } else {
                policy.hosts.push(entry.to_ascii_lowercase());
            }
        }
        Ok(policy)
    }

    fn allows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        if is_public(ip) {
            return true;
        }
        self.networks
            .iter()
            .any(|(net, bits)| in_network(ip, *net, *bits))
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || (first == 0x2001 && v6.segments()[1] == 0xdb8)) // documentation
        }
    }
}

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

pub struct LiveEdge {
    client: reqwest::Client,
    timeout: Duration,
    policy: Arc<EgressPolicy>,
}

impl LiveEdge {
    pub fn new(timeout: Duration) -> Result<Self, EdgeError> {
        Self::with_policy(timeout, EgressPolicy::default())
    }

    pub fn with_policy(timeout: Duration, policy: EgressPolicy) -> Result<Self, EdgeError> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: Arc::clone(&policy),
            }))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // Redirects could carry credentials to another host; a provider API that
            // redirects is reported, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("studio-integrations/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EdgeError::Invalid(format!("http client: {e}")))?;
        Ok(Self {
            client,
            timeout,
            policy,
        })
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
        if let Some(ip) = literal {
            if !self.policy.allows_ip(ip) {
                return Err(EdgeError::Refused(format!(
                    "egress to {ip} refused: not a public address and not on the allow-list"
                )));
            }
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
