//! The pure halves of the JS API, end to end with openssl: import a .p12, seal, open, and
//! check openssl reads what we seal.

mod common;

use std::sync::OnceLock;

use common::{leaf, openssl, self_signed_ca};
use sealmail_client::identity::{self, IdentityError};
use sealmail_client::js::{SecretBytes, rng};
use sealmail_client::open::{self, KeyInput, LayerOutput, OpenError};
use sealmail_client::seal::{self, AttachmentInput, SealError, SealRequest};
use serde_bytes::ByteBuf;

const CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:Alice@Example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

struct Pki {
    dir: tempfile::TempDir,
    p12: Vec<u8>,
    /// A second identity the test messages are never encrypted to.
    other_p12: Vec<u8>,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("openssl.cnf"), CONFIG).unwrap();
        self_signed_ca(d, "root");
        for name in ["alice", "mallory"] {
            let subject = format!("/CN={name}/emailAddress={name}@example.test");
            leaf(d, name, "root", "leaf", &subject);
            openssl(
                d,
                &[
                    "pkcs12",
                    "-export",
                    "-inkey",
                    &format!("{name}.key"),
                    "-in",
                    &format!("{name}.pem"),
                    "-certfile",
                    "root.pem",
                    "-out",
                    &format!("{name}.p12"),
                    "-passout",
                    "pass:sesame",
                ],
                None,
            );
        }
        Pki {
            p12: std::fs::read(d.join("alice.p12")).unwrap(),
            other_p12: std::fs::read(d.join("mallory.p12")).unwrap(),
            dir,
        }
    })
}

fn key_input(contents: &identity::P12Contents) -> KeyInput {
    KeyInput {
        pkcs8: Some(SecretBytes(contents.pkcs8.clone())),
        certificate: contents.certificate.clone(),
        card_slot: None,
    }
}

fn request(contents: &identity::P12Contents, sign: bool, encrypt: bool) -> SealRequest {
    SealRequest {
        text: "Hello Bob,\nthe report is attached. Grüße!\n".into(),
        attachments: vec![AttachmentInput {
            name: "Bericht März.pdf".into(),
            content_type: "application/pdf".into(),
            data: ByteBuf::from((0..=255u8).cycle().take(10_000).collect::<Vec<_>>()),
        }],
        sign,
        encrypt,
        pkcs8: sign.then(|| SecretBytes(contents.pkcs8.clone())),
        certificate: sign.then(|| contents.certificate.clone()),
        chain: contents.chain.clone(),
        recipients: vec![contents.certificate.clone()],
        time: 1_700_000_000.0,
        ..SealRequest::default()
    }
}

const OUTER: &[u8] = b"From: alice@example.test\r\nTo: b@y\r\nSubject: t\r\nMIME-Version: 1.0\r\n";

#[test]
fn inspect_p12_and_certificate_info() {
    let contents = identity::inspect(&pki().p12, "sesame").unwrap();
    assert!(!contents.pkcs8.is_empty());
    assert_eq!(contents.chain.len(), 1);
    let info = &contents.info;
    assert_eq!(info.emails, ["alice@example.test"]);
    assert_eq!(info.key_type, "RSA-2048");
    assert_eq!(info.key_usage, ["digitalSignature", "keyEncipherment"]);
    assert_eq!(info.extended_key_usage, ["emailProtection"]);
    assert!(info.subject.contains("CN=alice"), "{}", info.subject);
    assert!(info.issuer.contains("CN=root"), "{}", info.issuer);
    assert_eq!(info.fingerprint.len(), 64);
    assert!(info.not_after > info.not_before);
    assert_eq!(
        identity::certificate_info_of(&contents.certificate).unwrap(),
        *info
    );
    let root = identity::certificate_info_of(&contents.chain[0]).unwrap();
    assert_eq!(root.key_usage, ["keyCertSign", "cRLSign"]);
    assert!(root.extended_key_usage.is_empty());
}

#[test]
fn p12_errors_are_sentences() {
    let wrong = identity::inspect(&pki().p12, "open sesame").unwrap_err();
    assert_eq!(wrong, IdentityError::WrongPassword);
    assert_eq!(
        wrong.to_string(),
        "The password for this digital ID file is wrong."
    );
    let garbage = identity::inspect(b"not a p12 at all", "x").unwrap_err();
    assert_eq!(
        garbage.to_string(),
        "This file is not a digital ID file (PKCS#12), or it is damaged."
    );
    let truncated = identity::inspect(&pki().p12[..pki().p12.len() / 2], "sesame").unwrap_err();
    assert_eq!(truncated, IdentityError::NotPkcs12);
    let d = pki().dir.path();
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-nokeys",
            "-in",
            "alice.pem",
            "-out",
            "nokey.p12",
            "-passout",
            "pass:x",
        ],
        None,
    );
    let nokey = identity::inspect(&std::fs::read(d.join("nokey.p12")).unwrap(), "x").unwrap_err();
    assert_eq!(nokey.to_string(), "This file holds no private key.");
}

