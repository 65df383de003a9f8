//! The contract compiler: a workflow step in plain words (or in structured form, as a
//! person edits it) becomes a [`StepContract`]: the trigger, the integration and
//! operation, the input mapping with its input schema, and the operation's output schema.
//!
//! "When the intake form is submitted, call the Postmark integration to send a
//! confirmation email to the patient" reads as:
//! - the trigger clause ([`trigger`]): an entity event (`IntakeForm` `submitted`) or a
//!   data change an integration's webhooks report ("when a Linear issue moves to Done");
//! - the integration ([`refs`], [`resolve`]): named by its own name ("clinic-mail"),
//!   its provider's ("Postmark", "gcal"), or by what the words ask of it;
//! - the operation ([`resolve`]): the phrases of the catalog's operations, weighted by
//!   how specific each word is across the catalog ([`index`]);
//! - the mapping ([`mapping`]): inputs filled by role from the trigger's fields and
//!   earlier steps' outputs ([`sources`]), with subject and body text where the words
//!   imply them, after the provider file's `compile` hints ([`shape`]) shaped what
//!   names cannot tell;
//! - the check ([`check`]): every reference resolves, required inputs are filled, and
//!   the result fits the operation's input schema. The structured form gets the same check.
//!
//! Words come from the lexicon ([`crate::lexicon`]). Everything is the catalog's data,
//! the lexicon's and the request's; no model, no network, well under
//! a millisecond per step. The compiler never sees a credential: it reads an
//! integration's name, provider and config, never its envelope.

mod action;
mod check;
mod index;
mod mapping;
mod refs;
mod resolve;
mod schema;
mod shape;
mod sources;
mod text;
mod trigger;

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::{Map, Value, json};

pub use check::{Reference, parse_reference, references, templates};
pub use sources::{FIELD_TYPES, FieldType};

use crate::catalog::{Operation, Provider, custom};
use crate::domain::{
    DependencyEdge, Integration, IntegrationName, InvalidValue, StepContract, Trigger,
    TriggerSubscription, WorkflowId,
};
use mapping::{Action, Plan};
use sources::{Origin, Role, Source};

/// Steps are stored as `W#{workflow}#S#{nn}`: two digits keep them in order.
pub const MAX_STEP: u32 = 99;
const MAX_INSTRUCTION_CHARS: usize = 2000;
const MAX_ENTITY_FIELDS: usize = 100;

/// Problems found, each naming the field at fault and what would fit.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Problems(pub Vec<InvalidValue>);

impl Problems {
    /// Adds a problem with `field`, saying what is wrong and what would fit.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(InvalidValue::new(field, message));
    }

    /// Whether nothing was found wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }
}

/// The trigger entity a request describes: its name and its fields' types, in order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    /// The entity's name as the studio calls it (`IntakeForm`).
    pub name: String,
    /// Field name → type, in the request's order; the types are the compiler's
    /// `FIELD_TYPES`: string, email, phone, datetime, date, number, integer, boolean,
    /// url.
    #[serde(default, deserialize_with = "ordered_fields")]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub fields: Vec<(String, String)>,
}

/// Keeps the fields in the order the request lists them (a spreadsheet row follows it).
fn ordered_fields<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(String, String)>, D::Error> {
    struct Fields;
    impl<'de> Visitor<'de> for Fields {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of field names to types")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_map(Fields)
}

/// `POST .../steps/compile`: plain words (`instruction`, `entity`), or the structured
/// form a person edits (`integration`, `operation`, `input_mapping`, `trigger`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompileRequest {
    /// The step in plain words (at most 2,000 characters); required unless the request
    /// uses the structured form.
    #[serde(default)]
    pub instruction: Option<String>,
    /// The entity whose event triggers the workflow, with its fields, so the trigger
    /// and the mapping can name them.
    #[serde(default)]
    pub entity: Option<EntitySpec>,
    /// The step's number, from 1: an existing step is recompiled, the next one added;
    /// by default the one after the workflow's last.
    #[serde(default)]
    pub step: Option<u32>,
    /// Structured form: the name of the integration the step calls.
    #[serde(default)]
    pub integration: Option<String>,
    /// Structured form: the id of the operation it calls.
    #[serde(default)]
    pub operation: Option<String>,
    /// Structured form: the operation's inputs as values or templates; generated from
    /// the trigger's fields and earlier outputs when absent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub input_mapping: Option<Map<String, Value>>,
    /// Structured form: the workflow's trigger as a `Trigger` in JSON; only step 1
    /// may change it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::domain::Trigger>))]
    pub trigger: Option<Value>,
}

/// An integration as the compiler sees it: name, provider, config and the adapter's
/// operations. Built without touching the credential envelope.
#[derive(Debug, Clone)]
pub struct ProjectIntegration {
    /// The integration's name within the project.
    pub name: IntegrationName,
    /// Its catalog provider (`custom_http` for Custom HTTP).
    pub provider: crate::domain::ProviderId,
    /// Its non-secret config (a Custom HTTP integration's endpoints are read from it).
    pub config: Map<String, Value>,
    adapter: Cow<'static, Provider>,
}

impl ProjectIntegration {
    /// An integration of a catalog provider, or of Custom HTTP (its endpoints become
    /// operations).
    pub fn new(
        name: &str,
        provider: &str,
        config: Map<String, Value>,
    ) -> Result<Self, Vec<InvalidValue>> {
        let name = IntegrationName::parse(name).map_err(|e| vec![e])?;
        let adapter = if provider == custom::ID {
            Cow::Owned(custom::build(name.as_str(), &config)?)
        } else {
            let catalog = crate::catalog::catalog()
                .map_err(|e| vec![InvalidValue::new("catalog", e.to_string())])?;
            Cow::Borrowed(catalog.get(provider).ok_or_else(|| {
                vec![InvalidValue::new(
                    "provider",
                    format!("unknown provider {provider}"),
                )]
            })?)
        };
        Ok(Self {
            name,
            provider: provider.into(),
            config,
            adapter,
        })
    }

