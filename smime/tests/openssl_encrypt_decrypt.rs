//! Encryption and decryption against `openssl cms`, both directions.

// They spawn openssl/gpgsm and use OS randomness: native only.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;

use common::{ENTITY, Identity, MESSAGE, Pki, rng, run, scratch};
use smime::algorithms::{ContentEncryption, DigestAlgorithm, KeyTransport, oid};
use smime::decrypt::{self, Envelope, RecipientId, RecipientKey};
use smime::envelope::{self, EncryptOptions, RecipientIdKind};
use smime::keys::Decryptor;

fn pki() -> &'static Pki {
    common::pki("encrypt_decrypt")
}

/// `openssl cms -decrypt` as Alice; returns the plaintext.
fn openssl_decrypt(dir: &Path, message: &[u8]) -> Vec<u8> {
    openssl_decrypt_as(dir, message, &pki().rsa)
}

fn openssl_decrypt_as(dir: &Path, message: &[u8], alice: &Identity) -> Vec<u8> {
    std::fs::write(dir.join("encrypted.eml"), message).unwrap();
    run(
        dir,
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-in",
            "encrypted.eml",
            "-recip",
            alice.cert_path.to_str().unwrap(),
            "-inkey",
            alice.key_path.to_str().unwrap(),
            "-binary",
            "-out",
            "plain.out",
        ],
    );
    std::fs::read(dir.join("plain.out")).unwrap()
}

fn alice_keys() -> [(&'static smime::Certificate, &'static dyn Decryptor); 1] {
    [(&pki().rsa.cert, &pki().rsa.key)]
}

#[test]
fn our_messages_decrypt_in_openssl() {
    let dir = scratch(pki(), "ours");
    let algorithms = [
        ContentEncryption::Aes128Cbc,
        ContentEncryption::Aes256Cbc,
        ContentEncryption::Aes128Gcm,
        ContentEncryption::Aes256Gcm,
    ];
    let transports = [
        KeyTransport::RsaPkcs1v15,
        KeyTransport::RsaOaep(DigestAlgorithm::Sha256),
    ];
    for algorithm in algorithms {
        for key_transport in transports {
            for recipient_id in [
                RecipientIdKind::IssuerAndSerial,
                RecipientIdKind::SubjectKeyIdentifier,
            ] {
                let options = EncryptOptions {
                    algorithm,
                    key_transport,
                    recipient_id,
                    protect_headers: false,
                };
                let encrypted =
                    envelope::encrypt(MESSAGE, &[pki().rsa.cert.clone()], &options, &mut rng())
                        .unwrap();
                let text = String::from_utf8(encrypted.clone()).unwrap();
                assert!(text.starts_with("From: Alice <alice@example.test>\r\n"));
                assert!(!text.contains("Hello Bob"));
                let expected_type = if algorithm.is_authenticated() {
                    "authEnveloped-data"
                } else {
                    "smime-type=enveloped-data"
                };
                assert!(text.contains(expected_type));
                assert_eq!(openssl_decrypt(&dir, &encrypted), ENTITY, "{options:?}");

                // We read our own output too.
                let decrypted = decrypt::decrypt(&encrypted, &alice_keys(), &mut rng()).unwrap();
                assert_eq!(decrypted.content, ENTITY);
                assert_eq!(decrypted.authenticated, algorithm.is_authenticated());
            }
        }
    }
}

/// Encrypt ENTITY to Alice with `openssl cms -encrypt` and the given arguments.
fn openssl_encrypt(dir: &Path, before_recipient: &[&str], after_recipient: &[&str]) -> Vec<u8> {
    openssl_encrypt_to(dir, &pki().rsa, before_recipient, after_recipient)
}

fn openssl_encrypt_to(
    dir: &Path,
    to: &Identity,
    before_recipient: &[&str],
    after_recipient: &[&str],
) -> Vec<u8> {
    std::fs::write(dir.join("entity.txt"), ENTITY).unwrap();
    let mut args = vec!["cms", "-encrypt", "-binary", "-in", "entity.txt"];
    args.extend_from_slice(before_recipient);
    args.extend_from_slice(&["-recip", to.cert_path.to_str().unwrap()]);
    args.extend_from_slice(after_recipient);
    run(dir, "openssl", &args)
}

