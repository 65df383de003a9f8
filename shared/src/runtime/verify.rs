//! The connection check: the provider's `verify` request (one cheap read declared in its
//! catalog file, or in a Custom HTTP declaration) sent live, to say whether an
//! integration's credentials work.
//!
//! The request is built by [`request::build_request`] from the declaration alone, like
//! a step's; live, the credentials are opened through the audited vault (purpose
//! `verification_call`), an OAuth or SMART token is made fresh the way a step's is, and
//! the request goes once through the live edge (which enforces the egress policy),
//! bounded by [`TIMEOUT`]. The answer carries the provider's own error message masked
//! with the credentials' redactor, and a hint derived from the status and the body. In
//! sandbox nothing is opened or sent: the answer is the masked request.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::{provider_of, reported_error, request};
use crate::catalog::{Encoding, Operation, Provider, Verify};
use crate::domain::{AuditPurpose, Integration, IntegrationName, ProjectId, RunMode};
use crate::ports::{Deps, EdgeError, EdgeOutcome, OutboundResponse};
use crate::redact::Redactor;

/// The longest a check waits for the provider: a person is waiting for the answer, and
/// a working API answers a cheap read well within it.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The longest provider message an answer repeats.
const MAX_REASON_CHARS: usize = 300;

/// Where providers put their error message, tried in order (Stripe's and Intercom's
/// `error.message`, Slack's `error`, GraphQL's and SendGrid's `errors[0].message`,
/// OAuth's `error_description`, FHIR's OperationOutcome, Postmark's `Message`...).
const MESSAGE_POINTERS: [&str; 9] = [
    "/error/message",
    "/error_description",
    "/errors/0/message",
    "/message",
    "/Message",
    "/detail",
    "/issue/0/diagnostics",
    "/error",
    "/title",
];

/// Where a provider names the scope a call needed (Slack's `needed`).
const SCOPE_POINTERS: [&str; 4] = ["/needed", "/required_scope", "/missing_scope", "/scope"];

/// Why a check could not be made at all (a check made, whatever it found, is a
/// [`Verification`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// The project has no integration of that name.
    #[error("{0}")]
    NotFound(String),
    /// The provider declares no verify request, or it cannot be built from the
    /// integration's config: there is nothing to check.
    #[error("{0}")]
    NothingToCheck(String),
    /// The store or the key service did not answer; worth retrying.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or stored data that does not read.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a live check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checked {
    /// Whether the credentials work: the provider answered an expected status and
    /// reported no error in it.
    pub ok: bool,
    /// The provider's status; absent when no answer came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The request sent, as `METHOD URL` with credentials masked.
    pub checked: String,
    /// How long the request took, in milliseconds.
    pub took_ms: u64,
    /// Why the check failed: the provider's message (masked), or the transport's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the failure most likely means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// What a check answers: live, what it found; in sandbox, the request it would send.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Verification {
    /// The request was sent.
    Live(Checked),
    /// Nothing was sent.
    Sandbox {
        /// Always `sandbox`.
        mode: RunMode,
        /// Always false: the sandbox sends nothing.
        sent: bool,
        /// The request that would be sent, as `METHOD URL`, credentials masked.
        checked: String,
        /// The whole request (method, URL, headers, body), credentials masked.
        request: Value,
        /// The statuses that would mean the credentials work.
        expect_status: Vec<u16>,
    },
}

/// The verify request as an operation, so it is built exactly as a step's request is.
fn operation_of(verify: &Verify) -> Operation {
    Operation {
        id: "verify".into(),
        name: "verify".into(),
        description: "the connection check".into(),
        phrases: vec![],
        method: verify.method,
        path: verify.path.clone(),
        query: Default::default(),
        headers: Default::default(),
        encoding: Encoding::None,
        graphql: None,
        body_field: None,
        defaults: Default::default(),
        quote: Default::default(),
        input_schema: json!({"type": "object"}),
        response_schema: json!({}),
        success_status: verify.expect_status.first().copied().unwrap_or(200),
        empty_response: false,
        schema_source: None,
        side_effects: false,
        destructive: false,
        idempotency_header: None,
        rate_limit_headers: vec![],
        error_when: verify.error_when.clone(),
        entity: None,
        compile: None,
        sample_input: json!({}),
        sample_response: json!({}),
        sample_responses_by: None,
    }
}

