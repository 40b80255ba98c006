//! The engine at run time inside wasm32 (Node, through wasm-bindgen-test-runner), and natively:
//! sign, verify, encrypt, decrypt and triple wrap with a committed P-256 test fixture. It proves
//! no code path reaches for a clock or OS randomness, which would build fine and then panic in
//! the browser.
//!
//! Run in wasm with:
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!  cargo test -p sealmail-smime --target wasm32-unknown-unknown --test wasm_smoke`

use std::time::Duration;

use smime::keys::Decryptor;
use smime::{Certificate, EncryptOptions, SignOptions, SoftKey};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;

const FIXTURE: &str = include_str!("fixtures/wasm-smoke-p256.pem");
const MESSAGE: &[u8] = b"From: wasm@example.test\r\nTo: wasm@example.test\r\nSubject: smoke\r\nContent-Type: text/plain\r\n\r\nfrom the browser\r\n";

/// One PEM block of the fixture.
fn block(label: &str) -> &'static [u8] {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = FIXTURE.find(&begin).unwrap();
    let stop = FIXTURE.find(&end).unwrap() + end.len();
    &FIXTURE.as_bytes()[start..stop]
}

/// Deterministic "randomness" (an xorshift): enough to exercise the code paths in a test,
/// never to be used for real keys, IVs or nonces.
struct TestRng(u64);

impl rand_core::TryRng for TestRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.try_next_u64().map(|v| v as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for TestRng {}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_whole_engine_runs() {
    let cert = Certificate::from_pem(block("CERTIFICATE")).unwrap();
    let key = SoftKey::from_pkcs8_pem(block("PRIVATE KEY")).unwrap();
    let mut rng = TestRng(0x5eed_1234_5678_9abc);
    let sign_options = SignOptions {
        signing_time: Some(Duration::from_secs(1_763_769_600)),
        ..SignOptions::default()
    };

    let signed = smime::sign(MESSAGE, &cert, &key, &sign_options, &mut rng).unwrap();
    let verification = smime::verify(&signed).unwrap();
    assert!(verification.all_valid());
    assert_eq!(
        verification.signers[0].signing_time,
        Some(Duration::from_secs(1_763_769_600))
    );
    assert_eq!(verification.signers[0].matches_from, Some(true));

    let keys: [(&Certificate, &dyn Decryptor); 1] = [(&cert, &key)];
    let options = EncryptOptions {
        algorithm: smime::algorithms::ContentEncryption::Aes256Gcm,
        protect_headers: true,
        ..EncryptOptions::default()
    };
    let encrypted =
        smime::encrypt(MESSAGE, std::slice::from_ref(&cert), &options, &mut rng).unwrap();
    let decrypted = smime::decrypt(&encrypted, &keys, &mut rng).unwrap();
    assert!(decrypted.authenticated);
    assert!(decrypted.content.ends_with(b"\r\n\r\nfrom the browser\r\n"));

    let wrapped = smime::wrap::triple_wrap(
        MESSAGE,
        &cert,
        &key,
        &sign_options,
        std::slice::from_ref(&cert),
        &EncryptOptions::default(),
        &mut rng,
    )
    .unwrap();
    let opened = smime::wrap::open(&wrapped, &keys, &mut rng).unwrap();
    assert_eq!(opened.layers.len(), 3);
    assert!(opened.all_signatures_valid());
}
