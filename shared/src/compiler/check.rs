//! Checks an input mapping, whether compiled from words or sent by a person editing a
//! contract: every template names a field that exists (an entity field, a field of the
//! changed entity, a field of an earlier step's declared output), every required input
//! is filled (by the mapping or by the provider's defaults), and the result fits the
//! operation's input schema. Problems say what would fit.

use std::collections::BTreeSet;

use jsonschema::ValidationError;
use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value};

use super::schema::{self, Kind};
use super::sources::{Origin, Source};
use super::text::squash;
use super::{Problems, ProjectIntegration};
use crate::catalog::{
    DefaultValue, Operation, Provider, Source as PlaceholderSource, default_path, insert_at,
    placeholders, value_at,
};
use crate::domain::{StepContract, Trigger};

/// A parsed `{{...}}` reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// `{{entity.<field>}}`: a field of the entity an entity-event workflow starts on,
    /// as the dotted path after `entity.`.
    Entity(String),
    /// `{{change.entity_id}}`: the changed entity's id, in a data-change workflow.
    ChangeId,
    /// `{{change.after.<path>}}` or `{{change.before.<path>}}`: a field of the changed
    /// entity after or before the change, in a data-change workflow.
    Change {
        /// True for `after`, false for `before`.
        after: bool,
        /// The dotted field path after `after.` or `before.`.
        path: String,
    },
    /// `{{steps.<n>.output.<path>}}`: a field of an earlier step's output.
    Step {
        /// The earlier step's number (`n`); it must be below the current step's.
        step: u32,
        /// The dotted path into that step's output; a number indexes an array.
        path: String,
    },
}

/// Parses the text between `{{` and `}}` (surrounding space ignored); the error names
/// the four forms a reference can take.
pub fn parse_reference(inner: &str) -> Result<Reference, String> {
    let inner = inner.trim();
    let parts: Vec<&str> = inner.split('.').collect();
    match parts.as_slice() {
        ["entity", field, ..] if !field.is_empty() => Ok(Reference::Entity(parts[1..].join("."))),
        ["change", "entity_id"] => Ok(Reference::ChangeId),
        ["change", side @ ("after" | "before"), rest @ ..] if !rest.is_empty() => {
            Ok(Reference::Change {
                after: *side == "after",
                path: rest.join("."),
            })
        }
        ["steps", n, "output", rest @ ..] if !rest.is_empty() => n
            .parse::<u32>()
            .map(|step| Reference::Step {
                step,
                path: rest.join("."),
            })
            .map_err(|_| format!("{{{{{inner}}}}}: the step must be a number")),
        _ => Err(format!(
            "{{{{{inner}}}}} is not a reference; use {{{{entity.<field>}}}}, {{{{change.after.<field>}}}}, {{{{change.entity_id}}}} or {{{{steps.<n>.output.<field>}}}} (a literal {{{{ is written {{{{{{{{)"
        )),
    }
}

/// The templates of a string: (inner text, whether the string is exactly one template).
/// `{{{{` is a literal `{{`, not a template.
pub fn templates(text: &str) -> Result<(Vec<String>, bool), String> {
    use crate::runtime::mapping::{Piece, pieces, whole_template};
    let found = pieces(text)
        .map_err(|_| {
            format!(
                "unclosed {{{{ in {text:?} (a literal {{{{ is written {})",
                crate::runtime::mapping::LITERAL_BRACES
            )
        })?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Template(inner) => Some(inner.to_owned()),
            Piece::Text(_) => None,
        })
        .collect();
    Ok((found, whole_template(text).is_some()))
}

/// What the checker knows about the step being compiled.
pub struct Scope<'a> {
    pub trigger: &'a Trigger,
    pub entity_name: Option<&'a str>,
    pub sources: &'a [Source],
    /// Whether the change's fields are known (a catalog entity) or open.
    pub change_fields_known: bool,
    pub step: u32,
    /// Earlier steps' contracts, for their output schemas.
    pub earlier: &'a [StepContract],
}

