//! Entry points shared by the fuzz targets (and mirrored by `smime/tests/fuzz_regressions.rs`).
//! Each one feeds arbitrary bytes to a parser and ignores the result: a target fails only by
//! panicking, overflowing, running out of memory or hanging.

use smime::decrypt::Envelope;
use smime::keys::{Decryptor, SoftKey};
use smime::{Certificate, ber, headers, mime, verify, wrap};
use std::sync::OnceLock;

/// Throwaway test keys (committed on purpose, never used for anything else).
pub struct Keys {
    pub rsa_cert: Certificate,
    pub rsa_key: SoftKey,
    pub p256_cert: Certificate,
    pub p256_key: SoftKey,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa_cert: Certificate::from_pem(include_bytes!("../keys/rsa.crt")).unwrap(),
        rsa_key: SoftKey::from_pkcs8_pem(include_bytes!("../keys/rsa.key")).unwrap(),
        p256_cert: Certificate::from_pem(include_bytes!("../keys/p256.crt")).unwrap(),
        p256_key: SoftKey::from_pkcs8_pem(include_bytes!("../keys/p256.key")).unwrap(),
    })
}

pub fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// (a) MIME: S/MIME detection, message splitting, multipart splitting, base64, 7-bit transcoding.
pub fn run_mime(data: &[u8]) {
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

/// (b) BER → DER normalisation and CMS decoding (SignedData and Enveloped/AuthEnvelopedData).
pub fn run_ber_cms(data: &[u8]) {
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

/// (c) Verification of a whole message.
pub fn run_verify(data: &[u8]) {
    let _ = verify::verify(data);
}

/// (d) Decryption with fixed keys: raw CMS when the input starts like a DER SEQUENCE, otherwise
/// a message (MIME, then every layer through `wrap::open`).
pub fn run_decrypt(data: &[u8]) {
    let k = keys();
    let offered: [(&Certificate, &dyn Decryptor); 2] =
        [(&k.rsa_cert, &k.rsa_key), (&k.p256_cert, &k.p256_key)];
    let mut rng = rng();
    if data.first() == Some(&0x30) {
        if let Ok(envelope) = Envelope::from_cms(data) {
            let _ = envelope.decrypt(&offered, &mut rng);
        }
    } else {
        let _ = smime::decrypt(data, &offered, &mut rng);
        let _ = wrap::open(data, &offered, &mut rng);
    }
}

/// (e) PKCS#12 import, as a user's `.p12` file reaches it (empty, a typical and a wrong password).
pub fn run_pkcs12(data: &[u8]) {
    for password in ["", "fuzz", "wrong password"] {
        let _ = smime::pkcs12::parse(data, password);
    }
}

/// (f) The `pki` crate's parsers: certificates, CRLs and the containers they arrive in (PEM,
/// PKCS#7 bundles), then a validation with the input as its own anchor, intermediate and CRL.
pub fn run_pki(data: &[u8]) {
    let _ = pki::containers::pem_blocks(data, "CERTIFICATE");
    let _ = pki::containers::pkcs7_certificates(data);
    let _ = pki::containers::certificates_in(data);
    let crl = pki::crl::Crl::from_der(data).ok();
    if let Some(crl) = &crl {
        let _ = (crl.is_delta(), crl.is_indirect(), crl.is_current(0), crl.len());
    }
    if let Ok(cert) = pki::Certificate::from_der(data) {
        let _ = (cert.subject(), cert.issuer(), cert.email_addresses());
        let anchors = [cert.clone()];
        let crls: Vec<pki::crl::Crl> = crl.into_iter().collect();
        let _ = pki::validate_certificate(
            &cert,
            &pki::Inputs {
                trust_anchors: &anchors,
                intermediates: &anchors,
                crls: &crls,
                time: cert.not_before(),
                usage: pki::Usage::Encrypt,
                email: Some("fuzz@example.test"),
                untrusted: &[],
                check_revocation: true,
            },
        );
    }
}
