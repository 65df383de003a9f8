//! The Lambda entry point shared by the four functions.
//!
//! One invocation is either an API Gateway HTTP API (payload 2.0) request, served by
//! the function's axum router, or an EventBridge event, given to its event handler.
//! The same [`invoke`] is what the tests feed the `events/` samples through.
//!
//! Failures of an event that another delivery could fix (a store that did not answer)
//! are returned as errors, so Lambda's asynchronous retries deliver it again; an event
//! that can never succeed is logged and answered, since retrying it only costs money.

use std::sync::Arc;

use axum::Router;
use base64::Engine;
use http_body_util::BodyExt;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::aws_lambda_events::encodings::Body as LambdaBody;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::ports::{BusEvent, EventHandler, HandlerError};

/// Why an invocation was not answered; Lambda reports it as the invocation's error.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The payload is neither an HTTP API (2.0) request nor an EventBridge event.
    #[error("the invocation payload is neither an HTTP API request nor an EventBridge event: {0}")]
    UnknownPayload(String),
    /// An EventBridge event reached a function that handles none.
    #[error("this function takes no EventBridge events")]
    NoEventHandler,
    /// The event's handler failed in a way another delivery could fix: Lambda's
    /// asynchronous retries deliver it again.
    #[error("temporary failure, retry: {0}")]
    Retryable(String),
    /// The router itself failed (it never does for a well-formed request).
    #[error("the router failed: {0}")]
    Router(String),
}

impl From<InvocationError> for Diagnostic {
    fn from(e: InvocationError) -> Self {
        let kind = match &e {
            InvocationError::Retryable(_) => "Retryable",
            InvocationError::UnknownPayload(_) | InvocationError::NoEventHandler => "Rejected",
            InvocationError::Router(_) => "Internal",
        };
        Diagnostic {
            error_type: kind.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Serves Lambda invocations until the runtime stops: HTTP requests with a function's
/// own router, bus events with its handler (execute-step's; the others pass `None`).
pub async fn serve(
    router: Router,
    events: Option<Arc<dyn EventHandler>>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let router = router.clone();
        let events = events.clone();
        async move { invoke(&router, events.as_deref(), event.payload).await }
    }))
    .await
}

fn is_eventbridge(payload: &Value) -> bool {
    payload.get("detail-type").is_some()
        && payload.get("source").is_some()
        && payload.get("detail").is_some()
}

/// Handles one invocation payload and returns what Lambda should answer.
pub async fn invoke(
    router: &Router,
    events: Option<&dyn EventHandler>,
    payload: Value,
) -> Result<Value, InvocationError> {
    if is_eventbridge(&payload) {
        let handler = events.ok_or(InvocationError::NoEventHandler)?;
        let event: BusEvent = serde_json::from_value(payload)
            .map_err(|e| InvocationError::UnknownPayload(e.to_string()))?;
        let detail_type = event.detail_type.clone();
        return match handler.handle(&event).await {
            Ok(outcome) => Ok(json!({"handled": true, "outcome": outcome})),
            Err(HandlerError::Retryable(why)) => Err(InvocationError::Retryable(why)),
            Err(error) => {
                tracing::error!(%detail_type, %error, "event not handled");
                Ok(json!({"handled": false, "error": error.to_string()}))
            }
        };
    }
    let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)
        .map_err(|e| InvocationError::UnknownPayload(e.to_string()))?;
    let request: http::Request<LambdaBody> = request.into();
    let (parts, body) = request.into_parts();
    let body = match body {
        LambdaBody::Empty => axum::body::Body::empty(),
        LambdaBody::Text(text) => axum::body::Body::from(text),
        LambdaBody::Binary(bytes) => axum::body::Body::from(bytes),
        _ => axum::body::Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(http::Request::from_parts(parts, body))
        .await
        .map_err(|e| InvocationError::Router(e.to_string()))?;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| InvocationError::Router(e.to_string()))?
        .to_bytes();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    match String::from_utf8(bytes.to_vec()) {
        Ok(text) if !text.is_empty() => out.body = Some(LambdaBody::Text(text)),
        Ok(_) => {}
        Err(e) => {
            out.body = Some(LambdaBody::Text(
                base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
            ));
            out.is_base64_encoded = true;
        }
    }
    serde_json::to_value(out).map_err(|e| InvocationError::Router(e.to_string()))
}

pub use lambda_runtime::Error;
