//! Custom HTTP: an adapter of the same structure as the built-in ones, built from what
//! the user declares (base URL, auth scheme and where the secret goes, endpoints).
//!
//! ```json
//! {"base_url": "https://api.example.com/v1",
//!  "auth": {"scheme": "header", "header": "X-Api-Key"},
//!  "endpoints": [{"name": "create_ticket", "method": "POST", "path": "/tickets",
//!                 "input_schema": {...}, "response_schema": {...}}]}
//! ```
//! Auth schemes and the credential each takes: `bearer` (`token`), `header`
//! (`api_key`, in the named header), `query` (`api_key`, in the named parameter),
//! `basic` (`username`, `password`), `none`.
//!
//! An optional `verify` declares the connection check
//! (`POST /projects/{p}/integrations/{name}/verify` sends it):
//! `{"method": "GET", "path": "/health", "expect_status": [200]}` (a GET of a fixed
//! path; `expect_status` defaults to `[200]`).
//!
//! An optional `webhook` declares the HMAC-SHA256 signature the API puts on the
//! webhooks it sends back, keyed with a `webhook_secret` credential:
//! `{"header": "X-Signature", "encoding": "hex", "prefix": "sha256=",
//!   "timestamp_header": "X-Timestamp", "signed": "{timestamp}.{body}",
//!   "tolerance_secs": 300, "event_id": "/id", "event_type": "/type",
//!   "entities": [{"event_types": ["ticket.updated"], "entity_type": "ticket",
//!                 "id": "/data/id", "change": "updated", "state": "/data"}]}`.
//! An entity's `change` is `created`, `updated` or `deleted`, or `{"from": "/action"}`
//! to read the API's own word for it (`create`, `update`, `remove`...) from the event.
//!
//! Declared schemas keep within [`schema_limits`] (depth, properties, enum values, local
//! `$ref`s only, pattern repetitions), and each response schema must give a sandbox mock
//! within the mock's budgets ([`crate::runtime::mock`]): [`build_checked`], what creating
//! an integration and changing its config call, refuses the others with the endpoint's
//! field named.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::model::{
    Auth, Category, DigestEncoding, Encoding, EntityMapping, Field, Format, HmacFormat, HttpMethod,
    Operation, Payload, Provider, SignatureScheme, Verify, Webhooks,
};
use super::{check_declaration, schema_limits, values::check_value};
use crate::domain::InvalidValue;
use crate::runtime::mock;

/// The provider id of every Custom HTTP integration; its provider is built from the
/// declaration in the integration's config, not read from a catalog file.
pub const ID: &str = "custom_http";
const MAX_ENDPOINTS: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declaration {
    base_url: String,
    auth: AuthDeclaration,
    endpoints: Vec<Endpoint>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    webhook: Option<WebhookDeclaration>,
    #[serde(default)]
    verify: Option<VerifyDeclaration>,
}

/// The connection check a declared API offers: one read whose status says whether the
/// credentials work.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyDeclaration {
    method: HttpMethod,
    path: String,
    #[serde(default)]
    expect_status: Option<Vec<u16>>,
}

/// The most statuses a declared check may count as success.
const MAX_EXPECT_STATUS: usize = 10;

/// Checks a verify declaration: a GET (a check reads, it changes nothing) of a fixed
/// path (a query allowed; no placeholder, fragment, spaces or ..), with at most
/// [`MAX_EXPECT_STATUS`] statuses, each a real one.
fn verify(declared: &VerifyDeclaration, problems: &mut Vec<InvalidValue>) -> Verify {
    if declared.method != HttpMethod::Get {
        problems.push(problem(
            "config.verify.method",
            "must be GET: a check reads, it never changes anything",
        ));
    }
    let path = &declared.path;
    if !path.starts_with('/') || path.contains("..") || path.contains(['#', ' ', '{', '}']) {
        problems.push(problem(
            "config.verify.path",
            "must start with / and hold no placeholder, fragment, spaces or .. (a query is allowed)",
        ));
    }
    let expect_status = declared.expect_status.clone().unwrap_or_else(|| vec![200]);
    if expect_status.is_empty()
        || expect_status.len() > MAX_EXPECT_STATUS
        || expect_status.iter().any(|s| !(100..=599).contains(s))
    {
        problems.push(problem(
            "config.verify.expect_status",
            format!("list 1 to {MAX_EXPECT_STATUS} HTTP statuses (100 to 599)"),
        ));
    }
    Verify {
        method: declared.method,
        path: path.clone(),
        expect_status,
        error_when: None,
    }
}

