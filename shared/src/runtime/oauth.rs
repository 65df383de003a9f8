//! OAuth 2.0 access tokens at the edge: obtained before they expire, one token request
//! at a time per integration.
//!
//! The grant's long-lived secret lives in the credential envelope: a refresh token
//! here, a private key for SMART Backend Services ([`super::smart`]). When a step needs
//! the access token and it is missing or expires within a minute, the step takes a lock
//! (a conditional write of `L#{integration}#refresh` that expires by itself), calls the
//! provider's token endpoint, seals the new token as a new credential version, and
//! writes it with its audit record and the lock's release in one transaction. A step
//! that finds the lock taken waits for the new version instead of asking too. A
//! provider that refuses the request marks the integration as needing attention.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

use crate::aggregates::integrations;
use crate::catalog::{Auth, Provider};
use crate::domain::{AuditOutcome, AuditPurpose, Integration, ProjectId};
use crate::ports::{Condition, Deps, EdgeOutcome, Item, Key, OutboundRequest, StoreError, Write};
use crate::redact::{Redactor, Registration};
use crate::vault::{self, Credentials};

/// Ask for a new token this long before the current one expires.
const EARLY: i64 = 60;
/// How long a refresh lock holds if its holder dies.
const LOCK_SECS: i64 = 30;
const WAIT: Duration = Duration::from_secs(15);

/// Why a step got no usable access token.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The token endpoint refused the grant with a 4xx (revoked, expired), for this step's
    /// request or another's: the reason gives its status and `error`, secrets masked. The
    /// integration is marked as needing attention; retrying does not help.
    #[error(
        "the provider refused the token refresh ({0}); the integration needs to be authorized again"
    )]
    Refused(String),
    /// The token was not obtained for another reason (no answer, a 5xx, a store error,
    /// another step's request that failed or took too long), secrets masked; a later
    /// try may succeed.
    #[error("token refresh failed: {0}")]
    Failed(String),
    /// The stored credentials cannot make the request (a private key that does not
    /// parse): nothing was sent.
    #[error("the credentials cannot make a token request: {0}")]
    Unusable(String),
}

/// One way of asking a token endpoint for an access token: the refresh-token grant
/// ([`RefreshToken`]) or SMART Backend Services' signed client assertion
/// ([`super::smart`]). The lock, the waiting, the sealing and the audit around the
/// request are the same for every grant.
pub trait Grant: Sync {
    /// Names the request in errors and needs-attention notes ("token refresh").
    fn name(&self) -> &'static str;
    /// The form to post. Only the step that holds the lock makes it.
    fn form(
        &self,
        credentials: &Credentials,
        token_url: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenForm, String>;
    /// Whether a 2xx answer that carries an access token can be used as a bearer token.
    fn check(&self, _answer: &Value) -> Result<(), String> {
        Ok(())
    }
    /// How long a token lives when the answer has no `expires_in`.
    fn default_lifetime(&self) -> i64 {
        3600
    }
    /// Whether a `refresh_token` in the answer replaces the stored one.
    fn rotates_refresh_token(&self) -> bool {
        false
    }
}

/// What a grant posts to the token endpoint.
pub struct TokenForm {
    /// The form's fields in order (`grant_type`, `refresh_token`, `client_id`...), sent
    /// `application/x-www-form-urlencoded`.
    pub fields: Vec<(&'static str, String)>,
    /// Values made for this request that are as secret as the credentials (a signed
    /// client assertion): registered for redaction while the request is made, and
    /// masked in every error it produces.
    pub secrets: Vec<String>,
}

/// The refresh-token grant (RFC 6749 §6), the client's id and secret in the form.
pub struct RefreshToken;

impl Grant for RefreshToken {
    fn name(&self) -> &'static str {
        "token refresh"
    }

    fn form(
        &self,
        credentials: &Credentials,
        _token_url: &str,
        _now: DateTime<Utc>,
    ) -> Result<TokenForm, String> {
        let secret = |name: &str| {
            credentials
                .get(name)
                .map(|s| s.expose_secret().to_owned())
                .unwrap_or_default()
        };
        Ok(TokenForm {
            fields: vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", secret("refresh_token")),
                ("client_id", secret("client_id")),
                ("client_secret", secret("client_secret")),
            ],
            secrets: Vec::new(),
        })
    }

    fn rotates_refresh_token(&self) -> bool {
        true
    }
}

