//! Signing and verification against `openssl cms`, both directions.

// They spawn openssl/gpgsm and use OS randomness: native only.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{ENTITY, Identity, MESSAGE, Pki, rng, run, scratch};
use smime::algorithms::{ContentEncryption, DigestAlgorithm, SignatureScheme};
use smime::sign::{self, SignOptions, SignedFormat, SignerIdKind};
use smime::verify::{self, SignerProblem};

fn pki() -> &'static Pki {
    common::pki("sign_verify")
}

const SIGNING_TIME: Duration = Duration::from_secs(1_750_000_000);

fn our_signature(identity: &Identity, options: &SignOptions) -> Vec<u8> {
    sign::sign(MESSAGE, &identity.cert, &identity.key, options, &mut rng()).unwrap()
}

/// Where openssl finds the intermediate when verifying.
#[derive(Clone, Copy, PartialEq)]
enum Intermediate {
    /// In the message: proves we carried the chain. Only the root is trusted.
    Carried,
    /// Supplied beside the root. openssl 3.0 `cms -verify` does not use `-certfile` for chain
    /// building (only to find signer certificates), so it goes into the CAfile bundle.
    Supplied,
}

/// `openssl cms -verify` against the test root; returns the content openssl extracted.
fn openssl_verify(dir: &Path, message: &[u8], intermediate: Intermediate) -> Vec<u8> {
    std::fs::write(dir.join("signed.eml"), message).unwrap();
    let mut trusted = std::fs::read(&pki().root_path).unwrap();
    if intermediate == Intermediate::Supplied {
        trusted.extend(std::fs::read(&pki().intermediate_path).unwrap());
    }
    std::fs::write(dir.join("trusted.pem"), trusted).unwrap();
    // No -binary here: with it, openssl 3.0 keeps the CR of the CRLF before the closing
    // boundary of a multipart/signed and reports a content mismatch for correct CRLF mail.
    let args = "cms -verify -in signed.eml -CAfile trusted.pem -out content.out";
    run(dir, "openssl", &args.split(' ').collect::<Vec<_>>());
    std::fs::read(dir.join("content.out")).unwrap()
}

#[test]
fn our_clear_rsa_signature_verifies_in_openssl() {
    let dir = scratch(pki(), "ours_clear_rsa");
    let options = SignOptions {
        signing_time: Some(SIGNING_TIME),
        capabilities: vec![ContentEncryption::Aes256Gcm, ContentEncryption::Aes256Cbc],
        encryption_key_preference: Some(pki().rsa.cert.clone()),
        ..SignOptions::default()
    };
    let signed = our_signature(&pki().rsa, &options);
    let text = String::from_utf8(signed.clone()).unwrap();
    assert!(text.starts_with(
        "From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: test\r\n"
    ));
    assert!(text.contains("micalg=sha-256"));
    assert!(!text.contains("\n\n") && text.matches('\n').count() == text.matches("\r\n").count());
    assert_eq!(
        openssl_verify(&dir, &signed, Intermediate::Supplied),
        ENTITY
    );

    // And we read our own output, capabilities included.
    let result = verify::verify(&signed).unwrap();
    assert!(result.all_valid());
    let signer = &result.signers[0];
    assert_eq!(signer.signing_time, Some(SIGNING_TIME));
    assert_eq!(signer.matches_from, Some(true));
    assert_eq!(result.encryption_certificate(signer), Some(&pki().rsa.cert));
    assert_eq!(
        signer.capabilities,
        vec![
            ContentEncryption::Aes256Gcm.oid(),
            ContentEncryption::Aes256Cbc.oid()
        ]
    );
}

#[test]
fn our_opaque_signatures_verify_in_openssl() {
    let dir = scratch(pki(), "ours_opaque");
    let cases = [
        (
            &pki().rsa,
            SignatureScheme::RsaPkcs1v15,
            DigestAlgorithm::Sha256,
        ),
        (&pki().rsa, SignatureScheme::RsaPss, DigestAlgorithm::Sha384),
        (&pki().p256, SignatureScheme::Ecdsa, DigestAlgorithm::Sha256),
        (&pki().p384, SignatureScheme::Ecdsa, DigestAlgorithm::Sha512),
    ];
    for (identity, scheme, digest) in cases {
        let options = SignOptions {
            format: SignedFormat::Opaque,
            scheme: Some(scheme),
            digest: Some(digest),
            signer_id: SignerIdKind::SubjectKeyIdentifier,
            extra_certificates: vec![pki().intermediate.clone()],
            ..SignOptions::default()
        };
        let signed = our_signature(identity, &options);
        assert_eq!(
            openssl_verify(&dir, &signed, Intermediate::Carried),
            ENTITY,
            "{scheme:?} {digest:?}"
        );
        assert!(verify::verify(&signed).unwrap().all_valid());
    }
}

