//! The access log and request metrics: one line and one latency observation per request, each
//! with a request id that is also in every log line written while the request runs and in the
//! response (`x-request-id`), so a user's report, a proxy's log and ours can be matched.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::Shared;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Requests that matched no route (the 404 page) share one label: a URL someone typed must
/// not become a label, or a scanner could grow the metrics without bound.
const UNMATCHED: &str = "unmatched";

/// Services mounted with `nest_service` (the static files) get no `MatchedPath` from axum, so
/// they are named by their mount point here.
const NESTED: [(&str, &str); 1] = [("/static/", "/static/{*path}")];

/// Wraps every route (it is added per route, so the route template is known here).
pub async fn observe(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers().get(&REQUEST_ID));
    let method = request.method().clone();
    let route = route_label(&request).to_string();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    let took = started.elapsed();
    let status = response.status();
    state
        .metrics
        .request(method.as_str(), &route, status.as_u16(), took);
    tracing::info!(
        target: "sealmail::access",
        request_id = %id,
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_ms = took.as_secs_f64() * 1000.0,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

fn route_label(request: &Request) -> &str {
    if let Some(matched) = request.extensions().get::<MatchedPath>() {
        return matched.as_str();
    }
    let path = request.uri().path();
    NESTED
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or(UNMATCHED, |(_, label)| label)
}

/// The caller's request id (a proxy's) when it is a plain token, else a new one: whatever
/// arrives in the header goes into log lines, so it may not carry line breaks or odd bytes.
fn request_id(given: Option<&HeaderValue>) -> String {
    let usable = |id: &str| {
        (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match given.and_then(|v| v.to_str().ok()) {
        Some(id) if usable(id) => id.to_string(),
        _ => send_rules::hex(&rand::random::<[u8; 12]>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_request_id_is_kept_and_anything_else_replaced() {
        let kept = HeaderValue::from_static("proxy-7f3a.1_b");
        assert_eq!(request_id(Some(&kept)), "proxy-7f3a.1_b");
        for odd in ["", "a b", "x\"y", &"z".repeat(65)] {
            let value = HeaderValue::from_str(odd).unwrap();
            let id = request_id(Some(&value));
            assert_eq!(id.len(), 24, "{odd:?} gave {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(request_id(None), request_id(None));
    }
}
