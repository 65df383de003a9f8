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

mod embedded;
mod model;
mod template;

use std::collections::BTreeMap;
use std::sync::OnceLock;

pub use model::*;
pub use template::{Placeholder, Source, placeholders};

/// All providers, parsed once.
#[derive(Debug)]
pub struct Catalog {
    providers: BTreeMap<String, Provider>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider file {file}: {message}")]
pub struct CatalogError {
    pub file: String,
    pub message: String,
}

impl Catalog {
    /// Parses provider files given as (file name, YAML text).
    pub fn parse<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, CatalogError> {
        let mut providers = BTreeMap::new();
        for (file, text) in files {
            let provider: Provider = serde_norway::from_str(text)
                .map_err(|e| CatalogError { file: file.to_owned(), message: e.to_string() })?;
            let expected = file.trim_end_matches(".yaml");
            if provider.id != expected {
                return Err(CatalogError {
                    file: file.to_owned(),
                    message: format!("id {:?} does not match the file name", provider.id),
                });
            }
            if providers.insert(provider.id.clone(), provider).is_some() {
                return Err(CatalogError { file: file.to_owned(), message: "duplicate provider id".into() });
            }
        }
        Ok(Self { providers })
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id)
    }

    pub fn providers(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }

    pub fn len(&self) -> usize {
        self.providers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}

/// The embedded catalog. Its files are checked by the catalog test, so a parse error
/// here is a build defect; it is still returned as an error, not a panic.
pub fn catalog() -> Result<&'static Catalog, CatalogError> {
    static CATALOG: OnceLock<Result<Catalog, CatalogError>> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::parse(embedded::FILES.iter().copied())).as_ref().map_err(Clone::clone)
}

/// The embedded files, by name (for the catalog test).
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    embedded::FILES
}
