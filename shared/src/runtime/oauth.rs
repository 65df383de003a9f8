//! OAuth 2.0 access tokens at the edge: refreshed before they expire, one refresh at a
//! time per integration.
//!
//! The refresh token lives in the credential envelope. When a step needs the access
//! token and it is missing or expires within a minute, the step takes a lock (a
//! conditional write of `L#{integration}#refresh` that expires by itself), calls the
//! provider's token endpoint, seals the new tokens as a new credential version, and
//! writes it with its audit record and the lock's release in one transaction. A step
//! that finds the lock taken waits for the new version instead of refreshing too. A
//! provider that refuses the refresh marks the integration as needing attention.

use std::time::Duration;

use chrono::Utc;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::catalog::{Auth, Provider};
use crate::domain::{AuditPurpose, Integration, ProjectId, keys};
use crate::ports::{Condition, Deps, EdgeOutcome, Item, Key, OutboundRequest, StoreError, Write};
use crate::vault::{self, Credentials};

/// Refresh this long before the token expires.
const EARLY: i64 = 60;
/// How long a refresh lock holds if its holder dies.
const LOCK_SECS: i64 = 30;
const WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error(
        "the provider refused the token refresh ({0}); the integration needs to be authorized again"
    )]
    Refused(String),
    #[error("token refresh failed: {0}")]
    Failed(String),
}

/// The OAuth2 token URL of a provider's auth scheme for this config, if it uses OAuth2.
pub fn token_url(
    provider: &Provider,
    config: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    fn find(
        auth: &Auth,
        config: &serde_json::Map<String, serde_json::Value>,
        provider: &Provider,
    ) -> Option<String> {
        match auth {
            Auth::OAuth2 { token_url, .. } => Some(token_url.clone()),
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
            _ => None,
        }
    }
    let template = find(&provider.auth, config, provider)?;
    let mut url = template.clone();
    for p in crate::catalog::placeholders(&template).ok()? {
        let value = config.get(&p.name).and_then(|v| v.as_str())?;
        url = url.replace(&format!("{{config.{}}}", p.name), value);
    }
    Some(url)
}

fn fresh(integration: &Integration, credentials: &Credentials, now: chrono::DateTime<Utc>) -> bool {
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
    cause: serde_json::Value,
) -> Result<(Integration, Credentials), OAuthError> {
    if fresh(integration, &credentials, deps.clock.now()) {
        return Ok((integration.clone(), credentials));
    }
    let pk = keys::project(project);
    let lock = Key::new(pk.clone(), keys::refresh_lock(&integration.name));
    let now = deps.clock.now().timestamp();
    let claim = Item::new(lock.clone(), json!({"by": cause})).expiring(now + LOCK_SECS);
    match deps.store.put(claim, Condition::NotExists).await {
        Ok(()) => {
            refresh(
                deps,
                project,
                integration,
                token_url,
                credentials,
                cause,
                lock,
            )
            .await
        }
        Err(StoreError::ConditionFailed { .. }) => {
            drop(credentials);
            wait_for_refresh(deps, project, integration, cause).await
        }
        Err(e) => Err(OAuthError::Failed(e.to_string())),
    }
}

async fn wait_for_refresh(
    deps: &Deps,
    project: &ProjectId,
    before: &Integration,
    cause: serde_json::Value,
) -> Result<(Integration, Credentials), OAuthError> {
    let key = Key::new(keys::project(project), keys::integration(&before.name));
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let current: Integration = match deps.store.get(&key).await {
            Ok(Some(item)) => item
                .parse()
                .map_err(|e| OAuthError::Failed(e.to_string()))?,
            Ok(None) => return Err(OAuthError::Failed("the integration was deleted".into())),
            Err(e) => return Err(OAuthError::Failed(e.to_string())),
        };
        if let Some(reason) = &current.needs_attention {
            return Err(OAuthError::Refused(reason.clone()));
        }
        if current.credentials.version != before.credentials.version {
            let credentials =
                vault::open_for(deps, project, &current, AuditPurpose::StepExecution, cause)
                    .await
                    .map_err(|e| OAuthError::Failed(e.to_string()))?;
            return Ok((current, credentials));
        }
    }
    Err(OAuthError::Failed(
        "another step's token refresh did not finish in time".into(),
    ))
}

