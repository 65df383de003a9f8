//! Where a request came from, as far as the server can tell: an id for its audit
//! records and the address it came from.
//!
//! On Lambda both come from API Gateway's request context (its `requestId` and
//! `http.sourceIp`), which the caller cannot set. Locally the address is the
//! connection's peer (the local binary serves with connect info) and the id comes from
//! `x-amzn-requestid` or `x-request-id`, checked as a [`RequestId`]: a header that does
//! not pass is not stored, and an id is made up instead. A proxy's `x-forwarded-for`
//! is not trusted: anyone can send one.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use http::{Extensions, HeaderMap};
use lambda_http::request::RequestContext;

use crate::domain::RequestId;

/// The headers a request id is taken from, in order, when API Gateway gave none.
const ID_HEADERS: [&str; 3] = ["x-amzn-requestid", "x-request-id", "x-amzn-trace-id"];

/// A request's id and source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// API Gateway's id, else a checked header's, else one made up.
    pub request_id: RequestId,
    /// API Gateway's source IP, else the connection's peer; none in tests that call
    /// the router directly.
    pub source: Option<IpAddr>,
}

impl Origin {
    /// The origin of a request with these headers and extensions.
    pub fn of(headers: &HeaderMap, extensions: &Extensions) -> Self {
        let (context_id, context_ip) = match extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => (
                context.request_id.as_deref(),
                context.http.source_ip.as_deref(),
            ),
            _ => (None, None),
        };
        let from_headers = ID_HEADERS
            .iter()
            .filter_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()));
        let request_id = RequestId::first_valid(context_id.into_iter().chain(from_headers));
        let source = context_ip
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .or_else(|| {
                extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(peer)| peer.ip())
            });
        Self { request_id, source }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self::of(&parts.headers, &parts.extensions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[test]
    fn a_safe_request_id_header_is_kept_and_an_unsafe_or_long_one_never_is() {
        let kept = Origin::of(
            &headers(&[("x-request-id", "req-1.a:b_c")]),
            &Extensions::new(),
        );
        assert_eq!(kept.request_id.as_str(), "req-1.a:b_c");
        let long = "a".repeat(60 * 1024);
        for bad in [long.as_str(), "req 1", "req\"1", "<script>", "a/b", "é"] {
            let Ok(value) = HeaderValue::from_str(bad) else {
                continue;
            };
            let mut map = HeaderMap::new();
            map.insert("x-request-id", value.clone());
            map.insert("x-amzn-requestid", value);
            let origin = Origin::of(&map, &Extensions::new());
            assert_ne!(origin.request_id.as_str(), bad);
            assert!(origin.request_id.as_str().len() <= RequestId::MAX_LEN);
            assert!(uuid::Uuid::parse_str(origin.request_id.as_str()).is_ok());
        }
        // A bad first header does not hide a good second one.
        let mixed = Origin::of(
            &headers(&[("x-amzn-requestid", "no spaces"), ("x-request-id", "ok-2")]),
            &Extensions::new(),
        );
        assert_eq!(mixed.request_id.as_str(), "ok-2");
    }

    #[test]
    fn the_peer_address_is_the_source_and_a_forwarded_for_header_is_not() {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 7], 40_000))));
        let origin = Origin::of(&headers(&[("x-forwarded-for", "10.9.9.9")]), &extensions);
        assert_eq!(origin.source, Some(IpAddr::from([198, 51, 100, 7])));
        assert_eq!(
            Origin::of(&HeaderMap::new(), &Extensions::new()).source,
            None
        );
    }

    #[test]
    fn on_lambda_api_gateways_request_id_and_source_ip_win() {
        let context: lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext =
            serde_json::from_value(serde_json::json!({
                "requestId": "Qx13demoIAMEJQ=",
                "http": {"method": "POST", "sourceIp": "203.0.113.10"},
            }))
            .expect("context");
        let mut extensions = Extensions::new();
        extensions.insert(RequestContext::ApiGatewayV2(context));
        let origin = Origin::of(
            &headers(&[("x-request-id", "from-the-caller")]),
            &extensions,
        );
        assert_eq!(origin.source, Some(IpAddr::from([203, 0, 113, 10])));
        assert_eq!(origin.request_id.as_str(), "Qx13demoIAMEJQ=");
    }
}
