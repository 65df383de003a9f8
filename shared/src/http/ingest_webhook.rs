//! ingest-webhook's one route: a provider's webhook delivery, the only route without the
//! studio's authorizer (the delivery's signature is checked instead).

use axum::Router;
use axum::extract::DefaultBodyLimit;

use super::{AppState, hooks};

routes! {
    "/hooks/{project}/{integration}" => POST hooks::receive;
}

/// This route, to serve alone ([`router`]) or merged with the other functions'.
/// Deliveries have their own size limit, not the API's.
pub(super) fn routes(state: &AppState) -> Router<AppState> {
    handlers().layer(DefaultBodyLimit::max(state.max_webhook_bytes))
}

/// ingest-webhook's API, as its Lambda function serves it.
pub fn router(state: AppState) -> Router {
    super::finish(routes(&state), state)
}