fn export_request(contents: &identity::P12Contents, password: &str) -> identity::ExportRequest {
    identity::ExportRequest {
        pkcs8: SecretBytes(contents.pkcs8.clone()),
        certificate: contents.certificate.clone(),
        chain: contents.chain.clone(),
        password: password.into(),
        friendly_name: "alice@example.test".into(),
        for_gnupg22: false,
    }
}

/// An exported digital ID imports again with its new password, identical; openssl reads it.
#[test]
fn export_p12_then_import_it_again() {
    let contents = identity::inspect(&pki().p12, "sesame").unwrap();
    let file = identity::export(&export_request(&contents, "new secret"), &mut rng()).unwrap();
    let again = identity::inspect(&file, "new secret").unwrap();
    assert_eq!(*again.pkcs8, *contents.pkcs8);
    assert_eq!(again.certificate, contents.certificate);
    assert_eq!(again.chain, contents.chain);
    assert_eq!(
        identity::inspect(&file, "sesame").unwrap_err(),
        IdentityError::WrongPassword
    );
    let d = pki().dir.path();
    std::fs::write(d.join("exported.p12"), &file).unwrap();
    let info = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            "exported.p12",
            "-passin",
            "pass:new secret",
            "-info",
            "-noout",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(info.status.success());
    let info = String::from_utf8_lossy(&info.stderr);
    assert!(info.contains("MAC: sha256, Iteration 600000"), "{info}");
    assert!(
        info.contains("AES-256-CBC, Iteration 600000, PRF hmacWithSHA256"),
        "{info}"
    );

    // For GnuPG 2.2: the same ID, in the PBES2 flavour gpgsm 2.2 reads.
    let mut request = export_request(&contents, "new secret");
    request.for_gnupg22 = true;
    let file = identity::export(&request, &mut rng()).unwrap();
    assert_eq!(
        *identity::inspect(&file, "new secret").unwrap().pkcs8,
        *contents.pkcs8
    );
    std::fs::write(d.join("exported.p12"), &file).unwrap();
    let info = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            "exported.p12",
            "-passin",
            "pass:new secret",
            "-info",
            "-noout",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stderr);
    assert!(
        info.contains("AES-128-CBC, Iteration 600000, PRF hmacWithSHA1"),
        "{info}"
    );
}

#[test]
fn export_errors_are_sentences() {
    let contents = identity::inspect(&pki().p12, "sesame").unwrap();
    let other = identity::inspect(&pki().other_p12, "sesame").unwrap();
    let empty = identity::export(&export_request(&contents, ""), &mut rng()).unwrap_err();
    assert_eq!(
        empty.to_string(),
        "Choose a password for the file: it must not be empty."
    );
    let mut mismatched = export_request(&contents, "pw");
    mismatched.certificate = other.certificate.clone();
    let err = identity::export(&mismatched, &mut rng()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "This digital ID's private key does not belong to its certificate."
    );
}

