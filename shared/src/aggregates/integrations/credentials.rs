//! Changing an integration and reading its audit trail: rotating credentials, updating
//! config, a page of audit records.
//!
//! Runs that start after a rotation use the new version; a run already in flight picks
//! it up at its next step (each step opens the credentials current when it executes).

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{Error, announce, keys, load, provider_of, save};
use crate::aggregates::FieldError;
use crate::catalog::{check_config_keeping, check_credentials, custom, required_credentials};
use crate::domain::{
    AuditOutcome, AuditPurpose, AuditRecord, Integration, IntegrationChange, IntegrationName,
    ProjectId,
};
use crate::ports::{Deps, Query};
use crate::vault;

/// Replaces an integration's credentials with a new sealed version, audited and
/// announced; clears `needs_attention`.
///
/// # Errors
/// `NotFound`; `Invalid` for credentials the provider does not take; `Conflict` on a
/// concurrent change; `Unavailable` when the key service or store does not answer.
pub async fn rotate(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
    given: &Map<String, Value>,
) -> Result<Integration, Error> {
    let before = load(deps, project, name).await?;
    let provider = provider_of(before.name.as_str(), &before.provider, &before.config)?;
    let config = if before.provider == custom::ID {
        Map::new()
    } else {
        before.config.clone()
    };
    let credentials = check_credentials(&provider, given, &config).map_err(Error::fields)?;
    let version = before.credentials.version + 1;
    let origins = vault::Origins::of(&provider, &before.config);
    let envelope = vault::seal_bound(
        deps.keys.as_ref(),
        project,
        &before.name,
        version,
        &credentials,
        &origins,
    )
    .await?;
    drop(credentials);
    let mut after = before.clone();
    after.credentials = envelope;
    after.updated_at = deps.clock.now();
    after.revision += 1;
    after.needs_attention = None;
    let audit = vault::audit_record(
        deps,
        project,
        &after.name,
        version,
        AuditPurpose::CredentialsStored,
        json!({"request": "PUT credentials", "previous_version": before.credentials.version}),
        AuditOutcome::Rotated,
    );
    save(deps, project, &before, &after, audit).await?;
    announce(
        deps,
        project,
        &after.name,
        IntegrationChange::CredentialsRotated,
        Some(version),
    )
    .await;
    tracing::info!(project = %project, integration = %after.name, version, "credentials rotated");
    Ok(after)
}

/// Merges the given config keys into the integration's config (`null` removes a key),
/// checks the result like a new integration's, and refuses a change that would need
/// credentials the integration does not have (rotate them first).
///
/// A change that moves an origin the credentials are sent to (a base URL, a token URL,
/// a login host) must bring the credentials again (`given`): they are checked and
/// sealed for the new origins as the next version, in the same write, and the audit
/// record names both origins. Without them it is refused, and nothing changes.
///
/// # Errors
/// `NotFound`; `Invalid` for a config the provider does not take, one that needs
/// credentials not stored, or one that moves an origin without credentials; `Conflict`
/// on a concurrent change.
pub async fn update_config(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
    changes: Map<String, Value>,
    given: Option<&Map<String, Value>>,
) -> Result<Integration, Error> {
    let before = load(deps, project, name).await?;
    let (provider, config) = merged_config(&before, changes)?;
    let check_against = if before.provider == custom::ID {
        Map::new()
    } else {
        config.clone()
    };
    let from =
        vault::Origins::of_integration(&before).map_err(|e| Error::Internal(e.to_string()))?;
    let to = vault::Origins::of(&provider, &config);
    if from != to && given.is_none() {
        return Err(Error::invalid(
            "credentials",
            format!(
                "this change moves where the credentials are sent (from {} to {}); send the credentials again with it, as \"credentials\" in this PATCH",
                from.list().join(", "),
                to.list().join(", ")
            ),
        ));
    }
    let mut after = before.clone();
    after.config = config;
    after.updated_at = deps.clock.now();
    after.revision += 1;
    let mut cause = json!({"request": "PATCH config"});
    if from != to {
        cause["origins"] = json!({"from": from.list(), "to": to.list()});
    }
    let (fields, outcome) = match given {
        Some(given) => {
            let credentials =
                check_credentials(&provider, given, &check_against).map_err(Error::fields)?;
            let version = before.credentials.version + 1;
            after.credentials = vault::seal_bound(
                deps.keys.as_ref(),
                project,
                name,
                version,
                &credentials,
                &to,
            )
            .await?;
            after.needs_attention = None;
            cause["previous_version"] = json!(before.credentials.version);
            (credentials.names(), AuditOutcome::Rotated)
        }
        None => (
            before.credentials.fields.clone(),
            AuditOutcome::ConfigUpdated,
        ),
    };
    let missing: Vec<FieldError> = required_credentials(&provider, &check_against)
        .into_iter()
        .filter(|f| !fields.contains(f))
        .map(|f| FieldError::at(
            format!("credentials.{f}"),
            "this config needs a credential the integration does not have; rotate the credentials (PUT .../credentials) first, or send them with this PATCH",
        ))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Invalid(missing));
    }
    let version = after.credentials.version;
    let audit = vault::audit_record(
        deps,
        project,
        &after.name,
        version,
        AuditPurpose::CredentialsStored,
        cause,
        outcome,
    );
    save(deps, project, &before, &after, audit).await?;
    announce(
        deps,
        project,
        &after.name,
        IntegrationChange::ConfigUpdated,
        Some(version),
    )
    .await;
    Ok(after)
}