impl Scope<'_> {
    /// The kind of the value a reference names, or why it names nothing.
    /// `{{entity.<field>}}`: the trigger entity's field, on an entity event.
    fn entity_field(&self, field: &str) -> Result<Kind, String> {
        if matches!(self.trigger, Trigger::DataChange { .. }) {
            return Err(format!(
                "{{{{entity.{field}}}}}: this workflow starts on a data change; use {{{{change.after.{field}}}}}"
            ));
        }
        match self
            .sources
            .iter()
            .find(|s| s.reference == format!("entity.{field}"))
        {
            Some(s) => Ok(s.kind.clone()),
            None => {
                let names: Vec<&str> = self
                    .sources
                    .iter()
                    .filter(|s| s.origin == Origin::Entity)
                    .map(|s| s.name.as_str())
                    .collect();
                let entity = self.entity_name.unwrap_or("the trigger entity");
                Err(if names.is_empty() {
                    format!(
                        "{{{{entity.{field}}}}}: {entity} declares no fields; send them in entity.fields"
                    )
                } else {
                    format!(
                        "{{{{entity.{field}}}}}: {entity} has no field {field}; it has {}",
                        closest_first(field, &names).join(", ")
                    )
                })
            }
        }
    }

    pub fn resolve(&self, reference: &Reference) -> Result<Kind, String> {
        match reference {
            Reference::Entity(field) => self.entity_field(field),
            Reference::ChangeId | Reference::Change { .. } => {
                let Trigger::DataChange { entity_type, .. } = self.trigger else {
                    return Err(
                        "this workflow starts on an entity event; use {{entity.<field>}}".into(),
                    );
                };
                let Reference::Change { path, .. } = reference else {
                    return Ok(Kind::String(None));
                };
                if !self.change_fields_known {
                    return Ok(Kind::Any);
                }
                let fields: Vec<&Source> = self
                    .sources
                    .iter()
                    .filter(|s| s.origin == Origin::Change)
                    .collect();
                if let Some(s) = fields.iter().find(|s| s.name == *path) {
                    return Ok(s.kind.clone());
                }
                // Below an open object (Notion's properties, HubSpot's), anything goes.
                let parts: Vec<&str> = path.split('.').collect();
                for n in (1..parts.len()).rev() {
                    let prefix = parts[..n].join(".");
                    if let Some(s) = fields.iter().find(|s| s.name == prefix)
                        && (matches!(
                            s.kind,
                            Kind::Object { open: true } | Kind::Any | Kind::Array
                        ) || n >= 2)
                    {
                        return Ok(Kind::Any);
                    }
                }
                let names: Vec<&str> = fields
                    .iter()
                    .filter(|s| !s.name.contains('.'))
                    .map(|s| s.name.as_str())
                    .collect();
                Err(format!(
                    "{{{{change.after.{path}}}}}: a {entity_type} has no field {path}; it has {}",
                    closest_first(path, &names).join(", ")
                ))
            }
            Reference::Step { step, path } => {
                if *step >= self.step {
                    return Err(format!(
                        "{{{{steps.{step}.output.{path}}}}}: step {} can only use earlier steps' outputs",
                        self.step
                    ));
                }
                let Some(contract) = self.earlier.iter().find(|c| c.step == *step) else {
                    return Err(format!(
                        "{{{{steps.{step}.output.{path}}}}}: the workflow has no step {step}"
                    ));
                };
                let output = &contract.output_schema;
                if output.get("type").and_then(Value::as_str) == Some("null") {
                    return Err(format!(
                        "{{{{steps.{step}.output.{path}}}}}: step {step} ({}) is answered with no body, so it has no output to map",
                        contract.operation
                    ));
                }
                let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
                // Walk as far as the schema declares; past an open object, anything goes.
                let mut current = schema::resolve(output, output);
                for (i, part) in parts.iter().enumerate() {
                    let next = if part.parse::<usize>().is_ok() {
                        current.get("items").map(|s| schema::resolve(output, s))
                    } else {
                        schema::property(output, current, part).map(|s| schema::resolve(output, s))
                    };
                    match next {
                        Some(s) => current = s,
                        None => {
                            let open = current
                                .get("properties")
                                .and_then(Value::as_object)
                                .is_none_or(Map::is_empty)
                                && current.get("items").is_none();
                            if open {
                                return Ok(Kind::Any);
                            }
                            let names: Vec<String> = current
                                .get("properties")
                                .and_then(Value::as_object)
                                .map(|p| p.keys().cloned().collect())
                                .unwrap_or_default();
                            let names: Vec<&str> = names.iter().map(String::as_str).collect();
                            let at = parts[..i].join(".");
                            let place = if at.is_empty() {
                                String::new()
                            } else {
                                format!(" under {at}")
                            };
                            return Err(format!(
                                "{{{{steps.{step}.output.{path}}}}}: step {step} ({}) returns no {part}{place}; it returns {}",
                                contract.operation,
                                closest_first(part, &names).join(", ")
                            ));
                        }
                    }
                }
                Ok(schema::kind(output, current))
            }
        }
    }
}

