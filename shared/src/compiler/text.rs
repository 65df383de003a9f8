//! Words and literals of an instruction: the trigger clause and the action, lowercase
//! words with synonyms folded, and the values people write out in full (quoted text,
//! e-mail addresses, `#channels`, ids, amounts of money, team keys).
//!
//! Literals are taken out of the text before anything else reads it, so an address such
//! as `billing@clinic.example` never reads as the word "billing" (an integration name),
//! and a quoted body such as "See you when you arrive" never starts a trigger clause.

use std::ops::Range;

/// What a quoted literal is for, from the words around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    Title,
    Body,
    Template,
    Range,
    Other,
}

/// A value written out in the instruction, with where it stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Quoted(Cue, String),
    /// An e-mail address and the word before it (`from`, `to`...).
    Email(String, String),
    /// `#front-desk`.
    Channel(String),
    /// A UUID and the word before it (`database`, `page`, `team`...).
    Uuid(String, String),
    /// An identifier such as `ENG-123`.
    Key(String),
    /// A long opaque id (Google document ids).
    LongId(String),
    /// An amount of money: major units as written, and the currency if one was said.
    Money(f64, Option<String>),
    /// A quoted value and the word written right before it, if that word could name an
    /// input (`role "lead"`, `dealstage "appointmentscheduled"`, `idProperty "email"`):
    /// as written, and the value.
    Named(String, String),
    /// A spreadsheet range in A1 notation: `Orders!A:E`, `Summary!A1:B20`, `A2:D`.
    Range(String),
    /// A phone number in E.164 form (`+15550102299`).
    Phone(String),
    /// A web address written out (`https://cdn.clinic.example/logo.png`).
    Url(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub literal: Literal,
    pub at: Range<usize>,
}

/// The instruction with its literals cut out (replaced by spaces, so byte positions
/// still match the original) and the literals themselves.
pub struct Extracted {
    pub original: String,
    pub blanked: String,
    pub literals: Vec<Spanned>,
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '“' | '”' | '\'' | '‘' | '’' | '`')
}

fn closing_for(open: char) -> &'static [char] {
    match open {
        '"' => &['"'],
        '“' | '”' => &['”', '“', '"'],
        '‘' | '’' | '\'' => &['\'', '’', '‘'],
        _ => &['`'],
    }
}

fn word_before(text: &str, at: usize) -> String {
    text[..at]
        .trim_end_matches(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn words_before(text: &str, at: usize, n: usize) -> Vec<String> {
    text[..at]
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .rev()
        .take(n)
        .collect()
}

fn word_after(text: &str, at: usize) -> String {
    text[at..]
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .find(|w| !w.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The word right before a quote (past "=", ":" and "(" ), as written, when it could
/// be an input's name: one word of letters, digits and underscores.
fn name_before_quote(text: &str, start: usize) -> Option<String> {
    let before =
        text[..start].trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '=' | ':' | '('));
    // "set Status to \"Working\"": the name before "to".
    let before = before
        .strip_suffix(" to")
        .or_else(|| before.strip_suffix(" TO"))
        .unwrap_or(before)
        .trim_end();
    let word: String = before
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let lexicon = crate::lexicon::lexicon();
    let lower = word.to_lowercase();
    let ordinary = lexicon.is_determiner(&lower) || lexicon.is_compile_stop_word(&lower);
    (word.len() >= 2 && word.chars().any(char::is_alphabetic) && !ordinary).then_some(word)
}

fn cue_for_quote(text: &str, start: usize, end: usize) -> Cue {
    let after = word_after(text, end);
    if after == "template" {
        return Cue::Template;
    }
    if matches!(after.as_str(), "tab" | "sheet" | "range") {
        return Cue::Range;
    }
    for w in words_before(text, start, 3) {
        match w.as_str() {
            "subject" | "titled" | "title" | "called" | "named" | "name" | "headline"
            | "summary" => return Cue::Title,
            "saying" | "says" | "say" | "reading" | "reads" | "message" | "text" | "body"
            | "content" | "note" | "words" | "that" => return Cue::Body,
            "template" => return Cue::Template,
            "tab" | "sheet" | "range" => return Cue::Range,
            _ => {}
        }
    }
    Cue::Other
}

/// A1 notation with a sheet name or a span: `Orders!A:E`, `Summary!A1:B20`, `A2:D`.
fn is_a1_range(s: &str) -> bool {
    let (sheet, cells) = match s.split_once('!') {
        Some((sheet, cells)) => (Some(sheet), cells),
        None => (None, s),
    };
    let cell = |c: &str| {
        let letters = c.chars().take_while(char::is_ascii_uppercase).count();
        let digits = &c[letters..];
        (1..=3).contains(&letters) && digits.chars().all(|d| d.is_ascii_digit())
            || (letters == 0 && !digits.is_empty() && digits.chars().all(|d| d.is_ascii_digit()))
    };
    let span = match cells.split_once(':') {
        Some((a, b)) => cell(a) && cell(b),
        None => sheet.is_some() && cell(cells),
    };
    span && sheet.is_none_or(|n| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    })
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    (parts.len() == 5
        && parts
            .iter()
            .zip(lengths)
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit())))
        || (s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_key(s: &str) -> bool {
    let Some((letters, digits)) = s.split_once('-') else {
        return false;
    };
    letters.len() >= 2
        && letters.len() <= 10
        && letters.chars().all(|c| c.is_ascii_uppercase())
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
}

fn currency_word(w: &str) -> Option<&'static str> {
    match w {
        "usd" | "dollar" | "dollars" | "bucks" => Some("usd"),
        "eur" | "euro" | "euros" => Some("eur"),
        "gbp" | "pound" | "pounds" => Some("gbp"),
        "cad" => Some("cad"),
        "aud" => Some("aud"),
        "chf" => Some("chf"),
        _ => None,
    }
}

