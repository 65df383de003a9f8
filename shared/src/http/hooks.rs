//! `POST /hooks/{project}/{integration}` (ingest-webhook): public, relies on the
//! provider's signature. Unknown targets and oversized bodies are answered now;
//! verification answers 501 until the webhook verifiers land, and until then nothing
//! from the body is parsed, stored or published.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{ApiError, AppState};
use crate::domain::{IntegrationName, ProjectId, keys};
use crate::ports::Key;

pub async fn receive(
    State(state): State<AppState>,
    Path((project, integration)): Path<(String, String)>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<StatusCode, ApiError> {
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
    let unknown = || ApiError::NotFound("no such webhook endpoint".into());
    let project = ProjectId::parse(&project).map_err(|_| unknown())?;
    let integration = IntegrationName::parse(&integration).map_err(|_| unknown())?;
    let pk = keys::project(&project);
    if state
        .deps
        .store
        .get(&Key::new(pk.clone(), keys::META))
        .await?
        .is_none()
    {
        return Err(unknown());
    }
    if state
        .deps
        .store
        .get(&Key::new(pk, keys::integration(&integration)))
        .await?
        .is_none()
    {
        return Err(unknown());
    }
    Err(ApiError::not_implemented("webhook signature verification"))
}
