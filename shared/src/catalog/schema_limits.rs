//! Limits on the JSON schemas a Custom HTTP integration declares, checked before a
//! schema is compiled: how deep it nests, how many properties and enum values it
//! declares, that its `$ref`s stay inside it, and how far its patterns repeat.
//!
//! A declared schema is compiled and walked for every step that uses it (input
//! validation, the sandbox's mock response), so its size is the work each step does.
//! The limits sit well above what the catalog's own providers need (the largest, FHIR's
//! resource input, declares 314 properties and nests 9 levels); what they refuse is a
//! schema built to make that work explode. A `$ref` that leaves the document would make
//! the schema depend on something fetched or resolved elsewhere: only `#…` is allowed.

use serde_json::Value;

use crate::runtime::mock::MAX_PATTERN_REPEAT;

/// Levels of JSON nesting in a declared schema (a property's schema sits two levels below
/// its object's: `properties`, then the name).
pub const MAX_SCHEMA_DEPTH: usize = 64;
/// Properties one schema declares, every `properties` map in it counted.
pub const MAX_SCHEMA_PROPERTIES: usize = 1_000;
/// Values of one `enum`.
pub const MAX_ENUM_VALUES: usize = 256;
/// Problems reported per schema: the first few say what to fix.
const MAX_PROBLEMS: usize = 5;

/// What is wrong with a declared schema against the limits, one message each (none when
/// it is within them). A message starts with where in the schema (a JSON pointer).
pub fn check(schema: &Value) -> Vec<String> {
    let mut walk = Walk::default();
    walk.schema(schema, "", 0);
    walk.problems
}

#[derive(Default)]
struct Walk {
    properties: usize,
    problems: Vec<String>,
    reported_depth: bool,
    reported_properties: bool,
}

impl Walk {
    fn report(&mut self, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(message);
        }
    }

    /// Whether `depth` is within the limit (the first level past it is reported once).
    fn within_depth(&mut self, at: &str, depth: usize) -> bool {
        if depth <= MAX_SCHEMA_DEPTH {
            return true;
        }
        if !self.reported_depth {
            self.reported_depth = true;
            self.report(format!(
                "at {}: the schema nests deeper than {MAX_SCHEMA_DEPTH} levels",
                shown(at)
            ));
        }
        false
    }

    /// A value in a schema's place: its keywords checked, its members walked.
    fn schema(&mut self, value: &Value, at: &str, depth: usize) {
        if self.problems.len() >= MAX_PROBLEMS || !self.within_depth(at, depth) {
            return;
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    self.keyword(k, v, &format!("{at}/{}", escaped(k)), depth + 1);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.schema(item, &format!("{at}/{i}"), depth + 1);
                }
            }
            _ => {}
        }
    }

    fn keyword(&mut self, keyword: &str, value: &Value, at: &str, depth: usize) {
        match (keyword, value) {
            ("$ref" | "$dynamicRef" | "$recursiveRef", Value::String(target))
                if !target.starts_with('#') =>
            {
                self.report(format!(
                    "at {at}: {target:?} is outside this schema; only local references \
                     (#/$defs/name) are allowed"
                ));
            }
            ("enum", Value::Array(values)) => {
                if values.len() > MAX_ENUM_VALUES {
                    self.report(format!(
                        "at {at}: {} values; an enum holds at most {MAX_ENUM_VALUES}",
                        values.len()
                    ));
                }
                self.data(value, at, depth);
            }
            // Values, not schemas: a `$ref` inside an example is text.
            ("const" | "default" | "examples", _) => self.data(value, at, depth),
            ("pattern", Value::String(pattern)) => self.pattern(pattern, at),
            (
                "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas",
                Value::Object(map),
            ) => {
                if keyword == "properties" {
                    self.count_properties(map.len(), at);
                }
                for (name, sub) in map {
                    if keyword == "patternProperties" {
                        self.pattern(name, at);
                    }
                    self.schema(sub, &format!("{at}/{}", escaped(name)), depth + 1);
                }
            }
            _ => self.schema(value, at, depth),
        }
    }

    fn count_properties(&mut self, more: usize, at: &str) {
        self.properties += more;
        if self.properties > MAX_SCHEMA_PROPERTIES && !self.reported_properties {
            self.reported_properties = true;
            self.report(format!(
                "at {at}: the schema declares more than {MAX_SCHEMA_PROPERTIES} properties"
            ));
        }
    }

    fn pattern(&mut self, pattern: &str, at: &str) {
        if pattern_repetitions(pattern) > MAX_PATTERN_REPEAT as u64 {
            self.report(format!(
                "at {at}: the pattern repeats more than {MAX_PATTERN_REPEAT} times (counted \
                 through nested groups: (a{{256}}){{40}} is 10240)"
            ));
        }
    }

    /// A value that is data (an enum's, a const, an example): only its depth counts.
    fn data(&mut self, value: &Value, at: &str, depth: usize) {
        if !self.within_depth(at, depth) {
            return;
        }
        match value {
            Value::Object(map) => map.values().for_each(|v| self.data(v, at, depth + 1)),
            Value::Array(items) => items.iter().for_each(|v| self.data(v, at, depth + 1)),
            _ => {}
        }
    }
}