/// The signature on the webhooks a declared API sends back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookDeclaration {
    header: String,
    #[serde(default)]
    encoding: DigestEncoding,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    timestamp_header: Option<String>,
    #[serde(default)]
    tolerance_secs: Option<u64>,
    #[serde(default)]
    signed: Option<String>,
    event_id: String,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    event_time: Option<String>,
    #[serde(default)]
    entities: Vec<EntityMapping>,
}

fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a webhook declaration and turns it into the catalog's webhook section.
fn webhooks(declared: &WebhookDeclaration, problems: &mut Vec<InvalidValue>) -> Webhooks {
    if !header_name_ok(&declared.header) {
        problems.push(problem(
            "config.webhook.header",
            "must be a header name (letters, digits, - and _)",
        ));
    }
    let signed = declared.signed.clone().unwrap_or_else(|| {
        if declared.timestamp_header.is_some() {
            "{timestamp}.{body}".into()
        } else {
            "{body}".into()
        }
    });
    let placeholders_ok = signed.matches("{body}").count() == 1
        && signed
            .replace("{body}", "")
            .replace("{timestamp}", "")
            .find(['{', '}'])
            .is_none();
    if !placeholders_ok {
        problems.push(problem(
            "config.webhook.signed",
            "must hold {body} once, and may hold {timestamp}; no other placeholder",
        ));
    }
    match &declared.timestamp_header {
        Some(h) if !header_name_ok(h) => problems.push(problem(
            "config.webhook.timestamp_header",
            "must be a header name (letters, digits, - and _)",
        )),
        None if signed.contains("{timestamp}") => problems.push(problem(
            "config.webhook.timestamp_header",
            "is required when the signed text holds {timestamp}",
        )),
        _ => {}
    }
    for (field, pointer) in [
        ("config.webhook.event_id", Some(&declared.event_id)),
        ("config.webhook.event_type", declared.event_type.as_ref()),
        ("config.webhook.event_time", declared.event_time.as_ref()),
    ] {
        if pointer.is_some_and(|p| !p.starts_with('/')) {
            problems.push(problem(field, "must be a JSON pointer (/id)"));
        }
    }
    Webhooks {
        signature: SignatureScheme::HmacSha256,
        header: Some(declared.header.clone()),
        timestamp_header: declared.timestamp_header.clone(),
        // A signed timestamp without a declared window gets Stripe's and Slack's 5 minutes.
        tolerance_secs: declared
            .tolerance_secs
            .or(declared.timestamp_header.as_ref().map(|_| 300)),
        secret_fields: vec!["webhook_secret".into()],
        event_id: declared.event_id.clone(),
        event_type: declared.event_type.clone(),
        event_time: declared.event_time.clone(),
        entities: declared.entities.clone(),
        sample_event: None,
        event_id_header: None,
        event_id_with: vec![],
        batch: false,
        payload: Payload::Body,
        header_prefix: None,
        header_config: None,
        hmac: Some(HmacFormat {
            encoding: declared.encoding,
            prefix: declared.prefix.clone(),
            signed,
        }),
    }
}

