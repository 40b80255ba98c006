//! Certificate validation for S/MIME: RFC 5280 §6 path validation with the RFC 8550 profile
//! and CRL-based revocation checking, proven against NIST PKITS (`tests/pkits.rs`).
//!
//! Pure: no I/O and no clock, and this crate depends on nothing that could do either. The
//! caller supplies trust anchors, untrusted intermediates, CRLs and the time; when CRLs are
//! missing the verdict names the distribution points that would have to be fetched
//! ([`Revocation::Unknown`]), so a fetching layer (the server's `trust` module) can get them
//! and call again.
//!
//! Certificates and CRLs are parsed once ([`Certificate::from_der`], [`crl::Crl::from_der`]) so
//! a caller can cache them: validating a cached chain is a handful of map lookups plus the
//! signature checks.
//!
//! Modules: [`path`] builds and validates paths; [`crl`] parses CRLs and decides revocation;
//! [`ocsp`] builds OCSP requests and checks the answers (the caller combines them with a path);
//! [`containers`] reads the files and bundles certificates come in; the rest are the pieces
//! they share (DER reading, names, policies, name constraints, signatures).
//!
//! Scope, deliberately: RFC 5280's default inputs (initial policy set anyPolicy, nothing
//! inhibited at the start; constraints in the certificates are honoured); trust anchors are
//! trusted as given (their own dates and extensions are not checked, as §6.1.1 intends);
//! revocation by CRL inside path validation, by OCSP through [`ocsp`] for the caller to combine;
//! signatures RSA PKCS#1 v1.5, RSA-PSS, ECDSA P-256/P-384
//! and DSA at FIPS 186 sizes.

pub mod containers;
pub mod crl;
pub mod ocsp;
pub mod path;

mod accessors;
mod cert;
mod certificate_policies;
mod constraints;
mod der;
mod name;
mod oid;
mod signature;
mod time;

use std::sync::Arc;

use sha2::Digest;

pub use time::UnixTime;

/// Why a certificate or CRL could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct ParseError(#[from] cert::CertError);

/// A certificate parsed once; cheap to clone.
#[derive(Debug, Clone)]
pub struct Certificate {
    inner: Arc<cert::Cert>,
    fingerprint: [u8; 32],
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Self, ParseError> {
        let inner = Arc::new(cert::Cert::parse(der)?);
        let fingerprint = sha2::Sha256::digest(der).into();
        Ok(Certificate { inner, fingerprint })
    }

    pub fn der(&self) -> &[u8] {
        &self.inner.der
    }

    /// SHA-256 of the DER, the form the untrusted list uses.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    pub fn subject(&self) -> String {
        self.inner.subject.to_string()
    }

    pub fn issuer(&self) -> String {
        self.inner.issuer.to_string()
    }

    /// The e-mail addresses the certificate was issued for (subjectAltName, then subject), each
    /// once.
    pub fn email_addresses(&self) -> Vec<String> {
        self.inner.email_addresses()
    }

    pub fn not_before(&self) -> UnixTime {
        self.inner.not_before
    }

    pub fn not_after(&self) -> UnixTime {
        self.inner.not_after
    }
}

/// What the end entity's key is going to be used for (RFC 8550 §4.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Signing mail: digitalSignature or nonRepudiation.
    Sign,
    /// Encrypting to the certificate: keyEncipherment (RSA) or keyAgreement (ECDH).
    Encrypt,
    /// No key usage requirement (extended key usage is still checked).
    Any,
}

/// Everything a validation depends on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub trust_anchors: &'a [Certificate],
    /// Untrusted certificates the path builder may use (from the message, the directory, …).
    pub intermediates: &'a [Certificate],
    pub crls: &'a [crl::Crl],
    pub time: UnixTime,
    pub usage: Usage,
    /// The address the certificate must be for, when known.
    pub email: Option<&'a str>,
    /// SHA-256 fingerprints of certificates the administrator distrusts.
    pub untrusted: &'a [[u8; 32]],
    /// `false` mirrors the DisableCRLCheck policy.
    pub check_revocation: bool,
}