/// Takes the literals out of an instruction.
pub fn extract(text: &str) -> Extracted {
    let mut blanked: Vec<u8> = text.as_bytes().to_vec();
    let mut literals = Vec::new();
    take_quoted(text, &mut blanked, &mut literals);
    take_tokens(text, &mut blanked, &mut literals);
    Extracted {
        original: text.to_owned(),
        blanked: String::from_utf8_lossy(&blanked).into_owned(),
        literals,
    }
}

/// Replaces a taken literal's bytes with spaces, so positions still match the original.
fn blank(range: Range<usize>, blanked: &mut [u8]) {
    for b in &mut blanked[range] {
        *b = b' ';
    }
}

/// Takes out quoted text (the first kind of literal).
fn take_quoted(text: &str, blanked: &mut [u8], literals: &mut Vec<Spanned>) {
    // A single quote opens only at a word start and closes before a non-letter, so
    // "lead's message" stays a word.
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        let at_word_start = i == 0 || !chars[i - 1].1.is_alphanumeric();
        if is_quote(c)
            && at_word_start
            && let Some(j) = closing_quote(&chars, i)
        {
            let inner_start = pos + c.len_utf8();
            let inner_end = chars[j].0;
            let end = inner_end + chars[j].1.len_utf8();
            let inner = text[inner_start..inner_end].to_owned();
            if let Some(name) = name_before_quote(text, pos) {
                literals.push(Spanned {
                    literal: Literal::Named(name, inner.clone()),
                    at: pos..end,
                });
            }
            literals.push(Spanned {
                literal: Literal::Quoted(cue_for_quote(text, pos, end), inner),
                at: pos..end,
            });
            blank(pos..end, blanked);
            i = j + 1;
            continue;
        }
        i += 1;
    }
}

/// Where the quote opened at `open` closes: a closer of its kind at a word end, not next.
fn closing_quote(chars: &[(usize, char)], open: usize) -> Option<usize> {
    let closers = closing_for(chars[open].1);
    (open + 1..chars.len()).find(|&j| {
        let d = chars[j].1;
        let at_word_end = j + 1 == chars.len() || !chars[j + 1].1.is_alphanumeric();
        closers.contains(&d) && at_word_end && j > open + 1
    })
}

