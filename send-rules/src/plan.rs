//! Planning an encrypted send in the browser: which of the certificates the server offered may
//! be encrypted to, which need the user's decision first, and the messages the send becomes.
//!
//! The server finds certificates, but it is not trusted to choose them: a certificate is used
//! only when it chains to a trust anchor the browser holds (the anchors of the user's own
//! digital IDs; a certificate the user accepted after seeing its fingerprint), is valid now for
//! encryption and for the recipient's address, and is not a surprising change from the one
//! last used for that person. The server's revocation verdict can only take a certificate away.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::addresses::{self, AddressError};
use crate::bcc::{self, BccMode, Reader};
use crate::ciphers;
use crate::continuity::{self, Remembered};
use crate::hex;

/// What the server offered for one recipient (an entry of `/api/recipients`' answer).
#[derive(Debug, Clone, Deserialize)]
pub struct Offer {
    pub address: String,
    /// Base64 DER of the certificate, when the server found a usable one.
    pub certificate: Option<String>,
    /// Base64 DER of the issuers the server's path went through (untrusted here: they only help
    /// build a path to the browser's own anchors).
    #[serde(default)]
    pub chain: Vec<String>,
    /// Why there is no certificate, or the server's warning.
    #[serde(default)]
    pub reason: String,
    pub via: Option<String>,
    /// The algorithms the recipient's software announced, when known.
    pub capabilities: Option<Vec<String>>,
}

/// One of the user's own digital IDs, held by the browser (its key store or the card in it).
#[derive(Debug, Clone, Deserialize)]
pub struct Own {
    /// Base64 DER.
    pub certificate: String,
    /// Base64 DER of its issuers, from the digital ID file or from the server (for a card).
    #[serde(default)]
    pub chain: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub bcc: String,
    pub offers: Vec<Offer>,
    /// The user's own digital IDs: their issuers are the browser's trust anchors.
    pub own: Vec<Own>,
    #[serde(default)]
    pub remembered: Vec<Remembered>,
    /// Fingerprints of certificates the user chose to encrypt to after seeing why they were
    /// doubted.
    #[serde(default)]
    pub accepted: Vec<String>,
    pub encryption_algorithms: Vec<String>,
    pub bcc_mode: BccMode,
    /// Seconds since 1970.
    pub time: i64,
}

/// A certificate the browser will not encrypt to without the user's explicit choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Doubt {
    pub address: String,
    pub fingerprint: String,
    pub subject: String,
    pub issuer: String,
    /// Each sentence is one reason, in the words shown to the user.
    pub reasons: Vec<String>,
}

/// A recipient the message cannot be encrypted to, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub address: String,
    pub reason: String,
}

/// One message of the send: `to` as in [`bcc::Part`]; `certificates` (base64 DER) are the
/// recipients it is sealed to (the sender's own certificate is the module's to add).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub to: Option<Vec<String>>,
    pub certificates: Vec<String>,
    pub algorithm: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub messages: Vec<Message>,
    pub doubts: Vec<Doubt>,
    pub missing: Vec<Missing>,
    /// What to remember once the send has gone (key continuity).
    pub used: Vec<Remembered>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("Your message was not sent: {0}.")]
    Address(#[from] AddressError),
    #[error(
        "Your message was not sent: its recipients' e-mail programs have no encryption algorithm in common that your organization allows."
    )]
    NoCommonAlgorithm,
}

/// The words for a certificate's doubted continuity.
fn changed_sentence(address: &str, was: &str, now: &str) -> String {
    format!(
        "The digital ID of {address} has changed since you last wrote to them: it used to be issued by {was}, this one is issued by {now}."
    )
}