#[test]
fn openssl_messages_decrypt_here() {
    let dir = scratch(pki(), "theirs");
    let legacy = ["-provider", "legacy", "-provider", "default"];
    let cases: Vec<(Vec<&str>, Vec<&str>, _, bool)> = vec![
        (vec!["-aes256"], vec![], oid::AES256_CBC, false),
        (vec!["-aes128"], vec![], oid::AES128_CBC, false),
        (vec!["-aes192"], vec![], oid::AES192_CBC, false),
        (vec!["-aes256", "-stream"], vec![], oid::AES256_CBC, false),
        (vec!["-aes-128-gcm"], vec![], oid::AES128_GCM, true),
        (
            vec!["-aes-256-gcm", "-stream"],
            vec![],
            oid::AES256_GCM,
            true,
        ),
        (vec!["-aes256", "-keyid"], vec![], oid::AES256_CBC, false),
        (
            vec!["-aes256"],
            vec!["-keyopt", "rsa_padding_mode:oaep"],
            oid::AES256_CBC,
            false,
        ),
        (
            vec!["-aes-256-gcm"],
            vec![
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha256",
            ],
            oid::AES256_GCM,
            true,
        ),
        (vec!["-des3"], vec![], oid::DES_EDE3_CBC, false),
        (
            [&legacy[..], &["-rc2"]].concat(),
            vec![],
            oid::RC2_CBC,
            false,
        ),
        (
            [&legacy[..], &["-rc2-40"]].concat(),
            vec![],
            oid::RC2_CBC,
            false,
        ),
    ];
    for (before, after, algorithm, authenticated) in cases {
        let encrypted = openssl_encrypt(&dir, &before, &after);
        let decrypted = decrypt::decrypt(&encrypted, &alice_keys(), &mut rng())
            .unwrap_or_else(|e| panic!("{before:?} {after:?}: {e}"));
        assert_eq!(decrypted.content, ENTITY, "{before:?} {after:?}");
        assert_eq!(decrypted.algorithm, algorithm, "{before:?}");
        assert_eq!(decrypted.authenticated, authenticated);
        assert_eq!(
            decrypted.legacy_algorithm,
            algorithm == oid::DES_EDE3_CBC || algorithm == oid::RC2_CBC
        );
        let envelope = Envelope::from_message(&encrypted).unwrap();
        let expect_ski = before.contains(&"-keyid");
        assert!(
            matches!(
                envelope.recipients()[0].id,
                RecipientId::SubjectKeyIdentifier(_)
            ) == expect_ski
        );
    }
}

#[test]
fn failures_yield_no_plaintext() {
    let dir = scratch(pki(), "failures");
    // Not for us: only Bob's (EC) identity is offered.
    let encrypted = openssl_encrypt(&dir, &["-aes-256-gcm"], &[]);
    let bob: [(&smime::Certificate, &dyn Decryptor); 1] = [(&pki().p256.cert, &pki().p256.key)];
    assert!(matches!(
        decrypt::decrypt(&encrypted, &bob, &mut rng()),
        Err(smime::Error::DecryptionFailed)
    ));

    // The right certificate with the wrong RSA key (a renewed key, a wrong card slot): the
    // PKCS#1 v1.5 unwrap fails, and CBC content decrypted with the stand-in random key is
    // discarded rather than returned as garbage.
    let other_key = run(
        &dir,
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
    );
    let other_key = smime::SoftKey::from_pkcs8_pem(&other_key).unwrap();
    let wrong: [(&smime::Certificate, &dyn Decryptor); 1] = [(&pki().rsa.cert, &other_key)];
    for _ in 0..16 {
        let cbc = envelope::encrypt(
            MESSAGE,
            std::slice::from_ref(&pki().rsa.cert),
            &EncryptOptions::default(),
            &mut rng(),
        )
        .unwrap();
        assert!(matches!(
            decrypt::decrypt(&cbc, &wrong, &mut rng()),
            Err(smime::Error::DecryptionFailed)
        ));
    }

    // A flipped ciphertext byte in AES-GCM is an error, not altered plaintext.
    let der = openssl_encrypt(&dir, &["-aes-256-gcm", "-outform", "DER"], &[]);
    let envelope = Envelope::from_cms(&der).unwrap();
    assert!(envelope.decrypt(&alice_keys(), &mut rng()).is_ok());
    let mut tampered = der.clone();
    let last = tampered.len() - 40; // inside the ciphertext, before the 16-byte mac
    tampered[last] ^= 0x01;
    let result = Envelope::from_cms(&tampered).and_then(|e| e.decrypt(&alice_keys(), &mut rng()));
    assert!(
        matches!(result, Err(smime::Error::DecryptionFailed)),
        "{result:?}"
    );

    // The two-phase API: the caller unwraps the key itself.
    let recipient = envelope.recipients_for(&pki().rsa.cert).next().unwrap();
    let RecipientKey::Transport {
        transport: Some(transport),
        encrypted_key,
    } = &recipient.key
    else {
        panic!("not key transport: {recipient:?}");
    };
    let key = pki()
        .rsa
        .key
        .decrypt_key(*transport, encrypted_key, &mut rng())
        .unwrap();
    assert_eq!(envelope.open(&key).unwrap().content, ENTITY);
    assert!(matches!(
        envelope.open(&[0u8; 32]),
        Err(smime::Error::DecryptionFailed)
    ));
    assert!(envelope.open(&[0u8; 5]).is_err());
}

