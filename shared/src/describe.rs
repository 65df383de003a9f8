//! Plain words to a provider: "Connect to Postmark to send transactional emails" →
//! Postmark, with ranked candidates, a suggested integration name and the exact
//! credential and config fields to ask for.
//!
//! Three signals, from the catalog's own data (no model, no network, microseconds):
//! 1. names: a provider's name or alias appears (also split or joined: "send grid",
//!    "sendgrid"), or a word is a near miss of one (Damerau-Levenshtein, for
//!    "salesfroce", "twillio");
//! 2. capabilities: the words of what people want from a provider ("text our
//!    patients", "take card payments"), weighted by how specific each word is across
//!    the catalog (inverse document frequency), so "patients" counts more than "send";
//! 3. Custom HTTP: the text is about the user's own REST API.
//!
//! A name beats a capability; when nothing scores enough, `provider` is null and the
//! candidates are the closest options with Custom HTTP among them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use serde::Serialize;

use crate::catalog::{Auth, Catalog, Category, Field, Provider, custom};

/// A provider the words may mean, with how sure the match is and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    /// The provider's catalog id (`custom_http` for Custom HTTP).
    pub provider: String,
    /// The provider's name as shown.
    pub display_name: String,
    /// The provider's catalog category, snake_case (`email`, `crm`, `custom`...).
    pub category: String,
    /// How sure the match is, from 0 to 1, rounded to two decimals.
    pub confidence: f64,
    /// Why it is a candidate, in words to show ("\"text our patients\" is what Twilio
    /// does").
    pub reason: String,
}

/// One field the form asks for when adding the integration, with the checks create will
/// make of its value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptField {
    /// The field's key in the credentials or config object.
    pub name: String,
    /// The label to show.
    pub label: String,
    /// Whether the value is a secret (masked on input, never shown again).
    pub secret: bool,
    /// Whether create refuses the integration without it.
    pub required: bool,
    /// The value's format (`email`, `url`, `phone`...), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The allowed values, when the field is a choice (serialized as `enum`).
    #[serde(rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// The value used when none is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// A hint to show under the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Asked only when these config fields have these values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<BTreeMap<String, String>>,
    /// The rules create enforces, so a form can check a value before submitting it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// The fewest characters the value may have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    /// The most characters the value may have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// A regular expression the whole value must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// An example value, never a real secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// The operations that cannot run without this value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needed_for: Vec<String>,
}

/// The exact fields to ask for when adding an integration of a provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prompt {
    /// The secret fields (and for Custom HTTP, those of every auth scheme, each asked
    /// only under its scheme).
    pub credentials: Vec<PromptField>,
    /// The provider's non-secret settings.
    pub config: Vec<PromptField>,
    /// The OAuth scopes the provider's auth requests; empty for other auth modes.
    pub scopes: Vec<String>,
}

/// What describe answers for a text: the provider to connect, if one fits, and how to
/// connect it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Described {
    /// The provider chosen; `None` when nothing in the catalog fits well enough (see
    /// `message`).
    pub provider: Option<String>,
    /// The closest providers, best first, Custom HTTP among them.
    pub candidates: Vec<Candidate>,
    /// A name for the new integration (one the text gives, "called clinic-mail", or the
    /// provider's id); `None` with no provider.
    pub suggested_name: Option<String>,
    /// The fields to ask for the chosen provider; `None` with no provider.
    pub prompt: Option<Prompt>,
    /// Said plainly when the catalog has nothing for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Config values read from the words (Custom HTTP's `base_url` from a URL or host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_config: Option<BTreeMap<String, String>>,
}

/// Below this, a capability match is not trusted to pick a provider.
const PICK_THRESHOLD: f64 = 0.34;
const MAX_CANDIDATES: usize = 5;
const MAX_TEXT_CHARS: usize = 2000;

fn is_stop_word(word: &str) -> bool {
    crate::lexicon::lexicon().is_describe_stop_word(word)
}

fn stem(word: &str) -> String {
    crate::lexicon::lexicon().stem(word)
}

