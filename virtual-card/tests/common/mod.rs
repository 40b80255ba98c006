//! Keys and certificates made at test time: nothing secret is ever committed.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use rsa::pkcs8::{EncodePrivateKey, LineEnding};

pub fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// One RSA-2048 key for every test in a binary: generating it is the slowest step.
pub fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rng(), 2048).expect("RSA key generation"))
}

pub fn rsa_pkcs8(key: &rsa::RsaPrivateKey) -> Vec<u8> {
    key.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec()
}

pub fn p256_pkcs8(key: &p256::SecretKey) -> Vec<u8> {
    key.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec()
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A self-signed certificate (DER) for an RSA key.
pub fn self_signed(key: &rsa::RsaPrivateKey, subject: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("PEM");
    std::fs::write(dir.path().join("key.pem"), pem.as_bytes()).expect("write key");
    openssl(
        dir.path(),
        &[
            "req", "-x509", "-new", "-key", "key.pem", "-subj", subject, "-days", "1", "-outform",
            "DER", "-out", "cert.der",
        ],
    );
    std::fs::read(dir.path().join("cert.der")).expect("read certificate")
}

/// A certificate (DER) for a public key the card generated (`spki_der`), signed by a throwaway
/// issuer key, as a CA would issue it for a card key it never sees.
pub fn certify(spki_der: &[u8], subject: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("card.spki.der"), spki_der).expect("write public key");
    openssl(
        dir.path(),
        &[
            "pkey",
            "-pubin",
            "-inform",
            "DER",
            "-in",
            "card.spki.der",
            "-out",
            "card.pub.pem",
        ],
    );
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "issuer.pem",
        ],
    );
    openssl(
        dir.path(),
        &[
            "x509",
            "-new",
            "-subj",
            subject,
            "-key",
            "issuer.pem",
            "-force_pubkey",
            "card.pub.pem",
            "-days",
            "1",
            "-outform",
            "DER",
            "-out",
            "cert.der",
        ],
    );
    std::fs::read(dir.path().join("cert.der")).expect("read certificate")
}

/// The SubjectPublicKeyInfo (DER) inside a certificate, as openssl reads it.
pub fn certificate_spki(certificate_der: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("cert.der"), certificate_der).expect("write certificate");
    openssl(
        dir.path(),
        &[
            "x509", "-inform", "DER", "-in", "cert.der", "-noout", "-pubkey", "-out", "pub.pem",
        ],
    );
    openssl(
        dir.path(),
        &[
            "pkey", "-pubin", "-in", "pub.pem", "-outform", "DER", "-out", "pub.der",
        ],
    );
    std::fs::read(dir.path().join("pub.der")).expect("read public key")
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Splits a response into data and status word.
pub fn split_sw(response: &[u8]) -> (&[u8], u16) {
    let (data, sw) = response.split_at(response.len() - 2);
    (data, u16::from_be_bytes([sw[0], sw[1]]))
}