#[test]
fn seal_sign_and_encrypt_then_open() {
    let contents = identity::inspect(&pki().p12, "sesame").unwrap();
    for triple_wrap in [false, true] {
        let mut req = request(&contents, true, true);
        req.triple_wrap = triple_wrap;
        req.content_encryption = Some("aes256-gcm".into());
        let sealed = seal::seal_message(&req).unwrap();
        assert!(
            sealed.starts_with(b"Content-Type: "),
            "{}",
            String::from_utf8_lossy(&sealed[..80])
        );
        assert!(sealed.windows(4).any(|w| w == b"\r\n\r\n"));
        assert!(!sealed.iter().any(|&b| b >= 0x80));
        let message = [OUTER, &sealed].concat();
        let opened = open::open_message(&message, &[key_input(&contents)]).unwrap();
        assert!(opened.encrypted);
        assert!(opened.signatures_valid);
        assert_eq!(opened.layers.len(), if triple_wrap { 3 } else { 2 });
        let LayerOutput::Encrypted {
            algorithm,
            authenticated,
            ..
        } = &opened.layers[usize::from(triple_wrap)]
        else {
            panic!("expected the encrypted layer")
        };
        assert_eq!(algorithm, "AES-256-GCM");
        assert!(authenticated);
        let LayerOutput::Signed { signers, .. } = opened.layers.last().unwrap() else {
            panic!("expected a signed layer inside")
        };
        assert!(signers[0].valid);
        assert_eq!(signers[0].digest_algorithm.as_deref(), Some("SHA-256"));
        assert_eq!(
            signers[0].signature_algorithm.as_deref(),
            Some("RSA PKCS#1 v1.5 with SHA-256")
        );
        assert_eq!(signers[0].signing_time, Some(1_700_000_000.0));
        assert_eq!(
            signers[0].info.as_ref().unwrap().emails,
            ["alice@example.test"]
        );
        let msg = &opened.message;
        // The last line break before a boundary belongs to the boundary (RFC 2046).
        assert_eq!(
            msg.text.as_deref(),
            Some("Hello Bob,\r\nthe report is attached. Grüße!")
        );
        assert_eq!(msg.attachments.len(), 1);
        assert_eq!(msg.attachments[0].name, "Bericht März.pdf");
        assert_eq!(msg.attachments[0].content_type, "application/pdf");
        assert_eq!(msg.attachments[0].data, req.attachments[0].data);
    }
}

#[test]
fn formatted_text_is_sealed_clean_beside_its_plain_text() {
    let contents = identity::inspect(&pki().p12, "sesame").unwrap();
    let mut req = request(&contents, true, true);
    req.html = Some(
        "<p>Hello <b>Bob</b></p><img src=\"https://tracker.test/p.gif\"><ul><li>figures</li></ul>\
         <script>steal()</script>"
            .into(),
    );
    let sealed = seal::seal_message(&req).unwrap();
    let opened = open::open_message(&[OUTER, &sealed].concat(), &[key_input(&contents)]).unwrap();
    let html = opened.message.html.as_deref().unwrap();
    assert!(
        html.contains("<b>Bob</b>") && html.contains("<li>figures</li>"),
        "{html}"
    );
    assert!(
        !html.contains("tracker") && !html.contains("steal"),
        "{html}"
    );
    // The text part comes from the HTML, not from the typed text beside it.
    let text = opened.message.text.as_deref().unwrap();
    assert!(
        text.contains("Hello **Bob**") && text.contains("* figures"),
        "{text}"
    );
    assert!(!text.contains("the report is attached"), "{text}");
    assert_eq!(opened.message.attachments.len(), 1);
}

#[test]
fn sign_only_clear_and_opaque_and_encrypt_only() {
    let contents = identity::inspect(&pki().p12, "sesame").unwrap();
    for opaque in [false, true] {
        let mut req = request(&contents, true, false);
        req.opaque = opaque;
        req.attachments.clear();
        let sealed = seal::seal_message(&req).unwrap();
        let opened = open::open_message(&[OUTER, &sealed].concat(), &[]).unwrap();
        assert!(!opened.encrypted && opened.signatures_valid);
        let LayerOutput::Signed {
            format, signers, ..
        } = &opened.layers[0]
        else {
            panic!("expected a signed layer")
        };
        assert_eq!(format, if opaque { "opaque" } else { "clear" });
        assert_eq!(signers[0].matches_from, Some(true));
        assert!(opened.message.attachments.is_empty());
        assert!(
            opened
                .message
                .text
                .as_deref()
                .unwrap()
                .starts_with("Hello Bob,")
        );
    }
    let req = request(&contents, false, true);
    let sealed = seal::seal_message(&req).unwrap();
    let opened = open::open_message(&sealed, &[key_input(&contents)]).unwrap();
    assert!(opened.encrypted && !opened.signatures_valid);
    let LayerOutput::Encrypted { algorithm, .. } = &opened.layers[0] else {
        panic!("expected an encrypted layer")
    };
    assert_eq!(algorithm, "AES-256-CBC");
}

#[test]
fn seal_errors() {
    let contents = identity::inspect(&pki().p12, "sesame").unwrap();
    let neither = request(&contents, false, false);
    assert!(matches!(
        seal::seal_message(&neither),
        Err(SealError::NothingToDo)
    ));
    let mut no_id = request(&contents, true, false);
    no_id.pkcs8 = None;
    assert_eq!(
        seal::seal_message(&no_id).unwrap_err().to_string(),
        "A digital ID that allows you to sign this message is missing."
    );
    let mut nobody = request(&contents, false, true);
    nobody.recipients.clear();
    assert!(matches!(
        seal::seal_message(&nobody),
        Err(SealError::NoRecipients)
    ));
    let mut odd = request(&contents, false, true);
    odd.content_encryption = Some("rot13".into());
    assert!(matches!(
        seal::seal_message(&odd),
        Err(SealError::UnknownOption(_))
    ));
}

