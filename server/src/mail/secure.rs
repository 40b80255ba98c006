//! S/MIME on the reading side, as far as the server may go: it opens signed-only mail (sent in
//! the clear, so the server may read it) and words a signature's verdict for people. Encrypted
//! mail is only recognised here; the recipient's browser opens it.
//!
//! The same [`report`] words a signature the server verified and one the browser verified
//! inside an encrypted message, so both look alike on the page.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use smime::verify::SignerResult;
use smime::wrap::{self, Layer};

use crate::trust::Checked;
use pki::{Certificate, Reason, Revocation, Status};

/// What kind of S/MIME a stored message is.
#[derive(Debug)]
pub enum Sealed {
    /// Not S/MIME.
    Plain,
    /// Signed only.
    Signed(SignedMail),
    /// Encrypted (perhaps signed inside or around): only the recipient's browser can open it.
    Encrypted,
    /// S/MIME that cannot be opened; the reason.
    Damaged(String),
}

impl Sealed {
    /// What the reader sees of `raw` (the message this was made from): the signed content of
    /// signed mail, the message itself otherwise. Attachment part numbers count within it.
    pub fn display<'a>(&'a self, raw: &'a [u8]) -> &'a [u8] {
        match self {
            Sealed::Signed(signed) => &signed.display,
            _ => raw,
        }
    }

    /// Where what [`display`](Self::display) shows sits in the IMAP server's tree of the
    /// message, as a prefix for its parts' section numbers: "" when it is the message itself,
    /// "1" for clear-signed mail (the first part of multipart/signed); None when it is not in
    /// the tree at all (opaque signed, encrypted), so its parts can only be read from the
    /// whole message. (Parts fetched by section are checked against their digest all the
    /// same, so a deeper nesting costs a whole fetch, never a wrong part.)
    pub fn section_base(&self) -> Option<&'static str> {
        match self {
            Sealed::Plain | Sealed::Damaged(_) => Some(""),
            Sealed::Signed(signed) if signed.clear_signed => Some("1"),
            Sealed::Signed(_) | Sealed::Encrypted => None,
        }
    }
}

#[derive(Debug)]
pub struct SignedMail {
    /// The outer header fields followed by the signed entity: what the page shows, and what
    /// attachment part numbers refer to.
    pub display: Vec<u8>,
    /// The innermost signature's signers: they signed what the user reads.
    pub signers: Vec<SignerResult>,
    /// Every certificate the signature carried, for chain building.
    pub carried: Vec<Certificate>,
    /// multipart/signed at the top (the signed entity is its first part), not pkcs7-mime.
    pub clear_signed: bool,
}

/// Sorts a raw message, verifying its signatures when it is signed only.
pub fn classify(raw: &[u8]) -> Sealed {
    classify_with(raw, &[])
}

/// [`classify`], offering `candidates` (certificates the server knows for the sender) for
/// signers whose certificate the signature does not carry.
pub fn classify_with(raw: &[u8], candidates: &[smime::Certificate]) -> Sealed {
    let clear_signed = match smime::mime::parse_smime(raw) {
        Ok(smime::mime::SmimeContent::NotSmime) => return Sealed::Plain,
        Ok(content) => matches!(content, smime::mime::SmimeContent::ClearSigned { .. }),
        // Not even the MIME structure parses: leave it to the ordinary reader.
        Err(_) => return Sealed::Plain,
    };
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let opened = match wrap::open_with_candidates(raw, &[], candidates, &mut rng) {
        Ok(opened) => opened,
        // No key was offered, so any encrypted layer ends here.
        Err(smime::Error::DecryptionFailed) => return Sealed::Encrypted,
        Err(e) => return Sealed::Damaged(e.to_string()),
    };
    let Some((signers, certificates)) = opened.layers.iter().rev().find_map(|l| match l {
        Layer::Signed {
            signers,
            certificates,
            ..
        } => Some((signers.clone(), certificates)),
        Layer::Encrypted { .. } => None,
    }) else {
        return Sealed::Plain;
    };
    let carried = certificates
        .iter()
        .filter_map(|c| Certificate::from_der(c.der()).ok())
        .collect();
    let outer = match smime::mime::split_message(raw) {
        Ok(split) => split.outer_fields,
        Err(e) => return Sealed::Damaged(e.to_string()),
    };
    let mut display = outer;
    display.extend_from_slice(b"MIME-Version: 1.0\r\n");
    display.extend_from_slice(&opened.entity);
    Sealed::Signed(SignedMail {
        display,
        signers,
        carried,
        clear_signed,
    })
}