#[test]
fn our_clear_ecdsa_and_pss_verify_in_openssl() {
    let dir = scratch(pki(), "ours_clear_ec");
    for (identity, scheme) in [
        (&pki().p256, SignatureScheme::Ecdsa),
        (&pki().rsa, SignatureScheme::RsaPss),
    ] {
        let options = SignOptions {
            scheme: Some(scheme),
            ..SignOptions::default()
        };
        let signed = our_signature(identity, &options);
        assert_eq!(
            openssl_verify(&dir, &signed, Intermediate::Supplied),
            ENTITY
        );
    }
}

#[test]
fn two_phase_signing_matches_a_detached_signer() {
    // The async path: prepare, sign the digest elsewhere, finish.
    let identity = &pki().p256;
    let prepared = sign::prepare(MESSAGE, &identity.cert, &SignOptions::default()).unwrap();
    use smime::keys::Signer;
    let signature = identity
        .key
        .sign_digest(prepared.algorithm(), prepared.digest_to_sign(), &mut rng())
        .unwrap();
    let signed = prepared.finish(&signature).unwrap();
    assert!(verify::verify(&signed).unwrap().all_valid());

    // WebCrypto returns ECDSA as fixed-size r || s; finish() accepts that too.
    let prepared = sign::prepare(MESSAGE, &identity.cert, &SignOptions::default()).unwrap();
    let der_signature = identity
        .key
        .sign_digest(prepared.algorithm(), prepared.digest_to_sign(), &mut rng())
        .unwrap();
    let raw = p256::ecdsa::Signature::from_der(&der_signature)
        .unwrap()
        .to_bytes()
        .to_vec();
    assert_eq!(raw.len(), 64);
    let signed = prepared.finish(&raw).unwrap();
    assert!(verify::verify(&signed).unwrap().all_valid());

    // In one signature of 256, r begins with 0x30, a DER SEQUENCE's tag: still read as r || s.
    // (Taking the first byte as the tell failed CI once.) The signer's nonce is deterministic,
    // so the signed text varies, not the attempts.
    let (prepared, raw) = (0..20_000)
        .map(|i| {
            let message = [MESSAGE, format!("Attempt {i}.\r\n").as_bytes()].concat();
            let prepared =
                sign::prepare(&message, &identity.cert, &SignOptions::default()).unwrap();
            let der = identity
                .key
                .sign_digest(prepared.algorithm(), prepared.digest_to_sign(), &mut rng())
                .unwrap();
            let raw = p256::ecdsa::Signature::from_der(&der)
                .unwrap()
                .to_bytes()
                .to_vec();
            (prepared, raw)
        })
        .find(|(_, raw)| raw[0] == 0x30)
        .expect("a signature whose r begins with 0x30");
    let signed = prepared.finish(&raw).unwrap();
    assert!(verify::verify(&signed).unwrap().all_valid());

    // SHA-1 is for reading old mail only.
    let sha1 = SignOptions {
        digest: Some(DigestAlgorithm::Sha1),
        ..SignOptions::default()
    };
    assert!(matches!(
        sign::prepare(MESSAGE, &identity.cert, &sha1),
        Err(smime::Error::UnsupportedAlgorithm(_))
    ));

    // A signature from the wrong key is refused instead of producing bad mail.
    let prepared = sign::prepare(MESSAGE, &identity.cert, &SignOptions::default()).unwrap();
    let wrong =
        pki()
            .p384
            .key
            .sign_digest(prepared.algorithm(), prepared.digest_to_sign(), &mut rng());
    let wrong = wrong.unwrap_or_default();
    assert!(matches!(
        prepared.finish(&wrong),
        Err(smime::Error::SignatureMismatch)
    ));
}

/// Sign ENTITY with `openssl cms -sign` and the given extra arguments.
fn openssl_sign(dir: &Path, identity: &Identity, extra: &[&str]) -> Vec<u8> {
    std::fs::write(dir.join("entity.txt"), ENTITY).unwrap();
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-in",
        "entity.txt",
        "-signer",
        identity.cert_path.to_str().unwrap(),
        "-inkey",
        identity.key_path.to_str().unwrap(),
        "-certfile",
        pki().intermediate_path.to_str().unwrap(),
        "-from",
        identity.email,
        "-to",
        "someone@example.test",
        "-subject",
        "interop",
    ];
    args.extend_from_slice(extra);
    run(dir, "openssl", &args)
}