#[test]
fn open_without_a_matching_key_or_damaged() {
    let contents = identity::inspect(&pki().p12, "sesame").unwrap();
    let other = identity::inspect(&pki().other_p12, "sesame").unwrap();
    let sealed = seal::seal_message(&request(&contents, true, true)).unwrap();
    for keys in [vec![], vec![key_input(&other)]] {
        let err = open::open_message(&sealed, &keys).unwrap_err();
        assert!(matches!(err, OpenError::NoMatchingKey));
        assert_eq!(
            err.to_string(),
            "This message can't be decrypted. If you have a smart card-based digital ID, insert the card and try to open the message again."
        );
    }
    let err = open::open_message(
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nAAAA\r\n",
        &[key_input(&contents)],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("This message is damaged and cannot be opened: "),
        "{err}"
    );
}

#[test]
fn openssl_reads_what_we_seal() {
    let contents = identity::inspect(&pki().p12, "sesame").unwrap();
    let d = pki().dir.path();
    let req = request(&contents, true, true);
    let sealed = seal::seal_message(&req).unwrap();
    std::fs::write(d.join("sealed.eml"), [OUTER, &sealed].concat()).unwrap();
    let signed = openssl(
        d,
        &[
            "cms",
            "-decrypt",
            "-in",
            "sealed.eml",
            "-recip",
            "alice.pem",
            "-inkey",
            "alice.key",
        ],
        None,
    );
    let content = openssl(d, &["cms", "-verify", "-CAfile", "root.pem"], Some(&signed));
    let text = String::from_utf8_lossy(&content);
    assert!(text.contains("multipart/mixed"), "{text}");
    assert!(
        text.contains("filename*=utf-8''Bericht%20M%C3%A4rz.pdf"),
        "{text}"
    );
}

/// A large body takes the engine's fast paths (DER passed through, whole-line base64, memchr
/// line scans); it must come back byte for byte. Speed is measured by `scripts/bench-wasm`.
#[test]
fn a_five_megabyte_attachment_survives_seal_and_open() {
    let contents = identity::inspect(&pki().p12, "sesame").unwrap();
    let mut req = request(&contents, true, true);
    let data: Vec<u8> = (0..5u32 << 20).map(|i| (i * 31 % 251) as u8).collect();
    req.attachments[0].data = ByteBuf::from(data.clone());
    let sealed = seal::seal_message(&req).unwrap();
    let opened = open::open_message(&sealed, &[key_input(&contents)]).unwrap();
    assert!(opened.signatures_valid);
    assert_eq!(
        opened.message.attachments[0].data.as_slice(),
        data.as_slice()
    );
}

#[test]
fn p256_identity_signs() {
    let d = pki().dir.path();
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.key",
        ],
        None,
    );
    openssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "ec.key",
            "-out",
            "ec.csr",
            "-subj",
            "/CN=ec",
            "-config",
            "openssl.cnf",
        ],
        None,
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "ec.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-out",
            "ec.pem",
            "-days",
            "30",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "leaf",
        ],
        None,
    );
    openssl(
        d,
        &[
            "pkcs12", "-export", "-inkey", "ec.key", "-in", "ec.pem", "-out", "ec.p12", "-passout",
            "pass:pw",
        ],
        None,
    );
    let contents = identity::inspect(&std::fs::read(d.join("ec.p12")).unwrap(), "pw").unwrap();
    assert_eq!(contents.info.key_type, "P-256");
    let mut req = request(&contents, true, false);
    // A chain that repeats the signer's certificate carries it once.
    req.chain = vec![contents.certificate.clone()];
    req.digest = Some("sha384".into());
    let sealed = seal::seal_message(&req).unwrap();
    let opened = open::open_message(&sealed, &[]).unwrap();
    assert!(opened.signatures_valid);
    let LayerOutput::Signed {
        certificates,
        signers,
        ..
    } = &opened.layers[0]
    else {
        panic!("expected a signed layer")
    };
    assert_eq!(certificates.len(), 1);
    assert_eq!(
        signers[0].signature_algorithm.as_deref(),
        Some("ECDSA with SHA-384")
    );
}
