//! Verification of SignedData, clear-signed or opaque (RFC 5652 §5.6, RFC 8551 §3.5).
//!
//! The result reports every signer separately and never throws away information: a message with
//! one good and one bad signature says so. Certificate chain validation is the caller's job;
//! this module only says which certificate signed and whether the maths holds.

use core::time::Duration;

use cms::cert::IssuerAndSerialNumber;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;

use crate::algorithms::{DigestAlgorithm, SignatureAlgorithm, SignatureScheme, oid};
use crate::ber::{self, Element};
use crate::bulk::{Bulk, Software, run_ready};
use crate::cert::Certificate;
use crate::cert::RecipientId;
use crate::content_info;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::mime::SignedFormat;
use crate::mime::{self, Entity, SmimeContent};

/// Most SignerInfos we check in one message: each costs a public-key operation, and real mail
/// has one or two.
pub const MAX_SIGNERS: usize = 16;

/// Who a SignerInfo says signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerId {
    /// Issuer distinguished name (RFC 4514 string) and serial number bytes.
    IssuerAndSerial {
        issuer: String,
        serial: Vec<u8>,
    },
    SubjectKeyIdentifier(Vec<u8>),
}

/// What could not be checked for one signer, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerProblem {
    /// The signer's certificate is neither among the certificates carried nor among those the
    /// caller offered.
    CertificateNotFound,
    UnsupportedDigest(String),
    UnsupportedSignatureAlgorithm(String),
    UnsupportedKey,
    /// Signed attributes lack messageDigest or contentType, repeat one of them (or
    /// signingTime), or contentType disagrees with the content.
    BadSignedAttributes,
}

impl core::fmt::Display for SignerProblem {
    /// The sentence shown to people.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::CertificateNotFound => {
                f.write_str("The signer's certificate is not included in the message.")
            }
            Self::UnsupportedDigest(d) => write!(
                f,
                "The signature uses a digest algorithm Sealmail does not know ({d})."
            ),
            Self::UnsupportedSignatureAlgorithm(a) => write!(
                f,
                "The signature uses an algorithm Sealmail does not know ({a})."
            ),
            Self::UnsupportedKey => {
                f.write_str("The signer's key is of a kind Sealmail cannot check.")
            }
            Self::BadSignedAttributes => {
                f.write_str("The signature's signed attributes are malformed.")
            }
        }
    }
}

/// The outcome for one SignerInfo.
#[derive(Debug, Clone)]
pub struct SignerResult {
    pub signer_id: SignerId,
    pub certificate: Option<Certificate>,
    /// The certificate came from the caller's candidates, not from the message: the caller
    /// knew it already, so it is nothing new to remember.
    pub certificate_supplied: bool,
    pub digest_algorithm: Option<DigestAlgorithm>,
    pub signature_algorithm: Option<SignatureAlgorithm>,
    /// The content hashes to the messageDigest the signer signed. False means the content was
    /// altered after signing.
    pub digest_ok: bool,
    /// The signature over the signed attributes verifies with the certificate's key.
    pub signature_ok: bool,
    /// From the signingTime attribute, as time since the Unix epoch.
    pub signing_time: Option<Duration>,
    /// Content encryption algorithms the signer announced (SMIMECapabilities).
    pub capabilities: Vec<ObjectIdentifier>,
    /// The certificate the signer wants mail encrypted to (SMIMEEncryptionKeyPreference);
    /// see [`Verification::encryption_certificate`].
    pub encryption_key_preference: Option<RecipientId>,
    /// A SHA-1 digest: mathematically valid perhaps, but not to be trusted.
    pub weak_algorithm: bool,
    /// Whether an address of the signer's certificate is a From address of the message; `None`
    /// when there was no From field to compare with (a bare CMS blob, or an inner entity).
    pub matches_from: Option<bool>,
    pub problem: Option<SignerProblem>,
}

impl SignerResult {
    /// Digest and signature both check out and nothing was unsupported. Says nothing about
    /// whether the certificate is trusted, nor about [`Self::weak_algorithm`]: show that too.
    pub fn is_valid(&self) -> bool {
        self.digest_ok && self.signature_ok && self.problem.is_none()
    }
}

/// The outcome of verifying a message.
#[derive(Debug, Clone)]
pub struct Verification {
    pub format: SignedFormat,
    /// The signed content: the canonical entity (clear-signed) or eContent (opaque).
    pub content: Vec<u8>,
    pub signers: Vec<SignerResult>,
    /// Every certificate the SignedData carried, in order (for chain validation and harvesting).
    pub certificates: Vec<Certificate>,
}