/// The auth scheme a provider uses with this config: a choice (FHIR's `auth_type`)
/// resolved to the option the config names, or its default.
pub fn chosen_auth<'a>(provider: &'a Provider, config: &Map<String, Value>) -> Option<&'a Auth> {
    fn find<'a>(
        auth: &'a Auth,
        config: &Map<String, Value>,
        provider: &'a Provider,
    ) -> Option<&'a Auth> {
        match auth {
            Auth::Choice {
                config_field,
                options,
            } => {
                let chosen = config
                    .get(config_field)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .or_else(|| {
                        provider
                            .config
                            .iter()
                            .find(|f| &f.name == config_field)
                            .and_then(|f| f.default.clone())
                    })?;
                find(options.get(&chosen)?, config, provider)
            }
            other => Some(other),
        }
    }
    find(&provider.auth, config, provider)
}

/// A URL template with its `{config.x}` placeholders filled, if every one is set.
pub fn render_url(template: &str, config: &Map<String, Value>) -> Option<String> {
    let mut url = template.to_owned();
    for p in crate::catalog::placeholders(template).ok()? {
        let value = config.get(&p.name).and_then(|v| v.as_str())?;
        url = url.replace(&format!("{{config.{}}}", p.name), value);
    }
    Some(url)
}

/// The OAuth2 token URL of a provider's auth scheme for this config, if it uses OAuth2.
pub fn token_url(provider: &Provider, config: &Map<String, Value>) -> Option<String> {
    match chosen_auth(provider, config)? {
        Auth::OAuth2 { token_url, .. } => render_url(token_url, config),
        _ => None,
    }
}

fn fresh(integration: &Integration, credentials: &Credentials, now: DateTime<Utc>) -> bool {
    credentials.get("access_token").is_some()
        && integration
            .token_expires_at
            .is_some_and(|at| at.timestamp() > now.timestamp() + EARLY)
}

/// Credentials with a usable access token: the ones given if the token is fresh, else
/// refreshed (or waited for, if another step is refreshing).
pub async fn ensure_fresh(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
    token_url: &str,
    credentials: Credentials,
    cause: Value,
) -> Result<(Integration, Credentials), OAuthError> {
    ensure_token(
        deps,
        project,
        integration,
        token_url,
        &RefreshToken,
        credentials,
        cause,
    )
    .await
}

/// Credentials with a usable access token: the ones given if the token is fresh, else
/// a new token from `grant` (or the one another step is getting, if it holds the lock).
pub async fn ensure_token(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
    token_url: &str,
    grant: &dyn Grant,
    credentials: Credentials,
    cause: Value,
) -> Result<(Integration, Credentials), OAuthError> {
    if fresh(integration, &credentials, deps.clock.now()) {
        return Ok((integration.clone(), credentials));
    }
    let lock = integrations::refresh_lock_key(project, &integration.name);
    let now = deps.clock.now().timestamp();
    let claim = Item::new(lock.clone(), json!({"by": cause})).expiring(now + LOCK_SECS);
    match deps.store.put(claim, Condition::NotExists).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => {
            drop(credentials);
            return wait_for_token(deps, project, integration, grant, &lock, cause).await;
        }
        Err(e) => return Err(OAuthError::Failed(e.to_string())),
    }
    // Another step may have stored a new token between this step's read of the
    // integration and its lock: use that one rather than ask again (and then fail the
    // revision guard on storing).
    let current = match load(deps, project, integration).await {
        Ok(current) => current,
        Err(e) => {
            let _ = deps.store.delete(&lock, Condition::Always).await;
            return Err(e);
        }
    };
    if current.revision == integration.revision {
        let exchange = Exchange {
            integration,
            token_url,
            grant,
            lock,
        };
        return request_token(deps, project, exchange, credentials, cause).await;
    }
    drop(credentials);
    let credentials = match vault::open_for(
        deps,
        project,
        &current,
        AuditPurpose::StepExecution,
        cause.clone(),
    )
    .await
    {
        Ok(credentials) => credentials,
        Err(e) => {
            let _ = deps.store.delete(&lock, Condition::Always).await;
            return Err(OAuthError::Failed(e.to_string()));
        }
    };
    if fresh(&current, &credentials, deps.clock.now()) {
        let _ = deps.store.delete(&lock, Condition::Always).await;
        return Ok((current, credentials));
    }
    let exchange = Exchange {
        integration: &current,
        token_url,
        grant,
        lock,
    };
    request_token(deps, project, exchange, credentials, cause).await
}

