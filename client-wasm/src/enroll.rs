//! New digital IDs made in the browser: the page generates a key pair with WebCrypto, the
//! module writes the certification request (PKCS#10) the user hands to the CA, and once the CA
//! has answered, finds which waiting key the issued certificate belongs to.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use smime::request::{self, KeyPurpose};
use smime::{Certificate, SoftKey};
use thiserror::Error;
use wasm_bindgen::prelude::*;

use crate::identity::{CertInfo, describe};
use crate::js::{SecretBytes, from_js, js_error, rng, to_js};

/// Why a request could not be made or an issued certificate installed, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnrollError {
    #[error("The new key cannot be used: {0}.")]
    Key(String),
    #[error("The request could not be made: {0}.")]
    Request(#[from] request::RequestError),
    #[error(
        "This file holds no certificate. Choose the certificate file your certification authority sent."
    )]
    NoCertificate,
    #[error("This file is not a certificate file Sealmail can read (PEM, DER or PKCS#7).")]
    Unreadable,
    #[error(
        "This certificate ({subject}) is not for any key waiting in this browser: it was issued for another key."
    )]
    NoWaitingKey { subject: String },
}

/// What the page asks a request for.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestAsk {
    /// The new private key (PKCS#8 DER, from WebCrypto's exportKey), zeroised when dropped.
    pub pkcs8: SecretBytes,
    pub name: String,
    pub email: String,
    /// "signing", "encryption" or "both".
    pub purpose: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MadeRequest {
    /// The request as PEM, for the file the user hands to the CA.
    pub pem: String,
    /// The key's SubjectPublicKeyInfo (DER): what the issued certificate must carry.
    pub public_key: ByteBuf,
    /// "RSA-3072", "P-256", …
    pub key_type: String,
}

/// Write the request for a new key.
pub fn make_request(ask: &RequestAsk) -> Result<MadeRequest, EnrollError> {
    let key = SoftKey::from_pkcs8_der(&ask.pkcs8).map_err(|e| EnrollError::Key(e.to_string()))?;
    let purpose = match ask.purpose.as_str() {
        "signing" => KeyPurpose::Signing,
        "encryption" => KeyPurpose::Encryption,
        _ => KeyPurpose::SigningAndEncryption,
    };
    let der = request::certification_request(&key, &ask.name, &ask.email, purpose, &mut rng())?;
    let public_key = key
        .public_key_info_der()
        .map_err(|e| EnrollError::Key(e.to_string()))?;
    let key_type = smime::keys::PublicKey::from_spki_der(&public_key)
        .map(|k| k.name())
        .map_err(|e| EnrollError::Key(e.to_string()))?;
    Ok(MadeRequest {
        pem: request::to_pem(&der)?,
        public_key: ByteBuf::from(public_key),
        key_type,
    })
}

/// A key waiting for its certificate, as the page lists them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    pub id: String,
    pub public_key: ByteBuf,
}

#[derive(Deserialize)]
pub struct InstallAsk {
    pub file: ByteBuf,
    pub waiting: Vec<Waiting>,
}

/// The issued certificate, matched to its waiting key.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Issued {
    /// The waiting key's id.
    pub id: String,
    pub certificate: ByteBuf,
    /// The CA certificates that came in the same file.
    pub chain: Vec<ByteBuf>,
    pub info: CertInfo,
}

/// Read the CA's answer (a certificate, or a PEM bundle or PKCS#7 file with its issuers) and
/// find the waiting key whose public key the end-entity certificate carries.
pub fn match_issued(ask: &InstallAsk) -> Result<Issued, EnrollError> {
    let ders = pki::containers::certificates_in(&ask.file).map_err(|_| EnrollError::Unreadable)?;
    let mut certs = Vec::new();
    for der in ders {
        certs.push(Certificate::from_der(&der).map_err(|_| EnrollError::Unreadable)?);
    }
    let is_ca = |c: &Certificate| pki::Certificate::from_der(c.der()).is_ok_and(|p| p.is_ca());
    let (leaves, chain): (Vec<_>, Vec<_>) = certs.into_iter().partition(|c| !is_ca(c));
    let Some(first) = leaves.first() else {
        return Err(EnrollError::NoCertificate);
    };
    for leaf in &leaves {
        let Ok(spki) = leaf.public_key_info_der() else {
            continue;
        };
        if let Some(waiting) = ask.waiting.iter().find(|w| *w.public_key == spki[..]) {
            return Ok(Issued {
                id: waiting.id.clone(),
                certificate: ByteBuf::from(leaf.der().to_vec()),
                chain: chain
                    .iter()
                    .map(|c| ByteBuf::from(c.der().to_vec()))
                    .collect(),
                info: describe(leaf),
            });
        }
    }
    Err(EnrollError::NoWaitingKey {
        subject: describe(first).subject,
    })
}

/// `{ pkcs8, name, email, purpose }` → `{ pem, publicKey, keyType }`.
#[wasm_bindgen]
pub fn certificate_request(ask: JsValue) -> Result<JsValue, JsError> {
    let ask: RequestAsk = from_js(ask, "certificate request")?;
    to_js(&make_request(&ask).map_err(js_error)?)
}

/// `{ file, waiting: [{ id, publicKey }] }` → `{ id, certificate, chain, info }`.
#[wasm_bindgen]
pub fn install_issued(ask: JsValue) -> Result<JsValue, JsError> {
    let ask: InstallAsk = from_js(ask, "issued certificate")?;
    to_js(&match_issued(&ask).map_err(js_error)?)
}
