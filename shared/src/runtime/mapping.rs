//! Renders a contract's input mapping against a run's context.
//!
//! Templates (see [`crate::domain::StepContract`]): `{{entity.x}}`, `{{change.after.x}}`,
//! `{{steps.1.output.MessageID}}`. A string that is exactly one template takes the
//! referenced value with its JSON type, and is left out when there is none (so the
//! input schema names a missing required field); otherwise templates are interpolated
//! as text, an absent value as the empty string. `{{{{` is a literal `{{` (so a
//! document's own `{{clinic_name}}` placeholder is written `{{{{clinic_name}}`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::catalog::Quoting;

/// The escape of a literal `{{` in a mapping's text.
pub const LITERAL_BRACES: &str = "{{{{";

/// A piece of a mapping's text: literal text, or a template's inner text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text as it is sent (an escaped `{{` already unescaped).
    Text(Cow<'a, str>),
    /// The inner text of a `{{...}}`, trimmed.
    Template(&'a str),
}

/// A `{{` with no `}}` after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unclosed;

/// Splits text into literal text and templates; `{{{{` is a literal `{{`. The
/// compiler and the renderer share it, so what compiles is what renders.
///
/// # Errors
/// [`Unclosed`] when a `{{` opens a template that no `}}` closes.
pub fn pieces(text: &str) -> Result<Vec<Piece<'_>>, Unclosed> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        literal.push_str(&rest[..start]);
        if rest[start..].starts_with(LITERAL_BRACES) {
            literal.push_str("{{");
            rest = &rest[start + LITERAL_BRACES.len()..];
            continue;
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(Unclosed)?;
        if !literal.is_empty() {
            out.push(Piece::Text(Cow::Owned(std::mem::take(&mut literal))));
        }
        out.push(Piece::Template(after[..end].trim()));
        rest = &after[end + 2..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        out.push(Piece::Text(Cow::Owned(literal)));
    }
    Ok(out)
}

/// The one template a text is, when it is nothing else (spaces aside).
pub fn whole_template(text: &str) -> Option<&str> {
    match pieces(text.trim()).ok()?.as_slice() {
        [Piece::Template(inner)] => Some(inner),
        _ => None,
    }
}

/// Looks up a dotted path (`entity.patient_email`, `steps.1.output.items.0.id`).
pub fn lookup<'a>(context: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = context;
    for part in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!current.is_null()).then_some(current)
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Renders one value; `None` means "leave this key out". Values put inside text are
/// quoted with `quoting`, when given.
fn render_value(value: &Value, context: &Value) -> Option<Value> {
    render_quoted_value(value, context, None)
}

fn render_quoted_value(value: &Value, context: &Value, quoting: Option<Quoting>) -> Option<Value> {
    match value {
        Value::String(text) => {
            if let Some(inner) = whole_template(text) {
                return lookup(context, inner).cloned();
            }
            if !text.contains("{{") {
                return Some(value.clone());
            }
            // Text the compiler refused (an unclosed `{{`) is sent as it is.
            let Ok(pieces) = pieces(text) else {
                return Some(value.clone());
            };
            let mut out = String::with_capacity(text.len());
            for piece in pieces {
                match piece {
                    Piece::Text(t) => out.push_str(&t),
                    Piece::Template(path) => {
                        let text = lookup(context, path).map(as_text).unwrap_or_default();
                        match quoting {
                            Some(q) => out.push_str(&q.quote(&text)),
                            None => out.push_str(&text),
                        }
                    }
                }
            }
            Some(Value::String(out))
        }
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(k, v)| {
                    render_quoted_value(v, context, quoting).map(|v| (k.clone(), v))
                })
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(|v| render_quoted_value(v, context, quoting))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// Renders a mapping into the operation's input.
pub fn render(mapping: &Map<String, Value>, context: &Value) -> Map<String, Value> {
    mapping
        .iter()
        .filter_map(|(k, v)| render_value(v, context).map(|v| (k.clone(), v)))
        .collect()
}

/// Renders a mapping into the operation's input, quoting the values templates put
/// inside the statements `quote` names (a SOQL `q`): "Email = '{{entity.email}}'" with
/// the email `x' OR Name != '` stays one string literal. A statement that is one whole
/// template is the value as given: the workflow wrote the statement.
pub fn render_for(
    mapping: &Map<String, Value>,
    context: &Value,
    quote: &BTreeMap<String, Quoting>,
) -> Map<String, Value> {
    mapping
        .iter()
        .filter_map(|(k, v)| {
            render_quoted_value(v, context, quote.get(k).copied()).map(|v| (k.clone(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_templates_keep_types_and_absent_values_leave_keys_out() {
        let context = json!({"entity": {"patient_email": "ada@example.com", "amount": 4200, "name": "Ada"},
                             "steps": {"1": {"output": {"MessageID": "m-1", "items": [{"id": "x"}]}}}});
        let mapping: Map<String, Value> = serde_json::from_value(json!({
            "To": "{{entity.patient_email}}",
            "amount": "{{ entity.amount }}",
            "Subject": "Hello {{entity.name}}, ref {{steps.1.output.MessageID}} {{entity.missing}}!",
            "first": "{{steps.1.output.items.0.id}}",
            "absent": "{{entity.missing}}",
            "nested": {"to": ["{{entity.patient_email}}"], "fixed": true}
        }))
        .expect("map");
        let rendered = Value::Object(render(&mapping, &context));
        assert_eq!(
            rendered,
            json!({"To": "ada@example.com", "amount": 4200, "Subject": "Hello Ada, ref m-1 !", "first": "x",
                   "nested": {"to": ["ada@example.com"], "fixed": true}})
        );
    }

    #[test]
    fn four_braces_are_a_literal_pair_of_braces_not_a_template() {
        let context = json!({"entity": {"name": "Northside Clinic"}});
        let mapping: Map<String, Value> = serde_json::from_value(json!({
            "find": "{{{{clinic_name}}",
            "replace": "{{entity.name}}",
            "mixed": "{{{{clinic_name}} is {{entity.name}}"
        }))
        .expect("map");
        assert_eq!(
            Value::Object(render(&mapping, &context)),
            json!({"find": "{{clinic_name}}", "replace": "Northside Clinic",
                   "mixed": "{{clinic_name}} is Northside Clinic"})
        );
        assert_eq!(whole_template("{{{{a}} {{entity.name}}"), None);
        assert_eq!(whole_template(" {{ entity.name }} "), Some("entity.name"));
    }

    #[test]
    fn values_inside_a_soql_statement_are_quoted_and_cannot_change_it() {
        let context = json!({"entity": {"email": "x' OR Name != '", "path": "a\\b", "q": "SELECT Id FROM Lead"}});
        let mapping: Map<String, Value> = serde_json::from_value(json!({
            "q": "SELECT Id FROM Contact WHERE Email = '{{entity.email}}' AND Dir = '{{entity.path}}'",
            "whole": "{{entity.q}}",
            "other": "'{{entity.email}}'"
        }))
        .expect("map");
        let quote = BTreeMap::from([
            ("q".to_owned(), Quoting::SoqlString),
            ("whole".to_owned(), Quoting::SoqlString),
        ]);
        let rendered = render_for(&mapping, &context, &quote);
        assert_eq!(
            rendered["q"],
            "SELECT Id FROM Contact WHERE Email = 'x\\' OR Name != \\'' AND Dir = 'a\\\\b'"
        );
        assert_eq!(
            rendered["whole"], "SELECT Id FROM Lead",
            "a whole statement is as given"
        );
        assert_eq!(
            rendered["other"], "'x' OR Name != ''",
            "other inputs are not quoted"
        );
    }
}
