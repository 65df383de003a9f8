//! Builds the exact outbound request of one operation call from the provider's
//! declaration, the step's input, the integration's config and its credentials.
//!
//! The same function serves both modes: live fills credential placeholders with the
//! real values, the sandbox (which never decrypts) with [`MASK`]. Everything else is
//! identical, so the request a sandbox run records is, byte for byte, the request live
//! mode sends, apart from where credentials go:
//! - a credential in the URL, a header or a query parameter renders as `[redacted]`,
//!   unencoded (what value-based redaction of the live request shows too);
//! - HTTP basic auth renders as `Authorization: Basic [redacted]` (the encoded pair would
//!   hide the mask).
//!
//! The request is deterministic: the same arguments give byte-identical requests
//! (`serde_json` maps are ordered by key, so JSON bodies, form fields and query
//! parameters come out in key order).
//!
//! Form bodies use bracket notation for nested objects (`metadata[patient_id]=P-1`,
//! `a[b][c]=v`) and index arrays Stripe's way (`items[0][price]=x`, `tags[0]=a`).
//! An input schema (or one of its top-level properties) annotated with
//! `x-form-arrays: repeat` repeats the key for arrays of scalars instead
//! (`MediaUrl=a&MediaUrl=b`), as Twilio expects; Custom HTTP declarations can use the
//! same annotation. Brackets are written unencoded, like Stripe's own libraries do.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::catalog::{
    Auth, DefaultValue, Encoding, Operation, Provider, Source, default_path, insert_at, value_at,
};
use crate::ports::OutboundRequest;
use crate::redact::MASK;
use crate::vault::Credentials;

/// How credential placeholders are filled: real values (live) or the mask (sandbox,
/// which never decrypts).
#[derive(Debug, Clone, Copy)]
pub enum CredentialValues<'a> {
    /// Live: the decrypted credentials, for this one request.
    Real(&'a Credentials),
    /// Sandbox: every credential placeholder becomes the mask.
    Masked,
}

/// Why a request could not be built. Messages name placeholders, fields and headers,
/// never a credential value (nor an input value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A placeholder the request cannot do without has no value (`input.range`,
    /// `config.domain`, `credentials.access_token`).
    #[error("no value for {{{0}}}")]
    Missing(String),
    /// A path placeholder's value is empty, `.` or `..`: the request would reach
    /// another resource than the one named.
    #[error("{{{0}}} is not a valid path segment (empty, . or ..)")]
    BadPathSegment(String),
    /// A placeholder's value is an object or array where text is needed.
    #[error("{{{placeholder}}} cannot be put in the {place}: it is {kind}")]
    NotText {
        /// The placeholder, qualified (`input.tags`).
        placeholder: String,
        /// Where it was to go (`base URL`, `path`, `query` or `header`).
        place: &'static str,
        /// What its value is instead (`an object`, `an array`).
        kind: &'static str,
    },
    /// The input is not a JSON object.
    #[error("the step input must be a JSON object")]
    InputNotObject,
    /// The body cannot be encoded as the operation's encoding asks.
    #[error("the body cannot be encoded as {encoding}: {reason}")]
    Body {
        /// The encoding asked for (`JSON`, `a form`...).
        encoding: &'static str,
        /// Why the body does not encode.
        reason: String,
    },
    /// The assembled URL does not parse, or is not http(s). The URL itself is not
    /// repeated: it may carry a credential.
    #[error("the request URL is not valid: {0}")]
    BadUrl(String),
    /// A header name or value is not valid HTTP (control characters, non-ASCII). The
    /// value is not repeated.
    #[error("header {0} does not have a valid HTTP name or value")]
    BadHeader(String),
    /// The auth scheme is chosen by a config field whose value names no option.
    #[error("config.{field} is {value:?}, which is not one of {options:?}")]
    UnknownAuthChoice {
        /// The config field that chooses the auth scheme.
        field: String,
        /// Its value.
        value: String,
        /// The values that name an option.
        options: Vec<String>,
    },
    /// A template in the provider declaration is malformed, or the declaration is
    /// inconsistent (graphql encoding without a document).
    #[error("provider declaration: {0}")]
    Declaration(String),
}

/// The input with the operation's `defaults` filled in where it lacks a property (or
/// has null): `From` from `{config.from_address}`, a literal `FORMATTED_VALUE`. A
/// default whose value is absent is skipped; defaults never copy credentials. A default
/// that is exactly one placeholder keeps the value's JSON type. Call it before
/// validating the input against the input schema; [`build_request`] applies it again
/// (it is idempotent).
pub fn with_defaults(
    provider: &Provider,
    operation: &Operation,
    input: &Value,
    config: &Map<String, Value>,
) -> Result<Map<String, Value>, RequestError> {
    let mut out = input
        .as_object()
        .cloned()
        .ok_or(RequestError::InputNotObject)?;
    for (key, default) in &operation.defaults {
        let path = default_path(key);
        if value_at(&out, &path).is_some_and(|v| !v.is_null()) {
            continue;
        }
        let value = match default {
            DefaultValue::Template(template) => {
                match render_default(provider, input, &out, config, template)? {
                    Some((value, _)) => value,
                    None => continue,
                }
            }
            DefaultValue::Object(entries) => {
                let mut object = Map::new();
                let mut filled = false;
                for (name, template) in entries {
                    if let Some((value, from_placeholder)) =
                        render_default(provider, input, &out, config, template)?
                    {
                        filled |= from_placeholder;
                        object.insert(name.clone(), value);
                    }
                }
                if !filled {
                    continue;
                }
                Value::Object(object)
            }
        };
        insert_at(&mut out, &path, value);
    }
    Ok(out)
}