    /// From a stored integration: only its name, provider and config are read.
    pub fn from_integration(integration: &Integration) -> Result<Self, Vec<InvalidValue>> {
        Self::new(
            integration.name.as_str(),
            &integration.provider,
            integration.config.clone(),
        )
    }

    /// The provider as the compiler uses it: the catalog's, or the one built from a
    /// Custom HTTP integration's config.
    pub fn adapter(&self) -> &Provider {
        &self.adapter
    }
}

/// What the compiler knows of the project and the workflow.
pub struct Workspace<'a> {
    /// The workflow the step belongs to.
    pub workflow: &'a WorkflowId,
    /// The project's integrations, which a step may call or watch.
    pub integrations: &'a [ProjectIntegration],
    /// The workflow's current trigger, if it has steps.
    pub trigger: Option<&'a Trigger>,
    /// The workflow's current step contracts.
    pub steps: &'a [StepContract],
}

/// A compiled step, and what else changes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// The step's new contract.
    pub contract: StepContract,
    /// The contract this one replaces (recompiling a step).
    pub replaces: Option<StepContract>,
    /// Later steps rewritten because step 1's trigger changed.
    pub rewritten: Vec<StepContract>,
    /// The workflow's trigger after this step (step 1's).
    pub trigger: Trigger,
}

fn problems_of(e: Vec<InvalidValue>) -> Problems {
    Problems(e)
}

/// Compiles one step.
pub fn compile(request: &CompileRequest, ws: &Workspace) -> Result<Compiled, Problems> {
    let unreadable = |e: crate::catalog::CatalogError| {
        problems_of(vec![InvalidValue::new("catalog", e.to_string())])
    };
    let (catalog, index) = (
        crate::catalog::catalog().map_err(unreadable)?,
        index::index().map_err(unreadable)?,
    );
    let mut problems = Problems::default();
    let Some(Checked {
        step,
        entity,
        structured,
        instruction,
    }) = check_request(request, ws, &mut problems)
    else {
        return Err(problems);
    };

    let extracted = text::extract(instruction.unwrap_or_default());
    let clauses = text::clauses(&extracted.blanked);
    let known = known_words(
        entity.as_ref(),
        request.entity.as_ref().map(|e| e.name.as_str()),
    );

    // The trigger: stated (in words or structured), else the workflow's.
    let said = Said {
        request,
        ws,
        index,
        extracted: &extracted,
        clauses: &clauses,
        known: &known,
        instruction,
        structured,
        step,
    };
    let Some(trigger) = workflow_trigger(&said, &mut problems) else {
        return Err(problems);
    };

    // The sources: the trigger's fields, then earlier steps' outputs.
    let earlier: Vec<StepContract> = ws.steps.iter().filter(|s| s.step < step).cloned().collect();
    let (all_sources, change_fields_known) =
        sources_of(&trigger, entity.as_ref(), ws, index, &earlier);

    // The integration and the operation.
    let (integration_index, op_index, mapping) = if structured {
        let found = from_structure(request, ws, &trigger, &all_sources, &mut problems);
        found.ok_or_else(|| problems.clone())?
    } else {
        let words = Words {
            extracted: &extracted,
            clauses: &clauses,
            trigger: &trigger,
            ws,
            index,
            catalog,
            known: &known,
            earlier: &earlier,
            request,
            sources: &all_sources,
        };
        let found = from_words(&words, &mut problems);
        found.ok_or_else(|| problems.clone())?
    };

    let integration = &ws.integrations[integration_index];
    let provider = integration.adapter();
    let op = &provider.operations[op_index];
    let scope = check::Scope {
        trigger: &trigger,
        entity_name: entity_name(&trigger),
        sources: &all_sources,
        change_fields_known,
        step,
        earlier: &earlier,
    };
    if problems.is_empty() {
        problems.extend(check::check(&mapping, &scope, op, provider, integration));
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    // Every operation is a request to the provider: the step leaves the process.
    let contract = StepContract {
        workflow: ws.workflow.clone(),
        step,
        trigger: trigger.clone(),
        integration: integration.name.clone(),
        provider: integration.provider.clone(),
        operation: op.id.clone(),
        outbound: true,
        input_schema: input_schema(&trigger, &all_sources, &mapping, op),
        input_mapping: mapping,
        output_schema: output_schema(op),
        integration_created_at: None,
    };

    // Later steps still have to make sense: their references to this step's output,
    // and to the trigger's fields when step 1 changed the trigger.
    let Some(rewritten) = later_steps(
        &contract,
        &earlier,
        entity.as_ref(),
        ws,
        index,
        &mut problems,
    ) else {
        return Err(problems);
    };
    let replaces = ws.steps.iter().find(|s| s.step == step).cloned();
    Ok(Compiled {
        contract,
        replaces,
        rewritten,
        trigger,
    })
}

/// The studio entity a trigger is on, if it is an entity event.
fn entity_name(trigger: &Trigger) -> Option<&str> {
    match trigger {
        Trigger::Entity { entity, .. } => Some(entity.as_str()),
        Trigger::DataChange { .. } => None,
    }
}

/// What a request says before its words are read: the step's number, the entity it
/// describes, whether it is structured, and its instruction.
struct Checked<'a> {
    step: u32,
    entity: Option<Vec<(String, FieldType)>>,
    structured: bool,
    instruction: Option<&'a str>,
}