impl Verification {
    /// The carried certificate a signer asked to be encrypted to, if it named one that is here.
    pub fn encryption_certificate(&self, signer: &SignerResult) -> Option<&Certificate> {
        let preference = signer.encryption_key_preference.as_ref()?;
        self.certificates
            .iter()
            .find(|cert| preference.matches(cert))
    }

    /// At least one signer, and every signer valid.
    pub fn all_valid(&self) -> bool {
        !self.signers.is_empty() && self.signers.iter().all(SignerResult::is_valid)
    }
}

/// Verify a clear-signed or opaque-signed message (or entity).
pub fn verify(message: &[u8]) -> Result<Verification> {
    verify_with_candidates(message, &[])
}

/// [`verify`], offering `candidates` for signers whose certificate the message does not carry
/// (a signature made without certificates, `openssl cms -sign -nocerts`). A candidate is used
/// only when it is the certificate the SignerInfo names (issuer and serial, or key identifier);
/// where the candidates come from — a directory, an address book, a file — is the caller's
/// business, as is whether to trust them.
pub fn verify_with_candidates(message: &[u8], candidates: &[Certificate]) -> Result<Verification> {
    run_ready(verify_among(&Software, message, candidates))
}

/// [`verify`] with the content hashed by `bulk`.
pub async fn verify_with<B: Bulk + ?Sized>(bulk: &B, message: &[u8]) -> Result<Verification> {
    verify_among(bulk, message, &[]).await
}

/// [`verify_with_candidates`] with the content hashed by `bulk`.
pub async fn verify_among<B: Bulk + ?Sized>(
    bulk: &B,
    message: &[u8],
    candidates: &[Certificate],
) -> Result<Verification> {
    let from = Entity::parse(message)?.from_addresses();
    let mut verification = match mime::parse_smime(message)? {
        SmimeContent::ClearSigned {
            signed_content,
            signature,
        } => verify_signed_data_among(bulk, &signature, Some(signed_content), candidates).await?,
        SmimeContent::Opaque { cms } => {
            verify_signed_data_among(bulk, &cms, None, candidates).await?
        }
        SmimeContent::NotSmime => return Err(Error::NotSmime),
    };
    if let Some(from) = from {
        compare_with_from(&mut verification.signers, &from);
    }
    Ok(verification)
}

/// Set `matches_from` on each signer: is the message's one From address an address of its
/// certificate? A From naming several people never matches: a signature can vouch for one
/// sender, and "signed by bob" beside "from alice and bob" would lend bob's word to alice.
pub fn compare_with_from(signers: &mut [SignerResult], from: &[String]) {
    let sender = match from {
        [one] => Some(one),
        _ => None,
    };
    for signer in signers {
        let emails = signer
            .certificate
            .as_ref()
            .map(Certificate::email_addresses)
            .unwrap_or_default();
        signer.matches_from = Some(sender.is_some_and(|s| emails.contains(s)));
    }
}

/// Verify a CMS SignedData (BER or DER). `detached` is the content for a detached signature;
/// for a clear-signed message it must be the canonical (CRLF) entity.
pub fn verify_signed_data(cms: &[u8], detached: Option<&[u8]>) -> Result<Verification> {
    run_ready(verify_signed_data_with(
        &Software,
        cms,
        detached.map(<[u8]>::to_vec),
    ))
}

/// [`verify_signed_data`] with the content hashed by `bulk`, each digest algorithm once however
/// many signers use it.
pub async fn verify_signed_data_with<B: Bulk + ?Sized>(
    bulk: &B,
    cms: &[u8],
    detached: Option<Vec<u8>>,
) -> Result<Verification> {
    verify_signed_data_among(bulk, cms, detached, &[]).await
}

