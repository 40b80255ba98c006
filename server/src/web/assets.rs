//! The page assets in `static/` (scripts, the WebAssembly module, CSS): served compressed, under
//! a path that names their content, so a browser keeps them for a year and loads them once.
//!
//! The pages refer to `/static/<fingerprint>/…`, where the fingerprint is a hash of every file in
//! the folder, taken at start; the scripts import each other by relative paths, so a page and
//! everything it loads come from one consistent set. A new release has a new fingerprint, so no
//! browser ever mixes old and new files. The plain `/static/…` paths still work (revalidated on
//! every use) for anything that links to them directly.

use std::path::Path;
use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeader;

/// The prefix the pages use, set once at start (the folder does not change while running).
static BASE: OnceLock<String> = OnceLock::new();

/// Where the pages load assets from: `/static/<fingerprint>`, or `/static` before the router was
/// built (a template rendered outside a server).
pub fn base() -> &'static str {
    BASE.get().map(String::as_str).unwrap_or("/static")
}

/// The routes for `static_dir`: the fingerprinted path, cached for a year, and the plain one,
/// revalidated. Only these are compressed: pages carry secrets (CSRF tokens) next to text an
/// attacker may choose, which compression would turn into a length oracle (BREACH).
pub fn routes<S: Clone + Send + Sync + 'static>(static_dir: &Path) -> Router<S> {
    // One prefix per process (the first app's), so that several apps built in one process (as
    // the tests do) agree with the pages they render.
    let versioned = BASE.get_or_init(|| format!("/static/{}", fingerprint(static_dir)));
    let files = |cache_control: &'static str| {
        SetResponseHeader::overriding(
            ServeDir::new(static_dir),
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        )
    };
    Router::new()
        .nest_service(versioned, files("public, max-age=31536000, immutable"))
        .nest_service("/static", files("no-cache"))
        .layer(CompressionLayer::new())
}

/// A short hash of every file's path and content under `dir`. A folder that cannot be read
/// still gets a fingerprint (of what could be read): the files will be missing either way.
fn fingerprint(dir: &Path) -> String {
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    let mut hash = Sha256::new();
    for relative in &files {
        hash.update(relative.as_bytes());
        hash.update([0]);
        if let Ok(bytes) = std::fs::read(dir.join(relative)) {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(&bytes);
        }
    }
    hash.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            out.push(relative.to_string_lossy().into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_the_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.js"), "one").unwrap();
        let first = fingerprint(dir.path());
        assert_eq!(first, fingerprint(dir.path()));
        std::fs::write(dir.path().join("app.js"), "two").unwrap();
        assert_ne!(first, fingerprint(dir.path()));
        assert_eq!(first.len(), 12);
    }
}
