//! Certification requests made by the engine, judged by openssl: `openssl req -verify` accepts
//! the self-signature, and `openssl x509 -req -copy_extensions copy` issues a certificate for the
//! key with the address and usages the request asked for.

mod common;

use std::path::Path;
use std::process::Command;

use common::{pki, rng, run, scratch};
use smime::Certificate;
use smime::keys::SoftKey;
use smime::request::{KeyPurpose, certification_request, to_pem};

/// openssl's verdict on a request's self-signature. OpenSSL 3.0 exits with 0 either way, so the
/// verdict is read from what it prints.
fn self_signature(dir: &Path, file: &str) -> &'static str {
    let out = Command::new("openssl")
        .args(["req", "-in", file, "-verify", "-noout"])
        .current_dir(dir)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    if said.contains("self-signature verify OK") {
        "verify OK"
    } else if said.contains("self-signature verify failure") {
        "verify failure"
    } else {
        panic!("openssl said: {said}")
    }
}

fn issue(name: &str, key: &SoftKey, purpose: KeyPurpose) -> (String, Certificate) {
    let pki = pki("openssl_request");
    let dir = scratch(pki, name);
    let request = certification_request(
        key,
        "Dana Example",
        "dana@example.test",
        purpose,
        &mut rng(),
    )
    .unwrap();
    std::fs::write(dir.join("dana.csr"), to_pem(&request).unwrap()).unwrap();
    assert_eq!(self_signature(&dir, "dana.csr"), "verify OK");
    let text = String::from_utf8(run(
        &dir,
        "openssl",
        &["req", "-in", "dana.csr", "-noout", "-text"],
    ))
    .unwrap();
    run(
        &dir,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "dana.csr",
            "-CA",
            pki.intermediate_path.to_str().unwrap(),
            "-CAkey",
            pki.dir.join("intermediate.key").to_str().unwrap(),
            "-CAcreateserial",
            "-days",
            "30",
            "-copy_extensions",
            "copy",
            "-out",
            "dana.pem",
        ],
    );
    let cert = Certificate::from_pem(&std::fs::read(dir.join("dana.pem")).unwrap()).unwrap();
    (text, cert)
}

#[test]
fn openssl_verifies_an_rsa_request_and_issues_what_it_asks_for() {
    let key =
        SoftKey::from_pkcs8_pem(&std::fs::read(&pki("openssl_request").rsa.key_path).unwrap())
            .unwrap();
    let (text, cert) = issue("rsa", &key, KeyPurpose::SigningAndEncryption);
    assert!(text.contains("Subject: CN = Dana Example"), "{text}");
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
    assert_eq!(cert.email_addresses(), ["dana@example.test"]);
    assert_eq!(
        cert.public_key_info_der().unwrap(),
        key.public_key_info_der().unwrap()
    );
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
}

#[test]
fn p256_requests_ask_for_signing_or_key_agreement_as_told() {
    let key =
        SoftKey::from_pkcs8_pem(&std::fs::read(&pki("openssl_request").p256.key_path).unwrap())
            .unwrap();
    let (text, _) = issue("p256-sign", &key, KeyPurpose::Signing);
    assert!(text.contains("ecdsa-with-SHA256"), "{text}");
    assert!(
        text.contains("Digital Signature, Non Repudiation"),
        "signing request: {text}"
    );
    assert!(text.contains("E-mail Protection"), "{text}");
    let (text, _) = issue("p256-encrypt", &key, KeyPurpose::Encryption);
    assert!(text.contains("Key Agreement"), "encryption request: {text}");
    assert!(
        !text.contains("Digital Signature"),
        "encryption request: {text}"
    );
}

#[test]
fn a_request_whose_signature_was_altered_fails_openssl_verification() {
    let pki = pki("openssl_request");
    let dir = scratch(pki, "tampered");
    let key = SoftKey::from_pkcs8_pem(&std::fs::read(&pki.p256.key_path).unwrap()).unwrap();
    let mut request = certification_request(
        &key,
        "Dana Example",
        "dana@example.test",
        KeyPurpose::Signing,
        &mut rng(),
    )
    .unwrap();
    // The address inside the signed part: a CA must not accept a request altered on the way.
    let at = request.windows(4).position(|w| w == b"dana").unwrap();
    request[at] = b'e';
    std::fs::write(dir.join("tampered.csr"), to_pem(&request).unwrap()).unwrap();
    assert_eq!(self_signature(&dir, "tampered.csr"), "verify failure");
}