#[test]
fn openssl_signatures_verify_here() {
    let dir = scratch(pki(), "theirs");
    let cases: Vec<(
        &Identity,
        Vec<&str>,
        DigestAlgorithm,
        SignatureScheme,
        smime::sign::SignedFormat,
    )> = vec![
        (
            &pki().rsa,
            vec![],
            DigestAlgorithm::Sha256,
            SignatureScheme::RsaPkcs1v15,
            SignedFormat::Clear,
        ),
        (
            &pki().rsa,
            vec!["-nodetach"],
            DigestAlgorithm::Sha256,
            SignatureScheme::RsaPkcs1v15,
            SignedFormat::Opaque,
        ),
        (
            &pki().rsa,
            vec!["-stream"],
            DigestAlgorithm::Sha256,
            SignatureScheme::RsaPkcs1v15,
            SignedFormat::Clear,
        ),
        (
            &pki().rsa,
            vec!["-stream", "-nodetach"],
            DigestAlgorithm::Sha256,
            SignatureScheme::RsaPkcs1v15,
            SignedFormat::Opaque,
        ),
        (
            &pki().rsa,
            vec!["-md", "sha1"],
            DigestAlgorithm::Sha1,
            SignatureScheme::RsaPkcs1v15,
            SignedFormat::Clear,
        ),
        (
            &pki().rsa,
            vec!["-md", "sha512", "-keyopt", "rsa_padding_mode:pss"],
            DigestAlgorithm::Sha512,
            SignatureScheme::RsaPss,
            SignedFormat::Clear,
        ),
        (
            &pki().rsa,
            vec!["-keyid", "-md", "sha384"],
            DigestAlgorithm::Sha384,
            SignatureScheme::RsaPkcs1v15,
            SignedFormat::Clear,
        ),
        (
            &pki().p256,
            vec![],
            DigestAlgorithm::Sha256,
            SignatureScheme::Ecdsa,
            SignedFormat::Clear,
        ),
        (
            &pki().p256,
            vec!["-md", "sha1", "-nodetach", "-stream"],
            DigestAlgorithm::Sha1,
            SignatureScheme::Ecdsa,
            SignedFormat::Opaque,
        ),
        (
            &pki().p384,
            vec!["-md", "sha384"],
            DigestAlgorithm::Sha384,
            SignatureScheme::Ecdsa,
            SignedFormat::Clear,
        ),
    ];
    for (identity, extra, digest, scheme, format) in cases {
        let signed = openssl_sign(&dir, identity, &extra);
        let result = verify::verify(&signed).unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        assert_eq!(result.format, format, "{extra:?}");
        assert_eq!(result.content, ENTITY, "{extra:?}");
        assert_eq!(result.signers.len(), 1);
        let signer = &result.signers[0];
        assert!(signer.is_valid(), "{extra:?}: {signer:?}");
        assert_eq!(signer.digest_algorithm, Some(digest));
        assert_eq!(
            signer.signature_algorithm.map(|a| a.scheme),
            Some(scheme),
            "{extra:?}"
        );
        assert_eq!(signer.weak_algorithm, digest == DigestAlgorithm::Sha1);
        assert!(signer.signing_time.is_some());
        assert_eq!(signer.matches_from, Some(true));
        assert_eq!(signer.certificate.as_ref(), Some(&identity.cert));
        assert_eq!(
            result.certificates.len(),
            2,
            "signer and intermediate carried"
        );

        // With an encapsulated content, -stream really produces BER (indefinite lengths and
        // chunked OCTET STRINGs), so the normaliser is exercised; a detached signature stays DER.
        let blob = match smime::mime::parse_smime(&signed).unwrap() {
            smime::mime::SmimeContent::ClearSigned { signature, .. } => signature,
            smime::mime::SmimeContent::Opaque { cms } => cms,
            other => panic!("{other:?}"),
        };
        let is_ber = smime::ber::normalize(&blob).unwrap() != blob;
        let streamed = extra.contains(&"-stream") && format == SignedFormat::Opaque;
        assert_eq!(is_ber, streamed, "{extra:?}");

        // The same message saved with LF line endings still verifies.
        let lf: Vec<u8> = signed.iter().copied().filter(|&b| b != b'\r').collect();
        assert!(
            verify::verify(&lf).unwrap().all_valid(),
            "{extra:?} with LF"
        );
    }
}

