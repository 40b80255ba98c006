//! Large request bodies (a message with its attachments) are taken in a few at a time.
//!
//! A send holds its message several times over while it is built, submitted and filed, so
//! memory grows with the number of large sends in flight, not with the number of users. A
//! request over [`LARGE`] (or of unknown length) waits for one of `[web] max_large_requests`
//! places before a byte of its body is read; the body stays in the connection meanwhile. Small
//! requests (every page, most sends) never wait. The request deadline still applies to the wait.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

/// Bodies up to this size are small: the cost of a page, not of a message.
pub const LARGE: u64 = 1024 * 1024;

/// Makes large requests wait their turn (see the module's description).
pub async fn in_turn(
    State(places): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    // Held until the answer is made. (The semaphore is never closed, so acquiring cannot fail.)
    let _place = if is_large(&request) {
        places.acquire().await.ok()
    } else {
        None
    };
    next.run(request).await
}

fn is_large(request: &Request) -> bool {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) => n > LARGE,
        // GET and friends carry no body; a body of unknown length may be any size.
        None => request.headers().contains_key(header::TRANSFER_ENCODING),
    }
}
