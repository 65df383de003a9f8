//! `POST /projects/{project}/integrations/{name}/webhook-verification-token`: shows the
//! user, once, the verification token Notion sent when the webhook subscription was
//! created. The work (and why this one response carries a secret) is in
//! [`crate::aggregates::integrations::verification_token`].
//!
//! It is a POST because reading the token removes it: a GET must not change anything,
//! and caches and prefetchers replay GETs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{ApiError, AppState, auth};
use crate::aggregates::integrations::verification_token::{self, Asker};
use crate::domain::IntegrationName;

/// Reveals the pending Notion verification token, once, with `Cache-Control: no-store`.
pub async fn reveal(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    let asker = Asker {
        request_id: super::hooks::request_id(&headers),
        caller: caller_of(&caller),
    };
    let revealed = verification_token::reveal(&state.deps, &project.id, &name, asker).await?;
    let token = revealed
        .token()
        .ok_or_else(|| ApiError::Internal("a revealed token went missing".into()))?;
    let body = json!({
        "verification_token": token.expose_secret(),
        "received_at": revealed.received_at,
        "next": revealed.next,
    });
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // `revealed` (and its redactor registration) lives until here, past the response's
    // construction.
    drop(revealed);
    Ok(response)
}

/// Who asked, for the audit record: the JWT's subject on AWS, the project token locally.
fn caller_of(caller: &auth::Caller) -> Value {
    match caller {
        auth::Caller::Jwt { subject, .. } => json!({"jwt_subject": subject}),
        auth::Caller::Token(_) => json!("project API token"),
        auth::Caller::Anonymous => Value::Null,
    }
}