#[test]
fn altered_content_is_reported() {
    let dir = scratch(pki(), "tampered");
    let signed = openssl_sign(&dir, &pki().rsa, &[]);
    let text = String::from_utf8(signed).unwrap();
    let tampered = text.replacen("Hello Bob", "Hello Bub", 1);
    assert_ne!(tampered, text);
    let result = verify::verify(tampered.as_bytes()).unwrap();
    let signer = &result.signers[0];
    assert!(!signer.digest_ok, "content altered must be detected");
    assert!(
        signer.signature_ok,
        "the signature over the attributes itself is intact"
    );
    assert!(!result.all_valid());

    // An opaque message with one flipped byte of eContent.
    let opaque = openssl_sign(&dir, &pki().rsa, &["-nodetach", "-outform", "DER"]);
    let position = opaque.windows(9).position(|w| w == b"Hello Bob").unwrap();
    let mut flipped = opaque.clone();
    flipped[position] ^= 0x01;
    let result = verify::verify_signed_data(&flipped, None).unwrap();
    assert!(!result.signers[0].digest_ok);
    assert!(
        verify::verify_signed_data(&opaque, None)
            .unwrap()
            .all_valid()
    );
}

#[test]
fn from_mismatch_and_missing_certificate_are_reported() {
    let dir = scratch(pki(), "mismatch");
    let signed = openssl_sign(&dir, &pki().rsa, &[]);
    let text = String::from_utf8(signed).unwrap();
    let forged = text.replacen("From: alice@example.test", "From: mallory@example.test", 1);
    assert_ne!(forged, text);
    let result = verify::verify(forged.as_bytes()).unwrap();
    assert!(result.all_valid(), "headers are outside the signature");
    assert_eq!(result.signers[0].matches_from, Some(false));

    let no_certs = openssl_sign(&dir, &pki().rsa, &["-nocerts"]);
    let result = verify::verify(&no_certs).unwrap();
    assert_eq!(
        result.signers[0].problem,
        Some(SignerProblem::CertificateNotFound)
    );
    assert!(!result.all_valid());
}

#[test]
fn a_signature_without_certificates_verifies_with_the_signers_certificate_offered() {
    let dir = scratch(pki(), "nocerts_candidates");
    let no_certs = openssl_sign(&dir, &pki().rsa, &["-nocerts"]);
    // Someone else's certificate is no help: only the one the SignerInfo names is used.
    let other = verify::verify_with_candidates(&no_certs, &[pki().p256.cert.clone()]).unwrap();
    assert_eq!(
        other.signers[0].problem,
        Some(SignerProblem::CertificateNotFound)
    );
    let result = verify::verify_with_candidates(
        &no_certs,
        &[pki().p256.cert.clone(), pki().rsa.cert.clone()],
    )
    .unwrap();
    assert!(result.all_valid(), "{:?}", result.signers[0]);
    let signer = &result.signers[0];
    assert!(signer.certificate_supplied);
    assert_eq!(signer.certificate.as_ref(), Some(&pki().rsa.cert));
    assert_eq!(signer.matches_from, Some(true));
    // Only what the message carried (the intermediate, from -certfile) is listed as carried.
    assert!(!result.certificates.contains(&pki().rsa.cert));
    let opened =
        smime::wrap::open_with_candidates(&no_certs, &[], &[pki().rsa.cert.clone()], &mut rng())
            .unwrap();
    assert!(opened.all_signatures_valid());

    // A carried certificate is not "supplied", even when offered too.
    let with_certs = openssl_sign(&dir, &pki().rsa, &[]);
    let result = verify::verify_with_candidates(&with_certs, &[pki().rsa.cert.clone()]).unwrap();
    assert!(result.all_valid());
    assert!(!result.signers[0].certificate_supplied);
}