pub fn plan(request: &Request) -> Result<Plan, PlanError> {
    let bcc: Vec<String> = unique(
        addresses::parse_list(&request.bcc)?
            .into_iter()
            .map(|m| m.email),
    );
    let time: pki::UnixTime = request.time;
    let anchors = anchors(&request.own, time);
    let allowed = &request.encryption_algorithms;

    let mut readers: Vec<Reader<&Offer>> = Vec::new();
    let (mut doubts, mut missing, mut used) = (Vec::new(), Vec::new(), Vec::new());
    for offer in &request.offers {
        let Some(der) = offer.certificate.as_deref() else {
            missing.push(Missing {
                address: offer.address.clone(),
                reason: offer.reason.clone(),
            });
            continue;
        };
        let cert = match B64.decode(der).ok().map(|d| pki::Certificate::from_der(&d)) {
            Some(Ok(cert)) => cert,
            _ => {
                missing.push(Missing {
                    address: offer.address.clone(),
                    reason: pki::Reason::Malformed.to_string(),
                });
                continue;
            }
        };
        let fingerprint = hex(&cert.fingerprint());
        let issuer = cert.issuer();
        if !request.accepted.contains(&fingerprint) {
            let reasons = doubts_about(offer, &cert, &anchors, &request.remembered, time);
            if !reasons.is_empty() {
                doubts.push(Doubt {
                    address: offer.address.clone(),
                    fingerprint,
                    subject: cert.subject(),
                    issuer,
                    reasons,
                });
                continue;
            }
        }
        if ciphers::readable(offer.capabilities.as_deref(), allowed).is_empty() {
            missing.push(Missing {
                address: offer.address.clone(),
                reason: "their e-mail program reads none of the encryption algorithms your organization allows".into(),
            });
            continue;
        }
        used.push(Remembered {
            address: offer.address.to_ascii_lowercase(),
            fingerprint,
            issuer,
        });
        readers.push(Reader {
            address: offer.address.clone(),
            via: offer.via.clone(),
            key: offer,
        });
    }

    let mut messages = Vec::new();
    for part in bcc::split(&readers, &bcc, request.bcc_mode) {
        let announced: Vec<Option<&[String]>> = part
            .readers
            .iter()
            .map(|r| r.key.capabilities.as_deref())
            .collect();
        let algorithm = ciphers::common(&announced, allowed).ok_or(PlanError::NoCommonAlgorithm)?;
        messages.push(Message {
            to: part.to,
            certificates: part
                .readers
                .iter()
                .filter_map(|r| r.key.certificate.clone())
                .collect(),
            algorithm: algorithm.to_string(),
        });
    }
    Ok(Plan {
        messages,
        doubts,
        missing,
        used,
    })
}

/// Why the browser doubts a certificate the server offered; empty when it may be used.
fn doubts_about(
    offer: &Offer,
    cert: &pki::Certificate,
    anchors: &[pki::Certificate],
    remembered: &[Remembered],
    time: pki::UnixTime,
) -> Vec<String> {
    let intermediates = certificates(&offer.chain);
    let verdict = pki::validate_certificate(
        cert,
        &pki::Inputs {
            trust_anchors: anchors,
            intermediates: &intermediates,
            crls: &[],
            time,
            usage: pki::Usage::Encrypt,
            email: Some(&offer.address),
            untrusted: &[],
            // Revocation is the server's to check (it has the CRLs); its verdict can only take
            // a certificate away, by not offering it.
            check_revocation: false,
        },
    );
    let mut reasons = Vec::new();
    if let pki::Status::Invalid(reason) = verdict.status {
        reasons.push(match reason {
            pki::Reason::UntrustedIssuer => {
                "It was issued by an authority this browser does not trust: none of your own digital IDs comes from it.".to_string()
            }
            other => other.to_string(),
        });
    }
    let fingerprint = hex(&cert.fingerprint());
    let chains = reasons.is_empty();
    if let Some(was) = continuity::changed_from(
        remembered,
        &offer.address,
        &fingerprint,
        &cert.issuer(),
        chains,
    ) {
        reasons.push(changed_sentence(&offer.address, was, &cert.issuer()));
    }
    reasons
}

/// The trust anchors the browser holds: the issuers its user's own certificates validate
/// through. Whoever supplied a chain, only certificates a valid path from the user's own
/// certificate runs through count, and only the user's real issuers can sign such a path, so
/// a server that supplies a card's chain cannot slip in an authority of its own.
pub(crate) fn anchors(own: &[Own], time: pki::UnixTime) -> Vec<pki::Certificate> {
    let mut out: Vec<pki::Certificate> = Vec::new();
    for id in own {
        let Some(cert) = certificates(std::slice::from_ref(&id.certificate)).pop() else {
            continue;
        };
        let chain = certificates(&id.chain);
        // Which hierarchy issued the user's certificate does not change when it expires: an
        // old digital ID still names the user's own issuers.
        let time = time.clamp(cert.not_before(), cert.not_after().max(cert.not_before()));
        for candidate in &chain {
            let verdict = pki::validate_certificate(
                &cert,
                &pki::Inputs {
                    trust_anchors: std::slice::from_ref(candidate),
                    intermediates: &chain,
                    crls: &[],
                    time,
                    usage: pki::Usage::Any,
                    email: None,
                    untrusted: &[],
                    check_revocation: false,
                },
            );
            if verdict.is_valid() {
                for issuer in verdict.path.into_iter().skip(1) {
                    if !out.iter().any(|a| a.fingerprint() == issuer.fingerprint()) {
                        out.push(issuer);
                    }
                }
            }
        }
    }
    out
}

/// The certificates among base64 DER strings that can be read; the rest are ignored (they
/// could only have helped build a path).
pub(crate) fn certificates(encoded: &[String]) -> Vec<pki::Certificate> {
    encoded
        .iter()
        .filter_map(|b| B64.decode(b).ok())
        .filter_map(|d| pki::Certificate::from_der(&d).ok())
        .collect()
}

fn unique(addresses: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in addresses {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&a)) {
            out.push(a);
        }
    }
    out
}
