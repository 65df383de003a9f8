//! The studio API's OpenAPI 3.1 document, generated from the code (`openapi` feature).
//!
//! The operations are the handlers' `#[utoipa::path]` annotations, gathered per function
//! by the same `routes!` lines that make its `ROUTES` and its router (each module's
//! `Api`), and tagged with the function that serves them; a test holds the document
//! against the route tables both ways. The request and response bodies are the Rust
//! types the handlers read and answer (`ToSchema`), or, where a handler builds its
//! answer as JSON, the types below, which a test holds against real answers. The
//! webhook route's signature headers are read from the catalog's `webhooks:` sections
//! as the document is made.
//!
//! Only the local binary (`GET /openapi.json`) and the tests build this; the Lambda
//! functions leave the feature off. `docs/openapi.json` is the document as checked in,
//! and a test fails when it is stale (`docs/openapi.md` says how to write it again).

use std::collections::BTreeMap;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Required, Server, Tag};
use utoipa::{OpenApi, PartialSchema, ToResponse, ToSchema};

use super::{ApiError, AppState, FieldError, Function};
use crate::aggregates::integrations::dependents::Dependent;
use crate::catalog::{Catalog, CatalogError, SignatureScheme};
use crate::domain::{
    AuditRecord, IntegrationName, IntegrationView, ProjectId, Run, StepContract, StepTrace,
    Trigger, WorkflowId,
};
use crate::webhooks::Outcome;

/// The path the local binary serves the document at.
pub const DOCUMENT_PATH: &str = "/openapi.json";

/// The webhook route, whose signature headers come from the catalog.
const WEBHOOK_PATH: &str = "/hooks/{project}/{integration}";

/// Why the document could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    /// The embedded catalog, which names the webhook headers, does not load.
    #[error("the catalog does not load: {0}")]
    Catalog(#[from] CatalogError),
    /// The document does not serialize.
    #[error("the document does not serialize: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<OpenApiError> for ApiError {
    fn from(e: OpenApiError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// What the document holds besides the operations: info, the problem+json shape and
/// the error responses every operation refers to.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Studio integrations API",
        description = "The HTTP API the studio frontend uses: projects, integrations, \
            workflows compiled from plain words, runs, and provider webhooks. JSON in and \
            out; every error is `application/problem+json` (RFC 9457). The same routes \
            are served by four Lambda functions behind API Gateway (each operation's tag \
            names its function) and, all together, by the local binary `studio-local`.",
    ),
    components(
        schemas(Problem),
        responses(
            BadRequest,
            Unauthorized,
            NotFound,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Invalid,
            TooManyRequests,
            Internal,
            Unavailable
        )
    )
)]
struct Base;

/// The whole document: every function's operations, the security schemes, the servers
/// and the webhook route's headers by provider.
///
/// # Errors
/// [`OpenApiError::Catalog`] when the embedded catalog does not load.
pub fn document() -> Result<utoipa::openapi::OpenApi, OpenApiError> {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.servers = Some(vec![local_server()]);
    let mut tags = Vec::with_capacity(Function::ALL.len());
    for function in Function::ALL {
        let (name, about) = function_tag(function);
        let mut part = function_api(function);
        for item in part.paths.paths.values_mut() {
            for operation in operations(item) {
                operation.tags = Some(vec![name.to_owned()]);
            }
        }
        doc.merge(part);
        let mut tag = Tag::new(name);
        tag.description = Some(about.to_owned());
        tags.push(tag);
    }
    doc.tags = Some(tags);
    add_security_schemes(&mut doc);
    add_webhook_headers(&mut doc, crate::catalog::catalog()?);
    Ok(doc)
}

/// The document as `docs/openapi.json` holds it: pretty JSON, ending with a newline.
///
/// # Errors
/// As [`document`].
pub fn json() -> Result<String, OpenApiError> {
    let mut text = serde_json::to_string_pretty(&document()?)?;
    text.push('\n');
    Ok(text)
}

/// `GET /openapi.json`, for the local binary's router.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route(DOCUMENT_PATH, get(serve))
}

