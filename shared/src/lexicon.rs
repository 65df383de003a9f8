//! The lexicon: the words both plain-words front doors read ([`crate::describe`] and
//! [`crate::compiler`]), as data. `shared/lexicon/lexicon.yaml` is embedded at build
//! time as JSON and parsed once; the tests check it (every list non-empty, no word
//! twice, every event's canonical name in snake_case). Provider words (names, aliases,
//! what operations do) stay in the provider files.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;

const EMBEDDED: &str = include_str!(concat!(env!("OUT_DIR"), "/lexicon.json"));

/// Words that open the clause saying what starts a workflow, by where they stand.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerCues {
    /// Cues at the start of a sentence ("whenever", "as soon as", "upon receipt of").
    pub leading: Vec<String>,
    /// Cues in the middle of a sentence ("text the patient when ..."); "after" and "if"
    /// count only before an event.
    pub trailing: Vec<String>,
    /// Cue words a misspelt first word may stand for ("wen" → "when"), when the rest
    /// reads as a trigger.
    pub fuzzy: Vec<String>,
    /// Inside an action, opening a trigger that runs to its event word ("log every
    /// intake form submission as a row").
    pub inner: Vec<String>,
}

/// The words of `shared/lexicon/lexicon.yaml`, one field per list (the file's comments
/// say what each is for), plus lookups built from them by [`Lexicon::parse`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lexicon {
    /// Words that open a trigger clause.
    pub trigger_cues: TriggerCues,
    /// Canonical event → the words that say it.
    pub events: BTreeMap<String, Vec<String>>,
    /// Base form → past participle, for verbs the rule (verb + "ed") gets wrong
    /// ("leave" → "left").
    pub irregular_participles: BTreeMap<String, String>,
    /// Helping verbs ("is", "gets", "has"): the word after one is the event, never the
    /// verb itself.
    pub auxiliaries: Vec<String>,
    /// Words after a verb that belong to it ("signs up", "checks in").
    pub particles: Vec<String>,
    /// Nouns that end a form's name ("form", "page"): an event word before one is part
    /// of the name ("the signup form"), not the event.
    pub form_nouns: Vec<String>,
    /// Words before an entity's name that are not part of it ("the", "our", "every").
    pub determiners: Vec<String>,
    /// Lowercased words that, capitalized, still name no product ("Monday", "Patient").
    pub ordinary_capitals: Vec<String>,
    /// Words the fuzzy name match must not bend into a provider's or integration's name
    /// ("motion", "strip").
    pub false_friends: Vec<String>,
    /// Words after which the product named is the one being left ("switch from Mailgun
    /// to Postmark").
    pub leaving_words: Vec<String>,
    /// Products the catalog lacks, named in any case ("mailchimp", "google drive").
    pub other_products: Vec<String>,
    /// Products the catalog lacks whose names are also ordinary words: only
    /// capitalized, and not first in a sentence ("Zoom", "Square").
    pub other_products_capitalized: Vec<String>,
    /// Phrases that mean the user's own REST API ("our api", "internal api"): describe
    /// answers Custom HTTP.
    pub custom_api_cues: Vec<String>,
    /// Words both front doors drop before matching.
    pub stop_words: Vec<String>,
    /// Words describe drops as well (the words of asking for a connection: "connect",
    /// "need").
    pub describe_stop_words: Vec<String>,
    /// Words the compiler drops as well (the words of calling an integration).
    pub compile_stop_words: Vec<String>,
    /// Canonical word → the words that fold to it.
    pub synonyms: BTreeMap<String, Vec<String>>,
    /// Words of provider names that are also ordinary nouns ("google", "sheet"): kept
    /// when matching operations.
    pub generic_name_words: Vec<String>,
    /// Webhook entity type → the words people use for it.
    pub entity_synonyms: BTreeMap<String, Vec<String>>,
    /// A verb group → its words, which an operation must say to do what they ask.
    pub must_offer_verbs: BTreeMap<String, Vec<String>>,
    /// A thing → its words, which an operation must say to act on it.
    pub must_offer_objects: BTreeMap<String, Vec<String>>,
    /// A thing → its words, which an operation must make (as its entity, the last word
    /// of its id or a kind it chooses) to make one ("create a Slack channel").
    pub made_objects: BTreeMap<String, Vec<String>>,
    /// Nouns after the thing they are a record of ("a company record").
    pub record_nouns: Vec<String>,
    /// Verbs after which `must_offer_objects` and `made_objects` are checked ("create",
    /// "start").
    pub object_verbs: Vec<String>,
    /// Things sent that an operation must say to send them ("send an email", "send a
    /// fax"): checked after "send" only ("add the member's email to a list" sends none).
    pub sent_objects: BTreeMap<String, Vec<String>>,
    /// Words before a step's verb that are not it ("then", "please", "finally").
    pub lead_ins: Vec<String>,
    /// Openings that place a step after the one before ("after that"), not a trigger.
    pub sequence_phrases: Vec<String>,
    /// Words that ask for the step ("please", "could"): where it begins after an event.
    pub request_words: Vec<String>,
    /// Verbs of a change of state ("moves to Done"): a status follows them.
    pub status_verbs: Vec<String>,
    /// Phrases that name a thing ("phone number"): their words ask for no action.
    pub noun_phrases: Vec<String>,
    /// Verbs that open a step: where a trigger clause with no comma ends.
    pub step_verbs: Vec<String>,
    /// Words that point at the step before ("the previous step", "created earlier").
    pub back_references: Vec<String>,
    /// Verbs of telling someone something ("email", "dm", "notify"): "that" and a clause
    /// after one that leads the step say what the message says.
    pub telling_verbs: Vec<String>,
    /// Words that open a clause after "that" ("the", "we"): "email that doctor" names
    /// a recipient, "email the doctor that the referral was created" says something.
    pub clause_subjects: Vec<String>,
    /// Nouns a name before them belongs to ("the Front Desk calendar").
    pub target_nouns: Vec<String>,
    /// Roles of fields by the words of their names, first fit wins.
    pub field_roles: Vec<RoleRule>,
    /// Last words of a field's name that make it a record's identifier ("mrn").
    pub identifier_words: Vec<String>,
    /// created / deleted → the event words that mean it (others mean updated).
    pub data_changes: BTreeMap<String, Vec<String>>,
    /// Separators between a trigger and an action written without a cue word ("->",
    /// ":").
    pub clause_separators: Vec<String>,
    #[serde(skip)]
    folded: HashMap<String, String>,
    #[serde(skip)]
    describe_stops: HashSet<String>,
    #[serde(skip)]
    compile_stops: HashSet<String>,
    /// Every surface of every event, split into words, with its event.
    #[serde(skip)]
    pub event_surfaces: Vec<(Vec<String>, String)>,
    #[serde(skip)]
    ordinary: HashSet<String>,
    /// `other_products` and `other_products_capitalized` split into words, with
    /// whether the name must be capitalized, by their first word (in list order).
    #[serde(skip)]
    products: HashMap<String, Vec<(Vec<String>, bool)>>,
}