/// Names ordered by closeness to `wanted`, at most eight.
pub fn closest_first<'a>(wanted: &str, names: &[&'a str]) -> Vec<&'a str> {
    let w = squash(wanted);
    let mut scored: Vec<(f64, &str)> = names
        .iter()
        .map(|n| (strsim::normalized_damerau_levenshtein(&w, &squash(n)), *n))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(8).map(|(_, n)| n).collect()
}

/// Every reference in a mapping, with the field it sits at.
pub fn references(mapping: &Map<String, Value>) -> Vec<(String, Result<Reference, String>, bool)> {
    let mut out = Vec::new();
    for (key, value) in mapping {
        collect(value, key, &mut out);
    }
    out
}

fn collect(value: &Value, at: &str, out: &mut Vec<(String, Result<Reference, String>, bool)>) {
    match value {
        Value::String(text) => match templates(text) {
            Ok((found, whole)) => {
                for inner in found {
                    out.push((at.to_owned(), parse_reference(&inner), whole));
                }
            }
            Err(e) => out.push((at.to_owned(), Err(e), false)),
        },
        Value::Object(map) => {
            for (k, v) in map {
                collect(v, &format!("{at}.{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect(v, &format!("{at}.{i}"), out);
            }
        }
        _ => {}
    }
}

/// The provider's default for an input, when the integration's config (or the config
/// field's own default) gives every value it needs.
pub fn default_value(
    template: &str,
    provider: &Provider,
    integration: &ProjectIntegration,
) -> Option<Value> {
    let found = placeholders(template).ok()?;
    let mut text = template.to_owned();
    for p in found {
        let value = match p.source {
            PlaceholderSource::Config => integration
                .config
                .get(&p.name)
                .and_then(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| (!v.is_null()).then(|| v.to_string()))
                })
                .filter(|v| !v.is_empty())
                .or_else(|| {
                    provider
                        .config
                        .iter()
                        .find(|f| f.name == p.name)
                        .and_then(|f| f.default.clone())
                })?,
            // A credential is filled at the edge; the compiler never sees it.
            PlaceholderSource::Credentials => "credential".to_owned(),
            PlaceholderSource::Input => return None,
        };
        text = text.replace(&format!("{{{}.{}}}", source_name(p.source), p.name), &value);
    }
    Some(Value::String(text))
}

fn source_name(s: PlaceholderSource) -> &'static str {
    match s {
        PlaceholderSource::Input => "input",
        PlaceholderSource::Config => "config",
        PlaceholderSource::Credentials => "credentials",
    }
}