/// Takes out, from what is left, tokens such as addresses, channels, ids and money.
fn take_tokens(text: &str, blanked: &mut [u8], literals: &mut Vec<Spanned>) {
    let current = String::from_utf8_lossy(blanked).into_owned();
    let mut offset = 0;
    for raw in current.split(' ') {
        let start = offset;
        offset += raw.len() + 1;
        let token = raw.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
        let token = token.trim_start_matches('(');
        if token.is_empty() {
            continue;
        }
        let lead = raw.len() - raw.trim_start_matches('(').len();
        let range = start + lead..start + lead + token.len();
        if let Some(literal) = token_literal(text, token, &range) {
            literals.push(Spanned {
                literal,
                at: range.clone(),
            });
            blank(range, blanked);
        }
    }
}

/// The literal a token is: an address, channel, phone, range, UUID, key, long id or money.
fn token_literal(text: &str, token: &str, range: &Range<usize>) -> Option<Literal> {
    if let Some((local, domain)) = token.split_once('@')
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
    {
        return Some(Literal::Email(
            token.to_owned(),
            word_before(text, range.start),
        ));
    }
    // A web address: its ":" and "." are no clause separator or sentence end.
    if let Some(rest) = token
        .strip_prefix("https://")
        .or_else(|| token.strip_prefix("http://"))
        && rest
            .split('/')
            .next()
            .is_some_and(|host| host.contains('.'))
    {
        return Some(Literal::Url(token.to_owned()));
    }
    if let Some(name) = token.strip_prefix('#')
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    {
        return Some(Literal::Channel(token.to_ascii_lowercase()));
    }
    if token.len() >= 9
        && token.len() <= 16
        && token.starts_with('+')
        && token[1..].chars().all(|c| c.is_ascii_digit())
        && !token[1..].starts_with('0')
    {
        return Some(Literal::Phone(token.to_owned()));
    }
    if is_a1_range(token) {
        return Some(Literal::Range(token.to_owned()));
    }
    if is_uuid(token) {
        return Some(Literal::Uuid(
            token.to_ascii_lowercase(),
            word_before(text, range.start),
        ));
    }
    if is_key(token) {
        return Some(Literal::Key(token.to_owned()));
    }
    // A shorter one counts right after the document's name ("the template doc
    // 1tmplRefA9").
    let after_document = matches!(
        word_before(text, range.start).as_str(),
        "doc" | "document" | "spreadsheet"
    );
    if (token.len() >= 25 || (token.len() >= 6 && after_document))
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && token.chars().any(|c| c.is_ascii_digit())
        && token.chars().any(|c| c.is_ascii_alphabetic())
    {
        return Some(Literal::LongId(token.to_owned()));
    }
    money(text, token, range.end)
}

/// An amount of money: a number with a currency symbol or word, or in cents or pence.
fn money(text: &str, token: &str, end: usize) -> Option<Literal> {
    let (symbol, number) = match token.chars().next() {
        Some('$') => (Some("usd"), &token[1..]),
        Some('€') => (Some("eur"), &token['€'.len_utf8()..]),
        Some('£') => (Some("gbp"), &token['£'.len_utf8()..]),
        _ => (None, token),
    };
    let cleaned: String = number.chars().filter(|c| *c != ',').collect();
    let amount = cleaned.parse::<f64>().ok()?;
    let next = word_after(text, end);
    // "5000 cents in usd": minor units, the currency a word or two on.
    let minor = symbol.is_none() && matches!(next.as_str(), "cents" | "pence");
    let (amount, currency) = if minor {
        let rest: Vec<String> = text[end..]
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .skip(1)
            .take(2)
            .map(str::to_ascii_lowercase)
            .collect();
        let currency = rest
            .iter()
            .find_map(|w| currency_word(w))
            .or(match next.as_str() {
                "pence" => Some("gbp"),
                _ => None,
            });
        (amount / 100.0, currency)
    } else {
        (amount, symbol.or_else(|| currency_word(&next)))
    };
    (symbol.is_some() || currency.is_some() || minor)
        .then(|| Literal::Money(amount, currency.map(str::to_owned)))
}

