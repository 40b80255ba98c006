//! The browser module: every private-key operation happens here, in the user's browser, so the
//! server never sees a private key or a decrypted message.
//!
//! Each JS-facing function is a thin `#[wasm_bindgen]` wrapper over a pure Rust function of the
//! same concept, so the logic is tested natively (`cargo test -p sealmail-client`):
//!
//! * [`identity`]: `inspect_p12` (import a digital ID file), `export_p12` (write one) and
//!   `certificate_info`.
//! * [`enroll`]: `certificate_request` (a PKCS#10 request for a key made in the browser) and
//!   `install_issued` (the CA's certificate matched to its waiting key).
//! * [`archive`]: `archive_key` (a recovery agents' copy of an encryption key) and
//!   `needs_archival`.
//! * [`seal`](mod@seal): `seal` (compose → signed and/or encrypted MIME entity).
//! * [`open`](mod@open): `open` (remove every S/MIME layer, parse the message for display).
//! * [`plan`](mod@plan): `read_recipients` and `plan_send` (which offered certificates a send
//!   may be encrypted to, and the messages it becomes), and `read_signer` (key continuity on
//!   reading), by the shared send rules.
//! * `sanitize_formatted`: formatted text cleaned as a sent message's is (`rich_text`), for a
//!   decrypted draft put back into the editor.
//! * [`search`]: `SearchIndex`, the index of encrypted mail the worker keeps for the page.
//! * [`user_key`]: a key in memory or on the smart card, as signing and decryption take it.
//! * [`card`]: smart cards — the engine's card keys and the page's card session.
//! * [`webcrypto`]: the engine's bulk hashing and AES handed to the browser's WebCrypto.
//! * [`js`]: conversions between JS values and Rust structs, randomness, errors.

// Input must never panic the module; tests may unwrap freely.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use wasm_bindgen::prelude::*;

pub mod archive;
pub mod card;
pub mod enroll;
pub mod identity;
pub mod js;
pub mod open;
pub mod plan;
pub mod seal;
pub mod search;
pub mod user_key;
pub mod webcrypto;

/// The module's version, shown in the page footer so a user (and a test) can see the module loaded.
#[wasm_bindgen]
pub fn engine_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Formatted text with only what the compose editor can make (the `rich_text` rule). The page
/// puts a decrypted draft's HTML through this before it goes into the editor.
#[wasm_bindgen]
pub fn sanitize_formatted(html: &str) -> String {
    rich_text::sanitize(html)
}

#[cfg(feature = "bench")]
mod bench;
