//! `POST /projects/{project}/integrations/{name}/webhook-verification-token`: shows the
//! user, once, the verification tokens the webhook URL received in Notion's unsigned
//! handshake (Notion's own, and any a stranger sent), each with when and where from
//! it came. The work (and why this one response carries a secret) is in
//! [`crate::aggregates::integrations::verification_token`].
//!
//! It is a POST because reading the token removes it: a GET must not change anything,
//! and caches and prefetchers replay GETs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

#[cfg(feature = "openapi")]
use super::openapi::{
    Conflict, Internal, Invalid, NotFound, RevealedHandshakes, Unauthorized, Unavailable,
};
use super::{ApiError, AppState, Origin, auth};
use crate::aggregates::integrations::verification_token::{self, Asker};
use crate::domain::IntegrationName;

/// Reveals the pending Notion verification tokens, once.
///
/// Answered with `Cache-Control: no-store`: every handshake kept (`handshakes`: token,
/// arrival time, source address, oldest first), a `warning` when there is more than
/// one, and, when there is exactly one, its fields at the top level too.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/projects/{project}/integrations/{name}/webhook-verification-token",
    operation_id = "revealWebhookVerificationToken",
    params(
        ("project" = String, Path, description = "The project's id"),
        ("name" = String, Path, description = "The integration's name in the project"),
    ),
    responses(
        (status = 200, description = "The pending handshakes, shown once", body = RevealedHandshakes,
            headers(("Cache-Control" = String, description = "`no-store`: the answer carries a token"))),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("projectToken" = []), ("jwt" = [])),
))]
pub async fn reveal(
    State(state): State<AppState>,
    caller: auth::Caller,
    Path((project, name)): Path<(String, String)>,
    origin: Origin,
) -> Result<Response, ApiError> {
    let project = auth::authorize(&state.deps, &caller, &project).await?;
    let name = IntegrationName::parse(&name)?;
    let asker = Asker {
        request_id: origin.request_id,
        caller: caller_of(&caller),
    };
    let revealed = verification_token::reveal(&state.deps, &project.id, &name, asker).await?;
    let mut handshakes = Vec::with_capacity(revealed.handshakes.len());
    for handshake in &revealed.handshakes {
        let token = handshake
            .token()
            .ok_or_else(|| ApiError::Internal("a revealed token went missing".into()))?;
        handshakes.push(json!({
            "verification_token": token.expose_secret(),
            "received_at": handshake.received_at,
            "source": handshake.source,
        }));
    }
    let mut body = json!({"handshakes": handshakes, "next": revealed.next});
    if let [only] = handshakes.as_slice() {
        for field in ["verification_token", "received_at", "source"] {
            body[field] = only[field].clone();
        }
    }
    if let Some(warning) = &revealed.warning {
        body["warning"] = json!(warning);
    }
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // `revealed` (and its redactor registrations) lives until here, past the response's
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