/// Checks the named integration's credentials: live, by sending its provider's verify
/// request; in sandbox, by showing the request that would be sent.
///
/// # Errors
/// [`VerifyError`] when there is no such integration or nothing to check, or a backing
/// service failed; a check that was made answers `Ok` whatever it found.
pub async fn verify(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
    mode: RunMode,
) -> Result<Verification, VerifyError> {
    let integration = crate::aggregates::integrations::get(deps, project, name)
        .await
        .map_err(|e| VerifyError::Unavailable(e.to_string()))?
        .ok_or_else(|| {
            VerifyError::NotFound(format!("the project has no integration named {name}"))
        })?;
    let provider = provider_of(&integration).map_err(|e| VerifyError::Internal(e.to_string()))?;
    let verify = provider.verify.as_ref().ok_or_else(|| {
        VerifyError::NothingToCheck(
            "this integration declares no verify request; there is nothing to check".into(),
        )
    })?;
    let operation = operation_of(verify);
    let masked = build(
        &provider,
        &operation,
        &integration,
        request::CredentialValues::Masked,
    )
    .map_err(|e| VerifyError::NothingToCheck(format!("the verify request cannot be built: {e}")))?;
    let checked = format!("{} {}", masked.method, masked.url);
    match mode {
        RunMode::Sandbox => {
            match deps.sandbox_edge.send(&masked).await {
                Ok(EdgeOutcome::WouldHaveSent) => {}
                Ok(EdgeOutcome::Sent(_)) => {
                    return Err(VerifyError::Internal(
                        "the sandbox edge sent a request".into(),
                    ));
                }
                Err(e) => return Err(VerifyError::NothingToCheck(e.to_string())),
            }
            Ok(Verification::Sandbox {
                mode,
                sent: false,
                checked,
                request: super::request_view(&masked),
                expect_status: verify.expect_status.clone(),
            })
        }
        RunMode::Live => {
            let found = check_live(deps, project, &provider, &operation, &integration, checked);
            Ok(Verification::Live(found.await?))
        }
    }
}

fn build(
    provider: &Provider,
    operation: &Operation,
    integration: &Integration,
    values: request::CredentialValues<'_>,
) -> Result<crate::ports::OutboundRequest, request::RequestError> {
    request::build_request(
        provider,
        operation,
        &json!({}),
        &integration.config,
        values,
        None,
    )
}

