//! OCSP (RFC 6960): the request for one certificate's status, and reading and checking the
//! responder's answer. Pure like the rest of the crate: the caller posts [`request`] to the
//! certificate's responder ([`Certificate::ocsp_urls`]) and hands the answer's bytes to
//! [`check`], which believes only an answer signed by the certificate's issuer, or by a
//! responder the issuer certified for OCSP signing, that speaks of this certificate and is
//! current.
//!
//! Requests carry no nonce: answers are cached until their nextUpdate and shared between
//! users, which a nonce would rule out (RFC 6960 makes it optional; RFC 5019 leaves it out).

use const_oid::ObjectIdentifier as Oid;
use sha2::Digest;

use crate::cert::{AlgorithmId, Cert, PublicKey};
use crate::der::{self, DerError, Tlv};
use crate::{Certificate, UnixTime, oid, signature, time};

/// id-pkix-ocsp-basic: the one response type responders send.
const BASIC_RESPONSE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-kp-OCSPSigning: what a delegated responder's certificate must allow.
const OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");
const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");

/// Clocks disagree: an answer made a little "in the future" is still taken.
const CLOCK_SKEW: UnixTime = 5 * 60;
/// An answer without nextUpdate says newer information is always available; it is believed
/// (and cached) for this long after its thisUpdate.
pub const WITHOUT_NEXT_UPDATE: UnixTime = 60 * 60;

/// What the responder says of the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    /// `reason` is the CRLReason code, when given.
    Revoked {
        reason: Option<u8>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// A checked answer, and until when it may be believed (for caching).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: CertStatus,
    pub valid_until: UnixTime,
}

/// Why an OCSP answer was not believed. `Display` is shown after "revocation unknown".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    #[error("the OCSP answer cannot be read ({0})")]
    Malformed(#[from] DerError),
    #[error("the OCSP responder refused the request ({0})")]
    Refused(&'static str),
    #[error("the OCSP answer is of a kind this server does not read")]
    UnsupportedType,
    #[error(
        "the OCSP answer is not signed by the certificate's issuer or by a responder it authorised"
    )]
    BadSignature,
    #[error("the OCSP answer does not speak of this certificate")]
    OtherCertificate,
    #[error("the OCSP answer is out of date")]
    Stale,
    #[error("the OCSP answer is dated in the future")]
    FromTheFuture,
}

impl Certificate {
    /// Authority Information Access OCSP responder URIs.
    pub fn ocsp_urls(&self) -> Vec<String> {
        crate::accessors::access_urls(self, &crate::accessors::OCSP)
    }
}

/// The DER OCSPRequest asking about `cert`, which `issuer` issued.
pub fn request(cert: &Certificate, issuer: &Certificate) -> Vec<u8> {
    let cert_id = cert_id(&cert.inner, &issuer.inner);
    let request = der::element(der::SEQUENCE, &cert_id);
    let list = der::element(der::SEQUENCE, &request);
    let tbs = der::element(der::SEQUENCE, &list);
    der::element(der::SEQUENCE, &tbs)
}

/// CertID with SHA-1, as every responder answers (RFC 5019 §2.1.1).
fn cert_id(cert: &Cert, issuer: &Cert) -> Vec<u8> {
    let algorithm = der::element(
        der::SEQUENCE,
        &[der::element(der::OID, SHA1.as_bytes()), vec![0x05, 0x00]].concat(),
    );
    let name_hash = sha1::Sha1::digest(cert.issuer.der());
    let key_hash = sha1::Sha1::digest(&issuer.public_key.key);
    der::element(
        der::SEQUENCE,
        &[
            algorithm,
            der::element(der::OCTET_STRING, &name_hash),
            der::element(der::OCTET_STRING, &key_hash),
            der::element(der::INTEGER, &cert.serial),
        ]
        .concat(),
    )
}

/// Reads `answer` (a DER OCSPResponse) and returns what it says of `cert` at `now`, if it may
/// be believed.
pub fn check(
    answer: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    now: UnixTime,
) -> Result<Answer, OcspError> {
    let basic = basic_response(answer)?;
    let signer = signer(&basic, &issuer.inner, now)?;
    signature::verify(
        basic.tbs,
        &basic.signature_algorithm,
        &basic.signature,
        &signer,
    )
    .map_err(|_| OcspError::BadSignature)?;
    let single = single_for(&basic, &cert.inner, &issuer.inner)?;
    if single.this_update > now + CLOCK_SKEW {
        return Err(OcspError::FromTheFuture);
    }
    let valid_until = single
        .next_update
        .unwrap_or(single.this_update + WITHOUT_NEXT_UPDATE);
    if now > valid_until + CLOCK_SKEW {
        return Err(OcspError::Stale);
    }
    Ok(Answer {
        status: single.status,
        valid_until,
    })
}