/// Lowercase words, punctuation dropped.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .flat_map(|w| {
            let w = w.trim_matches(|c| c == '\'' || c == '-');
            // Hyphenated words count whole and in parts ("e-mail", "send-grid").
            let mut out = vec![w.to_owned()];
            if w.contains('-') {
                out.extend(w.split('-').filter(|p| !p.is_empty()).map(str::to_owned));
            }
            out
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn content(words: &[String]) -> Vec<String> {
    words
        .iter()
        .filter(|w| !is_stop_word(w))
        .map(|w| stem(w))
        .collect()
}

struct Alias {
    provider: usize,
    /// The alias's words, and the same joined without spaces.
    words: Vec<String>,
    joined: String,
}

struct Phrase {
    provider: usize,
    /// The phrase's content words with their weights, and the weights' sum.
    words: Vec<(String, f64)>,
    total: f64,
    text: String,
}

/// The matcher's tables, built once from the catalog.
pub struct Matcher {
    providers: Vec<ProviderInfo>,
    aliases: Vec<Alias>,
    phrases: Vec<Phrase>,
    /// Every word of the catalog's names, aliases and phrases: a capitalized word
    /// outside it may name a product the catalog does not have.
    vocabulary: HashSet<String>,
    /// The registrable part of each provider's fixed API host ("stripe.com").
    hosts: Vec<(usize, String)>,
}

struct ProviderInfo {
    id: String,
    display_name: String,
    category: Category,
}