/// Opens the credentials (audited), makes a token fresh where the provider uses one,
/// sends the request once and reads the answer.
async fn check_live(
    deps: &Deps,
    project: &ProjectId,
    provider: &Provider,
    operation: &Operation,
    integration: &Integration,
    checked: String,
) -> Result<Checked, VerifyError> {
    let cause = json!({"check": "verify", "request": checked});
    let failed = |reason: String, hint: &str| Checked {
        ok: false,
        status: None,
        checked: checked.clone(),
        took_ms: 0,
        reason: Some(reason),
        hint: Some(hint.to_owned()),
    };
    let credentials = crate::vault::open_for(
        deps,
        project,
        integration,
        AuditPurpose::VerificationCall,
        cause.clone(),
    )
    .await
    .map_err(|e| VerifyError::Unavailable(format!("credentials unavailable: {e}")))?;
    let redactor = credentials.redactor();
    let credentials = match super::fresh(deps, project, provider, integration, credentials, cause)
        .await
    {
        Ok(credentials) => credentials,
        Err(e) => {
            return Ok(failed(
                format!("no access token: {}", redactor.text(&e)),
                "the token could not be obtained or refreshed: connect the integration again or check its client credentials",
            ));
        }
    };
    // A fresh token is a new secret; the fresh credentials hold it with the others.
    let redactor = credentials.redactor();
    let request = build(
        provider,
        operation,
        integration,
        request::CredentialValues::Real(&credentials),
    )
    .map_err(|e| VerifyError::NothingToCheck(redactor.text(&e.to_string())))?;
    drop(credentials);
    let started = Instant::now();
    let sent = tokio::time::timeout(TIMEOUT, deps.live_edge.send(&request)).await;
    drop(request);
    let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let outcome = match sent {
        Ok(Ok(EdgeOutcome::Sent(response))) => {
            read_answer(provider, operation, &response, &redactor, &checked)
        }
        Ok(Ok(EdgeOutcome::WouldHaveSent)) => {
            return Err(VerifyError::Internal("the live edge did not send".into()));
        }
        Ok(Err(e)) => failed(redactor.text(&e.to_string()), transport_hint(&e)),
        Err(_) => failed(
            format!("timed out after {} ms", TIMEOUT.as_millis()),
            transport_hint(&EdgeError::Timeout(0)),
        ),
    };
    Ok(Checked { took_ms, ..outcome })
}

/// What a transport failure most likely means.
fn transport_hint(error: &EdgeError) -> &'static str {
    match error {
        EdgeError::Refused(_) => {
            "the egress policy does not allow this address; a provider must be reachable on a public address"
        }
        EdgeError::Timeout(_) => {
            "the provider did not answer in time: check the base URL, or try again later"
        }
        EdgeError::Connect(_) => "the provider could not be reached: check the base URL",
        EdgeError::Invalid(_) | EdgeError::Transport(_) => {
            "the exchange with the provider failed: check the base URL, or try again later"
        }
    }
}

/// Reads the provider's answer: an expected status with no error reported in it is
/// success; otherwise its message (masked) and a hint.
fn read_answer(
    provider: &Provider,
    operation: &Operation,
    response: &OutboundResponse,
    redactor: &Redactor,
    checked: &str,
) -> Checked {
    let status = response.status;
    let body: Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into_owned()));
    let body = redactor.json(&body);
    let reported = operation
        .error_when
        .as_ref()
        .and_then(|rule| reported_error(rule, &body));
    let expected = provider
        .verify
        .as_ref()
        .is_some_and(|v| v.expect_status.contains(&status));
    let ok = expected && reported.is_none();
    let reason = (!ok).then(|| {
        let message = reported
            .map(|m| m.trim_matches('"').to_owned())
            .or_else(|| provider_message(&body))
            .unwrap_or_else(|| format!("{} answered {status}", provider.display_name));
        redactor.text(&truncate(&message))
    });
    let hint = if ok {
        None
    } else {
        hint(status, &body, reason.as_deref().unwrap_or_default())
    };
    Checked {
        ok,
        status: Some(status),
        checked: checked.to_owned(),
        took_ms: 0,
        reason,
        hint,
    }
}

