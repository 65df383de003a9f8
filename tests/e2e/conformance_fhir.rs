//! Conformance of the FHIR provider (`shared/providers/fhir.yaml`) against HL7's FHIR R4
//! JSON schema (`fhir-r4.hl7-unpatched.schema.json`, 4.0.1, in the team's provider-specs
//! folder) and R4's RESTful API rules (hl7.org/fhir/R4/http.html, search.html,
//! bundle.html). Every operation is built, with the provider's example config, from its
//! sample input, from an input with every field (`full_input`), and from inputs derived
//! for each resource type its input schema allows; then:
//!
//! - the request follows the R4 interaction: method, `[base]/[type]/[id]` path shape,
//!   the id rule, `Accept`/`Content-Type` `application/fhir+json` (JSON Patch for patch),
//!   `If-Match` a weak ETag, `If-None-Exist` and every search parameter one R4 defines
//!   for the type (the table [`SEARCH_PARAMETERS`]), with a modifier R4 allows;
//! - create and update bodies validate against the type's HL7 definition, a patch is an
//!   RFC 6902 document whose result is still a valid resource, and a transaction
//!   Bundle validates entry by entry with R4's Bundle invariants;
//! - the sandbox mock answers with R4's success status and validates against the HL7
//!   schema: the resource, or a `searchset`, `history` or `transaction-response` Bundle;
//! - the compile hints (what plain words fill) send only R4's parameters of each type
//!   and build resources of R4's elements.
//!
//! The HL7 schema is compiled once (one validator reaching every definition). Its
//! errors are in [`KNOWN`], each with what the test checks in its place (R4's required
//! elements, which the file leaves out, are checked with fhir.yaml's `$defs`); our
//! open gaps would be in [`OPEN_GAPS`]; any other problem fails. Without the
//! provider-specs folder the test skips, and under `CI=true` fails, as `conformance`
//! does. docs/conformance-fhir.md describes the checks for users.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use base64::Engine;
use serde_json::{Map, Value, json};
use shared::catalog::{Operation, Provider, catalog, schema_validator};
use shared::ports::OutboundRequest;
use shared::runtime::mock::mock_response;
use shared::runtime::request::{CredentialValues, build_request};

use crate::conformance::{example_config, full_input, specs_dir_or_skip};

/// The HL7 FHIR R4 JSON schema in the provider-specs folder.
const SCHEMA_FILE: &str = "fhir-r4.hl7-unpatched.schema.json";

/// An error of the HL7 schema file: what it is, why R4 says otherwise, what this test
/// checks in its place, and a probe that says whether the file still has it (an entry
/// the file no longer needs fails the test, to be removed).
struct Known {
    error: &'static str,
    why: &'static str,
    instead: &'static str,
    still: fn(&Value) -> bool,
}

/// The HL7 schema file's errors that bear on these checks. Each makes the file looser
/// than R4, none stricter: none makes a check fail, each leaves something unchecked
/// that the test checks itself.
const KNOWN: &[Known] = &[
    Known {
        error: "1..1 primitive elements are not `required`",
        why: "R4 requires Encounter.status, Observation.status, Appointment.status, \
              MedicationRequest.status and intent, Bundle.type, Bundle.entry.request.method and \
              url, Bundle.entry.response.status; the file leaves every primitive optional (it may \
              come as `_status`, an extension alone)",
        instead: "resources are also validated against fhir.yaml's $defs, which state R4's \
                  cardinalities; Bundle.type, request.method, request.url and response.status \
                  are checked in code",
        still: |d| !required(d, "Encounter", "status") && !required(d, "Bundle_Request", "method"),
    },
    Known {
        error: "1..1 choice elements are not required, and alternatives are not exclusive",
        why: "R4 requires one MedicationRequest.medication[x], and allows one alternative of \
              a choice (Patient.deceased[x]); the file declares each alternative as an optional \
              property",
        instead: "fhir.yaml's $defs (oneOf, not) check them; the derived resources send one \
                  alternative of each choice at a time",
        still: |d| !required(d, "MedicationRequest", "medicationCodeableConcept"),
    },
    Known {
        error: "integer, positiveInt and unsignedInt are `type: number` with a `pattern`",
        why: "JSON Schema applies `pattern` to strings only, so 1.5 passes as an integer and 0 \
              or -3 as a positiveInt; unsignedInt's `^[0]|([1-9][0-9]*)$` and boolean's \
              `^true|false$` also anchor only one side of their alternation",
        instead: "_count is checked as a positive integer in code; the catalog's schemas type \
                  these elements `integer` with their minimum",
        still: |d| d["positiveInt"]["type"] == "number",
    },
    Known {
        error: "xhtml has no type",
        why: "Narrative.div must be XHTML in a div; the file accepts any JSON value",
        instead: "nothing: the catalog sends no narrative",
        still: |d| d["xhtml"].get("type").is_none(),
    },
];