/// One default template's value, and whether a placeholder filled it; None when a
/// placeholder has no value (or names a credential: defaults never copy one).
fn render_default(
    provider: &Provider,
    input: &Value,
    out: &Map<String, Value>,
    config: &Map<String, Value>,
    template: &str,
) -> Result<Option<(Value, bool)>, RequestError> {
    let tokens = parse(template)?;
    if tokens
        .iter()
        .any(|t| matches!(t, Token::Placeholder(Source::Credentials, _)))
    {
        return Ok(None);
    }
    let has_placeholder = tokens.iter().any(|t| matches!(t, Token::Placeholder(..)));
    let value = match tokens.as_slice() {
        [Token::Placeholder(source, key)] => {
            let found = match source {
                Source::Input => input.get(*key).cloned(),
                Source::Config => config_value(provider, config, key),
                Source::Credentials => None,
            };
            match found {
                Some(v) if !v.is_null() => v,
                _ => return Ok(None),
            }
        }
        _ => {
            let scope = Scope {
                provider,
                input: out,
                config,
                credentials: CredentialValues::Masked,
            };
            match scope.render(&tokens, Place::Header)? {
                Rendered::Text(text) => Value::String(text),
                Rendered::Absent(_) => return Ok(None),
            }
        }
    };
    Ok(Some((value, has_placeholder)))
}

/// Builds the request live mode sends (with [`CredentialValues::Real`]) or the sandbox
/// records (with [`CredentialValues::Masked`]).
///
/// - URL: the base URL (config placeholders, trailing `/` trimmed) + the path, each
///   placeholder value percent-encoded as one path segment, + the query: each template
///   whose value is absent or null is left out; an array value repeats the parameter.
/// - Headers: the provider's, then the operation's (same name: the operation's wins; a
///   header whose placeholder has no value is left out), then auth, `Content-Type` per
///   encoding unless set, `Accept: application/json` unless set, and the operation's
///   idempotency header when a key is given.
/// - Body: the input (after defaults) less the properties used in the path, query and
///   headers, or `input[body_field]`; JSON, form or GraphQL (`{"query", "variables"}`).
pub fn build_request(
    provider: &Provider,
    operation: &Operation,
    input: &Value,
    config: &Map<String, Value>,
    credentials: CredentialValues<'_>,
    idempotency_key: Option<&str>,
) -> Result<OutboundRequest, RequestError> {
    let input = with_defaults(provider, operation, input, config)?;
    let scope = Scope {
        provider,
        input: &input,
        config,
        credentials,
    };

    // URL.
    let base = scope.required(&provider.base_url, Place::Base)?;
    let path = scope.required(&operation.path, Place::Path)?;
    let mut url = format!("{}{}", base.trim_end_matches('/'), path);
    let mut query: Vec<String> = Vec::new();
    for (name, template) in &operation.query {
        scope.query_pairs(name, template, &mut query)?;
    }
    let auth = scope.auth(&provider.auth)?;
    if let AuthPart::Query(param, value) = &auth {
        query.push(format!("{}={value}", encode_component(param)));
    }
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.join("&"));
    }
    let url = check_url(&url)?;

    // Headers.
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, template) in provider.headers.iter().chain(&operation.headers) {
        if let Rendered::Text(value) = scope.render(&parse(template)?, Place::Header)? {
            set_header(&mut headers, name, value);
        }
    }
    if let AuthPart::Header(name, value) = auth {
        set_header(&mut headers, &name, value);
    }
    let content_type = match operation.encoding {
        Encoding::Json | Encoding::Graphql => Some("application/json"),
        Encoding::Form => Some("application/x-www-form-urlencoded"),
        Encoding::None => None,
    };
    if let Some(content_type) = content_type
        && header_index(&headers, "content-type").is_none()
    {
        headers.push(("Content-Type".into(), content_type.into()));
    }
    if header_index(&headers, "accept").is_none() {
        headers.push(("Accept".into(), "application/json".into()));
    }
    if let (Some(name), Some(key)) = (&operation.idempotency_header, idempotency_key) {
        set_header(&mut headers, name, key.to_owned());
    }
    for (name, value) in &headers {
        let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && http::HeaderValue::from_str(value).is_ok();
        if !valid {
            return Err(RequestError::BadHeader(name.clone()));
        }
    }

    // Body.
    let body = body(provider, operation, &input)?;

    Ok(OutboundRequest {
        method: operation.method.as_str().to_owned(),
        url,
        headers,
        body,
    })
}

/// The input properties the path, query and headers consume: they are not sent in the body.
fn used_inputs(
    provider: &Provider,
    operation: &Operation,
) -> Result<BTreeSet<String>, RequestError> {
    let mut used = BTreeSet::new();
    let templates = std::iter::once(&operation.path)
        .chain(operation.query.values())
        .chain(operation.headers.values())
        .chain(provider.headers.values());
    for template in templates {
        for token in parse(template)? {
            if let Token::Placeholder(Source::Input, name) = token {
                used.insert(name.to_owned());
            }
        }
    }
    Ok(used)
}