/// One rule of `field_roles`: the role, and what makes a field's name fit it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// The role a fitting field gets (`email`, `phone`, `first_name`...).
    pub role: String,
    /// The field fits when its JSON Schema format is one of these.
    #[serde(default)]
    pub formats: Vec<String>,
    /// The field fits when any word of its name is one of these.
    #[serde(default)]
    pub words: Vec<String>,
    /// The field fits when every one of these is a word of its name (ignored when
    /// empty).
    #[serde(default)]
    pub all_words: Vec<String>,
    /// The field fits when the last word of its name is one of these.
    #[serde(default)]
    pub last: Vec<String>,
    /// The field fits when its name's words, joined, equal one of these.
    #[serde(default)]
    pub joined: Vec<String>,
    /// The field fits when its name's words, joined, start with one of these.
    #[serde(default)]
    pub joined_prefix: Vec<String>,
    /// The field fits when its name's words, joined, end with one of these.
    #[serde(default)]
    pub joined_suffix: Vec<String>,
    /// The field fits when its name's words, joined, contain one of these.
    #[serde(default)]
    pub joined_contains: Vec<String>,
    /// Only date and date-time fields fit the rule at all.
    #[serde(default)]
    pub dates: bool,
}

impl RoleRule {
    /// Whether a field's name (its words) and format fit this rule.
    pub fn fits(&self, words: &[String], format: Option<&str>) -> bool {
        let is_date = matches!(format, Some("date" | "date-time"));
        if self.dates && !is_date {
            return false;
        }
        let joined: String = words.concat();
        let last = words.last().map(String::as_str).unwrap_or_default();
        let has = |w: &String| words.iter().any(|x| x == w);
        format.is_some_and(|f| self.formats.iter().any(|x| x == f))
            || self.words.iter().any(has)
            || (!self.all_words.is_empty() && self.all_words.iter().all(has))
            || self.last.iter().any(|l| l == last)
            || self.joined.contains(&joined)
            || self
                .joined_prefix
                .iter()
                .any(|p| joined.starts_with(p.as_str()))
            || self
                .joined_suffix
                .iter()
                .any(|p| joined.ends_with(p.as_str()))
            || self
                .joined_contains
                .iter()
                .any(|p| joined.contains(p.as_str()))
    }
}