/// The value validated in place of the mapping: templates replaced by typed samples,
/// provider defaults applied. Returns it and the JSON pointers of templated values.
fn sample(
    mapping: &Map<String, Value>,
    scope: &Scope,
    op: &Operation,
    provider: &Provider,
    integration: &ProjectIntegration,
) -> (Value, BTreeSet<String>) {
    let mut templated = BTreeSet::new();
    let mut out = Map::new();
    for (k, v) in mapping {
        out.insert(
            k.clone(),
            sample_value(v, &format!("/{k}"), scope, &mut templated),
        );
    }
    for (key, default) in &op.defaults {
        let path = default_path(key);
        if value_at(&out, &path).is_some() {
            continue;
        }
        let value = match default {
            DefaultValue::Template(template) => default_value(template, provider, integration),
            DefaultValue::Object(entries) => {
                let rendered: Map<String, Value> = entries
                    .iter()
                    .filter_map(|(k, t)| {
                        let has_placeholder = placeholders(t).is_ok_and(|p| !p.is_empty());
                        default_value(t, provider, integration).map(|v| (k, v, has_placeholder))
                    })
                    .fold(Map::new(), |mut m, (k, v, _)| {
                        m.insert(k.clone(), v);
                        m
                    });
                let filled = entries.iter().any(|(k, t)| {
                    rendered.contains_key(k) && placeholders(t).is_ok_and(|p| !p.is_empty())
                });
                filled.then_some(Value::Object(rendered))
            }
        };
        if let Some(v) = value {
            insert_at(&mut out, &path, v);
            templated.insert(format!("/{}", path.join("/")));
        }
    }
    (Value::Object(out), templated)
}

fn sample_value(
    value: &Value,
    pointer: &str,
    scope: &Scope,
    templated: &mut BTreeSet<String>,
) -> Value {
    match value {
        Value::String(text) if text.contains("{{") => {
            templated.insert(pointer.to_owned());
            match templates(text) {
                Ok((found, true)) => parse_reference(&found[0])
                    .and_then(|r| scope.resolve(&r))
                    .map(|k| k.sample())
                    .unwrap_or(Value::String("sample".into())),
                _ => Value::String("sample text".into()),
            }
        }
        // A named target the runtime looks up: its id is a string, and only the run
        // knows it.
        Value::Object(_) if crate::catalog::named_target(value).is_some() => {
            templated.insert(pointer.to_owned());
            Value::String(crate::catalog::NAMED_TARGET_PLACEHOLDER.into())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        sample_value(v, &format!("{pointer}/{k}"), scope, templated),
                    )
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| sample_value(v, &format!("{pointer}/{i}"), scope, templated))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The named targets in a mapping: (dotted path, kind).
fn named_targets(value: &Value, at: &str) -> Vec<(String, String)> {
    if let Some((kind, _)) = crate::catalog::named_target(value) {
        return vec![(at.to_owned(), kind.to_owned())];
    }
    let join = |k: &str| {
        if at.is_empty() {
            k.to_owned()
        } else {
            format!("{at}.{k}")
        }
    };
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| named_targets(v, &join(k)))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, v)| named_targets(v, &join(&i.to_string())))
            .collect(),
        _ => Vec::new(),
    }
}

fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

fn field_at(pointer: &str, name: Option<&str>) -> String {
    let mut path = dotted(pointer);
    if let Some(name) = name {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
    }
    if path.is_empty() {
        "input_mapping".into()
    } else {
        format!("input_mapping.{path}")
    }
}

/// The sources that could fill an input of this schema, named for a message.
fn could_fill(scope: &Scope, root: &Value, target: Option<&Value>) -> Vec<String> {
    let types = target.map(|t| schema::types(root, t)).unwrap_or_default();
    scope
        .sources
        .iter()
        .filter(|s| {
            s.reference != "change.entity_id" || matches!(scope.trigger, Trigger::DataChange { .. })
        })
        .filter(|s| !s.name.contains('.') || matches!(s.origin, Origin::Change))
        .filter(|s| schema::fits(&s.kind, &types))
        .map(|s| s.template())
        .take(8)
        .collect()
}