/// The integration's config with the changes merged (`null` removes a key), checked,
/// and the provider it builds.
fn merged_config(
    before: &Integration,
    changes: Map<String, Value>,
) -> Result<
    (
        std::borrow::Cow<'static, crate::catalog::Provider>,
        Map<String, Value>,
    ),
    Error,
> {
    let mut merged = before.config.clone();
    for (key, value) in changes {
        if value.is_null() {
            merged.remove(&key);
        } else {
            merged.insert(key, value);
        }
    }
    if before.provider == custom::ID {
        let provider =
            custom::build_checked(before.name.as_str(), &merged).map_err(Error::fields)?;
        return Ok((std::borrow::Cow::Owned(provider), merged));
    }
    let provider = provider_of(before.name.as_str(), &before.provider, &before.config)?;
    // Required fields the stored config never had (it predates them) may stay unset.
    let unset_before: Vec<String> = provider
        .config
        .iter()
        .filter(|f| before.config.get(&f.name).is_none_or(Value::is_null))
        .map(|f| f.name.clone())
        .collect();
    let config = check_config_keeping(&provider, &merged, &unset_before).map_err(Error::fields)?;
    Ok((provider, config))
}

/// A page of an integration's audit trail, newest first.
pub struct AuditPage {
    /// The records, newest first.
    pub records: Vec<AuditRecord>,
    /// The cursor of the next page, if there is one (opaque, URL-safe).
    pub next: Option<String>,
}

/// Up to `limit` (1 to 200) audit records, newest first, after the cursor `after`
/// (the `next` of an earlier page).
///
/// # Errors
/// `Invalid` for a limit out of range or a cursor this API did not give; the store's.
pub async fn audit_page(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
    limit: usize,
    after: Option<&str>,
) -> Result<AuditPage, Error> {
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid("limit", "must be between 1 and 200"));
    }
    // Cursors are opaque and URL-safe: the base64url of the last record's sort key.
    let after = match after {
        Some(cursor) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|sk| sk.len() <= 100 && !sk.contains('\0'))
                .ok_or_else(|| Error::invalid("after", "is not a cursor this API gave"))?,
        ),
        None => None,
    };
    let mut query = Query::prefix(keys::audit(project, name), "");
    query.descending = true;
    query.limit = limit;
    query.after = after;
    let page = deps.store.query(&query).await?;
    let records = page
        .items
        .iter()
        .map(|i| i.parse())
        .collect::<Result<_, _>>()?;
    let next = page
        .next
        .map(|sk| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk));
    Ok(AuditPage { records, next })
}

/// Allows or refuses agents' live calls of the integration's operations through the
/// project's MCP server, audited (the credentials are not opened). Agents always get
/// the sandbox; setting the value it has changes nothing and writes no record.
///
/// # Errors
/// `NotFound`; `Conflict` on a concurrent change; the store's.
pub async fn set_agent_live(
    deps: &Deps,
    project: &ProjectId,
    name: &IntegrationName,
    live: bool,
) -> Result<Integration, Error> {
    let before = load(deps, project, name).await?;
    if before.agent_live == live {
        return Ok(before);
    }
    let mut after = before.clone();
    after.agent_live = live;
    after.updated_at = deps.clock.now();
    after.revision += 1;
    let audit = vault::audit_record(
        deps,
        project,
        &after.name,
        after.credentials.version,
        AuditPurpose::AgentAccess,
        json!({"request": "PUT agent-access"}),
        AuditOutcome::AgentLive(live),
    );
    save(deps, project, &before, &after, audit).await?;
    tracing::info!(project = %project, integration = %after.name, live, "agent access changed");
    Ok(after)
}
