//! Card keys end to end, natively: the page's card session (`LocalCard`) over our CCID driver
//! to a real PIV implementation in a reader model, signing and decrypting for the engine.
//! openssl checks what the card signed and reads what was encrypted to it.

mod common;

use std::path::Path;

use card::ccid::{CcidDescriptor, Reader, UsbPipe};
use common::openssl;
use futures_executor::block_on;
use sealmail_client::card::LocalCard;
use sealmail_client::open::{self, KeyInput, OpenError};
use sealmail_client::seal::{self, SealError, SealRequest};
use serde_bytes::ByteBuf;
use smime::bulk::Software;
use virtual_card::provision::{
    KeyAlgorithm as GeneratedKey, SlotContent, SlotKey, generate, provision, put_certificate,
};
use virtual_card::{CcidReader, Exchange, ReaderConfig, VirtualPiv};

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

const LEAF: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment,keyAgreement\n\
extendedKeyUsage=emailProtection\nsubjectAltName=email:alice@example.test\n";

/// An e-mail certificate from the test root (`root.pem`, made by [`alice`]) written to `out`;
/// `subject` says whose (a CSR, or a subject and public key).
fn issue_from_root(dir: &Path, subject: &[&str], out: &str) {
    let mut args = vec!["x509"];
    args.extend_from_slice(subject);
    args.extend_from_slice(&[
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        "leaf.cnf",
        "-out",
        out,
    ]);
    openssl(dir, &args, None);
}

/// A root CA and alice's RSA key with a certificate from it (for the card's 9A, the one slot
/// this card imports RSA keys into). Returns alice's PKCS#8 DER and certificate DER.
fn alice(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    std::fs::write(dir.join("leaf.cnf"), LEAF).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Card Test Root",
        ],
        None,
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "alice.key",
            "-out",
            "alice.csr",
            "-subj",
            "/CN=Alice",
        ],
        None,
    );
    issue_from_root(dir, &["-req", "-in", "alice.csr"], "alice.pem");
    let pkcs8 = openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "alice.key",
            "-outform",
            "DER",
        ],
        None,
    );
    let cert = openssl(dir, &["x509", "-in", "alice.pem", "-outform", "DER"], None);
    (pkcs8, cert)
}

/// alice's card: her RSA key in 9A, and a P-256 signature key the card generates in 9C, its
/// certificate issued by the root.
fn alices_card(dir: &Path, pkcs8: &[u8], cert: &[u8]) -> LocalCard<Reader<ModelPipe>> {
    let mut piv = VirtualPiv::new();
    provision(
        &mut piv,
        &[SlotContent {
            slot: 0x9A,
            key: SlotKey::Rsa2048 {
                pkcs8_der: pkcs8.to_vec(),
            },
            certificate_der: cert.to_vec(),
        }],
        None,
    )
    .unwrap();
    let spki = generate(&mut piv, 0x9C, GeneratedKey::P256).unwrap();
    std::fs::write(dir.join("card-9c.pub.der"), spki).unwrap();
    openssl(
        dir,
        &[
            "pkey",
            "-pubin",
            "-inform",
            "DER",
            "-in",
            "card-9c.pub.der",
            "-out",
            "card-9c.pub.pem",
        ],
        None,
    );
    issue_from_root(
        dir,
        &[
            "-new",
            "-subj",
            "/CN=Alice (card signature)",
            "-force_pubkey",
            "card-9c.pub.pem",
        ],
        "card-9c.pem",
    );
    let signature_cert = openssl(
        dir,
        &["x509", "-in", "card-9c.pem", "-outform", "DER"],
        None,
    );
    put_certificate(&mut piv, 0x9C, &signature_cert).unwrap();
    let model = CcidReader::new(
        piv,
        ReaderConfig {
            exchange: Exchange::ExtendedApdu,
            max_message_len: 271,
            time_extensions: 1,
            ifsc: 32,
        },
    );
    let descriptor = CcidDescriptor::parse(&model.class_descriptor()).unwrap();
    block_on(async {
        let reader = Reader::power_on(ModelPipe(model), descriptor)
            .await
            .unwrap();
        LocalCard::open(reader).await.unwrap()
    })
}

const OUTER: &[u8] =
    b"From: alice@example.test\r\nTo: alice@example.test\r\nSubject: t\r\nMIME-Version: 1.0\r\n";