/// A JSON pointer segment for `key` (`~` and `/` escaped).
fn escaped(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn shown(at: &str) -> &str {
    if at.is_empty() { "the top level" } else { at }
}

/// How many characters `pattern` spans with its counted quantifiers expanded, nested
/// ones multiplied and every alternative counted: `(a{256}){40}` is 10,240,
/// `^[0-9a-f]{32}$` is 34. This is the size a regex engine compiles the pattern to, and
/// what a string made from it may need; one pass over the pattern, no regex parsed.
fn pattern_repetitions(pattern: &str) -> u64 {
    /// A group being read: what it spans so far, and its last atom (which a
    /// quantifier repeats).
    #[derive(Default)]
    struct Group {
        total: u64,
        last: u64,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut stack = vec![Group::default()];
    let mut i = 0;
    while i < chars.len() {
        let atom = match chars[i] {
            '\\' => {
                // `\p{L}`, `\x{41}`, `\u{41}`: the braces are the escape's.
                if matches!(chars.get(i + 1), Some('p' | 'P' | 'x' | 'u'))
                    && chars.get(i + 2) == Some(&'{')
                {
                    i = closing(&chars, i + 2, '}');
                } else {
                    i += 1;
                }
                Some(1)
            }
            '[' => {
                i = class_end(&chars, i);
                Some(1)
            }
            '(' => {
                stack.push(Group::default());
                None
            }
            // An unbalanced `)` does not compile; it counts as one character here.
            ')' if stack.len() == 1 => Some(1),
            ')' => stack.pop().map(|g| g.total),
            '|' => {
                if let Some(group) = stack.last_mut() {
                    group.last = 0;
                }
                None
            }
            '{' => match counted(&chars, i) {
                Some((times, end)) => {
                    if let Some(group) = stack.last_mut() {
                        let more = group.last.saturating_mul(times.saturating_sub(1));
                        group.total = group.total.saturating_add(more);
                        group.last = group.last.saturating_mul(times);
                    }
                    i = end;
                    None
                }
                None => Some(1),
            },
            '*' | '+' | '?' | '^' | '$' => None,
            _ => Some(1),
        };
        if let (Some(size), Some(group)) = (atom, stack.last_mut()) {
            group.total = group.total.saturating_add(size);
            group.last = size;
        }
        i += 1;
    }
    // Groups left open count as if closed.
    stack.iter().map(|g| g.total).fold(0, u64::saturating_add)
}

/// The index of the first `close` at or after `from` (the last index when none).
fn closing(chars: &[char], from: usize, close: char) -> usize {
    chars[from..]
        .iter()
        .position(|c| *c == close)
        .map_or(chars.len().saturating_sub(1), |p| from + p)
}

/// The index of the `]` closing the class opened at `open` (escapes and a leading `]`
/// are the class's).
fn class_end(chars: &[char], open: usize) -> usize {
    let mut i = open + 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            ']' => return i,
            _ => i += 1,
        }
    }
    chars.len().saturating_sub(1)
}