fn category_name(c: Category) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Matcher {
    /// Builds the tables from the catalog: names and aliases, capability phrases
    /// weighted by how rare their words are across providers, and fixed API hosts.
    pub fn new(catalog: &Catalog) -> Self {
        let mut providers = Vec::new();
        let mut aliases = Vec::new();
        let mut phrases = Vec::new();
        let mut document_frequency: HashMap<String, usize> = HashMap::new();
        for (index, p) in catalog
            .providers()
            .filter(|p| p.id != custom::ID)
            .enumerate()
        {
            providers.push(ProviderInfo {
                id: p.id.to_string(),
                display_name: p.display_name.clone(),
                category: p.category,
            });
            let mut names: Vec<String> = p.aliases.clone();
            names.push(p.display_name.clone());
            names.push(p.id.replace('_', " "));
            for name in names {
                let w = words(&name);
                if w.is_empty() {
                    continue;
                }
                let joined = w.concat();
                aliases.push(Alias {
                    provider: index,
                    words: w,
                    joined,
                });
            }
            let mut vocabulary = HashSet::new();
            let texts = p
                .capabilities
                .iter()
                .chain(p.operations.iter().flat_map(|o| o.phrases.iter()));
            for text in texts {
                let w = content(&words(text));
                if w.is_empty() {
                    continue;
                }
                vocabulary.extend(w.iter().cloned());
                let words = w.into_iter().map(|w| (w, 0.0)).collect();
                phrases.push(Phrase {
                    provider: index,
                    words,
                    total: 0.0,
                    text: text.clone(),
                });
            }
            for word in vocabulary {
                *document_frequency.entry(word).or_default() += 1;
            }
        }
        let n = providers.len().max(1) as f64;
        let idf: HashMap<String, f64> = document_frequency
            .into_iter()
            .map(|(w, df)| (w, (1.0 + n / df as f64).ln()))
            .collect();
        // Weights are fixed once the catalog is read: store them with each phrase.
        for phrase in &mut phrases {
            for (word, weight) in &mut phrase.words {
                *weight = idf.get(word.as_str()).copied().unwrap_or(0.0);
            }
            phrase.total = phrase.words.iter().map(|(_, w)| w).sum();
        }
        let mut vocabulary: HashSet<String> = aliases
            .iter()
            .flat_map(|a| a.words.iter().cloned().chain([a.joined.clone()]))
            .collect();
        for phrase in &phrases {
            vocabulary.extend(words(&phrase.text));
        }
        let hosts = providers
            .iter()
            .enumerate()
            .filter_map(|(i, info)| {
                let p = catalog.get(&info.id)?;
                let host = url::Url::parse(&p.base_url).ok()?.host_str()?.to_owned();
                let labels: Vec<&str> = host.split('.').collect();
                let domain = labels[labels.len().saturating_sub(2)..].join(".");
                Some((i, domain))
            })
            .collect();
        Self {
            providers,
            aliases,
            phrases,
            vocabulary,
            hosts,
        }
    }

    /// A product the words name that the catalog does not have: a capitalized word
    /// ("Zendesk", "DocuSign") that is no catalog name, phrase word or ordinary word.
    fn unknown_product(&self, text: &str) -> Option<String> {
        let capital_word = |t: &str| {
            t.chars().next().is_some_and(char::is_uppercase) && t.chars().any(char::is_lowercase)
        };
        let lexicon = crate::lexicon::lexicon();
        let tokens: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '"'))
            .map(|t| t.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|t| !t.is_empty())
            .collect();
        // A misspelt catalog name is that provider, not an unknown product: checked last,
        // on the few tokens that could be a name, and only against aliases of about the
        // same length and first letter (the edit distance is the costly part).
        let near_a_name = |lower: &str| {
            let first = lower.as_bytes().first();
            self.aliases.iter().any(|a| {
                a.joined.len() >= 5
                    && a.joined.as_bytes().first() == first
                    && a.joined.len().abs_diff(lower.len()) <= 2
                    && strsim::normalized_damerau_levenshtein(lower, &a.joined) >= 0.75
            })
        };
        let owned: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
        for (pos, token) in tokens.iter().enumerate() {
            if is_product_web_name(token) {
                return Some((*token).to_owned());
            }
            // A product the lexicon knows the catalog lacks, in any case, unless the
            // words leave it ("move our lists off Mailchimp to ...").
            if let Some((name, _)) = lexicon.other_product_at(&owned, pos) {
                let left = pos > 0
                    && lexicon
                        .leaving_words
                        .iter()
                        .any(|l| l.eq_ignore_ascii_case(tokens[pos - 1]));
                if !left {
                    return Some(name);
                }
            }
            if token.len() < 3 || !token.chars().all(|c| c.is_alphanumeric()) {
                continue;
            }
            let capital = token.chars().next().is_some_and(char::is_uppercase);
            let has_lower = token.chars().any(char::is_lowercase);
            let inner_capital = token.chars().skip(1).any(char::is_uppercase);
            // First in the sentence, a name stands before "for" ("Jira for issues"),
            // whatever its case; elsewhere it is capitalized.
            // ...or before a second capitalized word of its name ("Microsoft Teams").
            let named_first = pos == 0
                && tokens.get(1).is_some_and(|n| {
                    matches!(
                        n.to_lowercase().as_str(),
                        "for" | "to" | "integration" | "connection"
                    ) || (capital_word(token) && capital_word(n))
                });
            let shaped_like_a_name =
                has_lower && (named_first || (capital && (pos > 0 || inner_capital)));
            if !shaped_like_a_name {
                continue;
            }
            let left = pos > 0
                && lexicon
                    .leaving_words
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(tokens[pos - 1]));
            let lower = token.to_lowercase();
            // "Googel Sheets": the two words together may be a misspelt name.
            let with_next = tokens
                .get(pos + 1)
                .map(|n| format!("{lower}{}", n.to_lowercase()))
                .unwrap_or_default();
            if (left && !named_first)
                || near_a_name(&with_next)
                || lexicon.is_describe_stop_word(&lower)
                || lexicon.is_ordinary_capital(&lower)
                || self.vocabulary.contains(&lower)
                || self.vocabulary.contains(&stem(&lower))
                || near_a_name(&lower)
            {
                continue;
            }
            return Some((*token).to_owned());
        }
        None
    }

    /// A URL or host name in the words ("https://billing.example.org/api",
    /// "api.acme.io"), unless it is a catalog provider's own API host or a product the
    /// lexicon lists ("monday.com").
    fn own_url(&self, text: &str) -> Option<String> {
        for token in text.split_whitespace() {
            let token = token.trim_matches(|c: char| {
                matches!(c, ',' | ';' | '.' | '(' | ')' | '"' | '\'' | '<' | '>')
            });
            // "Monday.com boards": a product the catalog lacks, by its web name.
            if token.contains('@') || is_product_web_name(token) {
                continue;
            }
            let with_scheme = if token.contains("://") {
                token.to_owned()
            } else {
                let host = token.split('/').next().unwrap_or_default();
                let labels: Vec<&str> = host.split('.').collect();
                let tld = labels.last().copied().unwrap_or_default();
                let hostlike = labels.len() >= 2
                    && labels.iter().all(|l| {
                        !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    })
                    && tld.len() >= 2
                    && tld.chars().all(|c| c.is_ascii_alphabetic());
                if !hostlike {
                    continue;
                }
                format!("https://{token}")
            };
            let Ok(url) = url::Url::parse(&with_scheme) else {
                continue;
            };
            let Some(host) = url.host_str().map(str::to_lowercase) else {
                continue;
            };
            if self
                .hosts
                .iter()
                .any(|(_, domain)| host == *domain || host.ends_with(&format!(".{domain}")))
            {
                continue;
            }
            return Some(with_scheme.trim_end_matches('/').to_owned());
        }
        None
    }

    /// Scores every provider for the text; returns (score, reason) per provider index.
    /// Raises each provider's score by the capability phrases the words fit.
    fn capabilities(&self, raw: &[String], scores: &mut [(f64, String)]) {
        let text_words: HashSet<String> = content(raw).into_iter().collect();
        for phrase in &self.phrases {
            let total = phrase.total;
            if total <= 0.0 {
                continue;
            }
            let matched: f64 = phrase
                .words
                .iter()
                .filter(|(w, _)| text_words.contains(w))
                .map(|(_, weight)| weight)
                .sum();
            if matched <= 0.0 {
                continue;
            }
            let coverage = matched / total;
            let strength = (matched / 2.5).min(1.0);
            let score = 0.85 * coverage * (0.5 + 0.5 * strength);
            let display = &self.providers[phrase.provider].display_name;
            if score > scores[phrase.provider].0 {
                let reason = format!("\"{}\" is what {display} does", phrase.text);
                scores[phrase.provider] = (score, reason);
            }
        }
    }

    fn score(&self, text: &str) -> (Vec<(f64, String)>, f64) {
        let raw = words(text);
        let mut scores: Vec<(f64, String)> = vec![(0.0, String::new()); self.providers.len()];
        let raise = |i: usize, score: f64, reason: String, scores: &mut Vec<(f64, String)>| {
            if score > scores[i].0 {
                scores[i] = (score, reason);
            }
        };

        // 1. Names: exact (as words, split or joined) or near misses.
        for alias in &self.aliases {
            let display = &self.providers[alias.provider].display_name;
            let n = alias.words.len();
            let exact = raw.windows(n).any(|w| w == alias.words.as_slice());
            let joined = (1..=3).any(|k| raw.windows(k).any(|w| w.concat() == alias.joined));
            if exact || joined {
                // Longer, more specific aliases win ties ("google calendar" over "google").
                let mut score = 0.97 + 0.001 * alias.joined.len().min(20) as f64;
                // "from Mailgun to Postmark", "replace Salesforce with HubSpot": the one
                // being left counts as mentioned, not chosen.
                let at = raw
                    .windows(n)
                    .position(|w| w == alias.words.as_slice())
                    .or_else(|| {
                        (1..=3)
                            .find_map(|k| raw.windows(k).position(|w| w.concat() == alias.joined))
                    })
                    .unwrap_or(0);
                let lexicon = crate::lexicon::lexicon();
                // The words right before the name, past a determiner ("off our Intercom").
                let mut end = at;
                if end > 0 && lexicon.is_determiner(&raw[end - 1]) {
                    end -= 1;
                }
                let before = raw[end.saturating_sub(2)..end].join(" ");
                let leaving = lexicon
                    .leaving_words
                    .iter()
                    .any(|l| before == *l || before.ends_with(&format!(" {l}")));
                if leaving {
                    score = 0.9;
                }
                raise(
                    alias.provider,
                    score,
                    format!("names {display}"),
                    &mut scores,
                );
                continue;
            }
            if alias.joined.len() >= 5 {
                let first = alias.joined.as_bytes()[0];
                for k in 1..=2 {
                    for w in raw.windows(k) {
                        // Misspellings keep the first letter and about the length; checking
                        // that first keeps the edit-distance work to a handful of pairs.
                        if w[0].as_bytes().first() != Some(&first) {
                            continue;
                        }
                        // Two words run together only as a split name ("mail gunn"), never
                        // with a small word ("note in" is not Notion).
                        if k == 2 && w.iter().any(|x| is_stop_word(x) || x.len() < 3) {
                            continue;
                        }
                        let length: usize = w.iter().map(String::len).sum();
                        if length < 5 || length.abs_diff(alias.joined.len()) > 2 {
                            continue;
                        }
                        let candidate = w.concat();
                        if crate::lexicon::lexicon().false_friends.contains(&candidate) {
                            continue;
                        }
                        let similarity =
                            strsim::normalized_damerau_levenshtein(&candidate, &alias.joined);
                        let allowed = if alias.joined.len() <= 6 { 0.8 } else { 0.75 };
                        if similarity >= allowed {
                            // A misspelt name still names a provider: it outranks a
                            // generic cue such as "our service" ("Salesforse").
                            let score = if k == 1 { 0.65 } else { 0.6 } + 0.3 * similarity;
                            raise(
                                alias.provider,
                                score,
                                format!("\"{candidate}\" looks like {display}"),
                                &mut scores,
                            );
                        }
                    }
                }
            }
        }

        // 2. Capabilities: how much of a phrase's specific words the text has.
        self.capabilities(&raw, &mut scores);

        // 3. The user's own REST API.
        let custom = custom_api_score(&raw);
        (scores, custom)
    }

    /// Reads a text (its first 2,000 characters) and picks a provider: one named
    /// outright wins, then the user's own API (or a product the catalog lacks, which
    /// picks none), then the best capability match if it scores enough.
    pub fn describe(&self, catalog: &Catalog, text: &str) -> Described {
        let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
        let (scores, custom_score) = self.score(&text);
        let mut ranked: Vec<(usize, f64, String)> = scores
            .into_iter()
            .enumerate()
            .filter(|(_, (s, _))| *s > 0.0)
            .map(|(i, (s, r))| (i, s, r))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let best = ranked.first().map(|(_, s, _)| *s).unwrap_or(0.0);
        let second = ranked.get(1).map(|(_, s, _)| *s).unwrap_or(0.0);
        // A URL or host that is no provider's, or a custom API cue, beats a capability
        // match; a provider named outright is not overruled.
        let url = (best < 0.95).then(|| self.own_url(&text)).flatten();
        let custom_wins = (custom_score > 0.0 && best < 0.9) || url.is_some();
        // A product the catalog lacks ("Zendesk") is said so, not matched to a provider
        // that does something alike.
        let unknown = (!custom_wins && best < 0.95)
            .then(|| self.unknown_product(&text))
            .flatten();
        let margin = ((best - second) / 0.25).clamp(0.0, 1.0);
        let mut candidates: Vec<Candidate> = ranked
            .iter()
            .take(MAX_CANDIDATES)
            .enumerate()
            .map(|(rank, (i, s, reason))| {
                let info = &self.providers[*i];
                // A provider named outright is sure unless another is named too; a
                // capability match is as sure as its lead over the next one.
                let named = *s >= 0.95;
                let confidence = match (rank, named) {
                    (0, true) if second >= 0.95 => s * 0.85,
                    (0, true) => *s,
                    (0, false) => s * (0.7 + 0.3 * margin),
                    _ => s * 0.7,
                };
                Candidate {
                    provider: info.id.clone(),
                    display_name: info.display_name.clone(),
                    category: category_name(info.category),
                    confidence: (confidence * 100.0).round() / 100.0,
                    reason: reason.clone(),
                }
            })
            .collect();
        let custom_candidate = |confidence: f64, reason: &str| Candidate {
            provider: custom::ID.into(),
            display_name: "Custom HTTP".into(),
            category: "custom".into(),
            confidence,
            reason: reason.into(),
        };
        let chosen = if custom_wins {
            candidates.insert(
                0,
                custom_candidate(
                    0.8,
                    "describes your own REST API: Custom HTTP calls any REST API",
                ),
            );
            Some(custom::ID.to_owned())
        } else if let Some(name) = &unknown {
            candidates.insert(
                0,
                custom_candidate(
                    0.5,
                    &format!("{name} is not in the catalog: Custom HTTP calls its REST API"),
                ),
            );
            None
        } else if best >= PICK_THRESHOLD {
            candidates.push(custom_candidate(0.1, "any REST API, if none of these fits"));
            candidates.first().map(|c| c.provider.clone())
        } else {
            candidates.push(custom_candidate(
                0.3,
                "nothing in the catalog fits; Custom HTTP calls any REST API",
            ));
            None
        };
        candidates.truncate(MAX_CANDIDATES + 1);
        let message = chosen.is_none().then(|| match &unknown {
            Some(name) => format!("{name} is not in the catalog. If it has a REST API, Custom HTTP can connect it: give its base URL, auth scheme and endpoints."),
            None => "No provider in the catalog fits this description. Custom HTTP can connect any REST API: give its base URL, auth scheme and endpoints.".to_owned(),
        });
        let mut prompt = chosen.as_deref().and_then(|id| prompt_for(catalog, id));
        let suggested_config = url
            .filter(|_| chosen.as_deref() == Some(custom::ID))
            .map(|url| {
                // The form opens with the base URL the words gave.
                if let Some(field) = prompt
                    .as_mut()
                    .and_then(|p| p.config.iter_mut().find(|f| f.name == "base_url"))
                {
                    field.default = Some(url.clone());
                }
                BTreeMap::from([("base_url".to_owned(), url)])
            });
        let suggested_name = chosen
            .as_deref()
            .map(|id| suggested_name(&text).unwrap_or_else(|| id.replace('_', "-")));
        Described {
            provider: chosen,
            candidates,
            suggested_name,
            prompt,
            message,
            suggested_config,
        }
    }
}