#[test]
fn a_signer_among_several_senders_is_not_the_sender() {
    let dir = scratch(pki(), "several_senders");
    let signed = String::from_utf8(openssl_sign(&dir, &pki().rsa, &[])).unwrap();
    let alone = "From: alice@example.test";
    assert_eq!(
        verify::verify(signed.as_bytes()).unwrap().signers[0].matches_from,
        Some(true)
    );
    for from in [
        "From: alice@example.test, bob@example.test",
        "From: Bob <bob@example.test>, Alice <alice@example.test>",
        // A second From field is a second sender too: a reader may show either.
        "From: alice@example.test\r\nFrom: bob@example.test",
    ] {
        let forged = signed.replacen(alone, from, 1);
        assert_ne!(forged, signed);
        let result = verify::verify(forged.as_bytes()).unwrap();
        assert_eq!(result.signers[0].matches_from, Some(false), "{from}");
        // What the server and the browser use to open mail says the same.
        let opened = smime::wrap::open(forged.as_bytes(), &[], &mut rng()).unwrap();
        let smime::wrap::Layer::Signed { signers, .. } = &opened.layers[0] else {
            panic!("a signed layer")
        };
        assert_eq!(signers[0].matches_from, Some(false), "{from}");
    }
}

/// A nested multipart with an 8-bit text part and a binary attachment, LF line endings. (No NUL
/// byte: openssl's text mode stops reading at one.)
const NESTED_8BIT: &[u8] = b"From: alice@example.test\nSubject: nested\nContent-Type: multipart/mixed; boundary=\"outer\"\n\n\
--outer\nContent-Type: multipart/alternative; boundary=\"inner\"\n\n\
--inner\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\n\
--inner\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n<p>Gr\xc3\xbc\xc3\x9fe</p>\n\
--inner--\n\
--outer\nContent-Type: application/octet-stream; name=\"blob.bin\"\nContent-Transfer-Encoding: binary\n\n\x01\x02\xff\xfe\x80\n\
--outer--\n";

#[test]
fn nested_8bit_content_is_made_7bit_and_verifies_in_openssl() {
    let dir = scratch(pki(), "nested_ours");
    let alice = &pki().rsa;
    let prepared = sign::prepare(NESTED_8BIT, &alice.cert, &SignOptions::default()).unwrap();
    let entity = prepared.signed_entity().to_vec();
    assert!(
        entity.iter().all(|&b| b < 0x80 && b != 0),
        "signed entity must be 7-bit"
    );
    let signed = sign::sign(
        NESTED_8BIT,
        &alice.cert,
        &alice.key,
        &SignOptions::default(),
        &mut rng(),
    )
    .unwrap();
    assert_eq!(
        openssl_verify(&dir, &signed, Intermediate::Supplied),
        entity
    );

    // The transcoded parts decode back to the original bytes.
    let parsed = smime::mime::Entity::parse(&entity).unwrap();
    let boundary = parsed.content_type().param("boundary").unwrap().to_string();
    let parts = smime::mime::split_multipart(parsed.body, &boundary).unwrap();
    let attachment = smime::mime::Entity::parse(parts[1]).unwrap();
    // The CRLF before the delimiter belongs to the delimiter, not to the attachment.
    assert_eq!(attachment.decoded_body().unwrap(), b"\x01\x02\xff\xfe\x80");
    let alternative = smime::mime::Entity::parse(parts[0]).unwrap();
    let inner_boundary = alternative
        .content_type()
        .param("boundary")
        .unwrap()
        .to_string();
    let text = smime::mime::split_multipart(alternative.body, &inner_boundary).unwrap();
    let text = smime::mime::Entity::parse(text[0]).unwrap();
    assert_eq!(text.decoded_body().unwrap(), "Grüße aus Köln".as_bytes());
}

#[test]
fn openssl_signed_nested_8bit_content_verifies_here() {
    let dir = scratch(pki(), "nested_theirs");
    let alice = &pki().rsa;
    let split = smime::mime::split_message(NESTED_8BIT).unwrap();
    // LF line endings and 8-bit bytes, signed in openssl's text mode (it canonicalises to CRLF).
    let lf_entity: Vec<u8> = split
        .entity
        .iter()
        .copied()
        .filter(|&b| b != b'\r')
        .collect();
    std::fs::write(dir.join("entity.txt"), &lf_entity).unwrap();
    let signed = run(
        &dir,
        "openssl",
        &[
            "cms",
            "-sign",
            "-in",
            "entity.txt",
            "-signer",
            alice.cert_path.to_str().unwrap(),
            "-inkey",
            alice.key_path.to_str().unwrap(),
        ],
    );
    let result = verify::verify(&signed).unwrap();
    assert!(result.all_valid(), "{result:?}");
    assert_eq!(result.content, split.entity);
    // Saved by a Unix tool with LF endings: still valid.
    let lf: Vec<u8> = signed.iter().copied().filter(|&b| b != b'\r').collect();
    assert!(verify::verify(&lf).unwrap().all_valid());
}
