//! Benchmarks of the engine inside the browser (feature `bench`, off by default; driven by
//! `scripts/bench-wasm`). Sign+encrypt and decrypt+verify of a message with an `mib` MiB
//! attachment, RSA-2048 / SHA-256, AES-256-GCM or AES-256-CBC:
//!
//! * [`bench_wasm`]: everything in WebAssembly (`wrap::sign_and_encrypt`, `wrap::open`).
//! * [`bench_webcrypto`]: the bulk AES through WebCrypto via the two-phase APIs
//!   (`envelope::prepare` + `finish`, `Envelope::content_parameters`); RSA and the SHA-256 of
//!   the content stay in WebAssembly (the engine has no external-hash entry point for signing
//!   and verifying yet).
//!
//! Both return JSON: `{"mib":…,"runs":…,"algorithm":…,"message_bytes":…,"seal_ms":[…],"open_ms":[…]}`
//! with every run's time in milliseconds (`performance.now()`).

use js_sys::{Promise, Uint8Array};
use smime::algorithms::{ContentEncryption, DigestAlgorithm};
use smime::decrypt::{Envelope, RecipientKey};
use smime::envelope::{self, EncryptOptions};
use smime::keys::Decryptor;
use smime::sign::SignOptions;
use smime::{Certificate, SoftKey, wrap};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
export function now() { return performance.now(); }
export function import_key(name, raw, usage) {
  return crypto.subtle.importKey('raw', raw, { name }, false, [usage]);
}
// WebCrypto copies `data` synchronously, before the promise is returned, so a view into the
// module's memory is safe here.
export function aes_encrypt(name, key, iv, data) {
  return crypto.subtle.encrypt({ name, iv }, key, data);
}
export function aes_decrypt(name, key, iv, data, aad) {
  const params = name === 'AES-GCM' && aad.length ? { name, iv, additionalData: aad } : { name, iv };
  return crypto.subtle.decrypt(params, key, data);
}
"#)]
extern "C" {
    fn now() -> f64;
    fn import_key(name: &str, raw: &[u8], usage: &str) -> Promise;
    fn aes_encrypt(name: &str, key: &JsValue, iv: &[u8], data: &[u8]) -> Promise;
    fn aes_decrypt(name: &str, key: &JsValue, iv: &[u8], data: &[u8], aad: &[u8]) -> Promise;
}

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

fn err(e: impl core::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Same message shape as the native bench (`smime/benches/smime_vs_openssl.rs`).
fn message(mib: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut blob = Vec::with_capacity(mib << 20);
    while blob.len() < mib << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        blob.extend_from_slice(&state.to_le_bytes());
    }
    let mut m = b"From: Alice <alice@example.test>\r\nTo: alice@example.test\r\nSubject: attachment\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"bench-boundary\"\r\n\r\n\
--bench-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n\
--bench-boundary\r\nContent-Type: application/octet-stream; name=\"blob.bin\"\r\n\
Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"blob.bin\"\r\n\r\n"
        .to_vec();
    m.extend_from_slice(&smime::mime::encode_base64_lines(&blob));
    m.extend_from_slice(b"--bench-boundary--\r\n");
    m
}

struct Setup {
    cert: Certificate,
    key: SoftKey,
    input: Vec<u8>,
    sign_options: SignOptions,
    enc_options: EncryptOptions,
    webcrypto_name: &'static str,
}

fn setup(cert_pem: &[u8], key_pem: &[u8], mib: u32, gcm: bool) -> Result<Setup, JsError> {
    let algorithm = if gcm {
        ContentEncryption::Aes256Gcm
    } else {
        ContentEncryption::Aes256Cbc
    };
    Ok(Setup {
        cert: Certificate::from_pem(cert_pem).map_err(err)?,
        key: SoftKey::from_pkcs8_pem(key_pem).map_err(err)?,
        input: message(mib as usize),
        sign_options: SignOptions {
            digest: Some(DigestAlgorithm::Sha256),
            ..SignOptions::default()
        },
        enc_options: EncryptOptions {
            algorithm,
            ..EncryptOptions::default()
        },
        webcrypto_name: if gcm { "AES-GCM" } else { "AES-CBC" },
    })
}

