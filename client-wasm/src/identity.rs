//! Digital IDs: importing a PKCS#12 file, exporting one, and describing a certificate to the
//! user.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use smime::keys::PublicKey;
use smime::pkcs12::{self, Pkcs12Error};
use smime::{Certificate, SoftKey};
use thiserror::Error;
use wasm_bindgen::prelude::*;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages};
use zeroize::Zeroize;

use crate::js::{SecretBytes, from_js, js_error, rng, to_js, unix_seconds};
use send_rules::hex;

/// PBKDF2 and MAC iterations of an exported file: the file leaves the browser, and then its
/// password alone protects the key against guessing, so ours is the count the browser's own key
/// store uses (OWASP's for PBKDF2-HMAC-SHA-256), not OpenSSL's 2,048. About a second in the
/// browser, once per export.
pub const EXPORT_ITERATIONS: u32 = 600_000;

/// Why a digital ID file could not be imported, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdentityError {
    #[error("The password for this digital ID file is wrong.")]
    WrongPassword,
    #[error("This file is not a digital ID file (PKCS#12), or it is damaged.")]
    NotPkcs12,
    #[error("This file holds no private key.")]
    NoKey,
    #[error("This digital ID's key is of a kind Sealmail cannot use.")]
    UnusableKey,
    #[error("This is not a certificate Sealmail can read.")]
    BadCertificate,
    #[error("Choose a password for the file: it must not be empty.")]
    EmptyPassword,
    #[error("This digital ID's private key does not belong to its certificate.")]
    KeyDoesNotMatch,
}

impl From<Pkcs12Error> for IdentityError {
    fn from(e: Pkcs12Error) -> Self {
        match e {
            Pkcs12Error::WrongPassword => Self::WrongPassword,
            Pkcs12Error::NoKey => Self::NoKey,
            Pkcs12Error::NoCertificateForKey => Self::UnusableKey,
            Pkcs12Error::Unsupported(what) if what.starts_with("private key type") => {
                Self::UnusableKey
            }
            Pkcs12Error::Corrupt(_)
            | Pkcs12Error::Unsupported(_)
            | Pkcs12Error::TooManyIterations(_)
            | Pkcs12Error::TooMuchWork => Self::NotPkcs12,
        }
    }
}

/// What the user (and the page) needs to know about a certificate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// Hex, as certificate viewers show it.
    pub serial: String,
    /// subjectAltName rfc822Name entries, then the subject's emailAddress, lower-cased.
    pub emails: Vec<String>,
    /// Unix seconds.
    pub not_before: f64,
    pub not_after: f64,
    /// RFC 5280 names ("digitalSignature", …); empty without the extension.
    pub key_usage: Vec<String>,
    /// "emailProtection", "anyExtendedKeyUsage", or the dotted OID.
    pub extended_key_usage: Vec<String>,
    /// "RSA-2048", "P-256", … or the algorithm OID for keys Sealmail cannot use.
    pub key_type: String,
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint: String,
}

/// The contents of a digital ID file, ready for the page to store.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct P12Contents {
    /// Unencrypted PKCS#8 DER of the private key. Zeroised when dropped.
    pub pkcs8: ByteBuf,
    pub certificate: ByteBuf,
    pub chain: Vec<ByteBuf>,
    pub info: CertInfo,
}

impl Drop for P12Contents {
    fn drop(&mut self) {
        self.pkcs8.zeroize();
    }
}

