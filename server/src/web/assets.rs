//! The page assets in `static/` (scripts, the WebAssembly module, CSS): served compressed, under
//! a path that names their content, so a browser keeps them for a year and loads them once.
//!
//! The pages refer to `/static/<fingerprint>/…`, where the fingerprint is a hash of every file in
//! the folder, taken at start; the scripts import each other by relative paths, so a page and
//! everything it loads come from one consistent set. A new release has a new fingerprint, so no
//! browser ever mixes old and new files. The plain `/static/…` paths still work (revalidated on
//! every use) for anything that links to them directly.
//!
//! Every script and the WebAssembly module also carry Subresource Integrity: the page's entry
//! script and stylesheet through `integrity` attributes, the modules they import through the
//! page's import map (`"integrity"`, one SHA-384 per file), and the WebAssembly module through
//! the worker, which fetches it with its integrity before instantiating it. A file changed
//! anywhere between this server's disk and the browser (a cache, a proxy, a CDN) is refused.
//! Workers take no import map, so the worker script and the wasm-bindgen glue it imports are
//! checked by fetching them with their integrity first (`static/engine.js`,
//! `static/engine-worker.js`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256, Sha384};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeader;

/// What the pages say about the assets, set once at start (the folder does not change while
/// running).
static MANIFEST: OnceLock<Manifest> = OnceLock::new();

struct Manifest {
    /// `/static/<fingerprint>`.
    base: String,
    /// `sha384-…` per file path under the folder.
    integrity: BTreeMap<String, String>,
    /// The page's `<script type="importmap">` text.
    import_map: String,
    /// The CSP source that allows exactly that inline import map.
    import_map_source: String,
}

/// Where the pages load assets from: `/static/<fingerprint>`, or `/static` before the router was
/// built (a template rendered outside a server).
pub fn base() -> &'static str {
    MANIFEST.get().map(|m| m.base.as_str()).unwrap_or("/static")
}

/// The `integrity` attribute's value for `file` (a path under the folder), or nothing when it
/// is not known (then the browser checks nothing, as before).
pub fn integrity(file: &str) -> &'static str {
    MANIFEST
        .get()
        .and_then(|m| m.integrity.get(file))
        .map(String::as_str)
        .unwrap_or("")
}

/// The import map every page carries: the integrity of every script and of the module.
pub fn import_map() -> &'static str {
    MANIFEST
        .get()
        .map(|m| m.import_map.as_str())
        .unwrap_or("{}")
}

/// The `script-src` source allowing the inline import map (the one inline script).
pub fn import_map_source() -> &'static str {
    MANIFEST
        .get()
        .map(|m| m.import_map_source.as_str())
        .unwrap_or("")
}

/// The routes for `static_dir`: the fingerprinted path, cached for a year, and the plain one,
/// revalidated. Only these are compressed: pages carry secrets (CSRF tokens) next to text an
/// attacker may choose, which compression would turn into a length oracle (BREACH).
pub fn routes<S: Clone + Send + Sync + 'static>(static_dir: &Path) -> Router<S> {
    // One prefix per process (the first app's), so that several apps built in one process (as
    // the tests do) agree with the pages they render.
    let versioned = &MANIFEST.get_or_init(|| manifest(static_dir)).base;
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

fn manifest(dir: &Path) -> Manifest {
    let base = format!("/static/{}", fingerprint(dir));
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    let integrity: BTreeMap<String, String> = files
        .into_iter()
        .filter(|f| [".js", ".css", ".wasm"].iter().any(|e| f.ends_with(e)))
        .filter_map(|f| {
            let bytes = std::fs::read(dir.join(&f)).ok()?;
            Some((f, format!("sha384-{}", B64.encode(Sha384::digest(&bytes)))))
        })
        .collect();
    let by_url: BTreeMap<String, &String> = integrity
        .iter()
        .filter(|(f, _)| !f.ends_with(".css"))
        .map(|(f, i)| (format!("{base}/{f}"), i))
        .collect();
    let import_map = serde_json::json!({ "integrity": by_url }).to_string();
    let import_map_source = format!(
        "'sha256-{}'",
        B64.encode(Sha256::digest(import_map.as_bytes()))
    );
    Manifest {
        base,
        integrity,
        import_map,
        import_map_source,
    }
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
    send_rules::hex(&hash.finalize()[..6])
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

    #[test]
    fn every_script_and_the_module_have_their_integrity_in_the_import_map() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("app.js"), "one").unwrap();
        std::fs::write(dir.path().join("pkg/m.wasm"), "two").unwrap();
        std::fs::write(dir.path().join("style.css"), "three").unwrap();
        let m = manifest(dir.path());
        // SHA-384 of "one", as `openssl dgst -sha384 -binary | base64` gives it.
        let one = "sha384-Xby+2wDRMaKeBZP5dvK0N5QpOSORmtQnZt6Bf+yCSmJieZ/sjQTLmxfEjo6ukSZY";
        assert_eq!(m.integrity["app.js"], one);
        let map: serde_json::Value = serde_json::from_str(&m.import_map).unwrap();
        assert_eq!(map["integrity"][format!("{}/app.js", m.base)], one);
        assert!(map["integrity"][format!("{}/pkg/m.wasm", m.base)].is_string());
        assert!(map["integrity"][format!("{}/style.css", m.base)].is_null());
        assert!(m.import_map_source.starts_with("'sha256-"));
    }
}
