//! The PIV client and CCID driver against a real PIV implementation (piv-authenticator on
//! trussed's virtual platform) inside a USB CCID reader model, over each exchange level a
//! reader may offer. Keys and certificates are made by openssl for each run, and everything the
//! card signs is checked by openssl.

use std::path::{Path, PathBuf};
use std::process::Command;

use card::Hash;
use card::ccid::{CcidDescriptor, Reader, UsbPipe};
use card::piv::{KeyAlgorithm, PinStatus, Piv, RsaSignature, Slot};
use card::rsa_encoding;
use futures_executor::block_on;
use sha2::{Digest, Sha256};
use virtual_card::provision::{
    KeyAlgorithm as GeneratedKey, SlotContent, SlotKey, generate, provision, put_certificate,
};
use virtual_card::{CcidReader, Exchange, ReaderConfig, VirtualPiv};

/// The host end of the model's bulk endpoints.
struct ModelPipe(CcidReader<VirtualPiv>);

impl UsbPipe for ModelPipe {
    async fn bulk_out(&mut self, data: &[u8]) -> Result<(), card::Error> {
        self.0.bulk_out(data);
        Ok(())
    }

    async fn bulk_in(&mut self, _max_len: usize) -> Result<Vec<u8>, card::Error> {
        self.0
            .bulk_in()
            .ok_or_else(|| card::Error::Usb("the reader had nothing to send".into()))
    }
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A key (`name.pem`, `name.pk8.der`, `name.pub.pem`) and a self-signed certificate
/// (`name.crt.der`) made by openssl.
struct TestKey {
    dir: PathBuf,
    name: String,
}

impl TestKey {
    fn new(dir: &Path, name: &str, algorithm: &[&str]) -> Self {
        let pem = format!("{name}.pem");
        let mut args = vec!["genpkey", "-out", &pem];
        args.extend_from_slice(algorithm);
        openssl(dir, &args);
        openssl(
            dir,
            &[
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                &pem,
                "-outform",
                "DER",
                "-out",
                &format!("{name}.pk8.der"),
            ],
        );
        openssl(
            dir,
            &[
                "pkey",
                "-in",
                &pem,
                "-pubout",
                "-out",
                &format!("{name}.pub.pem"),
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &pem,
                "-subj",
                &format!("/CN={name}"),
                "-days",
                "30",
                "-outform",
                "DER",
                "-out",
                &format!("{name}.crt.der"),
            ],
        );
        Self {
            dir: dir.to_path_buf(),
            name: name.into(),
        }
    }

    fn file(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.name)
    }

    fn read(&self, suffix: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(self.file(suffix))).unwrap()
    }

    /// openssl pkeyutl -verify of `signature` over `digest`; true when it verifies.
    fn verifies(&self, digest: &[u8], signature: &[u8], options: &[&str]) -> bool {
        std::fs::write(self.dir.join("digest.bin"), digest).unwrap();
        std::fs::write(self.dir.join("signature.bin"), signature).unwrap();
        let mut args = vec![
            "pkeyutl".to_string(),
            "-verify".into(),
            "-pubin".into(),
            "-inkey".into(),
            self.file("pub.pem"),
            "-in".into(),
            "digest.bin".into(),
            "-sigfile".into(),
            "signature.bin".into(),
        ];
        for option in options {
            args.push("-pkeyopt".into());
            args.push((*option).into());
        }
        Command::new("openssl")
            .current_dir(&self.dir)
            .args(&args)
            .output()
            .unwrap()
            .status
            .success()
    }
}

/// A public key the card generated, saved for openssl as `name.pub.pem`.
fn save_public_key(dir: &Path, name: &str, spki_der: &[u8]) -> TestKey {
    std::fs::write(dir.join(format!("{name}.pub.der")), spki_der).unwrap();
    openssl(
        dir,
        &[
            "pkey",
            "-pubin",
            "-inform",
            "DER",
            "-in",
            &format!("{name}.pub.der"),
            "-out",
            &format!("{name}.pub.pem"),
        ],
    );
    TestKey {
        dir: dir.to_path_buf(),
        name: name.into(),
    }
}