/// [`verify_signed_data_with`], offering `candidates` for signers whose certificate the
/// SignedData does not carry (see [`verify_with_candidates`]). Carried certificates are tried
/// first; [`Verification::certificates`] stays what the message carried.
pub async fn verify_signed_data_among<B: Bulk + ?Sized>(
    bulk: &B,
    cms: &[u8],
    detached: Option<Vec<u8>>,
    candidates: &[Certificate],
) -> Result<Verification> {
    let der = ber::normalize(cms)?;
    let signed_data = signed_data_element(&der)?;
    let parts = SignedDataParts::parse(&signed_data)?;
    let (format, content) = match (detached, parts.econtent) {
        (Some(content), _) => (SignedFormat::Clear, content),
        (None, Some(content)) => (SignedFormat::Opaque, content),
        (None, None) => return Err(Error::MissingContent),
    };
    let mut content_digests: Vec<(DigestAlgorithm, Vec<u8>)> = Vec::new();
    for raw in &parts.signer_infos {
        let Some(algorithm) = signer_digest_algorithm(raw) else {
            continue;
        };
        if !content_digests.iter().any(|(a, _)| *a == algorithm) {
            let digest = bulk.digest(algorithm, &content).await?;
            if digest.len() != algorithm.output_len() {
                return Err(Error::UnsupportedAlgorithm(
                    "the content digest has the wrong length".into(),
                ));
            }
            content_digests.push((algorithm, digest));
        }
    }
    let signers = parts
        .signer_infos
        .iter()
        .map(|raw| {
            verify_signer(
                raw,
                &content_digests,
                &parts.econtent_type,
                &parts.certificates,
                candidates,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Verification {
        format,
        content,
        signers,
        certificates: parts.certificates,
    })
}

/// The SignedData element inside a ContentInfo.
pub(crate) fn signed_data_element(der: &[u8]) -> Result<Element<'_>> {
    let (content_type, content) = content_info::split(der)?;
    if content_type != oid::SIGNED_DATA {
        return Err(Error::UnexpectedContentType {
            expected: "SignedData",
            found: content_type.to_string(),
        });
    }
    Ok(content)
}

/// The fields of SignedData that verification needs, with SignerInfos kept as raw DER so that
/// the signed attributes can be hashed exactly as they were sent.
struct SignedDataParts<'a> {
    econtent_type: ObjectIdentifier,
    econtent: Option<Vec<u8>>,
    certificates: Vec<Certificate>,
    signer_infos: Vec<&'a [u8]>,
}

impl<'a> SignedDataParts<'a> {
    fn parse(signed_data: &Element<'a>) -> Result<Self> {
        let fields = signed_data.children()?;
        // version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos
        let encap = fields
            .get(2)
            .ok_or(der::Error::from(der::ErrorKind::Failed))?;
        let encap = EncapsulatedContentInfo::from_der(encap.raw)?;
        let econtent = match encap.econtent {
            Some(any) => Some(any.decode_as::<OctetString>()?.into_bytes().into_vec()),
            None => None,
        };
        let mut certificates = Vec::new();
        let mut signer_infos = Vec::new();
        for field in fields.iter().skip(3) {
            if field.tag.is_context(0) {
                // Attribute certificates and other formats are skipped, as are certificates the
                // x509 decoder rejects: they cannot be matched to a signer either way.
                for cert in field.children()? {
                    if let Ok(cert) = Certificate::from_der(cert.raw) {
                        certificates.push(cert);
                    }
                }
            } else if field.tag.is_universal(17) {
                signer_infos = field.children()?.iter().map(|e| e.raw).collect();
                if signer_infos.len() > MAX_SIGNERS {
                    return Err(Error::LimitExceeded("signers"));
                }
            }
        }
        Ok(Self {
            econtent_type: encap.econtent_type,
            econtent,
            certificates,
            signer_infos,
        })
    }
}

/// The digest algorithm a SignerInfo names, if it decodes and is one we know.
fn signer_digest_algorithm(raw: &[u8]) -> Option<DigestAlgorithm> {
    DigestAlgorithm::from_oid(&SignerInfo::from_der(raw).ok()?.digest_alg.oid)
}

