//! Checks the credential and config values a user gives against a provider's fields.
//! Error messages never repeat a secret field's value.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::model::{Field, Format, Provider};
use crate::domain::InvalidValue;
use crate::vault::Credentials;

/// Whether a field applies, given the config (its `when` conditions).
pub fn applies(field: &Field, config: &Map<String, Value>, provider_config: &[Field]) -> bool {
    field.when.as_ref().is_none_or(|when| {
        when.iter().all(|(key, wanted)| {
            let given = config
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    provider_config
                        .iter()
                        .find(|f| &f.name == key)
                        .and_then(|f| f.default.clone())
                });
            given.as_deref() == Some(wanted.as_str())
        })
    })
}

fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

/// Checks one value against a field's format and limits.
pub fn check_value(field: &Field, value: &str) -> Result<(), String> {
    let shown = |v: &str| {
        if field.secret {
            String::new()
        } else {
            format!(" ({v:?})")
        }
    };
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    // Line breaks only where a value has lines (a PEM key): anywhere else a value may
    // end up in a header, where a CR or LF would start another one.
    let lines = field.format == Some(Format::Pem);
    if value
        .trim()
        .chars()
        .any(|c| c.is_control() && !(lines && (c == '\n' || c == '\r')))
    {
        return Err("must not contain control characters or line breaks".into());
    }
    if let Some(min) = field.min_length
        && value.chars().count() < min
    {
        return Err(format!("must be at least {min} characters"));
    }
    if let Some(max) = field.max_length
        && value.chars().count() > max
    {
        return Err(format!("must be at most {max} characters"));
    }
    if !field.prefixes.is_empty() && !field.prefixes.iter().any(|p| value.starts_with(p.as_str())) {
        return Err(format!("must start with {}", field.prefixes.join(" or ")));
    }
    if let Some(pattern) = &field.pattern {
        // Anchored whole: a pattern describes the value, not a part of it.
        let whole = format!("^(?:{pattern})$");
        if !regex::Regex::new(&whole).is_ok_and(|r| r.is_match(value)) {
            return Err(format!("must match {pattern}{}", shown(value)));
        }
    }
    if !field.choices.is_empty() && !field.choices.iter().any(|c| c == value) {
        return Err(format!(
            "must be one of {}{}",
            field.choices.join(", "),
            shown(value)
        ));
    }
    let ok = match field.format {
        None | Some(Format::Text) | Some(Format::List) => true,
        Some(Format::Email) => {
            let mut parts = value.split('@');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(local), Some(domain), None) => {
                    !local.is_empty()
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !value.contains(char::is_whitespace)
                }
                _ => false,
            }
        }
        Some(Format::Url) => match url::Url::parse(value) {
            Ok(url) => {
                let host = url.host_str().unwrap_or_default();
                !host.is_empty()
                    && (url.scheme() == "https"
                        || (url.scheme() == "http" && is_loopback_host(host)))
                    && url.username().is_empty()
                    && url.password().is_none()
            }
            Err(_) => false,
        },
        Some(Format::Hostname) => {
            value.len() <= 253
                && value.contains('.')
                && value.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                })
        }
        Some(Format::Uuid) => uuid::Uuid::try_parse(value).is_ok(),
        Some(Format::Phone) => {
            value.len() >= 3
                && value.len() <= 16
                && value.starts_with('+')
                && value[1..].chars().all(|c| c.is_ascii_digit())
                && !value[1..].starts_with('0')
        }
        Some(Format::Pem) => {
            value.trim_start().starts_with("-----BEGIN ") && value.contains("-----END ")
        }
    };
    if !ok {
        let expected = match field.format {
            Some(Format::Email) => "an email address",
            Some(Format::Url) => "an https:// URL without credentials in it",
            Some(Format::Hostname) => "a host name such as mg.example.com",
            Some(Format::Uuid) => "a UUID (8-4-4-4-12 hex digits)",
            Some(Format::Phone) => "an E.164 phone number such as +14155550100",
            Some(Format::Pem) => "a PEM block (-----BEGIN ...-----)",
            _ => "valid",
        };
        return Err(format!("must be {expected}{}", shown(value)));
    }
    Ok(())
}