/// Checks the step's number, the entity and the instruction's presence and length.
/// `None` when `problems` says what is wrong.
fn check_request<'a>(
    request: &'a CompileRequest,
    ws: &Workspace,
    problems: &mut Problems,
) -> Option<Checked<'a>> {
    // The step number: given, or the next one.
    let last = ws.steps.iter().map(|s| s.step).max().unwrap_or(0);
    let step = request.step.unwrap_or(last + 1);
    if step == 0 || step > MAX_STEP {
        problems.push("step", format!("steps are numbered 1 to {MAX_STEP}"));
    } else if step > last + 1 {
        problems.push(
            "step",
            format!(
                "the workflow has {last} step(s); compile step {} next",
                last + 1
            ),
        );
    }

    // The entity the request describes.
    let entity = request
        .entity
        .as_ref()
        .and_then(|e| check_entity(e, problems));

    let structured = request.integration.is_some()
        || request.operation.is_some()
        || request.input_mapping.is_some();
    let instruction = request
        .instruction
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if !structured {
        match instruction {
            None => problems.push(
                "instruction",
                "describe the step in plain words, or send integration, operation and input_mapping",
            ),
            Some(t) if t.chars().count() > MAX_INSTRUCTION_CHARS => {
                problems.push("instruction", format!("must be at most {MAX_INSTRUCTION_CHARS} characters"))
            }
            _ => {}
        }
    }
    problems.is_empty().then_some(Checked {
        step,
        entity,
        structured,
        instruction,
    })
}

/// What the request says, taken apart: for the trigger and the tools it names.
struct Said<'a> {
    request: &'a CompileRequest,
    ws: &'a Workspace<'a>,
    index: &'a index::Index,
    extracted: &'a text::Extracted,
    clauses: &'a text::Clauses,
    known: &'a BTreeSet<String>,
    instruction: Option<&'a str>,
    structured: bool,
    step: u32,
}

/// The workflow's trigger for this step: the one stated (in words or structured) on
/// step 1, else the workflow's; a later step may restate it, never change it. `None`
/// when `problems` says why not.
fn workflow_trigger(said: &Said<'_>, problems: &mut Problems) -> Option<Trigger> {
    let Said {
        request,
        ws,
        index,
        extracted,
        clauses,
        known,
        instruction,
        structured,
        step,
    } = *said;
    let stated: Option<trigger::ParsedTrigger> = if structured {
        match &request.trigger {
            Some(raw) => structured_trigger(raw, ws.integrations, index, problems),
            None => None,
        }
    } else {
        clauses.trigger.clone().and_then(|range| {
            // A later step runs on the workflow's trigger: a clause such as "after the
            // refund" there only says what it follows, and is not an error.
            let mut scratch = Problems::default();
            let later = step > 1 && ws.trigger.is_some();
            trigger::parse(
                &extracted.original[range],
                request.entity.as_ref().map(|e| e.name.as_str()),
                ws.integrations,
                index,
                known,
                if later { &mut scratch } else { problems },
            )
        })
    };
    if !problems.is_empty() {
        return None;
    }
    Some(match (step, stated, ws.trigger) {
        (1, Some(parsed), _) => parsed.trigger,
        (1, None, Some(existing)) => existing.clone(),
        (1, None, None) => {
            problems.push(
                if structured { "trigger" } else { "instruction" },
                "say what starts the workflow, such as \"When the intake form is submitted, ...\"",
            );
            // A tool the project does not have is said too ("add them to Mailchimp").
            if let Some(text) = instruction.filter(|_| !structured)
                && let Some(name) = unknown_tool(text, ws.integrations, index, known)
            {
                problems.push(
                    "integration",
                    format!(
                        "the project has no integration named {name}; closest names: {}",
                        refs::closest(&name, ws.integrations).join(", ")
                    ),
                );
            }
            return None;
        }
        (_, stated, Some(existing)) => {
            if let Some(parsed) = stated
                && !same_trigger(&parsed.trigger, existing)
            {
                problems.push(
                        "trigger",
                        format!(
                            "step {step} runs on the workflow's trigger ({}); compile step 1 to change it",
                            describe_trigger(existing)
                        ),
                    );
                return None;
            }
            existing.clone()
        }
        (_, _, None) => {
            problems.push(
                "step",
                "compile step 1 first: it sets the workflow's trigger",
            );
            return None;
        }
    })
}

/// The integration, operation and input mapping a structured request names (the
/// mapping generated when it sends none). `None` when `problems` says why not.
fn from_structure(
    request: &CompileRequest,
    ws: &Workspace,
    trigger: &Trigger,
    all_sources: &[Source],
    problems: &mut Problems,
) -> Option<(usize, usize, Map<String, Value>)> {
    let Some(name) = request.integration.as_deref() else {
        problems.push("integration", "name the integration the step uses");
        return None;
    };
    let Some(i) = ws.integrations.iter().position(|x| x.name.as_str() == name) else {
        problems.push(
            "integration",
            format!(
                "the project has no integration named {name}; closest: {}",
                refs::closest(name, ws.integrations).join(", ")
            ),
        );
        return None;
    };
    let adapter = ws.integrations[i].adapter();
    let Some(op_name) = request.operation.as_deref() else {
        problems.push(
            "operation",
            format!("name the operation; {} offers {}", name, op_list(adapter)),
        );
        return None;
    };
    let Some(o) = adapter.operations.iter().position(|op| op.id == op_name) else {
        problems.push(
            "operation",
            format!(
                "{} ({}) has no operation {op_name}; it offers {}",
                name,
                adapter.display_name,
                op_list(adapter)
            ),
        );
        return None;
    };
    let mapping = match &request.input_mapping {
        Some(m) => m.clone(),
        None => {
            let action = Action {
                words: Vec::new(),
                literals: Vec::new(),
                owners: BTreeSet::new(),
                text: String::new(),
            };
            let plan = plan_for(
                &ws.integrations[i],
                o,
                trigger,
                all_sources,
                &action,
                &[],
                ws.integrations,
            );
            let (m, p) = mapping::generate(&plan);
            problems.extend(p);
            m
        }
    };
    Some((i, o, mapping))
}

