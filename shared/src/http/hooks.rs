//! `POST /hooks/{project}/{integration}` (ingest-webhook): public, relies on the
//! provider's signature. The work is in [`crate::webhooks`]; this route hands it the
//! raw request and answers as API.md says: 200 once verified and recorded (a duplicate
//! too), 401 for a bad or missing signature, a stale timestamp, or an unknown target
//! (one answer for all of them, [`REFUSED`]: it does not tell a stranger which
//! integrations exist; the reason is in the log), 429 with `Retry-After` past the limit
//! of failed verifications, 400 for a body that cannot be read, 413 past the size
//! limit.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

#[cfg(feature = "openapi")]
use super::openapi::{
    BadRequest, Internal, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable,
    WebhookAnswer,
};
use super::{ApiError, AppState, Origin};
use crate::webhooks::{self, Delivery, Outcome, WebhookError};

/// The URL as the provider wrote it: the scheme and host the request was forwarded for
/// (API Gateway and proxies set X-Forwarded-Proto and Host), then the path and query as
/// received. Only schemes that sign the URL (Twilio, HubSpot) read it.
fn public_url(headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let scheme = first("x-forwarded-proto")
        .or_else(|| uri.scheme_str().map(str::to_owned))
        .unwrap_or_else(|| "http".into());
    let host = first("x-forwarded-host")
        .or_else(|| first("host"))
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{scheme}://{host}{path}")
}

/// The detail of every 401 of this route, whatever the reason: an unknown target, a
/// missing, forged or stale signature, no secret set.
pub const REFUSED: &str =
    "this delivery could not be verified for this webhook URL; the receiver's log says why";

/// The detail of every 429 of this route.
pub const LIMITED: &str = "too many deliveries to this webhook URL failed verification; try again after Retry-After seconds";

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Unauthorized(_) => ApiError::Unauthorized(REFUSED.into()),
            WebhookError::Limited {
                retry_after_secs, ..
            } => ApiError::TooManyRequests {
                detail: LIMITED.into(),
                retry_after_secs,
            },
            WebhookError::Unreadable(m) => ApiError::BadRequest(m),
            WebhookError::Unavailable(m) => ApiError::Unavailable(m),
            WebhookError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// Receives a provider's webhook delivery.
///
/// The delivery is verified with the integration's secret, then recorded (a duplicate
/// delivery is acknowledged and ignored). Public: no token, the provider's signature instead (the headers below, by provider).
/// Every refusal, whatever the reason (an unknown project or integration, a missing,
/// forged or stale signature), is the same 401.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/hooks/{project}/{integration}",
    operation_id = "receiveWebhook",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("integration" = String, Path, description = "The integration's name in the project"),
    ),
    request_body(description = "The delivery as the provider sends it: JSON, form fields (Twilio), or empty (Google Calendar, whose event is in its headers)",
        content(("application/json"), ("application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Verified and recorded (or a duplicate, acknowledged)", body = WebhookAnswer),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(()),
))]
pub async fn receive(
    State(state): State<AppState>,
    Path((project, integration)): Path<(String, String)>,
    origin: Origin,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: state.max_webhook_bytes,
            }
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })?;
    if body.len() > state.max_webhook_bytes {
        return Err(ApiError::PayloadTooLarge {
            limit: state.max_webhook_bytes,
        });
    }
    let delivery = Delivery {
        project,
        integration,
        method: method.as_str().to_owned(),
        url: public_url(&headers, &uri),
        request_id: origin.request_id,
        source: origin.source,
        headers,
        body,
    };
    let answer = match webhooks::ingest(&state.deps, delivery).await? {
        // Slack reads the challenge back from a JSON body.
        Outcome::Challenge { challenge } => json!({ "challenge": challenge }),
        outcome => serde_json::to_value(&outcome).unwrap_or(Value::Null),
    };
    Ok((StatusCode::OK, Json(answer)))
}