async fn serve() -> Result<Response, ApiError> {
    let mut response = json()?.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn local_server() -> Server {
    let mut server = Server::new(format!("http://{}", super::DEFAULT_LOCAL_LISTEN));
    server.description = Some(
        "studio-local on its default address (STUDIO_LISTEN or --listen sets another). \
         On AWS, the HTTP API's endpoint: https://{api-id}.execute-api.{region}.amazonaws.com"
            .to_owned(),
    );
    server
}

fn function_api(function: Function) -> utoipa::openapi::OpenApi {
    match function {
        Function::AddIntegration => super::add_integration::Api::openapi(),
        Function::CompileContract => super::compile_contract::Api::openapi(),
        Function::ExecuteStep => super::execute_step::Api::openapi(),
        Function::IngestWebhook => super::ingest_webhook::Api::openapi(),
    }
}

/// The function's name (as template.yaml and the binaries spell it) and what it serves.
fn function_tag(function: Function) -> (&'static str, &'static str) {
    match function {
        Function::AddIntegration => (
            "add-integration",
            "Projects, and the integrations in them: describe, add, change, rotate, \
             dependents, audit trail, webhook verification token.",
        ),
        Function::CompileContract => (
            "compile-contract",
            "Workflows: a step compiled from plain words into a contract, read back, removed.",
        ),
        Function::ExecuteStep => (
            "execute-step",
            "Runs (started, listed, read with their traces) and the connection check.",
        ),
        Function::IngestWebhook => (
            "ingest-webhook",
            "Provider webhook deliveries: public, verified by the provider's signature.",
        ),
    }
}

/// Every operation of a path item.
pub fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The two ways a caller proves it may act on a project (see `http::auth`).
fn add_security_schemes(doc: &mut utoipa::openapi::OpenApi) {
    let project_token = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(
            "The project's API token, returned once by `POST /projects`, sent as \
             `Authorization: Bearer <token>`. How the local binary is called (and, on \
             AWS, callers without a JWT are refused by the authorizer).",
        ))
        .build();
    let jwt = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(
            "On AWS: a JWT verified by the HTTP API's JWT authorizer (issuer and audience \
             from the stack's JwtIssuer and JwtAudience parameters) before the function \
             runs. Its `projects` claim (project ids separated by spaces or commas) names \
             the projects the caller may act on.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme("projectToken", SecurityScheme::Http(project_token));
    components.add_security_scheme("jwt", SecurityScheme::Http(jwt));
}

/// One header some provider sends with its deliveries, and who sends it for what.
#[derive(Default)]
struct WebhookHeader {
    name: String,
    senders: Vec<String>,
}

/// The headers each catalog provider signs or identifies its deliveries with, as header
/// parameters of the webhook route, and a line per provider in its description.
fn add_webhook_headers(doc: &mut utoipa::openapi::OpenApi, catalog: &Catalog) {
    let Some(operation) = doc
        .paths
        .paths
        .get_mut(WEBHOOK_PATH)
        .and_then(|item| item.post.as_mut())
    else {
        return;
    };
    // Header names are case-insensitive: one parameter per name, whoever sends it.
    let mut headers: BTreeMap<String, WebhookHeader> = BTreeMap::new();
    let mut lines = Vec::new();
    for provider in catalog.providers() {
        let Some(webhooks) = &provider.webhooks else {
            continue;
        };
        let who = format!("{} (`{}`)", provider.display_name, provider.id.as_str());
        let scheme = serde_json::to_value(webhooks.signature)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut sent = Vec::new();
        let mut note = |name: &str, role: &str| {
            let entry = headers.entry(name.to_ascii_lowercase()).or_default();
            if entry.name.is_empty() {
                entry.name = name.to_owned();
            }
            entry.senders.push(format!("{who}: {role}"));
            sent.push(format!("`{name}` ({role})"));
        };
        if let Some(name) = &webhooks.header {
            note(name, signature_role(webhooks.signature));
        }
        if let Some(name) = &webhooks.timestamp_header {
            note(name, "the signed timestamp");
        }
        if let Some(name) = &webhooks.event_id_header {
            note(name, "the delivery's id, for deduplication");
        }
        let mut line = format!("- {who}, `{scheme}`: ");
        line.push_str(&match webhooks.signature {
            SignatureScheme::MailgunBody => "signed in the body (`signature`)".to_owned(),
            SignatureScheme::BasicAuth => {
                "basic credentials in the webhook URL (`Authorization: Basic`)".to_owned()
            }
            _ => sent.join(", "),
        });
        if let Some(field) = &webhooks.header_config {
            line.push_str(&format!("; or the header its config field `{field}` names"));
        }
        if let Some(prefix) = &webhooks.header_prefix {
            line.push_str(&format!("; the event itself is in its `{prefix}*` headers"));
        }
        lines.push(line);
    }
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    for header in headers.into_values() {
        // OpenAPI ignores a header parameter named Authorization: the providers that
        // send one are listed in the description instead.
        if header.name.eq_ignore_ascii_case("authorization") {
            continue;
        }
        let parameter = ParameterBuilder::new()
            .name(header.name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(format!("Sent by {}.", header.senders.join("; "))))
            .schema(Some(String::schema()))
            .build();
        parameters.push(parameter.into());
    }
    let description = operation.description.get_or_insert_with(String::new);
    description.push_str(
        "\n\nHow each catalog provider signs its deliveries (the header parameters below \
         are these headers; a Custom HTTP integration names its own `hmac_sha256` header \
         in its config):\n\n",
    );
    description.push_str(&lines.join("\n"));
}

fn signature_role(scheme: SignatureScheme) -> &'static str {
    match scheme {
        SignatureScheme::HeaderSecret => "the shared secret",
        _ => "the signature",
    }
}

