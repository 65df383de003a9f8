//! The provider catalog: one declarative YAML file per provider in `shared/providers/`,
//! embedded at build time (see [`embedded`]) and checked by a test that walks them all.
//!
//! A provider file declares who the provider is (id, names people use, what people
//! want from it), how to authenticate (auth scheme and credential fields, secret or
//! not), its settings (config fields), a cheap verification request, its operations
//! (method, path, body encoding, input and response schemas from the provider's own
//! API definition, side effects, idempotency and rate-limit headers, a sample input
//! and response) and its webhooks. Custom HTTP integrations build the same structure
//! from what the user declares.
//!
//! Templates: strings in `base_url`, `path`, `query`, `headers`, auth values and
//! `defaults` may hold placeholders `{input.x}`, `{config.x}` and `{credentials.x}`;
//! the catalog test checks each names a declared input property, config field or
//! credential field.

mod check;
pub mod custom;
mod embedded;
mod model;
pub mod schema_limits;
mod template;
mod values;

use std::collections::BTreeMap;
use std::sync::OnceLock;

pub use check::{
    cached_validator, check, check_declaration, compile_schema, operation_validator,
    schema_validator, validation_errors,
};
pub use model::*;
pub use template::{Placeholder, Source, placeholders};
pub use values::{
    applies, check_config, check_config_keeping, check_credentials, check_value, check_values,
    required_credentials,
};

/// All providers, parsed once.
#[derive(Debug)]
pub struct Catalog {
    providers: BTreeMap<crate::domain::ProviderId, Provider>,
}

/// Why the provider files do not load: the file at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider file {file}: {message}")]
pub struct CatalogError {
    /// The provider file (`postmark.yaml`).
    pub file: String,
    /// What is wrong: a parse error, an id that does not match the file name, a
    /// duplicate.
    pub message: String,
}

impl Catalog {
    /// Parses provider files given as (file name, JSON text): `build.rs` converts the
    /// YAML in `shared/providers/` to JSON.
    pub fn parse<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, CatalogError> {
        let mut providers = BTreeMap::new();
        for (file, text) in files {
            let provider: Provider = serde_json::from_str(text).map_err(|e| CatalogError {
                file: file.to_owned(),
                message: e.to_string(),
            })?;
            let expected = file.trim_end_matches(".yaml");
            if provider.id != expected {
                return Err(CatalogError {
                    file: file.to_owned(),
                    message: format!("id {:?} does not match the file name", provider.id),
                });
            }
            if providers.insert(provider.id.clone(), provider).is_some() {
                return Err(CatalogError {
                    file: file.to_owned(),
                    message: "duplicate provider id".into(),
                });
            }
        }
        Ok(Self { providers })
    }

    /// The provider with this id, if the catalog has it (Custom HTTP is not in it).
    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id)
    }

    /// Every provider, in id order.
    pub fn providers(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }

    /// How many providers there are.
    pub fn len(&self) -> usize {
        self.providers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}

/// The embedded catalog. Its files are checked by the catalog test, so a parse error
/// here is a build defect; it is still returned as an error, not a panic.
pub fn catalog() -> Result<&'static Catalog, CatalogError> {
    static CATALOG: OnceLock<Result<Catalog, CatalogError>> = OnceLock::new();
    CATALOG
        .get_or_init(|| Catalog::parse(embedded::FILES.iter().copied()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Why [`provider_for`] found no provider.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderLookupError {
    /// The Custom HTTP declaration does not build (these problems).
    Declaration(Vec<crate::domain::InvalidValue>),
    /// No catalog entry has this id.
    Unknown(String),
    /// The embedded catalog did not parse (a build defect).
    Catalog(String),
}

impl std::fmt::Display for ProviderLookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Declaration(problems) => {
                write!(
                    f,
                    "the Custom HTTP declaration does not build: {problems:?}"
                )
            }
            Self::Unknown(id) => write!(f, "unknown provider {id}"),
            Self::Catalog(why) => write!(f, "{why}"),
        }
    }
}

/// The provider an integration is built on: its catalog entry, borrowed (a provider
/// with its schemas and samples is large, and steps and webhook deliveries look it up
/// every time), or for Custom HTTP the user's declaration, built.
pub fn provider_for(
    name: &str,
    provider: &str,
    config: &serde_json::Map<String, serde_json::Value>,
) -> Result<std::borrow::Cow<'static, Provider>, ProviderLookupError> {
    if provider == custom::ID {
        return custom::build(name, config)
            .map(std::borrow::Cow::Owned)
            .map_err(ProviderLookupError::Declaration);
    }
    catalog()
        .map_err(|e| ProviderLookupError::Catalog(e.to_string()))?
        .get(provider)
        .map(std::borrow::Cow::Borrowed)
        .ok_or_else(|| ProviderLookupError::Unknown(provider.to_owned()))
}

/// The embedded files as (YAML file name, JSON text), for the catalog test.
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    embedded::FILES
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the whole catalog: every file in `shared/providers/` is embedded and parses,
    /// every placeholder is declared, every auth scheme has its fields, every schema
    /// compiles, and every operation's sample input and response validate.
    #[test]
    fn every_provider_file_is_embedded_parses_and_checks_clean() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("providers");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("providers/")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = embedded_files()
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "embedded.rs lists exactly the files in shared/providers/"
        );

        let catalog = match catalog() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        // build.rs's JSON reads as the YAML does: the same provider, field for field.
        for name in &on_disk {
            let yaml = std::fs::read_to_string(dir.join(name)).expect("provider file");
            let from_yaml: Provider = match serde_norway::from_str(&yaml) {
                Ok(p) => p,
                Err(e) => panic!("{name}: {e}"),
            };
            let id = name.trim_end_matches(".yaml");
            assert_eq!(
                catalog.get(id),
                Some(&from_yaml),
                "{name}: the embedded JSON reads as the YAML"
            );
        }
        let mut report = Vec::new();
        for provider in catalog.providers() {
            for problem in check(provider) {
                report.push(format!("{}: {problem}", provider.id));
            }
        }
        assert!(
            report.is_empty(),
            "catalog problems:\n{}",
            report.join("\n")
        );
    }

    #[test]
    fn the_checker_finds_undeclared_placeholders_and_bad_samples() {
        let text = embedded_files()
            .iter()
            .find(|(n, _)| *n == "postmark.yaml")
            .map(|(_, t)| *t)
            .expect("postmark");
        let mut provider: Provider = serde_json::from_str(text).expect("parses");
        provider.operations[0].path = "/email/{input.nope}".into();
        provider.operations[0].sample_response = serde_json::json!({"MessageID": 5});
        provider.base_url = "http://{config.missing}".into();
        let problems = check(&provider);
        let joined = problems.join("\n");
        assert!(joined.contains("{input.nope}"), "{joined}");
        assert!(joined.contains("{config.missing}"), "{joined}");
        assert!(
            joined.contains("sample for response_schema does not validate"),
            "{joined}"
        );
    }
}