/// Whether the HL7 definition `name` requires `element`.
fn required(definitions: &Value, name: &str, element: &str) -> bool {
    definitions[name]["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|e| e == element))
}

/// Our own gaps against R4, still to close: (operation, what of the problem, why).
const OPEN_GAPS: &[(&str, &str, &str)] = &[];

/// The R4 search parameters of the resource types the catalog offers, as `name:type`.
/// Source: the R4 search parameter registry (hl7.org/fhir/R4/searchparameter-registry.html)
/// and the "Search Parameters" section of each resource's page
/// (hl7.org/fhir/R4/patient.html#search, encounter.html#search, appointment.html#search,
/// observation.html#search, practitioner.html#search, condition.html#search,
/// medicationrequest.html#search), as R4 publishes them in its search-parameters.json
/// (version 4.0.1). Shared parameters (`patient`, `identifier`...) are listed under each
/// type whose registry entry names it as a base.
const SEARCH_PARAMETERS: &[(&str, &str)] = &[
    (
        "Patient",
        "active:token address:string address-city:string address-country:string \
         address-postalcode:string address-state:string address-use:token birthdate:date \
         death-date:date deceased:token email:token family:string gender:token \
         general-practitioner:reference given:string identifier:token language:token \
         link:reference name:string organization:reference phone:token phonetic:string \
         telecom:token",
    ),
    (
        "Encounter",
        "account:reference appointment:reference based-on:reference class:token date:date \
         diagnosis:reference episode-of-care:reference identifier:token length:quantity \
         location:reference location-period:date part-of:reference participant:reference \
         participant-type:token patient:reference practitioner:reference reason-code:token \
         reason-reference:reference service-provider:reference special-arrangement:token \
         status:token subject:reference type:token",
    ),
    (
        "Appointment",
        "actor:reference appointment-type:token based-on:reference date:date identifier:token \
         location:reference part-status:token patient:reference practitioner:reference \
         reason-code:token reason-reference:reference service-category:token \
         service-type:token slot:reference specialty:token status:token \
         supporting-info:reference",
    ),
    (
        "Observation",
        "based-on:reference category:token code:token code-value-concept:composite \
         code-value-date:composite code-value-quantity:composite code-value-string:composite \
         combo-code:token combo-code-value-concept:composite \
         combo-code-value-quantity:composite combo-data-absent-reason:token \
         combo-value-concept:token combo-value-quantity:quantity component-code:token \
         component-code-value-concept:composite component-code-value-quantity:composite \
         component-data-absent-reason:token component-value-concept:token \
         component-value-quantity:quantity data-absent-reason:token date:date \
         derived-from:reference device:reference encounter:reference focus:reference \
         has-member:reference identifier:token method:token part-of:reference \
         patient:reference performer:reference specimen:reference status:token \
         subject:reference value-concept:token value-date:date value-quantity:quantity \
         value-string:string",
    ),
    (
        "Practitioner",
        "active:token address:string address-city:string address-country:string \
         address-postalcode:string address-state:string address-use:token \
         communication:token email:token family:string gender:token given:string \
         identifier:token name:string phone:token phonetic:string telecom:token",
    ),
    (
        "Condition",
        "abatement-age:quantity abatement-date:date abatement-string:string \
         asserter:reference body-site:token category:token clinical-status:token code:token \
         encounter:reference evidence:token evidence-detail:reference identifier:token \
         onset-age:quantity onset-date:date onset-info:string patient:reference \
         recorded-date:date severity:token stage:token subject:reference \
         verification-status:token",
    ),
    (
        "MedicationRequest",
        "authoredon:date category:token code:token date:date encounter:reference \
         identifier:token intended-dispenser:reference intended-performer:reference \
         intended-performertype:token intent:token medication:reference patient:reference \
         priority:token requester:reference status:token subject:reference",
    ),
];

/// Parameters of every resource type (R4 search.html, "Parameters for all resources";
/// the registry's Resource and DomainResource entries).
const COMMON_PARAMETERS: &str = "_id:token _lastUpdated:date _tag:token _profile:uri \
     _security:token _source:uri _text:string _content:string _list:special _has:special \
     _type:special _query:special _filter:special";

/// Parameters that shape the result (R4 search.html, "Search result parameters"), and
/// `_format` (http.html); they take no modifier but `:iterate` on the includes.
const RESULT_PARAMETERS: &[&str] = &[
    "_sort",
    "_count",
    "_include",
    "_revinclude",
    "_summary",
    "_total",
    "_elements",
    "_contained",
    "_containedType",
    "_format",
];

/// The history interaction's parameters (R4 http.html#history), and `_format`.
const HISTORY_PARAMETERS: &[&str] = &["_count", "_since", "_at", "_list", "_format"];

/// Parameters any interaction may take (R4 http.html: `_format`, `_pretty`; read's
/// `_summary` and `_elements`).
const GENERAL_PARAMETERS: &[&str] = &["_format", "_pretty", "_summary", "_elements"];

/// The JSON MIME type of FHIR resources (R4 http.html#mime-type).
const FHIR_JSON: &str = "application/fhir+json";

/// R4's search modifiers by parameter type (search.html#modifiers); `:missing` applies
/// to every type, and a reference also takes a resource type (`subject:Patient`).
fn modifiers(kind: &str) -> &'static [&'static str] {
    match kind {
        "string" => &["missing", "exact", "contains"],
        "token" => &[
            "missing", "text", "not", "above", "below", "in", "not-in", "of-type",
        ],
        "reference" => &["missing", "identifier", "above", "below"],
        "uri" => &["missing", "above", "below"],
        "date" | "number" | "quantity" | "composite" => &["missing"],
        _ => &[],
    }
}

/// The R4 interaction an operation performs, which says what its request and its answer
/// must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interaction {
    Read,
    Search,
    Create,
    Update,
    Patch,
    History,
    Transaction,
}

impl Interaction {
    /// The interaction each FHIR operation of the catalog claims to be.
    fn of(operation: &str) -> Option<Self> {
        Some(match operation {
            "read_resource" => Self::Read,
            "search_resources" => Self::Search,
            "create_resource" => Self::Create,
            "update_resource" => Self::Update,
            "patch_resource" => Self::Patch,
            "read_history" => Self::History,
            "transaction" => Self::Transaction,
            _ => return None,
        })
    }

    /// The success status R4 gives (http.html: 201 Created for create, 200 OK for the rest).
    fn success_status(self) -> u16 {
        if self == Self::Create { 201 } else { 200 }
    }

    /// The body's content type, for the interactions that send one.
    fn content_type(self) -> Option<&'static str> {
        match self {
            Self::Create | Self::Update | Self::Transaction => Some(FHIR_JSON),
            Self::Patch => Some("application/json-patch+json"),
            _ => None,
        }
    }

    /// The path segments after the base: `[type]`, `[type]/[id]`, `[type]/[id]/_history`
    /// or nothing (the base itself).
    fn path(self, ty: &str, id: &str) -> Vec<String> {
        match self {
            Self::Read | Self::Update | Self::Patch => vec![ty.into(), id.into()],
            Self::Search | Self::Create => vec![ty.into()],
            Self::History => vec![ty.into(), id.into(), "_history".into()],
            Self::Transaction => vec![],
        }
    }

    /// The Bundle type the answer is, or `None` for a resource.
    fn bundle_answer(self) -> Option<&'static str> {
        match self {
            Self::Search => Some("searchset"),
            Self::History => Some("history"),
            Self::Transaction => Some("transaction-response"),
            _ => None,
        }
    }
}

/// R4's id rule (datatypes.html#id): `[A-Za-z0-9\-\.]{1,64}`.
fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The HL7 schema, compiled once into one validator that reaches every definition: its
/// root has a property per definition (`{"Patient": {"$ref": "#/definitions/Patient"}}`)
/// and an instance is validated wrapped in the property of its definition. Compiling
/// the 2.8 MB document costs most of a second; one validator per definition would pay
/// that for each.
struct Hl7 {
    definitions: Value,
    validator: jsonschema::Validator,
    /// R4's cardinalities of the catalog's types, which the file leaves out (see
    /// [`KNOWN`]), as fhir.yaml's `$defs` state them.
    cardinalities: BTreeMap<String, std::sync::Arc<jsonschema::Validator>>,
    /// Validations run, for the summary.
    validated: usize,
}

