//! The installed Sealmail app (`apps/client`, built and signed by `scripts/build-app`): a Chrome
//! Isolated Web App whose scripts, stylesheet and WebAssembly module come from its own signed
//! bundle, so a server can change what the pages say but not the code that holds the keys.
//! Its service worker reads these pages across origins and shows them as the app's own, so the
//! server answers that one origin with CORS (credentials included) and lets its requests change
//! state, and the session cookie it gets is partitioned to the app, as in the kiosk's frame.

use axum::http::{HeaderMap, HeaderValue, Method, header};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

use super::Shared;

/// A request sent by the installed app: its `Origin` is the configured one. (A browser sets
/// `Origin` itself; a page of another site cannot claim the app's.)
pub fn from_installed_app(state: &Shared, request: &HeaderMap) -> bool {
    state.config.web.app_origin.as_deref().is_some_and(|app| {
        request
            .get(header::ORIGIN)
            .is_some_and(|origin| origin.as_bytes() == app.as_bytes())
    })
}

/// CORS for the app's origin alone, with credentials; `None` when no app is configured (or its
/// origin were not header-safe, which the configuration's check rules out).
pub fn cross_origin_layer(state: &Shared) -> Option<CorsLayer> {
    let origin = HeaderValue::from_str(state.config.web.app_origin.as_deref()?).ok()?;
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::exact(origin))
            .allow_credentials(true)
            .allow_methods(AllowMethods::list([Method::GET, Method::POST]))
            // The pages' scripts send JSON and the CSRF token header.
            .allow_headers(AllowHeaders::mirror_request())
            // A download's file name, and how long to wait before trying again.
            .expose_headers([header::CONTENT_DISPOSITION, header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
