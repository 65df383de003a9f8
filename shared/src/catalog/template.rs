//! Placeholders in provider templates: `{input.x}`, `{config.x}`, `{credentials.x}`.

/// Where a placeholder's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// `{input.x}`: a field of the step's input.
    Input,
    /// `{config.x}`: a field of the integration's non-secret config.
    Config,
    /// `{credentials.x}`: a credential field, real live and masked in sandbox.
    Credentials,
}

/// One `{source.name}` placeholder of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Placeholder {
    /// Where its value comes from.
    pub source: Source,
    /// The field it names: ASCII letters, digits, `_` and `-`.
    pub name: String,
}

/// The placeholders of a template, in order; an error names a malformed one.
pub fn placeholders(template: &str) -> Result<Vec<Placeholder>, String> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {template:?}"))?;
        let inner = &after[..end];
        let (source, name) = inner.split_once('.').ok_or_else(|| {
            format!("placeholder {{{inner}}} needs a source: input., config. or credentials.")
        })?;
        let source = match source {
            "input" => Source::Input,
            "config" => Source::Config,
            "credentials" => Source::Credentials,
            other => {
                return Err(format!(
                    "unknown placeholder source {other:?} in {{{inner}}}"
                ));
            }
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("bad placeholder name in {{{inner}}}"));
        }
        found.push(Placeholder {
            source,
            name: name.to_owned(),
        });
        rest = &after[end + 1..];
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_with_their_sources() {
        let found = placeholders("/v3/{config.domain}/messages/{input.id}").expect("valid");
        assert_eq!(
            found,
            vec![
                Placeholder {
                    source: Source::Config,
                    name: "domain".into()
                },
                Placeholder {
                    source: Source::Input,
                    name: "id".into()
                },
            ]
        );
        assert!(placeholders("/{secret}").is_err());
        assert!(placeholders("/{input.x").is_err());
        assert!(placeholders("/{env.HOME}").is_err());
        assert_eq!(placeholders("/plain").expect("valid"), vec![]);
    }
}
