//! Inputs found by the fuzz targets (`fuzz/`) stay fixed: every file in
//! `tests/fuzz-regressions/` (and, as a smoke test, every seed in `../fuzz/corpus/`) goes
//! through the same entry points as the targets (`fuzz/src/lib.rs`), which must return
//! (an error is fine) rather than panic. File names start with the target that found them.

#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};

use smime::decrypt::Envelope;
use smime::keys::{Decryptor, SoftKey};
use smime::{Certificate, ber, headers, mime, verify, wrap};

fn run_mime(data: &[u8]) {
    let _ = mime::parse_smime(data);
    let _ = mime::split_message(data);
    let _ = headers::split_protected(data, headers::Protection::Cipher);
    let _ = mime::decode_base64(data);
    if let Ok(entity) = mime::Entity::parse(data) {
        let content_type = entity.content_type();
        if let Some(boundary) = content_type.param("boundary") {
            let _ = mime::split_multipart(entity.body, boundary);
        }
        let _ = entity.decoded_body();
        let _ = headers::declared_protection(&entity);
        if let Some(from) = entity.header("from") {
            let _ = mime::addresses(&from);
        }
    }
    let _ = mime::make_7bit_safe(mime::canonicalize(data));
}

fn run_ber_cms(data: &[u8]) {
    if let Ok(der) = ber::normalize(data)
        && let Ok(all) = ber::parse_all(&der)
    {
        for element in all {
            let _ = element.children();
            let _ = ber::flatten_implicit_string(&element);
        }
    }
    let _ = verify::verify_signed_data(data, None);
    let _ = verify::verify_signed_data(data, Some(b"Content-Type: text/plain\r\n\r\nx\r\n"));
    if let Ok(envelope) = Envelope::from_cms(data) {
        let _ = envelope.recipients();
        let _ = envelope.content_parameters();
    }
}

fn run_verify(data: &[u8]) {
    let _ = verify::verify(data);
}

fn run_decrypt(data: &[u8]) {
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/keys");
    let read = |name: &str| std::fs::read(keys.join(name)).unwrap();
    let rsa_cert = Certificate::from_pem(&read("rsa.crt")).unwrap();
    let rsa_key = SoftKey::from_pkcs8_pem(&read("rsa.key")).unwrap();
    let p256_cert = Certificate::from_pem(&read("p256.crt")).unwrap();
    let p256_key = SoftKey::from_pkcs8_pem(&read("p256.key")).unwrap();
    let offered: [(&Certificate, &dyn Decryptor); 2] =
        [(&rsa_cert, &rsa_key), (&p256_cert, &p256_key)];
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    if data.first() == Some(&0x30) {
        if let Ok(envelope) = Envelope::from_cms(data) {
            let _ = envelope.decrypt(&offered, &mut rng);
        }
    } else {
        let _ = smime::decrypt(data, &offered, &mut rng);
        let _ = wrap::open(data, &offered, &mut rng);
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"));
    files.sort();
    files
}

fn run_all(data: &[u8]) {
    run_mime(data);
    run_ber_cms(data);
    run_verify(data);
    run_decrypt(data);
}

#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    for file in files(&dir) {
        eprintln!("{}", file.display());
        run_all(&std::fs::read(&file).unwrap());
    }
}

#[test]
fn fuzz_seed_corpus_does_not_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut count = 0;
    for target in ["mime", "ber_cms", "verify", "decrypt"] {
        for file in files(&corpus.join(target)) {
            run_all(&std::fs::read(&file).unwrap());
            count += 1;
        }
    }
    assert!(count > 0, "no seed corpus in {}", corpus.display());
}