fn missing_message(
    scope: &Scope,
    op: &Operation,
    provider: &Provider,
    root: &Value,
    parent_pointer: &str,
    name: &str,
) -> String {
    let parent_path: Vec<String> = dotted(parent_pointer)
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let target =
        schema::at_path(root, root, &parent_path).and_then(|p| schema::property(root, p, name));
    let expected = target
        .map(|t| schema::kind(root, t).name())
        .unwrap_or_else(|| "value".into());
    let mut message = format!("{} requires {name} ({expected})", op.id);
    if parent_path.is_empty()
        && let Some(DefaultValue::Template(default)) = op.defaults.get(name)
    {
        let configs: Vec<String> = placeholders(default)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.source == PlaceholderSource::Config)
            .map(|p| p.name)
            .collect();
        if !configs.is_empty() {
            message.push_str(&format!(
                "; the integration's config does not set {} (its default), and the words give none",
                configs.join(", ")
            ));
        }
    }
    let whose = match scope.trigger {
        Trigger::Entity { entity, .. } => entity.clone(),
        Trigger::DataChange { entity_type, .. } => format!("the changed {entity_type}"),
    };
    let mut full_path = parent_path.clone();
    full_path.push(name.to_owned());
    let role = super::mapping::expected_role(&full_path, root, provider);
    let of_role: Vec<String> = role
        .as_ref()
        .map(|r| {
            scope
                .sources
                .iter()
                .filter(|s| s.role == *r)
                .map(|s| s.template())
                .collect()
        })
        .unwrap_or_default();
    let candidates = could_fill(scope, root, target);
    if let (Some(words), true) = (
        role.as_ref().and_then(super::mapping::role_words),
        of_role.is_empty(),
    ) {
        message.push_str(&format!(
            "; no field of {whose} or of an earlier step is {words}"
        ));
        if candidates.is_empty() {
            message
                .push_str(": add one to the entity, write the value in the instruction, or map it");
        } else {
            message.push_str(&format!(
                "; fields of a fitting type that could, if one holds it: {}",
                candidates.join(", ")
            ));
        }
    } else if !of_role.is_empty() {
        message.push_str(&format!(
            "; say which of these it is, or map it: {}",
            of_role.join(", ")
        ));
    } else if candidates.is_empty() {
        message.push_str(&format!(
            "; no field of {whose} or of an earlier step can fill it: add one to the entity, write the value in the instruction, or map it"
        ));
    } else {
        message.push_str(&format!(
            "; no field was clearly meant for it; fields that could: {}",
            candidates.join(", ")
        ));
    }
    message
}

/// Checks a mapping; returns the problems (empty when it is sound).
pub fn check(
    mapping: &Map<String, Value>,
    scope: &Scope,
    op: &Operation,
    provider: &Provider,
    integration: &ProjectIntegration,
) -> Problems {
    let mut problems = Problems::default();
    // 1. References.
    check_references(mapping, scope, &mut problems);
    // Named targets: the provider must say how to look each kind up.
    check_named_targets(mapping, provider, &mut problems);
    // 2. No credential, ever: not a placeholder, not a value.
    let text = Value::Object(mapping.clone()).to_string();
    if text.contains("{credentials.") || text.contains("{{credentials") {
        problems.push(
            "input_mapping",
            "a contract never holds or references a credential; the edge adds them",
        );
    }
    if !problems.is_empty() {
        return problems;
    }
    // 3. Config values the operation cannot run without (`needed_for`), when the words
    // give no value in their place: the fix is the integration's config, not the step.
    let unset = unset_needed_config(mapping, op, provider, integration);
    if !unset.is_empty() {
        for (field, path) in unset {
            problems.push(
                format!("config.{}", field.name),
                needed_config_message(op, integration, field, &path),
            );
        }
        return problems;
    }
    // 4. The operation's input schema, on a sample of what the mapping produces.
    let validator = match crate::catalog::operation_validator(provider, op) {
        Ok(v) => v,
        Err(e) => {
            problems.push(
                "operation",
                format!("{}'s input schema does not compile: {e}", op.id),
            );
            return problems;
        }
    };
    let (instance, templated) = sample(mapping, scope, op, provider, integration);
    let explain = SchemaErrors {
        mapping,
        scope,
        op,
        provider,
        root: &op.input_schema,
        instance: &instance,
    };
    let mut seen = BTreeSet::new();
    for error in validator.iter_errors(&instance) {
        let pointer = error.instance_path().as_str().to_owned();
        let inside_template = templated
            .iter()
            .any(|t| pointer == *t || pointer.starts_with(&format!("{t}/")));
        let Some((field, message)) = explain.problem(&error, &pointer, inside_template) else {
            continue;
        };
        if seen.insert(field.clone()) {
            problems.push(field, message);
        }
        if seen.len() >= 10 {
            break;
        }
    }
    problems
}

