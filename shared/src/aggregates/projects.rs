//! Projects: the partition every other item of a project lives in, and the project's
//! own item (name, the hash of its API token).

use base64::Engine;

use super::Error;
use crate::domain::{Project, ProjectId};
use crate::ports::{Condition, Deps, Item, Key, StoreError};

/// The project's keys. Every item of a project is under its partition.
pub mod keys {
    use crate::domain::ProjectId;

    /// The partition of a project's items.
    pub fn project(p: &ProjectId) -> String {
        format!("P#{p}")
    }
    /// The sort key of the project's own item, in its partition.
    pub const META: &str = "META";
}

fn key(id: &ProjectId) -> Key {
    Key::new(keys::project(id), keys::META)
}

/// A new project and its API token, which is shown once and stored only as a hash.
pub struct Created {
    /// The stored project.
    pub project: Project,
    /// The bearer token (`stk_…`) for the project's API.
    pub token: String,
}

/// Creates a project with a fresh id and API token.
///
/// # Errors
/// `Invalid` for a bad name; `Conflict` if the generated id exists (try again);
/// `Unavailable`/`Internal` from the store or the random source.
pub async fn create(deps: &Deps, name: &str) -> Result<Created, Error> {
    let name = Project::check_name(name)?;
    let id = ProjectId::parse(&deps.ids.new_id())
        .map_err(|e| Error::Internal(format!("generated project id: {e}")))?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| Error::Internal(format!("random: {e}")))?;
    let token = format!(
        "stk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let project = Project {
        id,
        name,
        created_at: deps.clock.now(),
        token_sha256: crate::domain::hash_token(&token),
    };
    let item = Item::of(key(&project.id), &project)?;
    deps.store
        .put(item, Condition::NotExists)
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { .. } => {
                Error::conflict("a project with this id exists; try again")
            }
            other => other.into(),
        })?;
    tracing::info!(project = %project.id, "project created");
    Ok(Created { project, token })
}

/// The project, if it exists.
///
/// # Errors
/// The store's, as `Unavailable` or `Internal` (an unreadable item).
pub async fn get(deps: &Deps, id: &ProjectId) -> Result<Option<Project>, Error> {
    match deps.store.get(&key(id)).await? {
        Some(item) => Ok(Some(item.parse()?)),
        None => Ok(None),
    }
}
