//! The engine's bulk work (hashing the content, the content cipher) handed to the browser's
//! WebCrypto, which runs native code: about ten times faster than the same work in WebAssembly.
//! Private-key operations stay in the module (see `seal` and `open`); only the one-time content
//! key crosses into WebCrypto, as a non-extractable key that lives for one call.
//!
//! Whatever WebCrypto cannot do (3DES, RC2, AES-192), small inputs (where a promise costs more
//! than the work) and pages without `crypto.subtle` (plain HTTP other than localhost) fall back
//! to the engine's own [`Software`].

use js_sys::{ArrayBuffer, Promise, Uint8Array};
use smime::algorithms::{ContentEncryption, DigestAlgorithm};
use smime::bulk::{Bulk, Software};
use smime::decrypt::ContentParameters;
use smime::{Error, Result};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use zeroize::Zeroizing;

// Every function copies its byte arguments before it returns (WebCrypto takes a copy of its
// inputs synchronously), so passing views into the module's memory is safe even though the
// promise settles later.
#[wasm_bindgen(inline_js = r#"
export function has_subtle() {
  return typeof crypto !== 'undefined' && typeof crypto.subtle !== 'undefined';
}
export function digest(name, data) { return crypto.subtle.digest(name, data); }
export function import_key(name, raw, usage) {
  return crypto.subtle.importKey('raw', raw, { name }, false, [usage]);
}
export function encrypt(name, key, iv, data) {
  return crypto.subtle.encrypt({ name, iv }, key, data);
}
export function decrypt(name, key, iv, data, aad) {
  const params = name === 'AES-GCM' && aad.length ? { name, iv, additionalData: aad } : { name, iv };
  return crypto.subtle.decrypt(params, key, data);
}
"#)]
extern "C" {
    fn has_subtle() -> bool;
    fn digest(name: &str, data: &[u8]) -> Promise;
    fn import_key(name: &str, raw: &[u8], usage: &str) -> Promise;
    fn encrypt(name: &str, key: &JsValue, iv: &[u8], data: &[u8]) -> Promise;
    fn decrypt(name: &str, key: &JsValue, iv: &[u8], data: &[u8], aad: &[u8]) -> Promise;
}

/// Below this many bytes the engine hashes or encrypts itself: a WebCrypto call costs a promise
/// and two copies, more than the work on a small part.
const SMALL: usize = 64 * 1024;

/// [`Bulk`] through `crypto.subtle`, or the engine where WebCrypto is missing.
#[derive(Debug, Clone, Copy)]
pub struct WebCrypto {
    available: bool,
}

impl WebCrypto {
    /// Uses WebCrypto if this page or worker has it.
    pub fn detect() -> Self {
        Self {
            available: has_subtle(),
        }
    }

    fn worth_it(&self, len: usize) -> bool {
        self.available && len >= SMALL
    }
}

fn digest_name(algorithm: DigestAlgorithm) -> &'static str {
    match algorithm {
        DigestAlgorithm::Sha1 => "SHA-1",
        DigestAlgorithm::Sha256 => "SHA-256",
        DigestAlgorithm::Sha384 => "SHA-384",
        DigestAlgorithm::Sha512 => "SHA-512",
    }
}

fn cipher_name(algorithm: ContentEncryption) -> &'static str {
    if algorithm.is_authenticated() {
        "AES-GCM"
    } else {
        "AES-CBC"
    }
}

/// Await a WebCrypto promise for an ArrayBuffer and copy it into the module.
async fn bytes(promise: Promise) -> core::result::Result<Vec<u8>, JsValue> {
    let buffer: ArrayBuffer = JsFuture::from(promise).await?.unchecked_into();
    Ok(Uint8Array::new(&buffer).to_vec())
}

fn failure(error: JsValue) -> Error {
    let name = js_sys::Reflect::get(&error, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_else(|| "unknown error".into());
    Error::Bulk(name)
}

impl Bulk for WebCrypto {
    async fn digest(&self, algorithm: DigestAlgorithm, data: &[u8]) -> Result<Vec<u8>> {
        if !self.worth_it(data.len()) {
            return Software.digest(algorithm, data).await;
        }
        bytes(digest(digest_name(algorithm), data))
            .await
            .map_err(failure)
    }

    async fn encrypt(
        &self,
        algorithm: ContentEncryption,
        key: &[u8],
        iv: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        if !self.worth_it(plaintext.len()) {
            return Software.encrypt(algorithm, key, iv, plaintext).await;
        }
        let name = cipher_name(algorithm);
        let key = JsFuture::from(import_key(name, key, "encrypt"))
            .await
            .map_err(failure)?;
        bytes(encrypt(name, &key, iv, plaintext))
            .await
            .map_err(failure)
    }

    async fn decrypt(
        &self,
        content: &ContentParameters<'_>,
        key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        if !self.worth_it(content.ciphertext.len()) {
            return Software.decrypt(content, key).await;
        }
        let name = cipher_name(content.algorithm);
        // A content key of the wrong length (a failed unwrap carried on with a random key) is
        // refused by importKey: that is a decryption failure like any other.
        let key = JsFuture::from(import_key(name, key, "decrypt"))
            .await
            .map_err(|_| Error::DecryptionFailed)?;
        // WebCrypto wants the GCM tag after the ciphertext.
        let joined;
        let data = match content.tag {
            Some(tag) => {
                joined = [content.ciphertext, tag].concat();
                &joined[..]
            }
            None => content.ciphertext,
        };
        // A wrong padding or tag rejects the promise and releases nothing.
        bytes(decrypt(
            name,
            &key,
            &content.iv,
            data,
            content.additional_data,
        ))
        .await
        .map(Zeroizing::new)
        .map_err(|_| Error::DecryptionFailed)
    }
}