/// An error, as `application/problem+json` (RFC 9457). Every error response of the API
/// has this shape.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// The problem type, `/problems/<slug>`: `bad-request`, `validation`,
    /// `unauthorized`, `not-found`, `method-not-allowed`, `conflict`, `too-large`,
    /// `too-many-requests`, `unsupported-media-type`, `unavailable`, `internal`.
    #[serde(rename = "type")]
    #[schema(format = "uri-reference", example = "/problems/not-found")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong here, in words a user can act on (never a secret, never an
    /// internal detail).
    pub detail: String,
    /// The fields at fault (422 only): each with what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// More detail on some problems, such as a 409's `dependents`.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// 400: the body is not JSON, or a query parameter does not read.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// 401: no valid token for the project, or an unknown project (answered alike). On the
/// webhook route: the delivery could not be verified for this URL, whatever the reason.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
pub struct Unauthorized(pub Problem);

/// 404: the resource named does not exist.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(pub Problem);

/// 409: the name is taken, the resource changed meanwhile, or something depends on it
/// (the dependents are listed).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(pub Problem);

/// 413: the body is larger than the route accepts (256 KiB; webhooks:
/// `STUDIO_MAX_WEBHOOK_BYTES`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

/// 415: the body is not sent as `Content-Type: application/json`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(pub Problem);

/// 422: some fields are invalid (`errors` lists each with what is wrong); nothing was
/// changed.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Invalid(pub Problem);

/// 429: too many deliveries to this webhook URL failed verification.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds until the limit no longer applies"))
)]
pub struct TooManyRequests(pub Problem);

/// 500: a bug or corrupt data; logged, answered without internals.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Internal(pub Problem);

/// 503: a backing service did not answer; try again.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unavailable(pub Problem);

/// A project (never its token).
#[derive(Serialize, ToSchema)]
pub struct ProjectView {
    /// The project's id, as in `/projects/{project}`.
    pub id: ProjectId,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A project just created, with its API token: shown this once, only its SHA-256 is
/// kept.
#[derive(Serialize, ToSchema)]
pub struct CreatedProject {
    /// The project's id, as in `/projects/{project}`.
    pub id: ProjectId,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The project's API token, for `Authorization: Bearer <token>`.
    pub token: String,
}

/// A project's integrations.
#[derive(Serialize, ToSchema)]
pub struct IntegrationList {
    /// Each integration's metadata.
    pub integrations: Vec<IntegrationView>,
}

/// The workflows and steps that use an integration.
#[derive(Serialize, ToSchema)]
pub struct DependentsView {
    /// The integration.
    pub integration: IntegrationName,
    /// The workflows that use it, each with its steps on it.
    pub workflows: Vec<Dependent>,
}

/// A page of an integration's audit trail: every use of its credentials, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditTrailPage {
    /// The integration.
    pub integration: IntegrationName,
    /// The records, newest first.
    pub records: Vec<AuditRecord>,
    /// The cursor of the next page (for `after`), or null on the last.
    pub next: Option<String>,
}

