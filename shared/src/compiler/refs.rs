//! Which integrations a piece of text names: the project's own integration names
//! ("clinic-mail", "the clinic calendar"), provider names and nicknames ("Postmark",
//! "gcal", "sfdc"), near misses of either ("clinic-mial", "saleforce"), and names that
//! look like a tool the project does not have ("a Jira ticket", "to Mailchimp").

use std::collections::BTreeSet;

use super::ProjectIntegration;
use super::index::Index;
use super::text::squash;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Mentions {
    /// Indexes into the project's integrations, named by their own name, with the word
    /// position of the mention.
    pub integrations: Vec<(usize, usize)>,
    /// Providers named by a name or nickname, with the word position.
    pub providers: Vec<(String, usize)>,
    /// Names that look like a tool but are neither.
    pub unknown: Vec<String>,
    /// Word positions that are part of a name (not content words).
    pub name_positions: BTreeSet<usize>,
}

impl Mentions {
    pub fn is_empty(&self) -> bool {
        self.integrations.is_empty() && self.providers.is_empty()
    }

    /// The project's integrations the text names, directly or through their provider.
    /// An integration named by its own name stands for its provider: "use the Postmark
    /// integration" with integrations `postmark` and `clinic-mail` means `postmark`.
    pub fn candidates(&self, integrations: &[ProjectIntegration]) -> Vec<usize> {
        let mut out: Vec<usize> = self.integrations.iter().map(|(i, _)| *i).collect();
        for (provider, _) in &self.providers {
            if out.iter().any(|i| &integrations[*i].provider == provider) {
                continue;
            }
            for (i, integration) in integrations.iter().enumerate() {
                if &integration.provider == provider && !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        out
    }
}

/// Finds the names in a list of plain words (`original` gives each word's original
/// spelling, for telling "Jira" from "jira").
pub fn mentions(
    words: &[String],
    original: &[String],
    integrations: &[ProjectIntegration],
    index: &Index,
    known: &BTreeSet<String>,
) -> Mentions {
    let mut found = Mentions::default();
    own_names(words, integrations, known, &mut found);
    provider_names(words, index, known, &mut found);
    own_api(words, integrations, &mut found);
    unknown_tools(original, index, known, &mut found);
    found
}

/// 1. The project's own names (and their near misses).
fn own_names(
    words: &[String],
    integrations: &[ProjectIntegration],
    known: &BTreeSet<String>,
    found: &mut Mentions,
) {
    // 1. The project's own names: one word ("clinic-mail"), split ("clinic mail"), joined.
    for (i, integration) in integrations.iter().enumerate() {
        let name = integration.name.as_str();
        let parts: Vec<String> = name.split(['-', '_']).map(str::to_owned).collect();
        let joined = squash(name);
        let mut hit = None;
        for (pos, w) in words.iter().enumerate() {
            if w == name || (parts.len() == 1 && squash(w) == joined) {
                hit = Some((pos, 1));
                break;
            }
            if parts.len() > 1 && words[pos..].starts_with(&parts) {
                hit = Some((pos, parts.len()));
                break;
            }
        }
        if hit.is_none() && joined.len() >= 6 {
            // Near misses of a distinctive name ("clinic-mial").
            for (pos, w) in words.iter().enumerate() {
                let candidate = squash(w);
                if candidate.len().abs_diff(joined.len()) > 2
                    || candidate.chars().next() != joined.chars().next()
                    || known.contains(w.as_str())
                {
                    continue;
                }
                if strsim::normalized_damerau_levenshtein(&candidate, &joined) >= 0.8 {
                    hit = Some((pos, 1));
                    break;
                }
            }
        }
        if let Some((pos, len)) = hit {
            found.integrations.push((i, pos));
            found.name_positions.extend(pos..pos + len);
        }
    }
}

/// 2. Provider names and nicknames (and their near misses).
fn provider_names(words: &[String], index: &Index, known: &BTreeSet<String>, found: &mut Mentions) {
    // 2. Provider names and nicknames.
    // One, two and three words run together ("send grid", "g cal"), computed once.
    let joined: Vec<(usize, usize, String)> = (0..words.len())
        .flat_map(|pos| (1..=3usize.min(words.len() - pos)).map(move |k| (pos, k)))
        .map(|(pos, k)| (pos, k, words[pos..pos + k].concat()))
        .collect();
    for alias in &index.aliases {
        let n = alias.words.len();
        if n == 0 {
            continue;
        }
        let mut hit = (0..words.len())
            .find(|&pos| words[pos..].starts_with(&alias.words))
            .map(|pos| (pos, n));
        if hit.is_none() && alias.joined.len() >= 4 {
            hit = joined
                .iter()
                .find(|(_, _, j)| *j == alias.joined)
                .map(|(pos, k, _)| (*pos, *k));
        }
        if hit.is_none() && alias.joined.len() == 5 && n == 1 {
            // A short name only by two letters swapped ("slakc"): one letter changed
            // would make ordinary words names ("stack").
            hit = words
                .iter()
                .position(|w| {
                    let mut a: Vec<char> = w.chars().collect();
                    let mut b: Vec<char> = alias.joined.chars().collect();
                    w.len() == 5
                        && w != &alias.joined
                        && w.chars().next() == alias.joined.chars().next()
                        && strsim::damerau_levenshtein(w, &alias.joined) == 1
                        && {
                            a.sort_unstable();
                            b.sort_unstable();
                            a == b
                        }
                })
                .map(|pos| (pos, 1));
        }
        if hit.is_none() && alias.joined.len() >= 6 && n == 1 {
            for (pos, w) in words.iter().enumerate() {
                if w.len() < 6
                    || w.len().abs_diff(alias.joined.len()) > 2
                    || w.chars().next() != alias.joined.chars().next()
                    || crate::lexicon::lexicon().false_friends.contains(w)
                    || known.contains(w.as_str())
                {
                    continue;
                }
                let similarity = strsim::normalized_damerau_levenshtein(w, &alias.joined);
                let allowed = if alias.joined.len() <= 7 { 0.8 } else { 0.75 };
                if similarity >= allowed {
                    hit = Some((pos, 1));
                    break;
                }
            }
        }
        if let Some((pos, len)) = hit {
            // A longer alias of the same provider at the same place counts once.
            if !found.providers.iter().any(|(p, _)| *p == alias.provider) {
                found.providers.push((alias.provider.to_string(), pos));
            }
            found.name_positions.extend(pos..pos + len);
        }
    }
}

/// 2b. The project's own REST API, said as "our API".
fn own_api(words: &[String], integrations: &[ProjectIntegration], found: &mut Mentions) {
    // 2b. "through our API", "in our backend": the project's own REST API, when it has
    //     one Custom HTTP integration and the words name no other tool.
    if found.integrations.is_empty() && found.providers.is_empty() {
        let own: Vec<usize> = integrations
            .iter()
            .enumerate()
            .filter(|(_, i)| i.adapter().category == crate::catalog::Category::Custom)
            .map(|(n, _)| n)
            .collect();
        let cue = crate::lexicon::lexicon()
            .custom_api_cues
            .iter()
            .flat_map(|phrase| crate::lexicon::phrase_positions(phrase, words))
            .min();
        if let ([only], Some(pos)) = (own.as_slice(), cue) {
            found.integrations.push((*only, pos));
        }
    }
}

/// 3. Names of tools the project does not have.
fn unknown_tools(
    original: &[String],
    index: &Index,
    known: &BTreeSet<String>,
    found: &mut Mentions,
) {
    // 3. Names of tools the project does not have: a capitalized word after "to", "in",
    //    "with", "a"... ("create a Jira ticket", "add them to Mailchimp"), or any word
    //    before "integration" that is not a known name.
    let lexicon = crate::lexicon::lexicon();
    for (pos, w) in original.iter().enumerate() {
        if found.name_positions.contains(&pos) {
            continue;
        }
        // A product the lexicon knows the catalog lacks, unless the words leave it
        // ("copy the contacts from Mailchimp").
        if let Some((name, _)) = lexicon.other_product_at(original, pos) {
            let left = pos > 0
                && lexicon
                    .leaving_words
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(&original[pos - 1]));
            if !left && !found.unknown.contains(&name) {
                found.unknown.push(name);
            }
            continue;
        }
        if pos == 0 {
            continue;
        }
        let lower = w.to_lowercase();
        let titlecase = w.chars().next().is_some_and(char::is_uppercase)
            && w.chars().skip(1).any(char::is_lowercase)
            && w.len() >= 3;
        let before = original[pos - 1].to_lowercase();
        let after = original
            .get(pos + 1)
            .map(|a| a.to_lowercase())
            .unwrap_or_default();
        let tool_position = matches!(
            before.as_str(),
            "to" | "in"
                | "into"
                | "with"
                | "via"
                | "using"
                | "through"
                | "on"
                | "from"
                | "a"
                | "an"
                | "the"
                | "our"
                | "use"
        );
        let before_integration = matches!(after.as_str(), "integration" | "connection" | "account");
        // "the Front Desk calendar": a name inside a tool, not a tool. A capitalized
        // target noun is part of a product's name ("Microsoft Teams channel").
        let is_target = |w: &String| lexicon.target_nouns.contains(&w.to_lowercase());
        let capitalized = |w: &String| w.chars().next().is_some_and(char::is_uppercase);
        let run: Vec<&String> = std::iter::once(w)
            .chain(original[pos + 1..].iter().take_while(|w| capitalized(w)))
            .collect();
        let noun = original.get(pos + run.len());
        let names_a_target = run.len() <= 3
            && !run.iter().any(|w| is_target(w))
            && noun.is_some_and(|n| !capitalized(n) && is_target(n));
        if (names_a_target || is_new_value(original, pos)) && !before_integration {
            continue;
        }
        if ((titlecase && tool_position) || before_integration)
            && !known.contains(&lower)
            && !crate::lexicon::lexicon().is_ordinary_capital(&lower)
            && !index.all_name_words.contains(&lower)
        {
            found.unknown.push(w.clone());
        }
    }
}

/// Whether the word at `pos` is a field's new value after "to" in a change ("set its
/// Status to Renewed", "change the location to Room 4"): a changing verb ("set",
/// "change", "update", "mark") before it, and a field, not a pronoun, before "to"
/// ("move them to Asana" names a tool).
fn is_new_value(original: &[String], pos: usize) -> bool {
    let lexicon = crate::lexicon::lexicon();
    if pos < 2 || !original[pos - 1].eq_ignore_ascii_case("to") {
        return false;
    }
    let field = original[pos - 2].to_lowercase();
    let pronoun = matches!(
        field.as_str(),
        "it" | "them" | "him" | "her" | "everything" | "all" | "this" | "that" | "these" | "those"
    );
    !pronoun
        && original[..pos - 2].iter().any(|w| {
            // "setting", "changed", "marks": the verb under its ending.
            let w = w.to_lowercase();
            let changing = w.strip_suffix("ing").map(|b| format!("{b}e"));
            ["", "s", "d", "ed", "ing", "ting"]
                .iter()
                .filter_map(|end| w.strip_suffix(end).map(str::to_owned))
                .chain(changing)
                .any(|b| lexicon.canonical(&b) == "update")
        })
}

/// The project's integration names closest to a name people wrote.
pub fn closest(name: &str, integrations: &[ProjectIntegration]) -> Vec<String> {
    let wanted = squash(name);
    let mut scored: Vec<(f64, String)> = integrations
        .iter()
        .map(|i| {
            let by_name = strsim::normalized_damerau_levenshtein(&wanted, &squash(i.name.as_str()));
            let by_provider =
                strsim::normalized_damerau_levenshtein(&wanted, &squash(&i.adapter().display_name));
            (by_name.max(by_provider), i.name.to_string())
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::is_new_value;

    #[test]
    fn a_capitalized_value_after_a_change_is_no_tool() {
        let words = |t: &str| t.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let at = |t: &str, w: &str| {
            let ws = words(t);
            let pos = ws.iter().position(|x| x == w).unwrap_or_default();
            is_new_value(&ws, pos)
        };
        assert!(at(
            "then update the first row, setting its Status to Renewed",
            "Renewed"
        ));
        assert!(at("Then change that event's location to Room 4", "Room"));
        assert!(!at("then move them to Asana", "Asana"));
        assert!(!at("add the customer to Mailchimp", "Mailchimp"));
    }
}
