//! Who may act on a project: the holder of the project's API token.
//!
//! The token is issued once when the project is created; only its SHA-256 is stored.
//! An unknown project and a wrong token get the same answer, so the API does not tell
//! strangers which projects exist.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::domain::{Project, ProjectId, keys};
use crate::ports::{Deps, Key};

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks the bearer token against the project and returns the project.
pub async fn authorize(
    deps: &Deps,
    headers: &HeaderMap,
    project: &str,
) -> Result<Project, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "send the project's API token as Authorization: Bearer <token>".into(),
            )
        })?;
    let denied =
        || ApiError::Unauthorized("the token does not grant access to this project".into());
    let id = ProjectId::parse(project).map_err(|_| denied())?;
    let item = deps
        .store
        .get(&Key::new(keys::project(&id), keys::META))
        .await?
        .ok_or_else(denied)?;
    let found: Project = item.parse()?;
    // Comparing digests: timing can reveal at most how much of a hash matched, never
    // the token.
    if found.token_sha256 != hash_token(token) {
        return Err(denied());
    }
    Ok(found)
}