/// The values a step can map: the trigger's fields (and whether the change's fields are
/// known), then each earlier step's outputs.
fn sources_of(
    trigger: &Trigger,
    entity: Option<&Vec<(String, FieldType)>>,
    ws: &Workspace,
    index: &index::Index,
    earlier: &[StepContract],
) -> (Vec<Source>, bool) {
    let (mut all_sources, change_fields_known) = trigger_sources(trigger, entity, ws, index);
    let lexicon = crate::lexicon::lexicon();
    for contract in earlier {
        let op = ws
            .integrations
            .iter()
            .find(|i| i.name == contract.integration)
            .and_then(|i| {
                i.adapter()
                    .operations
                    .iter()
                    .find(|o| o.id == contract.operation)
            });
        let entity_of = op.and_then(|o| o.entity.clone());
        // A change of a thing the step did not make returns the id it already had.
        let echoes = op.is_some_and(|o| {
            o.side_effects
                && lexicon.canonical(o.id.split('_').next().unwrap_or_default()) != "create"
        });
        // The kind the step made or changed, where its words choose one ("an
        // Appointment"); a search's own id is its result set's.
        let kind_chosen = op
            .filter(|o| o.side_effects)
            .and_then(|o| o.compile.as_ref())
            .and_then(|c| c.kind.as_ref())
            .and_then(|k| k.input.as_deref())
            .and_then(|input| contract.input_mapping.get(input))
            .and_then(Value::as_str);
        all_sources.extend(sources::step_sources(
            contract.step,
            contract.integration.as_str(),
            &contract.provider,
            (entity_of.as_deref(), kind_chosen, echoes),
            &contract.output_schema,
        ));
    }
    (all_sources, change_fields_known)
}

/// What a step returns to later steps: the response schema, or `{"type": "null"}` for
/// an operation the provider answers with no body (a reference to it is refused).
fn output_schema(op: &Operation) -> Value {
    if op.empty_response {
        json!({"type": "null"})
    } else {
        op.response_schema.clone()
    }
}

/// Whether the steps after `contract` still make sense with it (their references to its
/// output, and to the trigger's fields when step 1 changed the trigger), and those steps
/// on the new trigger. `None` when `problems` says which would break.
fn later_steps(
    contract: &StepContract,
    earlier: &[StepContract],
    entity: Option<&Vec<(String, FieldType)>>,
    ws: &Workspace,
    index: &index::Index,
    problems: &mut Problems,
) -> Option<Vec<StepContract>> {
    let (step, trigger) = (contract.step, &contract.trigger);
    let entity_name = entity_name(trigger);
    let trigger_changed = step == 1 && ws.trigger.is_some_and(|t| !same_trigger(t, trigger));
    let mut rewritten = Vec::new();
    let later: Vec<&StepContract> = ws.steps.iter().filter(|s| s.step > step).collect();
    if !later.is_empty() {
        let mut with_new: Vec<StepContract> = earlier.to_vec();
        with_new.push(contract.clone());
        let (trigger_srcs, known_fields) = trigger_sources(trigger, entity, ws, index);
        for next in later {
            with_new.retain(|c| c.step != next.step);
            let scope = check::Scope {
                trigger,
                entity_name,
                sources: &trigger_srcs,
                change_fields_known: known_fields,
                step: next.step,
                earlier: &with_new,
            };
            for (at, reference, _) in check::references(&next.input_mapping) {
                if let Ok(r) = reference
                    && let Err(message) = scope.resolve(&r)
                {
                    problems.push(
                        format!("steps.{}.input_mapping.{at}", next.step),
                        format!("step {} would break: {message}", next.step),
                    );
                }
            }
            if trigger_changed {
                let mut updated = next.clone();
                updated.trigger = trigger.clone();
                rewritten.push(updated);
            }
            with_new.push(next.clone());
        }
        if !problems.is_empty() {
            return None;
        }
    }
    Some(rewritten)
}

/// The action's text (the instruction less its trigger clause), its literals, and its
/// words as written (a possessive's "'s" taken off).
fn action_of(
    extracted: &text::Extracted,
    clauses: &text::Clauses,
) -> (String, Vec<text::Literal>, Vec<String>) {
    let mut action_text = String::new();
    for range in &clauses.action {
        action_text.push_str(&extracted.blanked[range.clone()]);
        action_text.push(' ');
    }
    let literals: Vec<text::Literal> = extracted
        .literals
        .iter()
        .filter(|l| {
            clauses
                .trigger
                .as_ref()
                .is_none_or(|t| !t.contains(&l.at.start))
        })
        .map(|l| l.literal.clone())
        .collect();
    let original: Vec<String> = action_text
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '\''))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-' || c == '_'))
        .map(|w| w.strip_suffix("'s").unwrap_or(w).to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    (action_text, literals, original)
}

/// The positions of the action's words written as owners ("the visit's Practitioner"),
/// counted as [`action_of`] counts its words.
fn owner_positions(action_text: &str) -> BTreeSet<usize> {
    action_text
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '\''))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-' || c == '_'))
        .map(|w| (w.strip_suffix("'s").unwrap_or(w), w.ends_with("'s")))
        .filter(|(w, _)| !w.is_empty())
        .enumerate()
        .filter(|(_, (_, owner))| *owner)
        .map(|(i, _)| i)
        .collect()
}