impl Hl7 {
    fn load(dir: &Path) -> Self {
        let text = std::fs::read_to_string(dir.join(SCHEMA_FILE)).expect("HL7 schema readable");
        let mut doc: Value = serde_json::from_str(&text).expect("HL7 schema is JSON");
        let definitions = doc["definitions"].take();
        let entry_points: Map<String, Value> = definitions
            .as_object()
            .expect("definitions")
            .keys()
            .map(|name| {
                (
                    name.clone(),
                    json!({"$ref": format!("#/definitions/{name}")}),
                )
            })
            .collect();
        let root = json!({"definitions": definitions, "properties": entry_points});
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft6)
            .should_validate_formats(false)
            .build(&root)
            .expect("the HL7 schema compiles");
        Self {
            definitions: root["definitions"].clone(),
            validator,
            cardinalities: BTreeMap::new(),
            validated: 0,
        }
    }

    /// Whether `name` is a resource type (a definition with a `resourceType` constant).
    fn is_resource_type(&self, name: &str) -> bool {
        self.definitions
            .pointer(&format!("/{name}/properties/resourceType/const"))
            .is_some_and(|c| c == name)
    }

    /// The element names a definition declares.
    fn elements(&self, name: &str) -> BTreeSet<String> {
        self.definitions[name]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Problems of `instance` against `#/definitions/<name>`, validated directly rather
    /// than through the root's `oneOf` over 146 resource types (the errors name the
    /// element, not the `oneOf`).
    fn validate(&mut self, name: &str, instance: &Value) -> Vec<String> {
        assert!(
            self.definitions.get(name).is_some(),
            "no HL7 definition {name}"
        );
        self.validated += 1;
        let wrapped = json!({ name: instance });
        let prefix = format!("/{name}");
        self.validator
            .iter_errors(&wrapped)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!(
                    "HL7 {name}: {e} at {}",
                    at.strip_prefix(&prefix).unwrap_or(&at)
                )
            })
            .collect()
    }

    /// A resource, against the definition its `resourceType` names, and against R4's
    /// cardinalities where the catalog states them.
    fn validate_resource(&mut self, resource: &Value) -> Vec<String> {
        let ty = match resource["resourceType"].as_str() {
            Some(ty) if self.is_resource_type(ty) => ty,
            other => return vec![format!("{other:?} is not an R4 resource type")],
        };
        let mut problems = self.validate(ty, resource);
        if let Some(cardinalities) = self.cardinalities.get(ty) {
            problems.extend(
                cardinalities
                    .iter_errors(resource)
                    .take(5)
                    .map(|e| format!("R4 {ty} (fhir.yaml $defs): {e} at {}", e.instance_path())),
            );
        }
        problems
    }

    /// A Bundle: each entry's resource against its own definition, the rest against
    /// `Bundle` (what the root's `oneOf` in `Bundle.entry.resource` would do, with errors
    /// that say which element), and R4's Bundle invariants.
    fn validate_bundle(&mut self, bundle: &Value) -> Vec<String> {
        let mut problems = bundle_invariants(bundle);
        let mut shell = bundle.clone();
        for (i, entry) in shell["entry"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(resource) = entry.as_object_mut().and_then(|e| e.remove("resource")) {
                problems.extend(
                    self.validate_resource(&resource)
                        .into_iter()
                        .map(|p| format!("entry {i}: {p}")),
                );
            }
        }
        problems.extend(self.validate("Bundle", &shell));
        problems
    }
}

/// R4's Bundle invariants (bundle.html#invs): bdl-1 `total` only in a searchset or
/// history, bdl-2 `entry.search` only in a searchset, bdl-3 `entry.request` exactly in
/// batch, transaction and history, bdl-4 `entry.response` exactly in batch-response,
/// transaction-response and history, bdl-5 an entry has a resource, request or
/// response, bdl-7 fullUrls unique (but in a history), bdl-8 no version-specific fullUrl.
fn bundle_invariants(bundle: &Value) -> Vec<String> {
    let ty = bundle["type"].as_str().unwrap_or_default();
    let entries: &[Value] = bundle["entry"].as_array().map_or(&[], Vec::as_slice);
    let mut problems = Vec::new();
    if bundle.get("total").is_some() && !matches!(ty, "searchset" | "history") {
        problems.push(format!("bdl-1: total in a {ty} Bundle"));
    }
    let requests = matches!(ty, "batch" | "transaction" | "history");
    let responses = matches!(ty, "batch-response" | "transaction-response" | "history");
    let mut full_urls = BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        if entry.get("search").is_some() && ty != "searchset" {
            problems.push(format!("bdl-2: entry {i} has search in a {ty} Bundle"));
        }
        if entry.get("request").is_some() != requests {
            problems.push(format!("bdl-3: entry {i} request in a {ty} Bundle"));
        }
        if entry.get("response").is_some() != responses {
            problems.push(format!("bdl-4: entry {i} response in a {ty} Bundle"));
        }
        if ["resource", "request", "response"]
            .iter()
            .all(|k| entry.get(k).is_none())
        {
            problems.push(format!(
                "bdl-5: entry {i} has no resource, request or response"
            ));
        }
        if let Some(url) = entry["fullUrl"].as_str() {
            let version = entry["resource"]["meta"]["versionId"]
                .as_str()
                .unwrap_or("");
            if ty != "history" && !full_urls.insert(format!("{url}|{version}")) {
                problems.push(format!("bdl-7: fullUrl {url} repeats"));
            }
            if url.contains("/_history/") {
                problems.push(format!("bdl-8: fullUrl {url} is version specific"));
            }
            // A RESTful fullUrl ends with the resource's [type]/[id] (bundle.html,
            // "Resource URL & Uniqueness rules").
            let resource = &entry["resource"];
            if let (true, Some(rt), Some(id)) = (
                url.starts_with("http"),
                resource["resourceType"].as_str(),
                resource["id"].as_str(),
            ) && !url.ends_with(&format!("/{rt}/{id}"))
            {
                problems.push(format!("entry {i}: fullUrl {url} is not {rt}/{id}"));
            }
        }
    }
    problems
}

/// The R4 search parameters of each type, with their types.
struct SearchTable(BTreeMap<&'static str, BTreeMap<&'static str, &'static str>>);

impl SearchTable {
    fn new() -> Self {
        let parse = |list: &'static str| -> BTreeMap<&'static str, &'static str> {
            list.split_whitespace()
                .filter_map(|p| p.split_once(':'))
                .collect()
        };
        let common = parse(COMMON_PARAMETERS);
        let mut table: BTreeMap<_, _> = SEARCH_PARAMETERS
            .iter()
            .map(|(ty, list)| {
                let mut params = parse(list);
                params.extend(common.iter().map(|(k, v)| (*k, *v)));
                (*ty, params)
            })
            .collect();
        table.insert("*", common);
        Self(table)
    }

    /// Whether R4 lets a search of `ty` send parameter `name` (with its modifier, or a
    /// chain `patient.name`, or `_has:...`); the problem otherwise.
    fn check(&self, ty: &str, name: &str) -> Result<(), String> {
        let Some(params) = self.0.get(ty) else {
            return Err(format!("no R4 search parameter table for {ty}"));
        };
        if name.starts_with("_has:") {
            return Ok(());
        }
        let (name, chain) = match name.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (name, None),
        };
        let (base, modifier) = match name.split_once(':') {
            Some((b, m)) => (b, Some(m)),
            None => (name, None),
        };
        if RESULT_PARAMETERS.contains(&base) {
            return match modifier {
                None => Ok(()),
                Some("iterate") if base.contains("include") => Ok(()),
                Some(m) => Err(format!("{base} takes no modifier :{m}")),
            };
        }
        let Some(kind) = params.get(base) else {
            return Err(format!("{base} is not an R4 search parameter of {ty}"));
        };
        if chain.is_some() && *kind != "reference" {
            return Err(format!(
                "{base} is a {kind} parameter: it cannot be chained"
            ));
        }
        match modifier {
            None => Ok(()),
            Some(m) if modifiers(kind).contains(&m) => Ok(()),
            // A reference parameter takes a target type as modifier (`subject:Patient`).
            Some(m) if *kind == "reference" && m.chars().next().is_some_and(char::is_uppercase) => {
                Ok(())
            }
            Some(m) => Err(format!(
                "{base} is a {kind} parameter: R4 has no :{m} for it"
            )),
        }
    }
}

