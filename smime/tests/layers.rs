//! Triple wrap, sign-then-encrypt, header protection, and opening nested layers — checked
//! against openssl layer by layer.

// They spawn openssl/gpgsm and use OS randomness: native only.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;

use common::{MESSAGE, Pki, rng, run, scratch};
use smime::envelope::EncryptOptions;
use smime::headers::{self, Protection};
use smime::keys::Decryptor;
use smime::mime::Entity;
use smime::sign::{SignOptions, SignedFormat};
use smime::wrap::{self, Layer};

fn pki() -> &'static Pki {
    common::pki("layers")
}

/// openssl cms -verify (trusting root and intermediate); returns the signed content.
fn openssl_verify(dir: &Path, message: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("in.eml"), message).unwrap();
    let mut trusted = std::fs::read(&pki().root_path).unwrap();
    trusted.extend(std::fs::read(&pki().intermediate_path).unwrap());
    std::fs::write(dir.join("trusted.pem"), trusted).unwrap();
    let args = "cms -verify -in in.eml -CAfile trusted.pem -out out.eml";
    run(dir, "openssl", &args.split(' ').collect::<Vec<_>>());
    std::fs::read(dir.join("out.eml")).unwrap()
}

/// openssl cms -decrypt as Bob (P-256, key agreement); returns the plaintext.
fn openssl_decrypt_as_bob(dir: &Path, message: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("in.eml"), message).unwrap();
    let bob = &pki().p256;
    run(
        dir,
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-in",
            "in.eml",
            "-recip",
            bob.cert_path.to_str().unwrap(),
            "-inkey",
            bob.key_path.to_str().unwrap(),
            "-out",
            "out.eml",
        ],
    );
    std::fs::read(dir.join("out.eml")).unwrap()
}

const SECRET_MESSAGE: &[u8] = b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: the secret plan\r\nDate: Sat, 21 Nov 2026 23:00:00 +0000\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nMeet at noon.\r\n";

fn content_of(entity: &[u8]) -> Vec<u8> {
    Entity::parse(entity).unwrap().body.to_vec()
}

#[test]
fn triple_wrap_opens_here_and_in_openssl() {
    let dir = scratch(pki(), "triple");
    let alice = &pki().rsa;
    let recipients = [alice.cert.clone(), pki().p256.cert.clone()];
    let sign_options = SignOptions {
        extra_certificates: vec![pki().intermediate.clone()],
        ..SignOptions::default()
    };
    let encrypt_options = EncryptOptions {
        protect_headers: true,
        ..EncryptOptions::default()
    };
    let wrapped = wrap::triple_wrap(
        SECRET_MESSAGE,
        &alice.cert,
        &alice.key,
        &sign_options,
        &recipients,
        &encrypt_options,
        &mut rng(),
    )
    .unwrap();
    let text = String::from_utf8(wrapped.clone()).unwrap();
    assert!(
        text.contains("Subject: [...]\r\n")
            && !text.contains("secret plan")
            && !text.contains("noon")
    );
    assert!(text.contains("multipart/signed"));

    // Here, as Bob.
    let bob: [(&smime::Certificate, &dyn Decryptor); 1] = [(&pki().p256.cert, &pki().p256.key)];
    let opened = wrap::open(&wrapped, &bob, &mut rng()).unwrap();
    assert_eq!(opened.layers.len(), 3);
    assert!(matches!(
        opened.layers[0],
        Layer::Signed {
            format: SignedFormat::Clear,
            ..
        }
    ));
    assert!(matches!(opened.layers[1], Layer::Encrypted { .. }));
    assert!(matches!(opened.layers[2], Layer::Signed { .. }));
    assert!(opened.all_signatures_valid());
    for layer in &opened.layers {
        if let Layer::Signed { signers, .. } = layer {
            assert_eq!(signers[0].matches_from, Some(true));
        }
    }
    let inner = Entity::parse(&opened.entity).unwrap();
    assert_eq!(inner.header("subject").as_deref(), Some("the secret plan"));
    assert_eq!(
        headers::declared_protection(&inner),
        Some(Protection::Cipher)
    );
    assert_eq!(inner.body, b"Meet at noon.\r\n");

    // In openssl, layer by layer: verify, decrypt as Bob, verify.
    let encrypted = openssl_verify(&dir, &wrapped);
    let signed = openssl_decrypt_as_bob(&dir, &encrypted);
    let entity = openssl_verify(&dir, &signed);
    assert_eq!(content_of(&entity), b"Meet at noon.\r\n");
    assert_eq!(entity, opened.entity);
}