fn prompt_field(f: &Field) -> PromptField {
    PromptField {
        name: f.name.clone(),
        label: f.label.clone(),
        secret: f.secret,
        required: f.required,
        format: f
            .format
            .and_then(|x| serde_json::to_value(x).ok())
            .and_then(|v| v.as_str().map(str::to_owned)),
        choices: f.choices.clone(),
        default: f.default.clone(),
        help: f.help.clone(),
        when: f.when.clone(),
        prefixes: f.prefixes.clone(),
        min_length: f.min_length,
        max_length: f.max_length,
        pattern: f.pattern.clone(),
        example: f.example.clone(),
        needed_for: f.needed_for.clone(),
    }
}

fn scopes(auth: &Auth) -> Vec<String> {
    match auth {
        Auth::OAuth2 { scopes, .. } | Auth::SmartBackendServices { scopes, .. } => scopes.clone(),
        Auth::Choice { options, .. } => {
            let mut all: Vec<String> = options.values().flat_map(scopes).collect();
            all.dedup();
            all
        }
        _ => vec![],
    }
}

/// The exact fields to ask for when adding an integration of this provider.
pub fn prompt_for(catalog: &Catalog, id: &str) -> Option<Prompt> {
    if id == custom::ID {
        let mut credentials = Vec::new();
        for scheme in ["bearer", "header", "basic"] {
            for f in custom::credential_fields(scheme) {
                let mut field = prompt_field(&f);
                let schemes = if scheme == "header" {
                    "header or query"
                } else {
                    scheme
                };
                field.help = Some(format!("when auth is {schemes}"));
                field.when = Some(BTreeMap::from([("auth".to_owned(), scheme.to_owned())]));
                credentials.push(field);
            }
        }
        return Some(Prompt {
            credentials,
            config: custom::config_fields().iter().map(prompt_field).collect(),
            scopes: vec![],
        });
    }
    let provider: &Provider = catalog.get(id)?;
    Some(Prompt {
        credentials: provider.credentials.iter().map(prompt_field).collect(),
        config: provider.config.iter().map(prompt_field).collect(),
        scopes: scopes(&provider.auth),
    })
}