async fn load(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
) -> Result<Integration, OAuthError> {
    match integrations::get(deps, project, &integration.name).await {
        Ok(Some(current)) => Ok(current),
        Ok(None) => Err(OAuthError::Failed("the integration was deleted".into())),
        Err(e) => Err(OAuthError::Failed(e.to_string())),
    }
}

async fn wait_for_token(
    deps: &Deps,
    project: &ProjectId,
    before: &Integration,
    grant: &dyn Grant,
    lock: &Key,
    cause: Value,
) -> Result<(Integration, Credentials), OAuthError> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The lock is read before the integration: the holder stores the token and
        // releases the lock in one transaction, so a lock found gone means the
        // integration read next shows the new token, or that there is none.
        let released = matches!(deps.store.get(lock).await, Ok(None));
        let current = load(deps, project, before).await?;
        if current.credentials.version != before.credentials.version {
            let credentials =
                vault::open_for(deps, project, &current, AuditPurpose::StepExecution, cause)
                    .await
                    .map_err(|e| OAuthError::Failed(e.to_string()))?;
            return Ok((current, credentials));
        }
        if current.revision != before.revision
            && let Some(reason) = &current.needs_attention
        {
            return Err(OAuthError::Refused(reason.clone()));
        }
        if released {
            return Err(OAuthError::Failed(format!(
                "another step's {} failed",
                grant.name()
            )));
        }
    }
    Err(OAuthError::Failed(format!(
        "another step's {} did not finish in time",
        grant.name()
    )))
}

/// One token request: for which integration, to where, with which grant, under which
/// lock (held by the caller).
struct Exchange<'a> {
    integration: &'a Integration,
    token_url: &'a str,
    grant: &'a dyn Grant,
    lock: Key,
}

/// Posts the grant's form and stores the answer. Called with the lock held; every path
/// releases it.
async fn request_token(
    deps: &Deps,
    project: &ProjectId,
    exchange: Exchange<'_>,
    credentials: Credentials,
    cause: Value,
) -> Result<(Integration, Credentials), OAuthError> {
    let Exchange {
        integration,
        token_url,
        grant,
        lock,
    } = exchange;
    let form = match grant.form(&credentials, token_url, deps.clock.now()) {
        Ok(form) => form,
        Err(problem) => {
            let _ = deps.store.delete(&lock, Condition::Always).await;
            return Err(OAuthError::Unusable(problem));
        }
    };
    // Registered for the log writer while the request is in flight, and masked in
    // every error made from the answer.
    let _registered = Registration::new(form.secrets.clone());
    let redactor = credentials.redactor();
    let extra = Redactor::new(form.secrets);
    let mask = |text: &str| extra.text(&redactor.text(text));
    let request = form_request(token_url, &form.fields);
    let answer = deps.live_edge.send(&request).await;
    drop(request);
    let integration_key = integrations::item_key(project, &integration.name);
    let guard = Condition::FieldEquals {
        field: "revision".into(),
        value: json!(integration.revision),
    };
    let (status, parsed) = match answer {
        Ok(EdgeOutcome::Sent(r)) => (
            r.status,
            serde_json::from_slice::<Value>(&r.body).unwrap_or_default(),
        ),
        Ok(EdgeOutcome::WouldHaveSent) => (0, json!({})),
        Err(e) => {
            let _ = deps.store.delete(&lock, Condition::Always).await;
            return Err(OAuthError::Failed(mask(&e.to_string())));
        }
    };
    let outcome = Outcome {
        deps,
        project,
        integration,
        integration_key,
        guard,
        lock,
        cause,
    };
    let access = parsed
        .get("access_token")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let Some(access) = access.filter(|_| (200..300).contains(&status)) else {
        let reason = parsed
            .get("error")
            .and_then(|v| v.as_str())
            .unwrap_or("no access token")
            .to_owned();
        let reason = mask(&format!("{status} {reason}"));
        // 4xx: the grant is refused (revoked, expired, an unknown key): a person must
        // act before it can work again.
        if (400..500).contains(&status) {
            return Err(outcome.refused(grant, reason).await);
        }
        outcome.release().await;
        return Err(OAuthError::Failed(reason));
    };
    // Registered before anything else can fail, so no error path can show it.
    let mut next = Credentials::new();
    next.insert("access_token", access);
    if let Err(problem) = grant.check(&parsed) {
        outcome.release().await;
        return Err(OAuthError::Failed(mask(&problem)));
    }
    // `expires_in` is a number in RFC 6749; some servers send it as a string.
    let expires_in = parsed
        .get("expires_in")
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
        .unwrap_or_else(|| grant.default_lifetime());
    carry_over(&mut next, &credentials, grant, &parsed);
    drop(parsed);
    drop(credentials);
    outcome.store(next, expires_in).await
}