/// What the checks counted, for the summary.
#[derive(Default)]
struct Tally {
    inputs: usize,
    hints: usize,
    requests: usize,
    search_parameters: usize,
    bodies: usize,
    mocks: usize,
}

/// Everything one check needs.
struct Checker<'a> {
    provider: &'a Provider,
    config: Map<String, Value>,
    hl7: Hl7,
    search: SearchTable,
    base_path: String,
    /// Per type, the resource with every element a patch is applied to.
    bases: BTreeMap<String, Value>,
    tally: Tally,
}

impl Checker<'_> {
    /// Every problem of one operation built from one input: request, body and mock.
    fn check(
        &mut self,
        operation: &Operation,
        interaction: Interaction,
        input: &Value,
    ) -> Vec<String> {
        self.tally.inputs += 1;
        let request = match build_request(
            self.provider,
            operation,
            input,
            &self.config,
            CredentialValues::Masked,
            None,
        ) {
            Ok(r) => r,
            Err(e) => return vec![format!("builds no request: {e}")],
        };
        self.tally.requests += 1;
        let ty = input["resource_type"].as_str().unwrap_or_default();
        let id = input["id"].as_str().unwrap_or_default();
        let mut problems = self.check_url(&request, interaction, ty, id);
        problems.extend(self.check_headers(&request, interaction, ty));
        problems.extend(self.check_body(&request, interaction, ty, id));
        problems.extend(self.check_mock(operation, interaction, input, ty, id));
        problems
    }

    /// Method, path shape, the id rule and the query parameters.
    fn check_url(
        &mut self,
        request: &OutboundRequest,
        interaction: Interaction,
        ty: &str,
        id: &str,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let expected = match interaction {
            Interaction::Read | Interaction::Search | Interaction::History => "GET",
            Interaction::Create | Interaction::Transaction => "POST",
            Interaction::Update => "PUT",
            Interaction::Patch => "PATCH",
        };
        if request.method != expected {
            problems.push(format!(
                "{interaction:?} is {expected}, the request is {}",
                request.method
            ));
        }
        let url = reqwest::Url::parse(&request.url).expect("URL");
        let Some(rest) = url.path().strip_prefix(self.base_path.as_str()) else {
            return vec![format!("{} is not under the base", url.path())];
        };
        let segments: Vec<String> = if rest.is_empty() {
            vec![]
        } else {
            rest.strip_prefix('/')
                .unwrap_or(rest)
                .split('/')
                .map(percent_decode)
                .collect()
        };
        if segments != interaction.path(ty, id) {
            problems.push(format!(
                "the path after [base] is {rest:?}; R4's {interaction:?} is {:?}",
                interaction.path(ty, id).join("/")
            ));
        }
        if !ty.is_empty() && !self.hl7.is_resource_type(ty) {
            problems.push(format!("{ty} is not an R4 resource type"));
        }
        if matches!(
            interaction,
            Interaction::Read | Interaction::Update | Interaction::Patch | Interaction::History
        ) && !is_fhir_id(id)
        {
            problems.push(format!("id {id:?} breaks R4's id rule"));
        }
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (name, value) in &pairs {
            problems.extend(self.check_parameter(interaction, ty, name, value));
        }
        problems
    }

    /// One query parameter against the interaction's parameters.
    fn check_parameter(
        &mut self,
        interaction: Interaction,
        ty: &str,
        name: &str,
        value: &str,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if value.is_empty() {
            problems.push(format!("parameter {name} is empty"));
        }
        match interaction {
            Interaction::Search => {
                self.tally.search_parameters += 1;
                if let Err(e) = self.search.check(ty, name) {
                    problems.push(format!("search parameter: {e}"));
                }
            }
            Interaction::History => {
                if !HISTORY_PARAMETERS.contains(&name) {
                    problems.push(format!("{name} is not a history parameter"));
                }
            }
            _ => {
                if !GENERAL_PARAMETERS.contains(&name) {
                    problems.push(format!("{interaction:?} takes no parameter {name}"));
                }
            }
        }
        if name == "_count" && !value.parse::<u32>().is_ok_and(|n| n > 0) {
            problems.push(format!("_count {value:?} is not a positive integer"));
        }
        if name == "_since" {
            problems.extend(
                self.hl7
                    .validate("instant", &json!(value))
                    .into_iter()
                    .map(|p| format!("_since: {p}")),
            );
        }
        problems
    }

    /// Accept, Content-Type, Prefer, If-Match and If-None-Exist.
    fn check_headers(
        &mut self,
        request: &OutboundRequest,
        interaction: Interaction,
        ty: &str,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if header("accept").is_none_or(|v| !v.starts_with(FHIR_JSON)) {
            problems.push(format!("Accept is {:?}, not {FHIR_JSON}", header("accept")));
        }
        match (interaction.content_type(), header("content-type")) {
            (Some(expected), Some(sent)) if sent.starts_with(expected) => {}
            (None, None) => {}
            (expected, sent) => {
                problems.push(format!("Content-Type is {sent:?}, R4 wants {expected:?}"))
            }
        }
        if let Some(prefer) = header("prefer")
            && ![
                "return=minimal",
                "return=representation",
                "return=OperationOutcome",
            ]
            .contains(&prefer)
        {
            problems.push(format!("Prefer {prefer:?} is not one R4 defines"));
        }
        if let Some(etag) = header("if-match") {
            let version = etag.strip_prefix("W/\"").and_then(|v| v.strip_suffix('"'));
            if !version.is_some_and(is_fhir_id) {
                problems.push(format!(
                    "If-Match {etag:?} is not a weak ETag W/\"[versionId]\""
                ));
            }
        }
        if let Some(query) = header("if-none-exist") {
            problems.extend(
                self.check_search_query(ty, query)
                    .into_iter()
                    .map(|p| format!("If-None-Exist: {p}")),
            );
        }
        problems
    }

    /// A search query without the `?` (If-None-Exist, a transaction entry's url).
    fn check_search_query(&mut self, ty: &str, query: &str) -> Vec<String> {
        if query.starts_with('?') {
            return vec!["starts with ?".into()];
        }
        form_urlencoded::parse(query.as_bytes())
            .flat_map(|(name, value)| self.check_parameter(Interaction::Search, ty, &name, &value))
            .collect()
    }

    /// The body: a resource of the type (with the URL's id for update), a JSON Patch
    /// whose result is still a valid resource, or a transaction Bundle.
    fn check_body(
        &mut self,
        request: &OutboundRequest,
        interaction: Interaction,
        ty: &str,
        id: &str,
    ) -> Vec<String> {
        if interaction.content_type().is_none() {
            return if request.body.is_empty() {
                vec![]
            } else {
                vec!["a GET with a body".into()]
            };
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return vec!["the body is not JSON".into()];
        };
        self.tally.bodies += 1;
        let mut problems = Vec::new();
        match interaction {
            Interaction::Create | Interaction::Update => {
                if body["resourceType"] != ty {
                    problems.push(format!(
                        "the body is a {}, the URL a {ty}",
                        body["resourceType"]
                    ));
                }
                if interaction == Interaction::Update && body["id"] != id {
                    problems.push(format!(
                        "the body's id {} is not the URL's {id:?} (R4 update: 400)",
                        body["id"]
                    ));
                }
                problems.extend(self.hl7.validate_resource(&body));
            }
            Interaction::Patch => problems.extend(self.check_patch(&body, ty, id)),
            Interaction::Transaction => problems.extend(self.check_transaction(&body)),
            _ => {}
        }
        problems
    }

    /// A JSON Patch (RFC 6902): each operation well formed, its paths naming elements
    /// of the type, and the patched resource still valid.
    fn check_patch(&mut self, patch: &Value, ty: &str, id: &str) -> Vec<String> {
        let Some(ops) = patch.as_array().filter(|a| !a.is_empty()) else {
            return vec!["a JSON Patch is a non-empty array of operations".into()];
        };
        let mut problems = Vec::new();
        let elements = self.hl7.elements(ty);
        for (i, op) in ops.iter().enumerate() {
            let name = op["op"].as_str().unwrap_or_default();
            let mut pointers = vec!["path"];
            match name {
                "add" | "replace" | "test" if op.get("value").is_none() => {
                    problems.push(format!("patch {i}: {name} without a value"));
                }
                "move" | "copy" => pointers.push("from"),
                "add" | "replace" | "test" | "remove" => {}
                other => {
                    problems.push(format!("patch {i}: {other:?} is not an RFC 6902 operation"))
                }
            }
            for key in pointers {
                let pointer = op[key].as_str().unwrap_or("?");
                let first = pointer
                    .strip_prefix('/')
                    .map(|p| p.split('/').next().unwrap_or_default());
                match first {
                    Some(element) if elements.contains(element) => {}
                    _ => problems.push(format!(
                        "patch {i}: {key} {pointer:?} names no element of {ty}"
                    )),
                }
            }
        }
        let mut resource = self
            .bases
            .get(ty)
            .cloned()
            .unwrap_or_else(|| json!({"resourceType": ty}));
        resource["id"] = json!(id);
        match apply_patch(&mut resource, ops) {
            Ok(()) => problems.extend(
                self.hl7
                    .validate(ty, &resource)
                    .into_iter()
                    .map(|p| format!("patched: {p}")),
            ),
            Err(e) => problems.push(format!("the patch does not apply: {e}")),
        }
        problems
    }

    /// A transaction Bundle: R4's rules for each entry, the HL7 schema for the whole.
    fn check_transaction(&mut self, bundle: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        if bundle["resourceType"] != "Bundle" || bundle["type"] != "transaction" {
            problems.push(format!(
                "the body is a {} of type {}, not a transaction Bundle",
                bundle["resourceType"], bundle["type"]
            ));
        }
        for (i, entry) in bundle["entry"].as_array().into_iter().flatten().enumerate() {
            problems.extend(
                self.check_entry(entry)
                    .into_iter()
                    .map(|p| format!("entry {i}: {p}")),
            );
        }
        problems.extend(self.hl7.validate_bundle(bundle));
        problems
    }

    /// One transaction entry (http.html#transaction): method and url given, the url
    /// relative to the base and of the method's shape, the resource where the method
    /// needs one and of the url's type, search queries of R4 parameters, fullUrl
    /// absolute or a `urn:uuid:`.
    fn check_entry(&mut self, entry: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        let method = entry["request"]["method"].as_str().unwrap_or_default();
        let Some(url) = entry["request"]["url"].as_str() else {
            return vec!["no request.url".into()];
        };
        if url.contains("://") || url.starts_with('/') {
            problems.push(format!("request.url {url:?} is not relative to the base"));
        }
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (url, None),
        };
        let segments: Vec<&str> = path.split('/').collect();
        let ty = segments[0];
        if !self.hl7.is_resource_type(ty) {
            problems.push(format!("request.url {url:?} names no resource type"));
        }
        let shape_ok = match (method, segments.len(), query) {
            ("POST", 1, None) => true,
            ("GET" | "HEAD", 1, _) => true,
            ("PUT" | "PATCH" | "DELETE", 1, Some(_)) => true,
            ("GET" | "HEAD" | "PUT" | "PATCH" | "DELETE", 2, None) => is_fhir_id(segments[1]),
            _ => false,
        };
        if !shape_ok {
            problems.push(format!("{method} {url:?} is not an R4 transaction entry"));
        }
        if let Some(query) = query {
            problems.extend(self.check_search_query(ty, query));
        }
        if let Some(query) = entry["request"]["ifNoneExist"].as_str() {
            problems.extend(
                self.check_search_query(ty, query)
                    .into_iter()
                    .map(|p| format!("ifNoneExist: {p}")),
            );
        }
        let resource = &entry["resource"];
        match method {
            "POST" | "PUT" if resource["resourceType"] != ty => {
                problems.push(format!(
                    "{method} {url:?} carries a {}",
                    resource["resourceType"]
                ));
            }
            "PUT"
                if query.is_none()
                    && resource["id"] != segments.get(1).copied().unwrap_or_default() =>
            {
                problems.push(format!("PUT {url:?} carries id {}", resource["id"]));
            }
            "PATCH"
                if !matches!(
                    resource["resourceType"].as_str(),
                    Some("Binary" | "Parameters")
                ) =>
            {
                problems.push(
                    "a PATCH entry carries its patch as a Binary (JSON Patch) or Parameters".into(),
                );
            }
            _ => {}
        }
        if let Some(full) = entry["fullUrl"].as_str() {
            let uuid = full.strip_prefix("urn:uuid:").is_some_and(|u| {
                u.len() == 36 && u.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
            });
            if !uuid && !full.starts_with("http://") && !full.starts_with("https://") {
                problems.push(format!(
                    "fullUrl {full:?} is neither absolute nor a urn:uuid"
                ));
            }
        }
        problems
    }

    /// The sandbox mock: R4's success status, and the resource or Bundle R4 answers with.
    fn check_mock(
        &mut self,
        operation: &Operation,
        interaction: Interaction,
        input: &Value,
        ty: &str,
        id: &str,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if operation.success_status != interaction.success_status() {
            problems.push(format!(
                "success status {}: R4's {interaction:?} answers {}",
                operation.success_status,
                interaction.success_status()
            ));
        }
        let mock = match mock_response(operation, input, "conformance-fhir") {
            Ok(m) => m,
            Err(e) => return vec![format!("no mock: {e}")],
        };
        self.tally.mocks += 1;
        if operation.empty_response {
            if interaction.bundle_answer().is_some() || interaction == Interaction::Read {
                problems.push(format!(
                    "R4's {interaction:?} answers with a body; the operation declares none"
                ));
            }
            return problems;
        }
        let Some(bundle_type) = interaction.bundle_answer() else {
            if mock["resourceType"] != ty {
                problems.push(format!("mock: a {} for a {ty}", mock["resourceType"]));
            }
            let answered = mock["id"].as_str().unwrap_or_default();
            if !is_fhir_id(answered) || (interaction != Interaction::Create && answered != id) {
                problems.push(format!("mock: id {answered:?} for {id:?}"));
            }
            problems.extend(
                self.hl7
                    .validate_resource(&mock)
                    .into_iter()
                    .map(|p| format!("mock: {p}")),
            );
            return problems;
        };
        if mock["resourceType"] != "Bundle" || mock["type"] != bundle_type {
            problems.push(format!(
                "mock: a {} of type {}, not a {bundle_type} Bundle",
                mock["resourceType"], mock["type"]
            ));
        }
        let entries: &[Value] = mock["entry"].as_array().map_or(&[], Vec::as_slice);
        match interaction {
            Interaction::Search => {
                for (i, entry) in entries.iter().enumerate() {
                    if entry["search"]["mode"] != "include"
                        && entry["resource"]["resourceType"] != ty
                    {
                        problems.push(format!(
                            "mock: match entry {i} is a {}, the search a {ty}",
                            entry["resource"]["resourceType"]
                        ));
                    }
                }
            }
            Interaction::History => {
                for (i, entry) in entries.iter().enumerate() {
                    let resource = &entry["resource"];
                    let method = entry["request"]["method"].as_str().unwrap_or_default();
                    if matches!(method, "PUT" | "POST") && resource.is_null() {
                        problems.push(format!(
                            "mock: history entry {i} ({method}) has no resource"
                        ));
                    }
                    if !resource.is_null()
                        && (resource["resourceType"] != ty || resource["id"] != id)
                    {
                        problems.push(format!(
                            "mock: history entry {i} is {}/{}, not {ty}/{id}",
                            resource["resourceType"], resource["id"]
                        ));
                    }
                }
            }
            Interaction::Transaction => {
                let sent = input["bundle"]["entry"].as_array().map_or(0, Vec::len);
                if entries.len() != sent {
                    problems.push(format!(
                        "mock: {} response entries for {sent} request entries (R4: one per entry, in order)",
                        entries.len()
                    ));
                }
                for (i, entry) in entries.iter().enumerate() {
                    let status = entry["response"]["status"].as_str().unwrap_or_default();
                    if !status
                        .get(..3)
                        .is_some_and(|c| c.chars().all(|d| d.is_ascii_digit()))
                    {
                        problems.push(format!(
                            "mock: entry {i} response.status {status:?} is no HTTP status"
                        ));
                    }
                }
            }
            _ => {}
        }
        problems.extend(
            self.hl7
                .validate_bundle(&mock)
                .into_iter()
                .map(|p| format!("mock: {p}")),
        );
        problems
    }
}