/// "... called clinic-mail" / "named Billing" → a valid integration name.
fn suggested_name(text: &str) -> Option<String> {
    // ASCII lowercasing keeps every byte where it was, so a position in `lower` is one
    // in `text` (full Unicode lowercasing may change lengths: "İ" becomes 3 bytes).
    let lower = text.to_ascii_lowercase();
    for cue in ["called ", "named ", "name it ", "call it "] {
        if let Some(pos) = lower.find(cue) {
            let rest = &text[pos + cue.len()..];
            let name: String = rest
                .trim_start_matches(['"', '\'', '`', '“'])
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            let slug = name.to_lowercase();
            if crate::domain::IntegrationName::parse(&slug).is_ok() && slug.len() >= 2 {
                return Some(slug);
            }
        }
    }
    None
}

/// How surely the words describe the user's own REST API: a custom-API cue ("our
/// API", "internal backend"), a two-word one also with a few words between.
fn custom_api_score(raw: &[String]) -> f64 {
    let joined = raw.join(" ");
    // A two-word cue also holds with a few words between ("our internal scheduling
    // backend", "our patient portal api").
    let gapped = |cue: &str| {
        let Some((first, last)) = cue.split_once(' ') else {
            return false;
        };
        if last.contains(' ') {
            return false;
        }
        // ...but not around a product's name ("our Discord server").
        let lexicon = crate::lexicon::lexicon();
        raw.iter().enumerate().any(|(i, w)| {
            w == first
                && (i + 2..(i + 5).min(raw.len())).any(|end| {
                    raw[end].trim_matches(|c: char| !c.is_alphanumeric()) == last
                        && (i + 1..end).all(|k| lexicon.other_product_at(raw, k).is_none())
                })
        })
    };
    if crate::lexicon::lexicon()
        .custom_api_cues
        .iter()
        .any(|c| joined.contains(c.as_str()) || gapped(c))
    {
        0.8
    } else {
        0.0
    }
}

