//! The console: a few static files (HTML, CSS, JavaScript, an icon) embedded in the
//! local binary and served at `/console`, on the studio API the same process serves.
//!
//! Only this binary serves it: the four Lambda functions never link this module, so
//! their sizes do not change. The files are embedded with `include_str!`, so there is
//! no build step and nothing is fetched at run time. Every console response carries a
//! strict Content-Security-Policy: scripts, styles and images from this origin only, no
//! inline script or style, no `eval`, and Trusted Types with no policy, so the page
//! cannot write HTML from strings at all (it builds its DOM node by node).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The policy sent with every console file. `require-trusted-types-for 'script'` with
/// `trusted-types 'none'` makes every HTML-from-string sink (`innerHTML`,
/// `insertAdjacentHTML`, `document.write`) throw, so a value from the API can never
/// become markup.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'none'; object-src 'none'; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
require-trusted-types-for 'script'; trusted-types 'none'";

const INDEX_HTML: &str = include_str!("../console/index.html");
const CONSOLE_JS: &str = include_str!("../console/console.js");
const CONSOLE_CSS: &str = include_str!("../console/console.css");
const FAVICON_SVG: &str = include_str!("../console/favicon.svg");

/// The console's routes, to merge with the API's router: `/` leads to `/console`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route(
            "/console",
            get(|| file(INDEX_HTML, "text/html; charset=utf-8")),
        )
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route(
            "/console/console.js",
            get(|| file(CONSOLE_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/console/console.css",
            get(|| file(CONSOLE_CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/console/favicon.svg",
            get(|| file(FAVICON_SVG, "image/svg+xml")),
        )
}

/// One embedded file with its type and the console's security headers. `no-cache`: a
/// newer binary's files are used at once, not a cached older script.
async fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