/// A workflow with its trigger and its steps' contracts.
#[derive(Serialize, ToSchema)]
pub struct WorkflowRead {
    /// The workflow's id.
    pub workflow: WorkflowId,
    /// What starts it, as its compiled steps declare; null when none is set.
    pub trigger: Option<Trigger>,
    /// When a step was last compiled or removed.
    pub updated_at: DateTime<Utc>,
    /// Its step contracts, in step order.
    pub steps: Vec<StepContract>,
}

/// A run with its trace.
#[derive(Serialize, ToSchema)]
pub struct RunView {
    /// The run.
    #[serde(flatten)]
    pub run: Run,
    /// What each step did so far, in order (credentials masked).
    pub steps: Vec<StepTrace>,
}

/// A page of runs, newest first.
#[derive(Serialize, ToSchema)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<Run>,
    /// The cursor of the next page (a run id, for `after`), or null on the last.
    pub next: Option<String>,
}

/// A verification token received in Notion's unsigned handshake.
#[derive(Serialize, ToSchema)]
pub struct Handshake {
    /// The token, to paste into the integration as `webhook_verification_token` if it
    /// is Notion's.
    pub verification_token: String,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// The address it came from, when the server could tell.
    pub source: Option<String>,
}

/// The pending Notion handshakes, shown once (then removed): every one kept, oldest
/// first; with exactly one, its fields at the top level too.
#[derive(Serialize, ToSchema)]
pub struct RevealedHandshakes {
    /// Every handshake kept, oldest first.
    pub handshakes: Vec<Handshake>,
    /// What to do next.
    pub next: String,
    /// When more than one was kept: that only one can be Notion's, and how to tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// With exactly one handshake: its token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<String>,
    /// With exactly one handshake: when it arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
    /// With exactly one handshake: where it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Slack's url_verification, answered with its challenge.
#[derive(Serialize, ToSchema)]
pub struct SlackChallenge {
    /// The `challenge` of Slack's request, as it came.
    pub challenge: String,
}

/// What a webhook delivery came to.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookAnswer {
    /// Recorded (events counted), or Notion's handshake received.
    Outcome(Outcome),
    /// Slack's url_verification.
    Challenge(SlackChallenge),
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::response::IntoResponse;
    use http_body_util::BodyExt;
    use serde_json::json;

    use super::*;
    use crate::http::ROUTES;

    fn document_json() -> Value {
        serde_json::to_value(document().expect("document")).expect("JSON")
    }