#[test]
fn ecdh_p256_both_ways() {
    let dir = scratch(pki(), "ecdh");
    let bob = &pki().p256;
    let bob_keys: [(&smime::Certificate, &dyn Decryptor); 1] = [(&bob.cert, &bob.key)];

    // We encrypt to Bob (RFC 5753, SHA-256 KDF) → openssl decrypts.
    for algorithm in [ContentEncryption::Aes128Cbc, ContentEncryption::Aes256Gcm] {
        for recipient_id in [
            RecipientIdKind::IssuerAndSerial,
            RecipientIdKind::SubjectKeyIdentifier,
        ] {
            let options = EncryptOptions {
                algorithm,
                recipient_id,
                ..EncryptOptions::default()
            };
            let encrypted = envelope::encrypt(
                MESSAGE,
                std::slice::from_ref(&bob.cert),
                &options,
                &mut rng(),
            )
            .unwrap();
            assert_eq!(
                openssl_decrypt_as(&dir, &encrypted, bob),
                ENTITY,
                "{options:?}"
            );
            assert_eq!(
                decrypt::decrypt(&encrypted, &bob_keys, &mut rng())
                    .unwrap()
                    .content,
                ENTITY
            );
        }
    }

    // One message for an RSA and an EC recipient: each reads it.
    let both = [pki().rsa.cert.clone(), bob.cert.clone()];
    let encrypted =
        envelope::encrypt(MESSAGE, &both, &EncryptOptions::default(), &mut rng()).unwrap();
    assert_eq!(openssl_decrypt_as(&dir, &encrypted, bob), ENTITY);
    assert_eq!(openssl_decrypt_as(&dir, &encrypted, &pki().rsa), ENTITY);
    assert_eq!(
        decrypt::decrypt(&encrypted, &bob_keys, &mut rng())
            .unwrap()
            .content,
        ENTITY
    );
    assert_eq!(
        decrypt::decrypt(&encrypted, &alice_keys(), &mut rng())
            .unwrap()
            .content,
        ENTITY
    );

    // openssl encrypts to Bob: its default SHA-1 KDF, SHA-256, GCM, -keyid, -stream.
    let cases: [(&[&str], &[&str]); 5] = [
        (&["-aes256"], &[]),
        (&["-aes128"], &["-keyopt", "ecdh_kdf_md:sha256"]),
        (&["-aes-256-gcm"], &["-keyopt", "ecdh_kdf_md:sha384"]),
        (&["-aes256", "-keyid"], &[]),
        (&["-aes-128-gcm", "-stream"], &[]),
    ];
    for (before, after) in cases {
        let encrypted = openssl_encrypt_to(&dir, bob, before, after);
        let decrypted = decrypt::decrypt(&encrypted, &bob_keys, &mut rng())
            .unwrap_or_else(|e| panic!("{before:?} {after:?}: {e}"));
        assert_eq!(decrypted.content, ENTITY, "{before:?} {after:?}");
        let envelope = Envelope::from_message(&encrypted).unwrap();
        assert!(matches!(
            envelope.recipients()[0].key,
            RecipientKey::Agreement { .. }
        ));
        // Alice's RSA key is not a recipient of these.
        assert!(decrypt::decrypt(&encrypted, &alice_keys(), &mut rng()).is_err());
    }
}

