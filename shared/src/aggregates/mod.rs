//! The application layer: one module per aggregate. Each owns its part of the single
//! table (its keys, spelled nowhere else), its reads and writes over the [`Store`]
//! port, and the use cases the HTTP handlers and the Lambda event handler call. A use
//! case takes [`Deps`] and typed inputs and returns typed results or an [`Error`];
//! it knows nothing of axum or Lambda.
//!
//! | aggregate | keys (under the project's partition `P#{project}` unless said) |
//! |---|---|
//! | [`projects`] | `P#{project}` / `META` |
//! | [`integrations`] | `I#{name}` (credentials sealed inside), `L#{name}#refresh`; audit records in `A#{project}#{name}` |
//! | [`workflows`] | `W#{workflow}`, `W#{workflow}#S#{nn}` (contracts), `D#{integration}#{workflow}#{nn}` (edges), `T#…` (subscriptions) |
//! | [`runs`] | `R#{run}`, `R#{run}#S#{nn}` (traces), `R#{run}#C#{nn}` (claims), `K#{hash}` (occasions) |
//! | [`events`] | `E#{integration}#{entity}#{id}` (cached entities); markers in `H#{project}#{integration}` |
//!
//! [`Store`]: crate::ports::Store
//! [`Deps`]: crate::ports::Deps

pub mod events;
pub mod integrations;
pub mod projects;
pub mod runs;
pub mod workflows;

use serde::Serialize;
use serde_json::Value;

use crate::domain::InvalidValue;
use crate::ports::StoreError;

/// A field at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field's path in the request (`credentials.api_key`, `body`, `text`).
    pub field: String,
    /// What is wrong with it, in words a user can act on.
    pub message: String,
}

impl FieldError {
    /// The field at fault and what is wrong with it.
    pub fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<InvalidValue> for FieldError {
    fn from(v: InvalidValue) -> Self {
        Self {
            field: v.field,
            message: v.message,
        }
    }
}

/// Why a use case did not do what it was asked. Nothing was changed unless the
/// variant says so.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Some inputs are wrong; nothing was changed.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// What the request names does not exist (or is not the caller's to see).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what is stored (a name taken, a concurrent change,
    /// dependents in the way); `extra` carries structured detail for the answer.
    #[error("{detail}")]
    Conflict {
        /// What conflicts and what to do about it.
        detail: String,
        /// Structured detail (an object), such as the dependents in the way.
        extra: Option<Value>,
    },
    /// A backing service (store, key service) did not answer; retrying may help.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or corrupt data: logged in full, never shown to the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// A conflict without structured detail.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            extra: None,
        }
    }

    /// A list of checked-value problems as one `Invalid`.
    pub fn fields(problems: impl IntoIterator<Item = InvalidValue>) -> Self {
        Self::Invalid(problems.into_iter().map(FieldError::from).collect())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => Error::Unavailable(detail),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<InvalidValue> for Error {
    fn from(v: InvalidValue) -> Self {
        Error::Invalid(vec![v.into()])
    }
}

impl From<crate::vault::VaultError> for Error {
    fn from(e: crate::vault::VaultError) -> Self {
        match e {
            crate::vault::VaultError::Key(crate::ports::KeyError::Unavailable(why)) => {
                Error::Unavailable(why)
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

/// Every aggregate's keys in one place, for tests and tools that read the table
/// directly. Each function is defined (and documented) by the aggregate that owns it.
pub mod keys {
    pub use super::events::keys::*;
    pub use super::integrations::keys::*;
    pub use super::projects::keys::*;
    pub use super::runs::keys::*;
    pub use super::workflows::keys::*;
}

#[cfg(test)]
mod tests;