impl SignedMail {
    /// Some signer's certificate was neither carried nor offered: worth looking for it among
    /// the certificates the server knows.
    pub fn lacks_a_certificate(&self) -> bool {
        self.signers.iter().any(|s| {
            s.problem == Some(smime::verify::SignerProblem::CertificateNotFound)
                && s.certificate.is_none()
        })
    }
}

/// The From addresses of a raw message, as the engine compares signers with them.
pub fn from_addresses(raw: &[u8]) -> Vec<String> {
    smime::mime::Entity::parse(raw)
        .ok()
        .and_then(|e| e.from_addresses())
        .unwrap_or_default()
}

/// What the signer's software established about one signature, before any chain checking.
/// The browser sends these for signatures inside encrypted mail.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerFacts {
    pub digest_ok: bool,
    pub signature_ok: bool,
    /// Whether the certificate names the message's From; None when unknown.
    pub matches_from: Option<bool>,
    pub weak: bool,
    pub signing_time: Option<i64>,
    pub digest_algorithm: Option<String>,
    pub signature_algorithm: Option<String>,
    /// An unsupported algorithm or malformed attributes, in words.
    pub problem: Option<String>,
    /// The SMIMECapabilities the signer announced (OIDs, dotted), strongest first.
    #[serde(default)]
    pub capabilities: Vec<String>,
}

impl SignerFacts {
    pub fn from_result(r: &SignerResult) -> Self {
        Self {
            digest_ok: r.digest_ok,
            signature_ok: r.signature_ok,
            matches_from: r.matches_from,
            weak: r.weak_algorithm,
            signing_time: r.signing_time.map(|d| d.as_secs() as i64),
            digest_algorithm: r.digest_algorithm.map(|d| d.name().to_string()),
            signature_algorithm: r.signature_algorithm.map(|s| s.name()),
            problem: r.problem.as_ref().map(ToString::to_string),
            capabilities: r.capabilities.iter().map(ToString::to_string).collect(),
        }
    }

    /// A signature to believe without a second thought: the content and signature hold, with
    /// nothing unsupported or weak, its signer is the message's one sender, and the signer's
    /// certificate is valid and trusted with its revocation checked (or checking turned off).
    /// Only such a signature may teach the server anything about its signer.
    pub fn vouched_for(&self, checked: &Checked) -> bool {
        self.digest_ok
            && self.signature_ok
            && self.problem.is_none()
            && !self.weak
            && self.matches_from == Some(true)
            && checked.is_valid()
    }

    /// The announced content-encryption algorithms Sealmail knows, by their policy names;
    /// empty when the signer announced none (then nothing is learnt).
    pub fn encryption_capabilities(&self) -> Vec<&'static str> {
        self.capabilities
            .iter()
            .filter_map(|oid| oid.parse().ok())
            .filter_map(|oid| crate::policy::EncryptionAlgorithm::from_oid(&oid))
            .map(crate::policy::EncryptionAlgorithm::name)
            .collect()
    }
}

/// A signature's verdict in words: the banner and the "Verify signature" details.
/// `templates/signature_banner.html` is its one markup, for the server's pages and (as a
/// `<template>` filled in by `static/ui.js`) for signatures the browser found inside encryption.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureReport {
    /// "valid", "warning" or "invalid".
    pub state: &'static str,
    pub headline: String,
    pub signer: String,
    pub email: String,
    /// Subjects from the signer up to the trust anchor.
    pub chain: Vec<String>,
    pub issuer: String,
    pub valid_from: String,
    pub valid_to: String,
    pub revocation: String,
    pub signing_time: String,
    pub algorithms: String,
    /// The signer's certificate and its chain, base64 DER: what "Add to contacts" sends.
    pub certificates: Vec<String>,
}