#[test]
fn ecdh_p384_both_ways() {
    let dir = scratch(pki(), "ecdh384");
    let carol = &pki().p384;
    let carol_keys: [(&smime::Certificate, &dyn Decryptor); 1] = [(&carol.cert, &carol.key)];
    let options = EncryptOptions {
        algorithm: ContentEncryption::Aes256Gcm,
        ..EncryptOptions::default()
    };
    let encrypted = envelope::encrypt(
        MESSAGE,
        std::slice::from_ref(&carol.cert),
        &options,
        &mut rng(),
    )
    .unwrap();
    assert_eq!(openssl_decrypt_as(&dir, &encrypted, carol), ENTITY);
    assert_eq!(
        decrypt::decrypt(&encrypted, &carol_keys, &mut rng())
            .unwrap()
            .content,
        ENTITY
    );
    for after in [&[][..], &["-keyopt", "ecdh_kdf_md:sha384"][..]] {
        let encrypted = openssl_encrypt_to(&dir, carol, &["-aes256"], after);
        assert_eq!(
            decrypt::decrypt(&encrypted, &carol_keys, &mut rng())
                .unwrap()
                .content,
            ENTITY,
            "{after:?}"
        );
    }
}

/// WebCrypto stand-in: AES in the test, outside the engine, in WebCrypto's output layout.
fn external_encrypt(
    algorithm: ContentEncryption,
    key: &[u8],
    iv: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit};
    use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
    match algorithm {
        ContentEncryption::Aes128Gcm => {
            let nonce: [u8; 12] = iv.try_into().unwrap();
            aes_gcm::Aes128Gcm::new_from_slice(key)
                .unwrap()
                .encrypt(&nonce.into(), plaintext)
                .unwrap()
        }
        ContentEncryption::Aes256Gcm => {
            let nonce: [u8; 12] = iv.try_into().unwrap();
            aes_gcm::Aes256Gcm::new_from_slice(key)
                .unwrap()
                .encrypt(&nonce.into(), plaintext)
                .unwrap()
        }
        ContentEncryption::Aes128Cbc => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
            .unwrap()
            .encrypt_padded_vec::<Pkcs7>(plaintext),
        ContentEncryption::Aes256Cbc => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .unwrap()
            .encrypt_padded_vec::<Pkcs7>(plaintext),
    }
}

#[test]
fn content_encryption_can_happen_outside_the_engine() {
    let dir = scratch(pki(), "external");
    for algorithm in [ContentEncryption::Aes256Gcm, ContentEncryption::Aes128Cbc] {
        let options = EncryptOptions {
            algorithm,
            ..EncryptOptions::default()
        };
        let prepared =
            envelope::prepare(MESSAGE, &[pki().rsa.cert.clone()], &options, &mut rng()).unwrap();
        let ciphertext = external_encrypt(
            algorithm,
            prepared.content_key(),
            prepared.iv(),
            prepared.plaintext(),
        );
        let message = prepared.finish(ciphertext).unwrap();
        assert_eq!(openssl_decrypt(&dir, &message), ENTITY, "{algorithm:?}");

        // And the reverse: unwrap the key here, decrypt the content "in WebCrypto".
        let envelope = Envelope::from_message(&message).unwrap();
        let recipient = envelope.recipients_for(&pki().rsa.cert).next().unwrap();
        let RecipientKey::Transport {
            transport: Some(transport),
            encrypted_key,
        } = &recipient.key
        else {
            panic!("not key transport");
        };
        let key = pki()
            .rsa
            .key
            .decrypt_key(*transport, encrypted_key, &mut rng())
            .unwrap();
        let params = envelope.content_parameters().unwrap();
        assert_eq!(params.algorithm, algorithm);
        let again = external_encrypt(algorithm, &key, &params.iv, ENTITY);
        let mut expected = params.ciphertext.to_vec();
        expected.extend_from_slice(params.tag.unwrap_or_default());
        assert_eq!(again, expected, "same key and IV give the same ciphertext");
    }
    // A ciphertext of the wrong length is refused.
    let options = EncryptOptions {
        algorithm: ContentEncryption::Aes256Gcm,
        ..EncryptOptions::default()
    };
    let prepared =
        envelope::prepare(MESSAGE, &[pki().rsa.cert.clone()], &options, &mut rng()).unwrap();
    assert!(prepared.finish(vec![0u8; 10]).is_err());
    // Legacy content can only be opened here.
    let legacy = openssl_encrypt(&dir, &["-des3"], &[]);
    assert!(
        Envelope::from_message(&legacy)
            .unwrap()
            .content_parameters()
            .is_none()
    );
}
