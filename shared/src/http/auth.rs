//! Who may act on a project.
//!
//! - On AWS, API Gateway's JWT authorizer has verified the caller's token before the
//!   function runs; its `projects` claim (project ids separated by spaces or commas)
//!   names the projects the caller may act on.
//! - Locally (and for callers without a JWT), the project's API token, issued once
//!   when the project is created, is sent as `Authorization: Bearer ...`; only its
//!   SHA-256 is stored.
//!
//! Claims can only come from the Lambda request context, which only API Gateway sets:
//! nothing a client sends over a socket can put them there. An unknown project and a
//! refused caller get the same answer, so the API does not tell strangers which
//! projects exist.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;

use super::ApiError;
use crate::domain::{Project, ProjectId};
use crate::ports::Deps;

pub use crate::domain::hash_token;

/// The caller of a request, as far as the request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Verified by API Gateway's JWT authorizer: the projects its claim names.
    Jwt {
        /// The token's `sub` claim, for the log; `None` when it has none.
        subject: Option<String>,
        /// The project ids of the `projects` claim.
        projects: Vec<String>,
    },
    /// A bearer token to check against the project's token hash.
    Token(String),
    /// Neither: no claims and no bearer token; refused on every project route.
    Anonymous,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(RequestContext::ApiGatewayV2(context)) =
            parts.extensions.get::<RequestContext>()
            && let Some(jwt) = context.authorizer.as_ref().and_then(|a| a.jwt.as_ref())
        {
            let projects = jwt
                .claims
                .get("projects")
                .map(|p| {
                    p.split([' ', ','])
                        .map(|s| s.trim_matches(|c| c == '[' || c == ']' || c == '"'))
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            return Ok(Caller::Jwt {
                subject: jwt.claims.get("sub").cloned(),
                projects,
            });
        }
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        Ok(match token {
            Some(token) => Caller::Token(token.to_owned()),
            None => Caller::Anonymous,
        })
    }
}

/// Checks that the caller may act on the project, and returns the project.
pub async fn authorize(deps: &Deps, caller: &Caller, project: &str) -> Result<Project, ApiError> {
    let denied = || ApiError::Unauthorized("the caller may not act on this project".into());
    if *caller == Caller::Anonymous {
        return Err(ApiError::Unauthorized(
            "send the project's API token as Authorization: Bearer <token>".into(),
        ));
    }
    let id = ProjectId::parse(project).map_err(|_| denied())?;
    if let Caller::Jwt { projects, .. } = caller
        && !projects.iter().any(|p| p == id.as_str())
    {
        return Err(denied());
    }
    let found: Project = crate::aggregates::projects::get(deps, &id)
        .await?
        .ok_or_else(denied)?;
    if let Caller::Token(token) = caller {
        // Comparing digests: timing can reveal at most how much of a hash matched,
        // never the token.
        if found.token_sha256 != hash_token(token) {
            return Err(denied());
        }
    }
    Ok(found)
}
