//! `ApiError`: every error the API answers with, mapped once to problem+json (RFC 9457).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::domain::InvalidValue;
use crate::ports::StoreError;

pub use crate::aggregates::FieldError;

/// Every error the API answers with; each variant has one status and problem type.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or not the expected shape.
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but some fields are wrong; nothing was changed.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// 401: no valid token for the project (answered with `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthorized(String),
    /// 404: the resource named does not exist (or the route does not).
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the resource changed meanwhile, or something depends on it.
    #[error("{detail}")]
    Conflict {
        /// What conflicts and what to do about it.
        detail: String,
        /// Structured detail merged into the problem (only when an object), such as the
        /// dependents in the way.
        extra: Option<Value>,
    },
    /// 413: the body is over the route's limit.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The largest body the route accepts, in bytes.
        limit: usize,
    },
    /// 429: too many failed attempts; answered with `Retry-After`.
    #[error("{detail}")]
    TooManyRequests {
        /// What was limited.
        detail: String,
        /// Seconds until the limit no longer applies (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// 415: the body's content type is not the one the route reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503: a backing service did not answer; the detail is logged, the client is told
    /// to try again.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or corrupt data: logged in full, answered without internals.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 422 for one field, saying what is wrong with it.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "The request cannot be read",
            ),
            ApiError::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Some fields are invalid",
            ),
            ApiError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Not authorized for this project",
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "The body is too large",
            ),
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "A backing service is unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a Value>,
}

impl ApiError {
    /// What the answer's `detail` says: the message a caller sees (internals and
    /// unavailable services logged, not shown). MCP tool errors say the same.
    pub fn detail(&self) -> String {
        match self {
            ApiError::Invalid(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            // Internals stay in the log, not in the answer.
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "an internal error occurred; it has been logged".to_owned()
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(%detail, "backing service unavailable");
                "a backing service did not answer; try again".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let detail = self.detail();
        let errors: &[FieldError] = match &self {
            ApiError::Invalid(errors) => errors,
            _ => &[],
        };
        let extra = match &self {
            ApiError::Conflict { extra, .. } => extra.as_ref().filter(|v| v.is_object()),
            _ => None,
        };
        let body = Problem {
            kind: format!("/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail,
            errors,
            extra,
        };
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A use case's refusal, answered as the API answers it.
impl From<crate::aggregates::Error> for ApiError {
    fn from(e: crate::aggregates::Error) -> Self {
        use crate::aggregates::Error;
        match e {
            Error::Invalid(fields) => ApiError::Invalid(fields),
            Error::NotFound(m) => ApiError::NotFound(m),
            Error::Conflict { detail, extra } => ApiError::Conflict { detail, extra },
            Error::Unavailable(m) => ApiError::Unavailable(m),
            Error::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => ApiError::Unavailable(detail),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<InvalidValue> for ApiError {
    fn from(v: InvalidValue) -> Self {
        ApiError::Invalid(vec![v.into()])
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::Invalid(vec![FieldError {
                field: "body".into(),
                message: without_quoted_values(&e.body_text()),
            }]),
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::BadRequest(without_quoted_values(&e.body_text()))
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                "send the body as Content-Type: application/json".into(),
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
                limit: super::MAX_API_BODY_BYTES,
            },
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

/// serde quotes the offending value in its messages (`invalid type: string "..."`);
/// that value may be a secret sent in the wrong place, so it is cut out. Field names
/// are quoted with backticks and stay.
pub(super) fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_cut_from_parse_errors_but_field_names_stay() {
        let msg = "credentials: invalid type: string \"sk_live_123\", expected a map at line 1 column 9 `credentials`";
        let cleaned = without_quoted_values(msg);
        assert!(!cleaned.contains("sk_live_123"), "{cleaned}");
        assert!(cleaned.contains("`credentials`"));
    }
}