/// alice's RSA key and self-signed certificate, made by openssl.
struct Fixture {
    dir: tempfile::TempDir,
    rsa: TestKey,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let rsa = TestKey::new(
        dir.path(),
        "rsa",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    Fixture { dir, rsa }
}

/// A fresh card behind a reader of the given kind, PIV selected: alice's RSA key imported into
/// 9A with her certificate (this card imports RSA keys into 9A only), certificates in 9C, 9D and
/// retired slot 1, and a key generated by the card in each of `generated` (public keys returned
/// in order).
fn card(
    fixture: &Fixture,
    exchange: Exchange,
    generated: &[(u8, GeneratedKey)],
) -> (Piv<Reader<ModelPipe>>, Vec<TestKey>) {
    let cert = fixture.rsa.read("crt.der");
    let mut piv = VirtualPiv::new();
    provision(
        &mut piv,
        &[SlotContent {
            slot: 0x9A,
            key: SlotKey::Rsa2048 {
                pkcs8_der: fixture.rsa.read("pk8.der"),
            },
            certificate_der: cert.clone(),
        }],
        None,
    )
    .unwrap();
    for slot in [0x9C, 0x9D, 0x82] {
        put_certificate(&mut piv, slot, &cert).unwrap();
    }
    let keys = generated
        .iter()
        .map(|&(slot, algorithm)| {
            let spki = generate(&mut piv, slot, algorithm).unwrap();
            save_public_key(fixture.dir.path(), &format!("card-{slot:02x}"), &spki)
        })
        .collect();
    let model = CcidReader::new(
        piv,
        ReaderConfig {
            exchange,
            max_message_len: 271,
            time_extensions: 2,
            ifsc: 32,
        },
    );
    let descriptor = CcidDescriptor::parse(&model.class_descriptor()).unwrap();
    let piv = block_on(async {
        let reader = Reader::power_on(ModelPipe(model), descriptor)
            .await
            .unwrap();
        Piv::select(reader).await.unwrap()
    });
    (piv, keys)
}

const EXCHANGES: [fn() -> Exchange; 3] = [
    || Exchange::ExtendedApdu,
    || Exchange::ShortApdu,
    || Exchange::Tpdu,
];

#[test]
fn pin_right_wrong_and_blocked() {
    let fixture = fixture();
    for exchange in EXCHANGES {
        let (mut piv, _) = card(&fixture, exchange(), &[]);
        block_on(async {
            assert_eq!(piv.pin_status().await.unwrap(), PinStatus::TriesLeft(3));
            assert_eq!(
                piv.verify_pin("000000").await,
                Err(card::Error::WrongPin { tries_left: 2 })
            );
            assert_eq!(piv.pin_status().await.unwrap(), PinStatus::TriesLeft(2));
            piv.verify_pin("123456").await.unwrap();
            assert_eq!(piv.pin_status().await.unwrap(), PinStatus::Verified);
            assert_eq!(piv.verify_pin("12345").await, Err(card::Error::PinFormat));
            // A right PIN resets the counter; three wrong ones block the card.
            for left in [2, 1] {
                assert_eq!(
                    piv.verify_pin("999999").await,
                    Err(card::Error::WrongPin { tries_left: left })
                );
            }
            assert_eq!(piv.verify_pin("999999").await, Err(card::Error::PinBlocked));
            assert_eq!(piv.verify_pin("123456").await, Err(card::Error::PinBlocked));
            assert_eq!(piv.pin_status().await.unwrap(), PinStatus::Blocked);
        });
    }
}

#[test]
fn certificates_are_read_from_every_slot() {
    let fixture = fixture();
    for exchange in EXCHANGES {
        let (mut piv, _) = card(&fixture, exchange(), &[]);
        block_on(async {
            let rsa_cert = fixture.rsa.read("crt.der");
            for slot in [
                Slot::Authentication,
                Slot::Signature,
                Slot::KeyManagement,
                Slot::Retired(1),
            ] {
                assert_eq!(
                    piv.certificate(slot).await.unwrap(),
                    Some(rsa_cert.clone()),
                    "{slot:?}"
                );
            }
            assert_eq!(piv.certificate(Slot::Retired(2)).await.unwrap(), None);
        });
    }
}

#[test]
fn rsa_and_ecdsa_signatures_verify_with_openssl() {
    let fixture = fixture();
    let digest = Sha256::digest(b"the signed attributes").to_vec();
    for exchange in EXCHANGES {
        let (mut piv, keys) = card(&fixture, exchange(), &[(0x9C, GeneratedKey::P256)]);
        block_on(async {
            // Without the PIN the card refuses.
            assert_eq!(
                piv.sign_rsa(
                    Slot::Authentication,
                    RsaSignature::Pkcs1v15,
                    Hash::Sha256,
                    &digest
                )
                .await,
                Err(card::Error::PinNeeded)
            );
            piv.verify_pin("123456").await.unwrap();
            let pkcs1 = piv
                .sign_rsa(
                    Slot::Authentication,
                    RsaSignature::Pkcs1v15,
                    Hash::Sha256,
                    &digest,
                )
                .await
                .unwrap();
            assert!(fixture.rsa.verifies(&digest, &pkcs1, &["digest:sha256"]));
            assert!(
                !fixture
                    .rsa
                    .verifies(&Sha256::digest(b"other"), &pkcs1, &["digest:sha256"])
            );

            let salt = [7u8; 32];
            let pss = piv
                .sign_rsa(
                    Slot::Authentication,
                    RsaSignature::Pss { salt: &salt },
                    Hash::Sha256,
                    &digest,
                )
                .await
                .unwrap();
            assert!(fixture.rsa.verifies(
                &digest,
                &pss,
                &[
                    "digest:sha256",
                    "rsa_padding_mode:pss",
                    "rsa_pss_saltlen:32",
                    "rsa_mgf1_md:sha256",
                ]
            ));

            // The signature key wants the PIN right before every use (PIN Always).
            assert_eq!(
                piv.sign_ecdsa(Slot::Signature, KeyAlgorithm::EccP256, &digest)
                    .await,
                Err(card::Error::PinNeeded)
            );
            piv.verify_pin("123456").await.unwrap();
            let ecdsa = piv
                .sign_ecdsa(Slot::Signature, KeyAlgorithm::EccP256, &digest)
                .await
                .unwrap();
            assert!(keys[0].verifies(&digest, &ecdsa, &[]));
        });
    }
}

/// Encrypt `content_key` to `key` with openssl: PKCS#1 v1.5 and OAEP-SHA-256.
fn encrypted_to(key: &TestKey, content_key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let dir = &key.dir;
    std::fs::write(dir.join("cek.bin"), content_key).unwrap();
    let public = key.file("pub.pem");
    let pkcs1 = openssl(
        dir,
        &[
            "pkeyutl", "-encrypt", "-pubin", "-inkey", &public, "-in", "cek.bin",
        ],
    );
    let oaep = openssl(
        dir,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            &public,
            "-in",
            "cek.bin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    );
    (pkcs1, oaep)
}

#[test]
fn rsa_decryption_of_a_content_key() {
    let fixture = fixture();
    let content_key = [0x42u8; 32];
    let to_alice = encrypted_to(&fixture.rsa, &content_key);
    for exchange in EXCHANGES {
        // An old decryption key in a retired slot, made by the card, on one reader kind (RSA
        // key generation is slow on the virtual card).
        let retired: &[(u8, GeneratedKey)] = match exchange() {
            Exchange::ExtendedApdu => &[(0x82, GeneratedKey::Rsa2048)],
            _ => &[],
        };
        let (mut piv, keys) = card(&fixture, exchange(), retired);
        let mut cases = vec![(Slot::Authentication, to_alice.clone())];
        if let Some(key) = keys.first() {
            cases.push((Slot::Retired(1), encrypted_to(key, &content_key)));
        }
        block_on(async {
            piv.verify_pin("123456").await.unwrap();
            for (slot, (pkcs1, oaep)) in &cases {
                let block = piv.decrypt_rsa(*slot, pkcs1).await.unwrap();
                assert_eq!(
                    rsa_encoding::pkcs1v15_decryption_unpad(&block)
                        .unwrap()
                        .as_slice(),
                    content_key
                );
                assert!(rsa_encoding::oaep_unpad(Hash::Sha256, &block).is_none());
                let block = piv.decrypt_rsa(*slot, oaep).await.unwrap();
                assert_eq!(
                    rsa_encoding::oaep_unpad(Hash::Sha256, &block)
                        .unwrap()
                        .as_slice(),
                    content_key
                );
                assert!(rsa_encoding::pkcs1v15_decryption_unpad(&block).is_none());
            }
            assert_eq!(
                piv.decrypt_rsa(Slot::Retired(5), &to_alice.0).await,
                Err(card::Error::NoSuchKey)
            );
        });
    }
}

#[test]
fn ecdh_matches_openssl() {
    let fixture = fixture();
    let dir = fixture.dir.path();
    let peer = TestKey::new(
        dir,
        "peer",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let spki = openssl(
        dir,
        &[
            "pkey",
            "-in",
            &peer.file("pem"),
            "-pubout",
            "-outform",
            "DER",
        ],
    );
    let point = spki[spki.len() - 65..].to_vec();
    for exchange in EXCHANGES {
        let (mut piv, keys) = card(&fixture, exchange(), &[(0x9D, GeneratedKey::P256)]);
        let expected = openssl(
            dir,
            &[
                "pkeyutl",
                "-derive",
                "-inkey",
                &peer.file("pem"),
                "-peerkey",
                &keys[0].file("pub.pem"),
            ],
        );
        block_on(async {
            piv.verify_pin("123456").await.unwrap();
            let secret = piv
                .ecdh(Slot::KeyManagement, KeyAlgorithm::EccP256, &point)
                .await
                .unwrap();
            assert_eq!(secret.as_slice(), expected.as_slice());
        });
    }
}