impl Checker<'_> {
    /// The operation's compile hints (what plain words fill) against R4: a search
    /// parameter a hint fills is one R4 defines for each kind the hint applies to, a
    /// resource a hint builds names elements of its type only, and a patch a hint
    /// builds changes an element of each kind.
    fn check_hints(&mut self, operation: &Operation, types: &[String]) -> Vec<String> {
        let Some(compile) = &operation.compile else {
            return vec![];
        };
        // Input property → the query parameter it fills.
        let parameters: BTreeMap<String, &str> = operation
            .query
            .iter()
            .filter_map(|(name, template)| {
                let input = template.strip_prefix("{input.")?.strip_suffix('}')?;
                Some((input.to_owned(), name.as_str()))
            })
            .collect();
        let mut problems = Vec::new();
        for hint in compile.inputs.iter().chain(&compile.after) {
            self.tally.hints += 1;
            let kinds: Vec<&str> = if hint.when_kind.is_empty() {
                types
                    .iter()
                    .map(String::as_str)
                    .filter(|t| !hint.unless_kind.iter().any(|u| u == t))
                    .collect()
            } else {
                hint.when_kind.iter().map(String::as_str).collect()
            };
            let at = format!("compile hint {}", hint.path);
            let elements_of = |kind: &str, names: Vec<&str>, problems: &mut Vec<String>| {
                let declared = self.hl7.elements(kind);
                for name in names.into_iter().filter(|n| !declared.contains(*n)) {
                    problems.push(format!("{at}: {name} is not an element of {kind}"));
                }
            };
            if let Some(parameter) = parameters.get(&hint.path) {
                for kind in &kinds {
                    if let Err(e) = self.search.check(kind, parameter) {
                        problems.push(format!("{at}: {e}"));
                    }
                }
            } else if hint.path == "resource" {
                let keys: Vec<&str> = hint
                    .value
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                for kind in &kinds {
                    elements_of(kind, keys.clone(), &mut problems);
                }
            } else if let Some(element) = hint.path.strip_prefix("resource.") {
                let element = element.split('.').next().unwrap_or_default();
                for kind in &kinds {
                    elements_of(kind, vec![element], &mut problems);
                }
            } else if hint.path == "patch" {
                let paths: Vec<&str> = hint
                    .value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|op| op["path"].as_str()?.strip_prefix('/')?.split('/').next())
                    .collect();
                for kind in &kinds {
                    elements_of(kind, paths.clone(), &mut problems);
                }
            } else if hint.path == "bundle" {
                for entry in hint.value["entry"].as_array().into_iter().flatten() {
                    let resource = &entry["resource"];
                    let kind = resource["resourceType"].as_str().unwrap_or_default();
                    let keys = resource
                        .as_object()
                        .map(|o| o.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    elements_of(kind, keys, &mut problems);
                }
            }
        }
        problems
    }
}