#[test]
fn a_card_key_signs_and_decrypts_triple_wrapped_mail() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pkcs8, cert) = alice(d);
    let card = alices_card(d, &pkcs8, &cert);
    let found = block_on(card.certificates()).unwrap();
    assert_eq!(
        found.iter().map(|c| c.slot).collect::<Vec<_>>(),
        [0x9C, 0x9A]
    );
    let signature_cert = found[0].certificate.clone();

    let request = SealRequest {
        text: "Signed on the card.\n".into(),
        sign: true,
        encrypt: true,
        triple_wrap: true,
        card_slot: Some(0x9C),
        certificate: Some(signature_cert),
        recipients: vec![ByteBuf::from(cert.clone())],
        time: 1_700_000_000.0,
        ..SealRequest::default()
    };
    // Without the PIN the card refuses, and the user is told so.
    let refused = block_on(seal::seal_message_with(&Software, &request, &card)).unwrap_err();
    assert!(matches!(refused, SealError::Engine(_)), "{refused}");
    assert!(refused.to_string().contains("PIN"), "{refused}");

    block_on(card.unlock("123456")).unwrap();
    // Triple wrap signs twice with the PIN-always signature key (ECDSA on the card): the held
    // PIN is presented before each signature.
    let sealed = block_on(seal::seal_message_with(&Software, &request, &card)).unwrap();
    card.forget_pin();

    std::fs::write(d.join("sealed.eml"), [OUTER, &sealed].concat()).unwrap();
    let enveloped = openssl(
        d,
        &[
            "cms",
            "-verify",
            "-in",
            "sealed.eml",
            "-CAfile",
            "root.pem",
            "-purpose",
            "any",
        ],
        None,
    );
    let signed = openssl(
        d,
        &[
            "cms",
            "-decrypt",
            "-recip",
            "alice.pem",
            "-inkey",
            "alice.key",
        ],
        Some(&enveloped),
    );
    let content = openssl(
        d,
        &["cms", "-verify", "-CAfile", "root.pem", "-purpose", "any"],
        Some(&signed),
    );
    assert!(String::from_utf8_lossy(&content).contains("Signed on the card."));

    // alice reads it back with the card's RSA key.
    let keys = [KeyInput {
        pkcs8: None,
        certificate: ByteBuf::from(cert.clone()),
        card_slot: Some(0x9A),
    }];
    block_on(card.unlock("123456")).unwrap();
    let opened = block_on(open::open_message_with(&Software, &sealed, &keys, &card)).unwrap();
    assert!(opened.encrypted);
    assert!(opened.signatures_valid);
    assert_eq!(
        opened.message.text.as_deref().map(str::trim_end),
        Some("Signed on the card.")
    );

    // Locked after use: the card itself forgets the PIN, so its keys need it again.
    block_on(card.lock()).unwrap();
    let again = block_on(open::open_message_with(&Software, &sealed, &keys, &card)).unwrap_err();
    assert!(
        matches!(&again, OpenError::Card(why) if why.contains("PIN")),
        "{again}"
    );
}

#[test]
fn mail_encrypted_by_openssl_opens_with_the_card_and_a_card_failure_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pkcs8, cert) = alice(d);
    let card = alices_card(d, &pkcs8, &cert);
    block_on(card.certificates()).unwrap();
    let message = b"To: alice@example.test\r\nSubject: from openssl\r\n\r\nHello card.\r\n";
    for cipher in ["-aes-256-cbc", "-aes-128-gcm"] {
        let mut args = vec!["cms", "-encrypt", cipher, "-recip", "alice.pem"];
        if cipher.ends_with("gcm") {
            args.extend([
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
            ]);
        }
        let encrypted = openssl(d, &args, Some(message));
        let keys = [KeyInput {
            pkcs8: None,
            certificate: ByteBuf::from(cert.clone()),
            card_slot: Some(0x9A),
        }];
        block_on(card.unlock("123456")).unwrap();
        let opened =
            block_on(open::open_message_with(&Software, &encrypted, &keys, &card)).unwrap();
        assert_eq!(
            opened.message.text.as_deref().map(str::trim_end),
            Some("Hello card."),
            "{cipher}"
        );
        card.forget_pin();
    }
    // A card asked for a key slot it does not have says so, instead of "damaged".
    let encrypted = openssl(
        d,
        &["cms", "-encrypt", "-aes-256-cbc", "-recip", "alice.pem"],
        Some(message),
    );
    let keys = [KeyInput {
        pkcs8: None,
        certificate: ByteBuf::from(cert),
        card_slot: Some(0x85),
    }];
    let failed =
        block_on(open::open_message_with(&Software, &encrypted, &keys, &card)).unwrap_err();
    assert!(matches!(failed, OpenError::Card(_)), "{failed}");
}