fn verify_signer(
    raw: &[u8],
    content_digests: &[(DigestAlgorithm, Vec<u8>)],
    econtent_type: &ObjectIdentifier,
    certificates: &[Certificate],
    candidates: &[Certificate],
) -> Result<SignerResult> {
    let info = SignerInfo::from_der(raw)?;
    let carried = find_certificate(&info.sid, certificates);
    let certificate_supplied = carried.is_none();
    let certificate = carried.or_else(|| find_certificate(&info.sid, candidates));
    let mut result = SignerResult {
        signer_id: signer_id(&info.sid),
        certificate_supplied: certificate_supplied && certificate.is_some(),
        certificate,
        digest_algorithm: DigestAlgorithm::from_oid(&info.digest_alg.oid),
        signature_algorithm: None,
        digest_ok: false,
        signature_ok: false,
        signing_time: None,
        capabilities: Vec::new(),
        encryption_key_preference: None,
        weak_algorithm: false,
        matches_from: None,
        problem: None,
    };
    let Some(digest) = result.digest_algorithm else {
        result.problem = Some(SignerProblem::UnsupportedDigest(
            info.digest_alg.oid.to_string(),
        ));
        return Ok(result);
    };
    result.weak_algorithm = digest.is_weak();
    let (scheme, pss_salt_len) = match signature_scheme(&info.signature_algorithm, digest) {
        Ok(found) => found,
        Err(problem) => {
            result.problem = Some(problem);
            return Ok(result);
        }
    };
    let algorithm = SignatureAlgorithm { scheme, digest };
    result.signature_algorithm = Some(algorithm);
    let Some((_, content_digest)) = content_digests.iter().find(|(a, _)| *a == digest) else {
        result.problem = Some(SignerProblem::UnsupportedDigest(
            info.digest_alg.oid.to_string(),
        ));
        return Ok(result);
    };

    // With signed attributes the signature covers their DER (tagged as SET OF, RFC 5652 §5.4);
    // without, it covers the content digest directly.
    let signed_hash = match signed_attributes_der(raw)? {
        Some(attributes_der) => {
            let attrs = read_signed_attributes(&info)?;
            result.signing_time = attrs.signing_time;
            result.capabilities = attrs.capabilities;
            result.encryption_key_preference = attrs.encryption_key_preference;
            let well_formed =
                !attrs.malformed && attrs.content_type.as_ref() == Some(econtent_type);
            result.digest_ok =
                well_formed && attrs.message_digest.as_deref() == Some(&content_digest[..]);
            if !well_formed || attrs.message_digest.is_none() {
                result.problem = Some(SignerProblem::BadSignedAttributes);
            }
            digest.digest(&attributes_der)
        }
        None => content_digest.clone(),
    };
    let Some(cert) = &result.certificate else {
        result
            .problem
            .get_or_insert(SignerProblem::CertificateNotFound);
        return Ok(result);
    };
    let Ok(public_key) = PublicKey::from_spki_der(&cert.public_key_info_der()?) else {
        result.problem.get_or_insert(SignerProblem::UnsupportedKey);
        return Ok(result);
    };
    result.signature_ok = public_key
        .verify_digest(
            algorithm,
            &signed_hash,
            info.signature.as_bytes(),
            pss_salt_len,
        )
        .is_ok();
    if info.signed_attrs.is_none() {
        result.digest_ok = result.signature_ok;
    }
    Ok(result)
}

/// The signed attributes exactly as sent, re-tagged from `[0] IMPLICIT` to `SET OF`.
fn signed_attributes_der(signer_info: &[u8]) -> Result<Option<Vec<u8>>> {
    let fields = ber::parse_one(signer_info)?.children()?;
    // version, sid, digestAlgorithm, then [0] signedAttrs if present.
    let Some(attrs) = fields
        .get(3)
        .filter(|f| f.tag.is_context(0) && f.tag.constructed)
    else {
        return Ok(None);
    };
    let mut der = attrs.raw.to_vec();
    // A context tag below 31 is one identifier octet, so only that octet changes.
    if let Some(first) = der.first_mut() {
        *first = 0x31;
    }
    Ok(Some(der))
}

#[derive(Default)]
struct SignedAttributeValues {
    content_type: Option<ObjectIdentifier>,
    message_digest: Option<Vec<u8>>,
    signing_time: Option<Duration>,
    capabilities: Vec<ObjectIdentifier>,
    encryption_key_preference: Option<RecipientId>,
    /// A single-valued attribute repeated or with several values.
    malformed: bool,
}

fn read_signed_attributes(info: &SignerInfo) -> Result<SignedAttributeValues> {
    let mut values = SignedAttributeValues::default();
    let single_valued = [oid::CONTENT_TYPE, oid::MESSAGE_DIGEST, oid::SIGNING_TIME];
    let mut seen = Vec::new();
    for attr in info.signed_attrs.iter().flat_map(|a| a.iter()) {
        // RFC 5652 §11: these attributes appear once and have exactly one value. A second
        // messageDigest could make two parties see different content as signed.
        if single_valued.contains(&attr.oid) {
            if attr.values.len() != 1 || seen.contains(&attr.oid) {
                values.malformed = true;
            }
            seen.push(attr.oid);
        }
        let Some(value) = attr.values.iter().next() else {
            continue;
        };
        if attr.oid == oid::CONTENT_TYPE {
            values.content_type = Some(value.decode_as::<ObjectIdentifier>()?);
        } else if attr.oid == oid::MESSAGE_DIGEST {
            values.message_digest = Some(value.decode_as::<OctetString>()?.into_bytes().into_vec());
        } else if attr.oid == oid::SIGNING_TIME {
            values.signing_time = Time::from_der(&value.to_der()?)
                .ok()
                .map(Time::to_unix_duration);
        } else if attr.oid == oid::SMIME_CAPABILITIES {
            let caps = value
                .decode_as::<Vec<AlgorithmIdentifierOwned>>()
                .unwrap_or_default();
            values.capabilities = caps.into_iter().map(|c| c.oid).collect();
        } else if attr.oid == oid::ENCRYPTION_KEY_PREFERENCE {
            values.encryption_key_preference = encryption_key_preference(&value.to_der()?);
        }
    }
    Ok(values)
}