/// `%XX` escapes decoded (the id path segment).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| segment.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Applies an RFC 6902 patch (`test` is not evaluated: the document is not the
/// server's).
fn apply_patch(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
    for op in ops {
        let path = op["path"].as_str().ok_or("no path")?;
        match op["op"].as_str().unwrap_or_default() {
            "add" => add_at(doc, path, op["value"].clone())?,
            "replace" => {
                let target = doc.pointer_mut(path).ok_or(format!("nothing at {path}"))?;
                *target = op["value"].clone();
            }
            "remove" => {
                remove_at(doc, path)?;
            }
            "move" => {
                let value = remove_at(doc, op["from"].as_str().ok_or("no from")?)?;
                add_at(doc, path, value)?;
            }
            "copy" => {
                let from = op["from"].as_str().ok_or("no from")?;
                let value = doc
                    .pointer(from)
                    .cloned()
                    .ok_or(format!("nothing at {from}"))?;
                add_at(doc, path, value)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A pointer's parent and last token, unescaped.
fn split_pointer(path: &str) -> Result<(&str, String), String> {
    let cut = path
        .rfind('/')
        .ok_or(format!("{path:?} is not a JSON pointer"))?;
    Ok((
        &path[..cut],
        path[cut + 1..].replace("~1", "/").replace("~0", "~"),
    ))
}

fn add_at(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, token) = split_pointer(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
        }
        Some(Value::Array(items)) if token == "-" => items.push(value),
        Some(Value::Array(items)) => {
            let i: usize = token
                .parse()
                .map_err(|_| format!("{token:?} is no index"))?;
            if i > items.len() {
                return Err(format!("index {i} past the end at {parent}"));
            }
            items.insert(i, value);
        }
        _ => return Err(format!("no object or array at {parent:?}")),
    }
    Ok(())
}

fn remove_at(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, token) = split_pointer(path)?;
    let removed = match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&token),
        Some(Value::Array(items)) => token
            .parse::<usize>()
            .ok()
            .filter(|i| *i < items.len())
            .map(|i| items.remove(i)),
        _ => None,
    };
    removed.ok_or(format!("nothing at {path}"))
}