/// What `from_words` reads: the instruction taken apart, the trigger, the project.
struct Words<'a> {
    extracted: &'a text::Extracted,
    clauses: &'a text::Clauses,
    trigger: &'a Trigger,
    ws: &'a Workspace<'a>,
    index: &'a index::Index,
    catalog: &'a crate::catalog::Catalog,
    known: &'a BTreeSet<String>,
    earlier: &'a [StepContract],
    request: &'a CompileRequest,
    sources: &'a [Source],
}

/// The integration, operation and input mapping the action's words ask for: the tools
/// they name, the operation their words fit (refined by the verb), and the inputs
/// filled from the trigger, earlier steps and the words. `None` when `problems` says why
/// not.
fn from_words(
    words: &Words<'_>,
    problems: &mut Problems,
) -> Option<(usize, usize, Map<String, Value>)> {
    let Words {
        extracted,
        clauses,
        trigger,
        ws,
        index,
        catalog,
        known,
        earlier,
        request,
        sources: all_sources,
    } = *words;
    let (action_text, literals, original) = action_of(extracted, clauses);
    let plain: Vec<String> = original.iter().map(|w| w.to_lowercase()).collect();
    let mut mentions = refs::mentions(&plain, &original, ws.integrations, index, known);
    // "into the document created earlier", no integration named: the step before's.
    if mentions.is_empty()
        && mentions.unknown.is_empty()
        && let Some(i) = action::pointed_back(&plain, earlier, ws.integrations)
    {
        mentions.integrations.push((i, usize::MAX));
    }
    // What "it" and "them" refer to: the changed entity, or the studio entity
    // ("when a referral comes in, create it in clinic-api" asks for a referral).
    let referent: Vec<String> = match &trigger {
        Trigger::DataChange { entity_type, .. } => vec![entity_type.replace('_', " ")],
        Trigger::Entity { entity, .. } => vec![text::name_words(entity).join(" ")],
    };
    // Words the request says itself (names left out), for telling a provider cannot
    // do something; and the words to match operations on (with the ordinary nouns of
    // names: "the clinic calendar" asks for a calendar).
    let mut said = resolve::op_words(&plain, &mentions, index, false);
    let field_names: Vec<&str> = all_sources.iter().map(|s| s.name.as_str()).collect();
    action::drop_field_words(&mut said, &action_text, &field_names);
    let mut op_words = resolve::with_referent(
        &resolve::op_words(&plain, &mentions, index, true),
        &plain,
        &referent,
    );
    action::adjust_op_words(&mut op_words, &plain, &literals);
    if let Some(name) = request.entity.as_ref().map(|e| e.name.as_str()) {
        action::drop_owner_name(&mut op_words, &action_text, name);
    }
    // Integrations whose results the words may name rather than ask to act: earlier
    // steps', and the one whose data change starts the workflow ("create the same
    // contact in Intercom using the HubSpot contact's email").
    let changed = match &trigger {
        Trigger::DataChange { integration, .. } => Some(integration.to_string()),
        Trigger::Entity { .. } => None,
    };
    let earlier_names: Vec<String> = earlier
        .iter()
        .map(|c| c.integration.to_string())
        .chain(changed)
        .collect();
    // The words that say what to do, without the tools' names ("could hubspot
    // delete that contact" leads with "delete"); a name's ordinary noun after the verb
    // stays ("create a new Slack channel" makes a channel).
    let lexicon = crate::lexicon::lexicon();
    let mut verb_words: Vec<String> = Vec::with_capacity(plain.len());
    for (i, w) in plain.iter().enumerate() {
        if !mentions.name_positions.contains(&i)
            || (!verb_words.is_empty() && lexicon.is_generic_name_word(w))
        {
            verb_words.push(w.clone());
        }
    }
    let asked = resolve::Asked {
        text: &op_words,
        said: &said,
        mentions: &mentions,
        earlier: &earlier_names,
        action: action::leading_action(&verb_words, &op_words),
    };
    let mut resolved = resolve::resolve(&asked, ws.integrations, index, catalog, problems)?;
    let chosen = &ws.integrations[resolved.integration];
    let refined = action::refine(
        chosen,
        resolved.op,
        &plain,
        &verb_words,
        earlier,
        ws.integrations,
    );
    resolved.op = refined
        .map_err(|(field, message)| problems.push(field, message))
        .ok()?;
    let action = Action {
        owners: owner_positions(&action_text),
        text: action_text,
        words: plain,
        literals,
    };
    let plan = plan_for(
        &ws.integrations[resolved.integration],
        resolved.op,
        trigger,
        all_sources,
        &action,
        &original,
        ws.integrations,
    );
    let (m, p) = mapping::generate(&plan);
    problems.extend(p);
    Some((resolved.integration, resolved.op, m))
}

/// A tool the words name that is neither the project's nor a catalog provider's.
fn unknown_tool(
    text: &str,
    integrations: &[ProjectIntegration],
    index: &index::Index,
    known: &BTreeSet<String>,
) -> Option<String> {
    let original: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '\''))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let plain: Vec<String> = original.iter().map(|w| w.to_lowercase()).collect();
    let mentions = refs::mentions(&plain, &original, integrations, index, known);
    if !mentions.integrations.is_empty() {
        return None;
    }
    mentions.unknown.first().cloned()
}

