//! Response headers that keep mail out of caches and the site on HTTPS.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::set_header::SetResponseHeaderLayer;

/// Every page but the static files shows mail or something about the user (folders, the
/// compose form, the JSON API's certificates): a shared computer's browser cache, or a proxy,
/// must not keep a copy. A handler that says more (`private, no-store`) keeps its own.
pub async fn no_store(request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    if !is_static {
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    response
}

/// For HTTPS deployments (`secure_cookies`): the browser keeps to HTTPS for a year, so a network
/// attacker cannot turn a later visit into plain HTTP and catch the password typed into the
/// sign-in form. Subdomains are left out: they may be other people's sites.
pub fn strict_transport_security() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    )
}