/// The parts of a BasicOCSPResponse this module uses.
struct Basic<'a> {
    /// The DER of tbsResponseData, which the signature covers.
    tbs: &'a [u8],
    responses: Tlv<'a>,
    signature_algorithm: AlgorithmId,
    signature: Vec<u8>,
    certs: Vec<Cert>,
}

fn basic_response(answer: &[u8]) -> Result<Basic<'_>, OcspError> {
    let mut outer = Tlv::parse_exact(answer)?.tagged(der::SEQUENCE)?.reader();
    let status = outer.tagged(der::ENUMERATED)?;
    match status.value {
        [0] => {}
        [1] => return Err(OcspError::Refused("malformed request")),
        [2] => return Err(OcspError::Refused("internal error")),
        [3] => return Err(OcspError::Refused("try later")),
        [5] => return Err(OcspError::Refused("a signed request is required")),
        [6] => return Err(OcspError::Refused("unauthorised")),
        _ => return Err(DerError::Invalid("OCSP response status").into()),
    }
    let bytes = outer.tagged(der::ctx_cons(0))?;
    outer.finish()?;
    let mut r = Tlv::parse_exact(bytes.value)?
        .tagged(der::SEQUENCE)?
        .reader();
    let kind = r.tagged(der::OID)?;
    if !oid::is(kind.value, &BASIC_RESPONSE) {
        return Err(OcspError::UnsupportedType);
    }
    let response = r.tagged(der::OCTET_STRING)?;
    r.finish()?;

    let mut b = Tlv::parse_exact(response.value)?
        .tagged(der::SEQUENCE)?
        .reader();
    let tbs = b.tagged(der::SEQUENCE)?;
    let signature_algorithm = AlgorithmId::parse(&b.any()?)?;
    let signature = b.tagged(der::BIT_STRING)?.bit_string_octets()?.to_vec();
    let mut certs = Vec::new();
    if let Some(list) = b.optional(der::ctx_cons(0))? {
        let mut l = Tlv::parse_exact(list.value)?
            .tagged(der::SEQUENCE)?
            .reader();
        while !l.is_empty() {
            // A certificate that cannot be read cannot sign either: skip it.
            if let Ok(c) = Cert::parse(l.any()?.raw) {
                certs.push(c);
            }
        }
    }
    b.finish()?;

    let mut t = tbs.reader();
    t.optional(der::ctx_cons(0))?; // version, v1
    t.any()?; // responderID: whoever verifies the signature is the responder
    t.tagged(der::GENERALIZED_TIME)?; // producedAt
    let responses = t.tagged(der::SEQUENCE)?;
    Ok(Basic {
        tbs: tbs.raw,
        responses,
        signature_algorithm,
        signature,
        certs,
    })
}

/// The key the answer must be signed with: the issuer's own, or that of a certificate in the
/// answer which the issuer signed for OCSP signing and which is valid now (RFC 6960 §4.2.2.2).
/// Tried in that order; a wrong one only fails the signature check.
fn signer(basic: &Basic<'_>, issuer: &Cert, now: UnixTime) -> Result<PublicKey, OcspError> {
    let signed = |key: &PublicKey| {
        signature::verify(basic.tbs, &basic.signature_algorithm, &basic.signature, key).is_ok()
    };
    if signed(&issuer.public_key) {
        return Ok(issuer.public_key.clone());
    }
    basic
        .certs
        .iter()
        .find(|c| {
            c.issuer == issuer.subject
                && signature::verify(
                    c.tbs(),
                    &c.signature_algorithm,
                    &c.signature,
                    &issuer.public_key,
                )
                .is_ok()
                && c.ext
                    .ext_key_usage
                    .as_ref()
                    .is_some_and(|ekus| ekus.iter().any(|e| oid::is(e, &OCSP_SIGNING)))
                && c.not_before <= now
                && now <= c.not_after
                && signed(&c.public_key)
        })
        .map(|c| c.public_key.clone())
        .ok_or(OcspError::BadSignature)
}

struct Single {
    status: CertStatus,
    this_update: UnixTime,
    next_update: Option<UnixTime>,
}