/// Every `{{...}}` reference parses and names something in scope.
fn check_references(mapping: &Map<String, Value>, scope: &Scope, problems: &mut Problems) {
    for (at, reference, _) in references(mapping) {
        let field = format!("input_mapping.{at}");
        match reference {
            Ok(r) => {
                if let Err(message) = scope.resolve(&r) {
                    problems.push(field, message);
                }
            }
            Err(message) => problems.push(field, message),
        }
    }
}

/// Every named target's kind is one the provider can look up.
fn check_named_targets(mapping: &Map<String, Value>, provider: &Provider, problems: &mut Problems) {
    for (at, kind) in named_targets(&Value::Object(mapping.clone()), "") {
        if !provider.lookups.contains_key(&kind) {
            let kinds: Vec<&String> = provider.lookups.keys().collect();
            problems.push(
                format!("input_mapping.{at}"),
                format!(
                    "{} cannot look up a {kind} by name{}",
                    provider.display_name,
                    if kinds.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; it looks up: {}",
                            kinds
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
            );
        }
    }
}

/// What the input schema's errors on a mapping's sample are explained with.
struct SchemaErrors<'a> {
    mapping: &'a Map<String, Value>,
    scope: &'a Scope<'a>,
    op: &'a Operation,
    provider: &'a Provider,
    root: &'a Value,
    instance: &'a Value,
}