/// Why a certificate is not acceptable. `Display` gives the words shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("The digital ID was issued by an untrusted source.")]
    UntrustedIssuer,
    #[error("The digital ID is on this server's list of untrusted certificates.")]
    Distrusted,
    #[error("The certificate has expired.")]
    Expired,
    #[error("The certificate is not valid yet.")]
    NotYetValid,
    #[error("The certificate has been revoked.")]
    Revoked,
    #[error("The revocation status could not be checked.")]
    RevocationUnknown,
    #[error("The certificate may not be used for this purpose.")]
    WrongUsage,
    #[error("The certificate was not issued for this e-mail address.")]
    EmailMismatch,
    #[error("A signature in the certificate chain is not valid.")]
    BadSignature,
    #[error("A certificate in the chain is not allowed to issue certificates.")]
    NotACa,
    #[error("The certificate chain is longer than its issuers allow.")]
    PathTooLong,
    #[error("A name in the certificate is outside what its issuer may certify.")]
    NameConstraints,
    #[error("The certificate chain has no acceptable certificate policy.")]
    Policy,
    #[error("The certificate contains a critical extension this server does not understand.")]
    UnknownCriticalExtension,
    #[error("The certificate is damaged and cannot be read.")]
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Valid,
    Invalid(Reason),
}

/// How far revocation checking got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Every certificate of the path was checked against current, verified CRLs.
    Checked,
    /// Some status could not be decided; `missing` names the CRLs (distribution point URIs
    /// where the certificate gives them) a fetcher should obtain before asking again.
    Unknown { missing: Vec<crl::MissingCrl> },
    /// Checking was switched off (DisableCRLCheck).
    Disabled,
    /// Validation failed before revocation was looked at.
    NotChecked,
}

/// The result of [`validate`].
#[derive(Debug, Clone)]
pub struct Verdict {
    pub status: Status,
    /// End entity first, trust anchor last; on failure the path that was examined.
    pub path: Vec<Certificate>,
    pub revocation: Revocation,
    /// What exactly failed, for logs (certificate subject and check).
    pub detail: String,
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        self.status == Status::Valid
    }

    /// Valid in everything but a revocation status that could not be decided: what a
    /// "warn, don't block" CRL policy (CheckCRL = false) accepts with a warning.
    pub fn valid_but_revocation_unknown(&self) -> bool {
        self.status == Status::Invalid(Reason::RevocationUnknown)
    }
}

/// Validates the DER certificate `end_entity` under `inputs`.
pub fn validate(end_entity: &[u8], inputs: &Inputs<'_>) -> Verdict {
    match Certificate::from_der(end_entity) {
        Ok(cert) => validate_certificate(&cert, inputs),
        Err(e) => Verdict {
            status: Status::Invalid(Reason::Malformed),
            path: Vec::new(),
            revocation: Revocation::NotChecked,
            detail: e.to_string(),
        },
    }
}

/// [`validate`] for an already parsed certificate (the cached path).
pub fn validate_certificate(end_entity: &Certificate, inputs: &Inputs<'_>) -> Verdict {
    let ctx = path::Ctx::new(inputs);
    let anchors: Vec<&Certificate> = inputs.trust_anchors.iter().collect();
    let purpose = path::Purpose::EndEntity {
        usage: inputs.usage,
        email: inputs.email,
    };
    match path::build(&ctx, end_entity, &anchors, purpose, 0) {
        Ok(ok) => Verdict {
            status: Status::Valid,
            path: ok.path,
            revocation: ok.revocation,
            detail: String::new(),
        },
        Err(f) => Verdict {
            status: Status::Invalid(f.reason),
            path: f.path,
            revocation: f.revocation,
            detail: f.detail,
        },
    }
}

#[cfg(test)]
mod tests;
