//! Benchmarks of the engine inside the browser (feature `bench`, off by default; driven by
//! `scripts/bench-wasm`). Sign+encrypt and decrypt+verify of a message with an `mib` MiB
//! attachment, RSA-2048 / SHA-256, AES-256-GCM or AES-256-CBC:
//!
//! * [`bench_wasm`]: everything in WebAssembly (`wrap::sign_and_encrypt`, `wrap::open`).
//! * [`bench_webcrypto`]: the content's SHA-256 and AES in WebCrypto ([`WebCrypto`], as the
//!   shipped `seal` and `open` do); RSA stays in WebAssembly.
//!
//! Both return JSON: `{"mib":…,"runs":…,"algorithm":…,"message_bytes":…,"seal_ms":[…],"open_ms":[…]}`
//! with every run's time in milliseconds (`performance.now()`).

use smime::algorithms::{ContentEncryption, DigestAlgorithm};
use smime::bulk::{Bulk, Software};
use smime::envelope::EncryptOptions;
use smime::keys::Decryptor;
use smime::sign::SignOptions;
use smime::{Certificate, SoftKey, wrap};
use wasm_bindgen::prelude::*;

use crate::webcrypto::WebCrypto;

#[wasm_bindgen(inline_js = "export function now() { return performance.now(); }")]
extern "C" {
    fn now() -> f64;
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
pub async fn bench_wasm(
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    mib: u32,
    runs: u32,
    gcm: bool,
) -> Result<String, JsError> {
    bench(&Software, &cert_pem, &key_pem, mib, runs, gcm).await
}

/// Sign+encrypt then decrypt+verify with hashing and AES in WebCrypto (what `seal` and `open`
/// do), `runs` times.
#[wasm_bindgen]
pub async fn bench_webcrypto(
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    mib: u32,
    runs: u32,
    gcm: bool,
) -> Result<String, JsError> {
    bench(&WebCrypto::detect(), &cert_pem, &key_pem, mib, runs, gcm).await
}

async fn bench<B: Bulk>(
    bulk: &B,
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
        let wrapped = wrap::sign_and_encrypt_with(
            bulk,
            &s.input,
            &s.cert,
            &s.key,
            &s.sign_options,
            &recipients,
            &s.enc_options,
            &mut rng(),
        )
        .await
        .map_err(err)?;
        seal.push(now() - start);
        let start = now();
        let opened = wrap::open_with(bulk, &wrapped, &keys, &mut rng())
            .await
            .map_err(err)?;
        open.push(now() - start);
        if !(opened.is_encrypted() && opened.all_signatures_valid()) {
            return Err(JsError::new("round trip did not verify"));
        }
    }
    Ok(report(&s, mib, &seal, &open))
}
