//! Which integration and operation the action's words ask for: the integration named
//! (by its own name or its provider's), else the one whose operation the words describe
//! best; and an error that says what would fit when the project lacks the integration,
//! the provider lacks the operation, or the words could mean several.

use std::collections::BTreeSet;

use super::index::Index;
use super::refs::{self, Mentions};
use super::text::{content, words};
use super::trigger::list_suffix;
use super::{Problems, ProjectIntegration};
use crate::catalog::Catalog;

/// Below this, words do not pick an operation.
const PICK: f64 = 0.28;

pub struct Resolved {
    pub integration: usize,
    pub op: usize,
}

/// The content words the operation is matched on: names and invocation verbs
/// ("call the Postmark integration", "use clinic-mail to") left out.
pub fn op_words(
    plain: &[String],
    mentions: &Mentions,
    index: &Index,
    keep_name_nouns: bool,
) -> BTreeSet<String> {
    // "the document created earlier" points back at a step; "created" there asks for
    // nothing.
    let backward = crate::lexicon::lexicon().back_reference_positions(plain);
    // "email the doctor that the referral was created": what the message says asks for
    // nothing either.
    let told = crate::lexicon::lexicon().told_positions(plain);
    let mut kept = Vec::new();
    for (pos, w) in plain.iter().enumerate() {
        if backward.contains(&pos) || told.contains(&pos) {
            continue;
        }
        // Names are not what is asked for, but their ordinary nouns are ("the clinic
        // calendar", "a Google Doc").
        if mentions.name_positions.contains(&pos)
            && !(keep_name_nouns && crate::lexicon::lexicon().is_generic_name_word(w))
        {
            continue;
        }
        // An invocation verb right before a name: "call clinic-api", "use the X integration".
        if matches!(
            w.as_str(),
            "call" | "use" | "using" | "ask" | "tell" | "have" | "get"
        ) {
            let next_names =
                (pos + 1..(pos + 3).min(plain.len())).any(|p| mentions.name_positions.contains(&p));
            // "the status of that call on clinic-sms": a thing, not an invocation.
            let noun = pos > 0
                && matches!(
                    plain[pos - 1].as_str(),
                    "the" | "that" | "this" | "a" | "its" | "their" | "each"
                );
            if next_names && w != "tell" && !noun {
                continue;
            }
        }
        kept.push(w.clone());
    }
    let mut out: BTreeSet<String> = BTreeSet::new();
    for w in kept {
        for part in words(&w) {
            out.insert(part);
        }
    }
    let words: Vec<String> = out.into_iter().collect();
    content(&words)
        .into_iter()
        .filter(|w| !index.all_name_words.contains(w))
        .map(|w| index.spelled(&w))
        .collect()
}