/// The token request: the form, URL-encoded, posted to the token endpoint.
fn form_request(token_url: &str, fields: &[(&'static str, String)]) -> OutboundRequest {
    let body: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    OutboundRequest {
        method: "POST".into(),
        url: token_url.to_owned(),
        headers: vec![
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("accept".into(), "application/json".into()),
        ],
        body: body.into_bytes(),
    }
}

/// Keeps every stored credential but the access token, and a refresh token rotated in.
fn carry_over(
    next: &mut Credentials,
    credentials: &Credentials,
    grant: &dyn Grant,
    parsed: &Value,
) {
    for name in credentials.names() {
        if name == "access_token" {
            continue;
        }
        if let Some(value) = credentials.get(&name) {
            next.insert(name.clone(), value.expose_secret().to_owned());
        }
    }
    if grant.rotates_refresh_token()
        && let Some(rotated) = parsed.get("refresh_token").and_then(|v| v.as_str())
    {
        next.insert("refresh_token", rotated.to_owned());
    }
}

/// Where a token request that got an answer ends: the integration's item, written only
/// at the revision it was read at, with the lock released in the same transaction.
struct Outcome<'a> {
    deps: &'a Deps,
    project: &'a ProjectId,
    integration: &'a Integration,
    integration_key: Key,
    guard: Condition,
    lock: Key,
    cause: Value,
}

impl Outcome<'_> {
    /// Releases the lock and leaves the integration as it was.
    async fn release(&self) {
        let _ = self.deps.store.delete(&self.lock, Condition::Always).await;
    }

    /// Marks the integration as needing attention, audited, releasing the lock.
    async fn refused(self, grant: &dyn Grant, reason: String) -> OAuthError {
        let Outcome {
            deps,
            project,
            integration,
            integration_key,
            guard,
            lock,
            cause,
        } = self;
        let mut marked = integration.clone();
        marked.needs_attention = Some(format!("{} refused: {reason}", grant.name()));
        marked.revision += 1;
        let audit = vault::audit_record(
            deps,
            project,
            &integration.name,
            integration.credentials.version,
            AuditPurpose::TokenRefresh,
            cause,
            AuditOutcome::Failed(reason.clone()),
        );
        let item = match Item::of(integration_key, &marked) {
            Ok(item) => item,
            Err(e) => return OAuthError::Failed(e.to_string()),
        };
        let _ = deps
            .store
            .transact(vec![
                Write::Put(item, guard),
                audit.write(),
                Write::Delete(lock, Condition::Always),
            ])
            .await;
        OAuthError::Refused(reason)
    }

    /// Seals the credentials as the next version and stores them, audited, releasing the lock.
    async fn store(
        self,
        next: Credentials,
        expires_in: i64,
    ) -> Result<(Integration, Credentials), OAuthError> {
        let Outcome {
            deps,
            project,
            integration,
            integration_key,
            guard,
            lock,
            cause,
        } = self;
        let version = integration.credentials.version + 1;
        let sealed = match vault::Origins::of_integration(integration) {
            Ok(origins) => {
                vault::seal_bound(
                    deps.keys.as_ref(),
                    project,
                    &integration.name,
                    version,
                    &next,
                    &origins,
                )
                .await
            }
            Err(e) => Err(e),
        };
        let envelope = match sealed {
            Ok(envelope) => envelope,
            Err(e) => {
                let _ = deps.store.delete(&lock, Condition::Always).await;
                return Err(OAuthError::Failed(e.to_string()));
            }
        };
        let mut updated = integration.clone();
        updated.credentials = envelope;
        updated.revision += 1;
        updated.updated_at = deps.clock.now();
        updated.token_expires_at = Some(deps.clock.now() + chrono::Duration::seconds(expires_in));
        updated.needs_attention = None;
        let audit = vault::audit_record(
            deps,
            project,
            &integration.name,
            version,
            AuditPurpose::TokenRefresh,
            cause,
            AuditOutcome::Refreshed,
        );
        let item =
            Item::of(integration_key, &updated).map_err(|e| OAuthError::Failed(e.to_string()))?;
        deps.store
            .transact(vec![
                Write::Put(item, guard),
                audit.write(),
                Write::Delete(lock, Condition::Always),
            ])
            .await
            .map_err(|e| OAuthError::Failed(e.to_string()))?;
        Ok((updated, next))
    }
}