/// `{n}`, `{n,}` or `{n,m}` at `open`: the most repetitions it allows (n, or m; a count
/// too large for a u64 is u64::MAX) and the index of its `}`; `None` when the brace is a
/// literal. The `}` is looked for in the next 64 characters, so a pattern of many `{`
/// is still read in one pass.
fn counted(chars: &[char], open: usize) -> Option<(u64, usize)> {
    let close = open + chars[open..].iter().take(64).position(|c| *c == '}')?;
    let inner: String = chars[open + 1..close].iter().collect();
    let count = |text: &str| {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().unwrap_or(u64::MAX))
    };
    let (low, high) = match inner.split_once(',') {
        Some((low, high)) => (count(low.trim())?, count(high.trim())),
        None => (count(inner.trim())?, None),
    };
    Some((high.unwrap_or(low).max(low), close))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn patterns_count_their_repetitions_through_nested_groups() {
        assert_eq!(pattern_repetitions("(a{256}){40}"), 10_240);
        assert_eq!(pattern_repetitions("^[0-9a-f]{32}$"), 32);
        assert_eq!(pattern_repetitions("^(SM|MM)[0-9a-fA-F]{32}$"), 36);
        assert_eq!(pattern_repetitions("^\\d{10}\\.\\d{6}$"), 17);
        assert_eq!(pattern_repetitions("a{2,900}"), 900);
        assert_eq!(pattern_repetitions("\\p{L}{3}[{]{2}"), 5);
        assert_eq!(pattern_repetitions("((((a{10}){10}){10}){10}"), 10_000);
        assert_eq!(pattern_repetitions("x{99999999999999999999}"), u64::MAX);
        assert_eq!(
            pattern_repetitions("a)b"),
            3,
            "an unbalanced ) is one character"
        );
    }

    #[test]
    fn schemas_within_the_limits_pass_and_each_limit_is_named() {
        let fine = json!({
            "type": "object",
            "properties": {
                "state": {"enum": ["open", "closed"]},
                "owner": {"$ref": "#/$defs/user"},
                "example": {"const": {"$ref": "https://not.a.ref.example"}}
            },
            "$defs": {"user": {"type": "string", "pattern": "^[a-z]{3,32}$"}}
        });
        assert_eq!(check(&fine), Vec::<String>::new());

        let remote = json!({"properties": {"a": {"$ref": "https://evil.example/s.json"}}});
        let problems = check(&remote);
        assert!(
            problems[0].starts_with("at /properties/a/$ref:") && problems[0].contains("local"),
            "{problems:?}"
        );

        let wide = json!({"enum": (0..300).collect::<Vec<_>>()});
        assert!(
            check(&wide)[0].contains("at most 256"),
            "{:?}",
            check(&wide)
        );

        let mut properties = serde_json::Map::new();
        for i in 0..1001 {
            properties.insert(format!("p{i}"), json!({"type": "string"}));
        }
        let many = json!({"type": "object", "properties": properties});
        assert!(check(&many)[0].contains("more than 1000 properties"));

        let mut deep = json!({"type": "string"});
        for _ in 0..40 {
            deep = json!({"type": "object", "properties": {"x": deep}});
        }
        assert!(
            check(&deep)[0].contains("deeper than 64 levels"),
            "{:?}",
            check(&deep)
        );

        let repeated = json!({"type": "string", "pattern": "(a{256}){40}"});
        assert!(check(&repeated)[0].starts_with("at /pattern: the pattern repeats"));
    }
}
