//! Tables built once from the catalog: provider names and nicknames, the words of each
//! operation's phrases weighted by how specific they are across the catalog (inverse
//! document frequency, as in [`crate::describe`]), and what each provider's webhooks
//! can tell: the entity types, the changes, and the fields of a changed entity.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use serde_json::Value;

use super::schema;
use super::sources::{Origin, Source};
use super::text::{content, words};
use crate::catalog::{Catalog, ChangeSource, Operation, Provider, custom};
use crate::domain::{Change, OperationId, ProviderId};

pub struct Alias {
    pub provider: ProviderId,
    pub words: Vec<String>,
    pub joined: String,
}

/// An operation (provider id, operation id) and its phrases' content words.
type OpPhrases = ((ProviderId, OperationId), Vec<Vec<String>>);

pub struct Phrase {
    pub words: Vec<(String, f64)>,
    pub total: f64,
}

/// What a provider's webhooks report about one entity type.
pub struct WebhookEntity {
    pub entity_type: String,
    pub changes: BTreeSet<&'static str>,
    /// Paths of the changed entity's fields and their schemas.
    pub fields: Vec<(String, Value)>,
}

pub struct Index {
    pub aliases: Vec<Alias>,
    pub all_name_words: BTreeSet<String>,
    idf: HashMap<String, f64>,
    max_idf: f64,
    /// Provider id → operation id → its weighted phrases.
    phrases: HashMap<ProviderId, HashMap<OperationId, Vec<Phrase>>>,
    /// Provider id → every content word of its operations' phrases.
    vocabulary: HashMap<ProviderId, BTreeSet<String>>,
    pub webhooks: HashMap<ProviderId, Vec<WebhookEntity>>,
}

fn alias_names(p: &Provider) -> Vec<String> {
    let mut names = p.aliases.clone();
    names.push(p.display_name.clone());
    names.push(p.id.replace('_', " "));
    names
}

fn op_texts(op: &Operation) -> Vec<String> {
    let mut texts = op.phrases.clone();
    texts.push(op.name.clone());
    texts
}

impl Index {
    /// A misspelt word of five letters or more as the operations' word it is one edit
    /// from ("emial" → "email"); a word the phrases know, or near none, is kept.
    pub fn spelled(&self, word: &str) -> String {
        if word.len() < 5 || self.idf.contains_key(word) {
            return word.to_owned();
        }
        let mut near = self
            .idf
            .keys()
            .filter(|k| k.len().abs_diff(word.len()) <= 1 && k.len() >= 5)
            .filter(|k| k.as_bytes().first() == word.as_bytes().first())
            .filter(|k| strsim::damerau_levenshtein(k, word) == 1);
        match (near.next(), near.next()) {
            (Some(only), None) => only.clone(),
            _ => word.to_owned(),
        }
    }

    fn build(catalog: &Catalog) -> Self {
        let mut aliases = Vec::new();
        let mut name_words_of: HashMap<ProviderId, BTreeSet<String>> = HashMap::new();
        for p in catalog.providers() {
            let mut own = BTreeSet::new();
            for name in alias_names(p) {
                let w = words(&name);
                if w.is_empty() {
                    continue;
                }
                // Single-word names are names ("postmark", "gcal"); the words of a
                // split name ("post mark", "send grid") are ordinary words on their own.
                let single =
                    w.len() == 1 || name == p.display_name || name == p.id.replace('_', " ");
                for word in w.iter().filter(|_| single) {
                    if !crate::lexicon::lexicon().is_generic_name_word(word) && word.len() > 1 {
                        own.insert(word.clone());
                    }
                }
                let joined = w
                    .iter()
                    .filter(|x| !x.contains('-'))
                    .cloned()
                    .collect::<String>();
                aliases.push(Alias {
                    provider: p.id.clone(),
                    words: w,
                    joined,
                });
            }
            name_words_of.insert(p.id.clone(), own);
        }
        let all_name_words: BTreeSet<String> = name_words_of.values().flatten().cloned().collect();

        // Inverse document frequency over operations: a word in every provider's phrases
        // ("send") says little about which operation is meant; "refund" says a lot.
        let mut document_frequency: HashMap<String, usize> = HashMap::new();
        let mut documents = 0usize;
        let mut raw: Vec<OpPhrases> = Vec::new();
        for p in catalog.providers() {
            let own = &name_words_of[&p.id];
            for op in &p.operations {
                documents += 1;
                let mut vocabulary = BTreeSet::new();
                let mut phrases = Vec::new();
                for text in op_texts(op) {
                    let w: Vec<String> = content(&words(&text))
                        .into_iter()
                        .filter(|w| !own.contains(w))
                        .collect();
                    if w.is_empty() {
                        continue;
                    }
                    vocabulary.extend(w.iter().cloned());
                    phrases.push(w);
                }
                for word in vocabulary {
                    *document_frequency.entry(word).or_default() += 1;
                }
                raw.push(((p.id.clone(), op.id.clone()), phrases));
            }
        }
        let n = documents.max(1) as f64;
        let idf: HashMap<String, f64> = document_frequency
            .into_iter()
            .map(|(w, df)| (w, (1.0 + n / df as f64).ln()))
            .collect();
        let max_idf = (1.0 + n).ln();
        let mut index = Self {
            aliases,
            all_name_words,
            idf,
            max_idf,
            phrases: HashMap::new(),
            vocabulary: HashMap::new(),
            webhooks: HashMap::new(),
        };
        for (key, phrases) in raw {
            index
                .vocabulary
                .entry(key.0.clone())
                .or_default()
                .extend(phrases.iter().flatten().cloned());
            let weighted = phrases.into_iter().map(|w| index.weigh(w)).collect();
            index
                .phrases
                .entry(key.0)
                .or_default()
                .insert(key.1, weighted);
        }
        for p in catalog.providers() {
            index.webhooks.insert(p.id.clone(), webhook_entities(p));
        }
        index
    }