#[derive(Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
enum AuthDeclaration {
    Bearer,
    Header { header: String },
    Query { param: String },
    Basic,
    None,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Endpoint {
    name: String,
    method: HttpMethod,
    path: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Option<Value>,
    #[serde(default)]
    response_schema: Option<Value>,
    /// Defaults to true for anything but GET.
    #[serde(default)]
    side_effects: Option<bool>,
    /// `json` (default) or `form`; GET and DELETE send no body.
    #[serde(default)]
    encoding: Option<Encoding>,
    #[serde(default)]
    idempotency_header: Option<String>,
}

fn secret(name: &str, label: &str) -> Field {
    Field {
        name: name.into(),
        label: label.into(),
        secret: true,
        required: true,
        format: None,
        choices: vec![],
        default: None,
        prefixes: vec![],
        min_length: None,
        max_length: None,
        when: None,
        help: None,
        example: None,
        pattern: None,
        needed_for: vec![],
    }
}

/// The credential fields each auth scheme takes (what describe asks for).
pub fn credential_fields(scheme: &str) -> Vec<Field> {
    match scheme {
        "bearer" => vec![secret("token", "Bearer token")],
        "header" | "query" => vec![secret("api_key", "API key")],
        "basic" => {
            let mut username = secret("username", "Username");
            username.secret = false;
            vec![username, secret("password", "Password")]
        }
        _ => vec![],
    }
}

/// The config fields a Custom HTTP integration takes (what describe asks for).
pub fn config_fields() -> Vec<Field> {
    let mut base = secret("base_url", "Base URL of the API");
    base.secret = false;
    base.format = Some(Format::Url);
    let mut auth = secret("auth", "Auth scheme: bearer, header, query, basic or none");
    auth.secret = false;
    auth.choices = vec![
        "bearer".into(),
        "header".into(),
        "query".into(),
        "basic".into(),
        "none".into(),
    ];
    let mut endpoints = secret(
        "endpoints",
        "Endpoints: name, method, path, input and response schema",
    );
    endpoints.secret = false;
    vec![base, auth, endpoints]
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> InvalidValue {
    InvalidValue::new(field, message)
}

/// Builds the provider a Custom HTTP integration's config declares, or says what is wrong.
pub fn build(
    display_name: &str,
    config: &Map<String, Value>,
) -> Result<Provider, Vec<InvalidValue>> {
    let declaration: Declaration =
        serde_json::from_value(Value::Object(config.clone())).map_err(|e| {
            vec![problem(
                "config",
                format!("a Custom HTTP config has base_url, auth and endpoints: {e}"),
            )]
        })?;
    let mut problems = Vec::new();
    check_base_url(&declaration.base_url, &mut problems);
    check_headers(&declaration.headers, &mut problems);
    let (auth, mut credentials) = auth_scheme(&declaration.auth, &mut problems);
    let webhooks = declaration.webhook.as_ref().map(|declared| {
        credentials.push(secret("webhook_secret", "Webhook signing secret"));
        webhooks(declared, &mut problems)
    });
    let verify = declaration
        .verify
        .as_ref()
        .map(|declared| verify(declared, &mut problems));
    if declaration.endpoints.is_empty() {
        problems.push(problem("config.endpoints", "declare at least one endpoint"));
    }
    if declaration.endpoints.len() > MAX_ENDPOINTS {
        problems.push(problem(
            "config.endpoints",
            format!("at most {MAX_ENDPOINTS} endpoints"),
        ));
    }
    let mut operations = Vec::new();
    for (i, endpoint) in declaration.endpoints.iter().enumerate() {
        operations.push(operation(
            &format!("config.endpoints[{i}]"),
            endpoint,
            &mut problems,
        ));
    }
    let provider = Provider {
        id: ID.into(),
        display_name: display_name.into(),
        category: Category::Custom,
        description: "A REST API declared by the user.".into(),
        source: "declared by the user".into(),
        aliases: vec![],
        capabilities: vec![],
        base_url: declaration.base_url.trim_end_matches('/').to_owned(),
        headers: declaration.headers,
        auth,
        credentials,
        config: vec![],
        verify,
        lookups: BTreeMap::new(),
        default_operation: None,
        operations,
        webhooks,
    };
    if problems.is_empty() {
        for p in check_declaration(&provider) {
            problems.push(problem("config", p));
        }
    }
    if problems.is_empty() {
        Ok(provider)
    } else {
        Err(problems)
    }
}

/// [`build`], then each endpoint's response schema mocked once: what creating an
/// integration or changing its config calls, so that a schema no sandbox mock fits within
/// the budgets is refused there, not found out at a run. (Steps call [`build`] alone: the
/// declaration they read was checked when it was stored.)
pub fn build_checked(
    display_name: &str,
    config: &Map<String, Value>,
) -> Result<Provider, Vec<InvalidValue>> {
    let provider = build(display_name, config)?;
    let problems: Vec<InvalidValue> = provider
        .operations
        .iter()
        .enumerate()
        .filter_map(|(i, op)| {
            let e = mock::mock_response(op, &op.sample_input, "create").err()?;
            Some(problem(
                format!("config.endpoints[{i}].response_schema"),
                format!("no sandbox mock response fits this schema: {e}"),
            ))
        })
        .collect();
    if problems.is_empty() {
        Ok(provider)
    } else {
        Err(problems)
    }
}

/// The headers the runtime sets itself: a declaration may not set them (a `Host` would
/// redirect the call, a `Content-Length` would make the trace differ from the wire).
const OWNED_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
];

/// Declared headers: valid HTTP header names and values (no CR, LF or other control
/// characters), none of those the runtime owns. A problem names the header, and a
/// value is never repeated.
fn check_headers(headers: &BTreeMap<String, String>, problems: &mut Vec<InvalidValue>) {
    for (name, value) in headers {
        let Ok(parsed) = http::HeaderName::from_bytes(name.as_bytes()) else {
            problems.push(problem(
                "config.headers",
                format!(
                    "{:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                    name.escape_debug().to_string()
                ),
            ));
            continue;
        };
        if OWNED_HEADERS.contains(&parsed.as_str()) {
            problems.push(problem(
                format!("config.headers.{parsed}"),
                "is set by the runtime for each call; remove it from the declaration",
            ));
        }
        if http::HeaderValue::from_str(value).is_err() || value.trim().is_empty() {
            problems.push(problem(
                format!("config.headers.{parsed}"),
                "must be a non-empty header value (visible ASCII and spaces; no line breaks)",
            ));
        }
    }
}

/// The declared base URL is a URL with no query or fragment.
fn check_base_url(base_url: &str, problems: &mut Vec<InvalidValue>) {
    let url_field = {
        let mut f = secret("base_url", "Base URL");
        f.secret = false;
        f.format = Some(Format::Url);
        f
    };
    if let Err(m) = check_value(&url_field, base_url) {
        problems.push(problem("config.base_url", m));
    }
    if url::Url::parse(base_url).is_ok_and(|u| u.query().is_some() || u.fragment().is_some()) {
        problems.push(problem(
            "config.base_url",
            "must not carry a query or fragment; declare them on endpoints",
        ));
    }
}

/// The catalog's auth scheme for a declared one, with the credential fields it takes.
fn auth_scheme(declared: &AuthDeclaration, problems: &mut Vec<InvalidValue>) -> (Auth, Vec<Field>) {
    match declared {
        AuthDeclaration::Bearer => (
            Auth::Header {
                header: "Authorization".into(),
                value: "Bearer {credentials.token}".into(),
            },
            credential_fields("bearer"),
        ),
        AuthDeclaration::Header { header } => {
            let valid = !header.is_empty()
                && header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                problems.push(problem(
                    "config.auth.header",
                    "must be a header name (letters, digits, - and _)",
                ));
            }
            (
                Auth::Header {
                    header: header.clone(),
                    value: "{credentials.api_key}".into(),
                },
                credential_fields("header"),
            )
        }
        AuthDeclaration::Query { param } => {
            if param.is_empty() || param.contains(['&', '=', '#', '?', ' ']) {
                problems.push(problem(
                    "config.auth.param",
                    "must be a query parameter name",
                ));
            }
            (
                Auth::Query {
                    param: param.clone(),
                    value: "{credentials.api_key}".into(),
                },
                credential_fields("query"),
            )
        }
        AuthDeclaration::Basic => (
            Auth::Basic {
                username: "{credentials.username}".into(),
                password: "{credentials.password}".into(),
            },
            credential_fields("basic"),
        ),
        AuthDeclaration::None => (Auth::None, vec![]),
    }
}