/// Describe a parsed certificate.
pub fn describe(cert: &Certificate) -> CertInfo {
    let tbs = cert.x509().tbs_certificate();
    let key_usage = match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, usage))) => [
            (KeyUsages::DigitalSignature, "digitalSignature"),
            (KeyUsages::NonRepudiation, "nonRepudiation"),
            (KeyUsages::KeyEncipherment, "keyEncipherment"),
            (KeyUsages::DataEncipherment, "dataEncipherment"),
            (KeyUsages::KeyAgreement, "keyAgreement"),
            (KeyUsages::KeyCertSign, "keyCertSign"),
            (KeyUsages::CRLSign, "cRLSign"),
            (KeyUsages::EncipherOnly, "encipherOnly"),
            (KeyUsages::DecipherOnly, "decipherOnly"),
        ]
        .into_iter()
        .filter(|(flag, _)| usage.0.contains(*flag))
        .map(|(_, name)| name.to_string())
        .collect(),
        _ => Vec::new(),
    };
    let extended_key_usage = match tbs.get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, usage))) => usage
            .0
            .iter()
            .map(|oid| match oid.to_string().as_str() {
                "1.3.6.1.5.5.7.3.4" => "emailProtection".to_string(),
                "2.5.29.37.0" => "anyExtendedKeyUsage".to_string(),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let key_type = match cert.public_key_info_der() {
        Ok(spki) => match PublicKey::from_spki_der(&spki) {
            Ok(key) => key.name(),
            Err(_) => tbs.subject_public_key_info().algorithm.oid.to_string(),
        },
        Err(_) => "unknown".into(),
    };
    let validity = tbs.validity();
    CertInfo {
        subject: tbs.subject().to_string(),
        issuer: tbs.issuer().to_string(),
        serial: hex(tbs.serial_number().as_bytes()),
        emails: cert.email_addresses(),
        not_before: unix_seconds(validity.not_before.to_unix_duration()),
        not_after: unix_seconds(validity.not_after.to_unix_duration()),
        key_usage,
        extended_key_usage,
        key_type,
        fingerprint: hex(&Sha256::digest(cert.der())),
    }
}

/// Describe a DER certificate.
pub fn certificate_info_of(der: &[u8]) -> Result<CertInfo, IdentityError> {
    let cert = Certificate::from_der(der).map_err(|_| IdentityError::BadCertificate)?;
    Ok(describe(&cert))
}

/// Open a digital ID file: the private key as PKCS#8, the certificate and the rest of the chain.
pub fn inspect(file: &[u8], password: &str) -> Result<P12Contents, IdentityError> {
    let parsed = pkcs12::parse(file, password)?;
    let mut pkcs8 = parsed
        .key
        .to_pkcs8_der()
        .map_err(|_| IdentityError::UnusableKey)?;
    let chain = parsed
        .chain
        .iter()
        .map(|c| ByteBuf::from(c.der().to_vec()))
        .collect();
    Ok(P12Contents {
        // Moved, not copied: the only copy is the one zeroised on drop.
        pkcs8: ByteBuf::from(core::mem::take(&mut *pkcs8)),
        certificate: ByteBuf::from(parsed.certificate.der().to_vec()),
        chain,
        info: describe(&parsed.certificate),
    })
}

/// What the page hands over to export a digital ID: the unlocked key and the stored certificates.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRequest {
    /// Unencrypted PKCS#8 DER of the private key, zeroised when dropped.
    pub pkcs8: SecretBytes,
    pub certificate: ByteBuf,
    #[serde(default)]
    pub chain: Vec<ByteBuf>,
    /// The new file's password.
    pub password: String,
    /// The name other programs list the ID under.
    pub friendly_name: String,
    /// Write what GnuPG 2.2 reads (PBKDF2-HMAC-SHA-1, AES-128) instead of OpenSSL 3's default.
    #[serde(default)]
    pub for_gnupg22: bool,
}

impl Drop for ExportRequest {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// Write a digital ID as a password-protected PKCS#12 file.
pub fn export(request: &ExportRequest, rng: &mut dyn CryptoRng) -> Result<Vec<u8>, IdentityError> {
    if request.password.is_empty() {
        return Err(IdentityError::EmptyPassword);
    }
    let key = SoftKey::from_pkcs8_der(&request.pkcs8).map_err(|_| IdentityError::UnusableKey)?;
    let certificate =
        Certificate::from_der(&request.certificate).map_err(|_| IdentityError::BadCertificate)?;
    let chain = request
        .chain
        .iter()
        .map(|der| Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| IdentityError::BadCertificate)?;
    let options = pkcs12::WriteOptions {
        iterations: EXPORT_ITERATIONS,
        friendly_name: request.friendly_name.clone(),
        scheme: if request.for_gnupg22 {
            pkcs12::Scheme::Aes128Sha1
        } else {
            pkcs12::Scheme::Aes256Sha256
        },
    };
    pkcs12::write(&key, &certificate, &chain, &request.password, &options, rng).map_err(|e| match e
    {
        pkcs12::WriteError::KeyDoesNotMatch => IdentityError::KeyDoesNotMatch,
        pkcs12::WriteError::UnencodableKey | pkcs12::WriteError::Iterations(_) => {
            IdentityError::UnusableKey
        }
    })
}

/// Export a digital ID as a `.p12` file: `{ pkcs8, certificate, chain, password, friendlyName,
/// forGnupg22 }` → the file's bytes. Errors are sentences for the user.
#[wasm_bindgen]
pub fn export_p12(request: JsValue) -> Result<Vec<u8>, JsError> {
    let request: ExportRequest = from_js(request, "digital ID to export")?;
    export(&request, &mut rng()).map_err(js_error)
}

/// Import a digital ID file (`.p12`/`.pfx`) with its password. Returns `{ pkcs8, certificate,
/// chain, info }`; errors are sentences for the user.
#[wasm_bindgen]
pub fn inspect_p12(file: &[u8], password: &str) -> Result<JsValue, JsError> {
    let contents = inspect(file, password).map_err(js_error)?;
    to_js(&contents)
}

/// Describe a DER certificate (`CertInfo`).
#[wasm_bindgen]
pub fn certificate_info(der: &[u8]) -> Result<JsValue, JsError> {
    to_js(&certificate_info_of(der).map_err(js_error)?)
}