/// Why the embedded lexicon does not load (a test catches it before any release).
#[derive(Debug, thiserror::Error)]
#[error("the embedded lexicon does not parse: {0}")]
pub struct LexiconError(String);

impl Lexicon {
    /// The lexicon from its JSON text, with the lookups the matching uses (event
    /// surfaces, folded synonyms, stop-word sets, product names by first word) built
    /// once.
    ///
    /// # Errors
    /// [`LexiconError`] when the text does not parse as the lexicon (an unknown or
    /// missing list).
    pub fn parse(json: &str) -> Result<Self, LexiconError> {
        let mut lexicon: Lexicon =
            serde_json::from_str(json).map_err(|e| LexiconError(e.to_string()))?;
        lexicon.event_surfaces = lexicon
            .events
            .iter()
            .flat_map(|(event, surfaces)| {
                surfaces.iter().map(move |s| {
                    (
                        s.split(' ').map(str::to_owned).collect::<Vec<_>>(),
                        event.clone(),
                    )
                })
            })
            .collect();
        lexicon.ordinary = lexicon.ordinary_capitals.iter().cloned().collect();
        let split = |name: &String| -> Vec<String> {
            name.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect()
        };
        let named = lexicon
            .other_products
            .iter()
            .map(|p| (split(p), false))
            .chain(
                lexicon
                    .other_products_capitalized
                    .iter()
                    .map(|p| (split(p), true)),
            );
        for (words, capital) in named {
            if let Some(first) = words.first().cloned() {
                lexicon
                    .products
                    .entry(first)
                    .or_default()
                    .push((words, capital));
            }
        }
        lexicon.folded = lexicon
            .synonyms
            .iter()
            .flat_map(|(canonical, words)| {
                words.iter().map(move |w| (w.clone(), canonical.clone()))
            })
            .collect();
        lexicon.describe_stops = lexicon
            .stop_words
            .iter()
            .chain(&lexicon.describe_stop_words)
            .cloned()
            .collect();
        lexicon.compile_stops = lexicon
            .stop_words
            .iter()
            .chain(&lexicon.compile_stop_words)
            .cloned()
            .collect();
        Ok(lexicon)
    }

    /// The word synonyms fold it to ("texts" → "text", "billing" → "pay").
    pub fn canonical<'a>(&'a self, word: &'a str) -> &'a str {
        self.folded.get(word).map(String::as_str).unwrap_or(word)
    }

