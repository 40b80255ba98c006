//! Certificates as this crate needs them: the exact DER (which is what we embed and what callers
//! hand to chain validation) together with the decoded structure.

use der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{SubjectAltName, SubjectKeyIdentifier};

use crate::algorithms::oid;
use crate::error::{Error, Result};

/// An X.509 certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    parsed: x509_cert::Certificate,
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let parsed = x509_cert::Certificate::from_der(der)?;
        Ok(Self {
            der: der.to_vec(),
            parsed,
        })
    }

    /// Read one `CERTIFICATE` PEM block.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let (label, der) =
            der::pem::decode_vec(pem).map_err(|e| Error::Certificate(e.to_string()))?;
        if label != "CERTIFICATE" {
            return Err(Error::Certificate(format!(
                "PEM label {label}, expected CERTIFICATE"
            )));
        }
        Self::from_der(&der)
    }

    /// Every `CERTIFICATE` block of a PEM bundle, in order.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>> {
        x509_cert::Certificate::load_pem_chain(pem)?
            .into_iter()
            .map(|parsed| {
                Ok(Self {
                    der: parsed.to_der()?,
                    parsed,
                })
            })
            .collect()
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.parsed
    }

    pub fn issuer_and_serial(&self) -> cms::cert::IssuerAndSerialNumber {
        let tbs = self.parsed.tbs_certificate();
        cms::cert::IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }
    }

    /// The subjectKeyIdentifier extension, if present.
    pub fn subject_key_identifier(&self) -> Option<Vec<u8>> {
        let tbs = self.parsed.tbs_certificate();
        match tbs.get_extension::<SubjectKeyIdentifier>() {
            Ok(Some((_, ski))) => Some(ski.0.as_bytes().to_vec()),
            _ => None,
        }
    }

    /// E-mail addresses, lower-cased: subjectAltName rfc822Name entries, then the legacy
    /// emailAddress attribute of the subject.
    pub fn email_addresses(&self) -> Vec<String> {
        let tbs = self.parsed.tbs_certificate();
        let mut out = Vec::new();
        if let Ok(Some((_, san))) = tbs.get_extension::<SubjectAltName>() {
            for name in san.0 {
                if let GeneralName::Rfc822Name(addr) = name {
                    out.push(addr.as_str().to_ascii_lowercase());
                }
            }
        }
        for atv in tbs.subject().iter() {
            if atv.oid == oid::EMAIL_ADDRESS
                && let Ok(addr) = core::str::from_utf8(atv.value.value())
            {
                out.push(addr.to_ascii_lowercase());
            }
        }
        out.dedup();
        out
    }

    /// Is this the certificate named by an issuer and serial number?
    pub fn has_issuer_and_serial(&self, id: &cms::cert::IssuerAndSerialNumber) -> bool {
        let tbs = self.parsed.tbs_certificate();
        // Names compare by their DER: the same name in another string type is another name.
        tbs.serial_number() == &id.serial_number
            && tbs.issuer().to_der().ok() == id.issuer.to_der().ok()
    }

    /// Is this the certificate with this subjectKeyIdentifier?
    pub fn has_subject_key_identifier(&self, ski: &[u8]) -> bool {
        self.subject_key_identifier().as_deref() == Some(ski)
    }

    /// The subjectPublicKeyInfo, DER-encoded.
    pub fn public_key_info_der(&self) -> Result<Vec<u8>> {
        Ok(self
            .parsed
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()?)
    }
}

/// A certificate as CMS names it: issuer and serial number, or subjectKeyIdentifier. Names the
/// recipient of a RecipientInfo, and the key an encryptionKeyPreference points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientId {
    IssuerAndSerial(cms::cert::IssuerAndSerialNumber),
    SubjectKeyIdentifier(Vec<u8>),
}

impl RecipientId {
    pub fn matches(&self, cert: &Certificate) -> bool {
        match self {
            Self::IssuerAndSerial(ias) => cert.has_issuer_and_serial(ias),
            Self::SubjectKeyIdentifier(ski) => cert.has_subject_key_identifier(ski),
        }
    }
}
