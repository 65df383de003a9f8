//! The edges: `LiveEdge` (in `live_edge.rs`) sends with reqwest; `SandboxEdge` records
//! and never sends; `NoLiveEdge` stands in where a binary makes no outbound call.
//!
//! The live edge refuses requests to loopback, private, link-local (the cloud metadata
//! address 169.254.169.254), shared, multicast and other non-public addresses unless
//! the configured allow-list ([`crate::egress::EgressPolicy`]) names the host or its
//! network. The check runs on every address the name resolves to, inside reqwest's
//! resolver, so the address that is checked is the address that is connected to (no
//! DNS-rebinding gap); IP literals in URLs are checked before any connection.

use async_trait::async_trait;

use crate::ports::{Edge, EdgeError, EdgeOutcome, OutboundRequest};

/// Sends nothing: in sandbox mode this is the only edge the runtime holds, so no code
/// path above it can reach the network. The caller records the request it handed over
/// as the "would have sent" trace.
#[derive(Debug, Default)]
pub struct SandboxEdge;

#[async_trait]
impl Edge for SandboxEdge {
    async fn send(&self, request: &OutboundRequest) -> Result<EdgeOutcome, EdgeError> {
        url::Url::parse(&request.url).map_err(|e| EdgeError::Invalid(format!("url: {e}")))?;
        Ok(EdgeOutcome::WouldHaveSent)
    }
}

/// The live edge of a function that calls no provider (`app::no_live_edge`): every send
/// is refused, nothing is attempted.
#[derive(Debug, Default)]
pub struct NoLiveEdge;

#[async_trait]
impl Edge for NoLiveEdge {
    async fn send(&self, _request: &OutboundRequest) -> Result<EdgeOutcome, EdgeError> {
        Err(EdgeError::Refused(
            "this function makes no outbound calls (it is built with app::no_live_edge)".into(),
        ))
    }
}
