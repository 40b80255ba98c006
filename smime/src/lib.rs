//! The S/MIME engine shared by the server and the browser module.
//!
//! Pure functions only: no file, network or clock access, so the same code runs natively and in
//! `wasm32-unknown-unknown`. Callers pass in time and key operations.

pub mod algorithms;
pub mod ber;
pub mod mime;