    fn weigh(&self, words: Vec<String>) -> Phrase {
        let words: Vec<(String, f64)> = words
            .into_iter()
            .map(|w| {
                let weight = self.idf.get(&w).copied().unwrap_or(self.max_idf);
                (w, weight)
            })
            .collect();
        let total = words.iter().map(|(_, w)| w).sum();
        Phrase { words, total }
    }

    /// The words a provider's operations are asked for with (Custom HTTP: its endpoint names).
    pub fn vocabulary<'a>(&'a self, provider: &Provider) -> Cow<'a, BTreeSet<String>> {
        if provider.id == custom::ID {
            // A declared endpoint says what it does by its name and its fields' names
            // ("create referral" with patient_name, doctor_name).
            return Cow::Owned(
                provider
                    .operations
                    .iter()
                    .flat_map(|op| {
                        let fields = op
                            .input_schema
                            .get("properties")
                            .and_then(Value::as_object)
                            .map(|p| p.keys().map(|k| k.replace('_', " ")).collect::<Vec<_>>())
                            .unwrap_or_default();
                        std::iter::once(op.name.replace('_', " "))
                            .chain(fields)
                            .flat_map(|t| content(&words(&t)))
                            .collect::<Vec<_>>()
                    })
                    .collect(),
            );
        }
        match self.vocabulary.get(&provider.id) {
            Some(v) => Cow::Borrowed(v),
            None => Cow::Owned(BTreeSet::new()),
        }
    }

    /// How well the text's content words ask for an operation: (score in 0..1, the
    /// weight of the words matched).
    pub fn score(
        &self,
        provider: &Provider,
        op: &Operation,
        text: &BTreeSet<String>,
    ) -> (f64, f64) {
        let (score, matched, _) = self.score_words(provider, op, text);
        (score, matched)
    }

    /// As [`Index::score`], with how many words of the best phrase matched.
    pub fn score_words(
        &self,
        provider: &Provider,
        op: &Operation,
        text: &BTreeSet<String>,
    ) -> (f64, f64, usize) {
        // An operation only the runtime calls (a named target's lookup, without
        // phrases of its own) is never what the words ask for.
        if op.phrases.is_empty() && provider.lookups.values().any(|l| l.operation == op.id) {
            return (0.0, 0.0, 0);
        }
        let computed;
        let stored = self
            .phrases
            .get(&provider.id)
            .and_then(|ops| ops.get(&op.id));
        let phrases = match stored {
            Some(p) if provider.id != custom::ID => p,
            _ => {
                // Custom HTTP endpoints: their name is their phrase ("create referral").
                computed = op_texts(op)
                    .iter()
                    .map(|t| self.weigh(content(&words(&t.replace('_', " ")))))
                    .collect::<Vec<_>>();
                &computed
            }
        };
        let mut best = (0.0, 0.0, 0);
        for phrase in phrases {
            if phrase.total <= 0.0 {
                continue;
            }
            let matched: f64 = phrase
                .words
                .iter()
                .filter(|(w, _)| text.contains(w))
                .map(|(_, weight)| weight)
                .sum();
            if matched <= 0.0 {
                continue;
            }
            let coverage = matched / phrase.total;
            let strength = (matched / 2.5).min(1.0);
            let score = coverage * (0.5 + 0.5 * strength);
            if score > best.0 || (score == best.0 && matched > best.1) {
                let count = phrase
                    .words
                    .iter()
                    .filter(|(w, _)| text.contains(w))
                    .count();
                best = (score, matched, count);
            }
        }
        best
    }
}