/// SMIMEEncryptionKeyPreference (RFC 8551 §2.5.3): `[0]` issuerAndSerialNumber,
/// `[1]` RecipientKeyIdentifier or `[2]` subjectKeyIdentifier, all IMPLICIT. An unreadable
/// preference is ignored: it is a hint, not part of what makes a signature valid.
fn encryption_key_preference(der: &[u8]) -> Option<RecipientId> {
    let choice = ber::parse_one(der).ok()?;
    match choice.tag.number {
        0 if choice.tag.class == 2 => {
            let mut sequence = choice.raw.to_vec();
            *sequence.first_mut()? = 0x30;
            Some(RecipientId::IssuerAndSerial(
                IssuerAndSerialNumber::from_der(&sequence).ok()?,
            ))
        }
        1 if choice.tag.class == 2 => {
            let ski = choice.children().ok()?.into_iter().next()?;
            ski.tag
                .is_universal(4)
                .then(|| RecipientId::SubjectKeyIdentifier(ski.contents.to_vec()))
        }
        2 if choice.tag.class == 2 => {
            Some(RecipientId::SubjectKeyIdentifier(choice.contents.to_vec()))
        }
        _ => None,
    }
}

/// Work out the signature scheme (and, for PSS, the salt length) of a SignerInfo.
fn signature_scheme(
    algorithm: &AlgorithmIdentifierOwned,
    digest: DigestAlgorithm,
) -> core::result::Result<(SignatureScheme, usize), SignerProblem> {
    let oid = algorithm.oid;
    let unsupported = || SignerProblem::UnsupportedSignatureAlgorithm(oid.to_string());
    let rsa_pkcs1 = [
        oid::RSA_ENCRYPTION,
        oid::SHA1_WITH_RSA,
        oid::SHA256_WITH_RSA,
        oid::SHA384_WITH_RSA,
        oid::SHA512_WITH_RSA,
    ];
    let ecdsa = [
        oid::EC_PUBLIC_KEY,
        oid::ECDSA_WITH_SHA1,
        oid::ECDSA_WITH_SHA256,
        oid::ECDSA_WITH_SHA384,
        oid::ECDSA_WITH_SHA512,
    ];
    if rsa_pkcs1.contains(&oid) {
        return Ok((SignatureScheme::RsaPkcs1v15, 0));
    }
    if ecdsa.contains(&oid) {
        return Ok((SignatureScheme::Ecdsa, 0));
    }
    if oid != oid::RSASSA_PSS {
        return Err(unsupported());
    }
    let params = algorithm.parameters.as_ref().ok_or_else(unsupported)?;
    let params = params.to_der().map_err(|_| unsupported())?;
    let pss = PssParameters::parse(&params).ok_or_else(unsupported)?;
    // We verify with the SignerInfo digest for both hashing and MGF1; anything else is exotic.
    if pss.hash != digest || pss.mgf_hash != digest {
        return Err(unsupported());
    }
    Ok((SignatureScheme::RsaPss, pss.salt_len))
}

/// RSASSA-PSS-params (RFC 4055 §3.1), with its SHA-1 defaults.
struct PssParameters {
    hash: DigestAlgorithm,
    mgf_hash: DigestAlgorithm,
    salt_len: usize,
}