/// The operation an endpoint (`at`) declares; what is wrong with it goes to `problems`.
fn operation(at: &str, endpoint: &Endpoint, problems: &mut Vec<InvalidValue>) -> Operation {
    let valid_name = !endpoint.name.is_empty()
        && endpoint.name.len() <= 64
        && endpoint
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name {
        problems.push(problem(
            format!("{at}.name"),
            "use lowercase letters, digits and _ (e.g. create_ticket)",
        ));
    }
    // People write `/tickets/{id}`; the adapter's templates say `{input.id}`.
    let path = endpoint
        .path
        .replace("{input.", "{")
        .replace('{', "{input.");
    if !endpoint.path.starts_with('/')
        || endpoint.path.contains("..")
        || endpoint.path.contains(['?', '#', ' '])
    {
        problems.push(problem(
            format!("{at}.path"),
            "must start with / and hold no query, fragment, spaces or ..",
        ));
    }
    let bodiless = matches!(endpoint.method, HttpMethod::Get | HttpMethod::Delete);
    let encoding = if bodiless {
        Encoding::None
    } else {
        endpoint.encoding.unwrap_or(Encoding::Json)
    };
    if matches!(encoding, Encoding::Graphql) {
        problems.push(problem(format!("{at}.encoding"), "json or form"));
    }
    for (kind, schema) in [
        ("input_schema", &endpoint.input_schema),
        ("response_schema", &endpoint.response_schema),
    ] {
        for message in schema.iter().flat_map(schema_limits::check) {
            problems.push(problem(format!("{at}.{kind}"), message));
        }
    }
    let input_schema = input_schema(endpoint, &path);
    Operation {
        quote: BTreeMap::new(),
        id: endpoint.name.as_str().into(),
        name: endpoint.name.replace('_', " "),
        description: endpoint
            .description
            .clone()
            .unwrap_or_else(|| format!("{} {}", endpoint.method.as_str(), endpoint.path)),
        phrases: vec![endpoint.name.replace('_', " ")],
        method: endpoint.method,
        path,
        query: BTreeMap::new(),
        headers: BTreeMap::new(),
        encoding,
        graphql: None,
        body_field: None,
        defaults: BTreeMap::new(),
        input_schema,
        response_schema: endpoint
            .response_schema
            .clone()
            .unwrap_or_else(|| json!({"type": "object"})),
        success_status: 200,
        empty_response: false,
        schema_source: None,
        side_effects: endpoint
            .side_effects
            .unwrap_or(endpoint.method != HttpMethod::Get),
        destructive: false,
        idempotency_header: endpoint.idempotency_header.clone(),
        rate_limit_headers: vec![],
        error_when: None,
        entity: None,
        compile: None,
        sample_input: json!({}),
        sample_response: json!({}),
        sample_responses_by: None,
    }
}