/// The provider's error message: the first of [`MESSAGE_POINTERS`] that holds text, or
/// the body itself when it is short text.
fn provider_message(body: &Value) -> Option<String> {
    MESSAGE_POINTERS
        .iter()
        .find_map(|p| body.pointer(p).and_then(Value::as_str))
        .map(str::to_owned)
        .or_else(|| {
            body.as_str()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        })
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_REASON_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// What a failed check most likely means, from its status, and for a 403 the scope the
/// provider names (a field such as Slack's `needed`, or a quoted name after the word
/// "scope" in its message).
fn hint(status: u16, body: &Value, reason: &str) -> Option<String> {
    let hint = match status {
        401 => "the key is wrong or revoked".to_owned(),
        403 => match named_scope(body, reason) {
            Some(scope) => format!("the key lacks scope {scope}"),
            None => "the key works but lacks a permission this check needs".to_owned(),
        },
        404 => "what the check reads was not found: check the integration's config".to_owned(),
        429 => "the provider is limiting the rate of calls; try again later".to_owned(),
        500..=599 => "the provider had a problem; try again later".to_owned(),
        200..=299 => "the provider reported an error: see the reason".to_owned(),
        _ => return None,
    };
    Some(hint)
}

fn named_scope(body: &Value, reason: &str) -> Option<String> {
    if let Some(scope) = SCOPE_POINTERS
        .iter()
        .find_map(|p| body.pointer(p).and_then(Value::as_str))
    {
        return Some(scope.to_owned());
    }
    let lower = reason.to_ascii_lowercase();
    let after = &reason[lower.find("scope")? + "scope".len()..];
    let open = after.find(['\'', '"', '`'])?;
    if open > 40 {
        return None;
    }
    let quote = after[open..].chars().next()?;
    let rest = &after[open + 1..];
    let name = &rest[..rest.find(quote)?];
    (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_403_names_the_scope_the_provider_names() {
        assert_eq!(
            hint(
                403,
                &json!({"ok": false, "error": "missing_scope", "needed": "chat:write"}),
                "missing_scope"
            ),
            Some("the key lacks scope chat:write".into())
        );
        let reason =
            "The provided key does not have the required scope 'customers.read' for this endpoint";
        assert_eq!(
            hint(403, &json!({}), reason),
            Some("the key lacks scope customers.read".into())
        );
        assert_eq!(
            hint(403, &json!({}), "forbidden"),
            Some("the key works but lacks a permission this check needs".into())
        );
    }

    fn answer(provider: &Provider, status: u16, body: Value) -> Checked {
        let verify = provider.verify.as_ref().expect("declares a check");
        let response = OutboundResponse {
            status,
            headers: vec![],
            body: body.to_string().into_bytes(),
        };
        let redactor = Redactor::new(["xoxb-canary-slack-token-77".to_owned()]);
        read_answer(
            provider,
            &operation_of(verify),
            &response,
            &redactor,
            "GET /",
        )
    }

    #[test]
    fn slacks_200_with_ok_false_is_a_failed_check_with_its_error() {
        let slack = crate::catalog::catalog()
            .expect("catalog")
            .get("slack")
            .expect("slack");
        let failed = answer(slack, 200, json!({"ok": false, "error": "invalid_auth"}));
        assert!(!failed.ok);
        assert_eq!(failed.reason.as_deref(), Some("invalid_auth"));
        let passed = answer(slack, 200, json!({"ok": true, "team": "Clinic"}));
        assert!(passed.ok);
        assert_eq!(passed.reason, None);
    }

    #[test]
    fn a_status_the_check_does_not_expect_fails_it_and_the_message_is_masked() {
        let stripe = crate::catalog::catalog()
            .expect("catalog")
            .get("stripe")
            .expect("stripe");
        let failed = answer(
            stripe,
            401,
            json!({"error": {"message": "Invalid API Key provided: xoxb-canary-slack-token-77"}}),
        );
        assert!(!failed.ok);
        assert_eq!(failed.status, Some(401));
        assert_eq!(
            failed.reason.as_deref(),
            Some("Invalid API Key provided: [redacted]")
        );
        assert_eq!(failed.hint.as_deref(), Some("the key is wrong or revoked"));
    }

    #[test]
    fn the_providers_message_is_read_where_providers_put_it() {
        for (body, message) in [
            (
                json!({"error": {"message": "Invalid API Key provided"}}),
                "Invalid API Key provided",
            ),
            (
                json!({"ok": false, "error": "invalid_auth"}),
                "invalid_auth",
            ),
            (
                json!({"errors": [{"message": "authentication required"}]}),
                "authentication required",
            ),
            (
                json!({"ErrorCode": 10, "Message": "Bad token"}),
                "Bad token",
            ),
            (json!("plain text refusal"), "plain text refusal"),
        ] {
            assert_eq!(provider_message(&body).as_deref(), Some(message), "{body}");
        }
    }
}