fn body(
    provider: &Provider,
    operation: &Operation,
    input: &Map<String, Value>,
) -> Result<Vec<u8>, RequestError> {
    if operation.encoding == Encoding::None {
        return Ok(Vec::new());
    }
    let used = used_inputs(provider, operation)?;
    let body = match &operation.body_field {
        Some(field) => match input.get(field) {
            Some(v) if !v.is_null() => v.clone(),
            _ => return Err(RequestError::Missing(format!("input.{field}"))),
        },
        None => Value::Object(
            input
                .iter()
                .filter(|(k, _)| !used.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    };
    let json = |value: &Value| {
        serde_json::to_vec(value).map_err(|e| RequestError::Body {
            encoding: "JSON",
            reason: e.to_string(),
        })
    };
    match operation.encoding {
        Encoding::Json => json(&body),
        Encoding::Graphql => {
            let document = operation.graphql.as_ref().ok_or_else(|| {
                RequestError::Declaration(format!(
                    "operation {} has graphql encoding but no document",
                    operation.id
                ))
            })?;
            let mut wrapper = Map::new();
            wrapper.insert("query".into(), Value::String(document.clone()));
            wrapper.insert("variables".into(), body);
            json(&Value::Object(wrapper))
        }
        Encoding::Form => {
            let schema = match &operation.body_field {
                Some(field) => operation
                    .input_schema
                    .pointer(&format!("/properties/{}", pointer_escape(field)))
                    .unwrap_or(&Value::Null),
                None => &operation.input_schema,
            };
            form(&body, schema).map(String::into_bytes)
        }
        Encoding::None => Ok(Vec::new()),
    }
}

/// How a form body writes arrays of scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormArrays {
    /// `key[0]=a&key[1]=b` (Stripe).
    Indexed,
    /// `key=a&key=b` (Twilio).
    Repeat,
}

fn form_arrays(schema: &Value, default: FormArrays) -> FormArrays {
    match schema.get("x-form-arrays").and_then(Value::as_str) {
        Some("repeat") => FormArrays::Repeat,
        Some("indexed") => FormArrays::Indexed,
        _ => default,
    }
}

/// `application/x-www-form-urlencoded` with bracket notation; null values are left out,
/// as are empty objects and arrays.
fn form(body: &Value, schema: &Value) -> Result<String, RequestError> {
    let Value::Object(fields) = body else {
        return Err(RequestError::Body {
            encoding: "a form",
            reason: "a form body must be an object".into(),
        });
    };
    let style = form_arrays(schema, FormArrays::Indexed);
    let mut pairs = Vec::new();
    for (name, value) in fields {
        let style = schema
            .get("properties")
            .and_then(|p| p.get(name))
            .map_or(style, |s| form_arrays(s, style));
        form_pairs(&mut vec![name.clone()], value, style, &mut pairs);
    }
    Ok(pairs.join("&"))
}

fn form_pairs(key: &mut Vec<String>, value: &Value, style: FormArrays, out: &mut Vec<String>) {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                key.push(k.clone());
                form_pairs(key, v, style, out);
                key.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if style == FormArrays::Repeat && scalar(item).is_some() {
                    form_pairs(key, item, style, out);
                } else {
                    key.push(i.to_string());
                    form_pairs(key, item, style, out);
                    key.pop();
                }
            }
        }
        other => {
            if let Some(text) = scalar(other) {
                let mut name = form_encode(&key[0]);
                for part in &key[1..] {
                    name.push('[');
                    name.push_str(&form_encode(part));
                    name.push(']');
                }
                out.push(format!("{name}={}", form_encode(&text)));
            }
        }
    }
}

fn form_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Percent-encodes everything but RFC 3986's unreserved characters: a value becomes one
/// path segment or one query component.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn check_url(url: &str) -> Result<String, RequestError> {
    let parsed = url::Url::parse(url).map_err(|e| RequestError::BadUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(RequestError::BadUrl(
            "the scheme must be https or http".into(),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(RequestError::BadUrl("it has no host".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(RequestError::BadUrl("it must not carry user info".into()));
    }
    Ok(parsed.to_string())
}

fn header_index(headers: &[(String, String)], name: &str) -> Option<usize> {
    headers
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    match header_index(headers, name) {
        Some(i) => headers[i] = (name.to_owned(), value),
        None => headers.push((name.to_owned(), value)),
    }
}

/// The value of a config field: the integration's, else the field's declared default.
fn config_value(provider: &Provider, config: &Map<String, Value>, name: &str) -> Option<Value> {
    match config.get(name) {
        Some(v) if !v.is_null() => Some(v.clone()),
        _ => provider
            .config
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.default.clone())
            .map(Value::String),
    }
}

// ---------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'t> {
    Literal(&'t str),
    Placeholder(Source, &'t str),
}

/// Splits a template into literal text and placeholders (the grammar of
/// [`crate::catalog::placeholders`]).
fn parse(template: &str) -> Result<Vec<Token<'_>>, RequestError> {
    let mut tokens = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        if start > 0 {
            tokens.push(Token::Literal(&rest[..start]));
        }
        let after = &rest[start + 1..];
        let end = after.find('}').ok_or_else(|| {
            RequestError::Declaration(format!("unclosed placeholder in {template:?}"))
        })?;
        let inner = &after[..end];
        let (source, name) = inner.split_once('.').ok_or_else(|| {
            RequestError::Declaration(format!("placeholder {{{inner}}} has no source"))
        })?;
        let source = match source {
            "input" => Source::Input,
            "config" => Source::Config,
            "credentials" => Source::Credentials,
            _ => {
                return Err(RequestError::Declaration(format!(
                    "unknown placeholder source in {{{inner}}}"
                )));
            }
        };
        tokens.push(Token::Placeholder(source, name));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        tokens.push(Token::Literal(rest));
    }
    Ok(tokens)
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Input => "input",
        Source::Config => "config",
        Source::Credentials => "credentials",
    }
}

/// Where a rendered template goes, which decides how values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The base URL: values as they are (a config URL or host).
    Base,
    /// The path: each value percent-encoded as one segment.
    Path,
    /// A query parameter's value: values and literal text percent-encoded.
    Query,
    /// A header value: as it is.
    Header,
}

impl Place {
    fn name(self) -> &'static str {
        match self {
            Place::Base => "base URL",
            Place::Path => "path",
            Place::Query => "query",
            Place::Header => "header",
        }
    }
}

enum Rendered {
    Text(String),
    /// The named placeholder (`input.x`) has no value.
    Absent(String),
}

/// A placeholder's value.
enum Resolved {
    Text(String),
    List(Vec<String>),
    Mask,
}

enum AuthPart {
    Header(String, String),
    /// Parameter name and its value, already encoded.
    Query(String, String),
    None,
}