/// Lowercase words, punctuation dropped; hyphenated words count whole and in parts.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-' || c == '_'))
    {
        let w = raw.trim_matches(|c| c == '\'' || c == '-' || c == '_');
        let w = w.strip_suffix("'s").unwrap_or(w);
        if w.is_empty() {
            continue;
        }
        out.push(w.to_owned());
        if w.contains(['-', '_']) {
            out.extend(
                w.split(['-', '_'])
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    out
}

/// Words as they stand, in order, without splitting hyphenated ones (for name matching).
pub fn plain_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '\''))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-' || c == '_'))
        .map(|w| w.strip_suffix("'s").unwrap_or(w).to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Splits a field or property name into lowercase words: `patient_email`,
/// `appointmentAt`, `state.name`, `MessageID` → `message`, `id`.
pub fn name_words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        let boundary = c.is_uppercase()
            && i > 0
            && (chars[i - 1].is_lowercase()
                || chars[i - 1].is_ascii_digit()
                || (chars[i - 1].is_uppercase()
                    && chars.get(i + 1).is_some_and(|n| n.is_lowercase())));
        if boundary && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A name reduced to lowercase letters and digits: `first_name` and `firstname` agree.
pub fn squash(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A word's stem, after the lexicon's synonyms.
pub fn stem(word: &str) -> String {
    crate::lexicon::lexicon().stem(word)
}

/// Whether a word carries no meaning for matching operations.
pub fn is_stop_word(word: &str) -> bool {
    crate::lexicon::lexicon().is_compile_stop_word(word)
}

/// The content words of a text, stemmed.
pub fn content(words: &[String]) -> Vec<String> {
    words
        .iter()
        .filter(|w| !is_stop_word(w))
        .map(|w| stem(w))
        .collect()
}

/// Where the trigger clause and the action stand in an instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct Clauses {
    pub trigger: Option<Range<usize>>,
    pub action: Vec<Range<usize>>,
}

/// A trigger clause in the middle of `body` (which starts at `start` of the
/// instruction): the action before it (up to `action_end`), the clause from `from` to the
/// end of its sentence, and whatever follows that sentence.
fn trailing(body: &str, start: usize, end: usize, action_end: usize, from: usize) -> Clauses {
    let sentence_end = body[from..]
        .find(['.', ';', '!'])
        .map(|p| from + p)
        .unwrap_or(body.len());
    // A comma after the event ends the clause too: "post in #sales whenever a deal is
    // updated, include the deal name".
    // (The event's end may hold the comma itself: "updated,".) With no comma, the
    // clause ends before a request or the step's verb ("hey so whenever a membership
    // gets created can you fire off ...").
    let event = super::trigger::event_end(&body[from..sentence_end]).map(|e| from + e);
    let to = event
        .map(|e| e.saturating_sub(1))
        .and_then(|at| body[at..sentence_end].find(',').map(|c| at + c))
        .or_else(|| event.and_then(|e| step_verb_after(body, e, sentence_end)))
        .unwrap_or(sentence_end);
    let mut action: Vec<Range<usize>> = std::iter::once(start..start + action_end).collect();
    if to < body.len() {
        action.push(start + to + 1..end);
    }
    Clauses {
        trigger: Some(start + from..start + to),
        action,
    }
}

/// Where a step's verb starts between `from` (the end of a trigger's event word) and
/// `to` of `body`, trimmed of the space before it: a word the lexicon lists as one,
/// right after the event or after a short phrase that starts with a preposition ("in
/// hubspot"), and not after a determiner ("receives a text message" is no step).
fn step_verb_after(body: &str, from: usize, to: usize) -> Option<usize> {
    let lexicon = crate::lexicon::lexicon();
    let mut offset = from;
    let mut between: Vec<&str> = Vec::new();
    // A parenthesis is an aside ("is updated (like someone switches plans) append ...").
    let mut aside = false;
    for raw in body[from..to].split(' ') {
        let at = offset;
        offset += raw.len() + 1;
        if raw.is_empty() {
            continue;
        }
        if raw.starts_with('(') || aside {
            aside = !raw.ends_with(')');
            continue;
        }
        // "... is submited please create ...": a request begins the step.
        if lexicon.request_words.iter().any(|v| v == raw) {
            return Some(at.saturating_sub(1).max(from));
        }
        if lexicon.step_verbs.iter().any(|v| v == raw) {
            let phrase = between.is_empty()
                || (between.len() <= 4
                    && matches!(
                        between[0],
                        "in" | "on" | "at" | "via" | "from" | "through" | "into" | "by"
                    )
                    && !between.last().is_some_and(|w| lexicon.is_determiner(w)));
            return phrase.then(|| at.saturating_sub(1).max(from));
        }
        between.push(raw);
    }
    None
}

/// Splits the (blanked) instruction into its trigger clause and its action.
/// "When X happens, do Y", "Do Y when X happens", "On X, do Y".
pub fn clauses(blanked: &str) -> Clauses {
    let lower = blanked.to_ascii_lowercase();
    let end = lower.trim_end().len();
    // An instruction blanked to nothing but spaces (a lone phone number) is empty.
    let start = (lower.len() - lower.trim_start().len()).min(end);
    let lexicon = crate::lexicon::lexicon();
    // A lead-in before the cue ("Warehouse lead here: when ...", "dev here - when ..."):
    // the instruction starts after it.
    let start = {
        let body = &lower[start..end];
        body.char_indices()
            .take_while(|(i, _)| *i < 60)
            .filter(|(_, c)| matches!(c, ':' | '-' | '—'))
            .map(|(i, c)| i + c.len_utf8())
            .find(|&i| {
                let rest = body[i..].trim_start();
                body[..i].contains(' ')
                    && lexicon.trigger_cues.leading.iter().any(|cue| {
                        rest.strip_prefix(cue.as_str())
                            .is_some_and(|r| r.starts_with(' '))
                    })
            })
            .map(|i| start + i + (body[i..].len() - body[i..].trim_start().len()))
            .unwrap_or(start)
    };
    let body = &lower[start..end];
    leading_clause(&lower, start, end)
        .or_else(|| trailing_clause(body, start, end))
        .or_else(|| inner_clause(body, start, end))
        .or_else(|| separated_clause(body, start, end))
        .unwrap_or_else(|| Clauses {
            trigger: None,
            action: std::iter::once(start..end).collect(),
        })
}

/// "When X happens, do Y", "On X, do Y": a cue first (misspelt or not).
fn leading_clause(lower: &str, start: usize, end: usize) -> Option<Clauses> {
    let lexicon = crate::lexicon::lexicon();
    let body = &lower[start..end];
    let first_word = body.split([' ', ',']).next().unwrap_or_default();
    // A misspelt cue ("wen an order is placed"): close to a cue word, not a word itself.
    let fuzzy_cue = first_word.len() >= 3
        && !lexicon.trigger_cues.leading.iter().any(|c| c == first_word)
        && !lexicon.is_ordinary_capital(first_word)
        && !lexicon.is_compile_stop_word(first_word)
        && lexicon.trigger_cues.fuzzy.iter().any(|c| {
            strsim::damerau_levenshtein(c, first_word) == 1 && c.len() + 1 >= first_word.len()
        });
    // The cue the misspelt word stands for, with the rest of that cue after it
    // ("evry time" → "every time").
    let fuzzy_match = |cue: &str| {
        let mut parts = cue.splitn(2, ' ');
        let head = parts.next().unwrap_or_default();
        let rest = parts.next();
        fuzzy_cue
            && strsim::damerau_levenshtein(head, first_word) == 1
            && rest.is_none_or(|r| body[first_word.len()..].trim_start().starts_with(r))
    };
    // "after that, ...", "once done ...": the step follows the one before; no trigger.
    let sequenced = lexicon.sequence_phrases.iter().any(|p| {
        body.strip_prefix(p.as_str())
            .is_some_and(|r| r.starts_with([' ', ',']))
    });
    // The longest cue first: "upon receipt of" before "upon".
    let mut leading: Vec<&String> = lexicon.trigger_cues.leading.iter().collect();
    leading.sort_by_key(|c| std::cmp::Reverse(c.len()));
    for cue in leading.into_iter().filter(|_| !sequenced) {
        let opens = body
            .strip_prefix(cue.as_str())
            .is_some_and(|r| r.starts_with(' '))
            || fuzzy_match(cue);
        if opens {
            let separator = body
                .find([',', ';', ':'])
                .or_else(|| body.find(" then "))
                .or_else(|| body.find(". "));
            // No comma after the event: "when a bug report arrives file it in linear
            // under the Storefront team, ...", "when a contact is created in hubspot
            // create ...": the clause ends before the step's verb.
            let event = super::trigger::event_end(body);
            let clause_end = match event.filter(|e| separator.is_none_or(|s| *e < s)) {
                Some(event) => Some(
                    step_verb_after(body, event, separator.unwrap_or(body.len()))
                        .unwrap_or(separator.unwrap_or(event)),
                ),
                None => separator,
            };
            if let Some(clause_end) = clause_end {
                let trigger = start..start + clause_end;
                let mut action_start = start + clause_end;
                // Skip the separator and a "then".
                let rest = &lower[action_start..end];
                let skipped = rest.len()
                    - rest
                        .trim_start_matches([',', ';', ':', '.', ' '])
                        .trim_start_matches("then ")
                        .trim_start_matches([',', ' '])
                        .len();
                action_start += skipped;
                return Some(Clauses {
                    trigger: Some(trigger),
                    action: std::iter::once(action_start..end).collect(),
                });
            }
        }
    }
    None
}

/// "Do Y when X happens": a cue in the middle, or a misspelt one before an event.
fn trailing_clause(body: &str, start: usize, end: usize) -> Option<Clauses> {
    let lexicon = crate::lexicon::lexicon();
    for cue in &lexicon.trigger_cues.trailing {
        let cue = format!(" {cue} ");
        // "after" trails only as a clause of its own ("..., after the form is sent").
        if let Some(pos) = body.find(&cue) {
            // "after" trails as a clause of its own ("..., after the form is sent"), or
            // when what follows says an event ("refund it after an order gets cancelled"),
            // not a thing ("email them after the refund").
            let clause = body[pos + cue.len()..]
                .split([',', ';', '.'])
                .next()
                .unwrap_or_default();
            let needs_event = match cue.as_str() {
                " after " => !body[..pos].ends_with(','),
                " if " => true,
                _ => false,
            };
            if needs_event && super::trigger::event_end(clause).is_none() {
                continue;
            }
            return Some(trailing(body, start, end, pos, pos + 1));
        }
    }
    // A misspelt cue in the middle ("... with mailgun whenevr an invoice is created"):
    // a word of five letters or more one edit from a cue word, before an event.
    let mut offset = 0;
    for token in body.split(' ') {
        let at = offset;
        offset += token.len() + 1;
        if at == 0 || token.len() < 5 {
            continue;
        }
        let misspelt = lexicon.trigger_cues.fuzzy.iter().any(|cue| {
            cue.len() >= 5 && cue != token && strsim::damerau_levenshtein(cue, token) == 1
        });
        let rest = &body[(at + token.len()).min(body.len())..];
        if misspelt && super::trigger::event_end(rest).is_some() {
            return Some(trailing(body, start, end, at, at));
        }
    }
    None
}

/// A trigger inside the action ("log every intake form submission as a row").
fn inner_clause(body: &str, start: usize, end: usize) -> Option<Clauses> {
    let lexicon = crate::lexicon::lexicon();
    // A trigger inside the action: "log every intake form submission as a row",
    // "put every confirmed appointment request on the calendar", "log each refund that
    // gets created to the sheet". The clause runs to its event word; the rest is action.
    // (A misspelt cue counts too: "log evry refund created in billing ...".)
    let misspelt_inner = |cue: &str| -> Option<usize> {
        let mut offset = 0;
        for token in body.split(' ') {
            let at = offset;
            offset += token.len() + 1;
            if at > 0
                && cue.len() >= 5
                && token.len() >= 4
                && token != cue
                && !matches!(token, "ever" | "very" | "every")
                && strsim::damerau_levenshtein(cue, token) == 1
            {
                return Some(at - 1);
            }
        }
        None
    };
    for cue_word in &lexicon.trigger_cues.inner {
        let cue = format!(" {cue_word} ");
        let Some(pos) = body.find(&cue).or_else(|| misspelt_inner(cue_word)) else {
            continue;
        };
        let from = pos + 1;
        let rest = &body[from..];
        let clause = rest.split([',', ';', '.']).next().unwrap_or_default();
        let Some(event_end) = super::trigger::event_end(clause) else {
            continue;
        };
        let to = from + event_end;
        let mut action: Vec<Range<usize>> = std::iter::once(start..start + pos).collect();
        if to < body.len() {
            action.push(start + to..end);
        }
        return Some(Clauses {
            trigger: Some(start + from..start + to),
            action,
        });
    }
    None
}

/// No cue word: "new lead form submission -> create ...".
fn separated_clause(body: &str, start: usize, end: usize) -> Option<Clauses> {
    let lexicon = crate::lexicon::lexicon();
    // No cue word: "new lead form submission -> create ...", "Lead form submitted:
    // create ...". The part before the separator is the trigger when it says an event.
    for separator in &lexicon.clause_separators {
        if let Some(pos) = body.find(separator.as_str()) {
            let before = &body[..pos];
            // "then set its status to Working - Contacted": a later step, not an event.
            let first = before.split_whitespace().next().unwrap_or_default();
            if matches!(first, "then" | "and" | "also") {
                continue;
            }
            // ("someone posts a msg in slack -> ...": a verb of the third person.)
            let says_event = super::trigger::event_end(before).is_some()
                || before.split_whitespace().any(|w| {
                    w == "new"
                        || (w.len() > 3
                            && w.ends_with('s')
                            && !w.ends_with("ss")
                            && lexicon.event_of_verb(w, None).is_some()
                            && before.split_whitespace().next() != Some(w))
                });
            if says_event && !before.trim().is_empty() && pos < 80 {
                let after = pos + separator.len();
                let skipped = body[after..].len() - body[after..].trim_start().len();
                return Some(Clauses {
                    trigger: Some(start..start + pos),
                    action: std::iter::once(start + after + skipped..end).collect(),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instruction_blanked_to_spaces_has_empty_clauses() {
        // A lone phone number is taken out as a literal, leaving only spaces.
        let e = extract("+15551234567");
        assert!(e.blanked.trim().is_empty(), "{:?}", e.blanked);
        let _ = clauses(&e.blanked);
        let _ = clauses("      ");
    }

    #[test]
    fn literals_are_taken_out_before_words_are_read() {
        let e = extract(
            "Email the receipt from billing@clinic.example to #front-desk saying \"See you when you arrive\" for $50 in team ENG-12",
        );
        assert!(!e.blanked.contains("billing"));
        assert!(!e.blanked.contains("arrive"));
        let kinds: Vec<&Literal> = e.literals.iter().map(|s| &s.literal).collect();
        assert!(kinds.contains(&&Literal::Email(
            "billing@clinic.example".into(),
            "from".into()
        )));
        assert!(kinds.contains(&&Literal::Channel("#front-desk".into())));
        assert!(kinds.contains(&&Literal::Quoted(
            Cue::Body,
            "See you when you arrive".into()
        )));
        assert!(kinds.contains(&&Literal::Money(50.0, Some("usd".into()))));
        assert!(kinds.contains(&&Literal::Key("ENG-12".into())));
        assert_eq!(e.blanked.len(), e.original.len());
    }

    #[test]
    fn apostrophes_inside_words_are_not_quotes() {
        let e = extract("post the lead's message and the 'Feedback' tab");
        assert_eq!(e.literals.len(), 1);
        assert_eq!(
            e.literals[0].literal,
            Literal::Quoted(Cue::Range, "Feedback".into())
        );
    }

    #[test]
    fn names_split_into_words() {
        assert_eq!(name_words("patient_email"), vec!["patient", "email"]);
        assert_eq!(name_words("MessageID"), vec!["message", "id"]);
        assert_eq!(name_words("appointmentAt"), vec!["appointment", "at"]);
        assert_eq!(name_words("state.name"), vec!["state", "name"]);
        assert_eq!(squash("first_name"), "firstname");
    }

    #[test]
    fn trigger_clauses_lead_or_trail() {
        let text = "When the intake form is submitted, send an email";
        let c = clauses(text);
        assert_eq!(
            &text[c.trigger.clone().expect("trigger")],
            "When the intake form is submitted"
        );
        assert_eq!(&text[c.action[0].clone()], "send an email");
        let text = "Send an email when the intake form is submitted.";
        let c = clauses(text);
        assert_eq!(
            &text[c.trigger.clone().expect("trigger")],
            "when the intake form is submitted"
        );
        assert_eq!(&text[c.action[0].clone()], "Send an email");
        let c = clauses("Post the id to Slack");
        assert!(c.trigger.is_none());
    }
}
