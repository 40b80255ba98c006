//! Certification requests (PKCS#10, RFC 2986): a key made in the browser asks a CA for its
//! certificate. The request names the user (commonName), the address (subjectAltName
//! rfc822Name, as RFC 8550 wants it) and what the key is for (keyUsage and
//! extendedKeyUsage emailProtection, as an extensionRequest), and is signed by the key itself
//! to prove the requester holds it. The CA decides what it really issues; the browser later
//! checks that the certificate it gets back belongs to the waiting key.

use der::asn1::{Any, BitString, Ia5String, OctetString, SetOfVec, Utf8StringRef};
use der::{Decode, Encode};
use rand_core::CryptoRng;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use thiserror::Error;
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};

use crate::algorithms::{SignatureAlgorithm, SignatureScheme};
use crate::keys::{Signer, SoftKey};

/// What a requested key is for. With dual keys (the admin's choice) a user asks for one
/// certificate of each of the first two kinds; otherwise for one that does both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    Signing,
    Encryption,
    SigningAndEncryption,
}

/// Why a request could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    #[error("the address {0:?} cannot go into a certificate")]
    Address(String),
    #[error("the name cannot go into a certificate")]
    Name,
    #[error("the key could not sign the request: {0}")]
    Signing(String),
    #[error("the request could not be encoded")]
    Encoding,
}

/// A PKCS#10 CertificationRequest (DER) for `key`, in the name of `name` <`email`>.
pub fn certification_request(
    key: &SoftKey,
    name: &str,
    email: &str,
    purpose: KeyPurpose,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>, RequestError> {
    let encoding = |_| RequestError::Encoding;
    let public_key = key
        .public_key_info_der()
        .map_err(|e| RequestError::Signing(e.to_string()))?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: subject(name)?,
        public_key: SubjectPublicKeyInfoOwned::from_der(&public_key).map_err(encoding)?,
        attributes: SetOfVec::try_from(vec![
            Attribute::try_from(ExtensionReq(extensions(key, email, purpose)?))
                .map_err(encoding)?,
        ])
        .map_err(encoding)?,
    };
    let to_sign = info.to_der().map_err(encoding)?;
    let algorithm = key.default_signature_algorithm();
    let signature = key
        .sign_digest(algorithm, &algorithm.digest.digest(&to_sign), rng)
        .map_err(|e| RequestError::Signing(e.to_string()))?;
    let request = CertReq {
        info,
        algorithm: signature_algorithm(algorithm)?,
        signature: BitString::from_bytes(&signature).map_err(encoding)?,
    };
    request.to_der().map_err(encoding)
}

/// The subject: the user's name as commonName (UTF8String). An empty name is allowed (the
/// address is what S/MIME matches), but not one a CA would have to cut.
fn subject(name: &str) -> Result<Name, RequestError> {
    let name = name.trim();
    let mut rdns = RdnSequence::default();
    if !name.is_empty() {
        // RFC 5280's upper bound for commonName.
        if name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(RequestError::Name);
        }
        let value = Any::encode_from(&Utf8StringRef::new(name).map_err(|_| RequestError::Name)?)
            .map_err(|_| RequestError::Name)?;
        let mut rdn = RelativeDistinguishedName::default();
        rdn.insert(AttributeTypeAndValue {
            oid: const_oid::db::rfc4519::CN,
            value,
        })
        .map_err(|_| RequestError::Name)?;
        rdns.push(rdn);
    }
    // Through DER: x509-cert builds a Name from parts only behind its "hazmat" feature.
    Name::from_der(&rdns.to_der().map_err(|_| RequestError::Name)?).map_err(|_| RequestError::Name)
}

fn extensions(
    key: &SoftKey,
    email: &str,
    purpose: KeyPurpose,
) -> Result<Vec<Extension>, RequestError> {
    let bad_address = || RequestError::Address(email.to_string());
    if !email.is_ascii() || email.split('@').count() != 2 || email.contains(char::is_whitespace) {
        return Err(bad_address());
    }
    let address = Ia5String::new(email).map_err(|_| bad_address())?;
    // RSA keys receive mail by key transport; elliptic-curve keys by key agreement.
    let receive = match key {
        SoftKey::Rsa(_) => KeyUsages::KeyEncipherment,
        SoftKey::P256(_) | SoftKey::P384(_) => KeyUsages::KeyAgreement,
    };
    let usage = match purpose {
        KeyPurpose::Signing => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
        KeyPurpose::Encryption => receive.into(),
        KeyPurpose::SigningAndEncryption => KeyUsages::DigitalSignature | receive,
    };
    let extension = |id, critical, value: Vec<u8>| -> Result<Extension, RequestError> {
        Ok(Extension {
            extn_id: id,
            critical,
            extn_value: OctetString::new(value).map_err(|_| RequestError::Encoding)?,
        })
    };
    Ok(vec![
        extension(
            const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME,
            false,
            der_of(&SubjectAltName(vec![GeneralName::Rfc822Name(address)]))?,
        )?,
        extension(
            const_oid::db::rfc5280::ID_CE_KEY_USAGE,
            true,
            der_of(&KeyUsage(usage))?,
        )?,
        extension(
            const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE,
            false,
            der_of(&ExtendedKeyUsage(vec![
                const_oid::db::rfc5280::ID_KP_EMAIL_PROTECTION,
            ]))?,
        )?,
    ])
}

fn der_of(value: &impl Encode) -> Result<Vec<u8>, RequestError> {
    value.to_der().map_err(|_| RequestError::Encoding)
}

/// The X.509 signatureAlgorithm of a request: sha256WithRSAEncryption (NULL parameters) or
/// ecdsa-with-SHA256/384 (no parameters, RFC 5758).
fn signature_algorithm(
    algorithm: SignatureAlgorithm,
) -> Result<AlgorithmIdentifierOwned, RequestError> {
    Ok(AlgorithmIdentifierOwned {
        oid: algorithm.combined_oid().ok_or(RequestError::Encoding)?,
        parameters: match algorithm.scheme {
            SignatureScheme::Ecdsa => None,
            SignatureScheme::RsaPkcs1v15 | SignatureScheme::RsaPss => Some(Any::null()),
        },
    })
}

/// The request as PEM (`CERTIFICATE REQUEST`), the form CAs and `openssl req` take.
pub fn to_pem(request_der: &[u8]) -> Result<String, RequestError> {
    der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, request_der)
        .map_err(|_| RequestError::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_and_addresses_are_refused() {
        let key = SoftKey::P256(p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap());
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        for email in ["no-at-sign", "a@b@c", "ä@example.test", "a b@example.test"] {
            assert_eq!(
                certification_request(&key, "A", email, KeyPurpose::Signing, &mut rng),
                Err(RequestError::Address(email.into()))
            );
        }
        let long = "x".repeat(65);
        for name in [long.as_str(), "line\nbreak"] {
            assert_eq!(
                certification_request(&key, name, "a@example.test", KeyPurpose::Signing, &mut rng),
                Err(RequestError::Name)
            );
        }
    }
}