/// The endpoint's input schema (an open object by default), its path parameters declared.
fn input_schema(endpoint: &Endpoint, path: &str) -> Value {
    let mut input_schema = endpoint
        .input_schema
        .clone()
        .unwrap_or_else(|| json!({"type": "object"}));
    if let Ok(found) = super::placeholders(path)
        && let Some(obj) = input_schema.as_object_mut()
    {
        let properties = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(properties) = properties.as_object_mut() {
            for p in found {
                properties
                    .entry(p.name.clone())
                    .or_insert_with(|| json!({"type": ["string", "integer"]}));
            }
        }
    }
    input_schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn a_declared_api_becomes_an_adapter_with_the_credentials_its_scheme_needs() {
        let provider = build(
            "Our API",
            &config(json!({
                "base_url": "https://api.example.com/v1/",
                "auth": {"scheme": "header", "header": "X-Api-Key"},
                "endpoints": [
                    {"name": "create_ticket", "method": "POST", "path": "/tickets",
                     "input_schema": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}},
                     "response_schema": {"type": "object", "properties": {"id": {"type": "string"}}}},
                    {"name": "get_ticket", "method": "GET", "path": "/tickets/{id}"}
                ]
            })),
        )
        .expect("valid");
        assert_eq!(provider.base_url, "https://api.example.com/v1");
        assert_eq!(
            provider
                .credentials
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>(),
            vec!["api_key"]
        );
        assert_eq!(provider.operations[1].path, "/tickets/{input.id}");
        assert_eq!(provider.operations[1].encoding, Encoding::None);
        assert!(!provider.operations[1].side_effects);
        assert!(provider.operations[0].side_effects);
    }

    fn with_verify(verify: Value) -> Map<String, Value> {
        config(json!({
            "base_url": "https://api.example.com",
            "auth": {"scheme": "bearer"},
            "endpoints": [{"name": "get_ticket", "method": "GET", "path": "/tickets/{id}"}],
            "verify": verify
        }))
    }

    #[test]
    fn a_declared_verify_request_becomes_the_adapters_connection_check() {
        let provider = build(
            "Our API",
            &with_verify(json!({"method": "GET", "path": "/health?deep=1"})),
        )
        .expect("valid");
        let verify = provider.verify.expect("declared");
        assert_eq!(verify.path, "/health?deep=1");
        assert_eq!(verify.expect_status, vec![200]);
        let provider = build(
            "Our API",
            &with_verify(json!({"method": "GET", "path": "/me", "expect_status": [200, 204]})),
        )
        .expect("valid");
        assert_eq!(
            provider.verify.expect("declared").expect_status,
            vec![200, 204]
        );
    }

    #[test]
    fn a_verify_request_that_writes_has_placeholders_or_odd_statuses_is_refused() {
        for (verify, field) in [
            (
                json!({"method": "POST", "path": "/health"}),
                "config.verify.method",
            ),
            (
                json!({"method": "GET", "path": "/users/{id}"}),
                "config.verify.path",
            ),
            (
                json!({"method": "GET", "path": "health"}),
                "config.verify.path",
            ),
            (
                json!({"method": "GET", "path": "/../admin"}),
                "config.verify.path",
            ),
            (
                json!({"method": "GET", "path": "/h", "expect_status": []}),
                "config.verify.expect_status",
            ),
            (
                json!({"method": "GET", "path": "/h", "expect_status": [42]}),
                "config.verify.expect_status",
            ),
        ] {
            let errors = build("Our API", &with_verify(verify.clone())).expect_err("refused");
            assert_eq!(fields(&errors), vec![field], "{verify}");
        }
        let errors = build(
            "Our API",
            &with_verify(json!({"method": "GET", "path": "/h", "timeout": 3})),
        )
        .expect_err("unknown field");
        assert_eq!(fields(&errors), vec!["config"]);
    }

    fn endpoints(schemas: Vec<(&str, Value)>) -> Map<String, Value> {
        let endpoints: Vec<Value> = schemas
            .into_iter()
            .enumerate()
            .map(|(i, (kind, schema))| {
                json!({"name": format!("e{i}"), "method": "POST", "path": "/x", kind: schema})
            })
            .collect();
        config(
            json!({"base_url": "https://api.example.com", "auth": {"scheme": "none"},
                      "endpoints": endpoints}),
        )
    }

    fn fields(errors: &[InvalidValue]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn response_schemas_no_sandbox_mock_fits_are_refused_naming_the_endpoint() {
        let mut grid = json!({"type": "integer"});
        for _ in 0..6 {
            grid = json!({"type": "array", "minItems": 16, "items": grid});
        }
        let object = |property: Value| json!({"type": "object", "required": ["p"], "properties": {"p": property}});
        let declared = endpoints(vec![
            (
                "response_schema",
                json!({"type": "object", "required": ["a", "b"],
                                       "properties": {"a": {"$ref": "#"}, "b": {"$ref": "#"}}}),
            ),
            (
                "response_schema",
                object(json!({"type": "string", "minLength": 1_000_000_000})),
            ),
            ("response_schema", object(grid)),
            (
                "response_schema",
                object(json!({"type": "string", "minLength": 10})),
            ),
        ]);
        assert!(
            build("Ours", &declared).is_ok(),
            "each schema is well formed"
        );
        let errors = build_checked("Ours", &declared).expect_err("no mock fits");
        assert_eq!(
            fields(&errors),
            [
                "config.endpoints[0].response_schema",
                "config.endpoints[1].response_schema",
                "config.endpoints[2].response_schema"
            ]
        );
        assert!(
            errors[0].message.contains("requires itself at /a/a"),
            "{errors:?}"
        );
        assert!(errors[1].message.contains("at least 1000000000 characters"));
        assert!(errors[2].message.contains("more than 10000 schema nodes"));
    }

    #[test]
    fn declared_schemas_keep_within_the_limits() {
        let declared = endpoints(vec![
            (
                "response_schema",
                json!({"type": "object", "properties": {
                "code": {"type": "string", "pattern": "(a{256}){40}"}}}),
            ),
            (
                "input_schema",
                json!({"type": "object", "properties": {
                "a": {"$ref": "https://schemas.example.com/a.json"}}}),
            ),
            (
                "input_schema",
                json!({"type": "object", "properties": {
                "state": {"enum": (0..1000).collect::<Vec<_>>()}}}),
            ),
            (
                "response_schema",
                json!({"type": "object", "properties": {
                "a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"type": "string"}}}),
            ),
        ]);
        let errors = build("Ours", &declared).expect_err("over the limits");
        assert_eq!(
            fields(&errors),
            [
                "config.endpoints[0].response_schema",
                "config.endpoints[1].input_schema",
                "config.endpoints[2].input_schema"
            ],
            "{errors:?}"
        );
        assert!(errors[0].message.contains("/properties/code/pattern"));
        assert!(errors[1].message.contains("only local references"));
        assert!(errors[2].message.contains("at most 256"));
    }

    #[test]
    fn bad_declarations_name_each_field_at_fault() {
        let errors = build(
            "Bad",
            &config(json!({
                "base_url": "http://api.example.com",
                "auth": {"scheme": "header", "header": "X Api Key"},
                "endpoints": [{"name": "Create Ticket", "method": "POST", "path": "tickets",
                               "input_schema": {"type": "object", "properties": {"a": {"type": "strung"}}}}]
            })),
        )
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"config.base_url"), "{errors:?}");
        assert!(fields.contains(&"config.auth.header"), "{errors:?}");
        assert!(fields.contains(&"config.endpoints[0].name"), "{errors:?}");
        assert!(fields.contains(&"config.endpoints[0].path"), "{errors:?}");
        let schema_error = build(
            "Bad schema",
            &config(json!({"base_url": "https://api.example.com", "auth": {"scheme": "none"},
                           "endpoints": [{"name": "x", "method": "POST", "path": "/x",
                                          "input_schema": {"type": "object", "properties": {"a": {"type": "strung"}}}}]})),
        )
        .expect_err("schema does not compile");
        assert!(
            schema_error[0].message.contains("does not compile"),
            "{schema_error:?}"
        );
        assert!(build("No", &config(json!({"base_url": "https://x.example"}))).is_err());
    }
}