pub(super) fn op_list(provider: &Provider) -> String {
    provider
        .operations
        .iter()
        .map(|o| format!("{} ({})", o.id, o.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plan_for<'a>(
    integration: &'a ProjectIntegration,
    op: usize,
    trigger: &'a Trigger,
    sources: &'a [Source],
    action: &'a Action,
    original: &'a [String],
    integrations: &[ProjectIntegration],
) -> Plan<'a> {
    let provider = integration.adapter();
    Plan {
        integration,
        provider,
        op: &provider.operations[op],
        trigger,
        sources,
        action,
        original,
        label: trigger::label(trigger, integrations),
    }
}

/// Entity fields checked: identifiers and known types.
fn check_entity(spec: &EntitySpec, problems: &mut Problems) -> Option<Vec<(String, FieldType)>> {
    let mut ok = true;
    let name = spec.name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        problems.push(
            "entity.name",
            "use 1 to 64 letters, digits, - and _ (e.g. IntakeForm)",
        );
        ok = false;
    }
    if spec.fields.len() > MAX_ENTITY_FIELDS {
        problems.push(
            "entity.fields",
            format!("at most {MAX_ENTITY_FIELDS} fields"),
        );
        ok = false;
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (field, raw) in &spec.fields {
        let valid_name = !field.is_empty()
            && field.len() <= 64
            && field
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            problems.push(
                format!("entity.fields.{field}"),
                "field names use letters, digits and _ and start with a letter",
            );
            ok = false;
            continue;
        }
        if !seen.insert(field.clone()) {
            problems.push(format!("entity.fields.{field}"), "declared twice");
            ok = false;
        }
        match FieldType::parse(raw) {
            Some(t) => out.push((field.clone(), t)),
            None => {
                problems.push(
                    format!("entity.fields.{field}"),
                    format!("unknown type {raw:?}; use one of {FIELD_TYPES}"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Words that belong to the request's own vocabulary: never read as a misspelled name.
fn known_words(entity: Option<&Vec<(String, FieldType)>>, name: Option<&str>) -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    for (field, _) in entity.into_iter().flatten() {
        known.extend(text::name_words(field));
    }
    if let Some(name) = name {
        known.extend(text::name_words(name));
    }
    known
}

fn structured_trigger(
    raw: &Value,
    integrations: &[ProjectIntegration],
    index: &index::Index,
    problems: &mut Problems,
) -> Option<trigger::ParsedTrigger> {
    let parsed: Trigger = match serde_json::from_value(raw.clone()) {
        Ok(t) => t,
        Err(e) => {
            problems.push(
                "trigger",
                format!(
                    "{e}; a trigger is {{\"kind\": \"entity\", \"entity\", \"event\"}} or {{\"kind\": \"data_change\", \"integration\", \"entity_type\", \"change\", \"conditions\"}}"
                ),
            );
            return None;
        }
    };
    match &parsed {
        Trigger::Entity { entity, event } => {
            if entity.trim().is_empty() || event.trim().is_empty() {
                problems.push("trigger", "an entity trigger names its entity and event");
                return None;
            }
            Some(trigger::ParsedTrigger { trigger: parsed })
        }
        Trigger::DataChange {
            integration,
            entity_type,
            change,
            ..
        } => {
            let Some(i) = integrations.iter().position(|x| x.name == *integration) else {
                problems.push(
                    "trigger.integration",
                    format!(
                        "the project has no integration named {integration}; closest: {}",
                        refs::closest(integration.as_str(), integrations).join(", ")
                    ),
                );
                return None;
            };
            let entities = index
                .webhooks
                .get(&integrations[i].provider)
                .map(Vec::as_slice)
                .unwrap_or_default();
            match entities.iter().find(|e| e.entity_type == *entity_type) {
                None if entities.is_empty() => {
                    problems.push(
                        "trigger.integration",
                        format!("{integration} reports no data changes (no webhooks)"),
                    );
                    None
                }
                None => {
                    problems.push(
                        "trigger.entity_type",
                        format!(
                            "{integration} reports no {entity_type}; it reports {}",
                            entities
                                .iter()
                                .map(|e| e.entity_type.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    None
                }
                Some(e) if !e.supports(*change) => {
                    problems.push(
                        "trigger.change",
                        format!(
                            "{integration} reports {entity_type} {}, not {}",
                            e.changes.iter().copied().collect::<Vec<_>>().join(" or "),
                            change.as_str()
                        ),
                    );
                    None
                }
                Some(_) => Some(trigger::ParsedTrigger { trigger: parsed }),
            }
        }
    }
}

fn same_trigger(a: &Trigger, b: &Trigger) -> bool {
    a == b
}

fn describe_trigger(t: &Trigger) -> String {
    match t {
        Trigger::Entity { entity, event } => format!("{entity} {event}"),
        Trigger::DataChange {
            integration,
            entity_type,
            change,
            ..
        } => {
            format!("{integration} {entity_type} {}", change.as_str())
        }
    }
}

/// The trigger's fields as sources, and whether a change's fields are known.
fn trigger_sources(
    trigger: &Trigger,
    entity: Option<&Vec<(String, FieldType)>>,
    ws: &Workspace,
    index: &index::Index,
) -> (Vec<Source>, bool) {
    match trigger {
        Trigger::Entity { entity: name, .. } => {
            let fields: Vec<(String, FieldType)> = match entity {
                Some(fields) => fields.clone(),
                // Later steps: the fields step 1's input schema recorded.
                None => ws
                    .steps
                    .iter()
                    .find(|s| matches!(&s.trigger, Trigger::Entity { entity: e, .. } if e == name))
                    .and_then(|s| s.input_schema.get("properties").and_then(Value::as_object))
                    .map(|props| {
                        props
                            .iter()
                            .filter_map(|(k, v)| FieldType::from_schema(v).map(|t| (k.clone(), t)))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let sources = fields
                .iter()
                .map(|(f, t)| Source::new(format!("entity.{f}"), f, t.kind(), Origin::Entity))
                .collect();
            (sources, true)
        }
        Trigger::DataChange {
            integration,
            entity_type,
            ..
        } => {
            let mut out = vec![{
                let mut s = Source::new(
                    "change.entity_id".into(),
                    "entity_id",
                    schema::Kind::String(None),
                    Origin::Change,
                );
                s.role = Role::Id(text::squash(entity_type));
                s
            }];
            let provider = ws
                .integrations
                .iter()
                .find(|i| i.name == *integration)
                .map(|i| i.provider.clone());
            let known = provider
                .and_then(|p| index.webhooks.get(&p))
                .and_then(|entities| entities.iter().find(|e| e.entity_type == *entity_type));
            if let Some(fields) = entity {
                out.extend(fields.iter().map(|(f, t)| {
                    Source::new(format!("change.after.{f}"), f, t.kind(), Origin::Change)
                }));
            }
            let mut fields_known = entity.is_some();
            if let Some(known) = known {
                if !known.fields.is_empty() {
                    fields_known = true;
                }
                for s in known.sources() {
                    if !out.iter().any(|o| o.reference == s.reference) {
                        out.push(s);
                    }
                }
            }
            (out, fields_known)
        }
    }
}

/// The schema of the trigger payload the mapping reads: the entity's fields (those a
/// required input takes whole are required), or the change's shape.
fn input_schema(
    trigger: &Trigger,
    sources: &[Source],
    mapping: &Map<String, Value>,
    op: &Operation,
) -> Value {
    let root = &op.input_schema;
    // Whether every step of the path is required (an array item counts when the array
    // needs at least one).
    let path_required = |at: &str| -> bool {
        let mut current = schema::resolve(root, root);
        for part in at.split('.') {
            if part.parse::<usize>().is_ok() {
                let min = current.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                match current.get("items") {
                    Some(items) if min >= 1 => current = schema::resolve(root, items),
                    _ => return false,
                }
            } else {
                if !schema::required(current).iter().any(|r| r == part) {
                    return false;
                }
                match schema::property(root, current, part) {
                    Some(p) => current = schema::resolve(root, p),
                    None => return false,
                }
            }
        }
        true
    };
    let mut required: Vec<String> = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for (at, reference, whole) in check::references(mapping) {
        let Ok(reference) = reference else { continue };
        let key = match &reference {
            Reference::Entity(f) => f.split('.').next().unwrap_or_default().to_owned(),
            Reference::Change { path, .. } => path.split('.').next().unwrap_or_default().to_owned(),
            Reference::ChangeId => "entity_id".to_owned(),
            Reference::Step { .. } => continue,
        };
        used.insert(key.clone());
        if whole && path_required(&at) && !required.contains(&key) {
            required.push(key);
        }
    }
    match trigger {
        Trigger::Entity { .. } => {
            let properties: Map<String, Value> = sources
                .iter()
                .filter(|s| s.origin == Origin::Entity)
                .map(|s| {
                    let t = kind_to_field_type(&s.kind);
                    (
                        s.name.clone(),
                        t.map(FieldType::schema).unwrap_or_else(|| json!({})),
                    )
                })
                .collect();
            json!({"type": "object", "required": required, "properties": properties})
        }
        Trigger::DataChange { .. } => {
            let after: Map<String, Value> = sources
                .iter()
                .filter(|s| {
                    s.origin == Origin::Change
                        && s.reference.starts_with("change.after.")
                        && !s.name.contains('.')
                })
                .filter(|s| used.contains(&s.name))
                .map(|s| (s.name.clone(), json!({"type": kind_type_name(&s.kind)})))
                .collect();
            let after_required: Vec<&String> =
                required.iter().filter(|r| *r != "entity_id").collect();
            let mut top_required = vec!["entity_id"];
            if !after_required.is_empty() {
                top_required.push("after");
            }
            json!({"type": "object", "required": top_required, "properties": {
                "entity_id": {"type": "string"},
                "after": {"type": "object", "required": after_required, "properties": after},
                "before": {"type": "object"}
            }})
        }
    }
}

fn kind_to_field_type(kind: &schema::Kind) -> Option<FieldType> {
    use schema::Kind;
    Some(match kind {
        Kind::String(None) => FieldType::String,
        Kind::String(Some(f)) => match f.as_str() {
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            "date-time" => FieldType::Datetime,
            "date" => FieldType::Date,
            "uri" => FieldType::Url,
            _ => FieldType::String,
        },
        Kind::Integer => FieldType::Integer,
        Kind::Number => FieldType::Number,
        Kind::Boolean => FieldType::Boolean,
        _ => return None,
    })
}

fn kind_type_name(kind: &schema::Kind) -> &'static str {
    use schema::Kind;
    match kind {
        Kind::String(_) => "string",
        Kind::Integer => "integer",
        Kind::Number => "number",
        Kind::Boolean => "boolean",
        Kind::Object { .. } => "object",
        Kind::Array => "array",
        Kind::Any => "string",
    }
}

/// The dependency edges of a contract: the integration it calls (outbound) and, for
/// step 1 of a workflow started by a data change, the integration it watches.
pub fn edges(contract: &StepContract) -> Vec<DependencyEdge> {
    let mut out = vec![DependencyEdge {
        integration: contract.integration.clone(),
        workflow: contract.workflow.clone(),
        step: contract.step,
        operation: contract.operation.clone(),
        outbound: contract.outbound,
        integration_created_at: contract.integration_created_at,
    }];
    if let (
        1,
        Trigger::DataChange {
            integration,
            entity_type,
            change,
            ..
        },
    ) = (contract.step, &contract.trigger)
        && *integration != contract.integration
    {
        out.push(DependencyEdge {
            integration: integration.clone(),
            workflow: contract.workflow.clone(),
            step: 1,
            operation: format!("trigger:{entity_type}.{}", change.as_str()).into(),
            outbound: false,
            integration_created_at: None,
        });
    }
    out
}

/// The subscription a workflow's data-change trigger needs, if it has one.
pub fn subscription(workflow: &WorkflowId, trigger: &Trigger) -> Option<TriggerSubscription> {
    match trigger {
        Trigger::DataChange {
            integration,
            entity_type,
            change,
            conditions,
        } => Some(TriggerSubscription {
            workflow: workflow.clone(),
            integration: integration.clone(),
            entity_type: entity_type.clone(),
            change: *change,
            conditions: conditions.clone(),
        }),
        Trigger::Entity { .. } => None,
    }
}

/// Later steps that map this step's output (`{{steps.n.output...}}`).
pub fn steps_using(step: u32, contracts: &[StepContract]) -> Vec<u32> {
    contracts
        .iter()
        .filter(|c| c.step != step)
        .filter(|c| {
            check::references(&c.input_mapping)
                .into_iter()
                .any(|(_, r, _)| matches!(r, Ok(Reference::Step { step: s, .. }) if s == step))
        })
        .map(|c| c.step)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Change;

    fn integrations() -> Vec<ProjectIntegration> {
        let config = |v: Value| v.as_object().cloned().unwrap_or_default();
        vec![
            ProjectIntegration::new(
                "clinic-mail",
                "postmark",
                config(json!({"from_address": "clinic@example.com"})),
            )
            .expect("postmark"),
            ProjectIntegration::new(
                "clinic-sms",
                "twilio",
                config(json!({"from_number": "+15005550006"})),
            )
            .expect("twilio"),
            ProjectIntegration::new("linear", "linear", Map::new()).expect("linear"),
            ProjectIntegration::new(
                "slack",
                "slack",
                config(json!({"default_channel": "#front-desk"})),
            )
            .expect("slack"),
        ]
    }

    fn request(instruction: &str) -> CompileRequest {
        serde_json::from_value(json!({
            "instruction": instruction,
            "entity": {"name": "IntakeForm", "fields": {"patient_name": "string", "patient_email": "email", "appointment_at": "datetime"}}
        }))
        .expect("request")
    }

    fn compile_one(instruction: &str) -> Result<Compiled, Problems> {
        let list = integrations();
        let workflow = WorkflowId::parse("patient-intake").expect("id");
        compile(
            &request(instruction),
            &Workspace {
                workflow: &workflow,
                integrations: &list,
                trigger: None,
                steps: &[],
            },
        )
    }

    #[test]
    fn the_design_example_compiles_to_the_documented_contract() {
        let compiled = compile_one(
            "When the intake form is submitted, call the Postmark integration to send a confirmation email to the patient.",
        )
        .expect("compiles");
        let c = compiled.contract;
        assert_eq!(c.integration.as_str(), "clinic-mail");
        assert_eq!(c.operation, "send_email");
        assert_eq!(
            c.trigger,
            Trigger::Entity {
                entity: "IntakeForm".into(),
                event: "submitted".into()
            }
        );
        assert_eq!(c.input_mapping["To"], "{{entity.patient_email}}");
        assert!(
            c.input_mapping["TextBody"]
                .as_str()
                .is_some_and(|b| b.contains("{{entity.patient_name}}"))
        );
        assert!(
            c.input_mapping["Subject"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        assert_eq!(c.input_schema["required"], json!(["patient_email"]));
        assert_eq!(
            c.input_schema["properties"]["patient_email"],
            json!({"type": "string", "format": "email"})
        );
        assert!(c.output_schema["properties"]["MessageID"].is_object());
        assert!(c.outbound);
    }

    #[test]
    fn a_data_change_trigger_watches_the_named_integration_with_its_condition() {
        let list = integrations();
        let workflow = WorkflowId::parse("done-issues").expect("id");
        let req: CompileRequest = serde_json::from_value(
            json!({"instruction": "When a Linear issue moves to Done, post a message in Slack"}),
        )
        .expect("request");
        let compiled = compile(
            &req,
            &Workspace {
                workflow: &workflow,
                integrations: &list,
                trigger: None,
                steps: &[],
            },
        )
        .expect("compiles");
        assert_eq!(
            compiled.contract.trigger,
            Trigger::DataChange {
                integration: IntegrationName::parse("linear").expect("name"),
                entity_type: "issue".into(),
                change: Change::Updated,
                conditions: vec![crate::domain::FieldCondition {
                    field: "state.name".into(),
                    equals: json!("Done")
                }],
            }
        );
        assert_eq!(compiled.contract.integration.as_str(), "slack");
        let edges = edges(&compiled.contract);
        assert_eq!(edges.len(), 2);
        assert!(
            edges
                .iter()
                .any(|e| e.integration.as_str() == "linear" && !e.outbound)
        );
    }

    #[test]
    fn a_required_input_no_field_fills_is_refused_with_the_fields_that_could() {
        let problems = compile_one("When the intake form is submitted, text the patient")
            .expect_err("no phone field");
        let to = problems
            .0
            .iter()
            .find(|p| p.field == "input_mapping.To")
            .expect("To is named");
        assert!(
            to.message.contains("{{entity.patient_name}}"),
            "{}",
            to.message
        );
    }

    #[test]
    fn an_operation_the_provider_lacks_lists_what_it_offers() {
        let problems = compile_one("When the intake form is submitted, use clinic-mail to send a text message to the patient")
            .expect_err("postmark sends no texts");
        let op = problems
            .0
            .iter()
            .find(|p| p.field == "operation")
            .expect("operation is named");
        assert!(op.message.contains("send_email"), "{}", op.message);
        assert!(op.message.contains("clinic-sms"), "{}", op.message);
    }
}
