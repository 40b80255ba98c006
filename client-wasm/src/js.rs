//! Crossing the JS boundary: plain objects in and out (serde-wasm-bindgen, byte arrays as
//! `Uint8Array`), randomness from the platform, and errors as readable sentences.

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

/// The platform's CSPRNG: `crypto.getRandomValues` in the browser, the OS natively. A failure
/// there is unrecoverable, so it panics rather than signing with bad randomness.
pub fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A Rust value as a plain JS object: maps become objects (not `Map`), bytes `Uint8Array`.
pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    let serializer = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    value
        .serialize(&serializer)
        .map_err(|e| JsError::new(&format!("Sealmail could not hand back the result: {e}")))
}

/// A JS argument as a Rust value. The error names what was wrong with the argument's shape,
/// never its contents (which may be key bytes).
pub fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsError> {
    serde_wasm_bindgen::from_value(value)
        .map_err(|e| JsError::new(&format!("The {what} passed to Sealmail is malformed: {e}")))
}

/// Any error whose `Display` is already a sentence for the user.
pub fn js_error(error: impl core::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

/// Seconds since the Unix epoch as a JS number.
pub fn unix_seconds(duration: core::time::Duration) -> f64 {
    duration.as_secs() as f64
}

/// Key bytes from JS (`Uint8Array`), zeroised when dropped.
#[derive(Default, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretBytes(pub serde_bytes::ByteBuf);

impl Drop for SecretBytes {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut *self.0);
    }
}

impl core::fmt::Debug for SecretBytes {
    // Never print key material.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

impl core::ops::Deref for SecretBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}