/// The checked credentials and config (with defaults filled in), or every problem.
pub fn check_values(
    provider: &Provider,
    credentials: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Result<(Credentials, Map<String, Value>), Vec<InvalidValue>> {
    let config_result = check_config(provider, config);
    let credentials_result = check_credentials(provider, credentials, config);
    match (config_result, credentials_result) {
        (Ok(config), Ok(credentials)) => Ok((credentials, config)),
        (config, credentials) => {
            let mut problems = config.err().unwrap_or_default();
            problems.extend(credentials.err().unwrap_or_default());
            Err(problems)
        }
    }
}

/// The checked config with defaults filled in, or every problem.
pub fn check_config(
    provider: &Provider,
    config: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<InvalidValue>> {
    check_config_keeping(provider, config, &[])
}

/// As [`check_config`], for a change to a stored config: a field that became required
/// after the integration was stored (`unset_before`) may stay unset, so an older
/// integration keeps taking other changes; a compile that needs it says so.
pub fn check_config_keeping(
    provider: &Provider,
    config: &Map<String, Value>,
    unset_before: &[String],
) -> Result<Map<String, Value>, Vec<InvalidValue>> {
    let mut problems = Vec::new();
    let mut checked_config = Map::new();
    let known_config: BTreeMap<&str, &Field> = provider
        .config
        .iter()
        .map(|f| (f.name.as_str(), f))
        .collect();
    for key in config.keys() {
        if !known_config.contains_key(key.as_str()) {
            problems.push(InvalidValue::new(
                format!("config.{key}"),
                format!(
                    "{} has no such setting; it takes {}",
                    provider.display_name,
                    names(&provider.config)
                ),
            ));
        }
    }
    for field in &provider.config {
        if !applies(field, config, &provider.config) {
            if config.get(&field.name).is_some_and(|v| !v.is_null()) {
                problems.push(InvalidValue::new(
                    format!("config.{}", field.name),
                    "does not apply with these settings",
                ));
            }
            continue;
        }
        match config.get(&field.name) {
            Some(Value::String(v)) => match check_value(field, v) {
                Ok(()) => {
                    checked_config.insert(field.name.clone(), Value::String(v.trim().to_owned()));
                }
                Err(m) => problems.push(InvalidValue::new(format!("config.{}", field.name), m)),
            },
            Some(Value::Null) | None => {
                if let Some(default) = &field.default {
                    checked_config.insert(field.name.clone(), Value::String(default.clone()));
                } else if field.required && !unset_before.contains(&field.name) {
                    problems.push(InvalidValue::new(
                        format!("config.{}", field.name),
                        format!("is required ({})", field.label),
                    ));
                }
            }
            Some(_) => problems.push(InvalidValue::new(
                format!("config.{}", field.name),
                "must be a string",
            )),
        }
    }
    if problems.is_empty() {
        Ok(checked_config)
    } else {
        Err(problems)
    }
}

/// The checked credentials (for the given config), or every problem. Messages never
/// repeat a secret value.
pub fn check_credentials(
    provider: &Provider,
    credentials: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Result<Credentials, Vec<InvalidValue>> {
    let mut problems = Vec::new();
    let mut checked = Credentials::new();
    for key in credentials.keys() {
        if !provider.credentials.iter().any(|f| &f.name == key) {
            problems.push(InvalidValue::new(
                format!("credentials.{key}"),
                format!(
                    "{} takes no such credential; it takes {}",
                    provider.display_name,
                    names(&provider.credentials)
                ),
            ));
        }
    }
    for field in &provider.credentials {
        let at = format!("credentials.{}", field.name);
        if !applies(field, config, &provider.config) {
            if credentials.contains_key(&field.name) {
                problems.push(InvalidValue::new(at, "does not apply with these settings"));
            }
            continue;
        }
        match credentials.get(&field.name) {
            Some(Value::String(v)) => match check_value(field, v) {
                Ok(()) => checked.insert(field.name.clone(), v.trim().to_owned()),
                Err(m) => problems.push(InvalidValue::new(at, m)),
            },
            Some(Value::Null) | None => {
                if field.required {
                    problems.push(InvalidValue::new(
                        at,
                        format!("is required ({})", field.label),
                    ));
                }
            }
            Some(_) => problems.push(InvalidValue::new(at, "must be a string")),
        }
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(problems)
    }
}

/// The credential fields a config requires (to check a config change against the
/// credentials already stored, without decrypting them).
pub fn required_credentials(provider: &Provider, config: &Map<String, Value>) -> Vec<String> {
    provider
        .credentials
        .iter()
        .filter(|f| f.required && applies(f, config, &provider.config))
        .map(|f| f.name.clone())
        .collect()
}

fn names(fields: &[Field]) -> String {
    if fields.is_empty() {
        return "none".into();
    }
    fields
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