impl SchemaErrors<'_> {
    /// The field and message a validation error makes, or `None` when it is no problem.
    fn problem(
        &self,
        error: &ValidationError<'_>,
        pointer: &str,
        inside_template: bool,
    ) -> Option<(String, String)> {
        Some(match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default().to_owned();
                (field_at(pointer, Some(&name)), self.missing(pointer, &name))
            }
            ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. } => {
                return self.no_alternative(error, pointer, inside_template);
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                self.unexpected(pointer, unexpected)
            }
            ValidationErrorKind::Type { .. } if inside_template => self.wrong_type(error, pointer),
            _ if inside_template => return None,
            _ => (field_at(pointer, None), error.to_string()),
        })
    }

    /// Why a required input is missing, and what could fill it.
    fn missing(&self, pointer: &str, name: &str) -> String {
        missing_message(self.scope, self.op, self.provider, self.root, pointer, name)
    }

    /// No `anyOf`/`oneOf` alternative is met: the ones there are, and what the first lacks.
    fn no_alternative(
        &self,
        error: &ValidationError<'_>,
        pointer: &str,
        inside_template: bool,
    ) -> Option<(String, String)> {
        let path = path_of(pointer);
        let here = self.instance.pointer(pointer).and_then(Value::as_object);
        let alternatives = schema::at_path(self.root, self.root, &path)
            .map(|s| schema::alternatives(self.root, s))
            .unwrap_or_default();
        let satisfied = alternatives
            .iter()
            .any(|alt| here.is_some_and(|h| alt.iter().all(|n| h.contains_key(n))));
        if satisfied || inside_template {
            return None;
        }
        if alternatives.is_empty() {
            return Some((field_at(pointer, None), error.to_string()));
        }
        let first = &alternatives[0];
        let extra = first
            .first()
            .map(|n| self.missing(pointer, n))
            .unwrap_or_default();
        Some((
            field_at(pointer, None),
            format!(
                "{} needs one of: {}. {extra}",
                self.op.id,
                alternatives
                    .iter()
                    .map(|a| a.join(" + "))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }

    /// An input the schema does not take here, and the ones it does, closest first.
    fn unexpected(&self, pointer: &str, unexpected: &[String]) -> (String, String) {
        let path = path_of(pointer);
        let known: Vec<String> = schema::at_path(self.root, self.root, &path)
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        let name = unexpected.first().cloned().unwrap_or_default();
        (
            field_at(pointer, Some(&name)),
            format!(
                "{} takes no input {name} here; it takes {}",
                self.op.id,
                closest_first(&name, &known).join(", ")
            ),
        )
    }

    /// A template whose source is of another type than the input expects.
    fn wrong_type(&self, error: &ValidationError<'_>, pointer: &str) -> (String, String) {
        let source = mapping_value(self.mapping, pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default();
        (
            field_at(pointer, None),
            format!(
                "{source} is a {} but {} expects {}",
                schema::json_type(error.instance()),
                dotted(pointer),
                error
                    .to_string()
                    .rsplit("is not of type")
                    .next()
                    .unwrap_or("another type")
                    .trim()
            ),
        )
    }
}

/// The segments of an instance pointer's dotted path.
fn path_of(pointer: &str) -> Vec<String> {
    dotted(pointer)
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The config fields this operation needs (`needed_for`) that neither the
/// integration's config nor the field's default sets, for the defaults the mapping
/// leaves to them, with the input each one fills.
pub fn unset_needed_config<'p>(
    mapping: &Map<String, Value>,
    op: &Operation,
    provider: &'p Provider,
    integration: &ProjectIntegration,
) -> Vec<(&'p crate::catalog::Field, String)> {
    let mut out = Vec::new();
    for (key, default) in &op.defaults {
        if value_at(mapping, &default_path(key)).is_some() {
            continue;
        }
        for (_, template) in default.templates() {
            for p in placeholders(template).unwrap_or_default() {
                if p.source != PlaceholderSource::Config {
                    continue;
                }
                let Some(field) = provider.config.iter().find(|f| f.name == p.name) else {
                    continue;
                };
                let set = integration
                    .config
                    .get(&field.name)
                    .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
                    || field.default.is_some();
                if !set
                    && field.needed_for.iter().any(|o| *o == op.id)
                    && !out
                        .iter()
                        .any(|(f, _): &(&crate::catalog::Field, String)| f.name == field.name)
                {
                    out.push((field, key.clone()));
                }
            }
        }
    }
    out
}

fn needed_config_message(
    op: &Operation,
    integration: &ProjectIntegration,
    field: &crate::catalog::Field,
    input: &str,
) -> String {
    let example = field.example.as_deref().unwrap_or("...");
    format!(
        "{} takes {input} from the integration's {} ({}), which {} does not set: set it with PATCH /projects/{{project}}/integrations/{} {{\"config\": {{\"{}\": \"{example}\"}}}}, or give {input} in the step",
        op.id, field.name, field.label, integration.name, integration.name, field.name,
    )
}

fn mapping_value<'a>(mapping: &'a Map<String, Value>, pointer: &str) -> Option<&'a Value> {
    let mut parts = pointer.trim_start_matches('/').split('/');
    let first = parts.next()?;
    let mut current = mapping.get(first)?;
    for part in parts {
        current = match current {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_or_say_what_is_allowed() {
        assert_eq!(
            parse_reference("entity.patient_email"),
            Ok(Reference::Entity("patient_email".into()))
        );
        assert_eq!(
            parse_reference(" change.entity_id "),
            Ok(Reference::ChangeId)
        );
        assert_eq!(
            parse_reference("steps.1.output.MessageID"),
            Ok(Reference::Step {
                step: 1,
                path: "MessageID".into()
            })
        );
        assert!(parse_reference("credentials.server_token").is_err());
        assert!(parse_reference("steps.x.output.id").is_err());
        assert_eq!(
            templates("Hi {{entity.a}}"),
            Ok((vec!["entity.a".into()], false))
        );
        assert_eq!(
            templates("{{ entity.a }}"),
            Ok((vec!["entity.a".into()], true))
        );
        assert!(templates("{{entity.a").is_err());
        // Four braces are a literal pair: no template, and not the whole text.
        assert_eq!(templates("{{{{clinic_name}}"), Ok((vec![], false)));
        assert_eq!(
            templates("{{{{a}} {{entity.a}}"),
            Ok((vec!["entity.a".to_owned()], false))
        );
        assert!(
            parse_reference("{{clinic_name")
                .is_err_and(|e| e.contains("a literal {{ is written {{{{"))
        );
    }
}
