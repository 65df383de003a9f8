//! Robustness: the compiler, describe and the request builder take arbitrary input
//! (words from the product's own vocabulary mixed with any text, any JSON) without a
//! panic, and what they produce stays bounded in size. Case counts are sized for a
//! 2-core CI run; `PROPTEST_CASES=5000` runs deeper.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use shared::catalog::{Provider, catalog};
use shared::compiler::{self, CompileRequest, ProjectIntegration, Workspace};
use shared::domain::WorkflowId;
use shared::runtime::request::{CredentialValues, build_request};

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // No files of failing cases in the repository: the failure prints its input.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Words the compiler and describe look for, and some that break templates.
const WORDS: &[&str] = &[
    "when",
    "the",
    "intake",
    "form",
    "is",
    "submitted",
    "send",
    "an",
    "email",
    "to",
    "patient",
    "with",
    "postmark",
    "sendgrid",
    "mailgun",
    "slack",
    "post",
    "message",
    "in",
    "#general",
    "create",
    "a",
    "hubspot",
    "contact",
    "deal",
    "linear",
    "issue",
    "moves",
    "done",
    "stripe",
    "customer",
    "charge",
    "refund",
    "notion",
    "page",
    "database",
    "google",
    "sheets",
    "row",
    "calendar",
    "event",
    "docs",
    "document",
    "twilio",
    "text",
    "sms",
    "call",
    "intercom",
    "salesforce",
    "record",
    "fhir",
    "encounter",
    "clinic-mail",
    "{{",
    "}}",
    "{{entity.",
    "{{steps.1.output.",
    "entity",
    "steps",
    "then",
    "after",
    "every",
    "time",
    "from",
    "previous",
    "step",
    "named",
    "\"",
    "'",
    "\\",
    "\u{0}",
    "\u{202e}",
    "é",
    "🙂",
    "https://api.example.com/v1",
    "@",
    "+15551234567",
    "ada@example.com",
    "2026-12-08",
    "$",
    "%",
    "::",
    "#",
];

fn sentence() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        4 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => "\\PC{0,16}",
    ];
    prop::collection::vec(word, 0..48).prop_map(|w| w.join(" "))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        sentence().prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(WORDS).prop_map(str::to_owned),
                    "[a-zA-Z_]{1,12}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A config a user would give: each field's example, or its default.
fn example_config(provider: &Provider) -> Map<String, Value> {
    provider
        .config
        .iter()
        .filter_map(|f| {
            let value = f.example.clone().or_else(|| f.default.clone())?;
            Some((f.name.clone(), Value::from(value)))
        })
        .collect()
}

/// One integration per catalog provider, named after it.
fn integrations() -> Vec<ProjectIntegration> {
    catalog()
        .expect("catalog")
        .providers()
        .filter_map(|p| {
            let name = p.id.as_str().replace('_', "-");
            ProjectIntegration::new(&name, p.id.as_str(), example_config(p)).ok()
        })
        .collect()
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn describe_answers_any_text(text in sentence()) {
        let described = shared::describe::describe(&text).expect("catalog loads");
        let size = serde_json::to_vec(&described).map(|b| b.len()).unwrap_or(0);
        prop_assert!(size < 256 * 1024, "{size} bytes for {} characters", text.len());
    }

    #[test]
    fn the_compiler_answers_any_sentence_with_a_contract_or_problems(
        text in sentence(),
        fields in prop::collection::btree_map("[a-z_]{1,12}", prop::sample::select(&["string", "email", "number", "datetime", "phone", "boolean"][..]), 0..6),
    ) {
        let integrations = integrations();
        let workflow = WorkflowId::parse("w").expect("id");
        let ws = Workspace { workflow: &workflow, integrations: &integrations, trigger: None, steps: &[] };
        let request: CompileRequest = serde_json::from_value(json!({
            "instruction": text,
            "entity": {"name": "IntakeForm", "fields": fields},
        })).expect("request");
        match compiler::compile(&request, &ws) {
            Ok(compiled) => {
                let size = serde_json::to_vec(&compiled.contract).map(|b| b.len()).unwrap_or(0);
                prop_assert!(size < 1024 * 1024, "a {size}-byte contract");
            }
            Err(problems) => prop_assert!(!problems.0.is_empty(), "a refusal says why"),
        }
    }

    #[test]
    fn the_compiler_answers_any_structured_request(
        pick in any::<prop::sample::Index>(),
        mapping in json_value(),
        trigger in json_value(),
    ) {
        let integrations = integrations();
        let integration = pick.get(&integrations);
        let op = integration_ops(integration);
        let workflow = WorkflowId::parse("w").expect("id");
        let ws = Workspace { workflow: &workflow, integrations: &integrations, trigger: None, steps: &[] };
        let request = serde_json::from_value::<CompileRequest>(json!({
            "integration": integration.name, "operation": op,
            "input_mapping": mapping, "trigger": trigger,
        }));
        // A body that does not deserialize is the API's 422; one that does gets an answer.
        if let Ok(request) = request {
            let _ = compiler::compile(&request, &ws);
        }
    }

    #[test]
    fn the_request_builder_answers_any_input(
        pick in any::<prop::sample::Index>(),
        op in any::<prop::sample::Index>(),
        input in json_value(),
    ) {
        let providers: Vec<&Provider> = catalog().expect("catalog").providers().collect();
        let provider = pick.get(&providers);
        let operation = op.get(&provider.operations);
        let config = example_config(provider);
        let input_size = serde_json::to_vec(&input).map(|b| b.len()).unwrap_or(0);
        if let Ok(request) = build_request(provider, operation, &input, &config, CredentialValues::Masked, Some("key-1")) {
            let size = request.url.len() + request.body.len()
                + request.headers.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
            // Encoding at most triples a byte (percent-encoding), plus the template.
            prop_assert!(size <= 3 * input_size + 64 * 1024, "{size} bytes from {input_size}");
        }
    }
}

/// The id of one of the integration's operations (the first).
fn integration_ops(integration: &ProjectIntegration) -> String {
    integration
        .adapter()
        .operations
        .first()
        .map(|o| o.id.to_string())
        .unwrap_or_default()
}
