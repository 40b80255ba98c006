//! The browser module. For now it only proves the build and load path (wasm32 → wasm-bindgen → page);
//! key stores, signing and decryption arrive with the browser S/MIME work.

use wasm_bindgen::prelude::*;

/// The module's version, shown in the page footer so a user (and a test) can see the module loaded.
#[wasm_bindgen]
pub fn engine_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[cfg(feature = "bench")]
mod bench;