#[test]
fn sign_and_encrypt_with_header_protection() {
    let dir = scratch(pki(), "sign_encrypt");
    let alice = &pki().rsa;
    let sign_options = SignOptions {
        format: SignedFormat::Opaque,
        protect_headers: true,
        ..SignOptions::default()
    };
    let encrypt_options = EncryptOptions::default();
    let recipients = [pki().p256.cert.clone()];
    let message = wrap::sign_and_encrypt(
        SECRET_MESSAGE,
        &alice.cert,
        &alice.key,
        &sign_options,
        &recipients,
        &encrypt_options,
        &mut rng(),
    )
    .unwrap();
    let outer = Entity::parse(&message).unwrap();
    assert_eq!(outer.header("subject").as_deref(), Some("[...]"));
    assert_eq!(
        outer.header("from").as_deref(),
        Some("Alice <alice@example.test>")
    );

    let bob: [(&smime::Certificate, &dyn Decryptor); 1] = [(&pki().p256.cert, &pki().p256.key)];
    let opened = wrap::open(&message, &bob, &mut rng()).unwrap();
    assert_eq!(opened.layers.len(), 2);
    assert!(opened.all_signatures_valid() && opened.is_encrypted());
    let inner = Entity::parse(&opened.entity).unwrap();
    assert_eq!(inner.header("subject").as_deref(), Some("the secret plan"));

    // Without Bob's key it cannot be opened.
    let alice_only: [(&smime::Certificate, &dyn Decryptor); 1] = [(&alice.cert, &alice.key)];
    assert!(matches!(
        wrap::open(&message, &alice_only, &mut rng()),
        Err(smime::Error::DecryptionFailed)
    ));

    let signed = openssl_decrypt_as_bob(&dir, &message);
    let entity = openssl_verify(&dir, &signed);
    assert_eq!(entity, opened.entity);
}

#[test]
fn clear_signed_header_protection_verifies_in_openssl() {
    let dir = scratch(pki(), "hp_clear");
    let alice = &pki().rsa;
    let options = SignOptions {
        protect_headers: true,
        ..SignOptions::default()
    };
    let signed = smime::sign::sign(
        SECRET_MESSAGE,
        &alice.cert,
        &alice.key,
        &options,
        &mut rng(),
    )
    .unwrap();
    let outer = Entity::parse(&signed).unwrap();
    assert_eq!(
        outer.header("subject").as_deref(),
        Some("the secret plan"),
        "hp=clear keeps the outside"
    );
    let entity = openssl_verify(&dir, &signed);
    let inner = Entity::parse(&entity).unwrap();
    assert_eq!(inner.header("subject").as_deref(), Some("the secret plan"));
    assert_eq!(inner.content_type().param("hp"), Some("clear"));

    // Opening a signed-only message needs no keys.
    let opened = wrap::open(&signed, &[], &mut rng()).unwrap();
    assert_eq!(opened.layers.len(), 1);
    assert!(opened.all_signatures_valid() && !opened.is_encrypted());
    assert_eq!(opened.entity, entity);
    // A plain message has no layers and no valid signature.
    let plain = wrap::open(MESSAGE, &[], &mut rng()).unwrap();
    assert!(plain.layers.is_empty() && !plain.all_signatures_valid());
}