fn change_names(change: &ChangeSource) -> Vec<&'static str> {
    match change {
        ChangeSource::Fixed(change) => vec![change.as_str()],
        // The event says which (Linear's create, update, remove).
        ChangeSource::FromPayload { .. } => vec!["created", "updated", "deleted"],
    }
}

fn webhook_entities(p: &Provider) -> Vec<WebhookEntity> {
    let Some(hooks) = &p.webhooks else {
        return Vec::new();
    };
    let mut out: Vec<WebhookEntity> = Vec::new();
    let sample = match (&hooks.sample_event, hooks.batch) {
        (Some(Value::Array(items)), true) => items.first(),
        (sample, _) => sample.as_ref(),
    };
    let sample_type = sample.and_then(|s| {
        hooks
            .event_type
            .as_ref()
            .and_then(|pointer| s.pointer(pointer))
            .and_then(Value::as_str)
    });
    for mapping in &hooks.entities {
        let position = out
            .iter()
            .position(|e| e.entity_type == mapping.entity_type);
        let entry = match position {
            Some(i) => &mut out[i],
            None => {
                out.push(WebhookEntity {
                    entity_type: mapping.entity_type.clone(),
                    changes: BTreeSet::new(),
                    fields: Vec::new(),
                });
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        entry.changes.extend(change_names(&mapping.change));
        // The state's declared schema (Linear's comments).
        if let Some(root) = &mapping.state_schema {
            for (path, s) in schema::flatten(root, root, 2) {
                add_field(&mut entry.fields, path, schema::resolve(root, s).clone());
            }
        }
        // The sample event's state, when the sample is of this mapping.
        if let (Some(sample), Some(t)) = (sample, sample_type)
            && mapping.event_types.iter().any(|e| e == t)
            && let Some(Value::Object(state)) = sample.pointer(&mapping.state)
        {
            for (name, value) in state.iter().filter(|(_, v)| !v.is_null()) {
                add_field(&mut entry.fields, name.clone(), sample_schema(value));
                if let Value::Object(inner) = value {
                    for (sub, v) in inner.iter().filter(|(_, v)| !v.is_null()) {
                        add_field(&mut entry.fields, format!("{name}.{sub}"), sample_schema(v));
                    }
                }
            }
        }
    }
    // The response of the operations acting on the same entity: the entity's fields.
    // They come first: a declared schema says more than a sample value does.
    for entry in &mut out {
        let mut declared = Vec::new();
        for op in p
            .operations
            .iter()
            .filter(|o| o.entity.as_deref() == Some(&entry.entity_type))
        {
            let root = &op.response_schema;
            for (path, s) in schema::flatten(root, root, 2) {
                add_field(&mut declared, path, schema::resolve(root, s).clone());
            }
        }
        for (path, s) in std::mem::take(&mut entry.fields) {
            add_field(&mut declared, path, s);
        }
        entry.fields = declared;
    }
    out
}

fn add_field(fields: &mut Vec<(String, Value)>, path: String, schema: Value) {
    if !fields.iter().any(|(p, _)| *p == path) {
        fields.push((path, schema));
    }
}

/// A schema describing a sample value's type (the webhook samples are data, not schemas).
fn sample_schema(value: &Value) -> Value {
    match value {
        Value::Null => serde_json::json!({}),
        Value::Object(map) => {
            serde_json::json!({"type": "object", "properties": map.iter().map(|(k, v)| (k.clone(), sample_schema(v))).collect::<serde_json::Map<String, Value>>()})
        }
        other => serde_json::json!({"type": schema::json_type(other)}),
    }
}

/// The index over the embedded catalog, built once.
pub fn index() -> Result<&'static Index, crate::catalog::CatalogError> {
    static INDEX: OnceLock<Index> = OnceLock::new();
    let catalog = crate::catalog::catalog()?;
    Ok(INDEX.get_or_init(|| Index::build(catalog)))
}

impl WebhookEntity {
    pub fn supports(&self, change: Change) -> bool {
        self.changes.contains(change.as_str())
    }

    /// The changed entity's fields as sources (`{{change.after.x}}`).
    pub fn sources(&self) -> Vec<Source> {
        self.fields
            .iter()
            .map(|(path, s)| {
                Source::new(
                    format!("change.after.{path}"),
                    path,
                    schema::kind(s, s),
                    Origin::Change,
                )
            })
            .collect()
    }
}

/// Words people use for webhook entity types (the lexicon's).
pub fn entity_synonyms(entity_type: &str) -> &'static [String] {
    crate::lexicon::lexicon().entity_words(entity_type)
}