struct Scope<'a> {
    provider: &'a Provider,
    input: &'a Map<String, Value>,
    config: &'a Map<String, Value>,
    credentials: CredentialValues<'a>,
}

impl Scope<'_> {
    fn resolve(
        &self,
        source: Source,
        name: &str,
        place: Place,
    ) -> Result<Option<Resolved>, RequestError> {
        let value = match source {
            Source::Input => self.input.get(name).cloned(),
            Source::Config => config_value(self.provider, self.config, name),
            Source::Credentials => {
                return Ok(match self.credentials {
                    CredentialValues::Masked => Some(Resolved::Mask),
                    CredentialValues::Real(creds) => creds
                        .get(name)
                        .map(|s| Resolved::Text(s.expose_secret().to_owned())),
                });
            }
        };
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let not_text = |kind| RequestError::NotText {
            placeholder: format!("{}.{name}", source_name(source)),
            place: place.name(),
            kind,
        };
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(_)) => Err(not_text("an object")),
            Some(Value::Array(items)) => items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| text(v).ok_or_else(|| not_text("an array of objects or arrays")))
                .collect::<Result<Vec<_>, _>>()
                .map(|list| Some(Resolved::List(list))),
            Some(v) => Ok(text(&v).map(Resolved::Text)),
        }
    }

    fn render(&self, tokens: &[Token<'_>], place: Place) -> Result<Rendered, RequestError> {
        let mut out = String::new();
        for token in tokens {
            match *token {
                Token::Literal(text) if place == Place::Query => {
                    out.push_str(&encode_component(text))
                }
                Token::Literal(text) => out.push_str(text),
                Token::Placeholder(source, name) => {
                    let qualified = format!("{}.{name}", source_name(source));
                    match self.resolve(source, name, place)? {
                        None => return Ok(Rendered::Absent(qualified)),
                        Some(Resolved::Mask) => out.push_str(MASK),
                        Some(Resolved::List(_)) => {
                            return Err(RequestError::NotText {
                                placeholder: qualified,
                                place: place.name(),
                                kind: "an array",
                            });
                        }
                        Some(Resolved::Text(value)) => match place {
                            Place::Base | Place::Header => out.push_str(&value),
                            Place::Path => {
                                if value.is_empty() || value == "." || value == ".." {
                                    return Err(RequestError::BadPathSegment(qualified));
                                }
                                out.push_str(&encode_component(&value));
                            }
                            Place::Query => out.push_str(&encode_component(&value)),
                        },
                    }
                }
            }
        }
        Ok(Rendered::Text(out))
    }

    /// A template that must render: a missing value is an error naming it.
    fn required(&self, template: &str, place: Place) -> Result<String, RequestError> {
        match self.render(&parse(template)?, place)? {
            Rendered::Text(text) => Ok(text),
            Rendered::Absent(name) => Err(RequestError::Missing(name)),
        }
    }

    /// One query parameter: left out when its value is absent, repeated for an array.
    fn query_pairs(
        &self,
        name: &str,
        template: &str,
        out: &mut Vec<String>,
    ) -> Result<(), RequestError> {
        let tokens = parse(template)?;
        let key = encode_component(name);
        if let [Token::Placeholder(source, placeholder)] = tokens.as_slice()
            && let Some(Resolved::List(items)) = self.resolve(*source, placeholder, Place::Query)?
        {
            for item in items {
                out.push(format!("{key}={}", encode_component(&item)));
            }
            return Ok(());
        }
        if let Rendered::Text(value) = self.render(&tokens, Place::Query)? {
            out.push(format!("{key}={value}"));
        }
        Ok(())
    }

    fn auth(&self, auth: &Auth) -> Result<AuthPart, RequestError> {
        let masked = matches!(self.credentials, CredentialValues::Masked);
        Ok(match auth {
            Auth::None => AuthPart::None,
            Auth::Header { header, value } => {
                AuthPart::Header(header.clone(), self.required(value, Place::Header)?)
            }
            Auth::Query { param, value } => {
                AuthPart::Query(param.clone(), self.required(value, Place::Query)?)
            }
            Auth::Basic { username, password } => {
                let uses_credentials = [username, password]
                    .iter()
                    .any(|t| t.contains("{credentials."));
                let token = if masked && uses_credentials {
                    MASK.to_owned()
                } else {
                    let user = self.required(username, Place::Header)?;
                    let pass = self.required(password, Place::Header)?;
                    B64.encode(format!("{user}:{pass}"))
                };
                AuthPart::Header("Authorization".into(), format!("Basic {token}"))
            }
            Auth::OAuth2 { .. } | Auth::SmartBackendServices { .. } => AuthPart::Header(
                "Authorization".into(),
                self.required("Bearer {credentials.access_token}", Place::Header)?,
            ),
            Auth::Choice {
                config_field,
                options,
            } => {
                let chosen = match config_value(self.provider, self.config, config_field) {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => return Err(RequestError::Missing(format!("config.{config_field}"))),
                };
                match options.get(&chosen) {
                    Some(option) => self.auth(option)?,
                    None => {
                        return Err(RequestError::UnknownAuthChoice {
                            field: config_field.clone(),
                            value: chosen,
                            options: options.keys().cloned().collect(),
                        });
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::{catalog, custom};

    const POSTMARK_TOKEN: &str = "pm-server-token-7f3a9c1e";
    const STRIPE_KEY: &str = "sk_test_51HcanaryKey0000000000";
    const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TWILIO_TOKEN: &str = "f00dbabef00dbabef00dbabef00dbabe";
    const MAILGUN_KEY: &str = "key-mailgun-canary-0123456789";
    const LINEAR_KEY: &str = "lin_api_canary0123456789";
    const GOOGLE_TOKEN: &str = "ya29.canary-access-token";
    const FHIR_TOKEN: &str = "fhir-bearer-canary-token";
    const FHIR_PASSWORD: &str = "fhir-password-canary";

    fn provider(id: &str) -> &'static Provider {
        catalog().expect("catalog").get(id).expect("provider")
    }

    fn operation<'p>(provider: &'p Provider, id: &str) -> &'p Operation {
        provider
            .operations
            .iter()
            .find(|o| o.id == id)
            .expect("operation")
    }

    fn credentials(pairs: &[(&str, &str)]) -> Credentials {
        let mut c = Credentials::new();
        for (k, v) in pairs {
            c.insert(*k, *v);
        }
        c
    }

    fn config(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn text(req: &OutboundRequest) -> String {
        format!(
            "{} {}\n{:?}\n{}",
            req.method,
            req.url,
            req.headers,
            String::from_utf8_lossy(&req.body)
        )
    }

    fn basic(user: &str, pass: &str) -> String {
        format!("Basic {}", B64.encode(format!("{user}:{pass}")))
    }

    /// Builds live and sandbox requests and checks what every pair must satisfy: the
    /// sandbox holds no secret and shows the mask, live holds them, both are
    /// deterministic and equal apart from credentials.
    fn both(
        provider: &Provider,
        operation: &Operation,
        input: &Value,
        config: &Map<String, Value>,
        creds: &Credentials,
        secrets: &[&str],
        key: Option<&str>,
    ) -> (OutboundRequest, OutboundRequest) {
        let live = build_request(
            provider,
            operation,
            input,
            config,
            CredentialValues::Real(creds),
            key,
        )
        .expect("live");
        let again = build_request(
            provider,
            operation,
            input,
            config,
            CredentialValues::Real(creds),
            key,
        )
        .expect("live");
        assert_eq!(live, again, "deterministic");
        let sandbox = build_request(
            provider,
            operation,
            input,
            config,
            CredentialValues::Masked,
            key,
        )
        .expect("sandbox");
        let shown = text(&sandbox);
        let sent = text(&live);
        for secret in secrets {
            assert!(!shown.contains(secret), "sandbox leaks {secret}: {shown}");
            let encoded = encode_component(secret);
            assert!(!shown.contains(&encoded), "sandbox leaks {secret}: {shown}");
        }
        assert!(shown.contains(MASK), "{shown}");
        assert!(!sent.contains(MASK), "{sent}");
        assert_eq!(live.method, sandbox.method);
        assert_eq!(live.body, sandbox.body, "bodies never carry credentials");
        let names =
            |r: &OutboundRequest| r.headers.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&live), names(&sandbox));
        (live, sandbox)
    }

    #[test]
    fn postmark_send_email_is_json_with_the_server_token_header() {
        let p = provider("postmark");
        let op = operation(p, "send_email");
        let creds = credentials(&[("server_token", POSTMARK_TOKEN)]);
        let input = json!({"To": "ada@example.com", "Subject": "Your appointment is confirmed", "TextBody": "See you on Monday at 10:00."});
        let cfg = config(json!({"from_address": "clinic@example.com"}));
        let (live, sandbox) = both(p, op, &input, &cfg, &creds, &[POSTMARK_TOKEN], None);
        assert_eq!(live.method, "POST");
        assert_eq!(live.url, "https://api.postmarkapp.com/email");
        assert_eq!(
            live.headers,
            headers(&[
                ("Accept", "application/json"),
                ("X-Postmark-Server-Token", POSTMARK_TOKEN),
                ("Content-Type", "application/json"),
            ])
        );
        // From and MessageStream come from the defaults: the config, and the config
        // field's own default.
        assert_eq!(
            String::from_utf8(live.body).expect("utf-8"),
            r#"{"From":"clinic@example.com","MessageStream":"outbound","Subject":"Your appointment is confirmed","TextBody":"See you on Monday at 10:00.","To":"ada@example.com"}"#
        );
        assert_eq!(
            sandbox.headers[1],
            ("X-Postmark-Server-Token".into(), MASK.into())
        );
    }

    #[test]
    fn stripe_forms_use_bracket_notation_the_version_header_bearer_and_idempotency_key() {
        let p = provider("stripe");
        let creds = credentials(&[("secret_key", STRIPE_KEY)]);
        let cfg = Map::new();
        let input = json!({
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "metadata": {"patient_id": "P-1042", "source": "intake form"},
            "address": {"line1": "12 St James's Square", "city": "London"},
            "preferred_locales": ["en", "fr"],
            "description": null
        });
        let op = operation(p, "create_customer");
        let (live, sandbox) = both(
            p,
            op,
            &input,
            &cfg,
            &creds,
            &[STRIPE_KEY],
            Some("studio-run1#0"),
        );
        assert_eq!(live.url, "https://api.stripe.com/v1/customers");
        let bearer = format!("Bearer {STRIPE_KEY}");
        assert_eq!(
            live.headers,
            headers(&[
                ("Stripe-Version", "2026-05-27.dahlia"),
                ("Authorization", &bearer),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
                ("Idempotency-Key", "studio-run1#0"),
            ])
        );
        assert_eq!(
            String::from_utf8(live.body).expect("utf-8"),
            "address[city]=London&address[line1]=12+St+James%27s+Square&email=ada%40example.com\
             &metadata[patient_id]=P-1042&metadata[source]=intake+form&name=Ada+Lovelace\
             &preferred_locales[0]=en&preferred_locales[1]=fr"
        );
        assert_eq!(
            sandbox.headers[1],
            ("Authorization".into(), format!("Bearer {MASK}"))
        );

        let op = operation(p, "create_payment_intent");
        let input = json!({"amount": 1099, "currency": "usd", "customer": "cus_QXg1o8vcGmoR32",
                           "description": "Consultation fee", "automatic_payment_methods": {"enabled": true},
                           "metadata": {"appointment_id": "A-2093"}, "confirm": false,
                           "items": [{"price": "price_1", "quantity": 2}]});
        let (live, _) = both(
            p,
            op,
            &input,
            &cfg,
            &creds,
            &[STRIPE_KEY],
            Some("studio-run1#1"),
        );
        assert_eq!(live.url, "https://api.stripe.com/v1/payment_intents");
        assert_eq!(
            String::from_utf8(live.body).expect("utf-8"),
            "amount=1099&automatic_payment_methods[enabled]=true&confirm=false&currency=usd\
             &customer=cus_QXg1o8vcGmoR32&description=Consultation+fee\
             &items[0][price]=price_1&items[0][quantity]=2&metadata[appointment_id]=A-2093"
        );
        // Without a key, no idempotency header.
        let bare =
            build_request(p, op, &input, &cfg, CredentialValues::Masked, None).expect("builds");
        assert!(bare.headers.iter().all(|(n, _)| n != "Idempotency-Key"));
    }

    #[test]
    fn twilio_send_sms_puts_the_sid_in_the_path_basic_auth_and_repeats_media_urls() {
        let p = provider("twilio");
        let op = operation(p, "send_sms");
        let creds = credentials(&[("account_sid", TWILIO_SID), ("auth_token", TWILIO_TOKEN)]);
        let cfg = config(json!({"from_number": "+15017122661"}));
        let input = json!({"To": "+15558675310", "Body": "Your photo",
                           "MediaUrl": ["https://example.com/a.jpg", "https://example.com/b.jpg"]});
        let (live, sandbox) = both(
            p,
            op,
            &input,
            &cfg,
            &creds,
            &[TWILIO_SID, TWILIO_TOKEN],
            None,
        );
        assert_eq!(
            live.url,
            format!("https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")
        );
        assert_eq!(
            live.headers,
            headers(&[
                ("Authorization", &basic(TWILIO_SID, TWILIO_TOKEN)),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ])
        );
        assert_eq!(
            String::from_utf8(live.body).expect("utf-8"),
            "Body=Your+photo&From=%2B15017122661&MediaUrl=https%3A%2F%2Fexample.com%2Fa.jpg\
             &MediaUrl=https%3A%2F%2Fexample.com%2Fb.jpg&To=%2B15558675310"
        );
        assert_eq!(
            sandbox.url,
            "https://api.twilio.com/2010-04-01/Accounts/[redacted]/Messages.json"
        );
        assert_eq!(
            sandbox.headers[0],
            ("Authorization".into(), format!("Basic {MASK}"))
        );
    }

    #[test]
    fn mailgun_sends_a_form_with_basic_api_key_to_the_configured_region_and_domain() {
        let p = provider("mailgun");
        let op = operation(p, "send_email");
        let creds = credentials(&[("api_key", MAILGUN_KEY)]);
        let input = json!({"to": "ada@example.com", "subject": "Your appointment is confirmed",
                           "text": "See you on Monday at 10:00.", "o:tag": "appointment-confirmation",
                           "v:appointment_id": "A-2093"});
        let cfg = config(
            json!({"api_base_url": "https://api.eu.mailgun.net/", "domain": "mg.example.com",
                                "from_address": "Clinic <noreply@mg.example.com>"}),
        );
        let (live, _) = both(p, op, &input, &cfg, &creds, &[MAILGUN_KEY], None);
        assert_eq!(
            live.url,
            "https://api.eu.mailgun.net/v3/mg.example.com/messages"
        );
        assert_eq!(
            live.headers,
            headers(&[
                ("Authorization", &basic("api", MAILGUN_KEY)),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ])
        );
        assert_eq!(
            String::from_utf8(live.body).expect("utf-8"),
            "from=Clinic+%3Cnoreply%40mg.example.com%3E&o%3Atag=appointment-confirmation\
             &subject=Your+appointment+is+confirmed&text=See+you+on+Monday+at+10%3A00.\
             &to=ada%40example.com&v%3Aappointment_id=A-2093"
        );
        // Without a region, the US API (the config field's default).
        let cfg =
            config(json!({"domain": "mg.example.com", "from_address": "noreply@mg.example.com"}));
        let us =
            build_request(p, op, &input, &cfg, CredentialValues::Masked, None).expect("builds");
        assert_eq!(us.url, "https://api.mailgun.net/v3/mg.example.com/messages");
        // Without a domain, the error names it.
        let err = build_request(p, op, &input, &Map::new(), CredentialValues::Masked, None)
            .expect_err("no domain");
        assert_eq!(err, RequestError::Missing("config.domain".into()));
        assert_eq!(err.to_string(), "no value for {config.domain}");
    }

    #[test]
    fn linear_create_issue_is_a_graphql_post_with_the_input_as_variables() {
        let p = provider("linear");
        let op = operation(p, "create_issue");
        let creds = credentials(&[("api_key", LINEAR_KEY)]);
        let input = json!({"input": {"teamId": "72b2a2dc-6f4f-4423-9d34-24b5bd10634a", "title": "Wrong time zone", "priority": 2}});
        let (live, _) = both(p, op, &input, &Map::new(), &creds, &[LINEAR_KEY], None);
        assert_eq!(live.url, "https://api.linear.app/graphql");
        assert_eq!(
            live.headers,
            headers(&[
                ("Accept", "application/json"),
                ("Authorization", LINEAR_KEY),
                ("Content-Type", "application/json"),
            ])
        );
        let document = serde_json::to_string(op.graphql.as_ref().expect("document")).expect("json");
        assert_eq!(
            String::from_utf8(live.body).expect("utf-8"),
            format!(
                r#"{{"query":{document},"variables":{{"input":{{"priority":2,"teamId":"72b2a2dc-6f4f-4423-9d34-24b5bd10634a","title":"Wrong time zone"}}}}}}"#
            )
        );
    }

    #[test]
    fn google_sheets_append_encodes_the_range_as_one_segment_and_sends_the_options_as_query() {
        let p = provider("google_sheets");
        let op = operation(p, "append_values");
        let creds = credentials(&[
            ("client_id", "1234-client.apps.googleusercontent.com"),
            ("client_secret", "GOCSPX-canary-secret"),
            ("refresh_token", "1//canary-refresh"),
            ("access_token", GOOGLE_TOKEN),
        ]);
        let cfg = config(json!({"spreadsheet_id": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"}));
        let input =
            json!({"range": "Sheet1!A1:C1", "values": [["2026-11-29", "Ada Lovelace", 42.5]]});
        let (live, _) = both(
            p,
            op,
            &input,
            &cfg,
            &creds,
            &[GOOGLE_TOKEN, "GOCSPX-canary-secret", "1//canary-refresh"],
            None,
        );
        assert_eq!(
            live.url,
            "https://sheets.googleapis.com/v4/spreadsheets/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms\
             /values/Sheet1%21A1%3AC1:append?insertDataOption=INSERT_ROWS&valueInputOption=USER_ENTERED"
        );
        let bearer = format!("Bearer {GOOGLE_TOKEN}");
        assert_eq!(
            live.headers,
            headers(&[
                ("Accept", "application/json"),
                ("Authorization", &bearer),
                ("Content-Type", "application/json")
            ])
        );
        assert_eq!(
            String::from_utf8(live.body).expect("utf-8"),
            r#"{"values":[["2026-11-29","Ada Lovelace",42.5]]}"#
        );

        // The input's own option wins over the config's.
        let raw = json!({"range": "Log", "valueInputOption": "RAW", "values": [[1]]});
        let req = build_request(p, op, &raw, &cfg, CredentialValues::Masked, None).expect("builds");
        assert!(
            req.url
                .ends_with("/values/Log:append?insertDataOption=INSERT_ROWS&valueInputOption=RAW"),
            "{}",
            req.url
        );

        // Live without an access token (not refreshed yet) names what is missing.
        let no_token = credentials(&[("refresh_token", "1//canary-refresh")]);
        let err = build_request(p, op, &input, &cfg, CredentialValues::Real(&no_token), None)
            .expect_err("no token");
        assert_eq!(
            err,
            RequestError::Missing("credentials.access_token".into())
        );
        // A missing path value too.
        let err = build_request(
            p,
            op,
            &json!({"values": [[1]]}),
            &cfg,
            CredentialValues::Masked,
            None,
        )
        .expect_err("no range");
        assert_eq!(err, RequestError::Missing("input.range".into()));
    }

    #[test]
    fn fhir_create_sends_the_resource_as_fhir_json_with_the_chosen_auth() {
        let p = provider("fhir");
        let op = operation(p, "create_resource");
        let input = json!({
            "resource_type": "Encounter",
            "if_none_exist": "identifier=urn:oid:1.2.36|V-1",
            "resource": {"resourceType": "Encounter", "status": "in-progress",
                         "class": {"code": "IMP"}, "subject": {"reference": "Patient/example"}}
        });
        let body = r#"{"class":{"code":"IMP"},"resourceType":"Encounter","status":"in-progress","subject":{"reference":"Patient/example"}}"#;

        let basic_cfg =
            config(json!({"base_url": "https://fhir.example.org/r4/", "auth_type": "basic"}));
        let creds = credentials(&[
            ("username", "integration-user"),
            ("password", FHIR_PASSWORD),
        ]);
        let (live, sandbox) = both(p, op, &input, &basic_cfg, &creds, &[FHIR_PASSWORD], None);
        assert_eq!(live.url, "https://fhir.example.org/r4/Encounter");
        assert_eq!(
            live.headers,
            headers(&[
                ("Accept", "application/fhir+json"),
                ("Content-Type", "application/fhir+json"),
                ("If-None-Exist", "identifier=urn:oid:1.2.36|V-1"),
                ("Prefer", "return=representation"),
                ("Authorization", &basic("integration-user", FHIR_PASSWORD)),
            ])
        );
        assert_eq!(String::from_utf8(live.body).expect("utf-8"), body);
        assert_eq!(
            sandbox.headers[4],
            ("Authorization".into(), format!("Basic {MASK}"))
        );

        // auth_type defaults to bearer.
        let bearer_cfg = config(json!({"base_url": "https://fhir.example.org/r4"}));
        let creds = credentials(&[("access_token", FHIR_TOKEN)]);
        let (live, _) = both(p, op, &input, &bearer_cfg, &creds, &[FHIR_TOKEN], None);
        assert_eq!(
            live.headers[4],
            ("Authorization".into(), format!("Bearer {FHIR_TOKEN}"))
        );
        // No if_none_exist: no If-None-Exist header.
        let plain = json!({"resource_type": "Encounter", "resource": input["resource"].clone()});
        let req = build_request(p, op, &plain, &bearer_cfg, CredentialValues::Masked, None)
            .expect("builds");
        assert!(
            req.headers.iter().all(|(n, _)| n != "If-None-Exist"),
            "{:?}",
            req.headers
        );
        assert_eq!(String::from_utf8(req.body).expect("utf-8"), body);

        // SMART backend services: the bearer token the runtime obtained.
        let smart_cfg = config(
            json!({"base_url": "https://fhir.example.org/r4", "auth_type": "smart_backend_services",
                                      "token_url": "https://fhir.example.org/token"}),
        );
        let (live, _) = both(p, op, &input, &smart_cfg, &creds, &[FHIR_TOKEN], None);
        assert_eq!(
            live.headers[4],
            ("Authorization".into(), format!("Bearer {FHIR_TOKEN}"))
        );

        let odd_cfg =
            config(json!({"base_url": "https://fhir.example.org/r4", "auth_type": "digest"}));
        let err = build_request(p, op, &input, &odd_cfg, CredentialValues::Masked, None)
            .expect_err("unknown choice");
        assert!(
            matches!(err, RequestError::UnknownAuthChoice { ref field, ref value, .. } if field == "auth_type" && value == "digest"),
            "{err}"
        );

        // Ids are one path segment; . and .. are refused.
        let read = operation(p, "read_resource");
        let req = build_request(
            p,
            read,
            &json!({"resource_type": "Patient", "id": "a/b c"}),
            &bearer_cfg,
            CredentialValues::Masked,
            None,
        )
        .expect("builds");
        assert_eq!(req.url, "https://fhir.example.org/r4/Patient/a%2Fb%20c");
        assert!(req.body.is_empty());
        assert!(req.headers.iter().all(|(n, _)| n != "Content-Type"));
        let err = build_request(
            p,
            read,
            &json!({"resource_type": "Patient", "id": ".."}),
            &bearer_cfg,
            CredentialValues::Masked,
            None,
        )
        .expect_err("dot dot");
        assert_eq!(err, RequestError::BadPathSegment("input.id".into()));

        // Search: only the parameters given, numbers as text, values encoded.
        let search = operation(p, "search_resources");
        let req = build_request(p, search, &json!({"resource_type": "Encounter", "patient": "Patient/example", "status": null, "_count": 10}),
                                &bearer_cfg, CredentialValues::Masked, None).expect("builds");
        assert_eq!(
            req.url,
            "https://fhir.example.org/r4/Encounter?_count=10&patient=Patient%2Fexample"
        );
    }

    #[test]
    fn custom_http_puts_a_query_auth_key_in_the_query_encoded() {
        let declared = config(json!({
            "base_url": "https://api.example.com/v1/",
            "auth": {"scheme": "query", "param": "api_key"},
            "headers": {"X-Client": "studio"},
            "endpoints": [
                {"name": "get_ticket", "method": "GET", "path": "/tickets/{id}"},
                {"name": "create_ticket", "method": "POST", "path": "/tickets", "encoding": "form",
                 "idempotency_header": "Idempotency-Key"}
            ]
        }));
        let p = custom::build("Our API", &declared).expect("valid");
        let secret = "k3y with&=signs";
        let creds = credentials(&[("api_key", secret)]);
        let (live, sandbox) = both(
            &p,
            &p.operations[0],
            &json!({"id": "T-1"}),
            &Map::new(),
            &creds,
            &[secret],
            None,
        );
        assert_eq!(live.method, "GET");
        assert_eq!(
            live.url,
            "https://api.example.com/v1/tickets/T-1?api_key=k3y%20with%26%3Dsigns"
        );
        assert_eq!(
            sandbox.url,
            "https://api.example.com/v1/tickets/T-1?api_key=[redacted]"
        );
        assert_eq!(
            live.headers,
            headers(&[("X-Client", "studio"), ("Accept", "application/json")])
        );

        let input = json!({"title": "Printer on fire", "tags": ["urgent", "hw"]});
        let (live, _) = both(
            &p,
            &p.operations[1],
            &input,
            &Map::new(),
            &creds,
            &[secret],
            Some("studio-r#2"),
        );
        assert_eq!(
            live.url,
            "https://api.example.com/v1/tickets?api_key=k3y%20with%26%3Dsigns"
        );
        assert_eq!(
            String::from_utf8(live.body).expect("utf-8"),
            "tags[0]=urgent&tags[1]=hw&title=Printer+on+fire"
        );
        assert_eq!(
            live.headers,
            headers(&[
                ("X-Client", "studio"),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
                ("Idempotency-Key", "studio-r#2"),
            ])
        );
    }

    #[test]
    fn errors_never_carry_credential_values() {
        let p = provider("stripe");
        let op = operation(p, "create_customer");
        let secret = "sk_test_line\r\nX-Injected: yes";
        let creds = credentials(&[("secret_key", secret)]);
        let err = build_request(
            p,
            op,
            &json!({}),
            &Map::new(),
            CredentialValues::Real(&creds),
            None,
        )
        .expect_err("bad header");
        assert_eq!(err, RequestError::BadHeader("Authorization".into()));
        assert!(!err.to_string().contains("sk_test_line"), "{err}");
        assert!(!format!("{err:?}").contains("sk_test_line"), "{err:?}");

        // A credential that breaks the URL is not repeated either.
        let declared = config(
            json!({"base_url": "https://api.example.com", "auth": {"scheme": "none"},
                                     "endpoints": [{"name": "x", "method": "GET", "path": "/x/{id}"}]}),
        );
        let custom = custom::build("X", &declared).expect("valid");
        let err = build_request(
            &custom,
            &custom.operations[0],
            &json!({"id": {"nested": true}}),
            &Map::new(),
            CredentialValues::Masked,
            None,
        )
        .expect_err("object in path");
        assert_eq!(
            err.to_string(),
            "{input.id} cannot be put in the path: it is an object"
        );
        let err = build_request(
            &custom,
            &custom.operations[0],
            &json!([1]),
            &Map::new(),
            CredentialValues::Masked,
            None,
        )
        .expect_err("not an object");
        assert_eq!(err, RequestError::InputNotObject);
    }

    #[test]
    fn defaults_fill_only_what_the_input_lacks() {
        let p = provider("postmark");
        let op = operation(p, "send_email");
        let cfg =
            config(json!({"from_address": "clinic@example.com", "message_stream": "broadcast"}));
        let filled = with_defaults(
            p,
            op,
            &json!({"From": "other@example.com", "To": "a@example.com"}),
            &cfg,
        )
        .expect("object");
        assert_eq!(filled.get("From"), Some(&json!("other@example.com")));
        assert_eq!(filled.get("MessageStream"), Some(&json!("broadcast")));
        let bare =
            with_defaults(p, op, &json!({"To": "a@example.com"}), &Map::new()).expect("object");
        assert_eq!(
            bare.get("From"),
            None,
            "no sender configured: left for the schema to report"
        );
        assert_eq!(bare.get("MessageStream"), Some(&json!("outbound")));
    }
}