    #[test]
    fn every_route_is_an_operation_of_its_function_and_every_operation_a_route() {
        let doc = document_json();
        let mut documented = BTreeSet::new();
        let mut operation_ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let tag = operation["tags"][0].as_str().expect("tag").to_owned();
                documented.insert((tag, method.to_ascii_uppercase(), path.clone()));
                let id = operation["operationId"].as_str().expect("operationId");
                assert!(operation_ids.insert(id.to_owned()), "{id} twice");
            }
        }
        let routes: BTreeSet<_> = ROUTES
            .iter()
            .map(|(function, method, path)| {
                let tag = function_tag(*function).0.to_owned();
                (tag, (*method).to_owned(), (*path).to_owned())
            })
            .collect();
        let undocumented: Vec<_> = routes.difference(&documented).collect();
        let not_served: Vec<_> = documented.difference(&routes).collect();
        assert!(
            undocumented.is_empty(),
            "routes not in the document: {undocumented:?}"
        );
        assert!(
            not_served.is_empty(),
            "operations no function serves: {not_served:?}"
        );
    }

    /// A validator for the document's schema `name`, its references resolved within
    /// the document.
    fn schema_validator(doc: &Value, name: &str) -> jsonschema::Validator {
        let root = json!({
            "$ref": format!("#/components/schemas/{name}"),
            "components": doc["components"],
        });
        jsonschema::validator_for(&root).expect("schema compiles")
    }

    #[tokio::test]
    async fn every_error_the_api_answers_is_the_problem_the_document_describes() {
        let doc = document_json();
        let problem = schema_validator(&doc, "Problem");
        let errors = [
            ApiError::BadRequest("not JSON".into()),
            ApiError::invalid("name", "is empty"),
            ApiError::Unauthorized("no token".into()),
            ApiError::NotFound("no such integration".into()),
            ApiError::MethodNotAllowed("no".into()),
            ApiError::Conflict {
                detail: "in use".into(),
                extra: Some(json!({"dependents": [{"workflow": "w", "steps": [1]}]})),
            },
            ApiError::PayloadTooLarge { limit: 10 },
            ApiError::TooManyRequests {
                detail: "slow down".into(),
                retry_after_secs: 30,
            },
            ApiError::UnsupportedMediaType("json please".into()),
            ApiError::Unavailable("store".into()),
            ApiError::Internal("bug".into()),
        ];
        for error in errors {
            let response = error.into_response();
            let status = response.status();
            let media = response.headers()[header::CONTENT_TYPE].clone();
            assert_eq!(media, "application/problem+json");
            let bytes = response.into_body().collect().await.expect("body");
            let body: Value = serde_json::from_slice(&bytes.to_bytes()).expect("JSON");
            let wrong: Vec<String> = problem.iter_errors(&body).map(|e| e.to_string()).collect();
            assert!(wrong.is_empty(), "{status}: {wrong:?} in {body}");
        }
        // And every error response of every operation is that problem, as problem+json.
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                for (status, response) in operation["responses"].as_object().expect("map") {
                    if status.as_str() < "400" {
                        continue;
                    }
                    let name = response["$ref"]
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/responses/"))
                        .unwrap_or_else(|| panic!("{method} {path} {status}: not a problem"));
                    let content = &doc["components"]["responses"][name]["content"];
                    assert_eq!(
                        content["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{name}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_webhook_route_lists_the_headers_each_provider_signs_with() {
        let doc = document_json();
        let operation = &doc["paths"][WEBHOOK_PATH]["post"];
        assert!(operation["security"] == json!([{}]), "public: no token");
        let headers: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|p| p["in"] == "header")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for expected in [
            "Stripe-Signature",
            "X-Slack-Signature",
            "X-Slack-Request-Timestamp",
            "X-Twilio-Signature",
            "X-HubSpot-Signature-v3",
            "X-Hub-Signature",
            "X-Notion-Signature",
            "Linear-Signature",
            "X-Twilio-Email-Event-Webhook-Signature",
            "X-Goog-Channel-Token",
        ] {
            assert!(headers.contains(expected), "{expected} not in {headers:?}");
        }
        // Every catalog provider with webhooks has its line in the description.
        let description = operation["description"].as_str().expect("description");
        for provider in crate::catalog::catalog().expect("catalog").providers() {
            if provider.webhooks.is_some() {
                assert!(
                    description.contains(&format!("(`{}`)", provider.id.as_str())),
                    "{} missing from the description",
                    provider.id.as_str()
                );
            }
        }
    }

    #[test]
    fn the_entity_fields_description_names_every_field_type_the_compiler_reads() {
        let doc = document_json();
        let fields = &doc["components"]["schemas"]["EntitySpec"]["properties"]["fields"];
        let description = fields["description"].as_str().expect("description");
        for field_type in crate::compiler::FIELD_TYPES.split(", ") {
            assert!(description.contains(field_type), "{field_type}");
        }
    }

    #[test]
    fn the_document_names_both_ways_to_authenticate_and_the_local_server() {
        let doc = document_json();
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["projectToken"]["scheme"], "bearer");
        assert_eq!(schemes["jwt"]["scheme"], "bearer");
        assert_eq!(schemes["jwt"]["bearerFormat"], "JWT");
        let read = &doc["paths"]["/projects/{project}"]["get"];
        assert_eq!(read["security"], json!([{"projectToken": []}, {"jwt": []}]));
        assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:8787");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    }
}