impl PssParameters {
    fn parse(der: &[u8]) -> Option<Self> {
        let mut params = Self {
            hash: DigestAlgorithm::Sha1,
            mgf_hash: DigestAlgorithm::Sha1,
            salt_len: 20,
        };
        for field in ber::parse_one(der).ok()?.children().ok()? {
            match field.tag.number {
                0 => params.hash = digest_of(field.contents)?,
                1 => {
                    let mgf = AlgorithmIdentifierOwned::from_der(field.contents).ok()?;
                    if mgf.oid != oid::MGF1 {
                        return None;
                    }
                    params.mgf_hash = digest_of(&mgf.parameters?.to_der().ok()?)?;
                }
                2 => params.salt_len = u32::from_der(field.contents).ok()? as usize,
                3 => {
                    // trailerField must be 1 (0xBC) in every profile we know.
                    if u32::from_der(field.contents).ok()? != 1 {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        Some(params)
    }
}

fn digest_of(algorithm_identifier: &[u8]) -> Option<DigestAlgorithm> {
    DigestAlgorithm::from_oid(
        &AlgorithmIdentifierOwned::from_der(algorithm_identifier)
            .ok()?
            .oid,
    )
}

fn signer_id(sid: &SignerIdentifier) -> SignerId {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => SignerId::IssuerAndSerial {
            issuer: ias.issuer.to_string(),
            serial: ias.serial_number.as_bytes().to_vec(),
        },
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            SignerId::SubjectKeyIdentifier(ski.0.as_bytes().to_vec())
        }
    }
}

fn find_certificate(sid: &SignerIdentifier, certificates: &[Certificate]) -> Option<Certificate> {
    certificates
        .iter()
        .find(|cert| matches_identifier(sid, cert))
        .cloned()
}

fn matches_identifier(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => cert.has_issuer_and_serial(ias),
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            cert.has_subject_key_identifier(ski.0.as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms::content_info::CmsVersion;
    use der::Any;
    use der::asn1::SetOfVec;
    use x509_cert::attr::Attribute;
    use x509_cert::ext::pkix::SubjectKeyIdentifier;

    fn attribute(oid: ObjectIdentifier, values: Vec<Any>) -> Attribute {
        Attribute {
            oid,
            values: SetOfVec::try_from(values).unwrap(),
        }
    }

    fn digest_value(byte: u8) -> Any {
        Any::encode_from(&OctetString::new(vec![byte; 32]).unwrap()).unwrap()
    }

    fn signer_info(attributes: Vec<Attribute>) -> SignerInfo {
        SignerInfo {
            version: CmsVersion::V3,
            sid: SignerIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(
                OctetString::new(vec![1]).unwrap(),
            )),
            digest_alg: AlgorithmIdentifierOwned {
                oid: oid::SHA256,
                parameters: None,
            },
            signed_attrs: Some(SetOfVec::try_from(attributes).unwrap()),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: oid::ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: OctetString::new(vec![0]).unwrap(),
            unsigned_attrs: None,
        }
    }

    fn content_type() -> Attribute {
        attribute(
            oid::CONTENT_TYPE,
            vec![Any::encode_from(&oid::DATA).unwrap()],
        )
    }

    #[test]
    fn well_formed_attributes_are_read() {
        let info = signer_info(vec![
            content_type(),
            attribute(oid::MESSAGE_DIGEST, vec![digest_value(7)]),
        ]);
        let values = read_signed_attributes(&info).unwrap();
        assert!(!values.malformed);
        assert_eq!(values.message_digest, Some(vec![7; 32]));
        assert_eq!(values.content_type, Some(oid::DATA));
    }

    #[test]
    fn a_second_message_digest_is_malformed() {
        let info = signer_info(vec![
            content_type(),
            attribute(oid::MESSAGE_DIGEST, vec![digest_value(1)]),
            attribute(oid::MESSAGE_DIGEST, vec![digest_value(2)]),
        ]);
        assert!(read_signed_attributes(&info).unwrap().malformed);
        let info = signer_info(vec![
            content_type(),
            attribute(oid::MESSAGE_DIGEST, vec![digest_value(1), digest_value(2)]),
        ]);
        assert!(read_signed_attributes(&info).unwrap().malformed);
    }

    #[test]
    fn pss_parameters_and_defaults() {
        // An empty RSASSA-PSS-params means SHA-1, MGF1-SHA-1, salt 20.
        let params = PssParameters::parse(&[0x30, 0x00]).unwrap();
        assert_eq!(
            (params.hash, params.mgf_hash, params.salt_len),
            (DigestAlgorithm::Sha1, DigestAlgorithm::Sha1, 20)
        );
        // A trailer field other than 1 is refused.
        assert!(PssParameters::parse(&[0x30, 0x05, 0xa3, 0x03, 0x02, 0x01, 0x02]).is_none());
    }
}