/// FHIR type names that end a choice element's name (`value[x]` → `valueQuantity`).
/// `Code` is left out: `reasonCode` and `reasonReference` are two elements, not a choice.
const CHOICE_SUFFIXES: &[&str] = &[
    "Boolean",
    "Integer",
    "String",
    "DateTime",
    "Date",
    "Instant",
    "Time",
    "Decimal",
    "Period",
    "Quantity",
    "CodeableConcept",
    "Reference",
    "Range",
    "Ratio",
    "Age",
    "Attachment",
];

/// The choice groups of an object's keys: base → its `[x]` members, in key order.
fn choice_groups(object: &Map<String, Value>) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in object.keys() {
        if let Some(base) = CHOICE_SUFFIXES
            .iter()
            .filter_map(|s| key.strip_suffix(s))
            .find(|b| !b.is_empty() && b.starts_with(|c: char| c.is_ascii_lowercase()))
        {
            groups.entry(base.to_owned()).or_default().push(key.clone());
        }
    }
    groups.retain(|_, members| members.len() > 1);
    groups
}

/// The largest choice group anywhere in `value`.
fn widest_choice(value: &Value) -> usize {
    match value {
        Value::Object(map) => choice_groups(map)
            .values()
            .map(Vec::len)
            .chain(map.values().map(widest_choice))
            .max()
            .unwrap_or(0),
        Value::Array(items) => items.iter().map(widest_choice).max().unwrap_or(0),
        _ => 0,
    }
}

/// Keeps member `k` (modulo the group's size) of every choice group: R4 allows one
/// element of a choice.
fn keep_choice(value: &mut Value, k: usize) {
    match value {
        Value::Object(map) => {
            for members in choice_groups(map).values() {
                let keep = &members[k % members.len()];
                for member in members.iter().filter(|m| *m != keep) {
                    map.remove(member);
                }
            }
            map.values_mut().for_each(|v| keep_choice(v, k));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| keep_choice(v, k)),
        _ => {}
    }
}

/// Resources of `ty` with every element the catalog's `$defs` declare, made by the mock
/// generator from `create`'s schema: one per alternative of the widest choice element,
/// so each alternative is sent once.
fn every_element_resources(create: &Operation, ty: &str) -> Vec<Value> {
    let Some(defs) = create.input_schema.get("$defs") else {
        return vec![];
    };
    let mut filler = create.clone();
    filler.response_schema = json!({"$defs": defs, "$ref": format!("#/$defs/{ty}")});
    filler.sample_response = Value::Null;
    filler.sample_input = Value::Null;
    filler.headers.clear();
    filler.body_field = None;
    filler.entity = None;
    filler.empty_response = false;
    let Ok(resource) = mock_response(&filler, &json!({}), &format!("every-{ty}")) else {
        return vec![];
    };
    (0..widest_choice(&resource).max(1))
        .map(|k| {
            let mut variant = resource.clone();
            keep_choice(&mut variant, k);
            variant
        })
        .collect()
}

/// A JSON Patch for a resource of `ty` made from one with every element: a test of the
/// id, a replace, an add to an array, a copy, a move and a remove.
fn derived_patch(resource: &Value, id: &str) -> Value {
    let changed = ["status", "active", "clinicalStatus"]
        .into_iter()
        .find(|e| resource.get(*e).is_some())
        .unwrap_or("meta");
    json!([
        {"op": "test", "path": "/id", "value": id},
        {"op": "add", "path": "/identifier", "value": []},
        {"op": "add", "path": "/identifier/-", "value": resource["identifier"][0]},
        {"op": "replace", "path": format!("/{changed}"), "value": resource[changed]},
        {"op": "copy", "from": "/identifier/0", "path": "/identifier/-"},
        {"op": "move", "from": "/identifier/1", "path": "/identifier/0"},
        {"op": "add", "path": "/extension", "value": resource["extension"]},
        {"op": "remove", "path": "/extension"}
    ])
}

/// The inputs of one operation: the sample, every field, and per resource type the
/// ones derived from every field (search: the parameters the input schema allows for
/// the type; create and update: resources with every element; patch: a patch of
/// every kind of operation; transaction: a Bundle of every kind of entry per type).
fn inputs(
    operation: &Operation,
    interaction: Interaction,
    types: &[String],
    resources: &BTreeMap<String, Vec<Value>>,
) -> Vec<Input> {
    let validator = schema_validator(&operation.input_schema).expect("input schema compiles");
    let mut inputs = vec![("sample".to_owned(), operation.sample_input.clone())];
    let Some(full) = full_input(operation) else {
        return refusals(inputs, &validator);
    };
    inputs.push(("every field".into(), full.clone()));
    if interaction == Interaction::Transaction {
        for (label, bundle) in derived_bundles(resources) {
            inputs.push((label, json!({"bundle": bundle})));
        }
        return refusals(inputs, &validator);
    }
    for ty in types {
        let mut input = full.clone();
        input["resource_type"] = json!(ty);
        let id = input["id"].as_str().unwrap_or("example").to_owned();
        match interaction {
            Interaction::Search => {
                // Only what the input schema lets a search of this type send.
                let keys: Vec<String> = input
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
                for key in keys.iter().filter(|k| *k != "resource_type") {
                    let alone = json!({"resource_type": ty, key.as_str(): input[key.as_str()]});
                    if !validator.is_valid(&alone) {
                        input.as_object_mut().map(|o| o.remove(key.as_str()));
                    }
                }
                inputs.push((format!("every {ty} parameter"), input));
            }
            Interaction::Create | Interaction::Update => {
                for (k, resource) in resources.get(ty).into_iter().flatten().enumerate() {
                    let mut input = input.clone();
                    input["resource"] = resource.clone();
                    if interaction == Interaction::Update {
                        input["resource"]["id"] = json!(id);
                    }
                    inputs.push((format!("every {ty} element ({k})"), input));
                }
            }
            Interaction::Patch => {
                if let Some(resource) = resources.get(ty).and_then(|r| r.first()) {
                    input["patch"] = derived_patch(resource, &id);
                    inputs.push((format!("{ty} patch"), input));
                }
            }
            _ => inputs.push((ty.clone(), input)),
        }
    }
    refusals(inputs, &validator)
}

/// Each input with the input schema's refusal of it, if it refuses it (the runtime sends
/// no such request).
fn refusals(inputs: Vec<(String, Value)>, validator: &jsonschema::Validator) -> Vec<Input> {
    inputs
        .into_iter()
        .map(|(label, value)| {
            let refused = validator
                .validate(&value)
                .err()
                .map(|e| format!("{e} at {}", e.instance_path()));
            Input {
                label,
                value,
                refused,
            }
        })
        .collect()
}

/// One input of an operation, and whether its input schema refuses it.
struct Input {
    label: String,
    value: Value,
    refused: Option<String>,
}