async fn refresh(
    deps: &Deps,
    project: &ProjectId,
    integration: &Integration,
    token_url: &str,
    credentials: Credentials,
    cause: serde_json::Value,
    lock: Key,
) -> Result<(Integration, Credentials), OAuthError> {
    let secret = |name: &str| {
        credentials
            .get(name)
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default()
    };
    let form = [
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", secret("refresh_token")),
        ("client_id", secret("client_id")),
        ("client_secret", secret("client_secret")),
    ];
    let body: String = form
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let request = OutboundRequest {
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
    };
    let redactor = credentials.redactor();
    let answer = deps.live_edge.send(&request).await;
    drop(request);
    let pk = keys::project(project);
    let integration_key = Key::new(pk.clone(), keys::integration(&integration.name));
    let guard = Condition::FieldEquals {
        field: "revision".into(),
        value: json!(integration.revision),
    };
    let (status, parsed) = match answer {
        Ok(EdgeOutcome::Sent(r)) => (
            r.status,
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap_or_default(),
        ),
        Ok(EdgeOutcome::WouldHaveSent) => (0, json!({})),
        Err(e) => {
            let _ = deps.store.delete(&lock, Condition::Always).await;
            return Err(OAuthError::Failed(redactor.text(&e.to_string())));
        }
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
        let reason = redactor.text(&format!("{status} {reason}"));
        // 4xx: the grant is refused (revoked, expired): a person must re-authorize.
        if (400..500).contains(&status) {
            let mut marked = integration.clone();
            marked.needs_attention = Some(format!("token refresh refused: {reason}"));
            marked.revision += 1;
            let (audit, _) = vault::audit_record(
                deps,
                project,
                &integration.name,
                integration.credentials.version,
                AuditPurpose::TokenRefresh,
                cause,
                format!("failed: {reason}"),
            );
            let item = Item::of(integration_key, &marked)
                .map_err(|e| OAuthError::Failed(e.to_string()))?;
            let _ = deps
                .store
                .transact(vec![
                    Write::Put(item, guard),
                    Write::Put(audit, Condition::NotExists),
                    Write::Delete(lock, Condition::Always),
                ])
                .await;
            return Err(OAuthError::Refused(reason));
        }
        let _ = deps.store.delete(&lock, Condition::Always).await;
        return Err(OAuthError::Failed(reason));
    };
    let expires_in = parsed
        .get("expires_in")
        .and_then(|v| v.as_i64())
        .unwrap_or(3600);
    let mut next = Credentials::new();
    for name in credentials.names() {
        if let Some(value) = credentials.get(&name) {
            next.insert(name.clone(), value.expose_secret().to_owned());
        }
    }
    next.insert("access_token", access);
    if let Some(rotated) = parsed.get("refresh_token").and_then(|v| v.as_str()) {
        next.insert("refresh_token", rotated.to_owned());
    }
    drop(credentials);
    let version = integration.credentials.version + 1;
    let envelope = vault::seal(
        deps.keys.as_ref(),
        project,
        &integration.name,
        version,
        &next,
    )
    .await
    .map_err(|e| OAuthError::Failed(e.to_string()))?;
    let mut updated = integration.clone();
    updated.credentials = envelope;
    updated.revision += 1;
    updated.updated_at = deps.clock.now();
    updated.token_expires_at = Some(deps.clock.now() + chrono::Duration::seconds(expires_in));
    updated.needs_attention = None;
    let (audit, _) = vault::audit_record(
        deps,
        project,
        &integration.name,
        version,
        AuditPurpose::TokenRefresh,
        cause,
        "refreshed".into(),
    );
    let item =
        Item::of(integration_key, &updated).map_err(|e| OAuthError::Failed(e.to_string()))?;
    deps.store
        .transact(vec![
            Write::Put(item, guard),
            Write::Put(audit, Condition::NotExists),
            Write::Delete(lock, Condition::Always),
        ])
        .await
        .map_err(|e| OAuthError::Failed(e.to_string()))?;
    Ok((updated, next))
}