fn offers(integration: &ProjectIntegration) -> String {
    integration
        .adapter()
        .operations
        .iter()
        .map(|o| format!("{} ({})", o.id, o.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a pronoun refers to: "add them to HubSpot" after "when an Intercom contact is
/// created" asks for a contact. These words help pick an operation, never to refuse one.
pub fn with_referent(
    text: &BTreeSet<String>,
    plain: &[String],
    referent: &[String],
) -> BTreeSet<String> {
    let mut out = text.clone();
    if plain
        .iter()
        .any(|w| matches!(w.as_str(), "them" | "it" | "him" | "her" | "this" | "one"))
    {
        out.extend(content(referent));
    }
    out
}

/// The project's integration that does best what the words ask, as a suggestion (";
/// clinic-mail (Postmark) can send email"), or nothing.
fn capable_suggestion(
    integrations: &[ProjectIntegration],
    index: &Index,
    text: &BTreeSet<String>,
) -> String {
    let mut best: Option<(f64, usize, usize)> = None;
    for (i, integration) in integrations.iter().enumerate() {
        for (o, op) in integration.adapter().operations.iter().enumerate() {
            let score = index.score(integration.adapter(), op, text).0;
            if score >= PICK && best.is_none_or(|b| score > b.0) {
                best = Some((score, i, o));
            }
        }
    }
    best.map(|(_, i, o)| {
        let op = &integrations[i].adapter().operations[o];
        format!(
            "; {} ({}) can {}",
            integrations[i].name,
            integrations[i].adapter().display_name,
            op.name.to_lowercase()
        )
    })
    .unwrap_or_default()
}

/// Words that name no integration of the project: refused when they name a provider the
/// project lacks, or a tool nobody has. True when `problems` says so.
fn refused_unnamed(
    mentions: &Mentions,
    integrations: &[ProjectIntegration],
    catalog: &Catalog,
    capable: &dyn Fn() -> String,
    problems: &mut Problems,
) -> bool {
    if let Some((provider, _)) = mentions.providers.first() {
        let display = catalog
            .get(provider)
            .map(|p| p.display_name.clone())
            .unwrap_or_else(|| provider.clone());
        let same_kind: Vec<String> = catalog
            .get(provider)
            .map(|p| {
                integrations
                    .iter()
                    .filter(|i| i.adapter().category == p.category)
                    .map(|i| format!("{} ({})", i.name, i.adapter().display_name))
                    .collect()
            })
            .unwrap_or_default();
        problems.push(
            "integration",
            format!(
                "the project has no {display} integration; add one, or use {}{}",
                if same_kind.is_empty() {
                    integrations
                        .iter()
                        .map(|i| i.name.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    same_kind.join(", ")
                },
                capable()
            ),
        );
        return true;
    }
    if let Some(unknown) = mentions.unknown.first() {
        problems.push(
            "integration",
            format!(
                "the project has no integration named {unknown}; closest names: {}{}{}",
                refs::closest(unknown, integrations).join(", "),
                capable(),
                list_suffix(
                    "its integrations",
                    integrations.iter().map(|i| format!(
                        "{} ({})",
                        i.name,
                        i.adapter().display_name
                    ))
                )
            ),
        );
        return true;
    }
    false
}

/// Whether another integration fits the words as well as the chosen `i` (same score,
/// same matched weight) and neither is named by its own name: then `problems` says
/// which to name.
fn ambiguous(
    scored: &[(f64, f64, usize, usize)],
    (score, matched, i): (f64, f64, usize),
    mentions: &Mentions,
    integrations: &[ProjectIntegration],
    problems: &mut Problems,
) -> bool {
    let own_named: Vec<usize> = mentions.integrations.iter().map(|(i, _)| *i).collect();
    let ties: Vec<usize> = scored
        .iter()
        .filter(|s| (s.0 - score).abs() < 1e-9 && (s.1 - matched).abs() < 1e-9 && s.2 != i)
        .map(|s| s.2)
        .collect();
    if !ties.is_empty() && !own_named.contains(&i) {
        let mut all = vec![i];
        all.extend(ties.into_iter().filter(|t| !own_named.contains(t)));
        all.dedup();
        if all.len() > 1 {
            problems.push(
                "integration",
                format!(
                    "ambiguous: the words fit {}; name the integration to use",
                    all.iter()
                        .map(|x| format!(
                            "{} ({})",
                            integrations[*x].name,
                            integrations[*x].adapter().display_name
                        ))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            );
            return true;
        }
    }
    false
}

/// What the whole catalog would pick for the words: score, provider, operation name,
/// the provider's words, and how many words of the best phrase matched.
type GlobalPick<'a> = (
    f64,
    crate::domain::ProviderId,
    String,
    std::borrow::Cow<'a, BTreeSet<String>>,
    usize,
);

/// Whether the named integrations cannot do what the words ask, because a word only
/// another provider's operations know asks for it ("text" through Postmark): then
/// `problems` says which of the project's integrations can.
fn cannot_do(
    global: &GlobalPick<'_>,
    asked: &Asked<'_>,
    scored: &[(f64, f64, usize, usize)],
    i: usize,
    integrations: &[ProjectIntegration],
    index: &Index,
    problems: &mut Problems,
) -> bool {
    let (g, gp, gname, gwords, count) = global;
    let (said, named) = (asked.said, asked.mentions.candidates(integrations));
    let provider = &integrations[i].provider;
    let named_best = scored
        .iter()
        .filter(|s| named.contains(&s.2))
        .map(|s| s.0)
        .fold(0.0, f64::max);
    // How many words the named integration's best operation matched: more than the
    // other's phrase did, and it explains the words better, only less completely ("look
    // up the patient in slack by their email address" is no FHIR read).
    let named_count = scored
        .iter()
        .filter(|s| named.contains(&s.2) && (s.0 - named_best).abs() < 1e-9)
        .map(|s| {
            let adapter = integrations[s.2].adapter();
            index
                .score_words(adapter, &adapter.operations[s.3], asked.text)
                .2
        })
        .max()
        .unwrap_or(0);
    // A word of the request only the other provider's operations know ("text").
    let named_words: BTreeSet<String> = named
        .iter()
        .flat_map(|n| index.vocabulary(integrations[*n].adapter()).into_owned())
        .collect();
    let distinctive = said
        .iter()
        .any(|w| gwords.contains(w) && !named_words.contains(w));
    // One matching word ("team") is not enough to say what was asked for.
    // A Custom HTTP endpoint's terse name ("create ticket") is the user's own
    // word for what it does: when it fits, it is not overruled.
    let own_api_fits = provider == crate::catalog::custom::ID && named_best >= PICK;
    if distinctive
        && !own_api_fits
        && *count >= 2
        && gp != provider
        && *g >= 0.6
        && named_best < g - 0.1
        && named_count <= *count
        && named.iter().all(|n| &integrations[*n].provider != gp)
    {
        let can: Vec<String> = integrations
            .iter()
            .filter(|x| &x.provider == gp)
            .map(|x| x.name.to_string())
            .collect();
        let names: Vec<String> = named
            .iter()
            .map(|n| integrations[*n].name.to_string())
            .collect();
        problems.push(
            "operation",
            format!(
                "{} cannot {}; it offers {}{}",
                names.join(" or "),
                gname.to_lowercase(),
                offers(&integrations[named[0]]),
                list_suffix("the project's integrations that can", can)
            ),
        );
        return true;
    }
    false
}

/// Why no integration of the project fits the words: the ones it has, and what the
/// catalog would have picked.
fn nothing_fits(
    integrations: &[ProjectIntegration],
    global: Option<&GlobalPick<'_>>,
    catalog: &Catalog,
) -> String {
    let suggestion = match global {
        Some((g, gp, gname, _, _)) if *g >= 0.5 => {
            let display = catalog
                .get(gp)
                .map(|p| p.display_name.clone())
                .unwrap_or_default();
            format!(
                "; {display} could ({}), but the project has no such integration",
                gname.to_lowercase()
            )
        }
        _ => String::new(),
    };
    format!(
        "no integration of the project fits these words; name one of {}{suggestion}",
        integrations
            .iter()
            .map(|i| format!("{} ({})", i.name, i.adapter().display_name))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// What the whole catalog would pick for the words, weighed by the step's verb as the
/// project's operations are ("check the bounces" is no send).
fn global_pick<'c>(
    catalog: &'c Catalog,
    index: &'c Index,
    text: &BTreeSet<String>,
    action: Option<super::action::ActionKind>,
) -> Option<GlobalPick<'c>> {
    catalog
        .providers()
        .flat_map(|p| p.operations.iter().map(move |op| (p, op)))
        .map(|(p, op)| {
            let (score, matched, count) = index.score_words(p, op, text);
            let score = score * super::action::agreement(action, op);
            ((score, matched, count), p, op)
        })
        .max_by(|a, b| a.0.0.total_cmp(&b.0.0))
        .map(|((score, _, count), p, op)| {
            (
                score,
                p.id.clone(),
                op.name.clone(),
                index.vocabulary(p),
                count,
            )
        })
}

/// Whether two integrations of one provider fit the words equally well (and well
/// enough): then `problems` says to name one.
fn twins(
    scored: &[(f64, f64, usize, usize)],
    integrations: &[ProjectIntegration],
    problems: &mut Problems,
) -> bool {
    if let (Some(first), Some(second)) = (scored.first(), scored.get(1)) {
        let (a, b) = (&integrations[first.2], &integrations[second.2]);
        if first.2 != second.2
            && a.provider == b.provider
            && first.3 == second.3
            && first.0 >= PICK
            && (first.0 - second.0).abs() < 1e-9
            && (first.1 - second.1).abs() < 1e-9
        {
            problems.push(
                "integration",
                format!(
                    "{} and {} ({}) both fit; name the one to use",
                    a.name,
                    b.name,
                    a.adapter().display_name
                ),
            );
            return true;
        }
    }
    false
}

/// What the action's words ask of the project, for [`resolve`].
pub struct Asked<'a> {
    /// The words to match operations on.
    pub text: &'a BTreeSet<String>,
    /// The words the request says itself, for telling a provider cannot do something.
    pub said: &'a BTreeSet<String>,
    pub mentions: &'a Mentions,
    /// Integrations whose results the words may name rather than ask to act.
    pub earlier: &'a [String],
    /// What the step's leading verb does (read, list, make, change, remove).
    pub action: Option<super::action::ActionKind>,
}

/// The provider's default operation of the best-scoring named integration, when the words
/// fit nothing of it well: taken when the default is already its best guess or when no
/// operation matched a word ("slack #billing with the invoice number"). `(score, i, o)`
/// is the best fit overall, so `score` is also the best of integration `i`.
fn default_operation(
    integrations: &[ProjectIntegration],
    (score, i, o): (f64, usize, usize),
) -> Option<usize> {
    let adapter = integrations[i].adapter();
    let id = adapter.default_operation.as_deref()?;
    let d = adapter.operations.iter().position(|op| op.id == id)?;
    (o == d || score <= 0.0).then_some(d)
}

/// The integration and operation the words ask for, among the ones they name (or all);
/// `None` when `problems` says why none fits (no such tool, it cannot do that, two fit
/// equally).
pub fn resolve(
    asked: &Asked<'_>,
    integrations: &[ProjectIntegration],
    index: &Index,
    catalog: &Catalog,
    problems: &mut Problems,
) -> Option<Resolved> {
    let Asked {
        text,
        said: _,
        mentions,
        earlier,
        action,
    } = *asked;
    let named = mentions.candidates(integrations);
    let capable = || capable_suggestion(integrations, index, text);
    if named.is_empty() && refused_unnamed(mentions, integrations, catalog, &capable, problems) {
        return None;
    }
    if integrations.is_empty() {
        problems.push(
            "integration",
            "the project has no integrations yet; add one first",
        );
        return None;
    }
    let pool: Vec<usize> = if named.is_empty() {
        (0..integrations.len()).collect()
    } else {
        named.clone()
    };
    // Several named: one an earlier step used is likely a reference to its result
    // ("post the new Stripe customer id to Slack").
    let discount_earlier = named.len() > 1
        && named
            .iter()
            .any(|i| !earlier.contains(&integrations[*i].name.to_string()));
    let mut scored: Vec<(f64, f64, usize, usize)> = Vec::new();
    for &i in &pool {
        let adapter = integrations[i].adapter();
        for (o, op) in adapter.operations.iter().enumerate() {
            let (mut score, matched) = index.score(adapter, op, text);
            score *= super::action::agreement(action, op);
            if discount_earlier && earlier.contains(&integrations[i].name.to_string()) {
                score *= 0.5;
            }
            scored.push((score, matched, i, o));
        }
    }
    // Equal fits: the tool named first ("update the Notion page so it links to the
    // Linear issue" updates the page). Where each integration is named, once.
    let named_at: Vec<usize> = integrations
        .iter()
        .enumerate()
        .map(|(i, integration)| {
            let provider = integration.adapter().id.as_str();
            let own = mentions
                .integrations
                .iter()
                .filter(|m| m.0 == i)
                .map(|m| m.1);
            let by_provider = mentions
                .providers
                .iter()
                .filter(|m| m.0 == provider)
                .map(|m| m.1);
            own.chain(by_provider).min().unwrap_or(usize::MAX)
        })
        .collect();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| named_at[a.2].cmp(&named_at[b.2]))
            .then(b.1.total_cmp(&a.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    let best = scored.first().copied();
    tracing::trace!(
        target: "compile",
        words = ?text,
        top = ?scored
            .iter()
            .take(6)
            .map(|(s, m, i, o)| {
                let op = &integrations[*i].adapter().operations[*o].id;
                format!("{}.{op} {s:.3}/{m:.2}", integrations[*i].name)
            })
            .collect::<Vec<_>>(),
        "operations scored"
    );

    // What the whole catalog would pick, to tell "this provider cannot do that".
    let global = global_pick(catalog, index, text, action);

    // Two integrations of one provider that fit equally: the words must say which.
    if twins(&scored, integrations, problems) {
        return None;
    }
    let Some((score, _, i, o)) = best else {
        problems.push(
            "integration",
            "no integration of the project fits these words",
        );
        return None;
    };
    if !named.is_empty() {
        if let Some(global) = &global
            && cannot_do(global, asked, &scored, i, integrations, index, problems)
        {
            return None;
        }
        if score < PICK {
            let single = named.len() == 1 && integrations[named[0]].adapter().operations.len() == 1;
            if single {
                return Some(Resolved {
                    integration: named[0],
                    op: 0,
                });
            }
            if let Some(op) = default_operation(integrations, (score, i, o)) {
                return Some(Resolved { integration: i, op });
            }
            problems.push(
                "operation",
                format!(
                    "say what {} should do; it offers {}",
                    integrations[i].name,
                    offers(&integrations[i])
                ),
            );
            return None;
        }
    } else if score < PICK {
        problems.push(
            "integration",
            nothing_fits(integrations, global.as_ref(), catalog),
        );
        return None;
    }
    // Two integrations that fit equally, neither named by its own name: ambiguous.
    let matched = best.map(|b| b.1).unwrap_or_default();
    if ambiguous(
        &scored,
        (score, matched, i),
        mentions,
        integrations,
        problems,
    ) {
        return None;
    }
    Some(Resolved {
        integration: i,
        op: o,
    })
}