/// The matcher over the embedded catalog, built once.
pub fn matcher() -> Result<&'static Matcher, crate::catalog::CatalogError> {
    static MATCHER: OnceLock<Matcher> = OnceLock::new();
    let catalog = crate::catalog::catalog()?;
    Ok(MATCHER.get_or_init(|| Matcher::new(catalog)))
}

/// Describes a sentence against the embedded catalog.
pub fn describe(text: &str) -> Result<Described, crate::catalog::CatalogError> {
    let catalog = crate::catalog::catalog()?;
    Ok(matcher()?.describe(catalog, text))
}

/// Whether a token is a product the catalog lacks written as its web name, in one
/// ("monday.com", "customer.io").
fn is_product_web_name(token: &str) -> bool {
    let parts: Vec<String> = token
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    parts.len() > 1
        && crate::lexicon::lexicon()
            .other_product_at(&parts, 0)
            .is_some_and(|(_, span)| span == parts.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_cue_after_text_whose_lowercase_is_longer_is_read_in_place() {
        // "Ⱥ" lowercases to three bytes where it had two.
        assert_eq!(
            suggested_name("ȺȺȺȺ Postmark named clinic-mail"),
            Some("clinic-mail".to_owned())
        );
        assert_eq!(suggested_name("ȺȺȺȺ named 🉐x"), None);
    }
}