/// Words the verdict on one signer: its own facts first (altered content outranks an
/// untrusted issuer), then the certificate's chain, then whether it is the sender's.
pub fn report(
    facts: &SignerFacts,
    cert: Option<&Certificate>,
    checked: Option<&Checked>,
    from: &str,
) -> SignatureReport {
    let email = cert
        .map(|c| c.email_addresses().join(", "))
        .unwrap_or_default();
    let (state, headline) = headline(facts, cert, checked, from, &email);
    // The signature algorithm's name says its digest too ("RSA PKCS#1 v1.5 with SHA-256").
    let algorithms = facts
        .signature_algorithm
        .clone()
        .or_else(|| facts.digest_algorithm.clone())
        .unwrap_or_default();
    SignatureReport {
        state,
        headline,
        signer: cert.map(Certificate::subject).unwrap_or_default(),
        email,
        chain: checked
            .map(|c| c.verdict.path.iter().map(Certificate::subject).collect())
            .unwrap_or_default(),
        issuer: cert.map(Certificate::issuer).unwrap_or_default(),
        valid_from: cert
            .map(|c| super::format_date(Some(c.not_before())))
            .unwrap_or_default(),
        valid_to: cert
            .map(|c| super::format_date(Some(c.not_after())))
            .unwrap_or_default(),
        revocation: checked.map(revocation_words).unwrap_or_default().into(),
        signing_time: super::format_date(facts.signing_time),
        algorithms,
        certificates: cert
            .into_iter()
            .chain(
                checked
                    .into_iter()
                    .flat_map(|c| c.verdict.path.iter().skip(1)),
            )
            .map(|c| B64.encode(c.der()))
            .collect(),
    }
}

fn headline(
    facts: &SignerFacts,
    cert: Option<&Certificate>,
    checked: Option<&Checked>,
    from: &str,
    email: &str,
) -> (&'static str, String) {
    let invalid = |s: &str| ("invalid", s.to_string());
    if !facts.digest_ok && facts.problem.is_none() {
        return invalid(
            "The message was altered after it was signed: its content does not match the signature.",
        );
    }
    if let Some(problem) = &facts.problem {
        return invalid(&format!(
            "The signature on this message cannot be checked ({problem})."
        ));
    }
    if !facts.signature_ok {
        return invalid("The signature on this message is not valid.");
    }
    let (Some(_), Some(checked)) = (cert, checked) else {
        return invalid(
            "The signer's digital ID is not in the message, so the signature cannot be checked.",
        );
    };
    match &checked.verdict.status {
        Status::Invalid(Reason::UntrustedIssuer) => {
            return invalid("The digital ID was issued by an untrusted source.");
        }
        Status::Invalid(Reason::Expired) => {
            return invalid("The signer's digital ID has expired.");
        }
        Status::Invalid(Reason::Revoked) => {
            return invalid("The signer's digital ID has been revoked.");
        }
        Status::Invalid(Reason::RevocationUnknown) => {}
        Status::Invalid(_) => return invalid(&checked.reason()),
        Status::Valid => {}
    }
    if facts.matches_from == Some(false) && smime::mime::addresses(from).len() > 1 {
        return invalid(&format!(
            "This message names more than one sender ({from}). A signature vouches for one sender only, so this one is not shown as valid."
        ));
    }
    if facts.matches_from == Some(false) {
        return invalid(&format!(
            "The message was signed by {email}, who is not the sender ({from})."
        ));
    }
    if checked.verdict.valid_but_revocation_unknown() {
        return (
            "warning",
            format!(
                "Signed by {email}. The signature is valid, but whether the digital ID has been revoked could not be checked."
            ),
        );
    }
    if facts.weak {
        return (
            "warning",
            format!("Signed by {email}. The signature is valid but uses a weak algorithm."),
        );
    }
    (
        "valid",
        format!("Signed by {email}. The signature is valid and the digital ID is trusted."),
    )
}

fn revocation_words(checked: &Checked) -> &'static str {
    match checked.verdict.revocation {
        Revocation::Checked => "Not revoked (checked against current CRLs).",
        Revocation::Unknown { .. } => "Could not be checked.",
        Revocation::Disabled => "Not checked (revocation checking is turned off).",
        Revocation::NotChecked => "Not checked (the certificate failed earlier checks).",
    }
}