    /// A word's stem, after synonyms: "confirmations" → "confirmation", "booked" → "book".
    pub fn stem(&self, word: &str) -> String {
        let w = self.canonical(word);
        for suffix in ["ing", "ed", "es", "s"] {
            if let Some(base) = w.strip_suffix(suffix)
                && base.len() >= 4
                && !(suffix == "s" && base.ends_with('s'))
            {
                return self.canonical(base).to_owned();
            }
        }
        w.to_owned()
    }

    /// Whether describe ignores the word (a shared or a describe stop word).
    pub fn is_describe_stop_word(&self, word: &str) -> bool {
        self.describe_stops.contains(word)
    }

    /// Whether the compiler ignores the word (a shared or a compile stop word).
    pub fn is_compile_stop_word(&self, word: &str) -> bool {
        self.compile_stops.contains(word)
    }

    /// Whether the word, though part of a provider's name, is also an ordinary noun.
    pub fn is_generic_name_word(&self, word: &str) -> bool {
        self.generic_name_words.iter().any(|w| w == word)
    }

    /// The words people use for a webhook entity type (its own name first).
    pub fn entity_words(&self, entity_type: &str) -> &[String] {
        self.entity_synonyms
            .get(entity_type)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The thing a step makes or starts, if an operation must say it: after one of the
    /// `object_verbs`, the head (last word) of the words up to a preposition ("start a
    /// monthly subscription for ..." → subscription; "create the invoice email" →
    /// email, none), past trailing stop words and record nouns ("a company record" →
    /// company). The flag says the operation must make it (`made_objects`), not only
    /// say it.
    pub fn leading_object(&self, words: &[String]) -> Option<(&str, &[String], bool)> {
        let start = words
            .iter()
            .position(|w| !self.lead_ins.iter().any(|l| l == w))?;
        // "use billing to start ...": the verb after "to".
        let verb_at = if matches!(words[start].as_str(), "use" | "using") {
            start + words[start..].iter().position(|w| w == "to")? + 1
        } else {
            start
        };
        let sending = words[verb_at] == "send";
        if !sending && !self.object_verbs.iter().any(|v| *v == words[verb_at]) {
            return None;
        }
        let phrase: Vec<&String> = words
            .iter()
            .skip(verb_at + 1)
            .take_while(|w| {
                !matches!(
                    w.as_str(),
                    "in" | "on"
                        | "for"
                        | "to"
                        | "with"
                        | "via"
                        | "through"
                        | "from"
                        | "and"
                        | "using"
                        | "at"
                        | "by"
                        | "of"
                        | "into"
                        | "whenever"
                        | "when"
                )
            })
            .take(5)
            .collect();
        // "a new Slack channel just for ...": past stop words; "a company record": the
        // word before a record noun.
        let mut phrase = phrase;
        while phrase
            .last()
            .is_some_and(|w| self.compile_stops.contains(w.as_str()))
        {
            phrase.pop();
        }
        if phrase.len() > 1
            && self.record_nouns.iter().any(|r| Some(&r) == phrase.last())
            && !self
                .determiners
                .iter()
                .any(|d| *d == *phrase[phrase.len() - 2])
        {
            phrase.pop();
        }
        let head = phrase.last()?;
        let objects = if sending {
            &self.sent_objects
        } else {
            &self.must_offer_objects
        };
        // Sent as a thing of its own: the head ("a confirmation email") or after "a"/"an"
        // ("send the patient an email confirmation"); not one of the fields listed
        // ("send the customer's email and name to salesforce").
        let listed = words
            .get(verb_at + 1 + phrase.len())
            .is_some_and(|w| w == "and");
        let said = |g: &String| {
            if sending {
                (*head == g && !listed)
                    || phrase.iter().enumerate().any(|(i, w)| {
                        *w == g
                            && i > 0
                            && matches!(phrase[i - 1].as_str(), "a" | "an" | "one" | "another")
                    })
            } else {
                *head == g
            }
        };
        let made = (!sending)
            .then(|| self.made_objects.iter())
            .into_iter()
            .flatten()
            .map(|(name, group)| (name, group, true));
        objects
            .iter()
            .map(|(name, group)| (name, group, false))
            .chain(made)
            .find(|(_, group, _)| group.iter().any(said))
            .map(|(name, group, made)| (name.as_str(), group.as_slice(), made))
    }

    /// The verb group a step leads with (among its first words), if an operation must
    /// say it: ("delete", its words).
    pub fn leading_verb(&self, words: &[String]) -> Option<(&str, &[String])> {
        // The verb: the first word past lead-ins ("then", "please"), or the word after
        // "to" in "use X to text the lead".
        let mut rest = words
            .iter()
            .skip_while(|w| self.lead_ins.iter().any(|l| l == *w));
        let first = rest.next()?;
        let verb = if first == "use" || first == "using" {
            let mut after = words.iter().skip_while(|w| *w != "to");
            after.next();
            after.next()?
        } else {
            first
        };
        self.must_offer_verbs
            .iter()
            .find(|(_, group)| group.iter().any(|g| g == verb))
            .map(|(name, group)| (name.as_str(), group.as_slice()))
    }

    /// The word positions covered by "the previous step", "created earlier" and the
    /// other back references.
    pub fn back_reference_positions(&self, words: &[String]) -> std::collections::BTreeSet<usize> {
        self.back_references
            .iter()
            .flat_map(|phrase| phrase_positions(phrase, words))
            .collect()
    }

    /// The word positions of what a message says, when the step leads with a verb of
    /// telling: from "that" before a clause to the end ("email the doctor that the
    /// referral was created"; "text them that their visit is confirmed").
    pub fn told_positions(&self, words: &[String]) -> std::ops::Range<usize> {
        let Some(lead) = words
            .iter()
            .position(|w| !self.lead_ins.iter().any(|l| l == w))
        else {
            return 0..0;
        };
        if !self.telling_verbs.iter().any(|v| *v == words[lead]) {
            return 0..0;
        }
        words
            .windows(2)
            .enumerate()
            .skip(lead + 1)
            .find(|(_, pair)| {
                pair[0] == "that" && self.clause_subjects.iter().any(|s| *s == pair[1])
            })
            .map_or(0..0, |(at, _)| at..words.len())
    }

    /// A product the catalog lacks named at word `pos` of `original` (words as written):
    /// its name as written and how many words it spans. A name only capitalized counts
    /// when it is not the sentence's first word ("Zoom" in "set up a Zoom call", not
    /// "Close the ticket").
    pub fn other_product_at(&self, original: &[String], pos: usize) -> Option<(String, usize)> {
        let first = original.get(pos)?.to_lowercase();
        self.products
            .get(&first)?
            .iter()
            .find_map(|(words, capital)| {
                let span = original.get(pos..pos + words.len())?;
                let fits = span.iter().zip(words).all(|(w, p)| w.to_lowercase() == *p);
                let capitalized = |w: &String| w.chars().next().is_some_and(char::is_uppercase);
                // ...and the whole capitalized run: "the Front Desk calendar" is no Front.
                let shaped = !capital
                    || (pos > 0
                        && span.iter().all(capitalized)
                        && !original.get(pos + words.len()).is_some_and(capitalized));
                (fits && shaped).then(|| (span.join(" "), words.len()))
            })
    }

    /// Whether a capitalized word is an ordinary one, not a product's name.
    pub fn is_ordinary_capital(&self, lower: &str) -> bool {
        self.ordinary.contains(lower)
    }

    /// Whether the word says a change of state ("moves", "becomes"), so a status
    /// follows.
    pub fn is_status_verb(&self, word: &str) -> bool {
        self.status_verbs.iter().any(|d| d == word)
    }

    /// Whether the word comes before an entity's name without being part of it.
    pub fn is_determiner(&self, word: &str) -> bool {
        self.determiners.iter().any(|d| d == word)
    }

    /// Whether the word ends a form's name ("form", "page").
    pub fn is_form_noun(&self, word: &str) -> bool {
        self.form_nouns.iter().any(|d| d == word)
    }

    /// Whether the word is a helping verb, after which the event word comes.
    pub fn is_auxiliary(&self, word: &str) -> bool {
        self.auxiliaries.iter().any(|d| d == word)
    }

    /// The event word a misspelt one stands for ("sumbitted", "recieved"): one edit
    /// away (a swap counts as one) from a one-word surface of seven letters or more.
    pub fn misspelt_event(&self, word: &str) -> Option<&str> {
        if word.len() < 7 {
            return None;
        }
        self.event_surfaces
            .iter()
            .filter(|(surface, _)| surface.len() == 1 && surface[0].len() >= 7)
            .find(|(surface, _)| strsim::damerau_levenshtein(&surface[0], word) == 1)
            .map(|(_, event)| event.as_str())
    }

    /// The event a misspelt participle after a helping verb stands for ("is creatd"):
    /// one edit from a one-word surface ending in "ed" of six letters or more. Only
    /// after a helping verb, where a participle is expected ("create" alone is a verb).
    pub fn misspelt_participle(&self, word: &str) -> Option<&str> {
        if word.len() < 5 {
            return None;
        }
        let near = |surface: &str| {
            surface.len() >= 6
                && surface.ends_with("ed")
                && surface != word
                && strsim::damerau_levenshtein(surface, word) == 1
        };
        self.event_surfaces
            .iter()
            .find(|(surface, _)| surface.len() == 1 && near(&surface[0]))
            .map(|(_, event)| event.as_str())
            // ...or from a participle the lexicon spells out ("shiped" → shipped).
            .or_else(|| {
                self.irregular_participles
                    .values()
                    .find(|p| near(p))
                    .map(String::as_str)
            })
    }

    /// Whether the word is a particle that belongs to the verb before it ("up" in
    /// "signs up").
    pub fn is_particle(&self, word: &str) -> bool {
        self.particles.iter().any(|d| d == word)
    }

    /// The event a verb form says, by the events' surfaces first, then by rule: the
    /// verb's past participle ("leaves" → "left", "renews" → "renewed").
    pub fn event_of_verb(&self, verb: &str, particle: Option<&str>) -> Option<String> {
        let participle = self.participle(verb)?;
        for (surface, event) in &self.event_surfaces {
            let with_particle = particle.is_some_and(|p| {
                surface.len() == 2
                    && surface[1] == p
                    && (surface[0] == verb || surface[0] == participle)
            });
            if with_particle {
                return Some(event.clone());
            }
        }
        for (surface, event) in &self.event_surfaces {
            if surface.len() == 1 && (surface[0] == verb || surface[0] == participle) {
                return Some(event.clone());
            }
        }
        Some(participle)
    }

    /// A verb's past participle from its third-person or past form, by the irregular
    /// table and then English spelling rules; None for what does not read as a verb.
    pub fn participle(&self, verb: &str) -> Option<String> {
        if verb.len() < 3 || !verb.chars().all(|c| c.is_ascii_lowercase()) {
            return None;
        }
        if let Some(p) = self.irregular_participles.get(verb) {
            return Some(p.clone());
        }
        if self.irregular_participles.values().any(|p| p == verb) {
            return Some(verb.to_owned());
        }
        if verb.ends_with("ed") && verb.len() > 4 {
            return Some(verb.to_owned());
        }
        let base = if let Some(stem) = verb.strip_suffix("ies") {
            format!("{stem}y")
        } else if ["sses", "shes", "ches", "xes", "zes"]
            .iter()
            .any(|s| verb.ends_with(s))
        {
            verb[..verb.len() - 2].to_owned()
        } else if let Some(stem) = verb.strip_suffix('s') {
            if stem.ends_with('s') || stem.ends_with('u') || stem.len() < 2 {
                return None;
            }
            stem.to_owned()
        } else {
            return None;
        };
        if let Some(p) = self.irregular_participles.get(&base) {
            return Some(p.clone());
        }
        Some(if base.ends_with('e') {
            format!("{base}d")
        } else if let Some(stem) = base
            .strip_suffix('y')
            .filter(|s| s.chars().last().is_some_and(|c| !"aeiou".contains(c)))
        {
            format!("{stem}ied")
        } else {
            format!("{base}ed")
        })
    }
}

/// The positions of every occurrence of a phrase (words separated by spaces).
pub fn phrase_positions(phrase: &str, words: &[String]) -> Vec<usize> {
    let parts: Vec<&str> = phrase.split(' ').collect();
    words
        .windows(parts.len())
        .enumerate()
        .filter(|(_, w)| w.iter().zip(&parts).all(|(a, b)| a == b))
        .flat_map(|(start, _)| start..start + parts.len())
        .collect()
}

/// The embedded lexicon, parsed once.
pub fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| {
        // The file is embedded at build time and checked by a test; one that does not
        // parse is a build defect, and an empty lexicon reads no words (no panic).
        Lexicon::parse(EMBEDDED).unwrap_or_else(|e| {
            tracing::error!(error = %e, "lexicon");
            Lexicon::default()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_lexicon_parses_and_every_list_is_clean() {
        let l = Lexicon::parse(EMBEDDED).expect("parses");
        let lists: Vec<(&str, &Vec<String>)> = vec![
            ("trigger_cues.leading", &l.trigger_cues.leading),
            ("trigger_cues.trailing", &l.trigger_cues.trailing),
            ("trigger_cues.fuzzy", &l.trigger_cues.fuzzy),
            ("trigger_cues.inner", &l.trigger_cues.inner),
            ("particles", &l.particles),
            ("auxiliaries", &l.auxiliaries),
            ("form_nouns", &l.form_nouns),
            ("determiners", &l.determiners),
            ("ordinary_capitals", &l.ordinary_capitals),
            ("false_friends", &l.false_friends),
            ("leaving_words", &l.leaving_words),
            ("other_products", &l.other_products),
            ("custom_api_cues", &l.custom_api_cues),
            ("stop_words", &l.stop_words),
            ("describe_stop_words", &l.describe_stop_words),
            ("compile_stop_words", &l.compile_stop_words),
            ("generic_name_words", &l.generic_name_words),
            ("lead_ins", &l.lead_ins),
            ("object_verbs", &l.object_verbs),
            ("record_nouns", &l.record_nouns),
            ("sequence_phrases", &l.sequence_phrases),
            ("request_words", &l.request_words),
            ("status_verbs", &l.status_verbs),
            ("noun_phrases", &l.noun_phrases),
            ("step_verbs", &l.step_verbs),
            ("back_references", &l.back_references),
            ("telling_verbs", &l.telling_verbs),
            ("clause_subjects", &l.clause_subjects),
            ("target_nouns", &l.target_nouns),
            ("identifier_words", &l.identifier_words),
            ("clause_separators", &l.clause_separators),
        ];
        for (name, list) in lists {
            assert!(!list.is_empty(), "{name} is empty");
            let mut seen = HashSet::new();
            for w in list {
                assert_eq!(w, &w.to_lowercase(), "{name}: {w} is not lowercase");
                assert!(seen.insert(w), "{name}: {w} twice");
            }
        }
        let mut folded = HashSet::new();
        for (canonical, words) in &l.synonyms {
            for w in words {
                assert_ne!(w, canonical, "{w} folds to itself");
                assert!(folded.insert(w), "{w} folds to two words");
            }
        }
        for (entity, words) in &l.entity_synonyms {
            assert!(!words.is_empty(), "entity {entity} has no words");
        }
        assert!(!l.field_roles.is_empty(), "field_roles is empty");
        let mut surfaces = HashSet::new();
        for (event, said) in &l.events {
            assert!(
                event.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "event {event} is not snake_case"
            );
            for s in said {
                assert!(surfaces.insert(s), "{s} says two events");
            }
        }
    }

    #[test]
    fn verbs_become_events_by_the_table_then_by_rule() {
        let l = lexicon();
        assert_eq!(l.event_of_verb("leaves", None).as_deref(), Some("left"));
        assert_eq!(l.event_of_verb("renews", None).as_deref(), Some("renewed"));
        assert_eq!(l.event_of_verb("ships", None).as_deref(), Some("shipped"));
        assert_eq!(
            l.event_of_verb("arrives", None).as_deref(),
            Some("received")
        );
        assert_eq!(
            l.event_of_verb("sends", Some("in")).as_deref(),
            Some("submitted")
        );
        assert_eq!(
            l.event_of_verb("fills", Some("in")).as_deref(),
            Some("submitted")
        );
        assert_eq!(l.event_of_verb("replies", None).as_deref(), Some("replied"));
        assert_eq!(
            l.event_of_verb("cancels", None).as_deref(),
            Some("cancelled")
        );
        assert_eq!(
            l.event_of_verb("upgraded", None).as_deref(),
            Some("upgraded")
        );
        assert_eq!(l.participle("status"), None, "not a verb");
        assert_eq!(l.participle("Leaves"), None);
    }

    #[test]
    fn products_the_catalog_lacks_are_found_by_their_names_and_shape() {
        let l = lexicon();
        let words = |t: &str| t.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let s = words("add them to our mailchimp audience");
        assert_eq!(l.other_product_at(&s, 4), Some(("mailchimp".to_owned(), 1)));
        let s = words("post it in Microsoft Teams");
        assert_eq!(
            l.other_product_at(&s, 3),
            Some(("Microsoft Teams".to_owned(), 2))
        );
        // Ordinary words are products only capitalized and not first.
        let s = words("we meet on Zoom daily");
        assert_eq!(l.other_product_at(&s, 3), Some(("Zoom".to_owned(), 1)));
        let s = words("set up a zoom call");
        assert_eq!(l.other_product_at(&s, 3), Some(("zoom call".to_owned(), 2)));
        assert_eq!(
            l.other_product_at(&words("put it on the Front Desk calendar"), 4),
            None
        );
        assert_eq!(l.other_product_at(&words("zoom in on the chart"), 0), None);
        assert_eq!(l.other_product_at(&words("Square the numbers"), 0), None);
        assert_eq!(l.other_product_at(&words("a square table"), 1), None);
        for name in &l.other_products_capitalized {
            assert!(
                name.starts_with(char::is_uppercase),
                "{name} is not capitalized"
            );
        }
    }

    #[test]
    fn a_thing_made_or_started_is_found_after_its_verb_and_a_thing_sent_is_not() {
        let l = lexicon();
        let words = |t: &str| t.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let found = |t: &str| {
            l.leading_object(&words(t))
                .map(|(name, _, _)| name.to_owned())
        };
        assert_eq!(
            found("use billing to start a monthly subscription for the customer"),
            Some("subscription".to_owned())
        );
        assert_eq!(
            found("then create a matching invoice in stripe"),
            Some("invoice".to_owned())
        );
        assert_eq!(found("email the invoice to the customer"), None);
        assert_eq!(found("create the invoice email"), None);
        assert_eq!(
            found("create a new slack channel just for that order"),
            Some("channel".to_owned())
        );
        assert_eq!(
            found("create a company record in hubspot"),
            Some("company".to_owned())
        );
        assert_eq!(found("add a record to the sheet"), None);
    }
}
