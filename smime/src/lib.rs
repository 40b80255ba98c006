//! The S/MIME engine shared by the server and the browser module.
//!
//! Pure functions only: no file, network or clock access, so the same code runs natively and in
//! `wasm32-unknown-unknown`. Callers pass in time, randomness and key operations.
//!
//! * [`sign::sign`] / [`sign::prepare`] + [`sign::PreparedSignature::finish`]: message bytes →
//!   clear-signed or opaque-signed message bytes.
//! * [`verify::verify`]: message bytes → per-signer results.
//! * [`envelope::encrypt`]: message bytes + recipient certificates → application/pkcs7-mime.
//! * [`decrypt::decrypt`]: message bytes + the caller's keys → the inner entity; or
//!   [`decrypt::Envelope`] for keys that answer asynchronously.
//! * [`wrap::sign_and_encrypt`], [`wrap::triple_wrap`], and [`wrap::open`] (any nesting of
//!   signed and encrypted layers back to the readable entity).
//! * [`pkcs12::parse`]: a `.p12` file and its password → key, certificate and chain;
//!   [`pkcs12::write`] the other way, for a digital ID leaving the browser.
//! * [`request::certification_request`]: a PKCS#10 request for a key made in the browser.
//! * Header protection (RFC 9788): `protect_headers` in the sign and encrypt options; see
//!   [`headers`].
//!
//! Modules, one concept each: [`mime`] (reading, transfer encodings and building, one file each), [`ber`]
//! (BER → DER), [`algorithms`] (OIDs), [`cert`], [`keys`] (key traits, soft keys),
//! [`sign`](mod@sign), [`verify`](mod@verify), [`envelope`] (encrypt),
//! [`decrypt`](mod@decrypt), [`ecdh`] (RFC 5753), [`headers`] (RFC 9788), [`wrap`] (layers),
//! and the private `cipher` (content encryption) and `content_info` (the CMS wrapper).

// Input must never panic the engine; tests may unwrap freely.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod algorithms;
pub mod ber;
pub mod bulk;
pub mod cert;
mod cipher;
mod content_info;
pub mod decrypt;
pub mod ecdh;
pub mod envelope;
pub mod error;
pub mod headers;
pub mod keys;
pub mod mime;
pub mod pkcs12;
pub mod request;
pub mod sign;
pub mod verify;
pub mod wrap;

pub use cert::Certificate;
pub use decrypt::decrypt;
pub use envelope::{EncryptOptions, encrypt};
pub use error::{Error, Result};
pub use keys::{AsyncDecryptor, AsyncSigner, Decryptor, Signer, SoftKey};
pub use sign::{SignOptions, sign};
pub use verify::verify;