/// Transaction Bundles, one per resource type and alternative of its widest choice
/// element, each with a conditional create (POST with ifNoneExist), an update (PUT), a
/// JSON Patch (PATCH with a Binary), a read, a search and a delete. (One Bundle of every
/// type would pass the mock's 64 KB budget: the answer echoes each resource.)
fn derived_bundles(resources: &BTreeMap<String, Vec<Value>>) -> Vec<(String, Value)> {
    let mut bundles = Vec::new();
    for (n, (ty, list)) in resources.iter().enumerate() {
        for (k, resource) in list.iter().enumerate() {
            let mut resource = resource.clone();
            let id = format!("{}-{n}", ty.to_ascii_lowercase());
            resource["id"] = json!(id);
            let mut created = resource.clone();
            created.as_object_mut().map(|o| o.remove("id"));
            let patch = derived_patch(&resource, &id).to_string();
            let entries = [
                json!({
                    "fullUrl": format!("urn:uuid:00000000-0000-4000-8000-{n:012}"),
                    "resource": created,
                    "request": {"method": "POST", "url": ty, "ifNoneExist": "identifier=urn:oid:1.2.36.146.595.217.0.1|12345"}
                }),
                json!({
                    "fullUrl": format!("https://fhir.example.org/r4/{ty}/{id}"),
                    "resource": resource,
                    "request": {"method": "PUT", "url": format!("{ty}/{id}"), "ifMatch": "W/\"1\""}
                }),
                json!({
                    "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
                                 "data": base64::engine::general_purpose::STANDARD.encode(patch)},
                    "request": {"method": "PATCH", "url": format!("{ty}/{id}")}
                }),
                json!({"request": {"method": "GET", "url": format!("{ty}/{id}")}}),
                json!({"request": {"method": "GET", "url": format!("{ty}?identifier=12345&_count=10")}}),
                json!({"request": {"method": "DELETE", "url": format!("{ty}/{id}")}}),
            ];
            bundles.push((
                format!("{ty} Bundle ({k})"),
                json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
            ));
        }
    }
    bundles
}

#[test]
fn every_fhir_operation_conforms_to_the_hl7_schema_and_r4_rest_rules() {
    let Some(dir) = specs_dir_or_skip() else {
        return;
    };
    let started = std::time::Instant::now();
    let catalog = catalog().expect("catalog");
    let provider = catalog.get("fhir").expect("fhir provider");
    let config = example_config(provider);
    let base = config["base_url"].as_str().expect("base_url example");
    let base_path = reqwest::Url::parse(base)
        .expect("base URL")
        .path()
        .trim_end_matches('/')
        .to_owned();
    let mut checker = Checker {
        provider,
        config: config.clone(),
        hl7: Hl7::load(&dir),
        search: SearchTable::new(),
        base_path,
        bases: BTreeMap::new(),
        tally: Tally::default(),
    };
    let create = provider
        .operations
        .iter()
        .find(|o| o.id.as_str() == "create_resource")
        .expect("create_resource");
    let types: Vec<String> = create.input_schema["properties"]["resource_type"]["enum"]
        .as_array()
        .expect("resource_type enum")
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    let mut failures = Vec::new();
    let resources: BTreeMap<String, Vec<Value>> = types
        .iter()
        .map(|ty| (ty.clone(), every_element_resources(create, ty)))
        .collect();
    let defs = &create.input_schema["$defs"];
    checker.hl7.cardinalities = types
        .iter()
        .map(|ty| {
            let schema = json!({"$defs": defs, "$ref": format!("#/$defs/{ty}")});
            (
                ty.clone(),
                schema_validator(&schema).expect("$defs compile"),
            )
        })
        .collect();
    for known in KNOWN {
        if !(known.still)(&checker.hl7.definitions) {
            failures.push(format!(
                "KNOWN: the HL7 file no longer has \"{}\": remove it",
                known.error
            ));
        }
        println!(
            "known error of the HL7 file: {} ({}); instead: {}",
            known.error, known.why, known.instead
        );
    }
    checker.bases = resources
        .iter()
        .filter_map(|(ty, list)| Some((ty.clone(), list.first()?.clone())))
        .collect();
    let mut known = 0;
    for operation in &provider.operations {
        let Some(interaction) = Interaction::of(operation.id.as_str()) else {
            failures.push(format!(
                "{}: no R4 interaction named for it in this test",
                operation.id
            ));
            continue;
        };
        let allowed: Vec<String> =
            match operation.input_schema["properties"]["resource_type"]["enum"].as_array() {
                Some(values) => values
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
                None => vec![],
            };
        let mut problems: BTreeSet<String> = checker
            .check_hints(operation, &allowed)
            .into_iter()
            .collect();
        for Input {
            label,
            value,
            refused,
        } in inputs(operation, interaction, &allowed, &resources)
        {
            match refused {
                // Every field at once may mix what the input schema keeps apart (the
                // search parameters of several types): the runtime sends no such request.
                Some(why) if label == "every field" => {
                    println!(
                        "not checked: fhir {} every field: the input schema refuses it ({why})",
                        operation.id
                    );
                    continue;
                }
                Some(why) => {
                    problems.insert(format!("({label}) the input schema refuses it: {why}"));
                }
                None => {}
            }
            for problem in checker.check(operation, interaction, &value) {
                problems.insert(format!("({label}) {problem}"));
            }
        }
        for problem in problems {
            let excuse = OPEN_GAPS
                .iter()
                .find(|(o, what, _)| *o == operation.id.as_str() && problem.contains(what));
            match excuse {
                Some((_, _, why)) => {
                    known += 1;
                    println!("open gap: fhir {}: {problem} ({why})", operation.id);
                }
                None => failures.push(format!("fhir {}: {problem}", operation.id)),
            }
        }
    }
    let tally = &checker.tally;
    println!(
        "fhir conformance: {} operations, {} inputs, {} requests on R4's REST rules, {} search parameters \
         on R4's table, {} bodies and {} mocks on the HL7 schema ({} validations), {} compile hints, \
         {} known errors of the HL7 file, {} open gaps, in {:.1?}",
        provider.operations.len(),
        tally.inputs,
        tally.requests,
        tally.search_parameters,
        tally.bodies,
        tally.mocks,
        checker.hl7.validated,
        tally.hints,
        KNOWN.len(),
        known,
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_search_parameter_is_checked_against_r4_by_type_and_modifier() {
    let table = SearchTable::new();
    for (ty, name, r4_has_it) in [
        ("Patient", "family", true),
        ("Encounter", "family", false),
        ("Encounter", "birthdate", false),
        ("Practitioner", "patient", false),
        ("Condition", "status", false),
        ("Condition", "clinical-status", true),
        ("Patient", "name:exact", true),
        ("Patient", "family:text", false),
        ("Observation", "code:text", true),
        ("Encounter", "subject:Patient", true),
        ("Encounter", "patient.name", true),
        ("Encounter", "date.year", false),
        ("MedicationRequest", "_lastUpdated", true),
        ("Appointment", "_include:iterate", true),
        ("Appointment", "_count:exact", false),
    ] {
        assert_eq!(table.check(ty, name).is_ok(), r4_has_it, "{ty} {name}");
    }
}