fn report(s: &Setup, mib: u32, seal: &[f64], open: &[f64]) -> String {
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"mib":{mib},"runs":{},"algorithm":"{}","message_bytes":{},"seal_ms":[{}],"open_ms":[{}]}}"#,
        seal.len(),
        s.webcrypto_name,
        s.input.len(),
        list(seal),
        list(open)
    )
}

/// Sign+encrypt then decrypt+verify, all in WebAssembly, `runs` times.
#[wasm_bindgen]
pub fn bench_wasm(
    cert_pem: &[u8],
    key_pem: &[u8],
    mib: u32,
    runs: u32,
    gcm: bool,
) -> Result<String, JsError> {
    let s = setup(cert_pem, key_pem, mib, gcm)?;
    let recipients = [s.cert.clone()];
    let keys = [(&s.cert, &s.key as &dyn Decryptor)];
    let (mut seal, mut open) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let start = now();
        let wrapped = wrap::sign_and_encrypt(
            &s.input,
            &s.cert,
            &s.key,
            &s.sign_options,
            &recipients,
            &s.enc_options,
            &mut rng(),
        )
        .map_err(err)?;
        seal.push(now() - start);
        let start = now();
        let opened = wrap::open(&wrapped, &keys, &mut rng()).map_err(err)?;
        open.push(now() - start);
        if !(opened.is_encrypted() && opened.all_signatures_valid()) {
            return Err(JsError::new("round trip did not verify"));
        }
    }
    Ok(report(&s, mib, &seal, &open))
}

/// Sign+encrypt then decrypt+verify with the content encryption in WebCrypto, `runs` times.
#[wasm_bindgen]
pub async fn bench_webcrypto(
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    mib: u32,
    runs: u32,
    gcm: bool,
) -> Result<String, JsError> {
    let s = setup(&cert_pem, &key_pem, mib, gcm)?;
    let recipients = [s.cert.clone()];
    let name = s.webcrypto_name;
    let (mut seal, mut open) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        // Sign (hash + RSA in wasm), then encrypt the signed message with WebCrypto's AES.
        let start = now();
        let signed =
            smime::sign(&s.input, &s.cert, &s.key, &s.sign_options, &mut rng()).map_err(err)?;
        let prepared =
            envelope::prepare(&signed, &recipients, &s.enc_options, &mut rng()).map_err(err)?;
        let key = await_js(import_key(name, prepared.content_key(), "encrypt")).await?;
        let ciphertext =
            await_js(aes_encrypt(name, &key, prepared.iv(), prepared.plaintext())).await?;
        let wrapped = prepared
            .finish(&Uint8Array::new(&ciphertext).to_vec())
            .map_err(err)?;
        seal.push(now() - start);

        // Unwrap the content key in wasm (RSA), decrypt the content with WebCrypto, verify.
        let start = now();
        let envelope = Envelope::from_message(&wrapped).map_err(err)?;
        let recipient = envelope
            .recipients_for(&s.cert)
            .next()
            .ok_or_else(|| JsError::new("no recipient for our certificate"))?;
        let RecipientKey::Transport {
            transport: Some(transport),
            encrypted_key,
        } = &recipient.key
        else {
            return Err(JsError::new("not an RSA key transport recipient"));
        };
        let content_key = s
            .key
            .decrypt_key(*transport, encrypted_key, &mut rng())
            .map_err(err)?;
        let params = envelope
            .content_parameters()
            .ok_or_else(|| JsError::new("content cipher not available to WebCrypto"))?;
        let data = match params.tag {
            Some(tag) => [params.ciphertext, tag].concat(),
            None => params.ciphertext.to_vec(),
        };
        let key = await_js(import_key(name, &content_key, "decrypt")).await?;
        let plaintext = await_js(aes_decrypt(
            name,
            &key,
            &params.iv,
            &data,
            params.additional_data,
        ))
        .await?;
        let verification = smime::verify(&Uint8Array::new(&plaintext).to_vec()).map_err(err)?;
        open.push(now() - start);
        if !verification.all_valid() {
            return Err(JsError::new("round trip did not verify"));
        }
    }
    Ok(report(&s, mib, &seal, &open))
}

async fn await_js(promise: Promise) -> Result<JsValue, JsError> {
    JsFuture::from(promise)
        .await
        .map_err(|e| JsError::new(&format!("WebCrypto: {e:?}")))
}