/// The SingleResponse whose CertID names `cert` (SHA-1 or SHA-256 hashes).
fn single_for(basic: &Basic<'_>, cert: &Cert, issuer: &Cert) -> Result<Single, OcspError> {
    let mut list = basic.responses.reader();
    while !list.is_empty() {
        let mut s = list.tagged(der::SEQUENCE)?.reader();
        let id = s.tagged(der::SEQUENCE)?;
        let status = s.any()?;
        let this_update = time::parse(&s.tagged(der::GENERALIZED_TIME)?)?;
        let next_update = match s.optional(der::ctx_cons(0))? {
            Some(t) => Some(time::parse(
                &Tlv::parse_exact(t.value)?.tagged(der::GENERALIZED_TIME)?,
            )?),
            None => None,
        };
        if !names(&id, cert, issuer)? {
            continue;
        }
        let status = match status.tag {
            t if t == der::ctx_prim(0) => CertStatus::Good,
            t if t == der::ctx_cons(1) => {
                let mut revoked = status.reader();
                revoked.tagged(der::GENERALIZED_TIME)?;
                let reason = match revoked.optional(der::ctx_cons(0))? {
                    Some(r) => Tlv::parse_exact(r.value)?
                        .tagged(der::ENUMERATED)?
                        .value
                        .first()
                        .copied(),
                    None => None,
                };
                CertStatus::Revoked { reason }
            }
            t if t == der::ctx_prim(2) => CertStatus::Unknown,
            _ => return Err(DerError::Invalid("OCSP certificate status").into()),
        };
        return Ok(Single {
            status,
            this_update,
            next_update,
        });
    }
    Err(OcspError::OtherCertificate)
}

/// Whether CertID `id` names `cert` as issued by `issuer`.
fn names(id: &Tlv<'_>, cert: &Cert, issuer: &Cert) -> Result<bool, DerError> {
    let mut r = id.reader();
    let algorithm = AlgorithmId::parse(&r.any()?)?;
    let name_hash = r.tagged(der::OCTET_STRING)?.value;
    let key_hash = r.tagged(der::OCTET_STRING)?.value;
    let serial = r.tagged(der::INTEGER)?.value;
    let hash = |data: &[u8]| -> Option<Vec<u8>> {
        if oid::is(&algorithm.oid, &SHA1) {
            Some(sha1::Sha1::digest(data).to_vec())
        } else if oid::is(&algorithm.oid, &SHA256) {
            Some(sha2::Sha256::digest(data).to_vec())
        } else {
            None
        }
    };
    Ok(serial == cert.serial.as_slice()
        && hash(cert.issuer.der()).as_deref() == Some(name_hash)
        && hash(&issuer.public_key.key).as_deref() == Some(key_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Certificate, Certificate) {
        (
            Certificate::from_der(include_bytes!("testdata/alice.der")).unwrap(),
            Certificate::from_der(include_bytes!("testdata/inter.der")).unwrap(),
        )
    }

    #[test]
    fn the_request_names_the_certificate_as_its_answer_must() {
        let (alice, inter) = pair();
        let request = request(&alice, &inter);
        let mut r = Tlv::parse_exact(&request)
            .unwrap()
            .tagged(der::SEQUENCE)
            .unwrap()
            .reader();
        let tbs = r.tagged(der::SEQUENCE).unwrap();
        let list = tbs.reader().tagged(der::SEQUENCE).unwrap();
        let one = list.reader().tagged(der::SEQUENCE).unwrap();
        let id = one.reader().tagged(der::SEQUENCE).unwrap();
        assert!(names(&id, &alice.inner, &inter.inner).unwrap());
        let bob = Certificate::from_der(include_bytes!("testdata/bob.der")).unwrap();
        assert!(!names(&id, &bob.inner, &inter.inner).unwrap());
    }

    #[test]
    fn refusals_and_damage_are_errors_in_words() {
        let (alice, inter) = pair();
        let try_later = [0x30, 0x03, 0x0a, 0x01, 0x03];
        assert_eq!(
            check(&try_later, &alice, &inter, 0),
            Err(OcspError::Refused("try later"))
        );
        assert!(matches!(
            check(b"not DER", &alice, &inter, 0),
            Err(OcspError::Malformed(_))
        ));
        // Successful, but of another response type.
        let other_type = der::element(
            der::SEQUENCE,
            &[
                der::element(der::ENUMERATED, &[0]),
                der::element(
                    der::ctx_cons(0),
                    &der::element(
                        der::SEQUENCE,
                        &[
                            der::element(der::OID, SHA1.as_bytes()),
                            der::element(der::OCTET_STRING, b""),
                        ]
                        .concat(),
                    ),
                ),
            ]
            .concat(),
        );
        assert_eq!(
            check(&other_type, &alice, &inter, 0),
            Err(OcspError::UnsupportedType)
        );
    }
}
